/* The SCSI/MMC command set of the CD-ROM drive without any transport: INQUIRY and VPD pages,
 * capacity of odd-sized images, reads against a real image file through the block backend, bounds,
 * TOC, mode pages, GET CONFIGURATION profiles, event status, sense handling, write protection. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "devices/scsi_cd.h"

#define IMG_BLOCKS 300
#define IMG_TAIL 512               /* a partial last block: the image is not a multiple of 2048 */
#define IMG_BYTES (IMG_BLOCKS * 2048ULL + IMG_TAIL)

static uint8_t image_byte(uint64_t off)
{
    return (uint8_t)(off / 2048 * 7 + off % 251);
}

/* A temporary image whose contents follow image_byte(). */
static char *make_image(void)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/vmm-scsicd-XXXXXX");
    int fd = mkstemp(path);
    static uint8_t buf[IMG_BYTES];
    for (uint64_t i = 0; i < IMG_BYTES; i++)
        buf[i] = image_byte(i);
    if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
        return NULL;
    close(fd);
    return path;
}

static struct scsi_cd_result res;

/* Runs one CDB given as bytes. */
#define RUN(cd, ...)                                                                 \
    do {                                                                             \
        const uint8_t cdb_[16] = { __VA_ARGS__ };                                    \
        scsi_cd_execute((cd), cdb_, sizeof(cdb_), &res);                             \
    } while (0)

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }

/* A drive past its power-on unit attention. */
static void ready_drive(struct scsi_cd *cd, uint64_t bytes)
{
    scsi_cd_init_size(cd, bytes, "SN42");
    RUN(cd, 0x00);
}

static int sense_key(void) { return res.sense[2] & 0xf; }
static int sense_asc(void) { return res.sense[12] << 8 | res.sense[13]; }

TEST(power_on_unit_attention_reported_once)
{
    struct scsi_cd cd;
    scsi_cd_init_size(&cd, IMG_BYTES, "SN42");
    RUN(&cd, 0x12, 0, 0, 0, 36);                     /* INQUIRY does not report it */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    RUN(&cd, 0x00);
    CHECK_EQ(res.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(res.sense_len, 18);
    CHECK_EQ(res.sense[0], 0x70);
    CHECK_EQ(sense_key(), SCSI_SK_UNIT_ATTENTION);
    CHECK_EQ(sense_asc(), SCSI_ASC_POWER_ON_RESET);
    RUN(&cd, 0x03, 0, 0, 0, 18);                     /* REQUEST SENSE repeats it */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 18);
    CHECK_EQ(res.reply[2], SCSI_SK_UNIT_ATTENTION);
    CHECK_EQ(res.reply[12], 0x29);
    RUN(&cd, 0x00);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    scsi_cd_reset(&cd, true);
    RUN(&cd, 0x25);
    CHECK_EQ(sense_asc(), SCSI_ASC_BUS_DEVICE_RESET);
}

TEST(inquiry_standard_data)
{
    struct scsi_cd cd;
    ready_drive(&cd, IMG_BYTES);
    RUN(&cd, 0x12, 0, 0, 0, 0xff);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 36);
    CHECK_EQ(res.reply[0], 0x05);
    CHECK_EQ(res.reply[1], 0x80);
    CHECK_EQ(res.reply[4], 31);
    CHECK(!memcmp(res.reply + 8, "VMM     ", 8));
    CHECK(!memcmp(res.reply + 16, "CD-ROM          ", 16));
    RUN(&cd, 0x12, 0, 0, 0, 5);                      /* allocation length cuts the reply */
    CHECK_EQ(res.reply_len, 5);
    RUN(&cd, 0x12, 0, 0x80, 0, 36);                  /* page code without EVPD */
    CHECK_EQ(res.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(sense_key(), SCSI_SK_ILLEGAL_REQUEST);
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_FIELD_IN_CDB);
}

TEST(inquiry_vpd_pages)
{
    struct scsi_cd cd;
    ready_drive(&cd, IMG_BYTES);
    RUN(&cd, 0x12, 1, 0x00, 0, 0xff);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 7);
    CHECK_EQ(res.reply[3], 3);
    CHECK_EQ(res.reply[5], 0x80);
    CHECK_EQ(res.reply[6], 0x83);
    RUN(&cd, 0x12, 1, 0x80, 0, 0xff);
    CHECK_EQ(res.reply_len, 8);
    CHECK_EQ(res.reply[1], 0x80);
    CHECK(!memcmp(res.reply + 4, "SN42", 4));
    RUN(&cd, 0x12, 1, 0x83, 0, 0xff);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(be16(res.reply + 2), 16);
    CHECK_EQ(res.reply[5] & 0xf, 1);                 /* T10 vendor ID designator */
    CHECK(!memcmp(res.reply + 8, "VMM     SN42", 12));
    RUN(&cd, 0x12, 1, 0xb0, 0, 0xff);
    CHECK_EQ(res.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(sense_key(), SCSI_SK_ILLEGAL_REQUEST);
}

