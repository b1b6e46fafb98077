/* MSI-X (PCI Local Bus Specification 3.0 §6.8.2): the capability, the vector table and the Pending
 * Bit Array of one function, with delivery through host routes (GSI + irqfd on the real path). */
#include "msix.h"

#include <errno.h>
#include <string.h>

/* Capability layout (§6.8.2.1-6.8.2.5). */
#define CAP_CONTROL 2
#define CAP_TABLE 4
#define CAP_PBA 8
#define CONTROL_FUNCTION_MASK 0x4000
#define CONTROL_ENABLE 0x8000
#define CONTROL_TABLE_SIZE_MASK 0x07ff

/* Table entry dwords (§6.8.2.6-6.8.2.9). */
#define ENTRY_ADDR_LO 0
#define ENTRY_ADDR_HI 1
#define ENTRY_DATA 2
#define ENTRY_CTRL 3
#define VECTOR_MASKED 0x1u
#define ADDR_LO_MASK 0xfffffffcu              /* bits 1:0 are DWORD alignment, always zero */

/* x86 MSI messages go to the local APIC window (Intel SDM vol. 3, §11.11.1). */
#define MSI_WINDOW_MASK 0xfff00000u
#define MSI_WINDOW_BASE 0xfee00000u

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (v >> (8 * i)) & 0xff;
}

static uint64_t table_bytes(int nvectors)
{
    return (uint64_t)nvectors * MSIX_ENTRY_SIZE;
}

