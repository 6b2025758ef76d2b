/* SPDX-License-Identifier: MIT */
/*
 * test_compact.c: compaction (engine/compact.c). One key overwritten a
 * million times keeps the directory small; deleting everything makes the
 * files go (and nothing comes back at reopen); a random model of puts,
 * deletes and cross-shard batches survives merges and reopens; writers
 * racing merges on the same keys always win; the background thread merges
 * on its own and stops at close; a cursor, a get and a held reference keep a
 * retired file readable; a log reader positioned before removed log files
 * fails instead of skipping them; an undecided (in-doubt) transaction's file
 * is never merged and its outcome holds after it is resolved and merged; a
 * follower's newest positions survive merges. Power cuts inside a merge are
 * test_compact_crash.c's, kill -9 while merges run test_compact_kill.c's.
 */
#include "../harness.h"
#include "../../engine/engine_int.h"
#include "../../common/arm_alloc.h"
#include "../util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static util_case_dir g_dir; /* tmp, db, work */

static void small_opts(arm_engine_options *o, uint32_t shards) {
    arm_engine_options_init(o);
    o->shard_count = shards;
    o->max_file_size = 64u << 10;
    o->max_value_size = 8u << 10;
    o->write_buffer_size = 16u << 10;
    o->sync_mode = ARM_SYNC_OFF;
    o->compaction = 0; /* the tests call arm_engine_compact, unless they test the thread */
}

static arm_compact_result compact_ok(arm_engine *e) {
    arm_compact_result r;
    UTIL_CHECK_RC(e, arm_engine_compact(e, &r), ARM_OK);
    return r;
}

static size_t key_of(char *b, unsigned i) {
    return (size_t)sprintf(b, "ck%06u", i);
}
static size_t val_of(uint8_t *b, unsigned i, unsigned g, size_t pad) {
    size_t n = (size_t)sprintf((char *)b, "v%06u/%u/", i, g);
    util_fill(b + n, pad, i, g);
    return n + pad;
}
static void put_kv(arm_engine *e, unsigned i, unsigned g, size_t pad) {
    char k[32];
    uint8_t v[2048];
    size_t kl = key_of(k, i), vl = val_of(v, i, g, pad);
    util_put_ok(e, k, kl, v, vl);
}
static void expect_kv(arm_engine *e, unsigned i, unsigned g, size_t pad) {
    char k[32];
    uint8_t v[2048];
    size_t kl = key_of(k, i), vl = val_of(v, i, g, pad);
    util_expect(e, k, kl, v, vl);
}
static void del_kv(arm_engine *e, unsigned i) {
    char k[32];
    size_t kl = key_of(k, i);
    UTIL_CHECK_RC(e, arm_engine_delete(e, arm_slice_make(k, kl)), ARM_OK);
}

/* No merge output left behind, no hint without its data file. */
static void expect_tidy(const char *db) {
    int merges = 0;
    ARM_CHECK(util_dir_bytes(db, ".merge", &merges) >= 0);
    ARM_CHECK(merges == 0);
    char orphan[1400];
    int orphans = util_orphan_hints(db, orphan, sizeof orphan);
    if (orphans > 0) fprintf(stderr, "orphan hint %s\n", orphan);
    ARM_CHECK(orphans == 0);
}

/* The end of a case: check finds nothing, close, nothing left behind. */
static void close_clean(arm_engine *e, const char *db) {
    util_check_clean(e);
    util_close_ok(e);
    expect_tidy(db);
}

