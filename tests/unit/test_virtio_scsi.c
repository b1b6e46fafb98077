/* virtio-scsi through the in-process harness: real adapter, real image with the libaio backend,
 * queues in guest memory; INQUIRY and READ(10) on LUN 0, autosense, bad targets, overrun,
 * hostile chains, configuration space and the control queue. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "tests/harness/vscsi.h"

#define IMG_BLOCKS 64
#define IMG_BYTES (IMG_BLOCKS * 2048 + 1024)   /* last block partial */
#define RESP_SIZE ((uint32_t)sizeof(struct vsh_resp))
#define Q_REQ VIRTIO_SCSI_Q_REQUEST
#define Q_CTL VIRTIO_SCSI_Q_CONTROL

static uint8_t image_byte(uint64_t off)
{
    return (uint8_t)(off / 2048 * 13 + off % 241);
}

static const char *make_image(void)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/vmm-vscsi-XXXXXX");
    int fd = mkstemp(path);
    static uint8_t buf[IMG_BYTES];
    for (uint64_t i = 0; i < IMG_BYTES; i++)
        buf[i] = image_byte(i);
    if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
        return NULL;
    close(fd);
    return path;
}

static struct vscsi_harness h;
static const char *img;

static bool open_h(void)
{
    img = make_image();
    return img && vsh_open(&h, img) == 0;
}

static void close_h(void)
{
    vsh_close(&h);
    unlink(img);
}

static const uint8_t TUR[6] = { 0x00 };

/* Kicks `q` and lets the event loop run the device. */
static void kick_and_poll(int q)
{
    vsh_kick(&h, q);
    for (int i = 0; i < 10; i++)
        loop_poll(&h.loop, 10);
}

/* Clears the power-on unit attention. */
static void settle(void)
{
    struct vsh_resp r;
    uint32_t len;
    vsh_run(&h, 0, TUR, sizeof(TUR), 0, 0, &r, &len);
}

TEST(config_space)
{
    CHECK(open_h());
    struct pci_bar *bar = &h.scsi.vp.pci.bars[4];
    uint32_t cfg[9];
    for (int i = 0; i < 9; i++)
        bar->fn(bar->opaque, 0x2000 + 4ULL * i, (uint8_t *)&cfg[i], 4, false);
    CHECK_EQ(cfg[0], 1);                             /* num_queues */
    CHECK_EQ(cfg[1], VIRTIO_SCSI_SEG_MAX);
    CHECK_EQ(cfg[4], 16);                            /* event_info_size */
    CHECK_EQ(cfg[5], 96);                            /* sense_size */
    CHECK_EQ(cfg[6], 32);                            /* cdb_size */
    CHECK_EQ(cfg[7], 0);                             /* max_channel, max_target */
    CHECK_EQ(cfg[8], 0);                             /* max_lun */
    uint32_t big = 100000, cdb = 16;
    bar->fn(bar->opaque, 0x2000 + 20, (uint8_t *)&big, 4, true);    /* ignored */
    bar->fn(bar->opaque, 0x2000 + 24, (uint8_t *)&cdb, 4, true);
    CHECK_EQ(h.scsi.sense_size, 96);
    CHECK_EQ(h.scsi.cdb_size, 16);
    close_h();
}

TEST(inquiry_on_lun0)
{
    CHECK(open_h());
    uint8_t cdb[6] = { 0x12, 0, 0, 0, 96 };
    struct vsh_resp r;
    uint32_t len;
    uint8_t *d = vsh_ptr(&h, VSH_DATA_GPA, 256);
    memset(d, 0xee, 256);
    CHECK(vsh_run(&h, 0, cdb, sizeof(cdb), VSH_DATA_GPA, 256, &r, &len));
    CHECK_EQ(r.response, VIRTIO_SCSI_S_OK);
    CHECK_EQ(r.status, 0);
    CHECK_EQ(r.sense_len, 0);
    CHECK_EQ(r.residual, 256 - 36);
    CHECK_EQ(len, RESP_SIZE + 36);
    CHECK_EQ(d[0], 0x05);
    CHECK_EQ(d[1], 0x80);
    CHECK(!memcmp(d + 8, "VMM     CD-ROM", 14));
    CHECK_EQ(d[36], 0xee);                           /* nothing past the reply */
    close_h();
}

