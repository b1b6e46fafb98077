/* In-process virtio-scsi harness: a real virtio-scsi adapter on a real image file (libaio backend),
 * driven through its PCI BAR registers and virtqueues built in guest memory, without KVM. */
#include "vscsi.h"

#include <string.h>
#include <time.h>

#define RING_GPA 0x100000ULL          /* queue q's rings at RING_GPA + q * RING_STRIDE */
#define RING_STRIDE 0x10000ULL
#define REQ_GPA 0x300000ULL           /* request-queue headers, 0x80 per descriptor index */
#define RESP_GPA 0x340000ULL
#define CTRL_REQ_GPA 0x380000ULL      /* control requests and responses, 0x40 per index */
#define CTRL_RESP_GPA 0x390000ULL
#define BAR_VIRTIO 4
#define REQ_SIZE (VIRTIO_SCSI_REQ_HDR + VIRTIO_SCSI_CDB_DEFAULT)

static int stub_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    (void)ctx; (void)addr; (void)data;
    return gsi < 0 ? 100 : gsi;
}

static void stub_fire(void *ctx, int gsi)
{
    (void)ctx; (void)gsi;
}

static void common_write(struct vscsi_harness *h, unsigned off, uint32_t v, unsigned len)
{
    struct pci_bar *bar = &h->scsi.vp.pci.bars[BAR_VIRTIO];
    bar->fn(bar->opaque, off, (uint8_t *)&v, len, true);
}

static uint32_t common_read(struct vscsi_harness *h, unsigned off, unsigned len)
{
    uint32_t v = 0;
    struct pci_bar *bar = &h->scsi.vp.pci.bars[BAR_VIRTIO];
    bar->fn(bar->opaque, off, (uint8_t *)&v, len, false);
    return v;
}

uint8_t vsh_device_status(struct vscsi_harness *h)
{
    return (uint8_t)common_read(h, 0x14, 1);
}

void *vsh_ptr(struct vscsi_harness *h, uint64_t gpa, uint64_t len)
{
    return mem_gpa_to_hva_rw(&h->mem, gpa, len);
}

uint64_t vsh_req_gpa(uint16_t head) { return REQ_GPA + 0x80ULL * head; }
uint64_t vsh_resp_gpa(uint16_t head) { return RESP_GPA + 0x80ULL * head; }

/* Driver side of virtio 1.2 §3.1.1 through the common configuration registers. */
static int activate(struct vscsi_harness *h)
{
    common_write(h, 0x14, 0, 1);
    common_write(h, 0x14, 1 | 2, 1);
    common_write(h, 0x00, 1, 4);
    uint32_t hi = common_read(h, 0x04, 4);
    common_write(h, 0x08, 0, 4);
    common_write(h, 0x0c, 0, 4);
    common_write(h, 0x08, 1, 4);
    common_write(h, 0x0c, hi & 1u, 4);            /* VERSION_1 only */
    common_write(h, 0x14, 1 | 2 | 8, 1);
    if (!(common_read(h, 0x14, 1) & 8))
        return -1;
    for (int q = 0; q < 3; q++) {
        h->desc_gpa[q] = RING_GPA + RING_STRIDE * q;
        h->avail_gpa[q] = h->desc_gpa[q] + 0x1000;
        h->used_gpa[q] = h->desc_gpa[q] + 0x2000;
        common_write(h, 0x16, (uint32_t)q, 2);
        common_write(h, 0x18, VSH_QSIZE, 2);
        common_write(h, 0x20, (uint32_t)h->desc_gpa[q], 4);
        common_write(h, 0x24, 0, 4);
        common_write(h, 0x28, (uint32_t)h->avail_gpa[q], 4);
        common_write(h, 0x2c, 0, 4);
        common_write(h, 0x30, (uint32_t)h->used_gpa[q], 4);
        common_write(h, 0x34, 0, 4);
        common_write(h, 0x1c, 1, 2);
    }
    common_write(h, 0x14, 1 | 2 | 8 | 4, 1);
    return (common_read(h, 0x14, 1) & 0xc0) ? -1 : 0;
}

