/* SPDX-License-Identifier: MIT */
/*
 * test_engine_recovery.c: recovery from damaged directories, built by
 * editing files by the documented format (ARCHITECTURE.md): torn tails cut
 * at every byte of the final entry, zero and garbage padding, bit flips in
 * older and newest files, batches cut before their commit marker, bad
 * metadata, hand-built entries (format conformance and seq ordering), and
 * arm_engine_check reporting.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../common/arm_hash.h"
#include "../util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static util_case_dir g_dir; /* tmp, db, work */

static void opts1(arm_engine_options *o, uint32_t shards) {
    arm_engine_options_init(o);
    o->compaction = 0; /* the tests damage and inspect files they name */
    o->shard_count = shards;
}

static size_t kname(char *b, unsigned i) { return (size_t)sprintf(b, "rk%06u", i); }
static size_t vmake(uint8_t *b, unsigned i, unsigned g, size_t len) {
    util_fill(b, len, i, g);
    return len;
}

/* The path of the log file with this fid under dir (same relative path as
 * in the pristine copy). */
static void path_in(char *out, size_t n, const char *dir, const util_logfile *lf) {
    snprintf(out, n, "%s/shard-%03u/%08u.log", dir, lf->shard, lf->fid);
}

/* Does msg mention the file (by its name) and the offset (decimal or hex)? */
static int names_file_and_offset(const char *msg, uint32_t fid, uint64_t off) {
    char name[32], d[32], h[32], H[32];
    snprintf(name, sizeof name, "%08u.log", fid);
    snprintf(d, sizeof d, "%" PRIu64, off);
    snprintf(h, sizeof h, "0x%" PRIx64, off);
    snprintf(H, sizeof H, "%" PRIx64, off);
    if (strstr(msg, name) == NULL) return 0;
    return strstr(msg, d) != NULL || strstr(msg, h) != NULL || strstr(msg, H) != NULL;
}

/* ------------------------------------------------------------------ */
/* Torn tail: the final entry cut at every byte offset (header included).
 * kind 0: the final entry puts a new key; 1: it overwrites a key; 2: it
 * deletes a key. */
static void torn_sweep(int kind) {
    const char *dir = util_case_fresh(&g_dir, "torn");
    arm_engine_options o;
    opts1(&o, 1); /* one shard: every entry in one newest file */
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[32];
    uint8_t v[200];
    const unsigned n = 30;
    for (unsigned i = 0; i < n; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 0, 10 + i * 3);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    /* the final entry */
    size_t lkl;
    if (kind == 0) {
        lkl = kname(k, 999);
        size_t vl = vmake(v, 999, 1, 100);
        util_put_ok(e, k, lkl, v, vl);
    } else if (kind == 1) {
        lkl = kname(k, 7);
        size_t vl = vmake(v, 7, 1, 120);
        util_put_ok(e, k, lkl, v, vl);
    } else {
        lkl = kname(k, 9);
        UTIL_CHECK_RC(e, arm_engine_delete(e, arm_slice_make(k, lkl)), ARM_OK);
    }
    char lastkey[32];
    memcpy(lastkey, k, lkl);
    util_close_ok(e);

    util_logfile lf;
    ARM_CHECK(util_newest_log(dir, 0, &lf) == 0);
    util_entry ent[64];
    int c = util_parse_log(lf.path, ent, 64, NULL);
    ARM_CHECK(c == (int)n + 1);
    const util_entry *last = &ent[c - 1];
    ARM_CHECK(last->type == (kind == 2 ? UTIL_T_DEL : UTIL_T_PUT));
    ARM_CHECK(last->flags == 0);
    ARM_CHECK(last->klen == lkl);
    for (int j = 1; j < c; j++) ARM_CHECK(ent[j].seq > ent[j - 1].seq);

    char wpath[700];
    int cuts = 0;
    for (uint64_t cut = last->off; cut < last->off + last->len; cut++) {
        const char *w = util_case_work_copy(&g_dir);
        path_in(wpath, sizeof wpath, w, &lf);
        ARM_CHECK(util_truncate(wpath, cut) == 0);
        e = util_open_ok(w, &o);
        util_expect_model(e, &m); /* the final entry is absent: state as before it */
        if (kind == 0) util_expect_missing(e, lastkey, lkl);
        /* appends resume cleanly at the cut */
        util_put_ok(e, "after", 5, "cut", 3);
        util_close_ok(e);
        e = util_open_ok(w, &o);
        util_expect(e, "after", 5, "cut", 3);
        ARM_CHECK(arm_engine_count(e) == m.n + 1);
        util_close_ok(e);
        /* the file holds the n entries and the new one, nothing between */
        util_logfile nl;
        ARM_CHECK(util_newest_log(w, 0, &nl) == 0);
        if (nl.fid == lf.fid) {
            util_entry e2[64];
            uint64_t end;
            int c2 = util_parse_log(nl.path, e2, 64, &end);
            ARM_CHECK(c2 == (int)n + 1);
            ARM_CHECK(e2[n].off == last->off);
            ARM_CHECK(e2[n].klen == 5);
            ARM_CHECK(e2[n].seq > ent[n - 1].seq);
        }
        cuts++;
    }
    ARM_CHECK(cuts == (int)last->len);
    util_model_free(&m);
}

static void test_torn_put(void) { torn_sweep(0); }
static void test_torn_overwrite(void) { torn_sweep(1); }
static void test_torn_delete(void) { torn_sweep(2); }

