/* Guest CPUID: KVM's supported leaves shaped into a CPU model with the topology of N vCPUs.
 * Leaf layouts: Intel SDM vol 2A, CPUID instruction (leaves 1, 4, 7, 0xB, 0x1F); AMD APM vol 3 E.4. */
#include "cpuid.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum reg { EAX, EBX, ECX, EDX };

struct feature {
    const char *name;
    unsigned function, index;
    enum reg reg;
    unsigned bit;
    bool baseline;           /* part of the conservative baseline model */
};

static const struct feature features[] = {
    { "fpu", 1, 0, EDX, 0, true },      { "tsc", 1, 0, EDX, 4, true },
    { "msr", 1, 0, EDX, 5, true },      { "pae", 1, 0, EDX, 6, true },
    { "cx8", 1, 0, EDX, 8, true },      { "apic", 1, 0, EDX, 9, true },
    { "sep", 1, 0, EDX, 11, true },     { "mtrr", 1, 0, EDX, 12, true },
    { "pge", 1, 0, EDX, 13, true },     { "cmov", 1, 0, EDX, 15, true },
    { "pat", 1, 0, EDX, 16, true },     { "pse36", 1, 0, EDX, 17, true },
    { "clflush", 1, 0, EDX, 19, true }, { "mmx", 1, 0, EDX, 23, true },
    { "fxsr", 1, 0, EDX, 24, true },    { "sse", 1, 0, EDX, 25, true },
    { "sse2", 1, 0, EDX, 26, true },    { "ht", 1, 0, EDX, 28, false },
    { "pse", 1, 0, EDX, 3, true },      { "de", 1, 0, EDX, 2, true },
    { "mce", 1, 0, EDX, 7, true },      { "mca", 1, 0, EDX, 14, true },
    { "sse3", 1, 0, ECX, 0, true },     { "pclmulqdq", 1, 0, ECX, 1, false },
    { "ssse3", 1, 0, ECX, 9, false },   { "fma", 1, 0, ECX, 12, false },
    { "cx16", 1, 0, ECX, 13, false },   { "pcid", 1, 0, ECX, 17, false },
    { "sse4_1", 1, 0, ECX, 19, false }, { "sse4_2", 1, 0, ECX, 20, false },
    { "x2apic", 1, 0, ECX, 21, true },  { "movbe", 1, 0, ECX, 22, false },
    { "popcnt", 1, 0, ECX, 23, false }, { "tsc-deadline", 1, 0, ECX, 24, true },
    { "aes", 1, 0, ECX, 25, false },    { "xsave", 1, 0, ECX, 26, false },
    { "avx", 1, 0, ECX, 28, false },    { "f16c", 1, 0, ECX, 29, false },
    { "rdrand", 1, 0, ECX, 30, false }, { "hypervisor", 1, 0, ECX, 31, true },
    { "fsgsbase", 7, 0, EBX, 0, false }, { "bmi1", 7, 0, EBX, 3, false },
    { "avx2", 7, 0, EBX, 5, false },    { "smep", 7, 0, EBX, 7, false },
    { "bmi2", 7, 0, EBX, 8, false },    { "erms", 7, 0, EBX, 9, false },
    { "invpcid", 7, 0, EBX, 10, false }, { "avx512f", 7, 0, EBX, 16, false },
    { "rdseed", 7, 0, EBX, 18, false }, { "adx", 7, 0, EBX, 19, false },
    { "smap", 7, 0, EBX, 20, false },   { "clflushopt", 7, 0, EBX, 23, false },
    { "sha-ni", 7, 0, EBX, 29, false }, { "umip", 7, 0, ECX, 2, false },
    { "pku", 7, 0, ECX, 3, false },     { "la57", 7, 0, ECX, 16, false },
    { "rdpid", 7, 0, ECX, 22, false },  { "md-clear", 7, 0, EDX, 10, false },
    { "lahf_lm", 0x80000001, 0, ECX, 0, true }, { "abm", 0x80000001, 0, ECX, 5, false },
    { "syscall", 0x80000001, 0, EDX, 11, true }, { "nx", 0x80000001, 0, EDX, 20, true },
    { "pdpe1gb", 0x80000001, 0, EDX, 26, false }, { "rdtscp", 0x80000001, 0, EDX, 27, false },
    { "lm", 0x80000001, 0, EDX, 29, true },
};
#define NFEATURES (int)(sizeof(features) / sizeof(features[0]))

