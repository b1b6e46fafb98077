/* qcow2 format engine (QEMU docs/interop/qcow2.txt, versions 2 and 3): header parsing and
 * validation, L1/L2 lookup with an LRU table cache, refcounts, allocation in crash-safe order
 * (refcount durable -> data -> L2 entry -> L1 entry; table entry cleared -> sync -> refcount drop). */
#define _GNU_SOURCE
#include "vmm/block/qcow2.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define QCOW2_MAGIC 0x514649fbu
#define OFFSET_MASK 0x00fffffffffffe00ULL     /* bits 9-55 of L1 and standard L2 entries */
#define OFLAG_COPIED (1ULL << 63)
#define OFLAG_COMPRESSED (1ULL << 62)
#define OFLAG_ZERO 1ULL
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_TABLE 0x6803f857u
#define INCOMPAT_DIRTY 1ULL
#define INCOMPAT_CORRUPT 2ULL
#define INCOMPAT_COMPRESSION 8ULL
#define RESERVE_BATCH 16                 /* clusters reserved at once at first ... */
#define RESERVE_MAX_BYTES (8ULL << 20)   /* ... doubling up to this much while allocation goes on */
#define REUSE_MAX 4096
#define PENDING_MAX 1024

static const char *const incompat_names[] = { "dirty", "corrupt", "external data file", "compression type",
                                              "extended L2 entries" };

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return be32toh(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return be64toh(v); }
static void put32(uint8_t *p, uint32_t v) { v = htobe32(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = htobe64(v); memcpy(p, &v, 8); }

__attribute__((format(printf, 3, 4)))
static int fail(struct qcow2 *q, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(q->err, sizeof(q->err), "%s: ", q->path ? q->path : "qcow2");
    if (n > 0 && (size_t)n < sizeof(q->err))
        vsnprintf(q->err + n, sizeof(q->err) - (size_t)n, fmt, ap);
    va_end(ap);
    return rc;
}

/* Whole reads and writes; bytes past the end of the file read as zeroes. */
static int pread_full(int fd, void *buf, uint64_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) {
            memset(p, 0, len);
            return 0;
        }
        p += n, off += (uint64_t)n, len -= (uint64_t)n;
    }
    return 0;
}

static int pwrite_full(int fd, const void *buf, uint64_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n, off += (uint64_t)n, len -= (uint64_t)n;
    }
    return 0;
}

static int qsync(struct qcow2 *q)
{
    if (q->sync && fdatasync(q->fd) < 0)
        return fail(q, -errno, "fdatasync failed: %s", strerror(errno));
    return 0;
}

static int qwrite(struct qcow2 *q, const void *buf, uint64_t len, uint64_t off)
{
    int rc = pwrite_full(q->fd, buf, len, off);
    if (rc)
        return fail(q, rc, "write of %llu bytes at %llu failed: %s", (unsigned long long)len,
                    (unsigned long long)off, strerror(-rc));
    if (off + len > q->file_size)
        q->file_size = off + len;
    return 0;
}

