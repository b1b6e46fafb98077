/* Unit tests for the x86 emulation assist: each carried-out instruction on a test guest memory. */
#include <errno.h>

#include "arch/x86/emulate.h"
#include "tests/unit/check.h"

#define FL_CF 0x1ull
#define FL_PF 0x4ull
#define FL_ZF 0x40ull
#define FL_SF 0x80ull
#define FL_IF 0x200ull
#define FL_OF 0x800ull
#define FL_IOPL 0x3000ull
#define FL_NT 0x4000ull
#define FL_VM 0x20000ull
#define FL_AC 0x40000ull

#define GDT_BASE 0x1000
#define RAM_SIZE (8u << 20)

/* A segment descriptor (SDM vol 3A figure 3-8). */
static uint64_t descriptor(uint32_t base, uint32_t limit, unsigned type, unsigned dpl, unsigned present,
                           unsigned l, unsigned db)
{
    return (limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) | ((uint64_t)type << 40) | (1ull << 44) |
           ((uint64_t)dpl << 45) | ((uint64_t)present << 47) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
           ((uint64_t)l << 53) | ((uint64_t)db << 54) | (1ull << 55) | ((uint64_t)(base >> 24) << 56);
}

static void put64(struct guest_memory *m, uint64_t gpa, uint64_t v) { mem_write(m, gpa, &v, 8); }
static void put32(struct guest_memory *m, uint64_t gpa, uint32_t v) { mem_write(m, gpa, &v, 4); }
static void put16(struct guest_memory *m, uint64_t gpa, uint16_t v) { mem_write(m, gpa, &v, 2); }
static uint64_t get64(struct guest_memory *m, uint64_t gpa)
{
    uint64_t v = 0;
    mem_read(m, gpa, &v, 8);
    return v;
}

/* GDT: 08 code32 r0, 10 data r0, 18 code32 r3, 20 data r3, 28 code64 r0, 30 code32 r0 not present,
 * 38 code64 r3, 40 data r0 read-only, 48 code16 r0 (limit 64K). Limit 0x4f. */
static void build_gdt(struct guest_memory *m)
{
    put64(m, GDT_BASE + 0x08, descriptor(0, 0xfffff, 0xb, 0, 1, 0, 1));
    put64(m, GDT_BASE + 0x10, descriptor(0, 0xfffff, 0x3, 0, 1, 0, 1));
    put64(m, GDT_BASE + 0x18, descriptor(0, 0xfffff, 0xb, 3, 1, 0, 1));
    put64(m, GDT_BASE + 0x20, descriptor(0, 0xfffff, 0x3, 3, 1, 0, 1));
    put64(m, GDT_BASE + 0x28, descriptor(0, 0xfffff, 0xb, 0, 1, 1, 0));
    put64(m, GDT_BASE + 0x30, descriptor(0, 0xfffff, 0xb, 0, 0, 0, 1));
    put64(m, GDT_BASE + 0x38, descriptor(0, 0xfffff, 0xb, 3, 1, 1, 0));
    put64(m, GDT_BASE + 0x40, descriptor(0, 0xfffff, 0x1, 0, 1, 0, 1));
    put64(m, GDT_BASE + 0x48, descriptor(0x10000, 0xffff, 0xb, 0, 1, 0, 0) & ~(1ull << 55));
}

static struct kvm_segment flat(uint16_t selector, unsigned type, unsigned dpl, unsigned db, unsigned l)
{
    struct kvm_segment s = { .base = 0, .limit = 0xffffffff, .selector = selector, .type = (uint8_t)type,
                             .present = 1, .dpl = (uint8_t)dpl, .db = (uint8_t)db, .s = 1, .l = (uint8_t)l, .g = 1 };
    return s;
}

static void real_mode(struct x86_emu_cpu *c)
{
    memset(c, 0, sizeof(*c));
    struct kvm_segment seg = { .limit = 0xffff, .type = 3, .present = 1, .s = 1 };
    c->sregs.ds = c->sregs.es = c->sregs.fs = c->sregs.gs = c->sregs.ss = seg;
    seg.type = 0xb;
    c->sregs.cs = seg;
    c->regs.rflags = 2;
    c->sregs.cr0 = 0x10;
}

static void prot32(struct x86_emu_cpu *c, struct guest_memory *m, unsigned cpl)
{
    memset(c, 0, sizeof(*c));
    build_gdt(m);
    c->sregs.cr0 = 0x11;
    c->sregs.gdt.base = GDT_BASE;
    c->sregs.gdt.limit = 0x4f;
    c->sregs.cs = flat(cpl ? 0x1b : 0x08, 0xb, cpl, 1, 0);
    c->sregs.ss = flat(cpl ? 0x23 : 0x10, 0x3, cpl, 1, 0);
    c->sregs.ds = c->sregs.es = c->sregs.fs = c->sregs.gs = c->sregs.ss;
    c->sregs.ldt.unusable = 1;
    c->regs.rflags = 2;
    c->regs.rip = 0x5000;
}

