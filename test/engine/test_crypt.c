/* SPDX-License-Identifier: MIT */
/*
 * test_crypt.c: encryption at rest. An encrypted database (each cipher, each
 * I/O mode) reads back what was written, from the write buffer before any
 * flush and from the files after reopening with its key; no key, another key
 * or a key for a plain database fail at open with ARM_AUTH and a message
 * that holds no key bytes; key files (raw, hex) and key variables load, bad
 * ones are refused; nothing written is on disk in the clear; every byte of a
 * sealed file flipped in turn is detected at open (ARM_CORRUPT naming the
 * file), and damage inside a newest file too (read-only opens stop there
 * as well: no byte is made up), while a torn tail block is cut like any
 * torn write; no nonce is ever used twice, across tail rewrites,
 * rotations, reopens and opens that end without a close; hint files are
 * sealed too (no key in the clear) and a damaged one is no hint; the log
 * reader replication uses reads the write buffer and sealed files; every
 * acknowledged put survives kill -9. Layout checks
 * follow the block format in ARCHITECTURE.md.
 */
#include "../harness.h"
#include "../../engine/engine_int.h"
#include "../../common/arm_alloc.h"
#include "../util.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static util_case_dir g_dir; /* tmp, db, work */
static uint8_t g_key[32], g_key2[32];

static void crypt_opts(arm_engine_options *o, const uint8_t *key, int cipher) {
    arm_engine_options_init(o);
    o->shard_count = 2;
    o->max_file_size = 64u << 10;
    o->max_value_size = 16u << 10;
    o->write_buffer_size = 16u << 10;
    o->encryption_key = key;
    o->cipher = cipher;
}

static size_t kname(char *b, unsigned i) {
    return (size_t)sprintf(b, "secretkey%06u", i);
}
/* Values up to 12000 bytes: many span blocks. The marker makes a plaintext
 * leak easy to find on disk. */
static size_t vmake(uint8_t *b, unsigned i, unsigned g) {
    size_t len = 16 + (i * 131 + g * 7) % (i % 17 == 0 ? 12000 : 300);
    util_fill(b, len, i, g);
    memcpy(b, "PLAINTEXTMARK", 13);
    return len;
}

static void fill(arm_engine *e, util_model *m, unsigned from, unsigned n, unsigned g) {
    char k[32];
    static uint8_t v[16384];
    for (unsigned i = from; i < from + n; i++) {
        size_t kl = kname(k, i), vl = vmake(v, i, g);
        util_put_ok(e, k, kl, v, vl);
        util_model_put(m, k, kl, v, vl);
    }
}

/* 1 when needle occurs in any file of the database. */
static int on_disk(const char *dir, const char *needle) {
    util_logfile logs[256];
    int n = util_list_logs(dir, logs, 256);
    ARM_CHECK(n >= 0);
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        uint8_t *p = util_read_file(logs[i].path, &len);
        ARM_CHECK(p != NULL);
        size_t nl = strlen(needle);
        for (size_t j = 0; j + nl <= len; j++)
            if (memcmp(p + j, needle, nl) == 0) {
                free(p);
                return 1;
            }
        free(p);
    }
    return 0;
}

static int open_rc(const char *dir, const arm_engine_options *o) {
    arm_engine *e = NULL;
    int rc = arm_engine_open(dir, o, &e);
    if (rc == ARM_OK) util_close_ok(e);
    return rc;
}

/* The message of the last failed open must not hold the key, in hex either. */
static void check_no_key_in_msg(const uint8_t *key) {
    const char *msg = arm_engine_errmsg(NULL);
    char hex[65];
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", key[i]);
    ARM_CHECK(strstr(msg, hex) == NULL);
    ARM_CHECK(memmem(msg, strlen(msg), key, 8) == NULL);
}

/* --------------------------------------------------------------- cases */
static void test_roundtrip(void) {
    const int ciphers[] = {ARM_CIPHER_AES256GCM, ARM_CIPHER_XCHACHA20};
    const int syncs[] = {ARM_SYNC_OFF, ARM_SYNC_NORMAL, ARM_SYNC_FULL};
    for (int c = 0; c < 2; c++) {
        if (ciphers[c] == ARM_CIPHER_AES256GCM && !arm_crypt_aes_available()) continue;
        for (int si = 0; si < 3; si++) {
            for (int io = 0; io < 2; io++) {
                util_case_fresh(&g_dir, "crypt-rt");
                arm_engine_options o;
                crypt_opts(&o, g_key, ciphers[c]);
                o.sync_mode = syncs[si];
                o.io_backend = io ? ARM_IO_POSIX : ARM_IO_AUTO;
                o.write_buffer_size = 64u << 10;
                util_model m;
                util_model_init(&m);
                arm_engine *e = util_open_ok(g_dir.db, &o);
                fill(e, &m, 0, 5, 0); /* sync off: still in the write buffer */
                util_expect_model(e, &m);
                fill(e, &m, 5, 400, 0);
                fill(e, &m, 0, 100, 1); /* overwrites */
                util_expect_model(e, &m);
                util_close_ok(e);
                ARM_CHECK(!on_disk(g_dir.db, "PLAINTEXTMARK"));
                ARM_CHECK(!on_disk(g_dir.db, "secretkey"));
                e = util_open_ok(g_dir.db, &o);
                util_expect_model(e, &m);
                fill(e, &m, 400, 50, 2); /* appends resume in the tail block */
                util_expect_model(e, &m);
                util_check_clean(e);
                util_close_ok(e);
                o.read_only = 1;
                e = util_open_ok(g_dir.db, &o);
                util_expect_model(e, &m);
                util_close_ok(e);
                util_model_free(&m);
            }
        }
    }
}

