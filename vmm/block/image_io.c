/* qcow2 guest I/O on the libaio engine: a request is mapped cluster by cluster (qcow2_map) through
 * the backing chain, and each run of guest bytes that is contiguous in one file becomes one iocb
 * straight on the guest's buffers. Zero clusters are filled in memory, compressed clusters read
 * synchronously. Writes to newly allocated clusters finish with qcow2_map_done after their data is
 * written, so the L2 entry never points at a cluster before its data is there. A write that needs
 * the old contents of its cluster copied (a backing file, a compressed or shared cluster) reads them
 * asynchronously and writes them with the guest's bytes in one iocb; other writes to that cluster
 * wait for it. */
#define _GNU_SOURCE
#include "vmm/block/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum piece_kind { PIECE_DATA, PIECE_ZERO, PIECE_SYNC };

/* Where the next guest bytes of a request live. */
struct piece {
    enum piece_kind kind;
    int level;
    uint64_t host, len;
    uint32_t commit;
};

/* A position in a request's iovec. */
struct cursor {
    int i;
    size_t off;
};

int image_io_open(struct block_backend *b, enum blk_cache cache, char *err, size_t errlen)
{
    int n = 0;
    for (struct image *i = b->img; i; i = i->backing)
        n++;
    b->levels = calloc((size_t)n, sizeof(*b->levels));
    b->subs = calloc(BLK_AIO_DEPTH, sizeof(*b->subs));
    if (!b->levels || !b->subs) {
        snprintf(err, errlen, "out of memory for disk image %s", b->path);
        return -ENOMEM;
    }
    struct image *img = b->img;
    for (int l = 0; l < n; l++, img = img->backing) {
        struct blk_level *lv = &b->levels[l];
        lv->img = img;
        lv->fd = img->fd;
        /* A second open file for the data only; metadata stays on img->fd (buffered). Buffered writes
         * into a page while O_DIRECT I/O on it is in flight make the kernel fail the file's next
         * fdatasync, so a writable image whose clusters are smaller than a page (metadata and data
         * sharing pages) keeps its data in the page cache too. */
        bool small = img->format == IMAGE_QCOW2 && !img->readonly &&
                     img->qcow2->cluster_size < (uint64_t)sysconf(_SC_PAGESIZE);
        if (cache == BLK_CACHE_NONE && !small) {
            int fd = open(img->path, (img->readonly ? O_RDONLY : O_RDWR) | O_DIRECT | O_CLOEXEC);
            if (fd >= 0) {
                lv->fd = fd;
                lv->direct = true;
            }
        }
    }
    b->nlevels = n;
    b->direct = b->levels[0].direct;
    uint64_t cs = b->img->qcow2->cluster_size;
    int ncows = (int)(BLK_COW_BYTES / cs);
    ncows = ncows < 1 ? 1 : ncows > BLK_MAX_COWS ? BLK_MAX_COWS : ncows;
    if (!(b->cows = calloc((size_t)ncows, sizeof(*b->cows)))) {
        snprintf(err, errlen, "out of memory for disk image %s", b->path);
        return -ENOMEM;
    }
    for (int i = 0; i < ncows; i++) {
        void *buf;
        if (posix_memalign(&buf, 4096, cs)) {
            snprintf(err, errlen, "out of memory for disk image %s", b->path);
            return -ENOMEM;
        }
        b->cows[i] = (struct blk_cow){ .b = b, .buf = buf, .next_free = b->free_cows };
        b->free_cows = &b->cows[i];
        b->ncows++;
    }
    for (int i = BLK_AIO_DEPTH - 1; i >= 0; i--) {
        b->subs[i].next_free = b->free_subs;
        b->free_subs = &b->subs[i];
    }
    return 0;
}

void image_io_close(struct block_backend *b)
{
    for (int l = 0; l < b->nlevels; l++)
        if (b->levels[l].direct)
            close(b->levels[l].fd);
    for (int i = 0; i < b->ncows; i++)
        free(b->cows[i].buf);
    free(b->cows);
    free(b->levels);
    free(b->subs);
    b->levels = NULL;
    b->subs = b->free_subs = NULL;
    b->cows = b->free_cows = NULL;
    b->nlevels = b->ncows = 0;
}

