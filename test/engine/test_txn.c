/* SPDX-License-Identifier: MIT */
/*
 * test_txn.c: transactions (arm_txn_*): snapshot reads, own writes, every
 * kind of conflict (lost update, blind write-write, phantom in a scanned
 * range, absence of a looked-up key, a delete after the snapshot), keys held
 * by a prepared transaction, discard after prepare (and that recovery then
 * does not apply it), prepared transactions left by a crash (applied by
 * default; in doubt with an external decision, held, then resolved),
 * publishing transactions of two engines at once against a reader that must
 * never see half, version-store cleanup, and threads doing transfers while a
 * checker sums the balances through snapshots.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../engine/engine_int.h"
#include "../../common/arm_alloc.h"
#include "../util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_tmp[512];
static char g_db[600], g_db2[600];

static const char *fresh(const char *tag) {
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, tag);
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    snprintf(g_db2, sizeof g_db2, "%s/db2", g_tmp);
    return g_db;
}

static void opts4(arm_engine_options *o) {
    arm_engine_options_init(o);
    o->shard_count = 4;
}

static arm_txn *begin(arm_engine *e) {
    arm_txn *t = NULL;
    UTIL_CHECK_RC(e, arm_txn_begin(e, NULL, 0, &t), ARM_OK);
    ARM_CHECK(t != NULL);
    return t;
}

static void tput(arm_txn *t, const char *k, const char *v) {
    ARM_CHECK_RC(arm_txn_put(t, UTIL_S(k), UTIL_S(v)), ARM_OK);
}

/* A transaction read: value v, or NULL for "absent". */
static void tget(arm_txn *t, const char *k, const char *v) {
    arm_buf b = {0};
    int rc = arm_txn_get(t, UTIL_S(k), &b);
    if (v == NULL) {
        ARM_CHECK_RC(rc, ARM_NOTFOUND);
    } else {
        ARM_CHECK_RC(rc, ARM_OK);
        ARM_CHECK(b.len == strlen(v) && memcmp(b.ptr, v, b.len) == 0);
    }
    arm_buf_free(&b);
}

static void commit_ok(arm_engine *e, arm_txn *t) {
    UTIL_CHECK_RC(e, arm_txn_commit(t), ARM_OK);
    arm_txn_free(t);
}

static void put1(arm_engine *e, const char *k, const char *v) {
    util_put_ok(e, k, strlen(k), v, strlen(v));
}

/* ------------------------------------------------------------- basics */
static void test_own_writes_and_snapshot(void) {
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(fresh("txn1"), &o);
    put1(e, "a", "1");
    put1(e, "b", "1");
    arm_txn *t = begin(e);
    tput(t, "a", "2");
    ARM_CHECK_RC(arm_txn_delete(t, UTIL_S("b")), ARM_OK);
    tput(t, "c", "new");
    tget(t, "a", "2");
    tget(t, "b", NULL);
    tget(t, "c", "new");
    ARM_CHECK(arm_txn_write_count(t) == 3);
    util_expect(e, "a", 1, "1", 1); /* nothing visible before commit */
    util_expect_missing(e, "c", 1);
    /* a reader's snapshot taken now keeps seeing this moment after the commit */
    arm_txn *r = begin(e);
    commit_ok(e, t);
    util_expect(e, "a", 1, "2", 1);
    util_expect_missing(e, "b", 1);
    tget(r, "a", "1");
    tget(r, "b", "1");
    tget(r, "c", NULL);
    arm_cursor *c = NULL;
    ARM_CHECK_RC(arm_txn_cursor_open(r, &c), ARM_OK);
    int n = 0;
    for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
        arm_slice k = arm_engine_cursor_key(c), v;
        ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
        ARM_CHECK(v.len == 1 && v.ptr[0] == '1');
        ARM_CHECK(k.len == 1 && (k.ptr[0] == 'a' || k.ptr[0] == 'b'));
        n++;
    }
    ARM_CHECK(n == 2);
    arm_engine_cursor_close(c);
    ARM_CHECK_RC(arm_txn_commit(r), ARM_OK); /* read-only: nothing to conflict with */
    arm_txn_free(r);
    ARM_CHECK(arm_engine_count(e) == 2);
    util_close_ok(e);
}

/* ---------------------------------------------------------- conflicts */
/* Run: t reads/writes per `setup`, then another writer commits `other`,
 * then t writes "zz": prepare must give want. */
enum { C_READ, C_BLIND, C_SCAN, C_ABSENT, C_DELETE, C_DISJOINT };

