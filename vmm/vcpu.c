/* One thread per vCPU: KVM_RUN, exit decoding, dispatch to the buses, emulation assist.
 * Exit layouts: Linux Documentation/virt/kvm/api.rst §5 "The kvm_run structure". */
#define _GNU_SOURCE
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86/boot_state.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/emulate.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/vm.h"

#define KICK_SIGNAL SIGUSR1

static void on_kick(int sig)
{
    (void)sig; /* only interrupts KVM_RUN */
}

void vcpu_signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_kick;
    sigemptyset(&sa.sa_mask);
    sigaction(KICK_SIGNAL, &sa, NULL); /* no SA_RESTART: KVM_RUN returns EINTR */
}

int vcpu_create(struct vcpu *v, struct vm *vm, int index)
{
    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->index = index;
    v->fd = kvm_create_vcpu(vm->vm_fd, index);
    if (v->fd < 0)
        return v->fd;
    v->run = kvm_map_run(&vm->kvm, v->fd);
    if (!v->run)
        return -ENOMEM;
    struct kvm_cpuid2 *cpuid = cpuid_build(vm->supported_cpuid, &vm->cfg->cpu, index, vm->cfg->cpus);
    if (!cpuid)
        return -ENOMEM;
    int rc = kvm_set_cpuid(v->fd, cpuid);
    free(cpuid);
    if (rc)
        return rc;
    boot_state_msrs(v->fd);
    return stats_init(&v->stats, vm->cfg->stats);
}

static void trace_exit(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    switch (r->exit_reason) {
    case KVM_EXIT_IO: {
        const uint8_t *d = (const uint8_t *)r + r->io.data_offset;
        uint64_t val = 0;
        memcpy(&val, d, r->io.size <= 8 ? r->io.size : 8);
        log_trace("vcpu%d io %s port 0x%x size %u count %u data 0x%llx", v->index,
                  r->io.direction == KVM_EXIT_IO_OUT ? "out" : "in", r->io.port, r->io.size, r->io.count,
                  (unsigned long long)val);
        break;
    }
    case KVM_EXIT_MMIO: {
        uint64_t val = 0;
        memcpy(&val, r->mmio.data, r->mmio.len <= 8 ? r->mmio.len : 8);
        log_trace("vcpu%d mmio %s 0x%llx len %u data 0x%llx", v->index, r->mmio.is_write ? "write" : "read",
                  (unsigned long long)r->mmio.phys_addr, r->mmio.len, (unsigned long long)val);
        break;
    }
    default:
        log_trace("vcpu%d exit %s (%u)", v->index, stats_exit_name(r->exit_reason), r->exit_reason);
    }
}

/* KVM_EXIT_IO: `count` repetitions (string I/O) of `size` bytes each, in the run page. */
static void handle_io(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    uint8_t *data = (uint8_t *)r + r->io.data_offset;
    bool write = r->io.direction == KVM_EXIT_IO_OUT;
    size_t total = (size_t)r->io.size * r->io.count;
    if (r->io.data_offset + total > (size_t)v->vm->kvm.vcpu_mmap_size)
        return; /* never trust a length past the shared page */
    for (uint32_t i = 0; i < r->io.count; i++)
        bus_dispatch(&v->vm->pio, r->io.port, data + (size_t)i * r->io.size, r->io.size, write);
    stats_port(&v->stats, r->io.port);
}

static void handle_mmio(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    uint32_t len = r->mmio.len <= 8 ? r->mmio.len : 8;
    bool claimed = bus_dispatch(&v->vm->mmio, r->mmio.phys_addr, r->mmio.data, len, r->mmio.is_write);
    if (!claimed)
        log_trace("vcpu%d unclaimed mmio %s at 0x%llx", v->index, r->mmio.is_write ? "write" : "read",
                  (unsigned long long)r->mmio.phys_addr);
    stats_mmio(&v->stats, r->mmio.phys_addr);
}

static int inject_exception(struct vcpu *v, const struct x86_emu_result *res)
{
    struct kvm_vcpu_events ev;
    int rc = kvm_get_vcpu_events(v->fd, &ev);
    if (rc)
        return rc;
    ev.exception.injected = 1;
    ev.exception.nr = res->vector;
    ev.exception.has_error_code = res->has_error_code;
    ev.exception.error_code = res->error_code;
    ev.flags = 0;
    return kvm_set_vcpu_events(v->fd, &ev);
}

