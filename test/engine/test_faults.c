/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c: disk-full and I/O-error injection through the engine's I/O
 * fault hook (engine/io.h): ENOSPC and EIO on the Nth data-file write, sync
 * or read, in sync modes off/normal/full, with single puts and deletes,
 * batches (inside and past the write buffer), and rotation (64 KiB files, so
 * faults land on seals and fresh files). What must hold (DESIGN.md §4):
 *
 *   - the operation fails with a clear error: ARM_FULL for ENOSPC, ARM_IOERR
 *     for EIO, arm_engine_errno set, arm_engine_errmsg naming the file;
 *   - committed data stays intact, before and after reopen;
 *   - a failed write (ENOSPC or EIO) leaves nothing visible, and once the
 *     fault clears the engine takes writes again, which survive reopen
 *     (a batch that had already put part of itself in the file may poison
 *     the engine instead: then a reopen recovers without any of it);
 *   - a failed fdatasync poisons the engine: every write is ARM_PANIC with a
 *     message saying to reopen, until it is reopened; after reopen all that
 *     was acknowledged before is there;
 *   - a failed read (mmap_reads = 0) is ARM_IOERR for that call only.
 *
 * ARM_TEST_SEED reproduces the random choices; ARM_TEST_CASE=substring runs
 * one case.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../engine/io.h"
#include "../util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_tmp[512];
static char g_db[600];

static const char *fresh(const char *tag) {
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, tag);
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    return g_db;
}

/* ------------------------------------------------------------ the fault */
static struct {
    pthread_mutex_t lock;
    int op;      /* ARM_IO_OP_* to fail, 0 = none */
    int err;     /* errno to inject */
    long nth;    /* the nth op of that kind (1-based) fails ... */
    int sticky;  /* ... and, when sticky, every later one too */
    long seen;   /* ops of that kind since armed */
    long fired;  /* failures injected */
    long passed; /* ops of that kind let through */
} g_f = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0, 0};

static int ft_hook(int op, int fd, uint64_t off, size_t n) {
    (void)fd;
    (void)off;
    (void)n;
    int ret = 0;
    pthread_mutex_lock(&g_f.lock);
    if (g_f.op == op) {
        g_f.seen++;
        if (g_f.seen == g_f.nth || (g_f.sticky && g_f.seen > g_f.nth)) {
            ret = g_f.err;
            g_f.fired++;
        } else {
            g_f.passed++;
        }
    }
    pthread_mutex_unlock(&g_f.lock);
    return ret;
}

static void fault_arm(int op, int err, long nth, int sticky) {
    pthread_mutex_lock(&g_f.lock);
    g_f.op = op;
    g_f.err = err;
    g_f.nth = nth;
    g_f.sticky = sticky;
    g_f.seen = 0;
    g_f.fired = 0;
    g_f.passed = 0;
    pthread_mutex_unlock(&g_f.lock);
    arm_io_set_fault_hook(ft_hook);
}

static void fault_clear(void) {
    arm_io_set_fault_hook(NULL);
    pthread_mutex_lock(&g_f.lock);
    g_f.op = 0;
    pthread_mutex_unlock(&g_f.lock);
}

static long fault_fired(void) {
    pthread_mutex_lock(&g_f.lock);
    long n = g_f.fired;
    pthread_mutex_unlock(&g_f.lock);
    return n;
}

static long fault_passed(void) {
    pthread_mutex_lock(&g_f.lock);
    long n = g_f.passed;
    pthread_mutex_unlock(&g_f.lock);
    return n;
}

/* ------------------------------------------------------------ helpers */
static const char *mode_name(int m) {
    return m == ARM_SYNC_OFF ? "off" : m == ARM_SYNC_NORMAL ? "normal" : "full";
}
static const char *op_name(int op) {
    return op == ARM_IO_OP_WRITE ? "write" : op == ARM_IO_OP_SYNC ? "sync" : "read";
}

static int want_rc(int err) { return err == ENOSPC ? ARM_FULL : ARM_IOERR; }

/* The failure is the injected one: the right code, errno, and a message
 * that names the data file. */
static void check_failure(arm_engine *e, int rc, int err, const char *what) {
    const char *msg = arm_engine_errmsg(e);
    if (ARM_RC_PRIMARY(rc) != want_rc(err) || arm_engine_errno(e) != err ||
        strstr(msg, ".log") == NULL || strstr(msg, "shard-") == NULL) {
        fprintf(stderr, "%s: returned %s (errno %d), expected %s (errno %d) with a message naming "
                "the data file; errmsg \"%s\"\n", what, arm_rc_str(rc), arm_engine_errno(e),
                arm_rc_str(want_rc(err)), err, msg);
        ARM_CHECK(!"a clear error naming the file");
    }
}

