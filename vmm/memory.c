/* Guest RAM: layout around the 32-bit PCI hole, memslots, and bounds-checked GPA -> host pointer. */
#include "memory.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static int add(struct guest_memory *m, uint64_t gpa, uint64_t size, uint8_t *hva, bool ro)
{
    if (m->nr_regions >= MEM_MAX_REGIONS)
        return -ENOSPC;
    if (size == 0 || gpa + size < gpa)
        return -EINVAL;
    for (int i = 0; i < m->nr_regions; i++) {
        const struct mem_region *r = &m->regions[i];
        if (gpa < r->gpa + r->size && r->gpa < gpa + size)
            return -EEXIST;
    }
    struct mem_region *r = &m->regions[m->nr_regions];
    r->gpa = gpa;
    r->size = size;
    r->hva = hva;
    r->readonly = ro;
    r->slot = (uint32_t)m->nr_regions;
    m->nr_regions++;
    return 0;
}

static uint8_t *map_anon(uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, size, MADV_MERGEABLE);
    return p;
}

static int add_mapped(struct guest_memory *m, uint64_t gpa, uint64_t size, uint8_t *hva, uint64_t map_size)
{
    int rc = add(m, gpa, size, hva, false);
    if (rc == 0) {
        m->regions[m->nr_regions - 1].owns_mapping = true;
        m->regions[m->nr_regions - 1].map_size = map_size;
    }
    return rc;
}

int mem_init_ram(struct guest_memory *m, uint64_t ram_size)
{
    memset(m, 0, sizeof(*m));
    if (ram_size < (2ULL << 20) || (ram_size & 0xfff))
        return -EINVAL;
    uint64_t low = ram_size < MEM_PCI_HOLE_START ? ram_size : MEM_PCI_HOLE_START;
    /* One host mapping backs both low slots, so GPA offsets equal host offsets below the hole. */
    uint8_t *p = map_anon(low);
    if (!p)
        return -ENOMEM;
    int rc = add_mapped(m, 0, MEM_LOW_RAM_END, p, low);
    if (rc == 0)
        rc = add(m, MEM_HIGH_MEMORY, low - MEM_HIGH_MEMORY, p + MEM_HIGH_MEMORY, false);
    if (rc == 0 && ram_size > low) {
        uint64_t high = ram_size - low;
        uint8_t *h = map_anon(high);
        rc = h ? add_mapped(m, MEM_4G, high, h, high) : -ENOMEM;
    }
    if (rc) {
        mem_free(m);
        return rc;
    }
    m->ram_size = ram_size;
    return 0;
}

int mem_add_region(struct guest_memory *m, uint64_t gpa, uint64_t size, uint8_t *hva, bool readonly)
{
    return add(m, gpa, size, hva, readonly);
}

void mem_free(struct guest_memory *m)
{
    /* Only the RAM mappings are ours; ROM host memory belongs to its loader. */
    for (int i = 0; i < m->nr_regions; i++)
        if (m->regions[i].owns_mapping)
            munmap(m->regions[i].hva, m->regions[i].map_size);
    memset(m, 0, sizeof(*m));
}

static const struct mem_region *find(const struct guest_memory *m, uint64_t gpa, uint64_t len)
{
    if (gpa + len < gpa)
        return NULL;
    for (int i = 0; i < m->nr_regions; i++) {
        const struct mem_region *r = &m->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return r;
    }
    return NULL;
}

void *mem_gpa_to_hva(const struct guest_memory *m, uint64_t gpa, uint64_t len)
{
    const struct mem_region *r = find(m, gpa, len);
    return r ? r->hva + (gpa - r->gpa) : NULL;
}

void *mem_gpa_to_hva_rw(const struct guest_memory *m, uint64_t gpa, uint64_t len)
{
    const struct mem_region *r = find(m, gpa, len);
    return (r && !r->readonly) ? r->hva + (gpa - r->gpa) : NULL;
}

int mem_read(const struct guest_memory *m, uint64_t gpa, void *buf, size_t len)
{
    void *p = mem_gpa_to_hva(m, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(buf, p, len);
    return 0;
}

int mem_write(const struct guest_memory *m, uint64_t gpa, const void *buf, size_t len)
{
    void *p = mem_gpa_to_hva_rw(m, gpa, len);
    if (!p)
        return -EFAULT;
    memcpy(p, buf, len);
    return 0;
}

uint64_t mem_low_ram_size(const struct guest_memory *m)
{
    return m->ram_size < MEM_PCI_HOLE_START ? m->ram_size : MEM_PCI_HOLE_START;
}

uint64_t mem_high_ram_size(const struct guest_memory *m)
{
    return m->ram_size - mem_low_ram_size(m);
}