/* ---- mapping through the chain ---- */

static int map_read(struct block_backend *b, uint64_t goff, uint64_t want, struct piece *p)
{
    for (int l = 0; l < b->nlevels; l++) {
        struct image *img = b->levels[l].img;
        if (goff >= img->size)
            break;                 /* past the end of a shorter backing file: zeroes */
        if (img->format == IMAGE_RAW) {
            p->level = l;
            p->host = goff;
            p->kind = want > img->size - goff ? PIECE_SYNC : PIECE_DATA;   /* a tail past its end */
            p->len = want;
            return 0;
        }
        struct qcow2_extent ext;
        int rc = qcow2_map(img->qcow2, goff, want, false, &ext);
        if (rc)
            return rc;
        want = p->len = ext.length;
        p->level = l;
        switch (ext.kind) {
        case QCOW2_DATA:
            p->kind = PIECE_DATA;
            p->host = ext.host_offset;
            return 0;
        case QCOW2_ZERO:
            p->kind = PIECE_ZERO;
            return 0;
        case QCOW2_COMPRESSED:
            p->kind = PIECE_SYNC;
            return 0;
        case QCOW2_BACKING:
            break;
        }
    }
    p->kind = PIECE_ZERO;
    p->len = want;
    return 0;
}

/* The next piece of [goff, goff+want): never past the end of a cluster of the top image. *fill:
 * a write that allocated a cluster whose old contents the caller must copy (only asked for while a
 * copy-on-write slot is free; otherwise the format engine copies them at once). */
static int map_piece(struct block_backend *b, bool write, uint64_t goff, uint64_t want, struct piece *p, bool *fill)
{
    p->commit = 0;
    *fill = false;
    if (!write)
        return map_read(b, goff, want, p);
    struct qcow2_extent ext;
    int rc = b->free_cows ? qcow2_map_write_nofill(b->img->qcow2, goff, want, &ext, fill)
                          : qcow2_map(b->img->qcow2, goff, want, true, &ext);
    if (rc)
        return rc;
    *p = (struct piece){ .kind = PIECE_DATA, .level = 0, .host = ext.host_offset, .len = ext.length,
                         .commit = ext.commit };
    return 0;
}

/* ---- the request's buffers ---- */

/* The next segment of at most *left bytes at the cursor; false at the end of the iovec. */
static bool next_seg(const struct blk_io *io, struct cursor *c, uint64_t left, uint8_t **p, size_t *n)
{
    while (c->i < io->iovcnt && c->off >= io->iov[c->i].iov_len) {
        c->i++;
        c->off = 0;
    }
    if (c->i >= io->iovcnt || !left)
        return false;
    size_t avail = io->iov[c->i].iov_len - c->off;
    *n = avail < left ? avail : (size_t)left;
    *p = (uint8_t *)io->iov[c->i].iov_base + c->off;
    c->off += *n;
    return true;
}

/* Up to `max` iovecs covering at most `len` bytes from the cursor; returns the bytes taken. */
static uint64_t take_iov(const struct blk_io *io, struct cursor *c, uint64_t len, struct iovec *out, int max,
                         int *count)
{
    uint64_t took = 0;
    uint8_t *p;
    size_t n;
    *count = 0;
    while (*count < max && next_seg(io, c, len - took, &p, &n)) {
        out[(*count)++] = (struct iovec){ p, n };
        took += n;
    }
    return took;
}

static struct cursor cursor_at(const struct blk_io *io, uint64_t off)
{
    struct cursor c = { 0, 0 };
    while (c.i < io->iovcnt && off >= io->iov[c.i].iov_len) {
        off -= io->iov[c.i].iov_len;
        c.i++;
    }
    c.off = (size_t)off;
    return c;
}


