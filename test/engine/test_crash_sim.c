/* SPDX-License-Identifier: MIT */
/*
 * test_crash_sim.c: simulated power cuts through the engine's I/O fault hook
 * (engine/io.h). For each seed:
 *
 *   - the hook tracks, per data file (fd mapped to its path through
 *     /proc/self/fd), the size at its last successful fdatasync;
 *   - a crash point is chosen: the Nth write or fdatasync. From that op on
 *     the hook fails every write, sync and read with EIO (the machine is
 *     gone);
 *   - a workload of transactions runs with sync=full: single puts, deletes
 *     (of present and absent keys), overwrites, and batches of 1..8 keys
 *     (duplicates included) over several shards. Every value names the
 *     transaction, key and batch member that wrote it. A model keeps the
 *     state of the acknowledged transactions; the one that failed is in
 *     flight;
 *   - the engine is closed (its final flush fails; the rc is ignored), and
 *     each data file gets a power cut chosen by the seed: unsynced bytes
 *     dropped, kept, or torn (a prefix kept up to a 512-byte sector
 *     boundary, the last kept sector's unsynced bytes optionally zeroed or
 *     garbled), or zeroed past a sector boundary with the size kept;
 *   - the database is reopened without the hook and must hold exactly the
 *     acknowledged state, or that state plus the in-flight transaction whole;
 *     gets, count and a cursor scan agree, arm_engine_check reports no
 *     problem, and new writes after recovery survive a clean reopen.
 *
 * Some seeds run several crash cycles on one directory (so a crash can hit
 * recovery itself, and appends resume after a cut tail).
 *
 * Runs on tmpfs (/dev/shm) unless TMPDIR is set: the hook simulates
 * durability, so real fdatasync costs nothing but time.
 * ARM_TEST_SCALE multiplies the seed count; ARMDB_SEED=n replays one seed
 * (printed on failure); ARM_TEST_SEED picks the base of the sweep.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../engine/io.h"
#include "../util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmp[512];
static char g_db[PATH_MAX];

#define NK 40          /* key space: small, so overwrites and deletes are common */
#define MAXB 8         /* members of a batch, at most */
#define BIGV 6000u     /* largest value: past the smallest write buffer */
#define MAXCYCLES 3
#define MAXFILES 512

/* ------------------------------------------------------------ hook state */
typedef struct cs_file {
    char path[PATH_MAX];
    uint64_t synced; /* file size at its last successful fdatasync */
} cs_file;

static pthread_mutex_t g_hook_lock = PTHREAD_MUTEX_INITIALIZER;
static cs_file g_files[MAXFILES];
static int g_nfiles;
static long g_ops;        /* writes and syncs seen in this cycle */
static long g_crash_at;   /* the op that crashes (1-based) */
static int g_crashed;
static int g_crash_op;    /* ARM_IO_OP_* of the crashing op */
static char g_violation[PATH_MAX + 128]; /* a write below the synced size */

static cs_file *cs_find(const char *path, int create) {
    for (int i = 0; i < g_nfiles; i++)
        if (strcmp(g_files[i].path, path) == 0) return &g_files[i];
    if (!create || g_nfiles == MAXFILES) return NULL;
    cs_file *f = &g_files[g_nfiles++];
    snprintf(f->path, sizeof f->path, "%s", path);
    f->synced = 0; /* created in this cycle: nothing durable yet */
    return f;
}

static int cs_fd_path(int fd, char *out, size_t n) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t r = readlink(link, out, n - 1);
    if (r < 0) return -1;
    out[r] = '\0';
    return 0;
}

static int cs_hook(int op, int fd, uint64_t off, size_t n) {
    int ret = 0;
    pthread_mutex_lock(&g_hook_lock);
    if (g_crashed) {
        ret = EIO;
    } else if (op == ARM_IO_OP_WRITE || op == ARM_IO_OP_SYNC) {
        if (++g_ops == g_crash_at) {
            g_crashed = 1;
            g_crash_op = op;
            ret = EIO;
        } else {
            char path[PATH_MAX];
            cs_file *f = cs_fd_path(fd, path, sizeof path) == 0 ? cs_find(path, 1) : NULL;
            struct stat st;
            if (f == NULL) {
                snprintf(g_violation, sizeof g_violation, "fd %d: cannot name its file", fd);
            } else if (op == ARM_IO_OP_WRITE) {
                /* plain appends: a write never rewrites durable bytes */
                if (off < f->synced && !g_violation[0])
                    snprintf(g_violation, sizeof g_violation,
                             "write of %zu bytes at %" PRIu64 " to %s, below its synced size %" PRIu64,
                             n, off, path, f->synced);
            } else if (fstat(fd, &st) == 0) {
                f->synced = (uint64_t)st.st_size; /* the sync that follows makes all of it durable */
            }
        }
    }
    pthread_mutex_unlock(&g_hook_lock);
    return ret;
}

