/* SPDX-License-Identifier: MIT */
/*
 * bench_repl.c: replication over loopback, leader and followers in this
 * process (arm_repl_serve / arm_repl_follow on engines in a temp dir).
 *
 *   catchup     a follower catches up with N entries already on the leader
 *               (8-byte random keys, 100-byte values), three ways: from the
 *               origin over a log of 1,000-entry transactions, from the
 *               origin over a log of N single puts, and by a snapshot (a
 *               follower with a key of its own). entries/s = N / the time
 *               from arm_repl_follow to the follower holding all N keys.
 *   lag         one follower while a writer commits single random puts at
 *               --rate per second (in 1 ms bursts) for --seconds. Each value
 *               carries its commit time (CLOCK_MONOTONIC, taken just before
 *               the put); an observer thread reads the follower's own log
 *               (a log reader and a commit watch on the follower engine) and
 *               takes now - commit time for every write when it becomes
 *               visible there: p50 / p99 / max, and per 100 ms of commit
 *               time as CSV (--csv; bench/plot_repl.sh draws it).
 *   throughput  the leader's random-put throughput (--writers threads) alone,
 *               then on a fresh leader with three followers streaming in the
 *               same process (same 2 cores: they apply everything too), and
 *               the ratio.
 *
 * Every result is checked: each follower ends equal to its leader key by key
 * (untimed), and the observer must see every write, or the run fails.
 * Output: a report, "@ <metric> <value>" lines (bench/run.sh takes medians)
 * and PASS/MISS lines for the targets of the issue. Usage: --help.
 */
#include "../engine/arm_engine.h"
#include "../repl/arm_repl.h"
#include "bench_util.h"

#include <dirent.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#define BR_VALUE_BYTES 100
#define BR_TXN_ENTRIES 1000u
#define BR_BUCKET_MS   100

/* Targets (issue 10). */
#define BR_TARGET_CATCHUP_EPS 2000000.0
#define BR_TARGET_LAG_P99_MS  10.0
#define BR_TARGET_LAG_MAX_MS  100.0
#define BR_TARGET_WRITE_RATIO 0.8

static struct {
    uint64_t n;
    uint64_t rate;
    double seconds;
    int writers, shards, sync, keep;
    const char *dir, *csv, *phases;
    uint64_t seed;
} br = {1000000, 100000, 10.0, 1, 4, ARM_SYNC_NORMAL, 0, NULL, NULL, "catchup,lag,throughput",
        0x5eed};

static char br_parent[BENCH_PATH_MAX];
static int br_n_dirs;

