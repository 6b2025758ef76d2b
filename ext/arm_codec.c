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

/* LEB128: 7 bits per byte, low groups first, at most 10 bytes. */
static int codec_append_varint(arm_buf *out, uint64_t v) {
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        tmp[n++] = (uint8_t)(b | (v ? 0x80 : 0));
    } while (v != 0 && n < sizeof(tmp));
    return codec_append(out, tmp, n);
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

/* A double that is an integer in int64 range, as that integer. */
static int codec_double_to_int(double d, int64_t *out) {
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
    int64_t i = (int64_t)d;
    if ((double)i != d) return 0;
    *out = i;
    return 1;
}

/* INTEGER affinity, as an ordinary table column applies it: integers as is,
 * reals that are whole numbers, and text that reads as such a number.
 * Returns 1 with *out set, 0 when v is no integer, -1 on OOM. */
static int codec_value_to_int(sqlite3_value *v, int64_t *out) {
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: *out = sqlite3_value_int64(v); return 1;
    case SQLITE_FLOAT: return codec_double_to_int(sqlite3_value_double(v), out);
    case SQLITE_TEXT: {
        // numeric_type converts in place, so work on a copy of the argument
        sqlite3_value *dup = sqlite3_value_dup(v);
        if (dup == NULL) return -1;
        int ok = 0;
        int t = sqlite3_value_numeric_type(dup);
        if (t == SQLITE_INTEGER) {
            *out = sqlite3_value_int64(dup);
            ok = 1;
        } else if (t == SQLITE_FLOAT) {
            ok = codec_double_to_int(sqlite3_value_double(dup), out);
        }
        sqlite3_value_free(dup);
        return ok;
    }
    default: return 0;
    }
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
ARM_PRIVATE int arm_codec_key_for_write(int key_type, sqlite3_value *v, arm_buf *out) {
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
        return codec_text_key(v, out);
    default:
        assert(key_type == ARM_EXT_KEY_BLOB);
        if (t != SQLITE_BLOB) return ARM_CODEC_KEY_TYPE;
        return codec_blob_key(v, out);
    }
}

/* The comparison `key = v` applies the key column's affinity to v exactly as
 * a write does, so the candidate key is the one a write of v would store. */
ARM_PRIVATE int arm_codec_key_for_lookup(int key_type, sqlite3_value *v, arm_buf *out) {
    return arm_codec_key_for_write(key_type, v, out);
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
    int64_t i = 0;
    double d = 0;
    int is_real = 0;
    if (t == SQLITE_INTEGER) {
        i = sqlite3_value_int64(v);
    } else if (t == SQLITE_FLOAT) {
        d = sqlite3_value_double(v);
        is_real = 1;
    } else if (t == SQLITE_TEXT) {
        sqlite3_value *dup = sqlite3_value_dup(v);
        if (dup == NULL) return ARM_CODEC_BOUND_NOMEM;
        int nt = sqlite3_value_numeric_type(dup);
        if (nt == SQLITE_INTEGER) i = sqlite3_value_int64(dup);
        if (nt == SQLITE_FLOAT) d = sqlite3_value_double(dup), is_real = 1;
        sqlite3_value_free(dup);
        // numbers sort before text: key > 'abc' never holds, key < 'abc' always
        if (nt != SQLITE_INTEGER && nt != SQLITE_FLOAT)
            return is_lower ? ARM_CODEC_BOUND_EMPTY : ARM_CODEC_BOUND_NONE;
    } else {
        return is_lower ? ARM_CODEC_BOUND_EMPTY : ARM_CODEC_BOUND_NONE; // numbers < blobs
    }
    if (is_real) {
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

ARM_PRIVATE size_t arm_codec_key_user_len(int key_type, arm_slice key) {
    if (key_type == ARM_EXT_KEY_INTEGER) return key.len;
    return key.len > 0 ? key.len - 1 : 0;
}

ARM_PRIVATE void arm_codec_key_result(int key_type, arm_slice key, sqlite3_context *ctx) {
    if (key_type == ARM_EXT_KEY_INTEGER) {
        if (key.len != 8) {
            sqlite3_result_error(ctx, "armdb: corrupt INTEGER key (length is not 8)", -1);
            return;
        }
        uint64_t u = 0;
        for (int k = 0; k < 8; k++) u = (u << 8) | key.ptr[k];
        sqlite3_result_int64(ctx, (sqlite3_int64)(u ^ CODEC_INT_BIAS));
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
ARM_PRIVATE int arm_codec_value_encode(sqlite3_value *v, arm_buf *out) {
    int t = sqlite3_value_type(v);
    uint8_t num[8];
    out->len = 0;
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
        int n = sqlite3_value_bytes(v);
        return codec_append(out, sqlite3_value_blob(v), n > 0 ? (size_t)n : 0);
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
ARM_PRIVATE int arm_codec_record_encode(sqlite3_value *const *cols, int ncol, int key_col,
                                        arm_buf *out) {
    out->len = 0;
    int rc = codec_append_varint(out, (uint64_t)(ncol - 1));
    for (int i = 0; i < ncol && rc == ARM_OK; i++) {
        if (i == key_col) continue;
        sqlite3_value *v = cols[i];
        int t = sqlite3_value_type(v);
        rc = codec_append_byte(out, (uint8_t)t);
        if (rc != ARM_OK) break;
        if (t == SQLITE_INTEGER) {
            int64_t x = sqlite3_value_int64(v);
            uint64_t zz = ((uint64_t)x << 1) ^ (uint64_t)(x >> 63); // zigzag: small |x| is short
            rc = codec_append_varint(out, zz);
        } else if (t == SQLITE_FLOAT) {
            double d = sqlite3_value_double(v);
            uint64_t bits;
            uint8_t num[8];
            memcpy(&bits, &d, 8);
            codec_put_u64le(num, bits);
            rc = codec_append(out, num, 8);
        } else if (t == SQLITE_TEXT || t == SQLITE_BLOB) {
            const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_value_text(v)
                                             : sqlite3_value_blob(v);
            int n = sqlite3_value_bytes(v);
            if (t == SQLITE_TEXT && p == NULL) return ARM_NOMEM;
            rc = codec_append_varint(out, (uint64_t)(n > 0 ? n : 0));
            if (rc == ARM_OK) rc = codec_append(out, p, n > 0 ? (size_t)n : 0);
        }
    }
    return rc;
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

#undef CODEC_TEXT_PREFIX
#undef CODEC_INT_BIAS
