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
 * recovery itself, and appends resume after a cut tail). A second case runs
 * concurrent writers (group commit); a third, two-phase transactions on two
 * engines of one domain (see "two-phase transactions" below): hot prepares,
 * external decisions recorded by a simulated application, discards,
 * un-prepare and re-prepare, both engines published together, and the
 * in-doubt transactions recovery reports, resolved (sometimes under another
 * crash) from the application's decisions.
 *
 * Runs on tmpfs (/dev/shm) unless TMPDIR is set: the hook simulates
 * durability, so real fdatasync costs nothing but time.
 * ARM_TEST_SCALE multiplies the seed count; ARMDB_SEED=n replays one seed
 * (printed on failure); ARM_TEST_SEED picks the base of the sweep.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../engine/io.h"
#include "../../common/arm_alloc.h"
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

/* Start a cycle: every data file now in the directories is durable as it is. */
static void cs_arm_dirs(long crash_at, const char *const *dirs, int ndirs) {
    util_logfile *lf = malloc(sizeof(util_logfile) * MAXFILES);
    ARM_CHECK(lf != NULL);
    pthread_mutex_lock(&g_hook_lock);
    g_nfiles = 0;
    pthread_mutex_unlock(&g_hook_lock);
    for (int d = 0; d < ndirs; d++) {
        int n = util_list_logs(dirs[d], lf, MAXFILES);
        ARM_CHECK(n >= 0 && n < MAXFILES);
        pthread_mutex_lock(&g_hook_lock);
        for (int i = 0; i < n; i++) {
            cs_file *f = cs_find(lf[i].path, 1);
            ARM_CHECK(f != NULL);
            f->synced = lf[i].size;
        }
        pthread_mutex_unlock(&g_hook_lock);
    }
    pthread_mutex_lock(&g_hook_lock);
    g_ops = 0;
    g_crash_at = crash_at;
    g_crashed = 0;
    g_crash_op = 0;
    g_violation[0] = '\0';
    pthread_mutex_unlock(&g_hook_lock);
    free(lf);
    arm_io_set_fault_hook(cs_hook);
}

