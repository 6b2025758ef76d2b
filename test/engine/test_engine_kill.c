/* SPDX-License-Identifier: MIT */
/*
 * test_engine_kill.c: the kill test. A forked child writes with sync=full
 * and reports each acknowledged operation over a pipe (after the call
 * returned); the parent SIGKILLs it at a random moment, reopens, and checks
 * the database against a model: every acknowledged operation is there, the
 * one operation in flight (per writer thread) is either wholly there or
 * wholly absent (a batch is never half present), and nothing else changed.
 * Many rounds on one directory, so history (rotations, torn tails, kills
 * during recovery) accumulates. The child's operations are a pure function
 * of (seed, round, thread, op number), so the parent regenerates them.
 * ARM_TEST_SEED reproduces the operation streams (kill timing varies).
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char g_tmp[512];
static char g_db[600];

#define NKEYS 1200
#define MAXT 3           /* writer threads in the child, at most */
#define MAXOPS 200000    /* ops per thread per round (never reached) */
#define BIGVAL (48u << 10)
#define MAXBATCH 8

static uint64_t g_seed;

/* ------------------------------------------------------------ values */
/* value(key, tag) = tag (8) | key (4) | filler; length from (key, tag). */
static size_t value_len(unsigned key, uint64_t tag) {
    uint64_t h = util_hash(&tag, 8) ^ (uint64_t)key * 0x9e3779b97f4a7c15ULL;
    if (h % 97 == 0) return 12 + (size_t)(h >> 20) % (BIGVAL - 12); /* big, past the buffer */
    return 12 + (size_t)(h >> 20) % 700;
}

static size_t make_value(uint8_t *out, unsigned key, uint64_t tag) {
    size_t len = value_len(key, tag);
    uint32_t k32 = key;
    memcpy(out, &tag, 8);
    memcpy(out + 8, &k32, 4);
    util_fill(out + 12, len - 12, key, tag);
    return len;
}

/* Parse a stored value: its tag, or 0 when malformed. */
static uint64_t value_tag(const uint8_t *v, size_t len, unsigned key) {
    if (len < 12) return 0;
    uint64_t tag;
    uint32_t k32;
    memcpy(&tag, v, 8);
    memcpy(&k32, v + 8, 4);
    if (k32 != key || tag == 0 || len != value_len(key, tag)) return 0;
    uint8_t *tmp = malloc(len);
    if (tmp == NULL) abort();
    util_fill(tmp, len - 12, key, tag);
    int ok = memcmp(tmp, v + 12, len - 12) == 0;
    free(tmp);
    return ok ? tag : 0;
}

static size_t key_name(char *out, unsigned key) { return (size_t)sprintf(out, "kill-%05u", key); }

/* ------------------------------------------------------------ ops */
typedef struct op {
    int n;                   /* 1 for single ops; 1..MAXBATCH for batches */
    int batch;               /* committed as a batch */
    unsigned key[MAXBATCH];
    uint64_t tag[MAXBATCH];  /* 0 = delete */
} op;

/* Thread t of an nthreads child owns keys with key % nthreads == t. */
static void gen_op(op *o, unsigned round, int t, int nthreads, unsigned j) {
    util_rng r;
    util_rng_seed(&r, g_seed ^ ((uint64_t)round << 40) ^ ((uint64_t)t << 32) ^ j);
    unsigned per = NKEYS / (unsigned)nthreads;
    unsigned kind = (unsigned)util_rng_below(&r, 100);
    memset(o, 0, sizeof *o);
    o->batch = kind >= 80;
    o->n = o->batch ? 1 + (int)util_rng_below(&r, MAXBATCH) : 1;
    for (int i = 0; i < o->n; i++) {
        unsigned idx = (unsigned)util_rng_below(&r, per);
        if (o->batch && i > 0 && util_rng_below(&r, 5) == 0) idx = o->key[0] / (unsigned)nthreads;
        o->key[i] = idx * (unsigned)nthreads + (unsigned)t;
        int del = o->batch ? util_rng_below(&r, 4) == 0 : kind >= 65;
        /* tags are unique: round, thread, op, member */
        o->tag[i] = del ? 0
                        : ((uint64_t)(round + 1) << 40) | ((uint64_t)t << 36) |
                              ((uint64_t)j << 4) | (uint64_t)i;
    }
}

static void apply_op(uint64_t *state, const op *o) {
    for (int i = 0; i < o->n; i++) state[o->key[i]] = o->tag[i];
}

