/* Unit tests for direct Linux boot: bzImage and ELF (PVH / 64-bit entry) loading, zero page, start_info,
 * initrd placement and command line, and hostile images that must fail with a message. */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "firmware/linux.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define MiB (1ULL << 20)
#define RSDP_ADDR 0x9c000ULL
#define CMDLINE "console=ttyS0 root=/dev/vda"

/* Zero-page offsets (Linux Documentation/arch/x86/zero-page.rst and boot.rst). */
#include "firmware/boot_params.h"

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t get32(const uint8_t *p) { return get16(p) | (uint32_t)get16(p + 2) << 16; }
static uint64_t get64(const uint8_t *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)v); put16(p + 2, (uint16_t)(v >> 16)); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)v); put32(p + 4, (uint32_t)(v >> 32)); }

/* ---- the guest a kernel is loaded into ---- */

struct guest {
    struct guest_memory mem;
    struct e820_map e820;
    struct linux_boot_params p;
    struct boot_entry out;
    char err[512];
};

static int guest_init(struct guest *g, uint64_t ram)
{
    memset(g, 0, sizeof(*g));
    int rc = mem_init_ram(&g->mem, ram);
    if (rc)
        return rc;
    e820_build(&g->e820, &g->mem);
    g->p.kernel_path = "test-kernel";
    g->p.cmdline = CMDLINE;
    g->p.rsdp = RSDP_ADDR;
    g->p.e820 = &g->e820;
    /* Dirty the boot structures so that the tests see what the loader wrote. */
    memset(mem_gpa_to_hva(&g->mem, LAYOUT_PVH_START_INFO, 0x2000), 0xcc, 0x2000);
    return 0;
}

/* Loads from exactly-sized heap copies, so that ASan reports any read past the given lengths. */
static int load(struct guest *g, const uint8_t *k, size_t ksize, const uint8_t *initrd, size_t isize)
{
    uint8_t *kc = malloc(ksize ? ksize : 1);
    memcpy(kc, k, ksize);
    uint8_t *ic = NULL;
    if (initrd) {
        ic = malloc(isize ? isize : 1);
        memcpy(ic, initrd, isize);
    }
    g->err[0] = 0;
    memset(&g->out, 0, sizeof(g->out));
    int rc = linux_load_image(&g->mem, kc, ksize, ic, isize, &g->p, &g->out, g->err, sizeof(g->err));
    free(kc);
    free(ic);
    return rc;
}

/* A failed load: a negative code and a message. */
static bool fails(struct guest *g, int rc, const char *needle)
{
    if (rc >= 0 || !g->err[0] || (needle && !strstr(g->err, needle))) {
        fprintf(stderr, "  rc %d, message '%s' (wanted '%s')\n", rc, g->err, needle ? needle : "");
        return false;
    }
    return true;
}

static uint8_t *gpa(struct guest *g, uint64_t addr, uint64_t len)
{
    return mem_gpa_to_hva(&g->mem, addr, len);
}

static uint8_t *zero_page(struct guest *g)
{
    return gpa(g, LAYOUT_ZERO_PAGE, 0x1000);
}

static bool e820_in_zero_page(struct guest *g)
{
    const uint8_t *zp = zero_page(g);
    if (zp[ZP_E820_ENTRIES] != g->e820.n)
        return false;
    return !memcmp(zp + ZP_E820_TABLE, g->e820.entries, g->e820.n * sizeof(struct e820_entry));
}

static bool cmdline_in_guest(struct guest *g, const char *want)
{
    const char *s = (const char *)gpa(g, LAYOUT_CMDLINE, strlen(want) + 1);
    return s && !strcmp(s, want);
}

static uint8_t pattern(size_t i)
{
    return (uint8_t)(i * 7 + 3);
}

/* ---- bzImage images ---- */

struct bz_spec {
    uint8_t setup_sects;
    uint16_t version;
    uint16_t xloadflags;
    uint32_t init_size, cmdline_size, initrd_addr_max;
    size_t payload;      /* protected-mode code after the setup sectors */
    size_t size;         /* 0: setup + payload; else the file is cut (or padded) to this */
};

static struct bz_spec bz_default(void)
{
    return (struct bz_spec){
        .setup_sects = 4, .version = 0x020f, .xloadflags = 0x1, .init_size = 4 * MiB,
        .cmdline_size = 2047, .initrd_addr_max = 0x7fffffff, .payload = 0x10000,
    };
}

static size_t bz_setup_size(const struct bz_spec *s)
{
    return ((s->setup_sects ? s->setup_sects : 4) + 1) * 512;
}

