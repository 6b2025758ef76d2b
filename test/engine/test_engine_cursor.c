/* SPDX-License-Identifier: MIT */
/*
 * test_engine_cursor.c: cursors merged across shards against a sorted
 * reference model: first/last/next/prev, seeks (GE/GT/LE/LT), direction
 * changes, bounds (inclusive, exclusive, open), keys that are prefixes of
 * each other, batch overlays (puts shown, deletes hidden, snapshot at open),
 * value reads, keys deleted under the cursor, and hash-index cursors.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_tmp[512];
static char g_db[600];

static const char *fresh(const char *tag) {
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, tag);
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    return g_db;
}

/* Random key over a tiny alphabet so many keys are prefixes of others. */
static size_t rand_key(uint8_t *k) {
    static const uint8_t alpha[] = {0x00, 0x01, 'a', 'b', 0x7f, 0xfe, 0xff};
    size_t n = 1 + harness_rand() % 4;
    for (size_t i = 0; i < n; i++) k[i] = alpha[harness_rand() % sizeof alpha];
    return n;
}

static const char *hexkey(const uint8_t *k, size_t n) {
    static char buf[64];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 3 < sizeof buf; i++) o += (size_t)sprintf(buf + o, "%02x", k[i]);
    buf[o] = 0;
    return buf;
}

/* The cursor must be on item want (or at EOF when want is NULL). */
static void expect_at(int line, arm_cursor *c, int rc, const util_kv *want, int check_value) {
    if (want == NULL) {
        if (rc != ARM_NOTFOUND || arm_engine_cursor_valid(c)) {
            fprintf(stderr, "line %d: expected EOF, got %s valid=%d key=%s\n", line, arm_rc_str(rc),
                    arm_engine_cursor_valid(c),
                    arm_engine_cursor_valid(c) ? hexkey(arm_engine_cursor_key(c).ptr,
                                                        arm_engine_cursor_key(c).len)
                                               : "-");
            ARM_CHECK(!"cursor at EOF");
        }
        return;
    }
    arm_slice k = rc == ARM_OK ? arm_engine_cursor_key(c) : arm_slice_make(NULL, 0);
    if (rc != ARM_OK || !arm_engine_cursor_valid(c) ||
        util_keycmp(k.ptr, k.len, want->key, want->klen) != 0) {
        char got[64];
        snprintf(got, sizeof got, "%s", rc == ARM_OK ? hexkey(k.ptr, k.len) : "-");
        fprintf(stderr, "line %d: expected key %s, got %s key=%s\n", line,
                hexkey(want->key, want->klen), arm_rc_str(rc), got);
        ARM_CHECK(!"cursor on the expected key");
    }
    if (check_value) {
        arm_slice v;
        ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
        ARM_CHECK(v.len == want->vlen && (v.len == 0 || memcmp(v.ptr, want->val, v.len) == 0));
    }
}

struct bound {
    uint8_t k[8];
    size_t n;
    int open;
    int incl;
};

static int in_bounds(const util_kv *kv, const struct bound *lo, const struct bound *hi) {
    if (!lo->open) {
        int c = util_keycmp(kv->key, kv->klen, lo->k, lo->n);
        if (c < 0 || (c == 0 && !lo->incl)) return 0;
    }
    if (!hi->open) {
        int c = util_keycmp(kv->key, kv->klen, hi->k, hi->n);
        if (c > 0 || (c == 0 && !hi->incl)) return 0;
    }
    return 1;
}