static uint64_t div_up(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static uint64_t eof_cluster(const struct qcow2 *q) { return div_up(q->file_size, q->cluster_size); }

/* ---- metadata overlap checks: every offset read from the file is checked before use ---- */

static bool in_range(uint64_t off, uint64_t len, uint64_t start, uint64_t size)
{
    return off < start + size && start < off + len;
}

static bool is_refblock(const struct qcow2 *q, uint64_t off)
{
    uint64_t lo = 0, hi = q->nrefblocks;
    while (lo < hi) {
        uint64_t mid = (lo + hi) / 2;
        if (q->refblocks[mid] == off)
            return true;
        if (q->refblocks[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* A cluster that a table points at: aligned, inside the file, not the header or another table. */
static int check_cluster(struct qcow2 *q, uint64_t off, const char *what)
{
    uint64_t cs = q->cluster_size;
    if (off & (cs - 1))
        return fail(q, -EIO, "corrupt image: %s offset %#llx is not cluster aligned", what, (unsigned long long)off);
    if (off >= q->file_size)
        return fail(q, -EIO, "corrupt image: %s offset %#llx is past the end of the file (%llu bytes)", what,
                    (unsigned long long)off, (unsigned long long)q->file_size);
    if (off < cs || in_range(off, cs, q->l1_offset, (uint64_t)q->l1_size * 8) ||
        in_range(off, cs, q->rt_offset, (uint64_t)q->rt_clusters * cs) || is_refblock(q, off))
        return fail(q, -EIO, "corrupt image: %s offset %#llx points into image metadata", what, (unsigned long long)off);
    return 0;
}

static void refblocks_rebuild(struct qcow2 *q)
{
    free(q->refblocks);
    q->refblocks = malloc((q->rt_entries + 1) * sizeof(uint64_t));
    q->nrefblocks = 0;
    if (!q->refblocks)
        return;
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        uint64_t off = q->rt[i] & ~511ULL;
        if (off)
            q->refblocks[q->nrefblocks++] = off;
    }
    for (uint64_t i = 1; i < q->nrefblocks; i++)     /* insertion sort: tables are nearly sorted */
        for (uint64_t j = i; j > 0 && q->refblocks[j - 1] > q->refblocks[j]; j--) {
            uint64_t t = q->refblocks[j];
            q->refblocks[j] = q->refblocks[j - 1];
            q->refblocks[j - 1] = t;
        }
}

/* ---- table caches (L2 tables and refcount blocks), LRU ---- */

static struct qcow2_cache_slot *cache_find(struct qcow2 *q, struct qcow2_cache_slot *slots, int n, uint64_t off)
{
    for (int i = 0; i < n; i++)
        if (slots[i].offset == off) {
            slots[i].used = ++q->tick;
            return &slots[i];
        }
    return NULL;
}

static int cache_load(struct qcow2 *q, struct qcow2_cache_slot *slots, int n, uint64_t off, uint8_t **data)
{
    struct qcow2_cache_slot *s = cache_find(q, slots, n, off);
    if (!s) {
        s = &slots[0];
        for (int i = 1; i < n; i++)
            if (slots[i].used < s->used)
                s = &slots[i];
        if (!s->data && !(s->data = malloc(q->cluster_size)))
            return fail(q, -ENOMEM, "out of memory");
        s->offset = 0;
        int rc = pread_full(q->fd, s->data, q->cluster_size, off);
        if (rc)
            return fail(q, rc, "read of a table at %#llx failed: %s", (unsigned long long)off, strerror(-rc));
        s->offset = off;
        s->used = ++q->tick;
        if (slots == q->l2c)
            q->l2_reads++;
    }
    *data = s->data;
    return 0;
}

static void cache_drop(struct qcow2_cache_slot *slots, int n, uint64_t off)
{
    for (int i = 0; i < n; i++)
        if (slots[i].offset == off)
            slots[i].offset = 0;
}

/* ---- refcounts (section "Host cluster management") ---- */

static uint64_t rb_get(const struct qcow2 *q, const uint8_t *block, uint64_t i)
{
    uint32_t bits = 1u << q->refcount_order;
    if (bits >= 8) {
        const uint8_t *p = block + i * (bits / 8);
        uint64_t v = 0;
        for (uint32_t b = 0; b < bits / 8; b++)
            v = v << 8 | p[b];
        return v;
    }
    return (block[i * bits / 8] >> ((i * bits) % 8)) & ((1u << bits) - 1);
}

/* Sets entry i; returns the byte range touched for a write-through. */
static void rb_set(const struct qcow2 *q, uint8_t *block, uint64_t i, uint64_t v, uint64_t *at, uint64_t *len)
{
    uint32_t bits = 1u << q->refcount_order;
    if (bits >= 8) {
        uint8_t *p = block + i * (bits / 8);
        for (uint32_t b = bits / 8; b-- > 0; v >>= 8)
            p[b] = (uint8_t)v;
        *at = i * (bits / 8), *len = bits / 8;
        return;
    }
    uint32_t shift = (uint32_t)((i * bits) % 8), mask = ((1u << bits) - 1) << shift;
    uint8_t *p = &block[i * bits / 8];
    *p = (uint8_t)((*p & ~mask) | ((v << shift) & mask));
    *at = i * bits / 8, *len = 1;
}

static uint64_t refcount_max(const struct qcow2 *q)
{
    return q->refcount_order == 6 ? UINT64_MAX : (1ULL << (1u << q->refcount_order)) - 1;
}

static int refblock_of(struct qcow2 *q, uint64_t cluster, uint64_t *off)
{
    uint64_t ri = cluster / q->rb_entries;
    *off = ri < q->rt_entries ? q->rt[ri] & ~511ULL : 0;
    if (!*off)
        return 0;
    if ((*off & (q->cluster_size - 1)) || *off >= q->file_size || *off < q->cluster_size)
        return fail(q, -EIO, "corrupt image: refcount block offset %#llx is invalid", (unsigned long long)*off);
    return 0;
}

static int rc_get(struct qcow2 *q, uint64_t cluster, uint64_t *val)
{
    uint64_t off;
    int rc = refblock_of(q, cluster, &off);
    *val = 0;
    if (rc || !off)
        return rc;
    uint8_t *block;
    if ((rc = cache_load(q, q->rbc, QCOW2_RB_CACHE, off, &block)))
        return rc;
    *val = rb_get(q, block, cluster % q->rb_entries);
    return 0;
}

static int refblock_create(struct qcow2 *q, uint64_t ri);

static int rc_set(struct qcow2 *q, uint64_t cluster, uint64_t val)
{
    uint64_t off;
    int rc = refblock_of(q, cluster, &off);
    if (rc)
        return rc;
    if (!off) {
        if ((rc = refblock_create(q, cluster / q->rb_entries)))
            return rc;
        if ((rc = refblock_of(q, cluster, &off)))
            return rc;
    }
    uint8_t *block;
    if ((rc = cache_load(q, q->rbc, QCOW2_RB_CACHE, off, &block)))
        return rc;
    uint64_t at, len;
    rb_set(q, block, cluster % q->rb_entries, val, &at, &len);
    return qwrite(q, block + at, len, off + at);
}

static int rc_add(struct qcow2 *q, uint64_t cluster, int delta)
{
    uint64_t v;
    int rc = rc_get(q, cluster, &v);
    if (rc)
        return rc;
    if (delta < 0 && v == 0)
        return fail(q, -EIO, "corrupt image: refcount of cluster %llu would drop below zero", (unsigned long long)cluster);
    if (delta > 0 && v == refcount_max(q))
        return fail(q, -ERANGE, "refcount of cluster %llu overflows", (unsigned long long)cluster);
    return rc_set(q, cluster, delta > 0 ? v + 1 : v - 1);
}

/* Sets the refcount of clusters [first, first+n) to val, one write per refcount block touched.
 * The blocks must exist. */
static int rc_set_run(struct qcow2 *q, uint64_t first, uint64_t n, uint64_t val)
{
    while (n) {
        uint64_t off, in_block = first % q->rb_entries, take = q->rb_entries - in_block;
        if (take > n)
            take = n;
        int rc = refblock_of(q, first, &off);
        if (!rc && !off)
            rc = fail(q, -EIO, "no refcount block for cluster %llu", (unsigned long long)first);
        uint8_t *block;
        if (rc || (rc = cache_load(q, q->rbc, QCOW2_RB_CACHE, off, &block)))
            return rc;
        uint64_t lo = UINT64_MAX, hi = 0;
        for (uint64_t i = in_block; i < in_block + take; i++) {
            uint64_t at, len;
            rb_set(q, block, i, val, &at, &len);
            lo = at < lo ? at : lo;
            hi = at + len > hi ? at + len : hi;
        }
        if ((rc = qwrite(q, block + lo, hi - lo, off + lo)))
            return rc;
        first += take;
        n -= take;
    }
    return 0;
}

static int extend_file(struct qcow2 *q, uint64_t end)
{
    if (end <= q->file_size)
        return 0;
    if (ftruncate(q->fd, (off_t)end) < 0)
        return fail(q, -errno, "cannot extend the file: %s", strerror(errno));
    q->file_size = end;
    return 0;
}

static int rt_write_entry(struct qcow2 *q, uint64_t ri)
{
    uint8_t e[8];
    put64(e, q->rt[ri]);
    return qwrite(q, e, 8, q->rt_offset + ri * 8);
}

static int rt_grow(struct qcow2 *q, uint64_t min_entries);

/* Creates the refcount block for range ri at the end of the file. A block that covers itself
 * counts itself; otherwise its own cluster is counted in an existing block first. */
static int refblock_create(struct qcow2 *q, uint64_t ri)
{
    int rc;
    if (ri >= q->rt_entries && (rc = rt_grow(q, ri + 1)))
        return rc;
    for (;;) {
        uint64_t e = eof_cluster(q), er = e / q->rb_entries;
        if (er != ri && (er >= q->rt_entries || !(q->rt[er] & ~511ULL))) {
            if ((rc = refblock_create(q, er)))
                return rc;
            continue;
        }
        uint8_t *block = calloc(1, q->cluster_size);
        if (!block)
            return fail(q, -ENOMEM, "out of memory");
        uint64_t at, len;
        if (er == ri)
            rb_set(q, block, e % q->rb_entries, 1, &at, &len);
        rc = extend_file(q, (e + 1) * q->cluster_size);
        if (!rc && er != ri)
            rc = rc_set(q, e, 1);
        if (!rc)
            rc = qwrite(q, block, q->cluster_size, e * q->cluster_size);
        free(block);
        if (!rc)
            rc = qsync(q);
        if (rc)
            return rc;
        q->rt[ri] = e * q->cluster_size;
        refblocks_rebuild(q);
        if ((rc = rt_write_entry(q, ri)))
            return rc;
        return qsync(q);
    }
}

/* Moves the refcount table to a larger one at the end of the file. The new table and any refcount
 * blocks it needs are written (covering themselves), then the header switches over, then the old
 * table's clusters are freed. */
static int rt_grow(struct qcow2 *q, uint64_t min_entries)
{
    uint64_t cs = q->cluster_size, rbe = q->rb_entries, per_cluster = cs / 8;
    uint64_t entries = q->rt_entries * 2 > min_entries ? q->rt_entries * 2 : min_entries;
    uint64_t start = eof_cluster(q), nclusters, nblocks = 0, total;
    for (;;) {
        nclusters = div_up(entries, per_cluster);
        for (;;) {
            total = nclusters + nblocks;
            uint64_t need = 0;
            for (uint64_t r = start / rbe; r <= (start + total - 1) / rbe; r++)
                if (r >= q->rt_entries || !(q->rt[r] & ~511ULL))
                    need++;
            if (need == nblocks)
                break;
            nblocks = need;
        }
        if ((start + total - 1) / rbe < entries)
            break;
        entries = (start + total - 1) / rbe + 1;
    }
    entries = nclusters * per_cluster;
    if (nclusters * cs > QCOW2_MAX_RT_BYTES)
        return fail(q, -EFBIG, "the refcount table would exceed %u MiB", QCOW2_MAX_RT_BYTES >> 20);
    uint64_t *table = calloc(entries, 8);
    uint8_t *buf = calloc(1, cs);
    int rc = table && buf ? 0 : fail(q, -ENOMEM, "out of memory");
    if (!rc) {
        memcpy(table, q->rt, q->rt_entries * 8);
        rc = extend_file(q, (start + total) * cs);
    }
    /* New refcount blocks after the table, each counting the new clusters in its range. */
    uint64_t next_block = start + nclusters;
    for (uint64_t r = start / rbe; !rc && r <= (start + total - 1) / rbe; r++) {
        bool exists = r < q->rt_entries && (q->rt[r] & ~511ULL);
        uint64_t lo = r * rbe > start ? r * rbe : start, hi = (r + 1) * rbe < start + total ? (r + 1) * rbe : start + total;
        if (exists) {
            for (uint64_t c = lo; !rc && c < hi; c++)
                rc = rc_set(q, c, 1);
            continue;
        }
        memset(buf, 0, cs);
        for (uint64_t c = lo; c < hi; c++) {
            uint64_t at, len;
            rb_set(q, buf, c % rbe, 1, &at, &len);
        }
        table[r] = next_block * cs;
        rc = qwrite(q, buf, cs, next_block * cs);
        next_block++;
    }
    for (uint64_t i = 0; !rc && i < nclusters; i++) {
        for (uint64_t j = 0; j < per_cluster; j++)
            put64(buf + j * 8, table[i * per_cluster + j]);
        rc = qwrite(q, buf, cs, (start + i) * cs);
    }
    if (!rc)
        rc = qsync(q);
    if (!rc) {
        uint8_t hdr[12];
        put64(hdr, start * cs);
        put32(hdr + 8, (uint32_t)nclusters);
        rc = qwrite(q, hdr, 12, 48);
    }
    if (!rc)
        rc = qsync(q);
    free(buf);
    if (rc) {
        free(table);
        return rc;
    }
    uint64_t old_off = q->rt_offset, old_clusters = q->rt_clusters;
    free(q->rt);
    q->rt = table;
    q->rt_entries = entries;
    q->rt_offset = start * cs;
    q->rt_clusters = (uint32_t)nclusters;
    refblocks_rebuild(q);
    for (uint64_t i = 0; !rc && i < old_clusters; i++)
        rc = rc_add(q, old_off / cs + i, -1);
    return rc;
}

/* Allocates n contiguous clusters at the end of the file with refcount 1, durable on return. */
static int alloc_at_eof(struct qcow2 *q, uint64_t n, uint64_t *first)
{
    int rc;
    for (;;) {
        uint64_t e = eof_cluster(q), missing = UINT64_MAX;
        for (uint64_t r = e / q->rb_entries; r <= (e + n - 1) / q->rb_entries; r++)
            if (r >= q->rt_entries || !(q->rt[r] & ~511ULL)) {
                missing = r;
                break;
            }
        if (missing == UINT64_MAX)
            break;
        if ((rc = refblock_create(q, missing)))
            return rc;
    }
    uint64_t e = eof_cluster(q);
    if ((rc = extend_file(q, (e + n) * q->cluster_size)) || (rc = rc_set_run(q, e, n, 1)))
        return rc;
    *first = e;
    return qsync(q);
}

/* One cluster with refcount 1 (durable) and nothing pointing at it. fresh: never used (zeroes). */
static int alloc_cluster(struct qcow2 *q, uint64_t *off, bool *fresh)
{
    int rc;
    if (q->nreuse) {
        uint64_t c = q->reuse[--q->nreuse];
        if ((rc = rc_set(q, c, 1)) || (rc = qsync(q)))
            return rc;
        *off = c * q->cluster_size;
        *fresh = false;
        return 0;
    }
    if (q->resv_next == q->resv_end) {
        /* Each refill costs a sync: a guest that keeps allocating gets larger runs (a crash leaks
         * at most the unused rest of one run). */
        uint64_t first, max = RESERVE_MAX_BYTES / q->cluster_size;
        uint64_t n = q->resv_batch < RESERVE_BATCH ? RESERVE_BATCH : q->resv_batch;
        if (n > max)
            n = max > RESERVE_BATCH ? max : RESERVE_BATCH;
        if ((rc = alloc_at_eof(q, n, &first)))
            return rc;
        q->resv_next = first;
        q->resv_end = first + n;
        q->resv_batch = n * 2;
    }
    *off = q->resv_next++ * q->cluster_size;
    *fresh = true;
    return 0;
}

/* The host clusters an L2 entry holds (compressed entries may span two). */
static void entry_clusters(const struct qcow2 *q, uint64_t entry, uint64_t *first, uint64_t *last)
{
    *first = 1, *last = 0;
    if (entry & OFLAG_COMPRESSED) {
        uint32_t x = 62 - (q->cluster_bits - 8);
        uint64_t host = entry & ((1ULL << x) - 1);
        uint64_t nsec = (entry >> x) & ((1ULL << (q->cluster_bits - 8)) - 1);
        uint64_t end = (host & ~511ULL) + (nsec + 1) * 512;
        *first = host / q->cluster_size;
        *last = (end - 1) / q->cluster_size;
    } else if (entry & OFFSET_MASK) {
        *first = *last = (entry & OFFSET_MASK) / q->cluster_size;
    }
}

static int pending_process(struct qcow2 *q)
{
    if (!q->npending)
        return 0;
    int rc = q->sync ? (fdatasync(q->fd) < 0 ? fail(q, -errno, "fdatasync failed: %s", strerror(errno)) : 0) : 0;
    for (uint32_t i = 0; !rc && i < q->npending; i++) {
        uint64_t c = q->pending_free[i], v;
        rc = rc_add(q, c, -1);
        if (!rc && !(rc = rc_get(q, c, &v)) && v == 0) {
            cache_drop(q->l2c, QCOW2_L2_CACHE, c * q->cluster_size);
            if (q->nreuse < REUSE_MAX)
                q->reuse[q->nreuse++] = c;
        }
    }
    q->npending = 0;
    return rc;
}

/* Frees what an old L2 entry held, once the entry's replacement is durable. */
static int defer_free(struct qcow2 *q, uint64_t entry)
{
    uint64_t first, last;
    entry_clusters(q, entry, &first, &last);
    for (uint64_t c = first; c <= last; c++) {
        if (q->npending == PENDING_MAX) {
            int rc = pending_process(q);
            if (rc)
                return rc;
        }
        q->pending_free[q->npending++] = c;
    }
    return 0;
}

/* ---- L1/L2 lookup ---- */

static int l2_table(struct qcow2 *q, uint64_t l1i, uint64_t *l2_off, uint8_t **table)
{
    *l2_off = q->l1[l1i] & OFFSET_MASK;
    *table = NULL;
    if (!*l2_off)
        return 0;
    int rc = check_cluster(q, *l2_off, "L2 table");
    if (!rc)
        rc = cache_load(q, q->l2c, QCOW2_L2_CACHE, *l2_off, table);
    return rc;
}

static int l2_entry(struct qcow2 *q, uint64_t offset, uint64_t *entry)
{
    uint64_t l1i = offset >> (q->cluster_bits * 2 - 3), l2i = (offset >> q->cluster_bits) & (q->l2_entries - 1);
    uint64_t l2_off;
    uint8_t *table;
    *entry = 0;
    if (l1i >= q->l1_size)
        return fail(q, -EIO, "corrupt image: guest offset %llu is beyond the L1 table", (unsigned long long)offset);
    int rc = l2_table(q, l1i, &l2_off, &table);
    if (!rc && table)
        *entry = get64(table + l2i * 8);
    return rc;
}

/* Allocates the L2 table for l1i: zeroed table durable before the L1 entry points at it. */
static int l2_alloc(struct qcow2 *q, uint64_t l1i, uint64_t *l2_off, uint8_t **table)
{
    uint64_t off;
    bool fresh;
    int rc = alloc_cluster(q, &off, &fresh);
    if (rc)
        return rc;
    uint8_t *zero = calloc(1, q->cluster_size);
    if (!zero)
        return fail(q, -ENOMEM, "out of memory");
    rc = qwrite(q, zero, q->cluster_size, off);
    free(zero);
    if (!rc)
        rc = qsync(q);
    if (rc)
        return rc;
    q->l1[l1i] = off | OFLAG_COPIED;
    uint8_t e[8];
    put64(e, q->l1[l1i]);
    if ((rc = qwrite(q, e, 8, q->l1_offset + l1i * 8)))
        return rc;
    *l2_off = off;
    return cache_load(q, q->l2c, QCOW2_L2_CACHE, off, table);
}

static int l2_set(struct qcow2 *q, uint64_t offset, uint64_t entry)
{
    uint64_t l1i = offset >> (q->cluster_bits * 2 - 3), l2i = (offset >> q->cluster_bits) & (q->l2_entries - 1);
    uint64_t l2_off;
    uint8_t *table;
    int rc = l2_table(q, l1i, &l2_off, &table);
    if (!rc && !table)
        rc = l2_alloc(q, l1i, &l2_off, &table);
    if (rc)
        return rc;
    put64(table + l2i * 8, entry);
    return qwrite(q, table + l2i * 8, 8, l2_off + l2i * 8);
}

/* ---- compressed clusters (zlib raw deflate, 4 KiB window as QEMU writes them) ---- */

static int decompress_cluster(struct qcow2 *q, uint64_t entry, uint8_t *out)
{
    uint32_t x = 62 - (q->cluster_bits - 8);
    uint64_t host = entry & ((1ULL << x) - 1);
    uint64_t nsec = (entry >> x) & ((1ULL << (q->cluster_bits - 8)) - 1);
    uint64_t clen = (nsec + 1) * 512 - (host & 511);
    if (host < q->cluster_size || host >= q->file_size)
        return fail(q, -EIO, "corrupt image: compressed cluster at %#llx is outside the file", (unsigned long long)host);
    if (clen > q->file_size - host)
        clen = q->file_size - host;
    uint8_t *in = malloc(clen);
    if (!in)
        return fail(q, -ENOMEM, "out of memory");
    int rc = pread_full(q->fd, in, clen, host);
    if (rc) {
        free(in);
        return fail(q, rc, "read of a compressed cluster failed: %s", strerror(-rc));
    }
    z_stream z = { .next_in = in, .avail_in = (uInt)clen, .next_out = out, .avail_out = (uInt)q->cluster_size };
    if (inflateInit2(&z, -12) != Z_OK) {
        free(in);
        return fail(q, -ENOMEM, "zlib initialisation failed");
    }
    int zr = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    free(in);
    if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR) || z.avail_out != 0)
        return fail(q, -EIO, "corrupt image: compressed cluster at %#llx does not inflate to a cluster",
                    (unsigned long long)host);
    return 0;
}

static int read_compressed(struct qcow2 *q, uint64_t entry, uint8_t *dst, uint64_t in_cluster, uint64_t len)
{
    if (!q->zbuf && !(q->zbuf = malloc(q->cluster_size)))
        return fail(q, -ENOMEM, "out of memory");
    if (q->zbuf_entry != entry) {
        q->zbuf_entry = 0;
        int rc = decompress_cluster(q, entry, q->zbuf);
        if (rc)
            return rc;
        q->zbuf_entry = entry;
    }
    memcpy(dst, q->zbuf + in_cluster, len);
    return 0;
}

/* ---- mapping ---- */

static int classify(struct qcow2 *q, uint64_t entry, uint64_t in_cluster, struct qcow2_extent *ext)
{
    if (entry & OFLAG_COMPRESSED) {
        ext->kind = QCOW2_COMPRESSED;
        return 0;
    }
    if (q->version >= 3 && (entry & OFLAG_ZERO)) {
        ext->kind = QCOW2_ZERO;
        return 0;
    }
    uint64_t host = entry & OFFSET_MASK;
    if (host) {
        int rc = check_cluster(q, host, "data cluster");
        if (rc)
            return rc;
        ext->kind = QCOW2_DATA;
        ext->host_offset = host + in_cluster;
        return 0;
    }
    ext->kind = q->has_backing ? QCOW2_BACKING : QCOW2_ZERO;
    return 0;
}

static int backing_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t offset)
{
    if (!q->backing_read) {
        memset(buf, 0, len);
        return 0;
    }
    int rc = q->backing_read(q->backing_ctx, buf, len, offset);
    return rc ? fail(q, rc, "read from the backing file failed: %s", strerror(-rc)) : 0;
}

/* Old guest contents of a whole cluster, for copy-on-write. */
static int old_contents(struct qcow2 *q, uint64_t entry, uint64_t vcluster, uint8_t *buf)
{
    struct qcow2_extent ext;
    int rc = classify(q, entry, 0, &ext);
    if (rc)
        return rc;
    switch (ext.kind) {
    case QCOW2_COMPRESSED:
        return read_compressed(q, entry, buf, 0, q->cluster_size);
    case QCOW2_DATA:
        rc = pread_full(q->fd, buf, q->cluster_size, ext.host_offset);
        return rc ? fail(q, rc, "read failed: %s", strerror(-rc)) : 0;
    case QCOW2_BACKING: {
        uint64_t len = q->size - vcluster < q->cluster_size ? q->size - vcluster : q->cluster_size;
        memset(buf + len, 0, q->cluster_size - len);
        return backing_read(q, buf, len, vcluster);
    }
    default:
        memset(buf, 0, q->cluster_size);
        return 0;
    }
}

/* A new host cluster for the guest cluster at vcluster, holding the old contents everywhere but
 * [in_cluster, in_cluster+len) (everywhere when fill_all). Nothing points at it yet. */
static int cow_prepare(struct qcow2 *q, uint64_t vcluster, uint64_t entry, uint64_t in_cluster, uint64_t len,
                       bool fill_all, uint64_t *host, bool *defer_fill)
{
    uint64_t off;
    bool fresh;
    int rc = alloc_cluster(q, &off, &fresh);
    if (rc)
        return rc;
    bool partial = in_cluster > 0 || len < q->cluster_size || fill_all;
    bool old_zero = (q->version >= 3 && (entry & OFLAG_ZERO) && !(entry & OFLAG_COMPRESSED)) ||
                    (!(entry & (OFFSET_MASK | OFLAG_COMPRESSED)) && !q->has_backing);
    if (defer_fill) {              /* the caller writes the old contents itself */
        *defer_fill = partial && !(fresh && old_zero);
        *host = off;
        return 0;
    }
    if (partial && !(fresh && old_zero)) {
        uint8_t *buf = malloc(q->cluster_size);
        if (!buf)
            return fail(q, -ENOMEM, "out of memory");
        rc = old_contents(q, entry, vcluster, buf);
        if (!rc && fill_all)
            rc = qwrite(q, buf, q->cluster_size, off);
        if (!rc && !fill_all && in_cluster)
            rc = qwrite(q, buf, in_cluster, off);
        if (!rc && !fill_all && in_cluster + len < q->cluster_size)
            rc = qwrite(q, buf + in_cluster + len, q->cluster_size - in_cluster - len, off + in_cluster + len);
        free(buf);
        if (rc)
            return rc;
    }
    *host = off;
    return 0;
}

/* Points the L2 entry at the new cluster; whatever the entry held before is freed after a sync. */
static int cow_link(struct qcow2 *q, uint64_t vcluster, uint64_t host)
{
    uint64_t old;
    int rc = l2_entry(q, vcluster, &old);
    if (!rc)
        rc = l2_set(q, vcluster, host | OFLAG_COPIED);
    if (!rc && (old & (OFFSET_MASK | OFLAG_COMPRESSED)))
        rc = defer_free(q, old);
    return rc;
}

static struct qcow2_pending *pending_find(struct qcow2 *q, uint64_t vcluster, bool want_free)
{
    for (int i = 0; i < QCOW2_MAX_PENDING; i++)
        if (want_free ? !q->pending[i].used : (q->pending[i].used && q->pending[i].vcluster == vcluster))
            return &q->pending[i];
    return NULL;
}

static int map_for_write(struct qcow2 *q, uint64_t vcluster, uint64_t entry, uint64_t in_cluster,
                         struct qcow2_extent *ext, bool *defer_fill)
{
    struct qcow2_pending *p = pending_find(q, vcluster, false);
    uint64_t host = 0;
    int rc;
    if (!p && (p = pending_find(q, 0, true))) {
        if ((rc = cow_prepare(q, vcluster, entry, in_cluster, ext->length, false, &host, defer_fill)))
            return rc;
        *p = (struct qcow2_pending){ .vcluster = vcluster, .host = host, .used = true };
    }
    if (p) {
        p->users++;
        ext->commit = (uint32_t)(p - q->pending) + 1;
        host = p->host;
    } else {    /* every slot busy: old contents everywhere, so linking at once is just as safe */
        if ((rc = cow_prepare(q, vcluster, entry, in_cluster, ext->length, true, &host, NULL)) ||
            (rc = cow_link(q, vcluster, host)))
            return rc;
    }
    ext->kind = QCOW2_DATA;
    ext->host_offset = host + in_cluster;
    return 0;
}

int qcow2_map_done(struct qcow2 *q, const struct qcow2_extent *ext, bool ok)
{
    if (!ext->commit || ext->commit > QCOW2_MAX_PENDING || !q->pending[ext->commit - 1].used)
        return 0;
    struct qcow2_pending *p = &q->pending[ext->commit - 1];
    p->ok += ok;
    if (--p->users)
        return 0;
    int rc;
    if (p->ok) {
        rc = cow_link(q, p->vcluster, p->host);
    } else {                /* nothing points at it: straight back to free */
        uint64_t c = p->host / q->cluster_size;
        rc = rc_set(q, c, 0);
        if (!rc && q->nreuse < REUSE_MAX)
            q->reuse[q->nreuse++] = c;
    }
    p->used = false;
    return rc;
}

static int map(struct qcow2 *q, uint64_t offset, uint64_t len, bool write, struct qcow2_extent *ext,
               bool *defer_fill);

int qcow2_map(struct qcow2 *q, uint64_t offset, uint64_t len, bool write, struct qcow2_extent *ext)
{
    return map(q, offset, len, write, ext, NULL);
}

int qcow2_map_write_nofill(struct qcow2 *q, uint64_t offset, uint64_t len, struct qcow2_extent *ext, bool *fill)
{
    *fill = false;
    return map(q, offset, len, true, ext, fill);
}

static int map(struct qcow2 *q, uint64_t offset, uint64_t len, bool write, struct qcow2_extent *ext,
               bool *defer_fill)
{
    if (offset >= q->size || len == 0)
        return fail(q, -EINVAL, "access at %llu is outside the %llu-byte disk", (unsigned long long)offset,
                    (unsigned long long)q->size);
    uint64_t in_cluster = offset & (q->cluster_size - 1);
    uint64_t max = q->cluster_size - in_cluster;
    if (max > q->size - offset)
        max = q->size - offset;
    ext->length = len < max ? len : max;
    ext->host_offset = 0;
    ext->commit = 0;
    uint64_t entry;
    int rc = l2_entry(q, offset, &entry);
    if (!rc)
        rc = classify(q, entry, in_cluster, ext);
    if (rc || !write || (ext->kind == QCOW2_DATA && (entry & OFLAG_COPIED)))
        return rc;
    if (q->readonly)
        return fail(q, -EROFS, "the image is open read-only");
    return map_for_write(q, offset - in_cluster, entry, in_cluster, ext, defer_fill);
}

int qcow2_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t offset)
{
    uint8_t *p = buf;
    if (offset > q->size || len > q->size - offset)
        return fail(q, -EINVAL, "read past the end of the disk");
    while (len) {
        struct qcow2_extent ext;
        int rc = qcow2_map(q, offset, len, false, &ext);
        if (rc)
            return rc;
        switch (ext.kind) {
        case QCOW2_DATA:
            rc = pread_full(q->fd, p, ext.length, ext.host_offset);
            if (rc)
                return fail(q, rc, "read failed: %s", strerror(-rc));
            break;
        case QCOW2_ZERO:
            memset(p, 0, ext.length);
            break;
        case QCOW2_BACKING:
            rc = backing_read(q, p, ext.length, offset);
            break;
        case QCOW2_COMPRESSED: {
            uint64_t entry;
            rc = l2_entry(q, offset, &entry);
            if (!rc)
                rc = read_compressed(q, entry, p, offset & (q->cluster_size - 1), ext.length);
            break;
        }
        }
        if (rc)
            return rc;
        p += ext.length, offset += ext.length, len -= ext.length;
    }
    return 0;
}

