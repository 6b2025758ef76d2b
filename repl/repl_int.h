/* SPDX-License-Identifier: MIT */
/*
 * repl_int.h: private interfaces of the replication layer, shared by the repl/ sources
 * and visible to tests (-DARM_TEST):
 *   repl_wire.c       frame and message encode/decode, pure (no I/O, fuzzed)
 *   repl_handshake.c  the handshake as a pure state machine (fuzzed)
 *   repl_auth.c       shared secret and proofs (the only sodium.h user)
 *   repl_net.c        addresses, sockets, wake-up, connect with backoff; every
 *                     descriptor, closed in a fork()ed child
 *   repl_stream.c     framed I/O over a socket, heartbeats, the fault hook
 *   repl_opts.c       options, error reports, positions
 *   repl_status.c     the JSON text of status reports
 *   repl_leader.c     the leader: listener thread, one session thread per follower
 *   repl_follower.c   the follower: one thread, connect, catch up, apply
 * The wire format is drawn byte by byte at the top of repl_wire.c and in
 * ARCHITECTURE.md ("Replication"). All integers are little-endian.
 */
#ifndef ARM_REPL_INT_H
#define ARM_REPL_INT_H

#include "arm_repl.h"

#include <sys/socket.h>

/* ------------------------------------------------------------- errors */
/* Record rc and a formatted message in *err (err may be NULL); returns rc.
 * Use REPL_ERR to raise (it goes through ARM_ERR, the breakpoint). */