TEST(read_capacity_odd_sizes)
{
    struct scsi_cd cd;
    ready_drive(&cd, 2048 * 10);
    RUN(&cd, 0x25);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 8);
    CHECK_EQ(be32(res.reply), 9);
    CHECK_EQ(be32(res.reply + 4), 2048);
    ready_drive(&cd, 2048 * 10 + 1);                 /* partial last block counts */
    RUN(&cd, 0x25);
    CHECK_EQ(be32(res.reply), 10);
    ready_drive(&cd, 2047);
    RUN(&cd, 0x25);
    CHECK_EQ(be32(res.reply), 0);
    RUN(&cd, 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32);   /* READ CAPACITY(16) */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 32);
    CHECK_EQ(be32(res.reply + 4), 0);
    CHECK_EQ(be32(res.reply + 8), 2048);
    ready_drive(&cd, 0);                             /* an empty image is no medium */
    RUN(&cd, 0x25);
    CHECK_EQ(sense_key(), SCSI_SK_NOT_READY);
}

static int64_t read_result;

static void read_done(struct blk_io *io, int64_t result)
{
    (void)io;
    read_result = result;
}

/* Carries out the read of `res` into `buf` (two iovecs) through the real backend. */
static bool do_read(struct block_backend *b, const struct scsi_cd *cd, uint8_t *buf, size_t len)
{
    struct iovec dst[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
    struct iovec iov[2];
    struct blk_io io, *p = &io;
    memset(&io, 0, sizeof(io));
    int rc = scsi_cd_read_io(cd, &res, dst, 2, iov, &io);
    if (rc <= 0)
        return rc == 0;
    io.done = read_done;
    read_result = 1;
    block_submit(b, &p, 1);
    while (read_result == 1)
        block_reap(b);
    return read_result == (int64_t)io.len;
}

TEST(read10_matches_image_file)
{
    const char *path = make_image();
    CHECK(path);
    struct block_backend b;
    struct block_options o = { .path = path, .readonly = true, .cache = BLK_CACHE_WRITEBACK };
    char err[256];
    CHECK(block_open(&b, &o, NULL, err, sizeof(err)) == 0);
    struct scsi_cd cd;
    scsi_cd_init(&cd, &b, NULL);
    RUN(&cd, 0x00);
    CHECK_EQ(cd.blocks, IMG_BLOCKS + 1);
    static uint8_t buf[4 * 2048];
    RUN(&cd, 0x28, 0, 0, 0, 0, 5, 0, 0, 3);          /* READ(10) LBA 5, 3 blocks */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK(res.read);
    CHECK_EQ(res.read_offset, 5 * 2048);
    CHECK_EQ(res.read_len, 3 * 2048);
    memset(buf, 0xaa, sizeof(buf));
    CHECK(do_read(&b, &cd, buf, 3 * 2048));
    for (size_t i = 0; i < 3 * 2048; i++)
        CHECK_EQ(buf[i], image_byte(5 * 2048 + i));
    /* The last, partial block: image bytes then zeroes. */
    RUN(&cd, 0xa8, 0, 0, 0, IMG_BLOCKS >> 8, IMG_BLOCKS & 0xff, 0, 0, 0, 1);   /* READ(12) */
    CHECK(res.read);
    memset(buf, 0xaa, sizeof(buf));
    CHECK(do_read(&b, &cd, buf, 2048));
    for (size_t i = 0; i < IMG_TAIL; i++)
        CHECK_EQ(buf[i], image_byte(IMG_BLOCKS * 2048ULL + i));
    for (size_t i = IMG_TAIL; i < 2048; i++)
        CHECK_EQ(buf[i], 0);
    /* Too small a destination is refused. */
    RUN(&cd, 0x88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2);   /* READ(16) LBA 0, 2 blocks */
    CHECK(res.read);
    struct iovec small = { buf, 2048 }, out;
    struct blk_io io;
    CHECK_EQ(scsi_cd_read_io(&cd, &res, &small, 1, &out, &io), -1);
    block_close(&b);
    unlink(path);
}

TEST(reads_out_of_range)
{
    struct scsi_cd cd;
    ready_drive(&cd, IMG_BYTES);          /* IMG_BLOCKS + 1 blocks */
    RUN(&cd, 0x28, 0, 0, 0, (IMG_BLOCKS + 1) >> 8, (IMG_BLOCKS + 1) & 0xff, 0, 0, 1);
    CHECK_EQ(res.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK(!res.read);
    CHECK_EQ(sense_key(), SCSI_SK_ILLEGAL_REQUEST);
    CHECK_EQ(sense_asc(), SCSI_ASC_LBA_OUT_OF_RANGE);
    RUN(&cd, 0x28, 0, 0, 0, IMG_BLOCKS >> 8, IMG_BLOCKS & 0xff, 0, 0, 2);   /* runs one past the end */
    CHECK_EQ(sense_asc(), SCSI_ASC_LBA_OUT_OF_RANGE);
    RUN(&cd, 0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1);
    CHECK_EQ(sense_asc(), SCSI_ASC_LBA_OUT_OF_RANGE);
    RUN(&cd, 0xa8, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff);
    CHECK_EQ(sense_asc(), SCSI_ASC_LBA_OUT_OF_RANGE);
    RUN(&cd, 0x28, 0, 0, 0, 0, 0, 0, 0, 0);          /* zero blocks: nothing to do */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK(!res.read);
}

TEST(sense_after_errors)
{
    struct scsi_cd cd;
    ready_drive(&cd, IMG_BYTES);
    RUN(&cd, 0x28, 0, 0xff, 0, 0, 0, 0, 0, 1);
    CHECK_EQ(res.status, SCSI_STATUS_CHECK_CONDITION);
    RUN(&cd, 0x03, 0, 0, 0, 0xff);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 18);
    CHECK_EQ(res.reply[2], SCSI_SK_ILLEGAL_REQUEST);
    CHECK_EQ(res.reply[12], 0x21);
    RUN(&cd, 0x03, 0, 0, 0, 0xff);                   /* read once, then gone */
    CHECK_EQ(res.reply[2], SCSI_SK_NO_SENSE);
    CHECK_EQ(res.reply[12], 0);
    RUN(&cd, 0xee);                                  /* unknown opcode */
    CHECK_EQ(res.status, SCSI_STATUS_CHECK_CONDITION);
    CHECK_EQ(sense_key(), SCSI_SK_ILLEGAL_REQUEST);
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_OPCODE);
    RUN(&cd, 0x00);                                  /* a good command clears it */
    RUN(&cd, 0x03, 0, 0, 0, 8);
    CHECK_EQ(res.reply_len, 8);
    CHECK_EQ(res.reply[2], SCSI_SK_NO_SENSE);
}

