/* SPDX-License-Identifier: MIT */
/*
 * test_engine_threads.c: one engine shared by many threads. Writers on
 * disjoint key ranges (final state equals each writer's model), writers on
 * shared keys (the final value is some writer's last write), a cas counter
 * (no lost increments), readers and a cursor that check every value they
 * see is well formed and that cursor keys come in order, and sync=full
 * group commit from several threads (everything acknowledged is there after
 * reopen). Meant to run clean under ThreadSanitizer.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_tmp[512];
static char g_db[600];

static const char *fresh(const char *tag) {
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, tag);
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    return g_db;
}

/* ------------------------------------------------ self-checking values */
/* value = gen (8) | hash(key) (8) | filler derived from both; the length
 * is derived from gen too. */
static size_t make_value(uint8_t *out, size_t cap, const void *k, size_t kl, uint64_t gen) {
    uint64_t h = util_hash(k, kl);
    size_t len = 16 + (size_t)(gen * 2654435761u % (cap - 16 + 1));
    memcpy(out, &gen, 8);
    memcpy(out + 8, &h, 8);
    util_fill(out + 16, len - 16, h, gen);
    return len;
}

/* 1 if v is a value make_value could have produced for key k. */
static int value_ok(const uint8_t *v, size_t vl, const void *k, size_t kl, size_t cap) {
    if (vl < 16 || vl > cap) return 0;
    uint64_t gen, h;
    memcpy(&gen, v, 8);
    memcpy(&h, v + 8, 8);
    if (h != util_hash(k, kl)) return 0;
    if (vl != 16 + (size_t)(gen * 2654435761u % (cap - 16 + 1))) return 0;
    uint8_t tmp[512];
    if (vl - 16 > sizeof tmp) return 0;
    util_fill(tmp, vl - 16, h, gen);
    return memcmp(tmp, v + 16, vl - 16) == 0;
}

#define VCAP 300
#define NWRITERS 4
#define NSHARED 16
#define RANGE 400

struct shared_state {
    arm_engine *e;
    atomic_int stop;       /* readers stop when set */
    atomic_int writers_left;
    atomic_int failed;
    char why[256];
    int ops;
    uint64_t seed;
};

/* Record the first failure: what happened, a detail string, a number. */
static void fail(struct shared_state *s, const char *what, const char *a, long b) {
    if (atomic_exchange(&s->failed, 1) == 0)
        snprintf(s->why, sizeof s->why, "%s [%s] (%ld)", what, a, b);
}

struct writer {
    struct shared_state *s;
    int id;
    util_model model;           /* this writer's own keys */
    uint64_t last_shared[NSHARED]; /* gen of this writer's last write to each shared key */
    long cas_done;
    pthread_t th;
};

static size_t own_key(char *k, int w, unsigned i) { return (size_t)sprintf(k, "w%d-%05u", w, i); }
static size_t shared_key(char *k, unsigned i) { return (size_t)sprintf(k, "shared-%02u", i); }

