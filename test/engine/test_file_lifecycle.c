/* SPDX-License-Identifier: MIT */
/*
 * test_file_lifecycle.c: the data-file owner (engine/file.c). A file retired
 * while a reference, a get or a cursor holds it stays whole and readable
 * until the last holder lets go, and then its fds, its mapping and its name
 * on disk are gone; a file nobody holds goes at once; a retired file cannot
 * be held anew; stats and check see live files only. The concurrent case
 * (readers and cursors on many threads while the writer moves every key and
 * retires the files left dead, as compaction does) is meant to run clean
 * under ThreadSanitizer. The test plays compaction itself (the engine's is
 * off here, test_compact.c tests it): it rewrites every live entry, then
 * retires.
 */
#include "../harness.h"
#include "../../engine/engine_int.h"
#include "../util.h"

#include <limits.h>
#include <sched.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static util_case_dir g_dir; /* tmp, db, work */

/* Small files, one shard: a few hundred keys make several files. */
static void small_opts(arm_engine_options *o, uint32_t shards) {
    arm_engine_options_init(o);
    o->compaction = 0; /* the test plays compaction itself */
    o->shard_count = shards;
    o->max_file_size = 64u << 10;
    o->max_value_size = 8u << 10;
    o->write_buffer_size = 16u << 10;
    o->sync_mode = ARM_SYNC_OFF;
}

/* Key i is "fk%06u" (key order = number order); its value at generation g
 * names both, so a reader can tell a value of the right key from garbage. */
static size_t fkey(char *b, unsigned i) { return (size_t)sprintf(b, "fk%06u", i); }
static size_t fval(uint8_t *b, unsigned i, unsigned g) {
    size_t n = (size_t)sprintf((char *)b, "v%06u/%u/", i, g);
    util_fill(b + n, 100, i, g);
    return n + 100;
}
static int fval_ok(const uint8_t *v, size_t vl, unsigned i, unsigned *g_out) {
    unsigned k, g;
    if (vl < 10 || sscanf((const char *)v, "v%6u/%u/", &k, &g) != 2 || k != i) return 0;
    uint8_t want[160];
    size_t n = fval(want, i, g);
    if (g_out) *g_out = g;
    return n == vl && memcmp(want, v, vl) == 0;
}

static void put_gen(arm_engine *e, unsigned n, unsigned g) {
    char k[32];
    uint8_t v[160];
    for (unsigned i = 0; i < n; i++) {
        size_t kl = fkey(k, i), vl = fval(v, i, g);
        util_put_ok(e, k, kl, v, vl);
    }
}

static void expect_gen(arm_engine *e, unsigned n, unsigned g) {
    char k[32];
    uint8_t v[160];
    for (unsigned i = 0; i < n; i++) {
        size_t kl = fkey(k, i), vl = fval(v, i, g);
        util_expect(e, k, kl, v, vl);
    }
}

/* The oldest file of shard 0, which must be sealed (not the active one). */
static uint32_t oldest_sealed(arm_engine *e) {
    uint32_t fid = 0;
    arm_file_ref ref;
    ARM_CHECK_RC(arm_files_hold_next(&e->files, &fid, &ref), ARM_OK);
    uint32_t id = ref.fid;
    arm_file_release(&ref);
    ARM_CHECK(id != atomic_load(&e->shards[0].active_fid));
    return id;
}

/* The file key i's entry is in now (read from the index). */
static uint32_t fid_of(arm_engine *e, unsigned i) {
    char k[32];
    size_t kl = fkey(k, i);
    arm_shard *sh = &e->shards[arm_engine_route(e, (const uint8_t *)k, kl)];
    pthread_rwlock_rdlock(&sh->index_lock);
    arm_item *it = arm_index_get(sh->index, (const uint8_t *)k, kl);
    uint32_t fid = it ? it->fid : 0;
    pthread_rwlock_unlock(&sh->index_lock);
    ARM_CHECK(fid != 0);
    return fid;
}

static uint64_t stat_files(arm_engine *e) {
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    return st.files;
}

