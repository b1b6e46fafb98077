/* ACPI tables for the x86 PC guest (ACPI 6.4 §5.2): one blob holding RSDP, RSDT, XSDT, FADT, FACS,
 * MADT and DSDT, with the list of pointers and checksums a firmware table loader needs. */
#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define ACPI_HEADER_LEN 36          /* System Description Table Header (§5.2.6) */
#define RSDP_LEN 36                 /* §5.2.5.3, revision 2 */
#define RSDP_V1_LEN 20              /* the part covered by the first checksum */
#define FACS_LEN 64                 /* §5.2.10 */
#define FADT_LEN 276                /* §5.2.9, revision 6 */
#define FADT_REVISION 6
#define FADT_MINOR_VERSION 4        /* ACPI 6.4, no errata */
#define MADT_REVISION 5             /* ACPI 6.4 §5.2.12 */
#define DSDT_REVISION 2             /* 64-bit AML integers (§5.2.11.1) */

#define OEM_ID "VMM   "
#define CREATOR_ID "VMM "

/* --- the growing blob ------------------------------------------------------------------------ */

struct builder {
    struct acpi_tables *t;
    size_t max_len;
    int err;
};

static void fail(struct builder *b, int err)
{
    if (!b->err)
        b->err = err;
}

/* `len` zeroed bytes at the next multiple of `align` (a power of two); returns their offset. */
static size_t blob_alloc(struct builder *b, size_t len, size_t align)
{
    struct acpi_tables *t = b->t;
    size_t off = (t->len + align - 1) & ~(align - 1);
    if (b->err)
        return 0;
    if (len > SIZE_MAX / 4 || off > SIZE_MAX / 4 || (b->max_len && off + len > b->max_len)) {
        fail(b, -ENOSPC);
        return 0;
    }
    if (off + len > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < off + len)
            cap *= 2;
        uint8_t *p = realloc(t->data, cap);
        if (!p) {
            fail(b, -ENOMEM);
            return 0;
        }
        memset(p + t->cap, 0, cap - t->cap);
        t->data = p;
        t->cap = cap;
    }
    t->len = off + len;
    return off;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static void add_pointer(struct builder *b, size_t at, uint8_t width, size_t target)
{
    struct acpi_tables *t = b->t;
    if (b->err)
        return;
    if (t->npointers == ACPI_MAX_POINTERS) {
        fail(b, -ENOSPC);
        return;
    }
    t->pointers[t->npointers++] = (struct acpi_pointer){ .at = at, .width = width, .target = target };
}

static void add_checksum(struct builder *b, size_t start, size_t len, size_t at)
{
    struct acpi_tables *t = b->t;
    if (b->err)
        return;
    if (t->nchecksums == ACPI_MAX_CHECKSUMS) {
        fail(b, -ENOSPC);
        return;
    }
    t->checksums[t->nchecksums++] = (struct acpi_checksum){ .start = start, .len = len, .at = at };
}

static void add_table(struct builder *b, const char *sig, size_t off, size_t len)
{
    struct acpi_tables *t = b->t;
    if (b->err)
        return;
    if (t->ntables == ACPI_MAX_TABLES) {
        fail(b, -ENOSPC);
        return;
    }
    struct acpi_table_ref *r = &t->tables[t->ntables++];
    memcpy(r->sig, sig, 4);
    r->sig[4] = '\0';
    r->off = off;
    r->len = len;
}

/* A table with a System Description Table Header (§5.2.6); returns its offset. */
static size_t new_table(struct builder *b, const char *sig, size_t len, uint8_t revision)
{
    size_t off = blob_alloc(b, len, 8);
    if (b->err)
        return 0;
    uint8_t *h = b->t->data + off;
    memcpy(h, sig, 4);
    put32(h + 4, (uint32_t)len);
    h[8] = revision;
    memcpy(h + 10, OEM_ID, 6);
    memcpy(h + 16, "VMM", 3);               /* OEM Table ID: "VMM" + signature + ' ' */
    memcpy(h + 19, sig, 4);
    h[23] = ' ';
    put32(h + 24, 1);                       /* OEM Revision */
    memcpy(h + 28, CREATOR_ID, 4);
    put32(h + 32, 1);                       /* Creator Revision */
    add_checksum(b, off, len, off + 9);
    add_table(b, sig, off, len);
    return off;
}

