/* PIIX3-compatible IDE function (PCI 8086:7010, legacy ports) with one ATAPI CD-ROM on the secondary
 * master: the ATA/ATAPI-6 taskfile, PIO data-in, and the PACKET protocol carrying devices/scsi_cd.c's
 * MMC command set. The CD QEMU users know from `-cdrom`: firmware finds it without a bus scan. */
#ifndef DEVICES_IDE_H
#define DEVICES_IDE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "devices/pci.h"
#include "devices/scsi_cd.h"

/* Legacy ("compatibility mode") resources of the two channels (ATA/ATAPI-6 §5, PIIX3 datasheet §2.3). */
#define IDE_PRIMARY_CMD_PORT 0x1f0
#define IDE_PRIMARY_CTL_PORT 0x3f6
#define IDE_SECONDARY_CMD_PORT 0x170
#define IDE_SECONDARY_CTL_PORT 0x376
#define IDE_CMD_PORTS 8
#define IDE_SECONDARY_IRQ 15

#define IDE_BUF_SIZE (64u * 1024u)   /* one refill of media data; DRQ blocks are at most 0xfffe bytes */

/* Reads `len` image bytes at `offset` for the drive (zeroes past the end of the file): 0 or -errno. */
typedef int (*ide_read_fn)(void *ctx, void *buf, uint64_t len, uint64_t offset);

enum ide_phase {
    IDE_IDLE,         /* no data transfer */
    IDE_PACKET,       /* waiting for the 12-byte command packet (DRQ, CoD=1, IO=0) */
    IDE_DATA_IN,      /* device to host through the data port (DRQ, IO=1) */
};

struct ide_cd {
    struct pci_device pci;
    pthread_mutex_t lock;
    struct scsi_cd cd;
    ide_read_fn read;
    void *read_ctx;
    struct irq_line irq;
    char serial[SCSI_CD_SERIAL_MAX + 1];
    /* Taskfile of the channel (ATA/ATAPI-6 §7): one register set, the device bit selects the drive. */
    uint8_t error, features, nsector, lbal, lbam, lbah, device, status, control;
    bool resetting;                 /* SRST set in the device control register */
    bool irq_pending;               /* INTRQ, until the status register is read */
    bool irq_level;                 /* what the line is driven to */
    /* Data transfer. */
    enum ide_phase phase;
    uint8_t cdb[12];
    uint32_t cdb_len;
    uint8_t *buf;                   /* IDE_BUF_SIZE bytes */
    uint32_t buf_fill, buf_pos;     /* valid bytes in buf, next byte to hand out */
    uint32_t drq_end;               /* end (in buf) of the current DRQ block */
    uint64_t xfer_left;             /* bytes of the command's data phase not yet handed out */
    uint64_t read_offset, read_left;   /* media read: image bytes not yet in buf */
    uint32_t byte_limit;            /* byte count limit of the PACKET command (even, >= 2) */
};

/* The drive for an image of `image_bytes` read through `read`; `serial` up to 20 characters. */
int ide_cd_init(struct ide_cd *d, uint64_t image_bytes, ide_read_fn read, void *read_ctx, const char *serial,
                struct irq_line irq);
void ide_cd_destroy(struct ide_cd *d);

/* Bus callbacks: the secondary channel's command block (8 ports) and its control block (1 port). */
void ide_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void ide_ctl_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
