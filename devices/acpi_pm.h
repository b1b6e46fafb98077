/* ACPI fixed hardware: PM1 event/control block, PM timer, power button, S5 poweroff (ACPI 6.4 §4.8). */
#ifndef DEVICES_ACPI_PM_H
#define DEVICES_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define ACPI_PM_BASE 0x600       /* PM1a_EVT at +0 (4 bytes), PM1a_CNT at +4 (2), PM_TMR at +8 (4) */
#define ACPI_PM_LEN 12
#define ACPI_PM1_EVT_PORT (ACPI_PM_BASE + 0)
#define ACPI_PM1_CNT_PORT (ACPI_PM_BASE + 4)
#define ACPI_PM_TMR_PORT (ACPI_PM_BASE + 8)
#define ACPI_SCI_IRQ 9
#define ACPI_S5_SLP_TYP 5
#define ACPI_PM_TIMER_HZ 3579545ULL

struct acpi_pm {
    pthread_mutex_t lock;
    struct irq_line sci;
    struct machine_ops machine;
    uint16_t sts, en, cnt;
    int sci_level;
};

void acpi_pm_init(struct acpi_pm *pm, struct irq_line sci, struct machine_ops machine);
void acpi_pm_destroy(struct acpi_pm *pm);
void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);
/* The fixed-feature power button (ACPI 6.4 §4.8.2.2.1.1): sets PWRBTN_STS, raises SCI if enabled. */
void acpi_pm_power_button(struct acpi_pm *pm);
/* 24.x MHz-free 32-bit PM timer value now (3.579545 MHz, ACPI 6.4 §4.8.2.1). */
uint32_t acpi_pm_timer_now(void);

#endif
