/* The BIOS e820 memory map for a guest memory layout (ACPI 6.4 §15, Linux boot protocol zero page). */
#include "e820.h"

#include "arch/x86/layout.h"

static void add(struct e820_map *m, uint64_t addr, uint64_t size, uint32_t type)
{
    if (m->n < E820_MAX && size)
        m->entries[m->n++] = (struct e820_entry){ addr, size, type };
}

void e820_build(struct e820_map *map, const struct guest_memory *mem)
{
    map->n = 0;
    add(map, 0, LAYOUT_ACPI, E820_RAM);
    add(map, LAYOUT_ACPI, LAYOUT_ACPI_SIZE, E820_RESERVED);   /* ACPI tables + EBDA */
    add(map, LAYOUT_KERNEL, mem_low_ram_size(mem) - LAYOUT_KERNEL, E820_RAM);
    add(map, LAYOUT_IOAPIC, 0x1000, E820_RESERVED);
    add(map, LAYOUT_LAPIC, 0x1000, E820_RESERVED);
    add(map, LAYOUT_KVM_IDENTITY_MAP, 0x4000, E820_RESERVED);
    add(map, MEM_4G, mem_high_ram_size(mem), E820_RAM);
}
