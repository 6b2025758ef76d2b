/* SPDX-License-Identifier: MIT */
/*
 * test_sql_kill.c: the kill test through SQL. A forked child opens its own
 * connection (after the fork) and commits transactions over two armdb tables
 * with different shard counts (`big`, which a transaction may fill with
 * thousands of rows so that its commit takes a while, and `small`) and a
 * native table `n`, telling the parent over a pipe when it starts each
 * COMMIT and when the COMMIT has returned. The parent SIGKILLs it at a random
 * moment (a delay, a number of acknowledged commits, or a little after a
 * COMMIT started; sometimes while the child is still opening, recovering and
 * resolving in-doubt transactions). After each kill the parent reopens the
 * database and checks:
 *
 *   - PRAGMA integrity_check is ok and armdb_check finds nothing on either
 *     armdb table;
 *   - every transaction is whole or absent: all the rows it wrote, in all
 *     the tables it wrote, or none of them (and so are the deletes a
 *     transaction makes of an earlier one's rows, and its overwrite of each
 *     table's "last writer" row 0);
 *   - every acknowledged transaction is there (unless a later one that is
 *     there deleted it); the one whose COMMIT was running may be either; a
 *     transaction whose COMMIT never started is absent;
 *   - opening each armdb directory with the engine API afterwards finds no
 *     transaction in doubt (the SQL connection resolved them) and no damage.
 *
 * A round's transactions are all of one kind, or mixed: two armdb tables and
 * the native one (decision slots), one armdb table alone (the hot path: the
 * engine's prepare record decides), or one armdb table and the native one.
 * The native side runs in rollback-journal mode with synchronous=FULL (the
 * sqlite3 shell's defaults) or in WAL (synchronous FULL or NORMAL); the armdb
 * tables of a world are sync='full' or sync='normal' (both must keep every
 * acknowledged commit across a process kill). A world (database file plus
 * two armdb directories) lives for several rounds, so history accumulates:
 * hot journals and WALs, torn tails, in-doubt transactions, rows reused.
 *
 * ARM_TEST_SEED reproduces the configurations and transactions (the kill
 * timing is the scheduler's); ARM_TEST_SCALE multiplies the rounds.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../common/arm_alloc.h"
#include "../util.h"
#include "sql_util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_tmp[512];

#define SK_IDS_MAX 4096        /* transaction ids of one world */
#define SK_ROUND_IDS 600       /* ids one round may use, at most */
#define SK_STRIDE 10000        /* big's key of row j of transaction t: t * SK_STRIDE + j */
#define SK_ROWS_MAX 2500       /* rows of big one transaction writes, at most */
#define SK_VICTIM_WINDOW 8     /* a transaction may delete one of the 8 before it */
#define SK_WORLD_ROWS_MAX 30000u
#define SK_VALUE_MAX 320
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SK_ROUNDS 30           /* sanitized builds run (and fork) many times slower */
#else
#define SK_ROUNDS 150
#endif

enum { K_THREE, K_ONE, K_ONE_NATIVE, K_KINDS };            /* what a transaction writes */
enum { M_THREE, M_ONE, M_ONE_NATIVE, M_MIXED, M_MODES };   /* a round's transactions */
enum { J_DELETE, J_WAL_FULL, J_WAL_NORMAL, J_MODES };      /* the native side */
enum { KILL_TIME, KILL_EARLY, KILL_ACKS, KILL_COMMIT, KILL_MODES };
enum { T_BIG, T_SMALL, T_NATIVE };
enum { R_COMMIT_START = 1, R_ACK = 2, R_ERROR = 3 };       /* pipe records */

static const char *const kind_name[K_KINDS] = {"big+small+native", "big alone",
                                               "big+native"};
static const char *const mode_name[M_MODES] = {"two armdb + native", "one armdb",
                                               "one armdb + native", "mixed"};
static const char *const journal_name[J_MODES] = {"DELETE/FULL", "WAL/FULL", "WAL/NORMAL"};

typedef struct sk_plan {
    uint8_t kind;     /* K_* */
    uint32_t nrows;   /* rows of big */
    uint32_t victim;  /* an earlier transaction whose rows it deletes (0: none) */
} sk_plan;

