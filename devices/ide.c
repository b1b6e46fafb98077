/* PIIX3-compatible IDE function with an ATAPI CD-ROM: taskfile registers, PIO and PACKET protocols
 * (ATA/ATAPI-6, T13/1410D: §7 registers, §8 commands, §9.7-9.10 PIO data-in and PACKET protocols). */
#include "devices/ide.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Status register bits (§7.15). */
#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DSC 0x10
#define ST_DRDY 0x40
#define ST_BSY 0x80
/* Error register: command aborted (§7.9); for packet commands bits 7:4 carry the sense key. */
#define ERR_ABRT 0x04
/* Device control register (§7.8). */
#define CTL_NIEN 0x02
#define CTL_SRST 0x04
/* Device register: device 1 selected (§7.10). */
#define DEV_SLAVE 0x10
/* Interrupt reason, in the sector count register during packet commands (§7.17.6). */
#define IR_COD 0x01
#define IR_IO 0x02

/* Commands (§8). */
#define CMD_DEVICE_RESET 0x08
#define CMD_EXECUTE_DIAGNOSTIC 0x90
#define CMD_PACKET 0xa0
#define CMD_IDENTIFY_PACKET 0xa1
#define CMD_STANDBY_IMMEDIATE 0xe0
#define CMD_IDLE_IMMEDIATE 0xe1
#define CMD_STANDBY 0xe2
#define CMD_IDLE 0xe3
#define CMD_CHECK_POWER_MODE 0xe5
#define CMD_SLEEP 0xe6
#define CMD_FLUSH_CACHE 0xe7
#define CMD_IDENTIFY 0xec
#define CMD_SET_FEATURES 0xef

/* PIIX3 IDE timing registers, whose bit 15 enables each channel's decode (PIIX3 datasheet §2.3.10). */
#define PIIX_IDETIM_PRIMARY 0x40
#define PIIX_IDETIM_SECONDARY 0x42
#define PIIX_IDETIM_DECODE_ENABLE 0x8000

#define ATAPI_PACKET_LEN 12

static void update_irq(struct ide_cd *d)
{
    bool level = d->irq_pending && !(d->control & CTL_NIEN);
    if (level != d->irq_level) {
        d->irq_level = level;
        irq_line_set(&d->irq, level);
    }
}

static void raise_irq(struct ide_cd *d)
{
    d->irq_pending = true;
    update_irq(d);
}

/* The packet device signature (§9.12: sector count 1, LBA low 1, LBA mid 0x14, LBA high 0xeb). */
static void set_signature(struct ide_cd *d)
{
    d->nsector = 1;
    d->lbal = 1;
    d->lbam = 0x14;
    d->lbah = 0xeb;
}

static void stop_transfer(struct ide_cd *d)
{
    d->phase = IDE_IDLE;
    d->buf_fill = d->buf_pos = d->drq_end = 0;
    d->xfer_left = d->read_left = 0;
    d->cdb_len = 0;
}

/* Hardware or software reset (§9.2, §9.3): a packet device leaves DRDY clear and shows its signature. */
static void device_reset(struct ide_cd *d)
{
    stop_transfer(d);
    set_signature(d);
    d->device &= DEV_SLAVE;
    d->error = 0x01;                 /* diagnostics passed */
    d->status = 0;
    d->features = 0;
}

static void command_ok(struct ide_cd *d)
{
    stop_transfer(d);
    d->error = 0;
    d->status = ST_DRDY | ST_DSC;
    raise_irq(d);
}

static void command_aborted(struct ide_cd *d)
{
    stop_transfer(d);
    d->error = ERR_ABRT;
    d->status = ST_DRDY | ST_ERR;
    raise_irq(d);
}

/* ---- IDENTIFY PACKET DEVICE (§8.16) ---- */

static void put_word(uint8_t *id, unsigned word, uint16_t v)
{
    id[2 * word] = (uint8_t)v;
    id[2 * word + 1] = (uint8_t)(v >> 8);
}

/* ATA strings: space padded, two characters per word with the first in the high byte (§8.15.8). */
static void put_string(uint8_t *id, unsigned word, unsigned words, const char *s)
{
    size_t n = strlen(s);
    for (unsigned i = 0; i < 2 * words; i++) {
        char c = i < n ? s[i] : ' ';
        id[2 * word + (i ^ 1)] = (uint8_t)c;
    }
}