/* Generic Address Structure (§5.2.3.2) for a system I/O register. */
enum { GAS_SYSTEM_IO = 1 };
enum { GAS_ACCESS_BYTE = 1, GAS_ACCESS_WORD = 2, GAS_ACCESS_DWORD = 3 };

static void put_gas_io(uint8_t *p, uint8_t bit_width, uint8_t access_size, uint16_t port)
{
    p[0] = GAS_SYSTEM_IO;
    p[1] = bit_width;
    p[2] = 0;                               /* Register Bit Offset */
    p[3] = access_size;
    put64(p + 4, port);
}

/* --- the tables ------------------------------------------------------------------------------ */

/* Root System Description Pointer, revision 2 (§5.2.5.3). */
static size_t build_rsdp(struct builder *b)
{
    size_t off = blob_alloc(b, RSDP_LEN, 16);
    if (b->err)
        return 0;
    uint8_t *p = b->t->data + off;
    memcpy(p, "RSD PTR ", 8);
    memcpy(p + 9, OEM_ID, 6);
    p[15] = 2;                              /* Revision: ACPI 2.0+ */
    put32(p + 20, RSDP_LEN);
    add_checksum(b, off, RSDP_V1_LEN, off + 8);
    add_checksum(b, off, RSDP_LEN, off + 32); /* Extended Checksum, after the first */
    add_table(b, "RSD ", off, RSDP_LEN);
    return off;
}

/* Link the RSDP to the RSDT (32-bit) and XSDT (64-bit). */
static void link_rsdp(struct builder *b, size_t rsdp, size_t rsdt, size_t xsdt)
{
    add_pointer(b, rsdp + 16, 4, rsdt);
    add_pointer(b, rsdp + 24, 8, xsdt);
}

/* Firmware ACPI Control Structure (§5.2.10): 64-byte aligned, no checksum. */
static size_t build_facs(struct builder *b)
{
    size_t off = blob_alloc(b, FACS_LEN, 64);
    if (b->err)
        return 0;
    uint8_t *p = b->t->data + off;
    memcpy(p, "FACS", 4);
    put32(p + 4, FACS_LEN);
    p[32] = 2;                              /* Version */
    add_table(b, "FACS", off, FACS_LEN);
    return off;
}

/* RSDT (§5.2.7, 32-bit entries) or XSDT (§5.2.8, 64-bit entries) listing `entries`. */
static size_t build_root_table(struct builder *b, const char *sig, uint8_t width,
                               const size_t *entries, int n)
{
    size_t off = new_table(b, sig, ACPI_HEADER_LEN + (size_t)width * (size_t)n, 1);
    for (int i = 0; i < n; i++)
        add_pointer(b, off + ACPI_HEADER_LEN + (size_t)width * (size_t)i, width, entries[i]);
    return off;
}

/* FADT flags (§5.2.9 Table 5.10) and IA-PC boot architecture flags (§5.2.9.3 Table 5.11). */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_SLP_BUTTON (1u << 5)           /* 1: no fixed-feature sleep button */
#define FADT_TMR_VAL_EXT (1u << 8)
#define FADT_RESET_REG_SUP (1u << 10)
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)
#define CMOS_CENTURY_INDEX 0x32

