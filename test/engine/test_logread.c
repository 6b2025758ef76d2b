/* SPDX-License-Identifier: MIT */
/*
 * test_logread.c: the replication seams of the engine. Log readers (catch-up
 * across file rotations and the write buffer, exact resume from positions,
 * positions that are not in the log refused), what a reader never ships
 * (prepared-then-discarded, undecided, in doubt: waiting until resolved),
 * commit order across shards under concurrent writers (a follower model fed
 * by a reader must end equal to the engine), commit watches, the consistent
 * cut (snapshot + positions) under writers, and the follower side: apply
 * with positions stored in the same batch (restored by recovery, atomic
 * under SIGKILL), follower writes refused, and a whole leader -> follower
 * copy through reader and apply with a follower restart in the middle.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../engine/engine_int.h"
#include "../../common/arm_alloc.h"
#include "../util.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
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

static void opts_small(arm_engine_options *o) {
    arm_engine_options_init(o);
    o->compaction = 0; /* readers start at the origin: the log keeps its first files */
    o->shard_count = 4;
    o->max_file_size = 64 * 1024; /* many rotations */
    o->max_value_size = 16 * 1024;
    o->sync_mode = ARM_SYNC_OFF;  /* recent writes stay in the write buffer */
}

static void put_kv(arm_engine *e, const char *k, const char *v) {
    UTIL_CHECK_RC(e, arm_engine_put(e, UTIL_S(k), UTIL_S(v)), ARM_OK);
}

/* Apply a transaction read from a log to a model. */
static void model_apply(util_model *m, const arm_log_txn *t) {
    for (size_t i = 0; i < t->nops; i++) {
        const arm_log_op *op = &t->ops[i];
        if (op->del)
            util_model_del(m, op->key.ptr, op->key.len);
        else
            util_model_put(m, op->key.ptr, op->key.len, op->value.ptr, op->value.len);
    }
}

/* Read everything ready; returns the number of transactions. Checks that
 * sequence numbers only grow (there is nothing undecided in these runs). */
static size_t drain(arm_engine *e, arm_log_reader *r, util_model *m, uint64_t *last_seq) {
    size_t n = 0;
    arm_log_txn t;
    int rc;
    while ((rc = arm_log_reader_next(r, &t)) == ARM_OK) {
        if (last_seq) {
            ARM_CHECK(t.seq > *last_seq);
            *last_seq = t.seq;
        }
        ARM_CHECK(t.nops >= 1 && t.shard < e->shard_count);
        ARM_CHECK(t.pos.seq == t.seq && t.pos.fid != 0 && t.pos.len >= 20);
        model_apply(m, &t);
        n++;
    }
    UTIL_CHECK_RC(e, rc, ARM_NOTFOUND);
    return n;
}

/* A mixed workload: puts, overwrites, deletes, batches. */
static void workload(arm_engine *e, util_rng *g, int n, int keys) {
    char k[32], v[300];
    for (int i = 0; i < n; i++) {
        int kind = (int)util_rng_below(g, 10);
        snprintf(k, sizeof k, "key%05d", (int)util_rng_below(g, (uint64_t)keys));
        int vl = snprintf(v, sizeof v, "v%d-", i);
        size_t fill = util_rng_below(g, 200);
        memset(v + vl, 'a' + (int)(i % 26), fill);
        v[vl + fill] = 0;
        if (kind < 6) {
            put_kv(e, k, v);
        } else if (kind < 8) {
            int rc = arm_engine_delete(e, UTIL_S(k));
            ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
        } else {
            arm_batch *b = NULL;
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
            int m = 2 + (int)util_rng_below(g, 6);
            for (int j = 0; j < m; j++) {
                snprintf(k, sizeof k, "key%05d", (int)util_rng_below(g, (uint64_t)keys));
                if (util_rng_below(g, 4) == 0)
                    ARM_CHECK_RC(arm_engine_batch_delete(b, UTIL_S(k)), ARM_OK);
                else
                    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S(k), UTIL_S(v)), ARM_OK);
            }
            UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
            arm_engine_batch_free(b);
        }
    }
}