static uint64_t pba_bytes(int nvectors)
{
    return ((uint64_t)nvectors + 63) / 64 * 8;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

static int check_layout(const struct pci_device *pci, int nvectors, int bar, uint32_t table_offset,
                        uint32_t pba_offset)
{
    if (nvectors < 1 || nvectors > MSIX_MAX_VECTORS || bar < 0 || bar >= PCI_BARS)
        return -EINVAL;
    const struct pci_bar *b = &pci->bars[bar];
    if (b->kind != PCI_BAR_MEM32 && b->kind != PCI_BAR_MEM64)
        return -EINVAL;
    if ((table_offset & 7) || (pba_offset & 7))
        return -EINVAL;     /* the low three bits of both dwords hold the BIR */
    uint64_t tlen = table_bytes(nvectors), plen = pba_bytes(nvectors);
    if (table_offset + tlen > b->size || pba_offset + plen > b->size)
        return -EINVAL;
    if (ranges_overlap(table_offset, tlen, pba_offset, plen))
        return -EINVAL;
    return 0;
}

int msix_init(struct msix *m, struct pci_device *pci, int nvectors, int bar, uint32_t table_offset,
              uint32_t pba_offset, struct msi_ops ops)
{
    int rc = check_layout(pci, nvectors, bar, table_offset, pba_offset);
    if (rc)
        return rc;
    int cap = pci_device_add_capability(pci, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
    if (cap < 0)
        return cap;
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->pci = pci;
    m->ops = ops;
    m->nvectors = nvectors;
    m->cap = (uint8_t)cap;
    m->bar = bar;
    m->table_offset = table_offset;
    m->pba_offset = pba_offset;
    for (int i = 0; i < nvectors; i++) {
        m->vectors[i].ctrl = VECTOR_MASKED;    /* every vector starts masked (§6.8.2.9) */
        m->vectors[i].gsi = -1;
        m->vectors[i].route_stale = true;
    }
    uint16_t control = (uint16_t)(nvectors - 1) & CONTROL_TABLE_SIZE_MASK;
    pci->config[cap + CAP_CONTROL] = control & 0xff;
    pci->config[cap + CAP_CONTROL + 1] = control >> 8;
    pci->wmask[cap + CAP_CONTROL + 1] = (CONTROL_FUNCTION_MASK | CONTROL_ENABLE) >> 8;
    put32(&pci->config[cap + CAP_TABLE], table_offset | (uint32_t)bar);
    put32(&pci->config[cap + CAP_PBA], pba_offset | (uint32_t)bar);
    return 0;
}

void msix_destroy(struct msix *m)
{
    pthread_mutex_destroy(&m->lock);
}

bool msix_enabled(const struct msix *m)
{
    return __atomic_load_n(&m->enabled, __ATOMIC_ACQUIRE);
}

static bool in_msi_window(const struct msix_vector *e)
{
    return e->addr_hi == 0 && (e->addr_lo & MSI_WINDOW_MASK) == MSI_WINDOW_BASE;
}

/* Refreshes the host route if the entry changed (allocating a GSI the first time) and fires it.
 * A message outside the MSI window, or one the host cannot route, is dropped. */
static void deliver_locked(struct msix *m, int vector)
{
    struct msix_vector *e = &m->vectors[vector];
    if (!in_msi_window(e))
        return;
    if (e->gsi < 0 || e->route_stale) {
        if (!m->ops.route)
            return;
        uint64_t addr = (uint64_t)e->addr_hi << 32 | e->addr_lo;
        int rc = m->ops.route(m->ops.ctx, e->gsi, addr, e->data);
        if (rc < 0)
            return;
        if (e->gsi < 0)
            e->gsi = rc;
        e->route_stale = false;
    }
    if (m->ops.fire)
        m->ops.fire(m->ops.ctx, e->gsi);
}

static bool function_live(const struct msix *m)
{
    return m->enabled && !m->function_masked;
}

static bool vector_masked(const struct msix *m, int vector)
{
    return (m->vectors[vector].ctrl & VECTOR_MASKED) != 0;
}

/* Delivers `vector` if its pending bit is set and nothing masks it any more (§6.8.2.10). */
static void deliver_if_pending(struct msix *m, int vector)
{
    uint64_t bit = 1ull << vector;
    if (!(m->pending & bit) || !function_live(m) || vector_masked(m, vector))
        return;
    m->pending &= ~bit;
    deliver_locked(m, vector);
}

void msix_notify(struct msix *m, int vector)
{
    if (vector < 0 || vector >= m->nvectors)
        return;
    pthread_mutex_lock(&m->lock);
    if (!function_live(m) || vector_masked(m, vector))
        m->pending |= 1ull << vector;
    else
        deliver_locked(m, vector);
    pthread_mutex_unlock(&m->lock);
}

void msix_config_written(struct msix *m, unsigned offset, unsigned len)
{
    unsigned control = m->cap + CAP_CONTROL;
    if (!(offset < control + 2 && control < offset + len))
        return;
    uint8_t high = m->pci->config[control + 1];
    pthread_mutex_lock(&m->lock);
    bool was_live = function_live(m);
    __atomic_store_n(&m->enabled, (high & (CONTROL_ENABLE >> 8)) != 0, __ATOMIC_RELEASE);
    m->function_masked = (high & (CONTROL_FUNCTION_MASK >> 8)) != 0;
    if (!was_live && function_live(m))
        for (int v = 0; v < m->nvectors; v++)
            deliver_if_pending(m, v);
    pthread_mutex_unlock(&m->lock);
}

static uint32_t entry_read(const struct msix_vector *e, unsigned field)
{
    switch (field) {
    case ENTRY_ADDR_LO: return e->addr_lo;
    case ENTRY_ADDR_HI: return e->addr_hi;
    case ENTRY_DATA: return e->data;
    default: return e->ctrl;
    }
}

static void set_message_field(struct msix_vector *e, uint32_t *field, uint32_t value)
{
    if (*field != value) {
        *field = value;
        e->route_stale = true;
    }
}

static void entry_write(struct msix *m, int vector, unsigned field, uint32_t value)
{
    struct msix_vector *e = &m->vectors[vector];
    switch (field) {
    case ENTRY_ADDR_LO: set_message_field(e, &e->addr_lo, value & ADDR_LO_MASK); break;
    case ENTRY_ADDR_HI: set_message_field(e, &e->addr_hi, value); break;
    case ENTRY_DATA: set_message_field(e, &e->data, value); break;
    default:
        e->ctrl = value & VECTOR_MASKED;       /* other bits are reserved */
        deliver_if_pending(m, vector);
        break;
    }
}

/* Table and PBA take aligned dword or qword accesses only (§6.8.2). */
static bool access_ok(uint64_t offset, uint32_t len, uint64_t size)
{
    return (len == 4 || len == 8) && offset % len == 0 && offset < size && len <= size - offset;
}

void msix_table_io(struct msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    if (!access_ok(offset, len, table_bytes(m->nvectors))) {
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    pthread_mutex_lock(&m->lock);
    for (uint32_t k = 0; k < len; k += 4) {
        uint64_t at = offset + k;
        int vector = (int)(at / MSIX_ENTRY_SIZE);
        unsigned field = (unsigned)(at % MSIX_ENTRY_SIZE) / 4;
        if (is_write)
            entry_write(m, vector, field, get32(data + k));
        else
            put32(data + k, entry_read(&m->vectors[vector], field));
    }
    pthread_mutex_unlock(&m->lock);
}

void msix_pba_io(struct msix *m, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    if (is_write)
        return;             /* the PBA is read-only */
    if (!access_ok(offset, len, pba_bytes(m->nvectors))) {
        memset(data, 0, len);
        return;
    }
    pthread_mutex_lock(&m->lock);
    uint64_t pending = m->pending;
    pthread_mutex_unlock(&m->lock);
    for (uint32_t k = 0; k < len; k += 4)
        put32(data + k, (uint32_t)(pending >> (8 * (offset + k))));
}