static void check_panic(arm_engine *e, int rc, const char *what) {
    const char *msg = arm_engine_errmsg(e);
    if (rc != ARM_PANIC || strstr(msg, "reopen") == NULL) {
        fprintf(stderr, "%s: returned %s, errmsg \"%s\"; expected ARM_PANIC saying to reopen\n",
                what, arm_rc_str(rc), msg);
        ARM_CHECK(!"writes refused with ARM_PANIC until reopen");
    }
}

#define NKEYS 64
static size_t kname(char *b, unsigned i) { return (size_t)sprintf(b, "fk%04u", i); }
static size_t vmake(uint8_t *b, unsigned key, unsigned gen, size_t len) {
    util_fill(b, len, key, gen);
    if (len >= 8) {
        memcpy(b, &key, 4);
        memcpy(b + 4, &gen, 4);
    }
    return len;
}

/* The key reads as the model says (value, or absent). */
static void expect_as_model(arm_engine *e, const util_model *m, unsigned key) {
    char k[16];
    size_t kl = kname(k, key);
    const util_kv *kv = util_model_get(m, k, kl);
    if (kv)
        util_expect(e, k, kl, kv->val, kv->vlen);
    else
        util_expect_missing(e, k, kl);
}

static void check_clean(arm_engine *e) {
    uint64_t problems = 99;
    UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems == 0);
}

typedef struct ft_cfg {
    int sync_mode;
    int io_backend;
    uint32_t shards;
    uint32_t wbuf;
    uint64_t max_file;
    size_t vmin, vmax; /* value sizes */
    int mmap_reads;
} ft_cfg;

static arm_engine_options cfg_opts(const ft_cfg *c) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.compaction = 0; /* faults hit the Nth op of the test's own writes */
    o.shard_count = c->shards;
    o.sync_mode = c->sync_mode;
    o.io_backend = c->io_backend;
    o.write_buffer_size = c->wbuf;
    o.max_file_size = c->max_file;
    o.max_value_size = 16u << 10;
    o.mmap_reads = c->mmap_reads;
    return o;
}

/* ------------------------------------------------------------ fault round */
/* One round on the database at g_db holding model m: open, arm the fault
 * (op, err, the nth op of its kind and every later one), write single puts
 * and deletes (sync=off: a flush every few) until something fails, check the
 * failure and what follows it, clear, reopen and check everything. Returns 0
 * when the workload ended before the fault fired (nth past its ops). */
