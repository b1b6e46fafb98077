/* Guest runtime: PCI bus 0 through configuration mechanism #1 (ports 0xcf8/0xcfc), BARs, capabilities. */
#include "pci.h"
#include "io.h"

/* PCI Local Bus Specification 3.0 §3.2.2.3.2: enable bit, bus, device, function, dword register. */
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_SLOTS 32
#define PCI_FUNCS 8
#define PCI_HEADER_MULTIFUNCTION 0x80
#define PCI_BARS 6

/* BAR low bits (§6.2.5.1). */
#define BAR_IO_SPACE 0x1u
#define BAR_MEM_TYPE_MASK 0x6u
#define BAR_MEM_TYPE_64 0x4u
#define BAR_MEM_PREFETCH 0x8u

/* Where pci_assign_bar puts BARs: below the IOAPIC, and from 32 GiB up (as vmm does). */
#define MEM32_WINDOW_START 0xe0000000ull
#define MEM32_WINDOW_END 0xfec00000ull
#define MEM64_WINDOW_START 0x800000000ull
#define MEM64_WINDOW_END 0x10000000000ull

static void config_select(const struct pci_dev *d, uint8_t offset)
{
    outl(PCI_CONFIG_ADDRESS, 0x80000000u | (uint32_t)d->slot << 11 | (uint32_t)d->func << 8 | (offset & 0xfcu));
}

uint8_t pci_read8(const struct pci_dev *d, uint8_t offset)
{
    config_select(d, offset);
    return inb((uint16_t)(PCI_CONFIG_DATA + (offset & 3)));
}

uint16_t pci_read16(const struct pci_dev *d, uint8_t offset)
{
    config_select(d, offset);
    return inw((uint16_t)(PCI_CONFIG_DATA + (offset & 2)));
}

uint32_t pci_read32(const struct pci_dev *d, uint8_t offset)
{
    config_select(d, offset);
    return inl(PCI_CONFIG_DATA);
}

void pci_write8(const struct pci_dev *d, uint8_t offset, uint8_t val)
{
    config_select(d, offset);
    outb((uint16_t)(PCI_CONFIG_DATA + (offset & 3)), val);
}

void pci_write16(const struct pci_dev *d, uint8_t offset, uint16_t val)
{
    config_select(d, offset);
    outw((uint16_t)(PCI_CONFIG_DATA + (offset & 2)), val);
}

void pci_write32(const struct pci_dev *d, uint8_t offset, uint32_t val)
{
    config_select(d, offset);
    outl(PCI_CONFIG_DATA, val);
}

/* Visits every present function on bus 0 in slot order; stops when visit returns true. */
static bool pci_scan(bool (*visit)(const struct pci_dev *d, void *ctx), void *ctx)
{
    for (uint8_t slot = 0; slot < PCI_SLOTS; slot++) {
        for (uint8_t func = 0; func < PCI_FUNCS; func++) {
            struct pci_dev d = { .slot = slot, .func = func };
            uint32_t id = pci_read32(&d, PCI_VENDOR_ID);
            if ((id & 0xffff) == 0xffff) {
                if (func == 0)
                    break;
                continue;
            }
            d.vendor = (uint16_t)id;
            d.device = (uint16_t)(id >> 16);
            if (visit(&d, ctx))
                return true;
            if (func == 0 && !(pci_read8(&d, PCI_HEADER_TYPE) & PCI_HEADER_MULTIFUNCTION))
                break;
        }
    }
    return false;
}

struct find_ctx {
    uint16_t vendor, device;
    int left;
    struct pci_dev *out;
};

static bool find_visit(const struct pci_dev *d, void *opaque)
{
    struct find_ctx *c = opaque;
    if (d->vendor != c->vendor || d->device != c->device || c->left-- > 0)
        return false;
    *c->out = *d;
    return true;
}

bool pci_find(uint16_t vendor, uint16_t device, int index, struct pci_dev *out)
{
    struct find_ctx c = { vendor, device, index, out };
    return index >= 0 && pci_scan(find_visit, &c);
}

/* Writes all ones and reads back the writable address bits (§6.2.5.1), restoring the BAR. */
static uint32_t bar_probe(const struct pci_dev *d, uint8_t offset)
{
    uint32_t saved = pci_read32(d, offset);
    pci_write32(d, offset, 0xffffffffu);
    uint32_t mask = pci_read32(d, offset);
    pci_write32(d, offset, saved);
    return mask;
}

static bool bar_is_mem64(uint32_t low)
{
    return !(low & BAR_IO_SPACE) && (low & BAR_MEM_TYPE_MASK) == BAR_MEM_TYPE_64;
}

/* Walks the BARs from 0 (the type bits are read-only): does a 64-bit BAR cover this slot? */
static bool bar_is_upper_half(const struct pci_dev *d, int bar)
{
    int i = 0;
    while (i < bar)
        i += bar_is_mem64(pci_read32(d, (uint8_t)(PCI_BAR0 + 4 * i))) ? 2 : 1;
    return i != bar;
}

