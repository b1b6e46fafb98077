/* Unit tests for the virtio-net device (virtio 1.2 §5.1): a driver in the test builds rx/tx rings in
 * guest RAM and talks to the device through its BAR and kick eventfds, with a scripted backend and
 * with the real user-mode NAT (libslirp: ARP and DHCP answered by the gateway). */
#include <errno.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "devices/virtio/net.h"
#include "vmm/loop.h"
#include "vmm/memory.h"
#include "vmm/net/net.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define MiB (1ULL << 20)
#define RING_GPA(q) (0x100000ULL + 0x10000ULL * (q))   /* desc; avail +0x4000; used +0x8000 */
#define BUF_GPA 0x400000ULL
#define QSIZE 16

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* ---- a scripted backend ---- */

struct fake_be {
    struct net_backend be;
    uint8_t sent[8][2048];
    size_t sent_len[8];
    int nsent;
    uint8_t held[4096];         /* a frame the device refused */
    size_t held_len;
    struct net_vnet_hdr held_hdr;
    bool paused;
    int set_offloads_calls;
    unsigned last_offloads;
};

static ssize_t fake_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
    struct fake_be *f = (struct fake_be *)be;
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (f->nsent < 8 && len + iov[i].iov_len <= sizeof(f->sent[0]))
            memcpy(f->sent[f->nsent] + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    if (f->nsent < 8)
        f->sent_len[f->nsent++] = len;
    return (ssize_t)len;
}

static bool fake_offer(struct fake_be *f)
{
    struct net_receiver *rx = &f->be.rx;
    if (!rx->receive(rx->ctx, f->be.vnet_hdr ? &f->held_hdr : NULL, f->held, f->held_len))
        return false;
    f->held_len = 0;
    if (rx->batch_done)
        rx->batch_done(rx->ctx);
    return true;
}

static void fake_resume(struct net_backend *be)
{
    struct fake_be *f = (struct fake_be *)be;
    if (f->paused && f->held_len && !fake_offer(f))
        return;
    f->paused = false;
}

static void fake_pause(struct net_backend *be)
{
    ((struct fake_be *)be)->paused = true;
}

static int fake_set_offloads(struct net_backend *be, unsigned offloads)
{
    struct fake_be *f = (struct fake_be *)be;
    f->set_offloads_calls++;
    f->last_offloads = offloads;
    return 0;
}

static void fake_close(struct net_backend *be)
{
    (void)be;
}

static const struct net_backend_ops fake_ops = {
    "fake", fake_send, fake_pause, fake_resume, fake_set_offloads, fake_close,
};

/* The host side hands a frame to the device, as a backend's read handler would. */
static bool fake_inject(struct fake_be *f, const struct net_vnet_hdr *hdr, const uint8_t *frame, size_t len)
{
    memcpy(f->held, frame, len);
    f->held_len = len;
    if (hdr)
        f->held_hdr = *hdr;
    if (!fake_offer(f)) {
        f->paused = true;
        return false;
    }
    return true;
}

/* ---- the rig: guest RAM, loop, device, and a driver ---- */

struct rig {
    struct guest_memory mem;
    struct event_loop loop;
    struct virtio_net net;
    struct net_backend *be;
    uint16_t avail_idx[2], used_seen[2];
    uint16_t next_desc[2];
    uint64_t next_buf;
    uint64_t features;
};

static int msi_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    (void)ctx; (void)addr; (void)data;
    return gsi < 0 ? 0 : gsi;
}

static void msi_fire(void *ctx, int gsi)
{
    (void)ctx; (void)gsi;
}

static void bar_write(struct rig *r, uint64_t off, uint32_t val, uint32_t len)
{
    struct pci_bar *bar = &r->net.vp.pci.bars[4];
    bar->fn(bar->opaque, off, (uint8_t *)&val, len, true);
}

static uint32_t bar_read(struct rig *r, uint64_t off, uint32_t len)
{
    uint32_t val = 0;
    struct pci_bar *bar = &r->net.vp.pci.bars[4];
    bar->fn(bar->opaque, off, (uint8_t *)&val, len, false);
    return val;
}

static uint64_t device_features(struct rig *r)
{
    bar_write(r, 0x00, 0, 4);
    uint64_t lo = bar_read(r, 0x04, 4);
    bar_write(r, 0x00, 1, 4);
    return lo | ((uint64_t)bar_read(r, 0x04, 4) << 32);
}

