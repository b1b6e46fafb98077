/* Unit tests for the user-mode NAT backend (libslirp): hostfwd rules (loopback only), the guest
 * reaching a host loopback service through 10.0.2.2, a host connection forwarded to the guest,
 * and holding frames while the receiver is paused. Traffic stays on the loopback interface. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/loop.h"
#include "vmm/net/net.h"
#include "tests/unit/check.h"

TEST_MAIN()

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
static const uint8_t gw_ip[4] = { 10, 0, 2, 2 }, guest_ip[4] = { 10, 0, 2, 15 };

/* ---- a receiver that records frames ---- */

struct sink {
    struct event_loop loop;
    struct net_backend *be;
    uint8_t frames[16][1600];
    size_t lens[16];
    int n;
    bool refuse;
    int batches;
};

static bool sink_receive(void *ctx, const struct net_vnet_hdr *hdr, const uint8_t *frame, size_t len)
{
    struct sink *s = ctx;
    if (hdr || s->refuse)
        return false;
    if (s->n < 16 && len <= sizeof(s->frames[0])) {
        memcpy(s->frames[s->n], frame, len);
        s->lens[s->n++] = len;
    }
    return true;
}

static void sink_batch(void *ctx)
{
    ((struct sink *)ctx)->batches++;
}

static int sink_open(struct sink *s, const char *hostfwd, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    int rc = loop_init(&s->loop);
    if (rc)
        return rc;
    rc = net_slirp_open(&s->be, &s->loop, hostfwd, NULL, err, errlen);
    if (rc)
        return rc;
    struct net_receiver rx = { sink_receive, sink_batch, s };
    net_set_receiver(s->be, &rx);
    return 0;
}

static void sink_close(struct sink *s)
{
    net_close(s->be);
    loop_destroy(&s->loop);
}

struct run_ctx {
    struct sink *s;
    bool (*done)(struct sink *s, void *arg);
    void *arg;
    int ticks;
};

static void on_tick(void *ctx, uint32_t events)
{
    struct run_ctx *c = ctx;
    (void)events;
    if (--c->ticks <= 0 || (c->done && c->done(c->s, c->arg)))
        loop_quit(&c->s->loop);
}

/* Runs the loop until `done` or `ms` pass. */
static void run(struct sink *s, bool (*done)(struct sink *s, void *arg), void *arg, int ms)
{
    struct run_ctx c = { s, done, arg, ms };
    int tfd = loop_add_timer(&s->loop, 1, 1, on_tick, &c);
    if (tfd < 0)
        return;
    s->loop.quit = false;
    loop_run(&s->loop);
    s->loop.quit = false;
    loop_remove(&s->loop, tfd);
    close(tfd);
}

static void send_frame(struct sink *s, const uint8_t *f, size_t len)
{
    struct iovec iov = { (void *)f, len };
    net_send(s->be, &iov, 1);
}

/* ---- frames from the guest ---- */