TEST(unit_attention_in_autosense)
{
    CHECK(open_h());
    struct vsh_resp r;
    uint32_t len;
    CHECK(vsh_run(&h, 0, TUR, sizeof(TUR), 0, 0, &r, &len));
    CHECK_EQ(r.response, VIRTIO_SCSI_S_OK);
    CHECK_EQ(r.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(r.sense_len, 18);
    CHECK_EQ(r.sense[2], SCSI_SK_UNIT_ATTENTION);
    CHECK_EQ(r.sense[12], 0x29);
    CHECK_EQ(len, RESP_SIZE);
    CHECK(vsh_run(&h, 0, TUR, sizeof(TUR), 0, 0, &r, &len));
    CHECK_EQ(r.status, SCSI_STATUS_GOOD);
    CHECK_EQ(r.sense_len, 0);
    close_h();
}

TEST(read10_data_equals_image)
{
    CHECK(open_h());
    settle();
    uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 3, 0, 0, 4 };   /* LBA 3, 4 blocks */
    struct vsh_resp r;
    uint32_t len;
    uint8_t *d = vsh_ptr(&h, VSH_DATA_GPA, 4 * 2048);
    memset(d, 0xee, 4 * 2048);
    CHECK(vsh_run(&h, 0, cdb, sizeof(cdb), VSH_DATA_GPA, 4 * 2048, &r, &len));
    CHECK_EQ(r.response, VIRTIO_SCSI_S_OK);
    CHECK_EQ(r.status, SCSI_STATUS_GOOD);
    CHECK_EQ(r.residual, 0);
    CHECK_EQ(len, RESP_SIZE + 4 * 2048);
    for (uint32_t i = 0; i < 4 * 2048; i++)
        CHECK_EQ(d[i], image_byte(3 * 2048 + i));
    /* The partial last block reads zero-padded. */
    uint8_t last[10] = { 0x28, 0, 0, 0, 0, IMG_BLOCKS, 0, 0, 1 };
    memset(d, 0xee, 2048);
    CHECK(vsh_run(&h, 0, last, sizeof(last), VSH_DATA_GPA, 2048, &r, &len));
    CHECK_EQ(r.status, SCSI_STATUS_GOOD);
    CHECK_EQ(len, RESP_SIZE + 2048);
    CHECK_EQ(d[0], image_byte(IMG_BLOCKS * 2048));
    CHECK_EQ(d[1023], image_byte(IMG_BLOCKS * 2048 + 1023));
    CHECK_EQ(d[1024], 0);
    CHECK_EQ(d[2047], 0);
    close_h();
}

TEST(response_and_data_in_one_buffer)
{
    CHECK(open_h());
    settle();
    uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 2, 0, 0, 1 };
    uint8_t req[51] = { 1, 0, 0x40, 0 };
    memcpy(req + 19, cdb, sizeof(cdb));
    mem_write(&h.mem, vsh_req_gpa(0), req, sizeof(req));
    /* Request split over two buffers; response, data-in over two more at odd boundaries. */
    vsh_raw_desc(&h, Q_REQ, 0, vsh_req_gpa(0), 7, VQ_DESC_F_NEXT, 1);
    vsh_raw_desc(&h, Q_REQ, 1, vsh_req_gpa(0) + 7, 44, VQ_DESC_F_NEXT, 2);
    vsh_raw_desc(&h, Q_REQ, 2, VSH_DATA_GPA, 100, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 3);
    vsh_raw_desc(&h, Q_REQ, 3, VSH_DATA_GPA + 100, RESP_SIZE - 100 + 2048, VQ_DESC_F_WRITE, 0);
    vsh_publish(&h, Q_REQ, 0);
    vsh_kick(&h, Q_REQ);
    CHECK_EQ(vsh_wait(&h, Q_REQ, 1, 5000), 1);
    uint16_t head;
    uint32_t len;
    CHECK(vsh_next_used(&h, Q_REQ, &head, &len));
    CHECK_EQ(len, RESP_SIZE + 2048);
    struct vsh_resp r;
    mem_read(&h.mem, VSH_DATA_GPA, &r, sizeof(r));
    CHECK_EQ(r.response, VIRTIO_SCSI_S_OK);
    CHECK_EQ(r.status, SCSI_STATUS_GOOD);
    uint8_t *d = vsh_ptr(&h, VSH_DATA_GPA + RESP_SIZE, 2048);
    for (uint32_t i = 0; i < 2048; i++)
        CHECK_EQ(d[i], image_byte(2 * 2048 + i));
    close_h();
}

