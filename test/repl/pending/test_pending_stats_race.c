/* SPDX-License-Identifier: MIT */
/*
 * test_pending_stats_race.c: PENDING (fails under ThreadSanitizer until the
 * engine is fixed: `make O=build-tsan SAN=thread test-repl-pending`; a plain
 * build cannot see it and passes). arm_engine_stats_get, documented
 * thread-safe, reads shards[0].direct and shards[0].ring (eng_stats in
 * engine/engine.c: io_direct, io_uring) without the shard's log mutex, while
 * a writer that rotates the log rewrites them under it
 * (arm_shard_new_file). Replication called it from session threads for the
 * leader's newest sequence number and had to stop; SQL's armdb_stats from
 * one connection while another writes would race the same way. Reading them
 * under the log mutex (or keeping them in atomics) fixes it.
 */
#include "../../harness.h"
#include "../../../engine/arm_engine.h"
#include "../../util.h"

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
