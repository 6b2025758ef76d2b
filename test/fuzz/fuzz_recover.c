/* SPDX-License-Identifier: MIT */
/*
 * fuzz_recover.c: libFuzzer target for recovery (engine/recover.c) and what
 * follows it, over a fuzzed database directory. The input is a small program
 * (fuzz_frame.h) that builds a valid ARMDB metadata file and data files per
 * shard; this target writes them into a scratch directory (one per process,
 * emptied each run; under /dev/shm when there is one, so fsync is cheap) and:
 *
 *   1. opens it read-only: iterates a cursor reading every value, runs
 *      arm_engine_check, checks that a put is refused, closes;
 *   2. opens it read-write: the same, then a put over an existing key, a new
 *      key, a delete and a two-key batch, closes;
 *   3. if step 2 closed cleanly, reopens read-only and checks every write
 *      acknowledged in step 2 reads back.
 *
 * Errors from open are fine (damaged input). Invariants asserted:
 *   - every key the index holds reads back (its entry passed its checksum at
 *     recovery and the files did not change), count == keys visited, and an
 *     ordered cursor visits keys in strictly increasing order;
 *   - when both opens succeed they see the same keys and values (read-only
 *     salvage differs from read-write only where read-write refuses);
 *   - after a successful read-write open arm_engine_check finds nothing;
 *   - a read-write open cuts only a torn write: the bytes it cut from a data
 *     file (or a file it set aside or removed) hold no good entry but the
 *     members of one unfinished batch, at any offset (damage is refused,
 *     never cut);
 *   - acknowledged writes survive close and reopen;
 *   - no crash, leak (LeakSanitizer) or hang.
 *
 * Built with FR_CRYPT (fuzz_recover_crypt.c), the same programs describe an
 * encrypted database: the files are sealed block by block with the engine's
 * own crypto.c under a fixed key (config bit 3 picks XChaCha20-Poly1305
 * instead of AES-256-GCM; encrypted files are never mapped), FR_FLIP flips
 * bits of the ciphertext instead of the plaintext, and the invariants hold
 * against the plaintext as it decrypts (a changed last block is a torn tail
 * block, a changed block elsewhere is damage no open reads past).
 *
 * Reproducing: `ARM_FUZZ_BUILD_ONLY=1 build/fuzz/fuzz_recover crash-file` writes the
 * directory an input describes (path printed), keeps it and opens nothing.
 * ARM_FUZZ_DIR chooses the parent directory (default /dev/shm, else $TMPDIR).
 */
#include "../../engine/engine_int.h"
#include "fuzz_util.h"
#include "fuzz_frame.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FR_CRYPT
#define FR_CRYPT 0
#endif
#define FR_MAX_FILES 16
#define FR_FILE_MAX  (160u * 1024) /* bytes per generated file */
#define FR_MAX_FLIPS 64            /* ciphertext flips (FR_CRYPT) */
static const uint8_t fr_key[32] = "fuzz-recover-key-0123456789abcde";

typedef struct fr_file {
    uint32_t shard, fid;
    char lead; /* 0, or a character replacing the name's first digit */
    uint8_t *p;
    size_t len;
} fr_file;

typedef struct fr_in {
    const uint8_t *p;
    size_t n;
} fr_in;

typedef struct fr_build {
    fr_file files[FR_MAX_FILES];
    int nfiles;
    fr_file *cur;
    /* the last FR_ENTRY, for FR_REPEAT */
    int have_last;
    uint8_t l_type, l_flags, l_key[16], l_seed, l_badsum;
    uint16_t l_klen;
    uint32_t l_vlen;
    uint64_t l_seq;
    /* FR_CRYPT: flips of the ciphertext, applied once files are sealed */
    int nflips;
    struct {
        int file;
        uint16_t off;
        uint8_t bit;
    } flip[FR_MAX_FLIPS];
} fr_build;

static char fr_dir[512];
/* Inputs that hit known, reported engine bugs are steered away from unless
 * these are set (env ARM_FUZZ_DUP_FIDS=1, ARM_FUZZ_HUGE_SEQ=1; see README),
 * so the fuzzer keeps looking for new ones. */
static int fr_allow_dup_fids, fr_allow_huge_seq, fr_allow_odd_names;

/* Known bug 2 (README): a sequence number near 2^64 wraps the counter. */
static uint64_t fr_seq(uint64_t v) {
    return fr_allow_huge_seq ? v : v & ((1ull << 62) - 1);
}

