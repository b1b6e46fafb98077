/* Unit tests for the tap backend. Each test that touches a real tap runs in a child process inside
 * a network namespace of its own (so no frame reaches a real network); without root or without
 * /dev/net/tun those tests say "skip" on stderr and pass. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vmm/loop.h"
#include "vmm/net/net.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define SKIP 77

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x01, 0x02, 0x03 };
static const uint8_t guest_ip[4] = { 10, 99, 0, 2 }, host_ip[4] = { 10, 99, 0, 1 };

/* Runs `body` in a child inside a new network namespace; its exit status is the verdict. */
static int in_namespace(int (*body)(void), const char *what)
{
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        fprintf(stderr, "skip %s: /dev/net/tun is missing or not accessible\n", what);
        return 0;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) != 0)
            _exit(SKIP);
        _exit(body());
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    if (WEXITSTATUS(st) == SKIP) {
        fprintf(stderr, "skip %s: needs root (a network namespace and a tap)\n", what);
        return 0;
    }
    return WEXITSTATUS(st);
}

#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  %s:%d: %s failed\n", __FILE__, __LINE__, #cond); \
            return 1;                                                          \
        }                                                                      \
    } while (0)

/* ---- receiving side ---- */

struct sink {
    struct event_loop loop;
    struct net_backend *be;
    bool refuse, saw_hdr;
    int refused;
    uint8_t reply[128];
    bool got_reply;
};

static bool sink_receive(void *ctx, const struct net_vnet_hdr *hdr, const uint8_t *frame, size_t len)
{
    struct sink *s = ctx;
    bool is_arp_reply = len >= 42 && frame[12] == 0x08 && frame[13] == 0x06 && frame[21] == 2;
    if (!is_arp_reply)
        return true;                        /* IPv6 chatter from the new interface: ignore */
    if (s->refuse) {
        s->refused++;
        return false;
    }
    s->saw_hdr = hdr != NULL;
    memcpy(s->reply, frame, 42);
    s->got_reply = true;
    return true;
}

struct run_ctx {
    struct sink *s;
    int ticks;
};

static void on_tick(void *ctx, uint32_t events)
{
    struct run_ctx *c = ctx;
    (void)events;
    if (--c->ticks <= 0 || c->s->got_reply || c->s->refused)
        loop_quit(&c->s->loop);
}

static void run(struct sink *s, int ms)
{
    struct run_ctx c = { s, ms };
    int tfd = loop_add_timer(&s->loop, 1, 1, on_tick, &c);
    if (tfd < 0)
        return;
    s->loop.quit = false;
    loop_run(&s->loop);
    loop_remove(&s->loop, tfd);
    close(tfd);
}

static int set_addr(const char *ifname, unsigned long req, const uint8_t *ip)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = { 0 };
    struct sockaddr_in *a = (struct sockaddr_in *)&ifr.ifr_addr;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    a->sin_family = AF_INET;
    memcpy(&a->sin_addr, ip, 4);
    int rc = ioctl(fd, req, &ifr);
    close(fd);
    return rc;
}

/* The guest asks "who has 10.99.0.1?" with an all-zero vnet header. */
static ssize_t send_arp_request(struct net_backend *be)
{
    struct net_vnet_hdr hdr = { 0 };
    uint8_t f[60] = { 0 };
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = 0x08, f[13] = 0x06, f[15] = 1, f[16] = 0x08, f[18] = 6, f[19] = 4, f[21] = 1;
    memcpy(f + 22, guest_mac, 6);
    memcpy(f + 28, guest_ip, 4);
    memcpy(f + 38, host_ip, 4);
    struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { f, sizeof(f) } };
    return be->vnet_hdr ? net_send(be, iov, 2) : net_send(be, iov + 1, 1);
}

