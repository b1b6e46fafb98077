/* Minimal unit-test harness: TEST() functions, CHECK macros, one "ok"/"not ok" line per test. */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

struct test_case {
    const char *name;
    void (*fn)(int *failed);
};

#define MAX_TESTS 256
extern struct test_case test_cases[MAX_TESTS];
extern int test_count;

/* Registers a test at start-up; the body sets *failed through the CHECK macros. */
#define TEST(name)                                                                 \
    static void test_##name(int *failed);                                          \
    __attribute__((constructor)) static void register_##name(void)                 \
    {                                                                              \
        if (test_count < MAX_TESTS)                                                \
            test_cases[test_count++] = (struct test_case){ #name, test_##name };   \
    }                                                                              \
    static void test_##name(int *failed)

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            *failed = 1;                                                           \
            return;                                                                \
        }                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                             \
    do {                                                                           \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b); \
        if (va_ != vb_) {                                                          \
            fprintf(stderr, "  %s:%d: %s == %s failed: 0x%llx != 0x%llx\n",        \
                    __FILE__, __LINE__, #a, #b, va_, vb_);                         \
            *failed = 1;                                                           \
            return;                                                                \
        }                                                                          \
    } while (0)

/* Define once per test binary (in exactly one file): the runner main. */
#define TEST_MAIN()                                                                \
    struct test_case test_cases[MAX_TESTS];                                        \
    int test_count;                                                                \
    int main(int argc, char **argv)                                                \
    {                                                                              \
        int nfail = 0;                                                             \
        const char *prefix = argc > 0 ? strrchr(argv[0], '/') : NULL;              \
        prefix = prefix ? prefix + 1 : (argc > 0 ? argv[0] : "unit");             \
        for (int i = 0; i < test_count; i++) {                                     \
            int failed = 0;                                                        \
            test_cases[i].fn(&failed);                                             \
            printf("%s %s.%s\n", failed ? "not ok" : "ok", prefix, test_cases[i].name); \
            nfail += failed;                                                       \
        }                                                                          \
        fflush(stdout);                                                            \
        return nfail ? 1 : 0;                                                      \
    }

#endif