/* Fixed ACPI Description Table, revision 6 (§5.2.9 Table 5.9). */
static size_t build_fadt(struct builder *b, const struct acpi_config *c, size_t facs, size_t dsdt)
{
    size_t off = new_table(b, "FACP", FADT_LEN, FADT_REVISION);
    if (b->err)
        return 0;
    uint8_t *p = b->t->data + off;
    add_pointer(b, off + 36, 4, facs);      /* FIRMWARE_CTRL: the FACS lies below 4 GiB */
    add_pointer(b, off + 40, 4, dsdt);      /* DSDT */
    put16(p + 46, c->sci_irq);              /* SCI_INT */
    /* SMI_CMD (48) = 0, ACPI_ENABLE/ACPI_DISABLE = 0: the hardware is always in ACPI mode. */
    put32(p + 56, c->pm1a_evt_port);        /* PM1a_EVT_BLK */
    put32(p + 64, c->pm1a_cnt_port);        /* PM1a_CNT_BLK */
    put32(p + 76, c->pm_tmr_port);          /* PM_TMR_BLK; no GPE blocks */
    p[88] = 4;                              /* PM1_EVT_LEN */
    p[89] = 2;                              /* PM1_CNT_LEN */
    p[91] = 4;                              /* PM_TMR_LEN */
    put16(p + 96, 0x0fff);                  /* P_LVL2_LAT > 100: no C2 */
    put16(p + 98, 0x0fff);                  /* P_LVL3_LAT > 1000: no C3 */
    p[108] = CMOS_CENTURY_INDEX;            /* CENTURY */
    put16(p + 109, IAPC_LEGACY_DEVICES | IAPC_8042);
    /* PWR_BUTTON stays clear: the power button is the fixed-feature one. */
    put32(p + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT |
                   FADT_RESET_REG_SUP);
    put_gas_io(p + 116, 8, GAS_ACCESS_BYTE, c->reset_port); /* RESET_REG */
    p[128] = c->reset_value;
    p[131] = FADT_MINOR_VERSION;
    /* X_FIRMWARE_CTRL (132) stays 0: only one of the two FACS pointers may be non-zero (§5.2.9). */
    add_pointer(b, off + 140, 8, dsdt);     /* X_DSDT */
    put_gas_io(p + 148, 32, GAS_ACCESS_WORD, c->pm1a_evt_port);  /* X_PM1a_EVT_BLK */
    put_gas_io(p + 172, 16, GAS_ACCESS_WORD, c->pm1a_cnt_port);  /* X_PM1a_CNT_BLK */
    put_gas_io(p + 208, 32, GAS_ACCESS_DWORD, c->pm_tmr_port);   /* X_PM_TMR_BLK */
    return off;
}

/* MADT interrupt controller structures (§5.2.12, Table 5.45 ff.). */
enum {
    MADT_LOCAL_APIC = 0, MADT_IO_APIC = 1, MADT_SOURCE_OVERRIDE = 2, MADT_LOCAL_APIC_NMI = 4,
};
#define MADT_PCAT_COMPAT (1u << 0)
#define MADT_LAPIC_ENABLED (1u << 0)
#define MPS_INTI_ACTIVE_HIGH 0x1            /* MPS INTI flags (§5.2.12.5 Table 5.50) */
#define MPS_INTI_LEVEL (0x3 << 2)
#define MADT_OVERRIDES 2

static size_t madt_len(int ncpus)
{
    return ACPI_HEADER_LEN + 8 + 8 * (size_t)ncpus + 12 + 10 * MADT_OVERRIDES + 6;
}

/* Interrupt Source Override (§5.2.12.5): ISA `irq` arrives at `gsi`. */
static uint8_t *madt_override(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
    e[0] = MADT_SOURCE_OVERRIDE;
    e[1] = 10;
    e[2] = 0;                               /* Bus: ISA */
    e[3] = irq;
    put32(e + 4, gsi);
    put16(e + 8, flags);
    return e + 10;
}

