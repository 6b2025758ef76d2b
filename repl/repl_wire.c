/* SPDX-License-Identifier: MIT */
/*
 * repl_wire.c: the replication wire format, encode and decode. Pure functions
 * over bytes (no I/O, no clock, no randomness), so the fuzzers drive them.
 * Every check a receiver needs before applying anything lives here: frame
 * checksums, length bounds (checked before any payload is read or any memory
 * reserved for it), exact message sizes, reserved bytes, field ranges, entry
 * structure, and the session checks (direction, shard, order, peer
 * compatibility). All integers are little-endian. Layer: repl.
 *
 * Frame (16-byte header, then the payload):
 *   off size field
 *     0    4 len      payload bytes: <= the receiver's payload_max and within
 *                     the type's own bounds (below)
 *     4    1 type     1 HELLO .. 11 SNAP_END (enum repl_msg_type)
 *     5    1 flags    0 (reserved)
 *     6    2 shard    shard-level types: 0..1023; connection-level: 0xFFFF
 *     8    4 pcheck   low 32 bits of arm_hash_checksum(payload)
 *    12    4 hcheck   low 32 bits of arm_hash_checksum(header bytes 0..11)
 *    16  len payload
 *
 * Position (24 bytes, inside messages): the origin is all zero; any other
 * position has seq in [1, 2^62), fid >= 1 and 20 <= len <= off.
 *     0    8 seq      sequence number of the last transaction before it
 *     8    8 off      byte offset in data file fid, just past that transaction
 *    16    4 fid      data-file id
 *    20    4 len      bytes of the log entry that ends at off (the leader
 *                     checks it: an entry of another length there means its
 *                     log was rewritten)
 *
 * HELLO (type 1, connection; 96 bytes; each side sends one, follower first):
 *     0    8 magic        "ARMREPL\0"
 *     8    2 proto        protocol version (1)      } read first: a peer of
 *    10    2 engine_fmt   engine format version (1) } another version is told so
 *    12    1 role         1 leader, 2 follower
 *    13    1 flags        bit0 AUTH (nonce set, proofs follow), bit1 HAVE_POS
 *                         (follower holds positions for peer_db_id), bit2 EMPTY
 *                         (follower's database holds no keys); a leader sets
 *                         only AUTH
 *    14    2 reserved     0
 *    16    4 shard_count  1..1024
 *    20    4 payload_max  largest payload the sender accepts (32 KiB..4 MiB)
 *    24    8 txn_max      leader: largest transaction it sends; follower:
 *                         largest it accepts (bytes, 1 KiB..4 GiB)
 *    32   16 db_id        sender's database id (not all zero)
 *    48   16 peer_db_id   follower with HAVE_POS: the leader its positions are
 *                         for (not zero); otherwise zero
 *    64   32 nonce        with AUTH: random (not zero); otherwise zero
 *
 * AUTH (type 2, connection; 32 bytes): HMAC-SHA512-256 proof (repl_auth.c).
 * SUBSCRIBE (type 3, shard; 32 bytes; follower):
 *     0    4 flags        bit0 HAVE_POS
 *     4    4 reserved     0
 *     8   24 pos          where the follower stands (zero without HAVE_POS)
 * START (type 4, shard; 24 bytes; leader): pos, where streaming begins.
 * TXN (type 5, shard; leader) and SNAP_CHUNK (type 10, connection; leader):
 *     0   24 TXN: pos after the transaction (pos.seq = its sequence number)
 *             SNAP_CHUNK: snap_id u64 (not 0), chunk_no u64, reserved u64 0
 *    24    4 count        entries in the whole message (>= 1)
 *    28    4 reserved     0
 *    32    8 total        bytes of the whole entry stream (<= 4 GiB)
 *    40    8 part_off     offset of this part's bytes in the stream
 *    48    n bytes        n >= 1, part_off + n <= total
 *   A message of more than one payload travels as parts, back to back, with
 *   equal fields and consecutive part_off; the stream is `count` entries:
 *     0    1 type         1 PUT, 2 DELETE (SNAP_CHUNK: PUT only)
 *     1    1 flags        0
 *     2    2 klen         1..65535
 *     4    4 vlen         0 for DELETE
 *     8 klen key, vlen value
 * ACK (type 6, shard; 32 bytes; follower): pos applied (24), applied u64.
 * HEARTBEAT (type 7, connection; 24 bytes; both): now_ms u64 (sender's
 *   monotonic clock), echo_ms u64 (last now_ms received), last_seq u64.
 * ERROR (type 8, connection; 8..248 bytes; both; the sender then closes):
 *     0    4 code         ARM_* code (not 0)
 *     4    2 text_len     0..240, = payload length - 8
 *     6    2 reserved     0
 *     8    n text         printable ASCII (0x20..0x7e)
 * SNAP_BEGIN (type 9, connection; 24 + 24 * shard_count bytes; leader):
 *     0    8 snap_id      not 0
 *     8    8 keys         live keys at the cut (informational)
 *    16    4 shard_count  1..1024
 *    20    4 reserved     0
 *    24  24n positions    per shard: where its stream resumes after the snapshot
 * SNAP_END (type 11, connection; 24 bytes; leader): snap_id, chunks u64,
 *   entries u64 (entries >= chunks).
 */
#include "repl_int.h"
#include "../common/arm_hash.h"

#include <string.h>

static const uint8_t rw_magic[8] = {'A', 'R', 'M', 'R', 'E', 'P', 'L', 0};

_Static_assert(REPL_FRAME_HDR == 16, "frame header drawn above");
_Static_assert(REPL_POS_SIZE == 24 && REPL_PART_HDR == 48 && REPL_ENTRY_HDR == 8, "drawn above");
_Static_assert(REPL_HELLO_SIZE == 64 + REPL_NONCE_BYTES, "hello drawn above");
_Static_assert(8 + REPL_ERRTEXT_MAX <= 0xFFFF, "error text length fits u16");
_Static_assert(ARM_REPL_PAYLOAD_MAX < UINT32_MAX / 2, "frame lengths fit u32");