TEST(writes_are_write_protected)
{
    struct scsi_cd cd;
    ready_drive(&cd, IMG_BYTES);
    static const uint8_t ops[] = { 0x0a, 0x2a, 0xaa, 0x8a, 0x2e, 0x41, 0x04, 0xa1 };
    for (size_t i = 0; i < sizeof(ops); i++) {
        RUN(&cd, ops[i], 0, 0, 0, 0, 1, 0, 0, 1);
        CHECK_EQ(res.status, SCSI_STATUS_CHECK_CONDITION);
        CHECK_EQ(sense_key(), SCSI_SK_DATA_PROTECT);
        CHECK_EQ(sense_asc(), SCSI_ASC_WRITE_PROTECTED);
    }
}

TEST(read_toc_formats)
{
    struct scsi_cd cd;
    ready_drive(&cd, 2048 * 1000);
    RUN(&cd, 0x43, 0, 0, 0, 0, 0, 0, 0, 0xff);       /* format 0, LBA */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 20);
    CHECK_EQ(be16(res.reply), 18);
    CHECK_EQ(res.reply[2], 1);
    CHECK_EQ(res.reply[3], 1);
    CHECK_EQ(res.reply[5], 0x14);
    CHECK_EQ(res.reply[6], 1);
    CHECK_EQ(be32(res.reply + 8), 0);
    CHECK_EQ(res.reply[14], 0xaa);
    CHECK_EQ(be32(res.reply + 16), 1000);
    RUN(&cd, 0x43, 2, 0, 0, 0, 0, 0, 0, 0xff);       /* format 0, MSF */
    CHECK_EQ(res.reply[9], 0);
    CHECK_EQ(res.reply[10], 2);                      /* LBA 0 = 00:02:00 */
    CHECK_EQ(res.reply[11], 0);
    CHECK_EQ(res.reply[17], 0);                      /* 1150 frames = 00:15:25 */
    CHECK_EQ(res.reply[18], 15);
    CHECK_EQ(res.reply[19], 25);
    RUN(&cd, 0x43, 0, 0, 0, 0, 0, 0xaa, 0, 0xff);    /* lead-out only */
    CHECK_EQ(res.reply_len, 12);
    CHECK_EQ(res.reply[6], 0xaa);
    RUN(&cd, 0x43, 0, 1, 0, 0, 0, 0, 0, 0xff);       /* format 1: session info */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 12);
    CHECK_EQ(be16(res.reply), 10);
    CHECK_EQ(res.reply[6], 1);
    CHECK_EQ(be32(res.reply + 8), 0);
    RUN(&cd, 0x43, 0, 0, 0, 0, 0, 0, 0, 0xff, 0x40); /* format in byte 9 (old style) */
    CHECK_EQ(res.reply_len, 12);
    RUN(&cd, 0x43, 0, 0, 0, 0, 0, 5, 0, 0xff);       /* no track 5 */
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_FIELD_IN_CDB);
    RUN(&cd, 0x43, 0, 4, 0, 0, 0, 0, 0, 0xff);
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_FIELD_IN_CDB);
}

