/* ACPI tables as fw_cfg files plus the table-loader script SeaBIOS runs to place, link and checksum
 * them (QEMU hw/acpi/bios-linker-loader.c command format; SeaBIOS src/fw/romfile_loader.c). */
#include "arch/x86/acpi_loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RSDP_LEN 36                 /* ACPI 6.4 §5.2.5.3, revision 2 */

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* --- the script ------------------------------------------------------------------------------ */

struct script {
    uint8_t *data;
    size_t n, cap;                  /* commands */
};

/* A zeroed command slot of type `command`, or NULL without memory. */
static uint8_t *script_add(struct script *s, uint32_t command)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        uint8_t *data = realloc(s->data, cap * ACPI_LOADER_ENTRY_SIZE);
        if (!data)
            return NULL;
        s->data = data;
        s->cap = cap;
    }
    uint8_t *e = s->data + s->n++ * ACPI_LOADER_ENTRY_SIZE;
    memset(e, 0, ACPI_LOADER_ENTRY_SIZE);
    put_le32(e, command);
    return e;
}

/* File names are NUL-padded to 56 bytes; ours are short constants. */
static void put_name(uint8_t *p, const char *name)
{
    memcpy(p, name, strlen(name));
}

static int add_allocate(struct script *s, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *e = script_add(s, ACPI_LOADER_ALLOCATE);
    if (!e)
        return -ENOMEM;
    put_name(e + 4, file);
    put_le32(e + 60, align);
    e[64] = zone;
    return 0;
}

/* The loader adds the address of `src` to the `size`-byte little-endian value at `offset` in `dest`. */
static int add_pointer(struct script *s, const char *dest, const char *src, uint32_t offset, uint8_t size)
{
    uint8_t *e = script_add(s, ACPI_LOADER_ADD_POINTER);
    if (!e)
        return -ENOMEM;
    put_name(e + 4, dest);
    put_name(e + 60, src);
    put_le32(e + 116, offset);
    e[120] = size;
    return 0;
}

/* The loader subtracts the byte sum of [start, start+length) from the byte at `offset`. */
static int add_checksum(struct script *s, const char *file, uint32_t offset, uint32_t start, uint32_t length)
{
    uint8_t *e = script_add(s, ACPI_LOADER_ADD_CHECKSUM);
    if (!e)
        return -ENOMEM;
    put_name(e + 4, file);
    put_le32(e + 60, offset);
    put_le32(e + 64, start);
    put_le32(e + 68, length);
    return 0;
}

/* --- from the blob to the files -------------------------------------------------------------- */

static bool in_rsdp(const struct acpi_tables *t, size_t off)
{
    return off >= t->rsdp_off && off - t->rsdp_off < RSDP_LEN;
}

/* Every pointer field: RSDP fields live in the RSDP file, all targets in the tables file. */
static int add_pointers(struct script *s, const struct acpi_tables *t)
{
    for (int i = 0; i < t->npointers; i++) {
        const struct acpi_pointer *p = &t->pointers[i];
        if (in_rsdp(t, p->target) || p->target >= t->len || p->at + p->width > t->len)
            return -EINVAL;
        bool rsdp = in_rsdp(t, p->at);
        int err = add_pointer(s, rsdp ? ACPI_LOADER_RSDP_FILE : ACPI_LOADER_TABLES_FILE,
                              ACPI_LOADER_TABLES_FILE, (uint32_t)(rsdp ? p->at - t->rsdp_off : p->at),
                              p->width);
        if (err)
            return err;
    }
    return 0;
}

/* Every checksum, in the blob's order (the RSDP's 20-byte one before its extended one); the
 * checksum bytes are zeroed in `tables` and `rsdp` so the loader's subtraction yields them. */
