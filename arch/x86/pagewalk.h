/* Guest linear -> guest physical translation through the guest's own page tables (SDM vol 3A ch. 4). */
#ifndef ARCH_X86_PAGEWALK_H
#define ARCH_X86_PAGEWALK_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "vmm/memory.h"

/* #PF error code bits (SDM vol 3A 4.7, figure 4-12). */
#define X86_PF_P    (1u << 0)   /* 0: page not present; 1: protection (or reserved-bit) violation */
#define X86_PF_W    (1u << 1)   /* the access was a write */
#define X86_PF_U    (1u << 2)   /* the access was a user-mode access */
#define X86_PF_RSVD (1u << 3)   /* a reserved bit was set in a paging-structure entry */
#define X86_PF_I    (1u << 4)   /* the access was an instruction fetch */

/* Access kinds for x86_translate. */
#define X86_ACC_WRITE (1u << 0)
#define X86_ACC_USER  (1u << 1)   /* user-mode access (CPL 3, not an implicit supervisor access) */
#define X86_ACC_FETCH (1u << 2)
#define X86_ACC_SMAP  (1u << 3)   /* supervisor data access subject to SMAP (RFLAGS.AC = 0, or an implicit
                                     access such as a descriptor-table read); effective if CR4.SMAP */

/* Translate `linear` for an access of kind `access` (X86_ACC_*).
 * 0: *gpa holds the physical address; Accessed (and, for writes, Dirty) bits were set in the entries.
 * -EFAULT: a page fault; *pf_error_code holds the #PF error code (a paging-structure entry outside
 *          guest RAM reads as all ones, i.e. present with reserved bits set: P|RSVD).
 * -EINVAL: a non-canonical address in IA-32e mode (#GP or #SS, not #PF). */
int x86_translate(const struct kvm_sregs *s, const struct guest_memory *mem, uint64_t linear,
                  unsigned access, uint64_t *gpa, uint32_t *pf_error_code);

/* The same for a data access without SMAP/SMEP consideration. */
int x86_linear_to_phys(const struct kvm_sregs *s, const struct guest_memory *mem, uint64_t linear,
                       bool write, bool user, uint64_t *gpa, uint32_t *pf_error_code);

/* True if `linear` is canonical for the paging mode in `s` (48 or 57 bits; always in legacy modes). */
bool x86_is_canonical(const struct kvm_sregs *s, uint64_t linear);

#endif
