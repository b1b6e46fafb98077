/* Unit tests for split virtqueues (virtio 1.2 §2.7): rings built in guest RAM, honest and hostile chains. */
#include <errno.h>
#include <stdbool.h>

#include "devices/virtio/virtqueue.h"
#include "vmm/memory.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define MiB (1ULL << 20)
#define DESC_GPA 0x100000ULL
#define AVAIL_GPA 0x110000ULL
#define USED_GPA 0x120000ULL
#define TABLE_GPA 0x130000ULL   /* indirect tables */
#define BUF_GPA 0x200000ULL     /* data buffers */

/* A guest with one queue whose rings sit at the addresses above; the driver's avail idx is mirrored. */
struct rig {
    struct guest_memory mem;
    struct virtqueue vq;
    uint16_t avail_idx;
    struct vq_chain chain;
};

static int rig_open(struct rig *r, uint16_t size)
{
    memset(r, 0, sizeof(*r));
    int rc = mem_init_ram(&r->mem, 16 * MiB);
    if (rc)
        return rc;
    r->vq.size = size;
    r->vq.desc_gpa = DESC_GPA;
    r->vq.avail_gpa = AVAIL_GPA;
    r->vq.used_gpa = USED_GPA;
    return vq_enable(&r->vq, &r->mem);
}

static void rig_close(struct rig *r)
{
    vq_reset(&r->vq);
    mem_free(&r->mem);
}

static void put16(struct rig *r, uint64_t gpa, uint16_t v) { mem_write(&r->mem, gpa, &v, 2); }

static uint16_t get16(struct rig *r, uint64_t gpa)
{
    uint16_t v = 0xdead;
    mem_read(&r->mem, gpa, &v, 2);
    return v;
}

static uint32_t get32(struct rig *r, uint64_t gpa)
{
    uint32_t v = 0xdeadbeef;
    mem_read(&r->mem, gpa, &v, 4);
    return v;
}

/* Writes one descriptor into a table at `table_gpa` (§2.7.5). */
static void desc_at(struct rig *r, uint64_t table_gpa, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
    struct vq_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };
    mem_write(&r->mem, table_gpa + 16ULL * i, &d, sizeof(d));
}

static void desc(struct rig *r, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    desc_at(r, DESC_GPA, i, addr, len, flags, next);
}

static void set_avail_idx(struct rig *r, uint16_t idx)
{
    r->avail_idx = idx;
    put16(r, AVAIL_GPA + 2, idx);
}

/* The driver makes chain `head` available (§2.7.13). */
static void offer(struct rig *r, uint16_t head)
{
    put16(r, AVAIL_GPA + 4 + 2ULL * (r->avail_idx & (r->vq.size - 1)), head);
    set_avail_idx(r, (uint16_t)(r->avail_idx + 1));
}

static uint64_t used_event_gpa(struct rig *r) { return AVAIL_GPA + 4 + 2ULL * r->vq.size; }
static uint64_t avail_event_gpa(struct rig *r) { return USED_GPA + 4 + 8ULL * r->vq.size; }

static int pop(struct rig *r) { return vq_pop(&r->vq, &r->chain); }

/* Offers a one-descriptor chain built from `d` at head 0 and pops it. */
static int pop_single(struct rig *r, uint64_t addr, uint32_t len, uint16_t flags)
{
    desc(r, 0, addr, len, flags, 0);
    offer(r, 0);
    return pop(r);
}

/* ---- vq_enable ---- */

TEST(enable_accepts_powers_of_two)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 1), 0);
    CHECK(r.vq.enabled);
    r.vq.size = VQ_MAX_SIZE;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    r.vq.size = 256;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    rig_close(&r);
}

TEST(enable_rejects_bad_sizes)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 0), -EINVAL);
    CHECK(!r.vq.enabled);
    r.vq.size = 3;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.size = 384;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.size = 2 * VQ_MAX_SIZE;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    CHECK(!r.vq.enabled);
    rig_close(&r);
}

