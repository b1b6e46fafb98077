/* virtio-scsi host adapter (virtio 1.2 §5.6): control, event and one request queue in front of a
 * single CD-ROM LUN (target 0, LUN 0). Kicks are handled inside the vCPU's notify exit: everything
 * but media reads is answered there from memory, so firmware polling the used ring (SeaBIOS probes
 * 256 targets one command at a time) sees each answer at once. Media reads go to the block backend
 * on the event-loop thread, straight into the guest's data-in buffers; the reads of one kick are
 * submitted as one batch and completions end in one interrupt per batch. */
#include "scsi.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define RESP_MAX (VIRTIO_SCSI_RESP_HDR + VIRTIO_SCSI_SENSE_MAX)
#define TMF_REQ_SIZE 24      /* le32 type, le32 subtype, u8 lun[8], le64 id */
#define AN_REQ_SIZE 16       /* le32 type, u8 lun[8], le32 event_requested */
#define AN_RESP_SIZE 5       /* le32 event_actual, u8 response */
#define EVENT_INFO_SIZE 16   /* struct virtio_scsi_event */
#define MAX_SECTORS 0xffff

/* ---- chain helpers ---- */

/* Copies `n` bytes from offset `skip` of buffers [first, last) of the chain; false if short. */
static bool gather(const struct vq_chain *c, int first, int last, uint64_t skip, uint8_t *out, size_t n)
{
    size_t got = 0;
    for (int i = first; i < last && got < n; i++) {
        uint64_t len = c->bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        size_t take = len - skip < n - got ? (size_t)(len - skip) : n - got;
        memcpy(out + got, c->bufs[i].hva + skip, take);
        got += take;
        skip = 0;
    }
    return got == n;
}

/* Slices `want` bytes at offset `skip` of buffers [first, last) into iovecs; returns the count. */
static int slice(const struct vq_chain *c, int first, int last, uint64_t skip, uint64_t want, struct iovec *iov)
{
    int n = 0;
    for (int i = first; i < last && want; i++) {
        uint64_t len = c->bufs[i].len;
        if (skip >= len) {
            skip -= len;
            continue;
        }
        uint64_t take = len - skip < want ? len - skip : want;
        if (take) {
            iov[n].iov_base = c->bufs[i].hva + skip;
            iov[n].iov_len = (size_t)take;
            n++;
        }
        want -= take;
        skip = 0;
    }
    return n;
}

/* Copies `len` bytes into iovecs; returns the bytes copied (cut at the iovecs' end). */
static uint64_t scatter(const struct iovec *iov, int n, const uint8_t *data, uint64_t len)
{
    uint64_t done = 0;
    for (int i = 0; i < n && done < len; i++) {
        size_t take = iov[i].iov_len < len - done ? iov[i].iov_len : (size_t)(len - done);
        memcpy(iov[i].iov_base, data + done, take);
        done += take;
    }
    return done;
}

int virtio_scsi_parse(const struct virtio_scsi *s, const struct vq_chain *c, struct vscsi_parsed *p)
{
    uint8_t hdr[VIRTIO_SCSI_REQ_HDR + VIRTIO_SCSI_CDB_MAX];
    uint64_t req_size = VIRTIO_SCSI_REQ_HDR + s->cdb_size, resp_size = VIRTIO_SCSI_RESP_HDR + s->sense_size;
    int in0 = c->nout, in_end = c->nout + c->nin;
    /* Framing (§5.6.6.1): request header + CDB readable, response header + sense writable. */
    if (c->out_bytes < req_size || c->in_bytes < resp_size || !gather(c, 0, c->nout, 0, hdr, (size_t)req_size))
        return -EINVAL;
    memcpy(p->lun, hdr, 8);
    memcpy(&p->id, hdr + 8, 8);
    p->cdb_len = s->cdb_size;
    memcpy(p->cdb, hdr + VIRTIO_SCSI_REQ_HDR, s->cdb_size);
    p->nresp = slice(c, in0, in_end, 0, resp_size, p->resp);
    p->data_in_len = c->in_bytes - resp_size;
    p->ndata_in = slice(c, in0, in_end, resp_size, p->data_in_len, p->data_in);
    p->data_out_len = c->out_bytes - req_size;
    return 0;
}

