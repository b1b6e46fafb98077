/* Unit tests for the guest page-table walker: all paging modes, rights, A/D bits, hostile tables. */
#include <errno.h>

#include "arch/x86/pagewalk.h"
#include "tests/unit/check.h"

#define P 1ull
#define RW 2ull
#define US 4ull
#define PS 0x80ull
#define A 0x20ull
#define D 0x40ull
#define NX (1ull << 63)

#define CR0_PE 1ull
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_SMAP (1ull << 21)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

static void put64(struct guest_memory *m, uint64_t gpa, uint64_t v) { mem_write(m, gpa, &v, 8); }
static void put32(struct guest_memory *m, uint64_t gpa, uint32_t v) { mem_write(m, gpa, &v, 4); }
static uint64_t get64(struct guest_memory *m, uint64_t gpa)
{
    uint64_t v = 0;
    mem_read(m, gpa, &v, 8);
    return v;
}

/* 4-level tables: PML4 0x10000, PDPT 0x11000, PD 0x12000, PT 0x13000.
 * 0-2M: 2M page; 2M-4M: 4K pages via PT (page 0x200000 -> 0x300000, RO page, user page, NX page). */
static void build_long_mode(struct guest_memory *m, struct kvm_sregs *s)
{
    memset(s, 0, sizeof(*s));
    s->cr0 = CR0_PE | CR0_PG | CR0_WP;
    s->cr4 = CR4_PAE;
    s->efer = EFER_LME | EFER_LMA | EFER_NXE;
    s->cr3 = 0x10000;
    put64(m, 0x10000, 0x11000 | P | RW | US);
    put64(m, 0x11000, 0x12000 | P | RW | US);
    put64(m, 0x12000 + 0 * 8, 0x000000 | P | RW | PS);
    put64(m, 0x12000 + 1 * 8, 0x13000 | P | RW | US);
    put64(m, 0x13000 + 0 * 8, 0x300000 | P | RW);           /* 0x200000: supervisor RW */
    put64(m, 0x13000 + 1 * 8, 0x301000 | P);                /* 0x201000: read-only */
    put64(m, 0x13000 + 2 * 8, 0x302000 | P | RW | US);      /* 0x202000: user */
    put64(m, 0x13000 + 3 * 8, 0x303000 | P | RW | NX);      /* 0x203000: no-execute */
    /* 0x204000: not present */
}

static int setup(struct guest_memory *m)
{
    return mem_init_ram(m, 8 << 20);
}

TEST(paging_off_is_identity)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err = 0xdead;
    CHECK_EQ(setup(&m), 0);
    memset(&s, 0, sizeof(s));
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x12345, true, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x12345);
    CHECK_EQ(err, 0);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x100001000ull, false, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x1000);   /* 32-bit wrap outside IA-32e mode */
    mem_free(&m);
}

TEST(long_mode_4k_page_sets_accessed_and_dirty)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    build_long_mode(&m, &s);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x200abc, false, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x300abc);
    CHECK(get64(&m, 0x10000) & A);
    CHECK(get64(&m, 0x13000) & A);
    CHECK(!(get64(&m, 0x13000) & D));
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x200abc, true, false, &gpa, &err), 0);
    CHECK(get64(&m, 0x13000) & D);
    CHECK(!(get64(&m, 0x12000 + 8) & D));   /* D only on the leaf */
    mem_free(&m);
}

TEST(long_mode_large_pages)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    build_long_mode(&m, &s);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x1fffff, false, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x1fffff);
    /* 1 GiB page at 1 GiB linear -> physical 0x40000000 */
    put64(&m, 0x11000 + 8, 0x40000000 | P | RW | PS);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x40123456, false, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x40123456);
    /* Reserved bits in a 2M PDE (bit 13) */
    put64(&m, 0x12000 + 2 * 8, 0x400000 | P | RW | PS | (1ull << 13));
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x400000, false, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_RSVD);
    mem_free(&m);
}

TEST(not_present_error_codes)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    build_long_mode(&m, &s);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x204000, false, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, 0);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x204000, true, true, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_W | X86_PF_U);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x7f0000000000ull, false, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, 0);
    CHECK_EQ(x86_translate(&s, &m, 0x204000, X86_ACC_FETCH, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_I);
    mem_free(&m);
}

TEST(write_protection_and_cr0_wp)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    build_long_mode(&m, &s);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x201000, false, false, &gpa, &err), 0);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x201000, true, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_W);
    s.cr0 &= ~CR0_WP;
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x201000, true, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x301000);
    mem_free(&m);
}