static void *writer_main(void *arg) {
    struct writer *w = arg;
    struct shared_state *s = w->s;
    util_rng r;
    util_rng_seed(&r, s->seed * 31 + (uint64_t)w->id);
    arm_batch *b = NULL;
    if (arm_engine_batch_new(s->e, &b) != ARM_OK) fail(s, "batch_new", "", w->id);
    arm_buf buf = {0};
    uint8_t v[VCAP];
    char k[32];
    for (int op = 0; op < s->ops && !atomic_load(&s->failed); op++) {
        /* gens are unique per writer: (op << 8) | id, never 0 */
        uint64_t gen = ((uint64_t)(op + 1) << 8) | (uint64_t)w->id;
        unsigned kind = (unsigned)util_rng_below(&r, 100);
        if (kind < 50) { /* put own key */
            size_t kl = own_key(k, w->id, (unsigned)util_rng_below(&r, RANGE));
            size_t vl = make_value(v, VCAP, k, kl, gen);
            int rc = arm_engine_put(s->e, arm_slice_make(k, kl), arm_slice_make(v, vl));
            if (rc != ARM_OK) fail(s, "put", arm_rc_str(rc), op);
            util_model_put(&w->model, k, kl, v, vl);
        } else if (kind < 60) { /* delete own key */
            size_t kl = own_key(k, w->id, (unsigned)util_rng_below(&r, RANGE));
            int rc = arm_engine_delete(s->e, arm_slice_make(k, kl));
            int had = util_model_del(&w->model, k, kl);
            if (rc != (had ? ARM_OK : ARM_NOTFOUND)) fail(s, "delete", arm_rc_str(rc), op);
        } else if (kind < 70) { /* read own key: own writes are seen */
            size_t kl = own_key(k, w->id, (unsigned)util_rng_below(&r, RANGE));
            int rc = arm_engine_get(s->e, arm_slice_make(k, kl), &buf);
            const util_kv *kv = util_model_get(&w->model, k, kl);
            if (kv == NULL ? rc != ARM_NOTFOUND
                           : rc != ARM_OK || buf.len != kv->vlen ||
                                 memcmp(buf.ptr, kv->val, kv->vlen) != 0)
                fail(s, "read own write", arm_rc_str(rc), op);
        } else if (kind < 80) { /* shared key */
            unsigned si = (unsigned)util_rng_below(&r, NSHARED);
            size_t kl = shared_key(k, si);
            size_t vl = make_value(v, VCAP, k, kl, gen);
            int rc = arm_engine_put(s->e, arm_slice_make(k, kl), arm_slice_make(v, vl));
            if (rc != ARM_OK) fail(s, "put shared", arm_rc_str(rc), op);
            w->last_shared[si] = gen;
        } else if (kind < 90) { /* cas increment of the shared counter */
            for (;;) {
                uint64_t cur = 0;
                int rc = arm_engine_get(s->e, arm_slice_make("counter", 7), &buf);
                if (rc != ARM_OK || buf.len != 8) {
                    fail(s, "counter get", arm_rc_str(rc), op);
                    break;
                }
                memcpy(&cur, buf.ptr, 8);
                uint64_t next = cur + 1;
                rc = arm_engine_cas(s->e, arm_slice_make("counter", 7), arm_slice_make(&cur, 8),
                                    arm_slice_make(&next, 8));
                if (rc == ARM_OK) {
                    w->cas_done++;
                    break;
                }
                if (rc != ARM_CONSTRAINT) {
                    fail(s, "cas", arm_rc_str(rc), op);
                    break;
                }
            }
        } else { /* batch over own keys (and sometimes a shared key) */
            arm_engine_batch_clear(b);
            util_model m2;
            util_model_init(&m2);
            util_model_copy(&m2, &w->model);
            int n = 1 + (int)util_rng_below(&r, 8);
            int shared_si = -1;
            for (int i = 0; i < n; i++) {
                size_t kl = own_key(k, w->id, (unsigned)util_rng_below(&r, RANGE));
                if (util_rng_below(&r, 4) == 0) {
                    if (arm_engine_batch_delete(b, arm_slice_make(k, kl)) != ARM_OK)
                        fail(s, "batch_delete", "", op);
                    util_model_del(&m2, k, kl);
                } else {
                    size_t vl = make_value(v, VCAP, k, kl, gen + ((uint64_t)i << 40));
                    if (arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl)) !=
                        ARM_OK)
                        fail(s, "batch_put", "", op);
                    util_model_put(&m2, k, kl, v, vl);
                }
            }
            if (util_rng_below(&r, 2)) {
                shared_si = (int)util_rng_below(&r, NSHARED);
                size_t kl = shared_key(k, (unsigned)shared_si);
                size_t vl = make_value(v, VCAP, k, kl, gen);
                if (arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl)) != ARM_OK)
                    fail(s, "batch_put shared", "", op);
            }
            int rc = arm_engine_batch_commit(s->e, b);
            if (rc != ARM_OK) fail(s, "batch_commit", arm_rc_str(rc), op);
            util_model_copy(&w->model, &m2);
            util_model_free(&m2);
            if (shared_si >= 0) w->last_shared[shared_si] = gen;
        }
    }
    arm_engine_batch_free(b);
    arm_buf_free(&buf);
    if (atomic_fetch_sub(&s->writers_left, 1) == 1) atomic_store(&s->stop, 1);
    return NULL;
}