static int fault_round(const ft_cfg *c, int op, int err, long nth, util_model *m, unsigned *gen) {
    arm_engine_options o = cfg_opts(c);
    arm_engine *e = util_open_ok(g_db, &o);
    fault_arm(op, err, nth, 1);
    static uint8_t v[16u << 10];
    char k[16];
    util_model durable; /* sync=off: the state at the last good flush */
    util_model_init(&durable);
    util_model_copy(&durable, m);
    int rc = ARM_OK, at_flush = 0, inflight_del = 0, partial = 0;
    unsigned inflight = 0;
    size_t inflight_vl = 0;
    uint64_t t0 = util_now_ms();
    for (int i = 0; i < 400; i++) {
        unsigned key = (unsigned)(harness_rand() % NKEYS);
        size_t kl = kname(k, key);
        int del = util_model_get(m, k, kl) != NULL && harness_rand() % 5 == 0;
        size_t vl = 0;
        long passed0 = fault_passed();
        if (del) {
            rc = arm_engine_delete(e, arm_slice_make(k, kl));
        } else {
            vl = vmake(v, key, ++*gen,
                       c->vmin + (size_t)(harness_rand() % (c->vmax - c->vmin + 1)));
            rc = arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl));
        }
        if (rc != ARM_OK) {
            inflight = key;
            inflight_del = del;
            inflight_vl = vl;
            partial = fault_passed() > passed0; /* part of this op reached the file */
            break;
        }
        if (del)
            util_model_del(m, k, kl);
        else
            util_model_put(m, k, kl, v, vl);
        if (c->sync_mode == ARM_SYNC_OFF && i % 5 == 4) {
            rc = arm_engine_flush(e);
            if (rc != ARM_OK) {
                at_flush = 1;
                break;
            }
            util_model_copy(&durable, m);
        }
        /* sync=normal: the background sync (every 100 ms) meets a sync fault */
        if (c->sync_mode == ARM_SYNC_NORMAL && op == ARM_IO_OP_SYNC) {
            if (util_now_ms() - t0 > 3000) break;
            usleep(5000);
        }
    }
    if (rc == ARM_OK) { /* the fault never fired */
        ARM_CHECK(fault_fired() == 0);
        fault_clear();
        util_close_ok(e);
        util_model_free(&durable);
        return 0;
    }
    char what[128];
    snprintf(what, sizeof what, "sync=%s, %s %s at op %ld: %s", mode_name(c->sync_mode),
             op_name(op), err == ENOSPC ? "ENOSPC" : "EIO", nth,
             at_flush ? "arm_engine_flush" : inflight_del ? "delete" : "put");
    ARM_CHECK(fault_fired() > 0);
    int unknown = 0; /* the in-flight op may or may not be there after reopen */
    int unflushed = 0; /* sync=off: puts since the last good flush may be lost */
    if (op == ARM_IO_OP_WRITE) {
        check_failure(e, rc, err, what);
        if (!at_flush) expect_as_model(e, m, inflight); /* the failed op is not visible */
        for (unsigned key = 0; key < NKEYS; key++) expect_as_model(e, m, key);
        fault_clear();
        if (at_flush) UTIL_CHECK_RC(e, arm_engine_flush(e), ARM_OK); /* the buffer is retried */
        /* the engine takes writes again (unless part of the failed op had
         * reached the file: then it is poisoned, and recovery cuts that part) */
        int poisoned = 0;
        for (int i = 0; i < 3 && !poisoned; i++) {
            unsigned key = (unsigned)(harness_rand() % NKEYS);
            size_t kl = kname(k, key), vl = vmake(v, key, ++*gen, c->vmin);
            int prc = arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl));
            if (prc == ARM_PANIC && partial && i == 0) {
                check_panic(e, prc, what);
                poisoned = 1;
                break;
            }
            if (prc != ARM_OK)
                fprintf(stderr, "%s: after the fault cleared, a put returned %s \"%s\"%s\n", what,
                        arm_rc_str(prc), arm_engine_errmsg(e),
                        partial ? "" : " (nothing of the failed op had reached the file)");
            ARM_CHECK_RC(prc, ARM_OK);
            util_model_put(m, k, kl, v, vl);
            util_expect(e, k, kl, v, vl);
        }
        if (poisoned)
            (void)arm_engine_close(e);
        else
            util_close_ok(e);
    } else {
        /* a failed sync: this op fails (sync=normal: a later write finds the
         * engine poisoned), then every write is ARM_PANIC until reopen */
        if (rc == ARM_PANIC) {
            /* sync=normal: the background sync failed; this write found out */
            ARM_CHECK(c->sync_mode == ARM_SYNC_NORMAL);
            check_panic(e, rc, what);
        } else {
            if (ARM_RC_PRIMARY(rc) != ARM_IOERR && ARM_RC_PRIMARY(rc) != want_rc(err))
                fprintf(stderr, "%s: %s \"%s\"\n", what, arm_rc_str(rc), arm_engine_errmsg(e));
            ARM_CHECK(ARM_RC_PRIMARY(rc) == ARM_IOERR || ARM_RC_PRIMARY(rc) == want_rc(err));
            ARM_CHECK(arm_engine_errno(e) == err);
            ARM_CHECK(strstr(arm_engine_errmsg(e), ".log") != NULL);
            unknown = !at_flush;
            unflushed = c->sync_mode == ARM_SYNC_OFF;
        }
        for (int pass = 0; pass < 2; pass++) {
            uint8_t v2[16];
            size_t kl = kname(k, NKEYS + 1), vl = vmake(v2, NKEYS + 1, 1, 10);
            check_panic(e, arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v2, vl)), what);
            kl = kname(k, inflight);
            int drc = arm_engine_delete(e, arm_slice_make(k, kl));
            if (drc != ARM_NOTFOUND) check_panic(e, drc, what);
            arm_batch *b = NULL;
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
            UTIL_CHECK_RC(e, arm_engine_batch_put(b, UTIL_S("fb-x"), UTIL_S("y")), ARM_OK);
            check_panic(e, arm_engine_batch_commit(e, b), what);
            arm_engine_batch_free(b);
            fault_clear(); /* the second pass: still refused */
        }
        /* reads still work */
        for (unsigned key = 0; key < NKEYS; key++)
            if (!unknown || key != inflight) expect_as_model(e, m, key);
        (void)arm_engine_close(e); /* its flush reports the poisoning */
    }
    /* reopen: everything acknowledged is there */
    e = util_open_ok(g_db, &o);
    if (unflushed) { /* each key as at the last good flush, or as acknowledged since */
        arm_buf b = {0};
        for (unsigned key = 0; key < NKEYS; key++) {
            if (unknown && key == inflight) continue;
            size_t kl = kname(k, key);
            int grc = arm_engine_get(e, arm_slice_make(k, kl), &b);
            const util_kv *x = util_model_get(&durable, k, kl), *y = util_model_get(m, k, kl);
            int is_x = x ? grc == ARM_OK && b.len == x->vlen && memcmp(b.ptr, x->val, b.len) == 0
                         : grc == ARM_NOTFOUND;
            int is_y = y ? grc == ARM_OK && b.len == y->vlen && memcmp(b.ptr, y->val, b.len) == 0
                         : grc == ARM_NOTFOUND;
            if (!is_x && !is_y)
                fprintf(stderr, "%s: key %s after reopen: %s, neither as flushed nor as acknowledged\n",
                        what, k, arm_rc_str(grc));
            ARM_CHECK(is_x || is_y);
            if (is_x && !is_y) {
                if (x)
                    util_model_put(m, k, kl, x->val, x->vlen);
                else
                    util_model_del(m, k, kl);
            }
        }
        arm_buf_free(&b);
    }
    if (unknown) { /* old state of the in-flight key, or the new one, whole */
        size_t kl = kname(k, inflight);
        arm_buf b = {0};
        int grc = arm_engine_get(e, arm_slice_make(k, kl), &b);
        int is_new = inflight_del ? grc == ARM_NOTFOUND
                                  : grc == ARM_OK && b.len == inflight_vl &&
                                        memcmp(b.ptr, v, inflight_vl) == 0;
        arm_buf_free(&b);
        if (is_new) {
            if (inflight_del)
                util_model_del(m, k, kl);
            else
                util_model_put(m, k, kl, v, inflight_vl);
        }
    }
    util_expect_model(e, m);
    util_expect_missing(e, "fk0065", 6); /* refused while poisoned */
    util_expect_missing(e, "fb-x", 4);
    check_clean(e);
    util_close_ok(e);
    util_model_free(&durable);
    return 1;
}