int qcow2_write(struct qcow2 *q, const void *buf, uint64_t len, uint64_t offset)
{
    const uint8_t *p = buf;
    if (offset > q->size || len > q->size - offset)
        return fail(q, -EINVAL, "write past the end of the disk");
    while (len) {
        struct qcow2_extent ext;
        int rc = qcow2_map(q, offset, len, true, &ext);
        if (rc)
            return rc;
        rc = qwrite(q, p, ext.length, ext.host_offset);
        int done = qcow2_map_done(q, &ext, rc == 0);
        if (rc || done)
            return rc ? rc : done;
        p += ext.length, offset += ext.length, len -= ext.length;
    }
    return 0;
}

int qcow2_write_compressed(struct qcow2 *q, const void *cluster, uint64_t offset)
{
    uint64_t cs = q->cluster_size;
    if (q->readonly)
        return fail(q, -EROFS, "the image is open read-only");
    if ((offset & (cs - 1)) || offset >= q->size)
        return fail(q, -EINVAL, "compressed writes take whole clusters");
    uint64_t room = cs - 512;
    uint8_t *out = malloc(room);
    if (!out)
        return fail(q, -ENOMEM, "out of memory");
    z_stream z = { .next_in = (Bytef *)cluster, .avail_in = (uInt)cs, .next_out = out, .avail_out = (uInt)room };
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(out);
        return fail(q, -ENOMEM, "zlib initialisation failed");
    }
    int zr = deflate(&z, Z_FINISH);
    uint64_t clen = room - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(out);
        uint64_t len = q->size - offset < cs ? q->size - offset : cs;
        return qcow2_write(q, cluster, len, offset);
    }
    int rc = 0;
    if (q->zend - q->zcur < clen) {           /* start a new host cluster */
        uint64_t off;
        bool fresh;
        if ((rc = alloc_cluster(q, &off, &fresh))) {
            free(out);
            return rc;
        }
        q->zcur = off, q->zend = off + cs;
    } else if ((q->zcur & (cs - 1)) != 0) {   /* shares the cursor's cluster */
        rc = rc_add(q, q->zcur / cs, 1);
        if (!rc)
            rc = qsync(q);
    }
    uint64_t host = q->zcur;
    if (!rc)
        rc = qwrite(q, out, clen, host);
    free(out);
    if (rc)
        return rc;
    q->zcur += clen;
    uint32_t x = 62 - (q->cluster_bits - 8);
    uint64_t nsec = ((host + clen - 1) >> 9) - (host >> 9);
    uint64_t old;
    if ((rc = l2_entry(q, offset, &old)))
        return rc;
    if ((rc = l2_set(q, offset, OFLAG_COMPRESSED | (nsec << x) | host)))
        return rc;
    return (old & (OFFSET_MASK | OFLAG_COMPRESSED)) ? defer_free(q, old) : 0;
}

