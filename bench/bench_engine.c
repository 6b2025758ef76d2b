/* SPDX-License-Identifier: MIT */
/*
 * bench_engine.c: engine-level benchmark (no SQLite). Loads N keys of 8 bytes
 * (random 64-bit values, big-endian) with 100-byte values, then measures
 * random overwrites, random point gets (1 thread and T threads), a full
 * ordered cursor scan, 1,000 range scans of 1,000 keys, index memory per key,
 * process RSS growth per key, and the time to reopen the populated database
 * (with --hints-phase: reopened without hint files and with them). With
 * --encrypt the database is encrypted (a fixed benchmark key), so the same
 * phases measure what encryption costs.
 *
 * Every result is verified while it is measured (every get found with the
 * value last written, scans return exactly the expected keys in order), and
 * any engine error ends the run with a message and a non-zero exit status:
 * a broken engine must never look fast. Keys are generated before timing;
 * keys are a bijective mix of 0..N-1 so they are distinct by construction.
 *
 * Output: a human-readable report, then machine-readable lines starting
 * with "@ <metric> <value>" (bench/run.sh takes medians over several runs).
 * Usage: bench_engine --help.
 */
#include "../engine/arm_engine.h"
#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BE_KEY_BYTES   8
#define BE_VALUE_BYTES 100
#define BE_RANGE_SCANS 1000
#define BE_RANGE_KEYS  1000
#define BE_THREADS_MAX 256

/* Targets (from the issue). */
#define BE_TARGET_OVERWRITE_OPS 2000000.0 /* random overwrites/s, sync=off */
#define BE_TARGET_GET_OPS       1500000.0 /* random gets/s */
#define BE_TARGET_OPEN_S        0.5       /* open of 1M keys, seconds */
#define BE_TARGET_INDEX_BPK     64.0      /* index bytes per 8-byte key */

/* ---------------------------------------------------------------- helpers */
/* Dies unless rc == ARM_OK; the message carries the engine's errmsg (which is
 * per thread, so this must run on the thread that made the call). */
static void be_check(int rc, const arm_engine *e, const char *what) {
    if (rc != ARM_OK)
        bench_die("%s: %s (rc=%d): %s", what, arm_rc_str(rc), rc, arm_engine_errmsg(e));
}

static uint64_t be_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f == NULL) bench_die("open /proc/self/statm: %s", strerror(errno));
    if (fscanf(f, "%lu %lu", &size, &resident) != 2) bench_die("parse /proc/self/statm");
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) bench_die("sysconf(_SC_PAGESIZE)");
    return (uint64_t)resident * (uint64_t)page;
}

/* With --times, phase boundaries are printed as CLOCK_MONOTONIC seconds, so
 * a profile taken with `perf record -k CLOCK_MONOTONIC` can be cut per phase
 * (`perf report --time START,END`). */
static int be_times;
static double be_cpu0;     /* process CPU seconds at the start of the current phase */
static double be_last_cpu; /* CPU use of the last phase, in cores (1.0 = one core busy) */

static long be_majflt0, be_last_majflt; /* major page faults (reads from disk) */
static long be_minflt0, be_last_minflt; /* minor page faults (mapping pages already cached) */

static double be_cpu(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) bench_die("getrusage: %s", strerror(errno));
    be_last_majflt = ru.ru_majflt - be_majflt0;
    be_last_minflt = ru.ru_minflt - be_minflt0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Marks the start of a phase: returns the wall clock, remembers CPU time. */
static double be_start(void) {
    be_majflt0 = be_minflt0 = 0;
    be_cpu0 = be_cpu();
    be_majflt0 = be_last_majflt;
    be_minflt0 = be_last_minflt;
    return bench_now();
}

/* Ends a phase started at t0 (from be_start): records CPU use (a single
 * threaded phase below 1.0 core is waiting: I/O, locks, page faults). */
static void be_span(const char *name, double t0) {
    double t1 = bench_now();
    be_last_cpu = t1 > t0 ? (be_cpu() - be_cpu0) / (t1 - t0) : 0;
    if (be_times) printf("# span %-16s %.6f,%.6f\n", name, t0, t1);
}

/* ------------------------------------------------------------ the dataset */
typedef struct be_data {
    size_t n;
    uint8_t *keys;      /* n * 8 bytes, big-endian, in load (random) order */
    uint64_t *sorted;   /* the same keys as numbers, ascending (= memcmp order) */
    uint32_t *perm;     /* shuffled 0..n-1: access order for overwrites and gets */
    uint8_t filler[BE_VALUE_BYTES];
} be_data;

