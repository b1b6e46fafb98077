/* Guest runtime: xAPIC (MMIO at 0xfee00000) and IOAPIC (0xfec00000) register helpers. */
#include "rt.h"
#include "io.h"

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN 0x10
#define IOAPIC_REDTBL 0x10

uint32_t lapic_read(uint32_t reg)
{
    return mmio_read32(LAPIC_BASE + reg);
}

void lapic_write(uint32_t reg, uint32_t val)
{
    mmio_write32(LAPIC_BASE + reg, val);
}

uint32_t lapic_id(void)
{
    return lapic_read(LAPIC_ID) >> 24;
}

/* SDM vol 3 §11.9: SVR bit 8 software-enables the local APIC. */
void lapic_enable(void)
{
    lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x100 | 0xff);
}

void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

/* SDM vol 3 §11.6.1: destination in ICR high bits 31-24, then the low word sends. */
bool lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr_low);
    for (int i = 0; i < 100000; i++) {
        if (!(lapic_read(LAPIC_ICR_LO) & ICR_DELIVERY_PENDING))
            return true;
        cpu_relax();
    }
    return false;
}

/* 82093AA datasheet §3.0: registers through the select/window pair. */
uint32_t ioapic_read(uint32_t reg)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
    return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

void ioapic_write(uint32_t reg, uint32_t val)
{
    mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
    mmio_write32(IOAPIC_BASE + IOAPIC_WIN, val);
}

void ioapic_route(unsigned pin, uint8_t vector, uint8_t dest_apic_id, bool masked)
{
    uint32_t lo = vector | (masked ? 1u << 16 : 0);
    ioapic_write(IOAPIC_REDTBL + 2 * pin + 1, (uint32_t)dest_apic_id << 24);
    ioapic_write(IOAPIC_REDTBL + 2 * pin, lo);
}