ARM_PRIVATE int repl_err_set(arm_repl_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Functions only the tests call (fault hooks, helpers kept for their unit
 * tests): unused, and so static and unreferenced, in the amalgamation. */
#define REPL_TEST_SEAM __attribute__((unused))

#define REPL_ERR(err, rc, ...) repl_err_set((err), ARM_ERR(rc), __VA_ARGS__)

/* A wait ran out of time and nothing was consumed: try again or give up.
 * (No dedicated code exists; BUSY reads "try again" everywhere else too.) */
#define REPL_TIMEOUT ARM_BUSY

/* ---------------------------------------------------------- constants */
#define REPL_FRAME_HDR     16u     /* frame header bytes */
#define REPL_SHARD_CONN    0xFFFFu /* shard field of a frame about the whole connection */
#define REPL_SHARDS_MAX    1024u   /* = the engine's ARM_SHARDS_MAX (checked in tests) */
#define REPL_ENGINE_FORMAT 1u      /* = the engine's ARM_FORMAT_VERSION (checked in tests) */
#define REPL_DBID_BYTES    16u
#define REPL_NONCE_BYTES   32u
#define REPL_PROOF_BYTES   32u /* crypto_auth_hmacsha512256_BYTES */
#define REPL_HELLO_SIZE    96u
#define REPL_HELLO_MIN     12u   /* magic + versions: enough to say "wrong version" */
#define REPL_HELLO_MAX     1024u /* a later version's hello may be longer, not longer than this */
#define REPL_POS_SIZE      24u
#define REPL_PART_HDR      48u /* TXN / SNAP_CHUNK payload header */
#define REPL_ENTRY_HDR     8u  /* entry header inside a TXN / SNAP_CHUNK stream */
#define REPL_KEY_MAX       65535u
#define REPL_ERRTEXT_MAX   240u                /* bytes of text in an ERROR frame */
#define REPL_SEQ_MAX       ((uint64_t)1 << 62) /* = the engine's ARM_SEQ_MAX */
#define REPL_TXN_MIN       1024u               /* smallest txn_max an option may set */
#define REPL_LOG_ENTRY_MIN 20u /* = the engine's ARM_ENTRY_HEADER: the smallest log entry */

_Static_assert(REPL_HELLO_SIZE <= REPL_HELLO_MAX, "hello fits its bound");
_Static_assert(24u + REPL_POS_SIZE * REPL_SHARDS_MAX <= ARM_REPL_PAYLOAD_MIN,
               "the largest SNAP_BEGIN fits the smallest payload bound");
_Static_assert(REPL_PART_HDR + REPL_ENTRY_HDR + 1 < ARM_REPL_PAYLOAD_MIN, "a part carries bytes");

/* Message types (frame byte 4). */
enum repl_msg_type {
    REPL_MSG_HELLO = 1,       /* both       conn   handshake: versions, ids, shard count */
    REPL_MSG_AUTH = 2,        /* both       conn   proof of the shared secret */
    REPL_MSG_SUBSCRIBE = 3,   /* follower   shard  stream this shard from a position */
    REPL_MSG_START = 4,       /* leader     shard  streaming of this shard starts here */
    REPL_MSG_TXN = 5,         /* leader     shard  one published transaction (or a part) */
    REPL_MSG_ACK = 6,         /* follower   shard  applied up to a position */
    REPL_MSG_HEARTBEAT = 7,   /* both       conn   liveness, clocks, leader's last seq */
    REPL_MSG_ERROR = 8,       /* both       conn   refusal: code + text; the sender closes */
    REPL_MSG_SNAP_BEGIN = 9,  /* leader     conn   a snapshot follows; positions at its cut */
    REPL_MSG_SNAP_CHUNK = 10, /* leader     conn   live entries of the snapshot (or a part) */
    REPL_MSG_SNAP_END = 11,   /* leader     conn   end of snapshot: counts */
    REPL_MSG_TYPE_MAX = 11,
};

enum repl_role { REPL_ROLE_LEADER = 1, REPL_ROLE_FOLLOWER = 2 };

/* HELLO flags. */
#define REPL_HELLO_AUTH     0x01u /* the sender has a secret: nonce set, proofs follow */
#define REPL_HELLO_HAVE_POS 0x02u /* follower: holds positions for leader peer_db_id */
#define REPL_HELLO_EMPTY    0x04u /* follower: its database holds no keys at all */
#define REPL_HELLO_FLAGS    0x07u
/* SUBSCRIBE flags. */
#define REPL_SUB_HAVE_POS 0x01u /* pos is where this follower stands for this shard */
#define REPL_SUB_FLAGS    0x01u

#define REPL_ENTRY_PUT 1
#define REPL_ENTRY_DEL 2

/* ------------------------------------------------------------- frames */
/* A decoded frame header. */
typedef struct repl_frame_hdr {
    uint32_t len;    /* payload bytes */
    uint8_t type;    /* enum repl_msg_type */
    uint8_t flags;   /* 0 (reserved) */
    uint16_t shard;  /* shard, or REPL_SHARD_CONN */
    uint32_t pcheck; /* payload checksum (low 32 bits) */
} repl_frame_hdr;

/* A frame: header plus its payload (borrowed from the buffer it was decoded
 * from, until that buffer changes). */
typedef struct repl_frame {
    repl_frame_hdr hdr;
    const uint8_t *payload;
} repl_frame;

/* 1 if messages of this type are about one shard, 0 if about the connection. */
ARM_PRIVATE int repl_wire_type_is_shard(uint8_t type);
/* Name of a message type ("TXN"), "?" when unknown. */
ARM_PRIVATE const char *repl_wire_type_name(uint8_t type);

/* Append one whole frame (header + payload) to out. ARM_OK, ARM_NOMEM. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_wire_frame_append(arm_buf *out, uint8_t type, uint16_t shard,
                                                       const void *payload, uint32_t len);

/**
 * Decode and check a 16-byte frame header: header checksum, flags zero, a
 * known type, a shard field that fits the type, and a payload length within
 * payload_max and within the type's own bounds, all before any payload byte
 * is read or any memory is reserved for it. ARM_OK or ARM_PROTOCOL.
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_wire_hdr_decode(const uint8_t *p, uint32_t payload_max,
                                                     repl_frame_hdr *out, arm_repl_err *err);

/**
 * Decode one frame from the start of p[0..n): header checks as above, then
 * the payload checksum. ARM_OK with *out (payload borrowed from p) and *used
 * (bytes of the frame); ARM_NOTFOUND when p holds only part of a frame (*used
 * = bytes the whole frame needs, or REPL_FRAME_HDR while the header is
 * incomplete); ARM_PROTOCOL.
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_wire_frame_decode(const uint8_t *p, size_t n,
                                                       uint32_t payload_max, repl_frame *out,
                                                       size_t *used, arm_repl_err *err);

/* ----------------------------------------------------------- messages */
typedef struct repl_hello {
    uint16_t proto;                      /* protocol version */
    uint16_t engine_fmt;                 /* engine format version */
    uint8_t role;                        /* enum repl_role of the sender */
    uint8_t flags;                       /* REPL_HELLO_* */
    uint32_t shard_count;                /* 1..REPL_SHARDS_MAX */
    uint32_t payload_max;                /* largest payload the sender accepts */
    uint64_t txn_max;                    /* leader: may send; follower: accepts (bytes) */
    uint8_t db_id[REPL_DBID_BYTES];      /* sender's database id (not all zero) */
    uint8_t peer_db_id[REPL_DBID_BYTES]; /* follower with HAVE_POS: the leader its positions
                                            are for; otherwise zero */
    uint8_t nonce[REPL_NONCE_BYTES];     /* with AUTH: random; otherwise zero */
} repl_hello;

typedef struct repl_subscribe {
    uint32_t flags;   /* REPL_SUB_* */
    arm_repl_pos pos; /* with HAVE_POS; otherwise zero */
} repl_subscribe;

typedef struct repl_ack {
    arm_repl_pos pos; /* applied (and stored) up to here */
    uint64_t applied; /* transactions applied on this shard since the connection began */
} repl_ack;

typedef struct repl_heartbeat {
    uint64_t now_ms;   /* sender's monotonic clock */
    uint64_t echo_ms;  /* now_ms of the last heartbeat received from the peer (0: none) */
    uint64_t last_seq; /* leader: highest published sequence number; follower: 0 */
} repl_heartbeat;

typedef struct repl_error_msg {
    uint32_t code;                   /* ARM_* code the sender failed with (non-zero) */
    char text[REPL_ERRTEXT_MAX + 1]; /* printable ASCII, NUL-terminated */
} repl_error_msg;

typedef struct repl_snap_begin {
    uint64_t snap_id;       /* chosen by the leader, non-zero */
    uint64_t keys;          /* live keys at the cut (informational) */
    uint32_t shard_count;   /* positions that follow */
    const uint8_t *pos_raw; /* shard_count encoded positions, borrowed from the frame */
} repl_snap_begin;

typedef struct repl_snap_end {
    uint64_t snap_id;
    uint64_t chunks;  /* SNAP_CHUNK messages sent (whole, not parts) */
    uint64_t entries; /* entries in them */
} repl_snap_end;

/* One part of a TXN or SNAP_CHUNK message. The message is a stream of
 * `total` bytes of entries (`count` of them), cut into parts of at most one
 * payload each; this part holds bytes [part_off, part_off + bytes.len). */
typedef struct repl_part {
    uint8_t type;       /* REPL_MSG_TXN or REPL_MSG_SNAP_CHUNK */
    uint16_t shard;     /* TXN: the shard; SNAP_CHUNK: REPL_SHARD_CONN */
    arm_repl_pos after; /* TXN: position after the transaction (seq = its sequence) */
    uint64_t snap_id;   /* SNAP_CHUNK */
    uint64_t chunk_no;  /* SNAP_CHUNK: 0, 1, 2, ... */
    uint32_t count;     /* entries in the whole message (>= 1) */
    uint64_t total;     /* bytes of the whole entry stream */
    uint64_t part_off;  /* where this part's bytes start in it */
    arm_slice bytes;    /* borrowed from the frame */
} repl_part;

/* Encoders append one whole frame to out: ARM_OK or ARM_NOMEM. They assert
 * (and refuse with ARM_MISUSE in release builds) values a decoder would
 * reject, so what we send always decodes. Decoders take a frame whose header
 * was checked (repl_wire_frame_decode), check the type, the exact length,
 * reserved bytes (zero) and every field's range: ARM_OK or ARM_PROTOCOL. */
ARM_WARN_UNUSED ARM_PRIVATE REPL_TEST_SEAM int repl_msg_hello_encode(arm_buf *out,
                                                                     const repl_hello *h);
/* Also the raw form the proofs cover: 96 bytes into raw. */
ARM_PRIVATE void repl_msg_hello_raw(const repl_hello *h, uint8_t raw[REPL_HELLO_SIZE]);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_hello_decode(const repl_frame *f, repl_hello *out,
                                                      arm_repl_err *err);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_auth_encode(arm_buf *out,
                                                     const uint8_t proof[REPL_PROOF_BYTES]);
ARM_WARN_UNUSED ARM_PRIVATE int
repl_msg_auth_decode(const repl_frame *f, uint8_t proof[REPL_PROOF_BYTES], arm_repl_err *err);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_subscribe_encode(arm_buf *out, uint16_t shard,
                                                          const repl_subscribe *s);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_subscribe_decode(const repl_frame *f, repl_subscribe *out,
                                                          arm_repl_err *err);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_start_encode(arm_buf *out, uint16_t shard,
                                                      const arm_repl_pos *pos);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_start_decode(const repl_frame *f, arm_repl_pos *out,
                                                      arm_repl_err *err);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_ack_encode(arm_buf *out, uint16_t shard,
                                                    const repl_ack *a);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_ack_decode(const repl_frame *f, repl_ack *out,
                                                    arm_repl_err *err);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_heartbeat_encode(arm_buf *out, const repl_heartbeat *h);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_heartbeat_decode(const repl_frame *f, repl_heartbeat *out,
                                                          arm_repl_err *err);
/* text: any bytes; non-printable ones are sent as '?', and it is cut at
 * REPL_ERRTEXT_MAX. code must be non-zero. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_error_encode(arm_buf *out, int code, const char *text);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_error_decode(const repl_frame *f, repl_error_msg *out,
                                                      arm_repl_err *err);
/* pos: shard_count positions. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_snap_begin_encode(arm_buf *out, uint64_t snap_id,
                                                           uint64_t keys, uint32_t shard_count,
                                                           const arm_repl_pos *pos);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_snap_begin_decode(const repl_frame *f,
                                                           repl_snap_begin *out, arm_repl_err *err);
/* Position of shard i (< b->shard_count) of a decoded SNAP_BEGIN. */
ARM_PRIVATE void repl_snap_begin_pos(const repl_snap_begin *b, uint32_t i, arm_repl_pos *out);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_snap_end_encode(arm_buf *out, const repl_snap_end *e);
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_snap_end_decode(const repl_frame *f, repl_snap_end *out,
                                                         arm_repl_err *err);
/* TXN or SNAP_CHUNK: the part's fields; checks part_off + bytes <= total,
 * count <= total / (REPL_ENTRY_HDR + 1), positions and sequence in range. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_msg_part_decode(const repl_frame *f, repl_part *out,
                                                     arm_repl_err *err);

/* ------------------------------------------------------------ entries */
/* One operation of a transaction or snapshot chunk (borrowed slices). */
typedef struct repl_entry {
    uint8_t type;  /* REPL_ENTRY_PUT or REPL_ENTRY_DEL */
    arm_slice key; /* 1..65535 bytes */
    arm_slice val; /* PUT: the value (may be empty); DEL: empty */
} repl_entry;

/* Encoded size of one entry. */
static inline uint64_t repl_entry_size(const repl_entry *e) {
    return REPL_ENTRY_HDR + (uint64_t)e->key.len + (uint64_t)e->val.len;
}

/**
 * Check that bytes[0..len) is exactly `count` well-formed entries (type PUT
 * or DELETE, flags zero, key 1..65535 bytes, no value on a DELETE; with
 * puts_only, PUTs only), nothing left over. ARM_OK or ARM_PROTOCOL naming
 * the entry and what is wrong. Run before anything is applied.
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_entries_check(arm_slice bytes, uint32_t count, int puts_only,
                                                   arm_repl_err *err);

/* Walk entries that passed repl_entries_check. */
typedef struct repl_entry_iter {
    arm_slice bytes;
    size_t off;
    uint32_t left;
} repl_entry_iter;
ARM_PRIVATE void repl_entry_iter_init(repl_entry_iter *it, arm_slice bytes, uint32_t count);
/* 1 and *e (borrowed from bytes) for the next entry, 0 at the end. */
ARM_PRIVATE int repl_entry_iter_next(repl_entry_iter *it, repl_entry *e);

/* --------------------------------------------- part encoder, assembler */
/**
 * Encodes a transaction (TXN) or a snapshot chunk (SNAP_CHUNK) as one or
 * more frames of at most payload_max payload bytes each, one frame per call,
 * reading keys and values from the caller's entries (borrowed: they must stay
 * valid until the last frame is out). No allocation besides out's growth.
 */
typedef struct repl_part_enc {
    uint8_t type; /* REPL_MSG_TXN or REPL_MSG_SNAP_CHUNK */
    uint16_t shard;
    arm_repl_pos after;         /* TXN */
    uint64_t snap_id, chunk_no; /* SNAP_CHUNK */
    const repl_entry *entries;  /* borrowed */
    uint32_t count;
    uint64_t total; /* bytes of the entry stream */
    uint64_t done;  /* bytes of it already framed */
    uint32_t idx;   /* entry being copied */
    uint64_t ioff;  /* bytes of that entry already copied */
} repl_part_enc;

/* Start a TXN (after->seq is the transaction's sequence number) or a
 * SNAP_CHUNK (PUTs only). ARM_OK; ARM_MISUSE for an empty list or a bad
 * entry; ARM_TOOBIG when the stream would pass ARM_REPL_TXN_MAX. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_part_enc_txn(repl_part_enc *enc, uint16_t shard,
                                                  const arm_repl_pos *after,
                                                  const repl_entry *entries, uint32_t count,
                                                  arm_repl_err *err);
ARM_WARN_UNUSED ARM_PRIVATE int repl_part_enc_snap(repl_part_enc *enc, uint64_t snap_id,
                                                   uint64_t chunk_no, const repl_entry *entries,
                                                   uint32_t count, arm_repl_err *err);
/* Append the next frame; *more = 1 while frames remain. ARM_OK, ARM_NOMEM. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_part_enc_next(repl_part_enc *enc, arm_buf *out,
                                                   uint32_t payload_max, int *more);

/**
 * Reassembles the parts of TXN / SNAP_CHUNK messages on the receiving side.
 * Parts of one message arrive back to back (only connection-level frames
 * such as HEARTBEAT may come between them); every part must repeat the first
 * part's fields and continue exactly where the previous one ended. A message
 * in one frame is not copied. Nothing is handed out before the whole
 * message is there and its entries passed repl_entries_check.
 */
typedef struct repl_asm {
    uint64_t txn_max; /* largest stream accepted (bytes) */
    int active;       /* parts of a message are being collected */
    int complete;     /* the message in `head`/`bytes` is whole and checked */
    repl_part head;   /* fields of the message (head.bytes is the whole stream once complete) */
    uint64_t have;    /* bytes collected so far */
    arm_buf buf;      /* collected bytes of a multi-part message (reused) */
} repl_asm;

ARM_PRIVATE void repl_asm_init(repl_asm *a, uint64_t txn_max);
/* Drop any partial message (the buffer is kept for reuse). */
ARM_PRIVATE void repl_asm_reset(repl_asm *a);
ARM_PRIVATE void repl_asm_free(repl_asm *a);
/**
 * Take one part. On ARM_OK, *complete is 1 when the message is whole: then
 * a->head describes it and a->head.bytes (borrowed until the next feed, the
 * reset, or the frame's buffer changing) holds all its entries, checked.
 * ARM_PROTOCOL (out-of-order or inconsistent part, over txn_max, bad
 * entries; the partial message is dropped), ARM_NOMEM.
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_asm_feed(repl_asm *a, const repl_part *p, int *complete,
                                              arm_repl_err *err);
/* 1 while a message is partly collected (a TXN or SNAP_CHUNK must come next). */
static inline int repl_asm_pending(const repl_asm *a) {
    return a->active;
}

/* ---------------------------------------------------- session checks */
/* The frame may be received by `role` (direction of its type). ARM_OK or
 * ARM_PROTOCOL ("a follower does not send TXN"). */
ARM_WARN_UNUSED ARM_PRIVATE int repl_wire_check_direction(uint8_t type, uint8_t receiver_role,
                                                          arm_repl_err *err);
/* A shard-level frame names a shard below shard_count. ARM_OK or ARM_PROTOCOL
 * ("TXN for shard 99, the leader has 2 shards"). */
ARM_WARN_UNUSED ARM_PRIVATE int repl_wire_check_shard(const repl_frame_hdr *h, uint32_t shard_count,
                                                      arm_repl_err *err);
/* A shard-level frame belongs to the stream of shard `expected`. */
ARM_WARN_UNUSED ARM_PRIVATE REPL_TEST_SEAM int
repl_wire_check_stream(const repl_frame_hdr *h, uint16_t expected, arm_repl_err *err);
/* The next transaction of a shard comes strictly after the previous position
 * (sequence number and log place both move forward): a repeated or reordered
 * transaction is ARM_PROTOCOL, never applied twice. */
ARM_WARN_UNUSED ARM_PRIVATE int
repl_wire_check_txn_order(const arm_repl_pos *prev, const arm_repl_pos *next, arm_repl_err *err);
/**
 * Can a session with this peer go on? `mine` is what we sent, `peer` what we
 * received. Checks roles (one leader, one follower), engine format, shard
 * count, distinct database ids, authentication on both sides or on neither,
 * and (follower) that the leader's transactions fit our txn_max. ARM_OK;
 * ARM_PROTOCOL or ARM_AUTH with a message that says which side has what.
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_wire_check_hello(const repl_hello *mine,
                                                      const repl_hello *peer, arm_repl_err *err);
/* After a good handshake (follower hello `f`, leader hello `l`): 1 when the
 * follower's positions belong to this leader and may be used. */
ARM_PRIVATE int repl_hello_positions_valid(const repl_hello *f, const repl_hello *l);

/* Positions on the wire (24 bytes), shared by the messages above. */
ARM_PRIVATE void repl_wire_pos_put(uint8_t *p, const arm_repl_pos *pos);
ARM_PRIVATE void repl_wire_pos_get(const uint8_t *p, arm_repl_pos *pos);
/* 1 when pos can be a position: the origin (all zero), or seq in [1, 2^62),
 * fid >= 1 and REPL_LOG_ENTRY_MIN <= len <= off. */
ARM_PRIVATE int repl_pos_valid(const arm_repl_pos *pos);

/* ------------------------------------------------------- authentication */
/* Random bytes for a handshake nonce (libsodium's CSPRNG). ARM_OK, or
 * ARM_ERROR when libsodium cannot be initialised. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_auth_nonce(uint8_t nonce[REPL_NONCE_BYTES]);
/**
 * The proof `role` (enum repl_role) gives of knowing the secret in this
 * handshake: HMAC-SHA512-256 keyed with the secret over a domain label, the
 * role, and both hellos as sent (follower's first), so it is bound to both
 * nonces and every handshake field: a proof replayed from another session,
 * or reflected back with the other role, does not verify.
 */
ARM_PRIVATE void repl_auth_proof(const arm_repl_secret *secret, uint8_t role,
                                 const uint8_t f_hello[REPL_HELLO_SIZE],
                                 const uint8_t l_hello[REPL_HELLO_SIZE],
                                 uint8_t proof[REPL_PROOF_BYTES]);
/* Constant-time check of a received proof. ARM_OK or ARM_AUTH. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_auth_verify(const arm_repl_secret *secret, uint8_t role,
                                                 const uint8_t f_hello[REPL_HELLO_SIZE],
                                                 const uint8_t l_hello[REPL_HELLO_SIZE],
                                                 const uint8_t proof[REPL_PROOF_BYTES]);

/* ------------------------------------------------------------ handshake */
/* What one side brings to a handshake. */
typedef struct repl_hs_cfg {
    uint8_t role;                   /* enum repl_role */
    uint8_t db_id[REPL_DBID_BYTES]; /* our database id */
    uint32_t shard_count;
    int have_pos;                          /* follower: positions for leader_db_id are stored */
    uint8_t leader_db_id[REPL_DBID_BYTES]; /* follower with have_pos */
    int empty;                             /* follower: our database holds no keys */
    uint32_t payload_max;                  /* largest payload we accept */
    uint64_t txn_max;                      /* bytes: leader sends / follower accepts at most */
    const arm_repl_secret *secret;         /* borrowed; NULL = no authentication */
} repl_hs_cfg;

enum repl_hs_state {
    REPL_HS_HELLO = 1,  /* waiting for the peer's HELLO */
    REPL_HS_AUTH = 2,   /* waiting for the peer's AUTH */
    REPL_HS_DONE = 3,   /* both sides accepted each other */
    REPL_HS_FAILED = 4, /* refused; an ERROR frame for the peer was queued */
};

/* The handshake as a pure state machine: it consumes frames and queues the
 * frames to send in `out`; repl_stream.c drives it over a socket, the fuzzer
 * and the tests drive two of them against each other. */
typedef struct repl_hs {
    repl_hs_cfg cfg;
    int state;                       /* enum repl_hs_state */
    uint8_t mine[REPL_HELLO_SIZE];   /* our hello as sent */
    uint8_t theirs[REPL_HELLO_SIZE]; /* the peer's hello as received */
    repl_hello me, peer;             /* decoded forms */
    uint8_t nonce[REPL_NONCE_BYTES]; /* ours */
} repl_hs;

/* Fill cfg from an open engine's stats (db id, shard count, emptiness),
 * the options (payload_max, txn_max) and a secret (borrowed, may be NULL). */
ARM_PRIVATE void repl_hs_cfg_init(repl_hs_cfg *cfg, uint8_t role, const uint8_t db_id[16],
                                  uint32_t shard_count, const arm_repl_options *opts,
                                  const arm_repl_secret *secret);
/* Begin: a follower queues its HELLO; a leader waits. ARM_OK, ARM_NOMEM. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_hs_start(repl_hs *hs, const repl_hs_cfg *cfg, arm_buf *out,
                                              arm_repl_err *err);
/**
 * Take the peer's next frame. ARM_OK (see hs->state: DONE when finished);
 * when we refuse, an ERROR frame for the peer is queued in out, the state
 * becomes FAILED and the code is returned: ARM_PROTOCOL (bad or unexpected
 * frame, incompatible peer), ARM_AUTH (wrong or missing secret, bad proof);
 * a peer's ERROR frame gives its code (ARM_AUTH, ARM_FULL, ARM_BUSY,
 * ARM_PROTOCOL, anything else ARM_PROTOCOL) and nothing is queued. ARM_NOMEM.
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_hs_on_frame(repl_hs *hs, const repl_frame *f, arm_buf *out,
                                                 arm_repl_err *err);

/* ---------------------------------------------------------- addresses */
#define REPL_ADDR_TEXT_MAX 64 /* "[ipv6]:port" and NUL */

typedef struct repl_addr {
    struct sockaddr_storage ss;
    socklen_t len;
} repl_addr;

/**
 * Parse "host:port" (IPv4 dotted, a name such as localhost, or "[v6]:port";
 * port 0..65535, 0 = any free port when listening). Names are resolved with
 * getaddrinfo (may block); the first address is used.
 * ARM_OK, ARM_RANGE (message quotes the text and says what is wrong).
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_addr_parse(const char *text, repl_addr *out,
                                                arm_repl_err *err);
/* "a.b.c.d:port" or "[v6]:port" into buf (REPL_ADDR_TEXT_MAX bytes). */
ARM_PRIVATE void repl_addr_format(const repl_addr *a, char *buf, size_t size);
ARM_PRIVATE uint16_t repl_addr_port(const repl_addr *a);

/* ------------------------------------------------------------ wake-up */
/* A level-triggered stop signal: once set, every poll that includes its fd
 * returns at once, for every thread, for good (an eventfd never read). */
/* Every socket and eventfd of replication comes from and goes back through
 * these (repl_net.c), so that a fork()ed child closes its copies of them all
 * (pthread_atfork). Non-blocking and close-on-exec; -1 with errno on
 * failure. */
ARM_PRIVATE int repl_fd_socket(int family);
ARM_PRIVATE int repl_fd_accept(int lfd, struct sockaddr *sa, socklen_t *len);
ARM_PRIVATE int repl_fd_eventfd(void);
ARM_PRIVATE void repl_fd_close(int fd); /* -1 allowed */

typedef struct repl_wake {
    int fd;
} repl_wake;
ARM_WARN_UNUSED ARM_PRIVATE int repl_wake_open(repl_wake *w, arm_repl_err *err);
/* Set the signal (async-signal-safe, thread-safe, idempotent). */
ARM_PRIVATE void repl_wake_signal(repl_wake *w);
ARM_PRIVATE int repl_wake_is_set(const repl_wake *w);
ARM_PRIVATE void repl_wake_close(repl_wake *w);

/* Monotonic clock, milliseconds. */
ARM_PRIVATE uint64_t repl_now_ms(void);

/**
 * Wait until fd is ready for `events` (POLLIN/POLLOUT), the wake fd (may be
 * -1) is set, or timeout_ms passes (< 0: no limit). ARM_OK (ready, or the fd
 * reported an error/hang-up: the next read or write says which),
 * ARM_CLOSED (woken), REPL_TIMEOUT, ARM_IOERR (poll failed).
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_poll1(int fd, short events, int wake_fd, int timeout_ms,
                                           arm_repl_err *err);
/* Sleep ms unless woken first: ARM_OK after the time, ARM_CLOSED when woken. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_sleep_ms(int wake_fd, uint32_t ms);

/* ------------------------------------------------------------- sockets */
typedef struct repl_listener {
    int fd;          /* listening socket, or -1 */
    repl_addr bound; /* the address really bound (port 0 resolved) */
} repl_listener;

/* Bind and listen (SO_REUSEADDR, close-on-exec, non-blocking). ARM_OK with
 * l->bound filled; ARM_IOERR (message has the address and the OS error). */
ARM_WARN_UNUSED ARM_PRIVATE int repl_listen(const repl_addr *addr, repl_listener *l,
                                            arm_repl_err *err);
/* Accept one connection (non-blocking, TCP_NODELAY) within timeout_ms (< 0:
 * no limit). ARM_OK with *fd_out (owned) and *peer (may be NULL);
 * ARM_CLOSED woken; REPL_TIMEOUT; ARM_IOERR. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_accept(repl_listener *l, int wake_fd, int timeout_ms,
                                            int *fd_out, repl_addr *peer, arm_repl_err *err);
ARM_PRIVATE void repl_listener_close(repl_listener *l);

/* One TCP connect attempt within timeout_ms. ARM_OK with *fd_out (owned,
 * non-blocking, TCP_NODELAY); ARM_CLOSED woken; REPL_TIMEOUT; ARM_IOERR
 * (refused, unreachable: the message says which). */
ARM_WARN_UNUSED ARM_PRIVATE int repl_connect(const repl_addr *addr, int wake_fd, int timeout_ms,
                                             int *fd_out, arm_repl_err *err);

/* Exponential backoff with jitter: delay n (from 0) is drawn from
 * [d/2, d] with d = min(max_ms, base_ms * 2^n), so followers that lost one
 * leader together do not come back in lockstep. */
typedef struct repl_backoff {
    uint32_t base_ms, max_ms;
    uint32_t attempt; /* delays handed out since the last reset */
    uint64_t rng;     /* xorshift state */
} repl_backoff;
ARM_PRIVATE void repl_backoff_init(repl_backoff *b, uint32_t base_ms, uint32_t max_ms,
                                   uint64_t seed);
ARM_PRIVATE uint32_t repl_backoff_next(repl_backoff *b);
/* After a good connection: start from base_ms again. */
ARM_PRIVATE void repl_backoff_reset(repl_backoff *b);

/**
 * Connect, waiting repl_backoff_next() between failed attempts, until it
 * works, the wake fd is set, or max_attempts (0: no limit) attempts failed.
 * ARM_OK with *fd_out; ARM_CLOSED woken; the last attempt's code when the
 * attempts ran out. *attempts_out (may be NULL) gets the attempts made. The
 * backoff is not reset on success: call repl_backoff_reset once the session
 * on that connection has worked (handshake accepted), so a leader that keeps
 * accepting and refusing is not hammered.
 */
ARM_WARN_UNUSED ARM_PRIVATE REPL_TEST_SEAM int
repl_connect_retry(const repl_addr *addr, repl_backoff *b, int wake_fd, int connect_timeout_ms,
                   uint32_t max_attempts, int *fd_out, uint32_t *attempts_out, arm_repl_err *err);

/* ---------------------------------------------------------- fault hook */
/* What the fault hook does with one outgoing frame (tests only set one). */
enum repl_fault_kind {
    REPL_FAULT_PASS = 0,  /* send it */
    REPL_FAULT_DROP = 1,  /* do not send it */
    REPL_FAULT_DUP = 2,   /* send it twice */
    REPL_FAULT_TRUNC = 3, /* send its first `arg` bytes, then shut the connection down */
    REPL_FAULT_DELAY = 4, /* send what was queued before it, wait `arg` ms, then send it */
};
typedef struct repl_fault_act {
    int kind;     /* enum repl_fault_kind */
    uint32_t arg; /* TRUNC: bytes kept; DELAY: milliseconds */
} repl_fault_act;
/* Called for every frame a connection sends, from the sending thread, with
 * the frame's header; sets *act (PASS on entry). */
typedef void (*repl_fault_fn)(void *ctx, const repl_frame_hdr *hdr, repl_fault_act *act);
/* Process-wide hook given to connections opened from now on (NULL: none).
 * For tests that reach connections made inside the leader or follower; the
 * policies live in repl_fault.h (test builds only). */
ARM_PRIVATE REPL_TEST_SEAM void repl_fault_set_default(repl_fault_fn fn, void *ctx);

/* ------------------------------------------------------------- streams */
/**
 * A framed connection over a non-blocking socket, owned by one thread (a
 * repl_wake set by any thread makes its blocking calls return ARM_CLOSED).
 * Received bytes go to a buffer that grows to hold the largest frame seen
 * (below twice payload_max + header) and is reused; frames to send are appended
 * to `out` by the encoders and leave with repl_conn_flush.
 */
typedef struct repl_conn {
    int fd;            /* owned socket */
    int wake_fd;       /* borrowed: stop signal, or -1 */
    uint32_t recv_max; /* largest payload accepted */
    uint32_t send_max; /* largest payload to send (the peer's bound) */
    arm_buf in;        /* received bytes; [in_pos, in.len) not yet consumed */
    size_t in_pos;
    arm_buf out;         /* queued frames (append with the repl_msg_* encoders) */
    int eof;             /* the peer closed its side */
    int broken;          /* a send or receive failed: only close is left */
    repl_fault_fn fault; /* test hook or NULL */
    void *fault_ctx;
    uint64_t last_recv_ms;        /* when bytes last arrived (liveness of the peer) */
    uint64_t last_send_ms;        /* when bytes last left */
    uint64_t bytes_in, bytes_out; /* totals on the socket */
    uint64_t frames_in;           /* whole frames received */
} repl_conn;

/* Take ownership of a connected socket. ARM_OK or ARM_NOMEM (fd then closed). */
ARM_WARN_UNUSED ARM_PRIVATE int repl_conn_open(repl_conn *c, int fd, int wake_fd,
                                               uint32_t payload_max, arm_repl_err *err);
/* Close the socket and free the buffers. NULL and closed conns are allowed. */
ARM_PRIVATE void repl_conn_close(repl_conn *c);
ARM_PRIVATE REPL_TEST_SEAM void repl_conn_set_fault(repl_conn *c, repl_fault_fn fn, void *ctx);
/**
 * Receive the next whole, checked frame within timeout_ms (< 0: no limit;
 * 0: only what is already there). *f borrows the connection's buffer until
 * the next recv. ARM_OK; REPL_TIMEOUT (no whole frame yet; what arrived is
 * kept); ARM_CLOSED woken; ARM_IOERR (peer closed between frames, reset);
 * ARM_PROTOCOL (bad frame, or the peer closed in the middle of one).
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_conn_recv(repl_conn *c, int timeout_ms, repl_frame *f,
                                               arm_repl_err *err);
/* Send everything queued in c->out within timeout_ms (< 0: no limit).
 * ARM_OK; ARM_CLOSED woken; REPL_TIMEOUT (the peer stopped reading; the
 * connection is broken, since part of a frame may be out); ARM_IOERR. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_conn_flush(repl_conn *c, int timeout_ms, arm_repl_err *err);
/* Queue an ERROR frame and flush it, best effort (for a refusal before close). */
ARM_PRIVATE void repl_conn_send_error(repl_conn *c, int code, const char *text, int timeout_ms);

/**
 * Run a handshake over the connection (repl_hs driven by frames), within
 * timeout_ms in total. ARM_OK when both sides accepted (c->send_max set to
 * the smaller of both bounds); otherwise the code of repl_hs_on_frame or of
 * the I/O, with our ERROR frame (if any) flushed to the peer first.
 */
ARM_WARN_UNUSED ARM_PRIVATE int repl_conn_handshake(repl_conn *c, repl_hs *hs,
                                                    const repl_hs_cfg *cfg, int timeout_ms,
                                                    arm_repl_err *err);

/* ---------------------------------------------------------- heartbeats */
/* Timing of heartbeats and dead-peer detection, as pure functions of the
 * clock (tests pass times in; sessions pass repl_now_ms()). */
typedef struct repl_hb {
    uint32_t interval_ms; /* send a heartbeat when we sent nothing for this long */
    uint32_t timeout_ms;  /* the peer is dead when we received nothing for this long */
    uint64_t last_send_ms, last_recv_ms;
} repl_hb;
ARM_PRIVATE REPL_TEST_SEAM void repl_hb_init(repl_hb *hb, uint32_t interval_ms, uint32_t timeout_ms,
                                             uint64_t now_ms);
static inline void repl_hb_sent(repl_hb *hb, uint64_t now_ms) {
    hb->last_send_ms = now_ms;
}
static inline void repl_hb_received(repl_hb *hb, uint64_t now_ms) {
    hb->last_recv_ms = now_ms;
}
/* 1 when a heartbeat is due (nothing sent for interval_ms). */
ARM_PRIVATE REPL_TEST_SEAM int repl_hb_send_due(const repl_hb *hb, uint64_t now_ms);
/* 1 when the peer is dead (nothing received for timeout_ms). */
ARM_PRIVATE REPL_TEST_SEAM int repl_hb_peer_dead(const repl_hb *hb, uint64_t now_ms);
/* Milliseconds until the next of the two events (0 if one is due). */
ARM_PRIVATE REPL_TEST_SEAM int repl_hb_wait_ms(const repl_hb *hb, uint64_t now_ms);

/* ----------------------------------------------------------- positions */
/* arm_repl_pos is the engine's arm_log_pos under its replication name: the
 * same four fields (checked where both are visible, in test_repl_wire). */
static inline arm_repl_pos repl_pos_from_log(arm_log_pos p) {
    arm_repl_pos r = {p.seq, p.off, p.fid, p.len};
    return r;
}
static inline arm_log_pos repl_pos_to_log(arm_repl_pos p) {
    arm_log_pos r = {p.seq, p.off, p.fid, p.len};
    return r;
}
/* 1 when a and b are the same position (every field). */
static inline int repl_pos_eq(const arm_repl_pos *a, const arm_repl_pos *b) {
    return a->seq == b->seq && a->off == b->off && a->fid == b->fid && a->len == b->len;
}

/* ---------------------------------------------------------------- JSON */
/* Appends JSON text to a buffer with a sticky error: once an append fails
 * (ARM_NOMEM) the rest are no-ops and repl_json_end says so. The text in
 * b->ptr stays NUL-terminated (b->len excludes the NUL). */
typedef struct repl_json {
    arm_buf *b;
    int rc;
} repl_json;
ARM_PRIVATE void repl_json_begin(repl_json *j, arm_buf *b);
/* Raw text (the caller writes the punctuation). */
ARM_PRIVATE void repl_json_raw(repl_json *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A string, quoted and escaped ("\", """, control and non-ASCII bytes as
 * \u00XX), or null for NULL. */
ARM_PRIVATE void repl_json_str(repl_json *j, const char *s);
/* n bytes as a quoted lowercase hex string. */
ARM_PRIVATE void repl_json_hex(repl_json *j, const uint8_t *p, size_t n);
/* {"seq":..,"fid":..,"off":..,"len":..} */
ARM_PRIVATE void repl_json_pos(repl_json *j, const arm_repl_pos *pos);
/* null when e->rc is ARM_OK, else {"code":"ARM_...","message":"..."} */
ARM_PRIVATE void repl_json_err(repl_json *j, const arm_repl_err *e);
/* ARM_OK, or ARM_NOMEM when an append failed. */
ARM_WARN_UNUSED ARM_PRIVATE int repl_json_end(repl_json *j);

#endif /* ARM_REPL_INT_H */