/* Value layout: key (8) | version (8, LE) | filler (84). A reader checks the
 * first 16 bytes: the right key's value, at the version last written. */
static void be_make_value(const be_data *d, const uint8_t *key, uint64_t version, uint8_t *out) {
    memcpy(out, key, BE_KEY_BYTES);
    memcpy(out + 8, &version, 8);
    memcpy(out + 16, d->filler + 16, BE_VALUE_BYTES - 16);
}

static int be_value_ok(const uint8_t *v, size_t len, const uint8_t *key, uint64_t version) {
    if (len != BE_VALUE_BYTES) return 0;
    if (memcmp(v, key, BE_KEY_BYTES) != 0) return 0;
    if (version != UINT64_MAX && memcmp(v + 8, &version, 8) != 0) return 0;
    return 1;
}

static void be_data_init(be_data *d, size_t n, uint64_t seed) {
    uint64_t st = seed;
    uint64_t base = bench_splitmix64(&st);
    d->n = n;
    d->keys = bench_xmalloc(n * BE_KEY_BYTES);
    d->sorted = bench_xmalloc(n * sizeof(uint64_t));
    d->perm = bench_xmalloc(n * sizeof(uint32_t));
    bench_keys_make(base, n, d->keys, d->sorted);
    bench_shuffle(d->perm, n, &st);
    for (size_t i = 0; i < BE_VALUE_BYTES; i++) d->filler[i] = (uint8_t)(0x41 + (i * 7) % 26);
}

static void be_data_free(be_data *d) {
    free(d->keys);
    free(d->sorted);
    free(d->perm);
}

/* ------------------------------------------------------- threaded phases */
enum { BE_OP_PUT = 0, BE_OP_GET = 1 };

typedef struct be_job {
    arm_engine *e;
    const be_data *d;
    int op;
    size_t lo, hi;    /* slice of d->perm */
    uint64_t version; /* version written (PUT) or expected (GET) */
} be_job;

static void *be_worker(void *arg) {
    const be_job *j = arg;
    const be_data *d = j->d;
    uint8_t value[BE_VALUE_BYTES];
    arm_buf buf = {NULL, 0, 0};
    if (j->op == BE_OP_GET) be_check(arm_buf_reserve(&buf, 256), j->e, "arm_buf_reserve");
    for (size_t i = j->lo; i < j->hi; i++) {
        const uint8_t *key = d->keys + (size_t)d->perm[i] * BE_KEY_BYTES;
        arm_slice k = arm_slice_make(key, BE_KEY_BYTES);
        if (j->op == BE_OP_PUT) {
            be_make_value(d, key, j->version, value);
            int rc = arm_engine_put(j->e, k, arm_slice_make(value, BE_VALUE_BYTES));
            if (rc != ARM_OK) be_check(rc, j->e, "arm_engine_put (overwrite)");
        } else {
            int rc = arm_engine_get(j->e, k, &buf);
            if (rc == ARM_NOTFOUND) bench_die("arm_engine_get: key #%u not found", d->perm[i]);
            if (rc != ARM_OK) be_check(rc, j->e, "arm_engine_get");
            if (!be_value_ok(buf.ptr, buf.len, key, j->version))
                bench_die("arm_engine_get: wrong value for key #%u (len %zu, want version %llu)",
                       d->perm[i], buf.len, (unsigned long long)j->version);
        }
    }
    arm_buf_free(&buf);
    return NULL;
}

/* Runs op over all n keys in shuffled order, split over `threads` threads.
 * Returns ops per second (wall clock). */
static double be_run_threads(arm_engine *e, const be_data *d, int op, int threads,
                             uint64_t version) {
    pthread_t tid[BE_THREADS_MAX];
    be_job jobs[BE_THREADS_MAX];
    size_t n = d->n;
    double t0 = bench_now();
    for (int t = 0; t < threads; t++) {
        jobs[t].e = e;
        jobs[t].d = d;
        jobs[t].op = op;
        jobs[t].lo = n * (size_t)t / (size_t)threads;
        jobs[t].hi = n * (size_t)(t + 1) / (size_t)threads;
        jobs[t].version = version;
        if (threads == 1) break;
        int prc = pthread_create(&tid[t], NULL, be_worker, &jobs[t]);
        if (prc != 0) bench_die("pthread_create: %s", strerror(prc));
    }
    if (threads == 1) {
        be_worker(&jobs[0]);
    } else {
        for (int t = 0; t < threads; t++) {
            int prc = pthread_join(tid[t], NULL);
            if (prc != 0) bench_die("pthread_join: %s", strerror(prc));
        }
    }
    double dt = bench_now() - t0;
    return (double)n / dt;
}

