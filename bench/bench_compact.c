/* SPDX-License-Identifier: MIT */
/*
 * bench_compact.c: sustained random overwrites with compaction on and off.
 * Loads N keys (8-byte keys, 100-byte values), then overwrites keys drawn at
 * random for S seconds (default 60) from T writer threads, once with the
 * background merge on (opts.compaction = 1) and once off, each in a fresh
 * directory. Every second it samples the writes done and the bytes in the
 * directory; it prints a table (every 5 s) and, with --csv, one row per
 * second for plot_compact.sh. At the end every key is read back and must hold
 * the last value written to it (values name their key and generation).
 *
 * Targets (issue 9): throughput with compaction on >= 70% of off; disk use
 * with compaction on < 2x the live data (keys * entry bytes) at the end.
 * "@ name value" lines feed bench/run.sh (medians of runs).
 *
 *   bench_compact [-s SECONDS] [-n KEYS] [-t THREADS] [--shards N]
 *                 [--file-size BYTES] [--mode both|on|off] [--csv FILE] [-d DIR] [-k]
 */
#include "../engine/arm_engine.h"
#include "bench_util.h"

#include <dirent.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>

#define BC_KEY         8
#define BC_VALUE       100
#define BC_ENTRY       (20 + BC_KEY + BC_VALUE) /* bytes of one entry on disk */
#define BC_THREADS_MAX 16
#define BC_SECONDS_MAX 3600

typedef struct bc_opts {
    double seconds;
    size_t n;
    int threads;
    uint32_t shards;
    uint64_t file_size;
    int mode_on, mode_off;
    const char *csv;
    const char *dir;
    int keep;
} bc_opts;

typedef struct bc_run {
    arm_engine *e;
    const bc_opts *o;
    uint8_t *keys;         /* n * 8 */
    _Atomic uint32_t *gen; /* last generation written per key */
    _Atomic uint64_t writes;
    _Atomic int stop;
} bc_run;

typedef struct bc_writer {
    bc_run *r;
    int id;
} bc_writer;

static void bc_value(uint8_t *v, size_t key, uint32_t gen) {
    memset(v, 'a' + (int)(gen % 26), BC_VALUE);
    snprintf((char *)v, BC_VALUE, "k%zu/g%u/", key, gen);
}

/* Keys are split among the writers (key % threads == id), so each key has
 * one writer and its last generation is known exactly. */
static void *bc_writer_main(void *p) {
    bc_writer *w = p;
    bc_run *r = w->r;
    uint64_t st = 0x1234567ull + (uint64_t)w->id * 0x9e3779b97f4a7c15ull;
    size_t per = r->o->n / (size_t)r->o->threads;
    uint8_t v[BC_VALUE];
    uint64_t local = 0;
    while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
        size_t k = (size_t)bench_rand_below(&st, per) * (size_t)r->o->threads + (size_t)w->id;
        uint32_t g = atomic_load_explicit(&r->gen[k], memory_order_relaxed) + 1;
        bc_value(v, k, g);
        int rc = arm_engine_put(r->e, arm_slice_make(r->keys + k * BC_KEY, BC_KEY),
                                arm_slice_make(v, BC_VALUE));
        if (rc != ARM_OK) bench_die("put: %s: %s", arm_rc_str(rc), arm_engine_errmsg(r->e));
        atomic_store_explicit(&r->gen[k], g, memory_order_relaxed);
        if (++local % 256 == 0) atomic_fetch_add_explicit(&r->writes, 256, memory_order_relaxed);
    }
    atomic_fetch_add(&r->writes, local % 256);
    return NULL;
}

