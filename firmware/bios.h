/* Firmware boot: a raw firmware image (SeaBIOS, a guest program ROM) mapped to end at 4 GiB. */
#ifndef FIRMWARE_BIOS_H
#define FIRMWARE_BIOS_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

#define FIRMWARE_ALIAS_MAX (128ULL << 10)   /* the image's tail also appears below 1 MiB */

#define FIRMWARE_SHADOW_BASE 0xc0000ULL     /* option ROM area + BIOS area, RAM on every PC */
#define FIRMWARE_SHADOW_SIZE 0x40000ULL
#define FIRMWARE_VGA_WINDOW_BASE 0xa0000ULL /* legacy VGA memory window, no device decodes it */
#define FIRMWARE_VGA_WINDOW_SIZE 0x20000ULL

struct firmware_image {
    uint8_t *rom;      /* page-aligned host copy, read-only to the guest */
    size_t size;
    uint8_t *shadow;   /* RAM at 0xc0000-0xfffff: option ROMs, and the BIOS's own shadow copy */
    uint8_t *vga_window;   /* RAM at 0xa0000-0xbffff */
};

/* Reads and validates the image (a multiple of 4 KiB, at most 16 MiB). */
int firmware_load(const char *path, struct firmware_image *out);
void firmware_free(struct firmware_image *fw);
/* Adds the ROM, read-only at [4G - size, 4G), the shadow RAM at [0xc0000, 1 MiB) and RAM in the
 * legacy VGA window [0xa0000, 0xc0000). No display here decodes that window (bochs-display has no
 * legacy memory); boot loaders still draw into it in planar VGA modes (GRUB's vga driver writes
 * each byte of 640x480x4 several times), and as RAM those writes cost nothing instead of one MMIO
 * exit each. QEMU's pc machine without a VGA card takes no exits there either. */
int firmware_map(struct guest_memory *mem, const struct firmware_image *fw);
/* Power-on contents of the shadow RAM: zero, with the ROM's last 128 KiB ending at 1 MiB, as a
 * chipset shows them before the BIOS unlocks and copies itself (PAM registers, i440FX §3.2.18). */
void firmware_reset_shadow(const struct firmware_image *fw);

#endif