/* Sweep nth over a run of rounds on one directory. */
static void sweep(const ft_cfg *c, int op, int err, long max_nth, long step) {
    util_model m;
    util_model_init(&m);
    unsigned gen = 0;
    fresh("faults");
    long rounds = 0;
    for (long nth = 1; nth <= max_nth; nth += step, rounds++)
        if (!fault_round(c, op, err, nth, &m, &gen)) break;
    ARM_CHECK(rounds > 0);
    util_logfile lf[64];
    int files = util_list_logs(g_db, lf, 64);
    if (getenv("ARM_TEST_VERBOSE"))
        fprintf(stderr, "    %ld rounds with a fault, %d data files, %zu keys\n", rounds, files,
                m.n);
    util_model_free(&m);
}

static ft_cfg base_cfg(int sync_mode) {
    ft_cfg c;
    memset(&c, 0, sizeof c);
    c.sync_mode = sync_mode;
    c.io_backend = ARM_IO_AUTO;
    c.shards = 3;
    c.wbuf = 16u << 10;
    c.max_file = 1u << 20;
    c.vmin = 10;
    c.vmax = 300;
    c.mmap_reads = 1;
    return c;
}

/* ENOSPC / EIO on writes, in every sync mode; a few fault points each. */
static void test_write_faults(int sync_mode, int err) {
    ft_cfg c = base_cfg(sync_mode);
    sweep(&c, ARM_IO_OP_WRITE, err, 7, 3);
    c.io_backend = ARM_IO_POSIX;
    sweep(&c, ARM_IO_OP_WRITE, err, 2, 1);
}

/* EIO / ENOSPC on fdatasync. */
static void test_sync_faults(int sync_mode, int err) {
    ft_cfg c = base_cfg(sync_mode);
    sweep(&c, ARM_IO_OP_SYNC, err, sync_mode == ARM_SYNC_NORMAL ? 2 : 5, 2);
}

/* Rotation: 64 KiB files and values of 2..6 KiB, one shard, so the fault
 * points sweep across seals and fresh files. */
static void test_rotation(int sync_mode, int op, int err) {
    ft_cfg c = base_cfg(sync_mode);
    c.shards = 1;
    c.max_file = 64u << 10;
    c.wbuf = 8192;
    c.vmin = 2000;
    c.vmax = 6000;
    c.io_backend = ARM_IO_POSIX;
    long max_nth = sync_mode == ARM_SYNC_FULL ? 36 : sync_mode == ARM_SYNC_OFF ? 24 : 30;
    if (op == ARM_IO_OP_SYNC && sync_mode == ARM_SYNC_NORMAL) max_nth = 2;
    sweep(&c, op, err, max_nth * util_scale(), sync_mode == ARM_SYNC_FULL ? 1 : 2);
}

/* sync=off: a put that fills the write buffer meets the write fault; it
 * fails and is not visible; what was buffered before it stays (and is
 * acknowledged: it reaches the file once the fault clears). */