/* ------------------------------------------------- bounded, files go */
static void test_overwrite_bounded(void) {
    const char *db = util_case_fresh(&g_dir, "cmp-over");
    arm_engine_options o;
    small_opts(&o, 1);
    arm_engine *e = util_open_ok(db, &o);
    const unsigned n = 1000000;
    int64_t most = 0;
    uint64_t reclaimed = 0;
    for (unsigned g = 1; g <= n; g++) {
        uint8_t v[32];
        int vl = snprintf((char *)v, sizeof v, "gen%u", g);
        util_put_ok(e, "hot", 3, v, (size_t)vl);
        if (g % 50000 == 0) {
            reclaimed += compact_ok(e).reclaimed;
            int64_t du = util_dir_bytes(db, NULL, NULL);
            if (du > most) most = du;
        }
    }
    /* 50k entries of ~32 bytes between merges: about 1.6 MB of log at most,
     * nothing of the 32 MB written before */
    fprintf(stderr, "    overwrite: largest directory %lld bytes, %llu reclaimed\n",
            (long long)most, (unsigned long long)reclaimed);
    ARM_CHECK(most < (int64_t)4 << 20);
    ARM_CHECK(reclaimed > (uint64_t)20 << 20);
    char want[32];
    int wl = snprintf(want, sizeof want, "gen%u", n);
    util_expect(e, "hot", 3, want, (size_t)wl);
    util_close_ok(e);
    e = util_open_ok(db, &o);
    util_expect(e, "hot", 3, want, (size_t)wl);
    ARM_CHECK(arm_engine_count(e) == 1);
    close_clean(e, db);
}

static void test_delete_all(void) {
    const char *db = util_case_fresh(&g_dir, "cmp-del");
    arm_engine_options o;
    small_opts(&o, 2);
    arm_engine *e = util_open_ok(db, &o);
    const unsigned n = 6000;
    for (unsigned i = 0; i < n; i++)
        put_kv(e, i, 1, 100);
    int64_t full = util_dir_bytes(db, NULL, NULL);
    for (unsigned i = 0; i < n; i++)
        del_kv(e, i);
    /* some unrelated writes and deletes so the deletes are in sealed files */
    for (unsigned i = n; i < n + 2000; i++)
        put_kv(e, i, 1, 100);
    for (unsigned i = n; i < n + 2000; i++)
        del_kv(e, i);
    arm_compact_result r = compact_ok(e);
    (void)compact_ok(e); /* a second pass finds nothing more to gain */
    int64_t after = util_dir_bytes(db, NULL, NULL);
    fprintf(stderr, "    delete all: %lld bytes full, %lld after; %llu files merged\n",
            (long long)full, (long long)after, (unsigned long long)r.files_in);
    ARM_CHECK(r.files_in > 10);
    ARM_CHECK(after < full / 8);
    ARM_CHECK(arm_engine_count(e) == 0);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.files <= 3 * 2); /* per shard: the active file, its predecessor, a marker */
    util_close_ok(e);
    e = util_open_ok(db, &o);
    ARM_CHECK(arm_engine_count(e) == 0);
    for (unsigned i = 0; i < n; i += 97) {
        char k[32];
        size_t kl = key_of(k, i);
        util_expect_missing(e, k, kl);
    }
    close_clean(e, db);
}

/* Live data is carried over exactly: a mix of kept, overwritten, deleted
 * keys and batches over three shards survives merges and reopens. */
/* encrypted: the same over an encrypted database (merges read and write
 * through file.c's block seam). */
static void test_model(int encrypted) {
    const char *db = util_case_fresh(&g_dir, "cmp-model");
    arm_engine_options o;
    small_opts(&o, 3);
    uint8_t key[32];
    for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
    if (encrypted) o.encryption_key = key;
    arm_engine *e = util_open_ok(db, &o);
    util_model m;
    util_model_init(&m);
    util_rng rng;
    util_rng_seed(&rng, harness_seed);
    uint64_t merged = 0;
    for (unsigned round = 0; round < 6; round++) {
        for (unsigned j = 0; j < 3000; j++) {
            unsigned i = (unsigned)util_rng_below(&rng, 1500);
            char k[32];
            uint8_t v[2048];
            size_t kl = key_of(k, i);
            unsigned what = (unsigned)util_rng_below(&rng, 10);
            if (what < 2) {
                int had = util_model_get(&m, k, kl) != NULL;
                UTIL_CHECK_RC(e, arm_engine_delete(e, arm_slice_make(k, kl)),
                              had ? ARM_OK : ARM_NOTFOUND);
                util_model_del(&m, k, kl);
            } else if (what < 4) { /* a batch over several shards */
                arm_batch *b;
                UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
                for (unsigned x = 0; x < 4; x++) {
                    unsigned bi = (unsigned)util_rng_below(&rng, 1500);
                    size_t bkl = key_of(k, bi), bvl = val_of(v, bi, round * 10000 + j, 40 + x);
                    UTIL_CHECK_RC(
                        e, arm_engine_batch_put(b, arm_slice_make(k, bkl), arm_slice_make(v, bvl)),
                        ARM_OK);
                    util_model_put(&m, k, bkl, v, bvl);
                }
                UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
                arm_engine_batch_free(b);
            } else {
                size_t vl = val_of(v, i, round * 10000 + j, (size_t)util_rng_below(&rng, 300));
                util_put_ok(e, k, kl, v, vl);
                util_model_put(&m, k, kl, v, vl);
            }
        }
        merged += compact_ok(e).files_in;
        util_expect_model(e, &m);
        if (round % 2 == 1) {
            util_close_ok(e);
            e = util_open_ok(db, &o);
            util_expect_model(e, &m);
        }
    }
    ARM_CHECK(merged > 0); /* the merges really ran */
    close_clean(e, db);
    util_model_free(&m);
}