/* Readers: random keys of any range; a value seen must be well formed. */
static void *reader_main(void *arg) {
    struct shared_state *s = arg;
    util_rng r;
    util_rng_seed(&r, s->seed ^ 0xabcdef);
    arm_buf buf = {0};
    char k[32];
    while (!atomic_load(&s->stop) && !atomic_load(&s->failed)) {
        size_t kl;
        if (util_rng_below(&r, 4) == 0)
            kl = shared_key(k, (unsigned)util_rng_below(&r, NSHARED));
        else
            kl = own_key(k, (int)util_rng_below(&r, NWRITERS), (unsigned)util_rng_below(&r, RANGE));
        int rc = arm_engine_get(s->e, arm_slice_make(k, kl), &buf);
        if (rc == ARM_OK) {
            if (!value_ok(buf.ptr, buf.len, k, kl, VCAP)) fail(s, "reader: bad value for", k, 0);
        } else if (rc != ARM_NOTFOUND) {
            fail(s, "reader get", arm_rc_str(rc), 0);
        }
        rc = arm_engine_contains(s->e, arm_slice_make(k, kl));
        if (rc != ARM_OK && rc != ARM_NOTFOUND) fail(s, "contains", arm_rc_str(rc), 0);
    }
    arm_buf_free(&buf);
    return NULL;
}

/* Cursor: keys strictly increasing; values well formed (or deleted since). */
static void *cursor_main(void *arg) {
    struct shared_state *s = arg;
    util_rng r;
    util_rng_seed(&r, s->seed ^ 0x5555);
    while (!atomic_load(&s->stop) && !atomic_load(&s->failed)) {
        arm_cursor *c = NULL;
        if (arm_engine_cursor_open(s->e, NULL, &c) != ARM_OK) {
            fail(s, "cursor_open", "", 0);
            break;
        }
        uint8_t prev[64];
        size_t prevlen = 0;
        int have_prev = 0;
        int rc;
        if (util_rng_below(&r, 2)) {
            char k[32];
            size_t kl = own_key(k, (int)util_rng_below(&r, NWRITERS), 0);
            rc = arm_engine_cursor_seek(c, arm_slice_make(k, kl), ARM_SEEK_GE);
        } else {
            rc = arm_engine_cursor_first(c);
        }
        int steps = 0;
        while (rc == ARM_OK && steps < 300) {
            arm_slice key = arm_engine_cursor_key(c);
            if (key.len > sizeof prev) {
                fail(s, "cursor key too long", "", (long)key.len);
                break;
            }
            if (have_prev && util_keycmp(prev, prevlen, key.ptr, key.len) >= 0)
                fail(s, "cursor out of order at step", "", steps);
            memcpy(prev, key.ptr, key.len);
            prevlen = key.len;
            have_prev = 1;
            if (prevlen != 7 || memcmp(prev, "counter", 7) != 0) {
                arm_slice v;
                int vrc = arm_engine_cursor_value(c, &v);
                if (vrc == ARM_OK) {
                    if (!value_ok(v.ptr, v.len, prev, prevlen, VCAP))
                        fail(s, "cursor: bad value at step", "", steps);
                } else if (vrc != ARM_NOTFOUND) {
                    fail(s, "cursor_value", arm_rc_str(vrc), steps);
                }
            }
            steps++;
            rc = arm_engine_cursor_next(c);
        }
        if (rc != ARM_OK && rc != ARM_NOTFOUND) fail(s, "cursor step", arm_rc_str(rc), steps);
        arm_engine_cursor_close(c);
    }
    return NULL;
}

