/* Guest page-table walker: no paging, 32-bit, PAE, 4- and 5-level paging (SDM vol 3A 4.3-4.6). */
#include "arch/x86/pagewalk.h"

#include <errno.h>

#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define CR4_SMEP (1ull << 20)
#define CR4_SMAP (1ull << 21)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

/* Paging-structure entry bits (SDM vol 3A tables 4-4 .. 4-20). */
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define PTE_ADDR_MASK 0x000ffffffffff000ull

#define MAX_LEVELS 5

/* What the walk found on its way down. */
struct walk {
    uint64_t entry_gpa[MAX_LEVELS];
    uint8_t entry_size[MAX_LEVELS];  /* 4 or 8; 0: no Accessed bit (PAE PDPTE) */
    int nentries;
    bool writable, user, nx;         /* combined rights of all levels */
    uint32_t error;                  /* #PF error code for a failed walk */
};

bool x86_is_canonical(const struct kvm_sregs *s, uint64_t linear)
{
    if (!(s->efer & EFER_LMA))
        return true;
    unsigned bits = (s->cr4 & CR4_LA57) ? 57 : 48;
    int64_t extended = (int64_t)(linear << (64 - bits)) >> (64 - bits);
    return (uint64_t)extended == linear;
}

static uint32_t access_error_bits(const struct kvm_sregs *s, unsigned access)
{
    uint32_t e = 0;
    if (access & X86_ACC_WRITE)
        e |= X86_PF_W;
    if (access & X86_ACC_USER)
        e |= X86_PF_U;
    /* I/D is reported if NX is in use (PAE/IA-32e with EFER.NXE) or SMEP is on (SDM vol 3A 4.7). */
    bool nx_in_use = (s->cr4 & CR4_PAE) && (s->efer & EFER_NXE);
    if ((access & X86_ACC_FETCH) && (nx_in_use || (s->cr4 & CR4_SMEP)))
        e |= X86_PF_I;
    return e;
}

/* Read one paging-structure entry. An entry outside RAM would read as all ones on a PC: present with
 * reserved bits set, so the walk stops with a reserved-bit fault (returns false). */
static bool read_entry(const struct guest_memory *mem, uint64_t gpa, unsigned size, uint64_t *entry)
{
    if (size == 4) {
        uint32_t v;
        if (mem_read(mem, gpa, &v, 4))
            return false;
        *entry = v;
        return true;
    }
    return mem_read(mem, gpa, entry, 8) == 0;
}

static int reserved_fault(struct walk *w)
{
    w->error |= X86_PF_RSVD | X86_PF_P;
    return -EFAULT;
}

static void note_entry(struct walk *w, uint64_t gpa, unsigned size, uint64_t entry, bool has_rights)
{
    w->entry_gpa[w->nentries] = gpa;
    w->entry_size[w->nentries] = (uint8_t)(has_rights ? size : 0);
    w->nentries++;
    if (has_rights) {
        w->writable = w->writable && (entry & PTE_RW);
        w->user = w->user && (entry & PTE_US);
    }
    if (size == 8 && (entry & PTE_NX))
        w->nx = true;
}

/* Set the Accessed bits on the way and Dirty on the leaf for writes (SDM vol 3A 4.8), atomically
 * because other vCPUs walk the same tables. */
static void set_accessed_dirty(const struct guest_memory *mem, const struct walk *w, bool write)
{
    for (int i = 0; i < w->nentries; i++) {
        unsigned size = w->entry_size[i];
        if (!size)
            continue;
        uint64_t bits = PTE_A | ((write && i == w->nentries - 1) ? PTE_D : 0);
        void *p = mem_gpa_to_hva_rw(mem, w->entry_gpa[i], size);
        if (!p)
            continue;
        if (size == 4)
            __atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_SEQ_CST);
        else
            __atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_SEQ_CST);
    }
}

/* Rights checks once the leaf is found (SDM vol 3A 4.6). Returns true if the access is allowed. */
static bool access_allowed(const struct kvm_sregs *s, const struct walk *w, unsigned access)
{
    bool user = access & X86_ACC_USER;
    if (user && !w->user)
        return false;
    if (access & X86_ACC_WRITE) {
        if (!w->writable && (user || (s->cr0 & CR0_WP)))
            return false;
    }
    if (access & X86_ACC_FETCH) {
        if (w->nx && (s->efer & EFER_NXE))
            return false;
        if (!user && w->user && (s->cr4 & CR4_SMEP))
            return false;
        return true;
    }
    if (!user && w->user && (s->cr4 & CR4_SMAP) && (access & X86_ACC_SMAP))
        return false;
    return true;
}

