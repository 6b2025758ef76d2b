/* SPDX-License-Identifier: MIT */
/*
 * test_sql_transfers.c: two database files sharing one armdb directory,
 * threads moving money between accounts. Files A (WAL) and B (rollback
 * journal, the sqlite3 shell's default) each declare the same armdb table
 * `acct` over one dir=, and each has a native table `log`. Worker threads,
 * each with its own connection to A or B, run transfers in BEGIN..COMMIT:
 * a read-modify-write (in the application from two SELECTs, or in SQL with
 * bal = bal + ?), sometimes a savepoint rolled back inside it, sometimes a
 * row in the native log (so the commit records its decision in SQLite), and
 * retry the whole transaction on SQLITE_BUSY and SQLITE_BUSY_SNAPSHOT (a
 * COMMIT refused with plain SQLITE_BUSY, under a reader of B, is sometimes
 * retried as it is). A checker thread per file repeatedly sums all balances
 * in one statement, and in a read transaction of several statements (two
 * halves, then every account by key, with other commits landing between
 * them): the total never changes. At the end the total is exact, every
 * account holds its start plus exactly the acknowledged transfers (no lost
 * update, nothing from a refused COMMIT), each file's log holds exactly its
 * acknowledged logged transfers, and integrity_check and armdb_check pass.
 *
 * ARM_TEST_SEED seeds the threads' choices (the interleaving is the
 * scheduler's); ARM_TEST_SCALE multiplies the transfers.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"
#include "sql_util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TR_ACCOUNTS 24
#define TR_START 1000
#define TR_WORKERS 4            /* half on each file */
#define TR_PER_WORKER 300
#define TR_RETRIES_MAX 100000   /* per transfer: a livelock fails the test */

static char g_tmp[512];
static char g_file[2][600];     /* A.db, B.db */

typedef struct tr_done {
    uint8_t src, dst, logged;
    int32_t amt;
} tr_done;

typedef struct tr_shared {
    _Atomic int stop;
    _Atomic int failed;
    pthread_mutex_t mu;
    char why[512];               /* the first failure */
    _Atomic unsigned long busy[2], busy_snapshot[2], commit_retried[2]; /* per file */
    _Atomic unsigned long sums_one, sums_multi, checker_busy;
} tr_shared;

static tr_shared g_sh = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A thread saw something wrong: keep the first message, stop everyone. */
static void tr_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tr_fail(const char *fmt, ...) {
    pthread_mutex_lock(&g_sh.mu);
    if (!atomic_load(&g_sh.failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g_sh.why, sizeof g_sh.why, fmt, ap);
        va_end(ap);
        atomic_store(&g_sh.failed, 1);
    }
    pthread_mutex_unlock(&g_sh.mu);
    atomic_store(&g_sh.stop, 1);
}

/* ------------------------------------------------------------ workers */
typedef struct tr_worker {
    int file;                    /* 0: A, 1: B */
    uint64_t seed;
    sqlite3 *db;
    sqlite3_stmt *get, *set, *add, *log;
    tr_done *done;               /* acknowledged transfers */
    int ndone;
} tr_worker;

static int tr_step(sqlite3 *db, sqlite3_stmt *st, int64_t *out) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out) *out = sqlite3_column_int64(st, 0);
    if (rc == SQLITE_ROW) rc = sqlite3_step(st);
    rc = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(db);
    sqlite3_reset(st);
    return rc;
}

static int tr_bind2(sqlite3_stmt *st, int64_t a, int64_t b) {
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    return 0;
}

