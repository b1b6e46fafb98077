/* Unit tests for the fw_cfg device: port and DMA access, file directory, errors, e820 and bootorder. */
#include "tests/unit/check.h"
#include "devices/fw_cfg.h"

#include <errno.h>
#include <pthread.h>

TEST_MAIN()

#define MiB (1ULL << 20)
#define DESC 0x1000ULL          /* where the tests put DMA descriptors */
#define BUF 0x2000ULL           /* and DMA buffers */

/* --- the guest's side, as SeaBIOS drives it --------------------------------------------------- */

static void io_out(struct fw_cfg *f, uint16_t port, uint32_t v, uint32_t len)
{
    uint8_t d[4];
    for (int i = 0; i < 4; i++)
        d[i] = (uint8_t)(v >> (8 * i));
    fw_cfg_io(f, port - FW_CFG_PORT_BASE, d, len, true);
}

static uint32_t io_in(struct fw_cfg *f, uint16_t port, uint32_t len)
{
    uint8_t d[4] = { 0xee, 0xee, 0xee, 0xee };
    fw_cfg_io(f, port - FW_CFG_PORT_BASE, d, len, false);
    uint32_t v = 0;
    for (uint32_t i = 0; i < len; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}

static void select_key(struct fw_cfg *f, uint16_t key)
{
    io_out(f, 0x510, key, 2);
}

static void read_port(struct fw_cfg *f, void *buf, size_t len)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)io_in(f, 0x511, 1);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_desc(struct guest_memory *m, uint64_t gpa, uint32_t control, uint32_t length, uint64_t addr)
{
    uint8_t d[16];
    put_be32(d, control);
    put_be32(d + 4, length);
    put_be32(d + 8, (uint32_t)(addr >> 32));
    put_be32(d + 12, (uint32_t)addr);
    mem_write(m, gpa, d, sizeof(d));
}

static uint32_t desc_control(struct guest_memory *m, uint64_t gpa)
{
    uint8_t d[4];
    mem_read(m, gpa, d, 4);
    return be32(d);
}

/* SeaBIOS writes outl(cpu_to_be32(half)): the port bytes are the address big-endian. */
static uint32_t bswap32(uint32_t v)
{
    return __builtin_bswap32(v);
}

static void dma_kick(struct fw_cfg *f, uint64_t desc_gpa)
{
    io_out(f, 0x514, bswap32((uint32_t)(desc_gpa >> 32)), 4);
    io_out(f, 0x518, bswap32((uint32_t)desc_gpa), 4);
}

/* One DMA command with the descriptor at DESC; returns the control word written back. */
static uint32_t dma(struct fw_cfg *f, struct guest_memory *m, uint32_t control, uint32_t len, uint64_t addr)
{
    put_desc(m, DESC, control, len, addr);
    dma_kick(f, DESC);
    return desc_control(m, DESC);
}

static uint32_t dma_select_read(struct fw_cfg *f, struct guest_memory *m, uint16_t key, uint32_t len, uint64_t addr)
{
    return dma(f, m, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, len, addr);
}

/* The key of file `name`, found through the directory as the firmware does; -1 if absent. */
static int file_key(struct fw_cfg *f, const char *name, uint32_t *size)
{
    uint8_t count[4], e[FW_CFG_DIR_ENTRY_SIZE];
    select_key(f, FW_CFG_FILE_DIR);
    read_port(f, count, 4);
    for (uint32_t i = 0; i < be32(count); i++) {
        read_port(f, e, sizeof(e));
        if (!strncmp((char *)e + 8, name, FW_CFG_FILE_NAME_MAX)) {
            *size = be32(e);
            return e[4] << 8 | e[5];
        }
    }
    return -1;
}

struct fixture {
    struct guest_memory mem;
    struct fw_cfg f;
};

static int setup(struct fixture *x, uint64_t ram)
{
    if (mem_init_ram(&x->mem, ram))
        return -1;
    return fw_cfg_init(&x->f, &x->mem);
}

static void teardown(struct fixture *x)
{
    fw_cfg_destroy(&x->f);
    mem_free(&x->mem);
}

/* --- tests ------------------------------------------------------------------------------------ */

TEST(signature_via_ports)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    char sig[6] = { 0 };
    select_key(&x.f, FW_CFG_SIGNATURE);
    read_port(&x.f, sig, 5);
    CHECK(!memcmp(sig, "QEMU\0", 5));           /* past the end: 0 */
    select_key(&x.f, FW_CFG_SIGNATURE);          /* selecting rewinds */
    CHECK_EQ(io_in(&x.f, 0x511, 1), 'Q');
    teardown(&x);
}