TEST(enable_rejects_misaligned_rings)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.enabled = false;
    r.vq.desc_gpa = DESC_GPA + 8;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.desc_gpa = DESC_GPA;
    r.vq.avail_gpa = AVAIL_GPA + 1;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.avail_gpa = AVAIL_GPA + 2;   /* 2-byte alignment is enough */
    r.vq.used_gpa = USED_GPA + 2;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.used_gpa = USED_GPA + 4;     /* 4-byte alignment is enough */
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    rig_close(&r);
}

TEST(enable_rejects_rings_outside_ram)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.desc_gpa = 16 * MiB;                       /* past the end of RAM */
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.desc_gpa = 0xa0000;                        /* legacy hole */
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.desc_gpa = 0xa0000 - 64;                   /* 8 descriptors = 128 bytes straddle the hole */
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.desc_gpa = 0xfffffffffffffff0ULL;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.desc_gpa = DESC_GPA;
    r.vq.avail_gpa = 0xc0000000ULL;                 /* PCI hole */
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    rig_close(&r);
}

TEST(enable_requires_the_event_words_in_ram)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    /* used ring for 8 entries is 4 + 64 bytes, then 2 bytes of avail_event. */
    r.vq.used_gpa = 16 * MiB - 68;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.used_gpa = 16 * MiB - 72;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    /* avail ring for 8 entries is 4 + 16 bytes, then 2 bytes of used_event. */
    r.vq.avail_gpa = 16 * MiB - 20;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.avail_gpa = 16 * MiB - 22;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    rig_close(&r);
}

TEST(enable_rejects_rom)
{
    struct rig r;
    static uint8_t rom[0x10000] __attribute__((aligned(4096)));
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(mem_add_region(&r.mem, 0xf0000, sizeof(rom), rom, true), 0);
    r.vq.used_gpa = 0xf0000;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    r.vq.used_gpa = USED_GPA;
    r.vq.desc_gpa = 0xf0000;
    CHECK_EQ(vq_enable(&r.vq, &r.mem), -EINVAL);
    rig_close(&r);
}

TEST(reset_forgets_guest_pointers)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.event_idx = true;
    r.vq.indirect = true;
    vq_reset(&r.vq);
    CHECK(!r.vq.enabled);
    CHECK(r.vq.desc == NULL && r.vq.avail == NULL && r.vq.used == NULL && r.vq.mem == NULL);
    CHECK(!r.vq.event_idx && !r.vq.indirect);
    CHECK_EQ(r.vq.size, 8);
    CHECK_EQ(pop(&r), 0);
    vq_push(&r.vq, 0, 0);
    CHECK(!vq_should_notify(&r.vq));
    mem_free(&r.mem);
}

/* ---- vq_pop: honest chains ---- */

TEST(empty_ring_returns_zero)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(pop(&r), 0);
    CHECK_EQ(pop(&r), 0);
    CHECK_EQ(r.vq.last_avail, 0);
    rig_close(&r);
}

TEST(single_buffer)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    mem_write(&r.mem, BUF_GPA, "hello", 5);
    desc(&r, 3, BUF_GPA, 5, 0, 0);
    offer(&r, 3);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(r.chain.head, 3);
    CHECK_EQ(r.chain.nout, 1);
    CHECK_EQ(r.chain.nin, 0);
    CHECK_EQ(r.chain.out_bytes, 5);
    CHECK_EQ(r.chain.in_bytes, 0);
    CHECK(r.chain.bufs[0].hva == mem_gpa_to_hva(&r.mem, BUF_GPA, 5));
    CHECK(memcmp(r.chain.bufs[0].hva, "hello", 5) == 0);
    CHECK_EQ(r.chain.bufs[0].len, 5);
    CHECK_EQ(r.vq.last_avail, 1);
    CHECK_EQ(pop(&r), 0);
    rig_close(&r);
}

