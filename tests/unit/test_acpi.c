/* Unit tests for the ACPI table builder: checksums, layout, pointers, MADT, relocation, iasl. */
#define _GNU_SOURCE
#include "tests/unit/check.h"
#include "arch/x86/acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

TEST_MAIN()

#define BASE 0x000e0000ULL

static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t get32(const uint8_t *p) { return get16(p) | get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }

static uint8_t byte_sum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    while (len--)
        sum = (uint8_t)(sum + *p++);
    return sum;
}

static const uint8_t *table(const struct acpi_tables *t, const char *sig)
{
    int i = acpi_find_table(t, sig);
    return i < 0 ? NULL : t->data + t->tables[i].off;
}

/* The table a guest-physical pointer leads to, if it lies inside the blob. */
static const uint8_t *deref(const struct acpi_tables *t, uint64_t gpa, size_t need)
{
    if (gpa < t->base || gpa - t->base > t->len || t->len - (gpa - t->base) < need)
        return NULL;
    return t->data + (gpa - t->base);
}

static bool sig_at(const struct acpi_tables *t, uint64_t gpa, const char *sig)
{
    const uint8_t *p = deref(t, gpa, 8);
    return p && !memcmp(p, sig, 4) && deref(t, gpa, get32(p + 4));
}

static int build(int ncpus, uint64_t base, struct acpi_tables *t)
{
    struct acpi_config c;
    acpi_config_default(&c, ncpus);
    return acpi_build(&c, base, t);
}

TEST(checksum_helper)
{
    const uint8_t bytes[] = { 1, 2, 3, 0xf0 };
    uint8_t ck = acpi_checksum(bytes, sizeof(bytes));
    CHECK_EQ((uint8_t)(byte_sum(bytes, sizeof(bytes)) + ck), 0);
    CHECK_EQ(acpi_checksum(bytes, 0), 0);
}

TEST(every_table_checksums_to_zero)
{
    struct acpi_tables t;
    CHECK_EQ(build(2, BASE, &t), 0);
    CHECK_EQ(t.ntables, 7);
    for (int i = 0; i < t.ntables; i++) {
        const struct acpi_table_ref *r = &t.tables[i];
        CHECK(r->off + r->len <= t.len);
        if (!strcmp(r->sig, "FACS"))
            continue;                           /* the FACS has no checksum */
        CHECK_EQ(byte_sum(t.data + r->off, r->len), 0);
        if (strcmp(r->sig, "RSD "))
            CHECK_EQ(get32(t.data + r->off + 4), r->len);
    }
    for (int i = 0; i < t.nchecksums; i++)
        CHECK_EQ(byte_sum(t.data + t.checksums[i].start, t.checksums[i].len), 0);
    acpi_tables_free(&t);
}

TEST(rsdp_revision_2)
{
    struct acpi_tables t;
    CHECK_EQ(build(1, BASE, &t), 0);
    const uint8_t *p = t.data + t.rsdp_off;
    CHECK(!memcmp(p, "RSD PTR ", 8));
    CHECK_EQ((BASE + t.rsdp_off) % 16, 0);
    CHECK_EQ(p[15], 2);
    CHECK_EQ(get32(p + 20), 36);
    CHECK_EQ(byte_sum(p, 20), 0);               /* ACPI 1.0 checksum */
    CHECK_EQ(byte_sum(p, 36), 0);               /* extended checksum */
    CHECK(sig_at(&t, get32(p + 16), "RSDT"));
    CHECK(sig_at(&t, get64(p + 24), "XSDT"));
    acpi_tables_free(&t);
}

