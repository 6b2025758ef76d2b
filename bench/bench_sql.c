/* SPDX-License-Identifier: MIT */
/*
 * bench_sql.c: the engine workload through SQL. Runs the same data, in the
 * same run, through an armdb virtual table (`CREATE VIRTUAL TABLE kv USING
 * armdb(dir=..., sync='normal')`, loaded from build/armdb.so) and through a
 * native SQLite table (`CREATE TABLE kv(key BLOB PRIMARY KEY, value BLOB)
 * WITHOUT ROWID`, WAL, synchronous=NORMAL) in a separate database file, and
 * prints ops/s for each and the ratio armdb/native against the targets.
 *
 * Base phases: N 8-byte blob keys (random 64-bit values, big-endian), 100-byte
 * blob values; prepared statements; 1,000 rows per transaction: bulk load,
 * random INSERT OR REPLACE, random point SELECT, ordered full scan, 1,000
 * range scans of 1,000 rows.
 *
 * Transaction phases, each in fresh databases with its own journal and sync
 * settings (the commit path is what they measure): random UPDATE 1,000 per
 * transaction; single-row autocommit INSERTs in WAL and in the sqlite3 shell's
 * default rollback journal; transactions over two armdb tables plus a native
 * one against three native tables (1 and 100 rows per table); durable
 * autocommit INSERTs (armdb sync='full' against WAL synchronous=FULL) from 1
 * thread and from T threads, each with its own connection to one file.
 *
 * Every result is verified (every get finds the value last written, scans
 * return exactly the expected keys in order, after each transaction phase
 * every table holds exactly the rows written, at the version written); any
 * SQLite error ends the run with a message and exit status 1.
 *
 * Output: a human-readable report, then "@ <metric> <value>" lines for
 * bench/run.sh and bench/compare.sh. Usage: bench_sql --help.
 */
#include <sqlite3.h>

#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BS_KEY_BYTES   8
#define BS_VALUE_BYTES 100
#define BS_TXN_ROWS    1000
#define BS_RANGE_SCANS 1000
#define BS_RANGE_KEYS  1000
#define BS_MIN(a, b)   ((a) < (b) ? (a) : (b))
#define BS_MULTI_BATCH_ROWS 100     /* multi_batch: rows per table per transaction */
#define BS_THREADS_MAX 64
#define BS_BUSY_TIMEOUT_MS "60000" /* connections wait this long for SQLite's lock */

/* ------------------------------------------------------------ the dataset */
typedef struct bs_data {
    size_t n;
    uint64_t base;    /* key i is mix64(base + i) */
    uint8_t *keys;    /* n * 8 bytes, big-endian, load (random) order */
    uint64_t *sorted; /* keys as numbers, ascending (= memcmp order of the blobs) */
    uint32_t *perm;   /* shuffled 0..n-1: order of overwrites and gets */
    size_t *starts;   /* BS_RANGE_SCANS start indices into sorted */
    uint8_t filler[BS_VALUE_BYTES];
} bs_data;

static void bs_data_init(bs_data *d, size_t n, uint64_t seed) {
    uint64_t st = seed;
    uint64_t base = bench_splitmix64(&st);
    d->n = n;
    d->base = base;
    d->keys = bench_xmalloc(n * BS_KEY_BYTES);
    d->sorted = bench_xmalloc(n * sizeof(uint64_t));
    d->perm = bench_xmalloc(n * sizeof(uint32_t));
    d->starts = bench_xmalloc(BS_RANGE_SCANS * sizeof(size_t));
    bench_keys_make(base, n, d->keys, d->sorted);
    bench_shuffle(d->perm, n, &st);
    size_t span = n > BS_RANGE_KEYS ? n - BS_RANGE_KEYS + 1 : 1;
    for (size_t s = 0; s < BS_RANGE_SCANS; s++) d->starts[s] = (size_t)bench_rand_below(&st, span);
    for (size_t i = 0; i < BS_VALUE_BYTES; i++) d->filler[i] = (uint8_t)(0x41 + (i * 7) % 26);
}

static void bs_data_free(bs_data *d) {
    free(d->keys);
    free(d->sorted);
    free(d->perm);
    free(d->starts);
}

/* Value: key (8) | version (8, LE) | filler (84). */
static void bs_make_value(const bs_data *d, const uint8_t *key, uint64_t version, uint8_t *out) {
    memcpy(out, key, BS_KEY_BYTES);
    memcpy(out + 8, &version, 8);
    memcpy(out + 16, d->filler + 16, BS_VALUE_BYTES - 16);
}

static int bs_value_ok(const void *v, int len, const uint8_t *key, uint64_t version) {
    if (v == NULL || len != BS_VALUE_BYTES) return 0;
    if (memcmp(v, key, BS_KEY_BYTES) != 0) return 0;
    return memcmp((const uint8_t *)v + 8, &version, 8) == 0;
}

/* ------------------------------------------------------------ one engine */
typedef struct bs_side {
    const char *name; /* "armdb" or "native" */
    sqlite3 *db;
    sqlite3_stmt *ins, *rep, *get, *scan, *range, *begin, *commit;
} bs_side;

static void bs_fail(const bs_side *s, int rc, const char *what) {
    bench_die("[%s] %s: %s (rc=%d): %s", s->name, what, sqlite3_errstr(rc), rc, sqlite3_errmsg(s->db));
}

static void bs_exec(const bs_side *s, const char *sql) {
    char *err = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
    if (rc != SQLITE_OK) bench_die("[%s] %s: %s (rc=%d)", s->name, sql, err ? err : sqlite3_errstr(rc), rc);
}

static sqlite3_stmt *bs_prepare(const bs_side *s, const char *sql) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) bench_die("[%s] prepare '%s': %s (rc=%d): %s", s->name, sql, sqlite3_errstr(rc), rc, sqlite3_errmsg(s->db));
    if (st == NULL) bench_die("[%s] prepare '%s': empty statement", s->name, sql);
    return st;
}

/* Steps a statement that must return no row, then resets it. */
static void bs_step_done(const bs_side *s, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) bs_fail(s, rc, what);
    rc = sqlite3_reset(st);
    if (rc != SQLITE_OK) bs_fail(s, rc, what);
}

static void bs_bind_blob(const bs_side *s, sqlite3_stmt *st, int i, const void *p, int n) {
    int rc = sqlite3_bind_blob(st, i, p, n, SQLITE_STATIC);
    if (rc != SQLITE_OK) bs_fail(s, rc, "sqlite3_bind_blob");
}

/* Prints the query plan of `sql` and warns when SQLite adds a sort (the vtab
 * did not consume ORDER BY) or a full scan where a lookup was expected. */
static void bs_show_plan(const bs_side *s, const char *sql) {
    char buf[512];
    snprintf(buf, sizeof(buf), "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st = bs_prepare(s, buf);
    int rc;
    printf("  [%s] plan for %s\n", s->name, sql);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        printf("      %s\n", detail ? detail : "?");
        if (detail && strstr(detail, "TEMP B-TREE"))
            printf("      WARNING: SQLite sorts the result itself (ORDER BY not consumed by the table)\n");
    }
    if (rc != SQLITE_DONE) bs_fail(s, rc, "EXPLAIN QUERY PLAN");
    sqlite3_finalize(st);
}

/* Returns the first column of the one-row result of `sql` as text in buf. */
static void bs_query_text(const bs_side *s, const char *sql, char *buf, size_t cap) {
    sqlite3_stmt *st = bs_prepare(s, sql);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) bs_fail(s, rc, sql);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    snprintf(buf, cap, "%s", t ? t : "NULL");
    sqlite3_finalize(st);
}

/* Opens one connection to `file`: journal_mode (NULL keeps the file's own
 * setting, "delete" for a new file) and synchronous (-1 keeps the default)
 * are set and then read back, so a phase measures the modes it says; a busy
 * timeout makes connections that share the file wait for SQLite's lock
 * instead of failing; ext (NULL on the native side) is loaded. */
