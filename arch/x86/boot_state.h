/* Initial vCPU state for direct boot: flat GDT, identity page tables, 64-bit or 32-bit (PVH) entry. */
#ifndef ARCH_X86_BOOT_STATE_H
#define ARCH_X86_BOOT_STATE_H

#include <stdint.h>

#include "vmm/memory.h"

/* Writes the boot GDT (and, for long mode, identity page tables for the first 4 GiB) into RAM. */
int boot_tables_write(const struct guest_memory *mem, bool long_mode);
/* Linux 64-bit boot protocol: long mode, paging on, RSI = zero page, RIP = entry. */
int boot_state_long_mode(int vcpu_fd, uint64_t entry, uint64_t zero_page);
/* Linux 32-bit boot protocol: protected mode, paging off, ESI = zero page. */
int boot_state_protected_mode(int vcpu_fd, uint64_t entry, uint64_t zero_page);
/* PVH (Xen docs/misc/pvh.pandoc): 32-bit protected mode, paging off, EBX = start_info. */
int boot_state_pvh(int vcpu_fd, uint64_t entry, uint64_t start_info);
/* MSRs every vCPU starts with (IA32_MISC_ENABLE fast strings, PAT). Failures are non-fatal. */
void boot_state_msrs(int vcpu_fd);

#endif
