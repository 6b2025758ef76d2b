/* SPDX-License-Identifier: MIT */
/*
 * test_repl_sync.c: a leader and followers in one process over loopback, the
 * scenarios of the original armdb's replication tests and more: catch-up of
 * more entries than one batch, streaming after catch-up, reconnect with no
 * loss and no duplicates (resumed from the stored positions, no snapshot),
 * many file rotations while streaming, several shards, entries never flushed
 * (still in the leader's write buffer), encrypted leader and follower
 * (buffered entries, rotations, no plaintext on the follower's disk), a
 * follower past max_followers
 * refused and left empty, transactions larger than a frame, authentication
 * right / wrong / missing / one-sided, a follower of another leader and a
 * non-empty follower without positions getting a snapshot (their old keys
 * gone), a large catch-up (20,000 keys x ARM_TEST_SCALE; 50 = 1,000,000),
 * status reports that are well-formed JSON, and stops that return promptly
 * whatever the threads are doing.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "repl_test.h"

#include <sys/stat.h>

static char g_tmp[512];

/* A fresh directory path under the test's temp dir. */
static const char *dir_of(const char *name) {
    static char bufs[8][600];
    static int at;
    char *b = bufs[at++ % 8];
    snprintf(b, 600, "%s/%s", g_tmp, name);
    return b;
}

static arm_engine *open_new(const char *name, uint32_t shards) {
    arm_engine_options o;
    rt_engine_opts(&o, shards);
    const char *d = dir_of(name);
    util_rmrf(d);
    return util_open_ok(d, &o);
}

/* The leader's shard tails, as a reader that drained the log sees them. */
static void leader_tails(arm_engine *l, arm_log_pos *pos, uint32_t n) {
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(l, arm_log_reader_open(l, NULL, &r), ARM_OK);
    arm_log_txn t;
    int rc;
    while ((rc = arm_log_reader_next(r, &t)) == ARM_OK) {
    }
    UTIL_CHECK_RC(l, rc, ARM_NOTFOUND);
    for (uint32_t i = 0; i < n; i++)
        pos[i] = arm_log_reader_pos(r, i);
    arm_log_reader_close(r);
}

/* Every shard's stored position names the leader and its tail. */
static void expect_positions_at_tail(arm_engine *l, arm_engine *f) {
    arm_engine_stats ls;
    arm_engine_stats_get(l, &ls);
    arm_log_pos tail[16];
    ARM_CHECK(ls.shards <= 16);
    leader_tails(l, tail, ls.shards);
    for (uint32_t i = 0; i < ls.shards; i++) {
        uint8_t lid[16];
        arm_log_pos p;
        uint32_t flags = 9;
        int rc = arm_engine_repl_pos(f, i, lid, &p, &flags);
        if (rc == ARM_NOTFOUND && tail[i].fid == 0) continue; /* nothing ever came */
        UTIL_CHECK_RC(f, rc, ARM_OK);
        ARM_CHECK(memcmp(lid, ls.db_id, 16) == 0 && flags == 0);
        ARM_CHECK(memcmp(&p, &tail[i], sizeof p) == 0);
    }
}

/* ------------------------------------------------------ the seed scenarios */
/* More entries than a follower applies at once (10,000) and than a leader
 * ships in one round (4,096), all there before the follower connects. */
static void test_catch_up(void) {
    /* sync=normal: with sync=off a reader near the end of the log copies a
     * whole read window per transaction (engine/logread.c), which sanitizer
     * builds make very slow; test_unflushed covers the write buffer. */
    arm_engine_options eo;
    rt_engine_opts(&eo, 2);
    eo.sync_mode = ARM_SYNC_NORMAL;
    util_rmrf(dir_of("cu_l"));
    arm_engine *l = util_open_ok(dir_of("cu_l"), &eo), *f = open_new("cu_f", 2);
    uint64_t n = 25000;
    for (uint64_t i = 0; i < n; i++)
        rt_put_i(l, i, "v", 32);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 20000);
    ARM_CHECK(arm_engine_count(f) == n);
    ARM_CHECK(RT_WAIT(2000, rt_fstats(fw).txns == n));
    arm_repl_follower_stats st = rt_fstats(fw);
    ARM_CHECK(st.state == ARM_REPL_STREAMING && st.snapshots == 0 && st.sessions == 1);
    ARM_CHECK(st.applies >= 3); /* in groups, not one by one */
    ARM_CHECK(st.applies < n / 4);
    expect_positions_at_tail(l, f);
    /* the follower refuses writes of its own */
    ARM_CHECK_RC(arm_engine_put(f, UTIL_S("mine"), UTIL_S("x")), ARM_READONLY);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* Caught up, then new writes arrive by streaming, promptly. */
