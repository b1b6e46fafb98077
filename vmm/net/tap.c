/* Linux tap backend: /dev/net/tun with TUNSETIFF (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), a 12-byte
 * vnet header (TUNSETVNETHDRSZ) and checksum/TSO offloads (TUNSETOFFLOAD) when the kernel has them.
 * Frames are read into one preallocated buffer; a frame the receiver refuses is kept there and the
 * fd leaves the loop until resume_receive (backpressure: the kernel queues or drops meanwhile).
 * net_tap_open_bridge makes a non-persistent tap of its own and adds it to a bridge (SIOCBRADDIF). */
#include "vmm/net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vmm/log.h"

#define READ_BUDGET 64          /* frames per wake-up before the loop gets a turn */
#define TAP_BUF_SIZE (NET_VNET_HDR_SIZE + NET_MAX_FRAME)

struct tap_backend {
    struct net_backend be;
    int fd;
    char ifname[IFNAMSIZ];
    bool watched;               /* fd in the loop (not paused) */
    bool paused;
    uint8_t *buf;               /* [vnet header] frame */
    size_t pending;             /* bytes of a refused frame kept in buf, 0 = none */
};

static void set_watch(struct tap_backend *t, bool on);

/* Offers what buf holds; false if the receiver refused it. */
static bool offer(struct tap_backend *t, size_t n)
{
    struct net_receiver *rx = &t->be.rx;
    size_t hdr = t->be.vnet_hdr ? NET_VNET_HDR_SIZE : 0;
    if (n < hdr + NET_ETH_HLEN || !rx->receive) {
        t->be.rx_dropped++;
        return true;
    }
    const struct net_vnet_hdr *vh = hdr ? (const struct net_vnet_hdr *)t->buf : NULL;
    if (!rx->receive(rx->ctx, vh, t->buf + hdr, n - hdr))
        return false;
    t->be.rx_packets++;
    return true;
}

static void hold(struct tap_backend *t, size_t n)
{
    t->pending = n;
    t->paused = true;
    set_watch(t, false);
}

static void on_readable(void *ctx, uint32_t events)
{
    struct tap_backend *t = ctx;
    int delivered = 0;
    (void)events;
    for (int i = 0; i < READ_BUDGET && !t->paused; i++) {
        ssize_t n = read(t->fd, t->buf, TAP_BUF_SIZE);
        if (n < 0)
            break;              /* EAGAIN: drained; other errors: try again on the next wake-up */
        if (!offer(t, (size_t)n)) {
            hold(t, (size_t)n);
            break;
        }
        delivered++;
    }
    if (delivered && t->be.rx.batch_done)
        t->be.rx.batch_done(t->be.rx.ctx);
}

static void set_watch(struct tap_backend *t, bool on)
{
    if (on == t->watched)
        return;
    if (on) {
        int rc = loop_add(t->be.loop, t->fd, EPOLLIN, on_readable, t);
        t->watched = rc == 0;
        if (rc < 0)
            log_error("tap %s: cannot watch the device: %s", t->ifname, strerror(-rc));
    } else {
        loop_remove(t->be.loop, t->fd);
        t->watched = false;
    }
}

/* ---- backend operations ---- */

static ssize_t tap_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
    struct tap_backend *t = (struct tap_backend *)be;
    ssize_t n = writev(t->fd, iov, iovcnt);
    if (n < 0) {
        be->tx_dropped++;
        return -errno;
    }
    be->tx_packets++;
    return n;
}

static void tap_pause(struct net_backend *be)
{
    struct tap_backend *t = (struct tap_backend *)be;
    t->paused = true;
    set_watch(t, false);
}

static void tap_resume(struct net_backend *be)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (!t->paused)
        return;
    if (t->pending) {
        if (!offer(t, t->pending))
            return;
        t->pending = 0;
        if (be->rx.batch_done)
            be->rx.batch_done(be->rx.ctx);
    }
    t->paused = false;
    set_watch(t, true);
}

static unsigned tun_offload_flags(unsigned offloads)
{
    unsigned f = 0;
    if (offloads & NET_OFFLOAD_CSUM) {
        f |= TUN_F_CSUM;
        if (offloads & NET_OFFLOAD_TSO4)
            f |= TUN_F_TSO4;
        if (offloads & NET_OFFLOAD_TSO6)
            f |= TUN_F_TSO6;
    }
    return f;
}