/* A piece carried out at once on the buffered fd: zeroes, compressed clusters, a full pool. */
static int piece_now(struct block_backend *b, struct blk_io *io, struct cursor *c, const struct piece *pc,
                     uint64_t goff, int fd)
{
    struct blk_level *lv = &b->levels[pc->level];
    uint64_t pos = 0;
    uint8_t *p;
    size_t n;
    int rc = 0;
    while (!rc && next_seg(io, c, pc->len - pos, &p, &n)) {
        if (pc->kind == PIECE_ZERO)
            memset(p, 0, n);
        else if (pc->kind == PIECE_SYNC)
            rc = image_read(lv->img, p, n, goff + pos);
        else
            rc = image_rw_full(fd, p, n, pc->host + pos, io->op == BLK_WRITE);
        pos += n;
    }
    if (pc->commit) {
        struct qcow2_extent ext = { .commit = pc->commit };
        int done = qcow2_map_done(b->img->qcow2, &ext, rc == 0);
        rc = rc ? rc : done;
    }
    return rc;
}

/* ---- pieces ---- */

static void fail_io(struct blk_io *io, int64_t rc)
{
    if (!io->error)
        io->error = rc < 0 ? rc : -EIO;
}

void image_io_release(struct blk_io *io)
{
    if (--io->pending == 0)
        io->done(io, io->error ? io->error : (int64_t)io->len);
}

static void queue_sub(struct block_backend *b, struct blk_sub *s, struct iocb **batch, int *nb)
{
    if (s->parent->op == BLK_READ)
        io_prep_preadv(&s->iocb, s->fd, s->iov, s->iovcnt, (long long)s->host);
    else
        io_prep_pwritev(&s->iocb, s->fd, s->iov, s->iovcnt, (long long)s->host);
    io_set_eventfd(&s->iocb, b->efd);
    s->iocb.data = s;
    batch[(*nb)++] = &s->iocb;
}

static bool extends(const struct blk_sub *s, const struct piece *pc, int fd)
{
    return s->level == pc->level && s->fd == fd && s->host + s->len == pc->host && s->iovcnt < BLK_SUB_IOVS &&
           (!pc->commit || s->ncommits < BLK_SUB_COMMITS);
}

/* Adds a data piece to the open iocb or a new one; returns the bytes taken (the rest of the piece,
 * if the iocb ran out of segments, is mapped again). */
static uint64_t add_data(struct block_backend *b, struct blk_io *io, struct cursor *c, const struct piece *pc,
                         uint64_t goff, bool direct, struct blk_sub **open, struct iocb **batch, int *nb)
{
    struct blk_level *lv = &b->levels[pc->level];
    int fd = direct && lv->direct ? lv->fd : lv->img->fd;
    if (*open && !extends(*open, pc, fd)) {
        queue_sub(b, *open, batch, nb);
        *open = NULL;
    }
    struct blk_sub *s = *open;
    if (!s) {
        if (!(s = b->free_subs)) {
            int rc = piece_now(b, io, c, pc, goff, fd);
            if (rc)
                fail_io(io, rc);
            return pc->len;
        }
        b->free_subs = s->next_free;
        s->parent = io;               /* field by field: the iovec and commit arrays need no clearing */
        s->level = pc->level;
        s->fd = fd;
        s->host = pc->host;
        s->len = 0;
        s->iovcnt = s->ncommits = 0;
        s->cow = NULL;
        io->pending++;
        *open = s;
    }
    int cnt;
    uint64_t took = take_iov(io, c, pc->len, s->iov + s->iovcnt, BLK_SUB_IOVS - s->iovcnt, &cnt);
    s->iovcnt += cnt;
    s->len += took;
    if (pc->commit)
        s->commit[s->ncommits++] = pc->commit;
    if (s->iovcnt == BLK_SUB_IOVS) {
        queue_sub(b, s, batch, nb);
        *open = NULL;
    }
    return took;
}

/* ---- copy-on-write ---- */

static struct blk_cow *busy_cow(struct block_backend *b, uint64_t goff)
{
    uint64_t vcluster = goff & ~(b->img->qcow2->cluster_size - 1);
    for (int i = 0; i < b->ncows; i++)
        if (b->cows[i].busy && b->cows[i].vcluster == vcluster)
            return &b->cows[i];
    return NULL;
}