/* Zero padding and garbage after the last entry of the newest file. */
static void test_tail_padding(void) {
    const char *dir = util_case_fresh(&g_dir, "pad");
    arm_engine_options o;
    opts1(&o, 2);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[32];
    uint8_t v[300];
    for (unsigned i = 0; i < 200; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 0, i % 300);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    util_close_ok(e);

    for (int variant = 0; variant < 3; variant++) {
        const char *w = util_case_work_copy(&g_dir);
        for (uint32_t s = 0; s < 2; s++) {
            util_logfile lf;
            char p[700];
            ARM_CHECK(util_newest_log(w, s, &lf) == 0);
            path_in(p, sizeof p, w, &lf);
            if (variant == 0) {
                ARM_CHECK(util_append_bytes(p, 4096, 0) == 0);
            } else if (variant == 1) {
                ARM_CHECK(util_append_bytes(p, 13, 0) == 0);
            } else {
                /* an entry header that promises more than the file holds */
                uint64_t end;
                ARM_CHECK(util_parse_log(p, NULL, 0, &end) >= 0);
                ARM_CHECK(util_truncate(p, end) == 0);
                uint8_t junk[40];
                util_fill(junk, sizeof junk, 3, s);
                junk[6] = 5, junk[7] = 0;             /* klen 5 */
                junk[8] = 0, junk[9] = 0, junk[10] = 1; /* vlen 65536 */
                FILE *f = fopen(p, "ab");
                ARM_CHECK(f != NULL);
                ARM_CHECK(fwrite(junk, 1, sizeof junk, f) == sizeof junk);
                fclose(f);
            }
        }
        e = util_open_ok(w, &o);
        util_expect_model(e, &m);
        util_put_ok(e, "new", 3, "v", 1);
        util_put_ok(e, "new2", 4, "v2", 2);
        util_close_ok(e);
        util_model m2;
        util_model_init(&m2);
        util_model_copy(&m2, &m);
        util_model_put(&m2, "new", 3, "v", 1);
        util_model_put(&m2, "new2", 4, "v2", 2);
        e = util_open_ok(w, &o);
        util_expect_model(e, &m2);
        util_close_ok(e);
        util_model_free(&m2);
    }
    util_model_free(&m);
}

/* A multi-file database in one shard; returns the file list. Keys are
 * unique (written once), key i has value vmake(i, 0, 50 + i % 100). Without
 * hint files, so that open reads every sealed file whole (the hinted cases
 * are below). */
static int build_multifile(arm_engine_options *o, unsigned n, util_logfile *lf, int max) {
    const char *dir = util_case_fresh(&g_dir, "multi");
    opts1(o, 1);
    o->hints = 0;
    o->max_file_size = 64u << 10;
    o->max_value_size = 16u << 10;
    o->write_buffer_size = 16u << 10;
    arm_engine *e = util_open_ok(dir, o);
    char k[32];
    uint8_t v[200];
    for (unsigned i = 0; i < n; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 0, 50 + i % 100);
        util_put_ok(e, k, kl, v, vl);
    }
    util_close_ok(e);
    int nf = util_list_logs(dir, lf, max);
    ARM_CHECK(nf >= 3 && nf <= max);
    return nf;
}

/* Key number of the entry (keys are "rk%06u"). */
static unsigned key_of(const char *path, const util_entry *en) {
    size_t len;
    uint8_t *b = util_read_file(path, &len);
    ARM_CHECK(b != NULL && en->key_off + en->klen <= len && en->klen == 8);
    char k[16];
    memcpy(k, b + en->key_off, 8);
    k[8] = 0;
    free(b);
    return (unsigned)strtoul(k + 2, NULL, 10);
}

struct report_ctx {
    int calls;
    char path[600];
    uint64_t off;
    char msg[256];
    uint64_t progress_done, progress_total;
    int progress_calls;
};

static void on_report(void *ctx, const char *path, uint64_t offset, const char *message) {
    struct report_ctx *r = ctx;
    if (r->calls++ == 0) {
        snprintf(r->path, sizeof r->path, "%s", path);
        r->off = offset;
        snprintf(r->msg, sizeof r->msg, "%s", message ? message : "(null)");
    }
}

static void on_progress(void *ctx, uint64_t done, uint64_t total) {
    struct report_ctx *r = ctx;
    ARM_CHECK(done <= total);
    ARM_CHECK(done >= r->progress_done);
    r->progress_done = done;
    r->progress_total = total;
    r->progress_calls++;
}

/* A bit flip in the middle of an older file: open fails naming the file and
 * offset; read-only opens and serves the rest; check reports it. */
