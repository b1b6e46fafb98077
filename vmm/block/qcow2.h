/* qcow2 format engine (QEMU docs/interop/qcow2.txt, versions 2 and 3): header, L1/L2 mapping,
 * refcounts, crash-safe cluster allocation, compressed clusters, discard, resize and check. */
#ifndef VMM_BLOCK_QCOW2_H
#define VMM_BLOCK_QCOW2_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define QCOW2_L2_CACHE 32          /* L2 tables kept in memory (LRU) */
#define QCOW2_RB_CACHE 8           /* refcount blocks kept in memory (LRU) */
#define QCOW2_MAX_VIRTUAL_SIZE (64ULL << 40)
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_RT_BYTES (8u << 20)

/* Where a guest range lives. */
enum qcow2_ext_kind {
    QCOW2_DATA,        /* host_offset: bytes in the image file */
    QCOW2_ZERO,        /* reads as zeroes */
    QCOW2_BACKING,     /* unallocated: read the same guest offset from the backing image */
    QCOW2_COMPRESSED,  /* compressed cluster: read it with qcow2_read */
};

struct qcow2_extent {
    enum qcow2_ext_kind kind;
    uint64_t host_offset;      /* QCOW2_DATA only */
    uint64_t length;           /* bytes, never past the end of the guest cluster */
    uint32_t commit;           /* non-zero: a new cluster; call qcow2_map_done after the data write */
};

#define QCOW2_MAX_PENDING 256

/* A cluster allocated for writes still in flight: the L2 entry points at it once they are done. */
struct qcow2_pending {
    uint64_t vcluster;         /* guest offset of the cluster */
    uint64_t host;             /* host offset of the new cluster */
    uint32_t users, ok;        /* writes in flight, writes that succeeded */
    bool used;
};

struct qcow2_cache_slot {
    uint64_t offset;           /* host offset of the table; 0 = empty slot */
    uint64_t used;             /* LRU tick */
    uint8_t *data;             /* one cluster, on-disk (big-endian) layout */
};

struct qcow2 {
    int fd;                    /* not owned */
    char *path;
    bool readonly;
    bool sync;                 /* fdatasync between ordered metadata steps (off while building new files) */
    uint32_t version, cluster_bits, refcount_order, header_length;
    uint64_t cluster_size, size;
    uint64_t incompat, compat, autoclear;
    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1;              /* host byte order */
    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t rt_entries;
    uint64_t *rt;              /* refcount table, host byte order */
    uint64_t *refblocks;       /* sorted refcount block offsets (metadata overlap checks) */
    uint64_t nrefblocks;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    char *backing_file, *backing_format;
    uint8_t *other_exts;       /* header extensions kept verbatim on header rewrites */
    uint32_t other_exts_len;
    uint8_t *feature_table;    /* feature name table extension (48-byte entries) */
    uint32_t feature_table_len;
    uint64_t file_size;        /* bytes; allocation happens at the cluster after it */
    uint64_t l2_entries, rb_entries;
    struct qcow2_cache_slot l2c[QCOW2_L2_CACHE], rbc[QCOW2_RB_CACHE];
    uint64_t tick;
    uint64_t l2_reads;         /* L2 tables read from the file (cache misses) */
    /* Clusters whose refcount is already 1 on disk but not yet referenced. */
    uint64_t resv_next, resv_end;         /* a run at the end of the file */
    uint64_t resv_batch;                  /* clusters in the next run */
    uint64_t *reuse;                      /* freed clusters ready for reuse (refcount 0) */
    uint32_t nreuse;
    uint64_t *pending_free;               /* unreferenced, decremented after the next sync */
    uint32_t npending;
    uint64_t zcur, zend;                  /* packing cursor for compressed clusters */
    uint8_t *zbuf;                        /* last decompressed cluster */
    uint64_t zbuf_entry;
    bool has_backing;
    struct qcow2_pending pending[QCOW2_MAX_PENDING];
    /* Reads guest bytes from the backing image (zeroes past its end); NULL = zeroes. */
    int (*backing_read)(void *ctx, void *buf, uint64_t len, uint64_t offset);
    void *backing_ctx;
    char err[512];             /* last error message */
};

