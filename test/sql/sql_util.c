/* SPDX-License-Identifier: MIT */
/*
 * sql_util.c: support code for the test/sql programs (see sql_util.h). No
 * main().
 */
#include "sql_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../../ext/armdb.h"

void sqlu_register(void) {
    /* sqlite3_auto_extension ignores a second registration of one function */
    (void)sqlite3_auto_extension((void (*)(void))sqlite3_armdb_init);
}

int sqlu_open(const char *path, sqlite3 **db_out) {
    *db_out = NULL;
    return sqlite3_open_v2(path, db_out,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_PRIVATECACHE,
                           NULL);
}

int sqlu_exec(sqlite3 *db, const char *sql) {
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? rc : sqlite3_extended_errcode(db);
}

int sqlu_execf(sqlite3 *db, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *sql = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (sql == NULL) return SQLITE_NOMEM;
    int rc = sqlu_exec(db, sql);
    sqlite3_free(sql);
    return rc;
}

/* Prepare `sql` and step it to its first row (*have_row); the caller
 * finalizes *st_out. */
static int sqlu_first_row(sqlite3 *db, const char *sql, int *have_row, sqlite3_stmt **st_out) {
    *have_row = 0;
    *st_out = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, st_out, NULL);
    if (rc != SQLITE_OK) return sqlite3_extended_errcode(db);
    rc = sqlite3_step(*st_out);
    if (rc == SQLITE_ROW) {
        *have_row = 1;
        return SQLITE_OK;
    }
    if (rc == SQLITE_DONE) return SQLITE_OK;
    return sqlite3_extended_errcode(db);
}

int sqlu_int64(sqlite3 *db, const char *sql, int64_t *out) {
    sqlite3_stmt *st;
    int row;
    *out = 0;
    int rc = sqlu_first_row(db, sql, &row, &st);
    if (rc == SQLITE_OK && row) *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

int sqlu_text(sqlite3 *db, const char *sql, char *buf, size_t n) {
    sqlite3_stmt *st;
    int row;
    if (n) buf[0] = '\0';
    int rc = sqlu_first_row(db, sql, &row, &st);
    if (rc == SQLITE_OK && row && n) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(buf, n, "%s", t ? (const char *)t : "");
    }
    sqlite3_finalize(st);
    return rc;
}

int sqlu_integrity_ok(sqlite3 *db, char *msg, size_t n) {
    int rc = sqlu_text(db, "PRAGMA integrity_check", msg, n);
    if (rc != SQLITE_OK) {
        snprintf(msg, n, "PRAGMA integrity_check failed: %s", sqlite3_errmsg(db));
        return 0;
    }
    return strcmp(msg, "ok") == 0;
}

int sqlu_armdb_check_ok(sqlite3 *db, const char *table, char *json, size_t n) {
    char *sql = sqlite3_mprintf("SELECT armdb_check(%Q)", table);
    if (sql == NULL) return 0;
    int rc = sqlu_text(db, sql, json, n);
    sqlite3_free(sql);
    if (rc != SQLITE_OK) {
        snprintf(json, n, "armdb_check('%s') failed: %s", table, sqlite3_errmsg(db));
        return 0;
    }
    return strncmp(json, "{\"ok\":true,", 11) == 0;
}

int sqlu_is_busy(int rc) {
    return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}