static void bs_conn_open(bs_side *s, const char *name, const char *file, const char *journal, int synchronous,
                         const char *ext_path) {
    char buf[64];
    memset(s, 0, sizeof(*s));
    s->name = name;
    int rc = sqlite3_open_v2(file, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) bench_die("[%s] sqlite3_open_v2 %s: %s", name, file, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    bs_exec(s, "PRAGMA busy_timeout=" BS_BUSY_TIMEOUT_MS);
    if (journal != NULL) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", journal);
        bs_query_text(s, sql, buf, sizeof(buf));
        if (strcmp(buf, journal) != 0) bench_die("[%s] journal_mode is %s, not %s", name, buf, journal);
    }
    if (synchronous >= 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA synchronous=%d", synchronous);
        bs_exec(s, sql);
        bs_query_text(s, "PRAGMA synchronous", buf, sizeof(buf));
        if (atoi(buf) != synchronous) bench_die("[%s] synchronous is %s, not %d", name, buf, synchronous);
    }
    if (ext_path != NULL) {
        char *err = NULL, with_so[BENCH_PATH_MAX + 8];
        snprintf(with_so, sizeof(with_so), "%s.so", ext_path);
        if (access(ext_path, R_OK) != 0 && access(with_so, R_OK) != 0)
            bench_die("[%s] extension %s not found (build it with `make build/armdb.so`, or pass -e PATH)", name,
                   ext_path);
        rc = sqlite3_enable_load_extension(s->db, 1);
        if (rc != SQLITE_OK) bs_fail(s, rc, "sqlite3_enable_load_extension");
        rc = sqlite3_load_extension(s->db, ext_path, "sqlite3_armdb_init", &err);
        if (rc != SQLITE_OK)
            bench_die("[%s] sqlite3_load_extension(%s): %s (build it with `make build/armdb.so`, or pass -e PATH)",
                   name, ext_path, err ? err : sqlite3_errstr(rc));
    }
}

/* CREATE TABLE `table`: an armdb table in armdb_dir with sync=`sync`, or
 * (armdb_dir == NULL) SQLite's own WITHOUT ROWID table of the same shape. */
static void bs_create_table(const bs_side *s, const char *table, const char *armdb_dir, const char *sync) {
    char *sql = armdb_dir != NULL
                    ? sqlite3_mprintf("CREATE VIRTUAL TABLE %s USING armdb(dir='%q', sync='%s')", table, armdb_dir, sync)
                    : sqlite3_mprintf("CREATE TABLE %s(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID", table);
    if (sql == NULL) bench_die("sqlite3_mprintf: out of memory");
    bs_exec(s, sql);
    sqlite3_free(sql);
}

/* The connection of the original phases: WAL, synchronous=NORMAL, table kv
 * (armdb sync='normal' when ext_path is set). */
static void bs_open(bs_side *s, const char *name, const char *file, const char *ext_path,
                    const char *armdb_dir) {
    bs_conn_open(s, name, file, "wal", 1, ext_path);
    bs_create_table(s, "kv", ext_path != NULL ? armdb_dir : NULL, "normal");
    s->ins = bs_prepare(s, "INSERT INTO kv(key, value) VALUES (?1, ?2)");
    s->rep = bs_prepare(s, "INSERT OR REPLACE INTO kv(key, value) VALUES (?1, ?2)");
    s->get = bs_prepare(s, "SELECT value FROM kv WHERE key = ?1");
    s->scan = bs_prepare(s, "SELECT key, value FROM kv ORDER BY key");
    s->range = bs_prepare(s, "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key LIMIT 1000");
    s->begin = bs_prepare(s, "BEGIN");
    s->commit = bs_prepare(s, "COMMIT");
}

static void bs_close(bs_side *s) {
    sqlite3_stmt *all[] = {s->ins, s->rep, s->get, s->scan, s->range, s->begin, s->commit};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) sqlite3_finalize(all[i]);
    int rc = sqlite3_close(s->db);
    if (rc != SQLITE_OK) bs_fail(s, rc, "sqlite3_close");
    s->db = NULL;
}

/* ---------------------------------------------------------------- phases */
/* Writes every key (in load order when perm is NULL, else in perm order)
 * with `version`, 1,000 rows per transaction. Returns rows/s. */
static double bs_phase_write(const bs_side *s, const bs_data *d, sqlite3_stmt *st, const uint32_t *perm,
                             uint64_t version, const char *what) {
    uint8_t value[BS_VALUE_BYTES];
    double t0 = bench_now();
    for (size_t i = 0; i < d->n; i += BS_TXN_ROWS) {
        size_t end = BS_MIN(d->n, i + BS_TXN_ROWS);
        bs_step_done(s, s->begin, "BEGIN");
        for (size_t j = i; j < end; j++) {
            const uint8_t *key = d->keys + (size_t)(perm ? perm[j] : j) * BS_KEY_BYTES;
            bs_make_value(d, key, version, value);
            bs_bind_blob(s, st, 1, key, BS_KEY_BYTES);
            bs_bind_blob(s, st, 2, value, BS_VALUE_BYTES);
            bs_step_done(s, st, what);
        }
        bs_step_done(s, s->commit, "COMMIT");
    }
    return (double)d->n / (bench_now() - t0);
}

static double bs_phase_get(const bs_side *s, const bs_data *d, uint64_t version) {
    sqlite3_stmt *st = s->get;
    double t0 = bench_now();
    for (size_t i = 0; i < d->n; i += BS_TXN_ROWS) {
        size_t end = BS_MIN(d->n, i + BS_TXN_ROWS);
        bs_step_done(s, s->begin, "BEGIN");
        for (size_t j = i; j < end; j++) {
            const uint8_t *key = d->keys + (size_t)d->perm[j] * BS_KEY_BYTES;
            bs_bind_blob(s, st, 1, key, BS_KEY_BYTES);
            int rc = sqlite3_step(st);
            if (rc == SQLITE_DONE) bench_die("[%s] point get: key #%u not found", s->name, d->perm[j]);
            if (rc != SQLITE_ROW) bs_fail(s, rc, "point get");
            const void *v = sqlite3_column_blob(st, 0);
            int vlen = sqlite3_column_bytes(st, 0);
            if (sqlite3_column_type(st, 0) != SQLITE_BLOB || !bs_value_ok(v, vlen, key, version))
                bench_die("[%s] point get: wrong value for key #%u", s->name, d->perm[j]);
            rc = sqlite3_step(st);
            if (rc != SQLITE_DONE) bench_die("[%s] point get: more than one row (rc=%d)", s->name, rc);
            rc = sqlite3_reset(st);
            if (rc != SQLITE_OK) bs_fail(s, rc, "point get reset");
        }
        bs_step_done(s, s->commit, "COMMIT");
    }
    return (double)d->n / (bench_now() - t0);
}

/* Steps `st` for up to `want` rows, checking each against sorted[idx...].
 * Returns the number of rows. */
static size_t bs_check_rows(const bs_side *s, const bs_data *d, sqlite3_stmt *st, size_t idx, size_t want,
                            uint64_t version, const char *what) {
    uint8_t expect[BS_KEY_BYTES];
    size_t rows = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (rows >= want) bench_die("[%s] %s: more than %zu rows", s->name, what, want);
        const void *k = sqlite3_column_blob(st, 0);
        int klen = sqlite3_column_bytes(st, 0);
        bench_put_be64(expect, d->sorted[idx + rows]);
        if (k == NULL || klen != BS_KEY_BYTES || memcmp(k, expect, BS_KEY_BYTES) != 0)
            bench_die("[%s] %s: row %zu has the wrong key (out of order or missing rows)", s->name, what, rows);
        const void *v = sqlite3_column_blob(st, 1);
        int vlen = sqlite3_column_bytes(st, 1);
        if (!bs_value_ok(v, vlen, expect, version)) bench_die("[%s] %s: wrong value at row %zu", s->name, what, rows);
        rows++;
    }
    if (rc != SQLITE_DONE) bs_fail(s, rc, what);
    rc = sqlite3_reset(st);
    if (rc != SQLITE_OK) bs_fail(s, rc, what);
    return rows;
}