static void identify_packet_data(const struct ide_cd *d, uint8_t *id)
{
    memset(id, 0, 512);
    /* ATAPI, CD-ROM device type 5, removable, DRQ within 50 us of PACKET, 12-byte packets. */
    put_word(id, 0, 0x8000 | (0x05 << 8) | 0x80 | 0x40);
    put_string(id, 10, 10, d->serial);
    put_string(id, 23, 4, "1.0");
    put_string(id, 27, 20, "VMM DVD-ROM");
    put_word(id, 49, 1u << 9);                  /* LBA; no DMA: PIO only */
    put_word(id, 53, 1u << 1);                  /* words 64-70 valid */
    put_word(id, 64, 0x0003);                   /* PIO modes 3 and 4 */
    put_word(id, 67, 120);                      /* minimum PIO cycle times, ns */
    put_word(id, 68, 120);
    put_word(id, 71, 30);                       /* typical release times (PACKET, SERVICE), ns */
    put_word(id, 72, 30);
    put_word(id, 80, 0x007e);                   /* ATA/ATAPI-1 .. -6 */
    put_word(id, 82, (1u << 4) | (1u << 9));    /* PACKET feature set, DEVICE RESET */
    put_word(id, 83, 1u << 14);
    put_word(id, 84, 1u << 14);
    put_word(id, 85, (1u << 4) | (1u << 9));
    put_word(id, 87, 1u << 14);
    /* Hardware reset result: device 0, number by jumper, diagnostics passed, and device 0 answering
     * for the absent device 1 (so hosts skip probing it). */
    put_word(id, 93, (1u << 14) | (1u << 6) | (1u << 3) | (1u << 1) | 1u);
}

/* ---- PIO data-in (§9.7) and the packet protocol's data phase (§9.10) ---- */

/* Media bytes into the buffer; past the end of the image, zeroes (the last block is padded). */
static int refill(struct ide_cd *d)
{
    uint32_t n = d->read_left < IDE_BUF_SIZE ? (uint32_t)d->read_left : IDE_BUF_SIZE;
    uint64_t inside = d->read_offset < d->cd.image_bytes ? d->cd.image_bytes - d->read_offset : 0;
    uint32_t want = inside < n ? (uint32_t)inside : n;
    memset(d->buf + want, 0, n - want);
    if (want) {
        int rc = d->read(d->read_ctx, d->buf, want, d->read_offset);
        if (rc)
            return rc;
    }
    d->buf_fill = n;
    d->buf_pos = 0;
    d->read_offset += n;
    d->read_left -= n;
    return 0;
}

static void packet_check_condition(struct ide_cd *d, uint8_t sense_key)
{
    stop_transfer(d);
    d->error = (uint8_t)(sense_key << 4);
    d->status = ST_DRDY | ST_ERR;
    d->nsector = (d->nsector & ~7) | IR_IO | IR_COD;
    raise_irq(d);
}

static void packet_done(struct ide_cd *d)
{
    stop_transfer(d);
    d->error = 0;
    d->status = ST_DRDY | ST_DSC;
    d->nsector = (d->nsector & ~7) | IR_IO | IR_COD;
    raise_irq(d);
}

/* Next DRQ block of a data-in phase; the command completes when nothing is left. */
static void next_block(struct ide_cd *d)
{
    if (d->xfer_left == 0) {
        if (d->cdb_len)
            packet_done(d);
        else
            command_ok(d);
        return;
    }
    if (d->buf_pos == d->buf_fill && refill(d)) {
        struct scsi_cd_result r = { 0 };
        scsi_cd_read_failed(&d->cd, &r);
        packet_check_condition(d, SCSI_SK_MEDIUM_ERROR);
        return;
    }
    uint64_t block = d->buf_fill - d->buf_pos;
    if (block > d->xfer_left)
        block = d->xfer_left;
    if (block > d->byte_limit)
        block = d->byte_limit;
    d->drq_end = d->buf_pos + (uint32_t)block;
    if (d->cdb_len) {                /* packet data phase: byte count and interrupt reason (§9.10) */
        d->lbam = (uint8_t)block;
        d->lbah = (uint8_t)(block >> 8);
        d->nsector = (d->nsector & ~7) | IR_IO;
    }
    d->phase = IDE_DATA_IN;
    d->error = 0;
    d->status = ST_DRDY | ST_DSC | ST_DRQ;
    raise_irq(d);
}