static void test_streaming(void) {
    arm_engine *l = open_new("st_l", 2), *f = open_new("st_f", 2);
    for (uint64_t i = 0; i < 64; i++)
        rt_put_i(l, i, "initial", 32);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 10000);
    for (uint64_t i = 512; i < 768; i++)
        rt_put_i(l, i, "streamed", 32);
    rt_wait_equal(l, f, ld, fw, 5000);
    /* one more, alone: it arrives without waiting for a heartbeat or a batch */
    uint64_t t0 = util_now_ms();
    rt_put_i(l, 9999, "single", 32);
    ARM_CHECK(RT_WAIT(2000, arm_engine_count(f) == arm_engine_count(l)));
    ARM_CHECK(util_now_ms() - t0 < 500);
    arm_buf v = {0};
    UTIL_CHECK_RC(f, arm_engine_get(f, UTIL_S("k00009999"), &v), ARM_OK);
    ARM_CHECK(v.len == 32 && memcmp(v.ptr, "single-9999-", 12) == 0);
    arm_buf_free(&v);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* Disconnect, write on, reconnect: resumed from the stored positions (no
 * snapshot), every key once, nothing missing. */
static void test_reconnect(void) {
    arm_engine *l = open_new("rc_l", 2), *f = open_new("rc_f", 2);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    for (uint64_t i = 0; i < 100; i++)
        rt_put_i(l, i, "batch1", 32);
    rt_wait_equal(l, f, ld, fw, 10000);
    arm_repl_follower_stop(fw);
    for (uint64_t i = 100; i < 200; i++)
        rt_put_i(l, i, "batch2", 32);
    for (uint64_t i = 0; i < 50; i++)
        rt_put_i(l, i, "rewritten", 40);
    fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 15000);
    ARM_CHECK(arm_engine_count(f) == 200);
    arm_repl_follower_stats st = rt_fstats(fw);
    ARM_CHECK(st.snapshots == 0);
    ARM_CHECK(RT_WAIT(2000, rt_fstats(fw).txns == 150)); /* exactly the rest, nothing twice */
    arm_buf b = {0};
    ARM_CHECK_RC(arm_repl_leader_status_json(ld, &b), ARM_OK);
    rt_check_json(&b);
    ARM_CHECK(strstr((char *)b.ptr, "from its positions") != NULL);
    arm_buf_free(&b);
    arm_repl_leader_stats ls = rt_lstats(ld);
    ARM_CHECK(ls.sessions == 2 && ls.snapshots == 0);
    /* the follower restarts (engine closed and reopened): still exact */
    arm_repl_follower_stop(fw);
    util_close_ok(f);
    for (uint64_t i = 200; i < 260; i++)
        rt_put_i(l, i, "batch3", 32);
    arm_engine_options eo;
    rt_engine_opts(&eo, 2);
    f = util_open_ok(dir_of("rc_f"), &eo);
    fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 15000);
    ARM_CHECK(RT_WAIT(2000, rt_fstats(fw).txns == 60));
    ARM_CHECK(rt_fstats(fw).snapshots == 0);
    expect_positions_at_tail(l, f);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* 64 KiB files (the smallest) and a 16 KiB write buffer: many rotations
 * while streaming. */