TEST(id_has_dma_bit_and_dma_register_signature)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    uint8_t id[4];
    select_key(&x.f, FW_CFG_ID);
    read_port(&x.f, id, 4);
    CHECK_EQ(le(id, 4), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
    /* Reading the DMA address register gives "QEMU CFG". */
    uint32_t hi = io_in(&x.f, 0x514, 4), lo = io_in(&x.f, 0x518, 4);
    CHECK_EQ(bswap32(hi), 0x51454d55);
    CHECK_EQ(bswap32(lo), 0x20434647);
    teardown(&x);
}

TEST(standard_items_little_endian)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    CHECK_EQ(fw_cfg_add_i16(&x.f, FW_CFG_NB_CPUS, 3), 0);
    CHECK_EQ(fw_cfg_add_i16(&x.f, FW_CFG_MAX_CPUS, 0x0102), 0);
    uint8_t b[8];
    select_key(&x.f, FW_CFG_RAM_SIZE);
    read_port(&x.f, b, 8);
    CHECK_EQ(le(b, 8), 16 * MiB);
    select_key(&x.f, FW_CFG_NB_CPUS);
    read_port(&x.f, b, 3);
    CHECK_EQ(le(b, 3), 3);
    select_key(&x.f, FW_CFG_MAX_CPUS);
    read_port(&x.f, b, 2);
    CHECK(b[0] == 2 && b[1] == 1);
    select_key(&x.f, FW_CFG_UUID);
    read_port(&x.f, b, 8);
    CHECK_EQ(le(b, 8), 0);
    /* Replacing an item. */
    CHECK_EQ(fw_cfg_add_i16(&x.f, FW_CFG_NB_CPUS, 4), 0);
    select_key(&x.f, FW_CFG_NB_CPUS);
    CHECK_EQ(io_in(&x.f, 0x511, 1), 4);
    teardown(&x);
}

TEST(unknown_key_reads_zero_and_data_writes_ignored)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    select_key(&x.f, 0x1234);
    CHECK_EQ(io_in(&x.f, 0x511, 1), 0);
    select_key(&x.f, FW_CFG_SIGNATURE);
    io_out(&x.f, 0x511, 'X', 1);                 /* old write interface: ignored */
    select_key(&x.f, FW_CFG_SIGNATURE | FW_CFG_WRITE_CHANNEL);
    CHECK_EQ(io_in(&x.f, 0x511, 1), 'Q');
    teardown(&x);
}

TEST(file_directory_sorted_big_endian)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    uint8_t big[300] = { 0 };
    CHECK_EQ(fw_cfg_add_file(&x.f, "zeta", "z", 1), FW_CFG_FILE_FIRST);
    CHECK_EQ(fw_cfg_add_file(&x.f, "alpha", big, sizeof(big)), FW_CFG_FILE_FIRST + 1);
    CHECK_EQ(fw_cfg_add_file(&x.f, "etc/mid", "mm", 2), FW_CFG_FILE_FIRST + 2);
    uint8_t dir[4 + 3 * FW_CFG_DIR_ENTRY_SIZE + 1];
    select_key(&x.f, FW_CFG_FILE_DIR);
    read_port(&x.f, dir, sizeof(dir));
    CHECK_EQ(be32(dir), 3);
    static const char *const names[] = { "alpha", "etc/mid", "zeta" };
    static const uint32_t sizes[] = { 300, 2, 1 };
    static const uint16_t keys[] = { FW_CFG_FILE_FIRST + 1, FW_CFG_FILE_FIRST + 2, FW_CFG_FILE_FIRST };
    for (int i = 0; i < 3; i++) {
        const uint8_t *e = dir + 4 + i * FW_CFG_DIR_ENTRY_SIZE;
        CHECK_EQ(be32(e), sizes[i]);
        CHECK_EQ(e[4] << 8 | e[5], keys[i]);
        CHECK_EQ(e[6] | e[7], 0);
        CHECK(!strcmp((const char *)e + 8, names[i]));
        for (size_t j = 8 + strlen(names[i]); j < FW_CFG_DIR_ENTRY_SIZE; j++)
            CHECK_EQ(e[j], 0);                   /* NUL-padded name */
    }
    CHECK_EQ(dir[sizeof(dir) - 1], 0);
    teardown(&x);
}

