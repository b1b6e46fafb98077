/* x86 instruction decoder: prefixes, REX, opcode maps, ModRM/SIB/displacement, immediates (SDM vol 2A ch. 2). */
#include "arch/x86/decode.h"

#include <stdio.h>
#include <string.h>

/* How an opcode's operands are encoded (SDM vol 2A appendix A.2 "operand addressing"). */
enum {
    F_MODRM = 1 << 0,
    F_IMM8 = 1 << 1,
    F_IMM16 = 1 << 2,
    F_IMMZ = 1 << 3,    /* Iz: 16 or 32 bits by operand size */
    F_IMMV = 1 << 4,    /* Iv: 16, 32 or 64 bits by operand size */
    F_MOFFS = 1 << 5,   /* Ob/Ov: an address-size offset (A0-A3) */
    F_FAR = 1 << 6,     /* Ap: ptr16:16/32 (9A, EA); invalid in 64-bit mode */
    F_GRP3 = 1 << 7,    /* F6/F7: an immediate only for /0 and /1 (TEST) */
    F_ENTER = 1 << 8,   /* Iw, Ib */
    F_REL = 1 << 9,     /* Jz: near branch, rel32 in 64-bit mode regardless of 66 (Intel behaviour) */
};

#define ALU_ROW(x) [(x)] = F_MODRM, [(x) + 1] = F_MODRM, [(x) + 2] = F_MODRM, [(x) + 3] = F_MODRM, \
                   [(x) + 4] = F_IMM8, [(x) + 5] = F_IMMZ

/* One-byte opcode map (SDM vol 2A table A-2). */
static const uint16_t one_byte_ops[256] = {
    ALU_ROW(0x00), ALU_ROW(0x08), ALU_ROW(0x10), ALU_ROW(0x18),
    ALU_ROW(0x20), ALU_ROW(0x28), ALU_ROW(0x30), ALU_ROW(0x38),
    [0x62] = F_MODRM, [0x63] = F_MODRM, [0x68] = F_IMMZ, [0x69] = F_MODRM | F_IMMZ,
    [0x6a] = F_IMM8, [0x6b] = F_MODRM | F_IMM8,
    [0x70 ... 0x7f] = F_IMM8,
    [0x80] = F_MODRM | F_IMM8, [0x81] = F_MODRM | F_IMMZ, [0x82] = F_MODRM | F_IMM8,
    [0x83] = F_MODRM | F_IMM8, [0x84 ... 0x8f] = F_MODRM,
    [0x9a] = F_FAR, [0xa0 ... 0xa3] = F_MOFFS, [0xa8] = F_IMM8, [0xa9] = F_IMMZ,
    [0xb0 ... 0xb7] = F_IMM8, [0xb8 ... 0xbf] = F_IMMV,
    [0xc0] = F_MODRM | F_IMM8, [0xc1] = F_MODRM | F_IMM8, [0xc2] = F_IMM16,
    [0xc4] = F_MODRM, [0xc5] = F_MODRM, [0xc6] = F_MODRM | F_IMM8, [0xc7] = F_MODRM | F_IMMZ,
    [0xc8] = F_ENTER, [0xca] = F_IMM16, [0xcd] = F_IMM8,
    [0xd0 ... 0xd3] = F_MODRM, [0xd4] = F_IMM8, [0xd5] = F_IMM8, [0xd8 ... 0xdf] = F_MODRM,
    [0xe0 ... 0xe7] = F_IMM8, [0xe8] = F_REL, [0xe9] = F_REL, [0xea] = F_FAR, [0xeb] = F_IMM8,
    [0xf6] = F_MODRM | F_GRP3, [0xf7] = F_MODRM | F_GRP3, [0xfe] = F_MODRM, [0xff] = F_MODRM,
};

