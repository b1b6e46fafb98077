/* MC146818 real-time clock and CMOS RAM (ports 0x70 index, 0x71 data), with the PC/SeaBIOS memory fields. */
#ifndef DEVICES_RTC_H
#define DEVICES_RTC_H

#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>

#include "devices/device.h"

#define RTC_INDEX_PORT 0x70    /* register the bus range [0x70, 0x72) with rtc_io */
#define RTC_PORT_COUNT 2
#define RTC_IRQ 8
#define RTC_CMOS_SIZE 128

/* CMOS bytes a PC BIOS reads (SeaBIOS src/hw/rtc.h names). */
#define CMOS_CENTURY 0x32
#define CMOS_CHECKSUM_HI 0x2e
#define CMOS_CHECKSUM_LO 0x2f
#define CMOS_CHECKSUM_FIRST 0x10
#define CMOS_CHECKSUM_LAST 0x2d

/* Where the host time comes from: nanoseconds since the Unix epoch (CLOCK_REALTIME by default). */
typedef int64_t (*rtc_clock_fn)(void *ctx);

/* Optional wake-up for IRQ 8 (periodic, alarm and update-ended interrupts). `arm` asks for one call
 * of rtc_timer_expired() after `delay_ns` (replacing any earlier request); `cancel` drops it. Both
 * are called with the RTC lock held and must not call back into the RTC. */
struct rtc_timer {
    void (*arm)(void *ctx, uint64_t delay_ns);
    void (*cancel)(void *ctx);
    void *ctx;
};

struct rtc {
    pthread_mutex_t lock;
    struct irq_line irq;
    struct rtc_timer timer;
    rtc_clock_fn clock;
    void *clock_ctx;
    uint8_t cmos[RTC_CMOS_SIZE];   /* 0x00-0x09 hold the last time snapshot (or what the guest wrote) */
    uint8_t index;                 /* selected register, 0-0x7f */
    bool nmi_disabled;             /* bit 7 of the last index write (no effect on this machine) */
    int64_t offset_sec;            /* guest time = host time + offset_sec */
    int64_t last_event_ns;         /* host time up to which interrupt flags have been collected */
    bool irq_level;
};

void rtc_init(struct rtc *r, struct irq_line irq);
void rtc_destroy(struct rtc *r);
/* Status registers to their reset values; CMOS contents and the guest's clock offset are kept. */
void rtc_reset(struct rtc *r);
void rtc_set_clock(struct rtc *r, rtc_clock_fn clock, void *ctx);
void rtc_set_timer(struct rtc *r, struct rtc_timer timer);
void rtc_timer_expired(struct rtc *r);
/* Bus callback: offset 0 = index port 0x70, offset 1 = data port 0x71. */
void rtc_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

/* Firmware-visible fields; each keeps the 0x10-0x2d checksum up to date. */
void rtc_set_memory(struct rtc *r, uint64_t ram_size);
void rtc_set_cpus(struct rtc *r, unsigned cpus);
void rtc_set_byte(struct rtc *r, uint8_t index, uint8_t value);
uint8_t rtc_get_byte(struct rtc *r, uint8_t index);

#endif
