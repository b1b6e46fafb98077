/* Port-I/O and MMIO address spaces: devices register address ranges, exits are dispatched here. */
#ifndef VMM_BUS_H
#define VMM_BUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* A device access: `offset` is relative to the registered base; `data` holds `len` bytes
 * (1, 2, 4 or 8), filled by the device on reads. */
typedef void (*bus_access_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

struct bus_range {
    uint64_t base, len;
    bus_access_fn fn;
    void *opaque;
    const char *name;
};

/* An immutable snapshot of the ranges, sorted by base, never overlapping. */
struct bus_map {
    int nr;
    struct bus_map *older;     /* retired snapshots, freed with the bus */
    struct bus_range ranges[];
};

struct bus {
    const char *name;          /* "pio" or "mmio", for messages */
    struct bus_map *map;       /* read lock-free by vCPU threads (acquire), replaced on change */
    pthread_mutex_t writer;    /* serialises registration (PCI BAR moves happen while vCPUs run) */
};

void bus_init(struct bus *b, const char *name);
void bus_destroy(struct bus *b);
/* Fails with -EEXIST if the range overlaps one already registered. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_access_fn fn, void *opaque, const char *name);
int bus_unregister(struct bus *b, uint64_t base);
/* Returns false when no device claims `addr` (reads then return all ones). */
bool bus_dispatch(struct bus *b, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