TEST(root_tables_resolve)
{
    struct acpi_tables t;
    CHECK_EQ(build(4, BASE, &t), 0);
    const uint8_t *xsdt = table(&t, "XSDT"), *rsdt = table(&t, "RSDT");
    CHECK(xsdt && rsdt);
    CHECK_EQ(get32(xsdt + 4), 36 + 2 * 8);
    CHECK_EQ(get32(rsdt + 4), 36 + 2 * 4);
    CHECK_EQ(xsdt[8], 1);
    CHECK_EQ(rsdt[8], 1);
    CHECK(sig_at(&t, get64(xsdt + 36), "FACP"));
    CHECK(sig_at(&t, get64(xsdt + 44), "APIC"));
    CHECK(sig_at(&t, get32(rsdt + 36), "FACP"));
    CHECK(sig_at(&t, get32(rsdt + 40), "APIC"));
    acpi_tables_free(&t);
}

TEST(fadt_fields)
{
    struct acpi_tables t;
    CHECK_EQ(build(2, BASE, &t), 0);
    const uint8_t *f = table(&t, "FACP");
    CHECK(f);
    CHECK_EQ(get32(f + 4), 276);
    CHECK_EQ(f[8], 6);
    CHECK(sig_at(&t, get32(f + 36), "FACS"));   /* FIRMWARE_CTRL */
    CHECK(sig_at(&t, get32(f + 40), "DSDT"));
    CHECK_EQ(get64(f + 132), 0);                /* X_FIRMWARE_CTRL: only one may be set */
    CHECK(sig_at(&t, get64(f + 140), "DSDT"));  /* X_DSDT */
    CHECK_EQ(get16(f + 46), 9);                 /* SCI_INT */
    CHECK_EQ(get32(f + 48), 0);                 /* SMI_CMD: always in ACPI mode */
    CHECK_EQ(f[52] | f[53], 0);
    CHECK_EQ(get32(f + 56), 0x600);
    CHECK_EQ(get32(f + 64), 0x604);
    CHECK_EQ(get32(f + 76), 0x608);
    CHECK_EQ(get32(f + 80) | get32(f + 84), 0); /* no GPE blocks */
    CHECK_EQ(f[88], 4);
    CHECK_EQ(f[89], 2);
    CHECK_EQ(f[91], 4);
    CHECK_EQ(f[92] | f[93], 0);
    CHECK_EQ(f[108], 0x32);                     /* CENTURY */
    CHECK_EQ(get16(f + 109), 0x0003);           /* LEGACY_DEVICES | 8042 */
    uint32_t flags = get32(f + 112);
    CHECK_EQ(flags, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 8) | (1u << 10));
    CHECK_EQ(flags & (1u << 4), 0);             /* fixed-feature power button */
    const uint8_t reset_reg[12] = { 1, 8, 0, 1, 0xf9, 0x0c, 0, 0, 0, 0, 0, 0 };
    CHECK(!memcmp(f + 116, reset_reg, 12));
    CHECK_EQ(f[128], 0x06);
    CHECK_EQ(f[148], 1);                        /* X_PM1a_EVT_BLK: system I/O, 32 bits */
    CHECK_EQ(f[149], 32);
    CHECK_EQ(get64(f + 152), 0x600);
    CHECK_EQ(f[172], 1);                        /* X_PM1a_CNT_BLK */
    CHECK_EQ(f[173], 16);
    CHECK_EQ(get64(f + 176), 0x604);
    CHECK_EQ(f[208], 1);                        /* X_PM_TMR_BLK */
    CHECK_EQ(f[209], 32);
    CHECK_EQ(get64(f + 212), 0x608);
    acpi_tables_free(&t);
}

TEST(facs_and_dsdt)
{
    struct acpi_tables t;
    CHECK_EQ(build(1, BASE, &t), 0);
    int i = acpi_find_table(&t, "FACS");
    CHECK(i >= 0);
    CHECK_EQ((BASE + t.tables[i].off) % 64, 0);
    CHECK_EQ(t.tables[i].len, 64);
    CHECK_EQ(get32(t.data + t.tables[i].off + 4), 64);
    const uint8_t *d = table(&t, "DSDT");
    CHECK(d);
    CHECK_EQ(d[8], 2);                          /* 64-bit integers */
    size_t len = get32(d + 4);
    CHECK(memmem(d, len, "_PRT", 4));
    CHECK(memmem(d, len, "_S5_", 4));
    CHECK(memmem(d, len, "QEMU0001", 8));
    CHECK(memmem(d, len, "\x0c\x41\xd0\x05\x01", 5)); /* EisaId("PNP0501") */
    acpi_tables_free(&t);
}

