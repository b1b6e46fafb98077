/* Unit tests for MSI-X: capability encoding, table and PBA accesses, masking, pending delivery,
 * route refresh, and malformed accesses. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "vmm/bus.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define TABLE_OFFSET 0x0
#define PBA_OFFSET 0x800
#define BAR_SIZE 0x1000
#define FIRST_GSI 24
#define MSI_ADDR 0xfee00000u

/* The host side: records routes and fired GSIs. */
struct host {
    int routes, fires;
    int route_gsi;
    uint64_t route_addr;
    uint32_t route_data;
    int fired_gsi;
    int next_gsi;
    int fail_routes;
};

static int host_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    struct host *h = ctx;
    h->routes++;
    h->route_gsi = gsi;
    h->route_addr = addr;
    h->route_data = data;
    if (h->fail_routes)
        return -ENOSPC;
    return gsi < 0 ? h->next_gsi++ : gsi;
}

static void host_fire(void *ctx, int gsi)
{
    struct host *h = ctx;
    h->fires++;
    h->fired_gsi = gsi;
}

struct dev {
    struct pci_device pci;
    struct msix msix;
    struct host host;
};

static void dev_bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct dev *d = opaque;
    if (offset >= PBA_OFFSET)
        msix_pba_io(&d->msix, offset - PBA_OFFSET, data, len, is_write);
    else
        msix_table_io(&d->msix, offset - TABLE_OFFSET, data, len, is_write);
}

static void dev_config_written(struct pci_device *pci, unsigned offset, unsigned len)
{
    struct dev *d = pci->owner;
    msix_config_written(&d->msix, offset, len);
}

static struct msi_ops host_ops(struct host *h)
{
    return (struct msi_ops){ host_route, host_fire, h };
}

static int dev_init(struct dev *d, int nvectors)
{
    memset(d, 0, sizeof(*d));
    d->host.next_gsi = FIRST_GSI;
    pci_device_init(&d->pci, "msix-dev", 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 1);
    d->pci.owner = d;
    d->pci.config_written = dev_config_written;
    int rc = pci_device_set_bar(&d->pci, 1, PCI_BAR_MEM32, BAR_SIZE, false, dev_bar_io, d);
    if (rc)
        return rc;
    return msix_init(&d->msix, &d->pci, nvectors, 1, TABLE_OFFSET, PBA_OFFSET, host_ops(&d->host));
}

static unsigned control_offset(const struct dev *d)
{
    return d->msix.cap + 2u;
}

static void set_control(struct dev *d, uint16_t v)
{
    pci_config_write(&d->pci, control_offset(d), 2, v);
}

static void table_write32(struct dev *d, int vector, unsigned field, uint32_t v)
{
    uint8_t data[4];
    memcpy(data, &v, 4);
    dev_bar_io(d, TABLE_OFFSET + (uint64_t)vector * MSIX_ENTRY_SIZE + field * 4, data, 4, true);
}

static uint32_t table_read32(struct dev *d, uint64_t offset)
{
    uint32_t v;
    uint8_t data[4];
    dev_bar_io(d, TABLE_OFFSET + offset, data, 4, false);
    memcpy(&v, data, 4);
    return v;
}

static uint64_t pba_read64(struct dev *d)
{
    uint8_t data[8];
    uint64_t v;
    dev_bar_io(d, PBA_OFFSET, data, 8, false);
    memcpy(&v, data, 8);
    return v;
}

/* Programs vector `v` with an x86 MSI message (fixed delivery to APIC 0, vector 0x40 + v). */
static void program(struct dev *d, int v, bool masked)
{
    table_write32(d, v, 0, MSI_ADDR);
    table_write32(d, v, 1, 0);
    table_write32(d, v, 2, 0x40 + (uint32_t)v);
    table_write32(d, v, 3, masked ? 1 : 0);
}

/* ---- Capability ---- */

