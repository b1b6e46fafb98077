/* x86 emulation assist: carry out, in userspace, the instructions KVM's emulator stops at. */
#ifndef ARCH_X86_EMULATE_H
#define ARCH_X86_EMULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <linux/kvm.h>   /* struct kvm_regs, struct kvm_sregs: plain structs, usable without KVM */

#include "vmm/memory.h"

struct x86_emu_cpu {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
};

enum x86_emu_status {
    X86_EMU_DONE = 0,        /* executed; regs/sregs updated (RIP advanced etc.), just resume */
    X86_EMU_EXCEPTION,       /* caller must inject res->vector (with error code if has_error_code;
                                cr2 holds the fault address for #PF) and resume; RIP in cpu is already
                                what the exception frame must hold (for INT3: the address after it) */
    X86_EMU_UNHANDLED,       /* not an instruction we carry out: res->mnemonic says what it was */
};

/* Exception vectors raised here (SDM vol 3A table 6-1). */
#define X86_VEC_BP 3
#define X86_VEC_UD 6
#define X86_VEC_NM 7
#define X86_VEC_NP 11
#define X86_VEC_SS 12
#define X86_VEC_GP 13
#define X86_VEC_PF 14

struct x86_emu_result {
    enum x86_emu_status status;
    uint8_t vector;
    bool has_error_code;
    uint32_t error_code;
    uint64_t cr2;
    char mnemonic[32];       /* e.g. "popcnt", "iret", "cmpxchg16b", "(unknown 0f 0b)" */
    uint8_t len;             /* decoded length in bytes, 0 if undecodable */
    bool sregs_changed;      /* the caller must KVM_SET_SREGS too (IRET loading segments) */
};

/* Host quirks the assist works around; x86_emu_set_quirks is called once, before any vCPU runs.
 * X86_QUIRK_FLAT_EVENT_FRAMES: the host delivers interrupts and exceptions in 32-bit protected mode by
 * writing the frame at linear address ESP, leaving out SS's base (seen on kvm_pvm, whose event delivery
 * assumes flat segments); an IRET whose frame at SS:ESP is not valid then takes the one at ESP. */
#define X86_QUIRK_FLAT_EVENT_FRAMES 0x1u
void x86_emu_set_quirks(unsigned quirks);

/* Carry out the instruction at CS:RIP. `bytes`/`nbytes` are the instruction bytes KVM gave in the exit
 * (may be NULL/0 or too short: then they are fetched from guest memory at CS.base+RIP through the page
 * tables, see x86_fetch_insn). Carried out: INT3, CLAC, STAC, POPCNT, IRET/IRETD/IRETQ, CMPXCHG8B,
 * CMPXCHG16B, FWAIT, VERW. Everything else is X86_EMU_UNHANDLED with its name in res->mnemonic. */
void x86_emulate(struct x86_emu_cpu *cpu, const struct guest_memory *mem,
                 const uint8_t *bytes, size_t nbytes, struct x86_emu_result *res);

/* Fetch up to `max` (at most 15) instruction bytes at CS:RIP. Returns the number of bytes read (it stops
 * early at a page that is not mapped or not RAM), -EFAULT if the first byte's page is not mapped,
 * -ENXIO if it is not in guest RAM. */
int x86_fetch_insn(const struct x86_emu_cpu *cpu, const struct guest_memory *mem, uint8_t *buf, size_t max);

/* Human-readable report: first line "vmm: guest instruction not emulated: <bytes> (<mnemonic>) at cs:rip
 * <cs>:<rip>", then the registers, one group per line. */
void x86_emu_report(FILE *out, const struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t n,
                    const struct x86_emu_result *res);

#endif