/* ---------------------------------------------------------------- phases */
static double be_phase_load(arm_engine *e, const be_data *d) {
    uint8_t value[BE_VALUE_BYTES];
    double t0 = bench_now();
    for (size_t i = 0; i < d->n; i++) {
        const uint8_t *key = d->keys + i * BE_KEY_BYTES;
        be_make_value(d, key, 0, value);
        int rc = arm_engine_put(e, arm_slice_make(key, BE_KEY_BYTES),
                                arm_slice_make(value, BE_VALUE_BYTES));
        if (rc != ARM_OK) be_check(rc, e, "arm_engine_put (load)");
    }
    double dt = bench_now() - t0;
    uint64_t count = arm_engine_count(e);
    if (count != d->n)
        bench_die("after load arm_engine_count = %llu, expected %zu", (unsigned long long)count, d->n);
    return (double)d->n / dt;
}

/* Full scan from first to EOF. ordered: keys must come in ascending order
 * (then they must be exactly d->sorted); hash: any order, count must match. */
static double be_phase_scan(arm_engine *e, const be_data *d, int ordered, uint64_t version) {
    arm_cursor *c = NULL;
    uint8_t expect[BE_KEY_BYTES];
    size_t count = 0;
    uint64_t sum = 0;
    double t0 = bench_now();
    be_check(arm_engine_cursor_open(e, NULL, &c), e, "arm_engine_cursor_open");
    int rc = arm_engine_cursor_first(c);
    while (rc == ARM_OK) {
        arm_slice k = arm_engine_cursor_key(c);
        arm_slice v = {NULL, 0};
        if (k.len != BE_KEY_BYTES) bench_die("scan: key #%zu has length %zu", count, k.len);
        if (ordered) {
            if (count >= d->n) bench_die("scan: more than %zu keys", d->n);
            bench_put_be64(expect, d->sorted[count]);
            if (memcmp(k.ptr, expect, BE_KEY_BYTES) != 0)
                bench_die("scan: key #%zu out of order or unexpected", count);
        }
        be_check(arm_engine_cursor_value(c, &v), e, "arm_engine_cursor_value (scan)");
        if (!be_value_ok(v.ptr, v.len, k.ptr, version)) bench_die("scan: wrong value at key #%zu", count);
        sum += v.ptr[BE_VALUE_BYTES - 1];
        count++;
        rc = arm_engine_cursor_next(c);
    }
    if (rc != ARM_NOTFOUND) be_check(rc, e, "arm_engine_cursor_first/next (scan)");
    arm_engine_cursor_close(c);
    double dt = bench_now() - t0;
    if (count != d->n) bench_die("scan: visited %zu keys, expected %zu", count, d->n);
    if (sum == 0) bench_die("scan: values read as zeros");
    return (double)count / dt;
}

/* BE_RANGE_SCANS scans: seek GE to a random existing key, then next up to
 * BE_RANGE_KEYS - 1 times, reading every value; each key is checked against
 * the sorted key list. Returns keys per second; *scans_per_s gets scans/s. */
static double be_phase_range(arm_engine *e, const be_data *d, uint64_t seed, uint64_t version,
                             double *scans_per_s) {
    arm_cursor *c = NULL;
    uint64_t st = seed ^ 0x52414e4745ULL;
    size_t span = d->n > BE_RANGE_KEYS ? d->n - BE_RANGE_KEYS + 1 : 1;
    size_t total = 0;
    uint8_t target[BE_KEY_BYTES], expect[BE_KEY_BYTES];
    size_t *starts = bench_xmalloc(BE_RANGE_SCANS * sizeof(size_t));
    for (size_t s = 0; s < BE_RANGE_SCANS; s++) starts[s] = (size_t)bench_rand_below(&st, span);
    be_check(arm_engine_cursor_open(e, NULL, &c), e, "arm_engine_cursor_open (range)");
    double t0 = bench_now();
    for (size_t s = 0; s < BE_RANGE_SCANS; s++) {
        size_t idx = starts[s];
        size_t want = ARM_MIN((size_t)BE_RANGE_KEYS, d->n - idx);
        bench_put_be64(target, d->sorted[idx]);
        int rc = arm_engine_cursor_seek(c, arm_slice_make(target, BE_KEY_BYTES), ARM_SEEK_GE);
        for (size_t j = 0; j < want; j++) {
            if (rc == ARM_NOTFOUND) bench_die("range scan %zu: EOF after %zu of %zu keys", s, j, want);
            be_check(rc, e, j == 0 ? "arm_engine_cursor_seek (range)" : "arm_engine_cursor_next (range)");
            arm_slice k = arm_engine_cursor_key(c);
            arm_slice v = {NULL, 0};
            bench_put_be64(expect, d->sorted[idx + j]);
            if (k.len != BE_KEY_BYTES || memcmp(k.ptr, expect, BE_KEY_BYTES) != 0)
                bench_die("range scan %zu: key %zu is not the expected one", s, j);
            be_check(arm_engine_cursor_value(c, &v), e, "arm_engine_cursor_value (range)");
            if (!be_value_ok(v.ptr, v.len, k.ptr, version))
                bench_die("range scan %zu: wrong value at key %zu", s, j);
            total++;
            if (j + 1 < want) rc = arm_engine_cursor_next(c);
        }
    }
    double dt = bench_now() - t0;
    arm_engine_cursor_close(c);
    free(starts);
    *scans_per_s = (double)BE_RANGE_SCANS / dt;
    return (double)total / dt;
}