TEST(capability_encodes_table_size_and_locations)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    unsigned cap = d.msix.cap;
    CHECK_EQ(cap, 0x40);
    CHECK_EQ(pci_config_read(&d.pci, PCI_CAPABILITY_LIST, 1), 0x40);
    CHECK_EQ(pci_config_read(&d.pci, cap, 1), PCI_CAP_ID_MSIX);
    CHECK_EQ(pci_config_read(&d.pci, cap + 1, 1), 0);
    CHECK_EQ(pci_config_read(&d.pci, cap + 2, 2), 3);               /* N - 1 */
    CHECK_EQ(pci_config_read(&d.pci, cap + 4, 4), TABLE_OFFSET | 1);
    CHECK_EQ(pci_config_read(&d.pci, cap + 8, 4), PBA_OFFSET | 1);
    CHECK(pci_config_read(&d.pci, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    CHECK(!msix_enabled(&d.msix));
    msix_destroy(&d.msix);
}

TEST(table_size_encoding_extremes)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 1), 0);
    CHECK_EQ(pci_config_read(&d.pci, control_offset(&d), 2), 0);
    msix_destroy(&d.msix);
    CHECK_EQ(dev_init(&d, MSIX_MAX_VECTORS), 0);
    CHECK_EQ(pci_config_read(&d.pci, control_offset(&d), 2), 63);
    msix_destroy(&d.msix);
}

TEST(init_rejects_bad_layouts)
{
    struct dev d;
    struct host h = { 0 };
    memset(&d, 0, sizeof(d));
    pci_device_init(&d.pci, "x", 1, 2, 0, 0, 0, 0);
    pci_device_set_bar(&d.pci, 0, PCI_BAR_IO, 0x40, false, dev_bar_io, &d);
    pci_device_set_bar(&d.pci, 1, PCI_BAR_MEM32, 0x1000, false, dev_bar_io, &d);
    CHECK_EQ(msix_init(&d.msix, &d.pci, 0, 1, 0, 0x800, host_ops(&h)), -EINVAL);
    CHECK_EQ(msix_init(&d.msix, &d.pci, 65, 1, 0, 0x800, host_ops(&h)), -EINVAL);
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 0, 0, 0x20, host_ops(&h)), -EINVAL);    /* I/O BAR */
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 2, 0, 0x800, host_ops(&h)), -EINVAL);   /* no BAR */
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 6, 0, 0x800, host_ops(&h)), -EINVAL);
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, -1, 0, 0x800, host_ops(&h)), -EINVAL);
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 1, 4, 0x800, host_ops(&h)), -EINVAL);   /* unaligned */
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 1, 0, 0x804, host_ops(&h)), -EINVAL);
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 1, 0xff8, 0x800, host_ops(&h)), -EINVAL);  /* past the BAR */
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 1, 0, 0xffffff8, host_ops(&h)), -EINVAL);
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 1, 0, 0x38, host_ops(&h)), -EINVAL);    /* overlap */
    CHECK_EQ(pci_config_read(&d.pci, PCI_CAPABILITY_LIST, 1), 0);                   /* nothing added */
    CHECK_EQ(msix_init(&d.msix, &d.pci, 4, 1, 0, 0x40, host_ops(&h)), 0);
    msix_destroy(&d.msix);
}

TEST(message_control_write_mask)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    set_control(&d, 0xffff);
    CHECK_EQ(pci_config_read(&d.pci, control_offset(&d), 2), 0xc003);
    CHECK(msix_enabled(&d.msix));
    set_control(&d, 0);
    CHECK_EQ(pci_config_read(&d.pci, control_offset(&d), 2), 3);
    CHECK(!msix_enabled(&d.msix));
    pci_config_write(&d.pci, d.msix.cap + 4, 4, 0xffffffff);       /* table offset/BIR read-only */
    CHECK_EQ(pci_config_read(&d.pci, d.msix.cap + 4, 4), TABLE_OFFSET | 1);
    msix_destroy(&d.msix);
}

/* ---- Table ---- */