/* ------------------------------------------------------------ input */
static uint8_t fr_u8(fr_in *in) {
    if (in->n == 0) return 0;
    in->n--;
    return *in->p++;
}
static uint16_t fr_u16(fr_in *in) {
    uint16_t v = fr_u8(in);
    return (uint16_t)(v | fr_u8(in) << 8);
}
static uint32_t fr_u32(fr_in *in) {
    uint32_t v = fr_u16(in);
    return v | (uint32_t)fr_u16(in) << 16;
}
static uint64_t fr_u64(fr_in *in) {
    uint64_t v = fr_u32(in);
    return v | (uint64_t)fr_u32(in) << 32;
}

/* ------------------------------------------------------------ building */
static int fr_room(const fr_file *f, size_t n) {
    return f->len + n <= FR_FILE_MAX;
}

static void fr_append(fr_file *f, const void *p, size_t n) {
    if (!fr_room(f, n)) return;
    memcpy(f->p + f->len, p, n);
    f->len += n;
}

static fr_file *fr_file_get(fr_build *b, uint32_t shard, uint32_t fid, char lead, int *created) {
    *created = 0;
    for (int i = 0; i < b->nfiles; i++) {
        const fr_file *o = &b->files[i];
        if (o->shard == shard && o->fid == fid && o->lead == lead) return &b->files[i];
        /* Known bug 1 (README): one file id in two shard directories; bug 3:
         * two names of one fid in a shard directory. */
        if (o->fid == fid && !fr_allow_dup_fids && !(fr_allow_odd_names && o->shard == shard))
            return NULL;
    }
    if (b->nfiles == FR_MAX_FILES) return NULL;
    fr_file *f = &b->files[b->nfiles++];
    f->shard = shard;
    f->fid = fid;
    f->lead = lead;
    f->len = 0;
    f->p = malloc(FR_FILE_MAX);
    FUZZ_CHECK(f->p != NULL);
    *created = 1;
    return f;
}

static void fr_valid_hdr(uint8_t out[64], uint32_t shard, uint32_t fid, uint64_t base_seq) {
    memset(out, 0, 64);
    memcpy(out, "ARMLOG\0\1", 8);
    fz_put32(out + 8, ARM_FORMAT_VERSION);
    fz_put32(out + 12, shard);
    fz_put32(out + 16, fid);
    fz_put32(out + 20, FR_CRYPT ? ARM_META_ENCRYPTED : 0);
    memcpy(out + 24, fr_db_id, 16);
    fz_put64(out + 40, base_seq);
    fz_block_seal(out);
}

static void fr_op_file(fr_build *b, fr_in *in, uint8_t arg) {
    uint32_t shard = fr_u8(in) % 4u;
    uint32_t fid = (arg & 8) ? fr_u32(in) % 100000000u : fr_u8(in);
    uint64_t base_seq = (arg & 4) ? fr_seq(fr_u64(in)) : fr_u8(in);
    /* Known bug 3 (README): names like "+0000001.log" parse as fid 1. */
    char lead = 0;
    if (arg & 16) {
        uint8_t c = fr_u8(in);
        if (fr_allow_odd_names) lead = "+- "[c % 3];
    }
    int created;
    fr_file *f = fr_file_get(b, shard, fid, lead, &created);
    if (f == NULL) return;
    b->cur = f;
    if (!created) return;
    uint8_t h[64];
    switch (arg & 3) {
    case 0: fr_valid_hdr(h, shard, fid, base_seq); break;
    case 1: {
        fr_valid_hdr(h, shard, fid, base_seq);
        uint8_t sel = fr_u8(in), v = fr_u8(in);
        switch (sel % 7) {
        case 0: fz_put32(h + 8, v); break;           /* version */
        case 1: fz_put32(h + 12, v); break;          /* shard */
        case 2: fz_put32(h + 16, v); break;          /* fid */
        case 3: fz_put32(h + 20, v); break;          /* flags */
        case 4: h[24 + v % 16] ^= 1; break;          /* db_id */
        case 5: fz_put64(h + 40, fr_seq(fr_u64(in))); break; /* base_seq */
        default: h[48 + v % 8] = 1; break;           /* reserved */
        }
        fz_block_seal(h);
        break;
    }
    case 2:
        for (int i = 0; i < 64; i++) h[i] = fr_u8(in);
        break;
    default: return;
    }
    fr_append(f, h, sizeof(h));
}

static fr_file *fr_cur(fr_build *b) {
    if (b->cur == NULL) {
        int created;
        b->cur = fr_file_get(b, 0, 1, 0, &created);
        if (b->cur && created) {
            uint8_t h[64];
            fr_valid_hdr(h, 0, 1, 0);
            fr_append(b->cur, h, sizeof(h));
        }
    }
    return b->cur;
}