/* 32-bit paging: 2 levels of 4-byte entries, 4 MiB pages with CR4.PSE (SDM vol 3A 4.3). */
static int walk_32bit(const struct kvm_sregs *s, const struct guest_memory *mem, uint32_t linear,
                      struct walk *w, uint64_t *gpa)
{
    uint64_t pde_gpa = (s->cr3 & 0xfffff000u) + ((linear >> 22) & 0x3ff) * 4;
    uint64_t pde;
    if (!read_entry(mem, pde_gpa, 4, &pde))
        return reserved_fault(w);
    if (!(pde & PTE_P))
        return -EFAULT;
    note_entry(w, pde_gpa, 4, pde, true);
    if ((pde & PTE_PS) && (s->cr4 & CR4_PSE)) {
        if (pde & (1u << 21))   /* reserved in a 4-MiB PDE */
            return reserved_fault(w);
        uint64_t high = ((pde >> 13) & 0xff) << 32;   /* PSE-36: PA bits 39:32 */
        *gpa = high | (pde & 0xffc00000u) | (linear & 0x3fffff);
        return 0;
    }
    uint64_t pte_gpa = (pde & 0xfffff000u) + ((linear >> 12) & 0x3ff) * 4;
    uint64_t pte;
    if (!read_entry(mem, pte_gpa, 4, &pte))
        return reserved_fault(w);
    if (!(pte & PTE_P))
        return -EFAULT;
    note_entry(w, pte_gpa, 4, pte, true);
    *gpa = (pte & 0xfffff000u) | (linear & 0xfff);
    return 0;
}

/* Reserved bits that make an 8-byte entry at `level` (1 = PTE .. 5 = PML5E) invalid. */
static bool reserved_bits_set(const struct kvm_sregs *s, uint64_t entry, int level, bool pae_pdpte)
{
    if ((entry & PTE_NX) && !(s->efer & EFER_NXE))
        return true;
    if (pae_pdpte)
        return (entry & 0x1e6) != 0;            /* PAE PDPTE bits 1,2,5,6,7,8 (SDM table 4-8) */
    if ((level >= 4) && (entry & PTE_PS))
        return true;                             /* no pages at PML4E/PML5E */
    if (level == 3 && (entry & PTE_PS))
        return ((entry >> 13) & 0x1ffff) != 0;   /* 1-GiB page: bits 29:13 */
    if (level == 2 && (entry & PTE_PS))
        return ((entry >> 13) & 0xff) != 0;      /* 2-MiB page: bits 20:13 */
    return false;
}

/* PAE (3 levels, from a PDPTE table at CR3[31:5]) and 4/5-level paging (SDM vol 3A 4.4, 4.5). */
static int walk_long_or_pae(const struct kvm_sregs *s, const struct guest_memory *mem, uint64_t linear,
                            struct walk *w, uint64_t *gpa)
{
    bool pae = !(s->efer & EFER_LMA);
    int level = pae ? 3 : (s->cr4 & CR4_LA57) ? 5 : 4;
    uint64_t table = pae ? (s->cr3 & 0xffffffe0u) : (s->cr3 & PTE_ADDR_MASK);
    for (;; level--) {
        unsigned shift = 12 + 9 * (unsigned)(level - 1);
        unsigned index_bits = (pae && level == 3) ? 2 : 9;
        uint64_t entry_gpa = table + ((linear >> shift) & ((1u << index_bits) - 1)) * 8;
        uint64_t entry;
        bool pae_pdpte = pae && level == 3;
        if (!read_entry(mem, entry_gpa, 8, &entry))
            return reserved_fault(w);
        if (!(entry & PTE_P))
            return -EFAULT;
        if (reserved_bits_set(s, entry, level, pae_pdpte))
            return reserved_fault(w);
        note_entry(w, entry_gpa, 8, entry, !pae_pdpte);
        bool leaf = level == 1 || (level <= 3 && !pae_pdpte && (entry & PTE_PS));
        if (leaf) {
            uint64_t page_mask = (1ull << shift) - 1;
            *gpa = (entry & PTE_ADDR_MASK & ~page_mask) | (linear & page_mask);
            return 0;
        }
        table = entry & PTE_ADDR_MASK;
    }
}

int x86_translate(const struct kvm_sregs *s, const struct guest_memory *mem, uint64_t linear,
                  unsigned access, uint64_t *gpa, uint32_t *pf_error_code)
{
    *pf_error_code = 0;
    if (!(s->cr0 & CR0_PG)) {
        *gpa = (s->efer & EFER_LMA) ? linear : (uint32_t)linear;
        return 0;
    }
    if (!x86_is_canonical(s, linear))
        return -EINVAL;
    struct walk w = { .writable = true, .user = true, .error = access_error_bits(s, access) };
    int rc;
    if (!(s->cr4 & CR4_PAE))
        rc = walk_32bit(s, mem, (uint32_t)linear, &w, gpa);
    else
        rc = walk_long_or_pae(s, mem, (s->efer & EFER_LMA) ? linear : (uint32_t)linear, &w, gpa);
    if (rc == 0 && !access_allowed(s, &w, access)) {
        w.error |= X86_PF_P;
        rc = -EFAULT;
    }
    if (rc) {
        *pf_error_code = w.error;
        return rc;
    }
    set_accessed_dirty(mem, &w, access & X86_ACC_WRITE);
    return 0;
}

int x86_linear_to_phys(const struct kvm_sregs *s, const struct guest_memory *mem, uint64_t linear,
                       bool write, bool user, uint64_t *gpa, uint32_t *pf_error_code)
{
    unsigned access = (write ? X86_ACC_WRITE : 0) | (user ? X86_ACC_USER : 0);
    return x86_translate(s, mem, linear, access, gpa, pf_error_code);
}