static void conflict_case(int kind) {
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(fresh("txnc"), &o);
    put1(e, "k", "0");
    put1(e, "m1", "0");
    put1(e, "m3", "0");
    arm_txn *t = begin(e);
    arm_cursor *c = NULL;
    switch (kind) {
    case C_READ: tget(t, "k", "0"); break;
    case C_BLIND: tput(t, "k", "t"); break;
    case C_SCAN:
        ARM_CHECK_RC(arm_txn_cursor_open(t, &c), ARM_OK);
        ARM_CHECK_RC(arm_engine_cursor_bounds(c, UTIL_S("m"), 1, UTIL_S("n"), 0), ARM_OK);
        for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
        }
        arm_engine_cursor_close(c);
        break;
    case C_ABSENT: tget(t, "x", NULL); break;
    case C_DELETE: tget(t, "k", "0"); break;
    case C_DISJOINT: tget(t, "k", "0"); break;
    }
    switch (kind) {
    case C_SCAN: put1(e, "m2", "new"); break; /* a phantom inside the scanned range */
    case C_ABSENT: put1(e, "x", "made"); break;
    case C_DELETE: UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("k")), ARM_OK); break;
    case C_DISJOINT: put1(e, "other", "1"); break;
    default: put1(e, "k", "other"); break;
    }
    tput(t, "zz", "1");
    int want = kind == C_DISJOINT ? ARM_OK : ARM_BUSY_SNAPSHOT;
    UTIL_CHECK_RC(e, arm_txn_prepare(t, NULL), want);
    if (want == ARM_OK) {
        ARM_CHECK_RC(arm_txn_publish(&t, 1), ARM_OK);
        util_expect(e, "zz", 2, "1", 1);
    } else {
        util_expect_missing(e, "zz", 2); /* nothing written */
        ARM_CHECK_RC(arm_txn_discard(t), ARM_OK);
    }
    arm_txn_free(t);
    /* the range the scan passed over stops at its bounds: a key beyond them
     * is no conflict */
    if (kind == C_SCAN) {
        t = begin(e);
        ARM_CHECK_RC(arm_txn_cursor_open(t, &c), ARM_OK);
        ARM_CHECK_RC(arm_engine_cursor_bounds(c, UTIL_S("m"), 1, UTIL_S("n"), 0), ARM_OK);
        for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
        }
        arm_engine_cursor_close(c);
        put1(e, "n5", "outside");
        tput(t, "zz", "2");
        commit_ok(e, t);
    }
    util_close_ok(e);
}

/* ------------------------------------------------------------ intents */
static void test_prepared_holds_keys(void) {
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(fresh("txnh"), &o);
    put1(e, "k", "old");
    arm_txn *t = begin(e);
    tput(t, "k", "new");
    tput(t, "fresh", "x");
    UTIL_CHECK_RC(e, arm_txn_prepare(t, NULL), ARM_OK);
    ARM_CHECK(arm_txn_id(t) != 0);
    ARM_CHECK_RC(arm_txn_prepare(t, NULL), ARM_OK); /* again: a no-op */
    /* invisible, and held */
    util_expect(e, "k", 1, "old", 3);
    util_expect_missing(e, "fresh", 5);
    ARM_CHECK(arm_engine_count(e) == 1);
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("k"), UTIL_S("x")), ARM_BUSY);
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("fresh"), UTIL_S("x")), ARM_BUSY);
    arm_txn *u = begin(e);
    tput(u, "k", "u");
    ARM_CHECK_RC(arm_txn_prepare(u, NULL), ARM_BUSY_SNAPSHOT);
    arm_txn_free(u);
    ARM_CHECK_RC(arm_txn_publish(&t, 1), ARM_OK);
    arm_txn_free(t);
    util_expect(e, "k", 1, "new", 3);
    util_expect(e, "fresh", 5, "x", 1);
    ARM_CHECK(arm_engine_count(e) == 2);
    put1(e, "k", "after"); /* released */
    util_close_ok(e);
}

/* A write after prepare (as after a failed SQL COMMIT) un-prepares, and the
 * next prepare commits exactly what the transaction holds. */
/* T1 read k and wrote x, and is prepared (its commit point is behind it)
 * but not yet published. A writer of k now would come after T1, yet be
 * visible before it: a reader could see the new k without T1's x. So while
 * T1 is prepared, writing k is ARM_BUSY (a transaction's prepare, a
 * single-phase put, a delete of a key T1 found absent), and works again
 * once T1 is published. A range T1 scanned counts the same. */