/* Single-level LUN structure (SAM-5 §4.7; §5.6.6.1): 1, target, then LUN 0 in flat or peripheral form. */
static bool addresses_our_lun(const uint8_t *lun)
{
    static const uint8_t zero[4];
    return lun[0] == 1 && lun[1] == 0 && (lun[2] & 0xbf) == 0 && lun[3] == 0 && !memcmp(lun + 4, zero, 4);
}

/* ---- configuration space (§5.6.4) ---- */

static void scsi_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
    struct virtio_scsi *s = dev;
    uint8_t cfg[VIRTIO_SCSI_CONFIG_SIZE] = { 0 };
    uint32_t words[] = { 1, VIRTIO_SCSI_SEG_MAX, MAX_SECTORS, VIRTIO_SCSI_QUEUE_SIZE, EVENT_INFO_SIZE,
                         s->sense_size, s->cdb_size };
    memcpy(cfg, words, sizeof(words));   /* num_queues .. cdb_size; max_channel/target/lun stay 0 */
    if (offset < sizeof(cfg) && len <= sizeof(cfg) - offset)
        memcpy(data, cfg + offset, len);
    else
        memset(data, 0, len);
}

static void scsi_config_write(void *dev, unsigned offset, const uint8_t *data, unsigned len)
{
    struct virtio_scsi *s = dev;
    uint32_t v;
    if (len != 4)
        return;
    memcpy(&v, data, 4);
    if (offset == 20 && v <= VIRTIO_SCSI_SENSE_MAX)
        s->sense_size = v;
    else if (offset == 24 && v <= VIRTIO_SCSI_CDB_MAX)
        s->cdb_size = v;
}

static uint64_t scsi_features(void *dev)
{
    (void)dev;
    return 0;   /* no hotplug, no media-change events, no T10 PI */
}

/* ---- responses ---- */

/* Writes the response (§5.6.6.1) with the drive's status and autosense; returns its size. */
static uint32_t write_response(const struct iovec *iov, int n, uint32_t resp_size, uint8_t response,
                               const struct scsi_cd_result *r, uint32_t residual)
{
    uint8_t resp[RESP_MAX] = { 0 };
    uint32_t sense_room = resp_size - VIRTIO_SCSI_RESP_HDR;
    uint32_t sense_len = r ? (r->sense_len < sense_room ? r->sense_len : sense_room) : 0;
    memcpy(resp, &sense_len, 4);
    memcpy(resp + 4, &residual, 4);
    resp[10] = r ? r->status : 0;
    resp[11] = response;
    if (sense_len)
        memcpy(resp + VIRTIO_SCSI_RESP_HDR, r->sense, sense_len);
    scatter(iov, n, resp, resp_size);
    return resp_size;
}

static void flush_notify(struct virtio_scsi *s)
{
    if (s->notify_req) {
        s->notify_req = false;
        virtio_pci_notify_queue(&s->vp, VIRTIO_SCSI_Q_REQUEST);
    }
    if (s->notify_ctrl) {
        s->notify_ctrl = false;
        virtio_pci_notify_queue(&s->vp, VIRTIO_SCSI_Q_CONTROL);
    }
}

/* Task management waits for the reads in flight (§5.6.6.2: commands end before the function does). */
static void answer_tmfs(struct virtio_scsi *s)
{
    if (s->inflight > 0)
        return;
    for (int i = 0; i < s->ntmfs; i++) {
        *s->tmfs[i].resp = s->tmfs[i].response;
        vq_push(&s->vp.vqs[VIRTIO_SCSI_Q_CONTROL], s->tmfs[i].head, 1);
        s->notify_ctrl = true;
    }
    s->ntmfs = 0;
}

