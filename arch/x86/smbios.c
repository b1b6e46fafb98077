/* SMBIOS structure table and 2.1 entry point handed to SeaBIOS through fw_cfg (DMTF DSP0134 3.x:
 * §6.1.2 structure header and string set, §7.2 type 1, §7.4 type 3, §7.5 type 4, §7.17 type 16,
 * §7.18 type 17, §7.20 type 19, §7.33 type 32, §7.46 type 127; §5.2.1 the 32-bit entry point).
 * Without these files SeaBIOS builds legacy tables itself, which costs it far more instructions. */
#include "arch/x86/smbios.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define DIMM_MB 16384u                  /* one type 17 device per 16 GiB */

struct builder {
    uint8_t *buf;
    size_t len, cap;
    size_t start;                       /* offset of the structure being built */
    int nstrings, nstructs;
    size_t max_struct;
    bool oom;
};

static uint8_t *room(struct builder *b, size_t n)
{
    if (b->oom)
        return NULL;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 512;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *p = realloc(b->buf, cap);
        if (!p) {
            b->oom = true;
            return NULL;
        }
        b->buf = p;
        b->cap = cap;
    }
    uint8_t *p = b->buf + b->len;
    memset(p, 0, n);
    b->len += n;
    return p;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

/* Starts a structure: returns its formatted area (header filled in), zeroed. */
static uint8_t *begin(struct builder *b, uint8_t type, uint8_t len, uint16_t handle)
{
    b->start = b->len;
    b->nstrings = 0;
    uint8_t *s = room(b, len);
    if (!s)
        return NULL;
    s[0] = type;
    s[1] = len;
    put16(s + 2, handle);
    return s;
}

/* Appends a string to the current structure's string set; returns its number (0: none). */
static uint8_t add_string(struct builder *b, const char *str)
{
    if (!str || !*str)
        return 0;
    size_t n = strlen(str) + 1;
    uint8_t *p = room(b, n);
    if (!p)
        return 0;
    memcpy(p, str, n);
    return (uint8_t)++b->nstrings;
}

/* Ends the string set: a double NUL, or two NULs without strings (§6.1.3). */
static void end(struct builder *b)
{
    room(b, b->nstrings ? 1 : 2);
    size_t size = b->len - b->start;
    if (size > b->max_struct)
        b->max_struct = size;
    b->nstructs++;
}

/* The string fields are set after begin(): the formatted area may move when strings grow the buffer. */
#define AT(b, off) ((b)->buf + (b)->start + (off))

static void type1_system(struct builder *b, const struct smbios_config *c)
{
    if (!begin(b, 1, 0x1b, 0x0100))
        return;
    memcpy(AT(b, 8), c->uuid, 16);
    *AT(b, 24) = 0x06;                                   /* wake-up type: power switch */
    uint8_t m = add_string(b, "vmm"), p = add_string(b, c->product ? c->product : "vmm virtual machine");
    *AT(b, 4) = m;
    *AT(b, 5) = p;
    end(b);
}

static void type3_chassis(struct builder *b)
{
    if (!begin(b, 3, 0x16, 0x0300))
        return;
    *AT(b, 5) = 0x01;                                    /* type: other */
    *AT(b, 9) = *AT(b, 10) = *AT(b, 11) = 0x03;          /* boot-up, power, thermal state: safe */
    *AT(b, 12) = 0x02;                                   /* security status: unknown */
    uint8_t m = add_string(b, "vmm");
    *AT(b, 4) = m;
    end(b);
}

static void type4_processor(struct builder *b, int i)
{
    if (!begin(b, 4, 0x2a, (uint16_t)(0x0400 + i)))
        return;
    *AT(b, 5) = 0x03;                                    /* central processor */
    *AT(b, 6) = 0x01;                                    /* family: other */
    *AT(b, 0x18) = 0x41;                                 /* socket populated, CPU enabled */
    *AT(b, 0x19) = 0x01;                                 /* upgrade: other */
    put16(AT(b, 0x1a), 0xffff);                          /* no cache information */
    put16(AT(b, 0x1c), 0xffff);
    put16(AT(b, 0x1e), 0xffff);
    *AT(b, 0x23) = *AT(b, 0x24) = *AT(b, 0x25) = 1;      /* cores, enabled cores, threads */
    put16(AT(b, 0x26), 0x0002);                          /* characteristics: unknown */
    put16(AT(b, 0x28), 0x0001);                          /* family 2: other */
    char name[24];
    snprintf(name, sizeof(name), "CPU %d", i);
    uint8_t socket = add_string(b, name), maker = add_string(b, "vmm");
    *AT(b, 4) = socket;
    *AT(b, 7) = maker;
    end(b);
}