TEST(batch_of_reads_in_one_kick)
{
    CHECK(open_h());
    settle();
    int heads[8];
    for (int i = 0; i < 8; i++) {
        uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, (uint8_t)(i * 2), 0, 0, 2 };
        heads[i] = vsh_command(&h, 0, 0, cdb, sizeof(cdb), VSH_DATA_GPA + 0x10000ULL * i, 0, 2 * 2048);
    }
    vsh_kick(&h, Q_REQ);
    CHECK_EQ(vsh_wait(&h, Q_REQ, 8, 5000), 8);
    for (int i = 0; i < 8; i++) {
        uint16_t head;
        uint32_t len;
        CHECK(vsh_next_used(&h, Q_REQ, &head, &len));
        CHECK_EQ(len, RESP_SIZE + 2 * 2048);
        struct vsh_resp r;
        vsh_response(&h, head, &r);
        CHECK_EQ(r.status, SCSI_STATUS_GOOD);
        int k = -1;
        for (int j = 0; j < 8; j++)
            if (heads[j] == head)
                k = j;
        CHECK(k >= 0);
        uint8_t *d = vsh_ptr(&h, VSH_DATA_GPA + 0x10000ULL * k, 4096);
        CHECK_EQ(d[0], image_byte((uint64_t)k * 2 * 2048));
        CHECK_EQ(d[4095], image_byte((uint64_t)k * 2 * 2048 + 4095));
    }
    close_h();
}

