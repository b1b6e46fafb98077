/* x86 instruction decoder for the emulation assist: prefixes, REX, opcode maps, ModRM/SIB, immediates. */
#ifndef ARCH_X86_DECODE_H
#define ARCH_X86_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <linux/kvm.h>

/* Architectural maximum instruction length (Intel SDM vol 2A 2.3.11). */
#define X86_MAX_INSN_LEN 15

/* Execution mode, as far as instruction decoding is concerned. */
enum x86_mode {
    X86_MODE_REAL,      /* CR0.PE = 0 */
    X86_MODE_PROT16,    /* protected (or compatibility) mode, CS.D = 0 */
    X86_MODE_PROT32,    /* protected (or compatibility) mode, CS.D = 1 */
    X86_MODE_LONG64,    /* EFER.LMA = 1 and CS.L = 1 */
};

/* Segment register numbers as encoded in instructions (SDM vol 2A 3.1.1.3 "Sreg"). */
enum x86_seg { X86_SEG_ES, X86_SEG_CS, X86_SEG_SS, X86_SEG_DS, X86_SEG_FS, X86_SEG_GS, X86_SEG_NONE = -1 };

/* General-purpose register numbers as encoded in ModRM/SIB/REX (SDM vol 2A 2.1.5, table 3-1). */
enum x86_gpr {
    X86_RAX, X86_RCX, X86_RDX, X86_RBX, X86_RSP, X86_RBP, X86_RSI, X86_RDI,
    X86_R8, X86_R9, X86_R10, X86_R11, X86_R12, X86_R13, X86_R14, X86_R15,
    X86_RIP_REL = 16,   /* base "register" of a RIP-relative operand */
    X86_NO_REG = -1,
};

/* Opcode maps (SDM vol 2A appendix A). */
enum x86_opmap { X86_MAP_ONE, X86_MAP_0F, X86_MAP_0F38, X86_MAP_0F3A };

/* REX bits (SDM vol 2A 2.2.1). */
#define X86_REX_B 0x1
#define X86_REX_X 0x2
#define X86_REX_R 0x4
#define X86_REX_W 0x8

struct x86_insn {
    enum x86_mode mode;
    uint8_t len;            /* total length in bytes */
    uint8_t nprefixes;      /* legacy + REX prefix bytes */

    /* Prefixes */
    bool opsize_prefix;     /* 66 */
    bool addrsize_prefix;   /* 67 */
    bool lock;              /* F0 */
    bool rep;               /* F3 */
    bool repne;             /* F2 */
    uint8_t last_rep;       /* F2 or F3, whichever came last (mandatory-prefix selection), else 0 */
    int seg_override;       /* enum x86_seg, X86_SEG_NONE if none */
    uint8_t rex;            /* REX byte (0x40..0x4f) if one applies, else 0 */

    /* Sizes in bytes */
    uint8_t opsize;         /* 2, 4 or 8 */
    uint8_t addrsize;       /* 2, 4 or 8 */

    /* Opcode */
    enum x86_opmap map;
    uint8_t opcode;

    /* ModRM and the operand it describes */
    bool has_modrm;
    uint8_t modrm;
    uint8_t mod;            /* ModRM.mod */
    uint8_t reg;            /* ModRM.reg, extended by REX.R */
    uint8_t rm;             /* ModRM.rm extended by REX.B (register operand when mod == 3) */
    bool has_sib;
    uint8_t sib;
    bool mem;               /* the r/m operand is in memory */
    int base;               /* enum x86_gpr: base register, X86_RIP_REL, or X86_NO_REG */
    int index;              /* enum x86_gpr: index register or X86_NO_REG */
    uint8_t scale;          /* 1, 2, 4, 8 */
    int64_t disp;           /* sign-extended displacement */
    uint8_t disp_size;      /* 0, 1, 2 or 4 */
    int default_seg;        /* X86_SEG_DS, or X86_SEG_SS for rBP/rSP based forms */

    /* Immediate(s) */
    uint64_t imm;           /* first immediate, zero-extended */
    uint8_t imm_size;
    uint64_t imm2;          /* second immediate (ENTER, far pointers) */
    uint8_t imm2_size;
};

/* Decoder errors. */
#define X86_DECODE_TRUNCATED  (-ENODATA)     /* need more bytes than were given */
#define X86_DECODE_TOO_LONG   (-E2BIG)       /* longer than 15 bytes (#GP(0) on a CPU) */
#define X86_DECODE_VEX        (-EOPNOTSUPP)  /* VEX/EVEX/XOP encodings are not decoded */

/* Decoding mode of a vCPU from its system registers (SDM vol 3A 2.2 / 5.2.1):
 * real mode if CR0.PE = 0, 64-bit if EFER.LMA && CS.L, else 16/32-bit by CS.D. */
enum x86_mode x86_mode_from_sregs(const struct kvm_sregs *s);

/* Decode one instruction from bytes[0..n). Never reads beyond n or beyond 15 bytes.
 * Returns 0 or a negative X86_DECODE_* error. Unknown opcodes decode (with their length) as well:
 * whether they are valid is for the executor to say. */
int x86_decode(const uint8_t *bytes, size_t n, enum x86_mode mode, struct x86_insn *insn);

/* A short name for a decoded instruction ("popcnt", "iret", "xrstor", "(unknown 0f 0b)"). */
void x86_insn_mnemonic(const struct x86_insn *insn, char *out, size_t size);

#endif
