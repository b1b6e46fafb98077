/* Disk image backend: Linux AIO (libaio) with completions signalled on an eventfd. O_DIRECT for
 * cache=none; reads and writes point straight at guest buffers (no copy). Raw files: flush is
 * fdatasync, discard and write-zeroes are fallocate (punch hole / zero range). qcow2 images: data
 * through the same ring, split at clusters by vmm/block/image_io.c; metadata through the format
 * engine (vmm/block/qcow2.c). */
#define _GNU_SOURCE
#include "block.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/block/engine.h"
#include "vmm/block/image.h"
#include "vmm/block/qcow2.h"

static void on_completion(void *ctx, uint32_t events)
{
    (void)events;
    block_reap(ctx);
}

static int reap_ring(struct block_backend *b, struct io_event *out, int max);
static void deliver(struct block_backend *b, struct io_event *events, int n);

/* Loop poller: completions straight from the shared ring, without waiting for the eventfd. */
static int poll_completions(void *ctx)
{
    struct block_backend *b = ctx;
    if (b->inflight == 0)
        return -1;
    struct io_event events[64];
    int n = reap_ring(b, events, 64);
    if (n <= 0)
        return 0;
    deliver(b, events, n);
    if (b->batch_done)
        b->batch_done(b->batch_ctx);
    return 1;
}

static int open_image(struct block_backend *b, const struct block_options *o, char *err, size_t errlen)
{
    int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    b->fd_buffered = open(o->path, flags);
    if (b->fd_buffered < 0) {
        int e = errno;
        if (e == ENOENT)
            snprintf(err, errlen, "disk image %s does not exist: create it (e.g. truncate -s 1G %s)", o->path, o->path);
        else if (e == EACCES || e == EROFS)
            snprintf(err, errlen, "no permission to open disk image %s %s: fix its mode or add readonly=on",
                     o->path, o->readonly ? "for reading" : "read-write");
        else
            snprintf(err, errlen, "cannot open disk image %s: %s", o->path, strerror(e));
        return -e;
    }
    b->fd = b->fd_buffered;
    if (o->cache == BLK_CACHE_NONE) {
        int fd = open(o->path, flags | O_DIRECT);
        if (fd >= 0) {
            b->fd = fd;
            b->direct = true;
        }
        /* A file system without O_DIRECT (tmpfs) falls back to the page cache. */
    }
    return 0;
}

static int image_size(struct block_backend *b, char *err, size_t errlen)
{
    int rc = image_file_size(b->fd_buffered, b->path, &b->size, err, errlen);
    if (rc)
        return rc;
    if (b->size < 512 || (b->size & 511)) {
        snprintf(err, errlen, "disk image %s is %llu bytes: a raw image must be a non-zero multiple of 512 bytes",
                 b->path, (unsigned long long)b->size);
        return -EINVAL;
    }
    b->align = 512;
    return 0;
}

/* Is it qcow2? An explicit format decides; otherwise the header's magic does (QEMU probes the same way). */
static bool wants_qcow2(const struct block_options *o)
{
    if (o->format)
        return !strcmp(o->format, "qcow2");
    uint8_t head[8];
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool q = pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) && qcow2_probe(head, sizeof(head));
    close(fd);
    return q;
}

/* qcow2 metadata goes through the format engine (vmm/block/qcow2.c), which orders its writes for
 * crash safety and keeps the QEMU-compatible locks; data goes to the AIO ring (image_io.c). All of
 * it runs on the loop thread. */
static int open_qcow2(struct block_backend *b, const struct block_options *o, char *err, size_t errlen)
{
    int rc = image_open(&b->img, o->path, "qcow2", o->readonly ? 0 : IMAGE_RDWR, err, errlen);
    if (rc)
        return rc;
    b->size = b->img->size;
    b->align = 512;
    return image_io_open(b, o->cache, err, errlen);
}

int block_open(struct block_backend *b, const struct block_options *o, struct event_loop *loop, char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->fd = b->fd_buffered = b->efd = -1;
    b->path = strdup(o->path);
    b->readonly = o->readonly;
    b->loop = loop;
    int rc;
    if (wants_qcow2(o)) {
        rc = open_qcow2(b, o, err, errlen);
    } else {
        rc = open_image(b, o, err, errlen);
        if (rc == 0)
            rc = image_size(b, err, errlen);
        /* The same OFD locks QEMU takes: a second writer is refused, naming the holder. */
        if (rc == 0)
            rc = image_lock(b->fd_buffered, o->path, !o->readonly, err, errlen);
    }
    if (rc == 0 && (rc = -io_setup(BLK_AIO_DEPTH, &b->aio)) != 0)
        snprintf(err, errlen, "cannot set up Linux AIO for %s: %s (raise /proc/sys/fs/aio-max-nr)", o->path, strerror(-rc));
    if (rc == 0) {
        b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->efd < 0 || (loop && (loop_add(loop, b->efd, EPOLLIN, on_completion, b) < 0 ||
                                    loop_add_poller(loop, poll_completions, b) < 0))) {
            rc = -EIO;
            snprintf(err, errlen, "cannot watch AIO completions for %s", o->path);
        }
    }
    if (rc)
        block_close(b);
    return rc;
}

