/* SPDX-License-Identifier: MIT */
/*
 * test_engine_batch.c: batches (transactions): put/delete over many shards,
 * own-write lookup, savepoints (mark/rollback_to), clear, duplicates, empty
 * commits, batches bigger than a data file (ARM_FULL), big values, reopen,
 * and atomic visibility against concurrent readers (gets and cursors).
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_tmp[512];
static char g_db[600];

static const char *fresh(const char *tag) {
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, tag);
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    return g_db;
}

static void opts4(arm_engine_options *o) {
    arm_engine_options_init(o);
    o->compaction = 0; /* a test parses the data files it wrote */
    o->shard_count = 4;
}

static void reopen(arm_engine **e, const char *dir, const arm_engine_options *o) {
    util_close_ok(*e);
    *e = util_open_ok(dir, o);
}

/* lookup expecting a put of exactly v */
static void look_put(const arm_batch *b, const char *k, const char *v) {
    arm_slice out = {(const uint8_t *)"junk", 4};
    int del = 7;
    ARM_CHECK_RC(arm_engine_batch_lookup(b, UTIL_S(k), &out, &del), ARM_OK);
    ARM_CHECK(out.len == strlen(v) && (out.len == 0 || memcmp(out.ptr, v, out.len) == 0));
}
static void look_none(const arm_batch *b, const char *k, int want_deleted) {
    arm_slice out;
    int del = 7;
    ARM_CHECK_RC(arm_engine_batch_lookup(b, UTIL_S(k), &out, &del), ARM_NOTFOUND);
    ARM_CHECK(del == want_deleted);
}

static void test_lookup_marks(void) {
    const char *dir = fresh("bmark");
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "pre", 3, "existing", 8);
    arm_batch *b = (arm_batch *)(uintptr_t)1;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    ARM_CHECK(b != NULL);
    ARM_CHECK(arm_engine_batch_mark(b) == 0);
    look_none(b, "a", 0);
    look_none(b, "pre", 0); /* the batch does not see committed data */

    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("a"), UTIL_S("1")), ARM_OK);
    look_put(b, "a", "1");
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("a")), ARM_OK);
    look_none(b, "a", 1);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("a"), UTIL_S("22")), ARM_OK);
    look_put(b, "a", "22");
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("empty"), arm_slice_make("", 0)), ARM_OK);
    look_put(b, "empty", "");
    ARM_CHECK(arm_engine_batch_mark(b) == 4);

    size_t m1 = arm_engine_batch_mark(b);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("b"), UTIL_S("b1")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("a"), UTIL_S("333")), ARM_OK);
    size_t m2 = arm_engine_batch_mark(b);
    ARM_CHECK(m2 == m1 + 2);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("b")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("pre")), ARM_OK);
    look_none(b, "b", 1);
    look_none(b, "pre", 1);
    arm_engine_batch_rollback_to(b, m2);
    ARM_CHECK(arm_engine_batch_mark(b) == m2);
    look_put(b, "b", "b1");
    look_put(b, "a", "333");
    look_none(b, "pre", 0);
    arm_engine_batch_rollback_to(b, m1);
    ARM_CHECK(arm_engine_batch_mark(b) == m1);
    look_none(b, "b", 0);
    look_put(b, "a", "22"); /* the earlier write shows again */
    /* rollback to the current mark is a no-op */
    arm_engine_batch_rollback_to(b, m1);
    look_put(b, "a", "22");

    /* commit: what the batch says after the rollbacks */
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    util_expect(e, "a", 1, "22", 2);
    util_expect(e, "empty", 5, "", 0);
    util_expect_missing(e, "b", 1);
    util_expect(e, "pre", 3, "existing", 8);
    ARM_CHECK(arm_engine_count(e) == 3);
    /* the batch is unchanged after commit */
    ARM_CHECK(arm_engine_batch_mark(b) == m1);
    look_put(b, "a", "22");

    /* clear forgets everything */
    arm_engine_batch_clear(b);
    ARM_CHECK(arm_engine_batch_mark(b) == 0);
    look_none(b, "a", 0);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("pre")), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    util_expect_missing(e, "pre", 3);
    util_expect(e, "a", 1, "22", 2);
    arm_engine_batch_free(b);
    arm_engine_batch_free(NULL);
    reopen(&e, dir, &o);
    util_expect(e, "a", 1, "22", 2);
    util_expect(e, "empty", 5, "", 0);
    util_expect_missing(e, "pre", 3);
    ARM_CHECK(arm_engine_count(e) == 2);
    util_close_ok(e);
}

