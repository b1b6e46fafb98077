/* Unit tests for guest CPUID: model parsing, baseline masking, feature edits, topology leaves 1/4/0xB. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "arch/x86/cpuid.h"
#include "tests/unit/check.h"

TEST_MAIN()

#define BIT(n) (1u << (n))
#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

/* A made-up host as KVM_GET_SUPPORTED_CPUID might report it (Intel SDM vol 2A, CPUID). */
#define SUP_1_ECX (BIT(0) | BIT(1) | BIT(9) | BIT(13) | BIT(19) | BIT(20) | BIT(21) | BIT(23) | BIT(24) | \
                   BIT(25) | BIT(26) | BIT(27) | BIT(28) | BIT(30))     /* bit 27 OSXSAVE is not in the table */
#define SUP_1_EDX 0x178bfbffu                                             /* includes HTT (bit 28) */
#define SUP_7_EBX (BIT(0) | BIT(1) | BIT(3) | BIT(5) | BIT(7) | BIT(8) | BIT(9) | BIT(18) | BIT(19) | BIT(20))
#define SUP_7_ECX (BIT(2) | BIT(22))
#define SUP_7_EDX (BIT(10) | BIT(26))
#define SUP_EXT_ECX (BIT(0) | BIT(5) | BIT(8))
#define SUP_EXT_EDX (BIT(11) | BIT(20) | BIT(27) | BIT(29))
/* Leaf 1 EDX features in the baseline model. */
#define BASE_1_EDX (BIT(0) | BIT(2) | BIT(3) | BIT(4) | BIT(5) | BIT(6) | BIT(7) | BIT(8) | BIT(9) | BIT(11) | \
                    BIT(12) | BIT(13) | BIT(14) | BIT(15) | BIT(16) | BIT(17) | BIT(19) | BIT(23) | BIT(24) |  \
                    BIT(25) | BIT(26))
#define BASE_1_ECX (BIT(0) | BIT(21) | BIT(24) | BIT(31))
/* Deterministic cache parameters as a 16-core host reports them: EAX[31:26] = 15. */
#define L1D_EAX (0x3c000000u | BIT(14) | BIT(8) | (1u << 5) | 1u)
#define L1I_EAX (0x3c000000u | BIT(14) | BIT(8) | (1u << 5) | 2u)
#define L2_EAX (0x3c000000u | BIT(14) | BIT(8) | (2u << 5) | 3u)
#define L3_EAX (0x3c000000u | (31u << 14) | BIT(9) | BIT(8) | (3u << 5) | 3u)

struct entry_spec {
    unsigned function, index, flags;
    uint32_t eax, ebx, ecx, edx;
};

static const struct entry_spec host_leaves[] = {
    { 0, 0, 0, 0x16, 0x756e6547, 0x6c65746e, 0x49656e69 },
    { 1, 0, 0, 0x000906ea, 0x0f100800, SUP_1_ECX, SUP_1_EDX },
    { 4, 0, SIG, L1D_EAX, 0x01c0003f, 0x3f, 0 },
    { 4, 1, SIG, L1I_EAX, 0x01c0003f, 0x3f, 0 },
    { 4, 2, SIG, L2_EAX, 0x00c0003f, 0x3ff, 0 },
    { 4, 3, SIG, L3_EAX, 0x03c0003f, 0x2fff, 6 },
    { 4, 4, SIG, 0, 0, 0, 0 },
    { 7, 0, SIG, 0, SUP_7_EBX, SUP_7_ECX, SUP_7_EDX },
    { 0xb, 0, SIG, 1, 2, 0x100, 0x1e },
    { 0xb, 1, SIG, 5, 16, 0x201, 0x1e },
    { 0xb, 2, SIG, 0, 0, 2, 0x1e },
    { 0x80000000, 0, 0, 0x80000008, 0, 0, 0 },
    { 0x80000001, 0, 0, 0, 0, SUP_EXT_ECX, SUP_EXT_EDX },
    { 0x80000008, 0, 0, 0x3030, 0, 0x0001730f, 0 },
};
#define NHOST (sizeof(host_leaves) / sizeof(host_leaves[0]))