static void test_rotations(void) {
    arm_engine_options eo;
    rt_engine_opts(&eo, 2);
    eo.max_file_size = 64 * 1024;
    eo.max_value_size = 16 * 1024;
    eo.write_buffer_size = 16 * 1024;
    util_rmrf(dir_of("ro_l"));
    util_rmrf(dir_of("ro_f"));
    arm_engine *l = util_open_ok(dir_of("ro_l"), &eo), *f = util_open_ok(dir_of("ro_f"), &eo);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    uint64_t n = 2000 * (uint64_t)util_scale();
    for (uint64_t i = 0; i < n; i++)
        rt_put_i(l, i, "rotation_test_value", 100);
    rt_wait_equal(l, f, ld, fw, 15000);
    arm_engine_stats st;
    arm_engine_stats_get(l, &st);
    ARM_CHECK(st.files >= 5);
    char k[24];
    for (uint64_t i = 0; i < n; i += n / 3) {
        snprintf(k, sizeof k, "k%08llu", (unsigned long long)i);
        arm_buf v = {0};
        UTIL_CHECK_RC(f, arm_engine_get(f, UTIL_S(k), &v), ARM_OK);
        arm_buf_free(&v);
    }
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* Four shards, keys routed by hash, batches whose keys span shards. */
static void test_multi_shard(void) {
    arm_engine *l = open_new("ms_l", 4), *f = open_new("ms_f", 4);
    for (uint64_t i = 0; i < 200; i++)
        rt_put_i(l, i, "multi", 32);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    for (int t = 0; t < 50; t++) {
        arm_batch *b = NULL;
        UTIL_CHECK_RC(l, arm_engine_batch_new(l, &b), ARM_OK);
        for (int j = 0; j < 8; j++) {
            char k[24];
            snprintf(k, sizeof k, "b%d-%d", t, j);
            ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S(k), UTIL_S("spanning")), ARM_OK);
        }
        UTIL_CHECK_RC(l, arm_engine_batch_commit(l, b), ARM_OK);
        arm_engine_batch_free(b);
    }
    rt_wait_equal(l, f, ld, fw, 15000);
    expect_positions_at_tail(l, f);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* Written and never flushed (sync=off, a large write buffer): the leader
 * reads them out of its write buffer. test_encrypted runs this encrypted. */
static void test_unflushed(void) {
    arm_engine_options eo;
    rt_engine_opts(&eo, 2);
    eo.write_buffer_size = 1 << 20;
    util_rmrf(dir_of("uf_l"));
    util_rmrf(dir_of("uf_f"));
    arm_engine *l = util_open_ok(dir_of("uf_l"), &eo), *f = util_open_ok(dir_of("uf_f"), &eo);
    for (uint64_t i = 0; i < 100; i++)
        rt_put_i(l, i, "buffered", 32);
    /* nothing of them is in the files yet */
    util_logfile logs[8];
    int nl = util_list_logs(dir_of("uf_l"), logs, 8);
    for (int i = 0; i < nl; i++)
        ARM_CHECK(logs[i].size <= UTIL_FILE_HDR);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 15000);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* Encrypted leader and follower (each its own key): entries still in the
 * leader's write buffer, then many rotations (sealed, encrypted files read
 * by catch-up and streaming), and the follower's files hold no plaintext. */
static void test_encrypted(void) {
    static const uint8_t lkey[32] = "leader-key-0123456789abcdefghij";
    static const uint8_t fkey[32] = "follower-key-0123456789abcdefgh";
    arm_engine_options lo, fo;
    rt_engine_opts(&lo, 2);
    lo.write_buffer_size = 1 << 20;
    lo.max_file_size = 64 * 1024;
    lo.max_value_size = 16 * 1024;
    lo.encryption_key = lkey;
    fo = lo;
    fo.encryption_key = fkey;
    util_rmrf(dir_of("en_l"));
    util_rmrf(dir_of("en_f"));
    arm_engine *l = util_open_ok(dir_of("en_l"), &lo), *f = util_open_ok(dir_of("en_f"), &fo);
    for (uint64_t i = 0; i < 100; i++)
        rt_put_i(l, i, "buffered", 32);
    util_logfile logs[64];
    int nl = util_list_logs(dir_of("en_l"), logs, 64);
    for (int i = 0; i < nl; i++)
        ARM_CHECK(logs[i].size == 0); /* nothing flushed yet */
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 15000);
    for (uint64_t i = 100; i < 1500; i++)
        rt_put_i(l, i, "encrypted_rotation", 100);
    rt_wait_equal(l, f, ld, fw, 15000);
    expect_positions_at_tail(l, f);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
    nl = util_list_logs(dir_of("en_f"), logs, 64);
    ARM_CHECK(nl >= 2);
    for (int i = 0; i < nl; i++) {
        size_t len = 0;
        uint8_t *p = util_read_file(logs[i].path, &len);
        ARM_CHECK(p != NULL);
        ARM_CHECK(memmem(p, len, "encrypted_rotation", 18) == NULL);
        ARM_CHECK(memmem(p, len, "k0000", 5) == NULL);
        free(p);
    }
    f = util_open_ok(dir_of("en_f"), &fo); /* reopens with its own key */
    ARM_CHECK(arm_engine_count(f) == 1500);
    util_close_ok(f);
}

