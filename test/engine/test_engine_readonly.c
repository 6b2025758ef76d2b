/* SPDX-License-Identifier: MIT */
/*
 * test_engine_readonly.c: read_only=1 opens. It takes LOCK shared (readers
 * share, a writer is kept out) and says so in stats.lock_mode; it opens a
 * copy without LOCK (making one); and it opens on a read-only file system,
 * with LOCK (shared) or without (no lock, ARM_LOCK_NONE), serving everything
 * (hints included), and damaged tables too (everything intact, the damage
 * reported by check), while a read-write open there fails and changes
 * nothing. The read-only file system is a read-only bind mount in a private
 * mount namespace of a child process; where that is not allowed those cases
 * are skipped (and say so).
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_tmp[512];
static char g_db[600], g_copy[600], g_mnt[600];

static void opts_ro(arm_engine_options *o, int read_only) {
    arm_engine_options_init(o);
    o->compaction = 0; /* the tests damage files they name */
    o->shard_count = 2;
    o->max_file_size = 64u << 10;
    o->max_value_size = 16u << 10;
    o->write_buffer_size = 16u << 10;
    o->read_only = read_only;
}

static size_t kname(char *b, unsigned i) { return (size_t)sprintf(b, "ro%06u", i); }
static size_t vmake(uint8_t *b, unsigned i) {
    size_t len = 60 + i % 90;
    util_fill(b, len, i, 3);
    return len;
}

#define NKEYS 1500u

static void expect_keys(arm_engine *e, unsigned skip_from, unsigned skip_to) {
    char k[32];
    uint8_t v[200];
    for (unsigned i = 0; i < NKEYS; i++) {
        if (i >= skip_from && i < skip_to) continue;
        size_t kl = kname(k, i), vl = vmake(v, i);
        util_expect(e, k, kl, v, vl);
    }
}

static int lock_mode(arm_engine *e) {
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    return st.lock_mode;
}

/* Exit codes of a child that tried an open. */
enum { CH_OPENED = 10, CH_BUSY = 11, CH_OTHER = 12 };

static int child_open(const char *dir, int read_only) {
    fflush(NULL);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        arm_engine_options o;
        opts_ro(&o, read_only);
        arm_engine *e = NULL;
        int rc = arm_engine_open(dir, &o, &e);
        if (rc == ARM_OK) (void)arm_engine_close(e);
        _exit(rc == ARM_OK ? CH_OPENED : rc == ARM_BUSY ? CH_BUSY : CH_OTHER);
    }
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* ------------------------------------------------------------------ */
static void test_shared_lock(void) {
    arm_engine_options o;
    opts_ro(&o, 1);
    arm_engine *e = util_open_ok(g_db, &o);
    ARM_CHECK(lock_mode(e) == ARM_LOCK_SHARED);
    expect_keys(e, 0, 0);
    ARM_CHECK(child_open(g_db, 1) == CH_OPENED); /* readers share */
    ARM_CHECK(child_open(g_db, 0) == CH_BUSY);   /* a writer is kept out */
    util_close_ok(e);
    opts_ro(&o, 0);
    e = util_open_ok(g_db, &o);
    ARM_CHECK(lock_mode(e) == ARM_LOCK_EXCLUSIVE);
    ARM_CHECK(child_open(g_db, 1) == CH_BUSY); /* and readers are kept out by a writer */
    util_close_ok(e);
}

static void test_copy_without_lock(void) {
    util_rmrf(g_copy);
    ARM_CHECK(util_copy_db(g_db, g_copy) == 0); /* LOCK is not copied */
    char lock[700];
    snprintf(lock, sizeof lock, "%s/LOCK", g_copy);
    ARM_CHECK(util_file_size(lock) < 0);
    arm_engine_options o;
    opts_ro(&o, 1);
    arm_engine *e = util_open_ok(g_copy, &o);
    ARM_CHECK(lock_mode(e) == ARM_LOCK_SHARED);
    expect_keys(e, 0, 0);
    util_close_ok(e);
    ARM_CHECK(util_file_size(lock) == 0);
}

/* In a child with its own mount namespace: g_mnt is src mounted read-only.
 * Returns 0 when it could be made, -1 when this system does not allow it. */
static int ro_mount(const char *src) {
    if (unshare(CLONE_NEWNS) != 0) return -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
    if (mount(src, g_mnt, NULL, MS_BIND, NULL) != 0) return -1;
    if (mount(NULL, g_mnt, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) != 0) return -1;
    char probe[700];
    snprintf(probe, sizeof probe, "%s/probe", g_mnt);
    FILE *f = fopen(probe, "w");
    if (f != NULL) { /* not read-only after all */
        fclose(f);
        return -1;
    }
    return errno == EROFS ? 0 : -1;
}

