/* qcow2 engine: round trips checked by qemu-img (when installed), the L2 cache, zero and compressed
 * clusters, refcount widths and table growth, hostile images, and SIGKILL at random moments. */
#define _GNU_SOURCE
#include "tests/unit/check.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm/block/qcow2.h"

#define SCRATCH_PREFIX "test_qcow2"
#include "tests/unit/scratch.h"

static int make_image(const char *path, uint64_t size, uint32_t cluster_bits, uint32_t version)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    char err[256];
    struct qcow2_create_opts o = { .size = size, .cluster_bits = cluster_bits, .version = version };
    if (fd < 0 || qcow2_create(fd, &o, err, sizeof(err)))
        return -1;
    return fd;
}

static void fill(uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245 + 12345;
        buf[i] = (uint8_t)(seed >> 16);
    }
}

/* Writes a pattern through the engine, mirrors it in a raw file, and compares both ways. */
static int round_trip(const char *path, uint64_t size, uint32_t cluster_bits, uint32_t version, int nwrites)
{
    int fd = make_image(path, size, cluster_bits, version);
    if (fd < 0)
        return -1;
    struct qcow2 *q;
    char err[256];
    if (qcow2_open(&q, fd, path, false, err, sizeof(err)))
        return -2;
    uint8_t *model = calloc(1, size), *buf = malloc(256 << 10);
    srand(cluster_bits * 7 + version);
    for (int i = 0; i < nwrites; i++) {
        uint64_t len = 1 + (uint64_t)rand() % (200 << 10), off = (uint64_t)rand() % size;
        if (len > size - off)
            len = size - off;
        fill(buf, len, (uint32_t)i);
        if (qcow2_write(q, buf, len, off))
            return -3;
        memcpy(model + off, buf, len);
        if (i % 7 == 3) {
            uint64_t doff = (uint64_t)rand() % size, dlen = (uint64_t)rand() % (300 << 10);
            if (dlen > size - doff)
                dlen = size - doff;
            if (qcow2_discard(q, doff, dlen, QCOW2_DISCARD_ZERO))
                return -4;
            memset(model + doff, 0, dlen);
        }
    }
    uint8_t *back = malloc(size);
    int rc = qcow2_read(q, back, size, 0) || memcmp(back, model, size) ? -5 : 0;
    if (!rc && qcow2_close(q))
        rc = -6;
    close(fd);
    if (!rc && have_qemu_img()) {
        const char *raw = tmp("model.raw");
        int rfd = open(raw, O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (rfd < 0 || pwrite(rfd, model, size, 0) != (ssize_t)size)
            rc = -7;
        close(rfd);
        if (!rc && run("qemu-img check -q %s", path) != 0)
            rc = -8;
        if (!rc && run("qemu-img compare -q -f qcow2 -F raw %s %s", path, raw) != 0)
            rc = -9;
    }
    free(model);
    free(buf);
    free(back);
    return rc;
}

TEST(round_trip_v3_64k)
{
    CHECK_EQ(round_trip(tmp("a.qcow2"), 48 << 20, 16, 3, 60), 0);
}

TEST(round_trip_v2_4k)
{
    CHECK_EQ(round_trip(tmp("b.qcow2"), 16 << 20, 12, 2, 60), 0);
}

TEST(round_trip_512_byte_clusters_grows_refcount_table)
{
    /* 512-byte clusters: one refcount table cluster covers 8 MiB, so the table must move. */
    CHECK_EQ(round_trip(tmp("c.qcow2"), 24 << 20, 9, 3, 150), 0);
}

TEST(l2_cache_serves_random_4k_reads)
{
    const char *path = tmp("cache.qcow2");
    int fd = make_image(path, 1ULL << 30, 16, 3);
    CHECK(fd >= 0);
    struct qcow2 *q;
    char err[256];
    CHECK_EQ(qcow2_open(&q, fd, path, false, err, sizeof(err)), 0);
    uint8_t buf[4096];
    memset(buf, 0x5a, sizeof(buf));
    for (uint64_t off = 0; off < (1ULL << 30); off += 64 << 20)    /* 16 L2 tables */
        CHECK_EQ(qcow2_write(q, buf, sizeof(buf), off), 0);
    uint64_t before = q->l2_reads;
    srand(1);
    for (int i = 0; i < 20000; i++)
        CHECK_EQ(qcow2_read(q, buf, sizeof(buf), ((uint64_t)rand() % (1u << 18)) * 4096), 0);
    CHECK(q->l2_reads - before <= 16);
    qcow2_close(q);
    close(fd);
}

TEST(map_extents_stay_in_one_cluster)
{
    const char *path = tmp("map.qcow2");
    int fd = make_image(path, 8 << 20, 16, 3);
    struct qcow2 *q;
    char err[256];
    CHECK_EQ(qcow2_open(&q, fd, path, false, err, sizeof(err)), 0);
    struct qcow2_extent e;
    CHECK_EQ(qcow2_map(q, 65536 - 512, 8192, false, &e), 0);
    CHECK_EQ(e.kind, QCOW2_ZERO);
    CHECK_EQ(e.length, 512);
    CHECK_EQ(qcow2_map(q, 65536 + 4096, 4096, true, &e), 0);
    CHECK_EQ(e.kind, QCOW2_DATA);
    CHECK_EQ(e.host_offset % 65536, 4096);
    uint8_t data[4096];
    memset(data, 0xee, sizeof(data));
    CHECK_EQ(pwrite(fd, data, sizeof(data), (off_t)e.host_offset), 4096);
    CHECK(e.commit != 0);
    CHECK_EQ(qcow2_read(q, data, 4096, 65536 + 4096), 0);   /* not linked before the write is done */
    CHECK_EQ(data[0], 0);
    CHECK_EQ(qcow2_map_done(q, &e, true), 0);
    uint8_t back[8192];
    CHECK_EQ(qcow2_read(q, back, sizeof(back), 65536), 0);
    CHECK_EQ(back[0], 0);
    CHECK_EQ(back[4096], 0xee);
    struct qcow2_extent e2;
    CHECK_EQ(qcow2_map(q, 65536, 100, true, &e2), 0);     /* already allocated: same cluster */
    CHECK_EQ(e2.host_offset, e.host_offset - 4096);
    CHECK(qcow2_map(q, 8 << 20, 1, false, &e) < 0);
    qcow2_close(q);
    close(fd);
}

TEST(zero_clusters_v3_and_v2)
{
    for (uint32_t version = 2; version <= 3; version++) {
        const char *path = tmp("zero.qcow2");
        int fd = make_image(path, 4 << 20, 16, version);
        struct qcow2 *q;
        char err[256];
        CHECK_EQ(qcow2_open(&q, fd, path, false, err, sizeof(err)), 0);
        uint8_t *buf = malloc(1 << 20);
        memset(buf, 0x77, 1 << 20);
        CHECK_EQ(qcow2_write(q, buf, 1 << 20, 0), 0);
        CHECK_EQ(qcow2_discard(q, 65536, 3 * 65536 + 100, QCOW2_DISCARD_ZERO), 0);
        CHECK_EQ(qcow2_read(q, buf, 1 << 20, 0), 0);
        CHECK_EQ(buf[65535], 0x77);
        CHECK_EQ(buf[65536], 0);
        CHECK_EQ(buf[4 * 65536 + 99], 0);
        CHECK_EQ(buf[4 * 65536 + 100], 0x77);
        struct qcow2_extent e;
        CHECK_EQ(qcow2_map(q, 2 * 65536, 1, false, &e), 0);
        CHECK_EQ(e.kind, QCOW2_ZERO);
        free(buf);
        CHECK_EQ(qcow2_close(q), 0);
        close(fd);
        if (have_qemu_img())
            CHECK_EQ(run("qemu-img check -q %s", path), 0);
    }
}

TEST(reads_qemu_zero_clusters)
{
    if (!have_qemu_img() || run("qemu-io --version >/dev/null 2>&1")) {
        fprintf(stderr, "  skipping: qemu-io is not installed\n");
        return;
    }
    const char *path = tmp("qz.qcow2");
    CHECK_EQ(run("qemu-img create -q -f qcow2 %s 4M && qemu-io -c 'write -P 0x11 0 1M' -c 'write -z 64k 128k' %s >/dev/null",
                 path, path), 0);
    int fd = open(path, O_RDONLY);
    struct qcow2 *q;
    char err[256];
    CHECK_EQ(qcow2_open(&q, fd, path, true, err, sizeof(err)), 0);
    uint8_t buf[4 * 65536];
    CHECK_EQ(qcow2_read(q, buf, sizeof(buf), 0), 0);
    CHECK_EQ(buf[65535], 0x11);
    CHECK_EQ(buf[65536], 0);
    CHECK_EQ(buf[3 * 65536 - 1], 0);
    CHECK_EQ(buf[3 * 65536], 0x11);
    qcow2_close(q);
    close(fd);
}

TEST(reads_qemu_compressed_image_and_writes_compressed)
{
    if (!have_qemu_img())
        return;
    const char *raw = tmp("text.raw"), *cz = tmp("text.qcow2"), *ours = tmp("ours_c.qcow2");
    FILE *f = fopen(raw, "w");
    for (int i = 0; i < 100000; i++)
        fprintf(f, "line %d of some compressible text\n", i % 977);
    fclose(f);
    CHECK_EQ(run("truncate -s 4M %s && qemu-img convert -c -O qcow2 %s %s", raw, raw, cz), 0);
    int fd = open(cz, O_RDONLY), rfd = open(raw, O_RDONLY);
    struct qcow2 *q;
    char err[256];
    CHECK_EQ(qcow2_open(&q, fd, cz, true, err, sizeof(err)), 0);
    uint8_t *a = malloc(4 << 20), *b = malloc(4 << 20);
    CHECK_EQ(pread(rfd, b, 4 << 20, 0), 4 << 20);
    CHECK_EQ(qcow2_read(q, a, 4 << 20, 0), 0);
    CHECK(memcmp(a, b, 4 << 20) == 0);
    struct qcow2_extent e;
    CHECK_EQ(qcow2_map(q, 0, 1, false, &e), 0);
    CHECK_EQ(e.kind, QCOW2_COMPRESSED);
    qcow2_close(q);
    close(fd);
    /* Our compressed clusters, checked and read back by qemu-img; then overwritten in place. */
    int ofd = make_image(ours, 4 << 20, 16, 3);
    CHECK_EQ(qcow2_open(&q, ofd, ours, false, err, sizeof(err)), 0);
    for (uint64_t off = 0; off < (4 << 20); off += 65536)
        CHECK_EQ(qcow2_write_compressed(q, b + off, off), 0);
    CHECK_EQ(qcow2_flush(q), 0);
    CHECK_EQ(run("qemu-img compare -q %s %s", ours, raw), 0);   /* (reserved clusters count as leaks while open) */
    memset(b + 100000, 0xab, 5000);
    CHECK_EQ(qcow2_write(q, b + 100000, 5000, 100000), 0);
    CHECK_EQ(qcow2_read(q, a, 4 << 20, 0), 0);
    CHECK(memcmp(a, b, 4 << 20) == 0);
    CHECK_EQ(qcow2_close(q), 0);
    struct stat st;
    fstat(ofd, &st);
    if (st.st_size >= (1 << 20))
        fprintf(stderr, "  compressed image is %lld bytes\n", (long long)st.st_size);
    CHECK(st.st_size < (1 << 20));      /* the text shrinks to well under a quarter */
    close(ofd);
    CHECK_EQ(run("qemu-img check -q %s", ours), 0);
    free(a);
    free(b);
    close(rfd);
}

TEST(refcount_widths_from_qemu_img)
{
    if (!have_qemu_img())
        return;
    static const int widths[] = { 1, 2, 8, 32, 64 };
    for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++) {
        const char *path = tmp("rw.qcow2");
        CHECK_EQ(run("qemu-img create -q -f qcow2 -o refcount_bits=%d,cluster_size=4k %s 16M", widths[i], path), 0);
        int fd = open(path, O_RDWR);
        struct qcow2 *q;
        char err[256];
        CHECK_EQ(qcow2_open(&q, fd, path, false, err, sizeof(err)), 0);
        CHECK_EQ(1u << q->refcount_order, widths[i]);
        uint8_t buf[10000];
        for (int k = 0; k < 300; k++) {
            fill(buf, sizeof(buf), (uint32_t)k);
            CHECK_EQ(qcow2_write(q, buf, sizeof(buf), (uint64_t)k * 50000), 0);
        }
        CHECK_EQ(qcow2_discard(q, 0, 1 << 20, QCOW2_DISCARD_ZERO), 0);
        struct qcow2_check_result r;
        CHECK_EQ(qcow2_check(q, &r, NULL), 0);
        CHECK_EQ(r.corruptions, 0);
        CHECK_EQ(qcow2_close(q), 0);
        close(fd);
        CHECK_EQ(run("qemu-img check -q %s", path), 0);
    }
}