typedef struct sk_world {
    unsigned index;
    char dir[600];
    char db[700];
    char big_dir[700], small_dir[700];
    int full_big, full_small;   /* sync='full' (else 'normal') */
    unsigned shards_big, shards_small;
    sk_plan plan[SK_IDS_MAX];
    uint8_t committed[SK_IDS_MAX];  /* its commit happened (it may be deleted since) */
    uint8_t present[SK_IDS_MAX];    /* its rows are there */
    uint32_t deleted_by[SK_IDS_MAX];
    uint32_t next_id;
    unsigned rounds_left;
} sk_world;

typedef struct sk_round {
    unsigned number;
    int mode, journal;
    uint32_t start, end; /* ids start..end-1 may be written */
} sk_round;

typedef struct sk_stats {
    unsigned rounds, worlds, killed, finished, acks, commits_running_at_kill;
    unsigned running_present[K_KINDS], running_absent[K_KINDS];
    unsigned mode_rounds[M_MODES], journal_rounds[J_MODES], kill_rounds[KILL_MODES];
    unsigned sync_rounds[2];
    unsigned long long rows_checked;
} sk_stats;

static uint64_t g_seed;

/* ------------------------------------------------------------ values */
/* The text of a row: names its table, transaction and row, then letters
 * derived from them. */
static size_t sk_value(char *out, int table, uint32_t t, uint32_t j) {
    uint64_t key[2] = {(uint64_t)table << 32 | t, j};
    uint64_t h = util_hash(key, sizeof key);
    size_t len = 16 + (size_t)(h % (table == T_BIG ? 280 : 60));
    int n = snprintf(out, SK_VALUE_MAX, "%c%u.%u:", "bsn"[table], t, j);
    uint8_t fill[SK_VALUE_MAX];
    util_fill(fill, len, h, t);
    for (size_t i = (size_t)n; i < len; i++) out[i] = (char)('a' + fill[i] % 26);
    out[len] = '\0';
    return len;
}

/* ------------------------------------------------------------ plans */
/* A transaction's plan is a function of the seed, the round and its id, and
 * of the plans before it: the child makes them as it goes, the parent makes
 * the same ones again from the same world state. Ids below the round's
 * start are there when present[] says so; ids of the round before `id` were
 * committed by the child before it got to `id`. */
static void sk_plan_make(sk_world *w, const sk_round *r, uint32_t id) {
    util_rng g;
    util_rng_seed(&g, g_seed ^ (uint64_t)w->index << 48 ^ (uint64_t)r->number << 32 ^ id);
    sk_plan *p = &w->plan[id];
    memset(p, 0, sizeof *p);
    p->kind = r->mode == M_MIXED ? (uint8_t)util_rng_below(&g, K_KINDS) : (uint8_t)r->mode;
    unsigned x = (unsigned)util_rng_below(&g, 100);
    if (x < 65)
        p->nrows = 1 + (uint32_t)util_rng_below(&g, 10);
    else if (x < 93)
        p->nrows = 20 + (uint32_t)util_rng_below(&g, 181);
    else
        p->nrows = 800 + (uint32_t)util_rng_below(&g, SK_ROWS_MAX - 800 + 1);
    if (util_rng_below(&g, 5) != 0) return;
    uint32_t skip = (uint32_t)util_rng_below(&g, 4);
    for (uint32_t c = id > 1 + skip ? id - 1 - skip : 0; c >= 1 && id - c <= SK_VICTIM_WINDOW; c--) {
        int alive = c >= r->start ? 1 : w->present[c];
        if (!alive || w->deleted_by[c] || w->plan[c].kind != p->kind) continue;
        p->victim = c;
        w->deleted_by[c] = id;
        break;
    }
}

/* Forget the plan of an id that did not commit (it is used again). */
static void sk_plan_drop(sk_world *w, uint32_t id) {
    sk_plan *p = &w->plan[id];
    if (p->victim && w->deleted_by[p->victim] == id) w->deleted_by[p->victim] = 0;
    memset(p, 0, sizeof *p);
}

static int sk_writes(int kind, int table) {
    return table == T_BIG || (table == T_SMALL && kind == K_THREE) ||
           (table == T_NATIVE && kind != K_ONE);
}

