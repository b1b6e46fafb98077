/* Split virtqueues (virtio 1.2 §2.7): ring setup, validated descriptor walking, used ring, notifications. */
#include "devices/virtio/virtqueue.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define DESC_SIZE 16u
#define USED_ELEM_SIZE 8u

/* Byte sizes of the three areas for `size` entries, event words included (§2.7, table in §2.7.2). */
static uint64_t desc_area_bytes(uint16_t size) { return (uint64_t)DESC_SIZE * size; }
static uint64_t avail_area_bytes(uint16_t size) { return 6 + 2 * (uint64_t)size; }
static uint64_t used_area_bytes(uint16_t size) { return 6 + (uint64_t)USED_ELEM_SIZE * size; }

/* 16-bit words of the avail and used areas; alignment is checked at vq_enable. */
static uint16_t *avail_word(const struct virtqueue *vq, size_t byte_off)
{
    return (uint16_t *)((uint8_t *)vq->avail + byte_off);
}

static uint16_t *used_word(const struct virtqueue *vq, size_t byte_off)
{
    return (uint16_t *)((uint8_t *)vq->used + byte_off);
}

static uint16_t *avail_idx_word(const struct virtqueue *vq) { return avail_word(vq, 2); }
static uint16_t *used_idx_word(const struct virtqueue *vq) { return used_word(vq, 2); }
/* §2.7.10: used_event trails the avail ring, avail_event trails the used ring. */
static uint16_t *used_event_word(const struct virtqueue *vq) { return avail_word(vq, 4 + 2 * (size_t)vq->size); }
static uint16_t *avail_event_word(const struct virtqueue *vq)
{
    return used_word(vq, 4 + USED_ELEM_SIZE * (size_t)vq->size);
}

static bool is_pow2(uint16_t v) { return v && !(v & (v - 1)); }

/* RAM (never ROM) for [gpa, gpa+len) with the host pointer aligned like the guest address. */
static void *map_ring(const struct guest_memory *mem, uint64_t gpa, uint64_t len, uint64_t align)
{
    if (gpa & (align - 1))
        return NULL;
    uint8_t *hva = mem_gpa_to_hva_rw(mem, gpa, len);
    if (!hva || ((uintptr_t)hva & (align - 1)))
        return NULL;
    return hva;
}

/* §2.7.2 / §2.7.5-2.7.8: size a power of two; desc 16-, avail 2-, used 4-byte aligned, all in RAM. */
int vq_enable(struct virtqueue *vq, const struct guest_memory *mem)
{
    if (!mem || !is_pow2(vq->size) || vq->size > VQ_MAX_SIZE)
        return -EINVAL;
    void *desc = map_ring(mem, vq->desc_gpa, desc_area_bytes(vq->size), 16);
    void *avail = map_ring(mem, vq->avail_gpa, avail_area_bytes(vq->size), 2);
    void *used = map_ring(mem, vq->used_gpa, used_area_bytes(vq->size), 4);
    if (!desc || !avail || !used)
        return -EINVAL;
    vq->mem = mem;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->last_avail = 0;
    vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_valid = false;
    vq->kicks_off = false;
    vq->error = 0;
    vq->enabled = true;
    return 0;
}

void vq_reset(struct virtqueue *vq)
{
    uint16_t size = vq->size;
    memset(vq, 0, sizeof(*vq));
    vq->size = size;
}

/* Walk state for one chain: where buffers go and whether a writable one was seen. */
struct walk {
    const struct virtqueue *vq;
    struct vq_chain *chain;
    bool seen_writable;
};

/* One copy of a descriptor: the guest may rewrite the table while we look (§2.7.5). */
static void read_desc(const uint8_t *table, uint32_t index, struct vq_desc *out)
{
    memcpy(out, table + (size_t)index * DESC_SIZE, sizeof(*out));
}

/* §2.7.4: device-readable buffers precede device-writable ones; zero-length buffers carry nothing. */
static int add_buffer(struct walk *w, const struct vq_desc *d)
{
    if (d->len == 0)
        return 0;
    bool writable = d->flags & VQ_DESC_F_WRITE;
    if (!writable && w->seen_writable)
        return -EINVAL;
    struct vq_chain *c = w->chain;
    if (c->nout + c->nin >= VQ_MAX_SEGS)
        return -E2BIG;
    /* Both directions must be RAM: the device writes one and may DMA-map the other. */
    uint8_t *hva = mem_gpa_to_hva_rw(w->vq->mem, d->addr, d->len);
    if (!hva)
        return -EFAULT;
    /* The used ring reports lengths in 32 bits (§2.7.8). */
    uint64_t *total = writable ? &c->in_bytes : &c->out_bytes;
    if (*total + d->len > UINT32_MAX)
        return -EOVERFLOW;
    *total += d->len;
    c->bufs[c->nout + c->nin] = (struct vq_buf){ .hva = hva, .len = d->len };
    if (writable)
        c->nin++;
    else
        c->nout++;
    w->seen_writable |= writable;
    return 0;
}

static int walk_table(struct walk *w, const uint8_t *table, uint32_t entries, uint16_t first, bool nested);

