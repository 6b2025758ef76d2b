/* SPDX-License-Identifier: MIT */
/*
 * test_engine_basic.c: the public engine API on one thread: options,
 * open/close/reopen, point operations, cas, limits, read-only, stats, file
 * rotation, and every sync mode / io backend / index kind with reopen checks.
 * Written against arm_engine.h and the format in ARCHITECTURE.md.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../common/arm_hash.h"
#include "../util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmp[512];
static char g_db[600];

/* Fresh directory per case; the database lives in <tmp>/db (not created
 * yet, so open must create it). */
static const char *fresh_db(const char *tag) {
    if (g_tmp[0]) util_rmrf(g_tmp);
    util_tmpdir_ok(g_tmp, sizeof g_tmp, tag);
    snprintf(g_db, sizeof g_db, "%s/db", g_tmp);
    return g_db;
}

static void base_opts(arm_engine_options *o) {
    arm_engine_options_init(o);
    o->compaction = 0; /* some tests count and parse the data files they wrote */
    o->shard_count = 4;
}

static size_t mkkey(char *buf, unsigned i) { return (size_t)sprintf(buf, "key%07u", i); }

/* Value for key i, generation g: length chosen from (i, g), bytes from both. */
static size_t mkval(uint8_t *buf, size_t maxlen, unsigned i, unsigned g) {
    size_t len = (size_t)((i * 7919u + g * 104729u) % (maxlen + 1));
    util_fill(buf, len, i, g);
    return len;
}

static void reopen(arm_engine **e, const char *dir, const arm_engine_options *o) {
    util_close_ok(*e);
    *e = util_open_ok(dir, o);
}

static uint64_t rd64le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint32_t rd32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void test_defaults(void) {
    arm_engine_options o;
    memset(&o, 0xa5, sizeof o);
    arm_engine_options_init(&o);
    ARM_CHECK(o.shard_count == 0);
    ARM_CHECK(o.shard_prefix_bits == 0);
    ARM_CHECK(o.max_file_size == 256ull << 20);
    ARM_CHECK(o.write_buffer_size == 1u << 20);
    ARM_CHECK(o.sync_mode == ARM_SYNC_NORMAL);
    ARM_CHECK(o.compaction_threshold > 0.299 && o.compaction_threshold < 0.301);
    ARM_CHECK(o.index_kind == ARM_INDEX_ORDERED);
    ARM_CHECK(o.cache_size == 0);
    ARM_CHECK(o.max_key_size == 1024);
    ARM_CHECK(o.max_value_size == 16u << 20);
    ARM_CHECK(o.io_backend == ARM_IO_AUTO);
    ARM_CHECK(o.read_only == 0);
    ARM_CHECK(o.create_if_missing == 1);
}

static void test_create_layout(void) {
    const char *dir = fresh_db("create");
    arm_engine_options o;
    base_opts(&o);

    /* missing directory without create_if_missing */
    o.create_if_missing = 0;
    arm_engine *e = (arm_engine *)(uintptr_t)1;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e), ARM_NOTFOUND);
    ARM_CHECK(e == NULL);
    ARM_CHECK(access(dir, F_OK) != 0);
    o.create_if_missing = 1;

    e = util_open_ok(dir, &o);
    ARM_CHECK(strcmp(arm_engine_dir(e), dir) == 0);
    ARM_CHECK(arm_engine_count(e) == 0);
    util_put_ok(e, "a", 1, "1", 1);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.shards == 4);
    ARM_CHECK(st.keys == 1);
    ARM_CHECK(st.read_only == 0);
    uint8_t dbid[16];
    memcpy(dbid, st.db_id, 16);
    util_close_ok(e);

    /* ARMDB: 64 bytes, byte for byte as documented */
    char path[700];
    snprintf(path, sizeof path, "%s/ARMDB", dir);
    size_t len;
    uint8_t *m = util_read_file(path, &len);
    ARM_CHECK(m != NULL);
    ARM_CHECK(len == 64);
    ARM_CHECK(memcmp(m, "ARMDBMTA", 8) == 0);
    ARM_CHECK(rd32le(m + 8) == 1);
    ARM_CHECK(rd32le(m + 12) == 4);
    ARM_CHECK(memcmp(m + 16, dbid, 16) == 0);
    ARM_CHECK(rd32le(m + 32) == 0); /* not encrypted */
    ARM_CHECK(rd32le(m + 36) == 0); /* prefix bits */
    ARM_CHECK(rd64le(m + 40) > 1600000000000ull);
    ARM_CHECK(rd64le(m + 56) == arm_hash_checksum(m, 56));
    free(m);
    uint8_t zero[16] = {0};
    ARM_CHECK(memcmp(dbid, zero, 16) != 0);

    /* reopen: same id, data there; open with NULL options works too */
    e = util_open_ok(dir, NULL);
    arm_engine_stats_get(e, &st);
    ARM_CHECK(memcmp(st.db_id, dbid, 16) == 0);
    ARM_CHECK(st.shards == 4);
    util_expect(e, "a", 1, "1", 1);
    util_close_ok(e);

    /* a data file for the key's shard exists and parses by the format */
    util_logfile lf[64];
    int n = util_list_logs(dir, lf, 64);
    ARM_CHECK(n >= 1 && n <= 64);
    int entries = 0;
    for (int i = 0; i < n; i++) {
        size_t hl;
        uint8_t *h = util_read_file(lf[i].path, &hl);
        ARM_CHECK(h != NULL && hl >= 64);
        ARM_CHECK(memcmp(h, "ARMLOG\0\1", 8) == 0);
        ARM_CHECK(rd32le(h + 8) == 1);
        ARM_CHECK(rd32le(h + 12) == lf[i].shard);
        ARM_CHECK(rd32le(h + 16) == lf[i].fid);
        ARM_CHECK(memcmp(h + 24, dbid, 16) == 0);
        ARM_CHECK(rd64le(h + 56) == arm_hash_checksum(h, 56));
        free(h);
        util_entry ent[4];
        int c = util_parse_log(lf[i].path, ent, 4, NULL);
        ARM_CHECK(c >= 0);
        for (int j = 0; j < c && j < 4; j++) {
            ARM_CHECK(ent[j].type == UTIL_T_PUT);
            ARM_CHECK(ent[j].flags == 0);
            ARM_CHECK(ent[j].klen == 1 && ent[j].vlen == 1);
            ARM_CHECK(ent[j].seq >= 1);
        }
        entries += c;
    }
    ARM_CHECK(entries == 1);
    arm_engine_close(NULL); /* allowed */
}