TEST(vectors_start_masked)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    for (int v = 0; v < 4; v++) {
        CHECK_EQ(table_read32(&d, (uint64_t)v * 16 + 12), 1);
        CHECK_EQ(table_read32(&d, (uint64_t)v * 16), 0);
    }
    msix_destroy(&d.msix);
}

TEST(table_entries_read_back)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    table_write32(&d, 2, 0, 0xfee01003);                           /* bits 1:0 read as zero */
    table_write32(&d, 2, 1, 0x12345678);
    table_write32(&d, 2, 2, 0xabcd);
    table_write32(&d, 2, 3, 0xfffffffe);                           /* reserved control bits */
    CHECK_EQ(table_read32(&d, 32), 0xfee01000);
    CHECK_EQ(table_read32(&d, 36), 0x12345678);
    CHECK_EQ(table_read32(&d, 40), 0xabcd);
    CHECK_EQ(table_read32(&d, 44), 0);
    msix_destroy(&d.msix);
}

TEST(qword_table_access)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    uint8_t data[8];
    uint64_t v = 0x00000000fee02000ull;
    memcpy(data, &v, 8);
    dev_bar_io(&d, 16, data, 8, true);
    v = 0x0000000100000055ull;                                     /* data 0x55, still masked */
    memcpy(data, &v, 8);
    dev_bar_io(&d, 24, data, 8, true);
    memset(data, 0, 8);
    dev_bar_io(&d, 16, data, 8, false);
    memcpy(&v, data, 8);
    CHECK_EQ(v, 0xfee02000ull);
    dev_bar_io(&d, 24, data, 8, false);
    memcpy(&v, data, 8);
    CHECK_EQ(v, 0x0000000100000055ull);
    msix_destroy(&d.msix);
}

TEST(non_dword_and_unaligned_access_ignored)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 0, true);
    uint8_t data[8] = { 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x11, 0x22 };
    dev_bar_io(&d, 8, data, 1, true);                               /* byte write to data */
    dev_bar_io(&d, 8, data, 2, true);
    dev_bar_io(&d, 10, data, 4, true);                              /* unaligned dword */
    dev_bar_io(&d, 4, data, 8, true);                               /* unaligned qword */
    dev_bar_io(&d, 12, data, 1, true);                              /* byte unmask attempt */
    CHECK_EQ(table_read32(&d, 8), 0x40);
    CHECK_EQ(table_read32(&d, 4), 0);
    CHECK_EQ(table_read32(&d, 12), 1);
    memset(data, 0x77, sizeof(data));
    dev_bar_io(&d, 8, data, 2, false);
    CHECK_EQ(data[0], 0);
    CHECK_EQ(data[1], 0);
    memset(data, 0x77, sizeof(data));
    dev_bar_io(&d, 2, data, 4, false);
    CHECK_EQ(data[3], 0);
    msix_destroy(&d.msix);
}

TEST(accesses_past_the_table_ignored)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    uint8_t data[8];
    memset(data, 0x77, sizeof(data));
    msix_table_io(&d.msix, 64, data, 4, false);                    /* entry 4 of 4 */
    CHECK_EQ(data[0], 0);
    msix_table_io(&d.msix, 60, data, 8, false);                    /* straddles the end */
    CHECK_EQ(data[7], 0);
    msix_table_io(&d.msix, UINT64_MAX - 3, data, 4, false);
    CHECK_EQ(data[0], 0);
    memset(data, 0, sizeof(data));
    msix_table_io(&d.msix, 64, data, 4, true);
    msix_table_io(&d.msix, UINT64_MAX - 7, data, 8, true);
    msix_table_io(&d.msix, 0x7f0, data, 4, true);
    CHECK_EQ(d.msix.vectors[4].ctrl, 0);                            /* untouched beyond nvectors */
    msix_destroy(&d.msix);
}

/* ---- Delivery ---- */

