/* SPDX-License-Identifier: MIT */
/*
 * repl_auth.c: the shared secret and the proofs of the mutual handshake; the
 * only repl file that includes sodium.h. The secret lives in sodium_malloc
 * memory (guard pages, not swapped out, read-only once loaded), is wiped with
 * sodium_memzero, and never appears in a message, a log or an error: errors
 * name the file or the variable, never the bytes. Every intermediate that
 * depends on the secret (HMAC state, expected proof) is wiped before return.
 * Layer: repl.
 *
 * Proof of role R (1 leader, 2 follower) in one handshake:
 *   HMAC-SHA512-256(key = secret,
 *                   "armdb-repl-auth-v1" (18 bytes) || R (1 byte) ||
 *                   follower HELLO payload (96) || leader HELLO payload (96))
 * Both hellos carry a fresh 32-byte nonce, so a proof is bound to this
 * session (a replayed one fails) and to its role (a proof reflected back to
 * its sender fails), and to every handshake field (ids, shard count, bounds).
 */
#include "repl_int.h"
#include "../common/arm_alloc.h"

#include <sodium.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(REPL_PROOF_BYTES == crypto_auth_hmacsha512256_BYTES, "proof size");

struct arm_repl_secret {
    uint8_t *bytes; /* sodium_malloc, read-only after load */
    size_t len;
};

static const char ra_label[] = "armdb-repl-auth-v1";

static int ra_init(arm_repl_err *err) {
    if (sodium_init() < 0)
        return REPL_ERR(err, ARM_ERROR, "replication: libsodium could not be initialised");
    return ARM_OK;
}

/* A new secret with room for cap bytes (len 0). */
static int ra_alloc(size_t cap, arm_repl_secret **out, arm_repl_err *err) {
    arm_repl_secret *s = arm_calloc(1, sizeof(*s));
    if (s != NULL) s->bytes = sodium_malloc(cap);
    if (s == NULL || s->bytes == NULL) {
        arm_free(s);
        (void)REPL_ERR(err, ARM_NOMEM, "replication secret: out of memory");
        return ARM_NOMEM;
    }
    *out = s;
    return ARM_OK;
}

void arm_repl_secret_free(arm_repl_secret *s) {
    if (s == NULL) return;
    if (s->bytes != NULL) {
        (void)sodium_mprotect_readwrite(s->bytes);
        sodium_memzero(s->bytes, s->len);
        sodium_free(s->bytes); /* also wipes the whole allocation */
    }
    arm_free(s);
}

/* Length bounds, shared by both sources; `what` names the source. */
static int ra_check_len(size_t len, const char *kind, const char *what, arm_repl_err *err) {
    if (len < ARM_REPL_SECRET_MIN)
        return REPL_ERR(err, ARM_AUTH, "replication secret %s %s is too short (at least %u bytes)",
                        kind, what, ARM_REPL_SECRET_MIN);
    if (len > ARM_REPL_SECRET_MAX)
        return REPL_ERR(err, ARM_AUTH, "replication secret %s %s is too long (at most %u bytes)",
                        kind, what, ARM_REPL_SECRET_MAX);
    return ARM_OK;
}

