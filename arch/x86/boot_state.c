/* Initial vCPU state for direct boot: flat GDT, identity page tables, 64-bit or 32-bit (PVH) entry.
 * References: Linux Documentation/arch/x86/boot.rst ("64-bit boot protocol", "32-bit boot protocol"),
 * Xen docs/misc/pvh.pandoc, Intel SDM vol 3A §3.4.5 (segment descriptors), §4.5 (4-level paging). */
#include "boot_state.h"

#include <string.h>

#include "arch/x86/layout.h"
#include "vmm/kvm.h"

#define CR0_PE 0x1ULL
#define CR0_ET 0x10ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL
#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_PS 0x80ULL

#define SEL_CODE 0x10
#define SEL_DATA 0x18

/* Descriptor: base 0, limit 0xfffff pages, with the given access byte and flags nibble. */
static uint64_t gdt_entry(uint8_t access, uint8_t flags)
{
    return 0xffffULL | (0xfULL << 48) | ((uint64_t)access << 40) | ((uint64_t)flags << 52);
}

int boot_tables_write(const struct guest_memory *mem, bool long_mode)
{
    uint64_t gdt[4] = {
        0, 0,
        long_mode ? gdt_entry(0x9b, 0xa) : gdt_entry(0x9b, 0xc), /* code: L=1 for 64-bit, else D=1 */
        gdt_entry(0x93, 0xc),                                      /* data: flat, writable */
    };
    int rc = mem_write(mem, LAYOUT_BOOT_GDT, gdt, sizeof(gdt));
    if (rc || !long_mode)
        return rc;
    uint64_t pml4 = LAYOUT_PDPT | PTE_P | PTE_RW;
    rc = mem_write(mem, LAYOUT_PML4, &pml4, sizeof(pml4));
    for (int i = 0; i < 4 && rc == 0; i++) {
        uint64_t pdpte = (LAYOUT_PD + i * 0x1000ULL) | PTE_P | PTE_RW;
        rc = mem_write(mem, LAYOUT_PDPT + i * 8ULL, &pdpte, sizeof(pdpte));
    }
    for (uint64_t i = 0; i < 2048 && rc == 0; i++) {
        uint64_t pde = (i << 21) | PTE_P | PTE_RW | PTE_PS;
        rc = mem_write(mem, LAYOUT_PD + i * 8, &pde, sizeof(pde));
    }
    return rc;
}

static struct kvm_segment flat_segment(uint16_t sel, uint8_t type, bool code64)
{
    struct kvm_segment s = {
        .base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
        .present = 1, .dpl = 0, .db = code64 ? 0 : 1, .s = 1, .l = code64 ? 1 : 0, .g = 1,
    };
    return s;
}

static int set_flat_state(int fd, bool long_mode, uint64_t rip, uint64_t rsi, uint64_t rbx)
{
    struct kvm_sregs sregs;
    int rc = kvm_get_sregs(fd, &sregs);
    if (rc)
        return rc;
    sregs.cs = flat_segment(SEL_CODE, 0xb, long_mode);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(SEL_DATA, 0x3, false);
    sregs.gdt.base = LAYOUT_BOOT_GDT;
    sregs.gdt.limit = 4 * 8 - 1;
    sregs.cr0 = CR0_PE | CR0_ET;
    sregs.cr4 = 0;
    sregs.efer = 0;
    if (long_mode) {
        sregs.cr0 |= CR0_PG;
        sregs.cr3 = LAYOUT_PML4;
        sregs.cr4 = CR4_PAE;
        sregs.efer = EFER_LME | EFER_LMA;
    }
    rc = kvm_set_sregs(fd, &sregs);
    if (rc)
        return rc;
    struct kvm_regs regs = { .rip = rip, .rsi = rsi, .rbx = rbx, .rflags = 0x2 };
    return kvm_set_regs(fd, &regs);
}

int boot_state_long_mode(int vcpu_fd, uint64_t entry, uint64_t zero_page)
{
    return set_flat_state(vcpu_fd, true, entry, zero_page, 0);
}

int boot_state_protected_mode(int vcpu_fd, uint64_t entry, uint64_t zero_page)
{
    return set_flat_state(vcpu_fd, false, entry, zero_page, 0);
}

int boot_state_pvh(int vcpu_fd, uint64_t entry, uint64_t start_info)
{
    return set_flat_state(vcpu_fd, false, entry, 0, start_info);
}

void boot_state_msrs(int vcpu_fd)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[2];
    } m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = 2;
    m.e[0].index = 0x1a0;                 /* IA32_MISC_ENABLE: fast string operations */
    m.e[0].data = 1;
    m.e[1].index = 0x277;                 /* IA32_PAT power-on value (SDM vol 3A §11.12.4) */
    m.e[1].data = 0x0007040600070406ULL;
    kvm_set_msrs(vcpu_fd, &m.hdr);
}