/* One transfer, BEGIN to COMMIT. SQLITE_OK when it committed. */
static int tr_transfer(tr_worker *w, util_rng *r, const tr_done *t) {
    sqlite3 *db = w->db;
    int rc = sqlu_exec(db, util_rng_below(r, 4) == 0 ? "BEGIN IMMEDIATE" : "BEGIN");
    if (rc != SQLITE_OK) return rc;
    if (util_rng_below(r, 2)) { /* read-modify-write in the application */
        int64_t bs = 0, bd = 0;
        sqlite3_bind_int64(w->get, 1, t->src);
        if ((rc = tr_step(db, w->get, &bs)) != SQLITE_OK) return rc;
        sqlite3_bind_int64(w->get, 1, t->dst);
        if ((rc = tr_step(db, w->get, &bd)) != SQLITE_OK) return rc;
        tr_bind2(w->set, bs - t->amt, t->src);
        if ((rc = tr_step(db, w->set, NULL)) != SQLITE_OK) return rc;
        tr_bind2(w->set, bd + t->amt, t->dst);
        if ((rc = tr_step(db, w->set, NULL)) != SQLITE_OK) return rc;
    } else { /* in SQL */
        tr_bind2(w->add, -t->amt, t->src);
        if ((rc = tr_step(db, w->add, NULL)) != SQLITE_OK) return rc;
        tr_bind2(w->add, t->amt, t->dst);
        if ((rc = tr_step(db, w->add, NULL)) != SQLITE_OK) return rc;
    }
    if (util_rng_below(r, 5) == 0) { /* a change undone by ROLLBACK TO */
        if ((rc = sqlu_exec(db, "SAVEPOINT s")) != SQLITE_OK) return rc;
        tr_bind2(w->add, 1000000, t->src);
        if ((rc = tr_step(db, w->add, NULL)) != SQLITE_OK) return rc;
        if ((rc = sqlu_exec(db, "ROLLBACK TO s; RELEASE s")) != SQLITE_OK) return rc;
    }
    if (t->logged) {
        sqlite3_bind_int64(w->log, 1, t->src);
        sqlite3_bind_int64(w->log, 2, t->dst);
        sqlite3_bind_int64(w->log, 3, t->amt);
        if ((rc = tr_step(db, w->log, NULL)) != SQLITE_OK) return rc;
    }
    rc = sqlu_exec(db, "COMMIT");
    /* refused under a reader (rollback journal): nothing was published; the
     * same COMMIT may be tried again */
    for (int i = 0; i < 3 && rc == SQLITE_BUSY && !sqlite3_get_autocommit(db) &&
                    util_rng_below(r, 2);
         i++) {
        usleep(200 + (useconds_t)util_rng_below(r, 800));
        rc = sqlu_exec(db, "COMMIT");
        if (rc == SQLITE_OK) atomic_fetch_add(&g_sh.commit_retried[w->file], 1);
    }
    return rc;
}

static void *tr_worker_main(void *arg) {
    tr_worker *w = arg;
    util_rng r;
    util_rng_seed(&r, w->seed);
    int target = TR_PER_WORKER * util_scale();
    for (int done = 0; done < target && !atomic_load(&g_sh.stop);) {
        tr_done t;
        memset(&t, 0, sizeof t);
        t.src = (uint8_t)(1 + util_rng_below(&r, TR_ACCOUNTS));
        t.dst = (uint8_t)(1 + util_rng_below(&r, TR_ACCOUNTS - 1));
        if (t.dst >= t.src) t.dst++;
        t.amt = 1 + (int32_t)util_rng_below(&r, 50);
        t.logged = util_rng_below(&r, 3) == 0;
        int rc = SQLITE_BUSY;
        for (int tries = 0; rc != SQLITE_OK; tries++) {
            if (tries == TR_RETRIES_MAX || atomic_load(&g_sh.stop)) {
                if (tries == TR_RETRIES_MAX) tr_fail("a transfer retried %d times", tries);
                return NULL;
            }
            rc = tr_transfer(w, &r, &t);
            if (rc == SQLITE_OK) break;
            if (!sqlite3_get_autocommit(w->db)) (void)sqlu_exec(w->db, "ROLLBACK");
            if (!sqlu_is_busy(rc)) {
                tr_fail("worker on %s: %s (rc %d)", w->file ? "B" : "A", sqlite3_errmsg(w->db),
                        rc);
                return NULL;
            }
            atomic_fetch_add(rc == SQLITE_BUSY_SNAPSHOT ? &g_sh.busy_snapshot[w->file]
                                                        : &g_sh.busy[w->file], 1);
            if (util_rng_below(&r, 2)) usleep((useconds_t)util_rng_below(&r, 300));
        }
        w->done[w->ndone++] = t;
        done++;
    }
    return NULL;
}

