/* Guest RAM: layout around the 32-bit PCI hole, memslots, and bounds-checked GPA -> host pointer. */
#ifndef VMM_MEMORY_H
#define VMM_MEMORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define MEM_MAX_REGIONS 8
/* The 32-bit PCI hole: RAM above this address continues at 4 GiB. */
#define MEM_PCI_HOLE_START 0xc0000000ULL
#define MEM_4G 0x100000000ULL

struct mem_region {
    uint64_t gpa;       /* guest-physical start */
    uint64_t size;      /* bytes */
    uint8_t *hva;       /* host mapping */
    bool readonly;      /* ROM: guest writes exit as MMIO */
    uint32_t slot;      /* KVM memslot number */
    bool owns_mapping;  /* this region's hva starts a mapping of map_size bytes that mem_free unmaps */
    uint64_t map_size;
};

struct guest_memory {
    struct mem_region regions[MEM_MAX_REGIONS];
    int nr_regions;
    uint64_t ram_size;  /* total RAM (not ROM) in bytes */
};

/* Legacy hole below 1 MiB: VGA window and BIOS area, never RAM. */
#define MEM_LOW_RAM_END 0xa0000ULL
#define MEM_HIGH_MEMORY 0x100000ULL

/* Lay out `ram_size` bytes of anonymous RAM: [0, 640 KiB), [1 MiB, PCI hole), rest above 4 GiB.
 * The legacy hole [640 KiB, 1 MiB) stays free for ROM aliases and device windows. */
int mem_init_ram(struct guest_memory *m, uint64_t ram_size);
/* Add a region backed by caller-owned host memory (e.g. a ROM image). */
int mem_add_region(struct guest_memory *m, uint64_t gpa, uint64_t size, uint8_t *hva, bool readonly);
void mem_free(struct guest_memory *m);

/* Host pointer for [gpa, gpa+len) if it lies wholly inside one region, else NULL.
 * Guest-controlled addresses go through here (or the two helpers below) and nowhere else. */
void *mem_gpa_to_hva(const struct guest_memory *m, uint64_t gpa, uint64_t len);
/* Same, but only for writable RAM. */
void *mem_gpa_to_hva_rw(const struct guest_memory *m, uint64_t gpa, uint64_t len);
/* Copy to/from guest memory; -EFAULT if any byte lies outside RAM/ROM (writes: RAM only). */
int mem_read(const struct guest_memory *m, uint64_t gpa, void *buf, size_t len);
int mem_write(const struct guest_memory *m, uint64_t gpa, const void *buf, size_t len);

/* RAM below 4 GiB and above 4 GiB, as laid out by mem_init_ram. */
uint64_t mem_low_ram_size(const struct guest_memory *m);
uint64_t mem_high_ram_size(const struct guest_memory *m);

#endif
