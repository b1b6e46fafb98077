/* Unit tests for bochs-display: PCI identity and BARs, the DISPI register protocol (ID, GETCAPS,
 * valid and refused modes, page flips, access widths), QEMU extended registers, the framebuffer
 * memslot hooks, dirty pages -> rectangles, and pixel conversion. */
#include <stdbool.h>
#include <string.h>

#include "devices/display.h"
#include "devices/pci.h"
#include "vmm/bus.h"
#include "tests/unit/check.h"

TEST_MAIN()

/* ---- register access helpers (offsets inside BAR2) ---- */

static uint32_t mmio_read(struct display *d, unsigned off, unsigned len)
{
    uint8_t b[8] = { 0 };
    display_mmio(d, off, b, len, false);
    uint32_t v = 0;
    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)b[i] << (8 * i);
    return v;
}

static void mmio_write(struct display *d, unsigned off, unsigned len, uint32_t v)
{
    uint8_t b[8] = { 0 };
    for (unsigned i = 0; i < len && i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    display_mmio(d, off, b, len, true);
}

static uint16_t dispi_get(struct display *d, unsigned index)
{
    return (uint16_t)mmio_read(d, DISPI_MMIO_BASE + 2 * index, 2);
}

static void dispi_set(struct display *d, unsigned index, uint16_t v)
{
    mmio_write(d, DISPI_MMIO_BASE + 2 * index, 2, v);
}

/* The sequence Linux's bochs-drm and SeaBIOS use: disable, geometry, enable with LFB. */
static void set_mode(struct display *d, unsigned x, unsigned y, unsigned bpp, uint16_t enable_extra)
{
    dispi_set(d, DISPI_ENABLE, 0);
    dispi_set(d, DISPI_BPP, (uint16_t)bpp);
    dispi_set(d, DISPI_XRES, (uint16_t)x);
    dispi_set(d, DISPI_YRES, (uint16_t)y);
    dispi_set(d, DISPI_BANK, 0);
    dispi_set(d, DISPI_ENABLE, (uint16_t)(DISPI_ENABLED | DISPI_LFB_ENABLED | enable_extra));
}

/* ---- identity ---- */

TEST(pci_identity_and_bars)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    CHECK_EQ(pci_config_read(&d.pci, PCI_VENDOR_ID, 2), 0x1234);
    CHECK_EQ(pci_config_read(&d.pci, PCI_DEVICE_ID, 2), 0x1111);
    CHECK_EQ(pci_config_read(&d.pci, PCI_REVISION_ID, 1), 2);
    CHECK_EQ(pci_config_read(&d.pci, PCI_CLASS_PROG, 1), 0x00);
    CHECK_EQ(pci_config_read(&d.pci, PCI_CLASS_DEVICE, 2), 0x0380);
    CHECK_EQ(d.pci.bars[0].kind, PCI_BAR_MEM32);
    CHECK_EQ(d.pci.bars[0].size, 16u << 20);
    CHECK(d.pci.bars[0].prefetchable);
    CHECK(d.pci.bars[0].fn == NULL);
    CHECK_EQ(d.pci.bars[2].kind, PCI_BAR_MEM32);
    CHECK_EQ(d.pci.bars[2].size, 4096);
    CHECK(!d.pci.bars[2].prefetchable);
    CHECK_EQ(pci_config_read(&d.pci, PCI_BAR0, 4) & 0xf, 0x8);     /* prefetchable, 32-bit */
    display_destroy(&d);
}

/* ---- DISPI protocol ---- */

TEST(id_register)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    CHECK_EQ(dispi_get(&d, DISPI_ID), 0xb0c5);
    dispi_set(&d, DISPI_ID, 0xb0c0);
    CHECK_EQ(dispi_get(&d, DISPI_ID), 0xb0c0);
    dispi_set(&d, DISPI_ID, 0x1234);                    /* not a DISPI version: ignored */
    CHECK_EQ(dispi_get(&d, DISPI_ID), 0xb0c0);
    dispi_set(&d, DISPI_ID, 0xb0c6);
    CHECK_EQ(dispi_get(&d, DISPI_ID), 0xb0c0);
    dispi_set(&d, DISPI_ID, 0xb0c5);
    CHECK_EQ(dispi_get(&d, DISPI_ID), 0xb0c5);
    display_destroy(&d);
}

