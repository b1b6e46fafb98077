/* GSI routing for the in-kernel PIC + IOAPIC (and, later, MSI routes): one table, committed to KVM. */
#ifndef ARCH_X86_IRQ_ROUTING_H
#define ARCH_X86_IRQ_ROUTING_H

#include <linux/kvm.h>
#include <stdint.h>

#define IRQ_ROUTES_MAX 1024
#define IOAPIC_PINS 24

struct irq_routing {
    struct kvm_irq_routing *table;   /* header + IRQ_ROUTES_MAX entries */
};

int irq_routing_init(struct irq_routing *r);
void irq_routing_free(struct irq_routing *r);
/* The PC routing: ISA IRQ n on PIC pin n; IOAPIC pin n for GSI n, except the PIT's GSI 0 on pin 2
 * (matching the MADT interrupt source override IRQ0 -> GSI 2). */
int irq_routing_pc_defaults(struct irq_routing *r);
int irq_routing_commit(const struct irq_routing *r, int vm_fd);

#endif