static void io_done(struct blk_io *io, int64_t result)
{
    struct vscsi_req *r = io->ctx;
    struct virtio_scsi *s = r->dev;
    /* Completions inside block_submit run under the lock scsi_queue_notify holds; the rest come
     * from the event loop (same thread) without it. */
    bool take_lock = !s->submitting;
    if (take_lock)
        pthread_mutex_lock(&s->vp.lock);
    if (r->generation == s->generation) {
        struct scsi_cd_result *res = &s->result;
        memset(res, 0, sizeof(*res));
        uint64_t moved = r->read_len;
        if (result < 0) {
            scsi_cd_read_failed(&s->cd, res);
            s->errors++;
            moved = 0;
        }
        uint32_t resp = write_response(r->resp, r->nresp, r->resp_size, VIRTIO_SCSI_S_OK, res,
                                       (uint32_t)(r->data_in_len - moved));
        vq_push(&s->vp.vqs[VIRTIO_SCSI_Q_REQUEST], r->head, (uint32_t)(resp + moved));
        s->notify_req = true;
    }
    r->next_free = s->free_list;
    s->free_list = r;
    s->inflight--;
    answer_tmfs(s);
    if (take_lock)
        pthread_mutex_unlock(&s->vp.lock);
}

static void batch_done(void *ctx)
{
    struct virtio_scsi *s = ctx;
    pthread_mutex_lock(&s->vp.lock);
    flush_notify(s);
    pthread_mutex_unlock(&s->vp.lock);
}

/* ---- request queue ---- */

static void push_now(struct virtio_scsi *s, const struct vscsi_parsed *p, uint8_t response,
                     const struct scsi_cd_result *res, uint64_t moved)
{
    uint64_t residual = p->data_out_len ? p->data_out_len : p->data_in_len - moved;
    uint32_t resp = write_response(p->resp, p->nresp, VIRTIO_SCSI_RESP_HDR + s->sense_size, response, res,
                                   residual > UINT32_MAX ? UINT32_MAX : (uint32_t)residual);
    vq_push(&s->vp.vqs[VIRTIO_SCSI_Q_REQUEST], s->chain.head, (uint32_t)(resp + moved));
    s->notify_req = true;
}

/* Runs one parsed command; returns the backend I/O to submit, or NULL when already answered. */
static struct blk_io *run_command(struct virtio_scsi *s, const struct vscsi_parsed *p)
{
    struct scsi_cd_result *res = &s->result;
    s->requests++;
    if (!addresses_our_lun(p->lun)) {
        push_now(s, p, VIRTIO_SCSI_S_BAD_TARGET, NULL, 0);
        return NULL;
    }
    scsi_cd_execute(&s->cd, p->cdb, p->cdb_len, res);
    if (!res->read) {
        if (res->status != SCSI_STATUS_GOOD)
            s->errors++;
        uint64_t moved = scatter(p->data_in, p->ndata_in, res->reply, res->reply_len);
        push_now(s, p, VIRTIO_SCSI_S_OK, res, moved);
        return NULL;
    }
    struct vscsi_req *r = s->free_list;
    if (res->read_len > p->data_in_len || !r) {
        /* The transfer length needs more room than the data-in buffers have (§5.6.6.1). */
        push_now(s, p, VIRTIO_SCSI_S_OVERRUN, NULL, 0);
        return NULL;
    }
    memset(&r->io, 0, offsetof(struct blk_io, iocb));
    int need_io = scsi_cd_read_io(&s->cd, res, p->data_in, p->ndata_in, r->iov, &r->io);
    if (need_io <= 0) {   /* all zero padding past the image end */
        push_now(s, p, VIRTIO_SCSI_S_OK, res, res->read_len);
        return NULL;
    }
    s->free_list = r->next_free;
    s->inflight++;
    r->head = s->chain.head;
    r->generation = s->generation;
    r->resp_size = VIRTIO_SCSI_RESP_HDR + s->sense_size;
    r->data_in_len = p->data_in_len;
    r->read_len = res->read_len;
    r->nresp = p->nresp;
    memcpy(r->resp, p->resp, (size_t)p->nresp * sizeof(struct iovec));
    r->io.done = io_done;
    r->io.ctx = r;
    return &r->io;
}

/* Hands the prepared reads to the block backend (event-loop thread only: the backend is not
 * shared between threads). */
static void submit_deferred(struct virtio_scsi *s)
{
    int n = s->ndeferred;
    if (!n)
        return;
    s->ndeferred = 0;
    s->submitting = true;
    block_submit(s->backend, s->deferred, n);
    s->submitting = false;
}

