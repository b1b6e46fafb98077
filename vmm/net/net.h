/* Host network backends behind one small interface: frames go out through send(), frames come in
 * through a receiver the device registers. Backends: Linux tap, also on a bridge (tap.c), and
 * user-mode NAT (slirp.c).
 * Everything runs on the event-loop thread except set_offloads, which is thread-safe. */
#ifndef VMM_NET_NET_H
#define VMM_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vmm/loop.h"

/* Largest Ethernet frame a backend moves: a 64 KiB TSO super-frame plus the Ethernet header. */
#define NET_MAX_FRAME (65535 + 14)
#define NET_ETH_HLEN 14

/* The header that rides in front of a frame when a backend has vnet_hdr: Linux's tap header with
 * TUNSETVNETHDRSZ 12, which has the layout of virtio_net_hdr_v1 (virtio 1.2 §5.1.6). */
struct net_vnet_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
#define NET_VNET_HDR_SIZE 12
_Static_assert(sizeof(struct net_vnet_hdr) == NET_VNET_HDR_SIZE, "vnet header is 12 bytes");

#define NET_HDR_F_NEEDS_CSUM 1
#define NET_HDR_F_DATA_VALID 2
#define NET_HDR_GSO_NONE 0
#define NET_HDR_GSO_TCPV4 1
#define NET_HDR_GSO_UDP 3
#define NET_HDR_GSO_TCPV6 4
#define NET_HDR_GSO_ECN 0x80

/* What a backend can carry besides plain frames (struct net_backend.offloads). */
#define NET_OFFLOAD_CSUM 1u     /* partial checksums (NEEDS_CSUM) both ways */
#define NET_OFFLOAD_TSO4 2u     /* TCPv4 segmentation offload both ways */
#define NET_OFFLOAD_TSO6 4u     /* TCPv6 segmentation offload both ways */

struct net_backend;

/* Where received frames go. `hdr` is the backend's vnet header, or NULL when it has none; the
 * frame is valid only during the call. Return false to refuse it (no room): the backend then
 * keeps that frame, stops reading its host side, and offers the frame again after
 * resume_receive. `batch_done` (optional) runs after a burst of receive calls. */
struct net_receiver {
    bool (*receive)(void *ctx, const struct net_vnet_hdr *hdr, const uint8_t *frame, size_t len);
    void (*batch_done)(void *ctx);
    void *ctx;
};

struct net_backend_ops {
    const char *kind;
    /* Sends one frame; with be->vnet_hdr the first NET_VNET_HDR_SIZE bytes of `iov` are a
     * struct net_vnet_hdr. Never blocks. Returns the bytes taken or -errno (frame dropped). */
    ssize_t (*send)(struct net_backend *be, const struct iovec *iov, int iovcnt);
    /* Stop / restart offering frames (resume also re-offers a frame refused earlier). */
    void (*pause_receive)(struct net_backend *be);
    void (*resume_receive)(struct net_backend *be);
    /* Which NET_OFFLOAD_* the receiver accepts in received frames (subset of be->offloads). */
    int (*set_offloads)(struct net_backend *be, unsigned offloads);
    void (*close)(struct net_backend *be);
};

struct net_backend {
    const struct net_backend_ops *ops;
    bool vnet_hdr;                  /* frames carry a struct net_vnet_hdr both ways */
    uint64_t offloads;              /* NET_OFFLOAD_* the backend can carry (needs vnet_hdr) */
    struct net_receiver rx;         /* set by the device; receive NULL = frames are dropped */
    struct event_loop *loop;
    uint64_t tx_packets, tx_dropped, rx_packets, rx_dropped;
};

static inline void net_set_receiver(struct net_backend *be, const struct net_receiver *rx)
{
    if (rx)
        be->rx = *rx;
    else
        be->rx = (struct net_receiver){ 0 };
}

static inline ssize_t net_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
    return be->ops->send(be, iov, iovcnt);
}

static inline void net_close(struct net_backend *be)
{
    if (be)
        be->ops->close(be);
}

/* User-mode NAT through libslirp: guest network 10.0.2.0/24, gateway and host 10.0.2.2 (which
 * also reaches the host's loopback services), DNS 10.0.2.3, DHCP from 10.0.2.15. `hostfwd_list`
 * (NULL or "") is a comma-separated list of "tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT";
 * HOSTADDR must be a loopback address (default 127.0.0.1), GUESTADDR defaults to 10.0.2.15.
 * `bootfile` (NULL: none) is what DHCP offers as the boot file name (iPXE fetches it).
 * On failure returns -errno and writes a one-line message into err. */
int net_slirp_open(struct net_backend **out, struct event_loop *loop, const char *hostfwd_list,
                   const char *bootfile, char *err, size_t errlen);

/* Linux tap `ifname` through /dev/net/tun (created if missing and we may), with a vnet header and
 * checksum/TSO offloads when the kernel has them. */
int net_tap_open(struct net_backend **out, struct event_loop *loop, const char *ifname, char *err, size_t errlen);

/* A new tap (the kernel names it vmmtapN), set up like net_tap_open, made a port of the existing
 * Linux bridge `bridge` (SIOCBRADDIF) and brought up. Not persistent: it disappears when the
 * backend closes or vmm exits. Needs CAP_NET_ADMIN. */
int net_tap_open_bridge(struct net_backend **out, struct event_loop *loop, const char *bridge, char *err,
                        size_t errlen);
/* True when `name` is a Linux bridge in this network namespace. */
bool net_is_bridge(const char *name);

#endif