static void test_prepared_reads_hold_writers(void) {
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(fresh("txnr"), &o);
    put1(e, "k", "1");
    put1(e, "r2", "in range");
    for (int kind = 0; kind < 3; kind++) {
        arm_txn *t1 = begin(e);
        const char *rk = kind == 2 ? "r5" : "k"; /* kind 2: a key inside a range T1 scanned */
        if (kind == 2) {
            arm_cursor *c = NULL;
            ARM_CHECK_RC(arm_txn_cursor_open(t1, &c), ARM_OK);
            ARM_CHECK_RC(arm_engine_cursor_bounds(c, UTIL_S("r"), 1, UTIL_S("s"), 0), ARM_OK);
            ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_OK);
            ARM_CHECK_RC(arm_engine_cursor_next(c), ARM_NOTFOUND); /* r2 was all of [r, s) */
            arm_engine_cursor_close(c);
        } else {
            tget(t1, "k", "1");
        }
        if (kind == 1) ARM_CHECK_RC(arm_txn_delete(t1, UTIL_S("absent")), ARM_OK);
        tput(t1, "x", "from t1");
        UTIL_CHECK_RC(e, arm_txn_prepare(t1, NULL), ARM_OK);
        /* a transaction writing what t1 read */
        arm_txn *t2 = begin(e);
        tput(t2, rk, "from t2");
        ARM_CHECK_RC(arm_txn_prepare(t2, NULL), ARM_BUSY);
        ARM_CHECK(strstr(arm_engine_errmsg(e), "read by a transaction") != NULL);
        /* single-phase writes of it too */
        ARM_CHECK_RC(arm_engine_put(e, UTIL_S(rk), UTIL_S("put")), ARM_BUSY);
        if (kind == 1) ARM_CHECK_RC(arm_engine_put(e, UTIL_S("absent"), UTIL_S("now")), ARM_BUSY);
        /* other keys are free */
        put1(e, "elsewhere", "ok");
        UTIL_CHECK_RC(e, arm_txn_publish(&t1, 1), ARM_OK);
        arm_txn_free(t1);
        UTIL_CHECK_RC(e, arm_txn_prepare(t2, NULL), ARM_OK);
        UTIL_CHECK_RC(e, arm_txn_publish(&t2, 1), ARM_OK);
        arm_txn_free(t2);
        util_expect(e, rk, strlen(rk), "from t2", 7);
        util_expect(e, "x", 1, "from t1", 7);
        UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S(rk)), ARM_OK); /* back as it was */
        put1(e, "k", "1");
    }
    /* discarded, the reader lets go too */
    arm_txn *t1 = begin(e);
    tget(t1, "k", "1");
    tput(t1, "x", "y");
    UTIL_CHECK_RC(e, arm_txn_prepare(t1, NULL), ARM_OK);
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("k"), UTIL_S("2")), ARM_BUSY);
    ARM_CHECK_RC(arm_txn_discard(t1), ARM_OK);
    arm_txn_free(t1);
    put1(e, "k", "2");
    util_close_ok(e);
}

/* A transaction made new again (arm_txn_reset, as the SQL layer reuses
 * them) starts with nothing read: what it read before it was published does
 * not make its next life conflict (nor grow without bound). */
static void test_reset_forgets_reads(void) {
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(fresh("txnz"), &o);
    put1(e, "a", "1");
    arm_txn *t = begin(e);
    for (int round = 0; round < 3; round++) {
        tget(t, "a", round == 0 ? "1" : round == 1 ? "2" : "3");
        tput(t, "mine", "x");
        UTIL_CHECK_RC(e, arm_txn_commit(t), ARM_OK);
        ARM_CHECK_RC(arm_txn_reset(t, NULL, 0), ARM_OK);
        char v[4];
        snprintf(v, sizeof v, "%d", round + 2);
        put1(e, "a", v); /* after the new life's snapshot: only the old life read it */
        tput(t, "mine", "y"); /* the new life reads nothing */
        UTIL_CHECK_RC(e, arm_txn_commit(t), ARM_OK);
        ARM_CHECK_RC(arm_txn_reset(t, NULL, 0), ARM_OK);
    }
    arm_txn_free(t);
    util_close_ok(e);
}

static void test_write_after_prepare(void) {
    arm_engine_options o;
    opts4(&o);
    const char *dir = fresh("txnw");
    arm_engine *e = util_open_ok(dir, &o);
    arm_txn *t = begin(e);
    tput(t, "a", "1");
    UTIL_CHECK_RC(e, arm_txn_prepare(t, NULL), ARM_OK);
    tput(t, "b", "2"); /* un-prepares */
    size_t mark = arm_txn_mark(t);
    tput(t, "c", "3");
    ARM_CHECK_RC(arm_txn_rollback_to(t, mark), ARM_OK);
    UTIL_CHECK_RC(e, arm_txn_prepare(t, NULL), ARM_OK);
    ARM_CHECK_RC(arm_txn_publish(&t, 1), ARM_OK);
    arm_txn_free(t);
    util_close_ok(e);
    e = util_open_ok(dir, &o); /* the aborted first prepare stays aborted */
    util_expect(e, "a", 1, "1", 1);
    util_expect(e, "b", 1, "2", 1);
    util_expect_missing(e, "c", 1);
    ARM_CHECK(arm_engine_count(e) == 2);
    util_close_ok(e);
}

static void test_discard_after_prepare(void) {
    arm_engine_options o;
    opts4(&o);
    const char *dir = fresh("txnd");
    arm_engine *e = util_open_ok(dir, &o);
    put1(e, "k", "keep");
    put1(e, "gone", "1");
    arm_txn *t = begin(e);
    tput(t, "k", "discarded");
    ARM_CHECK_RC(arm_txn_delete(t, UTIL_S("gone")), ARM_OK);
    tput(t, "new", "discarded");
    UTIL_CHECK_RC(e, arm_txn_prepare(t, NULL), ARM_OK);
    ARM_CHECK_RC(arm_txn_discard(t), ARM_OK);
    arm_txn_free(t);
    put1(e, "k", "later"); /* released */
    util_close_ok(e);
    /* recovery saw the batch and its abort: k is what came after it, the
     * delete and the insert never happened */
    e = util_open_ok(dir, &o);
    util_expect(e, "k", 1, "later", 5);
    util_expect(e, "gone", 4, "1", 1);
    util_expect_missing(e, "new", 3);
    ARM_CHECK(arm_engine_count(e) == 2);
    /* an abort with nothing after it: the keys fall back to before the batch */
    t = begin(e);
    tput(t, "k", "discarded2");
    tput(t, "new", "discarded2");
    UTIL_CHECK_RC(e, arm_txn_prepare(t, NULL), ARM_OK);
    ARM_CHECK_RC(arm_txn_discard(t), ARM_OK);
    arm_txn_free(t);
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    util_expect(e, "k", 1, "later", 5);
    util_expect_missing(e, "new", 3);
    util_close_ok(e);
}