static void test_open_errors(void) {
    util_case_fresh(&g_dir, "crypt-open");
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    util_model m;
    util_model_init(&m);
    arm_engine *e = util_open_ok(g_dir.db, &o);
    fill(e, &m, 0, 50, 0);
    util_close_ok(e);
    o.encryption_key = g_key2;
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_AUTH);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "wrong encryption key") != NULL);
    check_no_key_in_msg(g_key2);
    check_no_key_in_msg(g_key);
    o.encryption_key = NULL;
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_AUTH);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "is encrypted") != NULL);
    o.read_only = 1;
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_AUTH);
    o.encryption_key = g_key2;
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_AUTH);
    o.read_only = 0;

    /* key files and variables: raw, hex, hex with a newline; bad ones */
    char kf[700], hex[80];
    snprintf(kf, sizeof kf, "%s/key", g_dir.tmp);
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02X", g_key[i]);
    o.encryption_key = NULL;
    o.key_file = kf;
    FILE *fp = fopen(kf, "wb");
    ARM_CHECK(fp && fwrite(g_key, 1, 32, fp) == 32 && fclose(fp) == 0);
    e = util_open_ok(g_dir.db, &o);
    util_expect_model(e, &m);
    util_close_ok(e);
    fp = fopen(kf, "wb");
    ARM_CHECK(fp && fprintf(fp, "%s\n", hex) == 65 && fclose(fp) == 0);
    e = util_open_ok(g_dir.db, &o);
    util_close_ok(e);
    fp = fopen(kf, "wb");
    ARM_CHECK(fp && fwrite(g_key, 1, 31, fp) == 31 && fclose(fp) == 0);
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_MISUSE);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "holds no key") != NULL);
    check_no_key_in_msg(g_key);
    unlink(kf);
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_IOERR);
    o.key_file = NULL;
    o.key_env = "ARM_TEST_CRYPT_KEY";
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_MISUSE); /* not set */
    setenv("ARM_TEST_CRYPT_KEY", hex, 1);
    e = util_open_ok(g_dir.db, &o);
    util_expect_model(e, &m);
    util_close_ok(e);
    setenv("ARM_TEST_CRYPT_KEY", "00112233", 1);
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_MISUSE);
    o.encryption_key = g_key; /* two sources */
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_MISUSE);
    o.key_env = NULL;

    /* CRYPT damaged, from another database, missing */
    char cp[700], saved[700];
    snprintf(cp, sizeof cp, "%s/%s", g_dir.db, ARM_CRYPT_NAME);
    snprintf(saved, sizeof saved, "%s/crypt.saved", g_dir.tmp);
    ARM_CHECK(util_copy_file(cp, saved) == 0);
    ARM_CHECK(util_flip_bit(cp, 40, 3) == 0);
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_CORRUPT);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "damaged") != NULL);
    ARM_CHECK(util_copy_file(saved, cp) == 0);
    unlink(cp);
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_CORRUPT);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "missing") != NULL);
    ARM_CHECK(util_copy_file(saved, cp) == 0);
    e = util_open_ok(g_dir.db, &o);
    util_expect_model(e, &m);
    util_close_ok(e);

    /* a key for a database that is not encrypted */
    char plain[700];
    snprintf(plain, sizeof plain, "%s/plain", g_dir.tmp);
    arm_engine_options p;
    crypt_opts(&p, NULL, 0);
    e = util_open_ok(plain, &p);
    util_close_ok(e);
    p.encryption_key = g_key;
    ARM_CHECK_RC(open_rc(plain, &p), ARM_AUTH);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "not encrypted") != NULL);
    p.encryption_key = NULL;
    e = util_open_ok(plain, &p);
    util_close_ok(e);
    /* a shared engine checks each user's key source (ext/ shares engines) */
    e = util_open_ok(g_dir.db, &o);
    ARM_CHECK_RC(arm_engine_key_verify(e, &o), ARM_OK);
    o.encryption_key = g_key2;
    ARM_CHECK_RC(arm_engine_key_verify(e, &o), ARM_AUTH);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "wrong encryption key") != NULL);
    o.encryption_key = NULL;
    ARM_CHECK_RC(arm_engine_key_verify(e, &o), ARM_AUTH);
    o.encryption_key = g_key;
    util_close_ok(e);
    e = util_open_ok(plain, &p);
    ARM_CHECK_RC(arm_engine_key_verify(e, &p), ARM_OK);
    ARM_CHECK_RC(arm_engine_key_verify(e, &o), ARM_AUTH);
    util_close_ok(e);
    ARM_CHECK_RC(arm_engine_destroy(g_dir.db), ARM_OK); /* no key needed to remove it */
    char cp2[700];
    snprintf(cp2, sizeof cp2, "%s/%s", g_dir.db, ARM_CRYPT_NAME);
    ARM_CHECK(access(cp2, F_OK) != 0);
    util_model_free(&m);
}

