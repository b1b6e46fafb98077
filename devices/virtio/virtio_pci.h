/* Virtio 1.x over PCI, modern only (virtio 1.2 §4.1): capabilities, common configuration, feature
 * negotiation, status and reset, ISR, notifications through ioeventfd, interrupts through MSI-X
 * (irqfd) or INTx. A device model plugs in through struct virtio_device_ops. */
#ifndef DEVICES_VIRTIO_VIRTIO_PCI_H
#define DEVICES_VIRTIO_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/msix.h"
#include "devices/pci.h"
#include "devices/virtio/virtqueue.h"
#include "vmm/loop.h"
#include "vmm/memory.h"

#define VIRTIO_MAX_QUEUES 16
#define VIRTIO_NO_VECTOR 0xffff

/* Feature bits (virtio 1.2 §6). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33

/* Device status (§2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

struct virtio_pci;

/* What a device model provides. All callbacks run with the device lock held. */
struct virtio_device_ops {
    const char *name;
    uint16_t device_id;                 /* virtio device type: 1 net, 2 block */
    uint32_t pci_class;
    int nqueues;
    uint16_t queue_size;                /* offered maximum, power of two */
    size_t config_size;
    uint64_t (*features)(void *dev);    /* device-specific bits; the transport adds its own */
    void (*config_read)(void *dev, unsigned offset, uint8_t *data, unsigned len);
    void (*config_write)(void *dev, unsigned offset, const uint8_t *data, unsigned len);
    /* The driver set DRIVER_OK: queues are enabled; return <0 to refuse (the device fails). */
    int (*activate)(void *dev);
    /* A reset (status 0, or NEEDS_RESET recovery): drop all in-flight state. */
    void (*reset)(void *dev);
    /* Queue `q` was kicked (event-loop thread). */
    void (*queue_notify)(void *dev, int q);
    /* Optional: queue `q` was kicked, handled on the vCPU thread inside the notify write's exit
     * (the device then gets no ioeventfds). For devices that answer most requests from memory: a
     * driver polling the used ring (firmware) finds the answer as soon as its write returns. Work
     * that needs the event loop is handed over with virtio_pci_defer(). */
    void (*queue_notify_exit)(void *dev, int q);
};

/* What the host (vmm) provides: KVM ioeventfds, MSI routing, the loop, guest memory. */
struct virtio_host {
    int (*ioeventfd)(void *ctx, uint64_t addr, uint32_t len, int efd, bool assign);
    struct msi_ops msi;
    void (*intx_hook)(void *ctx);       /* optional */
    void *ctx;
    struct event_loop *loop;
    const struct guest_memory *mem;
};

struct virtio_kick_source {       /* event-loop context of one queue's kick eventfd */
    struct virtio_pci *vp;
    int q;
};

struct virtio_pci {
    struct pci_device pci;
    struct msix msix;
    pthread_mutex_t lock;
    const struct virtio_device_ops *ops;
    void *dev;
    struct virtio_host host;

    uint64_t device_features, driver_features;
    uint32_t device_feature_select, driver_feature_select;
    uint8_t status, config_generation, isr;
    uint16_t queue_select, config_vector;
    struct virtqueue vqs[VIRTIO_MAX_QUEUES];
    uint16_t queue_vector[VIRTIO_MAX_QUEUES];
    uint16_t queue_size[VIRTIO_MAX_QUEUES];
    int kick_efd[VIRTIO_MAX_QUEUES];
    struct virtio_kick_source kick_sources[VIRTIO_MAX_QUEUES];
    bool ioeventfd_on;
    uint64_t notify_base;               /* guest address of the notify area while mapped */
};

int virtio_pci_init(struct virtio_pci *vp, const struct virtio_device_ops *ops, void *dev,
                    const struct virtio_host *host);
void virtio_pci_destroy(struct virtio_pci *vp);
/* Device model -> driver: used buffers in queue `q` (interrupt if the ring asks for one). */
void virtio_pci_notify_queue(struct virtio_pci *vp, int q);
void virtio_pci_notify_config(struct virtio_pci *vp);
/* From queue_notify_exit: run queue_notify(q) on the event-loop thread soon. */
void virtio_pci_defer(struct virtio_pci *vp, int q);
/* The driver broke the rules (malformed ring, bad request framing): NEEDS_RESET + config irq. */
void virtio_pci_set_needs_reset(struct virtio_pci *vp);
bool virtio_pci_has_feature(const struct virtio_pci *vp, unsigned bit);
struct virtqueue *virtio_pci_queue(struct virtio_pci *vp, int q);

#endif
