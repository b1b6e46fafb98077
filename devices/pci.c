/* PCI bus 0 (PCI Local Bus Specification 3.0): configuration mechanism #1, type 0 headers with
 * write masks, BAR sizing, placement and mapping, capability lists, level-triggered INTx. */
#include "pci.h"

#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"

/* Configuration address register (§3.2.2.3.2): enable, bus, device, function, dword register. */
#define CONFIG_ENABLE 0x80000000u
#define CONFIG_ADDRESS_BITS 0x80fffffcu
#define CONFIG_BUS(a) (((a) >> 16) & 0xff)
#define CONFIG_DEVICE(a) (((a) >> 11) & 0x1f)
#define CONFIG_FUNCTION(a) (((a) >> 8) & 0x7)
#define CONFIG_REGISTER(a) ((a) & 0xfc)

/* Status bits software clears by writing 1 (§6.2.3): parity, SERR, aborts. */
#define STATUS_W1C_BITS 0xf900
#define COMMAND_WRITABLE (PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE)
#define HEADER_END 0x40                       /* capabilities start here (§6.7) */

/* BAR low bits (§6.2.5.1). */
#define BAR_IO_SPACE 0x1u
#define BAR_MEM_TYPE_64 0x4u
#define BAR_MEM_PREFETCH 0x8u
#define BAR_IO_ADDR_MASK 0xfffffffcu
#define BAR_MEM_ADDR_MASK 0xfffffff0u
#define BAR_IO_MAX_SIZE 0x100ull              /* I/O BARs claim at most 256 bytes */
#define BAR_MEM32_MAX_SIZE (1ull << 31)
#define BAR_MEM64_MAX_SIZE (1ull << 40)

/* Where BARs may live: x86 port space, the 32-bit hole below the IOAPIC, anything above 4 GiB. */
#define IO_SPACE_END 0x10000ull
#define MMIO32_START LAYOUT_PCI_MMIO32_BASE
#define MMIO32_END (LAYOUT_PCI_MMIO32_LIMIT + 1)
#define MMIO64_START 0x100000000ull

/* Where pci_bus_add starts placing BARs, as firmware would. */
#define IO_ASSIGN_START 0xc000ull
#define MMIO64_ASSIGN_START 0x800000000ull

/* i440FX host bridge (Intel 82441FX PMC datasheet §3.2): PAM0-6 and SMRAM are plain storage here. */
#define I440FX_VENDOR 0x8086
#define I440FX_DEVICE 0x1237
#define I440FX_REVISION 0x02
#define I440FX_PAM0 0x59
#define I440FX_PAM_COUNT 7
#define I440FX_SMRAM 0x72

