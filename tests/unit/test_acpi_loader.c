/* Unit tests for the ACPI table-loader files: a small loader in the style of SeaBIOS runs the script
 * read back through fw_cfg, and the result must equal the tables built for those addresses. */
#include "tests/unit/check.h"
#include "arch/x86/acpi_loader.h"

#include <errno.h>
#include <stdbool.h>

TEST_MAIN()

#define MiB (1ULL << 20)

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t byte_sum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    while (len--)
        sum = (uint8_t)(sum + *p++);
    return sum;
}

/* --- reading files back through the device's ports ------------------------------------------- */

static void port_select(struct fw_cfg *f, uint16_t key)
{
    uint8_t d[2] = { (uint8_t)key, (uint8_t)(key >> 8) };
    fw_cfg_io(f, FW_CFG_PORT_OFF_SELECTOR, d, 2, true);
}

static void port_read(struct fw_cfg *f, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fw_cfg_io(f, FW_CFG_PORT_OFF_DATA, &buf[i], 1, false);
}

/* A malloc'd copy of fw_cfg file `name` (NULL if absent). */
static uint8_t *read_file(struct fw_cfg *f, const char *name, size_t *len)
{
    uint8_t count[4], e[FW_CFG_DIR_ENTRY_SIZE];
    port_select(f, FW_CFG_FILE_DIR);
    port_read(f, count, 4);
    for (uint32_t i = 0; i < be32(count); i++) {
        port_read(f, e, sizeof(e));
        if (strncmp((char *)e + 8, name, FW_CFG_FILE_NAME_MAX))
            continue;
        *len = be32(e);
        uint8_t *data = malloc(*len ? *len : 1);
        port_select(f, (uint16_t)(e[4] << 8 | e[5]));
        port_read(f, data, *len);
        return data;
    }
    return NULL;
}

/* --- the loader (what SeaBIOS's romfile_loader does with these commands) ---------------------- */

struct lfile {
    const char *name;
    uint8_t *data;
    size_t len;
    uint64_t addr;          /* where the loader "allocated" it */
    bool allocated;
};

struct loader {
    struct lfile files[2];
    uint64_t high_addr, fseg_addr;  /* the addresses this loader hands out per zone */
    int nallocs;
};

static struct lfile *lookup(struct loader *l, const uint8_t *name56)
{
    if (memchr(name56, 0, ACPI_LOADER_FILE_NAME) == NULL)
        return NULL;
    for (int i = 0; i < 2; i++)
        if (!strcmp((const char *)name56, l->files[i].name))
            return &l->files[i];
    return NULL;
}

static bool do_allocate(struct loader *l, const uint8_t *e)
{
    struct lfile *f = lookup(l, e + 4);
    uint32_t align = (uint32_t)le(e + 60, 4);
    uint8_t zone = e[64];
    if (!f || f->allocated || !align || (align & (align - 1)))
        return false;
    if (zone == ACPI_LOADER_ZONE_HIGH)
        f->addr = l->high_addr;
    else if (zone == ACPI_LOADER_ZONE_FSEG)
        f->addr = l->fseg_addr;
    else
        return false;
    f->allocated = true;
    l->nallocs++;
    return f->addr % align == 0;
}

static bool do_add_pointer(struct loader *l, const uint8_t *e)
{
    struct lfile *dest = lookup(l, e + 4), *src = lookup(l, e + 60);
    uint32_t offset = (uint32_t)le(e + 116, 4);
    uint8_t size = e[120];
    if (!dest || !src || !dest->allocated || !src->allocated)
        return false;
    if ((size != 1 && size != 2 && size != 4 && size != 8) || offset > dest->len || size > dest->len - offset)
        return false;
    uint64_t v = le(dest->data + offset, size);
    if (v >= src->len)
        return false;       /* the field must hold an offset inside the source file */
    put_le(dest->data + offset, v + src->addr, size);
    return true;
}

static bool do_add_checksum(struct loader *l, const uint8_t *e)
{
    struct lfile *f = lookup(l, e + 4);
    uint32_t offset = (uint32_t)le(e + 60, 4), start = (uint32_t)le(e + 64, 4), length = (uint32_t)le(e + 68, 4);
    if (!f || !f->allocated || offset >= f->len || start > f->len || length > f->len - start)
        return false;
    if (f->data[offset] != 0)
        return false;       /* the builder must leave checksum bytes zeroed */
    f->data[offset] = (uint8_t)(f->data[offset] - byte_sum(f->data + start, length));
    return true;
}

/* Runs the script; returns the number of commands run, or -1 on the first bad one. */
static int run_script(struct loader *l, const uint8_t *script, size_t len)
{
    if (len % ACPI_LOADER_ENTRY_SIZE)
        return -1;
    int n = 0;
    for (size_t off = 0; off < len; off += ACPI_LOADER_ENTRY_SIZE, n++) {
        const uint8_t *e = script + off;
        bool ok;
        switch (le(e, 4)) {
        case ACPI_LOADER_ALLOCATE: ok = do_allocate(l, e); break;
        case ACPI_LOADER_ADD_POINTER: ok = l->nallocs == 2 && do_add_pointer(l, e); break;
        case ACPI_LOADER_ADD_CHECKSUM: ok = l->nallocs == 2 && do_add_checksum(l, e); break;
        default: ok = false;
        }
        if (!ok)
            return -1;
    }
    return n;
}