/* Read all of fd into s->bytes (capacity cap); *too_long when more followed. */
static int ra_read_all(int fd, arm_repl_secret *s, size_t cap, int *too_long) {
    *too_long = 0;
    while (s->len < cap) {
        ssize_t n = read(fd, s->bytes + s->len, cap - s->len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return 0;
        s->len += (size_t)n;
    }
    uint8_t extra;
    ssize_t n;
    do
        n = read(fd, &extra, 1);
    while (n < 0 && errno == EINTR);
    sodium_memzero(&extra, sizeof(extra));
    if (n < 0) return -1;
    *too_long = n > 0;
    return 0;
}

/* The file opened on fd is a regular file only its owner can read or write. */
static int ra_check_file(int fd, const char *path, arm_repl_err *err) {
    struct stat st;
    if (fstat(fd, &st) != 0)
        return REPL_ERR(err, ARM_IOERR, "replication secret file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return REPL_ERR(err, ARM_AUTH, "replication secret file %s is not a regular file", path);
    if ((st.st_mode & 066) != 0)
        return REPL_ERR(err, ARM_AUTH,
                        "replication secret file %s is accessible by other users "
                        "(mode %04o); chmod 600 it",
                        path, (unsigned)(st.st_mode & 07777));
    return ARM_OK;
}

static int ra_load_file(const char *path, arm_repl_secret **out, arm_repl_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        return REPL_ERR(err, e == ENOENT ? ARM_NOTFOUND : ARM_IOERR,
                        "replication secret file %s: %s", path, strerror(e));
    }
    arm_repl_secret *s = NULL;
    int too_long = 0;
    int rc = ra_check_file(fd, path, err);
    if (rc == ARM_OK) rc = ra_alloc(ARM_REPL_SECRET_MAX + 2, &s, err);
    if (rc == ARM_OK && ra_read_all(fd, s, ARM_REPL_SECRET_MAX + 2, &too_long) != 0)
        rc = REPL_ERR(err, ARM_IOERR, "replication secret file %s: %s", path, strerror(errno));
    if (rc == ARM_OK && too_long)
        rc = REPL_ERR(err, ARM_AUTH, "replication secret file %s is too long (at most %u bytes)",
                      path, ARM_REPL_SECRET_MAX);
    if (rc == ARM_OK) {
        /* one trailing newline is not part of the secret (echo adds it) */
        if (s->len > 0 && s->bytes[s->len - 1] == '\n') s->bytes[--s->len] = 0;
        if (s->len > 0 && s->bytes[s->len - 1] == '\r') s->bytes[--s->len] = 0;
        rc = ra_check_len(s->len, "file", path, err);
    }
    close(fd);
    if (rc != ARM_OK) {
        arm_repl_secret_free(s);
        return rc;
    }
    *out = s;
    return ARM_OK;
}

static int ra_load_env(const char *name, arm_repl_secret **out, arm_repl_err *err) {
    const char *v = getenv(name);
    if (v == NULL)
        return REPL_ERR(err, ARM_NOTFOUND, "replication secret variable %s is not set", name);
    size_t len = strlen(v);
    int rc = ra_check_len(len, "variable", name, err);
    arm_repl_secret *s = NULL;
    if (rc == ARM_OK) rc = ra_alloc(len, &s, err);
    if (rc != ARM_OK) return rc;
    memcpy(s->bytes, v, len);
    s->len = len;
    *out = s;
    return ARM_OK;
}

int arm_repl_secret_load(const char *path, const char *env_name, arm_repl_secret **out,
                         arm_repl_err *err) {
    assert(out != NULL);
    *out = NULL;
    if ((path == NULL) == (env_name == NULL))
        return REPL_ERR(err, ARM_MISUSE, "replication secret: give a file or a variable, not %s",
                        path ? "both" : "neither");
    int rc = ra_init(err);
    if (rc != ARM_OK) return rc;
    rc = path ? ra_load_file(path, out, err) : ra_load_env(env_name, out, err);
    if (rc == ARM_OK && ARM_ALWAYS(*out != NULL)) {
        assert((*out)->len >= ARM_REPL_SECRET_MIN && (*out)->len <= ARM_REPL_SECRET_MAX);
        (void)sodium_mprotect_readonly((*out)->bytes);
    }
    return rc;
}

/* -------------------------------------------------------------- proofs */
int repl_auth_nonce(uint8_t nonce[REPL_NONCE_BYTES]) {
    int rc = ra_init(NULL);
    if (rc != ARM_OK) return ARM_ERR(rc);
    do
        randombytes_buf(nonce, REPL_NONCE_BYTES);
    while (sodium_is_zero(nonce, REPL_NONCE_BYTES)); /* zero means "no nonce" on the wire */
    return ARM_OK;
}

void repl_auth_proof(const arm_repl_secret *secret, uint8_t role,
                     const uint8_t f_hello[REPL_HELLO_SIZE], const uint8_t l_hello[REPL_HELLO_SIZE],
                     uint8_t proof[REPL_PROOF_BYTES]) {
    assert(secret != NULL);
    assert(role == REPL_ROLE_LEADER || role == REPL_ROLE_FOLLOWER);
    crypto_auth_hmacsha512256_state st;
    crypto_auth_hmacsha512256_init(&st, secret->bytes, secret->len);
    crypto_auth_hmacsha512256_update(&st, (const uint8_t *)ra_label, sizeof(ra_label) - 1);
    crypto_auth_hmacsha512256_update(&st, &role, 1);
    crypto_auth_hmacsha512256_update(&st, f_hello, REPL_HELLO_SIZE);
    crypto_auth_hmacsha512256_update(&st, l_hello, REPL_HELLO_SIZE);
    crypto_auth_hmacsha512256_final(&st, proof);
    sodium_memzero(&st, sizeof(st));
}

int repl_auth_verify(const arm_repl_secret *secret, uint8_t role,
                     const uint8_t f_hello[REPL_HELLO_SIZE], const uint8_t l_hello[REPL_HELLO_SIZE],
                     const uint8_t proof[REPL_PROOF_BYTES]) {
    uint8_t want[REPL_PROOF_BYTES];
    repl_auth_proof(secret, role, f_hello, l_hello, want);
    int ok = crypto_verify_32(want, proof) == 0;
    sodium_memzero(want, sizeof(want));
    return ok ? ARM_OK : ARM_ERR(ARM_AUTH);
}