/* ------------------------------------------------------ catch-up, resume */
static void test_catchup_and_stream(void) {
    arm_engine_options o;
    opts_small(&o);
    arm_engine *e = util_open_ok(fresh("lr1"), &o);
    util_rng g;
    util_rng_seed(&g, harness_seed);
    workload(e, &g, 3000, 500);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.files > 8); /* rotations happened */
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    util_model m;
    util_model_init(&m);
    uint64_t last = 0;
    ARM_CHECK(drain(e, r, &m, &last) > 1000);
    util_expect_model(e, &m);
    /* streaming: new writes, still in the write buffer (sync=off) */
    put_kv(e, "fresh1", "in the buffer");
    workload(e, &g, 50, 500);
    ARM_CHECK(drain(e, r, &m, &last) >= 1); /* deletes of absent keys write nothing */
    util_expect_model(e, &m);
    ARM_CHECK(drain(e, r, &m, &last) == 0);
    arm_log_reader_close(r);

    /* resume from positions: the rest, nothing twice */
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    util_model part;
    util_model_init(&part);
    arm_log_txn t;
    uint64_t seen = 0;
    for (int i = 0; i < 700; i++) {
        UTIL_CHECK_RC(e, arm_log_reader_next(r, &t), ARM_OK);
        model_apply(&part, &t);
        seen = t.seq;
    }
    arm_log_pos pos[4];
    for (uint32_t i = 0; i < 4; i++) pos[i] = arm_log_reader_pos(r, i);
    arm_log_reader_close(r);
    workload(e, &g, 200, 500);
    util_close_ok(e); /* and across a reopen */
    e = util_open_ok(g_db, &o);
    UTIL_CHECK_RC(e, arm_log_reader_open(e, pos, &r), ARM_OK);
    uint64_t after = seen;
    drain(e, r, &part, &after);
    util_expect_model(e, &part);
    arm_log_reader_close(r);
    util_model_free(&m);
    util_model_free(&part);
    util_close_ok(e);
}

static void test_bad_positions(void) {
    arm_engine_options o;
    opts_small(&o);
    o.shard_count = 2;
    arm_engine *e = util_open_ok(fresh("lr2"), &o);
    util_rng g;
    util_rng_seed(&g, harness_seed + 1);
    workload(e, &g, 500, 100);
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    arm_log_txn t;
    for (int i = 0; i < 100; i++) UTIL_CHECK_RC(e, arm_log_reader_next(r, &t), ARM_OK);
    arm_log_pos good[2] = {arm_log_reader_pos(r, 0), arm_log_reader_pos(r, 1)};
    arm_log_reader_close(r);
    for (int s = 0; s < 2; s++) ARM_CHECK(good[s].fid != 0); /* both shards got writes */
    struct {
        const char *what;
        int64_t dseq, doff, dlen;
        int fid_other, fid_missing, zero_off;
    } bad[] = {
        {"wrong seq", 1, 0, 0, 0, 0, 0},   {"wrong seq (lower)", -1, 0, 0, 0, 0, 0},
        {"offset inside an entry", 0, -3, 0, 0, 0, 0}, {"wrong length", 0, 0, 4, 0, 0, 0},
        {"past the end", 0, 1 << 24, 0, 0, 0, 0},     {"another shard's file", 0, 0, 0, 1, 0, 0},
        {"a file that is gone", 0, 0, 0, 0, 1, 0},    {"malformed origin", 0, 0, 0, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        arm_log_pos p[2] = {good[0], good[1]};
        p[0].seq = (uint64_t)((int64_t)p[0].seq + bad[i].dseq);
        p[0].off = (uint64_t)((int64_t)p[0].off + bad[i].doff);
        p[0].len = (uint32_t)((int64_t)p[0].len + bad[i].dlen);
        if (bad[i].fid_other) p[0].fid = good[1].fid;
        if (bad[i].fid_missing) p[0].fid = 999999;
        if (bad[i].zero_off) p[0] = (arm_log_pos){0, 5, 0, 0};
        int rc = arm_log_reader_open(e, p, &r);
        if (rc != ARM_RANGE) {
            fprintf(stderr, "%s: %s: open returned %s (seed %llu)\n", harness_case, bad[i].what,
                    arm_rc_str(rc), (unsigned long long)harness_seed);
            exit(1);
        }
        ARM_CHECK(r == NULL);
        ARM_CHECK(strstr(arm_engine_errmsg(e), "shard 0") != NULL);
    }
    /* A batch member that is not its batch's end is no position either. */
    arm_batch *b = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("bm1"), UTIL_S("x")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("bm2"), UTIL_S("y")), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
    arm_engine_batch_free(b);
    UTIL_CHECK_RC(e, arm_log_reader_open(e, good, &r), ARM_OK);
    arm_log_pos end = {0};
    uint32_t sh = 0;
    while (arm_log_reader_next(r, &t) == ARM_OK)
        if (t.nops == 2) {
            end = t.pos;
            sh = t.shard;
        }
    arm_log_reader_close(r);
    ARM_CHECK(end.fid != 0);
    uint32_t last = arm_entry_size(3, 1);
    arm_log_pos p[2] = {good[0], good[1]};
    p[sh] = (arm_log_pos){end.seq, end.off - last, end.fid, last};
    ARM_CHECK_RC(arm_log_reader_open(e, p, &r), ARM_RANGE);
    util_close_ok(e);
}

/* --------------------------------------- what never ships, what waits */
static arm_txn *txn_with(arm_engine *e, const char *k, const char *v) {
    arm_txn *t = NULL;
    UTIL_CHECK_RC(e, arm_txn_begin(e, NULL, 0, &t), ARM_OK);
    ARM_CHECK_RC(arm_txn_put(t, UTIL_S(k), UTIL_S(v)), ARM_OK);
    return t;
}

