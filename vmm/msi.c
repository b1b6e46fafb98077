/* Host side of MSI delivery: a KVM GSI route per vector plus an irqfd, so raising an interrupt is
 * one eventfd write from any thread (api.rst §4.52 KVM_SET_GSI_ROUTING, §4.75 KVM_IRQFD). */
#include "msi.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/kvm.h"
#include "vmm/log.h"

void msi_host_init(struct msi_host *h, struct irq_routing *routing, int vm_fd)
{
    h->routing = routing;
    h->vm_fd = vm_fd;
    pthread_mutex_init(&h->lock, NULL);
    for (int i = 0; i < IRQ_ROUTES_MAX; i++)
        h->efd[i] = -1;
}

void msi_host_destroy(struct msi_host *h)
{
    for (int i = 0; i < IRQ_ROUTES_MAX; i++) {
        if (h->efd[i] >= 0) {
            kvm_irqfd(h->vm_fd, (uint32_t)i, h->efd[i], false);
            close(h->efd[i]);
        }
        h->efd[i] = -1;
    }
    pthread_mutex_destroy(&h->lock);
}

static int msi_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    struct msi_host *h = ctx;
    int g = irq_routing_set_msi(h->routing, h->vm_fd, gsi, addr, data);
    if (g < 0 || g >= IRQ_ROUTES_MAX)
        return g < 0 ? g : -ENOSPC;
    pthread_mutex_lock(&h->lock);
    int rc = g;
    if (h->efd[g] < 0) {
        int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (efd < 0 || kvm_irqfd(h->vm_fd, (uint32_t)g, efd, true) < 0) {
            if (efd >= 0)
                close(efd);
            rc = -EIO;
        } else {
            h->efd[g] = efd;
        }
    }
    pthread_mutex_unlock(&h->lock);
    return rc;
}

static void msi_fire(void *ctx, int gsi)
{
    struct msi_host *h = ctx;
    if (gsi < 0 || gsi >= IRQ_ROUTES_MAX || h->efd[gsi] < 0)
        return;
    uint64_t one = 1;
    if (write(h->efd[gsi], &one, sizeof(one)) < 0) {
        /* counter saturated: the interrupt is already pending */
    }
}

struct msi_ops msi_host_ops(struct msi_host *h)
{
    return (struct msi_ops){ msi_route, msi_fire, h };
}