/* Start a cycle: every data file now in the directory is durable as it is. */
static void cs_arm(long crash_at) {
    util_logfile *lf = malloc(sizeof(util_logfile) * MAXFILES);
    ARM_CHECK(lf != NULL);
    int n = util_list_logs(g_db, lf, MAXFILES);
    ARM_CHECK(n >= 0 && n < MAXFILES);
    pthread_mutex_lock(&g_hook_lock);
    g_nfiles = 0;
    for (int i = 0; i < n; i++) cs_find(lf[i].path, 1)->synced = lf[i].size;
    g_ops = 0;
    g_crash_at = crash_at;
    g_crashed = 0;
    g_crash_op = 0;
    g_violation[0] = '\0';
    pthread_mutex_unlock(&g_hook_lock);
    free(lf);
    arm_io_set_fault_hook(cs_hook);
}

/* ------------------------------------------------------------ workload */
static size_t kname(char *out, unsigned k) { return (size_t)sprintf(out, "cs-%03u", k); }

/* A value names its writer: txn id (4), key (2), member (2), then filler. */
static size_t vlen_of(uint32_t txn, unsigned key, unsigned member) {
    uint64_t h = util_hash(&txn, 4) ^ ((uint64_t)key << 20) ^ member;
    h = util_hash(&h, 8);
    if (h % 12 == 0) return 400 + (size_t)(h >> 16) % (BIGV - 400);
    return 8 + (size_t)(h >> 16) % 400;
}

static size_t vmake(uint8_t *out, uint32_t txn, unsigned key, unsigned member) {
    size_t len = vlen_of(txn, key, member);
    uint16_t k16 = (uint16_t)key, m16 = (uint16_t)member;
    memcpy(out, &txn, 4);
    memcpy(out + 4, &k16, 2);
    memcpy(out + 6, &m16, 2);
    util_fill(out + 8, len - 8, txn, (uint64_t)key << 8 | member);
    return len;
}

/* Who wrote this value: "txn T member M", or "malformed". */
static const char *vwho(char *buf, size_t n, const uint8_t *v, size_t len, unsigned key) {
    uint32_t txn;
    uint16_t k16, m16;
    if (len < 8) return "malformed (short)";
    memcpy(&txn, v, 4);
    memcpy(&k16, v + 4, 2);
    memcpy(&m16, v + 6, 2);
    uint8_t tmp[BIGV];
    if (k16 != key || len != vlen_of(txn, key, m16) ||
        (vmake(tmp, txn, key, m16), memcmp(tmp, v, len) != 0))
        return "malformed";
    snprintf(buf, n, "txn %u member %u", txn, m16);
    return buf;
}

typedef struct cs_txn {
    uint32_t id;
    int kind; /* 0 put, 1 delete, 2 batch */
    int n;
    unsigned key[MAXB];
    int del[MAXB];
} cs_txn;

static void gen_txn(util_rng *r, uint32_t id, cs_txn *t) {
    memset(t, 0, sizeof *t);
    t->id = id;
    unsigned x = (unsigned)util_rng_below(r, 100);
    t->kind = x < 35 ? 0 : x < 50 ? 1 : 2;
    t->n = t->kind == 2 ? 1 + (int)util_rng_below(r, MAXB) : 1;
    for (int i = 0; i < t->n; i++) {
        t->key[i] = (unsigned)util_rng_below(r, NK);
        if (t->kind == 2 && i > 0 && util_rng_below(r, 6) == 0) t->key[i] = t->key[0]; /* dup */
        t->del[i] = t->kind == 1 || (t->kind == 2 && util_rng_below(r, 4) == 0);
    }
}

static void apply_txn(util_model *m, const cs_txn *t) {
    uint8_t v[BIGV];
    char k[16];
    for (int i = 0; i < t->n; i++) {
        size_t kl = kname(k, t->key[i]);
        if (t->del[i]) {
            util_model_del(m, k, kl);
        } else {
            size_t vl = vmake(v, t->id, t->key[i], (unsigned)i);
            util_model_put(m, k, kl, v, vl);
        }
    }
}

/* Run one transaction. A delete of an absent key is ARM_NOTFOUND (nothing
 * written), which counts as success. */