/* ------------------------------------------------------------ checkers */
typedef struct tr_checker {
    int file;
    uint64_t seed;
    sqlite3 *db;   /* opened before the threads start (see test_open_race) */
    /* Prepared before the threads start too: preparing reads the schema,
     * which under the workers' locks can fail with SQLITE_BUSY. */
    sqlite3_stmt *one, *lo, *hi, *pt;
} tr_checker;

/* Step a read statement to its first row's first column. */
static int tr_read(sqlite3 *db, sqlite3_stmt *st, int64_t *v) {
    int rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    if (rc == SQLITE_ROW) rc = SQLITE_OK;
    else rc = sqlite3_extended_errcode(db);
    sqlite3_reset(st);
    return rc;
}

static void tr_total(const tr_checker *k, const char *how, int64_t got) {
    tr_fail("checker on %s: %s saw %lld, not the total %d", k->file ? "B" : "A", how,
            (long long)got, TR_ACCOUNTS * TR_START);
}

static void *tr_checker_main(void *arg) {
    tr_checker *k = arg;
    util_rng r;
    util_rng_seed(&r, k->seed);
    sqlite3 *db = k->db;
    const int64_t total = (int64_t)TR_ACCOUNTS * TR_START;
    sqlite3_stmt *one = k->one, *lo = k->lo, *hi = k->hi, *pt = k->pt;
    while (!atomic_load(&g_sh.stop)) {
        int64_t v = 0, a = 0, b = 0, p = 0;
        int rc = tr_read(db, one, &v); /* one statement */
        if (rc == SQLITE_OK) {
            if (v != total) tr_total(k, "one statement", v);
            atomic_fetch_add(&g_sh.sums_one, 1);
        } else if (!sqlu_is_busy(rc)) {
            tr_fail("checker: %s (rc %d)", sqlite3_errmsg(db), rc);
        } else {
            atomic_fetch_add(&g_sh.checker_busy, 1);
        }
        /* a read transaction of several statements: one snapshot throughout */
        rc = sqlu_exec(db, "BEGIN");
        if (rc == SQLITE_OK) rc = tr_read(db, lo, &a);
        if (rc == SQLITE_OK && util_rng_below(&r, 2)) usleep((useconds_t)util_rng_below(&r, 2000));
        if (rc == SQLITE_OK) rc = tr_read(db, hi, &b);
        for (int i = 1; i <= TR_ACCOUNTS && rc == SQLITE_OK; i++) {
            int64_t x;
            sqlite3_bind_int(pt, 1, i);
            rc = tr_read(db, pt, &x);
            p += x;
        }
        if (rc == SQLITE_OK) rc = sqlu_exec(db, "COMMIT");
        if (rc == SQLITE_OK) {
            if (a + b != total) tr_total(k, "two statements in one transaction", a + b);
            if (p != total) tr_total(k, "reads by key in one transaction", p);
            atomic_fetch_add(&g_sh.sums_multi, 1);
        } else if (!sqlu_is_busy(rc)) {
            tr_fail("checker: %s (rc %d)", sqlite3_errmsg(db), rc);
        } else {
            atomic_fetch_add(&g_sh.checker_busy, 1);
        }
        if (!sqlite3_get_autocommit(db)) (void)sqlu_exec(db, "ROLLBACK");
        usleep((useconds_t)util_rng_below(&r, 500));
    }
    return NULL;
}