/* ------------------------------------------------------------------ */
/* A reference keeps a retired file whole; the last release removes it. */
static void test_hold_retire_release(void) {
    arm_engine_options o;
    small_opts(&o, 1);
    arm_engine *e = util_open_ok(util_case_fresh(&g_dir, "hold"), &o);
    const unsigned n = 1500;
    put_gen(e, n, 0);
    uint32_t x = oldest_sealed(e);
    arm_file *f = arm_engine_file(e, x);
    ARM_CHECK(f != NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", f->path);
    ARM_CHECK(util_file_size(path) > 0);
    ARM_CHECK(util_fds_on(path) >= 1);
    ARM_CHECK(util_mapped(path) == (o.mmap_reads ? 1 : 0));

    arm_file_ref ref;
    ARM_CHECK_RC(arm_files_hold(&e->files, x, &ref), ARM_OK);
    ARM_CHECK(ref.file == f);
    /* play compaction: every live entry moves out of x, then x retires */
    put_gen(e, n, 1);
    ARM_CHECK(arm_file_dead(f) == atomic_load(&f->size) - ARM_FILE_HEADER_SIZE);
    uint64_t files0 = stat_files(e);
    ARM_CHECK_RC(arm_files_retire(&e->files, x), ARM_OK);
    ARM_CHECK_RC(arm_files_retire(&e->files, x), ARM_NOTFOUND); /* once */

    /* held: whole and readable, through the same fd and mapping */
    ARM_CHECK(util_file_size(path) > 0);
    ARM_CHECK(util_fds_on(path) >= 1);
    ARM_CHECK(arm_engine_file(e, x) == f);
    uint8_t hdr[ARM_FILE_HEADER_SIZE];
    int err = 0;
    ARM_CHECK_RC(arm_file_read(f, 0, hdr, sizeof hdr, &err), ARM_OK);
    arm_file_hdr fh;
    ARM_CHECK_RC(arm_file_hdr_decode(hdr, sizeof hdr, &fh), ARM_OK);
    ARM_CHECK(fh.fid == x);
    if (f->map) ARM_CHECK(memcmp(f->map, hdr, sizeof hdr) == 0);
    /* but cannot be held anew, and counts as gone for stats */
    arm_file_ref again;
    ARM_CHECK_RC(arm_files_hold(&e->files, x, &again), ARM_NOTFOUND);
    ARM_CHECK(again.table == NULL);
    uint64_t files1 = stat_files(e);
    ARM_CHECK(files1 == files0 - 1);

    arm_file_release(&ref);
    ARM_CHECK(ref.table == NULL);
    arm_file_release(&ref); /* a released ref holds nothing: no-op */
    ARM_CHECK(util_file_size(path) < 0);
    ARM_CHECK(util_fds_on(path) == 0);
    ARM_CHECK(!util_mapped(path));
    ARM_CHECK(arm_engine_file(e, x) == NULL);
    ARM_CHECK(stat_files(e) == files1);
    expect_gen(e, n, 1);
    uint64_t problems = 9;
    UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems == 0);
    util_close_ok(e);
    e = util_open_ok(g_dir.db, &o);
    expect_gen(e, n, 1);
    util_close_ok(e);
}

/* Nobody holds it: retiring removes the file at once. An unknown or active
 * id is refused. */
static void test_retire_unheld(void) {
    arm_engine_options o;
    small_opts(&o, 1);
    o.mmap_reads = 0;
    arm_engine *e = util_open_ok(util_case_fresh(&g_dir, "unheld"), &o);
    const unsigned n = 1500;
    put_gen(e, n, 0);
    uint32_t x = oldest_sealed(e);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", arm_engine_file(e, x)->path);
    uint64_t files0 = stat_files(e);
    put_gen(e, n, 1);
    uint64_t files1 = stat_files(e);
    ARM_CHECK(files1 > files0);
    ARM_CHECK_RC(arm_files_retire(&e->files, x), ARM_OK);
    ARM_CHECK(util_file_size(path) < 0);
    ARM_CHECK(util_fds_on(path) == 0);
    ARM_CHECK(stat_files(e) == files1 - 1);
    ARM_CHECK_RC(arm_files_retire(&e->files, 999999), ARM_NOTFOUND);
    arm_file_ref r;
    ARM_CHECK_RC(arm_files_hold(&e->files, 999999, &r), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_files_hold(&e->files, ARM_FILE_CHUNK * ARM_FILE_CHUNKS_MAX + 5, &r),
                 ARM_NOTFOUND);
    expect_gen(e, n, 1);
    util_close_ok(e);
}