static void test_commit_shards(void) {
    const char *dir = fresh("bshards");
    arm_engine_options o;
    opts4(&o);
    o.sync_mode = ARM_SYNC_FULL;
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    for (int i = 0; i < 64; i++) {
        char k[16];
        snprintf(k, sizeof k, "pre%02d", i);
        util_put_ok(e, k, strlen(k), k, strlen(k));
        util_model_put(&m, k, strlen(k), k, strlen(k));
    }
    arm_batch *b = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    for (int round = 0; round < 20; round++) {
        arm_engine_batch_clear(b);
        util_model want;
        util_model_init(&want);
        util_model_copy(&want, &m);
        int nops = 1 + (int)(harness_rand() % 60);
        for (int i = 0; i < nops; i++) {
            char k[16];
            uint8_t v[64];
            snprintf(k, sizeof k, "%s%02d", harness_rand() % 2 ? "pre" : "new",
                     (int)(harness_rand() % 64));
            size_t vl = harness_rand() % sizeof v;
            util_fill(v, vl, (uint64_t)round, (uint64_t)i);
            if (harness_rand() % 4 == 0) {
                ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S(k)), ARM_OK);
                util_model_del(&want, k, strlen(k));
            } else {
                ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S(k), arm_slice_make(v, vl)), ARM_OK);
                util_model_put(&want, k, strlen(k), v, vl);
            }
        }
        /* before commit nothing is visible */
        util_expect_model(e, &m);
        UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
        util_model_copy(&m, &want);
        util_model_free(&want);
        util_expect_model(e, &m);
        if (round % 5 == 4) { /* batches belong to an engine: free before close */
            arm_engine_batch_free(b);
            reopen(&e, dir, &o);
            util_expect_model(e, &m);
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
        }
    }
    arm_engine_batch_free(b);
    util_close_ok(e);
    util_model_free(&m);
}

static void test_duplicates_and_empty(void) {
    const char *dir = fresh("bdup");
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "old", 3, "o", 1);
    arm_engine_stats s0, s1;
    arm_engine_stats_get(e, &s0);
    arm_batch *b = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    /* empty batch */
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    arm_engine_stats_get(e, &s1);
    ARM_CHECK(s1.keys == 1 && s1.live_bytes == s0.live_bytes);
    ARM_CHECK(s1.dead_bytes == s0.dead_bytes);
    /* cleared and rolled-back-to-zero batches are empty too */
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("x"), UTIL_S("x")), ARM_OK);
    arm_engine_batch_rollback_to(b, 0);
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    util_expect_missing(e, "x", 1);

    /* last write wins within a batch */
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("k"), UTIL_S("1")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("k"), UTIL_S("2")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("k")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("k"), UTIL_S("3")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("old"), UTIL_S("n1")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("old")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("gone"), UTIL_S("g")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("gone")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("never")), ARM_OK); /* absent: fine */
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    util_expect(e, "k", 1, "3", 1);
    util_expect_missing(e, "old", 3);
    util_expect_missing(e, "gone", 4);
    util_expect_missing(e, "never", 5);
    ARM_CHECK(arm_engine_count(e) == 1);
    arm_engine_batch_free(b);
    reopen(&e, dir, &o);
    util_expect(e, "k", 1, "3", 1);
    util_expect_missing(e, "old", 3);
    util_expect_missing(e, "gone", 4);
    ARM_CHECK(arm_engine_count(e) == 1);

    /* a batch of only deletes of absent keys */
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("nx1")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S("nx2")), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    ARM_CHECK(arm_engine_count(e) == 1);
    arm_engine_batch_free(b);
    reopen(&e, dir, &o);
    ARM_CHECK(arm_engine_count(e) == 1);
    util_close_ok(e);
}