TEST(dsdt_options)
{
    struct acpi_config c;
    struct acpi_tables t;
    acpi_config_default(&c, 1);
    CHECK_EQ(acpi_build(&c, BASE, &t), 0);
    size_t with_pvpanic = t.tables[acpi_find_table(&t, "DSDT")].len;
    acpi_tables_free(&t);

    c.pvpanic = false;
    CHECK_EQ(acpi_build(&c, BASE, &t), 0);
    const uint8_t *d = table(&t, "DSDT");
    size_t plain = get32(d + 4);
    CHECK(!memmem(d, plain, "QEMU0001", 8));
    CHECK(plain < with_pvpanic);
    acpi_tables_free(&t);

    c.pci_mmio64_base = 0x8000000000ULL;
    c.pci_mmio64_size = 0x8000000000ULL;
    CHECK_EQ(acpi_build(&c, BASE, &t), 0);
    CHECK_EQ(t.tables[acpi_find_table(&t, "DSDT")].len, plain + 46); /* one QWord descriptor */
    acpi_tables_free(&t);
}

/* Walk the MADT's interrupt controller structures, checking each one. */
static void check_madt(int ncpus, int *failed)
{
    struct acpi_tables t;
    CHECK_EQ(build(ncpus, BASE, &t), 0);
    const uint8_t *m = table(&t, "APIC");
    CHECK(m);
    size_t len = get32(m + 4);
    CHECK_EQ(m[8], 5);
    CHECK_EQ(get32(m + 36), 0xfee00000);
    CHECK_EQ(get32(m + 40), 1);                 /* PCAT_COMPAT */
    int count[5] = { 0 }, entries = 0;
    size_t off = 44;
    while (off < len) {
        const uint8_t *e = m + off;
        CHECK(off + 2 <= len && e[1] >= 2 && off + e[1] <= len);
        CHECK(e[0] < 5);
        count[e[0]]++;
        entries++;
        if (e[0] == 0) {                        /* Processor Local APIC */
            CHECK_EQ(e[1], 8);
            CHECK_EQ(e[3], count[0] - 1);       /* APIC IDs 0..n-1 in order */
            CHECK_EQ(get32(e + 4), 1);
        } else if (e[0] == 1) {                 /* I/O APIC */
            CHECK_EQ(e[2], (uint8_t)ncpus);
            CHECK_EQ(get32(e + 4), 0xfec00000);
            CHECK_EQ(get32(e + 8), 0);
        } else if (e[0] == 2) {                 /* Interrupt Source Override */
            bool pit = e[3] == 0 && get32(e + 4) == 2 && get16(e + 8) == 0;
            bool sci = e[3] == 9 && get32(e + 4) == 9 && get16(e + 8) == 0x000d;
            CHECK(e[2] == 0 && (pit || sci));
        } else if (e[0] == 4) {                 /* Local APIC NMI */
            CHECK_EQ(e[2], 0xff);
            CHECK_EQ(e[5], 1);
        }
        off += e[1];
    }
    CHECK_EQ(off, len);
    CHECK_EQ(count[0], ncpus);
    CHECK_EQ(count[1], 1);
    CHECK_EQ(count[2], 2);
    CHECK_EQ(count[4], 1);
    CHECK_EQ(entries, ncpus + 4);
    acpi_tables_free(&t);
}

TEST(madt_1_2_8_255_cpus)
{
    const int counts[] = { 1, 2, 8, 255 };
    for (size_t i = 0; i < 4; i++) {
        check_madt(counts[i], failed);
        if (*failed) {
            fprintf(stderr, "  with %d CPUs\n", counts[i]);
            return;
        }
    }
}

