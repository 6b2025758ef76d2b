/* SPDX-License-Identifier: MIT */
/*
 * arm_alloc.c: allocation hooks with failure injection and a live-block
 * counter (lsm_env style). Layer: common.
 */
#include "arm_alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long alloc_fail_countdown = -1; /* <0: never fail */
static _Atomic long alloc_live = 0;

static int alloc_should_fail(void) {
    long n = atomic_load_explicit(&alloc_fail_countdown, memory_order_relaxed);
    if (n < 0) return 0;
    if (n == 0) return 1;
    return atomic_fetch_sub(&alloc_fail_countdown, 1) <= 0;
}

void *arm_malloc(size_t n) {
    if (alloc_should_fail()) return NULL;
    void *p = malloc(n ? n : 1);
    if (p) atomic_fetch_add_explicit(&alloc_live, 1, memory_order_relaxed);
    return p;
}

void *arm_calloc(size_t count, size_t size) {
    if (alloc_should_fail()) return NULL;
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p) atomic_fetch_add_explicit(&alloc_live, 1, memory_order_relaxed);
    return p;
}

void *arm_realloc(void *p, size_t n) {
    if (p == NULL) return arm_malloc(n);
    if (alloc_should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void arm_free(void *p) {
    if (p == NULL) return;
    atomic_fetch_sub_explicit(&alloc_live, 1, memory_order_relaxed);
    free(p);
}

char *arm_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = arm_malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void arm_alloc_fail_after(long n) {
    atomic_store(&alloc_fail_countdown, n);
}

long arm_alloc_outstanding(void) {
    return atomic_load(&alloc_live);
}

/* ------------------------------------------------------------ arm_buf */
int arm_buf_reserve(arm_buf *buf, size_t n) {
    if (n <= buf->cap) return ARM_OK;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < n) cap *= 2;
    uint8_t *p = arm_realloc(buf->ptr, cap);
    if (p == NULL) return ARM_ERR(ARM_NOMEM);
    buf->ptr = p;
    buf->cap = cap;
    return ARM_OK;
}

void arm_buf_free(arm_buf *buf) {
    if (buf == NULL) return;
    arm_free(buf->ptr);
    buf->ptr = NULL;
    buf->len = 0;
    buf->cap = 0;
}