void block_close(struct block_backend *b)
{
    while (b->inflight > 0 && b->aio)
        block_reap(b);
    if (b->efd >= 0) {
        if (b->loop) {
            loop_remove(b->loop, b->efd);
            loop_remove_poller(b->loop, poll_completions, b);
        }
        close(b->efd);
    }
    if (b->aio)
        io_destroy(b->aio);
    image_io_close(b);
    if (b->img)
        image_close(b->img);
    if (b->fd >= 0 && b->fd != b->fd_buffered)
        close(b->fd);
    if (b->fd_buffered >= 0)
        close(b->fd_buffered);
    free(b->path);
    memset(b, 0, sizeof(*b));
    b->fd = b->fd_buffered = b->efd = -1;
}

/* O_DIRECT needs offset, length and every buffer aligned; guests normally comply. */
static bool direct_ok(const struct block_backend *b, const struct blk_io *io)
{
    uint64_t mask = b->align - 1;
    if ((io->offset | io->len) & mask)
        return false;
    for (int i = 0; i < io->iovcnt; i++)
        if (((uintptr_t)io->iov[i].iov_base | io->iov[i].iov_len) & mask)
            return false;
    return true;
}

static int64_t sync_rw(struct block_backend *b, struct blk_io *io)
{
    ssize_t n = io->op == BLK_READ ? preadv(b->fd_buffered, io->iov, io->iovcnt, (off_t)io->offset)
                                   : pwritev(b->fd_buffered, io->iov, io->iovcnt, (off_t)io->offset);
    if (n < 0)
        return -errno;
    return (uint64_t)n == io->len ? n : -EIO;
}

static int64_t do_sync_op(struct block_backend *b, struct blk_io *io)
{
    switch (io->op) {
    case BLK_FLUSH:
        if (b->readonly)
            return 0;
        return fdatasync(b->fd_buffered) < 0 ? -errno : 0;
    case BLK_DISCARD:
        if (fallocate(b->fd_buffered, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)io->offset, (off_t)io->len) < 0)
            return errno == EOPNOTSUPP ? 0 : -errno;   /* discard is a hint */
        return 0;
    case BLK_WRITE_ZEROES: {
        int mode = io->unmap ? (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) : FALLOC_FL_ZERO_RANGE;
        if (fallocate(b->fd_buffered, mode, (off_t)io->offset, (off_t)io->len) == 0)
            return 0;
        /* No fallocate support: write zeroes the long way. */
        static const uint8_t zeroes[65536];
        for (uint64_t done = 0; done < io->len;) {
            size_t chunk = io->len - done < sizeof(zeroes) ? (size_t)(io->len - done) : sizeof(zeroes);
            ssize_t n = pwrite(b->fd_buffered, zeroes, chunk, (off_t)(io->offset + done));
            if (n <= 0)
                return n < 0 ? -errno : -EIO;
            done += (uint64_t)n;
        }
        return 0;
    }
    default:
        return sync_rw(b, io);
    }
}

/* A qcow2 flush, discard or write-zeroes, carried out at once through the format engine. Flush:
 * deferred refcount drops, then fdatasync, so completed writes and their L2 entries are durable. */
static int64_t image_op(struct block_backend *b, struct blk_io *io)
{
    int rc = 0;
    switch (io->op) {
    case BLK_READ:
    case BLK_WRITE:
        return -EINVAL;
    case BLK_FLUSH:
        return b->readonly ? 0 : image_flush(b->img);
    case BLK_DISCARD:
    case BLK_WRITE_ZEROES:
        rc = qcow2_discard(b->img->qcow2, io->offset, io->len,
                           io->op == BLK_DISCARD || io->unmap ? QCOW2_DISCARD_UNMAP : QCOW2_DISCARD_ZERO);
        return rc < 0 ? rc : 0;
    }
    return -EINVAL;
}

/* Waits until no AIO request is in flight; completions are delivered without the batch hook (the
 * caller may hold the device lock, and the device notifies after its submission anyway). */
static void drain(struct block_backend *b)
{
    struct io_event events[64];
    while (b->inflight > 0) {
        int n = io_getevents(b->aio, 1, 64, events, NULL);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            break;
        deliver(b, events, n);
    }
}

static bool in_bounds(const struct block_backend *b, const struct blk_io *io)
{
    return io->offset <= b->size && io->len <= b->size - io->offset;
}

