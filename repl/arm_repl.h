/* SPDX-License-Identifier: MIT */
/*
 * arm_repl.h: the public contract of armdb replication (one leader, followers
 * over TCP), the part ext/ builds on: log positions, the knobs of a leader or
 * follower (arm_repl_options), error reports, the shared secret of the
 * optional mutual authentication, and the leader and follower themselves
 * (arm_repl_serve, arm_repl_follow, their stop and status calls: thin enough
 * that SQL functions can wrap them one to one). The wire protocol itself is private
 * (repl_int.h, drawn in repl_wire.c and ARCHITECTURE.md "Replication").
 * Layer: repl (uses the public engine API only; never SQLite).
 *
 * fork(): a child closes its copies of every socket and eventfd replication
 * opened (a pthread_atfork handler), so a parent's listening port and
 * connections behave as if the child did not exist. A leader or follower
 * made before the fork must never be used, stopped or freed in the child
 * (its threads are the parent's), as with arm_engine_abandon.
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
#include "../engine/arm_engine.h"

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

/* -------------------------------------------------------------- leader */
/* A running leader: a listener thread and one thread per follower. */
typedef struct arm_repl_leader arm_repl_leader;

/**
 * Serve `engine` to followers at `addr` ("host:port", "[v6]:port"; port 0 =
 * any free port, see arm_repl_leader_addr). Binds and listens before it
 * returns; then a listener thread accepts followers (at most
 * opts->max_followers at once: one more gets an ERROR frame saying so and
 * applies nothing) and one thread per follower brings it up to date (from its
 * stored positions, from the origin, or with a snapshot) and streams every
 * published transaction to it. `opts` may be NULL (defaults; borrowed for the
 * call: the strings in it are read here only). `engine` is borrowed: it must
 * stay open until arm_repl_leader_stop has returned.
 *
 * ARM_OK and *leader_out (owned: arm_repl_leader_stop); ARM_RANGE (a bad
 * address or option: err names it); ARM_MISUSE (both secret sources);
 * ARM_NOTFOUND / ARM_AUTH / ARM_IOERR from loading the secret (see
 * arm_repl_secret_load); ARM_IOERR (cannot listen there: the message has the
 * address and the OS error, e.g. the port is in use; or no thread); ARM_NOMEM.
 * Thread-safe; blocks only for name resolution.
 */
ARM_WARN_UNUSED int arm_repl_serve(arm_engine *engine, const char *addr,
                                   const arm_repl_options *opts, arm_repl_leader **leader_out,
                                   arm_repl_err *err);

/* The address really bound, "a.b.c.d:port" or "[v6]:port" (port 0 resolved).
 * Borrowed until arm_repl_leader_stop. Cannot fail. */
const char *arm_repl_leader_addr(const arm_repl_leader *leader);

/* Stop serving: wake every thread wherever it waits (socket, commit watch,
 * snapshot, backoff), join them all, close every connection and free the
 * leader. Followers see the connection close and reconnect (with backoff)
 * until a leader is back. NULL is allowed. Returns within about a second
 * (a thread inside one engine call finishes it first). */
void arm_repl_leader_stop(arm_repl_leader *leader);

/* A leader's counters (arm_repl_leader_stats_get). */
typedef struct arm_repl_leader_stats {
    uint32_t followers;      /* followers admitted now (catching up or streaming) */
    uint64_t sessions;       /* followers admitted since the start */
    uint64_t refused;        /* connections refused: handshake failed, too many followers */
    uint64_t snapshots;      /* snapshots sent (started) */
    uint64_t dropped;        /* admitted sessions that ended in an error (dead or slow follower,
                                bad frame, ...) */
    uint64_t txns_sent;      /* transactions shipped, all sessions */
    uint64_t bytes_sent;     /* bytes written to follower sockets, all sessions */
    arm_repl_err last_error; /* the last session failure (rc ARM_OK: none yet) */
} arm_repl_leader_stats;

/* Fill *out. Thread-safe; cannot fail. */
void arm_repl_leader_stats_get(arm_repl_leader *leader, arm_repl_leader_stats *out);

/**
 * The leader's status as JSON text in *out (NUL-terminated, out->len without
 * the NUL; grown with arm_realloc, owned by the caller: arm_buf_free):
 * {"role":"leader", "address", "db_id", "shards", "last_seq",
 *  "max_followers", "followers" (admitted now), counters, "last_error"
 *  (null or {"code","message"}), "peers": [ per connection: "address",
 *  "state" (handshake | subscribing | snapshot | streaming), "db_id",
 *  "start" (how it was brought up to date), "bytes_sent", "txns_sent",
 *  "lag_entries", "lag_ms", "rtt_ms", "shards": [ per shard "shard",
 *  "sent" and "acked" positions {"seq","fid","off","len"}, "lag_entries",
 *  "lag_ms" ] ]}. lag_entries: transactions shipped and not yet acknowledged
 * as applied; lag_ms: age of the oldest of them (0 when none; an upper
 * bound within a few milliseconds). ARM_OK or ARM_NOMEM. Thread-safe.
 */