static uint16_t get16(const uint8_t *p, unsigned off)
{
    return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t get32(const uint8_t *p, unsigned off)
{
    return (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 | (uint32_t)p[off + 3] << 24;
}

static void put16(uint8_t *p, unsigned off, uint16_t v)
{
    p[off] = v & 0xff;
    p[off + 1] = v >> 8;
}

static void put32(uint8_t *p, unsigned off, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[off + i] = (v >> (8 * i)) & 0xff;
}

static void lock_device(struct pci_device *d)
{
    if (d->bus)
        pthread_mutex_lock(&d->bus->lock);
}

static void unlock_device(struct pci_device *d)
{
    if (d->bus)
        pthread_mutex_unlock(&d->bus->lock);
}

/* A config access is 1, 2 or 4 bytes inside one dword of the 256-byte space. */
static bool access_ok(unsigned offset, unsigned len)
{
    if (len != 1 && len != 2 && len != 4)
        return false;
    return offset < PCI_CONFIG_SIZE && (offset & 3) + len <= 4;
}

static bool overlaps(unsigned offset, unsigned len, unsigned start, unsigned size)
{
    return offset < start + size && start < offset + len;
}

static uint32_t all_ones(unsigned len)
{
    return len == 1 ? 0xffu : len == 2 ? 0xffffu : 0xffffffffu;
}

/* ---- BARs (§6.2.5.1) ---- */

static struct bus *bar_space(const struct pci_device *d, const struct pci_bar *bar)
{
    return bar->kind == PCI_BAR_IO ? d->bus->pio : d->bus->mmio;
}

static uint64_t bar_programmed_addr(const struct pci_device *d, int i)
{
    uint32_t lo = get32(d->config, PCI_BAR0 + 4 * (unsigned)i);
    switch (d->bars[i].kind) {
    case PCI_BAR_IO: return lo & BAR_IO_ADDR_MASK;
    case PCI_BAR_MEM32: return lo & BAR_MEM_ADDR_MASK;
    case PCI_BAR_MEM64:
        return (lo & BAR_MEM_ADDR_MASK) | (uint64_t)get32(d->config, PCI_BAR0 + 4 * (unsigned)(i + 1)) << 32;
    default: return 0;
    }
}

static bool in_window(uint64_t addr, uint64_t end, uint64_t start, uint64_t limit)
{
    return addr >= start && end <= limit;
}

/* Only addresses that cannot shadow RAM, the IOAPIC or the LAPIC are decoded. */
static bool bar_addr_legal(const struct pci_bar *bar, uint64_t addr)
{
    uint64_t end = addr + bar->size;
    if (addr == 0 || end < addr)
        return false;
    switch (bar->kind) {
    case PCI_BAR_IO: return end <= IO_SPACE_END;
    case PCI_BAR_MEM32: return in_window(addr, end, MMIO32_START, MMIO32_END);
    case PCI_BAR_MEM64: return in_window(addr, end, MMIO32_START, MMIO32_END) || addr >= MMIO64_START;
    default: return false;
    }
}

static bool bar_decoded(const struct pci_device *d, const struct pci_bar *bar)
{
    uint16_t command = get16(d->config, PCI_COMMAND);
    return (command & (bar->kind == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY)) != 0;
}

/* Registers the BAR at `addr`; false when the range is taken (it then stays unmapped). */
static bool bar_map(struct pci_device *d, struct pci_bar *bar, uint64_t addr)
{
    if (!bar->fn)
        return true;        /* mapped by the device itself through bar_moved */
    struct bus *space = bar_space(d, bar);
    return space && bus_register(space, addr, bar->size, bar->fn, bar->opaque, d->name) == 0;
}

static void bar_unmap(struct pci_device *d, struct pci_bar *bar)
{
    if (bar->fn)
        bus_unregister(bar_space(d, bar), bar->addr);
    bar->mapped = false;
}

/* Brings BAR i's bus registration in line with its programmed address and the command register. */
static void bar_update(struct pci_device *d, int i)
{
    struct pci_bar *bar = &d->bars[i];
    if (bar->kind == PCI_BAR_NONE)
        return;
    uint64_t addr = bar_programmed_addr(d, i);
    bool want = d->bus && bar_decoded(d, bar) && bar_addr_legal(bar, addr);
    bool was = bar->mapped;
    uint64_t old = bar->addr;
    if (was == want && (!want || addr == old))
        return;
    if (was)
        bar_unmap(d, bar);
    bar->addr = addr;
    if (want)
        bar->mapped = bar_map(d, bar, addr);
    if (d->bar_moved && (was || bar->mapped))
        d->bar_moved(d, i, bar->mapped ? addr : 0, bar->mapped);
}

/* ---- Expansion ROM (§6.3.1): bits 31:11 address, bit 0 enable; read-only MMIO ---- */

static void rom_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    const struct pci_device *d = opaque;
    if (is_write)
        return;
    for (uint32_t i = 0; i < len; i++)
        data[i] = offset + i < d->rom_len ? d->rom[offset + i] : 0;
}

static void rom_update(struct pci_device *d)
{
    if (!d->rom || !d->bus)
        return;
    uint32_t reg = get32(d->config, PCI_ROM_ADDRESS);
    uint64_t addr = reg & 0xfffff800u;
    bool want = (reg & 1) && (get16(d->config, PCI_COMMAND) & PCI_COMMAND_MEMORY) &&
                in_window(addr, addr + d->rom_size, MMIO32_START, MMIO32_END);
    if (d->rom_mapped == want && (!want || addr == d->rom_addr))
        return;
    if (d->rom_mapped)
        bus_unregister(d->bus->mmio, d->rom_addr);
    d->rom_addr = addr;
    d->rom_mapped = want && bus_register(d->bus->mmio, addr, d->rom_size, rom_io, d, d->name) == 0;
}

int pci_device_set_rom(struct pci_device *d, const uint8_t *rom, size_t len)
{
    uint64_t size = 2048;
    while (size < len)
        size <<= 1;
    if (!rom || len == 0 || size > (16u << 20))
        return -EINVAL;
    d->rom = rom;
    d->rom_len = len;
    d->rom_size = size;
    put32(d->wmask, PCI_ROM_ADDRESS, (uint32_t)~(size - 1) | 1u);
    return 0;
}

static void bars_update(struct pci_device *d)
{
    for (int i = 0; i < PCI_BARS; i++)
        bar_update(d, i);
    rom_update(d);
}

/* ---- INTx (§6.2.2 command bit 10, §6.2.3 status bit 3) ---- */

static void intx_update(struct pci_device *d)
{
    uint16_t status = get16(d->config, PCI_STATUS);
    if (d->intx_level)
        status |= PCI_STATUS_INTERRUPT;
    else
        status &= ~PCI_STATUS_INTERRUPT;
    put16(d->config, PCI_STATUS, status);
    bool assert = d->intx_level && !(get16(d->config, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
    if (assert != d->intx_asserted) {
        d->intx_asserted = assert;
        irq_line_set(&d->intx, assert);
    }
}

void pci_set_intx(struct pci_device *d, int level)
{
    lock_device(d);
    d->intx_level = level != 0;
    intx_update(d);
    unlock_device(d);
}

/* ---- Config space accesses ---- */

static uint32_t config_read_locked(const struct pci_device *d, unsigned offset, unsigned len)
{
    if (!access_ok(offset, len))
        return all_ones(len);
    uint32_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint32_t)d->config[offset + i] << (8 * i);
    return v;
}

/* Read-only bits keep their value, RW bits take the new one, RW1C bits clear where 1 is written. */
static void write_byte(struct pci_device *d, unsigned off, uint8_t v)
{
    uint8_t kept = d->config[off] & ~d->wmask[off];
    uint8_t merged = kept | (v & d->wmask[off]);
    d->config[off] = merged & ~(v & d->w1c[off]);
}

static void config_write_locked(struct pci_device *d, unsigned offset, unsigned len, uint32_t value)
{
    if (!access_ok(offset, len))
        return;
    uint16_t old_command = get16(d->config, PCI_COMMAND);
    for (unsigned i = 0; i < len; i++)
        write_byte(d, offset + i, (value >> (8 * i)) & 0xff);
    if (overlaps(offset, len, PCI_COMMAND, 2) || overlaps(offset, len, PCI_BAR0, 4 * PCI_BARS) ||
        overlaps(offset, len, PCI_ROM_ADDRESS, 4))
        bars_update(d);
    if ((old_command ^ get16(d->config, PCI_COMMAND)) & PCI_COMMAND_INTX_DISABLE)
        intx_update(d);
    if (d->config_written)
        d->config_written(d, offset, len);
}

uint32_t pci_config_read(struct pci_device *d, unsigned offset, unsigned len)
{
    lock_device(d);
    uint32_t v = config_read_locked(d, offset, len);
    unlock_device(d);
    return v;
}

void pci_config_write(struct pci_device *d, unsigned offset, unsigned len, uint32_t value)
{
    lock_device(d);
    config_write_locked(d, offset, len, value);
    unlock_device(d);
}

/* ---- Configuration mechanism #1 (§3.2.2.3.2) ---- */

static void address_register_io(struct pci_bus *b, uint8_t *data, uint32_t len, bool is_write)
{
    if (len != 4)
        return;             /* only dword accesses reach CONFIG_ADDRESS */
    if (is_write)
        b->config_address = get32(data, 0) & CONFIG_ADDRESS_BITS;
    else
        put32(data, 0, b->config_address);
}

/* The function CONFIG_ADDRESS selects, or NULL: only function 0 of populated slots on bus 0. */
static struct pci_device *selected_device(const struct pci_bus *b, uint32_t address)
{
    if (!(address & CONFIG_ENABLE) || CONFIG_BUS(address) != 0 || CONFIG_FUNCTION(address) != 0)
        return NULL;
    return b->slots[CONFIG_DEVICE(address)];
}

static void data_io(struct pci_bus *b, unsigned byte, uint8_t *data, uint32_t len, bool is_write)
{
    if (len > 4 || byte + len > 4)
        return;
    struct pci_device *d = selected_device(b, b->config_address);
    if (!d)
        return;
    unsigned reg = CONFIG_REGISTER(b->config_address) + byte;
    if (is_write) {
        uint32_t v = 0;
        for (unsigned i = 0; i < len; i++)
            v |= (uint32_t)data[i] << (8 * i);
        config_write_locked(d, reg, len, v);
    } else {
        uint32_t v = config_read_locked(d, reg, len);
        for (unsigned i = 0; i < len; i++)
            data[i] = (v >> (8 * i)) & 0xff;
    }
}

void pci_config_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct pci_bus *b = opaque;
    if (offset == 1 && len == 1 && b->cf9_fn) {
        b->cf9_fn(b->cf9_opaque, 0, data, len, is_write);
        return;
    }
    if (!is_write)
        memset(data, 0xff, len);
    if (offset >= 8)
        return;
    pthread_mutex_lock(&b->lock);
    if (offset == 0)
        address_register_io(b, data, len, is_write);
    else if (offset >= 4)
        data_io(b, (unsigned)offset - 4, data, len, is_write);
    pthread_mutex_unlock(&b->lock);
}

/* ---- Device set-up ---- */

void pci_device_init(struct pci_device *d, const char *name, uint16_t vendor, uint16_t device,
                     uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
    memset(d, 0, sizeof(*d));
    d->name = name;
    d->slot = -1;
    d->next_cap = HEADER_END;
    put16(d->config, PCI_VENDOR_ID, vendor);
    put16(d->config, PCI_DEVICE_ID, device);
    put32(d->config, PCI_REVISION_ID, (class_code & 0xffffff) << 8 | revision);
    d->config[PCI_HEADER_TYPE] = 0x00;
    put16(d->config, PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor);
    put16(d->config, PCI_SUBSYSTEM_ID, subsys_id);
    put16(d->wmask, PCI_COMMAND, COMMAND_WRITABLE);
    put16(d->w1c, PCI_STATUS, STATUS_W1C_BITS);
    d->wmask[PCI_INTERRUPT_LINE] = 0xff;
}

static bool is_power_of_two(uint64_t v)
{
    return v && !(v & (v - 1));
}

static bool bar_size_ok(enum pci_bar_kind kind, uint64_t size)
{
    if (!is_power_of_two(size))
        return false;
    switch (kind) {
    case PCI_BAR_IO: return size >= 4 && size <= BAR_IO_MAX_SIZE;
    case PCI_BAR_MEM32: return size >= 16 && size <= BAR_MEM32_MAX_SIZE;
    case PCI_BAR_MEM64: return size >= 16 && size <= BAR_MEM64_MAX_SIZE;
    default: return false;
    }
}

/* Type bits read-only; address bits below the size read as zero, so writing ~0 returns ~(size-1). */
static void bar_init_registers(struct pci_device *d, int bar, enum pci_bar_kind kind, uint64_t size, bool prefetchable)
{
    unsigned off = PCI_BAR0 + 4 * (unsigned)bar;
    uint64_t addr_mask = ~(size - 1);
    if (kind == PCI_BAR_IO) {
        put32(d->config, off, BAR_IO_SPACE);
        put32(d->wmask, off, (uint32_t)addr_mask & BAR_IO_ADDR_MASK);
        return;
    }
    uint32_t type = (kind == PCI_BAR_MEM64 ? BAR_MEM_TYPE_64 : 0) | (prefetchable ? BAR_MEM_PREFETCH : 0);
    put32(d->config, off, type);
    put32(d->wmask, off, (uint32_t)addr_mask & BAR_MEM_ADDR_MASK);
    if (kind == PCI_BAR_MEM64) {
        put32(d->config, off + 4, 0);
        put32(d->wmask, off + 4, (uint32_t)(addr_mask >> 32));
    }
}

int pci_device_set_bar(struct pci_device *d, int bar, enum pci_bar_kind kind, uint64_t size,
                       bool prefetchable, bus_access_fn fn, void *opaque)
{
    if (d->bus || bar < 0 || bar >= PCI_BARS || !bar_size_ok(kind, size))
        return -EINVAL;
    if (d->bars[bar].kind != PCI_BAR_NONE || (bar > 0 && d->bars[bar - 1].kind == PCI_BAR_MEM64))
        return -EBUSY;      /* taken, or the upper half of a 64-bit BAR */
    if (kind == PCI_BAR_MEM64 && (bar == PCI_BARS - 1 || d->bars[bar + 1].kind != PCI_BAR_NONE))
        return -EBUSY;
    struct pci_bar *b = &d->bars[bar];
    b->kind = kind;
    b->size = size;
    b->prefetchable = kind != PCI_BAR_IO && prefetchable;
    b->addr = 0;
    b->mapped = false;
    b->fn = fn;
    b->opaque = opaque;
    bar_init_registers(d, bar, kind, size, b->prefetchable);
    return 0;
}

/* First free offset of the capability area (256 once it is full). */
static unsigned capability_free_start(const struct pci_device *d)
{
    if (d->last_cap && d->next_cap == 0)
        return PCI_CONFIG_SIZE;
    return d->next_cap < HEADER_END ? HEADER_END : d->next_cap;
}

/* Capability list (§6.7): each entry is id, next pointer, body; the head is at 0x34. */
int pci_device_add_capability(struct pci_device *d, uint8_t id, uint8_t len)
{
    if (len < 2)
        return -EINVAL;
    unsigned off = (capability_free_start(d) + 3) & ~3u;
    if (off + len > PCI_CONFIG_SIZE)
        return -ENOSPC;
    d->config[off] = id;
    d->config[off + 1] = 0;
    if (d->last_cap)
        d->config[d->last_cap + 1] = (uint8_t)off;
    else
        d->config[PCI_CAPABILITY_LIST] = (uint8_t)off;
    put16(d->config, PCI_STATUS, get16(d->config, PCI_STATUS) | PCI_STATUS_CAP_LIST);
    d->last_cap = (uint8_t)off;
    d->next_cap = (uint8_t)((off + len) & 0xff);   /* 0 with last_cap set: full */
    return (int)off;
}

/* ---- Bus ---- */

static void host_bridge_init(struct pci_bus *b)
{
    struct pci_device *h = &b->host_bridge;
    pci_device_init(h, "i440fx", I440FX_VENDOR, I440FX_DEVICE, 0x060000, I440FX_REVISION, 0, 0);
    memset(h->wmask + I440FX_PAM0, 0xff, I440FX_PAM_COUNT);
    h->wmask[I440FX_SMRAM] = 0xff;
    h->slot = 0;
    h->bus = b;
    b->slots[0] = h;
}

int pci_bus_init(struct pci_bus *b, struct bus *pio, struct bus *mmio,
                 struct irq_line (*intx_for)(void *ctx, unsigned gsi), void *ctx)
{
    memset(b, 0, sizeof(*b));
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init(&b->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc)
        return -rc;
    b->pio = pio;
    b->mmio = mmio;
    b->intx_for = intx_for;
    b->intx_ctx = ctx;
    b->io_next = IO_ASSIGN_START;
    b->mmio32_next = MMIO32_START;
    b->mmio64_next = MMIO64_ASSIGN_START;
    host_bridge_init(b);
    return 0;
}

void pci_bus_destroy(struct pci_bus *b)
{
    pthread_mutex_lock(&b->lock);
    for (int s = 0; s < PCI_SLOTS; s++) {
        struct pci_device *d = b->slots[s];
        if (!d)
            continue;
        for (int i = 0; i < PCI_BARS; i++)
            if (d->bars[i].mapped)
                bar_unmap(d, &d->bars[i]);
        if (d->rom_mapped)
            bus_unregister(b->mmio, d->rom_addr);
        d->rom_mapped = false;
        d->bus = NULL;
        b->slots[s] = NULL;
    }
    pthread_mutex_unlock(&b->lock);
    pthread_mutex_destroy(&b->lock);
}

static int free_slot(const struct pci_bus *b, int slot)
{
    if (slot >= 1 && slot < PCI_SLOTS)
        return b->slots[slot] ? -EBUSY : slot;
    if (slot != -1)
        return -EINVAL;
    for (int s = 1; s < PCI_SLOTS; s++)
        if (!b->slots[s])
            return s;
    return -ENOSPC;
}

/* Naturally aligned placement at *next within [.., limit); false when it does not fit. */
static bool place(uint64_t *next, uint64_t size, uint64_t limit, uint64_t *addr)
{
    uint64_t a = (*next + size - 1) & ~(size - 1);
    if (a < *next || a + size < a || a + size > limit)
        return false;
    *addr = a;
    *next = a + size;
    return true;
}

/* Picks addresses for all BARs (committing the cursors only if every BAR fits). */
static int plan_bars(struct pci_bus *b, const struct pci_device *d, uint64_t addrs[PCI_BARS])
{
    uint64_t io = b->io_next, m32 = b->mmio32_next, m64 = b->mmio64_next;
    for (int i = 0; i < PCI_BARS; i++) {
        const struct pci_bar *bar = &d->bars[i];
        bool ok = true;
        addrs[i] = 0;
        if (bar->kind == PCI_BAR_IO)
            ok = place(&io, bar->size, IO_SPACE_END, &addrs[i]);
        else if (bar->kind == PCI_BAR_MEM32)
            ok = place(&m32, bar->size, MMIO32_END, &addrs[i]);
        else if (bar->kind == PCI_BAR_MEM64)
            ok = place(&m64, bar->size, UINT64_MAX, &addrs[i]);
        if (!ok)
            return -ENOSPC;
    }
    b->io_next = io;
    b->mmio32_next = m32;
    b->mmio64_next = m64;
    return 0;
}

/* Writes the placed addresses as firmware would and turns decoding on for the spaces used. */
static void program_bars(struct pci_device *d, const uint64_t addrs[PCI_BARS])
{
    uint16_t command = get16(d->config, PCI_COMMAND);
    for (int i = 0; i < PCI_BARS; i++) {
        const struct pci_bar *bar = &d->bars[i];
        if (bar->kind == PCI_BAR_NONE)
            continue;
        unsigned off = PCI_BAR0 + 4 * (unsigned)i;
        uint32_t low_bits = get32(d->config, off) & (bar->kind == PCI_BAR_IO ? ~BAR_IO_ADDR_MASK : ~BAR_MEM_ADDR_MASK);
        put32(d->config, off, (uint32_t)addrs[i] | low_bits);
        if (bar->kind == PCI_BAR_MEM64)
            put32(d->config, off + 4, (uint32_t)(addrs[i] >> 32));
        command |= bar->kind == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    }
    put16(d->config, PCI_COMMAND, command);
}

int pci_bus_add(struct pci_bus *b, struct pci_device *d, int slot)
{
    pthread_mutex_lock(&b->lock);
    int rc = d->bus ? -EBUSY : free_slot(b, slot);
    uint64_t addrs[PCI_BARS];
    if (rc >= 0) {
        slot = rc;
        rc = plan_bars(b, d, addrs);
    }
    if (rc < 0) {
        pthread_mutex_unlock(&b->lock);
        return rc;
    }
    program_bars(d, addrs);
    unsigned gsi = pci_intx_gsi(slot, 0);
    d->config[PCI_INTERRUPT_PIN] = 1;                 /* INTA# */
    if (gsi < 256)
        d->config[PCI_INTERRUPT_LINE] = (uint8_t)gsi;
    if (b->intx_for)
        d->intx = b->intx_for(b->intx_ctx, gsi);
    d->slot = slot;
    d->bus = b;
    b->slots[slot] = d;
    bars_update(d);
    intx_update(d);
    pthread_mutex_unlock(&b->lock);
    return 0;
}