static uint8_t *bz_make(const struct bz_spec *s, size_t *size)
{
    size_t full = bz_setup_size(s) + s->payload;
    size_t n = s->size ? s->size : full;
    uint8_t *k = calloc(1, n > 0x300 ? n : 0x300);
    k[0x100] = 0x77;                             /* setup code before the header */
    k[HDR_SETUP_SECTS] = s->setup_sects;
    put16(k + HDR_BOOT_FLAG, 0xaa55);
    k[HDR_JUMP] = 0xeb;
    k[HDR_JUMP + 1] = 0x6a;                      /* the header ends at 0x26c */
    memcpy(k + HDR_MAGIC, "HdrS", 4);
    put16(k + HDR_VERSION, s->version);
    k[HDR_LOADFLAGS] = 0x01;                     /* LOADED_HIGH */
    put32(k + HDR_CODE32_START, 0x100000);
    put32(k + HDR_INITRD_ADDR_MAX, s->initrd_addr_max);
    put16(k + HDR_XLOADFLAGS, s->xloadflags);
    put32(k + HDR_CMDLINE_SIZE, s->cmdline_size);
    put64(k + HDR_PREF_ADDRESS, 0x1000000);
    put32(k + HDR_INIT_SIZE, s->init_size);
    k[0x270] = 0xee;                             /* past the header's end */
    for (size_t i = bz_setup_size(s); i < n; i++)
        k[i] = pattern(i - bz_setup_size(s));
    *size = n;
    return k;
}

static int bz_load(struct guest *g, const struct bz_spec *s, const uint8_t *initrd, size_t isize)
{
    size_t n;
    uint8_t *k = bz_make(s, &n);
    int rc = load(g, k, n, initrd, isize);
    free(k);
    return rc;
}

static bool payload_at(struct guest *g, uint64_t addr, size_t len)
{
    const uint8_t *p = gpa(g, addr, len);
    if (!p)
        return false;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern(i))
            return false;
    return true;
}

static uint8_t *make_initrd(size_t size)
{
    uint8_t *d = malloc(size);
    for (size_t i = 0; i < size; i++)
        d[i] = (uint8_t)(i ^ (i >> 8) ^ 0x5a);
    return d;
}

TEST(bz_64bit_entry)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    CHECK_EQ(g.out.entry, LAYOUT_KERNEL + 0x200);
    CHECK_EQ(g.out.arg, LAYOUT_ZERO_PAGE);
    CHECK(!strcmp(g.out.format, "bzImage"));
    CHECK(payload_at(&g, LAYOUT_KERNEL, s.payload));
    mem_free(&g.mem);
}

TEST(bz_protected_mode_entry_without_xlf_kernel_64)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    s.xloadflags = 0;
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_PROTECTED);
    CHECK_EQ(g.out.entry, LAYOUT_KERNEL);
    /* Before protocol 2.12 xloadflags does not exist, whatever the bytes say. */
    s = bz_default();
    s.version = 0x020b;
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_PROTECTED);
    CHECK_EQ(g.out.entry, LAYOUT_KERNEL);
    mem_free(&g.mem);
}

TEST(bz_zero_page_fields)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    const uint8_t *zp = zero_page(&g);
    CHECK_EQ(get32(zp + HDR_CMD_LINE_PTR), LAYOUT_CMDLINE);
    CHECK_EQ(get32(zp + ZP_EXT_CMD_LINE_PTR), 0);
    CHECK(cmdline_in_guest(&g, CMDLINE));
    CHECK_EQ(zp[HDR_TYPE_OF_LOADER], 0xff);
    CHECK_EQ(zp[HDR_LOADFLAGS], 0x81);           /* LOADED_HIGH kept, CAN_USE_HEAP added */
    CHECK_EQ(get16(zp + HDR_HEAP_END_PTR), 0xfe00);
    CHECK_EQ(get64(zp + ZP_ACPI_RSDP), RSDP_ADDR);
    CHECK(e820_in_zero_page(&g));
    CHECK_EQ(get32(zp + HDR_RAMDISK_IMAGE), 0);
    CHECK_EQ(get32(zp + HDR_RAMDISK_SIZE), 0);
    CHECK_EQ(get32(zp + ZP_EXT_RAMDISK_IMAGE), 0);
    /* The setup header is copied from the image, and nothing around it. */
    CHECK_EQ(zp[HDR_SETUP_SECTS], 4);
    CHECK_EQ(get16(zp + HDR_BOOT_FLAG), 0xaa55);
    CHECK(!memcmp(zp + HDR_MAGIC, "HdrS", 4));
    CHECK_EQ(get16(zp + HDR_VERSION), 0x020f);
    CHECK_EQ(get64(zp + HDR_PREF_ADDRESS), 0x1000000);
    CHECK_EQ(get32(zp + HDR_INIT_SIZE), 4 * MiB);
    CHECK_EQ(zp[0x100], 0);
    CHECK_EQ(zp[0x270], 0);
    CHECK_EQ(zp[0xfff], 0);                      /* the whole page was written */
    mem_free(&g.mem);
}

TEST(bz_setup_sects_zero_means_four)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    s.setup_sects = 0;
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    CHECK(payload_at(&g, LAYOUT_KERNEL, s.payload));
    mem_free(&g.mem);
}