/* ------------------------------------------------------------ races */
#define RACE_THREADS 2
#define RACE_KEYS    200

typedef struct race_arg {
    arm_engine *e;
    unsigned id, rounds;
    unsigned last[RACE_KEYS];
    _Atomic int *done;
} race_arg;

static void *race_writer(void *p) {
    race_arg *a = p;
    for (unsigned g = 1; g <= a->rounds; g++) {
        for (unsigned k = 0; k < RACE_KEYS; k++) {
            unsigned i = a->id * RACE_KEYS + k;
            put_kv(a->e, i, g, 60);
            a->last[k] = g;
        }
    }
    return NULL;
}

static void *race_compactor(void *p) {
    race_arg *a = p;
    while (!atomic_load(a->done))
        (void)compact_ok(a->e);
    return NULL;
}

/* Every writer's keys hold its last write. */
static void expect_race_last(arm_engine *e, const race_arg *w) {
    for (unsigned t = 0; t < RACE_THREADS; t++)
        for (unsigned k = 0; k < RACE_KEYS; k++)
            expect_kv(e, t * RACE_KEYS + k, w[t].last[k], 60);
}

static void test_race(void) {
    const char *db = util_case_fresh(&g_dir, "cmp-race");
    arm_engine_options o;
    small_opts(&o, 2);
    arm_engine *e = util_open_ok(db, &o);
    _Atomic int done = 0;
    race_arg w[RACE_THREADS], c = {.e = e, .done = &done};
    pthread_t tw[RACE_THREADS], tc;
    for (unsigned t = 0; t < RACE_THREADS; t++) {
        memset(&w[t], 0, sizeof(w[t]));
        w[t].e = e;
        w[t].id = t;
        w[t].rounds = 150;
        ARM_CHECK(pthread_create(&tw[t], NULL, race_writer, &w[t]) == 0);
    }
    ARM_CHECK(pthread_create(&tc, NULL, race_compactor, &c) == 0);
    for (unsigned t = 0; t < RACE_THREADS; t++)
        pthread_join(tw[t], NULL);
    atomic_store(&done, 1);
    pthread_join(tc, NULL);
    expect_race_last(e, w);
    ARM_CHECK(arm_engine_count(e) == RACE_THREADS * RACE_KEYS);
    util_close_ok(e);
    e = util_open_ok(db, &o);
    expect_race_last(e, w);
    close_clean(e, db);
}

/* The background thread merges on its own, and stops at close. */
static void test_background(void) {
    const char *db = util_case_fresh(&g_dir, "cmp-bg");
    arm_engine_options o;
    small_opts(&o, 1);
    o.compaction = 1;
    arm_engine *e = util_open_ok(db, &o);
    for (unsigned g = 1; g <= 20; g++)
        for (unsigned i = 0; i < 300; i++)
            put_kv(e, i, g, 100);
    int64_t du = 0;
    uint64_t t0 = util_now_ms();
    /* generous: a loaded machine may take long to schedule the thread */
    while ((du = util_dir_bytes(db, NULL, NULL)) > (int64_t)400 << 10 && util_now_ms() - t0 < 60000)
        usleep(50 * 1000);
    fprintf(stderr, "    background: %lld bytes after %llu ms\n", (long long)du,
            (unsigned long long)(util_now_ms() - t0));
    ARM_CHECK(du <= (int64_t)400 << 10);
    for (unsigned i = 0; i < 300; i++)
        expect_kv(e, i, 20, 100);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.compaction == 1);
    util_close_ok(e);
    e = util_open_ok(db, &o);
    for (unsigned i = 0; i < 300; i++)
        expect_kv(e, i, 20, 100);
    util_close_ok(e);
    expect_tidy(db);
}