/* Run fn(arg) in a child whose g_mnt is src, read-only. 1 when it ran and
 * passed, 0 when read-only mounts are not allowed here (the case is skipped). */
static int in_ro_mount(const char *src, void (*fn)(int), int arg) {
    fflush(NULL);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        if (ro_mount(src) != 0) _exit(77);
        fn(arg);
        _exit(0);
    }
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    ARM_CHECK(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77) {
        fprintf(stderr, "    (skipped: no read-only bind mount in a mount namespace here)\n");
        return 0;
    }
    ARM_CHECK(WEXITSTATUS(st) == 0);
    return 1;
}

/* kind 0: with LOCK; 1: without; 2: damaged in the middle of the newest file. */
static void ro_fs_case(int kind) {
    arm_engine_options o;
    opts_ro(&o, 1);
    arm_engine *e = util_open_ok(g_mnt, &o);
    ARM_CHECK(lock_mode(e) == (kind == 1 ? ARM_LOCK_NONE : ARM_LOCK_SHARED));
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.read_only == 1);
    ARM_CHECK(st.open_hinted >= 1); /* hints are read, from a read-only medium too */
    if (kind == 2) {
        expect_keys(e, NKEYS - 1, NKEYS); /* every key but the damaged one */
        uint64_t problems = 0;
        UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
        ARM_CHECK(problems == 1);
    } else {
        expect_keys(e, 0, 0);
        uint64_t problems = 9;
        UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
        ARM_CHECK(problems == 0);
    }
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("x"), UTIL_S("y")), ARM_READONLY);
    util_close_ok(e);
    /* read-write cannot open here, and fails cleanly */
    opts_ro(&o, 0);
    e = (arm_engine *)(uintptr_t)1;
    int rc = arm_engine_open(g_mnt, &o, &e);
    ARM_CHECK(rc != ARM_OK && e == NULL);
}

static void test_read_only_fs(void) {
    /* with LOCK (created with the table) */
    int ran = in_ro_mount(g_db, ro_fs_case, 0);
    if (!ran) return;
    /* without LOCK */
    util_rmrf(g_copy);
    ARM_CHECK(util_copy_db(g_db, g_copy) == 0);
    ARM_CHECK(in_ro_mount(g_copy, ro_fs_case, 1));
    /* damaged: a flipped byte in the newest file's last-but-one key */
    util_rmrf(g_copy);
    ARM_CHECK(util_copy_db(g_db, g_copy) == 0);
    char lock[700];
    snprintf(lock, sizeof lock, "%s/LOCK", g_copy);
    FILE *f = fopen(lock, "w");
    ARM_CHECK(f != NULL);
    fclose(f);
    char k[32];
    size_t kl = kname(k, NKEYS - 1);
    util_logfile lf[64];
    int nf = util_list_logs(g_copy, lf, 64);
    int hit = 0;
    for (int i = 0; i < nf && !hit; i++) {
        util_logfile nl;
        if (util_newest_log(g_copy, lf[i].shard, &nl) != 0 || nl.fid != lf[i].fid) continue;
        static util_entry ent[2048];
        int c = util_parse_log(nl.path, ent, 2048, NULL);
        size_t len;
        uint8_t *b = util_read_file(nl.path, &len);
        ARM_CHECK(b != NULL);
        for (int j = 0; j + 1 < c && !hit; j++) /* damage with a good entry after it */
            if (ent[j].klen == kl && memcmp(b + ent[j].key_off, k, kl) == 0) {
                ARM_CHECK(util_flip_bit(nl.path, ent[j].key_off + kl + 2, 5) == 0);
                hit = 1;
            }
        free(b);
    }
    ARM_CHECK(hit);
    ARM_CHECK(in_ro_mount(g_copy, ro_fs_case, 2));
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "ro");
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    snprintf(g_copy, sizeof g_copy, "%s/copy", g_tmp);
    snprintf(g_mnt, sizeof g_mnt, "%s/mnt", g_tmp);
    ARM_CHECK(mkdir(g_mnt, 0755) == 0);
    arm_engine_options o;
    opts_ro(&o, 0);
    arm_engine *e = util_open_ok(g_db, &o);
    char k[32];
    uint8_t v[200];
    for (unsigned i = 0; i < NKEYS; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i);
        util_put_ok(e, k, kl, v, vl);
    }
    for (int i = 0; i < 20; i++) { /* after the key that gets damaged, in its file too */
        char z[16];
        int zl = snprintf(z, sizeof z, "zz%02d", i);
        util_put_ok(e, z, (size_t)zl, "z", 1);
    }
    util_close_ok(e);
    UTIL_CASE("read-only shares LOCK; a writer is kept out", test_shared_lock());
    UTIL_CASE("read-only opens a copy without LOCK", test_copy_without_lock());
    UTIL_CASE("read-only opens on a read-only file system", test_read_only_fs());
    return harness_done();
}
