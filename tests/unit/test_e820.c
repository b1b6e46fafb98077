/* Unit tests for the e820 map: RAM entries around the legacy and PCI holes, reserved windows, order. */
#include <stdbool.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Sorted, non-empty, non-overlapping; no RAM in [640 KiB, 1 MiB) or [3 GiB, 4 GiB). */
static bool well_formed(const struct e820_map *map)
{
    for (int i = 0; i < map->n; i++) {
        const struct e820_entry *e = &map->entries[i];
        if (e->size == 0 || e->addr + e->size < e->addr)
            return false;
        if (i > 0 && map->entries[i - 1].addr + map->entries[i - 1].size > e->addr)
            return false;
        if (e->type == E820_RAM && (overlaps(e->addr, e->size, MEM_LOW_RAM_END, MEM_HIGH_MEMORY - MEM_LOW_RAM_END) ||
                                    overlaps(e->addr, e->size, MEM_PCI_HOLE_START, MEM_4G - MEM_PCI_HOLE_START)))
            return false;
    }
    return true;
}

static uint64_t ram_total(const struct e820_map *map)
{
    uint64_t sum = 0;
    for (int i = 0; i < map->n; i++)
        if (map->entries[i].type == E820_RAM)
            sum += map->entries[i].size;
    return sum;
}

static const struct e820_entry *find(const struct e820_map *map, uint64_t addr)
{
    for (int i = 0; i < map->n; i++)
        if (map->entries[i].addr == addr)
            return &map->entries[i];
    return NULL;
}

/* Every RAM entry is backed by guest memory. */
static bool ram_is_mapped(const struct e820_map *map, const struct guest_memory *m)
{
    for (int i = 0; i < map->n; i++) {
        const struct e820_entry *e = &map->entries[i];
        if (e->type == E820_RAM && !mem_gpa_to_hva(m, e->addr, e->size))
            return false;
    }
    return true;
}

TEST(entry_is_20_bytes)
{
    CHECK_EQ(sizeof(struct e820_entry), 20);   /* the zero page and BIOS int 15h layout */
}

TEST(map_for_16m)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    struct e820_map map;
    e820_build(&map, &m);
    CHECK(well_formed(&map));
    CHECK(ram_is_mapped(&map, &m));
    const struct e820_entry *low = find(&map, 0), *acpi = find(&map, LAYOUT_ACPI), *high = find(&map, MEM_HIGH_MEMORY);
    CHECK(low && acpi && high);
    CHECK_EQ(low->type, E820_RAM);
    CHECK_EQ(low->size, LAYOUT_ACPI);
    CHECK_EQ(acpi->type, E820_RESERVED);
    CHECK_EQ(acpi->addr + acpi->size, MEM_LOW_RAM_END);
    CHECK_EQ(high->type, E820_RAM);
    CHECK_EQ(high->size, 15 * MiB);
    CHECK(find(&map, MEM_4G) == NULL);          /* nothing above 4 GiB */
    CHECK_EQ(ram_total(&map), LAYOUT_ACPI + 15 * MiB);
    mem_free(&m);
}

TEST(reserved_platform_windows)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 64 * MiB), 0);
    struct e820_map map;
    e820_build(&map, &m);
    const struct e820_entry *ioapic = find(&map, LAYOUT_IOAPIC), *lapic = find(&map, LAYOUT_LAPIC);
    const struct e820_entry *ident = find(&map, LAYOUT_KVM_IDENTITY_MAP);
    CHECK(ioapic && lapic && ident);
    CHECK_EQ(ioapic->type, E820_RESERVED);
    CHECK_EQ(lapic->type, E820_RESERVED);
    CHECK_EQ(ident->type, E820_RESERVED);
    /* The identity-map page and the three TSS pages after it are all covered. */
    CHECK(ident->addr + ident->size >= LAYOUT_KVM_TSS + 3 * 0x1000);
    mem_free(&m);
}

TEST(map_for_1g)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, GiB), 0);
    struct e820_map map;
    e820_build(&map, &m);
    CHECK(well_formed(&map));
    CHECK(ram_is_mapped(&map, &m));
    CHECK_EQ(find(&map, MEM_HIGH_MEMORY)->size, GiB - MiB);
    CHECK_EQ(ram_total(&map), LAYOUT_ACPI + GiB - MiB);
    mem_free(&m);
}

TEST(map_for_3g_ends_at_the_pci_hole)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 3 * GiB), 0);
    struct e820_map map;
    e820_build(&map, &m);
    CHECK(well_formed(&map));
    CHECK(ram_is_mapped(&map, &m));
    const struct e820_entry *high = find(&map, MEM_HIGH_MEMORY);
    CHECK(high != NULL);
    CHECK_EQ(high->addr + high->size, MEM_PCI_HOLE_START);
    CHECK(find(&map, MEM_4G) == NULL);
    CHECK_EQ(ram_total(&map), LAYOUT_ACPI + 3 * GiB - MiB);
    mem_free(&m);
}

TEST(map_for_5g_splits_around_the_pci_hole)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 5 * GiB), 0);
    struct e820_map map;
    e820_build(&map, &m);
    CHECK(well_formed(&map));
    CHECK(ram_is_mapped(&map, &m));
    const struct e820_entry *below = find(&map, MEM_HIGH_MEMORY), *above = find(&map, MEM_4G);
    CHECK(below && above);
    CHECK_EQ(below->addr + below->size, MEM_PCI_HOLE_START);
    CHECK_EQ(above->type, E820_RAM);
    CHECK_EQ(above->size, 2 * GiB);
    CHECK_EQ(map.entries[map.n - 1].addr, MEM_4G);   /* last, in address order */
    CHECK_EQ(ram_total(&map), LAYOUT_ACPI + 3 * GiB - MiB + 2 * GiB);
    mem_free(&m);
}

TEST(map_for_3g_plus_one_page)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 3 * GiB + 4096), 0);
    struct e820_map map;
    e820_build(&map, &m);
    CHECK(well_formed(&map));
    const struct e820_entry *above = find(&map, MEM_4G);
    CHECK(above != NULL);
    CHECK_EQ(above->size, 4096);
    mem_free(&m);
}

TEST(rebuild_overwrites)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 5 * GiB), 0);
    struct e820_map map;
    memset(&map, 0xa5, sizeof(map));
    e820_build(&map, &m);
    int n5 = map.n;
    mem_free(&m);
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    e820_build(&map, &m);
    CHECK_EQ(map.n, n5 - 1);
    CHECK(map.n <= E820_MAX);
    mem_free(&m);
}