static void type16_array(struct builder *b, uint64_t ram, int ndimms)
{
    if (!begin(b, 16, 0x17, 0x1000))
        return;
    *AT(b, 4) = 0x01;                                    /* location: other */
    *AT(b, 5) = 0x03;                                    /* use: system memory */
    *AT(b, 6) = 0x03;                                    /* error correction: none */
    uint64_t kib = ram / 1024;
    if (kib < 0x80000000ULL) {
        put32(AT(b, 7), (uint32_t)kib);
    } else {
        put32(AT(b, 7), 0x80000000u);                    /* see extended maximum capacity */
        put64(AT(b, 15), ram);
    }
    put16(AT(b, 11), 0xfffe);                            /* no error information */
    put16(AT(b, 13), (uint16_t)ndimms);
    end(b);
}

static void type17_device(struct builder *b, int i, uint32_t mb)
{
    if (!begin(b, 17, 0x28, (uint16_t)(0x1100 + i)))
        return;
    put16(AT(b, 4), 0x1000);                             /* its type 16 array */
    put16(AT(b, 6), 0xfffe);
    put16(AT(b, 8), 64);                                 /* total and data width, bits */
    put16(AT(b, 10), 64);
    put16(AT(b, 12), (uint16_t)mb);                      /* MiB (bit 15 clear), at most 16 GiB */
    *AT(b, 14) = 0x09;                                   /* form factor: DIMM */
    *AT(b, 0x12) = 0x07;                                 /* memory type: RAM */
    put16(AT(b, 0x13), 0x0002);                          /* type detail: other */
    char name[24];
    snprintf(name, sizeof(name), "DIMM %d", i);
    uint8_t loc = add_string(b, name), maker = add_string(b, "vmm");
    *AT(b, 0x10) = loc;
    *AT(b, 0x17) = maker;
    end(b);
}

/* One mapped range [start, start + size), in bytes; addresses past 4 TiB use the extended fields. */
static void type19_mapping(struct builder *b, int i, uint64_t start, uint64_t size)
{
    if (!begin(b, 19, 0x1f, (uint16_t)(0x1300 + i)))
        return;
    uint64_t last = start + size - 1;
    if (last / 1024 < 0xffffffffULL) {
        put32(AT(b, 4), (uint32_t)(start / 1024));
        put32(AT(b, 8), (uint32_t)(last / 1024));
    } else {
        put32(AT(b, 4), 0xffffffffu);
        put32(AT(b, 8), 0xffffffffu);
        put64(AT(b, 15), start);
        put64(AT(b, 23), last);
    }
    put16(AT(b, 12), 0x1000);
    *AT(b, 14) = 1;                                      /* partition width */
    end(b);
}

static void simple(struct builder *b, uint8_t type, uint8_t len, uint16_t handle)
{
    if (begin(b, type, len, handle))
        end(b);
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)-sum;
}

/* §5.2.1: structure table address left 0 for the firmware to fill (and to fix the checksums). */
static void entry_point(struct smbios_blob *out, const struct builder *b)
{
    uint8_t *a = out->anchor;
    memset(a, 0, SMBIOS_ANCHOR_LEN);
    memcpy(a, "_SM_", 4);
    a[5] = SMBIOS_ANCHOR_LEN;
    a[6] = 2;                                            /* version 2.8 */
    a[7] = 8;
    put16(a + 8, (uint16_t)b->max_struct);
    memcpy(a + 16, "_DMI_", 5);
    put16(a + 22, (uint16_t)b->len);
    put16(a + 28, (uint16_t)b->nstructs);
    a[30] = 0x28;
    a[21] = checksum(a + 16, SMBIOS_ANCHOR_LEN - 16);
    a[4] = checksum(a, 16);
}

int smbios_build(const struct smbios_config *c, struct smbios_blob *out)
{
    memset(out, 0, sizeof(*out));
    if (c->cpus < 1 || c->cpus > 255 || c->ram_below_4g == 0)
        return -EINVAL;
    struct builder b = { 0 };
    uint64_t ram = c->ram_below_4g + c->ram_above_4g;
    uint64_t total_mb = (ram + MiB - 1) / MiB;
    int ndimms = (int)((total_mb + DIMM_MB - 1) / DIMM_MB);
    type1_system(&b, c);
    type3_chassis(&b);
    for (int i = 0; i < c->cpus; i++)
        type4_processor(&b, i);
    type16_array(&b, ram, ndimms);
    for (int i = 0; i < ndimms; i++) {
        uint64_t left = total_mb - (uint64_t)i * DIMM_MB;
        type17_device(&b, i, (uint32_t)(left < DIMM_MB ? left : DIMM_MB));
    }
    type19_mapping(&b, 0, 0, c->ram_below_4g);
    if (c->ram_above_4g)
        type19_mapping(&b, 1, 4 * GiB, c->ram_above_4g);
    simple(&b, 32, 0x0b, 0x2000);                        /* boot information: no errors */
    simple(&b, 127, 4, 0x7f00);                          /* end of table */
    if (b.oom || b.len > 0xffff) {
        free(b.buf);
        return b.oom ? -ENOMEM : -EINVAL;
    }
    out->tables = b.buf;
    out->tables_len = b.len;
    out->nstructs = b.nstructs;
    entry_point(out, &b);
    return 0;
}

void smbios_free(struct smbios_blob *b)
{
    free(b->tables);
    b->tables = NULL;
    b->tables_len = 0;
}
