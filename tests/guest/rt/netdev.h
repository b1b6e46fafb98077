/* Guest runtime: the first virtio-net device (virtio 1.2 §5.1) as a polled pipe of Ethernet frames. */
#ifndef GUEST_NETDEV_H
#define GUEST_NETDEV_H

#include "rt.h"
#include "virtio.h"

#define NETDEV_FRAME_MAX 1514
#define NETDEV_FRAME_MIN 60           /* without the FCS (IEEE 802.3 §3.2.8) */
#define NETDEV_ETH_HDR 14

struct netdev {
    struct virtio_dev dev;
    struct pci_dev pci;
    uint8_t mac[6];                   /* from the device (VIRTIO_NET_F_MAC), else 52:54:00:12:34:56 */
};

/* Finds 1af4:1041, negotiates VIRTIO_NET_F_MAC, sets up the rx and tx queues and fills rx with
 * buffers. NULL on success, else what failed. */
const char *netdev_open(struct netdev *n);
/* Where the next frame to send goes (NETDEV_FRAME_MAX bytes, Ethernet header first). */
uint8_t *netdev_tx_frame(void);
/* Sends the frame written at netdev_tx_frame (padded to the minimum) and waits until the device
 * took it. NULL on success, else what failed. */
const char *netdev_send(size_t len);
/* Hands every received frame to `handle` and gives its buffer back. NULL, or what failed. */
const char *netdev_receive(void (*handle)(const uint8_t *frame, size_t len));
void netdev_close(struct netdev *n);
void netdev_print_mac(const uint8_t mac[6]);

#endif