static double bs_phase_scan(const bs_side *s, const bs_data *d, uint64_t version) {
    double t0 = bench_now();
    size_t rows = bs_check_rows(s, d, s->scan, 0, d->n, version, "ordered scan");
    double dt = bench_now() - t0;
    if (rows != d->n) bench_die("[%s] ordered scan: %zu rows, expected %zu", s->name, rows, d->n);
    return (double)rows / dt;
}

static double bs_phase_range(const bs_side *s, const bs_data *d, uint64_t version) {
    uint8_t target[BS_KEY_BYTES];
    size_t total = 0;
    double t0 = bench_now();
    for (size_t r = 0; r < BS_RANGE_SCANS; r++) {
        size_t idx = d->starts[r];
        size_t want = BS_MIN((size_t)BS_RANGE_KEYS, d->n - idx);
        bench_put_be64(target, d->sorted[idx]);
        bs_bind_blob(s, s->range, 1, target, BS_KEY_BYTES);
        size_t rows = bs_check_rows(s, d, s->range, idx, want, version, "range scan");
        if (rows != want) bench_die("[%s] range scan %zu: %zu rows, expected %zu", s->name, r, rows, want);
        total += rows;
    }
    return (double)total / (bench_now() - t0);
}

/* ---------------------------------------------------------------- options */
typedef struct bs_opts {
    size_t n;
    const char *dir;
    const char *ext;
    int keep;
    int only; /* 0 both, 1 armdb, 2 native */
    uint64_t seed;
    int strict;
    unsigned phases;         /* bit p set: run phase p */
    size_t update_rows;      /* update: rows, each updated once */
    size_t autocommit_rows;  /* autocommit: single-row transactions */
    size_t delete_rows;      /* autocommit_delete: single-row transactions */
    size_t multi_txns;       /* multi: transactions of 1 row per table */
    size_t multi_batch_txns; /* multi_batch: transactions of BS_MULTI_BATCH_ROWS rows per table */
    size_t multi_rows;       /* rows in each of the three tables (at least what is updated) */
    int threads;             /* durable_mt: threads, one connection each */
    int rounds;              /* durable*: slices per side, the sides alternating */
    size_t durable_ms;       /* durable*: length of one slice */
} bs_opts;

/* ------------------------------------------- phases in their own databases */
/*
 * The transaction phases (update .. durable_mt) each run in fresh databases,
 * one set per side under <parent>/<phase>-<side>/, so each can run alone
 * (--phases) and set its own journal and sync modes. Their keys are
 * bs_key_at(d, 0, 1, ...): the same function of the index as the main
 * dataset's keys, computed when needed, so their counts do not depend on -n.
 */
typedef struct bs_env {
    const char *side;               /* "armdb" or "native" */
    const char *ext;                /* the extension to load (armdb side), NULL on the native side */
    int temp;                       /* armdb side: every connection declares the table in its
                                       temp schema (SQLite then takes no lock on the file) */
    char dir[BENCH_PATH_MAX + 64];  /* this phase's directory for this side (made fresh) */
    char file[BENCH_PATH_MAX + 96]; /* the SQLite database file in it */
} bs_env;

/* The wall and CPU time of a phase's timed part (setup and checks excluded). */
typedef struct bs_timer {
    double t0, c0; /* at start: wall clock and process CPU seconds */
    double wall;   /* seconds between start and stop */
    double cpu;    /* process CPU seconds (all threads) between start and stop */
} bs_timer;

static void bs_timer_start(bs_timer *t) {
    t->c0 = bench_cpu();
    t->t0 = bench_now();
}

static void bs_timer_stop(bs_timer *t) {
    t->wall = bench_now() - t->t0;
    t->cpu = bench_cpu() - t->c0;
}

static void bs_key_at(const bs_data *d, size_t i, uint8_t *out) {
    bench_put_be64(out, bench_mix64(d->base + i));
}

/* <env dir>/armdb-<table>: where an armdb table of this phase keeps its data. */
static const char *bs_armdb_dir(const bs_env *e, const char *table, char *buf, size_t cap) {
    if (snprintf(buf, cap, "%s/armdb-%s", e->dir, table) >= (int)cap) bench_die("path too long: %s", e->dir);
    return buf;
}

/* Prepares the statement printf(fmt, ...) makes (fmt names the table). */
__attribute__((format(printf, 2, 3))) static sqlite3_stmt *bs_prepare_fmt(const bs_side *s, const char *fmt, ...) {
    char sql[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (len < 0 || len >= (int)sizeof(sql)) bench_die("statement too long");
    return bs_prepare(s, sql);
}

/* An armdb table must run with the sync mode its phase claims. */
static void bs_check_armdb_sync(const bs_side *s, const char *table, const char *want) {
    char sql[128], got[64];
    snprintf(sql, sizeof(sql), "SELECT json_extract(armdb_stats('%s'), '$.sync')", table);
    bs_query_text(s, sql, got, sizeof(got));
    if (strcmp(got, want) != 0) bench_die("[%s] table %s runs with sync=%s, not %s", s->name, table, got, want);
}

/* Untimed preload of keys 0..rows-1 at `version`, 1,000 per transaction. */
static void bs_fill(const bs_side *s, const bs_data *d, const char *table, size_t rows, uint64_t version) {
    uint8_t key[BS_KEY_BYTES], value[BS_VALUE_BYTES];
    sqlite3_stmt *ins = bs_prepare_fmt(s, "INSERT INTO %s(key, value) VALUES (?1, ?2)", table);
    for (size_t i = 0; i < rows; i += BS_TXN_ROWS) {
        bs_exec(s, "BEGIN");
        for (size_t j = i; j < BS_MIN(rows, i + BS_TXN_ROWS); j++) {
            bs_key_at(d, j, key);
            bs_make_value(d, key, version, value);
            bs_bind_blob(s, ins, 1, key, BS_KEY_BYTES);
            bs_bind_blob(s, ins, 2, value, BS_VALUE_BYTES);
            bs_step_done(s, ins, "preload INSERT");
        }
        bs_exec(s, "COMMIT");
    }
    sqlite3_finalize(ins);
}

/* The check after a phase, through SQL: `table` has exactly `rows` rows,
 * every value starts with its own key, and exactly `at_version` rows carry
 * `version`. */
static void bs_verify(const bs_side *s, const char *table, size_t rows, uint64_t version, size_t at_version,
                      const char *what) {
    uint8_t v[8];
    memcpy(v, &version, 8);
    sqlite3_stmt *st = bs_prepare_fmt(s,
                                        "SELECT count(*), coalesce(sum(substr(value, 1, 8) = key), 0), "
                                        "coalesce(sum(substr(value, 9, 8) = ?1), 0) FROM %s",
                                        table);
    bs_bind_blob(s, st, 1, v, 8);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) bs_fail(s, rc, what);
    long long n = sqlite3_column_int64(st, 0), own = sqlite3_column_int64(st, 1), at = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    if (n != (long long)rows || own != (long long)rows || at != (long long)at_version)
        bench_die("[%s] %s: table %s has %lld rows (want %zu), %lld holding their own key's value (want %zu), "
                  "%lld at version %llu (want %zu)",
                  s->name, what, table, n, rows, own, rows, at, (unsigned long long)version, at_version);
}

/* Timed part of the UPDATE phases: keys perm[0..count) set to `version` in
 * each of the ntables tables (statements up[]), per_txn keys per transaction
 * (the last one may be shorter). Every UPDATE must change exactly one row. */