ARM_WARN_UNUSED int arm_repl_leader_status_json(arm_repl_leader *leader, arm_buf *out);

/* ------------------------------------------------------------ follower */
/* A running follower: one thread that keeps a session with its leader. */
typedef struct arm_repl_follower arm_repl_follower;

/**
 * Make `engine` follow the leader at `addr`: marks it a follower
 * (arm_engine_set_follower: every write but replication's is refused) and
 * starts a thread that connects (exponential backoff with jitter between
 * attempts, reset only once a session worked), authenticates when a secret
 * is configured, catches up and applies the leader's transactions, each
 * whole, in the leader's commit order, several per atomic engine batch, with
 * the follower's position in every shard stored in the same batch (so a
 * restart resumes exactly: nothing lost, nothing applied twice). A follower
 * whose positions the leader cannot use receives a snapshot: its keys are
 * deleted and the leader's copied (positions marked ARM_REPL_RESYNC until
 * the copy is whole). Any bad frame, refusal or silence (no frame for
 * opts->peer_timeout_ms) ends the session before anything of it is applied;
 * the error is kept (status: last error, with the leader's own text when it
 * refused) and the thread reconnects. `opts` may be NULL (defaults; read here
 * only). `engine` is borrowed: it must stay open until
 * arm_repl_follower_stop has returned; a database follows one leader at a
 * time.
 *
 * ARM_OK and *follower_out (owned: arm_repl_follower_stop); ARM_RANGE (bad
 * address or option); ARM_MISUSE (both secret sources); ARM_NOTFOUND /
 * ARM_AUTH / ARM_IOERR (secret); ARM_IOERR (no thread); ARM_NOMEM. The
 * leader need not be up yet. Thread-safe; blocks only for name resolution.
 */
ARM_WARN_UNUSED int arm_repl_follow(arm_engine *engine, const char *addr,
                                    const arm_repl_options *opts, arm_repl_follower **follower_out,
                                    arm_repl_err *err);

/* Stop following: wake the thread wherever it waits, join it, close the
 * connection, free the follower. What was applied stays, with its positions,
 * so a later arm_repl_follow resumes there. The engine stays marked a
 * follower (arm_engine_set_follower(engine, 0) makes it writable: the caller
 * decides, e.g. when promoting it). NULL is allowed. */
void arm_repl_follower_stop(arm_repl_follower *follower);

/* What a follower's thread is doing. */
enum arm_repl_follower_state {
    ARM_REPL_CONNECTING = 1, /* opening a TCP connection */
    ARM_REPL_HANDSHAKE = 2,  /* hello, authentication, subscriptions */
    ARM_REPL_SNAPSHOT = 3,   /* receiving a copy of the whole database */
    ARM_REPL_STREAMING = 4,  /* up to date or catching up from the leader's log */
    ARM_REPL_BACKOFF = 5,    /* waiting before the next attempt (see last_error) */
    ARM_REPL_STOPPED = 6,    /* the thread has ended */
};

/* A follower's counters (arm_repl_follower_stats_get). */
typedef struct arm_repl_follower_stats {
    int state;                /* enum arm_repl_follower_state */
    uint64_t connects;        /* TCP connections made */
    uint64_t sessions;        /* sessions that got to streaming */
    uint64_t snapshots;       /* snapshots begun (SNAP_BEGIN received) */
    uint64_t snapshots_done;  /* snapshots applied whole */
    uint64_t errors;          /* sessions or attempts that ended in an error */
    uint64_t txns;            /* leader transactions applied, all sessions */
    uint64_t applies;         /* engine batches (arm_engine_apply calls) that carried them */
    uint64_t bytes_received;  /* bytes read from leader sockets, all sessions */
    uint64_t leader_last_seq; /* the leader's last heartbeat: its newest sequence number */
    uint64_t lag_ms;          /* 0 when what the leader's newest heartbeat announced is
                                 applied; else the age of the oldest heartbeat whose
                                 announcement is not yet applied */
    int has_leader;           /* leader_id is set (a session got past its handshake) */
    uint8_t leader_id[16];    /* database id of the leader of the last session */
    arm_repl_err last_error;  /* the last failure (rc ARM_OK: none yet) */
} arm_repl_follower_stats;

/* Fill *out. Thread-safe; cannot fail. */
void arm_repl_follower_stats_get(arm_repl_follower *follower, arm_repl_follower_stats *out);

/**
 * The follower's status as JSON text in *out (as arm_repl_leader_status_json):
 * {"role":"follower", "leader" (address), "state", "leader_db_id" (null before
 * a first handshake), counters, "leader_last_seq", "lag_ms", "lag_seq" (the
 * leader's newest sequence number minus the newest applied, 0 when
 * covered), "last_error", "shards": [ per shard "shard" and the stored
 * position: "leader_db_id", "position" {"seq","fid","off","len"} (null when
 * none is stored), "resync" ]}. ARM_OK or ARM_NOMEM. Thread-safe.
 */
ARM_WARN_UNUSED int arm_repl_follower_status_json(arm_repl_follower *follower, arm_buf *out);

#ifdef __cplusplus
}
#endif

#endif /* ARM_REPL_H */
