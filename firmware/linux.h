/* Direct Linux boot: bzImage (boot protocol 2.x), ELF vmlinux via PVH or the 64-bit entry, initrd, cmdline. */
#ifndef FIRMWARE_LINUX_H
#define FIRMWARE_LINUX_H

#include <stdint.h>

#include "arch/x86/e820.h"
#include "firmware/file.h"
#include "vmm/memory.h"

enum boot_entry_mode { BOOT_ENTRY_LONG, BOOT_ENTRY_PROTECTED, BOOT_ENTRY_PVH };

struct boot_entry {
    enum boot_entry_mode mode;
    uint64_t entry;        /* guest-physical entry point */
    uint64_t arg;          /* zero page (RSI/ESI) or start_info (EBX) */
    const char *format;    /* "bzImage", "ELF (PVH)", "ELF (64-bit entry)" for messages */
};

struct linux_boot_params {
    const char *kernel_path;                 /* for messages */
    const struct file_data *kernel, *initrd; /* contents, read once (initrd may be NULL) */
    const char *cmdline;
    uint64_t rsdp;                 /* guest-physical ACPI RSDP, handed to the kernel */
    const struct e820_map *e820;
};

/* Loads the kernel (and initrd) into guest RAM and describes how to enter it (again on every reset).
 * Prints one error line naming the problem on failure. */
int linux_load(const struct guest_memory *mem, const struct linux_boot_params *p, struct boot_entry *out);

/* Exposed for unit tests: parse from a buffer instead of a file. */
int linux_load_image(const struct guest_memory *mem, const uint8_t *kernel, size_t ksize,
                     const uint8_t *initrd, size_t isize, const struct linux_boot_params *p,
                     struct boot_entry *out, char *err, size_t errlen);

#endif