/* ------------------------------------------------------------ child */
struct child_ctx {
    arm_engine *e;
    int fd;
    unsigned round;
    int t, nthreads;
};

static void child_fail(int fd, const char *what, int rc, const char *msg) {
    char buf[300];
    int n = snprintf(buf, sizeof buf, "child: %s: %s \"%s\"\n", what, arm_rc_str(rc), msg);
    if (n > 0 && write(2, buf, (size_t)n) < 0) _exit(4);
    uint32_t rec[2] = {0xffffffffu, (uint32_t)rc};
    if (write(fd, rec, sizeof rec) < 0) _exit(4);
    _exit(3);
}

static void *child_thread(void *arg) {
    struct child_ctx *c = arg;
    uint8_t *v = malloc(BIGVAL);
    arm_batch *b = NULL;
    if (v == NULL || arm_engine_batch_new(c->e, &b) != ARM_OK) child_fail(c->fd, "setup", 0, "");
    for (unsigned j = 0; j < MAXOPS; j++) {
        op o;
        gen_op(&o, c->round, c->t, c->nthreads, j);
        char k[32];
        int rc;
        if (!o.batch) {
            size_t kl = key_name(k, o.key[0]);
            if (o.tag[0]) {
                size_t vl = make_value(v, o.key[0], o.tag[0]);
                rc = arm_engine_put(c->e, arm_slice_make(k, kl), arm_slice_make(v, vl));
            } else {
                rc = arm_engine_delete(c->e, arm_slice_make(k, kl));
                if (rc == ARM_NOTFOUND) rc = ARM_OK;
            }
        } else {
            arm_engine_batch_clear(b);
            rc = ARM_OK;
            for (int i = 0; i < o.n && rc == ARM_OK; i++) {
                size_t kl = key_name(k, o.key[i]);
                if (o.tag[i]) {
                    size_t vl = make_value(v, o.key[i], o.tag[i]);
                    rc = arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl));
                } else {
                    rc = arm_engine_batch_delete(b, arm_slice_make(k, kl));
                }
            }
            if (rc == ARM_OK) rc = arm_engine_batch_commit(c->e, b);
        }
        if (rc != ARM_OK) child_fail(c->fd, "write", rc, arm_engine_errmsg(c->e));
        /* acknowledged: report (thread, op) after the call returned */
        uint32_t rec[2] = {(uint32_t)c->t, j};
        if (write(c->fd, rec, sizeof rec) != (ssize_t)sizeof rec) _exit(5);
    }
    arm_engine_batch_free(b);
    free(v);
    return NULL;
}

static void kill_opts(arm_engine_options *o, unsigned round) {
    arm_engine_options_init(o);
    o->shard_count = 4;
    /* sync=normal hands every commit to the kernel before returning, so
     * a process kill (not a power cut) loses nothing acknowledged either */
    o->sync_mode = round % 4 == 1 ? ARM_SYNC_NORMAL : ARM_SYNC_FULL;
    o->max_file_size = 256u << 10; /* rotations within a round */
    o->write_buffer_size = 64u << 10;
    o->max_value_size = BIGVAL;
    o->io_backend = round % 3 == 2 ? ARM_IO_POSIX : ARM_IO_AUTO;
    o->index_kind = round % 5 == 4 ? ARM_INDEX_HASH : ARM_INDEX_ORDERED;
}

static void child_main(int fd, unsigned round, int nthreads) {
    arm_engine_options o;
    kill_opts(&o, round);
    arm_engine *e = NULL;
    int rc = arm_engine_open(g_db, &o, &e);
    if (rc != ARM_OK) child_fail(fd, "open", rc, arm_engine_errmsg(NULL));
    struct child_ctx c[MAXT];
    pthread_t th[MAXT];
    for (int t = 0; t < nthreads; t++) {
        c[t].e = e;
        c[t].fd = fd;
        c[t].round = round;
        c[t].t = t;
        c[t].nthreads = nthreads;
        if (t > 0 && pthread_create(&th[t], NULL, child_thread, &c[t]) != 0)
            child_fail(fd, "pthread_create", 0, "");
    }
    child_thread(&c[0]);
    for (int t = 1; t < nthreads; t++) pthread_join(th[t], NULL);
    (void)arm_engine_close(e);
    _exit(0);
}