/* §3.1.1 driver initialisation: features (those of `want` the device offers), queues, DRIVER_OK. */
static int rig_start(struct rig *r, uint64_t want)
{
    bar_write(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
    r->features = (device_features(r) & want) | (1ULL << VIRTIO_F_VERSION_1);
    for (unsigned half = 0; half < 2; half++) {
        bar_write(r, 0x08, half, 4);
        bar_write(r, 0x0c, (uint32_t)(r->features >> (32 * half)), 4);
    }
    bar_write(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
    if (!(bar_read(r, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK))
        return -1;
    for (int q = 0; q < 2; q++) {
        bar_write(r, 0x16, (uint32_t)q, 2);
        bar_write(r, 0x18, QSIZE, 2);
        bar_write(r, 0x20, (uint32_t)RING_GPA(q), 4);
        bar_write(r, 0x28, (uint32_t)(RING_GPA(q) + 0x4000), 4);
        bar_write(r, 0x30, (uint32_t)(RING_GPA(q) + 0x8000), 4);
        bar_write(r, 0x1c, 1, 2);
    }
    bar_write(r, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
                       VIRTIO_STATUS_DRIVER_OK, 1);
    return (bar_read(r, 0x14, 1) & VIRTIO_STATUS_FAILED) ? -1 : 0;
}

/* Guest RAM and the loop, before a backend exists (backends need the loop). */
static int rig_init(struct rig *r)
{
    memset(r, 0, sizeof(*r));
    r->next_buf = BUF_GPA;
    int rc = mem_init_ram(&r->mem, 16 * MiB);
    return rc ? rc : loop_init(&r->loop);
}

static int rig_attach(struct rig *r, struct net_backend *be)
{
    r->be = be;
    struct virtio_host host = { .msi = { msi_route, msi_fire, NULL }, .loop = &r->loop, .mem = &r->mem };
    return virtio_net_init(&r->net, be, guest_mac, &host);
}

static int rig_open(struct rig *r, struct net_backend *be)
{
    int rc = rig_init(r);
    return rc ? rc : rig_attach(r, be);
}

static void rig_close(struct rig *r)
{
    virtio_net_destroy(&r->net);
    loop_destroy(&r->loop);
    mem_free(&r->mem);
}

static uint64_t rig_alloc(struct rig *r, uint32_t len)
{
    uint64_t gpa = r->next_buf;
    r->next_buf += (len + 63) & ~63u;
    return gpa;
}

/* Makes a chain of `n` buffers available on queue q (§2.7.13); `write` marks them device-writable. */
static void rig_post(struct rig *r, int q, const uint64_t *gpa, const uint32_t *len, int n, bool write)
{
    uint16_t head = r->next_desc[q];
    for (int i = 0; i < n; i++) {
        uint16_t idx = (uint16_t)((head + i) % QSIZE);
        struct vq_desc d = { gpa[i], len[i], (uint16_t)((write ? VQ_DESC_F_WRITE : 0) | (i + 1 < n ? VQ_DESC_F_NEXT : 0)),
                             (uint16_t)((idx + 1) % QSIZE) };
        mem_write(&r->mem, RING_GPA(q) + 16ULL * idx, &d, sizeof(d));
    }
    r->next_desc[q] = (uint16_t)((head + n) % QSIZE);
    uint64_t avail = RING_GPA(q) + 0x4000;
    mem_write(&r->mem, avail + 4 + 2ULL * (r->avail_idx[q] % QSIZE), &head, 2);
    r->avail_idx[q]++;
    mem_write(&r->mem, avail + 2, &r->avail_idx[q], 2);
}

static uint64_t rig_post_rx(struct rig *r, uint32_t len)
{
    uint64_t gpa = rig_alloc(r, len);
    rig_post(r, VIRTIO_NET_RXQ, &gpa, &len, 1, true);
    return gpa;
}

static uint16_t used_idx(struct rig *r, int q)
{
    uint16_t v = 0;
    mem_read(&r->mem, RING_GPA(q) + 0x8000 + 2, &v, 2);
    return v;
}

static struct vq_used_elem used_elem(struct rig *r, int q, uint16_t i)
{
    struct vq_used_elem e = { 0, 0 };
    mem_read(&r->mem, RING_GPA(q) + 0x8000 + 4 + 8ULL * (i % QSIZE), &e, sizeof(e));
    return e;
}

static uint16_t desc_addr_head(struct rig *r, int q, uint16_t head, uint64_t *addr)
{
    struct vq_desc d;
    mem_read(&r->mem, RING_GPA(q) + 16ULL * head, &d, sizeof(d));
    *addr = d.addr;
    return head;
}

struct run_ctx {
    struct rig *r;
    bool (*done)(struct rig *r);
    int ticks_left;
};

static void on_tick(void *ctx, uint32_t events)
{
    struct run_ctx *c = ctx;
    (void)events;
    if (--c->ticks_left <= 0 || (c->done && c->done(c->r)))
        loop_quit(&c->r->loop);
}

/* Runs the event loop until `done` holds or `ms` pass. */
static void rig_run(struct rig *r, bool (*done)(struct rig *r), int ms)
{
    struct run_ctx c = { r, done, ms };
    int tfd = loop_add_timer(&r->loop, 1, 1, on_tick, &c);
    if (tfd < 0)
        return;
    r->loop.quit = false;
    loop_run(&r->loop);
    r->loop.quit = false;
    loop_remove(&r->loop, tfd);
    close(tfd);
}

static void rig_kick(struct rig *r, int q)
{
    uint64_t one = 1;
    if (write(r->net.vp.kick_efd[q], &one, sizeof(one)) != sizeof(one))
        return;
    rig_run(r, NULL, 3);
}

static uint8_t status(struct rig *r)
{
    return (uint8_t)bar_read(r, 0x14, 1);
}

static bool take_irq(struct rig *r)
{
    bool raised = r->net.vp.isr & 1;
    r->net.vp.isr = 0;
    return raised;
}

static struct fake_be *fake_new(bool vnet)
{
    struct fake_be *f = calloc(1, sizeof(*f));
    f->be.ops = &fake_ops;
    f->be.vnet_hdr = vnet;
    f->be.offloads = vnet ? NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4 | NET_OFFLOAD_TSO6 : 0;
    return f;
}

static const uint64_t ALL_NET = (1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS) |
                                (1ULL << VIRTIO_NET_F_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_CSUM) |
                                (1ULL << VIRTIO_NET_F_HOST_TSO4) | (1ULL << VIRTIO_NET_F_HOST_TSO6) |
                                (1ULL << VIRTIO_NET_F_GUEST_TSO4) | (1ULL << VIRTIO_NET_F_GUEST_TSO6);
#define MRG (1ULL << VIRTIO_NET_F_MRG_RXBUF)
#define EVENT_IDX (1ULL << VIRTIO_F_EVENT_IDX)

static void fill_frame(uint8_t *f, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(seed + i * 7);
}

/* ---- features and configuration ---- */

TEST(features_follow_backend_offloads)
{
    struct fake_be *plain = fake_new(false), *vnet = fake_new(true);
    struct rig r;
    CHECK_EQ(rig_open(&r, &plain->be), 0);
    uint64_t f = device_features(&r);
    CHECK(f & (1ULL << VIRTIO_NET_F_MAC));
    CHECK(f & (1ULL << VIRTIO_NET_F_STATUS));
    CHECK(f & MRG);
    CHECK(f & (1ULL << VIRTIO_F_VERSION_1));
    CHECK_EQ(f & ALL_NET & ~((1ULL << VIRTIO_NET_F_MAC) | (1ULL << VIRTIO_NET_F_STATUS)), 0);
    rig_close(&r);
    CHECK_EQ(rig_open(&r, &vnet->be), 0);
    CHECK_EQ(device_features(&r) & ALL_NET, ALL_NET);
    rig_close(&r);
    free(plain);
    free(vnet);
}

TEST(config_has_mac_and_link_up)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    for (int i = 0; i < 6; i++)
        CHECK_EQ(bar_read(&r, 0x2000 + (unsigned)i, 1), guest_mac[i]);
    CHECK_EQ(bar_read(&r, 0x2006, 2), VIRTIO_NET_S_LINK_UP);
    CHECK_EQ(bar_read(&r, 0x2008, 2), 1);           /* one queue pair */
    CHECK_EQ(bar_read(&r, 0x2000 + VIRTIO_NET_CONFIG_SIZE - 2, 4), 0);   /* runs past the end */
    rig_close(&r);
    free(f);
}

/* Common configuration widths (virtio 1.2 §4.1.4.3): a narrower read inside a field gives its bytes
 * (iPXE 1.0.0 reads the 32-bit device_feature with 16-bit accesses); other odd accesses do nothing. */
TEST(common_config_narrow_reads)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    uint64_t features = device_features(&r);
    bar_write(&r, 0x00, 1, 4);
    CHECK_EQ(bar_read(&r, 0x04, 2), (uint16_t)(features >> 32));
    CHECK_EQ(bar_read(&r, 0x04, 2) & 1, 1);                 /* VIRTIO_F_VERSION_1 */
    CHECK_EQ(bar_read(&r, 0x06, 2), (uint16_t)(features >> 48));
    bar_write(&r, 0x00, 0, 4);
    CHECK_EQ(bar_read(&r, 0x04, 1), (uint8_t)features);
    CHECK_EQ(bar_read(&r, 0x05, 1), (uint8_t)(features >> 8));
    CHECK_EQ(bar_read(&r, 0x12, 1), 2);                     /* num_queues, low byte */
    CHECK_EQ(bar_read(&r, 0x03, 2), 0);                     /* straddles two fields */
    CHECK_EQ(bar_read(&r, 0x12, 4), 0);                     /* wider than the field */
    bar_write(&r, 0x16, 1, 1);                              /* narrow write: ignored */
    CHECK_EQ(bar_read(&r, 0x16, 2), 0);
    bar_write(&r, 0x00, 1, 2);
    CHECK_EQ(bar_read(&r, 0x00, 4), 0);
    rig_close(&r);
    free(f);
}

TEST(activate_tells_backend_guest_offloads)
{
    struct fake_be *f = fake_new(true);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, (1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4)), 0);
    CHECK_EQ(f->set_offloads_calls, 1);
    CHECK_EQ(f->last_offloads, NET_OFFLOAD_CSUM | NET_OFFLOAD_TSO4);
    rig_close(&r);
    free(f);
}