/* Every byte of a sealed one-block file flipped in turn: each open fails
 * with ARM_CORRUPT naming the file; the original opens again after. */
static void test_tamper_sealed(void) {
    util_case_fresh(&g_dir, "crypt-tamper");
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    o.shard_count = 1;
    o.max_value_size = 64000;
    arm_engine *e = util_open_ok(g_dir.db, &o);
    static uint8_t small[3500], big[64000];
    util_fill(small, sizeof small, 1, 2);
    util_put_ok(e, "a", 1, small, sizeof small);
    memset(big, 7, sizeof big);
    /* entries that do not fit seal the file holding "a" */
    for (int i = 0; i < 2; i++) util_put_ok(e, "b", 1, big, sizeof big);
    util_close_ok(e);
    util_logfile logs[16];
    int n = util_list_logs(g_dir.db, logs, 16);
    ARM_CHECK(n >= 2);
    ARM_CHECK(logs[0].size == ARM_IO_BLOCK); /* one physical block */
    size_t len = 0;
    uint8_t *orig = util_read_file(logs[0].path, &len);
    ARM_CHECK(orig != NULL && len == ARM_IO_BLOCK);
    e = util_open_ok(g_dir.db, &o);
    util_expect(e, "a", 1, small, sizeof small);
    util_close_ok(e);
    for (size_t off = 0; off < len; off++) {
        ARM_CHECK(util_flip_bit(logs[0].path, off, (int)(off % 8)) == 0);
        int rc = open_rc(g_dir.db, &o);
        if (rc != ARM_CORRUPT || strstr(arm_engine_errmsg(NULL), logs[0].path) == NULL) {
            fprintf(stderr, "flip at offset %zu: %s \"%s\"\n", off, arm_rc_str(rc),
                    arm_engine_errmsg(NULL));
            ARM_CHECK(0);
        }
        ARM_CHECK(util_flip_bit(logs[0].path, off, (int)(off % 8)) == 0);
        size_t l2 = 0;
        uint8_t *now = util_read_file(logs[0].path, &l2);
        ARM_CHECK(l2 == len && memcmp(now, orig, len) == 0); /* a failed open writes nothing */
        free(now);
    }
    e = util_open_ok(g_dir.db, &o);
    util_expect(e, "a", 1, small, sizeof small);
    util_close_ok(e);
    /* read-only salvage opens past it */
    ARM_CHECK(util_flip_bit(logs[0].path, 100, 1) == 0);
    o.read_only = 1;
    e = util_open_ok(g_dir.db, &o);
    util_expect(e, "b", 1, big, sizeof big);
    util_expect_missing(e, "a", 1);
    util_close_ok(e);
    free(orig);
}

static int g_reported;
/* check's report: the damaged file, the message naming the damaged block */
static void report(void *ctx, const char *path, uint64_t off, const char *msg) {
    (void)off;
    ARM_CHECK(strcmp(path, (const char *)ctx) == 0);
    ARM_CHECK(strstr(msg, "file offset 12288") != NULL);
    g_reported++;
}

/* A newest file: damage in a block with good entries after it is reported
 * at open; the tail block torn (flipped, or cut short) is a torn write, cut,
 * and everything before it stays. */
