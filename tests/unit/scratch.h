/* Scratch files for image tests: a private temp directory removed at exit, and running host tools
 * (qemu-img, qemu-io) for cross-checks. Define SCRATCH_PREFIX before including. */
#ifndef TESTS_UNIT_SCRATCH_H
#define TESTS_UNIT_SCRATCH_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static char scratch_dir[64];

static void scratch_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", scratch_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "  could not remove %s\n", scratch_dir);
}

/* A path NAME in the scratch directory (the last 16 stay valid). */
static const char *tmp(const char *name)
{
    static char paths[16][160];
    static int next;
    if (!scratch_dir[0]) {
        snprintf(scratch_dir, sizeof(scratch_dir), "/tmp/" SCRATCH_PREFIX ".XXXXXX");
        if (!mkdtemp(scratch_dir))
            abort();
        atexit(scratch_remove);
    }
    char *p = paths[next++ % 16];
    snprintf(p, 160, "%s/%s", scratch_dir, name);
    return p;
}

static bool have_qemu_img(void)
{
    static int have = -1;
    if (have < 0) {
        have = system("qemu-img --version >/dev/null 2>&1") == 0;
        if (!have)
            fprintf(stderr, "  skipping the qemu-img cross-checks: qemu-img is not installed (apt-get install qemu-utils)\n");
    }
    return have;
}

/* Runs a shell command; its exit status (255 if it did not exit normally). */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

#endif
