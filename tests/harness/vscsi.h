/* In-process virtio-scsi harness: a real virtio-scsi adapter with its CD-ROM on a real image file
 * (libaio backend), driven through its PCI BAR registers and virtqueues built in guest memory,
 * without KVM. */
#ifndef TESTS_HARNESS_VSCSI_H
#define TESTS_HARNESS_VSCSI_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/scsi.h"
#include "vmm/block/block.h"
#include "vmm/loop.h"
#include "vmm/memory.h"

#define VSH_QSIZE 256
#define VSH_DATA_GPA 0x400000ULL          /* request data area */
#define VSH_DATA_SIZE (32ULL << 20)

/* The response of one command as the driver sees it (§5.6.6.1, default sense_size). */
struct vsh_resp {
    uint32_t sense_len, residual;
    uint16_t status_qualifier;
    uint8_t status, response;
    uint8_t sense[VIRTIO_SCSI_SENSE_DEFAULT];
} __attribute__((packed));

struct vscsi_harness {
    struct guest_memory mem;
    struct event_loop loop;
    struct block_backend backend;
    struct virtio_scsi scsi;
    uint64_t desc_gpa[3], avail_gpa[3], used_gpa[3];
    uint16_t avail_idx[3], used_seen[3];
    int next_slot[3];                     /* round-robin request slots per queue */
};

/* Opens `path` read-only and brings the adapter to DRIVER_OK with all three queues enabled. */
int vsh_open(struct vscsi_harness *h, const char *path);
void vsh_close(struct vscsi_harness *h);
/* Queues a SCSI command for target/LUN with `cdb` (zero-padded to 32 bytes), data-out of
 * `out_len` bytes and data-in of `in_len` bytes, both at `data_gpa`; returns the chain head. */
int vsh_command(struct vscsi_harness *h, uint8_t target, uint16_t lun, const uint8_t *cdb, unsigned cdb_len,
                uint64_t data_gpa, uint32_t out_len, uint32_t in_len);
/* Queues a task management function on the control queue; returns the chain head. */
int vsh_tmf(struct vscsi_harness *h, uint32_t subtype, uint8_t target);
/* Queues an asynchronous-notification query; returns the chain head. */
int vsh_an_query(struct vscsi_harness *h, uint32_t events);
void vsh_kick(struct vscsi_harness *h, int q);
/* Runs the event loop until `n` used entries arrived on `q` (or timeout); returns the count seen. */
int vsh_wait(struct vscsi_harness *h, int q, int n, int timeout_ms);
/* Takes the next used entry of `q`. */
bool vsh_next_used(struct vscsi_harness *h, int q, uint16_t *head, uint32_t *len);
/* The response written for request-queue chain `head`. */
void vsh_response(struct vscsi_harness *h, uint16_t head, struct vsh_resp *out);
/* The control response of chain `head`: the TMF response byte, or the AN {event_actual, response}. */
uint8_t vsh_tmf_response(struct vscsi_harness *h, uint16_t head);
void vsh_an_response(struct vscsi_harness *h, uint16_t head, uint32_t *event_actual, uint8_t *response);
/* Runs one command to completion: queue, kick, wait; false on timeout. */
bool vsh_run(struct vscsi_harness *h, uint8_t target, const uint8_t *cdb, unsigned cdb_len, uint64_t data_gpa,
             uint32_t in_len, struct vsh_resp *resp, uint32_t *used_len);
uint8_t vsh_device_status(struct vscsi_harness *h);
void *vsh_ptr(struct vscsi_harness *h, uint64_t gpa, uint64_t len);
/* Writes a raw descriptor of queue `q` and publishes `head` (for hostile-chain tests). */
void vsh_raw_desc(struct vscsi_harness *h, int q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
void vsh_publish(struct vscsi_harness *h, int q, uint16_t head);
/* Guest addresses of the request/response buffers of request-queue chain `head`. */
uint64_t vsh_req_gpa(uint16_t head);
uint64_t vsh_resp_gpa(uint16_t head);

#endif
