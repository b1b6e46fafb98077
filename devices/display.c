/* bochs-display (QEMU docs/specs/standard-vga.rst): a 16 MiB linear framebuffer in BAR0 and the
 * Bochs DISPI registers (Bochs vbe.h, VBE_DISPI_*) plus QEMU's extended registers in BAR2. */
#include "display.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Subsystem IDs QEMU gives its display devices (Red Hat, QEMU). */
#define DISPLAY_SUBSYS_VENDOR 0x1af4
#define DISPLAY_SUBSYS_ID 0x1100

#define DISPI_MMIO_END (DISPI_MMIO_BASE + 2u * DISPI_NR_REGS)

static unsigned bytes_per_pixel(unsigned bpp)
{
    switch (bpp) {
    case 8: return 1;
    case 15:
    case 16: return 2;
    case 24: return 3;
    case 32: return 4;
    default: return 0;
    }
}

/* ---- mode validation: a mode is only ever built here, from raw register values ---- */

static bool mode_from_regs(const uint16_t *r, struct display_mode *m)
{
    unsigned xres = r[DISPI_XRES], yres = r[DISPI_YRES], bpp = r[DISPI_BPP];
    unsigned bytespp = bytes_per_pixel(bpp);
    unsigned virt_width = r[DISPI_VIRT_WIDTH];
    if (!bytespp || xres == 0 || yres == 0 || xres > DISPLAY_MAX_XRES || yres > DISPLAY_MAX_YRES)
        return false;
    if (virt_width < xres || (uint64_t)r[DISPI_X_OFFSET] + xres > virt_width)
        return false;
    uint64_t stride = (uint64_t)virt_width * bytespp;
    uint64_t offset = (uint64_t)r[DISPI_Y_OFFSET] * stride + (uint64_t)r[DISPI_X_OFFSET] * bytespp;
    uint64_t end = offset + (uint64_t)(yres - 1) * stride + (uint64_t)xres * bytespp;
    if (end > DISPLAY_FB_SIZE)
        return false;
    *m = (struct display_mode){ .enabled = true, .width = xres, .height = yres, .bpp = bpp,
                                .stride = (unsigned)stride, .offset = offset };
    return true;
}

static bool mode_equal(const struct display_mode *a, const struct display_mode *b)
{
    return a->enabled == b->enabled && a->width == b->width && a->height == b->height && a->bpp == b->bpp &&
           a->stride == b->stride && a->offset == b->offset;
}

static void mode_set(struct display *d, const struct display_mode *m)
{
    if (mode_equal(&d->mode, m))
        return;
    d->mode = *m;
    d->generation++;
}

/* While enabled, geometry writes (a page flip through the offsets, a new line length) take effect
 * once the registers describe a valid mode again; in between the last valid mode stays. */
static void mode_refresh(struct display *d)
{
    struct display_mode m;
    if (d->mode.enabled && mode_from_regs(d->regs, &m))
        mode_set(d, &m);
}

static void enable_write(struct display *d, uint16_t value)
{
    bool was = d->regs[DISPI_ENABLE] & DISPI_ENABLED;
    d->regs[DISPI_ENABLE] = value;
    if (!(value & DISPI_ENABLED)) {
        mode_set(d, &(struct display_mode){ .enabled = false });
        return;
    }
    if (was) {
        mode_refresh(d);
        return;
    }
    /* Enabling starts from an unscrolled screen as wide as the mode (as Bochs and QEMU do). */
    d->regs[DISPI_VIRT_WIDTH] = d->regs[DISPI_XRES];
    d->regs[DISPI_X_OFFSET] = d->regs[DISPI_Y_OFFSET] = 0;
    struct display_mode m;
    if (!mode_from_regs(d->regs, &m)) {
        d->regs[DISPI_ENABLE] = (uint16_t)(value & ~DISPI_ENABLED);     /* refused: stays disabled */
        mode_set(d, &(struct display_mode){ .enabled = false });
        return;
    }
    if (!(value & DISPI_NOCLEARMEM))
        memset(d->fb + m.offset, 0, (size_t)m.stride * m.height);
    mode_set(d, &m);
}

