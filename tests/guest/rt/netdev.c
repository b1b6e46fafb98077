/* Guest runtime: the first virtio-net device (virtio 1.2 §5.1) as a polled pipe of Ethernet frames. */
#include "netdev.h"

/* virtio 1.2 §5.1.3 feature bits, §5.1.4 configuration, §5.1.6 header (with VERSION_1). */
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_CONFIG_MAC 0
#define NET_HDR_BYTES 12
#define RX_QUEUE 0
#define TX_QUEUE 1
#define RX_BUFFERS 16
#define RX_BUFFER_BYTES 2048
#define QUEUE_ENTRIES 64
#define TX_TIMEOUT_US 2000000

VIRTQ_STORAGE(rx_queue_mem, QUEUE_ENTRIES);
VIRTQ_STORAGE(tx_queue_mem, QUEUE_ENTRIES);
static uint8_t rx_buffers[RX_BUFFERS][RX_BUFFER_BYTES] __attribute__((aligned(4096)));
static uint8_t tx_buffer[NET_HDR_BYTES + NETDEV_FRAME_MAX] __attribute__((aligned(64)));
static int rx_owner[QUEUE_ENTRIES];  /* descriptor head -> rx buffer */
static struct virtq rxq, txq;

static const char *post_rx(int buffer)
{
    struct virtq_buf b = { rx_buffers[buffer], RX_BUFFER_BYTES, true };
    int head = virtq_submit(&rxq, &b, 1);
    if (head < 0 || head >= QUEUE_ENTRIES)
        return "rx queue full";
    rx_owner[head] = buffer;
    return NULL;
}

static const char *setup(struct netdev *n)
{
    const char *err = virtio_open(&n->dev, &n->pci);
    if (!err)
        err = virtio_negotiate(&n->dev, 1ull << VIRTIO_NET_F_MAC);
    if (!err)
        err = virtio_queue_setup(&n->dev, &rxq, RX_QUEUE, rx_queue_mem, QUEUE_ENTRIES, VIRTIO_NO_VECTOR);
    if (!err)
        err = virtio_queue_setup(&n->dev, &txq, TX_QUEUE, tx_queue_mem, QUEUE_ENTRIES, VIRTIO_NO_VECTOR);
    if (!err && rxq.size < RX_BUFFERS)
        err = "rx queue smaller than 16 entries";
    if (!err)
        err = virtio_driver_ok(&n->dev);
    return err;
}

const char *netdev_open(struct netdev *n)
{
    if (!pci_find(VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_NET, 0, &n->pci))
        return "no virtio-net device (1af4:1041)";
    const char *err = setup(n);
    if (err)
        return err;
    if (virtio_has_feature(&n->dev, VIRTIO_NET_F_MAC)) {
        for (int i = 0; i < 6; i++)
            n->mac[i] = virtio_config8(&n->dev, VIRTIO_NET_CONFIG_MAC + (uint32_t)i);
    } else {
        static const uint8_t local_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
        memcpy(n->mac, local_mac, 6);
    }
    for (int i = 0; i < RX_BUFFERS && !err; i++)
        err = post_rx(i);
    virtq_kick(&rxq);
    return err;
}

uint8_t *netdev_tx_frame(void)
{
    return tx_buffer + NET_HDR_BYTES;
}

const char *netdev_send(size_t len)
{
    if (len > NETDEV_FRAME_MAX)
        return "frame too long";
    if (len < NETDEV_FRAME_MIN) {
        memset(tx_buffer + NET_HDR_BYTES + len, 0, NETDEV_FRAME_MIN - len);
        len = NETDEV_FRAME_MIN;
    }
    memset(tx_buffer, 0, NET_HDR_BYTES); /* no checksum offload, no GSO */
    struct virtq_buf b = { tx_buffer, (uint32_t)(NET_HDR_BYTES + len), false };
    if (virtq_submit(&txq, &b, 1) < 0)
        return "tx queue full";
    virtq_kick(&txq);
    uint32_t id, written;
    if (!virtq_wait(&txq, &id, &written, TX_TIMEOUT_US))
        return "transmit timed out";
    return NULL;
}

const char *netdev_receive(void (*handle)(const uint8_t *frame, size_t len))
{
    uint32_t id, len;
    int got;
    bool reposted = false;
    const char *err = NULL;
    while (!err && (got = virtq_poll(&rxq, &id, &len)) != 0) {
        if (got < 0 || id >= QUEUE_ENTRIES)
            return "bad used entry in the rx queue";
        int buffer = rx_owner[id];
        if (len > NET_HDR_BYTES && len <= RX_BUFFER_BYTES)
            handle(rx_buffers[buffer] + NET_HDR_BYTES, len - NET_HDR_BYTES);
        err = post_rx(buffer);
        reposted = true;
    }
    if (reposted)
        virtq_kick(&rxq);
    return err;
}

void netdev_close(struct netdev *n)
{
    virtio_reset(&n->dev);
}

void netdev_print_mac(const uint8_t mac[6])
{
    printf("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}