/* ------------------------------------------------------------- engines */
static arm_engine *br_open(int sync) {
    char dir[BENCH_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/db%02d", br_parent, br_n_dirs++);
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = (uint32_t)br.shards;
    o.sync_mode = sync;
    arm_engine *e = NULL;
    int rc = arm_engine_open(dir, &o, &e);
    if (rc != ARM_OK) bench_die("open %s: %s: %s", dir, arm_rc_str(rc), arm_engine_errmsg(NULL));
    return e;
}

static void br_close(arm_engine *e) {
    char dir[BENCH_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s", arm_engine_dir(e));
    int rc = arm_engine_close(e);
    if (rc != ARM_OK) bench_die("close: %s", arm_rc_str(rc));
    if (!br.keep) bench_rm_rf(dir);
}

static void br_key(uint8_t k[8], uint64_t base, uint64_t i) {
    bench_put_be64(k, bench_mix64(base + i));
}

/* value: commit time (ns, LE) | index (LE) | filler from the index */
static void br_value(uint8_t *v, uint64_t i, uint64_t ts_ns) {
    memcpy(v, &ts_ns, 8);
    memcpy(v + 8, &i, 8);
    uint64_t x = i * 0x9e3779b97f4a7c15ull;
    for (int j = 16; j < BR_VALUE_BYTES; j += 8) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ull;
        memcpy(v + j, &x, (size_t)ARM_MIN(8, BR_VALUE_BYTES - j));
    }
}

static uint64_t br_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* N keys (base) in transactions of `per` puts (1: single puts). */
static void br_load(arm_engine *e, uint64_t base, uint64_t n, uint32_t per) {
    arm_batch *b = NULL;
    if (arm_engine_batch_new(e, &b) != ARM_OK) bench_die("batch_new");
    uint8_t k[8], v[BR_VALUE_BYTES];
    for (uint64_t i = 0; i < n; i++) {
        br_key(k, base, i);
        br_value(v, i, 0);
        int rc;
        if (per == 1) {
            rc = arm_engine_put(e, arm_slice_make(k, 8), arm_slice_make(v, sizeof v));
        } else {
            rc = arm_engine_batch_put(b, arm_slice_make(k, 8), arm_slice_make(v, sizeof v));
            if (rc == ARM_OK && (i + 1) % per == 0) {
                rc = arm_engine_batch_commit(e, b);
                arm_engine_batch_clear(b);
            }
        }
        if (rc != ARM_OK) bench_die("load: %s: %s", arm_rc_str(rc), arm_engine_errmsg(e));
    }
    if (arm_engine_batch_commit(e, b) != ARM_OK) bench_die("load: %s", arm_engine_errmsg(e));
    arm_engine_batch_free(b);
}

/* Both engines hold the same keys and values, or the run fails. */
static void br_verify(arm_engine *l, arm_engine *f, const char *what) {
    arm_cursor *a = NULL, *b = NULL;
    if (arm_engine_cursor_open(l, NULL, &a) != ARM_OK || arm_engine_cursor_open(f, NULL, &b))
        bench_die("cursor_open");
    int ra = arm_engine_cursor_first(a), rb = arm_engine_cursor_first(b);
    uint64_t n = 0;
    for (; ra == ARM_OK && rb == ARM_OK; n++) {
        arm_slice ka = arm_engine_cursor_key(a), kb = arm_engine_cursor_key(b), va, vb;
        if (arm_engine_cursor_value(a, &va) != ARM_OK || arm_engine_cursor_value(b, &vb) != ARM_OK)
            bench_die("%s: cursor_value", what);
        if (ka.len != kb.len || memcmp(ka.ptr, kb.ptr, ka.len) != 0 || va.len != vb.len ||
            memcmp(va.ptr, vb.ptr, va.len) != 0)
            bench_die("%s: the follower differs from the leader at key %llu", what,
                      (unsigned long long)n);
        ra = arm_engine_cursor_next(a);
        rb = arm_engine_cursor_next(b);
    }
    if (ra != ARM_NOTFOUND || rb != ARM_NOTFOUND)
        bench_die("%s: the follower differs from the leader after %llu keys", what,
                  (unsigned long long)n);
    arm_engine_cursor_close(a);
    arm_engine_cursor_close(b);
}

static arm_repl_leader *br_serve(arm_engine *e) {
    arm_repl_leader *l = NULL;
    arm_repl_err err = {0, ""};
    if (arm_repl_serve(e, "127.0.0.1:0", NULL, &l, &err) != ARM_OK) bench_die("serve: %s", err.msg);
    return l;
}

static arm_repl_follower *br_follow(arm_engine *e, const char *addr) {
    arm_repl_follower *f = NULL;
    arm_repl_err err = {0, ""};
    if (arm_repl_follow(e, addr, NULL, &f, &err) != ARM_OK) bench_die("follow: %s", err.msg);
    return f;
}

/* CPU seconds used so far by this process's live threads named `name`
 * (the replication threads name themselves: armdb-repl-ship, -foll). */
static double br_thread_cpu(const char *name) {
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return 0;
    double s = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", de->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *open = strchr(buf, '('), *close = strrchr(buf, ')');
        if (open == NULL || close == NULL || close - open - 1 != (long)strlen(name) ||
            strncmp(open + 1, name, strlen(name)) != 0)
            continue;
        unsigned long long ut = 0, st = 0;
        /* after ")": state is field 3; utime and stime are fields 14 and 15 */
        if (sscanf(close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) ==
            2)
            s += (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    closedir(d);
    return s;
}

/* Wait (1 ms polls) until the follower holds n keys and the condition on its
 * stats holds; seconds from t0. */
static double br_wait_keys(arm_engine *f, arm_repl_follower *fw, uint64_t n, double t0,
                           double timeout_s, int want_snapshot) {
    for (;;) {
        arm_repl_follower_stats st;
        arm_repl_follower_stats_get(fw, &st);
        if (arm_engine_count(f) == n && (!want_snapshot || st.snapshots_done > 0))
            return bench_now() - t0;
        if (bench_now() - t0 > timeout_s)
            bench_die("the follower did not catch up in %.0f s: %llu of %llu keys (last error: %s)",
                      timeout_s, (unsigned long long)arm_engine_count(f), (unsigned long long)n,
                      st.last_error.msg);
        struct timespec ts = {0, 500000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------- catch-up */
/* One catch-up of a fresh follower (own_key: it holds a key, so it gets a
 * snapshot); entries/s. */
static double br_catchup_one(arm_engine *l, arm_repl_leader *ld, const char *what, int own_key) {
    arm_engine *f = br_open(br.sync);
    if (own_key) {
        uint8_t k[8] = {0, 0, 0, 0, 0, 0, 0, 1};
        if (arm_engine_put(f, arm_slice_make(k, 8), arm_slice_make("own", 3)) != ARM_OK)
            bench_die("put");
    }
    double cpu0 = bench_cpu(), t0 = bench_now();
    arm_repl_follower *fw = br_follow(f, arm_repl_leader_addr(ld));
    double s = br_wait_keys(f, fw, br.n, t0, 600, own_key);
    double cpu = bench_cpu() - cpu0;
    double ship = br_thread_cpu("armdb-repl-ship"), foll = br_thread_cpu("armdb-repl-foll");
    arm_repl_follower_stats st;
    arm_repl_follower_stats_get(fw, &st);
    arm_repl_follower_stop(fw);
    br_verify(l, f, what);
    double eps = (double)br.n / s;
    printf("  %-34s %7.3f s %10.0f entries/s  (%.2f cores: leader sessions %.2f, follower "
           "%.2f; %llu txns in %llu applies)\n",
           what, s, eps, cpu / s, ship / s, foll / s, (unsigned long long)st.txns,
           (unsigned long long)st.applies);
    br_close(f);
    return eps;
}

static void br_phase_catchup(void) {
    printf("catch-up of %llu entries (8-byte keys, %d-byte values, %d shards, leader sync=%s)\n",
           (unsigned long long)br.n, BR_VALUE_BYTES, br.shards,
           br.sync == ARM_SYNC_OFF    ? "off"
           : br.sync == ARM_SYNC_FULL ? "full"
                                      : "normal");
    double t0 = bench_now();
    arm_engine *lb = br_open(br.sync);
    br_load(lb, br.seed, br.n, BR_TXN_ENTRIES);
    arm_engine *ls = br_open(br.sync);
    br_load(ls, br.seed, br.n, 1);
    printf("  (loaded both leaders in %.1f s, untimed)\n", bench_now() - t0);
    arm_repl_leader *db = br_serve(lb), *ds = br_serve(ls);
    double e1 = br_catchup_one(lb, db, "origin, 1,000-entry transactions", 0);
    double e2 = br_catchup_one(ls, ds, "origin, single-put transactions", 0);
    double e3 = br_catchup_one(ls, ds, "snapshot", 1);
    arm_repl_leader_stop(db);
    arm_repl_leader_stop(ds);
    br_close(lb);
    br_close(ls);
    printf("@ catchup_batch_eps %.0f\n@ catchup_single_eps %.0f\n@ catchup_snapshot_eps %.0f\n", e1,
           e2, e3);
    double best = ARM_MAX(e1, ARM_MAX(e2, e3)), worst = ARM_MIN(e1, ARM_MIN(e2, e3));
    printf("%s: catch-up >= %.0f entries/s (best %.0f, worst %.0f)\n",
           worst >= BR_TARGET_CATCHUP_EPS ? "PASS" : "MISS", BR_TARGET_CATCHUP_EPS, best, worst);
}

/* ------------------------------------------------------------------- lag */
typedef struct br_obs {
    arm_engine *f;
    uint64_t expect;     /* writes to see */
    uint32_t *lag_us;    /* per write index (UINT32_MAX: not seen) */
    uint64_t *commit_ns; /* per write index */
    _Atomic uint64_t seen;
    _Atomic int stop;
    pthread_t th;
} br_obs;

/* Every write in one applied batch: its lag, now. */
static void br_obs_txn(br_obs *o, const arm_log_txn *t) {
    uint64_t now = br_now_ns();
    for (size_t i = 0; i < t->nops; i++) {
        if (t->ops[i].del || t->ops[i].value.len != BR_VALUE_BYTES) continue;
        uint64_t ts, idx;
        memcpy(&ts, t->ops[i].value.ptr, 8);
        memcpy(&idx, t->ops[i].value.ptr + 8, 8);
        if (idx >= o->expect || o->lag_us[idx] != UINT32_MAX)
            bench_die("observer: write %llu seen twice or unknown", (unsigned long long)idx);
        uint64_t us = now > ts ? (now - ts) / 1000 : 0;
        o->lag_us[idx] = (uint32_t)ARM_MIN(us, (uint64_t)UINT32_MAX - 1);
        o->commit_ns[idx] = ts;
        atomic_fetch_add(&o->seen, 1);
    }
}

static void *br_obs_main(void *arg) {
    br_obs *o = arg;
    arm_log_reader *r = NULL;
    arm_watch *w = NULL;
    if (arm_log_reader_open(o->f, NULL, &r) != ARM_OK || arm_engine_watch_open(o->f, &w) != ARM_OK)
        bench_die("observer: %s", arm_engine_errmsg(o->f));
    while (!atomic_load(&o->stop)) {
        arm_log_txn t;
        int rc;
        while ((rc = arm_log_reader_next(r, &t)) == ARM_OK)
            br_obs_txn(o, &t);
        if (rc != ARM_NOTFOUND) bench_die("observer: %s", arm_engine_errmsg(o->f));
        arm_watch_arm(w); /* then the log once more, so nothing lands unseen */
        rc = arm_log_reader_next(r, &t);
        if (rc == ARM_OK) {
            br_obs_txn(o, &t);
            continue;
        }
        if (rc != ARM_NOTFOUND) bench_die("observer: %s", arm_engine_errmsg(o->f));
        struct pollfd p = {arm_watch_fd(w), POLLIN, 0};
        (void)poll(&p, 1, 50);
    }
    arm_watch_close(w);
    arm_log_reader_close(r);
    return NULL;
}

static int br_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Percentile p (0..1) of a sorted array, in ms. */
static double br_pct(const uint32_t *s, uint64_t n, double p) {
    if (n == 0) return 0;
    uint64_t at = (uint64_t)(p * (double)(n - 1) + 0.5);
    return (double)s[at] / 1000.0;
}

static void br_lag_report(const br_obs *o, uint64_t n, uint64_t t0_ns) {
    uint32_t *all = bench_xmalloc(n * sizeof *all);
    memcpy(all, o->lag_us, n * sizeof *all);
    qsort(all, n, sizeof *all, br_cmp_u32);
    double p50 = br_pct(all, n, 0.5), p99 = br_pct(all, n, 0.99), mx = (double)all[n - 1] / 1000;
    printf("  lag from commit to visible on the follower: p50 %.3f ms, p99 %.3f ms, "
           "max %.3f ms\n",
           p50, p99, mx);
    printf("@ lag_p50_ms %.3f\n@ lag_p99_ms %.3f\n@ lag_max_ms %.3f\n", p50, p99, mx);
    printf("%s: lag p99 <= %.0f ms (%.3f)\n", p99 <= BR_TARGET_LAG_P99_MS ? "PASS" : "MISS",
           BR_TARGET_LAG_P99_MS, p99);
    printf("%s: lag max <= %.0f ms (%.3f)\n", mx <= BR_TARGET_LAG_MAX_MS ? "PASS" : "MISS",
           BR_TARGET_LAG_MAX_MS, mx);
    if (br.csv) { /* per bucket of commit time: writes, p50, p99, max */
        FILE *fp = fopen(br.csv, "w");
        if (fp == NULL) bench_die("open %s: %s", br.csv, strerror(errno));
        fprintf(fp, "t_s,writes,p50_ms,p99_ms,max_ms\n");
        uint64_t nb = (uint64_t)(br.seconds * 1000 / BR_BUCKET_MS) + 2, at = 0;
        uint64_t *cnt = calloc(nb, sizeof *cnt);
        uint32_t *tmp = bench_xmalloc(n * sizeof *tmp);
        if (cnt == NULL) bench_die("out of memory");
        for (uint64_t i = 0; i < n; i++)
            cnt[ARM_MIN((o->commit_ns[i] - t0_ns) / 1000000 / BR_BUCKET_MS, nb - 1)]++;
        uint64_t *start = calloc(nb + 1, sizeof *start);
        if (start == NULL) bench_die("out of memory");
        for (uint64_t b = 0; b < nb; b++)
            start[b + 1] = start[b] + cnt[b];
        uint64_t *fill = calloc(nb, sizeof *fill);
        if (fill == NULL) bench_die("out of memory");
        for (uint64_t i = 0; i < n; i++) {
            uint64_t b = ARM_MIN((o->commit_ns[i] - t0_ns) / 1000000 / BR_BUCKET_MS, nb - 1);
            tmp[start[b] + fill[b]++] = o->lag_us[i];
        }
        for (uint64_t b = 0; b < nb; b++) {
            if (cnt[b] == 0) continue;
            qsort(tmp + start[b], cnt[b], sizeof *tmp, br_cmp_u32);
            fprintf(fp, "%.1f,%llu,%.3f,%.3f,%.3f\n", (double)(b * BR_BUCKET_MS) / 1000,
                    (unsigned long long)cnt[b], br_pct(tmp + start[b], cnt[b], 0.5),
                    br_pct(tmp + start[b], cnt[b], 0.99),
                    (double)tmp[start[b] + cnt[b] - 1] / 1000);
            at++;
        }
        fclose(fp);
        printf("  (lag per %d ms of commit time: %s, %llu rows)\n", BR_BUCKET_MS, br.csv,
               (unsigned long long)at);
        free(cnt);
        free(start);
        free(fill);
        free(tmp);
    }
    free(all);
}

static void br_phase_lag(void) {
    uint64_t n = (uint64_t)((double)br.rate * br.seconds);
    printf("lag: %llu single random puts at %llu/s for %.0f s, one follower (leader sync=%s)\n",
           (unsigned long long)n, (unsigned long long)br.rate, br.seconds,
           br.sync == ARM_SYNC_OFF    ? "off"
           : br.sync == ARM_SYNC_FULL ? "full"
                                      : "normal");
    arm_engine *l = br_open(br.sync), *f = br_open(br.sync);
    arm_repl_leader *ld = br_serve(l);
    arm_repl_follower *fw = br_follow(f, arm_repl_leader_addr(ld));
    for (double t0 = bench_now();;) { /* streaming before the clock starts */
        arm_repl_follower_stats st;
        arm_repl_follower_stats_get(fw, &st);
        if (st.state == ARM_REPL_STREAMING) break;
        if (bench_now() - t0 > 10) bench_die("the follower did not start streaming");
        usleep(1000);
    }
    br_obs o;
    memset(&o, 0, sizeof o);
    o.f = f;
    o.expect = n;
    o.lag_us = bench_xmalloc(n * sizeof *o.lag_us);
    o.commit_ns = bench_xmalloc(n * sizeof *o.commit_ns);
    memset(o.lag_us, 0xff, n * sizeof *o.lag_us);
    if (pthread_create(&o.th, NULL, br_obs_main, &o) != 0) bench_die("pthread_create");
    uint8_t k[8], v[BR_VALUE_BYTES];
    uint64_t t0 = br_now_ns(), behind_max = 0;
    for (uint64_t i = 0; i < n;) {
        /* due: the writes whose time has come (1 ms bursts at most) */
        uint64_t now = br_now_ns();
        uint64_t due = ARM_MIN(n, (now - t0) / 1000 * br.rate / 1000000 + 1);
        if (due <= i) {
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        behind_max = ARM_MAX(behind_max, due - i);
        for (; i < due; i++) {
            br_key(k, br.seed ^ 0x1a9, i);
            br_value(v, i, br_now_ns());
            int rc = arm_engine_put(l, arm_slice_make(k, 8), arm_slice_make(v, sizeof v));
            if (rc != ARM_OK) bench_die("put: %s", arm_engine_errmsg(l));
        }
    }
    double wrote_s = (double)(br_now_ns() - t0) / 1e9;
    for (double w0 = bench_now(); atomic_load(&o.seen) < n;) {
        if (bench_now() - w0 > 30)
            bench_die("the observer saw %llu of %llu writes",
                      (unsigned long long)atomic_load(&o.seen), (unsigned long long)n);
        usleep(1000);
    }
    atomic_store(&o.stop, 1);
    pthread_join(o.th, NULL);
    printf("  wrote at %.0f/s (longest backlog %llu writes)\n", (double)n / wrote_s,
           (unsigned long long)behind_max);
    br_lag_report(&o, n, t0);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    br_verify(l, f, "lag");
    free(o.lag_us);
    free(o.commit_ns);
    br_close(f);
    br_close(l);
}

/* ------------------------------------------------------------ throughput */
typedef struct br_wr {
    arm_engine *e;
    uint64_t base, n;
    pthread_t th;
} br_wr;

static void *br_wr_main(void *arg) {
    br_wr *w = arg;
    uint8_t k[8], v[BR_VALUE_BYTES];
    for (uint64_t i = 0; i < w->n; i++) {
        br_key(k, w->base, i);
        br_value(v, i, 0);
        if (arm_engine_put(w->e, arm_slice_make(k, 8), arm_slice_make(v, sizeof v)) != ARM_OK)
            bench_die("put: %s", arm_engine_errmsg(w->e));
    }
    return NULL;
}

/* Writers put N random keys; ops/s. */
static double br_write_run(arm_engine *l) {
    br_wr w[64];
    int t = ARM_MIN(br.writers, 64);
    double t0 = bench_now();
    for (int i = 0; i < t; i++) {
        w[i].e = l;
        w[i].base = br.seed * 31 + (uint64_t)i * (br.n + 1);
        w[i].n = br.n / (uint64_t)t;
        if (pthread_create(&w[i].th, NULL, br_wr_main, &w[i]) != 0) bench_die("pthread_create");
    }
    for (int i = 0; i < t; i++)
        pthread_join(w[i].th, NULL);
    return (double)(br.n / (uint64_t)t * (uint64_t)t) / (bench_now() - t0);
}

static void br_phase_throughput(void) {
    printf("throughput: %llu random puts by %d writer thread(s), leader sync=%s\n",
           (unsigned long long)br.n, br.writers,
           br.sync == ARM_SYNC_OFF    ? "off"
           : br.sync == ARM_SYNC_FULL ? "full"
                                      : "normal");
    arm_engine *l0 = br_open(br.sync);
    double cpu0 = bench_cpu(), t0 = bench_now();
    double alone = br_write_run(l0);
    double cpu_alone = bench_cpu() - cpu0;
    printf("  no followers:      %12.0f puts/s (%.2f cores; %.2f us of CPU per put)\n", alone,
           cpu_alone / (bench_now() - t0), cpu_alone * 1e6 / (double)br.n);
    br_close(l0);
    arm_engine *l = br_open(br.sync), *f[3];
    arm_repl_leader *ld = br_serve(l);
    arm_repl_follower *fw[3];
    for (int i = 0; i < 3; i++) {
        f[i] = br_open(br.sync);
        fw[i] = br_follow(f[i], arm_repl_leader_addr(ld));
    }
    for (double w0 = bench_now();;) {
        arm_repl_leader_stats st;
        arm_repl_leader_stats_get(ld, &st);
        if (st.followers == 3) break;
        if (bench_now() - w0 > 10) bench_die("the followers did not connect");
        usleep(1000);
    }
    double ship0 = br_thread_cpu("armdb-repl-ship"), foll0 = br_thread_cpu("armdb-repl-foll");
    cpu0 = bench_cpu(), t0 = bench_now();
    double with3 = br_write_run(l);
    double t1 = bench_now(), cpu = bench_cpu() - cpu0;
    double ship = br_thread_cpu("armdb-repl-ship") - ship0;
    double foll = br_thread_cpu("armdb-repl-foll") - foll0;
    printf("  three followers:   %12.0f puts/s (%.2f cores, followers included)\n", with3,
           cpu / (t1 - t0));
    double per = 1e6 / (double)br.n;
    printf("  CPU per put, us:   writers %.2f, leader sessions %.2f (3), followers %.2f (3)\n",
           (cpu - ship - foll) * per, ship * per, foll * per);
    for (int i = 0; i < 3; i++) {
        double s = br_wait_keys(f[i], fw[i], arm_engine_count(l), t1, 120, 0);
        printf("  follower %d caught up %.3f s after the last write\n", i + 1, s);
    }
    for (int i = 0; i < 3; i++) {
        arm_repl_follower_stop(fw[i]);
        br_verify(l, f[i], "throughput");
        br_close(f[i]);
    }
    arm_repl_leader_stop(ld);
    br_close(l);
    double ratio = with3 / alone;
    printf("@ write_ops_alone %.0f\n@ write_ops_3f %.0f\n@ write_ratio_3f %.3f\n", alone, with3,
           ratio);
    printf("%s: leader writes with 3 followers >= %.1fx alone (%.3fx)\n",
           ratio >= BR_TARGET_WRITE_RATIO ? "PASS" : "MISS", BR_TARGET_WRITE_RATIO, ratio);
}

/* ------------------------------------------------------------------ main */
static void br_usage(void) {
    printf("bench_repl [-n N] [--rate R] [--seconds S] [-t WRITERS] [-s SHARDS]\n"
           "           [--sync off|normal|full] [--phases catchup,lag,throughput]\n"
           "           [--csv LAG.csv] [-d DIR] [-k] [--seed N] [--quick]\n"
           "  -n N         entries to catch up with / puts to time (default 1000000)\n"
           "  --rate R     lag phase: puts per second (default 100000)\n"
           "  --seconds S  lag phase: how long (default 10)\n"
           "  --quick      -n 100000 --seconds 2\n");
}

int main(int argc, char **argv) {
    static const struct option lopts[] = {{"rate", required_argument, NULL, 'r'},
                                          {"seconds", required_argument, NULL, 'S'},
                                          {"sync", required_argument, NULL, 'y'},
                                          {"phases", required_argument, NULL, 'p'},
                                          {"csv", required_argument, NULL, 'c'},
                                          {"seed", required_argument, NULL, 'e'},
                                          {"quick", no_argument, NULL, 'q'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "n:t:s:d:kh", lopts, NULL)) != -1) {
        switch (ch) {
        case 'n': br.n = strtoull(optarg, NULL, 10); break;
        case 't': br.writers = atoi(optarg); break;
        case 's': br.shards = atoi(optarg); break;
        case 'd': br.dir = optarg; break;
        case 'k': br.keep = 1; break;
        case 'r': br.rate = strtoull(optarg, NULL, 10); break;
        case 'S': br.seconds = atof(optarg); break;
        case 'p': br.phases = optarg; break;
        case 'c': br.csv = optarg; break;
        case 'e': br.seed = strtoull(optarg, NULL, 10); break;
        case 'q': br.n = 100000, br.seconds = 2; break;
        case 'y':
            br.sync = strcmp(optarg, "off") == 0    ? ARM_SYNC_OFF
                      : strcmp(optarg, "full") == 0 ? ARM_SYNC_FULL
                                                    : ARM_SYNC_NORMAL;
            break;
        case 'h': br_usage(); return 0;
        default: br_usage(); return 2;
        }
    }
    if (br.n < 1000 || br.writers < 1 || br.shards < 1 || br.rate < 1 || br.seconds <= 0)
        bench_die("bad arguments (see --help)");
    int tmp = bench_parent_dir(br.dir, br.keep, br_parent, sizeof br_parent);
    double la[3];
    printf("bench_repl: load average %.2f at start\n", bench_loadavg(la));
    if (strstr(br.phases, "catchup")) br_phase_catchup();
    if (strstr(br.phases, "lag")) br_phase_lag();
    if (strstr(br.phases, "throughput")) br_phase_throughput();
    printf("bench_repl: load average %.2f at end\n", bench_loadavg(la));
    if (tmp && !br.keep) bench_rm_rf(br_parent);
    return 0;
}