/* ------------------------------------------------- holders of a file */
static void test_holders(void) {
    const char *db = util_case_fresh(&g_dir, "cmp-hold");
    arm_engine_options o;
    small_opts(&o, 1);
    arm_engine *e = util_open_ok(db, &o);
    const unsigned n = 2000;
    for (unsigned i = 0; i < n; i++)
        put_kv(e, i, 1, 100);
    /* the oldest file, held as a reader would */
    uint32_t fid = 0;
    arm_file_ref ref;
    ARM_CHECK_RC(arm_files_hold_next(&e->files, &fid, &ref), ARM_OK);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", ref.file->path);
    /* a cursor that has read part of the keys */
    arm_cursor *c;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_OK);
    for (unsigned i = 0; i < 10; i++)
        ARM_CHECK_RC(arm_engine_cursor_next(c), ARM_OK);
    /* everything after the first 100 keys overwritten: old files mostly dead */
    for (unsigned i = 100; i < n; i++)
        put_kv(e, i, 2, 100);
    arm_compact_result r = compact_ok(e);
    ARM_CHECK(r.files_in > 0);
    ARM_CHECK(util_file_size(path) < 0); /* its name is gone */
    uint8_t head[ARM_FILE_HEADER_SIZE];
    int err = 0;
    ARM_CHECK_RC(arm_file_read(ref.file, 0, head, sizeof head, &err), ARM_OK); /* still readable */
    arm_file_hdr fh;
    ARM_CHECK_RC(arm_file_hdr_decode(head, sizeof head, &fh), ARM_OK);
    ARM_CHECK(fh.fid == ref.fid);
    ARM_CHECK_RC(arm_files_hold(&e->files, ref.fid, &(arm_file_ref){0}), ARM_NOTFOUND);
    /* the cursor goes on: the keys it has not read yet, whole */
    unsigned seen = 11;
    for (int rc = arm_engine_cursor_next(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
        arm_slice k = arm_engine_cursor_key(c), v;
        ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
        unsigned i;
        ARM_CHECK(sscanf((const char *)k.ptr, "ck%6u", &i) == 1);
        unsigned g;
        ARM_CHECK(sscanf((const char *)v.ptr, "v%*6u/%u/", &g) == 1);
        ARM_CHECK(g == 1 || g == 2); /* what the cursor saw, or newer: never garbage */
        uint8_t want[256];
        size_t wl = val_of(want, i, g, 100);
        ARM_CHECK(v.len == wl && memcmp(v.ptr, want, wl) == 0);
        seen++;
    }
    ARM_CHECK(seen == n);
    arm_engine_cursor_close(c);
    arm_file_release(&ref);
    ARM_CHECK(arm_files_get(&e->files, fid - 1) == NULL); /* the last holder removed it */
    for (unsigned i = 0; i < n; i++)
        expect_kv(e, i, i < 100 ? 1 : 2, 100);
    util_close_ok(e);
    expect_tidy(db);
}

/* A log reader never skips what compaction removed: positioned before it,
 * stepping on fails with ARM_RANGE; from the origin, once the first files
 * are gone, too (also after a reopen). */
