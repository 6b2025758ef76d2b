/* SPDX-License-Identifier: MIT */
/*
 * test_engine_oom.c: allocation failure injection through arm_alloc. For
 * each n, the (n+1)th allocation and every later one fail while a workload
 * (open with recovery, puts, gets, deletes, cas, a batch, a cursor, close)
 * runs: every call returns ARM_OK or a clean error (ARM_NOMEM, or the
 * ARM_PANIC that follows a failed write), nothing crashes, nothing leaks
 * (arm_alloc_outstanding back to its baseline after close), and what the
 * engine served before close is what a normal reopen finds.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../common/arm_alloc.h"
#include "../util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_tmp[512];
static char g_db[600];

#define NK 40

static int clean_rc(int rc) { return rc == ARM_OK || rc == ARM_NOMEM || rc == ARM_PANIC; }

static void report_bad(long n, const char *what, int rc) {
    fprintf(stderr, "fail_after %ld: %s returned %s: \"%s\"\n", n, what, arm_rc_str(rc),
            arm_engine_errmsg(NULL));
}

#define OOM_CALL(n, what, call, extra_ok) do { int r_ = (call); \
    if (!clean_rc(r_) && r_ != (extra_ok)) { arm_alloc_fail_after(-1); report_bad((n), (what), r_); \
        ARM_CHECK(!"clean result under allocation failure"); } \
    if (r_ == ARM_NOMEM || r_ == ARM_PANIC) failures++; } while (0)

static arm_engine_options oom_opts(void) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.compaction = 0; /* allocations are counted: no thread of its own */
    o.shard_count = 3;
    o.sync_mode = ARM_SYNC_OFF;
    o.write_buffer_size = 16u << 10;
    o.max_file_size = 64u << 10;
    o.max_value_size = 8u << 10;
    return o;
}

/* Read every key of the workload's key space into vals/lens (with
 * injection off). */
static void snapshot(arm_engine *e, uint8_t vals[NK][64], size_t *lens, int *present) {
    arm_buf b = {0};
    for (int i = 0; i < NK; i++) {
        char k[16];
        snprintf(k, sizeof k, "oom%02d", i);
        int rc = arm_engine_get(e, UTIL_S(k), &b);
        ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
        present[i] = rc == ARM_OK;
        lens[i] = rc == ARM_OK ? b.len : 0;
        ARM_CHECK(lens[i] <= 64);
        if (rc == ARM_OK && b.len) memcpy(vals[i], b.ptr, b.len);
    }
    arm_buf_free(&b);
}

/* One run with allocations failing after n. Returns the number of calls
 * that failed (0: the workload ran clean, n is past its last allocation). */