/* Long mode with 4-level tables at 0x10000: 0-2M one 2M page (user), 2M-4M 4K pages identity-mapped
 * except 0x300000 (not present). */
static void long64(struct x86_emu_cpu *c, struct guest_memory *m, unsigned cpl)
{
    memset(c, 0, sizeof(*c));
    build_gdt(m);
    put64(m, 0x10000, 0x11000 | 7);
    put64(m, 0x11000, 0x12000 | 7);
    put64(m, 0x12000, 0x000000 | 7 | 0x80);
    put64(m, 0x12008, 0x13000 | 7);
    for (unsigned i = 0; i < 512; i++)
        put64(m, 0x13000 + i * 8, i == 256 ? 0 : (0x200000 + i * 0x1000ull) | 7);
    c->sregs.cr0 = 0x80010011;
    c->sregs.cr4 = 1u << 5;
    c->sregs.cr3 = 0x10000;
    c->sregs.efer = 0x500;
    c->sregs.gdt.base = GDT_BASE;
    c->sregs.gdt.limit = 0x4f;
    c->sregs.cs = flat(cpl ? 0x3b : 0x28, 0xb, cpl, 0, 1);
    c->sregs.ss = flat(cpl ? 0x23 : 0x10, 0x3, cpl, 1, 0);
    c->sregs.ds = c->sregs.es = c->sregs.ss;
    c->sregs.fs = c->sregs.gs = flat(0, 0x3, 0, 1, 0);
    c->sregs.ldt.unusable = 1;
    c->regs.rflags = 2;
    c->regs.rip = 0x5000;
}

#define EMU(bytes_...)                                                                       \
    do {                                                                                     \
        static const uint8_t code_[] = { bytes_ };                                           \
        x86_emulate(&cpu, &mem, code_, sizeof(code_), &res);                                 \
    } while (0)

/* ---- INT3, CLAC/STAC, FWAIT ---- */

TEST(int3_traps_with_next_rip)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.regs.rip = 0xffffffff81000000ull;
    EMU(0xcc);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 3);
    CHECK(!res.has_error_code);
    CHECK_EQ(cpu.regs.rip, 0xffffffff81000001ull);
    CHECK_EQ(res.len, 1);
    CHECK(!strcmp(res.mnemonic, "int3"));
    mem_free(&mem);
}

TEST(clac_stac_with_smap)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.sregs.cr4 |= 1u << 21;
    EMU(0x0f, 0x01, 0xcb);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(cpu.regs.rflags & FL_AC);
    CHECK_EQ(cpu.regs.rip, 0x5003);
    EMU(0x0f, 0x01, 0xca);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(!(cpu.regs.rflags & FL_AC));
    CHECK_EQ(cpu.regs.rip, 0x5006);
    CHECK(!strcmp(res.mnemonic, "clac"));
    mem_free(&mem);
}

TEST(clac_without_smap_or_at_cpl3_is_ud)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.regs.rflags |= FL_AC;
    EMU(0x0f, 0x01, 0xca);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 6);
    CHECK(cpu.regs.rflags & FL_AC);
    CHECK_EQ(cpu.regs.rip, 0x5000);
    long64(&cpu, &mem, 3);
    cpu.sregs.cr4 |= 1u << 21;
    EMU(0x0f, 0x01, 0xcb);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 6);
    mem_free(&mem);
}

TEST(fwait_nop_or_nm)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    EMU(0x9b);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rip, 0x5001);
    cpu.sregs.cr0 |= 0x2 | 0x8;   /* MP, TS */
    EMU(0x9b);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 7);
    CHECK(!res.has_error_code);
    CHECK_EQ(cpu.regs.rip, 0x5001);
    cpu.sregs.cr0 &= ~0x2ull;     /* TS without MP: no #NM for WAIT */
    EMU(0x9b);
    CHECK_EQ(res.status, X86_EMU_DONE);
    mem_free(&mem);
}

/* ---- POPCNT ---- */

TEST(popcnt_register_flags)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.regs.rbx = 0xf0f0f0f1;
    cpu.regs.rflags = 2 | FL_CF | FL_OF | FL_SF | FL_PF | FL_ZF;
    EMU(0xf3, 0x0f, 0xb8, 0xc3);   /* popcnt eax, ebx */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rax, 17);
    CHECK_EQ(cpu.regs.rflags, 2);
    CHECK_EQ(cpu.regs.rip, 0x5004);
    cpu.regs.rbx = 0;
    EMU(0xf3, 0x0f, 0xb8, 0xc3);
    CHECK_EQ(cpu.regs.rax, 0);
    CHECK_EQ(cpu.regs.rflags, 2 | FL_ZF);
    mem_free(&mem);
}

TEST(popcnt_16bit_real_mode_keeps_upper_bits)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    real_mode(&cpu);
    cpu.regs.rip = 0xfff0;
    cpu.regs.rax = 0x12345678;
    cpu.regs.rbx = 0xffff0007;
    EMU(0xf3, 0x0f, 0xb8, 0xc3);   /* popcnt ax, bx */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rax, 0x12340003);
    CHECK_EQ(cpu.regs.rip, 0xfff4);
    mem_free(&mem);
}

