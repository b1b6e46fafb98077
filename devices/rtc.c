/* MC146818 real-time clock and CMOS RAM (ports 0x70/0x71), with the PC/SeaBIOS memory fields.
 * Register semantics follow the Motorola MC146818A datasheet ("Registers", "Update cycle",
 * "Interrupts"); the CMOS layout is the IBM PC/AT one SeaBIOS reads (src/hw/rtc.h, src/fw/paravirt.c). */
#include "devices/rtc.h"

#include <string.h>
#include <time.h>

#include "vmm/memory.h"

enum {
    REG_SECONDS = 0x00, REG_SECONDS_ALARM = 0x01, REG_MINUTES = 0x02, REG_MINUTES_ALARM = 0x03,
    REG_HOURS = 0x04, REG_HOURS_ALARM = 0x05, REG_WEEKDAY = 0x06, REG_DAY = 0x07,
    REG_MONTH = 0x08, REG_YEAR = 0x09, REG_A = 0x0a, REG_B = 0x0b, REG_C = 0x0c, REG_D = 0x0d,
};

#define A_UIP 0x80            /* update in progress (read-only) */
#define A_WRITABLE 0x7f       /* divider DV2-0 and rate RS3-0 */
#define A_DIVIDER_MASK 0x70
#define A_DIVIDER_32K 0x20    /* 32.768 kHz time base, clock running */
#define A_RATE_MASK 0x0f
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define D_VRT 0x80            /* valid RAM and time */
#define HOUR_PM 0x80          /* 12-hour mode: bit 7 of the hours byte */
#define ALARM_DONT_CARE 0xc0  /* an alarm byte of 11xxxxxx matches any value */

#define NS_PER_SEC 1000000000LL
#define UIP_WINDOW_NS 244000LL  /* UIP rises 244 us before the update (datasheet, "UIP bit") */

/* IBM PC/AT CMOS memory fields (SeaBIOS CMOS_MEM_*). */
#define CMOS_EQUIPMENT 0x14
#define CMOS_BASE_MEM_LO 0x15
#define CMOS_BASE_MEM_HI 0x16
#define CMOS_EXT_MEM_LO 0x17
#define CMOS_EXT_MEM_HI 0x18
#define CMOS_EXT_MEM_ALT_LO 0x30
#define CMOS_EXT_MEM_ALT_HI 0x31
#define CMOS_MEM_ABOVE_16M_LO 0x34
#define CMOS_MEM_ABOVE_16M_HI 0x35
#define CMOS_MEM_ABOVE_4G 0x5b   /* three bytes, 64 KiB units */
#define CMOS_CPU_COUNT 0x5f      /* CPUs - 1 */
#define EQUIPMENT_FPU 0x02
#define EQUIPMENT_PS2_MOUSE 0x04

#define KIB 1024ULL
#define MIB (1024 * KIB)
#define UNIT_64K (64 * KIB)

