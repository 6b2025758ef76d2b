/* SPDX-License-Identifier: MIT */
/*
 * bench_sql.c: the engine workload through SQL. Runs the same data, in the
 * same run, through an armdb virtual table (`CREATE VIRTUAL TABLE kv USING
 * armdb(dir=..., sync='normal')`, loaded from build/armdb.so) and through a
 * native SQLite table (`CREATE TABLE kv(key BLOB PRIMARY KEY, value BLOB)
 * WITHOUT ROWID`, WAL, synchronous=NORMAL) in a separate database file, and
 * prints ops/s for each and the ratio armdb/native against the targets.
 *
 * Workload: N 8-byte blob keys (random 64-bit values, big-endian), 100-byte
 * blob values; prepared statements; 1,000 rows per transaction. Phases: bulk
 * load, random INSERT OR REPLACE, random point SELECT, ordered full scan,
 * 1,000 range scans of 1,000 rows. Every result is verified (every get finds
 * the value last written, scans return exactly the expected keys in order);
 * any SQLite error ends the run with a message and exit status 1.
 *
 * Output: a human-readable report, then "@ <metric> <value>" lines for
 * bench/run.sh. Usage: bench_sql --help.
 */
#include <sqlite3.h>

#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BS_KEY_BYTES   8
#define BS_VALUE_BYTES 100
#define BS_TXN_ROWS    1000
#define BS_RANGE_SCANS 1000
#define BS_RANGE_KEYS  1000
#define BS_MIN(a, b)   ((a) < (b) ? (a) : (b))

