/* Unit tests for the MC146818 RTC/CMOS model: time formats, guest-set time, status C, memory fields. */
#include <stdbool.h>
#include <time.h>

#include "devices/rtc.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define NS 1000000000LL

struct fake_clock {
    int64_t ns;
};

static int64_t fake_now(void *ctx)
{
    return ((struct fake_clock *)ctx)->ns;
}

struct irq_probe {
    int level, raises;
};

static void probe_irq(void *ctx, unsigned gsi, int level)
{
    struct irq_probe *p = ctx;
    (void)gsi;
    if (level && !p->level)
        p->raises++;
    p->level = level;
}

struct timer_probe {
    uint64_t delay;
    int arms, cancels;
};

static void probe_arm(void *ctx, uint64_t delay_ns)
{
    struct timer_probe *t = ctx;
    t->delay = delay_ns;
    t->arms++;
}

static void probe_cancel(void *ctx)
{
    ((struct timer_probe *)ctx)->cancels++;
}

static uint8_t rd(struct rtc *r, uint8_t index)
{
    uint8_t v = index;
    rtc_io(r, 0, &v, 1, true);
    rtc_io(r, 1, &v, 1, false);
    return v;
}

static void wr(struct rtc *r, uint8_t index, uint8_t value)
{
    rtc_io(r, 0, &index, 1, true);
    rtc_io(r, 1, &value, 1, true);
}

/* 2024-02-29 13:45:07 UTC, a Thursday. */
static int64_t sample_time_ns(void)
{
    struct tm tm = { .tm_year = 124, .tm_mon = 1, .tm_mday = 29, .tm_hour = 13, .tm_min = 45, .tm_sec = 7 };
    return (int64_t)timegm(&tm) * NS;
}

static void setup(struct rtc *r, struct fake_clock *c, struct irq_probe *p)
{
    c->ns = sample_time_ns() + NS / 2;
    rtc_init(r, (struct irq_line){ probe_irq, p, RTC_IRQ });
    rtc_set_clock(r, fake_now, c);
}

TEST(bcd_24h_default)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    CHECK_EQ(rd(&r, 0x0b), 0x02);
    CHECK_EQ(rd(&r, 0x00), 0x07);
    CHECK_EQ(rd(&r, 0x02), 0x45);
    CHECK_EQ(rd(&r, 0x04), 0x13);
    CHECK_EQ(rd(&r, 0x06), 0x05);   /* Thursday: Sunday = 1 */
    CHECK_EQ(rd(&r, 0x07), 0x29);
    CHECK_EQ(rd(&r, 0x08), 0x02);
    CHECK_EQ(rd(&r, 0x09), 0x24);
    CHECK_EQ(rd(&r, 0x32), 0x20);
    CHECK_EQ(rd(&r, 0x0d), 0x80);
    c.ns += 60 * NS;
    CHECK_EQ(rd(&r, 0x02), 0x46);   /* the clock runs with the host */
    rtc_destroy(&r);
}

TEST(binary_and_12h)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    wr(&r, 0x0b, 0x04);             /* binary, 12-hour */
    CHECK_EQ(rd(&r, 0x04), 0x80 | 1);
    CHECK_EQ(rd(&r, 0x02), 45);
    CHECK_EQ(rd(&r, 0x09), 24);
    CHECK_EQ(rd(&r, 0x32), 20);
    wr(&r, 0x0b, 0x00);             /* BCD, 12-hour */
    CHECK_EQ(rd(&r, 0x04), 0x81);
    c.ns -= 13 * 3600 * NS;         /* 00:45 -> 12 AM */
    CHECK_EQ(rd(&r, 0x04), 0x12);
    c.ns += 12 * 3600 * NS;         /* 12:45 -> 12 PM */
    CHECK_EQ(rd(&r, 0x04), 0x92);
    wr(&r, 0x0b, 0x06);             /* binary, 24-hour */
    CHECK_EQ(rd(&r, 0x04), 12);
    rtc_destroy(&r);
}