TEST(file_errors)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    char longname[FW_CFG_FILE_NAME_MAX + 1];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK_EQ(fw_cfg_add_file(&x.f, longname, "x", 1), -EINVAL);
    longname[FW_CFG_FILE_NAME_MAX - 1] = '\0';   /* 55 characters: fits */
    CHECK(fw_cfg_add_file(&x.f, longname, "x", 1) > 0);
    CHECK_EQ(fw_cfg_add_file(&x.f, longname, "y", 1), -EEXIST);
    CHECK_EQ(fw_cfg_add_file(&x.f, "", "y", 1), -EINVAL);
    CHECK_EQ(fw_cfg_add_bytes(&x.f, FW_CFG_FILE_FIRST, "y", 1), -EINVAL);
    CHECK_EQ(fw_cfg_add_bytes(&x.f, FW_CFG_FILE_DIR, "y", 1), -EINVAL);
    CHECK_EQ(fw_cfg_add_bytes(&x.f, FW_CFG_ARCH_LOCAL | 3, "y", 1), 0);
    CHECK(fw_cfg_add_file(&x.f, "empty", NULL, 0) > 0);
    uint32_t size = 99;
    CHECK(file_key(&x.f, "empty", &size) > 0);
    CHECK_EQ(size, 0);
    teardown(&x);
}

TEST(file_by_key_byte_by_byte)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    CHECK(fw_cfg_add_file(&x.f, "etc/other", "other", 5) > 0);
    CHECK(fw_cfg_add_file(&x.f, "etc/hello", "hello, world", 12) > 0);
    uint32_t size = 0;
    int key = file_key(&x.f, "etc/hello", &size);
    CHECK(key >= FW_CFG_FILE_FIRST);
    CHECK_EQ(size, 12);
    char buf[16];
    select_key(&x.f, (uint16_t)key);
    read_port(&x.f, buf, sizeof(buf));
    CHECK(!memcmp(buf, "hello, world\0\0\0\0", 16));
    teardown(&x);
}

TEST(dma_read_with_select)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    int key = fw_cfg_add_file(&x.f, "etc/data", "0123456789", 10);
    CHECK(key > 0);
    uint8_t fill[16];
    memset(fill, 0xaa, sizeof(fill));
    mem_write(&x.mem, BUF, fill, sizeof(fill));
    CHECK_EQ(dma_select_read(&x.f, &x.mem, (uint16_t)key, 4, BUF), 0);
    CHECK_EQ(dma(&x.f, &x.mem, FW_CFG_DMA_CTL_READ, 3, BUF + 4), 0);  /* continues */
    uint8_t got[16];
    mem_read(&x.mem, BUF, got, sizeof(got));
    CHECK(!memcmp(got, "0123456", 7));
    CHECK_EQ(got[7], 0xaa);                      /* nothing beyond the length */
    /* A zero-length read is fine and writes nothing. */
    CHECK_EQ(dma(&x.f, &x.mem, FW_CFG_DMA_CTL_READ, 0, 0xffffffffffULL), 0);
    /* The port interface continues where DMA stopped. */
    CHECK_EQ(io_in(&x.f, 0x511, 1), '7');
    /* The signature through DMA, as SeaBIOS reads FW_CFG_ID. */
    CHECK_EQ(dma_select_read(&x.f, &x.mem, FW_CFG_ID, 4, BUF), 0);
    mem_read(&x.mem, BUF, got, 4);
    CHECK_EQ(le(got, 4), 3);
    teardown(&x);
}

TEST(dma_skip_and_read_past_end)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    int key = fw_cfg_add_file(&x.f, "etc/data", "abcdefgh", 8);
    CHECK(key > 0);
    CHECK_EQ(dma(&x.f, &x.mem, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 5, 0), 0);
    uint8_t fill[16], got[16];
    memset(fill, 0xaa, sizeof(fill));
    mem_write(&x.mem, BUF, fill, sizeof(fill));
    CHECK_EQ(dma(&x.f, &x.mem, FW_CFG_DMA_CTL_READ, 10, BUF), 0);
    mem_read(&x.mem, BUF, got, sizeof(got));
    CHECK(!memcmp(got, "fgh\0\0\0\0\0\0\0", 10));
    CHECK_EQ(got[10], 0xaa);
    /* Wholly past the end: zeros again; a skip past the end is harmless. */
    CHECK_EQ(dma(&x.f, &x.mem, FW_CFG_DMA_CTL_SKIP, 0xffffffffu, 0), 0);
    mem_write(&x.mem, BUF, fill, sizeof(fill));
    CHECK_EQ(dma(&x.f, &x.mem, FW_CFG_DMA_CTL_READ, 4, BUF), 0);
    mem_read(&x.mem, BUF, got, 5);
    CHECK(!memcmp(got, "\0\0\0\0\xaa", 5));
    /* An unknown key reads as zeros. */
    mem_write(&x.mem, BUF, fill, sizeof(fill));
    CHECK_EQ(dma_select_read(&x.f, &x.mem, 0x3333, 2, BUF), 0);
    mem_read(&x.mem, BUF, got, 3);
    CHECK(!memcmp(got, "\0\0\xaa", 3));
    teardown(&x);
}