TEST(mode_sense_pages)
{
    struct scsi_cd cd;
    ready_drive(&cd, IMG_BYTES);
    RUN(&cd, 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 0xff);    /* MODE SENSE(10), capabilities */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 8 + 28);
    CHECK_EQ(be16(res.reply), 8 + 28 - 2);
    CHECK_EQ(res.reply[8], 0x2a);
    CHECK_EQ(res.reply[9], 26);
    CHECK_EQ(res.reply[8 + 6] >> 5, 1);              /* tray */
    CHECK(res.reply[8 + 6] & 0x08);                  /* eject */
    RUN(&cd, 0x1a, 0, 0x3f, 0, 0xff);                /* MODE SENSE(6), all pages */
    CHECK_EQ(res.reply_len, 4 + 12 + 28);
    CHECK_EQ(res.reply[0], 4 + 12 + 28 - 1);
    CHECK_EQ(res.reply[3], 0);
    CHECK_EQ(res.reply[4], 0x01);
    CHECK_EQ(res.reply[16], 0x2a);
    RUN(&cd, 0x1a, 0, 0x7f, 0, 0xff);                /* changeable values: none */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply[16 + 2], 0);
    RUN(&cd, 0x1a, 0, 0xea, 0, 0xff);                /* saved values */
    CHECK_EQ(sense_asc(), SCSI_ASC_SAVING_NOT_SUPPORTED);
    RUN(&cd, 0x1a, 0, 0x08, 0, 0xff);                /* a page this drive lacks */
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_FIELD_IN_CDB);
    RUN(&cd, 0x1e, 0, 0, 0, 1);                      /* lock shows in the page */
    RUN(&cd, 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 0xff);
    CHECK(res.reply[8 + 6] & 0x02);
}

TEST(get_configuration_profiles)
{
    struct scsi_cd cd;
    ready_drive(&cd, IMG_BYTES);
    RUN(&cd, 0x46, 0, 0, 0, 0, 0, 0, 1, 0);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(be16(res.reply + 6), 0x0008);           /* CD-ROM current */
    CHECK_EQ(be32(res.reply), res.reply_len - 4);
    CHECK_EQ(be16(res.reply + 8), 0x0000);           /* profile list first */
    CHECK_EQ(be16(res.reply + 12), 0x0010);
    CHECK_EQ(res.reply[14], 0);
    CHECK_EQ(be16(res.reply + 16), 0x0008);
    CHECK_EQ(res.reply[18], 1);
    RUN(&cd, 0x46, 2, 0, 0x10, 0, 0, 0, 1, 0);       /* one feature: random readable */
    CHECK_EQ(res.reply_len, 8 + 12);
    CHECK_EQ(be16(res.reply + 8), 0x0010);
    CHECK_EQ(be32(res.reply + 12), 2048);
    ready_drive(&cd, (SCSI_CD_MAX_CD_BLOCKS + 1) * 2048ULL);   /* bigger than a CD: DVD-ROM */
    RUN(&cd, 0x46, 1, 0, 0, 0, 0, 0, 1, 0);
    CHECK_EQ(be16(res.reply + 6), 0x0010);
    bool dvd_read = false;
    for (uint32_t off = 8; off + 4 <= res.reply_len; off += 4 + res.reply[off + 3])
        dvd_read |= be16(res.reply + off) == 0x001f;
    CHECK(dvd_read);
    RUN(&cd, 0x46, 3, 0, 0, 0, 0, 0, 1, 0);
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_FIELD_IN_CDB);
}

