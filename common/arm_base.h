/* SPDX-License-Identifier: MIT */
/*
 * arm_base.h: the base every armdb layer shares: result codes, slices and
 * growable buffers, assertion and error-raising macros, export markers.
 * Layer: common (libc only). Result codes equal SQLite's primary codes where
 * one exists, so ext/ can pass most of them through (checked there with
 * _Static_assert); the engine itself never includes SQLite.
 */
#ifndef ARM_BASE_H
#define ARM_BASE_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- exports */
#if defined(__GNUC__)
#define ARM_API         __attribute__((visibility("default")))
#define ARM_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define ARM_API
#define ARM_WARN_UNUSED
#endif
#ifndef ARM_PRIVATE
#define ARM_PRIVATE
#endif

/* ----------------------------------------------------------- result codes */
enum {
    ARM_OK = 0,
    ARM_ERROR = 1,       /* generic failure; see errmsg */
    ARM_BUSY = 5,        /* directory locked by another process; a key held by a prepared
                            transaction */
    ARM_NOMEM = 7,       /* allocation failed */
    ARM_READONLY = 8,    /* write to an engine opened read-only */
    ARM_IOERR = 10,      /* the OS refused a read, write or sync */
    ARM_CORRUPT = 11,    /* a checksum or structure check failed */
    ARM_NOTFOUND = 12,   /* normal result: no such key (never passed to SQLite) */
    ARM_FULL = 13,       /* disk full, or a batch larger than a data file */
    ARM_PROTOCOL = 15,   /* malformed replication frame */
    ARM_TOOBIG = 18,     /* key or value over its configured maximum */
    ARM_CONSTRAINT = 19, /* compare-and-swap: current value differs */
    ARM_MISUSE = 21,     /* API used wrongly */
    ARM_AUTH = 23,       /* authentication failed (or wrong encryption key) */
    ARM_RANGE = 25,      /* argument out of range (bad option value) */
    ARM_CLOSED = 64,     /* handle is closing */
    ARM_PANIC = 65,      /* a log write or fsync failed: writes refused until reopen */
};
/* Extended codes keep the primary code in the low byte. */
#define ARM_IOERR_FSYNC (ARM_IOERR | (1 << 8))
/* A transaction conflicted with one published after its snapshot (the same
 * value as SQLITE_BUSY_SNAPSHOT). */
#define ARM_BUSY_SNAPSHOT (ARM_BUSY | (2 << 8))
#define ARM_RC_PRIMARY(rc) ((rc) & 0xff)

/* Human-readable name of a result code ("ARM_OK", ...). Never NULL. */
const char *arm_rc_str(int rc);

/* Debug builds route every raised error through arm_error_bkpt, a place for a
 * breakpoint (gdb: `break arm_error_bkpt`). Release builds compile it away. */
int arm_error_bkpt(int rc, const char *file, int line);
#ifdef NDEBUG
#define ARM_ERR(rc) (rc)
#else
#define ARM_ERR(rc) arm_error_bkpt((rc), __FILE__, __LINE__)
#endif

/* Defensive checks that must not crash release builds (SQLite ALWAYS/NEVER). */
#ifdef NDEBUG
#define ARM_ALWAYS(x) (x)
#define ARM_NEVER(x)  (x)
#else
#define ARM_ALWAYS(x) ((x) ? 1 : (assert(0), 0))
#define ARM_NEVER(x)  ((x) ? (assert(0), 1) : 0)
#endif

#define ARM_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ARM_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ------------------------------------------------------- slices, buffers */
/* A borrowed byte range. */
typedef struct arm_slice {
    const uint8_t *ptr;
    size_t len;
} arm_slice;

/* A growable byte buffer owned by the caller. The engine grows it with
 * arm_realloc when a result does not fit, so a reused buffer makes repeated
 * reads allocation-free. Release with arm_buf_free. */
typedef struct arm_buf {
    uint8_t *ptr;
    size_t len; /* bytes of valid data */
    size_t cap; /* bytes allocated */
} arm_buf;

/* Make sure buf can hold n bytes (len is unchanged). ARM_OK or ARM_NOMEM. */
ARM_WARN_UNUSED int arm_buf_reserve(arm_buf *buf, size_t n);
/* Free the buffer's memory and zero it. NULL is allowed. */
void arm_buf_free(arm_buf *buf);

static inline arm_slice arm_slice_make(const void *p, size_t n) {
    arm_slice s;
    s.ptr = (const uint8_t *)p;
    s.len = n;
    return s;
}

#endif /* ARM_BASE_H */
