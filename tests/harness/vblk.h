/* In-process virtio-blk harness: a real virtio-blk device on a real image file (libaio backend),
 * driven through its PCI BAR registers and virtqueues built in guest memory, without KVM.
 * Used by the unit tests and by the device-level benchmark. */
#ifndef TESTS_HARNESS_VBLK_H
#define TESTS_HARNESS_VBLK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/blk.h"
#include "vmm/block/block.h"
#include "vmm/loop.h"
#include "vmm/memory.h"

#define VBH_QSIZE 256
#define VBH_MAX_QUEUES 16
#define VBH_DATA_GPA 0x400000ULL          /* request data area */
#define VBH_DATA_SIZE (32ULL << 20)

/* The driver side of one virtqueue. */
struct vbh_queue {
    uint64_t desc_gpa, avail_gpa, used_gpa, hdr_gpa, status_gpa;
    uint16_t avail_idx, used_seen;
    uint16_t free_desc[VBH_QSIZE];         /* stack of free descriptor triples (head index) */
    int nfree;
};

struct vblk_harness {
    struct guest_memory mem;
    struct event_loop loop;
    struct block_backend backend;
    struct virtio_blk blk;
    struct vbh_queue qs[VBH_MAX_QUEUES];
    int nqueues;
    int irqs;
    int vector_irqs[VBH_MAX_QUEUES + 1];   /* interrupts per MSI-X vector (threaded mode) */
    uint32_t gsi_data[64];                 /* MSI data of each GSI the stub routed (from 100) */
    int next_gsi;
    /* Threaded mode: the device runs on its own event-loop thread (as with a real vCPU and the
     * main loop) and interrupts arrive on an eventfd, through MSI-X vector 0. */
    bool threaded;
    pthread_t loop_thread;
    volatile bool stop;
    int irq_efd;
};

/* Opens `path` and brings the device to DRIVER_OK with one queue of VBH_QSIZE entries. */
int vbh_open(struct vblk_harness *h, const char *path, bool readonly, enum blk_cache cache, bool event_idx);
/* The same with a device of `nqueues` request queues, all set up (VIRTIO_BLK_F_MQ accepted when
 * nqueues > 1). */
int vbh_open_mq(struct vblk_harness *h, const char *path, bool readonly, enum blk_cache cache, bool event_idx,
                int nqueues);
void vbh_close(struct vblk_harness *h);
/* Moves the device to a thread of its own and turns on MSI-X delivery to an eventfd: queue q on
 * vector q (data 0x30 + q), counted in vector_irqs. */
int vbh_start_thread(struct vblk_harness *h);
/* Queues a request (header, data at `data_gpa` of `len` bytes, status byte); returns its head
 * or -1 when all slots are busy. Not visible to the device until vbh_kick. */
int vbh_queue(struct vblk_harness *h, uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len);
void vbh_kick(struct vblk_harness *h);
/* Runs the event loop until at least `n` used entries arrived (or timeout); returns the count seen. */
int vbh_wait(struct vblk_harness *h, int n, int timeout_ms);
/* Takes the next used entry: head, written length and the request's status byte. */
bool vbh_next_used(struct vblk_harness *h, uint16_t *head, uint32_t *len, uint8_t *status);
/* The same four on queue q. */
int vbh_queue_on(struct vblk_harness *h, int q, uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len);
void vbh_kick_on(struct vblk_harness *h, int q);
int vbh_wait_on(struct vblk_harness *h, int q, int n, int timeout_ms);
bool vbh_next_used_on(struct vblk_harness *h, int q, uint16_t *head, uint32_t *len, uint8_t *status);
/* Device status register (NEEDS_RESET etc.). */
uint8_t vbh_device_status(struct vblk_harness *h);
void *vbh_ptr(struct vblk_harness *h, uint64_t gpa, uint64_t len);
/* Writes a raw descriptor and publishes `head` in the avail ring of queue 0 (hostile-chain tests). */
void vbh_raw_desc(struct vblk_harness *h, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
void vbh_publish(struct vblk_harness *h, uint16_t head);

#endif
