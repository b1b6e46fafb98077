/* In-process virtio-blk harness: a real virtio-blk device on a real image file (libaio backend),
 * driven through its PCI BAR registers and virtqueues built in guest memory, without KVM. */
#include "vblk.h"

#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

#define RING_GPA 0x100000ULL
#define RING_STRIDE 0x8000ULL             /* per queue: descriptors, rings, headers, status bytes */
#define BAR_VIRTIO 4
#define GSI_BASE 100
#define VECTOR_DATA 0x30                  /* MSI data of vector 0; vector q has 0x30 + q */

static int stub_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    struct vblk_harness *h = ctx;
    (void)addr;
    if (gsi < 0 && h->next_gsi < 64)
        gsi = GSI_BASE + h->next_gsi++;
    if (gsi >= GSI_BASE && gsi < GSI_BASE + 64)
        h->gsi_data[gsi - GSI_BASE] = data;
    return gsi;
}

static void stub_fire(void *ctx, int gsi)
{
    struct vblk_harness *h = ctx;
    h->irqs++;
    if (gsi >= GSI_BASE && gsi < GSI_BASE + 64) {
        uint32_t v = h->gsi_data[gsi - GSI_BASE] - VECTOR_DATA;
        if (v <= VBH_MAX_QUEUES)
            __atomic_fetch_add(&h->vector_irqs[v], 1, __ATOMIC_RELAXED);
    }
    if (h->threaded) {
        uint64_t one = 1;
        if (write(h->irq_efd, &one, sizeof(one)) < 0) {
            /* saturated: already pending */
        }
    }
}

static void common_write(struct vblk_harness *h, unsigned off, uint32_t v, unsigned len)
{
    struct pci_bar *bar = &h->blk.vp.pci.bars[BAR_VIRTIO];
    bar->fn(bar->opaque, off, (uint8_t *)&v, len, true);
}

static uint32_t common_read(struct vblk_harness *h, unsigned off, unsigned len)
{
    uint32_t v = 0;
    struct pci_bar *bar = &h->blk.vp.pci.bars[BAR_VIRTIO];
    bar->fn(bar->opaque, off, (uint8_t *)&v, len, false);
    return v;
}

uint8_t vbh_device_status(struct vblk_harness *h)
{
    return (uint8_t)common_read(h, 0x14, 1);
}

void *vbh_ptr(struct vblk_harness *h, uint64_t gpa, uint64_t len)
{
    return mem_gpa_to_hva_rw(&h->mem, gpa, len);
}

static void setup_queue(struct vblk_harness *h, int q)
{
    struct vbh_queue *vq = &h->qs[q];
    common_write(h, 0x16, (uint32_t)q, 2);
    common_write(h, 0x18, VBH_QSIZE, 2);
    common_write(h, 0x20, (uint32_t)vq->desc_gpa, 4);
    common_write(h, 0x24, 0, 4);
    common_write(h, 0x28, (uint32_t)vq->avail_gpa, 4);
    common_write(h, 0x2c, 0, 4);
    common_write(h, 0x30, (uint32_t)vq->used_gpa, 4);
    common_write(h, 0x34, 0, 4);
    common_write(h, 0x1c, 1, 2);
}

/* Driver side of virtio 1.2 §3.1.1 through the common configuration registers. */
static int activate(struct vblk_harness *h, bool event_idx)
{
    common_write(h, 0x14, 0, 1);
    common_write(h, 0x14, 1 | 2, 1);
    common_write(h, 0x00, 1, 4);
    uint32_t hi = common_read(h, 0x04, 4);
    common_write(h, 0x00, 0, 4);
    uint32_t lo = common_read(h, 0x04, 4);
    common_write(h, 0x08, 0, 4);
    common_write(h, 0x0c, lo & ~(event_idx ? 0u : (1u << 29)) & ~(h->nqueues > 1 ? 0u : (1u << 12)), 4);
    common_write(h, 0x08, 1, 4);
    common_write(h, 0x0c, hi & 1u, 4);            /* VERSION_1 only from the high word */
    common_write(h, 0x14, 1 | 2 | 8, 1);
    if (!(common_read(h, 0x14, 1) & 8))
        return -1;
    for (int q = 0; q < h->nqueues; q++)
        setup_queue(h, q);
    common_write(h, 0x14, 1 | 2 | 8 | 4, 1);
    return (common_read(h, 0x14, 1) & 0xc0) ? -1 : 0;
}

int vbh_open(struct vblk_harness *h, const char *path, bool readonly, enum blk_cache cache, bool event_idx)
{
    return vbh_open_mq(h, path, readonly, cache, event_idx, 1);
}