int qcow2_discard(struct qcow2 *q, uint64_t offset, uint64_t len, enum qcow2_discard_mode mode)
{
    if (q->readonly)
        return fail(q, -EROFS, "the image is open read-only");
    if (offset > q->size || len > q->size - offset)
        return fail(q, -EINVAL, "discard past the end of the disk");
    uint64_t cs = q->cluster_size;
    int rc = 0;
    while (!rc && len) {
        uint64_t in_cluster = offset & (cs - 1), chunk = cs - in_cluster;
        if (chunk > len)
            chunk = len;
        bool whole = in_cluster == 0 && (chunk == cs || offset + chunk == q->size);
        uint64_t entry;
        if (!whole || (mode == QCOW2_DISCARD_ZERO && q->version < 3 && q->has_backing)) {
            if (mode == QCOW2_DISCARD_ZERO) {
                uint8_t *zero = calloc(1, chunk);
                rc = zero ? qcow2_write(q, zero, chunk, offset) : -ENOMEM;
                free(zero);
            }
        } else if (!(rc = l2_entry(q, offset, &entry))) {
            uint64_t want = mode == QCOW2_DISCARD_ZERO && q->version >= 3 ? OFLAG_ZERO : 0;
            bool reads_zero_now = !entry && !q->has_backing;
            if (entry != want && !(reads_zero_now && want == OFLAG_ZERO)) {
                rc = l2_set(q, offset, want);
                if (!rc && (entry & (OFFSET_MASK | OFLAG_COMPRESSED)))
                    rc = defer_free(q, entry);
            }
        }
        offset += chunk, len -= chunk;
    }
    return rc ? rc : pending_process(q);
}