/* Two-byte opcode map, 0F xx (SDM vol 2A table A-3). 0F 38 / 0F 3A are handled apart. */
static const uint16_t two_byte_ops[256] = {
    [0x00 ... 0x03] = F_MODRM, [0x0d] = F_MODRM, [0x0f] = F_MODRM | F_IMM8,
    [0x10 ... 0x1f] = F_MODRM, [0x20 ... 0x23] = F_MODRM, [0x28 ... 0x2f] = F_MODRM,
    [0x40 ... 0x6f] = F_MODRM, [0x70 ... 0x73] = F_MODRM | F_IMM8, [0x74 ... 0x76] = F_MODRM,
    [0x78 ... 0x7f] = F_MODRM, [0x80 ... 0x8f] = F_REL, [0x90 ... 0x9f] = F_MODRM,
    [0xa3] = F_MODRM, [0xa4] = F_MODRM | F_IMM8, [0xa5] = F_MODRM,
    [0xab] = F_MODRM, [0xac] = F_MODRM | F_IMM8, [0xad ... 0xaf] = F_MODRM,
    [0xb0 ... 0xb9] = F_MODRM, [0xba] = F_MODRM | F_IMM8, [0xbb ... 0xbf] = F_MODRM,
    [0xc0 ... 0xc1] = F_MODRM, [0xc2] = F_MODRM | F_IMM8, [0xc3] = F_MODRM,
    [0xc4 ... 0xc6] = F_MODRM | F_IMM8, [0xc7] = F_MODRM, [0xd0 ... 0xff] = F_MODRM,
};

/* Reading position inside the instruction bytes; enforces both the buffer end and the 15-byte limit. */
struct cursor {
    const uint8_t *bytes;
    size_t n;
    size_t pos;
};

static int take(struct cursor *c, size_t size, uint64_t *value)
{
    if (c->pos + size > X86_MAX_INSN_LEN)
        return X86_DECODE_TOO_LONG;
    if (c->pos + size > c->n)
        return X86_DECODE_TRUNCATED;
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++)
        v |= (uint64_t)c->bytes[c->pos + i] << (8 * i);
    c->pos += size;
    *value = v;
    return 0;
}

static int take8(struct cursor *c, uint8_t *byte)
{
    uint64_t v = 0;
    int rc = take(c, 1, &v);
    *byte = (uint8_t)v;
    return rc;
}

/* Peek at the next byte without consuming it (for the VEX-vs-LES/LDS decision). */
static int peek8(const struct cursor *c, uint8_t *byte)
{
    if (c->pos + 1 > X86_MAX_INSN_LEN)
        return X86_DECODE_TOO_LONG;
    if (c->pos + 1 > c->n)
        return X86_DECODE_TRUNCATED;
    *byte = c->bytes[c->pos];
    return 0;
}

static int64_t sign_extend(uint64_t v, unsigned bytes)
{
    unsigned shift = 64 - 8 * bytes;
    return (int64_t)(v << shift) >> shift;
}

enum x86_mode x86_mode_from_sregs(const struct kvm_sregs *s)
{
    if (!(s->cr0 & 1))
        return X86_MODE_REAL;
    if ((s->efer & (1u << 10)) && s->cs.l)
        return X86_MODE_LONG64;
    return s->cs.db ? X86_MODE_PROT32 : X86_MODE_PROT16;
}

/* Legacy prefixes and REX (SDM vol 2A 2.1.1, 2.2.1). A REX not directly before the opcode is ignored. */
static int decode_prefixes(struct cursor *c, struct x86_insn *in, uint8_t *opcode)
{
    static const int seg_of[] = { [0x26] = X86_SEG_ES, [0x2e] = X86_SEG_CS, [0x36] = X86_SEG_SS,
                                  [0x3e] = X86_SEG_DS, [0x64] = X86_SEG_FS, [0x65] = X86_SEG_GS };
    for (;;) {
        uint8_t b;
        int rc = take8(c, &b);
        if (rc)
            return rc;
        switch (b) {
        case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:
            in->seg_override = seg_of[b];
            break;
        case 0x66: in->opsize_prefix = true; break;
        case 0x67: in->addrsize_prefix = true; break;
        case 0xf0: in->lock = true; break;
        case 0xf2: in->repne = true; in->last_rep = b; break;
        case 0xf3: in->rep = true; in->last_rep = b; break;
        default:
            if (in->mode == X86_MODE_LONG64 && (b & 0xf0) == 0x40) {
                in->rex = b;
                continue;
            }
            *opcode = b;
            return 0;
        }
        in->rex = 0;
    }
}

