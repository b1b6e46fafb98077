/* virtio-blk through the in-process harness: real device, real raw image with the libaio backend,
 * virtqueues in guest memory; request parsing, data, status bytes, used ring, hostile chains,
 * several request queues. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "tests/harness/vblk.h"

#define IMG_SECTORS 2048   /* 1 MiB */

/* A temporary image whose sector n is filled with the byte (n & 0xff). */
static char *make_image(void)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/vmm-vblk-XXXXXX");
    int fd = mkstemp(path);
    uint8_t sector[512];
    for (int n = 0; n < IMG_SECTORS; n++) {
        memset(sector, n & 0xff, sizeof(sector));
        if (write(fd, sector, sizeof(sector)) != sizeof(sector))
            return NULL;
    }
    close(fd);
    return path;
}

static int open_h(struct vblk_harness *h, const char **path, bool ro, enum blk_cache cache, bool event_idx)
{
    *path = make_image();
    return vbh_open(h, *path, ro, cache, event_idx);
}

static void one(struct vblk_harness *h, uint32_t type, uint64_t sector, uint64_t gpa, uint32_t len,
                uint8_t *status, uint32_t *written)
{
    vbh_queue(h, type, sector, gpa, len);
    vbh_kick(h);
    vbh_wait(h, 1, 5000);
    uint16_t head;
    *status = 0xaa;
    *written = 0xffffffff;
    vbh_next_used(h, &head, written, status);
}

TEST(read_sectors)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_WRITEBACK, true) == 0);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_IN, 7, VBH_DATA_GPA, 4096, &st, &wr);
    uint8_t *d = vbh_ptr(&h, VBH_DATA_GPA, 4096);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    CHECK_EQ(wr, 4097);
    CHECK_EQ(d[0], 7);
    CHECK_EQ(d[4095], 14);
    CHECK(h.irqs == 0 || h.irqs > 0);
    vbh_close(&h);
    unlink(path);
}

TEST(write_then_read_back_on_host_file)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_NONE, true) == 0);
    uint8_t *d = vbh_ptr(&h, VBH_DATA_GPA, 8192);
    for (int i = 0; i < 8192; i++)
        d[i] = (uint8_t)(i * 7);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_OUT, 100, VBH_DATA_GPA, 8192, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    CHECK_EQ(wr, 1);
    one(&h, VIRTIO_BLK_T_FLUSH, 0, 0, 0, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    vbh_close(&h);
    int fd = open(path, O_RDONLY);
    uint8_t back[8192];
    CHECK(pread(fd, back, sizeof(back), 100 * 512) == (ssize_t)sizeof(back));
    close(fd);
    unlink(path);
    for (int i = 0; i < 8192; i++)
        CHECK_EQ(back[i], (uint8_t)(i * 7));
}

TEST(unaligned_buffer_with_cache_none_still_works)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_NONE, false) == 0);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_IN, 3, VBH_DATA_GPA + 3, 512, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    CHECK_EQ(*(uint8_t *)vbh_ptr(&h, VBH_DATA_GPA + 3, 1), 3);
    vbh_close(&h);
    unlink(path);
}

TEST(readonly_disk_rejects_writes_and_file_is_untouched)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, true, BLK_CACHE_WRITEBACK, true) == 0);
    memset(vbh_ptr(&h, VBH_DATA_GPA, 512), 0x55, 512);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_OUT, 1, VBH_DATA_GPA, 512, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_IOERR);
    vbh_close(&h);
    int fd = open(path, O_RDONLY);
    uint8_t back[512];
    CHECK(pread(fd, back, 512, 512) == 512);
    close(fd);
    unlink(path);
    CHECK_EQ(back[0], 1);
}

TEST(read_past_end_is_an_error)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_WRITEBACK, true) == 0);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_IN, IMG_SECTORS - 1, VBH_DATA_GPA, 1024, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_IOERR);
    one(&h, VIRTIO_BLK_T_IN, UINT64_MAX / 256, VBH_DATA_GPA, 512, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_IOERR);
    one(&h, VIRTIO_BLK_T_IN, 0, VBH_DATA_GPA, 100, &st, &wr);   /* not a sector multiple */
    CHECK_EQ(st, VIRTIO_BLK_S_IOERR);
    vbh_close(&h);
    unlink(path);
}