static void test_point_ops(void) {
    const char *dir = fresh_db("point");
    arm_engine_options o;
    base_opts(&o);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);

    arm_buf b = {0};
    ARM_CHECK_RC(arm_engine_get(e, UTIL_S("nope"), &b), ARM_NOTFOUND);
    ARM_CHECK(b.len == 0);
    ARM_CHECK_RC(arm_engine_contains(e, UTIL_S("nope")), ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_delete(e, UTIL_S("nope")), ARM_NOTFOUND);
    ARM_CHECK(arm_engine_count(e) == 0);
    ARM_CHECK(strcmp(arm_engine_errmsg(e), "") == 0 || 1); /* NOTFOUND sets none: not asserted */

    char k[32];
    uint8_t v[600];
    for (unsigned i = 0; i < 500; i++) {
        size_t kl = mkkey(k, i), vl = mkval(v, sizeof v, i, 0);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    ARM_CHECK(arm_engine_count(e) == 500);
    /* overwrite every third, delete every fifth */
    for (unsigned i = 0; i < 500; i += 3) {
        size_t kl = mkkey(k, i), vl = mkval(v, sizeof v, i, 1);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    for (unsigned i = 0; i < 500; i += 5) {
        size_t kl = mkkey(k, i);
        UTIL_CHECK_RC(e, arm_engine_delete(e, arm_slice_make(k, kl)), ARM_OK);
        util_model_del(&m, k, kl);
        ARM_CHECK_RC(arm_engine_delete(e, arm_slice_make(k, kl)), ARM_NOTFOUND);
        ARM_CHECK_RC(arm_engine_contains(e, arm_slice_make(k, kl)), ARM_NOTFOUND);
    }
    util_expect_model(e, &m);
    for (unsigned i = 0; i < 500; i++) {
        size_t kl = mkkey(k, i);
        int want = util_model_get(&m, k, kl) ? ARM_OK : ARM_NOTFOUND;
        ARM_CHECK_RC(arm_engine_contains(e, arm_slice_make(k, kl)), want);
    }
    /* a reused buffer shrinks and grows correctly */
    util_put_ok(e, "big", 3, v, sizeof v);
    util_put_ok(e, "small", 5, "x", 1);
    util_model_put(&m, "big", 3, v, sizeof v);
    util_model_put(&m, "small", 5, "x", 1);
    ARM_CHECK_RC(arm_engine_get(e, UTIL_S("big"), &b), ARM_OK);
    ARM_CHECK(b.len == sizeof v && memcmp(b.ptr, v, sizeof v) == 0);
    ARM_CHECK_RC(arm_engine_get(e, UTIL_S("small"), &b), ARM_OK);
    ARM_CHECK(b.len == 1 && b.ptr[0] == 'x');
    arm_buf_free(&b);

    /* binary keys: zero bytes, 0xff, prefixes of each other */
    const uint8_t bk1[] = {0}, bk2[] = {0, 0}, bk3[] = {0xff, 0, 0xff}, bk4[] = {0xff};
    util_put_ok(e, bk1, 1, "z1", 2);
    util_put_ok(e, bk2, 2, "z2", 2);
    util_put_ok(e, bk3, 3, "z3", 2);
    util_put_ok(e, bk4, 1, "", 0);
    util_model_put(&m, bk1, 1, "z1", 2);
    util_model_put(&m, bk2, 2, "z2", 2);
    util_model_put(&m, bk3, 3, "z3", 2);
    util_model_put(&m, bk4, 1, "", 0);
    util_expect_model(e, &m);

    reopen(&e, dir, &o);
    util_expect_model(e, &m);
    /* deleted keys stay deleted after reopen */
    for (unsigned i = 0; i < 500; i += 5) {
        size_t kl = mkkey(k, i);
        util_expect_missing(e, k, kl);
    }
    util_close_ok(e);
    util_model_free(&m);
}

/* After every kind of write, close and reopen: the state is exactly kept. */
static void test_reopen_every_write(void) {
    const char *dir = fresh_db("reopen");
    arm_engine_options o;
    base_opts(&o);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    arm_batch *bt = NULL;

    for (int step = 0; step < 9; step++) {
        switch (step) {
        case 0: /* put */
            util_put_ok(e, "p", 1, "v0", 2);
            util_model_put(&m, "p", 1, "v0", 2);
            break;
        case 1: /* overwrite */
            util_put_ok(e, "p", 1, "v1-longer", 9);
            util_model_put(&m, "p", 1, "v1-longer", 9);
            break;
        case 2: /* delete */
            UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("p")), ARM_OK);
            util_model_del(&m, "p", 1);
            break;
        case 3: /* cas insert */
            UTIL_CHECK_RC(e, arm_engine_cas(e, UTIL_S("c"), arm_slice_make(NULL, 0), UTIL_S("c0")),
                          ARM_OK);
            util_model_put(&m, "c", 1, "c0", 2);
            break;
        case 4: /* cas update */
            UTIL_CHECK_RC(e, arm_engine_cas(e, UTIL_S("c"), UTIL_S("c0"), UTIL_S("c1")), ARM_OK);
            util_model_put(&m, "c", 1, "c1", 2);
            break;
        case 5: /* cas delete */
            UTIL_CHECK_RC(e, arm_engine_cas(e, UTIL_S("c"), UTIL_S("c1"), arm_slice_make(NULL, 0)),
                          ARM_OK);
            util_model_del(&m, "c", 1);
            break;
        case 6: /* batch of puts and a delete over several shards */
            util_put_ok(e, "d", 1, "dd", 2);
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
            for (int i = 0; i < 20; i++) {
                char k[8];
                snprintf(k, sizeof k, "b%02d", i);
                ARM_CHECK_RC(arm_engine_batch_put(bt, UTIL_S(k), UTIL_S(k)), ARM_OK);
                util_model_put(&m, k, strlen(k), k, strlen(k));
            }
            ARM_CHECK_RC(arm_engine_batch_delete(bt, UTIL_S("d")), ARM_OK);
            UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
            arm_engine_batch_free(bt);
            break;
        case 7: /* batch with one operation */
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
            ARM_CHECK_RC(arm_engine_batch_put(bt, UTIL_S("single"), UTIL_S("s")), ARM_OK);
            UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
            arm_engine_batch_free(bt);
            util_model_put(&m, "single", 6, "s", 1);
            break;
        case 8: /* batch deleting what an earlier batch wrote */
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
            for (int i = 0; i < 20; i += 2) {
                char k[8];
                snprintf(k, sizeof k, "b%02d", i);
                ARM_CHECK_RC(arm_engine_batch_delete(bt, UTIL_S(k)), ARM_OK);
                util_model_del(&m, k, strlen(k));
            }
            UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
            arm_engine_batch_free(bt);
            break;
        }
        util_expect_model(e, &m);
        reopen(&e, dir, &o);
        util_expect_model(e, &m);
        if (step == 2) util_expect_missing(e, "p", 1);
        if (step == 6) util_expect_missing(e, "d", 1);
    }
    util_close_ok(e);
    util_model_free(&m);
}