TEST(video_memory_and_extended_registers)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    CHECK_EQ(dispi_get(&d, DISPI_VIDEO_MEMORY_64K), 256);
    dispi_set(&d, DISPI_VIDEO_MEMORY_64K, 1);           /* read-only */
    CHECK_EQ(dispi_get(&d, DISPI_VIDEO_MEMORY_64K), 256);
    CHECK_EQ(mmio_read(&d, 0x600, 4), 8);
    CHECK_EQ(mmio_read(&d, 0x604, 4), 0x1e1e1e1e);
    CHECK_EQ(mmio_read(&d, 0x604, 1), 0x1e);
    mmio_write(&d, 0x604, 4, 0xbebebebe);               /* little endian only */
    CHECK_EQ(mmio_read(&d, 0x604, 4), 0x1e1e1e1e);
    CHECK_EQ(mmio_read(&d, 0x608, 4), 0);               /* nothing else in the BAR */
    CHECK_EQ(mmio_read(&d, 0x400, 4), 0);
    CHECK_EQ(mmio_read(&d, 0x516, 2), 0);
    display_destroy(&d);
}

TEST(getcaps_reports_maximums)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    dispi_set(&d, DISPI_XRES, 800);
    dispi_set(&d, DISPI_YRES, 600);
    dispi_set(&d, DISPI_BPP, 16);
    dispi_set(&d, DISPI_ENABLE, DISPI_GETCAPS);
    CHECK_EQ(dispi_get(&d, DISPI_XRES), 2560);
    CHECK_EQ(dispi_get(&d, DISPI_YRES), 1600);
    CHECK_EQ(dispi_get(&d, DISPI_BPP), 32);
    dispi_set(&d, DISPI_ENABLE, 0);
    CHECK_EQ(dispi_get(&d, DISPI_XRES), 800);
    CHECK_EQ(dispi_get(&d, DISPI_YRES), 600);
    CHECK_EQ(dispi_get(&d, DISPI_BPP), 16);
    struct display_mode m;
    display_get_mode(&d, &m);
    CHECK(!m.enabled);
    display_destroy(&d);
}

TEST(valid_mode_enables)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    struct display_mode m;
    uint32_t gen0 = display_get_mode(&d, &m);
    CHECK(!m.enabled);
    set_mode(&d, 1024, 768, 32, 0);
    uint32_t gen1 = display_get_mode(&d, &m);
    CHECK(gen1 != gen0);
    CHECK(m.enabled);
    CHECK_EQ(m.width, 1024);
    CHECK_EQ(m.height, 768);
    CHECK_EQ(m.bpp, 32);
    CHECK_EQ(m.stride, 4096);
    CHECK_EQ(m.offset, 0);
    CHECK_EQ(dispi_get(&d, DISPI_ENABLE), DISPI_ENABLED | DISPI_LFB_ENABLED);
    CHECK_EQ(dispi_get(&d, DISPI_VIRT_WIDTH), 1024);
    CHECK_EQ(dispi_get(&d, DISPI_VIRT_HEIGHT), 4096);  /* 16 MiB / 4096-byte lines */
    /* Every bpp of the set. */
    unsigned bpps[] = { 8, 15, 16, 24, 32 }, bytes[] = { 1, 2, 2, 3, 4 };
    for (unsigned i = 0; i < 5; i++) {
        set_mode(&d, 2560, 1600, bpps[i], 0);
        display_get_mode(&d, &m);
        CHECK(m.enabled);
        CHECK_EQ(m.bpp, bpps[i]);
        CHECK_EQ(m.stride, 2560 * bytes[i]);
    }
    /* Disable. */
    dispi_set(&d, DISPI_ENABLE, 0);
    display_get_mode(&d, &m);
    CHECK(!m.enabled);
    display_destroy(&d);
}

