/* Guest runtime: modern virtio-pci transport (virtio 1.2 §4.1), initialisation (§3.1) and split
 * virtqueues (§2.7), polled with a timeout. */
#include "virtio.h"
#include "io.h"

/* struct virtio_pci_cap (§4.1.4): cfg_type, bar, offset, length; the notify capability adds
 * notify_off_multiplier (§4.1.4.4). */
#define VIRTIO_CAP_CFG_TYPE 3
#define VIRTIO_CAP_BAR 4
#define VIRTIO_CAP_OFFSET 8
#define VIRTIO_CAP_LENGTH 12
#define VIRTIO_CAP_NOTIFY_MULT 16
enum { CFG_COMMON = 1, CFG_NOTIFY = 2, CFG_ISR = 3, CFG_DEVICE = 4 };

/* struct virtio_pci_common_cfg (§4.1.4.3). */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE 0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE 0x0c
#define COMMON_MSIX_CONFIG 0x10
#define COMMON_NUM_QUEUES 0x12
#define COMMON_DEVICE_STATUS 0x14
#define COMMON_CONFIG_GENERATION 0x15
#define COMMON_QUEUE_SELECT 0x16
#define COMMON_QUEUE_SIZE 0x18
#define COMMON_QUEUE_MSIX_VECTOR 0x1a
#define COMMON_QUEUE_ENABLE 0x1c
#define COMMON_QUEUE_NOTIFY_OFF 0x1e
#define COMMON_QUEUE_DESC 0x20
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30
#define COMMON_MIN_LENGTH 0x38

#define PCI_BARS 6
#define RESET_TIMEOUT_US 1000000

struct found_cap {
    uint8_t cap;                /* config-space offset, 0 if not found */
    uint8_t bar;
    uint32_t offset, length;
};

/* §4.1.4: the first capability of each type that the driver can use. */
static void find_caps(const struct pci_dev *d, struct found_cap caps[5])
{
    uint8_t cap = 0;
    for (int steps = 0; steps < PCI_CAP_MAX && (cap = pci_cap_find(d, PCI_CAP_ID_VNDR, cap)); steps++) {
        uint8_t type = pci_read8(d, (uint8_t)(cap + VIRTIO_CAP_CFG_TYPE));
        uint8_t bar = pci_read8(d, (uint8_t)(cap + VIRTIO_CAP_BAR));
        if (type < CFG_COMMON || type > CFG_DEVICE || bar >= PCI_BARS || caps[type].cap)
            continue;
        caps[type] = (struct found_cap){ cap, bar, pci_read32(d, (uint8_t)(cap + VIRTIO_CAP_OFFSET)),
                                         pci_read32(d, (uint8_t)(cap + VIRTIO_CAP_LENGTH)) };
    }
}

/* Maps the structure's BAR and checks that the structure lies inside it; 0 on failure. */
static uint64_t map_structure(const struct pci_dev *d, const struct found_cap *c, uint32_t min_length)
{
    uint64_t bar_size = 0;
    if (!c->cap || c->length < min_length)
        return 0;
    uint64_t base = pci_map_bar(d, c->bar, &bar_size);
    if (!base || (uint64_t)c->offset + c->length > bar_size)
        return 0;
    return base + c->offset;
}

const char *virtio_open(struct virtio_dev *v, const struct pci_dev *d)
{
    *v = (struct virtio_dev){ .pci = *d };
    struct found_cap caps[5] = { 0 };
    find_caps(d, caps);
    v->common = map_structure(d, &caps[CFG_COMMON], COMMON_MIN_LENGTH);
    if (!v->common)
        return "no usable common configuration capability";
    v->notify_base = map_structure(d, &caps[CFG_NOTIFY], 2);
    if (!v->notify_base)
        return "no usable notify capability";
    v->notify_len = caps[CFG_NOTIFY].length;
    v->notify_multiplier = pci_read32(d, (uint8_t)(caps[CFG_NOTIFY].cap + VIRTIO_CAP_NOTIFY_MULT));
    v->isr = map_structure(d, &caps[CFG_ISR], 1);
    if (!v->isr)
        return "no usable ISR capability";
    if (caps[CFG_DEVICE].cap) {
        v->device = map_structure(d, &caps[CFG_DEVICE], 1);
        if (!v->device)
            return "device configuration outside its BAR";
        v->device_len = caps[CFG_DEVICE].length;
    }
    pci_enable(d);
    virtio_reset(v);
    if (virtio_status(v) != 0)
        return "device does not reset";
    return NULL;
}

uint8_t virtio_status(const struct virtio_dev *v)
{
    return mmio_read8(v->common + COMMON_DEVICE_STATUS);
}

static void set_status(struct virtio_dev *v, uint8_t bits)
{
    mmio_write8(v->common + COMMON_DEVICE_STATUS, (uint8_t)(virtio_status(v) | bits));
}

void virtio_reset(struct virtio_dev *v)
{
    mmio_write8(v->common + COMMON_DEVICE_STATUS, 0);
    uint64_t start = time_us();
    while (virtio_status(v) != 0 && time_us() - start < RESET_TIMEOUT_US)
        cpu_relax();
    if (v->have_msix) {
        msix_disable(&v->msix);
        v->have_msix = false;
    }
}