int vbh_open_mq(struct vblk_harness *h, const char *path, bool readonly, enum blk_cache cache, bool event_idx,
                int nqueues)
{
    memset(h, 0, sizeof(*h));
    if (nqueues < 1 || nqueues > VBH_MAX_QUEUES)
        return -1;
    h->nqueues = nqueues;
    if (mem_init_ram(&h->mem, VBH_DATA_GPA + VBH_DATA_SIZE + (16ULL << 20)) || loop_init(&h->loop))
        return -1;
    struct block_options o = { .path = path, .readonly = readonly, .cache = cache };
    char err[256];
    if (block_open(&h->backend, &o, &h->loop, err, sizeof(err)))
        return -1;
    struct virtio_host host = { .msi = { stub_route, stub_fire, h }, .ctx = h, .loop = &h->loop, .mem = &h->mem };
    if (virtio_blk_init(&h->blk, &h->backend, "harness", nqueues, &host))
        return -1;
    for (int q = 0; q < nqueues; q++) {
        struct vbh_queue *vq = &h->qs[q];
        vq->desc_gpa = RING_GPA + RING_STRIDE * (uint64_t)q;
        vq->avail_gpa = vq->desc_gpa + 16 * VBH_QSIZE;
        vq->used_gpa = (vq->avail_gpa + 6 + 2 * VBH_QSIZE + 4095) & ~4095ULL;
        vq->hdr_gpa = vq->used_gpa + 0x1000;           /* 16-byte headers, one per triple */
        vq->status_gpa = vq->hdr_gpa + 16 * VBH_QSIZE;
        for (int i = VBH_QSIZE / 3 - 1; i >= 0; i--)
            vq->free_desc[vq->nfree++] = (uint16_t)(i * 3);
    }
    return activate(h, event_idx);
}

static void *loop_thread(void *arg)
{
    struct vblk_harness *h = arg;
    while (!h->stop)
        loop_poll(&h->loop, 50);
    return NULL;
}

int vbh_start_thread(struct vblk_harness *h)
{
    struct virtio_pci *vp = &h->blk.vp;
    h->irq_efd = eventfd(0, EFD_CLOEXEC);
    /* MSI-X: entry q unmasked at the LAPIC window with data 0x30 + q, enabled in the capability,
     * queue q -> vector q. */
    for (int q = 0; q < h->nqueues; q++) {
        uint32_t entry[4] = { 0xfee00000u, 0, VECTOR_DATA + (uint32_t)q, 0 };
        for (int i = 0; i < 4; i++)
            msix_table_io(&vp->msix, (uint64_t)q * 16 + (uint64_t)i * 4, (uint8_t *)&entry[i], 4, true);
    }
    pci_config_write(&vp->pci, vp->msix.cap + 2, 2, 0x8000 | (pci_config_read(&vp->pci, vp->msix.cap + 2, 2) & 0x7ff));
    for (int q = 0; q < h->nqueues; q++) {
        common_write(h, 0x16, (uint32_t)q, 2);
        common_write(h, 0x1a, (uint32_t)q, 2);
    }
    h->threaded = true;
    return pthread_create(&h->loop_thread, NULL, loop_thread, h) ? -1 : 0;
}

void vbh_close(struct vblk_harness *h)
{
    if (h->threaded) {
        h->stop = true;
        pthread_join(h->loop_thread, NULL);
        close(h->irq_efd);
        h->threaded = false;
    }
    while (h->backend.inflight > 0)
        block_reap(&h->backend);
    virtio_blk_destroy(&h->blk);
    block_close(&h->backend);
    loop_destroy(&h->loop);
    mem_free(&h->mem);
}

static void raw_desc(struct vblk_harness *h, struct vbh_queue *vq, uint16_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    struct vq_desc d = { addr, len, flags, next };
    mem_write(&h->mem, vq->desc_gpa + 16ULL * i, &d, sizeof(d));
}

static void publish(struct vblk_harness *h, struct vbh_queue *vq, uint16_t head)
{
    mem_write(&h->mem, vq->avail_gpa + 4 + 2ULL * (vq->avail_idx % VBH_QSIZE), &head, 2);
    vq->avail_idx++;
    uint16_t *idx = vbh_ptr(h, vq->avail_gpa + 2, 2);
    __atomic_store_n(idx, vq->avail_idx, __ATOMIC_RELEASE);
}

void vbh_raw_desc(struct vblk_harness *h, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    raw_desc(h, &h->qs[0], i, addr, len, flags, next);
}

