/* SPDX-License-Identifier: MIT */
/*
 * harness.h: the unit-test harness. ARM_CHECK aborts the current program with
 * file, line, expression and (for rc checks) the code name; ARM_TEST names a
 * case. Programs exit 0 (pass), 1 (fail) or 77 (skip). Seeded PRNG:
 * ARM_TEST_SEED=n reproduces a run; the seed is printed on failure.
 */
#ifndef ARM_HARNESS_H
#define ARM_HARNESS_H
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include "../common/arm_base.h"

/* Test objects are built with -DARM_TEST (which exposes internals); the
 * harness's ARM_TEST(name) takes the name over once included. */
#undef ARM_TEST

static uint64_t harness_seed, harness_rng;
static const char *harness_case = "?";
static int harness_cases;

#define ARM_CHECK(expr) do { if (!(expr)) { \
    fprintf(stderr, "%s:%d: %s: check failed: %s (seed %llu)\n", __FILE__, __LINE__, \
            harness_case, #expr, (unsigned long long)harness_seed); exit(1); } } while (0)
#define ARM_CHECK_RC(call, want) do { int rc_ = (call); if (rc_ != (want)) { \
    fprintf(stderr, "%s:%d: %s: %s returned %s, expected %s (seed %llu)\n", __FILE__, __LINE__, \
            harness_case, #call, arm_rc_str(rc_), arm_rc_str(want), \
            (unsigned long long)harness_seed); exit(1); } } while (0)
#define ARM_TEST(name) for (int once_ = (harness_case = (name), harness_cases++, 1); once_; \
                            once_ = 0, fprintf(stderr, "  ok %s\n", name))

static inline void harness_init(void) {
    const char *s = getenv("ARM_TEST_SEED");
    harness_seed = s ? strtoull(s, NULL, 10) : 0x9e3779b97f4a7c15ULL ^ (uint64_t)time(NULL);
    harness_rng = harness_seed ? harness_seed : 1;
}
static inline uint64_t harness_rand(void) { /* xorshift64* */
    harness_rng ^= harness_rng >> 12; harness_rng ^= harness_rng << 25; harness_rng ^= harness_rng >> 27;
    return harness_rng * 2685821657736338717ULL;
}
static inline int harness_done(void) {
    printf("%d passed, 0 failed\n", harness_cases);
    return 0;
}
#endif