TEST(bz_initrd_at_top_of_ram)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    size_t isize = MiB + 123;
    uint8_t *initrd = make_initrd(isize);
    CHECK_EQ(bz_load(&g, &s, initrd, isize), 0);
    const uint8_t *zp = zero_page(&g);
    uint64_t addr = get32(zp + HDR_RAMDISK_IMAGE) | (uint64_t)get32(zp + ZP_EXT_RAMDISK_IMAGE) << 32;
    CHECK_EQ(get32(zp + HDR_RAMDISK_SIZE), isize);
    CHECK_EQ(get32(zp + ZP_EXT_RAMDISK_SIZE), 0);
    CHECK_EQ(addr & 0xfff, 0);
    CHECK(addr + isize <= 64 * MiB);
    CHECK_EQ(addr, (64 * MiB - isize) & ~0xfffULL);   /* as high as it goes */
    CHECK(addr >= LAYOUT_KERNEL + s.init_size);
    CHECK(!memcmp(gpa(&g, addr, isize), initrd, isize));
    CHECK(payload_at(&g, LAYOUT_KERNEL, s.payload));  /* the kernel is intact */
    free(initrd);
    mem_free(&g.mem);
}

TEST(bz_initrd_below_initrd_addr_max)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    s.initrd_addr_max = 32 * MiB - 1;
    size_t isize = 3 * MiB + 5;
    uint8_t *initrd = make_initrd(isize);
    CHECK_EQ(bz_load(&g, &s, initrd, isize), 0);
    uint64_t addr = get32(zero_page(&g) + HDR_RAMDISK_IMAGE);
    CHECK_EQ(addr & 0xfff, 0);
    CHECK(addr + isize - 1 <= s.initrd_addr_max);
    CHECK_EQ(addr, (32 * MiB - isize) & ~0xfffULL);
    CHECK(!memcmp(gpa(&g, addr, isize), initrd, isize));
    free(initrd);
    mem_free(&g.mem);
}

TEST(bz_initrd_addr_max_zero_means_default)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 1024 * MiB), 0);
    struct bz_spec s = bz_default();
    s.initrd_addr_max = 0;
    size_t isize = 4096;
    uint8_t *initrd = make_initrd(isize);
    CHECK_EQ(bz_load(&g, &s, initrd, isize), 0);
    uint64_t addr = get32(zero_page(&g) + HDR_RAMDISK_IMAGE);
    CHECK_EQ(addr + isize, 0x38000000);          /* below the old 0x37ffffff limit */
    free(initrd);
    mem_free(&g.mem);
}

TEST(bz_initrd_stays_above_kernel)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 16 * MiB), 0);
    struct bz_spec s = bz_default();
    s.init_size = 12 * MiB;                      /* the kernel may use [1 MiB, 13 MiB) */
    uint8_t *initrd = make_initrd(3 * MiB + 1);
    CHECK_EQ(bz_load(&g, &s, initrd, 3 * MiB), 0);
    uint64_t addr = get32(zero_page(&g) + HDR_RAMDISK_IMAGE);
    CHECK_EQ(addr, 13 * MiB);
    CHECK(fails(&g, bz_load(&g, &s, initrd, 3 * MiB + 1), "initrd"));
    free(initrd);
    mem_free(&g.mem);
}

TEST(bz_initrd_larger_than_ram)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    size_t isize = 128 * MiB;
    /* Never read by a correct loader: reserve it without touching it. */
    uint8_t *big = mmap(NULL, isize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(big != MAP_FAILED);
    size_t n;
    uint8_t *k = bz_make(&s, &n);
    g.err[0] = 0;
    int rc = linux_load_image(&g.mem, k, n, big, isize, &g.p, &g.out, g.err, sizeof(g.err));
    free(k);
    munmap(big, isize);
    CHECK(fails(&g, rc, "initrd"));
    mem_free(&g.mem);
}

TEST(bz_command_line_limits)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    s.cmdline_size = 16;
    g.p.cmdline = "0123456789abcdef";            /* exactly 16 bytes */
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    CHECK(cmdline_in_guest(&g, "0123456789abcdef"));
    g.p.cmdline = "0123456789abcdefg";
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "command line"));
    g.p.cmdline = NULL;                          /* no --append: an empty line */
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    CHECK(cmdline_in_guest(&g, ""));
    /* A kernel accepting 4 GiB of command line still gets at most the 64 KiB window. */
    s.cmdline_size = 0xffffffff;
    size_t len = LAYOUT_CMDLINE_MAX + 10;
    char *long_line = malloc(len + 1);
    memset(long_line, 'a', len);
    long_line[len] = 0;
    g.p.cmdline = long_line;
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "command line"));
    long_line[LAYOUT_CMDLINE_MAX - 1] = 0;       /* the largest that fits */
    int rc = bz_load(&g, &s, NULL, 0);
    free(long_line);
    CHECK_EQ(rc, 0);
    mem_free(&g.mem);
}

