/* SPDX-License-Identifier: MIT */
/*
 * test_repl_lost_tail.c: a leader under sync=off ships entries that are
 * still in its write buffer; if it dies before they reach the file they are
 * lost, and the next writes of the same sizes land at the same offsets. Had
 * the sequence counter resumed just past the recovered entries, a follower's
 * position (seq, off, fid, len) would still "match" the rewritten log: the
 * reader would open there instead of refusing with ARM_RANGE (which gives the
 * follower a snapshot), and the follower would silently keep the lost
 * entries and miss the new ones at those places. The engine marks LOCK open
 * while it runs and clean at a clean close, beside a sequence floor; every
 * open resumes past both what it recovered and the floor, an open after
 * anything but a clean close ARM_SEQ_GAP further (engine_int.h), and the
 * result becomes the new floor: a lost entry's (seq, offset) is never
 * reused, also after opens that write nothing. Also: a clean close and
 * reopen takes no gap.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <sys/wait.h>
#include <unistd.h>

static char g_tmp[512];

static void opts(arm_engine_options *o) {
    arm_engine_options_init(o);
    o->shard_count = 1;
    o->sync_mode = ARM_SYNC_OFF;
    o->write_buffer_size = 1 << 20; /* everything below stays in the buffer */
}

/* idle: opens and clean closes with no write between the crash and the
 * writes that follow (the gap must outlive them). */
static void test_lost_tail(int idle) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/leader-%d", g_tmp, idle);
    arm_engine_options o;
    opts(&o);
    /* A clean base that is in the file. */
    arm_engine *e = util_open_ok(dir, &o);
    UTIL_CHECK_RC(e, arm_engine_put(e, UTIL_S("base"), UTIL_S("flushed")), ARM_OK);
    util_close_ok(e);
    int fds[2];
    ARM_CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        /* The leader: writes that stay in its buffer, read by a "follower"
         * (a log reader), whose position goes to the parent; then it dies. */
        arm_engine *l = NULL;
        if (arm_engine_open(dir, &o, &l) != ARM_OK) _exit(2);
        for (int i = 0; i < 10; i++) {
            char k[16];
            snprintf(k, sizeof k, "old-%d", i);
            if (arm_engine_put(l, UTIL_S(k), UTIL_S("lost")) != ARM_OK) _exit(3);
        }
        arm_log_reader *r = NULL;
        if (arm_log_reader_open(l, NULL, &r) != ARM_OK) _exit(4);
        arm_log_txn t;
        while (arm_log_reader_next(r, &t) == ARM_OK) {
        }
        arm_log_pos p = arm_log_reader_pos(r, 0);
        if (write(fds[1], &p, sizeof p) != (ssize_t)sizeof p) _exit(5);
        _exit(0); /* no flush: the buffer is gone */
    }
    close(fds[1]);
    arm_log_pos p;
    ARM_CHECK(read(fds[0], &p, sizeof p) == (ssize_t)sizeof p);
    close(fds[0]);
    int st;
    ARM_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < idle; i++) util_close_ok(util_open_ok(dir, &o));
    /* Reopened: the ten puts are gone; ten others of the same sizes follow. */
    e = util_open_ok(dir, &o);
    util_expect_missing(e, "old-0", 5);
    for (int i = 0; i < 10; i++) {
        char k[16];
        snprintf(k, sizeof k, "new-%d", i);
        UTIL_CHECK_RC(e, arm_engine_put(e, UTIL_S(k), UTIL_S("here")), ARM_OK);
    }
    /* The follower's position names entries that no longer exist. */
    arm_log_reader *r = NULL;
    int rc = arm_log_reader_open(e, &p, &r);
    if (rc != ARM_RANGE) {
        fprintf(stderr,
                "%s: a position past a lost tail (seq %llu, file %u, offset %llu, len %u) "
                "opened with %s, not ARM_RANGE: the follower would miss the new entries and keep "
                "the lost ones (seed %llu)\n",
                harness_case, (unsigned long long)p.seq, p.fid, (unsigned long long)p.off, p.len,
                arm_rc_str(rc), (unsigned long long)harness_seed);
        arm_log_reader_close(r);
        util_close_ok(e);
        exit(1);
    }
    util_close_ok(e);
}

static uint64_t last_seq(arm_engine *e) {
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    return st.last_seq;
}

/* A clean close vouches for every entry: the reopened engine continues the
 * sequence where it stopped, and a position at the old end still opens. */
static void test_clean_reopen(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/clean", g_tmp);
    arm_engine_options o;
    opts(&o);
    arm_engine *e = util_open_ok(dir, &o);
    for (int i = 0; i < 5; i++) UTIL_CHECK_RC(e, arm_engine_put(e, UTIL_S("k"), UTIL_S("v")), ARM_OK);
    uint64_t before = last_seq(e);
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    arm_log_txn t;
    while (arm_log_reader_next(r, &t) == ARM_OK) {
    }
    arm_log_pos p = arm_log_reader_pos(r, 0);
    arm_log_reader_close(r);
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    ARM_CHECK(last_seq(e) == before);
    UTIL_CHECK_RC(e, arm_engine_put(e, UTIL_S("k"), UTIL_S("w")), ARM_OK);
    ARM_CHECK(last_seq(e) == before + 1);
    r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, &p, &r), ARM_OK);
    ARM_CHECK(arm_log_reader_next(r, &t) == ARM_OK && t.seq == before + 1);
    arm_log_reader_close(r);
    util_close_ok(e);
    /* A read-only open marks nothing: the next writer still sees the clean
     * close. */
    o.read_only = 1;
    e = util_open_ok(dir, &o);
    util_close_ok(e);
    o.read_only = 0;
    e = util_open_ok(dir, &o);
    ARM_CHECK(last_seq(e) == before + 1);
    util_close_ok(e);
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "repl_lost_tail");
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("a position past a lost tail is refused", test_lost_tail(0));
    UTIL_CASE("... also after opens and clean closes that wrote nothing", test_lost_tail(2));
    UTIL_CASE("a clean close and reopen continues the sequence", test_clean_reopen());
    return harness_done();
}
