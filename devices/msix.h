/* MSI-X (PCI Local Bus 3.0 §6.8.2): capability, vector table and PBA in a BAR; each unmasked vector
 * is routed through KVM (GSI routing + irqfd) by the host callbacks given at set-up. */
#ifndef DEVICES_MSIX_H
#define DEVICES_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"

#define MSIX_MAX_VECTORS 64
#define MSIX_ENTRY_SIZE 16
#define MSIX_CAP_LEN 12

/* Host side of interrupt delivery: KVM on the real path, a stub in unit tests. */
struct msi_ops {
    /* Route `gsi` to the MSI message (addr, data); allocate a GSI first with gsi < 0 (returns it). */
    int (*route)(void *ctx, int gsi, uint64_t addr, uint32_t data);
    /* Signal the GSI: on the real path an irqfd write, so no ioctl is needed per interrupt. */
    void (*fire)(void *ctx, int gsi);
    void *ctx;
};

struct msix_vector {
    uint32_t addr_lo, addr_hi, data, ctrl;   /* the table entry as the guest wrote it */
    int gsi;                                 /* KVM GSI routed for this entry, -1 none */
    bool route_stale;                        /* entry changed since the route was set */
};

struct msix {
    pthread_mutex_t lock;
    struct pci_device *pci;
    struct msi_ops ops;
    int nvectors;
    uint8_t cap;                             /* capability offset in config space */
    int bar;
    uint32_t table_offset, pba_offset;       /* within the BAR */
    struct msix_vector vectors[MSIX_MAX_VECTORS];
    uint64_t pending;                        /* PBA bits */
    /* Message Control as last seen by msix_config_written: msix_notify never reads config space. */
    bool enabled, function_masked;
};

/* Adds the capability to `pci` (before pci_bus_add); the table and PBA live in `bar` at the
 * given offsets, which the device's BAR access callback must forward to msix_table_io. The BAR
 * must already be a memory BAR (pci_device_set_bar) holding both, at 8-byte aligned offsets.
 * Returns 0 or -EINVAL / -ENOSPC. Lock order: the PCI bus lock, then the msix lock. */
int msix_init(struct msix *m, struct pci_device *pci, int nvectors, int bar, uint32_t table_offset,
              uint32_t pba_offset, struct msi_ops ops);
void msix_destroy(struct msix *m);
/* Accesses to the table or PBA; `offset` relative to table_offset (table) or pba_offset (pba). */
void msix_table_io(struct msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
void msix_pba_io(struct msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* Call from the device's config_written hook: reacts to Enable / Function Mask changes. */
void msix_config_written(struct msix *m, unsigned offset, unsigned len);
bool msix_enabled(const struct msix *m);
/* Raises `vector` (thread-safe): delivered now, or marked pending while masked. */
void msix_notify(struct msix *m, int vector);

#endif