TEST(three_buffers_readable_then_writable)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    /* A virtio-blk shape: header out, data in, status in; linked out of order. */
    desc(&r, 5, BUF_GPA, 16, VQ_DESC_F_NEXT, 2);
    desc(&r, 2, BUF_GPA + 0x1000, 4096, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 7);
    desc(&r, 7, BUF_GPA + 0x3000, 1, VQ_DESC_F_WRITE, 0);
    offer(&r, 5);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(r.chain.head, 5);
    CHECK_EQ(r.chain.nout, 1);
    CHECK_EQ(r.chain.nin, 2);
    CHECK_EQ(r.chain.out_bytes, 16);
    CHECK_EQ(r.chain.in_bytes, 4097);
    CHECK(r.chain.bufs[1].hva == mem_gpa_to_hva(&r.mem, BUF_GPA + 0x1000, 1));
    CHECK_EQ(r.chain.bufs[1].len, 4096);
    CHECK(r.chain.bufs[2].hva == mem_gpa_to_hva(&r.mem, BUF_GPA + 0x3000, 1));
    CHECK_EQ(r.chain.bufs[2].len, 1);
    rig_close(&r);
}

TEST(several_chains_in_order)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 4), 0);
    for (uint16_t i = 0; i < 4; i++) {
        desc(&r, i, BUF_GPA + 0x100 * i, 0x10 + i, VQ_DESC_F_WRITE, 0);
        offer(&r, (uint16_t)(3 - i));
    }
    for (uint16_t i = 0; i < 4; i++) {
        CHECK_EQ(pop(&r), 1);
        CHECK_EQ(r.chain.head, 3 - i);
        CHECK_EQ(r.chain.nin, 1);
        CHECK_EQ(r.chain.in_bytes, 0x10 + 3 - i);
    }
    CHECK_EQ(pop(&r), 0);
    rig_close(&r);
}

TEST(full_ring_of_size_entries_is_fine)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 4), 0);
    /* One chain using every descriptor: exactly `size` long, not a loop. */
    for (uint16_t i = 0; i < 4; i++)
        desc(&r, i, BUF_GPA, 8, i < 3 ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    offer(&r, 0);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(r.chain.nout, 4);
    CHECK_EQ(r.chain.out_bytes, 32);
    rig_close(&r);
}

TEST(zero_length_buffers_are_skipped)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    /* The zero-length ones even point outside RAM: no byte of them is ever touched. */
    desc(&r, 0, 0xdead00000000ULL, 0, VQ_DESC_F_NEXT, 1);
    desc(&r, 1, BUF_GPA, 10, VQ_DESC_F_NEXT, 2);
    desc(&r, 2, 0xa0000, 0, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 3);
    desc(&r, 3, BUF_GPA + 0x100, 20, VQ_DESC_F_WRITE, 0);
    offer(&r, 0);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(r.chain.nout, 1);
    CHECK_EQ(r.chain.nin, 1);
    CHECK_EQ(r.chain.out_bytes, 10);
    CHECK_EQ(r.chain.in_bytes, 20);
    CHECK_EQ(r.chain.bufs[0].len, 10);
    CHECK_EQ(r.chain.bufs[1].len, 20);
    rig_close(&r);
}

TEST(index_wraps_at_65536)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 4), 0);
    r.vq.last_avail = 65534;
    set_avail_idx(&r, 65534);
    for (uint16_t i = 0; i < 4; i++)
        desc(&r, i, BUF_GPA, 1 + i, 0, 0);
    offer(&r, 1);
    offer(&r, 2);
    offer(&r, 3);
    CHECK_EQ(r.avail_idx, 1);
    for (uint16_t i = 1; i <= 3; i++) {
        CHECK_EQ(pop(&r), 1);
        CHECK_EQ(r.chain.head, i);
        CHECK_EQ(r.chain.out_bytes, 1 + i);
    }
    CHECK_EQ(r.vq.last_avail, 1);
    CHECK_EQ(pop(&r), 0);
    rig_close(&r);
}