static int run_txn(arm_engine *e, arm_batch *b, const cs_txn *t) {
    uint8_t v[BIGV];
    char k[16];
    int rc;
    if (t->kind == 0) {
        size_t kl = kname(k, t->key[0]), vl = vmake(v, t->id, t->key[0], 0);
        return arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl));
    }
    if (t->kind == 1) {
        size_t kl = kname(k, t->key[0]);
        rc = arm_engine_delete(e, arm_slice_make(k, kl));
        return rc == ARM_NOTFOUND ? ARM_OK : rc;
    }
    arm_engine_batch_clear(b);
    for (int i = 0; i < t->n; i++) {
        size_t kl = kname(k, t->key[i]);
        if (t->del[i]) {
            rc = arm_engine_batch_delete(b, arm_slice_make(k, kl));
        } else {
            size_t vl = vmake(v, t->id, t->key[i], (unsigned)i);
            rc = arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl));
        }
        ARM_CHECK_RC(rc, ARM_OK);
    }
    return arm_engine_batch_commit(e, b);
}

/* ------------------------------------------------------------ checking */
static void report_problem(void *ctx, const char *path, uint64_t off, const char *msg) {
    (void)ctx;
    fprintf(stderr, "  check: %s at %" PRIu64 ": %s\n", path, off, msg);
}

/* Does the engine hold exactly model m (gets and count)? */
static int state_is(arm_engine *e, const util_model *m) {
    arm_buf b = {0};
    int same = 1;
    for (unsigned key = 0; key < NK && same; key++) {
        char k[16];
        size_t kl = kname(k, key);
        int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
        const util_kv *kv = util_model_get(m, k, kl);
        if (rc != ARM_OK && rc != ARM_NOTFOUND) {
            fprintf(stderr, "get %s: %s \"%s\"\n", k, arm_rc_str(rc), arm_engine_errmsg(e));
            ARM_CHECK(!"get returns OK or NOTFOUND after recovery");
        }
        if (kv == NULL)
            same = rc == ARM_NOTFOUND;
        else
            same = rc == ARM_OK && b.len == kv->vlen && memcmp(b.ptr, kv->val, b.len) == 0;
    }
    arm_buf_free(&b);
    return same && arm_engine_count(e) == m->n;
}

/* Keys owned by thread t of nt (key % nt == t) as in model m? */
static int subset_is(arm_engine *e, const util_model *m, unsigned t, unsigned nt) {
    arm_buf b = {0};
    int same = 1;
    for (unsigned key = t; key < NK && same; key += nt) {
        char k[16];
        size_t kl = kname(k, key);
        int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
        const util_kv *kv = util_model_get(m, k, kl);
        ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
        if (kv == NULL)
            same = rc == ARM_NOTFOUND;
        else
            same = rc == ARM_OK && b.len == kv->vlen && memcmp(b.ptr, kv->val, b.len) == 0;
    }
    arm_buf_free(&b);
    return same;
}

static void show_key_diff(arm_engine *e, const util_model *acked, const util_model *with) {
    arm_buf b = {0};
    int shown = 0;
    for (unsigned key = 0; key < NK && shown < 24; key++) {
        char k[16], w0[64], w1[64], w2[64];
        size_t kl = kname(k, key);
        int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
        const util_kv *a = util_model_get(acked, k, kl);
        const util_kv *f = with ? util_model_get(with, k, kl) : NULL;
        const char *got = rc == ARM_OK ? vwho(w0, sizeof w0, b.ptr, b.len, key) : "absent";
        const char *sa = a ? vwho(w1, sizeof w1, a->val, a->vlen, key) : "absent";
        const char *sf = with ? (f ? vwho(w2, sizeof w2, f->val, f->vlen, key) : "absent") : "-";
        if (strcmp(got, sa) != 0 || (with && strcmp(got, sf) != 0)) {
            fprintf(stderr, "  key %s: got %s; acknowledged state %s; with in-flight txn %s\n", k,
                    got, sa, sf);
            shown++;
        }
    }
    fprintf(stderr, "  count %" PRIu64 ", acknowledged model %zu, with in-flight %zu\n",
            arm_engine_count(e), acked->n, with ? with->n : (size_t)0);
    arm_buf_free(&b);
}

/* A cursor over everything shows exactly the model (in key order when the
 * index is ordered). */
