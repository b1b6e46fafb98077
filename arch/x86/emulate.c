/* x86 emulation assist executor: INT3, CLAC/STAC, POPCNT, IRET, CMPXCHG8B/16B, FWAIT, VERW (SDM vol 2). */
#include "arch/x86/emulate.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "arch/x86/decode.h"
#include "arch/x86/pagewalk.h"

/* RFLAGS bits (SDM vol 1 3.4.3). */
#define FL_CF (1ull << 0)
#define FL_FIXED (1ull << 1)
#define FL_PF (1ull << 2)
#define FL_AF (1ull << 4)
#define FL_ZF (1ull << 6)
#define FL_SF (1ull << 7)
#define FL_TF (1ull << 8)
#define FL_IF (1ull << 9)
#define FL_DF (1ull << 10)
#define FL_OF (1ull << 11)
#define FL_IOPL (3ull << 12)
#define FL_NT (1ull << 14)
#define FL_RF (1ull << 16)
#define FL_VM (1ull << 17)
#define FL_AC (1ull << 18)
#define FL_VIF (1ull << 19)
#define FL_VIP (1ull << 20)
#define FL_ID (1ull << 21)

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_TS (1ull << 3)
#define CR4_SMAP (1ull << 21)
#define EFER_LMA (1ull << 10)

/* Segment descriptor type bits (SDM vol 3A 3.4.5.1). */
#define SEG_TYPE_ACCESSED 0x1
#define SEG_TYPE_RW 0x2          /* data: writable; code: readable */
#define SEG_TYPE_DC 0x4          /* data: expand-down; code: conforming */
#define SEG_TYPE_CODE 0x8

/* Internal outcome of a step: EMU_OK to go on, EMU_STOP when res already holds the final status. */
enum { EMU_OK = 0, EMU_STOP = -1 };

static unsigned host_quirks;

void x86_emu_set_quirks(unsigned quirks) { host_quirks = quirks; }

/* Everything one emulation needs. */
struct emu {
    struct x86_emu_cpu *cpu;
    const struct guest_memory *mem;
    struct x86_emu_result *res;
    struct x86_insn in;
    enum x86_mode mode;
    bool vm86;
    unsigned cpl;
};

/* ---- outcomes ---- */

static int raise_exc(struct emu *e, uint8_t vector, bool has_error_code, uint32_t error_code)
{
    e->res->status = X86_EMU_EXCEPTION;
    e->res->vector = vector;
    e->res->has_error_code = has_error_code;
    e->res->error_code = has_error_code ? error_code : 0;
    return EMU_STOP;
}

static int raise_gp(struct emu *e, uint32_t error_code) { return raise_exc(e, X86_VEC_GP, true, error_code); }
static int raise_ud(struct emu *e) { return raise_exc(e, X86_VEC_UD, false, 0); }

/* Selector error code: index and TI, RPL bits replaced by EXT = IDT = 0 (SDM vol 3A 6.13). */
static uint32_t sel_error(uint16_t selector) { return selector & 0xfffcu; }

static int unhandled(struct emu *e, const char *why)
{
    char name[sizeof(e->res->mnemonic)];
    memcpy(name, e->res->mnemonic, sizeof(name));
    name[sizeof(name) - 1] = 0;
    e->res->status = X86_EMU_UNHANDLED;
    char text[96] = "";
    snprintf(text, sizeof(text), "%.16s: %s", name[0] ? name : "?", why);
    memcpy(e->res->mnemonic, text, sizeof(e->res->mnemonic) - 1);
    e->res->mnemonic[sizeof(e->res->mnemonic) - 1] = 0;
    return EMU_STOP;
}

/* ---- registers ---- */

static __u64 *gpr(struct kvm_regs *r, int n)
{
    static const size_t offsets[16] = {
        offsetof(struct kvm_regs, rax), offsetof(struct kvm_regs, rcx), offsetof(struct kvm_regs, rdx),
        offsetof(struct kvm_regs, rbx), offsetof(struct kvm_regs, rsp), offsetof(struct kvm_regs, rbp),
        offsetof(struct kvm_regs, rsi), offsetof(struct kvm_regs, rdi), offsetof(struct kvm_regs, r8),
        offsetof(struct kvm_regs, r9), offsetof(struct kvm_regs, r10), offsetof(struct kvm_regs, r11),
        offsetof(struct kvm_regs, r12), offsetof(struct kvm_regs, r13), offsetof(struct kvm_regs, r14),
        offsetof(struct kvm_regs, r15),
    };
    return (__u64 *)((char *)r + offsets[n & 15]);
}