TEST(disabled_function_marks_pending)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 1, false);
    msix_notify(&d.msix, 1);
    CHECK_EQ(d.host.fires, 0);
    CHECK_EQ(pba_read64(&d), 0x2);
    set_control(&d, 0x8000);                                        /* enable: pending goes out */
    CHECK_EQ(d.host.fires, 1);
    CHECK_EQ(d.host.fired_gsi, FIRST_GSI);
    CHECK_EQ(d.host.route_data, 0x41);
    CHECK_EQ(pba_read64(&d), 0);
    msix_destroy(&d.msix);
}

TEST(unmasked_vector_routes_once_then_fires)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 0, false);
    program(&d, 3, false);
    set_control(&d, 0x8000);
    msix_notify(&d.msix, 0);
    CHECK_EQ(d.host.routes, 1);
    CHECK_EQ(d.host.route_gsi, -1);
    CHECK_EQ(d.host.route_addr, MSI_ADDR);
    CHECK_EQ(d.host.route_data, 0x40);
    CHECK_EQ(d.host.fires, 1);
    CHECK_EQ(d.host.fired_gsi, FIRST_GSI);
    msix_notify(&d.msix, 0);
    CHECK_EQ(d.host.routes, 1);
    CHECK_EQ(d.host.fires, 2);
    msix_notify(&d.msix, 3);
    CHECK_EQ(d.host.routes, 2);
    CHECK_EQ(d.host.fired_gsi, FIRST_GSI + 1);
    CHECK_EQ(d.msix.vectors[3].gsi, FIRST_GSI + 1);
    msix_destroy(&d.msix);
}

TEST(masked_vector_pends_until_unmasked)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 2, true);
    set_control(&d, 0x8000);
    msix_notify(&d.msix, 2);
    msix_notify(&d.msix, 2);
    CHECK_EQ(d.host.fires, 0);
    CHECK_EQ(pba_read64(&d), 0x4);
    table_write32(&d, 2, 3, 0);
    CHECK_EQ(d.host.fires, 1);                                      /* one message for the pending bit */
    CHECK_EQ(d.host.route_data, 0x42);
    CHECK_EQ(pba_read64(&d), 0);
    table_write32(&d, 2, 3, 1);
    table_write32(&d, 2, 3, 0);                                     /* nothing pending now */
    CHECK_EQ(d.host.fires, 1);
    msix_destroy(&d.msix);
}

TEST(function_mask_holds_all_vectors)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 0, false);
    program(&d, 1, false);
    program(&d, 2, true);
    set_control(&d, 0xc000);                                        /* enable + function mask */
    msix_notify(&d.msix, 0);
    msix_notify(&d.msix, 1);
    msix_notify(&d.msix, 2);
    CHECK_EQ(d.host.fires, 0);
    CHECK_EQ(pba_read64(&d), 0x7);
    set_control(&d, 0x8000);
    CHECK_EQ(d.host.fires, 2);                                      /* vector 2 is still masked */
    CHECK_EQ(pba_read64(&d), 0x4);
    msix_destroy(&d.msix);
}

TEST(disable_again_returns_to_pending)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 0, false);
    set_control(&d, 0x8000);
    msix_notify(&d.msix, 0);
    CHECK_EQ(d.host.fires, 1);
    set_control(&d, 0);
    msix_notify(&d.msix, 0);
    CHECK_EQ(d.host.fires, 1);
    CHECK_EQ(pba_read64(&d), 1);
    msix_destroy(&d.msix);
}

