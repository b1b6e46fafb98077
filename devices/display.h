/* bochs-display: a PCI display with a linear framebuffer and the Bochs DISPI mode registers. */
#ifndef DEVICES_DISPLAY_H
#define DEVICES_DISPLAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"

/* QEMU docs/specs/standard-vga.rst, "bochs-display": PCI 1234:1111, class 0x038000 (display,
 * other), revision 2 (the QEMU extended registers are present). */
#define DISPLAY_VENDOR 0x1234
#define DISPLAY_DEVICE 0x1111
#define DISPLAY_CLASS 0x038000
#define DISPLAY_REVISION 2

#define DISPLAY_BAR_FB 0                    /* linear framebuffer, 32-bit prefetchable memory */
#define DISPLAY_BAR_MMIO 2                  /* DISPI and QEMU extended registers */
#define DISPLAY_FB_SIZE (16u << 20)
#define DISPLAY_MMIO_SIZE 0x1000u
#define DISPLAY_PAGE_SIZE 4096u
#define DISPLAY_FB_PAGES (DISPLAY_FB_SIZE / DISPLAY_PAGE_SIZE)
#define DISPLAY_BITMAP_WORDS (DISPLAY_FB_PAGES / 64)   /* dirty bitmap: one bit per 4 KiB page */

/* Largest mode accepted (what GETCAPS reports). */
#define DISPLAY_MAX_XRES 2560
#define DISPLAY_MAX_YRES 1600
#define DISPLAY_MAX_BPP 32

/* DISPI register indices (Bochs vbe.h); register i sits at MMIO 0x500 + 2 * i, 16-bit LE. */
enum dispi_index {
    DISPI_ID, DISPI_XRES, DISPI_YRES, DISPI_BPP, DISPI_ENABLE, DISPI_BANK, DISPI_VIRT_WIDTH,
    DISPI_VIRT_HEIGHT, DISPI_X_OFFSET, DISPI_Y_OFFSET, DISPI_VIDEO_MEMORY_64K, DISPI_NR_REGS
};

#define DISPI_MMIO_BASE 0x500u
#define DISPI_ID_MIN 0xb0c0u
#define DISPI_ID_MAX 0xb0c5u
#define DISPI_ENABLED 0x01u
#define DISPI_GETCAPS 0x02u
#define DISPI_8BIT_DAC 0x20u
#define DISPI_LFB_ENABLED 0x40u
#define DISPI_NOCLEARMEM 0x80u

/* QEMU extended registers: region size, then framebuffer endianness. */
#define QEXT_MMIO_BASE 0x600u
#define QEXT_SIZE 8u
#define QEXT_ENDIAN_LITTLE 0x1e1e1e1eu

/* The mode the guest has enabled, validated: every pixel of it lies inside the framebuffer. */
struct display_mode {
    bool enabled;
    unsigned width, height;     /* visible pixels */
    unsigned bpp;               /* 8, 15, 16, 24 or 32 */
    unsigned stride;            /* bytes per scanline (VIRT_WIDTH * bytes per pixel) */
    uint64_t offset;            /* byte offset of the visible top-left pixel in the framebuffer */
};

/* A rectangle of the visible screen, in pixels. */
struct display_rect {
    unsigned x, y, w, h;
};

/* How the VMM maps the framebuffer into the guest: a KVM memslot with dirty logging at the BAR
 * address (KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES, api.rst §4.35; the log read
 * with KVM_GET_DIRTY_LOG, §4.8). Any callback may be NULL. */
struct display_fb_ops {
    int (*map)(void *ctx, uint64_t gpa, void *hva, uint64_t size);
    void (*unmap)(void *ctx, uint64_t gpa);
    /* Fills DISPLAY_BITMAP_WORDS words, bit (p % 64) of word p / 64 = page p written since the
     * last call (KVM's layout on x86-64), and clears the log. */
    int (*get_dirty_log)(void *ctx, uint64_t *bitmap);
    void *ctx;
};

struct display {
    struct pci_device pci;
    pthread_mutex_t lock;           /* registers, mode, mapping: vCPU threads vs. the UI */
    uint8_t *fb;                    /* DISPLAY_FB_SIZE bytes, owned */
    uint16_t regs[DISPI_NR_REGS];   /* raw register values as written */
    struct display_mode mode;
    uint32_t generation;            /* bumped on every mode change and framebuffer remap */
    struct display_fb_ops ops;
    uint64_t fb_gpa;
    bool fb_mapped;                 /* ops->map succeeded at fb_gpa */
    uint8_t *snapshot;              /* software dirty tracking when there is no dirty log */
};

/* Sets up the device (PCI identity, BARs, framebuffer memory); then plug it in with pci_bus_add.
 * `ops` may be NULL (no memslot: dirty pages are then found by comparing with a snapshot). */
int display_init(struct display *d, const struct display_fb_ops *ops);
void display_destroy(struct display *d);

/* BAR2 accesses (bus callback, opaque = the display). */
void display_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Copies the current mode; returns the generation (changes whenever the mode or mapping does). */
uint32_t display_get_mode(struct display *d, struct display_mode *out);

/* Pages of the framebuffer written since the last call: from the dirty log when the memslot is
 * mapped, else by comparing with a snapshot of the current mode's bytes. Returns 0, or <0 when
 * nothing could be determined (callers then treat the whole screen as changed). */
int display_get_dirty(struct display *d, uint64_t *bitmap);

/* Full-width rectangles of `m`'s visible area covered by the dirty pages, merged when adjacent.
 * Returns how many were written to `out` (at most `max`; the last one absorbs any overflow). */
int display_dirty_rects(const struct display_mode *m, const uint64_t *bitmap, struct display_rect *out, int max);

/* Converts `w` pixels of row `y` starting at column `x` of mode `m` to 0x00RRGGBB. The caller
 * guarantees x + w <= width and y < height (the mode itself was validated against the
 * framebuffer). 8 bpp has no palette on this device and shows as grey levels. */
void display_convert_row(const struct display_mode *m, const uint8_t *fb, unsigned x, unsigned y,
                         unsigned w, uint32_t *out);

#endif
