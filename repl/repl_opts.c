/* SPDX-License-Identifier: MIT */
/*
 * repl_opts.c: the small pieces every replication file shares: the options
 * (defaults and bounds), error reports (arm_repl_err), and the order of log
 * positions. Layer: repl.
 */
#include "repl_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int repl_err_set(arm_repl_err *err, int rc, const char *fmt, ...) {
    if (err == NULL) return rc;
    va_list ap;
    va_start(ap, fmt);
    err->rc = rc;
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0) err->msg[0] = '\0';
    return rc;
}

int arm_repl_pos_cmp(const arm_repl_pos *a, const arm_repl_pos *b) {
    assert(a != NULL);
    assert(b != NULL);
    if (a->fid != b->fid) return a->fid < b->fid ? -1 : 1;
    if (a->off != b->off) return a->off < b->off ? -1 : 1;
    return 0;
}

/* ------------------------------------------------------------- options */
void arm_repl_options_init(arm_repl_options *opts) {
    assert(opts != NULL);
    memset(opts, 0, sizeof(*opts));
    opts->max_followers = 8;
    opts->heartbeat_ms = 1000;
    opts->peer_timeout_ms = 5000;
    opts->connect_timeout_ms = 3000;
    opts->backoff_base_ms = 100;
    opts->backoff_max_ms = 10000;
    opts->payload_max = 1024u * 1024;
    opts->txn_max = ARM_REPL_TXN_MAX;
}

/* One bound check: value in [lo, hi], or ARM_RANGE naming the option. */
static int ro_range(arm_repl_err *err, const char *name, uint64_t v, uint64_t lo, uint64_t hi) {
    if (v >= lo && v <= hi) return ARM_OK;
    return REPL_ERR(err, ARM_RANGE, "replication option %s=%llu is out of range (%llu..%llu)", name,
                    (unsigned long long)v, (unsigned long long)lo, (unsigned long long)hi);
}

int arm_repl_options_check(const arm_repl_options *o, arm_repl_err *err) {
    assert(o != NULL);
    int rc = ro_range(err, "max_followers", o->max_followers, 1, ARM_REPL_FOLLOWERS_MAX);
    if (rc == ARM_OK)
        rc = ro_range(err, "heartbeat_ms", o->heartbeat_ms, 1, ARM_REPL_TIMEOUT_MAX_MS);
    if (rc == ARM_OK)
        rc = ro_range(err, "peer_timeout_ms", o->peer_timeout_ms, 2ull * o->heartbeat_ms + 1,
                      ARM_REPL_TIMEOUT_MAX_MS);
    if (rc == ARM_OK)
        rc = ro_range(err, "connect_timeout_ms", o->connect_timeout_ms, 1, ARM_REPL_TIMEOUT_MAX_MS);
    if (rc == ARM_OK)
        rc = ro_range(err, "backoff_base_ms", o->backoff_base_ms, 1, ARM_REPL_TIMEOUT_MAX_MS);
    if (rc == ARM_OK)
        rc = ro_range(err, "backoff_max_ms", o->backoff_max_ms, o->backoff_base_ms,
                      ARM_REPL_TIMEOUT_MAX_MS);
    if (rc == ARM_OK)
        rc = ro_range(err, "payload_max", o->payload_max, ARM_REPL_PAYLOAD_MIN,
                      ARM_REPL_PAYLOAD_MAX);
    if (rc == ARM_OK) rc = ro_range(err, "txn_max", o->txn_max, REPL_TXN_MIN, ARM_REPL_TXN_MAX);
    if (rc == ARM_OK && o->secret_file != NULL && o->secret_env != NULL)
        rc = REPL_ERR(err, ARM_MISUSE,
                      "replication secret: give secret_file or secret_env, not both");
    return rc;
}