int qcow2_flush(struct qcow2 *q)
{
    if (q->readonly)
        return 0;
    int rc = pending_process(q);
    if (!rc && fdatasync(q->fd) < 0)
        rc = fail(q, -errno, "fdatasync failed: %s", strerror(errno));
    return rc;
}

/* ---- header ---- */

static void header_name_bit(const struct qcow2 *q, unsigned bit, char *out, size_t outlen)
{
    for (uint32_t i = 0; i + 48 <= q->feature_table_len; i += 48) {
        const uint8_t *f = q->feature_table + i;
        if (f[0] == 0 && f[1] == bit) {
            snprintf(out, outlen, "%.46s", (const char *)f + 2);
            return;
        }
    }
    snprintf(out, outlen, "%s", bit < sizeof(incompat_names) / sizeof(incompat_names[0]) ? incompat_names[bit] : "unknown");
}

static int parse_extensions(struct qcow2 *q, const uint8_t *hc, uint64_t start, uint64_t end)
{
    uint64_t pos = start;
    while (pos + 8 <= end) {
        uint32_t type = get32(hc + pos), len = get32(hc + pos + 4);
        if (type == 0)
            break;
        uint64_t padded = ((uint64_t)len + 7) & ~7ULL;
        if (pos + 8 + len > end)
            return fail(q, -EINVAL, "corrupt image: header extension %#x runs past the header", type);
        const uint8_t *data = hc + pos + 8;
        if (type == EXT_BACKING_FORMAT) {
            if (len > 63)
                return fail(q, -EINVAL, "corrupt image: backing format name is %u bytes long", len);
            q->backing_format = strndup((const char *)data, len);
        } else if (type == EXT_FEATURE_TABLE) {
            q->feature_table = malloc(len + 1);
            if (q->feature_table)
                memcpy(q->feature_table, data, len);
            q->feature_table_len = len;
        } else {
            uint64_t take = pos + 8 + padded <= end ? padded : len;
            uint8_t *n = realloc(q->other_exts, q->other_exts_len + 8 + padded);
            if (!n)
                return fail(q, -ENOMEM, "out of memory");
            q->other_exts = n;
            memset(n + q->other_exts_len, 0, 8 + padded);
            memcpy(n + q->other_exts_len, hc + pos, 8 + take);
            q->other_exts_len += (uint32_t)(8 + padded);
        }
        pos += 8 + padded;
    }
    return 0;
}

static int check_features(struct qcow2 *q)
{
    uint64_t known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION;
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!((q->incompat & ~known) >> bit & 1))
            continue;
        char name[64];
        header_name_bit(q, bit, name, sizeof(name));
        return fail(q, -ENOTSUP, "unsupported qcow2 feature: incompatible feature bit %u (%s)", bit, name);
    }
    if (!q->readonly && (q->incompat & INCOMPAT_CORRUPT))
        return fail(q, -EROFS, "the image is marked corrupt (incompatible feature bit 1): open it read-only "
                               "or repair it with qemu-img check -r all");
    if (!q->readonly && (q->incompat & INCOMPAT_DIRTY))
        return fail(q, -EROFS, "the image is dirty (incompatible feature bit 0, lazy refcounts): repair it with "
                               "qemu-img check -r all before writing");
    if (!q->readonly && q->nb_snapshots)
        return fail(q, -EROFS, "the image has %u internal snapshots: vmm opens such images read-only only",
                    q->nb_snapshots);
    return 0;
}

