/* SPDX-License-Identifier: MIT */
/*
 * test_engine_hints.c: hint files (FFFFFFFF.hint beside each sealed data
 * file). Checked against the documented format (ARCHITECTURE.md): one
 * record per entry, in file order, with the entry's type, flags, offset,
 * lengths, sequence number and key; none for the newest file. Open uses a
 * good hint instead of reading the file (a flipped value byte in a hinted
 * file then shows at the read and in check, not at open); a missing,
 * truncated, damaged, foreign or stale hint is no hint: open scans the file,
 * silently and correctly, and writes a good one. A batch recovered from a
 * hint is applied whole or not at all. A hint write that fails or is cut
 * short leaves no hint (and no .hint.tmp after the next open); a sealed file
 * written again loses its hint; hints=0 writes and reads none. Records of
 * TXNINFO, DECISION and REPL_POS entries carry their values: transactions
 * decided apart from their batches (committed, aborted, in doubt after a
 * crash) and a follower's positions recover from hints exactly as from scans.
 */
#include "../harness.h"
#include "../../engine/engine_int.h"
#include "../../common/arm_alloc.h"
#include "../util.h"

#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static util_case_dir g_dir; /* tmp, db, work */

static void small_opts(arm_engine_options *o, uint32_t shards) {
    arm_engine_options_init(o);
    o->compaction = 0; /* the tests look at which files and hints exist */
    o->shard_count = shards;
    o->max_file_size = 64u << 10;
    o->max_value_size = 16u << 10;
    o->write_buffer_size = 16u << 10;
}

static size_t kname(char *b, unsigned i) { return (size_t)sprintf(b, "hk%06u", i); }
static size_t vmake(uint8_t *b, unsigned i, unsigned g) {
    size_t len = 40 + (i * 7 + g) % 160;
    util_fill(b, len, i, g);
    return len;
}

/* n keys, generation 0, plus deletes of every 7th key and overwrites of
 * every 5th (generation 1): tombstones and dead entries in sealed files. */
static void fill_model(arm_engine *e, util_model *m, unsigned n) {
    char k[32];
    uint8_t v[256];
    for (unsigned i = 0; i < n; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 0);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(m, k, kl, v, vl);
    }
    for (unsigned i = 0; i < n; i += 5) {
        size_t kl = kname(k, i), vl = vmake(v, i, 1);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(m, k, kl, v, vl);
    }
    for (unsigned i = 3; i < n; i += 7) {
        size_t kl = kname(k, i);
        UTIL_CHECK_RC(e, arm_engine_delete(e, arm_slice_make(k, kl)), ARM_OK);
        util_model_del(m, k, kl);
    }
}

/* The database every case starts from: 2 shards, many files, hints on. */
static int build(arm_engine_options *o, util_model *m, util_logfile *lf, int max) {
    const char *dir = util_case_fresh(&g_dir, "hints");
    small_opts(o, 2);
    arm_engine *e = util_open_ok(dir, o);
    fill_model(e, m, 1600);
    util_close_ok(e); /* close writes what is queued */
    int nf = util_list_logs(dir, lf, max);
    ARM_CHECK(nf >= 6 && nf <= max);
    return nf;
}

static int is_newest(const util_logfile *lf, int nf, int i) {
    for (int j = 0; j < nf; j++)
        if (lf[j].shard == lf[i].shard && lf[j].fid > lf[i].fid) return 0;
    return 1;
}

static void open_counts(arm_engine *e, uint64_t *hinted, uint64_t *scanned) {
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    *hinted = st.open_hinted;
    *scanned = st.open_scanned;
    ARM_CHECK(st.hints == (e->opts.hints != 0)); /* the option in force */
}

/* Every key of the model through a cursor as well as gets. */
static void expect_all(arm_engine *e, const util_model *m) {
    util_expect_model(e, m);
    arm_cursor *c = NULL;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    size_t i = 0;
    for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c), i++) {
        ARM_CHECK(i < m->n);
        arm_slice k = arm_engine_cursor_key(c), v;
        ARM_CHECK(k.len == m->items[i].klen && memcmp(k.ptr, m->items[i].key, k.len) == 0);
        UTIL_CHECK_RC(e, arm_engine_cursor_value(c, &v), ARM_OK);
        ARM_CHECK(v.len == m->items[i].vlen && memcmp(v.ptr, m->items[i].val, v.len) == 0);
    }
    ARM_CHECK(i == m->n);
    arm_engine_cursor_close(c);
}

