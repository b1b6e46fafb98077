/* virtio-net device model (virtio 1.2 §5.1): transmit chains go to the backend straight from guest
 * memory; received frames are copied into the guest's receive buffers, spread over several chains
 * when VIRTIO_NET_F_MRG_RXBUF is negotiated (§5.1.6.4). Nothing is allocated per packet. */
#include "net.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define TX_BUDGET 256           /* chains per kick before the loop gets a turn */
#define NUM_BUFFERS_OFFSET 10   /* of num_buffers inside virtio_net_hdr_v1 */

static bool has(const struct virtio_net *n, unsigned bit)
{
    return virtio_pci_has_feature(&n->vp, bit);
}

static size_t min_size(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Asks the loop thread to look at queue `q` again (through its kick eventfd). */
static void self_kick(struct virtio_net *n, int q)
{
    uint64_t one = 1;
    if (n->vp.kick_efd[q] >= 0 && write(n->vp.kick_efd[q], &one, sizeof(one)) < 0) {
        /* counter saturated: a kick is pending anyway */
    }
}

/* ---- feature bits and configuration space (§5.1.3, §5.1.4) ---- */

static uint64_t net_features(void *dev)
{
    struct virtio_net *n = dev;
    uint64_t f = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) | (1ULL << VIRTIO_NET_F_MRG_RXBUF);
    uint64_t off = n->backend->vnet_hdr ? n->backend->offloads : 0;
    /* §5.1.3.1: TSO needs checksum offload in the same direction. */
    if (!(off & NET_OFFLOAD_CSUM))
        return f;
    f |= (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM);
    if (off & NET_OFFLOAD_TSO4)
        f |= (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO4);
    if (off & NET_OFFLOAD_TSO6)
        f |= (1ULL << VIRTIO_NET_F_HOST_TSO6) | (1ULL << VIRTIO_NET_F_GUEST_TSO6);
    return f;
}

static void net_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
    struct virtio_net *n = dev;
    uint8_t cfg[VIRTIO_NET_CONFIG_SIZE] = { 0 };
    uint16_t status = VIRTIO_NET_S_LINK_UP, pairs = 1, mtu = 1500;
    memcpy(cfg + 0, n->mac, 6);
    memcpy(cfg + 6, &status, 2);
    memcpy(cfg + 8, &pairs, 2);     /* max_virtqueue_pairs */
    memcpy(cfg + 10, &mtu, 2);      /* mtu (meaningful only with VIRTIO_NET_F_MTU) */
    if (offset < sizeof(cfg) && len <= sizeof(cfg) - offset)
        memcpy(data, cfg + offset, len);
    else
        memset(data, 0, len);
}

/* DRIVER_OK: tell the backend which offloads the guest takes on receive, then have the loop
 * thread look at the receive queue (buffers posted before DRIVER_OK had their kick ignored). */
static int net_activate(void *dev)
{
    struct virtio_net *n = dev;
    struct net_backend *be = n->backend;
    if (be->vnet_hdr && be->offloads && be->ops->set_offloads) {
        unsigned off = 0;
        if (has(n, VIRTIO_NET_F_GUEST_CSUM)) {
            off |= NET_OFFLOAD_CSUM;
            if (has(n, VIRTIO_NET_F_GUEST_TSO4))
                off |= NET_OFFLOAD_TSO4;
            if (has(n, VIRTIO_NET_F_GUEST_TSO6))
                off |= NET_OFFLOAD_TSO6;
        }
        if (be->ops->set_offloads(be, off) < 0)
            return -1;
    }
    self_kick(n, VIRTIO_NET_RXQ);
    return 0;
}

static void net_reset(void *dev)
{
    struct virtio_net *n = dev;
    n->rx_notify_pending = false;
}

/* ---- transmit (§5.1.6.2) ---- */

/* Copies the first `len` readable bytes of the chain (the header may be split across buffers). */
static bool gather(const struct vq_chain *c, void *out, size_t len)
{
    size_t got = 0;
    for (int i = 0; i < c->nout && got < len; i++) {
        size_t take = min_size(c->bufs[i].len, len - got);
        memcpy((uint8_t *)out + got, c->bufs[i].hva, take);
        got += take;
    }
    return got == len;
}