static void test_bitflip_older(void) {
    arm_engine_options o;
    util_logfile lf[64];
    const unsigned n = 1500;
    int nf = build_multifile(&o, n, lf, 64);

    /* a healthy database checks clean, with progress */
    arm_engine *e = util_open_ok(g_dir.db, &o);
    struct report_ctx rc0;
    memset(&rc0, 0, sizeof rc0);
    uint64_t problems = 99;
    UTIL_CHECK_RC(e, arm_engine_check(e, on_report, on_progress, &rc0, &problems), ARM_OK);
    ARM_CHECK(problems == 0);
    ARM_CHECK(rc0.calls == 0);
    ARM_CHECK(rc0.progress_calls >= nf);
    ARM_CHECK(rc0.progress_done == rc0.progress_total && rc0.progress_total > 0);
    util_close_ok(e);

    /* damage the second-oldest file in the middle of an entry's value */
    const util_logfile *victim = &lf[1];
    util_entry ent[1024];
    int c = util_parse_log(victim->path, ent, 1024, NULL);
    ARM_CHECK(c > 10 && c <= 1024);
    const util_entry *bad = &ent[c / 2];
    unsigned first_bad_key = key_of(victim->path, bad);
    /* keys in files after the victim */
    util_entry nent[1];
    ARM_CHECK(util_parse_log(lf[2].path, nent, 1, NULL) >= 1);
    unsigned first_newer_key = key_of(lf[2].path, &nent[0]);

    const char *w = util_case_work_copy(&g_dir);
    char p[700];
    path_in(p, sizeof p, w, victim);
    ARM_CHECK(util_flip_bit(p, bad->key_off + bad->klen + bad->vlen / 2, 3) == 0);

    e = (arm_engine *)(uintptr_t)1;
    int rc = arm_engine_open(w, &o, &e);
    ARM_CHECK_RC(rc, ARM_CORRUPT);
    ARM_CHECK(e == NULL);
    const char *msg = arm_engine_errmsg(NULL);
    if (!names_file_and_offset(msg, victim->fid, bad->off)) {
        fprintf(stderr, "errmsg \"%s\" should name %08u.log and offset %" PRIu64 "\n", msg,
                victim->fid, bad->off);
        ARM_CHECK(!"open error names file and offset");
    }
    /* the damaged file was not truncated by the failed open */
    ARM_CHECK(util_file_size(p) == (int64_t)victim->size);

    /* read-only: opens, serves everything intact: before the damage, after
     * it in the same file, and in the files after */
    o.read_only = 1;
    e = util_open_ok(w, &o);
    char k[32];
    uint8_t v[200];
    for (unsigned i = 0; i < n; i++) {
        if (i == first_bad_key) continue;
        size_t kl = kname(k, i), vl = vmake(v, i, 0, 50 + i % 100);
        util_expect(e, k, kl, v, vl);
    }
    ARM_CHECK(arm_engine_count(e) == n - 1);
    /* the damaged entry is never served as data */
    {
        size_t kl = kname(k, first_bad_key);
        arm_buf b = {0};
        rc = arm_engine_get(e, arm_slice_make(k, kl), &b);
        ARM_CHECK(rc == ARM_NOTFOUND || rc == ARM_CORRUPT);
        arm_buf_free(&b);
    }
    /* files after the damaged one are still served ("everything else") */
    for (unsigned i = first_newer_key; i < n; i += 37) {
        size_t kl = kname(k, i), vl = vmake(v, i, 0, 50 + i % 100);
        util_expect(e, k, kl, v, vl);
    }
    ARM_CHECK_RC(arm_engine_put(e, UTIL_S("x"), UTIL_S("y")), ARM_READONLY);

    util_close_ok(e);
    o.read_only = 0;

    /* the read-only open changed nothing: a normal open still refuses */
    ARM_CHECK_RC(arm_engine_open(w, &o, &e), ARM_CORRUPT);
    ARM_CHECK(util_file_size(p) == (int64_t)victim->size);

    /* last (so the checks above run either way): check, on a read-only
     * engine, reports the damage with path and offset */
    o.read_only = 1;
    e = util_open_ok(w, &o);
    struct report_ctx rc1;
    memset(&rc1, 0, sizeof rc1);
    problems = 0;
    UTIL_CHECK_RC(e, arm_engine_check(e, on_report, NULL, &rc1, &problems), ARM_OK);
    ARM_CHECK(problems >= 1);
    ARM_CHECK(rc1.calls == (int)problems);
    char name[32];
    snprintf(name, sizeof name, "%08u.log", victim->fid);
    if (strstr(rc1.path, name) == NULL || rc1.off != bad->off) {
        fprintf(stderr, "check reported path \"%s\" offset %" PRIu64 " (\"%s\"), expected %s at %"
                PRIu64 "\n", rc1.path, rc1.off, rc1.msg, name, bad->off);
        ARM_CHECK(!"check names the damaged file and offset");
    }
    ARM_CHECK(rc1.msg[0] != '\0');
    /* NULL callbacks are allowed */
    problems = 0;
    UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems >= 1);
    util_close_ok(e);
}

/* A bit flip in an older file's header. */
static void test_bitflip_older_header(void) {
    arm_engine_options o;
    util_logfile lf[64];
    build_multifile(&o, 1200, lf, 64);
    const char *w = util_case_work_copy(&g_dir);
    char p[700];
    path_in(p, sizeof p, w, &lf[0]);
    ARM_CHECK(util_flip_bit(p, 20, 0) == 0); /* flags field */
    arm_engine *e = NULL;
    ARM_CHECK_RC(arm_engine_open(w, &o, &e), ARM_CORRUPT);
    char name[32];
    snprintf(name, sizeof name, "%08u.log", lf[0].fid);
    if (strstr(arm_engine_errmsg(NULL), name) == NULL) {
        fprintf(stderr, "errmsg \"%s\" should name %s\n", arm_engine_errmsg(NULL), name);
        ARM_CHECK(!"open error names the file");
    }
}

/* A bit flip in the newest file's last entry: a torn tail, truncated. */
static void test_bitflip_newest_last(void) {
    arm_engine_options o;
    util_logfile lf[64];
    const unsigned n = 1200;
    int nf = build_multifile(&o, n, lf, 64);
    const util_logfile *newest = &lf[nf - 1];
    util_entry ent[1024];
    int c = util_parse_log(newest->path, ent, 1024, NULL);
    ARM_CHECK(c >= 2 && c <= 1024);
    const util_entry *last = &ent[c - 1];
    unsigned lastkey = key_of(newest->path, last);
    ARM_CHECK(lastkey == n - 1);
    const uint64_t where[] = {last->off + 0, last->off + 5, last->off + 13, last->key_off + 1,
                              last->off + last->len - 1};
    for (size_t wi = 0; wi < sizeof where / sizeof where[0]; wi++) {
        const char *w = util_case_work_copy(&g_dir);
        char p[700];
        path_in(p, sizeof p, w, newest);
        ARM_CHECK(util_flip_bit(p, where[wi], (int)wi % 8) == 0);
        arm_engine *e = util_open_ok(w, &o);
        char k[32];
        uint8_t v[200];
        for (unsigned i = 0; i < n - 1; i++) {
            size_t kl = kname(k, i), vl = vmake(v, i, 0, 50 + i % 100);
            util_expect(e, k, kl, v, vl);
        }
        size_t kl = kname(k, n - 1);
        util_expect_missing(e, k, kl);
        ARM_CHECK(arm_engine_count(e) == n - 1);
        util_put_ok(e, k, kl, "again", 5);
        util_close_ok(e);
        e = util_open_ok(w, &o);
        util_expect(e, k, kl, "again", 5);
        uint64_t problems = 99;
        UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
        ARM_CHECK(problems == 0);
        util_close_ok(e);
    }
}

