/* virtio-net device model (virtio 1.2 §5.1): one receive and one transmit queue over a host
 * network backend (vmm/net/net.h). */
#ifndef DEVICES_VIRTIO_NET_H
#define DEVICES_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/virtio_pci.h"
#include "vmm/net/net.h"

#define VIRTIO_NET_QUEUE_SIZE 256
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_HDR_SIZE 12          /* struct virtio_net_hdr_v1 (§5.1.6) */
#define VIRTIO_NET_CONFIG_SIZE 12       /* mac, status, max_virtqueue_pairs, mtu (§5.1.4) */

/* Feature bits (§5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_S_LINK_UP 1

struct virtio_net_stats {
    uint64_t tx_packets, tx_bytes, tx_dropped;
    uint64_t rx_packets, rx_bytes, rx_dropped;
    uint64_t rx_too_big;                /* frames larger than the guest's receive buffers */
};

struct virtio_net {
    struct virtio_pci vp;
    struct net_backend *backend;
    uint8_t mac[6];
    /* The loop thread is inside queue_notify and already holds vp.lock: a backend calling back
     * (a slirp reply during transmit, a refused frame offered again on resume) must not lock. */
    bool loop_holds_lock;
    bool rx_notify_pending;
    struct vq_chain tx_chain, rx_chain; /* scratch for vq_pop, one per direction */
    struct iovec tx_iov[VQ_MAX_SEGS + 1];
    struct net_vnet_hdr tx_hdr;
    uint16_t rx_heads[VIRTIO_NET_QUEUE_SIZE];   /* chains of one merged receive (§5.1.6.4) */
    uint32_t rx_lens[VIRTIO_NET_QUEUE_SIZE];
    struct virtio_net_stats stats;
};

/* `mac` is the guest's address; the backend stays owned by the caller and must outlive the device. */
int virtio_net_init(struct virtio_net *n, struct net_backend *backend, const uint8_t mac[6],
                    const struct virtio_host *host);
void virtio_net_destroy(struct virtio_net *n);

#endif