TEST(user_supervisor_and_smap)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    build_long_mode(&m, &s);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x200000, false, true, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_U);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x202000, true, true, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x302000);
    s.cr4 |= CR4_SMAP;
    CHECK_EQ(x86_translate(&s, &m, 0x202000, X86_ACC_SMAP, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P);
    CHECK_EQ(x86_translate(&s, &m, 0x202000, 0, &gpa, &err), 0);   /* RFLAGS.AC = 1 */
    mem_free(&m);
}

TEST(no_execute)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    build_long_mode(&m, &s);
    CHECK_EQ(x86_translate(&s, &m, 0x203000, 0, &gpa, &err), 0);
    CHECK_EQ(x86_translate(&s, &m, 0x203000, X86_ACC_FETCH, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_I);
    s.efer &= ~EFER_NXE;   /* NX now a reserved bit */
    CHECK_EQ(x86_translate(&s, &m, 0x203000, 0, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_RSVD);
    mem_free(&m);
}

TEST(paging_32bit_4k_and_4m)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    memset(&s, 0, sizeof(s));
    s.cr0 = CR0_PE | CR0_PG;
    s.cr3 = 0x20000;
    put32(&m, 0x20000 + 0x300 * 4, 0x21000 | P | RW);          /* 0xc0000000 */
    put32(&m, 0x21000 + 5 * 4, 0x345000 | P | RW);              /* 0xc0005000 -> 0x345000 */
    put32(&m, 0x20000 + 1 * 4, 0x00400000 | P | RW | PS);      /* 0x400000 4M page */
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0xc0005123, false, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x345123);
    uint32_t pte = 0;
    mem_read(&m, 0x21000 + 5 * 4, &pte, 4);
    CHECK(pte & A);
    /* Without CR4.PSE the PS bit is ignored: the PDE points to a page table at 0x400000. */
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x400000, false, false, &gpa, &err), -EFAULT);
    s.cr4 = CR4_PSE;
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x4abcde, false, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x4abcde);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0xc0006000, false, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, 0);
    mem_free(&m);
}

TEST(pae_paging)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    memset(&s, 0, sizeof(s));
    s.cr0 = CR0_PE | CR0_PG;
    s.cr4 = CR4_PAE;
    s.cr3 = 0x30020;   /* PDPT 32-byte aligned */
    put64(&m, 0x30020 + 3 * 8, 0x31000 | P);                   /* 0xc0000000.. */
    put64(&m, 0x31000 + 0 * 8, 0x32000 | P | RW);
    put64(&m, 0x32000 + 7 * 8, 0x123000 | P | RW);              /* 0xc0007000 */
    put64(&m, 0x31000 + 1 * 8, 0x600000 | P | RW | PS);        /* 0xc0200000 2M */
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0xc0007010, false, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x123010);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0xc0212345, true, false, &gpa, &err), 0);
    CHECK_EQ(gpa, 0x612345);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x00001000, false, false, &gpa, &err), -EFAULT);   /* PDPTE 0 absent */
    CHECK_EQ(err, 0);
    put64(&m, 0x30020, 0x33000 | P | RW);   /* RW is reserved in a PAE PDPTE */
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x00001000, false, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_RSVD);
    mem_free(&m);
}

TEST(tables_outside_ram_fault_without_crash)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    build_long_mode(&m, &s);
    s.cr3 = 0xfee00000;   /* not RAM */
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x1000, true, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_RSVD | X86_PF_W);
    build_long_mode(&m, &s);
    put64(&m, 0x12000 + 3 * 8, 0x7ffffffff000ull | P | RW);   /* PT far outside RAM */
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x600000, false, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_RSVD);
    s.cr0 = CR0_PE | CR0_PG;
    s.cr4 = 0;
    s.efer = 0;
    s.cr3 = 0xfffff000;
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x1000, false, true, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_RSVD | X86_PF_U);
    mem_free(&m);
}

TEST(non_canonical_and_reserved_ps)
{
    struct guest_memory m;
    struct kvm_sregs s;
    uint64_t gpa;
    uint32_t err;
    CHECK_EQ(setup(&m), 0);
    build_long_mode(&m, &s);
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x0000800000000000ull, false, false, &gpa, &err), -EINVAL);
    CHECK(x86_is_canonical(&s, 0xffff800000000000ull));
    CHECK(!x86_is_canonical(&s, 0x0000800000000000ull));
    put64(&m, 0x10000, 0x11000 | P | RW | US | PS);   /* PS is reserved in a PML4E */
    CHECK_EQ(x86_linear_to_phys(&s, &m, 0x1000, false, false, &gpa, &err), -EFAULT);
    CHECK_EQ(err, X86_PF_P | X86_PF_RSVD);
    mem_free(&m);
}

TEST_MAIN()
