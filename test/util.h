/* SPDX-License-Identifier: MIT */
/*
 * util.h: support code shared by the engine test programs (linked into every
 * test binary by the Makefile). Plain helpers that return values; the checks
 * (ARM_CHECK) stay in the test programs so failures name the test case and
 * seed. Nothing here knows engine internals: on-disk parsing follows the
 * documented format in ARCHITECTURE.md.
 */
#ifndef ARM_TEST_UTIL_H
#define ARM_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Scale factor for sizes and rounds: env ARM_TEST_SCALE (default 1, >= 1). */
int util_scale(void);

/* 1 when the test case `name` should run: env ARM_TEST_CASE unset, or a
 * substring of name. Lets one case be run alone while debugging. */
int util_case_enabled(const char *name);
/* Run a case through ARM_TEST when enabled. */
#define UTIL_CASE(name, call) do { if (util_case_enabled(name)) ARM_TEST(name) call; } while (0)

/* Make a fresh directory under $TMPDIR (or /tmp) into buf (size >= 256);
 * returns buf, or NULL on failure. */
char *util_tmpdir(char *buf, size_t size, const char *tag);
/* Remove a directory tree. 0 on success. NULL allowed (no-op). */
int util_rmrf(const char *path);

/* At exit of this process (not of forked children), remove the directory
 * whose name is in the buffer at `path` (read at exit time; the buffer must
 * stay valid). Kept when env ARM_TEST_KEEP=1, for post-mortems. */
void util_rmrf_at_exit(const char *path);

/* Monotonic clock in milliseconds. */
uint64_t util_now_ms(void);

/* Deterministic PRNG state for code that must not share harness_rand
 * (threads, forked children). */
typedef struct util_rng {
    uint64_t s;
} util_rng;
void util_rng_seed(util_rng *r, uint64_t seed);
uint64_t util_rng_next(util_rng *r);
/* Uniform in [0, n) (n > 0). */
uint64_t util_rng_below(util_rng *r, uint64_t n);

/* Fill buf with n bytes derived from (a, b): the same pair always gives the
 * same bytes. */
void util_fill(uint8_t *buf, size_t n, uint64_t a, uint64_t b);
/* 64-bit mix of a byte string (FNV-1a + finalizer); not the engine's hash. */
uint64_t util_hash(const void *p, size_t n);

/* ------------------------------------------------------------ files */
/* One data file found in a database directory. */
typedef struct util_logfile {
    char path[512];
    uint32_t shard; /* from the directory name shard-NNN */
    uint32_t fid;   /* from the file name FFFFFFFF.log */
    uint64_t size;  /* bytes */
} util_logfile;

/* List every shard-NNN/FFFFFFFF.log under dir, sorted by fid. Returns the
 * number found (up to max written into out), or -1 on error. */
int util_list_logs(const char *dir, util_logfile *out, int max);
/* Newest (highest fid) log of one shard; 0 on success, -1 if none. */
int util_newest_log(const char *dir, uint32_t shard, util_logfile *out);
/* Size of a file, or -1. */
int64_t util_file_size(const char *path);
/* Bytes of the regular files in dir and its subdirectories (one level: a
 * database's shard directories), and how many of them end in suffix (NULL:
 * none counted) into *count_out (may be NULL). -1 when dir cannot be read. */
int64_t util_dir_bytes(const char *dir, const char *suffix, int *count_out);
/* Hint files (shard-NNN/FFFFFFFF.hint) of a database whose data file is
 * gone: the count, the first one's path into first (size bytes; may be
 * NULL). -1 when dir or a shard directory cannot be read. */
int util_orphan_hints(const char *db, char *first, size_t size);
/* Read a whole file into a malloc'd buffer (*len_out set); NULL on error. */
uint8_t *util_read_file(const char *path, size_t *len_out);
/* Truncate path to len bytes. 0 on success. */
int util_truncate(const char *path, uint64_t len);
/* Flip bit `bit` (0..7) of the byte at off. 0 on success. */
int util_flip_bit(const char *path, uint64_t off, int bit);
/* Append n bytes of value `byte`. 0 on success. */
int util_append_bytes(const char *path, size_t n, uint8_t byte);
/* Copy a regular file. 0 on success. */
int util_copy_file(const char *from, const char *to);
/* Copy every regular file of a database directory (ARMDB, shard dirs) into
 * a new directory `to` (created). LOCK is skipped. 0 on success. */
int util_copy_db(const char *from, const char *to);

/* 1 when this process has a mapping of the file at path (/proc/self/maps). */
int util_mapped(const char *path);
/* Number of this process's fds open on the file at path (/proc/self/fd). */
int util_fds_on(const char *path);

