/* SPDX-License-Identifier: MIT */
/*
 * test_compact_crash.c: power cuts inside a merge. A database with
 * overwrites, deletes and batches over two shards is made and closed (all of
 * it durable). Then, for N = 1, 2, ... until a merge runs to its end: a copy
 * of it is opened in a forked child, which installs the engine's I/O fault
 * hook and runs arm_engine_compact; at the Nth data or hint write or sync, or
 * directory sync (after each rename and unlink), the child writes down, per file it wrote (by
 * inode: a merged file is renamed), the size at its last fdatasync, and dies on the spot. The
 * parent then cuts the power: each such file loses its unsynced bytes, or keeps a torn part of them
 * (chosen by the seed). Reopened, the copy must hold exactly what the model says (nothing lost,
 * nothing deleted back), read clean in arm_engine_check, keep no merge output (.merge) nor a hint
 * without its data file, and merge again to the same content. Also with every file hinted first
 * (the hint thread's writes count) and with a crash during the reopen's own merge after the first
 * crash. ARM_TEST_SEED picks the tears.
 */
#include "../harness.h"
#include "../../engine/engine_int.h"
#include "../../engine/io.h"
#include "../util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CC_FILES_MAX    256
#define CC_EXIT_CRASHED 3

static char g_tmp[512];
static char g_src[PATH_MAX + 16], g_work[PATH_MAX + 16], g_tab[PATH_MAX + 16];

typedef struct cc_file {
    uint64_t ino;
    uint64_t synced;
} cc_file;

/* the child's hook state (a forked child has one thread that writes here) */
static cc_file g_files[CC_FILES_MAX];
static int g_nfiles;
static long g_ops, g_crash_at;

static cc_file *cc_find(int fd) {
    struct stat st;
    if (fstat(fd, &st) != 0) return NULL;
    for (int i = 0; i < g_nfiles; i++)
        if (g_files[i].ino == (uint64_t)st.st_ino) return &g_files[i];
    if (g_nfiles == CC_FILES_MAX) return NULL;
    cc_file *f = &g_files[g_nfiles++];
    f->ino = (uint64_t)st.st_ino;
    f->synced = (uint64_t)st.st_size; /* what it held before the hook: durable */
    return f;
}

static void cc_dump_and_die(void) {
    FILE *fp = fopen(g_tab, "w");
    if (fp) {
        for (int i = 0; i < g_nfiles; i++)
            fprintf(fp, "%llu %llu\n", (unsigned long long)g_files[i].ino,
                    (unsigned long long)g_files[i].synced);
        fclose(fp);
    }
    _exit(CC_EXIT_CRASHED);
}

static int cc_hook(int op, int fd, uint64_t off, size_t n) {
    (void)off;
    (void)n;
    if (op == ARM_IO_OP_READ) return 0;
    cc_file *f = fd >= 0 ? cc_find(fd) : NULL;
    if (++g_ops == g_crash_at) cc_dump_and_die(); /* dies before the op is done */
    if (f && (op == ARM_IO_OP_SYNC || op == ARM_IO_OP_HINT_SYNC)) {
        struct stat st;
        /* the sync is about to succeed: everything in the file is durable */
        if (fstat(fd, &st) == 0) f->synced = (uint64_t)st.st_size;
    }
    return 0;
}

static void opts_of(arm_engine_options *o) {
    arm_engine_options_init(o);
    o->shard_count = 2;
    o->max_file_size = 64u << 10;
    o->max_value_size = 8u << 10;
    o->write_buffer_size = 16u << 10;
    o->sync_mode = ARM_SYNC_OFF;
    o->compaction = 0;
}

static size_t cc_key(char *b, unsigned i) {
    return (size_t)sprintf(b, "cc%05u", i);
}

/* The source database: every kind of change, all durable after close. */
static void cc_make(util_model *m, int hints) {
    arm_engine_options o;
    opts_of(&o);
    o.hints = hints;
    arm_engine *e = util_open_ok(g_src, &o);
    util_rng rng;
    util_rng_seed(&rng, 7);
    for (unsigned j = 0; j < 9000; j++) {
        unsigned i = (unsigned)util_rng_below(&rng, 700);
        char k[32];
        uint8_t v[400];
        size_t kl = cc_key(k, i);
        unsigned what = (unsigned)util_rng_below(&rng, 10);
        if (what < 2) {
            int had = util_model_get(m, k, kl) != NULL;
            UTIL_CHECK_RC(e, arm_engine_delete(e, arm_slice_make(k, kl)),
                          had ? ARM_OK : ARM_NOTFOUND);
            util_model_del(m, k, kl);
        } else if (what < 3) {
            arm_batch *b;
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
            for (unsigned x = 0; x < 3; x++) {
                unsigned bi = (unsigned)util_rng_below(&rng, 700);
                size_t bkl = cc_key(k, bi);
                size_t vl = (size_t)sprintf((char *)v, "b%u/%u/%u", bi, j, x);
                UTIL_CHECK_RC(
                    e, arm_engine_batch_put(b, arm_slice_make(k, bkl), arm_slice_make(v, vl)),
                    ARM_OK);
                util_model_put(m, k, bkl, v, vl);
            }
            UTIL_CHECK_RC(e, arm_engine_batch_commit(e, b), ARM_OK);
            arm_engine_batch_free(b);
        } else {
            size_t vl = (size_t)sprintf((char *)v, "p%u/%u/", i, j);
            size_t pad = 100 + (size_t)util_rng_below(&rng, 200);
            util_fill(v + vl, pad, i, j);
            vl += pad;
            util_put_ok(e, k, kl, v, vl);
            util_model_put(m, k, kl, v, vl);
        }
    }
    util_close_ok(e);
}