/* Append an entry with a value made of a pattern from seed. */
static void fr_entry(fr_file *f, uint8_t type, uint8_t flags, uint64_t seq, const uint8_t *key,
                     uint16_t klen, uint32_t vlen, uint8_t seed, int badsum) {
    size_t len = (size_t)ARM_ENTRY_HEADER + klen + vlen;
    if (f == NULL || !fr_room(f, len)) return;
    uint8_t *p = f->p + f->len;
    fz_entry_hdr(p, type, flags, klen, vlen, seq);
    if (klen) memcpy(p + ARM_ENTRY_HEADER, key, klen);
    for (uint32_t i = 0; i < vlen; i++) p[ARM_ENTRY_HEADER + klen + i] = (uint8_t)(seed + i * 7u);
    fz_entry_seal(p, len);
    if (badsum) p[0] ^= 1;
    f->len += len;
}

static void fr_op_entry(fr_build *b, fr_in *in, uint8_t arg) {
    uint8_t e = fr_u8(in);
    uint8_t type = (e & FR_E_DEL) ? ARM_ENTRY_DEL : ARM_ENTRY_PUT;
    uint8_t flags = (uint8_t)((e >> 1) & 3);
    uint64_t seq = (e & FR_E_SEQ64) ? fr_seq(fr_u64(in)) : fr_u8(in);
    uint16_t klen = (uint16_t)(1 + arg % 16);
    uint16_t raw_klen = klen;
    if (e & FR_E_RAW) {
        type = fr_u8(in);
        raw_klen = fr_u8(in);
    }
    uint32_t vlen = (e & FR_E_VLEN16) ? fr_u16(in) : fr_u8(in);
    if (type == ARM_ENTRY_DEL && !(e & FR_E_RAW)) vlen = 0;
    uint8_t key[16];
    for (int i = 0; i < klen; i++) key[i] = fr_u8(in);
    uint8_t seed = fr_u8(in);
    /* A raw klen names how many key bytes the entry claims; the bytes that
     * follow are the key prefix and then the pattern. */
    uint8_t kbuf[256];
    memset(kbuf, 0, sizeof(kbuf));
    memcpy(kbuf, key, klen);
    fr_entry(fr_cur(b), type, flags, seq, kbuf, raw_klen, vlen, seed, (e & FR_E_BADSUM) != 0);
    b->have_last = 1;
    b->l_type = type;
    b->l_flags = flags;
    b->l_seq = seq;
    memcpy(b->l_key, key, klen);
    b->l_klen = klen;
    b->l_vlen = vlen;
    b->l_seed = seed;
    b->l_badsum = (e & FR_E_BADSUM) != 0;
}

static void fr_op_batch(fr_build *b, fr_in *in, uint8_t arg) {
    int n = 1 + arg % 8;
    uint64_t seq = (arg & 8) ? fr_seq(fr_u64(in)) : fr_u8(in);
    fr_file *f = fr_cur(b);
    for (int i = 0; i < n; i++) {
        uint8_t d = fr_u8(in);
        uint16_t klen = (uint16_t)(1 + ((d >> 1) & 7));
        uint8_t key[8];
        for (int k = 0; k < klen; k++) key[k] = fr_u8(in);
        uint8_t seed = fr_u8(in);
        uint8_t flags = ARM_ENTRY_TXN;
        if (i == n - 1 && !(arg & 16)) flags |= ARM_ENTRY_TXN_END;
        int del = d & 1;
        fr_entry(f, del ? ARM_ENTRY_DEL : ARM_ENTRY_PUT, flags, seq, key, klen,
                 del ? 0 : seed % 64u, seed, 0);
    }
}