/* max_followers = 1: the second follower gets ERROR(ARM_FULL), applies
 * nothing, and keeps retrying; once the first leaves, it gets in. */
static void test_second_refused(void) {
    arm_engine *l = open_new("sr_l", 2), *f1 = open_new("sr_f1", 2), *f2 = open_new("sr_f2", 2);
    arm_repl_options o;
    rt_repl_opts(&o);
    o.max_followers = 1;
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *w1 = rt_follow(f1, arm_repl_leader_addr(ld), &o);
    ARM_CHECK(RT_WAIT(5000, rt_fstats(w1).state == ARM_REPL_STREAMING));
    arm_repl_follower *w2 = rt_follow(f2, arm_repl_leader_addr(ld), &o);
    for (uint64_t i = 0; i < 50; i++)
        rt_put_i(l, i, "v", 32);
    rt_wait_equal(l, f1, ld, w1, 10000);
    ARM_CHECK(RT_WAIT(5000, rt_fstats(w2).errors >= 2)); /* refused, and retried */
    usleep(300 * 1000);
    ARM_CHECK(arm_engine_count(f2) == 0);
    uint8_t lid[16];
    arm_log_pos p;
    uint32_t flags;
    ARM_CHECK_RC(arm_engine_repl_pos(f2, 0, lid, &p, &flags), ARM_NOTFOUND);
    arm_repl_follower_stats st = rt_fstats(w2);
    ARM_CHECK(st.last_error.rc == ARM_FULL);
    RT_CHECK_MSG(&st.last_error, "too many followers (max 1)");
    ARM_CHECK(st.sessions == 0);
    arm_repl_leader_stats ls = rt_lstats(ld);
    ARM_CHECK(ls.refused >= 1 && ls.followers == 1);
    arm_repl_follower_stop(w1);
    rt_wait_equal(l, f2, ld, w2, 10000);
    arm_repl_follower_stop(w2);
    arm_repl_leader_stop(ld);
    util_close_ok(f2);
    util_close_ok(f1);
    util_close_ok(l);
}

/* ------------------------------------------------------------- the rest */
/* Transactions and values larger than one frame (64 KiB payloads): parts. */
static void test_big(void) {
    arm_engine_options eo;
    rt_engine_opts(&eo, 2);
    eo.max_file_size = 16 << 20;
    eo.max_value_size = 1 << 20;
    util_rmrf(dir_of("bg_l"));
    util_rmrf(dir_of("bg_f"));
    arm_engine *l = util_open_ok(dir_of("bg_l"), &eo);
    arm_engine *f = util_open_ok(dir_of("bg_f"), &eo);
    arm_repl_options o;
    rt_repl_opts(&o);
    o.payload_max = 64 * 1024;
    uint8_t *big = malloc(700 * 1024);
    ARM_CHECK(big != NULL);
    util_fill(big, 700 * 1024, harness_seed, 1);
    UTIL_CHECK_RC(l, arm_engine_put(l, UTIL_S("big-before"), arm_slice_make(big, 700 * 1024)),
                  ARM_OK);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    arm_batch *b = NULL;
    UTIL_CHECK_RC(l, arm_engine_batch_new(l, &b), ARM_OK);
    for (int j = 0; j < 40; j++) {
        char k[24];
        snprintf(k, sizeof k, "part-%d", j);
        ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S(k), arm_slice_make(big + j, 60000)), ARM_OK);
    }
    UTIL_CHECK_RC(l, arm_engine_batch_commit(l, b), ARM_OK); /* 2.4 MB, one transaction */
    arm_engine_batch_free(b);
    rt_wait_equal(l, f, ld, fw, 15000);
    arm_repl_follower_stop(fw);
    /* and in a snapshot: a non-empty follower of another leader */
    util_rmrf(dir_of("bg_f2"));
    arm_engine *f2 = util_open_ok(dir_of("bg_f2"), &eo);
    UTIL_CHECK_RC(f2, arm_engine_put(f2, UTIL_S("old"), UTIL_S("gone")), ARM_OK);
    fw = rt_follow(f2, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f2, ld, fw, 15000);
    ARM_CHECK(rt_fstats(fw).snapshots_done == 1);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    free(big);
    util_close_ok(f2);
    util_close_ok(f);
    util_close_ok(l);
}

