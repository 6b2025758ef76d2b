/* SPDX-License-Identifier: MIT */
/*
 * test_repl_wire.c: the replication wire format (repl_wire.c). Every message
 * round-trips; the bytes sit where repl_wire.c and ARCHITECTURE.md draw them
 * (and a golden checksum pins the whole format); every rejection the
 * decoders promise happens, with a message that says what: bad checksums,
 * truncation, oversized or wrong lengths (before any payload is needed),
 * unknown types, reserved bits, protocol version, bad positions, entries that
 * do not parse, parts out of order; and the session checks (direction, wrong
 * shard, order, peer compatibility). Transactions larger than one payload
 * are cut into parts and reassembled exactly (seeded random sizes).
 */
#include "../harness.h"
#include "../../engine/engine_int.h"
#include "../../common/arm_alloc.h"
#include "../../common/arm_hash.h"
#include "repl_test.h"

/* The repl layer may not include engine internals; its copies of the
 * engine's constants are checked here, where both are visible. */
_Static_assert(REPL_SHARDS_MAX == ARM_SHARDS_MAX, "shard bound");
_Static_assert(REPL_ENGINE_FORMAT == ARM_FORMAT_VERSION, "engine format version");
_Static_assert(REPL_SEQ_MAX == ARM_SEQ_MAX, "sequence bound");
_Static_assert(REPL_KEY_MAX == ARM_KEY_SIZE_MAX, "key bound");
_Static_assert(REPL_LOG_ENTRY_MIN == ARM_ENTRY_HEADER, "smallest log entry");
_Static_assert(sizeof(arm_repl_pos) == sizeof(arm_log_pos), "one position, two names");
_Static_assert(ARM_REPL_TXN_MAX >= ARM_FILE_SIZE_MAX, "a transaction fits in one data file");

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}
static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A frame of `type` around raw payload bytes, with good checksums. */
static repl_frame frame_of(arm_buf *buf, uint8_t type, uint16_t shard, const void *p, uint32_t n) {
    buf->len = 0;
    ARM_CHECK(repl_wire_frame_append(buf, type, shard, p, n) == ARM_OK);
    return rt_frame_one(buf);
}

/* Reseal the header checksum of the frame at p after editing bytes 0..11. */
static void reseal_hdr(uint8_t *p) {
    put32(p + 12, (uint32_t)arm_hash_checksum(p, 12));
}

static const arm_repl_pos k_pos = {.seq = 42, .off = 4096, .fid = 3, .len = 31};

/* ------------------------------------------------------------ frames */
static void test_frame_layout(void) {
    arm_buf b = {0};
    uint8_t payload[24];
    for (int i = 0; i < 24; i++)
        payload[i] = (uint8_t)i;
    ARM_CHECK(repl_wire_frame_append(&b, REPL_MSG_HEARTBEAT, REPL_SHARD_CONN, payload, 24) ==
              ARM_OK);
    ARM_CHECK(b.len == 16 + 24);
    ARM_CHECK(get32(b.ptr) == 24);
    ARM_CHECK(b.ptr[4] == REPL_MSG_HEARTBEAT && b.ptr[5] == 0);
    ARM_CHECK(b.ptr[6] == 0xFF && b.ptr[7] == 0xFF);
    ARM_CHECK(get32(b.ptr + 8) == (uint32_t)arm_hash_checksum(payload, 24));
    ARM_CHECK(get32(b.ptr + 12) == (uint32_t)arm_hash_checksum(b.ptr, 12));
    ARM_CHECK(memcmp(b.ptr + 16, payload, 24) == 0);
    repl_frame f = rt_frame_one(&b);
    ARM_CHECK(f.hdr.type == REPL_MSG_HEARTBEAT && f.hdr.len == 24 && f.payload == b.ptr + 16);
    arm_buf_free(&b);
}

static void test_frame_truncated(void) {
    arm_buf b = {0};
    repl_subscribe s = {REPL_SUB_HAVE_POS, k_pos};
    ARM_CHECK(repl_msg_subscribe_encode(&b, 1, &s) == ARM_OK);
    for (size_t n = 0; n < b.len; n++) {
        repl_frame f;
        size_t used = 0;
        arm_repl_err e = {0, ""};
        ARM_CHECK_RC(repl_wire_frame_decode(b.ptr, n, ARM_REPL_PAYLOAD_MAX, &f, &used, &e),
                     ARM_NOTFOUND);
        ARM_CHECK(used == (n < REPL_FRAME_HDR ? REPL_FRAME_HDR : b.len));
    }
    arm_buf_free(&b);
}

static void test_frame_bad_checksums(void) {
    arm_buf b = {0};
    repl_heartbeat hb = {1, 2, 3};
    ARM_CHECK(repl_msg_heartbeat_encode(&b, &hb) == ARM_OK);
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.ptr[i] ^= (uint8_t)(1u << bit);
            repl_frame f;
            size_t used;
            arm_repl_err e = {0, ""};
            ARM_CHECK_RC(repl_wire_frame_decode(b.ptr, b.len, ARM_REPL_PAYLOAD_MAX, &f, &used, &e),
                         ARM_PROTOCOL);
            RT_CHECK_MSG(&e, i < REPL_FRAME_HDR ? "header checksum" : "payload checksum");
            b.ptr[i] ^= (uint8_t)(1u << bit);
        }
    }
    arm_buf_free(&b);
}

/* A header with good checksum but a bad field is refused on the 16 header
 * bytes alone: nothing of the payload is needed (or reserved) to say no. */
