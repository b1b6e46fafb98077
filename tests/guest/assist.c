/*
 * Test guest "assist": runs each instruction that vmm's emulation assist completes when KVM's
 * instruction emulator gives up (int3, clac/stac, popcnt, cmpxchg16b, fwait, iretq, 32-bit iret)
 * and checks the architectural results from inside.
 */
#include "rt.h"
#include "io.h"

#define RFLAGS_CF (1ull << 0)
#define RFLAGS_ZF (1ull << 6)
#define RFLAGS_AC (1ull << 18)
#define CR4_SMAP (1ull << 21)
#define CPUID1_ECX_CX16 (1u << 13)
#define CPUID1_ECX_POPCNT (1u << 23)
#define CPUID7_EBX_SMAP (1u << 20)

void assist_int3(void);
extern const char assist_int3_resume[];
int assist_iretq(void);

static const char *first_failure;

static void report(const char *item, bool ok, const char *detail)
{
    if (ok) {
        printf("assist: %s ok\n", item);
        return;
    }
    printf("assist: %s FAIL%s%s\n", item, detail[0] ? ": " : "", detail);
    if (!first_failure)
        first_failure = item;
}

static void skip(const char *item, const char *why)
{
    printf("assist: %s skipped (%s)\n", item, why);
}

static volatile uint64_t bp_rip;
static volatile unsigned bp_hits;

static void bp_handler(struct trap_frame *frame)
{
    bp_hits++;
    bp_rip = frame->rip;
}

/* #BP is a trap: the saved RIP is the instruction after int3 (SDM vol 3 §6.5, §6.15). */
static void test_int3(void)
{
    idt_set_handler(3, bp_handler);
    assist_int3();
    idt_set_handler(3, NULL);
    bool ok = bp_hits == 1 && bp_rip == (uint64_t)(uintptr_t)assist_int3_resume;
    if (!ok)
        printf("assist: int3 hits=%u rip=0x%lx expected 0x%lx\n", bp_hits, (unsigned long)bp_rip,
               (unsigned long)(uintptr_t)assist_int3_resume);
    report("int3", ok, "");
}

/* stac sets RFLAGS.AC, clac clears it; both #UD unless CR4.SMAP (SDM vol 2 CLAC/STAC). */
static void test_clac_stac(void)
{
    if (cpuid(0, 0).eax < 7 || !(cpuid(7, 0).ebx & CPUID7_EBX_SMAP)) {
        skip("clac/stac", "no SMAP");
        return;
    }
    uint64_t cr4 = read_cr4();
    write_cr4(cr4 | CR4_SMAP);
    __asm__ volatile("stac" ::: "cc");
    bool set = (read_rflags() & RFLAGS_AC) != 0;
    __asm__ volatile("clac" ::: "cc");
    bool cleared = (read_rflags() & RFLAGS_AC) == 0;
    write_cr4(cr4);
    report("clac/stac", set && cleared, !set ? "stac left AC clear" : "clac left AC set");
}

static uint64_t popcnt_reg(uint64_t v, bool *zf)
{
    uint64_t r;
    __asm__ volatile("popcnt %2, %0; setz %1" : "=&r"(r), "=qm"(*zf) : "r"(v) : "cc");
    return r;
}

static uint32_t popcnt_reg32(uint32_t v, bool *zf)
{
    uint32_t r;
    __asm__ volatile("popcntl %2, %0; setz %1" : "=&r"(r), "=qm"(*zf) : "r"(v) : "cc");
    return r;
}

static uint64_t popcnt_mem(const volatile uint64_t *p, bool *zf)
{
    uint64_t r;
    __asm__ volatile("popcntq %2, %0; setz %1" : "=&r"(r), "=qm"(*zf) : "m"(*p) : "cc");
    return r;
}

