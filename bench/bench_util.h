/* SPDX-License-Identifier: MIT */
/*
 * bench_util.h: helpers shared by the benchmark programs in bench/ (each program is one .c file
 * that includes this header): failing loudly (bench_die, which also removes the run's temporary
 * directory), wall and CPU clocks, the seeded PRNG and the key bijection every dataset is built
 * from, the run's parent directory, recursive removal, the load average and the block device's
 * I/O counters.
 *
 * Benchmarks only, never linked into the library. Everything is `static inline` so that a
 * program that does not use a helper gets no unused-function warning; messages carry the
 * program's own name (program_invocation_short_name), so output reads as before the helpers
 * were shared.
 */
#ifndef ARM_BENCH_UTIL_H
#define ARM_BENCH_UTIL_H

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PATH_MAX 4096

/* Temporary directory bench_die removes (empty: none, e.g. with -k or -d). */
static char bench_cleanup_dir[BENCH_PATH_MAX];

static inline int bench_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "%s: warning: remove %s: %s\n", program_invocation_short_name, path,
                strerror(errno));
    return 0;
}

/* rm -rf path: a missing path is not an error, anything else only warns (cleanup must not hide
 * the result of a run that already finished). */
static inline void bench_rm_rf(const char *path) {
    if (nftw(path, bench_rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        fprintf(stderr, "%s: warning: could not remove %s: %s\n", program_invocation_short_name,
                path, strerror(errno));
}

/* Ends the run with exit status 1: any failed check or engine error must end a benchmark, so a
 * broken build never looks fast. Safe to call from any thread. */
__attribute__((format(printf, 1, 2), noreturn)) static inline void bench_die(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s: FAILED: ", program_invocation_short_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    if (bench_cleanup_dir[0] != '\0') {
        fprintf(stderr, "%s: removing %s (use -k to keep it)\n", program_invocation_short_name,
                bench_cleanup_dir);
        bench_rm_rf(bench_cleanup_dir);
    }
    exit(1);
}

static inline void *bench_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) bench_die("out of memory allocating %zu bytes", n);
    return p;
}

/* ------------------------------------------------------------------ clocks */
/* CLOCK_MONOTONIC seconds (the clock `perf record -k CLOCK_MONOTONIC` uses). */
static inline double bench_now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) bench_die("clock_gettime: %s", strerror(errno));
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Process CPU seconds (user + system, all threads). */
static inline double bench_cpu(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) bench_die("getrusage: %s", strerror(errno));
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

/* Load averages (1, 5, 15 minutes) into la; returns the 1-minute one, -1 if unknown. Other busy
 * processes make a run noisy: every program prints this at its start and end. */
static inline double bench_loadavg(double la[3]) {
    if (getloadavg(la, 3) != 3) {
        la[0] = la[1] = la[2] = -1;
        return -1;
    }
    return la[0];
}

/* ------------------------------------------------------------ PRNG, keys */
static inline uint64_t bench_splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A bijection on 64-bit values (the splitmix64 finalizer): distinct inputs give distinct keys,
 * so keys made from base + 0..N-1 are unique without a duplicate check. */
static inline uint64_t bench_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) by multiply-shift; the bias is irrelevant for a benchmark. */
static inline uint64_t bench_rand_below(uint64_t *state, uint64_t n) {
    return (uint64_t)(((unsigned __int128)bench_splitmix64(state) * n) >> 64);
}

static inline void bench_put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline int bench_cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The dataset's keys: key i is mix64(base + i) as 8 bytes big-endian (so memcmp order is numeric
 * order). Fills keys (n * 8 bytes, in i order) and sorted (the same keys as numbers, ascending). */
static inline void bench_keys_make(uint64_t base, size_t n, uint8_t *keys, uint64_t *sorted) {
    for (size_t i = 0; i < n; i++) {
        uint64_t k = bench_mix64(base + i);
        sorted[i] = k;
        bench_put_be64(keys + i * 8, k);
    }
    qsort(sorted, n, sizeof(uint64_t), bench_cmp_u64);
}

/* a = a Fisher-Yates shuffle of 0..n-1 drawn from *state. */
static inline void bench_shuffle(uint32_t *a, size_t n, uint64_t *state) {
    for (size_t i = 0; i < n; i++)
        a[i] = (uint32_t)i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)bench_rand_below(state, i);
        uint32_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* -------------------------------------------------------------- directories */