TEST(event_status_and_eject)
{
    struct scsi_cd cd;
    ready_drive(&cd, IMG_BYTES);
    RUN(&cd, 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 8);
    CHECK_EQ(be16(res.reply), 6);
    CHECK_EQ(res.reply[2], 4);
    CHECK_EQ(res.reply[3], 0x10);
    CHECK_EQ(res.reply[4], 0);                       /* no change */
    CHECK_EQ(res.reply[5], 0x02);                    /* medium present, door closed */
    RUN(&cd, 0x4a, 0, 0, 0, 0x10, 0, 0, 0, 8);       /* asynchronous: not supported */
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_FIELD_IN_CDB);
    RUN(&cd, 0x4a, 1, 0, 0, 0x04, 0, 0, 0, 8);       /* a class we lack: NEA */
    CHECK_EQ(res.reply[2], 0x80);
    CHECK_EQ(res.reply_len, 4);
    RUN(&cd, 0x1e, 0, 0, 0, 1);                      /* prevent removal */
    RUN(&cd, 0x1b, 0, 0, 0, 0x02);                   /* eject refused */
    CHECK_EQ(sense_asc(), SCSI_ASC_REMOVAL_PREVENTED);
    RUN(&cd, 0x1e, 0, 0, 0, 0);
    RUN(&cd, 0x1b, 0, 0, 0, 0x02);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    RUN(&cd, 0x00);
    CHECK_EQ(sense_key(), SCSI_SK_NOT_READY);
    CHECK_EQ(sense_asc(), SCSI_ASC_MEDIUM_NOT_PRESENT_TRAY_OPEN);
    RUN(&cd, 0x28, 0, 0, 0, 0, 0, 0, 0, 1);
    CHECK_EQ(sense_key(), SCSI_SK_NOT_READY);
    RUN(&cd, 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8);
    CHECK_EQ(res.reply[4], 3);                       /* medium removal */
    CHECK_EQ(res.reply[5], 0x01);                    /* door open, no medium */
    RUN(&cd, 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8);       /* MECHANISM STATUS */
    CHECK_EQ(res.reply_len, 8);
    CHECK_EQ(res.reply[1], 0x10);
    RUN(&cd, 0x46, 0, 0, 0, 0, 0, 0, 1, 0);
    CHECK_EQ(be16(res.reply + 6), 0);                /* no current profile */
    RUN(&cd, 0x1b, 0, 0, 0, 0x03);                   /* load */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    RUN(&cd, 0x00);
    CHECK_EQ(sense_key(), SCSI_SK_UNIT_ATTENTION);
    CHECK_EQ(sense_asc(), SCSI_ASC_MEDIUM_MAY_HAVE_CHANGED);
    RUN(&cd, 0x00);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    RUN(&cd, 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8);
    CHECK_EQ(res.reply[4], 2);                       /* new medium */
}

TEST(disc_and_track_information)
{
    struct scsi_cd cd;
    ready_drive(&cd, 2048 * 1000);
    RUN(&cd, 0x51, 0, 0, 0, 0, 0, 0, 0, 0xff);
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 34);
    CHECK_EQ(be16(res.reply), 32);
    CHECK_EQ(res.reply[2] & 3, 2);                   /* complete disc */
    CHECK_EQ(res.reply[4], 1);
    RUN(&cd, 0x51, 1, 0, 0, 0, 0, 0, 0, 0xff);
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_FIELD_IN_CDB);
    RUN(&cd, 0x52, 1, 0, 0, 0, 1, 0, 0, 0xff);       /* track 1 */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    CHECK_EQ(res.reply_len, 36);
    CHECK_EQ(res.reply[2], 1);
    CHECK_EQ(be32(res.reply + 24), 1000);
    RUN(&cd, 0x52, 1, 0, 0, 0, 2, 0, 0, 0xff);       /* no track 2 */
    CHECK_EQ(sense_asc(), SCSI_ASC_INVALID_FIELD_IN_CDB);
    RUN(&cd, 0xbb, 0, 0xff, 0xff);                   /* SET CD SPEED */
    CHECK_EQ(res.status, SCSI_STATUS_GOOD);
    RUN(&cd, 0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16);      /* REPORT LUNS: LUN 0 alone */
    CHECK_EQ(res.reply_len, 16);
    CHECK_EQ(be32(res.reply), 8);
}

TEST_MAIN()
