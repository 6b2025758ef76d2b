/* SPDX-License-Identifier: MIT */
/*
 * repl_test.h: helpers shared by the replication test programs (static, so
 * each program compiles what it uses): loopback socket pairs, framed
 * connection pairs, decoding the one frame in a buffer, secrets in files and
 * variables, database ids, a pump that runs two handshake state machines
 * against each other, and for the leader/follower tests: engines on temp
 * dirs, leaders and followers with short timeouts, waits, and checks that a
 * follower ends equal to its leader. Include after harness.h (failures name
 * the test case and seed). Test builds only (-DARM_TEST).
 */
#ifndef ARM_REPL_TEST_H
#define ARM_REPL_TEST_H

#include "../../repl/repl_int.h"
#include "../util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Check an rc and print the repl error message when it differs. */
#define RT_CHECK_RC(call, errp, want)                                                              \
    do {                                                                                           \
        int rrc_ = (call);                                                                         \
        if (rrc_ != (want)) {                                                                      \
            fprintf(stderr, "%s:%d: %s: %s returned %s, expected %s: \"%s\" (seed %llu)\n",        \
                    __FILE__, __LINE__, harness_case, #call, arm_rc_str(rrc_), arm_rc_str(want),   \
                    (errp)->msg, (unsigned long long)harness_seed);                                \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* The message holds `needle` (case-sensitive). */
#define RT_CHECK_MSG(errp, needle)                                                                 \
    do {                                                                                           \
        if (strstr((errp)->msg, (needle)) == NULL) {                                               \
            fprintf(stderr, "%s:%d: %s: message \"%s\" lacks \"%s\" (seed %llu)\n", __FILE__,      \
                    __LINE__, harness_case, (errp)->msg, (needle),                                 \
                    (unsigned long long)harness_seed);                                             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline void rt_id(uint8_t id[REPL_DBID_BYTES], uint64_t seed) {
    util_fill(id, REPL_DBID_BYTES, seed, 0x1d);
    id[0] |= 1; /* never all zero */
}

/* Decode the frame at buf[*off] (which must be whole and good) and step past it. */
static inline repl_frame rt_frame_at(const arm_buf *buf, size_t *off) {
    repl_frame f;
    size_t used = 0;
    arm_repl_err e = {0, ""};
    RT_CHECK_RC(repl_wire_frame_decode(buf->ptr + *off, buf->len - *off, ARM_REPL_PAYLOAD_MAX, &f,
                                       &used, &e),
                &e, ARM_OK);
    *off += used;
    return f;
}

/* The only frame in buf. */
static inline repl_frame rt_frame_one(const arm_buf *buf) {
    size_t off = 0;
    repl_frame f = rt_frame_at(buf, &off);
    ARM_CHECK(off == buf->len);
    return f;
}

/* Write `content` (n bytes) to dir/name with the given mode; path into out. */
static inline void rt_write_file(const char *dir, const char *name, const void *content, size_t n,
                                 mode_t mode, char *out, size_t out_size) {
    int w = snprintf(out, out_size, "%s/%s", dir, name);
    ARM_CHECK(w > 0 && (size_t)w < out_size);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ARM_CHECK(fd >= 0);
    ARM_CHECK(write(fd, content, n) == (ssize_t)n);
    ARM_CHECK(close(fd) == 0);
    ARM_CHECK(chmod(out, mode) == 0);
}

/* Load a secret from the environment variable ARM_REPL_TEST_SECRET. */
static inline arm_repl_secret *rt_secret(const char *text) {
    arm_repl_secret *s = NULL;
    arm_repl_err e = {0, ""};
    ARM_CHECK(setenv("ARM_REPL_TEST_SECRET", text, 1) == 0);
    RT_CHECK_RC(arm_repl_secret_load(NULL, "ARM_REPL_TEST_SECRET", &s, &e), &e, ARM_OK);
    ARM_CHECK(unsetenv("ARM_REPL_TEST_SECRET") == 0);
    return s;
}

/* A handshake config with default options. */
static inline repl_hs_cfg rt_cfg(uint8_t role, uint64_t id_seed, uint32_t shards,
                                 const arm_repl_secret *secret) {
    arm_repl_options o;
    arm_repl_options_init(&o);
    uint8_t id[REPL_DBID_BYTES];
    rt_id(id, id_seed);
    repl_hs_cfg c;
    repl_hs_cfg_init(&c, role, id, shards, &o, secret);
    return c;
}

/* Result of running two handshakes against each other. */
typedef struct rt_hs_result {
    int f_rc, l_rc; /* last code each side returned */
    arm_repl_err f_err, l_err;
    int rounds;
} rt_hs_result;

/* Frames a pump hands from one side to the other pass through this (may
 * rewrite the bytes in place; return 0 to drop the frame). */
typedef int (*rt_tamper_fn)(void *ctx, int to_leader, arm_buf *frame);

/* Deliver every frame queued in *q to hs (skipping when it is finished). */
static inline int rt_deliver(repl_hs *hs, arm_buf *q, arm_buf *reply, arm_repl_err *err,
                             rt_tamper_fn tamper, void *ctx, int to_leader) {
    size_t off = 0;
    int rc = ARM_OK;
    while (off < q->len && rc == ARM_OK &&
           (hs->state == REPL_HS_HELLO || hs->state == REPL_HS_AUTH)) {
        repl_frame f = rt_frame_at(q, &off);
        arm_buf one = {0};
        ARM_CHECK(repl_wire_frame_append(&one, f.hdr.type, f.hdr.shard, f.payload, f.hdr.len) ==
                  ARM_OK);
        if (tamper == NULL || tamper(ctx, to_leader, &one)) {
            repl_frame g;
            size_t used;
            rc = repl_wire_frame_decode(one.ptr, one.len, ARM_REPL_PAYLOAD_MAX, &g, &used, err);
            if (rc == ARM_OK) rc = repl_hs_on_frame(hs, &g, reply, err);
        }
        arm_buf_free(&one);
    }
    q->len = 0;
    return rc;
}

/* Run follower f and leader l to the end (or 10 rounds). */
static inline rt_hs_result rt_hs_pump(repl_hs *f, const repl_hs_cfg *fc, repl_hs *l,
                                      const repl_hs_cfg *lc, rt_tamper_fn tamper, void *ctx) {
    rt_hs_result r;
    memset(&r, 0, sizeof(r));
    arm_buf to_l = {0}, to_f = {0};
    r.f_rc = repl_hs_start(f, fc, &to_l, &r.f_err);
    r.l_rc = repl_hs_start(l, lc, &to_f, &r.l_err);
    ARM_CHECK(r.f_rc == ARM_OK && r.l_rc == ARM_OK);
    for (r.rounds = 0; r.rounds < 10 && (to_l.len || to_f.len); r.rounds++) {
        if (r.l_rc == ARM_OK) r.l_rc = rt_deliver(l, &to_l, &to_f, &r.l_err, tamper, ctx, 1);
        to_l.len = 0;
        if (r.f_rc == ARM_OK) r.f_rc = rt_deliver(f, &to_f, &to_l, &r.f_err, tamper, ctx, 0);
        to_f.len = 0;
    }
    arm_buf_free(&to_l);
    arm_buf_free(&to_f);
    return r;
}

/* ------------------------------------------------------------ sockets */
/* Parse an address that must parse. */
static inline repl_addr rt_addr(const char *text) {
    repl_addr a;
    arm_repl_err e = {0, ""};
    RT_CHECK_RC(repl_addr_parse(text, &a, &e), &e, ARM_OK);
    return a;
}

/* A listener on 127.0.0.1 with an ephemeral port. */
static inline void rt_listen(repl_listener *l) {
    arm_repl_err e = {0, ""};
    repl_addr a = rt_addr("127.0.0.1:0");
    RT_CHECK_RC(repl_listen(&a, l, &e), &e, ARM_OK);
    ARM_CHECK(repl_addr_port(&l->bound) != 0);
}

/* Two connected TCP sockets over loopback (non-blocking). */
static inline void rt_tcp_pair(int *a, int *b) {
    repl_listener l;
    arm_repl_err e = {0, ""};
    rt_listen(&l);
    RT_CHECK_RC(repl_connect(&l.bound, -1, 2000, a, &e), &e, ARM_OK);
    RT_CHECK_RC(repl_accept(&l, -1, 2000, b, NULL, &e), &e, ARM_OK);
    repl_listener_close(&l);
}

/* Two framed connections joined over loopback. */
static inline void rt_conn_pair(repl_conn *a, repl_conn *b, int wake_fd, uint32_t payload_max) {
    int fa, fb;
    arm_repl_err e = {0, ""};
    rt_tcp_pair(&fa, &fb);
    RT_CHECK_RC(repl_conn_open(a, fa, wake_fd, payload_max, &e), &e, ARM_OK);
    RT_CHECK_RC(repl_conn_open(b, fb, wake_fd, payload_max, &e), &e, ARM_OK);
    a->send_max = b->send_max = payload_max;
}

/* ------------------------------------------------- leaders and followers */
/* Sanitizer builds run several times slower: deadlines that a test must
 * meet (not ones it waits out) are multiplied by this. */
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define RT_TIME_FACTOR 4
#else
#define RT_TIME_FACTOR 1
#endif

/* Wait at most ms milliseconds for cond (polled every 2 ms); 1 when it held. */
#define RT_WAIT(ms, cond)                                                                          \
    ({                                                                                             \
        uint64_t rt_end_ = util_now_ms() + (uint64_t)(ms);                                         \
        int rt_ok_;                                                                                \
        while (!(rt_ok_ = !!(cond)) && util_now_ms() < rt_end_)                                    \
            usleep(2000);                                                                          \
        rt_ok_;                                                                                    \
    })

/* Engine options for replication tests: 4 MiB files (a follower's 1 MiB
 * applies fit), sync off (recent commits stay in the write buffer),
 * `shards` shards. */
static inline void rt_engine_opts(arm_engine_options *o, uint32_t shards) {
    arm_engine_options_init(o);
    o->shard_count = shards;
    o->max_file_size = 4u << 20;
    o->max_value_size = 64 * 1024;
    o->write_buffer_size = 64 * 1024;
    o->sync_mode = ARM_SYNC_OFF;
}

/* Replication options with short clocks, so failures and reconnects take
 * milliseconds. */
static inline void rt_repl_opts(arm_repl_options *o) {
    arm_repl_options_init(o);
    o->heartbeat_ms = 100;
    o->peer_timeout_ms = 1500;
    o->connect_timeout_ms = 1000;
    o->backoff_base_ms = 10;
    o->backoff_max_ms = 100;
}

static inline arm_repl_leader *rt_serve(arm_engine *e, const arm_repl_options *o) {
    arm_repl_leader *l = NULL;
    arm_repl_err err = {0, ""};
    RT_CHECK_RC(arm_repl_serve(e, "127.0.0.1:0", o, &l, &err), &err, ARM_OK);
    ARM_CHECK(l != NULL);
    return l;
}

static inline arm_repl_follower *rt_follow(arm_engine *e, const char *addr,
                                           const arm_repl_options *o) {
    arm_repl_follower *f = NULL;
    arm_repl_err err = {0, ""};
    RT_CHECK_RC(arm_repl_follow(e, addr, o, &f, &err), &err, ARM_OK);
    ARM_CHECK(f != NULL);
    return f;
}

/* Both status reports on stderr (for a failure's post-mortem). */
static inline void rt_dump(arm_repl_leader *l, arm_repl_follower *f) {
    arm_buf b = {0};
    if (l && arm_repl_leader_status_json(l, &b) == ARM_OK)
        fprintf(stderr, "leader status: %s\n", (const char *)b.ptr);
    if (f && arm_repl_follower_status_json(f, &b) == ARM_OK)
        fprintf(stderr, "follower status: %s\n", (const char *)b.ptr);
    arm_buf_free(&b);
}

/* The follower's engine must come to equal the leader's within timeout_ms
 * (compared key by key once the counts agree). */
static inline void rt_wait_equal_at(const char *file, int line, arm_engine *l, arm_engine *f,
                                    arm_repl_leader *ld, arm_repl_follower *fw, int timeout_ms) {
    char why[256] = "counts differ";
    uint64_t end = util_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        if (arm_engine_count(l) == arm_engine_count(f) && util_engines_equal(l, f, why, sizeof why))
            return;
        if (util_now_ms() >= end) break;
        usleep(5000);
    }
    fprintf(stderr,
            "%s:%d: %s: the follower did not catch up in %d ms: %llu keys vs %llu: %s "
            "(seed %llu)\n",
            file, line, harness_case, timeout_ms, (unsigned long long)arm_engine_count(l),
            (unsigned long long)arm_engine_count(f), why, (unsigned long long)harness_seed);
    rt_dump(ld, fw);
    exit(1);
}
#define rt_wait_equal(l, f, ld, fw, ms)                                                            \
    rt_wait_equal_at(__FILE__, __LINE__, (l), (f), (ld), (fw), (ms))

static inline arm_repl_follower_stats rt_fstats(arm_repl_follower *f) {
    arm_repl_follower_stats st;
    arm_repl_follower_stats_get(f, &st);
    return st;
}

static inline arm_repl_leader_stats rt_lstats(arm_repl_leader *l) {
    arm_repl_leader_stats st;
    arm_repl_leader_stats_get(l, &st);
    return st;
}

/* Key "k%08llu" with value "<tag>-<i>" padded to vlen bytes (>= 24). */
static inline void rt_put_i(arm_engine *e, uint64_t i, const char *tag, size_t vlen) {
    char k[24], v[4096];
    ARM_CHECK(vlen >= 24 && vlen <= sizeof v);
    int kl = snprintf(k, sizeof k, "k%08llu", (unsigned long long)i);
    int n = snprintf(v, sizeof v, "%s-%llu-", tag, (unsigned long long)i);
    memset(v + n, 'a' + (int)(i % 26), vlen - (size_t)n);
    UTIL_CHECK_RC(e, arm_engine_put(e, arm_slice_make(k, (size_t)kl), arm_slice_make(v, vlen)),
                  ARM_OK);
}

/* The status report must be well-formed JSON. */
static inline void rt_check_json(const arm_buf *b) {
    if (!util_json_valid((const char *)b->ptr, b->len)) {
        fprintf(stderr, "%s: status is not valid JSON: %s (seed %llu)\n", harness_case,
                (const char *)b->ptr, (unsigned long long)harness_seed);
        exit(1);
    }
    ARM_CHECK(b->ptr[b->len] == '\0');
}

#endif /* ARM_REPL_TEST_H */