/* ------------------------------------------------------- little endian */
static void rw_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void rw_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void rw_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t rw_get16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t rw_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rw_get64(const uint8_t *p) {
    return (uint64_t)rw_get32(p) | (uint64_t)rw_get32(p + 4) << 32;
}
static int rw_all_zero(const uint8_t *p, size_t n) {
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* --------------------------------------------------------------- types */
static const char *const rw_type_names[REPL_MSG_TYPE_MAX + 1] = {
    "?",   "HELLO",     "AUTH",  "SUBSCRIBE",  "START",      "TXN",
    "ACK", "HEARTBEAT", "ERROR", "SNAP_BEGIN", "SNAP_CHUNK", "SNAP_END",
};

const char *repl_wire_type_name(uint8_t type) {
    return type >= 1 && type <= REPL_MSG_TYPE_MAX ? rw_type_names[type] : "?";
}

int repl_wire_type_is_shard(uint8_t type) {
    return type == REPL_MSG_SUBSCRIBE || type == REPL_MSG_START || type == REPL_MSG_TXN ||
           type == REPL_MSG_ACK;
}

/* Payload length bounds of a type (payload_max applies on top). */
static void rw_len_bounds(uint8_t type, uint32_t *lo, uint32_t *hi) {
    switch (type) {
    case REPL_MSG_HELLO: *lo = REPL_HELLO_MIN, *hi = REPL_HELLO_MAX; break;
    case REPL_MSG_AUTH: *lo = *hi = REPL_PROOF_BYTES; break;
    case REPL_MSG_SUBSCRIBE: *lo = *hi = 8 + REPL_POS_SIZE; break;
    case REPL_MSG_START: *lo = *hi = REPL_POS_SIZE; break;
    case REPL_MSG_TXN:
    case REPL_MSG_SNAP_CHUNK: *lo = REPL_PART_HDR + 1, *hi = ARM_REPL_PAYLOAD_MAX; break;
    case REPL_MSG_ACK: *lo = *hi = REPL_POS_SIZE + 8; break;
    case REPL_MSG_HEARTBEAT: *lo = *hi = 24; break;
    case REPL_MSG_ERROR: *lo = 8, *hi = 8 + REPL_ERRTEXT_MAX; break;
    case REPL_MSG_SNAP_BEGIN:
        *lo = 24 + REPL_POS_SIZE, *hi = 24 + REPL_POS_SIZE * REPL_SHARDS_MAX;
        break;
    case REPL_MSG_SNAP_END: *lo = *hi = 24; break;
    default: *lo = 1, *hi = 0; break; /* nothing fits */
    }
}

/* -------------------------------------------------------------- frames */
static uint32_t rw_hcheck(const uint8_t *hdr) {
    return (uint32_t)arm_hash_checksum(hdr, 12);
}

static void rw_hdr_put(uint8_t *h, uint32_t len, uint8_t type, uint16_t shard, uint32_t pcheck) {
    rw_put32(h, len);
    h[4] = type;
    h[5] = 0;
    rw_put16(h + 6, shard);
    rw_put32(h + 8, pcheck);
    rw_put32(h + 12, rw_hcheck(h));
}

/* Reserve room for a frame of `len` payload bytes at the end of out; returns
 * the payload pointer (the header is written by rw_frame_seal). */
static uint8_t *rw_frame_begin(arm_buf *out, uint32_t len) {
    if (arm_buf_reserve(out, out->len + REPL_FRAME_HDR + len) != ARM_OK) return NULL;
    return out->ptr + out->len + REPL_FRAME_HDR;
}

static void rw_frame_seal(arm_buf *out, uint8_t type, uint16_t shard, uint32_t len) {
    uint8_t *h = out->ptr + out->len;
    rw_hdr_put(h, len, type, shard, (uint32_t)arm_hash_checksum(h + REPL_FRAME_HDR, len));
    out->len += REPL_FRAME_HDR + len;
}

int repl_wire_frame_append(arm_buf *out, uint8_t type, uint16_t shard, const void *payload,
                           uint32_t len) {
    assert(out != NULL);
    assert(len == 0 || payload != NULL);
    uint8_t *p = rw_frame_begin(out, len);
    if (p == NULL) return ARM_NOMEM;
    if (len) memcpy(p, payload, len);
    rw_frame_seal(out, type, shard, len);
    return ARM_OK;
}

int repl_wire_hdr_decode(const uint8_t *p, uint32_t payload_max, repl_frame_hdr *out,
                         arm_repl_err *err) {
    assert(p != NULL);
    assert(payload_max <= ARM_REPL_PAYLOAD_MAX);
    if (rw_get32(p + 12) != rw_hcheck(p))
        return REPL_ERR(err, ARM_PROTOCOL,
                        "bad frame header checksum (not an armdb replication peer, or damage)");
    out->len = rw_get32(p);
    out->type = p[4];
    out->flags = p[5];
    out->shard = rw_get16(p + 6);
    out->pcheck = rw_get32(p + 8);
    if (out->type < 1 || out->type > REPL_MSG_TYPE_MAX)
        return REPL_ERR(err, ARM_PROTOCOL, "unknown frame type %u", out->type);
    const char *name = repl_wire_type_name(out->type);
    if (out->flags != 0)
        return REPL_ERR(err, ARM_PROTOCOL, "%s frame with reserved flags 0x%02x", name, out->flags);
    if (out->len > payload_max)
        return REPL_ERR(err, ARM_PROTOCOL, "oversized %s frame: %u payload bytes, at most %u", name,
                        out->len, payload_max);
    uint32_t lo, hi;
    rw_len_bounds(out->type, &lo, &hi);
    if (out->len < lo || out->len > hi)
        return REPL_ERR(err, ARM_PROTOCOL, "%s frame of %u payload bytes (expected %u..%u)", name,
                        out->len, lo, hi);
    if (repl_wire_type_is_shard(out->type) ? out->shard >= REPL_SHARDS_MAX
                                           : out->shard != REPL_SHARD_CONN)
        return REPL_ERR(err, ARM_PROTOCOL, "%s frame with shard field %u", name, out->shard);
    return ARM_OK;
}

int repl_wire_frame_decode(const uint8_t *p, size_t n, uint32_t payload_max, repl_frame *out,
                           size_t *used, arm_repl_err *err) {
    assert(used != NULL);
    *used = REPL_FRAME_HDR;
    if (n < REPL_FRAME_HDR) return ARM_NOTFOUND;
    int rc = repl_wire_hdr_decode(p, payload_max, &out->hdr, err);
    if (rc != ARM_OK) return rc;
    *used = REPL_FRAME_HDR + (size_t)out->hdr.len;
    if (n < *used) return ARM_NOTFOUND;
    out->payload = p + REPL_FRAME_HDR;
    if ((uint32_t)arm_hash_checksum(out->payload, out->hdr.len) != out->hdr.pcheck)
        return REPL_ERR(err, ARM_PROTOCOL, "bad payload checksum in %s frame (%u bytes)",
                        repl_wire_type_name(out->hdr.type), out->hdr.len);
    return ARM_OK;
}

/* ----------------------------------------------------------- positions */
void repl_wire_pos_put(uint8_t *p, const arm_repl_pos *pos) {
    rw_put64(p, pos->seq);
    rw_put64(p + 8, pos->off);
    rw_put32(p + 16, pos->fid);
    rw_put32(p + 20, pos->len);
}

void repl_wire_pos_get(const uint8_t *p, arm_repl_pos *pos) {
    pos->seq = rw_get64(p);
    pos->off = rw_get64(p + 8);
    pos->fid = rw_get32(p + 16);
    pos->len = rw_get32(p + 20);
}

int repl_pos_valid(const arm_repl_pos *pos) {
    if (pos->seq == 0) return pos->fid == 0 && pos->off == 0 && pos->len == 0; /* the origin */
    return pos->seq < REPL_SEQ_MAX && pos->fid >= 1 && pos->len >= REPL_LOG_ENTRY_MIN &&
           pos->len <= pos->off;
}

/* Decode and check a position at p; `what` names it in the message. */
static int rw_pos_decode(const uint8_t *p, arm_repl_pos *pos, const char *what, arm_repl_err *err) {
    repl_wire_pos_get(p, pos);
    if (!repl_pos_valid(pos))
        return REPL_ERR(
            err, ARM_PROTOCOL, "%s: invalid position (file %u, offset %llu, length %u, seq %llu)",
            what, pos->fid, (unsigned long long)pos->off, pos->len, (unsigned long long)pos->seq);
    return ARM_OK;
}

/* The frame is of the expected type (decoders are called on checked frames,
 * but a caller mixing them up must get an error, not a misread). */
static int rw_expect(const repl_frame *f, uint8_t type, arm_repl_err *err) {
    if (f->hdr.type == type) return ARM_OK;
    return REPL_ERR(err, ARM_PROTOCOL, "expected a %s frame, got %s", repl_wire_type_name(type),
                    repl_wire_type_name(f->hdr.type));
}

/* Exact payload length of a fixed-size message. */
static int rw_expect_len(const repl_frame *f, uint32_t len, arm_repl_err *err) {
    if (f->hdr.len == len) return ARM_OK;
    return REPL_ERR(err, ARM_PROTOCOL, "%s frame of %u bytes, expected %u",
                    repl_wire_type_name(f->hdr.type), f->hdr.len, len);
}

/* --------------------------------------------------------------- HELLO */
void repl_msg_hello_raw(const repl_hello *h, uint8_t raw[REPL_HELLO_SIZE]) {
    memset(raw, 0, REPL_HELLO_SIZE);
    memcpy(raw, rw_magic, 8);
    rw_put16(raw + 8, h->proto);
    rw_put16(raw + 10, h->engine_fmt);
    raw[12] = h->role;
    raw[13] = h->flags;
    rw_put32(raw + 16, h->shard_count);
    rw_put32(raw + 20, h->payload_max);
    rw_put64(raw + 24, h->txn_max);
    memcpy(raw + 32, h->db_id, REPL_DBID_BYTES);
    memcpy(raw + 48, h->peer_db_id, REPL_DBID_BYTES);
    memcpy(raw + 64, h->nonce, REPL_NONCE_BYTES);
}

int repl_msg_hello_encode(arm_buf *out, const repl_hello *h) {
    uint8_t raw[REPL_HELLO_SIZE];
    repl_msg_hello_raw(h, raw);
    return repl_wire_frame_append(out, REPL_MSG_HELLO, REPL_SHARD_CONN, raw, sizeof(raw));
}

/* Field checks of a hello whose magic, version and size are right. */
static int rw_hello_fields(const repl_hello *h, const uint8_t *p, arm_repl_err *err) {
    if (h->role != REPL_ROLE_LEADER && h->role != REPL_ROLE_FOLLOWER)
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO with unknown role %u", h->role);
    uint8_t allowed = h->role == REPL_ROLE_LEADER ? REPL_HELLO_AUTH : REPL_HELLO_FLAGS;
    if ((h->flags & ~allowed) != 0 || rw_get16(p + 14) != 0)
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO with unknown flags 0x%02x", h->flags);
    if (h->shard_count < 1 || h->shard_count > REPL_SHARDS_MAX)
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO with shard count %u (1..%u)", h->shard_count,
                        REPL_SHARDS_MAX);
    if (h->payload_max < ARM_REPL_PAYLOAD_MIN || h->payload_max > ARM_REPL_PAYLOAD_MAX)
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO with payload bound %u", h->payload_max);
    if (h->txn_max < REPL_TXN_MIN || h->txn_max > ARM_REPL_TXN_MAX)
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO with transaction bound %llu",
                        (unsigned long long)h->txn_max);
    if (rw_all_zero(h->db_id, REPL_DBID_BYTES))
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO with an all-zero database id");
    int have_pos = (h->flags & REPL_HELLO_HAVE_POS) != 0;
    if (rw_all_zero(h->peer_db_id, REPL_DBID_BYTES) == have_pos)
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO: leader database id %s",
                        have_pos ? "missing with HAVE_POS" : "set without HAVE_POS");
    int auth = (h->flags & REPL_HELLO_AUTH) != 0;
    if (rw_all_zero(h->nonce, REPL_NONCE_BYTES) == auth)
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO: nonce %s", auth ? "missing" : "without AUTH");
    return ARM_OK;
}

