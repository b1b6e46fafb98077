/* Unit tests for the PCI bus: configuration mechanism #1, host bridge, write masks, BAR sizing,
 * placement and moves, capability lists, INTx, and hostile config accesses. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "devices/pci.h"
#include "vmm/bus.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define CF8 0xcf8
#define CFC 0xcfc

static uint32_t config_address(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
}

/* Records what the bus does to one INTx line. */
struct irq_probe {
    int level, calls;
    unsigned gsi, asked_gsi;
};

static void probe_set(void *ctx, unsigned gsi, int level)
{
    struct irq_probe *p = ctx;
    p->level = level;
    p->gsi = gsi;
    p->calls++;
}

static struct irq_line probe_intx_for(void *ctx, unsigned gsi)
{
    struct irq_probe *p = ctx;
    p->asked_gsi = gsi;
    return (struct irq_line){ probe_set, ctx, gsi };
}

/* A device model: its BAR accesses and BAR moves are recorded. */
struct fake {
    struct pci_device pci;
    int accesses;
    uint64_t last_offset;
    int moves;
    int moved_bar;
    uint64_t moved_addr;
    bool moved_mapped;
    int writes_seen;
    unsigned written_offset, written_len;
    uint32_t read_in_hook;
};

static void fake_bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct fake *f = opaque;
    f->accesses++;
    f->last_offset = offset;
    if (!is_write)
        memset(data, 0x5a, len);
}

static void fake_bar_moved(struct pci_device *d, int bar, uint64_t addr, bool mapped)
{
    struct fake *f = d->owner;
    f->moves++;
    f->moved_bar = bar;
    f->moved_addr = addr;
    f->moved_mapped = mapped;
}

static void fake_config_written(struct pci_device *d, unsigned offset, unsigned len)
{
    struct fake *f = d->owner;
    f->writes_seen++;
    f->written_offset = offset;
    f->written_len = len;
    f->read_in_hook = pci_config_read(d, PCI_VENDOR_ID, 2);   /* the bus lock is recursive */
}

static void fake_init(struct fake *f, uint16_t device_id)
{
    memset(f, 0, sizeof(*f));
    pci_device_init(&f->pci, "fake", 0x1af4, device_id, 0x020000, 0x01, 0x1af4, 0x0001);
    f->pci.owner = f;
    f->pci.bar_moved = fake_bar_moved;
    f->pci.config_written = fake_config_written;
}

struct machine {
    struct bus pio, mmio;
    struct pci_bus pci;
    struct irq_probe irq;
};

static void machine_init(struct machine *m)
{
    memset(m, 0, sizeof(*m));
    bus_init(&m->pio, "pio");
    bus_init(&m->mmio, "mmio");
    pci_bus_init(&m->pci, &m->pio, &m->mmio, probe_intx_for, &m->irq);
    bus_register(&m->pio, CF8, 8, pci_config_io, &m->pci, "pci-config");
}

static void machine_destroy(struct machine *m)
{
    pci_bus_destroy(&m->pci);
    bus_destroy(&m->mmio);
    bus_destroy(&m->pio);
}

static uint32_t port_read(struct machine *m, uint64_t port, unsigned len)
{
    uint8_t data[4] = { 0 };
    bus_dispatch(&m->pio, port, data, len, false);
    uint32_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint32_t)data[i] << (8 * i);
    return v;
}

static void port_write(struct machine *m, uint64_t port, unsigned len, uint32_t v)
{
    uint8_t data[4];
    for (unsigned i = 0; i < 4; i++)
        data[i] = (v >> (8 * i)) & 0xff;
    bus_dispatch(&m->pio, port, data, len, true);
}

static uint32_t cfg_read(struct machine *m, unsigned dev, unsigned reg, unsigned len)
{
    port_write(m, CF8, 4, config_address(0, dev, 0, reg));
    return port_read(m, CFC + (reg & 3), len);
}

static void cfg_write(struct machine *m, unsigned dev, unsigned reg, unsigned len, uint32_t v)
{
    port_write(m, CF8, 4, config_address(0, dev, 0, reg));
    port_write(m, CFC + (reg & 3), len, v);
}

static bool mmio_hits(struct machine *m, uint64_t addr)
{
    uint8_t data[4];
    return bus_dispatch(&m->mmio, addr, data, 4, false);
}

static bool pio_hits(struct machine *m, uint64_t addr)
{
    uint8_t data[4];
    return bus_dispatch(&m->pio, addr, data, 1, false);
}

/* ---- Configuration mechanism #1 ---- */

TEST(host_bridge_ids)
{
    struct machine m;
    machine_init(&m);
    CHECK_EQ(cfg_read(&m, 0, PCI_VENDOR_ID, 4), 0x12378086);
    CHECK_EQ(cfg_read(&m, 0, PCI_REVISION_ID, 4), 0x06000002);
    CHECK_EQ(cfg_read(&m, 0, PCI_HEADER_TYPE, 1), 0);
    CHECK_EQ(cfg_read(&m, 0, PCI_INTERRUPT_PIN, 1), 0);
    machine_destroy(&m);
}

TEST(host_bridge_pam_registers_hold_values)
{
    struct machine m;
    machine_init(&m);
    cfg_write(&m, 0, 0x59, 1, 0x30);
    cfg_write(&m, 0, 0x5a, 1, 0x33);
    CHECK_EQ(cfg_read(&m, 0, 0x59, 1), 0x30);
    CHECK_EQ(cfg_read(&m, 0, 0x5a, 1), 0x33);
    machine_destroy(&m);
}