static uint64_t size_mask(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* Register write with x86 width rules: 16-bit merges, 32-bit zero-extends (SDM vol 1 3.4.1.1). */
static void set_gpr(struct emu *e, int n, unsigned size, uint64_t value)
{
    __u64 *r = gpr(&e->cpu->regs, n);
    if (size == 2)
        *r = (*r & ~0xffffull) | (value & 0xffff);
    else
        *r = value & size_mask(size);
}

static struct kvm_segment *seg_reg(struct kvm_sregs *s, int seg)
{
    switch (seg) {
    case X86_SEG_ES: return &s->es;
    case X86_SEG_CS: return &s->cs;
    case X86_SEG_SS: return &s->ss;
    case X86_SEG_FS: return &s->fs;
    case X86_SEG_GS: return &s->gs;
    default: return &s->ds;
    }
}

static bool long_mode_active(const struct emu *e) { return e->cpu->sregs.efer & EFER_LMA; }

/* Truncate a linear address outside IA-32e mode (SDM vol 3A 3.4). */
static uint64_t linear_wrap(const struct emu *e, uint64_t linear)
{
    return long_mode_active(e) ? linear : (uint32_t)linear;
}

static void advance_rip(struct emu *e)
{
    uint64_t next = e->cpu->regs.rip + e->in.len;
    if (e->mode == X86_MODE_LONG64)
        e->cpu->regs.rip = next;
    else if (e->mode == X86_MODE_PROT32)
        e->cpu->regs.rip = (uint32_t)next;
    else
        e->cpu->regs.rip = (uint16_t)next;
}

/* Successful completion: next instruction, RF cleared (SDM vol 3A 18.3.1.1). */
static int finish(struct emu *e)
{
    advance_rip(e);
    e->cpu->regs.rflags &= ~FL_RF;
    e->res->status = X86_EMU_DONE;
    return EMU_OK;
}

/* ---- memory: segmentation, paging, guest RAM ---- */

/* Segment limit check, expand-up or expand-down (SDM vol 3A 5.3). */
static bool within_limit(const struct kvm_segment *s, uint64_t offset, unsigned size, bool protected_mode)
{
    uint64_t last = offset + size - 1;
    bool expand_down = protected_mode && s->s && !(s->type & SEG_TYPE_CODE) && (s->type & SEG_TYPE_DC);
    if (expand_down) {
        uint64_t upper = s->db ? 0xffffffffull : 0xffffull;
        return offset > s->limit && last <= upper;
    }
    return last <= s->limit;
}

/* Segment-relative offset -> linear address with the checks of SDM vol 3A 5.3-5.6 (#GP(0) or #SS(0)). */
static int seg_linear(struct emu *e, int seg, uint64_t offset, unsigned size, bool write, uint64_t *linear)
{
    const struct kvm_sregs *sr = &e->cpu->sregs;
    const struct kvm_segment *s = seg_reg(&e->cpu->sregs, seg);
    uint8_t vector = seg == X86_SEG_SS ? X86_VEC_SS : X86_VEC_GP;
    if (e->mode == X86_MODE_LONG64) {
        uint64_t base = (seg == X86_SEG_FS || seg == X86_SEG_GS) ? s->base : 0;
        *linear = base + offset;
        if (!x86_is_canonical(sr, *linear) || !x86_is_canonical(sr, *linear + size - 1))
            return raise_exc(e, vector, true, 0);
        return EMU_OK;
    }
    bool protected_mode = e->mode != X86_MODE_REAL && !e->vm86;
    if (protected_mode) {
        bool code = s->type & SEG_TYPE_CODE;
        if (s->unusable || !s->present)
            return raise_exc(e, vector, true, 0);
        if (write && (code || !(s->type & SEG_TYPE_RW)))
            return raise_exc(e, vector, true, 0);
        if (!write && code && !(s->type & SEG_TYPE_RW))
            return raise_exc(e, vector, true, 0);
    }
    if (!within_limit(s, offset, size, protected_mode))
        return raise_exc(e, vector, true, 0);
    *linear = linear_wrap(e, s->base + offset);
    return EMU_OK;
}

/* Paging access kind for a data access; implicit accesses (descriptor tables) are supervisor ones. */
static unsigned data_access(const struct emu *e, bool write, bool implicit)
{
    unsigned a = write ? X86_ACC_WRITE : 0;
    if (!implicit && e->cpl == 3)
        return a | X86_ACC_USER;
    if (implicit || !(e->cpu->regs.rflags & FL_AC))
        a |= X86_ACC_SMAP;
    return a;
}

static int translate(struct emu *e, uint64_t linear, unsigned access, uint64_t *gpa)
{
    uint32_t error;
    int rc = x86_translate(&e->cpu->sregs, e->mem, linear, access, gpa, &error);
    if (rc == -EINVAL)
        return raise_gp(e, 0);
    if (rc) {
        e->res->cr2 = linear;
        return raise_exc(e, X86_VEC_PF, true, error);
    }
    return EMU_OK;
}

/* Guest-physical pieces of a linear range that may cross page boundaries. */
struct phys_range {
    uint64_t gpa[4];
    unsigned len[4];
    int n;
};

/* Translate [linear, linear+size) page by page; a fault on any page stops before anything is touched. */
static int translate_range(struct emu *e, uint64_t linear, unsigned size, unsigned access, struct phys_range *r)
{
    r->n = 0;
    if (size > 64)
        return unhandled(e, "operand too large");
    for (unsigned done = 0; done < size; r->n++) {
        uint64_t lin = linear_wrap(e, linear + done);
        unsigned chunk = 4096 - (unsigned)(lin & 0xfff);
        if (chunk > size - done)
            chunk = size - done;
        if (translate(e, lin, access, &r->gpa[r->n]))
            return EMU_STOP;
        r->len[r->n] = chunk;
        done += chunk;
    }
    return EMU_OK;
}

/* Copy between `buf` and guest RAM. Non-RAM (MMIO) operands are not carried out here. */
static int range_copy(struct emu *e, const struct phys_range *r, void *buf, bool write)
{
    for (int i = 0; i < r->n; i++) {
        void *hva = write ? mem_gpa_to_hva_rw(e->mem, r->gpa[i], r->len[i]) : mem_gpa_to_hva(e->mem, r->gpa[i], r->len[i]);
        if (!hva)
            return unhandled(e, "operand not in RAM");
    }
    uint8_t *p = buf;
    for (int i = 0; i < r->n; i++) {
        int rc = write ? mem_write(e->mem, r->gpa[i], p, r->len[i]) : mem_read(e->mem, r->gpa[i], p, r->len[i]);
        if (rc)
            return unhandled(e, "operand not in RAM");
        p += r->len[i];
    }
    return EMU_OK;
}

/* Read or write [linear, linear+size) through the page tables. */
static int linear_rw(struct emu *e, uint64_t linear, void *buf, unsigned size, unsigned access)
{
    struct phys_range r;
    if (translate_range(e, linear, size, access, &r))
        return EMU_STOP;
    return range_copy(e, &r, buf, access & X86_ACC_WRITE);
}

static uint64_t next_rip(const struct emu *e) { return e->cpu->regs.rip + e->in.len; }

/* Effective address of the ModRM memory operand (SDM vol 1 3.7.5), wrapped to the address size. */
static uint64_t effective_address(struct emu *e)
{
    const struct x86_insn *in = &e->in;
    uint64_t ea = (uint64_t)in->disp;
    if (in->base == X86_RIP_REL)
        ea += next_rip(e);
    else if (in->base != X86_NO_REG)
        ea += *gpr(&e->cpu->regs, in->base);
    if (in->index != X86_NO_REG)
        ea += *gpr(&e->cpu->regs, in->index) * in->scale;
    return ea & size_mask(in->addrsize);
}

static int operand_segment(const struct emu *e)
{
    return e->in.seg_override != X86_SEG_NONE ? e->in.seg_override : e->in.default_seg;
}

/* Linear address of the ModRM memory operand, with segment checks. */
static int operand_linear(struct emu *e, unsigned size, bool write, uint64_t *linear)
{
    return seg_linear(e, operand_segment(e), effective_address(e), size, write, linear);
}

/* Value of the r/m operand (register or memory), `size` bytes. */
static int read_rm(struct emu *e, unsigned size, uint64_t *value)
{
    if (!e->in.mem) {
        *value = *gpr(&e->cpu->regs, e->in.rm) & size_mask(size);
        return EMU_OK;
    }
    uint64_t linear, v = 0;
    if (operand_linear(e, size, false, &linear) || linear_rw(e, linear, &v, size, data_access(e, false, false)))
        return EMU_STOP;
    *value = v & size_mask(size);
    return EMU_OK;
}

/* ---- stack ---- */

static unsigned stack_size(const struct emu *e)
{
    if (e->mode == X86_MODE_LONG64)
        return 8;
    return e->cpu->sregs.ss.db && e->mode != X86_MODE_REAL && !e->vm86 ? 4 : 2;
}

/* Read `count` items of `size` bytes starting `skip` items above the stack pointer. */
static int stack_read(struct emu *e, unsigned skip, unsigned count, unsigned size, uint64_t *items)
{
    unsigned sp_size = stack_size(e);
    uint64_t offset = (e->cpu->regs.rsp + (uint64_t)skip * size) & size_mask(sp_size);
    uint8_t raw[5 * 8];
    uint64_t linear;
    unsigned total = count * size;
    if (total > sizeof(raw))
        return unhandled(e, "stack frame too large");
    if (seg_linear(e, X86_SEG_SS, offset, total, false, &linear))
        return EMU_STOP;
    if (linear_rw(e, linear, raw, total, data_access(e, false, false)))
        return EMU_STOP;
    for (unsigned i = 0; i < count; i++) {
        uint64_t v = 0;
        memcpy(&v, raw + i * size, size);
        items[i] = v;
    }
    return EMU_OK;
}

/* Set the stack pointer as the current stack-address size allows (upper bits of SP kept for 16 bits). */
static void set_sp(struct emu *e, unsigned sp_size, uint64_t value)
{
    __u64 *rsp = &e->cpu->regs.rsp;
    if (sp_size == 2)
        *rsp = (*rsp & ~0xffffull) | (value & 0xffff);
    else
        *rsp = value & size_mask(sp_size);
}

/* ---- descriptors ---- */

/* Decode a segment descriptor into KVM's form (SDM vol 3A 3.4.5, figure 3-8). */
static void descriptor_to_segment(uint64_t raw, uint16_t selector, struct kvm_segment *seg)
{
    uint32_t lo = (uint32_t)raw, hi = (uint32_t)(raw >> 32);
    uint32_t limit = (lo & 0xffff) | (hi & 0xf0000);
    memset(seg, 0, sizeof(*seg));
    seg->selector = selector;
    seg->base = (lo >> 16) | ((hi & 0xff) << 16) | (hi & 0xff000000u);
    seg->g = (hi >> 23) & 1;
    seg->limit = seg->g ? (limit << 12) | 0xfff : limit;
    seg->type = (hi >> 8) & 0xf;
    seg->s = (hi >> 12) & 1;
    seg->dpl = (hi >> 13) & 3;
    seg->present = (hi >> 15) & 1;
    seg->avl = (hi >> 20) & 1;
    seg->l = (hi >> 21) & 1;
    seg->db = (hi >> 22) & 1;
}

/* Where the descriptor of `selector` lives. Returns false if beyond the GDT/LDT limit (or no LDT). */
static bool descriptor_address(const struct emu *e, uint16_t selector, uint64_t *linear)
{
    const struct kvm_sregs *s = &e->cpu->sregs;
    uint64_t base = s->gdt.base, limit = s->gdt.limit;
    if (selector & 4) {
        if (s->ldt.unusable || !s->ldt.present)
            return false;
        base = s->ldt.base;
        limit = s->ldt.limit;
    }
    uint64_t offset = selector & 0xfff8u;
    if (offset + 7 > limit)
        return false;
    *linear = linear_wrap(e, base + offset);
    return true;
}

/* Read a descriptor: EMU_OK, 1 if the selector is outside its table, EMU_STOP on a fault. */
static int read_descriptor(struct emu *e, uint16_t selector, struct kvm_segment *seg)
{
    uint64_t linear, raw;
    if (!descriptor_address(e, selector, &linear))
        return 1;
    if (linear_rw(e, linear, &raw, 8, data_access(e, false, true)))
        return EMU_STOP;
    descriptor_to_segment(raw, selector, seg);
    return EMU_OK;
}

/* Set the Accessed bit of a descriptor being loaded, as the CPU does (SDM vol 3A 3.4.5.1). A
 * read-only or unmapped table is left alone instead of faulting. */
static void mark_accessed(struct emu *e, struct kvm_segment *seg)
{
    uint64_t linear, gpa;
    uint32_t error;
    if (seg->type & SEG_TYPE_ACCESSED)
        return;
    seg->type |= SEG_TYPE_ACCESSED;
    if (!descriptor_address(e, seg->selector, &linear))
        return;
    unsigned access = data_access(e, true, true);
    if (x86_translate(&e->cpu->sregs, e->mem, linear_wrap(e, linear + 5), access, &gpa, &error))
        return;
    uint8_t *type_byte = mem_gpa_to_hva_rw(e->mem, gpa, 1);
    if (type_byte)
        __atomic_fetch_or(type_byte, SEG_TYPE_ACCESSED, __ATOMIC_SEQ_CST);
}

/* ---- IRET (SDM vol 2A IRET/IRETD/IRETQ pseudo-code) ---- */

struct iret_frame {
    unsigned size;      /* operand size: 2, 4, 8 */
    uint64_t ip;
    uint16_t cs;
    uint64_t flags;
};

/* RFLAGS after IRET in protected/IA-32e mode: which bits the old CPL may change. */
static uint64_t iret_flags(uint64_t old, uint64_t popped, unsigned size, unsigned cpl)
{
    uint64_t mask = FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_TF | FL_DF | FL_OF | FL_NT;
    unsigned iopl = (unsigned)((old & FL_IOPL) >> 12);
    if (size >= 4)
        mask |= FL_RF | FL_AC | FL_ID;
    if (cpl <= iopl)
        mask |= FL_IF;
    if (cpl == 0) {
        mask |= FL_IOPL;
        if (size >= 4)
            mask |= FL_VIF | FL_VIP;
    }
    return (old & ~mask) | (popped & mask) | FL_FIXED;
}

static int iret_real(struct emu *e)
{
    unsigned size = e->in.opsize == 4 ? 4 : 2;
    uint64_t v[3];
    struct kvm_regs *r = &e->cpu->regs;
    struct kvm_segment *cs = &e->cpu->sregs.cs;
    if (stack_read(e, 0, 3, size, v))
        return EMU_STOP;
    if (v[0] > cs->limit)
        return raise_gp(e, 0);
    set_sp(e, stack_size(e), r->rsp + 3 * size);
    r->rip = v[0];
    cs->selector = (uint16_t)v[1];
    cs->base = (uint64_t)(uint16_t)v[1] << 4;
    if (size == 4)
        r->rflags = (v[2] & 0x257fd5) | (r->rflags & 0x1a0000) | FL_FIXED;
    else
        r->rflags = (r->rflags & ~0xffffull) | (v[2] & 0x7fd5) | FL_FIXED;
    e->res->sregs_changed = true;
    e->res->status = X86_EMU_DONE;
    return EMU_OK;
}

/* Checks on the return CS (PROTECTED-MODE-RETURN). */
static int load_return_cs(struct emu *e, uint16_t selector, struct kvm_segment *cs)
{
    unsigned rpl = selector & 3;
    if (!(selector & 0xfffc))
        return raise_gp(e, 0);
    int rc = read_descriptor(e, selector, cs);
    if (rc == 1)
        return raise_gp(e, sel_error(selector));
    if (rc)
        return EMU_STOP;
    if (!cs->s || !(cs->type & SEG_TYPE_CODE) || rpl < e->cpl)
        return raise_gp(e, sel_error(selector));
    bool conforming = cs->type & SEG_TYPE_DC;
    if ((conforming && cs->dpl > rpl) || (!conforming && cs->dpl != rpl))
        return raise_gp(e, sel_error(selector));
    if (!cs->present)
        return raise_exc(e, X86_VEC_NP, true, sel_error(selector));
    if (long_mode_active(e) && cs->l && cs->db)   /* L=1, D=1 is reserved (SDM vol 3A 5.2.1) */
        return raise_gp(e, sel_error(selector));
    return EMU_OK;
}

/* Checks on the return SS (RETURN-TO-OUTER-PRIVILEGE-LEVEL); a null SS is allowed returning to 64-bit
 * code below ring 3 and is loaded unusable, with DPL = RPL (the new CPL). */
static int load_return_ss(struct emu *e, uint16_t selector, unsigned rpl, bool to64, struct kvm_segment *ss)
{
    if (!(selector & 0xfffc)) {
        if (!(to64 && rpl != 3 && (selector & 3) == rpl))
            return raise_gp(e, 0);
        memset(ss, 0, sizeof(*ss));
        ss->selector = selector;
        ss->unusable = 1;
        ss->dpl = (uint8_t)rpl;
        ss->type = SEG_TYPE_RW | SEG_TYPE_ACCESSED;
        ss->s = 1;
        return EMU_OK;
    }
    int rc = read_descriptor(e, selector, ss);
    if (rc == 1)
        return raise_gp(e, sel_error(selector));
    if (rc)
        return EMU_STOP;
    bool writable_data = ss->s && !(ss->type & SEG_TYPE_CODE) && (ss->type & SEG_TYPE_RW);
    if ((selector & 3) != rpl || !writable_data || ss->dpl != rpl)
        return raise_gp(e, sel_error(selector));
    if (!ss->present)
        return raise_exc(e, X86_VEC_SS, true, sel_error(selector));
    return EMU_OK;
}

/* Data segment registers a less privileged level may not keep (end of RETURN-TO-OUTER-PRIVILEGE-LEVEL). */
static void drop_privileged_segments(struct emu *e, unsigned new_cpl)
{
    struct kvm_sregs *s = &e->cpu->sregs;
    struct kvm_segment *segs[] = { &s->es, &s->ds, &s->fs, &s->gs };
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
        struct kvm_segment *g = segs[i];
        bool conforming_code = (g->type & SEG_TYPE_CODE) && (g->type & SEG_TYPE_DC);
        if (g->unusable || !g->present || !g->s || conforming_code || new_cpl <= g->dpl)
            continue;
        g->selector = 0;
        g->unusable = 1;
        g->present = 0;
    }
}