static void bs_update_loop(const bs_side *s, const bs_data *d, sqlite3_stmt *const *up, int ntables,
                           const uint32_t *perm, size_t count, size_t per_txn, uint64_t version) {
    uint8_t key[BS_KEY_BYTES], value[BS_VALUE_BYTES];
    for (size_t i = 0; i < count; i += per_txn) {
        bs_step_done(s, s->begin, "BEGIN");
        for (size_t j = i; j < BS_MIN(count, i + per_txn); j++) {
            bs_key_at(d, perm[j], key);
            bs_make_value(d, key, version, value);
            for (int t = 0; t < ntables; t++) {
                bs_bind_blob(s, up[t], 1, key, BS_KEY_BYTES);
                bs_bind_blob(s, up[t], 2, value, BS_VALUE_BYTES);
                bs_step_done(s, up[t], "UPDATE");
                if (sqlite3_changes(s->db) != 1)
                    bench_die("[%s] UPDATE of key #%u changed %d rows, not 1", s->name, perm[j], sqlite3_changes(s->db));
            }
        }
        bs_step_done(s, s->commit, "COMMIT");
    }
}

/* A shuffle of 0..n-1 of its own (the main dataset's perm has -n entries). */
static uint32_t *bs_perm_new(size_t n, uint64_t seed) {
    uint32_t *perm = bench_xmalloc(n * sizeof(uint32_t));
    uint64_t st = seed;
    bench_shuffle(perm, n, &st);
    return perm;
}

/* update: WAL, synchronous=NORMAL, armdb sync='normal'. update_rows rows,
 * each then updated once, in random order, 1,000 per transaction. */
static double bs_tx_update(const bs_opts *o, const bs_data *d, const bs_env *e, bs_timer *t) {
    bs_side s;
    char adir[BENCH_PATH_MAX + 128];
    size_t rows = o->update_rows;
    bs_conn_open(&s, e->side, e->file, "wal", 1, e->ext);
    bs_create_table(&s, "kv", e->ext ? bs_armdb_dir(e, "kv", adir, sizeof(adir)) : NULL, "normal");
    if (e->ext) bs_check_armdb_sync(&s, "kv", "normal");
    bs_fill(&s, d, "kv", rows, 0);
    uint32_t *perm = bs_perm_new(rows, o->seed ^ 0x7570646174650000ULL);
    sqlite3_stmt *up = bs_prepare(&s, "UPDATE kv SET value = ?2 WHERE key = ?1");
    s.begin = bs_prepare(&s, "BEGIN");
    s.commit = bs_prepare(&s, "COMMIT");
    bs_timer_start(t);
    bs_update_loop(&s, d, &up, 1, perm, rows, BS_TXN_ROWS, 1);
    bs_timer_stop(t);
    sqlite3_finalize(up);
    bs_verify(&s, "kv", rows, 1, rows, "random UPDATE");
    bs_close(&s);
    free(perm);
    return (double)rows / t->wall;
}

/* autocommit / autocommit_delete: `rows` single-row INSERTs into an empty
 * table, each its own transaction (no BEGIN). journal NULL and synchronous
 * -1 leave the new file with SQLite's defaults, the ones the sqlite3 shell
 * uses; that they are journal_mode=delete and synchronous=FULL is checked. */
static double bs_tx_autocommit(const bs_data *d, const bs_env *e, bs_timer *t, const char *journal, int synchronous,
                               size_t rows) {
    bs_side s;
    char adir[BENCH_PATH_MAX + 128], mode[64];
    uint8_t key[BS_KEY_BYTES], value[BS_VALUE_BYTES];
    bs_conn_open(&s, e->side, e->file, journal, synchronous, e->ext);
    if (journal == NULL) {
        bs_query_text(&s, "PRAGMA journal_mode", mode, sizeof(mode));
        if (strcmp(mode, "delete") != 0) bench_die("[%s] default journal_mode is %s, not delete", s.name, mode);
        bs_query_text(&s, "PRAGMA synchronous", mode, sizeof(mode));
        if (atoi(mode) != 2) bench_die("[%s] default synchronous is %s, not 2 (FULL)", s.name, mode);
    }
    bs_create_table(&s, "kv", e->ext ? bs_armdb_dir(e, "kv", adir, sizeof(adir)) : NULL, "normal");
    if (e->ext) bs_check_armdb_sync(&s, "kv", "normal");
    s.ins = bs_prepare(&s, "INSERT INTO kv(key, value) VALUES (?1, ?2)");
    bs_timer_start(t);
    for (size_t i = 0; i < rows; i++) {
        bs_key_at(d, i, key);
        bs_make_value(d, key, 0, value);
        bs_bind_blob(&s, s.ins, 1, key, BS_KEY_BYTES);
        bs_bind_blob(&s, s.ins, 2, value, BS_VALUE_BYTES);
        bs_step_done(&s, s.ins, "autocommit INSERT");
    }
    bs_timer_stop(t);
    bs_verify(&s, "kv", rows, 0, rows, "autocommit INSERT");
    bs_close(&s);
    return (double)rows / t->wall;
}

/* multi / multi_batch: WAL, synchronous=NORMAL. Tables t1, t2 (armdb
 * sync='normal' on the armdb side, native on the other) and t3 (always
 * native), multi_rows rows each (at least txns * per_txn). Each transaction
 * updates per_txn random keys in all three tables. Returns transactions/s. */
static double bs_tx_multi(const bs_opts *o, const bs_data *d, const bs_env *e, bs_timer *t, size_t txns,
                          size_t per_txn) {
    static const char *const names[3] = {"t1", "t2", "t3"};
    bs_side s;
    char adir[BENCH_PATH_MAX + 128];
    size_t count = txns * per_txn, rows = o->multi_rows > count ? o->multi_rows : count;
    sqlite3_stmt *up[3];
    bs_conn_open(&s, e->side, e->file, "wal", 1, e->ext);
    for (int i = 0; i < 3; i++) {
        int armdb = e->ext != NULL && i < 2;
        bs_create_table(&s, names[i], armdb ? bs_armdb_dir(e, names[i], adir, sizeof(adir)) : NULL, "normal");
        if (armdb) bs_check_armdb_sync(&s, names[i], "normal");
        bs_fill(&s, d, names[i], rows, 0);
        up[i] = bs_prepare_fmt(&s, "UPDATE %s SET value = ?2 WHERE key = ?1", names[i]);
    }
    uint32_t *perm = bs_perm_new(rows, o->seed ^ 0x6d756c7469000000ULL ^ per_txn);
    s.begin = bs_prepare(&s, "BEGIN");
    s.commit = bs_prepare(&s, "COMMIT");
    bs_timer_start(t);
    bs_update_loop(&s, d, up, 3, perm, count, per_txn, 1);
    bs_timer_stop(t);
    for (int i = 0; i < 3; i++) {
        sqlite3_finalize(up[i]);
        bs_verify(&s, names[i], rows, 1, count, "multi-table transactions");
    }
    bs_close(&s);
    free(perm);
    return (double)txns / t->wall;
}

/* The databases of a transaction phase (metric: its name) on side k (0 armdb, 1 native):
 * <parent>/<phase>-<side>/, made fresh. */
static void bs_env_make(bs_env *e, const char *metric, int k, const bs_opts *o, const char *parent) {
    memset(e, 0, sizeof(*e));
    e->side = k == 0 ? "armdb" : "native";
    e->ext = k == 0 ? o->ext : NULL;
    if (snprintf(e->dir, sizeof(e->dir), "%s/%s-%s", parent, metric, e->side) >= (int)sizeof(e->dir) ||
        snprintf(e->file, sizeof(e->file), "%s/%s.db", e->dir, k == 0 ? "armdb-host" : "native") >=
            (int)sizeof(e->file))
        bench_die("-d too long");
    if (mkdir(e->dir, 0755) != 0)
        bench_die("mkdir %s: %s (refusing to benchmark over old data)", e->dir, strerror(errno));
}

/* One committer of the durable phases: its own connection, its own keys
 * (index (thread << 32) + j, j = 0, 1, ...). In each of `rounds` slices it
 * commits until the slice's deadline and counts the commits that returned
 * before it; a slice lies between two waits on its side's barrier. */
typedef struct bs_worker {
    const bs_env *e;
    const bs_data *d;
    size_t thread;
    int rounds;
    pthread_barrier_t *bar;   /* its side's: its threads + the main thread */
    const double *deadline;   /* the current slice's end (CLOCK_MONOTONIC s), set before the slice starts */
    size_t done;              /* commits made (all slices): the rows to find afterwards */
    size_t counted;           /* commits that returned before their slice's deadline */
} bs_worker;