TEST(config_address_reads_back_without_reserved_bits)
{
    struct machine m;
    machine_init(&m);
    port_write(&m, CF8, 4, 0x80001234);
    CHECK_EQ(port_read(&m, CF8, 4), 0x80001234);
    port_write(&m, CF8, 4, 0xff000003);
    CHECK_EQ(port_read(&m, CF8, 4), 0x80000000);
    machine_destroy(&m);
}

TEST(config_address_needs_dword_access)
{
    struct machine m;
    machine_init(&m);
    port_write(&m, CF8, 4, 0x80000000);
    port_write(&m, CF8 + 3, 1, 0x01);     /* Linux's type-1 probe pokes 0xcfb */
    port_write(&m, CF8, 2, 0x1234);
    CHECK_EQ(port_read(&m, CF8, 4), 0x80000000);
    CHECK_EQ(port_read(&m, CF8, 2), 0xffff);
    CHECK_EQ(port_read(&m, CF8 + 2, 1), 0xff);
    machine_destroy(&m);
}

TEST(data_needs_enable_bit)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 1), 0);
    uint16_t command = f.pci.config[PCI_COMMAND];
    port_write(&m, CF8, 4, config_address(0, 1, 0, 0) & ~0x80000000u);
    CHECK_EQ(port_read(&m, CFC, 4), 0xffffffff);
    port_write(&m, CF8, 4, config_address(0, 1, 0, PCI_COMMAND) & ~0x80000000u);
    port_write(&m, CFC, 2, PCI_COMMAND_INTX_DISABLE | PCI_COMMAND_MASTER);
    CHECK_EQ(f.pci.config[PCI_COMMAND], command);
    CHECK_EQ(f.writes_seen, 0);
    machine_destroy(&m);
}

TEST(byte_word_dword_widths)
{
    struct machine m;
    machine_init(&m);
    port_write(&m, CF8, 4, config_address(0, 0, 0, 0));
    CHECK_EQ(port_read(&m, CFC, 1), 0x86);
    CHECK_EQ(port_read(&m, CFC + 1, 1), 0x80);
    CHECK_EQ(port_read(&m, CFC + 2, 1), 0x37);
    CHECK_EQ(port_read(&m, CFC + 3, 1), 0x12);
    CHECK_EQ(port_read(&m, CFC, 2), 0x8086);
    CHECK_EQ(port_read(&m, CFC + 1, 2), 0x3780);
    CHECK_EQ(port_read(&m, CFC + 2, 2), 0x1237);
    CHECK_EQ(port_read(&m, CFC, 4), 0x12378086);
    CHECK_EQ(cfg_read(&m, 0, PCI_CLASS_DEVICE, 2), 0x0600);
    machine_destroy(&m);
}

TEST(device_number_decodes_slot)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1041);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 3), 0);
    CHECK_EQ(cfg_read(&m, 3, 0, 4), 0x10411af4);
    CHECK_EQ(cfg_read(&m, 2, 0, 4), 0xffffffff);
    CHECK_EQ(cfg_read(&m, 4, 0, 4), 0xffffffff);
    CHECK_EQ(cfg_read(&m, 31, 0, 2), 0xffff);
    CHECK_EQ(cfg_read(&m, 3, PCI_SUBSYSTEM_ID, 2), 0x0001);
    machine_destroy(&m);
}

TEST(functions_1_to_7_are_absent)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 1), 0);
    for (unsigned fn = 1; fn < 8; fn++) {
        port_write(&m, CF8, 4, config_address(0, 1, fn, 0));
        CHECK_EQ(port_read(&m, CFC, 4), 0xffffffff);
        port_write(&m, CF8, 4, config_address(0, 0, fn, 0));
        CHECK_EQ(port_read(&m, CFC, 4), 0xffffffff);
        port_write(&m, CF8, 4, config_address(0, 1, fn, PCI_INTERRUPT_LINE));
        port_write(&m, CFC, 1, 0x0b);
    }
    CHECK_EQ(f.pci.config[PCI_INTERRUPT_LINE], 17);
    CHECK_EQ(f.writes_seen, 0);
    machine_destroy(&m);
}

TEST(other_buses_read_all_ones)
{
    struct machine m;
    machine_init(&m);
    port_write(&m, CF8, 4, config_address(1, 0, 0, 0));
    CHECK_EQ(port_read(&m, CFC, 4), 0xffffffff);
    port_write(&m, CF8, 4, config_address(255, 0, 0, 0));
    CHECK_EQ(port_read(&m, CFC, 2), 0xffff);
    port_write(&m, CF8, 4, config_address(1, 0, 0, PCI_COMMAND));
    port_write(&m, CFC, 2, 0xffff);
    CHECK_EQ(cfg_read(&m, 0, PCI_COMMAND, 2), 0);
    machine_destroy(&m);
}