TEST(out_of_range_read_and_overrun)
{
    CHECK(open_h());
    settle();
    struct vsh_resp r;
    uint32_t len;
    uint8_t beyond[10] = { 0x28, 0, 0, 0, 0, IMG_BLOCKS + 1, 0, 0, 1 };
    CHECK(vsh_run(&h, 0, beyond, sizeof(beyond), VSH_DATA_GPA, 2048, &r, &len));
    CHECK_EQ(r.response, VIRTIO_SCSI_S_OK);
    CHECK_EQ(r.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(r.sense[2], SCSI_SK_ILLEGAL_REQUEST);
    CHECK_EQ(r.sense[12], 0x21);
    CHECK_EQ(r.residual, 2048);
    uint8_t four[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 4 };   /* 8 KiB into a 2 KiB buffer */
    CHECK(vsh_run(&h, 0, four, sizeof(four), VSH_DATA_GPA, 2048, &r, &len));
    CHECK_EQ(r.response, VIRTIO_SCSI_S_OVERRUN);
    CHECK_EQ(len, RESP_SIZE);
    uint8_t write10[10] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1 };
    int head = vsh_command(&h, 0, 0, write10, sizeof(write10), VSH_DATA_GPA, 2048, 0);
    vsh_kick(&h, Q_REQ);
    CHECK_EQ(vsh_wait(&h, Q_REQ, 1, 5000), 1);
    uint16_t got;
    CHECK(vsh_next_used(&h, Q_REQ, &got, &len));
    CHECK_EQ(got, head);
    vsh_response(&h, got, &r);
    CHECK_EQ(r.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(r.sense[2], SCSI_SK_DATA_PROTECT);
    CHECK_EQ(r.residual, 2048);
    close_h();
}

TEST(other_targets_and_luns_are_bad_targets)
{
    CHECK(open_h());
    uint8_t cdb[6] = { 0x12, 0, 0, 0, 36 };
    struct vsh_resp r;
    uint32_t len;
    CHECK(vsh_run(&h, 1, cdb, sizeof(cdb), VSH_DATA_GPA, 36, &r, &len));
    CHECK_EQ(r.response, VIRTIO_SCSI_S_BAD_TARGET);
    CHECK_EQ(len, RESP_SIZE);
    vsh_command(&h, 0, 1, cdb, sizeof(cdb), VSH_DATA_GPA, 0, 36);   /* LUN 1 */
    vsh_kick(&h, Q_REQ);
    CHECK_EQ(vsh_wait(&h, Q_REQ, 1, 5000), 1);
    uint16_t head;
    CHECK(vsh_next_used(&h, Q_REQ, &head, &len));
    vsh_response(&h, head, &r);
    CHECK_EQ(r.response, VIRTIO_SCSI_S_BAD_TARGET);
    CHECK(vsh_run(&h, 0, cdb, sizeof(cdb), VSH_DATA_GPA, 36, &r, &len));
    CHECK_EQ(r.response, VIRTIO_SCSI_S_OK);
    close_h();
}

TEST(short_request_header_needs_reset)
{
    CHECK(open_h());
    uint64_t req = vsh_req_gpa(0), resp = vsh_resp_gpa(0);
    vsh_raw_desc(&h, Q_REQ, 0, req, 20, VQ_DESC_F_NEXT, 1);       /* header without its CDB */
    vsh_raw_desc(&h, Q_REQ, 1, resp, RESP_SIZE, VQ_DESC_F_WRITE, 0);
    vsh_publish(&h, Q_REQ, 0);
    kick_and_poll(Q_REQ);
    CHECK(vsh_device_status(&h) & VIRTIO_STATUS_NEEDS_RESET);
    close_h();
}

TEST(short_response_needs_reset)
{
    CHECK(open_h());
    uint64_t req = vsh_req_gpa(0), resp = vsh_resp_gpa(0);
    vsh_raw_desc(&h, Q_REQ, 0, req, 51, VQ_DESC_F_NEXT, 1);
    vsh_raw_desc(&h, Q_REQ, 1, resp, 12, VQ_DESC_F_WRITE, 0);      /* no room for the sense */
    vsh_publish(&h, Q_REQ, 0);
    kick_and_poll(Q_REQ);
    CHECK(vsh_device_status(&h) & VIRTIO_STATUS_NEEDS_RESET);
    close_h();
}

TEST(descriptor_outside_ram_needs_reset)
{
    CHECK(open_h());
    vsh_raw_desc(&h, Q_REQ, 0, 1ULL << 40, 51, VQ_DESC_F_NEXT, 1);
    vsh_raw_desc(&h, Q_REQ, 1, vsh_resp_gpa(0), RESP_SIZE, VQ_DESC_F_WRITE, 0);
    vsh_publish(&h, Q_REQ, 0);
    kick_and_poll(Q_REQ);
    CHECK(vsh_device_status(&h) & VIRTIO_STATUS_NEEDS_RESET);
    close_h();
}

TEST(bad_control_request_needs_reset)
{
    CHECK(open_h());
    uint32_t type = 77;
    mem_write(&h.mem, 0x380000, &type, 4);
    vsh_raw_desc(&h, Q_CTL, 0, 0x380000, 24, VQ_DESC_F_NEXT, 1);
    vsh_raw_desc(&h, Q_CTL, 1, 0x390000, 1, VQ_DESC_F_WRITE, 0);
    vsh_publish(&h, Q_CTL, 0);
    kick_and_poll(Q_CTL);
    CHECK(vsh_device_status(&h) & VIRTIO_STATUS_NEEDS_RESET);
    close_h();
}

static uint8_t tmf(uint32_t subtype, uint8_t target)
{
    int head = vsh_tmf(&h, subtype, target);
    vsh_kick(&h, Q_CTL);
    if (vsh_wait(&h, Q_CTL, 1, 5000) < 1)
        return 0xff;
    uint16_t got;
    uint32_t len;
    if (!vsh_next_used(&h, Q_CTL, &got, &len) || got != head || len != 1)
        return 0xfe;
    return vsh_tmf_response(&h, got);
}

TEST(control_queue_task_management)
{
    CHECK(open_h());
    settle();
    CHECK_EQ(tmf(VIRTIO_SCSI_T_TMF_ABORT_TASK, 0), VIRTIO_SCSI_S_FUNCTION_COMPLETE);
    CHECK_EQ(tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 0), VIRTIO_SCSI_S_FUNCTION_SUCCEEDED);
    CHECK_EQ(tmf(VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET, 3), VIRTIO_SCSI_S_BAD_TARGET);
    CHECK_EQ(tmf(99, 0), VIRTIO_SCSI_S_FUNCTION_REJECTED);
    /* The reset raised a unit attention. */
    struct vsh_resp r;
    uint32_t len;
    CHECK(vsh_run(&h, 0, TUR, sizeof(TUR), 0, 0, &r, &len));
    CHECK_EQ(r.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(r.sense[2], SCSI_SK_UNIT_ATTENTION);
    /* Asynchronous notification: nothing supported. */
    int head = vsh_an_query(&h, 0xffffffffu);
    vsh_kick(&h, Q_CTL);
    CHECK_EQ(vsh_wait(&h, Q_CTL, 1, 5000), 1);
    uint16_t got;
    CHECK(vsh_next_used(&h, Q_CTL, &got, &len));
    CHECK_EQ(got, head);
    CHECK_EQ(len, 5);
    uint32_t actual;
    uint8_t resp;
    vsh_an_response(&h, got, &actual, &resp);
    CHECK_EQ(actual, 0);
    CHECK_EQ(resp, VIRTIO_SCSI_S_OK);
    close_h();
}

TEST(tmf_waits_for_reads_in_flight)
{
    CHECK(open_h());
    settle();
    uint8_t cdb[10] = { 0x28, 0, 0, 0, 0, 0, 0, 0, 32 };
    vsh_command(&h, 0, 0, cdb, sizeof(cdb), VSH_DATA_GPA, 0, 32 * 2048);
    vsh_tmf(&h, VIRTIO_SCSI_T_TMF_ABORT_TASK_SET, 0);
    vsh_kick(&h, Q_REQ);
    vsh_kick(&h, Q_CTL);
    /* Whatever the timing, the TMF answer never comes before the read's. */
    CHECK_EQ(vsh_wait(&h, Q_CTL, 1, 5000), 1);
    CHECK_EQ(vsh_wait(&h, Q_REQ, 1, 0), 1);
    close_h();
}

/* Firmware polls the used ring right after its doorbell write: whatever needs no media read is
 * answered inside the kick; reads wait for the event loop. */
TEST(kick_answers_non_reads_at_once)
{
    CHECK(open_h());
    uint8_t inquiry[6] = { 0x12, 0, 0, 0, 36 };
    int head = vsh_command(&h, 5, 0, inquiry, sizeof(inquiry), VSH_DATA_GPA, 0, 36);   /* no such target */
    vsh_kick(&h, Q_REQ);
    uint16_t got;
    uint32_t len;
    struct vsh_resp r;
    CHECK(vsh_next_used(&h, Q_REQ, &got, &len));
    CHECK_EQ(got, head);
    vsh_response(&h, got, &r);
    CHECK_EQ(r.response, VIRTIO_SCSI_S_BAD_TARGET);
    head = vsh_command(&h, 0, 0, inquiry, sizeof(inquiry), VSH_DATA_GPA, 0, 36);
    vsh_kick(&h, Q_REQ);
    CHECK(vsh_next_used(&h, Q_REQ, &got, &len));
    CHECK_EQ(got, head);
    settle();
    uint8_t read[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 1 };
    head = vsh_command(&h, 0, 0, read, sizeof(read), VSH_DATA_GPA, 0, 2048);
    vsh_kick(&h, Q_REQ);
    CHECK(!vsh_next_used(&h, Q_REQ, &got, &len));
    CHECK_EQ(vsh_wait(&h, Q_REQ, 1, 5000), 1);
    CHECK(vsh_next_used(&h, Q_REQ, &got, &len));
    CHECK_EQ(got, head);
    CHECK_EQ(*(uint8_t *)vsh_ptr(&h, VSH_DATA_GPA + 7, 1), image_byte(2048 + 7));
    close_h();
}

/* A read prepared in the kick but not yet submitted when the driver resets the device is dropped:
 * it never writes the reset ring, and its slot serves the next read. */
TEST(reset_drops_reads_not_yet_submitted)
{
    CHECK(open_h());
    settle();
    int free_before = 0;
    for (struct vscsi_req *r = h.scsi.free_list; r; r = r->next_free)
        free_before++;
    uint8_t read[10] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 1 };
    uint8_t *d = vsh_ptr(&h, VSH_DATA_GPA, 2048);
    memset(d, 0xee, 2048);
    vsh_command(&h, 0, 0, read, sizeof(read), VSH_DATA_GPA, 0, 2048);
    vsh_kick(&h, Q_REQ);
    CHECK_EQ(h.scsi.ndeferred, 1);
    struct pci_bar *bar = &h.scsi.vp.pci.bars[4];
    uint8_t zero = 0;
    bar->fn(bar->opaque, 0x14, &zero, 1, true);
    CHECK_EQ(h.scsi.ndeferred, 0);
    CHECK_EQ(h.scsi.inflight, 0);
    int free_after = 0;
    for (struct vscsi_req *r = h.scsi.free_list; r; r = r->next_free)
        free_after++;
    CHECK_EQ(free_after, free_before);
    for (int i = 0; i < 5; i++)
        loop_poll(&h.loop, 10);
    CHECK_EQ(d[0], 0xee);
    close_h();
}

TEST(device_reset_drops_state)
{
    CHECK(open_h());
    settle();
    struct pci_bar *bar = &h.scsi.vp.pci.bars[4];
    uint8_t zero = 0;
    bar->fn(bar->opaque, 0x14, &zero, 1, true);                  /* driver resets the device */
    CHECK_EQ(h.scsi.cdb_size, 32);
    CHECK_EQ(h.scsi.cd.unit_attention.key, SCSI_SK_UNIT_ATTENTION);
    close_h();
}

TEST_MAIN()