static void cursor_is(arm_engine *e, const util_model *m, int ordered) {
    arm_cursor *c = NULL;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    size_t n = 0;
    int rc = arm_engine_cursor_first(c);
    while (rc == ARM_OK) {
        arm_slice k = arm_engine_cursor_key(c), v;
        const util_kv *kv = util_model_get(m, k.ptr, k.len);
        ARM_CHECK(kv != NULL);
        if (ordered) ARM_CHECK(n < m->n && &m->items[n] == kv);
        UTIL_CHECK_RC(e, arm_engine_cursor_value(c, &v), ARM_OK);
        ARM_CHECK(v.len == kv->vlen && memcmp(v.ptr, kv->val, v.len) == 0);
        n++;
        rc = arm_engine_cursor_next(c);
    }
    ARM_CHECK_RC(rc, ARM_NOTFOUND);
    ARM_CHECK(n == m->n);
    arm_engine_cursor_close(c);
}

static void check_clean(arm_engine *e) {
    uint64_t problems = 99;
    UTIL_CHECK_RC(e, arm_engine_check(e, report_problem, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems == 0);
}

/* ------------------------------------------------------------ power cut */
enum { CUT_DROP, CUT_KEEP, CUT_TEAR, CUT_TEAR_ZERO, CUT_TEAR_GARBLE, CUT_ZERO_TAIL, CUT_KINDS };
static const char *cut_name[CUT_KINDS] = {"drop", "keep", "tear", "tear+zero", "tear+garble",
                                          "zero-tail"};

typedef struct cs_stats {
    unsigned seeds, cycles, crashes_in_open, crashes_at_write, crashes_at_sync, no_crash;
    unsigned inflight_present, inflight_absent, inflight_unknowable, files_cut[CUT_KINDS];
    unsigned long long acked;
} cs_stats;

static int overwrite(const char *path, uint64_t off, const uint8_t *p, size_t n) {
    FILE *f = fopen(path, "r+b");
    if (f == NULL) return -1;
    int rc = fseeko(f, (off_t)off, SEEK_SET) == 0 && fwrite(p, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

/* Apply the power cut to every data file, as the rng decides. */
static void power_cut(util_rng *r, cs_stats *st, int verbose) {
    util_logfile *lf = malloc(sizeof(util_logfile) * MAXFILES);
    ARM_CHECK(lf != NULL);
    int n = util_list_logs(g_db, lf, MAXFILES);
    ARM_CHECK(n >= 0 && n < MAXFILES);
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&g_hook_lock);
        cs_file *cf = cs_find(lf[i].path, 0);
        uint64_t synced = cf ? cf->synced : 0; /* never synced: a file made in this cycle */
        pthread_mutex_unlock(&g_hook_lock);
        uint64_t size = lf[i].size;
        if (size <= synced) continue;
        int kind = (int)util_rng_below(r, CUT_KINDS);
        uint64_t first = (synced / 512 + 1) * 512, last = (size - 1) / 512 * 512;
        if (kind >= CUT_TEAR && first > last) kind = (int)util_rng_below(r, 2); /* no boundary */
        uint64_t cut = size;
        if (kind == CUT_DROP) cut = synced;
        if (kind >= CUT_TEAR) cut = first + 512 * util_rng_below(r, (last - first) / 512 + 1);
        st->files_cut[kind]++;
        if (verbose)
            fprintf(stderr, "  cut %s: synced %" PRIu64 ", written %" PRIu64 ", %s at %" PRIu64 "\n",
                    lf[i].path, synced, size, cut_name[kind], cut);
        if (kind == CUT_ZERO_TAIL) {
            uint8_t *z = calloc(1, (size_t)(size - cut));
            ARM_CHECK(z != NULL && overwrite(lf[i].path, cut, z, (size_t)(size - cut)) == 0);
            free(z);
            continue;
        }
        ARM_CHECK(util_truncate(lf[i].path, cut) == 0);
        if (kind == CUT_TEAR_ZERO || kind == CUT_TEAR_GARBLE) {
            /* only the unsynced bytes of the last kept sector: durable bytes stay */
            uint64_t from = cut - 512 > synced ? cut - 512 : synced;
            uint8_t junk[512];
            if (kind == CUT_TEAR_ZERO)
                memset(junk, 0, sizeof junk);
            else
                util_fill(junk, sizeof junk, util_rng_next(r), 7);
            ARM_CHECK(overwrite(lf[i].path, from, junk, (size_t)(cut - from)) == 0);
        }
    }
    free(lf);
}

/* ------------------------------------------------------------ one seed */
typedef struct cs_cfg {
    arm_engine_options o;
    int cycles;
    long max_op;
} cs_cfg;

static void seed_config(util_rng *r, cs_cfg *c) {
    arm_engine_options_init(&c->o);
    c->o.shard_count = 1 + (uint32_t)util_rng_below(r, 4);
    c->o.sync_mode = ARM_SYNC_FULL;
    c->o.io_backend = ARM_IO_POSIX;
    c->o.max_file_size = util_rng_below(r, 3) ? 64u << 10 : 256u << 10;
    static const uint32_t wbs[] = {4096, 8192, 16384, 65536};
    c->o.write_buffer_size = wbs[util_rng_below(r, 4)];
    c->o.max_value_size = BIGV;
    c->o.index_kind = util_rng_below(r, 4) == 0 ? ARM_INDEX_HASH : ARM_INDEX_ORDERED;
    c->o.mmap_reads = (int)util_rng_below(r, 2);
    c->cycles = 1 + (util_rng_below(r, 3) == 0 ? 1 + (int)util_rng_below(r, MAXCYCLES - 1) : 0);
    c->max_op = 20 + (long)util_rng_below(r, 1200);
}

static uint64_t g_cur_seed;
static int g_in_seed;

static void announce_failure(void) {
    if (g_in_seed)
        fprintf(stderr, "crash sim: failed at seed %llu; replay with ARMDB_SEED=%llu "
                "(ARM_TEST_KEEP=1 keeps the directory)\n",
                (unsigned long long)g_cur_seed, (unsigned long long)g_cur_seed);
}

static void run_seed(uint64_t seed, cs_stats *st, int verbose) {
    g_cur_seed = seed;
    g_in_seed = 1;
    harness_seed = seed; /* ARM_CHECK prints it */
    util_rng r;
    util_rng_seed(&r, seed);
    cs_cfg cfg;
    seed_config(&r, &cfg);
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "crashsim");
    char raw[PATH_MAX];
    snprintf(raw, sizeof raw, "%s/db", g_tmp);
    ARM_CHECK(mkdir(raw, 0755) == 0 && realpath(raw, g_db) != NULL); /* as /proc names it */
    if (verbose)
        fprintf(stderr, "seed %llu: %u shards, file %llu KiB, buffer %u, %s index, mmap %d, "
                "%d cycles, crash within %ld ops\n", (unsigned long long)seed, cfg.o.shard_count,
                (unsigned long long)(cfg.o.max_file_size >> 10), cfg.o.write_buffer_size,
                cfg.o.index_kind == ARM_INDEX_HASH ? "hash" : "ordered", cfg.o.mmap_reads,
                cfg.cycles, cfg.max_op);
    util_model acked, with;
    util_model_init(&acked);
    util_model_init(&with);
    uint32_t next_id = 1;
    st->seeds++;

    for (int cycle = 0; cycle < cfg.cycles; cycle++) {
        st->cycles++;
        long crash_at = 1 + (long)util_rng_below(&r, (uint64_t)cfg.max_op);
        cs_arm(crash_at);
        arm_engine *e = NULL;
        int rc = arm_engine_open(g_db, &cfg.o, &e);
        int have_inflight = 0;
        cs_txn inflight;
        if (rc != ARM_OK) {
            /* only the crash may fail the open (recovery syncs the cut tail) */
            if (!g_crashed)
                fprintf(stderr, "open failed without a crash: %s \"%s\"\n", arm_rc_str(rc),
                        arm_engine_errmsg(NULL));
            ARM_CHECK(g_crashed);
            ARM_CHECK(ARM_RC_PRIMARY(rc) == ARM_IOERR);
            ARM_CHECK(e == NULL);
            st->crashes_in_open++;
        } else {
            arm_batch *b = NULL;
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
            for (int j = 0; j < 100000; j++) {
                cs_txn t;
                gen_txn(&r, next_id++, &t);
                rc = run_txn(e, b, &t);
                if (rc == ARM_OK) {
                    apply_txn(&acked, &t);
                    st->acked++;
                    continue;
                }
                /* the first failure must be the crash, reported as an I/O error */
                if (!g_crashed || ARM_RC_PRIMARY(rc) != ARM_IOERR)
                    fprintf(stderr, "txn %u (kind %d, %d ops) failed: %s \"%s\" (crashed %d)\n",
                            t.id, t.kind, t.n, arm_rc_str(rc), arm_engine_errmsg(e), g_crashed);
                ARM_CHECK(g_crashed);
                ARM_CHECK(ARM_RC_PRIMARY(rc) == ARM_IOERR);
                ARM_CHECK(arm_engine_errmsg(e)[0] != '\0');
                inflight = t;
                have_inflight = 1;
                break;
            }
            arm_engine_batch_free(b);
            if (!g_crashed) st->no_crash++;
            (void)arm_engine_close(e); /* its final flush fails: the machine is gone */
            if (g_crash_op == ARM_IO_OP_WRITE) st->crashes_at_write++;
            if (g_crash_op == ARM_IO_OP_SYNC) st->crashes_at_sync++;
        }
        arm_io_set_fault_hook(NULL);
        if (g_violation[0]) fprintf(stderr, "%s\n", g_violation);
        ARM_CHECK(g_violation[0] == '\0');
        if (verbose)
            fprintf(stderr, "cycle %d: crash at op %ld (%s), %s\n", cycle, crash_at,
                    g_crash_op == ARM_IO_OP_WRITE ? "write" : g_crash_op == ARM_IO_OP_SYNC ? "sync" : "-",
                    have_inflight ? "one txn in flight" : "no txn in flight");
        power_cut(&r, st, verbose);

        /* reopen, no hook: recovery from the cut */
        arm_engine_options ro = cfg.o;
        ro.mmap_reads = (int)util_rng_below(&r, 2);
        arm_engine *e2 = util_open_ok(g_db, &ro);
        util_model_copy(&with, &acked);
        if (have_inflight) apply_txn(&with, &inflight);
        int is_acked = state_is(e2, &acked);
        int is_with = have_inflight && state_is(e2, &with);
        if (!is_acked && !is_with) {
            fprintf(stderr, "seed %llu cycle %d: the state after the power cut is neither the "
                    "acknowledged one nor that plus the in-flight txn %u (kind %d, %d ops) whole:\n",
                    (unsigned long long)seed, cycle, have_inflight ? inflight.id : 0,
                    have_inflight ? inflight.kind : -1, have_inflight ? inflight.n : 0);
            show_key_diff(e2, &acked, have_inflight ? &with : NULL);
            ARM_CHECK(!"acknowledged txns whole, in-flight txn whole or absent");
        }
        if (have_inflight) {
            if (is_acked && is_with)
                st->inflight_unknowable++; /* e.g. a delete of keys already gone */
            else if (is_with)
                st->inflight_present++;
            else
                st->inflight_absent++;
        }
        if (is_with && !is_acked) util_model_copy(&acked, &with);
        cursor_is(e2, &acked, ro.index_kind == ARM_INDEX_ORDERED);
        check_clean(e2);
        util_close_ok(e2);
    }

    /* after the last crash: the engine takes writes, and they survive */
    arm_engine *e = util_open_ok(g_db, &cfg.o);
    arm_batch *b = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    for (int j = 0; j < 12; j++) {
        cs_txn t;
        gen_txn(&r, next_id++, &t);
        UTIL_CHECK_RC(e, run_txn(e, b, &t), ARM_OK);
        apply_txn(&acked, &t);
    }
    arm_engine_batch_free(b);
    ARM_CHECK(state_is(e, &acked));
    util_close_ok(e);
    e = util_open_ok(g_db, &cfg.o);
    if (!state_is(e, &acked)) {
        show_key_diff(e, &acked, NULL);
        ARM_CHECK(!"writes after recovery survive a clean reopen");
    }
    check_clean(e);
    util_close_ok(e);
    util_model_free(&acked);
    util_model_free(&with);
    g_in_seed = 0;
}