static uint64_t read_features(struct virtio_dev *v)
{
    mmio_write32(v->common + COMMON_DEVICE_FEATURE_SELECT, 0);
    uint64_t low = mmio_read32(v->common + COMMON_DEVICE_FEATURE);
    mmio_write32(v->common + COMMON_DEVICE_FEATURE_SELECT, 1);
    uint64_t high = mmio_read32(v->common + COMMON_DEVICE_FEATURE);
    return high << 32 | low;
}

static void write_features(struct virtio_dev *v, uint64_t features)
{
    mmio_write32(v->common + COMMON_DRIVER_FEATURE_SELECT, 0);
    mmio_write32(v->common + COMMON_DRIVER_FEATURE, (uint32_t)features);
    mmio_write32(v->common + COMMON_DRIVER_FEATURE_SELECT, 1);
    mmio_write32(v->common + COMMON_DRIVER_FEATURE, (uint32_t)(features >> 32));
}

const char *virtio_negotiate(struct virtio_dev *v, uint64_t wanted)
{
    virtio_reset(v);
    set_status(v, VIRTIO_STATUS_ACKNOWLEDGE);
    set_status(v, VIRTIO_STATUS_DRIVER);
    v->offered = read_features(v);
    if (!(v->offered & (1ull << VIRTIO_F_VERSION_1))) {
        set_status(v, VIRTIO_STATUS_FAILED);
        return "device does not offer VIRTIO_F_VERSION_1";
    }
    v->features = (wanted & v->offered) | (1ull << VIRTIO_F_VERSION_1);
    write_features(v, v->features);
    set_status(v, VIRTIO_STATUS_FEATURES_OK);
    if (!(virtio_status(v) & VIRTIO_STATUS_FEATURES_OK)) {
        set_status(v, VIRTIO_STATUS_FAILED);
        return "device did not accept the features (FEATURES_OK cleared)";
    }
    return NULL;
}

bool virtio_has_feature(const struct virtio_dev *v, unsigned bit)
{
    return bit < 64 && (v->features >> bit) & 1;
}

bool virtio_enable_msix(struct virtio_dev *v)
{
    v->have_msix = msix_init(&v->msix, &v->pci);
    /* No interrupt for configuration changes (§4.1.4.3: msix_config). */
    mmio_write16(v->common + COMMON_MSIX_CONFIG, VIRTIO_NO_VECTOR);
    return v->have_msix;
}

static uint16_t pow2_floor(uint16_t n)
{
    uint16_t p = 1;
    while ((uint16_t)(p << 1) != 0 && (uint16_t)(p << 1) <= n)
        p = (uint16_t)(p << 1);
    return p;
}

static void write64(uint64_t addr, uint64_t val)
{
    mmio_write32(addr, (uint32_t)val); /* §4.1.3.1: 64-bit fields as two 32-bit accesses */
    mmio_write32(addr + 4, (uint32_t)(val >> 32));
}

/* Lays the rings out in mem (§2.7: descriptors 16-aligned, driver area 2, device area 4). */
static void queue_layout(struct virtq *q, void *mem, uint16_t size)
{
    memset(mem, 0, VIRTQ_BYTES(size));
    q->size = size;
    q->desc = mem;
    q->avail = (volatile struct virtq_avail *)((uint8_t *)mem + 16u * size);
    q->used = (volatile struct virtq_used *)((uint8_t *)mem + 16u * size + ((6u + 2u * size + 3u) & ~3u));
    for (uint16_t i = 0; i < size; i++)
        q->desc[i].next = (uint16_t)(i + 1);
    q->free_head = 0;
    q->num_free = size;
    q->avail_idx = 0;
    q->last_used = 0;
}

const char *virtio_queue_setup(struct virtio_dev *v, struct virtq *q, uint16_t index, void *mem,
                               uint16_t max_size, uint16_t msix_entry)
{
    uint64_t c = v->common;
    if (index >= mmio_read16(c + COMMON_NUM_QUEUES))
        return "queue does not exist";
    mmio_write16(c + COMMON_QUEUE_SELECT, index);
    uint16_t device_size = mmio_read16(c + COMMON_QUEUE_SIZE);
    if (device_size == 0)
        return "queue not available";
    if (max_size == 0 || ((uintptr_t)mem & 4095))
        return "bad queue storage";
    uint16_t size = pow2_floor(device_size < max_size ? device_size : max_size);
    q->index = index;
    queue_layout(q, mem, size);
    mmio_write16(c + COMMON_QUEUE_SIZE, size);
    write64(c + COMMON_QUEUE_DESC, (uint64_t)(uintptr_t)q->desc);
    write64(c + COMMON_QUEUE_DRIVER, (uint64_t)(uintptr_t)q->avail);
    write64(c + COMMON_QUEUE_DEVICE, (uint64_t)(uintptr_t)q->used);
    mmio_write16(c + COMMON_QUEUE_MSIX_VECTOR, msix_entry);
    if (mmio_read16(c + COMMON_QUEUE_MSIX_VECTOR) != msix_entry)
        return "queue MSI-X vector refused";
    /* §4.1.4.4: queue_notify_off * notify_off_multiplier into the notify structure. */
    uint64_t notify_off = (uint64_t)mmio_read16(c + COMMON_QUEUE_NOTIFY_OFF) * v->notify_multiplier;
    if (notify_off + 2 > v->notify_len)
        return "queue notify address outside the notify structure";
    q->notify = v->notify_base + notify_off;
    mmio_write16(c + COMMON_QUEUE_ENABLE, 1);
    return NULL;
}

