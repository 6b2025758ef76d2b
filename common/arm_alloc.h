/* SPDX-License-Identifier: MIT */
/*
 * arm_alloc.h: allocation hooks. Every allocation in common/, engine/ and
 * repl/ goes through these so tests can fail the Nth allocation (OOM
 * injection) and count outstanding blocks. Layer: common.
 */
#ifndef ARM_ALLOC_H
#define ARM_ALLOC_H

#include "arm_base.h"

void *arm_malloc(size_t n);
void *arm_calloc(size_t count, size_t size);
void *arm_realloc(void *p, size_t n);
void arm_free(void *p);
char *arm_strdup(const char *s);

/* Test hooks. arm_alloc_fail_after(n): the (n+1)th allocation from now and
 * every later one return NULL, until arm_alloc_fail_after(-1) turns it off.
 * arm_alloc_outstanding(): blocks allocated and not yet freed. Both are
 * thread-safe (atomics). */
void arm_alloc_fail_after(long n);
long arm_alloc_outstanding(void);

#endif
