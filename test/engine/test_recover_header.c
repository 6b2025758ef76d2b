/* SPDX-License-Identifier: MIT */
/*
 * test_recover_header.c: the newest data file's header at open. A file that
 * was created but never written (all zeros, or shorter than a header: a
 * rotation cut short by a crash) is removed and open succeeds; a header that
 * was written and is damaged is ARM_CORRUPT naming the file, never dropped
 * with the data behind it; so is damage inside the newest file with good
 * entries after it, which is never cut away (no .log.cut copy is made).
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <stdio.h>
#include <string.h>

static char g_dir[600];

static void hdr_fill(arm_engine_options *o) {
    arm_engine_options_init(o);
    o->compaction = 0; /* the tests damage files they name */
    o->shard_count = 1;
    o->io_backend = ARM_IO_POSIX;
    arm_engine *e = util_open_ok(g_dir, o);
    for (int i = 0; i < 50; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "h%03d", i);
        util_put_ok(e, k, (size_t)n, k, (size_t)n);
    }
    util_close_ok(e);
}

static void test_blank_newest_removed(void) {
    arm_engine_options o;
    hdr_fill(&o);
    util_logfile lf;
    ARM_CHECK(util_newest_log(g_dir, 0, &lf) == 0);
    /* a next file that was created and never written */
    char next[700];
    char *slash = strrchr(lf.path, '/');
    ARM_CHECK(slash != NULL);
    snprintf(next, sizeof next, "%.*s/%08u.log", (int)(slash - lf.path), lf.path, lf.fid + 1);
    for (int variant = 0; variant < 2; variant++) {
        FILE *f = fopen(next, "wb");
        ARM_CHECK(f != NULL);
        if (variant == 1) {
            static const uint8_t zeros[4096];
            ARM_CHECK(fwrite(zeros, 1, sizeof zeros, f) == sizeof zeros);
        }
        fclose(f);
        arm_engine *e = util_open_ok(g_dir, &o);
        ARM_CHECK(arm_engine_count(e) == 50);
        util_expect(e, "h049", 4, "h049", 4);
        util_close_ok(e);
        ARM_CHECK(util_file_size(next) < 0); /* removed */
    }
}

static void test_damaged_newest_header_refused(void) {
    arm_engine_options o;
    hdr_fill(&o);
    util_logfile lf;
    ARM_CHECK(util_newest_log(g_dir, 0, &lf) == 0);
    ARM_CHECK(util_flip_bit(lf.path, 20, 3) == 0); /* inside the header's flags field */
    arm_engine *e = NULL;
    ARM_CHECK_RC(arm_engine_open(g_dir, &o, &e), ARM_CORRUPT);
    char name[32];
    snprintf(name, sizeof name, "%08u.log", lf.fid);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), name) != NULL);
    ARM_CHECK(util_file_size(lf.path) == (int64_t)lf.size); /* still there, untouched */
    ARM_CHECK(util_flip_bit(lf.path, 20, 3) == 0);          /* repaired: all data back */
    e = util_open_ok(g_dir, &o);
    ARM_CHECK(arm_engine_count(e) == 50);
    util_close_ok(e);
}

/* Damage in the middle of the newest file: good entries follow it, so it is
 * no torn tail. Open refuses and changes nothing; read-only serves all but
 * the damaged entry; nothing is cut or set aside. */
static void test_mid_damage_refused(void) {
    arm_engine_options o;
    hdr_fill(&o);
    util_logfile lf;
    ARM_CHECK(util_newest_log(g_dir, 0, &lf) == 0);
    util_entry ents[64];
    uint64_t end = 0;
    int n = util_parse_log(lf.path, ents, 64, &end);
    ARM_CHECK(n == 50);
    ARM_CHECK(util_flip_bit(lf.path, ents[20].off + 22, 1) == 0); /* inside entry 20's key */
    arm_engine *e = NULL;
    ARM_CHECK_RC(arm_engine_open(g_dir, &o, &e), ARM_CORRUPT);
    char name[32], off[32];
    snprintf(name, sizeof name, "%08u.log", lf.fid);
    snprintf(off, sizeof off, "%llu", (unsigned long long)ents[20].off);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), name) != NULL);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), off) != NULL);
    ARM_CHECK(util_file_size(lf.path) == (int64_t)lf.size); /* untouched */
    char cut[800];
    snprintf(cut, sizeof cut, "%s.cut-%llu", lf.path, (unsigned long long)ents[20].off);
    ARM_CHECK(util_file_size(cut) < 0);
    o.read_only = 1;
    e = util_open_ok(g_dir, &o);
    ARM_CHECK(arm_engine_count(e) == 49); /* all but entry 20 */
    util_expect(e, "h049", 4, "h049", 4);
    util_expect_missing(e, "h020", 4);
    util_close_ok(e);
    /* destroying the database still removes what older versions set aside */
    FILE *f = fopen(cut, "wb");
    ARM_CHECK(f != NULL);
    fclose(f);
    ARM_CHECK_RC(arm_engine_destroy(g_dir), ARM_OK);
    ARM_CHECK(util_file_size(cut) < 0);
    ARM_CHECK(util_file_size(g_dir) < 0);
}

int main(void) {
    harness_init();
    static char base[512]; /* read by the atexit handler, after main returns */
    util_tmpdir_ok(base, sizeof base, "rhdr");
    util_rmrf_at_exit(base);
    snprintf(g_dir, sizeof g_dir, "%s/a", base);
    ARM_TEST("blank newest file is removed") test_blank_newest_removed();
    snprintf(g_dir, sizeof g_dir, "%s/b", base);
    ARM_TEST("damaged newest header is refused, not dropped") test_damaged_newest_header_refused();
    snprintf(g_dir, sizeof g_dir, "%s/c", base);
    ARM_TEST("damage inside the newest file is refused, never cut") test_mid_damage_refused();
    return harness_done();
}
