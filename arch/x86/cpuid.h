/* Guest CPUID: KVM's supported leaves shaped into a CPU model with the topology of N vCPUs. */
#ifndef ARCH_X86_CPUID_H
#define ARCH_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>

#define CPU_MAX_FEATURE_EDITS 32

enum cpu_base_model { CPU_MODEL_HOST, CPU_MODEL_BASELINE };

struct cpu_model {
    enum cpu_base_model base;
    int nedits;
    struct { int feature; bool enable; } edits[CPU_MAX_FEATURE_EDITS];  /* index into the feature table */
};

/* Parses "host|baseline[,+feat][,-feat]..." (also QEMU's "feat=on|off"). On error writes a message. */
int cpu_model_parse(const char *spec, struct cpu_model *out, char *err, size_t errlen);
/* Comma-separated list of the feature names understood, for --help and error messages. */
const char *cpu_feature_names(void);

/* Builds the CPUID table for vCPU `index` of `ncpus` from KVM's supported table (not modified).
 * The caller frees the result. */
struct kvm_cpuid2 *cpuid_build(const struct kvm_cpuid2 *supported, const struct cpu_model *model,
                               int index, int ncpus);
/* Finds an entry (function, index) in a table, or NULL. */
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, unsigned function, unsigned index);

#endif