/* Read all ready transactions into a list of first keys. */
static int keys_ready(arm_log_reader *r, char out[][16], int max) {
    int n = 0;
    arm_log_txn t;
    while (arm_log_reader_next(r, &t) == ARM_OK) {
        ARM_CHECK(n < max);
        snprintf(out[n], 16, "%.*s", (int)t.ops[0].key.len, (const char *)t.ops[0].key.ptr);
        n++;
    }
    return n;
}

static void test_undecided_and_discarded(void) {
    arm_engine_options o;
    opts_small(&o);
    arm_engine *e = util_open_ok(fresh("lr3"), &o);
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    char got[64][16];
    put_kv(e, "a", "1");
    arm_txn *p = txn_with(e, "p", "prepared");
    UTIL_CHECK_RC(e, arm_txn_prepare(p, NULL), ARM_OK);
    put_kv(e, "b", "2"); /* later than the prepared one, in whatever shard */
    put_kv(e, "c", "3");
    int n = keys_ready(r, got, 64);
    ARM_CHECK(n == 1 && strcmp(got[0], "a") == 0); /* everything after "p" waits */
    UTIL_CHECK_RC(e, arm_txn_publish(&p, 1), ARM_OK);
    arm_txn_free(p);
    n = keys_ready(r, got, 64);
    ARM_CHECK(n == 3 && strcmp(got[0], "p") == 0 && strcmp(got[1], "b") == 0 &&
              strcmp(got[2], "c") == 0);

    /* prepared then discarded: never; un-prepared and prepared again: once */
    arm_txn *d = txn_with(e, "d", "discarded");
    UTIL_CHECK_RC(e, arm_txn_prepare(d, NULL), ARM_OK);
    put_kv(e, "e", "5");
    ARM_CHECK(keys_ready(r, got, 64) == 0);
    ARM_CHECK_RC(arm_txn_discard(d), ARM_OK);
    arm_txn_free(d);
    n = keys_ready(r, got, 64);
    ARM_CHECK(n == 1 && strcmp(got[0], "e") == 0);
    arm_txn *u = txn_with(e, "u", "one");
    UTIL_CHECK_RC(e, arm_txn_prepare(u, NULL), ARM_OK);
    ARM_CHECK_RC(arm_txn_put(u, UTIL_S("u2"), UTIL_S("two")), ARM_OK); /* un-prepares */
    UTIL_CHECK_RC(e, arm_txn_prepare(u, NULL), ARM_OK);
    UTIL_CHECK_RC(e, arm_txn_publish(&u, 1), ARM_OK);
    arm_txn_free(u);
    /* decided elsewhere, published: shipped without its TXNINFO entry */
    arm_txn_ext ext;
    memcpy(ext.owner, "0123456789abcdef", 16);
    arm_txn *x = txn_with(e, "x", "external");
    UTIL_CHECK_RC(e, arm_txn_prepare(x, &ext), ARM_OK);
    UTIL_CHECK_RC(e, arm_txn_publish(&x, 1), ARM_OK);
    arm_txn_free(x);
    arm_log_txn t;
    UTIL_CHECK_RC(e, arm_log_reader_next(r, &t), ARM_OK);
    ARM_CHECK(t.nops == 2); /* u and u2, once */
    UTIL_CHECK_RC(e, arm_log_reader_next(r, &t), ARM_OK);
    ARM_CHECK(t.nops == 1 && t.ops[0].key.len == 1 && t.ops[0].key.ptr[0] == 'x');
    ARM_CHECK_RC(arm_log_reader_next(r, &t), ARM_NOTFOUND);
    arm_log_reader_close(r);

    /* After a reopen, from the origin: the same story from the log alone. */
    util_close_ok(e);
    e = util_open_ok(g_db, &o);
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    n = keys_ready(r, got, 64);
    const char *want[] = {"a", "p", "b", "c", "e", "u", "x"};
    ARM_CHECK(n == 7);
    for (int i = 0; i < 7; i++) ARM_CHECK(strcmp(got[i], want[i]) == 0);
    arm_log_reader_close(r);
    util_close_ok(e);
}