/* POPCNT counts set bits; ZF is set only for a zero source (SDM vol 2 POPCNT). */
static void test_popcnt(void)
{
    if (!(cpuid(1, 0).ecx & CPUID1_ECX_POPCNT)) {
        skip("popcnt", "no POPCNT");
        return;
    }
    static volatile uint64_t mem_pattern = 0x8000000000000001ull, mem_zero;
    bool zf1, zf2, zf3, zf4, zf5;
    uint64_t a = popcnt_reg(0xf0f0f0f0f0f0f0f0ull, &zf1);
    uint64_t b = popcnt_reg(0, &zf2);
    uint32_t c = popcnt_reg32(0xffffffffu, &zf3);
    uint64_t d = popcnt_mem(&mem_pattern, &zf4);
    uint64_t e = popcnt_mem(&mem_zero, &zf5);
    bool ok = a == 32 && !zf1 && b == 0 && zf2 && c == 32 && !zf3 && d == 2 && !zf4 && e == 0 && zf5;
    if (!ok)
        printf("assist: popcnt got %lu/%d %lu/%d %u/%d %lu/%d %lu/%d\n", (unsigned long)a, zf1,
               (unsigned long)b, zf2, c, zf3, (unsigned long)d, zf4, (unsigned long)e, zf5);
    report("popcnt", ok, "");
}

struct u128 {
    uint64_t lo, hi;
} __attribute__((aligned(16)));

static bool cmpxchg16b(volatile struct u128 *mem, struct u128 *expected, struct u128 desired)
{
    bool zf;
    __asm__ volatile("lock cmpxchg16b %1; setz %0"
                     : "=q"(zf), "+m"(*mem), "+a"(expected->lo), "+d"(expected->hi)
                     : "b"(desired.lo), "c"(desired.hi)
                     : "cc", "memory");
    return zf;
}

/* Equal: memory takes RCX:RBX and ZF=1; unequal: RDX:RAX takes memory, ZF=0 (SDM vol 2). */
static void test_cmpxchg16b(void)
{
    if (!(cpuid(1, 0).ecx & CPUID1_ECX_CX16)) {
        skip("cmpxchg16b", "no CX16");
        return;
    }
    static volatile struct u128 slot;
    slot.lo = 0x1111111111111111ull;
    slot.hi = 0x2222222222222222ull;
    struct u128 exp = { 0x1111111111111111ull, 0x2222222222222222ull };
    bool eq_zf = cmpxchg16b(&slot, &exp, (struct u128){ 0x3333333333333333ull, 0x4444444444444444ull });
    bool eq_ok = eq_zf && slot.lo == 0x3333333333333333ull && slot.hi == 0x4444444444444444ull;
    struct u128 wrong = { 5, 6 };
    bool ne_zf = cmpxchg16b(&slot, &wrong, (struct u128){ 7, 8 });
    bool ne_ok = !ne_zf && wrong.lo == 0x3333333333333333ull && wrong.hi == 0x4444444444444444ull &&
                 slot.lo == 0x3333333333333333ull && slot.hi == 0x4444444444444444ull;
    report("cmpxchg16b", eq_ok && ne_ok, !eq_ok ? "equal case" : "unequal case");
}

/* With CR0.TS clear and no pending x87 exception, fwait completes and changes nothing. */
static void test_fwait(void)
{
    uint64_t marker = 0x1234;
    __asm__ volatile("fwait" : "+r"(marker));
    report("fwait", marker == 0x1234, "");
}

static void test_iretq(void)
{
    int r = assist_iretq();
    report("iretq", r == 1, r == 2 ? "RFLAGS not from frame" : "RSP not from frame");
}

/* Done by entry.S in 32-bit protected mode before paging (built with ASSIST_IRET32). */
static void test_iret32(void)
{
    uint32_t r = iret32_status;
    report("iret32", r == 1, r == 0 ? "not run" : r == 2 ? "EFLAGS not from frame" : "ESP wrong");
}

int main(void)
{
    test_iret32();
    test_int3();
    test_clac_stac();
    test_popcnt();
    test_cmpxchg16b();
    test_fwait();
    test_iretq();
    if (first_failure)
        printf("assist: FAIL %s\n", first_failure);
    else
        printf("assist: all ok\n");
    return 0;
}