static void test_tamper_newest(void) {
    util_case_fresh(&g_dir, "crypt-newest");
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    o.shard_count = 1;
    o.max_file_size = 1u << 20;
    util_model m;
    util_model_init(&m);
    arm_engine *e = util_open_ok(g_dir.db, &o);
    char k[32];
    uint8_t v[200];
    for (unsigned i = 0; i < 200; i++) { /* ~50 KiB: a dozen blocks */
        size_t kl = kname(k, i);
        util_fill(v, sizeof v, i, 9);
        util_put_ok(e, k, kl, v, sizeof v);
        util_model_put(&m, k, kl, v, sizeof v);
    }
    util_close_ok(e);
    util_logfile lf;
    ARM_CHECK(util_newest_log(g_dir.db, 0, &lf) == 0);
    ARM_CHECK(lf.size > 8 * ARM_IO_BLOCK && lf.size % ARM_IO_BLOCK == 0);
    uint64_t offs[] = {0, 8, 20, 4095, 3 * 4096 + 17, lf.size - 2 * 4096 + 5};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        ARM_CHECK(util_flip_bit(lf.path, offs[i], 2) == 0);
        ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_CORRUPT);
        ARM_CHECK(strstr(arm_engine_errmsg(NULL), lf.path) != NULL);
        ARM_CHECK(util_flip_bit(lf.path, offs[i], 2) == 0);
    }
    /* read-only opens cannot read past such a block either (no byte of a
     * view is made up), and say where it is */
    ARM_CHECK(util_flip_bit(lf.path, 3 * 4096 + 17, 2) == 0);
    o.read_only = 1;
    ARM_CHECK_RC(open_rc(g_dir.db, &o), ARM_CORRUPT);
    ARM_CHECK(strstr(arm_engine_errmsg(NULL), "file offset 12288") != NULL);
    o.read_only = 0;
    ARM_CHECK(util_flip_bit(lf.path, 3 * 4096 + 17, 2) == 0);
    /* damage that appears while open: check names the file and the block */
    e = util_open_ok(g_dir.db, &o);
    ARM_CHECK(util_flip_bit(lf.path, 3 * 4096 + 17, 2) == 0);
    g_reported = 0;
    uint64_t problems = 0;
    UTIL_CHECK_RC(e, arm_engine_check(e, report, NULL, lf.path, &problems), ARM_OK);
    ARM_CHECK(problems > 0 && g_reported > 0);
    ARM_CHECK(util_flip_bit(lf.path, 3 * 4096 + 17, 2) == 0);
    util_close_ok(e);
    /* the tail block torn: cut like a torn write, the blocks before stay
     * (and a read-only open's check does not call it a problem) */
    ARM_CHECK(util_truncate(lf.path, lf.size - 100) == 0);
    o.read_only = 1;
    e = util_open_ok(g_dir.db, &o);
    problems = 1;
    UTIL_CHECK_RC(e, arm_engine_check(e, NULL, NULL, NULL, &problems), ARM_OK);
    ARM_CHECK(problems == 0);
    util_close_ok(e);
    o.read_only = 0;
    e = util_open_ok(g_dir.db, &o);
    uint64_t tail0 = (lf.size / ARM_IO_BLOCK - 1) * ARM_CRYPT_BLOCK;
    size_t kept = 0;
    for (size_t i = 0; i < m.n; i++) {
        arm_buf b = {0};
        int rc = arm_engine_get(e, arm_slice_make(m.items[i].key, m.items[i].klen), &b);
        ARM_CHECK(rc == ARM_OK || rc == ARM_NOTFOUND);
        if (rc == ARM_OK) {
            ARM_CHECK(b.len == m.items[i].vlen && memcmp(b.ptr, m.items[i].val, b.len) == 0);
            kept++;
        }
        arm_buf_free(&b);
    }
    /* every entry that ended before the torn block is there */
    ARM_CHECK(kept * (UTIL_ENTRY_HDR + 15 + sizeof v) >= tail0 - UTIL_FILE_HDR - 300);
    ARM_CHECK(kept < m.n);
    util_put_ok(e, "after", 5, "x", 1);
    util_close_ok(e);
    e = util_open_ok(g_dir.db, &o);
    util_expect(e, "after", 5, "x", 1);
    util_close_ok(e);
    util_model_free(&m);
}

/* Hints of an encrypted database are sealed like its data files: no key in
 * the clear, open from them, a damaged one is no hint (the file is read and
 * a good hint written again), a data file's block never passes for a hint's. */