TEST(indirect_table)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    desc_at(&r, TABLE_GPA, 0, BUF_GPA, 16, VQ_DESC_F_NEXT, 2);
    desc_at(&r, TABLE_GPA, 2, BUF_GPA + 0x1000, 512, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1);
    desc_at(&r, TABLE_GPA, 1, BUF_GPA + 0x2000, 1, VQ_DESC_F_WRITE, 0);
    /* The WRITE flag on the descriptor naming the table is ignored (§2.7.5.3.2). */
    desc(&r, 4, TABLE_GPA, 3 * 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_WRITE, 0);
    offer(&r, 4);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(r.chain.head, 4);
    CHECK_EQ(r.chain.nout, 1);
    CHECK_EQ(r.chain.nin, 2);
    CHECK_EQ(r.chain.out_bytes, 16);
    CHECK_EQ(r.chain.in_bytes, 513);
    CHECK(r.chain.bufs[2].hva == mem_gpa_to_hva(&r.mem, BUF_GPA + 0x2000, 1));
    rig_close(&r);
}

TEST(direct_descriptors_may_lead_to_an_indirect_one)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    desc_at(&r, TABLE_GPA, 0, BUF_GPA + 0x1000, 100, VQ_DESC_F_WRITE, 0);
    desc(&r, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    desc(&r, 1, TABLE_GPA, 16, VQ_DESC_F_INDIRECT, 0);
    offer(&r, 0);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(r.chain.nout, 1);
    CHECK_EQ(r.chain.nin, 1);
    CHECK_EQ(r.chain.in_bytes, 100);
    rig_close(&r);
}

/* ---- vq_pop: hostile chains ---- */

TEST(head_out_of_range)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    offer(&r, 8);
    CHECK_EQ(pop(&r), -EINVAL);
    CHECK_EQ(r.vq.last_avail, 0);
    rig_close(&r);
}

TEST(error_is_sticky)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    offer(&r, 0xffff);
    CHECK_EQ(pop(&r), -EINVAL);
    /* The driver "fixes" the slot: the queue stays stopped until reset. */
    put16(&r, AVAIL_GPA + 4, 0);
    desc(&r, 0, BUF_GPA, 8, 0, 0);
    CHECK_EQ(pop(&r), -EINVAL);
    CHECK_EQ(r.vq.last_avail, 0);
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    set_avail_idx(&r, 0);
    offer(&r, 0);
    CHECK_EQ(pop(&r), 1);
    rig_close(&r);
}

TEST(next_out_of_range)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    desc(&r, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 8);
    offer(&r, 0);
    CHECK_EQ(pop(&r), -EINVAL);
    rig_close(&r);
}

TEST(two_descriptor_loop)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    desc(&r, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    desc(&r, 1, BUF_GPA, 8, VQ_DESC_F_NEXT, 0);
    offer(&r, 0);
    CHECK_EQ(pop(&r), -ELOOP);
    rig_close(&r);
}

TEST(self_loop_of_zero_length_descriptors)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    desc(&r, 2, BUF_GPA, 0, VQ_DESC_F_NEXT, 2);
    offer(&r, 2);
    CHECK_EQ(pop(&r), -ELOOP);
    rig_close(&r);
}

TEST(chain_longer_than_size)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 4), 0);
    /* 0 -> 1 -> 2 -> 3 -> 0 ...: the fifth step exceeds the queue size. */
    for (uint16_t i = 0; i < 4; i++)
        desc(&r, i, BUF_GPA, 8, VQ_DESC_F_NEXT, (uint16_t)((i + 1) & 3));
    offer(&r, 0);
    CHECK_EQ(pop(&r), -ELOOP);
    rig_close(&r);
}

TEST(chain_with_more_than_max_segments)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, VQ_MAX_SIZE), 0);
    for (uint16_t i = 0; i <= VQ_MAX_SEGS; i++)
        desc(&r, i, BUF_GPA, 8, i < VQ_MAX_SEGS ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    offer(&r, 0);
    CHECK_EQ(pop(&r), -E2BIG);
    /* Exactly VQ_MAX_SEGS is fine. */
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    desc(&r, VQ_MAX_SEGS - 1, BUF_GPA, 8, 0, 0);
    set_avail_idx(&r, 0);
    offer(&r, 0);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(r.chain.nout, VQ_MAX_SEGS);
    rig_close(&r);
}