TEST(dma_buffer_outside_ram_sets_error)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    int key = fw_cfg_add_file(&x.f, "etc/data", "abcdefgh", 8);
    CHECK(key > 0);
    static const struct { uint64_t addr; uint32_t len; } bad[] = {
        { 0xa0000, 4 },                          /* the legacy VGA hole */
        { 0x9fffe, 4 },                          /* straddles the end of low RAM */
        { 16 * MiB - 2, 4 },                     /* straddles the end of RAM */
        { 0xfffffffffffffffeULL, 4 },            /* wraps */
        { BUF, 0xffffffffu },                    /* far too long */
    };
    uint8_t tail[2], edge[2];
    mem_read(&x.mem, 16 * MiB - 2, tail, 2);
    mem_read(&x.mem, 0x9fffe, edge, 2);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_EQ(dma_select_read(&x.f, &x.mem, (uint16_t)key, bad[i].len, bad[i].addr), FW_CFG_DMA_CTL_ERROR);
    uint8_t now[2];
    mem_read(&x.mem, 16 * MiB - 2, now, 2);
    CHECK(!memcmp(now, tail, 2));
    mem_read(&x.mem, 0x9fffe, now, 2);
    CHECK(!memcmp(now, edge, 2));
    /* A ROM buffer is not writable either. */
    uint8_t rom[4096] = { 0x55 };
    CHECK_EQ(mem_add_region(&x.mem, 0xffff0000ULL, sizeof(rom), rom, true), 0);
    CHECK_EQ(dma_select_read(&x.f, &x.mem, (uint16_t)key, 4, 0xffff0000ULL), FW_CFG_DMA_CTL_ERROR);
    CHECK_EQ(rom[0], 0x55);
    teardown(&x);
}

TEST(dma_descriptor_outside_ram_ignored)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    uint8_t tail[8];
    memset(tail, 0x5a, sizeof(tail));
    mem_write(&x.mem, 16 * MiB - 8, tail, sizeof(tail));
    dma_kick(&x.f, 16 * MiB - 8);                /* the 16-byte descriptor straddles the end */
    dma_kick(&x.f, 0xa0000);
    dma_kick(&x.f, 0xfffffffffffffff8ULL);
    uint8_t now[8];
    mem_read(&x.mem, 16 * MiB - 8, now, sizeof(now));
    CHECK(!memcmp(now, tail, sizeof(tail)));
    /* And the device still works. */
    CHECK_EQ(dma_select_read(&x.f, &x.mem, FW_CFG_SIGNATURE, 4, BUF), 0);
    teardown(&x);
}

TEST(dma_write_refused)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    int key = fw_cfg_add_file(&x.f, "etc/data", "abcd", 4);
    CHECK(key > 0);
    mem_write(&x.mem, BUF, "WXYZ", 4);
    CHECK_EQ(dma(&x.f, &x.mem, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_WRITE, 4, BUF),
             FW_CFG_DMA_CTL_ERROR);
    char got[4];
    select_key(&x.f, (uint16_t)key);
    read_port(&x.f, got, 4);
    CHECK(!memcmp(got, "abcd", 4));
    teardown(&x);
}

TEST(dma_address_64bit_assembly)
{
    struct fixture x;
    CHECK_EQ(setup(&x, MEM_PCI_HOLE_START + 16 * MiB), 0);  /* 16 MiB of RAM at 4 GiB */
    uint64_t desc = MEM_4G + 0x12340, buf = MEM_4G + 0x56780;
    put_desc(&x.mem, desc, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, buf);
    io_out(&x.f, 0x514, bswap32(1), 4);          /* high half: nothing happens yet */
    CHECK_EQ(desc_control(&x.mem, desc) & 0xff, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ);
    io_out(&x.f, 0x518, bswap32(0x12340), 4);   /* low half starts it */
    CHECK_EQ(desc_control(&x.mem, desc), 0);
    char got[4];
    mem_read(&x.mem, buf, got, 4);
    CHECK(!memcmp(got, "QEMU", 4));
    /* The register clears after a transfer: a lone low-half write means an address below 4 GiB. */
    put_desc(&x.mem, DESC, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, BUF);
    put_desc(&x.mem, MEM_4G + DESC, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, buf);
    io_out(&x.f, 0x518, bswap32((uint32_t)DESC), 4);
    CHECK_EQ(desc_control(&x.mem, DESC), 0);
    CHECK(desc_control(&x.mem, MEM_4G + DESC) != 0);
    /* Byte-wide writes assemble the same register. */
    put_desc(&x.mem, desc, FW_CFG_ID << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, 4, buf);
    for (int i = 0; i < 8; i++)
        io_out(&x.f, (uint16_t)(0x514 + i), (uint8_t)(desc >> (56 - 8 * i)), 1);
    CHECK_EQ(desc_control(&x.mem, desc), 0);
    mem_read(&x.mem, buf, got, 4);
    CHECK_EQ(le((uint8_t *)got, 4), 3);
    teardown(&x);
}