/* New RIP: canonical for 64-bit code, else within the CS limit. */
static int check_return_ip(struct emu *e, const struct kvm_segment *cs, bool to64, uint64_t *ip)
{
    if (to64)
        return x86_is_canonical(&e->cpu->sregs, *ip) ? EMU_OK : raise_gp(e, 0);
    *ip &= 0xffffffffull;
    return *ip <= cs->limit ? EMU_OK : raise_gp(e, 0);
}

/* PROTECTED-MODE-RETURN, RETURN-TO-SAME/OUTER-PRIVILEGE-LEVEL, and the IA-32e variants. */
static int iret_protected_return(struct emu *e, struct iret_frame *f)
{
    struct kvm_segment cs, ss = e->cpu->sregs.ss;
    unsigned rpl = f->cs & 3;
    if (load_return_cs(e, f->cs, &cs))
        return EMU_STOP;
    bool outer = rpl > e->cpl;
    bool to64 = long_mode_active(e) && cs.l;
    bool pops_stack = outer || e->mode == X86_MODE_LONG64;
    uint64_t sp_ss[2] = { 0, 0 };
    if (pops_stack && stack_read(e, 3, 2, f->size, sp_ss))
        return EMU_STOP;
    if (check_return_ip(e, &cs, to64, &f->ip))
        return EMU_STOP;
    if (pops_stack && load_return_ss(e, (uint16_t)sp_ss[1], rpl, to64, &ss))
        return EMU_STOP;

    struct kvm_regs *r = &e->cpu->regs;
    r->rflags = iret_flags(r->rflags, f->flags, f->size, e->cpl);
    if (long_mode_active(e))
        r->rflags &= ~FL_VM;
    if (pops_stack) {
        if (to64 || ss.db)
            r->rsp = to64 ? sp_ss[0] : (uint32_t)sp_ss[0];
        else
            r->rsp = (r->rsp & ~0xffffull) | (sp_ss[0] & 0xffff);
    } else {
        set_sp(e, stack_size(e), r->rsp + 3 * f->size);
    }
    r->rip = f->ip;
    mark_accessed(e, &cs);
    if (pops_stack && !ss.unusable)
        mark_accessed(e, &ss);
    e->cpu->sregs.cs = cs;
    e->cpu->sregs.ss = ss;
    if (outer)
        drop_privileged_segments(e, rpl);
    e->res->sregs_changed = true;
    e->res->status = X86_EMU_DONE;
    return EMU_OK;
}