/* ------------------------------------------------------------------ */
static void test_format(void) {
    arm_engine_options o;
    util_model m;
    util_model_init(&m);
    util_logfile lf[128];
    int nf = build(&o, &m, lf, 128);
    int sealed = 0;
    for (int i = 0; i < nf; i++) {
        char hp[700];
        util_hint_path(hp, sizeof hp, lf[i].path);
        if (is_newest(lf, nf, i)) {
            ARM_CHECK(util_file_size(hp) < 0); /* still being written: no hint */
            continue;
        }
        sealed++;
        static util_entry ent[2048];
        static util_hint_rec rec[2048];
        uint64_t end = 0, log_size = 0;
        int ne = util_parse_log(lf[i].path, ent, 2048, &end);
        int nr = util_parse_hint(hp, rec, 2048, &log_size);
        ARM_CHECK(ne > 0 && ne <= 2048);
        ARM_CHECK(nr == ne);
        ARM_CHECK(end == lf[i].size && log_size == lf[i].size);
        size_t hl, ll;
        uint8_t *hb = util_read_file(hp, &hl), *lb = util_read_file(lf[i].path, &ll);
        ARM_CHECK(hb && lb);
        /* the header names the file and the database, as the data file does */
        ARM_CHECK(memcmp(hb + 12, lb + 12, 8) == 0);  /* shard, fid */
        ARM_CHECK(memcmp(hb + 20, lb + 20, 20) == 0); /* flags, db_id */
        ARM_CHECK(hb[8] == 1 && hb[9] == 0);          /* version 1 */
        for (int j = 0; j < ne; j++) {
            ARM_CHECK(rec[j].off == ent[j].off);
            ARM_CHECK(rec[j].type == ent[j].type && rec[j].flags == ent[j].flags);
            ARM_CHECK(rec[j].klen == ent[j].klen && rec[j].vlen == ent[j].vlen);
            ARM_CHECK(rec[j].seq == ent[j].seq);
            ARM_CHECK(memcmp(hb + rec[j].key_off, lb + ent[j].key_off, ent[j].klen) == 0);
        }
        free(hb);
        free(lb);
    }
    ARM_CHECK(sealed >= 4);
    util_model_free(&m);
}

static void test_open_from_hints(void) {
    arm_engine_options o;
    util_model m;
    util_model_init(&m);
    util_logfile lf[128];
    int nf = build(&o, &m, lf, 128);
    arm_engine *e = util_open_ok(g_dir.db, &o);
    uint64_t hinted, scanned;
    open_counts(e, &hinted, &scanned);
    ARM_CHECK(hinted == (uint64_t)nf - 2 && scanned == 2); /* the two newest are scanned */
    expect_all(e, &m);
    util_close_ok(e);
    /* the same state without hints */
    o.hints = 0;
    e = util_open_ok(g_dir.db, &o);
    open_counts(e, &hinted, &scanned);
    ARM_CHECK(hinted == 0 && scanned == (uint64_t)nf);
    expect_all(e, &m);
    util_close_ok(e);
    o.hints = 1;

    /* A hinted file's values are not read at open: a flipped value byte
     * shows at the read (naming file and offset) and in check. */
    int victim = -1;
    for (int i = 0; i < nf && victim < 0; i++)
        if (!is_newest(lf, nf, i)) victim = i;
    static util_entry ent[2048];
    int ne = util_parse_log(lf[victim].path, ent, 2048, NULL);
    ARM_CHECK(ne > 10);
    const util_entry *bad = NULL;
    for (int j = ne / 2; j < ne && bad == NULL; j++)
        if (ent[j].type == UTIL_T_PUT && ent[j].vlen > 0) bad = &ent[j];
    ARM_CHECK(bad != NULL);
    char key[32];
    size_t len;
    uint8_t *b = util_read_file(lf[victim].path, &len);
    ARM_CHECK(b && bad->klen < sizeof key);
    memcpy(key, b + bad->key_off, bad->klen);
    free(b);
    const util_kv *live = util_model_get(&m, key, bad->klen);
    const char *w = util_case_work_copy(&g_dir);
    char p[700];
    snprintf(p, sizeof p, "%s/shard-%03u/%08u.log", w, lf[victim].shard, lf[victim].fid);
    ARM_CHECK(util_flip_bit(p, bad->key_off + bad->klen + bad->vlen / 2, 2) == 0);
    e = util_open_ok(w, &o);
    arm_buf vb = {0};
    int rc = arm_engine_get(e, arm_slice_make(key, bad->klen), &vb);
    if (live && live->vlen == bad->vlen) { /* the damaged entry is the key's live one */
        ARM_CHECK_RC(rc, ARM_CORRUPT);
        char name[32], off[32];
        snprintf(name, sizeof name, "%08u.log", lf[victim].fid);
        snprintf(off, sizeof off, "%" PRIu64, bad->off);
        ARM_CHECK(strstr(arm_engine_errmsg(e), name) && strstr(arm_engine_errmsg(e), off));
    }
    arm_buf_free(&vb);
    uint64_t problems = 0;
    UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems >= 1);
    util_close_ok(e);
    util_model_free(&m);
}

/* Damage to a hint: each variant on a fresh copy; open scans that file,
 * serves everything, and leaves a good hint behind. */
