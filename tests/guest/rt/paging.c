/* Guest runtime: identity mappings above 4 GiB (64-bit BARs) in the boot page tables, 2 MiB pages. */
#include "rt.h"
#include "io.h"

/* 4-level paging entry bits (Intel SDM vol 3 §4.5, tables 4-15 to 4-18). */
#define PTE_PRESENT 0x001ull
#define PTE_WRITE 0x002ull
#define PTE_PWT 0x008ull
#define PTE_PCD 0x010ull
#define PTE_LARGE 0x080ull     /* PS: this PDE maps a 2 MiB page */
#define PTE_ADDR_MASK 0x000ffffffffff000ull
#define LARGE_PAGE_SIZE 0x200000ull

#define TABLE_POOL_PAGES 8

extern uint64_t pml4[512]; /* rt/entry.S: PML4[0] covers the first 512 GiB */

static uint64_t table_pool[TABLE_POOL_PAGES][512] __attribute__((aligned(4096)));
static int table_pool_used;

/* CPUID 0x80000008 EAX[7:0]: physical address width (SDM vol 2 CPUID); 36 if not reported. */
static unsigned phys_addr_bits(void)
{
    if (cpuid(0x80000000, 0).eax < 0x80000008)
        return 36;
    unsigned bits = cpuid(0x80000008, 0).eax & 0xff;
    return bits >= 32 && bits <= 52 ? bits : 36;
}

/* The table the entry points to, allocating (zeroed, from the pool) one if not present. */
static uint64_t *next_table(uint64_t *entry)
{
    if (*entry & PTE_PRESENT) {
        if (*entry & PTE_LARGE)
            return NULL; /* a 1 GiB page is in the way: not made by this runtime */
        return (uint64_t *)(uintptr_t)(*entry & PTE_ADDR_MASK);
    }
    if (table_pool_used == TABLE_POOL_PAGES)
        return NULL;
    uint64_t *table = table_pool[table_pool_used++];
    memset(table, 0, 4096);
    *entry = (uint64_t)(uintptr_t)table | PTE_PRESENT | PTE_WRITE;
    return table;
}

static bool map_large_page(uint64_t addr)
{
    uint64_t *pdpt = next_table(&pml4[(addr >> 39) & 511]);
    uint64_t *pd = pdpt ? next_table(&pdpt[(addr >> 30) & 511]) : NULL;
    if (!pd)
        return false;
    uint64_t *pde = &pd[(addr >> 21) & 511];
    if (!(*pde & PTE_PRESENT))
        *pde = addr | PTE_PRESENT | PTE_WRITE | PTE_LARGE | PTE_PCD | PTE_PWT;
    return true;
}

bool paging_map_mmio(uint64_t addr, uint64_t size)
{
    if (size == 0)
        return true;
    uint64_t end = addr + size;
    if (end < addr || end > (1ull << phys_addr_bits()))
        return false;
    if (end <= 0x100000000ull)
        return true; /* entry.S maps 0-4 GiB */
    for (uint64_t page = addr & ~(LARGE_PAGE_SIZE - 1); page < end; page += LARGE_PAGE_SIZE) {
        if (page >= 0x100000000ull && !map_large_page(page))
            return false;
    }
    write_cr3(read_cr3()); /* flush the TLB: no stale "not present" entries */
    return true;
}