static int64_t realtime_ns(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t host_now(const struct rtc *r)
{
    return r->clock(r->clock_ctx);
}

static int64_t guest_seconds(const struct rtc *r, int64_t now_ns)
{
    return floor_div(now_ns, NS_PER_SEC) + r->offset_sec;
}

/* Data mode (status B bit 2): BCD unless DM says binary. */
static uint8_t to_reg(const struct rtc *r, unsigned v)
{
    if (r->cmos[REG_B] & B_DM_BINARY)
        return (uint8_t)v;
    return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static unsigned from_reg(const struct rtc *r, uint8_t v)
{
    if (r->cmos[REG_B] & B_DM_BINARY)
        return v;
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t encode_hours(const struct rtc *r, unsigned hour)
{
    if (r->cmos[REG_B] & B_24H)
        return to_reg(r, hour);
    unsigned h12 = hour % 12 ? hour % 12 : 12;
    return to_reg(r, h12) | (hour >= 12 ? HOUR_PM : 0);
}

static unsigned decode_hours(const struct rtc *r, uint8_t v)
{
    if (r->cmos[REG_B] & B_24H)
        return from_reg(r, v);
    unsigned hour = from_reg(r, v & ~HOUR_PM) % 12;
    return (v & HOUR_PM) ? hour + 12 : hour;
}

/* Copy the running guest time into the time and date registers (and the century byte). */
static void snapshot_time(struct rtc *r, int64_t now_ns)
{
    time_t t = (time_t)guest_seconds(r, now_ns);
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        memset(&tm, 0, sizeof(tm));
    long year = (long)tm.tm_year + 1900;
    if (year < 0) year = 0;
    if (year > 9999) year = 9999;
    r->cmos[REG_SECONDS] = to_reg(r, (unsigned)tm.tm_sec);
    r->cmos[REG_MINUTES] = to_reg(r, (unsigned)tm.tm_min);
    r->cmos[REG_HOURS] = encode_hours(r, (unsigned)tm.tm_hour);
    r->cmos[REG_WEEKDAY] = to_reg(r, (unsigned)tm.tm_wday + 1);
    r->cmos[REG_DAY] = to_reg(r, (unsigned)tm.tm_mday);
    r->cmos[REG_MONTH] = to_reg(r, (unsigned)tm.tm_mon + 1);
    r->cmos[REG_YEAR] = to_reg(r, (unsigned)(year % 100));
    r->cmos[CMOS_CENTURY] = to_reg(r, (unsigned)(year / 100));
}

/* The guest wrote the time registers: the clock continues from what they say. Out-of-range
 * fields are normalised by timegm(); the weekday byte is derived, never read back. */
static void commit_time(struct rtc *r, int64_t now_ns)
{
    struct tm tm = {
        .tm_sec = (int)from_reg(r, r->cmos[REG_SECONDS]),
        .tm_min = (int)from_reg(r, r->cmos[REG_MINUTES]),
        .tm_hour = (int)decode_hours(r, r->cmos[REG_HOURS]),
        .tm_mday = (int)from_reg(r, r->cmos[REG_DAY]),
        .tm_mon = (int)from_reg(r, r->cmos[REG_MONTH]) - 1,
        .tm_year = (int)(from_reg(r, r->cmos[CMOS_CENTURY]) * 100 +
                         from_reg(r, r->cmos[REG_YEAR])) - 1900,
    };
    time_t t = timegm(&tm);
    r->offset_sec = (int64_t)t - floor_div(now_ns, NS_PER_SEC);
}

static bool clock_running(const struct rtc *r)
{
    return !(r->cmos[REG_B] & B_SET) && (r->cmos[REG_A] & A_DIVIDER_MASK) == A_DIVIDER_32K;
}

static bool update_in_progress(const struct rtc *r, int64_t now_ns)
{
    int64_t frac = now_ns - floor_div(now_ns, NS_PER_SEC) * NS_PER_SEC;
    return clock_running(r) && frac >= NS_PER_SEC - UIP_WINDOW_NS;
}

/* Periodic interrupt period for rate RS3-0 with the 32.768 kHz base (datasheet table 3);
 * rates 1 and 2 repeat rates 8 and 9. 0 = periodic interrupt off. */
static int64_t periodic_ns(const struct rtc *r)
{
    unsigned rate = r->cmos[REG_A] & A_RATE_MASK;
    if (!rate)
        return 0;
    if (rate <= 2)
        rate += 7;
    return (int64_t)((NS_PER_SEC << (rate - 1)) / 32768);
}

static bool alarm_byte_matches(uint8_t alarm, uint8_t now)
{
    return (alarm & ALARM_DONT_CARE) == ALARM_DONT_CARE || alarm == now;
}

static bool alarm_matches(const struct rtc *r)
{
    return alarm_byte_matches(r->cmos[REG_SECONDS_ALARM], r->cmos[REG_SECONDS]) &&
           alarm_byte_matches(r->cmos[REG_MINUTES_ALARM], r->cmos[REG_MINUTES]) &&
           alarm_byte_matches(r->cmos[REG_HOURS_ALARM], r->cmos[REG_HOURS]);
}

/* Status C gathers the flags of events between last_event_ns and now. The alarm is compared with
 * the current second only, so an alarm second skipped between two looks is missed. */
static void collect_flags(struct rtc *r, int64_t now_ns)
{
    uint8_t flags = 0;
    int64_t period = periodic_ns(r);
    if (period && floor_div(now_ns, period) != floor_div(r->last_event_ns, period))
        flags |= C_PF;
    if (clock_running(r) &&
        floor_div(now_ns, NS_PER_SEC) != floor_div(r->last_event_ns, NS_PER_SEC)) {
        flags |= C_UF;
        snapshot_time(r, now_ns);
        if (alarm_matches(r))
            flags |= C_AF;
    }
    r->last_event_ns = now_ns;
    uint8_t enabled = r->cmos[REG_B] & (B_PIE | B_AIE | B_UIE); /* same bit positions as C */
    r->cmos[REG_C] |= flags;
    if (r->cmos[REG_C] & enabled)
        r->cmos[REG_C] |= C_IRQF;
}

static void update_irq(struct rtc *r)
{
    bool level = (r->cmos[REG_C] & C_IRQF) != 0;
    if (level != r->irq_level) {
        r->irq_level = level;
        irq_line_set(&r->irq, level);
    }
}

/* Ask for a wake-up at the next event that can raise IRQ 8, while none is pending. */
static void rearm_timer(struct rtc *r, int64_t now_ns)
{
    if (!r->timer.arm)
        return;
    uint8_t b = r->cmos[REG_B];
    int64_t delay = 0;
    int64_t period = periodic_ns(r);
    if ((b & B_PIE) && period)
        delay = period - (now_ns - floor_div(now_ns, period) * period);
    if ((b & (B_AIE | B_UIE)) && clock_running(r)) {
        int64_t to_second = NS_PER_SEC - (now_ns - floor_div(now_ns, NS_PER_SEC) * NS_PER_SEC);
        if (!delay || to_second < delay)
            delay = to_second;
    }
    if (delay && !(r->cmos[REG_C] & C_IRQF))
        r->timer.arm(r->timer.ctx, (uint64_t)delay);
    else if (r->timer.cancel)
        r->timer.cancel(r->timer.ctx);
}

static bool is_clock_register(unsigned index)
{
    switch (index) {
    case REG_SECONDS: case REG_MINUTES: case REG_HOURS: case REG_WEEKDAY:
    case REG_DAY: case REG_MONTH: case REG_YEAR: case CMOS_CENTURY:
        return true;
    default:
        return false;
    }
}

static uint8_t read_register(struct rtc *r, unsigned index)
{
    int64_t now = host_now(r);
    switch (index) {
    case REG_A:
        return (r->cmos[REG_A] & A_WRITABLE) | (update_in_progress(r, now) ? A_UIP : 0);
    case REG_C: {
        collect_flags(r, now);
        uint8_t c = r->cmos[REG_C];
        r->cmos[REG_C] = 0;          /* reading C clears every flag (datasheet, "Register C") */
        update_irq(r);
        rearm_timer(r, now);
        return c;
    }
    case REG_D:
        return D_VRT;
    default:
        if (is_clock_register(index) && clock_running(r))
            snapshot_time(r, now);
        return r->cmos[index];
    }
}

static void write_status_b(struct rtc *r, uint8_t v, int64_t now)
{
    uint8_t old = r->cmos[REG_B];
    if ((v & B_SET) && !(old & B_SET)) {
        snapshot_time(r, now);       /* freeze: the guest edits a consistent copy */
        v &= ~B_UIE;                 /* SET clears UIE (datasheet, "Register B") */
    }
    r->cmos[REG_B] = v;
    if (!(v & B_SET) && (old & B_SET))
        commit_time(r, now);
    collect_flags(r, now);
    update_irq(r);
    rearm_timer(r, now);
}

static void write_register(struct rtc *r, unsigned index, uint8_t v)
{
    int64_t now = host_now(r);
    switch (index) {
    case REG_A:
        collect_flags(r, now);
        r->cmos[REG_A] = v & A_WRITABLE;
        rearm_timer(r, now);
        break;
    case REG_B:
        write_status_b(r, v, now);
        break;
    case REG_C:
    case REG_D:
        break;                       /* read-only */
    default:
        if (is_clock_register(index) && !(r->cmos[REG_B] & B_SET)) {
            /* A write while the clock runs takes effect at once. */
            snapshot_time(r, now);
            r->cmos[index] = v;
            commit_time(r, now);
        } else {
            r->cmos[index] = v;
        }
        break;
    }
}

void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct rtc *r = opaque;
    pthread_mutex_lock(&r->lock);
    for (uint32_t i = 0; i < len; i++) {
        uint64_t port = offset + i;
        if (port == 0 && is_write) {
            r->index = data[i] & 0x7f;
            r->nmi_disabled = (data[i] & 0x80) != 0;
        } else if (port == 1 && is_write) {
            write_register(r, r->index, data[i]);
        } else if (port == 1) {
            data[i] = read_register(r, r->index);
        } else if (!is_write) {
            data[i] = 0xff;          /* the index port is write-only */
        }
    }
    pthread_mutex_unlock(&r->lock);
}

void rtc_timer_expired(struct rtc *r)
{
    pthread_mutex_lock(&r->lock);
    int64_t now = host_now(r);
    collect_flags(r, now);
    update_irq(r);
    rearm_timer(r, now);
    pthread_mutex_unlock(&r->lock);
}

static void update_checksum(struct rtc *r)
{
    unsigned sum = 0;
    for (unsigned i = CMOS_CHECKSUM_FIRST; i <= CMOS_CHECKSUM_LAST; i++)
        sum += r->cmos[i];
    r->cmos[CMOS_CHECKSUM_HI] = (uint8_t)(sum >> 8);
    r->cmos[CMOS_CHECKSUM_LO] = (uint8_t)sum;
}

static void put_byte(struct rtc *r, unsigned index, uint8_t value)
{
    r->cmos[index & 0x7f] = value;
}

void rtc_set_byte(struct rtc *r, uint8_t index, uint8_t value)
{
    pthread_mutex_lock(&r->lock);
    put_byte(r, index, value);
    update_checksum(r);
    pthread_mutex_unlock(&r->lock);
}

uint8_t rtc_get_byte(struct rtc *r, uint8_t index)
{
    pthread_mutex_lock(&r->lock);
    uint8_t v = r->cmos[index & 0x7f];
    pthread_mutex_unlock(&r->lock);
    return v;
}

static void put_word(struct rtc *r, unsigned lo_index, uint64_t value)
{
    uint64_t capped = value > 0xffff ? 0xffff : value;
    put_byte(r, lo_index, (uint8_t)capped);
    put_byte(r, lo_index + 1, (uint8_t)(capped >> 8));
}

/* RAM below the PCI hole is reported in three PC/AT fields; RAM above 4 GiB in SeaBIOS's 0x5b-0x5d. */
void rtc_set_memory(struct rtc *r, uint64_t ram_size)
{
    uint64_t low = ram_size < MEM_PCI_HOLE_START ? ram_size : MEM_PCI_HOLE_START;
    uint64_t high = ram_size - low;
    uint64_t ext_kib = low > MIB ? (low - MIB) / KIB : 0;
    uint64_t above_16m = low > 16 * MIB ? (low - 16 * MIB) / UNIT_64K : 0;
    uint64_t above_4g = high / UNIT_64K;
    if (above_4g > 0xffffff)
        above_4g = 0xffffff;
    pthread_mutex_lock(&r->lock);
    put_word(r, CMOS_BASE_MEM_LO, MEM_LOW_RAM_END / KIB);
    put_word(r, CMOS_EXT_MEM_LO, ext_kib);
    put_word(r, CMOS_EXT_MEM_ALT_LO, ext_kib);
    put_word(r, CMOS_MEM_ABOVE_16M_LO, above_16m);
    put_byte(r, CMOS_MEM_ABOVE_4G, (uint8_t)above_4g);
    put_byte(r, CMOS_MEM_ABOVE_4G + 1, (uint8_t)(above_4g >> 8));
    put_byte(r, CMOS_MEM_ABOVE_4G + 2, (uint8_t)(above_4g >> 16));
    update_checksum(r);
    pthread_mutex_unlock(&r->lock);
}

void rtc_set_cpus(struct rtc *r, unsigned cpus)
{
    unsigned field = cpus ? cpus - 1 : 0;
    rtc_set_byte(r, CMOS_CPU_COUNT, (uint8_t)(field > 0xff ? 0xff : field));
}

void rtc_set_clock(struct rtc *r, rtc_clock_fn clock, void *ctx)
{
    pthread_mutex_lock(&r->lock);
    r->clock = clock ? clock : realtime_ns;
    r->clock_ctx = clock ? ctx : NULL;
    r->last_event_ns = host_now(r);
    pthread_mutex_unlock(&r->lock);
}

void rtc_set_timer(struct rtc *r, struct rtc_timer timer)
{
    pthread_mutex_lock(&r->lock);
    r->timer = timer;
    rearm_timer(r, host_now(r));
    pthread_mutex_unlock(&r->lock);
}

void rtc_reset(struct rtc *r)
{
    pthread_mutex_lock(&r->lock);
    r->cmos[REG_A] = A_DIVIDER_32K | 0x06;   /* 32.768 kHz, 1024 Hz rate: what a PC BIOS programs */
    r->cmos[REG_B] = B_24H;                   /* 24-hour BCD, no interrupts */
    r->cmos[REG_C] = 0;
    r->cmos[REG_D] = D_VRT;
    r->index = 0;
    r->nmi_disabled = false;
    r->last_event_ns = host_now(r);
    update_irq(r);
    if (r->timer.cancel)
        r->timer.cancel(r->timer.ctx);
    pthread_mutex_unlock(&r->lock);
}

void rtc_init(struct rtc *r, struct irq_line irq)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    r->irq = irq;
    r->clock = realtime_ns;
    rtc_reset(r);
    snapshot_time(r, host_now(r));
    rtc_set_byte(r, CMOS_EQUIPMENT, EQUIPMENT_FPU | EQUIPMENT_PS2_MOUSE);
}

void rtc_destroy(struct rtc *r)
{
    pthread_mutex_destroy(&r->lock);
}