TEST(avail_idx_jumps_ahead_by_more_than_size)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    desc(&r, 0, BUF_GPA, 8, 0, 0);
    set_avail_idx(&r, 9);
    CHECK_EQ(pop(&r), -EINVAL);
    CHECK_EQ(r.vq.last_avail, 0);
    /* Exactly `size` outstanding is legal. */
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    set_avail_idx(&r, 8);
    CHECK_EQ(pop(&r), 1);
    rig_close(&r);
}

TEST(avail_idx_moving_backwards)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.last_avail = 5;
    set_avail_idx(&r, 4);   /* 4 - 5 = 65535 pending */
    CHECK_EQ(pop(&r), -EINVAL);
    rig_close(&r);
}

TEST(buffer_outside_ram)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(pop_single(&r, 0x40000000ULL, 8, 0), -EFAULT);
    rig_close(&r);
}

TEST(writable_buffer_outside_ram)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(pop_single(&r, 16 * MiB, 1, VQ_DESC_F_WRITE), -EFAULT);
    rig_close(&r);
}

TEST(buffer_address_plus_length_overflows)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(pop_single(&r, 0xffffffffffffff00ULL, 0x200, VQ_DESC_F_WRITE), -EFAULT);
    rig_close(&r);
}

TEST(buffer_in_the_legacy_hole)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(pop_single(&r, 0xb8000, 0x100, 0), -EFAULT);
    rig_close(&r);
}

TEST(buffer_crossing_the_legacy_hole)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    /* [636K, 1M + 4K): both ends are RAM, but in two regions with the hole between. */
    CHECK_EQ(pop_single(&r, 0x9f000, 0x62000, VQ_DESC_F_WRITE), -EFAULT);
    rig_close(&r);
}

TEST(buffer_straddling_the_end_of_ram)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(pop_single(&r, 16 * MiB - 0x100, 0x101, 0), -EFAULT);
    rig_close(&r);
}

TEST(buffer_ending_exactly_at_end_of_ram)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(pop_single(&r, 16 * MiB - 0x100, 0x100, VQ_DESC_F_WRITE), 1);
    CHECK_EQ(r.chain.in_bytes, 0x100);
    rig_close(&r);
}

TEST(buffer_in_rom)
{
    struct rig r;
    static uint8_t rom[0x1000] __attribute__((aligned(4096)));
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK_EQ(mem_add_region(&r.mem, 0xf0000, sizeof(rom), rom, true), 0);
    CHECK_EQ(pop_single(&r, 0xf0000, 0x10, 0), -EFAULT);
    rig_close(&r);
}

TEST(readable_after_writable)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    desc(&r, 0, BUF_GPA, 8, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1);
    desc(&r, 1, BUF_GPA + 8, 8, 0, 0);
    offer(&r, 0);
    CHECK_EQ(pop(&r), -EINVAL);
    rig_close(&r);
}

TEST(byte_total_beyond_32_bits)
{
    struct rig r;
    memset(&r, 0, sizeof(r));
    CHECK_EQ(mem_init_ram(&r.mem, 64 * MiB), 0);
    r.vq = (struct virtqueue){ .size = 128, .desc_gpa = DESC_GPA, .avail_gpa = AVAIL_GPA, .used_gpa = USED_GPA };
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    /* 80 writable buffers of 60 MiB, all aliasing the same RAM: 4.7 GiB in total. */
    for (uint16_t i = 0; i < 80; i++)
        desc(&r, i, 2 * MiB, 60 * MiB, VQ_DESC_F_WRITE | (i < 79 ? VQ_DESC_F_NEXT : 0), (uint16_t)(i + 1));
    offer(&r, 0);
    CHECK_EQ(pop(&r), -EOVERFLOW);
    rig_close(&r);
}

TEST(indirect_not_negotiated)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    desc_at(&r, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    CHECK_EQ(pop_single(&r, TABLE_GPA, 16, VQ_DESC_F_INDIRECT), -EINVAL);
    rig_close(&r);
}