/* ------------------------------------------------ documented log format */
#define UTIL_FILE_HDR 64u
#define UTIL_ENTRY_HDR 20u
#define UTIL_T_PUT 1
#define UTIL_T_DEL 2
#define UTIL_T_TXNINFO 3
#define UTIL_T_DECISION 4
#define UTIL_T_REPL_POS 5
#define UTIL_F_TXN 1
#define UTIL_F_TXN_END 2

/* One parsed entry of a data file. */
typedef struct util_entry {
    uint64_t off;  /* offset of the entry header in the file */
    uint32_t len;  /* header + key + value */
    uint8_t type;  /* UTIL_T_* */
    uint8_t flags; /* UTIL_F_* */
    uint16_t klen;
    uint32_t vlen;
    uint64_t seq;
    uint64_t key_off; /* offset of the key bytes in the file */
} util_entry;

/* Parse a data file by the documented format: validates the 64-byte header
 * checksum (returns -2 if bad), then walks entries until the first that is
 * incomplete or fails its checksum. Fills up to max entries; returns the
 * count of valid entries (which may exceed max: only max are stored), or -1
 * on I/O error. *end_out (may be NULL) gets the offset just past the last
 * valid entry. */
int util_parse_log(const char *path, util_entry *out, int max, uint64_t *end_out);

/* Build an entry the way the format says, into buf (size >= 20+klen+vlen).
 * Returns the entry length. Used to check the format against the engine. */
size_t util_build_entry(uint8_t *buf, uint8_t type, uint8_t flags, uint64_t seq,
                        const uint8_t *key, uint16_t klen, const uint8_t *val, uint32_t vlen);

/* ------------------------------------------------ documented hint format */
#define UTIL_HINT_HDR 64u
#define UTIL_HINT_REC 20u
#define UTIL_HINT_FOOT 24u

/* One record of a hint file. */
typedef struct util_hint_rec {
    uint8_t type, flags;
    uint16_t klen;
    uint32_t off, vlen;
    uint64_t seq;
    uint64_t key_off; /* offset of the key bytes in the hint file; the value follows
                         them when the record carries it (TXNINFO, DECISION, REPL_POS) */
} util_hint_rec;

/* The hint file beside a data file: "…/FFFFFFFF.log" -> "…/FFFFFFFF.hint". */
void util_hint_path(char *out, size_t n, const char *log_path);
/* Parse a hint file by the documented format (ARCHITECTURE.md): header frame
 * checksum, footer magic, count and whole-file checksum; a record is 20
 * bytes, the key, and the whole value for any type but PUT and DELETE. Fills up to max
 * records; returns the record count, -1 on I/O error, -2 when a checksum,
 * magic or the count is wrong. *log_size_out (may be NULL) gets the header's
 * log_size. */
int util_parse_hint(const char *path, util_hint_rec *out, int max, uint64_t *log_size_out);
/* Recompute a hint file's header and footer checksums in place (to forge a
 * hint that says something else and is otherwise well formed). 0 on success. */
int util_reseal_hint(const char *path);

/* ---------------------------------------------------------- key model */
/* A reference map of byte keys to byte values (a sorted array; fine for the
 * sizes tests use). */
typedef struct util_kv {
    uint8_t *key;
    size_t klen;
    uint8_t *val;
    size_t vlen;
} util_kv;
typedef struct util_model {
    util_kv *items;
    size_t n, cap;
} util_model;

void util_model_init(util_model *m);
void util_model_free(util_model *m);
/* Copy *src into *dst (dst freed first). */
void util_model_copy(util_model *dst, const util_model *src);
void util_model_put(util_model *m, const void *k, size_t klen, const void *v, size_t vlen);
/* 1 if deleted, 0 if absent. */
int util_model_del(util_model *m, const void *k, size_t klen);
/* Item or NULL. */
const util_kv *util_model_get(const util_model *m, const void *k, size_t klen);
/* Index of first key >= k (0..n). */
size_t util_model_lower(const util_model *m, const void *k, size_t klen);
/* memcmp order, shorter first on a tie: the engine's cursor order. */
int util_keycmp(const void *a, size_t alen, const void *b, size_t blen);

/* ---------------------------------------------------------------- JSON */
/* 1 when text[0..len) is one well-formed JSON value (RFC 8259; strings must
 * be ASCII with escapes), surrounded by nothing but white space. */
int util_json_valid(const char *text, size_t len);
/* The value of the first "key": in text, copied into out (size bytes,
 * NUL-terminated, cut to fit): a number, string (with its quotes), object
 * or array as written. Returns a pointer into text at the value, or NULL
 * when the key is not there. For checks on status reports, not a parser. */