static int add_checksums(struct script *s, const struct acpi_tables *t, uint8_t *tables, uint8_t *rsdp)
{
    for (int i = 0; i < t->nchecksums; i++) {
        const struct acpi_checksum *c = &t->checksums[i];
        if (c->start > t->len || c->len > t->len - c->start || c->at >= t->len)
            return -EINVAL;
        bool in_r = in_rsdp(t, c->at);
        if (in_r != in_rsdp(t, c->start) || (in_r && c->start + c->len > t->rsdp_off + RSDP_LEN))
            return -EINVAL;     /* a checksum cannot span the two files */
        size_t base = in_r ? t->rsdp_off : 0;
        (in_r ? rsdp : tables)[c->at - base] = 0;
        int err = add_checksum(s, in_r ? ACPI_LOADER_RSDP_FILE : ACPI_LOADER_TABLES_FILE,
                               (uint32_t)(c->at - base), (uint32_t)(c->start - base), (uint32_t)c->len);
        if (err)
            return err;
    }
    return 0;
}

/* Tables first (HIGH, 64-aligned for the FACS), then the RSDP (FSEG, where OSes scan for it);
 * then every pointer, then every checksum (they cover patched pointers). */
static int build_script(struct script *s, const struct acpi_tables *t, uint8_t *tables, uint8_t *rsdp)
{
    int err = add_allocate(s, ACPI_LOADER_TABLES_FILE, ACPI_LOADER_TABLES_ALIGN, ACPI_LOADER_ZONE_HIGH);
    if (!err)
        err = add_allocate(s, ACPI_LOADER_RSDP_FILE, ACPI_LOADER_RSDP_ALIGN, ACPI_LOADER_ZONE_FSEG);
    if (!err)
        err = add_pointers(s, t);
    if (!err)
        err = add_checksums(s, t, tables, rsdp);
    return err;
}

void acpi_loader_files_free(struct acpi_loader_files *files)
{
    free(files->tables);
    free(files->rsdp);
    free(files->script);
    memset(files, 0, sizeof(*files));
}

/* Split the blob (built at base 0, so pointer fields hold offsets) into the two data files. */
static int split_blob(const struct acpi_tables *t, struct acpi_loader_files *out)
{
    if (t->rsdp_off > t->len || t->len - t->rsdp_off < RSDP_LEN || t->len > UINT32_MAX)
        return -EINVAL;
    out->tables = malloc(t->len);
    out->rsdp = malloc(RSDP_LEN);
    if (!out->tables || !out->rsdp)
        return -ENOMEM;
    memcpy(out->tables, t->data, t->len);
    memcpy(out->rsdp, t->data + t->rsdp_off, RSDP_LEN);
    memset(out->tables + t->rsdp_off, 0, RSDP_LEN);    /* one RSDP in guest memory: the FSEG one */
    out->tables_len = t->len;
    out->rsdp_len = RSDP_LEN;
    return 0;
}

int acpi_loader_build(const struct acpi_config *c, struct acpi_loader_files *out)
{
    memset(out, 0, sizeof(*out));
    struct acpi_tables t;
    int err = acpi_build(c, 0, &t);
    if (err)
        return err;
    struct script s = { 0 };
    err = split_blob(&t, out);
    if (!err)
        err = build_script(&s, &t, out->tables, out->rsdp);
    acpi_tables_free(&t);
    out->script = s.data;
    out->script_len = s.n * ACPI_LOADER_ENTRY_SIZE;
    if (err)
        acpi_loader_files_free(out);
    return err;
}

int acpi_loader_add_to_fw_cfg(struct fw_cfg *f, const struct acpi_config *c)
{
    struct acpi_loader_files files;
    int err = acpi_loader_build(c, &files);
    if (err)
        return err;
    int ret = fw_cfg_add_file(f, ACPI_LOADER_TABLES_FILE, files.tables, files.tables_len);
    if (ret >= 0)
        ret = fw_cfg_add_file(f, ACPI_LOADER_RSDP_FILE, files.rsdp, files.rsdp_len);
    if (ret >= 0)
        ret = fw_cfg_add_file(f, ACPI_LOADER_SCRIPT_FILE, files.script, files.script_len);
    acpi_loader_files_free(&files);
    return ret < 0 ? ret : 0;
}
