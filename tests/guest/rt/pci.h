/* Guest runtime: PCI on bus 0 through configuration mechanism #1, BARs, capabilities and MSI-X. */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include "rt.h"

/* Configuration header offsets (PCI Local Bus Specification 3.0 §6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_CAP_PTR 0x34

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

struct pci_dev {
    uint8_t slot, func;         /* bus 0 */
    uint16_t vendor, device;
};

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar_info {
    enum pci_bar_kind kind;
    bool prefetchable;
    uint64_t addr;              /* as programmed (0: unassigned) */
    uint64_t size;              /* from the sizing protocol (§6.2.5.1) */
};

uint8_t pci_read8(const struct pci_dev *d, uint8_t offset);
uint16_t pci_read16(const struct pci_dev *d, uint8_t offset);
uint32_t pci_read32(const struct pci_dev *d, uint8_t offset);
void pci_write8(const struct pci_dev *d, uint8_t offset, uint8_t val);
void pci_write16(const struct pci_dev *d, uint8_t offset, uint16_t val);
void pci_write32(const struct pci_dev *d, uint8_t offset, uint32_t val);

/* The index-th (0-based) function with this vendor/device ID, in slot order; false if none. */
bool pci_find(uint16_t vendor, uint16_t device, int index, struct pci_dev *out);
/* Decodes BAR bar (0-5) with its size; false for an unimplemented BAR or the upper half of a
 * 64-bit one. Memory decoding is off while the BAR is sized. */
bool pci_bar(const struct pci_dev *d, int bar, struct pci_bar_info *out);
/* Gives an unassigned memory BAR an address (32-bit: 0xe0000000 up; 64-bit: 32 GiB up), as
 * firmware would; used when nothing ran before us (firmware mode). Updates *info. */
bool pci_assign_bar(const struct pci_dev *d, int bar, struct pci_bar_info *info);
/* The BAR's address, assigned if needed and identity-mapped (paging_map_mmio); 0 on failure.
 * Only memory BARs. */
uint64_t pci_map_bar(const struct pci_dev *d, int bar, uint64_t *size);
/* Capability list walk (§6.7): pass 0 for the first; returns 0 after the last. The list may
 * loop on a broken device: walk at most PCI_CAP_MAX steps. */
#define PCI_CAP_MAX 48
uint8_t pci_cap_next(const struct pci_dev *d, uint8_t prev);
/* The first capability with this ID after prev (0: from the start), or 0. */
uint8_t pci_cap_find(const struct pci_dev *d, uint8_t id, uint8_t prev);
/* Sets memory decoding and bus mastering in the command register. */
void pci_enable(const struct pci_dev *d);

/* ---- MSI-X (§6.8.2) ----------------------------------------------------------------- */

struct msix {
    struct pci_dev dev;
    uint8_t cap;                /* capability offset */
    uint16_t table_size;        /* entries */
    uint64_t table;             /* mapped address of the vector table */
};

/* Finds the capability, maps the table's BAR, masks every entry and enables MSI-X (function
 * mask off). False if the device has no usable MSI-X. */
bool msix_init(struct msix *m, const struct pci_dev *d);
/* Programs entry to send vector to this CPU's local APIC (address 0xfee00000 | id << 12,
 * fixed, edge; SDM vol 3 §11.11) and unmasks it. */
bool msix_set_vector(struct msix *m, uint16_t entry, uint8_t vector);
/* Turns MSI-X off again (before the device is reset and left). */
void msix_disable(struct msix *m);

#endif
