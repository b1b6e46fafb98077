/* Firmware boot: a raw firmware image (SeaBIOS, a guest program ROM) mapped to end at 4 GiB. */
#ifndef FIRMWARE_BIOS_H
#define FIRMWARE_BIOS_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

#define FIRMWARE_ALIAS_MAX (128ULL << 10)   /* the image's tail also appears below 1 MiB */

struct firmware_image {
    uint8_t *rom;      /* page-aligned host copy, read-only to the guest */
    size_t size;
};

/* Reads and validates the image (a multiple of 4 KiB, at most 16 MiB). */
int firmware_load(const char *path, struct firmware_image *out);
void firmware_free(struct firmware_image *fw);
/* Adds the two read-only regions: [4G - size, 4G) and the last min(size, 128K) ending at 1 MiB. */
int firmware_map(struct guest_memory *mem, const struct firmware_image *fw);

#endif
