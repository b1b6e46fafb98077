/* SCSI/MMC command set of a read-only CD/DVD-ROM drive (SPC-4, MMC-6): pure functions of the drive
 * state and one CDB. Replies are built in a buffer; media reads are only described, for the caller
 * to carry out straight into guest buffers (scsi_cd_read_io).
 * Capacity: an image whose size is not a multiple of 2048 bytes gets one more block, whose tail
 * reads as zeroes. Profile: CD-ROM (0x0008) up to SCSI_CD_MAX_CD_BLOCKS blocks, DVD-ROM (0x0010)
 * above. Eject (START STOP UNIT) opens the tray: no medium until a load closes it. */
#include "scsi_cd.h"

#include <stdio.h>
#include <string.h>

/* Operation codes (SPC-4 §6, SBC-3 §5, MMC-6 §6). */
#define OP_TEST_UNIT_READY 0x00
#define OP_REQUEST_SENSE 0x03
#define OP_INQUIRY 0x12
#define OP_MODE_SENSE_6 0x1a
#define OP_START_STOP_UNIT 0x1b
#define OP_PREVENT_ALLOW 0x1e
#define OP_READ_CAPACITY_10 0x25
#define OP_READ_10 0x28
#define OP_VERIFY_10 0x2f
#define OP_SYNC_CACHE_10 0x35
#define OP_READ_TOC 0x43
#define OP_GET_CONFIGURATION 0x46
#define OP_GET_EVENT_STATUS 0x4a
#define OP_READ_DISC_INFO 0x51
#define OP_READ_TRACK_INFO 0x52
#define OP_MODE_SENSE_10 0x5a
#define OP_READ_16 0x88
#define OP_SERVICE_ACTION_IN_16 0x9e
#define OP_REPORT_LUNS 0xa0
#define OP_READ_12 0xa8
#define OP_SET_CD_SPEED 0xbb
#define OP_MECHANISM_STATUS 0xbd
#define SA_READ_CAPACITY_16 0x10

/* Profiles (MMC-6 §5.3.1) and features (§5.3). */
#define PROFILE_NONE 0x0000
#define PROFILE_CD_ROM 0x0008
#define PROFILE_DVD_ROM 0x0010

/* Media event codes (MMC-6 §6.6.2.4). */
#define MEDIA_EVENT_NONE 0
#define MEDIA_EVENT_NEW 2
#define MEDIA_EVENT_REMOVAL 3

#define MSF_LEAD_IN_FRAMES 150  /* LBA 0 is MSF 00:02:00 (MMC-6 §4.2.3.2) */

static void put_be16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put_be32(uint8_t *p, uint32_t v) { put_be16(p, v >> 16); put_be16(p + 2, v); }
static void put_be64(uint8_t *p, uint64_t v) { put_be32(p, (uint32_t)(v >> 32)); put_be32(p + 4, (uint32_t)v); }
static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }
static uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

void scsi_cd_init_size(struct scsi_cd *cd, uint64_t image_bytes, const char *serial)
{
    memset(cd, 0, sizeof(*cd));
    cd->image_bytes = image_bytes;
    cd->blocks = (image_bytes + SCSI_CD_BLOCK - 1) / SCSI_CD_BLOCK;
    cd->dvd = cd->blocks > SCSI_CD_MAX_CD_BLOCKS;
    snprintf(cd->serial, sizeof(cd->serial), "%s", serial ? serial : "");
    scsi_cd_reset(cd, false);
}

void scsi_cd_init(struct scsi_cd *cd, const struct block_backend *backend, const char *serial)
{
    scsi_cd_init_size(cd, backend->size, serial);
    cd->backend = backend;
}

void scsi_cd_reset(struct scsi_cd *cd, bool lun_reset)
{
    /* SPC-4 §6.15 / SAM-5 §6.3: resets clear medium-removal prevention and raise a unit attention. */
    cd->unit_attention = (struct scsi_sense){ SCSI_SK_UNIT_ATTENTION,
                                              lun_reset ? SCSI_ASC_BUS_DEVICE_RESET : SCSI_ASC_POWER_ON_RESET };
    cd->sense = (struct scsi_sense){ 0, 0 };
    cd->prevent_removal = false;
}