TEST(cross_dword_data_access_ignored)
{
    struct machine m;
    machine_init(&m);
    port_write(&m, CF8, 4, config_address(0, 0, 0, 0));
    uint8_t data[8];
    memset(data, 0, sizeof(data));
    pci_config_io(&m.pci, 7, data, 2, false);       /* 0xcff as a word crosses the window */
    CHECK_EQ(data[0], 0xff);
    CHECK_EQ(data[1], 0xff);
    pci_config_io(&m.pci, 5, data, 4, false);
    CHECK_EQ(data[3], 0xff);
    pci_config_io(&m.pci, 4, data, 8, false);
    CHECK_EQ(data[7], 0xff);
    pci_config_io(&m.pci, 8, data, 1, false);       /* beyond the 8 ports */
    CHECK_EQ(data[0], 0xff);
    data[0] = 0x12;
    data[1] = 0x34;
    pci_config_io(&m.pci, 6, data, 4, true);
    CHECK_EQ(port_read(&m, CF8, 4), config_address(0, 0, 0, 0));
    CHECK_EQ(cfg_read(&m, 0, 0, 4), 0x12378086);
    machine_destroy(&m);
}

struct cf9_probe {
    int calls;
    uint64_t offset;
    uint8_t value;
};

static void cf9_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct cf9_probe *p = opaque;
    (void)len;
    p->calls++;
    p->offset = offset;
    if (is_write)
        p->value = data[0];
    else
        data[0] = 0x0a;
}

TEST(reset_control_port_forwarded)
{
    struct machine m;
    machine_init(&m);
    struct cf9_probe p = { 0 };
    m.pci.cf9_fn = cf9_io;
    m.pci.cf9_opaque = &p;
    port_write(&m, CF8, 4, 0x80000800);
    port_write(&m, 0xcf9, 1, 0x06);
    CHECK_EQ(p.calls, 1);
    CHECK_EQ(p.offset, 0);
    CHECK_EQ(p.value, 0x06);
    CHECK_EQ(port_read(&m, 0xcf9, 1), 0x0a);
    CHECK_EQ(port_read(&m, CF8, 4), 0x80000800);
    CHECK_EQ(p.calls, 2);
    machine_destroy(&m);
}

TEST(hostile_config_offsets_and_lengths)
{
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_config_read(&f.pci, 255, 4), 0xffffffff);
    CHECK_EQ(pci_config_read(&f.pci, 256, 1), 0xff);
    CHECK_EQ(pci_config_read(&f.pci, 0xffffffffu, 2), 0xffff);
    CHECK_EQ(pci_config_read(&f.pci, 0, 3), 0xffffffff);
    CHECK_EQ(pci_config_read(&f.pci, 0, 0), 0xffffffff);
    CHECK_EQ(pci_config_read(&f.pci, 3, 2), 0xffff);
    CHECK_EQ(pci_config_read(&f.pci, 2, 4), 0xffffffff);
    uint8_t before[PCI_CONFIG_SIZE];
    memcpy(before, f.pci.config, sizeof(before));
    pci_config_write(&f.pci, 255, 4, 0);
    pci_config_write(&f.pci, 0x3e, 4, 0);
    pci_config_write(&f.pci, 0x3c, 8, 0);
    pci_config_write(&f.pci, 0x3c, 3, 0);
    pci_config_write(&f.pci, 0x3b, 2, 0);
    pci_config_write(&f.pci, 4096, 1, 0);
    CHECK(memcmp(before, f.pci.config, sizeof(before)) == 0);
    CHECK_EQ(f.writes_seen, 0);
}

/* ---- Write masks ---- */

TEST(ids_class_and_header_are_read_only)
{
    struct fake f;
    fake_init(&f, 0x1000);
    pci_config_write(&f.pci, PCI_VENDOR_ID, 4, 0);
    pci_config_write(&f.pci, PCI_REVISION_ID, 4, 0xffffffff);
    pci_config_write(&f.pci, 0x0c, 4, 0xffffffff);
    pci_config_write(&f.pci, PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
    CHECK_EQ(pci_config_read(&f.pci, PCI_VENDOR_ID, 4), 0x10001af4);
    CHECK_EQ(pci_config_read(&f.pci, PCI_REVISION_ID, 4), 0x02000001);
    CHECK_EQ(pci_config_read(&f.pci, PCI_HEADER_TYPE, 1), 0);
    CHECK_EQ(pci_config_read(&f.pci, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00011af4);
    CHECK_EQ(f.writes_seen, 4);
}

TEST(command_write_mask)
{
    struct fake f;
    fake_init(&f, 0x1000);
    pci_config_write(&f.pci, PCI_COMMAND, 2, 0xffff);
    CHECK_EQ(pci_config_read(&f.pci, PCI_COMMAND, 2), 0x0407);
    pci_config_write(&f.pci, PCI_COMMAND + 1, 1, 0x00);
    CHECK_EQ(pci_config_read(&f.pci, PCI_COMMAND, 2), 0x0007);
    pci_config_write(&f.pci, PCI_COMMAND, 2, 0);
    CHECK_EQ(pci_config_read(&f.pci, PCI_COMMAND, 2), 0);
}

TEST(status_error_bits_are_write_one_to_clear)
{
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 4) > 0);
    f.pci.config[PCI_STATUS + 1] = 0xf9;          /* device latched every error bit */
    pci_config_write(&f.pci, PCI_STATUS, 2, 0x0100);
    CHECK_EQ(pci_config_read(&f.pci, PCI_STATUS, 2), 0xf810);
    pci_config_write(&f.pci, PCI_COMMAND, 4, 0x80000000);   /* dword write: command 0, status bit 15 */
    CHECK_EQ(pci_config_read(&f.pci, PCI_STATUS, 2), 0x7810);
    pci_config_write(&f.pci, PCI_STATUS, 2, 0xffff);
    CHECK_EQ(pci_config_read(&f.pci, PCI_STATUS, 2), PCI_STATUS_CAP_LIST);
}

