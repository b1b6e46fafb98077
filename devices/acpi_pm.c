/* ACPI fixed hardware: PM1 event/control block, PM timer, power button, S5 poweroff (ACPI 6.4 §4.8). */
#include "acpi_pm.h"

#include <string.h>
#include <time.h>

#define PM1_PWRBTN 0x0100        /* PM1_STS.PWRBTN_STS / PM1_EN.PWRBTN_EN (ACPI 6.4 §4.8.3.1) */
#define PM1_STS_WAK 0x8000
#define PM1_STS_MASK 0x8731      /* TMR, BM, GBL, PWRBTN, SLPBTN, RTC, WAK */
#define PM1_EN_MASK 0x0721
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_EN 0x2000
#define PM1_CNT_SLP_TYP(v) (((v) >> 10) & 7)

void acpi_pm_init(struct acpi_pm *pm, struct irq_line sci, struct machine_ops machine)
{
    memset(pm, 0, sizeof(*pm));
    pthread_mutex_init(&pm->lock, NULL);
    pm->sci = sci;
    pm->machine = machine;
    /* No SMI_CMD in the FADT: the platform is always in ACPI mode, so SCI_EN reads 1. */
    pm->cnt = PM1_CNT_SCI_EN;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
    pthread_mutex_destroy(&pm->lock);
}

uint32_t acpi_pm_timer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned __int128 ns = (unsigned __int128)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    return (uint32_t)(ns * ACPI_PM_TIMER_HZ / 1000000000ULL);
}

static void update_sci(struct acpi_pm *pm)
{
    int level = (pm->sts & pm->en & PM1_EN_MASK) != 0;
    if (level != pm->sci_level) {
        pm->sci_level = level;
        irq_line_set(&pm->sci, level);
    }
}

static uint8_t read_byte(struct acpi_pm *pm, unsigned off, uint32_t timer)
{
    switch (off) {
    case 0: return pm->sts & 0xff;
    case 1: return pm->sts >> 8;
    case 2: return pm->en & 0xff;
    case 3: return pm->en >> 8;
    case 4: return pm->cnt & 0xff;
    case 5: return (pm->cnt >> 8) & ~(PM1_CNT_SLP_EN >> 8); /* SLP_EN is write-only */
    case 8: case 9: case 10: case 11:
        return (timer >> ((off - 8) * 8)) & 0xff;
    default: return 0xff;
    }
}

/* Returns the sleep type requested when SLP_EN is written, else -1. */
static int write_byte(struct acpi_pm *pm, unsigned off, uint8_t v)
{
    switch (off) {
    case 0: pm->sts &= ~(v & PM1_STS_MASK & 0xff); break;          /* write 1 to clear */
    case 1: pm->sts &= ~(((uint16_t)v << 8) & PM1_STS_MASK); break;
    case 2: pm->en = (pm->en & 0xff00) | (v & PM1_EN_MASK & 0xff); break;
    case 3: pm->en = (pm->en & 0x00ff) | (((uint16_t)v << 8) & PM1_EN_MASK); break;
    case 4: pm->cnt = (pm->cnt & 0xff00) | v | PM1_CNT_SCI_EN; break;
    case 5: {
        uint16_t cnt = (pm->cnt & 0x00ff) | ((uint16_t)v << 8);
        pm->cnt = cnt & ~PM1_CNT_SLP_EN;
        if (cnt & PM1_CNT_SLP_EN)
            return PM1_CNT_SLP_TYP(cnt);
        break;
    }
    default: break; /* PM timer is read-only */
    }
    return -1;
}

void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
    struct acpi_pm *pm = opaque;
    int sleep_type = -1;
    uint32_t timer = is_write ? 0 : acpi_pm_timer_now();
    pthread_mutex_lock(&pm->lock);
    for (uint32_t i = 0; i < len && offset + i < ACPI_PM_LEN; i++) {
        unsigned off = (unsigned)(offset + i);
        if (is_write) {
            int t = write_byte(pm, off, data[i]);
            if (t >= 0)
                sleep_type = t;
        } else {
            data[i] = read_byte(pm, off, timer);
        }
    }
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
    /* Only S5 is offered in the DSDT; other sleep states are ignored (the guest stays awake). */
    if (sleep_type == ACPI_S5_SLP_TYP)
        machine_request(&pm->machine, MACHINE_POWEROFF);
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
    pthread_mutex_lock(&pm->lock);
    pm->sts |= PM1_PWRBTN;
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
}
