/* GSI routing for the in-kernel PIC + IOAPIC (and, later, MSI routes): one table, committed to KVM.
 * api.rst §4.52 KVM_SET_GSI_ROUTING. */
#include "irq_routing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/kvm.h"

int irq_routing_init(struct irq_routing *r)
{
    r->table = calloc(1, sizeof(*r->table) + IRQ_ROUTES_MAX * sizeof(r->table->entries[0]));
    pthread_mutex_init(&r->lock, NULL);
    r->next_msi_gsi = IRQ_MSI_GSI_BASE;
    return r->table ? 0 : -ENOMEM;
}

void irq_routing_free(struct irq_routing *r)
{
    free(r->table);
    r->table = NULL;
    pthread_mutex_destroy(&r->lock);
}

static int add_irqchip(struct irq_routing *r, uint32_t gsi, uint32_t chip, uint32_t pin)
{
    if (r->table->nr >= IRQ_ROUTES_MAX)
        return -ENOSPC;
    struct kvm_irq_routing_entry *e = &r->table->entries[r->table->nr++];
    e->gsi = gsi;
    e->type = KVM_IRQ_ROUTING_IRQCHIP;
    e->u.irqchip.irqchip = chip;
    e->u.irqchip.pin = pin;
    return 0;
}

int irq_routing_pc_defaults(struct irq_routing *r)
{
    int rc = 0;
    r->table->nr = 0;
    r->next_msi_gsi = IRQ_MSI_GSI_BASE;
    for (uint32_t gsi = 0; gsi < 16 && rc == 0; gsi++) {
        if (gsi == 2)
            continue; /* the cascade */
        rc = add_irqchip(r, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8);
    }
    for (uint32_t gsi = 0; gsi < IOAPIC_PINS && rc == 0; gsi++) {
        if (gsi == 2)
            continue;
        rc = add_irqchip(r, gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
    }
    return rc;
}

int irq_routing_commit(struct irq_routing *r, int vm_fd)
{
    pthread_mutex_lock(&r->lock);
    int rc = kvm_set_gsi_routing(vm_fd, r->table);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int irq_routing_set_msi(struct irq_routing *r, int vm_fd, int gsi, uint64_t addr, uint32_t data)
{
    pthread_mutex_lock(&r->lock);
    struct kvm_irq_routing_entry *e = NULL;
    if (gsi >= 0) {
        for (uint32_t i = 0; i < r->table->nr; i++)
            if (r->table->entries[i].gsi == (uint32_t)gsi && r->table->entries[i].type == KVM_IRQ_ROUTING_MSI)
                e = &r->table->entries[i];
    }
    int rc = 0;
    if (!e) {
        if (r->table->nr >= IRQ_ROUTES_MAX) {
            rc = -ENOSPC;
            goto out;
        }
        e = &r->table->entries[r->table->nr++];
        memset(e, 0, sizeof(*e));
        e->gsi = gsi >= 0 ? (uint32_t)gsi : r->next_msi_gsi++;
        e->type = KVM_IRQ_ROUTING_MSI;
    }
    e->u.msi.address_lo = (uint32_t)addr;
    e->u.msi.address_hi = (uint32_t)(addr >> 32);
    e->u.msi.data = data;
    rc = kvm_set_gsi_routing(vm_fd, r->table);
    if (rc == 0)
        rc = (int)e->gsi;
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}
