/* The BIOS e820 memory map for a guest memory layout (ACPI 6.4 §15, Linux boot protocol zero page). */
#ifndef ARCH_X86_E820_H
#define ARCH_X86_E820_H

#include <stdint.h>

#include "vmm/memory.h"

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_MAX 16

struct e820_entry {
    uint64_t addr, size;
    uint32_t type;
} __attribute__((packed));

struct e820_map {
    struct e820_entry entries[E820_MAX];
    int n;
};

void e820_build(struct e820_map *map, const struct guest_memory *mem);

#endif