/* A child prepares with an external decision and dies. */
static void crash_prepared_ext(const char *dir, const arm_engine_options *o) {
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        arm_engine *e = NULL;
        if (arm_engine_open(dir, o, &e) != ARM_OK) _exit(2);
        arm_txn *t = NULL;
        arm_txn_ext ext;
        memcpy(ext.owner, "in-doubt-owner!!", 16);
        if (arm_txn_begin(e, NULL, 0, &t) != ARM_OK) _exit(3);
        if (arm_txn_put(t, UTIL_S("doubt"), UTIL_S("maybe")) != ARM_OK) _exit(4);
        if (arm_txn_prepare(t, &ext) != ARM_OK) _exit(5);
        if (arm_engine_put(e, UTIL_S("later"), UTIL_S("after it")) != ARM_OK) _exit(6);
        if (arm_engine_flush(e) != ARM_OK) _exit(7);
        _exit(0);
    }
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    ARM_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_in_doubt_waits(void) {
    arm_engine_options o;
    opts_small(&o);
    for (int commit = 0; commit < 2; commit++) {
        const char *dir = fresh(commit ? "lr4c" : "lr4a");
        arm_engine *e = util_open_ok(dir, &o);
        put_kv(e, "first", "1");
        util_close_ok(e);
        crash_prepared_ext(dir, &o);
        e = util_open_ok(dir, &o);
        arm_log_reader *r = NULL;
        UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
        char got[8][16];
        int n = keys_ready(r, got, 8);
        ARM_CHECK(n == 1 && strcmp(got[0], "first") == 0); /* "later" waits behind it */
        arm_indoubt *list = NULL;
        size_t nd = 0;
        ARM_CHECK_RC(arm_engine_indoubt_list(e, &list, &nd), ARM_OK);
        ARM_CHECK(nd == 1);
        UTIL_CHECK_RC(e, arm_engine_indoubt_resolve(e, list[0].id, commit), ARM_OK);
        arm_free(list);
        n = keys_ready(r, got, 8);
        if (commit)
            ARM_CHECK(n == 2 && strcmp(got[0], "doubt") == 0 && strcmp(got[1], "later") == 0);
        else
            ARM_CHECK(n == 1 && strcmp(got[0], "later") == 0);
        arm_log_reader_close(r);
        util_close_ok(e);
    }
}

/* ------------------------------------------- commit order across shards */
typedef struct order_ctx {
    arm_engine *e;
    _Atomic int writers_done;
    uint64_t seed;
} order_ctx;

/* Batches whose first key routes anywhere, all touching a few hot keys:
 * shipped out of commit order, the follower model would end different. */
static void *order_writer(void *p) {
    order_ctx *x = p;
    util_rng g;
    util_rng_seed(&g, x->seed);
    char k[32], v[32];
    for (int i = 0; i < 3000 * util_scale(); i++) {
        int kind = (int)util_rng_below(&g, 3);
        snprintf(v, sizeof v, "%llu-%d", (unsigned long long)x->seed, i);
        if (kind == 0) {
            snprintf(k, sizeof k, "hot%d", (int)util_rng_below(&g, 4));
            int rc;
            while ((rc = arm_engine_put(x->e, UTIL_S(k), UTIL_S(v))) == ARM_BUSY) {
            } /* held by a prepared transaction for a moment */
            if (rc != ARM_OK) abort();
        } else if (kind == 1) {
            arm_batch *b = NULL;
            if (arm_engine_batch_new(x->e, &b) != ARM_OK) abort();
            snprintf(k, sizeof k, "u%llu-%d", (unsigned long long)x->seed, i); /* any shard */
            if (arm_engine_batch_put(b, UTIL_S(k), UTIL_S(v)) != ARM_OK) abort();
            snprintf(k, sizeof k, "hot%d", (int)util_rng_below(&g, 4));
            if (util_rng_below(&g, 3) == 0) {
                if (arm_engine_batch_delete(b, UTIL_S(k)) != ARM_OK) abort();
            } else if (arm_engine_batch_put(b, UTIL_S(k), UTIL_S(v)) != ARM_OK) {
                abort();
            }
            int rc;
            while ((rc = arm_engine_batch_commit(x->e, b)) == ARM_BUSY) {
            }
            if (rc != ARM_OK) abort();
            arm_engine_batch_free(b);
        } else {
            for (;;) { /* a transaction: read-modify-write of a hot key */
                arm_txn *t = NULL;
                if (arm_txn_begin(x->e, NULL, 0, &t) != ARM_OK) abort();
                snprintf(k, sizeof k, "t%llu-%d", (unsigned long long)x->seed, i);
                int rc = arm_txn_put(t, UTIL_S(k), UTIL_S(v));
                snprintf(k, sizeof k, "hot%d", (int)util_rng_below(&g, 4));
                arm_buf cur = {0};
                if (rc == ARM_OK) {
                    int g2 = arm_txn_get(t, UTIL_S(k), &cur);
                    if (g2 != ARM_OK && g2 != ARM_NOTFOUND) abort();
                    rc = arm_txn_put(t, UTIL_S(k), UTIL_S(v));
                }
                arm_buf_free(&cur);
                if (rc == ARM_OK) rc = arm_txn_commit(t);
                arm_txn_free(t);
                if (rc == ARM_OK) break;
                if (ARM_RC_PRIMARY(rc) != ARM_BUSY) abort();
            }
        }
    }
    atomic_fetch_add(&x->writers_done, 1);
    return NULL;
}