static void hdr_reject(uint32_t len, uint8_t type, uint8_t flags, uint16_t shard,
                       uint32_t payload_max, const char *needle) {
    uint8_t h[16];
    put32(h, len);
    h[4] = type;
    h[5] = flags;
    h[6] = (uint8_t)shard;
    h[7] = (uint8_t)(shard >> 8);
    put32(h + 8, 0);
    reseal_hdr(h);
    repl_frame f;
    size_t used;
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(repl_wire_frame_decode(h, sizeof(h), payload_max, &f, &used, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, needle);
}

static void test_frame_header_rejects(void) {
    hdr_reject(ARM_REPL_PAYLOAD_MIN + 1, REPL_MSG_TXN, 0, 0, ARM_REPL_PAYLOAD_MIN, "oversized");
    hdr_reject(0xFFFFFFFFu, REPL_MSG_TXN, 0, 0, ARM_REPL_PAYLOAD_MAX, "oversized");
    hdr_reject(24, 0, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX, "unknown frame type 0");
    hdr_reject(24, 12, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX, "unknown frame type 12");
    hdr_reject(24, 255, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX, "unknown frame type 255");
    hdr_reject(24, REPL_MSG_HEARTBEAT, 1, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX, "reserved flags");
    hdr_reject(25, REPL_MSG_HEARTBEAT, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX,
               "25 payload bytes");
    hdr_reject(31, REPL_MSG_AUTH, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX, "expected 32..32");
    hdr_reject(48, REPL_MSG_TXN, 0, 0, ARM_REPL_PAYLOAD_MAX, "TXN frame of 48");
    hdr_reject(11, REPL_MSG_HELLO, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX, "HELLO frame of 11");
    hdr_reject(2000, REPL_MSG_HELLO, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX,
               "HELLO frame of 2000");
    hdr_reject(249, REPL_MSG_ERROR, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX, "ERROR frame of 249");
    hdr_reject(24, REPL_MSG_HEARTBEAT, 0, 0, ARM_REPL_PAYLOAD_MAX, "shard field 0");
    hdr_reject(24, REPL_MSG_START, 0, REPL_SHARD_CONN, ARM_REPL_PAYLOAD_MAX, "shard field 65535");
    hdr_reject(24, REPL_MSG_START, 0, 1024, ARM_REPL_PAYLOAD_MAX, "shard field 1024");
}

/* --------------------------------------------------------------- HELLO */
static repl_hello sample_hello(uint8_t role) {
    repl_hello h;
    memset(&h, 0, sizeof(h));
    h.proto = ARM_REPL_PROTOCOL_VERSION;
    h.engine_fmt = REPL_ENGINE_FORMAT;
    h.role = role;
    h.shard_count = 4;
    h.payload_max = ARM_REPL_PAYLOAD_MIN;
    h.txn_max = 1u << 20;
    rt_id(h.db_id, role);
    if (role == REPL_ROLE_FOLLOWER) {
        h.flags = REPL_HELLO_AUTH | REPL_HELLO_HAVE_POS | REPL_HELLO_EMPTY;
        rt_id(h.peer_db_id, 99);
    } else {
        h.flags = REPL_HELLO_AUTH;
    }
    memset(h.nonce, 0xA5, sizeof(h.nonce));
    return h;
}

static void test_hello_roundtrip(void) {
    arm_buf b = {0};
    for (uint8_t role = 1; role <= 2; role++) {
        repl_hello h = sample_hello(role), d;
        b.len = 0;
        ARM_CHECK(repl_msg_hello_encode(&b, &h) == ARM_OK);
        repl_frame f = rt_frame_one(&b);
        const uint8_t *p = f.payload;
        ARM_CHECK(f.hdr.len == REPL_HELLO_SIZE);
        ARM_CHECK(memcmp(p, "ARMREPL\0", 8) == 0);
        ARM_CHECK(p[8] == 1 && p[9] == 0 && p[12] == role && p[13] == h.flags);
        ARM_CHECK(get32(p + 16) == 4 && get32(p + 20) == ARM_REPL_PAYLOAD_MIN);
        ARM_CHECK(get64(p + 24) == (1u << 20) && memcmp(p + 32, h.db_id, 16) == 0);
        ARM_CHECK(memcmp(p + 48, h.peer_db_id, 16) == 0 && memcmp(p + 64, h.nonce, 32) == 0);
        arm_repl_err e = {0, ""};
        RT_CHECK_RC(repl_msg_hello_decode(&f, &d, &e), &e, ARM_OK);
        ARM_CHECK(memcmp(&h, &d, sizeof(h)) == 0);
        uint8_t raw[REPL_HELLO_SIZE];
        repl_msg_hello_raw(&h, raw);
        ARM_CHECK(memcmp(raw, p, REPL_HELLO_SIZE) == 0);
    }
    arm_buf_free(&b);
}

/* Edit one byte range of a good follower hello, expect a refusal naming why. */
static void hello_reject(size_t off, const void *bytes, size_t n, uint32_t len,
                         const char *needle) {
    repl_hello h = sample_hello(REPL_ROLE_FOLLOWER), d;
    uint8_t raw[REPL_HELLO_MAX];
    memset(raw, 0, sizeof(raw));
    repl_msg_hello_raw(&h, raw);
    memcpy(raw + off, bytes, n);
    arm_buf b = {0};
    repl_frame f = frame_of(&b, REPL_MSG_HELLO, REPL_SHARD_CONN, raw, len);
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(repl_msg_hello_decode(&f, &d, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, needle);
    arm_buf_free(&b);
}

static void test_hello_rejects(void) {
    uint8_t v2[2] = {2, 0}, zero16[16] = {0}, zero32[32] = {0}, b1 = 0, b3 = 3, big[4];
    hello_reject(0, "HTTP/1.1", 8, REPL_HELLO_SIZE, "not an armdb peer");
    hello_reject(8, v2, 2, REPL_HELLO_SIZE, "protocol version 2, this build speaks 1");
    hello_reject(8, v2, 2, 200, "protocol version 2"); /* a longer v2 hello: version first */
    hello_reject(0, "ARMREPL", 1, 95, "HELLO frame of 95 bytes, expected 96");
    hello_reject(12, &b1, 1, REPL_HELLO_SIZE, "unknown role 0");
    hello_reject(12, &b3, 1, REPL_HELLO_SIZE, "unknown role 3");
    uint8_t f8 = 0x08;
    hello_reject(13, &f8, 1, REPL_HELLO_SIZE, "unknown flags");
    hello_reject(14, &b3, 1, REPL_HELLO_SIZE, "unknown flags"); /* reserved */
    put32(big, 0);
    hello_reject(16, big, 4, REPL_HELLO_SIZE, "shard count 0");
    put32(big, 1025);
    hello_reject(16, big, 4, REPL_HELLO_SIZE, "shard count 1025");
    put32(big, ARM_REPL_PAYLOAD_MIN - 1);
    hello_reject(20, big, 4, REPL_HELLO_SIZE, "payload bound");
    put32(big, ARM_REPL_PAYLOAD_MAX + 1);
    hello_reject(20, big, 4, REPL_HELLO_SIZE, "payload bound");
    uint8_t t8[8];
    put64(t8, 1023);
    hello_reject(24, t8, 8, REPL_HELLO_SIZE, "transaction bound");
    put64(t8, ARM_REPL_TXN_MAX + 1);
    hello_reject(24, t8, 8, REPL_HELLO_SIZE, "transaction bound");
    hello_reject(32, zero16, 16, REPL_HELLO_SIZE, "all-zero database id");
    hello_reject(48, zero16, 16, REPL_HELLO_SIZE, "missing with HAVE_POS");
    hello_reject(64, zero32, 32, REPL_HELLO_SIZE, "nonce missing");
    /* the other way round: fields without their flag */
    uint8_t auth_only = REPL_HELLO_AUTH, pos_only = REPL_HELLO_HAVE_POS;
    hello_reject(13, &auth_only, 1, REPL_HELLO_SIZE, "set without HAVE_POS");
    hello_reject(13, &pos_only, 1, REPL_HELLO_SIZE, "nonce without AUTH");
    /* a leader may set only AUTH */
    repl_hello l = sample_hello(REPL_ROLE_LEADER), d;
    l.flags |= REPL_HELLO_EMPTY;
    arm_buf b = {0};
    ARM_CHECK(repl_msg_hello_encode(&b, &l) == ARM_OK);
    repl_frame f = rt_frame_one(&b);
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(repl_msg_hello_decode(&f, &d, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "unknown flags");
    /* a decoder handed the wrong type says so */
    f.hdr.type = REPL_MSG_AUTH;
    ARM_CHECK_RC(repl_msg_hello_decode(&f, &d, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "expected a HELLO frame, got AUTH");
    arm_buf_free(&b);
}

/* ------------------------------------------------- small fixed messages */
static void test_small_roundtrips(void) {
    arm_buf b = {0};
    arm_repl_err e = {0, ""};
    uint8_t proof[32], proof2[32];
    for (int i = 0; i < 32; i++)
        proof[i] = (uint8_t)(i * 7);
    ARM_CHECK(repl_msg_auth_encode(&b, proof) == ARM_OK);
    repl_frame f = rt_frame_one(&b);
    RT_CHECK_RC(repl_msg_auth_decode(&f, proof2, &e), &e, ARM_OK);
    ARM_CHECK(memcmp(proof, proof2, 32) == 0);

    repl_subscribe s = {REPL_SUB_HAVE_POS, k_pos}, s2;
    b.len = 0;
    ARM_CHECK(repl_msg_subscribe_encode(&b, 3, &s) == ARM_OK);
    f = rt_frame_one(&b);
    ARM_CHECK(f.hdr.shard == 3 && get32(f.payload) == 1 && get64(f.payload + 8) == 42);
    ARM_CHECK(get64(f.payload + 16) == 4096 && get32(f.payload + 24) == 3);
    ARM_CHECK(get32(f.payload + 28) == 31);
    RT_CHECK_RC(repl_msg_subscribe_decode(&f, &s2, &e), &e, ARM_OK);
    ARM_CHECK(s2.flags == s.flags && arm_repl_pos_cmp(&s2.pos, &k_pos) == 0 && s2.pos.seq == 42);
    repl_subscribe none = {0, {0, 0, 0, 0}};
    b.len = 0;
    ARM_CHECK(repl_msg_subscribe_encode(&b, 0, &none) == ARM_OK);
    f = rt_frame_one(&b);
    RT_CHECK_RC(repl_msg_subscribe_decode(&f, &s2, &e), &e, ARM_OK);
    ARM_CHECK(s2.flags == 0 && s2.pos.seq == 0);

    arm_repl_pos p2;
    b.len = 0;
    ARM_CHECK(repl_msg_start_encode(&b, 7, &k_pos) == ARM_OK);
    f = rt_frame_one(&b);
    RT_CHECK_RC(repl_msg_start_decode(&f, &p2, &e), &e, ARM_OK);
    ARM_CHECK(f.hdr.shard == 7 && p2.seq == 42 && p2.off == 4096 && p2.fid == 3 && p2.len == 31);

    repl_ack a = {k_pos, 12345}, a2;
    b.len = 0;
    ARM_CHECK(repl_msg_ack_encode(&b, 1, &a) == ARM_OK);
    f = rt_frame_one(&b);
    RT_CHECK_RC(repl_msg_ack_decode(&f, &a2, &e), &e, ARM_OK);
    ARM_CHECK(a2.applied == 12345 && a2.pos.seq == 42 && a2.pos.fid == 3);

    repl_heartbeat h = {111, 222, 333}, h2;
    b.len = 0;
    ARM_CHECK(repl_msg_heartbeat_encode(&b, &h) == ARM_OK);
    f = rt_frame_one(&b);
    RT_CHECK_RC(repl_msg_heartbeat_decode(&f, &h2, &e), &e, ARM_OK);
    ARM_CHECK(h2.now_ms == 111 && h2.echo_ms == 222 && h2.last_seq == 333);

    repl_error_msg em;
    b.len = 0;
    ARM_CHECK(repl_msg_error_encode(&b, ARM_FULL, "too many followers\n(8)\x01") == ARM_OK);
    f = rt_frame_one(&b);
    RT_CHECK_RC(repl_msg_error_decode(&f, &em, &e), &e, ARM_OK);
    ARM_CHECK(em.code == ARM_FULL && strcmp(em.text, "too many followers?(8)?") == 0);
    char longtext[600];
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    b.len = 0;
    ARM_CHECK(repl_msg_error_encode(&b, ARM_PROTOCOL, longtext) == ARM_OK);
    f = rt_frame_one(&b);
    RT_CHECK_RC(repl_msg_error_decode(&f, &em, &e), &e, ARM_OK);
    ARM_CHECK(strlen(em.text) == REPL_ERRTEXT_MAX);

    arm_repl_pos cut[3] = {{0, 0, 0, 0}, {9, 100, 2, 20}, {10, 200, 5, 100}};
    repl_snap_begin sb;
    b.len = 0;
    ARM_CHECK(repl_msg_snap_begin_encode(&b, 77, 1000, 3, cut) == ARM_OK);
    f = rt_frame_one(&b);
    ARM_CHECK(f.hdr.len == 24 + 3 * 24);
    RT_CHECK_RC(repl_msg_snap_begin_decode(&f, &sb, &e), &e, ARM_OK);
    ARM_CHECK(sb.snap_id == 77 && sb.keys == 1000 && sb.shard_count == 3);
    for (uint32_t i = 0; i < 3; i++) {
        repl_snap_begin_pos(&sb, i, &p2);
        ARM_CHECK(p2.seq == cut[i].seq && p2.off == cut[i].off && p2.fid == cut[i].fid &&
                  p2.len == cut[i].len);
    }
    repl_snap_end se = {77, 2, 5}, se2;
    b.len = 0;
    ARM_CHECK(repl_msg_snap_end_encode(&b, &se) == ARM_OK);
    f = rt_frame_one(&b);
    RT_CHECK_RC(repl_msg_snap_end_decode(&f, &se2, &e), &e, ARM_OK);
    ARM_CHECK(se2.snap_id == 77 && se2.chunks == 2 && se2.entries == 5);
    arm_buf_free(&b);
}

typedef int (*decode_fn)(const repl_frame *f, void *out, arm_repl_err *err);
static int dec_sub(const repl_frame *f, void *o, arm_repl_err *e) {
    return repl_msg_subscribe_decode(f, o, e);
}
static int dec_start(const repl_frame *f, void *o, arm_repl_err *e) {
    return repl_msg_start_decode(f, o, e);
}
static int dec_ack(const repl_frame *f, void *o, arm_repl_err *e) {
    return repl_msg_ack_decode(f, o, e);
}
static int dec_hb(const repl_frame *f, void *o, arm_repl_err *e) {
    return repl_msg_heartbeat_decode(f, o, e);
}
static int dec_err(const repl_frame *f, void *o, arm_repl_err *e) {
    return repl_msg_error_decode(f, o, e);
}
static int dec_sb(const repl_frame *f, void *o, arm_repl_err *e) {
    return repl_msg_snap_begin_decode(f, o, e);
}
static int dec_se(const repl_frame *f, void *o, arm_repl_err *e) {
    return repl_msg_snap_end_decode(f, o, e);
}

static void msg_reject(uint8_t type, uint16_t shard, const uint8_t *p, uint32_t n, decode_fn fn,
                       const char *needle) {
    union {
        repl_subscribe s;
        arm_repl_pos pos;
        repl_ack a;
        repl_heartbeat h;
        repl_error_msg em;
        repl_snap_begin sb;
        repl_snap_end se;
    } out;
    arm_buf b = {0};
    repl_frame f = frame_of(&b, type, shard, p, n);
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(fn(&f, &out, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, needle);
    arm_buf_free(&b);
}

static void test_small_rejects(void) {
    uint8_t p[24 + 24 * 2];
    /* positions: reserved bytes, seq 0 with a place, a place without a file, seq too big */
    memset(p, 0, sizeof(p));
    repl_wire_pos_put(p + 8, &k_pos);
    put32(p, 1);
    put32(p + 8 + 20, 19); /* shorter than any log entry */
    msg_reject(REPL_MSG_SUBSCRIBE, 0, p, 32, dec_sub, "invalid position");
    put32(p + 8 + 20, 4097); /* an entry longer than the offset it ends at */
    msg_reject(REPL_MSG_SUBSCRIBE, 0, p, 32, dec_sub, "length 4097");
    memset(p, 0, sizeof(p));
    put32(p + 8 + 20, 20); /* the origin has no length */
    msg_reject(REPL_MSG_SUBSCRIBE, 0, p, 32, dec_sub, "invalid position");
    memset(p, 0, sizeof(p));
    put32(p, 2);
    msg_reject(REPL_MSG_SUBSCRIBE, 0, p, 32, dec_sub, "unknown flags 0x2");
    memset(p, 0, sizeof(p));
    put64(p + 16, 5); /* off without seq: not the origin */
    msg_reject(REPL_MSG_SUBSCRIBE, 0, p, 32, dec_sub, "invalid position");
    memset(p, 0, sizeof(p));
    repl_wire_pos_put(p + 8, &k_pos); /* a position but no HAVE_POS */
    msg_reject(REPL_MSG_SUBSCRIBE, 0, p, 32, dec_sub, "no HAVE_POS");
    arm_repl_pos nofile = {5, 100, 0, 20}, huge = {REPL_SEQ_MAX, 100, 1, 20};
    repl_wire_pos_put(p, &nofile);
    msg_reject(REPL_MSG_START, 0, p, 24, dec_start, "invalid position (file 0");
    repl_wire_pos_put(p, &huge);
    msg_reject(REPL_MSG_START, 0, p, 24, dec_start, "invalid position");
    memset(p, 0, sizeof(p));
    repl_wire_pos_put(p, &huge);
    msg_reject(REPL_MSG_ACK, 0, p, 32, dec_ack, "ACK: invalid position");
    memset(p, 0, sizeof(p));
    put64(p + 16, REPL_SEQ_MAX);
    msg_reject(REPL_MSG_HEARTBEAT, REPL_SHARD_CONN, p, 24, dec_hb, "HEARTBEAT with sequence");
    /* ERROR: code 0, reserved, text length off, unprintable text */
    memset(p, 0, sizeof(p));
    msg_reject(REPL_MSG_ERROR, REPL_SHARD_CONN, p, 8, dec_err, "code 0");
    put32(p, ARM_AUTH);
    p[6] = 1;
    msg_reject(REPL_MSG_ERROR, REPL_SHARD_CONN, p, 8, dec_err, "reserved");
    p[6] = 0;
    p[4] = 3;
    memcpy(p + 8, "abcd", 4);
    msg_reject(REPL_MSG_ERROR, REPL_SHARD_CONN, p, 12, dec_err, "text of 3 bytes in 12");
    p[4] = 4;
    p[9] = 0x07;
    msg_reject(REPL_MSG_ERROR, REPL_SHARD_CONN, p, 12, dec_err, "unprintable");
    /* SNAP_BEGIN: id 0, reserved, count disagreeing with the length, bad position */
    memset(p, 0, sizeof(p));
    put32(p + 16, 2);
    msg_reject(REPL_MSG_SNAP_BEGIN, REPL_SHARD_CONN, p, 72, dec_sb, "snapshot id 0");
    put64(p, 9);
    put32(p + 20, 1);
    msg_reject(REPL_MSG_SNAP_BEGIN, REPL_SHARD_CONN, p, 72, dec_sb, "reserved");
    put32(p + 20, 0);
    put32(p + 16, 3);
    msg_reject(REPL_MSG_SNAP_BEGIN, REPL_SHARD_CONN, p, 72, dec_sb, "3 shards in 72 bytes");
    put32(p + 16, 2);
    repl_wire_pos_put(p + 48, &nofile);
    msg_reject(REPL_MSG_SNAP_BEGIN, REPL_SHARD_CONN, p, 72, dec_sb, "invalid position");
    /* SNAP_END: id 0, fewer entries than chunks */
    memset(p, 0, sizeof(p));
    msg_reject(REPL_MSG_SNAP_END, REPL_SHARD_CONN, p, 24, dec_se, "snapshot id 0");
    put64(p, 1);
    put64(p + 8, 3);
    put64(p + 16, 2);
    msg_reject(REPL_MSG_SNAP_END, REPL_SHARD_CONN, p, 24, dec_se, "3 chunks, 2 entries");
}

/* ---------------------------------------------------- parts, assembler */
/* Entries over one backing store; keys "k<i>", values of vlen bytes. */
typedef struct txn_fix {
    repl_entry e[64];
    uint8_t keys[64][16];
    uint8_t *vals[64];
    uint32_t n;
} txn_fix;

static void fix_make(txn_fix *t, uint32_t n, size_t vlen_max, util_rng *r, int puts_only) {
    ARM_CHECK(n >= 1 && n <= 64);
    t->n = n;
    for (uint32_t i = 0; i < n; i++) {
        size_t klen = 1 + util_rng_below(r, 16);
        util_fill(t->keys[i], klen, i, 1);
        int del = !puts_only && util_rng_below(r, 4) == 0;
        size_t vlen = del ? 0 : util_rng_below(r, vlen_max + 1);
        t->vals[i] = malloc(vlen ? vlen : 1);
        ARM_CHECK(t->vals[i] != NULL);
        util_fill(t->vals[i], vlen, i, 2);
        t->e[i].type = del ? REPL_ENTRY_DEL : REPL_ENTRY_PUT;
        t->e[i].key = arm_slice_make(t->keys[i], klen);
        t->e[i].val = arm_slice_make(t->vals[i], vlen);
    }
}

static void fix_free(txn_fix *t) {
    for (uint32_t i = 0; i < t->n; i++)
        free(t->vals[i]);
}

/* Encode t as frames of payload_max, decode and reassemble them; the
 * result must equal t. Returns the number of frames. */
static int roundtrip_parts(const txn_fix *t, int snap, uint32_t payload_max) {
    repl_part_enc enc;
    arm_repl_err e = {0, ""};
    if (snap)
        RT_CHECK_RC(repl_part_enc_snap(&enc, 5, 9, t->e, t->n, &e), &e, ARM_OK);
    else
        RT_CHECK_RC(repl_part_enc_txn(&enc, 2, &k_pos, t->e, t->n, &e), &e, ARM_OK);
    arm_buf b = {0};
    int more = 1, frames = 0;
    while (more) {
        ARM_CHECK(repl_part_enc_next(&enc, &b, payload_max, &more) == ARM_OK);
        frames++;
    }
    repl_asm a;
    repl_asm_init(&a, ARM_REPL_TXN_MAX);
    size_t off = 0;
    int complete = 0;
    for (int i = 0; i < frames; i++) {
        repl_frame f = rt_frame_at(&b, &off);
        ARM_CHECK(f.hdr.len <= payload_max);
        ARM_CHECK(f.hdr.type == (snap ? REPL_MSG_SNAP_CHUNK : REPL_MSG_TXN));
        repl_part p;
        RT_CHECK_RC(repl_msg_part_decode(&f, &p, &e), &e, ARM_OK);
        ARM_CHECK(complete == 0);
        RT_CHECK_RC(repl_asm_feed(&a, &p, &complete, &e), &e, ARM_OK);
        ARM_CHECK(repl_asm_pending(&a) == (i + 1 < frames));
        /* a message in one frame is handed out without a copy */
        if (frames == 1) ARM_CHECK(a.head.bytes.ptr == f.payload + REPL_PART_HDR);
    }
    ARM_CHECK(complete == 1 && off == b.len);
    ARM_CHECK(a.head.count == t->n && a.head.type == (snap ? REPL_MSG_SNAP_CHUNK : REPL_MSG_TXN));
    if (snap) ARM_CHECK(a.head.snap_id == 5 && a.head.chunk_no == 9);
    if (!snap) ARM_CHECK(a.head.after.seq == 42 && a.head.after.fid == 3 && a.head.shard == 2);
    repl_entry_iter it;
    repl_entry x;
    repl_entry_iter_init(&it, a.head.bytes, a.head.count);
    for (uint32_t i = 0; i < t->n; i++) {
        ARM_CHECK(repl_entry_iter_next(&it, &x) == 1);
        ARM_CHECK(x.type == t->e[i].type && x.key.len == t->e[i].key.len);
        ARM_CHECK(memcmp(x.key.ptr, t->e[i].key.ptr, x.key.len) == 0);
        ARM_CHECK(x.val.len == t->e[i].val.len);
        ARM_CHECK(x.val.len == 0 || memcmp(x.val.ptr, t->e[i].val.ptr, x.val.len) == 0);
    }
    ARM_CHECK(repl_entry_iter_next(&it, &x) == 0);
    repl_asm_free(&a);
    arm_buf_free(&b);
    return frames;
}

static void test_parts_random(void) {
    util_rng r;
    util_rng_seed(&r, harness_seed);
    int multi = 0;
    for (int round = 0; round < 200 * util_scale(); round++) {
        txn_fix t;
        int snap = (int)util_rng_below(&r, 2);
        size_t vmax = util_rng_below(&r, 3) == 0 ? 200000 : 100;
        fix_make(&t, 1 + (uint32_t)util_rng_below(&r, 64), vmax, &r, snap);
        uint32_t pm = ARM_REPL_PAYLOAD_MIN + (uint32_t)util_rng_below(&r, 3) * 40000;
        multi += roundtrip_parts(&t, snap, pm) > 1;
        fix_free(&t);
    }
    ARM_CHECK(multi > 10); /* the multi-part path really ran */
}

static void test_parts_exact_split(void) {
    /* one entry whose value straddles part boundaries at every byte class:
     * header, key and value split across frames */
    uint8_t key[3] = {'a', 'b', 'c'};
    static uint8_t val[100000];
    util_fill(val, sizeof(val), 7, 7);
    txn_fix t;
    memset(&t, 0, sizeof(t));
    t.n = 1;
    t.e[0].type = REPL_ENTRY_PUT;
    t.e[0].key = arm_slice_make(key, 3);
    t.e[0].val = arm_slice_make(val, sizeof(val));
    int frames = roundtrip_parts(&t, 0, ARM_REPL_PAYLOAD_MIN);
    uint64_t total = 8 + 3 + sizeof(val), chunk = ARM_REPL_PAYLOAD_MIN - REPL_PART_HDR;
    ARM_CHECK((uint64_t)frames == (total + chunk - 1) / chunk);
}

/* A hand-built TXN payload: 48-byte header then `bytes`. */
static repl_frame part_frame(arm_buf *b, uint32_t count, uint64_t total, uint64_t part_off,
                             const uint8_t *bytes, uint32_t n, uint64_t seq) {
    uint8_t p[REPL_PART_HDR + 256];
    ARM_CHECK(n <= 256);
    arm_repl_pos pos = {seq, 4096, 3, 40};
    repl_wire_pos_put(p, &pos);
    put32(p + 24, count);
    put32(p + 28, 0);
    put64(p + 32, total);
    put64(p + 40, part_off);
    memcpy(p + REPL_PART_HDR, bytes, n);
    return frame_of(b, REPL_MSG_TXN, 0, p, REPL_PART_HDR + n);
}

/* Feed one hand-built whole TXN; expect ARM_PROTOCOL naming needle. */
static void entries_reject(const uint8_t *bytes, uint32_t n, uint32_t count, const char *needle) {
    arm_buf b = {0};
    repl_frame f = part_frame(&b, count, n, 0, bytes, n, 42);
    repl_part p;
    arm_repl_err e = {0, ""};
    repl_asm a;
    repl_asm_init(&a, 1 << 20);
    int complete = 7;
    int rc = repl_msg_part_decode(&f, &p, &e);
    if (rc == ARM_OK) rc = repl_asm_feed(&a, &p, &complete, &e);
    ARM_CHECK_RC(rc, ARM_PROTOCOL);
    ARM_CHECK(complete != 1 && !repl_asm_pending(&a));
    RT_CHECK_MSG(&e, needle);
    repl_asm_free(&a);
    arm_buf_free(&b);
}

static void test_entries_reject(void) {
    /* a good entry: PUT key "k" value "vv" */
    uint8_t good[11] = {1, 0, 1, 0, 2, 0, 0, 0, 'k', 'v', 'v'};
    uint8_t x[32];
    memcpy(x, good, 11);
    x[0] = 3;
    entries_reject(x, 11, 1, "entry 1 of 1: type 3");
    memcpy(x, good, 11);
    x[1] = 0x80;
    entries_reject(x, 11, 1, "flags 0x80");
    uint8_t empty_key[10] = {1, 0, 0, 0, 2, 0, 0, 0, 'v', 'v'};
    entries_reject(empty_key, 10, 1, "empty key");
    uint8_t del_val[11] = {2, 0, 1, 0, 2, 0, 0, 0, 'k', 'v', 'v'};
    entries_reject(del_val, 11, 1, "DELETE with a value");
    memcpy(x, good, 11);
    x[4] = 9; /* value runs past the end */
    entries_reject(x, 11, 1, "entry 1 of 1: 18 bytes, 11 left");
    memcpy(x, good, 11);
    memcpy(x + 11, good, 9); /* second entry's header then one byte: count 2 */
    entries_reject(x, 20, 2, "entry 2 of 2: 11 bytes, 9 left");
    memcpy(x, good, 11);
    memset(x + 11, 0, 9); /* trailing bytes after count entries */
    entries_reject(x, 20, 1, "9 bytes after the last of 1 entries");
    /* header-level: count 0, count that cannot fit, part past the end, seq 0 */
    arm_buf b = {0};
    repl_part p;
    arm_repl_err e = {0, ""};
    repl_frame f = part_frame(&b, 0, 11, 0, good, 11, 42);
    ARM_CHECK_RC(repl_msg_part_decode(&f, &p, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "0 entries in 11 bytes");
    f = part_frame(&b, 2, 11, 0, good, 11, 42);
    ARM_CHECK_RC(repl_msg_part_decode(&f, &p, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "2 entries in 11 bytes");
    f = part_frame(&b, 1, 11, 5, good, 11, 42);
    ARM_CHECK_RC(repl_msg_part_decode(&f, &p, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "passes the end");
    f = part_frame(&b, 1, ARM_REPL_TXN_MAX + 1, 0, good, 11, 42);
    ARM_CHECK_RC(repl_msg_part_decode(&f, &p, &e), ARM_PROTOCOL);
    f = part_frame(&b, 1, 11, 0, good, 11, 0);
    ARM_CHECK_RC(repl_msg_part_decode(&f, &p, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "invalid position");
    /* SNAP_CHUNK: puts only */
    uint8_t sp[REPL_PART_HDR + 9];
    memset(sp, 0, sizeof(sp));
    put64(sp, 1);
    put32(sp + 24, 1);
    put64(sp + 32, 9);
    uint8_t del[9] = {2, 0, 1, 0, 0, 0, 0, 0, 'k'};
    memcpy(sp + REPL_PART_HDR, del, 9);
    f = frame_of(&b, REPL_MSG_SNAP_CHUNK, REPL_SHARD_CONN, sp, sizeof(sp));
    RT_CHECK_RC(repl_msg_part_decode(&f, &p, &e), &e, ARM_OK);
    repl_asm a;
    repl_asm_init(&a, 1 << 20);
    int complete;
    ARM_CHECK_RC(repl_asm_feed(&a, &p, &complete, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "type 2");
    put64(sp, 0);
    f = frame_of(&b, REPL_MSG_SNAP_CHUNK, REPL_SHARD_CONN, sp, sizeof(sp));
    ARM_CHECK_RC(repl_msg_part_decode(&f, &p, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "snapshot id 0");
    repl_asm_free(&a);
    arm_buf_free(&b);
}

static void test_asm_rejects(void) {
    uint8_t bytes[200];
    /* entry: PUT key 1 byte, value 191 bytes = 200 bytes */
    memset(bytes, 'v', sizeof(bytes));
    bytes[0] = 1, bytes[1] = 0, bytes[2] = 1, bytes[3] = 0;
    put32(bytes + 4, 191);
    arm_buf b = {0};
    repl_part p;
    arm_repl_err e = {0, ""};
    repl_asm a;
    int complete;
    repl_asm_init(&a, 1 << 20);
    /* a continuation without a beginning */
    repl_frame f = part_frame(&b, 1, 200, 100, bytes + 100, 100, 42);
    RT_CHECK_RC(repl_msg_part_decode(&f, &p, &e), &e, ARM_OK);
    ARM_CHECK_RC(repl_asm_feed(&a, &p, &complete, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "without its beginning");
    /* a gap, a repeat, another message in between: each drops the partial one */
    const uint64_t bad_off[2] = {150, 0};
    for (int k = 0; k < 3; k++) {
        f = part_frame(&b, 1, 200, 0, bytes, 100, 42);
        RT_CHECK_RC(repl_msg_part_decode(&f, &p, &e), &e, ARM_OK);
        RT_CHECK_RC(repl_asm_feed(&a, &p, &complete, &e), &e, ARM_OK);
        ARM_CHECK(complete == 0 && repl_asm_pending(&a));
        if (k < 2)
            f = part_frame(&b, 1, 200, bad_off[k], bytes + 100, 50, 42);
        else
            f = part_frame(&b, 1, 200, 100, bytes + 100, 100, 43); /* other seq */
        RT_CHECK_RC(repl_msg_part_decode(&f, &p, &e), &e, ARM_OK);
        ARM_CHECK_RC(repl_asm_feed(&a, &p, &complete, &e), ARM_PROTOCOL);
        RT_CHECK_MSG(&e, k < 2 ? "expected 100" : "does not belong");
        ARM_CHECK(!repl_asm_pending(&a));
    }
    /* over txn_max: refused on its first part, before any copy */
    repl_asm_free(&a);
    repl_asm_init(&a, 150);
    f = part_frame(&b, 1, 200, 0, bytes, 100, 42);
    RT_CHECK_RC(repl_msg_part_decode(&f, &p, &e), &e, ARM_OK);
    ARM_CHECK_RC(repl_asm_feed(&a, &p, &complete, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "accepts 150");
    ARM_CHECK(a.buf.cap == 0);
    /* out of memory while collecting: ARM_NOMEM, nothing half kept */
    repl_asm_free(&a);
    repl_asm_init(&a, 1 << 20);
    arm_alloc_fail_after(0);
    int rc = repl_asm_feed(&a, &p, &complete, &e);
    arm_alloc_fail_after(-1);
    ARM_CHECK_RC(rc, ARM_NOMEM);
    ARM_CHECK(!repl_asm_pending(&a));
    /* and then the same two parts work */
    RT_CHECK_RC(repl_asm_feed(&a, &p, &complete, &e), &e, ARM_OK);
    f = part_frame(&b, 1, 200, 100, bytes + 100, 100, 42);
    RT_CHECK_RC(repl_msg_part_decode(&f, &p, &e), &e, ARM_OK);
    RT_CHECK_RC(repl_asm_feed(&a, &p, &complete, &e), &e, ARM_OK);
    ARM_CHECK(complete == 1 && a.head.bytes.len == 200 &&
              memcmp(a.head.bytes.ptr, bytes, 200) == 0);
    repl_asm_free(&a);
    arm_buf_free(&b);
}

/* ------------------------------------------------------ session checks */
static void test_session_checks(void) {
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(repl_wire_check_direction(REPL_MSG_TXN, REPL_ROLE_LEADER, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "a follower does not send TXN");
    ARM_CHECK_RC(repl_wire_check_direction(REPL_MSG_SUBSCRIBE, REPL_ROLE_FOLLOWER, &e),
                 ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "a leader does not send SUBSCRIBE");
    for (uint8_t t = 1; t <= REPL_MSG_TYPE_MAX; t++) {
        int l = repl_wire_check_direction(t, REPL_ROLE_LEADER, NULL) == ARM_OK;
        int f = repl_wire_check_direction(t, REPL_ROLE_FOLLOWER, NULL) == ARM_OK;
        ARM_CHECK(l || f); /* every type has a receiver */
    }
    repl_frame_hdr h = {.len = 60, .type = REPL_MSG_TXN, .flags = 0, .shard = 99, .pcheck = 0};
    ARM_CHECK_RC(repl_wire_check_shard(&h, 2, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "TXN frame for shard 99, the session has 2 shards");
    h.shard = 1;
    ARM_CHECK(repl_wire_check_shard(&h, 2, &e) == ARM_OK);
    ARM_CHECK_RC(repl_wire_check_stream(&h, 0, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "shard 1 on the stream of shard 0");
    ARM_CHECK(repl_wire_check_stream(&h, 1, &e) == ARM_OK);
    h.type = REPL_MSG_HEARTBEAT, h.shard = REPL_SHARD_CONN;
    ARM_CHECK(repl_wire_check_shard(&h, 2, &e) == ARM_OK && repl_wire_check_stream(&h, 0, &e) == 0);

    arm_repl_pos a = {10, 500, 2, 30}, same = a, next_seq_back = {11, 400, 2, 30},
                 later_file = {11, 64 + 30, 3, 30};
    ARM_CHECK_RC(repl_wire_check_txn_order(&a, &same, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "repeated or out of order");
    ARM_CHECK_RC(repl_wire_check_txn_order(&a, &next_seq_back, &e), ARM_PROTOCOL);
    ARM_CHECK(repl_wire_check_txn_order(&a, &later_file, &e) == ARM_OK);
    arm_repl_pos origin = {0, 0, 0, 0};
    ARM_CHECK(repl_wire_check_txn_order(&origin, &a, &e) == ARM_OK);
    ARM_CHECK(arm_repl_pos_cmp(&a, &later_file) < 0 && arm_repl_pos_cmp(&later_file, &a) > 0);
}

static void hello_pair(repl_hello *f, repl_hello *l) {
    *f = sample_hello(REPL_ROLE_FOLLOWER);
    *l = sample_hello(REPL_ROLE_LEADER);
}

static void test_check_hello(void) {
    repl_hello f, l;
    arm_repl_err e = {0, ""};
    hello_pair(&f, &l);
    RT_CHECK_RC(repl_wire_check_hello(&f, &l, &e), &e, ARM_OK);
    RT_CHECK_RC(repl_wire_check_hello(&l, &f, &e), &e, ARM_OK);
    repl_hello l2 = l;
    l2.role = REPL_ROLE_FOLLOWER;
    ARM_CHECK_RC(repl_wire_check_hello(&f, &l2, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "both sides are followers");
    l2 = l, l2.engine_fmt = 2;
    ARM_CHECK_RC(repl_wire_check_hello(&f, &l2, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "engine format version mismatch: peer 2, this side 1");
    l2 = l, l2.shard_count = 2;
    ARM_CHECK_RC(repl_wire_check_hello(&f, &l2, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "shard count mismatch: the leader has 2 shards, the follower 4");
    ARM_CHECK_RC(repl_wire_check_hello(&l2, &f, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "the leader has 2 shards, the follower 4");
    l2 = l, memcpy(l2.db_id, f.db_id, 16);
    ARM_CHECK_RC(repl_wire_check_hello(&f, &l2, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "same database");
    l2 = l, l2.flags = 0;
    ARM_CHECK_RC(repl_wire_check_hello(&f, &l2, &e), ARM_AUTH);
    RT_CHECK_MSG(&e, "the leader has no shared secret but this side requires");
    ARM_CHECK_RC(repl_wire_check_hello(&l2, &f, &e), ARM_AUTH);
    RT_CHECK_MSG(&e, "the follower expects authentication but this side has no shared secret");
    l2 = l, l2.txn_max = f.txn_max + 1;
    ARM_CHECK_RC(repl_wire_check_hello(&f, &l2, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "follower accepts at most");
    /* positions: HAVE_POS and the same leader id */
    ARM_CHECK(repl_hello_positions_valid(&f, &l) == 0); /* f's peer id is another leader's */
    memcpy(f.peer_db_id, l.db_id, 16);
    ARM_CHECK(repl_hello_positions_valid(&f, &l) == 1);
    f.flags &= (uint8_t)~REPL_HELLO_HAVE_POS;
    ARM_CHECK(repl_hello_positions_valid(&f, &l) == 0);
}

/* The whole format, pinned: a fixed sequence of every message encoded, and
 * its checksum. A change here is a protocol change (bump the version). */
static void test_golden(void) {
    arm_buf b = {0};
    repl_hello f = sample_hello(REPL_ROLE_FOLLOWER), l = sample_hello(REPL_ROLE_LEADER);
    uint8_t proof[32];
    memset(proof, 0x3c, sizeof(proof));
    repl_subscribe s = {REPL_SUB_HAVE_POS, k_pos};
    repl_ack a = {k_pos, 7};
    repl_heartbeat h = {1000, 999, 42};
    arm_repl_pos cut[2] = {k_pos, {0, 0, 0, 0}};
    repl_snap_end se = {5, 1, 1};
    uint8_t key[2] = {'k', '1'}, val[3] = {'a', 'b', 'c'};
    repl_entry ents[2] = {{REPL_ENTRY_PUT, {key, 2}, {val, 3}},
                          {REPL_ENTRY_DEL, {key, 1}, {val, 0}}};
    repl_part_enc enc;
    int more;
    ARM_CHECK(repl_msg_hello_encode(&b, &f) == ARM_OK && repl_msg_hello_encode(&b, &l) == ARM_OK);
    ARM_CHECK(repl_msg_auth_encode(&b, proof) == ARM_OK);
    ARM_CHECK(repl_msg_subscribe_encode(&b, 1, &s) == ARM_OK);
    ARM_CHECK(repl_msg_start_encode(&b, 1, &k_pos) == ARM_OK);
    ARM_CHECK(repl_part_enc_txn(&enc, 1, &k_pos, ents, 2, NULL) == ARM_OK);
    ARM_CHECK(repl_part_enc_next(&enc, &b, ARM_REPL_PAYLOAD_MIN, &more) == ARM_OK && !more);
    ARM_CHECK(repl_msg_ack_encode(&b, 1, &a) == ARM_OK);
    ARM_CHECK(repl_msg_heartbeat_encode(&b, &h) == ARM_OK);
    ARM_CHECK(repl_msg_error_encode(&b, ARM_FULL, "too many followers") == ARM_OK);
    ARM_CHECK(repl_msg_snap_begin_encode(&b, 5, 1, 2, cut) == ARM_OK);
    ARM_CHECK(repl_part_enc_snap(&enc, 5, 0, ents, 1, NULL) == ARM_OK);
    ARM_CHECK(repl_part_enc_next(&enc, &b, ARM_REPL_PAYLOAD_MIN, &more) == ARM_OK && !more);
    ARM_CHECK(repl_msg_snap_end_encode(&b, &se) == ARM_OK);
    uint64_t sum = arm_hash_checksum(b.ptr, b.len);
    if (b.len != 781 || sum != 0x9cd7db786e656b7aull) {
        fprintf(stderr, "golden: %zu bytes, checksum 0x%016llx\n", b.len, (unsigned long long)sum);
        ARM_CHECK(!"the wire format changed");
    }
    arm_buf_free(&b);
}

int main(void) {
    harness_init();
    UTIL_CASE("frame layout as drawn", test_frame_layout());
    UTIL_CASE("truncated frames need more bytes", test_frame_truncated());
    UTIL_CASE("every flipped bit fails a checksum", test_frame_bad_checksums());
    UTIL_CASE("bad headers refused on 16 bytes", test_frame_header_rejects());
    UTIL_CASE("hello round trip and layout", test_hello_roundtrip());
    UTIL_CASE("hello rejections", test_hello_rejects());
    UTIL_CASE("fixed-size messages round trip", test_small_roundtrips());
    UTIL_CASE("fixed-size message rejections", test_small_rejects());
    UTIL_CASE("parts: random transactions and chunks", test_parts_random());
    UTIL_CASE("parts: one entry across many frames", test_parts_exact_split());
    UTIL_CASE("entries that do not parse", test_entries_reject());
    UTIL_CASE("assembler: order, bounds, memory", test_asm_rejects());
    UTIL_CASE("session checks: direction, shard, order", test_session_checks());
    UTIL_CASE("peer compatibility", test_check_hello());
    UTIL_CASE("golden bytes of the whole format", test_golden());
    return harness_done();
}
