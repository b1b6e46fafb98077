/* Guest runtime: external interrupts through the local APIC (8259 PICs masked), counted per vector. */
#include "rt.h"
#include "io.h"

#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1
#define LAPIC_SPURIOUS_VECTOR 0xff

static volatile uint32_t irq_counts[256];

/* Counts the interrupt and signals end of interrupt to the local APIC (SDM vol 3 §11.8.5). */
static void irq_counting_handler(struct trap_frame *frame)
{
    irq_counts[frame->vector & 0xff]++;
    lapic_eoi();
}

/* A spurious interrupt needs no EOI (SDM vol 3 §11.9). */
static void irq_spurious_handler(struct trap_frame *frame)
{
    (void)frame;
}

void irq_init(void)
{
    /* Firmware (SeaBIOS on QEMU's PVH path) may leave the PIT unmasked at the 8259: mask both. */
    outb(PIC1_DATA, 0xff);
    outb(PIC2_DATA, 0xff);
    idt_set_handler(LAPIC_SPURIOUS_VECTOR, irq_spurious_handler);
    lapic_enable();
    irq_on();
}

void irq_count_vector(uint8_t vector)
{
    irq_counts[vector] = 0;
    idt_set_handler(vector, irq_counting_handler);
}

uint32_t irq_count(uint8_t vector)
{
    return irq_counts[vector];
}