/* Multiple APIC Description Table (§5.2.12). */
static size_t build_madt(struct builder *b, const struct acpi_config *c)
{
    size_t off = new_table(b, "APIC", madt_len(c->ncpus), MADT_REVISION);
    if (b->err)
        return 0;
    uint8_t *p = b->t->data + off;
    put32(p + 36, c->lapic_addr);
    put32(p + 40, MADT_PCAT_COMPAT);
    uint8_t *e = p + 44;
    for (int cpu = 0; cpu < c->ncpus; cpu++, e += 8) {  /* Processor Local APIC (§5.2.12.2) */
        e[0] = MADT_LOCAL_APIC;
        e[1] = 8;
        e[2] = (uint8_t)cpu;                /* ACPI Processor UID */
        e[3] = (uint8_t)cpu;                /* APIC ID */
        put32(e + 4, MADT_LAPIC_ENABLED);
    }
    e[0] = MADT_IO_APIC;                    /* I/O APIC (§5.2.12.3) */
    e[1] = 12;
    e[2] = c->ioapic_id;
    put32(e + 4, c->ioapic_addr);
    put32(e + 8, 0);                        /* Global System Interrupt Base */
    e += 12;
    e = madt_override(e, 0, 2, 0);          /* the PIT's IRQ0 is wired to pin 2 */
    e = madt_override(e, c->sci_irq, c->sci_irq, MPS_INTI_ACTIVE_HIGH | MPS_INTI_LEVEL);
    e[0] = MADT_LOCAL_APIC_NMI;             /* Local APIC NMI (§5.2.12.7) */
    e[1] = 6;
    e[2] = 0xff;                            /* all processors */
    put16(e + 3, 0);                        /* flags: conforms to the bus */
    e[5] = 1;                               /* LINT1 */
    return off;
}

/* --- DSDT (AML, §19/§20) --------------------------------------------------------------------- */

/* \_SB.PCI0._CRS: the root bridge's bus, I/O and memory windows (§6.4.3.5). */
static void dsdt_pci_crs(struct aml *a, const struct acpi_config *c)
{
    aml_name(a, "_CRS");
    aml_resource_begin(a);
    aml_res_word_bus(a, 0x00, 0xff);
    aml_res_io(a, 0x0cf8, 0x0cf8, 1, 8);   /* PCI configuration mechanism #1 */
    aml_res_word_io(a, 0x0000, 0x0cf7);
    aml_res_word_io(a, 0x0d00, 0xffff);
    aml_res_dword_memory(a, AML_MEM_CACHEABLE | AML_MEM_RW, 0x000a0000, 0x000bffff); /* VGA */
    aml_res_dword_memory(a, AML_MEM_RW, c->pci_mmio32_base, c->pci_mmio32_limit);
    if (c->pci_mmio64_size)
        aml_res_qword_memory(a, AML_MEM_CACHEABLE | AML_MEM_RW, c->pci_mmio64_base,
                             c->pci_mmio64_base + c->pci_mmio64_size - 1);
    aml_resource_end(a);
}

/* \_SB.PCI0._PRT (§6.2.13): INTA-D of slots 1-31 wired straight to GSIs 16-23, swizzled. */
static void dsdt_pci_prt(struct aml *a)
{
    aml_name(a, "_PRT");
    aml_package_begin(a);
    for (unsigned slot = 1; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            aml_package_begin(a);
            aml_integer(a, (slot << 16) | 0xffff);  /* Address: any function of the slot */
            aml_integer(a, pin);
            aml_integer(a, 0);                      /* Source: none, a GSI follows */
            aml_integer(a, 16 + ((slot + pin) & 7));
            aml_end(a);
        }
    }
    aml_end(a);
}

/* An _HID/_UID/_STA device with a _CRS of one I/O range and an optional ISA IRQ (mask 0: none). */
static void dsdt_legacy_device(struct aml *a, const char *name, const char *eisa_hid,
                               const char *string_hid, uint16_t port, uint8_t len, uint16_t irq_mask)
{
    aml_device_begin(a, name);
    if (eisa_hid) {
        aml_name_eisaid(a, "_HID", eisa_hid);
        aml_name_integer(a, "_UID", 1);
    } else {
        aml_name_string(a, "_HID", string_hid);
    }
    aml_name_integer(a, "_STA", 0x0f);      /* present, enabled, shown, functioning */
    aml_name(a, "_CRS");
    aml_resource_begin(a);
    aml_res_io(a, port, port, 1, len);
    if (irq_mask)
        aml_res_irq_noflags(a, irq_mask);
    aml_resource_end(a);
    aml_end(a);
}