static void test_off_buffer_fill(int err) {
    const char *dir = fresh("offfill");
    ft_cfg c = base_cfg(ARM_SYNC_OFF);
    c.shards = 1;
    c.wbuf = 4096;
    arm_engine_options o = cfg_opts(&c);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[16];
    uint8_t v[600];
    for (unsigned i = 0; i < 20; i++) { /* committed and flushed */
        size_t kl = kname(k, i), vl = vmake(v, i, 1, 100);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    UTIL_CHECK_RC(e, arm_engine_flush(e), ARM_OK);
    fault_arm(ARM_IO_OP_WRITE, err, 1, 1);
    int rc = ARM_OK;
    unsigned i = 20, failed = 0;
    for (; i < 200 && rc == ARM_OK; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 1, 500);
        rc = arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl));
        if (rc == ARM_OK) util_model_put(&m, k, kl, v, vl);
        failed = i;
    }
    check_failure(e, rc, err, "sync=off, put that fills the buffer");
    char fk[16];
    size_t fkl = kname(fk, failed);
    util_expect_missing(e, fk, fkl);
    util_expect_model(e, &m); /* buffered puts still served */
    check_failure(e, arm_engine_flush(e), err, "sync=off, arm_engine_flush");
    fault_clear();
    UTIL_CHECK_RC(e, arm_engine_flush(e), ARM_OK);
    size_t kl = kname(k, 1000), vl = vmake(v, 1000, 2, 50);
    util_put_ok(e, k, kl, v, vl);
    util_model_put(&m, k, kl, v, vl);
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    util_expect_model(e, &m);
    util_expect_missing(e, fk, fkl);
    check_clean(e);
    util_close_ok(e);
    util_model_free(&m);
}

/* ------------------------------------------------------------ batches */
#define BK 10
static size_t bkname(char *b, unsigned i) { return (size_t)sprintf(b, "bk%03u", i); }

/* A batch of BK keys over 4 shards (puts of new and existing keys, deletes)
 * meets a write fault at its nth write; none of it is visible, before or
 * after reopen; then it commits. `big`: values past the write buffer, so
 * the batch leaves the buffer in pieces (a fault on a later piece may poison
 * the engine: part of the batch is in the file, without its end marker). */
static void test_batch_fault(int sync_mode, int err, int big, long nth) {
    const char *dir = fresh("batchf");
    ft_cfg c = base_cfg(sync_mode);
    c.shards = 4;
    c.wbuf = 4096;
    arm_engine_options o = cfg_opts(&c);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[16];
    static uint8_t v[8192];
    for (unsigned i = 0; i < BK; i += 2) { /* half the keys exist before */
        size_t kl = bkname(k, i), vl = vmake(v, i, 1, 40);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    UTIL_CHECK_RC(e, arm_engine_flush(e), ARM_OK);
    arm_batch *b = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    util_model after;
    util_model_init(&after);
    util_model_copy(&after, &m);
    for (unsigned i = 0; i < BK; i++) {
        size_t kl = bkname(k, i);
        if (i % 4 == 2) {
            UTIL_CHECK_RC(e, arm_engine_batch_delete(b, arm_slice_make(k, kl)), ARM_OK);
            util_model_del(&after, k, kl);
        } else {
            size_t vl = vmake(v, i, 2, big ? 1500 : 60);
            UTIL_CHECK_RC(e, arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl)),
                          ARM_OK);
            util_model_put(&after, k, kl, v, vl);
        }
    }
    fault_arm(ARM_IO_OP_WRITE, err, nth, 1);
    int rc = arm_engine_batch_commit(e, b);
    long fault_passed_at_fail = fault_passed();
    char what[96];
    snprintf(what, sizeof what, "sync=%s %s batch, write fault at write %ld",
             mode_name(sync_mode), big ? "big" : "small", nth);
    if (rc == ARM_OK) {
        /* the fault is past the commit's writes (sync=off: it shows at the flush) */
        ARM_CHECK(fault_fired() == 0);
        util_expect_model(e, &after);
        util_model_copy(&m, &after); /* acknowledged */
        int frc = arm_engine_flush(e);
        if (sync_mode == ARM_SYNC_OFF)
            check_failure(e, frc, err, what);
        else
            UTIL_CHECK_RC(e, frc, ARM_OK);
        fault_clear();
        UTIL_CHECK_RC(e, arm_engine_flush(e), ARM_OK); /* once the fault clears, it gets out */
    } else {
        check_failure(e, rc, err, what);
        util_expect_model(e, &m); /* none of the batch is visible */
        fault_clear();
        int prc = arm_engine_batch_commit(e, b);
        if (prc == ARM_PANIC) {
            /* allowed only when part of the batch had reached the file */
            ARM_CHECK(big && fault_passed_at_fail > 0);
            check_panic(e, prc, what);
            (void)arm_engine_close(e);
            e = util_open_ok(dir, &o);
            util_expect_model(e, &m); /* the partial batch is cut at recovery */
            check_clean(e);
            prc = arm_engine_batch_commit(e, b);
        }
        UTIL_CHECK_RC(e, prc, ARM_OK);
        util_model_copy(&m, &after);
        util_expect_model(e, &m);
    }
    arm_engine_batch_free(b);
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    util_expect_model(e, &m);
    check_clean(e);
    util_close_ok(e);
    util_model_free(&m);
    util_model_free(&after);
}

