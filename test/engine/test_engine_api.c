/* SPDX-License-Identifier: MIT */
/*
 * test_engine_api.c: the public header's growth contract (arm_engine.h). A
 * program built against the first published arm_engine_options and
 * arm_engine_stats (a smaller struct) keeps working: options past its size
 * take their defaults, stats past its size are never written, an options
 * struct that was zeroed instead of initialised (size 0) counts as the first
 * version, and a size no version had is ARM_MISUSE naming it.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The first published layouts end with these fields. */
#define V1_OPTIONS_SIZE (offsetof(arm_engine_options, mmap_reads) + sizeof(int))
#define V1_STATS_SIZE   (offsetof(arm_engine_stats, db_id) + 16)

static char g_tmp[512];
static char g_db[600];

/* An options struct as an old program holds it: V1 bytes, then memory that
 * belongs to something else (sentinel bytes that must stay). */
union old_opts {
    arm_engine_options o;
    uint8_t raw[sizeof(arm_engine_options) + 64];
};

static void test_options_sizes(void) {
    union old_opts u;
    memset(&u, 0xA5, sizeof u);
    arm_engine_options_init_v(&u.o, V1_OPTIONS_SIZE);
    ARM_CHECK(u.o.size == V1_OPTIONS_SIZE);
    for (size_t i = V1_OPTIONS_SIZE; i < sizeof u.raw; i++) ARM_CHECK(u.raw[i] == 0xA5);
    u.o.shard_count = 2;
    u.o.sync_mode = ARM_SYNC_OFF;
    arm_engine *e = util_open_ok(g_db, &u.o);
    util_put_ok(e, "k", 1, "v", 1);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.shards == 2);
    ARM_CHECK(st.sync_mode == ARM_SYNC_OFF);
    util_close_ok(e);

    /* zeroed and filled by hand: size 0 is the first version */
    arm_engine_options z;
    memset(&z, 0, sizeof z);
    arm_engine_options d;
    arm_engine_options_init(&d);
    ARM_CHECK(d.size == sizeof d);
    memcpy(&z, &d, sizeof z);
    z.size = 0;
    e = util_open_ok(g_db, &z);
    util_expect(e, "k", 1, "v", 1);
    util_close_ok(e);

    /* sizes no version had */
    const uint32_t bad[] = {4, (uint32_t)V1_OPTIONS_SIZE - 4, (uint32_t)sizeof(arm_engine_options) + 8};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        arm_engine_options b = d;
        b.size = bad[i];
        e = (arm_engine *)(uintptr_t)1;
        ARM_CHECK_RC(arm_engine_open(g_db, &b, &e), ARM_MISUSE);
        ARM_CHECK(e == NULL);
        char want[32];
        snprintf(want, sizeof want, "%u", bad[i]);
        ARM_CHECK(strstr(arm_engine_errmsg(NULL), "size") != NULL);
        ARM_CHECK(strstr(arm_engine_errmsg(NULL), want) != NULL);
    }
}

static void test_stats_sizes(void) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 2; /* as created by the case before */
    arm_engine *e = util_open_ok(g_db, &o);
    util_put_ok(e, "a", 1, "b", 1);
    union {
        arm_engine_stats st;
        uint8_t raw[sizeof(arm_engine_stats) + 64];
    } u;
    memset(&u, 0x5A, sizeof u);
    arm_engine_stats_get_v(e, &u.st, V1_STATS_SIZE);
    for (size_t i = V1_STATS_SIZE; i < sizeof u.raw; i++) ARM_CHECK(u.raw[i] == 0x5A);
    ARM_CHECK(u.st.shards == 2);
    ARM_CHECK(u.st.keys >= 1);
    arm_engine_stats full;
    arm_engine_stats_get(e, &full);
    ARM_CHECK(memcmp(&full, &u.st, offsetof(arm_engine_stats, cache_hits)) == 0);
    ARM_CHECK(memcmp(full.db_id, u.st.db_id, 16) == 0);
    util_close_ok(e);
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "api");
    util_rmrf_at_exit(g_tmp);
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    UTIL_CASE("options of an older, smaller struct", test_options_sizes());
    UTIL_CASE("stats into an older, smaller struct", test_stats_sizes());
    return harness_done();
}