/* The packet is in: carry it out through the MMC command set. */
static void run_packet(struct ide_cd *d)
{
    struct scsi_cd_result r;
    scsi_cd_execute(&d->cd, d->cdb, ATAPI_PACKET_LEN, &r);
    if (r.status != SCSI_STATUS_GOOD) {
        packet_check_condition(d, d->cd.sense.key);
        return;
    }
    d->buf_pos = d->buf_fill = 0;
    if (r.read) {
        d->read_offset = r.read_offset;
        d->read_left = r.read_len;
        d->xfer_left = r.read_len;
    } else {
        memcpy(d->buf, r.reply, r.reply_len);
        d->buf_fill = r.reply_len;
        d->xfer_left = r.reply_len;
        d->read_left = 0;
    }
    next_block(d);
}

static void start_packet(struct ide_cd *d)
{
    if (d->features & 0x01) {       /* DMA: this drive does PIO only */
        command_aborted(d);
        return;
    }
    stop_transfer(d);
    uint32_t limit = (uint32_t)d->lbam | (uint32_t)d->lbah << 8;
    if (limit == 0 || limit == 0xffff)  /* 0 is not allowed; 0xffff means "as much as fits" (§8.21) */
        limit = 0xfffe;
    d->byte_limit = limit & ~1u ? limit & ~1u : 2;
    d->phase = IDE_PACKET;
    d->nsector = (d->nsector & ~7) | IR_COD;
    d->error = 0;
    d->status = ST_DRDY | ST_DSC | ST_DRQ;   /* no INTRQ before the packet (word 0 bits 6:5 = 10b) */
}

static void start_identify(struct ide_cd *d)
{
    stop_transfer(d);
    identify_packet_data(d, d->buf);
    d->buf_fill = 512;
    d->xfer_left = 512;
    d->byte_limit = 512;
    next_block(d);
}

static void execute(struct ide_cd *d, uint8_t cmd)
{
    switch (cmd) {
    case CMD_PACKET:
        start_packet(d);
        break;
    case CMD_IDENTIFY_PACKET:
        start_identify(d);
        break;
    case CMD_DEVICE_RESET:           /* no interrupt on completion (§8.10) */
        device_reset(d);
        break;
    case CMD_EXECUTE_DIAGNOSTIC:
        device_reset(d);
        raise_irq(d);
        break;
    case CMD_CHECK_POWER_MODE:
        command_ok(d);
        d->nsector = 0xff;           /* active or idle */
        break;
    case CMD_SET_FEATURES:
    case CMD_STANDBY_IMMEDIATE:
    case CMD_IDLE_IMMEDIATE:
    case CMD_STANDBY:
    case CMD_IDLE:
    case CMD_SLEEP:
    case CMD_FLUSH_CACHE:
        command_ok(d);
        break;
    default:
        /* IDENTIFY DEVICE and the ATA read/write commands: a packet device aborts them and shows its
         * signature, which is how hosts tell it from a disk (§8.15). */
        command_aborted(d);
        if (cmd == CMD_IDENTIFY || (cmd >= 0x20 && cmd <= 0x3f) || (cmd >= 0xc4 && cmd <= 0xcb))
            set_signature(d);
        break;
    }
}

/* ---- the data port ---- */

static void data_read(struct ide_cd *d, uint8_t *data, uint32_t len)
{
    memset(data, 0, len);
    if (d->phase != IDE_DATA_IN)
        return;
    uint32_t n = d->drq_end - d->buf_pos;
    if (n > len)
        n = len;
    memcpy(data, d->buf + d->buf_pos, n);
    d->buf_pos += n;
    d->xfer_left -= n;
    if (d->buf_pos == d->drq_end)
        next_block(d);
}

static void data_write(struct ide_cd *d, const uint8_t *data, uint32_t len)
{
    if (d->phase != IDE_PACKET)
        return;
    for (uint32_t i = 0; i < len && d->cdb_len < ATAPI_PACKET_LEN; i++)
        d->cdb[d->cdb_len++] = data[i];
    if (d->cdb_len == ATAPI_PACKET_LEN) {
        d->phase = IDE_IDLE;
        run_packet(d);
    }
}

/* ---- registers ---- */

static bool slave_selected(const struct ide_cd *d) { return d->device & DEV_SLAVE; }

static uint8_t status_for_host(const struct ide_cd *d)
{
    /* No device 1: its status reads 0, which hosts take as "nothing there". */
    return slave_selected(d) ? 0 : d->status;
}