TEST(invalid_modes_are_refused)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    struct { unsigned x, y, bpp; } bad[] = {
        { 640, 480, 7 }, { 640, 480, 0 }, { 640, 480, 64 }, { 0, 480, 32 }, { 640, 0, 32 },
        { 2561, 1600, 32 }, { 2560, 1601, 32 }, { 0xffff, 0xffff, 32 }, { 65535, 1, 8 },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        set_mode(&d, bad[i].x, bad[i].y, bad[i].bpp, 0);
        struct display_mode m;
        display_get_mode(&d, &m);
        CHECK(!m.enabled);
        CHECK_EQ(dispi_get(&d, DISPI_ENABLE) & DISPI_ENABLED, 0);
        CHECK_EQ(dispi_get(&d, DISPI_ENABLE) & DISPI_LFB_ENABLED, DISPI_LFB_ENABLED);
    }
    display_destroy(&d);
}

TEST(enable_clears_unless_noclearmem)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    memset(d.fb, 0xaa, 4096);
    set_mode(&d, 640, 480, 32, DISPI_NOCLEARMEM);
    CHECK_EQ(d.fb[100], 0xaa);
    set_mode(&d, 640, 480, 32, 0);
    CHECK_EQ(d.fb[100], 0);
    display_destroy(&d);
}

TEST(page_flip_and_line_length_while_enabled)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    set_mode(&d, 1024, 768, 32, 0);
    struct display_mode m;
    uint32_t gen = display_get_mode(&d, &m);
    /* Second buffer, as bochs-drm flips pages: VIRT_WIDTH, X_OFFSET, Y_OFFSET. */
    dispi_set(&d, DISPI_VIRT_WIDTH, 1024);
    dispi_set(&d, DISPI_X_OFFSET, 0);
    dispi_set(&d, DISPI_Y_OFFSET, 768);
    uint32_t gen2 = display_get_mode(&d, &m);
    CHECK(gen2 != gen);
    CHECK_EQ(m.offset, 768u * 4096);
    CHECK_EQ(m.height, 768);
    /* An offset beyond the framebuffer is not taken: the last valid mode stays. */
    dispi_set(&d, DISPI_Y_OFFSET, 4000);
    CHECK_EQ(display_get_mode(&d, &m), gen2);
    CHECK_EQ(m.offset, 768u * 4096);
    dispi_set(&d, DISPI_Y_OFFSET, 0);
    dispi_set(&d, DISPI_X_OFFSET, 1);                   /* x offset + xres > virt width */
    display_get_mode(&d, &m);
    CHECK_EQ(m.offset, 0);
    /* A longer line. */
    dispi_set(&d, DISPI_X_OFFSET, 0);
    dispi_set(&d, DISPI_VIRT_WIDTH, 2048);
    display_get_mode(&d, &m);
    CHECK_EQ(m.stride, 8192);
    CHECK_EQ(dispi_get(&d, DISPI_VIRT_HEIGHT), 2048);
    dispi_set(&d, DISPI_VIRT_WIDTH, 512);               /* narrower than the mode: refused */
    display_get_mode(&d, &m);
    CHECK_EQ(m.stride, 8192);
    /* Resolution change while enabled is validated too. */
    dispi_set(&d, DISPI_YRES, 5000);
    display_get_mode(&d, &m);
    CHECK_EQ(m.height, 768);
    CHECK(m.enabled);
    display_destroy(&d);
}

