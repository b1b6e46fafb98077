/* Inside the block engine: how image requests (qcow2 and its backing chain) are split into pieces
 * that go to libaio beside raw requests. Only vmm/block/aio.c and vmm/block/image_io.c use this. */
#ifndef VMM_BLOCK_ENGINE_H
#define VMM_BLOCK_ENGINE_H

#include "vmm/block/block.h"
#include "vmm/block/image.h"

#define BLK_SUB_IOVS 32            /* guest buffer segments in one piece */
#define BLK_SUB_COMMITS 32         /* newly allocated clusters one piece writes */

#define BLK_COW_BYTES (8u << 20)    /* bounce buffers for copy-on-write, at most ... */
#define BLK_MAX_COWS 32             /* ... in this many clusters at once */

/* A write into a guest cluster that needs a new host cluster holding its old contents elsewhere:
 * the old contents are read (asynchronously, through the chain) into buf, then one iocb writes
 * buf's head, the guest's bytes and buf's tail into the new cluster, then qcow2_map_done links it.
 * Other writes to the cluster wait meanwhile (they would race with the old contents). */
struct blk_cow {
    struct block_backend *b;
    struct blk_io read;            /* the old contents of the whole guest cluster into buf */
    struct iovec buf_iov;
    uint8_t *buf;                  /* one cluster, page aligned */
    struct blk_io *writer;
    uint32_t commit;
    uint64_t vcluster, in_cluster, len;   /* the writer's bytes: [in_cluster, in_cluster+len) */
    uint64_t host;                 /* the new cluster */
    struct iovec data[BLK_SUB_IOVS - 2];
    int ndata;
    struct blk_io *waiters;        /* writes to the same cluster, resumed when it is linked */
    struct blk_cow *next_free;
    bool busy;
};

/* One iocb: a run of guest bytes that is contiguous in one file of the chain. */
struct blk_sub {
    struct iocb iocb;
    struct blk_io *parent;
    struct blk_sub *next_free;
    struct blk_cow *cow;           /* the copy-on-write this iocb finishes, or NULL */
    int level;                     /* index into block_backend.levels */
    int fd;                        /* the fd the iocb uses */
    uint64_t host, len;            /* file offset and bytes */
    int iovcnt, ncommits;
    struct iovec iov[BLK_SUB_IOVS];
    uint32_t commit[BLK_SUB_COMMITS];   /* qcow2_map commits to finish once the data is written */
};

/* One file of the chain. */
struct blk_level {
    struct image *img;
    int fd;                        /* data fd: O_DIRECT for cache=none where the file system allows */
    bool direct;
};

/* Sets up levels and the piece pool for b->img (already open). */
int image_io_open(struct block_backend *b, enum blk_cache cache, char *err, size_t errlen);
void image_io_close(struct block_backend *b);
/* Maps a read or write and queues its pieces into batch (at most BLK_AIO_DEPTH in all); what cannot
 * go asynchronously (zeroes, compressed clusters, a full pool) is done at once. `direct`: the
 * request's buffers suit O_DIRECT. The request holds a reference until image_io_release. */
void image_io_start(struct block_backend *b, struct blk_io *io, bool direct, struct iocb **batch, int *nb);
void image_io_release(struct blk_io *io);
/* Submits iocbs now (vmm/block/aio.c); what the kernel refuses is carried out synchronously. */
void block_submit_iocbs(struct block_backend *b, struct iocb **batch, int n);
/* A piece finished with `res` bytes or -errno. */
void image_io_piece_done(struct block_backend *b, struct blk_sub *s, int64_t res);
/* Carries a piece out synchronously (when the kernel refuses the iocb), on its own fd or buffered. */
int64_t image_io_piece_sync(struct block_backend *b, struct blk_sub *s, bool buffered);

#endif