static void fr_build_run(fr_build *b, fr_in *in) {
    while (in->n > 0) {
        uint8_t tag = fr_u8(in), arg = tag >> 3;
        switch (tag & 7) {
        case FR_FILE: fr_op_file(b, in, arg); break;
        case FR_ENTRY: fr_op_entry(b, in, arg); break;
        case FR_BATCH: fr_op_batch(b, in, arg); break;
        case FR_RAW: {
            fr_file *f = fr_cur(b);
            size_t n = 1 + (size_t)fr_u8(in) + 256u * arg;
            if (n > in->n) n = in->n;
            if (f && fr_room(f, n)) fr_append(f, in->p, n);
            in->p += n;
            in->n -= n;
            break;
        }
        case FR_PAD: {
            fr_file *f = fr_cur(b);
            size_t n = 1 + (size_t)fr_u8(in) + 512u * arg;
            if (f && fr_room(f, n)) {
                memset(f->p + f->len, 0, n);
                f->len += n;
            }
            break;
        }
        case FR_TRUNC: {
            fr_file *f = fr_cur(b);
            size_t cut = fr_u16(in);
            if (f) f->len -= cut % (f->len + 1);
            break;
        }
        case FR_FLIP: {
            fr_file *f = fr_cur(b);
            size_t off = fr_u16(in);
            if (FR_CRYPT && f && b->nflips < FR_MAX_FLIPS) {
                b->flip[b->nflips].file = (int)(f - b->files);
                b->flip[b->nflips].off = (uint16_t)off;
                b->flip[b->nflips++].bit = (uint8_t)(arg % 8);
            } else if (!FR_CRYPT && f && f->len) {
                f->p[off % f->len] ^= (uint8_t)(1u << (arg % 8));
            }
            break;
        }
        default: { /* FR_REPEAT */
            if (!b->have_last) break;
            fr_file *f = fr_cur(b);
            for (int i = 0; i < 4 * (1 + arg); i++)
                fr_entry(f, b->l_type, b->l_flags, ++b->l_seq, b->l_key, b->l_klen, b->l_vlen,
                         (uint8_t)(b->l_seed + i), b->l_badsum);
            break;
        }
        }
    }
}

/* ------------------------------------------------------------ directory */
static int fr_rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
    (void)sb;
    (void)type;
    if (ftw->level == 0) return 0; /* keep the directory itself */
    return remove(path) != 0 && errno != ENOENT;
}