static void process(struct block_backend *b, struct blk_io *io, uint64_t from, struct iocb **batch, int *nb);

/* The cluster is linked (or the copy failed): the writes that waited go on from where they stopped. */
static void cow_end(struct block_backend *b, struct blk_cow *cow)
{
    struct blk_io *w = cow->waiters;
    cow->waiters = NULL;
    cow->busy = false;
    cow->next_free = b->free_cows;
    b->free_cows = cow;
    while (w) {
        struct blk_io *next = w->next_wait;
        struct iocb *batch[BLK_AIO_DEPTH];
        int nb = 0;
        process(b, w, w->resume, batch, &nb);
        block_submit_iocbs(b, batch, nb);
        image_io_release(w);          /* the reference it held while waiting */
        w = next;
    }
}

/* The old contents are in buf: one iocb writes head, the guest's bytes and tail. */
static void cow_read_done(struct blk_io *read, int64_t res)
{
    struct blk_cow *cow = read->ctx;
    struct block_backend *b = cow->b;
    uint64_t cs = b->img->qcow2->cluster_size;
    struct blk_sub *s = res < 0 ? NULL : b->free_subs;
    if (!s) {                          /* failed, or no iocb to be had: write it now */
        int rc = res < 0 ? (int)res : 0;
        struct blk_level *lv = &b->levels[0];
        int fd = cow->writer->direct && lv->direct ? lv->fd : lv->img->fd;
        if (!rc && cow->in_cluster)
            rc = image_rw_full(fd, cow->buf, cow->in_cluster, cow->host, true);
        for (int i = 0, pos = 0; !rc && i < cow->ndata; pos += (int)cow->data[i].iov_len, i++)
            rc = image_rw_full(fd, cow->data[i].iov_base, cow->data[i].iov_len, cow->host + cow->in_cluster + (uint64_t)pos,
                         true);
        uint64_t tail = cow->in_cluster + cow->len;
        if (!rc && tail < cs)
            rc = image_rw_full(fd, cow->buf + tail, cs - tail, cow->host + tail, true);
        struct qcow2_extent ext = { .commit = cow->commit };
        int done = qcow2_map_done(b->img->qcow2, &ext, rc == 0);
        if (rc || done)
            fail_io(cow->writer, rc ? rc : done);
        struct blk_io *writer = cow->writer;
        cow_end(b, cow);
        image_io_release(writer);
        return;
    }
    b->free_subs = s->next_free;
    struct blk_level *lv = &b->levels[0];
    *s = (struct blk_sub){ .parent = cow->writer, .cow = cow, .level = 0, .host = cow->host, .len = cs,
                           .fd = cow->writer->direct && lv->direct ? lv->fd : lv->img->fd, .ncommits = 1 };
    s->commit[0] = cow->commit;
    if (cow->in_cluster)
        s->iov[s->iovcnt++] = (struct iovec){ cow->buf, cow->in_cluster };
    for (int i = 0; i < cow->ndata; i++)
        s->iov[s->iovcnt++] = cow->data[i];
    uint64_t tail = cow->in_cluster + cow->len;
    if (tail < cs)
        s->iov[s->iovcnt++] = (struct iovec){ cow->buf + tail, cs - tail };
    io_prep_pwritev(&s->iocb, s->fd, s->iov, s->iovcnt, (long long)s->host);
    io_set_eventfd(&s->iocb, b->efd);
    s->iocb.data = s;
    struct iocb *one = &s->iocb;
    block_submit_iocbs(b, &one, 1);
}

/* A write piece that allocated a cluster needing its old contents: takes the guest's bytes (as many
 * segments as fit) and starts reading the old contents; returns the bytes taken. */