static int parse_header(struct qcow2 *q, const uint8_t *h, uint64_t file_size)
{
    if (file_size < 72)
        return fail(q, -EINVAL, "truncated qcow2 header (%llu bytes)", (unsigned long long)file_size);
    if (get32(h) != QCOW2_MAGIC)
        return fail(q, -EINVAL, "not a qcow2 image (bad magic)");
    q->version = get32(h + 4);
    if (q->version != 2 && q->version != 3)
        return fail(q, -ENOTSUP, "qcow2 version %u is not supported (2 and 3 are)", q->version);
    q->cluster_bits = get32(h + 20);
    if (q->cluster_bits < 9 || q->cluster_bits > 21)
        return fail(q, -EINVAL, "corrupt image: cluster_bits %u is outside 9..21", q->cluster_bits);
    q->cluster_size = 1ULL << q->cluster_bits;
    q->size = get64(h + 24);
    if (q->size > QCOW2_MAX_VIRTUAL_SIZE)
        return fail(q, -EFBIG, "virtual size %llu is larger than the 64 TiB vmm accepts", (unsigned long long)q->size);
    if (get32(h + 32))
        return fail(q, -ENOTSUP, "encrypted qcow2 images are not supported");
    q->l1_size = get32(h + 36);
    q->l1_offset = get64(h + 40);
    q->rt_offset = get64(h + 48);
    q->rt_clusters = get32(h + 56);
    q->nb_snapshots = get32(h + 60);
    q->snapshots_offset = get64(h + 64);
    q->refcount_order = 4;
    q->header_length = 72;
    if (q->version == 3) {
        if (file_size < 104)
            return fail(q, -EINVAL, "truncated qcow2 version 3 header (%llu bytes)", (unsigned long long)file_size);
        q->incompat = get64(h + 72);
        q->compat = get64(h + 80);
        q->autoclear = get64(h + 88);
        q->refcount_order = get32(h + 96);
        q->header_length = get32(h + 100);
        if (q->header_length < 104 || q->header_length > q->cluster_size || q->header_length > file_size)
            return fail(q, -EINVAL, "corrupt image: header length %u is invalid", q->header_length);
        if (q->refcount_order > 6)
            return fail(q, -EINVAL, "corrupt image: refcount_order %u is larger than 6", q->refcount_order);
        uint8_t ctype = q->header_length > 104 ? h[104] : 0;
        if (ctype != 0)
            return fail(q, -ENOTSUP, "compression type %u is not supported (only zlib)", ctype);
    }
    q->l2_entries = q->cluster_size / 8;
    q->rb_entries = q->cluster_size * 8 >> q->refcount_order;
    return 0;
}

static int check_tables(struct qcow2 *q, uint64_t file_size)
{
    uint64_t cs = q->cluster_size;
    uint64_t need_l1 = div_up(q->size, cs * q->l2_entries);
    if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return fail(q, -EFBIG, "L1 table of %u entries is larger than %u MiB", q->l1_size, QCOW2_MAX_L1_BYTES >> 20);
    if (q->l1_size < need_l1)
        return fail(q, -EINVAL, "corrupt image: L1 table of %u entries is too small for the virtual size", q->l1_size);
    if (q->l1_size && ((q->l1_offset & (cs - 1)) || q->l1_offset < cs || q->l1_offset > file_size ||
                       (uint64_t)q->l1_size * 8 > file_size - q->l1_offset))
        return fail(q, -EINVAL, "corrupt image: L1 table offset %#llx is invalid or past the end of the file",
                    (unsigned long long)q->l1_offset);
    if (q->rt_clusters == 0 || (uint64_t)q->rt_clusters * cs > QCOW2_MAX_RT_BYTES)
        return fail(q, -EINVAL, "corrupt image: refcount table of %u clusters is invalid (at most %u MiB)",
                    q->rt_clusters, QCOW2_MAX_RT_BYTES >> 20);
    if ((q->rt_offset & (cs - 1)) || q->rt_offset < cs || q->rt_offset > file_size ||
        (uint64_t)q->rt_clusters * cs > file_size - q->rt_offset + cs - 1)
        return fail(q, -EINVAL, "corrupt image: refcount table offset %#llx is invalid or past the end of the file",
                    (unsigned long long)q->rt_offset);
    if (q->l1_size && in_range(q->l1_offset, (uint64_t)q->l1_size * 8, q->rt_offset, (uint64_t)q->rt_clusters * cs))
        return fail(q, -EINVAL, "corrupt image: the L1 table overlaps the refcount table");
    q->rt_entries = (uint64_t)q->rt_clusters * cs / 8;
    return 0;
}

static int load_tables(struct qcow2 *q)
{
    uint64_t cs = q->cluster_size;
    q->l1 = calloc(q->l1_size ? q->l1_size : 1, 8);
    q->rt = calloc(q->rt_entries, 8);
    q->reuse = malloc(REUSE_MAX * sizeof(uint64_t));
    q->pending_free = malloc(PENDING_MAX * sizeof(uint64_t));
    if (!q->l1 || !q->rt || !q->reuse || !q->pending_free)
        return fail(q, -ENOMEM, "out of memory");
    int rc = pread_full(q->fd, q->l1, (uint64_t)q->l1_size * 8, q->l1_offset);
    if (!rc)
        rc = pread_full(q->fd, q->rt, q->rt_entries * 8, q->rt_offset);
    if (rc)
        return fail(q, rc, "cannot read the image tables: %s", strerror(-rc));
    for (uint32_t i = 0; i < q->l1_size; i++)
        q->l1[i] = be64toh(q->l1[i]);
    for (uint64_t i = 0; i < q->rt_entries; i++)
        q->rt[i] = be64toh(q->rt[i]);
    refblocks_rebuild(q);
    (void)cs;
    return q->refblocks ? 0 : fail(q, -ENOMEM, "out of memory");
}

static int read_backing_name(struct qcow2 *q, const uint8_t *hc, uint64_t hc_len)
{
    uint64_t off = get64(hc + 8);
    uint32_t len = get32(hc + 16);
    if (!off)
        return 0;
    if (len == 0 || len > 1023 || off > hc_len || len > hc_len - off)
        return fail(q, -EINVAL, "corrupt image: backing file name (offset %llu, %u bytes) is invalid",
                    (unsigned long long)off, len);
    q->backing_file = strndup((const char *)hc + off, len);
    if (!q->backing_file || strlen(q->backing_file) != len)
        return fail(q, -EINVAL, "corrupt image: backing file name holds a NUL byte");
    q->has_backing = true;
    return 0;
}

int qcow2_open(struct qcow2 **out, int fd, const char *path, bool readonly, char *err, size_t errlen)
{
    struct qcow2 *q = calloc(1, sizeof(*q));
    struct stat st;
    *out = NULL;
    if (!q) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    q->fd = fd;
    q->path = strdup(path);
    q->readonly = readonly;
    q->sync = true;
    int rc = fstat(fd, &st) < 0 ? fail(q, -errno, "cannot stat: %s", strerror(errno)) : 0;
    q->file_size = (uint64_t)st.st_size;
    uint8_t h[112] = { 0 };
    uint8_t *hc = NULL;
    if (!rc && (rc = pread_full(fd, h, sizeof(h), 0)))
        fail(q, rc, "cannot read the header: %s", strerror(-rc));
    if (!rc)
        rc = parse_header(q, h, q->file_size);
    if (!rc && !(hc = calloc(1, q->cluster_size)))
        rc = fail(q, -ENOMEM, "out of memory");
    if (!rc && (rc = pread_full(fd, hc, q->cluster_size, 0)))
        fail(q, rc, "cannot read the header: %s", strerror(-rc));
    if (!rc) {
        uint64_t boff = get64(hc + 8), end = q->cluster_size;
        if (boff && boff < end)
            end = boff;
        rc = read_backing_name(q, hc, q->cluster_size);
        if (!rc)
            rc = parse_extensions(q, hc, q->header_length, end);
    }
    free(hc);
    if (!rc)
        rc = check_features(q);
    if (!rc)
        rc = check_tables(q, q->file_size);
    if (!rc)
        rc = load_tables(q);
    if (!rc && !readonly && q->autoclear) {
        uint8_t zero[8] = { 0 };          /* autoclear features we do not maintain must be cleared */
        if (!(rc = qwrite(q, zero, 8, 88)))
            q->autoclear = 0;
    }
    if (rc) {
        snprintf(err, errlen, "%s", q->err);
        q->readonly = true;
        qcow2_close(q);
        return rc;
    }
    *out = q;
    return 0;
}

