/* SPDX-License-Identifier: MIT */
/*
 * test_repl_rogue.c: malformed input on the wire, both ways. A rogue leader
 * (a listener driven by the test) feeds a real follower one bad thing per
 * case: a frame for the wrong shard (the original armdb's test), bad header
 * or payload checksums, a truncated frame, an oversized length, another
 * protocol version, a shard-count or database-id mismatch, a START where the
 * follower does not stand, a TXN before its START, repeated, with entries
 * that do not parse or larger than the follower accepts, a frame between
 * the parts of a message, snapshot frames out of place or miscounted, a
 * leader's ERROR, an unknown frame type, garbage instead of a hello, and a
 * leader that goes silent. Each time the follower applies nothing of it
 * (keys and stored positions checked), keeps the reason as its last error,
 * and reconnects. A control case shows the rogue's framing is right: a
 * valid transaction from it is applied. Then a rogue follower feeds a real
 * leader bad frames: the leader drops that session, says why, and goes on
 * serving a good follower.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../common/arm_hash.h"
#include "repl_test.h"

#include <sys/socket.h>

static char g_tmp[512];
static int g_case_no;

/* ------------------------------------------------------------ the rogue */
typedef struct rogue {
    repl_listener lst;
    char addr[REPL_ADDR_TEXT_MAX];
    repl_conn c;
    int open;
    uint32_t shards;
    uint8_t follower_id[16]; /* the follower's database id */
    arm_repl_err e;
} rogue;

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Recompute both checksums of the frame at p after editing it. */
static void reseal(uint8_t *p) {
    uint32_t len =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    put32(p + 8, (uint32_t)arm_hash_checksum(p + 16, len));
    put32(p + 12, (uint32_t)arm_hash_checksum(p, 12));
}

/* Accept the follower's next connection within ms milliseconds. */
static int rogue_accept(rogue *r, int ms) {
    if (r->open) repl_conn_close(&r->c);
    r->open = 0;
    int fd;
    int rc = repl_accept(&r->lst, -1, ms, &fd, NULL, &r->e);
    if (rc != ARM_OK) return 0;
    RT_CHECK_RC(repl_conn_open(&r->c, fd, -1, ARM_REPL_PAYLOAD_MAX, &r->e), &r->e, ARM_OK);
    r->c.send_max = ARM_REPL_PAYLOAD_MAX;
    r->open = 1;
    return 1;
}

static void rogue_send(rogue *r) {
    int rc = repl_conn_flush(&r->c, 2000, &r->e);
    (void)rc; /* the follower may have hung up already: that is its right */
}

/* The follower's HELLO (read and checked). */
static void rogue_read_hello(rogue *r) {
    repl_frame f;
    RT_CHECK_RC(repl_conn_recv(&r->c, 3000, &f, &r->e), &r->e, ARM_OK);
    ARM_CHECK(f.hdr.type == REPL_MSG_HELLO);
}

/* The leader's side of a normal handshake (txn_max: what we announce),
 * then the follower's SUBSCRIBEs. */
static void rogue_handshake(rogue *r, uint64_t txn_max) {
    arm_repl_options o;
    arm_repl_options_init(&o);
    o.txn_max = txn_max;
    uint8_t id[16];
    rt_id(id, harness_seed + 77);
    repl_hs_cfg cfg;
    repl_hs_cfg_init(&cfg, REPL_ROLE_LEADER, id, r->shards, &o, NULL);
    repl_hs hs;
    RT_CHECK_RC(repl_conn_handshake(&r->c, &hs, &cfg, 3000, &r->e), &r->e, ARM_OK);
    for (uint32_t i = 0; i < r->shards; i++) {
        repl_frame f;
        RT_CHECK_RC(repl_conn_recv(&r->c, 3000, &f, &r->e), &r->e, ARM_OK);
        ARM_CHECK(f.hdr.type == REPL_MSG_SUBSCRIBE);
    }
}

static void rogue_starts(rogue *r) {
    static const arm_repl_pos origin = {0, 0, 0, 0};
    for (uint32_t i = 0; i < r->shards; i++)
        ARM_CHECK(repl_msg_start_encode(&r->c.out, (uint16_t)i, &origin) == ARM_OK);
}

/* A valid one-put transaction at log place (seq, fid 1), for shard `shard`
 * (the frame's header field: it may be a wrong one). */