/* ---- transmit ---- */

TEST(tx_header_and_frame_split_across_buffers)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, EVENT_IDX), 0);
    uint8_t hdr[12] = { 0 }, frame[100];
    fill_frame(frame, sizeof(frame), 3);
    uint64_t gpa[3] = { rig_alloc(&r, 5), rig_alloc(&r, 47), rig_alloc(&r, 60) };
    uint32_t len[3] = { 5, 47, 60 };
    mem_write(&r.mem, gpa[0], hdr, 5);
    mem_write(&r.mem, gpa[1], hdr + 5, 7);
    mem_write(&r.mem, gpa[1] + 7, frame, 40);
    mem_write(&r.mem, gpa[2], frame + 40, 60);
    rig_post(&r, VIRTIO_NET_TXQ, gpa, len, 3, false);
    rig_kick(&r, VIRTIO_NET_TXQ);
    CHECK_EQ(f->nsent, 1);
    CHECK_EQ(f->sent_len[0], 100);
    CHECK(!memcmp(f->sent[0], frame, 100));
    CHECK_EQ(used_idx(&r, VIRTIO_NET_TXQ), 1);
    CHECK_EQ(used_elem(&r, VIRTIO_NET_TXQ, 0).len, 0);
    CHECK(take_irq(&r));
    CHECK_EQ(r.net.stats.tx_packets, 1);
    CHECK_EQ(r.net.stats.tx_bytes, 100);
    rig_close(&r);
    free(f);
}