/* Close then reopen, timing both; verifies the key count and a sample of
 * values after the reopen. */
static arm_engine *be_reopen(arm_engine *e, const char *dir, const arm_engine_options *o,
                             const be_data *d, uint64_t version, double *close_s, double *open_s) {
    double t0 = bench_now();
    int rc = arm_engine_close(e);
    if (rc != ARM_OK) be_check(rc, NULL, "arm_engine_close");
    double t1 = bench_now();
    arm_engine *e2 = NULL;
    rc = arm_engine_open(dir, o, &e2);
    double t2 = bench_now();
    be_check(rc, NULL, "arm_engine_open (reopen)");
    *close_s = t1 - t0;
    *open_s = t2 - t1;
    uint64_t count = arm_engine_count(e2);
    if (count != d->n)
        bench_die("after reopen arm_engine_count = %llu, expected %zu", (unsigned long long)count, d->n);
    arm_buf buf = {NULL, 0, 0};
    size_t step = d->n / 1000 + 1;
    for (size_t i = 0; i < d->n; i += step) {
        const uint8_t *key = d->keys + i * BE_KEY_BYTES;
        rc = arm_engine_get(e2, arm_slice_make(key, BE_KEY_BYTES), &buf);
        if (rc == ARM_NOTFOUND) bench_die("after reopen key #%zu not found", i);
        be_check(rc, e2, "arm_engine_get (after reopen)");
        if (!be_value_ok(buf.ptr, buf.len, key, version)) bench_die("after reopen key #%zu has a wrong value", i);
    }
    arm_buf_free(&buf);
    return e2;
}

/* ------------------------------------------------------------------ main */
typedef struct be_opts {
    size_t n;
    int threads;
    const char *dir;
    int keep;
    uint32_t shards;
    int sync_mode;
    int index_kind;
    int io_backend;
    uint64_t seed;
    int strict;
    uint64_t max_file_size; /* 0 = engine default */
    int hints_phase;        /* reopen without and with hint files after the load */
    int load_only;          /* stop after the load and reopen phases */
    int cipher;             /* --encrypt: enum arm_cipher + 1, or 0 = not encrypted */
} be_opts;

static void be_usage(FILE *f) {
    fprintf(f,
            "usage: bench_engine [options]\n"
            "  -n N                keys (default 1000000)\n"
            "  --quick             100000 keys (smoke test)\n"
            "  -t N                threads for gets/overwrites (default: online CPUs)\n"
            "  -d DIR              database directory parent (default: mkdtemp in $TMPDIR or /tmp)\n"
            "  -k                  keep the database directory\n"
            "  -s N                shards (default 0 = engine default)\n"
            "  --sync off|normal|full   (default off)\n"
            "  --index ordered|hash     (default ordered)\n"
            "  --io auto|posix|uring    (default auto)\n"
            "  --seed N            PRNG seed (default 42)\n"
            "  --max-file-size N   data file size in bytes, suffix K/M/G allowed (default: engine's)\n"
            "  --hints-phase       after the load, time reopens without and with hint files\n"
            "  --load-only         stop after the load and reopen phases (large -n)\n"
            "  --encrypt auto|aes|xchacha   encrypt the database (fixed benchmark key)\n"
            "  --strict            exit 2 when a target is missed\n"
            "  --times             print phase spans (CLOCK_MONOTONIC) for perf record -k CLOCK_MONOTONIC\n");
}