TEST(interrupt_line_writable_pin_not)
{
    struct fake f;
    fake_init(&f, 0x1000);
    pci_config_write(&f.pci, PCI_INTERRUPT_LINE, 2, 0x040b);
    CHECK_EQ(pci_config_read(&f.pci, PCI_INTERRUPT_LINE, 1), 0x0b);
    CHECK_EQ(pci_config_read(&f.pci, PCI_INTERRUPT_PIN, 1), 0);
}

/* ---- BAR sizing (§6.2.5.1) ---- */

TEST(bar_sizing_io)
{
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_IO, 32, false, fake_bar_io, &f), 0);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0, 4), 0x1);
    pci_config_write(&f.pci, PCI_BAR0, 4, 0xffffffff);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0, 4), 0xffffffe1);
    pci_config_write(&f.pci, PCI_BAR0, 4, 0xc040);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0, 4), 0xc041);
}

TEST(bar_sizing_mem32_and_prefetchable)
{
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_device_set_bar(&f.pci, 1, PCI_BAR_MEM32, 0x1000, false, fake_bar_io, &f), 0);
    CHECK_EQ(pci_device_set_bar(&f.pci, 2, PCI_BAR_MEM32, 0x100000, true, fake_bar_io, &f), 0);
    pci_config_write(&f.pci, PCI_BAR0 + 4, 4, 0xffffffff);
    pci_config_write(&f.pci, PCI_BAR0 + 8, 4, 0xffffffff);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0 + 4, 4), 0xfffff000);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0 + 8, 4), 0xfff00008);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0, 4), 0);            /* unimplemented BAR */
    pci_config_write(&f.pci, PCI_BAR0, 4, 0xffffffff);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0, 4), 0);
}

TEST(bar_sizing_mem64_with_upper_half)
{
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM64, 0x4000, true, fake_bar_io, &f), 0);
    CHECK_EQ(pci_device_set_bar(&f.pci, 2, PCI_BAR_MEM64, 8ull << 30, false, fake_bar_io, &f), 0);
    CHECK_EQ(f.pci.bars[1].kind, PCI_BAR_NONE);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0, 4), 0xc);
    for (unsigned bar = 0; bar < 4; bar++)
        pci_config_write(&f.pci, PCI_BAR0 + 4 * bar, 4, 0xffffffff);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0, 4), 0xffffc00c);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0 + 4, 4), 0xffffffff);
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0 + 8, 4), 0x4);       /* 8 GiB: no low address bits */
    CHECK_EQ(pci_config_read(&f.pci, PCI_BAR0 + 12, 4), 0xfffffffe);
}

TEST(set_bar_rejects_bad_shapes)
{
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 0x1800, false, NULL, NULL), -EINVAL);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 8, false, NULL, NULL), -EINVAL);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_IO, 512, false, NULL, NULL), -EINVAL);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_IO, 2, false, NULL, NULL), -EINVAL);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_NONE, 16, false, NULL, NULL), -EINVAL);
    CHECK_EQ(pci_device_set_bar(&f.pci, 6, PCI_BAR_MEM32, 16, false, NULL, NULL), -EINVAL);
    CHECK_EQ(pci_device_set_bar(&f.pci, -1, PCI_BAR_MEM32, 16, false, NULL, NULL), -EINVAL);
    CHECK_EQ(pci_device_set_bar(&f.pci, 5, PCI_BAR_MEM64, 16, false, NULL, NULL), -EBUSY);
    CHECK_EQ(pci_device_set_bar(&f.pci, 2, PCI_BAR_MEM64, 16, false, NULL, NULL), 0);
    CHECK_EQ(pci_device_set_bar(&f.pci, 3, PCI_BAR_MEM32, 16, false, NULL, NULL), -EBUSY);
    CHECK_EQ(pci_device_set_bar(&f.pci, 2, PCI_BAR_MEM32, 16, false, NULL, NULL), -EBUSY);
    CHECK_EQ(pci_device_set_bar(&f.pci, 1, PCI_BAR_MEM64, 16, false, NULL, NULL), -EBUSY);
}

/* ---- Placement by pci_bus_add ---- */