int vsh_open(struct vscsi_harness *h, const char *path)
{
    memset(h, 0, sizeof(*h));
    if (mem_init_ram(&h->mem, VSH_DATA_GPA + VSH_DATA_SIZE + (16ULL << 20)) || loop_init(&h->loop))
        return -1;
    struct block_options o = { .path = path, .readonly = true, .cache = BLK_CACHE_WRITEBACK };
    char err[256];
    if (block_open(&h->backend, &o, &h->loop, err, sizeof(err)))
        return -1;
    struct virtio_host host = { .msi = { stub_route, stub_fire, h }, .ctx = h, .loop = &h->loop, .mem = &h->mem };
    if (virtio_scsi_init(&h->scsi, &h->backend, "HARNESS1", &host))
        return -1;
    return activate(h);
}

void vsh_close(struct vscsi_harness *h)
{
    while (h->backend.inflight > 0)
        block_reap(&h->backend);
    virtio_scsi_destroy(&h->scsi);
    block_close(&h->backend);
    loop_destroy(&h->loop);
    mem_free(&h->mem);
}

void vsh_raw_desc(struct vscsi_harness *h, int q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    struct vq_desc d = { addr, len, flags, next };
    mem_write(&h->mem, h->desc_gpa[q] + 16ULL * i, &d, sizeof(d));
}

void vsh_publish(struct vscsi_harness *h, int q, uint16_t head)
{
    mem_write(&h->mem, h->avail_gpa[q] + 4 + 2ULL * (h->avail_idx[q] % VSH_QSIZE), &head, 2);
    h->avail_idx[q]++;
    uint16_t *idx = vsh_ptr(h, h->avail_gpa[q] + 2, 2);
    __atomic_store_n(idx, h->avail_idx[q], __ATOMIC_RELEASE);
}

/* Next free chain head of `q`, `stride` descriptors apart (the driver side is single-threaded). */
static uint16_t take_head(struct vscsi_harness *h, int q, int stride)
{
    int slots = VSH_QSIZE / stride;
    uint16_t head = (uint16_t)((h->next_slot[q] % slots) * stride);
    h->next_slot[q]++;
    return head;
}

int vsh_command(struct vscsi_harness *h, uint8_t target, uint16_t lun, const uint8_t *cdb, unsigned cdb_len,
                uint64_t data_gpa, uint32_t out_len, uint32_t in_len)
{
    uint16_t head = take_head(h, VIRTIO_SCSI_Q_REQUEST, 4);
    uint8_t req[REQ_SIZE] = { 1, target, (uint8_t)(0x40 | (lun >> 8)), (uint8_t)lun };
    uint64_t id = head;
    memcpy(req + 8, &id, 8);
    memcpy(req + VIRTIO_SCSI_REQ_HDR, cdb, cdb_len < VIRTIO_SCSI_CDB_DEFAULT ? cdb_len : VIRTIO_SCSI_CDB_DEFAULT);
    mem_write(&h->mem, vsh_req_gpa(head), req, sizeof(req));
    uint8_t poison[sizeof(struct vsh_resp)];
    memset(poison, 0xee, sizeof(poison));
    mem_write(&h->mem, vsh_resp_gpa(head), poison, sizeof(poison));
    /* req -> [data-out] -> resp -> [data-in] (§5.6.6.1). */
    int q = VIRTIO_SCSI_Q_REQUEST;
    uint16_t i = head;
    vsh_raw_desc(h, q, i, vsh_req_gpa(head), REQ_SIZE, VQ_DESC_F_NEXT, (uint16_t)(i + 1));
    i++;
    if (out_len) {
        vsh_raw_desc(h, q, i, data_gpa, out_len, VQ_DESC_F_NEXT, (uint16_t)(i + 1));
        i++;
    }
    vsh_raw_desc(h, q, i, vsh_resp_gpa(head), sizeof(struct vsh_resp),
                 VQ_DESC_F_WRITE | (in_len ? VQ_DESC_F_NEXT : 0), (uint16_t)(i + 1));
    i++;
    if (in_len)
        vsh_raw_desc(h, q, i, data_gpa, in_len, VQ_DESC_F_WRITE, 0);
    vsh_publish(h, q, head);
    return head;
}

static int control(struct vscsi_harness *h, const uint8_t *req, uint32_t req_len, uint32_t resp_len)
{
    int q = VIRTIO_SCSI_Q_CONTROL;
    uint16_t head = take_head(h, q, 2);
    uint64_t req_gpa = CTRL_REQ_GPA + 0x40ULL * head, resp_gpa = CTRL_RESP_GPA + 0x40ULL * head;
    uint8_t poison[8];
    memset(poison, 0xee, sizeof(poison));
    mem_write(&h->mem, req_gpa, req, req_len);
    mem_write(&h->mem, resp_gpa, poison, sizeof(poison));
    vsh_raw_desc(h, q, head, req_gpa, req_len, VQ_DESC_F_NEXT, (uint16_t)(head + 1));
    vsh_raw_desc(h, q, (uint16_t)(head + 1), resp_gpa, resp_len, VQ_DESC_F_WRITE, 0);
    vsh_publish(h, q, head);
    return head;
}

