/* One thread per vCPU: KVM_RUN, exit decoding, dispatch to the buses, emulation assist. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

#include "vmm/stats.h"

struct vm;

struct vcpu {
    struct vm *vm;
    int index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    struct vcpu_stats stats;
};

/* Creates the KVM vCPU, its CPUID and MSRs (no thread yet). */
int vcpu_create(struct vcpu *v, struct vm *vm, int index);
int vcpu_start(struct vcpu *v);
/* Makes the thread leave KVM_RUN (immediate_exit + signal); does not wait. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/* Installs the kick signal handler; call once before any vCPU starts. */
void vcpu_signals_init(void);

#endif
