/* Device-level virtio-blk benchmark: the in-process harness (real device model, real image,
 * libaio, O_DIRECT) driven at a fixed queue depth, like fio's jobs of the same shape.
 *   blk_bench FILE randread|randwrite|read|write BLOCK_SIZE QUEUE_DEPTH SECONDS [MAX_REQUESTS]
 * Prints: iops=N mbps=N requests=N */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/harness/vblk.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: blk_bench FILE randread|randwrite|read|write BS QD SECONDS [MAX_REQUESTS]\n");
        return 2;
    }
    const char *rw = argv[2];
    uint32_t bs = (uint32_t)strtoul(argv[3], NULL, 0);
    int qd = atoi(argv[4]);
    double secs = atof(argv[5]);
    long max_requests = argc > 6 ? atol(argv[6]) : -1;
    bool random = !strncmp(rw, "rand", 4);
    bool write = strstr(rw, "write") != NULL;
    struct vblk_harness h;
    if (vbh_open(&h, argv[1], false, BLK_CACHE_NONE, true) || bs < 512 || bs % 512 || qd < 1 ||
        (uint64_t)qd * bs > VBH_DATA_SIZE || qd > 64) {
        fprintf(stderr, "blk_bench: cannot open %s or bad job\n", argv[1]);
        return 1;
    }
    if (getenv("BLK_BENCH_SINGLE_THREAD") == NULL && vbh_start_thread(&h)) {
        fprintf(stderr, "blk_bench: cannot start the device thread\n");
        return 1;
    }
    uint64_t blocks = h.backend.size / bs, next = 0, rng = 88172645463325252ULL;
    long done = 0, issued = 0;
    double start = now_s(), end = start + secs;
    uint64_t slot_gpa[64];
    for (int i = 0; i < qd; i++)
        slot_gpa[i] = VBH_DATA_GPA + (uint64_t)i * bs;
    int inflight = 0;
    for (;;) {
        bool stop = now_s() >= end || (max_requests >= 0 && issued >= max_requests);
        while (!stop && inflight < qd && (max_requests < 0 || issued < max_requests)) {
            uint64_t blk;
            if (random) {
                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                blk = rng % blocks;
            } else {
                blk = next++ % blocks;
            }
            vbh_queue(&h, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, blk * (bs / 512),
                      slot_gpa[issued % qd], bs);
            inflight++;
            issued++;
        }
        vbh_kick(&h);
        if (inflight == 0)
            break;
        vbh_wait(&h, 1, 1000);
        uint16_t head; uint32_t len; uint8_t st;
        while (vbh_next_used(&h, &head, &len, &st)) {
            if (st != VIRTIO_BLK_S_OK) {
                fprintf(stderr, "blk_bench: request failed with status %u\n", st);
                return 1;
            }
            inflight--;
            done++;
        }
    }
    double took = now_s() - start;
    printf("iops=%.0f mbps=%.1f requests=%ld\n", done / took, done * (double)bs / took / 1e6, done);
    vbh_close(&h);
    return 0;
}