static struct kvm_cpuid2 *make_table(const struct entry_spec *spec, size_t n)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
    c->nent = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        e->function = spec[i].function;
        e->index = spec[i].index;
        e->flags = spec[i].flags;
        e->eax = spec[i].eax;
        e->ebx = spec[i].ebx;
        e->ecx = spec[i].ecx;
        e->edx = spec[i].edx;
    }
    return c;
}

/* Parses `spec` and builds vCPU `index` of `ncpus` from the made-up host table. */
static struct kvm_cpuid2 *build(const char *spec, int index, int ncpus)
{
    struct cpu_model model;
    char err[512] = "";
    if (cpu_model_parse(spec, &model, err, sizeof(err))) {
        fprintf(stderr, "  parse of '%s' failed: %s\n", spec, err);
        return NULL;
    }
    struct kvm_cpuid2 *sup = make_table(host_leaves, NHOST);
    struct kvm_cpuid2 *c = cpuid_build(sup, &model, index, ncpus);
    free(sup);
    return c;
}

static uint32_t reg(struct kvm_cpuid2 *c, unsigned function, unsigned index, char r)
{
    struct kvm_cpuid_entry2 *e = cpuid_find(c, function, index);
    if (!e)
        return 0xdeadbeef;
    return r == 'a' ? e->eax : r == 'b' ? e->ebx : r == 'c' ? e->ecx : e->edx;
}

/* Parses and expects an error whose message mentions `needle`. */
static int parse_fails(const char *spec, int want_rc, const char *needle)
{
    struct cpu_model model;
    char err[1024] = "";
    int rc = cpu_model_parse(spec, &model, err, sizeof(err));
    if (rc != want_rc || !err[0] || (needle && !strstr(err, needle))) {
        fprintf(stderr, "  '%s': rc %d, message '%s'\n", spec, rc, err);
        return 0;
    }
    return 1;
}

TEST(parse_base_models)
{
    struct cpu_model m;
    char err[256] = "";
    CHECK_EQ(cpu_model_parse("host", &m, err, sizeof(err)), 0);
    CHECK_EQ(m.base, CPU_MODEL_HOST);
    CHECK_EQ(m.nedits, 0);
    CHECK_EQ(cpu_model_parse("baseline", &m, err, sizeof(err)), 0);
    CHECK_EQ(m.base, CPU_MODEL_BASELINE);
    CHECK_EQ(cpu_model_parse("host,", &m, err, sizeof(err)), 0);      /* empty items are skipped */
    CHECK_EQ(cpu_model_parse("baseline,,+avx,", &m, err, sizeof(err)), 0);
    CHECK_EQ(m.nedits, 1);
    CHECK_EQ(err[0], 0);
}

TEST(parse_unknown_model)
{
    CHECK(parse_fails("", -EINVAL, "unknown CPU model"));
    CHECK(parse_fails("Host", -EINVAL, "'Host'"));
    CHECK(parse_fails("hostx", -EINVAL, "'hostx'"));
    CHECK(parse_fails("base", -EINVAL, "'base'"));
    CHECK(parse_fails("qemu64,+avx", -EINVAL, "'qemu64'"));
    CHECK(parse_fails(",host", -EINVAL, "unknown CPU model"));
}

TEST(parse_plus_minus_edits)
{
    struct cpu_model m;
    char err[256] = "";
    CHECK_EQ(cpu_model_parse("host,+avx2,-sse4_2,+x2apic", &m, err, sizeof(err)), 0);
    CHECK_EQ(m.base, CPU_MODEL_HOST);
    CHECK_EQ(m.nedits, 3);
    CHECK(m.edits[0].enable);
    CHECK(!m.edits[1].enable);
    CHECK(m.edits[2].enable);
    CHECK(m.edits[0].feature != m.edits[1].feature);
    /* Dashes and underscores are interchangeable, as QEMU spells both. */
    struct cpu_model a, b;
    CHECK_EQ(cpu_model_parse("host,+sse4-2,+tsc_deadline", &a, err, sizeof(err)), 0);
    CHECK_EQ(cpu_model_parse("host,+sse4_2,+tsc-deadline", &b, err, sizeof(err)), 0);
    CHECK_EQ(a.edits[0].feature, b.edits[0].feature);
    CHECK_EQ(a.edits[1].feature, b.edits[1].feature);
}