/* The frame after the header, as iovecs into n->tx_iov[1...]; returns how many. */
static int tx_frame_iov(struct virtio_net *n, const struct vq_chain *c, size_t *frame_len)
{
    size_t skip = VIRTIO_NET_HDR_SIZE, total = 0;
    int k = 0;
    for (int i = 0; i < c->nout; i++) {
        size_t len = c->bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        n->tx_iov[1 + k].iov_base = c->bufs[i].hva + skip;
        n->tx_iov[1 + k].iov_len = len - skip;
        total += len - skip;
        skip = 0;
        k++;
    }
    *frame_len = total;
    return k;
}

/* The guest's header may only ask for what it negotiated (§5.1.6.2.1). */
static bool tx_header_ok(const struct virtio_net *n, struct net_vnet_hdr *h, size_t frame_len)
{
    h->num_buffers = 0;
    h->flags &= NET_HDR_F_NEEDS_CSUM;
    bool csum = h->flags & NET_HDR_F_NEEDS_CSUM;
    if (csum && (!has(n, VIRTIO_NET_F_CSUM) || (size_t)h->csum_start + h->csum_offset + 2 > frame_len))
        return false;
    switch (h->gso_type) {
    case NET_HDR_GSO_NONE:
        return true;
    case NET_HDR_GSO_TCPV4:
        return has(n, VIRTIO_NET_F_HOST_TSO4) && csum && h->gso_size;
    case NET_HDR_GSO_TCPV6:
        return has(n, VIRTIO_NET_F_HOST_TSO6) && csum && h->gso_size;
    default:
        return false;   /* UDP fragmentation offload, ECN: never offered */
    }
}

static void tx_one(struct virtio_net *n, const struct vq_chain *c)
{
    struct net_backend *be = n->backend;
    size_t frame_len;
    int k = tx_frame_iov(n, c, &frame_len);
    if (!gather(c, &n->tx_hdr, VIRTIO_NET_HDR_SIZE) || frame_len < NET_ETH_HLEN || frame_len > NET_MAX_FRAME ||
        !tx_header_ok(n, &n->tx_hdr, frame_len)) {
        n->stats.tx_dropped++;
        return;
    }
    ssize_t rc;
    if (be->vnet_hdr) {
        n->tx_iov[0].iov_base = &n->tx_hdr;
        n->tx_iov[0].iov_len = VIRTIO_NET_HDR_SIZE;
        rc = net_send(be, n->tx_iov, k + 1);
    } else {
        rc = net_send(be, n->tx_iov + 1, k);
    }
    if (rc < 0) {
        n->stats.tx_dropped++;
        return;
    }
    n->stats.tx_packets++;
    n->stats.tx_bytes += frame_len;
}

static void tx_process(struct virtio_net *n)
{
    struct virtqueue *vq = &n->vp.vqs[VIRTIO_NET_TXQ];
    int done = 0;
    vq_set_kick_enabled(vq, false);
    for (;;) {
        if (done == TX_BUDGET) {
            self_kick(n, VIRTIO_NET_TXQ);   /* more later; kicks stay off meanwhile */
            break;
        }
        int got = vq_pop(vq, &n->tx_chain);
        if (got == 0) {
            if (vq_set_kick_enabled(vq, true))
                continue;
            break;
        }
        /* §5.1.6.2: every packet starts with the full header. */
        if (got < 0 || n->tx_chain.out_bytes < VIRTIO_NET_HDR_SIZE) {
            virtio_pci_set_needs_reset(&n->vp);
            break;
        }
        tx_one(n, &n->tx_chain);
        vq_push(vq, n->tx_chain.head, 0);
        done++;
    }
    if (done)
        virtio_pci_notify_queue(&n->vp, VIRTIO_NET_TXQ);
}

/* ---- receive (§5.1.6.3, §5.1.6.4) ---- */

/* The bytes of one received packet as the guest sees them: header, then frame. */
struct rx_stream {
    const uint8_t *hdr, *frame;
    size_t total, pos;
    uint8_t *num_buffers[2];        /* where the two bytes of num_buffers landed */
};