static uint64_t bc_dir_bytes(const char *dir) {
    uint64_t total = 0;
    DIR *d = opendir(dir);
    if (d == NULL) return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue;
        char path[BENCH_PATH_MAX + 512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat sb;
        if (lstat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode))
            total += bc_dir_bytes(path);
        else if (S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

typedef struct bc_result {
    double ops_per_s;
    double final_ratio, max_ratio; /* disk / live */
} bc_result;

static bc_result bc_one(const bc_opts *o, int on, const char *parent, uint8_t *keys, FILE *csv) {
    char dbdir[BENCH_PATH_MAX + 64];
    snprintf(dbdir, sizeof dbdir, "%s/compact-%s", parent, on ? "on" : "off");
    if (access(dbdir, F_OK) == 0) bench_die("%s already exists", dbdir);
    arm_engine_options eo;
    arm_engine_options_init(&eo);
    eo.shard_count = o->shards;
    eo.max_file_size = o->file_size;
    if (eo.max_value_size > o->file_size / 2) eo.max_value_size = (uint32_t)(o->file_size / 2);
    eo.compaction = on;
    bc_run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.keys = keys;
    r.gen = bench_xmalloc(o->n * sizeof(*r.gen));
    for (size_t i = 0; i < o->n; i++)
        atomic_init(&r.gen[i], 1);
    int rc = arm_engine_open(dbdir, &eo, &r.e);
    if (rc != ARM_OK) bench_die("open %s: %s", dbdir, arm_engine_errmsg(NULL));
    /* load */
    uint8_t v[BC_VALUE];
    for (size_t i = 0; i < o->n; i++) {
        bc_value(v, i, 1);
        rc = arm_engine_put(r.e, arm_slice_make(keys + i * BC_KEY, BC_KEY),
                            arm_slice_make(v, BC_VALUE));
        if (rc != ARM_OK) bench_die("load: %s", arm_engine_errmsg(r.e));
    }
    uint64_t live = (uint64_t)o->n * BC_ENTRY;
    printf("\n compaction %s: %zu keys loaded, live data %.1f MB\n", on ? "on" : "off", o->n,
           (double)live / 1e6);
    printf("  %6s %12s %12s %10s\n", "t (s)", "writes/s", "disk (MB)", "disk/live");
    bc_writer w[BC_THREADS_MAX];
    pthread_t th[BC_THREADS_MAX];
    for (int i = 0; i < o->threads; i++) {
        w[i] = (bc_writer){&r, i};
        if (pthread_create(&th[i], NULL, bc_writer_main, &w[i]) != 0) bench_die("pthread_create");
    }
    double t0 = bench_now(), next = t0 + 1.0, max_ratio = 0;
    uint64_t last = 0;
    for (int s = 1; s <= (int)o->seconds; s++) {
        double now;
        while ((now = bench_now()) < next)
            usleep((useconds_t)((next - now) * 1e6) + 1);
        next += 1.0;
        uint64_t wr = atomic_load(&r.writes), du = bc_dir_bytes(dbdir);
        double ratio = (double)du / (double)live;
        if (ratio > max_ratio && s > 1) max_ratio = ratio;
        if (csv)
            fprintf(csv, "%s,%d,%llu,%llu,%llu\n", on ? "on" : "off", s,
                    (unsigned long long)(wr - last), (unsigned long long)du,
                    (unsigned long long)live);
        if (s % 5 == 0 || s == 1)
            printf("  %6d %12llu %12.1f %10.2f\n", s, (unsigned long long)(wr - last),
                   (double)du / 1e6, ratio);
        last = wr;
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < o->threads; i++)
        pthread_join(th[i], NULL);
    double secs = bench_now() - t0;
    uint64_t total = atomic_load(&r.writes);
    uint64_t du = bc_dir_bytes(dbdir);
    /* verify: every key holds its last generation */
    arm_buf b = {0};
    uint8_t want[BC_VALUE];
    for (size_t i = 0; i < o->n; i++) {
        rc = arm_engine_get(r.e, arm_slice_make(keys + i * BC_KEY, BC_KEY), &b);
        bc_value(want, i, atomic_load(&r.gen[i]));
        if (rc != ARM_OK || b.len != BC_VALUE || memcmp(b.ptr, want, BC_VALUE) != 0)
            bench_die("key %zu: %s, not its last value (gen %u)", i, arm_rc_str(rc),
                      atomic_load(&r.gen[i]));
    }
    arm_buf_free(&b);
    arm_engine_stats st;
    arm_engine_stats_get(r.e, &st);
    rc = arm_engine_close(r.e);
    if (rc != ARM_OK) bench_die("close: %s", arm_rc_str(rc));
    free(r.gen);
    bench_rm_rf(dbdir);
    bc_result res = {(double)total / secs, (double)du / (double)live, max_ratio};
    printf("  compaction %s: %.0f writes/s over %.1f s, disk at the end %.1f MB = %.2fx live "
           "(most %.2fx), %llu files; every key verified\n",
           on ? "on" : "off", res.ops_per_s, secs, (double)du / 1e6, res.final_ratio, max_ratio,
           (unsigned long long)st.files);
    return res;
}

static void bc_usage(void) {
    fprintf(stderr, "usage: bench_compact [-s SECONDS] [-n KEYS] [-t THREADS] [--shards N] "
                    "[--file-size BYTES] [--mode both|on|off] [--csv FILE] [-d DIR] [-k]\n");
    exit(2);
}

static void bc_parse(int argc, char **argv, bc_opts *o) {
    memset(o, 0, sizeof *o);
    o->seconds = 60;
    o->n = 1000000;
    o->threads = 1;
    o->shards = 2;
    o->file_size = 16ull << 20;
    o->mode_on = o->mode_off = 1;
    static const struct option lopts[] = {
        {"shards", required_argument, NULL, 'S'}, {"file-size", required_argument, NULL, 'F'},
        {"mode", required_argument, NULL, 'M'},   {"csv", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "s:n:t:d:kh", lopts, NULL)) != -1) {
        switch (ch) {
        case 's': o->seconds = atof(optarg); break;
        case 'n': o->n = (size_t)strtoull(optarg, NULL, 10); break;
        case 't': o->threads = atoi(optarg); break;
        case 'd': o->dir = optarg; break;
        case 'k': o->keep = 1; break;
        case 'S': o->shards = (uint32_t)atoi(optarg); break;
        case 'F': o->file_size = strtoull(optarg, NULL, 10); break;
        case 'C': o->csv = optarg; break;
        case 'M':
            o->mode_on = strcmp(optarg, "off") != 0;
            o->mode_off = strcmp(optarg, "on") != 0;
            if (strcmp(optarg, "on") && strcmp(optarg, "off") && strcmp(optarg, "both")) bc_usage();
            break;
        default: bc_usage();
        }
    }
    if (o->seconds < 1 || o->seconds > BC_SECONDS_MAX || o->n < 1000 || o->threads < 1 ||
        o->threads > BC_THREADS_MAX || o->shards < 1)
        bc_usage();
}

int main(int argc, char **argv) {
    bc_opts o;
    bc_parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char parent[BENCH_PATH_MAX];
    int made = bench_parent_dir(o.dir, o.keep, parent, sizeof parent);
    double la[3];
    printf("bench_compact: %zu keys (8-byte keys, 100-byte values), %d writer(s), %u shards, "
           "%llu-byte files, %.0f s per mode, sync=normal, dir=%s\n",
           o.n, o.threads, o.shards, (unsigned long long)o.file_size, o.seconds, parent);
    printf("  load average at start: %.2f (other busy processes make numbers noisy)\n",
           bench_loadavg(la));
    uint8_t *keys = bench_xmalloc(o.n * BC_KEY);
    uint64_t *sorted = bench_xmalloc(o.n * sizeof(uint64_t));
    bench_keys_make(0xc0ffee, o.n, keys, sorted);
    free(sorted);
    FILE *csv = NULL;
    if (o.csv) {
        csv = fopen(o.csv, "w");
        if (csv == NULL) bench_die("cannot write %s", o.csv);
        fprintf(csv, "mode,t_s,writes,disk_bytes,live_bytes\n");
    }
    bc_result on = {0, 0, 0}, off = {0, 0, 0};
    if (o.mode_off) off = bc_one(&o, 0, parent, keys, csv);
    if (o.mode_on) on = bc_one(&o, 1, parent, keys, csv);
    if (csv) fclose(csv);
    printf("\n  load average at end: %.2f\n", bench_loadavg(la));
    if (o.mode_on) {
        printf("@ on_writes_per_s %.0f\n@ on_disk_over_live %.2f\n@ on_most_disk_over_live %.2f\n",
               on.ops_per_s, on.final_ratio, on.max_ratio);
        printf("  target: disk < 2x live data with compaction on: %.2fx %s\n", on.final_ratio,
               on.final_ratio < 2 ? "(met)" : "(MISSED)");
    }
    if (o.mode_off)
        printf("@ off_writes_per_s %.0f\n@ off_disk_over_live %.2f\n", off.ops_per_s,
               off.final_ratio);
    if (o.mode_on && o.mode_off) {
        double ratio = on.ops_per_s / off.ops_per_s;
        printf("@ on_over_off %.3f\n", ratio);
        printf("  target: throughput with compaction on >= 70%% of off: %.0f%% %s\n", ratio * 100,
               ratio >= 0.7 ? "(met)" : "(MISSED)");
    }
    free(keys);
    if (made && !o.keep) bench_rm_rf(parent);
    return 0;
}