/* The PS/2 controller's keyboard (PNP0303: ports 0x60 and 0x64, IRQ 1) and mouse (PNP0F13, IRQ 12).
 * SeaBIOS and Linux look for these before they touch the i8042. */
static void dsdt_ps2(struct aml *a)
{
    aml_device_begin(a, "KBD");
    aml_name_eisaid(a, "_HID", "PNP0303");
    aml_name_integer(a, "_STA", 0x0f);
    aml_name(a, "_CRS");
    aml_resource_begin(a);
    aml_res_io(a, 0x60, 0x60, 1, 1);
    aml_res_io(a, 0x64, 0x64, 1, 1);
    aml_res_irq_noflags(a, 1u << 1);
    aml_resource_end(a);
    aml_end(a);
    aml_device_begin(a, "MOU");
    aml_name_eisaid(a, "_HID", "PNP0F13");
    aml_name_integer(a, "_STA", 0x0f);
    aml_name(a, "_CRS");
    aml_resource_begin(a);
    aml_res_irq_noflags(a, 1u << 12);
    aml_resource_end(a);
    aml_end(a);
}

/* \_SB.PCI0.ISA: a generic container (PNP0A05) for the ISA devices: COM1, the RTC, PS/2. */
static void dsdt_isa(struct aml *a, const struct acpi_config *c)
{
    aml_device_begin(a, "ISA");
    aml_name_eisaid(a, "_HID", "PNP0A05");
    dsdt_legacy_device(a, "COM1", "PNP0501", NULL, c->com1_port, 8, (uint16_t)(1u << c->com1_irq));
    dsdt_legacy_device(a, "RTC", "PNP0B00", NULL, 0x70, 2, 1u << 8);
    dsdt_ps2(a);
    aml_end(a);
}

/* \_S5 (§7.4.2): SLP_TYPa, SLP_TYPb, reserved, reserved. */
static void dsdt_s5(struct aml *a, const struct acpi_config *c)
{
    aml_name(a, "\\_S5");
    aml_package_begin(a);
    aml_integer(a, c->s5_slp_typ);
    aml_integer(a, c->s5_slp_typ);
    aml_integer(a, 0);
    aml_integer(a, 0);
    aml_end(a);
}

static int build_dsdt_aml(const struct acpi_config *c, struct aml *a)
{
    aml_scope_begin(a, "\\_SB");
    aml_device_begin(a, "PCI0");
    aml_name_eisaid(a, "_HID", "PNP0A03");
    aml_name_integer(a, "_UID", 0);
    aml_name_integer(a, "_ADR", 0);
    aml_name_integer(a, "_BBN", 0);
    dsdt_pci_crs(a, c);
    dsdt_pci_prt(a);
    dsdt_isa(a, c);
    if (c->pvpanic)
        dsdt_legacy_device(a, "PEVT", NULL, "QEMU0001", c->pvpanic_port, 1, 0);
    aml_end(a);                             /* PCI0 */
    aml_end(a);                             /* \_SB */
    dsdt_s5(a, c);
    return aml_finish(a);
}

/* Differentiated System Description Table (§5.2.11.1): header + AML. */
static size_t build_dsdt(struct builder *b, const struct acpi_config *c)
{
    struct aml a;
    aml_init(&a);
    int err = build_dsdt_aml(c, &a);
    if (err) {
        fail(b, err);
        aml_free(&a);
        return 0;
    }
    size_t off = new_table(b, "DSDT", ACPI_HEADER_LEN + a.len, DSDT_REVISION);
    if (!b->err)
        memcpy(b->t->data + off + ACPI_HEADER_LEN, a.data, a.len);
    aml_free(&a);
    return off;
}

/* --- assembly -------------------------------------------------------------------------------- */

uint8_t acpi_checksum(const void *p, size_t len)
{
    const uint8_t *bytes = p;
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + bytes[i]);
    return (uint8_t)-sum;
}