/* ------------------------------------------------------ crash while prepared */
/* A child prepares and dies without publishing or discarding. */
static void crash_prepared(const char *dir, const arm_engine_options *o, const arm_txn_ext *ext) {
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        arm_engine *e = NULL;
        if (arm_engine_open(dir, o, &e) != ARM_OK) _exit(2);
        arm_txn *t = NULL;
        if (arm_txn_begin(e, NULL, 0, &t) != ARM_OK) _exit(3);
        if (arm_txn_put(t, UTIL_S("p1"), UTIL_S("prepared")) != ARM_OK) _exit(4);
        if (arm_txn_put(t, UTIL_S("p2"), UTIL_S("prepared")) != ARM_OK) _exit(4);
        if (arm_txn_delete(t, UTIL_S("base")) != ARM_OK) _exit(4);
        if (arm_txn_prepare(t, ext) != ARM_OK) _exit(5);
        _exit(0); /* the process dies: no publish, no discard, no close */
    }
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    ARM_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_crash_prepared(void) {
    arm_engine_options o;
    opts4(&o);
    o.sync_mode = ARM_SYNC_FULL;
    const char *dir = fresh("txnx");
    arm_engine *e = util_open_ok(dir, &o);
    put1(e, "base", "1");
    util_close_ok(e);
    /* decided by its prepare: applied */
    crash_prepared(dir, &o, NULL);
    e = util_open_ok(dir, &o);
    util_expect(e, "p1", 2, "prepared", 8);
    util_expect(e, "p2", 2, "prepared", 8);
    util_expect_missing(e, "base", 4);
    arm_indoubt *list = NULL;
    size_t n = 9;
    ARM_CHECK_RC(arm_engine_indoubt_list(e, &list, &n), ARM_OK);
    ARM_CHECK(n == 0 && list == NULL);
    put1(e, "base", "2");
    UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("p1")), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("p2")), ARM_OK);
    util_close_ok(e);

    /* decided elsewhere: in doubt until resolved, keys held */
    arm_txn_ext ext;
    memset(&ext, 0, sizeof ext);
    memcpy(ext.owner, "owner-of-this-tx", 16);
    for (int commit = 0; commit < 2; commit++) {
        crash_prepared(dir, &o, &ext);
        e = util_open_ok(dir, &o);
        ARM_CHECK_RC(arm_engine_indoubt_list(e, &list, &n), ARM_OK);
        ARM_CHECK(n == 1);
        ARM_CHECK(memcmp(list[0].owner, ext.owner, 16) == 0 && list[0].nkeys == 3);
        uint64_t id = list[0].id;
        arm_free(list);
        util_expect_missing(e, "p1", 2);
        util_expect(e, "base", 4, "2", 1);
        ARM_CHECK_RC(arm_engine_put(e, UTIL_S("p1"), UTIL_S("x")), ARM_BUSY);
        ARM_CHECK_RC(arm_engine_put(e, UTIL_S("base"), UTIL_S("x")), ARM_BUSY);
        /* still in doubt after another reopen */
        util_close_ok(e);
        e = util_open_ok(dir, &o);
        ARM_CHECK_RC(arm_engine_indoubt_list(e, &list, &n), ARM_OK);
        ARM_CHECK(n == 1 && list[0].id == id);
        arm_free(list);
        ARM_CHECK_RC(arm_engine_indoubt_resolve(e, id + 12345, commit), ARM_NOTFOUND);
        UTIL_CHECK_RC(e, arm_engine_indoubt_resolve(e, id, commit), ARM_OK);
        ARM_CHECK_RC(arm_engine_indoubt_list(e, &list, &n), ARM_OK);
        ARM_CHECK(n == 0);
        for (int round = 0; round < 2; round++) { /* resolved, and so after reopen */
            if (commit) {
                util_expect(e, "p1", 2, "prepared", 8);
                util_expect_missing(e, "base", 4);
            } else {
                util_expect_missing(e, "p1", 2);
                util_expect(e, "base", 4, "2", 1);
            }
            util_close_ok(e);
            e = util_open_ok(dir, &o);
        }
        put1(e, "base", "2");
        if (commit) {
            UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("p1")), ARM_OK);
            UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("p2")), ARM_OK);
        }
        util_close_ok(e);
    }
}

/* ------------------------------------------- two engines, one publish */
typedef struct two_ctx {
    arm_engine *a, *b;
    int rounds;
    _Atomic int stop;
    _Atomic int bad;
} two_ctx;