static void test_batches(int sync_mode) {
    test_batch_fault(sync_mode, ENOSPC, 0, 1);
    test_batch_fault(sync_mode, EIO, 0, 1);
    for (long nth = 1; nth <= 4; nth++) test_batch_fault(sync_mode, nth % 2 ? EIO : ENOSPC, 1, nth);
}

/* A failed sync of a batch (sync=full): ARM_IOERR, then ARM_PANIC; after
 * reopen the batch is there whole or not at all. */
static void test_batch_sync_fault(void) {
    const char *dir = fresh("batchs");
    ft_cfg c = base_cfg(ARM_SYNC_FULL);
    c.shards = 4;
    arm_engine_options o = cfg_opts(&c);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m, after;
    util_model_init(&m);
    util_model_init(&after);
    char k[16];
    uint8_t v[64];
    for (unsigned i = 0; i < BK; i += 2) {
        size_t kl = bkname(k, i), vl = vmake(v, i, 1, 40);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    util_model_copy(&after, &m);
    arm_batch *b = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
    for (unsigned i = 0; i < BK; i++) {
        size_t kl = bkname(k, i), vl = vmake(v, i, 2, 50);
        if (i % 3 == 0) {
            UTIL_CHECK_RC(e, arm_engine_batch_delete(b, arm_slice_make(k, kl)), ARM_OK);
            util_model_del(&after, k, kl);
        } else {
            UTIL_CHECK_RC(e, arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl)),
                          ARM_OK);
            util_model_put(&after, k, kl, v, vl);
        }
    }
    fault_arm(ARM_IO_OP_SYNC, EIO, 1, 0); /* one failed fdatasync */
    int rc = arm_engine_batch_commit(e, b);
    ARM_CHECK(ARM_RC_PRIMARY(rc) == ARM_IOERR);
    ARM_CHECK(arm_engine_errno(e) == EIO);
    check_panic(e, arm_engine_batch_commit(e, b), "batch after a failed sync");
    check_panic(e, arm_engine_put(e, UTIL_S("zz"), UTIL_S("1")), "put after a failed sync");
    check_panic(e, arm_engine_flush(e), "flush after a failed sync");
    fault_clear();
    (void)arm_engine_close(e);
    e = util_open_ok(dir, &o);
    int as_before = 1, as_after = 1;
    for (unsigned i = 0; i < BK; i++) {
        size_t kl = bkname(k, i);
        arm_buf got = {0};
        int grc = arm_engine_get(e, arm_slice_make(k, kl), &got);
        const util_kv *x = util_model_get(&m, k, kl), *y = util_model_get(&after, k, kl);
        as_before &= x ? grc == ARM_OK && got.len == x->vlen && memcmp(got.ptr, x->val, x->vlen) == 0
                       : grc == ARM_NOTFOUND;
        as_after &= y ? grc == ARM_OK && got.len == y->vlen && memcmp(got.ptr, y->val, y->vlen) == 0
                      : grc == ARM_NOTFOUND;
        arm_buf_free(&got);
    }
    ARM_CHECK(as_before || as_after);
    util_expect_missing(e, "zz", 2);
    check_clean(e);
    util_close_ok(e);
    arm_engine_batch_free(b);
    util_model_free(&m);
    util_model_free(&after);
}