TEST(bad_config)
{
    struct acpi_config c;
    struct acpi_tables t;
    acpi_config_default(&c, 0);
    CHECK_EQ(acpi_build(&c, BASE, &t), -EINVAL);
    CHECK(t.data == NULL);
    acpi_config_default(&c, 256);
    CHECK_EQ(acpi_build(&c, BASE, &t), -EINVAL);
    acpi_config_default(&c, 1);
    c.pci_mmio32_base = 0xf0000000;
    c.pci_mmio32_limit = 0xe0000000;
    CHECK_EQ(acpi_build(&c, BASE, &t), -EINVAL);
    acpi_config_default(&c, 1);
    c.pci_mmio64_base = UINT64_MAX - 10;
    c.pci_mmio64_size = 0x1000;
    CHECK_EQ(acpi_build(&c, BASE, &t), -EINVAL);
    acpi_config_default(&c, 1);
    c.com1_irq = 16;
    CHECK_EQ(acpi_build(&c, BASE, &t), -EINVAL);
    CHECK_EQ(build(1, BASE + 8, &t), -EINVAL);  /* FACS would not be 64-byte aligned */
    CHECK_EQ(build(1, 0xffffff00ULL, &t), -ERANGE);
    CHECK_EQ(build(1, 0x100000000ULL, &t), -ERANGE);
    CHECK(t.data == NULL);
}

TEST(no_space)
{
    struct acpi_config c;
    struct acpi_tables t;
    acpi_config_default(&c, 255);
    CHECK_EQ(acpi_build(&c, BASE, &t), 0);
    size_t need = t.len;
    acpi_tables_free(&t);
    c.max_len = need - 1;
    CHECK_EQ(acpi_build(&c, BASE, &t), -ENOSPC);
    CHECK(t.data == NULL && t.len == 0);
    c.max_len = 40;
    CHECK_EQ(acpi_build(&c, BASE, &t), -ENOSPC);
    c.max_len = need;
    CHECK_EQ(acpi_build(&c, BASE, &t), 0);
    CHECK_EQ(t.len, need);
    acpi_tables_free(&t);
}

/* Relocating via the pointer and checksum lists must equal building at the new base: a pointer
 * missing from the list would keep its old value, a missing checksum would go stale. */
TEST(relocation_lists_complete)
{
    const uint64_t other = 0x7ffe0000ULL;
    for (int ncpus = 1; ncpus <= 255; ncpus += 127) {
        struct acpi_tables a, b;
        CHECK_EQ(build(ncpus, BASE, &a), 0);
        CHECK_EQ(build(ncpus, other, &b), 0);
        CHECK_EQ(a.len, b.len);
        CHECK(memcmp(a.data, b.data, a.len) != 0);
        CHECK_EQ(a.npointers, 9);
        CHECK_EQ(a.nchecksums, 7);
        for (int i = 0; i < a.npointers; i++) {
            CHECK(a.pointers[i].width == 4 || a.pointers[i].width == 8);
            CHECK(a.pointers[i].at + a.pointers[i].width <= a.len);
            CHECK(a.pointers[i].target < a.len);
        }
        /* Every table except the FACS has a checksum covering exactly it. */
        for (int i = 0; i < a.ntables; i++) {
            int found = !strcmp(a.tables[i].sig, "FACS");
            for (int k = 0; k < a.nchecksums; k++)
                found |= a.checksums[k].start == a.tables[i].off &&
                         a.checksums[k].len == a.tables[i].len;
            CHECK(found);
        }
        CHECK_EQ(acpi_relocate(&a, other), 0);
        CHECK_EQ(a.base, other);
        CHECK(!memcmp(a.data, b.data, a.len));
        CHECK_EQ(acpi_relocate(&a, other + 1), -EINVAL);
        CHECK_EQ(acpi_relocate(&a, 0xffffffc0ULL), -ERANGE);
        acpi_tables_free(&a);
        acpi_tables_free(&b);
    }
}