static void rogue_txn(rogue *r, uint16_t shard, uint64_t seq, const char *key) {
    repl_entry en = {REPL_ENTRY_PUT, arm_slice_make(key, strlen(key)), arm_slice_make("v", 1)};
    uint32_t len = 20 + (uint32_t)strlen(key) + 1;
    arm_repl_pos after = {seq, 64 + seq * len, 1, len};
    repl_part_enc enc;
    int more;
    ARM_CHECK(repl_part_enc_txn(&enc, shard, &after, &en, 1, NULL) == ARM_OK);
    ARM_CHECK(repl_part_enc_next(&enc, &r->c.out, ARM_REPL_PAYLOAD_MAX, &more) == ARM_OK);
    ARM_CHECK(!more);
}

/* A TXN frame around a hand-made part: count entries, total bytes, this
 * part's bytes at part_off. */
static void rogue_part(rogue *r, uint16_t shard, uint32_t count, uint64_t total, uint64_t part_off,
                       const uint8_t *bytes, uint32_t n) {
    uint8_t p[REPL_PART_HDR + 512];
    ARM_CHECK(n <= 512);
    arm_repl_pos after = {1, 64 + 40, 1, 40};
    repl_wire_pos_put(p, &after);
    put32(p + 24, count);
    put32(p + 28, 0);
    put64(p + 32, total);
    put64(p + 40, part_off);
    memcpy(p + REPL_PART_HDR, bytes, n);
    ARM_CHECK(repl_wire_frame_append(&r->c.out, REPL_MSG_TXN, shard, p, REPL_PART_HDR + n) ==
              ARM_OK);
}

/* ---------------------------------------------------------- the scripts */
static void s_wrong_shard(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    rogue_txn(r, 99, 1, "bad");
}

static void s_payload_checksum(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    size_t at = r->c.out.len;
    rogue_txn(r, 0, 1, "bad");
    r->c.out.ptr[at + 16 + 50] ^= 1; /* a byte of the key */
}

static void s_header_checksum(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    size_t at = r->c.out.len;
    rogue_txn(r, 0, 1, "bad");
    r->c.out.ptr[at + 6] ^= 1; /* the shard field */
}

static void s_truncated(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    size_t at = r->c.out.len;
    rogue_txn(r, 0, 1, "truncated-transaction");
    r->c.out.len = at + (r->c.out.len - at) / 2;
    rogue_send(r);
    shutdown(r->c.fd, SHUT_WR);
}

static void s_oversized(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    size_t at = r->c.out.len;
    rogue_txn(r, 0, 1, "bad");
    put32(r->c.out.ptr + at, ARM_REPL_PAYLOAD_MAX); /* more than the follower's 1 MiB */
    put32(r->c.out.ptr + at + 12, (uint32_t)arm_hash_checksum(r->c.out.ptr + at, 12));
}

/* A hello of ours, changed by `edit`, resealed. */
static void rogue_bad_hello(rogue *r, void (*edit)(rogue *, uint8_t *payload)) {
    rogue_read_hello(r);
    repl_hello h;
    memset(&h, 0, sizeof h);
    h.proto = ARM_REPL_PROTOCOL_VERSION;
    h.engine_fmt = REPL_ENGINE_FORMAT;
    h.role = REPL_ROLE_LEADER;
    h.shard_count = r->shards;
    h.payload_max = ARM_REPL_PAYLOAD_MAX;
    h.txn_max = ARM_REPL_TXN_MAX;
    rt_id(h.db_id, harness_seed + 5);
    size_t at = r->c.out.len;
    ARM_CHECK(repl_msg_hello_encode(&r->c.out, &h) == ARM_OK);
    edit(r, r->c.out.ptr + at + 16);
    reseal(r->c.out.ptr + at);
}
static void e_version(rogue *r, uint8_t *p) {
    (void)r;
    p[8] = 2;
}
static void e_shards(rogue *r, uint8_t *p) {
    put32(p + 16, r->shards + 1);
}
static void e_same_id(rogue *r, uint8_t *p) {
    memcpy(p + 32, r->follower_id, 16);
}
static void s_version(rogue *r) {
    rogue_bad_hello(r, e_version);
}
static void s_shard_count(rogue *r) {
    rogue_bad_hello(r, e_shards);
}
static void s_same_id(rogue *r) {
    rogue_bad_hello(r, e_same_id);
}

static void s_start_elsewhere(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    arm_repl_pos p = {5, 200, 1, 40};
    ARM_CHECK(repl_msg_start_encode(&r->c.out, 0, &p) == ARM_OK);
}