/* Operand and address sizes (SDM vol 2A 2.2.1.2, vol 1 3.6 table 3-4). */
static void compute_sizes(struct x86_insn *in)
{
    switch (in->mode) {
    case X86_MODE_REAL:
    case X86_MODE_PROT16:
        in->opsize = in->opsize_prefix ? 4 : 2;
        in->addrsize = in->addrsize_prefix ? 4 : 2;
        break;
    case X86_MODE_PROT32:
        in->opsize = in->opsize_prefix ? 2 : 4;
        in->addrsize = in->addrsize_prefix ? 2 : 4;
        break;
    case X86_MODE_LONG64:
        in->opsize = (in->rex & X86_REX_W) ? 8 : in->opsize_prefix ? 2 : 4;
        in->addrsize = in->addrsize_prefix ? 4 : 8;
        break;
    }
}

static int take_disp(struct cursor *c, struct x86_insn *in, unsigned size)
{
    uint64_t v;
    int rc = take(c, size, &v);
    if (rc)
        return rc;
    in->disp = sign_extend(v, size);
    in->disp_size = (uint8_t)size;
    return 0;
}

/* 16-bit addressing forms (SDM vol 2A table 2-1). */
static int decode_mem16(struct cursor *c, struct x86_insn *in, uint8_t rm)
{
    static const int8_t bases[8] = { X86_RBX, X86_RBX, X86_RBP, X86_RBP, X86_NO_REG, X86_NO_REG, X86_RBP, X86_RBX };
    static const int8_t indexes[8] = { X86_RSI, X86_RDI, X86_RSI, X86_RDI, X86_RSI, X86_RDI, X86_NO_REG, X86_NO_REG };
    in->base = bases[rm];
    in->index = indexes[rm];
    if (rm == 4 || rm == 5) {   /* [SI], [DI]: the register is the base */
        in->base = in->index;
        in->index = X86_NO_REG;
    }
    if (in->mod == 0 && rm == 6) {
        in->base = X86_NO_REG;
        return take_disp(c, in, 2);
    }
    if (in->base == X86_RBP)
        in->default_seg = X86_SEG_SS;
    if (in->mod == 1)
        return take_disp(c, in, 1);
    if (in->mod == 2)
        return take_disp(c, in, 2);
    return 0;
}

/* 32/64-bit addressing forms with SIB and RIP-relative (SDM vol 2A tables 2-2, 2-3; 2.2.1.6). */
static int decode_mem32(struct cursor *c, struct x86_insn *in, uint8_t rm)
{
    bool no_base = false;
    if (rm == 4) {
        int rc = take8(c, &in->sib);
        if (rc)
            return rc;
        in->has_sib = true;
        in->scale = (uint8_t)(1u << (in->sib >> 6));
        int index = ((in->sib >> 3) & 7) | ((in->rex & X86_REX_X) ? 8 : 0);
        in->index = index == X86_RSP ? X86_NO_REG : index;
        in->base = (in->sib & 7) | ((in->rex & X86_REX_B) ? 8 : 0);
        no_base = (in->sib & 7) == 5 && in->mod == 0;
    } else if (rm == 5 && in->mod == 0) {
        in->base = in->mode == X86_MODE_LONG64 ? X86_RIP_REL : X86_NO_REG;
        return take_disp(c, in, 4);
    } else {
        in->base = rm | ((in->rex & X86_REX_B) ? 8 : 0);
    }
    if (no_base) {
        in->base = X86_NO_REG;
        return take_disp(c, in, 4);
    }
    if (in->base == X86_RSP || in->base == X86_RBP)
        in->default_seg = X86_SEG_SS;
    if (in->mod == 1)
        return take_disp(c, in, 1);
    if (in->mod == 2)
        return take_disp(c, in, 4);
    return 0;
}

/* MOV to/from control and debug registers ignore ModRM.mod: always register operands (SDM vol 2B MOV CR). */
static bool modrm_always_register(const struct x86_insn *in)
{
    return in->map == X86_MAP_0F && in->opcode >= 0x20 && in->opcode <= 0x23;
}

static int decode_modrm(struct cursor *c, struct x86_insn *in)
{
    int rc = take8(c, &in->modrm);
    if (rc)
        return rc;
    in->has_modrm = true;
    in->mod = in->modrm >> 6;
    in->reg = ((in->modrm >> 3) & 7) | ((in->rex & X86_REX_R) ? 8 : 0);
    uint8_t rm = in->modrm & 7;
    in->rm = rm | ((in->rex & X86_REX_B) ? 8 : 0);
    if (in->mod == 3 || modrm_always_register(in))
        return 0;
    in->mem = true;
    return in->addrsize == 2 ? decode_mem16(c, in, rm) : decode_mem32(c, in, rm);
}

