/* Test guest "reset": a boot counter in low RAM survives a reset through the FADT reset register. */
#include "rt.h"
#include "layout.h"

#define COUNTER_MAGIC 0x52534554u /* "TESR" */

struct boot_counter {
    uint32_t magic;
    uint32_t count;
};

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return blen && a < b + blen && b < a + alen;
}

/* RESET_COUNTER_ADDR, unless the VMM put PVH boot data there (then the alternative). */
static volatile struct boot_counter *counter_location(void)
{
    uint64_t at = RESET_COUNTER_ADDR, len = sizeof(struct boot_counter);
    const struct hvm_start_info *si = boot.start_info;
    if (si && (overlaps(at, len, (uintptr_t)si, sizeof(*si)) ||
               overlaps(at, len, si->cmdline_paddr, si->cmdline_paddr ? strlen(boot.cmdline) + 1 : 0) ||
               overlaps(at, len, si->modlist_paddr, (uint64_t)si->nr_modules * 32) ||
               (si->version >= 1 && overlaps(at, len, si->memmap_paddr, (uint64_t)si->memmap_entries * 24))))
        at = RESET_COUNTER_ALT_ADDR;
    return (volatile struct boot_counter *)(uintptr_t)at;
}

int main(void)
{
    volatile struct boot_counter *c = counter_location();
    if (c->magic != COUNTER_MAGIC || c->count > 100) {
        c->magic = COUNTER_MAGIC;
        c->count = 0;
    }
    c->count++;
    if (c->count == 1) {
        printf("reset: boot 1, resetting\n");
        system_reset();
    }
    printf("reset: boot %u, powering off\n", c->count);
    c->magic = 0;
    return 0;
}