int repl_msg_hello_decode(const repl_frame *f, repl_hello *h, arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_HELLO, err);
    if (rc != ARM_OK) return rc;
    const uint8_t *p = f->payload;
    if (f->hdr.len < REPL_HELLO_MIN || memcmp(p, rw_magic, 8) != 0)
        return REPL_ERR(err, ARM_PROTOCOL, "HELLO without the armdb magic: not an armdb peer");
    memset(h, 0, sizeof(*h));
    h->proto = rw_get16(p + 8);
    h->engine_fmt = rw_get16(p + 10);
    if (h->proto != ARM_REPL_PROTOCOL_VERSION)
        return REPL_ERR(err, ARM_PROTOCOL,
                        "peer speaks replication protocol version %u, this build speaks %u",
                        h->proto, ARM_REPL_PROTOCOL_VERSION);
    rc = rw_expect_len(f, REPL_HELLO_SIZE, err);
    if (rc != ARM_OK) return rc;
    h->role = p[12];
    h->flags = p[13];
    h->shard_count = rw_get32(p + 16);
    h->payload_max = rw_get32(p + 20);
    h->txn_max = rw_get64(p + 24);
    memcpy(h->db_id, p + 32, REPL_DBID_BYTES);
    memcpy(h->peer_db_id, p + 48, REPL_DBID_BYTES);
    memcpy(h->nonce, p + 64, REPL_NONCE_BYTES);
    return rw_hello_fields(h, p, err);
}