/* VEX (C4/C5), EVEX (62) and XOP (8F) escapes (SDM vol 2A 2.3.5, 2.7.1; AMD APM vol 3 1.9). */
static bool is_vex_escape(const struct cursor *c, const struct x86_insn *in, int *err)
{
    uint8_t op = in->opcode, next;
    *err = 0;
    if (in->map != X86_MAP_ONE || (op != 0xc4 && op != 0xc5 && op != 0x62 && op != 0x8f))
        return false;
    if (in->mode == X86_MODE_REAL && op != 0x8f)
        return false;
    int rc = peek8(c, &next);
    if (rc) {
        *err = rc;
        return false;
    }
    if (op == 0x8f)
        return (next & 0x38) != 0;
    return in->mode == X86_MODE_LONG64 || (next >> 6) == 3;
}

static unsigned imm_z(const struct x86_insn *in)
{
    return in->opsize == 2 ? 2 : 4;
}

static int take_imm(struct cursor *c, struct x86_insn *in, unsigned size)
{
    uint64_t v;
    int rc = take(c, size, &v);
    if (rc)
        return rc;
    if (!in->imm_size) {
        in->imm = v;
        in->imm_size = (uint8_t)size;
    } else {
        in->imm2 = v;
        in->imm2_size = (uint8_t)size;
    }
    return 0;
}

static int decode_immediates(struct cursor *c, struct x86_insn *in, uint16_t flags)
{
    bool long64 = in->mode == X86_MODE_LONG64;
    int rc = 0;
    if (flags & F_IMM8)
        rc = take_imm(c, in, 1);
    else if (flags & F_IMM16)
        rc = take_imm(c, in, 2);
    else if (flags & F_IMMZ)
        rc = take_imm(c, in, imm_z(in));
    else if (flags & F_IMMV)
        rc = take_imm(c, in, in->opsize);
    else if (flags & F_MOFFS)
        rc = take_imm(c, in, in->addrsize);
    else if (flags & F_REL)
        rc = take_imm(c, in, long64 ? 4 : imm_z(in));
    else if ((flags & F_FAR) && !long64) {
        rc = take_imm(c, in, imm_z(in));
        if (!rc)
            rc = take_imm(c, in, 2);
    } else if (flags & F_ENTER) {
        rc = take_imm(c, in, 2);
        if (!rc)
            rc = take_imm(c, in, 1);
    } else if ((flags & F_GRP3) && (in->reg & 7) <= 1) {
        rc = take_imm(c, in, in->opcode == 0xf6 ? 1 : imm_z(in));
    }
    return rc;
}

/* Opcode byte(s) after the prefixes: one-byte map, 0F, 0F 38, 0F 3A. Returns the operand flags. */
static int decode_opcode(struct cursor *c, struct x86_insn *in, uint8_t first, uint16_t *flags)
{
    in->map = X86_MAP_ONE;
    in->opcode = first;
    *flags = one_byte_ops[first];
    if (first != 0x0f)
        return 0;
    int rc = take8(c, &in->opcode);
    if (rc)
        return rc;
    in->map = X86_MAP_0F;
    *flags = two_byte_ops[in->opcode];
    if (in->opcode != 0x38 && in->opcode != 0x3a)
        return 0;
    in->map = in->opcode == 0x38 ? X86_MAP_0F38 : X86_MAP_0F3A;
    *flags = in->map == X86_MAP_0F38 ? F_MODRM : F_MODRM | F_IMM8;
    return take8(c, &in->opcode);
}