TEST(popcnt_memory_operand_real_mode_segment)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    real_mode(&cpu);
    cpu.sregs.es.selector = 0x2000;
    cpu.sregs.es.base = 0x20000;
    cpu.regs.rbx = 0x10;
    cpu.regs.rsi = 0x4;
    put16(&mem, 0x20000 + 0x10 + 0x4 + 0x2, 0x8001);
    EMU(0x26, 0xf3, 0x0f, 0xb8, 0x48, 0x02);   /* popcnt cx, es:[bx+si+2] */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rcx & 0xffff, 2);
    CHECK_EQ(res.len, 6);
    mem_free(&mem);
}

TEST(popcnt_64bit_memory_and_rip_relative)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    put64(&mem, 0x201008, 0xffffffffffffffffull);
    cpu.regs.rsi = 0x201000;
    EMU(0xf3, 0x48, 0x0f, 0xb8, 0x46, 0x08);   /* popcnt rax, [rsi+8] */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rax, 64);
    put32(&mem, 0x5000 + 9 + 0x100, 0x3);
    cpu.regs.rip = 0x5000;
    EMU(0xf3, 0x44, 0x0f, 0xb8, 0x1d, 0x00, 0x01, 0x00, 0x00);   /* popcnt r11d, [rip+0x100] */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.r11, 2);
    mem_free(&mem);
}

TEST(popcnt_memory_page_fault)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 3);
    cpu.regs.rsi = 0x300010;
    EMU(0xf3, 0x0f, 0xb8, 0x06);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 14);
    CHECK_EQ(res.error_code, 4);   /* user read, not present */
    CHECK_EQ(res.cr2, 0x300010);
    CHECK_EQ(cpu.regs.rip, 0x5000);
    mem_free(&mem);
}

/* ---- CMPXCHG8B / CMPXCHG16B ---- */

TEST(cmpxchg16b_equal_stores)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    put64(&mem, 0x201000, 0x1111);
    put64(&mem, 0x201008, 0x2222);
    cpu.regs.rdi = 0x201000;
    cpu.regs.rax = 0x1111, cpu.regs.rdx = 0x2222, cpu.regs.rbx = 0xaaaa, cpu.regs.rcx = 0xbbbb;
    EMU(0xf0, 0x48, 0x0f, 0xc7, 0x0f);   /* lock cmpxchg16b [rdi] */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(cpu.regs.rflags & FL_ZF);
    CHECK_EQ(get64(&mem, 0x201000), 0xaaaa);
    CHECK_EQ(get64(&mem, 0x201008), 0xbbbb);
    CHECK_EQ(cpu.regs.rax, 0x1111);
    CHECK_EQ(cpu.regs.rip, 0x5005);
    CHECK(!strcmp(res.mnemonic, "cmpxchg16b"));
    mem_free(&mem);
}

TEST(cmpxchg16b_unequal_loads)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    put64(&mem, 0x201010, 0x1111);
    put64(&mem, 0x201018, 0x3333);
    cpu.regs.rdi = 0x201010;
    cpu.regs.rflags |= FL_ZF;
    cpu.regs.rax = 0x1111, cpu.regs.rdx = 0x2222, cpu.regs.rbx = 0xaaaa, cpu.regs.rcx = 0xbbbb;
    EMU(0x48, 0x0f, 0xc7, 0x0f);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(!(cpu.regs.rflags & FL_ZF));
    CHECK_EQ(cpu.regs.rax, 0x1111);
    CHECK_EQ(cpu.regs.rdx, 0x3333);
    CHECK_EQ(get64(&mem, 0x201010), 0x1111);
    CHECK_EQ(get64(&mem, 0x201018), 0x3333);
    mem_free(&mem);
}

TEST(cmpxchg16b_misaligned_is_gp0)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.regs.rdi = 0x201008;
    EMU(0x48, 0x0f, 0xc7, 0x0f);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 13);
    CHECK(res.has_error_code);
    CHECK_EQ(res.error_code, 0);
    CHECK_EQ(cpu.regs.rip, 0x5000);
    mem_free(&mem);
}

TEST(cmpxchg16b_register_operand_is_ud)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    EMU(0x48, 0x0f, 0xc7, 0xc8);
    CHECK(res.status != X86_EMU_DONE);
    mem_free(&mem);
}