static void test_cas(void) {
    const char *dir = fresh_db("cas");
    arm_engine_options o;
    base_opts(&o);
    arm_engine *e = util_open_ok(dir, &o);
    arm_slice none = arm_slice_make(NULL, 0);

    /* absent expected on absent key: inserts */
    UTIL_CHECK_RC(e, arm_engine_cas(e, UTIL_S("k"), none, UTIL_S("one")), ARM_OK);
    util_expect(e, "k", 1, "one", 3);
    /* absent expected on present key: constraint, nothing written */
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("k"), none, UTIL_S("two")), ARM_CONSTRAINT);
    util_expect(e, "k", 1, "one", 3);
    /* mismatch */
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("k"), UTIL_S("on"), UTIL_S("two")), ARM_CONSTRAINT);
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("k"), UTIL_S("one!"), UTIL_S("two")), ARM_CONSTRAINT);
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("k"), UTIL_S("ONE"), UTIL_S("two")), ARM_CONSTRAINT);
    util_expect(e, "k", 1, "one", 3);
    /* present expected on absent key */
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("absent"), UTIL_S("x"), UTIL_S("y")), ARM_CONSTRAINT);
    util_expect_missing(e, "absent", 6);
    /* match */
    UTIL_CHECK_RC(e, arm_engine_cas(e, UTIL_S("k"), UTIL_S("one"), UTIL_S("two")), ARM_OK);
    util_expect(e, "k", 1, "two", 3);
    /* empty value is a value, distinct from absent */
    UTIL_CHECK_RC(e, arm_engine_cas(e, UTIL_S("k"), UTIL_S("two"), arm_slice_make("", 0)), ARM_OK);
    util_expect(e, "k", 1, "", 0);
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("k"), none, UTIL_S("x")), ARM_CONSTRAINT);
    UTIL_CHECK_RC(e, arm_engine_cas(e, UTIL_S("k"), arm_slice_make("", 0), UTIL_S("three")),
                  ARM_OK);
    /* cas to delete: mismatch keeps, match deletes */
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("k"), UTIL_S("two"), none), ARM_CONSTRAINT);
    util_expect(e, "k", 1, "three", 5);
    UTIL_CHECK_RC(e, arm_engine_cas(e, UTIL_S("k"), UTIL_S("three"), none), ARM_OK);
    util_expect_missing(e, "k", 1);
    ARM_CHECK(arm_engine_count(e) == 0);
    /* absent -> absent: the key is absent, so expected matches; nothing to write */
    int rc = arm_engine_cas(e, UTIL_S("k"), none, none);
    ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
    util_expect_missing(e, "k", 1);
    /* over-long keys are refused */
    uint8_t longk[1025];
    memset(longk, 'L', sizeof longk);
    ARM_CHECK_RC(arm_engine_cas(e, arm_slice_make(longk, sizeof longk), none, UTIL_S("v")),
                 ARM_TOOBIG);
    reopen(&e, dir, &o);
    util_expect_missing(e, "k", 1);
    ARM_CHECK(arm_engine_count(e) == 0);
    util_close_ok(e);
}

