/* SPDX-License-Identifier: MIT */
/*
 * crypto.c: encryption at rest (crypto.h): keys, the CRYPT file, the nonce
 * lease and the sealing and opening of 4096-byte blocks. The only file that
 * includes sodium.h. Layer: engine, called by file.c (blocks) and engine.c
 * (open); it calls io_*.c and err.c only.
 *
 * CRYPT (96 bytes, little-endian):
 *   0 u8[8]  magic "ARMCRYPT"     8 u32 version (1)      12 u32 cipher (1 AES-256-GCM,
 *                                                                2 XChaCha20-Poly1305)
 *  16 u8[16] db_id (the ARMDB it belongs to)   32 u8[16] salt (random at creation)
 *  48 u64    nonce_next: every nonce used so far is below it
 *  56 u8[32] key check: BLAKE2b-256 keyed with the key over "armdb key check\0" || salt
 *  88 u64    arm_hash_checksum(bytes 0..87)
 * The data key is BLAKE2b-256 keyed with the key over "armdb data key\0\0" ||
 * salt: a key check that matches says the key is right without revealing
 * anything about the data key.
 *
 * Physical block (4096 bytes) holding logical block b of a file:
 *   0 u64 nonce (a counter: unique under the data key)
 *   8 u32 len   logical bytes in the block, 1..4064 (the tail block is short)
 *  12 u32 reserved 0
 *  16 ciphertext of the len bytes, then zeros up to byte 4080
 * 4080 u8[16] tag
 * Additional data: bytes 0..15, then u32 kind, u32 fid, u64 b: a block moved
 * to another position, file or kind of file fails like a changed one. The
 * AEAD nonce is the counter, little-endian, zero-padded to the cipher's
 * nonce size (12 bytes for AES-256-GCM, 24 for XChaCha20-Poly1305).
 */
#include "engine_int.h"
#include "crypto.h"
#include "../common/arm_hash.h"

#include <sodium.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CRY_PATH_MAX 4200u
#define CRY_AD_LEN   (ARM_CRYPT_HDR + 16u)

static const uint8_t cry_magic[8] = {'A', 'R', 'M', 'C', 'R', 'Y', 'P', 'T'};
static const uint8_t cry_check_label[16] = "armdb key check";
static const uint8_t cry_data_label[16] = "armdb data key\0";

_Static_assert(ARM_CRYPT_BLOCK == 4064, "4096 minus header and tag");
_Static_assert(ARM_CRYPT_SIZE == 96, "CRYPT layout");
_Static_assert(crypto_aead_aes256gcm_NPUBBYTES == 12, "AES-GCM nonce");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == 24, "XChaCha nonce");
_Static_assert(crypto_aead_aes256gcm_ABYTES == ARM_CRYPT_TAG, "tag");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == ARM_CRYPT_TAG, "tag");

struct arm_crypt {
    int cipher;                      /* ARM_CIPHER_AES256GCM or _XCHACHA20 */
    uint8_t *key;                    /* the data key, sodium_malloc'd */
    crypto_aead_aes256gcm_state *aes; /* expanded data key (AES), sodium_malloc'd */
    _Atomic uint64_t next;           /* the next nonce to hand out */
    _Atomic uint64_t limit;          /* nonces below it are leased (CRYPT says so durably) */
    pthread_mutex_t lease_lock;      /* one raise of the lease at a time */
    int writable;
    uint8_t db_id[16], salt[16];
    uint8_t check[32];
    char dir[CRY_PATH_MAX];
};

static arm_crypt_nonce_fn cry_nonce_hook;

#ifndef ARM_AMALGAMATION
void arm_crypt_set_nonce_hook(arm_crypt_nonce_fn fn) {
    cry_nonce_hook = fn;
}
#endif

static void cry_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void cry_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t cry_get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t cry_get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---------------------------------------------------------------- keys */
static int cry_hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* 64 hex digits into out[32]; 0 on success. Constant in the digits' values
 * is not needed here (a key source is not attacker-timed), but nothing of
 * the input is ever printed. */
