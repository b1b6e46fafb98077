/* qcow2 images through the virtio-blk harness and the libaio engine: random reads and writes at
 * queue depth, across clusters, over raw and qcow2 backing files, compressed clusters, zeroes,
 * unaligned buffers, writes waiting for a cluster's copy-on-write, a piece pool run dry; every byte checked against a model of the disk, and
 * the image checked clean afterwards (by vmm's check and, when installed, qemu-img check). */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#define SCRATCH_PREFIX "vmm-qcow2-io"
#include "scratch.h"
#include "tests/harness/vblk.h"
#include "vmm/block/image.h"

#define DISK (8ULL << 20)
#define SLOT (64 * 1024)
#define MAX_QD 32

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd();
}

/* A raw file of `size` random bytes; its contents also in *model when model is not NULL. */
static int make_raw(const char *path, uint64_t size, uint8_t *model)
{
    uint8_t *buf = malloc(size);
    fill_random(buf, size);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd >= 0 && write(fd, buf, size) == (ssize_t)size ? 0 : -1;
    if (fd >= 0)
        close(fd);
    if (model)
        memcpy(model, buf, size);
    free(buf);
    return rc;
}

static int make_qcow2(const char *path, uint32_t cluster_size, const char *backing, const char *bfmt)
{
    struct image_create_opts o = { .format = IMAGE_QCOW2, .size = backing ? 0 : DISK, .backing = backing,
                                   .backing_format = bfmt, .cluster_size = cluster_size };
    char err[512];
    int rc = image_create(path, &o, err, sizeof(err));
    if (rc)
        fprintf(stderr, "  %s\n", err);
    return rc;
}

struct req {
    uint32_t type;
    uint64_t off, len, gpa;
};

static bool overlaps(const struct req *r, int n, uint64_t off, uint64_t len)
{
    for (int i = 0; i < n; i++)
        if (off < r[i].off + r[i].len && r[i].off < off + len)
            return true;
    return false;
}

/* One round: up to MAX_QD requests on disjoint ranges, kicked together; reads checked against the
 * model, writes applied to it. Returns false on a failed status or a wrong byte. */
static bool round_trip(struct vblk_harness *h, uint8_t *model, int qd, uint64_t max_len, bool unaligned, bool reads)
{
    struct req r[MAX_QD];
    int n = 0;
    while (n < qd) {
        uint64_t len = (1 + rnd() % (max_len / 512)) * 512, off = rnd() % (DISK / 512 - len / 512 + 1) * 512;
        if (overlaps(r, n, off, len))
            continue;
        r[n] = (struct req){ !reads && rnd() % 5 < 3 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, off, len,
                             VBH_DATA_GPA + (uint64_t)n * (SLOT + 512) + (unaligned && n % 3 == 0 ? 8 : 0) };
        uint8_t *buf = vbh_ptr(h, r[n].gpa, len);
        if (r[n].type == VIRTIO_BLK_T_OUT) {
            fill_random(buf, len);
            memcpy(model + off, buf, len);
        } else {
            memset(buf, 0x5a, len);
        }
        if (vbh_queue(h, r[n].type, off / 512, r[n].gpa, (uint32_t)len) < 0)
            return false;
        n++;
    }
    vbh_kick(h);
    if (vbh_wait(h, n, 10000) < n)
        return false;
    uint16_t head; uint32_t len; uint8_t st;
    while (vbh_next_used(h, &head, &len, &st))
        if (st != VIRTIO_BLK_S_OK) {
            fprintf(stderr, "  request failed with status %u\n", st);
            return false;
        }
    for (int i = 0; i < n; i++)
        if (r[i].type == VIRTIO_BLK_T_IN && memcmp(vbh_ptr(h, r[i].gpa, r[i].len), model + r[i].off, r[i].len)) {
            fprintf(stderr, "  read of %llu bytes at %llu differs from the model\n", (unsigned long long)r[i].len,
                    (unsigned long long)r[i].off);
            return false;
        }
    return true;
}

static bool simple(struct vblk_harness *h, uint32_t type)
{
    vbh_queue(h, type, 0, 0, 0);
    vbh_kick(h);
    vbh_wait(h, 1, 10000);
    uint16_t head; uint32_t len; uint8_t st = 0xff;
    return vbh_next_used(h, &head, &len, &st) && st == VIRTIO_BLK_S_OK;
}

