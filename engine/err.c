/* SPDX-License-Identifier: MIT */
/*
 * err.c: the engine's error reporting: the calling thread's last message and
 * errno (arm_engine_errmsg, arm_engine_errno), set through
 * arm_engine_seterr by every engine file. Layer: engine, a leaf: it calls
 * nothing else in the engine, so every layer may report through it.
 */
#include "engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[ARM_ERRMSG_MAX];
static _Thread_local int err_errno;

int arm_engine_seterr(int rc, int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    if (err && n >= 0 && (size_t)n < sizeof(err_msg))
        snprintf(err_msg + n, sizeof(err_msg) - (size_t)n, ": %s", strerror(err));
    err_errno = err;
    return rc;
}

void arm_engine_clearerr(void) {
    err_msg[0] = '\0';
    err_errno = 0;
}

void arm_engine_saveerr(char msg[ARM_ERRMSG_MAX], int *err) {
    memcpy(msg, err_msg, ARM_ERRMSG_MAX);
    *err = err_errno;
}

void arm_engine_restoreerr(const char msg[ARM_ERRMSG_MAX], int err) {
    memcpy(err_msg, msg, ARM_ERRMSG_MAX);
    err_errno = err;
}

const char *arm_engine_errmsg(const arm_engine *e) {
    (void)e;
    return err_msg;
}

int arm_engine_errno(const arm_engine *e) {
    (void)e;
    return err_errno;
}