TEST(access_widths)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    /* One 32-bit write sets XRES and YRES; byte writes merge; an 8-byte access spans four. */
    mmio_write(&d, DISPI_MMIO_BASE + 2, 4, 600u << 16 | 800u);
    CHECK_EQ(dispi_get(&d, DISPI_XRES), 800);
    CHECK_EQ(dispi_get(&d, DISPI_YRES), 600);
    CHECK_EQ(mmio_read(&d, DISPI_MMIO_BASE + 2, 4), 600u << 16 | 800u);
    mmio_write(&d, DISPI_MMIO_BASE + 2 * DISPI_XRES + 1, 1, 0x04);      /* high byte: 0x420 */
    CHECK_EQ(dispi_get(&d, DISPI_XRES), 0x420);
    CHECK_EQ(mmio_read(&d, DISPI_MMIO_BASE + 2 * DISPI_XRES, 1), 0x20);
    CHECK_EQ(mmio_read(&d, DISPI_MMIO_BASE + 1, 1), 0xb0);              /* ID high byte */
    /* Unaligned 16-bit write across two registers (XRES high byte, YRES low byte). */
    mmio_write(&d, DISPI_MMIO_BASE + 3, 2, 0x5803);
    CHECK_EQ(dispi_get(&d, DISPI_XRES), 0x320);
    CHECK_EQ(dispi_get(&d, DISPI_YRES), 0x258);
    /* Hostile sizes and offsets never touch anything outside the device. */
    uint8_t big[16];
    memset(big, 0x55, sizeof(big));
    display_mmio(&d, 0xffe, big, 8, false);
    display_mmio(&d, 0x514, big, 8, true);
    display_mmio(&d, UINT64_MAX - 1, big, 4, true);
    display_mmio(&d, 0x500, big, 16, false);
    CHECK_EQ(dispi_get(&d, DISPI_ID), 0xb0c5);
    display_destroy(&d);
}

/* ---- framebuffer memslot through the PCI bus ---- */

struct memslot_stub {
    int maps, unmaps;
    uint64_t gpa, size;
    void *hva;
    uint64_t pending[DISPLAY_BITMAP_WORDS];
};

static int stub_map(void *ctx, uint64_t gpa, void *hva, uint64_t size)
{
    struct memslot_stub *s = ctx;
    s->maps++;
    s->gpa = gpa;
    s->hva = hva;
    s->size = size;
    return 0;
}

static void stub_unmap(void *ctx, uint64_t gpa)
{
    struct memslot_stub *s = ctx;
    s->unmaps++;
    s->gpa = gpa;
}

static int stub_dirty(void *ctx, uint64_t *bitmap)
{
    struct memslot_stub *s = ctx;
    memcpy(bitmap, s->pending, sizeof(s->pending));
    memset(s->pending, 0, sizeof(s->pending));
    return 0;
}

static struct irq_line no_intx(void *ctx, unsigned gsi)
{
    (void)ctx;
    return (struct irq_line){ NULL, NULL, gsi };
}