/* ------------------------------------------------------------ reads */
static void test_read_faults(int sync_mode) {
    const char *dir = fresh("readf");
    ft_cfg c = base_cfg(sync_mode);
    c.mmap_reads = 0;
    c.shards = 2;
    c.max_file = 64u << 10;
    arm_engine_options o = cfg_opts(&c);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[16];
    uint8_t v[2048];
    for (unsigned i = 0; i < 120; i++) { /* a few files per shard */
        size_t kl = kname(k, i), vl = vmake(v, i, 1, 200 + i * 7 % 1500);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    util_close_ok(e);
    e = util_open_ok(dir, &o); /* everything in the files now */
    util_expect_model(e, &m);
    arm_buf b = {0};
    for (unsigned i = 0; i < 120; i += 13) {
        size_t kl = kname(k, i);
        fault_arm(ARM_IO_OP_READ, EIO, 1, 0); /* the next read fails */
        int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
        check_failure(e, rc, EIO, "get under a read fault");
        ARM_CHECK(fault_fired() == 1);
        expect_as_model(e, &m, i); /* the next get works */
    }
    /* several failing reads, then the fault clears */
    fault_arm(ARM_IO_OP_READ, EIO, 1, 1);
    for (unsigned i = 0; i < 5; i++) {
        size_t kl = kname(k, i);
        check_failure(e, arm_engine_get(e, arm_slice_make(k, kl), &b), EIO, "get, sticky fault");
    }
    /* a cursor's value read fails, then works */
    arm_cursor *cur = NULL;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &cur), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_cursor_first(cur), ARM_OK);
    arm_slice cv;
    check_failure(e, arm_engine_cursor_value(cur, &cv), EIO, "cursor value under a read fault");
    fault_clear();
    UTIL_CHECK_RC(e, arm_engine_cursor_value(cur, &cv), ARM_OK);
    arm_slice ck = arm_engine_cursor_key(cur);
    const util_kv *kv = util_model_get(&m, ck.ptr, ck.len);
    ARM_CHECK(kv && cv.len == kv->vlen && memcmp(cv.ptr, kv->val, cv.len) == 0);
    arm_engine_cursor_close(cur);
    arm_buf_free(&b);
    /* reads never poison: writes go on */
    size_t kl = kname(k, 500), vl = vmake(v, 500, 1, 30);
    util_put_ok(e, k, kl, v, vl);
    util_model_put(&m, k, kl, v, vl);
    util_expect_model(e, &m);
    util_close_ok(e);
    /* a read fault during recovery (the tail block is read back): open fails
     * cleanly; then it opens */
    fault_arm(ARM_IO_OP_READ, EIO, 1, 1);
    arm_engine *e2 = NULL;
    int rc = arm_engine_open(dir, &o, &e2);
    long fired = fault_fired();
    fault_clear();
    if (fired) {
        if (ARM_RC_PRIMARY(rc) != ARM_IOERR || e2 != NULL)
            fprintf(stderr, "open under a read fault: %s \"%s\"\n", arm_rc_str(rc),
                    arm_engine_errmsg(NULL));
        ARM_CHECK(ARM_RC_PRIMARY(rc) == ARM_IOERR && e2 == NULL);
        ARM_CHECK(arm_engine_errmsg(NULL)[0] != '\0');
    } else {
        UTIL_CHECK_RC(e2, rc, ARM_OK);
        util_close_ok(e2);
    }
    e = util_open_ok(dir, &o);
    util_expect_model(e, &m);
    check_clean(e);
    util_close_ok(e);
    util_model_free(&m);
}

/* A sync fault while recovery syncs the cut tail: open fails cleanly with
 * ARM_IOERR; a later open succeeds with everything. */
static void test_open_sync_fault(void) {
    const char *dir = fresh("opensync");
    ft_cfg c = base_cfg(ARM_SYNC_FULL);
    arm_engine_options o = cfg_opts(&c);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[16];
    uint8_t v[100];
    for (unsigned i = 0; i < 30; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 1, 90);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    util_close_ok(e);
    for (int err = 0; err < 2; err++) {
        fault_arm(ARM_IO_OP_SYNC, err ? ENOSPC : EIO, 1, 1);
        arm_engine *e2 = NULL;
        int rc = arm_engine_open(dir, &o, &e2);
        ARM_CHECK(fault_fired() >= 1);
        fault_clear();
        ARM_CHECK(e2 == NULL && rc != ARM_OK);
        ARM_CHECK(ARM_RC_PRIMARY(rc) == want_rc(err ? ENOSPC : EIO) ||
                  ARM_RC_PRIMARY(rc) == ARM_IOERR);
        ARM_CHECK(strstr(arm_engine_errmsg(NULL), ".log") != NULL);
    }
    e = util_open_ok(dir, &o);
    util_expect_model(e, &m);
    check_clean(e);
    util_close_ok(e);
    util_model_free(&m);
}

/* The smallest case of a failed write in sync=full: one shard, one put
 * whose write (the flush before its fdatasync) fails. It must not be
 * visible, nor become durable once the fault clears. */
static void test_full_failed_put(int err) {
    const char *dir = fresh("fullput");
    ft_cfg c = base_cfg(ARM_SYNC_FULL);
    c.shards = 1;
    c.io_backend = ARM_IO_POSIX;
    arm_engine_options o = cfg_opts(&c);
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "a", 1, "1", 1);
    util_put_ok(e, "b", 1, "old", 3);
    fault_arm(ARM_IO_OP_WRITE, err, 1, 1);
    check_failure(e, arm_engine_put(e, UTIL_S("c"), UTIL_S("new")), err, "sync=full put of c");
    check_failure(e, arm_engine_put(e, UTIL_S("b"), UTIL_S("new")), err, "sync=full put of b");
    check_failure(e, arm_engine_delete(e, UTIL_S("a")), err, "sync=full delete of a");
    util_expect_missing(e, "c", 1);
    util_expect(e, "b", 1, "old", 3);
    util_expect(e, "a", 1, "1", 1);
    fault_clear();
    util_put_ok(e, "d", 1, "4", 1);
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    util_expect_missing(e, "c", 1);
    util_expect(e, "b", 1, "old", 3);
    util_expect(e, "a", 1, "1", 1);
    util_expect(e, "d", 1, "4", 1);
    ARM_CHECK(arm_engine_count(e) == 3);
    util_close_ok(e);
}