/* ------------------------------------------------------------ the test */
static void tr_setup(void) {
    char shared[600];
    snprintf(shared, sizeof shared, "%s/shared", g_tmp);
    for (int f = 0; f < 2; f++) {
        snprintf(g_file[f], sizeof g_file[f], "%s/%s.db", g_tmp, f ? "B" : "A");
        sqlite3 *db = sqlu_open_ok(g_file[f]);
        SQLU_OK(db, sqlu_exec(db, f ? "PRAGMA journal_mode=DELETE" : "PRAGMA journal_mode=WAL"));
        SQLU_OK(db, sqlu_execf(db, "CREATE VIRTUAL TABLE acct USING armdb(id INTEGER PRIMARY KEY, "
                               "bal INTEGER, dir=%Q, shards=4, shared=1)", shared));
        SQLU_OK(db, sqlu_exec(db, "CREATE TABLE log(seq INTEGER PRIMARY KEY, src INTEGER, "
                              "dst INTEGER, amt INTEGER)"));
        if (f == 0)
            SQLU_OK(db, sqlu_execf(db, "WITH RECURSIVE c(i) AS (VALUES(1) UNION ALL SELECT i + 1 "
                                   "FROM c WHERE i < %d) INSERT INTO acct SELECT i, %d FROM c",
                                   TR_ACCOUNTS, TR_START));
        sqlu_close_ok(db);
    }
}

static int tr_cmp(const void *a, const void *b) {
    const tr_done *x = a, *y = b;
    if (x->src != y->src) return x->src - y->src;
    if (x->dst != y->dst) return x->dst - y->dst;
    return x->amt < y->amt ? -1 : x->amt > y->amt;
}

/* The file's log holds exactly the logged transfers its workers acknowledged. */
static void tr_check_log(sqlite3 *db, int file, tr_worker *w) {
    size_t n = 0, cap = 0;
    for (int i = 0; i < TR_WORKERS; i++) cap += (size_t)w[i].ndone;
    tr_done *want = calloc(cap + 1, sizeof *want), *got = calloc(cap + 1, sizeof *got);
    ARM_CHECK(want != NULL && got != NULL);
    for (int i = 0; i < TR_WORKERS; i++)
        for (int j = 0; j < w[i].ndone; j++)
            if (w[i].file == file && w[i].done[j].logged) want[n++] = w[i].done[j];
    sqlite3_stmt *st = sqlu_prepare_ok(db, "SELECT src, dst, amt FROM log");
    size_t m = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        ARM_CHECK(m < cap);
        got[m].src = (uint8_t)sqlite3_column_int(st, 0);
        got[m].dst = (uint8_t)sqlite3_column_int(st, 1);
        got[m].amt = sqlite3_column_int(st, 2);
        got[m].logged = 1;
        m++;
    }
    sqlite3_finalize(st);
    qsort(want, n, sizeof *want, tr_cmp);
    qsort(got, m, sizeof *got, tr_cmp);
    size_t same = 0; /* field by field: the struct has padding */
    while (same < n && same < m && tr_cmp(&want[same], &got[same]) == 0) same++;
    if (m != n || same != n)
        fprintf(stderr, "file %s: log has %zu rows, %zu logged transfers were acknowledged; "
                "they agree on the first %zu (sorted)\n", file ? "B" : "A", m, n, same);
    ARM_CHECK(m == n && same == n);
    free(want);
    free(got);
}