static void test_bad_hints(void) {
    arm_engine_options o;
    util_model m;
    util_model_init(&m);
    util_logfile lf[128];
    int nf = build(&o, &m, lf, 128);
    int v = -1, other = -1;
    for (int i = 0; i < nf; i++) {
        if (is_newest(lf, nf, i)) continue;
        if (v < 0) v = i;
        else if (other < 0 && lf[i].shard == lf[v].shard) other = i;
    }
    ARM_CHECK(v >= 0 && other >= 0);
    char hp[700];
    util_hint_path(hp, sizeof hp, lf[v].path);
    int64_t hsize = util_file_size(hp);
    ARM_CHECK(hsize > 200);
    static util_hint_rec rec[2048];
    int nr = util_parse_hint(hp, rec, 2048, NULL);
    ARM_CHECK(nr > 4 && nr <= 2048);
    enum { MISSING, TRUNC, FLIP, FOREIGN, STALE, UNTILED, NVARIANT };
    const uint64_t cuts[] = {0, 10, 63, 64, 70, (uint64_t)hsize / 2, (uint64_t)hsize - 24,
                             (uint64_t)hsize - 1};
    const uint64_t flips[] = {3, 30, 60, 64, 66, 70, rec[1].key_off, (uint64_t)hsize / 2,
                              (uint64_t)hsize - 20, (uint64_t)hsize - 12, (uint64_t)hsize - 1};
    int runs = 0;
    for (int kind = 0; kind < NVARIANT; kind++) {
        size_t nsub = kind == TRUNC ? sizeof cuts / sizeof cuts[0]
                      : kind == FLIP ? sizeof flips / sizeof flips[0] : 1;
        for (size_t sub = 0; sub < nsub; sub++) {
            const char *w = util_case_work_copy(&g_dir);
            char wh[700], wl[700], wo[700];
            snprintf(wl, sizeof wl, "%s/shard-%03u/%08u.log", w, lf[v].shard, lf[v].fid);
            snprintf(wo, sizeof wo, "%s/shard-%03u/%08u.log", w, lf[other].shard, lf[other].fid);
            util_hint_path(wh, sizeof wh, wl);
            if (kind == MISSING) ARM_CHECK(unlink(wh) == 0);
            if (kind == TRUNC) ARM_CHECK(util_truncate(wh, cuts[sub]) == 0);
            if (kind == FLIP) ARM_CHECK(util_flip_bit(wh, flips[sub], (int)sub % 8) == 0);
            if (kind == FOREIGN) { /* another file's hint under this name */
                char oh[700];
                util_hint_path(oh, sizeof oh, wo);
                ARM_CHECK(util_copy_file(oh, wh) == 0);
            }
            if (kind == STALE) { /* says the data file is one byte longer */
                size_t hl;
                uint8_t *hb = util_read_file(wh, &hl);
                ARM_CHECK(hb != NULL);
                uint64_t ls = 0;
                for (int i = 7; i >= 0; i--) ls = ls << 8 | hb[40 + i];
                ls += 1;
                for (int i = 0; i < 8; i++) hb[40 + i] = (uint8_t)(ls >> (8 * i));
                FILE *f = fopen(wh, "wb");
                ARM_CHECK(f && fwrite(hb, 1, hl, f) == hl);
                fclose(f);
                free(hb);
                ARM_CHECK(util_reseal_hint(wh) == 0);
            }
            if (kind == UNTILED) { /* a record's vlen off by one, checksums redone */
                ARM_CHECK(util_flip_bit(wh, rec[2].key_off - UTIL_HINT_REC + 8, 0) == 0);
                ARM_CHECK(util_reseal_hint(wh) == 0);
            }
            arm_engine *e = util_open_ok(w, &o);
            uint64_t hinted, scanned;
            open_counts(e, &hinted, &scanned);
            if (hinted != (uint64_t)nf - 3 || scanned != 3) {
                fprintf(stderr, "hint variant %d/%zu: hinted %" PRIu64 " scanned %" PRIu64 "\n",
                        kind, sub, hinted, scanned);
                ARM_CHECK(!"a bad hint is scanned past, the others used");
            }
            expect_all(e, &m);
            util_put_ok(e, "after", 5, "x", 1);
            util_close_ok(e);
            /* a good hint replaced the bad one */
            static util_entry ent[2048];
            ARM_CHECK(util_parse_hint(wh, NULL, 0, NULL) == util_parse_log(wl, ent, 2048, NULL));
            e = util_open_ok(w, &o);
            open_counts(e, &hinted, &scanned);
            ARM_CHECK(hinted == (uint64_t)nf - 2);
            util_expect(e, "after", 5, "x", 1);
            util_close_ok(e);
            runs++;
        }
    }
    ARM_CHECK(runs >= 20);
    util_model_free(&m);
}

/* Batches over several shards, many in sealed files. Recovered from hints,
 * the state equals the one from scans; a hint that (forged, checksums
 * redone) drops a batch's TXN_END flag gets the batch dropped whole, as a
 * data file saying so would. */