/* A cursor's run holds the files it points into: values read through it
 * after the keys moved and the file retired are the ones it saw; moving
 * past the run lets the file go. */
static void test_cursor_holds(void) {
    arm_engine_options o;
    small_opts(&o, 1);
    arm_engine *e = util_open_ok(util_case_fresh(&g_dir, "cursor"), &o);
    const unsigned n = 1500;
    put_gen(e, n, 0);
    uint32_t x = oldest_sealed(e);
    ARM_CHECK(fid_of(e, 0) == x);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", arm_engine_file(e, x)->path);

    arm_cursor *c = NULL;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_cursor_first(c), ARM_OK); /* the first run: keys in file x */
    put_gen(e, n, 1);
    /* the hint thread holds a sealed file while it writes the file's hint:
     * let it finish, so the only holder left is the cursor */
    arm_files_hints_drain(&e->files);
    ARM_CHECK_RC(arm_files_retire(&e->files, x), ARM_OK);
    ARM_CHECK(util_file_size(path) > 0); /* the cursor holds it */
    unsigned i = 0, old = 0;
    for (int rc = ARM_OK; rc == ARM_OK; rc = arm_engine_cursor_next(c), i++) {
        ARM_CHECK(rc == ARM_OK);
        char k[32];
        size_t kl = fkey(k, i);
        arm_slice key = arm_engine_cursor_key(c);
        ARM_CHECK(key.len == kl && memcmp(key.ptr, k, kl) == 0);
        arm_slice v;
        UTIL_CHECK_RC(e, arm_engine_cursor_value(c, &v), ARM_OK);
        unsigned g = 9;
        ARM_CHECK(fval_ok(v.ptr, v.len, i, &g));
        if (g == 0) old++;
        /* the first run shows the values as they were, from file x */
        if (i < 64) ARM_CHECK(g == 0);
        if (i == 300) ARM_CHECK(util_file_size(path) < 0); /* past the run: let go */
        if (i + 1 == n) {
            ARM_CHECK_RC(arm_engine_cursor_next(c), ARM_NOTFOUND);
            break;
        }
    }
    ARM_CHECK(i + 1 == n);
    ARM_CHECK(old >= 64);
    arm_engine_cursor_close(c);
    ARM_CHECK(util_file_size(path) < 0);
    ARM_CHECK(util_fds_on(path) == 0);
    ARM_CHECK(!util_mapped(path));
    /* a cursor closed while holding lets go as well */
    uint32_t y = fid_of(e, 0);
    ARM_CHECK(y != atomic_load(&e->shards[0].active_fid));
    snprintf(path, sizeof path, "%s", arm_engine_file(e, y)->path);
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_cursor_first(c), ARM_OK);
    put_gen(e, n, 2);
    arm_files_hints_drain(&e->files);
    ARM_CHECK_RC(arm_files_retire(&e->files, y), ARM_OK);
    ARM_CHECK(util_file_size(path) > 0);
    arm_engine_cursor_close(c);
    ARM_CHECK(util_file_size(path) < 0);
    expect_gen(e, n, 2);
    util_close_ok(e);
}

/* ------------------------------------------------------ concurrent */
#define CONC_KEYS    1200u
#define CONC_READERS 3

struct conc {
    arm_engine *e;
    atomic_int stop;
    atomic_int failed;
    atomic_uint round;             /* retire rounds completed by the writer */
    atomic_long reads, straddles;  /* plain gets; reads that outlived a retire round */
    char why[256];
    uint64_t seed;
};

static void conc_fail(struct conc *s, const char *what, unsigned key, int rc) {
    if (atomic_exchange(&s->failed, 1) == 0)
        snprintf(s->why, sizeof s->why, "%s: key %u rc %s: %s", what, key, arm_rc_str(rc),
                 arm_engine_errmsg(s->e));
}

/* Wait until the writer has finished a retire round after r0 (or stops). */
static void conc_wait_round(struct conc *s, unsigned r0) {
    while (atomic_load(&s->round) == r0 && !atomic_load(&s->stop) && !atomic_load(&s->failed))
        sched_yield();
}

