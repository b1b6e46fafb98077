/* Unit tests for the x86 instruction decoder: lengths, ModRM/SIB forms, prefixes, REX, limits, names. */
#include <stdlib.h>

#include "arch/x86/decode.h"
#include "tests/unit/check.h"

/* Decode from an exactly-sized heap copy so that ASan catches any read past the given length. */
static int decode_exact(const uint8_t *bytes, size_t n, enum x86_mode mode, struct x86_insn *in)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (n)
        memcpy(copy, bytes, n);
    int rc = x86_decode(copy, n, mode, in);
    free(copy);
    return rc;
}

#define DECODE(mode, ...)                                                                  \
    ({                                                                                     \
        static const uint8_t b_[] = { __VA_ARGS__ };                                       \
        decode_exact(b_, sizeof(b_), (mode), &in);                                         \
    })

static const char *name_of(const struct x86_insn *in)
{
    static char buf[32];
    x86_insn_mnemonic(in, buf, sizeof(buf));
    return buf;
}

TEST(one_byte_without_operands)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x90), 0);
    CHECK_EQ(in.len, 1);
    CHECK(!in.has_modrm);
    CHECK_EQ(DECODE(X86_MODE_REAL, 0xcc), 0);
    CHECK_EQ(in.len, 1);
    CHECK(!strcmp(name_of(&in), "int3"));
}

TEST(modrm_register_form)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x01, 0xd8), 0);   /* add eax, ebx */
    CHECK_EQ(in.len, 2);
    CHECK_EQ(in.mod, 3);
    CHECK_EQ(in.reg, X86_RBX);
    CHECK_EQ(in.rm, X86_RAX);
    CHECK(!in.mem);
}

TEST(sib_with_disp8_defaults_to_ss)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x8b, 0x44, 0x24, 0x08), 0);   /* mov eax, [esp+8] */
    CHECK_EQ(in.len, 4);
    CHECK(in.mem && in.has_sib);
    CHECK_EQ(in.base, X86_RSP);
    CHECK_EQ(in.index, X86_NO_REG);
    CHECK_EQ(in.disp, 8);
    CHECK_EQ(in.default_seg, X86_SEG_SS);
}

TEST(sib_without_base_has_disp32)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x8b, 0x04, 0x8d, 0x00, 0x10, 0x00, 0x00), 0);   /* [ecx*4+0x1000] */
    CHECK_EQ(in.len, 7);
    CHECK_EQ(in.base, X86_NO_REG);
    CHECK_EQ(in.index, X86_RCX);
    CHECK_EQ(in.scale, 4);
    CHECK_EQ(in.disp, 0x1000);
    CHECK_EQ(in.default_seg, X86_SEG_DS);
}

TEST(negative_disp32_sign_extends)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x8b, 0x83, 0xf0, 0xff, 0xff, 0xff), 0);   /* mov eax, [rbx-16] */
    CHECK_EQ(in.len, 6);
    CHECK_EQ(in.base, X86_RBX);
    CHECK_EQ(in.disp, (uint64_t)-16);
}

TEST(addressing_16bit_forms)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_REAL, 0x8b, 0x46, 0x02), 0);   /* mov ax, [bp+2] */
    CHECK_EQ(in.len, 3);
    CHECK_EQ(in.base, X86_RBP);
    CHECK_EQ(in.index, X86_NO_REG);
    CHECK_EQ(in.default_seg, X86_SEG_SS);
    CHECK_EQ(in.opsize, 2);
    CHECK_EQ(DECODE(X86_MODE_REAL, 0x8b, 0x06, 0x34, 0x12), 0);   /* mov ax, [0x1234] */
    CHECK_EQ(in.len, 4);
    CHECK_EQ(in.base, X86_NO_REG);
    CHECK_EQ(in.disp, 0x1234);
    CHECK_EQ(in.default_seg, X86_SEG_DS);
    CHECK_EQ(DECODE(X86_MODE_PROT16, 0x8b, 0x80, 0x00, 0x80), 0);   /* mov ax, [bx+si-0x8000] */
    CHECK_EQ(in.base, X86_RBX);
    CHECK_EQ(in.index, X86_RSI);
    CHECK_EQ(in.disp, (uint64_t)-0x8000);
    CHECK_EQ(DECODE(X86_MODE_REAL, 0x8b, 0x04), 0);   /* mov ax, [si] */
    CHECK_EQ(in.base, X86_RSI);
    CHECK_EQ(in.index, X86_NO_REG);
}

TEST(prefix_67_switches_addressing)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_REAL, 0x67, 0x8b, 0x04, 0x24), 0);   /* mov ax, [esp] */
    CHECK_EQ(in.len, 4);
    CHECK_EQ(in.addrsize, 4);
    CHECK(in.has_sib);
    CHECK_EQ(in.base, X86_RSP);
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x67, 0x8b, 0x06, 0x00, 0x20), 0);   /* mov eax, [0x2000] (16-bit) */
    CHECK_EQ(in.len, 5);
    CHECK_EQ(in.addrsize, 2);
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x67, 0x8b, 0x00), 0);
    CHECK_EQ(in.addrsize, 4);
}