/* Find the batch (entries with TXN) in the shard files of dir: returns the
 * file and the index range [*first, *last] of its entries. */
static void find_batch(const char *dir, uint64_t seq_min, util_logfile *lf_out, util_entry *ent,
                       int max, int *count, int *first, int *last) {
    util_logfile lf[64];
    int nf = util_list_logs(dir, lf, 64);
    ARM_CHECK(nf >= 1 && nf <= 64);
    int found = 0;
    for (int i = 0; i < nf; i++) {
        int c = util_parse_log(lf[i].path, ent, max, NULL);
        ARM_CHECK(c >= 0 && c <= max);
        int f = -1, l = -1;
        for (int j = 0; j < c; j++)
            if ((ent[j].flags & UTIL_F_TXN) && ent[j].seq >= seq_min) {
                if (f < 0) f = j;
                l = j;
            }
        if (f >= 0) {
            ARM_CHECK(!found); /* one batch, in one file */
            found = 1;
            *lf_out = lf[i];
            *count = c;
            *first = f;
            *last = l;
            break;
        }
    }
    ARM_CHECK(found);
    /* re-parse the file that holds it (ent was reused by later files) */
    ARM_CHECK(util_parse_log(lf_out->path, ent, max, NULL) == *count);
}

/* A batch interrupted before its commit marker is not applied at all. */
static void test_batch_interrupted(void) {
    const char *dir = util_case_fresh(&g_dir, "txn");
    arm_engine_options o;
    opts1(&o, 4);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[32];
    uint8_t v[200];
    for (unsigned i = 0; i < 100; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 0, 40);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    const uint64_t seq_before = st.last_seq;
    /* the batch: new keys, overwrites and deletes of existing keys, over
     * many shards (12 keys over 4 shards) */
    arm_batch *bt = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
    const unsigned nb = 12;
    char bkeys[12][32];
    size_t bkl[12];
    for (unsigned i = 0; i < nb; i++) {
        if (i % 3 == 0) {
            bkl[i] = kname(bkeys[i], 500 + i); /* new */
            ARM_CHECK_RC(arm_engine_batch_put(bt, arm_slice_make(bkeys[i], bkl[i]), UTIL_S("NEW")),
                         ARM_OK);
        } else if (i % 3 == 1) {
            bkl[i] = kname(bkeys[i], i); /* overwrite */
            ARM_CHECK_RC(arm_engine_batch_put(bt, arm_slice_make(bkeys[i], bkl[i]), UTIL_S("OVR")),
                         ARM_OK);
        } else {
            bkl[i] = kname(bkeys[i], 50 + i); /* delete */
            ARM_CHECK_RC(arm_engine_batch_delete(bt, arm_slice_make(bkeys[i], bkl[i])), ARM_OK);
        }
    }
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
    arm_engine_batch_free(bt);
    util_close_ok(e);

    /* locate it by the format: nb entries, contiguous, one seq, TXN on all,
     * TXN_END only on the last, in the file of the first key's shard */
    util_logfile blf;
    util_entry ent[256];
    int count, first, last;
    find_batch(dir, seq_before + 1, &blf, ent, 256, &count, &first, &last);
    ARM_CHECK(last - first + 1 == (int)nb);
    ARM_CHECK(last == count - 1); /* it is the newest thing in that file */
    for (int j = first; j <= last; j++) {
        ARM_CHECK(ent[j].flags & UTIL_F_TXN);
        ARM_CHECK(((ent[j].flags & UTIL_F_TXN_END) != 0) == (j == last));
        ARM_CHECK(ent[j].seq == ent[first].seq);
        ARM_CHECK(ent[j].seq > seq_before);
        if (j > first) ARM_CHECK(ent[j].off == ent[j - 1].off + ent[j - 1].len);
    }
    ARM_CHECK(blf.shard == (uint32_t)(arm_hash_key(bkeys[0], bkl[0]) % 4));

    /* cut points: just before the end of the TXN_END entry, at each member
     * boundary, and in the middle of members; plus a flipped bit in the
     * TXN_END entry */
    uint64_t cuts[64];
    int ncut = 0;
    const util_entry *end = &ent[last];
    cuts[ncut++] = end->off + end->len - 1;
    cuts[ncut++] = end->off + UTIL_ENTRY_HDR;
    for (int j = first; j <= last; j++) {
        cuts[ncut++] = ent[j].off;
        cuts[ncut++] = ent[j].off + ent[j].len / 2;
    }
    for (int ci = 0; ci <= ncut; ci++) {
        const char *w = util_case_work_copy(&g_dir);
        char p[700];
        path_in(p, sizeof p, w, &blf);
        if (ci < ncut)
            ARM_CHECK(util_truncate(p, cuts[ci]) == 0);
        else
            ARM_CHECK(util_flip_bit(p, end->off + end->len - 2, 6) == 0);
        e = util_open_ok(w, &o);
        util_expect_model(e, &m); /* none of the batch, everything before */
        for (unsigned i = 0; i < nb; i += 3) util_expect_missing(e, bkeys[i], bkl[i]);
        util_put_ok(e, "z", 1, "z", 1);
        util_close_ok(e);
        e = util_open_ok(w, &o);
        util_expect(e, "z", 1, "z", 1);
        ARM_CHECK(arm_engine_count(e) == m.n + 1);
        util_close_ok(e);
    }

    /* the untouched copy has the whole batch */
    e = util_open_ok(dir, &o);
    for (unsigned i = 0; i < nb; i++) {
        if (i % 3 == 0) util_expect(e, bkeys[i], bkl[i], "NEW", 3);
        if (i % 3 == 1) util_expect(e, bkeys[i], bkl[i], "OVR", 3);
        if (i % 3 == 2) util_expect_missing(e, bkeys[i], bkl[i]);
    }
    util_close_ok(e);
    util_model_free(&m);
}

