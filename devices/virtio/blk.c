/* virtio-blk device model (virtio 1.2 §5.2): request parsing, the block backend underneath.
 * Requests of one kick go to the backend in one batch; completions return in the event loop and
 * end in one interrupt per batch and queue. Data moves straight between guest buffers and the image.
 * With several request queues (VIRTIO_BLK_F_MQ) each has its own slots, kick eventfd and MSI-X
 * vector, and a request completes on the queue it came from. */
#include "blk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Feature bits (§5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define SECTOR 512ULL
#define BLK_HDR_SIZE 16
#define MAX_DISCARD_SECTORS (1u << 22)
#define CONFIG_SIZE 60

/* Copies the first `n` readable bytes of the chain (the header may be split across buffers). */
static bool gather(const struct vq_chain *c, uint8_t *out, size_t n)
{
    size_t got = 0;
    for (int i = 0; i < c->nout && got < n; i++) {
        size_t take = c->bufs[i].len < n - got ? c->bufs[i].len : n - got;
        memcpy(out + got, c->bufs[i].hva, take);
        got += take;
    }
    return got == n;
}

/* Slices buffers [first, last) of the chain, skipping `skip` bytes at the start and dropping
 * `drop` bytes at the end, into iovecs. Returns the count or -1 if they do not fit. */
static int slice(const struct vq_chain *c, int first, int last, uint64_t skip, uint64_t drop,
                 struct iovec *iov, uint64_t *total)
{
    uint64_t avail = 0;
    for (int i = first; i < last; i++)
        avail += c->bufs[i].len;
    if (skip + drop > avail)
        return -1;
    uint64_t want = avail - skip - drop;
    int n = 0;
    *total = want;
    for (int i = first; i < last && want; i++) {
        uint64_t len = c->bufs[i].len;
        uint8_t *p = c->bufs[i].hva;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        p += skip;
        len -= skip;
        skip = 0;
        if (len > want)
            len = want;
        iov[n].iov_base = p;
        iov[n].iov_len = (size_t)len;
        n++;
        want -= len;
    }
    return n;
}

int virtio_blk_parse(const struct vq_chain *c, struct blk_parsed *p)
{
    uint8_t hdr[BLK_HDR_SIZE];
    /* Framing (§5.2.6): header readable, status the last writable byte. */
    if (c->out_bytes < BLK_HDR_SIZE || c->nin == 0 || c->in_bytes < 1 || !gather(c, hdr, sizeof(hdr)))
        return -EINVAL;
    memcpy(&p->type, hdr, 4);
    memcpy(&p->sector, hdr + 8, 8);
    const struct vq_buf *last = &c->bufs[c->nout + c->nin - 1];
    p->status = last->hva + last->len - 1;
    if (p->type == VIRTIO_BLK_T_IN || p->type == VIRTIO_BLK_T_GET_ID)
        p->ndata = slice(c, c->nout, c->nout + c->nin, 0, 1, p->data, &p->data_len);
    else
        p->ndata = slice(c, 0, c->nout, BLK_HDR_SIZE, 0, p->data, &p->data_len);
    return p->ndata < 0 ? -EINVAL : 0;
}

/* ---- configuration space (§5.2.4) ---- */

static uint64_t blk_features(void *dev)
{
    struct virtio_blk *b = dev;
    uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
                 (1ULL << VIRTIO_BLK_F_SIZE_MAX);
    if (b->nqueues > 1)
        f |= 1ULL << VIRTIO_BLK_F_MQ;
    if (b->backend->readonly)
        f |= 1ULL << VIRTIO_BLK_F_RO;
    else
        f |= (1ULL << VIRTIO_BLK_F_DISCARD) | (1ULL << VIRTIO_BLK_F_WRITE_ZEROES);
    return f;
}

static void blk_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
    struct virtio_blk *b = dev;
    uint8_t cfg[CONFIG_SIZE] = { 0 };
    uint64_t capacity = b->backend->size / SECTOR;
    uint32_t size_max = 1u << 20, seg_max = VIRTIO_BLK_SEG_MAX, blk_size = 512;
    uint32_t max_discard = MAX_DISCARD_SECTORS, one = 1;
    memcpy(cfg + 0, &capacity, 8);
    memcpy(cfg + 8, &size_max, 4);
    memcpy(cfg + 12, &seg_max, 4);
    memcpy(cfg + 20, &blk_size, 4);
    uint16_t num_queues = (uint16_t)b->nqueues;
    memcpy(cfg + 34, &num_queues, 2);    /* num_queues (§5.2.4) */
    memcpy(cfg + 36, &max_discard, 4);   /* max_discard_sectors */
    memcpy(cfg + 40, &one, 4);           /* max_discard_seg */
    memcpy(cfg + 44, &one, 4);           /* discard_sector_alignment */
    memcpy(cfg + 48, &max_discard, 4);   /* max_write_zeroes_sectors */
    memcpy(cfg + 52, &one, 4);           /* max_write_zeroes_seg */
    cfg[56] = 1;                         /* write_zeroes_may_unmap */
    if (offset < sizeof(cfg) && len <= sizeof(cfg) - offset)
        memcpy(data, cfg + offset, len);
    else
        memset(data, 0, len);
}