TEST(bz_truncated_images)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    s.size = 0x2ff;                              /* too short to hold the header */
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "not a Linux kernel"));
    s.size = 0x300;
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "truncated"));
    s.size = bz_setup_size(&s);                  /* setup only, no kernel */
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "truncated"));
    s.size = bz_setup_size(&s) + 1;              /* one byte of kernel is accepted */
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    mem_free(&g.mem);
}

TEST(bz_setup_sects_past_end)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    s.setup_sects = 0xff;
    s.size = 8192;
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "truncated"));
    mem_free(&g.mem);
}

TEST(bz_old_protocol_refused)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct bz_spec s = bz_default();
    s.version = 0x0205;
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "2.06"));
    s.version = 0;
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "too old"));
    mem_free(&g.mem);
}

TEST(bz_kernel_too_big_for_ram)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 16 * MiB), 0);
    struct bz_spec s = bz_default();
    s.init_size = 15 * MiB + 1;                  /* needs [1 MiB, 16 MiB + 1) */
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "--memory"));
    s.init_size = 0xffffffff;
    CHECK(fails(&g, bz_load(&g, &s, NULL, 0), "too small"));
    s.init_size = 15 * MiB;
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    /* Protocol 2.09 has no init_size field: the bytes there are not read. */
    s.version = 0x0209;
    s.init_size = 0xffffffff;
    CHECK_EQ(bz_load(&g, &s, NULL, 0), 0);
    mem_free(&g.mem);
}

TEST(not_a_kernel)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 16 * MiB), 0);
    CHECK(fails(&g, load(&g, (const uint8_t *)"", 0, NULL, 0), "not a Linux kernel"));
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = pattern(i);
    CHECK(fails(&g, load(&g, junk, sizeof(junk), NULL, 0), "not a Linux kernel"));
    CHECK(fails(&g, load(&g, (const uint8_t *)"\x7f" "EL", 3, NULL, 0), "not a Linux kernel"));
    CHECK(fails(&g, load(&g, (const uint8_t *)"\x7f" "ELF", 4, NULL, 0), "truncated"));
    mem_free(&g.mem);
}

/* ---- ELF images ---- */

#define ELF_NOTE_OFF 0x200
#define ELF_SEG_OFF 0x1000
#define ELF_SEG_FILESZ 0x3000
#define ELF_SEG_MEMSZ 0x5000
#define ELF_SIZE (ELF_SEG_OFF + ELF_SEG_FILESZ)
#define KPADDR 0x1000000ULL
#define KVADDR 0xffffffff81000000ULL

struct elf_spec {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[4];
    uint8_t notes[512];
    size_t notes_len;
    size_t size;
};

static void note_add(struct elf_spec *s, const char *name, uint32_t namesz, uint32_t type, const void *desc,
                     uint32_t descsz)
{
    uint8_t *p = s->notes + s->notes_len;
    put32(p, namesz);
    put32(p + 4, descsz);
    put32(p + 8, type);
    size_t name_room = (namesz + 3) & ~3u, desc_room = (descsz + 3) & ~3u;
    memcpy(p + 12, name, namesz);
    memcpy(p + 12 + name_room, desc, descsz);
    s->notes_len += 12 + name_room + desc_room;
}

static void pvh_note(struct elf_spec *s, uint32_t entry)
{
    uint8_t d[4];
    put32(d, entry);
    note_add(s, "Xen", 4, 18, d, 4);             /* XEN_ELFNOTE_PHYS32_ENTRY */
}

/* One PT_LOAD of 12 KiB file / 20 KiB memory at 16 MiB, entry 0x40 into it; a PT_NOTE if notes are added. */
static struct elf_spec elf_default(void)
{
    struct elf_spec s;
    memset(&s, 0, sizeof(s));
    memcpy(s.eh.e_ident, ELFMAG, SELFMAG);
    s.eh.e_ident[EI_CLASS] = ELFCLASS64;
    s.eh.e_ident[EI_DATA] = ELFDATA2LSB;
    s.eh.e_ident[EI_VERSION] = EV_CURRENT;
    s.eh.e_type = ET_EXEC;
    s.eh.e_machine = EM_X86_64;
    s.eh.e_version = EV_CURRENT;
    s.eh.e_entry = KVADDR + 0x40;
    s.eh.e_phoff = sizeof(Elf64_Ehdr);
    s.eh.e_ehsize = sizeof(Elf64_Ehdr);
    s.eh.e_phentsize = sizeof(Elf64_Phdr);
    s.eh.e_phnum = 1;
    s.ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = ELF_SEG_OFF,
                            .p_vaddr = KVADDR, .p_paddr = KPADDR, .p_filesz = ELF_SEG_FILESZ,
                            .p_memsz = ELF_SEG_MEMSZ, .p_align = 0x1000 };
    s.size = ELF_SIZE;
    return s;
}

/* Adds the PT_NOTE header for the notes written so far. */
static void elf_note_segment(struct elf_spec *s)
{
    s->ph[s->eh.e_phnum++] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = ELF_NOTE_OFF, .p_filesz = s->notes_len,
                                           .p_align = 4 };
}