/* ---- DISPI registers ---- */

static uint16_t dispi_read(const struct display *d, unsigned index)
{
    bool caps = d->regs[DISPI_ENABLE] & DISPI_GETCAPS;
    switch (index) {
    case DISPI_XRES: return caps ? DISPLAY_MAX_XRES : d->regs[index];
    case DISPI_YRES: return caps ? DISPLAY_MAX_YRES : d->regs[index];
    case DISPI_BPP: return caps ? DISPLAY_MAX_BPP : d->regs[index];
    case DISPI_VIDEO_MEMORY_64K: return DISPLAY_FB_SIZE >> 16;
    case DISPI_VIRT_HEIGHT:
        if (d->mode.enabled) {
            unsigned lines = DISPLAY_FB_SIZE / d->mode.stride;
            return (uint16_t)(lines > 0xffff ? 0xffff : lines);
        }
        return d->regs[index];
    default: return d->regs[index];
    }
}

static void dispi_write(struct display *d, unsigned index, uint16_t value)
{
    switch (index) {
    case DISPI_ID:
        if (value >= DISPI_ID_MIN && value <= DISPI_ID_MAX)
            d->regs[DISPI_ID] = value;
        return;
    case DISPI_VIDEO_MEMORY_64K:
        return;
    case DISPI_ENABLE:
        enable_write(d, value);
        return;
    default:
        d->regs[index] = value;
        mode_refresh(d);
        return;
    }
}

/* ---- BAR2: any access width, split into bytes of 16-bit registers ---- */

static uint8_t mmio_read_byte(const struct display *d, uint64_t off)
{
    if (off >= DISPI_MMIO_BASE && off < DISPI_MMIO_END) {
        unsigned rel = (unsigned)(off - DISPI_MMIO_BASE);
        return (uint8_t)(dispi_read(d, rel / 2) >> (8 * (rel & 1)));
    }
    if (off >= QEXT_MMIO_BASE && off < QEXT_MMIO_BASE + QEXT_SIZE) {
        unsigned rel = (unsigned)(off - QEXT_MMIO_BASE);
        uint32_t v = rel < 4 ? QEXT_SIZE : QEXT_ENDIAN_LITTLE;     /* endianness: little only */
        return (uint8_t)(v >> (8 * (rel & 3)));
    }
    return 0;
}

static void mmio_write(struct display *d, uint64_t offset, const uint8_t *data, uint32_t len)
{
    uint64_t end = offset + len;
    for (uint64_t off = offset; off < end;) {
        if (off < DISPI_MMIO_BASE || off >= DISPI_MMIO_END) {
            off++;
            continue;
        }
        unsigned index = (unsigned)(off - DISPI_MMIO_BASE) / 2;
        uint64_t lo = DISPI_MMIO_BASE + 2ull * index;
        uint16_t v = d->regs[index];            /* partial writes merge with the raw value */
        for (unsigned b = 0; b < 2; b++)
            if (lo + b >= offset && lo + b < end)
                v = (uint16_t)((v & ~(0xffu << (8 * b))) | (unsigned)data[lo + b - offset] << (8 * b));
        dispi_write(d, index, v);
        off = lo + 2;
    }
}

void display_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct display *d = opaque;
    if (len > 8 || offset >= DISPLAY_MMIO_SIZE || len > DISPLAY_MMIO_SIZE - offset) {
        if (!is_write)
            memset(data, 0, len > 8 ? 8 : len);
        return;
    }
    pthread_mutex_lock(&d->lock);
    if (is_write)
        mmio_write(d, offset, data, len);
    else
        for (uint32_t i = 0; i < len; i++)
            data[i] = mmio_read_byte(d, offset + i);
    pthread_mutex_unlock(&d->lock);
}

/* ---- BAR0: the framebuffer is a memslot the VMM maps where the guest puts the BAR ---- */