TEST(cmpxchg8b_32bit_and_split_operand)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    put64(&mem, 0x8000, 0x0000000500000004ull);
    cpu.regs.rax = 4, cpu.regs.rdx = 5, cpu.regs.rbx = 6, cpu.regs.rcx = 7;
    cpu.regs.rsi = 0x8000;
    EMU(0x0f, 0xc7, 0x0e);   /* cmpxchg8b [esi] */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(cpu.regs.rflags & FL_ZF);
    CHECK_EQ(get64(&mem, 0x8000), 0x0000000700000006ull);
    /* Operand straddling a page boundary, unequal: EDX:EAX loaded. */
    put64(&mem, 0x8ffc, 0x1122334455667788ull);
    cpu.regs.rsi = 0x8ffc;
    EMU(0x0f, 0xc7, 0x0e);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(!(cpu.regs.rflags & FL_ZF));
    CHECK_EQ(cpu.regs.rax, 0x55667788);
    CHECK_EQ(cpu.regs.rdx, 0x11223344);
    CHECK_EQ(get64(&mem, 0x8ffc), 0x1122334455667788ull);
    /* Read-only data segment: #GP(0). */
    cpu.sregs.ds = flat(0x40, 0x1, 0, 1, 0);
    EMU(0x0f, 0xc7, 0x0e);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 13);
    mem_free(&mem);
}

/* ---- IRET ---- */

TEST(iret_real_mode_16bit)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    real_mode(&cpu);
    cpu.sregs.ss.base = 0x7000;
    cpu.sregs.ss.selector = 0x700;
    cpu.regs.rsp = 0xfffa;
    put16(&mem, 0x7000 + 0xfffa, 0x1234);   /* IP */
    put16(&mem, 0x7000 + 0xfffc, 0xf000);   /* CS */
    put16(&mem, 0x7000 + 0xfffe, 0x3202 | FL_CF | 0x8000);   /* FLAGS (bit 15 cannot be set) */
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(res.sregs_changed);
    CHECK_EQ(cpu.regs.rip, 0x1234);
    CHECK_EQ(cpu.sregs.cs.selector, 0xf000);
    CHECK_EQ(cpu.sregs.cs.base, 0xf0000);
    CHECK_EQ(cpu.regs.rflags, 0x3203);
    CHECK_EQ(cpu.regs.rsp, 0x10000 & 0xffff);
    CHECK(!strcmp(res.mnemonic, "iret"));
    mem_free(&mem);
}

TEST(iretd_real_mode_and_stack_limit)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    real_mode(&cpu);
    cpu.regs.rsp = 0x100;
    cpu.regs.rflags = 2 | FL_VM >> 0 * 0;   /* VM kept from the old value in real mode */
    cpu.regs.rflags = 2;
    put32(&mem, 0x100, 0x00005678);
    put32(&mem, 0x104, 0x0000abcd);
    put32(&mem, 0x108, 0x00240202 | FL_AC);
    EMU(0x66, 0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rip, 0x5678);
    CHECK_EQ(cpu.sregs.cs.base, 0xabcd0);
    CHECK_EQ(cpu.regs.rflags, 0x00240202);
    CHECK_EQ(cpu.regs.rsp, 0x10c);
    /* Frame beyond the SS limit: #SS(0). */
    real_mode(&cpu);
    cpu.regs.rsp = 0xfffc;
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 12);
    CHECK_EQ(cpu.regs.rsp, 0xfffc);
    mem_free(&mem);
}

TEST(iret_32bit_same_privilege)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x00401000);
    put32(&mem, 0x9004, 0x08);
    put32(&mem, 0x9008, 0x2 | FL_IF | FL_ZF | FL_IOPL);
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(res.sregs_changed);
    CHECK_EQ(cpu.regs.rip, 0x401000);
    CHECK_EQ(cpu.regs.rsp, 0x900c);
    CHECK_EQ(cpu.regs.rflags, 0x2 | FL_IF | FL_ZF | FL_IOPL);
    CHECK_EQ(cpu.sregs.cs.selector, 0x08);
    CHECK_EQ(cpu.sregs.cs.limit, 0xffffffff);
    CHECK_EQ(cpu.sregs.cs.type, 0xb);
    CHECK_EQ(cpu.sregs.cs.db, 1);
    CHECK_EQ(cpu.sregs.cs.g, 1);
    CHECK_EQ(cpu.sregs.cs.present, 1);
    mem_free(&mem);
}

/* X86_QUIRK_FLAT_EVENT_FRAMES: with SS based at 0x100000, the host wrote an interrupt frame at linear
 * ESP (0x9000) instead of SS.base + ESP; IRET takes it only when the frame at SS:ESP is not valid. */
TEST(iret_flat_event_frame_quirk)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.sregs.ss.base = 0x100000;
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x109000, 0x138ef);          /* stale stack contents: CS 0x800 is past the GDT limit */
    put32(&mem, 0x109004, 0x800);
    put32(&mem, 0x109008, 0x1396e);
    put32(&mem, 0x9000, 0x12d9a);            /* the frame the host wrote */
    put32(&mem, 0x9004, 0x08);
    put32(&mem, 0x9008, 0x246);
    struct x86_emu_cpu before = cpu;
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);   /* without the quirk: architectural #GP(0x800) */
    CHECK_EQ(res.vector, 13);
    CHECK_EQ(res.error_code, 0x800);
    x86_emu_set_quirks(X86_QUIRK_FLAT_EVENT_FRAMES);
    cpu = before;
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rip, 0x12d9a);
    CHECK_EQ(cpu.regs.rsp, 0x900c);
    CHECK_EQ(cpu.regs.rflags, 0x246);
    /* A valid frame at SS:ESP is still the one taken. */
    cpu = before;
    put32(&mem, 0x109000, 0x4000);
    put32(&mem, 0x109004, 0x08);
    put32(&mem, 0x109008, 0x202);
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rip, 0x4000);
    /* Neither frame valid: the first outcome stands, registers untouched. */
    cpu = before;
    put32(&mem, 0x109004, 0x800);
    put32(&mem, 0x9004, 0x30);               /* not present */
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 13);
    CHECK_EQ(res.error_code, 0x800);
    CHECK_EQ(cpu.regs.rip, before.regs.rip);
    CHECK_EQ(cpu.regs.rsp, 0x9000);
    x86_emu_set_quirks(0);
    mem_free(&mem);
}

