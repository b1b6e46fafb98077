/* GSI routing for the in-kernel PIC + IOAPIC (and, later, MSI routes): one table, committed to KVM. */
#ifndef ARCH_X86_IRQ_ROUTING_H
#define ARCH_X86_IRQ_ROUTING_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>

#define IRQ_ROUTES_MAX 1024
#define IOAPIC_PINS 24

#define IRQ_MSI_GSI_BASE 24          /* GSIs from here on are MSI routes */

struct irq_routing {
    pthread_mutex_t lock;            /* MSI-X table writes come from several vCPU threads */
    struct kvm_irq_routing *table;   /* header + IRQ_ROUTES_MAX entries */
    uint32_t next_msi_gsi;
};

int irq_routing_init(struct irq_routing *r);
void irq_routing_free(struct irq_routing *r);
/* The PC routing: ISA IRQ n on PIC pin n; IOAPIC pin n for GSI n, except the PIT's GSI 0 on pin 2
 * (matching the MADT interrupt source override IRQ0 -> GSI 2). */
int irq_routing_pc_defaults(struct irq_routing *r);
int irq_routing_commit(struct irq_routing *r, int vm_fd);
/* Routes `gsi` (or a newly allocated MSI GSI when gsi < 0) to the MSI message and commits the
 * table to KVM; returns the GSI or -errno. */
int irq_routing_set_msi(struct irq_routing *r, int vm_fd, int gsi, uint64_t addr, uint32_t data);

#endif
