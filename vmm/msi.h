/* Host side of MSI delivery: a KVM GSI route per vector plus an irqfd, so raising an interrupt is
 * one eventfd write from any thread (api.rst §4.52 KVM_SET_GSI_ROUTING, §4.75 KVM_IRQFD). */
#ifndef VMM_MSI_H
#define VMM_MSI_H

#include <pthread.h>

#include "arch/x86/irq_routing.h"
#include "devices/msix.h"

struct msi_host {
    struct irq_routing *routing;
    int vm_fd;
    pthread_mutex_t lock;
    int efd[IRQ_ROUTES_MAX];        /* irqfd per GSI, -1 if none */
};

void msi_host_init(struct msi_host *h, struct irq_routing *routing, int vm_fd);
/* Closes every irqfd (call before the VM fd goes away or is replaced). */
void msi_host_destroy(struct msi_host *h);
/* The callbacks devices/msix.c uses. */
struct msi_ops msi_host_ops(struct msi_host *h);

#endif
