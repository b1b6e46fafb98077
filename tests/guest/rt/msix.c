/* Guest runtime: MSI-X (PCI Local Bus Specification 3.0 §6.8.2): table set-up and enable. */
#include "pci.h"
#include "io.h"

#define MSIX_CONTROL 2
#define MSIX_TABLE 4
#define MSIX_CONTROL_SIZE_MASK 0x07ff
#define MSIX_CONTROL_FUNCTION_MASK 0x4000
#define MSIX_CONTROL_ENABLE 0x8000
#define MSIX_BIR_MASK 0x7u

/* Vector table entry (§6.8.2.6): message address low/high, data, vector control. */
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_ADDR_LO 0
#define MSIX_ENTRY_ADDR_HI 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_CTRL 12
#define MSIX_ENTRY_MASKED 0x1u

/* MSI message address for a fixed, physical-destination interrupt (SDM vol 3 §11.11.1). */
#define MSI_ADDRESS_BASE 0xfee00000u

static uint64_t entry_addr(const struct msix *m, uint16_t entry)
{
    return m->table + (uint64_t)entry * MSIX_ENTRY_SIZE;
}

bool msix_init(struct msix *m, const struct pci_dev *d)
{
    *m = (struct msix){ .dev = *d };
    m->cap = pci_cap_find(d, PCI_CAP_ID_MSIX, 0);
    if (!m->cap)
        return false;
    uint16_t control = pci_read16(d, (uint8_t)(m->cap + MSIX_CONTROL));
    uint32_t table = pci_read32(d, (uint8_t)(m->cap + MSIX_TABLE));
    m->table_size = (uint16_t)((control & MSIX_CONTROL_SIZE_MASK) + 1);
    uint64_t bar_size = 0;
    uint64_t base = pci_map_bar(d, (int)(table & MSIX_BIR_MASK), &bar_size);
    uint64_t offset = table & ~MSIX_BIR_MASK;
    if (!base || offset + (uint64_t)m->table_size * MSIX_ENTRY_SIZE > bar_size)
        return false;
    m->table = base + offset;
    pci_enable(d);
    /* Mask every entry while enabling, then enable with the function mask clear. */
    pci_write16(d, (uint8_t)(m->cap + MSIX_CONTROL), (uint16_t)(control | MSIX_CONTROL_FUNCTION_MASK | MSIX_CONTROL_ENABLE));
    for (uint16_t i = 0; i < m->table_size; i++)
        mmio_write32(entry_addr(m, i) + MSIX_ENTRY_CTRL, MSIX_ENTRY_MASKED);
    pci_write16(d, (uint8_t)(m->cap + MSIX_CONTROL), (uint16_t)((control & ~MSIX_CONTROL_FUNCTION_MASK) | MSIX_CONTROL_ENABLE));
    return true;
}

bool msix_set_vector(struct msix *m, uint16_t entry, uint8_t vector)
{
    if (!m->table || entry >= m->table_size || vector < 32)
        return false;
    uint64_t e = entry_addr(m, entry);
    mmio_write32(e + MSIX_ENTRY_CTRL, MSIX_ENTRY_MASKED);
    mmio_write32(e + MSIX_ENTRY_ADDR_LO, MSI_ADDRESS_BASE | (lapic_id() & 0xff) << 12);
    mmio_write32(e + MSIX_ENTRY_ADDR_HI, 0);
    mmio_write32(e + MSIX_ENTRY_DATA, vector); /* fixed delivery, edge trigger */
    mmio_write32(e + MSIX_ENTRY_CTRL, 0);
    return mmio_read32(e + MSIX_ENTRY_DATA) == vector;
}

void msix_disable(struct msix *m)
{
    if (!m->cap)
        return;
    uint16_t control = pci_read16(&m->dev, (uint8_t)(m->cap + MSIX_CONTROL));
    pci_write16(&m->dev, (uint8_t)(m->cap + MSIX_CONTROL), (uint16_t)(control & ~MSIX_CONTROL_ENABLE));
}