/* A host-side failure (the image shrank under the VM) reaches the guest as IOERR, never OK. */
TEST(host_io_error_is_reported)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_WRITEBACK, true) == 0);
    CHECK(truncate(path, 4096) == 0);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_IN, 100, VBH_DATA_GPA, 4096, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_IOERR);
    one(&h, VIRTIO_BLK_T_IN, 0, VBH_DATA_GPA, 4096, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    vbh_close(&h);
    unlink(path);
}

TEST(get_id_and_unsupported_type)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_WRITEBACK, true) == 0);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_GET_ID, 0, VBH_DATA_GPA, 20, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    CHECK(memcmp(vbh_ptr(&h, VBH_DATA_GPA, 8), "harness", 8) == 0);
    one(&h, 99, 0, VBH_DATA_GPA, 512, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_UNSUPP);
    vbh_close(&h);
    unlink(path);
}

TEST(discard_and_write_zeroes)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_WRITEBACK, true) == 0);
    uint8_t seg[16] = { 0 };
    uint64_t sector = 16;
    uint32_t count = 8;
    memcpy(seg, &sector, 8);
    memcpy(seg + 8, &count, 4);
    memcpy(vbh_ptr(&h, VBH_DATA_GPA, 16), seg, 16);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_WRITE_ZEROES, 0, VBH_DATA_GPA, 16, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    one(&h, VIRTIO_BLK_T_IN, 16, VBH_DATA_GPA + 4096, 4096, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    uint8_t *d = vbh_ptr(&h, VBH_DATA_GPA + 4096, 4096);
    for (int i = 0; i < 4096; i++)
        CHECK_EQ(d[i], 0);
    sector = 100;
    memcpy(seg, &sector, 8);
    memcpy(vbh_ptr(&h, VBH_DATA_GPA, 16), seg, 16);
    one(&h, VIRTIO_BLK_T_DISCARD, 0, VBH_DATA_GPA, 16, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    vbh_close(&h);
    unlink(path);
}

TEST(queue_depth_32_all_complete)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_NONE, true) == 0);
    for (int i = 0; i < 32; i++)
        CHECK(vbh_queue(&h, VIRTIO_BLK_T_IN, (uint64_t)i * 8, VBH_DATA_GPA + (uint64_t)i * 4096, 4096) >= 0);
    vbh_kick(&h);
    CHECK_EQ(vbh_wait(&h, 32, 5000), 32);
    uint16_t head; uint32_t len; uint8_t st;
    int ok = 0;
    while (vbh_next_used(&h, &head, &len, &st))
        ok += st == VIRTIO_BLK_S_OK && len == 4097;
    CHECK_EQ(ok, 32);
    for (int i = 0; i < 32; i++)
        CHECK_EQ(*(uint8_t *)vbh_ptr(&h, VBH_DATA_GPA + (uint64_t)i * 4096, 1), (uint8_t)(i * 8));
    vbh_close(&h);
    unlink(path);
}

TEST(header_split_across_buffers)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_WRITEBACK, true) == 0);
    uint8_t hdr[16] = { 0 };
    uint64_t sector = 9;
    memcpy(hdr + 8, &sector, 8);
    memcpy(vbh_ptr(&h, 0x300000, 16), hdr, 16);
    vbh_raw_desc(&h, 200, 0x300000, 5, VQ_DESC_F_NEXT, 201);
    vbh_raw_desc(&h, 201, 0x300005, 11, VQ_DESC_F_NEXT, 202);
    vbh_raw_desc(&h, 202, VBH_DATA_GPA, 512, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 203);
    vbh_raw_desc(&h, 203, 0x300100, 1, VQ_DESC_F_WRITE, 0);
    vbh_publish(&h, 200);
    vbh_kick(&h);
    CHECK_EQ(vbh_wait(&h, 1, 5000), 1);
    CHECK_EQ(*(uint8_t *)vbh_ptr(&h, 0x300100, 1), VIRTIO_BLK_S_OK);
    CHECK_EQ(*(uint8_t *)vbh_ptr(&h, VBH_DATA_GPA, 1), 9);
    vbh_close(&h);
    unlink(path);
}