/* ---------------------------------------------------------------- AUTH */
int repl_msg_auth_encode(arm_buf *out, const uint8_t proof[REPL_PROOF_BYTES]) {
    return repl_wire_frame_append(out, REPL_MSG_AUTH, REPL_SHARD_CONN, proof, REPL_PROOF_BYTES);
}

int repl_msg_auth_decode(const repl_frame *f, uint8_t proof[REPL_PROOF_BYTES], arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_AUTH, err);
    if (rc == ARM_OK) rc = rw_expect_len(f, REPL_PROOF_BYTES, err);
    if (rc == ARM_OK) memcpy(proof, f->payload, REPL_PROOF_BYTES);
    return rc;
}

/* ------------------------------------------------ SUBSCRIBE, START, ACK */
int repl_msg_subscribe_encode(arm_buf *out, uint16_t shard, const repl_subscribe *s) {
    assert(shard < REPL_SHARDS_MAX);
    assert((s->flags & ~REPL_SUB_FLAGS) == 0);
    if (ARM_NEVER(!repl_pos_valid(&s->pos))) return ARM_MISUSE;
    uint8_t p[8 + REPL_POS_SIZE];
    rw_put32(p, s->flags);
    rw_put32(p + 4, 0);
    repl_wire_pos_put(p + 8, &s->pos);
    return repl_wire_frame_append(out, REPL_MSG_SUBSCRIBE, shard, p, sizeof(p));
}

int repl_msg_subscribe_decode(const repl_frame *f, repl_subscribe *s, arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_SUBSCRIBE, err);
    if (rc == ARM_OK) rc = rw_expect_len(f, 8 + REPL_POS_SIZE, err);
    if (rc != ARM_OK) return rc;
    s->flags = rw_get32(f->payload);
    if ((s->flags & ~REPL_SUB_FLAGS) != 0 || rw_get32(f->payload + 4) != 0)
        return REPL_ERR(err, ARM_PROTOCOL, "SUBSCRIBE with unknown flags 0x%x", s->flags);
    rc = rw_pos_decode(f->payload + 8, &s->pos, "SUBSCRIBE", err);
    if (rc == ARM_OK && !(s->flags & REPL_SUB_HAVE_POS) &&
        !rw_all_zero(f->payload + 8, REPL_POS_SIZE))
        rc = REPL_ERR(err, ARM_PROTOCOL, "SUBSCRIBE with a position but no HAVE_POS flag");
    return rc;
}

int repl_msg_start_encode(arm_buf *out, uint16_t shard, const arm_repl_pos *pos) {
    assert(shard < REPL_SHARDS_MAX);
    if (ARM_NEVER(!repl_pos_valid(pos))) return ARM_MISUSE;
    uint8_t p[REPL_POS_SIZE];
    repl_wire_pos_put(p, pos);
    return repl_wire_frame_append(out, REPL_MSG_START, shard, p, sizeof(p));
}

int repl_msg_start_decode(const repl_frame *f, arm_repl_pos *pos, arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_START, err);
    if (rc == ARM_OK) rc = rw_expect_len(f, REPL_POS_SIZE, err);
    if (rc == ARM_OK) rc = rw_pos_decode(f->payload, pos, "START", err);
    return rc;
}

int repl_msg_ack_encode(arm_buf *out, uint16_t shard, const repl_ack *a) {
    assert(shard < REPL_SHARDS_MAX);
    if (ARM_NEVER(!repl_pos_valid(&a->pos))) return ARM_MISUSE;
    uint8_t p[REPL_POS_SIZE + 8];
    repl_wire_pos_put(p, &a->pos);
    rw_put64(p + REPL_POS_SIZE, a->applied);
    return repl_wire_frame_append(out, REPL_MSG_ACK, shard, p, sizeof(p));
}

int repl_msg_ack_decode(const repl_frame *f, repl_ack *a, arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_ACK, err);
    if (rc == ARM_OK) rc = rw_expect_len(f, REPL_POS_SIZE + 8, err);
    if (rc == ARM_OK) rc = rw_pos_decode(f->payload, &a->pos, "ACK", err);
    if (rc == ARM_OK) a->applied = rw_get64(f->payload + REPL_POS_SIZE);
    return rc;
}

/* ----------------------------------------------------------- HEARTBEAT */
int repl_msg_heartbeat_encode(arm_buf *out, const repl_heartbeat *h) {
    if (ARM_NEVER(h->last_seq >= REPL_SEQ_MAX)) return ARM_MISUSE;
    uint8_t p[24];
    rw_put64(p, h->now_ms);
    rw_put64(p + 8, h->echo_ms);
    rw_put64(p + 16, h->last_seq);
    return repl_wire_frame_append(out, REPL_MSG_HEARTBEAT, REPL_SHARD_CONN, p, sizeof(p));
}

int repl_msg_heartbeat_decode(const repl_frame *f, repl_heartbeat *h, arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_HEARTBEAT, err);
    if (rc == ARM_OK) rc = rw_expect_len(f, 24, err);
    if (rc != ARM_OK) return rc;
    h->now_ms = rw_get64(f->payload);
    h->echo_ms = rw_get64(f->payload + 8);
    h->last_seq = rw_get64(f->payload + 16);
    if (h->last_seq >= REPL_SEQ_MAX)
        return REPL_ERR(err, ARM_PROTOCOL, "HEARTBEAT with sequence number %llu",
                        (unsigned long long)h->last_seq);
    return ARM_OK;
}

/* --------------------------------------------------------------- ERROR */
int repl_msg_error_encode(arm_buf *out, int code, const char *text) {
    assert(code != 0);
    size_t n = text ? strlen(text) : 0;
    if (n > REPL_ERRTEXT_MAX) n = REPL_ERRTEXT_MAX;
    uint8_t p[8 + REPL_ERRTEXT_MAX];
    rw_put32(p, (uint32_t)code);
    rw_put16(p + 4, (uint16_t)n);
    rw_put16(p + 6, 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)text[i];
        p[8 + i] = c >= 0x20 && c <= 0x7e ? c : '?';
    }
    return repl_wire_frame_append(out, REPL_MSG_ERROR, REPL_SHARD_CONN, p, (uint32_t)(8 + n));
}