/* What the kernel may hand us: only what the guest agreed to take (ioctl: any thread). */
static int tap_set_offloads(struct net_backend *be, unsigned offloads)
{
    struct tap_backend *t = (struct tap_backend *)be;
    if (!be->vnet_hdr)
        return offloads ? -EINVAL : 0;
    if (ioctl(t->fd, TUNSETOFFLOAD, tun_offload_flags(offloads & (unsigned)be->offloads)) < 0)
        return -errno;
    return 0;
}

static void tap_close(struct net_backend *be)
{
    struct tap_backend *t = (struct tap_backend *)be;
    set_watch(t, false);
    if (t->fd >= 0)
        close(t->fd);
    free(t->buf);
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .kind = "tap",
    .send = tap_send,
    .pause_receive = tap_pause,
    .resume_receive = tap_resume,
    .set_offloads = tap_set_offloads,
    .close = tap_close,
};

/* ---- set-up ---- */

static bool valid_ifname(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
        return false;
    for (size_t i = 0; i < len; i++)
        if (name[i] == '/' || name[i] == ':' || name[i] <= ' ' || name[i] == 0x7f)
            return false;
    return true;
}

static int open_error(const char *name, int e, char *err, size_t errlen)
{
    const char *user = getenv("USER");
    switch (e) {
    case EPERM:
    case EACCES:
        snprintf(err, errlen, "no permission to open tap %s: run as root or create it with "
                 "`ip tuntap add %s mode tap user %s`", name, name, user && *user ? user : "$USER");
        break;
    case ENOENT:
    case ENODEV:
        snprintf(err, errlen, "cannot open tap %s: /dev/net/tun is missing (load the tun module: modprobe tun)",
                 name);
        break;
    case EBUSY:
        snprintf(err, errlen, "cannot open tap %s: it is in use by another program", name);
        break;
    case EINVAL:
        snprintf(err, errlen, "cannot open tap %s: an interface of that name exists and is not a tap", name);
        break;
    default:
        snprintf(err, errlen, "cannot open tap %s: %s", name, strerror(e));
        break;
    }
    return -e;
}

/* A tap we created starts down; bring it up so the host side only needs an address or a bridge. */
static void bring_up(const char *name)
{
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return;
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP;
        ioctl(sock, SIOCSIFFLAGS, &ifr);
    }
    close(sock);
}

/* The vnet header and the offloads the kernel supports (probed, then off until the guest asks). */
static void setup_vnet(struct tap_backend *t)
{
    int hdr_size = NET_VNET_HDR_SIZE;
    if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_size) < 0)
        return;
    t->be.vnet_hdr = true;
    if (ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0)
        t->be.offloads = NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6;
    else if (ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM) == 0)
        t->be.offloads = NET_OFFLOAD_CSUM;
    ioctl(t->fd, TUNSETOFFLOAD, 0);
}

static int tap_setup(struct tap_backend *t, const char *ifname, char *err, size_t errlen)
{
    bool existed = if_nametoindex(ifname) != 0;
    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0)
        return open_error(ifname, errno, err, errlen);
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        /* A tap made persistent without a vnet header refuses one: take it plain. */
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        if (errno != EINVAL || ioctl(t->fd, TUNSETIFF, &ifr) < 0)
            return open_error(ifname, errno, err, errlen);
    }
    snprintf(t->ifname, sizeof(t->ifname), "%s", ifr.ifr_name);
    if (ifr.ifr_flags & IFF_VNET_HDR)
        setup_vnet(t);
    if (!existed)
        bring_up(t->ifname);
    t->buf = malloc(TAP_BUF_SIZE);
    if (!t->buf) {
        snprintf(err, errlen, "tap %s: out of memory", ifname);
        return -ENOMEM;
    }
    set_watch(t, true);
    if (!t->watched) {
        snprintf(err, errlen, "tap %s: the event loop has no room for it", ifname);
        return -ENOSPC;
    }
    return 0;
}

static struct tap_backend *tap_new(struct event_loop *loop)
{
    struct tap_backend *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->be.ops = &tap_ops;
    t->be.loop = loop;
    t->fd = -1;
    return t;
}