static void write_secret(const char *name, const char *text, char *path, size_t size) {
    rt_write_file(g_tmp, name, text, strlen(text), 0600, path, size);
}

/* A follower whose handshake fails applies nothing and says why. */
static void expect_refused(arm_engine *l, const arm_repl_options *lo, const arm_repl_options *fo,
                           const char *name, int rc, const char *needle) {
    arm_engine *f = open_new(name, 2);
    arm_repl_leader *ld = rt_serve(l, lo);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), fo);
    if (!RT_WAIT(5000, rt_fstats(fw).errors >= 2)) rt_dump(ld, fw);
    arm_repl_follower_stats st = rt_fstats(fw);
    if (st.last_error.rc != rc) rt_dump(ld, fw);
    ARM_CHECK_RC(st.last_error.rc, rc);
    RT_CHECK_MSG(&st.last_error, needle);
    ARM_CHECK(st.sessions == 0 && arm_engine_count(f) == 0);
    ARM_CHECK(rt_lstats(ld).sessions == 0);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
}

static void test_auth(void) {
    arm_engine *l = open_new("au_l", 2);
    for (uint64_t i = 0; i < 30; i++)
        rt_put_i(l, i, "secret-data", 32);
    char good[600], bad[600];
    write_secret("good.key", "correct horse battery staple", good, sizeof good);
    write_secret("bad.key", "incorrect horse battery staple", bad, sizeof bad);
    arm_repl_options lo, fo, none;
    rt_repl_opts(&lo);
    lo.secret_file = good;
    rt_repl_opts(&none);
    /* right secret */
    fo = lo;
    arm_engine *f = open_new("au_f", 2);
    arm_repl_leader *ld = rt_serve(l, &lo);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &fo);
    rt_wait_equal(l, f, ld, fw, 10000);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    /* wrong secret: both sides refuse; the follower's message says so */
    fo.secret_file = bad;
    expect_refused(l, &lo, &fo, "au_f2", ARM_AUTH, "authentication failed");
    /* a follower without one: the leader refuses it, and says why */
    expect_refused(l, &lo, &none, "au_f3", ARM_AUTH,
                   "the leader refused the connection: the follower has no shared secret");
    /* a follower with one, a leader without */
    expect_refused(l, &none, &lo, "au_f4", ARM_AUTH, "expects authentication");
    util_close_ok(l);
}

/* A follower of leader A, then pointed at leader B: a snapshot replaces
 * everything (A's keys are gone), positions become B's. */
static void test_other_leader(void) {
    arm_engine *a = open_new("ol_a", 2), *b = open_new("ol_b", 2), *f = open_new("ol_f", 2);
    for (uint64_t i = 0; i < 300; i++)
        rt_put_i(a, i, "from-a", 32);
    for (uint64_t i = 200; i < 500; i++)
        rt_put_i(b, i, "from-b", 40);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *la = rt_serve(a, &o), *lb = rt_serve(b, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(la), &o);
    rt_wait_equal(a, f, la, fw, 10000);
    arm_repl_follower_stop(fw);
    fw = rt_follow(f, arm_repl_leader_addr(lb), &o);
    rt_wait_equal(b, f, lb, fw, 10000);
    ARM_CHECK(RT_WAIT(2000, rt_fstats(fw).snapshots_done == 1));
    ARM_CHECK(rt_fstats(fw).snapshots == 1);
    arm_buf js = {0};
    ARM_CHECK_RC(arm_repl_leader_status_json(lb, &js), ARM_OK);
    rt_check_json(&js);
    ARM_CHECK(strstr((char *)js.ptr, "another leader") != NULL);
    /* streaming goes on after the snapshot, and positions are exact */
    for (uint64_t i = 0; i < 100; i++)
        rt_put_i(b, i, "after-snap", 32);
    rt_wait_equal(b, f, lb, fw, 10000);
    expect_positions_at_tail(b, f);
    ARM_CHECK_RC(arm_repl_follower_status_json(fw, &js), ARM_OK);
    rt_check_json(&js);
    ARM_CHECK(strstr((char *)js.ptr, "\"resync\":true") == NULL);
    arm_buf_free(&js);
    arm_repl_follower_stop(fw);
    /* back to A: a snapshot again (positions are B's) */
    fw = rt_follow(f, arm_repl_leader_addr(la), &o);
    rt_wait_equal(a, f, la, fw, 10000);
    ARM_CHECK(RT_WAIT(2000, rt_fstats(fw).snapshots_done == 1));
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(la);
    arm_repl_leader_stop(lb);
    util_close_ok(f);
    util_close_ok(b);
    util_close_ok(a);
}

