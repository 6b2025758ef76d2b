/* SPDX-License-Identifier: MIT */
/*
 * test_stats_race.c: arm_engine_stats_get is thread-safe: it reads the I/O
 * mode fields a rotation rewrites under the log mutex (arm_shard_new_file)
 * under that mutex too. Threads take stats while a writer rotates the log;
 * ThreadSanitizer (make tsan) reported the race before, a plain build
 * checks the values. Found by replication, whose sessions read stats while
 * the leader writes.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <pthread.h>
#include <stdatomic.h>

static char g_tmp[512];
static _Atomic int g_stop;

static void *stats_main(void *arg) {
    arm_engine *e = arg;
    uint64_t n = 0;
    while (!atomic_load(&g_stop)) {
        arm_engine_stats st;
        arm_engine_stats_get(e, &st);
        n += st.io_direct + st.io_uring;
    }
    return (void *)(uintptr_t)n;
}

static void test_stats_while_rotating(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/db", g_tmp);
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 1;
    o.max_file_size = 64 * 1024; /* a rotation every few hundred puts */
    o.max_value_size = 4096;
    o.sync_mode = ARM_SYNC_OFF;
    arm_engine *e = util_open_ok(dir, &o);
    pthread_t th;
    ARM_CHECK(pthread_create(&th, NULL, stats_main, e) == 0);
    char v[200];
    memset(v, 'x', sizeof v);
    for (int i = 0; i < 20000; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        UTIL_CHECK_RC(e, arm_engine_put(e, UTIL_S(k), arm_slice_make(v, sizeof v)), ARM_OK);
    }
    atomic_store(&g_stop, 1);
    pthread_join(th, NULL);
    util_close_ok(e);
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "pending_stats_race");
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("stats while the log rotates (TSan)", test_stats_while_rotating());
    return harness_done();
}