static void test_transfers(void) {
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "sqlxfer");
    tr_setup();
    tr_worker w[TR_WORKERS];
    pthread_t wt[TR_WORKERS], ct[2];
    tr_checker ck[2];
    memset(w, 0, sizeof w);
    uint64_t t0 = util_now_ms();
    for (int i = 0; i < TR_WORKERS; i++) {
        w[i].file = i % 2;
        w[i].seed = harness_seed * 31 + (uint64_t)i;
        w[i].done = calloc((size_t)(TR_PER_WORKER * util_scale()), sizeof(tr_done));
        ARM_CHECK(w[i].done != NULL);
        w[i].db = sqlu_open_ok(g_file[w[i].file]);
        /* some wait for locks a little, some get SQLITE_BUSY at once */
        sqlite3_busy_timeout(w[i].db, i < 2 ? 20 : 0);
        w[i].get = sqlu_prepare_ok(w[i].db, "SELECT bal FROM acct WHERE id = ?1");
        w[i].set = sqlu_prepare_ok(w[i].db, "UPDATE acct SET bal = ?1 WHERE id = ?2");
        w[i].add = sqlu_prepare_ok(w[i].db, "UPDATE acct SET bal = bal + ?1 WHERE id = ?2");
        w[i].log = sqlu_prepare_ok(w[i].db, "INSERT INTO log(src, dst, amt) VALUES (?1, ?2, ?3)");
    }
    for (int f = 0; f < 2; f++) {
        ck[f].file = f;
        ck[f].seed = harness_seed * 17 + (uint64_t)f;
        ck[f].db = sqlu_open_ok(g_file[f]);
        sqlite3_busy_timeout(ck[f].db, 10);
        /* the sum, pushed far off by a missing or extra row */
        char *sql = sqlite3_mprintf("SELECT sum(bal) + 1000000000 * (count(*) - %d) FROM acct",
                                    TR_ACCOUNTS);
        ck[f].one = sqlu_prepare_ok(ck[f].db, sql);
        sqlite3_free(sql);
        ck[f].lo = sqlu_prepare_ok(ck[f].db, "SELECT sum(bal) FROM acct WHERE id <= 12"); /* halves */
        ck[f].hi = sqlu_prepare_ok(ck[f].db, "SELECT sum(bal) FROM acct WHERE id > 12");
        ck[f].pt = sqlu_prepare_ok(ck[f].db, "SELECT bal FROM acct WHERE id = ?");
    }
    for (int f = 0; f < 2; f++)
        ARM_CHECK(pthread_create(&ct[f], NULL, tr_checker_main, &ck[f]) == 0);
    for (int i = 0; i < TR_WORKERS; i++)
        ARM_CHECK(pthread_create(&wt[i], NULL, tr_worker_main, &w[i]) == 0);
    for (int i = 0; i < TR_WORKERS; i++) pthread_join(wt[i], NULL);
    atomic_store(&g_sh.stop, 1);
    for (int f = 0; f < 2; f++) {
        pthread_join(ct[f], NULL);
        sqlite3_finalize(ck[f].one);
        sqlite3_finalize(ck[f].lo);
        sqlite3_finalize(ck[f].hi);
        sqlite3_finalize(ck[f].pt);
        sqlu_close_ok(ck[f].db);
    }
    if (atomic_load(&g_sh.failed)) fprintf(stderr, "%s\n", g_sh.why);
    ARM_CHECK(!atomic_load(&g_sh.failed));
    for (int i = 0; i < TR_WORKERS; i++) {
        sqlite3_finalize(w[i].get);
        sqlite3_finalize(w[i].set);
        sqlite3_finalize(w[i].add);
        sqlite3_finalize(w[i].log);
        sqlu_close_ok(w[i].db);
    }
    double secs = (double)(util_now_ms() - t0) / 1000.0;

    /* every account: its start plus exactly the acknowledged transfers */
    int64_t want[TR_ACCOUNTS + 1];
    unsigned long commits[2] = {0, 0}, logged[2] = {0, 0};
    for (int a = 1; a <= TR_ACCOUNTS; a++) want[a] = TR_START;
    for (int i = 0; i < TR_WORKERS; i++)
        for (int j = 0; j < w[i].ndone; j++) {
            want[w[i].done[j].src] -= w[i].done[j].amt;
            want[w[i].done[j].dst] += w[i].done[j].amt;
            commits[w[i].file]++;
            logged[w[i].file] += w[i].done[j].logged;
        }
    for (int f = 0; f < 2; f++) {
        sqlite3 *db = sqlu_open_ok(g_file[f]);
        int64_t total = 0;
        SQLU_OK(db, sqlu_int64(db, "SELECT sum(bal) FROM acct", &total));
        ARM_CHECK(total == (int64_t)TR_ACCOUNTS * TR_START);
        sqlite3_stmt *st = sqlu_prepare_ok(db, "SELECT id, bal FROM acct ORDER BY id");
        int n = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            int id = sqlite3_column_int(st, 0);
            int64_t bal = sqlite3_column_int64(st, 1);
            ARM_CHECK(id >= 1 && id <= TR_ACCOUNTS);
            if (bal != want[id])
                fprintf(stderr, "file %s: account %d holds %lld, the acknowledged transfers make "
                        "%lld\n", f ? "B" : "A", id, (long long)bal, (long long)want[id]);
            ARM_CHECK(bal == want[id]);
            n++;
        }
        sqlite3_finalize(st);
        ARM_CHECK(n == TR_ACCOUNTS);
        tr_check_log(db, f, w);
        char msg[4096];
        int ok = sqlu_integrity_ok(db, msg, sizeof msg);
        if (!ok) fprintf(stderr, "integrity_check: %s\n", msg);
        ARM_CHECK(ok);
        ok = sqlu_armdb_check_ok(db, "acct", msg, sizeof msg);
        if (!ok) fprintf(stderr, "armdb_check: %s\n", msg);
        ARM_CHECK(ok);
        sqlu_close_ok(db);
    }
    for (int f = 0; f < 2; f++)
        fprintf(stderr, "  transfers on %s (%s): %lu commits (%lu with a native log row, %lu after "
                "retrying a refused COMMIT); retried %lu times on SQLITE_BUSY, %lu on "
                "SQLITE_BUSY_SNAPSHOT\n", f ? "B" : "A", f ? "rollback journal" : "WAL",
                commits[f], logged[f], atomic_load(&g_sh.commit_retried[f]),
                atomic_load(&g_sh.busy[f]), atomic_load(&g_sh.busy_snapshot[f]));
    fprintf(stderr, "  checkers: %lu sums in one statement, %lu in read transactions, %lu "
            "retried on SQLITE_BUSY; %d workers, %.1f s\n", atomic_load(&g_sh.sums_one),
            atomic_load(&g_sh.sums_multi), atomic_load(&g_sh.checker_busy), TR_WORKERS, secs);
    ARM_CHECK(atomic_load(&g_sh.sums_one) > 0 && atomic_load(&g_sh.sums_multi) > 0);
    for (int i = 0; i < TR_WORKERS; i++) free(w[i].done);
}