/* Random walk of positioning calls compared with the model list. */
static void walk(arm_cursor *c, const util_model *vis, int ops) {
    long pos = -1; /* -1: unpositioned / EOF */
    for (int op = 0; op < ops; op++) {
        int kind = (int)(harness_rand() % 10);
        int rc;
        switch (kind) {
        case 0:
            rc = arm_engine_cursor_first(c);
            pos = vis->n ? 0 : -1;
            break;
        case 1:
            rc = arm_engine_cursor_last(c);
            pos = vis->n ? (long)vis->n - 1 : -1;
            break;
        case 2:
        case 4:
        case 6:
            if (pos < 0) {
                rc = arm_engine_cursor_first(c);
                pos = vis->n ? 0 : -1;
                break;
            }
            rc = arm_engine_cursor_next(c);
            pos = pos + 1 < (long)vis->n ? pos + 1 : -1;
            break;
        case 3:
        case 5:
            if (pos < 0) {
                rc = arm_engine_cursor_last(c);
                pos = vis->n ? (long)vis->n - 1 : -1;
                break;
            }
            rc = arm_engine_cursor_prev(c);
            pos = pos - 1;
            break;
        default: {
            uint8_t t[8];
            size_t tn = rand_key(t);
            int sop = (int)(harness_rand() % 4);
            size_t lb = util_model_lower(vis, t, tn); /* first >= t */
            int exact = lb < vis->n && util_keycmp(vis->items[lb].key, vis->items[lb].klen, t,
                                                   tn) == 0;
            rc = arm_engine_cursor_seek(c, arm_slice_make(t, tn), sop);
            switch (sop) {
            case ARM_SEEK_GE: pos = lb < vis->n ? (long)lb : -1; break;
            case ARM_SEEK_GT: {
                size_t g = lb + (exact ? 1 : 0);
                pos = g < vis->n ? (long)g : -1;
                break;
            }
            case ARM_SEEK_LE: pos = exact ? (long)lb : (long)lb - 1; break;
            case ARM_SEEK_LT: pos = (long)lb - 1; break;
            }
            break;
        }
        }
        expect_at(__LINE__, c, rc, pos >= 0 ? &vis->items[pos] : NULL,
                  harness_rand() % 3 == 0);
    }
}

static void full_scan(arm_cursor *c, const util_model *vis) {
    int rc = arm_engine_cursor_first(c);
    for (size_t i = 0; i < vis->n; i++) {
        expect_at(__LINE__, c, rc, &vis->items[i], 1);
        rc = arm_engine_cursor_next(c);
    }
    expect_at(__LINE__, c, rc, NULL, 0);
    rc = arm_engine_cursor_last(c);
    for (size_t i = vis->n; i-- > 0;) {
        expect_at(__LINE__, c, rc, &vis->items[i], 1);
        rc = arm_engine_cursor_prev(c);
    }
    expect_at(__LINE__, c, rc, NULL, 0);
}

static void filter(util_model *out, const util_model *m, const struct bound *lo,
                   const struct bound *hi) {
    util_model_free(out);
    for (size_t i = 0; i < m->n; i++)
        if (in_bounds(&m->items[i], lo, hi))
            util_model_put(out, m->items[i].key, m->items[i].klen, m->items[i].val,
                           m->items[i].vlen);
}

static void rand_bound(struct bound *b) {
    b->open = harness_rand() % 4 == 0;
    b->incl = (int)(harness_rand() % 2);
    b->n = rand_key(b->k);
}

static void fill_db(arm_engine *e, util_model *m, int n) {
    for (int i = 0; i < n; i++) {
        uint8_t k[8], v[64];
        size_t kl = rand_key(k), vl = harness_rand() % sizeof v;
        util_fill(v, vl, util_hash(k, kl), (uint64_t)i);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(m, k, kl, v, vl);
    }
    for (int i = 0; i < n / 5; i++) {
        uint8_t k[8];
        size_t kl = rand_key(k);
        int rc = arm_engine_delete(e, arm_slice_make(k, kl));
        ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
        ARM_CHECK((rc == ARM_OK) == util_model_del(m, k, kl));
    }
}

static void test_empty(void) {
    const char *dir = fresh("cempty");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 3;
    arm_engine *e = util_open_ok(dir, &o);
    arm_cursor *c = (arm_cursor *)(uintptr_t)1;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    ARM_CHECK(c != NULL);
    ARM_CHECK(!arm_engine_cursor_valid(c)); /* unpositioned */
    ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_NOTFOUND);
    ARM_CHECK(!arm_engine_cursor_valid(c));
    ARM_CHECK_RC(arm_engine_cursor_last(c), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("a"), ARM_SEEK_GE), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("a"), ARM_SEEK_LE), ARM_NOTFOUND);
    arm_engine_cursor_close(c);
    arm_engine_cursor_close(NULL);
    util_close_ok(e);
}