/* A follower whose positions are this leader's but not in its log (as after
 * the leader lost its tail): ARM_RANGE at the leader, so a snapshot. */
static void test_position_gone(void) {
    arm_engine *l = open_new("pg_l", 2), *f = open_new("pg_f", 2);
    for (uint64_t i = 0; i < 300; i++)
        rt_put_i(l, i, "leader", 32);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 10000);
    arm_repl_follower_stop(fw);
    /* the follower "remembers" shard 1 past the end of the leader's log */
    arm_engine_stats ls;
    arm_engine_stats_get(l, &ls);
    uint32_t sh = 1;
    arm_log_pos far = {1u << 20, 1u << 30, 1, 40};
    UTIL_CHECK_RC(f, arm_engine_apply(f, NULL, ls.db_id, &sh, &far, 1, 0), ARM_OK);
    for (uint64_t i = 300; i < 350; i++)
        rt_put_i(l, i, "more", 32);
    fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 10000);
    ARM_CHECK(RT_WAIT(2000, rt_fstats(fw).snapshots_done == 1));
    arm_buf js = {0};
    ARM_CHECK_RC(arm_repl_leader_status_json(ld, &js), ARM_OK);
    rt_check_json(&js);
    ARM_CHECK(strstr((char *)js.ptr, "snapshot (shard 1: position") != NULL);
    arm_buf_free(&js);
    expect_positions_at_tail(l, f);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* A follower with keys of its own and no positions: a snapshot. */
static void test_nonempty_follower(void) {
    arm_engine *l = open_new("ne_l", 4), *f = open_new("ne_f", 4);
    for (uint64_t i = 0; i < 500; i++)
        rt_put_i(l, i, "leader", 32);
    for (uint64_t i = 400; i < 900; i++)
        rt_put_i(f, i, "stale", 48);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 10000);
    ARM_CHECK(RT_WAIT(2000, rt_fstats(fw).snapshots_done == 1));
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* A large catch-up, both ways: from the origin (an empty follower) and by a
 * snapshot (a follower with a key of its own). */
static void test_large(void) {
    uint64_t n = 20000 * (uint64_t)util_scale();
    arm_engine_options eo;
    rt_engine_opts(&eo, 4);
    eo.max_file_size = 8 << 20;
    eo.write_buffer_size = 1 << 20;
    util_rmrf(dir_of("lg_l"));
    arm_engine *l = util_open_ok(dir_of("lg_l"), &eo);
    arm_batch *b = NULL;
    UTIL_CHECK_RC(l, arm_engine_batch_new(l, &b), ARM_OK);
    for (uint64_t i = 0; i < n; i++) {
        char k[16], v[100];
        uint64_t x = i * 0x9e3779b97f4a7c15ull;
        memcpy(k, &x, 8);
        util_fill((uint8_t *)v, sizeof v, i, 7);
        ARM_CHECK_RC(arm_engine_batch_put(b, arm_slice_make(k, 8), arm_slice_make(v, sizeof v)),
                     ARM_OK);
        if (i % 1000 == 999) {
            UTIL_CHECK_RC(l, arm_engine_batch_commit(l, b), ARM_OK);
            arm_engine_batch_clear(b);
        }
    }
    UTIL_CHECK_RC(l, arm_engine_batch_commit(l, b), ARM_OK);
    arm_engine_batch_free(b);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    for (int snap = 0; snap < 2; snap++) {
        const char *name = snap ? "lg_f2" : "lg_f1";
        util_rmrf(dir_of(name));
        arm_engine *f = util_open_ok(dir_of(name), &eo);
        if (snap) UTIL_CHECK_RC(f, arm_engine_put(f, UTIL_S("own"), UTIL_S("key")), ARM_OK);
        uint64_t t0 = util_now_ms();
        arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
        rt_wait_equal(l, f, ld, fw, 60000 * util_scale());
        uint64_t ms = util_now_ms() - t0;
        fprintf(stderr, "    %llu keys caught up %s in %llu ms\n", (unsigned long long)n,
                snap ? "by a snapshot" : "from the origin", (unsigned long long)ms);
        ARM_CHECK(rt_fstats(fw).snapshots_done == (uint64_t)snap);
        arm_repl_follower_stop(fw);
        util_close_ok(f);
    }
    arm_repl_leader_stop(ld);
    util_close_ok(l);
}