static void test_sweep(void) {
    cs_stats st;
    memset(&st, 0, sizeof st);
    const char *one = getenv("ARMDB_SEED");
    uint64_t t0 = util_now_ms();
    if (one && one[0]) {
        run_seed(strtoull(one, NULL, 10), &st, 1);
    } else {
        uint64_t base = harness_seed % 1000000007ULL * 1000;
        unsigned n = 200u * (unsigned)util_scale();
        fprintf(stderr, "crash sim: seeds %llu..%llu\n", (unsigned long long)base,
                (unsigned long long)(base + n - 1));
        for (unsigned i = 0; i < n; i++) run_seed(base + i, &st, 0);
    }
    fprintf(stderr, "crash sim: %u seeds, %u cycles (%u crashed at a write, %u at a sync, %u in "
            "open, %u ran out of ops), %llu txns acknowledged; in-flight txn present %u, absent "
            "%u, either %u; files cut: drop %u keep %u tear %u tear+zero %u tear+garble %u "
            "zero-tail %u; %.1f s\n", st.seeds, st.cycles, st.crashes_at_write,
            st.crashes_at_sync, st.crashes_in_open, st.no_crash, st.acked, st.inflight_present,
            st.inflight_absent, st.inflight_unknowable, st.files_cut[CUT_DROP],
            st.files_cut[CUT_KEEP], st.files_cut[CUT_TEAR], st.files_cut[CUT_TEAR_ZERO],
            st.files_cut[CUT_TEAR_GARBLE], st.files_cut[CUT_ZERO_TAIL],
            (double)(util_now_ms() - t0) / 1000.0);
    ARM_CHECK(st.cycles == st.crashes_at_write + st.crashes_at_sync + st.crashes_in_open +
                               st.no_crash);
    if (st.seeds >= 50) { /* the sweep reached the cases it is for */
        ARM_CHECK(st.crashes_at_write > 0 && st.crashes_at_sync > 0);
        ARM_CHECK(st.inflight_present > 0 && st.inflight_absent > 0);
        for (int k = 0; k < CUT_KINDS; k++) ARM_CHECK(st.files_cut[k] > 0);
    }
}