const char *cpu_feature_names(void)
{
    static char buf[1024];
    if (!buf[0]) {
        size_t off = 0;
        for (int i = 0; i < NFEATURES && off < sizeof(buf) - 20; i++)
            off += snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? "," : "", features[i].name);
    }
    return buf;
}

static int feature_lookup(const char *name, size_t len)
{
    for (int i = 0; i < NFEATURES; i++)
        if (strlen(features[i].name) == len && strncmp(features[i].name, name, len) == 0)
            return i;
    /* QEMU spells some with underscores and some with dashes: accept either. */
    for (int i = 0; i < NFEATURES; i++) {
        const char *f = features[i].name;
        if (strlen(f) != len)
            continue;
        size_t k = 0;
        while (k < len && (f[k] == name[k] || ((f[k] == '_' || f[k] == '-') && (name[k] == '_' || name[k] == '-'))))
            k++;
        if (k == len)
            return i;
    }
    return -1;
}

static int parse_edit(const char *item, size_t len, struct cpu_model *out, char *err, size_t errlen)
{
    bool enable;
    const char *name = item;
    size_t nlen = len;
    const char *eq = memchr(item, '=', len);
    if (item[0] == '+' || item[0] == '-') {
        enable = item[0] == '+';
        name++;
        nlen--;
    } else if (eq) {
        nlen = (size_t)(eq - item);
        const char *v = eq + 1;
        size_t vlen = len - nlen - 1;
        if (vlen == 2 && !strncmp(v, "on", 2))
            enable = true;
        else if (vlen == 3 && !strncmp(v, "off", 3))
            enable = false;
        else {
            snprintf(err, errlen, "bad CPU feature setting '%.*s': use +feat, -feat or feat=on|off", (int)len, item);
            return -EINVAL;
        }
    } else {
        snprintf(err, errlen, "bad CPU feature '%.*s': write +%.*s or -%.*s", (int)len, item, (int)len, item, (int)len, item);
        return -EINVAL;
    }
    int f = feature_lookup(name, nlen);
    if (f < 0) {
        snprintf(err, errlen, "unknown CPU feature '%.*s' (known: %s)", (int)nlen, name, cpu_feature_names());
        return -EINVAL;
    }
    if (out->nedits == CPU_MAX_FEATURE_EDITS) {
        snprintf(err, errlen, "too many CPU feature changes (at most %d)", CPU_MAX_FEATURE_EDITS);
        return -E2BIG;
    }
    out->edits[out->nedits].feature = f;
    out->edits[out->nedits].enable = enable;
    out->nedits++;
    return 0;
}

int cpu_model_parse(const char *spec, struct cpu_model *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *comma = strchr(spec, ',');
    size_t blen = comma ? (size_t)(comma - spec) : strlen(spec);
    if (blen == 4 && !strncmp(spec, "host", 4))
        out->base = CPU_MODEL_HOST;
    else if (blen == 8 && !strncmp(spec, "baseline", 8))
        out->base = CPU_MODEL_BASELINE;
    else {
        snprintf(err, errlen, "unknown CPU model '%.*s': use host or baseline", (int)blen, spec);
        return -EINVAL;
    }
    while (comma) {
        const char *item = comma + 1;
        comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        if (len == 0)
            continue;
        int rc = parse_edit(item, len, out, err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index)
{
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function != function)
            continue;
        if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
            continue;
        return e;
    }
    return NULL;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum reg r)
{
    switch (r) {
    case EAX: return &e->eax;
    case EBX: return &e->ebx;
    case ECX: return &e->ecx;
    default: return &e->edx;
    }
}