TEST(tx_short_header_needs_reset)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, 0), 0);
    uint64_t gpa = rig_alloc(&r, 8);
    uint32_t len = 8;
    rig_post(&r, VIRTIO_NET_TXQ, &gpa, &len, 1, false);
    rig_kick(&r, VIRTIO_NET_TXQ);
    CHECK(status(&r) & VIRTIO_STATUS_NEEDS_RESET);
    CHECK_EQ(f->nsent, 0);
    rig_close(&r);
    free(f);
}

TEST(tx_runt_frame_dropped)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, 0), 0);
    uint64_t gpa = rig_alloc(&r, 12 + 10);
    uint32_t len = 12 + 10;
    rig_post(&r, VIRTIO_NET_TXQ, &gpa, &len, 1, false);
    rig_kick(&r, VIRTIO_NET_TXQ);
    CHECK(!(status(&r) & VIRTIO_STATUS_NEEDS_RESET));
    CHECK_EQ(f->nsent, 0);
    CHECK_EQ(r.net.stats.tx_dropped, 1);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_TXQ), 1);      /* the buffer still comes back */
    rig_close(&r);
    free(f);
}

static void post_tx(struct rig *r, const struct net_vnet_hdr *h, const uint8_t *frame, uint32_t flen)
{
    uint64_t gpa = rig_alloc(r, 12 + flen);
    uint32_t len = 12 + flen;
    mem_write(&r->mem, gpa, h, 12);
    mem_write(&r->mem, gpa + 12, frame, flen);
    rig_post(r, VIRTIO_NET_TXQ, &gpa, &len, 1, false);
}