static void stream_put(struct rx_stream *s, uint8_t *dst, size_t len)
{
    while (len) {
        size_t take;
        if (s->pos < VIRTIO_NET_HDR_SIZE) {
            take = min_size(len, VIRTIO_NET_HDR_SIZE - s->pos);
            memcpy(dst, s->hdr + s->pos, take);
            for (size_t i = 0; i < take; i++)
                if (s->pos + i == NUM_BUFFERS_OFFSET || s->pos + i == NUM_BUFFERS_OFFSET + 1)
                    s->num_buffers[s->pos + i - NUM_BUFFERS_OFFSET] = dst + i;
        } else {
            take = len;
            memcpy(dst, s->frame + (s->pos - VIRTIO_NET_HDR_SIZE), take);
        }
        dst += take;
        s->pos += take;
        len -= take;
    }
}

/* Fills the chain's writable buffers with the next part of the stream; returns bytes written. */
static uint32_t rx_fill_chain(struct rx_stream *s, const struct vq_chain *c)
{
    size_t written = 0;
    for (int i = c->nout; i < c->nout + c->nin && s->pos < s->total; i++) {
        size_t take = min_size(c->bufs[i].len, s->total - s->pos);
        stream_put(s, c->bufs[i].hva, take);
        written += take;
    }
    return (uint32_t)written;
}

/* The guest's header from the backend's; false if it carries an offload the guest did not take. */
static bool rx_header(const struct virtio_net *n, const struct net_vnet_hdr *from, struct net_vnet_hdr *h)
{
    memset(h, 0, sizeof(*h));
    if (!from)
        return true;
    *h = *from;
    h->num_buffers = 0;
    h->flags &= NET_HDR_F_NEEDS_CSUM | NET_HDR_F_DATA_VALID;
    if (!has(n, VIRTIO_NET_F_GUEST_CSUM)) {
        if (h->flags & NET_HDR_F_NEEDS_CSUM)
            return false;
        h->flags = 0;
    }
    switch (h->gso_type) {
    case NET_HDR_GSO_NONE:
        return true;
    case NET_HDR_GSO_TCPV4:
        return has(n, VIRTIO_NET_F_GUEST_TSO4);
    case NET_HDR_GSO_TCPV6:
        return has(n, VIRTIO_NET_F_GUEST_TSO6);
    default:
        return false;
    }
}

/* Gives back chains taken for a packet that will not go in after all. */
static void rx_unpop(struct virtqueue *vq, int count)
{
    vq->last_avail = (uint16_t)(vq->last_avail - count);
}

/* Publishes the chains of one packet with a single used->idx store, so a driver never sees the
 * first buffer of a merged packet without the others (§2.7.8, §5.1.6.4). */
static void rx_publish(struct virtio_net *n, int count)
{
    struct virtqueue *vq = &n->vp.vqs[VIRTIO_NET_RXQ];
    if (count == 1) {
        vq_push(vq, n->rx_heads[0], n->rx_lens[0]);
        return;
    }
    if (!vq->enabled)
        return;
    uint8_t *ring = (uint8_t *)vq->used + 4;
    for (int i = 0; i < count; i++) {
        uint32_t elem[2] = { n->rx_heads[i], n->rx_lens[i] };
        memcpy(ring + sizeof(elem) * ((uint16_t)(vq->used_idx + i) & (vq->size - 1)), elem, sizeof(elem));
    }
    vq->used_idx = (uint16_t)(vq->used_idx + count);
    __atomic_store_n((uint16_t *)((uint8_t *)vq->used + 2), vq->used_idx, __ATOMIC_RELEASE);
}

static bool rx_ready(const struct virtio_net *n)
{
    uint8_t st = n->vp.status;
    return (st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_NEEDS_RESET) && n->vp.vqs[VIRTIO_NET_RXQ].enabled;
}

static bool rx_drop(struct virtio_net *n, bool too_big)
{
    n->stats.rx_dropped++;
    if (too_big)
        n->stats.rx_too_big++;
    return true;
}