/* ------------------------------------------------------------ parent */
/* Read the engine's state into tags[] (0 = absent). */
static void read_state(arm_engine *e, uint64_t *tags) {
    arm_buf b = {0};
    for (unsigned key = 0; key < NKEYS; key++) {
        char k[32];
        size_t kl = key_name(k, key);
        int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
        if (rc == ARM_NOTFOUND) {
            tags[key] = 0;
            continue;
        }
        if (rc != ARM_OK)
            fprintf(stderr, "get %s: %s \"%s\"\n", k, arm_rc_str(rc), arm_engine_errmsg(e));
        ARM_CHECK_RC(rc, ARM_OK);
        tags[key] = value_tag(b.ptr, b.len, key);
        if (tags[key] == 0) fprintf(stderr, "key %s: malformed value (%zu bytes)\n", k, b.len);
        ARM_CHECK(tags[key] != 0);
    }
    arm_buf_free(&b);
}

static const char *tagstr(uint64_t tag) {
    static char buf[4][48];
    static int i;
    char *s = buf[i++ % 4];
    if (tag == 0)
        snprintf(s, 48, "absent");
    else
        snprintf(s, 48, "r%llu/t%llu/op%llu.%llu", (unsigned long long)(tag >> 40) - 1,
                 (unsigned long long)(tag >> 36 & 15), (unsigned long long)(tag >> 4 & 0xffffffff),
                 (unsigned long long)(tag & 15));
    return s;
}

struct round_stats {
    unsigned acks, inflight_applied, batches_inflight, killed, finished;
};