static void be_parse(int argc, char **argv, be_opts *o) {
    static const struct option lopts[] = {
        {"quick", no_argument, NULL, 'Q'},     {"sync", required_argument, NULL, 'S'},
        {"index", required_argument, NULL, 'I'}, {"io", required_argument, NULL, 'O'},
        {"seed", required_argument, NULL, 'R'},  {"strict", no_argument, NULL, 'X'},
        {"times", no_argument, NULL, 'T'},       {"help", no_argument, NULL, 'h'},
        {"max-file-size", required_argument, NULL, 'F'}, {"hints-phase", no_argument, NULL, 'H'},
        {"load-only", no_argument, NULL, 'L'},   {"encrypt", required_argument, NULL, 'E'},
        {NULL, 0, NULL, 0},
    };
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    memset(o, 0, sizeof(*o));
    o->n = 1000000;
    o->threads = ncpu > 0 ? (int)ARM_MIN(ncpu, (long)BE_THREADS_MAX) : 1;
    o->sync_mode = ARM_SYNC_OFF;
    o->index_kind = ARM_INDEX_ORDERED;
    o->io_backend = ARM_IO_AUTO;
    o->seed = 42;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:t:d:ks:h", lopts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'n':
            o->n = (size_t)strtoull(optarg, &end, 10);
            if (*end != '\0' || o->n < 1 || o->n > UINT32_MAX) bench_die("bad -n '%s'", optarg);
            break;
        case 'Q': o->n = 100000; break;
        case 't': {
            long t = strtol(optarg, &end, 10);
            if (*end != '\0' || t < 1 || t > BE_THREADS_MAX) bench_die("bad -t '%s' (1..%d)", optarg, BE_THREADS_MAX);
            o->threads = (int)t;
            break;
        }
        case 'd': o->dir = optarg; break;
        case 'k': o->keep = 1; break;
        case 's': {
            long s = strtol(optarg, &end, 10);
            if (*end != '\0' || s < 0 || s > 4096) bench_die("bad -s '%s'", optarg);
            o->shards = (uint32_t)s;
            break;
        }
        case 'S':
            if (strcmp(optarg, "off") == 0) o->sync_mode = ARM_SYNC_OFF;
            else if (strcmp(optarg, "normal") == 0) o->sync_mode = ARM_SYNC_NORMAL;
            else if (strcmp(optarg, "full") == 0) o->sync_mode = ARM_SYNC_FULL;
            else bench_die("bad --sync '%s' (off|normal|full)", optarg);
            break;
        case 'I':
            if (strcmp(optarg, "ordered") == 0) o->index_kind = ARM_INDEX_ORDERED;
            else if (strcmp(optarg, "hash") == 0) o->index_kind = ARM_INDEX_HASH;
            else bench_die("bad --index '%s' (ordered|hash)", optarg);
            break;
        case 'O':
            if (strcmp(optarg, "auto") == 0) o->io_backend = ARM_IO_AUTO;
            else if (strcmp(optarg, "posix") == 0) o->io_backend = ARM_IO_POSIX;
            else if (strcmp(optarg, "uring") == 0) o->io_backend = ARM_IO_URING;
            else bench_die("bad --io '%s' (auto|posix|uring)", optarg);
            break;
        case 'R':
            o->seed = strtoull(optarg, &end, 0);
            if (*end != '\0') bench_die("bad --seed '%s'", optarg);
            break;
        case 'X': o->strict = 1; break;
        case 'F': {
            uint64_t v = strtoull(optarg, &end, 10);
            if (end == optarg) bench_die("bad --max-file-size '%s'", optarg);
            if (*end == 'K' || *end == 'k') v <<= 10, end++;
            else if (*end == 'M' || *end == 'm') v <<= 20, end++;
            else if (*end == 'G' || *end == 'g') v <<= 30, end++;
            if (*end != '\0') bench_die("bad --max-file-size '%s'", optarg);
            o->max_file_size = v;
            break;
        }
        case 'H': o->hints_phase = 1; break;
        case 'L': o->load_only = 1; break;
        case 'E':
            if (strcmp(optarg, "auto") == 0) o->cipher = 1 + ARM_CIPHER_AUTO;
            else if (strcmp(optarg, "aes") == 0) o->cipher = 1 + ARM_CIPHER_AES256GCM;
            else if (strcmp(optarg, "xchacha") == 0) o->cipher = 1 + ARM_CIPHER_XCHACHA20;
            else bench_die("bad --encrypt '%s' (auto|aes|xchacha)", optarg);
            break;
        case 'T': be_times = 1; break;
        case 'h': be_usage(stdout); exit(0);
        default: be_usage(stderr); exit(1);
        }
    }
    if (optind != argc) {
        be_usage(stderr);
        exit(1);
    }
}

