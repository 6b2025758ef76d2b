/* SPDX-License-Identifier: MIT */
/*
 * repl_status.c: the JSON text of replication status reports (what
 * arm_repl_leader_status_json and arm_repl_follower_status_json return, and
 * what SQL's armdb_repl_status will show). A small append-only writer with a
 * sticky out-of-memory error, so the callers lay the report out in one pass
 * without checking every append; strings are escaped so any message (a path
 * with odd bytes, an OS error) still gives well-formed JSON. Layer: repl.
 */
#include "repl_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void repl_json_begin(repl_json *j, arm_buf *b) {
    assert(b != NULL);
    j->b = b;
    b->len = 0;
    j->rc = arm_buf_reserve(b, 1024);
    if (j->rc == ARM_OK) b->ptr[0] = '\0';
}

/* Room for n more bytes and the NUL. */
static int rs_room(repl_json *j, size_t n) {
    if (j->rc != ARM_OK) return 0;
    arm_buf *b = j->b;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        j->rc = arm_buf_reserve(b, cap);
        if (j->rc != ARM_OK) return 0;
    }
    return 1;
}

static void rs_put(repl_json *j, const char *p, size_t n) {
    if (!rs_room(j, n)) return;
    memcpy(j->b->ptr + j->b->len, p, n);
    j->b->len += n;
    j->b->ptr[j->b->len] = '\0';
}

void repl_json_raw(repl_json *j, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        if (j->rc == ARM_OK) j->rc = ARM_ERR(ARM_ERROR);
        return;
    }
    if ((size_t)n < sizeof(small)) {
        rs_put(j, small, (size_t)n);
        return;
    }
    if (!rs_room(j, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf((char *)j->b->ptr + j->b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    j->b->len += (size_t)n;
}

void repl_json_str(repl_json *j, const char *s) {
    static const char hx[] = "0123456789abcdef";
    if (s == NULL) {
        rs_put(j, "null", 4);
        return;
    }
    rs_put(j, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[6];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\', esc[1] = (char)*p;
            rs_put(j, esc, 2);
        } else if (*p < 0x20 || *p >= 0x7f) { /* JSON text must be valid UTF-8: escape it all */
            memcpy(esc, "\\u00", 4);
            esc[4] = hx[*p >> 4], esc[5] = hx[*p & 15];
            rs_put(j, esc, 6);
        } else {
            rs_put(j, (const char *)p, 1);
        }
    }
    rs_put(j, "\"", 1);
}

void repl_json_hex(repl_json *j, const uint8_t *p, size_t n) {
    static const char hx[] = "0123456789abcdef";
    rs_put(j, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        char two[2] = {hx[p[i] >> 4], hx[p[i] & 15]};
        rs_put(j, two, 2);
    }
    rs_put(j, "\"", 1);
}

void repl_json_pos(repl_json *j, const arm_repl_pos *pos) {
    repl_json_raw(j, "{\"seq\":%llu,\"fid\":%u,\"off\":%llu,\"len\":%u}",
                  (unsigned long long)pos->seq, pos->fid, (unsigned long long)pos->off, pos->len);
}

void repl_json_err(repl_json *j, const arm_repl_err *e) {
    if (e->rc == ARM_OK) {
        rs_put(j, "null", 4);
        return;
    }
    repl_json_raw(j, "{\"code\":");
    repl_json_str(j, arm_rc_str(e->rc));
    repl_json_raw(j, ",\"message\":");
    repl_json_str(j, e->msg);
    rs_put(j, "}", 1);
}

int repl_json_end(repl_json *j) {
    if (j->rc != ARM_OK) j->b->len = 0;
    return j->rc;
}