/* A batch member entry corrupted while its TXN_END is intact (the batch is
 * in the newest file): good entries follow the damage, so it is no torn
 * write. Open refuses, naming the member's own offset (not its batch's);
 * read-only serves everything else and none of the batch; check reports the
 * member. */
static void test_batch_member_flip(void) {
    const char *dir = util_case_fresh(&g_dir, "txnflip");
    arm_engine_options o;
    opts1(&o, 2);
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "base", 4, "b", 1);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    arm_batch *bt = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
    for (int i = 0; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof k, "t%d", i);
        ARM_CHECK_RC(arm_engine_batch_put(bt, UTIL_S(k), UTIL_S("tv")), ARM_OK);
    }
    UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
    arm_engine_batch_free(bt);
    util_close_ok(e);
    util_logfile blf;
    util_entry ent[64];
    int count, first, last;
    find_batch(dir, st.last_seq + 1, &blf, ent, 64, &count, &first, &last);
    const char *w = util_case_work_copy(&g_dir);
    char p[700];
    path_in(p, sizeof p, w, &blf);
    ARM_CHECK(util_flip_bit(p, ent[first + 2].key_off, 1) == 0);
    e = NULL;
    ARM_CHECK_RC(arm_engine_open(w, &o, &e), ARM_CORRUPT);
    if (!names_file_and_offset(arm_engine_errmsg(NULL), blf.fid, ent[first + 2].off)) {
        fprintf(stderr, "errmsg \"%s\" should name %08u.log and offset %" PRIu64 "\n",
                arm_engine_errmsg(NULL), blf.fid, ent[first + 2].off);
        ARM_CHECK(!"open names the damaged member, not its batch");
    }
    ARM_CHECK(util_file_size(p) == (int64_t)blf.size); /* nothing cut */
    o.read_only = 1;
    e = util_open_ok(w, &o);
    util_expect(e, "base", 4, "b", 1);
    for (int i = 0; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof k, "t%d", i);
        util_expect_missing(e, k, strlen(k));
    }
    ARM_CHECK(arm_engine_count(e) == 1);
    struct report_ctx rc1;
    memset(&rc1, 0, sizeof rc1);
    uint64_t problems = 0;
    UTIL_CHECK_RC(e, arm_engine_check(e, on_report, NULL, &rc1, &problems), ARM_OK);
    ARM_CHECK(problems >= 1 && rc1.off == ent[first + 2].off);
    util_close_ok(e);
}

/* Damage in the middle of the newest file, in the value, in the header (a
 * length that no longer holds), in the checksum, or a zeroed stretch: good
 * entries follow, so it is no torn write. Open refuses naming file and the
 * damaged entry's offset and changes nothing; read-only serves every key but
 * the damaged entry's (those after the damage too); check reports the entry's
 * offset; a read-write open still refuses afterwards. */
static void test_mid_damage_newest(void) {
    const char *dir = util_case_fresh(&g_dir, "middle");
    arm_engine_options o;
    opts1(&o, 1);
    arm_engine *e = util_open_ok(dir, &o);
    char k[32];
    uint8_t v[200];
    const unsigned n = 120;
    for (unsigned i = 0; i < n; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 0, 30 + i % 50);
        util_put_ok(e, k, kl, v, vl);
    }
    util_close_ok(e);
    util_logfile lf;
    ARM_CHECK(util_newest_log(dir, 0, &lf) == 0);
    util_entry ent[256];
    ARM_CHECK(util_parse_log(lf.path, ent, 256, NULL) == (int)n);
    const unsigned victim = n / 2;
    const util_entry *bad = &ent[victim];
    const uint64_t where[] = {bad->key_off + bad->klen + 3, /* value */
                              bad->off + 9,                  /* vlen: the header lies */
                              bad->off + 6,                  /* klen */
                              bad->off + 1,                  /* checksum */
                              bad->off + 4};                 /* type */
    for (size_t wi = 0; wi <= sizeof where / sizeof where[0]; wi++) {
        const char *w = util_case_work_copy(&g_dir);
        char p[700];
        path_in(p, sizeof p, w, &lf);
        if (wi < sizeof where / sizeof where[0]) {
            ARM_CHECK(util_flip_bit(p, where[wi], (int)(wi + 3) % 8) == 0);
        } else { /* 40 zero bytes over the entry's header and key */
            size_t len;
            uint8_t *b = util_read_file(p, &len);
            ARM_CHECK(b != NULL);
            memset(b + bad->off, 0, 40);
            FILE *f = fopen(p, "wb");
            ARM_CHECK(f && fwrite(b, 1, len, f) == len);
            fclose(f);
            free(b);
        }
        o.read_only = 0;
        e = NULL;
        ARM_CHECK_RC(arm_engine_open(w, &o, &e), ARM_CORRUPT);
        if (!names_file_and_offset(arm_engine_errmsg(NULL), lf.fid, bad->off)) {
            fprintf(stderr, "variant %zu: errmsg \"%s\" should name %08u.log and offset %" PRIu64 "\n",
                    wi, arm_engine_errmsg(NULL), lf.fid, bad->off);
            ARM_CHECK(!"open names file and the damaged entry's offset");
        }
        ARM_CHECK(util_file_size(p) == (int64_t)lf.size);
        o.read_only = 1;
        e = util_open_ok(w, &o);
        for (unsigned i = 0; i < n; i++) {
            size_t kl = kname(k, i), vl = vmake(v, i, 0, 30 + i % 50);
            if (i == victim)
                util_expect_missing(e, k, kl);
            else
                util_expect(e, k, kl, v, vl); /* also every key after the damage */
        }
        ARM_CHECK(arm_engine_count(e) == n - 1);
        struct report_ctx rc1;
        memset(&rc1, 0, sizeof rc1);
        uint64_t problems = 0;
        UTIL_CHECK_RC(e, arm_engine_check(e, on_report, NULL, &rc1, &problems), ARM_OK);
        if (problems != 1 || rc1.off != bad->off) {
            fprintf(stderr, "variant %zu: check found %" PRIu64 " problems, first at %" PRIu64
                    " (\"%s\"), expected 1 at %" PRIu64 "\n", wi, problems, rc1.off, rc1.msg, bad->off);
            ARM_CHECK(!"check reports the damaged entry's offset");
        }
        arm_engine_stats st;
        arm_engine_stats_get(e, &st);
        ARM_CHECK(st.read_only && st.lock_mode == ARM_LOCK_SHARED);
        util_close_ok(e);
        o.read_only = 0;
        ARM_CHECK_RC(arm_engine_open(w, &o, &e), ARM_CORRUPT); /* read-only changed nothing */
    }
}

