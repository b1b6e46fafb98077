/* Unit tests for the port-I/O / MMIO bus: registration, overlap refusal, dispatch, unregister. */
#include <errno.h>
#include <stdbool.h>

#include "vmm/bus.h"
#include "tests/unit/check.h"

TEST_MAIN()

/* A fake device: remembers its last access and answers reads with its id byte. */
struct fake_dev {
    uint8_t id;
    int calls;
    uint64_t offset;
    uint32_t len;
    bool is_write;
    uint8_t written[8];
};

static void fake_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct fake_dev *d = opaque;
    d->calls++;
    d->offset = offset;
    d->len = len;
    d->is_write = is_write;
    if (is_write)
        memcpy(d->written, data, len < 8 ? len : 8);
    else
        memset(data, d->id, len);
}

TEST(register_and_dispatch_by_offset)
{
    struct bus b;
    bus_init(&b, "pio");
    struct fake_dev d = { .id = 0x42 };
    CHECK_EQ(bus_register(&b, 0x3f8, 8, fake_access, &d, "uart"), 0);
    uint8_t data[4] = { 0 };
    CHECK(bus_dispatch(&b, 0x3fd, data, 1, false));
    CHECK_EQ(d.calls, 1);
    CHECK_EQ(d.offset, 5);
    CHECK_EQ(d.len, 1);
    CHECK(!d.is_write);
    CHECK_EQ(data[0], 0x42);
    data[0] = 0x99;
    data[1] = 0x88;
    CHECK(bus_dispatch(&b, 0x3f8, data, 2, true));
    CHECK_EQ(d.offset, 0);
    CHECK_EQ(d.len, 2);
    CHECK(d.is_write);
    CHECK_EQ(d.written[0], 0x99);
    CHECK_EQ(d.written[1], 0x88);
    CHECK(bus_dispatch(&b, 0x3ff, data, 1, false));   /* last byte of the range */
    CHECK_EQ(d.offset, 7);
    bus_destroy(&b);
}

TEST(overlapping_registration_refused)
{
    struct bus b;
    bus_init(&b, "pio");
    struct fake_dev d = { 0 };
    CHECK_EQ(bus_register(&b, 0x100, 8, fake_access, &d, "a"), 0);
    CHECK_EQ(bus_register(&b, 0x104, 8, fake_access, &d, "tail"), -EEXIST);
    CHECK_EQ(bus_register(&b, 0xfc, 8, fake_access, &d, "head"), -EEXIST);
    CHECK_EQ(bus_register(&b, 0x102, 2, fake_access, &d, "inside"), -EEXIST);
    CHECK_EQ(bus_register(&b, 0x0, 0x1000, fake_access, &d, "around"), -EEXIST);
    CHECK_EQ(bus_register(&b, 0x100, 8, fake_access, &d, "same"), -EEXIST);
    CHECK_EQ(bus_register(&b, 0x107, 1, fake_access, &d, "last byte"), -EEXIST);
    CHECK_EQ(bus_register(&b, 0x108, 8, fake_access, &d, "after"), 0);   /* adjacent is fine */
    CHECK_EQ(bus_register(&b, 0xf8, 8, fake_access, &d, "before"), 0);
    /* Each byte from 0xf8 to 0x10f is claimed, with the offset of its own range. */
    for (uint64_t a = 0xf8; a < 0x110; a++) {
        uint8_t v;
        CHECK(bus_dispatch(&b, a, &v, 1, false));
        CHECK_EQ(d.offset, (a - 0xf8) % 8);
    }
    CHECK_EQ(d.calls, 24);
    uint8_t v;
    CHECK(!bus_dispatch(&b, 0x110, &v, 1, false));
    CHECK(!bus_dispatch(&b, 0xf7, &v, 1, false));
    bus_destroy(&b);
}

TEST(bad_ranges_rejected)
{
    struct bus b;
    bus_init(&b, "mmio");
    struct fake_dev d = { 0 };
    CHECK_EQ(bus_register(&b, 0x1000, 0, fake_access, &d, "empty"), -EINVAL);
    CHECK_EQ(bus_register(&b, UINT64_MAX - 3, 8, fake_access, &d, "wraps"), -EINVAL);
    CHECK_EQ(bus_register(&b, UINT64_MAX - 15, 15, fake_access, &d, "top"), 0);
    uint8_t data[8];
    CHECK(bus_dispatch(&b, UINT64_MAX - 8, data, 8, false));
    CHECK_EQ(d.offset, 7);
    CHECK(!bus_dispatch(&b, UINT64_MAX - 7, data, 8, false));  /* would run past 2^64 */
    CHECK(!bus_dispatch(&b, 0x1000, data, 1, false));          /* the refused ones are absent */
    CHECK(!bus_dispatch(&b, UINT64_MAX - 3, data, 4, false));
    bus_destroy(&b);
}

TEST(straddling_access_not_claimed)
{
    struct bus b;
    bus_init(&b, "pio");
    struct fake_dev d1 = { .id = 1 }, d2 = { .id = 2 };
    CHECK_EQ(bus_register(&b, 0x100, 8, fake_access, &d1, "one"), 0);
    CHECK_EQ(bus_register(&b, 0x108, 8, fake_access, &d2, "two"), 0);
    uint8_t data[4] = { 0 };
    CHECK(!bus_dispatch(&b, 0x106, data, 4, false));   /* half in one, half in two */
    CHECK_EQ(d1.calls + d2.calls, 0);
    CHECK_EQ(data[0], 0xff);
    CHECK_EQ(data[3], 0xff);
    CHECK(!bus_dispatch(&b, 0x10e, data, 4, true));    /* runs off the end of two */
    CHECK_EQ(d2.calls, 0);
    CHECK(bus_dispatch(&b, 0x104, data, 4, false));    /* the last 4 bytes of one */
    CHECK_EQ(d1.calls, 1);
    CHECK_EQ(d1.offset, 4);
    bus_destroy(&b);
}

