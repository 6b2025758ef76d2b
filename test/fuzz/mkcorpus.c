/* SPDX-License-Identifier: MIT */
/*
 * mkcorpus.c: writes the seed corpora of the fuzz targets:
 *   mkcorpus DIR  ->  DIR/fuzz_log/, DIR/fuzz_meta/, DIR/fuzz_recover/, DIR/fuzz_hint/
 * Small hand-made inputs: valid files with a few entries and a batch, torn
 * tails, bit flips, zero padding, open batches; valid and invalid metadata;
 * fuzz_recover programs (fuzz_frame.h) for one to four shards; hint files
 * for the data files of the fuzz_log corpus, whole, cut, flipped and lying,
 * and with the records that carry values (TXNINFO, DECISION, REPL_POS).
 * `make fuzz-corpus` rebuilds test/fuzz/corpus with it; the result is
 * committed. Built without sanitizers; links common/arm_hash.c only.
 */
#include "fuzz_util.h"
#include "fuzz_frame.h"

#include <errno.h>
#include <sys/stat.h>

static const char *mk_root;

typedef struct mk_buf {
    uint8_t p[1 << 17];
    size_t len;
} mk_buf;

static void mk_write(const char *target, const char *name, const void *p, size_t n) {
    /* fuzz_recover_crypt reads the same programs (over encrypted files) */
    if (strcmp(target, "fuzz_recover") == 0) mk_write("fuzz_recover_crypt", name, p, n);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", mk_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", mk_root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void mk_add(mk_buf *b, const void *p, size_t n) {
    if (b->len + n > sizeof(b->p)) abort();
    memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void mk_u8(mk_buf *b, uint8_t v) {
    mk_add(b, &v, 1);
}
static void mk_u16(mk_buf *b, uint16_t v) {
    uint8_t t[2];
    fz_put16(t, v);
    mk_add(b, t, 2);
}
static void mk_u64(mk_buf *b, uint64_t v) {
    uint8_t t[8];
    fz_put64(t, v);
    mk_add(b, t, 8);
}

/* ------------------------------------------------------------ fuzz_log */
static void mk_file_hdr(mk_buf *b, uint32_t shard, uint32_t fid, uint64_t base_seq) {
    uint8_t h[64];
    memset(h, 0, sizeof(h));
    memcpy(h, "ARMLOG\0\1", 8);
    fz_put32(h + 8, 1);
    fz_put32(h + 12, shard);
    fz_put32(h + 16, fid);
    memcpy(h + 24, fr_db_id, 16);
    fz_put64(h + 40, base_seq);
    fz_block_seal(h);
    mk_add(b, h, sizeof(h));
}

static void mk_entry(mk_buf *b, uint8_t type, uint8_t flags, uint64_t seq, const char *key,
                     const char *val, size_t vlen) {
    size_t klen = strlen(key), len = 20 + klen + vlen;
    uint8_t *p = b->p + b->len;
    if (b->len + len > sizeof(b->p)) abort();
    fz_entry_hdr(p, type, flags, (uint16_t)klen, (uint32_t)vlen, seq);
    memcpy(p + 20, key, klen);
    for (size_t i = 0; i < vlen; i++) p[20 + klen + i] = val ? (uint8_t)val[i % strlen(val)] : 0;
    fz_entry_seal(p, len);
    b->len += len;
}

/* An entry whose key may hold zero bytes. */
static void mk_entry_raw(mk_buf *b, uint8_t type, uint8_t flags, uint64_t seq, const uint8_t *key,
                         size_t klen, const uint8_t *val, size_t vlen) {
    size_t len = 20 + klen + vlen;
    uint8_t *p = b->p + b->len;
    if (b->len + len > sizeof(b->p)) abort();
    fz_entry_hdr(p, type, flags, (uint16_t)klen, (uint32_t)vlen, seq);
    memcpy(p + 20, key, klen);
    memcpy(p + 20 + klen, val, vlen);
    fz_entry_seal(p, len);
    b->len += len;
}

/* The kinds two-phase commit and replication add (ARCHITECTURE.md): a
 * batch opened by TXNINFO, its COMMIT record, a REPL_POS standing alone. */
static void mk_log_decided(mk_buf *b) {
    b->len = 0;
    mk_file_hdr(b, 0, 1, 0);
    mk_entry(b, 1, 0, 9, "apple", "red", 3);
    const uint8_t zero = 0, owner[16] = "owner-of-the-tx";
    mk_entry_raw(b, 3, 1, 10, &zero, 1, owner, 16);  /* TXNINFO: opens the batch */
    mk_entry(b, 1, 1, 10, "fig", "green", 5);        /* TXN */
    mk_entry(b, 2, 3, 10, "apple", NULL, 0);         /* TXN | TXN_END */
    uint8_t dk[8], outcome = 1;                      /* COMMIT of batch 10 */
    fz_put64(dk, 10);
    mk_entry_raw(b, 4, 0, 11, dk, 8, &outcome, 1);
    uint8_t pk[2] = {0, 0}, pv[48];                  /* leader shard 0's position */
    memset(pv, 0, sizeof(pv));
    memcpy(pv, "leader-database!", 16);
    fz_put64(pv + 16, 5);
    fz_put64(pv + 24, 64 + 40);
    fz_put32(pv + 32, 3);
    fz_put32(pv + 36, 40);
    mk_entry_raw(b, 5, 0, 12, pk, 2, pv, 48);
}

static void mk_log_valid(mk_buf *b) {
    b->len = 0;
    mk_file_hdr(b, 0, 1, 0);
    mk_entry(b, 1, 0, 1, "apple", "red", 3);
    mk_entry(b, 1, 0, 2, "banana", "yellow", 6);
    mk_entry(b, 2, 0, 3, "apple", NULL, 0);
    mk_entry(b, 1, 1, 4, "cherry", "dark", 4);      /* batch: TXN */
    mk_entry(b, 1, 1, 4, "date", "brown", 5);       /* TXN */
    mk_entry(b, 2, 3, 4, "banana", NULL, 0);        /* TXN | TXN_END */
    mk_entry(b, 1, 0, 5, "elder", "flower-", 300);  /* a longer value */
}

static void mk_log(void) {
    static mk_buf b;
    mk_log_valid(&b);
    mk_write("fuzz_log", "valid", b.p, b.len);
    static mk_buf d;
    mk_log_decided(&d);
    mk_write("fuzz_log", "decided", d.p, d.len);
    mk_write("fuzz_log", "torn_tail", b.p, b.len - 5);
    mk_write("fuzz_log", "torn_header", b.p, 64 + 12);
    mk_write("fuzz_log", "header_only", b.p, 64);
    mk_write("fuzz_log", "short", b.p, 10);
    size_t n = b.len;
    b.p[64 + 28 + 20 + 6 + 2] ^= 0x10; /* value byte of the second entry */
    mk_write("fuzz_log", "bit_flip", b.p, n);

    mk_log_valid(&b);
    b.p[50] = 1; /* reserved header byte, checksum still good */
    fz_block_seal(b.p);
    mk_write("fuzz_log", "reserved_set", b.p, b.len);

    mk_log_valid(&b);
    memset(b.p + b.len, 0, 4096 - b.len);
    b.len = 4096;
    mk_write("fuzz_log", "zero_padded", b.p, b.len);

    b.len = 0;
    mk_file_hdr(&b, 2, 7, 100);
    mk_entry(&b, 1, 0, 101, "k1", "v1", 2);
    mk_entry(&b, 1, 1, 102, "k2", "v2", 2);
    mk_entry(&b, 1, 1, 102, "k3", "v3", 2); /* batch never ends */
    mk_write("fuzz_log", "open_batch", b.p, b.len);
    mk_entry(&b, 1, 3, 103, "k4", "v4", 2); /* another batch's end: interleaved */
    mk_write("fuzz_log", "interleaved_batch", b.p, b.len);

    b.len = 0;
    mk_file_hdr(&b, 0, 3, 0);
    mk_entry(&b, 1, 1, 9, "x", "1", 1);
    mk_entry(&b, 1, 0, 10, "y", "2", 1); /* plain entry cuts the batch */
    mk_write("fuzz_log", "cut_batch", b.p, b.len);
}

/* ------------------------------------------------------------ fuzz_hint */
/* The hint of data file log[0..n) (as the engine would write it), into b. */
static void mk_hint_of(mk_buf *b, const uint8_t *log, size_t n) {
    uint8_t h[64];
    memset(h, 0, sizeof(h));
    memcpy(h, "ARMHINT\1", 8);
    fz_put32(h + 8, 1);
    memcpy(h + 12, log + 12, 8);  /* shard, fid */
    memcpy(h + 20, log + 20, 20); /* flags, db_id */
    fz_put64(h + 40, n);
    b->len = 0;
    mk_add(b, h, sizeof(h));
    uint64_t count = 0;
    for (size_t off = 64; off + 20 <= n; count++) {
        const uint8_t *e = log + off;
        uint16_t klen = fz_get16(e + 6);
        uint8_t r[20];
        r[0] = e[4];
        r[1] = e[5];
        fz_put16(r + 2, klen);
        fz_put32(r + 4, (uint32_t)off);
        memcpy(r + 8, e + 8, 12); /* vlen, seq */
        mk_add(b, r, sizeof(r));
        /* the key, and the value too for a TXNINFO, DECISION or REPL_POS */
        mk_add(b, e + 20, klen + (e[4] == 1 || e[4] == 2 ? 0 : fz_get32(e + 8)));
        off += 20 + (size_t)klen + fz_get32(e + 8);
    }
    mk_add(b, "ARMHEND\1", 8);
    mk_u64(b, count);
    mk_u64(b, 0);
    fz_hint_seal(b->p, b->len);
}

static void mk_hint(void) {
    static mk_buf log, b;
    mk_log_valid(&log);
    mk_hint_of(&b, log.p, log.len);
    mk_write("fuzz_hint", "valid", b.p, b.len);
    mk_write("fuzz_hint", "cut_footer", b.p, b.len - 3);
    mk_write("fuzz_hint", "header_only", b.p, 64);
    size_t n = b.len;
    b.p[64 + 20 + 2] ^= 0x04; /* a key byte: the checksum says so */
    mk_write("fuzz_hint", "bit_flip", b.p, n);
    mk_hint_of(&b, log.p, log.len);
    b.p[64 + 8] ^= 1; /* a vlen: records no longer tile the file */
    fz_hint_seal(b.p, b.len);
    mk_write("fuzz_hint", "untiled", b.p, b.len);
    mk_hint_of(&b, log.p, log.len);
    b.p[b.len - 16] += 1; /* the count */
    fz_hint_seal(b.p, b.len);
    mk_write("fuzz_hint", "bad_count", b.p, b.len);
    mk_hint_of(&b, log.p, log.len);
    b.p[64 + 1] = 2; /* TXN_END without TXN */
    fz_hint_seal(b.p, b.len);
    mk_write("fuzz_hint", "bad_flags", b.p, b.len);
    /* a data file with nothing but its header: no records */
    log.len = 64;
    mk_hint_of(&b, log.p, log.len);
    mk_write("fuzz_hint", "no_records", b.p, b.len);
    /* an open batch and a long value */
    log.len = 0;
    mk_file_hdr(&log, 2, 7, 100);
    mk_entry(&log, 1, 1, 102, "k2", "v2", 2);
    mk_entry(&log, 1, 1, 102, "k3", "v3", 2);
    mk_entry(&log, 1, 0, 103, "long", "abc", 5000);
    mk_hint_of(&b, log.p, log.len);
    mk_write("fuzz_hint", "open_batch", b.p, b.len);
    /* records that carry their values */
    mk_log_decided(&log);
    mk_hint_of(&b, log.p, log.len);
    mk_write("fuzz_hint", "decided", b.p, b.len);
    b.p[b.len - 24 - 48 - 2 - 20 + 8] ^= 1; /* the REPL_POS record's vlen: the value no longer fits */
    fz_hint_seal(b.p, b.len);
    mk_write("fuzz_hint", "decided_vlen", b.p, b.len);
}

/* ------------------------------------------------------------ fuzz_meta */
static void mk_meta_one(const char *name, uint32_t shards, uint32_t prefix_bits, int seal,
                        int reserved, size_t len) {
    uint8_t m[80];
    memset(m, 0, sizeof(m));
    memcpy(m, "ARMDBMTA", 8);
    fz_put32(m + 8, 1);
    fz_put32(m + 12, shards);
    memcpy(m + 16, fr_db_id, 16);
    fz_put32(m + 36, prefix_bits);
    fz_put64(m + 40, 1700000000000ull);
    if (reserved) m[50] = 1;
    if (seal) fz_block_seal(m);
    mk_write("fuzz_meta", name, m, len);
}

static void mk_meta(void) {
    mk_meta_one("valid_1", 1, 0, 1, 0, 64);
    mk_meta_one("valid_4_prefix", 4, 16, 1, 0, 64);
    mk_meta_one("valid_1024", 1024, 0, 1, 0, 64);
    mk_meta_one("shards_0", 0, 0, 1, 0, 64);
    mk_meta_one("shards_1025", 1025, 0, 1, 0, 64);
    mk_meta_one("bad_checksum", 2, 0, 0, 0, 64);
    mk_meta_one("short_63", 2, 0, 1, 0, 63);
    mk_meta_one("long_80", 2, 0, 1, 0, 80);
    mk_meta_one("reserved_set", 2, 0, 1, 1, 64);
}

/* --------------------------------------------------------- fuzz_recover */
static void fr_file_op(mk_buf *b, uint8_t shard, uint8_t fid, uint8_t base_seq) {
    mk_u8(b, FR_TAG(FR_FILE, 0));
    mk_u8(b, shard);
    mk_u8(b, fid);
    mk_u8(b, base_seq);
}

/* FR_ENTRY with a u8 seq and u8 vlen. */
static void fr_put_op(mk_buf *b, const char *key, uint8_t seq, uint8_t vlen, int del) {
    size_t klen = strlen(key);
    mk_u8(b, FR_TAG(FR_ENTRY, klen - 1));
    mk_u8(b, del ? FR_E_DEL : 0);
    mk_u8(b, seq);
    mk_u8(b, vlen);
    mk_add(b, key, klen);
    mk_u8(b, (uint8_t)(seq * 3));
}

/* FR_BATCH of puts, u8 seq. */
static void fr_batch_op(mk_buf *b, const char *const *keys, int n, uint8_t seq, int no_end) {
    mk_u8(b, FR_TAG(FR_BATCH, (n - 1) | (no_end ? 16 : 0)));
    mk_u8(b, seq);
    for (int i = 0; i < n; i++) {
        size_t klen = strlen(keys[i]);
        mk_u8(b, (uint8_t)((klen - 1) << 1));
        mk_add(b, keys[i], klen);
        mk_u8(b, (uint8_t)(10 + i));
    }
}

static void mk_recover(void) {
    static mk_buf b;
    static const char *const batch3[] = {"bk1", "bk2", "bk3"};
    static const char *const batch2[] = {"zz", "aa"};

    b.len = 0;
    mk_u8(&b, 0);
    mk_write("fuzz_recover", "empty_db", b.p, b.len);

    b.len = 0;
    mk_u8(&b, 0); /* one shard */
    fr_file_op(&b, 0, 1, 0);
    fr_put_op(&b, "alpha", 1, 5, 0);
    fr_put_op(&b, "beta", 2, 9, 0);
    fr_put_op(&b, "alpha", 3, 0, 1);
    fr_batch_op(&b, batch3, 3, 4, 0);
    fr_put_op(&b, "gamma", 5, 200, 0);
    mk_write("fuzz_recover", "one_shard", b.p, b.len);
    size_t one = b.len;

    mk_u8(&b, FR_TAG(FR_TRUNC, 0));
    mk_u16(&b, 7);
    mk_write("fuzz_recover", "one_shard_torn", b.p, b.len);

    b.len = one;
    mk_u8(&b, FR_TAG(FR_PAD, 7));
    mk_u8(&b, 100);
    mk_write("fuzz_recover", "one_shard_padded", b.p, b.len);

    b.len = one;
    fr_batch_op(&b, batch2, 2, 6, 1);
    mk_write("fuzz_recover", "one_shard_open_batch", b.p, b.len);

    b.len = 0;
    mk_u8(&b, 1 | FR_CFG_HASH | FR_CFG_CACHE); /* two shards, hash index */
    fr_file_op(&b, 0, 1, 0);
    fr_put_op(&b, "k-a", 1, 8, 0);
    fr_put_op(&b, "k-b", 2, 8, 0);
    fr_batch_op(&b, batch3, 3, 3, 0); /* keys of either shard, in shard 0's file */
    fr_file_op(&b, 1, 2, 0);
    fr_put_op(&b, "k-c", 4, 8, 0);
    fr_put_op(&b, "k-a", 5, 8, 1);
    fr_file_op(&b, 0, 3, 5);
    fr_put_op(&b, "k-d", 6, 16, 0);
    fr_put_op(&b, "k-b", 7, 16, 0);
    mk_write("fuzz_recover", "two_shards", b.p, b.len);
    size_t two = b.len;

    /* a bit flip in an older file: read-write refuses, read-only salvages */
    mk_u8(&b, FR_TAG(FR_FILE, 0));
    mk_u8(&b, 0);
    mk_u8(&b, 1);
    mk_u8(&b, 0);
    mk_u8(&b, FR_TAG(FR_FLIP, 3));
    mk_u16(&b, 64 + 30);
    mk_write("fuzz_recover", "two_shards_old_flip", b.p, b.len);

    /* the newest file of shard 1 has a bad header (rotation cut short) */
    b.len = two;
    mk_u8(&b, FR_TAG(FR_FILE, 1));
    mk_u8(&b, 1);
    mk_u8(&b, 4);
    mk_u8(&b, 9);
    mk_u8(&b, 2); /* selector: fid */
    mk_u8(&b, 99);
    fr_put_op(&b, "k-e", 9, 4, 0);
    mk_write("fuzz_recover", "two_shards_bad_new_header", b.p, b.len);

    /* a file bigger than max_file_size, no mmap reads */
    b.len = 0;
    mk_u8(&b, 2 | FR_CFG_NO_MMAP | FR_CFG_PREFIX); /* three shards */
    fr_file_op(&b, 2, 5, 0);
    mk_u8(&b, FR_TAG(FR_ENTRY, 3));
    mk_u8(&b, FR_E_VLEN16);
    mk_u8(&b, 1);
    mk_u16(&b, 900);
    mk_add(&b, "rrrr", 4);
    mk_u8(&b, 1);
    mk_u8(&b, FR_TAG(FR_REPEAT, 20)); /* 84 more */
    fr_put_op(&b, "last", 200, 3, 0);
    mk_write("fuzz_recover", "big_file_no_mmap", b.p, b.len);

    /* four shards, high sequence numbers, a raw entry with a bad checksum */
    b.len = 0;
    mk_u8(&b, 3 | FR_CFG_BIG_FILE | FR_CFG_BIG_BUF);
    for (int s = 0; s < 4; s++) {
        fr_file_op(&b, (uint8_t)s, (uint8_t)(10 + s), 0);
        mk_u8(&b, FR_TAG(FR_ENTRY, 1));
        mk_u8(&b, FR_E_SEQ64);
        mk_u64(&b, 1ull << 40 | (uint64_t)s);
        mk_u8(&b, 12);
        mk_u8(&b, 's');
        mk_u8(&b, (uint8_t)('0' + s));
        mk_u8(&b, 7);
    }
    mk_u8(&b, FR_TAG(FR_ENTRY, 0));
    mk_u8(&b, FR_E_BADSUM);
    mk_u8(&b, 50);
    mk_u8(&b, 4);
    mk_u8(&b, 'q');
    mk_u8(&b, 1);
    mk_write("fuzz_recover", "four_shards_seq", b.p, b.len);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: mkcorpus DIR\n");
        return 2;
    }
    mk_root = argv[1];
    if (mkdir(mk_root, 0755) != 0 && errno != EEXIST) {
        perror(mk_root);
        return 1;
    }
    mk_log();
    mk_hint();
    mk_meta();
    mk_recover();
    return 0;
}
