/* Split virtqueues (virtio 1.2 §2.7): the one place that reads descriptors. Every chain is validated
 * (addresses inside guest RAM, lengths, chain length, loops, indirect tables, direction order)
 * before a device sees it; a malformed chain makes the device set DEVICE_NEEDS_RESET. */
#ifndef DEVICES_VIRTIO_VIRTQUEUE_H
#define DEVICES_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/memory.h"

#define VQ_MAX_SIZE 1024        /* largest queue size offered */
#define VQ_MAX_SEGS 256         /* buffers in one chain after indirect expansion */

/* A guest buffer, already translated and bounds-checked. */
struct vq_buf {
    uint8_t *hva;
    uint32_t len;
};

/* One descriptor chain: `nout` device-readable buffers, then `nin` device-writable ones. */
struct vq_chain {
    uint16_t head;
    uint16_t nout, nin;
    uint64_t out_bytes, in_bytes;
    struct vq_buf bufs[VQ_MAX_SEGS];
};

struct virtqueue {
    uint16_t size;                 /* power of two, <= VQ_MAX_SIZE */
    bool enabled;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    const struct guest_memory *mem;
    bool event_idx;                /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect;                 /* VIRTIO_F_INDIRECT_DESC negotiated */
    /* Resolved at vq_enable, valid while enabled: */
    struct vq_desc *desc;
    struct vq_avail *avail;
    struct vq_used *used;
    uint16_t last_avail;           /* next avail ring index to take */
    uint16_t used_idx;             /* next used ring index to fill */
    uint16_t signalled_used;       /* used_idx at the last interrupt (event-idx) */
    bool signalled_valid;
    bool kicks_off;                /* the device asked the driver not to kick */
    int error;                     /* first malformed-chain error; vq_pop keeps returning it */
};

/* Ring layout in guest memory (virtio 1.2 §2.7.5, §2.7.6, §2.7.8); little-endian, x86 host. */
struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
} __attribute__((packed));
#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4

struct vq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];               /* then used_event */
} __attribute__((packed));
#define VQ_AVAIL_F_NO_INTERRUPT 1

struct vq_used_elem {
    uint32_t id;
    uint32_t len;
} __attribute__((packed));

struct vq_used {
    uint16_t flags;
    uint16_t idx;
    struct vq_used_elem ring[];    /* then avail_event */
} __attribute__((packed));
#define VQ_USED_F_NO_NOTIFY 1

/* §2.7.10: with event-idx, should moving an index from `old_idx` to `new_idx` signal the side that
 * published `event`? True when `event` lies in [old_idx, new_idx) modulo 2^16. */
static inline bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/* Checks size and that the three rings lie in guest RAM with the spec's alignment; resets indexes. */
int vq_enable(struct virtqueue *vq, const struct guest_memory *mem);
/* Disables the queue and forgets ring addresses, negotiated flags and indexes (keeps `size`); no
 * pointer into guest memory survives it. */
void vq_reset(struct virtqueue *vq);
/* Takes the next available chain: 1 = got one, 0 = ring empty, negative = malformed (the device
 * must set NEEDS_RESET; the queue stops: the same error comes back until vq_enable or vq_reset).
 * A chain that passes has every buffer inside RAM. With event-idx and kicks enabled, finding the
 * ring empty publishes avail_event = last_avail and looks once more. */
int vq_pop(struct virtqueue *vq, struct vq_chain *chain);
/* Returns a chain to the driver with `written` bytes put into its writable buffers. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* After pushes: does the driver want an interrupt now (flags or used_event, §2.7.10)? */
bool vq_should_notify(struct virtqueue *vq);
/* Asks the driver to stop/start kicking (flags or avail_event); returns true if work arrived
 * meanwhile when re-enabling (so the caller must poll again). */
bool vq_set_kick_enabled(struct virtqueue *vq, bool enabled);

#endif