/* ------------------------------------------------------------ concurrent */
/* Several writer threads commit with sync=full at once (group commit: one
 * fdatasync covers many commits, and a failed one fails them all), each
 * thread on its own keys (key % nthreads == t), so each thread's keys must
 * show its acknowledged txns plus its own in-flight txn whole or not at all.
 * The interleaving is the scheduler's: a seed replays the streams and the
 * crash op number, not the exact schedule. */
#define CT_MAX 4
#define CT_TXNS 4000
typedef struct ct_thread {
    arm_engine *e;
    uint64_t seed;
    unsigned t, nt;
    cs_txn *txns; /* generated stream */
    int acked;    /* txns[0..acked) acknowledged */
    int inflight; /* txns[acked] failed */
    int bad_rc;   /* a failure that was not an I/O error, or before the crash */
} ct_thread;

static void *ct_main(void *arg) {
    ct_thread *c = arg;
    arm_batch *b = NULL;
    if (arm_engine_batch_new(c->e, &b) != ARM_OK) {
        c->bad_rc = ARM_NOMEM;
        return NULL;
    }
    for (int j = 0; j < CT_TXNS; j++) {
        int rc = run_txn(c->e, b, &c->txns[j]);
        if (rc == ARM_OK) {
            c->acked = j + 1;
            continue;
        }
        c->inflight = 1;
        pthread_mutex_lock(&g_hook_lock);
        int crashed = g_crashed;
        pthread_mutex_unlock(&g_hook_lock);
        /* after a failed sync the others may see ARM_PANIC */
        if (!crashed || (ARM_RC_PRIMARY(rc) != ARM_IOERR && rc != ARM_PANIC)) c->bad_rc = rc;
        break;
    }
    arm_engine_batch_free(b);
    return NULL;
}