static void test_hints(void) {
    util_case_fresh(&g_dir, "crypt-hints");
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    util_model m;
    util_model_init(&m);
    arm_engine *e = util_open_ok(g_dir.db, &o);
    fill(e, &m, 0, 600, 0);
    util_close_ok(e); /* writes the hints still queued */
    util_logfile logs[256];
    int n = util_list_logs(g_dir.db, logs, 256);
    ARM_CHECK(n >= 4);
    int hinted = 0;
    char hp[600];
    for (int i = 0; i < n; i++) {
        util_hint_path(hp, sizeof hp, logs[i].path);
        size_t len = 0;
        uint8_t *p = util_read_file(hp, &len);
        if (p == NULL) continue;
        hinted++;
        ARM_CHECK(len % ARM_IO_BLOCK == 0);
        ARM_CHECK(memmem(p, len, "secretkey", 9) == NULL);
        ARM_CHECK(memmem(p, len, "ARMHINT", 7) == NULL);
        free(p);
    }
    ARM_CHECK(hinted >= n - 2); /* every sealed file (one per shard is active) */
    e = util_open_ok(g_dir.db, &o);
    arm_engine_stats st;
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.open_hinted == (uint64_t)hinted);
    util_expect_model(e, &m);
    util_close_ok(e);
    /* a flipped byte, or a data file's block put in a hint's place */
    util_hint_path(hp, sizeof hp, logs[0].path);
    ARM_CHECK(util_flip_bit(hp, 100, 3) == 0);
    e = util_open_ok(g_dir.db, &o);
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.open_hinted == (uint64_t)hinted - 1 && st.open_scanned >= 1);
    util_expect_model(e, &m);
    util_close_ok(e);
    e = util_open_ok(g_dir.db, &o);
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.open_hinted == (uint64_t)hinted); /* written again */
    util_close_ok(e);
    ARM_CHECK(util_copy_file(logs[0].path, hp) == 0);
    e = util_open_ok(g_dir.db, &o);
    arm_engine_stats_get(e, &st);
    ARM_CHECK(st.open_hinted == (uint64_t)hinted - 1);
    util_expect_model(e, &m);
    util_close_ok(e);
    util_model_free(&m);
}

/* Replication's log reader over an encrypted engine: entries still in the
 * write buffer (sync off, nothing flushed) and entries in sealed files read
 * back as written, and a reader from a position resumes there. */
static void test_logread(void) {
    util_case_fresh(&g_dir, "crypt-logread");
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    o.sync_mode = ARM_SYNC_OFF;
    o.write_buffer_size = 1u << 20; /* nothing leaves the buffer but at rotation */
    util_model m, got;
    util_model_init(&m);
    util_model_init(&got);
    arm_engine *e = util_open_ok(g_dir.db, &o);
    fill(e, &m, 0, 20, 0); /* in the write buffer only */
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(e, arm_log_reader_open(e, NULL, &r), ARM_OK);
    arm_log_txn t;
    int rc;
    size_t n = 0;
    while ((rc = arm_log_reader_next(r, &t)) == ARM_OK) {
        for (size_t i = 0; i < t.nops; i++)
            util_model_put(&got, t.ops[i].key.ptr, t.ops[i].key.len, t.ops[i].value.ptr,
                           t.ops[i].value.len);
        n++;
    }
    UTIL_CHECK_RC(e, rc, ARM_NOTFOUND);
    ARM_CHECK(n == 20 && got.n == m.n);
    fill(e, &m, 20, 500, 0); /* rotations: sealed, encrypted files */
    while ((rc = arm_log_reader_next(r, &t)) == ARM_OK)
        for (size_t i = 0; i < t.nops; i++)
            util_model_put(&got, t.ops[i].key.ptr, t.ops[i].key.len, t.ops[i].value.ptr,
                           t.ops[i].value.len);
    UTIL_CHECK_RC(e, rc, ARM_NOTFOUND);
    ARM_CHECK(got.n == m.n);
    for (size_t i = 0; i < m.n; i++) {
        const util_kv *kv = util_model_get(&got, m.items[i].key, m.items[i].klen);
        ARM_CHECK(kv != NULL && kv->vlen == m.items[i].vlen &&
                  memcmp(kv->val, m.items[i].val, kv->vlen) == 0);
    }
    arm_log_reader_close(r);
    util_close_ok(e);
    util_model_free(&m);
    util_model_free(&got);
}

/* Writers and readers at once on an encrypted engine (run under TSan too):
 * each writer owns its keys and rewrites them; readers get and scan, and
 * every value they see is one its writer wrote for that key. */
typedef struct thr_arg {
    arm_engine *e;
    int id, writer;
    _Atomic int *stop;
    int failed;
} thr_arg;