int x86_decode(const uint8_t *bytes, size_t n, enum x86_mode mode, struct x86_insn *insn)
{
    memset(insn, 0, sizeof(*insn));
    insn->mode = mode;
    insn->seg_override = X86_SEG_NONE;
    insn->base = X86_NO_REG;
    insn->index = X86_NO_REG;
    insn->scale = 1;
    insn->default_seg = X86_SEG_DS;
    struct cursor c = { bytes, bytes ? n : 0, 0 };
    uint8_t first;
    uint16_t flags;
    int rc = decode_prefixes(&c, insn, &first);
    if (rc)
        return rc;
    insn->nprefixes = (uint8_t)(c.pos - 1);
    compute_sizes(insn);
    rc = decode_opcode(&c, insn, first, &flags);
    if (rc)
        return rc;
    if (is_vex_escape(&c, insn, &rc))
        return X86_DECODE_VEX;
    if (rc)
        return rc;
    if (flags & F_MODRM) {
        rc = decode_modrm(&c, insn);
        if (rc)
            return rc;
    }
    rc = decode_immediates(&c, insn, flags);
    if (rc)
        return rc;
    insn->len = (uint8_t)c.pos;
    return 0;
}

/* ---- Names for reports (SDM vol 2A appendix A opcode maps, group tables A-6). ---- */

static const char *const alu_names[8] = { "add", "or", "adc", "sbb", "and", "sub", "xor", "cmp" };
static const char *const shift_names[8] = { "rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar" };
static const char *const grp3_names[8] = { "test", "test", "not", "neg", "mul", "imul", "div", "idiv" };
static const char *const grp5_names[8] = { "inc", "dec", "call", "callf", "jmp", "jmpf", "push", NULL };

/* One-byte opcodes with a fixed name. */
static const char *const one_byte_names[256] = {
    [0x06] = "push es", [0x07] = "pop es", [0x0e] = "push cs", [0x16] = "push ss", [0x17] = "pop ss",
    [0x1e] = "push ds", [0x1f] = "pop ds", [0x27] = "daa", [0x2f] = "das", [0x37] = "aaa", [0x3f] = "aas",
    [0x40 ... 0x47] = "inc", [0x48 ... 0x4f] = "dec", [0x50 ... 0x57] = "push", [0x58 ... 0x5f] = "pop",
    [0x60] = "pusha", [0x61] = "popa", [0x62] = "bound", [0x63] = "movsxd", [0x68] = "push",
    [0x69] = "imul", [0x6a] = "push", [0x6b] = "imul", [0x6c ... 0x6d] = "ins", [0x6e ... 0x6f] = "outs",
    [0x70 ... 0x7f] = "jcc", [0x84 ... 0x85] = "test", [0x86 ... 0x87] = "xchg", [0x88 ... 0x8c] = "mov",
    [0x8d] = "lea", [0x8e] = "mov", [0x8f] = "pop", [0x90] = "nop", [0x91 ... 0x97] = "xchg",
    [0x98] = "cbw", [0x99] = "cwd", [0x9a] = "callf", [0x9b] = "fwait", [0x9c] = "pushf",
    [0x9d] = "popf", [0x9e] = "sahf", [0x9f] = "lahf", [0xa0 ... 0xa3] = "mov", [0xa4 ... 0xa5] = "movs",
    [0xa6 ... 0xa7] = "cmps", [0xa8 ... 0xa9] = "test", [0xaa ... 0xab] = "stos", [0xac ... 0xad] = "lods",
    [0xae ... 0xaf] = "scas", [0xb0 ... 0xbf] = "mov", [0xc2 ... 0xc3] = "ret", [0xc4] = "les",
    [0xc5] = "lds", [0xc6 ... 0xc7] = "mov", [0xc8] = "enter", [0xc9] = "leave", [0xca ... 0xcb] = "retf",
    [0xcc] = "int3", [0xcd] = "int", [0xce] = "into", [0xd4] = "aam", [0xd5] = "aad", [0xd6] = "salc",
    [0xd7] = "xlat", [0xd8 ... 0xdf] = "x87", [0xe0] = "loopne", [0xe1] = "loope", [0xe2] = "loop",
    [0xe3] = "jcxz", [0xe4 ... 0xe5] = "in", [0xe6 ... 0xe7] = "out", [0xe8] = "call", [0xe9] = "jmp",
    [0xea] = "jmpf", [0xeb] = "jmp", [0xec ... 0xed] = "in", [0xee ... 0xef] = "out", [0xf1] = "int1",
    [0xf4] = "hlt", [0xf5] = "cmc", [0xf8] = "clc", [0xf9] = "stc", [0xfa] = "cli", [0xfb] = "sti",
    [0xfc] = "cld", [0xfd] = "std",
};