static size_t arp(uint8_t *f, uint16_t op, const uint8_t *dst_mac, const uint8_t *target_ip)
{
    memset(f, 0, 60);
    memcpy(f, dst_mac, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = 0x08, f[13] = 0x06, f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4, f[21] = (uint8_t)op;
    memcpy(f + 22, guest_mac, 6);
    memcpy(f + 28, guest_ip, 4);
    if (op == 2)
        memcpy(f + 32, dst_mac, 6);
    memcpy(f + 38, target_ip, 4);
    return 60;
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

/* A TCP SYN (RFC 793) from the guest to 10.0.2.2:port, with valid IPv4 and TCP checksums. */
static size_t tcp_syn(uint8_t *f, const uint8_t *gw_mac, uint16_t port)
{
    memset(f, 0, 14 + 20 + 20);
    memcpy(f, gw_mac, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = 0x08;
    uint8_t *ip = f + 14, *tcp = ip + 20;
    ip[0] = 0x45, ip[8] = 64, ip[9] = 6;
    put16(ip + 2, 40);
    memcpy(ip + 12, guest_ip, 4);
    memcpy(ip + 16, gw_ip, 4);
    put16(ip + 10, fold(sum16(ip, 20, 0)));
    put16(tcp, 40000);
    put16(tcp + 2, port);
    tcp[7] = 1;                     /* sequence number */
    tcp[12] = 5 << 4;
    tcp[13] = 0x02;                 /* SYN */
    put16(tcp + 14, 65535);
    uint8_t pseudo[12] = { 0 };
    memcpy(pseudo, guest_ip, 4);
    memcpy(pseudo + 4, gw_ip, 4);
    pseudo[9] = 6;
    put16(pseudo + 10, 20);
    put16(tcp + 16, fold(sum16(tcp, 20, sum16(pseudo, 12, 0))));
    return 14 + 40;
}

static const uint8_t broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static bool got_frames(struct sink *s, void *arg)
{
    return s->n >= *(int *)arg;
}

/* Teaches slirp the guest's MAC (it learns from ARP requests) and returns the gateway's. */
static bool learn_gateway(struct sink *s, uint8_t *gw_mac)
{
    uint8_t f[64];
    send_frame(s, f, arp(f, 1, broadcast, gw_ip));
    int want = 1;
    run(s, got_frames, &want, 1000);
    if (s->n < 1 || s->frames[0][21] != 2)
        return false;
    memcpy(gw_mac, s->frames[0] + 22, 6);
    s->n = 0;
    return true;
}

static uint16_t free_loopback_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* ---- hostfwd rules ---- */

TEST(hostfwd_refuses_non_loopback_host_address)
{
    struct sink s;
    char err[256] = "";
    CHECK_EQ(sink_open(&s, "tcp:10.1.2.3:2222-:22", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "loopback"));
    loop_destroy(&s.loop);
    CHECK_EQ(sink_open(&s, "tcp:0.0.0.0:2222-:22", err, sizeof(err)), -EINVAL);
    CHECK(strstr(err, "loopback"));
    loop_destroy(&s.loop);
}

TEST(hostfwd_refuses_bad_syntax)
{
    static const char *bad[] = {
        "tcp:127.0.0.1:2222", "sctp:127.0.0.1:1-:2", "tcp:127.0.0.1:0-:22", "tcp:127.0.0.1:70000-:22",
        "tcp:127.0.0.1:22-:", "tcp:localhost:22-:22", "tcp:127.0.0.1:22x-:22", "tcp:127.0.0.1:22-10.0.2.300:22",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sink s;
        char err[256] = "";
        CHECK_EQ(sink_open(&s, bad[i], err, sizeof(err)), -EINVAL);
        CHECK(strstr(err, "hostfwd"));
        loop_destroy(&s.loop);
    }
}

TEST(hostfwd_accepts_loopback_rules)
{
    uint16_t p1 = free_loopback_port(), p2 = free_loopback_port();
    CHECK(p1 && p2);
    char rules[128], err[256] = "";
    snprintf(rules, sizeof(rules), "tcp::%u-:22,udp:127.0.0.2:%u-10.0.2.15:53", p1, p2);
    struct sink s;
    CHECK_EQ(sink_open(&s, rules, err, sizeof(err)), 0);
    /* The TCP rule listens on 127.0.0.1:p1 now. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(p1), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno == EADDRINUSE);
    close(fd);
    sink_close(&s);
}

TEST(hostfwd_port_in_use_is_reported)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 1) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    char rules[64], err[256] = "";
    snprintf(rules, sizeof(rules), "tcp:127.0.0.1:%u-:22", ntohs(a.sin_port));
    struct sink s;
    CHECK(sink_open(&s, rules, err, sizeof(err)) < 0);
    CHECK(strstr(err, "cannot listen"));
    loop_destroy(&s.loop);
    close(fd);
}

/* ---- traffic ---- */

TEST(guest_reaches_host_loopback_through_gateway)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    CHECK(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 1) == 0);
    CHECK(getsockname(lfd, (struct sockaddr *)&a, &len) == 0);
    struct sink s;
    char err[256];
    CHECK_EQ(sink_open(&s, NULL, err, sizeof(err)), 0);
    uint8_t gw_mac[6], f[64];
    CHECK(learn_gateway(&s, gw_mac));
    send_frame(&s, f, tcp_syn(f, gw_mac, ntohs(a.sin_port)));
    int cfd = -1;
    for (int i = 0; i < 100 && cfd < 0; i++) {
        run(&s, NULL, NULL, 10);
        cfd = accept(lfd, NULL, NULL);
    }
    CHECK(cfd >= 0);                            /* slirp connected to 127.0.0.1 for the guest */
    int want = 1;
    run(&s, got_frames, &want, 1000);
    CHECK(s.n >= 1);                            /* its SYN-ACK to the guest */
    const uint8_t *tcp = s.frames[0] + 14 + 20;
    CHECK_EQ(s.frames[0][23], 6);
    CHECK_EQ(tcp[13] & 0x12, 0x12);
    close(cfd);
    close(lfd);
    sink_close(&s);
}

static bool got_syn_to_guest(struct sink *s, void *arg)
{
    uint16_t port = *(uint16_t *)arg;
    for (int i = 0; i < s->n; i++) {
        const uint8_t *f = s->frames[i];
        if (s->lens[i] >= 54 && f[12] == 0x08 && f[13] == 0 && f[23] == 6 && !memcmp(f + 30, guest_ip, 4) &&
            (f[36] << 8 | f[37]) == port && (f[47] & 0x02))
            return true;
        if (s->lens[i] >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1 && !memcmp(f + 38, guest_ip, 4)) {
            uint8_t reply[64];      /* who has 10.0.2.15? we do */
            s->frames[i][12] = 0;
            send_frame(s, reply, arp(reply, 2, f + 6, f + 28));
        }
    }
    return false;
}

TEST(host_connection_forwarded_to_guest)
{
    uint16_t hport = free_loopback_port(), gport = 2222;
    CHECK(hport);
    char rules[64], err[256] = "";
    snprintf(rules, sizeof(rules), "tcp:127.0.0.1:%u-:%u", hport, gport);
    struct sink s;
    CHECK_EQ(sink_open(&s, rules, err, sizeof(err)), 0);
    uint8_t gw_mac[6];
    CHECK(learn_gateway(&s, gw_mac));
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(hport), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    CHECK(connect(cfd, (struct sockaddr *)&a, sizeof(a)) == 0 || errno == EINPROGRESS);
    run(&s, got_syn_to_guest, &gport, 2000);
    CHECK(got_syn_to_guest(&s, &gport));
    close(cfd);
    sink_close(&s);
}

TEST(paused_receiver_gets_held_frames_on_resume)
{
    struct sink s;
    char err[256];
    CHECK_EQ(sink_open(&s, NULL, err, sizeof(err)), 0);
    uint8_t f[64];
    s.refuse = true;
    send_frame(&s, f, arp(f, 1, broadcast, gw_ip));   /* the reply is refused: kept */
    CHECK_EQ(s.n, 0);
    send_frame(&s, f, arp(f, 1, broadcast, gw_ip));   /* paused: kept behind the first */
    CHECK_EQ(s.n, 0);
    s.refuse = false;
    s.be->ops->resume_receive(s.be);
    CHECK_EQ(s.n, 2);
    CHECK_EQ(s.frames[0][21], 2);
    CHECK_EQ(s.frames[1][21], 2);
    CHECK(s.batches >= 1);
    send_frame(&s, f, arp(f, 1, broadcast, gw_ip));   /* flowing again */
    CHECK_EQ(s.n, 3);
    sink_close(&s);
}

TEST(oversized_frame_refused)
{
    struct sink s;
    char err[256];
    CHECK_EQ(sink_open(&s, NULL, err, sizeof(err)), 0);
    static uint8_t big[NET_MAX_FRAME + 1];
    struct iovec iov[2] = { { big, NET_MAX_FRAME }, { big, 1 } };
    CHECK_EQ(net_send(s.be, iov, 2), -EMSGSIZE);
    sink_close(&s);
}