static void test_batches(void) {
    const char *dir = util_case_fresh(&g_dir, "hbatch");
    arm_engine_options o;
    small_opts(&o, 3);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    char k[32];
    uint8_t v[256];
    for (unsigned b = 0; b < 500; b++) {
        arm_batch *bt = NULL;
        UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
        for (unsigned j = 0; j < 6; j++) {
            unsigned i = b * 4 + j; /* overlaps the next batch: overwrites */
            size_t kl = kname(k, i), vl = vmake(v, i, b);
            if (j == 5 && b % 3 == 0) {
                ARM_CHECK_RC(arm_engine_batch_delete(bt, arm_slice_make(k, kl)), ARM_OK);
                util_model_del(&m, k, kl);
            } else {
                ARM_CHECK_RC(arm_engine_batch_put(bt, arm_slice_make(k, kl), arm_slice_make(v, vl)),
                             ARM_OK);
                util_model_put(&m, k, kl, v, vl);
            }
        }
        UTIL_CHECK_RC(e, arm_engine_batch_commit(e, bt), ARM_OK);
        arm_engine_batch_free(bt);
    }
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    uint64_t hinted, scanned;
    open_counts(e, &hinted, &scanned);
    ARM_CHECK(hinted >= 2);
    expect_all(e, &m);
    util_close_ok(e);

    /* forge: the first batch's TXN_END cleared in the first sealed hint */
    util_logfile lf[128];
    int nf = util_list_logs(dir, lf, 128);
    int target = -1;
    static util_hint_rec rec[2048];
    int nr = 0, endrec = -1;
    for (int i = 0; i < nf && target < 0; i++) {
        char hp[700];
        util_hint_path(hp, sizeof hp, lf[i].path);
        if (util_file_size(hp) < 0) continue;
        nr = util_parse_hint(hp, rec, 2048, NULL);
        for (int j = 0; j < nr && endrec < 0; j++)
            if (rec[j].flags & UTIL_F_TXN_END) endrec = j;
        if (endrec >= 0) target = i;
    }
    ARM_CHECK(target >= 0);
    const char *w = util_case_work_copy(&g_dir);
    char wl[700], wh[700];
    snprintf(wl, sizeof wl, "%s/shard-%03u/%08u.log", w, lf[target].shard, lf[target].fid);
    util_hint_path(wh, sizeof wh, wl);
    ARM_CHECK(util_flip_bit(wh, rec[endrec].key_off - UTIL_HINT_REC + 1, 1) == 0); /* TXN_END */
    ARM_CHECK(util_reseal_hint(wh) == 0);
    /* the batch never ends in that file: a sealed file cut short is damage */
    arm_engine *e2 = NULL;
    ARM_CHECK_RC(arm_engine_open(w, &o, &e2), ARM_CORRUPT);
    /* read-only opens, and no key shows a value this batch wrote: none of
     * its members is applied (values name key and batch, so they are unique) */
    o.read_only = 1;
    e2 = util_open_ok(w, &o);
    size_t hl, ll;
    uint8_t *hb = util_read_file(wh, &hl), *lb = util_read_file(wl, &ll);
    ARM_CHECK(hb != NULL && lb != NULL);
    uint64_t bseq = rec[endrec].seq;
    int members = 0;
    for (int j = 0; j <= endrec; j++) {
        if (rec[j].seq != bseq || rec[j].type != UTIL_T_PUT) continue;
        members++;
        arm_buf got = {0};
        int rc = arm_engine_get(e2, arm_slice_make(hb + rec[j].key_off, rec[j].klen), &got);
        const uint8_t *bv = lb + rec[j].off + UTIL_ENTRY_HDR + rec[j].klen;
        ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
        ARM_CHECK(!(rc == ARM_OK && got.len == rec[j].vlen && memcmp(got.ptr, bv, got.len) == 0));
        arm_buf_free(&got);
    }
    ARM_CHECK(members >= 2);
    free(hb);
    free(lb);
    util_close_ok(e2);
    o.read_only = 0;
    util_model_free(&m);
}

/* ---------------------------------------------------- failed hint writes */
static int g_fail_op;
static int hint_hook(int op, int fd, uint64_t off, size_t n) {
    (void)fd;
    (void)off;
    (void)n;
    return op == g_fail_op ? 5 /* EIO */ : 0;
}

static void test_failed_writes(void) {
    for (int variant = 0; variant < 3; variant++) {
        const char *dir = util_case_fresh(&g_dir, "hfail");
        arm_engine_options o;
        small_opts(&o, 1);
        g_fail_op = variant == 0 ? ARM_IO_OP_HINT_WRITE : ARM_IO_OP_HINT_SYNC;
        if (variant < 2) arm_io_set_fault_hook(hint_hook);
        arm_engine *e = util_open_ok(dir, &o);
        util_model m;
        util_model_init(&m);
        fill_model(e, &m, 900);
        util_close_ok(e); /* data writes are untouched by the hook */
        arm_io_set_fault_hook(NULL);
        util_logfile lf[64];
        int nf = util_list_logs(dir, lf, 64);
        ARM_CHECK(nf >= 3);
        char sdir[700];
        snprintf(sdir, sizeof sdir, "%s/shard-000", dir);
        for (int i = 0; i < nf; i++) {
            char hp[700], tmp[720];
            util_hint_path(hp, sizeof hp, lf[i].path);
            snprintf(tmp, sizeof tmp, "%s.tmp", hp);
            if (variant < 2) ARM_CHECK(util_file_size(hp) < 0); /* no hint */
            ARM_CHECK(util_file_size(tmp) < 0);                 /* and no leftovers */
            if (variant == 2 && i == 0) { /* a write cut short by a crash */
                ARM_CHECK(unlink(hp) == 0);
                FILE *f = fopen(tmp, "wb");
                ARM_CHECK(f && fwrite("ARMHINT", 1, 7, f) == 7);
                fclose(f);
            }
        }
        e = util_open_ok(dir, &o);
        uint64_t hinted, scanned;
        open_counts(e, &hinted, &scanned);
        ARM_CHECK(scanned >= (variant < 2 ? (uint64_t)nf : 1));
        expect_all(e, &m);
        arm_files_hints_drain(&e->files); /* written in the background, while open */
        for (int i = 0; i < nf; i++) {
            char hp[700], tmp[720];
            util_hint_path(hp, sizeof hp, lf[i].path);
            snprintf(tmp, sizeof tmp, "%s.tmp", hp);
            ARM_CHECK(util_file_size(tmp) < 0);
            if (i + 1 < nf) ARM_CHECK(util_parse_hint(hp, NULL, 0, NULL) > 0);
        }
        util_close_ok(e);
        e = util_open_ok(dir, &o);
        open_counts(e, &hinted, &scanned);
        ARM_CHECK(hinted == (uint64_t)nf - 1 && scanned == 1);
        expect_all(e, &m);
        util_close_ok(e);
        util_model_free(&m);
    }
}