/* §2.7.5.3: a descriptor naming a table of descriptors; never with NEXT, never inside a table. */
static int walk_indirect(struct walk *w, const struct vq_desc *d, bool nested)
{
    if (!w->vq->indirect || nested || (d->flags & VQ_DESC_F_NEXT))
        return -EINVAL;
    if (d->len == 0 || d->len % DESC_SIZE || d->len / DESC_SIZE > VQ_MAX_SIZE)
        return -EINVAL;
    const uint8_t *table = mem_gpa_to_hva_rw(w->vq->mem, d->addr, d->len);
    if (!table)
        return -EFAULT;
    return walk_table(w, table, d->len / DESC_SIZE, 0, true);
}

/* Follows NEXT links from `first`; more steps than entries means a loop (§2.7.5.2). The WRITE flag
 * of a descriptor that refers to an indirect table is ignored (§2.7.5.3.2). */
static int walk_table(struct walk *w, const uint8_t *table, uint32_t entries, uint16_t first, bool nested)
{
    uint32_t index = first;
    for (uint32_t steps = 0; steps < entries; steps++) {
        struct vq_desc d;
        read_desc(table, index, &d);
        int rc = (d.flags & VQ_DESC_F_INDIRECT) ? walk_indirect(w, &d, nested) : add_buffer(w, &d);
        if (rc < 0)
            return rc;
        if (!(d.flags & VQ_DESC_F_NEXT))
            return 0;
        if (d.next >= entries)
            return -EINVAL;
        index = d.next;
    }
    return -ELOOP;
}

static int fail(struct virtqueue *vq, int rc)
{
    vq->error = rc;
    return rc;
}

/* §2.7.10: with event-idx and kicks wanted, tell the driver the next index we wait for. The full
 * fence orders that store before the caller's next read of avail->idx (the driver does the mirror
 * image: store idx, fence, read avail_event). */
static void publish_avail_event(struct virtqueue *vq)
{
    __atomic_store_n(avail_event_word(vq), vq->last_avail, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Number of chains the driver has made available beyond last_avail (§2.7.6). */
static uint16_t avail_pending(const struct virtqueue *vq)
{
    uint16_t avail_idx = __atomic_load_n(avail_idx_word(vq), __ATOMIC_ACQUIRE);
    return (uint16_t)(avail_idx - vq->last_avail);
}

/* §2.7.13 (device side of §2.7.6): take the next head and validate its whole chain. */
int vq_pop(struct virtqueue *vq, struct vq_chain *chain)
{
    if (!vq->enabled)
        return 0;
    if (vq->error)
        return vq->error;
    uint16_t pending = avail_pending(vq);
    if (pending == 0 && vq->event_idx && !vq->kicks_off) {
        publish_avail_event(vq);
        pending = avail_pending(vq);
    }
    if (pending == 0)
        return 0;
    if (pending > vq->size)
        return fail(vq, -EINVAL);
    uint16_t slot = vq->last_avail & (vq->size - 1);
    uint16_t head = __atomic_load_n(avail_word(vq, 4 + 2 * (size_t)slot), __ATOMIC_RELAXED);
    if (head >= vq->size)
        return fail(vq, -EINVAL);
    chain->head = head;
    chain->nout = chain->nin = 0;
    chain->out_bytes = chain->in_bytes = 0;
    struct walk w = { .vq = vq, .chain = chain, .seen_writable = false };
    int rc = walk_table(&w, (const uint8_t *)vq->desc, vq->size, head, false);
    if (rc < 0)
        return fail(vq, rc);
    vq->last_avail++;
    return 1;
}

/* §2.7.8 / §2.7.14: fill the element, then publish it with a release store of used->idx. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
    if (!vq->enabled)
        return;
    size_t elem = 4 + USED_ELEM_SIZE * (size_t)(vq->used_idx & (vq->size - 1));
    uint32_t *fields = (uint32_t *)((uint8_t *)vq->used + elem);
    __atomic_store_n(&fields[0], (uint32_t)head, __ATOMIC_RELAXED);
    __atomic_store_n(&fields[1], written, __ATOMIC_RELAXED);
    vq->used_idx++;
    __atomic_store_n(used_idx_word(vq), vq->used_idx, __ATOMIC_RELEASE);
}

/* §2.7.10: avail->flags NO_INTERRUPT, or with event-idx whether used_event was crossed since the
 * last interrupt. The fence orders our used->idx store before reading the driver's word. */
bool vq_should_notify(struct virtqueue *vq)
{
    if (!vq->enabled)
        return false;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    bool notify;
    if (vq->event_idx) {
        uint16_t used_event = __atomic_load_n(used_event_word(vq), __ATOMIC_RELAXED);
        notify = !vq->signalled_valid || vq_need_event(used_event, vq->used_idx, vq->signalled_used);
    } else {
        uint16_t flags = __atomic_load_n(avail_word(vq, 0), __ATOMIC_RELAXED);
        notify = !(flags & VQ_AVAIL_F_NO_INTERRUPT);
    }
    vq->signalled_used = vq->used_idx;
    vq->signalled_valid = true;
    return notify;
}

/* §2.7.10: used->flags NO_NOTIFY without event-idx, avail_event with it. On re-enabling, a fence
 * then a fresh look at avail->idx catches chains added while kicks were off. */
bool vq_set_kick_enabled(struct virtqueue *vq, bool enabled)
{
    if (!vq->enabled)
        return false;
    vq->kicks_off = !enabled;
    if (!vq->event_idx)
        __atomic_store_n(used_word(vq, 0), enabled ? 0 : VQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
    if (!enabled)
        return false;
    if (vq->event_idx)
        __atomic_store_n(avail_event_word(vq), vq->last_avail, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return avail_pending(vq) != 0;
}