TEST(bus_add_places_bars_like_firmware)
{
    struct machine m;
    machine_init(&m);
    struct fake a, b;
    fake_init(&a, 0x1000);
    fake_init(&b, 0x1001);
    CHECK_EQ(pci_device_set_bar(&a.pci, 0, PCI_BAR_IO, 0x20, false, fake_bar_io, &a), 0);
    CHECK_EQ(pci_device_set_bar(&a.pci, 1, PCI_BAR_MEM32, 0x1000, false, fake_bar_io, &a), 0);
    CHECK_EQ(pci_device_set_bar(&a.pci, 4, PCI_BAR_MEM64, 0x4000, true, fake_bar_io, &a), 0);
    CHECK_EQ(pci_device_set_bar(&b.pci, 0, PCI_BAR_IO, 0x40, false, fake_bar_io, &b), 0);
    CHECK_EQ(pci_device_set_bar(&b.pci, 1, PCI_BAR_MEM32, 0x2000, false, fake_bar_io, &b), 0);
    CHECK_EQ(pci_bus_add(&m.pci, &a.pci, -1), 0);
    CHECK_EQ(pci_bus_add(&m.pci, &b.pci, -1), 0);
    CHECK_EQ(a.pci.slot, 1);
    CHECK_EQ(b.pci.slot, 2);
    CHECK_EQ(cfg_read(&m, 1, PCI_BAR0, 4), 0xc001);
    CHECK_EQ(cfg_read(&m, 1, PCI_BAR0 + 4, 4), 0xc0000000);
    CHECK_EQ(cfg_read(&m, 1, PCI_BAR0 + 16, 4), 0x0000000c);
    CHECK_EQ(cfg_read(&m, 1, PCI_BAR0 + 20, 4), 0x8);
    CHECK_EQ(cfg_read(&m, 2, PCI_BAR0, 4), 0xc041);               /* 64-byte aligned */
    CHECK_EQ(cfg_read(&m, 2, PCI_BAR0 + 4, 4), 0xc0002000);       /* 8 KiB aligned */
    CHECK_EQ(cfg_read(&m, 1, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    CHECK(a.pci.bars[0].mapped && a.pci.bars[1].mapped && a.pci.bars[4].mapped);
    CHECK_EQ(a.pci.bars[4].addr, 0x800000000ull);
    CHECK(mmio_hits(&m, 0xc0000ff0));
    CHECK_EQ(a.last_offset, 0xff0);
    CHECK(mmio_hits(&m, 0x800000010ull));
    CHECK_EQ(a.last_offset, 0x10);
    CHECK(pio_hits(&m, 0xc044));
    CHECK_EQ(b.last_offset, 4);
    CHECK_EQ(m.pci.io_next, 0xc080);
    CHECK_EQ(m.pci.mmio32_next, 0xc0004000);
    CHECK_EQ(m.pci.mmio64_next, 0x800004000ull);
    machine_destroy(&m);
}

TEST(bus_add_wires_intx)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 13), 0);
    CHECK_EQ(m.irq.asked_gsi, pci_intx_gsi(13, 0));
    CHECK_EQ(m.irq.asked_gsi, 21);
    CHECK_EQ(cfg_read(&m, 13, PCI_INTERRUPT_PIN, 1), 1);
    CHECK_EQ(cfg_read(&m, 13, PCI_INTERRUPT_LINE, 1), 21);
    CHECK_EQ(f.pci.intx.gsi, 21);
    CHECK_EQ(cfg_read(&m, 13, PCI_COMMAND, 2), 0);                /* no BARs, nothing to decode */
    machine_destroy(&m);
}

TEST(bus_add_slot_rules)
{
    struct machine m;
    machine_init(&m);
    struct fake a, b, c;
    fake_init(&a, 0x1000);
    fake_init(&b, 0x1001);
    fake_init(&c, 0x1002);
    CHECK_EQ(pci_bus_add(&m.pci, &a.pci, 0), -EINVAL);
    CHECK_EQ(pci_bus_add(&m.pci, &a.pci, 32), -EINVAL);
    CHECK_EQ(pci_bus_add(&m.pci, &a.pci, -2), -EINVAL);
    CHECK_EQ(pci_bus_add(&m.pci, &a.pci, 1), 0);
    CHECK_EQ(pci_bus_add(&m.pci, &a.pci, 2), -EBUSY);
    CHECK_EQ(pci_bus_add(&m.pci, &b.pci, 1), -EBUSY);
    CHECK_EQ(pci_bus_add(&m.pci, &b.pci, 31), 0);
    CHECK_EQ(pci_bus_add(&m.pci, &c.pci, -1), 0);
    CHECK_EQ(c.pci.slot, 2);
    machine_destroy(&m);
}

TEST(bus_add_refuses_when_window_full)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 0x1000, false, fake_bar_io, &f), 0);
    CHECK_EQ(pci_device_set_bar(&f.pci, 1, PCI_BAR_IO, 0x100, false, fake_bar_io, &f), 0);
    m.pci.io_next = 0xff80;
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, -1), -ENOSPC);
    CHECK(f.pci.bus == NULL);
    CHECK_EQ(m.pci.mmio32_next, 0xc0000000);                     /* nothing consumed */
    CHECK_EQ(cfg_read(&m, 1, 0, 4), 0xffffffff);
    machine_destroy(&m);
}

/* ---- BAR moves and decoding ---- */

static void add_mem_io_device(struct machine *m, struct fake *f)
{
    fake_init(f, 0x1000);
    pci_device_set_bar(&f->pci, 0, PCI_BAR_IO, 0x20, false, fake_bar_io, f);
    pci_device_set_bar(&f->pci, 1, PCI_BAR_MEM32, 0x1000, false, fake_bar_io, f);
    pci_device_set_bar(&f->pci, 2, PCI_BAR_MEM64, 0x4000, false, fake_bar_io, f);
    pci_bus_add(&m->pci, &f->pci, 1);
    f->moves = 0;
}

