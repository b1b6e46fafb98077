/* Disk image backends behind one interface: asynchronous reads and writes straight from and into
 * guest buffers (no copy), flush, discard and write-zeroes; completions arrive on the event loop. */
#ifndef VMM_BLOCK_BLOCK_H
#define VMM_BLOCK_BLOCK_H

#include <libaio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/loop.h"

enum blk_op { BLK_READ, BLK_WRITE, BLK_FLUSH, BLK_DISCARD, BLK_WRITE_ZEROES };
enum blk_cache { BLK_CACHE_NONE, BLK_CACHE_WRITEBACK };

#define BLK_AIO_DEPTH 512

/* One request. The caller owns it until `done` runs (on the event-loop thread). */
struct blk_io {
    enum blk_op op;
    uint64_t offset, len;          /* bytes; len is the iovec total for reads and writes */
    struct iovec *iov;
    int iovcnt;
    bool unmap;                    /* write-zeroes may deallocate */
    void (*done)(struct blk_io *io, int64_t result);   /* bytes done or -errno */
    void *ctx;
    struct iocb iocb;              /* engine private from here on */
    int pending;                   /* image requests: pieces in flight, +1 while being submitted */
    int64_t error;                 /* image requests: first failure of a piece */
    bool direct;                   /* image requests: buffers fit O_DIRECT */
    uint64_t resume;               /* image requests: bytes done before waiting for a cluster */
    struct blk_io *next_wait;
};

struct block_options {
    const char *path;
    bool readonly;
    enum blk_cache cache;
    const char *format;            /* "raw", "qcow2", or NULL to recognise a qcow2 header */
};

struct image;
struct blk_sub;
struct blk_level;
struct blk_cow;

struct block_backend {
    char *path;
    int fd;                        /* O_DIRECT for cache=none */
    int fd_buffered;               /* for requests O_DIRECT cannot take (unaligned guest buffers) */
    uint64_t size;                 /* bytes */
    bool readonly, direct;
    uint32_t align;                /* O_DIRECT alignment of offsets, lengths and buffers */
    io_context_t aio;
    int efd;                       /* completion eventfd, watched by the loop */
    int inflight;
    struct event_loop *loop;
    struct image *img;             /* a qcow2 image (vmm/block/image.h); NULL for raw files */
    struct blk_level *levels;      /* qcow2: the chain, top image first, with its data fds */
    int nlevels;
    struct blk_sub *subs, *free_subs;   /* qcow2: the pieces requests are split into (engine.h) */
    struct blk_cow *cows, *free_cows;   /* qcow2: copy-on-write of new clusters in progress */
    int ncows;
    void (*batch_done)(void *ctx);  /* after a batch of completions: one interrupt, not one each */
    void *batch_ctx;
};

/* Opens the image; on failure writes a one-line message (naming the file and the fix) into err. */
int block_open(struct block_backend *b, const struct block_options *o, struct event_loop *loop,
               char *err, size_t errlen);
void block_close(struct block_backend *b);
/* Submits requests: reads and writes as one io_submit; the rest carried out at once.
 * Each request completes through its `done` callback, never before block_submit returns. */
void block_submit(struct block_backend *b, struct blk_io **ios, int n);
/* Reaps completions (the loop calls this when the eventfd fires; tests may call it directly). */
int block_reap(struct block_backend *b);

#endif