static const char *be_sync_name(int m) {
    return m == ARM_SYNC_OFF ? "off" : m == ARM_SYNC_NORMAL ? "normal" : m == ARM_SYNC_FULL ? "full" : "?";
}

static void be_line(const char *label, double v, const char *unit, const char *metric) {
    /* ops per CPU-second: robust against other processes stealing the CPU,
     * blind to waiting (I/O, locks). Compare both. */
    double per_cpu = be_last_cpu > 0 ? v / be_last_cpu : 0;
    printf("  %-44s %14.0f %-6s (cpu %.2f cores, %.0f per CPU-s; faults %ld major, %ld minor)\n", label, v, unit,
           be_last_cpu, per_cpu, be_last_majflt, be_last_minflt);
    printf("@ %s %.6g\n@ %s_percpu %.6g\n", metric, v, metric, per_cpu);
}

static int be_target(const char *name, double got, const char *op, double want, const char *unit) {
    int pass = strcmp(op, ">=") == 0 ? got >= want : got <= want;
    printf("  %-34s %14.3f %-9s %s %12.3f   %s\n", name, got, unit, op, want, pass ? "PASS" : "MISS");
    return pass;
}

/* The end of a run: the data freed, the database removed (with the parent
 * directory when this run made it: parent not NULL) unless kept. */
static void be_finish(be_data *d, int keep, const char *dbdir, const char *parent) {
    be_data_free(d);
    if (!keep) {
        bench_rm_rf(dbdir);
        if (parent) bench_rm_rf(parent);
    } else {
        printf("kept %s\n", dbdir);
    }
}