TEST(bar_move_remaps_and_notifies)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    add_mem_io_device(&m, &f);
    CHECK(mmio_hits(&m, 0xc0000000));
    cfg_write(&m, 1, PCI_BAR0 + 4, 4, 0xd0000000);
    CHECK(!mmio_hits(&m, 0xc0000000));
    CHECK(mmio_hits(&m, 0xd0000008));
    CHECK_EQ(f.last_offset, 8);
    CHECK_EQ(f.moves, 1);
    CHECK_EQ(f.moved_bar, 1);
    CHECK_EQ(f.moved_addr, 0xd0000000);
    CHECK(f.moved_mapped);
    cfg_write(&m, 1, PCI_BAR0 + 4, 4, 0xd0000000);                /* same address: nothing */
    CHECK_EQ(f.moves, 1);
    cfg_write(&m, 1, PCI_BAR0, 4, 0xe000);
    CHECK(!pio_hits(&m, 0xc000));
    CHECK(pio_hits(&m, 0xe01f));
    CHECK_EQ(f.moved_bar, 0);
    CHECK_EQ(f.moved_addr, 0xe000);
    machine_destroy(&m);
}

TEST(mem64_bar_moves_with_either_half)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    add_mem_io_device(&m, &f);
    CHECK(mmio_hits(&m, 0x800000000ull));
    cfg_write(&m, 1, PCI_BAR0 + 12, 4, 0x10);                     /* upper half */
    CHECK(!mmio_hits(&m, 0x800000000ull));
    CHECK(mmio_hits(&m, 0x1000000000ull));
    CHECK_EQ(f.moved_bar, 2);
    CHECK_EQ(f.moved_addr, 0x1000000000ull);
    cfg_write(&m, 1, PCI_BAR0 + 12, 4, 0);
    cfg_write(&m, 1, PCI_BAR0 + 8, 4, 0xc0100000);               /* below 4 GiB, in the hole */
    CHECK(mmio_hits(&m, 0xc0103ffc));
    CHECK_EQ(f.pci.bars[2].addr, 0xc0100000);
    CHECK_EQ(f.pci.bars[3].kind, PCI_BAR_NONE);
    machine_destroy(&m);
}

TEST(command_memory_and_io_toggle_decoding)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    add_mem_io_device(&m, &f);
    cfg_write(&m, 1, PCI_COMMAND, 2, PCI_COMMAND_IO);
    CHECK(!mmio_hits(&m, 0xc0000000));
    CHECK(!mmio_hits(&m, 0x800000000ull));
    CHECK(pio_hits(&m, 0xc000));
    CHECK_EQ(f.moves, 2);
    CHECK_EQ(f.moved_addr, 0);
    CHECK(!f.moved_mapped);
    CHECK(!f.pci.bars[1].mapped);
    cfg_write(&m, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    CHECK(mmio_hits(&m, 0xc0000000));
    CHECK(!pio_hits(&m, 0xc000));
    CHECK_EQ(f.moves, 5);
    cfg_write(&m, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    CHECK(pio_hits(&m, 0xc000));
    CHECK_EQ(f.moves, 6);
    CHECK_EQ(f.moved_bar, 0);
    CHECK(f.moved_mapped);
    machine_destroy(&m);
}

TEST(sizing_with_decode_on_unmaps_then_restores)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    add_mem_io_device(&m, &f);
    cfg_write(&m, 1, PCI_BAR0 + 4, 4, 0xffffffff);
    CHECK_EQ(cfg_read(&m, 1, PCI_BAR0 + 4, 4), 0xfffff000);
    CHECK(!f.pci.bars[1].mapped);                                  /* 0xfffff000 is not in the hole */
    CHECK(!mmio_hits(&m, 0xc0000000));
    cfg_write(&m, 1, PCI_BAR0 + 4, 4, 0xc0000000);
    CHECK(f.pci.bars[1].mapped);
    CHECK(mmio_hits(&m, 0xc0000000));
    machine_destroy(&m);
}

TEST(bar_at_illegal_address_stays_unmapped)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    add_mem_io_device(&m, &f);
    static const uint32_t bad32[] = { 0x00100000, 0xbffff000, 0xfec00000, 0xfee00000, 0xfffff000 };
    for (unsigned i = 0; i < sizeof(bad32) / sizeof(bad32[0]); i++) {
        cfg_write(&m, 1, PCI_BAR0 + 4, 4, bad32[i]);
        CHECK(!f.pci.bars[1].mapped);
        CHECK(!mmio_hits(&m, bad32[i]));
    }
    cfg_write(&m, 1, PCI_BAR0 + 4, 4, 0xfebff000);                /* last page below the IOAPIC */
    CHECK(f.pci.bars[1].mapped);
    cfg_write(&m, 1, PCI_BAR0 + 8, 4, 0xffffc000);                /* 64-bit, wraps past 2^64 */
    cfg_write(&m, 1, PCI_BAR0 + 12, 4, 0xffffffff);
    CHECK(!f.pci.bars[2].mapped);
    cfg_write(&m, 1, PCI_BAR0 + 12, 4, 0);                        /* 64-bit BAR over low RAM */
    cfg_write(&m, 1, PCI_BAR0 + 8, 4, 0x10000000);
    CHECK(!f.pci.bars[2].mapped);
    cfg_write(&m, 1, PCI_BAR0, 4, 0xffe0);                         /* I/O ending at 64 KiB */
    CHECK(f.pci.bars[0].mapped);
    cfg_write(&m, 1, PCI_BAR0, 4, 0x1ffe0);                        /* I/O past 64 KiB */
    CHECK(!f.pci.bars[0].mapped);
    cfg_write(&m, 1, PCI_BAR0, 4, 0x10000);
    CHECK(!f.pci.bars[0].mapped);
    cfg_write(&m, 1, PCI_BAR0, 4, 0);
    CHECK(!f.pci.bars[0].mapped);
    CHECK(!pio_hits(&m, 0));
    machine_destroy(&m);
}