/* ---- requests ---- */

static void complete(struct blk_req *r, uint8_t status)
{
    struct virtio_blk *b = r->blk;
    if (r->generation == b->generation) {
        *r->status = status;
        vq_push(&b->vp.vqs[r->queue], r->head, r->written + 1);
        b->notify_pending |= 1u << r->queue;
    }
    if (status != VIRTIO_BLK_S_OK)
        b->errors++;
    r->next_free = b->free_list[r->queue];
    b->free_list[r->queue] = r;
    b->inflight--;
}

static void io_done(struct blk_io *io, int64_t result)
{
    struct blk_req *r = io->ctx;
    struct virtio_blk *b = r->blk;
    /* Completions inside block_submit run under the lock blk_queue_notify holds; the rest come
     * from the event loop (same thread) without it. */
    bool take_lock = !b->submitting;
    if (take_lock)
        pthread_mutex_lock(&b->vp.lock);
    if (result < 0)
        r->written = 0;
    complete(r, result < 0 ? (result == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR) : VIRTIO_BLK_S_OK);
    if (take_lock)
        pthread_mutex_unlock(&b->vp.lock);
}

static void flush_notify(struct virtio_blk *b)
{
    while (b->notify_pending) {
        int q = __builtin_ctz(b->notify_pending);
        b->notify_pending &= b->notify_pending - 1;
        virtio_pci_notify_queue(&b->vp, q);
    }
}

static void batch_done(void *ctx)
{
    struct virtio_blk *b = ctx;
    pthread_mutex_lock(&b->vp.lock);
    flush_notify(b);
    pthread_mutex_unlock(&b->vp.lock);
}

/* Discard / write-zeroes payload (§5.2.6): one segment {le64 sector, le32 num_sectors, le32 flags}. */
static int parse_range(struct virtio_blk *b, const struct blk_parsed *p, struct blk_io *io)
{
    uint8_t seg[16];
    if (p->data_len != 16 || p->ndata < 1)
        return -EINVAL;
    size_t got = 0;
    for (int i = 0; i < p->ndata && got < 16; i++) {
        size_t take = p->data[i].iov_len < 16 - got ? p->data[i].iov_len : 16 - got;
        memcpy(seg + got, p->data[i].iov_base, take);
        got += take;
    }
    uint64_t sector;
    uint32_t count, flags;
    memcpy(&sector, seg, 8);
    memcpy(&count, seg + 8, 4);
    memcpy(&flags, seg + 12, 4);
    if (count > MAX_DISCARD_SECTORS || sector > b->backend->size / SECTOR)
        return -EIO;
    io->offset = sector * SECTOR;
    io->len = (uint64_t)count * SECTOR;
    io->unmap = flags & 1;
    return 0;
}