static int iret_pop_frame(struct emu *e, struct iret_frame *f)
{
    uint64_t v[3];
    f->size = e->in.opsize;
    if (stack_read(e, 0, 3, f->size, v))
        return EMU_STOP;
    f->ip = v[0];
    f->cs = (uint16_t)v[1];
    f->flags = v[2];
    return EMU_OK;
}

/* X86_QUIRK_FLAT_EVENT_FRAMES: the frame the host wrote at linear ESP, without SS's base. */
static bool flat_frame_possible(const struct emu *e)
{
    return (host_quirks & X86_QUIRK_FLAT_EVENT_FRAMES) && !long_mode_active(e) && e->cpu->sregs.ss.base != 0 &&
           stack_size(e) == 4;
}

static int iret_pop_flat_frame(struct emu *e, struct iret_frame *f)
{
    uint32_t v[3];
    f->size = e->in.opsize;
    if (f->size != 4 || linear_rw(e, (uint32_t)e->cpu->regs.rsp, v, sizeof(v), data_access(e, false, false)))
        return EMU_STOP;
    f->ip = v[0];
    f->cs = (uint16_t)v[1];
    f->flags = v[2];
    return EMU_OK;
}

/* The frame at SS:ESP failed the return checks: on a host with flat event frames, try the one at ESP;
 * if that fails too, the first outcome stands. */