/* --- iasl ------------------------------------------------------------------------------------- */

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        if (n && (size_t)snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, prog) < sizeof(buf) &&
            access(buf, X_OK) == 0)
            return true;
        path += n + (path[n] == ':');
    }
    return false;
}

static bool write_file(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(p, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap + 1);
    size_t n;
    while (s && (n = fread(s + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            char *bigger = realloc(s, 2 * cap + 1);
            if (!bigger) {
                free(s);
                s = NULL;
                break;
            }
            s = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (s)
        s[len] = '\0';
    return s;
}

/* Runs `iasl -d` on one table in `dir`; returns its .dsl text (NULL on any failure or warning). */
static char *disassemble(const char *dir, const char *name, const uint8_t *p, size_t len)
{
    char path[512], cmd[1024];
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    if (!write_file(path, p, len))
        return NULL;
    snprintf(cmd, sizeof(cmd), "cd '%s' && iasl -d %s.dat > %s.log 2>&1", dir, name, name);
    int status = system(cmd);
    snprintf(path, sizeof(path), "%s/%s.log", dir, name);
    char *log = read_file(path);
    bool clean = log && WIFEXITED(status) && WEXITSTATUS(status) == 0 && !strstr(log, "Error") &&
                 !strstr(log, "Warning") && !strstr(log, "Incorrect") && !strstr(log, "Invalid");
    if (!clean)
        fprintf(stderr, "  iasl -d %s: status %d\n%s\n", name, status, log ? log : "(no log)");
    free(log);
    if (!clean)
        return NULL;
    snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
    char *dsl = read_file(path);
    if (dsl && (strstr(dsl, "Incorrect checksum") || strstr(dsl, "Invalid"))) {
        fprintf(stderr, "  %s.dsl reports a problem\n", name);
        free(dsl);
        return NULL;
    }
    return dsl;
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", dir);
}

static void check_iasl(struct acpi_tables *t, const char *dir, int *failed)
{
    int d = acpi_find_table(t, "DSDT"), f = acpi_find_table(t, "FACP"), m = acpi_find_table(t, "APIC");
    CHECK(d >= 0 && f >= 0 && m >= 0);
    char *dsl = disassemble(dir, "dsdt", t->data + t->tables[d].off, t->tables[d].len);
    CHECK(dsl);
    bool has_all = strstr(dsl, "_PRT") && strstr(dsl, "PNP0501") && strstr(dsl, "_S5_") &&
                   strstr(dsl, "QEMU0001") && strstr(dsl, "PNP0A03") && strstr(dsl, "QWordMemory");
    free(dsl);
    CHECK(has_all);
    dsl = disassemble(dir, "facp", t->data + t->tables[f].off, t->tables[f].len);
    CHECK(dsl);
    has_all = strstr(dsl, "Fixed ACPI Description Table") && strstr(dsl, "Reset Register");
    free(dsl);
    CHECK(has_all);
    dsl = disassemble(dir, "apic", t->data + t->tables[m].off, t->tables[m].len);
    CHECK(dsl);
    has_all = strstr(dsl, "Multiple APIC Description Table") && strstr(dsl, "Local APIC NMI");
    free(dsl);
    CHECK(has_all);
}

TEST(iasl_disassembles_cleanly)
{
    if (!on_path("iasl")) {
        fprintf(stderr, "skip: iasl not found (install acpica-tools)\n");
        return;
    }
    struct acpi_config c;
    struct acpi_tables t;
    acpi_config_default(&c, 8);
    c.pci_mmio64_base = 0x8000000000ULL;
    c.pci_mmio64_size = 0x8000000000ULL;
    CHECK_EQ(acpi_build(&c, BASE, &t), 0);
    char dir[] = "/tmp/vmm-acpi-XXXXXX";
    if (!mkdtemp(dir)) {
        acpi_tables_free(&t);
        CHECK(!"mkdtemp");
    }
    check_iasl(&t, dir, failed);
    remove_dir(dir);
    acpi_tables_free(&t);
}