/* The armdb table of a temp-schema side, in this connection's temp schema
 * (one directory shared by every connection: shared=1). */
static void bs_create_temp_table(const bs_side *s, const bs_env *e) {
    char *sql = sqlite3_mprintf("CREATE VIRTUAL TABLE temp.kv USING armdb(dir='%q/kv-temp', "
                                "sync='full', shared=1)", e->dir);
    if (sql == NULL) bench_die("sqlite3_mprintf: out of memory");
    bs_exec(s, sql);
    sqlite3_free(sql);
}

static void *bs_durable_worker(void *arg) {
    bs_worker *w = arg;
    uint8_t key[BS_KEY_BYTES], value[BS_VALUE_BYTES];
    bs_side s;
    bs_conn_open(&s, w->e->side, w->e->file, "wal", 2, w->e->ext);
    if (w->e->temp) bs_create_temp_table(&s, w->e);
    s.ins = bs_prepare(&s, "INSERT INTO kv(key, value) VALUES (?1, ?2)");
    pthread_barrier_wait(w->bar); // connected and prepared
    for (int r = 0; r < w->rounds; r++) {
        pthread_barrier_wait(w->bar); // slice r starts; *deadline is set
        double end = *w->deadline;
        while (bench_now() < end) {
            bs_key_at(w->d, (w->thread << 32) + w->done, key);
            bs_make_value(w->d, key, 0, value);
            bs_bind_blob(&s, s.ins, 1, key, BS_KEY_BYTES);
            bs_bind_blob(&s, s.ins, 2, value, BS_VALUE_BYTES);
            bs_step_done(&s, s.ins, "durable autocommit INSERT");
            w->done++;
            if (bench_now() <= end) w->counted++;
        }
        pthread_barrier_wait(w->bar); // the commit in flight at the deadline has returned
    }
    bs_close(&s);
    return NULL;
}

/* One side of a durable phase: its databases, its main connection (creates
 * and finally checks the table) and its committer threads. */
typedef struct bs_dside {
    bs_env e;
    bs_side s;
    pthread_t tid[BS_THREADS_MAX];
    bs_worker w[BS_THREADS_MAX];
    pthread_barrier_t bar;
    int threads;
    double deadline; /* read by the workers of the current slice */
    double cpu;      /* process CPU seconds summed over the side's slices */
    bench_io io;     /* device I/O summed over the side's slices */
} bs_dside;

static void bs_dside_open(bs_dside *ds, const char *metric, int k, const bs_opts *o, const bs_data *d,
                          const char *parent, int threads, int temp) {
    char adir[BENCH_PATH_MAX + 128];
    bs_env_make(&ds->e, metric, k, o, parent);
    ds->e.temp = temp && ds->e.ext != NULL;
    bs_conn_open(&ds->s, ds->e.side, ds->e.file, "wal", 2, ds->e.ext);
    if (ds->e.temp)
        bs_create_temp_table(&ds->s, &ds->e);
    else
        bs_create_table(&ds->s, "kv", ds->e.ext ? bs_armdb_dir(&ds->e, "kv", adir, sizeof(adir)) : NULL,
                        "full");
    if (ds->e.ext) bs_check_armdb_sync(&ds->s, "kv", "full");
    ds->threads = threads;
    if (pthread_barrier_init(&ds->bar, NULL, (unsigned)threads + 1) != 0) bench_die("pthread_barrier_init");
    for (int i = 0; i < threads; i++) {
        ds->w[i] = (bs_worker){&ds->e, d, (size_t)i, o->rounds, &ds->bar, &ds->deadline, 0, 0};
        int prc = pthread_create(&ds->tid[i], NULL, bs_durable_worker, &ds->w[i]);
        if (prc != 0) bench_die("pthread_create: %s", strerror(prc));
    }
    pthread_barrier_wait(&ds->bar); // every connection is open and prepared
}

/* Joins the committers and checks that every commit they made is in the
 * table. Returns the commits that returned inside the slices; *made_out
 * is all the commits made. */
static size_t bs_dside_close(bs_dside *ds, const bs_opts *o, size_t *made_out) {
    size_t rows = 0, counted = 0;
    for (int i = 0; i < ds->threads; i++) {
        int prc = pthread_join(ds->tid[i], NULL);
        if (prc != 0) bench_die("pthread_join: %s", strerror(prc));
        rows += ds->w[i].done;
        counted += ds->w[i].counted;
    }
    pthread_barrier_destroy(&ds->bar);
    bs_verify(&ds->s, "kv", rows, 0, rows, "durable commits");
    bs_close(&ds->s);
    if (!o->keep) bench_rm_rf(ds->e.dir);
    *made_out = rows;
    return counted;
}

/* The device I/O of a durable phase per commit (device-wide counters: other
 * processes' I/O in the same window counts too). A flush per commit is each
 * commit reaching stable storage on its own; fewer is commits sharing one. */
static void bs_print_io(const char *side, const char *metric, const bench_io *io, double commits) {
    printf("  (%s %s: device per commit: %.2f flushes, %.2f writes, %.1f KiB)\n", side, metric,
           io->flushes / commits, io->writes / commits, io->sectors / 2.0 / commits);
    printf("@ %s_%s_dev_flushes %.4g\n@ %s_%s_dev_writes %.4g\n@ %s_%s_dev_kib %.4g\n", side, metric,
           io->flushes / commits, side, metric, io->writes / commits, side, metric, io->sectors / 2.0 / commits);
}

/* durable / durable_mt, both sides at once. `threads` threads per side, each
 * with its own connection to the side's one database file (WAL,
 * synchronous=FULL, a busy timeout so they queue for SQLite's write lock),
 * commit single-row INSERTs (autocommit) into table kv: armdb sync='full'
 * against a native table. The sides take turns in o->rounds slices of
 * o->durable_ms each (armdb first in even rounds, native first in odd ones),
 * so a slow spell of the shared disk or CPU falls on both sides instead of on
 * whichever ran in it; both sides sync inside the commit (armdb sync='full'
 * has no background syncer), so neither side's deferred work is timed on the
 * other's. A slice is a fixed time, not a count, because a count would end
 * each slice with a tail of threads asleep in SQLite's busy handler (it
 * sleeps up to 100 ms). Fills res[] (commits/s) and percpu[]. */
static void bs_tx_durable_pair(const char *metric, const bs_opts *o, const bs_data *d, const char *parent,
                               const int active[2], int threads, int temp, double res[2],
                               double percpu[2]) {
    if (sqlite3_threadsafe() == 0) bench_die("this SQLite library is built without thread support");
    bs_dside *ds = calloc(2, sizeof(bs_dside));
    bench_disk disk;
    bench_io io0 = {0, 0, 0}, io1 = {0, 0, 0};
    int have_io = 1;
    if (ds == NULL) bench_die("out of memory");
    bench_disk_find(parent, &disk);
    for (int k = 0; k < 2; k++)
        if (active[k]) bs_dside_open(&ds[k], metric, k, o, d, parent, threads, temp);
    bench_disk_background(&disk, (unsigned)o->durable_ms);
    for (int r = 0; r < o->rounds; r++)
        for (int j = 0; j < 2; j++) {
            int k = r % 2 == 0 ? j : 1 - j;
            if (!active[k]) continue;
            double c0 = bench_cpu();
            have_io &= bench_disk_read(&disk, &io0);
            ds[k].deadline = bench_now() + (double)o->durable_ms / 1000.0;
            pthread_barrier_wait(&ds[k].bar); // slice r starts
            pthread_barrier_wait(&ds[k].bar); // its last commits have returned
            have_io &= bench_disk_read(&disk, &io1);
            ds[k].cpu += bench_cpu() - c0;
            bench_io_add(&ds[k].io, &io0, &io1);
        }
    double window = (double)o->rounds * (double)o->durable_ms / 1000.0;
    for (int k = 0; k < 2; k++) {
        if (!active[k]) continue;
        size_t made = 0, counted = bs_dside_close(&ds[k], o, &made);
        if (counted == 0) bench_die("[%s] %s: no commit returned within a slice", ds[k].e.side, metric);
        res[k] = (double)counted / window;
        percpu[k] = ds[k].cpu > 0 ? (double)counted / ds[k].cpu : 0;
        if (have_io) bs_print_io(ds[k].e.side, metric, &ds[k].io, (double)made);
    }
    free(ds);
}