static int iret_retry_flat(struct emu *e, const struct x86_emu_cpu *before)
{
    struct x86_emu_result first = *e->res;
    struct iret_frame f;
    *e->cpu = *before;
    if (iret_pop_flat_frame(e, &f) == EMU_OK && iret_protected_return(e, &f) == EMU_OK)
        return EMU_OK;
    *e->cpu = *before;
    *e->res = first;
    return EMU_STOP;
}

static int exec_iret(struct emu *e)
{
    struct iret_frame f;
    if (e->in.lock)
        return raise_ud(e);
    if (e->mode == X86_MODE_REAL)
        return iret_real(e);
    if (e->vm86)
        return unhandled(e, "in vm86 mode");
    if (e->cpu->regs.rflags & FL_NT)
        return long_mode_active(e) ? raise_gp(e, 0) : unhandled(e, "task return");
    if (iret_pop_frame(e, &f))
        return EMU_STOP;
    if (!long_mode_active(e) && f.size == 4 && (f.flags & FL_VM) && e->cpl == 0 && !flat_frame_possible(e))
        return unhandled(e, "to vm86 mode");
    struct x86_emu_cpu before = *e->cpu;
    if (iret_protected_return(e, &f) == EMU_OK)
        return EMU_OK;
    if (e->res->status == X86_EMU_EXCEPTION && flat_frame_possible(e))
        return iret_retry_flat(e, &before);
    return EMU_STOP;
}

/* ---- the other instructions ---- */

/* INT3 (SDM vol 2A INT n/INTO/INT3): a trap, so the frame holds the next instruction. */
static int exec_int3(struct emu *e)
{
    if (e->in.lock)
        return raise_ud(e);
    advance_rip(e);
    return raise_exc(e, X86_VEC_BP, false, 0);
}

/* CLAC/STAC (SDM vol 2A): #UD with LOCK, in vm86 mode, at CPL > 0, or without CR4.SMAP. */
static int exec_clac_stac(struct emu *e, bool set)
{
    bool cpl_ok = e->mode == X86_MODE_REAL || e->cpl == 0;
    if (e->in.lock || e->vm86 || !cpl_ok || !(e->cpu->sregs.cr4 & CR4_SMAP))
        return raise_ud(e);
    if (set)
        e->cpu->regs.rflags |= FL_AC;
    else
        e->cpu->regs.rflags &= ~FL_AC;
    return finish(e);
}