static void *thr_main(void *p) {
    thr_arg *a = p;
    char k[32];
    uint8_t v[400];
    arm_buf b = {0};
    for (unsigned round = 0; a->writer ? round < 40 : !atomic_load(a->stop); round++) {
        for (unsigned i = 0; i < 50 && !a->failed; i++) {
            unsigned key = (unsigned)a->id * 1000 + i;
            size_t kl = (size_t)sprintf(k, "t%05u", key % 2000);
            if (a->writer) {
                size_t vl = 8 + (key * 13 + round) % 300;
                memset(v, (int)('a' + round % 26), vl);
                memcpy(v, &key, sizeof key);
                if (arm_engine_put(a->e, arm_slice_make(k, kl), arm_slice_make(v, vl)) != ARM_OK)
                    a->failed = 1;
                continue;
            }
            int rc = arm_engine_get(a->e, arm_slice_make(k, kl), &b);
            if (rc == ARM_OK) {
                unsigned got;
                memcpy(&got, b.ptr, sizeof got);
                if (b.len < 8 || got % 2000 != key % 2000 || b.ptr[b.len - 1] != b.ptr[4])
                    a->failed = 1;
            } else if (rc != ARM_NOTFOUND) {
                a->failed = 1;
            }
        }
        if (!a->writer && round % 8 == 0) { /* a scan now and then */
            arm_cursor *c = NULL;
            if (arm_engine_cursor_open(a->e, NULL, &c) != ARM_OK) a->failed = 1;
            for (int rc = c ? arm_engine_cursor_first(c) : ARM_NOTFOUND; rc == ARM_OK;
                 rc = arm_engine_cursor_next(c)) {
                arm_slice val;
                if (arm_engine_cursor_value(c, &val) != ARM_OK || val.len < 8) a->failed = 1;
            }
            arm_engine_cursor_close(c);
        }
    }
    arm_buf_free(&b);
    return NULL;
}

/* A reader of the entry just written, while the writer keeps rewriting the
 * tail block it sits in (sync=normal: every commit reaches the file): a read
 * must never see the block half rewritten. */
typedef struct tail_arg {
    arm_engine *e;
    _Atomic unsigned last; /* highest key written, +1 */
    _Atomic int stop;
    int failed;
    char msg[300];
} tail_arg;

static void *tail_reader(void *p) {
    tail_arg *a = p;
    arm_buf b = {0};
    char k[32];
    while (!atomic_load(&a->stop) && !a->failed) {
        unsigned n = atomic_load(&a->last);
        if (n == 0) continue;
        size_t kl = (size_t)sprintf(k, "tail%06u", n - 1);
        int rc = arm_engine_get(a->e, arm_slice_make(k, kl), &b);
        if (rc != ARM_OK || b.len != 40) {
            snprintf(a->msg, sizeof a->msg, "get %s: %s: %s", k, arm_rc_str(rc),
                     arm_engine_errmsg(a->e));
            a->failed = 1;
        }
    }
    arm_buf_free(&b);
    return NULL;
}

static void test_tail_race(void) {
    util_case_fresh(&g_dir, "crypt-tail");
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    o.shard_count = 1;
    o.max_file_size = 4u << 20;
    o.sync_mode = ARM_SYNC_NORMAL;
    o.mmap_reads = 0;
    arm_engine *e = util_open_ok(g_dir.db, &o);
    tail_arg a;
    memset(&a, 0, sizeof a);
    a.e = e;
    pthread_t th[2];
    for (int i = 0; i < 2; i++) ARM_CHECK(pthread_create(&th[i], NULL, tail_reader, &a) == 0);
    char k[32], v[40];
    memset(v, 'v', sizeof v);
    for (unsigned i = 0; i < 20000 * (unsigned)util_scale() && !a.failed; i++) {
        size_t kl = (size_t)sprintf(k, "tail%06u", i);
        util_put_ok(e, k, kl, v, sizeof v);
        atomic_store(&a.last, i + 1);
    }
    atomic_store(&a.stop, 1);
    for (int i = 0; i < 2; i++) ARM_CHECK(pthread_join(th[i], NULL) == 0);
    if (a.failed) fprintf(stderr, "%s\n", a.msg);
    ARM_CHECK(!a.failed);
    util_close_ok(e);
}

static void test_threads(void) {
    util_case_fresh(&g_dir, "crypt-threads");
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    o.sync_mode = ARM_SYNC_NORMAL;
    arm_engine *e = util_open_ok(g_dir.db, &o);
    _Atomic int stop = 0;
    thr_arg a[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (thr_arg){.e = e, .id = i % 2, .writer = i < 2, .stop = &stop};
        ARM_CHECK(pthread_create(&th[i], NULL, thr_main, &a[i]) == 0);
    }
    for (int i = 0; i < 2; i++) ARM_CHECK(pthread_join(th[i], NULL) == 0);
    atomic_store(&stop, 1);
    for (int i = 2; i < 4; i++) ARM_CHECK(pthread_join(th[i], NULL) == 0);
    for (int i = 0; i < 4; i++) ARM_CHECK(!a[i].failed);
    util_check_clean(e);
    util_close_ok(e);
    e = util_open_ok(g_dir.db, &o);
    ARM_CHECK(arm_engine_count(e) == 100);
    util_close_ok(e);
}

/* Kill -9 mid-workload (sync=normal: every acknowledged put is in the file,
 * which outlives the process):
 * a child writes and reports each acknowledged key down a pipe; after the
 * kill every one of them reads back from the encrypted files, for several
 * rounds on one directory (appends resume after whatever the kill left). */
