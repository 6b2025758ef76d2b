/* SPDX-License-Identifier: MIT */
/*
 * test_fork.c: fork() with armdb tables open, through the real SQLite
 * library and the extension as applications load it (ARMDB_SO, default
 * build/armdb.so). A child never uses the engine its parent opened: its own
 * connection gets the lock error naming the directory while the parent
 * holds the table, the connections it inherited are refused, and closing
 * them flushes nothing into the parent's files; the parent's acknowledged
 * rows are all there afterwards, also after a reopen. Once the parent lets
 * go, the child's same connection opens the table on its next use.
 */
#include "../harness.h"
#include "../util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORK_ROWS 2000

static char g_base[512];
static char g_db[700];
static char g_dir[800]; /* the table's directory: <db>-armdb/kv */
static const char *g_so;

static sqlite3 *fork_open(void) {
    sqlite3 *db = NULL;
    char *err = NULL;
    ARM_CHECK(sqlite3_open(g_db, &db) == SQLITE_OK);
    ARM_CHECK(sqlite3_enable_load_extension(db, 1) == SQLITE_OK);
    if (sqlite3_load_extension(db, g_so, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "cannot load %s: %s\n", g_so, err ? err : "?");
        exit(1);
    }
    return db;
}

/* sqlite3_exec; returns its code, leaving the message in sqlite3_errmsg. */
static int fork_exec(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t fork_count(sqlite3 *db) {
    sqlite3_stmt *st = NULL;
    ARM_CHECK(sqlite3_prepare_v2(db, "SELECT count(*), sum(key) FROM kv WHERE value = 'v' || key",
                                 -1, &st, NULL) == SQLITE_OK);
    ARM_CHECK(sqlite3_step(st) == SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    int64_t sum = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    ARM_CHECK(sum == n * (n + 1) / 2); /* keys 1..n, each with its own value */
    return n;
}

static void fork_insert(sqlite3 *db, int from, int to) {
    ARM_CHECK(fork_exec(db, "BEGIN") == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ARM_CHECK(sqlite3_prepare_v2(db, "INSERT INTO kv VALUES (?1, 'v' || ?1)", -1, &st, NULL) ==
              SQLITE_OK);
    for (int i = from; i <= to; i++) {
        sqlite3_bind_int(st, 1, i);
        ARM_CHECK(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    ARM_CHECK(fork_exec(db, "COMMIT") == SQLITE_OK);
}

static void fork_check_clean(sqlite3 *db) {
    sqlite3_stmt *st = NULL;
    ARM_CHECK(sqlite3_prepare_v2(db, "SELECT json_extract(armdb_check('kv'), '$.ok')", -1, &st,
                                 NULL) == SQLITE_OK);
    ARM_CHECK(sqlite3_step(st) == SQLITE_ROW);
    ARM_CHECK(sqlite3_column_int(st, 0) == 1);
    sqlite3_finalize(st);
}

/* Child exit codes. */
enum { FK_OK = 0, FK_OPENED = 10, FK_BAD_ERROR = 11, FK_INHERITED_USED = 12 };

/* In the child: what must fail, fails, saying the right thing. */
static int fork_child_checks(sqlite3 *inherited) {
    sqlite3 *own = fork_open();
    int code = FK_OK;
    if (fork_exec(own, "SELECT count(*) FROM kv") == SQLITE_OK) code = FK_OPENED;
    else if (!strstr(sqlite3_errmsg(own), g_dir) || !strstr(sqlite3_errmsg(own), "locked"))
        code = FK_BAD_ERROR;
    if (code == FK_OK && fork_exec(own, "INSERT INTO kv VALUES (-1, 'child')") == SQLITE_OK)
        code = FK_OPENED;
    if (code == FK_OK &&
        (fork_exec(inherited, "INSERT INTO kv VALUES (-2, 'child')") == SQLITE_OK ||
         !strstr(sqlite3_errmsg(inherited), "fork")))
        code = FK_INHERITED_USED;
    if (code == FK_OK && fork_exec(inherited, "SELECT count(*) FROM kv") == SQLITE_OK)
        code = FK_INHERITED_USED;
    if (code != FK_OK)
        fprintf(stderr, "child: code %d: own \"%s\" / inherited \"%s\"\n", code,
                sqlite3_errmsg(own), sqlite3_errmsg(inherited));
    sqlite3_close(own);
    sqlite3_close(inherited); /* must not flush or close the parent's engine */
    return code;
}

static int fork_wait(pid_t pid) {
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    ARM_CHECK(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_child_never_uses_parent_engine(void) {
    sqlite3 *db = fork_open();
    ARM_CHECK(fork_exec(db, "CREATE VIRTUAL TABLE kv USING armdb(key_type='integer')") ==
              SQLITE_OK);
    fork_insert(db, 1, FORK_ROWS);
    fflush(NULL);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) _exit(fork_child_checks(db));
    ARM_CHECK(fork_wait(pid) == FK_OK);
    /* the parent goes on as if nothing happened */
    ARM_CHECK(fork_count(db) == FORK_ROWS);
    fork_insert(db, FORK_ROWS + 1, FORK_ROWS + 500);
    ARM_CHECK(fork_count(db) == FORK_ROWS + 500);
    fork_check_clean(db);
    ARM_CHECK(sqlite3_close(db) == SQLITE_OK);
    db = fork_open();
    ARM_CHECK(fork_count(db) == FORK_ROWS + 500);
    fork_check_clean(db);
    ARM_CHECK(sqlite3_close(db) == SQLITE_OK);
}

/* The child's connection fails while the parent holds the table, and the
 * same connection works once the parent closed it: the child dropped its
 * copy of the inherited lock, and nothing kept the failure. */
static void test_child_opens_once_parent_lets_go(void) {
    sqlite3 *db = fork_open();
    ARM_CHECK(fork_count(db) == FORK_ROWS + 500);
    int c2p[2], p2c[2];
    ARM_CHECK(pipe(c2p) == 0 && pipe(p2c) == 0);
    fflush(NULL);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        sqlite3 *own = fork_open();
        char b = 0;
        int busy = fork_exec(own, "SELECT count(*) FROM kv") == SQLITE_BUSY;
        if (write(c2p[1], "b", 1) != 1 || read(p2c[0], &b, 1) != 1) _exit(20);
        if (!busy) _exit(21);
        if (fork_exec(own, "INSERT INTO kv VALUES (100000, 'v100000')") != SQLITE_OK) {
            fprintf(stderr, "child, after the parent closed: \"%s\"\n", sqlite3_errmsg(own));
            _exit(22);
        }
        sqlite3_close(own);
        _exit(0);
    }
    char b = 0;
    ARM_CHECK(read(c2p[0], &b, 1) == 1);
    ARM_CHECK(sqlite3_close(db) == SQLITE_OK); /* the parent lets go */
    ARM_CHECK(write(p2c[1], "g", 1) == 1);
    ARM_CHECK(fork_wait(pid) == 0);
    close(c2p[0]), close(c2p[1]), close(p2c[0]), close(p2c[1]);
    db = fork_open();
    sqlite3_stmt *st = NULL;
    ARM_CHECK(sqlite3_prepare_v2(db, "SELECT value FROM kv WHERE key = 100000", -1, &st, NULL) ==
              SQLITE_OK);
    ARM_CHECK(sqlite3_step(st) == SQLITE_ROW);
    ARM_CHECK(strcmp((const char *)sqlite3_column_text(st, 0), "v100000") == 0);
    sqlite3_finalize(st);
    ARM_CHECK(sqlite3_close(db) == SQLITE_OK);
}

int main(void) {
    harness_init();
    g_so = getenv("ARMDB_SO") ? getenv("ARMDB_SO") : "build/armdb.so";
    if (access(g_so, R_OK) != 0) {
        fprintf(stderr, "test_fork: %s not found (set ARMDB_SO)\n", g_so);
        return 1;
    }
    ARM_CHECK(util_tmpdir(g_base, sizeof g_base, "fork") != NULL);
    util_rmrf_at_exit(g_base);
    snprintf(g_db, sizeof g_db, "%s/app.db", g_base);
    snprintf(g_dir, sizeof g_dir, "%s-armdb/kv", g_db);
    ARM_TEST("fork: a child never uses its parent's engine") test_child_never_uses_parent_engine();
    ARM_TEST("fork: the child's connection opens once the parent lets go")
        test_child_opens_once_parent_lets_go();
    return harness_done();
}