static int cry_unhex(const char *s, size_t n, uint8_t out[ARM_CRYPT_KEY]) {
    if (n != 2 * ARM_CRYPT_KEY) return -1;
    for (size_t i = 0; i < ARM_CRYPT_KEY; i++) {
        int hi = cry_hex((unsigned char)s[2 * i]), lo = cry_hex((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* The key file's bytes into key: 32 raw bytes, or 64 hex digits and at most
 * one trailing newline. */
static int cry_key_file(const char *path, uint8_t *key) {
    char buf[2 * ARM_CRYPT_KEY + 4];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot open key file %s", path);
    ssize_t n = 0, got = 0;
    while (n < (ssize_t)sizeof(buf) && (got = read(fd, buf + n, sizeof(buf) - (size_t)n)) > 0)
        n += got;
    int err = errno;
    close(fd);
    int rc = ARM_OK;
    if (n < 0 || got < 0) {
        rc = arm_engine_seterr(ARM_ERR(ARM_IOERR), err, "cannot read key file %s", path);
    } else if (n == ARM_CRYPT_KEY) {
        memcpy(key, buf, ARM_CRYPT_KEY);
    } else {
        size_t len = (size_t)n;
        if (len > 0 && buf[len - 1] == '\n') len--;
        if (len > 0 && buf[len - 1] == '\r') len--;
        if (cry_unhex(buf, len, key) != 0)
            rc = arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                   "key file %s holds no key: it must hold 32 raw bytes or 64 "
                                   "hex digits",
                                   path);
    }
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

int arm_crypt_key_load(const uint8_t *key, const char *key_file, const char *key_env,
                       uint8_t **key_out) {
    *key_out = NULL;
    int sources = (key != NULL) + (key_file != NULL) + (key_env != NULL);
    if (sources == 0) return ARM_OK;
    if (sources > 1)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                 "give one encryption key source, not %d", sources);
    if (sodium_init() < 0)
        return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "libsodium failed to start");
    uint8_t *k = sodium_malloc(ARM_CRYPT_KEY);
    if (k == NULL) return ARM_ERR(ARM_NOMEM);
    int rc = ARM_OK;
    if (key != NULL) {
        memcpy(k, key, ARM_CRYPT_KEY);
    } else if (key_file != NULL) {
        rc = cry_key_file(key_file, k);
    } else {
        const char *v = getenv(key_env);
        if (v == NULL)
            rc = arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                   "environment variable %s for the key is not set", key_env);
        else if (cry_unhex(v, strlen(v), k) != 0)
            rc = arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                   "environment variable %s holds no key: it must hold 64 hex "
                                   "digits",
                                   key_env);
    }
    if (rc != ARM_OK) {
        sodium_free(k); /* wipes */
        return rc;
    }
    *key_out = k;
    return ARM_OK;
}

void arm_crypt_key_free(uint8_t *key) {
    if (key) sodium_free(key); /* sodium_free wipes before it frees */
}

/* ------------------------------------------------------------- context */
static int cry_derive(const uint8_t *key, const uint8_t label[16], const uint8_t salt[16],
                      uint8_t out[32]) {
    uint8_t msg[32];
    memcpy(msg, label, 16);
    memcpy(msg + 16, salt, 16);
    int bad = crypto_generichash(out, 32, msg, sizeof(msg), key, ARM_CRYPT_KEY);
    return bad == 0 ? ARM_OK : ARM_ERR(ARM_NOMEM);
}

void arm_crypt_free(arm_crypt *c) {
    if (c == NULL) return;
    if (c->key) sodium_free(c->key);
    if (c->aes) sodium_free(c->aes);
    pthread_mutex_destroy(&c->lease_lock);
    sodium_memzero(c, sizeof(*c));
    sodium_free(c);
}