TEST(parse_qemu_on_off)
{
    struct cpu_model m, p;
    char err[256] = "";
    CHECK_EQ(cpu_model_parse("baseline,avx2=on,x2apic=off", &m, err, sizeof(err)), 0);
    CHECK_EQ(cpu_model_parse("baseline,+avx2,-x2apic", &p, err, sizeof(err)), 0);
    CHECK_EQ(m.nedits, 2);
    CHECK_EQ(m.edits[0].feature, p.edits[0].feature);
    CHECK(m.edits[0].enable);
    CHECK_EQ(m.edits[1].feature, p.edits[1].feature);
    CHECK(!m.edits[1].enable);
}

TEST(parse_bad_edits)
{
    CHECK(parse_fails("host,avx2", -EINVAL, "+avx2"));               /* no sign, no value */
    CHECK(parse_fails("host,avx2=yes", -EINVAL, "avx2=yes"));
    CHECK(parse_fails("host,avx2=", -EINVAL, "feat=on|off"));
    CHECK(parse_fails("host,avx2=onn", -EINVAL, NULL));
    CHECK(parse_fails("host,+nosuchfeature", -EINVAL, "'nosuchfeature'"));
    CHECK(parse_fails("host,-avx3", -EINVAL, "known:"));
    CHECK(parse_fails("host,+", -EINVAL, "unknown CPU feature"));
    CHECK(parse_fails("host,=on", -EINVAL, "unknown CPU feature"));
    CHECK(parse_fails("host,+avx,+AVX2", -EINVAL, "'AVX2'"));       /* names are case-sensitive */
    CHECK(parse_fails("host,nosuch=on", -EINVAL, "'nosuch'"));
}

TEST(parse_too_many_edits)
{
    char spec[512] = "host";
    for (int i = 0; i < CPU_MAX_FEATURE_EDITS; i++)
        strcat(spec, ",+fpu");
    struct cpu_model m;
    char err[256] = "";
    CHECK_EQ(cpu_model_parse(spec, &m, err, sizeof(err)), 0);
    CHECK_EQ(m.nedits, CPU_MAX_FEATURE_EDITS);
    strcat(spec, ",-fpu");
    CHECK(parse_fails(spec, -E2BIG, "too many"));
}

TEST(feature_names_list)
{
    const char *names = cpu_feature_names();
    CHECK(strstr(names, "avx2") != NULL);
    CHECK(strstr(names, "x2apic") != NULL);
    CHECK(!strncmp(names, "fpu,", 4));
    CHECK(strstr(names, ",lm") != NULL);
    CHECK(cpu_feature_names() == names);         /* built once */
}

TEST(find_honours_significant_index)
{
    struct kvm_cpuid2 *c = make_table(host_leaves, NHOST);
    CHECK(cpuid_find(c, 4, 3) != NULL);
    CHECK_EQ(cpuid_find(c, 4, 3)->eax, L3_EAX);
    CHECK(cpuid_find(c, 4, 9) == NULL);
    CHECK(cpuid_find(c, 1, 7) == cpuid_find(c, 1, 0));   /* index ignored without the flag */
    CHECK(cpuid_find(c, 0x40000000, 0) == NULL);
    free(c);
}