/* A sealed file that becomes the newest again (its successor was created
 * and never written: a rotation cut short) is appended to, so its hint goes
 * first; hints=0 writes none and reads none. */
static void test_resume_and_off(void) {
    const char *dir = util_case_fresh(&g_dir, "hresume");
    arm_engine_options o;
    small_opts(&o, 1);
    arm_engine *e = util_open_ok(dir, &o);
    util_model m;
    util_model_init(&m);
    fill_model(e, &m, 900);
    util_close_ok(e);
    util_logfile lf[64];
    int nf = util_list_logs(dir, lf, 64);
    ARM_CHECK(nf >= 3);
    /* drop the newest file's contents for a blank one: its predecessor,
     * sealed and hinted, is the newest again */
    const util_logfile *prev = &lf[nf - 2];
    char hp[700];
    util_hint_path(hp, sizeof hp, prev->path);
    ARM_CHECK(util_parse_hint(hp, NULL, 0, NULL) > 0);
    /* what lived in the newest file is lost with it: every key is written
     * again after the resume, and the model says so */
    ARM_CHECK(util_truncate(lf[nf - 1].path, 0) == 0);
    o.hints = 1;
    e = util_open_ok(dir, &o);
    ARM_CHECK(util_file_size(hp) < 0); /* the resumed file lost its hint */
    char k[32];
    uint8_t v[256];
    for (unsigned i = 0; i < 900; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, 7);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(&m, k, kl, v, vl);
    }
    util_close_ok(e);
    e = util_open_ok(dir, &o);
    expect_all(e, &m);
    util_close_ok(e);

    /* hints = 0 */
    o.hints = 0;
    dir = util_case_fresh(&g_dir, "hoff");
    e = util_open_ok(dir, &o);
    util_model_free(&m);
    util_model_init(&m);
    fill_model(e, &m, 900);
    util_close_ok(e);
    nf = util_list_logs(dir, lf, 64);
    for (int i = 0; i < nf; i++) {
        util_hint_path(hp, sizeof hp, lf[i].path);
        ARM_CHECK(util_file_size(hp) < 0);
    }
    e = util_open_ok(dir, &o);
    uint64_t hinted, scanned;
    open_counts(e, &hinted, &scanned);
    ARM_CHECK(hinted == 0 && scanned == (uint64_t)nf);
    util_close_ok(e);
    util_model_free(&m);
}

/* ------------------------------------------ decided elsewhere, positions */
/* Transactions whose decision is recorded apart from their batch (TXNINFO
 * batches, COMMIT and ABORT records, an abort of a batch its prepare
 * decided, one left in doubt by a crash) and a follower's REPL_POS entries,
 * all in sealed files: recovered from their hints (whose records carry these
 * kinds' values), the engine is what it is when every file is scanned. */
static const uint8_t g_leader[16] = "leader-database!";

static void txn_put(arm_txn *t, const char *k, const char *v) {
    ARM_CHECK_RC(arm_txn_put(t, UTIL_S(k), UTIL_S(v)), ARM_OK);
}

/* Filler in both shards, enough to seal the active files. */
static void fill_rotate(arm_engine *e, unsigned gen) {
    char k[32];
    uint8_t v[256];
    for (unsigned i = 0; i < 700; i++) {
        size_t kl = (size_t)sprintf(k, "fill%04u", i);
        util_put_ok(e, k, kl, v, vmake(v, i, gen));
    }
}

#define TXN_KEYS 6
/* An externally decided transaction writing `tag`1..TXN_KEYS (in both
 * shards: some are members for the other shard's index) and deleting base,
 * decided after filler (its COMMIT or ABORT lands in a later file than its
 * batch): commit 1 publishes, 0 discards. ext NULL: its prepare decides, and
 * discard then writes an ABORT of a batch recovery would apply. */
static void decided_txn(arm_engine *e, const char *tag, const arm_txn_ext *ext, int commit,
                        unsigned gen) {
    arm_txn *t = NULL;
    ARM_CHECK_RC(arm_txn_begin(e, NULL, 0, &t), ARM_OK);
    char k[32];
    unsigned routed = 0;
    for (int i = 1; i <= TXN_KEYS; i++) {
        size_t kl = (size_t)snprintf(k, sizeof k, "%s%d", tag, i);
        txn_put(t, k, tag);
        routed |= 1u << arm_engine_route(e, (const uint8_t *)k, kl);
    }
    ARM_CHECK(routed == 3);
    ARM_CHECK_RC(arm_txn_delete(t, UTIL_S("base")), ARM_OK);
    UTIL_CHECK_RC(e, arm_txn_prepare(t, ext), ARM_OK);
    fill_rotate(e, gen);
    if (commit)
        ARM_CHECK_RC(arm_txn_publish(&t, 1), ARM_OK);
    else
        ARM_CHECK_RC(arm_txn_discard(t), ARM_OK);
    arm_txn_free(t);
}

/* Follower applies: positions for leader shards {a, b}, or {a} alone when
 * b is UINT32_MAX (the batch goes to the log of the first key's shard, or
 * of shard a with no keys; one position alone is a standalone entry). */