#ifndef ARM_AMALGAMATION /* tests pick their ciphers with it */
int arm_crypt_aes_available(void) {
    return sodium_init() >= 0 && crypto_aead_aes256gcm_is_available();
}
#endif

/* A context for (key, salt, cipher): the data key derived and expanded. */
static int cry_new(const char *dir, const uint8_t *key, const uint8_t salt[16], int cipher,
                   arm_crypt **out) {
    *out = NULL;
    if (cipher == ARM_CIPHER_AES256GCM && !crypto_aead_aes256gcm_is_available())
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                 "%s is encrypted with AES-256-GCM, which this CPU does not "
                                 "support",
                                 dir);
    arm_crypt *c = sodium_malloc(sizeof(*c));
    if (c == NULL) return ARM_ERR(ARM_NOMEM);
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lease_lock, NULL);
    c->cipher = cipher;
    memcpy(c->salt, salt, 16);
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    c->key = sodium_malloc(32);
    int rc = c->key ? cry_derive(key, cry_data_label, salt, c->key) : ARM_ERR(ARM_NOMEM);
    if (rc == ARM_OK) rc = cry_derive(key, cry_check_label, salt, c->check);
    if (rc == ARM_OK && cipher == ARM_CIPHER_AES256GCM) {
        c->aes = sodium_malloc(sizeof(*c->aes));
        if (c->aes == NULL) rc = ARM_ERR(ARM_NOMEM);
        else crypto_aead_aes256gcm_beforenm(c->aes, c->key);
    }
    if (rc != ARM_OK) {
        arm_crypt_free(c);
        return rc;
    }
    *out = c;
    return ARM_OK;
}

int arm_crypt_key_is(const arm_crypt *c, const uint8_t *key) {
    uint8_t check[32];
    int same = cry_derive(key, cry_check_label, c->salt, check) == ARM_OK &&
               sodium_memcmp(check, c->check, 32) == 0;
    sodium_memzero(check, sizeof(check));
    return same;
}

/* --------------------------------------------------------------- CRYPT */
static void cry_encode(const arm_crypt *c, uint64_t nonce_next, uint8_t out[ARM_CRYPT_SIZE]) {
    memset(out, 0, ARM_CRYPT_SIZE);
    memcpy(out, cry_magic, 8);
    cry_put32(out + 8, ARM_FORMAT_VERSION);
    cry_put32(out + 12, (uint32_t)c->cipher);
    memcpy(out + 16, c->db_id, 16);
    memcpy(out + 32, c->salt, 16);
    cry_put64(out + 48, nonce_next);
    memcpy(out + 56, c->check, 32);
    cry_put64(out + 88, arm_hash_checksum(out, 88));
}