TEST(guest_sets_time_with_set_bit)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    wr(&r, 0x0b, 0x82);             /* SET, 24h BCD */
    c.ns += 5 * NS;
    CHECK_EQ(rd(&r, 0x00), 0x07);   /* frozen while SET */
    wr(&r, 0x09, 0x30);             /* 2030 */
    wr(&r, 0x08, 0x12);
    wr(&r, 0x07, 0x31);
    wr(&r, 0x04, 0x23);
    wr(&r, 0x02, 0x59);
    wr(&r, 0x00, 0x50);
    CHECK_EQ(rd(&r, 0x00), 0x50);
    wr(&r, 0x0b, 0x02);             /* clear SET: clock runs from here */
    CHECK_EQ(rd(&r, 0x00), 0x50);
    CHECK_EQ(rd(&r, 0x09), 0x30);
    c.ns += 10 * NS;                /* the offset holds: 10 s later is the new year */
    CHECK_EQ(rd(&r, 0x00), 0x00);
    CHECK_EQ(rd(&r, 0x02), 0x00);
    CHECK_EQ(rd(&r, 0x04), 0x00);
    CHECK_EQ(rd(&r, 0x07), 0x01);
    CHECK_EQ(rd(&r, 0x08), 0x01);
    CHECK_EQ(rd(&r, 0x09), 0x31);
    CHECK_EQ(rd(&r, 0x32), 0x20);
    CHECK_EQ(rd(&r, 0x06), 0x04);   /* 2031-01-01 is a Wednesday */
    rtc_destroy(&r);
}

TEST(write_without_set_takes_effect)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    wr(&r, 0x04, 0x01);             /* 13:45:07 -> 01:45:07 */
    c.ns += 3 * NS;
    CHECK_EQ(rd(&r, 0x04), 0x01);
    CHECK_EQ(rd(&r, 0x00), 0x10);
    CHECK_EQ(rd(&r, 0x07), 0x29);
    rtc_destroy(&r);
}

TEST(garbage_time_does_not_crash)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    wr(&r, 0x0b, 0x82);
    for (uint8_t i = 0; i < 10; i++)
        wr(&r, i, 0xff);
    wr(&r, 0x32, 0xff);
    wr(&r, 0x0b, 0x02);
    for (uint8_t i = 0; i < 10; i++)
        (void)rd(&r, i);
    wr(&r, 0x0b, 0x86);
    wr(&r, 0x08, 0x00);
    wr(&r, 0x32, 0x00);
    wr(&r, 0x09, 0x00);
    wr(&r, 0x0b, 0x06);
    (void)rd(&r, 0x09);
    CHECK_EQ(rd(&r, 0x0d), 0x80);
    rtc_destroy(&r);
}

TEST(uip_only_just_before_the_update)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    CHECK_EQ(rd(&r, 0x0a), 0x26);
    c.ns = sample_time_ns() + NS - 100000;
    CHECK_EQ(rd(&r, 0x0a), 0xa6);
    wr(&r, 0x0b, 0x82);
    CHECK_EQ(rd(&r, 0x0a), 0x26);   /* no updates while SET */
    wr(&r, 0x0a, 0xff);             /* UIP is read-only */
    CHECK_EQ(rd(&r, 0x0a), 0x7f);
    rtc_destroy(&r);
}

TEST(status_c_read_clears)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    (void)rd(&r, 0x0c);
    CHECK_EQ(rd(&r, 0x0c), 0x00);
    c.ns += NS;
    uint8_t flags = rd(&r, 0x0c);
    CHECK(flags & 0x10);            /* UF after a second */
    CHECK(flags & 0x40);            /* PF at 1024 Hz */
    CHECK(!(flags & 0x80));         /* no interrupt enabled */
    CHECK_EQ(rd(&r, 0x0c), 0x00);
    wr(&r, 0x0c, 0xff);             /* read-only */
    wr(&r, 0x0d, 0x00);
    CHECK_EQ(rd(&r, 0x0c), 0x00);
    CHECK_EQ(rd(&r, 0x0d), 0x80);
    rtc_destroy(&r);
}

TEST(update_interrupt_through_timer)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    struct timer_probe t = { 0 };
    setup(&r, &c, &p);
    rtc_set_timer(&r, (struct rtc_timer){ probe_arm, probe_cancel, &t });
    (void)rd(&r, 0x0c);
    wr(&r, 0x0b, 0x12);             /* UIE */
    CHECK(t.arms > 0);
    CHECK_EQ(t.delay, NS / 2);
    c.ns += NS / 2;
    rtc_timer_expired(&r);
    CHECK_EQ(p.level, 1);
    CHECK_EQ(p.raises, 1);
    uint8_t flags = rd(&r, 0x0c);
    CHECK_EQ(flags & 0x90, 0x90);
    CHECK_EQ(p.level, 0);
    CHECK_EQ(t.delay, NS);
    wr(&r, 0x0b, 0x02);
    CHECK(t.cancels > 0);
    rtc_destroy(&r);
}