static uint8_t *elf_render(const struct elf_spec *s)
{
    uint8_t *k = calloc(1, s->size ? s->size : 1);
    uint8_t head[ELF_SEG_OFF] = { 0 };
    memcpy(head, &s->eh, sizeof(s->eh));
    if (s->eh.e_phoff < sizeof(head)) {
        size_t room = sizeof(head) - s->eh.e_phoff;
        size_t n = (s->eh.e_phnum < 4 ? s->eh.e_phnum : 4) * sizeof(Elf64_Phdr);
        memcpy(head + s->eh.e_phoff, s->ph, n < room ? n : room);
    }
    memcpy(head + ELF_NOTE_OFF, s->notes, s->notes_len);
    memcpy(k, head, s->size < sizeof(head) ? s->size : sizeof(head));
    for (size_t i = ELF_SEG_OFF; i < s->size; i++)
        k[i] = pattern(i - ELF_SEG_OFF);
    return k;
}

static int elf_load(struct guest *g, const struct elf_spec *s, const uint8_t *initrd, size_t isize)
{
    uint8_t *k = elf_render(s);
    int rc = load(g, k, s->size, initrd, isize);
    free(k);
    return rc;
}

static const uint8_t *start_info(struct guest *g)
{
    return gpa(g, LAYOUT_PVH_START_INFO, 0x1000);
}

TEST(elf_without_pvh_note_uses_64bit_entry)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    memset(gpa(&g, KPADDR, ELF_SEG_MEMSZ + 1), 0xcc, ELF_SEG_MEMSZ + 1);
    struct elf_spec s = elf_default();
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    CHECK_EQ(g.out.entry, KPADDR + 0x40);       /* e_entry translated through the segment */
    CHECK_EQ(g.out.arg, LAYOUT_ZERO_PAGE);
    CHECK(!strcmp(g.out.format, "ELF (64-bit entry)"));
    CHECK(payload_at(&g, KPADDR, ELF_SEG_FILESZ));
    const uint8_t *bss = gpa(&g, KPADDR + ELF_SEG_FILESZ, ELF_SEG_MEMSZ - ELF_SEG_FILESZ);
    for (size_t i = 0; i < ELF_SEG_MEMSZ - ELF_SEG_FILESZ; i++)
        CHECK_EQ(bss[i], 0);
    CHECK_EQ(*gpa(&g, KPADDR + ELF_SEG_MEMSZ, 1), 0xcc);   /* nothing past p_memsz */
    mem_free(&g.mem);
}

TEST(elf_zero_page_describes_minimal_header)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    const uint8_t *zp = zero_page(&g);
    CHECK_EQ(get16(zp + HDR_BOOT_FLAG), 0xaa55);
    CHECK(!memcmp(zp + HDR_MAGIC, "HdrS", 4));
    CHECK_EQ(get16(zp + HDR_VERSION), 0x020f);
    CHECK_EQ(zp[HDR_LOADFLAGS], 0x81);
    CHECK_EQ(get32(zp + HDR_CMDLINE_SIZE), LAYOUT_CMDLINE_MAX - 1);
    CHECK_EQ(get32(zp + HDR_CMD_LINE_PTR), LAYOUT_CMDLINE);
    CHECK(cmdline_in_guest(&g, CMDLINE));
    CHECK_EQ(zp[HDR_TYPE_OF_LOADER], 0xff);
    CHECK_EQ(get64(zp + ZP_ACPI_RSDP), RSDP_ADDR);
    CHECK(e820_in_zero_page(&g));
    CHECK_EQ(get32(zp + HDR_RAMDISK_SIZE), 0);
    mem_free(&g.mem);
}

TEST(elf_initrd_with_64bit_entry)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    size_t isize = 2 * MiB + 1;
    uint8_t *initrd = make_initrd(isize);
    CHECK_EQ(elf_load(&g, &s, initrd, isize), 0);
    const uint8_t *zp = zero_page(&g);
    uint64_t addr = get32(zp + HDR_RAMDISK_IMAGE) | (uint64_t)get32(zp + ZP_EXT_RAMDISK_IMAGE) << 32;
    CHECK_EQ(get32(zp + HDR_RAMDISK_SIZE), isize);
    CHECK_EQ(addr & 0xfff, 0);
    CHECK(addr >= KPADDR + ELF_SEG_MEMSZ);
    CHECK(addr + isize <= 64 * MiB);
    CHECK(!memcmp(gpa(&g, addr, isize), initrd, isize));
    free(initrd);
    mem_free(&g.mem);
}