int net_tap_open(struct net_backend **out, struct event_loop *loop, const char *ifname, char *err, size_t errlen)
{
    *out = NULL;
    if (!ifname || !valid_ifname(ifname)) {
        snprintf(err, errlen, "bad tap interface name '%s': 1 to %d characters, no '/', ':' or spaces",
                 ifname ? ifname : "", IFNAMSIZ - 1);
        return -EINVAL;
    }
    struct tap_backend *t = tap_new(loop);
    if (!t) {
        snprintf(err, errlen, "tap %s: out of memory", ifname);
        return -ENOMEM;
    }
    int rc = tap_setup(t, ifname, err, errlen);
    if (rc < 0) {
        tap_close(&t->be);
        return rc;
    }
    *out = &t->be;
    return 0;
}

/* ---- a tap of our own, enslaved to a bridge ---- */

/* The bridge driver names itself "bridge" to ETHTOOL_GDRVINFO (asked by ioctl, which, unlike
 * /sys/class/net, always sees the caller's network namespace). */
bool net_is_bridge(const char *name)
{
    int sock = socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return false;
    struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    ifr.ifr_data = (void *)&info;
    bool bridge = ioctl(sock, SIOCETHTOOL, &ifr) == 0 && !strcmp(info.driver, "bridge");
    close(sock);
    return bridge;
}

/* Makes `port` a port of `bridge` (SIOCBRADDIF, linux/sockios.h); returns 0 or -errno. */
static int bridge_add_port(const char *bridge, const char *port)
{
    int sock = socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return -errno;
    struct ifreq ifr = { 0 };
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
    ifr.ifr_ifindex = (int)if_nametoindex(port);
    int rc = 0;
    if (!ifr.ifr_ifindex)
        rc = -ENODEV;
    else if (ioctl(sock, SIOCBRADDIF, &ifr) < 0)
        rc = -errno;
    close(sock);
    return rc;
}

static int bridge_error(const char *bridge, const char *what, int rc, char *err, size_t errlen)
{
    if (rc == -EPERM || rc == -EACCES)
        snprintf(err, errlen, "joining bridge %s needs CAP_NET_ADMIN to %s: run vmm as root", bridge, what);
    else if (rc == -ENOENT || rc == -ENODEV)
        snprintf(err, errlen, "cannot %s for bridge %s: /dev/net/tun is missing (load the tun module: modprobe tun)",
                 what, bridge);
    else
        snprintf(err, errlen, "cannot %s for bridge %s: %s", what, bridge, strerror(-rc));
    return rc;
}

int net_tap_open_bridge(struct net_backend **out, struct event_loop *loop, const char *bridge, char *err,
                        size_t errlen)
{
    *out = NULL;
    if (!bridge || !valid_ifname(bridge)) {
        snprintf(err, errlen, "bad bridge name '%s': 1 to %d characters, no '/', ':' or spaces",
                 bridge ? bridge : "", IFNAMSIZ - 1);
        return -EINVAL;
    }
    if (!if_nametoindex(bridge)) {
        snprintf(err, errlen, "bridge %s does not exist: create it with vmm net-create or "
                 "ip link add %s type bridge", bridge, bridge);
        return -ENODEV;
    }
    if (!net_is_bridge(bridge)) {
        snprintf(err, errlen, "interface %s is not a bridge: name a Linux bridge (ip -d link show type bridge)",
                 bridge);
        return -EINVAL;
    }
    struct tap_backend *t = tap_new(loop);
    if (!t) {
        snprintf(err, errlen, "tap for bridge %s: out of memory", bridge);
        return -ENOMEM;
    }
    /* The kernel picks the first free vmmtapN; not persistent, so it goes when the fd closes. */
    int rc = tap_setup(t, "vmmtap%d", err, errlen);
    if (rc < 0 && !t->ifname[0])
        bridge_error(bridge, "create a tap", rc, err, errlen);
    if (rc == 0 && (rc = bridge_add_port(bridge, t->ifname)) < 0)
        bridge_error(bridge, "add a port", rc, err, errlen);
    if (rc < 0) {
        tap_close(&t->be);
        return rc;
    }
    *out = &t->be;
    return 0;
}