TEST(index_masking_and_nmi_bit)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    wr(&r, 0x80 | 0x40, 0x5a);      /* NMI-disable bit set: index 0x40 */
    CHECK_EQ(rd(&r, 0x40), 0x5a);
    CHECK_EQ(rd(&r, 0xc0), 0x5a);
    CHECK_EQ(rd(&r, 0x80 | 0x0d), 0x80);
    CHECK_EQ(rtc_get_byte(&r, 0x40), 0x5a);
    uint8_t v = 0;
    rtc_io(&r, 0, &v, 1, false);    /* the index port reads as 0xff */
    CHECK_EQ(v, 0xff);
    uint8_t wide[4] = { 0x0d, 0, 0, 0 };
    rtc_io(&r, 0, wide, 2, true);   /* a word write: index then data (D is read-only) */
    rtc_io(&r, 0, wide, 4, false);
    CHECK_EQ(wide[1], 0x80);
    CHECK_EQ(wide[2], 0xff);
    rtc_destroy(&r);
}

static unsigned word_at(struct rtc *r, uint8_t lo)
{
    return rd(r, lo) | (unsigned)rd(r, lo + 1) << 8;
}

static unsigned above_4g(struct rtc *r)
{
    return rd(r, 0x5b) | (unsigned)rd(r, 0x5c) << 8 | (unsigned)rd(r, 0x5d) << 16;
}

static bool checksum_ok(struct rtc *r)
{
    unsigned sum = 0;
    for (uint8_t i = 0x10; i <= 0x2d; i++)
        sum += rd(r, i);
    return sum != 0 && (unsigned)(rd(r, 0x2e) << 8 | rd(r, 0x2f)) == sum;
}

TEST(memory_64m)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    rtc_set_memory(&r, 64ULL << 20);
    CHECK_EQ(word_at(&r, 0x15), 640);
    CHECK_EQ(word_at(&r, 0x17), 63 * 1024);
    CHECK_EQ(word_at(&r, 0x30), 63 * 1024);
    CHECK_EQ(word_at(&r, 0x34), 0x300);
    CHECK_EQ(above_4g(&r), 0);
    CHECK(checksum_ok(&r));
    rtc_destroy(&r);
}

TEST(memory_2g)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    rtc_set_memory(&r, 2ULL << 30);
    CHECK_EQ(word_at(&r, 0x17), 0xffff);
    CHECK_EQ(word_at(&r, 0x30), 0xffff);
    CHECK_EQ(word_at(&r, 0x34), 0x7f00);
    CHECK_EQ(above_4g(&r), 0);
    CHECK(checksum_ok(&r));
    rtc_destroy(&r);
}

TEST(memory_3g_and_6g)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    rtc_set_memory(&r, 3ULL << 30);
    CHECK_EQ(word_at(&r, 0x34), 0xbf00);
    CHECK_EQ(above_4g(&r), 0);
    rtc_set_memory(&r, 6ULL << 30);
    CHECK_EQ(word_at(&r, 0x15), 640);
    CHECK_EQ(word_at(&r, 0x17), 0xffff);
    CHECK_EQ(word_at(&r, 0x34), 0xbf00);
    CHECK_EQ(above_4g(&r), 0xc000);  /* 3 GiB above 4 GiB in 64 KiB units */
    CHECK_EQ(rd(&r, 0x5b), 0x00);
    CHECK_EQ(rd(&r, 0x5c), 0xc0);
    CHECK(checksum_ok(&r));
    rtc_destroy(&r);
}

TEST(cpus_boot_bytes_and_checksum)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    rtc_set_memory(&r, 512ULL << 20);
    rtc_set_cpus(&r, 4);
    CHECK_EQ(rd(&r, 0x5f), 3);
    rtc_set_cpus(&r, 0);
    CHECK_EQ(rd(&r, 0x5f), 0);
    rtc_set_byte(&r, 0x3d, 0x21);
    rtc_set_byte(&r, 0x38, 0x30);
    CHECK_EQ(rd(&r, 0x3d), 0x21);
    CHECK_EQ(rd(&r, 0x38), 0x30);
    rtc_set_byte(&r, 0x12, 0xf0);   /* inside the checksummed range */
    CHECK(checksum_ok(&r));
    wr(&r, 0x12, 0x00);             /* a guest write leaves the checksum to the guest */
    CHECK(!checksum_ok(&r));
    rtc_destroy(&r);
}

TEST(reset_keeps_cmos_and_time)
{
    struct rtc r; struct fake_clock c; struct irq_probe p = { 0 };
    setup(&r, &c, &p);
    rtc_set_cpus(&r, 2);
    wr(&r, 0x04, 0x05);
    wr(&r, 0x0b, 0x06);
    rtc_reset(&r);
    CHECK_EQ(rd(&r, 0x0b), 0x02);
    CHECK_EQ(rd(&r, 0x04), 0x05);
    CHECK_EQ(rd(&r, 0x5f), 1);
    rtc_destroy(&r);
}