static void set_feature(struct kvm_cpuid2 *c, int f, bool enable, const struct kvm_cpuid2 *supported)
{
    const struct feature *ft = &features[f];
    struct kvm_cpuid_entry2 *e = cpuid_find(c, ft->function, ft->index);
    if (!e)
        return;
    uint32_t bit = 1u << ft->bit;
    if (!enable) {
        *reg_of(e, ft->reg) &= ~bit;
        return;
    }
    /* Only what KVM supports can be enabled; "hypervisor" is ours to announce. */
    struct kvm_cpuid_entry2 *s = cpuid_find((struct kvm_cpuid2 *)supported, ft->function, ft->index);
    if ((s && (*reg_of(s, ft->reg) & bit)) || !strcmp(ft->name, "hypervisor"))
        *reg_of(e, ft->reg) |= bit;
}

/* Baseline: keep only the features marked baseline in the leaves the table covers. */
static void apply_baseline(struct kvm_cpuid2 *c)
{
    static const struct { unsigned function; enum reg reg; } leaves[] = {
        { 1, ECX }, { 1, EDX }, { 7, EBX }, { 7, ECX }, { 7, EDX }, { 0x80000001, ECX }, { 0x80000001, EDX },
    };
    for (size_t l = 0; l < sizeof(leaves) / sizeof(leaves[0]); l++) {
        struct kvm_cpuid_entry2 *e = cpuid_find(c, leaves[l].function, 0);
        if (!e)
            continue;
        uint32_t keep = 0;
        for (int i = 0; i < NFEATURES; i++)
            if (features[i].baseline && features[i].function == leaves[l].function && features[i].reg == leaves[l].reg)
                keep |= 1u << features[i].bit;
        *reg_of(e, leaves[l].reg) &= keep;
    }
}

static unsigned bits_for(int n)
{
    unsigned b = 0;
    while ((1 << b) < n)
        b++;
    return b;
}

/* One package, one thread per core, `ncpus` cores; APIC ID = vCPU index. */
static void apply_topology(struct kvm_cpuid2 *c, int index, int ncpus)
{
    struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);
    if (e) {
        e->ebx = (e->ebx & 0x0000ffff) | ((uint32_t)(ncpus > 255 ? 255 : ncpus) << 16) | ((uint32_t)index << 24);
        if (ncpus > 1)
            e->edx |= 1u << 28;          /* HTT: the count in EBX[23:16] is valid */
        else
            e->edx &= ~(1u << 28);
        e->ecx |= 1u << 31;              /* running under a hypervisor */
    }
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *x = &c->entries[i];
        if (x->function == 4 && (x->eax & 0x1f)) {
            /* Cores per package - 1 in EAX[31:26]; one thread shares each cache level 1-2. */
            unsigned level = (x->eax >> 5) & 7;
            unsigned sharing = level >= 3 ? (unsigned)ncpus - 1 : 0;
            x->eax = (x->eax & 0x3ff) | (sharing << 14) | ((uint32_t)(ncpus - 1) << 26);
        } else if (x->function == 0xb || x->function == 0x1f) {
            /* x2APIC topology: level 0 SMT (1 thread), level 1 core (ncpus), then invalid. */
            x->edx = (uint32_t)index;
            if (x->index == 0) {
                x->eax = 0; x->ebx = 1; x->ecx = (1u << 8) | 0;
            } else if (x->index == 1) {
                x->eax = bits_for(ncpus); x->ebx = (uint32_t)ncpus; x->ecx = (2u << 8) | 1;
            } else {
                x->eax = 0; x->ebx = 0; x->ecx = x->index;
            }
        } else if (x->function == 0x80000008) {
            x->ecx = (x->ecx & ~0xf0ffu) | (bits_for(ncpus) << 12) | (uint32_t)(ncpus - 1);
        }
    }
}

struct kvm_cpuid2 *cpuid_build(const struct kvm_cpuid2 *supported, const struct cpu_model *model, int index, int ncpus)
{
    size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
    struct kvm_cpuid2 *c = malloc(size);
    if (!c)
        return NULL;
    memcpy(c, supported, size);
    if (model->base == CPU_MODEL_BASELINE)
        apply_baseline(c);
    for (int i = 0; i < model->nedits; i++)
        set_feature(c, model->edits[i].feature, model->edits[i].enable, supported);
    apply_topology(c, index, ncpus);
    return c;
}