void vbh_publish(struct vblk_harness *h, uint16_t head)
{
    publish(h, &h->qs[0], head);
}

int vbh_queue_on(struct vblk_harness *h, int q, uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len)
{
    struct vbh_queue *vq = &h->qs[q];
    if (vq->nfree == 0)
        return -1;
    uint16_t head = vq->free_desc[--vq->nfree];
    uint64_t hdr = vq->hdr_gpa + 16ULL * head, status = vq->status_gpa + head;
    uint8_t hdrbytes[16] = { 0 };
    memcpy(hdrbytes, &type, 4);
    memcpy(hdrbytes + 8, &sector, 8);
    mem_write(&h->mem, hdr, hdrbytes, 16);
    uint8_t poison = 0xee;
    mem_write(&h->mem, status, &poison, 1);
    bool device_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    if (len) {
        raw_desc(h, vq, head, hdr, 16, VQ_DESC_F_NEXT, head + 1);
        raw_desc(h, vq, head + 1, data_gpa, len, VQ_DESC_F_NEXT | (device_writes ? VQ_DESC_F_WRITE : 0), head + 2);
        raw_desc(h, vq, head + 2, status, 1, VQ_DESC_F_WRITE, 0);
    } else {
        raw_desc(h, vq, head, hdr, 16, VQ_DESC_F_NEXT, head + 2);
        raw_desc(h, vq, head + 2, status, 1, VQ_DESC_F_WRITE, 0);
    }
    publish(h, vq, head);
    return head;
}

int vbh_queue(struct vblk_harness *h, uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len)
{
    return vbh_queue_on(h, 0, type, sector, data_gpa, len);
}

void vbh_kick_on(struct vblk_harness *h, int q)
{
    uint16_t v = (uint16_t)q;
    struct pci_bar *bar = &h->blk.vp.pci.bars[BAR_VIRTIO];
    bar->fn(bar->opaque, 0x3000 + 4ULL * (uint64_t)q, (uint8_t *)&v, 2, true);   /* notify_off q, multiplier 4 */
}

void vbh_kick(struct vblk_harness *h)
{
    vbh_kick_on(h, 0);
}

static uint16_t used_idx(struct vblk_harness *h, struct vbh_queue *vq)
{
    uint16_t *idx = vbh_ptr(h, vq->used_gpa + 2, 2);
    return __atomic_load_n(idx, __ATOMIC_ACQUIRE);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int vbh_wait_on(struct vblk_harness *h, int q, int n, int timeout_ms)
{
    struct vbh_queue *vq = &h->qs[q];
    long end = now_ms() + timeout_ms;
    while ((uint16_t)(used_idx(h, vq) - vq->used_seen) < n && now_ms() < end) {
        if (!h->threaded) {
            loop_poll(&h->loop, 10);
            continue;
        }
        /* Event-idx driver side (§2.7.10): interrupt me once the device passes used_seen. */
        uint16_t *used_event = vbh_ptr(h, vq->avail_gpa + 4 + 2ULL * VBH_QSIZE, 2);
        __atomic_store_n(used_event, vq->used_seen, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if ((uint16_t)(used_idx(h, vq) - vq->used_seen) >= n)
            break;
        struct pollfd p = { h->irq_efd, POLLIN, 0 };
        uint64_t v;
        if (poll(&p, 1, 10) == 1 && read(h->irq_efd, &v, sizeof(v)) < 0)
            break;
    }
    return (uint16_t)(used_idx(h, vq) - vq->used_seen);
}

int vbh_wait(struct vblk_harness *h, int n, int timeout_ms)
{
    return vbh_wait_on(h, 0, n, timeout_ms);
}

bool vbh_next_used_on(struct vblk_harness *h, int q, uint16_t *head, uint32_t *len, uint8_t *status)
{
    struct vbh_queue *vq = &h->qs[q];
    if (used_idx(h, vq) == vq->used_seen)
        return false;
    struct vq_used_elem e;
    mem_read(&h->mem, vq->used_gpa + 4 + 8ULL * (vq->used_seen % VBH_QSIZE), &e, sizeof(e));
    vq->used_seen++;
    *head = (uint16_t)e.id;
    *len = e.len;
    mem_read(&h->mem, vq->status_gpa + e.id, status, 1);
    if (e.id < VBH_QSIZE && e.id % 3 == 0)
        vq->free_desc[vq->nfree++] = (uint16_t)e.id;
    return true;
}

bool vbh_next_used(struct vblk_harness *h, uint16_t *head, uint32_t *len, uint8_t *status)
{
    return vbh_next_used_on(h, 0, head, len, status);
}