/* --- the check -------------------------------------------------------------------------------- */

struct loaded {
    struct fw_cfg f;
    struct guest_memory mem;
    struct loader l;
    uint8_t *script;
    size_t script_len;
};

static int load(struct loaded *x, const struct acpi_config *c, uint64_t high, uint64_t fseg)
{
    memset(x, 0, sizeof(*x));
    if (mem_init_ram(&x->mem, 16 * MiB) || fw_cfg_init(&x->f, &x->mem))
        return -1;
    if (acpi_loader_add_to_fw_cfg(&x->f, c))
        return -2;
    x->l.high_addr = high;
    x->l.fseg_addr = fseg;
    x->l.files[0].name = ACPI_LOADER_TABLES_FILE;
    x->l.files[1].name = ACPI_LOADER_RSDP_FILE;
    for (int i = 0; i < 2; i++)
        if (!(x->l.files[i].data = read_file(&x->f, x->l.files[i].name, &x->l.files[i].len)))
            return -3;
    x->script = read_file(&x->f, ACPI_LOADER_SCRIPT_FILE, &x->script_len);
    if (!x->script)
        return -4;
    return run_script(&x->l, x->script, x->script_len) < 0 ? -5 : 0;
}

static void unload(struct loaded *x)
{
    for (int i = 0; i < 2; i++)
        free(x->l.files[i].data);
    free(x->script);
    fw_cfg_destroy(&x->f);
    mem_free(&x->mem);
}

/* The loaded files equal acpi_build() at the tables' address (RSDP aside), and every checksum and
 * the RSDP -> XSDT -> FADT -> DSDT chain hold, as the guest OS will walk them. */
static void check_loaded(int *failed, const struct acpi_config *c, uint64_t high, uint64_t fseg)
{
    struct loaded x;
    CHECK_EQ(load(&x, c, high, fseg), 0);
    struct acpi_tables t;
    CHECK_EQ(acpi_build(c, high, &t), 0);
    const uint8_t *tables = x.l.files[0].data, *rsdp = x.l.files[1].data;
    CHECK_EQ(x.l.files[0].len, t.len);
    CHECK_EQ(x.l.files[1].len, 36);
    /* The RSDP file is the RSDP built for `high` (it does not hold its own address). */
    CHECK(!memcmp(rsdp, t.data + t.rsdp_off, 36));
    CHECK_EQ(byte_sum(rsdp, 20), 0);
    CHECK_EQ(byte_sum(rsdp, 36), 0);
    /* The tables file is the rest of the blob; its RSDP copy is blanked. */
    for (size_t i = 0; i < t.len; i++) {
        bool in_rsdp = i >= t.rsdp_off && i < t.rsdp_off + 36;
        CHECK_EQ(tables[i], in_rsdp ? 0 : t.data[i]);
    }
    /* Walk from the RSDP as the OS does. */
    uint64_t xsdt = le(rsdp + 24, 8), rsdt = le(rsdp + 16, 4);
    CHECK(xsdt >= high && xsdt - high + 36 <= t.len);
    CHECK(rsdt >= high && rsdt - high + 36 <= t.len);
    const uint8_t *x_tab = tables + (xsdt - high);
    CHECK(!memcmp(x_tab, "XSDT", 4));
    CHECK(!memcmp(tables + (rsdt - high), "RSDT", 4));
    CHECK_EQ(byte_sum(x_tab, le(x_tab + 4, 4)), 0);
    uint64_t fadt = le(x_tab + 36, 8);
    CHECK(fadt >= high && fadt - high + 276 <= t.len);
    const uint8_t *fadt_tab = tables + (fadt - high);
    CHECK(!memcmp(fadt_tab, "FACP", 4));
    uint64_t dsdt = le(fadt_tab + 140, 8);
    CHECK(dsdt >= high && dsdt - high < t.len);
    CHECK(!memcmp(tables + (dsdt - high), "DSDT", 4));
    CHECK_EQ(le(fadt_tab + 36, 4) % 64, 0);                     /* FACS alignment */
    for (int i = 0; i < t.ntables; i++) {
        const struct acpi_table_ref *r = &t.tables[i];
        if (strcmp(r->sig, "FACS") && strcmp(r->sig, "RSD "))
            CHECK_EQ(byte_sum(tables + r->off, r->len), 0);
    }
    acpi_tables_free(&t);
    unload(&x);
}

/* --- tests ------------------------------------------------------------------------------------ */