static uint8_t register_read(struct ide_cd *d, unsigned reg)
{
    switch (reg) {
    case 1: return d->error;
    case 2: return d->nsector;
    case 3: return d->lbal;
    case 4: return d->lbam;
    case 5: return d->lbah;
    case 6: return d->device | 0xa0;   /* obsolete bits 7 and 5 read as one */
    case 7:
        if (!slave_selected(d)) {
            d->irq_pending = false;
            update_irq(d);
        }
        return status_for_host(d);
    default: return 0;
    }
}

static void register_write(struct ide_cd *d, unsigned reg, uint8_t v)
{
    if (d->resetting || (d->status & ST_BSY))
        return;
    switch (reg) {
    case 1: d->features = v; break;
    case 2: d->nsector = v; break;
    case 3: d->lbal = v; break;
    case 4: d->lbam = v; break;
    case 5: d->lbah = v; break;
    case 6: d->device = v & 0x5f; break;
    case 7:
        if (slave_selected(d))
            break;
        d->irq_pending = false;
        update_irq(d);
        execute(d, v);
        break;
    default: break;
    }
}

void ide_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct ide_cd *d = opaque;
    pthread_mutex_lock(&d->lock);
    if (offset == 0 && !slave_selected(d)) {
        if (is_write)
            data_write(d, data, len);
        else
            data_read(d, data, len);
    } else if (offset == 0) {
        if (!is_write)
            memset(data, 0, len);
    } else if (is_write) {
        register_write(d, (unsigned)offset, data[0]);
    } else {
        memset(data, 0, len);
        data[0] = register_read(d, (unsigned)offset);
    }
    pthread_mutex_unlock(&d->lock);
}

/* Alternate status (read: no interrupt acknowledge) and device control (write: nIEN, SRST). */
void ide_ctl_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct ide_cd *d = opaque;
    (void)offset;
    pthread_mutex_lock(&d->lock);
    if (!is_write) {
        memset(data, 0, len);
        data[0] = status_for_host(d);
    } else {
        uint8_t v = data[0];
        if ((v & CTL_SRST) && !d->resetting) {
            d->resetting = true;
            stop_transfer(d);
            d->status = ST_BSY;
        } else if (!(v & CTL_SRST) && d->resetting) {
            d->resetting = false;
            device_reset(d);
        }
        d->control = v;
        if (v & CTL_SRST)
            d->irq_pending = false;
        update_irq(d);
    }
    pthread_mutex_unlock(&d->lock);
}

/* ---- set-up ---- */

static void pci_identity(struct ide_cd *d)
{
    /* Mass storage, IDE, programming interface 0x80: both channels in compatibility mode, bus-master
     * capable (no bus-master BAR here: hosts fall back to PIO). */
    pci_device_init(&d->pci, "ide", 0x8086, 0x7010, 0x010180, 0, 0, 0);
    d->pci.owner = d;
    for (unsigned off = PIIX_IDETIM_PRIMARY; off < PIIX_IDETIM_SECONDARY + 2; off++)
        d->pci.wmask[off] = 0xff;
    d->pci.config[PIIX_IDETIM_PRIMARY + 1] = PIIX_IDETIM_DECODE_ENABLE >> 8;
    d->pci.config[PIIX_IDETIM_SECONDARY + 1] = PIIX_IDETIM_DECODE_ENABLE >> 8;
}

int ide_cd_init(struct ide_cd *d, uint64_t image_bytes, ide_read_fn read, void *read_ctx, const char *serial,
                struct irq_line irq)
{
    memset(d, 0, sizeof(*d));
    d->buf = malloc(IDE_BUF_SIZE);
    if (!d->buf)
        return -ENOMEM;
    pthread_mutex_init(&d->lock, NULL);
    d->read = read;
    d->read_ctx = read_ctx;
    d->irq = irq;
    snprintf(d->serial, sizeof(d->serial), "%s", serial ? serial : "");
    scsi_cd_init_size(&d->cd, image_bytes, d->serial);
    pci_identity(d);
    device_reset(d);
    return 0;
}

void ide_cd_destroy(struct ide_cd *d)
{
    if (!d->buf)
        return;
    if (d->irq_level)
        irq_line_set(&d->irq, 0);
    pthread_mutex_destroy(&d->lock);
    free(d->buf);
    d->buf = NULL;
}