TEST(e820_file_layout)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    struct e820_map map = { .n = 3 };
    map.entries[0] = (struct e820_entry){ 0, 0x9fc00, E820_RAM };
    map.entries[1] = (struct e820_entry){ 0xfeffc000ULL, 0x4000, E820_RESERVED };
    map.entries[2] = (struct e820_entry){ 0x100000000ULL, 0x123456789000ULL, E820_RAM };
    CHECK_EQ(fw_cfg_add_e820(&x.f, &map), 0);
    uint32_t size = 0;
    int key = file_key(&x.f, "etc/e820", &size);
    CHECK(key > 0);
    CHECK_EQ(size, 3 * 20);
    uint8_t b[60];
    CHECK_EQ(dma_select_read(&x.f, &x.mem, (uint16_t)key, sizeof(b), BUF), 0);
    mem_read(&x.mem, BUF, b, sizeof(b));
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(le(b + 20 * i, 8), map.entries[i].addr);
        CHECK_EQ(le(b + 20 * i + 8, 8), map.entries[i].size);
        CHECK_EQ(le(b + 20 * i + 16, 4), map.entries[i].type);
    }
    teardown(&x);
}

TEST(bootorder_file)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    static const char *const paths[] = { "/pci@i0cf8/scsi@3/channel@0/disk@0,0", "/pci@i0cf8/ethernet@4/ethernet-phy@0" };
    CHECK_EQ(fw_cfg_add_bootorder(&x.f, paths, 2), 0);
    static const char want[] = "/pci@i0cf8/scsi@3/channel@0/disk@0,0\n/pci@i0cf8/ethernet@4/ethernet-phy@0";
    uint32_t size = 0;
    int key = file_key(&x.f, "bootorder", &size);
    CHECK(key > 0);
    CHECK_EQ(size, sizeof(want));                /* NUL-terminated */
    char got[sizeof(want)];
    select_key(&x.f, (uint16_t)key);
    read_port(&x.f, got, sizeof(got));
    CHECK(!memcmp(got, want, sizeof(want)));
    CHECK_EQ(fw_cfg_add_bootorder(&x.f, paths, 0), 0);  /* nothing to add */
    teardown(&x);
}

/* Several vCPUs reading different items through DMA at once each get their own item. */
struct reader { struct fixture *x; int key; uint64_t desc, buf; int bad; };

static void *reader_thread(void *arg)
{
    struct reader *r = arg;
    for (int i = 0; i < 2000; i++) {
        put_desc(&r->x->mem, r->desc, (uint32_t)r->key << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
                 8, r->buf);
        io_out(&r->x->f, 0x518, bswap32((uint32_t)r->desc), 4);
        uint8_t got[8];
        mem_read(&r->x->mem, r->buf, got, 8);
        if (desc_control(&r->x->mem, r->desc) != 0 || got[0] != 'A' + r->key - FW_CFG_FILE_FIRST ||
            memcmp(got, got + 1, 7))
            r->bad++;
    }
    return NULL;
}

TEST(concurrent_dma)
{
    struct fixture x;
    CHECK_EQ(setup(&x, 16 * MiB), 0);
    struct reader r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        char name[3] = { 'f', (char)('0' + i), '\0' }, data[8];
        memset(data, 'A' + i, sizeof(data));
        r[i] = (struct reader){ &x, fw_cfg_add_file(&x.f, name, data, sizeof(data)), DESC + 0x100 * (uint64_t)i,
                                BUF + 0x100 * (uint64_t)i, 0 };
        CHECK_EQ(r[i].key, FW_CFG_FILE_FIRST + i);
    }
    /* Each thread writes only the low half, as SeaBIOS does: the high half stays 0. */
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, reader_thread, &r[i]), 0);
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        bad += r[i].bad;
    }
    CHECK_EQ(bad, 0);
    teardown(&x);
}