static void check_final(arm_engine *e, struct writer *w, uint64_t cas_total) {
    uint64_t total = 0;
    for (int i = 0; i < NWRITERS; i++) {
        util_model *m = &w[i].model;
        for (size_t j = 0; j < m->n; j++)
            util_expect(e, m->items[j].key, m->items[j].klen, m->items[j].val, m->items[j].vlen);
        for (unsigned k = 0; k < RANGE; k++) {
            char key[32];
            size_t kl = own_key(key, i, k);
            if (util_model_get(m, key, kl) == NULL) util_expect_missing(e, key, kl);
        }
        total += m->n;
    }
    /* shared keys: the final value is the last write of one of the writers */
    arm_buf b = {0};
    for (unsigned si = 0; si < NSHARED; si++) {
        char k[32];
        size_t kl = shared_key(k, si);
        int any = 0;
        for (int i = 0; i < NWRITERS; i++) any |= w[i].last_shared[si] != 0;
        int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
        if (!any) {
            ARM_CHECK_RC(rc, ARM_NOTFOUND);
            continue;
        }
        total++;
        ARM_CHECK_RC(rc, ARM_OK);
        ARM_CHECK(value_ok(b.ptr, b.len, k, kl, VCAP));
        uint64_t gen;
        memcpy(&gen, b.ptr, 8);
        int match = 0;
        for (int i = 0; i < NWRITERS; i++) match |= w[i].last_shared[si] == gen;
        if (!match)
            fprintf(stderr, "shared key %s holds gen %llx, no writer's last write\n", k,
                    (unsigned long long)gen);
        ARM_CHECK(match);
    }
    uint64_t cnt;
    ARM_CHECK_RC(arm_engine_get(e, arm_slice_make("counter", 7), &b), ARM_OK);
    ARM_CHECK(b.len == 8);
    memcpy(&cnt, b.ptr, 8);
    if (cnt != cas_total)
        fprintf(stderr, "counter %llu, successful cas %llu\n", (unsigned long long)cnt,
                (unsigned long long)cas_total);
    ARM_CHECK(cnt == cas_total);
    arm_buf_free(&b);
    ARM_CHECK(arm_engine_count(e) == total + 1);
}

static void run_mixed(int index_kind, int sync_mode) {
    const char *dir = fresh("thr");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 4;
    o.index_kind = index_kind;
    o.sync_mode = sync_mode;
    o.max_file_size = 256u << 10; /* rotation under load */
    o.write_buffer_size = 32u << 10;
    o.max_value_size = 16u << 10;
    arm_engine *e = util_open_ok(dir, &o);
    uint64_t zero = 0;
    util_put_ok(e, "counter", 7, &zero, 8);

    struct shared_state s;
    memset(&s, 0, sizeof s);
    s.e = e;
    s.ops = 3000 * util_scale();
    s.seed = harness_rand();
    atomic_store(&s.writers_left, NWRITERS);
    struct writer *w = calloc(NWRITERS, sizeof *w);
    ARM_CHECK(w != NULL);
    pthread_t rd[2], cur;
    for (int i = 0; i < NWRITERS; i++) {
        w[i].s = &s;
        w[i].id = i;
        util_model_init(&w[i].model);
        ARM_CHECK(pthread_create(&w[i].th, NULL, writer_main, &w[i]) == 0);
    }
    for (int i = 0; i < 2; i++) ARM_CHECK(pthread_create(&rd[i], NULL, reader_main, &s) == 0);
    int with_cursor = index_kind == ARM_INDEX_ORDERED;
    if (with_cursor) ARM_CHECK(pthread_create(&cur, NULL, cursor_main, &s) == 0);
    for (int i = 0; i < NWRITERS; i++) pthread_join(w[i].th, NULL);
    for (int i = 0; i < 2; i++) pthread_join(rd[i], NULL);
    if (with_cursor) pthread_join(cur, NULL);
    if (atomic_load(&s.failed)) fprintf(stderr, "thread failure: %s\n", s.why);
    ARM_CHECK(!atomic_load(&s.failed));

    uint64_t cas_total = 0;
    for (int i = 0; i < NWRITERS; i++) cas_total += (uint64_t)w[i].cas_done;
    check_final(e, w, cas_total);
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    check_final(e, w, cas_total);
    util_close_ok(e);
    for (int i = 0; i < NWRITERS; i++) util_model_free(&w[i].model);
    free(w);
}

static void test_mixed_ordered(void) { run_mixed(ARM_INDEX_ORDERED, ARM_SYNC_NORMAL); }
static void test_mixed_hash(void) { run_mixed(ARM_INDEX_HASH, ARM_SYNC_OFF); }

