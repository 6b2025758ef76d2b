/* SPDX-License-Identifier: MIT */
/*
 * test_compact_kill.c: kill -9 while merges run. A forked child overwrites
 * and deletes keys of a small key space (sync=normal: an acknowledged write
 * has reached the kernel, so it survives the process) and reports each
 * acknowledged operation over a pipe, while the background thread and a
 * second thread calling arm_engine_compact in a loop merge all the time. The
 * parent SIGKILLs it at a random moment, reopens, and checks every key: the
 * last acknowledged operation on it is what is there, or the one operation
 * in flight; no merge output is left, every hint has its data file, and
 * check reads clean. Rounds accumulate on one directory, so later rounds
 * merge files earlier kills left half-merged. The operations are a pure
 * function of (seed, round, op number), so the parent regenerates the one in
 * flight. ARM_TEST_SEED reproduces the operations (kill timing varies);
 * ARM_TEST_SCALE multiplies the rounds.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CK_KEYS 150
#define CK_OPS  1000000u /* per round, never reached */

static char g_tmp[512];
static char g_db[600];

typedef struct ck_op {
    unsigned key;
    int del;
    uint32_t pad; /* value bytes past the header */
} ck_op;

static ck_op ck_gen(unsigned round, unsigned n) {
    util_rng r;
    util_rng_seed(&r, harness_seed ^ ((uint64_t)round << 32) ^ n);
    ck_op op;
    op.key = (unsigned)util_rng_below(&r, CK_KEYS);
    op.del = util_rng_below(&r, 10) == 0;
    op.pad = 50 + (uint32_t)util_rng_below(&r, 400);
    return op;
}

static size_t ck_key(char *b, unsigned i) {
    return (size_t)sprintf(b, "kk%04u", i);
}
static size_t ck_val(uint8_t *b, unsigned round, unsigned n, const ck_op *op) {
    size_t l = (size_t)sprintf((char *)b, "r%u/n%u/k%u/", round, n, op->key);
    util_fill(b + l, op->pad, round, n);
    return l + op->pad;
}

static void ck_opts(arm_engine_options *o) {
    arm_engine_options_init(o);
    o->shard_count = 2;
    o->max_file_size = 64u << 10;
    o->max_value_size = 8u << 10;
    o->write_buffer_size = 16u << 10;
    o->sync_mode = ARM_SYNC_NORMAL;
    o->compaction = 1;
}

static _Atomic int g_child_stop;

static void *ck_compactor(void *p) {
    arm_engine *e = p;
    while (!atomic_load(&g_child_stop)) {
        arm_compact_result r;
        if (arm_engine_compact(e, &r) != ARM_OK) _exit(21);
    }
    return NULL;
}

static void ck_child(unsigned round, int wfd) {
    arm_engine_options o;
    ck_opts(&o);
    arm_engine *e = NULL;
    if (arm_engine_open(g_db, &o, &e) != ARM_OK) _exit(20);
    pthread_t t;
    if (pthread_create(&t, NULL, ck_compactor, e) != 0) _exit(22);
    for (unsigned n = 0; n < CK_OPS; n++) {
        ck_op op = ck_gen(round, n);
        char k[32];
        uint8_t v[600];
        size_t kl = ck_key(k, op.key);
        int rc;
        if (op.del) {
            rc = arm_engine_delete(e, arm_slice_make(k, kl));
            if (rc == ARM_NOTFOUND) rc = ARM_OK;
        } else {
            size_t vl = ck_val(v, round, n, &op);
            rc = arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl));
        }
        if (rc != ARM_OK) _exit(23);
        uint32_t ack = n;
        if (write(wfd, &ack, sizeof ack) != (ssize_t)sizeof ack) _exit(24);
    }
    _exit(25);
}

/* What a key holds: absent, or the value of (round, n). */
typedef struct ck_state {
    int present;
    unsigned round, n;
} ck_state;

static void ck_expect(arm_engine *e, unsigned key, const ck_state *want, const ck_state *alt) {
    char k[32];
    size_t kl = ck_key(k, key);
    arm_buf b = {0};
    int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
    int ok = 0;
    for (int w = 0; w < 2 && !ok; w++) {
        const ck_state *s = w ? alt : want;
        if (s == NULL) continue;
        if (!s->present) {
            ok = rc == ARM_NOTFOUND;
            continue;
        }
        uint8_t v[600];
        ck_op op = ck_gen(s->round, s->n);
        size_t vl = ck_val(v, s->round, s->n, &op);
        ok = rc == ARM_OK && b.len == vl && memcmp(b.ptr, v, vl) == 0;
    }
    if (!ok) {
        fprintf(stderr, "key %u: rc %s, %zu bytes '%.*s'; want %s r%u n%u%s\n", key, arm_rc_str(rc),
                b.len, (int)(b.len > 30 ? 30 : b.len), b.ptr ? (const char *)b.ptr : "",
                want->present ? "value" : "absent", want->round, want->n,
                alt ? " (or the op in flight)" : "");
        ARM_CHECK(0);
    }
    arm_buf_free(&b);
}

