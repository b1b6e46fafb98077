/* The only place that calls KVM ioctls: thin checked wrappers, each failing with a message. */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct kvm_sys {
    int fd;            /* /dev/kvm */
    int vcpu_mmap_size;
};

/* Opens /dev/kvm, checks the API version and every capability vmm relies on. */
int kvm_open(struct kvm_sys *k, const char *path);
void kvm_close(struct kvm_sys *k);
int kvm_check_extension(const struct kvm_sys *k, long cap);
/* True when /dev/kvm comes from the kvm_pvm module (a nested, software-assisted KVM whose quirks the
 * emulation assist works around; see arch/x86/emulate.h). */
bool kvm_host_is_pvm(void);
/* KVM_GET_SUPPORTED_CPUID; caller frees. */
struct kvm_cpuid2 *kvm_supported_cpuid(const struct kvm_sys *k);

int kvm_create_vm(const struct kvm_sys *k);
int kvm_set_user_memory(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *hva, bool readonly);
int kvm_create_irqchip(int vm_fd);
int kvm_create_pit(int vm_fd);
int kvm_set_tss_addr(int vm_fd, uint64_t addr);
int kvm_set_identity_map_addr(int vm_fd, uint64_t addr);
int kvm_irq_line(int vm_fd, uint32_t gsi, int level);
/* api.rst §4.8 KVM_GET_DIRTY_LOG: one bit per page of `slot`, cleared as it is read. */
int kvm_get_dirty_log(int vm_fd, uint32_t slot, void *bitmap);
/* Like kvm_set_user_memory, with KVM_MEM_LOG_DIRTY_PAGES (a framebuffer). */
int kvm_set_user_memory_logged(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *hva);
int kvm_set_gsi_routing(int vm_fd, const struct kvm_irq_routing *r);

/* api.rst §4.59 KVM_IOEVENTFD: a guest write of `len` bytes at `addr` signals `efd` in the kernel. */
int kvm_ioeventfd(int vm_fd, uint64_t addr, uint32_t len, int efd, bool pio, bool assign);
/* api.rst §4.75 KVM_IRQFD: writing `efd` raises `gsi` without an ioctl. */
int kvm_irqfd(int vm_fd, uint32_t gsi, int efd, bool assign);

int kvm_create_vcpu(int vm_fd, int id);
struct kvm_run *kvm_map_run(const struct kvm_sys *k, int vcpu_fd);
int kvm_set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *c);
int kvm_get_regs(int vcpu_fd, struct kvm_regs *r);
int kvm_set_regs(int vcpu_fd, const struct kvm_regs *r);
int kvm_get_sregs(int vcpu_fd, struct kvm_sregs *s);
int kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *s);
int kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *f);
int kvm_set_msrs(int vcpu_fd, const struct kvm_msrs *m);
int kvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *l);
int kvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *l);
int kvm_get_mp_state(int vcpu_fd, struct kvm_mp_state *s);
int kvm_set_mp_state(int vcpu_fd, const struct kvm_mp_state *s);
int kvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *e);
int kvm_set_vcpu_events(int vcpu_fd, const struct kvm_vcpu_events *e);
int kvm_translate(int vcpu_fd, struct kvm_translation *t);
int kvm_set_guest_debug(int vcpu_fd, const struct kvm_guest_debug *d);
/* KVM_RUN: returns 0, or -errno (-EINTR when kicked by a signal). */
int kvm_run(int vcpu_fd);

#endif
