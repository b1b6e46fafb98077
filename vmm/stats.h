/* VM exit statistics (--stats): exits by reason, busiest ports and MMIO addresses, assisted instructions. */
#ifndef VMM_STATS_H
#define VMM_STATS_H

#include <stdint.h>
#include <stdio.h>

#define STATS_REASONS 64
#define STATS_MMIO_SLOTS 256
#define STATS_ASSIST_SLOTS 16

/* One per vCPU, written only by its thread: no atomics on the exit path. */
struct vcpu_stats {
    uint64_t exits[STATS_REASONS];
    uint32_t *ports;                             /* 65536 counters, allocated only with --stats */
    struct { uint64_t addr, count; } mmio[STATS_MMIO_SLOTS];
    struct { char name[24]; uint64_t count; } assists[STATS_ASSIST_SLOTS];
};

int stats_init(struct vcpu_stats *s, int enabled);
void stats_free(struct vcpu_stats *s);
static inline void stats_exit(struct vcpu_stats *s, uint32_t reason)
{
    s->exits[reason < STATS_REASONS ? reason : STATS_REASONS - 1]++;
}
void stats_port(struct vcpu_stats *s, uint16_t port);
void stats_mmio(struct vcpu_stats *s, uint64_t addr);
void stats_assist(struct vcpu_stats *s, const char *mnemonic);
/* Sums every vCPU's counters and prints the report. */
void stats_print(FILE *out, struct vcpu_stats *per_vcpu, int n, double seconds);
const char *stats_exit_name(uint32_t reason);

#endif