static void test_limits(void) {
    const char *dir = fresh_db("limits");
    arm_engine_options o;
    base_opts(&o);
    o.max_key_size = 100;
    o.max_value_size = 5000;
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "keep", 4, "kept", 4);
    arm_engine_stats st0, st1;
    arm_engine_stats_get(e, &st0);

    uint8_t k[200], v[6000];
    memset(k, 'k', sizeof k);
    memset(v, 'v', sizeof v);
    /* empty key: ptr NULL or not */
    ARM_CHECK_RC(arm_engine_put(e, arm_slice_make(NULL, 0), UTIL_S("x")), ARM_TOOBIG);
    ARM_CHECK(arm_engine_errmsg(e)[0] != '\0');
    ARM_CHECK_RC(arm_engine_put(e, arm_slice_make(k, 0), UTIL_S("x")), ARM_TOOBIG);
    /* key one over the limit; exactly at it is fine */
    ARM_CHECK_RC(arm_engine_put(e, arm_slice_make(k, 101), UTIL_S("x")), ARM_TOOBIG);
    ARM_CHECK(arm_engine_errmsg(e)[0] != '\0');
    ARM_CHECK_RC(arm_engine_put(e, arm_slice_make(k, 200), UTIL_S("x")), ARM_TOOBIG);
    /* value one over */
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("vk"), arm_slice_make(v, 5001)), ARM_TOOBIG);
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("vk"), arm_slice_make(v, 6000)), ARM_TOOBIG);
    /* cas and delete refuse over-long keys without writing */
    int rc = arm_engine_delete(e, arm_slice_make(k, 101));
    ARM_CHECK(rc == ARM_TOOBIG || rc == ARM_NOTFOUND);
    rc = arm_engine_delete(e, arm_slice_make(NULL, 0));
    ARM_CHECK(rc == ARM_TOOBIG || rc == ARM_NOTFOUND);
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("vk"), arm_slice_make(NULL, 0), arm_slice_make(v, 5001)),
                 ARM_TOOBIG);
    /* reads of bad keys do not crash and find nothing */
    arm_buf b = {0};
    rc = arm_engine_get(e, arm_slice_make(k, 101), &b);
    ARM_CHECK(rc == ARM_NOTFOUND || rc == ARM_TOOBIG);
    rc = arm_engine_get(e, arm_slice_make(NULL, 0), &b);
    ARM_CHECK(rc == ARM_NOTFOUND || rc == ARM_TOOBIG);
    rc = arm_engine_contains(e, arm_slice_make(NULL, 0));
    ARM_CHECK(rc == ARM_NOTFOUND || rc == ARM_TOOBIG);
    arm_buf_free(&b);
    /* batch operations refuse too, and the batch stays usable */
    arm_batch *bt = NULL;
    ARM_CHECK_RC(arm_engine_batch_new(e, &bt), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(bt, arm_slice_make(k, 101), UTIL_S("x")), ARM_TOOBIG);
    ARM_CHECK_RC(arm_engine_batch_put(bt, arm_slice_make(NULL, 0), UTIL_S("x")), ARM_TOOBIG);
    ARM_CHECK_RC(arm_engine_batch_put(bt, UTIL_S("bk"), arm_slice_make(v, 5001)), ARM_TOOBIG);
    ARM_CHECK_RC(arm_engine_batch_delete(bt, arm_slice_make(k, 101)), ARM_TOOBIG);
    ARM_CHECK(arm_engine_batch_mark(bt) == 0);
    ARM_CHECK_RC(arm_engine_batch_put(bt, UTIL_S("bk"), UTIL_S("bv")), ARM_OK);
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
    arm_engine_batch_free(bt);
    util_expect(e, "bk", 2, "bv", 2);
    UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("bk")), ARM_OK);

    /* nothing written by any refused call */
    arm_engine_stats_get(e, &st1);
    ARM_CHECK(arm_engine_count(e) == 1);
    ARM_CHECK(st1.keys == 1);
    ARM_CHECK(st1.live_bytes == st0.live_bytes);
    util_expect_missing(e, "vk", 2);

    /* exactly at the limits works */
    util_put_ok(e, k, 100, v, 5000);
    util_expect(e, k, 100, v, 5000);
    reopen(&e, dir, &o);
    ARM_CHECK(arm_engine_count(e) == 2);
    util_expect(e, k, 100, v, 5000);
    util_expect(e, "keep", 4, "kept", 4);
    util_expect_missing(e, "vk", 2);
    util_close_ok(e);

    /* absolute key limit: 65535 with max_key_size = 65535 */
    dir = fresh_db("limits64k");
    base_opts(&o);
    o.max_key_size = 65535;
    e = util_open_ok(dir, &o);
    uint8_t *bigk = malloc(65536);
    ARM_CHECK(bigk != NULL);
    util_fill(bigk, 65536, 1, 2);
    util_put_ok(e, bigk, 65535, "v", 1);
    ARM_CHECK_RC(arm_engine_put(e, arm_slice_make(bigk, 65536), UTIL_S("v")), ARM_TOOBIG);
    reopen(&e, dir, &o);
    util_expect(e, bigk, 65535, "v", 1);
    ARM_CHECK(arm_engine_count(e) == 1);
    util_close_ok(e);
    free(bigk);
}

