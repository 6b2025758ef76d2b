/* SPDX-License-Identifier: MIT */
/*
 * test_backup.c: armdb_backup through the real SQLite library. A big table's
 * backup reports progress through sqlite3_log (SQLITE_NOTICE, at least every
 * 65536 keys) and a final line, its JSON counts the keys and bytes copied,
 * the copy holds exactly the committed rows (not the caller's open
 * transaction), and a new database opens the copy with its declaration.
 */
#include "../harness.h"
#include "../util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BK_ROWS 150000

static char g_base[512];
static const char *g_so;
static int g_progress, g_done;

static void bk_log(void *arg, int code, const char *msg) {
    (void)arg;
    if (code != SQLITE_NOTICE || strncmp(msg, "armdb_backup: kv: ", 18) != 0) return;
    if (strstr(msg, "copied so far")) g_progress++;
    if (strstr(msg, "150000 keys") && strstr(msg, "done")) g_done++;
}

static sqlite3 *bk_open(const char *file) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s", g_base, file);
    sqlite3 *db = NULL;
    char *err = NULL;
    ARM_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    ARM_CHECK(sqlite3_enable_load_extension(db, 1) == SQLITE_OK);
    if (sqlite3_load_extension(db, g_so, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "cannot load %s: %s\n", g_so, err ? err : "?");
        exit(1);
    }
    return db;
}

static int64_t bk_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
        exit(1);
    }
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void bk_exec(sqlite3 *db, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, err ? err : "?");
        exit(1);
    }
}

static void test_backup_big_table(void) {
    sqlite3 *db = bk_open("app.db");
    bk_exec(db, "CREATE VIRTUAL TABLE kv USING armdb(key_type='integer')");
    bk_exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000) "
                "INSERT INTO kv SELECT i, printf('value %06d', i) FROM n");
    /* an open transaction of the caller's: not part of the copy */
    bk_exec(db, "BEGIN");
    bk_exec(db, "INSERT INTO kv VALUES (-1, 'uncommitted')");
    char sql[1200];
    snprintf(sql, sizeof sql, "SELECT json_extract(armdb_backup('kv', '%s/copy'), '$.keys') * 1000000000 "
             "+ json_extract(armdb_backup('kv', '%s/copy2'), '$.bytes')", g_base, g_base);
    int64_t r = bk_int(db, sql);
    bk_exec(db, "ROLLBACK");
    ARM_CHECK(r / 1000000000 == BK_ROWS);
    /* stored bytes: 8-byte keys; values are a type byte and 12 bytes of text */
    ARM_CHECK(r % 1000000000 == (int64_t)BK_ROWS * (8 + 1 + 12));
    ARM_CHECK(g_progress >= 4); /* 2 backups x at least 2 progress lines each */
    ARM_CHECK(g_done == 2);
    ARM_CHECK(sqlite3_close(db) == SQLITE_OK);
    /* a new database adopts the copy with the table's declaration */
    db = bk_open("restored.db");
    snprintf(sql, sizeof sql, "CREATE VIRTUAL TABLE kv USING armdb(dir='%s/copy', key_type='integer')",
             g_base);
    bk_exec(db, sql);
    ARM_CHECK(bk_int(db, "SELECT count(*) FROM kv") == BK_ROWS);
    ARM_CHECK(bk_int(db, "SELECT count(*) FROM kv WHERE key = -1") == 0);
    ARM_CHECK(bk_int(db, "SELECT value = 'value 123456' FROM kv WHERE key = 123456") == 1);
    ARM_CHECK(bk_int(db, "SELECT json_extract(armdb_check('kv'), '$.ok')") == 1);
    ARM_CHECK(sqlite3_close(db) == SQLITE_OK);
}

int main(void) {
    harness_init();
    g_so = getenv("ARMDB_SO") ? getenv("ARMDB_SO") : "build/armdb.so";
    if (access(g_so, R_OK) != 0) {
        fprintf(stderr, "test_backup: %s not found (set ARMDB_SO)\n", g_so);
        return 1;
    }
    /* before the library initialises: where sqlite3_log goes */
    ARM_CHECK(sqlite3_config(SQLITE_CONFIG_LOG, bk_log, NULL) == SQLITE_OK);
    ARM_CHECK(util_tmpdir(g_base, sizeof g_base, "backup") != NULL);
    util_rmrf_at_exit(g_base);
    ARM_TEST("backup: progress in sqlite3_log, keys and bytes in the JSON") test_backup_big_table();
    return harness_done();
}
