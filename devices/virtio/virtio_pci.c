/* Virtio 1.x over PCI, modern only (virtio 1.2 §4.1): capabilities, common configuration, feature
 * negotiation, status and reset, ISR, notifications through ioeventfd (or inside the vCPU exit for
 * devices that ask), interrupts through MSI-X (irqfd) or INTx. */
#include "virtio_pci.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040     /* + device type (§4.1.2.1) */

/* BAR 4 layout; BAR 1 holds the MSI-X table (offset 0) and PBA (offset 0x800). */
#define BAR_MSIX 1
#define BAR_VIRTIO 4
#define BAR_VIRTIO_SIZE 0x4000
#define OFF_COMMON 0x0000
#define OFF_ISR 0x1000
#define OFF_DEVICE 0x2000
#define OFF_NOTIFY 0x3000
#define NOTIFY_MULTIPLIER 4
#define COMMON_SIZE 0x38

/* struct virtio_pci_cap cfg_type values (§4.1.4). */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4, CAP_PCI_CFG = 5 };

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

static int add_virtio_cap(struct virtio_pci *vp, uint8_t type, uint32_t offset, uint32_t length, uint8_t extra)
{
    int off = pci_device_add_capability(&vp->pci, PCI_CAP_ID_VNDR, (uint8_t)(16 + extra));
    if (off < 0)
        return off;
    uint8_t *c = vp->pci.config + off;
    c[2] = (uint8_t)(16 + extra);           /* cap_len */
    c[3] = type;
    c[4] = type == CAP_PCI_CFG ? 0 : BAR_VIRTIO;
    put32(c + 8, type == CAP_PCI_CFG ? 0 : offset);
    put32(c + 12, type == CAP_PCI_CFG ? 0 : length);
    if (type == CAP_NOTIFY)
        put32(c + 16, NOTIFY_MULTIPLIER);
    if (type == CAP_PCI_CFG) {
        /* The driver programs bar, offset, length and data (§4.1.4.9). */
        vp->pci.wmask[off + 4] = 0xff;
        memset(vp->pci.wmask + off + 8, 0xff, 12);
    }
    return off;
}

/* ---- interrupts ---- */

static void raise_vector_or_intx(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
    if (msix_enabled(&vp->msix)) {
        if (vector != VIRTIO_NO_VECTOR)
            msix_notify(&vp->msix, vector);
        return;
    }
    vp->isr |= isr_bit;
    pci_set_intx(&vp->pci, 1);
}

void virtio_pci_notify_queue(struct virtio_pci *vp, int q)
{
    if (q < 0 || q >= vp->ops->nqueues || !(vp->status & VIRTIO_STATUS_DRIVER_OK))
        return;
    if (!vq_should_notify(&vp->vqs[q]))
        return;
    raise_vector_or_intx(vp, vp->queue_vector[q], 1);
}

void virtio_pci_notify_config(struct virtio_pci *vp)
{
    vp->config_generation++;
    raise_vector_or_intx(vp, vp->config_vector, 2);
}