/* Reads prepared but never submitted (device reset): their slots go back to the free list. */
static void drop_deferred(struct virtio_scsi *s)
{
    for (int i = 0; i < s->ndeferred; i++) {
        struct vscsi_req *r = s->deferred[i]->ctx;
        r->next_free = s->free_list;
        s->free_list = r;
        s->inflight--;
    }
    s->ndeferred = 0;
}

/* Answers what it can at once; reads (a free slot each) wait in s->deferred for the loop. */
static void process_requests(struct virtio_scsi *s, struct virtqueue *vq)
{
    while (s->free_list) {
        int got = vq_pop(vq, &s->chain);
        if (got == 0) {
            if (vq_set_kick_enabled(vq, true))
                continue;
            break;
        }
        if (got < 0 || virtio_scsi_parse(s, &s->chain, &s->parsed) < 0) {
            virtio_pci_set_needs_reset(&s->vp);
            break;
        }
        struct blk_io *io = run_command(s, &s->parsed);
        if (io)
            s->deferred[s->ndeferred++] = io;
    }
}

/* ---- control queue (§5.6.6.2) ---- */

static uint8_t tmf_response(struct virtio_scsi *s, uint32_t subtype, const uint8_t *lun)
{
    if (!addresses_our_lun(lun))
        return VIRTIO_SCSI_S_BAD_TARGET;
    switch (subtype) {
    case VIRTIO_SCSI_T_TMF_I_T_NEXUS_RESET:
    case VIRTIO_SCSI_T_TMF_LOGICAL_UNIT_RESET:
        scsi_cd_reset(&s->cd, true);
        return VIRTIO_SCSI_S_FUNCTION_SUCCEEDED;
    case VIRTIO_SCSI_T_TMF_ABORT_TASK:
    case VIRTIO_SCSI_T_TMF_ABORT_TASK_SET:
    case VIRTIO_SCSI_T_TMF_CLEAR_ACA:
    case VIRTIO_SCSI_T_TMF_CLEAR_TASK_SET:
    case VIRTIO_SCSI_T_TMF_QUERY_TASK:
    case VIRTIO_SCSI_T_TMF_QUERY_TASK_SET:
        return VIRTIO_SCSI_S_FUNCTION_COMPLETE;   /* reads are never cancelled: they complete */
    default:
        return VIRTIO_SCSI_S_FUNCTION_REJECTED;
    }
}

/* One control request; negative when malformed. */
static int control_request(struct virtio_scsi *s, const struct vq_chain *c)
{
    uint8_t req[TMF_REQ_SIZE];
    uint32_t type;
    int in0 = c->nout, in_end = c->nout + c->nin;
    if (!gather(c, 0, c->nout, 0, req, 4))
        return -EINVAL;
    memcpy(&type, req, 4);
    if (type == VIRTIO_SCSI_T_TMF) {
        uint32_t subtype;
        struct iovec resp;
        if (c->in_bytes < 1 || !gather(c, 0, c->nout, 0, req, TMF_REQ_SIZE) || slice(c, in0, in_end, 0, 1, &resp) != 1)
            return -EINVAL;
        memcpy(&subtype, req + 4, 4);
        s->tmfs[s->ntmfs++] = (struct vscsi_tmf){ c->head, tmf_response(s, subtype, req + 8), resp.iov_base };
        answer_tmfs(s);
        return 0;
    }
    if (type == VIRTIO_SCSI_T_AN_QUERY || type == VIRTIO_SCSI_T_AN_SUBSCRIBE) {
        struct iovec resp[AN_RESP_SIZE];
        if (c->in_bytes < AN_RESP_SIZE || !gather(c, 0, c->nout, 0, req, AN_REQ_SIZE))
            return -EINVAL;
        /* No asynchronous notifications are supported: event_actual 0. */
        uint8_t out[AN_RESP_SIZE] = { 0, 0, 0, 0, addresses_our_lun(req + 4) ? VIRTIO_SCSI_S_OK : VIRTIO_SCSI_S_BAD_TARGET };
        int n = slice(c, in0, in_end, 0, AN_RESP_SIZE, resp);
        scatter(resp, n, out, AN_RESP_SIZE);
        vq_push(&s->vp.vqs[VIRTIO_SCSI_Q_CONTROL], c->head, AN_RESP_SIZE);
        s->notify_ctrl = true;
        return 0;
    }
    return -EINVAL;
}