static void test_kill(void) {
    util_case_fresh(&g_dir, "crypt-kill");
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    o.sync_mode = ARM_SYNC_NORMAL;
    util_rng r;
    util_rng_seed(&r, harness_seed);
    unsigned base = 0, inflight[8];
    int ninflight = 0;
    for (int round = 0; round < 4; round++) {
        int fds[2];
        ARM_CHECK(pipe(fds) == 0);
        pid_t pid = fork();
        ARM_CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            arm_engine *e = NULL;
            if (arm_engine_open(g_dir.db, &o, &e) != ARM_OK) _exit(2);
            char k[32];
            uint8_t v[600];
            for (unsigned i = base;; i++) {
                size_t kl = (size_t)sprintf(k, "kill%07u", i), vl = 20 + i % 500;
                util_fill(v, vl, i, 3);
                if (arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, vl)) != ARM_OK)
                    _exit(3);
                if (write(fds[1], &i, sizeof i) != (ssize_t)sizeof i) _exit(4);
            }
        }
        close(fds[1]);
        usleep((useconds_t)(50000 + util_rng_below(&r, 350000)));
        ARM_CHECK(kill(pid, SIGKILL) == 0);
        int st = 0;
        ARM_CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st));
        unsigned last = base, x;
        int any = 0;
        while (read(fds[0], &x, sizeof x) == (ssize_t)sizeof x) last = x, any = 1;
        close(fds[0]);
        arm_engine *e = util_open_ok(g_dir.db, &o);
        char k[32];
        uint8_t v[600];
        for (unsigned i = 0; any && i <= last; i++) {
            int skip = 0;
            for (int j = 0; j < ninflight; j++) skip |= inflight[j] == i;
            if (skip) continue; /* a put that was in flight at a kill */
            size_t kl = (size_t)sprintf(k, "kill%07u", i), vl = 20 + i % 500;
            util_fill(v, vl, i, 3);
            util_expect(e, k, kl, v, vl);
        }
        util_check_clean(e);
        util_close_ok(e);
        if (getenv("ARM_TEST_VERBOSE")) fprintf(stderr, "round %d: keys %u..%u acknowledged\n", round, base, last);
        if (any) inflight[ninflight++] = last + 1; /* may or may not be there */
        base = any ? last + 2 : base;
    }
}

/* ------------------------------------------------------------- nonces */
static uint64_t *g_nonces;
static size_t g_nn, g_ncap;
static int g_nonce_fd = -1; /* a forked child writes its nonces here */

static uint64_t g_fb[1u << 16]; /* (fid, block) of each seal in this process */
static size_t g_nfb;

static pthread_mutex_t g_nonce_mu = PTHREAD_MUTEX_INITIALIZER;

/* Called from every thread that seals (writers, the hint thread). */
static void nonce_hook_locked(uint32_t kind, uint32_t fid, uint64_t block, uint64_t nonce);
static void nonce_hook(uint32_t kind, uint32_t fid, uint64_t block, uint64_t nonce) {
    pthread_mutex_lock(&g_nonce_mu);
    nonce_hook_locked(kind, fid, block, nonce);
    pthread_mutex_unlock(&g_nonce_mu);
}