/* ---- result helpers ---- */

static void fixed_sense(uint8_t *out, struct scsi_sense s)
{
    /* Fixed format (SPC-4 §4.5.3): response code 70h, current error. */
    memset(out, 0, SCSI_SENSE_FIXED_LEN);
    out[0] = 0x70;
    out[2] = s.key;
    out[7] = SCSI_SENSE_FIXED_LEN - 8;
    out[12] = (uint8_t)(s.asc >> 8);
    out[13] = (uint8_t)s.asc;
}

static void fail(struct scsi_cd *cd, struct scsi_cd_result *r, uint8_t key, uint16_t asc)
{
    cd->sense = (struct scsi_sense){ key, asc };
    r->status = SCSI_STATUS_CHECK_CONDITION;
    fixed_sense(r->sense, cd->sense);
    r->sense_len = SCSI_SENSE_FIXED_LEN;
    r->reply_len = 0;
    r->read = false;
}

static void invalid_field(struct scsi_cd *cd, struct scsi_cd_result *r)
{
    fail(cd, r, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_FIELD_IN_CDB);
}

/* The reply built in r->reply is `len` bytes; the initiator takes at most `alloc`. */
static void reply(struct scsi_cd_result *r, uint32_t len, uint32_t alloc)
{
    if (len > SCSI_CD_REPLY_MAX)
        len = SCSI_CD_REPLY_MAX;
    r->reply_len = len < alloc ? len : alloc;
}

static bool medium_present(const struct scsi_cd *cd)
{
    return !cd->tray_open && cd->blocks > 0;
}

/* Commands that need the medium fail with NOT READY while the tray is open (MMC-6 §4.1.5). */
static bool need_medium(struct scsi_cd *cd, struct scsi_cd_result *r)
{
    if (medium_present(cd))
        return true;
    fail(cd, r, SCSI_SK_NOT_READY, SCSI_ASC_MEDIUM_NOT_PRESENT_TRAY_OPEN);
    return false;
}

/* ---- SPC commands ---- */

static void request_sense(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    /* SPC-4 §6.39: a pending unit attention first, then the last command's sense. */
    struct scsi_sense s = cd->sense;
    if (cd->unit_attention.key) {
        s = cd->unit_attention;
        cd->unit_attention.key = 0;
    } else if (!s.key && !medium_present(cd)) {
        s = (struct scsi_sense){ SCSI_SK_NOT_READY, SCSI_ASC_MEDIUM_NOT_PRESENT_TRAY_OPEN };
    }
    fixed_sense(r->reply, s);
    reply(r, SCSI_SENSE_FIXED_LEN, c[4]);
}

static void pad_copy(uint8_t *dst, const char *src, size_t n)
{
    size_t len = strnlen(src, n);
    memset(dst, ' ', n);
    memcpy(dst, src, len);
}

static void inquiry_vpd(struct scsi_cd *cd, uint8_t page, struct scsi_cd_result *r, uint32_t alloc)
{
    uint8_t *d = r->reply;
    size_t serial_len = strlen(cd->serial);
    d[0] = 0x05;
    d[1] = page;
    switch (page) {
    case 0x00:   /* supported VPD pages (SPC-4 §7.8.14) */
        d[3] = 3;
        d[4] = 0x00;
        d[5] = 0x80;
        d[6] = 0x83;
        return reply(r, 7, alloc);
    case 0x80:   /* unit serial number (§7.8.15) */
        d[3] = (uint8_t)serial_len;
        memcpy(d + 4, cd->serial, serial_len);
        return reply(r, 4 + (uint32_t)serial_len, alloc);
    case 0x83: { /* device identification (§7.8.6): one T10 vendor ID designator, ASCII */
        uint8_t *desig = d + 4;
        const char *id = serial_len ? cd->serial : "CD-ROM";
        size_t id_len = strlen(id);
        desig[0] = 0x02;                 /* code set ASCII */
        desig[1] = 0x01;                 /* associated with the LU, type T10 vendor ID */
        desig[3] = (uint8_t)(8 + id_len);
        pad_copy(desig + 4, "VMM", 8);
        memcpy(desig + 12, id, id_len);
        uint32_t page_len = 4 + 8 + (uint32_t)id_len;
        put_be16(d + 2, page_len);
        return reply(r, 4 + page_len, alloc);
    }
    default:
        return invalid_field(cd, r);
    }
}