TEST(rip_relative_only_in_64bit_mode)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00), 0);
    CHECK_EQ(in.base, X86_RIP_REL);
    CHECK_EQ(in.disp, 0x10);
    CHECK_EQ(in.len, 6);
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00), 0);
    CHECK_EQ(in.base, X86_NO_REG);
}

TEST(rex_extends_registers_and_operand_size)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0xf3, 0x4d, 0x0f, 0xb8, 0xc1), 0);   /* popcnt r8, r9 */
    CHECK_EQ(in.len, 5);
    CHECK_EQ(in.rex, 0x4d);
    CHECK_EQ(in.opsize, 8);
    CHECK_EQ(in.reg, X86_R8);
    CHECK_EQ(in.rm, X86_R9);
    CHECK(!strcmp(name_of(&in), "popcnt"));
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x42, 0x8b, 0x04, 0xa0), 0);   /* mov eax, [rax+r12*4] */
    CHECK_EQ(in.index, X86_R12);
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x41, 0x8b, 0x45, 0x00), 0);   /* mov eax, [r13+0] */
    CHECK_EQ(in.base, X86_R13);
    CHECK_EQ(in.disp_size, 1);
}

TEST(rex_is_inc_dec_outside_64bit_mode)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x48, 0x0f, 0xc7, 0x0e), 0);
    CHECK_EQ(in.len, 1);
    CHECK_EQ(in.opcode, 0x48);
    CHECK(!strcmp(name_of(&in), "dec"));
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x48, 0x0f, 0xc7, 0x0e), 0);
    CHECK_EQ(in.len, 4);
    CHECK(!strcmp(name_of(&in), "cmpxchg16b"));
}

TEST(rex_before_legacy_prefix_is_ignored)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x48, 0xf3, 0x0f, 0xb8, 0xc1), 0);
    CHECK_EQ(in.rex, 0);
    CHECK_EQ(in.opsize, 4);
    CHECK_EQ(in.nprefixes, 2);
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x66, 0x48, 0xcf), 0);   /* REX.W beats 66 */
    CHECK_EQ(in.opsize, 8);
    CHECK(!strcmp(name_of(&in), "iretq"));
}

TEST(immediate_sizes)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x66, 0xb8, 0x34, 0x12), 0);
    CHECK_EQ(in.len, 4);
    CHECK_EQ(in.imm, 0x1234);
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8), 0);
    CHECK_EQ(in.len, 10);
    CHECK_EQ(in.imm, 0x0807060504030201ull);
    CHECK_EQ(DECODE(X86_MODE_REAL, 0xc8, 0x10, 0x00, 0x01), 0);   /* enter 16, 1 */
    CHECK_EQ(in.len, 4);
    CHECK_EQ(in.imm, 0x10);
    CHECK_EQ(in.imm2, 1);
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0xf7, 0xc0, 1, 0, 0, 0), 0);   /* test eax, 1 */
    CHECK_EQ(in.len, 6);
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0xf7, 0xd0), 0);   /* not eax */
    CHECK_EQ(in.len, 2);
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x48, 0x81, 0x44, 0x24, 0x08, 1, 0, 0, 0), 0);   /* add [rsp+8], 1 */
    CHECK_EQ(in.len, 9);
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x66, 0xe8, 1, 0, 0, 0), 0);   /* call rel32 even with 66 */
    CHECK_EQ(in.len, 6);
    CHECK_EQ(DECODE(X86_MODE_REAL, 0xea, 0x00, 0x7c, 0x00, 0x00), 0);   /* jmp far 0000:7c00 */
    CHECK_EQ(in.len, 5);
    CHECK_EQ(in.imm, 0x7c00);
}

TEST(moffs_uses_address_size)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0xa1, 1, 2, 3, 4, 5, 6, 7, 8), 0);
    CHECK_EQ(in.len, 9);
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x67, 0xa1, 1, 2, 3, 4), 0);
    CHECK_EQ(in.len, 6);
    CHECK_EQ(DECODE(X86_MODE_REAL, 0xa1, 1, 2), 0);
    CHECK_EQ(in.len, 3);
}

TEST(segment_and_lock_prefixes)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x64, 0xf0, 0x48, 0x0f, 0xc7, 0x0f), 0);
    CHECK_EQ(in.seg_override, X86_SEG_FS);
    CHECK(in.lock);
    CHECK_EQ(in.len, 6);
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x2e, 0x26, 0x90), 0);   /* last segment prefix wins */
    CHECK_EQ(in.seg_override, X86_SEG_ES);
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0xf3, 0xf2, 0x90), 0);
    CHECK_EQ(in.last_rep, 0xf2);
}

TEST(truncated_input_is_an_error_at_every_length)
{
    static const uint8_t insn[] = { 0x64, 0xf0, 0x48, 0x0f, 0xc7, 0x8c, 0x88, 0x78, 0x56, 0x34, 0x12 };
    struct x86_insn in;
    for (size_t n = 0; n < sizeof(insn); n++)
        CHECK_EQ(decode_exact(insn, n, X86_MODE_LONG64, &in), X86_DECODE_TRUNCATED);
    CHECK_EQ(decode_exact(insn, sizeof(insn), X86_MODE_LONG64, &in), 0);
    CHECK_EQ(in.len, sizeof(insn));
    CHECK_EQ(x86_decode(NULL, 0, X86_MODE_REAL, &in), X86_DECODE_TRUNCATED);
}