static void test_log_reader(void) {
    const char *db = util_case_fresh(&g_dir, "cmp-lr");
    arm_engine_options o;
    small_opts(&o, 1);
    arm_engine *e = util_open_ok(db, &o);
    for (unsigned i = 0; i < 300; i++)
        put_kv(e, i, 1, 100);
    arm_log_reader *r;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    arm_log_txn txn;
    ARM_CHECK_RC(arm_log_reader_next(r, &txn), ARM_OK); /* in the first file */
    for (unsigned g = 2; g <= 6; g++)
        for (unsigned i = 0; i < 300; i++)
            put_kv(e, i, g, 100);
    ARM_CHECK(compact_ok(e).files_in > 2);
    int rc;
    uint64_t got = 1;
    while ((rc = arm_log_reader_next(r, &txn)) == ARM_OK)
        got++;
    ARM_CHECK_RC(rc, ARM_RANGE);
    ARM_CHECK(got < 6 * 300);
    arm_log_reader_close(r);
    r = NULL;
    ARM_CHECK_RC(arm_log_reader_open(e, NULL, &r), ARM_RANGE);
    ARM_CHECK(r == NULL);
    /* a position in the log that is left still reads on */
    arm_log_pos pos = {0, 0, 0, 0};
    uint32_t fid = 0;
    arm_file_ref ref;
    while (arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        if (!ref.file->merged && pos.fid == 0) pos = e->shards[0].tail; /* the tail is live */
        arm_file_release(&ref);
    }
    ARM_CHECK(pos.fid != 0);
    UTIL_CHECK_RC(e, arm_log_reader_open(e, &pos, &r), ARM_OK);
    ARM_CHECK_RC(arm_log_reader_next(r, &txn), ARM_NOTFOUND);
    arm_log_reader_close(r);
    util_close_ok(e);
    e = util_open_ok(db, &o); /* the merged files tell a reopen that history is gone */
    ARM_CHECK_RC(arm_log_reader_open(e, NULL, &r), ARM_RANGE);
    util_close_ok(e);
}

/* An in-doubt transaction (prepared with an external decision, the process
 * gone): its file and every later one stay; once resolved, a merge may take
 * them, and the outcome survives merges and reopens. */
static void test_indoubt(void) {
    for (int commit = 0; commit < 2; commit++) {
        const char *db = util_case_fresh(&g_dir, "cmp-indoubt");
        arm_engine_options o;
        small_opts(&o, 1);
        o.sync_mode = ARM_SYNC_FULL;
        arm_engine *e = util_open_ok(db, &o);
        const unsigned n = 1500;
        for (unsigned i = 0; i < n; i++)
            put_kv(e, i, 1, 100);
        util_close_ok(e);
        pid_t pid = fork();
        ARM_CHECK(pid >= 0);
        if (pid == 0) {
            arm_engine *c = NULL;
            arm_txn *t = NULL;
            arm_txn_ext ext;
            memset(&ext, 7, sizeof ext);
            if (arm_engine_open(db, &o, &c) != ARM_OK || arm_txn_begin(c, NULL, 0, &t) != ARM_OK)
                _exit(3);
            if (arm_txn_put(t, UTIL_S("t1"), UTIL_S("doubt")) != ARM_OK ||
                arm_txn_put(t, UTIL_S("t2"), UTIL_S("doubt")) != ARM_OK)
                _exit(4);
            if (arm_txn_prepare(t, &ext) != ARM_OK) _exit(5);
            _exit(0); /* no publish, no discard, no close */
        }
        int st = 0;
        ARM_CHECK(waitpid(pid, &st, 0) == pid);
        ARM_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        e = util_open_ok(db, &o);
        for (unsigned g = 2; g <= 4; g++)
            for (unsigned i = 0; i < n; i++)
                put_kv(e, i, g, 100);
        arm_compact_result r = compact_ok(e);
        ARM_CHECK(r.files_in > 0); /* the files before it */
        arm_indoubt *list = NULL;
        size_t nd = 0;
        ARM_CHECK_RC(arm_engine_indoubt_list(e, &list, &nd), ARM_OK);
        ARM_CHECK(nd == 1);
        uint64_t id = list[0].id;
        arm_free(list);
        util_expect_missing(e, "t1", 2);
        /* the batch's file is still there: a reopen still finds it in doubt */
        util_close_ok(e);
        e = util_open_ok(db, &o);
        ARM_CHECK_RC(arm_engine_indoubt_list(e, &list, &nd), ARM_OK);
        ARM_CHECK(nd == 1 && list[0].id == id);
        arm_free(list);
        UTIL_CHECK_RC(e, arm_engine_indoubt_resolve(e, id, commit), ARM_OK);
        for (unsigned i = 0; i < n; i++)
            put_kv(e, i, 5, 100);
        r = compact_ok(e);
        ARM_CHECK(r.files_in > 0);
        for (int round = 0; round < 2; round++) {
            if (commit) {
                util_expect(e, "t1", 2, "doubt", 5);
                util_expect(e, "t2", 2, "doubt", 5);
            } else {
                util_expect_missing(e, "t1", 2);
                util_expect_missing(e, "t2", 2);
            }
            for (unsigned i = 0; i < n; i += 37)
                expect_kv(e, i, 5, 100);
            ARM_CHECK_RC(arm_engine_indoubt_list(e, &list, &nd), ARM_OK);
            ARM_CHECK(nd == 0);
            util_close_ok(e);
            e = util_open_ok(db, &o);
        }
        close_clean(e, db);
    }
}