/* The whole disk, read through the harness in 1 MiB requests, equals the model. */
static bool whole_disk_matches(struct vblk_harness *h, const uint8_t *model)
{
    for (uint64_t off = 0; off < DISK; off += 1 << 20) {
        vbh_queue(h, VIRTIO_BLK_T_IN, off / 512, VBH_DATA_GPA, 1 << 20);
        vbh_kick(h);
        vbh_wait(h, 1, 10000);
        uint16_t head; uint32_t len; uint8_t st = 0xff;
        if (!vbh_next_used(h, &head, &len, &st) || st != VIRTIO_BLK_S_OK ||
            memcmp(vbh_ptr(h, VBH_DATA_GPA, 1 << 20), model + off, 1 << 20)) {
            fprintf(stderr, "  MiB at %llu differs (status %u)\n", (unsigned long long)off, st);
            return false;
        }
    }
    return true;
}

/* After close: the image layer reads the model back and both checkers call the image clean. */
static bool image_clean_and_equal(const char *path, const uint8_t *model)
{
    struct image *img;
    char err[512];
    if (image_open(&img, path, NULL, 0, err, sizeof(err))) {
        fprintf(stderr, "  %s\n", err);
        return false;
    }
    uint8_t *buf = malloc(DISK);
    bool ok = image_read(img, buf, DISK, 0) == 0 && memcmp(buf, model, DISK) == 0;
    struct qcow2_check_result res;
    if (ok && (qcow2_check(img->qcow2, &res, stderr) || res.corruptions || res.leaks)) {
        fprintf(stderr, "  check: %llu corruptions, %llu leaks\n", (unsigned long long)res.corruptions,
                (unsigned long long)res.leaks);
        ok = false;
    }
    free(buf);
    image_close(img);
    if (ok && have_qemu_img() && run("qemu-img check -q %s", path) != 0)
        ok = false;
    return ok;
}

/* Random rounds on `top`, a flush now and then, then the whole-disk and after-close checks. */
static bool workload(const char *top, uint8_t *model, enum blk_cache cache, int rounds, uint64_t max_len,
                     bool unaligned, int read_rounds)
{
    struct vblk_harness h;
    if (vbh_open(&h, top, false, cache, true)) {
        fprintf(stderr, "  cannot open %s in the harness\n", top);
        return false;
    }
    bool ok = true;
    for (int i = 0; ok && i < read_rounds; i++)     /* full queue, reads only: the most pieces */
        ok = round_trip(&h, model, MAX_QD, max_len, unaligned, true);
    for (int i = 0; ok && i < rounds; i++) {
        ok = round_trip(&h, model, 1 + (int)(rnd() % MAX_QD), max_len, unaligned, false);
        if (ok && i % 7 == 6)
            ok = simple(&h, VIRTIO_BLK_T_FLUSH);
    }
    ok = ok && whole_disk_matches(&h, model);
    vbh_close(&h);
    return ok && image_clean_and_equal(top, model);
}

TEST(fresh_image_random_io_across_clusters)
{
    uint8_t *model = calloc(1, DISK);
    CHECK(make_qcow2(tmp("fresh.qcow2"), 0, NULL, NULL) == 0);
    CHECK(workload(tmp("fresh.qcow2"), model, BLK_CACHE_NONE, 60, SLOT, false, 0));
    free(model);
}

TEST(small_clusters_over_raw_backing_with_unaligned_buffers)
{
    uint8_t *model = malloc(DISK);
    CHECK(make_raw(tmp("base.raw"), DISK, model) == 0);
    CHECK(make_qcow2(tmp("over.qcow2"), 4096, "base.raw", "raw") == 0);
    CHECK(workload(tmp("over.qcow2"), model, BLK_CACHE_NONE, 60, SLOT, true, 2));
    free(model);
}

/* 2 MiB clusters: four clusters in all, so writes queue up behind each other's copy-on-write and
 * the copy slots run out (those copies are done at once). */
TEST(2m_clusters_over_raw_backing_writes_wait_for_copies)
{
    uint8_t *model = malloc(DISK);
    CHECK(make_raw(tmp("base4.raw"), DISK, model) == 0);
    CHECK(make_qcow2(tmp("big.qcow2"), 2 << 20, "base4.raw", "raw") == 0);
    CHECK(workload(tmp("big.qcow2"), model, BLK_CACHE_NONE, 30, SLOT, false, 1));
    free(model);
}