/* CRYPT replaced durably: after a crash the old or the new one is there. */
static int cry_write(const arm_crypt *c, uint64_t nonce_next) {
    char path[CRY_PATH_MAX + 16], tmp[CRY_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", c->dir, ARM_CRYPT_NAME);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    uint8_t buf[ARM_CRYPT_SIZE];
    cry_encode(c, nonce_next, buf);
    int err = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? (err = errno, arm_io_errno_rc(err)) : ARM_OK;
    if (rc == ARM_OK) rc = arm_io_pwrite(NULL, fd, buf, sizeof(buf), 0, 1, &err);
    if (fd >= 0) close(fd);
    if (rc == ARM_OK && rename(tmp, path) != 0) rc = (err = errno, ARM_ERR(ARM_IOERR));
    if (rc == ARM_OK) rc = arm_io_sync_dir(c->dir, &err);
    if (rc != ARM_OK) {
        (void)unlink(tmp);
        return arm_engine_seterr(rc, err, "cannot write %s", path);
    }
    return ARM_OK;
}

/* Lease nonces [from, from + ARM_CRYPT_LEASE): durably first. */
static int cry_lease(arm_crypt *c, uint64_t from) {
    if (from > UINT64_MAX - ARM_CRYPT_LEASE)
        return arm_engine_seterr(ARM_ERR(ARM_FULL), 0, "%s has used up its nonces", c->dir);
    int rc = cry_write(c, from + ARM_CRYPT_LEASE);
    if (rc == ARM_OK) atomic_store(&c->limit, from + ARM_CRYPT_LEASE);
    return rc;
}

int arm_crypt_create(const char *dir, const uint8_t db_id[16], const uint8_t *key, int cipher,
                     arm_crypt **crypt_out) {
    *crypt_out = NULL;
    if (sodium_init() < 0)
        return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "libsodium failed to start");
    if (cipher == ARM_CIPHER_AUTO)
        cipher = crypto_aead_aes256gcm_is_available() ? ARM_CIPHER_AES256GCM : ARM_CIPHER_XCHACHA20;
    if (cipher != ARM_CIPHER_AES256GCM && cipher != ARM_CIPHER_XCHACHA20)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "bad option cipher: unknown cipher");
    uint8_t salt[16];
    randombytes_buf(salt, sizeof(salt));
    arm_crypt *c;
    int rc = cry_new(dir, key, salt, cipher, &c);
    if (rc != ARM_OK) return rc;
    memcpy(c->db_id, db_id, 16);
    c->writable = 1;
    rc = cry_lease(c, 0);
    if (rc != ARM_OK) {
        arm_crypt_free(c);
        return rc;
    }
    *crypt_out = c;
    return ARM_OK;
}

int arm_crypt_open(const char *dir, const uint8_t db_id[16], const uint8_t *key, int writable,
                   arm_crypt **crypt_out) {
    *crypt_out = NULL;
    if (sodium_init() < 0)
        return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "libsodium failed to start");
    char path[CRY_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", dir, ARM_CRYPT_NAME);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return ARM_NOTFOUND;
    if (fd < 0) return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot open %s", path);
    uint8_t buf[ARM_CRYPT_SIZE + 1];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    int cipher = n == ARM_CRYPT_SIZE ? (int)cry_get32(buf + 12) : 0;
    if (n != ARM_CRYPT_SIZE || memcmp(buf, cry_magic, 8) != 0 ||
        cry_get64(buf + 88) != arm_hash_checksum(buf, 88) ||
        cry_get32(buf + 8) != ARM_FORMAT_VERSION ||
        (cipher != ARM_CIPHER_AES256GCM && cipher != ARM_CIPHER_XCHACHA20))
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "encryption metadata %s is damaged",
                                 path);
    if (memcmp(buf + 16, db_id, 16) != 0)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                 "encryption metadata %s belongs to another database", path);
    arm_crypt *c;
    int rc = cry_new(dir, key, buf + 32, cipher, &c);
    if (rc != ARM_OK) return rc;
    memcpy(c->db_id, db_id, 16);
    if (sodium_memcmp(c->check, buf + 56, 32) != 0) {
        arm_crypt_free(c);
        return arm_engine_seterr(ARM_ERR(ARM_AUTH), 0, "wrong encryption key for %s", dir);
    }
    uint64_t next = cry_get64(buf + 48);
    atomic_store(&c->next, next);
    atomic_store(&c->limit, next); /* read-only: nothing is ever sealed */
    c->writable = writable;
    if (writable && (rc = cry_lease(c, next)) != ARM_OK) {
        arm_crypt_free(c);
        return rc;
    }
    *crypt_out = c;
    return ARM_OK;
}

/* ---------------------------------------------------------------- blocks */
static void cry_ad(uint8_t ad[CRY_AD_LEN], const uint8_t hdr[ARM_CRYPT_HDR], uint32_t kind,
                   uint32_t fid, uint64_t block) {
    memcpy(ad, hdr, ARM_CRYPT_HDR);
    cry_put32(ad + 16, kind);
    cry_put32(ad + 20, fid);
    cry_put64(ad + 24, block);
}