const char *util_json_find(const char *text, const char *key, char *out, size_t size);

/* ------------------------------------------- checking helpers (inline) */
/* Available when harness.h and arm_engine.h are included before util.h, so
 * failures report the caller's test case and seed. */
#if defined(ARM_HARNESS_H) && defined(ARM_ENGINE_H)
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define UTIL_S(str) arm_slice_make((str), strlen(str))

/* Print the engine's message when a call returns an unexpected code. */
#define UTIL_CHECK_RC(eng, call, want) do { int urc_ = (call); if (urc_ != (want)) { \
    fprintf(stderr, "%s:%d: %s: %s returned %s, expected %s: errmsg \"%s\" (seed %llu)\n", \
            __FILE__, __LINE__, harness_case, #call, arm_rc_str(urc_), arm_rc_str(want), \
            arm_engine_errmsg(eng), (unsigned long long)harness_seed); exit(1); } } while (0)

static inline arm_engine *util_open_ok(const char *dir, const arm_engine_options *o) {
    arm_engine *e = NULL;
    int rc = arm_engine_open(dir, o, &e);
    if (rc != ARM_OK) {
        fprintf(stderr, "%s: arm_engine_open(%s) returned %s: \"%s\" (seed %llu)\n", harness_case,
                dir, arm_rc_str(rc), arm_engine_errmsg(NULL), (unsigned long long)harness_seed);
        exit(1);
    }
    ARM_CHECK(e != NULL);
    return e;
}

static inline void util_close_ok(arm_engine *e) { ARM_CHECK_RC(arm_engine_close(e), ARM_OK); }

static inline void util_put_ok(arm_engine *e, const void *k, size_t kl, const void *v, size_t vl) {
    UTIL_CHECK_RC(e, arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl)), ARM_OK);
}

/* The key must be present with exactly this value. */
static inline void util_expect_at(const char *file, int line, arm_engine *e, const void *k,
                                  size_t kl, const void *v, size_t vl) {
    arm_buf b = {0};
    int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
    if (rc != ARM_OK || b.len != vl || (vl && memcmp(b.ptr, v, vl) != 0)) {
        fprintf(stderr, "%s:%d: %s: get of key '%.*s' (%zu bytes): rc %s len %zu, expected ARM_OK "
                "len %zu%s: errmsg \"%s\" (seed %llu)\n", file, line, harness_case,
                (int)(kl > 40 ? 40 : kl), (const char *)k, kl, arm_rc_str(rc), b.len, vl,
                rc == ARM_OK && b.len == vl ? " (bytes differ)" : "", arm_engine_errmsg(e),
                (unsigned long long)harness_seed);
        exit(1);
    }
    arm_buf_free(&b);
}
#define util_expect(e, k, kl, v, vl) util_expect_at(__FILE__, __LINE__, (e), (k), (kl), (v), (vl))

/* The key must be absent. */
static inline void util_expect_missing_at(const char *file, int line, arm_engine *e, const void *k,
                                          size_t kl) {
    arm_buf b = {0};
    int rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
    if (rc != ARM_NOTFOUND) {
        fprintf(stderr, "%s:%d: %s: get of key '%.*s' returned %s (len %zu), expected ARM_NOTFOUND"
                " (seed %llu)\n", file, line, harness_case, (int)(kl > 40 ? 40 : kl),
                (const char *)k, arm_rc_str(rc), b.len, (unsigned long long)harness_seed);
        exit(1);
    }
    arm_buf_free(&b);
}
#define util_expect_missing(e, k, kl) util_expect_missing_at(__FILE__, __LINE__, (e), (k), (kl))

/* Every key of the model present with its value, and count equal. */
static inline void util_expect_model_at(const char *file, int line, arm_engine *e,
                                        const util_model *m) {
    for (size_t i = 0; i < m->n; i++)
        util_expect_at(file, line, e, m->items[i].key, m->items[i].klen, m->items[i].val,
                       m->items[i].vlen);
    uint64_t c = arm_engine_count(e);
    if (c != m->n) {
        fprintf(stderr, "%s:%d: %s: arm_engine_count = %llu, model has %zu (seed %llu)\n", file,
                line, harness_case, (unsigned long long)c, m->n, (unsigned long long)harness_seed);
        exit(1);
    }
}
#define util_expect_model(e, m) util_expect_model_at(__FILE__, __LINE__, (e), (m))