static void ck_tidy(void) {
    int merges = 0;
    ARM_CHECK(util_dir_bytes(g_db, ".merge", &merges) >= 0);
    ARM_CHECK(merges == 0);
    for (int s = 0; s < 2; s++) {
        char dir[700];
        snprintf(dir, sizeof dir, "%s/shard-%03d", g_db, s);
        DIR *d = opendir(dir);
        if (d == NULL) continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strlen(de->d_name) != 13 || strcmp(de->d_name + 8, ".hint") != 0) continue;
            char log[800];
            snprintf(log, sizeof log, "%s/%.8s.log", dir, de->d_name);
            ARM_CHECK(util_file_size(log) >= 0);
        }
        closedir(d);
    }
}

static void test_kill_rounds(void) {
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "cmp-kill");
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    ck_state st[CK_KEYS];
    memset(st, 0, sizeof st);
    unsigned rounds = 6 * (unsigned)util_scale();
    uint64_t acked_total = 0;
    util_rng rng;
    util_rng_seed(&rng, harness_seed ^ 0x5eed);
    for (unsigned round = 0; round < rounds; round++) {
        int pfd[2];
        ARM_CHECK(pipe(pfd) == 0);
        pid_t pid = fork();
        ARM_CHECK(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            ck_child(round, pfd[1]);
        }
        close(pfd[1]);
        /* generous and varied: the child must get well into merging */
        uint64_t until = util_now_ms() + 300 + util_rng_below(&rng, 900), acked = 0;
        long last = -1;
        for (;;) {
            int left = (int)(until > util_now_ms() ? until - util_now_ms() : 0);
            struct pollfd p = {pfd[0], POLLIN, 0};
            if (left == 0 || poll(&p, 1, left) <= 0) break;
            uint32_t ack;
            ssize_t r = read(pfd[0], &ack, sizeof ack);
            if (r != (ssize_t)sizeof ack) break;
            ARM_CHECK((long)ack == last + 1);
            last = (long)ack;
            acked++;
        }
        kill(pid, SIGKILL);
        uint32_t ack;
        while (read(pfd[0], &ack, sizeof ack) == (ssize_t)sizeof ack) {
            ARM_CHECK((long)ack == last + 1);
            last = (long)ack;
            acked++;
        }
        close(pfd[0]);
        int status = 0;
        ARM_CHECK(waitpid(pid, &status, 0) == pid);
        if (WIFEXITED(status)) {
            fprintf(stderr, "child exited %d in round %u\n", WEXITSTATUS(status), round);
            ARM_CHECK(0);
        }
        /* the model: acknowledged ops applied; the next one may be there */
        for (long n = 0; n <= last; n++) {
            ck_op op = ck_gen(round, (unsigned)n);
            st[op.key] = (ck_state){!op.del, round, (unsigned)n};
        }
        ck_op fl = ck_gen(round, (unsigned)(last + 1));
        ck_state flight = {!fl.del, round, (unsigned)(last + 1)};
        arm_engine_options o;
        ck_opts(&o);
        o.compaction = 0;
        arm_engine *e = util_open_ok(g_db, &o);
        ck_tidy();
        for (unsigned k = 0; k < CK_KEYS; k++)
            ck_expect(e, k, &st[k], k == fl.key ? &flight : NULL);
        /* settle the in-flight op into the model */
        char kb[32];
        size_t kl = ck_key(kb, fl.key);
        arm_buf b = {0};
        int rc = arm_engine_get(e, arm_slice_make(kb, kl), &b);
        uint8_t v[600];
        size_t vl = ck_val(v, round, (unsigned)(last + 1), &fl);
        if (fl.del ? rc == ARM_NOTFOUND && st[fl.key].present
                   : rc == ARM_OK && b.len == vl && memcmp(b.ptr, v, vl) == 0)
            st[fl.key] = flight;
        arm_buf_free(&b);
        util_check_clean(e);
        util_close_ok(e);
        acked_total += acked;
    }
    fprintf(stderr, "    %u rounds, %llu acknowledged operations\n", rounds,
            (unsigned long long)acked_total);
    ARM_CHECK(acked_total > 1000);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("SIGKILL while writers and merges run: nothing lost or back", test_kill_rounds());
    return harness_done();
}