static void test_ordered_vs_model(void) {
    const char *dir = fresh("cord");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 4;
    arm_engine *e = util_open_ok(dir, &o);
    util_model m, vis;
    util_model_init(&m);
    util_model_init(&vis);
    fill_db(e, &m, 600);
    ARM_CHECK(m.n > 100);
    for (int pass = 0; pass < 2; pass++) {
        arm_cursor *c = NULL;
        UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
        full_scan(c, &m);
        walk(c, &m, 3000);
        /* bounds (the bound bytes are copied: the caller's buffer is scribbled) */
        for (int r = 0; r < 60; r++) {
            struct bound lo, hi;
            rand_bound(&lo);
            rand_bound(&hi);
            if (r == 0) lo.open = hi.open = 1;
            if (r == 1) { /* a single-key range */
                lo.open = hi.open = 0;
                lo.incl = hi.incl = 1;
                lo.n = hi.n = m.items[m.n / 2].klen;
                memcpy(lo.k, m.items[m.n / 2].key, lo.n);
                memcpy(hi.k, lo.k, lo.n);
            }
            struct bound lo2 = lo, hi2 = hi;
            UTIL_CHECK_RC(e, arm_engine_cursor_bounds(c, lo.open ? arm_slice_make(NULL, 0)
                                                                 : arm_slice_make(lo2.k, lo.n),
                                                      lo.incl,
                                                      hi.open ? arm_slice_make(NULL, 0)
                                                              : arm_slice_make(hi2.k, hi.n),
                                                      hi.incl),
                          ARM_OK);
            memset(lo2.k, 0xee, sizeof lo2.k);
            memset(hi2.k, 0xee, sizeof hi2.k);
            filter(&vis, &m, &lo, &hi);
            if (r == 1) ARM_CHECK(vis.n == 1);
            full_scan(c, &vis);
            walk(c, &vis, 150);
        }
        arm_engine_cursor_close(c);
        if (pass == 0) {
            util_close_ok(e);
            e = util_open_ok(dir, &o);
        }
    }
    util_close_ok(e);
    util_model_free(&m);
    util_model_free(&vis);
}

static void test_overlay(void) {
    const char *dir = fresh("covl");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 4;
    arm_engine *e = util_open_ok(dir, &o);
    util_model m, merged, vis;
    util_model_init(&m);
    util_model_init(&merged);
    util_model_init(&vis);
    fill_db(e, &m, 400);
    for (int round = 0; round < 6; round++) {
        arm_batch *b = NULL;
        UTIL_CHECK_RC(e, arm_engine_batch_new(e, &b), ARM_OK);
        util_model_copy(&merged, &m);
        int nops = round == 0 ? 0 : 1 + (int)(harness_rand() % 120);
        for (int i = 0; i < nops; i++) {
            uint8_t k[8], v[32];
            size_t kl = rand_key(k);
            if (harness_rand() % 3 == 0) {
                ARM_CHECK_RC(arm_engine_batch_delete(b, arm_slice_make(k, kl)), ARM_OK);
                util_model_del(&merged, k, kl);
            } else {
                size_t vl = harness_rand() % sizeof v;
                util_fill(v, vl, 77, (uint64_t)i);
                ARM_CHECK_RC(arm_engine_batch_put(b, arm_slice_make(k, kl), arm_slice_make(v, vl)),
                             ARM_OK);
                util_model_put(&merged, k, kl, v, vl);
            }
        }
        if (round == 5) { /* rolled back writes are not shown */
            size_t mk = arm_engine_batch_mark(b);
            ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("zzzz-rolled-back"), UTIL_S("x")), ARM_OK);
            arm_engine_batch_rollback_to(b, mk);
        }
        arm_cursor *c = NULL;
        UTIL_CHECK_RC(e, arm_engine_cursor_open(e, b, &c), ARM_OK);
        /* snapshot at open: later batch changes are not seen */
        ARM_CHECK_RC(arm_engine_batch_put(b, UTIL_S("late-put"), UTIL_S("late")), ARM_OK);
        if (merged.n) {
            ARM_CHECK_RC(arm_engine_batch_delete(b, arm_slice_make(merged.items[0].key,
                                                                   merged.items[0].klen)),
                         ARM_OK);
        }
        full_scan(c, &merged);
        walk(c, &merged, 1000);
        for (int r = 0; r < 10; r++) {
            struct bound lo, hi;
            rand_bound(&lo);
            rand_bound(&hi);
            UTIL_CHECK_RC(e, arm_engine_cursor_bounds(c, lo.open ? arm_slice_make(NULL, 0)
                                                                 : arm_slice_make(lo.k, lo.n),
                                                      lo.incl,
                                                      hi.open ? arm_slice_make(NULL, 0)
                                                              : arm_slice_make(hi.k, hi.n),
                                                      hi.incl),
                          ARM_OK);
            filter(&vis, &merged, &lo, &hi);
            full_scan(c, &vis);
            walk(c, &vis, 100);
        }
        arm_engine_cursor_close(c);
        /* nothing committed by reading */
        util_expect_model(e, &m);
        arm_engine_batch_free(b);
    }
    util_close_ok(e);
    util_model_free(&m);
    util_model_free(&merged);
    util_model_free(&vis);
}

