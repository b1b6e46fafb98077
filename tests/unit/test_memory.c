/* Unit tests for guest RAM: layout around the legacy and PCI holes, GPA bounds checks, read-only regions. */
#include <errno.h>
#include <stdbool.h>

#include "vmm/memory.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static bool mapped(const struct guest_memory *m, uint64_t gpa, uint64_t len)
{
    return mem_gpa_to_hva(m, gpa, len) != NULL;
}

TEST(layout_16m)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    CHECK_EQ(m.nr_regions, 2);
    CHECK_EQ(m.regions[0].gpa, 0);
    CHECK_EQ(m.regions[0].size, 0xa0000);
    CHECK_EQ(m.regions[1].gpa, 0x100000);
    CHECK_EQ(m.regions[1].size, 15 * MiB);
    CHECK(!m.regions[0].readonly && !m.regions[1].readonly);
    CHECK(m.regions[0].slot != m.regions[1].slot);
    /* One host mapping backs both: GPA offsets equal host offsets below the hole. */
    CHECK(m.regions[1].hva == m.regions[0].hva + 0x100000);
    CHECK_EQ(m.ram_size, 16 * MiB);
    CHECK_EQ(mem_low_ram_size(&m), 16 * MiB);
    CHECK_EQ(mem_high_ram_size(&m), 0);
    mem_free(&m);
}

TEST(layout_3g_fills_up_to_the_pci_hole)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 3 * GiB), 0);
    CHECK_EQ(m.nr_regions, 2);
    CHECK_EQ(m.regions[1].gpa + m.regions[1].size, MEM_PCI_HOLE_START);
    CHECK_EQ(mem_low_ram_size(&m), 3 * GiB);
    CHECK_EQ(mem_high_ram_size(&m), 0);
    CHECK(mapped(&m, MEM_PCI_HOLE_START - 1, 1));
    CHECK(!mapped(&m, MEM_PCI_HOLE_START, 1));
    mem_free(&m);
}

TEST(layout_5g_continues_above_4g)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 5 * GiB), 0);
    CHECK_EQ(m.nr_regions, 3);
    CHECK_EQ(m.regions[0].size, 0xa0000);
    CHECK_EQ(m.regions[1].gpa, 0x100000);
    CHECK_EQ(m.regions[1].gpa + m.regions[1].size, 3 * GiB);
    CHECK_EQ(m.regions[2].gpa, MEM_4G);
    CHECK_EQ(m.regions[2].size, 2 * GiB);
    CHECK_EQ(mem_low_ram_size(&m), 3 * GiB);
    CHECK_EQ(mem_high_ram_size(&m), 2 * GiB);
    CHECK_EQ(m.ram_size, 5 * GiB);
    /* The PCI hole [3 GiB, 4 GiB) is not RAM. */
    CHECK(!mapped(&m, 3 * GiB, 1));
    CHECK(!mapped(&m, 0xfee00000, 4));
    CHECK(!mapped(&m, MEM_4G - 1, 1));
    CHECK(mapped(&m, MEM_4G, 1));
    CHECK(mapped(&m, 6 * GiB - 1, 1));
    CHECK(!mapped(&m, 6 * GiB, 1));
    CHECK(!mapped(&m, 3 * GiB - 4, 8));             /* straddles into the hole */
    CHECK(!mapped(&m, MEM_4G - 4, 8));              /* straddles out of the hole */
    mem_free(&m);
}

TEST(legacy_hole_is_not_ram)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    CHECK(mapped(&m, 0, 1));
    CHECK(mapped(&m, 0x9ffff, 1));
    CHECK(!mapped(&m, 0x9ffff, 2));
    CHECK(!mapped(&m, 0xa0000, 1));
    CHECK(!mapped(&m, 0xb8000, 2));                 /* VGA text buffer */
    CHECK(!mapped(&m, 0xfffff, 1));
    CHECK(!mapped(&m, 0xffffc, 8));
    CHECK(mapped(&m, 0x100000, 1));
    CHECK(!mapped(&m, 0, 0x200000));                /* one range never spans the hole */
    mem_free(&m);
}

TEST(bounds_at_end_of_ram)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    uint8_t *last = mem_gpa_to_hva(&m, 16 * MiB - 1, 1);
    CHECK(last != NULL);
    CHECK(last == m.regions[0].hva + 16 * MiB - 1);
    CHECK(!mapped(&m, 16 * MiB - 1, 2));
    CHECK(!mapped(&m, 16 * MiB, 1));
    CHECK(mapped(&m, 0x100000, 15 * MiB));          /* the whole region at once */
    CHECK(!mapped(&m, 0x100000, 15 * MiB + 1));
    mem_free(&m);
}

TEST(bounds_length_overflow_and_wraparound)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    CHECK(!mapped(&m, 0x1000, UINT64_MAX));
    CHECK(!mapped(&m, 0x100000, UINT64_MAX - 0xfffff));  /* gpa + len == 0 */
    CHECK(!mapped(&m, UINT64_MAX, 1));
    CHECK(!mapped(&m, UINT64_MAX, 2));                   /* wraps to 0 */
    CHECK(!mapped(&m, UINT64_MAX - 0xfff, 0x2000));
    CHECK(!mapped(&m, 0x200000, (uint64_t)-0x100000));   /* wraps back into low RAM */
    uint8_t buf[16];
    CHECK_EQ(mem_read(&m, UINT64_MAX - 7, buf, 16), -EFAULT);
    CHECK_EQ(mem_write(&m, UINT64_MAX - 7, buf, 16), -EFAULT);
    mem_free(&m);
}

