/* SPDX-License-Identifier: MIT */
/*
 * crypto.h: encryption at rest, private to engine/. The only code that sees
 * keys and the only file that includes libsodium is crypto.c; file.c calls it
 * to turn a logical block of a data file into a 4096-byte physical block and
 * back. Layer: engine, beside io.h (below file.c; it calls io_*.c to write
 * the CRYPT file).
 *
 * An encrypted database keeps CRYPT beside ARMDB: the cipher, a random salt
 * the data key is derived from, a key check (so a wrong key is ARM_AUTH at
 * open, distinct from damage) and the nonce lease: every nonce ever used is
 * below the stored high-water mark, and a writer raises it durably before it
 * uses a nonce at or above it, so a nonce never repeats under the data key,
 * across rewrites of a tail block, crashes and reopens. Formats are drawn in
 * ARCHITECTURE.md and at the top of crypto.c.
 */
#ifndef ARM_CRYPTO_H
#define ARM_CRYPTO_H

#include "../common/arm_base.h"
#include "io.h"

#define ARM_CRYPT_NAME     "CRYPT"
#define ARM_CRYPT_SIZE     96u   /* bytes of the CRYPT file */
#define ARM_CRYPT_KEY      32u   /* bytes of a key */
#define ARM_CRYPT_HDR      16u   /* physical block: nonce counter, len, reserved */
#define ARM_CRYPT_TAG      16u   /* physical block: the AEAD tag, last */
#define ARM_CRYPT_BLOCK    (ARM_IO_BLOCK - ARM_CRYPT_HDR - ARM_CRYPT_TAG) /* logical bytes: 4064 */
#define ARM_CRYPT_LEASE    (1ull << 32) /* nonces taken per durable raise of the lease */

/* What a block belongs to, bound into its additional data: a block never
 * decrypts as part of another kind of file. */
#define ARM_CRYPT_KIND_LOG  1u
#define ARM_CRYPT_KIND_HINT 2u

typedef struct arm_crypt arm_crypt;

/* Read a key: 32 bytes from `key` when not NULL, else from the file
 * key_file (exactly 32 raw bytes, or 64 hex digits with an optional trailing
 * newline), else from the environment variable key_env (64 hex digits).
 * *key_out is sodium_malloc memory (arm_crypt_key_free wipes and frees it),
 * or NULL when no source is given. ARM_OK; ARM_MISUSE (a source that holds
 * no valid key, or two sources; the message names the source, never its
 * bytes); ARM_IOERR (the key file cannot be read); ARM_NOMEM. */
ARM_PRIVATE int arm_crypt_key_load(const uint8_t *key, const char *key_file, const char *key_env,
                                   uint8_t **key_out);
ARM_PRIVATE void arm_crypt_key_free(uint8_t *key);

/* Create CRYPT in dir for a new database (db_id) under key with cipher
 * (ARM_CIPHER_*, AUTO: AES-256-GCM where the CPU has it, else
 * XChaCha20-Poly1305), durably (tmp file, fsync, rename, fsync dir), and
 * return the context writing under it. ARM_OK; ARM_MISUSE (AES-256-GCM asked
 * for and unavailable here); ARM_IOERR/ARM_FULL; ARM_NOMEM. Message set. */
ARM_PRIVATE int arm_crypt_create(const char *dir, const uint8_t db_id[16], const uint8_t *key,
                                 int cipher, arm_crypt **crypt_out);
/* Open CRYPT in dir: check it is whole and belongs to db_id (ARM_CORRUPT),
 * that key is its key (ARM_AUTH: wrong key), that the cipher runs here
 * (ARM_MISUSE); a writable open takes a fresh nonce lease (CRYPT rewritten
 * durably). ARM_NOTFOUND when there is no CRYPT; ARM_IOERR; ARM_NOMEM.
 * Message set, never with key bytes. */
ARM_PRIVATE int arm_crypt_open(const char *dir, const uint8_t db_id[16], const uint8_t *key,
                               int writable, arm_crypt **crypt_out);
ARM_PRIVATE void arm_crypt_free(arm_crypt *c);
/* 1 when key is the key c was opened with (its key check matches). */
ARM_PRIVATE int arm_crypt_key_is(const arm_crypt *c, const uint8_t *key);
/* 1 when this CPU runs AES-256-GCM (libsodium's AES-NI/ARM-crypto code). */
#ifndef ARM_AMALGAMATION
ARM_PRIVATE int arm_crypt_aes_available(void);
#endif

/* Encrypt len (1..ARM_CRYPT_BLOCK) bytes of plain as block `block` of file
 * fid (kind ARM_CRYPT_KIND_*) into out[0..4096), under a fresh nonce. May
 * raise the lease (a durable write of CRYPT). Thread-safe. ARM_OK;
 * ARM_IOERR/ARM_FULL (the lease could not be raised: nothing was
 * encrypted). Sets no message. */
ARM_PRIVATE int arm_crypt_seal(arm_crypt *c, uint32_t kind, uint32_t fid, uint64_t block,
                               const uint8_t *plain, uint32_t len, uint8_t out[ARM_IO_BLOCK]);
/* Decrypt physical block in[0..4096) (block `block` of file fid, kind) into
 * plain (room for ARM_CRYPT_BLOCK bytes); *len_out its logical bytes.
 * ARM_CORRUPT when it fails authentication (any byte changed, another key,
 * another file's or position's block, torn) or its padding is not zero.
 * Thread-safe, no I/O. */
ARM_PRIVATE int arm_crypt_open_block(const arm_crypt *c, uint32_t kind, uint32_t fid,
                                     uint64_t block, const uint8_t in[ARM_IO_BLOCK],
                                     uint8_t *plain, uint32_t *len_out);
/* The logical length a physical block's header claims (not authenticated:
 * for sizing only; arm_crypt_open_block decides what is true). 0 when it is
 * out of range. */
ARM_PRIVATE uint32_t arm_crypt_block_len(const uint8_t in[ARM_CRYPT_HDR]);

/* Test seam: when set, called with every nonce a block is sealed under. */
typedef void (*arm_crypt_nonce_fn)(uint32_t kind, uint32_t fid, uint64_t block, uint64_t nonce);
#ifndef ARM_AMALGAMATION
ARM_PRIVATE void arm_crypt_set_nonce_hook(arm_crypt_nonce_fn fn);
#endif

#endif