static void s_txn_before_start(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_txn(r, 1, 1, "early");
}

static void s_bad_entry(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    uint8_t e[8 + 3 + 2] = {REPL_ENTRY_DEL, 0, 3, 0, 2, 0, 0, 0, 'k', 'e', 'y', 'x', 'y'};
    rogue_part(r, 0, 1, sizeof e, 0, e, sizeof e); /* a DELETE with a value */
}

static void s_between_parts(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    uint8_t e[8 + 3 + 100];
    memset(e, 'z', sizeof e);
    e[0] = REPL_ENTRY_PUT, e[1] = 0, e[2] = 3, e[3] = 0;
    put32(e + 4, 100);
    rogue_part(r, 0, 1, sizeof e, 0, e, 50); /* the first half */
    static const arm_repl_pos origin = {0, 0, 0, 0};
    ARM_CHECK(repl_msg_start_encode(&r->c.out, 1, &origin) == ARM_OK);
}

static void s_over_txn_max(rogue *r) {
    rogue_handshake(r, 64 * 1024); /* it announces what the follower accepts ... */
    rogue_starts(r);
    uint8_t e[8 + 3 + 100];
    memset(e, 'z', sizeof e);
    e[0] = REPL_ENTRY_PUT, e[1] = 0, e[2] = 3, e[3] = 0;
    put32(e + 4, 100);
    rogue_part(r, 0, 1, 1 << 20, 0, e, sizeof e); /* ... then starts a 1 MiB one */
}

static void s_chunk_alone(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    repl_entry en = {REPL_ENTRY_PUT, arm_slice_make("s", 1), arm_slice_make("v", 1)};
    repl_part_enc enc;
    int more;
    ARM_CHECK(repl_part_enc_snap(&enc, 9, 0, &en, 1, NULL) == ARM_OK);
    ARM_CHECK(repl_part_enc_next(&enc, &r->c.out, ARM_REPL_PAYLOAD_MAX, &more) == ARM_OK);
}

static void s_snap_miscount(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    arm_repl_pos cut[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    ARM_CHECK(repl_msg_snap_begin_encode(&r->c.out, 9, 1, 2, cut) == ARM_OK);
    repl_entry en = {REPL_ENTRY_PUT, arm_slice_make("s", 1), arm_slice_make("v", 1)};
    repl_part_enc enc;
    int more;
    ARM_CHECK(repl_part_enc_snap(&enc, 9, 0, &en, 1, NULL) == ARM_OK);
    ARM_CHECK(repl_part_enc_next(&enc, &r->c.out, ARM_REPL_PAYLOAD_MAX, &more) == ARM_OK);
    repl_snap_end end = {9, 2, 2}; /* it sent one chunk */
    ARM_CHECK(repl_msg_snap_end_encode(&r->c.out, &end) == ARM_OK);
}

static void s_snap_after_start(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    arm_repl_pos cut[2] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    ARM_CHECK(repl_msg_snap_begin_encode(&r->c.out, 9, 1, 2, cut) == ARM_OK);
}

static void s_leader_error(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    ARM_CHECK(repl_msg_error_encode(&r->c.out, ARM_BUSY, "come back later") == ARM_OK);
}

static void s_unknown_type(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    size_t at = r->c.out.len;
    rogue_txn(r, 0, 1, "bad");
    r->c.out.ptr[at + 4] = 12;
    reseal(r->c.out.ptr + at);
}

static void s_ack_from_leader(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r);
    repl_ack a = {{0, 0, 0, 0}, 0};
    ARM_CHECK(repl_msg_ack_encode(&r->c.out, 0, &a) == ARM_OK);
}

static void s_http(rogue *r) {
    rogue_read_hello(r);
    const char *t = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
    ARM_CHECK(arm_buf_reserve(&r->c.out, strlen(t)) == ARM_OK);
    memcpy(r->c.out.ptr, t, strlen(t));
    r->c.out.len = strlen(t);
}

static void s_silent(rogue *r) {
    rogue_handshake(r, 64 * 1024);
    rogue_starts(r); /* and then nothing: no heartbeat either */
}

/* ------------------------------------------------------------ the cases */
typedef struct rcase {
    const char *name;
    void (*script)(rogue *r);
    int rc;             /* the follower's last error */
    const char *needle; /* ... says this */
    int snapshot_began; /* a snapshot began: RESYNC positions are stored, keys may be */
} rcase;