static void test_commit_order(void) {
    arm_engine_options o;
    opts_small(&o);
    o.shard_count = 8;
    o.max_file_size = 256 * 1024;
    enum { NW = 4 };
    arm_engine *e = util_open_ok(fresh("lr5"), &o);
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    pthread_t th[NW];
    order_ctx xs[NW];
    memset(xs, 0, sizeof xs);
    for (int i = 0; i < NW; i++) {
        xs[i].e = e;
        xs[i].seed = harness_seed * 31 + (uint64_t)i;
        ARM_CHECK(pthread_create(&th[i], NULL, order_writer, &xs[i]) == 0);
    }
    util_model m;
    util_model_init(&m);
    size_t txns = 0;
    int finished = 0;
    while (!finished) {
        finished = 1;
        for (int i = 0; i < NW; i++) finished &= atomic_load(&xs[i].writers_done) == 1;
        arm_log_txn t;
        int rc;
        while ((rc = arm_log_reader_next(r, &t)) == ARM_OK) {
            model_apply(&m, &t);
            txns++;
        }
        UTIL_CHECK_RC(e, rc, ARM_NOTFOUND);
    }
    for (int i = 0; i < NW; i++) pthread_join(th[i], NULL);
    drain(e, r, &m, NULL);
    util_expect_model(e, &m);
    ARM_CHECK(txns > 0);
    arm_log_reader_close(r);
    util_model_free(&m);
    util_close_ok(e);
}

/* ------------------------------------------------------------ watches */
typedef struct watch_ctx {
    arm_engine *e;
    int delay_ms;
} watch_ctx;

static void *late_put(void *p) {
    watch_ctx *w = p;
    usleep((useconds_t)w->delay_ms * 1000);
    put_kv(w->e, "woken", "by a commit");
    return NULL;
}

static void test_watch(void) {
    arm_engine_options o;
    opts_small(&o);
    arm_engine *e = util_open_ok(fresh("lr6"), &o);
    arm_watch *w = NULL;
    UTIL_CHECK_RC(e, arm_engine_watch_open(e, &w), ARM_OK);
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    struct pollfd pf = {arm_watch_fd(w), POLLIN, 0};
    /* not armed: a commit does not wake */
    put_kv(e, "k0", "v");
    ARM_CHECK(poll(&pf, 1, 0) == 0);
    /* armed, then the log read again: the commit before the arm is found */
    arm_watch_arm(w);
    arm_log_txn t;
    UTIL_CHECK_RC(e, arm_log_reader_next(r, &t), ARM_OK);
    ARM_CHECK_RC(arm_log_reader_next(r, &t), ARM_NOTFOUND);
    ARM_CHECK(poll(&pf, 1, 0) == 0);
    for (int i = 0; i < 5; i++) {
        pthread_t th;
        watch_ctx wc = {e, 20};
        ARM_CHECK(pthread_create(&th, NULL, late_put, &wc) == 0);
        uint64_t t0 = util_now_ms();
        ARM_CHECK(poll(&pf, 1, 5000) == 1);
        uint64_t dt = util_now_ms() - t0;
        ARM_CHECK(dt < 1000); /* woken by the commit, not by the timeout */
        pthread_join(th, NULL);
        UTIL_CHECK_RC(e, arm_log_reader_next(r, &t), ARM_OK);
        arm_watch_arm(w); /* clears the fd */
        ARM_CHECK(poll(&pf, 1, 0) == 0);
        ARM_CHECK_RC(arm_log_reader_next(r, &t), ARM_NOTFOUND);
    }
    /* one wake-up for many commits */
    for (int i = 0; i < 100; i++) put_kv(e, "many", "x");
    ARM_CHECK(poll(&pf, 1, 0) == 1);
    uint64_t v = 0;
    ARM_CHECK(read(pf.fd, &v, sizeof v) == sizeof v && v == 1);
    /* a decision wakes too: a reader stopped at a prepared transaction */
    util_model scratch;
    util_model_init(&scratch);
    drain(e, r, &scratch, NULL);
    util_model_free(&scratch);
    arm_txn *p = txn_with(e, "pp", "x");
    UTIL_CHECK_RC(e, arm_txn_prepare(p, NULL), ARM_OK);
    arm_watch_arm(w);
    ARM_CHECK_RC(arm_log_reader_next(r, &t), ARM_NOTFOUND);
    ARM_CHECK(poll(&pf, 1, 0) == 0);
    UTIL_CHECK_RC(e, arm_txn_publish(&p, 1), ARM_OK);
    arm_txn_free(p);
    ARM_CHECK(poll(&pf, 1, 0) == 1);
    UTIL_CHECK_RC(e, arm_log_reader_next(r, &t), ARM_OK);
    arm_log_reader_close(r);
    arm_watch_close(w);
    util_close_ok(e);
}

/* --------------------------------------------------------------- the cut */
typedef struct cut_ctx {
    arm_engine *e;
    _Atomic int stop;
    uint64_t seed;
} cut_ctx;

