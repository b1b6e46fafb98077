/* Unit tests for ACPI PM1 fixed hardware (status, enable, S5, PM timer) and the small platform ports. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <time.h>

#include "devices/acpi_pm.h"
#include "devices/platform_ports.h"
#include "tests/unit/check.h"

TEST_MAIN()

/* PM1 block offsets and bits (ACPI 6.4 §4.8.3.1-4.8.3.3). */
#define OFF_STS 0
#define OFF_EN 2
#define OFF_CNT 4
#define OFF_TMR 8
#define PWRBTN 0x0100
#define SLP_EN 0x2000
#define SLP_TYP(t) ((uint16_t)((t) << 10))

/* Records what a device did to its interrupt line and which machine events it asked for. */
struct probe {
    int level, edges;
    unsigned gsi;
    int requests[3];
    int nrequests;
};

static void probe_irq(void *ctx, unsigned gsi, int level)
{
    struct probe *p = ctx;
    if (level != p->level)
        p->edges++;
    p->level = level;
    p->gsi = gsi;
}

static void probe_request(void *ctx, enum machine_event ev)
{
    struct probe *p = ctx;
    if ((unsigned)ev < 3)
        p->requests[ev]++;
    p->nrequests++;
}

static void pm_setup(struct acpi_pm *pm, struct probe *p)
{
    memset(p, 0, sizeof(*p));
    struct irq_line sci = { .set = probe_irq, .ctx = p, .gsi = ACPI_SCI_IRQ };
    struct machine_ops m = { .request = probe_request, .ctx = p };
    acpi_pm_init(pm, sci, m);
}

static uint32_t pm_read(struct acpi_pm *pm, unsigned off, unsigned len)
{
    uint8_t d[4] = { 0 };
    acpi_pm_io(pm, off, d, len, false);
    return d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void pm_write(struct acpi_pm *pm, unsigned off, uint32_t v, unsigned len)
{
    uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    acpi_pm_io(pm, off, d, len, true);
}

TEST(pm_initial_state)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), 0);
    CHECK_EQ(pm_read(&pm, OFF_EN, 2), 0);
    CHECK_EQ(pm_read(&pm, OFF_CNT, 2), 0x0001);   /* SCI_EN: always in ACPI mode */
    CHECK_EQ(p.level, 0);
    CHECK_EQ(p.nrequests, 0);
    acpi_pm_destroy(&pm);
}

TEST(power_button_without_enable_sets_status_only)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    acpi_pm_power_button(&pm);
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), PWRBTN);
    CHECK_EQ(p.level, 0);
    CHECK_EQ(p.edges, 0);
    /* Enabling afterwards raises the SCI for the pending status. */
    pm_write(&pm, OFF_EN, PWRBTN, 2);
    CHECK_EQ(p.level, 1);
    CHECK_EQ(p.gsi, ACPI_SCI_IRQ);
    acpi_pm_destroy(&pm);
}

TEST(power_button_with_enable_raises_sci)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    pm_write(&pm, OFF_EN, PWRBTN, 2);
    CHECK_EQ(p.level, 0);
    acpi_pm_power_button(&pm);
    CHECK_EQ(p.level, 1);
    CHECK_EQ(pm_read(&pm, OFF_STS, 2) & PWRBTN, PWRBTN);
    pm_write(&pm, OFF_STS, PWRBTN, 2);           /* the OSPM acknowledges */
    CHECK_EQ(p.level, 0);
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), 0);
    CHECK_EQ(p.edges, 2);
    acpi_pm_destroy(&pm);
}

TEST(status_is_write_one_to_clear)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    acpi_pm_power_button(&pm);
    pm_write(&pm, OFF_STS, 0x0000, 2);           /* zeros change nothing */
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), PWRBTN);
    pm_write(&pm, OFF_STS, 0xfeff, 2);           /* other ones leave PWRBTN_STS set */
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), PWRBTN);
    pm_write(&pm, OFF_STS, 0x00, 1);
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), PWRBTN);
    pm_write(&pm, OFF_STS + 1, 0x01, 1);         /* byte write to the high half clears it */
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), 0);
    /* A status write never sets bits. */
    pm_write(&pm, OFF_STS, 0xffff, 2);
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), 0);
    acpi_pm_destroy(&pm);
}

