/* SPDX-License-Identifier: MIT */
/*
 * arm_rc.c: result-code names and the error breakpoint. Layer: common.
 */
#include "arm_base.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

const char *arm_rc_str(int rc) {
    if (rc == ARM_BUSY_SNAPSHOT) return "ARM_BUSY_SNAPSHOT";
    if (rc == ARM_IOERR_FSYNC) return "ARM_IOERR_FSYNC";
    switch (ARM_RC_PRIMARY(rc)) {
    case ARM_OK: return "ARM_OK";
    case ARM_ERROR: return "ARM_ERROR";
    case ARM_BUSY: return "ARM_BUSY";
    case ARM_NOMEM: return "ARM_NOMEM";
    case ARM_READONLY: return "ARM_READONLY";
    case ARM_IOERR: return "ARM_IOERR";
    case ARM_CORRUPT: return "ARM_CORRUPT";
    case ARM_NOTFOUND: return "ARM_NOTFOUND";
    case ARM_FULL: return "ARM_FULL";
    case ARM_PROTOCOL: return "ARM_PROTOCOL";
    case ARM_TOOBIG: return "ARM_TOOBIG";
    case ARM_CONSTRAINT: return "ARM_CONSTRAINT";
    case ARM_MISUSE: return "ARM_MISUSE";
    case ARM_AUTH: return "ARM_AUTH";
    case ARM_RANGE: return "ARM_RANGE";
    case ARM_CLOSED: return "ARM_CLOSED";
    case ARM_PANIC: return "ARM_PANIC";
    default: return "ARM_UNKNOWN";
    }
}

/* Set ARMDB_DEBUG_ERRORS=1 to log every raised error with its origin. The
 * flag is read from the environment once, by whichever thread raises first:
 * an atomic: background threads (sync, hints, replication sessions) raise too. */
int arm_error_bkpt(int rc, const char *file, int line) {
    static _Atomic int verbose = -1;
    int v = atomic_load_explicit(&verbose, memory_order_relaxed);
    if (v < 0) {
        const char *env = getenv("ARMDB_DEBUG_ERRORS");
        v = env != NULL && env[0] == '1';
        atomic_store_explicit(&verbose, v, memory_order_relaxed);
    }
    if (v) fprintf(stderr, "armdb: %s at %s:%d\n", arm_rc_str(rc), file, line);
    return rc;
}