/* ------------------------------------------------------------ the dataset */
typedef struct bs_data {
    size_t n;
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

static void bs_open(bs_side *s, const char *name, const char *file, const char *ext_path,
                    const char *armdb_dir) {
    memset(s, 0, sizeof(*s));
    s->name = name;
    int rc = sqlite3_open_v2(file, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) bench_die("[%s] sqlite3_open_v2 %s: %s", name, file, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    sqlite3_stmt *st = bs_prepare(s, "PRAGMA journal_mode=WAL");
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) bs_fail(s, rc, "PRAGMA journal_mode=WAL");
    const char *mode = (const char *)sqlite3_column_text(st, 0);
    if (mode == NULL || strcmp(mode, "wal") != 0) bench_die("[%s] journal_mode is %s, not wal", name, mode ? mode : "NULL");
    sqlite3_finalize(st);
    bs_exec(s, "PRAGMA synchronous=NORMAL");
    if (ext_path != NULL) {
        char *err = NULL, with_so[4200];
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
        char *sql = sqlite3_mprintf("CREATE VIRTUAL TABLE kv USING armdb(dir='%q', sync='normal')", armdb_dir);
        if (sql == NULL) bench_die("sqlite3_mprintf: out of memory");
        bs_exec(s, sql);
        sqlite3_free(sql);
    } else {
        bs_exec(s, "CREATE TABLE kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID");
    }
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

/* ------------------------------------------------------------------ main */
typedef struct bs_opts {
    size_t n;
    const char *dir;
    const char *ext;
    int keep;
    int only; /* 0 both, 1 armdb, 2 native */
    uint64_t seed;
    int strict;
} bs_opts;

static void bs_usage(FILE *f) {
    fprintf(f,
            "usage: bench_sql [options]\n"
            "  -n N                keys (default 1000000)\n"
            "  --quick             100000 keys (smoke test)\n"
            "  -d DIR              parent directory for the databases (default: mkdtemp in $TMPDIR or /tmp)\n"
            "  -e PATH             armdb extension (default build/armdb.so)\n"
            "  -k                  keep the databases\n"
            "  --only armdb|native run one side only (for profiling; no ratios)\n"
            "  --seed N            PRNG seed (default 42)\n"
            "  --strict            exit 2 when a target is missed\n");
}

static void bs_parse(int argc, char **argv, bs_opts *o) {
    static const struct option lopts[] = {
        {"quick", no_argument, NULL, 'Q'}, {"only", required_argument, NULL, 'O'},
        {"seed", required_argument, NULL, 'R'}, {"strict", no_argument, NULL, 'X'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    memset(o, 0, sizeof(*o));
    o->n = 1000000;
    o->ext = "build/armdb.so";
    o->seed = 42;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:d:e:kh", lopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'n':
            o->n = (size_t)strtoull(optarg, &end, 10);
            if (*end != '\0' || o->n < 1 || o->n > UINT32_MAX) bench_die("bad -n '%s'", optarg);
            break;
        case 'Q': o->n = 100000; break;
        case 'd': o->dir = optarg; break;
        case 'e': o->ext = optarg; break;
        case 'k': o->keep = 1; break;
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
        case 'h': bs_usage(stdout); exit(0);
        default: bs_usage(stderr); exit(1);
        }
    }
    if (optind != argc) {
        bs_usage(stderr);
        exit(1);
    }
}

enum { BS_P_LOAD, BS_P_OVERWRITE, BS_P_GET, BS_P_SCAN, BS_P_RANGE, BS_P_COUNT };

static const struct {
    const char *label, *metric, *unit;
    double target; /* minimum armdb/native ratio, 0 = none */
} bs_phases[BS_P_COUNT] = {
    {"bulk load (INSERT, 1000/txn)", "load", "rows/s", 1.2},
    {"random overwrite (INSERT OR REPLACE)", "overwrite", "rows/s", 5.0},
    {"random point get (SELECT ... key=?)", "get", "rows/s", 1.0},
    {"ordered full scan (ORDER BY key)", "scan", "rows/s", 0.5},
    {"range scans 1000 x 1000 (key>=? LIMIT)", "range", "rows/s", 0.0},
};

static double bs_run_phase(const bs_side *s, const bs_data *d, int phase) {
    switch (phase) {
    case BS_P_LOAD: return bs_phase_write(s, d, s->ins, NULL, 0, "bulk insert");
    case BS_P_OVERWRITE: return bs_phase_write(s, d, s->rep, d->perm, 1, "insert or replace");
    case BS_P_GET: return bs_phase_get(s, d, 1);
    case BS_P_SCAN: return bs_phase_scan(s, d, 1);
    default: return bs_phase_range(s, d, 1);
    }
}

int main(int argc, char **argv) {
    bs_opts o;
    double la[3];
    bs_parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);

    char parent[4096], path[3][4200];
    int made_parent = bench_parent_dir(o.dir, o.keep, parent, sizeof(parent));
    snprintf(path[0], sizeof(path[0]), "%s/armdb-host.db", parent); /* SQLite file hosting the vtab */
    snprintf(path[1], sizeof(path[1]), "%s/armdb-data", parent);    /* armdb's directory */
    snprintf(path[2], sizeof(path[2]), "%s/native.db", parent);
    for (int i = 0; i < 3; i++)
        if (access(path[i], F_OK) == 0) bench_die("%s already exists; refusing to benchmark over old data", path[i]);

    printf("bench_sql: SQLite %s, n=%zu rows (%d-byte blob keys, %d-byte blob values), %d rows/txn, dir=%s\n",
           sqlite3_libversion(), o.n, BS_KEY_BYTES, BS_VALUE_BYTES, BS_TXN_ROWS, parent);
    printf("  load average at start: %.2f (other busy processes make numbers noisy)\n", bench_loadavg(la));
    printf("  armdb : CREATE VIRTUAL TABLE kv USING armdb(dir=..., sync='normal')  [%s]\n", o.ext);
    printf("  native: CREATE TABLE kv(key BLOB PRIMARY KEY, value BLOB) WITHOUT ROWID; WAL; synchronous=NORMAL\n");

    bs_data d;
    bs_data_init(&d, o.n, o.seed);

    bs_side side[2];
    int active[2] = {o.only != 2, o.only != 1};
    if (active[0]) bs_open(&side[0], "armdb", path[0], o.ext, path[1]);
    if (active[1]) bs_open(&side[1], "native", path[2], NULL, NULL);
    for (int k = 0; k < 2; k++) {
        if (!active[k]) continue;
        bs_show_plan(&side[k], "SELECT value FROM kv WHERE key = ?1");
        bs_show_plan(&side[k], "SELECT key, value FROM kv ORDER BY key");
        bs_show_plan(&side[k], "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key LIMIT 1000");
    }

    double res[BS_P_COUNT][2] = {{0}}, percpu[BS_P_COUNT][2] = {{0}};
    printf("\n  %-40s %14s %14s %9s\n", "phase", "armdb", "native", "ratio");
    for (int p = 0; p < BS_P_COUNT; p++) {
        for (int k = 0; k < 2; k++)
            if (active[k]) {
                double c0 = bench_cpu(), t0 = bench_now();
                res[p][k] = bs_run_phase(&side[k], &d, p);
                double cpu = bench_cpu() - c0, wall = bench_now() - t0;
                percpu[p][k] = cpu > 0 ? res[p][k] * wall / cpu : 0; /* rows per CPU-second */
            }
        if (active[0] && active[1])
            printf("  %-40s %14.0f %14.0f %8.2fx  %s\n", bs_phases[p].label, res[p][0], res[p][1],
                   res[p][0] / res[p][1], bs_phases[p].unit);
        else
            printf("  %-40s %14.0f %14.0f %9s  %s\n", bs_phases[p].label, res[p][0], res[p][1], "-",
                   bs_phases[p].unit);
        if (active[0]) printf("@ armdb_%s %.6g\n@ armdb_%s_percpu %.6g\n", bs_phases[p].metric, res[p][0],
                              bs_phases[p].metric, percpu[p][0]);
        if (active[1]) printf("@ native_%s %.6g\n@ native_%s_percpu %.6g\n", bs_phases[p].metric, res[p][1],
                              bs_phases[p].metric, percpu[p][1]);
        if (active[0] && active[1]) printf("@ ratio_%s %.6g\n", bs_phases[p].metric, res[p][0] / res[p][1]);
    }
    for (int k = 0; k < 2; k++)
        if (active[k]) bs_close(&side[k]);
    /* Rows per CPU-second (user + system of this process, incl. armdb's
     * threads): robust when other processes steal the CPU, blind to waiting. */
    printf("\n  %-40s %14s %14s %9s\n", "per CPU-second (info)", "armdb", "native", "ratio");
    for (int p = 0; p < BS_P_COUNT; p++) {
        double r = percpu[p][1] > 0 ? percpu[p][0] / percpu[p][1] : 0;
        printf("  %-40s %14.0f %14.0f %8.2fx\n", bs_phases[p].label, percpu[p][0], percpu[p][1], r);
        if (active[0] && active[1]) printf("@ ratio_%s_percpu %.6g\n", bs_phases[p].metric, r);
    }

    int nmiss = 0;
    if (active[0] && active[1]) {
        printf("\ntargets (armdb/native, n=%zu):\n", o.n);
        for (int p = 0; p < BS_P_COUNT; p++) {
            if (bs_phases[p].target <= 0) continue;
            double ratio = res[p][0] / res[p][1];
            int pass = ratio >= bs_phases[p].target;
            nmiss += !pass;
            printf("  %-40s %8.2fx >= %4.1fx   %s\n", bs_phases[p].label, ratio, bs_phases[p].target,
                   pass ? "PASS" : "MISS");
        }
        printf("  load average at end: %.2f\n", bench_loadavg(la));
        printf("%s: %d target(s) missed\n", nmiss ? "MISS" : "PASS", nmiss);
    } else {
        printf("\n(one side only: no ratios or targets)\n");
    }

    bs_data_free(&d);
    if (!o.keep) {
        for (int i = 0; i < 3; i++) bench_rm_rf(path[i]);
        char extra[4300];
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