TEST(bar_colliding_with_a_registration_stays_unmapped)
{
    struct machine m;
    machine_init(&m);
    struct fake f, other;
    add_mem_io_device(&m, &f);
    memset(&other, 0, sizeof(other));
    CHECK_EQ(bus_register(&m.mmio, 0xd0000800, 0x100, fake_bar_io, &other, "other"), 0);
    cfg_write(&m, 1, PCI_BAR0 + 4, 4, 0xd0000000);
    CHECK(!f.pci.bars[1].mapped);
    CHECK(!f.moved_mapped);
    CHECK(!mmio_hits(&m, 0xc0000000));
    CHECK(mmio_hits(&m, 0xd0000800));
    CHECK_EQ(other.accesses, 1);
    CHECK_EQ(f.accesses, 0);
    cfg_write(&m, 1, PCI_BAR0, 4, 0xcf8);                          /* over the config ports */
    CHECK(!f.pci.bars[0].mapped);
    CHECK_EQ(cfg_read(&m, 0, 0, 4), 0x12378086);
    machine_destroy(&m);
}

TEST(bar_without_callback_is_left_to_the_device)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_device_set_bar(&f.pci, 0, PCI_BAR_MEM32, 0x100000, true, NULL, NULL), 0);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 1), 0);
    CHECK(f.pci.bars[0].mapped);
    CHECK_EQ(f.moves, 1);
    CHECK_EQ(f.moved_addr, 0xc0000000);
    CHECK(!mmio_hits(&m, 0xc0000000));
    machine_destroy(&m);
}

TEST(destroy_unregisters_bars)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    add_mem_io_device(&m, &f);
    pci_bus_destroy(&m.pci);
    CHECK(!mmio_hits(&m, 0xc0000000));
    CHECK(!pio_hits(&m, 0xc000));
    CHECK(f.pci.bus == NULL);
    bus_destroy(&m.mmio);
    bus_destroy(&m.pio);
}

/* ---- Capabilities (§6.7) ---- */

TEST(capability_chain_walk)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_config_read(&f.pci, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 5), 0x40);
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_MSIX, 12), 0x48);
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 3), 0x54);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 1), 0);
    CHECK(cfg_read(&m, 1, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    static const uint8_t ids[] = { PCI_CAP_ID_VNDR, PCI_CAP_ID_MSIX, PCI_CAP_ID_VNDR };
    unsigned pos = cfg_read(&m, 1, PCI_CAPABILITY_LIST, 1), n = 0;
    while (pos && n < 10) {
        CHECK_EQ(pos & 3, 0);
        CHECK(pos >= 0x40);
        CHECK(n < 3);
        CHECK_EQ(cfg_read(&m, 1, pos, 1), ids[n]);
        pos = cfg_read(&m, 1, pos + 1, 1);
        n++;
    }
    CHECK_EQ(n, 3);
    machine_destroy(&m);
}

TEST(capability_space_runs_out)
{
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 1), -EINVAL);
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 0xb0), 0x40);
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 0x11), -ENOSPC);
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 0x10), 0xf0);   /* ends at 256 */
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 2), -ENOSPC);
    CHECK_EQ(f.pci.config[0x41], 0xf0);
    CHECK_EQ(f.pci.config[0xf1], 0);
}

TEST(capability_header_is_read_only)
{
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_device_add_capability(&f.pci, PCI_CAP_ID_VNDR, 4), 0x40);
    pci_config_write(&f.pci, 0x40, 2, 0xffff);
    pci_config_write(&f.pci, PCI_CAPABILITY_LIST, 1, 0x80);
    CHECK_EQ(pci_config_read(&f.pci, 0x40, 2), PCI_CAP_ID_VNDR);
    CHECK_EQ(pci_config_read(&f.pci, PCI_CAPABILITY_LIST, 1), 0x40);
}

/* ---- INTx ---- */

