/* SPDX-License-Identifier: MIT */
/*
 * test_repl_txn.c: transactions on a follower are the leader's, whole and
 * only published ones. Writers on the leader commit groups of keys that
 * always change together (two-phase arm_txn commits and single-phase
 * batches, keys spread over every shard); a checker reading the follower
 * through snapshots, while it streams, never sees a group half-changed.
 * Transactions prepared and then discarded never appear on the follower
 * (not in a snapshot, not in its log); a prepared one holds back what was
 * committed after it until it is published, and then both arrive; a
 * snapshot a follower needs waits while a transaction is undecided and
 * includes it once published.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "repl_test.h"

#include <stdatomic.h>

static char g_tmp[512];

#define GROUPS  40
#define MEMBERS 5

static arm_engine *open_dir(const char *name, uint32_t shards) {
    char d[600];
    snprintf(d, sizeof d, "%s/%s", g_tmp, name);
    arm_engine_options o;
    rt_engine_opts(&o, shards);
    return util_open_ok(d, &o);
}

static void member_key(char *k, size_t n, int group, int m) {
    snprintf(k, n, "g%03d-%d", group, m);
}

/* ------------------------------------------------------------- writers */
typedef struct gwriter {
    arm_engine *e;
    pthread_t th;
    _Atomic int stop;
    int two_phase; /* arm_txn_commit, else arm_engine_batch_commit */
    int group_lo;  /* its groups: [group_lo, group_lo + GROUPS / 2) */
    uint64_t seed, commits, discards;
    int poison; /* also prepare-and-discard transactions */
} gwriter;

/* One group, all members to `val` (or all deleted when val is NULL). */
static int write_group(gwriter *w, int group, const char *val) {
    char k[32];
    if (w->two_phase) {
        arm_txn *t = NULL;
        int rc = arm_txn_begin(w->e, NULL, 0, &t);
        for (int m = 0; rc == ARM_OK && m < MEMBERS; m++) {
            member_key(k, sizeof k, group, m);
            rc = val ? arm_txn_put(t, UTIL_S(k), UTIL_S(val)) : arm_txn_delete(t, UTIL_S(k));
        }
        if (rc == ARM_OK) rc = arm_txn_commit(t);
        arm_txn_free(t);
        return rc;
    }
    arm_batch *b = NULL;
    int rc = arm_engine_batch_new(w->e, &b);
    for (int m = 0; rc == ARM_OK && m < MEMBERS; m++) {
        member_key(k, sizeof k, group, m);
        rc = val ? arm_engine_batch_put(b, UTIL_S(k), UTIL_S(val))
                 : arm_engine_batch_delete(b, UTIL_S(k));
    }
    if (rc == ARM_OK) rc = arm_engine_batch_commit(w->e, b);
    arm_engine_batch_free(b);
    return rc;
}

/* Prepared, held a moment (later commits queue behind it), discarded. */
static void poison_once(gwriter *w, uint64_t i) {
    arm_txn *t = NULL;
    char k[32];
    snprintf(k, sizeof k, "poison-%llu", (unsigned long long)i);
    if (arm_txn_begin(w->e, NULL, 0, &t) != ARM_OK) abort();
    if (arm_txn_put(t, UTIL_S(k), UTIL_S("must never be seen")) != ARM_OK) abort();
    if (arm_txn_put(t, UTIL_S("g000-0"), UTIL_S("half")) != ARM_OK) abort();
    if (arm_txn_prepare(t, NULL) == ARM_OK) {
        usleep(500);
        if (arm_txn_discard(t) != ARM_OK) abort();
        w->discards++;
    }
    arm_txn_free(t);
}

static void *gwriter_main(void *arg) {
    gwriter *w = arg;
    util_rng g;
    util_rng_seed(&g, w->seed);
    for (uint64_t i = 0; !atomic_load(&w->stop); i++) {
        int group = w->group_lo + (int)util_rng_below(&g, GROUPS / 2);
        char val[48];
        snprintf(val, sizeof val, "w%d-v%llu", w->two_phase, (unsigned long long)i);
        int del = util_rng_below(&g, 8) == 0;
        int rc = write_group(w, group, del ? NULL : val);
        if (rc == ARM_OK)
            w->commits++;
        else if (ARM_RC_PRIMARY(rc) != ARM_BUSY)
            abort(); /* a conflict with the poisoner */
        if (w->poison && i % 16 == 0) poison_once(w, i);
        usleep(50);
    }
    return NULL;
}

/* ------------------------------------------------------------- checker */
typedef struct checker {
    arm_engine *f;
    pthread_t th;
    _Atomic int stop;
    uint64_t checks, groups_seen;
    char bad[256]; /* the first violation */
} checker;

/* One snapshot of the follower: every group all there with one value, or
 * all absent; no poison. */