static void test_too_big(void) {
    const char *dir = fresh("bfull");
    arm_engine_options o;
    opts4(&o);
    o.max_file_size = 64u << 10;
    o.write_buffer_size = 16u << 10;
    o.max_value_size = 8u << 10;
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    uint8_t v[1024];
    for (int i = 0; i < 40; i++) { /* part-fill the files */
        char k[16];
        snprintf(k, sizeof k, "f%03d", i);
        util_fill(v, 1000, 1, (uint64_t)i);
        util_put_ok(e, k, strlen(k), v, 1000);
        util_model_put(&m, k, strlen(k), v, 1000);
    }
    arm_batch *b = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    for (int i = 0; i < 100; i++) { /* ~104 KiB > 64 KiB */
        char k[16];
        snprintf(k, sizeof k, "big%03d", i);
        ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S(k), arm_slice_make(v, 1024)), ARM_OK);
    }
    ARM_CHECK_RC(arm_engine_batch_commit(e, b), ARM_FULL);
    ARM_CHECK(arm_engine_errmsg(e)[0] != '\0');
    util_expect_model(e, &m);
    util_expect_missing(e, "big000", 6);

    /* a batch that fits one file but not the rest of the current one:
     * the log rotates first */
    arm_engine_batch_clear(b);
    for (int i = 0; i < 50; i++) { /* ~52 KiB */
        char k[16];
        snprintf(k, sizeof k, "fit%03d", i);
        util_fill(v, 1000, 2, (uint64_t)i);
        ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S(k), arm_slice_make(v, 1000)), ARM_OK);
        util_model_put(&m, k, strlen(k), v, 1000);
    }
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK); /* again: same content */
    util_put_ok(e, "after", 5, "a", 1);
    util_model_put(&m, "after", 5, "a", 1);
    util_expect_model(e, &m);
    arm_engine_batch_free(b);
    reopen(&e, dir, &o);
    util_expect_model(e, &m);
    util_close_ok(e);

    /* each batch sits whole in one file: TXN runs end with TXN_END */
    util_logfile lf[128];
    int nf = util_list_logs(dir, lf, 128);
    ARM_CHECK(nf > 0 && nf <= 128);
    int batches = 0;
    for (int i = 0; i < nf; i++) {
        util_entry ent[256];
        int c = util_parse_log(lf[i].path, ent, 256, NULL);
        ARM_CHECK(c >= 0 && c <= 256);
        int in_txn = 0;
        for (int j = 0; j < c; j++) {
            if (ent[j].flags & UTIL_F_TXN) {
                if (in_txn) ARM_CHECK(ent[j].seq == ent[j - 1].seq);
                in_txn = 1;
                if (ent[j].flags & UTIL_F_TXN_END) {
                    in_txn = 0;
                    batches++;
                }
            } else {
                ARM_CHECK(!in_txn);
            }
        }
        ARM_CHECK(!in_txn);
    }
    ARM_CHECK(batches == 2);
    util_model_free(&m);
}

static void test_big_values(void) {
    const char *dir = fresh("bbig");
    arm_engine_options o;
    opts4(&o);
    o.write_buffer_size = 1u << 20;
    o.max_file_size = 8u << 20;
    o.max_value_size = 2u << 20;
    arm_engine *e = util_open_ok(dir, &o);
    arm_batch *b = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    const size_t sz[] = {600u << 10, 2u << 20, 1, 0, (1u << 20) - 27};
    uint8_t *v = malloc(2u << 20);
    ARM_CHECK(v != NULL);
    for (size_t i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof k, "bv%zu", i);
        util_fill(v, sz[i], 9, i);
        ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S(k), arm_slice_make(v, sz[i])), ARM_OK);
    }
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    arm_engine_batch_free(b);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < 5; i++) {
            char k[8];
            snprintf(k, sizeof k, "bv%zu", i);
            util_fill(v, sz[i], 9, i);
            util_expect(e, k, strlen(k), v, sz[i]);
        }
        if (pass == 0) reopen(&e, dir, &o);
    }
    util_close_ok(e);
    free(v);
}

/* ------------------------------------------------ atomic visibility */
#define NVIS 26
struct vis {
    arm_engine *e;
    atomic_int stop;
    atomic_uint_fast64_t max_committed;
    int batches;
    atomic_int failed;
    char why[256]; /* written once, by whoever set failed first */
};

static uint64_t parse_version(const uint8_t *p, size_t n) {
    char tmp[32];
    if (n == 0 || n >= sizeof tmp) return UINT64_MAX;
    memcpy(tmp, p, n);
    tmp[n] = 0;
    return strtoull(tmp, NULL, 10);
}

static void vis_fail(struct vis *s, const char *what, int i, uint64_t a, uint64_t b) {
    if (atomic_exchange(&s->failed, 1) == 0)
        snprintf(s->why, sizeof s->why, "%s: key %d saw version %llu after %llu", what, i,
                 (unsigned long long)a, (unsigned long long)b);
}

static void *vis_writer(void *arg) {
    struct vis *s = arg;
    arm_batch *b = NULL;
    if (arm_engine_batch_new(s->e, &b) != ARM_OK) {
        vis_fail(s, "batch_new failed", 0, 0, 0);
        atomic_store(&s->stop, 1);
        return NULL;
    }
    for (int v = 1; v <= s->batches; v++) {
        char val[32];
        snprintf(val, sizeof val, "%d", v);
        arm_engine_batch_clear(b);
        /* alternate the order operations are recorded in */
        for (int i = 0; i < NVIS; i++) {
            int idx = v % 2 ? i : NVIS - 1 - i;
            char k[8] = {'v', 'k', (char)('a' + idx), 0};
            if (arm_engine_batch_put(b, UTIL_S(k), UTIL_S(val)) != ARM_OK)
                vis_fail(s, "batch_put failed", idx, 0, 0);
        }
        if (arm_engine_batch_commit(s->e, b) != ARM_OK) vis_fail(s, "commit failed", v, 0, 0);
        atomic_store(&s->max_committed, (uint64_t)v);
    }
    arm_engine_batch_free(b);
    atomic_store(&s->stop, 1);
    return NULL;
}