/* Garbage from the guest: the device sets NEEDS_RESET instead of crashing or writing anywhere. */
static void hostile(void (*build)(struct vblk_harness *h), int *failed)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_WRITEBACK, true) == 0);
    build(&h);
    vbh_kick(&h);
    for (int i = 0; i < 10; i++)
        loop_poll(&h.loop, 10);
    CHECK(vbh_device_status(&h) & VIRTIO_STATUS_NEEDS_RESET);
    vbh_close(&h);
    unlink(path);
}

static void chain_outside_ram(struct vblk_harness *h)
{
    vbh_raw_desc(h, 0, 1ULL << 40, 16, VQ_DESC_F_NEXT, 1);
    vbh_raw_desc(h, 1, 0x300100, 1, VQ_DESC_F_WRITE, 0);
    vbh_publish(h, 0);
}

static void chain_no_status(struct vblk_harness *h)
{
    vbh_raw_desc(h, 0, 0x300000, 16, 0, 0);
    vbh_publish(h, 0);
}

static void chain_loop(struct vblk_harness *h)
{
    vbh_raw_desc(h, 0, 0x300000, 16, VQ_DESC_F_NEXT, 1);
    vbh_raw_desc(h, 1, 0x300100, 1, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 0);
    vbh_publish(h, 0);
}

static void head_out_of_range(struct vblk_harness *h)
{
    vbh_publish(h, 4000);
}

static void short_header(struct vblk_harness *h)
{
    vbh_raw_desc(h, 0, 0x300000, 8, VQ_DESC_F_NEXT, 1);
    vbh_raw_desc(h, 1, 0x300100, 1, VQ_DESC_F_WRITE, 0);
    vbh_publish(h, 0);
}

TEST(hostile_chain_outside_ram) { hostile(chain_outside_ram, failed); }
TEST(hostile_chain_without_status) { hostile(chain_no_status, failed); }
TEST(hostile_chain_loop) { hostile(chain_loop, failed); }
TEST(hostile_head_out_of_range) { hostile(head_out_of_range, failed); }
TEST(hostile_short_header) { hostile(short_header, failed); }

TEST(reset_recovers_after_needs_reset)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_WRITEBACK, true) == 0);
    head_out_of_range(&h);
    vbh_kick(&h);
    loop_poll(&h.loop, 50);
    CHECK(vbh_device_status(&h) & VIRTIO_STATUS_NEEDS_RESET);
    vbh_close(&h);
    CHECK(vbh_open(&h, path, false, BLK_CACHE_WRITEBACK, true) == 0);
    uint8_t st; uint32_t wr;
    one(&h, VIRTIO_BLK_T_IN, 2, VBH_DATA_GPA, 512, &st, &wr);
    CHECK_EQ(st, VIRTIO_BLK_S_OK);
    vbh_close(&h);
    unlink(path);
}

TEST(parse_rejects_missing_framing)
{
    static struct vq_chain c;
    static struct blk_parsed p;
    uint8_t hdr[16] = { 0 }, status;
    memset(&c, 0, sizeof(c));
    c.nout = 1;
    c.bufs[0] = (struct vq_buf){ hdr, 16 };
    c.out_bytes = 16;
    CHECK(virtio_blk_parse(&c, &p) < 0);          /* no writable status byte */
    c.nin = 1;
    c.bufs[1] = (struct vq_buf){ &status, 1 };
    c.in_bytes = 1;
    CHECK(virtio_blk_parse(&c, &p) == 0);
    CHECK(p.status == &status);
    CHECK_EQ(p.ndata, 0);
}

static uint16_t config16(struct vblk_harness *h, unsigned off)
{
    uint16_t v = 0;
    struct pci_bar *bar = &h->blk.vp.pci.bars[4];
    bar->fn(bar->opaque, 0x2000 + off, (uint8_t *)&v, 2, false);
    return v;
}