int vsh_tmf(struct vscsi_harness *h, uint32_t subtype, uint8_t target)
{
    uint8_t req[24] = { 0 };
    uint32_t type = VIRTIO_SCSI_T_TMF;
    memcpy(req, &type, 4);
    memcpy(req + 4, &subtype, 4);
    req[8] = 1;
    req[9] = target;
    req[10] = 0x40;
    return control(h, req, sizeof(req), 1);
}

int vsh_an_query(struct vscsi_harness *h, uint32_t events)
{
    uint8_t req[16] = { 0 };
    uint32_t type = VIRTIO_SCSI_T_AN_QUERY;
    memcpy(req, &type, 4);
    req[4] = 1;
    req[6] = 0x40;
    memcpy(req + 12, &events, 4);
    return control(h, req, sizeof(req), 5);
}

uint8_t vsh_tmf_response(struct vscsi_harness *h, uint16_t head)
{
    uint8_t v = 0;
    mem_read(&h->mem, CTRL_RESP_GPA + 0x40ULL * head, &v, 1);
    return v;
}

void vsh_an_response(struct vscsi_harness *h, uint16_t head, uint32_t *event_actual, uint8_t *response)
{
    mem_read(&h->mem, CTRL_RESP_GPA + 0x40ULL * head, event_actual, 4);
    mem_read(&h->mem, CTRL_RESP_GPA + 0x40ULL * head + 4, response, 1);
}

void vsh_kick(struct vscsi_harness *h, int q)
{
    uint16_t v = (uint16_t)q;
    struct pci_bar *bar = &h->scsi.vp.pci.bars[BAR_VIRTIO];
    /* notify_off_multiplier 4: queue q's doorbell at 0x3000 + 4q. */
    bar->fn(bar->opaque, 0x3000 + 4ULL * (uint64_t)q, (uint8_t *)&v, 2, true);
}

static uint16_t used_idx(struct vscsi_harness *h, int q)
{
    uint16_t *idx = vsh_ptr(h, h->used_gpa[q] + 2, 2);
    return __atomic_load_n(idx, __ATOMIC_ACQUIRE);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int vsh_wait(struct vscsi_harness *h, int q, int n, int timeout_ms)
{
    long end = now_ms() + timeout_ms;
    while ((uint16_t)(used_idx(h, q) - h->used_seen[q]) < n && now_ms() < end)
        loop_poll(&h->loop, 10);
    return (uint16_t)(used_idx(h, q) - h->used_seen[q]);
}

bool vsh_next_used(struct vscsi_harness *h, int q, uint16_t *head, uint32_t *len)
{
    if (used_idx(h, q) == h->used_seen[q])
        return false;
    struct vq_used_elem e;
    mem_read(&h->mem, h->used_gpa[q] + 4 + 8ULL * (h->used_seen[q] % VSH_QSIZE), &e, sizeof(e));
    h->used_seen[q]++;
    *head = (uint16_t)e.id;
    *len = e.len;
    return true;
}

void vsh_response(struct vscsi_harness *h, uint16_t head, struct vsh_resp *out)
{
    mem_read(&h->mem, vsh_resp_gpa(head), out, sizeof(*out));
}

bool vsh_run(struct vscsi_harness *h, uint8_t target, const uint8_t *cdb, unsigned cdb_len, uint64_t data_gpa,
             uint32_t in_len, struct vsh_resp *resp, uint32_t *used_len)
{
    int head = vsh_command(h, target, 0, cdb, cdb_len, data_gpa, 0, in_len);
    vsh_kick(h, VIRTIO_SCSI_Q_REQUEST);
    if (vsh_wait(h, VIRTIO_SCSI_Q_REQUEST, 1, 5000) < 1)
        return false;
    uint16_t got;
    if (!vsh_next_used(h, VIRTIO_SCSI_Q_REQUEST, &got, used_len) || got != head)
        return false;
    vsh_response(h, got, resp);
    return true;
}