static const rcase k_cases[] = {
    {"a frame for the wrong shard", s_wrong_shard, ARM_PROTOCOL,
     "TXN frame for shard 99, the session has 2 shards", 0},
    {"a bad payload checksum", s_payload_checksum, ARM_PROTOCOL, "bad payload checksum", 0},
    {"a bad header checksum", s_header_checksum, ARM_PROTOCOL, "bad frame header checksum", 0},
    {"a truncated frame", s_truncated, ARM_PROTOCOL, "truncated frame", 0},
    {"an oversized length", s_oversized, ARM_PROTOCOL, "oversized TXN frame", 0},
    {"another protocol version", s_version, ARM_PROTOCOL, "protocol version 2", 0},
    {"a shard-count mismatch", s_shard_count, ARM_PROTOCOL,
     "shard count mismatch: the leader has 3 shards, the follower 2", 0},
    {"the follower's own database id", s_same_id, ARM_PROTOCOL, "the same database", 0},
    {"a START where the follower does not stand", s_start_elsewhere, ARM_PROTOCOL,
     "is not where this follower stands", 0},
    {"a TXN before its START", s_txn_before_start, ARM_PROTOCOL, "TXN for shard 1 before its START",
     0},
    {"entries that do not parse", s_bad_entry, ARM_PROTOCOL, "DELETE with a value", 0},
    {"a frame between the parts of a message", s_between_parts, ARM_PROTOCOL,
     "START frame in the middle of a TXN message", 0},
    {"a transaction over txn_max", s_over_txn_max, ARM_PROTOCOL, "this side accepts 65536", 0},
    {"a SNAP_CHUNK without SNAP_BEGIN", s_chunk_alone, ARM_PROTOCOL, "without SNAP_BEGIN", 0},
    {"a miscounted SNAP_END", s_snap_miscount, ARM_PROTOCOL, "says 2 chunks", 1},
    {"a SNAP_BEGIN after streaming began", s_snap_after_start, ARM_PROTOCOL,
     "SNAP_BEGIN after the stream began", 0},
    {"the leader's ERROR", s_leader_error, ARM_BUSY,
     "the leader closed the session: come back later", 0},
    {"an unknown frame type", s_unknown_type, ARM_PROTOCOL, "unknown frame type 12", 0},
    {"an ACK from the leader", s_ack_from_leader, ARM_PROTOCOL, "a leader does not send ACK", 0},
    {"garbage instead of a hello", s_http, ARM_PROTOCOL, "bad frame header checksum", 0},
    {"a leader that goes silent", s_silent, ARM_IOERR, "no frame from the leader", 0},
};

static arm_engine *new_follower(char *dir, size_t size) {
    snprintf(dir, size, "%s/f%d", g_tmp, g_case_no++);
    arm_engine_options o;
    rt_engine_opts(&o, 2);
    return util_open_ok(dir, &o);
}

static void rogue_open(rogue *r, arm_engine *f) {
    memset(r, 0, sizeof *r);
    rt_listen(&r->lst);
    repl_addr_format(&r->lst.bound, r->addr, sizeof r->addr);
    r->shards = 2;
    arm_engine_stats st;
    arm_engine_stats_get(f, &st);
    memcpy(r->follower_id, st.db_id, 16);
}

static void rogue_close(rogue *r) {
    if (r->open) repl_conn_close(&r->c);
    repl_listener_close(&r->lst);
}