/* ------------------------------------------------------------------ main */
enum {
    BS_P_LOAD,
    BS_P_OVERWRITE,
    BS_P_GET,
    BS_P_SCAN,
    BS_P_RANGE,
    BS_P_UPDATE, /* the first of the transaction phases, each in its own databases */
    BS_P_AUTOCOMMIT,
    BS_P_AUTOCOMMIT_DELETE,
    BS_P_MULTI,
    BS_P_MULTI_BATCH,
    BS_P_DURABLE,
    BS_P_DURABLE_MT,
    BS_P_DURABLE_MT_TEMP,
    BS_P_COUNT
};
#define BS_P_BASE_MASK ((1u << BS_P_UPDATE) - 1u)
#define BS_P_NEW_MASK  (((1u << BS_P_COUNT) - 1u) & ~BS_P_BASE_MASK)

static struct {
    const char *label, *metric, *unit;
    double target; /* minimum armdb/native ratio, 0 = none */
} bs_phases[BS_P_COUNT] = {
    {"bulk load (INSERT, 1000/txn)", "load", "rows/s", 1.2},
    {"random overwrite (INSERT OR REPLACE)", "overwrite", "rows/s", 5.0},
    {"random point get (SELECT ... key=?)", "get", "rows/s", 1.0},
    {"ordered full scan (ORDER BY key)", "scan", "rows/s", 0.5},
    {"range scans 1000 x 1000 (key>=? LIMIT)", "range", "rows/s", 0.0},
    {"random UPDATE ... key=? (1000/txn)", "update", "rows/s", 10.0},
    {"autocommit INSERT (WAL, NORMAL)", "autocommit", "rows/s", 2.0},
    {"autocommit INSERT (DELETE, FULL)", "autocommit_delete", "rows/s", 0.0},
    {"txn: UPDATE 1 row in each of 3 tables", "multi", "txn/s", 0.0},
    {"txn: UPDATE 100 rows in 3 tables", "multi_batch", "txn/s", 0.0},
    {"durable INSERT, 1 thread", "durable", "commits/s", 0.0},
    {NULL, "durable_mt", "commits/s", 3.0}, /* label set in main: it names the thread count */
    {NULL, "durable_mt_temp", "commits/s", 0.0}, /* the same, armdb tables in temp schemas */
};


static void bs_usage(FILE *f) {
    fprintf(f,
            "usage: bench_sql [options]\n"
            "  -n N                keys (default 1000000)\n"
            "  --quick             100000 keys and small transaction phases (smoke test)\n"
            "  -d DIR              parent directory for the databases (default: mkdtemp in $TMPDIR or /tmp)\n"
            "  -e PATH             armdb extension (default build/armdb.so)\n"
            "  -k                  keep the databases\n"
            "  --only armdb|native run one side only (for profiling; no ratios)\n"
            "  --phases LIST       comma-separated: all (default), base (load, overwrite, get, scan,\n"
            "                      range on the -n keys), new (all of the following), update,\n"
            "                      autocommit, autocommit_delete, multi, multi_batch, durable, durable_mt,\n"
            "                      durable_mt_temp (durable_mt with each connection's armdb table\n"
            "                      declared in its temp schema, over one shared directory)\n"
            "  --update-rows N     update: rows, each updated once, 1000 per txn (default 100000)\n"
            "  --autocommit-rows N autocommit: 1-row transactions, WAL (default 50000)\n"
            "  --delete-rows N     autocommit_delete: 1-row transactions, journal_mode=delete (default 2000)\n"
            "  --multi-txns N      multi: transactions of 1 row per table (default 10000)\n"
            "  --multi-batch-txns N multi_batch: transactions of 100 rows per table (default 200)\n"
            "  --multi-rows N      multi*: rows in each of the 3 tables (default 20000)\n"
            "  -t N                durable_mt: threads, each with its own connection (default 8)\n"
            "  --rounds N          durable*: slices per side, the sides taking turns (default 5)\n"
            "  --durable-ms N      durable*: milliseconds per slice (default 300)\n"
            "  --seed N            PRNG seed (default 42)\n"
            "  --strict            exit 2 when a target is missed\n"
            "  (--quick divides the transaction phases' defaults by 4 to 10)\n");
}

static size_t bs_parse_size(const char *s, const char *what, size_t min, size_t max) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        bench_die("bad %s '%s' (%zu..%zu)", what, s, min, max);
    return (size_t)v;
}

static unsigned bs_parse_phases(const char *list) {
    char buf[512];
    unsigned mask = 0;
    if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf)) bench_die("--phases too long");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        unsigned bit = 0;
        if (strcmp(tok, "all") == 0) bit = BS_P_BASE_MASK | BS_P_NEW_MASK;
        else if (strcmp(tok, "base") == 0) bit = BS_P_BASE_MASK;
        else if (strcmp(tok, "new") == 0) bit = BS_P_NEW_MASK;
        for (int p = BS_P_UPDATE; p < BS_P_COUNT && bit == 0; p++)
            if (strcmp(tok, bs_phases[p].metric) == 0) bit = 1u << p;
        if (bit == 0)
            bench_die("bad --phases '%s' (all, base, new, update, autocommit, autocommit_delete, multi, "
                      "multi_batch, durable, durable_mt, durable_mt_temp)",
                      tok);
        mask |= bit;
    }
    return mask;
}

/* A size option: its value, or the default (divided for --quick) if unset. */
static size_t bs_size_or(size_t set, size_t dflt, size_t quick_div, int quick) {
    return set != 0 ? set : quick ? dflt / quick_div : dflt;
}