TEST(route_refreshed_after_entry_change)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 1, false);
    set_control(&d, 0x8000);
    msix_notify(&d.msix, 1);
    CHECK_EQ(d.host.routes, 1);
    table_write32(&d, 1, 2, 0x41);                                  /* same value: route kept */
    msix_notify(&d.msix, 1);
    CHECK_EQ(d.host.routes, 1);
    table_write32(&d, 1, 3, 1);
    table_write32(&d, 1, 0, 0xfee01000);                            /* another APIC */
    table_write32(&d, 1, 2, 0x51);
    table_write32(&d, 1, 3, 0);
    msix_notify(&d.msix, 1);
    CHECK_EQ(d.host.routes, 2);
    CHECK_EQ(d.host.route_gsi, FIRST_GSI);                          /* same GSI, new message */
    CHECK_EQ(d.host.route_addr, 0xfee01000);
    CHECK_EQ(d.host.route_data, 0x51);
    CHECK_EQ(d.host.fired_gsi, FIRST_GSI);
    CHECK_EQ(d.host.fires, 3);
    msix_destroy(&d.msix);
}

TEST(message_outside_msi_window_dropped)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    set_control(&d, 0x8000);
    table_write32(&d, 0, 0, 0x12345000);
    table_write32(&d, 0, 3, 0);
    msix_notify(&d.msix, 0);
    table_write32(&d, 1, 0, MSI_ADDR);
    table_write32(&d, 1, 1, 1);                                     /* above 4 GiB */
    table_write32(&d, 1, 3, 1);
    msix_notify(&d.msix, 1);
    table_write32(&d, 1, 3, 0);                                     /* pending, then dropped */
    CHECK_EQ(d.host.routes, 0);
    CHECK_EQ(d.host.fires, 0);
    CHECK_EQ(pba_read64(&d), 0);
    msix_destroy(&d.msix);
}

TEST(failed_route_does_not_fire_and_is_retried)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 0, false);
    set_control(&d, 0x8000);
    d.host.fail_routes = 1;
    msix_notify(&d.msix, 0);
    CHECK_EQ(d.host.routes, 1);
    CHECK_EQ(d.host.fires, 0);
    CHECK_EQ(d.msix.vectors[0].gsi, -1);
    d.host.fail_routes = 0;
    msix_notify(&d.msix, 0);
    CHECK_EQ(d.host.routes, 2);
    CHECK_EQ(d.host.route_gsi, -1);
    CHECK_EQ(d.host.fires, 1);
    msix_destroy(&d.msix);
}

TEST(bad_vector_index_ignored)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    set_control(&d, 0x8000);
    msix_notify(&d.msix, -1);
    msix_notify(&d.msix, 4);
    msix_notify(&d.msix, 64);
    msix_notify(&d.msix, 1 << 30);
    CHECK_EQ(d.host.routes, 0);
    CHECK_EQ(d.host.fires, 0);
    CHECK_EQ(d.msix.pending, 0);
    msix_destroy(&d.msix);
}

TEST(pba_is_read_only)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 40), 0);
    program(&d, 35, true);
    msix_notify(&d.msix, 35);
    msix_notify(&d.msix, 3);
    uint8_t data[8];
    memset(data, 0, sizeof(data));
    msix_pba_io(&d.msix, 0, data, 8, true);
    msix_pba_io(&d.msix, 4, data, 4, true);
    CHECK_EQ(pba_read64(&d), (1ull << 35) | (1ull << 3));
    uint32_t hi;
    msix_pba_io(&d.msix, 4, data, 4, false);
    memcpy(&hi, data, 4);
    CHECK_EQ(hi, 1u << 3);
    memset(data, 0x77, sizeof(data));
    msix_pba_io(&d.msix, 0, data, 1, false);                       /* byte read: 0 */
    CHECK_EQ(data[0], 0);
    memset(data, 0x77, sizeof(data));
    msix_pba_io(&d.msix, 8, data, 4, false);                       /* past the PBA */
    CHECK_EQ(data[0], 0);
    msix_destroy(&d.msix);
}

TEST(config_writes_elsewhere_leave_state_alone)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    program(&d, 0, false);
    msix_notify(&d.msix, 0);
    d.pci.config[control_offset(&d) + 1] = 0x80;                   /* not through a write */
    msix_config_written(&d.msix, PCI_COMMAND, 2);
    msix_config_written(&d.msix, d.msix.cap + 4, 4);
    CHECK(!msix_enabled(&d.msix));
    CHECK_EQ(d.host.fires, 0);
    msix_config_written(&d.msix, d.msix.cap, 4);                    /* dword covering control */
    CHECK(msix_enabled(&d.msix));
    CHECK_EQ(d.host.fires, 1);
    msix_destroy(&d.msix);
}