static const char *one_byte_name(const struct x86_insn *in)
{
    uint8_t op = in->opcode, r = in->reg & 7;
    if (op < 0x40 && (op & 7) < 6)
        return alu_names[op >> 3];
    if (op >= 0x80 && op <= 0x83)
        return alu_names[r];
    if (op == 0xc0 || op == 0xc1 || (op >= 0xd0 && op <= 0xd3))
        return shift_names[r];
    if (op == 0xf6 || op == 0xf7)
        return grp3_names[r];
    if (op == 0xfe)
        return r < 2 ? grp5_names[r] : NULL;
    if (op == 0xff)
        return grp5_names[r];
    if (op == 0x90 && in->last_rep == 0xf3)
        return "pause";
    if (op == 0xcf)
        return in->opsize == 8 ? "iretq" : in->opsize == 4 ? "iretd" : "iret";
    return one_byte_names[op];
}

/* 0F 01 with mod = 3: instructions named by the whole ModRM byte (SDM vol 2A table A-6, group 7). */
static const char *grp7_reg_name(uint8_t modrm)
{
    switch (modrm) {
    case 0xc1: return "vmcall";
    case 0xc2: return "vmlaunch";
    case 0xc3: return "vmresume";
    case 0xc4: return "vmxoff";
    case 0xc8: return "monitor";
    case 0xc9: return "mwait";
    case 0xca: return "clac";
    case 0xcb: return "stac";
    case 0xd0: return "xgetbv";
    case 0xd1: return "xsetbv";
    case 0xd5: return "xend";
    case 0xd6: return "xtest";
    case 0xd8: return "vmrun";
    case 0xd9: return "vmmcall";
    case 0xee: return "rdpkru";
    case 0xef: return "wrpkru";
    case 0xf8: return "swapgs";
    case 0xf9: return "rdtscp";
    case 0xfa: return "monitorx";
    case 0xfb: return "mwaitx";
    case 0xfc: return "clzero";
    default: return (modrm & 0x38) == 0x20 ? "smsw" : (modrm & 0x38) == 0x30 ? "lmsw" : NULL;
    }
}

static const char *grp15_name(const struct x86_insn *in)
{
    static const char *const mem_names[8] = { "fxsave", "fxrstor", "ldmxcsr", "stmxcsr",
                                              "xsave", "xrstor", "xsaveopt", "clflush" };
    static const char *const reg_names[8] = { "rdfsbase", "rdgsbase", "wrfsbase", "wrgsbase",
                                              NULL, "lfence", "mfence", "sfence" };
    uint8_t r = in->reg & 7;
    if (in->mem) {
        if (in->opsize_prefix && r == 6)
            return "clwb";
        if (in->opsize_prefix && r == 7)
            return "clflushopt";
        return mem_names[r];
    }
    if (r < 4 && in->last_rep != 0xf3)
        return NULL;
    return reg_names[r];
}

static const char *grp9_name(const struct x86_insn *in)
{
    uint8_t r = in->reg & 7;
    if (!in->mem) {
        if (r == 6)
            return "rdrand";
        if (r == 7)
            return in->last_rep == 0xf3 ? "rdpid" : "rdseed";
        return NULL;
    }
    switch (r) {
    case 1: return (in->rex & X86_REX_W) ? "cmpxchg16b" : "cmpxchg8b";
    case 3: return "xrstors";
    case 4: return "xsavec";
    case 5: return "xsaves";
    case 6: return in->opsize_prefix ? "vmclear" : in->last_rep == 0xf3 ? "vmxon" : "vmptrld";
    case 7: return "vmptrst";
    default: return NULL;
    }
}