TEST(host_model_keeps_supported_bits)
{
    struct kvm_cpuid2 *c = build("host", 0, 1);
    CHECK(c != NULL);
    CHECK_EQ(c->nent, NHOST);
    CHECK_EQ(reg(c, 1, 0, 'c'), SUP_1_ECX | BIT(31));  /* plus "hypervisor" */
    CHECK_EQ(reg(c, 1, 0, 'd'), SUP_1_EDX & ~BIT(28)); /* one vCPU: no HTT */
    CHECK_EQ(reg(c, 7, 0, 'b'), SUP_7_EBX);
    CHECK_EQ(reg(c, 7, 0, 'c'), SUP_7_ECX);
    CHECK_EQ(reg(c, 7, 0, 'd'), SUP_7_EDX);
    CHECK_EQ(reg(c, 0x80000001, 0, 'c'), SUP_EXT_ECX);
    CHECK_EQ(reg(c, 0x80000001, 0, 'd'), SUP_EXT_EDX);
    CHECK_EQ(reg(c, 0, 0, 'b'), 0x756e6547);
    free(c);
}

TEST(build_leaves_supported_table_alone)
{
    struct kvm_cpuid2 *sup = make_table(host_leaves, NHOST);
    struct kvm_cpuid2 *copy = make_table(host_leaves, NHOST);
    struct cpu_model m;
    char err[256];
    CHECK_EQ(cpu_model_parse("baseline,+avx2,-lm", &m, err, sizeof(err)), 0);
    struct kvm_cpuid2 *c = cpuid_build(sup, &m, 3, 8);
    CHECK(c != NULL);
    CHECK(!memcmp(sup, copy, sizeof(*sup) + NHOST * sizeof(sup->entries[0])));
    CHECK(c != sup);
    free(c);
    free(sup);
    free(copy);
}

TEST(baseline_masks_to_conservative_set)
{
    struct kvm_cpuid2 *c = build("baseline", 0, 1);
    CHECK(c != NULL);
    CHECK_EQ(reg(c, 1, 0, 'c'), (SUP_1_ECX & BASE_1_ECX) | BIT(31));
    CHECK_EQ(reg(c, 1, 0, 'c') & (BIT(28) | BIT(26) | BIT(27) | BIT(23)), 0); /* no AVX, XSAVE, POPCNT */
    CHECK_EQ(reg(c, 1, 0, 'd'), SUP_1_EDX & BASE_1_EDX);
    CHECK_EQ(reg(c, 7, 0, 'b'), 0);
    CHECK_EQ(reg(c, 7, 0, 'c'), 0);
    CHECK_EQ(reg(c, 7, 0, 'd'), 0);
    CHECK_EQ(reg(c, 0x80000001, 0, 'c'), BIT(0));              /* LAHF_LM only */
    CHECK_EQ(reg(c, 0x80000001, 0, 'd'), BIT(11) | BIT(20) | BIT(29));  /* SYSCALL, NX, LM */
    /* Leaves that carry no feature flags are not touched. */
    CHECK_EQ(reg(c, 0, 0, 'a'), 0x16);
    CHECK_EQ(reg(c, 0x80000008, 0, 'a'), 0x3030);
    CHECK_EQ(reg(c, 1, 0, 'a'), 0x000906ea);
    free(c);
}

TEST(enable_only_what_kvm_supports)
{
    struct kvm_cpuid2 *c = build("baseline,+avx2,+avx,+rdtscp", 0, 1);
    CHECK(c != NULL);
    CHECK(reg(c, 7, 0, 'b') & BIT(5));
    CHECK(reg(c, 1, 0, 'c') & BIT(28));
    CHECK(reg(c, 0x80000001, 0, 'd') & BIT(27));
    free(c);
    /* AVX-512F and LA57 are not in the supported table: asking for them changes nothing. */
    c = build("baseline,+avx512f,+la57", 0, 1);
    CHECK(c != NULL);
    CHECK_EQ(reg(c, 7, 0, 'b'), 0);
    CHECK_EQ(reg(c, 7, 0, 'c'), 0);
    free(c);
    c = build("host,+avx512f,avx512f=on", 0, 1);
    CHECK(c != NULL);
    CHECK_EQ(reg(c, 7, 0, 'b'), SUP_7_EBX);
    free(c);
}

