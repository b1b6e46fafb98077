/* The only place that calls KVM ioctls: thin checked wrappers, each failing with a message.
 * Reference: Linux Documentation/virt/kvm/api.rst (section numbers cited per call). */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

static int fail(const char *what)
{
    int e = errno;
    log_error("%s failed: %s", what, strerror(e));
    return -e;
}

#define IOCTL_OR_FAIL(fd, req, arg, what)                                                  \
    do {                                                                                   \
        if (ioctl((fd), (req), (arg)) < 0)                                                 \
            return fail(what);                                                             \
        return 0;                                                                          \
    } while (0)

/* Capabilities relied on; a missing one is named in the error (api.rst §4.4 KVM_CHECK_EXTENSION). */
static const struct {
    long cap;
    const char *name;
} required_caps[] = {
    { KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
    { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
    { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
    { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
    { KVM_CAP_PIT2, "KVM_CAP_PIT2" },
    { KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING" },
    { KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
    { KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
    { KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
    { KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS" },
    { KVM_CAP_INTERNAL_ERROR_DATA, "KVM_CAP_INTERNAL_ERROR_DATA" },
    { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
};

int kvm_open(struct kvm_sys *k, const char *path)
{
    k->fd = open(path, O_RDWR | O_CLOEXEC);
    if (k->fd < 0) {
        int e = errno;
        if (e == ENOENT)
            log_error("%s does not exist: load the kvm module (kvm_intel or kvm_amd) or enable "
                      "virtualization in the firmware settings", path);
        else if (e == EACCES || e == EPERM)
            log_error("no permission to open %s: add your user to the 'kvm' group "
                      "(sudo usermod -aG kvm $USER) or run as root", path);
        else
            log_error("cannot open %s: %s", path, strerror(e));
        return -e;
    }
    int version = ioctl(k->fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        log_error("%s speaks KVM API %d, vmm needs %d: update the host kernel", path, version, KVM_API_VERSION);
        kvm_close(k);
        return -ENOTSUP;
    }
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(k->fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0) {
            log_error("the host KVM lacks %s, which vmm needs: use a newer host kernel", required_caps[i].name);
            kvm_close(k);
            return -ENOTSUP;
        }
    }
    k->vcpu_mmap_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (k->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        int rc = fail("KVM_GET_VCPU_MMAP_SIZE");
        kvm_close(k);
        return rc ? rc : -EINVAL;
    }
    return 0;
}

void kvm_close(struct kvm_sys *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

int kvm_check_extension(const struct kvm_sys *k, long cap)
{
    int r = ioctl(k->fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

bool kvm_host_is_pvm(void)
{
    return access("/sys/module/kvm_pvm", F_OK) == 0;
}

/* api.rst §4.46 KVM_GET_SUPPORTED_CPUID: grow the buffer until E2BIG stops. */
struct kvm_cpuid2 *kvm_supported_cpuid(const struct kvm_sys *k)
{
    for (int n = 64; n <= 4096; n *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
        if (!c)
            return NULL;
        c->nent = n;
        if (ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        free(c);
        if (errno != E2BIG) {
            fail("KVM_GET_SUPPORTED_CPUID");
            return NULL;
        }
    }
    return NULL;
}

int kvm_create_vm(const struct kvm_sys *k)
{
    int fd = ioctl(k->fd, KVM_CREATE_VM, 0);
    if (fd < 0)
        return fail("KVM_CREATE_VM");
    return fd;
}

/* api.rst §4.35 KVM_SET_USER_MEMORY_REGION; KVM_MEM_READONLY makes writes exit as MMIO. */
int kvm_set_user_memory(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *hva, bool readonly)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot,
        .flags = readonly ? KVM_MEM_READONLY : 0,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)hva,
    };
    IOCTL_OR_FAIL(vm_fd, KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION");
}

int kvm_set_user_memory_logged(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot, .flags = KVM_MEM_LOG_DIRTY_PAGES, .guest_phys_addr = gpa,
        .memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)hva,
    };
    IOCTL_OR_FAIL(vm_fd, KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION (framebuffer)");
}

int kvm_get_dirty_log(int vm_fd, uint32_t slot, void *bitmap)
{
    struct kvm_dirty_log log = { .slot = slot, .dirty_bitmap = bitmap };
    IOCTL_OR_FAIL(vm_fd, KVM_GET_DIRTY_LOG, &log, "KVM_GET_DIRTY_LOG");
}

int kvm_create_irqchip(int vm_fd) { IOCTL_OR_FAIL(vm_fd, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP"); }

/* api.rst §4.73 KVM_CREATE_PIT2; speaker port 0x61 is left to userspace. */
int kvm_create_pit(int vm_fd)
{
    struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
    IOCTL_OR_FAIL(vm_fd, KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");
}

int kvm_set_tss_addr(int vm_fd, uint64_t addr)
{
    IOCTL_OR_FAIL(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)addr, "KVM_SET_TSS_ADDR");
}

int kvm_set_identity_map_addr(int vm_fd, uint64_t addr)
{
    IOCTL_OR_FAIL(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr, "KVM_SET_IDENTITY_MAP_ADDR");
}

int kvm_irq_line(int vm_fd, uint32_t gsi, int level)
{
    struct kvm_irq_level l = { .irq = gsi, .level = level };
    IOCTL_OR_FAIL(vm_fd, KVM_IRQ_LINE, &l, "KVM_IRQ_LINE");
}

int kvm_set_gsi_routing(int vm_fd, const struct kvm_irq_routing *r)
{
    IOCTL_OR_FAIL(vm_fd, KVM_SET_GSI_ROUTING, r, "KVM_SET_GSI_ROUTING");
}

int kvm_ioeventfd(int vm_fd, uint64_t addr, uint32_t len, int efd, bool pio, bool assign)
{
    struct kvm_ioeventfd io = {
        .addr = addr, .len = len, .fd = efd,
        .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    IOCTL_OR_FAIL(vm_fd, KVM_IOEVENTFD, &io, "KVM_IOEVENTFD");
}

int kvm_irqfd(int vm_fd, uint32_t gsi, int efd, bool assign)
{
    struct kvm_irqfd irq = { .fd = (uint32_t)efd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
    IOCTL_OR_FAIL(vm_fd, KVM_IRQFD, &irq, "KVM_IRQFD");
}

int kvm_create_vcpu(int vm_fd, int id)
{
    int fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (fd < 0)
        return fail("KVM_CREATE_VCPU");
    return fd;
}

struct kvm_run *kvm_map_run(const struct kvm_sys *k, int vcpu_fd)
{
    void *p = mmap(NULL, k->vcpu_mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
    if (p == MAP_FAILED) {
        fail("mmap of the vCPU run structure");
        return NULL;
    }
    return p;
}

int kvm_set_cpuid(int vcpu_fd, const struct kvm_cpuid2 *c) { IOCTL_OR_FAIL(vcpu_fd, KVM_SET_CPUID2, c, "KVM_SET_CPUID2"); }
int kvm_get_regs(int vcpu_fd, struct kvm_regs *r) { IOCTL_OR_FAIL(vcpu_fd, KVM_GET_REGS, r, "KVM_GET_REGS"); }
int kvm_set_regs(int vcpu_fd, const struct kvm_regs *r) { IOCTL_OR_FAIL(vcpu_fd, KVM_SET_REGS, r, "KVM_SET_REGS"); }
int kvm_get_sregs(int vcpu_fd, struct kvm_sregs *s) { IOCTL_OR_FAIL(vcpu_fd, KVM_GET_SREGS, s, "KVM_GET_SREGS"); }
int kvm_set_sregs(int vcpu_fd, const struct kvm_sregs *s) { IOCTL_OR_FAIL(vcpu_fd, KVM_SET_SREGS, s, "KVM_SET_SREGS"); }
int kvm_set_fpu(int vcpu_fd, const struct kvm_fpu *f) { IOCTL_OR_FAIL(vcpu_fd, KVM_SET_FPU, f, "KVM_SET_FPU"); }
int kvm_set_lapic(int vcpu_fd, const struct kvm_lapic_state *l) { IOCTL_OR_FAIL(vcpu_fd, KVM_SET_LAPIC, l, "KVM_SET_LAPIC"); }
int kvm_get_lapic(int vcpu_fd, struct kvm_lapic_state *l) { IOCTL_OR_FAIL(vcpu_fd, KVM_GET_LAPIC, l, "KVM_GET_LAPIC"); }
int kvm_get_mp_state(int vcpu_fd, struct kvm_mp_state *s) { IOCTL_OR_FAIL(vcpu_fd, KVM_GET_MP_STATE, s, "KVM_GET_MP_STATE"); }
int kvm_set_mp_state(int vcpu_fd, const struct kvm_mp_state *s) { IOCTL_OR_FAIL(vcpu_fd, KVM_SET_MP_STATE, s, "KVM_SET_MP_STATE"); }
int kvm_get_vcpu_events(int vcpu_fd, struct kvm_vcpu_events *e) { IOCTL_OR_FAIL(vcpu_fd, KVM_GET_VCPU_EVENTS, e, "KVM_GET_VCPU_EVENTS"); }
int kvm_set_vcpu_events(int vcpu_fd, const struct kvm_vcpu_events *e) { IOCTL_OR_FAIL(vcpu_fd, KVM_SET_VCPU_EVENTS, e, "KVM_SET_VCPU_EVENTS"); }
int kvm_translate(int vcpu_fd, struct kvm_translation *t) { IOCTL_OR_FAIL(vcpu_fd, KVM_TRANSLATE, t, "KVM_TRANSLATE"); }
int kvm_set_guest_debug(int vcpu_fd, const struct kvm_guest_debug *d) { IOCTL_OR_FAIL(vcpu_fd, KVM_SET_GUEST_DEBUG, d, "KVM_SET_GUEST_DEBUG"); }

/* KVM_SET_MSRS returns the number of MSRs set; fewer than asked is an error. */
int kvm_set_msrs(int vcpu_fd, const struct kvm_msrs *m)
{
    int r = ioctl(vcpu_fd, KVM_SET_MSRS, m);
    if (r < 0)
        return fail("KVM_SET_MSRS");
    if ((uint32_t)r != m->nmsrs) {
        log_error("KVM_SET_MSRS set %d of %u MSRs (index 0x%x refused)", r, m->nmsrs, m->entries[r].index);
        return -EINVAL;
    }
    return 0;
}

int kvm_run(int vcpu_fd)
{
    if (ioctl(vcpu_fd, KVM_RUN, 0) < 0)
        return -errno;
    return 0;
}