TEST(enable_register_keeps_defined_bits)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    pm_write(&pm, OFF_EN, 0xffff, 2);
    CHECK_EQ(pm_read(&pm, OFF_EN, 2), 0x0721);   /* TMR, GBL, PWRBTN, SLPBTN, RTC */
    pm_write(&pm, OFF_EN, 0x00, 1);
    CHECK_EQ(pm_read(&pm, OFF_EN, 2), 0x0700);
    pm_write(&pm, OFF_EN + 1, 0x00, 1);
    CHECK_EQ(pm_read(&pm, OFF_EN, 2), 0x0000);
    CHECK_EQ(pm_read(&pm, OFF_EN + 1, 1), 0);
    acpi_pm_destroy(&pm);
}

TEST(sci_follows_status_and_enable)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    acpi_pm_power_button(&pm);
    pm_write(&pm, OFF_EN, PWRBTN, 2);
    CHECK_EQ(p.level, 1);
    pm_write(&pm, OFF_EN, 0, 2);                 /* disabling drops the line, status stays */
    CHECK_EQ(p.level, 0);
    CHECK_EQ(pm_read(&pm, OFF_STS, 2), PWRBTN);
    pm_write(&pm, OFF_EN, PWRBTN, 2);
    CHECK_EQ(p.level, 1);
    acpi_pm_power_button(&pm);                   /* a second press while pending: no new edge */
    CHECK_EQ(p.edges, 3);
    pm_write(&pm, OFF_STS, PWRBTN, 2);
    CHECK_EQ(p.level, 0);
    acpi_pm_destroy(&pm);
}

TEST(s5_with_16bit_write_powers_off)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    pm_write(&pm, OFF_CNT, SLP_TYP(5) | SLP_EN | 1, 2);
    CHECK_EQ(p.requests[MACHINE_POWEROFF], 1);
    CHECK_EQ(p.nrequests, 1);
    /* SLP_EN is write-only and reads 0; SLP_TYP is kept. */
    CHECK_EQ(pm_read(&pm, OFF_CNT, 2), SLP_TYP(5) | 1);
    acpi_pm_destroy(&pm);
}

TEST(s5_with_byte_writes_powers_off)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    pm_write(&pm, OFF_CNT, 0x01, 1);
    pm_write(&pm, OFF_CNT + 1, (SLP_TYP(5) | SLP_EN) >> 8, 1);
    CHECK_EQ(p.requests[MACHINE_POWEROFF], 1);
    CHECK_EQ(p.nrequests, 1);
    acpi_pm_destroy(&pm);
    /* SLP_TYP written first, SLP_EN in a second byte write. */
    pm_setup(&pm, &p);
    pm_write(&pm, OFF_CNT + 1, SLP_TYP(5) >> 8, 1);
    CHECK_EQ(p.nrequests, 0);
    pm_write(&pm, OFF_CNT + 1, (SLP_TYP(5) | SLP_EN) >> 8, 1);
    CHECK_EQ(p.requests[MACHINE_POWEROFF], 1);
    acpi_pm_destroy(&pm);
}

TEST(s5_with_dword_write_powers_off)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    pm_write(&pm, OFF_CNT, SLP_TYP(5) | SLP_EN, 4);
    CHECK_EQ(p.requests[MACHINE_POWEROFF], 1);
    acpi_pm_destroy(&pm);
}

TEST(other_sleep_types_do_not_power_off)
{
    struct acpi_pm pm;
    struct probe p;
    for (unsigned t = 0; t < 8; t++) {
        if (t == 5)
            continue;
        pm_setup(&pm, &p);
        pm_write(&pm, OFF_CNT, SLP_TYP(t) | SLP_EN, 2);
        CHECK_EQ(p.nrequests, 0);
        pm_write(&pm, OFF_CNT + 1, (SLP_TYP(t) | SLP_EN) >> 8, 1);
        CHECK_EQ(p.nrequests, 0);
        acpi_pm_destroy(&pm);
    }
    /* S5 without SLP_EN only selects the type. */
    pm_setup(&pm, &p);
    pm_write(&pm, OFF_CNT, SLP_TYP(5), 2);
    CHECK_EQ(p.nrequests, 0);
    acpi_pm_destroy(&pm);
}