/* Consistent runs (arm_engine.h): the cursor shows committed data as of the
 * moment it copied its current run from all shards, so writes made after that
 * moment show up only once it refills past them, a value read is the value of
 * that moment, and the cursor never goes back in time. */
static void test_read_committed(void) {
    const char *dir = fresh("crc");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 2;
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "a", 1, "A", 1);
    util_put_ok(e, "c", 1, "C", 1);
    util_put_ok(e, "e", 1, "E", 1);
    arm_cursor *c = NULL;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_OK);
    ARM_CHECK(arm_engine_cursor_key(c).len == 1 && arm_engine_cursor_key(c).ptr[0] == 'a');
    UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("a")), ARM_OK);
    arm_slice v;
    /* the run's moment: "a" still reads A */
    ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
    ARM_CHECK(v.len == 1 && v.ptr[0] == 'A');
    util_put_ok(e, "d", 1, "D", 1);
    util_put_ok(e, "c", 1, "C2", 2);
    ARM_CHECK_RC(arm_engine_cursor_next(c), ARM_OK);
    ARM_CHECK(arm_engine_cursor_key(c).ptr[0] == 'c');
    ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
    ARM_CHECK(v.len == 1 && v.ptr[0] == 'C');
    ARM_CHECK_RC(arm_engine_cursor_next(c), ARM_OK);
    ARM_CHECK(arm_engine_cursor_key(c).ptr[0] == 'e'); /* "d" came after the run */
    ARM_CHECK_RC(arm_engine_cursor_next(c), ARM_NOTFOUND);
    /* repositioning takes a new moment: everything committed is there */
    ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_OK);
    ARM_CHECK(arm_engine_cursor_key(c).ptr[0] == 'c');
    ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
    ARM_CHECK(v.len == 2 && memcmp(v.ptr, "C2", 2) == 0);
    ARM_CHECK_RC(arm_engine_cursor_next(c), ARM_OK);
    ARM_CHECK(arm_engine_cursor_key(c).ptr[0] == 'd');
    arm_engine_cursor_close(c);

    /* A long scan refills: keys written far ahead of the cursor after it
     * started are seen once it gets there, and keys never reappear. */
    char k[16];
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "k%05d", i * 2);
        util_put_ok(e, k, strlen(k), "old", 3);
    }
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("k"), ARM_SEEK_GE), ARM_OK);
    for (int i = 0; i < 2000; i++) {
        snprintf(k, sizeof k, "k%05d", i * 2 + 1); /* odd keys, ahead of the cursor */
        util_put_ok(e, k, strlen(k), "new", 3);
    }
    int seen_new = 0, n = 0;
    char prev[16] = "";
    for (int rc = ARM_OK; rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
        arm_slice key = arm_engine_cursor_key(c);
        ARM_CHECK(key.len < sizeof prev);
        char cur[16];
        memcpy(cur, key.ptr, key.len);
        cur[key.len] = 0;
        ARM_CHECK(strcmp(prev, cur) < 0); /* strictly ascending: no repeats */
        memcpy(prev, cur, sizeof cur);
        ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
        seen_new += v.len == 3 && memcmp(v.ptr, "new", 3) == 0;
        n++;
    }
    ARM_CHECK(n > 2000);           /* the even keys, plus new ones past the first run */
    ARM_CHECK(seen_new > 1500);    /* all but the first run's worth */
    arm_engine_cursor_close(c);
    util_close_ok(e);
}

