/* SPDX-License-Identifier: MIT */
/*
 * sql_util.h: support code shared by the C test programs that drive SQLite
 * through its C API (test/sql/test_*.c; the Makefile links this file, the
 * extension's objects and libsqlite3 into each). The extension is linked in
 * statically and registered with sqlite3_auto_extension, as armdb.h says an
 * application does, so every connection opened after sqlu_register() has the
 * armdb module and functions. Plain helpers return SQLite result codes; the
 * checks (ARM_CHECK) stay in the programs, or in the inline macros at the end
 * when harness.h is included first, so failures name the case and the seed.
 */
#ifndef ARM_TEST_SQL_UTIL_H
#define ARM_TEST_SQL_UTIL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* Register the statically linked extension for every connection opened from
 * now on (process-wide, inherited by forked children). Idempotent. */
void sqlu_register(void);

/* Open `path` read-write, created when missing, with a private cache (each
 * connection its own, as separate applications have). *db_out is set even
 * on failure (close it). SQLITE_OK or SQLite's code. */
int sqlu_open(const char *path, sqlite3 **db_out);

/* sqlite3_exec of one or more statements, results ignored. The extended
 * result code is returned (SQLITE_BUSY_SNAPSHOT stays distinguishable). */
int sqlu_exec(sqlite3 *db, const char *sql);
/* sqlite3_mprintf formatting, then sqlu_exec. */
int sqlu_execf(sqlite3 *db, const char *fmt, ...);

/* First column of the first row of `sql` as an integer (*out = 0 when there
 * is no row). Extended result code. */
int sqlu_int64(sqlite3 *db, const char *sql, int64_t *out);
/* First column of the first row as text, copied into buf (size n, always
 * terminated; "" for no row or NULL). Extended result code. */
int sqlu_text(sqlite3 *db, const char *sql, char *buf, size_t n);

/* 1 when PRAGMA integrity_check says "ok"; else 0 with its first line (or
 * the error) in msg. */
int sqlu_integrity_ok(sqlite3 *db, char *msg, size_t n);
/* 1 when armdb_check(table) reports no problem; else 0 with its JSON (or the
 * error) in json. */
int sqlu_armdb_check_ok(sqlite3 *db, const char *table, char *json, size_t n);

/* 1 for a result code a retrying application waits out: SQLITE_BUSY (any
 * extended form, SQLITE_BUSY_SNAPSHOT included) and SQLITE_LOCKED. */
int sqlu_is_busy(int rc);

/* ------------------------------------------- checking helpers (inline) */
#if defined(ARM_HARNESS_H)
#include <stdio.h>

/* A call returning an SQLite code must return `want`; otherwise print the
 * connection's message, the case and the seed, and fail the program. */
#define SQLU_CHECK_RC(db, call, want) do { int src_ = (call); if (src_ != (want)) { \
    fprintf(stderr, "%s:%d: %s: %s returned %d (%s), expected %d: \"%s\" (seed %llu)\n", \
            __FILE__, __LINE__, harness_case, #call, src_, sqlite3_errstr(src_), (want), \
            (db) ? sqlite3_errmsg(db) : "", (unsigned long long)harness_seed); exit(1); } } while (0)
#define SQLU_OK(db, call) SQLU_CHECK_RC((db), (call), SQLITE_OK)

static inline sqlite3 *sqlu_open_ok(const char *path) {
    sqlite3 *db = NULL;
    int rc = sqlu_open(path, &db);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "%s: open %s: %s \"%s\" (seed %llu)\n", harness_case, path,
                sqlite3_errstr(rc), db ? sqlite3_errmsg(db) : "", (unsigned long long)harness_seed);
        exit(1);
    }
    return db;
}

static inline void sqlu_close_ok(sqlite3 *db) {
    int rc = sqlite3_close(db);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "%s: sqlite3_close: %s (a statement left open?) (seed %llu)\n",
                harness_case, sqlite3_errstr(rc), (unsigned long long)harness_seed);
        exit(1);
    }
}

static inline sqlite3_stmt *sqlu_prepare_ok(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "%s: prepare \"%s\": %s (seed %llu)\n", harness_case, sql,
                sqlite3_errmsg(db), (unsigned long long)harness_seed);
        exit(1);
    }
    return st;
}
#endif

#endif