static void test_value_sizes(void) {
    const char *dir = fresh_db("vsize");
    arm_engine_options o;
    base_opts(&o);
    o.write_buffer_size = 1u << 20;
    o.max_value_size = 4u << 20;
    o.max_file_size = 64ull << 20;
    arm_engine *e = util_open_ok(dir, &o);
    const size_t wbs = o.write_buffer_size;
    /* entry = 20 + klen(4) + vlen: values that make the entry just below,
     * at and just above the write buffer, and several times bigger */
    const size_t sizes[] = {0,       1,           2,           4095,         4096,     4097,
                            wbs - 25, wbs - 24,   wbs - 23,    wbs,          wbs + 1,  3u << 20,
                            (4u << 20) - 1, 4u << 20};
    const size_t nsz = sizeof sizes / sizeof sizes[0];
    uint8_t *v = malloc((4u << 20) + 1);
    ARM_CHECK(v != NULL);
    char k[8];
    for (size_t i = 0; i < nsz; i++) {
        snprintf(k, sizeof k, "v%03zu", i);
        util_fill(v, sizes[i], i, 77);
        util_put_ok(e, k, 4, v, sizes[i]);
        util_expect(e, k, 4, v, sizes[i]);
        /* small writes after a big one still work and read back */
        util_put_ok(e, "tiny", 4, k, 4);
        util_expect(e, "tiny", 4, k, 4);
    }
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("over"), arm_slice_make(v, (4u << 20) + 1)), ARM_TOOBIG);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < nsz; i++) {
            snprintf(k, sizeof k, "v%03zu", i);
            util_fill(v, sizes[i], i, 77);
            util_expect(e, k, 4, v, sizes[i]);
        }
        util_expect_missing(e, "over", 4);
        ARM_CHECK(arm_engine_count(e) == nsz + 1);
        if (round == 0) UTIL_CHECK_RC(e, arm_engine_flush(e), ARM_OK);
        if (round == 1) reopen(&e, dir, &o);
    }
    util_close_ok(e);
    free(v);
}

static void test_shard_count_fixed(void) {
    const char *dir = fresh_db("shards");
    arm_engine_options o;
    base_opts(&o);
    o.shard_count = 3;
    arm_engine *e = util_open_ok(dir, &o);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "s%d", i);
        util_put_ok(e, k, strlen(k), k, strlen(k));
    }
    util_close_ok(e);

    o.shard_count = 5;
    e = (arm_engine *)(uintptr_t)1;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e), ARM_MISUSE);
    ARM_CHECK(e == NULL);
    ARM_CHECK(arm_engine_errmsg(NULL)[0] != '\0');
    o.shard_count = 1;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e), ARM_MISUSE);

    o.shard_count = 0; /* as stored */
    e = util_open_ok(dir, &o);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.shards == 3);
    ARM_CHECK(arm_engine_count(e) == 100);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "s%d", i);
        util_expect(e, k, strlen(k), k, strlen(k));
    }
    util_close_ok(e);
    o.shard_count = 3;
    e = util_open_ok(dir, &o);
    util_close_ok(e);

    /* shard_count 0 at creation: number of CPUs, at least 1 */
    dir = fresh_db("shards0");
    o.shard_count = 0;
    e = util_open_ok(dir, &o);
    arm_engine_stats_get(e, &st);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    ARM_CHECK(st.shards >= 1);
    if (ncpu > 0) ARM_CHECK(st.shards == (uint32_t)ncpu);
    util_close_ok(e);
}