/* Damage followed by nothing valid is a torn write even when it is long:
 * garbage, a torn entry and zeros after the last good entry are cut
 * silently, and check on the reopened table is clean; no .log.cut file. */
static void test_torn_is_cut_silently(void) {
    const char *dir = util_case_fresh(&g_dir, "tornlong");
    arm_engine_options o;
    opts1(&o, 1);
    arm_engine *e = util_open_ok(dir, &o);
    for (unsigned i = 0; i < 50; i++) {
        char k[32];
        size_t kl = kname(k, i);
        util_put_ok(e, k, kl, "v", 1);
    }
    util_close_ok(e);
    util_logfile lf;
    ARM_CHECK(util_newest_log(dir, 0, &lf) == 0);
    uint8_t junk[3000];
    util_fill(junk, sizeof junk, 7, 7);
    FILE *f = fopen(lf.path, "ab");
    ARM_CHECK(f && fwrite(junk, 1, sizeof junk, f) == sizeof junk);
    fclose(f);
    ARM_CHECK(util_append_bytes(lf.path, 5000, 0) == 0);
    e = util_open_ok(dir, &o);
    ARM_CHECK(arm_engine_count(e) == 50);
    uint64_t problems = 9;
    UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems == 0);
    util_close_ok(e);
    ARM_CHECK(util_file_size(lf.path) == (int64_t)lf.size);
    char cut[800];
    snprintf(cut, sizeof cut, "%s.cut-%llu", lf.path, (unsigned long long)lf.size);
    ARM_CHECK(util_file_size(cut) < 0);
}

/* Bad metadata: bit flips, truncation, a wrong version. */
static void test_bad_meta(void) {
    const char *dir = util_case_fresh(&g_dir, "meta");
    arm_engine_options o;
    opts1(&o, 2);
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "k", 1, "v", 1);
    util_close_ok(e);
    for (int variant = 0; variant < 8; variant++) {
        const char *w = util_case_work_copy(&g_dir);
        char p[700];
        snprintf(p, sizeof p, "%s/ARMDB", w);
        int want = ARM_CORRUPT;
        switch (variant) {
        case 0: ARM_CHECK(util_flip_bit(p, 0, 0) == 0); break;  /* magic */
        case 1: ARM_CHECK(util_flip_bit(p, 12, 0) == 0); break; /* shard_count */
        case 2: ARM_CHECK(util_flip_bit(p, 20, 4) == 0); break; /* db_id */
        case 3: ARM_CHECK(util_flip_bit(p, 60, 7) == 0); break; /* checksum */
        case 4: ARM_CHECK(util_truncate(p, 10) == 0); break;
        case 5: ARM_CHECK(util_truncate(p, 0) == 0); break;
        case 6: ARM_CHECK(util_append_bytes(p, 1, 0) == 0); break; /* 65 bytes */
        case 7: {
            /* version 2 with a valid checksum: not ours, refuse (any error) */
            size_t len;
            uint8_t *b = util_read_file(p, &len);
            ARM_CHECK(b != NULL && len == 64);
            b[8] = 2;
            uint64_t sum = arm_hash_checksum(b, 56);
            for (int i = 0; i < 8; i++) b[56 + i] = (uint8_t)(sum >> (8 * i));
            FILE *f = fopen(p, "wb");
            ARM_CHECK(f != NULL && fwrite(b, 1, 64, f) == 64);
            fclose(f);
            free(b);
            want = -1;
            break;
        }
        }
        e = (arm_engine *)(uintptr_t)1;
        int rc = arm_engine_open(w, &o, &e);
        if (want >= 0 && rc != want)
            fprintf(stderr, "metadata variant %d: open returned %s: \"%s\"\n", variant,
                    arm_rc_str(rc), arm_engine_errmsg(NULL));
        if (want >= 0)
            ARM_CHECK_RC(rc, want);
        else
            ARM_CHECK(rc != ARM_OK);
        ARM_CHECK(e == NULL);
        ARM_CHECK(strstr(arm_engine_errmsg(NULL), "ARMDB") != NULL ||
                  arm_engine_errmsg(NULL)[0] != '\0');
        /* read-only does not paper over bad metadata */
        o.read_only = 1;
        rc = arm_engine_open(w, &o, &e);
        ARM_CHECK(rc != ARM_OK);
        o.read_only = 0;
    }
}