TEST(fifteen_byte_limit)
{
    uint8_t b[32];
    struct x86_insn in;
    memset(b, 0x66, sizeof(b));
    b[14] = 0x90;
    CHECK_EQ(decode_exact(b, 15, X86_MODE_PROT32, &in), 0);
    CHECK_EQ(in.len, 15);
    b[14] = 0x66;
    b[15] = 0x90;
    CHECK_EQ(decode_exact(b, 16, X86_MODE_PROT32, &in), X86_DECODE_TOO_LONG);
    /* Prefixes + an immediate crossing byte 15. */
    memset(b, 0x2e, sizeof(b));
    b[10] = 0x05;
    CHECK_EQ(decode_exact(b, 15, X86_MODE_PROT32, &in), 0);   /* 10 prefixes + add eax, imm32 = 15 */
    b[10] = 0x2e;
    b[11] = 0x05;
    CHECK_EQ(decode_exact(b, 20, X86_MODE_PROT32, &in), X86_DECODE_TOO_LONG);
    CHECK_EQ(decode_exact(b, 32, X86_MODE_PROT32, &in), X86_DECODE_TOO_LONG);
}

TEST(vex_and_les_lds)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0xc5, 0xf8, 0x77), X86_DECODE_VEX);
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0xc5, 0xf8, 0x77), X86_DECODE_VEX);
    CHECK_EQ(DECODE(X86_MODE_REAL, 0xc5, 0x06, 0x34, 0x12), 0);   /* lds ax, [0x1234] */
    CHECK_EQ(in.len, 4);
    CHECK(!strcmp(name_of(&in), "lds"));
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x8f, 0xc0), 0);   /* pop eax, not XOP */
    CHECK_EQ(in.len, 2);
}

TEST(control_register_moves_ignore_mod)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x0f, 0x22, 0x18), 0);   /* mov cr3, rax encoded with mod 0 */
    CHECK_EQ(in.len, 3);
    CHECK(!in.mem);
}

TEST(three_byte_maps)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x08), 0);   /* palignr */
    CHECK_EQ(in.len, 6);
    CHECK_EQ(in.map, X86_MAP_0F3A);
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x0f, 0x38, 0xf0, 0x06), 0);
    CHECK_EQ(in.len, 4);
    CHECK(!strcmp(name_of(&in), "movbe"));
}

TEST(mnemonics_for_reports)
{
    struct x86_insn in;
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x0f, 0x0b), 0);
    CHECK(!strcmp(name_of(&in), "ud2"));
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x0f, 0x01, 0xd1), 0);
    CHECK(!strcmp(name_of(&in), "xsetbv"));
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x0f, 0x01, 0xca), 0);
    CHECK(!strcmp(name_of(&in), "clac"));
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x0f, 0xae, 0x10), 0);
    CHECK(!strcmp(name_of(&in), "ldmxcsr"));
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x48, 0x0f, 0xae, 0x2f), 0);
    CHECK(!strcmp(name_of(&in), "xrstor"));
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x48, 0x0f, 0xc7, 0xf0), 0);
    CHECK(!strcmp(name_of(&in), "rdrand"));
    CHECK_EQ(DECODE(X86_MODE_LONG64, 0x0f, 0x00, 0x2d, 0, 0, 0, 0), 0);
    CHECK(!strcmp(name_of(&in), "verw"));
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0xcf), 0);
    CHECK(!strcmp(name_of(&in), "iretd"));
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x0f, 0x0a), 0);
    CHECK(!strcmp(name_of(&in), "(unknown 0f 0a)"));
    CHECK_EQ(DECODE(X86_MODE_PROT32, 0x0f, 0x1f, 0x44, 0x00, 0x00), 0);
    CHECK_EQ(in.len, 5);
    CHECK(!strcmp(name_of(&in), "nop"));
}

TEST(mode_from_sregs)
{
    struct kvm_sregs s;
    memset(&s, 0, sizeof(s));
    CHECK_EQ(x86_mode_from_sregs(&s), X86_MODE_REAL);
    s.cs.db = 1;
    CHECK_EQ(x86_mode_from_sregs(&s), X86_MODE_REAL);
    s.cr0 = 1;
    CHECK_EQ(x86_mode_from_sregs(&s), X86_MODE_PROT32);
    s.cs.db = 0;
    CHECK_EQ(x86_mode_from_sregs(&s), X86_MODE_PROT16);
    s.cs.l = 1;
    CHECK_EQ(x86_mode_from_sregs(&s), X86_MODE_PROT16);   /* L ignored without EFER.LMA */
    s.efer = 1u << 10;
    CHECK_EQ(x86_mode_from_sregs(&s), X86_MODE_LONG64);
}

TEST_MAIN()
