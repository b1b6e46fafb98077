/* VM exit statistics (--stats): exits by reason, busiest ports and MMIO addresses, assisted instructions. */
#include "stats.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

int stats_init(struct vcpu_stats *s, int enabled)
{
    memset(s, 0, sizeof(*s));
    if (enabled) {
        s->ports = calloc(65536, sizeof(*s->ports));
        if (!s->ports)
            return -ENOMEM;
    }
    return 0;
}

void stats_free(struct vcpu_stats *s)
{
    free(s->ports);
    s->ports = NULL;
}

void stats_port(struct vcpu_stats *s, uint16_t port)
{
    if (s->ports)
        s->ports[port]++;
}

void stats_mmio(struct vcpu_stats *s, uint64_t addr)
{
    if (!s->ports)
        return;
    /* Open addressing on the address; a full table just stops counting new addresses. */
    unsigned h = (unsigned)((addr >> 2) * 2654435761u) % STATS_MMIO_SLOTS;
    for (unsigned i = 0; i < STATS_MMIO_SLOTS; i++) {
        unsigned k = (h + i) % STATS_MMIO_SLOTS;
        if (s->mmio[k].count == 0 || s->mmio[k].addr == addr) {
            s->mmio[k].addr = addr;
            s->mmio[k].count++;
            return;
        }
    }
}

void stats_assist(struct vcpu_stats *s, const char *mnemonic)
{
    for (int i = 0; i < STATS_ASSIST_SLOTS; i++) {
        if (s->assists[i].count == 0 || !strcmp(s->assists[i].name, mnemonic)) {
            snprintf(s->assists[i].name, sizeof(s->assists[i].name), "%s", mnemonic);
            s->assists[i].count++;
            return;
        }
    }
}

const char *stats_exit_name(uint32_t reason)
{
    static const char *names[] = {
        [KVM_EXIT_UNKNOWN] = "unknown", [KVM_EXIT_EXCEPTION] = "exception", [KVM_EXIT_IO] = "io",
        [KVM_EXIT_HYPERCALL] = "hypercall", [KVM_EXIT_DEBUG] = "debug", [KVM_EXIT_HLT] = "hlt",
        [KVM_EXIT_MMIO] = "mmio", [KVM_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
        [KVM_EXIT_SHUTDOWN] = "shutdown", [KVM_EXIT_FAIL_ENTRY] = "fail_entry", [KVM_EXIT_INTR] = "intr",
        [KVM_EXIT_SET_TPR] = "set_tpr", [KVM_EXIT_TPR_ACCESS] = "tpr_access",
        [KVM_EXIT_INTERNAL_ERROR] = "internal_error", [KVM_EXIT_SYSTEM_EVENT] = "system_event",
    };
    if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
        return names[reason];
    return "other";
}

struct ranked { uint64_t key, count; };

static int by_count(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
}

static void print_top(FILE *out, const char *title, struct ranked *r, size_t n, const char *fmt)
{
    qsort(r, n, sizeof(*r), by_count);
    fprintf(out, "vmm: stats: %s:", title);
    for (size_t i = 0; i < n && i < 8 && r[i].count; i++) {
        fprintf(out, " ");
        fprintf(out, fmt, (unsigned long long)r[i].key);
        fprintf(out, "=%llu", (unsigned long long)r[i].count);
    }
    fprintf(out, "\n");
}

void stats_print(FILE *out, struct vcpu_stats *v, int n, double seconds)
{
    uint64_t total = 0, exits[STATS_REASONS] = { 0 };
    for (int c = 0; c < n; c++)
        for (int r = 0; r < STATS_REASONS; r++) {
            exits[r] += v[c].exits[r];
            total += v[c].exits[r];
        }
    fprintf(out, "vmm: stats: %llu exits in %.3f s", (unsigned long long)total, seconds);
    for (int r = 0; r < STATS_REASONS; r++)
        if (exits[r])
            fprintf(out, ", %s=%llu", stats_exit_name((uint32_t)r), (unsigned long long)exits[r]);
    fprintf(out, "\n");

    static struct ranked ports[65536];
    for (unsigned p = 0; p < 65536; p++) {
        ports[p].key = p;
        ports[p].count = 0;
        for (int c = 0; c < n; c++)
            ports[p].count += v[c].ports ? v[c].ports[p] : 0;
    }
    print_top(out, "busiest ports", ports, 65536, "0x%llx");

    struct ranked mmio[STATS_MMIO_SLOTS * 4];
    size_t nm = 0;
    for (int c = 0; c < n; c++)
        for (int i = 0; i < STATS_MMIO_SLOTS && nm < sizeof(mmio) / sizeof(mmio[0]); i++)
            if (v[c].mmio[i].count)
                mmio[nm++] = (struct ranked){ v[c].mmio[i].addr, v[c].mmio[i].count };
    print_top(out, "busiest MMIO addresses", mmio, nm, "0x%llx");

    fprintf(out, "vmm: stats: assisted instructions:");
    int any = 0;
    for (int c = 0; c < n; c++)
        for (int i = 0; i < STATS_ASSIST_SLOTS; i++)
            if (v[c].assists[i].count) {
                fprintf(out, " %s=%llu(vcpu%d)", v[c].assists[i].name, (unsigned long long)v[c].assists[i].count, c);
                any = 1;
            }
    fprintf(out, "%s\n", any ? "" : " none");
}