static void *two_reader(void *p) {
    two_ctx *x = p;
    arm_domain *d = arm_engine_domain(x->a);
    while (!atomic_load(&x->stop)) {
        arm_snapshot snap;
        if (arm_snapshot_take(d, &snap) != ARM_OK) continue;
        arm_txn *ta = NULL, *tb = NULL;
        if (arm_txn_begin(x->a, &snap, ARM_TXN_READONLY, &ta) == ARM_OK &&
            arm_txn_begin(x->b, &snap, ARM_TXN_READONLY, &tb) == ARM_OK) {
            arm_buf va = {0}, vb = {0};
            int ra = arm_txn_get(ta, UTIL_S("n"), &va);
            int rb = arm_txn_get(tb, UTIL_S("n"), &vb);
            if (ra != rb || (ra == ARM_OK && (va.len != vb.len || memcmp(va.ptr, vb.ptr, va.len))))
                atomic_store(&x->bad, 1);
            arm_buf_free(&va);
            arm_buf_free(&vb);
        }
        arm_txn_free(ta);
        arm_txn_free(tb);
        arm_snapshot_drop(&snap);
    }
    return NULL;
}

static void test_two_engines_one_publish(void) {
    arm_domain *d = NULL;
    ARM_CHECK_RC(arm_domain_new(&d), ARM_OK);
    arm_engine_options o;
    opts4(&o);
    o.domain = d;
    fresh("txn2");
    two_ctx x;
    memset(&x, 0, sizeof x);
    x.a = util_open_ok(g_db, &o);
    o.shard_count = 2;
    x.b = util_open_ok(g_db2, &o);
    arm_domain_free(d); /* the engines hold it */
    x.rounds = 300 * util_scale();
    pthread_t th;
    ARM_CHECK(pthread_create(&th, NULL, two_reader, &x) == 0);
    for (int i = 0; i < x.rounds; i++) {
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        arm_txn *t[2];
        t[0] = begin(x.a);
        t[1] = begin(x.b);
        tput(t[0], "n", v);
        tput(t[1], "n", v);
        tput(t[0], v, "x"); /* spread over shards too */
        UTIL_CHECK_RC(x.a, arm_txn_prepare(t[0], NULL), ARM_OK);
        UTIL_CHECK_RC(x.b, arm_txn_prepare(t[1], NULL), ARM_OK);
        ARM_CHECK_RC(arm_txn_publish(t, 2), ARM_OK);
        arm_txn_free(t[0]);
        arm_txn_free(t[1]);
    }
    atomic_store(&x.stop, 1);
    pthread_join(th, NULL);
    ARM_CHECK(!atomic_load(&x.bad));
    /* two of one engine, or a txn not prepared: refused */
    arm_txn *t[2] = {begin(x.a), begin(x.a)};
    ARM_CHECK_RC(arm_txn_publish(t, 2), ARM_MISUSE);
    arm_txn_free(t[0]);
    arm_txn_free(t[1]);
    util_close_ok(x.a);
    util_close_ok(x.b);
}

/* Write skew across two engines: t reads A.x and writes B.y, u reads B.y and
 * writes A.x. Prepared as groups (every write held before any read is
 * validated), at most one of them commits, whatever the interleaving. */
static void test_cross_engine_skew(void) {
    arm_domain *d = NULL;
    ARM_CHECK_RC(arm_domain_new(&d), ARM_OK);
    arm_engine_options o;
    opts4(&o);
    o.domain = d;
    fresh("txnk");
    arm_engine *a = util_open_ok(g_db, &o), *b = util_open_ok(g_db2, &o);
    arm_domain_free(d);
    for (int order = 0; order < 3; order++) {
        put1(a, "x", "0");
        put1(b, "y", "0");
        arm_snapshot st, su;
        ARM_CHECK_RC(arm_snapshot_take(arm_engine_domain(a), &st), ARM_OK);
        ARM_CHECK_RC(arm_snapshot_take(arm_engine_domain(a), &su), ARM_OK);
        arm_txn *ta, *tb, *ua, *ub;
        ARM_CHECK_RC(arm_txn_begin(a, &st, 0, &ta), ARM_OK);
        ARM_CHECK_RC(arm_txn_begin(b, &st, 0, &tb), ARM_OK);
        ARM_CHECK_RC(arm_txn_begin(a, &su, 0, &ua), ARM_OK);
        ARM_CHECK_RC(arm_txn_begin(b, &su, 0, &ub), ARM_OK);
        tget(ta, "x", "0"); /* t: reads x, writes y */
        tput(tb, "y", "t");
        tget(ub, "y", "0"); /* u: reads y, writes x */
        tput(ua, "x", "u");
        arm_txn *tg[2] = {ta, tb}, *ug[2] = {ua, ub};
        int rt, ru;
        if (order == 0) { /* t prepared, not published, when u prepares */
            rt = arm_txn_prepare_group(tg, 2, NULL);
            ru = arm_txn_prepare_group(ug, 2, NULL);
        } else if (order == 1) { /* t published first */
            rt = arm_txn_prepare_group(tg, 2, NULL);
            if (rt == ARM_OK) ARM_CHECK_RC(arm_txn_publish(&tb, 1), ARM_OK);
            ru = arm_txn_prepare_group(ug, 2, NULL);
        } else { /* u first */
            ru = arm_txn_prepare_group(ug, 2, NULL);
            rt = arm_txn_prepare_group(tg, 2, NULL);
        }
        /* the loser is told to retry from the start (a conflict), or, while
         * the winner is prepared and has read what it writes, to wait */
        ARM_CHECK(rt == ARM_OK || rt == ARM_BUSY_SNAPSHOT || rt == ARM_BUSY);
        ARM_CHECK(ru == ARM_OK || ru == ARM_BUSY_SNAPSHOT || ru == ARM_BUSY);
        ARM_CHECK(!(rt == ARM_OK && ru == ARM_OK));
        ARM_CHECK(rt == ARM_OK || ru == ARM_OK); /* one of them wins */
        if (rt == ARM_OK && order != 1) ARM_CHECK_RC(arm_txn_publish(&tb, 1), ARM_OK);
        if (ru == ARM_OK) ARM_CHECK_RC(arm_txn_publish(&ua, 1), ARM_OK);
        arm_txn_free(ta);
        arm_txn_free(tb);
        arm_txn_free(ua);
        arm_txn_free(ub);
        arm_snapshot_drop(&st);
        arm_snapshot_drop(&su);
        arm_buf vx = {0}, vy = {0};
        ARM_CHECK_RC(arm_engine_get(a, UTIL_S("x"), &vx), ARM_OK);
        ARM_CHECK_RC(arm_engine_get(b, UTIL_S("y"), &vy), ARM_OK);
        /* exactly one of the writes happened */
        ARM_CHECK((vx.len == 1 && vx.ptr[0] == 'u') != (vy.len == 1 && vy.ptr[0] == 't'));
        arm_buf_free(&vx);
        arm_buf_free(&vy);
    }
    util_close_ok(a);
    util_close_ok(b);
}