/* Status reports: well-formed JSON with what they promise, in every state. */
static void test_status(void) {
    arm_engine *l = open_new("ss_l", 3), *f = open_new("ss_f", 3);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_buf b = {0};
    char v[256];
    ARM_CHECK_RC(arm_repl_leader_status_json(ld, &b), ARM_OK);
    rt_check_json(&b);
    ARM_CHECK(util_json_find((char *)b.ptr, "peers", v, sizeof v) && strcmp(v, "[]") == 0);
    ARM_CHECK(util_json_find((char *)b.ptr, "last_error", v, sizeof v) && strcmp(v, "null") == 0);
    /* a follower pointed at a port nobody listens on: errors, backoff */
    repl_listener dead;
    rt_listen(&dead);
    char addr[REPL_ADDR_TEXT_MAX];
    repl_addr_format(&dead.bound, addr, sizeof addr);
    repl_listener_close(&dead);
    arm_repl_follower *fw = rt_follow(f, addr, &o);
    ARM_CHECK(RT_WAIT(3000, rt_fstats(fw).errors >= 2));
    ARM_CHECK_RC(arm_repl_follower_status_json(fw, &b), ARM_OK);
    rt_check_json(&b);
    ARM_CHECK(util_json_find((char *)b.ptr, "leader_db_id", v, sizeof v) && strcmp(v, "null") == 0);
    ARM_CHECK(strstr((char *)b.ptr, "ARM_IOERR") != NULL);
    arm_repl_follower_stop(fw);
    /* streaming */
    for (uint64_t i = 0; i < 100; i++)
        rt_put_i(l, i, "x\"\\\x01\xff", 32);
    fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 10000);
    ARM_CHECK(RT_WAIT(3000, rt_fstats(fw).leader_last_seq > 0 && rt_fstats(fw).lag_ms == 0));
    ARM_CHECK_RC(arm_repl_leader_status_json(ld, &b), ARM_OK);
    rt_check_json(&b);
    ARM_CHECK(util_json_find((char *)b.ptr, "state", v, sizeof v) &&
              strcmp(v, "\"streaming\"") == 0);
    ARM_CHECK(util_json_find((char *)b.ptr, "followers", v, sizeof v) && strcmp(v, "1") == 0);
    ARM_CHECK(RT_WAIT(3000, arm_repl_leader_status_json(ld, &b) == ARM_OK &&
                                util_json_find((char *)b.ptr, "lag_entries", v, sizeof v) &&
                                strcmp(v, "0") == 0));
    ARM_CHECK(strstr((char *)b.ptr, "\"acked\":{\"seq\":") != NULL);
    ARM_CHECK_RC(arm_repl_follower_status_json(fw, &b), ARM_OK);
    rt_check_json(&b);
    ARM_CHECK(util_json_find((char *)b.ptr, "state", v, sizeof v) &&
              strcmp(v, "\"streaming\"") == 0);
    ARM_CHECK(util_json_find((char *)b.ptr, "txns_applied", v, sizeof v) && strcmp(v, "100") == 0);
    ARM_CHECK(strstr((char *)b.ptr, "\"resync\":false") != NULL);
    /* and the system's own JSON parser agrees (when python3 is there) */
    char jpath[600];
    rt_write_file(g_tmp, "status.json", b.ptr, b.len, 0600, jpath, sizeof jpath);
    char cmd[800];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' %s 2>/dev/null",
             jpath);
    if (access("/usr/bin/python3", X_OK) == 0) ARM_CHECK(system(cmd) == 0);
    arm_buf_free(&b);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* A stop returns promptly wherever the threads wait: a follower that never
 * reads (the leader blocked sending), a leader that is not there (the
 * follower in backoff), a session in its handshake. */