TEST(iret_32bit_to_16bit_code_segment)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x1234);
    put32(&mem, 0x9004, 0x48);
    put32(&mem, 0x9008, 0x2);
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.sregs.cs.base, 0x10000);
    CHECK_EQ(cpu.sregs.cs.limit, 0xffff);
    CHECK_EQ(cpu.sregs.cs.db, 0);
    CHECK_EQ(cpu.sregs.cs.g, 0);
    /* Return IP beyond the new CS limit: #GP(0). */
    cpu = (struct x86_emu_cpu){ 0 };
    prot32(&cpu, &mem, 0);
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x12345);
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 13);
    CHECK_EQ(res.error_code, 0);
    mem_free(&mem);
}

TEST(iret_32bit_to_ring3_pops_ss_esp)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x08048000);
    put32(&mem, 0x9004, 0x1b);
    put32(&mem, 0x9008, 0x2 | FL_IF);
    put32(&mem, 0x900c, 0xbffff000);
    put32(&mem, 0x9010, 0x23);
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rip, 0x08048000);
    CHECK_EQ(cpu.regs.rsp, 0xbffff000);
    CHECK_EQ(cpu.sregs.cs.selector, 0x1b);
    CHECK_EQ(cpu.sregs.cs.dpl, 3);
    CHECK_EQ(cpu.sregs.ss.selector, 0x23);
    CHECK_EQ(cpu.sregs.ss.dpl, 3);
    CHECK_EQ(cpu.sregs.ss.type, 0x3);
    CHECK(cpu.regs.rflags & FL_IF);
    /* Ring-0 data segments are dropped on the way out. */
    CHECK_EQ(cpu.sregs.ds.selector, 0);
    CHECK(cpu.sregs.ds.unusable);
    /* The CPU marks the loaded descriptors accessed. */
    CHECK(get64(&mem, GDT_BASE + 0x18) & (1ull << 40));
    mem_free(&mem);
}

TEST(iret_ring3_cannot_change_iopl_or_if)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 3);
    cpu.regs.rflags = 2 | FL_IF;
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x1000);
    put32(&mem, 0x9004, 0x1b);
    put32(&mem, 0x9008, 0x2 | FL_IOPL | FL_CF);   /* tries IOPL=3, IF=0 */
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rflags, 2 | FL_IF | FL_CF);
    mem_free(&mem);
}

TEST(iret_bad_selectors_raise_gp)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    static const struct { uint16_t cs; uint32_t err; } cases[] = {
        { 0x0000, 0 },      /* null */
        { 0x0098, 0x98 },   /* beyond the GDT limit */
        { 0x0010, 0x10 },   /* a data segment */
        { 0x0009, 0x08 },   /* RPL 1 != DPL 0 (non-conforming) */
        { 0x000c, 0x0c },   /* LDT selector without an LDT */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        prot32(&cpu, &mem, 0);
        cpu.regs.rsp = 0x9000;
        put32(&mem, 0x9000, 0x1000);
        put32(&mem, 0x9004, cases[i].cs);
        put32(&mem, 0x9008, 0x2);
        EMU(0xcf);
        CHECK_EQ(res.status, X86_EMU_EXCEPTION);
        CHECK_EQ(res.vector, 13);
        CHECK(res.has_error_code);
        CHECK_EQ(res.error_code, cases[i].err);
        CHECK_EQ(cpu.regs.rsp, 0x9000);
        CHECK_EQ(cpu.sregs.cs.selector, 0x08);
    }
    /* RPL < CPL */
    prot32(&cpu, &mem, 3);
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9004, 0x08);
    EMU(0xcf);
    CHECK_EQ(res.vector, 13);
    CHECK_EQ(res.error_code, 0x08);
    mem_free(&mem);
}

TEST(iret_not_present_cs_is_np)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x1000);
    put32(&mem, 0x9004, 0x30);
    put32(&mem, 0x9008, 0x2);
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 11);
    CHECK_EQ(res.error_code, 0x30);
    mem_free(&mem);
}