static void inquiry(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    uint32_t alloc = be16(c + 3);
    if (c[1] & 1)
        return inquiry_vpd(cd, c[2], r, alloc);
    if (c[2])
        return invalid_field(cd, r);
    /* Standard data (SPC-4 §6.4.2): CD/DVD device, removable, SPC-3 level. */
    uint8_t *d = r->reply;
    d[0] = 0x05;
    d[1] = 0x80;
    d[2] = 0x05;
    d[3] = 0x02;
    d[4] = 36 - 5;
    pad_copy(d + 8, "VMM", 8);
    pad_copy(d + 16, "CD-ROM", 16);
    pad_copy(d + 32, "1.0", 4);
    reply(r, 36, alloc);
}

static void report_luns(const uint8_t *c, struct scsi_cd_result *r)
{
    /* SPC-4 §6.33: one LUN, number 0. */
    put_be32(r->reply, 8);
    reply(r, 16, be32(c + 6));
}

/* ---- capacity and reads (SBC-3 §5.12, §5.16, MMC-6 §6.15) ---- */

static void read_capacity_10(struct scsi_cd *cd, struct scsi_cd_result *r)
{
    if (!need_medium(cd, r))
        return;
    uint64_t last = cd->blocks - 1;
    put_be32(r->reply, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
    put_be32(r->reply + 4, SCSI_CD_BLOCK);
    reply(r, 8, 8);
}

static void service_action_in(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    if ((c[1] & 0x1f) != SA_READ_CAPACITY_16)
        return invalid_field(cd, r);
    if (!need_medium(cd, r))
        return;
    put_be64(r->reply, cd->blocks - 1);
    put_be32(r->reply + 8, SCSI_CD_BLOCK);
    reply(r, 32, be32(c + 10));
}

static void read_blocks(struct scsi_cd *cd, uint64_t lba, uint64_t count, struct scsi_cd_result *r)
{
    if (!need_medium(cd, r))
        return;
    if (lba >= cd->blocks || count > cd->blocks - lba)
        return fail(cd, r, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
    if (count == 0)
        return;
    r->read = true;
    r->read_offset = lba * SCSI_CD_BLOCK;
    r->read_len = count * SCSI_CD_BLOCK;
}

static void verify(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    if (!need_medium(cd, r))
        return;
    uint64_t lba = be32(c + 2), count = be16(c + 7);
    if (lba >= cd->blocks || count > cd->blocks - lba)
        fail(cd, r, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_LBA_OUT_OF_RANGE);
}

/* ---- MMC commands ---- */

/* LBA -> MSF address field (MMC-6 §4.2.3.2); minutes saturate beyond a CD's range. */
static void put_addr(uint8_t *p, uint64_t lba, bool msf)
{
    if (!msf) {
        put_be32(p, lba > 0xffffffffu ? 0xffffffffu : (uint32_t)lba);
        return;
    }
    uint64_t frames = lba + MSF_LEAD_IN_FRAMES;
    uint64_t minutes = frames / (75 * 60);
    p[0] = 0;
    p[1] = minutes > 0xff ? 0xff : (uint8_t)minutes;
    p[2] = (uint8_t)(frames / 75 % 60);
    p[3] = (uint8_t)(frames % 75);
}

/* One TOC track descriptor: data track (control 4), ADR 1 (MMC-6 §6.26.3.2). */
static void toc_track(uint8_t *d, uint8_t track, uint64_t lba, bool msf)
{
    memset(d, 0, 8);
    d[1] = 0x14;
    d[2] = track;
    put_addr(d + 4, lba, msf);
}

static void read_toc(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    if (!need_medium(cd, r))
        return;
    bool msf = c[1] & 2;
    unsigned format = c[2] & 0xf;
    if (!format)
        format = c[9] >> 6;   /* the older place of the format field (SFF-8020) */
    uint8_t track = c[6];
    uint32_t alloc = be16(c + 7), len = 4;
    uint8_t *d = r->reply;
    d[2] = 1;                 /* first track or session */
    d[3] = 1;                 /* last */
    if (format == 0) {        /* formatted TOC: track 1 and the lead-out */
        if (track > 1 && track != 0xaa)
            return invalid_field(cd, r);
        if (track <= 1) {
            toc_track(d + len, 1, 0, msf);
            len += 8;
        }
        toc_track(d + len, 0xaa, cd->blocks, msf);
        len += 8;
    } else if (format == 1) { /* multi-session information: one session starting at track 1 */
        toc_track(d + len, 1, 0, msf);
        len += 8;
    } else {
        return invalid_field(cd, r);
    }
    put_be16(d, len - 2);
    reply(r, len, alloc);
}

static void read_disc_information(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    if (c[1] & 7)                     /* only standard disc information (MMC-6 §6.22) */
        return invalid_field(cd, r);
    if (!need_medium(cd, r))
        return;
    uint8_t *d = r->reply;
    put_be16(d, 32);
    d[2] = 0x0e;                      /* last session complete, disc complete, not erasable */
    d[3] = 1;                         /* first track on disc */
    d[4] = 1;                         /* sessions */
    d[5] = 1;                         /* first track in last session */
    d[6] = 1;                         /* last track in last session */
    d[7] = 0x20;                      /* unrestricted use */
    put_be32(d + 16, 0xffffffffu);    /* last session lead-in: none (closed disc) */
    put_be32(d + 20, 0xffffffffu);    /* last possible lead-out: none */
    reply(r, 34, be16(c + 7));
}

static void read_track_information(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    if (!need_medium(cd, r))
        return;
    unsigned type = c[1] & 3;
    uint32_t number = be32(c + 2);
    bool track1 = (type == 0 && number < cd->blocks) || ((type == 1 || type == 2) && number == 1);
    if (!track1)
        return invalid_field(cd, r);
    uint8_t *d = r->reply;            /* MMC-6 §6.27.3 */
    put_be16(d, 34);
    d[2] = 1;                         /* track number */
    d[3] = 1;                         /* session number */
    d[5] = 0x04;                      /* data track, recorded uninterrupted */
    d[6] = 0x01;                      /* data mode 1 */
    put_be32(d + 24, cd->blocks > 0xffffffffu ? 0xffffffffu : (uint32_t)cd->blocks);
    reply(r, 36, be16(c + 7));
}

/* Writes one feature header (MMC-6 §5.2.2) and returns its total length. */
static uint32_t feature(uint8_t *d, uint16_t code, unsigned version, bool persistent, bool current,
                        uint8_t add_len)
{
    put_be16(d, code);
    d[2] = (uint8_t)(version << 2 | (persistent ? 2 : 0) | (current ? 1 : 0));
    d[3] = add_len;
    return 4u + add_len;
}

static bool feature_wanted(unsigned rt, uint16_t start, uint16_t code, bool current)
{
    if (rt == 2)
        return code == start;
    return code >= start && (rt == 0 || current);
}

static void get_configuration(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    unsigned rt = c[1] & 3;
    uint16_t start = (uint16_t)be16(c + 2);
    if (rt == 3)
        return invalid_field(cd, r);
    bool media = medium_present(cd), cd_cur = media && !cd->dvd, dvd_cur = media && cd->dvd;
    uint8_t *d = r->reply;
    uint32_t len = 8;
    put_be16(d + 6, dvd_cur ? PROFILE_DVD_ROM : cd_cur ? PROFILE_CD_ROM : PROFILE_NONE);
    if (feature_wanted(rt, start, 0x0000, true)) {        /* profile list */
        uint8_t *p = d + len;
        len += feature(p, 0x0000, 0, true, true, 8);
        put_be16(p + 4, PROFILE_DVD_ROM);
        p[6] = dvd_cur;
        put_be16(p + 8, PROFILE_CD_ROM);
        p[10] = cd_cur;
    }
    if (feature_wanted(rt, start, 0x0001, true)) {        /* core: SCSI family interface */
        uint8_t *p = d + len;
        len += feature(p, 0x0001, 1, true, true, 8);
        put_be32(p + 4, 1);
    }
    if (feature_wanted(rt, start, 0x0003, true)) {        /* removable medium: tray, eject, lock */
        uint8_t *p = d + len;
        len += feature(p, 0x0003, 0, true, true, 4);
        p[4] = 0x20 | 0x08 | 0x01 | (cd->prevent_removal ? 0x04 : 0);
    }
    if (feature_wanted(rt, start, 0x0010, media)) {       /* random readable */
        uint8_t *p = d + len;
        len += feature(p, 0x0010, 0, false, media, 8);
        put_be32(p + 4, SCSI_CD_BLOCK);
        put_be16(p + 8, cd->dvd ? 16 : 1);
    }
    if (feature_wanted(rt, start, 0x001e, cd_cur))        /* CD read */
        len += feature(d + len, 0x001e, 2, false, cd_cur, 4);
    if (feature_wanted(rt, start, 0x001f, dvd_cur))       /* DVD read */
        len += feature(d + len, 0x001f, 0, false, dvd_cur, 0);
    put_be32(d, len - 4);
    reply(r, len, be16(c + 7));
}

static void get_event_status(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    if (!(c[1] & 1))                  /* only polled operation (MMC-6 §6.6) */
        return invalid_field(cd, r);
    uint8_t *d = r->reply;
    uint32_t len = 4;
    d[3] = 0x10;                      /* supported classes: media */
    if (c[4] & 0x10) {
        d[2] = 4;                     /* media class */
        d[4] = cd->media_event;
        d[5] = (medium_present(cd) ? 0x02 : 0) | (cd->tray_open ? 0x01 : 0);
        cd->media_event = MEDIA_EVENT_NONE;
        len += 4;
    } else {
        d[2] = 0x80;                  /* no event available in the requested classes */
    }
    put_be16(d, len - 2);
    reply(r, len, be16(c + 7));
}

static void start_stop_unit(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    bool load_eject = c[4] & 2, start = c[4] & 1;
    if (!load_eject)
        return;
    if (!start) {                     /* eject (SBC-3 §5.25) */
        if (cd->prevent_removal)
            return fail(cd, r, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_REMOVAL_PREVENTED);
        if (!cd->tray_open)
            cd->media_event = MEDIA_EVENT_REMOVAL;
        cd->tray_open = true;
    } else if (cd->tray_open) {       /* load: the medium is back, tell the initiator */
        cd->tray_open = false;
        cd->media_event = MEDIA_EVENT_NEW;
        cd->unit_attention = (struct scsi_sense){ SCSI_SK_UNIT_ATTENTION, SCSI_ASC_MEDIUM_MAY_HAVE_CHANGED };
    }
}

static void mechanism_status(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    r->reply[1] = cd->tray_open ? 0x10 : 0;   /* door open; no changer, no slots (MMC-6 §6.9) */
    reply(r, 8, be16(c + 8));
}

/* ---- MODE SENSE (SPC-4 §6.11, §6.12; pages MMC-6 §7) ---- */

static uint32_t page_error_recovery(uint8_t *p, bool changeable)
{
    memset(p, 0, 12);
    p[0] = 0x01;
    p[1] = 10;
    if (!changeable)
        p[3] = 5;                     /* read retry count */
    return 12;
}

static uint32_t page_capabilities(const struct scsi_cd *cd, uint8_t *p, bool changeable)
{
    memset(p, 0, 28);
    p[0] = 0x2a;
    p[1] = 26;
    if (changeable)
        return 28;
    p[2] = 0x0f;                      /* reads CD-R, CD-RW, method 2, DVD-ROM */
    p[4] = 0x71;                      /* audio play, mode 2 form 1 and 2, multi-session */
    p[6] = 0x29 | (cd->prevent_removal ? 0x02 : 0);   /* tray, eject, lock (+ locked) */
    put_be16(p + 8, 2816);            /* maximum read speed, kB/s (obsolete) */
    put_be16(p + 10, 256);            /* volume levels */
    put_be16(p + 12, 512);            /* buffer, KiB */
    put_be16(p + 14, 2816);           /* current read speed */
    return 28;
}

static void mode_sense(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r, bool ten)
{
    unsigned control = c[2] >> 6, page = c[2] & 0x3f;
    uint32_t hdr = ten ? 8 : 4, len = hdr;
    uint32_t alloc = ten ? be16(c + 7) : c[4];
    if (control == 3)
        return fail(cd, r, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_SAVING_NOT_SUPPORTED);
    if (c[3] != 0 || (page != 0x01 && page != 0x2a && page != 0x3f))
        return invalid_field(cd, r);
    bool changeable = control == 1;
    if (page == 0x01 || page == 0x3f)
        len += page_error_recovery(r->reply + len, changeable);
    if (page == 0x2a || page == 0x3f)
        len += page_capabilities(cd, r->reply + len, changeable);
    /* Header: mode data length, medium type 0, no block descriptors. */
    if (ten)
        put_be16(r->reply, len - 2);
    else
        r->reply[0] = (uint8_t)(len - 1);
    reply(r, len, alloc);
}

/* ---- dispatch ---- */

static bool is_write(uint8_t op)
{
    static const uint8_t writes[] = {
        0x04, /* FORMAT UNIT */ 0x0a, 0x2a, 0xaa, 0x8a, /* WRITE 6/10/12/16 */
        0x2e, 0xae, 0x8e, /* WRITE AND VERIFY */ 0x41, 0x93, /* WRITE SAME */
        0xa1, /* BLANK */ 0x53, /* RESERVE TRACK */ 0x5b, /* CLOSE TRACK/SESSION */
        0x5d, /* SEND CUE SHEET */
    };
    return memchr(writes, op, sizeof(writes)) != NULL;
}

/* SPC-4 §5.14 / MMC-6 §4.1.6.1: these never report a pending unit attention. */
static bool ignores_unit_attention(uint8_t op)
{
    return op == OP_INQUIRY || op == OP_REQUEST_SENSE || op == OP_REPORT_LUNS || op == OP_GET_CONFIGURATION ||
           op == OP_GET_EVENT_STATUS;
}

static void dispatch(struct scsi_cd *cd, const uint8_t *c, struct scsi_cd_result *r)
{
    switch (c[0]) {
    case OP_TEST_UNIT_READY:
        need_medium(cd, r);
        return;
    case OP_REQUEST_SENSE: return request_sense(cd, c, r);
    case OP_INQUIRY: return inquiry(cd, c, r);
    case OP_REPORT_LUNS: return report_luns(c, r);
    case OP_MODE_SENSE_6: return mode_sense(cd, c, r, false);
    case OP_MODE_SENSE_10: return mode_sense(cd, c, r, true);
    case OP_START_STOP_UNIT: return start_stop_unit(cd, c, r);
    case OP_PREVENT_ALLOW:
        cd->prevent_removal = c[4] & 3;
        return;
    case OP_READ_CAPACITY_10: return read_capacity_10(cd, r);
    case OP_SERVICE_ACTION_IN_16: return service_action_in(cd, c, r);
    case OP_READ_10: return read_blocks(cd, be32(c + 2), be16(c + 7), r);
    case OP_READ_12: return read_blocks(cd, be32(c + 2), be32(c + 6), r);
    case OP_READ_16: return read_blocks(cd, be64(c + 2), be32(c + 10), r);
    case OP_VERIFY_10: return verify(cd, c, r);
    case OP_SYNC_CACHE_10:
    case OP_SET_CD_SPEED:
        return;
    case OP_READ_TOC: return read_toc(cd, c, r);
    case OP_GET_CONFIGURATION: return get_configuration(cd, c, r);
    case OP_GET_EVENT_STATUS: return get_event_status(cd, c, r);
    case OP_READ_DISC_INFO: return read_disc_information(cd, c, r);
    case OP_READ_TRACK_INFO: return read_track_information(cd, c, r);
    case OP_MECHANISM_STATUS: return mechanism_status(cd, c, r);
    default:
        if (is_write(c[0]))
            return fail(cd, r, SCSI_SK_DATA_PROTECT, SCSI_ASC_WRITE_PROTECTED);
        return fail(cd, r, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
    }
}

void scsi_cd_execute(struct scsi_cd *cd, const uint8_t *cdb, unsigned cdb_len, struct scsi_cd_result *r)
{
    uint8_t c[16] = { 0 };
    memcpy(c, cdb, cdb_len < sizeof(c) ? cdb_len : sizeof(c));
    memset(r, 0, sizeof(*r));
    r->status = SCSI_STATUS_GOOD;
    if (cdb_len == 0)
        return fail(cd, r, SCSI_SK_ILLEGAL_REQUEST, SCSI_ASC_INVALID_OPCODE);
    if (cd->unit_attention.key && !ignores_unit_attention(c[0])) {
        /* The command is not run; the attention is reported once (SAM-5 §5.14). */
        struct scsi_sense ua = cd->unit_attention;
        cd->unit_attention.key = 0;
        return fail(cd, r, ua.key, ua.asc);
    }
    dispatch(cd, c, r);
    if (r->status == SCSI_STATUS_GOOD)   /* sense lasts until the next command (or REQUEST SENSE) */
        cd->sense = (struct scsi_sense){ 0, 0 };
}

void scsi_cd_read_failed(struct scsi_cd *cd, struct scsi_cd_result *r)
{
    fail(cd, r, SCSI_SK_MEDIUM_ERROR, SCSI_ASC_UNRECOVERED_READ_ERROR);
}

int scsi_cd_read_io(const struct scsi_cd *cd, const struct scsi_cd_result *r, const struct iovec *dst, int ndst,
                    struct iovec *iov_out, struct blk_io *io)
{
    uint64_t room = 0;
    for (int i = 0; i < ndst; i++)
        room += dst[i].iov_len;
    if (!r->read || room < r->read_len)
        return -1;
    uint64_t in_image = 0;
    if (r->read_offset < cd->image_bytes)
        in_image = cd->image_bytes - r->read_offset < r->read_len ? cd->image_bytes - r->read_offset : r->read_len;
    /* dst[0..] up to in_image bytes go to the backend; the rest of read_len is zero padding. */
    uint64_t want = in_image, pad = r->read_len - in_image;
    int n = 0;
    for (int i = 0; i < ndst && (want || pad); i++) {
        uint8_t *p = dst[i].iov_base;
        uint64_t len = dst[i].iov_len;
        uint64_t take = len < want ? len : want;
        if (take) {
            iov_out[n].iov_base = p;
            iov_out[n].iov_len = (size_t)take;
            n++;
            want -= take;
        }
        uint64_t zero = len - take < pad ? len - take : pad;
        memset(p + take, 0, (size_t)zero);
        pad -= zero;
    }
    io->op = BLK_READ;
    io->offset = r->read_offset;
    io->len = in_image;
    io->iov = iov_out;
    io->iovcnt = n;
    return in_image ? 1 : 0;
}