static void test_stop(void) {
    arm_engine *l = open_new("sp_l", 2);
    for (uint64_t i = 0; i < 20000; i++)
        rt_put_i(l, i, "fill-the-socket", 200);
    arm_repl_options o;
    rt_repl_opts(&o);
    o.peer_timeout_ms = 60000; /* the stop, not a timeout, must end it */
    o.heartbeat_ms = 1000;
    o.backoff_base_ms = 5000;
    o.backoff_max_ms = 10000;
    arm_repl_leader *ld = rt_serve(l, &o);
    /* a raw follower: handshake and subscribe, then never read */
    int fd;
    arm_repl_err e = {0, ""};
    repl_addr a = rt_addr(arm_repl_leader_addr(ld));
    RT_CHECK_RC(repl_connect(&a, -1, 2000, &fd, &e), &e, ARM_OK);
    repl_conn c;
    RT_CHECK_RC(repl_conn_open(&c, fd, -1, ARM_REPL_PAYLOAD_MAX, &e), &e, ARM_OK);
    repl_hs hs;
    repl_hs_cfg cfg = rt_cfg(REPL_ROLE_FOLLOWER, harness_seed, 2, NULL);
    cfg.empty = 1;
    RT_CHECK_RC(repl_conn_handshake(&c, &hs, &cfg, 2000, &e), &e, ARM_OK);
    for (uint16_t s = 0; s < 2; s++) {
        repl_subscribe sub = {0, {0, 0, 0, 0}};
        ARM_CHECK(repl_msg_subscribe_encode(&c.out, s, &sub) == ARM_OK);
    }
    RT_CHECK_RC(repl_conn_flush(&c, 2000, &e), &e, ARM_OK);
    ARM_CHECK(RT_WAIT(3000, rt_lstats(ld).followers == 1));
    usleep(300 * 1000); /* the leader fills the socket and blocks in send */
    /* a second raw connection that never says hello */
    int fd2;
    RT_CHECK_RC(repl_connect(&a, -1, 2000, &fd2, &e), &e, ARM_OK);
    /* a follower in backoff against a dead port */
    arm_engine *f = open_new("sp_f", 2);
    repl_listener dead;
    rt_listen(&dead);
    char addr[REPL_ADDR_TEXT_MAX];
    repl_addr_format(&dead.bound, addr, sizeof addr);
    repl_listener_close(&dead);
    arm_repl_follower *fw = rt_follow(f, addr, &o);
    ARM_CHECK(RT_WAIT(3000, rt_fstats(fw).state == ARM_REPL_BACKOFF));
    uint64_t t0 = util_now_ms();
    arm_repl_follower_stop(fw);
    ARM_CHECK(util_now_ms() - t0 < 1000);
    t0 = util_now_ms();
    arm_repl_leader_stop(ld);
    ARM_CHECK(util_now_ms() - t0 < 1500);
    repl_conn_close(&c);
    close(fd2);
    util_close_ok(f);
    util_close_ok(l);
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "repl_sync");
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("catch-up of more entries than one batch", test_catch_up());
    UTIL_CASE("streaming after catch-up", test_streaming());
    UTIL_CASE("reconnect: no loss, no duplicates, no snapshot", test_reconnect());
    UTIL_CASE("many file rotations while streaming", test_rotations());
    UTIL_CASE("several shards, batches across them", test_multi_shard());
    UTIL_CASE("entries still in the leader's write buffer", test_unflushed());
    UTIL_CASE("encrypted leader and follower", test_encrypted());
    UTIL_CASE("a follower past max_followers is refused and stays empty", test_second_refused());
    UTIL_CASE("transactions and values larger than a frame", test_big());
    UTIL_CASE("authentication: right, wrong, missing, one-sided", test_auth());
    UTIL_CASE("a follower of another leader gets a snapshot", test_other_leader());
    UTIL_CASE("a non-empty follower without positions gets a snapshot", test_nonempty_follower());
    UTIL_CASE("a follower whose position is not in the log gets a snapshot", test_position_gone());
    UTIL_CASE("a large catch-up, from the origin and by snapshot", test_large());
    UTIL_CASE("status reports are JSON", test_status());
    UTIL_CASE("stop returns promptly wherever threads wait", test_stop());
    return harness_done();
}