/* Close e and open the newest data file of shard 0 of dir for appending
 * hand-built entries after its `entries` valid ones (anything past them
 * cut): *lf names the file, *end is where appending starts, *last the
 * engine's last sequence number. */
static FILE *append_to_tail(arm_engine *e, const char *dir, int entries, util_logfile *lf,
                            uint64_t *end, uint64_t *last) {
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    *last = st.last_seq;
    util_close_ok(e);
    ARM_CHECK(util_newest_log(dir, 0, lf) == 0);
    ARM_CHECK(util_parse_log(lf->path, NULL, 0, end) == entries);
    ARM_CHECK(util_truncate(lf->path, *end) == 0);
    FILE *f = fopen(lf->path, "ab");
    ARM_CHECK(f != NULL);
    return f;
}

/* Append one entry built by the documented format; returns its length. */
static size_t append_entry(FILE *f, uint8_t type, uint8_t flags, uint64_t seq, const char *key,
                           const void *val, uint32_t vlen) {
    uint8_t buf[256];
    size_t n = util_build_entry(buf, type, flags, seq, (const uint8_t *)key,
                                (uint16_t)strlen(key), val, vlen);
    ARM_CHECK(fwrite(buf, 1, n, f) == n);
    return n;
}

/* Hand-built entries appended by the documented format are recovered; for
 * one key the highest seq wins; the counter resumes past the highest seq. */
static void test_handmade_entries(void) {
    const char *dir = util_case_fresh(&g_dir, "hand");
    arm_engine_options o;
    opts1(&o, 1);
    o.io_backend = ARM_IO_POSIX;
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "key", 3, "v1", 2);
    util_put_ok(e, "key", 3, "v2", 2);
    util_put_ok(e, "gone", 4, "x", 1);
    util_logfile lf;
    uint64_t end, last;
    FILE *f = append_to_tail(e, dir, 3, &lf, &end, &last);
    /* an older version of "key" (seq 1) after the newer one: must not win */
    append_entry(f, UTIL_T_PUT, 0, 1, "key", "OLD", 3);
    /* a new key with a high seq */
    append_entry(f, UTIL_T_PUT, 0, last + 100, "hand", "made", 4);
    /* a tombstone for "gone" */
    append_entry(f, UTIL_T_DEL, 0, last + 101, "gone", NULL, 0);
    /* a two-entry batch, complete */
    append_entry(f, UTIL_T_PUT, UTIL_F_TXN, last + 102, "ba", "1", 1);
    append_entry(f, UTIL_T_PUT, UTIL_F_TXN | UTIL_F_TXN_END, last + 102, "bb", "2", 1);
    /* a batch member with no end marker at the tail: dropped */
    append_entry(f, UTIL_T_PUT, UTIL_F_TXN, last + 103, "bc", "3", 1);
    fclose(f);

    e = util_open_ok(dir, &o);
    util_expect(e, "key", 3, "v2", 2);
    util_expect(e, "hand", 4, "made", 4);
    util_expect_missing(e, "gone", 4);
    util_expect(e, "ba", 2, "1", 1);
    util_expect(e, "bb", 2, "2", 1);
    util_expect_missing(e, "bc", 2);
    ARM_CHECK(arm_engine_count(e) == 4);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.last_seq >= last + 102);
    util_put_ok(e, "next", 4, "n", 1);
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.last_seq > last + 102);
    util_close_ok(e);
    /* 3 engine entries + 5 complete hand-made ones + "next"; the dangling
     * "bc" member is either cut away or left before "next", never applied */
    util_entry ent[16];
    ARM_CHECK(util_newest_log(dir, 0, &lf) == 0);
    int c = util_parse_log(lf.path, ent, 16, NULL);
    ARM_CHECK(c == 9 || c == 10);
    e = util_open_ok(dir, &o);
    util_expect_missing(e, "bc", 2);
    util_expect(e, "next", 4, "n", 1);
    util_expect(e, "bb", 2, "2", 1);
    ARM_CHECK(arm_engine_count(e) == 5);
    util_close_ok(e);
}

/* A TXNINFO only ever opens a batch: one inside a batch (same sequence
 * number) cuts that batch short, for recovery and for arm_engine_check
 * alike. With a good entry after it, it is damage, never a torn tail. */
static void test_txninfo_inside_batch(void) {
    const char *dir = util_case_fresh(&g_dir, "txninfo");
    arm_engine_options o;
    opts1(&o, 1);
    o.io_backend = ARM_IO_POSIX;
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "key", 3, "v1", 2);
    util_logfile lf;
    uint64_t end, last;
    FILE *f = append_to_tail(e, dir, 1, &lf, &end, &last);
    const uint8_t zero = 0, owner[16] = "owner-of-the-tx";
    const uint64_t cut = end + append_entry(f, UTIL_T_PUT, UTIL_F_TXN, last + 1, "ba", "1", 1);
    /* the TXNINFO lands at cut (its key is a zero byte: built by hand) */
    uint8_t buf[256];
    size_t n = util_build_entry(buf, UTIL_T_TXNINFO, UTIL_F_TXN, last + 1, &zero, 1, owner, 16);
    ARM_CHECK(fwrite(buf, 1, n, f) == n);
    append_entry(f, UTIL_T_PUT, UTIL_F_TXN | UTIL_F_TXN_END, last + 1, "bb", "2", 1);
    append_entry(f, UTIL_T_PUT, 0, last + 2, "after", "3", 1);
    fclose(f);
    ARM_CHECK(util_parse_log(lf.path, NULL, 0, NULL) == 5); /* every checksum good */
    e = NULL;
    ARM_CHECK_RC(arm_engine_open(dir, &o, &e), ARM_CORRUPT);
    char off[32];
    snprintf(off, sizeof off, "offset %llu", (unsigned long long)cut);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "cuts short the batch") != NULL);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), off) != NULL);
    o.read_only = 1;
    e = util_open_ok(dir, &o);
    util_expect(e, "key", 3, "v1", 2);
    util_expect_missing(e, "ba", 2);
    util_expect_missing(e, "bb", 2);
    struct report_ctx rc1;
    memset(&rc1, 0, sizeof rc1);
    uint64_t problems = 0;
    UTIL_CHECK_RC(e, arm_engine_check(e, on_report, NULL, &rc1, &problems), ARM_OK);
    ARM_CHECK(problems >= 1 && rc1.off == cut && strstr(rc1.msg, "cut short") != NULL);
    util_close_ok(e);
}