TEST(elf_pvh_note_selects_pvh_entry)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    uint8_t build_id[20];
    memset(build_id, 0xab, sizeof(build_id));
    note_add(&s, "GNU", 4, NT_GNU_BUILD_ID, build_id, sizeof(build_id));
    uint8_t other[4] = { 1, 2, 3, 4 };
    note_add(&s, "Xen", 4, 6, other, sizeof(other));       /* another Xen note first */
    pvh_note(&s, (uint32_t)KPADDR + 0x123);
    elf_note_segment(&s);
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_PVH);
    CHECK_EQ(g.out.entry, KPADDR + 0x123);
    CHECK_EQ(g.out.arg, LAYOUT_PVH_START_INFO);
    CHECK(!strcmp(g.out.format, "ELF (PVH)"));
    CHECK(payload_at(&g, KPADDR, ELF_SEG_FILESZ));
    mem_free(&g.mem);
}

TEST(elf_pvh_note_with_64bit_descriptor)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    uint8_t d[8];
    put64(d, 0x0000000101000200ULL);
    note_add(&s, "Xen", 4, 18, d, 8);
    elf_note_segment(&s);
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_PVH);
    CHECK_EQ(g.out.entry, 0x0000000101000200ULL);
    mem_free(&g.mem);
}

TEST(elf_pvh_start_info_layout)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    pvh_note(&s, (uint32_t)KPADDR);
    elf_note_segment(&s);
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    const uint8_t *si = start_info(&g);
    /* struct hvm_start_info (Xen start_info.h), version 1. */
    CHECK_EQ(get32(si + 0), 0x336ec578);
    CHECK_EQ(get32(si + 4), 1);
    CHECK_EQ(get32(si + 8), 0);                  /* flags */
    CHECK_EQ(get32(si + 12), 0);                 /* nr_modules */
    CHECK_EQ(get64(si + 16), 0);                 /* modlist_paddr */
    CHECK_EQ(get64(si + 24), LAYOUT_CMDLINE);
    CHECK(cmdline_in_guest(&g, CMDLINE));
    CHECK_EQ(get64(si + 32), RSDP_ADDR);
    uint64_t memmap = get64(si + 40);
    CHECK_EQ(get32(si + 48), g.e820.n);
    CHECK(memmap >= LAYOUT_PVH_START_INFO + 56);
    CHECK(memmap + g.e820.n * 24 <= LAYOUT_PVH_START_INFO + 0x1000);
    /* hvm_memmap_table_entry: addr, size, type, reserved. */
    const uint8_t *mm = gpa(&g, memmap, g.e820.n * 24);
    CHECK(mm != NULL);
    for (int i = 0; i < g.e820.n; i++) {
        CHECK_EQ(get64(mm + i * 24), g.e820.entries[i].addr);
        CHECK_EQ(get64(mm + i * 24 + 8), g.e820.entries[i].size);
        CHECK_EQ(get32(mm + i * 24 + 16), g.e820.entries[i].type);
        CHECK_EQ(get32(mm + i * 24 + 20), 0);
    }
    mem_free(&g.mem);
}

TEST(elf_pvh_module_list_for_initrd)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    pvh_note(&s, (uint32_t)KPADDR);
    elf_note_segment(&s);
    size_t isize = 5 * MiB + 77;
    uint8_t *initrd = make_initrd(isize);
    CHECK_EQ(elf_load(&g, &s, initrd, isize), 0);
    const uint8_t *si = start_info(&g);
    CHECK_EQ(get32(si + 12), 1);
    uint64_t modlist = get64(si + 16);
    CHECK(modlist >= LAYOUT_PVH_START_INFO + 56);
    /* hvm_modlist_entry: paddr, size, cmdline_paddr, reserved; clear of the memory map. */
    const uint8_t *mod = gpa(&g, modlist, 32);
    CHECK(mod != NULL);
    CHECK(modlist + 32 <= get64(si + 40) || get64(si + 40) + g.e820.n * 24 <= modlist);
    uint64_t addr = get64(mod), size = get64(mod + 8);
    CHECK_EQ(size, isize);
    CHECK_EQ(get64(mod + 16), 0);
    CHECK_EQ(addr & 0xfff, 0);
    CHECK(addr >= KPADDR + ELF_SEG_MEMSZ);
    CHECK(addr + isize <= 64 * MiB);
    CHECK(!memcmp(gpa(&g, addr, isize), initrd, isize));
    free(initrd);
    mem_free(&g.mem);
}

TEST(elf_notes_that_are_not_pvh)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    uint8_t d[4];
    put32(d, (uint32_t)KPADDR + 0x99);
    struct elf_spec s = elf_default();
    note_add(&s, "Xem", 4, 18, d, 4);            /* wrong owner */
    note_add(&s, "Xen", 3, 18, d, 4);            /* name without its NUL */
    note_add(&s, "Xen", 4, 18, d, 2);            /* descriptor too short */
    note_add(&s, "Xen", 4, 17, d, 4);            /* another type */
    elf_note_segment(&s);
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    CHECK_EQ(g.out.entry, KPADDR + 0x40);
    mem_free(&g.mem);
}