TEST(tx_offload_header_only_as_negotiated)
{
    struct fake_be *f = fake_new(true);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, 1ULL << VIRTIO_NET_F_CSUM), 0);
    uint8_t frame[80];
    fill_frame(frame, sizeof(frame), 9);
    struct net_vnet_hdr csum = { .flags = NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16,
                                 .num_buffers = 77 };
    struct net_vnet_hdr tso = { .flags = NET_HDR_F_NEEDS_CSUM, .gso_type = NET_HDR_GSO_TCPV4, .gso_size = 1448,
                                .csum_start = 34, .csum_offset = 16 };
    struct net_vnet_hdr past = { .flags = NET_HDR_F_NEEDS_CSUM, .csum_start = 70, .csum_offset = 16 };
    post_tx(&r, &csum, frame, sizeof(frame));
    post_tx(&r, &tso, frame, sizeof(frame));      /* HOST_TSO4 not negotiated */
    post_tx(&r, &past, frame, sizeof(frame));     /* checksum field beyond the frame */
    rig_kick(&r, VIRTIO_NET_TXQ);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_TXQ), 3);
    CHECK_EQ(f->nsent, 1);
    CHECK_EQ(f->sent_len[0], 12 + sizeof(frame));
    struct net_vnet_hdr got;
    memcpy(&got, f->sent[0], 12);
    CHECK_EQ(got.flags, NET_HDR_F_NEEDS_CSUM);
    CHECK_EQ(got.csum_start, 34);
    CHECK_EQ(got.num_buffers, 0);
    CHECK(!memcmp(f->sent[0] + 12, frame, sizeof(frame)));
    CHECK_EQ(r.net.stats.tx_dropped, 2);
    rig_close(&r);
    free(f);
}

TEST(tx_partial_checksum_refused_without_offload)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, 0), 0);
    uint8_t frame[60] = { 0 };
    struct net_vnet_hdr csum = { .flags = NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6 };
    post_tx(&r, &csum, frame, sizeof(frame));
    rig_kick(&r, VIRTIO_NET_TXQ);
    CHECK_EQ(f->nsent, 0);
    CHECK_EQ(r.net.stats.tx_dropped, 1);
    rig_close(&r);
    free(f);
}

/* ---- receive ---- */

TEST(rx_single_buffer)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, EVENT_IDX), 0);
    uint64_t buf = rig_post_rx(&r, 2048);
    rig_kick(&r, VIRTIO_NET_RXQ);
    uint8_t frame[60];
    fill_frame(frame, sizeof(frame), 1);
    CHECK(fake_inject(f, NULL, frame, sizeof(frame)));
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 1);
    CHECK_EQ(used_elem(&r, VIRTIO_NET_RXQ, 0).len, 72);
    struct net_vnet_hdr h;
    uint8_t got[60];
    mem_read(&r.mem, buf, &h, 12);
    mem_read(&r.mem, buf + 12, got, 60);
    CHECK_EQ(h.num_buffers, 1);
    CHECK_EQ(h.flags, 0);
    CHECK_EQ(h.gso_type, 0);
    CHECK(!memcmp(got, frame, 60));
    CHECK(take_irq(&r));
    CHECK_EQ(r.net.stats.rx_packets, 1);
    rig_close(&r);
    free(f);
}

TEST(rx_mergeable_spans_chains_published_together)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, MRG), 0);
    uint64_t bufs[4];
    for (int i = 0; i < 4; i++)
        bufs[i] = rig_post_rx(&r, 32);
    uint8_t frame[60], got[72];
    fill_frame(frame, sizeof(frame), 5);
    CHECK(fake_inject(f, NULL, frame, sizeof(frame)));
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 3);
    CHECK_EQ(used_elem(&r, VIRTIO_NET_RXQ, 0).len, 32);
    CHECK_EQ(used_elem(&r, VIRTIO_NET_RXQ, 1).len, 32);
    CHECK_EQ(used_elem(&r, VIRTIO_NET_RXQ, 2).len, 8);
    for (uint16_t i = 0; i < 3; i++) {
        uint64_t addr;
        desc_addr_head(&r, VIRTIO_NET_RXQ, (uint16_t)used_elem(&r, VIRTIO_NET_RXQ, i).id, &addr);
        CHECK_EQ(addr, bufs[i]);
        mem_read(&r.mem, addr, got + 32 * i, i < 2 ? 32 : 8);
    }
    struct net_vnet_hdr h;
    memcpy(&h, got, 12);
    CHECK_EQ(h.num_buffers, 3);
    CHECK(!memcmp(got + 12, frame, 60));
    rig_close(&r);
    free(f);
}