TEST(read_write_roundtrip_and_faults)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    const char msg[] = "guest data";
    char back[sizeof(msg)] = { 0 };
    CHECK_EQ(mem_write(&m, 0x200000, msg, sizeof(msg)), 0);
    CHECK_EQ(mem_read(&m, 0x200000, back, sizeof(back)), 0);
    CHECK(!memcmp(msg, back, sizeof(msg)));
    CHECK(!memcmp(mem_gpa_to_hva(&m, 0x200000, 4), "gues", 4));
    CHECK_EQ(mem_write(&m, 0x9fffc, msg, 8), -EFAULT);   /* into the legacy hole */
    CHECK_EQ(mem_read(&m, 16 * MiB - 4, back, 8), -EFAULT);
    CHECK_EQ(mem_write(&m, 16 * MiB, msg, 1), -EFAULT);
    /* Anonymous RAM starts zeroed. */
    uint8_t z[64];
    memset(z, 0xcc, sizeof(z));
    CHECK_EQ(mem_read(&m, 0x300000, z, sizeof(z)), 0);
    for (size_t i = 0; i < sizeof(z); i++)
        CHECK_EQ(z[i], 0);
    mem_free(&m);
}

TEST(high_ram_read_write)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 5 * GiB), 0);
    uint32_t v = 0xdeadbeef, r = 0;
    CHECK_EQ(mem_write(&m, MEM_4G + 0x1000, &v, 4), 0);
    CHECK_EQ(mem_read(&m, MEM_4G + 0x1000, &r, 4), 0);
    CHECK_EQ(r, 0xdeadbeef);
    CHECK_EQ(mem_write(&m, 3 * GiB - 2, &v, 4), -EFAULT);
    CHECK_EQ(mem_write(&m, 6 * GiB - 2, &v, 4), -EFAULT);
    mem_free(&m);
}

TEST(readonly_region_refuses_writes)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    static uint8_t rom[0x20000];
    memset(rom, 0x5a, sizeof(rom));
    CHECK_EQ(mem_add_region(&m, 0xfffe0000, sizeof(rom), rom, true), 0);
    CHECK_EQ(m.nr_regions, 3);
    CHECK(mem_gpa_to_hva(&m, 0xfffe0000, 16) == rom);
    CHECK(mem_gpa_to_hva_rw(&m, 0xfffe0000, 16) == NULL);
    CHECK(mem_gpa_to_hva_rw(&m, 0x100000, 16) != NULL);
    uint8_t b = 0;
    CHECK_EQ(mem_read(&m, 0xfffffff0, &b, 1), 0);
    CHECK_EQ(b, 0x5a);
    b = 0x11;
    CHECK_EQ(mem_write(&m, 0xfffffff0, &b, 1), -EFAULT);
    CHECK_EQ(rom[0x1fff0], 0x5a);
    CHECK(!mapped(&m, 0xfffffff0, 0x20));           /* past 4 GiB */
    mem_free(&m);                                   /* leaves the caller's ROM alone */
    CHECK_EQ(rom[0], 0x5a);
    CHECK_EQ(m.nr_regions, 0);
}

TEST(add_region_checks)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 16 * MiB), 0);
    static uint8_t buf[0x10000];
    CHECK_EQ(mem_add_region(&m, 0x800000, 0x1000, buf, false), -EEXIST);  /* inside RAM */
    CHECK_EQ(mem_add_region(&m, 0x9f000, 0x2000, buf, true), -EEXIST);    /* tail of low RAM */
    CHECK_EQ(mem_add_region(&m, 0xfff000, 0x2000, buf, true), -EEXIST);   /* end of RAM */
    CHECK_EQ(mem_add_region(&m, 0xc0000, 0, buf, true), -EINVAL);
    CHECK_EQ(mem_add_region(&m, UINT64_MAX - 0xfff, 0x2000, buf, true), -EINVAL);
    CHECK_EQ(mem_add_region(&m, 0xc0000, 0x10000, buf, true), 0);         /* option ROM window */
    CHECK_EQ(mem_add_region(&m, 0xc8000, 0x1000, buf, true), -EEXIST);
    CHECK(mapped(&m, 0xcffff, 1));
    int added = 0;
    while (mem_add_region(&m, 0x10000000 + (uint64_t)added * 0x10000, 0x10000, buf, true) == 0)
        added++;
    CHECK_EQ(m.nr_regions, MEM_MAX_REGIONS);
    CHECK_EQ(mem_add_region(&m, 0x20000000, 0x1000, buf, true), -ENOSPC);
    mem_free(&m);
}

TEST(invalid_ram_sizes)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 0), -EINVAL);
    CHECK_EQ(m.nr_regions, 0);
    CHECK_EQ(mem_init_ram(&m, MiB), -EINVAL);       /* below the 2 MiB minimum */
    CHECK_EQ(mem_init_ram(&m, 16 * MiB + 1), -EINVAL);
    CHECK_EQ(mem_init_ram(&m, 16 * MiB + 0x800), -EINVAL);
    CHECK_EQ(mem_init_ram(&m, 2 * MiB), 0);
    CHECK_EQ(m.regions[1].size, MiB);
    mem_free(&m);
}

TEST(free_is_idempotent)
{
    struct guest_memory m;
    CHECK_EQ(mem_init_ram(&m, 4 * MiB), 0);
    mem_free(&m);
    CHECK_EQ(m.nr_regions, 0);
    CHECK_EQ(m.ram_size, 0);
    mem_free(&m);
    CHECK(!mapped(&m, 0, 1));
}