/* sync=off, one shard, a buffer bigger than the file: the put that
 * rotates the file meets the write fault in the seal's flush. Nothing of it
 * reached the file, so: a clear error (errno and reason in the message),
 * nothing visible, and writes work once the fault clears. */
static void test_off_seal_write_fault(int err) {
    const char *dir = fresh("offseal");
    ft_cfg c = base_cfg(ARM_SYNC_OFF);
    c.shards = 1;
    c.io_backend = ARM_IO_POSIX;
    c.max_file = 64u << 10;
    c.wbuf = 128u << 10; /* never fills before the file does */
    arm_engine_options o = cfg_opts(&c);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[16];
    uint8_t v[1000];
    unsigned i = 0;
    for (; i < 60; i++) { /* 60 entries of 1026 bytes: the file is nearly full */
        size_t kl = kname(k, i), vl = vmake(v, i, 1, sizeof v);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    fault_arm(ARM_IO_OP_WRITE, err, 1, 1);
    int rc = ARM_OK;
    for (; i < 70 && rc == ARM_OK; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 1, sizeof v);
        rc = arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl));
        if (rc == ARM_OK) util_model_put(&m, k, kl, v, vl);
    }
    check_failure(e, rc, err, "sync=off put that seals the file");
    util_expect_model(e, &m);
    fault_clear();
    size_t kl = kname(k, 100), vl = vmake(v, 100, 1, 10);
    UTIL_CHECK_RC(e, arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl)), ARM_OK);
    util_model_put(&m, k, kl, v, vl);
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    util_expect_model(e, &m);
    check_clean(e);
    util_close_ok(e);
    util_model_free(&m);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("sync=full: a put whose write fails, ENOSPC", test_full_failed_put(ENOSPC));
    UTIL_CASE("sync=full: a put whose write fails, EIO", test_full_failed_put(EIO));
    UTIL_CASE("sync=off: write fault in the seal at rotation, ENOSPC",
              test_off_seal_write_fault(ENOSPC));
    UTIL_CASE("sync=off: write fault in the seal at rotation, EIO", test_off_seal_write_fault(EIO));
    static const int modes[] = {ARM_SYNC_FULL, ARM_SYNC_NORMAL, ARM_SYNC_OFF};
    for (int i = 0; i < 3; i++) {
        int sm = modes[i];
        char name[96];
        snprintf(name, sizeof name, "write ENOSPC, sync=%s", mode_name(sm));
        UTIL_CASE(name, test_write_faults(sm, ENOSPC));
        snprintf(name, sizeof name, "write EIO, sync=%s", mode_name(sm));
        UTIL_CASE(name, test_write_faults(sm, EIO));
        snprintf(name, sizeof name, "sync EIO, sync=%s", mode_name(sm));
        UTIL_CASE(name, test_sync_faults(sm, EIO));
        snprintf(name, sizeof name, "sync ENOSPC, sync=%s", mode_name(sm));
        UTIL_CASE(name, test_sync_faults(sm, ENOSPC));
        snprintf(name, sizeof name, "batch write faults, sync=%s", mode_name(sm));
        UTIL_CASE(name, test_batches(sm));
        snprintf(name, sizeof name, "rotation: write ENOSPC sweep, sync=%s", mode_name(sm));
        UTIL_CASE(name, test_rotation(sm, ARM_IO_OP_WRITE, ENOSPC));
        snprintf(name, sizeof name, "rotation: write EIO sweep, sync=%s", mode_name(sm));
        UTIL_CASE(name, test_rotation(sm, ARM_IO_OP_WRITE, EIO));
        snprintf(name, sizeof name, "rotation: sync EIO sweep, sync=%s", mode_name(sm));
        UTIL_CASE(name, test_rotation(sm, ARM_IO_OP_SYNC, EIO));
        snprintf(name, sizeof name, "read EIO (mmap_reads=0), sync=%s", mode_name(sm));
        UTIL_CASE(name, test_read_faults(sm));
    }
    UTIL_CASE("sync=off: write fault when the buffer fills, ENOSPC", test_off_buffer_fill(ENOSPC));
    UTIL_CASE("sync=off: write fault when the buffer fills, EIO", test_off_buffer_fill(EIO));
    UTIL_CASE("batch: failed fdatasync, whole or nothing after reopen", test_batch_sync_fault());
    UTIL_CASE("open: failed fdatasync in recovery", test_open_sync_fault());
    return harness_done();
}
