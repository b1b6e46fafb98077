/* virtio-blk device model (virtio 1.2 §5.2): request parsing, the block backend underneath, one or
 * more request queues (VIRTIO_BLK_F_MQ, §5.2.3). */
#ifndef DEVICES_VIRTIO_BLK_H
#define DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/virtio_pci.h"
#include "vmm/block/block.h"

#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX 254     /* data segments per request; header and status take two more */
#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_MAX_QUEUES VIRTIO_MAX_QUEUES
_Static_assert(VIRTIO_BLK_MAX_QUEUES <= 32, "virtio_blk.notify_pending has one bit per queue");

/* Request types and status values (§5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

struct virtio_blk;

/* One request in flight: slot in a preallocated table, never allocated per request. */
struct blk_req {
    struct virtio_blk *blk;
    struct blk_io io;
    uint16_t head;
    uint16_t queue;                 /* the virtqueue it came from and completes on */
    uint32_t generation;            /* device resets since; a stale completion touches nothing */
    uint8_t *status;                /* the guest's status byte */
    uint32_t written;               /* bytes to report in the used ring */
    uint32_t type;
    struct iovec iov[VQ_MAX_SEGS];
    struct blk_req *next_free;
};

/* What the parser makes of a chain (exposed for unit tests). */
struct blk_parsed {
    uint32_t type;
    uint64_t sector;
    struct iovec data[VQ_MAX_SEGS];
    int ndata;
    uint64_t data_len;
    uint8_t *status;
};

struct virtio_blk {
    struct virtio_pci vp;
    struct virtio_device_ops ops;   /* the model's operations with this device's queue count */
    struct block_backend *backend;
    char serial[VIRTIO_BLK_ID_BYTES + 1];
    uint32_t generation;
    int nqueues;
    struct blk_req *reqs;           /* VIRTIO_BLK_QUEUE_SIZE slots per queue */
    struct blk_req *free_list[VIRTIO_BLK_MAX_QUEUES];
    int inflight;
    struct vq_chain chain;          /* scratch for vq_pop */
    uint32_t notify_pending;        /* queues with used buffers not yet signalled (bit per queue) */
    bool submitting;                /* inside block_submit (event-loop thread) */
    uint64_t requests, errors;
};

/* nqueues: request queues, 1..VIRTIO_BLK_MAX_QUEUES (more than one is offered as VIRTIO_BLK_F_MQ). */
int virtio_blk_init(struct virtio_blk *b, struct block_backend *backend, const char *serial, int nqueues,
                    const struct virtio_host *host);
void virtio_blk_destroy(struct virtio_blk *b);
/* Parses a chain into header, data and status; negative on malformed framing (NEEDS_RESET). */
int virtio_blk_parse(const struct vq_chain *c, struct blk_parsed *p);

#endif