TEST(elf_hostile_notes_are_ignored)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    pvh_note(&s, (uint32_t)KPADDR);
    elf_note_segment(&s);
    s.ph[1].p_offset = ELF_SIZE + 0x100;         /* notes outside the file */
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    s.ph[1].p_offset = ELF_NOTE_OFF;
    s.ph[1].p_filesz = ELF_SIZE;                 /* runs past the end of the file */
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    s.ph[1].p_offset = UINT64_MAX - 8;
    s.ph[1].p_filesz = 16;                       /* offset + size wraps */
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    s.ph[1].p_offset = ELF_NOTE_OFF;
    s.ph[1].p_filesz = 11;                       /* shorter than a note header */
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    s.ph[1].p_filesz = 19;                       /* the descriptor is cut off */
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    /* Name and descriptor sizes that point far past the segment. */
    struct elf_spec h = elf_default();
    uint8_t d[4] = { 0 };
    note_add(&h, "Xen", 4, 18, d, 4);
    elf_note_segment(&h);
    put32(h.notes, 0xffffffff);
    CHECK_EQ(elf_load(&g, &h, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    put32(h.notes, 4);
    put32(h.notes + 4, 0xfffffffd);
    CHECK_EQ(elf_load(&g, &h, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    mem_free(&g.mem);
}

TEST(elf_truncated_and_foreign)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    s.size = sizeof(Elf64_Ehdr) - 1;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "truncated"));
    s = elf_default();
    s.eh.e_ident[EI_CLASS] = ELFCLASS32;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "x86-64"));
    s = elf_default();
    s.eh.e_machine = EM_AARCH64;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "x86-64"));
    mem_free(&g.mem);
}

TEST(elf_program_headers_outside_file)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    s.size = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) - 1;   /* the one header is cut */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "program headers"));
    s = elf_default();
    s.eh.e_phoff = ELF_SIZE - 8;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "program headers"));
    s.eh.e_phoff = UINT64_MAX - 0x10;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "program headers"));
    s = elf_default();
    s.eh.e_phnum = 0xffff;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "program headers"));
    s = elf_default();
    s.eh.e_phentsize = 32;                       /* not an Elf64_Phdr */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), NULL));
    s.eh.e_phentsize = 0;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), NULL));
    mem_free(&g.mem);
}

TEST(elf_segments_outside_file)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    s.ph[0].p_offset = ELF_SIZE + 1;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside the file"));
    s = elf_default();
    s.ph[0].p_filesz = ELF_SIZE;                 /* offset 4 KiB + the whole file */
    s.ph[0].p_memsz = ELF_SIZE;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside the file"));
    s = elf_default();
    s.ph[0].p_offset = UINT64_MAX;
    s.ph[0].p_filesz = 2;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside the file"));
    s = elf_default();
    s.ph[0].p_filesz = ELF_SEG_FILESZ;
    s.ph[0].p_memsz = ELF_SEG_FILESZ - 1;        /* file part larger than memory part */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), NULL));
    mem_free(&g.mem);
}

TEST(elf_segments_outside_guest_ram)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    s.ph[0].p_paddr = 1ULL << 30;                /* above 64 MiB of RAM */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside guest RAM"));
    s.ph[0].p_paddr = 64 * MiB - 0x1000;         /* starts inside, ends outside */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside guest RAM"));
    s.ph[0].p_paddr = 0x9f000;                   /* runs into the 640 KiB hole */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside guest RAM"));
    s.ph[0].p_paddr = UINT64_MAX - 0xfff;        /* wraps around 2^64 */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside guest RAM"));
    s.ph[0].p_paddr = 0xfec00000;                /* IOAPIC window */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside guest RAM"));
    s = elf_default();
    s.ph[0].p_memsz = UINT64_MAX;                /* huge zero-filled tail */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside guest RAM"));
    s.ph[0].p_memsz = 1ULL << 40;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "outside guest RAM"));
    mem_free(&g.mem);
}

TEST(elf_without_loadable_segments)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    s.eh.e_phnum = 0;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "no loadable segments"));
    s = elf_default();
    s.ph[0].p_type = PT_NOTE;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "no loadable segments"));
    mem_free(&g.mem);
}

TEST(elf_entry_outside_segments)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    s.eh.e_entry = KVADDR + ELF_SEG_MEMSZ;       /* one past the segment */
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "entry point"));
    s.eh.e_entry = 0;
    CHECK(fails(&g, elf_load(&g, &s, NULL, 0), "entry point"));
    /* With a PVH note the ELF entry is not used. */
    pvh_note(&s, (uint32_t)KPADDR + 8);
    elf_note_segment(&s);
    CHECK_EQ(elf_load(&g, &s, NULL, 0), 0);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_PVH);
    CHECK_EQ(g.out.entry, KPADDR + 8);
    mem_free(&g.mem);
}

