/* SPDX-License-Identifier: MIT */
/*
 * arm_codec.c: how SQL values become engine keys and values, and back.
 * The engine compares keys with memcmp (shorter first on a tie), so every key
 * encoding here is order-preserving for SQLite's own comparison of the key
 * type. Values keep their SQLite type. Layer: ext. The formats are drawn at
 * the top of arm_vtab.c (and in ARCHITECTURE.md); this file implements them.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"

#include <math.h>
#include <string.h>

#define CODEC_TEXT_PREFIX 0x00 /* first byte of every TEXT/BLOB key */
#define CODEC_INT_BIAS    0x8000000000000000ULL

/* ------------------------------------------------------------- helpers */
static int codec_append(arm_buf *out, const void *p, size_t n) {
    if (arm_buf_reserve(out, out->len + n) != ARM_OK) return ARM_NOMEM;
    if (n > 0) memcpy(out->ptr + out->len, p, n);
    out->len += n;
    return ARM_OK;
}

static int codec_append_byte(arm_buf *out, uint8_t b) {
    return codec_append(out, &b, 1);
}

static void codec_put_u64le(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t codec_get_u64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Bytes used, or 0 when the varint is truncated or too long. */
static size_t codec_get_varint(const uint8_t *p, size_t avail, uint64_t *v_out) {
    uint64_t v = 0;
    for (size_t i = 0; i < avail && i < 10; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *v_out = v;
            return i + 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ affinity
 * SQLite's own rules for turning a value into a number, written out here
 * because sqlite3_value_numeric_type() needs the value's database handle
 * (SQLite 3.53 takes its mutex), which a sqlite3_value_dup() copy and an IN
 * list value do not have, and because it changes the value in place. Nothing
 * here changes a value's type; reals are converted by SQLite itself
 * (sqlite3_value_double), so the digits round exactly as a native column's. */

/* sqlite3Isspace: space, \t, \n, \v, \f, \r. */
static int codec_isspace(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int codec_isdigit(unsigned char c) {
    return c >= '0' && c <= '9';
}

enum codec_num_kind {
    CODEC_NUM_NONE = 0, /* not a number: stays text */
    CODEC_NUM_INT = 1,  /* an integer literal: [+-]digits */
    CODEC_NUM_REAL = 2, /* a decimal point or an exponent */
};

/* The grammar of sqlite3AtoF: optional whitespace, [+-], digits with an
 * optional '.' and more digits (at least one digit in all), an optional
 * exponent e[+-]digits, optional whitespace, and nothing else. Hex ('0x1A'),
 * 'inf' and '' are no numbers. */
static int codec_text_kind(const unsigned char *z, size_t n) {
    size_t i = 0, digits = 0;
    int kind = CODEC_NUM_INT;
    while (i < n && codec_isspace(z[i])) i++;
    if (i < n && (z[i] == '+' || z[i] == '-')) i++;
    while (i < n && codec_isdigit(z[i])) i++, digits++;
    if (i < n && z[i] == '.') {
        kind = CODEC_NUM_REAL;
        for (i++; i < n && codec_isdigit(z[i]); i++) digits++;
    }
    if (digits == 0) return CODEC_NUM_NONE;
    if (i < n && (z[i] == 'e' || z[i] == 'E')) {
        size_t j = i + 1;
        if (j < n && (z[j] == '+' || z[j] == '-')) j++;
        if (j >= n || !codec_isdigit(z[j])) return CODEC_NUM_NONE;
        while (j < n && codec_isdigit(z[j])) j++;
        i = j;
        kind = CODEC_NUM_REAL;
    }
    while (i < n && codec_isspace(z[i])) i++;
    return i == n ? kind : CODEC_NUM_NONE;
}

/* An integer literal (codec_text_kind said so) as int64, as sqlite3Atoi64
 * reads it: 1 when it fits, 0 when it does not (it is then a real). */
static int codec_text_int(const unsigned char *z, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    uint64_t u = 0;
    while (i < n && codec_isspace(z[i])) i++;
    if (i < n && (z[i] == '+' || z[i] == '-')) neg = z[i++] == '-';
    for (; i < n && codec_isdigit(z[i]); i++) {
        unsigned d = (unsigned)(z[i] - '0');
        if (u > (UINT64_MAX - d) / 10) return 0;
        u = u * 10 + d;
        if (u > (uint64_t)INT64_MAX + 1) return 0;
    }
    if (!neg && u > (uint64_t)INT64_MAX) return 0;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 1;
}

/* sqlite3VdbeIntegerAffinity: a real becomes an integer when it is one,
 * strictly inside int64's range (SQLite keeps the two extremes real). */
static int codec_real_as_int(double d, int64_t *out) {
    if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
    int64_t i = (int64_t)d;
    if ((double)i != d) return 0;
    *out = i;
    return 1;
}

/* A real equal to an int64 key (comparison, not storage: -2^63 included). */
static int codec_real_equals_int(double d, int64_t *out) {
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
    int64_t i = (int64_t)d;
    if ((double)i != d) return 0;
    *out = i;
    return 1;
}

/* Numeric affinity applied to v (SQLite's applyNumericAffinity): fills *num
 * with SQLITE_INTEGER (num->i), SQLITE_FLOAT (num->r), or leaves the value's
 * own type when it is no number. ARM_OK or ARM_NOMEM. Reals that are whole
 * numbers are left real here; the caller decides (column vs key rules). */
typedef struct codec_num {
    int type;  /* SQLITE_INTEGER, SQLITE_FLOAT, or the value's own type */
    int64_t i;
    double r;
} codec_num;

static int codec_numeric(sqlite3_value *v, codec_num *num) {
    num->type = sqlite3_value_type(v);
    num->i = 0;
    num->r = 0.0;
    if (num->type == SQLITE_INTEGER) num->i = sqlite3_value_int64(v);
    if (num->type == SQLITE_FLOAT) num->r = sqlite3_value_double(v);
    if (num->type != SQLITE_TEXT) return ARM_OK;
    const unsigned char *z = sqlite3_value_text(v);
    if (z == NULL) return ARM_NOMEM; // TEXT-typed: only OOM gives NULL
    size_t n = (size_t)sqlite3_value_bytes(v);
    int kind = codec_text_kind(z, n);
    if (kind == CODEC_NUM_INT && codec_text_int(z, n, &num->i)) {
        num->type = SQLITE_INTEGER;
    } else if (kind != CODEC_NUM_NONE) {
        num->type = SQLITE_FLOAT; // a decimal point, an exponent, or too big for int64
        num->r = sqlite3_value_double(v);
    }
    return ARM_OK;
}

/* INTEGER affinity for a key being written, as an INTEGER PRIMARY KEY takes
 * it: integers, whole reals, text that reads as either. 1 with *out, 0 when
 * v is no integer, -1 on OOM. */
static int codec_value_to_int(sqlite3_value *v, int64_t *out) {
    codec_num num;
    if (codec_numeric(v, &num) != ARM_OK) return -1;
    if (num.type == SQLITE_INTEGER) {
        *out = num.i;
        return 1;
    }
    return num.type == SQLITE_FLOAT ? codec_real_as_int(num.r, out) : 0;
}

static int codec_put_int_key(arm_buf *out, int64_t i) {
    uint64_t u = (uint64_t)i ^ CODEC_INT_BIAS;
    uint8_t be[8];
    for (int k = 0; k < 8; k++) be[k] = (uint8_t)(u >> (8 * (7 - k)));
    out->len = 0;
    return codec_append(out, be, 8) == ARM_OK ? ARM_CODEC_KEY_OK : ARM_CODEC_KEY_NOMEM;
}

static int codec_put_bytes_key(arm_buf *out, const void *p, size_t n) {
    out->len = 0;
    if (codec_append_byte(out, CODEC_TEXT_PREFIX) != ARM_OK) return ARM_CODEC_KEY_NOMEM;
    if (codec_append(out, p, n) != ARM_OK) return ARM_CODEC_KEY_NOMEM;
    return ARM_CODEC_KEY_OK;
}

static int codec_text_key(sqlite3_value *v, arm_buf *out) {
    const unsigned char *t = sqlite3_value_text(v);
    if (t == NULL) return ARM_CODEC_KEY_NOMEM; // not NULL-typed, so only OOM gives NULL
    return codec_put_bytes_key(out, t, (size_t)sqlite3_value_bytes(v));
}

static int codec_blob_key(sqlite3_value *v, arm_buf *out) {
    int n = sqlite3_value_bytes(v);
    const void *p = sqlite3_value_blob(v);
    return codec_put_bytes_key(out, p, n > 0 ? (size_t)n : 0);
}

/* ---------------------------------------------------------------- keys */
/* A TEXT or BLOB key longer than max_len is refused before its bytes are
 * touched: sqlite3_value_bytes() tells a zeroblob's size without expanding
 * it, sqlite3_value_blob() would allocate all of it. */
static int codec_bytes_over(sqlite3_value *v, size_t max_len) {
    return (size_t)sqlite3_value_bytes(v) > max_len;
}

ARM_PRIVATE int arm_codec_key_for_write(int key_type, sqlite3_value *v, size_t max_len,
                                        arm_buf *out) {
    int t = sqlite3_value_type(v);
    if (t == SQLITE_NULL) return ARM_CODEC_KEY_NULL;
    switch (key_type) {
    case ARM_EXT_KEY_INTEGER: {
        int64_t i = 0;
        int ok = codec_value_to_int(v, &i);
        if (ok < 0) return ARM_CODEC_KEY_NOMEM;
        return ok ? codec_put_int_key(out, i) : ARM_CODEC_KEY_TYPE;
    }
    case ARM_EXT_KEY_TEXT:
        // TEXT affinity turns numbers into text; a BLOB stays a BLOB
        if (t == SQLITE_BLOB) return ARM_CODEC_KEY_TYPE;
        if (t == SQLITE_TEXT && codec_bytes_over(v, max_len)) return ARM_CODEC_KEY_TOOBIG;
        return codec_text_key(v, out);
    default:
        assert(key_type == ARM_EXT_KEY_BLOB);
        if (t != SQLITE_BLOB) return ARM_CODEC_KEY_TYPE;
        if (codec_bytes_over(v, max_len)) return ARM_CODEC_KEY_TOOBIG;
        return codec_blob_key(v, out);
    }
}

/* The comparison `key = v` applies the key column's affinity to v as a
 * write does, so the candidate is the key a write of v would store; for
 * INTEGER keys by SQLite's comparison of integers with reals, which holds
 * -2^63 equal to -9223372036854775808.0 (a write keeps that real a real).
 * A key longer than any stored one cannot match. */
ARM_PRIVATE int arm_codec_key_for_lookup(int key_type, sqlite3_value *v, size_t max_len,
                                         arm_buf *out) {
    if (key_type != ARM_EXT_KEY_INTEGER) {
        int k = arm_codec_key_for_write(key_type, v, max_len, out);
        return k == ARM_CODEC_KEY_TOOBIG ? ARM_CODEC_KEY_TYPE : k;
    }
    codec_num num;
    if (sqlite3_value_type(v) == SQLITE_NULL) return ARM_CODEC_KEY_NULL;
    if (codec_numeric(v, &num) != ARM_OK) return ARM_CODEC_KEY_NOMEM;
    int64_t i = num.i;
    if (num.type == SQLITE_FLOAT && !codec_real_equals_int(num.r, &i)) return ARM_CODEC_KEY_TYPE;
    if (num.type != SQLITE_INTEGER && num.type != SQLITE_FLOAT) return ARM_CODEC_KEY_TYPE;
    return codec_put_int_key(out, i);
}

/* A range bound. SQLite re-checks every row it gets (the constraints are not
 * omitted), so a bound only has to keep a superset of the matches: when in
 * doubt it widens (inclusive, floor/ceil) or is dropped. */
ARM_PRIVATE int arm_codec_bound(int key_type, sqlite3_value *v, int is_lower, int *inclusive,
                                arm_buf *out) {
    int t = sqlite3_value_type(v);
    if (t == SQLITE_NULL) return ARM_CODEC_BOUND_EMPTY; // key < NULL is never true
    if (key_type != ARM_EXT_KEY_INTEGER) {
        int want = key_type == ARM_EXT_KEY_TEXT ? SQLITE_TEXT : SQLITE_BLOB;
        if (t != want) return ARM_CODEC_BOUND_NONE;
        int rc = want == SQLITE_TEXT ? codec_text_key(v, out) : codec_blob_key(v, out);
        return rc == ARM_CODEC_KEY_OK ? ARM_CODEC_BOUND_OK : ARM_CODEC_BOUND_NOMEM;
    }
    codec_num num;
    if (codec_numeric(v, &num) != ARM_OK) return ARM_CODEC_BOUND_NOMEM;
    int64_t i = num.i;
    if (num.type == SQLITE_TEXT || num.type == SQLITE_BLOB) {
        // numbers sort before text and blobs: key > 'abc' never holds, key < 'abc' always
        return is_lower ? ARM_CODEC_BOUND_EMPTY : ARM_CODEC_BOUND_NONE;
    }
    if (num.type == SQLITE_FLOAT) {
        double d = num.r;
        if (isnan(d)) return ARM_CODEC_BOUND_EMPTY;
        double r = is_lower ? floor(d) : ceil(d);
        if (r >= 9223372036854775808.0)
            return is_lower ? ARM_CODEC_BOUND_EMPTY : ARM_CODEC_BOUND_NONE;
        if (r < -9223372036854775808.0)
            return is_lower ? ARM_CODEC_BOUND_NONE : ARM_CODEC_BOUND_EMPTY;
        i = (int64_t)r;
        *inclusive = 1;
    }
    return codec_put_int_key(out, i) == ARM_CODEC_KEY_OK ? ARM_CODEC_BOUND_OK
                                                         : ARM_CODEC_BOUND_NOMEM;
}

ARM_PRIVATE int arm_codec_int_key(int64_t i, arm_buf *out) {
    return codec_put_int_key(out, i) == ARM_CODEC_KEY_OK ? ARM_OK : ARM_NOMEM;
}

ARM_PRIVATE int arm_codec_int_key_decode(arm_slice key, int64_t *out) {
    if (key.len != 8) return ARM_CORRUPT;
    uint64_t u = 0;
    for (int k = 0; k < 8; k++) u = (u << 8) | key.ptr[k];
    *out = (int64_t)(u ^ CODEC_INT_BIAS);
    return ARM_OK;
}

ARM_PRIVATE size_t arm_codec_key_user_len(int key_type, arm_slice key) {
    if (key_type == ARM_EXT_KEY_INTEGER) return key.len;
    return key.len > 0 ? key.len - 1 : 0;
}

ARM_PRIVATE void arm_codec_key_result(int key_type, arm_slice key, sqlite3_context *ctx) {
    if (key_type == ARM_EXT_KEY_INTEGER) {
        int64_t i = 0;
        if (arm_codec_int_key_decode(key, &i) != ARM_OK)
            sqlite3_result_error(ctx, "armdb: corrupt INTEGER key (length is not 8)", -1);
        else
            sqlite3_result_int64(ctx, (sqlite3_int64)i);
        return;
    }
    if (key.len < 1 || key.ptr[0] != CODEC_TEXT_PREFIX) {
        sqlite3_result_error(ctx, "armdb: corrupt key (bad prefix byte)", -1);
        return;
    }
    const char *p = (const char *)key.ptr + 1;
    int n = (int)(key.len - 1);
    if (key_type == ARM_EXT_KEY_TEXT)
        sqlite3_result_text(ctx, p, n, SQLITE_TRANSIENT);
    else if (n == 0)
        sqlite3_result_zeroblob(ctx, 0); // result_blob(ctx, p, 0) would give an empty blob too,
                                         // but zeroblob says so without a pointer
    else
        sqlite3_result_blob(ctx, p, n, SQLITE_TRANSIENT);
}

/* -------------------------------------------------------- kv form values */
/* The kv form's value has no affinity: it keeps the type it was written
 * with. Its size is known before any byte is copied (a zeroblob is never
 * expanded just to be refused). */
ARM_PRIVATE int arm_codec_value_encode(sqlite3_value *v, size_t max_len, arm_buf *out,
                                       size_t *len_out) {
    int t = sqlite3_value_type(v);
    uint8_t num[8];
    out->len = 0;
    size_t n = t == SQLITE_INTEGER || t == SQLITE_FLOAT ? 8
               : t == SQLITE_TEXT || t == SQLITE_BLOB   ? (size_t)sqlite3_value_bytes(v)
                                                        : 0;
    *len_out = n;
    if (n > max_len) return ARM_TOOBIG;
    if (arm_buf_reserve(out, n + 1) != ARM_OK) return ARM_NOMEM;
    if (codec_append_byte(out, (uint8_t)t) != ARM_OK) return ARM_NOMEM;
    switch (t) {
    case SQLITE_INTEGER:
        codec_put_u64le(num, (uint64_t)sqlite3_value_int64(v));
        return codec_append(out, num, 8);
    case SQLITE_FLOAT: {
        double d = sqlite3_value_double(v);
        uint64_t bits;
        memcpy(&bits, &d, 8);
        codec_put_u64le(num, bits);
        return codec_append(out, num, 8);
    }
    case SQLITE_TEXT: {
        const unsigned char *s = sqlite3_value_text(v);
        if (s == NULL) return ARM_NOMEM;
        return codec_append(out, s, (size_t)sqlite3_value_bytes(v));
    }
    case SQLITE_BLOB: {
        int nb = sqlite3_value_bytes(v);
        return codec_append(out, sqlite3_value_blob(v), nb > 0 ? (size_t)nb : 0);
    }
    default: return ARM_OK; // NULL: the type byte alone
    }
}

static void codec_result_typed(int type, const uint8_t *p, size_t n, sqlite3_context *ctx) {
    switch (type) {
    case SQLITE_INTEGER: sqlite3_result_int64(ctx, (sqlite3_int64)codec_get_u64le(p)); break;
    case SQLITE_FLOAT: {
        uint64_t bits = codec_get_u64le(p);
        double d;
        memcpy(&d, &bits, 8);
        sqlite3_result_double(ctx, d);
        break;
    }
    case SQLITE_TEXT: sqlite3_result_text(ctx, n ? (const char *)p : "", (int)n, SQLITE_TRANSIENT);
        break;
    case SQLITE_BLOB:
        if (n == 0)
            sqlite3_result_zeroblob(ctx, 0);
        else
            sqlite3_result_blob(ctx, p, (int)n, SQLITE_TRANSIENT);
        break;
    default: sqlite3_result_null(ctx); break;
    }
}

ARM_PRIVATE int arm_codec_value_result(arm_slice val, sqlite3_context *ctx) {
    if (val.len < 1) return ARM_CORRUPT;
    int type = val.ptr[0];
    size_t n = val.len - 1;
    if ((type == SQLITE_INTEGER || type == SQLITE_FLOAT) && n != 8) return ARM_CORRUPT;
    if (type == SQLITE_NULL && n != 0) return ARM_CORRUPT;
    if (type < SQLITE_INTEGER || type > SQLITE_NULL) return ARM_CORRUPT;
    codec_result_typed(type, val.ptr + 1, n, ctx);
    return ARM_OK;
}

/* ------------------------------------------------------ table form records */
/* One column's value as it is stored: after the column's affinity, as an
 * ordinary table applies it on write (datatype3.html 3.4): TEXT makes numbers
 * text (SQLite's own spelling, from sqlite3_value_text); NUMERIC and INTEGER
 * make text that reads as a number a number, and whole reals integers; REAL
 * makes numbers and numeric text reals. BLOBs and NULLs stay as they are.
 * Text and blob bytes are fetched only when written (cell.p NULL until then). */
typedef struct codec_cell {
    int type;  /* SQLITE_INTEGER .. SQLITE_NULL, after affinity */
    int64_t i; /* INTEGER */
    double r;  /* REAL */
    size_t n;  /* TEXT/BLOB bytes (no zeroblob expanded) */
} codec_cell;

static int codec_cell_of(sqlite3_value *v, int aff, codec_cell *c) {
    c->type = sqlite3_value_type(v);
    c->i = 0, c->r = 0.0, c->n = 0;
    int numeric = aff == ARM_EXT_AFF_NUMERIC || aff == ARM_EXT_AFF_INTEGER || aff == ARM_EXT_AFF_REAL;
    if (aff == ARM_EXT_AFF_TEXT && (c->type == SQLITE_INTEGER || c->type == SQLITE_FLOAT)) {
        if (sqlite3_value_text(v) == NULL) return ARM_NOMEM;
        c->type = SQLITE_TEXT;
    } else if (numeric && c->type != SQLITE_BLOB && c->type != SQLITE_NULL) {
        codec_num num;
        if (codec_numeric(v, &num) != ARM_OK) return ARM_NOMEM;
        c->type = num.type, c->i = num.i, c->r = num.r;
        if (num.type == SQLITE_FLOAT && aff != ARM_EXT_AFF_REAL && codec_real_as_int(num.r, &c->i))
            c->type = SQLITE_INTEGER;
        if (num.type == SQLITE_INTEGER && aff == ARM_EXT_AFF_REAL)
            c->type = SQLITE_FLOAT, c->r = (double)num.i;
    } else if (c->type == SQLITE_INTEGER) {
        c->i = sqlite3_value_int64(v);
    } else if (c->type == SQLITE_FLOAT) {
        c->r = sqlite3_value_double(v);
    }
    if (c->type == SQLITE_TEXT || c->type == SQLITE_BLOB) c->n = (size_t)sqlite3_value_bytes(v);
    return ARM_OK;
}

static uint64_t codec_zigzag(int64_t x) {
    return ((uint64_t)x << 1) ^ (uint64_t)(x >> 63); // small |x| is short
}

static size_t codec_varint_len(uint64_t v) {
    size_t n = 1;
    while (v >>= 7) n++;
    return n;
}

static size_t codec_cell_size(const codec_cell *c) {
    switch (c->type) {
    case SQLITE_INTEGER: return 1 + codec_varint_len(codec_zigzag(c->i));
    case SQLITE_FLOAT: return 1 + 8;
    case SQLITE_TEXT:
    case SQLITE_BLOB: return 1 + codec_varint_len(c->n) + c->n;
    default: return 1;
    }
}

/* LEB128 into p (room checked by the caller's size pass); bytes written. */
static size_t codec_put_varint(uint8_t *p, uint64_t v) {
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        p[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v != 0);
    return n;
}

/* Write one cell at p, which has codec_cell_size(c) bytes of room. Returns
 * the bytes written, or 0 when SQLite cannot give the text (OOM). */
static size_t codec_cell_put(uint8_t *p, sqlite3_value *v, const codec_cell *c) {
    size_t n = 1;
    p[0] = (uint8_t)c->type;
    if (c->type == SQLITE_INTEGER) return n + codec_put_varint(p + n, codec_zigzag(c->i));
    if (c->type == SQLITE_FLOAT) {
        uint64_t bits;
        memcpy(&bits, &c->r, 8);
        codec_put_u64le(p + n, bits);
        return n + 8;
    }
    if (c->type != SQLITE_TEXT && c->type != SQLITE_BLOB) return n;
    const void *src = c->type == SQLITE_TEXT ? (const void *)sqlite3_value_text(v)
                                             : sqlite3_value_blob(v);
    if (src == NULL && c->n > 0) return 0;
    n += codec_put_varint(p + n, c->n);
    if (c->n) memcpy(p + n, src, c->n);
    return n + c->n;
}

/* Two passes: the exact size first (nothing copied), then the bytes. The
 * cells of the first CODEC_CELLS_KEPT columns are kept between the passes
 * (most tables have fewer), the rest computed again. */
#define CODEC_CELLS_KEPT 32
ARM_PRIVATE int arm_codec_record_encode(sqlite3_value *const *cols, const arm_ext_column *defs,
                                        int ncol, int key_col, size_t max_len, arm_buf *out,
                                        size_t *len_out) {
    codec_cell kept[CODEC_CELLS_KEPT], c;
    size_t size = codec_varint_len((uint64_t)(ncol - 1));
    out->len = 0;
    for (int i = 0, j = 0; i < ncol; i++) {
        if (i == key_col) continue;
        if (codec_cell_of(cols[i], defs[i].affinity, &c) != ARM_OK) return ARM_NOMEM;
        size += codec_cell_size(&c);
        if (j < CODEC_CELLS_KEPT) kept[j++] = c;
    }
    *len_out = size;
    if (size > max_len) return ARM_TOOBIG;
    if (arm_buf_reserve(out, size) != ARM_OK) return ARM_NOMEM;
    size_t len = codec_put_varint(out->ptr, (uint64_t)(ncol - 1));
    for (int i = 0, j = 0; i < ncol; i++) {
        if (i == key_col) continue;
        if (j < CODEC_CELLS_KEPT)
            c = kept[j++];
        else if (codec_cell_of(cols[i], defs[i].affinity, &c) != ARM_OK)
            return ARM_NOMEM;
        size_t w = codec_cell_put(out->ptr + len, cols[i], &c);
        if (w == 0) return ARM_NOMEM;
        len += w;
        assert(len <= size);
    }
    assert(len == size);
    out->len = len;
    return ARM_OK;
}

ARM_PRIVATE int arm_codec_record_split(arm_slice rec, arm_codec_field *fields, int nfield) {
    const uint8_t *p = rec.ptr;
    size_t avail = rec.len;
    uint64_t stored = 0;
    size_t used = codec_get_varint(p, avail, &stored);
    if (used == 0) return ARM_CORRUPT;
    p += used, avail -= used;
    for (int i = 0; i < nfield; i++) {
        arm_codec_field *f = &fields[i];
        f->type = SQLITE_NULL, f->ptr = NULL, f->len = 0;
        if ((uint64_t)i >= stored) continue; // record predates this column
        if (avail < 1) return ARM_CORRUPT;
        f->type = *p++, avail--;
        uint64_t n = 0;
        switch (f->type) {
        case SQLITE_INTEGER:
            used = codec_get_varint(p, avail, &n);
            if (used == 0) return ARM_CORRUPT;
            f->ptr = p, f->len = used;
            break;
        case SQLITE_FLOAT:
            if (avail < 8) return ARM_CORRUPT;
            f->ptr = p, f->len = 8, used = 8;
            break;
        case SQLITE_TEXT:
        case SQLITE_BLOB:
            used = codec_get_varint(p, avail, &n);
            if (used == 0 || n > avail - used) return ARM_CORRUPT;
            f->ptr = p + used, f->len = (size_t)n;
            used += (size_t)n;
            break;
        case SQLITE_NULL: used = 0; break;
        default: return ARM_CORRUPT;
        }
        p += used, avail -= used;
    }
    return ARM_OK;
}

ARM_PRIVATE void arm_codec_field_result(const arm_codec_field *f, sqlite3_context *ctx) {
    if (f->type == SQLITE_INTEGER) {
        uint64_t zz = 0;
        (void)codec_get_varint(f->ptr, f->len, &zz); // checked by split
        int64_t x = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
        sqlite3_result_int64(ctx, x);
        return;
    }
    codec_result_typed(f->type, f->ptr, f->len, ctx);
}

#undef CODEC_CELLS_KEPT
#undef CODEC_TEXT_PREFIX
#undef CODEC_INT_BIAS