TEST(disable_and_order_of_edits)
{
    struct kvm_cpuid2 *c = build("host,-avx,-lm,sse4_2=off,-md-clear", 0, 1);
    CHECK(c != NULL);
    CHECK_EQ(reg(c, 1, 0, 'c') & (BIT(28) | BIT(20)), 0);
    CHECK_EQ(reg(c, 0x80000001, 0, 'd') & BIT(29), 0);
    CHECK_EQ(reg(c, 7, 0, 'd'), BIT(26));
    CHECK_EQ(reg(c, 1, 0, 'c') & BIT(19), BIT(19));          /* SSE4.1 untouched */
    free(c);
    c = build("host,-avx,+avx", 0, 1);                        /* the last word wins */
    CHECK(c != NULL);
    CHECK(reg(c, 1, 0, 'c') & BIT(28));
    free(c);
    c = build("host,+avx,avx=off", 0, 1);
    CHECK(c != NULL);
    CHECK_EQ(reg(c, 1, 0, 'c') & BIT(28), 0);
    free(c);
}

TEST(edits_for_missing_leaves_are_harmless)
{
    /* A table with leaf 1 only: edits in leaves 7 and 0x80000001 have nowhere to go. */
    struct kvm_cpuid2 *sup = make_table(&host_leaves[1], 1);
    struct cpu_model m;
    char err[256];
    CHECK_EQ(cpu_model_parse("baseline,+avx2,-lm,+rdtscp,+avx", &m, err, sizeof(err)), 0);
    struct kvm_cpuid2 *c = cpuid_build(sup, &m, 0, 1);
    CHECK(c != NULL);
    CHECK_EQ(c->nent, 1);
    CHECK(cpuid_find(c, 7, 0) == NULL);
    CHECK(reg(c, 1, 0, 'c') & BIT(28));
    free(c);
    free(sup);
    /* An empty table builds to an empty table. */
    sup = make_table(NULL, 0);
    c = cpuid_build(sup, &m, 0, 4);
    CHECK(c != NULL);
    CHECK_EQ(c->nent, 0);
    free(c);
    free(sup);
}

TEST(topology_one_vcpu)
{
    struct kvm_cpuid2 *c = build("host", 0, 1);
    CHECK(c != NULL);
    uint32_t ebx = reg(c, 1, 0, 'b');
    CHECK_EQ(ebx >> 24, 0);                      /* initial APIC ID */
    CHECK_EQ((ebx >> 16) & 0xff, 1);             /* logical processors per package */
    CHECK_EQ(ebx & 0xffff, 0x0800);              /* CLFLUSH line size kept */
    CHECK_EQ(reg(c, 1, 0, 'd') & BIT(28), 0);    /* HTT off */
    CHECK(reg(c, 1, 0, 'c') & BIT(31));
    /* Leaf 4: one core, no sharing; the cache description bits are kept. */
    CHECK_EQ(reg(c, 4, 0, 'a'), L1D_EAX & 0x3ff);
    CHECK_EQ(reg(c, 4, 1, 'a'), L1I_EAX & 0x3ff);
    CHECK_EQ(reg(c, 4, 2, 'a'), L2_EAX & 0x3ff);
    CHECK_EQ(reg(c, 4, 3, 'a'), L3_EAX & 0x3ff);
    CHECK_EQ(reg(c, 4, 3, 'b'), 0x03c0003f);
    CHECK_EQ(reg(c, 4, 3, 'd'), 6);
    CHECK_EQ(reg(c, 4, 4, 'a'), 0);              /* the null terminator stays null */
    /* Leaf 0xB: SMT level of 1 thread, core level of 1 core, then invalid. */
    CHECK_EQ(reg(c, 0xb, 0, 'a'), 0);
    CHECK_EQ(reg(c, 0xb, 0, 'b'), 1);
    CHECK_EQ(reg(c, 0xb, 0, 'c'), 0x100);
    CHECK_EQ(reg(c, 0xb, 0, 'd'), 0);
    CHECK_EQ(reg(c, 0xb, 1, 'a'), 0);
    CHECK_EQ(reg(c, 0xb, 1, 'b'), 1);
    CHECK_EQ(reg(c, 0xb, 1, 'c'), 0x201);
    CHECK_EQ(reg(c, 0xb, 2, 'a'), 0);
    CHECK_EQ(reg(c, 0xb, 2, 'b'), 0);
    CHECK_EQ(reg(c, 0xb, 2, 'c'), 2);            /* level type 0: invalid */
    CHECK_EQ(reg(c, 0x80000008, 0, 'c'), 0x00010000 | 0x300);
    free(c);
}

