/* SPDX-License-Identifier: MIT */
/*
 * test_cache.c: the read cache (option cache_size): hits are counted and
 * return the right bytes, overwrites are never served stale, a small cache
 * evicts and still answers correctly, and concurrent readers are safe (this
 * program also runs under TSan).
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static char g_dir[600];

static arm_engine *cache_open(uint64_t cache_size) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 2;
    o.cache_size = cache_size;
    o.sync_mode = ARM_SYNC_OFF;
    return util_open_ok(g_dir, &o);
}

static size_t cache_key(char *k, unsigned i) {
    return (size_t)sprintf(k, "ck%07u", i);
}

static void test_hits_and_overwrites(void) {
    arm_engine *e = cache_open(1 << 20);
    char k[32];
    uint8_t v[200];
    for (unsigned i = 0; i < 500; i++) {
        util_fill(v, sizeof v, i, 1);
        util_put_ok(e, k, cache_key(k, i), v, 50 + i % 150);
    }
    arm_engine_stats st;
    for (int round = 0; round < 2; round++)
        for (unsigned i = 0; i < 500; i++) {
            util_fill(v, sizeof v, i, 1);
            util_expect(e, k, cache_key(k, i), v, 50 + i % 150);
        }
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.cache_misses == 500); /* first round misses, second hits */
    ARM_CHECK(st.cache_hits == 500);
    /* an overwrite moves the key: never the cached old value */
    for (unsigned i = 0; i < 500; i += 3) {
        util_fill(v, sizeof v, i, 2);
        util_put_ok(e, k, cache_key(k, i), v, 10 + i % 50);
    }
    for (unsigned i = 0; i < 500; i++) {
        util_fill(v, sizeof v, i, i % 3 == 0 ? 2 : 1);
        util_expect(e, k, cache_key(k, i), v, i % 3 == 0 ? 10 + i % 50 : 50 + i % 150);
    }
    util_close_ok(e);
}

static void test_small_cache_evicts(void) {
    arm_engine *e = cache_open(64 * 1024); /* far smaller than the data */
    char k[32];
    static uint8_t v[3000];
    for (unsigned i = 0; i < 2000; i++) {
        util_fill(v, sizeof v, i, 3);
        util_put_ok(e, k, cache_key(k, i), v, 100 + i % 2900);
    }
    for (int round = 0; round < 3; round++)
        for (unsigned i = 0; i < 2000; i++) {
            unsigned j = (unsigned)(harness_rand() % 2000);
            util_fill(v, sizeof v, j, 3);
            util_expect(e, k, cache_key(k, j), v, 100 + j % 2900);
        }
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.cache_hits + st.cache_misses == 6000);
    ARM_CHECK(st.cache_misses > st.cache_hits); /* it cannot hold the working set */
    util_close_ok(e);
}

struct cache_thr {
    arm_engine *e;
    uint64_t seed;
    int bad;
};

static void *cache_reader(void *arg) {
    struct cache_thr *t = arg;
    util_rng r;
    util_rng_seed(&r, t->seed);
    char k[32];
    uint8_t v[200];
    arm_buf b = {0};
    for (int n = 0; n < 20000; n++) {
        unsigned i = (unsigned)util_rng_below(&r, 300);
        util_fill(v, sizeof v, i, 4);
        if (arm_engine_get(t->e, arm_slice_make(k, cache_key(k, i)), &b) != ARM_OK ||
            b.len != 20 + i % 180 || memcmp(b.ptr, v, b.len) != 0)
            t->bad++;
    }
    arm_buf_free(&b);
    return NULL;
}

static void test_concurrent_readers(void) {
    arm_engine *e = cache_open(16 * 1024);
    char k[32];
    uint8_t v[200];
    for (unsigned i = 0; i < 300; i++) {
        util_fill(v, sizeof v, i, 4);
        util_put_ok(e, k, cache_key(k, i), v, 20 + i % 180);
    }
    pthread_t th[4];
    struct cache_thr t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (struct cache_thr){e, harness_seed + (uint64_t)i, 0};
        ARM_CHECK(pthread_create(&th[i], NULL, cache_reader, &t[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ARM_CHECK(t[i].bad == 0);
    }
    util_close_ok(e);
}

int main(void) {
    harness_init();
    /* static: util_rmrf_at_exit reads the path at exit, after main returned */
    static char base[512];
    util_tmpdir_ok(base, sizeof base, "cache");
    util_rmrf_at_exit(base);
    snprintf(g_dir, sizeof g_dir, "%s/a", base);
    ARM_TEST("read cache: hits and overwrites") test_hits_and_overwrites();
    snprintf(g_dir, sizeof g_dir, "%s/b", base);
    ARM_TEST("read cache: small cache evicts") test_small_cache_evicts();
    snprintf(g_dir, sizeof g_dir, "%s/c", base);
    ARM_TEST("read cache: concurrent readers") test_concurrent_readers();
    return harness_done();
}