TEST(rx_mergeable_waits_for_enough_buffers)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, MRG | EVENT_IDX), 0);
    rig_post_rx(&r, 32);
    uint8_t frame[60];
    fill_frame(frame, sizeof(frame), 2);
    CHECK(!fake_inject(f, NULL, frame, sizeof(frame)));   /* 72 bytes do not fit in 32 */
    CHECK(f->paused);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 0);
    rig_post_rx(&r, 32);
    rig_post_rx(&r, 32);
    rig_kick(&r, VIRTIO_NET_RXQ);                          /* device resumes the backend */
    CHECK(!f->paused);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 3);
    CHECK_EQ(r.net.stats.rx_packets, 1);
    rig_close(&r);
    free(f);
}

TEST(rx_too_big_without_mergeable_is_dropped)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, 0), 0);
    uint64_t buf = rig_post_rx(&r, 40);
    uint8_t frame[60];
    fill_frame(frame, sizeof(frame), 4);
    CHECK(fake_inject(f, NULL, frame, sizeof(frame)));     /* consumed: dropped */
    CHECK_EQ(r.net.stats.rx_too_big, 1);
    CHECK_EQ(r.net.stats.rx_dropped, 1);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 0);
    CHECK(fake_inject(f, NULL, frame, 20));                /* the buffer is still there */
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 1);
    CHECK_EQ(used_elem(&r, VIRTIO_NET_RXQ, 0).len, 32);
    uint8_t got[20];
    mem_read(&r.mem, buf + 12, got, 20);
    CHECK(!memcmp(got, frame, 20));
    rig_close(&r);
    free(f);
}

TEST(rx_without_buffers_applies_backpressure)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    uint8_t frame[64];
    fill_frame(frame, sizeof(frame), 6);
    CHECK(!fake_inject(f, NULL, frame, sizeof(frame)));   /* driver not ready */
    CHECK_EQ(rig_start(&r, EVENT_IDX), 0);
    rig_run(&r, NULL, 3);                                 /* DRIVER_OK pokes the rx queue: still no buffers */
    CHECK(f->paused);
    rig_post_rx(&r, 1536);
    rig_kick(&r, VIRTIO_NET_RXQ);
    CHECK(!f->paused);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 1);
    CHECK_EQ(used_elem(&r, VIRTIO_NET_RXQ, 0).len, 12 + 64);
    CHECK(take_irq(&r));
    rig_close(&r);
    free(f);
}

TEST(rx_buffers_posted_before_driver_ok_are_used)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    uint8_t frame[64] = { 1 };
    CHECK(!fake_inject(f, NULL, frame, sizeof(frame)));
    CHECK_EQ(rig_start(&r, 0), 0);
    rig_post_rx(&r, 1536);   /* after DRIVER_OK, but not kicked: activate's poke finds it */
    rig_run(&r, NULL, 3);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 1);
    rig_close(&r);
    free(f);
}

TEST(rx_chain_without_writable_buffer_needs_reset)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, 0), 0);
    uint64_t gpa = rig_alloc(&r, 1536);
    uint32_t len = 1536;
    rig_post(&r, VIRTIO_NET_RXQ, &gpa, &len, 1, false);
    uint8_t frame[64] = { 0 };
    CHECK(!fake_inject(f, NULL, frame, sizeof(frame)));
    CHECK(status(&r) & VIRTIO_STATUS_NEEDS_RESET);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 0);
    rig_close(&r);
    free(f);
}

TEST(rx_buffer_smaller_than_header_needs_reset)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, MRG), 0);
    rig_post_rx(&r, 8);
    uint8_t frame[64] = { 0 };
    CHECK(!fake_inject(f, NULL, frame, sizeof(frame)));
    CHECK(status(&r) & VIRTIO_STATUS_NEEDS_RESET);
    rig_close(&r);
    free(f);
}