/* Turns a parsed request into backend I/O; returns 0 if queued in `io`, else a status to complete with. */
static int prepare(struct virtio_blk *b, struct blk_req *r, struct blk_parsed *p)
{
    struct blk_io *io = &r->io;
    memset(io, 0, offsetof(struct blk_io, iocb));
    io->done = io_done;
    io->ctx = r;
    switch (p->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        if ((p->data_len % SECTOR) || p->sector > UINT64_MAX / SECTOR)
            return VIRTIO_BLK_S_IOERR;
        io->op = p->type == VIRTIO_BLK_T_IN ? BLK_READ : BLK_WRITE;
        io->offset = p->sector * SECTOR;
        io->len = p->data_len;
        memcpy(r->iov, p->data, (size_t)p->ndata * sizeof(struct iovec));
        io->iov = r->iov;
        io->iovcnt = p->ndata;
        r->written = p->type == VIRTIO_BLK_T_IN ? (uint32_t)p->data_len : 0;
        return -1;
    case VIRTIO_BLK_T_FLUSH:
        io->op = BLK_FLUSH;
        return -1;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        if (b->backend->readonly)
            return VIRTIO_BLK_S_IOERR;
        io->op = p->type == VIRTIO_BLK_T_DISCARD ? BLK_DISCARD : BLK_WRITE_ZEROES;
        return parse_range(b, p, io) == 0 ? -1 : VIRTIO_BLK_S_IOERR;
    case VIRTIO_BLK_T_GET_ID: {
        /* The serial string, NUL-padded, truncated to the buffer (§5.2.6.1). */
        uint64_t left = p->data_len < VIRTIO_BLK_ID_BYTES ? p->data_len : VIRTIO_BLK_ID_BYTES;
        const char *src = b->serial;
        r->written = (uint32_t)left;
        for (int i = 0; i < p->ndata && left; i++) {
            size_t take = p->data[i].iov_len < left ? p->data[i].iov_len : (size_t)left;
            memset(p->data[i].iov_base, 0, take);
            size_t s = strnlen(src, take);
            memcpy(p->data[i].iov_base, src, s);
            src += s;
            left -= take;
        }
        return VIRTIO_BLK_S_OK;
    }
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}

static void blk_queue_notify(void *dev, int q)
{
    struct virtio_blk *b = dev;
    struct virtqueue *vq = &b->vp.vqs[q];
    struct blk_io *batch[VIRTIO_BLK_QUEUE_SIZE];
    static struct blk_parsed parsed; /* loop thread only; too big for the stack */
    int n = 0;
    for (;;) {
        if (!b->free_list[q])
            break;   /* all slots busy: completions will come back for the rest */
        int got = vq_pop(vq, &b->chain);
        if (got == 0) {
            if (vq_set_kick_enabled(vq, true))
                continue;
            break;
        }
        if (got < 0 || virtio_blk_parse(&b->chain, &parsed) < 0) {
            virtio_pci_set_needs_reset(&b->vp);
            break;
        }
        struct blk_req *r = b->free_list[q];
        b->free_list[q] = r->next_free;
        b->inflight++;
        b->requests++;
        r->head = b->chain.head;
        r->queue = (uint16_t)q;
        r->generation = b->generation;
        r->status = parsed.status;
        r->written = 0;
        r->type = parsed.type;
        int st = prepare(b, r, &parsed);
        if (st >= 0)
            complete(r, (uint8_t)st);
        else
            batch[n++] = &r->io;
    }
    if (n) {
        b->submitting = true;
        block_submit(b->backend, batch, n);
        b->submitting = false;
    }
    flush_notify(b);
}

static void blk_reset(void *dev)
{
    struct virtio_blk *b = dev;
    b->generation++;      /* in-flight requests finish without touching the reset rings */
    b->notify_pending = 0;
}

static const struct virtio_device_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = 2,
    .pci_class = 0x018000,
    .nqueues = 1,
    .queue_size = VIRTIO_BLK_QUEUE_SIZE,
    .config_size = CONFIG_SIZE,
    .features = blk_features,
    .config_read = blk_config_read,
    .reset = blk_reset,
    .queue_notify = blk_queue_notify,
};

int virtio_blk_init(struct virtio_blk *b, struct block_backend *backend, const char *serial, int nqueues,
                    const struct virtio_host *host)
{
    memset(b, 0, sizeof(*b));
    if (nqueues < 1 || nqueues > VIRTIO_BLK_MAX_QUEUES)
        return -EINVAL;
    b->backend = backend;
    b->nqueues = nqueues;
    b->ops = blk_ops;
    b->ops.nqueues = nqueues;
    snprintf(b->serial, sizeof(b->serial), "%s", serial ? serial : "");
    /* Slots per queue: a queue never holds more chains than its size. */
    b->reqs = calloc((size_t)nqueues * VIRTIO_BLK_QUEUE_SIZE, sizeof(*b->reqs));
    if (!b->reqs)
        return -ENOMEM;
    for (int i = nqueues * VIRTIO_BLK_QUEUE_SIZE - 1; i >= 0; i--) {
        int q = i / VIRTIO_BLK_QUEUE_SIZE;
        b->reqs[i].blk = b;
        b->reqs[i].next_free = b->free_list[q];
        b->free_list[q] = &b->reqs[i];
    }
    backend->batch_done = batch_done;
    backend->batch_ctx = b;
    return virtio_pci_init(&b->vp, &b->ops, b, host);
}

void virtio_blk_destroy(struct virtio_blk *b)
{
    virtio_pci_destroy(&b->vp);
    free(b->reqs);
    b->reqs = NULL;
}