static void run_concurrent_seed(uint64_t seed, cs_stats *st) {
    g_cur_seed = seed;
    g_in_seed = 1;
    harness_seed = seed;
    util_rng r;
    util_rng_seed(&r, seed ^ 0xc0c0c0c0ULL);
    cs_cfg cfg;
    seed_config(&r, &cfg);
    cfg.o.shard_count = 2 + (uint32_t)util_rng_below(&r, 3);
    unsigned nt = 2 + (unsigned)util_rng_below(&r, CT_MAX - 1);
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "crashsimc");
    char raw[PATH_MAX];
    snprintf(raw, sizeof raw, "%s/db", g_tmp);
    ARM_CHECK(mkdir(raw, 0755) == 0 && realpath(raw, g_db) != NULL);
    ct_thread th[CT_MAX];
    pthread_t tid[CT_MAX];
    for (unsigned t = 0; t < nt; t++) {
        memset(&th[t], 0, sizeof th[t]);
        th[t].t = t;
        th[t].nt = nt;
        th[t].txns = malloc(sizeof(cs_txn) * CT_TXNS);
        ARM_CHECK(th[t].txns != NULL);
        util_rng tr;
        util_rng_seed(&tr, seed * 31 + t);
        for (int j = 0; j < CT_TXNS; j++) {
            cs_txn *x = &th[t].txns[j];
            gen_txn(&tr, (uint32_t)(t * CT_TXNS + (unsigned)j + 1), x);
            for (int i = 0; i < x->n; i++) x->key[i] = (x->key[i] % (NK / nt)) * nt + t;
        }
    }
    st->seeds++;
    st->cycles++;
    /* Armed after the open: creating the database is the first case's job
     * (a crash there is not a concurrent-writer scenario). */
    arm_engine *e = util_open_ok(g_db, &cfg.o);
    cs_arm(1 + (long)util_rng_below(&r, (uint64_t)cfg.max_op));
    for (unsigned t = 0; t < nt; t++) {
        th[t].e = e;
        ARM_CHECK(pthread_create(&tid[t], NULL, ct_main, &th[t]) == 0);
    }
    for (unsigned t = 0; t < nt; t++) pthread_join(tid[t], NULL);
    (void)arm_engine_close(e);
    arm_io_set_fault_hook(NULL);
    if (g_violation[0]) fprintf(stderr, "%s\n", g_violation);
    ARM_CHECK(g_violation[0] == '\0');
    if (!g_crashed) st->no_crash++;
    if (g_crash_op == ARM_IO_OP_WRITE) st->crashes_at_write++;
    if (g_crash_op == ARM_IO_OP_SYNC) st->crashes_at_sync++;
    power_cut(&r, st, 0);

    arm_engine *e2 = util_open_ok(g_db, &cfg.o);
    util_model acked, with, all;
    util_model_init(&acked);
    util_model_init(&with);
    util_model_init(&all);
    for (unsigned t = 0; t < nt; t++) {
        if (th[t].bad_rc != ARM_OK)
            fprintf(stderr, "thread %u: a txn failed with %s\n", t, arm_rc_str(th[t].bad_rc));
        ARM_CHECK(th[t].bad_rc == ARM_OK);
        util_model_free(&acked);
        for (int j = 0; j < th[t].acked; j++) apply_txn(&acked, &th[t].txns[j]);
        util_model_copy(&with, &acked);
        if (th[t].inflight) apply_txn(&with, &th[t].txns[th[t].acked]);
        st->acked += (unsigned long long)th[t].acked;
        int is_a = subset_is(e2, &acked, t, nt);
        int is_w = th[t].inflight && subset_is(e2, &with, t, nt);
        if (!is_a && !is_w) {
            fprintf(stderr, "seed %llu thread %u of %u: %d acked, in-flight %d: state is neither\n",
                    (unsigned long long)seed, t, nt, th[t].acked, th[t].inflight);
            show_key_diff(e2, &acked, th[t].inflight ? &with : NULL);
            ARM_CHECK(!"each thread: acknowledged txns whole, its in-flight txn whole or absent");
        }
        if (th[t].inflight) {
            if (is_a && is_w)
                st->inflight_unknowable++;
            else if (is_w)
                st->inflight_present++;
            else
                st->inflight_absent++;
        }
        const util_model *chosen = is_w && !is_a ? &with : &acked;
        for (size_t i = 0; i < chosen->n; i++)
            util_model_put(&all, chosen->items[i].key, chosen->items[i].klen, chosen->items[i].val,
                           chosen->items[i].vlen);
        free(th[t].txns);
    }
    ARM_CHECK(state_is(e2, &all));
    cursor_is(e2, &all, cfg.o.index_kind == ARM_INDEX_ORDERED);
    check_clean(e2);
    util_close_ok(e2);
    util_model_free(&acked);
    util_model_free(&with);
    util_model_free(&all);
    g_in_seed = 0;
}