int repl_msg_error_decode(const repl_frame *f, repl_error_msg *e, arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_ERROR, err);
    if (rc != ARM_OK) return rc;
    const uint8_t *p = f->payload;
    if (f->hdr.len < 8) return REPL_ERR(err, ARM_PROTOCOL, "ERROR frame of %u bytes", f->hdr.len);
    e->code = rw_get32(p);
    uint16_t n = rw_get16(p + 4);
    if (e->code == 0) return REPL_ERR(err, ARM_PROTOCOL, "ERROR frame with code 0");
    if (rw_get16(p + 6) != 0) return REPL_ERR(err, ARM_PROTOCOL, "ERROR frame: reserved bytes set");
    if ((uint32_t)n + 8 != f->hdr.len || n > REPL_ERRTEXT_MAX)
        return REPL_ERR(err, ARM_PROTOCOL, "ERROR frame: text of %u bytes in %u", n, f->hdr.len);
    for (uint16_t i = 0; i < n; i++) {
        if (p[8 + i] < 0x20 || p[8 + i] > 0x7e)
            return REPL_ERR(err, ARM_PROTOCOL, "ERROR frame: unprintable byte in its text");
        e->text[i] = (char)p[8 + i];
    }
    e->text[n] = '\0';
    return ARM_OK;
}

/* ---------------------------------------------------- SNAP_BEGIN, END */
int repl_msg_snap_begin_encode(arm_buf *out, uint64_t snap_id, uint64_t keys, uint32_t shard_count,
                               const arm_repl_pos *pos) {
    assert(snap_id != 0);
    assert(shard_count >= 1 && shard_count <= REPL_SHARDS_MAX);
    uint32_t len = 24 + REPL_POS_SIZE * shard_count;
    uint8_t *p = rw_frame_begin(out, len);
    if (p == NULL) return ARM_NOMEM;
    rw_put64(p, snap_id);
    rw_put64(p + 8, keys);
    rw_put32(p + 16, shard_count);
    rw_put32(p + 20, 0);
    for (uint32_t i = 0; i < shard_count; i++) {
        if (ARM_NEVER(!repl_pos_valid(&pos[i]))) return ARM_MISUSE;
        repl_wire_pos_put(p + 24 + (size_t)REPL_POS_SIZE * i, &pos[i]);
    }
    rw_frame_seal(out, REPL_MSG_SNAP_BEGIN, REPL_SHARD_CONN, len);
    return ARM_OK;
}

int repl_msg_snap_begin_decode(const repl_frame *f, repl_snap_begin *b, arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_SNAP_BEGIN, err);
    if (rc != ARM_OK) return rc;
    const uint8_t *p = f->payload;
    if (f->hdr.len < 24)
        return REPL_ERR(err, ARM_PROTOCOL, "SNAP_BEGIN frame of %u bytes", f->hdr.len);
    b->snap_id = rw_get64(p);
    b->keys = rw_get64(p + 8);
    b->shard_count = rw_get32(p + 16);
    b->pos_raw = p + 24;
    if (b->snap_id == 0) return REPL_ERR(err, ARM_PROTOCOL, "SNAP_BEGIN with snapshot id 0");
    if (rw_get32(p + 20) != 0) return REPL_ERR(err, ARM_PROTOCOL, "SNAP_BEGIN: reserved bytes set");
    if (b->shard_count < 1 || b->shard_count > REPL_SHARDS_MAX ||
        f->hdr.len != 24 + REPL_POS_SIZE * b->shard_count)
        return REPL_ERR(err, ARM_PROTOCOL, "SNAP_BEGIN: %u shards in %u bytes", b->shard_count,
                        f->hdr.len);
    for (uint32_t i = 0; i < b->shard_count && rc == ARM_OK; i++) {
        arm_repl_pos pos;
        rc = rw_pos_decode(b->pos_raw + (size_t)REPL_POS_SIZE * i, &pos, "SNAP_BEGIN", err);
    }
    return rc;
}

void repl_snap_begin_pos(const repl_snap_begin *b, uint32_t i, arm_repl_pos *out) {
    assert(i < b->shard_count);
    repl_wire_pos_get(b->pos_raw + (size_t)REPL_POS_SIZE * i, out);
}

int repl_msg_snap_end_encode(arm_buf *out, const repl_snap_end *e) {
    assert(e->snap_id != 0);
    assert(e->entries >= e->chunks);
    uint8_t p[24];
    rw_put64(p, e->snap_id);
    rw_put64(p + 8, e->chunks);
    rw_put64(p + 16, e->entries);
    return repl_wire_frame_append(out, REPL_MSG_SNAP_END, REPL_SHARD_CONN, p, sizeof(p));
}

int repl_msg_snap_end_decode(const repl_frame *f, repl_snap_end *e, arm_repl_err *err) {
    int rc = rw_expect(f, REPL_MSG_SNAP_END, err);
    if (rc == ARM_OK) rc = rw_expect_len(f, 24, err);
    if (rc != ARM_OK) return rc;
    e->snap_id = rw_get64(f->payload);
    e->chunks = rw_get64(f->payload + 8);
    e->entries = rw_get64(f->payload + 16);
    if (e->snap_id == 0 || e->entries < e->chunks)
        return REPL_ERR(err, ARM_PROTOCOL,
                        "SNAP_END with snapshot id %llu, %llu chunks, %llu "
                        "entries",
                        (unsigned long long)e->snap_id, (unsigned long long)e->chunks,
                        (unsigned long long)e->entries);
    return ARM_OK;
}