static void *vis_reader_get(void *arg) {
    struct vis *s = arg;
    arm_buf buf = {0};
    int dir = 0;
    while (!atomic_load(&s->stop) && !atomic_load(&s->failed)) {
        uint64_t lo = atomic_load(&s->max_committed);
        uint64_t prev = 0;
        for (int j = 0; j < NVIS; j++) {
            int i = dir ? NVIS - 1 - j : j;
            char k[8] = {'v', 'k', (char)('a' + i), 0};
            if (arm_engine_get(s->e, UTIL_S(k), &buf) != ARM_OK) {
                vis_fail(s, "get failed", i, 0, 0);
                break;
            }
            uint64_t ver = parse_version(buf.ptr, buf.len);
            if (ver < prev) vis_fail(s, "half a batch (get)", i, ver, prev);
            if (ver < lo) vis_fail(s, "committed batch not visible (get)", i, ver, lo);
            prev = ver;
        }
        dir ^= 1;
    }
    arm_buf_free(&buf);
    return NULL;
}

static void *vis_reader_cursor(void *arg) {
    struct vis *s = arg;
    int backwards = 0;
    while (!atomic_load(&s->stop) && !atomic_load(&s->failed)) {
        arm_cursor *c = NULL;
        if (arm_engine_cursor_open(s->e, NULL, &c) != ARM_OK) {
            vis_fail(s, "cursor_open failed", 0, 0, 0);
            break;
        }
        uint64_t lo = atomic_load(&s->max_committed);
        uint64_t prev = 0;
        int n = 0;
        int rc = backwards ? arm_engine_cursor_last(c) : arm_engine_cursor_first(c);
        while (rc == ARM_OK) {
            arm_slice v;
            if (arm_engine_cursor_value(c, &v) != ARM_OK) {
                vis_fail(s, "cursor_value failed", n, 0, 0);
                break;
            }
            uint64_t ver = parse_version(v.ptr, v.len);
            if (ver < prev) vis_fail(s, "half a batch (cursor)", n, ver, prev);
            if (ver < lo) vis_fail(s, "committed batch not visible (cursor)", n, ver, lo);
            prev = ver;
            n++;
            rc = backwards ? arm_engine_cursor_prev(c) : arm_engine_cursor_next(c);
        }
        if (rc != ARM_NOTFOUND && rc != ARM_OK) vis_fail(s, "cursor step failed", n, 0, 0);
        if (n != NVIS) vis_fail(s, "cursor saw wrong number of keys", n, (uint64_t)n, NVIS);
        arm_engine_cursor_close(c);
        backwards ^= 1;
    }
    return NULL;
}

static void test_atomic_visibility(void) {
    const char *dir = fresh("bvis");
    arm_engine_options o;
    opts4(&o);
    o.sync_mode = ARM_SYNC_OFF;
    arm_engine *e = util_open_ok(dir, &o);
    for (int i = 0; i < NVIS; i++) {
        char k[8] = {'v', 'k', (char)('a' + i), 0};
        util_put_ok(e, k, 3, "0", 1);
    }
    struct vis s;
    memset(&s, 0, sizeof s);
    s.e = e;
    s.batches = 2000 * util_scale();
    pthread_t w, r1, r2;
    ARM_CHECK(pthread_create(&r1, NULL, vis_reader_get, &s) == 0);
    ARM_CHECK(pthread_create(&r2, NULL, vis_reader_cursor, &s) == 0);
    ARM_CHECK(pthread_create(&w, NULL, vis_writer, &s) == 0);
    pthread_join(w, NULL);
    pthread_join(r1, NULL);
    pthread_join(r2, NULL);
    if (atomic_load(&s.failed)) fprintf(stderr, "visibility: %s\n", s.why);
    ARM_CHECK(!atomic_load(&s.failed));
    char last[16];
    snprintf(last, sizeof last, "%d", s.batches);
    for (int i = 0; i < NVIS; i++) {
        char k[8] = {'v', 'k', (char)('a' + i), 0};
        util_expect(e, k, 3, last, strlen(last));
    }
    reopen(&e, dir, &o);
    for (int i = 0; i < NVIS; i++) {
        char k[8] = {'v', 'k', (char)('a' + i), 0};
        util_expect(e, k, 3, last, strlen(last));
    }
    util_close_ok(e);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("lookup, mark, rollback_to, clear", test_lookup_marks());
    UTIL_CASE("commits over shards vs model", test_commit_shards());
    UTIL_CASE("duplicates and empty batches", test_duplicates_and_empty());
    UTIL_CASE("batch bigger than a data file", test_too_big());
    UTIL_CASE("batch of big values", test_big_values());
    UTIL_CASE("atomic visibility to concurrent readers", test_atomic_visibility());
    return harness_done();
}