static void apply_pos(arm_engine *e, uint32_t a, uint32_t b, uint64_t lseq, int with_key) {
    arm_batch *bt = NULL;
    UTIL_CHECK_RC(e, arm_engine_batch_new(e, &bt), ARM_OK);
    char k[32];
    snprintf(k, sizeof k, "applied%llu", (unsigned long long)lseq);
    if (with_key) ARM_CHECK_RC(arm_engine_batch_put(bt, UTIL_S(k), UTIL_S("from leader")), ARM_OK);
    uint32_t shards[2] = {a, b};
    arm_log_pos pos[2] = {{lseq, 64 + 40 * lseq, 7, 40}, {lseq + 1, 64 + 40 * (lseq + 1), 8, 40}};
    size_t npos = b == UINT32_MAX ? 1 : 2;
    UTIL_CHECK_RC(e, arm_engine_apply(e, bt, g_leader, shards, pos, npos, 0), ARM_OK);
    arm_engine_batch_free(bt);
}

/* What an open recovered, everything a caller can see of it. */
typedef struct rec_seen {
    util_model kv;
    arm_indoubt *indoubt;
    size_t nindoubt;
    int pos_rc[2];
    uint8_t pos_leader[2][16];
    arm_log_pos pos[2];
    uint32_t pos_flags[2];
    arm_log_pos tail[2];
    uint64_t keys, live, dead, last_seq, hinted, scanned;
    uint64_t log_hash, log_n; /* what a log reader ships, in order */
    uint64_t log_undecided;   /* shipped writes of keys no published transaction wrote */
} rec_seen;

static void seen_take(arm_engine *e, rec_seen *s) {
    memset(s, 0, sizeof(*s));
    util_model_init(&s->kv);
    arm_cursor *c = NULL;
    UTIL_CHECK_RC(e, arm_engine_cursor_open(e, NULL, &c), ARM_OK);
    for (int rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
        arm_slice k = arm_engine_cursor_key(c), v;
        UTIL_CHECK_RC(e, arm_engine_cursor_value(c, &v), ARM_OK);
        util_model_put(&s->kv, k.ptr, k.len, v.ptr, v.len);
    }
    arm_engine_cursor_close(c);
    ARM_CHECK_RC(arm_engine_indoubt_list(e, &s->indoubt, &s->nindoubt), ARM_OK);
    for (uint32_t i = 0; i < 2; i++) {
        s->pos_rc[i] = arm_engine_repl_pos(e, i, s->pos_leader[i], &s->pos[i], &s->pos_flags[i]);
        s->tail[i] = e->shards[i].tail;
    }
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    s->keys = st.keys;
    s->live = st.live_bytes;
    s->dead = st.dead_bytes;
    s->last_seq = st.last_seq;
    s->hinted = st.open_hinted;
    s->scanned = st.open_scanned;
    /* the log as a leader ships it: aborted batches skipped, the reader
     * stopping at the in-doubt one in its shard */
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    arm_log_txn lt;
    int rc;
    uint64_t h = 0;
    while ((rc = arm_log_reader_next(r, &lt)) == ARM_OK) {
        uint64_t f[6] = {lt.shard, lt.seq, lt.pos.seq, lt.pos.off, lt.pos.fid, lt.nops};
        h = h * 31 + util_hash(f, sizeof f);
        for (size_t i = 0; i < lt.nops; i++) {
            arm_slice k = lt.ops[i].key;
            h = h * 31 + util_hash(k.ptr, k.len) +
                util_hash(lt.ops[i].value.ptr, lt.ops[i].value.len) + (uint64_t)lt.ops[i].del;
            if (k.len == 3 && (memcmp(k.ptr, "ab", 2) == 0 || memcmp(k.ptr, "dt", 2) == 0))
                s->log_undecided++;
            if (k.len == 4 && memcmp(k.ptr, "hot", 3) == 0) s->log_undecided++;
        }
        s->log_n++;
    }
    ARM_CHECK_RC(rc, ARM_NOTFOUND);
    arm_log_reader_close(r);
    s->log_hash = h;
}

static void seen_free(rec_seen *s) {
    util_model_free(&s->kv);
    arm_free(s->indoubt);
}

static void seen_same(const rec_seen *a, const rec_seen *b) {
    ARM_CHECK(a->kv.n == b->kv.n);
    for (size_t i = 0; i < a->kv.n; i++) {
        const util_kv *x = &a->kv.items[i], *y = &b->kv.items[i];
        ARM_CHECK(util_keycmp(x->key, x->klen, y->key, y->klen) == 0);
        ARM_CHECK(x->vlen == y->vlen && memcmp(x->val, y->val, x->vlen) == 0);
    }
    ARM_CHECK(a->nindoubt == b->nindoubt);
    for (size_t i = 0; i < a->nindoubt; i++)
        ARM_CHECK(memcmp(&a->indoubt[i], &b->indoubt[i], sizeof(arm_indoubt)) == 0);
    for (int i = 0; i < 2; i++) {
        ARM_CHECK(a->pos_rc[i] == b->pos_rc[i]);
        ARM_CHECK(memcmp(a->pos_leader[i], b->pos_leader[i], 16) == 0);
        ARM_CHECK(memcmp(&a->pos[i], &b->pos[i], sizeof(arm_log_pos)) == 0);
        ARM_CHECK(a->pos_flags[i] == b->pos_flags[i]);
        ARM_CHECK(memcmp(&a->tail[i], &b->tail[i], sizeof(arm_log_pos)) == 0);
    }
    ARM_CHECK(a->keys == b->keys && a->live == b->live && a->dead == b->dead);
    ARM_CHECK(a->last_seq == b->last_seq);
    ARM_CHECK(a->log_n == b->log_n && a->log_hash == b->log_hash);
    ARM_CHECK(a->log_undecided == b->log_undecided);
}