/* KVM could not emulate an instruction: carry it out here (arch/x86/emulate.c) or report it. */
static int handle_emulation_failure(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    struct x86_emu_cpu cpu;
    if (kvm_get_regs(v->fd, &cpu.regs) || kvm_get_sregs(v->fd, &cpu.sregs))
        return -EIO;
    const uint8_t *bytes = NULL;
    size_t n = 0;
    if (r->emulation_failure.ndata >= 3 &&
        (r->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
        bytes = r->emulation_failure.insn_bytes;
        n = r->emulation_failure.insn_size <= sizeof(r->emulation_failure.insn_bytes)
                ? r->emulation_failure.insn_size : sizeof(r->emulation_failure.insn_bytes);
    }
    struct x86_emu_result res;
    x86_emulate(&cpu, &v->vm->mem, bytes, n, &res);
    if (res.status == X86_EMU_UNHANDLED) {
        x86_emu_report(stderr, &cpu, bytes, n, &res);
        return -ENOTSUP;
    }
    if (res.status == X86_EMU_EXCEPTION)
        log_trace("vcpu%d assisted %s at 0x%llx: exception %u (error code 0x%x)", v->index, res.mnemonic,
                  (unsigned long long)cpu.regs.rip, res.vector, res.error_code);
    else
        log_trace("vcpu%d assisted %s, next cs:rip %04x:%llx", v->index, res.mnemonic, cpu.sregs.cs.selector,
                  (unsigned long long)cpu.regs.rip);
    stats_assist(&v->stats, res.mnemonic);
    if (res.status == X86_EMU_EXCEPTION && res.vector == 14)
        cpu.sregs.cr2 = res.cr2;
    int rc = kvm_set_regs(v->fd, &cpu.regs);
    if (rc == 0 && (res.sregs_changed || (res.status == X86_EMU_EXCEPTION && res.vector == 14)))
        rc = kvm_set_sregs(v->fd, &cpu.sregs);
    if (rc == 0 && res.status == X86_EMU_EXCEPTION)
        rc = inject_exception(v, &res);
    return rc;
}

static void report_internal_error(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    log_error("vcpu%d: KVM internal error, suberror %u (ndata %u)", v->index, r->internal.suberror, r->internal.ndata);
    struct kvm_regs regs;
    if (kvm_get_regs(v->fd, &regs) == 0)
        log_error("vcpu%d: rip=0x%llx rsp=0x%llx rflags=0x%llx", v->index, (unsigned long long)regs.rip,
                  (unsigned long long)regs.rsp, (unsigned long long)regs.rflags);
}

/* Where the guest was when it triple-faulted: the first thing anyone debugging it needs. */
static void report_triple_fault(struct vcpu *v)
{
    struct kvm_regs r;
    struct kvm_sregs sr;
    if (kvm_get_regs(v->fd, &r) || kvm_get_sregs(v->fd, &sr))
        return;
    log_error("vcpu%d: triple fault at cs:rip %04x:%llx (cs base 0x%llx) cr0=0x%llx cr3=0x%llx cr4=0x%llx efer=0x%llx "
              "rsp=0x%llx idt=0x%llx/0x%x", v->index, sr.cs.selector, (unsigned long long)r.rip,
              (unsigned long long)sr.cs.base, (unsigned long long)sr.cr0, (unsigned long long)sr.cr3,
              (unsigned long long)sr.cr4, (unsigned long long)sr.efer, (unsigned long long)r.rsp,
              (unsigned long long)sr.idt.base, sr.idt.limit);
    struct x86_emu_cpu cpu = { r, sr };
    uint8_t bytes[16];
    int n = x86_fetch_insn(&cpu, &v->vm->mem, bytes, sizeof(bytes));
    if (n > 0) {
        char hex[16 * 3 + 1] = "";
        for (int i = 0; i < n; i++)
            snprintf(hex + 3 * i, sizeof(hex) - 3 * (size_t)i, "%02x ", bytes[i]);
        log_error("vcpu%d: instruction bytes at the fault: %s", v->index, hex);
    }
}

/* Handles one exit; returns false when this vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
    struct kvm_run *r = v->run;
    stats_exit(&v->stats, r->exit_reason);
    if (log_trace_enabled)
        trace_exit(v);
    switch (r->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(v);
        return true;
    case KVM_EXIT_MMIO:
        handle_mmio(v);
        return true;
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_HLT:
        return true;
    case KVM_EXIT_SHUTDOWN:
        report_triple_fault(v);
        vm_request_stop(v->vm, STOP_TRIPLE_FAULT);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        vm_request_stop(v->vm, r->system_event.type == KVM_SYSTEM_EVENT_RESET ? STOP_RESET : STOP_POWEROFF);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        if (r->internal.suberror == KVM_INTERNAL_ERROR_EMULATION) {
            int rc = handle_emulation_failure(v);
            if (rc == 0)
                return true;
            vm_request_stop(v->vm, rc == -ENOTSUP ? STOP_EMULATION : STOP_INTERNAL);
            return false;
        }
        report_internal_error(v);
        vm_request_stop(v->vm, STOP_INTERNAL);
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        log_error("vcpu%d: VM entry failed, hardware reason 0x%llx", v->index,
                  (unsigned long long)r->fail_entry.hardware_entry_failure_reason);
        vm_request_stop(v->vm, STOP_INTERNAL);
        return false;
    default:
        log_error("vcpu%d: unexpected exit reason %u (%s)", v->index, r->exit_reason, stats_exit_name(r->exit_reason));
        vm_request_stop(v->vm, STOP_INTERNAL);
        return false;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    char name[16];
    snprintf(name, sizeof(name), "vcpu%d", v->index);
    pthread_setname_np(pthread_self(), name);

    while (!atomic_load(&v->vm->stopping)) {
        int rc = kvm_run(v->fd);
        if (rc == -EINTR || rc == -EAGAIN) {
            v->run->immediate_exit = 0;
            continue;
        }
        if (rc) {
            log_error("vcpu%d: KVM_RUN failed: %s", v->index, strerror(-rc));
            vm_request_stop(v->vm, STOP_INTERNAL);
            break;
        }
        if (!handle_exit(v))
            break;
    }
    return NULL;
}

int vcpu_start(struct vcpu *v)
{
    int rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
    if (rc)
        return -rc;
    v->thread_started = true;
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (v->run)
        v->run->immediate_exit = 1;
    if (v->thread_started)
        pthread_kill(v->thread, KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
    if (v->thread_started)
        pthread_join(v->thread, NULL);
    v->thread_started = false;
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->run)
        munmap(v->run, (size_t)v->vm->kvm.vcpu_mmap_size);
    if (v->fd >= 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}