TEST(loaded_tables_equal_build_at_those_addresses)
{
    struct acpi_config c;
    acpi_config_default(&c, 1);
    check_loaded(failed, &c, 0x3ffd0000ULL, 0xf5a40ULL);
    if (*failed)
        return;
    acpi_config_default(&c, 8);
    c.pci_mmio64_base = 0x8000000000ULL;
    c.pci_mmio64_size = 0x8000000000ULL;
    check_loaded(failed, &c, 0xbffc0040ULL, 0xf0010ULL);
    if (*failed)
        return;
    acpi_config_default(&c, 255);
    c.pvpanic = false;
    check_loaded(failed, &c, 0x7e00000ULL, 0xfffe0ULL);
}

TEST(script_shape)
{
    struct acpi_config c;
    acpi_config_default(&c, 2);
    struct acpi_loader_files files;
    CHECK_EQ(acpi_loader_build(&c, &files), 0);
    CHECK(files.script_len >= 2 * ACPI_LOADER_ENTRY_SIZE);
    CHECK_EQ(files.script_len % ACPI_LOADER_ENTRY_SIZE, 0);
    const uint8_t *e = files.script;
    /* Tables first: HIGH, 64-byte aligned; then the RSDP: FSEG, 16-byte aligned. */
    CHECK_EQ(le(e, 4), ACPI_LOADER_ALLOCATE);
    CHECK(!strcmp((const char *)e + 4, "etc/acpi/tables"));
    CHECK_EQ(le(e + 60, 4), 64);
    CHECK_EQ(e[64], ACPI_LOADER_ZONE_HIGH);
    e += ACPI_LOADER_ENTRY_SIZE;
    CHECK_EQ(le(e, 4), ACPI_LOADER_ALLOCATE);
    CHECK(!strcmp((const char *)e + 4, "etc/acpi/rsdp"));
    CHECK_EQ(le(e + 60, 4), 16);
    CHECK_EQ(e[64], ACPI_LOADER_ZONE_FSEG);
    /* Pointers before checksums; names NUL-padded; the RSDP's 20-byte checksum before its 36. */
    int npointers = 0, nchecksums = 0, rsdp_first = -1, rsdp_ext = -1;
    for (size_t off = 2 * ACPI_LOADER_ENTRY_SIZE; off < files.script_len; off += ACPI_LOADER_ENTRY_SIZE) {
        e = files.script + off;
        uint32_t cmd = (uint32_t)le(e, 4);
        CHECK(cmd == ACPI_LOADER_ADD_POINTER || cmd == ACPI_LOADER_ADD_CHECKSUM);
        size_t name_len = strlen((const char *)e + 4);
        for (size_t i = 4 + name_len; i < 60; i++)
            CHECK_EQ(e[i], 0);
        if (cmd == ACPI_LOADER_ADD_POINTER) {
            CHECK_EQ(nchecksums, 0);
            CHECK(!strcmp((const char *)e + 60, "etc/acpi/tables"));
            CHECK(e[120] == 4 || e[120] == 8);
            for (size_t i = 121; i < ACPI_LOADER_ENTRY_SIZE; i++)
                CHECK_EQ(e[i], 0);
            npointers++;
        } else {
            if (!strcmp((const char *)e + 4, "etc/acpi/rsdp")) {
                if (le(e + 68, 4) == 20)
                    rsdp_first = nchecksums;
                else if (le(e + 68, 4) == 36)
                    rsdp_ext = nchecksums;
            }
            for (size_t i = 72; i < ACPI_LOADER_ENTRY_SIZE; i++)
                CHECK_EQ(e[i], 0);
            nchecksums++;
        }
    }
    CHECK(npointers >= 8);                   /* RSDP 2, RSDT 2, XSDT 2, FADT 3 */
    CHECK(rsdp_first >= 0 && rsdp_ext > rsdp_first);
    /* Before loading: RSDP pointer fields hold offsets into the tables, checksums are zero. */
    CHECK(!memcmp(files.rsdp, "RSD PTR ", 8));
    CHECK_EQ(files.rsdp[8], 0);
    CHECK_EQ(files.rsdp[32], 0);
    uint64_t xsdt = le(files.rsdp + 24, 8);
    CHECK(xsdt + 36 <= files.tables_len);
    CHECK(!memcmp(files.tables + xsdt, "XSDT", 4));
    CHECK_EQ(files.tables[xsdt + 9], 0);
    acpi_loader_files_free(&files);
}

TEST(errors)
{
    struct acpi_config c;
    acpi_config_default(&c, 0);
    struct acpi_loader_files files;
    CHECK_EQ(acpi_loader_build(&c, &files), -EINVAL);
    CHECK(files.script == NULL && files.tables == NULL && files.rsdp == NULL);
    acpi_config_default(&c, 1);
    c.max_len = 128;
    CHECK_EQ(acpi_loader_build(&c, &files), -ENOSPC);
    struct guest_memory mem;
    struct fw_cfg f;
    CHECK_EQ(mem_init_ram(&mem, 16 * MiB), 0);
    CHECK_EQ(fw_cfg_init(&f, &mem), 0);
    acpi_config_default(&c, 1);
    CHECK_EQ(acpi_loader_add_to_fw_cfg(&f, &c), 0);
    CHECK_EQ(acpi_loader_add_to_fw_cfg(&f, &c), -EEXIST);
    fw_cfg_destroy(&f);
    mem_free(&mem);
}
