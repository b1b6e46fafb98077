/* Test guest "bench": 'B' at the very first instruction (entry.S/rom.S), then 100000 port writes.
 * Built again as "bench0" with -DBENCH_WRITES=0: the same start-up and output, no writes. */
#include "rt.h"

#ifndef BENCH_WRITES
#define BENCH_WRITES 100000
#endif

int main(void)
{
    uint64_t start = time_us();
    uint32_t left = BENCH_WRITES;
    if (left)
        __asm__ volatile("1: outb %%al, $0x80\n\t"
                         "decl %0\n\t"
                         "jnz 1b"
                         : "+r"(left) : "a"(0) : "memory");
    uint64_t took = time_us() - start;
    printf("bench: %lu us for %u port writes (%s clock)\n", (unsigned long)took, BENCH_WRITES,
           time_uses_pm_timer() ? "pm-timer" : "tsc");
    printf("bench: %u port writes done\n", BENCH_WRITES);
    return 0;
}