static void test_concurrent(void) {
    cs_stats st;
    memset(&st, 0, sizeof st);
    const char *one = getenv("ARMDB_SEED");
    uint64_t t0 = util_now_ms();
    if (one && one[0]) {
        run_concurrent_seed(strtoull(one, NULL, 10), &st);
    } else {
        uint64_t base = harness_seed % 1000000007ULL * 1000;
        unsigned n = 60u * (unsigned)util_scale();
        for (unsigned i = 0; i < n; i++) run_concurrent_seed(base + i, &st);
    }
    fprintf(stderr, "crash sim, concurrent writers: %u seeds (%u crashed at a write, %u at a "
            "sync, %u ran out of ops), %llu txns acknowledged; in-flight txns present %u, "
            "absent %u, either %u; %.1f s\n", st.seeds, st.crashes_at_write, st.crashes_at_sync,
            st.no_crash, st.acked, st.inflight_present, st.inflight_absent,
            st.inflight_unknowable, (double)(util_now_ms() - t0) / 1000.0);
}

int main(void) {
    harness_init();
    /* tmpfs unless told otherwise: durability is simulated by the hook */
    const char *tmp = getenv("TMPDIR");
    if ((tmp == NULL || tmp[0] == '\0') && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    util_rmrf_at_exit(g_tmp);
    atexit(announce_failure);
    UTIL_CASE("power cut at the Nth write or sync, sync=full, seeded sweep", test_sweep());
    UTIL_CASE("power cut, concurrent writers (group commit), sync=full", test_concurrent());
    return harness_done();
}