static void bs_parse(int argc, char **argv, bs_opts *o) {
    enum { OPT_UPDATE = 256, OPT_AUTO, OPT_DELETE, OPT_MULTI, OPT_MBATCH, OPT_MROWS, OPT_DURMS, OPT_PHASES, OPT_ROUNDS };
    static const struct option lopts[] = {
        {"quick", no_argument, NULL, 'Q'},
        {"only", required_argument, NULL, 'O'},
        {"seed", required_argument, NULL, 'R'},
        {"strict", no_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'},
        {"phases", required_argument, NULL, OPT_PHASES},
        {"update-rows", required_argument, NULL, OPT_UPDATE},
        {"autocommit-rows", required_argument, NULL, OPT_AUTO},
        {"delete-rows", required_argument, NULL, OPT_DELETE},
        {"multi-txns", required_argument, NULL, OPT_MULTI},
        {"multi-batch-txns", required_argument, NULL, OPT_MBATCH},
        {"multi-rows", required_argument, NULL, OPT_MROWS},
        {"durable-ms", required_argument, NULL, OPT_DURMS},
        {"rounds", required_argument, NULL, OPT_ROUNDS},
        {NULL, 0, NULL, 0},
    };
    const size_t big = (size_t)1 << 30;
    int quick = 0;
    memset(o, 0, sizeof(*o));
    o->n = 1000000;
    o->ext = "build/armdb.so";
    o->seed = 42;
    o->threads = 8;
    o->rounds = 5;
    o->phases = BS_P_BASE_MASK | BS_P_NEW_MASK;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:d:e:kt:h", lopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'n': o->n = bs_parse_size(optarg, "-n", 1, UINT32_MAX); break;
        case 'Q':
            o->n = 100000;
            quick = 1;
            break;
        case 'd': o->dir = optarg; break;
        case 'e': o->ext = optarg; break;
        case 'k': o->keep = 1; break;
        case 't': o->threads = (int)bs_parse_size(optarg, "-t", 1, BS_THREADS_MAX); break;
        case 'O':
            if (strcmp(optarg, "armdb") == 0) o->only = 1;
            else if (strcmp(optarg, "native") == 0) o->only = 2;
            else bench_die("bad --only '%s' (armdb|native)", optarg);
            break;
        case 'R':
            o->seed = strtoull(optarg, &end, 0);
            if (*end != '\0') bench_die("bad --seed '%s'", optarg);
            break;
        case 'X': o->strict = 1; break;
        case OPT_PHASES: o->phases = bs_parse_phases(optarg); break;
        case OPT_UPDATE: o->update_rows = bs_parse_size(optarg, "--update-rows", 1, UINT32_MAX); break;
        case OPT_AUTO: o->autocommit_rows = bs_parse_size(optarg, "--autocommit-rows", 1, big); break;
        case OPT_DELETE: o->delete_rows = bs_parse_size(optarg, "--delete-rows", 1, big); break;
        case OPT_MULTI: o->multi_txns = bs_parse_size(optarg, "--multi-txns", 1, big); break;
        case OPT_MBATCH: o->multi_batch_txns = bs_parse_size(optarg, "--multi-batch-txns", 1, big); break;
        case OPT_MROWS: o->multi_rows = bs_parse_size(optarg, "--multi-rows", 1, big); break;
        case OPT_DURMS: o->durable_ms = bs_parse_size(optarg, "--durable-ms", 1, 600000); break;
        case OPT_ROUNDS: o->rounds = (int)bs_parse_size(optarg, "--rounds", 1, 1000); break;
        case 'h': bs_usage(stdout); exit(0);
        default: bs_usage(stderr); exit(1);
        }
    }
    if (optind != argc) {
        bs_usage(stderr);
        exit(1);
    }
    o->update_rows = bs_size_or(o->update_rows, 100000, 5, quick);
    o->autocommit_rows = bs_size_or(o->autocommit_rows, 50000, 10, quick);
    o->delete_rows = bs_size_or(o->delete_rows, 2000, 4, quick);
    o->multi_txns = bs_size_or(o->multi_txns, 10000, 10, quick);
    o->multi_batch_txns = bs_size_or(o->multi_batch_txns, 200, 4, quick);
    o->multi_rows = bs_size_or(o->multi_rows, 20000, 4, quick);
    o->durable_ms = bs_size_or(o->durable_ms, 300, 3, quick);
    if (o->multi_batch_txns * BS_MULTI_BATCH_ROWS > UINT32_MAX || o->multi_txns > UINT32_MAX)
        bench_die("transaction phase sizes too large");
}

static double bs_run_phase(const bs_side *s, const bs_data *d, int phase) {
    switch (phase) {
    case BS_P_LOAD: return bs_phase_write(s, d, s->ins, NULL, 0, "bulk insert");
    case BS_P_OVERWRITE: return bs_phase_write(s, d, s->rep, d->perm, 1, "insert or replace");
    case BS_P_GET: return bs_phase_get(s, d, 1);
    case BS_P_SCAN: return bs_phase_scan(s, d, 1);
    default: return bs_phase_range(s, d, 1);
    }
}

/* Runs transaction phase p (not the durable ones, which run both sides at
 * once) on one side (k: 0 armdb, 1 native) in fresh databases under parent,
 * removed afterwards unless -k. Returns the rate. */
static double bs_run_txn_phase(int p, int k, const bs_opts *o, const bs_data *d, const char *parent, bs_timer *t) {
    bs_env e;
    bs_env_make(&e, bs_phases[p].metric, k, o, parent);
    double r = 0;
    switch (p) {
    case BS_P_UPDATE: r = bs_tx_update(o, d, &e, t); break;
    case BS_P_AUTOCOMMIT: r = bs_tx_autocommit(d, &e, t, "wal", 1, o->autocommit_rows); break;
    case BS_P_AUTOCOMMIT_DELETE: r = bs_tx_autocommit(d, &e, t, NULL, -1, o->delete_rows); break;
    case BS_P_MULTI: r = bs_tx_multi(o, d, &e, t, o->multi_txns, 1); break;
    case BS_P_MULTI_BATCH: r = bs_tx_multi(o, d, &e, t, o->multi_batch_txns, BS_MULTI_BATCH_ROWS); break;
    default: bench_die("phase %d does not run one side at a time", p);
    }
    if (!o->keep) bench_rm_rf(e.dir);
    return r;
}

/* What the transaction phases compare, printed before they run. */
static void bs_print_txn_setup(const bs_opts *o) {
    unsigned m = o->phases;
    if ((m & BS_P_NEW_MASK) == 0) return;
    printf("  transaction phases (fresh databases each; armdb side: armdb tables in a SQLite file with the same\n"
           "  journal settings as the native side's file):\n");
    if (m & (1u << BS_P_UPDATE))
        printf("    update            %zu rows, each UPDATEd once in random order, 1000/txn; WAL, synchronous=NORMAL,\n"
               "                      armdb sync='normal'\n",
               o->update_rows);
    if (m & (1u << BS_P_AUTOCOMMIT))
        printf("    autocommit        %zu INSERTs, one per transaction (no BEGIN); WAL, synchronous=NORMAL,\n"
               "                      armdb sync='normal'\n",
               o->autocommit_rows);
    if (m & (1u << BS_P_AUTOCOMMIT_DELETE))
        printf("    autocommit_delete %zu INSERTs, one per transaction; both files keep the sqlite3 shell's defaults\n"
               "                      (journal_mode=delete, synchronous=FULL, checked), armdb sync='normal'\n",
               o->delete_rows);
    if (m & ((1u << BS_P_MULTI) | (1u << BS_P_MULTI_BATCH)))
        printf("    multi/multi_batch %zu txns of 1 row / %zu txns of %d rows, each row UPDATEd in t1, t2 and t3\n"
               "                      (%zu rows per table); armdb side: t1, t2 armdb sync='normal' + t3 native;\n"
               "                      native side: 3 native tables; WAL, synchronous=NORMAL\n",
               o->multi_txns, o->multi_batch_txns, BS_MULTI_BATCH_ROWS, o->multi_rows);
    if (m & ((1u << BS_P_DURABLE) | (1u << BS_P_DURABLE_MT)))
        printf("    durable/_mt       autocommit INSERTs from 1 / %d threads, a connection per thread to one file;\n"
               "                      WAL, synchronous=FULL, busy_timeout=%s ms; armdb sync='full'; the sides take\n"
               "                      turns in %d slices of %zu ms each (commits that return within a slice count)\n",
               o->threads, BS_BUSY_TIMEOUT_MS, o->rounds, o->durable_ms);
}

static void bs_print_result(int p, const int active[2], const double res[2], const double percpu[2]) {
    if (active[0] && active[1])
        printf("  %-40s %14.0f %14.0f %8.2fx  %s\n", bs_phases[p].label, res[0], res[1], res[0] / res[1],
               bs_phases[p].unit);
    else
        printf("  %-40s %14.0f %14.0f %9s  %s\n", bs_phases[p].label, res[0], res[1], "-", bs_phases[p].unit);
    if (active[0])
        printf("@ armdb_%s %.6g\n@ armdb_%s_percpu %.6g\n", bs_phases[p].metric, res[0], bs_phases[p].metric,
               percpu[0]);
    if (active[1])
        printf("@ native_%s %.6g\n@ native_%s_percpu %.6g\n", bs_phases[p].metric, res[1], bs_phases[p].metric,
               percpu[1]);
    if (active[0] && active[1]) printf("@ ratio_%s %.6g\n", bs_phases[p].metric, res[0] / res[1]);
}

/* What a run measured: per phase and side (0 armdb, 1 native). */
typedef struct bs_results {
    int active[2];          /* sides run (--only) */
    int ran[BS_P_COUNT];    /* phases run */
    double res[BS_P_COUNT][2];    /* rows (txn, commits) per second */
    double percpu[BS_P_COUNT][2]; /* the same per CPU-second of this process */
} bs_results;