void block_submit_iocbs(struct block_backend *b, struct iocb **batch, int nb)
{
    int submitted = 0;
    while (submitted < nb) {
        int r = io_submit(b->aio, nb - submitted, batch + submitted);
        if (r == -EAGAIN || r == -EINTR)
            continue;
        if (r <= 0) {
            /* The kernel refused the rest: carry them out synchronously. */
            for (int i = submitted; i < nb; i++) {
                if (b->img) {
                    struct blk_sub *s = batch[i]->data;
                    image_io_piece_done(b, s, image_io_piece_sync(b, s, false));
                    continue;
                }
                struct blk_io *io = batch[i]->data;
                io->done(io, do_sync_op(b, io));
            }
            break;
        }
        submitted += r;
        b->inflight += r;
    }
}

void block_submit(struct block_backend *b, struct blk_io **ios, int n)
{
    struct iocb *batch[BLK_AIO_DEPTH];
    struct blk_io *sync_done[BLK_AIO_DEPTH], *started[BLK_AIO_DEPTH];
    int64_t sync_res[BLK_AIO_DEPTH];
    int nb = 0, ns = 0, nstarted = 0;
    for (int i = 0; i < n; i++) {
        struct blk_io *io = ios[i];
        int64_t res;
        if (io->op != BLK_FLUSH && !in_bounds(b, io))
            res = -EIO;
        else if ((io->op == BLK_WRITE || io->op == BLK_DISCARD || io->op == BLK_WRITE_ZEROES) && b->readonly)
            res = -EROFS;
        else if (b->img && (io->op == BLK_READ || io->op == BLK_WRITE)) {
            image_io_start(b, io, direct_ok(b, io), batch, &nb);
            started[nstarted++] = io;
            continue;
        } else if (b->img) {
            /* Discard and write-zeroes may write parts of clusters through the page cache: no
             * O_DIRECT request may be in flight on those pages meanwhile. */
            if (io->op != BLK_FLUSH)
                drain(b);
            res = image_op(b, io);
        }
        else if ((io->op == BLK_READ || io->op == BLK_WRITE) && nb < BLK_AIO_DEPTH - b->inflight &&
                 (!b->direct || direct_ok(b, io))) {
            if (io->op == BLK_READ)
                io_prep_preadv(&io->iocb, b->fd, io->iov, io->iovcnt, (long long)io->offset);
            else
                io_prep_pwritev(&io->iocb, b->fd, io->iov, io->iovcnt, (long long)io->offset);
            io_set_eventfd(&io->iocb, b->efd);
            io->iocb.data = io;
            batch[nb++] = &io->iocb;
            continue;
        } else {
            res = do_sync_op(b, io);
        }
        sync_done[ns] = io;
        sync_res[ns++] = res;
    }
    block_submit_iocbs(b, batch, nb);
    for (int i = 0; i < ns; i++)
        sync_done[i]->done(sync_done[i], sync_res[i]);
    for (int i = 0; i < nstarted; i++)
        image_io_release(started[i]);
}

/* The completion ring the kernel shares with us (fs/aio.c struct aio_ring): reading it directly
 * saves an io_getevents system call per batch, as fio's userspace_reap does. */
struct aio_ring {
    unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length;
    struct io_event events[];
};
#define AIO_RING_MAGIC 0xa10a10a1

static int reap_ring(struct block_backend *b, struct io_event *out, int max)
{
    struct aio_ring *ring = (struct aio_ring *)b->aio;
    if (ring->magic != AIO_RING_MAGIC || ring->incompat_features != 0)
        return -1;
    unsigned head = ring->head, tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE), nr = ring->nr;
    int n = 0;
    while (head != tail && n < max) {
        if (head >= nr)
            return -1;
        out[n++] = ring->events[head];
        head = (head + 1) % nr;
    }
    __atomic_store_n(&ring->head, head, __ATOMIC_RELEASE);
    return n;
}

static void deliver(struct block_backend *b, struct io_event *events, int n)
{
    b->inflight -= n;
    for (int i = 0; i < n; i++) {
        long res = (long)events[i].res;
        if (b->img) {
            image_io_piece_done(b, events[i].data, res);
            continue;
        }
        struct blk_io *io = events[i].data;
        int64_t r = res < 0 ? res : ((uint64_t)res == io->len ? res : -EIO);
        io->done(io, r);
    }
}

int block_reap(struct block_backend *b)
{
    uint64_t count = 0;
    if (read(b->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
        return -errno;
    struct io_event events[64];
    int total = 0;
    for (;;) {
        struct timespec zero = { 0, 0 };
        bool must_wait = b->inflight > 0 && total == 0 && count == 0;
        int n = must_wait ? -1 : reap_ring(b, events, 64);
        if (n < 0)
            n = io_getevents(b->aio, must_wait ? 1 : 0, 64, events, must_wait ? NULL : &zero);
        if (n == -EINTR)
            continue;
        if (n <= 0)
            break;
        deliver(b, events, n);
        total += n;
        if (n < 64)
            break;
    }
    if (total && b->batch_done)
        b->batch_done(b->batch_ctx);
    return total;
}
