/* Guest runtime: ACPI discovery (RSDP, XSDT/RSDT, FADT, MADT, DSDT \_S5) per ACPI 6.4 chapter 5. */
#include "rt.h"

struct acpi_info acpi;

#define ACPI_HEADER_LEN 36u
#define ACPI_TABLE_MAX (16u << 20) /* refuse absurd lengths */
#define FOUR_GIB 0x100000000ull

/* FADT field offsets, ACPI 6.4 §5.2.9 table 5.9. */
#define FADT_DSDT 40
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM1B_CNT_BLK 68
#define FADT_PM_TMR_BLK 76
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_DSDT 140
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define FADT_FLAG_TMR_VAL_EXT (1u << 8)

#define MADT_ENTRIES_OFFSET 44 /* header + local APIC address + flags (§5.2.12) */

static uint32_t rd32(const void *base, size_t off)
{
    uint32_t v;
    memcpy(&v, (const uint8_t *)base + off, sizeof(v));
    return v;
}

static uint64_t rd64(const void *base, size_t off)
{
    uint64_t v;
    memcpy(&v, (const uint8_t *)base + off, sizeof(v));
    return v;
}

bool acpi_addr_ok(uint64_t addr, uint64_t len)
{
    return addr != 0 && addr < FOUR_GIB && len <= FOUR_GIB - addr;
}

bool acpi_checksum_ok(const void *p, size_t len)
{
    const uint8_t *b = p;
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + b[i]);
    return sum == 0;
}

/* The signature spelt as two words so the image itself holds no aligned "RSD PTR " copy. */
static bool rsdp_signature_at(const uint8_t *p)
{
    return rd32(p, 0) == 0x20445352u && rd32(p, 4) == 0x20525450u;
}

/* §5.2.5.3: the first 20 bytes sum to zero; revision >= 2 adds the extended checksum. */
static const struct acpi_rsdp *rsdp_check(uint64_t addr)
{
    if (!acpi_addr_ok(addr, 20))
        return NULL;
    const struct acpi_rsdp *r = (const void *)(uintptr_t)addr;
    if (!rsdp_signature_at((const uint8_t *)r) || !acpi_checksum_ok(r, 20))
        return NULL;
    if (r->revision >= 2) {
        if (r->length < sizeof(*r) || r->length > 4096 || !acpi_addr_ok(addr, r->length) ||
            !acpi_checksum_ok(r, r->length))
            return NULL;
    }
    return r;
}

/* §5.2.5.1: 16-byte boundaries in the EBDA's first KiB and in 0xe0000-0xfffff. */
static const struct acpi_rsdp *rsdp_scan(uint64_t start, uint64_t end)
{
    for (uint64_t a = start; a + 20 <= end; a += 16) {
        const struct acpi_rsdp *r = rsdp_check(a);
        if (r)
            return r;
    }
    return NULL;
}

static const struct acpi_rsdp *rsdp_find(void)
{
    const struct acpi_rsdp *r = NULL;
    if (boot.start_info && boot.start_info->rsdp_paddr)
        r = rsdp_check(boot.start_info->rsdp_paddr);
    if (!r) {
        uint16_t ebda_seg;
        memcpy(&ebda_seg, (const void *)0x40e, sizeof(ebda_seg));
        uint64_t ebda = (uint64_t)ebda_seg << 4;
        if (ebda >= 0x400 && ebda + 1024 <= 0xa0000)
            r = rsdp_scan(ebda, ebda + 1024);
    }
    if (!r)
        r = rsdp_scan(0xe0000, 0x100000);
    return r;
}

/* A table header at addr whose length is sane and fully addressable; checksum not checked. */
static const struct acpi_header *table_at(uint64_t addr)
{
    if (!acpi_addr_ok(addr, ACPI_HEADER_LEN))
        return NULL;
    const struct acpi_header *h = (const void *)(uintptr_t)addr;
    if (h->length < ACPI_HEADER_LEN || h->length > ACPI_TABLE_MAX || !acpi_addr_ok(addr, h->length))
        return NULL;
    return h;
}

static const struct acpi_header *root_pick(const struct acpi_rsdp *r, bool *is_xsdt)
{
    const struct acpi_header *h;
    if (r->revision >= 2 && r->xsdt_address) {
        h = table_at(r->xsdt_address);
        if (h && memcmp(h->signature, "XSDT", 4) == 0 && acpi_checksum_ok(h, h->length)) {
            *is_xsdt = true;
            return h;
        }
    }
    h = table_at(r->rsdt_address);
    if (h && memcmp(h->signature, "RSDT", 4) == 0 && acpi_checksum_ok(h, h->length)) {
        *is_xsdt = false;
        return h;
    }
    return NULL;
}

int acpi_table_count(void)
{
    if (!acpi.root)
        return 0;
    return (int)((acpi.root->length - ACPI_HEADER_LEN) / (acpi.root_is_xsdt ? 8 : 4));
}

const struct acpi_header *acpi_table(int i)
{
    if (i < 0 || i >= acpi_table_count())
        return NULL;
    uint64_t addr = acpi.root_is_xsdt ? rd64(acpi.root, ACPI_HEADER_LEN + 8u * (unsigned)i)
                                      : rd32(acpi.root, ACPI_HEADER_LEN + 4u * (unsigned)i);
    return table_at(addr);
}

const struct acpi_header *acpi_find_table(const char *sig)
{
    for (int i = 0; i < acpi_table_count(); i++) {
        const struct acpi_header *h = acpi_table(i);
        if (h && memcmp(h->signature, sig, 4) == 0)
            return h;
    }
    return NULL;
}

