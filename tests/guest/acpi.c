/* Test guest "acpi": validates the RSDP, XSDT/RSDT, every table, FADT, MADT and DSDT \_S5, then S5. */
#include "rt.h"
#include "io.h"

static int fail(const char *why, const char *detail)
{
    printf("acpi: FAIL %s%s\n", why, detail);
    return 1;
}

static void sig_text(const char *sig, char out[5])
{
    for (int i = 0; i < 4; i++)
        out[i] = (sig[i] >= 0x20 && sig[i] < 0x7f) ? sig[i] : '?';
    out[4] = '\0';
}

/* ACPI 6.4 §5.2.5.3: checksum of the first 20 bytes, and of the whole RSDP from revision 2. */
static bool rsdp_valid(const struct acpi_rsdp *r)
{
    if (!acpi_checksum_ok(r, 20))
        return false;
    return r->revision < 2 || (r->length >= sizeof(*r) && acpi_checksum_ok(r, r->length));
}

/* A root table named by the RSDP: addressable, right signature, checksum over its length. */
static bool root_valid(uint64_t addr, const char *sig)
{
    if (!acpi_addr_ok(addr, sizeof(struct acpi_header)))
        return false;
    const struct acpi_header *h = (const void *)(uintptr_t)addr;
    return memcmp(h->signature, sig, 4) == 0 && h->length >= sizeof(*h) &&
           acpi_addr_ok(addr, h->length) && acpi_checksum_ok(h, h->length);
}

/* Both roots the RSDP names must be valid, not just the one the runtime picked. */
static int check_roots(const struct acpi_rsdp *r)
{
    if (r->rsdt_address && !root_valid(r->rsdt_address, "RSDT"))
        return fail("RSDT invalid (address, signature, length or checksum)", "");
    if (r->revision >= 2 && r->xsdt_address && !root_valid(r->xsdt_address, "XSDT"))
        return fail("XSDT invalid (address, signature, length or checksum)", "");
    if (!acpi.root)
        return fail("no valid XSDT or RSDT", "");
    printf("acpi: %s with %d entries\n", acpi.root_is_xsdt ? "XSDT" : "RSDT", acpi_table_count());
    return 0;
}

/* Every table listed in the root: sane address and length, checksum over the whole length. */
static int check_tables(void)
{
    int n = acpi_table_count();
    for (int i = 0; i < n; i++) {
        const struct acpi_header *h = acpi_table(i);
        if (!h)
            return fail("bad table address or length at root entry", "");
        char sig[5];
        sig_text(h->signature, sig);
        if (!acpi_checksum_ok(h, h->length))
            return fail("checksum of ", sig);
        printf("acpi: table %s length %u revision %u ok\n", sig, h->length, h->revision);
    }
    return 0;
}

/* The PM timer must move: poll it for a while (ACPI 6.4 §4.8.3.3). */
static bool pm_timer_advances(uint16_t port)
{
    uint32_t first = inl(port);
    for (int i = 0; i < 100000; i++) {
        if (inl(port) != first)
            return true;
    }
    return false;
}

static int check_fadt(void)
{
    if (!acpi.fadt)
        return fail("no FADT", "");
    if (acpi.pm1a_cnt == 0)
        return fail("FADT PM1a_CNT_BLK is zero", "");
    if (acpi.pm_tmr == 0)
        return fail("FADT PM_TMR_BLK is zero", "");
    if (!pm_timer_advances(acpi.pm_tmr))
        return fail("PM timer does not advance", "");
    printf("acpi: FADT pm1a_cnt=0x%x pm_tmr=0x%x reset=%s 0x%lx/0x%x\n", acpi.pm1a_cnt, acpi.pm_tmr,
           acpi.have_reset ? (acpi.reset_space ? "io" : "mem") : "none",
           (unsigned long)acpi.reset_addr, acpi.reset_value);
    return 0;
}

static int check_madt(void)
{
    if (!acpi.madt)
        return fail("no MADT", "");
    int lapics = 0, ioapics = 0;
    for (const uint8_t *e = acpi_madt_next(NULL); e; e = acpi_madt_next(e)) {
        if (e[0] == MADT_LAPIC || e[0] == MADT_X2APIC)
            lapics++;
        else if (e[0] == MADT_IOAPIC)
            ioapics++;
    }
    if (lapics < 1)
        return fail("MADT lists no local APIC", "");
    if (ioapics < 1)
        return fail("MADT lists no IOAPIC", "");
    printf("acpi: MADT %d local APICs, %d IOAPICs\n", lapics, ioapics);
    return 0;
}

static int check_dsdt(void)
{
    if (!acpi.dsdt)
        return fail("no DSDT", "");
    if (memcmp(acpi.dsdt->signature, "DSDT", 4) != 0)
        return fail("FADT DSDT pointer does not point at a DSDT", "");
    if (!acpi_checksum_ok(acpi.dsdt, acpi.dsdt->length))
        return fail("checksum of ", "DSDT");
    if (!acpi.have_s5)
        return fail("DSDT has no _S5_ package", "");
    printf("acpi: DSDT length %u, _S5_ SLP_TYP a=%u b=%u\n", acpi.dsdt->length, acpi.slp_typ_a,
           acpi.slp_typ_b);
    return 0;
}

int main(void)
{
    if (!acpi.rsdp)
        return fail("no RSDP", "");
    if (!rsdp_valid(acpi.rsdp))
        return fail("RSDP checksum", "");
    printf("acpi: RSDP at %p revision %u\n", (const void *)acpi.rsdp, acpi.rsdp->revision);
    if (check_roots(acpi.rsdp) || check_tables() || check_fadt() || check_madt() || check_dsdt())
        return 1;
    printf("acpi: ok (%d tables)\n", acpi_table_count());
    return 0;
}
