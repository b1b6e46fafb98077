/* SCSI/MMC command set of a read-only CD/DVD-ROM drive (SPC-4, MMC-6), independent of any transport:
 * one CDB in, status + autosense + a small reply (or a media read to carry out) out. */
#ifndef DEVICES_SCSI_CD_H
#define DEVICES_SCSI_CD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/block/block.h"

#define SCSI_CD_BLOCK 2048u              /* logical block (MMC-6 §4.2: 2048-byte user data) */
#define SCSI_CD_REPLY_MAX 512            /* largest non-media reply this drive builds */
#define SCSI_SENSE_FIXED_LEN 18          /* fixed-format sense data (SPC-4 §4.5.3) */
#define SCSI_CD_SERIAL_MAX 20
/* Images with more 2048-byte blocks than an 80-minute CD (360000) present the DVD-ROM profile. */
#define SCSI_CD_MAX_CD_BLOCKS 360000u

/* Status codes (SAM-5 §5.3). */
#define SCSI_STATUS_GOOD 0x00
#define SCSI_STATUS_CHECK_CONDITION 0x02

/* Sense keys (SPC-4 §4.5.6). */
#define SCSI_SK_NO_SENSE 0x0
#define SCSI_SK_NOT_READY 0x2
#define SCSI_SK_MEDIUM_ERROR 0x3
#define SCSI_SK_ILLEGAL_REQUEST 0x5
#define SCSI_SK_UNIT_ATTENTION 0x6
#define SCSI_SK_DATA_PROTECT 0x7

/* Additional sense codes used here (asc << 8 | ascq, SPC-4 Annex D). */
#define SCSI_ASC_NONE 0x0000
#define SCSI_ASC_UNRECOVERED_READ_ERROR 0x1100
#define SCSI_ASC_INVALID_OPCODE 0x2000
#define SCSI_ASC_LBA_OUT_OF_RANGE 0x2100
#define SCSI_ASC_INVALID_FIELD_IN_CDB 0x2400
#define SCSI_ASC_WRITE_PROTECTED 0x2700
#define SCSI_ASC_MEDIUM_MAY_HAVE_CHANGED 0x2800
#define SCSI_ASC_POWER_ON_RESET 0x2900
#define SCSI_ASC_BUS_DEVICE_RESET 0x2903
#define SCSI_ASC_SAVING_NOT_SUPPORTED 0x3900
#define SCSI_ASC_MEDIUM_NOT_PRESENT_TRAY_OPEN 0x3a02
#define SCSI_ASC_REMOVAL_PREVENTED 0x5302

struct scsi_sense {
    uint8_t key;
    uint16_t asc;                         /* asc << 8 | ascq */
};

/* One drive with one medium: the image behind a read-only block backend. */
struct scsi_cd {
    const struct block_backend *backend;  /* only its size is read here */
    uint64_t image_bytes;
    uint64_t blocks;                      /* capacity: a last partial block counts (zero-padded) */
    bool dvd;                             /* profile 0x0010 DVD-ROM, else 0x0008 CD-ROM */
    char serial[SCSI_CD_SERIAL_MAX + 1];
    struct scsi_sense sense;              /* of the last command, for REQUEST SENSE */
    struct scsi_sense unit_attention;     /* pending when key != 0 */
    bool prevent_removal;
    bool tray_open;                       /* ejected: no medium until loaded again */
    uint8_t media_event;                  /* GET EVENT STATUS media event pending (MMC-6 §6.6) */
};

/* What one command produced. */
struct scsi_cd_result {
    uint8_t status;                       /* SCSI_STATUS_GOOD or SCSI_STATUS_CHECK_CONDITION */
    uint8_t sense[SCSI_SENSE_FIXED_LEN];  /* autosense with CHECK CONDITION */
    uint32_t sense_len;                   /* 0 with GOOD */
    uint8_t reply[SCSI_CD_REPLY_MAX];
    uint32_t reply_len;                   /* data-in bytes, already cut to the allocation length */
    bool read;                            /* GOOD and a media read to carry out (reply unused) */
    uint64_t read_offset, read_len;       /* image bytes; may run past image_bytes in the last block */
};

/* A drive for the image behind `backend` (size taken now); starts with a power-on unit attention. */
void scsi_cd_init(struct scsi_cd *cd, const struct block_backend *backend, const char *serial);
/* Same for an image of `image_bytes` without a backend (transports that read the image themselves, tests). */
void scsi_cd_init_size(struct scsi_cd *cd, uint64_t image_bytes, const char *serial);
/* Hard reset (`lun_reset` false: power on / bus reset) or LOGICAL UNIT RESET: unit attention,
 * medium removal allowed again; the tray stays where it is. */
void scsi_cd_reset(struct scsi_cd *cd, bool lun_reset);
/* Executes one CDB (`cdb_len` bytes; shorter than the opcode's length reads as zeroes). */
void scsi_cd_execute(struct scsi_cd *cd, const uint8_t *cdb, unsigned cdb_len, struct scsi_cd_result *r);
/* The media read of `r` failed in the backend: CHECK CONDITION MEDIUM ERROR, sense kept. */
void scsi_cd_read_failed(struct scsi_cd *cd, struct scsi_cd_result *r);
/* Turns the media read of `r` into backend I/O into `dst` (which must hold read_len bytes): iovecs
 * for the part inside the image go to `iov_out` (room for ndst entries) and `io`; the part past the
 * image end is zeroed at once. Returns 1 when `io` must be submitted, 0 when nothing is left to
 * read, -1 when `dst` is too small. Sets io->op, offset, len, iov, iovcnt only. */
int scsi_cd_read_io(const struct scsi_cd *cd, const struct scsi_cd_result *r, const struct iovec *dst, int ndst,
                    struct iovec *iov_out, struct blk_io *io);

#endif