static void fb_unmap(struct display *d)
{
    if (d->fb_mapped && d->ops.unmap)
        d->ops.unmap(d->ops.ctx, d->fb_gpa);
    d->fb_mapped = false;
}

static void bar_moved(struct pci_device *pd, int bar, uint64_t addr, bool mapped)
{
    struct display *d = pd->owner;
    if (bar != DISPLAY_BAR_FB)
        return;
    pthread_mutex_lock(&d->lock);
    fb_unmap(d);
    d->fb_gpa = addr;
    if (mapped && d->ops.map)
        d->fb_mapped = d->ops.map(d->ops.ctx, addr, d->fb, DISPLAY_FB_SIZE) == 0;
    d->generation++;
    pthread_mutex_unlock(&d->lock);
}

/* ---- life cycle ---- */

int display_init(struct display *d, const struct display_fb_ops *ops)
{
    memset(d, 0, sizeof(*d));
    void *fb = mmap(NULL, DISPLAY_FB_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (fb == MAP_FAILED)
        return -ENOMEM;
    d->fb = fb;
    if (ops)
        d->ops = *ops;
    pthread_mutex_init(&d->lock, NULL);
    d->regs[DISPI_ID] = DISPI_ID_MAX;
    pci_device_init(&d->pci, "bochs-display", DISPLAY_VENDOR, DISPLAY_DEVICE, DISPLAY_CLASS, DISPLAY_REVISION,
                    DISPLAY_SUBSYS_VENDOR, DISPLAY_SUBSYS_ID);
    d->pci.owner = d;
    d->pci.bar_moved = bar_moved;
    int rc = pci_device_set_bar(&d->pci, DISPLAY_BAR_FB, PCI_BAR_MEM32, DISPLAY_FB_SIZE, true, NULL, d);
    if (!rc)
        rc = pci_device_set_bar(&d->pci, DISPLAY_BAR_MMIO, PCI_BAR_MEM32, DISPLAY_MMIO_SIZE, false, display_mmio, d);
    if (rc)
        display_destroy(d);
    return rc;
}

void display_destroy(struct display *d)
{
    if (!d->fb)
        return;
    pthread_mutex_lock(&d->lock);
    fb_unmap(d);
    pthread_mutex_unlock(&d->lock);
    munmap(d->fb, DISPLAY_FB_SIZE);
    d->fb = NULL;
    free(d->snapshot);
    d->snapshot = NULL;
    pthread_mutex_destroy(&d->lock);
}

/* ---- what the UI reads ---- */

uint32_t display_get_mode(struct display *d, struct display_mode *out)
{
    pthread_mutex_lock(&d->lock);
    *out = d->mode;
    uint32_t generation = d->generation;
    pthread_mutex_unlock(&d->lock);
    return generation;
}

static uint64_t mode_end(const struct display_mode *m)
{
    return m->offset + (uint64_t)(m->height - 1) * m->stride + (uint64_t)m->width * bytes_per_pixel(m->bpp);
}

static void bitmap_set(uint64_t *bitmap, uint64_t page)
{
    bitmap[page / 64] |= 1ull << (page % 64);
}

/* Software dirty tracking: pages of the visible area that differ from the last look. */
static int snapshot_compare(struct display *d, uint64_t *bitmap)
{
    if (!d->mode.enabled)
        return -ENODATA;
    if (!d->snapshot && !(d->snapshot = calloc(1, DISPLAY_FB_SIZE)))
        return -ENOMEM;
    uint64_t last = (mode_end(&d->mode) - 1) / DISPLAY_PAGE_SIZE;
    for (uint64_t p = d->mode.offset / DISPLAY_PAGE_SIZE; p <= last; p++) {
        size_t at = (size_t)p * DISPLAY_PAGE_SIZE;
        if (memcmp(d->snapshot + at, d->fb + at, DISPLAY_PAGE_SIZE) != 0) {
            memcpy(d->snapshot + at, d->fb + at, DISPLAY_PAGE_SIZE);
            bitmap_set(bitmap, p);
        }
    }
    return 0;
}

int display_get_dirty(struct display *d, uint64_t *bitmap)
{
    memset(bitmap, 0, DISPLAY_BITMAP_WORDS * sizeof(*bitmap));
    pthread_mutex_lock(&d->lock);
    int rc;
    if (d->fb_mapped && d->ops.get_dirty_log)
        rc = d->ops.get_dirty_log(d->ops.ctx, bitmap);
    else
        rc = snapshot_compare(d, bitmap);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static bool bitmap_test(const uint64_t *bitmap, uint64_t page)
{
    return (bitmap[page / 64] >> (page % 64)) & 1;
}

/* Adds scanlines [y0, y1] to the list, merging with the previous band when they touch. */
static int add_rows(const struct display_mode *m, struct display_rect *out, int n, int max, unsigned y0, unsigned y1)
{
    if (n > 0 && (y0 <= out[n - 1].y + out[n - 1].h || n == max)) {
        struct display_rect *r = &out[n - 1];
        unsigned bottom = y1 + 1 > r->y + r->h ? y1 + 1 : r->y + r->h;
        r->h = bottom - r->y;
        return n;
    }
    out[n] = (struct display_rect){ 0, y0, m->width, y1 - y0 + 1 };
    return n + 1;
}

int display_dirty_rects(const struct display_mode *m, const uint64_t *bitmap, struct display_rect *out, int max)
{
    if (!m->enabled || max <= 0 || !bytes_per_pixel(m->bpp) || m->stride == 0 || m->height == 0)
        return 0;
    uint64_t first = m->offset, end = mode_end(m);
    if (end > DISPLAY_FB_SIZE)
        return 0;
    int n = 0;
    for (uint64_t p = first / DISPLAY_PAGE_SIZE; p <= (end - 1) / DISPLAY_PAGE_SIZE; p++) {
        if (!bitmap_test(bitmap, p))
            continue;
        uint64_t lo = p * DISPLAY_PAGE_SIZE > first ? p * DISPLAY_PAGE_SIZE : first;
        uint64_t hi = (p + 1) * DISPLAY_PAGE_SIZE < end ? (p + 1) * DISPLAY_PAGE_SIZE : end;
        unsigned y0 = (unsigned)((lo - first) / m->stride), y1 = (unsigned)((hi - 1 - first) / m->stride);
        n = add_rows(m, out, n, max, y0, y1);
    }
    return n;
}

/* ---- pixel formats: x8r8g8b8, b8g8r8, r5g6b5, x1r5g5b5 (little endian), 8-bit grey ---- */

static uint32_t expand5(unsigned v) { return (v << 3) | (v >> 2); }
static uint32_t expand6(unsigned v) { return (v << 2) | (v >> 4); }

void display_convert_row(const struct display_mode *m, const uint8_t *fb, unsigned x, unsigned y,
                         unsigned w, uint32_t *out)
{
    unsigned bytespp = bytes_per_pixel(m->bpp);
    const uint8_t *src = fb + m->offset + (uint64_t)y * m->stride + (uint64_t)x * bytespp;
    for (unsigned i = 0; i < w; i++, src += bytespp) {
        unsigned v16 = bytespp == 2 ? (unsigned)(src[0] | src[1] << 8) : 0;
        switch (m->bpp) {
        case 32:
        case 24: out[i] = (uint32_t)src[2] << 16 | (uint32_t)src[1] << 8 | src[0]; break;
        case 16: out[i] = expand5(v16 >> 11) << 16 | expand6((v16 >> 5) & 0x3f) << 8 | expand5(v16 & 0x1f); break;
        case 15: out[i] = expand5((v16 >> 10) & 0x1f) << 16 | expand5((v16 >> 5) & 0x1f) << 8 | expand5(v16 & 0x1f); break;
        default: out[i] = (uint32_t)src[0] * 0x010101u; break;
        }
    }
}