/* arm_engine_check finds no problem. */
static inline void util_check_clean_at(const char *file, int line, arm_engine *e) {
    uint64_t problems = 1;
    UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
    if (problems != 0) {
        fprintf(stderr, "%s:%d: %s: arm_engine_check found %llu problems (seed %llu)\n", file,
                line, harness_case, (unsigned long long)problems, (unsigned long long)harness_seed);
        exit(1);
    }
}
#define util_check_clean(e) util_check_clean_at(__FILE__, __LINE__, (e))

/* The engine's content, through a cursor, into m (freed and refilled). */
static inline void util_engine_model(arm_engine *e, util_model *m) {
    util_model_free(m);
    util_model_init(m);
    arm_cursor *c = NULL;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
        arm_slice k = arm_engine_cursor_key(c), v;
        ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
        util_model_put(m, k.ptr, k.len, v.ptr, v.len);
    }
    arm_engine_cursor_close(c);
}

/* 1 when two engines (ordered indexes) hold the same keys and values: both
 * walked by cursors side by side, nothing copied. When they differ and
 * `why` is not NULL, a line saying where goes into it (size bytes). */
static inline int util_engines_equal(arm_engine *a, arm_engine *b, char *why, size_t size) {
    arm_cursor *ca = NULL, *cb = NULL;
    UTIL_CHECK_RC(a, arm_engine_cursor_open(a, NULL, &ca), ARM_OK);
    UTIL_CHECK_RC(b, arm_engine_cursor_open(b, NULL, &cb), ARM_OK);
    int ra = arm_engine_cursor_first(ca), rb = arm_engine_cursor_first(cb), same = 1;
    uint64_t n = 0;
    for (; same && ra == ARM_OK && rb == ARM_OK; n++) {
        arm_slice ka = arm_engine_cursor_key(ca), kb = arm_engine_cursor_key(cb), va, vb;
        ARM_CHECK_RC(arm_engine_cursor_value(ca, &va), ARM_OK);
        ARM_CHECK_RC(arm_engine_cursor_value(cb, &vb), ARM_OK);
        same = ka.len == kb.len && memcmp(ka.ptr, kb.ptr, ka.len) == 0 && va.len == vb.len &&
               (va.len == 0 || memcmp(va.ptr, vb.ptr, va.len) == 0);
        if (!same && why)
            snprintf(why, size, "key %llu differs: '%.*s' = %zu bytes vs '%.*s' = %zu bytes",
                     (unsigned long long)n, (int)(ka.len > 40 ? 40 : ka.len),
                     (const char *)ka.ptr, va.len, (int)(kb.len > 40 ? 40 : kb.len),
                     (const char *)kb.ptr, vb.len);
        if (same) {
            ra = arm_engine_cursor_next(ca);
            rb = arm_engine_cursor_next(cb);
        }
    }
    if (same && (ra != ARM_NOTFOUND || rb != ARM_NOTFOUND)) {
        same = 0;
        if (why)
            snprintf(why, size, "after %llu equal keys: %s vs %s", (unsigned long long)n,
                     ra == ARM_OK ? "more keys" : arm_rc_str(ra),
                     rb == ARM_OK ? "more keys" : arm_rc_str(rb));
    }
    arm_engine_cursor_close(ca);
    arm_engine_cursor_close(cb);
    return same;
}

static inline char *util_tmpdir_ok(char *buf, size_t size, const char *tag) {
    char *d = util_tmpdir(buf, size, tag);
    ARM_CHECK(d != NULL);
    return d;
}

/* The directories of one test case: tmp, made fresh for each case (the
 * previous case's tree removed), holding db (the database) and work (a
 * scratch copy of it). Paths are resolved (realpath) because /proc shows
 * resolved paths and some tests look there. tmp is what util_rmrf_at_exit
 * should be given. */
typedef struct util_case_dir {
    char tmp[512];
    char db[600];
    char work[600];
} util_case_dir;

/* Start a case: fresh tmp under tag; returns d->db (not created). */
static inline const char *util_case_fresh(util_case_dir *d, const char *tag) {
    if (d->tmp[0]) util_rmrf(d->tmp);
    util_tmpdir_ok(d->tmp, sizeof d->tmp, tag);
    char real[PATH_MAX];
    ARM_CHECK(realpath(d->tmp, real) != NULL && strlen(real) < sizeof d->tmp);
    memcpy(d->tmp, real, strlen(real) + 1);
    snprintf(d->db, sizeof d->db, "%s/db", d->tmp);
    snprintf(d->work, sizeof d->work, "%s/work", d->tmp);
    return d->db;
}

/* Copy the pristine database into d->work (replacing it); returns d->work. */
static inline const char *util_case_work_copy(util_case_dir *d) {
    util_rmrf(d->work);
    ARM_CHECK(util_copy_db(d->db, d->work) == 0);
    return d->work;
}
#endif

#endif