/* An I/O port from a 32-bit FADT block field, or from its Generic Address Structure twin. */
static uint16_t fadt_port(const struct acpi_header *fadt, size_t legacy_off, size_t gas_off)
{
    uint32_t port = rd32(fadt, legacy_off);
    if (port == 0 && fadt->length >= gas_off + 12) {
        const uint8_t *gas = (const uint8_t *)fadt + gas_off;
        if (gas[0] == 1) /* system I/O space */
            port = (uint32_t)rd64(gas, 4);
    }
    return port <= 0xffff ? (uint16_t)port : 0;
}

static void fadt_parse(const struct acpi_header *fadt)
{
    if (fadt->length < FADT_PM_TMR_BLK + 4)
        return;
    uint64_t dsdt = rd32(fadt, FADT_DSDT);
    if (fadt->length >= FADT_X_DSDT + 8 && rd64(fadt, FADT_X_DSDT))
        dsdt = rd64(fadt, FADT_X_DSDT);
    acpi.dsdt = table_at(dsdt);
    acpi.pm1a_cnt = fadt_port(fadt, FADT_PM1A_CNT_BLK, FADT_X_PM1A_CNT_BLK);
    acpi.pm1b_cnt = (uint16_t)(rd32(fadt, FADT_PM1B_CNT_BLK) <= 0xffff ? rd32(fadt, FADT_PM1B_CNT_BLK) : 0);
    acpi.pm_tmr = fadt_port(fadt, FADT_PM_TMR_BLK, FADT_X_PM_TMR_BLK);
    if (fadt->length >= FADT_FLAGS + 4)
        acpi.pm_tmr_32bit = (rd32(fadt, FADT_FLAGS) & FADT_FLAG_TMR_VAL_EXT) != 0;
    if (fadt->length > FADT_RESET_VALUE) {
        const uint8_t *gas = (const uint8_t *)fadt + FADT_RESET_REG;
        acpi.reset_space = gas[0];
        acpi.reset_addr = rd64(gas, 4);
        acpi.reset_value = *((const uint8_t *)fadt + FADT_RESET_VALUE);
        acpi.have_reset = acpi.reset_addr != 0 && (gas[0] == 0 || gas[0] == 1);
    }
}

/* One AML data object usable as a sleep type: BytePrefix n, ZeroOp, OneOp (ACPI 6.4 §20.2.3). */
static const uint8_t *aml_small_int(const uint8_t *p, const uint8_t *end, uint8_t *out)
{
    if (p >= end)
        return NULL;
    if (*p == 0x00 || *p == 0x01) {
        *out = *p;
        return p + 1;
    }
    if (*p == 0x0a && p + 1 < end) {
        *out = p[1];
        return p + 2;
    }
    return NULL;
}

bool acpi_parse_s5(const struct acpi_header *dsdt, uint8_t *slp_typ_a, uint8_t *slp_typ_b)
{
    if (!dsdt || dsdt->length <= ACPI_HEADER_LEN)
        return false;
    const uint8_t *body = (const uint8_t *)dsdt + ACPI_HEADER_LEN;
    const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;
    const uint8_t *p = body;
    while (p < end) {
        const uint8_t *hit = mem_find(p, (size_t)(end - p), "_S5_", 4);
        if (!hit)
            return false;
        p = hit + 4;
        if (p >= end || *p != 0x12) /* PackageOp */
            continue;
        p++;
        if (p >= end)
            return false;
        p += 1 + (*p >> 6);             /* PkgLength: lead byte bits 7-6 = extra bytes */
        p++;                            /* NumElements */
        uint8_t b = 0;
        const uint8_t *next = aml_small_int(p, end, slp_typ_a);
        if (!next)
            return false;
        if (!aml_small_int(next, end, &b))
            b = *slp_typ_a;
        *slp_typ_b = b;
        return true;
    }
    return false;
}

const uint8_t *acpi_madt_next(const uint8_t *prev)
{
    const struct acpi_header *madt = acpi.madt;
    if (!madt || madt->length < MADT_ENTRIES_OFFSET)
        return NULL;
    const uint8_t *start = (const uint8_t *)madt + MADT_ENTRIES_OFFSET;
    const uint8_t *end = (const uint8_t *)madt + madt->length;
    const uint8_t *p = prev ? prev + prev[1] : start;
    if (p + 2 > end || p[1] < 2 || p + p[1] > end)
        return NULL;
    return p;
}

static bool id_listed(const uint32_t *ids, int n, uint32_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

int acpi_madt_cpus(uint32_t *ids, int max)
{
    int n = 0;
    for (const uint8_t *e = acpi_madt_next(NULL); e && n < max; e = acpi_madt_next(e)) {
        uint32_t id, flags;
        if (e[0] == MADT_LAPIC && e[1] >= 8) {
            id = e[3];
            flags = rd32(e, 4);
        } else if (e[0] == MADT_X2APIC && e[1] >= 16) {
            id = rd32(e, 4);
            flags = rd32(e, 8);
        } else {
            continue;
        }
        if ((flags & 1) && !id_listed(ids, n, id))
            ids[n++] = id;
    }
    return n;
}

void acpi_init(void)
{
    memset(&acpi, 0, sizeof(acpi));
    acpi.rsdp = rsdp_find();
    if (!acpi.rsdp)
        return;
    acpi.root = root_pick(acpi.rsdp, &acpi.root_is_xsdt);
    if (!acpi.root)
        return;
    acpi.fadt = acpi_find_table("FACP");
    acpi.madt = acpi_find_table("APIC");
    if (acpi.fadt)
        fadt_parse(acpi.fadt);
    if (acpi.dsdt)
        acpi.have_s5 = acpi_parse_s5(acpi.dsdt, &acpi.slp_typ_a, &acpi.slp_typ_b);
}