static int arp_through_tap(void)
{
    struct sink s = { 0 };
    char err[256];
    if (loop_init(&s.loop))
        return 1;
    int rc = net_tap_open(&s.be, &s.loop, "vmmtest0", err, sizeof(err));
    if (rc == -EPERM)
        return SKIP;
    if (rc) {
        fprintf(stderr, "  %s\n", err);
        return 1;
    }
    REQUIRE(s.be->vnet_hdr);
    REQUIRE(s.be->offloads & NET_OFFLOAD_CSUM);
    REQUIRE(s.be->ops->set_offloads(s.be, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4) == 0);
    REQUIRE(set_addr("vmmtest0", SIOCSIFADDR, host_ip) == 0);
    REQUIRE(set_addr("vmmtest0", SIOCSIFNETMASK, (const uint8_t[]){ 255, 255, 255, 0 }) == 0);
    struct net_receiver rx = { sink_receive, NULL, &s };
    net_set_receiver(s.be, &rx);

    /* First reply refused: the backend keeps it and stops reading. */
    s.refuse = true;
    REQUIRE(send_arp_request(s.be) == 12 + 60);
    run(&s, 2000);
    REQUIRE(s.refused == 1);
    run(&s, 50);
    REQUIRE(s.refused == 1);                /* not offered again while paused */
    s.refuse = false;
    s.be->ops->resume_receive(s.be);
    REQUIRE(s.got_reply);
    REQUIRE(s.saw_hdr);
    REQUIRE(!memcmp(s.reply, guest_mac, 6));
    REQUIRE(!memcmp(s.reply + 28, host_ip, 4));
    REQUIRE(!memcmp(s.reply + 38, guest_ip, 4));

    /* And reading resumed: a second request is answered through the loop. */
    s.got_reply = false;
    REQUIRE(send_arp_request(s.be) == 12 + 60);
    run(&s, 2000);
    REQUIRE(s.got_reply);
    REQUIRE(s.be->tx_packets == 2);
    net_close(s.be);
    loop_destroy(&s.loop);
    return 0;
}

static int not_a_tap(void)
{
    struct event_loop loop;
    struct net_backend *be;
    char err[256] = "";
    if (loop_init(&loop))
        return 1;
    int rc = net_tap_open(&be, &loop, "lo", err, sizeof(err));
    if (rc == -EPERM)
        return SKIP;
    REQUIRE(rc == -EINVAL);
    REQUIRE(strstr(err, "not a tap"));
    loop_destroy(&loop);
    return 0;
}

static int unprivileged_create(void)
{
    struct event_loop loop;
    struct net_backend *be;
    char err[256] = "";
    if (loop_init(&loop))
        return 1;
    if (getuid() != 0)
        return SKIP;
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
        return SKIP;
    int rc = net_tap_open(&be, &loop, "vmmtest1", err, sizeof(err));
    REQUIRE(rc == -EPERM);
    REQUIRE(strstr(err, "no permission to open tap vmmtest1"));
    REQUIRE(strstr(err, "ip tuntap add vmmtest1 mode tap user"));
    loop_destroy(&loop);
    return 0;
}

TEST(arp_through_tap_in_namespace)
{
    CHECK_EQ(in_namespace(arp_through_tap, "arp_through_tap_in_namespace"), 0);
}

TEST(existing_non_tap_interface_refused)
{
    CHECK_EQ(in_namespace(not_a_tap, "existing_non_tap_interface_refused"), 0);
}

TEST(unprivileged_create_explains_fix)
{
    CHECK_EQ(in_namespace(unprivileged_create, "unprivileged_create_explains_fix"), 0);
}

TEST(bad_interface_names_refused)
{
    static const char *bad[] = { "", "a/b", "with space", "abcdefghijklmnop", "x:1" };
    struct event_loop loop;
    CHECK_EQ(loop_init(&loop), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct net_backend *be = (struct net_backend *)1;
        char err[256] = "";
        CHECK_EQ(net_tap_open(&be, &loop, bad[i], err, sizeof(err)), -EINVAL);
        CHECK(be == NULL);
        CHECK(strstr(err, "bad tap interface name"));
    }
    loop_destroy(&loop);
}