/* Recovery collects each shard's entries and applies them in key order (see
 * recover.c). Keys of every shape (1..8 bytes, rebuilt from their prefix;
 * longer ones sharing 8-byte prefixes, sorted by a full comparison; zero
 * bytes inside), several versions each across files and shards, deletes and
 * batches: reopened with and without hints, ordered and hash, every state
 * equals the model, in cursor order for the ordered index. */
static size_t shape_key(uint8_t *b, unsigned i) {
    switch (i % 5) {
    case 0: b[0] = (uint8_t)i; return 1;                       /* 1 byte */
    case 1: b[0] = 'a'; b[1] = 0; b[2] = (uint8_t)(i >> 3); return 3; /* a zero inside */
    case 2: return (size_t)sprintf((char *)b, "%07u", i);       /* 7 bytes */
    case 3: return (size_t)sprintf((char *)b, "samepfx_%u", i); /* shared 8-byte prefix */
    default: memset(b, 0, 8); b[7] = (uint8_t)i; b[6] = (uint8_t)(i >> 8); return 8;
    }
}

static void test_key_order(void) {
    for (int kind = 0; kind < 2; kind++) {
        const char *dir = util_case_fresh(&g_dir, "order");
        arm_engine_options o;
        opts1(&o, 3);
        o.index_kind = kind ? ARM_INDEX_HASH : ARM_INDEX_ORDERED;
        o.max_file_size = 64u << 10;
        o.max_value_size = 16u << 10;
        o.write_buffer_size = 16u << 10;
        arm_engine *e = util_open_ok(dir, &o);
        util_model m;
        util_model_init(&m);
        uint8_t k[32], v[200];
        for (unsigned round = 0; round < 3; round++) {
            for (unsigned i = 0; i < 1200; i++) {
                size_t kl = shape_key(k, i), vl = vmake(v, i, round, 20 + (i + round) % 90);
                if ((i + round) % 11 == 0) {
                    int rc = arm_engine_delete(e, arm_slice_make(k, kl));
                    ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
                    util_model_del(&m, k, kl);
                } else {
                    util_put_ok(e, k, kl, v, vl);
                    util_model_put(&m, k, kl, v, vl);
                }
            }
            arm_batch *bt = NULL; /* a batch over every shard */
            UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
            for (unsigned i = round; i < 1200; i += 97) {
                size_t kl = shape_key(k, i), vl = vmake(v, i, 9 + round, 30);
                ARM_CHECK_RC(arm_engine_batch_put(bt, arm_slice_make(k, kl), arm_slice_make(v, vl)),
                             ARM_OK);
                util_model_put(&m, k, kl, v, vl);
            }
            UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
            arm_engine_batch_free(bt);
        }
        util_close_ok(e);
        for (int hints = 1; hints >= 0; hints--) {
            o.hints = hints;
            e = util_open_ok(dir, &o);
            util_expect_model(e, &m);
            if (!kind) {
                arm_cursor *c = NULL;
                UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
                size_t i = 0;
                for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c), i++) {
                    arm_slice ck = arm_engine_cursor_key(c);
                    ARM_CHECK(i < m.n && ck.len == m.items[i].klen &&
                              memcmp(ck.ptr, m.items[i].key, ck.len) == 0);
                }
                ARM_CHECK(i == m.n);
                arm_engine_cursor_close(c);
            }
            util_close_ok(e);
        }
        util_model_free(&m);
    }
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_dir.tmp);
    UTIL_CASE("torn tail: final put cut at every byte", test_torn_put());
    UTIL_CASE("torn tail: final overwrite cut at every byte", test_torn_overwrite());
    UTIL_CASE("torn tail: final delete cut at every byte", test_torn_delete());
    UTIL_CASE("zero padding and garbage at the tail", test_tail_padding());
    UTIL_CASE("bit flip in an older file", test_bitflip_older());
    UTIL_CASE("bit flip in an older file's header", test_bitflip_older_header());
    UTIL_CASE("bit flip in the newest file's last entry", test_bitflip_newest_last());
    UTIL_CASE("batch interrupted before its commit marker", test_batch_interrupted());
    UTIL_CASE("batch with a corrupted member", test_batch_member_flip());
    UTIL_CASE("damage in the middle of the newest file", test_mid_damage_newest());
    UTIL_CASE("a long torn tail is cut silently", test_torn_is_cut_silently());
    UTIL_CASE("bad metadata", test_bad_meta());
    UTIL_CASE("hand-built entries by the documented format", test_handmade_entries());
    UTIL_CASE("a TXNINFO inside a batch cuts it short", test_txninfo_inside_batch());
    UTIL_CASE("keys of every shape recover, in order", test_key_order());
    return harness_done();
}