static void run_case(const rcase *k) {
    char dir[600];
    arm_engine *f = new_follower(dir, sizeof dir);
    rogue r;
    rogue_open(&r, f);
    arm_repl_options o;
    rt_repl_opts(&o);
    o.txn_max = 64 * 1024;
    o.heartbeat_ms = 200;
    o.peer_timeout_ms = 700;
    arm_repl_follower *fw = rt_follow(f, r.addr, &o);
    ARM_CHECK(rogue_accept(&r, 5000));
    k->script(&r);
    rogue_send(&r);
    if (!RT_WAIT(5000, rt_fstats(fw).errors >= 1)) {
        fprintf(stderr, "%s: %s: no error seen (seed %llu)\n", harness_case, k->name,
                (unsigned long long)harness_seed);
        rt_dump(NULL, fw);
        exit(1);
    }
    arm_repl_follower_stats st = rt_fstats(fw);
    if (st.last_error.rc != k->rc || strstr(st.last_error.msg, k->needle) == NULL) {
        fprintf(stderr, "%s: %s: last error %s \"%s\", expected %s \"%s\" (seed %llu)\n",
                harness_case, k->name, arm_rc_str(st.last_error.rc), st.last_error.msg,
                arm_rc_str(k->rc), k->needle, (unsigned long long)harness_seed);
        exit(1);
    }
    /* nothing of it applied */
    ARM_CHECK(st.txns == 0);
    if (!k->snapshot_began) ARM_CHECK(st.applies == 0);
    for (uint32_t i = 0; i < 2; i++) {
        uint8_t lid[16];
        arm_log_pos p;
        uint32_t flags = 0;
        int rc = arm_engine_repl_pos(f, i, lid, &p, &flags);
        if (k->snapshot_began) {
            ARM_CHECK_RC(rc, ARM_OK);
            ARM_CHECK(flags == ARM_REPL_RESYNC); /* not usable: the next session copies again */
        } else {
            ARM_CHECK_RC(rc, ARM_NOTFOUND);
        }
    }
    if (!k->snapshot_began) ARM_CHECK(arm_engine_count(f) == 0);
    ARM_CHECK(st.snapshots_done == 0);
    /* and it comes back */
    if (!rogue_accept(&r, 5000)) {
        fprintf(stderr, "%s: %s: the follower did not reconnect (seed %llu)\n", harness_case,
                k->name, (unsigned long long)harness_seed);
        exit(1);
    }
    arm_repl_follower_stop(fw);
    rogue_close(&r);
    util_close_ok(f);
    util_rmrf(dir);
}

static void test_cases(void) {
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
        if (getenv("ARM_TEST_VERBOSE")) fprintf(stderr, "    %s\n", k_cases[i].name);
        run_case(&k_cases[i]);
    }
}

/* The rogue's framing is right: what it sends validly is applied, once; the
 * same transaction again is refused. */
static void test_control(void) {
    char dir[600];
    arm_engine *f = new_follower(dir, sizeof dir);
    rogue r;
    rogue_open(&r, f);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_follower *fw = rt_follow(f, r.addr, &o);
    ARM_CHECK(rogue_accept(&r, 5000));
    rogue_handshake(&r, 64 * 1024);
    rogue_starts(&r);
    rogue_txn(&r, 0, 1, "good");
    rogue_send(&r);
    ARM_CHECK(RT_WAIT(5000, arm_engine_count(f) == 1));
    util_expect(f, "good", 4, "v", 1);
    ARM_CHECK(RT_WAIT(2000, rt_fstats(fw).txns == 1));
    rogue_txn(&r, 0, 1, "good"); /* a duplicate */
    rogue_send(&r);
    ARM_CHECK(RT_WAIT(5000, rt_fstats(fw).errors >= 1));
    arm_repl_follower_stats st = rt_fstats(fw);
    ARM_CHECK_RC(st.last_error.rc, ARM_PROTOCOL);
    RT_CHECK_MSG(&st.last_error, "repeated or out of order");
    ARM_CHECK(st.txns == 1 && arm_engine_count(f) == 1);
    /* the session had applied: the position stayed with it */
    uint8_t lid[16];
    arm_log_pos p;
    uint32_t flags;
    UTIL_CHECK_RC(f, arm_engine_repl_pos(f, 0, lid, &p, &flags), ARM_OK);
    ARM_CHECK(p.seq == 1 && flags == 0);
    ARM_CHECK(rogue_accept(&r, 5000));
    arm_repl_follower_stop(fw);
    rogue_close(&r);
    util_close_ok(f);
}

/* ----------------------------------------------- a rogue follower */
/* Connect to the leader as a follower, handshake, and return the conn. */
static void rogue_follower(arm_repl_leader *ld, repl_conn *c, int shards_ok) {
    int fd;
    arm_repl_err e = {0, ""};
    repl_addr a = rt_addr(arm_repl_leader_addr(ld));
    RT_CHECK_RC(repl_connect(&a, -1, 2000, &fd, &e), &e, ARM_OK);
    RT_CHECK_RC(repl_conn_open(c, fd, -1, ARM_REPL_PAYLOAD_MAX, &e), &e, ARM_OK);
    if (!shards_ok) return;
    repl_hs hs;
    repl_hs_cfg cfg = rt_cfg(REPL_ROLE_FOLLOWER, harness_seed + 3, 2, NULL);
    cfg.empty = 1;
    RT_CHECK_RC(repl_conn_handshake(c, &hs, &cfg, 2000, &e), &e, ARM_OK);
}