static void one_round(unsigned round, uint64_t *model, struct round_stats *rs, uint64_t *last_seq) {
    int nthreads = round % 4 == 3 ? MAXT : 1;
    int pfd[2];
    ARM_CHECK(pipe(pfd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        child_main(pfd[1], round, nthreads);
        _exit(0);
    }
    close(pfd[1]);

    /* when to kill: after a number of acks, or after a delay (sometimes
     * before the child even finished opening: a kill during recovery) */
    unsigned mode = (unsigned)(harness_rand() % 6);
    unsigned target = 1 + (unsigned)(harness_rand() % 250);
    long delay_us = mode == 0 ? (long)(harness_rand() % 3000) : (long)(harness_rand() % 40000);
    int by_time = mode <= 2;
    uint64_t t0 = util_now_ms();

    unsigned next[MAXT] = {0}; /* acks per thread, in order */
    unsigned total = 0;
    int killed = 0, child_error = 0;
    uint8_t rbuf[4096];
    size_t have = 0;
    for (;;) {
        if (!killed && by_time) {
            long left = delay_us - (long)(util_now_ms() - t0) * 1000;
            if (left <= 0) {
                kill(pid, SIGKILL);
                killed = 1;
            }
        }
        struct pollfd p = {pfd[0], POLLIN, 0};
        int to = killed ? -1 : by_time ? 1 : 200;
        int pr = poll(&p, 1, to);
        if (pr < 0 && errno == EINTR) continue;
        ARM_CHECK(pr >= 0);
        if (pr == 0) {
            if (!by_time && util_now_ms() - t0 > 10000) { /* no progress: stop it */
                kill(pid, SIGKILL);
                killed = 1;
            }
            continue;
        }
        ssize_t n = read(pfd[0], rbuf + have, sizeof rbuf - have);
        if (n < 0 && errno == EINTR) continue;
        ARM_CHECK(n >= 0);
        if (n == 0) break; /* EOF: the child is gone */
        have += (size_t)n;
        size_t off = 0;
        for (; off + 8 <= have; off += 8) {
            uint32_t rec[2];
            memcpy(rec, rbuf + off, 8);
            if (rec[0] == 0xffffffffu) {
                child_error = 1;
                fprintf(stderr, "round %u: the child failed with %s\n", round, arm_rc_str((int)rec[1]));
                continue;
            }
            ARM_CHECK(rec[0] < (uint32_t)nthreads);
            ARM_CHECK(rec[1] == next[rec[0]]); /* acks come in order */
            next[rec[0]]++;
            total++;
        }
        memmove(rbuf, rbuf + off, have - off);
        have -= off;
        if (!killed && !by_time && total >= target) {
            kill(pid, SIGKILL);
            killed = 1;
        }
    }
    close(pfd[0]);
    ARM_CHECK(have == 0);
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    ARM_CHECK(!child_error);
    if (WIFSIGNALED(st)) {
        ARM_CHECK(WTERMSIG(st) == SIGKILL);
        rs->killed++;
    } else {
        ARM_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        rs->finished++;
    }
    rs->acks += total;

    /* model: acknowledged ops applied; per thread, op next[t] in flight */
    for (int t = 0; t < nthreads; t++)
        for (unsigned j = 0; j < next[t]; j++) {
            op o;
            gen_op(&o, round, t, nthreads, j);
            apply_op(model, &o);
        }

    arm_engine_options o;
    kill_opts(&o, round + 1);
    arm_engine *e = util_open_ok(g_db, &o);
    uint64_t *got = malloc(sizeof(uint64_t) * NKEYS);
    uint64_t *with = malloc(sizeof(uint64_t) * NKEYS);
    ARM_CHECK(got != NULL && with != NULL);
    read_state(e, got);
    memcpy(with, model, sizeof(uint64_t) * NKEYS);
    for (int t = 0; t < nthreads; t++) {
        op f;
        gen_op(&f, round, t, nthreads, next[t]);
        apply_op(with, &f);
        /* on thread t's keys the state is model (in-flight op absent) or
         * with (present), as a whole */
        int m0 = 1, m1 = 1;
        for (unsigned key = (unsigned)t; key < NKEYS; key += (unsigned)nthreads) {
            m0 &= got[key] == model[key];
            m1 &= got[key] == with[key];
        }
        if (!m0 && !m1) {
            fprintf(stderr, "round %u thread %d: %u acks; in-flight op %u (%s of %d):\n", round, t,
                    next[t], next[t], f.batch ? "batch" : "single", f.n);
            int shown = 0;
            for (unsigned key = (unsigned)t; key < NKEYS && shown < 20; key += (unsigned)nthreads)
                if (got[key] != model[key]) {
                    int in_flight = 0;
                    for (int i = 0; i < f.n; i++) in_flight |= f.key[i] == key;
                    fprintf(stderr, "  key %u: got %s, acknowledged %s, with in-flight %s%s\n", key,
                            tagstr(got[key]), tagstr(model[key]), tagstr(with[key]),
                            in_flight ? " (in-flight key)" : "");
                    shown++;
                }
            ARM_CHECK(!"state is the acknowledged ops, plus the in-flight op whole or not at all");
        }
        if (!m0) {
            rs->inflight_applied++;
            if (f.batch && f.n > 1) rs->batches_inflight++;
            for (unsigned key = (unsigned)t; key < NKEYS; key += (unsigned)nthreads)
                model[key] = with[key];
        }
    }
    uint64_t live = 0;
    for (unsigned key = 0; key < NKEYS; key++) live += model[key] != 0;
    ARM_CHECK(arm_engine_count(e) == live);
    arm_engine_stats stt;
    arm_engine_stats_get(e, &stt);
    ARM_CHECK(stt.last_seq >= *last_seq); /* the counter never goes back */
    *last_seq = stt.last_seq;
    if (round % 5 == 0) {
        uint64_t problems = 99;
        UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
        if (problems) fprintf(stderr, "round %u: check found %llu problems\n", round,
                              (unsigned long long)problems);
        ARM_CHECK(problems == 0);
    }
    util_close_ok(e);
    free(got);
    free(with);
}

static void test_kill_rounds(void) {
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "kill");
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    g_seed = harness_seed;
    fprintf(stderr, "kill test: seed %llu (ARM_TEST_SEED reproduces the op streams)\n",
            (unsigned long long)harness_seed);
    uint64_t *model = calloc(NKEYS, sizeof(uint64_t));
    ARM_CHECK(model != NULL);
    struct round_stats rs;
    memset(&rs, 0, sizeof rs);
    uint64_t last_seq = 0;
    const unsigned rounds = 40u * (unsigned)util_scale();
    for (unsigned round = 0; round < rounds; round++) one_round(round, model, &rs, &last_seq);
    fprintf(stderr, "kill test: %u rounds, %u killed, %u finished, %u acks, in-flight op present "
            "after %u kills (%u of them batches)\n", rounds, rs.killed, rs.finished, rs.acks,
            rs.inflight_applied, rs.batches_inflight);
    ARM_CHECK(rs.acks > rounds); /* the children did make progress */

    /* finally a read-only open sees the same */
    arm_engine_options o;
    kill_opts(&o, 0);
    o.read_only = 1;
    arm_engine *e = util_open_ok(g_db, &o);
    uint64_t *got = malloc(sizeof(uint64_t) * NKEYS);
    ARM_CHECK(got != NULL);
    read_state(e, got);
    ARM_CHECK(memcmp(got, model, sizeof(uint64_t) * NKEYS) == 0);
    util_close_ok(e);
    free(got);
    free(model);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    signal(SIGPIPE, SIG_IGN);
    UTIL_CASE("SIGKILL at random moments, sync=full/normal", test_kill_rounds());
    return harness_done();
}