/* ------------------------------------------------------------ child */
typedef struct sk_child {
    int fd;
    sqlite3 *db;
    sqlite3_stmt *ins[3], *last[3], *del[3];
} sk_child;

static void sk_send(int fd, uint32_t type, uint32_t id, uint32_t arg) {
    uint32_t rec[3] = {type, id, arg};
    if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec) _exit(5);
}

static void sk_child_fail(sk_child *c, const char *what, int rc) {
    char buf[600];
    int n = snprintf(buf, sizeof buf, "child: %s: %s: \"%s\"\n", what, sqlite3_errstr(rc),
                     c->db ? sqlite3_errmsg(c->db) : "");
    if (n > 0 && write(2, buf, (size_t)n) < 0) _exit(4);
    sk_send(c->fd, R_ERROR, 0, (uint32_t)rc);
    _exit(3);
}

static void sk_step(sk_child *c, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) sk_child_fail(c, what, sqlite3_extended_errcode(c->db));
    sqlite3_reset(st);
}

static void sk_exec(sk_child *c, const char *sql) {
    int rc = sqlu_exec(c->db, sql);
    if (rc != SQLITE_OK) sk_child_fail(c, sql, rc);
}

static void sk_write_table(sk_child *c, const sk_plan *p, int table, uint32_t id) {
    static const char *const what[3][3] = {{"insert big", "last big", "delete big"},
                                           {"insert small", "last small", "delete small"},
                                           {"insert n", "last n", "delete n"}};
    char v[SK_VALUE_MAX + 1];
    uint32_t rows = table == T_BIG ? p->nrows : 1;
    for (uint32_t j = 0; j < rows; j++) {
        size_t len = sk_value(v, table, id, j);
        int64_t key = table == T_BIG ? (int64_t)id * SK_STRIDE + j : (int64_t)id;
        sqlite3_bind_int64(c->ins[table], 1, key);
        sqlite3_bind_text(c->ins[table], 2, v, (int)len, SQLITE_STATIC);
        sk_step(c, c->ins[table], what[table][0]);
    }
    snprintf(v, sizeof v, "last:%u", id);
    sqlite3_bind_text(c->last[table], 1, v, -1, SQLITE_STATIC);
    sk_step(c, c->last[table], what[table][1]);
    if (p->victim) {
        int64_t lo = table == T_BIG ? (int64_t)p->victim * SK_STRIDE : (int64_t)p->victim;
        int64_t hi = table == T_BIG ? lo + SK_STRIDE : lo + 1;
        sqlite3_bind_int64(c->del[table], 1, lo);
        sqlite3_bind_int64(c->del[table], 2, hi);
        sk_step(c, c->del[table], what[table][2]);
    }
}