TEST(elf_two_segments)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    s.ph[0].p_filesz = 0x1000;
    s.ph[0].p_memsz = 0x1000;
    s.ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = ELF_SEG_OFF + 0x1000, .p_vaddr = KVADDR + 0x400000,
                            .p_paddr = KPADDR + 0x400000, .p_filesz = 0x2000, .p_memsz = 0x100000 };
    s.eh.e_phnum = 2;
    s.eh.e_entry = KVADDR + 0x400010;
    size_t isize = 4096;
    uint8_t *initrd = make_initrd(isize);
    CHECK_EQ(elf_load(&g, &s, initrd, isize), 0);
    free(initrd);
    CHECK_EQ(g.out.mode, BOOT_ENTRY_LONG);
    CHECK_EQ(g.out.entry, KPADDR + 0x400010);
    CHECK(payload_at(&g, KPADDR, 0x1000));
    const uint8_t *second = gpa(&g, KPADDR + 0x400000, 0x2000);
    CHECK_EQ(second[0], pattern(0x1000));
    uint64_t addr = get32(zero_page(&g) + HDR_RAMDISK_IMAGE);
    CHECK(addr >= KPADDR + 0x500000);            /* above the end of the higher segment */
    mem_free(&g.mem);
}

TEST(elf_command_line_too_long)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    size_t len = LAYOUT_CMDLINE_MAX;             /* one byte too many with its NUL */
    char *line = malloc(len + 1);
    memset(line, 'x', len);
    line[len] = 0;
    g.p.cmdline = line;
    int rc = elf_load(&g, &s, NULL, 0);
    bool refused = fails(&g, rc, "command line");
    line[len - 1] = 0;
    int rc_fit = elf_load(&g, &s, NULL, 0);
    free(line);
    CHECK(refused);
    CHECK_EQ(rc_fit, 0);
    mem_free(&g.mem);
}

TEST(elf_initrd_does_not_fit)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 64 * MiB), 0);
    struct elf_spec s = elf_default();
    size_t isize = 64 * MiB;
    uint8_t *big = mmap(NULL, isize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    CHECK(big != MAP_FAILED);
    uint8_t *k = elf_render(&s);
    g.err[0] = 0;
    int rc = linux_load_image(&g.mem, k, s.size, big, isize, &g.p, &g.out, g.err, sizeof(g.err));
    munmap(big, isize);
    free(k);
    CHECK(fails(&g, rc, "initrd"));
    /* A kernel at the top of RAM leaves no room above it. */
    s.ph[0].p_paddr = 64 * MiB - ELF_SEG_MEMSZ;
    uint8_t small[4096] = { 1 };
    k = elf_render(&s);
    g.err[0] = 0;
    rc = linux_load_image(&g.mem, k, s.size, small, sizeof(small), &g.p, &g.out, g.err, sizeof(g.err));
    free(k);
    CHECK(fails(&g, rc, "initrd"));
    mem_free(&g.mem);
}

/* xorshift64: a fixed pseudo-random sequence for the mutation test. */
static uint64_t next_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#ifndef MUTATION_ROUNDS
#define MUTATION_ROUNDS 20000
#endif

TEST(mutated_headers_never_crash)
{
    struct guest g;
    CHECK_EQ(guest_init(&g, 16 * MiB), 0);
    struct bz_spec bs = bz_default();
    bs.payload = 0x800;
    size_t bsize;
    uint8_t *bz = bz_make(&bs, &bsize);
    struct elf_spec es = elf_default();
    pvh_note(&es, (uint32_t)KPADDR);
    elf_note_segment(&es);
    uint8_t *elf = elf_render(&es);
    uint8_t initrd[8192];
    memset(initrd, 0x11, sizeof(initrd));
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int loaded = 0, refused = 0;
    for (int iter = 0; iter < MUTATION_ROUNDS; iter++) {
        bool is_elf = iter & 1;
        const uint8_t *orig = is_elf ? elf : bz;
        size_t size = is_elf ? es.size : bsize;
        uint8_t *k = malloc(size);
        memcpy(k, orig, size);
        /* Flip a few bytes in the headers (and the notes), sometimes cut the file short. */
        int flips = 1 + (int)(next_rand(&seed) % 6);
        for (int f = 0; f < flips; f++) {
            size_t at = is_elf ? next_rand(&seed) % (ELF_NOTE_OFF + es.notes_len) : 0x1f0 + next_rand(&seed) % 0x80;
            k[at] = (uint8_t)next_rand(&seed);
        }
        if (next_rand(&seed) % 8 == 0)
            size = next_rand(&seed) % size;
        g.err[0] = 0;
        int rc = linux_load_image(&g.mem, k, size, (iter & 2) ? initrd : NULL, (iter & 2) ? sizeof(initrd) : 0,
                                  &g.p, &g.out, g.err, sizeof(g.err));
        free(k);
        if (rc) {
            CHECK(rc < 0);
            CHECK(g.err[0] != 0);
            refused++;
        } else {
            loaded++;
        }
    }
    free(bz);
    free(elf);
    CHECK(loaded > 0);
    CHECK(refused > 0);
    mem_free(&g.mem);
}