/* A nonce no block was ever sealed under; raises the lease when it runs out. */
static int cry_nonce(arm_crypt *c, uint64_t *nonce_out) {
    uint64_t n = atomic_fetch_add(&c->next, 1);
    if (n >= atomic_load(&c->limit)) {
        int rc = ARM_OK;
        pthread_mutex_lock(&c->lease_lock);
        while (rc == ARM_OK && n >= atomic_load(&c->limit))
            rc = cry_lease(c, atomic_load(&c->limit));
        pthread_mutex_unlock(&c->lease_lock);
        if (rc != ARM_OK) return rc; /* n stays unused: nonces may skip, never repeat */
    }
    *nonce_out = n;
    return ARM_OK;
}

int arm_crypt_seal(arm_crypt *c, uint32_t kind, uint32_t fid, uint64_t block,
                   const uint8_t *plain, uint32_t len, uint8_t out[ARM_IO_BLOCK]) {
    assert(len >= 1 && len <= ARM_CRYPT_BLOCK);
    assert(c->writable);
    uint64_t nonce;
    int rc = cry_nonce(c, &nonce);
    if (rc != ARM_OK) return rc;
    if (cry_nonce_hook) cry_nonce_hook(kind, fid, block, nonce);
    memset(out, 0, ARM_IO_BLOCK);
    cry_put64(out, nonce);
    cry_put32(out + 8, len);
    uint8_t ad[CRY_AD_LEN], npub[24] = {0};
    cry_ad(ad, out, kind, fid, block);
    cry_put64(npub, nonce);
    uint8_t *ct = out + ARM_CRYPT_HDR, *tag = out + ARM_IO_BLOCK - ARM_CRYPT_TAG;
    if (c->cipher == ARM_CIPHER_AES256GCM)
        crypto_aead_aes256gcm_encrypt_detached_afternm(ct, tag, NULL, plain, len, ad, sizeof(ad),
                                                       NULL, npub, c->aes);
    else
        crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ct, tag, NULL, plain, len, ad,
                                                            sizeof(ad), NULL, npub, c->key);
    return ARM_OK;
}

uint32_t arm_crypt_block_len(const uint8_t in[ARM_CRYPT_HDR]) {
    uint32_t len = cry_get32(in + 8);
    return len >= 1 && len <= ARM_CRYPT_BLOCK ? len : 0;
}

int arm_crypt_open_block(const arm_crypt *c, uint32_t kind, uint32_t fid, uint64_t block,
                         const uint8_t in[ARM_IO_BLOCK], uint8_t *plain, uint32_t *len_out) {
    *len_out = 0;
    uint32_t len = arm_crypt_block_len(in);
    if (len == 0 || cry_get32(in + 12) != 0) return ARM_CORRUPT;
    /* The padding is outside the AEAD: it must be zero, so no byte of a
     * block can change unnoticed. */
    const uint8_t *pad = in + ARM_CRYPT_HDR + len;
    size_t padn = ARM_CRYPT_BLOCK - len;
    uint8_t acc = 0;
    for (size_t i = 0; i < padn; i++) acc |= pad[i];
    if (acc != 0) return ARM_CORRUPT;
    uint8_t ad[CRY_AD_LEN], npub[24] = {0};
    cry_ad(ad, in, kind, fid, block);
    memcpy(npub, in, 8);
    const uint8_t *ct = in + ARM_CRYPT_HDR, *tag = in + ARM_IO_BLOCK - ARM_CRYPT_TAG;
    int bad;
    if (c->cipher == ARM_CIPHER_AES256GCM)
        bad = crypto_aead_aes256gcm_decrypt_detached_afternm(plain, NULL, ct, len, tag, ad,
                                                             sizeof(ad), npub, c->aes);
    else
        bad = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(plain, NULL, ct, len, tag, ad,
                                                                  sizeof(ad), npub, c->key);
    if (bad != 0) return ARM_CORRUPT;
    *len_out = len;
    return ARM_OK;
}

#undef CRY_PATH_MAX
#undef CRY_AD_LEN
