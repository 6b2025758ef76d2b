/* SPDX-License-Identifier: MIT */
/*
 * test_repl_sql.c: replication through SQL inside one process, for the
 * sanitizers (make tsan / make asan build and run it with the extension's
 * objects): a leader table and a follower table of two database files,
 * with writer threads on the leader, threads reading armdb_repl_status of
 * both sides all along, the follower's rows read while it applies, and
 * armdb_repl_stop from another connection than the one that started it
 * (the handles belong to the engine, not to a connection). Then the
 * shutdown paths: the follower's last connection closing (its thread is
 * joined; reopening follows again without being told), the leader's last
 * connection closing while a follower streams, and DROP TABLE of a table
 * that follows. Two-process behaviour (SIGKILL, restarts, authentication,
 * fork) is test/ext/test_repl_sql.py's.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"
#include "sql_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char g_tmp[512];
#define DECL        "CREATE VIRTUAL TABLE IF NOT EXISTS kv USING armdb(key_type='integer', shards=3)"
#define CONVERGE_MS 60000

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void path_of(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", g_tmp, name);
}

/* count, sum of keys and a hash of every value, in one text. */
static void digest(sqlite3 *db, char *buf, size_t n) {
    SQLU_OK(db, sqlu_text(db,
                          "SELECT count(*) || ' ' || total(key) || ' ' || "
                          "total(length(value) * (key % 1000)) FROM kv",
                          buf, n));
}

static void converge(sqlite3 *leader, sqlite3 *follower, const char *what) {
    char want[128], got[128];
    digest(leader, want, sizeof want);
    uint64_t end = now_ms() + CONVERGE_MS;
    do {
        digest(follower, got, sizeof got);
        if (strcmp(want, got) == 0) return;
        usleep(20000);
    } while (now_ms() < end);
    char st[4096];
    (void)sqlu_text(follower, "SELECT armdb_repl_status('kv')", st, sizeof st);
    fprintf(stderr, "%s: follower %s, leader %s; status %s (seed %llu)\n", what, got, want, st,
            (unsigned long long)harness_seed);
    exit(1);
}

static void fill(sqlite3 *db, int64_t first, int64_t last, int per_txn) {
    for (int64_t k = first; k <= last; k += per_txn) {
        SQLU_OK(db, sqlu_exec(db, "BEGIN IMMEDIATE"));
        for (int64_t i = k; i < k + per_txn && i <= last; i++)
            SQLU_OK(db, sqlu_execf(db, "INSERT INTO kv VALUES (%lld, 'v%lld')", (long long)i,
                                   (long long)i));
        SQLU_OK(db, sqlu_exec(db, "COMMIT"));
    }
}

typedef struct writer_arg {
    char path[600];
    int64_t first, last;
} writer_arg;

static void *writer_main(void *p) {
    writer_arg *a = p;
    sqlite3 *db = sqlu_open_ok(a->path);
    sqlite3_busy_timeout(db, 60000); /* the two writers share SQLite's write lock */
    fill(db, a->first, a->last, 7);
    sqlu_close_ok(db);
    return NULL;
}

typedef struct status_arg {
    char path[600];
    atomic_int *stop;
    int calls;
} status_arg;

/* armdb_repl_status over and over on a connection of its own, and reads of
 * the table, while the others write, apply and stop. */
static void *status_main(void *p) {
    status_arg *a = p;
    sqlite3 *db = sqlu_open_ok(a->path);
    sqlite3_busy_timeout(db, 60000); /* the writers hold SQLite's lock at times */
    char buf[8192];
    while (!atomic_load(a->stop)) {
        int64_t valid = 0;
        SQLU_OK(db, sqlu_int64(db, "SELECT json_valid(armdb_repl_status('kv'))", &valid));
        ARM_CHECK(valid == 1);
        SQLU_OK(db, sqlu_text(db, "SELECT count(*) FROM kv", buf, sizeof buf));
        a->calls++;
    }
    sqlu_close_ok(db);
    return NULL;
}

static void status_field(sqlite3 *db, const char *path, char *buf, size_t n) {
    char *q = sqlite3_mprintf("SELECT json_extract(armdb_repl_status('kv'), '%q')", path);
    SQLU_OK(db, sqlu_text(db, q, buf, n));
    sqlite3_free(q);
}

static void wait_state_not(sqlite3 *db, const char *state, const char *what) {
    char buf[64];
    uint64_t end = now_ms() + CONVERGE_MS;
    do {
        status_field(db, "$.state", buf, sizeof buf);
        if (strcmp(buf, state) != 0) return;
        usleep(20000);
    } while (now_ms() < end);
    fprintf(stderr, "%s: still %s (seed %llu)\n", what, state, (unsigned long long)harness_seed);
    exit(1);
}

/* A leader and a follower database (paths of 600 bytes), each with kv. */
static void open_pair(const char *lname, const char *fname, char *lpath, char *fpath, sqlite3 **L,
                      sqlite3 **F) {
    path_of(lpath, 600, lname);
    path_of(fpath, 600, fname);
    *L = sqlu_open_ok(lpath);
    *F = sqlu_open_ok(fpath);
    SQLU_OK(*L, sqlu_exec(*L, DECL));
    SQLU_OK(*F, sqlu_exec(*F, DECL));
}