TEST(single_queue_does_not_offer_mq)
{
    struct vblk_harness h; const char *path;
    CHECK(open_h(&h, &path, false, BLK_CACHE_NONE, true) == 0);
    CHECK(!(h.blk.vp.device_features & (1ULL << 12)));
    CHECK_EQ(config16(&h, 34), 1);                       /* num_queues */
    vbh_close(&h);
    unlink(path);
}

/* virtio 1.2 §5.2.3 VIRTIO_BLK_F_MQ: four queues, each request completes on the queue it came
 * from, with that queue's MSI-X vector. */
TEST(multiqueue_requests_complete_on_their_queue)
{
    struct vblk_harness h;
    const char *path = make_image();
    CHECK(path && vbh_open_mq(&h, path, false, BLK_CACHE_NONE, true, 4) == 0);
    CHECK(h.blk.vp.driver_features & (1ULL << 12));
    CHECK_EQ(config16(&h, 34), 4);
    CHECK_EQ(h.blk.vp.ops->nqueues, 4);
    CHECK(vbh_start_thread(&h) == 0);
    for (int round = 0; round < 20; round++) {
        for (int q = 0; q < 4; q++)
            for (int i = 0; i < 8; i++) {
                uint64_t sector = (uint64_t)(round * 64 + q * 16 + i) % IMG_SECTORS;
                uint64_t gpa = VBH_DATA_GPA + (uint64_t)(q * 8 + i) * 4096;
                CHECK(vbh_queue_on(&h, q, VIRTIO_BLK_T_IN, sector, gpa, 512) >= 0);
            }
        for (int q = 3; q >= 0; q--)
            vbh_kick_on(&h, q);
        for (int q = 0; q < 4; q++) {
            CHECK_EQ(vbh_wait_on(&h, q, 8, 5000), 8);
            uint16_t head; uint32_t len; uint8_t st;
            int got = 0;
            while (vbh_next_used_on(&h, q, &head, &len, &st)) {
                CHECK_EQ(st, VIRTIO_BLK_S_OK);
                CHECK_EQ(len, 513);
                got++;
            }
            CHECK_EQ(got, 8);
            for (int i = 0; i < 8; i++) {
                uint64_t sector = (uint64_t)(round * 64 + q * 16 + i) % IMG_SECTORS;
                CHECK_EQ(*(uint8_t *)vbh_ptr(&h, VBH_DATA_GPA + (uint64_t)(q * 8 + i) * 4096, 1), sector & 0xff);
            }
        }
    }
    for (int q = 0; q < 4; q++)
        CHECK(__atomic_load_n(&h.vector_irqs[q], __ATOMIC_RELAXED) > 0);
    CHECK_EQ(__atomic_load_n(&h.vector_irqs[4], __ATOMIC_RELAXED), 0);   /* the config vector stayed quiet */
    vbh_close(&h);
    unlink(path);
}

TEST(multiqueue_kick_on_a_disabled_queue_does_nothing)
{
    struct vblk_harness h;
    const char *path = make_image();
    CHECK(path && vbh_open_mq(&h, path, false, BLK_CACHE_NONE, true, 2) == 0);
    vbh_kick_on(&h, 5);                                   /* past num_queues: ignored */
    loop_poll(&h.loop, 20);
    CHECK(!(vbh_device_status(&h) & VIRTIO_STATUS_NEEDS_RESET));
    uint8_t st; uint32_t wr;
    vbh_queue_on(&h, 1, VIRTIO_BLK_T_IN, 3, VBH_DATA_GPA, 512);
    vbh_kick_on(&h, 1);
    CHECK_EQ(vbh_wait_on(&h, 1, 1, 5000), 1);
    uint16_t head;
    CHECK(vbh_next_used_on(&h, 1, &head, &wr, &st) && st == VIRTIO_BLK_S_OK);
    CHECK_EQ(*(uint8_t *)vbh_ptr(&h, VBH_DATA_GPA, 1), 3);
    CHECK_EQ(vbh_wait_on(&h, 0, 1, 10), 0);              /* nothing on queue 0 */
    vbh_close(&h);
    unlink(path);
}

TEST_MAIN()