/* A cursor positioned (its run copied, its files held) before the writer
 * moves the keys and retires their files, read after: the run's values come
 * from files retired meanwhile. */
static void conc_cursor_straddle(struct conc *s, util_rng *r) {
    arm_cursor *c = NULL;
    int rc = arm_engine_cursor_open(s->e, NULL, &c);
    if (rc != ARM_OK) return conc_fail(s, "cursor_open", 0, rc);
    unsigned start = (unsigned)util_rng_below(r, CONC_KEYS), r0 = atomic_load(&s->round);
    char k[32];
    size_t kl = fkey(k, start);
    rc = arm_engine_cursor_seek(c, arm_slice_make(k, kl), ARM_SEEK_GE);
    conc_wait_round(s, r0);
    /* fewer keys than one run per shard: no refill, every location is old */
    for (unsigned i = start; rc == ARM_OK && i < start + 100 && i < CONC_KEYS; i++) {
        arm_slice key = arm_engine_cursor_key(c), v;
        kl = fkey(k, i);
        if (key.len != kl || memcmp(key.ptr, k, kl) != 0) return conc_fail(s, "scan key", i, rc);
        rc = arm_engine_cursor_value(c, &v);
        if (rc != ARM_OK || !fval_ok(v.ptr, v.len, i, NULL)) return conc_fail(s, "scan value", i, rc);
        rc = arm_engine_cursor_next(c);
    }
    if (rc != ARM_OK && rc != ARM_NOTFOUND) conc_fail(s, "scan", 0, rc);
    arm_engine_cursor_close(c);
    atomic_fetch_add(&s->straddles, 1);
}

/* A get stretched over a retire round: the location and the file reference
 * taken under the index lock as arm_engine_get does, the entry read after. */
static void conc_get_straddle(struct conc *s, util_rng *r, arm_buf *b) {
    unsigned i = (unsigned)util_rng_below(r, CONC_KEYS), r0 = atomic_load(&s->round);
    char k[32];
    size_t kl = fkey(k, i);
    arm_engine *e = s->e;
    arm_shard *sh = &e->shards[arm_engine_route(e, (const uint8_t *)k, kl)];
    arm_item loc;
    arm_file_ref ref;
    pthread_rwlock_rdlock(&sh->index_lock);
    arm_item *it = arm_index_get(sh->index, (const uint8_t *)k, kl);
    if (it) memcpy(&loc, it, sizeof loc);
    int rc = it ? arm_files_hold(&e->files, loc.fid, &ref) : ARM_NOTFOUND;
    pthread_rwlock_unlock(&sh->index_lock);
    if (rc != ARM_OK) return conc_fail(s, "hold", i, rc);
    conc_wait_round(s, r0);
    arm_slice v;
    rc = arm_engine_read_value(e, &loc, arm_slice_make(k, kl), b, &v);
    if (rc != ARM_OK || !fval_ok(v.ptr, v.len, i, NULL)) conc_fail(s, "held read", i, rc);
    arm_file_release(&ref);
    atomic_fetch_add(&s->straddles, 1);
}

static void *conc_reader(void *arg) {
    struct conc *s = arg;
    util_rng r;
    util_rng_seed(&r, s->seed ^ (uint64_t)(uintptr_t)pthread_self());
    arm_buf b = {0};
    while (!atomic_load(&s->stop) && !atomic_load(&s->failed)) {
        uint64_t pick = util_rng_below(&r, 200);
        if (pick == 0) {
            conc_cursor_straddle(s, &r);
        } else if (pick == 1) {
            conc_get_straddle(s, &r, &b);
        } else {
            unsigned i = (unsigned)util_rng_below(&r, CONC_KEYS);
            char k[32];
            size_t kl = fkey(k, i);
            int rc = arm_engine_get(s->e, arm_slice_make(k, kl), &b);
            if (rc != ARM_OK || !fval_ok(b.ptr, b.len, i, NULL)) {
                conc_fail(s, "get", i, rc);
                break;
            }
            atomic_fetch_add(&s->reads, 1);
        }
    }
    arm_buf_free(&b);
    return NULL;
}