static void nonce_hook_locked(uint32_t kind, uint32_t fid, uint64_t block, uint64_t nonce) {
    (void)kind;
    if (g_nfb < sizeof g_fb / sizeof g_fb[0]) g_fb[g_nfb++] = (uint64_t)fid << 40 | block;
    if (g_nonce_fd >= 0) {
        ARM_CHECK(write(g_nonce_fd, &nonce, sizeof nonce) == (ssize_t)sizeof nonce);
        return;
    }
    if (g_nn == g_ncap) {
        g_ncap = g_ncap ? 2 * g_ncap : 4096;
        g_nonces = realloc(g_nonces, g_ncap * sizeof(*g_nonces));
        ARM_CHECK(g_nonces != NULL);
    }
    g_nonces[g_nn++] = nonce;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_nonces(void) {
    util_case_fresh(&g_dir, "crypt-nonce");
    g_nn = 0;
    arm_crypt_set_nonce_hook(nonce_hook);
    char npath[700];
    snprintf(npath, sizeof npath, "%s/child-nonces", g_dir.tmp);
    arm_engine_options o;
    crypt_opts(&o, g_key, ARM_CIPHER_AUTO);
    o.sync_mode = ARM_SYNC_FULL; /* every commit rewrites the tail block */
    util_model m;
    util_model_init(&m);
    unsigned next = 0;
    for (int cycle = 0; cycle < 6; cycle++) {
        if (cycle % 2 == 1) {
            /* an open that never closes (a crash): its nonces come back
             * through a file, and the next open must not reuse any */
            g_nonce_fd = open(npath, O_WRONLY | O_CREAT | O_APPEND, 0644);
            ARM_CHECK(g_nonce_fd >= 0);
            pid_t pid = fork();
            ARM_CHECK(pid >= 0);
            if (pid == 0) {
                arm_engine *e = NULL;
                if (arm_engine_open(g_dir.db, &o, &e) != ARM_OK) _exit(2);
                char k[32];
                for (unsigned i = 0; i < 100; i++) {
                    size_t kl = kname(k, 100000 + i);
                    if (arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make("v", 1)) != ARM_OK)
                        _exit(3);
                }
                _exit(0);
            }
            int st = 0;
            ARM_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
            close(g_nonce_fd);
            g_nonce_fd = -1;
            for (unsigned i = 0; i < 100; i++) {
                char k[32];
                size_t kl = kname(k, 100000 + i);
                util_model_put(&m, k, kl, "v", 1);
            }
            continue;
        }
        arm_engine *e = util_open_ok(g_dir.db, &o);
        util_expect_model(e, &m);
        fill(e, &m, next, 300, (unsigned)cycle); /* rotations too: files are 64 KiB */
        next += 300;
        util_close_ok(e);
    }
    arm_crypt_set_nonce_hook(NULL);
    /* most seals rewrite a block sealed before (the tail block as it grows) */
    qsort(g_fb, g_nfb, sizeof(g_fb[0]), cmp_u64);
    size_t rewrites = 0;
    for (size_t i = 1; i < g_nfb; i++) rewrites += g_fb[i] == g_fb[i - 1];
    ARM_CHECK(rewrites > 500);
    size_t cn = 0;
    uint8_t *child = util_read_file(npath, &cn);
    ARM_CHECK(child != NULL && cn % 8 == 0 && cn >= 8 * 100 * 3);
    for (size_t i = 0; i < cn; i += 8) {
        uint64_t x;
        memcpy(&x, child + i, 8);
        nonce_hook(0, 0, 0, x);
    }
    free(child);
    ARM_CHECK(g_nn > 3 * 300 + 3 * 100); /* at least one block sealed per commit */
    qsort(g_nonces, g_nn, sizeof(*g_nonces), cmp_u64);
    for (size_t i = 1; i < g_nn; i++) ARM_CHECK(g_nonces[i] != g_nonces[i - 1]);
    /* every block on disk carries a nonce that was handed out, and none twice */
    util_logfile logs[256];
    int nl = util_list_logs(g_dir.db, logs, 256);
    ARM_CHECK(nl >= 2);
    size_t seen = 0;
    uint64_t *disk = NULL;
    for (int i = 0; i < nl; i++) {
        size_t len = 0;
        uint8_t *p = util_read_file(logs[i].path, &len);
        ARM_CHECK(p != NULL && len % ARM_IO_BLOCK == 0);
        disk = realloc(disk, (seen + len / ARM_IO_BLOCK) * sizeof(*disk));
        ARM_CHECK(disk != NULL);
        for (size_t b = 0; b < len / ARM_IO_BLOCK; b++) {
            uint64_t x = 0;
            for (int j = 7; j >= 0; j--) x = x << 8 | p[b * ARM_IO_BLOCK + (size_t)j];
            ARM_CHECK(bsearch(&x, g_nonces, g_nn, sizeof(*g_nonces), cmp_u64) != NULL);
            disk[seen++] = x;
        }
        free(p);
    }
    qsort(disk, seen, sizeof(*disk), cmp_u64);
    for (size_t i = 1; i < seen; i++) ARM_CHECK(disk[i] != disk[i - 1]);
    free(disk);
    arm_engine *e = util_open_ok(g_dir.db, &o);
    util_expect_model(e, &m);
    util_close_ok(e);
    util_model_free(&m);
    free(g_nonces);
    g_nonces = NULL;
    g_nn = g_ncap = 0;
}

int main(void) {
    harness_init();
    for (int i = 0; i < 32; i++) {
        g_key[i] = (uint8_t)harness_rand();
        g_key2[i] = (uint8_t)(g_key[i] ^ (i == 5 ? 0x10 : 0));
    }
    util_rmrf_at_exit(g_dir.tmp);
    UTIL_CASE("roundtrip", test_roundtrip());
    UTIL_CASE("open_errors", test_open_errors());
    UTIL_CASE("tamper_sealed", test_tamper_sealed());
    UTIL_CASE("tamper_newest", test_tamper_newest());
    UTIL_CASE("hints", test_hints());
    UTIL_CASE("logread", test_logread());
    UTIL_CASE("threads", test_threads());
    UTIL_CASE("tail_race", test_tail_race());
    UTIL_CASE("kill", test_kill());
    UTIL_CASE("nonces", test_nonces());
    return harness_done();
}