int qcow2_close(struct qcow2 *q)
{
    if (!q)
        return 0;
    int rc = 0;
    if (!q->readonly && q->fd >= 0 && q->rt) {
        rc = pending_process(q);
        /* Reserved clusters never used go back to refcount 0 (a crash would only have leaked them). */
        uint64_t first_unused = q->resv_next;
        if (q->resv_next < q->resv_end)
            rc = rc_set_run(q, q->resv_next, q->resv_end - q->resv_next, 0);
        q->resv_next = q->resv_end;
        if (!rc && q->resv_end && q->resv_end * q->cluster_size >= q->file_size &&
            first_unused * q->cluster_size < q->file_size && ftruncate(q->fd, (off_t)(first_unused * q->cluster_size)) == 0)
            q->file_size = first_unused * q->cluster_size;
        if (!rc && fdatasync(q->fd) < 0)
            rc = -errno;
    }
    for (int i = 0; i < QCOW2_L2_CACHE; i++)
        free(q->l2c[i].data);
    for (int i = 0; i < QCOW2_RB_CACHE; i++)
        free(q->rbc[i].data);
    free(q->l1);
    free(q->rt);
    free(q->refblocks);
    free(q->reuse);
    free(q->pending_free);
    free(q->zbuf);
    free(q->backing_file);
    free(q->backing_format);
    free(q->other_exts);
    free(q->feature_table);
    free(q->path);
    free(q);
    return rc;
}

bool qcow2_probe(const uint8_t *buf, size_t len)
{
    return len >= 8 && get32(buf) == QCOW2_MAGIC && (get32(buf + 4) == 2 || get32(buf + 4) == 3);
}

/* Cluster 0: header, extensions (backing format, feature names, kept ones), backing file name. */
static int build_header(const struct qcow2 *q, uint8_t *hc)
{
    uint64_t cs = q->cluster_size;
    memset(hc, 0, cs);
    put32(hc, QCOW2_MAGIC);
    put32(hc + 4, q->version);
    put32(hc + 20, q->cluster_bits);
    put64(hc + 24, q->size);
    put32(hc + 36, q->l1_size);
    put64(hc + 40, q->l1_offset);
    put64(hc + 48, q->rt_offset);
    put32(hc + 56, q->rt_clusters);
    put32(hc + 60, q->nb_snapshots);
    put64(hc + 64, q->snapshots_offset);
    uint64_t pos = 72;
    if (q->version == 3) {
        put64(hc + 72, q->incompat);
        put64(hc + 80, q->compat);
        put64(hc + 88, q->autoclear);
        put32(hc + 96, q->refcount_order);
        put32(hc + 100, 112);
        pos = 112;
    }
    size_t fmt_len = q->backing_format ? strlen(q->backing_format) : 0;
    size_t name_len = q->backing_file ? strlen(q->backing_file) : 0;
    static const struct { uint8_t type, bit; const char *name; } features[] = {
        { 0, 0, "dirty bit" }, { 0, 1, "corrupt bit" }, { 0, 2, "external data file" },
        { 0, 3, "compression type" }, { 0, 4, "extended L2 entries" }, { 1, 0, "lazy refcounts" },
        { 2, 0, "bitmaps" }, { 2, 1, "raw external data" },
    };
    uint64_t ft_len = q->version == 3 ? sizeof(features) / sizeof(features[0]) * 48 : 0;
    uint64_t need = pos + (fmt_len ? 8 + ((fmt_len + 7) & ~7ULL) : 0) + (ft_len ? 8 + ft_len : 0) +
                    q->other_exts_len + 8 + name_len;
    if (need > cs || name_len > 1023 || fmt_len > 63)
        return -ENOSPC;
    if (fmt_len) {
        put32(hc + pos, EXT_BACKING_FORMAT);
        put32(hc + pos + 4, (uint32_t)fmt_len);
        memcpy(hc + pos + 8, q->backing_format, fmt_len);
        pos += 8 + ((fmt_len + 7) & ~7ULL);
    }
    if (ft_len) {
        put32(hc + pos, EXT_FEATURE_TABLE);
        put32(hc + pos + 4, (uint32_t)ft_len);
        for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
            uint8_t *f = hc + pos + 8 + i * 48;
            f[0] = features[i].type;
            f[1] = features[i].bit;
            memcpy(f + 2, features[i].name, strlen(features[i].name));
        }
        pos += 8 + ft_len;
    }
    if (q->other_exts_len)
        memcpy(hc + pos, q->other_exts, q->other_exts_len);
    pos += q->other_exts_len + 8;            /* end-of-extensions marker: zeroes */
    if (name_len) {
        put64(hc + 8, pos);
        put32(hc + 16, (uint32_t)name_len);
        memcpy(hc + pos, q->backing_file, name_len);
    }
    return 0;
}

int qcow2_create(int fd, const struct qcow2_create_opts *o, char *err, size_t errlen)
{
    struct qcow2 q = { .version = o->version ? o->version : 3, .cluster_bits = o->cluster_bits ? o->cluster_bits : 16 };
    q.refcount_order = q.version == 2 ? 4 : (o->refcount_order ? o->refcount_order : 4);
    if (q.version != 2 && q.version != 3) {
        snprintf(err, errlen, "qcow2 version %u is not supported (use 2 or 3)", q.version);
        return -EINVAL;
    }
    if (q.cluster_bits < 9 || q.cluster_bits > 21 || q.refcount_order > 6) {
        snprintf(err, errlen, "cluster size must be a power of two from 512 bytes to 2 MiB");
        return -EINVAL;
    }
    if (o->size > QCOW2_MAX_VIRTUAL_SIZE) {
        snprintf(err, errlen, "virtual size %llu is larger than 64 TiB", (unsigned long long)o->size);
        return -EFBIG;
    }
    uint64_t cs = q.cluster_size = 1ULL << q.cluster_bits;
    q.size = o->size;
    q.backing_file = (char *)o->backing_file;
    q.backing_format = (char *)o->backing_format;
    uint64_t l2e = cs / 8, rbe = cs * 8 >> q.refcount_order;
    q.l1_size = (uint32_t)div_up(o->size, cs * l2e);
    if ((uint64_t)q.l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        snprintf(err, errlen, "the L1 table would exceed 32 MiB: use a larger cluster size");
        return -EFBIG;
    }
    uint64_t l1_clusters = div_up((uint64_t)q.l1_size * 8, cs), rt_clusters = 1, blocks = 1, total;
    for (;;) {     /* header, refcount table, refcount blocks, L1 table */
        total = 1 + rt_clusters + blocks + l1_clusters;
        uint64_t nb = div_up(total, rbe), nr = div_up(nb * 8, cs);
        if (nb == blocks && nr == rt_clusters)
            break;
        blocks = nb, rt_clusters = nr;
    }
    q.rt_offset = cs;
    q.rt_clusters = (uint32_t)rt_clusters;
    q.l1_offset = q.l1_size ? (1 + rt_clusters + blocks) * cs : 0;
    if (!q.l1_size)
        total = 1 + rt_clusters + blocks;
    uint8_t *buf = calloc(1, cs);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = build_header(&q, buf);
    if (rc == -ENOSPC)
        snprintf(err, errlen, "the backing file name does not fit in the qcow2 header");
    if (!rc && ftruncate(fd, 0) < 0)
        rc = -errno;
    if (!rc)
        rc = pwrite_full(fd, buf, cs, 0);
    for (uint64_t i = 0; !rc && i < rt_clusters; i++) {    /* refcount table */
        memset(buf, 0, cs);
        for (uint64_t j = 0; j < cs / 8 && i * (cs / 8) + j < blocks; j++)
            put64(buf + j * 8, (1 + rt_clusters + i * (cs / 8) + j) * cs);
        rc = pwrite_full(fd, buf, cs, (1 + i) * cs);
    }
    for (uint64_t b = 0; !rc && b < blocks; b++) {          /* refcount blocks: metadata clusters = 1 */
        memset(buf, 0, cs);
        for (uint64_t c = b * rbe; c < total && c < (b + 1) * rbe; c++) {
            uint64_t at, len;
            rb_set(&q, buf, c % rbe, 1, &at, &len);
        }
        rc = pwrite_full(fd, buf, cs, (1 + rt_clusters + b) * cs);
    }
    if (!rc && ftruncate(fd, (off_t)(total * cs)) < 0)      /* the L1 table: zeroes */
        rc = -errno;
    free(buf);
    if (rc && !err[0])
        snprintf(err, errlen, "cannot write the qcow2 image: %s", strerror(-rc));
    return rc;
}