static void check_once(checker *c) {
    arm_txn *t = NULL;
    arm_cursor *cur = NULL;
    if (arm_txn_begin(c->f, NULL, ARM_TXN_READONLY, &t) != ARM_OK) abort();
    if (arm_txn_cursor_open(t, &cur) != ARM_OK) abort();
    char vals[GROUPS][MEMBERS][48];
    memset(vals, 0, sizeof vals);
    for (int rc = arm_engine_cursor_first(cur); rc == ARM_OK; rc = arm_engine_cursor_next(cur)) {
        arm_slice k = arm_engine_cursor_key(cur), v;
        if (arm_engine_cursor_value(cur, &v) != ARM_OK) abort();
        if (k.len >= 6 && memcmp(k.ptr, "poison", 6) == 0 && c->bad[0] == 0)
            snprintf(c->bad, sizeof c->bad, "a discarded transaction's key '%.*s'", (int)k.len,
                     (const char *)k.ptr);
        int group, m;
        char tail;
        char ks[64];
        snprintf(ks, sizeof ks, "%.*s", (int)(k.len < 63 ? k.len : 63), (const char *)k.ptr);
        if (sscanf(ks, "g%3d-%d%c", &group, &m, &tail) != 2 || group < 0 || group >= GROUPS ||
            m < 0 || m >= MEMBERS)
            continue;
        snprintf(vals[group][m], 48, "%.*s", (int)(v.len < 47 ? v.len : 47), (const char *)v.ptr);
        if (strcmp(vals[group][m], "half") == 0 && c->bad[0] == 0)
            snprintf(c->bad, sizeof c->bad, "a discarded transaction's value in %s", ks);
    }
    for (int gi = 0; gi < GROUPS && c->bad[0] == 0; gi++) {
        for (int m = 1; m < MEMBERS; m++)
            if (strcmp(vals[gi][m], vals[gi][0]) != 0) {
                snprintf(c->bad, sizeof c->bad,
                         "group %d half-changed: member 0 is '%.47s', member %d is '%.47s'", gi,
                         vals[gi][0], m, vals[gi][m]);
                break;
            }
        if (vals[gi][0][0]) c->groups_seen++;
    }
    arm_engine_cursor_close(cur);
    arm_txn_free(t);
    c->checks++;
}

static void *checker_main(void *arg) {
    checker *c = arg;
    while (!atomic_load(&c->stop) && c->bad[0] == 0)
        check_once(c);
    return NULL;
}

static void expect_clean(const checker *c) {
    if (c->bad[0]) {
        fprintf(stderr, "%s: the follower showed %s (seed %llu)\n", harness_case, c->bad,
                (unsigned long long)harness_seed);
        exit(1);
    }
}

/* No operation in the follower's own log touches a poison key. */
static void expect_no_poison_in_log(arm_engine *f) {
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(f, arm_log_reader_open(f, NULL, &r), ARM_OK);
    arm_log_txn t;
    int rc;
    while ((rc = arm_log_reader_next(r, &t)) == ARM_OK)
        for (size_t i = 0; i < t.nops; i++)
            ARM_CHECK(!(t.ops[i].key.len >= 6 && memcmp(t.ops[i].key.ptr, "poison", 6) == 0));
    UTIL_CHECK_RC(f, rc, ARM_NOTFOUND);
    arm_log_reader_close(r);
}