static void test_bad_options(void) {
    struct {
        const char *what;
        int field;
        long long val;
        double dval;
    } bad[] = {
        {"write_buffer_size 1000", 0, 1000, 0},
        {"write_buffer_size 4097", 0, 4097, 0},
        {"max_key_size 0", 1, 0, 0},
        {"max_key_size 65536", 1, 65536, 0},
        {"sync_mode 7", 2, 7, 0},
        {"sync_mode -1", 2, -1, 0},
        {"index_kind 5", 3, 5, 0},
        {"io_backend 9", 4, 9, 0},
        {"compaction_threshold -1", 5, 0, -1.0},
        {"compaction_threshold 1.5", 5, 0, 1.5},
        {"max_value_size > max_file_size", 6, 0, 0},
        {"max_file_size 100", 7, 100, 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *dir = fresh_db("badopt");
        arm_engine_options o;
        base_opts(&o);
        switch (bad[i].field) {
        case 0: o.write_buffer_size = (uint32_t)bad[i].val; break;
        case 1: o.max_key_size = (uint32_t)bad[i].val; break;
        case 2: o.sync_mode = (int)bad[i].val; break;
        case 3: o.index_kind = (int)bad[i].val; break;
        case 4: o.io_backend = (int)bad[i].val; break;
        case 5: o.compaction_threshold = bad[i].dval; break;
        case 6:
            o.max_file_size = 1u << 20;
            o.max_value_size = 2u << 20;
            break;
        case 7: o.max_file_size = (uint64_t)bad[i].val; break;
        }
        arm_engine *e = (arm_engine *)(uintptr_t)1;
        int rc = arm_engine_open(dir, &o, &e);
        if (rc != ARM_MISUSE && rc != ARM_RANGE) {
            fprintf(stderr, "bad option '%s': open returned %s, expected ARM_MISUSE or ARM_RANGE\n",
                    bad[i].what, arm_rc_str(rc));
            if (rc == ARM_OK) arm_engine_close(e);
            ARM_CHECK(rc == ARM_MISUSE || rc == ARM_RANGE);
        }
        ARM_CHECK(e == NULL);
        ARM_CHECK(arm_engine_errmsg(NULL)[0] != '\0');
    }
}

static void test_read_only(void) {
    const char *dir = fresh_db("ro");
    arm_engine_options o;
    base_opts(&o);
    o.read_only = 1;
    arm_engine *e = NULL;
    int rc = arm_engine_open(dir, &o, &e); /* nothing to open: read-only never creates */
    ARM_CHECK(rc != ARM_OK);
    ARM_CHECK(e == NULL);
    o.read_only = 0;
    e = util_open_ok(dir, &o);
    util_put_ok(e, "a", 1, "A", 1);
    util_put_ok(e, "b", 1, "B", 1);
    util_close_ok(e);

    o.read_only = 1;
    e = util_open_ok(dir, &o);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.read_only == 1);
    util_expect(e, "a", 1, "A", 1);
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("c"), UTIL_S("C")), ARM_READONLY);
    ARM_CHECK(arm_engine_errmsg(e)[0] != '\0');
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("a"), UTIL_S("X")), ARM_READONLY);
    ARM_CHECK_RC(arm_engine_delete(e, UTIL_S("a")), ARM_READONLY);
    ARM_CHECK_RC(arm_engine_cas(e, UTIL_S("a"), UTIL_S("A"), UTIL_S("X")), ARM_READONLY);
    arm_batch *bt = NULL;
    ARM_CHECK_RC(arm_engine_batch_new(e, &bt), ARM_OK);
    /* refused at the first write or at commit */
    rc = arm_engine_batch_put(bt, UTIL_S("d"), UTIL_S("D"));
    ARM_CHECK(rc == ARM_OK || rc == ARM_READONLY);
    if (rc == ARM_OK) ARM_CHECK_RC(arm_engine_batch_commit(e, bt), ARM_READONLY);
    arm_engine_batch_free(bt);
    ARM_CHECK(arm_engine_count(e) == 2);
    util_expect(e, "a", 1, "A", 1);
    util_expect_missing(e, "c", 1);
    util_expect_missing(e, "d", 1);
    rc = arm_engine_flush(e);
    ARM_CHECK(rc == ARM_OK || rc == ARM_READONLY);
    /* a cursor works on a read-only engine */
    arm_cursor *c = NULL;
    ARM_CHECK_RC(arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    ARM_CHECK_RC(arm_engine_cursor_first(c), ARM_OK);
    ARM_CHECK(arm_engine_cursor_key(c).len == 1 && arm_engine_cursor_key(c).ptr[0] == 'a');
    arm_engine_cursor_close(c);
    util_close_ok(e);

    /* nothing changed on disk */
    o.read_only = 0;
    e = util_open_ok(dir, &o);
    ARM_CHECK(arm_engine_count(e) == 2);
    util_expect(e, "a", 1, "A", 1);
    util_expect(e, "b", 1, "B", 1);
    util_close_ok(e);
}

static void test_stats(void) {
    const char *dir = fresh_db("stats");
    arm_engine_options o;
    base_opts(&o);
    o.sync_mode = ARM_SYNC_FULL;
    o.index_kind = ARM_INDEX_HASH;
    arm_engine *e = util_open_ok(dir, &o);
    arm_engine_stats s0, s1, s2, s3;
    arm_engine_stats_get(e, &s0);
    ARM_CHECK(s0.keys == 0);
    ARM_CHECK(s0.shards == 4);
    ARM_CHECK(s0.live_bytes == 0);
    ARM_CHECK(s0.dead_bytes == 0);
    ARM_CHECK(s0.sync_mode == ARM_SYNC_FULL);
    ARM_CHECK(s0.index_kind == ARM_INDEX_HASH);
    ARM_CHECK(s0.read_only == 0);
    ARM_CHECK(s0.io_direct == 0 || s0.io_direct == 1);
    ARM_CHECK(s0.io_uring == 0 || s0.io_uring == 1);

    /* one put: live = one entry (20-byte header + key + value) */
    util_put_ok(e, "stat", 4, "0123456789", 10);
    arm_engine_stats_get(e, &s1);
    ARM_CHECK(s1.keys == 1);
    ARM_CHECK(s1.live_bytes == 20 + 4 + 10);
    ARM_CHECK(s1.dead_bytes == 0);
    ARM_CHECK(s1.last_seq > s0.last_seq);
    ARM_CHECK(s1.files >= 1);
    ARM_CHECK(s1.index_bytes >= s0.index_bytes);

    /* overwrite: old entry becomes dead */
    util_put_ok(e, "stat", 4, "01234", 5);
    arm_engine_stats_get(e, &s2);
    ARM_CHECK(s2.keys == 1);
    ARM_CHECK(s2.live_bytes == 20 + 4 + 5);
    ARM_CHECK(s2.dead_bytes == 20 + 4 + 10);
    ARM_CHECK(s2.last_seq > s1.last_seq);

    /* delete: live entry and the tombstone are dead */
    UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("stat")), ARM_OK);
    arm_engine_stats_get(e, &s3);
    ARM_CHECK(s3.keys == 0);
    ARM_CHECK(s3.live_bytes == 0);
    ARM_CHECK(s3.dead_bytes == (20 + 4 + 10) + (20 + 4 + 5) + (20 + 4));
    ARM_CHECK(s3.last_seq > s2.last_seq);

    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%03d", i);
        util_put_ok(e, k, 4, "vv", 2);
    }
    arm_engine_stats_get(e, &s1);
    ARM_CHECK(s1.keys == 100);
    ARM_CHECK(s1.live_bytes == 100 * (20 + 4 + 2));
    ARM_CHECK(s1.last_seq >= s3.last_seq + 100);
    ARM_CHECK(s1.index_bytes >= 100 * 4);
    uint64_t last = s1.last_seq;
    reopen(&e, dir, &o);
    arm_engine_stats_get(e, &s2);
    ARM_CHECK(s2.keys == 100);
    ARM_CHECK(s2.live_bytes == s1.live_bytes);
    ARM_CHECK(s2.last_seq >= last); /* the counter resumes past what it handed out */
    util_put_ok(e, "after", 5, "x", 1);
    arm_engine_stats_get(e, &s3);
    ARM_CHECK(s3.last_seq > last);
    util_close_ok(e);
}