/* ---------------------------------------------------- version store */
static void test_versions_pruned(void) {
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(fresh("txnv"), &o);
    for (int i = 0; i < 100; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%02d", i);
        put1(e, k, "0");
    }
    arm_txn *r = begin(e); /* holds a snapshot: everything changed is kept */
    for (int round = 1; round <= 3; round++)
        for (int i = 0; i < 100; i++) {
            char k[8], v[8];
            snprintf(k, sizeof k, "k%02d", i);
            snprintf(v, sizeof v, "%d", round);
            if (i % 10 == 0)
                UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S(k)), round == 1 ? ARM_OK : ARM_NOTFOUND);
            else
                put1(e, k, v);
        }
    ARM_CHECK(arm_engine_count(e) == 90);
    uint64_t kept = 0;
    for (uint32_t i = 0; i < e->shard_count; i++) kept += e->shards[i].vs.n;
    ARM_CHECK(kept == 100);
    for (int i = 0; i < 100; i++) { /* the snapshot still reads round 0 */
        char k[8];
        snprintf(k, sizeof k, "k%02d", i);
        tget(r, k, "0");
    }
    arm_txn_free(r);
    put1(e, "k01", "x"); /* any write prunes its shard */
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.keys == 90);
    for (uint32_t i = 0; i < e->shard_count; i++) {
        arm_index_wrlock(&e->shards[i].index_lock);
        arm_vs_gc(e, &e->shards[i], 1);
        ARM_CHECK(e->shards[i].vs.n == 0);
        ARM_CHECK(e->shards[i].ndead == 0);
        ARM_CHECK(arm_index_count(e->shards[i].index) == arm_index_count(e->shards[i].index));
        pthread_rwlock_unlock(&e->shards[i].index_lock);
    }
    uint64_t items = 0;
    for (uint32_t i = 0; i < e->shard_count; i++) items += arm_index_count(e->shards[i].index);
    ARM_CHECK(items == 90); /* the deleted keys' DEAD items left the index */
    util_close_ok(e);
}

/* An idle snapshot stops protecting versions after its time: its holder's
 * next use fails instead of reading what was reclaimed. */
static void test_idle_snapshot_expires(void) {
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(fresh("txni"), &o);
    e->dom->idle_ms = 50;
    put1(e, "k", "0");
    arm_snapshot snap, busy;
    ARM_CHECK_RC(arm_snapshot_take(arm_engine_domain(e), &snap), ARM_OK);
    ARM_CHECK_RC(arm_snapshot_take(arm_engine_domain(e), &busy), ARM_OK);
    arm_txn *t = NULL, *b = NULL;
    ARM_CHECK_RC(arm_txn_begin(e, &snap, ARM_TXN_READONLY, &t), ARM_OK);
    ARM_CHECK_RC(arm_txn_begin(e, &busy, ARM_TXN_READONLY, &b), ARM_OK);
    tget(t, "k", "0");
    arm_snapshot_idle(&snap);
    arm_snapshot_idle(&busy);
    ARM_CHECK_RC(arm_snapshot_resume(&busy), ARM_OK); /* resumed in time: kept */
    usleep(120 * 1000);
    for (int i = 1; i <= 600; i++) { /* enough installs for a prune */
        char v[16];
        snprintf(v, sizeof v, "%d", i);
        put1(e, "k", v);
    }
    tget(b, "k", "0"); /* the busy one still reads its moment */
    ARM_CHECK_RC(arm_snapshot_resume(&snap), ARM_BUSY_SNAPSHOT);
    ARM_CHECK_RC(arm_snapshot_resume(&snap), ARM_BUSY_SNAPSHOT);
    arm_txn_free(t);
    arm_txn_free(b);
    arm_snapshot_drop(&snap);
    arm_snapshot_drop(&busy);
    ARM_CHECK(atomic_load(&e->dom->nsnap) == 0);
    util_close_ok(e);
}