/* ------------------------------------------------------ TXN, SNAP_CHUNK */
int repl_msg_part_decode(const repl_frame *f, repl_part *pt, arm_repl_err *err) {
    const uint8_t *p = f->payload;
    const char *name = repl_wire_type_name(f->hdr.type);
    memset(pt, 0, sizeof(*pt));
    pt->type = f->hdr.type;
    pt->shard = f->hdr.shard;
    if (pt->type != REPL_MSG_TXN && pt->type != REPL_MSG_SNAP_CHUNK)
        return REPL_ERR(err, ARM_PROTOCOL, "expected TXN or SNAP_CHUNK, got %s", name);
    if (f->hdr.len <= REPL_PART_HDR)
        return REPL_ERR(err, ARM_PROTOCOL, "%s frame without entry bytes", name);
    if (pt->type == REPL_MSG_TXN) {
        int rc = rw_pos_decode(p, &pt->after, "TXN", err);
        if (rc != ARM_OK) return rc;
        if (pt->after.seq == 0) return REPL_ERR(err, ARM_PROTOCOL, "TXN with sequence number 0");
    } else {
        pt->snap_id = rw_get64(p);
        pt->chunk_no = rw_get64(p + 8);
        if (pt->snap_id == 0 || rw_get64(p + 16) != 0)
            return REPL_ERR(err, ARM_PROTOCOL, "SNAP_CHUNK with snapshot id 0 or reserved bytes");
    }
    pt->count = rw_get32(p + 24);
    pt->total = rw_get64(p + 32);
    pt->part_off = rw_get64(p + 40);
    pt->bytes = arm_slice_make(p + REPL_PART_HDR, f->hdr.len - REPL_PART_HDR);
    if (rw_get32(p + 28) != 0) return REPL_ERR(err, ARM_PROTOCOL, "%s: reserved bytes set", name);
    if (pt->count == 0 || pt->total > ARM_REPL_TXN_MAX ||
        pt->total / (REPL_ENTRY_HDR + 1) < pt->count)
        return REPL_ERR(err, ARM_PROTOCOL, "%s: %u entries in %llu bytes", name, pt->count,
                        (unsigned long long)pt->total);
    if (pt->part_off > pt->total || pt->bytes.len > pt->total - pt->part_off)
        return REPL_ERR(err, ARM_PROTOCOL, "%s: part of %zu bytes at %llu passes the end (%llu)",
                        name, pt->bytes.len, (unsigned long long)pt->part_off,
                        (unsigned long long)pt->total);
    return ARM_OK;
}

/* ------------------------------------------------------------- entries */
int repl_entries_check(arm_slice bytes, uint32_t count, int puts_only, arm_repl_err *err) {
    size_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (bytes.len - off < REPL_ENTRY_HDR)
            return REPL_ERR(err, ARM_PROTOCOL, "entry %u of %u: truncated header", i + 1, count);
        const uint8_t *h = bytes.ptr + off;
        uint8_t type = h[0];
        uint16_t klen = rw_get16(h + 2);
        uint32_t vlen = rw_get32(h + 4);
        if (type != REPL_ENTRY_PUT && (type != REPL_ENTRY_DEL || puts_only))
            return REPL_ERR(err, ARM_PROTOCOL, "entry %u of %u: type %u", i + 1, count, type);
        if (h[1] != 0)
            return REPL_ERR(err, ARM_PROTOCOL, "entry %u of %u: flags 0x%02x", i + 1, count, h[1]);
        if (klen == 0)
            return REPL_ERR(err, ARM_PROTOCOL, "entry %u of %u: empty key", i + 1, count);
        if (type == REPL_ENTRY_DEL && vlen != 0)
            return REPL_ERR(err, ARM_PROTOCOL, "entry %u of %u: DELETE with a value", i + 1, count);
        uint64_t need = (uint64_t)REPL_ENTRY_HDR + klen + vlen;
        if (need > bytes.len - off)
            return REPL_ERR(err, ARM_PROTOCOL, "entry %u of %u: %llu bytes, %zu left", i + 1, count,
                            (unsigned long long)need, bytes.len - off);
        off += (size_t)need;
    }
    if (off != bytes.len)
        return REPL_ERR(err, ARM_PROTOCOL, "%zu bytes after the last of %u entries",
                        bytes.len - off, count);
    return ARM_OK;
}

void repl_entry_iter_init(repl_entry_iter *it, arm_slice bytes, uint32_t count) {
    it->bytes = bytes;
    it->off = 0;
    it->left = count;
}

int repl_entry_iter_next(repl_entry_iter *it, repl_entry *e) {
    if (it->left == 0) return 0;
    assert(it->bytes.len - it->off >= REPL_ENTRY_HDR);
    const uint8_t *h = it->bytes.ptr + it->off;
    uint16_t klen = rw_get16(h + 2);
    uint32_t vlen = rw_get32(h + 4);
    e->type = h[0];
    e->key = arm_slice_make(h + REPL_ENTRY_HDR, klen);
    e->val = arm_slice_make(h + REPL_ENTRY_HDR + klen, vlen);
    it->off += REPL_ENTRY_HDR + (size_t)klen + vlen;
    assert(it->off <= it->bytes.len);
    it->left--;
    return 1;
}

/* --------------------------------------------------------- part encoder */
static int rw_enc_init(repl_part_enc *enc, const repl_entry *entries, uint32_t count, int puts_only,
                       arm_repl_err *err) {
    if (ARM_NEVER(count == 0 || entries == NULL))
        return REPL_ERR(err, ARM_MISUSE, "a message needs at least one entry");
    uint64_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        const repl_entry *e = &entries[i];
        int ok = (e->type == REPL_ENTRY_PUT || (e->type == REPL_ENTRY_DEL && !puts_only)) &&
                 e->key.len >= 1 && e->key.len <= REPL_KEY_MAX && e->val.len <= UINT32_MAX &&
                 (e->type == REPL_ENTRY_PUT || e->val.len == 0);
        if (ARM_NEVER(!ok)) return REPL_ERR(err, ARM_MISUSE, "entry %u cannot be sent", i + 1);
        total += repl_entry_size(e);
        if (total > ARM_REPL_TXN_MAX)
            return REPL_ERR(err, ARM_TOOBIG, "a message of more than %llu bytes",
                            (unsigned long long)ARM_REPL_TXN_MAX);
    }
    enc->entries = entries;
    enc->count = count;
    enc->total = total;
    enc->done = 0;
    enc->idx = 0;
    enc->ioff = 0;
    return ARM_OK;
}

int repl_part_enc_txn(repl_part_enc *enc, uint16_t shard, const arm_repl_pos *after,
                      const repl_entry *entries, uint32_t count, arm_repl_err *err) {
    assert(shard < REPL_SHARDS_MAX);
    memset(enc, 0, sizeof(*enc));
    if (ARM_NEVER(after->seq == 0 || !repl_pos_valid(after)))
        return REPL_ERR(err, ARM_MISUSE, "a transaction needs a sequence number and position");
    enc->type = REPL_MSG_TXN;
    enc->shard = shard;
    enc->after = *after;
    return rw_enc_init(enc, entries, count, 0, err);
}