/* ------------------------------------------------------------ open race */
/* Connections opened while other threads run statements on armdb tables.
 * Every connection's sqlite3_armdb_init hands the extension SQLite's routine
 * table, while other threads call SQLite through it: the extension stores
 * it once, under a lock, and never again, so ThreadSanitizer sees no race
 * (it reported one when every init stored it). The transfer test above opens
 * every connection before its threads start; this case opens them while
 * others run. */
static void *tr_opener_main(void *arg) {
    (void)arg;
    for (int i = 0; i < 40 && !atomic_load(&g_sh.stop); i++) {
        sqlite3 *db = NULL;
        int64_t v = 0;
        int rc = sqlu_open(g_file[i % 2], &db);
        if (rc == SQLITE_OK) rc = sqlu_int64(db, "SELECT count(*) FROM acct", &v);
        if (rc != SQLITE_OK && !sqlu_is_busy(rc)) tr_fail("opener: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
    }
    return NULL;
}

static void *tr_reader_main(void *arg) {
    sqlite3 *db = arg;
    while (!atomic_load(&g_sh.stop)) {
        int64_t v = 0;
        int rc = sqlu_int64(db, "SELECT sum(bal) FROM acct", &v);
        if (rc == SQLITE_OK && v != (int64_t)TR_ACCOUNTS * TR_START)
            tr_fail("reader saw %lld", (long long)v);
    }
    return NULL;
}

static void test_open_race(void) {
    atomic_store(&g_sh.stop, 0);
    sqlite3 *db[2] = {sqlu_open_ok(g_file[0]), sqlu_open_ok(g_file[1])};
    pthread_t rd[2], op;
    for (int i = 0; i < 2; i++) ARM_CHECK(pthread_create(&rd[i], NULL, tr_reader_main, db[i]) == 0);
    ARM_CHECK(pthread_create(&op, NULL, tr_opener_main, NULL) == 0);
    pthread_join(op, NULL);
    atomic_store(&g_sh.stop, 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(rd[i], NULL);
        sqlu_close_ok(db[i]);
    }
    if (atomic_load(&g_sh.failed)) fprintf(stderr, "%s\n", g_sh.why);
    ARM_CHECK(!atomic_load(&g_sh.failed));
}

/* ------------------------------- a reader never sees T2 without the T1 before it */
/* T1 on file A reads k and writes x from it; its COMMIT prepares it (xSync)
 * and is then refused with SQLITE_BUSY because a reader holds A's lock, so
 * T1 stays prepared, holding x and, as a registered reader, k. T2 on file B
 * writes k: T1 read k before T2 changed it, so T1 comes before T2 in any
 * serial order, and T2 must not become visible without T1. T2's COMMIT is
 * refused with SQLITE_BUSY while T1 is prepared (it waits briefly first);
 * T1's COMMIT, retried, succeeds, and then T2 may go. (Before readers were
 * registered, T2 committed and a reader on B saw T2's k without T1's x.) */
static void test_pending_reader_order(void) {
    char dir[700], fa[700], fb[700];
    snprintf(dir, sizeof dir, "%s/order", g_tmp);
    snprintf(fa, sizeof fa, "%s/C.db", g_tmp);
    snprintf(fb, sizeof fb, "%s/D.db", g_tmp);
    sqlite3 *a1 = sqlu_open_ok(fa), *b1 = sqlu_open_ok(fb);
    SQLU_OK(a1, sqlu_exec(a1, "PRAGMA journal_mode=DELETE"));
    for (int f = 0; f < 2; f++)
        SQLU_OK(f ? b1 : a1, sqlu_execf(f ? b1 : a1, "CREATE VIRTUAL TABLE t USING armdb(id "
                                        "INTEGER PRIMARY KEY, v INTEGER, dir=%Q, shared=1)", dir));
    SQLU_OK(a1, sqlu_exec(a1, "CREATE TABLE nat(x); INSERT INTO nat VALUES (1); "
                          "INSERT INTO t VALUES (1, 0), (2, 0)")); /* k = 1, x = 2 */
    sqlite3 *a2 = sqlu_open_ok(fa);
    /* T1: x = k + 100 */
    int64_t k = -1, rk = -1, rx = -1, one = 0;
    SQLU_OK(a1, sqlu_exec(a1, "BEGIN"));
    SQLU_OK(a1, sqlu_int64(a1, "SELECT v FROM t WHERE id = 1", &k));
    SQLU_OK(a1, sqlu_execf(a1, "UPDATE t SET v = %lld WHERE id = 2", (long long)(k + 100)));
    /* a reader holds A's lock: T1's COMMIT is prepared, then refused */
    SQLU_OK(a2, sqlu_exec(a2, "BEGIN"));
    SQLU_OK(a2, sqlu_int64(a2, "SELECT x FROM nat", &one));
    int rc1 = sqlu_exec(a1, "COMMIT");
    /* T2 on the other file writes k; R reads k and x */
    int rc2 = sqlu_exec(b1, "UPDATE t SET v = 7 WHERE id = 1");
    SQLU_OK(b1, sqlu_int64(b1, "SELECT v FROM t WHERE id = 1", &rk));
    SQLU_OK(b1, sqlu_int64(b1, "SELECT v FROM t WHERE id = 2", &rx));
    SQLU_OK(a2, sqlu_exec(a2, "COMMIT"));
    int rc3 = rc1 == SQLITE_OK ? SQLITE_OK : sqlu_exec(a1, "COMMIT");
    if (rc3 != SQLITE_OK && !sqlite3_get_autocommit(a1)) (void)sqlu_exec(a1, "ROLLBACK");
    fprintf(stderr, "  T1's first COMMIT: %s; T2: %s; the reader saw k=%lld x=%lld; T1's "
            "COMMIT retried: %s\n", sqlite3_errstr(rc1), sqlite3_errstr(rc2), (long long)rk,
            (long long)rx, sqlite3_errstr(rc3));
    sqlu_close_ok(a2);
    sqlu_close_ok(a1);
    sqlu_close_ok(b1);
    int anomaly = rc2 == SQLITE_OK && rk == 7 && rx == 0 && rc3 == SQLITE_OK;
    ARM_CHECK(!anomaly);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    sqlu_register();
    UTIL_CASE("two files, one dir=, threads transferring; the total never changes",
              test_transfers());
    UTIL_CASE("connections opened while other threads use armdb", test_open_race());
    UTIL_CASE("a reader never sees a later transaction without an earlier one",
              test_pending_reader_order());
    return harness_done();
}