TEST(nested_indirect)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    desc_at(&r, TABLE_GPA, 0, TABLE_GPA + 0x100, 16, VQ_DESC_F_INDIRECT, 0);
    desc_at(&r, TABLE_GPA + 0x100, 0, BUF_GPA, 8, 0, 0);
    CHECK_EQ(pop_single(&r, TABLE_GPA, 16, VQ_DESC_F_INDIRECT), -EINVAL);
    rig_close(&r);
}

TEST(indirect_with_next)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    desc_at(&r, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    desc(&r, 1, BUF_GPA, 8, 0, 0);
    desc(&r, 0, TABLE_GPA, 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
    offer(&r, 0);
    CHECK_EQ(pop(&r), -EINVAL);
    rig_close(&r);
}

TEST(indirect_table_length_zero)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    CHECK_EQ(pop_single(&r, TABLE_GPA, 0, VQ_DESC_F_INDIRECT), -EINVAL);
    rig_close(&r);
}

TEST(indirect_table_length_not_multiple_of_16)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    desc_at(&r, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    desc_at(&r, TABLE_GPA, 1, BUF_GPA, 8, 0, 0);
    CHECK_EQ(pop_single(&r, TABLE_GPA, 24, VQ_DESC_F_INDIRECT), -EINVAL);
    rig_close(&r);
}

TEST(indirect_table_outside_ram)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    CHECK_EQ(pop_single(&r, 16 * MiB - 16, 32, VQ_DESC_F_INDIRECT), -EFAULT);
    CHECK_EQ(vq_enable(&r.vq, &r.mem), 0);
    r.vq.indirect = true;
    set_avail_idx(&r, 0);
    CHECK_EQ(pop_single(&r, 0xa0000, 16, VQ_DESC_F_INDIRECT), -EFAULT);
    rig_close(&r);
}

TEST(indirect_table_too_large)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    CHECK_EQ(pop_single(&r, TABLE_GPA, 16 * (VQ_MAX_SIZE + 1), VQ_DESC_F_INDIRECT), -EINVAL);
    rig_close(&r);
}

TEST(indirect_table_loop)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    desc_at(&r, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    desc_at(&r, TABLE_GPA, 1, BUF_GPA, 8, VQ_DESC_F_NEXT, 0);
    CHECK_EQ(pop_single(&r, TABLE_GPA, 32, VQ_DESC_F_INDIRECT), -ELOOP);
    rig_close(&r);
}

TEST(indirect_next_beyond_table)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    /* Index 2 exists in memory but not in this 2-entry table. */
    desc_at(&r, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 2);
    desc_at(&r, TABLE_GPA, 2, BUF_GPA, 8, 0, 0);
    CHECK_EQ(pop_single(&r, TABLE_GPA, 32, VQ_DESC_F_INDIRECT), -EINVAL);
    rig_close(&r);
}

TEST(indirect_with_more_than_max_segments)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    for (uint16_t i = 0; i <= VQ_MAX_SEGS; i++)
        desc_at(&r, TABLE_GPA, i, BUF_GPA, 8, i < VQ_MAX_SEGS ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    CHECK_EQ(pop_single(&r, TABLE_GPA, 16 * (VQ_MAX_SEGS + 1), VQ_DESC_F_INDIRECT), -E2BIG);
    rig_close(&r);
}

TEST(readable_in_indirect_after_writable_direct)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.indirect = true;
    desc_at(&r, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    desc(&r, 0, BUF_GPA, 8, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1);
    desc(&r, 1, TABLE_GPA, 16, VQ_DESC_F_INDIRECT, 0);
    offer(&r, 0);
    CHECK_EQ(pop(&r), -EINVAL);
    rig_close(&r);
}

/* ---- vq_push ---- */

TEST(push_fills_used_ring)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 4), 0);
    vq_push(&r.vq, 3, 512);
    CHECK_EQ(get32(&r, USED_GPA + 4), 3);
    CHECK_EQ(get32(&r, USED_GPA + 8), 512);
    CHECK_EQ(get16(&r, USED_GPA + 2), 1);
    vq_push(&r.vq, 1, 0);
    CHECK_EQ(get32(&r, USED_GPA + 12), 1);
    CHECK_EQ(get32(&r, USED_GPA + 16), 0);
    CHECK_EQ(get16(&r, USED_GPA + 2), 2);
    CHECK_EQ(get16(&r, USED_GPA), 0);   /* flags untouched */
    rig_close(&r);
}