TEST(iret_outer_bad_ss_raises_gp)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x1000);
    put32(&mem, 0x9004, 0x1b);
    put32(&mem, 0x9008, 0x2);
    put32(&mem, 0x900c, 0x1000);
    put32(&mem, 0x9010, 0x13);   /* ring-0 data with RPL 3 */
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 13);
    CHECK_EQ(res.error_code, 0x10);
    CHECK_EQ(cpu.sregs.cs.selector, 0x08);
    mem_free(&mem);
}

TEST(iret_task_return_and_vm86_unhandled)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.regs.rflags |= FL_NT;
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_UNHANDLED);
    CHECK(strstr(res.mnemonic, "iretd") && strstr(res.mnemonic, "task"));
    prot32(&cpu, &mem, 0);
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x1000);
    put32(&mem, 0x9004, 0x1b);
    put32(&mem, 0x9008, 0x2 | FL_VM);
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_UNHANDLED);
    CHECK(strstr(res.mnemonic, "vm86"));
    CHECK_EQ(cpu.regs.rip, 0x5000);
    mem_free(&mem);
}

TEST(iretq_64bit_same_privilege)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.regs.rip = 0x5000;
    cpu.regs.rsp = 0x201fd8;
    put64(&mem, 0x201fd8, 0xffffffff81234567ull);
    put64(&mem, 0x201fe0, 0x28);
    put64(&mem, 0x201fe8, 0x2 | FL_IF | FL_AC);
    put64(&mem, 0x201ff0, 0x202ff8);
    put64(&mem, 0x201ff8, 0x10);
    EMU(0x48, 0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rip, 0xffffffff81234567ull);
    CHECK_EQ(cpu.regs.rsp, 0x202ff8);
    CHECK_EQ(cpu.regs.rflags, 0x2 | FL_IF | FL_AC);
    CHECK_EQ(cpu.sregs.cs.l, 1);
    CHECK_EQ(cpu.sregs.ss.selector, 0x10);
    CHECK(!strcmp(res.mnemonic, "iretq"));
    /* Non-canonical return RIP: #GP(0). */
    long64(&cpu, &mem, 0);
    cpu.regs.rsp = 0x201fd8;
    put64(&mem, 0x201fd8, 0x0000800000000000ull);
    EMU(0x48, 0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 13);
    mem_free(&mem);
}

TEST(iretq_null_ss_allowed_in_ring0)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.regs.rsp = 0x201fd8;
    put64(&mem, 0x201fd8, 0x1000);
    put64(&mem, 0x201fe0, 0x28);
    put64(&mem, 0x201fe8, 0x2);
    put64(&mem, 0x201ff0, 0x1ff000);
    put64(&mem, 0x201ff8, 0);
    EMU(0x48, 0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.sregs.ss.selector, 0);
    CHECK(cpu.sregs.ss.unusable);
    CHECK_EQ(cpu.sregs.ss.dpl, 0);
    CHECK_EQ(cpu.regs.rsp, 0x1ff000);
    mem_free(&mem);
}

TEST(iretq_to_ring3)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.regs.rsp = 0x201fd8;
    put64(&mem, 0x201fd8, 0x400000);
    put64(&mem, 0x201fe0, 0x3b);
    put64(&mem, 0x201fe8, 0x2 | FL_IF | FL_IOPL);
    put64(&mem, 0x201ff0, 0x7ffffffff000ull);
    put64(&mem, 0x201ff8, 0x23);
    EMU(0x48, 0xcf);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rip, 0x400000);
    CHECK_EQ(cpu.regs.rsp, 0x7ffffffff000ull);
    CHECK_EQ(cpu.sregs.cs.selector, 0x3b);
    CHECK_EQ(cpu.sregs.cs.dpl, 3);
    CHECK_EQ(cpu.sregs.ss.dpl, 3);
    CHECK_EQ(cpu.regs.rflags, 0x2 | FL_IF | FL_IOPL);   /* CPL 0 may set IOPL */
    /* Null SS returning to ring 3: #GP(0). */
    long64(&cpu, &mem, 0);
    cpu.regs.rsp = 0x201fd8;
    put64(&mem, 0x201ff8, 0x3);
    EMU(0x48, 0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 13);
    CHECK_EQ(res.error_code, 0);
    mem_free(&mem);
}

TEST(iretq_unmapped_stack_page_faults)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.regs.rsp = 0x300f00;   /* page 0x300000 is not mapped */
    EMU(0x48, 0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 14);
    CHECK(res.has_error_code);
    CHECK_EQ(res.error_code, 0);
    CHECK_EQ(res.cr2, 0x300f00);
    CHECK_EQ(cpu.regs.rip, 0x5000);
    CHECK_EQ(cpu.regs.rsp, 0x300f00);
    /* The frame starts on a mapped page and runs into the unmapped one: CR2 is the page start. */
    cpu.regs.rsp = 0x2ffff0;
    EMU(0x48, 0xcf);
    CHECK_EQ(res.vector, 14);
    CHECK_EQ(res.cr2, 0x300000);
    /* Non-canonical stack: #SS(0). */
    cpu.regs.rsp = 0x0000800000000000ull;
    EMU(0x48, 0xcf);
    CHECK_EQ(res.vector, 12);
    mem_free(&mem);
}