/* ----------------------------------------------------- transfers */
#define NACCT 16
#define START 1000

typedef struct xfer_ctx {
    arm_engine *e;
    int per_thread;
    _Atomic int stop;
    _Atomic int bad;
    _Atomic uint64_t retries, sums;
} xfer_ctx;

static int acct_get(arm_txn *t, int i, long *v) {
    char k[8];
    snprintf(k, sizeof k, "acct%02d", i);
    arm_buf b = {0};
    int rc = arm_txn_get(t, UTIL_S(k), &b);
    if (rc == ARM_OK) {
        char tmp[32];
        size_t n = b.len < sizeof tmp - 1 ? b.len : sizeof tmp - 1;
        memcpy(tmp, b.ptr, n);
        tmp[n] = 0;
        *v = strtol(tmp, NULL, 10);
    }
    arm_buf_free(&b);
    return rc;
}

static int acct_put(arm_txn *t, int i, long v) {
    char k[8], s[32];
    snprintf(k, sizeof k, "acct%02d", i);
    snprintf(s, sizeof s, "%ld", v);
    return arm_txn_put(t, UTIL_S(k), UTIL_S(s));
}

static void *xfer_worker(void *p) {
    xfer_ctx *x = p;
    util_rng r;
    util_rng_seed(&r, harness_seed ^ (uint64_t)(uintptr_t)&r);
    for (int done = 0; done < x->per_thread;) {
        int a = (int)util_rng_below(&r, NACCT), b = (int)util_rng_below(&r, NACCT);
        if (a == b) continue;
        long amt = (long)util_rng_below(&r, 50), va = 0, vb = 0;
        arm_txn *t = NULL;
        if (arm_txn_begin(x->e, NULL, 0, &t) != ARM_OK) {
            atomic_store(&x->bad, 1);
            return NULL;
        }
        int rc = acct_get(t, a, &va);
        if (rc == ARM_OK) rc = acct_get(t, b, &vb);
        if (rc == ARM_OK) rc = acct_put(t, a, va - amt);
        if (rc == ARM_OK) rc = acct_put(t, b, vb + amt);
        if (rc == ARM_OK) rc = arm_txn_commit(t);
        arm_txn_free(t);
        if (rc == ARM_BUSY_SNAPSHOT || rc == ARM_BUSY) { /* conflict; or wait for a committer */
            atomic_fetch_add(&x->retries, 1);
            continue;
        }
        if (rc != ARM_OK) {
            atomic_store(&x->bad, 2);
            return NULL;
        }
        done++;
    }
    return NULL;
}

static void *xfer_checker(void *p) {
    xfer_ctx *x = p;
    while (!atomic_load(&x->stop)) {
        arm_txn *t = NULL;
        if (arm_txn_begin(x->e, NULL, ARM_TXN_READONLY, &t) != ARM_OK) continue;
        long sum = 0, v;
        arm_cursor *c = NULL;
        if (arm_txn_cursor_open(t, &c) == ARM_OK) { /* a scan: one moment however long */
            for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
                arm_slice val;
                if (arm_engine_cursor_value(c, &val) != ARM_OK) break;
                char tmp[32];
                size_t n = val.len < sizeof tmp - 1 ? val.len : sizeof tmp - 1;
                memcpy(tmp, val.ptr, n);
                tmp[n] = 0;
                sum += strtol(tmp, NULL, 10);
            }
            arm_engine_cursor_close(c);
            if (sum != (long)NACCT * START) atomic_store(&x->bad, 3);
        }
        sum = 0; /* and point reads */
        for (int i = 0; i < NACCT; i++)
            if (acct_get(t, i, &v) == ARM_OK) sum += v;
        if (sum != (long)NACCT * START) atomic_store(&x->bad, 4);
        atomic_fetch_add(&x->sums, 1);
        arm_txn_free(t);
    }
    return NULL;
}