/* ----------------------------------------------------------------- tests */
static void test_whole(void) {
    arm_engine *l = open_dir("wh_l", 4), *f = open_dir("wh_f", 4);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    gwriter w[2];
    for (int i = 0; i < 2; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].e = l;
        w[i].two_phase = i;
        w[i].group_lo = i * (GROUPS / 2);
        w[i].seed = harness_seed + (uint64_t)i;
        w[i].poison = i == 1;
        ARM_CHECK(pthread_create(&w[i].th, NULL, gwriter_main, &w[i]) == 0);
    }
    checker c;
    memset(&c, 0, sizeof c);
    c.f = f;
    ARM_CHECK(pthread_create(&c.th, NULL, checker_main, &c) == 0);
    usleep(1500 * 1000);
    for (int i = 0; i < 2; i++)
        atomic_store(&w[i].stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(w[i].th, NULL);
    rt_wait_equal(l, f, ld, fw, 10000 * RT_TIME_FACTOR);
    atomic_store(&c.stop, 1);
    pthread_join(c.th, NULL);
    expect_clean(&c);
    check_once(&c);
    expect_clean(&c);
    if (getenv("ARM_TEST_VERBOSE"))
        fprintf(stderr, "    %llu + %llu commits, %llu discarded, %llu snapshots checked\n",
                (unsigned long long)w[0].commits, (unsigned long long)w[1].commits,
                (unsigned long long)w[1].discards, (unsigned long long)c.checks);
    ARM_CHECK(w[0].commits > 100 && w[1].commits > 100 && w[1].discards > 5);
    ARM_CHECK(c.checks >= 10 && c.groups_seen > 0);
    arm_repl_follower_stop(fw);
    expect_no_poison_in_log(f);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* A prepared transaction holds back what was committed after it; published,
 * both arrive (in order: the later one's value wins where they overlap). */
static void test_prepared_holds(void) {
    arm_engine *l = open_dir("ph_l", 2), *f = open_dir("ph_f", 2);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    UTIL_CHECK_RC(l, arm_engine_put(l, UTIL_S("before"), UTIL_S("1")), ARM_OK);
    rt_wait_equal(l, f, ld, fw, 5000);
    arm_txn *p = NULL;
    UTIL_CHECK_RC(l, arm_txn_begin(l, NULL, 0, &p), ARM_OK);
    ARM_CHECK_RC(arm_txn_put(p, UTIL_S("held"), UTIL_S("prepared first")), ARM_OK);
    ARM_CHECK_RC(arm_txn_put(p, UTIL_S("shared"), UTIL_S("from the prepared one")), ARM_OK);
    UTIL_CHECK_RC(l, arm_txn_prepare(p, NULL), ARM_OK);
    UTIL_CHECK_RC(l, arm_engine_put(l, UTIL_S("after"), UTIL_S("2")), ARM_OK);
    usleep(300 * 1000);
    util_expect_missing(f, "after", 5);
    util_expect_missing(f, "held", 4);
    UTIL_CHECK_RC(l, arm_txn_publish(&p, 1), ARM_OK);
    arm_txn_free(p);
    UTIL_CHECK_RC(l, arm_engine_put(l, UTIL_S("shared"), UTIL_S("from the later one")), ARM_OK);
    rt_wait_equal(l, f, ld, fw, 5000);
    util_expect(f, "shared", 6, "from the later one", 18);
    /* discarded: the stream goes on without it */
    UTIL_CHECK_RC(l, arm_txn_begin(l, NULL, 0, &p), ARM_OK);
    ARM_CHECK_RC(arm_txn_put(p, UTIL_S("poison-x"), UTIL_S("no")), ARM_OK);
    UTIL_CHECK_RC(l, arm_txn_prepare(p, NULL), ARM_OK);
    UTIL_CHECK_RC(l, arm_engine_put(l, UTIL_S("after2"), UTIL_S("3")), ARM_OK);
    usleep(100 * 1000);
    util_expect_missing(f, "after2", 6);
    ARM_CHECK_RC(arm_txn_discard(p), ARM_OK);
    arm_txn_free(p);
    rt_wait_equal(l, f, ld, fw, 5000);
    util_expect_missing(f, "poison-x", 8);
    arm_repl_follower_stop(fw);
    expect_no_poison_in_log(f);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* A snapshot needs a cut, and a cut waits while a transaction is prepared
 * and undecided: the follower is copied once it is published, with it. */
static void test_snapshot_waits(void) {
    arm_engine *l = open_dir("sw_l", 2), *f = open_dir("sw_f", 2);
    for (uint64_t i = 0; i < 200; i++)
        rt_put_i(l, i, "leader", 32);
    UTIL_CHECK_RC(f, arm_engine_put(f, UTIL_S("own"), UTIL_S("key")), ARM_OK); /* needs one */
    arm_txn *p = NULL;
    UTIL_CHECK_RC(l, arm_txn_begin(l, NULL, 0, &p), ARM_OK);
    ARM_CHECK_RC(arm_txn_put(p, UTIL_S("undecided"), UTIL_S("for now")), ARM_OK);
    UTIL_CHECK_RC(l, arm_txn_prepare(p, NULL), ARM_OK);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    arm_buf js = {0};
    char v[64];
    ARM_CHECK(RT_WAIT(3000, arm_repl_leader_status_json(ld, &js) == ARM_OK &&
                                util_json_find((char *)js.ptr, "state", v, sizeof v) &&
                                strcmp(v, "\"snapshot\"") == 0));
    usleep(300 * 1000);
    ARM_CHECK(rt_fstats(fw).snapshots == 0); /* no SNAP_BEGIN before the cut */
    util_expect(f, "own", 3, "key", 3);
    UTIL_CHECK_RC(l, arm_txn_publish(&p, 1), ARM_OK);
    arm_txn_free(p);
    rt_wait_equal(l, f, ld, fw, 10000);
    util_expect(f, "undecided", 9, "for now", 7);
    ARM_CHECK(rt_fstats(fw).snapshots_done == 1);
    arm_buf_free(&js);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "repl_txn");
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("a follower never shows half of a transaction, nor a discarded one", test_whole());
    UTIL_CASE("a prepared transaction holds back later ones until published",
              test_prepared_holds());
    UTIL_CASE("a snapshot waits for an undecided transaction", test_snapshot_waits());
    return harness_done();
}