/* ---- VERW, unhandled instructions ---- */

TEST(verw_sets_zf_per_selector)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    put16(&mem, 0x5000 + 7 + 0x20, 0x10);
    EMU(0x0f, 0x00, 0x2d, 0x20, 0x00, 0x00, 0x00);   /* verw [rip+0x20] */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(cpu.regs.rflags & FL_ZF);
    CHECK_EQ(cpu.regs.rip, 0x5007);
    cpu.regs.rax = 0x08;   /* code: not writable */
    EMU(0x0f, 0x00, 0xe8);
    CHECK(!(cpu.regs.rflags & FL_ZF));
    cpu.regs.rax = 0x10;
    long64(&cpu, &mem, 3);
    cpu.regs.rax = 0x10;   /* ring-0 data from ring 3 */
    EMU(0x0f, 0x00, 0xe8);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK(!(cpu.regs.rflags & FL_ZF));
    cpu.regs.rax = 0x23;
    EMU(0x0f, 0x00, 0xe8);
    CHECK(cpu.regs.rflags & FL_ZF);
    real_mode(&cpu);
    EMU(0x0f, 0x00, 0xe8);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 6);
    mem_free(&mem);
}

TEST(unhandled_instructions_are_named)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    EMU(0x0f, 0xae, 0x10);
    CHECK_EQ(res.status, X86_EMU_UNHANDLED);
    CHECK(!strcmp(res.mnemonic, "ldmxcsr"));
    CHECK_EQ(res.len, 3);
    EMU(0x48, 0x0f, 0xae, 0x2f);
    CHECK(!strcmp(res.mnemonic, "xrstor"));
    EMU(0x0f, 0x0b);
    CHECK(!strcmp(res.mnemonic, "ud2"));
    EMU(0xc5, 0xf8, 0x77);
    CHECK_EQ(res.status, X86_EMU_UNHANDLED);
    CHECK_EQ(res.len, 0);
    CHECK_EQ(cpu.regs.rip, 0x5000);
    mem_free(&mem);
}

/* ---- fetching and hostile input ---- */

TEST(fetch_from_memory_when_bytes_missing_or_short)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    static const uint8_t code[] = { 0xf3, 0x48, 0x0f, 0xb8, 0xc3 };
    mem_write(&mem, 0x5000, code, sizeof(code));
    cpu.regs.rbx = 0xff;
    x86_emulate(&cpu, &mem, code, 2, &res);   /* KVM gave only two bytes */
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rax, 8);
    CHECK_EQ(cpu.regs.rip, 0x5005);
    mem_write(&mem, 0x5005, code, sizeof(code));
    cpu.regs.rbx = 0xf;
    x86_emulate(&cpu, &mem, NULL, 0, &res);
    CHECK_EQ(res.status, X86_EMU_DONE);
    CHECK_EQ(cpu.regs.rax, 4);
    uint8_t buf[15];
    cpu.regs.rip = 0x2fffff;   /* one byte before the unmapped page */
    CHECK_EQ(x86_fetch_insn(&cpu, &mem, buf, sizeof(buf)), 1);
    cpu.regs.rip = 0x300000;
    CHECK_EQ(x86_fetch_insn(&cpu, &mem, buf, sizeof(buf)), -EFAULT);
    mem_free(&mem);
}

TEST(fetch_page_fault_is_reported)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.sregs.efer |= 0x800;   /* NXE: fetch faults report I/D */
    static const uint8_t head[] = { 0xf3, 0x48, 0x0f };
    mem_write(&mem, 0x2ffffd, head, sizeof(head));
    cpu.regs.rip = 0x2ffffd;
    x86_emulate(&cpu, &mem, NULL, 0, &res);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 14);
    CHECK_EQ(res.cr2, 0x300000);
    CHECK_EQ(res.error_code, 0x10);   /* instruction fetch, not present (NXE set) */
    mem_free(&mem);
}

TEST(rip_outside_ram_is_unhandled)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    uint8_t buf[15];
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    real_mode(&cpu);
    cpu.sregs.cs.base = 0xfffff000;
    cpu.regs.rip = 0xff0;
    x86_emulate(&cpu, &mem, NULL, 0, &res);
    CHECK_EQ(res.status, X86_EMU_UNHANDLED);
    CHECK_EQ(res.len, 0);
    CHECK(strstr(res.mnemonic, "outside RAM"));
    CHECK_EQ(x86_fetch_insn(&cpu, &mem, buf, sizeof(buf)), -ENXIO);
    mem_free(&mem);
}