static void test_transfers(void) {
    arm_engine_options o;
    opts4(&o);
    arm_engine *e = util_open_ok(fresh("txnt"), &o);
    for (int i = 0; i < NACCT; i++) {
        char k[8], v[16];
        snprintf(k, sizeof k, "acct%02d", i);
        snprintf(v, sizeof v, "%d", START);
        put1(e, k, v);
    }
    xfer_ctx x;
    memset(&x, 0, sizeof x);
    x.e = e;
    x.per_thread = 1500 * util_scale();
    pthread_t w[3], c;
    ARM_CHECK(pthread_create(&c, NULL, xfer_checker, &x) == 0);
    for (int i = 0; i < 3; i++) ARM_CHECK(pthread_create(&w[i], NULL, xfer_worker, &x) == 0);
    for (int i = 0; i < 3; i++) pthread_join(w[i], NULL);
    atomic_store(&x.stop, 1);
    pthread_join(c, NULL);
    if (atomic_load(&x.bad)) fprintf(stderr, "transfers: failure kind %d\n", atomic_load(&x.bad));
    ARM_CHECK(atomic_load(&x.bad) == 0);
    ARM_CHECK(atomic_load(&x.sums) > 0);
    arm_txn *t = begin(e);
    long sum = 0, v;
    for (int i = 0; i < NACCT; i++) {
        ARM_CHECK_RC(acct_get(t, i, &v), ARM_OK);
        sum += v;
    }
    arm_txn_free(t);
    ARM_CHECK(sum == (long)NACCT * START);
    fprintf(stderr, "  transfers: %d commits, %llu retries, %llu consistent sums\n",
            3 * x.per_thread, (unsigned long long)atomic_load(&x.retries),
            (unsigned long long)atomic_load(&x.sums));
    util_close_ok(e);
}

/* An engine opened into a domain after a snapshot was taken (one SQL
 * transaction reading one armdb table, then touching another not open yet):
 * its recovered versions carry stamps above that snapshot, and must still be
 * visible to it, also to validation; what it commits after the open is not. */
static void test_engine_opened_after_snapshot(void) {
    arm_engine_options o;
    opts4(&o);
    fresh("txno");
    arm_engine *a = util_open_ok(g_db, &o);
    put1(a, "a", "1");
    util_close_ok(a);
    arm_engine *b = util_open_ok(g_db2, &o); /* its stamps: above a's */
    for (int i = 0; i < 20; i++)
        put1(b, "k", i % 2 ? "odd" : "even");
    put1(b, "j", "2");
    util_close_ok(b);

    arm_domain *d = NULL;
    ARM_CHECK_RC(arm_domain_new(&d), ARM_OK);
    o.domain = d;
    a = util_open_ok(g_db, &o);
    arm_snapshot st;
    ARM_CHECK_RC(arm_snapshot_take(d, &st), ARM_OK);
    arm_txn *ta, *tb;
    ARM_CHECK_RC(arm_txn_begin(a, &st, 0, &ta), ARM_OK);
    tget(ta, "a", "1");
    b = util_open_ok(g_db2, &o);
    arm_domain_free(d);
    put1(b, "n", "after the open");
    arm_txn *tc;
    ARM_CHECK_RC(arm_txn_begin(b, &st, ARM_TXN_READONLY, &tc), ARM_OK);
    tget(tc, "k", "odd");
    tget(tc, "n", NULL);
    arm_txn_free(tc);
    ARM_CHECK_RC(arm_txn_begin(b, &st, 0, &tb), ARM_OK);
    tget(tb, "k", "odd");
    tget(tb, "j", "2");
    tput(tb, "k", "written"); /* read, then written: no conflict */
    commit_ok(b, tb);
    arm_txn_free(ta);
    arm_snapshot_drop(&st);
    arm_buf v = {0};
    ARM_CHECK_RC(arm_engine_get(b, UTIL_S("k"), &v), ARM_OK);
    ARM_CHECK(v.len == 7 && memcmp(v.ptr, "written", 7) == 0);
    arm_buf_free(&v);
    util_close_ok(a);
    util_close_ok(b);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("own writes, snapshot reads", test_own_writes_and_snapshot());
    UTIL_CASE("conflict: lost update", conflict_case(C_READ));
    UTIL_CASE("conflict: blind write-write", conflict_case(C_BLIND));
    UTIL_CASE("conflict: phantom in a scanned range", conflict_case(C_SCAN));
    UTIL_CASE("conflict: a looked-up absent key made", conflict_case(C_ABSENT));
    UTIL_CASE("conflict: a read key deleted", conflict_case(C_DELETE));
    UTIL_CASE("no conflict: disjoint keys", conflict_case(C_DISJOINT));
    UTIL_CASE("prepared transaction holds its keys", test_prepared_holds_keys());
    UTIL_CASE("prepared readers hold off writers of what they read",
              test_prepared_reads_hold_writers());
    UTIL_CASE("a reset transaction starts with nothing read", test_reset_forgets_reads());
    UTIL_CASE("write after prepare un-prepares", test_write_after_prepare());
    UTIL_CASE("discard after prepare is never recovered", test_discard_after_prepare());
    UTIL_CASE("crash while prepared: applied / in doubt", test_crash_prepared());
    UTIL_CASE("two engines published at once", test_two_engines_one_publish());
    UTIL_CASE("write skew across two engines is refused", test_cross_engine_skew());
    UTIL_CASE("an engine opened after the snapshot shows what it recovered",
              test_engine_opened_after_snapshot());
    UTIL_CASE("versions kept for a snapshot, then pruned", test_versions_pruned());
    UTIL_CASE("an idle snapshot expires", test_idle_snapshot_expires());
    UTIL_CASE("transfers keep the total", test_transfers());
    return harness_done();
}