struct qcow2_create_opts {
    uint64_t size;
    uint32_t cluster_bits;     /* 0 = 16 (64 KiB) */
    uint32_t version;          /* 2 or 3; 0 = 3 */
    uint32_t refcount_order;   /* 0 = 4 (16-bit); version 2 always 4 */
    const char *backing_file, *backing_format;
};

struct qcow2_check_result {
    uint64_t leaks, corruptions;
    uint64_t allocated_clusters, total_clusters;   /* guest clusters */
    uint64_t image_end;
};

/* Parses and validates the image in fd (not taken over). On failure err names the file and problem. */
int qcow2_open(struct qcow2 **out, int fd, const char *path, bool readonly, char *err, size_t errlen);
/* Flushes, hands unused reserved clusters back, frees memory (the fd stays open). */
int qcow2_close(struct qcow2 *q);
/* Writes a new empty image into fd (truncated first). */
int qcow2_create(int fd, const struct qcow2_create_opts *o, char *err, size_t errlen);
/* Is this the first part of a qcow2 file? */
bool qcow2_probe(const uint8_t *buf, size_t len);

/* Maps [offset, offset+len) up to the end of its cluster. 0 or -errno (message in q->err).
 * write=true returns QCOW2_DATA. When the cluster was not yet writable in place, a new cluster is
 * allocated (its refcount durable first) and the rest of it filled with the old contents (backing
 * image, zeroes or compressed data); ext->commit is then non-zero and the caller must call
 * qcow2_map_done once its data write has completed: only then does the L2 table point at the new
 * cluster (data before metadata, so a crash leaves the old contents). Further writes to the same
 * cluster while that is pending get the same host cluster and their own commit. */
int qcow2_map(struct qcow2 *q, uint64_t offset, uint64_t len, bool write, struct qcow2_extent *ext);
/* qcow2_map for a write, except that a newly allocated cluster is not filled with the old contents:
 * *fill says whether the caller must write them (the guest cluster as it reads now, outside
 * [offset, offset+ext->length)) into the new cluster before its data write completes. Meanwhile
 * only reads of the guest cluster may go on (they see the old contents); writes must wait until
 * qcow2_map_done. */
int qcow2_map_write_nofill(struct qcow2 *q, uint64_t offset, uint64_t len, struct qcow2_extent *ext, bool *fill);
/* Completes a write that qcow2_map gave a commit: ok = the data write succeeded. */
int qcow2_map_done(struct qcow2 *q, const struct qcow2_extent *ext, bool ok);
/* Synchronous guest reads and writes (pread/pwrite). 0 or -errno. */
int qcow2_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t offset);
int qcow2_write(struct qcow2 *q, const void *buf, uint64_t len, uint64_t offset);
/* Writes one whole guest cluster compressed (falls back to a plain write if it does not shrink). */
int qcow2_write_compressed(struct qcow2 *q, const void *cluster, uint64_t offset);

enum qcow2_discard_mode {
    QCOW2_DISCARD_ZERO,        /* whole clusters read as zeroes afterwards (partial ones get zero bytes) */
    QCOW2_DISCARD_UNMAP,       /* whole clusters fall through to the backing image afterwards */
};
/* Frees whole clusters: the table entry changes first, the refcount drops after a sync. */
int qcow2_discard(struct qcow2 *q, uint64_t offset, uint64_t len, enum qcow2_discard_mode mode);
/* Makes everything written so far durable (deferred frees done, then fdatasync). */
int qcow2_flush(struct qcow2 *q);
/* Grows the virtual size (shrinking is refused). */
int qcow2_resize(struct qcow2 *q, uint64_t new_size);
/* Rewrites the header with a new backing file name and format (NULL = none). */
int qcow2_set_backing(struct qcow2 *q, const char *file, const char *format);
/* Counts references against refcounts; details go to log (may be NULL). 0 or -errno. */
int qcow2_check(struct qcow2 *q, struct qcow2_check_result *r, FILE *log);
/* Guest clusters allocated in this image (not in its backing chain). */
uint64_t qcow2_allocated_clusters(struct qcow2 *q);

#endif