/* L serves on a free port (its address into addr, 64 bytes); F follows it,
 * with the options opts (NULL: none). */
static void serve_follow(sqlite3 *L, sqlite3 *F, const char *opts, char *addr) {
    char buf[256];
    SQLU_OK(L, sqlu_text(L, "SELECT armdb_repl_serve('kv', '127.0.0.1:0')", addr, 64));
    ARM_CHECK(strncmp(addr, "127.0.0.1:", 10) == 0);
    char *q = opts ? sqlite3_mprintf("SELECT armdb_repl_follow('kv', '%q', '%q')", addr, opts)
                   : sqlite3_mprintf("SELECT armdb_repl_follow('kv', '%q')", addr);
    SQLU_OK(F, sqlu_text(F, q, buf, sizeof buf));
    sqlite3_free(q);
    ARM_CHECK(strcmp(buf, addr) == 0);
}

static void test_threads(void) {
    char lpath[600], fpath[600], addr[64], buf[256];
    sqlite3 *L, *F;
    open_pair("leader.db", "follower.db", lpath, fpath, &L, &F);
    fill(L, 1, 200, 50);
    serve_follow(L, F, NULL, addr);

    atomic_int stop = 0;
    writer_arg w[2];
    status_arg s[2];
    pthread_t wt[2], st[2];
    for (int i = 0; i < 2; i++) {
        snprintf(w[i].path, sizeof w[i].path, "%s", lpath);
        w[i].first = 1000 + i * 100000;
        w[i].last = w[i].first + 1500;
        ARM_CHECK(pthread_create(&wt[i], NULL, writer_main, &w[i]) == 0);
        snprintf(s[i].path, sizeof s[i].path, "%s", i ? fpath : lpath);
        s[i].stop = &stop;
        s[i].calls = 0;
        ARM_CHECK(pthread_create(&st[i], NULL, status_main, &s[i]) == 0);
    }
    for (int i = 0; i < 2; i++)
        ARM_CHECK(pthread_join(wt[i], NULL) == 0);
    converge(L, F, "after two writer threads");
    /* stopped from another connection than the one that started it */
    sqlite3 *F2 = sqlu_open_ok(fpath);
    SQLU_OK(F2, sqlu_text(F2, "SELECT armdb_repl_stop('kv')", buf, sizeof buf));
    ARM_CHECK(strcmp(buf, "follower") == 0);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++) {
        ARM_CHECK(pthread_join(st[i], NULL) == 0);
        ARM_CHECK(s[i].calls > 0);
    }
    SQLU_OK(F, sqlu_exec(F, "INSERT INTO kv VALUES (-1, 'the follower is writable again')"));
    status_field(F2, "$.role", buf, sizeof buf);
    ARM_CHECK(strcmp(buf, "none") == 0);
    SQLU_OK(L, sqlu_text(L, "SELECT armdb_repl_stop('kv')", buf, sizeof buf));
    ARM_CHECK(strcmp(buf, "leader") == 0);
    sqlu_close_ok(F2);
    sqlu_close_ok(F);
    sqlu_close_ok(L);
}

static void test_shutdown(void) {
    char lpath[600], fpath[600], addr[64], buf[256];
    sqlite3 *L, *F;
    open_pair("sd_leader.db", "sd_follower.db", lpath, fpath, &L, &F);
    fill(L, 1, 300, 30);
    serve_follow(L, F, "backoff_max_ms=200", addr);
    converge(L, F, "first catch-up");

    /* The follower's last connection closes: its thread is joined there. */
    uint64_t t0 = now_ms();
    sqlu_close_ok(F);
    ARM_CHECK(now_ms() - t0 < 10000);
    fill(L, 301, 400, 10);
    F = sqlu_open_ok(fpath); /* follows again, untold */
    status_field(F, "$.role", buf, sizeof buf);
    ARM_CHECK(strcmp(buf, "follower") == 0);
    converge(L, F, "after the follower's reopen");
    SQLU_CHECK_RC(F, sqlu_exec(F, "INSERT INTO kv VALUES (-1, 'x')"), SQLITE_READONLY);
    ARM_CHECK(strstr(sqlite3_errmsg(F), addr) != NULL);

    /* The leader's last connection closes while the follower streams. */
    t0 = now_ms();
    sqlu_close_ok(L);
    ARM_CHECK(now_ms() - t0 < 10000);
    wait_state_not(F, "streaming", "the follower sees the leader go");

    /* DROP TABLE of a following table stops following, then removes it. */
    char dir[700];
    snprintf(dir, sizeof dir, "%s-armdb/kv", fpath);
    struct stat sb;
    ARM_CHECK(stat(dir, &sb) == 0);
    SQLU_OK(F, sqlu_exec(F, "DROP TABLE kv"));
    sqlu_close_ok(F);
    ARM_CHECK(stat(dir, &sb) != 0);
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "sqlrepl");
    util_rmrf_at_exit(g_tmp);
    sqlu_register();
    UTIL_CASE("leader and follower in one process: writer and status threads, stop elsewhere",
              test_threads());
    UTIL_CASE("last connections closing and DROP TABLE stop replication", test_shutdown());
    return harness_done();
}