bool pci_bar(const struct pci_dev *d, int bar, struct pci_bar_info *out)
{
    *out = (struct pci_bar_info){ .kind = PCI_BAR_NONE };
    if (bar < 0 || bar >= PCI_BARS)
        return false;
    if (bar_is_upper_half(d, bar))
        return false;
    uint8_t off = (uint8_t)(PCI_BAR0 + 4 * bar);
    uint32_t low = pci_read32(d, off);
    uint16_t command = pci_read16(d, PCI_COMMAND);
    pci_write16(d, PCI_COMMAND, command & (uint16_t)~(PCI_COMMAND_IO | PCI_COMMAND_MEMORY));
    uint32_t mask_low = bar_probe(d, off);
    if (low & BAR_IO_SPACE) {
        out->kind = PCI_BAR_IO;
        out->addr = low & ~3u;
        out->size = (uint16_t)(~(mask_low & ~3u) + 1);
    } else if (bar_is_mem64(low) && bar < PCI_BARS - 1) {
        uint32_t high = pci_read32(d, (uint8_t)(off + 4));
        uint64_t mask = (uint64_t)bar_probe(d, (uint8_t)(off + 4)) << 32 | (mask_low & ~0xfu);
        out->kind = PCI_BAR_MEM64;
        out->addr = (uint64_t)high << 32 | (low & ~0xfu);
        out->size = mask ? ~mask + 1 : 0;
    } else {
        out->kind = PCI_BAR_MEM32;
        out->addr = low & ~0xfu;
        out->size = (uint32_t)(~(mask_low & ~0xfu) + 1);
        if (!(mask_low & ~0xfu))
            out->size = 0;
    }
    out->prefetchable = out->kind != PCI_BAR_IO && (low & BAR_MEM_PREFETCH);
    pci_write16(d, PCI_COMMAND, command);
    if (out->size == 0)
        out->kind = PCI_BAR_NONE;
    return out->kind != PCI_BAR_NONE;
}

/* ---- BAR placement when no firmware did it ---- */

struct overlap_ctx {
    const struct pci_dev *self;
    int self_bar;
    uint64_t start, size;
    uint64_t next;              /* end of an overlapping BAR, 0 if none */
};

static bool overlap_visit(const struct pci_dev *d, void *opaque)
{
    struct overlap_ctx *c = opaque;
    for (int i = 0; i < PCI_BARS; i++) {
        struct pci_bar_info b;
        if (!pci_bar(d, i, &b) || b.kind == PCI_BAR_IO || b.addr == 0)
            continue;
        if (d->slot == c->self->slot && d->func == c->self->func && i == c->self_bar)
            continue;
        if (b.addr < c->start + c->size && c->start < b.addr + b.size) {
            c->next = b.addr + b.size;
            return true;
        }
    }
    return false;
}

/* The first size-aligned place in [*cursor, end) that no other BAR on bus 0 occupies. */
static uint64_t place_bar(const struct pci_dev *d, int bar, uint64_t *cursor, uint64_t end, uint64_t size)
{
    uint64_t at = (*cursor + size - 1) & ~(size - 1);
    while (at >= *cursor && at + size <= end) {
        struct overlap_ctx c = { d, bar, at, size, 0 };
        if (!pci_scan(overlap_visit, &c)) {
            *cursor = at + size;
            return at;
        }
        at = (c.next + size - 1) & ~(size - 1);
    }
    return 0;
}

bool pci_assign_bar(const struct pci_dev *d, int bar, struct pci_bar_info *info)
{
    static uint64_t mem32_cursor = MEM32_WINDOW_START, mem64_cursor = MEM64_WINDOW_START;
    uint64_t size = info->size < 4096 ? 4096 : info->size;
    uint64_t at;
    if (info->kind == PCI_BAR_MEM32)
        at = place_bar(d, bar, &mem32_cursor, MEM32_WINDOW_END, size);
    else if (info->kind == PCI_BAR_MEM64)
        at = place_bar(d, bar, &mem64_cursor, MEM64_WINDOW_END, size);
    else
        return false;
    if (!at)
        return false;
    uint8_t off = (uint8_t)(PCI_BAR0 + 4 * bar);
    uint32_t low_bits = pci_read32(d, off) & 0xfu;
    pci_write32(d, off, (uint32_t)at | low_bits);
    if (info->kind == PCI_BAR_MEM64)
        pci_write32(d, (uint8_t)(off + 4), (uint32_t)(at >> 32));
    info->addr = at;
    return true;
}

uint64_t pci_map_bar(const struct pci_dev *d, int bar, uint64_t *size)
{
    struct pci_bar_info b;
    if (!pci_bar(d, bar, &b) || b.kind == PCI_BAR_IO)
        return 0;
    if (b.addr == 0 && !pci_assign_bar(d, bar, &b))
        return 0;
    if (!paging_map_mmio(b.addr, b.size))
        return 0;
    if (size)
        *size = b.size;
    return b.addr;
}

uint8_t pci_cap_next(const struct pci_dev *d, uint8_t prev)
{
    uint8_t next;
    if (prev == 0) {
        if (!(pci_read16(d, PCI_STATUS) & PCI_STATUS_CAP_LIST))
            return 0;
        next = pci_read8(d, PCI_CAP_PTR);
    } else {
        next = pci_read8(d, (uint8_t)(prev + 1));
    }
    next &= 0xfc; /* the bottom two bits are reserved (§6.7) */
    return next >= 0x40 ? next : 0; /* capabilities live above the header */
}

uint8_t pci_cap_find(const struct pci_dev *d, uint8_t id, uint8_t prev)
{
    /* The list need not be in address order; a bound on its length stops a looping one. */
    int steps = 0;
    for (uint8_t cap = pci_cap_next(d, prev); cap && steps < PCI_CAP_MAX; cap = pci_cap_next(d, cap), steps++) {
        if (pci_read8(d, cap) == id)
            return cap;
    }
    return 0;
}

void pci_enable(const struct pci_dev *d)
{
    uint16_t command = pci_read16(d, PCI_COMMAND);
    pci_write16(d, PCI_COMMAND, command | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}
