/* SPDX-License-Identifier: MIT */
/*
 * test_app_meta.c: the application-metadata blob (arm_engine_app_meta_get /
 * set, opts.app_meta) and the rule that metadata is never created over data
 * files. Stored at creation and returned at every open; replaced atomically;
 * damage, a file copied from another database, and read-only sets are
 * errors; a database without a blob says ARM_NOTFOUND; destroy removes it.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_base[512];
static char g_dir[600];

static const char *fresh(const char *tag) {
    snprintf(g_dir, sizeof g_dir, "%s/%s", g_base, tag);
    return g_dir;
}

static arm_engine *open_with(const char *dir, const char *meta) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 2;
    o.app_meta = meta;
    o.app_meta_len = meta ? (uint32_t)strlen(meta) : 0;
    return util_open_ok(dir, &o);
}

static void expect_meta(arm_engine *e, const char *want) {
    arm_buf b = {0};
    int rc = arm_engine_app_meta_get(e, &b);
    if (want == NULL) {
        ARM_CHECK_RC(rc, ARM_NOTFOUND);
    } else {
        ARM_CHECK_RC(rc, ARM_OK);
        ARM_CHECK(b.len == strlen(want) && memcmp(b.ptr, want, b.len) == 0);
    }
    arm_buf_free(&b);
}

static void test_stored_at_creation(void) {
    const char *dir = fresh("create");
    arm_engine *e = open_with(dir, "form=table");
    expect_meta(e, "form=table");
    util_put_ok(e, "k", 1, "v", 1);
    util_close_ok(e);
    /* reopening with another blob in the options does not replace it */
    e = open_with(dir, "something else");
    expect_meta(e, "form=table");
    util_close_ok(e);
    char p[700];
    snprintf(p, sizeof p, "%s/APPMETA", dir);
    ARM_CHECK(util_file_size(p) > 0);
}

static void test_set_replaces(void) {
    const char *dir = fresh("set");
    arm_engine *e = open_with(dir, NULL);
    expect_meta(e, NULL); /* created without one: none */
    ARM_CHECK_RC(arm_engine_app_meta_set(e, UTIL_S("v1")), ARM_OK);
    expect_meta(e, "v1");
    ARM_CHECK_RC(arm_engine_app_meta_set(e, UTIL_S("second version")), ARM_OK);
    ARM_CHECK_RC(arm_engine_app_meta_set(e, arm_slice_make("", 0)), ARM_OK);
    expect_meta(e, "");
    ARM_CHECK_RC(arm_engine_app_meta_set(e, UTIL_S("v3")), ARM_OK);
    util_close_ok(e);
    e = open_with(dir, NULL);
    expect_meta(e, "v3");
    /* too big: refused, the old one stays */
    size_t n = 65537;
    char *big = calloc(1, n);
    ARM_CHECK(big != NULL);
    ARM_CHECK_RC(arm_engine_app_meta_set(e, arm_slice_make(big, n)), ARM_TOOBIG);
    ARM_CHECK_RC(arm_engine_app_meta_set(e, arm_slice_make(big, n - 1)), ARM_OK);
    ARM_CHECK_RC(arm_engine_app_meta_set(e, UTIL_S("v4")), ARM_OK);
    free(big);
    expect_meta(e, "v4");
    util_close_ok(e);
    /* a stray tmp file (a crash before the rename) changes nothing */
    char p[700];
    snprintf(p, sizeof p, "%s/APPMETA.tmp", dir);
    FILE *f = fopen(p, "wb");
    ARM_CHECK(f != NULL && fputs("half written", f) >= 0);
    fclose(f);
    e = open_with(dir, NULL);
    expect_meta(e, "v4");
    util_close_ok(e);
}

static void test_read_only(void) {
    const char *dir = fresh("ro");
    arm_engine *e = open_with(dir, "mine");
    util_close_ok(e);
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.read_only = 1;
    e = util_open_ok(dir, &o);
    expect_meta(e, "mine");
    ARM_CHECK_RC(arm_engine_app_meta_set(e, UTIL_S("x")), ARM_READONLY);
    util_close_ok(e);
}

/* Flip a bit, truncate, or copy in another database's APPMETA: ARM_CORRUPT
 * at open, naming the file; read-only opens treat it as absent. */
static void test_damage(void) {
    char a[700], b[700], pa[800], pb[800];
    snprintf(a, sizeof a, "%s/dmg-a", g_base);
    snprintf(b, sizeof b, "%s/dmg-b", g_base);
    util_close_ok(open_with(a, "database a"));
    util_close_ok(open_with(b, "database b"));
    snprintf(pa, sizeof pa, "%s/APPMETA", a);
    snprintf(pb, sizeof pb, "%s/APPMETA", b);
    for (int variant = 0; variant < 4; variant++) {
        char w[700], p[800];
        snprintf(w, sizeof w, "%s/dmg-w%d", g_base, variant);
        ARM_CHECK(util_copy_db(a, w) == 0);
        snprintf(p, sizeof p, "%s/APPMETA", w);
        switch (variant) {
        case 0: ARM_CHECK(util_flip_bit(p, 45, 2) == 0); break;  /* payload */
        case 1: ARM_CHECK(util_flip_bit(p, 12, 0) == 0); break;  /* length */
        case 2: ARM_CHECK(util_truncate(p, 20) == 0); break;
        default: ARM_CHECK(util_copy_file(pb, p) == 0); break; /* another database's */
        }
        arm_engine_options o;
        arm_engine_options_init(&o);
        arm_engine *e = NULL;
        ARM_CHECK_RC(arm_engine_open(w, &o, &e), ARM_CORRUPT);
        ARM_CHECK(strstr(arm_engine_errmsg(NULL), "APPMETA") != NULL);
        o.read_only = 1;
        e = util_open_ok(w, &o);
        expect_meta(e, NULL);
        util_close_ok(e);
    }
}

/* ARMDB gone, data files left: no new database over them. */
static void test_no_metadata_over_data(void) {
    const char *dir = fresh("over");
    arm_engine *e = open_with(dir, "x");
    util_put_ok(e, "k", 1, "v", 1);
    util_close_ok(e);
    char p[700];
    snprintf(p, sizeof p, "%s/ARMDB", dir);
    ARM_CHECK(unlink(p) == 0);
    arm_engine_options o;
    arm_engine_options_init(&o);
    e = NULL;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e), ARM_CORRUPT);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), ".log") != NULL);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "ARMDB") != NULL);
    ARM_CHECK(access(p, F_OK) != 0); /* nothing was created */
    o.read_only = 1;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e), ARM_CORRUPT);
}

static void test_destroy_removes_it(void) {
    const char *dir = fresh("destroy");
    util_close_ok(open_with(dir, "gone soon"));
    ARM_CHECK_RC(arm_engine_destroy(dir), ARM_OK);
    struct stat st;
    ARM_CHECK(stat(dir, &st) != 0); /* the directory went too: nothing was left in it */
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_base, sizeof g_base, "appmeta");
    util_rmrf_at_exit(g_base);
    ARM_TEST("app meta: stored at creation, returned at open") test_stored_at_creation();
    ARM_TEST("app meta: set replaces it atomically") test_set_replaces();
    ARM_TEST("app meta: read-only engines read it, cannot set it") test_read_only();
    ARM_TEST("app meta: damage and foreign files are ARM_CORRUPT") test_damage();
    ARM_TEST("open: no metadata is created over data files") test_no_metadata_over_data();
    ARM_TEST("destroy: removes APPMETA too") test_destroy_removes_it();
    return harness_done();
}