/* Small max_file_size: many files per shard, each within the limit, all
 * parseable, every key there after reopen. */
static void test_rotation(void) {
    const char *dir = fresh_db("rotate");
    arm_engine_options o;
    base_opts(&o);
    o.shard_count = 2;
    o.max_file_size = 64u << 10;
    o.max_value_size = 16u << 10;
    o.write_buffer_size = 16u << 10;
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    const unsigned n = 1500 * (unsigned)util_scale();
    uint8_t v[3000];
    char k[32];
    for (unsigned i = 0; i < n; i++) {
        unsigned id = i % (n / 2); /* second half overwrites */
        size_t kl = mkkey(k, id), vl = mkval(v, sizeof v, id, i);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
        if (i % 97 == 0 && i) {
            size_t dk = mkkey(k, (unsigned)(harness_rand() % (n / 2)));
            int rc = arm_engine_delete(e, arm_slice_make(k, dk));
            ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
            ARM_CHECK(util_model_del(&m, k, dk) == (rc == ARM_OK));
        }
    }
    /* a value bigger than the write buffer also rotates cleanly */
    uint8_t *big = malloc(16u << 10);
    ARM_CHECK(big != NULL);
    util_fill(big, 16u << 10, 5, 5);
    util_put_ok(e, "big", 3, big, 16u << 10);
    util_model_put(&m, "big", 3, big, 16u << 10);
    free(big);
    util_expect_model(e, &m);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    util_close_ok(e);

    util_logfile lf[512];
    int nf = util_list_logs(dir, lf, 512);
    ARM_CHECK(nf > 4 && nf <= 512);
    ARM_CHECK(st.files == (uint64_t)nf || st.files + 1 == (uint64_t)nf);
    int per_shard[2] = {0, 0};
    uint64_t last_seq[2] = {0, 0};
    for (int i = 0; i < nf; i++) {
        ARM_CHECK(lf[i].shard < 2);
        per_shard[lf[i].shard]++;
        if (i) ARM_CHECK(lf[i].fid > lf[i - 1].fid); /* ids unique database-wide */
        uint64_t end;
        util_entry ent[64];
        int c = util_parse_log(lf[i].path, ent, 64, &end);
        ARM_CHECK(c >= 0);
        /* a file never exceeds the limit (allowing for block zero padding) */
        ARM_CHECK(end <= o.max_file_size);
        ARM_CHECK(lf[i].size <= ((o.max_file_size + 4095) & ~4095ull));
        /* past the last entry only zero padding may follow */
        size_t len;
        uint8_t *buf = util_read_file(lf[i].path, &len);
        ARM_CHECK(buf != NULL);
        for (size_t p = end; p < len; p++) ARM_CHECK(buf[p] == 0);
        free(buf);
        /* within one file, sequence numbers never decrease */
        for (int j = 1; j < c && j < 64; j++) ARM_CHECK(ent[j].seq >= ent[j - 1].seq);
        if (c > 0) {
            ARM_CHECK(ent[0].seq > last_seq[lf[i].shard]);
            last_seq[lf[i].shard] = ent[c < 64 ? c - 1 : 63].seq;
        }
    }
    ARM_CHECK(per_shard[0] >= 2 && per_shard[1] >= 2);

    e = util_open_ok(dir, &o);
    util_expect_model(e, &m);
    /* writes continue in the newest file after reopen */
    util_put_ok(e, "post", 4, "reopen", 6);
    util_model_put(&m, "post", 4, "reopen", 6);
    reopen(&e, dir, &o);
    util_expect_model(e, &m);
    util_close_ok(e);
    util_model_free(&m);
}

/* shard_prefix_bits: keys sharing the prefix share a shard. */
static void test_prefix_routing(void) {
    const char *dir = fresh_db("prefix");
    arm_engine_options o;
    base_opts(&o);
    o.shard_count = 8;
    o.shard_prefix_bits = 12; /* first byte and the high nibble of the second */
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    /* group g: first byte 'A'+g, second byte 0x50 | anything in the low nibble */
    for (int g = 0; g < 6; g++)
        for (int i = 0; i < 40; i++) {
            uint8_t k[6] = {(uint8_t)('A' + g), (uint8_t)(0x50 | (i & 15)), (uint8_t)i, 'x',
                            (uint8_t)(i * 7), 0};
            util_put_ok(e, k, 6, k, 6);
            util_model_put(&m, k, 6, k, 6);
        }
    util_close_ok(e);
    /* per file, collect which groups appear; each group in exactly one shard */
    int group_shard[6] = {-1, -1, -1, -1, -1, -1};
    util_logfile lf[64];
    int nf = util_list_logs(dir, lf, 64);
    ARM_CHECK(nf >= 1 && nf <= 64);
    for (int i = 0; i < nf; i++) {
        util_entry ent[300];
        int c = util_parse_log(lf[i].path, ent, 300, NULL);
        ARM_CHECK(c >= 0 && c <= 300);
        size_t len;
        uint8_t *buf = util_read_file(lf[i].path, &len);
        ARM_CHECK(buf != NULL);
        for (int j = 0; j < c; j++) {
            int g = buf[ent[j].key_off] - 'A';
            ARM_CHECK(g >= 0 && g < 6);
            if (group_shard[g] < 0) group_shard[g] = (int)lf[i].shard;
            ARM_CHECK(group_shard[g] == (int)lf[i].shard);
        }
        free(buf);
    }
    for (int g = 0; g < 6; g++) ARM_CHECK(group_shard[g] >= 0);
    o.shard_prefix_bits = 0; /* fixed at creation: 0 must not reroute stored data */
    arm_engine *e2 = NULL;
    int rc = arm_engine_open(dir, &o, &e2);
    if (rc == ARM_OK) {
        util_expect_model(e2, &m);
        util_close_ok(e2);
    } else {
        ARM_CHECK(rc == ARM_MISUSE);
    }
    o.shard_prefix_bits = 12;
    e = util_open_ok(dir, &o);
    util_expect_model(e, &m);
    util_close_ok(e);
    util_model_free(&m);
}

