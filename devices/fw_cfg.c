/* QEMU firmware configuration device (fw_cfg): keyed items, named files, port and DMA access
 * (QEMU docs/specs/fw_cfg.rst: "Selector (Control) Register", "Data Register", "DMA interface"). */
#include "devices/fw_cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --- byte order helpers ---------------------------------------------------------------------- */

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, (uint16_t)(v >> 16));
    put_be16(p + 2, (uint16_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* --- the item table (callers hold f->lock) --------------------------------------------------- */

static int find_item(const struct fw_cfg *f, uint16_t key)
{
    for (int i = 0; i < f->nitems; i++)
        if (f->items[i].key == key)
            return i;
    return -1;
}

/* Stores `data` (ownership passes to the table) under `key`, replacing any earlier item. */
static int store_item(struct fw_cfg *f, uint16_t key, uint8_t *data, size_t len)
{
    int i = find_item(f, key);
    if (i >= 0) {
        free(f->items[i].data);
        f->items[i].data = data;
        f->items[i].len = len;
        return 0;
    }
    if (f->nitems == f->items_cap) {
        int cap = f->items_cap ? f->items_cap * 2 : 32;
        struct fw_cfg_item *items = realloc(f->items, (size_t)cap * sizeof(*items));
        if (!items)
            return -ENOMEM;
        f->items = items;
        f->items_cap = cap;
    }
    f->items[f->nitems++] = (struct fw_cfg_item){ .key = key, .data = data, .len = len };
    return 0;
}

/* A malloc'd copy of `len` bytes (NULL with *err = 0 for an empty item). */
static uint8_t *copy_bytes(const void *data, size_t len, int *err)
{
    *err = 0;
    if (!len)
        return NULL;
    uint8_t *copy = malloc(len);
    if (!copy) {
        *err = -ENOMEM;
        return NULL;
    }
    memcpy(copy, data, len);
    return copy;
}

static int add_bytes_locked(struct fw_cfg *f, uint16_t key, const void *data, size_t len)
{
    int err;
    uint8_t *copy = copy_bytes(data, len, &err);
    if (err)
        return err;
    err = store_item(f, key, copy, len);
    if (err)
        free(copy);
    return err;
}

/* --- the file directory (FW_CFG_FILE_DIR, fw_cfg.rst "File Directory") ----------------------- */

static int compare_file_names(const void *a, const void *b)
{
    const struct fw_cfg_file *const *fa = a, *const *fb = b;
    return strcmp((*fa)->name, (*fb)->name);
}

/* be32 count, then one 64-byte entry per file, sorted by name. */
static int rebuild_directory(struct fw_cfg *f)
{
    size_t len = 4 + (size_t)f->nfiles * FW_CFG_DIR_ENTRY_SIZE;
    uint8_t *dir = calloc(1, len);
    const struct fw_cfg_file **sorted = calloc((size_t)f->nfiles + 1, sizeof(*sorted));
    if (!dir || !sorted) {
        free(dir);
        free(sorted);
        return -ENOMEM;
    }
    for (int i = 0; i < f->nfiles; i++)
        sorted[i] = &f->files[i];
    qsort(sorted, (size_t)f->nfiles, sizeof(*sorted), compare_file_names);
    put_be32(dir, (uint32_t)f->nfiles);
    for (int i = 0; i < f->nfiles; i++) {
        uint8_t *e = dir + 4 + (size_t)i * FW_CFG_DIR_ENTRY_SIZE;
        int item = find_item(f, sorted[i]->key);
        put_be32(e, (uint32_t)(item >= 0 ? f->items[item].len : 0));
        put_be16(e + 4, sorted[i]->key);
        memcpy(e + 8, sorted[i]->name, FW_CFG_FILE_NAME_MAX);
    }
    free(sorted);
    int err = store_item(f, FW_CFG_FILE_DIR, dir, len);
    if (err)
        free(dir);
    return err;
}

static int find_file(const struct fw_cfg *f, const char *name)
{
    for (int i = 0; i < f->nfiles; i++)
        if (!strcmp(f->files[i].name, name))
            return i;
    return -1;
}

static int grow_files(struct fw_cfg *f)
{
    if (f->nfiles < f->files_cap)
        return 0;
    int cap = f->files_cap ? f->files_cap * 2 : 16;
    struct fw_cfg_file *files = realloc(f->files, (size_t)cap * sizeof(*files));
    if (!files)
        return -ENOMEM;
    f->files = files;
    f->files_cap = cap;
    return 0;
}

static int add_file_locked(struct fw_cfg *f, const char *name, const void *data, size_t len)
{
    if (find_file(f, name) >= 0)
        return -EEXIST;
    unsigned key = FW_CFG_FILE_FIRST + (unsigned)f->nfiles;
    if (key > FW_CFG_ENTRY_MASK)
        return -ENOSPC;
    int err = grow_files(f);
    if (!err)
        err = add_bytes_locked(f, (uint16_t)key, data, len);
    if (err)
        return err;
    struct fw_cfg_file *file = &f->files[f->nfiles++];
    memset(file->name, 0, sizeof(file->name));
    strcpy(file->name, name);
    file->key = (uint16_t)key;
    err = rebuild_directory(f);
    if (err) {                  /* undo: the new item is the last one (file keys are never reused) */
        f->nfiles--;
        free(f->items[--f->nitems].data);
        return err;
    }
    return (int)key;
}

/* --- public set-up API ----------------------------------------------------------------------- */

int fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, size_t len)
{
    bool file_range = !(key & FW_CFG_ARCH_LOCAL) && key >= FW_CFG_FILE_FIRST;
    if ((key & FW_CFG_WRITE_CHANNEL) || key == FW_CFG_FILE_DIR || file_range || (len && !data))
        return -EINVAL;
    pthread_mutex_lock(&f->lock);
    int err = add_bytes_locked(f, key, data, len);
    pthread_mutex_unlock(&f->lock);
    return err;
}

int fw_cfg_add_i16(struct fw_cfg *f, uint16_t key, uint16_t v)
{
    uint8_t b[2];
    put_le(b, v, 2);
    return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_add_i32(struct fw_cfg *f, uint16_t key, uint32_t v)
{
    uint8_t b[4];
    put_le(b, v, 4);
    return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_add_i64(struct fw_cfg *f, uint16_t key, uint64_t v)
{
    uint8_t b[8];
    put_le(b, v, 8);
    return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, size_t len)
{
    if (!name || !name[0] || strlen(name) >= FW_CFG_FILE_NAME_MAX || len > UINT32_MAX ||
        (len && !data))
        return -EINVAL;
    pthread_mutex_lock(&f->lock);
    int ret = add_file_locked(f, name, data, len);
    pthread_mutex_unlock(&f->lock);
    return ret;
}

/* SeaBIOS src/fw/paravirt.c: struct e820_reservation {u64 address; u64 length; u32 type;}. */
#define E820_FILE_ENTRY 20

int fw_cfg_add_e820(struct fw_cfg *f, const struct e820_map *m)
{
    if (m->n < 0 || m->n > E820_MAX)
        return -EINVAL;
    uint8_t buf[E820_MAX * E820_FILE_ENTRY];
    for (int i = 0; i < m->n; i++) {
        uint8_t *e = buf + i * E820_FILE_ENTRY;
        put_le(e, m->entries[i].addr, 8);
        put_le(e + 8, m->entries[i].size, 8);
        put_le(e + 16, m->entries[i].type, 4);
    }
    int ret = fw_cfg_add_file(f, "etc/e820", buf, (size_t)m->n * E820_FILE_ENTRY);
    return ret < 0 ? ret : 0;
}

int fw_cfg_add_bootorder(struct fw_cfg *f, const char *const *paths, int n)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += strlen(paths[i]) + 1;   /* the path, then '\n' (the last one: NUL) */
    if (!len)
        return n < 0 ? -EINVAL : 0;
    char *list = malloc(len);
    if (!list)
        return -ENOMEM;
    char *p = list;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(paths[i]);
        memcpy(p, paths[i], l);
        p[l] = i + 1 < n ? '\n' : '\0';
        p += l + 1;
    }
    int ret = fw_cfg_add_file(f, "bootorder", list, len);
    free(list);
    return ret < 0 ? ret : 0;
}

int fw_cfg_init(struct fw_cfg *f, const struct guest_memory *mem)
{
    static const uint8_t uuid[16];
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->mem = mem;
    f->cur = -1;
    int err = fw_cfg_add_bytes(f, FW_CFG_SIGNATURE, "QEMU", 4);
    if (!err)
        err = fw_cfg_add_i32(f, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
    if (!err)
        err = fw_cfg_add_bytes(f, FW_CFG_UUID, uuid, sizeof(uuid));
    if (!err)
        err = fw_cfg_add_i64(f, FW_CFG_RAM_SIZE, mem ? mem->ram_size : 0);
    if (!err) {
        pthread_mutex_lock(&f->lock);
        err = rebuild_directory(f);
        pthread_mutex_unlock(&f->lock);
    }
    if (err)
        fw_cfg_destroy(f);
    return err;
}

void fw_cfg_destroy(struct fw_cfg *f)
{
    for (int i = 0; i < f->nitems; i++)
        free(f->items[i].data);
    free(f->items);
    free(f->files);
    pthread_mutex_destroy(&f->lock);
    memset(f, 0, sizeof(*f));
    f->cur = -1;
}

/* --- guest access (callers hold f->lock) ----------------------------------------------------- */

/* Selector register: picks an item and rewinds to its first byte. The write-channel bit is
 * accepted and ignored (writes are refused). Unknown keys select nothing: reads give 0. */
static void select_item(struct fw_cfg *f, uint16_t key)
{
    f->cur = find_item(f, key & (uint16_t)~FW_CFG_WRITE_CHANNEL);
    f->cur_offset = 0;
}

/* Copies the next `len` bytes of the selected item to `buf`; bytes past its end read as 0. */
static void read_stream(struct fw_cfg *f, uint8_t *buf, uint64_t len)
{
    const struct fw_cfg_item *it = f->cur >= 0 ? &f->items[f->cur] : NULL;
    uint64_t size = it ? it->len : 0;
    uint64_t avail = f->cur_offset < size ? size - f->cur_offset : 0;
    uint64_t n = avail < len ? avail : len;
    if (n)
        memcpy(buf, it->data + f->cur_offset, n);
    memset(buf + n, 0, len - n);
    f->cur_offset += n;
}

static void skip_stream(struct fw_cfg *f, uint64_t len)
{
    uint64_t size = f->cur >= 0 ? f->items[f->cur].len : 0;
    uint64_t avail = f->cur_offset < size ? size - f->cur_offset : 0;
    f->cur_offset += avail < len ? avail : len;
}

/* One FWCfgDmaAccess command (fw_cfg.rst "DMA interface"); false: set the error bit. */
static bool dma_command(struct fw_cfg *f, uint32_t control, uint32_t length, uint64_t addr)
{
    if (control & FW_CFG_DMA_CTL_SELECT)
        select_item(f, (uint16_t)(control >> 16));
    if (control & FW_CFG_DMA_CTL_READ) {
        if (!length)
            return true;
        uint8_t *buf = mem_gpa_to_hva_rw(f->mem, addr, length);
        if (!buf)
            return false;
        read_stream(f, buf, length);
        return true;
    }
    if (control & FW_CFG_DMA_CTL_WRITE)
        return false;           /* every item is read-only */
    if (control & FW_CFG_DMA_CTL_SKIP)
        skip_stream(f, length);
    return true;
}

/* The guest wrote the low half of the address register: run the descriptor it points at
 * ({be32 control, be32 length, be64 address}) and write back control = 0 or ERROR. The address
 * register clears, as the firmware may write only the low half next time. */
static void dma_transfer(struct fw_cfg *f)
{
    uint64_t desc_gpa = get_be64(f->dma_addr);
    memset(f->dma_addr, 0, sizeof(f->dma_addr));
    if (!f->mem)
        return;
    uint8_t *desc = mem_gpa_to_hva_rw(f->mem, desc_gpa, 16);
    if (!desc)
        return;                 /* nowhere to report the error */
    uint8_t d[16];
    memcpy(d, desc, sizeof(d)); /* one snapshot: other vCPUs may be writing it */
    bool ok = dma_command(f, get_be32(d), get_be32(d + 4), get_be64(d + 8));
    put_be32(desc, ok ? 0 : FW_CFG_DMA_CTL_ERROR);
}

/* Bytes of the DMA address register at 0x514..0x51b; a write reaching 0x51b starts a transfer. */
static void dma_register_write(struct fw_cfg *f, uint64_t offset, const uint8_t *data, uint32_t len)
{
    bool start = false;
    for (uint32_t i = 0; i < len; i++) {
        uint64_t o = offset + i;
        if (o < FW_CFG_PORT_OFF_DMA || o >= FW_CFG_PORT_LEN)
            continue;
        f->dma_addr[o - FW_CFG_PORT_OFF_DMA] = data[i];
        start |= o == FW_CFG_PORT_LEN - 1;
    }
    if (start)
        dma_transfer(f);
}

static void port_write(struct fw_cfg *f, uint64_t offset, const uint8_t *data, uint32_t len)
{
    if (offset == FW_CFG_PORT_OFF_SELECTOR && len == 2)
        select_item(f, (uint16_t)(data[0] | data[1] << 8));
    else if (offset >= FW_CFG_PORT_OFF_DMA && offset < FW_CFG_PORT_LEN)
        dma_register_write(f, offset, data, len);
    /* Data-port writes (the old write interface) and other widths are ignored. */
}

static void port_read(struct fw_cfg *f, uint64_t offset, uint8_t *data, uint32_t len)
{
    if (offset == FW_CFG_PORT_OFF_DATA) {
        read_stream(f, data, len);
        return;
    }
    for (uint32_t i = 0; i < len; i++) {
        uint64_t o = offset + i;
        bool dma = o >= FW_CFG_PORT_OFF_DMA && o < FW_CFG_PORT_LEN;
        unsigned shift = dma ? 8 * (unsigned)(FW_CFG_PORT_LEN - 1 - o) : 0;
        data[i] = dma ? (uint8_t)(FW_CFG_DMA_SIGNATURE >> shift) : 0;
    }
}

void fw_cfg_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct fw_cfg *f = opaque;
    if (len > 8)
        return;
    pthread_mutex_lock(&f->lock);
    if (is_write)
        port_write(f, offset, data, len);
    else
        port_read(f, offset, data, len);
    pthread_mutex_unlock(&f->lock);
}