/* ---- hostile images: a clear error, never a crash ---- */

static void poke32(int fd, off_t at, uint32_t v)
{
    v = htobe32(v);
    if (pwrite(fd, &v, 4, at) != 4)
        abort();
}

static void poke64(int fd, off_t at, uint64_t v)
{
    v = htobe64(v);
    if (pwrite(fd, &v, 8, at) != 8)
        abort();
}

static int open_err(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDWR);
    struct qcow2 *q;
    int rc = qcow2_open(&q, fd, path, false, err, errlen);
    if (!rc)
        qcow2_close(q);
    close(fd);
    return rc;
}

TEST(hostile_headers)
{
    const char *path = tmp("bad.qcow2");
    char err[512];
    int fd = make_image(path, 1 << 20, 16, 3);
    CHECK_EQ(ftruncate(fd, 50), 0);
    CHECK(open_err(path, err, sizeof(err)) < 0 && strstr(err, "truncated"));
    close(fd);
    struct { off_t at; int width; uint64_t v; const char *msg; } cases[] = {
        { 4, 4, 4, "version 4" },
        { 20, 4, 30, "cluster_bits 30" },
        { 20, 4, 8, "cluster_bits 8" },
        { 24, 8, 1ULL << 50, "64 TiB" },
        { 32, 4, 1, "encrypted" },
        { 36, 4, 5 << 20, "L1 table of" },
        { 36, 4, 0, "too small" },
        { 40, 8, 1ULL << 40, "L1 table offset" },
        { 40, 8, 65536 + 7, "L1 table offset" },
        { 48, 8, 1ULL << 40, "refcount table offset" },
        { 56, 4, 1u << 20, "refcount table of" },
        { 72, 8, 1ULL << 7, "incompatible feature bit 7" },
        { 72, 8, 1ULL << 2, "bit 2 (external data file)" },
        { 72, 8, 2, "marked corrupt" },
        { 96, 4, 7, "refcount_order 7" },
        { 100, 4, 3, "header length" },
        { 16, 4, 5000, "backing file name" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fd = make_image(path, 1 << 20, 16, 3);
        if (cases[i].at == 16)
            poke64(fd, 8, 4096);
        if (cases[i].width == 4)
            poke32(fd, cases[i].at, (uint32_t)cases[i].v);
        else
            poke64(fd, cases[i].at, cases[i].v);
        close(fd);
        err[0] = 0;
        int rc = open_err(path, err, sizeof(err));
        if (rc >= 0 || !strstr(err, cases[i].msg) || !strstr(err, path))
            fprintf(stderr, "  case %zu: rc %d, message '%s'\n", i, rc, err);
        CHECK(rc < 0 && strstr(err, cases[i].msg) && strstr(err, path));
    }
    /* Compression type other than zlib (header extended to 112 bytes). */
    fd = make_image(path, 1 << 20, 16, 3);
    uint8_t one = 1;
    CHECK_EQ(pwrite(fd, &one, 1, 104), 1);
    close(fd);
    CHECK(open_err(path, err, sizeof(err)) < 0 && strstr(err, "only zlib"));
}

TEST(hostile_tables)
{
    const char *path = tmp("badt.qcow2");
    char err[512];
    uint8_t buf[65536];
    /* Layout of our 1 MiB image: header, refcount table, refcount block, L1 at cluster 3. */
    struct { uint64_t l1e; uint64_t l2e; const char *msg; } cases[] = {
        { 1ULL << 40, 0, "past the end" },
        { 65536 * 2, 0, "metadata" },
        { 65536 + 512, 0, "aligned" },
        { 0, (1ULL << 40) | (1ULL << 63), "past the end" },
        { 0, 65536 | (1ULL << 63), "metadata" },
        { 0, (1ULL << 62) | 300000, "compressed cluster" },
        { 0, (1ULL << 62) | 70000, "inflate" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = make_image(path, 1 << 20, 16, 3);
        if (cases[i].l1e) {
            poke64(fd, 3 * 65536, cases[i].l1e);
        } else {       /* a real L2 table at cluster 4, then the bad entry in it */
            memset(buf, 0, sizeof(buf));
            CHECK_EQ(pwrite(fd, buf, sizeof(buf), 4 * 65536), 65536);
            poke64(fd, 3 * 65536, 4 * 65536 | (1ULL << 63));
            poke64(fd, 4 * 65536, cases[i].l2e);
        }
        struct qcow2 *q;
        CHECK_EQ(qcow2_open(&q, fd, path, false, err, sizeof(err)), 0);
        int rc = qcow2_read(q, buf, 4096, 0);
        if (rc >= 0 || !strstr(q->err, cases[i].msg))
            fprintf(stderr, "  case %zu: rc %d, message '%s'\n", i, rc, q->err);
        CHECK(rc < 0 && strstr(q->err, cases[i].msg));
        CHECK(qcow2_write(q, buf, 4096, 0) < 0);
        struct qcow2_check_result r;
        CHECK_EQ(qcow2_check(q, &r, NULL), 0);
        CHECK(r.corruptions > 0 || cases[i].l2e & (1ULL << 62));
        qcow2_close(q);
        close(fd);
    }
}

TEST(fuzzed_images_do_not_crash)
{
    const char *path = tmp("fuzz.qcow2");
    uint8_t base[4 * 4096 + 8192];
    int fd = make_image(path, 1 << 20, 12, 3);
    struct qcow2 *q;
    char err[512];
    CHECK_EQ(qcow2_open(&q, fd, path, false, err, sizeof(err)), 0);
    fill(base, 8192, 3);
    CHECK_EQ(qcow2_write(q, base, 8192, 12345), 0);
    qcow2_close(q);
    CHECK_EQ(pread(fd, base, sizeof(base), 0), (ssize_t)sizeof(base));
    close(fd);
    srand(42);
    for (int iter = 0; iter < 300; iter++) {
        uint8_t img[sizeof(base)];
        memcpy(img, base, sizeof(img));
        for (int k = 0; k < 1 + iter % 6; k++)
            img[(size_t)rand() % sizeof(img)] ^= (uint8_t)(1u << (rand() % 8));
        fd = open(path, O_RDWR | O_TRUNC);
        CHECK_EQ(pwrite(fd, img, sizeof(img), 0), (ssize_t)sizeof(img));
        if (qcow2_open(&q, fd, path, false, err, sizeof(err)) == 0) {
            uint8_t buf[16384];
            for (uint64_t off = 0; off < q->size && off < (1 << 20); off += sizeof(buf))
                (void)qcow2_read(q, buf, q->size - off < sizeof(buf) ? q->size - off : sizeof(buf), off);
            if (q->size > 20000)
                (void)qcow2_write(q, buf, 5000, 10000);
            struct qcow2_check_result r;
            (void)qcow2_check(q, &r, NULL);
            qcow2_close(q);
        }
        close(fd);
    }
}

/* ---- crash safety: SIGKILL at random moments ---- */

#define CRASH_SIZE (32u << 20)
#define CRASH_BLOCK 4096u
#define CRASH_BLOCKS (CRASH_SIZE / CRASH_BLOCK)

struct crash_msg {
    uint32_t kind;    /* 'W' write of id to block, 'D' discard of the 64 KiB cluster, 'F' all before are durable */
    uint32_t block, id;
};

static void crash_child(const char *path, int out, uint32_t first_id, uint32_t seed)
{
    int fd = open(path, O_RDWR);
    struct qcow2 *q;
    char err[256];
    if (fd < 0 || qcow2_open(&q, fd, path, false, err, sizeof(err)))
        _exit(2);
    uint32_t buf[CRASH_BLOCK / 4];
    srand(seed);
    for (uint32_t id = first_id;; id++) {
        struct crash_msg m = { 'W', (uint32_t)rand() % CRASH_BLOCKS, id };
        if (rand() % 16 == 0)
            m.kind = 'D', m.block &= ~15u;
        if (write(out, &m, sizeof(m)) != sizeof(m))
            _exit(3);
        int rc;
        if (m.kind == 'D') {
            rc = qcow2_discard(q, (uint64_t)m.block * CRASH_BLOCK, 65536, QCOW2_DISCARD_ZERO);
        } else {
            for (size_t i = 0; i < CRASH_BLOCK / 4; i++)
                buf[i] = id;
            rc = qcow2_write(q, buf, CRASH_BLOCK, (uint64_t)m.block * CRASH_BLOCK);
        }
        if (rc)
            _exit(4);
        if (id % 8 == 0) {
            if (qcow2_flush(q))
                _exit(5);
            struct crash_msg f = { 'F', 0, id };
            if (write(out, &f, sizeof(f)) != sizeof(f))
                _exit(3);
        }
    }
}

TEST(sigkill_at_random_moments)
{
    if (!have_qemu_img())
        return;
    const char *path = tmp("crash.qcow2");
    int fd = make_image(path, CRASH_SIZE, 16, 3);
    CHECK(fd >= 0);
    close(fd);
    /* Per 4 KiB block: the id it must hold, or (after unflushed writes) any of a few candidates. */
    uint32_t *durable = calloc(CRASH_BLOCKS, 4);
    uint32_t (*maybe)[8] = calloc(CRASH_BLOCKS, sizeof(*maybe));
    uint8_t *nmaybe = calloc(CRASH_BLOCKS, 1);
    struct crash_msg *log = malloc(sizeof(*log) * 200000);
    uint32_t next_id = 1;
    size_t total_logged = 0, total_flushed = 0;
    srand((unsigned)time(NULL));
    for (int round = 0; round < 20; round++) {
        int p[2];
        CHECK_EQ(pipe(p), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            crash_child(path, p[1], next_id, (uint32_t)rand());
        }
        close(p[1]);
        struct timespec ts = { 0, (long)(5 + rand() % 60) * 1000000L };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        CHECK(WIFSIGNALED(st));
        size_t n = 0;
        ssize_t got;
        while (n < 200000 && (got = read(p[0], &log[n], sizeof(log[0]))) == sizeof(log[0]))
            n++;
        close(p[0]);
        int crc = run("qemu-img check -q %s >/dev/null 2>&1", path);
        if (crc != 0 && crc != 3)
            run("qemu-img check %s >&2", path);
        CHECK(crc == 0 || crc == 3);
        /* Everything up to the last flush is durable; later writes may or may not have landed. */
        size_t last_flush = 0;
        for (size_t i = 0; i < n; i++)
            if (log[i].kind == 'F')
                last_flush = i + 1;
        total_logged += n;
        total_flushed += last_flush;
        for (size_t i = 0; i < n; i++) {
            if (log[i].kind == 'F')
                continue;
            uint32_t id = log[i].kind == 'D' ? 0 : log[i].id;
            for (uint32_t b = log[i].block; b < log[i].block + (log[i].kind == 'D' ? 16 : 1); b++) {
                if (i < last_flush) {
                    durable[b] = id;
                    nmaybe[b] = 0;
                } else if (nmaybe[b] < 8) {
                    maybe[b][nmaybe[b]++] = id;
                }
            }
            if (log[i].id >= next_id)
                next_id = log[i].id + 1;
        }
        fd = open(path, O_RDONLY);
        struct qcow2 *q;
        char err[256];
        CHECK_EQ(qcow2_open(&q, fd, path, true, err, sizeof(err)), 0);
        uint32_t buf[CRASH_BLOCK / 4];
        for (uint32_t b = 0; b < CRASH_BLOCKS; b++) {
            CHECK_EQ(qcow2_read(q, buf, CRASH_BLOCK, (uint64_t)b * CRASH_BLOCK), 0);
            for (uint32_t s = 0; s < CRASH_BLOCK / 4; s += 128) {     /* per 512-byte sector */
                bool ok = buf[s] == durable[b];
                for (int k = 0; k < nmaybe[b]; k++)
                    ok |= buf[s] == maybe[b][k];
                if (!ok)
                    fprintf(stderr, "  round %d block %u sector %u holds %u, durable %u\n", round, b, s / 128, buf[s],
                            durable[b]);
                CHECK(ok);
            }
            durable[b] = buf[0];       /* what is there now is the new baseline */
            nmaybe[b] = 0;
        }
        qcow2_close(q);
        close(fd);
    }
    fprintf(stderr, "  %zu operations logged, %zu of them flushed before a kill\n", total_logged, total_flushed);
    CHECK(total_flushed > 0);
    free(durable);
    free(maybe);
    free(nmaybe);
    free(log);
}

TEST_MAIN()