TEST(unclaimed_reads_return_all_ones)
{
    struct bus b;
    bus_init(&b, "pio");
    uint8_t data[8] = { 0 };
    CHECK(!bus_dispatch(&b, 0x80, data, 4, false));    /* empty bus */
    CHECK_EQ(data[0], 0xff);
    CHECK_EQ(data[3], 0xff);
    CHECK_EQ(data[4], 0);                              /* only `len` bytes touched */
    struct fake_dev d = { .id = 7 };
    CHECK_EQ(bus_register(&b, 0x100, 4, fake_access, &d, "dev"), 0);
    memset(data, 0, sizeof(data));
    CHECK(!bus_dispatch(&b, 0xff, data, 1, false));    /* just below */
    CHECK_EQ(data[0], 0xff);
    CHECK(!bus_dispatch(&b, 0x104, data, 8, false));   /* just above */
    CHECK_EQ(data[7], 0xff);
    CHECK_EQ(d.calls, 0);
    /* Unclaimed writes leave the caller's buffer alone. */
    uint8_t w[2] = { 0x12, 0x34 };
    CHECK(!bus_dispatch(&b, 0x200, w, 2, true));
    CHECK_EQ(w[0], 0x12);
    CHECK_EQ(w[1], 0x34);
    bus_destroy(&b);
}

TEST(unregister)
{
    struct bus b;
    bus_init(&b, "mmio");
    struct fake_dev d1 = { .id = 1 }, d2 = { .id = 2 };
    CHECK_EQ(bus_register(&b, 0xfe000000, 0x1000, fake_access, &d1, "bar0"), 0);
    CHECK_EQ(bus_register(&b, 0xfe001000, 0x1000, fake_access, &d2, "bar1"), 0);
    CHECK_EQ(bus_unregister(&b, 0xfe000800), -ENOENT);   /* not a base */
    CHECK_EQ(bus_unregister(&b, 0xfd000000), -ENOENT);
    CHECK_EQ(bus_unregister(&b, 0xfe000000), 0);
    CHECK_EQ(bus_unregister(&b, 0xfe000000), -ENOENT);   /* already gone */
    uint8_t data[4];
    CHECK(!bus_dispatch(&b, 0xfe000010, data, 4, false));
    CHECK_EQ(d1.calls, 0);
    CHECK(bus_dispatch(&b, 0xfe001010, data, 4, false));
    CHECK_EQ(data[0], 2);
    /* The range is free again (a BAR moved back). */
    CHECK_EQ(bus_register(&b, 0xfe000000, 0x1000, fake_access, &d1, "bar0"), 0);
    CHECK(bus_dispatch(&b, 0xfe000ffc, data, 4, false));
    CHECK_EQ(data[0], 1);
    CHECK_EQ(d1.offset, 0xffc);
    bus_destroy(&b);
}

TEST(many_ranges_dispatch_to_the_right_device)
{
    struct bus b;
    bus_init(&b, "pio");
    static struct fake_dev devs[100];
    /* Registered out of order, more than the initial capacity. */
    for (int i = 0; i < 100; i++) {
        int k = (i * 37) % 100;
        devs[k].id = (uint8_t)k;
        CHECK_EQ(bus_register(&b, 0x1000 + (uint64_t)k * 0x10, 0x10, fake_access, &devs[k], "dev"), 0);
    }
    for (int k = 0; k < 100; k++) {
        uint8_t data = 0;
        CHECK(bus_dispatch(&b, 0x1000 + (uint64_t)k * 0x10 + 3, &data, 1, false));
        CHECK_EQ(data, k);
        CHECK_EQ(devs[k].offset, 3);
    }
    uint8_t edge[4] = { 0 };
    CHECK(!bus_dispatch(&b, 0xfff, edge, 1, false));
    CHECK(!bus_dispatch(&b, 0x1000 + 100 * 0x10, edge, 1, false));
    CHECK(!bus_dispatch(&b, 0x100e, edge, 4, false));       /* straddles devices 0 and 1 */
    for (int k = 0; k < 100; k += 2)
        CHECK_EQ(bus_unregister(&b, 0x1000 + (uint64_t)k * 0x10), 0);
    for (int k = 0; k < 100; k += 2)
        CHECK_EQ(bus_unregister(&b, 0x1000 + (uint64_t)k * 0x10), -ENOENT);
    uint8_t data = 0;
    CHECK(!bus_dispatch(&b, 0x1000 + 4 * 0x10, &data, 1, false));
    CHECK(bus_dispatch(&b, 0x1000 + 5 * 0x10, &data, 1, false));
    CHECK_EQ(data, 5);
    bus_destroy(&b);
}

TEST(destroy_then_reuse)
{
    struct bus b;
    bus_init(&b, "pio");
    struct fake_dev d = { .id = 9 };
    CHECK_EQ(bus_register(&b, 0x60, 1, fake_access, &d, "kbd"), 0);
    bus_destroy(&b);
    bus_init(&b, "pio");
    uint8_t data = 0;
    CHECK(!bus_dispatch(&b, 0x60, &data, 1, false));
    CHECK_EQ(data, 0xff);
    bus_destroy(&b);
}
