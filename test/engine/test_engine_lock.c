/* SPDX-License-Identifier: MIT */
/*
 * test_engine_lock.c: one directory, one opener. A second process gets
 * ARM_BUSY with a message naming the directory; a second open in the same
 * process gets ARM_BUSY too; after close (or after the holder dies) the
 * directory opens again, and nothing was written by the refused opener.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_tmp[512];
static char g_db[600];

static const char *fresh(const char *tag) {
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, tag);
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    return g_db;
}

/* Child exit codes for the open attempt. */
enum { CH_BUSY_NAMED = 10, CH_BUSY_UNNAMED = 11, CH_OPENED = 12, CH_OTHER = 13 };

/* fork; the child tries to open dir (read_only or not) and reports. The
 * child never returns into the harness (it _exits). */
static int child_open(const char *dir, int read_only) {
    fflush(NULL);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        arm_engine_options o;
        arm_engine_options_init(&o);
        o.read_only = read_only;
        arm_engine *e = NULL;
        int rc = arm_engine_open(dir, &o, &e);
        int code = CH_OTHER;
        if (rc == ARM_BUSY)
            code = strstr(arm_engine_errmsg(NULL), dir) ? CH_BUSY_NAMED : CH_BUSY_UNNAMED;
        else if (rc == ARM_OK)
            code = CH_OPENED;
        if (code == CH_BUSY_UNNAMED || code == CH_OTHER)
            fprintf(stderr, "child open: %s \"%s\"\n", arm_rc_str(rc), arm_engine_errmsg(NULL));
        if (rc == ARM_OK) (void)arm_engine_close(e);
        _exit(code);
    }
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    ARM_CHECK(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_second_process(void) {
    const char *dir = fresh("lock");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 2;
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "k", 1, "v", 1);

    ARM_CHECK(child_open(dir, 0) == CH_BUSY_NAMED);
    /* read-only openers are refused too: the lock is exclusive */
    ARM_CHECK(child_open(dir, 1) == CH_BUSY_NAMED);

    /* the holder keeps working */
    util_put_ok(e, "k2", 2, "v2", 2);
    util_expect(e, "k", 1, "v", 1);
    util_close_ok(e);

    /* after close another process opens it and sees the data */
    ARM_CHECK(child_open(dir, 0) == CH_OPENED);
    e = util_open_ok(dir, &o);
    util_expect(e, "k2", 2, "v2", 2);
    ARM_CHECK(arm_engine_count(e) == 2);
    util_close_ok(e);
}

static void test_same_process(void) {
    const char *dir = fresh("lock2");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 2;
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "a", 1, "1", 1);
    arm_engine *e2 = (arm_engine *)(uintptr_t)1;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e2), ARM_BUSY);
    ARM_CHECK(e2 == NULL);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), dir) != NULL);
    /* the same directory spelled differently */
    char alt[700];
    snprintf(alt, sizeof alt, "%s/../db/", dir);
    e2 = NULL;
    ARM_CHECK_RC(arm_engine_open(alt, &o, &e2), ARM_BUSY);
    o.read_only = 1;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e2), ARM_BUSY);
    o.read_only = 0;
    /* the refused opens did not disturb the open engine */
    util_put_ok(e, "b", 1, "2", 1);
    util_expect(e, "a", 1, "1", 1);
    util_close_ok(e);
    /* open/close cycles */
    for (int i = 0; i < 20; i++) {
        e = util_open_ok(dir, &o);
        ARM_CHECK(arm_engine_count(e) == 2);
        util_close_ok(e);
    }
    /* two different directories at once are fine */
    char other[700];
    snprintf(other, sizeof other, "%s/other", g_tmp);
    e = util_open_ok(dir, &o);
    e2 = util_open_ok(other, &o);
    util_put_ok(e2, "o", 1, "o", 1);
    util_close_ok(e2);
    util_close_ok(e);
}

/* A holder that dies (SIGKILL) releases the lock. */
static void test_holder_killed(void) {
    const char *dir = fresh("lock3");
    int pfd[2];
    ARM_CHECK(pipe(pfd) == 0);
    fflush(NULL);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        arm_engine_options o;
        arm_engine_options_init(&o);
        o.shard_count = 2;
        o.sync_mode = ARM_SYNC_FULL;
        arm_engine *e = NULL;
        char c = 'x';
        if (arm_engine_open(dir, &o, &e) == ARM_OK &&
            arm_engine_put(e, arm_slice_make("held", 4), arm_slice_make("yes", 3)) == ARM_OK)
            c = 'k';
        if (write(pfd[1], &c, 1) != 1) _exit(2);
        for (;;) pause();
    }
    close(pfd[1]);
    char c = 0;
    ARM_CHECK(read(pfd[0], &c, 1) == 1);
    close(pfd[0]);
    ARM_CHECK(c == 'k');
    arm_engine_options o;
    arm_engine_options_init(&o);
    arm_engine *e = NULL;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e), ARM_BUSY);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), dir) != NULL);
    ARM_CHECK(kill(pid, SIGKILL) == 0);
    int st;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    e = util_open_ok(dir, &o);
    util_expect(e, "held", 4, "yes", 3);
    util_close_ok(e);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("second process gets ARM_BUSY", test_second_process());
    UTIL_CASE("second open in one process gets ARM_BUSY", test_same_process());
    UTIL_CASE("a killed holder releases the lock", test_holder_killed());
    return harness_done();
}
