/* QEMU firmware configuration device (fw_cfg): I/O ports 0x510/0x511 and the DMA interface at 0x514,
 * as SeaBIOS reads it (QEMU docs/specs/fw_cfg.rst). */
#ifndef DEVICES_FW_CFG_H
#define DEVICES_FW_CFG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"
#include "arch/x86/e820.h"

/* I/O ports (x86): the lead registers FW_CFG_PORT_BASE with length FW_CFG_PORT_LEN. */
#define FW_CFG_PORT_BASE 0x510
#define FW_CFG_PORT_LEN 12
#define FW_CFG_PORT_OFF_SELECTOR 0   /* 16-bit write */
#define FW_CFG_PORT_OFF_DATA 1       /* 8-bit read, auto-increment */
#define FW_CFG_PORT_OFF_DMA 4        /* 0x514..0x51b: big-endian 64-bit descriptor address */

/* Selector keys (fw_cfg.rst "Selector (Control) Register" and the item list). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_UUID 0x02
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_WRITE_CHANNEL 0x4000
#define FW_CFG_ARCH_LOCAL 0x8000
#define FW_CFG_ENTRY_MASK 0x3fff

/* FW_CFG_ID feature bits. */
#define FW_CFG_VERSION 0x01
#define FW_CFG_VERSION_DMA 0x02

/* FW_CFG_DMA_CONTROL bits (fw_cfg.rst "FWCfgDmaAccess"). */
#define FW_CFG_DMA_CTL_ERROR 0x01
#define FW_CFG_DMA_CTL_READ 0x02
#define FW_CFG_DMA_CTL_SKIP 0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE 0x10

/* What a read of the DMA address register returns: "QEMU CFG", big-endian. */
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ULL

#define FW_CFG_FILE_NAME_MAX 56      /* including the terminating NUL */
#define FW_CFG_DIR_ENTRY_SIZE 64     /* be32 size, be16 select, be16 reserved, char name[56] */

struct fw_cfg_item {
    uint16_t key;                    /* without FW_CFG_WRITE_CHANNEL */
    uint8_t *data;                   /* owned copy */
    size_t len;
};

struct fw_cfg_file {
    char name[FW_CFG_FILE_NAME_MAX];
    uint16_t key;
};

struct fw_cfg {
    pthread_mutex_t lock;
    const struct guest_memory *mem;
    struct fw_cfg_item *items;
    int nitems, items_cap;
    struct fw_cfg_file *files;       /* in key order; the directory item lists them by name */
    int nfiles, files_cap;
    int cur;                         /* index into items of the selected item, -1: none */
    uint64_t cur_offset;             /* next byte of the selected item */
    uint8_t dma_addr[8];             /* the address register as written: big-endian */
};

/* Sets up the signature, ID (traditional + DMA), a zero UUID, RAM size (from mem) and an empty
 * file directory. `mem` is used for DMA; it must outlive the device. 0 or -ENOMEM. */
int fw_cfg_init(struct fw_cfg *f, const struct guest_memory *mem);
void fw_cfg_destroy(struct fw_cfg *f);

/* Adds or replaces item `key` with a copy of `data`. Keys from FW_CFG_FILE_FIRST up (without
 * FW_CFG_ARCH_LOCAL) belong to files and FW_CFG_FILE_DIR to the directory. 0, -EINVAL, -ENOMEM. */
int fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, size_t len);
/* Little-endian integers. */
int fw_cfg_add_i16(struct fw_cfg *f, uint16_t key, uint16_t v);
int fw_cfg_add_i32(struct fw_cfg *f, uint16_t key, uint32_t v);
int fw_cfg_add_i64(struct fw_cfg *f, uint16_t key, uint64_t v);
/* Adds a named file (copied) at the next free key from FW_CFG_FILE_FIRST; returns that key (> 0),
 * -EINVAL (empty name or longer than 55 bytes, or larger than 4 GiB), -EEXIST, -ENOSPC, -ENOMEM. */
int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len);

/* "etc/e820": packed {le64 address, le64 length, le32 type} for each entry of `m`. */
int fw_cfg_add_e820(struct fw_cfg *f, const struct e820_map *m);
/* "bootorder": the `n` OpenFirmware device paths separated by newlines, NUL-terminated (as QEMU
 * writes it; SeaBIOS splits it on newlines). n == 0 adds nothing. */
int fw_cfg_add_bootorder(struct fw_cfg *f, const char *const *paths, int n);

/* Bus callback for FW_CFG_PORT_LEN ports at FW_CFG_PORT_BASE. */
void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