/* The recovered state is the one the writes made (either way of reading). */
static void seen_expected(const rec_seen *s, const char *dir, const arm_txn_ext *ext) {
    const util_model *m = &s->kv;
    for (int i = 1; i <= TXN_KEYS; i++) {
        char k[16];
        snprintf(k, sizeof k, "ci%d", i);
        ARM_CHECK(util_model_get(m, k, 3) != NULL); /* COMMIT */
        snprintf(k, sizeof k, "ab%d", i);
        ARM_CHECK(util_model_get(m, k, 3) == NULL); /* ABORT */
        snprintf(k, sizeof k, "hot%d", i);
        ARM_CHECK(util_model_get(m, k, 4) == NULL); /* ABORT after its prepare decided */
        snprintf(k, sizeof k, "dt%d", i);
        ARM_CHECK(util_model_get(m, k, 3) == NULL); /* in doubt: invisible */
    }
    ARM_CHECK(!util_model_get(m, "base", 4)); /* deleted by the committed one */
    ARM_CHECK(util_model_get(m, "applied5", 8) && util_model_get(m, "applied9", 8));
    ARM_CHECK(s->nindoubt == 1 && s->indoubt[0].nkeys == 4);
    /* each shard's tail: just past the last entry of its newest file with one */
    for (uint32_t i = 0; i < 2; i++) {
        util_logfile lf[128];
        int nf = util_list_logs(dir, lf, 128);
        static util_entry ent[4096];
        int ne = 0;
        for (int j = nf - 1; j >= 0 && ne == 0; j--) {
            if (lf[j].shard != i) continue;
            ne = util_parse_log(lf[j].path, ent, 4096, NULL);
            ARM_CHECK(ne <= 4096);
            if (ne <= 0) continue;
            const util_entry *x = &ent[ne - 1];
            arm_log_pos want = {x->seq, x->off + x->len, lf[j].fid, x->len};
            ARM_CHECK(memcmp(&s->tail[i], &want, sizeof want) == 0);
        }
        ARM_CHECK(ne > 0);
    }
    ARM_CHECK(memcmp(s->indoubt[0].owner, ext->owner, 16) == 0);
    /* the newest position of each leader shard, wherever it lies (older
     * ones are in both shards' logs) */
    for (int i = 0; i < 2; i++) {
        ARM_CHECK_RC(s->pos_rc[i], ARM_OK);
        ARM_CHECK(memcmp(s->pos_leader[i], g_leader, 16) == 0 && s->pos_flags[i] == 0);
    }
    ARM_CHECK(s->pos[0].seq == 9 && s->pos[0].fid == 7);
    ARM_CHECK(s->pos[1].seq == 11 && s->pos[1].fid == 7);
    ARM_CHECK(s->log_n > 0 && s->log_undecided == 0);
}