int repl_part_enc_snap(repl_part_enc *enc, uint64_t snap_id, uint64_t chunk_no,
                       const repl_entry *entries, uint32_t count, arm_repl_err *err) {
    memset(enc, 0, sizeof(*enc));
    if (ARM_NEVER(snap_id == 0)) return REPL_ERR(err, ARM_MISUSE, "snapshot id 0");
    enc->type = REPL_MSG_SNAP_CHUNK;
    enc->shard = REPL_SHARD_CONN;
    enc->snap_id = snap_id;
    enc->chunk_no = chunk_no;
    return rw_enc_init(enc, entries, count, 1, err);
}

/* Copy the next n bytes of the virtual entry stream (header, key, value of
 * each entry in turn) to dst. */
static void rw_enc_copy(repl_part_enc *enc, uint8_t *dst, size_t n) {
    while (n > 0) {
        assert(enc->idx < enc->count);
        const repl_entry *e = &enc->entries[enc->idx];
        uint8_t h[REPL_ENTRY_HDR];
        h[0] = e->type;
        h[1] = 0;
        rw_put16(h + 2, (uint16_t)e->key.len);
        rw_put32(h + 4, (uint32_t)e->val.len);
        const uint8_t *src;
        uint64_t avail;
        uint64_t o = enc->ioff;
        if (o < REPL_ENTRY_HDR) {
            src = h + o, avail = REPL_ENTRY_HDR - o;
        } else if (o < REPL_ENTRY_HDR + e->key.len) {
            src = e->key.ptr + (o - REPL_ENTRY_HDR), avail = REPL_ENTRY_HDR + e->key.len - o;
        } else {
            src = e->val.ptr + (o - REPL_ENTRY_HDR - e->key.len), avail = repl_entry_size(e) - o;
        }
        size_t k = (size_t)ARM_MIN((uint64_t)n, avail);
        memcpy(dst, src, k);
        dst += k;
        n -= k;
        enc->ioff += k;
        if (enc->ioff == repl_entry_size(e)) enc->idx++, enc->ioff = 0;
    }
}

int repl_part_enc_next(repl_part_enc *enc, arm_buf *out, uint32_t payload_max, int *more) {
    assert(payload_max >= ARM_REPL_PAYLOAD_MIN && payload_max <= ARM_REPL_PAYLOAD_MAX);
    assert(enc->done < enc->total);
    uint64_t chunk = ARM_MIN((uint64_t)(payload_max - REPL_PART_HDR), enc->total - enc->done);
    uint32_t len = (uint32_t)(REPL_PART_HDR + chunk);
    uint8_t *p = rw_frame_begin(out, len);
    if (p == NULL) return ARM_NOMEM;
    if (enc->type == REPL_MSG_TXN) {
        repl_wire_pos_put(p, &enc->after);
    } else {
        rw_put64(p, enc->snap_id);
        rw_put64(p + 8, enc->chunk_no);
        rw_put64(p + 16, 0);
    }
    rw_put32(p + 24, enc->count);
    rw_put32(p + 28, 0);
    rw_put64(p + 32, enc->total);
    rw_put64(p + 40, enc->done);
    rw_enc_copy(enc, p + REPL_PART_HDR, (size_t)chunk);
    enc->done += chunk;
    rw_frame_seal(out, enc->type, enc->shard, len);
    *more = enc->done < enc->total;
    assert(*more || enc->idx == enc->count);
    return ARM_OK;
}

/* ----------------------------------------------------------- assembler */
void repl_asm_init(repl_asm *a, uint64_t txn_max) {
    memset(a, 0, sizeof(*a));
    a->txn_max = txn_max;
}

void repl_asm_reset(repl_asm *a) {
    a->active = 0;
    a->complete = 0;
    a->have = 0;
    a->buf.len = 0;
    memset(&a->head, 0, sizeof(a->head));
}

void repl_asm_free(repl_asm *a) {
    if (a == NULL) return;
    arm_buf_free(&a->buf);
    repl_asm_reset(a);
}

/* A later part repeats the first part's fields and continues where the
 * stream stopped. */
static int rw_asm_same(const repl_asm *a, const repl_part *p, arm_repl_err *err) {
    const repl_part *h = &a->head;
    int same = p->type == h->type && p->shard == h->shard && p->count == h->count &&
               p->total == h->total && p->snap_id == h->snap_id && p->chunk_no == h->chunk_no &&
               p->after.seq == h->after.seq && p->after.off == h->after.off &&
               p->after.fid == h->after.fid && p->after.len == h->after.len;
    if (!same)
        return REPL_ERR(err, ARM_PROTOCOL,
                        "%s part does not belong to the message being "
                        "received (seq %llu)",
                        repl_wire_type_name(p->type), (unsigned long long)h->after.seq);
    if (p->part_off != a->have)
        return REPL_ERR(err, ARM_PROTOCOL, "%s part at offset %llu, expected %llu",
                        repl_wire_type_name(p->type), (unsigned long long)p->part_off,
                        (unsigned long long)a->have);
    return ARM_OK;
}

/* The message is whole: check its entries, hand it out. */
static int rw_asm_finish(repl_asm *a, arm_slice bytes, int *complete, arm_repl_err *err) {
    int rc = repl_entries_check(bytes, a->head.count, a->head.type == REPL_MSG_SNAP_CHUNK, err);
    if (rc != ARM_OK) {
        repl_asm_reset(a);
        return rc;
    }
    a->active = 0;
    a->complete = 1;
    a->head.bytes = bytes;
    a->head.part_off = 0;
    *complete = 1;
    return ARM_OK;
}

int repl_asm_feed(repl_asm *a, const repl_part *p, int *complete, arm_repl_err *err) {
    assert(complete != NULL);
    *complete = 0;
    if (a->complete) repl_asm_reset(a); /* the previous message was handed out */
    if (!a->active) {
        if (p->part_off != 0)
            return REPL_ERR(err, ARM_PROTOCOL, "%s part at offset %llu without its beginning",
                            repl_wire_type_name(p->type), (unsigned long long)p->part_off);
        if (p->total > a->txn_max)
            return REPL_ERR(err, ARM_PROTOCOL, "%s of %llu bytes, this side accepts %llu",
                            repl_wire_type_name(p->type), (unsigned long long)p->total,
                            (unsigned long long)a->txn_max);
        a->head = *p;
        a->have = 0;
        a->buf.len = 0;
        if (p->bytes.len == p->total) return rw_asm_finish(a, p->bytes, complete, err);
        a->active = 1;
    } else {
        int rc = rw_asm_same(a, p, err);
        if (rc != ARM_OK) {
            repl_asm_reset(a);
            return rc;
        }
    }
    /* Grow with the data actually received (never by the announced total, so
     * a peer cannot make us reserve memory it never sends). */
    if (arm_buf_reserve(&a->buf, a->buf.len + p->bytes.len) != ARM_OK) {
        repl_asm_reset(a);
        return REPL_ERR(err, ARM_NOMEM, "out of memory assembling a %llu-byte message",
                        (unsigned long long)a->head.total);
    }
    memcpy(a->buf.ptr + a->buf.len, p->bytes.ptr, p->bytes.len);
    a->buf.len += p->bytes.len;
    a->have += p->bytes.len;
    assert(a->have <= a->head.total);
    if (a->have < a->head.total) return ARM_OK;
    return rw_asm_finish(a, arm_slice_make(a->buf.ptr, a->buf.len), complete, err);
}