static int check_config(const struct acpi_config *c)
{
    if (c->ncpus < 1 || c->ncpus > 255)
        return -EINVAL;
    if (c->sci_irq > 15 || c->com1_irq > 15)
        return -EINVAL;
    if (c->pci_mmio32_base > c->pci_mmio32_limit)
        return -EINVAL;
    if (c->pci_mmio64_size && c->pci_mmio64_size - 1 > UINT64_MAX - c->pci_mmio64_base)
        return -EINVAL;
    return 0;
}

/* Write base + target into every pointer field, then every checksum in list order. */
static void link_and_checksum(struct acpi_tables *t)
{
    for (int i = 0; i < t->npointers; i++) {
        const struct acpi_pointer *ptr = &t->pointers[i];
        uint64_t addr = t->base + ptr->target;
        if (ptr->width == 4)
            put32(t->data + ptr->at, (uint32_t)addr);
        else
            put64(t->data + ptr->at, addr);
    }
    for (int i = 0; i < t->nchecksums; i++) {
        const struct acpi_checksum *ck = &t->checksums[i];
        t->data[ck->at] = 0;
        t->data[ck->at] = acpi_checksum(t->data + ck->start, ck->len);
    }
}

/* 32-bit pointer fields must reach the whole blob; FACS alignment needs a 64-byte aligned base. */
static int check_base(uint64_t base, size_t len)
{
    if (base % 64)
        return -EINVAL;
    if (base > (1ULL << 32) || len > (1ULL << 32) - base)
        return -ERANGE;
    return 0;
}

static void build_all(struct builder *b, const struct acpi_config *c)
{
    size_t rsdp = build_rsdp(b);
    size_t facs = build_facs(b);
    size_t dsdt = build_dsdt(b, c);
    size_t fadt = build_fadt(b, c, facs, dsdt);
    size_t madt = build_madt(b, c);
    const size_t entries[] = { fadt, madt };
    size_t rsdt = build_root_table(b, "RSDT", 4, entries, 2);
    size_t xsdt = build_root_table(b, "XSDT", 8, entries, 2);
    link_rsdp(b, rsdp, rsdt, xsdt);
    b->t->rsdp_off = rsdp;
}

int acpi_build(const struct acpi_config *c, uint64_t base, struct acpi_tables *out)
{
    if (!c || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    int err = check_config(c);
    if (err)
        return err;
    struct builder b = { .t = out, .max_len = c->max_len };
    build_all(&b, c);
    if (!b.err)
        b.err = check_base(base, out->len);
    if (b.err) {
        acpi_tables_free(out);
        return b.err;
    }
    out->base = base;
    link_and_checksum(out);
    return 0;
}

int acpi_relocate(struct acpi_tables *t, uint64_t new_base)
{
    int err = check_base(new_base, t->len);
    if (err)
        return err;
    t->base = new_base;
    link_and_checksum(t);
    return 0;
}

int acpi_find_table(const struct acpi_tables *t, const char *sig)
{
    for (int i = 0; i < t->ntables; i++)
        if (!strncmp(t->tables[i].sig, sig, 4))
            return i;
    return -1;
}

void acpi_tables_free(struct acpi_tables *t)
{
    free(t->data);
    memset(t, 0, sizeof(*t));
}

void acpi_config_default(struct acpi_config *c, int ncpus)
{
    *c = (struct acpi_config){
        .ncpus = ncpus,
        .lapic_addr = 0xfee00000,
        .ioapic_addr = 0xfec00000,
        .ioapic_id = (uint8_t)ncpus,
        .pm1a_evt_port = 0x600,
        .pm1a_cnt_port = 0x604,
        .pm_tmr_port = 0x608,
        .sci_irq = 9,
        .s5_slp_typ = 5,
        .reset_port = 0xcf9,
        .reset_value = 0x06,
        .pvpanic = true,
        .pvpanic_port = 0x505,
        .com1_port = 0x3f8,
        .com1_irq = 4,
        .pci_mmio32_base = 0xc0000000,
        .pci_mmio32_limit = 0xfebfffff,
    };
}