/* ------------------------------------------- sync=full group commit */
struct gc_thread {
    arm_engine *e;
    int id, n;
    atomic_int *failed;
    pthread_t th;
};

static void *gc_main(void *arg) {
    struct gc_thread *t = arg;
    uint8_t v[VCAP];
    for (int i = 0; i < t->n; i++) {
        char k[32];
        size_t kl = (size_t)sprintf(k, "gc%d-%05d", t->id, i);
        size_t vl = make_value(v, VCAP, k, kl, (uint64_t)i + 1);
        int rc;
        if (i % 10 == 9) { /* a small batch now and then */
            arm_batch *b = NULL;
            rc = arm_engine_batch_new(t->e, &b);
            if (rc == ARM_OK) rc = arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl));
            if (rc == ARM_OK) rc = arm_engine_batch_commit(t->e, b);
            arm_engine_batch_free(b);
        } else {
            rc = arm_engine_put(t->e, arm_slice_make(k, kl), arm_slice_make(v, vl));
        }
        if (rc != ARM_OK && atomic_exchange(t->failed, 1) == 0)
            fprintf(stderr, "thread %d op %d: %s \"%s\"\n", t->id, i, arm_rc_str(rc),
                    arm_engine_errmsg(t->e));
    }
    return NULL;
}

static void run_group_commit(uint64_t max_file_size, int n) {
    const char *dir = fresh("gc");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 2; /* more threads than shards: committers share syncs */
    o.sync_mode = ARM_SYNC_FULL;
    o.max_file_size = max_file_size;
    o.max_value_size = 4096;
    arm_engine *e = util_open_ok(dir, &o);
    enum { NT = 6 };
    struct gc_thread t[NT];
    atomic_int failed = 0;
    for (int i = 0; i < NT; i++) {
        t[i].e = e;
        t[i].id = i;
        t[i].n = n;
        t[i].failed = &failed;
        ARM_CHECK(pthread_create(&t[i].th, NULL, gc_main, &t[i]) == 0);
    }
    for (int i = 0; i < NT; i++) pthread_join(t[i].th, NULL);
    ARM_CHECK(!atomic_load(&failed));
    ARM_CHECK(arm_engine_count(e) == (uint64_t)NT * (uint64_t)n);
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    ARM_CHECK(arm_engine_count(e) == (uint64_t)NT * (uint64_t)n);
    uint8_t v[VCAP];
    for (int id = 0; id < NT; id++)
        for (int i = 0; i < n; i++) {
            char k[32];
            size_t kl = (size_t)sprintf(k, "gc%d-%05d", id, i);
            size_t vl = make_value(v, VCAP, k, kl, (uint64_t)i + 1);
            util_expect(e, k, kl, v, vl);
        }
    util_close_ok(e);
}

static void test_group_commit(void) { run_group_commit(256ull << 20, 120 * util_scale()); }
/* rotation while group-commit leaders sync outside the log lock */
static void test_group_commit_rotate(void) { run_group_commit(64u << 10, 400 * util_scale()); }

/* Open/close while nothing else runs, repeated: background threads (the
 * sync=normal syncer) start and stop cleanly. */
static void test_open_close_cycles(void) {
    const char *dir = fresh("cyc");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 3;
    for (int i = 0; i < 30; i++) {
        arm_engine *e = util_open_ok(dir, &o);
        char k[16];
        snprintf(k, sizeof k, "c%d", i);
        util_put_ok(e, k, strlen(k), k, strlen(k));
        ARM_CHECK(arm_engine_count(e) == (uint64_t)i + 1);
        util_close_ok(e);
    }
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("writers, readers, cursor: ordered index, sync normal", test_mixed_ordered());
    UTIL_CASE("writers and readers: hash index, sync off", test_mixed_hash());
    UTIL_CASE("sync=full group commit from several threads", test_group_commit());
    UTIL_CASE("sync=full group commit with file rotation", test_group_commit_rotate());
    UTIL_CASE("open/close cycles", test_open_close_cycles());
    return harness_done();
}
