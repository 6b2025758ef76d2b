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
#define RT_CHECK_RC(call, errp, want) do { int rrc_ = (call); if (rrc_ != (want)) { \
    fprintf(stderr, "%s:%d: %s: %s returned %s, expected %s: \"%s\" (seed %llu)\n", __FILE__, \
            __LINE__, harness_case, #call, arm_rc_str(rrc_), arm_rc_str(want), (errp)->msg, \
            (unsigned long long)harness_seed); exit(1); } } while (0)

/* The message holds `needle` (case-sensitive). */
#define RT_CHECK_MSG(errp, needle) do { if (strstr((errp)->msg, (needle)) == NULL) { \
    fprintf(stderr, "%s:%d: %s: message \"%s\" lacks \"%s\" (seed %llu)\n", __FILE__, __LINE__, \
            harness_case, (errp)->msg, (needle), (unsigned long long)harness_seed); exit(1); } \
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
                                       &used, &e), &e, ARM_OK);
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

#endif /* ARM_REPL_TEST_H */