const char *virtio_driver_ok(struct virtio_dev *v)
{
    set_status(v, VIRTIO_STATUS_DRIVER_OK);
    uint8_t status = virtio_status(v);
    if (status & (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_NEEDS_RESET))
        return "device failed at DRIVER_OK";
    if (!(status & VIRTIO_STATUS_DRIVER_OK))
        return "DRIVER_OK did not stick";
    return NULL;
}

/* ---- device configuration ---- */

static bool config_in_range(const struct virtio_dev *v, uint32_t offset, uint32_t size)
{
    return v->device && (uint64_t)offset + size <= v->device_len;
}

uint8_t virtio_config8(const struct virtio_dev *v, uint32_t offset)
{
    return config_in_range(v, offset, 1) ? mmio_read8(v->device + offset) : 0;
}

uint16_t virtio_config16(const struct virtio_dev *v, uint32_t offset)
{
    return config_in_range(v, offset, 2) ? mmio_read16(v->device + offset) : 0;
}

uint32_t virtio_config32(const struct virtio_dev *v, uint32_t offset)
{
    return config_in_range(v, offset, 4) ? mmio_read32(v->device + offset) : 0;
}

uint64_t virtio_config64(const struct virtio_dev *v, uint32_t offset)
{
    if (!config_in_range(v, offset, 8))
        return 0;
    uint64_t val = 0;
    for (int tries = 0; tries < 100; tries++) {
        uint8_t generation = mmio_read8(v->common + COMMON_CONFIG_GENERATION);
        val = mmio_read32(v->device + offset) | (uint64_t)mmio_read32(v->device + offset + 4) << 32;
        if (mmio_read8(v->common + COMMON_CONFIG_GENERATION) == generation)
            break;
    }
    return val;
}

/* ---- split virtqueue, driver side (§2.7.13, §2.7.14) ---- */

int virtq_submit(struct virtq *q, const struct virtq_buf *bufs, int n)
{
    if (n <= 0 || n > q->num_free)
        return -1;
    uint16_t head = q->free_head, i = head;
    for (int k = 0; k < n; k++) {
        volatile struct virtq_desc *d = &q->desc[i];
        d->addr = (uint64_t)(uintptr_t)bufs[k].addr;
        d->len = bufs[k].len;
        d->flags = (uint16_t)((k + 1 < n ? VIRTQ_DESC_F_NEXT : 0) | (bufs[k].device_writes ? VIRTQ_DESC_F_WRITE : 0));
        if (k + 1 < n)
            i = d->next; /* the free list already links the chain */
    }
    q->free_head = q->desc[i].next;
    q->num_free = (uint16_t)(q->num_free - n);
    q->avail->ring[q->avail_idx & (q->size - 1)] = head;
    compiler_barrier(); /* ring entry before idx; x86 keeps stores in order (SDM vol 3 §9.2.2) */
    q->avail_idx++;
    q->avail->idx = q->avail_idx;
    return head;
}

void virtq_kick(struct virtq *q)
{
    compiler_barrier();
    mmio_write16(q->notify, q->index);
}

/* Returns the chain starting at head to the free list; false if it is malformed. */
static bool free_chain(struct virtq *q, uint16_t head)
{
    uint16_t i = head, count = 1;
    while (q->desc[i].flags & VIRTQ_DESC_F_NEXT) {
        i = q->desc[i].next;
        if (i >= q->size || ++count > q->size)
            return false;
    }
    q->desc[i].next = q->free_head;
    q->free_head = head;
    q->num_free = (uint16_t)(q->num_free + count);
    return true;
}

int virtq_poll(struct virtq *q, uint32_t *id, uint32_t *len)
{
    if (q->used->idx == q->last_used)
        return 0;
    compiler_barrier(); /* idx before the entry it covers */
    volatile struct virtq_used_elem *e = &q->used->ring[q->last_used & (q->size - 1)];
    *id = e->id;
    *len = e->len;
    q->last_used++;
    return *id < q->size && free_chain(q, (uint16_t)*id) ? 1 : -1;
}

bool virtq_wait(struct virtq *q, uint32_t *id, uint32_t *len, uint64_t timeout_us)
{
    uint64_t start = time_us();
    for (;;) {
        int got = virtq_poll(q, id, len);
        if (got)
            return got > 0;
        if (time_us() - start >= timeout_us)
            return false;
        cpu_relax();
    }
}