/* One frame into the receive queue. True: consumed (delivered or dropped); false: no room now. */
static bool rx_frame(struct virtio_net *n, const struct net_vnet_hdr *from, const uint8_t *frame, size_t len)
{
    if (!rx_ready(n))
        return false;
    struct net_vnet_hdr h;
    if (len > NET_MAX_FRAME || !rx_header(n, from, &h))
        return rx_drop(n, false);
    struct virtqueue *vq = &n->vp.vqs[VIRTIO_NET_RXQ];
    bool merge = has(n, VIRTIO_NET_F_MRG_RXBUF);
    struct rx_stream s = { .hdr = (const uint8_t *)&h, .frame = frame, .total = VIRTIO_NET_HDR_SIZE + len };
    int used = 0;
    while (s.pos < s.total) {
        if (used == vq->size) {             /* not even the whole ring holds it */
            rx_unpop(vq, used);
            return rx_drop(n, true);
        }
        int got = vq_pop(vq, &n->rx_chain);
        if (got == 0 && vq_set_kick_enabled(vq, true))
            continue;
        if (got == 0) {                     /* wait for the driver's next rx kick */
            rx_unpop(vq, used);
            return false;
        }
        const struct vq_chain *c = &n->rx_chain;
        /* §5.1.6.3.1: receive buffers are device-writable and hold at least the header. */
        if (got < 0 || c->nout || c->in_bytes < VIRTIO_NET_HDR_SIZE) {
            virtio_pci_set_needs_reset(&n->vp);
            return false;
        }
        n->rx_heads[used] = c->head;
        n->rx_lens[used] = rx_fill_chain(&s, c);
        used++;
        if (!merge && s.pos < s.total) {    /* larger than the buffer: drop, keep the buffer */
            rx_unpop(vq, 1);
            return rx_drop(n, true);
        }
    }
    *s.num_buffers[0] = (uint8_t)used;
    *s.num_buffers[1] = (uint8_t)(used >> 8);
    rx_publish(n, used);
    n->rx_notify_pending = true;
    n->stats.rx_packets++;
    n->stats.rx_bytes += len;
    return true;
}

static void flush_rx_notify(struct virtio_net *n)
{
    if (n->rx_notify_pending) {
        n->rx_notify_pending = false;
        virtio_pci_notify_queue(&n->vp, VIRTIO_NET_RXQ);
    }
}

/* Backend callbacks: event-loop thread, with vp.lock held already if inside queue_notify. */
static bool on_backend_frame(void *ctx, const struct net_vnet_hdr *hdr, const uint8_t *frame, size_t len)
{
    struct virtio_net *n = ctx;
    if (!n->loop_holds_lock)
        pthread_mutex_lock(&n->vp.lock);
    bool taken = rx_frame(n, hdr, frame, len);
    if (!n->loop_holds_lock)
        pthread_mutex_unlock(&n->vp.lock);
    return taken;
}

static void on_backend_batch_done(void *ctx)
{
    struct virtio_net *n = ctx;
    if (!n->loop_holds_lock)
        pthread_mutex_lock(&n->vp.lock);
    flush_rx_notify(n);
    if (!n->loop_holds_lock)
        pthread_mutex_unlock(&n->vp.lock);
}

/* A kick (event-loop thread, vp.lock held): transmit, or receive buffers to resume into. */
static void net_queue_notify(void *dev, int q)
{
    struct virtio_net *n = dev;
    n->loop_holds_lock = true;
    if (q == VIRTIO_NET_TXQ)
        tx_process(n);
    else if (q == VIRTIO_NET_RXQ && n->backend->ops->resume_receive)
        n->backend->ops->resume_receive(n->backend);
    flush_rx_notify(n);
    n->loop_holds_lock = false;
}

static const struct virtio_device_ops net_ops = {
    .name = "virtio-net",
    .device_id = 1,
    .pci_class = 0x020000,
    .nqueues = 2,
    .queue_size = VIRTIO_NET_QUEUE_SIZE,
    .config_size = VIRTIO_NET_CONFIG_SIZE,
    .features = net_features,
    .config_read = net_config_read,
    .activate = net_activate,
    .reset = net_reset,
    .queue_notify = net_queue_notify,
};

int virtio_net_init(struct virtio_net *n, struct net_backend *backend, const uint8_t mac[6],
                    const struct virtio_host *host)
{
    memset(n, 0, sizeof(*n));
    n->backend = backend;
    memcpy(n->mac, mac, 6);
    int rc = virtio_pci_init(&n->vp, &net_ops, n, host);
    if (rc < 0)
        return rc;
    struct net_receiver rx = { on_backend_frame, on_backend_batch_done, n };
    net_set_receiver(backend, &rx);
    return 0;
}

void virtio_net_destroy(struct virtio_net *n)
{
    if (n->backend)
        net_set_receiver(n->backend, NULL);
    virtio_pci_destroy(&n->vp);
    n->backend = NULL;
}