static uint64_t start_cow(struct block_backend *b, struct blk_io *io, struct cursor *c, const struct piece *pc,
                          uint64_t goff, struct iocb **batch, int *nb)
{
    uint64_t cs = b->img->qcow2->cluster_size;
    struct blk_cow *cow = b->free_cows;
    b->free_cows = cow->next_free;
    cow->busy = true;
    cow->writer = io;
    io->pending++;
    cow->commit = pc->commit;
    cow->vcluster = goff & ~(cs - 1);
    cow->in_cluster = goff - cow->vcluster;
    cow->host = pc->host - cow->in_cluster;
    cow->len = take_iov(io, c, pc->len, cow->data, BLK_SUB_IOVS - 2, &cow->ndata);
    uint64_t span = b->size - cow->vcluster < cs ? b->size - cow->vcluster : cs;
    memset(cow->buf + span, 0, cs - span);
    cow->buf_iov = (struct iovec){ cow->buf, span };
    cow->read = (struct blk_io){ .op = BLK_READ, .offset = cow->vcluster, .len = span, .iov = &cow->buf_iov,
                                 .iovcnt = 1, .done = cow_read_done, .ctx = cow };
    image_io_start(b, &cow->read, true, batch, nb);
    image_io_release(&cow->read);
    return cow->len;
}

/* ---- requests ---- */

/* Maps and queues the request from byte `from` on; stops early to wait for a cluster in copy. */
static void process(struct block_backend *b, struct blk_io *io, uint64_t from, struct iocb **batch, int *nb)
{
    bool write = io->op == BLK_WRITE;
    struct cursor c = cursor_at(io, from);
    struct blk_sub *open = NULL;
    for (uint64_t done = from; done < io->len;) {
        struct piece pc = { .kind = PIECE_ZERO };
        uint64_t goff = io->offset + done;
        struct blk_cow *busy = write ? busy_cow(b, goff) : NULL;
        if (busy) {                    /* wait until that cluster is linked, then go on from here */
            io->resume = done;
            io->pending++;
            io->next_wait = busy->waiters;
            busy->waiters = io;
            break;
        }
        bool fill;
        int rc = map_piece(b, write, goff, io->len - done, &pc, &fill);
        if (rc) {
            fail_io(io, rc);
            break;
        }
        uint64_t took = pc.len;
        if (fill)
            took = start_cow(b, io, &c, &pc, goff, batch, nb);
        else if (pc.kind == PIECE_DATA)
            took = add_data(b, io, &c, &pc, goff, io->direct, &open, batch, nb);
        else if ((rc = piece_now(b, io, &c, &pc, goff, -1)))
            fail_io(io, rc);
        if (!took) {               /* the iovec is shorter than io->len */
            fail_io(io, -EIO);
            break;
        }
        done += took;
    }
    if (open)
        queue_sub(b, open, batch, nb);
}

void image_io_start(struct block_backend *b, struct blk_io *io, bool direct, struct iocb **batch, int *nb)
{
    io->pending = 1;
    io->error = 0;
    io->direct = direct;
    io->next_wait = NULL;
    process(b, io, 0, batch, nb);
}

int64_t image_io_piece_sync(struct block_backend *b, struct blk_sub *s, bool buffered)
{
    int fd = buffered ? b->levels[s->level].img->fd : s->fd;
    uint64_t pos = 0;
    for (int i = 0; i < s->iovcnt; i++) {
        int rc = image_rw_full(fd, s->iov[i].iov_base, s->iov[i].iov_len, s->host + pos, s->parent->op == BLK_WRITE);
        if (rc)
            return rc;
        pos += s->iov[i].iov_len;
    }
    return (int64_t)s->len;
}

void image_io_piece_done(struct block_backend *b, struct blk_sub *s, int64_t res)
{
    struct blk_io *io = s->parent;
    /* A short read ends at the end of the file (a last cluster written only in part): zeroes. */
    if (res >= 0 && res < (int64_t)s->len && io->op == BLK_READ)
        res = image_io_piece_sync(b, s, true);
    bool ok = res == (int64_t)s->len;
    for (int i = 0; i < s->ncommits; i++) {
        struct qcow2_extent ext = { .commit = s->commit[i] };
        int rc = qcow2_map_done(b->img->qcow2, &ext, ok);
        if (rc)
            fail_io(io, rc);
    }
    if (!ok)
        fail_io(io, res);
    struct blk_cow *cow = s->cow;
    s->next_free = b->free_subs;
    b->free_subs = s;
    if (cow)
        cow_end(b, cow);
    image_io_release(io);
}