/* Two-byte opcodes with a fixed name. */
static const char *const two_byte_names[256] = {
    [0x02] = "lar", [0x03] = "lsl", [0x05] = "syscall", [0x06] = "clts", [0x07] = "sysret",
    [0x08] = "invd", [0x09] = "wbinvd", [0x0b] = "ud2", [0x0d] = "prefetch", [0x0e] = "femms",
    [0x0f] = "3dnow", [0x10 ... 0x11] = "movups", [0x12 ... 0x17] = "sse mov", [0x18] = "prefetch",
    [0x19 ... 0x1f] = "nop", [0x20] = "mov from cr", [0x21] = "mov from dr", [0x22] = "mov to cr",
    [0x23] = "mov to dr", [0x28 ... 0x29] = "movaps", [0x2a ... 0x2f] = "sse cvt/cmp",
    [0x30] = "wrmsr", [0x31] = "rdtsc", [0x32] = "rdmsr", [0x33] = "rdpmc", [0x34] = "sysenter",
    [0x35] = "sysexit", [0x37] = "getsec", [0x40 ... 0x4f] = "cmovcc", [0x50 ... 0x6f] = "sse",
    [0x70 ... 0x76] = "sse", [0x77] = "emms", [0x78] = "vmread", [0x79] = "vmwrite", [0x7c ... 0x7f] = "sse",
    [0x80 ... 0x8f] = "jcc", [0x90 ... 0x9f] = "setcc", [0xa0] = "push fs", [0xa1] = "pop fs",
    [0xa2] = "cpuid", [0xa3] = "bt", [0xa4 ... 0xa5] = "shld", [0xa8] = "push gs", [0xa9] = "pop gs",
    [0xaa] = "rsm", [0xab] = "bts", [0xac ... 0xad] = "shrd", [0xaf] = "imul",
    [0xb0 ... 0xb1] = "cmpxchg", [0xb2] = "lss", [0xb3] = "btr", [0xb4] = "lfs", [0xb5] = "lgs",
    [0xb6 ... 0xb7] = "movzx", [0xb9] = "ud1", [0xbb] = "btc", [0xbe ... 0xbf] = "movsx",
    [0xc0 ... 0xc1] = "xadd", [0xc2] = "cmpps", [0xc3] = "movnti", [0xc4 ... 0xc6] = "sse",
    [0xc8 ... 0xcf] = "bswap", [0xd0 ... 0xfe] = "sse", [0xff] = "ud0",
};

static const char *two_byte_name(const struct x86_insn *in)
{
    static const char *const grp6_names[8] = { "sldt", "str", "lldt", "ltr", "verr", "verw", NULL, NULL };
    static const char *const grp7_names[8] = { "sgdt", "sidt", "lgdt", "lidt", "smsw", NULL, "lmsw", "invlpg" };
    static const char *const grp8_names[8] = { NULL, NULL, NULL, NULL, "bt", "bts", "btr", "btc" };
    uint8_t op = in->opcode, r = in->reg & 7;
    switch (op) {
    case 0x00: return grp6_names[r];
    case 0x01: return in->mem ? grp7_names[r] : grp7_reg_name(in->modrm);
    case 0x1e:
        if (in->last_rep == 0xf3 && in->modrm == 0xfa)
            return "endbr64";
        if (in->last_rep == 0xf3 && in->modrm == 0xfb)
            return "endbr32";
        return "nop";
    case 0xae: return grp15_name(in);
    case 0xb8: return in->last_rep == 0xf3 ? "popcnt" : "jmpe";
    case 0xba: return grp8_names[r];
    case 0xbc: return in->last_rep == 0xf3 ? "tzcnt" : "bsf";
    case 0xbd: return in->last_rep == 0xf3 ? "lzcnt" : "bsr";
    case 0xc7: return grp9_name(in);
    case 0xef: return "pxor";
    case 0x57: return "xorps";
    case 0x6f: case 0x7f: return "movdq";
    default: return two_byte_names[op];
    }
}

static const char *three_byte_name(const struct x86_insn *in)
{
    if (in->map == X86_MAP_0F38 && (in->opcode == 0xf0 || in->opcode == 0xf1))
        return in->last_rep == 0xf2 ? "crc32" : "movbe";
    return NULL;
}

void x86_insn_mnemonic(const struct x86_insn *in, char *out, size_t size)
{
    const char *name = NULL;
    if (!size)
        return;
    switch (in->map) {
    case X86_MAP_ONE: name = one_byte_name(in); break;
    case X86_MAP_0F: name = two_byte_name(in); break;
    default: name = three_byte_name(in); break;
    }
    if (name)
        snprintf(out, size, "%s", name);
    else if (in->map == X86_MAP_ONE)
        snprintf(out, size, "(unknown %02x)", in->opcode);
    else if (in->map == X86_MAP_0F)
        snprintf(out, size, "(unknown 0f %02x)", in->opcode);
    else
        snprintf(out, size, "(unknown 0f %02x %02x)", in->map == X86_MAP_0F38 ? 0x38 : 0x3a, in->opcode);
}
