/* Guest runtime: a microsecond clock from the ACPI PM timer, or from the TSC when there is none. */
#include "rt.h"
#include "io.h"

#define PM_TIMER_HZ 3579545ull /* ACPI 6.4 §4.8.3.3 */

static uint64_t pm_ticks;     /* accumulated PM timer ticks */
static uint32_t pm_last;      /* last raw reading */
static bool pm_started;
static uint64_t tsc_per_us;

bool time_uses_pm_timer(void)
{
    return acpi.pm_tmr != 0;
}

static uint64_t pm_timer_us(void)
{
    uint32_t mask = acpi.pm_tmr_32bit ? 0xffffffffu : 0x00ffffffu;
    uint32_t now = inl(acpi.pm_tmr) & mask;
    if (pm_started)
        pm_ticks += (now - pm_last) & mask;
    pm_started = true;
    pm_last = now;
    return pm_ticks * 1000000ull / PM_TIMER_HZ;
}

/* CPUID 0x15 (crystal ratio) or 0x16 (base MHz); otherwise assume 1 GHz. */
static uint64_t tsc_rate_per_us(void)
{
    uint32_t max = cpuid(0, 0).eax;
    if (max >= 0x15) {
        struct cpuid_regs r = cpuid(0x15, 0);
        if (r.eax && r.ebx && r.ecx)
            return (uint64_t)r.ecx * r.ebx / r.eax / 1000000u ?: 1;
    }
    if (max >= 0x16) {
        struct cpuid_regs r = cpuid(0x16, 0);
        if (r.eax & 0xffff)
            return r.eax & 0xffff;
    }
    return 1000;
}

uint64_t time_us(void)
{
    if (acpi.pm_tmr)
        return pm_timer_us();
    if (!tsc_per_us)
        tsc_per_us = tsc_rate_per_us();
    return rdtsc() / tsc_per_us;
}

void udelay(uint64_t us)
{
    uint64_t start = time_us();
    while (time_us() - start < us)
        cpu_relax();
}
