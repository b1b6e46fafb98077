/* Guest runtime: power off (ACPI S5), reset (FADT RESET_REG) and a deliberate triple fault. */
#include "rt.h"
#include "io.h"

#define PM1_SLP_TYP_SHIFT 10        /* ACPI 6.4 §4.8.3.2.1, PM1 control register */
#define PM1_SLP_TYP_MASK (7u << 10)
#define PM1_SLP_EN (1u << 13)
#define ISA_DEBUG_EXIT_PORT 0xf4

static void pm1_sleep(uint16_t port, uint8_t slp_typ)
{
    uint16_t v = inw(port);
    v = (uint16_t)((v & ~(PM1_SLP_TYP_MASK | PM1_SLP_EN)) | ((unsigned)(slp_typ & 7) << PM1_SLP_TYP_SHIFT));
    outw(port, (uint16_t)(v | PM1_SLP_EN));
}

void poweroff(void)
{
    if (acpi.pm1a_cnt && acpi.have_s5) {
        pm1_sleep(acpi.pm1a_cnt, acpi.slp_typ_a);
        if (acpi.pm1b_cnt)
            pm1_sleep(acpi.pm1b_cnt, acpi.slp_typ_b);
        udelay(100000); /* the VMM may stop us a little after the write */
    }
    outb(ISA_DEBUG_EXIT_PORT, 0); /* QEMU isa-debug-exit, when present */
    halt_forever();
}

void system_reset(void)
{
    if (acpi.have_reset) { /* ACPI 6.4 §4.8.3.6 */
        if (acpi.reset_space == 1 && acpi.reset_addr <= 0xffff)
            outb((uint16_t)acpi.reset_addr, acpi.reset_value);
        else if (acpi.reset_space == 0 && acpi_addr_ok(acpi.reset_addr, 1))
            *(volatile uint8_t *)(uintptr_t)acpi.reset_addr = acpi.reset_value;
    }
    outb(0xcf9, 0x06); /* PCI reset control register: hard reset */
    outb(0x64, 0xfe);  /* i8042: pulse the reset line */
    triple_fault();
}

void triple_fault(void)
{
    static const struct PACKED {
        uint16_t limit;
        uint64_t base;
    } empty_idt = { 0, 0 };
    __asm__ volatile("lidt %0" : : "m"(empty_idt));
    /* #UD with no usable IDT: #GP, then #DF, then shutdown (SDM vol 3 §6.15, interrupt 8). */
    __asm__ volatile("ud2");
    __asm__ volatile("int3");
    halt_forever();
}