/* A child opens, prepares an externally decided transaction and dies. */
static void crash_in_doubt(const char *dir, const arm_engine_options *o, const arm_txn_ext *ext) {
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        arm_engine *e = NULL;
        arm_txn *t = NULL;
        if (arm_engine_open(dir, o, &e) != ARM_OK || arm_txn_begin(e, NULL, 0, &t) != ARM_OK)
            _exit(2);
        if (arm_txn_put(t, UTIL_S("dt1"), UTIL_S("doubt")) != ARM_OK ||
            arm_txn_put(t, UTIL_S("dt2"), UTIL_S("doubt")) != ARM_OK ||
            arm_txn_put(t, UTIL_S("dt3"), UTIL_S("doubt")) != ARM_OK ||
            arm_txn_delete(t, UTIL_S("ci1")) != ARM_OK)
            _exit(3);
        _exit(arm_txn_prepare(t, ext) == ARM_OK ? 0 : 4); /* no publish, no close */
    }
    int st = 0;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    ARM_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_decisions_and_positions(void) {
    const char *dir = util_case_fresh(&g_dir, "h2pc");
    arm_engine_options o;
    small_opts(&o, 2);
    arm_txn_ext ext;
    memcpy(ext.owner, "owner-of-this-tx", 16);
    arm_engine *e = util_open_ok(dir, &o);
    util_put_ok(e, "base", 4, "1", 1);
    decided_txn(e, "ci", &ext, 1, 1);  /* TXNINFO batch, COMMIT record */
    util_put_ok(e, "base", 4, "2", 1);
    decided_txn(e, "ab", &ext, 0, 2);  /* TXNINFO batch, ABORT record */
    decided_txn(e, "hot", NULL, 0, 3); /* a batch recovery applies, then an ABORT of it */
    arm_engine_set_follower(e, 1);
    apply_pos(e, 0, 1, 3, 1);
    apply_pos(e, 1, 0, 5, 1); /* positions only follow */
    arm_engine_set_follower(e, 0);
    fill_rotate(e, 4);
    arm_engine_set_follower(e, 1);
    apply_pos(e, 1, 0, 7, 0);  /* in shard 1's log */
    apply_pos(e, 0, 1, 9, 1);  /* the newest for leader shard 0 */
    apply_pos(e, 1, UINT32_MAX, 11, 0); /* standalone: the newest for leader shard 1 */
    arm_engine_set_follower(e, 0);
    UTIL_CHECK_RC(e, arm_engine_delete(e, UTIL_S("base")), ARM_OK);
    util_close_ok(e);
    crash_in_doubt(dir, &o, &ext);
    e = util_open_ok(dir, &o);
    fill_rotate(e, 5); /* the in-doubt batch's file is sealed too */
    fill_rotate(e, 6);
    util_close_ok(e); /* writes the hints */

    /* every kind is in some hint, with its value */
    util_logfile lf[128];
    int nf = util_list_logs(dir, lf, 128);
    ARM_CHECK(nf > 4);
    int kinds[6] = {0};
    for (int i = 0; i < nf; i++) {
        char hp[700];
        util_hint_path(hp, sizeof hp, lf[i].path);
        static util_hint_rec rec[4096];
        int nr = util_parse_hint(hp, rec, 4096, NULL);
        if (is_newest(lf, nf, i)) continue;
        ARM_CHECK(nr > 0 && nr <= 4096);
        size_t hl, ll;
        uint8_t *hb = util_read_file(hp, &hl), *lb = util_read_file(lf[i].path, &ll);
        ARM_CHECK(hb && lb);
        for (int j = 0; j < nr; j++) {
            kinds[rec[j].type]++;
            if (rec[j].type == UTIL_T_DECISION) kinds[0] |= 1 << hb[rec[j].key_off + 8];
            if (rec[j].type == UTIL_T_PUT || rec[j].type == UTIL_T_DEL) continue;
            /* the key and the value, as the entry has them */
            ARM_CHECK(memcmp(hb + rec[j].key_off, lb + rec[j].off + UTIL_ENTRY_HDR,
                             (size_t)rec[j].klen + rec[j].vlen) == 0);
        }
        free(hb);
        free(lb);
    }
    ARM_CHECK(kinds[UTIL_T_TXNINFO] >= 3 && kinds[UTIL_T_REPL_POS] >= 8);
    ARM_CHECK(kinds[UTIL_T_DECISION] >= 3 && kinds[0] == (1 << 1 | 1 << 2)); /* COMMIT, ABORT */

    /* hinted, then scanned, each from the same bytes; then again with
     * shard 1's newest file torn before its first sync (set aside): its
     * tail then comes from the file before, hinted */
    for (int torn = 0; torn < 2; torn++) {
        rec_seen hinted, scanned;
        o.hints = 1;
        const char *w = util_case_work_copy(&g_dir);
        util_logfile nl;
        ARM_CHECK(util_newest_log(w, 1, &nl) == 0);
        if (torn) {
            ARM_CHECK(util_truncate(nl.path, 64) == 0);
            ARM_CHECK(util_flip_bit(nl.path, 20, 3) == 0);
        }
        e = util_open_ok(w, &o);
        seen_take(e, &hinted);
        ARM_CHECK(hinted.hinted == (uint64_t)nf - 2 && hinted.scanned == 2 - (uint64_t)torn);
        seen_expected(&hinted, w, &ext);
        /* the in-doubt keys are held, and its resolution applies what the
         * hint's copy of its keys names */
        ARM_CHECK_RC(arm_engine_put(e, UTIL_S("dt2"), UTIL_S("x")), ARM_BUSY);
        UTIL_CHECK_RC(e, arm_engine_indoubt_resolve(e, hinted.indoubt[0].id, 1), ARM_OK);
        util_expect(e, "dt3", 3, "doubt", 5);
        util_expect_missing(e, "ci1", 3);
        util_close_ok(e);
        o.hints = 0;
        w = util_case_work_copy(&g_dir);
        if (torn) {
            ARM_CHECK(util_truncate(nl.path, 64) == 0);
            ARM_CHECK(util_flip_bit(nl.path, 20, 3) == 0);
        }
        e = util_open_ok(w, &o);
        seen_take(e, &scanned);
        ARM_CHECK(scanned.hinted == 0 && scanned.scanned == (uint64_t)nf - (uint64_t)torn);
        seen_expected(&scanned, w, &ext);
        seen_same(&hinted, &scanned);
        util_close_ok(e);
        seen_free(&hinted);
        seen_free(&scanned);
    }
    o.hints = 1;
}

int main(void) {
    harness_init();
    util_rmrf_at_exit(g_dir.tmp);
    UTIL_CASE("hint files follow the documented format", test_format());
    UTIL_CASE("open recovers sealed files from their hints", test_open_from_hints());
    UTIL_CASE("a missing, cut, damaged, foreign or stale hint is scanned past", test_bad_hints());
    UTIL_CASE("batches recovered from hints stay whole", test_batches());
    UTIL_CASE("a failed or cut-short hint write leaves no hint", test_failed_writes());
    UTIL_CASE("a resumed file loses its hint; hints=0", test_resume_and_off());
    UTIL_CASE("decisions, in-doubt batches and positions recover alike from hints",
              test_decisions_and_positions());
    return harness_done();
}