static void process_control(struct virtio_scsi *s, struct virtqueue *vq)
{
    while (s->ntmfs < VIRTIO_SCSI_QUEUE_SIZE) {
        int got = vq_pop(vq, &s->chain);
        if (got == 0) {
            if (vq_set_kick_enabled(vq, true))
                continue;
            break;
        }
        if (got < 0 || control_request(s, &s->chain) < 0) {
            virtio_pci_set_needs_reset(&s->vp);
            break;
        }
    }
}

static void process_queue(struct virtio_scsi *s, int q)
{
    struct virtqueue *vq = &s->vp.vqs[q];
    if (q == VIRTIO_SCSI_Q_REQUEST)
        process_requests(s, vq);
    else if (q == VIRTIO_SCSI_Q_CONTROL)
        process_control(s, vq);
    /* Event queue: buffers stay with the device; no events are ever reported. */
}

/* vCPU thread, inside the notify write. */
static void scsi_queue_notify_exit(void *dev, int q)
{
    struct virtio_scsi *s = dev;
    process_queue(s, q);
    flush_notify(s);
    if (s->ndeferred)
        virtio_pci_defer(&s->vp, VIRTIO_SCSI_Q_REQUEST);
}

/* Event-loop thread: reads deferred by a notify exit, and kicks that came through the eventfd. */
static void scsi_queue_notify(void *dev, int q)
{
    struct virtio_scsi *s = dev;
    process_queue(s, q);
    submit_deferred(s);
    flush_notify(s);
}

static void scsi_reset(void *dev)
{
    struct virtio_scsi *s = dev;
    s->generation++;      /* in-flight reads finish without touching the reset rings */
    drop_deferred(s);
    s->notify_req = s->notify_ctrl = false;
    s->ntmfs = 0;
    s->cdb_size = VIRTIO_SCSI_CDB_DEFAULT;
    s->sense_size = VIRTIO_SCSI_SENSE_DEFAULT;
    scsi_cd_reset(&s->cd, false);
}

static const struct virtio_device_ops scsi_ops = {
    .name = "virtio-scsi",
    .device_id = 8,
    .pci_class = 0x010000,
    .nqueues = 3,
    .queue_size = VIRTIO_SCSI_QUEUE_SIZE,
    .config_size = VIRTIO_SCSI_CONFIG_SIZE,
    .features = scsi_features,
    .config_read = scsi_config_read,
    .config_write = scsi_config_write,
    .reset = scsi_reset,
    .queue_notify = scsi_queue_notify,
    .queue_notify_exit = scsi_queue_notify_exit,
};

int virtio_scsi_init(struct virtio_scsi *s, struct block_backend *backend, const char *serial,
                     const struct virtio_host *host)
{
    memset(s, 0, sizeof(*s));
    s->backend = backend;
    s->cdb_size = VIRTIO_SCSI_CDB_DEFAULT;
    s->sense_size = VIRTIO_SCSI_SENSE_DEFAULT;
    scsi_cd_init(&s->cd, backend, serial);
    s->reqs = calloc(VIRTIO_SCSI_QUEUE_SIZE, sizeof(*s->reqs));
    if (!s->reqs)
        return -ENOMEM;
    for (int i = VIRTIO_SCSI_QUEUE_SIZE - 1; i >= 0; i--) {
        s->reqs[i].dev = s;
        s->reqs[i].next_free = s->free_list;
        s->free_list = &s->reqs[i];
    }
    backend->batch_done = batch_done;
    backend->batch_ctx = s;
    return virtio_pci_init(&s->vp, &scsi_ops, s, host);
}

void virtio_scsi_destroy(struct virtio_scsi *s)
{
    virtio_pci_destroy(&s->vp);
    free(s->reqs);
    s->reqs = NULL;
}