static void cs_arm(long crash_at) {
    const char *dirs[1] = {g_db};
    cs_arm_dirs(crash_at, dirs, 1);
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

/* Apply the power cut to every data file of dir, as the rng decides. */
static void power_cut_dir(util_rng *r, cs_stats *st, int verbose, const char *dir) {
    util_logfile *lf = malloc(sizeof(util_logfile) * MAXFILES);
    ARM_CHECK(lf != NULL);
    int n = util_list_logs(dir, lf, MAXFILES);
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

static void power_cut(util_rng *r, cs_stats *st, int verbose) {
    power_cut_dir(r, st, verbose, g_db);
}

/* ------------------------------------------------------------ one seed */
typedef struct cs_cfg {
    arm_engine_options o;
    int cycles;
    long max_op;
} cs_cfg;

static void seed_config(util_rng *r, cs_cfg *c) {
    arm_engine_options_init(&c->o);
    c->o.compaction = 0; /* a seed replays the same ops (test_compact_crash cuts merges) */
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

/* ------------------------------------------------- two-phase transactions */
/* Power cuts under the two-phase commit (arm_txn_*), two engines of one
 * domain, sync=full. A single-threaded workload keeps up to TP_PENDING_MAX
 * transactions prepared at once and finishes them in random order:
 *
 *   hot          prepare(NULL) then publish (the prepare record decides);
 *   ext          prepare(ext), the application records "commit", publish;
 *   ext+abort    prepare(ext), then discard (no decision recorded);
 *   hot+discard  prepare(NULL), then discard (an abort record);
 *   re-prepare   prepare, then un-prepare (a write after it, an explicit
 *                unprepare with the other kind of decision next, or a
 *                rollback to a mark) and prepare again, then publish;
 *   two engines  ext on both engines, decided, published together (or
 *                discarded); or hot on both, published together.
 *
 * The application's decision store is outside the engine (it survives the
 * cut); recording a decision is one more op the crash can fall on, and a
 * decision is forgotten once arm_engine_txn_durable says its outcome is
 * durable, as the extension reuses its decision slots. After the cut and
 * reopen:
 *   - the in-doubt transactions are exactly the ones prepared with an
 *     external decision that were neither published nor discarded (those
 *     whose publish, discard or prepare the crash hit may be either), they
 *     hold their keys, and they stay in doubt across a reopen; each is
 *     resolved from the decision store (sometimes with another crash during
 *     the resolution, then again);
 *   - every published transaction is there; a discarded one never is; an
 *     externally decided one is there exactly when its decision was
 *     recorded; one prepared with the prepare as its decision (hot) and not
 *     finished, or whose finish the crash hit, is whole or absent (each
 *     engine's part on its own for the hot two-engine kind, whose parts
 *     recovery decides separately); an un-prepared version never comes back;
 *   - arm_engine_check finds nothing. */
#define TP_W1 6            /* writes before the first prepare, at most */
#define TP_W2 4            /* writes a re-prepare adds (or a rollback drops), at most */
#define TP_PENDING_MAX 3   /* prepared transactions waiting at once, at most */
#define TP_STEPS 500       /* workload steps per cycle, at most */
#define TP_UNITS_MAX 12    /* uncertain outcomes at a crash, at most */
#define CS_OP_DECISION 4   /* g_crash_op: the application recording a decision */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TP_SEEDS 80        /* sanitized builds run it about 25 times slower */
#else
#define TP_SEEDS 400
#endif

enum { TP_HOT, TP_EXT, TP_EXT_ABORT, TP_DISCARD, TP_REPREP, TP_MULTI, TP_MULTI_ABORT, TP_PAIR,
       TP_KINDS };
static const char *const tp_kind_name[TP_KINDS] = {
    "hot", "ext", "ext+abort", "hot+discard", "re-prepare", "two engines ext",
    "two engines ext+abort", "two engines hot"};
enum { RP_PUT, RP_UNPREPARE, RP_ROLLBACK }; /* how a re-prepare un-prepares */
enum { TP_OPEN, TP_PENDING, TP_DONE };
enum { FAIL_NONE, FAIL_PREPARE, FAIL_TICK, FAIL_PUBLISH, FAIL_DISCARD, FAIL_UNPREPARE };

typedef struct tp_write {
    uint8_t eng, del;
    uint16_t key;
} tp_write;

typedef struct tp_txn {
    uint32_t id;
    int kind, variant;            /* variant: RP_* of a re-prepare */
    int ext[3];                   /* version v (1, 2) prepared with an external decision */
    int nw[3];                    /* version v writes w[0..nw[v]) */
    size_t mark;                  /* RP_ROLLBACK: the mark after version 2's writes */
    tp_write w[TP_W1 + TP_W2];
    uint8_t uses[2];              /* engines written */
    arm_snapshot snap;            /* shared by both parts (two-engine kinds) */
    arm_txn *t[2];
    int phase;                    /* TP_* */
    int version;                  /* prepared, or being prepared */
    uint8_t started[3][2];        /* the prepare of (version, engine) was called */
    uint8_t prepared[3][2];       /* ... and returned ARM_OK */
    uint64_t xid[3][2];           /* arm_txn_id after it */
    uint16_t skip[3][2];          /* writes that are deletes of keys absent at prepare: the
                                     engine drops them then (nothing to hold or write) */
    uint8_t finishing[3];         /* publish / discard / un-prepare of version v was called */
    int decided;                  /* "commit" recorded for `version` */
    int forgotten;                /* ... and dropped: the engine said it was durable */
    int published;                /* publish returned ARM_OK */
    int failed;                   /* FAIL_*: the op the crash hit */
} tp_txn;

typedef struct tp_stats {
    unsigned seeds, cycles, crashes_in_open, crash_op[5], no_crash;
    unsigned started[TP_KINDS], published[TP_KINDS], discarded[TP_KINDS], conflicts;
    unsigned reprepared, forgotten, must_doubt, may_doubt, doubt_found, resolved_commit,
        resolved_abort, resolve_fire, uncertain, uncertain_present, combos_max;
    cs_stats cuts;
} tp_stats;

typedef struct tp_cycle {
    arm_engine *e[2];
    tp_txn *txns;          /* this cycle's, txns[i].id = first_id + i */
    int ntxns;
    uint32_t first_id;
    int pending[TP_PENDING_MAX];
    int npending;
    util_model *acked;     /* [2]: what published transactions left */
    tp_stats *st;
} tp_cycle;

static char g_db2[PATH_MAX];
static uint64_t g_sweep_seed; /* harness_seed at start (run_seed overwrites it) */

/* The application records a decision: one more op the crash can fall on.
 * 0 when recorded, 1 when the machine died first. */
static int cs_tick(void) {
    int dead;
    pthread_mutex_lock(&g_hook_lock);
    dead = g_crashed;
    if (!dead && ++g_ops == g_crash_at) {
        g_crashed = 1;
        g_crash_op = CS_OP_DECISION;
        dead = 1;
    }
    pthread_mutex_unlock(&g_hook_lock);
    return dead;
}

static int tp_crashed(void) {
    pthread_mutex_lock(&g_hook_lock);
    int c = g_crashed;
    pthread_mutex_unlock(&g_hook_lock);
    return c;
}

/* A call failed: only the crash may make one fail, with an I/O error (or
 * the poisoning that follows one). */
static void tp_expect_crash(const tp_txn *x, const char *what, int rc) {
    int io = ARM_RC_PRIMARY(rc) == ARM_IOERR || rc == ARM_PANIC;
    if (!tp_crashed() || !io)
        fprintf(stderr, "txn %u (%s): %s failed: %s \"%s\" (crashed %d)\n", x->id,
                tp_kind_name[x->kind], what, arm_rc_str(rc), arm_engine_errmsg(NULL),
                tp_crashed());
    ARM_CHECK(tp_crashed());
    ARM_CHECK(io);
}

static void tp_gen(util_rng *r, uint32_t id, tp_txn *x) {
    memset(x, 0, sizeof *x);
    x->id = id;
    static const unsigned pct[TP_KINDS] = {22, 14, 7, 9, 20, 12, 4, 12};
    unsigned roll = (unsigned)util_rng_below(r, 100), acc = 0;
    x->kind = 0;
    for (int k = 0; k < TP_KINDS; k++) {
        acc += pct[k];
        if (roll < acc) {
            x->kind = k;
            break;
        }
    }
    int two = x->kind >= TP_MULTI;
    int eng = (int)util_rng_below(r, 2);
    int n1 = (two ? 2 : 1) + (int)util_rng_below(r, TP_W1 - (two ? 1 : 0));
    int n2 = 1 + (int)util_rng_below(r, TP_W2);
    int n = n1;
    x->ext[1] = x->kind == TP_EXT || x->kind == TP_EXT_ABORT || x->kind == TP_MULTI ||
                x->kind == TP_MULTI_ABORT;
    x->nw[1] = n1;
    if (x->kind == TP_REPREP) {
        x->variant = (int)util_rng_below(r, 3);
        x->ext[1] = (int)util_rng_below(r, 2);
        x->ext[2] = x->variant == RP_UNPREPARE ? !x->ext[1] : (int)util_rng_below(r, 2);
        if (x->variant == RP_PUT) x->nw[2] = n1 + n2, n = n1 + n2;
        if (x->variant == RP_UNPREPARE) x->nw[2] = n1;
        if (x->variant == RP_ROLLBACK) x->nw[1] = n1 + n2, x->nw[2] = n1, n = n1 + n2;
    }
    for (int i = 0; i < n; i++) {
        tp_write *w = &x->w[i];
        w->eng = (uint8_t)(two ? (i < 2 ? i : (int)util_rng_below(r, 2)) : eng);
        w->key = (uint16_t)util_rng_below(r, NK);
        w->del = util_rng_below(r, 4) == 0;
        x->uses[w->eng] = 1;
    }
}

/* 1 when a later write of version v replaces write i (the batch keeps the
 * last write of each key). */
static int tp_replaced(const tp_txn *x, int v, int i) {
    for (int j = i + 1; j < x->nw[v]; j++)
        if (x->w[j].eng == x->w[i].eng && x->w[j].key == x->w[i].key) return 1;
    return 0;
}

/* Apply version v's writes on engine eng to model m, as the engine does:
 * the last write of each key, unless it is a delete the prepare dropped. */
static void tp_apply(util_model *m, const tp_txn *x, int v, int eng) {
    uint8_t val[BIGV];
    char k[16];
    for (int i = 0; i < x->nw[v]; i++) {
        const tp_write *w = &x->w[i];
        if (w->eng != eng || tp_replaced(x, v, i) || (x->skip[v][eng] >> i & 1)) continue;
        size_t kl = kname(k, w->key);
        if (w->del) {
            util_model_del(m, k, kl);
        } else {
            size_t vl = vmake(val, x->id, w->key, (unsigned)i);
            util_model_put(m, k, kl, val, vl);
        }
    }
}

static void tp_owner(arm_txn_ext *ext, uint32_t id, int version, int eng) {
    memset(ext, 0, sizeof *ext);
    memcpy(ext->owner, "tp2c", 4);
    memcpy(ext->owner + 4, &id, 4);
    ext->owner[8] = (uint8_t)version;
    ext->owner[9] = (uint8_t)eng;
}

/* Write w[from..to) into the transactions. */
static int tp_write_range(tp_txn *x, int from, int to) {
    uint8_t val[BIGV];
    char k[16];
    for (int i = from; i < to; i++) {
        const tp_write *w = &x->w[i];
        size_t kl = kname(k, w->key);
        int rc;
        if (w->del) {
            rc = arm_txn_delete(x->t[w->eng], arm_slice_make(k, kl));
        } else {
            size_t vl = vmake(val, x->id, w->key, (unsigned)i);
            rc = arm_txn_put(x->t[w->eng], arm_slice_make(k, kl), arm_slice_make(val, vl));
        }
        if (rc != ARM_OK) return rc;
    }
    return ARM_OK;
}

static int tp_discard(tp_cycle *c, tp_txn *x) {
    x->finishing[x->version] = 1;
    for (int e = 0; e < 2; e++) {
        if (!x->uses[e]) continue;
        int rc = arm_txn_discard(x->t[e]);
        if (rc != ARM_OK) {
            tp_expect_crash(x, "discard", rc);
            x->failed = FAIL_DISCARD;
            return -1;
        }
    }
    x->phase = TP_DONE;
    c->st->discarded[x->kind]++;
    return 0;
}

/* A prepare drops the deletes (the batch's last write of a key) of keys that
 * do not exist then: they hold nothing (a later writer of the key waits for
 * the publish only because the absence counts as read, ARM_BUSY), and the
 * publish does not delete what a writer made after it. */
static void tp_mark_skips(const tp_cycle *c, tp_txn *x, int v, int e) {
    x->skip[v][e] = 0;
    for (int i = 0; i < x->nw[v]; i++) {
        const tp_write *w = &x->w[i];
        if (w->eng != e || !w->del || tp_replaced(x, v, i)) continue;
        char k[16];
        size_t kl = kname(k, w->key);
        if (util_model_get(&c->acked[e], k, kl) == NULL)
            x->skip[v][e] |= (uint16_t)(1u << i);
    }
}

/* Prepare version x->version of every part. 0: prepared; 1: a conflict (the
 * transaction is discarded, nothing of it stays); -1: the crash. */
static int tp_prepare(tp_cycle *c, tp_txn *x) {
    int v = x->version;
    for (int e = 0; e < 2; e++) {
        if (!x->uses[e]) continue;
        arm_txn_ext ext;
        tp_owner(&ext, x->id, v, e);
        x->started[v][e] = 1;
        tp_mark_skips(c, x, v, e);
        int rc = arm_txn_prepare(x->t[e], x->ext[v] ? &ext : NULL);
        /* a key is held by a pending one, or changed since; or (ARM_BUSY) a
         * pending one read a key this one writes */
        if (rc == ARM_BUSY_SNAPSHOT || rc == ARM_BUSY) {
            c->st->conflicts++;
            x->started[v][e] = 0; /* nothing written */
            return tp_discard(c, x) == 0 ? 1 : -1;
        }
        if (rc != ARM_OK) {
            tp_expect_crash(x, "prepare", rc);
            x->failed = FAIL_PREPARE;
            return -1;
        }
        x->prepared[v][e] = 1;
        x->xid[v][e] = arm_txn_id(x->t[e]);
    }
    return 0;
}

static int tp_publish(tp_cycle *c, tp_txn *x) {
    int v = x->version;
    if (x->ext[v]) {
        if (cs_tick()) {
            x->failed = FAIL_TICK;
            return -1;
        }
        x->decided = 1;
    }
    arm_txn *ts[2];
    size_t n = 0;
    for (int e = 0; e < 2; e++)
        if (x->uses[e]) ts[n++] = x->t[e];
    x->finishing[v] = 1;
    int rc = arm_txn_publish(ts, n);
    if (rc != ARM_OK) {
        tp_expect_crash(x, "publish", rc);
        x->failed = FAIL_PUBLISH;
        return -1;
    }
    x->phase = TP_DONE;
    x->published = 1;
    c->st->published[x->kind]++;
    for (int e = 0; e < 2; e++)
        if (x->uses[e]) tp_apply(&c->acked[e], x, v, e);
    return 0;
}

/* Un-prepare version 1 the variant's way and prepare version 2. */
static int tp_reprepare(tp_cycle *c, tp_txn *x) {
    int e = x->w[0].eng, rc;
    x->finishing[1] = 1;
    if (x->variant == RP_PUT)
        rc = tp_write_range(x, x->nw[1], x->nw[2]); /* the first write un-prepares */
    else if (x->variant == RP_UNPREPARE)
        rc = arm_txn_unprepare(x->t[e]);
    else
        rc = arm_txn_rollback_to(x->t[e], x->mark);
    if (rc != ARM_OK) {
        tp_expect_crash(x, "un-prepare", rc);
        x->failed = FAIL_UNPREPARE;
        return -1;
    }
    ARM_CHECK(arm_txn_id(x->t[e]) == 0); /* no longer prepared */
    c->st->reprepared++;
    x->version = 2;
    rc = tp_prepare(c, x);
    return rc != 0 ? rc : tp_publish(c, x);
}

/* Begin, write and prepare a new transaction. */
static int tp_start(tp_cycle *c, tp_txn *x) {
    arm_domain *dom = arm_engine_domain(c->e[0]);
    int two = x->uses[0] && x->uses[1];
    if (two) ARM_CHECK_RC(arm_snapshot_take(dom, &x->snap), ARM_OK);
    for (int e = 0; e < 2; e++)
        if (x->uses[e])
            UTIL_CHECK_RC(c->e[e], arm_txn_begin(c->e[e], two ? &x->snap : NULL, 0, &x->t[e]),
                          ARM_OK);
    c->st->started[x->kind]++;
    x->phase = TP_PENDING;
    x->version = 1;
    int n1 = x->variant == RP_ROLLBACK ? x->nw[2] : x->nw[1];
    ARM_CHECK_RC(tp_write_range(x, 0, n1), ARM_OK);
    if (x->kind == TP_REPREP && x->variant == RP_ROLLBACK) {
        x->mark = arm_txn_mark(x->t[x->w[0].eng]);
        ARM_CHECK_RC(tp_write_range(x, n1, x->nw[1]), ARM_OK);
    }
    return tp_prepare(c, x);
}

static int tp_finish(tp_cycle *c, tp_txn *x) {
    switch (x->kind) {
    case TP_EXT_ABORT:
    case TP_DISCARD:
    case TP_MULTI_ABORT: return tp_discard(c, x);
    case TP_REPREP: return tp_reprepare(c, x);
    default: return tp_publish(c, x);
    }
}

/* The application forgets decisions whose outcome the engine says is durable. */
static void tp_forget(tp_cycle *c) {
    for (int i = 0; i < c->ntxns; i++) {
        tp_txn *x = &c->txns[i];
        if (!x->published || !x->decided || x->forgotten) continue;
        int durable = 1;
        for (int e = 0; e < 2; e++)
            if (x->uses[e] && x->xid[x->version][e])
                durable &= arm_engine_txn_durable(c->e[e], x->xid[x->version][e]);
        if (durable) {
            x->forgotten = 1;
            c->st->forgotten++;
        }
    }
}

/* Run the workload until the crash (or the steps run out: then finish what
 * is pending). */
static void tp_workload(tp_cycle *c, util_rng *r) {
    int dead = 0, steps = 10 + (int)util_rng_below(r, TP_STEPS - 10);
    for (int step = 0; step < steps && !dead; step++) {
        if (c->npending < TP_PENDING_MAX && (c->npending == 0 || util_rng_below(r, 2))) {
            tp_txn *x = &c->txns[c->ntxns];
            tp_gen(r, c->first_id + (uint32_t)c->ntxns, x);
            c->ntxns++;
            int rc = tp_start(c, x);
            if (rc == 0) c->pending[c->npending++] = c->ntxns - 1;
            dead = rc < 0;
        } else {
            int k = (int)util_rng_below(r, (uint64_t)c->npending);
            tp_txn *x = &c->txns[c->pending[k]];
            c->pending[k] = c->pending[--c->npending];
            dead = tp_finish(c, x) < 0;
        }
        tp_forget(c);
    }
    while (!dead && c->npending > 0) {
        tp_txn *x = &c->txns[c->pending[--c->npending]];
        dead = tp_finish(c, x) < 0;
    }
}

/* ----------------------------------------------------- after the crash */
typedef struct tp_unit {
    const tp_txn *x;
    int v, eng;
} tp_unit;

/* What may be there of each unfinished transaction: certain units go into
 * the models, uncertain ones into u[]. */
static int tp_tail(const tp_cycle *c, util_model *m, tp_unit *u) {
    int nu = 0;
    for (int i = 0; i < c->ntxns; i++) {
        const tp_txn *x = &c->txns[i];
        if (x->phase == TP_DONE) continue;
        int v = x->version;
        for (int e = 0; e < 2; e++) {
            if (!x->uses[e] || !x->started[v][e]) continue; /* nothing written */
            if (x->ext[v]) {
                /* externally decided: present exactly when decided (the
                 * commit record, or the resolution from the decision store) */
                if (x->decided) tp_apply(&m[e], x, v, e);
                continue;
            }
            ARM_CHECK(nu < TP_UNITS_MAX);
            u[nu].x = x;
            u[nu].v = v;
            u[nu].eng = e;
            nu++;
        }
    }
    return nu;
}

/* Every transaction of the cycle, for a post-mortem. */
static void tp_dump(const tp_cycle *c) {
    for (int i = 0; i < c->ntxns; i++) {
        const tp_txn *x = &c->txns[i];
        fprintf(stderr, "  txn %u %s variant %d phase %d version %d ext %d/%d published %d "
                "decided %d failed %d nw %d/%d:", x->id, tp_kind_name[x->kind], x->variant,
                x->phase, x->version, x->ext[1], x->ext[2], x->published, x->decided, x->failed,
                x->nw[1], x->nw[2]);
        int n = x->nw[1] > x->nw[2] ? x->nw[1] : x->nw[2];
        for (int j = 0; j < n; j++)
            fprintf(stderr, " %c%d:%u", x->w[j].del ? '-' : '+', x->w[j].eng, x->w[j].key);
        fprintf(stderr, "\n");
    }
}

/* The engines hold the acknowledged state, the certain tail and some of the
 * uncertain units, each whole. */
static void tp_check_state(tp_cycle *c, uint64_t seed, int cycle) {
    util_model base[2], m[2];
    tp_unit u[TP_UNITS_MAX];
    for (int e = 0; e < 2; e++) {
        util_model_init(&base[e]);
        util_model_init(&m[e]);
        util_model_copy(&base[e], &c->acked[e]);
    }
    int nu = tp_tail(c, base, u);
    if ((unsigned)nu > c->st->combos_max) c->st->combos_max = (unsigned)nu;
    int found = -1;
    for (unsigned mask = 0; mask < (1u << nu) && found < 0; mask++) {
        for (int e = 0; e < 2; e++) util_model_copy(&m[e], &base[e]);
        for (int i = 0; i < nu; i++)
            if (mask >> i & 1) tp_apply(&m[u[i].eng], u[i].x, u[i].v, u[i].eng);
        if (state_is(c->e[0], &m[0]) && state_is(c->e[1], &m[1])) found = (int)mask;
    }
    if (found < 0) {
        fprintf(stderr, "seed %llu cycle %d: the state after the cut is not the acknowledged one "
                "plus whole unfinished transactions; unfinished:\n", (unsigned long long)seed,
                cycle);
        for (int i = 0; i < c->ntxns; i++) {
            const tp_txn *x = &c->txns[i];
            if (x->phase != TP_DONE)
                fprintf(stderr, "  txn %u (%s) version %d ext %d decided %d failed at %d\n",
                        x->id, tp_kind_name[x->kind], x->version, x->ext[x->version], x->decided,
                        x->failed);
        }
        for (int e = 0; e < 2; e++) {
            fprintf(stderr, " engine %d against acknowledged + certain:\n", e);
            show_key_diff(c->e[e], &base[e], NULL);
        }
        if (getenv("TP_TRACE")) tp_dump(c);
        ARM_CHECK(!"published whole, discarded absent, decided by the decision store, the rest whole or absent");
    }
    c->st->uncertain += (unsigned)nu;
    for (int i = 0; i < nu; i++) c->st->uncertain_present += (unsigned)found >> i & 1;
    for (int e = 0; e < 2; e++) {
        util_model_copy(&c->acked[e], &base[e]);
        for (int i = 0; i < nu; i++)
            if ((unsigned)found >> i & 1 && u[i].eng == e) tp_apply(&c->acked[e], u[i].x, u[i].v, e);
        util_model_free(&base[e]);
        util_model_free(&m[e]);
    }
}

/* How an in-doubt report relates to the workload: 2 must be in doubt, 1 may,
 * 0 must not. */
static int tp_doubt_class(const tp_txn *x, int v, int e) {
    if (x->phase == TP_DONE || !x->uses[e] || !x->ext[v] || !x->started[v][e]) return 0;
    if (v != x->version) return 0; /* un-prepared: its abort record was synced */
    if (x->prepared[v][e] && x->xid[v][e] && !x->finishing[v]) return 2;
    return 1; /* the crash hit its prepare, publish, discard or un-prepare */
}

static tp_txn *tp_find(tp_cycle *c, const uint8_t *owner, int *v, int *e) {
    uint32_t id;
    if (memcmp(owner, "tp2c", 4) != 0) return NULL;
    memcpy(&id, owner + 4, 4);
    *v = owner[8];
    *e = owner[9];
    if (id < c->first_id || id - c->first_id >= (uint32_t)c->ntxns || *v < 1 || *v > 2 || *e > 1)
        return NULL;
    return &c->txns[id - c->first_id];
}

/* A put of version v on engine e that the batch keeps (no later write of
 * its key), so the prepared transaction holds that key; -1 when none. */
static int tp_held_put(const tp_txn *x, int v, int e) {
    for (int i = x->nw[v] - 1; i >= 0; i--)
        if (x->w[i].eng == e && !x->w[i].del && !tp_replaced(x, v, i)) return i;
    return -1;
}

/* With `check`: the in-doubt transactions of both engines are the expected
 * ones (all that must be, others only where the crash hit their finish) and
 * hold their keys. Then resolve each from the decision store. With `fire`
 * the machine may die during the resolution (returns 1): the caller cuts,
 * reopens and calls again. */
static int tp_resolve(tp_cycle *c, int check, int fire) {
    int must_seen = 0;
    arm_indoubt *list[2] = {NULL, NULL};
    size_t n[2] = {0, 0};
    for (int e = 0; e < 2; e++) {
        UTIL_CHECK_RC(c->e[e], arm_engine_indoubt_list(c->e[e], &list[e], &n[e]), ARM_OK);
        for (size_t i = 0; i < n[e]; i++) {
            int v = 0, eng = 0;
            tp_txn *x = tp_find(c, list[e][i].owner, &v, &eng);
            if (x == NULL || eng != e) {
                fprintf(stderr, "engine %d: in-doubt transaction %llu with an unknown owner\n", e,
                        (unsigned long long)list[e][i].id);
                ARM_CHECK(!"every in-doubt transaction is one this cycle prepared");
            }
            int cls = tp_doubt_class(x, v, e);
            if (cls == 0)
                fprintf(stderr, "engine %d: txn %u (%s) version %d is in doubt; published %d, "
                        "phase %d, finishing %d\n", e, x->id, tp_kind_name[x->kind], v,
                        x->published, x->phase, x->finishing[v]);
            ARM_CHECK(cls != 0);
            if (x->prepared[v][e]) ARM_CHECK(list[e][i].id == x->xid[v][e]);
            must_seen += cls == 2;
            int w = check ? tp_held_put(x, v, e) : -1;
            if (w >= 0) { /* its keys are held */
                char k[16];
                size_t kl = kname(k, x->w[w].key);
                ARM_CHECK_RC(arm_engine_put(c->e[e], arm_slice_make(k, kl), UTIL_S("x")),
                             ARM_BUSY);
            }
        }
    }
    if (check) {
        unsigned must = 0;
        for (int i = 0; i < c->ntxns; i++)
            for (int v = 1; v <= 2; v++)
                for (int e = 0; e < 2; e++) must += tp_doubt_class(&c->txns[i], v, e) == 2;
        if ((int)must != must_seen)
            fprintf(stderr, "%u transactions must be in doubt, %d are\n", must, must_seen);
        ARM_CHECK((int)must == must_seen);
        c->st->doubt_found += (unsigned)(n[0] + n[1]);
    }
    int dead = 0;
    for (int e = 0; e < 2; e++) {
        for (size_t i = 0; i < n[e] && !dead; i++) {
            int v = 0, eng = 0;
            tp_txn *x = tp_find(c, list[e][i].owner, &v, &eng);
            int commit = x->decided && v == x->version;
            int rc = arm_engine_indoubt_resolve(c->e[e], list[e][i].id, commit);
            if (rc != ARM_OK && fire && tp_crashed()) {
                dead = 1;
                break;
            }
            UTIL_CHECK_RC(c->e[e], rc, ARM_OK);
            if (commit) c->st->resolved_commit++;
            else c->st->resolved_abort++;
        }
        arm_free(list[e]);
    }
    return dead;
}

static void tp_config(util_rng *r, arm_engine_options *o, int eng, arm_domain *dom) {
    arm_engine_options_init(o);
    o->compaction = 0; /* a seed replays the same ops (test_compact_crash cuts merges) */
    o->shard_count = 1 + (uint32_t)util_rng_below(r, eng ? 3 : 4);
    o->sync_mode = ARM_SYNC_FULL;
    o->io_backend = ARM_IO_POSIX;
    o->max_file_size = util_rng_below(r, 2) ? 256u << 10 : 1u << 20; /* a txn fits */
    static const uint32_t wbs[] = {4096, 8192, 16384, 65536};
    o->write_buffer_size = wbs[util_rng_below(r, 4)];
    o->max_value_size = BIGV;
    o->index_kind = util_rng_below(r, 4) == 0 ? ARM_INDEX_HASH : ARM_INDEX_ORDERED;
    o->mmap_reads = (int)util_rng_below(r, 2);
    o->domain = dom;
}

/* Open both engines in one new domain; 0 when either fails (only the crash
 * may make it). */
static int tp_open(arm_engine_options *o, arm_engine **e, int hooked) {
    arm_domain *dom = NULL;
    ARM_CHECK_RC(arm_domain_new(&dom), ARM_OK);
    o[0].domain = o[1].domain = dom;
    e[0] = e[1] = NULL;
    const char *dirs[2] = {g_db, g_db2};
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        int rc = arm_engine_open(dirs[i], &o[i], &e[i]);
        if (rc == ARM_OK) continue;
        if (!hooked || !tp_crashed())
            fprintf(stderr, "open %s: %s \"%s\"\n", dirs[i], arm_rc_str(rc), arm_engine_errmsg(NULL));
        ARM_CHECK(hooked && tp_crashed());
        ARM_CHECK(ARM_RC_PRIMARY(rc) == ARM_IOERR);
        ok = 0;
    }
    arm_domain_free(dom); /* the engines hold it */
    if (!ok) {
        (void)arm_engine_close(e[0]);
        e[0] = e[1] = NULL;
    }
    return ok;
}

static void tp_close(arm_engine **e, int clean) {
    for (int i = 0; i < 2; i++) {
        if (clean) util_close_ok(e[i]);
        else (void)arm_engine_close(e[i]); /* its final flush may fail: the machine is gone */
        e[i] = NULL;
    }
}

static void tp_cut(util_rng *r, tp_stats *st) {
    arm_io_set_fault_hook(NULL);
    if (g_violation[0]) fprintf(stderr, "%s\n", g_violation);
    ARM_CHECK(g_violation[0] == '\0');
    if (g_crash_op >= 1 && g_crash_op <= 4) st->crash_op[g_crash_op]++;
    power_cut_dir(r, &st->cuts, 0, g_db);
    power_cut_dir(r, &st->cuts, 0, g_db2);
}

static void tp_run_seed(uint64_t seed, tp_stats *st) {
    g_cur_seed = seed;
    g_in_seed = 1;
    harness_seed = seed;
    util_rng r;
    util_rng_seed(&r, seed ^ 0x2bc2bc2bcULL);
    arm_engine_options o[2];
    tp_config(&r, &o[0], 0, NULL);
    tp_config(&r, &o[1], 1, NULL);
    int cycles = 1 + (int)util_rng_below(&r, 3);
    long max_op = 20 + (long)util_rng_below(&r, 900);
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "crashsim2pc");
    char raw[PATH_MAX];
    snprintf(raw, sizeof raw, "%s/a", g_tmp);
    ARM_CHECK(mkdir(raw, 0755) == 0 && realpath(raw, g_db) != NULL);
    snprintf(raw, sizeof raw, "%s/b", g_tmp);
    ARM_CHECK(mkdir(raw, 0755) == 0 && realpath(raw, g_db2) != NULL);
    const char *dirs[2] = {g_db, g_db2};
    util_model acked[2];
    util_model_init(&acked[0]);
    util_model_init(&acked[1]);
    tp_cycle c;
    memset(&c, 0, sizeof c);
    c.acked = acked;
    c.st = st;
    c.txns = malloc(sizeof(tp_txn) * (TP_STEPS + 1));
    ARM_CHECK(c.txns != NULL);
    c.first_id = 1;
    st->seeds++;

    for (int cycle = 0; cycle < cycles; cycle++) {
        st->cycles++;
        c.ntxns = 0;
        c.npending = 0;
        cs_arm_dirs(1 + (long)util_rng_below(&r, (uint64_t)max_op), dirs, 2);
        if (!tp_open(o, c.e, 1)) {
            st->crashes_in_open++;
        } else {
            tp_workload(&c, &r);
            int dead = tp_crashed();
            for (int i = 0; i < c.ntxns; i++) { /* a pending one's discard fails: no matter */
                for (int e = 0; e < 2; e++) arm_txn_free(c.txns[i].t[e]);
                arm_snapshot_drop(&c.txns[i].snap);
            }
            if (!dead) st->no_crash++;
            tp_close(c.e, 0);
        }
        tp_cut(&r, st);

        /* reopen: in doubt as expected, held, and still after another reopen */
        ARM_CHECK(tp_open(o, c.e, 0));
        if (util_rng_below(&r, 3) == 0) {
            uint64_t before[2] = {0, 0}, after[2] = {0, 0}; /* sum of ids, per engine */
            for (int pass = 0; pass < 2; pass++) {
                if (pass) {
                    tp_close(c.e, 1);
                    ARM_CHECK(tp_open(o, c.e, 0));
                }
                for (int e = 0; e < 2; e++) {
                    arm_indoubt *l = NULL;
                    size_t n = 0;
                    UTIL_CHECK_RC(c.e[e], arm_engine_indoubt_list(c.e[e], &l, &n), ARM_OK);
                    for (size_t i = 0; i < n; i++) (pass ? after : before)[e] += l[i].id + 1;
                    arm_free(l);
                }
            }
            ARM_CHECK(before[0] == after[0] && before[1] == after[1]);
        }
        int checked = 0;
        if (util_rng_below(&r, 4) == 0) {
            /* the machine may die again while resolving: cut, reopen, resolve
             * what is left */
            st->resolve_fire++;
            tp_close(c.e, 1);
            cs_arm_dirs(1 + (long)util_rng_below(&r, 4), dirs, 2);
            if (tp_open(o, c.e, 1)) {
                (void)tp_resolve(&c, 1, 1);
                checked = 1;
                tp_close(c.e, 0);
            }
            tp_cut(&r, st);
            ARM_CHECK(tp_open(o, c.e, 0));
        }
        (void)tp_resolve(&c, !checked, 0);
        for (int e = 0; e < 2; e++) { /* nothing left in doubt */
            arm_indoubt *l = NULL;
            size_t n = 9;
            UTIL_CHECK_RC(c.e[e], arm_engine_indoubt_list(c.e[e], &l, &n), ARM_OK);
            ARM_CHECK(n == 0);
        }
        tp_check_state(&c, seed, cycle);
        for (int e = 0; e < 2; e++) {
            cursor_is(c.e[e], &acked[e], o[e].index_kind == ARM_INDEX_ORDERED);
            check_clean(c.e[e]);
        }
        tp_close(c.e, 1);
        c.first_id += (uint32_t)c.ntxns;
    }
    /* and a clean reopen keeps it */
    ARM_CHECK(tp_open(o, c.e, 0));
    for (int e = 0; e < 2; e++) {
        if (!state_is(c.e[e], &acked[e])) {
            show_key_diff(c.e[e], &acked[e], NULL);
            ARM_CHECK(!"the resolved state survives a clean reopen");
        }
    }
    tp_close(c.e, 1);
    free(c.txns);
    util_model_free(&acked[0]);
    util_model_free(&acked[1]);
    g_in_seed = 0;
}

static void test_two_phase(void) {
    tp_stats st;
    memset(&st, 0, sizeof st);
    const char *one = getenv("ARMDB_SEED");
    uint64_t t0 = util_now_ms();
    if (one && one[0]) {
        tp_run_seed(strtoull(one, NULL, 10), &st);
    } else {
        uint64_t base = g_sweep_seed % 1000000007ULL * 1000;
        unsigned n = TP_SEEDS * (unsigned)util_scale();
        fprintf(stderr, "crash sim, two-phase: seeds %llu..%llu\n", (unsigned long long)base,
                (unsigned long long)(base + n - 1));
        for (unsigned i = 0; i < n; i++) tp_run_seed(base + i, &st);
    }
    unsigned started = 0, published = 0, discarded = 0;
    for (int k = 0; k < TP_KINDS; k++)
        started += st.started[k], published += st.published[k], discarded += st.discarded[k];
    fprintf(stderr, "crash sim, two-phase: %u seeds, %u cycles (crashed at a write %u, a sync %u, "
            "a decision %u, in open %u; ran out of steps %u); %u txns started, %u published, %u "
            "discarded, %u conflicts, %u re-prepared, %u decisions forgotten once durable; in "
            "doubt after the cut: %u (%u resolved commit, %u abort; %u resolutions under another "
            "crash); unfinished hot parts %u, present after the cut %u (at most %u at once); %.1f s\n",
            st.seeds, st.cycles, st.crash_op[ARM_IO_OP_WRITE], st.crash_op[ARM_IO_OP_SYNC],
            st.crash_op[CS_OP_DECISION], st.crashes_in_open, st.no_crash, started, published,
            discarded, st.conflicts, st.reprepared, st.forgotten, st.doubt_found,
            st.resolved_commit, st.resolved_abort, st.resolve_fire, st.uncertain,
            st.uncertain_present, st.combos_max, (double)(util_now_ms() - t0) / 1000.0);
    for (int k = 0; k < TP_KINDS; k++)
        fprintf(stderr, "  %-22s started %4u published %4u discarded %4u\n", tp_kind_name[k],
                st.started[k], st.published[k], st.discarded[k]);
    if (st.seeds >= 50) { /* the sweep reached the cases it is for */
        ARM_CHECK(st.crash_op[ARM_IO_OP_WRITE] > 0 && st.crash_op[ARM_IO_OP_SYNC] > 0);
        ARM_CHECK(st.crash_op[CS_OP_DECISION] > 0);
        ARM_CHECK(st.doubt_found > 0 && st.resolved_commit > 0 && st.resolved_abort > 0);
        ARM_CHECK(st.uncertain_present > 0 && st.uncertain_present < st.uncertain);
        for (int k = 0; k < TP_KINDS; k++) ARM_CHECK(st.published[k] + st.discarded[k] > 0);
    }
}

int main(void) {
    harness_init();
    g_sweep_seed = harness_seed;
    /* tmpfs unless told otherwise: durability is simulated by the hook */
    const char *tmp = getenv("TMPDIR");
    if ((tmp == NULL || tmp[0] == '\0') && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    util_rmrf_at_exit(g_tmp);
    atexit(announce_failure);
    UTIL_CASE("power cut at the Nth write or sync, sync=full, seeded sweep", test_sweep());
    UTIL_CASE("power cut, concurrent writers (group commit), sync=full", test_concurrent());
    UTIL_CASE("power cut, two-phase transactions on two engines, sync=full", test_two_phase());
    return harness_done();
}