static void *cut_writer(void *p) {
    cut_ctx *x = p;
    util_rng g;
    util_rng_seed(&g, x->seed);
    for (int i = 0; !atomic_load(&x->stop); i++) {
        char k[32], v[32];
        snprintf(k, sizeof k, "c%d", (int)util_rng_below(&g, 300));
        snprintf(v, sizeof v, "%d", i);
        if (i % 3 == 0) {
            arm_txn *t = NULL;
            if (arm_txn_begin(x->e, NULL, 0, &t) != ARM_OK) abort();
            if (arm_txn_put(t, UTIL_S(k), UTIL_S(v)) != ARM_OK) abort();
            snprintf(k, sizeof k, "c%d", (int)util_rng_below(&g, 300));
            if (arm_txn_delete(t, UTIL_S(k)) != ARM_OK) abort();
            int rc = arm_txn_commit(t);
            if (rc != ARM_OK && ARM_RC_PRIMARY(rc) != ARM_BUSY) abort();
            arm_txn_free(t);
        } else {
            int rc = arm_engine_put(x->e, UTIL_S(k), UTIL_S(v));
            if (rc != ARM_OK && rc != ARM_BUSY) abort();
        }
    }
    return NULL;
}

static void test_cut(void) {
    arm_engine_options o;
    opts_small(&o);
    arm_engine *e = util_open_ok(fresh("lr7"), &o);
    /* an undecided transaction before the cut: it waits, then gives up */
    arm_txn *p = txn_with(e, "held", "x");
    UTIL_CHECK_RC(e, arm_txn_prepare(p, NULL), ARM_OK);
    arm_snapshot snap;
    arm_log_pos pos[4];
    ARM_CHECK_RC(arm_engine_log_cut(e, &snap, pos, 30), ARM_BUSY);
    UTIL_CHECK_RC(e, arm_txn_publish(&p, 1), ARM_OK);
    arm_txn_free(p);
    /* Each round: writers run, a cut is taken under them, the snapshot is
     * copied and the log streamed from the cut while they go on; once they
     * stop, the copy must equal the engine. */
    for (int round = 0; round < 4 * util_scale(); round++) {
        cut_ctx x[2];
        pthread_t th[2];
        for (int i = 0; i < 2; i++) {
            x[i].e = e;
            atomic_store(&x[i].stop, 0);
            x[i].seed = harness_seed + 7 * (uint64_t)i + 1000 * (uint64_t)round;
            ARM_CHECK(pthread_create(&th[i], NULL, cut_writer, &x[i]) == 0);
        }
        usleep(10000);
        UTIL_CHECK_RC(e, arm_engine_log_cut(e, &snap, pos, 5000), ARM_OK);
        util_model m;
        util_model_init(&m);
        arm_txn *t = NULL;
        UTIL_CHECK_RC(e, arm_txn_begin(e, &snap, ARM_TXN_READONLY, &t), ARM_OK);
        arm_cursor *c = NULL;
        UTIL_CHECK_RC(e, arm_txn_cursor_open(t, &c), ARM_OK);
        for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
            arm_slice k = arm_engine_cursor_key(c), v;
            ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
            util_model_put(&m, k.ptr, k.len, v.ptr, v.len);
        }
        arm_engine_cursor_close(c);
        arm_txn_free(t);
        arm_snapshot_drop(&snap);
        arm_log_reader *r = NULL;
        UTIL_CHECK_RC(e, arm_log_reader_open(e, pos, &r), ARM_OK);
        drain(e, r, &m, NULL);
        usleep(10000);
        for (int i = 0; i < 2; i++) atomic_store(&x[i].stop, 1);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        drain(e, r, &m, NULL);
        util_expect_model(e, &m);
        arm_log_reader_close(r);
        util_model_free(&m);
    }
    util_close_ok(e);
}

/* ---------------------------------------------------------- the follower */
static const uint8_t leader_id[16] = "leader-db-id-16b";

static void apply_kv(arm_engine *f, uint32_t shard, uint64_t seq, const char *k, const char *v) {
    arm_batch *b = NULL;
    UTIL_CHECK_RC(f, arm_engine_batch_new(f, &b), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S(k), UTIL_S(v)), ARM_OK);
    arm_log_pos pos = {seq, 1000 + seq, 7, 40};
    UTIL_CHECK_RC(f, arm_engine_apply(f, b, leader_id, &shard, &pos, 1, 0), ARM_OK);
    arm_engine_batch_free(b);
}