static void subscribe(repl_conn *c, uint16_t shard) {
    repl_subscribe s = {0, {0, 0, 0, 0}};
    ARM_CHECK(repl_msg_subscribe_encode(&c->out, shard, &s) == ARM_OK);
}

/* The leader drops the session and its last error says `needle`. */
static void leader_refuses(arm_repl_leader *ld, repl_conn *c, const char *needle) {
    arm_repl_err e = {0, ""};
    int rc = repl_conn_flush(c, 2000, &e);
    (void)rc;
    if (!RT_WAIT(5000, strstr(rt_lstats(ld).last_error.msg, needle) != NULL)) {
        fprintf(stderr, "%s: leader's last error \"%s\" lacks \"%s\" (seed %llu)\n", harness_case,
                rt_lstats(ld).last_error.msg, needle, (unsigned long long)harness_seed);
        exit(1);
    }
    /* it closed on us (after an ERROR frame when it could say one) */
    repl_frame f;
    for (int i = 0; i < 100; i++) {
        rc = repl_conn_recv(c, 3000, &f, &e);
        if (rc != ARM_OK) break;
    }
    ARM_CHECK(rc == ARM_IOERR || rc == ARM_PROTOCOL);
    repl_conn_close(c);
}

static void test_rogue_follower(void) {
    char dir[600];
    snprintf(dir, sizeof dir, "%s/leader", g_tmp);
    arm_engine_options eo;
    rt_engine_opts(&eo, 2);
    arm_engine *l = util_open_ok(dir, &eo);
    for (uint64_t i = 0; i < 50; i++)
        rt_put_i(l, i, "v", 32);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    repl_conn c;
    /* garbage instead of a hello */
    rogue_follower(ld, &c, 0);
    ARM_CHECK(arm_buf_reserve(&c.out, 64) == ARM_OK);
    memcpy(c.out.ptr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    c.out.len = 27;
    leader_refuses(ld, &c, "bad frame header checksum");
    /* SUBSCRIBE twice */
    rogue_follower(ld, &c, 1);
    subscribe(&c, 0);
    subscribe(&c, 0);
    leader_refuses(ld, &c, "SUBSCRIBE twice for shard 0");
    /* a SUBSCRIBE for a shard it does not have */
    rogue_follower(ld, &c, 1);
    subscribe(&c, 0);
    subscribe(&c, 7);
    leader_refuses(ld, &c, "SUBSCRIBE frame for shard 7, the session has 2 shards");
    /* a follower sending TXN */
    rogue_follower(ld, &c, 1);
    subscribe(&c, 0);
    subscribe(&c, 1);
    repl_entry en = {REPL_ENTRY_PUT, arm_slice_make("k", 1), arm_slice_make("v", 1)};
    arm_repl_pos after = {1, 85, 1, 21};
    repl_part_enc enc;
    int more;
    ARM_CHECK(repl_part_enc_txn(&enc, 0, &after, &en, 1, NULL) == ARM_OK);
    ARM_CHECK(repl_part_enc_next(&enc, &c.out, ARM_REPL_PAYLOAD_MAX, &more) == ARM_OK);
    leader_refuses(ld, &c, "a follower does not send TXN");
    /* an ACK past what was sent */
    rogue_follower(ld, &c, 1);
    subscribe(&c, 0);
    subscribe(&c, 1);
    repl_ack a = {{1ull << 40, 1ull << 40, 1000, 40}, 5};
    ARM_CHECK(repl_msg_ack_encode(&c.out, 1, &a) == ARM_OK);
    leader_refuses(ld, &c, "past what was sent");
    /* silence after the hello: dropped after peer_timeout_ms */
    rogue_follower(ld, &c, 1);
    leader_refuses(ld, &c, "subscribed to 0 of 2 shards");
    ARM_CHECK(rt_lstats(ld).followers == 0);
    /* and a real follower is served all along */
    snprintf(dir, sizeof dir, "%s/good", g_tmp);
    arm_engine *f = util_open_ok(dir, &eo);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    rt_wait_equal(l, f, ld, fw, 10000);
    arm_repl_follower_stop(fw);
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

int main(void) {
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "repl_rogue");
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("control: the rogue's valid transaction is applied, its repeat refused",
              test_control());
    UTIL_CASE("a rogue leader: each malformed input refused before anything is applied",
              test_cases());
    UTIL_CASE("a rogue follower: the leader drops it and serves the others", test_rogue_follower());
    return harness_done();
}