int main(int argc, char **argv) {
    be_opts o;
    double la[3];
    be_parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);

    /* directories */
    char parent[4096], dbdir[4200];
    int made_parent = bench_parent_dir(o.dir, o.keep, parent, sizeof(parent));
    snprintf(dbdir, sizeof(dbdir), "%s/engine-db", parent);
    if (access(dbdir, F_OK) == 0) bench_die("%s already exists; refusing to benchmark over old data", dbdir);

    static const char *const cipher_names[] = {"no", "auto", "aes", "xchacha"};
    printf("bench_engine: n=%zu keys (%d-byte keys, %d-byte values), threads=%d (of %ld CPUs), "
           "sync=%s, index=%s, encrypted=%s, dir=%s\n",
           o.n, BE_KEY_BYTES, BE_VALUE_BYTES, o.threads, sysconf(_SC_NPROCESSORS_ONLN),
           be_sync_name(o.sync_mode), o.index_kind == ARM_INDEX_HASH ? "hash" : "ordered",
           cipher_names[o.cipher], dbdir);
    printf("  load average at start: %.2f (other busy processes make numbers noisy)\n", bench_loadavg(la));

    be_data d;
    be_data_init(&d, o.n, o.seed);

    arm_engine_options eo;
    arm_engine_options_init(&eo);
    eo.shard_count = o.shards;
    eo.sync_mode = o.sync_mode;
    eo.index_kind = o.index_kind;
    eo.io_backend = o.io_backend;
    static const uint8_t bench_key[32] = "armdb-bench-key-not-a-secret-00";
    if (o.cipher) {
        eo.encryption_key = bench_key;
        eo.cipher = o.cipher - 1;
    }
    if (o.max_file_size) {
        eo.max_file_size = o.max_file_size;
        if (eo.max_value_size > o.max_file_size / 2) eo.max_value_size = (uint32_t)(o.max_file_size / 2);
    }

    arm_engine *e = NULL;
    double t0 = bench_now();
    be_check(arm_engine_open(dbdir, &eo, &e), NULL, "arm_engine_open (create)");
    double create_s = bench_now() - t0;
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    printf("  engine: shards=%u io_direct=%d io_uring=%d sync=%s index=%s (create %.3f s)\n", st.shards,
           st.io_direct, st.io_uring, be_sync_name(st.sync_mode), st.index_kind == ARM_INDEX_HASH ? "hash" : "ordered",
           create_s);

    /* 1. load */
    uint64_t rss0 = be_rss_bytes();
    double ts = be_start();
    double load = be_phase_load(e, &d);
    be_span("load", ts);
    uint64_t rss1 = be_rss_bytes();
    arm_engine_stats_get(e, &st);
    double index_bpk = (double)st.index_bytes / (double)(st.keys ? st.keys : 1);
    double rss_bpk = ((double)rss1 - (double)rss0) / (double)o.n;
    be_line("random insert (load, 1 thread)", load, "ops/s", "load_ops");

    /* 2. open time of the freshly loaded database */
    double close_s = 0, open_s = 0;
    ts = be_start();
    e = be_reopen(e, dbdir, &eo, &d, 0, &close_s, &open_s);
    be_span("reopen1", ts);
    printf("  %-44s %14.3f s      (close %.3f s; cpu %.2f cores incl. verification)\n", "open after load (n entries)",
           open_s, close_s, be_last_cpu);
    printf("@ open_s %.6g\n", open_s);

    /* 2b. the same files, opened without hints and with them (close writes
     * the hints still queued, so both opens see every sealed file hinted) */
    if (o.hints_phase) {
        arm_engine_options nohint = eo;
        nohint.hints = 0;
        double open_nh = 0, open_h = 0;
        ts = be_start();
        e = be_reopen(e, dbdir, &nohint, &d, 0, &close_s, &open_nh);
        be_span("reopen_nohints", ts);
        arm_engine_stats_get(e, &st);
        printf("  %-44s %14.3f s      (%llu files read whole; cpu %.2f cores incl. verification)\n",
               "open without hints", open_nh, (unsigned long long)st.open_scanned, be_last_cpu);
        ts = be_start();
        e = be_reopen(e, dbdir, &eo, &d, 0, &close_s, &open_h);
        be_span("reopen_hints", ts);
        arm_engine_stats_get(e, &st);
        printf("  %-44s %14.3f s      (%llu files from hints, %llu read whole; cpu %.2f cores)\n",
               "open with hints", open_h, (unsigned long long)st.open_hinted,
               (unsigned long long)st.open_scanned, be_last_cpu);
        printf("@ open_nohints_s %.6g\n@ open_hints_s %.6g\n", open_nh, open_h);
    }
    if (o.load_only) {
        int crc = arm_engine_close(e);
        if (crc != ARM_OK) be_check(crc, NULL, "arm_engine_close (final)");
        be_finish(&d, o.keep, dbdir, made_parent ? parent : NULL);
        return 0;
    }

    /* 3. overwrites: 1 thread, then T threads */
    uint64_t version = 0;
    ts = be_start();
    double ow1 = be_run_threads(e, &d, BE_OP_PUT, 1, ++version);
    be_span("overwrite_1t", ts);
    be_line("random overwrite, 1 thread", ow1, "ops/s", "overwrite_1t_ops");
    double owT = ow1;
    if (o.threads > 1) {
        ts = be_start();
        owT = be_run_threads(e, &d, BE_OP_PUT, o.threads, ++version);
        be_span("overwrite_Nt", ts);
        char label[64];
        snprintf(label, sizeof(label), "random overwrite, %d threads", o.threads);
        be_line(label, owT, "ops/s", "overwrite_Nt_ops");
    }
    t0 = bench_now();
    be_check(arm_engine_flush(e), e, "arm_engine_flush");
    printf("  %-44s %14.3f s\n", "flush after overwrites", bench_now() - t0);

    /* 4. gets: 1 thread, then T threads */
    /* The first pass reads entries written with O_DIRECT, which are not in
     * the page cache: it measures cold reads. The later passes are warm. */
    ts = be_start();
    double gcold = be_run_threads(e, &d, BE_OP_GET, 1, version);
    be_span("get_cold_1t", ts);
    be_line("random get, 1 thread, first pass (cold)", gcold, "ops/s", "get_cold_1t_ops");
    double gT = gcold;
    if (o.threads > 1) {
        ts = be_start();
        gT = be_run_threads(e, &d, BE_OP_GET, o.threads, version);
        be_span("get_Nt", ts);
        char label[64];
        snprintf(label, sizeof(label), "random get, %d threads", o.threads);
        be_line(label, gT, "ops/s", "get_Nt_ops");
    }
    ts = be_start();
    double g1 = be_run_threads(e, &d, BE_OP_GET, 1, version);
    be_span("get_1t", ts);
    be_line("random get, 1 thread", g1, "ops/s", "get_1t_ops");
    if (o.threads == 1) gT = g1; /* the target is judged on warm reads */

    /* 5. full scan, 6. range scans */
    int ordered = o.index_kind == ARM_INDEX_ORDERED;
    ts = be_start();
    double scan = be_phase_scan(e, &d, ordered, version);
    be_span("scan", ts);
    be_line(ordered ? "full ordered scan (keys+values)" : "full scan, hash order (keys+values)", scan,
            "keys/s", "scan_keys");
    if (ordered) {
        double scans_s = 0;
        ts = be_start();
        double range = be_phase_range(e, &d, o.seed, version, &scans_s);
        be_span("range", ts);
        be_line("range scans 1000 x 1000 (seek GE + next)", range, "keys/s", "range_keys");
        printf("  %-44s %14.0f scans/s\n", "", scans_s);
    } else {
        printf("  %-44s %14s\n", "range scans", "skipped (hash index has no order)");
    }

    /* 7. memory */
    printf("  %-44s %14.1f bytes/key (index_bytes %llu, keys %llu)\n", "index memory", index_bpk,
           (unsigned long long)st.index_bytes, (unsigned long long)st.keys);
    printf("  %-44s %14.1f bytes/key (RSS %.1f -> %.1f MiB)\n", "process RSS growth during load", rss_bpk,
           (double)rss0 / 1048576.0, (double)rss1 / 1048576.0);
    printf("@ index_bpk %.6g\n@ rss_bpk %.6g\n", index_bpk, rss_bpk);

    /* 8. open time after overwrites (1 live + 2 dead entries per key) */
    arm_engine_stats_get(e, &st);
    printf("  %-44s live %.1f MiB, dead %.1f MiB, %llu files\n", "data on disk", (double)st.live_bytes / 1048576.0,
           (double)st.dead_bytes / 1048576.0, (unsigned long long)st.files);
    double open2_s = 0;
    ts = be_start();
    e = be_reopen(e, dbdir, &eo, &d, version, &close_s, &open2_s);
    be_span("reopen2", ts);
    char label[80];
    snprintf(label, sizeof(label), "open after overwrites (%llu entries)", (unsigned long long)(version + 1) * o.n);
    printf("  %-44s %14.3f s      (close %.3f s; cpu %.2f cores incl. verification)\n", label, open2_s, close_s,
           be_last_cpu);
    printf("@ open2_s %.6g\n", open2_s);
    arm_engine_stats_get(e, &st);
    printf("  %-44s %14.1f bytes/key\n", "index memory after reopen", (double)st.index_bytes / (double)o.n);
    int rc = arm_engine_close(e);
    if (rc != ARM_OK) be_check(rc, NULL, "arm_engine_close (final)");

    /* targets */
    int nmiss = 0;
    char name[64];
    printf("\ntargets (n=%zu, threads=%d, sync=%s):\n", o.n, o.threads, be_sync_name(o.sync_mode));
    printf("  %-34s %14s %-9s %s %12s   %s\n", "metric", "measured", "unit", "  ", "target", "result");
    snprintf(name, sizeof(name), "random overwrite (%d thr, sync=%s)", o.threads, be_sync_name(o.sync_mode));
    nmiss += !be_target(name, owT / 1e6, ">=", BE_TARGET_OVERWRITE_OPS / 1e6, "Mops/s");
    snprintf(name, sizeof(name), "random get (%d threads)", o.threads);
    nmiss += !be_target(name, gT / 1e6, ">=", BE_TARGET_GET_OPS / 1e6, "Mops/s");
    nmiss += !be_target("open after load", open_s, "<=", BE_TARGET_OPEN_S * (double)o.n / 1e6, "s");
    nmiss += !be_target("index memory per key", index_bpk, "<=", BE_TARGET_INDEX_BPK, "B/key");
    if (o.n != 1000000) printf("  (open target scaled to n: 0.5 s per 1,000,000 keys)\n");
    if (o.sync_mode != ARM_SYNC_OFF) printf("  (the overwrite target is defined for sync=off)\n");
    printf("  info: 1-thread overwrite %.3f Mops/s, 1-thread get %.3f Mops/s (cold first pass %.3f),\n"
           "        open after overwrites %.3f s\n",
           ow1 / 1e6, g1 / 1e6, gcold / 1e6, open2_s);
    printf("  load average at end: %.2f\n", bench_loadavg(la));
    printf("%s: %d target(s) missed\n", nmiss ? "MISS" : "PASS", nmiss);

    be_finish(&d, o.keep, dbdir, made_parent ? parent : NULL);
    return (o.strict && nmiss) ? 2 : 0;
}