TEST(sci_en_cannot_be_cleared)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    pm_write(&pm, OFF_CNT, 0x0000, 2);
    CHECK_EQ(pm_read(&pm, OFF_CNT, 2) & 1, 1);
    acpi_pm_destroy(&pm);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

TEST(pm_timer_advances_at_3_58_mhz)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    const uint64_t sleep_ns = 20000000;
    uint64_t t0 = now_ns();
    uint32_t a = pm_read(&pm, OFF_TMR, 4);
    struct timespec req = { 0, (long)sleep_ns };
    nanosleep(&req, NULL);
    uint32_t b = pm_read(&pm, OFF_TMR, 4);
    uint64_t t1 = now_ns();
    uint32_t ticks = b - a;                      /* 32-bit counter: wrap is fine */
    uint64_t min = sleep_ns * ACPI_PM_TIMER_HZ / 1000000000ULL;
    uint64_t max = (t1 - t0) * ACPI_PM_TIMER_HZ / 1000000000ULL + 2;
    CHECK(ticks >= min);                         /* about 71590 ticks for 20 ms */
    CHECK(ticks <= max);
    acpi_pm_destroy(&pm);
}

TEST(pm_timer_byte_reads_and_read_only)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    uint32_t before = acpi_pm_timer_now();
    pm_write(&pm, OFF_TMR, 0, 4);                /* ignored */
    uint32_t low = pm_read(&pm, OFF_TMR, 2);
    uint32_t after = acpi_pm_timer_now();
    /* Unless the low half wrapped in between, the read lies between the two samples. */
    if ((before >> 16) == (after >> 16)) {
        CHECK(low >= (before & 0xffff));
        CHECK(low <= (after & 0xffff));
    }
    uint32_t top_before = acpi_pm_timer_now() >> 24;
    uint32_t top = pm_read(&pm, OFF_TMR + 3, 1);
    uint32_t top_after = acpi_pm_timer_now() >> 24;
    CHECK(top == top_before || top == top_after);
    CHECK_EQ(p.nrequests, 0);
    acpi_pm_destroy(&pm);
}

TEST(pm_gaps_and_out_of_range)
{
    struct acpi_pm pm;
    struct probe p;
    pm_setup(&pm, &p);
    CHECK_EQ(pm_read(&pm, 6, 2), 0xffff);        /* between PM1_CNT and PM_TMR */
    uint8_t d[4] = { 0x11, 0x22, 0x33, 0x44 };
    acpi_pm_io(&pm, 11, d, 4, false);            /* runs past the block: only byte 11 filled */
    CHECK_EQ(d[1], 0x22);
    CHECK_EQ(d[3], 0x44);
    acpi_pm_io(&pm, 12, d, 4, true);
    acpi_pm_io(&pm, UINT64_MAX - 1, d, 4, true);
    CHECK_EQ(p.nrequests, 0);
    CHECK_EQ(pm_read(&pm, OFF_CNT, 2), 1);
    acpi_pm_destroy(&pm);
}

static void ports_setup(struct platform_ports *pp, struct probe *p)
{
    memset(p, 0, sizeof(*p));
    struct machine_ops m = { .request = probe_request, .ctx = p };
    platform_ports_init(pp, m);
}

static uint8_t port_in(void (*fn)(void *, uint64_t, uint8_t *, uint32_t, bool), struct platform_ports *pp)
{
    uint8_t v = 0;
    fn(pp, 0, &v, 1, false);
    return v;
}

static void port_out(void (*fn)(void *, uint64_t, uint8_t *, uint32_t, bool), struct platform_ports *pp, uint8_t v)
{
    fn(pp, 0, &v, 1, true);
}

TEST(reset_control_0x06_resets)
{
    struct platform_ports pp;
    struct probe p;
    ports_setup(&pp, &p);
    CHECK_EQ(port_in(reset_control_io, &pp), 0);
    port_out(reset_control_io, &pp, RESET_CONTROL_VALUE);
    CHECK_EQ(p.requests[MACHINE_RESET], 1);
    CHECK_EQ(p.nrequests, 1);
    CHECK_EQ(port_in(reset_control_io, &pp), 0x02);  /* RST_CPU self-clears, SYS_RST stays */
    port_out(reset_control_io, &pp, RESET_CONTROL_VALUE);
    CHECK_EQ(p.requests[MACHINE_RESET], 2);
}