/* Apply, as a follower, one batch writing key s % 50 (value of generation
 * s), storing the position *pos of leader shard *sh when sh is not NULL. */
static void apply_kv(arm_engine *e, unsigned s, const uint8_t *leader, const uint32_t *sh,
                     const arm_log_pos *pos) {
    arm_batch *b;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    char k[32];
    uint8_t v[256];
    size_t kl = key_of(k, s % 50), vl = val_of(v, s % 50, s, 120);
    UTIL_CHECK_RC(e, arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl)),
                  ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_apply(e, b, leader, sh, pos, sh ? 1 : 0, 0), ARM_OK);
    arm_engine_batch_free(b);
}

/* A follower's positions (REPL_POS entries, one per apply) survive merges
 * that remove every file holding them but the newest per leader shard. */
static void test_positions(void) {
    const char *db = util_case_fresh(&g_dir, "cmp-pos");
    arm_engine_options o;
    small_opts(&o, 2);
    arm_engine *e = util_open_ok(db, &o);
    arm_engine_set_follower(e, 1);
    static const uint8_t leader[16] = {'l', 'e', 'a', 'd', 'e', 'r'};
    arm_log_pos last[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    for (unsigned s = 1; s <= 3000; s++) {
        uint32_t sh = s % 2;
        arm_log_pos pos = {s, 64 + 40 * (uint64_t)s, 7, 40};
        apply_kv(e, s, leader, &sh, &pos);
        last[sh] = pos;
    }
    /* then applies that store no position, so the newest ones are in old files */
    for (unsigned s = 3001; s <= 5000; s++)
        apply_kv(e, s, leader, NULL, NULL);
    ARM_CHECK(compact_ok(e).files_in > 5);
    for (int round = 0; round < 2; round++) {
        for (uint32_t sh = 0; sh < 2; sh++) {
            uint8_t lid[16];
            arm_log_pos pos;
            uint32_t flags;
            UTIL_CHECK_RC(e, arm_engine_repl_pos(e, sh, lid, &pos, &flags), ARM_OK);
            ARM_CHECK(memcmp(lid, leader, 16) == 0);
            ARM_CHECK(memcmp(&pos, &last[sh], sizeof pos) == 0);
        }
        for (unsigned i = 0; i < 50; i++) expect_kv(e, i, 5000 - ((5000 - i) % 50), 120);
        util_close_ok(e);
        e = util_open_ok(db, &o);
        arm_engine_set_follower(e, 1);
    }
    (void)compact_ok(e);
    util_close_ok(e);
    expect_tidy(db);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_dir.tmp);
    UTIL_CASE("one key overwritten a million times: disk use bounded", test_overwrite_bounded());
    UTIL_CASE("delete everything: the files go, nothing comes back", test_delete_all());
    UTIL_CASE("a random model survives merges and reopens", test_model(0));
    UTIL_CASE("... on an encrypted database", test_model(1));
    UTIL_CASE("writers racing merges on the same keys: the last write wins", test_race());
    UTIL_CASE("the background thread merges by itself", test_background());
    UTIL_CASE("a cursor, a get and a reference hold a retired file", test_holders());
    UTIL_CASE("a log reader fails instead of skipping removed files", test_log_reader());
    UTIL_CASE("an in-doubt transaction's file stays until it is resolved", test_indoubt());
    UTIL_CASE("a follower's newest positions survive merges", test_positions());
    return harness_done();
}