/* ------------------------------------------------------ session checks */
int repl_wire_check_direction(uint8_t type, uint8_t receiver_role, arm_repl_err *err) {
    int from_leader_only = type == REPL_MSG_START || type == REPL_MSG_TXN ||
                           type == REPL_MSG_SNAP_BEGIN || type == REPL_MSG_SNAP_CHUNK ||
                           type == REPL_MSG_SNAP_END;
    int from_follower_only = type == REPL_MSG_SUBSCRIBE || type == REPL_MSG_ACK;
    if (receiver_role == REPL_ROLE_LEADER && from_leader_only)
        return REPL_ERR(err, ARM_PROTOCOL, "a follower does not send %s",
                        repl_wire_type_name(type));
    if (receiver_role == REPL_ROLE_FOLLOWER && from_follower_only)
        return REPL_ERR(err, ARM_PROTOCOL, "a leader does not send %s", repl_wire_type_name(type));
    return ARM_OK;
}

int repl_wire_check_shard(const repl_frame_hdr *h, uint32_t shard_count, arm_repl_err *err) {
    if (!repl_wire_type_is_shard(h->type) || h->shard < shard_count) return ARM_OK;
    return REPL_ERR(err, ARM_PROTOCOL, "%s frame for shard %u, the session has %u shards",
                    repl_wire_type_name(h->type), h->shard, shard_count);
}

int repl_wire_check_stream(const repl_frame_hdr *h, uint16_t expected, arm_repl_err *err) {
    if (!repl_wire_type_is_shard(h->type) || h->shard == expected) return ARM_OK;
    return REPL_ERR(err, ARM_PROTOCOL, "%s frame for shard %u on the stream of shard %u",
                    repl_wire_type_name(h->type), h->shard, expected);
}

int repl_wire_check_txn_order(const arm_repl_pos *prev, const arm_repl_pos *next,
                              arm_repl_err *err) {
    if (next->seq > prev->seq && arm_repl_pos_cmp(next, prev) > 0) return ARM_OK;
    return REPL_ERR(err, ARM_PROTOCOL,
                    "transaction seq %llu at file %u offset %llu does not follow seq %llu at "
                    "file %u offset %llu (repeated or out of order)",
                    (unsigned long long)next->seq, next->fid, (unsigned long long)next->off,
                    (unsigned long long)prev->seq, prev->fid, (unsigned long long)prev->off);
}

/* Hex of a database id, for messages. */
static void rw_hex_id(const uint8_t id[REPL_DBID_BYTES], char out[2 * REPL_DBID_BYTES + 1]) {
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < REPL_DBID_BYTES; i++) {
        out[2 * i] = hx[id[i] >> 4];
        out[2 * i + 1] = hx[id[i] & 15];
    }
    out[(size_t)2 * REPL_DBID_BYTES] = '\0';
}

static int rw_check_auth(const repl_hello *mine, const repl_hello *peer, arm_repl_err *err) {
    int me = (mine->flags & REPL_HELLO_AUTH) != 0, them = (peer->flags & REPL_HELLO_AUTH) != 0;
    const char *peer_role = peer->role == REPL_ROLE_LEADER ? "leader" : "follower";
    if (me && !them)
        return REPL_ERR(err, ARM_AUTH,
                        "the %s has no shared secret but this side requires "
                        "authentication; refusing it",
                        peer_role);
    if (!me && them)
        return REPL_ERR(err, ARM_AUTH,
                        "the %s expects authentication but this side has no "
                        "shared secret configured",
                        peer_role);
    return ARM_OK;
}

int repl_wire_check_hello(const repl_hello *mine, const repl_hello *peer, arm_repl_err *err) {
    assert(mine->role == REPL_ROLE_LEADER || mine->role == REPL_ROLE_FOLLOWER);
    if (peer->role == mine->role)
        return REPL_ERR(err, ARM_PROTOCOL, "both sides are %s",
                        mine->role == REPL_ROLE_LEADER ? "leaders" : "followers");
    if (peer->engine_fmt != mine->engine_fmt)
        return REPL_ERR(err, ARM_PROTOCOL, "engine format version mismatch: peer %u, this side %u",
                        peer->engine_fmt, mine->engine_fmt);
    const repl_hello *l = mine->role == REPL_ROLE_LEADER ? mine : peer;
    const repl_hello *f = mine->role == REPL_ROLE_LEADER ? peer : mine;
    if (l->shard_count != f->shard_count)
        return REPL_ERR(err, ARM_PROTOCOL,
                        "shard count mismatch: the leader has %u shards, the "
                        "follower %u",
                        l->shard_count, f->shard_count);
    if (memcmp(l->db_id, f->db_id, REPL_DBID_BYTES) == 0) {
        char hex[2 * REPL_DBID_BYTES + 1];
        rw_hex_id(l->db_id, hex);
        return REPL_ERR(err, ARM_PROTOCOL, "leader and follower are the same database (id %s)",
                        hex);
    }
    int rc = rw_check_auth(mine, peer, err);
    if (rc == ARM_OK && l->txn_max > f->txn_max)
        rc = REPL_ERR(err, ARM_PROTOCOL,
                      "the leader may send transactions of %llu bytes, the "
                      "follower accepts at most %llu",
                      (unsigned long long)l->txn_max, (unsigned long long)f->txn_max);
    return rc;
}

int repl_hello_positions_valid(const repl_hello *f, const repl_hello *l) {
    assert(f->role == REPL_ROLE_FOLLOWER && l->role == REPL_ROLE_LEADER);
    return (f->flags & REPL_HELLO_HAVE_POS) != 0 &&
           memcmp(f->peer_db_id, l->db_id, REPL_DBID_BYTES) == 0;
}
