/* virtio-scsi host adapter (virtio 1.2 §5.6) with one target and one LUN: a read-only CD/DVD-ROM
 * drive (devices/scsi_cd.h) on a block backend. */
#ifndef DEVICES_VIRTIO_SCSI_H
#define DEVICES_VIRTIO_SCSI_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/scsi_cd.h"
#include "devices/virtio/virtio_pci.h"
#include "vmm/block/block.h"

#define VIRTIO_SCSI_QUEUE_SIZE 256
#define VIRTIO_SCSI_SEG_MAX (VIRTIO_SCSI_QUEUE_SIZE - 2)   /* data segments; request and response take two */
#define VIRTIO_SCSI_CDB_DEFAULT 32
#define VIRTIO_SCSI_SENSE_DEFAULT 96
#define VIRTIO_SCSI_CDB_MAX 256       /* largest cdb_size / sense_size a driver may write */
#define VIRTIO_SCSI_SENSE_MAX 256
#define VIRTIO_SCSI_CONFIG_SIZE 36

/* Queues (§5.6.2). */
#define VIRTIO_SCSI_Q_CONTROL 0
#define VIRTIO_SCSI_Q_EVENT 1
#define VIRTIO_SCSI_Q_REQUEST 2

/* Response codes (§5.6.6.1, §5.6.6.2). */
#define VIRTIO_SCSI_S_OK 0
#define VIRTIO_SCSI_S_FUNCTION_COMPLETE 0
#define VIRTIO_SCSI_S_OVERRUN 1
#define VIRTIO_SCSI_S_BAD_TARGET 3
#define VIRTIO_SCSI_S_FAILURE 9
#define VIRTIO_SCSI_S_FUNCTION_SUCCEEDED 10
#define VIRTIO_SCSI_S_FUNCTION_REJECTED 11

/* Control queue requests (§5.6.6.2). */
#define VIRTIO_SCSI_T_TMF 0
#define VIRTIO_SCSI_T_AN_QUERY 1
#define VIRTIO_SCSI_T_AN_SUBSCRIBE 2
#define VIRTIO_SCSI_T_TMF_ABORT_TASK 0
#define VIRTIO_SCSI_T_TMF_ABORT_TASK_SET 1
#define VIRTIO_SCSI_T_TMF_CLEAR_ACA 2
#define VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET 3
#define VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET 4
#define VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET 5
#define VIRTIO_SCSI_T_TMF_QUERY_TASK 6
#define VIRTIO_SCSI_T_TMF_QUERY_TASK_SET 7

/* Request header sizes without the CDB / response header without the sense (§5.6.6.1). */
#define VIRTIO_SCSI_REQ_HDR 19        /* lun[8], id, task_attr, prio, crn */
#define VIRTIO_SCSI_RESP_HDR 12       /* sense_len, residual, status_qualifier, status, response */

struct virtio_scsi;

/* One command in flight (a media read): slot in a preallocated table. */
struct vscsi_req {
    struct virtio_scsi *dev;
    struct blk_io io;
    uint16_t head;
    uint32_t generation;              /* device resets since; a stale completion touches nothing */
    uint32_t resp_size;               /* response header + sense bytes at submission */
    uint64_t data_in_len;             /* room in the data-in buffers */
    uint64_t read_len;
    int nresp;
    struct iovec resp[VQ_MAX_SEGS];   /* where the response goes */
    struct iovec iov[VQ_MAX_SEGS];    /* data-in part of the read that the backend fills */
    struct vscsi_req *next_free;
};

/* A task management function answered once the reads in flight have landed. */
struct vscsi_tmf {
    uint16_t head;
    uint8_t response;
    uint8_t *resp;                    /* the driver's response byte */
};

/* What the parser makes of a request-queue chain (exposed for unit tests). */
struct vscsi_parsed {
    uint8_t lun[8];
    uint64_t id;
    uint8_t cdb[VIRTIO_SCSI_CDB_MAX];
    unsigned cdb_len;
    struct iovec resp[VQ_MAX_SEGS];
    int nresp;
    struct iovec data_in[VQ_MAX_SEGS];
    int ndata_in;
    uint64_t data_in_len, data_out_len;
};

struct virtio_scsi {
    struct virtio_pci vp;
    struct block_backend *backend;
    struct scsi_cd cd;
    uint32_t cdb_size, sense_size;    /* driver-writable configuration */
    uint32_t generation;
    struct vscsi_req *reqs;           /* VIRTIO_SCSI_QUEUE_SIZE slots */
    struct vscsi_req *free_list;
    int inflight;
    struct vscsi_tmf tmfs[VIRTIO_SCSI_QUEUE_SIZE];
    int ntmfs;
    struct vq_chain chain;            /* scratch for vq_pop */
    struct vscsi_parsed parsed;       /* scratch for the parser */
    struct scsi_cd_result result;     /* scratch for the drive */
    struct blk_io *deferred[VIRTIO_SCSI_QUEUE_SIZE];   /* reads prepared in a vCPU exit, for the loop */
    int ndeferred;
    bool notify_req, notify_ctrl;
    bool submitting;                  /* inside block_submit (event-loop thread) */
    uint64_t requests, errors;
};

/* A virtio-scsi adapter with the image behind `backend` (opened read-only) as its CD-ROM. */
int virtio_scsi_init(struct virtio_scsi *s, struct block_backend *backend, const char *serial,
                     const struct virtio_host *host);
void virtio_scsi_destroy(struct virtio_scsi *s);
/* Parses a request-queue chain with the current cdb/sense sizes; negative on malformed framing. */
int virtio_scsi_parse(const struct virtio_scsi *s, const struct vq_chain *c, struct vscsi_parsed *p);

#endif