void virtio_pci_set_needs_reset(struct virtio_pci *vp)
{
    if (vp->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    vp->status |= VIRTIO_STATUS_NEEDS_RESET;
    for (int q = 0; q < vp->ops->nqueues; q++)
        vp->vqs[q].enabled = false;
    if (vp->status & VIRTIO_STATUS_DRIVER_OK)
        virtio_pci_notify_config(vp);
}

bool virtio_pci_has_feature(const struct virtio_pci *vp, unsigned bit)
{
    return (vp->driver_features >> bit) & 1;
}

struct virtqueue *virtio_pci_queue(struct virtio_pci *vp, int q)
{
    return (q >= 0 && q < vp->ops->nqueues) ? &vp->vqs[q] : NULL;
}

/* ---- reset and status ---- */

static void device_reset(struct virtio_pci *vp)
{
    if (vp->ops->reset)
        vp->ops->reset(vp->dev);
    vp->status = 0;
    vp->driver_features = 0;
    vp->device_feature_select = vp->driver_feature_select = 0;
    vp->queue_select = 0;
    vp->config_vector = VIRTIO_NO_VECTOR;
    vp->isr = 0;
    for (int q = 0; q < vp->ops->nqueues; q++) {
        vq_reset(&vp->vqs[q]);
        vp->queue_vector[q] = VIRTIO_NO_VECTOR;
        vp->queue_size[q] = vp->ops->queue_size;
    }
    pci_set_intx(&vp->pci, 0);
}

static void set_status(struct virtio_pci *vp, uint8_t status)
{
    if (status == 0) {
        device_reset(vp);
        return;
    }
    uint8_t old = vp->status;
    if ((status & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        /* FEATURES_OK sticks only for a subset of what we offered, including VERSION_1 (§3.1.1). */
        bool ok = !(vp->driver_features & ~vp->device_features) &&
                  virtio_pci_has_feature(vp, VIRTIO_F_VERSION_1);
        if (!ok)
            status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
    }
    vp->status = (uint8_t)(status | (old & VIRTIO_STATUS_NEEDS_RESET));
    if ((status & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
        bool event_idx = virtio_pci_has_feature(vp, VIRTIO_F_EVENT_IDX);
        for (int q = 0; q < vp->ops->nqueues; q++) {
            vp->vqs[q].event_idx = event_idx;
            vp->vqs[q].indirect = virtio_pci_has_feature(vp, VIRTIO_F_INDIRECT_DESC);
        }
        if (!(vp->status & VIRTIO_STATUS_FEATURES_OK) || (vp->ops->activate && vp->ops->activate(vp->dev) < 0))
            vp->status |= VIRTIO_STATUS_FAILED;
    }
}

/* ---- common configuration (§4.1.4.3) ---- */

static uint32_t common_read(struct virtio_pci *vp, unsigned off)
{
    int q = vp->queue_select;
    bool qok = q < vp->ops->nqueues;
    struct virtqueue *vq = qok ? &vp->vqs[q] : NULL;
    switch (off) {
    case 0x00: return vp->device_feature_select;
    case 0x04: return vp->device_feature_select < 2 ? (uint32_t)(vp->device_features >> (32 * vp->device_feature_select)) : 0;
    case 0x08: return vp->driver_feature_select;
    case 0x0c: return vp->driver_feature_select < 2 ? (uint32_t)(vp->driver_features >> (32 * vp->driver_feature_select)) : 0;
    case 0x10: return vp->config_vector;
    case 0x12: return (uint32_t)vp->ops->nqueues;
    case 0x14: return vp->status;
    case 0x15: return vp->config_generation;
    case 0x16: return vp->queue_select;
    case 0x18: return qok ? vp->queue_size[q] : 0;
    case 0x1a: return qok ? vp->queue_vector[q] : VIRTIO_NO_VECTOR;
    case 0x1c: return qok ? vq->enabled : 0;
    case 0x1e: return qok ? (uint32_t)q : 0;        /* queue_notify_off */
    case 0x20: return qok ? (uint32_t)vq->desc_gpa : 0;
    case 0x24: return qok ? (uint32_t)(vq->desc_gpa >> 32) : 0;
    case 0x28: return qok ? (uint32_t)vq->avail_gpa : 0;
    case 0x2c: return qok ? (uint32_t)(vq->avail_gpa >> 32) : 0;
    case 0x30: return qok ? (uint32_t)vq->used_gpa : 0;
    case 0x34: return qok ? (uint32_t)(vq->used_gpa >> 32) : 0;
    default: return 0;
    }
}

static void set_half(uint64_t *v, bool high, uint32_t val)
{
    *v = high ? ((*v & 0xffffffffULL) | ((uint64_t)val << 32)) : ((*v & ~0xffffffffULL) | val);
}

static void queue_enable(struct virtio_pci *vp, int q)
{
    struct virtqueue *vq = &vp->vqs[q];
    vq->size = vp->queue_size[q];
    if (vq_enable(vq, vp->host.mem) < 0)
        virtio_pci_set_needs_reset(vp);
}

static void common_write(struct virtio_pci *vp, unsigned off, uint32_t val)
{
    int q = vp->queue_select;
    bool qok = q < vp->ops->nqueues;
    /* Queue fields may change only while the queue is disabled (§4.1.4.3.2). */
    bool qw = qok && !vp->vqs[q].enabled;
    struct virtqueue *vq = qok ? &vp->vqs[q] : NULL;
    switch (off) {
    case 0x00: vp->device_feature_select = val; break;
    case 0x08: vp->driver_feature_select = val; break;
    case 0x0c:
        if (vp->driver_feature_select < 2 && !(vp->status & VIRTIO_STATUS_FEATURES_OK))
            set_half(&vp->driver_features, vp->driver_feature_select == 1, val);
        break;
    case 0x10: vp->config_vector = (uint16_t)(val < (uint32_t)vp->msix.nvectors ? val : VIRTIO_NO_VECTOR); break;
    case 0x14: set_status(vp, (uint8_t)val); break;
    case 0x16: vp->queue_select = (uint16_t)val; break;
    case 0x18:
        /* A smaller power of two is allowed; anything else keeps the offered size. */
        if (qw && val && val <= vp->ops->queue_size && !(val & (val - 1)))
            vp->queue_size[q] = (uint16_t)val;
        break;
    case 0x1a: if (qok) vp->queue_vector[q] = (uint16_t)(val < (uint32_t)vp->msix.nvectors ? val : VIRTIO_NO_VECTOR); break;
    case 0x1c: if (qw && val == 1) queue_enable(vp, q); break;
    case 0x20: case 0x24: if (qw) set_half(&vq->desc_gpa, off == 0x24, val); break;
    case 0x28: case 0x2c: if (qw) set_half(&vq->avail_gpa, off == 0x2c, val); break;
    case 0x30: case 0x34: if (qw) set_half(&vq->used_gpa, off == 0x34, val); break;
    default: break;
    }
}

/* Field widths of the common configuration (fields are naturally aligned). */
static unsigned common_field_size(unsigned off)
{
    if (off < 0x10) return 4;
    if (off < 0x14) return 2;
    if (off < 0x16) return 1;
    if (off < 0x20) return 2;
    if (off < COMMON_SIZE) return 4;  /* 64-bit fields accessed as two dwords */
    return 0;
}

static void common_io(struct virtio_pci *vp, unsigned off, uint8_t *data, uint32_t len, bool is_write)
{
    uint32_t v = 0;
    unsigned size = common_field_size(off);
    unsigned start = off & ~(size - 1);
    /* Writes must match a field's width (§4.1.3.1: the natural access method); a narrower read inside
     * one field returns those bytes of it, as drivers that read a 32-bit field with 16-bit accesses
     * (iPXE 1.0.0's vpm_ioread32) expect. Anything else reads 0 and writes nothing. */
    bool natural = size == len && start == off;
    bool narrow_read = !is_write && size && (len == 1 || len == 2) && off + len <= start + size;
    if (!natural && !narrow_read) {
        if (!is_write)
            memset(data, 0, len);
        return;
    }
    if (is_write) {
        memcpy(&v, data, len);
        common_write(vp, off, v);
    } else {
        v = common_read(vp, start) >> (8 * (off - start));
        memcpy(data, &v, len);
    }
}

/* ---- the BARs ---- */

static void kick(struct virtio_pci *vp, unsigned q)
{
    /* Through the eventfd, so queue processing stays on the event-loop thread. */
    if (q < (unsigned)vp->ops->nqueues && vp->kick_efd[q] >= 0) {
        uint64_t one = 1;
        if (write(vp->kick_efd[q], &one, sizeof(one)) < 0) {
            /* counter saturated: a kick is already pending */
        }
    }
}

void virtio_pci_defer(struct virtio_pci *vp, int q)
{
    if (q >= 0)
        kick(vp, (unsigned)q);
}

static bool queue_live(const struct virtio_pci *vp, int q)
{
    return (vp->status & VIRTIO_STATUS_DRIVER_OK) && !(vp->status & VIRTIO_STATUS_NEEDS_RESET) &&
           vp->vqs[q].enabled;
}

static void notify_write(struct virtio_pci *vp, unsigned q)
{
    if (!vp->ops->queue_notify_exit) {
        /* A notify write that missed the ioeventfd (other width): same effect. */
        kick(vp, q);
        return;
    }
    if (q >= (unsigned)vp->ops->nqueues)
        return;
    pthread_mutex_lock(&vp->lock);
    if (queue_live(vp, (int)q))
        vp->ops->queue_notify_exit(vp->dev, (int)q);
    pthread_mutex_unlock(&vp->lock);
}

static void virtio_bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct virtio_pci *vp = opaque;
    if (offset >= OFF_NOTIFY) {
        if (is_write)
            notify_write(vp, (unsigned)((offset - OFF_NOTIFY) / NOTIFY_MULTIPLIER));
        else
            memset(data, 0, len);
        return;
    }
    pthread_mutex_lock(&vp->lock);
    if (offset < OFF_COMMON + COMMON_SIZE) {
        common_io(vp, (unsigned)offset, data, len, is_write);
    } else if (offset >= OFF_ISR && offset < OFF_ISR + 4) {
        if (!is_write) {
            memset(data, 0, len);
            data[0] = offset == OFF_ISR ? vp->isr : 0;
            if (offset == OFF_ISR) {  /* reading ISR acknowledges and lowers INTx (§4.1.4.5) */
                vp->isr = 0;
                pci_set_intx(&vp->pci, 0);
            }
        }
    } else if (offset >= OFF_DEVICE && offset - OFF_DEVICE < vp->ops->config_size &&
               len <= vp->ops->config_size - (offset - OFF_DEVICE)) {
        if (is_write) {
            if (vp->ops->config_write)
                vp->ops->config_write(vp->dev, (unsigned)(offset - OFF_DEVICE), data, len);
        } else {
            vp->ops->config_read(vp->dev, (unsigned)(offset - OFF_DEVICE), data, len);
        }
    } else if (!is_write) {
        memset(data, 0, len);
    }
    pthread_mutex_unlock(&vp->lock);
}

static void msix_bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct virtio_pci *vp = opaque;
    if (offset < 0x800)
        msix_table_io(&vp->msix, offset, data, len, is_write);
    else
        msix_pba_io(&vp->msix, offset - 0x800, data, len, is_write);
}

/* ---- ioeventfds follow the notify area wherever the BAR goes ---- */

static void ioeventfds_set(struct virtio_pci *vp, bool assign)
{
    if (!vp->host.ioeventfd || vp->ops->queue_notify_exit || assign == vp->ioeventfd_on)
        return;
    for (int q = 0; q < vp->ops->nqueues; q++)
        vp->host.ioeventfd(vp->host.ctx, vp->notify_base + OFF_NOTIFY + (uint64_t)q * NOTIFY_MULTIPLIER, 2,
                           vp->kick_efd[q], assign);
    vp->ioeventfd_on = assign;
}

static void bar_moved(struct pci_device *d, int bar, uint64_t addr, bool mapped)
{
    struct virtio_pci *vp = d->owner;
    if (bar != BAR_VIRTIO)
        return;
    ioeventfds_set(vp, false);
    vp->notify_base = addr;
    if (mapped)
        ioeventfds_set(vp, true);
}

static void config_written(struct pci_device *d, unsigned offset, unsigned len)
{
    struct virtio_pci *vp = d->owner;
    msix_config_written(&vp->msix, offset, len);
}

static void on_kick(void *ctx, uint32_t events)
{
    struct virtio_kick_source *ks = ctx;
    struct virtio_pci *vp = ks->vp;
    uint64_t v;
    (void)events;
    if (read(vp->kick_efd[ks->q], &v, sizeof(v)) < 0)
        return;
    pthread_mutex_lock(&vp->lock);
    if (queue_live(vp, ks->q))
        vp->ops->queue_notify(vp->dev, ks->q);
    pthread_mutex_unlock(&vp->lock);
}

int virtio_pci_init(struct virtio_pci *vp, const struct virtio_device_ops *ops, void *dev, const struct virtio_host *host)
{
    memset(vp, 0, sizeof(*vp));
    if (ops->nqueues < 1 || ops->nqueues > VIRTIO_MAX_QUEUES || ops->config_size > 0x1000)
        return -EINVAL;
    pthread_mutex_init(&vp->lock, NULL);
    vp->ops = ops;
    vp->dev = dev;
    vp->host = *host;
    pci_device_init(&vp->pci, ops->name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id),
                    ops->pci_class, 1, VIRTIO_PCI_VENDOR, 0x40);
    vp->pci.owner = vp;
    vp->pci.bar_moved = bar_moved;
    vp->pci.config_written = config_written;
    vp->device_features = (ops->features ? ops->features(dev) : 0) | (1ULL << VIRTIO_F_VERSION_1) |
                          (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << VIRTIO_F_INDIRECT_DESC);
    for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
        vp->kick_efd[q] = -1;
    int rc = pci_device_set_bar(&vp->pci, BAR_MSIX, PCI_BAR_MEM32, 0x1000, false, msix_bar_io, vp);
    if (!rc) rc = pci_device_set_bar(&vp->pci, BAR_VIRTIO, PCI_BAR_MEM64, BAR_VIRTIO_SIZE, true, virtio_bar_io, vp);
    if (!rc) rc = msix_init(&vp->msix, &vp->pci, ops->nqueues + 1, BAR_MSIX, 0, 0x800, host->msi);
    if (rc >= 0) rc = add_virtio_cap(vp, CAP_COMMON, OFF_COMMON, COMMON_SIZE, 0);
    if (rc >= 0) rc = add_virtio_cap(vp, CAP_NOTIFY, OFF_NOTIFY, (uint32_t)ops->nqueues * NOTIFY_MULTIPLIER, 4);
    if (rc >= 0) rc = add_virtio_cap(vp, CAP_ISR, OFF_ISR, 4, 0);
    if (rc >= 0 && ops->config_size) rc = add_virtio_cap(vp, CAP_DEVICE, OFF_DEVICE, (uint32_t)ops->config_size, 0);
    if (rc >= 0) rc = add_virtio_cap(vp, CAP_PCI_CFG, 0, 0, 4);
    for (int q = 0; rc >= 0 && q < ops->nqueues; q++) {
        vp->kick_efd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (vp->kick_efd[q] < 0) {
            rc = -EMFILE;
            break;
        }
        struct virtio_kick_source *ks = &vp->kick_sources[q];
        ks->vp = vp;
        ks->q = q;
        if (host->loop)
            rc = loop_add(host->loop, vp->kick_efd[q], EPOLLIN, on_kick, ks);
    }
    for (int q = 0; q < ops->nqueues; q++)
        vp->vqs[q].mem = host->mem;
    device_reset(vp);
    return rc < 0 ? rc : 0;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
    ioeventfds_set(vp, false);
    for (int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        if (vp->kick_efd[q] >= 0) {
            if (vp->host.loop)
                loop_remove(vp->host.loop, vp->kick_efd[q]);
            close(vp->kick_efd[q]);
        }
        vp->kick_efd[q] = -1;
    }
    msix_destroy(&vp->msix);
    pthread_mutex_destroy(&vp->lock);
}