TEST(push_wraps_the_used_ring)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 4), 0);
    r.vq.used_idx = 65535;
    vq_push(&r.vq, 2, 7);               /* slot 65535 % 4 = 3 */
    CHECK_EQ(get32(&r, USED_GPA + 4 + 3 * 8), 2);
    CHECK_EQ(get32(&r, USED_GPA + 4 + 3 * 8 + 4), 7);
    CHECK_EQ(get16(&r, USED_GPA + 2), 0);
    vq_push(&r.vq, 1, 9);               /* slot 0 */
    CHECK_EQ(get32(&r, USED_GPA + 4), 1);
    CHECK_EQ(get32(&r, USED_GPA + 8), 9);
    CHECK_EQ(get16(&r, USED_GPA + 2), 1);
    /* Nothing written past the ring except avail_event, which push leaves alone. */
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 0);
    rig_close(&r);
}

TEST(pop_then_push_round_trip)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    desc(&r, 6, BUF_GPA, 4, VQ_DESC_F_WRITE, 0);
    offer(&r, 6);
    CHECK_EQ(pop(&r), 1);
    memcpy(r.chain.bufs[0].hva, "pong", 4);
    vq_push(&r.vq, r.chain.head, 4);
    char back[4];
    CHECK_EQ(mem_read(&r.mem, BUF_GPA, back, 4), 0);
    CHECK(memcmp(back, "pong", 4) == 0);
    CHECK_EQ(get32(&r, USED_GPA + 4), 6);
    CHECK_EQ(get32(&r, USED_GPA + 8), 4);
    rig_close(&r);
}

/* ---- notification suppression (§2.7.10) ---- */

TEST(need_event_formula)
{
    CHECK(vq_need_event(0, 1, 0));
    CHECK(!vq_need_event(1, 1, 0));
    CHECK(vq_need_event(4, 6, 2));
    CHECK(vq_need_event(2, 6, 2));
    CHECK(!vq_need_event(6, 6, 2));
    CHECK(!vq_need_event(1, 6, 2));
    CHECK(!vq_need_event(5, 5, 5));
    /* Across the 16-bit wrap: old 65534, new 2 covers 65534, 65535, 0, 1. */
    CHECK(vq_need_event(65534, 2, 65534));
    CHECK(vq_need_event(65535, 2, 65534));
    CHECK(vq_need_event(0, 2, 65534));
    CHECK(vq_need_event(1, 2, 65534));
    CHECK(!vq_need_event(2, 2, 65534));
    CHECK(!vq_need_event(65533, 2, 65534));
}

TEST(notify_without_event_idx_follows_flags)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    vq_push(&r.vq, 0, 0);
    CHECK(vq_should_notify(&r.vq));
    put16(&r, AVAIL_GPA, VQ_AVAIL_F_NO_INTERRUPT);
    vq_push(&r.vq, 1, 0);
    CHECK(!vq_should_notify(&r.vq));
    put16(&r, AVAIL_GPA, 0);
    vq_push(&r.vq, 2, 0);
    CHECK(vq_should_notify(&r.vq));
    CHECK_EQ(r.vq.signalled_used, 3);
    rig_close(&r);
}

TEST(notify_with_event_idx_follows_used_event)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.event_idx = true;
    /* NO_INTERRUPT is ignored with event-idx. */
    put16(&r, AVAIL_GPA, VQ_AVAIL_F_NO_INTERRUPT);
    put16(&r, used_event_gpa(&r), 5);
    vq_push(&r.vq, 0, 0);
    CHECK(vq_should_notify(&r.vq));     /* first time: nothing signalled yet */
    vq_push(&r.vq, 1, 0);               /* used 1 -> 2: 5 not crossed */
    CHECK(!vq_should_notify(&r.vq));
    vq_push(&r.vq, 2, 0);
    vq_push(&r.vq, 3, 0);
    vq_push(&r.vq, 4, 0);               /* used 2 -> 5: entry 5 not yet written */
    CHECK(!vq_should_notify(&r.vq));
    vq_push(&r.vq, 5, 0);               /* used 5 -> 6: crosses 5 */
    CHECK(vq_should_notify(&r.vq));
    CHECK_EQ(r.vq.signalled_used, 6);
    CHECK(!vq_should_notify(&r.vq));    /* nothing new */
    rig_close(&r);
}