/* POPCNT (SDM vol 2B): F3 0F B8 /r; ZF = (source == 0), OF SF AF CF PF cleared. */
static int exec_popcnt(struct emu *e)
{
    uint64_t src;
    if (e->in.lock || e->in.last_rep != 0xf3)
        return raise_ud(e);
    unsigned size = e->in.opsize;
    if (read_rm(e, size, &src))
        return EMU_STOP;
    set_gpr(e, e->in.reg, size, (uint64_t)__builtin_popcountll(src));
    __u64 *fl = &e->cpu->regs.rflags;
    *fl &= ~(FL_OF | FL_SF | FL_ZF | FL_AF | FL_CF | FL_PF);
    if (src == 0)
        *fl |= FL_ZF;
    return finish(e);
}

/* FWAIT (SDM vol 2A WAIT/FWAIT): #NM if CR0.MP and CR0.TS. Pending x87 exceptions (#MF) are not
 * visible here and are left to the next x87 instruction. */
static int exec_fwait(struct emu *e)
{
    uint64_t cr0 = e->cpu->sregs.cr0;
    if (e->in.lock)
        return raise_ud(e);
    if ((cr0 & CR0_MP) && (cr0 & CR0_TS))
        return raise_exc(e, X86_VEC_NM, false, 0);
    return finish(e);
}

/* VERW (SDM vol 2B VERR/VERW): ZF = 1 if the segment is a writable data segment accessible at
 * max(CPL, RPL). The side effect on CPU buffers (MDS mitigation) cannot be given from here. */
static int exec_verw(struct emu *e)
{
    uint64_t selector;
    struct kvm_segment seg;
    if (e->in.lock || e->mode == X86_MODE_REAL || e->vm86)
        return raise_ud(e);
    if (read_rm(e, 2, &selector))
        return EMU_STOP;
    bool writable = false;
    if (selector & 0xfffc) {
        int rc = read_descriptor(e, (uint16_t)selector, &seg);
        if (rc == EMU_STOP)
            return EMU_STOP;
        unsigned rpl = selector & 3, need = rpl > e->cpl ? rpl : e->cpl;
        writable = rc == EMU_OK && seg.s && !(seg.type & SEG_TYPE_CODE) && (seg.type & SEG_TYPE_RW) &&
                   seg.dpl >= need;
    }
    if (writable)
        e->cpu->regs.rflags |= FL_ZF;
    else
        e->cpu->regs.rflags &= ~FL_ZF;
    return finish(e);
}

/* Host-side locked compare-exchange; guest memory is shared with the other vCPU threads. */
static bool host_cmpxchg(void *p, unsigned size, uint64_t expected[2], const uint64_t desired[2])
{
#if defined(__x86_64__)
    bool equal;
    if (size == 16) {
        __asm__ volatile("lock cmpxchg16b (%[p])"
                         : "=@ccz"(equal), "+a"(expected[0]), "+d"(expected[1])
                         : [p] "r"(p), "b"(desired[0]), "c"(desired[1])
                         : "memory");
    } else {
        uint32_t lo = (uint32_t)expected[0], hi = (uint32_t)(expected[0] >> 32);
        __asm__ volatile("lock cmpxchg8b (%[p])"
                         : "=@ccz"(equal), "+a"(lo), "+d"(hi)
                         : [p] "r"(p), "b"((uint32_t)desired[0]), "c"((uint32_t)(desired[0] >> 32))
                         : "memory");
        expected[0] = ((uint64_t)hi << 32) | lo;
    }
    return equal;
#else
    uint64_t cur[2] = { 0, 0 };
    memcpy(cur, p, size);
    bool equal = !memcmp(cur, expected, size);
    memcpy(equal ? p : expected, equal ? desired : cur, size);
    return equal;
#endif
}

/* Operand not split across pages or cache lines: carry out atomically on host memory. */
static int cmpxchg_atomic(struct emu *e, uint64_t linear, unsigned size, uint64_t cmp[2], const uint64_t repl[2],
                          bool *equal)
{
    uint64_t gpa;
    if (translate(e, linear, data_access(e, true, false), &gpa))
        return EMU_STOP;
    void *hva = mem_gpa_to_hva_rw(e->mem, gpa, size);
    if (!hva)
        return unhandled(e, "operand not in RAM");
    *equal = host_cmpxchg(hva, size, cmp, repl);
    return EMU_OK;
}

/* Operand split across pages or cache lines (CMPXCHG8B only): read, compare, write back. A locked
 * CMPXCHG always writes, the new value or the old one back (SDM vol 2A CMPXCHG8B), so both pages are
 * checked for writing first. */
static int cmpxchg_split(struct emu *e, uint64_t linear, unsigned size, uint64_t cmp[2], const uint64_t repl[2],
                         bool *equal)
{
    uint64_t cur[2] = { 0, 0 };
    struct phys_range r;
    if (translate_range(e, linear, size, data_access(e, true, false), &r) || range_copy(e, &r, cur, false))
        return EMU_STOP;
    *equal = !memcmp(cur, cmp, size);
    if (range_copy(e, &r, *equal ? (void *)repl : (void *)cur, true))
        return EMU_STOP;
    memcpy(cmp, cur, size);
    return EMU_OK;
}