/* The run's parent directory into parent (cap bytes): `dir` (created if missing) or, when dir is
 * NULL, a fresh mkdtemp "$TMPDIR/<program>.XXXXXX" (TMPDIR defaults to /tmp). Returns 1 when it
 * made a temporary directory, which the caller removes at the end; unless keep is set, bench_die
 * removes it too, so a failed run leaves nothing behind. */
static inline int bench_parent_dir(const char *dir, int keep, char *parent, size_t cap) {
    if (dir != NULL) {
        if (snprintf(parent, cap, "%s", dir) >= (int)cap) bench_die("-d too long");
        if (mkdir(parent, 0755) != 0 && errno != EEXIST)
            bench_die("mkdir %s: %s", parent, strerror(errno));
        return 0;
    }
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0') tmp = "/tmp";
    if (snprintf(parent, cap, "%s/%s.XXXXXX", tmp, program_invocation_short_name) >= (int)cap)
        bench_die("TMPDIR too long");
    if (mkdtemp(parent) == NULL) bench_die("mkdtemp %s: %s", parent, strerror(errno));
    if (!keep) snprintf(bench_cleanup_dir, sizeof(bench_cleanup_dir), "%s", parent);
    return 1;
}

/* ------------------------------------------------------------ device I/O */
/* The block device a benchmark's files live on, and its counters from
 * /proc/diskstats: what a durable commit costs the device (writes, bytes,
 * cache flushes). The counters are device-wide, so other processes' I/O in
 * the same window shows up too; flushes per commit near 1 is the sign that
 * each commit reached stable storage before it returned. */
typedef struct bench_disk {
    unsigned major, minor; /* of the file system's device (st_dev) */
    int ok;                /* 1 if /proc/diskstats lists it */
} bench_disk;

typedef struct bench_io {
    double writes;  /* write requests completed */
    double sectors; /* 512-byte sectors written */
    double flushes; /* flush requests completed (-1: kernel does not report them) */
} bench_io;

/* Reads the counters of d into io; returns 0 if they cannot be read. */
static inline int bench_disk_read(const bench_disk *d, bench_io *io) {
    char line[512];
    int found = 0;
    memset(io, 0, sizeof(*io));
    FILE *f = d->ok ? fopen("/proc/diskstats", "r") : NULL;
    if (f == NULL) return 0;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        unsigned maj, min;
        double v[17];
        int n = sscanf(line, "%u %u %*s %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", &maj,
                       &min, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11],
                       &v[12], &v[13], &v[14], &v[15], &v[16]);
        if (n < 9 || maj != d->major || min != d->minor) continue;
        io->writes = v[4];
        io->sectors = v[6];
        io->flushes = n >= 18 ? v[15] : -1;
        found = 1;
    }
    fclose(f);
    return found;
}

/* Finds the device that holds path (a file or directory). */
static inline void bench_disk_find(const char *path, bench_disk *d) {
    struct stat st;
    bench_io io;
    memset(d, 0, sizeof(*d));
    if (stat(path, &st) != 0) return;
    d->major = major(st.st_dev);
    d->minor = minor(st.st_dev);
    d->ok = 1;
    d->ok = bench_disk_read(d, &io);
}

/* Samples the device for ms milliseconds while this process does nothing
 * and prints the background rate: the I/O of other processes, which the
 * per-commit figures measured after it include. */
static inline void bench_disk_background(const bench_disk *d, unsigned ms) {
    bench_io a, b;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    if (!bench_disk_read(d, &a)) return;
    nanosleep(&ts, NULL);
    if (!bench_disk_read(d, &b)) return;
    double s = (double)ms / 1000.0;
    printf("  (device background, %u ms idle: %.0f flushes/s, %.0f writes/s, %.0f KiB/s from other processes)\n",
           ms, (b.flushes - a.flushes) / s, (b.writes - a.writes) / s, (b.sectors - a.sectors) / 2.0 / s);
}

/* acc += (b - a), field by field. */
static inline void bench_io_add(bench_io *acc, const bench_io *a, const bench_io *b) {
    acc->writes += b->writes - a->writes;
    acc->sectors += b->sectors - a->sectors;
    acc->flushes = (a->flushes < 0 || acc->flushes < 0) ? -1 : acc->flushes + b->flushes - a->flushes;
}

#endif /* ARM_BENCH_UTIL_H */