TEST(notify_with_event_idx_across_wrap)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.event_idx = true;
    r.vq.used_idx = 65534;
    r.vq.signalled_used = 65534;
    r.vq.signalled_valid = true;
    put16(&r, used_event_gpa(&r), 65535);
    vq_push(&r.vq, 0, 0);
    vq_push(&r.vq, 1, 0);
    vq_push(&r.vq, 2, 0);               /* 65534 -> 1 */
    CHECK_EQ(r.vq.used_idx, 1);
    CHECK(vq_should_notify(&r.vq));
    put16(&r, used_event_gpa(&r), 3);
    vq_push(&r.vq, 3, 0);               /* 1 -> 2 */
    CHECK(!vq_should_notify(&r.vq));
    put16(&r, used_event_gpa(&r), 0);   /* stale: already passed */
    vq_push(&r.vq, 4, 0);
    CHECK(!vq_should_notify(&r.vq));
    rig_close(&r);
}

TEST(kick_suppression_without_event_idx)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    CHECK(!vq_set_kick_enabled(&r.vq, false));
    CHECK_EQ(get16(&r, USED_GPA), VQ_USED_F_NO_NOTIFY);
    CHECK(!vq_set_kick_enabled(&r.vq, true));
    CHECK_EQ(get16(&r, USED_GPA), 0);
    CHECK(!vq_set_kick_enabled(&r.vq, false));
    desc(&r, 0, BUF_GPA, 8, 0, 0);
    offer(&r, 0);                        /* arrives while kicks are off */
    CHECK(vq_set_kick_enabled(&r.vq, true));
    CHECK_EQ(get16(&r, USED_GPA), 0);
    CHECK_EQ(pop(&r), 1);
    CHECK(!vq_set_kick_enabled(&r.vq, true));
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 0);   /* not used without event-idx */
    rig_close(&r);
}

TEST(kick_suppression_with_event_idx)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.event_idx = true;
    r.vq.last_avail = 40;
    set_avail_idx(&r, 40);
    CHECK(!vq_set_kick_enabled(&r.vq, false));
    CHECK_EQ(get16(&r, USED_GPA), 0);               /* flags are not used with event-idx */
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 0);
    CHECK(!vq_set_kick_enabled(&r.vq, true));
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 40);
    CHECK(!vq_set_kick_enabled(&r.vq, false));
    desc(&r, 0, BUF_GPA, 8, 0, 0);
    offer(&r, 0);
    CHECK(vq_set_kick_enabled(&r.vq, true));
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 40);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(r.vq.last_avail, 41);
    CHECK(!vq_set_kick_enabled(&r.vq, true));
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 41);
    CHECK_EQ(get16(&r, USED_GPA), 0);
    rig_close(&r);
}

TEST(event_idx_pop_on_empty_ring_asks_for_a_kick)
{
    struct rig r;
    CHECK_EQ(rig_open(&r, 8), 0);
    r.vq.event_idx = true;
    desc(&r, 0, BUF_GPA, 8, 0, 0);
    offer(&r, 0);
    offer(&r, 0);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 0);    /* busy: the driver's kicks stay suppressed */
    CHECK_EQ(pop(&r), 0);
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 2);    /* drained: kick when entry 2 arrives */
    /* With kicks off, draining publishes nothing. */
    CHECK(!vq_set_kick_enabled(&r.vq, false));
    offer(&r, 0);
    CHECK_EQ(pop(&r), 1);
    CHECK_EQ(pop(&r), 0);
    CHECK_EQ(get16(&r, avail_event_gpa(&r)), 2);
    rig_close(&r);
}