int qcow2_set_backing(struct qcow2 *q, const char *file, const char *format)
{
    if (q->readonly)
        return fail(q, -EROFS, "the image is open read-only");
    char *nf = file ? strdup(file) : NULL, *nfmt = format ? strdup(format) : NULL;
    char *of = q->backing_file, *ofmt = q->backing_format;
    q->backing_file = nf, q->backing_format = nfmt;
    uint8_t *hc = malloc(q->cluster_size);
    int rc = hc ? build_header(q, hc) : -ENOMEM;
    if (rc == -ENOSPC)
        fail(q, rc, "the backing file name does not fit in the header cluster");
    else if (!rc)
        rc = qwrite(q, hc, q->cluster_size, 0);
    if (!rc)
        rc = qsync(q);
    free(hc);
    if (rc) {
        q->backing_file = of, q->backing_format = ofmt;
        free(nf);
        free(nfmt);
        return rc;
    }
    free(of);
    free(ofmt);
    q->has_backing = file != NULL;
    return 0;
}

int qcow2_resize(struct qcow2 *q, uint64_t new_size)
{
    uint64_t cs = q->cluster_size;
    if (q->readonly)
        return fail(q, -EROFS, "the image is open read-only");
    if (new_size < q->size)
        return fail(q, -ENOTSUP, "shrinking a qcow2 image is not supported (%llu < %llu bytes)",
                    (unsigned long long)new_size, (unsigned long long)q->size);
    if (new_size > QCOW2_MAX_VIRTUAL_SIZE)
        return fail(q, -EFBIG, "virtual size %llu is larger than 64 TiB", (unsigned long long)new_size);
    uint64_t need = div_up(new_size, cs * q->l2_entries);
    int rc = 0;
    if (need > q->l1_size) {
        if (need * 8 > QCOW2_MAX_L1_BYTES)
            return fail(q, -EFBIG, "the L1 table would exceed 32 MiB");
        uint64_t nclusters = div_up(need * 8, cs), first;
        uint64_t *l1 = calloc(nclusters * cs / 8, 8);
        uint8_t *buf = calloc(nclusters, cs);
        if (!l1 || !buf) {
            free(l1);
            free(buf);
            return fail(q, -ENOMEM, "out of memory");
        }
        memcpy(l1, q->l1, (uint64_t)q->l1_size * 8);
        for (uint64_t i = 0; i < need; i++)
            put64(buf + i * 8, l1[i]);
        rc = alloc_at_eof(q, nclusters, &first);
        if (!rc)
            rc = qwrite(q, buf, nclusters * cs, first * cs);
        if (!rc)
            rc = qsync(q);
        if (!rc) {
            uint8_t hdr[12];
            put32(hdr, (uint32_t)need);
            put64(hdr + 4, first * cs);
            rc = qwrite(q, hdr, 12, 36);
        }
        if (!rc)
            rc = qsync(q);
        free(buf);
        if (rc) {
            free(l1);
            return rc;
        }
        uint64_t old_off = q->l1_offset, old_clusters = div_up((uint64_t)q->l1_size * 8, cs);
        free(q->l1);
        q->l1 = l1;
        q->l1_offset = first * cs;
        q->l1_size = (uint32_t)need;
        for (uint64_t i = 0; old_off && !rc && i < old_clusters; i++)
            rc = rc_add(q, old_off / cs + i, -1);
    }
    uint8_t sz[8];
    put64(sz, new_size);
    if (!rc)
        rc = qwrite(q, sz, 8, 24);
    if (!rc) {
        q->size = new_size;
        rc = qsync(q);
    }
    return rc;
}

uint64_t qcow2_allocated_clusters(struct qcow2 *q)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < q->l1_size; i++) {
        uint64_t l2_off;
        uint8_t *t;
        if (l2_table(q, i, &l2_off, &t) || !t)
            continue;
        for (uint64_t j = 0; j < q->l2_entries; j++)
            if (get64(t + j * 8))
                n++;
    }
    return n;
}

/* ---- check: references counted from the tables against the stored refcounts ---- */

struct refs {
    uint16_t *count;
    uint64_t n;
};

static void ref_add(struct qcow2 *q, struct refs *r, uint64_t first, uint64_t nclusters, const char *what,
                    struct qcow2_check_result *res, FILE *log)
{
    for (uint64_t c = first; c < first + nclusters; c++) {
        if (c >= r->n) {
            res->corruptions++;
            if (log)
                fprintf(log, "ERROR %s at cluster %llu is past the end of the file\n", what, (unsigned long long)c);
            continue;
        }
        if (r->count[c] < UINT16_MAX)
            r->count[c]++;
    }
    (void)q;
}

static void check_l2(struct qcow2 *q, struct refs *r, const uint8_t *t, struct qcow2_check_result *res, FILE *log)
{
    for (uint64_t j = 0; j < q->l2_entries; j++) {
        uint64_t e = get64(t + j * 8), first, last;
        if (!e)
            continue;
        res->allocated_clusters++;
        if (!(e & OFLAG_COMPRESSED) && (e & OFFSET_MASK & (q->cluster_size - 1))) {
            res->corruptions++;
            if (log)
                fprintf(log, "ERROR data cluster offset %#llx is not cluster aligned\n", (unsigned long long)(e & OFFSET_MASK));
            continue;
        }
        entry_clusters(q, e, &first, &last);
        if (first <= last)
            ref_add(q, r, first, last - first + 1, "data cluster", res, log);
    }
}

static void check_compare(struct qcow2 *q, struct refs *r, struct qcow2_check_result *res, FILE *log)
{
    uint64_t limit = q->rt_entries * q->rb_entries;
    for (uint64_t c = 0; c < limit; c++) {
        uint64_t rb;
        if (c % q->rb_entries == 0 && (refblock_of(q, c, &rb) || !rb)) {
            for (uint64_t k = c; k < c + q->rb_entries && k < r->n; k++)
                if (r->count[k]) {
                    res->corruptions++;
                    if (log)
                        fprintf(log, "ERROR cluster %llu refcount=0 reference=%u\n", (unsigned long long)k, r->count[k]);
                }
            c += q->rb_entries - 1;
            continue;
        }
        uint64_t v, refs = c < r->n ? r->count[c] : 0;
        if (rc_get(q, c, &v)) {
            res->corruptions++;
            continue;
        }
        if (v < refs) {
            res->corruptions++;
            if (log)
                fprintf(log, "ERROR cluster %llu refcount=%llu reference=%llu\n", (unsigned long long)c,
                        (unsigned long long)v, (unsigned long long)refs);
        } else if (v > refs) {
            res->leaks++;
            if (log)
                fprintf(log, "Leaked cluster %llu refcount=%llu reference=%llu\n", (unsigned long long)c,
                        (unsigned long long)v, (unsigned long long)refs);
        }
    }
    for (uint64_t c = limit; c < r->n; c++)
        if (r->count[c]) {
            res->corruptions++;
            if (log)
                fprintf(log, "ERROR cluster %llu is beyond the refcount table\n", (unsigned long long)c);
        }
}

int qcow2_check(struct qcow2 *q, struct qcow2_check_result *res, FILE *log)
{
    memset(res, 0, sizeof(*res));
    if (q->nb_snapshots)
        return fail(q, -ENOTSUP, "checking images with internal snapshots is not supported");
    uint64_t cs = q->cluster_size;
    struct refs r = { .n = eof_cluster(q) };
    if (r.n > (1ULL << 28))
        return fail(q, -EFBIG, "the image has too many clusters to check");
    r.count = calloc(r.n + 1, sizeof(uint16_t));
    if (!r.count)
        return fail(q, -ENOMEM, "out of memory");
    res->total_clusters = div_up(q->size, cs);
    res->image_end = q->file_size;
    ref_add(q, &r, 0, 1, "header", res, log);
    if (q->l1_size)
        ref_add(q, &r, q->l1_offset / cs, div_up((uint64_t)q->l1_size * 8, cs), "L1 table", res, log);
    ref_add(q, &r, q->rt_offset / cs, q->rt_clusters, "refcount table", res, log);
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        uint64_t off = q->rt[i] & ~511ULL;
        if (!off)
            continue;
        if (off & (cs - 1)) {
            res->corruptions++;
            if (log)
                fprintf(log, "ERROR refcount block %llu is not cluster aligned\n", (unsigned long long)i);
            continue;
        }
        ref_add(q, &r, off / cs, 1, "refcount block", res, log);
    }
    for (uint32_t i = 0; i < q->l1_size; i++) {
        uint64_t l2_off;
        uint8_t *t;
        if (!(q->l1[i] & OFFSET_MASK))
            continue;
        if (l2_table(q, i, &l2_off, &t)) {
            res->corruptions++;
            if (log)
                fprintf(log, "ERROR %s\n", q->err);
            continue;
        }
        ref_add(q, &r, l2_off / cs, 1, "L2 table", res, log);
        check_l2(q, &r, t, res, log);
    }
    check_compare(q, &r, res, log);
    free(r.count);
    return 0;
}