TEST(intx_follows_device_level_and_status)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 2), 0);
    pci_set_intx(&f.pci, 1);
    CHECK_EQ(m.irq.level, 1);
    CHECK_EQ(m.irq.gsi, 18);
    CHECK(cfg_read(&m, 2, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    pci_set_intx(&f.pci, 1);
    CHECK_EQ(m.irq.calls, 1);                                      /* no repeated edges */
    pci_set_intx(&f.pci, 0);
    CHECK_EQ(m.irq.level, 0);
    CHECK_EQ(cfg_read(&m, 2, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
    cfg_write(&m, 2, PCI_STATUS, 2, PCI_STATUS_INTERRUPT);         /* read-only for the guest */
    pci_set_intx(&f.pci, 1);
    cfg_write(&m, 2, PCI_STATUS, 2, 0xffff);
    CHECK(cfg_read(&m, 2, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    machine_destroy(&m);
}

TEST(intx_disable_masks_the_line)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 2), 0);
    pci_set_intx(&f.pci, 1);
    cfg_write(&m, 2, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
    CHECK_EQ(m.irq.level, 0);
    CHECK(cfg_read(&m, 2, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);  /* still pending */
    cfg_write(&m, 2, PCI_COMMAND, 2, 0);
    CHECK_EQ(m.irq.level, 1);
    cfg_write(&m, 2, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
    pci_set_intx(&f.pci, 0);
    pci_set_intx(&f.pci, 1);
    CHECK_EQ(m.irq.level, 0);
    pci_set_intx(&f.pci, 0);
    cfg_write(&m, 2, PCI_COMMAND, 2, 0);
    CHECK_EQ(m.irq.level, 0);
    machine_destroy(&m);
}

TEST(config_written_hook_sees_accepted_writes)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    CHECK_EQ(pci_bus_add(&m.pci, &f.pci, 1), 0);
    cfg_write(&m, 1, PCI_INTERRUPT_LINE, 1, 5);
    CHECK_EQ(f.writes_seen, 1);
    CHECK_EQ(f.written_offset, PCI_INTERRUPT_LINE);
    CHECK_EQ(f.written_len, 1);
    CHECK_EQ(f.read_in_hook, 0x1af4);
    cfg_write(&m, 1, PCI_COMMAND + 1, 1, 4);
    CHECK_EQ(f.written_offset, PCI_COMMAND + 1);
    port_write(&m, CF8, 4, config_address(0, 1, 0, 0xfc));
    uint8_t data[4] = { 0 };
    pci_config_io(&m.pci, 7, data, 2, true);                       /* 0xff-0x100: ignored */
    CHECK_EQ(f.writes_seen, 2);
    machine_destroy(&m);
}

/* ---- Several vCPU threads at once ---- */

struct hammer {
    struct machine *m;
    struct fake *f;
    int id;
};

static void *hammer_config(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < 2000; i++) {
        if (h->id == 0) {
            pci_set_intx(&h->f->pci, i & 1);
        } else {
            uint16_t command = (i & 1) ? PCI_COMMAND_MEMORY : PCI_COMMAND_IO;
            pci_config_write(&h->f->pci, PCI_COMMAND, 2, command | PCI_COMMAND_INTX_DISABLE * (h->id & 1));
            if (pci_config_read(&h->f->pci, PCI_VENDOR_ID, 2) != 0x1af4)
                return arg;
        }
    }
    return NULL;
}

TEST(concurrent_config_writes_and_intx)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    add_mem_io_device(&m, &f);
    pthread_t threads[4];
    struct hammer h[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){ &m, &f, i };
        CHECK_EQ(pthread_create(&threads[i], NULL, hammer_config, &h[i]), 0);
    }
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        void *rc;
        pthread_join(threads[i], &rc);
        bad += rc != NULL;
    }
    CHECK_EQ(bad, 0);
    pci_set_intx(&f.pci, 0);
    cfg_write(&m, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
    CHECK(mmio_hits(&m, 0xc0000000));
    CHECK(pio_hits(&m, 0xc000));
    CHECK(mmio_hits(&m, 0x800000000ull));
    CHECK_EQ(m.irq.level, 0);
    machine_destroy(&m);
}

/* ---- Expansion ROM ---- */

TEST(expansion_rom_sizing_enable_and_reads)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    static uint8_t rom[3000];
    for (size_t i = 0; i < sizeof(rom); i++)
        rom[i] = (uint8_t)(i * 3);
    fake_init(&f, 0x1000);
    CHECK(pci_device_set_rom(&f.pci, rom, sizeof(rom)) == 0);
    pci_bus_add(&m.pci, &f.pci, 1);
    /* Sizing: 3000 bytes decode as 4 KiB; the enable bit is writable. */
    cfg_write(&m, 1, PCI_ROM_ADDRESS, 4, 0xffffffff);
    CHECK_EQ(cfg_read(&m, 1, PCI_ROM_ADDRESS, 4), 0xfffff001);
    /* Placed but disabled: not decoded. */
    cfg_write(&m, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    cfg_write(&m, 1, PCI_ROM_ADDRESS, 4, 0xe0000000);
    CHECK(!mmio_hits(&m, 0xe0000000));
    cfg_write(&m, 1, PCI_ROM_ADDRESS, 4, 0xe0000001);
    uint8_t data[4];
    CHECK(bus_dispatch(&m.mmio, 0xe0000010, data, 4, false));
    CHECK_EQ(data[0], (uint8_t)(0x10 * 3));
    CHECK(bus_dispatch(&m.mmio, 0xe0000ffc, data, 4, false));
    CHECK_EQ(data[0], 0);                     /* past the image: zero */
    /* Writes do nothing; memory decoding off unmaps it. */
    data[0] = 0x55;
    bus_dispatch(&m.mmio, 0xe0000000, data, 1, true);
    CHECK_EQ(rom[0], 0);
    cfg_write(&m, 1, PCI_COMMAND, 2, 0);
    CHECK(!mmio_hits(&m, 0xe0000000));
    /* An address in RAM is never decoded. */
    cfg_write(&m, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    cfg_write(&m, 1, PCI_ROM_ADDRESS, 4, 0x00100001);
    CHECK(!mmio_hits(&m, 0x00100000));
    machine_destroy(&m);
}

TEST(expansion_rom_absent_reads_zero)
{
    struct machine m;
    machine_init(&m);
    struct fake f;
    fake_init(&f, 0x1000);
    pci_bus_add(&m.pci, &f.pci, 1);
    cfg_write(&m, 1, PCI_ROM_ADDRESS, 4, 0xffffffff);
    CHECK_EQ(cfg_read(&m, 1, PCI_ROM_ADDRESS, 4), 0);
    machine_destroy(&m);
}
