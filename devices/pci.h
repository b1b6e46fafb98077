/* PCI: a conventional (i440FX-style, config through 0xcf8/0xcfc) bus 0 with a host bridge, device
 * config spaces with write masks, BAR sizing and placement, capability lists, INTx through the _PRT. */
#ifndef DEVICES_PCI_H
#define DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"
#include "vmm/bus.h"

#define PCI_CONFIG_SIZE 256
#define PCI_SLOTS 32
#define PCI_BARS 6
#define PCI_CONFIG_ADDRESS_PORT 0xcf8   /* 4 bytes: config address; 0xcfc-0xcff: config data */

/* Standard header offsets (PCI Local Bus Specification 3.0, §6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x1
#define PCI_COMMAND_MEMORY 0x2
#define PCI_COMMAND_MASTER 0x4
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_STATUS_INTERRUPT 0x08
#define PCI_STATUS_CAP_LIST 0x10

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09

enum pci_bar_kind { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_device;

/* Called when a BAR lands at a new address (or is unmapped: addr = 0, mapped = false), so the
 * device can move ioeventfds and similar host-side registrations. */
typedef void (*pci_bar_moved_fn)(struct pci_device *d, int bar, uint64_t addr, bool mapped);
/* Called after a config-space write the device may care about (command, capabilities). */
typedef void (*pci_config_written_fn)(struct pci_device *d, unsigned offset, unsigned len);

struct pci_bar {
    enum pci_bar_kind kind;
    uint64_t size;              /* power of two, >= 16 (I/O: >= 4) */
    bool prefetchable;
    uint64_t addr;              /* current guest address */
    bool mapped;                /* registered on the bus right now */
    bus_access_fn fn;           /* NULL: nothing goes on the bus; bar_moved does the mapping */
    void *opaque;
};

struct pci_device {
    const char *name;
    uint8_t config[PCI_CONFIG_SIZE];
    uint8_t wmask[PCI_CONFIG_SIZE];     /* bits the guest may write */
    uint8_t w1c[PCI_CONFIG_SIZE];       /* bits the guest clears by writing 1 */
    struct pci_bar bars[PCI_BARS];
    uint8_t next_cap;                   /* where the next capability goes (0x40 up) */
    uint8_t last_cap;                   /* offset of the last capability, 0 if none */
    int slot;
    struct pci_bus *bus;
    struct irq_line intx;               /* set by pci_bus_add from the _PRT mapping */
    bool intx_level;                    /* device's INTx request (before INTX_DISABLE) */
    bool intx_asserted;                 /* what the line is driven to now */
    pci_bar_moved_fn bar_moved;
    pci_config_written_fn config_written;
    void *owner;                        /* the device model that embeds this */
    /* Expansion ROM (§6.3.1): an option ROM firmware copies and runs (e.g. iPXE, a VGA BIOS). */
    const uint8_t *rom;
    uint64_t rom_len, rom_size;         /* image bytes; decoded size (power of two >= 2 KiB) */
    uint64_t rom_addr;
    bool rom_mapped;
};

struct pci_bus {
    pthread_mutex_t lock;
    struct pci_device *slots[PCI_SLOTS];
    struct pci_device host_bridge;
    struct bus *pio, *mmio;
    uint32_t config_address;            /* last value written to 0xcf8 */
    uint64_t io_next, mmio32_next, mmio64_next;   /* vmm's own BAR placement for direct boot */
    struct irq_line (*intx_for)(void *ctx, unsigned gsi);
    void *intx_ctx;
    /* Port 0xcf9 (PIIX reset control) shares its dword with the config address register: with
     * pci_config_io registered at 0xcf8-0xcff, byte accesses to 0xcf9 are forwarded here (offset 0). */
    bus_access_fn cf9_fn;
    void *cf9_opaque;
};

/* GSI for INTx of (slot, pin 0..3): must match the DSDT _PRT (arch/x86/acpi.c). */
static inline unsigned pci_intx_gsi(int slot, int pin)
{
    return 16 + (((unsigned)slot + (unsigned)pin) & 7);
}

/* Puts the host bridge in slot 0. Does not register the config ports: register pci_config_io
 * (opaque = b) at PCI_CONFIG_ADDRESS_PORT, 8 ports, on the port-I/O bus. */
int pci_bus_init(struct pci_bus *b, struct bus *pio, struct bus *mmio,
                 struct irq_line (*intx_for)(void *ctx, unsigned gsi), void *ctx);
void pci_bus_destroy(struct pci_bus *b);
/* Bus callback for ports 0xcf8-0xcff. */
void pci_config_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Device set-up, before pci_bus_add. pci_device_init clears *d: set the hooks and owner after it.
 * The hooks (bar_moved, config_written) run with the bus lock held (it is recursive, so they may
 * use pci_config_read/write and pci_set_intx). */
void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
                     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);
int pci_device_set_bar(struct pci_device *d, int bar, enum pci_bar_kind kind, uint64_t size,
                       bool prefetchable, bus_access_fn fn, void *opaque);
/* Gives the device an expansion ROM (the caller keeps `rom` alive); before pci_bus_add. */
int pci_device_set_rom(struct pci_device *d, const uint8_t *rom, size_t len);
/* Appends a capability of `len` bytes (id, next pointer, then the body); returns its offset or -ENOSPC. */
int pci_device_add_capability(struct pci_device *d, uint8_t id, uint8_t len);
/* Plugs the device into `slot` (1..31, or -1 for the first free one), assigns its BARs
 * addresses (as firmware would, so a directly booted kernel finds them set) and maps them. */
int pci_bus_add(struct pci_bus *b, struct pci_device *d, int slot);

/* Config space accessors used by the bus and by tests; `len` is 1, 2 or 4 and must not cross
 * a dword. Writes go through the write masks; BAR writes implement the sizing protocol. */
uint32_t pci_config_read(struct pci_device *d, unsigned offset, unsigned len);
void pci_config_write(struct pci_device *d, unsigned offset, unsigned len, uint32_t value);

/* INTx request from the device model; delivered unless COMMAND.INTX_DISABLE. */
void pci_set_intx(struct pci_device *d, int level);

#endif