TEST(reset_control_0x02_does_not_reset)
{
    struct platform_ports pp;
    struct probe p;
    ports_setup(&pp, &p);
    port_out(reset_control_io, &pp, 0x02);
    CHECK_EQ(p.nrequests, 0);
    CHECK_EQ(port_in(reset_control_io, &pp), 0x02);
    port_out(reset_control_io, &pp, 0x08);
    port_out(reset_control_io, &pp, 0xf1);           /* bits outside 1-3 are dropped */
    CHECK_EQ(p.nrequests, 0);
    CHECK_EQ(port_in(reset_control_io, &pp), 0x00);
    port_out(reset_control_io, &pp, 0x04);           /* RST_CPU alone resets too */
    CHECK_EQ(p.requests[MACHINE_RESET], 1);
}

TEST(reset_control_ignores_wide_accesses)
{
    struct platform_ports pp;
    struct probe p;
    ports_setup(&pp, &p);
    uint8_t d[4] = { 0x06, 0x06, 0x06, 0x06 };
    reset_control_io(&pp, 0, d, 2, true);
    reset_control_io(&pp, 0, d, 4, true);
    CHECK_EQ(p.nrequests, 0);
    memset(d, 0, sizeof(d));
    reset_control_io(&pp, 0, d, 2, false);
    CHECK_EQ(d[0], 0xff);
    CHECK_EQ(d[1], 0xff);
    CHECK_EQ(d[2], 0);
}

TEST(port_a_fast_reset_and_a20)
{
    struct platform_ports pp;
    struct probe p;
    ports_setup(&pp, &p);
    CHECK_EQ(port_in(port_a_io, &pp), 0x02);         /* A20 on */
    port_out(port_a_io, &pp, 0x02);
    CHECK_EQ(p.nrequests, 0);
    port_out(port_a_io, &pp, 0x00);
    CHECK_EQ(port_in(port_a_io, &pp), 0x00);
    CHECK_EQ(p.nrequests, 0);
    port_out(port_a_io, &pp, 0x03);                  /* bit 0: fast reset */
    CHECK_EQ(p.requests[MACHINE_RESET], 1);
    CHECK_EQ(p.nrequests, 1);
    CHECK_EQ(port_in(port_a_io, &pp), 0x02);         /* bit 0 does not stick */
    uint8_t d[2] = { 0xaa, 0xaa };
    port_a_io(&pp, 0, d, 2, false);
    CHECK_EQ(d[0], 0x02);
    CHECK_EQ(d[1], 0x00);
}

TEST(pvpanic_reports_panic)
{
    struct platform_ports pp;
    struct probe p;
    ports_setup(&pp, &p);
    CHECK_EQ(port_in(pvpanic_io, &pp), 3);           /* panicked and crash-loaded supported */
    port_out(pvpanic_io, &pp, 0x02);                 /* crash kernel loaded: not a panic */
    port_out(pvpanic_io, &pp, 0x00);
    CHECK_EQ(p.nrequests, 0);
    port_out(pvpanic_io, &pp, 0x01);
    CHECK_EQ(p.requests[MACHINE_PANIC], 1);
    CHECK_EQ(p.nrequests, 1);
}

TEST(post_port_accepts_and_reads_ones)
{
    struct platform_ports pp;
    struct probe p;
    ports_setup(&pp, &p);
    port_out(post_io, &pp, 0x55);
    CHECK_EQ(port_in(post_io, &pp), 0xff);
    CHECK_EQ(p.nrequests, 0);
}

TEST(ports_without_machine_callback)
{
    struct platform_ports pp;
    struct machine_ops none = { 0 };
    platform_ports_init(&pp, none);
    port_out(reset_control_io, &pp, 0x06);
    port_out(port_a_io, &pp, 0x01);
    port_out(pvpanic_io, &pp, 0x01);
    CHECK_EQ(port_in(pvpanic_io, &pp), 3);
}