static void test_apply_positions(void) {
    arm_engine_options o;
    opts_small(&o);
    arm_engine *f = util_open_ok(fresh("lr8"), &o);
    uint8_t lid[16];
    arm_log_pos pos;
    uint32_t flags;
    ARM_CHECK_RC(arm_engine_repl_pos(f, 0, lid, &pos, &flags), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_repl_pos(f, 4, lid, &pos, &flags), ARM_RANGE);
    /* not a follower: apply refused; a follower: plain writes refused */
    uint32_t sh = 1;
    arm_log_pos p1 = {5, 100, 3, 30};
    ARM_CHECK_RC(arm_engine_apply(f, NULL, leader_id, &sh, &p1, 1, 0), ARM_MISUSE);
    arm_engine_set_follower(f, 1);
    ARM_CHECK_RC(arm_engine_put(f, UTIL_S("x"), UTIL_S("y")), ARM_READONLY);
    ARM_CHECK(strstr(arm_engine_errmsg(f), "follower") != NULL);
    arm_txn *t = NULL;
    UTIL_CHECK_RC(f, arm_txn_begin(f, NULL, 0, &t), ARM_OK);
    ARM_CHECK_RC(arm_txn_put(t, UTIL_S("x"), UTIL_S("y")), ARM_READONLY);
    arm_txn_free(t);
    for (uint64_t s = 1; s <= 300; s++) {
        char k[16], v[16];
        snprintf(k, sizeof k, "s%llu", (unsigned long long)(s % 4));
        snprintf(v, sizeof v, "%llu", (unsigned long long)s);
        apply_kv(f, (uint32_t)(s % 4), s, k, v);
    }
    /* positions only, with RESYNC */
    uint32_t all[4] = {0, 1, 2, 3};
    arm_log_pos four[4] = {{401, 64 + 40, 9, 40}, {402, 64 + 40, 9, 40}, {0, 0, 0, 0},
                           {404, 64 + 40, 9, 40}};
    UTIL_CHECK_RC(f, arm_engine_apply(f, NULL, leader_id, all, four, 4, ARM_REPL_RESYNC), ARM_OK);
    for (int round = 0; round < 2; round++) {
        for (uint32_t s = 0; s < 4; s++) {
            UTIL_CHECK_RC(f, arm_engine_repl_pos(f, s, lid, &pos, &flags), ARM_OK);
            ARM_CHECK(memcmp(lid, leader_id, 16) == 0 && flags == ARM_REPL_RESYNC);
            ARM_CHECK(memcmp(&pos, &four[s], sizeof pos) == 0);
        }
        util_expect(f, "s3", 2, "299", 3);
        util_close_ok(f); /* recovery restores them */
        f = util_open_ok(g_db, &o);
        arm_engine_set_follower(f, 1);
    }
    apply_kv(f, 2, 500, "s2", "500");
    util_close_ok(f);
    f = util_open_ok(g_db, &o);
    UTIL_CHECK_RC(f, arm_engine_repl_pos(f, 2, lid, &pos, &flags), ARM_OK);
    ARM_CHECK(pos.seq == 500 && flags == 0);
    UTIL_CHECK_RC(f, arm_engine_repl_pos(f, 1, lid, &pos, &flags), ARM_OK);
    ARM_CHECK(pos.seq == 402 && flags == ARM_REPL_RESYNC);
    uint64_t problems = 1;
    UTIL_CHECK_RC(f, arm_engine_check(f, NULL, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems == 0);
    util_close_ok(f);
}

/* SIGKILL while applying: each shard's stored position names exactly the
 * value its key holds (they were written in one batch). */
static void test_apply_kill(void) {
    arm_engine_options o;
    opts_small(&o);
    o.sync_mode = ARM_SYNC_NORMAL;
    const char *dir = fresh("lr9");
    util_rng g;
    util_rng_seed(&g, harness_seed ^ 0x5151);
    uint64_t next[4] = {1, 1, 1, 1};
    for (int round = 0; round < 6 * util_scale(); round++) {
        pid_t pid = fork();
        ARM_CHECK(pid >= 0);
        if (pid == 0) {
            arm_engine *f = NULL;
            if (arm_engine_open(dir, &o, &f) != ARM_OK) _exit(2);
            arm_engine_set_follower(f, 1);
            for (uint64_t i = 0;; i++) {
                uint32_t s = (uint32_t)(i % 4);
                uint64_t seq = next[s] + i / 4;
                arm_batch *b = NULL;
                if (arm_engine_batch_new(f, &b) != ARM_OK) _exit(3);
                char k[16], v[32], k2[32];
                snprintf(k, sizeof k, "s%u", s);
                snprintf(v, sizeof v, "%llu", (unsigned long long)seq);
                snprintf(k2, sizeof k2, "s%u-%llu", s, (unsigned long long)seq);
                if (arm_engine_batch_put(b, UTIL_S(k), UTIL_S(v)) != ARM_OK) _exit(3);
                if (arm_engine_batch_put(b, UTIL_S(k2), UTIL_S(v)) != ARM_OK) _exit(3);
                arm_log_pos pos = {seq, 200 + seq, 1, 40};
                if (arm_engine_apply(f, b, leader_id, &s, &pos, 1, 0) != ARM_OK) _exit(4);
                arm_engine_batch_free(b);
            }
        }
        usleep((useconds_t)(2000 + util_rng_below(&g, 30000)));
        kill(pid, SIGKILL);
        int st;
        ARM_CHECK(waitpid(pid, &st, 0) == pid);
        ARM_CHECK(WIFSIGNALED(st));
        arm_engine *f = util_open_ok(dir, &o);
        for (uint32_t s = 0; s < 4; s++) {
            uint8_t lid[16];
            arm_log_pos pos;
            uint32_t flags;
            char k[16];
            snprintf(k, sizeof k, "s%u", s);
            arm_buf v = {0};
            int rc = arm_engine_repl_pos(f, s, lid, &pos, &flags);
            int vr = arm_engine_get(f, UTIL_S(k), &v);
            if (rc == ARM_NOTFOUND) {
                ARM_CHECK(vr == ARM_NOTFOUND);
                continue;
            }
            ARM_CHECK_RC(rc, ARM_OK);
            ARM_CHECK_RC(vr, ARM_OK);
            char want[32];
            int wl = snprintf(want, sizeof want, "%llu", (unsigned long long)pos.seq);
            if (v.len != (size_t)wl || memcmp(v.ptr, want, (size_t)wl) != 0) {
                fprintf(stderr, "%s: round %d shard %u: position %s, value %.*s (seed %llu)\n",
                        harness_case, round, s, want, (int)v.len, (const char *)v.ptr,
                        (unsigned long long)harness_seed);
                exit(1);
            }
            arm_buf_free(&v);
            next[s] = pos.seq + 1;
        }
        util_close_ok(f);
    }
}

/* A whole copy: leader -> reader -> apply (several transactions per batch)
 * -> follower, with the follower restarted from its stored positions. */
static void copy_some(arm_engine *l, arm_engine *f, int max_txns) {
    uint32_t n = l->shard_count;
    arm_log_pos pos[16];
    for (uint32_t s = 0; s < n; s++) {
        uint8_t lid[16];
        uint32_t flags;
        int rc = arm_engine_repl_pos(f, s, lid, &pos[s], &flags);
        if (rc == ARM_NOTFOUND) pos[s] = (arm_log_pos){0, 0, 0, 0};
        else ARM_CHECK_RC(rc, ARM_OK);
    }
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(l, arm_log_reader_open(l, pos, &r), ARM_OK);
    arm_batch *b = NULL;
    UTIL_CHECK_RC(f, arm_engine_batch_new(f, &b), ARM_OK);
    uint32_t shards[16];
    arm_log_pos at[16];
    size_t npos = 0;
    arm_log_txn t;
    for (int i = 0; i < max_txns && arm_log_reader_next(r, &t) == ARM_OK; i++) {
        for (size_t j = 0; j < t.nops; j++) {
            if (t.ops[j].del)
                ARM_CHECK_RC(arm_engine_batch_delete(b, t.ops[j].key), ARM_OK);
            else
                ARM_CHECK_RC(arm_engine_batch_put(b, t.ops[j].key, t.ops[j].value), ARM_OK);
        }
        size_t k = 0;
        while (k < npos && shards[k] != t.shard) k++;
        if (k == npos) shards[npos++] = t.shard;
        at[k] = t.pos;
        if (i % 7 == 6) { /* a group of whole transactions, one atomic apply */
            UTIL_CHECK_RC(f, arm_engine_apply(f, b, leader_id, shards, at, npos, 0), ARM_OK);
            arm_engine_batch_clear(b);
            npos = 0;
        }
    }
    if (npos) UTIL_CHECK_RC(f, arm_engine_apply(f, b, leader_id, shards, at, npos, 0), ARM_OK);
    arm_engine_batch_free(b);
    arm_log_reader_close(r);
}

static void test_leader_to_follower(void) {
    arm_engine_options o;
    opts_small(&o);
    arm_engine *l = util_open_ok(fresh("lr10"), &o);
    arm_engine *f = util_open_ok(g_db2, &o);
    arm_engine_set_follower(f, 1);
    util_rng g;
    util_rng_seed(&g, harness_seed + 99);
    workload(l, &g, 2000, 300);
    copy_some(l, f, 900);
    util_close_ok(f); /* the follower restarts mid-copy */
    f = util_open_ok(g_db2, &o);
    arm_engine_set_follower(f, 1);
    workload(l, &g, 500, 300);
    copy_some(l, f, 1 << 30);
    util_model a;
    util_model_init(&a);
    util_engine_model(l, &a);
    util_expect_model(f, &a);
    /* nothing left, nothing twice */
    copy_some(l, f, 1 << 30);
    util_expect_model(f, &a);
    util_model_free(&a);
    util_close_ok(f);
    util_close_ok(l);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("catch-up across rotations and the write buffer, then resume", test_catchup_and_stream());
    UTIL_CASE("positions not in the log are refused", test_bad_positions());
    UTIL_CASE("prepared waits, discarded never ships", test_undecided_and_discarded());
    UTIL_CASE("in doubt waits until resolved", test_in_doubt_waits());
    UTIL_CASE("commit order across shards under writers", test_commit_order());
    UTIL_CASE("watches wake on commits and decisions", test_watch());
    UTIL_CASE("a cut is a snapshot plus the positions after it", test_cut());
    UTIL_CASE("apply stores positions with the data", test_apply_positions());
    UTIL_CASE("SIGKILL while applying keeps positions and data together", test_apply_kill());
    UTIL_CASE("leader to follower through reader and apply", test_leader_to_follower());
    return harness_done();
}