TEST(gdt_outside_ram_does_not_crash)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    prot32(&cpu, &mem, 0);
    cpu.sregs.gdt.base = 0xf0000000;   /* not RAM */
    cpu.regs.rsp = 0x9000;
    put32(&mem, 0x9000, 0x1000);
    put32(&mem, 0x9004, 0x08);
    put32(&mem, 0x9008, 0x2);
    EMU(0xcf);
    CHECK_EQ(res.status, X86_EMU_UNHANDLED);
    CHECK(strstr(res.mnemonic, "not in RAM"));
    CHECK_EQ(cpu.sregs.cs.selector, 0x08);
    CHECK_EQ(cpu.regs.rsp, 0x9000);
    /* A GDT in unmapped linear memory under paging: #PF, supervisor read. */
    long64(&cpu, &mem, 3);
    cpu.sregs.gdt.base = 0x300000;
    cpu.regs.rsp = 0x201fd8;
    put64(&mem, 0x201fd8, 0x1000);
    put64(&mem, 0x201fe0, 0x3b);
    EMU(0x48, 0xcf);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 14);
    CHECK_EQ(res.error_code, 0);
    CHECK_EQ(res.cr2, 0x300038);
    mem_free(&mem);
}

TEST(truncated_and_overlong_bytes)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    real_mode(&cpu);
    cpu.sregs.cs.base = 0xffff0000;   /* memory cannot complete the bytes */
    static const uint8_t partial[] = { 0xf3, 0x0f };
    x86_emulate(&cpu, &mem, partial, sizeof(partial), &res);
    CHECK_EQ(res.status, X86_EMU_UNHANDLED);
    CHECK_EQ(res.len, 0);
    uint8_t longer[20];
    memset(longer, 0x66, sizeof(longer));
    x86_emulate(&cpu, &mem, longer, sizeof(longer), &res);
    CHECK_EQ(res.status, X86_EMU_EXCEPTION);
    CHECK_EQ(res.vector, 13);
    mem_free(&mem);
}

/* Random bytes and registers in every mode: no crash, no access outside guest RAM (ASan). */
TEST(random_input_never_crashes)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    CHECK_EQ(mem_init_ram(&mem, 4u << 20), 0);
    for (int iter = 0; iter < 30000; iter++) {
        uint8_t bytes[15];
        uint64_t r[8];
        for (int i = 0; i < 8; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            r[i] = x;
        }
        memcpy(bytes, r, sizeof(bytes));
        static const uint8_t interesting[] = { 0xcc, 0xcf, 0x9b, 0x0f, 0xf3, 0x48, 0x66, 0xf0 };
        bytes[0] = interesting[r[7] % sizeof(interesting)];
        if (bytes[0] == 0x0f)
            bytes[1] = (uint8_t[]){ 0x01, 0xb8, 0xc7, 0x00 }[r[6] % 4];
        switch (iter % 4) {
        case 0: real_mode(&cpu); break;
        case 1: prot32(&cpu, &mem, r[5] & 1 ? 3 : 0); break;
        default: long64(&cpu, &mem, r[5] & 1 ? 3 : 0); break;
        }
        cpu.regs.rsp = (r[5] & 2) ? r[4] : (r[4] & 0x3fffff);
        cpu.regs.rsi = (r[5] & 4) ? r[3] : (r[3] & 0x3fffff);
        cpu.regs.rdi = r[2] & ~0xfull & 0x3fffff;
        cpu.regs.rflags = (r[1] & 0x3f7fd5) | 2;
        if (r[5] & 8)
            cpu.sregs.gdt.base = r[0];
        if (r[5] & 16)
            cpu.sregs.gdt.limit = 0xffff;
        if (r[5] & 32)
            cpu.sregs.cr3 = r[1] & 0xfffff000;
        mem_write(&mem, cpu.regs.rsp & 0x3fffff & ~7ull, r, 40 - 8 * (r[5] & 1));
        x86_emulate(&cpu, &mem, bytes, r[6] % 16, &res);
        CHECK(res.status <= X86_EMU_UNHANDLED);
        CHECK(res.mnemonic[sizeof(res.mnemonic) - 1] == 0);
        if (res.status == X86_EMU_DONE)
            CHECK(res.len > 0 && res.len <= 15);
    }
    mem_free(&mem);
}

TEST(report_format)
{
    struct guest_memory mem;
    struct x86_emu_cpu cpu;
    struct x86_emu_result res;
    char *text = NULL;
    size_t size = 0;
    CHECK_EQ(mem_init_ram(&mem, RAM_SIZE), 0);
    long64(&cpu, &mem, 0);
    cpu.sregs.cs.selector = 0x10;
    cpu.regs.rip = 0xffffffff81000000ull;
    static const uint8_t code[] = { 0x0f, 0xae, 0x10 };
    x86_emulate(&cpu, &mem, code, sizeof(code), &res);
    FILE *out = open_memstream(&text, &size);
    CHECK(out != NULL);
    x86_emu_report(out, &cpu, code, sizeof(code), &res);
    fclose(out);
    const char *first = "vmm: guest instruction not emulated: 0f ae 10 (ldmxcsr) at cs:rip 0010:ffffffff81000000\n";
    int starts = !strncmp(text, first, strlen(first));
    int has_regs = strstr(text, "rax=") && strstr(text, "cr3=") && strstr(text, "  cs=0010");
    free(text);
    CHECK(starts);
    CHECK(has_regs);
    mem_free(&mem);
}

TEST_MAIN()