/* Retire every sealed file whose entries are all dead; returns how many. */
static int retire_dead(arm_engine *e, uint32_t *gone, int max, int ngone) {
    uint32_t fid = 0;
    arm_file_ref ref;
    int n = 0;
    while (arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        arm_file *f = ref.file;
        uint32_t active = atomic_load(&e->shards[f->shard].active_fid);
        int dead = ref.fid != active &&
                   arm_file_dead(f) == atomic_load(&f->size) - ARM_FILE_HEADER_SIZE;
        uint32_t id = ref.fid;
        arm_file_release(&ref);
        if (!dead) continue;
        ARM_CHECK_RC(arm_files_retire(&e->files, id), ARM_OK);
        if (ngone + n < max) gone[ngone + n] = id;
        n++;
    }
    return n;
}

static void test_concurrent(void) {
    arm_engine_options o;
    small_opts(&o, 2);
    arm_engine *e = util_open_ok(util_case_fresh(&g_dir, "conc"), &o);
    put_gen(e, CONC_KEYS, 0);
    struct conc s;
    memset(&s, 0, sizeof s);
    s.e = e;
    s.seed = harness_seed;
    pthread_t th[CONC_READERS];
    for (int i = 0; i < CONC_READERS; i++) ARM_CHECK(pthread_create(&th[i], NULL, conc_reader, &s) == 0);
    enum { MAXGONE = 4096 };
    static uint32_t gone[MAXGONE];
    int ngone = 0;
    const unsigned rounds = 12u * (unsigned)util_scale();
    for (unsigned g = 1; g <= rounds && !atomic_load(&s.failed); g++) {
        put_gen(e, CONC_KEYS, g); /* every key moves: the older files go dead */
        ngone += retire_dead(e, gone, MAXGONE, ngone);
        atomic_fetch_add(&s.round, 1);
        /* let readers take new locations before the next round moves them
         * (bounded: every reader may be waiting for the next round) */
        uint64_t until = util_now_ms() + 20;
        for (long r0 = atomic_load(&s.reads); atomic_load(&s.reads) < r0 + 200 && util_now_ms() < until;)
            sched_yield();
    }
    atomic_store(&s.stop, 1);
    for (int i = 0; i < CONC_READERS; i++) pthread_join(th[i], NULL);
    if (atomic_load(&s.failed)) {
        fprintf(stderr, "reader failed: %s (seed %llu)\n", s.why, (unsigned long long)harness_seed);
        ARM_CHECK(!"readers read every value while files retired");
    }
    ARM_CHECK(ngone >= (int)rounds);
    ARM_CHECK(atomic_load(&s.reads) > 0);
    ARM_CHECK(atomic_load(&s.straddles) > 0);
    /* every retired file is gone now that no reader holds it */
    char path[PATH_MAX + 64];
    for (int i = 0; i < ngone && i < MAXGONE; i++) {
        ARM_CHECK(arm_engine_file(e, gone[i]) == NULL);
        for (uint32_t sh = 0; sh < 2; sh++) {
            char dir[PATH_MAX + 32];
            snprintf(dir, sizeof dir, "%s/shard-%03u", g_dir.db, sh);
            arm_file_path(path, sizeof path, dir, gone[i]);
            ARM_CHECK(util_file_size(path) < 0);
            ARM_CHECK(util_fds_on(path) == 0);
        }
    }
    util_logfile lf[64];
    int on_disk = util_list_logs(g_dir.db, lf, 64);
    ARM_CHECK(on_disk >= 0 && (uint64_t)on_disk == stat_files(e));
    expect_gen(e, CONC_KEYS, rounds);
    util_close_ok(e);
    e = util_open_ok(g_dir.db, &o);
    expect_gen(e, CONC_KEYS, rounds);
    util_close_ok(e);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_dir.tmp);
    UTIL_CASE("a held file stays whole after retire; the last release removes it",
              test_hold_retire_release());
    UTIL_CASE("retiring an unheld file removes it at once", test_retire_unheld());
    UTIL_CASE("a cursor's run holds its files", test_cursor_holds());
    UTIL_CASE("readers and cursors on threads while files retire", test_concurrent());
    return harness_done();
}