static void test_hash_cursor(void) {
    const char *dir = fresh("chash");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 4;
    o.index_kind = ARM_INDEX_HASH;
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    fill_db(e, &m, 500);
    for (int i = 0; i < 300; i++) { /* plus longer, distinct keys */
        char k[16];
        snprintf(k, sizeof k, "hash-%04d", i);
        util_put_ok(e, k, strlen(k), k, strlen(k));
        util_model_put(&m, k, strlen(k), k, strlen(k));
    }
    for (int pass = 0; pass < 2; pass++) {
        arm_cursor *c = NULL;
        UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
        uint8_t *seen = calloc(m.n, 1);
        ARM_CHECK(seen != NULL);
        size_t n = 0;
        int rc = arm_engine_cursor_first(c);
        while (rc == ARM_OK) {
            arm_slice k = arm_engine_cursor_key(c);
            size_t idx = util_model_lower(&m, k.ptr, k.len);
            ARM_CHECK(idx < m.n && util_keycmp(m.items[idx].key, m.items[idx].klen, k.ptr,
                                               k.len) == 0);
            ARM_CHECK(!seen[idx]); /* exactly once */
            seen[idx] = 1;
            if (n % 3 == 0) {
                arm_slice v;
                ARM_CHECK_RC(arm_engine_cursor_value(c, &v), ARM_OK);
                ARM_CHECK(v.len == m.items[idx].vlen &&
                          (v.len == 0 || memcmp(v.ptr, m.items[idx].val, v.len) == 0));
            }
            n++;
            rc = arm_engine_cursor_next(c);
        }
        ARM_CHECK_RC(rc, ARM_NOTFOUND);
        ARM_CHECK(n == m.n);
        free(seen);
        ARM_CHECK_RC(arm_engine_cursor_last(c), ARM_MISUSE);
        ARM_CHECK(arm_engine_errmsg(e)[0] != '\0');
        ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("a"), ARM_SEEK_GE), ARM_MISUSE);
        ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("a"), ARM_SEEK_LT), ARM_MISUSE);
        ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_OK);
        ARM_CHECK_RC(arm_engine_cursor_prev(c), ARM_MISUSE);
        arm_engine_cursor_close(c);
        if (pass == 0) {
            util_close_ok(e);
            e = util_open_ok(dir, &o);
        }
    }
    util_close_ok(e);
    util_model_free(&m);
}

/* Many shards, some empty; single key; seeks at the ends. */
static void test_edges(void) {
    const char *dir = fresh("cedge");
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 16;
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "m", 1, "M", 1);
    arm_cursor *c = NULL;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_next(c), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cursor_last(c), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_prev(c), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("m"), ARM_SEEK_GT), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("m"), ARM_SEEK_LT), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("m"), ARM_SEEK_GE), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("m"), ARM_SEEK_LE), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("mm"), ARM_SEEK_LE), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("l\xff\xff"), ARM_SEEK_GT), ARM_OK);
    ARM_CHECK(arm_engine_cursor_key(c).len == 1 && arm_engine_cursor_key(c).ptr[0] == 'm');
    /* empty range by bounds */
    UTIL_CHECK_RC(e, arm_engine_cursor_bounds(c, UTIL_S("m"), 0, UTIL_S("z"), 1), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cursor_last(c), ARM_NOTFOUND);
    /* lo > hi */
    UTIL_CHECK_RC(e, arm_engine_cursor_bounds(c, UTIL_S("z"), 1, UTIL_S("a"), 1), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cursor_seek(c, UTIL_S("m"), ARM_SEEK_GE), ARM_NOTFOUND);
    arm_engine_cursor_close(c);
    util_close_ok(e);
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("cursor on an empty database", test_empty());
    UTIL_CASE("ordered cursor vs model, bounds, reopen", test_ordered_vs_model());
    UTIL_CASE("cursor with a batch overlay", test_overlay());
    UTIL_CASE("hash index cursor", test_hash_cursor());
    UTIL_CASE("edges", test_edges());
    UTIL_CASE("read committed under the cursor", test_read_committed());
    return harness_done();
}
