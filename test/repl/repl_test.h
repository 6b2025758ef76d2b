/* SPDX-License-Identifier: MIT */
/*
 * repl_test.h: helpers shared by the replication test programs (static, so
 * each program compiles what it uses): loopback socket pairs, framed
 * connection pairs, decoding the one frame in a buffer, secrets in files and
 * variables, database ids, and a pump that runs two handshake state machines
 * against each other. Include after harness.h (failures name the test case
 * and seed). Test builds only (-DARM_TEST).
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

#endif /* ARM_REPL_TEST_H */
