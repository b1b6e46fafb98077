/* Test guest "smp": starts every MADT processor with INIT-SIPI-SIPI and counts who reaches long mode. */
#include "rt.h"
#include "io.h"
#include "layout.h"

#define MAX_CPUS (SMP_MAX_APS + 1)
#define AP_WAIT_US 10000000ull   /* all APs must be up within 10 s */

extern const char ap_tramp_start[], ap_tramp_end[];

/* Used by smp_tramp.S. */
uint8_t ap_stacks[SMP_MAX_APS][AP_STACK_SIZE] __attribute__((section(".noinit.ap_stacks"), aligned(16)));
volatile uint32_t ap_next_slot;
void ap_main(uint32_t slot);

static volatile uint32_t ap_count;
static volatile uint32_t ap_ids[SMP_MAX_APS];
static volatile uint8_t ap_arrived[SMP_MAX_APS];

/* Runs on each AP in long mode with its own stack; records its APIC ID, then halts. */
void ap_main(uint32_t slot)
{
    if (slot < SMP_MAX_APS) {
        ap_ids[slot] = lapic_id();
        ap_arrived[slot] = 1;
        __atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
    }
    halt_forever();
}

/* SDM vol 3 §9.4.4.1: INIT, 10 ms, STARTUP, 200 us, STARTUP. */
static void start_ap(uint32_t apic_id)
{
    uint32_t vector = AP_TRAMPOLINE_ADDR >> 12;
    if (!lapic_send_ipi(apic_id, ICR_INIT | ICR_LEVEL_ASSERT))
        printf("smp: INIT to apic %u not delivered\n", apic_id);
    udelay(10000);
    for (int i = 0; i < 2; i++) {
        if (!lapic_send_ipi(apic_id, ICR_STARTUP | vector))
            printf("smp: SIPI to apic %u not delivered\n", apic_id);
        udelay(200);
    }
}

static uint32_t wait_for_aps(uint32_t expected)
{
    uint64_t start = time_us();
    while (ap_count < expected && time_us() - start < AP_WAIT_US)
        cpu_relax();
    return ap_count;
}

int main(void)
{
    static uint32_t ids[MAX_CPUS];
    uint32_t bsp = lapic_id();
    int n = acpi_madt_cpus(ids, MAX_CPUS);
    if (n == 0) {
        printf("smp: no MADT, assuming 1 cpu\n");
        ids[n++] = bsp;
    }
    size_t tramp_len = (size_t)(ap_tramp_end - ap_tramp_start);
    memcpy((void *)AP_TRAMPOLINE_ADDR, ap_tramp_start, tramp_len);
    lapic_enable();

    uint32_t total = 1, aps = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] != bsp) {
            total++;
            aps++;
        }
    }
    printf("smp: cpu %u up\n", bsp);
    for (int i = 0; i < n; i++) {
        if (ids[i] != bsp)
            start_ap(ids[i]);
    }
    uint32_t up = wait_for_aps(aps);
    for (uint32_t s = 0; s < SMP_MAX_APS; s++) {
        if (ap_arrived[s])
            printf("smp: cpu %u up\n", ap_ids[s]);
    }
    if (up == aps)
        printf("smp: %u of %u cpus up\n", total, total);
    else
        printf("smp: FAIL only %u of %u cpus up\n", up + 1, total);
    return 0;
}