TEST(topology_two_vcpus)
{
    struct kvm_cpuid2 *c = build("host", 1, 2);
    CHECK(c != NULL);
    uint32_t ebx = reg(c, 1, 0, 'b');
    CHECK_EQ(ebx >> 24, 1);
    CHECK_EQ((ebx >> 16) & 0xff, 2);
    CHECK_EQ(reg(c, 1, 0, 'd') & BIT(28), BIT(28));
    CHECK_EQ(reg(c, 4, 0, 'a') >> 26, 1);        /* cores per package - 1 */
    CHECK_EQ((reg(c, 4, 0, 'a') >> 14) & 0xfff, 0);  /* L1 per core */
    CHECK_EQ((reg(c, 4, 2, 'a') >> 14) & 0xfff, 0);  /* L2 per core */
    CHECK_EQ((reg(c, 4, 3, 'a') >> 14) & 0xfff, 1);  /* L3 shared by both */
    CHECK_EQ(reg(c, 4, 3, 'a') & 0x3ff, L3_EAX & 0x3ff);
    CHECK_EQ(reg(c, 0xb, 0, 'b'), 1);
    CHECK_EQ(reg(c, 0xb, 1, 'a'), 1);            /* APIC ID shift to the package level */
    CHECK_EQ(reg(c, 0xb, 1, 'b'), 2);
    for (unsigned i = 0; i < 3; i++)
        CHECK_EQ(reg(c, 0xb, i, 'd'), 1);        /* x2APIC ID on every sub-leaf */
    CHECK_EQ(reg(c, 0x80000008, 0, 'c'), 0x00010000 | 0x300 | (1u << 12) | 1);
    free(c);
}

TEST(topology_eight_vcpus)
{
    for (int index = 0; index < 8; index++) {
        struct kvm_cpuid2 *c = build("baseline", index, 8);
        CHECK(c != NULL);
        uint32_t ebx = reg(c, 1, 0, 'b');
        CHECK_EQ(ebx >> 24, index);
        CHECK_EQ((ebx >> 16) & 0xff, 8);
        CHECK_EQ(reg(c, 1, 0, 'd') & BIT(28), BIT(28));  /* HTT even in the baseline model */
        CHECK_EQ(reg(c, 4, 1, 'a') >> 26, 7);
        CHECK_EQ((reg(c, 4, 1, 'a') >> 14) & 0xfff, 0);
        CHECK_EQ((reg(c, 4, 3, 'a') >> 14) & 0xfff, 7);
        CHECK_EQ(reg(c, 0xb, 0, 'a'), 0);
        CHECK_EQ(reg(c, 0xb, 1, 'a'), 3);
        CHECK_EQ(reg(c, 0xb, 1, 'b'), 8);
        CHECK_EQ(reg(c, 0xb, 1, 'c'), 0x201);
        CHECK_EQ(reg(c, 0xb, 0, 'd'), index);
        CHECK_EQ(reg(c, 0xb, 2, 'd'), index);
        CHECK_EQ(reg(c, 0x80000008, 0, 'c') & 0xf0ff, (3u << 12) | 7);
        free(c);
    }
}

TEST(topology_odd_count_rounds_id_width_up)
{
    struct kvm_cpuid2 *c = build("host", 4, 5);
    CHECK(c != NULL);
    CHECK_EQ(reg(c, 0xb, 1, 'a'), 3);            /* 5 IDs need 3 bits */
    CHECK_EQ(reg(c, 0xb, 1, 'b'), 5);
    CHECK_EQ(reg(c, 4, 0, 'a') >> 26, 4);
    free(c);
}