/* CMPXCHG8B / CMPXCHG16B (SDM vol 2A): compare EDX:EAX / RDX:RAX with m64/m128. */
static int exec_cmpxchg8b16b(struct emu *e)
{
    struct kvm_regs *r = &e->cpu->regs;
    uint64_t linear;
    bool equal = false;
    if (!e->in.mem)
        return raise_ud(e);
    unsigned size = (e->mode == X86_MODE_LONG64 && (e->in.rex & X86_REX_W)) ? 16 : 8;
    if (operand_linear(e, size, true, &linear))
        return EMU_STOP;
    if (size == 16 && (linear & 15))
        return raise_gp(e, 0);
    uint64_t cmp[2], repl[2];
    if (size == 16) {
        cmp[0] = r->rax, cmp[1] = r->rdx, repl[0] = r->rbx, repl[1] = r->rcx;
    } else {
        cmp[0] = (r->rdx << 32) | (uint32_t)r->rax, cmp[1] = 0;
        repl[0] = (r->rcx << 32) | (uint32_t)r->rbx, repl[1] = 0;
    }
    bool split = (linear & 63) + size > 64;
    int rc = split ? cmpxchg_split(e, linear, size, cmp, repl, &equal)
                   : cmpxchg_atomic(e, linear, size, cmp, repl, &equal);
    if (rc)
        return EMU_STOP;
    if (equal) {
        r->rflags |= FL_ZF;
    } else {
        r->rflags &= ~FL_ZF;
        if (size == 16) {
            r->rax = cmp[0];
            r->rdx = cmp[1];
        } else {
            r->rax = (uint32_t)cmp[0];
            r->rdx = cmp[0] >> 32;
        }
    }
    return finish(e);
}

/* ---- dispatch ---- */

static int execute(struct emu *e)
{
    const struct x86_insn *in = &e->in;
    if (in->map == X86_MAP_ONE) {
        switch (in->opcode) {
        case 0xcc: return exec_int3(e);
        case 0xcf: return exec_iret(e);
        case 0x9b: return exec_fwait(e);
        default: break;
        }
    } else if (in->map == X86_MAP_0F) {
        if (in->opcode == 0x01 && (in->modrm == 0xca || in->modrm == 0xcb))
            return exec_clac_stac(e, in->modrm == 0xcb);
        if (in->opcode == 0xb8 && in->last_rep == 0xf3)
            return exec_popcnt(e);
        if (in->opcode == 0xc7 && (in->reg & 7) == 1 && in->mem)
            return exec_cmpxchg8b16b(e);
        if (in->opcode == 0x00 && (in->reg & 7) == 5)
            return exec_verw(e);
    }
    e->res->status = X86_EMU_UNHANDLED;
    return EMU_STOP;
}

/* ---- instruction fetch ---- */

enum fetch_stop { FETCH_COMPLETE, FETCH_PAGE_FAULT, FETCH_NONCANONICAL, FETCH_NOT_RAM };

struct fetch_state {
    enum fetch_stop stop;
    uint32_t error;     /* #PF error code */
    uint64_t address;   /* linear address that stopped the fetch */
};

static unsigned cpu_cpl(const struct x86_emu_cpu *cpu)
{
    if (!(cpu->sregs.cr0 & CR0_PE))
        return 0;
    if ((cpu->regs.rflags & FL_VM) && !(cpu->sregs.efer & EFER_LMA))
        return 3;
    return cpu->sregs.ss.dpl & 3;
}

/* Copy instruction bytes from CS:RIP, page by page, stopping where a page is unmapped or not RAM. */
static size_t fetch_bytes(const struct x86_emu_cpu *cpu, const struct guest_memory *mem, uint8_t *buf,
                          size_t max, struct fetch_state *st)
{
    bool long64 = x86_mode_from_sregs(&cpu->sregs) == X86_MODE_LONG64;
    bool lma = cpu->sregs.efer & EFER_LMA;
    uint64_t start = long64 ? cpu->regs.rip : cpu->sregs.cs.base + cpu->regs.rip;
    unsigned access = X86_ACC_FETCH | (cpu_cpl(cpu) == 3 ? X86_ACC_USER : 0);
    size_t n = 0;
    st->stop = FETCH_COMPLETE;
    while (n < max) {
        uint64_t lin = lma ? start + n : (uint32_t)(start + n);
        uint64_t gpa;
        int rc = x86_translate(&cpu->sregs, mem, lin, access, &gpa, &st->error);
        if (rc) {
            st->stop = rc == -EINVAL ? FETCH_NONCANONICAL : FETCH_PAGE_FAULT;
            st->address = lin;
            break;
        }
        size_t chunk = 4096 - (lin & 0xfff);
        if (chunk > max - n)
            chunk = max - n;
        size_t got = 0;
        while (got < chunk && mem_read(mem, gpa + got, buf + n + got, 1) == 0)
            got++;
        n += got;
        if (got < chunk) {
            st->stop = FETCH_NOT_RAM;
            st->address = lin + got;
            break;
        }
    }
    return n;
}

int x86_fetch_insn(const struct x86_emu_cpu *cpu, const struct guest_memory *mem, uint8_t *buf, size_t max)
{
    struct fetch_state st;
    if (max > X86_MAX_INSN_LEN)
        max = X86_MAX_INSN_LEN;
    size_t n = fetch_bytes(cpu, mem, buf, max, &st);
    if (n > 0 || max == 0)
        return (int)n;
    return st.stop == FETCH_NOT_RAM ? -ENXIO : -EFAULT;
}

/* The instruction could not be fetched completely: the fault the CPU would take, if any. */
static void fetch_failed(struct emu *e, const struct fetch_state *st)
{
    switch (st->stop) {
    case FETCH_PAGE_FAULT:
        e->res->cr2 = st->address;
        raise_exc(e, X86_VEC_PF, true, st->error);
        break;
    case FETCH_NONCANONICAL:
        raise_gp(e, 0);
        break;
    default:
        e->res->status = X86_EMU_UNHANDLED;
        snprintf(e->res->mnemonic, sizeof(e->res->mnemonic), "(fetch outside RAM)");
        break;
    }
}