/* The base phases on table kv of path[0] (armdb, data in path[1]) and of
 * path[2] (native), each phase on both sides before the next. */
static void bs_run_base(const bs_opts *o, const bs_data *d, char (*path)[BENCH_PATH_MAX + 64], bs_results *r) {
    bs_side side[2];
    if (r->active[0]) bs_open(&side[0], "armdb", path[0], o->ext, path[1]);
    if (r->active[1]) bs_open(&side[1], "native", path[2], NULL, NULL);
    for (int k = 0; k < 2; k++) {
        if (!r->active[k]) continue;
        bs_show_plan(&side[k], "SELECT value FROM kv WHERE key = ?1");
        bs_show_plan(&side[k], "SELECT key, value FROM kv ORDER BY key");
        bs_show_plan(&side[k], "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key LIMIT 1000");
    }
    printf("\n  %-40s %14s %14s %9s\n", "phase", "armdb", "native", "ratio");
    for (int p = 0; p < BS_P_UPDATE; p++) {
        for (int k = 0; k < 2; k++)
            if (r->active[k]) {
                double c0 = bench_cpu(), t0 = bench_now();
                r->res[p][k] = bs_run_phase(&side[k], d, p);
                double cpu = bench_cpu() - c0, wall = bench_now() - t0;
                r->percpu[p][k] = cpu > 0 ? r->res[p][k] * wall / cpu : 0; /* rows per CPU-second */
            }
        r->ran[p] = 1;
        bs_print_result(p, r->active, r->res[p], r->percpu[p]);
    }
    for (int k = 0; k < 2; k++)
        if (r->active[k]) bs_close(&side[k]);
}

/* The selected transaction phases, each in its own databases under parent. */
static void bs_run_txn(const bs_opts *o, const bs_data *d, const char *parent, bs_results *r) {
    for (int p = BS_P_UPDATE; p < BS_P_COUNT; p++) {
        if (!(o->phases & (1u << p))) continue;
        if (p == BS_P_DURABLE || p == BS_P_DURABLE_MT || p == BS_P_DURABLE_MT_TEMP) {
            int mt = p != BS_P_DURABLE;
            bs_tx_durable_pair(bs_phases[p].metric, o, d, parent, r->active, mt ? o->threads : 1,
                               p == BS_P_DURABLE_MT_TEMP, r->res[p], r->percpu[p]);
        } else {
            for (int k = 0; k < 2; k++)
                if (r->active[k]) {
                    bs_timer t;
                    r->res[p][k] = bs_run_txn_phase(p, k, o, d, parent, &t);
                    r->percpu[p][k] = t.cpu > 0 ? r->res[p][k] * t.wall / t.cpu : 0;
                }
        }
        r->ran[p] = 1;
        bs_print_result(p, r->active, r->res[p], r->percpu[p]);
    }
}

/* The per-CPU table and the targets. Returns the number of targets missed. */
static int bs_report(const bs_opts *o, const bs_results *r) {
    double la[3];
    int both = r->active[0] && r->active[1], nmiss = 0;
    /* Rows per CPU-second (user + system of this process, incl. armdb's
     * threads): robust when other processes steal the CPU, blind to waiting. */
    printf("\n  %-40s %14s %14s %9s\n", "per CPU-second (info)", "armdb", "native", "ratio");
    for (int p = 0; p < BS_P_COUNT; p++) {
        if (!r->ran[p]) continue;
        double x = r->percpu[p][1] > 0 ? r->percpu[p][0] / r->percpu[p][1] : 0;
        printf("  %-40s %14.0f %14.0f %8.2fx\n", bs_phases[p].label, r->percpu[p][0], r->percpu[p][1], x);
        if (both) printf("@ ratio_%s_percpu %.6g\n", bs_phases[p].metric, x);
    }
    if (!both) {
        printf("\n(one side only: no ratios or targets)\n");
        printf("  load average at end: %.2f\n", bench_loadavg(la));
        return 0;
    }
    printf("\ntargets (armdb/native, n=%zu):\n", o->n);
    for (int p = 0; p < BS_P_COUNT; p++) {
        if (bs_phases[p].target <= 0 || !r->ran[p]) continue;
        double ratio = r->res[p][0] / r->res[p][1];
        int pass = ratio >= bs_phases[p].target;
        nmiss += !pass;
        printf("  %-40s %8.2fx >= %4.1fx   %s\n", bs_phases[p].label, ratio, bs_phases[p].target,
               pass ? "PASS" : "MISS");
    }
    printf("  load average at end: %.2f\n", bench_loadavg(la));
    printf("%s: %d target(s) missed\n", nmiss ? "MISS" : "PASS", nmiss);
    return nmiss;
}

int main(int argc, char **argv) {
    bs_opts o;
    double la[3];
    char mtlabel[64];
    bs_parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char mttlabel[64];
    snprintf(mtlabel, sizeof(mtlabel), "durable INSERT, %d threads", o.threads);
    snprintf(mttlabel, sizeof(mttlabel), "durable INSERT, %d threads, temp.", o.threads);
    bs_phases[BS_P_DURABLE_MT].label = mtlabel;
    bs_phases[BS_P_DURABLE_MT_TEMP].label = mttlabel;
    int base = (o.phases & BS_P_BASE_MASK) != 0;

    char parent[BENCH_PATH_MAX], path[3][BENCH_PATH_MAX + 64];
    int made_parent = bench_parent_dir(o.dir, o.keep, parent, sizeof(parent));
    snprintf(path[0], sizeof(path[0]), "%s/armdb-host.db", parent); /* SQLite file hosting the vtab */
    snprintf(path[1], sizeof(path[1]), "%s/armdb-data", parent);    /* armdb's directory */
    snprintf(path[2], sizeof(path[2]), "%s/native.db", parent);
    for (int i = 0; i < 3 && base; i++)
        if (access(path[i], F_OK) == 0) bench_die("%s already exists; refusing to benchmark over old data", path[i]);

    printf("bench_sql: SQLite %s, n=%zu rows (%d-byte blob keys, %d-byte blob values), %d rows/txn, dir=%s\n",
           sqlite3_libversion(), o.n, BS_KEY_BYTES, BS_VALUE_BYTES, BS_TXN_ROWS, parent);
    printf("  load average at start: %.2f (other busy processes make numbers noisy)\n", bench_loadavg(la));
    printf("  armdb : CREATE VIRTUAL TABLE kv USING armdb(dir=..., sync='normal')  [%s]\n", o.ext);
    printf("  native: CREATE TABLE kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID; WAL; synchronous=NORMAL\n");
    printf("  phases:");
    for (int p = 0; p < BS_P_COUNT; p++)
        if (o.phases & (1u << p)) printf(" %s", bs_phases[p].metric);
    printf("\n");
    bs_print_txn_setup(&o);

    bs_data d;
    bs_data_init(&d, base ? o.n : 0, o.seed); /* the transaction phases make their keys as they go */
    bs_results r;
    memset(&r, 0, sizeof(r));
    r.active[0] = o.only != 2;
    r.active[1] = o.only != 1;
    if (base) bs_run_base(&o, &d, path, &r);
    else printf("\n  %-40s %14s %14s %9s\n", "phase", "armdb", "native", "ratio");
    bs_run_txn(&o, &d, parent, &r);
    int nmiss = bs_report(&o, &r);

    bs_data_free(&d);
    if (!o.keep) {
        for (int i = 0; i < 3; i++) bench_rm_rf(path[i]);
        char extra[BENCH_PATH_MAX + 128];
        const char *sfx[] = {"-wal", "-shm", "-journal"};
        for (int i = 0; i < 3; i++) {
            snprintf(extra, sizeof(extra), "%s%s", path[0], sfx[i]);
            bench_rm_rf(extra);
            snprintf(extra, sizeof(extra), "%s%s", path[2], sfx[i]);
            bench_rm_rf(extra);
        }
        if (made_parent) bench_rm_rf(parent);
    } else {
        printf("kept %s\n", parent);
    }
    return (o.strict && nmiss) ? 2 : 0;
}