TEST(rx_offloads_filtered_by_guest_features)
{
    struct fake_be *f = fake_new(true);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, 0), 0);                          /* no GUEST_CSUM */
    uint64_t buf = rig_post_rx(&r, 1536);
    uint8_t frame[64] = { 0 };
    struct net_vnet_hdr partial = { .flags = NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16 };
    struct net_vnet_hdr valid = { .flags = NET_HDR_F_DATA_VALID };
    struct net_vnet_hdr gso = { .flags = NET_HDR_F_NEEDS_CSUM, .gso_type = NET_HDR_GSO_TCPV4, .gso_size = 1448 };
    CHECK(fake_inject(f, &partial, frame, sizeof(frame)));
    CHECK(fake_inject(f, &gso, frame, sizeof(frame)));
    CHECK_EQ(r.net.stats.rx_dropped, 2);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 0);
    CHECK(fake_inject(f, &valid, frame, sizeof(frame)));
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 1);
    struct net_vnet_hdr h;
    mem_read(&r.mem, buf, &h, 12);
    CHECK_EQ(h.flags, 0);
    CHECK_EQ(h.num_buffers, 1);
    rig_close(&r);
    free(f);
}

TEST(rx_gso_passed_through_when_negotiated)
{
    struct fake_be *f = fake_new(true);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, (1ULL << VIRTIO_NET_F_GUEST_CSUM) | (1ULL << VIRTIO_NET_F_GUEST_TSO4) | MRG), 0);
    uint64_t buf = rig_post_rx(&r, 4096);
    uint8_t frame[3000];
    fill_frame(frame, sizeof(frame), 8);
    struct net_vnet_hdr gso = { .flags = NET_HDR_F_NEEDS_CSUM, .gso_type = NET_HDR_GSO_TCPV4, .hdr_len = 54,
                                .gso_size = 1448, .csum_start = 34, .csum_offset = 16, .num_buffers = 9 };
    CHECK(fake_inject(f, &gso, frame, sizeof(frame)));
    struct net_vnet_hdr h;
    mem_read(&r.mem, buf, &h, 12);
    CHECK_EQ(h.gso_type, NET_HDR_GSO_TCPV4);
    CHECK_EQ(h.gso_size, 1448);
    CHECK_EQ(h.flags, NET_HDR_F_NEEDS_CSUM);
    CHECK_EQ(h.num_buffers, 1);
    rig_close(&r);
    free(f);
}

TEST(reset_then_reinit_works)
{
    struct fake_be *f = fake_new(false);
    struct rig r;
    CHECK_EQ(rig_open(&r, &f->be), 0);
    CHECK_EQ(rig_start(&r, 0), 0);
    uint64_t gpa = rig_alloc(&r, 4);
    uint32_t len = 4;
    rig_post(&r, VIRTIO_NET_TXQ, &gpa, &len, 1, false);
    rig_kick(&r, VIRTIO_NET_TXQ);
    CHECK(status(&r) & VIRTIO_STATUS_NEEDS_RESET);
    bar_write(&r, 0x14, 0, 1);
    CHECK_EQ(status(&r), 0);
    memset(r.avail_idx, 0, sizeof(r.avail_idx));
    memset(r.next_desc, 0, sizeof(r.next_desc));
    mem_write(&r.mem, RING_GPA(0) + 0x4000, &(uint32_t){ 0 }, 4);
    mem_write(&r.mem, RING_GPA(1) + 0x4000, &(uint32_t){ 0 }, 4);
    CHECK_EQ(rig_start(&r, 0), 0);
    uint8_t frame[60];
    fill_frame(frame, sizeof(frame), 7);
    struct net_vnet_hdr h = { 0 };
    post_tx(&r, &h, frame, sizeof(frame));
    rig_kick(&r, VIRTIO_NET_TXQ);
    CHECK_EQ(f->nsent, 1);
    rig_close(&r);
    free(f);
}

/* ---- with the real user-mode NAT ---- */

static const uint8_t gw_ip[4] = { 10, 0, 2, 2 }, guest_ip[4] = { 10, 0, 2, 15 };