/* Child: open the copy, crash at op n of a merge. Exit 0 when the merge
 * finished before op n came. */
static void cc_child(long n, int hints) {
    arm_engine_options o;
    opts_of(&o);
    o.hints = hints;
    arm_engine *e = NULL;
    if (arm_engine_open(g_work, &o, &e) != ARM_OK) _exit(10);
    if (hints) arm_files_hints_drain(&e->files); /* queued at open: written before the hook */
    g_ops = 0;
    g_crash_at = n;
    arm_io_set_fault_hook(cc_hook);
    arm_compact_result r;
    int rc = arm_engine_compact(e, &r);
    if (rc != ARM_OK) _exit(11);
    if (hints) arm_files_hints_drain(&e->files);
    _exit(r.files_in > 0 ? 0 : 12);
}

/* Power cut: every file the child wrote keeps its synced bytes and, torn,
 * some of the rest. */
static void cc_power_cut(util_rng *rng) {
    cc_file tab[CC_FILES_MAX];
    int nt = 0;
    FILE *fp = fopen(g_tab, "r");
    ARM_CHECK(fp != NULL);
    unsigned long long ino, synced;
    while (nt < CC_FILES_MAX && fscanf(fp, "%llu %llu", &ino, &synced) == 2)
        tab[nt++] = (cc_file){ino, synced};
    fclose(fp);
    for (int s = 0; s < 2; s++) {
        char dir[PATH_MAX + 64];
        snprintf(dir, sizeof dir, "%s/shard-%03d", g_work, s);
        DIR *d = opendir(dir);
        ARM_CHECK(d != NULL);
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            char path[PATH_MAX + 400];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            for (int i = 0; i < nt; i++) {
                if (tab[i].ino != (uint64_t)st.st_ino || (uint64_t)st.st_size <= tab[i].synced)
                    continue;
                uint64_t keep = tab[i].synced;
                if (util_rng_below(rng, 2))
                    keep += util_rng_below(rng, (uint64_t)st.st_size - keep);
                ARM_CHECK(util_truncate(path, keep) == 0);
            }
        }
        closedir(d);
    }
}

static void cc_expect_tidy(void) {
    int merges = 0;
    ARM_CHECK(util_dir_bytes(g_work, ".merge", &merges) >= 0);
    ARM_CHECK(merges == 0);
    ARM_CHECK(util_orphan_hints(g_work, NULL, 0) == 0);
}

static void cc_verify(const util_model *m, int hints) {
    arm_engine_options o;
    opts_of(&o);
    o.hints = hints;
    arm_engine *e = util_open_ok(g_work, &o);
    cc_expect_tidy(); /* open removed what a cut-short merge left */
    util_expect_model(e, m);
    util_check_clean(e);
    arm_compact_result r;
    UTIL_CHECK_RC(e, arm_engine_compact(e, &r), ARM_OK);
    util_expect_model(e, m);
    util_put_ok(e, "after", 5, "crash", 5);
    util_close_ok(e);
    e = util_open_ok(g_work, &o);
    util_expect(e, "after", 5, "crash", 5);
    UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("after")), ARM_OK);
    util_expect_model(e, m);
    util_close_ok(e);
    cc_expect_tidy();
}

/* Returns the number of crash points tried. */
static long cc_sweep(int hints) {
    char real[PATH_MAX];
    ARM_CHECK(realpath(g_tmp, real) != NULL);
    snprintf(g_src, sizeof g_src, "%s/src", real);
    snprintf(g_work, sizeof g_work, "%s/work", real);
    snprintf(g_tab, sizeof g_tab, "%s/crash.tab", real);
    util_rmrf(g_src);
    util_model m;
    util_model_init(&m);
    cc_make(&m, hints);
    util_rng rng;
    util_rng_seed(&rng, harness_seed);
    long n = 1;
    for (;; n++) {
        util_rmrf(g_work);
        ARM_CHECK(util_copy_db(g_src, g_work) == 0);
        unlink(g_tab);
        pid_t pid = fork();
        ARM_CHECK(pid >= 0);
        if (pid == 0) cc_child(n, hints);
        int status = 0;
        ARM_CHECK(waitpid(pid, &status, 0) == pid);
        ARM_CHECK(WIFEXITED(status));
        int code = WEXITSTATUS(status);
        if (code != 0 && code != CC_EXIT_CRASHED) {
            fprintf(stderr, "child exit %d at crash point %ld\n", code, n);
            ARM_CHECK(0);
        }
        if (code == CC_EXIT_CRASHED) cc_power_cut(&rng);
        cc_verify(&m, hints);
        if (code == 0) break; /* the merge ran to its end before op n */
        ARM_CHECK(n < 10000);
    }
    util_model_free(&m);
    return n;
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "cmp-crash");
    util_rmrf_at_exit(g_tmp);
    long a = 0, b = 0;
    UTIL_CASE("power cut at every write and sync of a merge", a = cc_sweep(0));
    UTIL_CASE("the same with hint files", b = cc_sweep(1));
    fprintf(stderr, "    crash points: %ld without hints, %ld with\n", a, b);
    return harness_done();
}
