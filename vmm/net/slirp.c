/* User-mode NAT backend on libslirp 4.7 (SlirpConfig version 4), driven by the epoll event loop.
 *
 * How slirp meets the loop: slirp says which sockets it wants watched, and for what, only through
 * slirp_pollfds_fill, and that answer changes with every packet (POLLOUT while connecting or while
 * data waits, POLLIN only while the guest's window has room). So after every call into slirp
 * (guest frame in, socket service, timer) this backend refills the list and mirrors it into a
 * private epoll set; that one epoll fd sits in the main loop and becomes readable when any wanted
 * socket is ready. Service is then poll(list, 0) + slirp_pollfds_poll. A timerfd is armed for the
 * earliest of slirp's own timers and the timeout slirp_pollfds_fill asks for (TCP fast/slow timers,
 * at most one second). register_poll_fd/unregister_poll_fd are therefore not needed.
 * While the receiver is paused the wanted set is emptied (no socket reads); timers still run and
 * anything slirp emits meanwhile waits in a small ring (TCP retransmits whatever overflows it). */
#include "vmm/net/net.h"

#include <errno.h>
#include <libslirp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "vmm/log.h"

#define SLIRP_TIMERS 4
#define RING_SLOTS 32
#define RING_SLOT_SIZE 2048     /* slirp emits frames of at most its MTU (1500) + Ethernet header */
#define GUEST_ERRORS_LOGGED 10

struct slirp_timer {
    bool used;
    SlirpTimerId id;
    void *cb_opaque;
    int64_t expire_ms;          /* -1: not armed */
};

struct fd_slot {                /* indexed by fd */
    uint32_t gen;               /* fill generation in which slirp last wanted this fd */
    uint32_t events;            /* EPOLL* wanted in that generation */
};

struct slirp_backend {
    struct net_backend be;
    Slirp *slirp;
    int epfd;                   /* the sockets slirp wants now, with the events it wants */
    int timerfd;
    bool epfd_watched, timer_watched;
    struct pollfd *pfds;        /* the last slirp_pollfds_fill, index = what add_poll returned */
    int npfds, cap_pfds;
    bool pfds_overflow;
    int *watched;               /* fds in epfd after the last sync */
    int nwatched, cap_watched;
    struct fd_slot *slots;
    int nslots;
    uint32_t gen;
    struct slirp_timer timers[SLIRP_TIMERS];
    bool paused;
    uint8_t *ring;              /* RING_SLOTS frames kept while the receiver is paused */
    uint16_t ring_len[RING_SLOTS];
    unsigned ring_head, ring_count;
    uint8_t *tx_buf;            /* a guest frame gathered for slirp_input */
    unsigned guest_errors;
    bool delivered;             /* frames went to the receiver since the last batch_done */
    char bootfile[256];         /* DHCP boot file name (option 67), e.g. an iPXE script URL */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- frames towards the guest ---- */

static bool offer(struct slirp_backend *s, const uint8_t *frame, size_t len)
{
    struct net_receiver *rx = &s->be.rx;
    if (!rx->receive)
        return true;                    /* nobody listening: dropped */
    if (!rx->receive(rx->ctx, NULL, frame, len))
        return false;
    s->be.rx_packets++;
    s->delivered = true;
    return true;
}

static void ring_put(struct slirp_backend *s, const uint8_t *frame, size_t len)
{
    if (s->ring_count == RING_SLOTS || len > RING_SLOT_SIZE) {
        s->be.rx_dropped++;
        return;
    }
    unsigned slot = (s->ring_head + s->ring_count) % RING_SLOTS;
    memcpy(s->ring + (size_t)slot * RING_SLOT_SIZE, frame, len);
    s->ring_len[slot] = (uint16_t)len;
    s->ring_count++;
}

/* Offers kept frames in order; false if the receiver refused one (it stays first in the ring). */
static bool ring_drain(struct slirp_backend *s)
{
    while (s->ring_count) {
        unsigned slot = s->ring_head;
        if (!offer(s, s->ring + (size_t)slot * RING_SLOT_SIZE, s->ring_len[slot]))
            return false;
        s->ring_head = (s->ring_head + 1) % RING_SLOTS;
        s->ring_count--;
    }
    return true;
}

static void batch_done(struct slirp_backend *s)
{
    if (s->delivered && s->be.rx.batch_done)
        s->be.rx.batch_done(s->be.rx.ctx);
    s->delivered = false;
}

/* ---- slirp callbacks (run inside slirp calls) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct slirp_backend *s = opaque;
    if (s->paused || s->ring_count || !offer(s, buf, len)) {
        s->paused = true;               /* the next sync drops the socket watches */
        ring_put(s, buf, len);
    }
    return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
    struct slirp_backend *s = opaque;
    if (s->guest_errors++ < GUEST_ERRORS_LOGGED)
        log_warn("user network: guest error: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
    (void)opaque;
    return now_ns();
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
    struct slirp_backend *s = opaque;
    for (int i = 0; i < SLIRP_TIMERS; i++)
        if (!s->timers[i].used) {
            s->timers[i] = (struct slirp_timer){ true, id, cb_opaque, -1 };
            return &s->timers[i];
        }
    log_error("user network: out of timers");
    return NULL;
}

