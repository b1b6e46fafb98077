/* Guest runtime: a minimal modern virtio-pci driver (virtio 1.2 §4.1) with split virtqueues (§2.7). */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "pci.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_NET 0x1041   /* 0x1040 + device type (§4.1.2.1) */
#define VIRTIO_PCI_DEVICE_BLK 0x1042

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_NO_VECTOR 0xffff

/* Device status bits (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Split virtqueue layout (§2.7.5, §2.7.6, §2.7.8). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];            /* then used_event */
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[]; /* then avail_event */
};

/* Bytes of guest memory a queue of n entries needs (desc 16-aligned, used 4-aligned). */
#define VIRTQ_BYTES(n) (16u * (n) + ((6u + 2u * (n) + 3u) & ~3u) + 6u + 8u * (n))
/* Static storage for one queue of up to n entries. */
#define VIRTQ_STORAGE(name, n) static uint8_t name[VIRTQ_BYTES(n)] __attribute__((aligned(4096)))

struct virtq {
    uint16_t index;             /* queue number on the device */
    uint16_t size;              /* entries (power of two) */
    volatile struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    uint64_t notify;            /* address of this queue's notify register */
    uint16_t free_head, num_free;
    uint16_t avail_idx;         /* next free avail slot (free-running) */
    uint16_t last_used;         /* used entries consumed so far (free-running) */
};

struct virtio_dev {
    struct pci_dev pci;
    uint64_t common, isr, device, notify_base;  /* mapped addresses of the structures */
    uint32_t device_len, notify_len, notify_multiplier;
    uint64_t offered;           /* device features */
    uint64_t features;          /* negotiated */
    struct msix msix;
    bool have_msix;
};

/* One buffer of a chain: device-readable unless device_writes. */
struct virtq_buf {
    const volatile void *addr;
    uint32_t len;
    bool device_writes;
};

/* Every function returning const char * returns NULL on success, else what failed. */

/* Finds the common, notify, ISR and device configuration structures (§4.1.4) and maps their
 * BARs (also above 4 GiB), enables memory decoding and bus mastering, and resets the device. */
const char *virtio_open(struct virtio_dev *v, const struct pci_dev *d);
/* §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, features = VERSION_1 plus wanted & offered,
 * FEATURES_OK and check that it stuck. */
const char *virtio_negotiate(struct virtio_dev *v, uint64_t wanted);
bool virtio_has_feature(const struct virtio_dev *v, unsigned bit);
/* Turns on MSI-X (PCI capability) so queues can be given table entries; false if none. */
bool virtio_enable_msix(struct virtio_dev *v);
/* Sets queue index up in mem (VIRTQ_BYTES(max_size) bytes, 4 KiB aligned) with at most
 * max_size entries; msix_entry is a table entry, or VIRTIO_NO_VECTOR for none. */
const char *virtio_queue_setup(struct virtio_dev *v, struct virtq *q, uint16_t index, void *mem,
                               uint16_t max_size, uint16_t msix_entry);
/* Sets DRIVER_OK (§3.1.1 step 8) and checks the device did not fail. */
const char *virtio_driver_ok(struct virtio_dev *v);
/* Writes 0 to device_status and waits until it reads back 0 (§4.1.4.3.2); MSI-X off. */
void virtio_reset(struct virtio_dev *v);
uint8_t virtio_status(const struct virtio_dev *v);

/* Device-specific configuration (§4.1.4.6), bounds-checked (out of range reads give 0). The
 * 64-bit read retries until config_generation is stable (§2.5.1). */
uint8_t virtio_config8(const struct virtio_dev *v, uint32_t offset);
uint16_t virtio_config16(const struct virtio_dev *v, uint32_t offset);
uint32_t virtio_config32(const struct virtio_dev *v, uint32_t offset);
uint64_t virtio_config64(const struct virtio_dev *v, uint32_t offset);

/* Puts a chain of n buffers in the avail ring; returns its head descriptor or -1 if the queue
 * has too few free descriptors. Does not notify. */
int virtq_submit(struct virtq *q, const struct virtq_buf *bufs, int n);
/* Tells the device about new buffers (§4.1.5.2). */
void virtq_kick(struct virtq *q);
/* Takes one used entry if there is one: its head id and written length, and frees its chain.
 * Returns 1 for an entry, 0 for none, -1 for an entry naming no valid chain. */
int virtq_poll(struct virtq *q, uint32_t *id, uint32_t *len);
/* Polls until an entry is used or timeout_us passes; false on timeout or a bad entry. */
bool virtq_wait(struct virtq *q, uint32_t *id, uint32_t *len, uint64_t timeout_us);

#endif