/* Decode from KVM's bytes; if they are missing or too short, from guest memory. */
static int fetch_and_decode(struct emu *e, const uint8_t *bytes, size_t nbytes)
{
    uint8_t given[X86_MAX_INSN_LEN], fetched[X86_MAX_INSN_LEN];
    size_t n = bytes ? (nbytes < sizeof(given) ? nbytes : sizeof(given)) : 0;
    if (n)
        memcpy(given, bytes, n);
    int rc = n ? x86_decode(given, n, e->mode, &e->in) : X86_DECODE_TRUNCATED;
    if (rc == X86_DECODE_TRUNCATED) {
        struct fetch_state st;
        size_t got = fetch_bytes(e->cpu, e->mem, fetched, sizeof(fetched), &st);
        if (got > n)
            rc = x86_decode(fetched, got, e->mode, &e->in);
        if (rc == X86_DECODE_TRUNCATED) {
            fetch_failed(e, &st);
            return EMU_STOP;
        }
    }
    if (rc == X86_DECODE_TOO_LONG) {
        snprintf(e->res->mnemonic, sizeof(e->res->mnemonic), "(longer than 15 bytes)");
        return raise_gp(e, 0);
    }
    if (rc) {
        e->res->status = X86_EMU_UNHANDLED;
        snprintf(e->res->mnemonic, sizeof(e->res->mnemonic), "(vex/evex/xop encoded)");
        return EMU_STOP;
    }
    e->res->len = e->in.len;
    x86_insn_mnemonic(&e->in, e->res->mnemonic, sizeof(e->res->mnemonic));
    return EMU_OK;
}

void x86_emulate(struct x86_emu_cpu *cpu, const struct guest_memory *mem,
                 const uint8_t *bytes, size_t nbytes, struct x86_emu_result *res)
{
    memset(res, 0, sizeof(*res));
    struct emu e = { .cpu = cpu, .mem = mem, .res = res };
    e.mode = x86_mode_from_sregs(&cpu->sregs);
    e.vm86 = e.mode != X86_MODE_REAL && !long_mode_active(&e) && (cpu->regs.rflags & FL_VM);
    e.cpl = cpu_cpl(cpu);
    if (fetch_and_decode(&e, bytes, nbytes))
        return;
    /* Faults and unhandled cases leave the register file as it was (INT3 is a trap: RIP advances). */
    struct x86_emu_cpu saved = *cpu;
    if (execute(&e) != EMU_OK && !(res->status == X86_EMU_EXCEPTION && res->vector == X86_VEC_BP))
        *cpu = saved;
}

/* ---- report ---- */

static void report_segment(FILE *out, const char *name, const struct kvm_segment *s)
{
    fprintf(out, "  %s=%04x base=%016llx limit=%08x type=%x s=%u dpl=%u p=%u db=%u l=%u g=%u avl=%u%s\n",
            name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->s, s->dpl, s->present,
            s->db, s->l, s->g, s->avl, s->unusable ? " unusable" : "");
}

static void report_outcome(FILE *out, const struct x86_emu_result *res)
{
    if (!res)
        return;
    if (res->status == X86_EMU_EXCEPTION)
        fprintf(out, "  outcome: exception vector %u error code %#x%s cr2=%016llx\n", res->vector,
                res->error_code, res->has_error_code ? "" : " (none)", (unsigned long long)res->cr2);
    else
        fprintf(out, "  outcome: %s, length %u\n", res->status == X86_EMU_DONE ? "done" : "unhandled", res->len);
}

void x86_emu_report(FILE *out, const struct x86_emu_cpu *cpu, const uint8_t *bytes, size_t n,
                    const struct x86_emu_result *res)
{
    const struct kvm_regs *r = &cpu->regs;
    const struct kvm_sregs *s = &cpu->sregs;
    fprintf(out, "vmm: guest instruction not emulated:");
    if (!bytes || n == 0)
        fprintf(out, " (no bytes)");
    for (size_t i = 0; bytes && i < n && i < X86_MAX_INSN_LEN; i++)
        fprintf(out, " %02x", bytes[i]);
    fprintf(out, " (%s) at cs:rip %04x:%016llx\n", res && res->mnemonic[0] ? res->mnemonic : "?",
            s->cs.selector, (unsigned long long)r->rip);
    fprintf(out, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", (unsigned long long)r->rax,
            (unsigned long long)r->rbx, (unsigned long long)r->rcx, (unsigned long long)r->rdx);
    fprintf(out, "  rsi=%016llx rdi=%016llx rbp=%016llx rsp=%016llx\n", (unsigned long long)r->rsi,
            (unsigned long long)r->rdi, (unsigned long long)r->rbp, (unsigned long long)r->rsp);
    fprintf(out, "  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n", (unsigned long long)r->r8,
            (unsigned long long)r->r9, (unsigned long long)r->r10, (unsigned long long)r->r11);
    fprintf(out, "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n", (unsigned long long)r->r12,
            (unsigned long long)r->r13, (unsigned long long)r->r14, (unsigned long long)r->r15);
    fprintf(out, "  rip=%016llx rflags=%016llx cpl=%u\n", (unsigned long long)r->rip,
            (unsigned long long)r->rflags, cpu_cpl(cpu));
    report_segment(out, "cs", &s->cs);
    report_segment(out, "ss", &s->ss);
    report_segment(out, "ds", &s->ds);
    report_segment(out, "es", &s->es);
    report_segment(out, "fs", &s->fs);
    report_segment(out, "gs", &s->gs);
    report_segment(out, "tr", &s->tr);
    report_segment(out, "ldt", &s->ldt);
    fprintf(out, "  gdt=%016llx/%04x idt=%016llx/%04x\n", (unsigned long long)s->gdt.base, s->gdt.limit,
            (unsigned long long)s->idt.base, s->idt.limit);
    fprintf(out, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx efer=%016llx\n",
            (unsigned long long)s->cr0, (unsigned long long)s->cr2, (unsigned long long)s->cr3,
            (unsigned long long)s->cr4, (unsigned long long)s->efer);
    report_outcome(out, res);
}