TEST(framebuffer_memslot_follows_bar)
{
    struct bus pio, mmio;
    struct pci_bus pci;
    bus_init(&pio, "pio");
    bus_init(&mmio, "mmio");
    CHECK_EQ(pci_bus_init(&pci, &pio, &mmio, no_intx, NULL), 0);
    struct memslot_stub stub = { 0 };
    struct display_fb_ops ops = { stub_map, stub_unmap, stub_dirty, &stub };
    struct display d;
    CHECK_EQ(display_init(&d, &ops), 0);
    CHECK_EQ(pci_bus_add(&pci, &d.pci, -1), 0);
    CHECK_EQ(stub.maps, 1);
    CHECK_EQ(stub.gpa, d.pci.bars[0].addr);
    CHECK(stub.hva == d.fb);
    CHECK_EQ(stub.size, 16u << 20);
    CHECK_EQ(stub.gpa & 0xffffff, 0);                    /* naturally aligned */
    /* Registers through the MMIO bus at BAR2. */
    uint64_t regs = d.pci.bars[2].addr;
    uint8_t v[2] = { 0 };
    CHECK(bus_dispatch(&mmio, regs + 0x500, v, 2, false));
    CHECK_EQ(v[0] | v[1] << 8, 0xb0c5);
    /* Dirty log comes from the memslot while mapped. */
    set_mode(&d, 1024, 768, 32, 0);
    stub.pending[0] = 1ull << 5;
    uint64_t bitmap[DISPLAY_BITMAP_WORDS];
    CHECK_EQ(display_get_dirty(&d, bitmap), 0);
    CHECK_EQ(bitmap[0], 1ull << 5);
    /* Memory decode off: unmapped; on again: mapped. */
    struct display_mode m;
    uint32_t gen = display_get_mode(&d, &m);
    uint16_t cmd = (uint16_t)pci_config_read(&d.pci, PCI_COMMAND, 2);
    pci_config_write(&d.pci, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
    CHECK_EQ(stub.unmaps, 1);
    CHECK(display_get_mode(&d, &m) != gen);
    pci_config_write(&d.pci, PCI_COMMAND, 2, cmd);
    CHECK_EQ(stub.maps, 2);
    /* Moving the BAR remaps it. */
    pci_config_write(&d.pci, PCI_BAR0, 4, 0xd0000000);
    CHECK_EQ(stub.gpa, 0xd0000000);
    CHECK_EQ(stub.maps, 3);
    pci_bus_destroy(&pci);
    display_destroy(&d);
    CHECK_EQ(stub.unmaps, 3);
    bus_destroy(&mmio);
    bus_destroy(&pio);
}

TEST(software_dirty_tracking_without_memslot)
{
    struct display d;
    CHECK_EQ(display_init(&d, NULL), 0);
    uint64_t bitmap[DISPLAY_BITMAP_WORDS];
    CHECK(display_get_dirty(&d, bitmap) < 0);           /* no mode: nothing to compare */
    set_mode(&d, 1024, 768, 32, 0);
    CHECK_EQ(display_get_dirty(&d, bitmap), 0);
    for (unsigned i = 0; i < DISPLAY_BITMAP_WORDS; i++)
        CHECK_EQ(bitmap[i], 0);
    d.fb[4096 * 70 + 12] = 1;
    d.fb[4096 * 767] = 1;
    d.fb[4096 * 800] = 1;                               /* outside the visible area */
    CHECK_EQ(display_get_dirty(&d, bitmap), 0);
    CHECK_EQ(bitmap[1], 1ull << 6);
    CHECK_EQ(bitmap[11], 1ull << 63);
    CHECK_EQ(bitmap[12], 0);
    CHECK_EQ(display_get_dirty(&d, bitmap), 0);
    CHECK_EQ(bitmap[1], 0);
    display_destroy(&d);
}

/* ---- dirty pages -> rectangles ---- */

static void set_page(uint64_t *bitmap, unsigned page)
{
    bitmap[page / 64] |= 1ull << (page % 64);
}

TEST(dirty_rects_one_page_per_line)
{
    struct display_mode m = { true, 1024, 768, 32, 4096, 0 };
    uint64_t bitmap[DISPLAY_BITMAP_WORDS] = { 0 };
    struct display_rect r[8];
    CHECK_EQ(display_dirty_rects(&m, bitmap, r, 8), 0);
    set_page(bitmap, 10);
    set_page(bitmap, 11);
    set_page(bitmap, 12);
    set_page(bitmap, 20);
    set_page(bitmap, 2000);                     /* beyond the visible area */
    CHECK_EQ(display_dirty_rects(&m, bitmap, r, 8), 2);
    CHECK_EQ(r[0].x, 0);
    CHECK_EQ(r[0].y, 10);
    CHECK_EQ(r[0].w, 1024);
    CHECK_EQ(r[0].h, 3);
    CHECK_EQ(r[1].y, 20);
    CHECK_EQ(r[1].h, 1);
    /* Too many bands for the array: the last absorbs the rest. */
    set_page(bitmap, 700);
    CHECK_EQ(display_dirty_rects(&m, bitmap, r, 2), 2);
    CHECK_EQ(r[1].y, 20);
    CHECK_EQ(r[1].h, 681);
    CHECK_EQ(display_dirty_rects(&m, bitmap, r, 0), 0);
    struct display_mode off = { false, 1024, 768, 32, 4096, 0 };
    CHECK_EQ(display_dirty_rects(&off, bitmap, r, 8), 0);
}

TEST(dirty_rects_lines_straddle_pages)
{
    /* 800x600x32: 3200-byte lines; page 1 holds bytes 4096..8191 = lines 1 and 2. */
    struct display_mode m = { true, 800, 600, 32, 3200, 0 };
    uint64_t bitmap[DISPLAY_BITMAP_WORDS] = { 0 };
    struct display_rect r[4];
    set_page(bitmap, 1);
    CHECK_EQ(display_dirty_rects(&m, bitmap, r, 4), 1);
    CHECK_EQ(r[0].y, 1);
    CHECK_EQ(r[0].h, 2);
    /* The last page of the mode ends inside the last line. */
    memset(bitmap, 0, sizeof(bitmap));
    unsigned last = (600 * 3200 - 1) / 4096;
    set_page(bitmap, last);
    CHECK_EQ(display_dirty_rects(&m, bitmap, r, 4), 1);
    CHECK_EQ(r[0].y + r[0].h, 600);
    /* Scrolled (page-flipped) modes start at their offset; pages before it do not count. */
    struct display_mode flipped = { true, 800, 600, 32, 3200, 3200 * 600 };
    memset(bitmap, 0, sizeof(bitmap));
    set_page(bitmap, 0);
    set_page(bitmap, (3200 * 600) / 4096 + 1);
    CHECK_EQ(display_dirty_rects(&flipped, bitmap, r, 4), 1);
    CHECK_EQ(r[0].y, 0);
    /* Lines much wider than a page: a page maps into one line. */
    struct display_mode wide = { true, 2560, 1600, 32, 10240, 0 };
    memset(bitmap, 0, sizeof(bitmap));
    set_page(bitmap, 5);                        /* bytes 20480..24575: line 2 */
    CHECK_EQ(display_dirty_rects(&wide, bitmap, r, 4), 1);
    CHECK_EQ(r[0].y, 2);
    CHECK_EQ(r[0].h, 1);
}

/* ---- pixel conversion ---- */

TEST(convert_row_formats)
{
    uint8_t fb[64] = { 0 };
    uint32_t out[4];
    struct display_mode m32 = { true, 2, 1, 32, 8, 0 };
    fb[0] = 0x33; fb[1] = 0x22; fb[2] = 0x11; fb[3] = 0xff;
    fb[4] = 0x66; fb[5] = 0x55; fb[6] = 0x44;
    display_convert_row(&m32, fb, 0, 0, 2, out);
    CHECK_EQ(out[0], 0x112233);
    CHECK_EQ(out[1], 0x445566);
    display_convert_row(&m32, fb, 1, 0, 1, out);
    CHECK_EQ(out[0], 0x445566);
    struct display_mode m24 = { true, 2, 1, 24, 6, 0 };
    display_convert_row(&m24, fb, 0, 0, 2, out);
    CHECK_EQ(out[0], 0x112233);
    CHECK_EQ(out[1], 0x5566ff);
    uint8_t px16[4] = { 0x1f, 0xf8, 0xe0, 0x07 };      /* r5g6b5: magenta, green */
    struct display_mode m16 = { true, 2, 1, 16, 4, 0 };
    display_convert_row(&m16, px16, 0, 0, 2, out);
    CHECK_EQ(out[0], 0xff00ff);
    CHECK_EQ(out[1], 0x00ff00);
    uint8_t px15[2] = { 0x00, 0x7c };                   /* x1r5g5b5: red */
    struct display_mode m15 = { true, 1, 1, 15, 2, 0 };
    display_convert_row(&m15, px15, 0, 0, 1, out);
    CHECK_EQ(out[0], 0xff0000);
    uint8_t px8[2] = { 0x80, 0xff };
    struct display_mode m8 = { true, 2, 1, 8, 2, 0 };
    display_convert_row(&m8, px8, 0, 0, 2, out);
    CHECK_EQ(out[0], 0x808080);
    CHECK_EQ(out[1], 0xffffff);
    /* Rows and offsets. */
    struct display_mode rows = { true, 1, 2, 32, 16, 4 };
    fb[4 + 16] = 0x77;
    display_convert_row(&rows, fb, 0, 1, 1, out);
    CHECK_EQ(out[0], 0x77);
}