/* ---- a tap of vmm's own on a bridge ---- */

static int bridge_ioctl(unsigned long req, const char *name)
{
    int fd = socket(AF_LOCAL, SOCK_DGRAM, 0);
    int rc = ioctl(fd, req, name);
    close(fd);
    return rc;
}

static void set_up(const char *ifname)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
}

static int arp_through_bridge(void)
{
    struct sink s = { 0 };
    char err[256];
    if (loop_init(&s.loop))
        return 1;
    if (bridge_ioctl(SIOCBRADDBR, "vmmtestbr0") != 0)
        return errno == EPERM ? SKIP : 1;
    REQUIRE(set_addr("vmmtestbr0", SIOCSIFADDR, host_ip) == 0);
    REQUIRE(set_addr("vmmtestbr0", SIOCSIFNETMASK, (const uint8_t[]){ 255, 255, 255, 0 }) == 0);
    set_up("vmmtestbr0");
    int rc = net_tap_open_bridge(&s.be, &s.loop, "vmmtestbr0", err, sizeof(err));
    if (rc) {
        fprintf(stderr, "  %s\n", err);
        return 1;
    }
    REQUIRE(s.be->vnet_hdr);
    REQUIRE(if_nametoindex("vmmtap0") != 0);    /* the kernel's first free name in a new namespace */
    struct net_receiver rx = { sink_receive, NULL, &s };
    net_set_receiver(s.be, &rx);
    /* The bridge's own address answers only through a port of it; a new port may still be
     * settling, so ask a few times. */
    for (int i = 0; i < 5 && !s.got_reply; i++) {
        REQUIRE(send_arp_request(s.be) == 12 + 60);
        run(&s, 1000);
    }
    REQUIRE(s.got_reply);
    REQUIRE(!memcmp(s.reply + 28, host_ip, 4));
    net_close(s.be);
    REQUIRE(if_nametoindex("vmmtap0") == 0);    /* not persistent: gone with the backend */
    loop_destroy(&s.loop);
    return 0;
}

static int bridge_refusals(void)
{
    struct event_loop loop;
    struct net_backend *be = NULL;
    char err[256] = "";
    if (loop_init(&loop))
        return 1;
    REQUIRE(net_tap_open_bridge(&be, &loop, "nosuchbr", err, sizeof(err)) == -ENODEV);
    REQUIRE(be == NULL);
    REQUIRE(strstr(err, "bridge nosuchbr does not exist: create it with vmm net-create or ip link add nosuchbr type bridge"));
    REQUIRE(net_tap_open_bridge(&be, &loop, "lo", err, sizeof(err)) == -EINVAL);
    REQUIRE(strstr(err, "lo is not a bridge"));
    REQUIRE(net_tap_open_bridge(&be, &loop, "a/b", err, sizeof(err)) == -EINVAL);
    REQUIRE(strstr(err, "bad bridge name"));
    if (getuid() != 0 || bridge_ioctl(SIOCBRADDBR, "vmmtestbr1") != 0)
        return SKIP;
    if (setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0)
        return SKIP;
    int rc = net_tap_open_bridge(&be, &loop, "vmmtestbr1", err, sizeof(err));
    REQUIRE(rc == -EPERM);
    REQUIRE(strstr(err, "joining bridge vmmtestbr1 needs CAP_NET_ADMIN"));
    REQUIRE(strstr(err, "run vmm as root"));
    loop_destroy(&loop);
    return 0;
}

TEST(bridge_port_carries_frames_and_goes_away)
{
    CHECK_EQ(in_namespace(arp_through_bridge, "bridge_port_carries_frames_and_goes_away"), 0);
}

TEST(bridge_missing_or_not_allowed_explains_fix)
{
    CHECK_EQ(in_namespace(bridge_refusals, "bridge_missing_or_not_allowed_explains_fix"), 0);
}