/* An ARP request (RFC 826) from the guest: who has 10.0.2.2? */
static size_t arp_request(uint8_t *f)
{
    memset(f, 0, 60);
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = 0x08, f[13] = 0x06;
    f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0, f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;
    memcpy(f + 22, guest_mac, 6);
    memcpy(f + 28, guest_ip, 4);
    memcpy(f + 38, gw_ip, 4);
    return 60;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* A DHCPDISCOVER (RFC 2131) in a full-size BOOTP packet, UDP checksum 0 (none). */
static size_t dhcp_discover(uint8_t *f)
{
    size_t bootp = 236 + 312, udp = 8 + bootp, ip = 20 + udp;
    memset(f, 0, 14 + ip);
    memset(f, 0xff, 6);
    memcpy(f + 6, guest_mac, 6);
    f[12] = 0x08;
    uint8_t *iph = f + 14;
    iph[0] = 0x45, iph[2] = (uint8_t)(ip >> 8), iph[3] = (uint8_t)ip, iph[8] = 64, iph[9] = 17;
    memset(iph + 16, 0xff, 4);
    uint16_t ck = ip_checksum(iph, 20);
    iph[10] = (uint8_t)(ck >> 8), iph[11] = (uint8_t)ck;
    uint8_t *u = iph + 20;
    u[1] = 68, u[3] = 67, u[4] = (uint8_t)(udp >> 8), u[5] = (uint8_t)udp;
    uint8_t *b = u + 8;
    b[0] = 1, b[1] = 1, b[2] = 6;
    b[4] = 0x12, b[5] = 0x34, b[6] = 0x56, b[7] = 0x78;
    memcpy(b + 28, guest_mac, 6);
    uint8_t *opt = b + 236;
    opt[0] = 99, opt[1] = 130, opt[2] = 83, opt[3] = 99;
    opt[4] = 53, opt[5] = 1, opt[6] = 1;     /* DHCP message type: DISCOVER */
    opt[7] = 255;
    return 14 + ip;
}

static bool rx_arrived(struct rig *r)
{
    return used_idx(r, VIRTIO_NET_RXQ) != 0;
}

static void send_frame(struct rig *r, const uint8_t *frame, size_t len)
{
    struct net_vnet_hdr h = { 0 };
    post_tx(r, &h, frame, (uint32_t)len);
    rig_kick(r, VIRTIO_NET_TXQ);
}

TEST(slirp_answers_arp_for_gateway)
{
    struct net_backend *be;
    char err[256];
    struct rig r;
    CHECK_EQ(rig_init(&r), 0);
    CHECK_EQ(net_slirp_open(&be, &r.loop, NULL, NULL, err, sizeof(err)), 0);
    CHECK_EQ(rig_attach(&r, be), 0);
    CHECK(!be->vnet_hdr);
    CHECK_EQ(device_features(&r) & (1ULL << VIRTIO_NET_F_CSUM), 0);
    CHECK_EQ(rig_start(&r, MRG | EVENT_IDX), 0);
    uint64_t buf = rig_post_rx(&r, 1526);
    uint8_t frame[600];
    send_frame(&r, frame, arp_request(frame));
    rig_run(&r, rx_arrived, 1000);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 1);
    uint8_t got[12 + 42];
    mem_read(&r.mem, buf, got, sizeof(got));
    const uint8_t *eth = got + 12;
    CHECK(!memcmp(eth, guest_mac, 6));                     /* to us */
    CHECK_EQ(eth[12], 0x08);
    CHECK_EQ(eth[13], 0x06);
    CHECK_EQ(eth[21], 2);                                  /* ARP reply */
    CHECK(!memcmp(eth + 28, gw_ip, 4));                    /* 10.0.2.2 is at ... */
    CHECK(!memcmp(eth + 6, eth + 22, 6));                  /* ... the sender's MAC */
    CHECK(take_irq(&r));
    rig_close(&r);
    net_close(be);
}

TEST(slirp_offers_dhcp_lease)
{
    struct net_backend *be;
    char err[256];
    struct rig r;
    CHECK_EQ(rig_init(&r), 0);
    CHECK_EQ(net_slirp_open(&be, &r.loop, NULL, NULL, err, sizeof(err)), 0);
    CHECK_EQ(rig_attach(&r, be), 0);
    CHECK_EQ(rig_start(&r, MRG), 0);
    uint64_t buf = rig_post_rx(&r, 2048);
    uint8_t frame[700];
    send_frame(&r, frame, dhcp_discover(frame));
    rig_run(&r, rx_arrived, 1000);
    CHECK_EQ(used_idx(&r, VIRTIO_NET_RXQ), 1);
    uint8_t got[12 + 14 + 20 + 8 + 248];
    mem_read(&r.mem, buf, got, sizeof(got));
    const uint8_t *ip = got + 12 + 14, *udp = ip + 20, *bootp = udp + 8;
    CHECK_EQ(ip[9], 17);
    CHECK_EQ(udp[1], 67);
    CHECK_EQ(udp[3], 68);
    CHECK_EQ(bootp[0], 2);                                  /* BOOTREPLY */
    CHECK(!memcmp(bootp + 16, guest_ip, 4));                /* yiaddr 10.0.2.15 */
    CHECK_EQ(bootp[236 + 4], 53);
    CHECK_EQ(bootp[236 + 6], 2);                            /* DHCPOFFER */
    rig_close(&r);
    net_close(be);
}