/* The whole path: config mechanism #1 enables MSI-X, the table is written through the MMIO bus. */
static struct irq_line no_intx(void *ctx, unsigned gsi)
{
    (void)ctx;
    return (struct irq_line){ NULL, NULL, gsi };
}

TEST(through_the_buses)
{
    struct bus pio, mmio;
    struct pci_bus pci;
    bus_init(&pio, "pio");
    bus_init(&mmio, "mmio");
    CHECK_EQ(pci_bus_init(&pci, &pio, &mmio, no_intx, NULL), 0);
    CHECK_EQ(bus_register(&pio, 0xcf8, 8, pci_config_io, &pci, "pci-config"), 0);
    struct dev d;
    CHECK_EQ(dev_init(&d, 2), 0);
    CHECK_EQ(pci_bus_add(&pci, &d.pci, 4), 0);
    uint64_t bar = d.pci.bars[1].addr;
    CHECK_EQ(bar, 0xc0000000);
    uint32_t v = MSI_ADDR;
    CHECK(bus_dispatch(&mmio, bar + 16, (uint8_t *)&v, 4, true));
    v = 0x33;
    CHECK(bus_dispatch(&mmio, bar + 24, (uint8_t *)&v, 4, true));
    v = 0;
    CHECK(bus_dispatch(&mmio, bar + 28, (uint8_t *)&v, 4, true));
    v = 0x80000000u | 4u << 11 | (d.msix.cap & 0xfc);
    bus_dispatch(&pio, 0xcf8, (uint8_t *)&v, 4, true);
    uint16_t control = 0x8000;
    bus_dispatch(&pio, 0xcfc + 2, (uint8_t *)&control, 2, true);
    CHECK(msix_enabled(&d.msix));
    msix_notify(&d.msix, 1);
    CHECK_EQ(d.host.fires, 1);
    CHECK_EQ(d.host.route_data, 0x33);
    uint64_t pba = 0xff;
    CHECK(bus_dispatch(&mmio, bar + PBA_OFFSET, (uint8_t *)&pba, 8, false));
    CHECK_EQ(pba, 0);
    msix_destroy(&d.msix);
    pci_bus_destroy(&pci);
    bus_destroy(&mmio);
    bus_destroy(&pio);
}

/* Device threads raise vectors while a vCPU masks and unmasks them: every raise is either
 * delivered or left pending, and nothing is lost at the end. */
static void *raise_vectors(void *arg)
{
    struct dev *d = arg;
    for (int i = 0; i < 5000; i++)
        msix_notify(&d->msix, i & 3);
    return NULL;
}

TEST(concurrent_notify_and_mask)
{
    struct dev d;
    CHECK_EQ(dev_init(&d, 4), 0);
    for (int v = 0; v < 4; v++)
        program(&d, v, false);
    set_control(&d, 0x8000);
    pthread_t t[2];
    CHECK_EQ(pthread_create(&t[0], NULL, raise_vectors, &d), 0);
    CHECK_EQ(pthread_create(&t[1], NULL, raise_vectors, &d), 0);
    for (int i = 0; i < 2000; i++) {
        table_write32(&d, i & 3, 3, 1);
        table_write32(&d, i & 3, 3, 0);
        if (i % 100 == 0) {
            set_control(&d, 0xc000);
            set_control(&d, 0x8000);
        }
    }
    pthread_join(t[0], NULL);
    pthread_join(t[1], NULL);
    CHECK_EQ(pba_read64(&d), 0);
    CHECK_EQ(d.host.routes, 4);
    CHECK(d.host.fires > 0);
    msix_destroy(&d.msix);
}