/* Small writes straddling 4 KiB clusters: up to two copies per request, more than there are slots. */
TEST(small_writes_over_raw_backing_run_out_of_copy_slots)
{
    uint8_t *model = malloc(DISK);
    CHECK(make_raw(tmp("base5.raw"), DISK, model) == 0);
    CHECK(make_qcow2(tmp("small.qcow2"), 4096, "base5.raw", "raw") == 0);
    CHECK(workload(tmp("small.qcow2"), model, BLK_CACHE_NONE, 60, 8192, false, 0));
    free(model);
}

TEST(1k_clusters_over_qcow2_chain_run_the_piece_pool_dry)
{
    uint8_t *model = malloc(DISK);
    CHECK(make_raw(tmp("base2.raw"), DISK, model) == 0);
    CHECK(make_qcow2(tmp("mid.qcow2"), 1024, "base2.raw", "raw") == 0);
    /* Scatter data into the middle image, so reads of the top alternate between three files. */
    struct image *mid;
    char err[512];
    CHECK(image_open(&mid, tmp("mid.qcow2"), NULL, IMAGE_RDWR, err, sizeof(err)) == 0);
    uint8_t sector[512];
    for (uint64_t s = 0; s < DISK / 512; s += 3) {
        fill_random(sector, sizeof(sector));
        CHECK(image_write(mid, sector, 512, s * 512) == 0);
        memcpy(model + s * 512, sector, 512);
    }
    CHECK(image_flush(mid) == 0);
    image_close(mid);
    CHECK(make_qcow2(tmp("top.qcow2"), 1024, "mid.qcow2", "qcow2") == 0);
    CHECK(workload(tmp("top.qcow2"), model, BLK_CACHE_NONE, 30, SLOT, false, 3));
    free(model);
}

TEST(writeback_cache_and_zeroed_ranges)
{
    uint8_t *model = malloc(DISK);
    CHECK(make_raw(tmp("base3.raw"), DISK, model) == 0);
    CHECK(make_qcow2(tmp("wb.qcow2"), 0, "base3.raw", "raw") == 0);
    struct vblk_harness h;
    CHECK(vbh_open(&h, tmp("wb.qcow2"), false, BLK_CACHE_WRITEBACK, true) == 0);
    CHECK(round_trip(&h, model, MAX_QD, SLOT, false, false));
    /* Write-zeroes over 1 MiB at 1 MiB: whole clusters become zero clusters, reads give zeroes. */
    uint8_t seg[16] = { 0 };
    uint64_t sector = 2048;
    uint32_t count = 2048;
    memcpy(seg, &sector, 8);
    memcpy(seg + 8, &count, 4);
    memcpy(vbh_ptr(&h, VBH_DATA_GPA, 16), seg, 16);
    vbh_queue(&h, VIRTIO_BLK_T_WRITE_ZEROES, 0, VBH_DATA_GPA, 16);
    vbh_kick(&h);
    CHECK_EQ(vbh_wait(&h, 1, 5000), 1);
    uint16_t head; uint32_t len; uint8_t st;
    CHECK(vbh_next_used(&h, &head, &len, &st) && st == VIRTIO_BLK_S_OK);
    memset(model + (1 << 20), 0, 1 << 20);
    CHECK(round_trip(&h, model, MAX_QD, SLOT, false, false));
    CHECK(whole_disk_matches(&h, model));
    vbh_close(&h);
    CHECK(image_clean_and_equal(tmp("wb.qcow2"), model));
    free(model);
}

TEST(compressed_clusters_read_and_overwritten)
{
    uint8_t *model = malloc(DISK);
    CHECK(make_raw(tmp("src.raw"), DISK, model) == 0);
    /* Half the clusters compressible: text-like bytes compress, random ones are stored plainly. */
    for (uint64_t off = 0; off < DISK; off += 2 * 65536)
        for (uint64_t i = 0; i < 65536; i++)
            model[off + i] = (uint8_t)('a' + i % 7);
    int fd = open(tmp("src.raw"), O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, model, DISK, 0) == (ssize_t)DISK);
    close(fd);
    char err[512];
    CHECK(image_convert(tmp("src.raw"), "raw", tmp("z.qcow2"), IMAGE_QCOW2, 0, true, err, sizeof(err)) == 0);
    CHECK(workload(tmp("z.qcow2"), model, BLK_CACHE_NONE, 40, SLOT, false, 2));
    free(model);
}

TEST_MAIN()