static void cb_timer_free(void *timer, void *opaque)
{
    (void)opaque;
    if (timer)
        ((struct slirp_timer *)timer)->used = false;
}

/* The timerfd is re-armed by the refresh that follows every call into slirp. */
static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    (void)opaque;
    if (timer)
        ((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

static void cb_poll_fd(int fd, void *opaque)
{
    (void)fd;
    (void)opaque;   /* interest comes from slirp_pollfds_fill (see the top of this file) */
}

static void cb_notify(void *opaque)
{
    (void)opaque;   /* only guestfwd sockets use it; a refresh follows every slirp call anyway */
}

static void cb_init_completed(Slirp *slirp, void *opaque)
{
    (void)slirp;
    (void)opaque;
}

static const SlirpCb slirp_callbacks = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_get_ns,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_poll_fd,
    .unregister_poll_fd = cb_poll_fd,
    .notify = cb_notify,
    .init_completed = cb_init_completed,
    .timer_new_opaque = cb_timer_new_opaque,
};

/* ---- poll list <-> epoll set ---- */

static short to_poll(int ev)
{
    return (short)(((ev & SLIRP_POLL_IN) ? POLLIN : 0) | ((ev & SLIRP_POLL_OUT) ? POLLOUT : 0) |
                   ((ev & SLIRP_POLL_PRI) ? POLLPRI : 0));
}

static int from_poll(short rev)
{
    return ((rev & POLLIN) ? SLIRP_POLL_IN : 0) | ((rev & POLLOUT) ? SLIRP_POLL_OUT : 0) |
           ((rev & POLLPRI) ? SLIRP_POLL_PRI : 0) | ((rev & (POLLERR | POLLNVAL)) ? SLIRP_POLL_ERR : 0) |
           ((rev & POLLHUP) ? SLIRP_POLL_HUP : 0);
}

static bool grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return true;
    int ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static int cb_add_poll(int fd, int events, void *opaque)
{
    struct slirp_backend *s = opaque;
    if (fd < 0 || !grow((void **)&s->pfds, &s->cap_pfds, s->npfds + 1, sizeof(*s->pfds))) {
        s->pfds_overflow = true;
        return -1;
    }
    s->pfds[s->npfds] = (struct pollfd){ .fd = fd, .events = to_poll(events) };
    return s->npfds++;
}

static int cb_get_revents(int idx, void *opaque)
{
    struct slirp_backend *s = opaque;
    if (idx < 0 || idx >= s->npfds)
        return 0;
    return from_poll(s->pfds[idx].revents);
}

static struct fd_slot *slot_for(struct slirp_backend *s, int fd)
{
    if (fd >= s->nslots) {
        int n = s->nslots ? s->nslots : 64;
        while (n <= fd)
            n *= 2;
        struct fd_slot *p = realloc(s->slots, (size_t)n * sizeof(*p));
        if (!p)
            return NULL;
        memset(p + s->nslots, 0, (size_t)(n - s->nslots) * sizeof(*p));
        s->slots = p;
        s->nslots = n;
    }
    return &s->slots[fd];
}

/* Sets one fd's interest in epfd. MOD first: a number slirp closed and reused (the closed one left
 * the set by itself) answers ENOENT and is added afresh. */
static void watch_fd(struct slirp_backend *s, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };
    if (epoll_ctl(s->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
        epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Mirrors the last fill into epfd (nothing while paused). */
static void sync_watches(struct slirp_backend *s)
{
    uint32_t gen = ++s->gen;
    int nwant = s->paused ? 0 : s->npfds;
    for (int i = 0; i < nwant; i++) {
        struct fd_slot *sl = slot_for(s, s->pfds[i].fd);
        uint32_t ev = (uint32_t)s->pfds[i].events;
        if (!sl || !ev)
            continue;
        if (sl->gen != gen) {
            sl->gen = gen;
            sl->events = 0;
        }
        sl->events |= ev;       /* the same fd twice: both interests */
    }
    int kept = 0;
    for (int i = 0; i < s->nwatched; i++) {
        int fd = s->watched[i];
        struct fd_slot *sl = fd < s->nslots ? &s->slots[fd] : NULL;
        if (!sl || sl->gen != gen)
            epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, NULL);   /* may be gone already: fine */
    }
    for (int i = 0; i < nwant; i++) {
        int fd = s->pfds[i].fd;
        struct fd_slot *sl = fd < s->nslots ? &s->slots[fd] : NULL;
        if (!sl || sl->gen != gen || !sl->events)
            continue;
        if (!grow((void **)&s->watched, &s->cap_watched, kept + 1, sizeof(int)))
            break;
        watch_fd(s, fd, sl->events);
        sl->events = 0;         /* done: a repeat of this fd is skipped */
        s->watched[kept++] = fd;
    }
    s->nwatched = kept;
}

static void arm_timer(struct slirp_backend *s, uint32_t timeout_ms)
{
    int64_t now_ms = now_ns() / 1000000;
    int64_t deadline = timeout_ms == UINT32_MAX ? INT64_MAX : now_ms + timeout_ms;
    for (int i = 0; i < SLIRP_TIMERS; i++)
        if (s->timers[i].used && s->timers[i].expire_ms >= 0 && s->timers[i].expire_ms < deadline)
            deadline = s->timers[i].expire_ms;
    struct itimerspec its = { 0 };
    if (deadline != INT64_MAX) {
        int64_t ns = deadline <= now_ms ? now_ns() + 1 : deadline * 1000000;
        its.it_value.tv_sec = (time_t)(ns / 1000000000);
        its.it_value.tv_nsec = (long)(ns % 1000000000);
    }
    timerfd_settime(s->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* After every call into slirp: what does it want watched, and when must it run next? */
static void refresh(struct slirp_backend *s)
{
    uint32_t timeout = UINT32_MAX;
    s->npfds = 0;
    s->pfds_overflow = false;
    slirp_pollfds_fill(s->slirp, &timeout, cb_add_poll, s);
    if (s->pfds_overflow && timeout > 10)
        timeout = 10;           /* could not list every socket: look again soon */
    sync_watches(s);
    arm_timer(s, timeout);
}

/* Socket work and slirp's TCP timers; `sockets` false runs the timers only. */
static void service(struct slirp_backend *s, bool sockets)
{
    int rc = 0;
    if (sockets && s->npfds)
        rc = poll(s->pfds, (nfds_t)s->npfds, 0);
    if (!sockets || rc < 0)
        for (int i = 0; i < s->npfds; i++)
            s->pfds[i].revents = 0;
    slirp_pollfds_poll(s->slirp, sockets && rc < 0 && errno != EINTR, cb_get_revents, s);
    refresh(s);
}

static void on_sockets(void *ctx, uint32_t events)
{
    struct slirp_backend *s = ctx;
    (void)events;
    service(s, !s->paused);
    batch_done(s);
}

static void on_timer(void *ctx, uint32_t events)
{
    struct slirp_backend *s = ctx;
    uint64_t ticks;
    (void)events;
    if (read(s->timerfd, &ticks, sizeof(ticks)) < 0) {
        /* spurious wake-up (re-armed meanwhile) */
    }
    int64_t now_ms = now_ns() / 1000000;
    for (int i = 0; i < SLIRP_TIMERS; i++) {
        struct slirp_timer *t = &s->timers[i];
        if (t->used && t->expire_ms >= 0 && t->expire_ms <= now_ms) {
            t->expire_ms = -1;
            slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
        }
    }
    service(s, !s->paused);
    batch_done(s);
}

/* ---- backend operations ---- */

static ssize_t slirp_be_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
    struct slirp_backend *s = (struct slirp_backend *)be;
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > NET_MAX_FRAME - len) {
            be->tx_dropped++;
            return -EMSGSIZE;
        }
        memcpy(s->tx_buf + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    slirp_input(s->slirp, s->tx_buf, (int)len);
    refresh(s);
    batch_done(s);      /* replies slirp gave at once (ARP, DHCP, ICMP) */
    be->tx_packets++;
    return (ssize_t)len;
}

static void slirp_be_pause(struct net_backend *be)
{
    struct slirp_backend *s = (struct slirp_backend *)be;
    s->paused = true;
    sync_watches(s);
}

static void slirp_be_resume(struct net_backend *be)
{
    struct slirp_backend *s = (struct slirp_backend *)be;
    if (!s->paused)
        return;
    s->paused = !ring_drain(s);
    batch_done(s);
    if (!s->paused)
        sync_watches(s);        /* the last fill is current: every slirp call ends in refresh */
}

static void slirp_be_close(struct net_backend *be)
{
    struct slirp_backend *s = (struct slirp_backend *)be;
    if (s->slirp)
        slirp_cleanup(s->slirp);
    if (s->epfd_watched)
        loop_remove(be->loop, s->epfd);
    if (s->timer_watched)
        loop_remove(be->loop, s->timerfd);
    if (s->epfd >= 0)
        close(s->epfd);
    if (s->timerfd >= 0)
        close(s->timerfd);
    free(s->pfds);
    free(s->watched);
    free(s->slots);
    free(s->ring);
    free(s->tx_buf);
    free(s);
}

static const struct net_backend_ops slirp_ops = {
    .kind = "user",
    .send = slirp_be_send,
    .pause_receive = slirp_be_pause,
    .resume_receive = slirp_be_resume,
    .close = slirp_be_close,
};

/* ---- set-up ---- */

static struct in_addr ip4(const char *dotted)
{
    struct in_addr a;
    inet_pton(AF_INET, dotted, &a);
    return a;
}

static struct in6_addr ip6(const char *text)
{
    struct in6_addr a;
    inet_pton(AF_INET6, text, &a);
    return a;
}

static Slirp *new_slirp(struct slirp_backend *s)
{
    SlirpConfig cfg = {
        .version = 4,
        .restricted = 0,
        .in_enabled = true,
        .vnetwork = ip4("10.0.2.0"),
        .vnetmask = ip4("255.255.255.0"),
        .vhost = ip4("10.0.2.2"),
        .in6_enabled = true,
        .vprefix_addr6 = ip6("fec0::"),
        .vprefix_len = 64,
        .vhost6 = ip6("fec0::2"),
        .vhostname = "vmm",
        .vdhcp_start = ip4("10.0.2.15"),
        .vnameserver = ip4("10.0.2.3"),
        .vnameserver6 = ip6("fec0::3"),
        .disable_host_loopback = false,     /* 10.0.2.2 reaches the host's own loopback */
        .bootfile = s->bootfile[0] ? s->bootfile : NULL,
    };
    return slirp_new(&cfg, &slirp_callbacks, s);
}

/* Parses "[ADDR]:PORT" (ADDR may be empty). */
static bool parse_endpoint(const char *text, size_t len, const char *default_addr, struct in_addr *addr, int *port)
{
    char buf[64];
    if (len >= sizeof(buf))
        return false;
    memcpy(buf, text, len);
    buf[len] = 0;
    char *colon = strrchr(buf, ':');
    if (!colon)
        return false;
    *colon = 0;
    if (inet_pton(AF_INET, buf[0] ? buf : default_addr, addr) != 1)
        return false;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (colon[1] == 0 || *end || p < 1 || p > 65535)
        return false;
    *port = (int)p;
    return true;
}

/* One "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" rule. */
static int add_hostfwd(struct slirp_backend *s, const char *rule, size_t len, char *err, size_t errlen)
{
    int udp;
    if (len > 4 && !strncmp(rule, "tcp:", 4))
        udp = 0;
    else if (len > 4 && !strncmp(rule, "udp:", 4))
        udp = 1;
    else
        goto bad;
    const char *host = rule + 4, *end = rule + len;
    const char *dash = memchr(host, '-', (size_t)(end - host));
    struct in_addr haddr, gaddr;
    int hport, gport;
    if (!dash || !parse_endpoint(host, (size_t)(dash - host), "127.0.0.1", &haddr, &hport) ||
        !parse_endpoint(dash + 1, (size_t)(end - dash - 1), "10.0.2.15", &gaddr, &gport))
        goto bad;
    if ((ntohl(haddr.s_addr) >> 24) != 127) {
        snprintf(err, errlen, "hostfwd %.*s: host address must be a loopback address (127.0.0.0/8); "
                 "forwarding from other addresses would expose the guest to the network", (int)len, rule);
        return -EINVAL;
    }
    if (slirp_add_hostfwd(s->slirp, udp, haddr, hport, gaddr, gport) < 0) {
        int e = errno ? errno : EADDRINUSE;
        snprintf(err, errlen, "hostfwd %.*s: cannot listen on the host port: %s", (int)len, rule, strerror(e));
        return -e;
    }
    return 0;
bad:
    snprintf(err, errlen, "hostfwd %.*s: expected tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT",
             (int)len, rule);
    return -EINVAL;
}

static int add_hostfwds(struct slirp_backend *s, const char *list, char *err, size_t errlen)
{
    while (list && *list) {
        const char *comma = strchr(list, ',');
        size_t len = comma ? (size_t)(comma - list) : strlen(list);
        if (len) {
            errno = 0;
            int rc = add_hostfwd(s, list, len, err, errlen);
            if (rc < 0)
                return rc;
        }
        list = comma ? comma + 1 : NULL;
    }
    return 0;
}

static int setup(struct slirp_backend *s, struct event_loop *loop, const char *hostfwd_list, char *err,
                 size_t errlen)
{
    s->ring = malloc((size_t)RING_SLOTS * RING_SLOT_SIZE);
    s->tx_buf = malloc(NET_MAX_FRAME);
    if (!s->ring || !s->tx_buf) {
        snprintf(err, errlen, "user network: out of memory");
        return -ENOMEM;
    }
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (s->epfd < 0 || s->timerfd < 0) {
        int e = errno;
        snprintf(err, errlen, "user network: %s", strerror(e));
        return -e;
    }
    s->slirp = new_slirp(s);
    if (!s->slirp) {
        snprintf(err, errlen, "user network: libslirp refused the configuration");
        return -EINVAL;
    }
    int rc = add_hostfwds(s, hostfwd_list, err, errlen);
    if (rc < 0)
        return rc;
    rc = loop_add(loop, s->epfd, EPOLLIN, on_sockets, s);
    s->epfd_watched = rc == 0;
    if (rc == 0)
        rc = loop_add(loop, s->timerfd, EPOLLIN, on_timer, s);
    s->timer_watched = s->epfd_watched && rc == 0;
    if (rc < 0) {
        snprintf(err, errlen, "user network: cannot watch its descriptors: %s", strerror(-rc));
        return rc;
    }
    refresh(s);
    return 0;
}

int net_slirp_open(struct net_backend **out, struct event_loop *loop, const char *hostfwd_list,
                   const char *bootfile, char *err, size_t errlen)
{
    struct slirp_backend *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s) {
        snprintf(err, errlen, "user network: out of memory");
        return -ENOMEM;
    }
    s->be.ops = &slirp_ops;
    s->be.loop = loop;
    if (bootfile && strlen(bootfile) >= sizeof(s->bootfile)) {
        snprintf(err, errlen, "user network: bootfile= is longer than %zu characters", sizeof(s->bootfile) - 1);
        free(s);
        return -EINVAL;
    }
    snprintf(s->bootfile, sizeof(s->bootfile), "%s", bootfile ? bootfile : "");
    s->epfd = s->timerfd = -1;
    int rc = setup(s, loop, hostfwd_list, err, errlen);
    if (rc < 0) {
        slirp_be_close(&s->be);
        return rc;
    }
    *out = &s->be;
    return 0;
}