static int one_run(long n) {
    arm_engine_options o = oom_opts();
    int failures = 0;
    arm_engine *e = NULL;
    arm_alloc_fail_after(n);
    int rc = arm_engine_open(g_db, &o, &e);
    if (rc != ARM_OK) {
        arm_alloc_fail_after(-1);
        if (rc != ARM_NOMEM) report_bad(n, "open", rc);
        ARM_CHECK_RC(rc, ARM_NOMEM);
        ARM_CHECK(e == NULL);
        return 1;
    }
    arm_buf b = {0};
    for (int i = 0; i < NK; i++) {
        char k[16];
        uint8_t v[64];
        snprintf(k, sizeof k, "oom%02d", i);
        size_t vl = (size_t)((n + i) % 60);
        util_fill(v, vl, (uint64_t)n, (uint64_t)i);
        OOM_CALL(n, "put", arm_engine_put(e, UTIL_S(k), arm_slice_make(v, vl)), ARM_OK);
        if (i % 5 == 0) OOM_CALL(n, "get", arm_engine_get(e, UTIL_S(k), &b), ARM_NOTFOUND);
        if (i % 7 == 3) OOM_CALL(n, "delete", arm_engine_delete(e, UTIL_S(k)), ARM_NOTFOUND);
    }
    OOM_CALL(n, "cas", arm_engine_cas(e, UTIL_S("oom01"), arm_slice_make(NULL, 0), UTIL_S("c")),
             ARM_CONSTRAINT);
    arm_batch *bt = NULL;
    rc = arm_engine_batch_new(e, &bt);
    OOM_CALL(n, "batch_new", rc, ARM_OK);
    if (rc == ARM_OK) {
        for (int i = 0; i < 10; i++) {
            char k[16];
            snprintf(k, sizeof k, "oom%02d", 20 + i);
            if (i % 3 == 2)
                OOM_CALL(n, "batch_delete", arm_engine_batch_delete(bt, UTIL_S(k)), ARM_OK);
            else
                OOM_CALL(n, "batch_put", arm_engine_batch_put(bt, UTIL_S(k), UTIL_S("batched")),
                         ARM_OK);
        }
        OOM_CALL(n, "batch_commit", arm_engine_batch_commit(e, bt), ARM_OK);
        arm_cursor *c = NULL;
        rc = arm_engine_cursor_open(e, bt, &c);
        OOM_CALL(n, "cursor_open", rc, ARM_OK);
        if (rc == ARM_OK) {
            rc = arm_engine_cursor_first(c);
            int steps = 0;
            while (rc == ARM_OK && steps++ < 100) {
                arm_slice v;
                OOM_CALL(n, "cursor_value", arm_engine_cursor_value(c, &v), ARM_NOTFOUND);
                rc = arm_engine_cursor_next(c);
            }
            OOM_CALL(n, "cursor step", rc, ARM_NOTFOUND);
            arm_engine_cursor_close(c);
        }
        arm_engine_batch_free(bt);
    }
    arm_buf_free(&b);
    arm_alloc_fail_after(-1);

    /* what the engine serves now (injection off) must survive reopen;
     * after a panic, reads still work */
    static uint8_t before[NK][64], after[NK][64];
    size_t lb[NK], la[NK];
    int pb[NK], pa[NK];
    snapshot(e, before, lb, pb);
    uint64_t count = arm_engine_count(e);
    rc = arm_engine_close(e);
    ARM_CHECK(rc == ARM_OK || rc == ARM_PANIC || rc == ARM_IOERR);
    e = util_open_ok(g_db, &o);
    snapshot(e, after, la, pa);
    for (int i = 0; i < NK; i++) {
        if (pb[i] != pa[i] || lb[i] != la[i] || memcmp(before[i], after[i], lb[i]) != 0) {
            fprintf(stderr, "fail_after %ld: key oom%02d served %s (%zu bytes) before close, "
                    "%s (%zu bytes) after reopen\n", n, i, pb[i] ? "present" : "absent", lb[i],
                    pa[i] ? "present" : "absent", la[i]);
            ARM_CHECK(!"reopen finds what was served");
        }
    }
    ARM_CHECK(arm_engine_count(e) == count);
    util_close_ok(e);
    return failures;
}

static void test_oom(void) {
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "oom");
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    arm_engine_options o = oom_opts();
    /* some history to recover: several files per shard */
    arm_engine *e = util_open_ok(g_db, &o);
    uint8_t v[1000];
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "base%03d", i);
        util_fill(v, sizeof v, 1, (uint64_t)i);
        util_put_ok(e, k, strlen(k), v, sizeof v);
    }
    util_close_ok(e);
    /* warm up once (thread-local error state and the like), then measure */
    (void)one_run(0);
    long base = arm_alloc_outstanding();
    long n = 0;
    int runs = 0, leaky_runs = 0;
    for (;;) {
        int failures = one_run(n);
        long now = arm_alloc_outstanding();
        if (now != base) { /* report every leaking point, then fail */
            fprintf(stderr, "fail_after %ld: %ld blocks outstanding after close, %ld before\n", n,
                    now, base);
            leaky_runs++;
            base = now;
        }
        runs++;
        if (failures == 0) break; /* past the workload's last allocation */
        n += n < 150 ? 1 : 1 + n / 40;
        ARM_CHECK(n < 1000000);
    }
    fprintf(stderr, "oom: %d runs, clean from fail_after %ld, %d runs leaked\n", runs, n,
            leaky_runs);
    ARM_CHECK(runs > 10);
    ARM_CHECK(leaky_runs == 0);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("allocation failures at every point", test_oom());
    return harness_done();
}
