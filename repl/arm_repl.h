/* SPDX-License-Identifier: MIT */
/*
 * arm_repl.h: the public contract of armdb replication (one leader, followers
 * over TCP), the part ext/ builds on: log positions, the knobs of a leader or
 * follower (arm_repl_options), error reports, and the shared secret of the
 * optional mutual authentication. The wire protocol itself is private
 * (repl_int.h, drawn in repl_wire.c and ARCHITECTURE.md "Replication").
 * Layer: repl (uses the public engine API only; never SQLite).
 *
 * Ownership: whoever allocates frees, through the paired function; out
 * parameters are set to NULL on entry and filled only on success. Errors are
 * ARM_* codes (arm_base.h); functions that can fail take an arm_repl_err *
 * (may be NULL) that receives the code and a message. Messages never contain
 * secret material.
 */
#ifndef ARM_REPL_H
#define ARM_REPL_H

#include "../common/arm_base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the replication wire protocol spoken by this build. Peers with
 * another version are refused in the handshake, before anything is applied. */
#define ARM_REPL_PROTOCOL_VERSION 1u

/* ------------------------------------------------------------ positions */
/**
 * A place in one shard's log of the leader: just after the transaction whose
 * sequence number is `seq`, at byte `off` of data file `fid`, whose last
 * entry is `len` bytes long (so the leader can check that the entry ending
 * there is the one the position names). (0, 0, 0, 0) is the origin: before
 * the first entry the leader ever wrote. The same fields as the engine's
 * arm_log_pos. A position only means something together with the leader's
 * 16-byte database id and shard, which travel beside it (a follower stores
 * positions per (leader db id, shard)).
 */
typedef struct arm_repl_pos {
    uint64_t seq; /* sequence number of the last transaction before this point */
    uint64_t off; /* byte offset in the data file, just past that transaction */
    uint32_t fid; /* database-wide data-file id */
    uint32_t len; /* bytes of the entry that ends at off (>= 20 unless the origin) */
} arm_repl_pos;

/* -1, 0, 1 as a is before, at, after b in log order (fid, then off). */
int arm_repl_pos_cmp(const arm_repl_pos *a, const arm_repl_pos *b);

/* --------------------------------------------------------------- errors */
#define ARM_REPL_ERRMSG_MAX 256

/* What went wrong, for a caller that wants more than the code. */
typedef struct arm_repl_err {
    int rc;                        /* ARM_* code of the failure (ARM_OK: none) */
    char msg[ARM_REPL_ERRMSG_MAX]; /* NUL-terminated, never contains secrets */
} arm_repl_err;

/* ------------------------------------------------------------- options */
/* Bounds of the options below (arm_repl_options_check enforces them). */
#define ARM_REPL_FOLLOWERS_MAX  1024u
#define ARM_REPL_PAYLOAD_MIN    ((uint32_t)32768)    /* 32 KiB: fits the largest fixed message */
#define ARM_REPL_PAYLOAD_MAX    ((uint32_t)4194304)  /* 4 MiB: frames never carry more */
#define ARM_REPL_TXN_MAX        ((uint64_t)4 << 30)  /* 4 GiB: engine data files are smaller */
#define ARM_REPL_TIMEOUT_MAX_MS ((uint32_t)86400000) /* one day */

/**
 * The knobs of a leader or a follower. Fill with arm_repl_options_init, then
 * change what you need. Strings are borrowed: they must stay valid while the
 * options are used.
 */
typedef struct arm_repl_options {
    uint32_t max_followers;      /* leader: followers served at once, 1..1024; default 8.
                                    One more is refused with an error frame */
    uint32_t heartbeat_ms;       /* a side that sent nothing for this long sends a heartbeat;
                                    default 1000 */
    uint32_t peer_timeout_ms;    /* nothing received for this long: the peer is dead and the
                                    connection is dropped; > 2 * heartbeat_ms; default 5000 */
    uint32_t connect_timeout_ms; /* follower: one TCP connect attempt; default 3000 */
    uint32_t backoff_base_ms;    /* follower: first reconnect delay; default 100 */
    uint32_t backoff_max_ms;     /* follower: delays double up to this; default 10000 */
    uint32_t payload_max;        /* bytes: largest frame payload accepted and sent,
                                    ARM_REPL_PAYLOAD_MIN..ARM_REPL_PAYLOAD_MAX; default 1 MiB.
                                    Larger transactions travel in several frames */
    uint64_t txn_max;            /* bytes: largest transaction (its entries, encoded) a
                                    follower accepts, or a leader may send; 1 KiB..4 GiB;
                                    default 4 GiB (the engine's own bound) */
    const char *secret_file;     /* shared secret: path of a file only its owner can read,
                                    or NULL */
    const char *secret_env;      /* shared secret: name of an environment variable, or NULL.
                                    At most one of the two; neither = no authentication */
} arm_repl_options;

/* Fill *opts with the defaults above. */
void arm_repl_options_init(arm_repl_options *opts);

/**
 * Check every option against its bounds.
 * ARM_OK; ARM_RANGE naming the first bad option and its allowed range;
 * ARM_MISUSE when both secret_file and secret_env are set.
 */
ARM_WARN_UNUSED int arm_repl_options_check(const arm_repl_options *opts, arm_repl_err *err);

/* -------------------------------------------------------------- secret */
/* Length bounds of a shared secret, in bytes. */
#define ARM_REPL_SECRET_MIN 16u
#define ARM_REPL_SECRET_MAX 1024u

/* A loaded shared secret (opaque; its bytes live in sodium_malloc memory,
 * read-only, and are wiped when freed). */
typedef struct arm_repl_secret arm_repl_secret;

/**
 * Load the shared secret from a file or from an environment variable
 * (exactly one of `path` and `env_name` non-NULL). The secret is the file's
 * bytes (one trailing "\n" or "\r\n" dropped, so `echo` works) or the
 * variable's value, ARM_REPL_SECRET_MIN..ARM_REPL_SECRET_MAX bytes. A file
 * must be a regular file that neither group nor others may read or write
 * (chmod 600), the way ssh treats private keys.
 *
 * On ARM_OK *out (owned: arm_repl_secret_free) holds the secret. Otherwise:
 * ARM_MISUSE  both or neither source given;
 * ARM_NOTFOUND the file or the variable does not exist (message names it);
 * ARM_AUTH    the secret is too short or too long, or the file is readable by
 *             others (message names the file or variable and says why);
 * ARM_IOERR   the file could not be read; ARM_NOMEM.
 * Messages name the source, never its content. Thread-safe; blocks on file I/O.
 */
ARM_WARN_UNUSED int arm_repl_secret_load(const char *path, const char *env_name,
                                         arm_repl_secret **out, arm_repl_err *err);

/* Wipe and free a secret. NULL is allowed. */
void arm_repl_secret_free(arm_repl_secret *secret);

#ifdef __cplusplus
}
#endif

#endif /* ARM_REPL_H */