static void fr_clean(void) {
    FUZZ_CHECK(nftw(fr_dir, fr_rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

static int fr_build_only; /* env ARM_FUZZ_BUILD_ONLY=1: write the directory, keep it, open nothing */

static void fr_at_exit(void) {
    if (fr_dir[0] == '\0' || fr_build_only) return;
    fr_clean();
    rmdir(fr_dir);
}

static int fr_env(const char *name) {
    const char *v = getenv(name);
    return v != NULL && v[0] == '1';
}

static void fr_init_dir(void) {
    if (fr_dir[0]) return;
    const char *base = getenv("ARM_FUZZ_DIR");
    struct stat sb;
    if (base == NULL && stat("/dev/shm", &sb) == 0 && access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    if (base == NULL) base = getenv("TMPDIR");
    if (base == NULL) base = "/tmp";
    snprintf(fr_dir, sizeof(fr_dir), "%s/armdb-fuzz-recover.%d", base, (int)getpid());
    fr_build_only = fr_env("ARM_FUZZ_BUILD_ONLY");
    /* The engine bugs these steered around are fixed: the fuzzer may now
     * produce duplicate file ids, huge sequence numbers and odd file names. */
    fr_allow_dup_fids = 1;
    fr_allow_huge_seq = 1;
    fr_allow_odd_names = 1;
    FUZZ_CHECK(mkdir(fr_dir, 0755) == 0 || errno == EEXIST);
    atexit(fr_at_exit);
}

static void fr_write(const char *path, const void *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(n == 0 || write(fd, p, n) == (ssize_t)n);
    FUZZ_CHECK(close(fd) == 0);
}

/* FR_CRYPT: file i sealed into *phys_out (malloc'd, *n_out bytes), its
 * recorded flips applied. A block whose ciphertext they changed cannot be
 * read: when it is the file's last block the engine takes it for a torn tail
 * block (the file ends where it starts), so f->len is cut there; anywhere
 * else no open gets past it, and its plaintext becomes zeros in f->p (no
 * invariant is checked over a directory that does not open). */
static void fr_seal_file(fr_build *b, int i, arm_crypt *c, uint8_t **phys_out, size_t *n_out) {
    fr_file *f = &b->files[i];
    size_t nb = (f->len + ARM_CRYPT_BLOCK - 1) / ARM_CRYPT_BLOCK;
    uint8_t *ph = malloc(nb ? nb * ARM_IO_BLOCK : 1), *orig = malloc(nb ? nb * ARM_IO_BLOCK : 1);
    FUZZ_CHECK(ph != NULL && orig != NULL);
    for (size_t k = 0; k < nb; k++) {
        size_t at = k * ARM_CRYPT_BLOCK, len = ARM_MIN((size_t)ARM_CRYPT_BLOCK, f->len - at);
        FUZZ_CHECK(arm_crypt_seal(c, ARM_CRYPT_KIND_LOG, f->fid, k, f->p + at, (uint32_t)len,
                                  ph + k * ARM_IO_BLOCK) == ARM_OK);
    }
    memcpy(orig, ph, nb * ARM_IO_BLOCK);
    for (int j = 0; nb && j < b->nflips; j++)
        if (b->flip[j].file == i)
            ph[b->flip[j].off % (nb * ARM_IO_BLOCK)] ^= (uint8_t)(1u << b->flip[j].bit);
    size_t len = f->len;
    for (size_t k = 0; k < nb; k++) {
        if (memcmp(ph + k * ARM_IO_BLOCK, orig + k * ARM_IO_BLOCK, ARM_IO_BLOCK) == 0) continue;
        size_t at = k * ARM_CRYPT_BLOCK;
        memset(f->p + at, 0, ARM_MIN((size_t)ARM_CRYPT_BLOCK, len - at));
        if (k == nb - 1) f->len = at;
    }
    free(orig);
    *phys_out = ph;
    *n_out = nb * ARM_IO_BLOCK;
}

/* The logical size of an encrypted file on disk (file.c's rule). */
static size_t fr_logical_size(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0 || sb.st_size == 0) return 0;
    size_t phys = (size_t)sb.st_size, nb = (phys + ARM_IO_BLOCK - 1) / ARM_IO_BLOCK;
    uint32_t last = ARM_CRYPT_BLOCK;
    uint8_t hdr[16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (phys % ARM_IO_BLOCK == 0 && fd >= 0 &&
        pread(fd, hdr, sizeof hdr, (off_t)((nb - 1) * ARM_IO_BLOCK)) == (ssize_t)sizeof hdr) {
        uint32_t len = fz_get32(hdr + 8);
        if (len >= 1 && len <= ARM_CRYPT_BLOCK) last = len;
    }
    if (fd >= 0) close(fd);
    return (nb - 1) * ARM_CRYPT_BLOCK + last;
}

static void fr_write_db(fr_build *b, uint32_t shards, uint32_t prefix_bits, int cipher) {
    char path[700];
    arm_meta m;
    memset(&m, 0, sizeof(m));
    m.version = ARM_FORMAT_VERSION;
    m.shard_count = shards;
    m.flags = FR_CRYPT ? ARM_META_ENCRYPTED : 0;
    memcpy(m.db_id, fr_db_id, 16);
    m.prefix_bits = prefix_bits;
    m.created_ms = 1;
    uint8_t meta[ARM_META_SIZE];
    arm_meta_encode(&m, meta);
    snprintf(path, sizeof(path), "%s/ARMDB", fr_dir);
    fr_write(path, meta, sizeof(meta));
    snprintf(path, sizeof(path), "%s/LOCK", fr_dir);
    fr_write(path, NULL, 0);
    arm_crypt *c = NULL;
    if (FR_CRYPT) FUZZ_CHECK(arm_crypt_create(fr_dir, fr_db_id, fr_key, cipher, &c) == ARM_OK);
    for (int i = 0; i < b->nfiles; i++) {
        const fr_file *f = &b->files[i];
        snprintf(path, sizeof(path), "%s/shard-%03u", fr_dir, f->shard);
        FUZZ_CHECK(mkdir(path, 0755) == 0 || errno == EEXIST);
        snprintf(path, sizeof(path), "%s/shard-%03u/%08u.log", fr_dir, f->shard, f->fid);
        if (f->lead) path[strlen(path) - 12] = f->lead;
        if (c != NULL) {
            uint8_t *ph = NULL;
            size_t n = 0;
            fr_seal_file(b, i, c, &ph, &n);
            fr_write(path, ph, n);
            free(ph);
        } else {
            fr_write(path, f->p, f->len);
        }
    }
    arm_crypt_free(c);
}

/* ------------------------------------------------------------ checking */
typedef struct fr_view {
    uint64_t count;
    uint64_t digest; /* order-independent sum over (key, value) */
    uint8_t key0[64], key1[64];
    size_t klen0, klen1; /* first two keys visited (0 = none), if <= 64 bytes */
} fr_view;

static int fr_keycmp(arm_slice a, arm_slice b) {
    int c = memcmp(a.ptr, b.ptr, ARM_MIN(a.len, b.len));
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

/* Every (key, value) the engine serves must be a PUT entry with a good
 * checksum somewhere in the files as written (recovery never invents data).
 * Somewhere: at any offset, since a read-only open reads on past damage. */
typedef struct fr_entries {
    const uint8_t **p; /* entry starts */
    size_t n, cap;
} fr_entries;

static void fr_entries_collect(const fr_build *b, fr_entries *es) {
    memset(es, 0, sizeof(*es));
    for (int i = 0; i < b->nfiles; i++) {
        const fr_file *f = &b->files[i];
        size_t off = ARM_FILE_HEADER_SIZE;
        while (off + ARM_ENTRY_HEADER <= f->len) {
            const uint8_t *p = f->p + off;
            uint64_t len = (uint64_t)ARM_ENTRY_HEADER + fz_get16(p + 6) + fz_get32(p + 8);
            if (!fz_entry_hdr_ok(p) || len > f->len - off ||
                fz_get32(p) != (uint32_t)arm_hash_checksum(p + 4, (size_t)len - 4)) {
                off++; /* no entry here: look at the next byte */
                continue;
            }
            if (es->n == es->cap) {
                es->cap = es->cap ? 2 * es->cap : 64;
                es->p = realloc(es->p, es->cap * sizeof(*es->p));
                FUZZ_CHECK(es->p != NULL);
            }
            es->p[es->n++] = p;
            off += (size_t)len;
        }
    }
}

static int fr_entries_has(const fr_entries *es, arm_slice k, arm_slice v) {
    for (size_t i = 0; i < es->n; i++) {
        const uint8_t *p = es->p[i];
        if (p[4] != ARM_ENTRY_PUT || fz_get16(p + 6) != k.len || fz_get32(p + 8) != v.len) continue;
        if (memcmp(p + ARM_ENTRY_HEADER, k.ptr, k.len) == 0 &&
            (v.len == 0 || memcmp(p + ARM_ENTRY_HEADER + k.len, v.ptr, v.len) == 0))
            return 1;
    }
    return 0;
}

/* 1 when p[0..n) holds a good entry (any offset) that is not a member of an
 * unfinished batch: the bytes a torn-write cut may take hold none. */
static int fr_has_keeper(const uint8_t *p, size_t n) {
    for (size_t off = 0; off + ARM_ENTRY_HEADER <= n; off++) {
        const uint8_t *q = p + off;
        uint64_t len = (uint64_t)ARM_ENTRY_HEADER + fz_get16(q + 6) + fz_get32(q + 8);
        if (!fz_entry_hdr_ok(q) || len > n - off ||
            fz_get32(q) != (uint32_t)arm_hash_checksum(q + 4, (size_t)len - 4))
            continue;
        if ((q[5] & 3) != 1) return 1; /* a plain entry or a batch's end */
    }
    return 0;
}

/* Right after a read-write open: what it cut or dropped held nothing to keep. */
static void fr_check_cuts(const fr_build *b) {
    for (int i = b->nfiles - 1; i >= 0; i--) {
        const fr_file *f = &b->files[i];
        if (f->lead) continue;
        int later = 0; /* the same name written again by a later file: that one counts */
        for (int j = i + 1; j < b->nfiles && !later; j++)
            later = !b->files[j].lead && b->files[j].shard == f->shard && b->files[j].fid == f->fid;
        if (later) continue;
        char path[700];
        snprintf(path, sizeof(path), "%s/shard-%03u/%08u.log", fr_dir, f->shard, f->fid);
        struct stat sb;
        size_t now = stat(path, &sb) == 0 ? (size_t)sb.st_size : 0;
        if (FR_CRYPT) now = fr_logical_size(path);
        if (now >= f->len) continue;
        /* removed or set aside whole: entries start past the header */
        if (now < ARM_FILE_HEADER_SIZE) now = ARM_FILE_HEADER_SIZE;
        if (now >= f->len) continue;
        if (fr_has_keeper(f->p + now, f->len - now))
            fprintf(stderr, "%s: open cut %zu bytes holding a good entry\n", path, f->len - now);
        FUZZ_CHECK(!fr_has_keeper(f->p + now, f->len - now));
    }
}

/* Visit every key with a cursor, reading each value; check, then count. */
static void fr_scan(arm_engine *e, int ordered, const fr_entries *es, fr_view *v) {
    memset(v, 0, sizeof(*v));
    arm_cursor *c = NULL;
    int rc = arm_engine_cursor_open(e, NULL, &c);
    if (rc != ARM_OK) {
        FUZZ_CHECK(rc == ARM_NOMEM);
        return;
    }
    uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (rc = arm_engine_cursor_first(c); rc == ARM_OK; rc = arm_engine_cursor_next(c)) {
        FUZZ_CHECK(arm_engine_cursor_valid(c));
        arm_slice k = arm_engine_cursor_key(c), val;
        FUZZ_CHECK(k.len >= 1 && k.len <= ARM_KEY_SIZE_MAX);
        int vrc = arm_engine_cursor_value(c, &val);
        if (vrc != ARM_OK) {
            fprintf(stderr, "cursor_value: %s: %s\n", arm_rc_str(vrc), arm_engine_errmsg(e));
            FUZZ_CHECK(vrc == ARM_OK);
        }
        if (!fr_entries_has(es, k, val))
            fprintf(stderr, "key of %zu bytes served with a value no entry has\n", k.len);
        FUZZ_CHECK(fr_entries_has(es, k, val));
        if (ordered && prev) FUZZ_CHECK(fr_keycmp(arm_slice_make(prev, prev_len), k) < 0);
        if (ordered) {
            uint8_t *np = realloc(prev, k.len);
            FUZZ_CHECK(np != NULL);
            prev = np;
            memcpy(prev, k.ptr, k.len);
            prev_len = k.len;
        }
        uint64_t hk = arm_hash_checksum(k.ptr, k.len), hv = arm_hash_checksum(val.ptr, val.len);
        v->digest += (hk * 0x9E3779B97F4A7C15ull) ^ hv;
        if (v->count == 0 && k.len <= sizeof(v->key0)) {
            memcpy(v->key0, k.ptr, k.len);
            v->klen0 = k.len;
        } else if (v->count == 1 && k.len <= sizeof(v->key1)) {
            memcpy(v->key1, k.ptr, k.len);
            v->klen1 = k.len;
        }
        v->count++;
    }
    free(prev);
    FUZZ_CHECK(rc == ARM_NOTFOUND);
    FUZZ_CHECK(!arm_engine_cursor_valid(c));
    arm_engine_cursor_close(c);
    FUZZ_CHECK(arm_engine_count(e) == v->count);
}

/* arm_engine_check walks every fid from 1 to the highest (O(max fid), not
 * O(files)): skip it when a huge fid would make one run take seconds. */
static int fr_big_fid;

static uint64_t fr_check(arm_engine *e) {
    uint64_t problems = 0;
    if (fr_big_fid) return 0;
    int rc = arm_engine_check(e, NULL, NULL, NULL, &problems);
    FUZZ_CHECK(rc == ARM_OK);
    return problems;
}

/* A write acknowledged by the read-write engine: what reopen must show. */
typedef struct fr_expect {
    uint8_t key[64];
    size_t klen;
    const char *value; /* NULL: deleted */
} fr_expect;

static void fr_expect_set(fr_expect *ex, int *n, const uint8_t *k, size_t kl, const char *v) {
    for (int i = 0; i < *n; i++) {
        if (ex[i].klen == kl && memcmp(ex[i].key, k, kl) == 0) {
            ex[i].value = v;
            return;
        }
    }
    memcpy(ex[*n].key, k, kl);
    ex[*n].klen = kl;
    ex[*n].value = v;
    (*n)++;
}

static int fr_put(arm_engine *e, const uint8_t *k, size_t kl, const char *v) {
    return arm_engine_put(e, arm_slice_make(k, kl), arm_slice_make(v, strlen(v)));
}

static void fr_run(const fr_build *b, const fr_entries *es, uint8_t cfg);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    fr_init_dir();
    fr_clean();

    fr_in in = {data + 1, size - 1};
    uint8_t cfg = data[0];
    fr_build b;
    memset(&b, 0, sizeof(b));
    fr_build_run(&b, &in);
    uint32_t shards = 1 + (cfg & 3u);
    fr_write_db(&b, shards, (cfg & FR_CFG_PREFIX) ? 8 : 0,
                (cfg & FR_CFG_NO_MMAP) ? ARM_CIPHER_XCHACHA20 : ARM_CIPHER_AES256GCM);
    if (fr_build_only) {
        for (int i = 0; i < b.nfiles; i++) free(b.files[i].p);
        fprintf(stderr, "fuzz_recover: database written to %s\n", fr_dir);
        return 0;
    }
    fr_big_fid = 0;
    for (int i = 0; i < b.nfiles; i++) fr_big_fid |= b.files[i].fid > 4096;
    fr_entries es;
    fr_entries_collect(&b, &es);
    fr_run(&b, &es, cfg);
    free(es.p);
    for (int i = 0; i < b.nfiles; i++) free(b.files[i].p);
    return 0;
}

/* The three phases over the directory just written. */
static void fr_run(const fr_build *b, const fr_entries *es, uint8_t cfg) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 0; /* as stored */
    o.max_file_size = (cfg & FR_CFG_BIG_FILE) ? 128u * 1024 : 64u * 1024;
    o.write_buffer_size = (cfg & FR_CFG_BIG_BUF) ? 8192 : 4096;
    o.sync_mode = ARM_SYNC_OFF;
    o.index_kind = (cfg & FR_CFG_HASH) ? ARM_INDEX_HASH : ARM_INDEX_ORDERED;
    o.cache_size = (cfg & FR_CFG_CACHE) ? 64u * 1024 : 0;
    o.max_value_size = 16u * 1024;
    o.io_backend = ARM_IO_POSIX;
    o.create_if_missing = 0;
    o.mmap_reads = !(cfg & FR_CFG_NO_MMAP);
    if (FR_CRYPT) o.encryption_key = fr_key;
    int ordered = o.index_kind == ARM_INDEX_ORDERED;
    static const uint8_t put_key[] = "\xff" "fuzz-put";

    /* 1. read-only: salvage whatever is readable */
    arm_engine *e = NULL;
    fr_view ro, rw;
    o.read_only = 1;
    int ro_ok = arm_engine_open(fr_dir, &o, &e) == ARM_OK;
    if (ro_ok) {
        fr_scan(e, ordered, es, &ro);
        (void)fr_check(e);
        FUZZ_CHECK(fr_put(e, put_key, sizeof(put_key) - 1, "x") == ARM_READONLY);
        FUZZ_CHECK(arm_engine_close(e) == ARM_OK);
    }

    /* 2. read-write: recovery cuts torn tails, then writes */
    o.read_only = 0;
    e = NULL;
    if (arm_engine_open(fr_dir, &o, &e) != ARM_OK) return;
    fr_check_cuts(b);
    fr_scan(e, ordered, es, &rw);
    if (ro_ok) {
        FUZZ_CHECK(ro.count == rw.count);
        FUZZ_CHECK(ro.digest == rw.digest);
    }
    uint64_t problems = fr_check(e);
    if (problems) fprintf(stderr, "arm_engine_check: %llu problems\n", (unsigned long long)problems);
    FUZZ_CHECK(problems == 0);

    fr_expect ex[8];
    int nex = 0;
    if (rw.klen0 && fr_put(e, rw.key0, rw.klen0, "over") == ARM_OK)
        fr_expect_set(ex, &nex, rw.key0, rw.klen0, "over");
    if (fr_put(e, put_key, sizeof(put_key) - 1, "new") == ARM_OK)
        fr_expect_set(ex, &nex, put_key, sizeof(put_key) - 1, "new");
    if (rw.klen1 && arm_engine_delete(e, arm_slice_make(rw.key1, rw.klen1)) == ARM_OK)
        fr_expect_set(ex, &nex, rw.key1, rw.klen1, NULL);
    arm_batch *bt = NULL;
    if (arm_engine_batch_new(e, &bt) == ARM_OK) {
        static const uint8_t k1[] = "fuzz-b1", k2[] = "fuzz-b2";
        int rc = arm_engine_batch_put(bt, arm_slice_make(k1, 7), arm_slice_make("b1", 2));
        if (rc == ARM_OK)
            rc = arm_engine_batch_put(bt, arm_slice_make(k2, 7), arm_slice_make("b2", 2));
        if (rc == ARM_OK && arm_engine_batch_commit(e, bt) == ARM_OK) {
            fr_expect_set(ex, &nex, k1, 7, "b1");
            fr_expect_set(ex, &nex, k2, 7, "b2");
        }
        arm_engine_batch_free(bt);
    }
    if (arm_engine_close(e) != ARM_OK) return;

    /* 3. what was acknowledged is there after reopen */
    o.read_only = 1;
    e = NULL;
    int rc = arm_engine_open(fr_dir, &o, &e);
    if (rc != ARM_OK) fprintf(stderr, "reopen: %s: %s\n", arm_rc_str(rc), arm_engine_errmsg(NULL));
    FUZZ_CHECK(rc == ARM_OK);
    arm_buf buf = {0};
    for (int i = 0; i < nex; i++) {
        rc = arm_engine_get(e, arm_slice_make(ex[i].key, ex[i].klen), &buf);
        if (ex[i].value == NULL) {
            FUZZ_CHECK(rc == ARM_NOTFOUND);
        } else {
            if (rc != ARM_OK || buf.len != strlen(ex[i].value) ||
                memcmp(buf.ptr, ex[i].value, buf.len) != 0)
                fprintf(stderr, "reopen: write %d (\"%s\") lost: get %s len %zu\n", i,
                        ex[i].value, arm_rc_str(rc), buf.len);
            FUZZ_CHECK(rc == ARM_OK);
            FUZZ_CHECK(buf.len == strlen(ex[i].value));
            FUZZ_CHECK(memcmp(buf.ptr, ex[i].value, buf.len) == 0);
        }
    }
    arm_buf_free(&buf);
    FUZZ_CHECK(arm_engine_close(e) == ARM_OK);
}