/* Every sync mode x io backend x index kind: write, reopen, verify. */
static void test_combos(void) {
    const int syncs[] = {ARM_SYNC_OFF, ARM_SYNC_NORMAL, ARM_SYNC_FULL};
    const int ios[] = {ARM_IO_POSIX, ARM_IO_AUTO};
    const int kinds[] = {ARM_INDEX_ORDERED, ARM_INDEX_HASH};
    for (int si = 0; si < 3; si++)
        for (int ii = 0; ii < 2; ii++)
            for (int ki = 0; ki < 2; ki++) {
                const char *dir = fresh_db("combo");
                arm_engine_options o;
                base_opts(&o);
                o.sync_mode = syncs[si];
                o.io_backend = ios[ii];
                o.index_kind = kinds[ki];
                o.write_buffer_size = 64u << 10;
                o.max_file_size = 1u << 20;
                o.max_value_size = 64u << 10;
                arm_engine *e = util_open_ok(dir, &o);
                arm_engine_stats st;
                arm_engine_stats_get(e, &st);
                ARM_CHECK(st.sync_mode == syncs[si]);
                ARM_CHECK(st.index_kind == kinds[ki]);
                if (ios[ii] == ARM_IO_POSIX) ARM_CHECK(st.io_uring == 0 && st.io_direct == 0);
                util_model m;
                util_model_init(&m);
                const unsigned n = syncs[si] == ARM_SYNC_FULL ? 150 : 400;
                uint8_t v[5000];
                char k[32];
                for (unsigned i = 0; i < n; i++) {
                    size_t kl = mkkey(k, i), vl = mkval(v, i % 10 == 0 ? sizeof v : 300, i, 0);
                    util_put_ok(e, k, kl, v, vl);
                    util_model_put(&m, k, kl, v, vl);
                }
                for (unsigned i = 0; i < n; i += 4) {
                    size_t kl = mkkey(k, i), vl = mkval(v, 300, i, 9);
                    util_put_ok(e, k, kl, v, vl);
                    util_model_put(&m, k, kl, v, vl);
                }
                for (unsigned i = 1; i < n; i += 7) {
                    size_t kl = mkkey(k, i);
                    UTIL_CHECK_RC(e, arm_engine_delete(e, arm_slice_make(k, kl)), ARM_OK);
                    util_model_del(&m, k, kl);
                }
                arm_batch *bt = NULL;
                UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
                for (unsigned i = 2; i < n; i += 11) {
                    size_t kl = mkkey(k, i);
                    if (i % 2) {
                        ARM_CHECK_RC(arm_engine_batch_delete(bt, arm_slice_make(k, kl)), ARM_OK);
                        util_model_del(&m, k, kl);
                    } else {
                        ARM_CHECK_RC(arm_engine_batch_put(bt, arm_slice_make(k, kl), UTIL_S("B")),
                                     ARM_OK);
                        util_model_put(&m, k, kl, "B", 1);
                    }
                }
                UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
                arm_engine_batch_free(bt);
                util_expect_model(e, &m);
                reopen(&e, dir, &o);
                util_expect_model(e, &m);
                arm_engine_stats_get(e, &st);
                ARM_CHECK(st.sync_mode == syncs[si]);
                ARM_CHECK(st.index_kind == kinds[ki]);
                /* and once more after writing on the reopened engine */
                util_put_ok(e, "again", 5, "x", 1);
                util_model_put(&m, "again", 5, "x", 1);
                reopen(&e, dir, &o);
                util_expect_model(e, &m);
                util_close_ok(e);
                util_model_free(&m);
            }
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("options_init defaults", test_defaults());
    UTIL_CASE("create, layout and metadata", test_create_layout());
    UTIL_CASE("put/get/overwrite/delete/contains/count", test_point_ops());
    UTIL_CASE("reopen after every kind of write", test_reopen_every_write());
    UTIL_CASE("compare-and-swap", test_cas());
    UTIL_CASE("key and value limits", test_limits());
    UTIL_CASE("value sizes around the write buffer", test_value_sizes());
    UTIL_CASE("shard_count fixed at creation", test_shard_count_fixed());
    UTIL_CASE("bad options", test_bad_options());
    UTIL_CASE("read-only engine", test_read_only());
    UTIL_CASE("stats", test_stats());
    UTIL_CASE("file rotation", test_rotation());
    UTIL_CASE("shard_prefix_bits routing", test_prefix_routing());
    UTIL_CASE("sync x io x index combinations", test_combos());
    return harness_done();
}