static void sk_child_main(sk_world *w, const sk_round *r, int fd) {
    static const char *const journal_sql[J_MODES] = {
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL",
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"};
    static const char *const tables[3] = {"big", "small", "n"};
    sk_child c;
    memset(&c, 0, sizeof c);
    c.fd = fd;
    int rc = sqlu_open(w->db, &c.db);
    if (rc != SQLITE_OK) sk_child_fail(&c, "open", rc);
    sk_exec(&c, journal_sql[r->journal]);
    for (int t = 0; t < 3; t++) {
        char sql[3][200];
        sqlite3_stmt **st[3] = {&c.ins[t], &c.last[t], &c.del[t]};
        snprintf(sql[0], sizeof sql[0], "INSERT INTO %s(id, v) VALUES (?1, ?2)", tables[t]);
        snprintf(sql[1], sizeof sql[1], "INSERT OR REPLACE INTO %s(id, v) VALUES (0, ?1)",
                 tables[t]);
        snprintf(sql[2], sizeof sql[2], "DELETE FROM %s WHERE id >= ?1 AND id < ?2", tables[t]);
        for (int k = 0; k < 3; k++) {
            rc = sqlite3_prepare_v2(c.db, sql[k], -1, st[k], NULL);
            if (rc != SQLITE_OK) sk_child_fail(&c, sql[k], sqlite3_extended_errcode(c.db));
        }
    }
    for (uint32_t id = r->start; id < r->end; id++) {
        sk_plan_make(w, r, id);
        const sk_plan *p = &w->plan[id];
        sk_exec(&c, "BEGIN");
        for (int t = 0; t < 3; t++)
            if (sk_writes(p->kind, t)) sk_write_table(&c, p, t, id);
        sk_send(fd, R_COMMIT_START, id, p->nrows);
        sk_exec(&c, "COMMIT");
        sk_send(fd, R_ACK, id, 0);
    }
    for (int t = 0; t < 3; t++) {
        sqlite3_finalize(c.ins[t]);
        sqlite3_finalize(c.last[t]);
        sqlite3_finalize(c.del[t]);
    }
    if (sqlite3_close(c.db) != SQLITE_OK) _exit(6);
    _exit(0);
}

/* ------------------------------------------------------------ parent: run */
typedef struct sk_outcome {
    uint32_t acks;        /* ids start..start+acks-1 acknowledged, in order */
    int running;          /* the COMMIT of id start+acks had started */
    int killed;
    int kill_mode;
} sk_outcome;

/* Fork the child, kill it per the round's plan, collect what it said. */
static void sk_run_child(sk_world *w, const sk_round *r, sk_outcome *out) {
    memset(out, 0, sizeof *out);
    int pfd[2];
    ARM_CHECK(pipe(pfd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        sk_child_main(w, r, pfd[1]);
        _exit(0);
    }
    close(pfd[1]);

    int mode = (int)(harness_rand() % KILL_MODES);
    out->kill_mode = mode;
    long delay_us = mode == KILL_EARLY ? (long)(harness_rand() % 8000)
                                       : (long)(harness_rand() % 250000);
    uint32_t target = mode == KILL_COMMIT ? (uint32_t)(harness_rand() % 8)
                                          : 1 + (uint32_t)(harness_rand() % 30);
    static const uint32_t min_rows_of[3] = {1, 20, 800}; /* KILL_COMMIT: any, a big, a huge one */
    uint32_t min_rows = min_rows_of[harness_rand() % 3];
    long commit_delay_us = (long)(harness_rand() % 4000);
    int by_time = mode == KILL_TIME || mode == KILL_EARLY;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t start_ms = util_now_ms();

    int child_error = 0;
    uint8_t buf[4096];
    size_t have = 0;
    for (;;) {
        if (!out->killed && by_time) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long el = (long)(now.tv_sec - t0.tv_sec) * 1000000L + (now.tv_nsec - t0.tv_nsec) / 1000;
            if (el >= delay_us) {
                kill(pid, SIGKILL);
                out->killed = 1;
            }
        }
        if (!out->killed && util_now_ms() - start_ms > 15000) { /* a stuck child: stop it */
            fprintf(stderr, "round %u: no kill point reached in 15 s; killing\n", r->number);
            kill(pid, SIGKILL);
            out->killed = 1;
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        int pr = poll(&p, 1, out->killed ? -1 : by_time ? 1 : 100);
        if (pr < 0 && errno == EINTR) continue;
        ARM_CHECK(pr >= 0);
        if (pr == 0) continue;
        ssize_t n = read(pfd[0], buf + have, sizeof buf - have);
        if (n < 0 && errno == EINTR) continue;
        ARM_CHECK(n >= 0);
        if (n == 0) break; /* EOF: the child is gone */
        have += (size_t)n;
        size_t off = 0;
        for (; off + 12 <= have; off += 12) {
            uint32_t rec[3];
            memcpy(rec, buf + off, 12);
            if (rec[0] == R_ERROR) {
                child_error = 1;
                fprintf(stderr, "round %u: the child failed: %s\n", r->number,
                        sqlite3_errstr((int)rec[2]));
                continue;
            }
            ARM_CHECK(rec[1] == r->start + out->acks); /* in order, one at a time */
            if (rec[0] == R_COMMIT_START) {
                out->running = 1;
                if (!out->killed && mode == KILL_COMMIT && out->acks >= target &&
                    rec[2] >= min_rows) {
                    if (commit_delay_us) usleep((useconds_t)commit_delay_us);
                    kill(pid, SIGKILL);
                    out->killed = 1;
                }
            } else {
                ARM_CHECK(rec[0] == R_ACK && out->running);
                out->running = 0;
                out->acks++;
                if (!out->killed && mode == KILL_ACKS && out->acks >= target) {
                    kill(pid, SIGKILL);
                    out->killed = 1;
                }
            }
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    close(pfd[0]);
    ARM_CHECK(have == 0);
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    ARM_CHECK(!child_error);
    if (WIFSIGNALED(st)) {
        ARM_CHECK(WTERMSIG(st) == SIGKILL);
        out->killed = 1;
    } else {
        ARM_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        ARM_CHECK(r->start + out->acks == r->end); /* it finished the round */
        out->killed = 0;
    }
}

/* ------------------------------------------------------------ parent: check */
typedef struct sk_seen {
    uint32_t big_rows[SK_IDS_MAX];
    uint8_t small[SK_IDS_MAX], native[SK_IDS_MAX];
    uint32_t last[3];     /* the id in each table's row 0 (0: no row) */
    uint64_t rows[3];     /* rows read per table */
} sk_seen;

static void sk_fail_row(const char *table, int64_t key, const char *why, const char *v) {
    fprintf(stderr, "table %s, row %lld: %s (value \"%.60s\")\n", table, (long long)key, why,
            v ? v : "(null)");
    ARM_CHECK(!"every row is one a transaction wrote, with its value");
}

/* Read every row of one table: each must be a row some planned transaction
 * wrote, with exactly its value. */
static void sk_read_table(sqlite3 *db, const sk_world *w, uint32_t max_id, int table,
                          sk_seen *s) {
    static const char *const sql[3] = {"SELECT id, v FROM big", "SELECT id, v FROM small",
                                       "SELECT id, v FROM n"};
    static const char *const names[3] = {"big", "small", "n"};
    sqlite3_stmt *st = sqlu_prepare_ok(db, sql[table]);
    int rc;
    char want[SK_VALUE_MAX + 1];
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t key = sqlite3_column_int64(st, 0);
        const char *v = (const char *)sqlite3_column_text(st, 1);
        s->rows[table]++;
        if (key == 0) {
            unsigned last = 0;
            if (v == NULL || sscanf(v, "last:%u", &last) != 1 || last == 0 || last > max_id)
                sk_fail_row(names[table], key, "a last-writer row no transaction wrote", v);
            s->last[table] = last;
            continue;
        }
        int64_t t = table == T_BIG ? key / SK_STRIDE : key;
        uint32_t j = table == T_BIG ? (uint32_t)(key % SK_STRIDE) : 0;
        if (key < 0 || t < 1 || t > (int64_t)max_id)
            sk_fail_row(names[table], key, "no transaction wrote this key", v);
        const sk_plan *p = &w->plan[t];
        if (!sk_writes(p->kind, table) || (table == T_BIG && j >= p->nrows))
            sk_fail_row(names[table], key, "its transaction did not write this row", v);
        sk_value(want, table, (uint32_t)t, j);
        if (v == NULL || strcmp(v, want) != 0)
            sk_fail_row(names[table], key, "the value is not the one written", v);
        if (table == T_BIG) s->big_rows[t]++;
        if (table == T_SMALL) s->small[t] = 1;
        if (table == T_NATIVE) s->native[t] = 1;
    }
    if (rc != SQLITE_DONE)
        fprintf(stderr, "reading %s: %s\n", names[table], sqlite3_errmsg(db));
    ARM_CHECK(rc == SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Expected presence of every id when the running commit (if any) did or did
 * not happen. */
static void sk_expect(const sk_world *w, const sk_round *r, const sk_outcome *o, int with_running,
                      uint8_t *pres, uint8_t *comm) {
    uint32_t last = r->start + o->acks + (with_running ? 1 : 0); /* ids below it committed */
    for (uint32_t t = 1; t < SK_IDS_MAX; t++) {
        pres[t] = t < r->start ? w->present[t] : t < last;
        comm[t] = t < r->start ? w->committed[t] : t < last;
    }
    for (uint32_t t = r->start; t < last; t++)
        if (w->plan[t].victim) pres[w->plan[t].victim] = 0;
}

/* The highest committed id that writes `table` (0: none). */
static uint32_t sk_last_writer(const sk_world *w, const uint8_t *comm, uint32_t max_id, int table) {
    for (uint32_t t = max_id; t >= 1; t--)
        if (comm[t] && sk_writes(w->plan[t].kind, table)) return t;
    return 0;
}

/* Does what was read match `pres`? With `explain`, say where not. */
static int sk_matches(const sk_world *w, const sk_seen *s, const uint8_t *pres,
                      const uint8_t *comm, uint32_t max_id, int explain) {
    int ok = 1, shown = 0;
    for (uint32_t t = 1; t <= max_id; t++) {
        int here = s->big_rows[t] > 0;
        if (here == pres[t]) continue;
        ok = 0;
        if (explain && shown++ < 12)
            fprintf(stderr, "  txn %u (%s, %u rows%s): %s, expected %s\n", t,
                    kind_name[w->plan[t].kind], w->plan[t].nrows,
                    w->deleted_by[t] ? ", deleted by a later one" : "", here ? "present" : "absent",
                    pres[t] ? "present" : "absent");
    }
    for (int table = 0; table < 3; table++) {
        uint32_t want = sk_last_writer(w, comm, max_id, table);
        if (s->last[table] == want) continue;
        ok = 0;
        if (explain)
            fprintf(stderr, "  table %d: last writer row says %u, expected %u\n", table,
                    s->last[table], want);
    }
    return ok;
}

/* Every transaction whole or absent in all the tables it writes. */
static void sk_check_whole(const sk_world *w, const sk_seen *s, uint32_t max_id) {
    for (uint32_t t = 1; t <= max_id; t++) {
        const sk_plan *p = &w->plan[t];
        int want_small = p->kind == K_THREE, want_native = p->kind != K_ONE;
        int whole = s->big_rows[t] == p->nrows && s->small[t] == want_small &&
                    s->native[t] == want_native;
        int absent = s->big_rows[t] == 0 && !s->small[t] && !s->native[t];
        if (whole || absent) continue;
        fprintf(stderr, "txn %u (%s): big has %u of its %u rows, small %s its row, n %s its row\n",
                t, kind_name[p->kind], s->big_rows[t], p->nrows, s->small[t] ? "has" : "lacks",
                s->native[t] ? "has" : "lacks");
        ARM_CHECK(!"every transaction is whole or absent across all its tables");
    }
}

static void sk_report(void *ctx, const char *path, uint64_t off, const char *msg) {
    (void)ctx;
    fprintf(stderr, "  engine check: %s at %llu: %s\n", path, (unsigned long long)off, msg);
}

/* The armdb directory after the SQL connection has gone: nothing in doubt,
 * no damage, the number of keys SQL saw. */
static void sk_check_engine(const char *dir, uint64_t want_keys) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 0; /* as stored */
    o.read_only = 1;
    o.create_if_missing = 0;
    arm_engine *e = util_open_ok(dir, &o);
    arm_indoubt *list = NULL;
    size_t n = 0;
    UTIL_CHECK_RC(e, arm_engine_indoubt_list(e, &list, &n), ARM_OK);
    if (n) fprintf(stderr, "%s: %zu transactions still in doubt\n", dir, n);
    ARM_CHECK(n == 0);
    arm_free(list);
    uint64_t problems = 99;
    UTIL_CHECK_RC(e, arm_engine_check(e, sk_report, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems == 0);
    if (arm_engine_count(e) != want_keys)
        fprintf(stderr, "%s: %llu keys, SQL read %llu rows\n", dir,
                (unsigned long long)arm_engine_count(e), (unsigned long long)want_keys);
    ARM_CHECK(arm_engine_count(e) == want_keys);
    util_close_ok(e);
}

static sk_seen g_seen;
static uint8_t g_pres[2][SK_IDS_MAX], g_comm[2][SK_IDS_MAX];

static void sk_check(sk_world *w, const sk_round *r, const sk_outcome *o, sk_stats *stats) {
    /* the parent makes the child's plans again, up to the one it was at */
    uint32_t max_id = r->start + o->acks;
    if (max_id >= r->end) max_id = r->end - 1;
    for (uint32_t t = r->start; t <= max_id; t++) sk_plan_make(w, r, t);

    sqlite3 *db = sqlu_open_ok(w->db);
    char msg[4096];
    int ok = sqlu_integrity_ok(db, msg, sizeof msg);
    if (!ok) fprintf(stderr, "integrity_check: %s\n", msg);
    ARM_CHECK(ok);
    memset(&g_seen, 0, sizeof g_seen);
    for (int table = 0; table < 3; table++) sk_read_table(db, w, max_id, table, &g_seen);
    /* armdb_check after the reads: the connection has resolved any in-doubt
     * transaction by then */
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "small" : "big";
        ok = sqlu_armdb_check_ok(db, name, msg, sizeof msg);
        if (!ok) fprintf(stderr, "armdb_check('%s'): %s\n", name, msg);
        ARM_CHECK(ok);
    }
    sqlu_close_ok(db);
    stats->rows_checked += g_seen.rows[0] + g_seen.rows[1] + g_seen.rows[2];

    sk_check_whole(w, &g_seen, max_id);
    int running = o->running && r->start + o->acks < r->end;
    sk_expect(w, r, o, 0, g_pres[0], g_comm[0]);
    sk_expect(w, r, o, 1, g_pres[1], g_comm[1]);
    int without = sk_matches(w, &g_seen, g_pres[0], g_comm[0], max_id, 0);
    int with = running && sk_matches(w, &g_seen, g_pres[1], g_comm[1], max_id, 0);
    if (!without && !with) {
        fprintf(stderr, "round %u (%s, %s): %u acknowledged from txn %u; the COMMIT of txn %u "
                "%s; the state is neither the acknowledged one nor that plus txn %u:\n",
                r->number, mode_name[r->mode], journal_name[r->journal], o->acks, r->start,
                r->start + o->acks, o->running ? "was running" : "had not started",
                r->start + o->acks);
        fprintf(stderr, " without it:\n");
        sk_matches(w, &g_seen, g_pres[0], g_comm[0], max_id, 1);
        if (running) {
            fprintf(stderr, " with it:\n");
            sk_matches(w, &g_seen, g_pres[1], g_comm[1], max_id, 1);
        }
        ARM_CHECK(!"acknowledged commits present, the running one whole or absent");
    }
    if (running) {
        stats->commits_running_at_kill++;
        int kind = w->plan[r->start + o->acks].kind;
        if (with && !without) stats->running_present[kind]++;
        else stats->running_absent[kind]++;
    }
    int chosen = with && !without;
    memcpy(w->present, g_pres[chosen], sizeof w->present);
    memcpy(w->committed, g_comm[chosen], sizeof w->committed);
    w->next_id = r->start + o->acks + (uint32_t)chosen;
    for (uint32_t t = w->next_id; t <= max_id; t++) sk_plan_drop(w, t);

    /* the engines agree, with nothing left in doubt */
    uint64_t keys_big = g_seen.rows[T_BIG], keys_small = g_seen.rows[T_SMALL];
    sk_check_engine(w->big_dir, keys_big);
    sk_check_engine(w->small_dir, keys_small);
}

/* ------------------------------------------------------------ worlds */
static void sk_world_new(sk_world *w, unsigned index, util_rng *g) {
    memset(w, 0, sizeof *w);
    w->index = index;
    snprintf(w->dir, sizeof w->dir, "%s/w%u", g_tmp, index);
    ARM_CHECK(mkdir(w->dir, 0755) == 0);
    snprintf(w->db, sizeof w->db, "%s/test.db", w->dir);
    snprintf(w->big_dir, sizeof w->big_dir, "%s/big", w->dir);
    snprintf(w->small_dir, sizeof w->small_dir, "%s/small", w->dir);
    w->full_big = (int)(index % 2);
    w->full_small = (int)(index / 2 % 2);
    w->shards_big = 3 + (unsigned)util_rng_below(g, 2);
    w->shards_small = 1 + (unsigned)util_rng_below(g, 2);
    w->next_id = 1;
    w->rounds_left = 3 + (unsigned)util_rng_below(g, 5);
    const char *mfs = util_rng_below(g, 2) ? ", max_file_size='1MB'" : "";
    sqlite3 *db = sqlu_open_ok(w->db);
    SQLU_OK(db, sqlu_execf(db, "CREATE VIRTUAL TABLE big USING armdb(id INTEGER PRIMARY KEY, "
                           "v TEXT, dir=%Q, shards=%u, sync='%s'%s)", w->big_dir, w->shards_big,
                           w->full_big ? "full" : "normal", mfs));
    SQLU_OK(db, sqlu_execf(db, "CREATE VIRTUAL TABLE small USING armdb(id INTEGER PRIMARY KEY, "
                           "v TEXT, dir=%Q, shards=%u, sync='%s')", w->small_dir,
                           w->shards_small, w->full_small ? "full" : "normal"));
    SQLU_OK(db, sqlu_exec(db, "CREATE TABLE n(id INTEGER PRIMARY KEY, v TEXT)"));
    sqlu_close_ok(db);
}

static uint64_t sk_world_rows(const sk_world *w) {
    uint64_t n = 0;
    for (uint32_t t = 1; t < w->next_id; t++)
        if (w->present[t]) n += w->plan[t].nrows;
    return n;
}

static void test_kill_rounds(void) {
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "sqlkill");
    g_seed = harness_seed;
    fprintf(stderr, "sql kill test: seed %llu (ARM_TEST_SEED reproduces the transactions and "
            "configurations; kill timing varies)\n", (unsigned long long)harness_seed);
    util_rng g;
    util_rng_seed(&g, g_seed);
    sk_world *w = calloc(1, sizeof *w);
    ARM_CHECK(w != NULL);
    sk_stats st;
    memset(&st, 0, sizeof st);
    uint64_t t0 = util_now_ms();
    const unsigned rounds = SK_ROUNDS * (unsigned)util_scale();
    unsigned windex = 0;
    for (unsigned n = 0; n < rounds; n++) {
        if (n == 0 || w->rounds_left == 0 || w->next_id + SK_ROUND_IDS >= SK_IDS_MAX ||
            sk_world_rows(w) > SK_WORLD_ROWS_MAX) {
            if (n) util_rmrf(w->dir);
            sk_world_new(w, windex++, &g);
            st.worlds++;
        }
        w->rounds_left--;
        sk_round r;
        r.number = n;
        r.mode = (int)util_rng_below(&g, M_MODES);
        r.journal = (int)util_rng_below(&g, J_MODES);
        r.start = w->next_id;
        r.end = r.start + SK_ROUND_IDS;
        sk_outcome o;
        sk_run_child(w, &r, &o);
        st.rounds++;
        st.mode_rounds[r.mode]++;
        st.journal_rounds[r.journal]++;
        st.kill_rounds[o.kill_mode]++;
        st.sync_rounds[w->full_big]++;
        st.acks += o.acks;
        if (o.killed) st.killed++;
        else st.finished++;
        sk_check(w, &r, &o, &st);
    }
    free(w);
    unsigned rp = 0, ra = 0;
    for (int k = 0; k < K_KINDS; k++) rp += st.running_present[k], ra += st.running_absent[k];
    fprintf(stderr, "sql kill test: %u rounds in %u worlds, %u killed, %u finished, %u commits "
            "acknowledged, %llu rows checked; killed during a COMMIT %u times (after it: present "
            "%u, absent %u; by kind present/absent: %s %u/%u, %s %u/%u, %s %u/%u); rounds by mode "
            "%u/%u/%u/%u, by journal %u/%u/%u, big sync normal/full %u/%u, by kill %u/%u/%u/%u; "
            "%.1f s\n", st.rounds, st.worlds, st.killed, st.finished, st.acks, st.rows_checked,
            st.commits_running_at_kill, rp, ra, kind_name[0], st.running_present[0],
            st.running_absent[0], kind_name[1], st.running_present[1], st.running_absent[1],
            kind_name[2], st.running_present[2], st.running_absent[2], st.mode_rounds[0],
            st.mode_rounds[1], st.mode_rounds[2], st.mode_rounds[3], st.journal_rounds[0],
            st.journal_rounds[1], st.journal_rounds[2], st.sync_rounds[0], st.sync_rounds[1],
            st.kill_rounds[0], st.kill_rounds[1], st.kill_rounds[2], st.kill_rounds[3],
            (double)(util_now_ms() - t0) / 1000.0);
    ARM_CHECK(st.acks > st.rounds); /* the children made progress */
    ARM_CHECK(st.killed > 0);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    signal(SIGPIPE, SIG_IGN);
    sqlu_register();
    UTIL_CASE("SIGKILL during SQL transactions over two armdb tables and a native one",
              test_kill_rounds());
    return harness_done();
}
