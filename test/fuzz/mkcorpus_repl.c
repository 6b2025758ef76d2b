/* SPDX-License-Identifier: MIT */
/*
 * mkcorpus_repl.c: writes the seed corpora of the replication fuzz targets:
 *   mkcorpus_repl DIR  ->  DIR/fuzz_repl_frame/, DIR/fuzz_repl_handshake/
 * Frames come from the real encoders (repl/repl_wire.c), so the seeds are
 * what peers really send: a leader's and a follower's side of a session,
 * every message alone as a sealed record, invalid variants (wrong version,
 * reserved bits, bad entries, parts out of order), garbage and truncation;
 * handshake configurations for every outcome, with and without mutations,
 * and frames for a lone state machine. Input formats: fuzz_repl.h.
 * `make fuzz-corpus` runs it; the result is committed. Built without
 * sanitizers; links common/ and repl/repl_wire.c, repl/repl_opts.c.
 */
#include "fuzz_repl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char *mk_root;

static void mk_write(const char *target, const char *name, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", mk_root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", mk_root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void mk_ok(int rc) {
    if (rc != ARM_OK) {
        fprintf(stderr, "mkcorpus_repl: an encoder failed (%d)\n", rc);
        exit(1);
    }
}

/* The fuzz targets' fixed ids: follower 0x11.., leader 0x22.. (fh_make). */
static repl_hello mk_hello(uint8_t role, int auth) {
    repl_hello h;
    memset(&h, 0, sizeof(h));
    h.proto = ARM_REPL_PROTOCOL_VERSION;
    h.engine_fmt = REPL_ENGINE_FORMAT;
    h.role = role;
    h.flags = auth ? REPL_HELLO_AUTH : 0;
    h.shard_count = 1;
    h.payload_max = ARM_REPL_PAYLOAD_MIN;
    h.txn_max = ARM_REPL_TXN_MAX;
    memset(h.db_id, role == REPL_ROLE_LEADER ? 0x22 : 0x11, 16);
    if (auth) memset(h.nonce, 0x5a, sizeof(h.nonce));
    return h;
}

/* Frames in `frames` become sealed records appended to `rec`. */
static void mk_records(const arm_buf *frames, arm_buf *rec) {
    size_t off = 0;
    while (off < frames->len) {
        repl_frame f;
        size_t used;
        mk_ok(repl_wire_frame_decode(frames->ptr + off, frames->len - off, ARM_REPL_PAYLOAD_MAX, &f,
                                     &used, NULL));
        fzr_record(rec, f.hdr.type, f.hdr.shard, f.payload, (uint16_t)f.hdr.len);
        off += used;
    }
}

/* mode byte + body */
static void mk_input(const char *target, const char *name, uint8_t mode, const arm_buf *body) {
    uint8_t *p = malloc(body->len + 1);
    if (p == NULL) exit(1);
    p[0] = mode;
    if (body->len) memcpy(p + 1, body->ptr, body->len);
    mk_write(target, name, p, body->len + 1);
    free(p);
}

/* ------------------------------------------------------ fuzz_repl_frame */
static const uint8_t mk_key[3] = {'k', 'e', 'y'};
static const uint8_t mk_val[12] = {'v', 'a', 'l', 'u', 'e', '-', 'b', 'y', 't', 'e', 's', '!'};

static void mk_txn(arm_buf *b, uint16_t shard, uint64_t seq, int snap) {
    repl_entry e[3] = {{REPL_ENTRY_PUT, {mk_key, 3}, {mk_val, 12}},
                       {REPL_ENTRY_PUT, {mk_key, 2}, {mk_val, 0}},
                       {REPL_ENTRY_DEL, {mk_key, 1}, {mk_val, 0}}};
    arm_repl_pos after = {seq, 4096 + 64 * seq, 1, 40};
    repl_part_enc enc;
    int more = 1;
    if (snap)
        mk_ok(repl_part_enc_snap(&enc, 7, seq, e, 2, NULL));
    else
        mk_ok(repl_part_enc_txn(&enc, shard, &after, e, 3, NULL));
    while (more)
        mk_ok(repl_part_enc_next(&enc, b, ARM_REPL_PAYLOAD_MIN, &more));
}

/* What a follower receives from a leader, and what a leader receives. */
static void mk_follower_side(arm_buf *b) {
    repl_hello l = mk_hello(REPL_ROLE_LEADER, 1);
    uint8_t proof[32];
    memset(proof, 0x77, sizeof(proof));
    arm_repl_pos origin = {0, 0, 0, 0}, p1 = {3, 4096, 1, 40}, cut[2] = {{5, 8192, 1, 40}, {0, 0, 0, 0}};
    repl_heartbeat hb = {1000, 990, 6};
    repl_snap_end se = {7, 1, 2};
    mk_ok(repl_msg_hello_encode(b, &l));
    mk_ok(repl_msg_auth_encode(b, proof));
    mk_ok(repl_msg_start_encode(b, 0, &p1));
    mk_ok(repl_msg_start_encode(b, 1, &origin));
    mk_txn(b, 0, 4, 0);
    mk_txn(b, 1, 5, 0);
    mk_ok(repl_msg_heartbeat_encode(b, &hb));
    mk_ok(repl_msg_snap_begin_encode(b, 7, 2, 2, cut));
    mk_txn(b, REPL_SHARD_CONN, 0, 1);
    mk_ok(repl_msg_snap_end_encode(b, &se));
    mk_ok(repl_msg_error_encode(b, ARM_FULL, "too many followers (max 8)"));
}

static void mk_leader_side(arm_buf *b) {
    repl_hello f = mk_hello(REPL_ROLE_FOLLOWER, 1);
    f.flags |= REPL_HELLO_HAVE_POS | REPL_HELLO_EMPTY;
    memset(f.peer_db_id, 0x22, 16);
    uint8_t proof[32];
    memset(proof, 0x66, sizeof(proof));
    repl_subscribe s0 = {REPL_SUB_HAVE_POS, {3, 4096, 1, 40}}, s1 = {0, {0, 0, 0, 0}};
    repl_ack a = {{4, 4160, 1, 64}, 1};
    repl_heartbeat hb = {500, 1000, 0};
    mk_ok(repl_msg_hello_encode(b, &f));
    mk_ok(repl_msg_auth_encode(b, proof));
    mk_ok(repl_msg_subscribe_encode(b, 0, &s0));
    mk_ok(repl_msg_subscribe_encode(b, 1, &s1));
    mk_ok(repl_msg_ack_encode(b, 0, &a));
    mk_ok(repl_msg_heartbeat_encode(b, &hb));
    mk_ok(repl_msg_error_encode(b, ARM_AUTH, "authentication failed"));
}

/* A TXN of one 200-byte entry in parts of 80 bytes (sealed records), with
 * the parts in order, or out of order when `bad`. */
static void mk_multipart(arm_buf *rec, int bad) {
    uint8_t stream[200];
    memset(stream, 'x', sizeof(stream));
    stream[0] = REPL_ENTRY_PUT, stream[1] = 0, stream[2] = 4, stream[3] = 0;
    uint32_t vlen = 200 - 8 - 4;
    for (int i = 0; i < 4; i++)
        stream[4 + i] = (uint8_t)(vlen >> (8 * i));
    uint64_t offs[3] = {0, 80, 160};
    if (bad) offs[1] = 100;
    for (int k = 0; k < 3; k++) {
        uint8_t p[REPL_PART_HDR + 80];
        memset(p, 0, REPL_PART_HDR);
        arm_repl_pos after = {9, 9000, 2, 40};
        repl_wire_pos_put(p, &after);
        p[24] = 1;   /* count */
        p[32] = 200; /* total */
        for (int i = 0; i < 8; i++)
            p[40 + i] = (uint8_t)(offs[k] >> (8 * i));
        size_t n = offs[k] + 80 <= 200 ? 80 : 200 - offs[k];
        memcpy(p + REPL_PART_HDR, stream + offs[k], n);
        fzr_record(rec, REPL_MSG_TXN, 0, p, (uint16_t)(REPL_PART_HDR + n));
    }
}

static void mk_frame(void) {
    const char *t = "fuzz_repl_frame";
    arm_buf b = {0}, r = {0};
    mk_follower_side(&b);
    mk_input(t, "follower_side", 0x08, &b); /* 2 shards, we follow */
    arm_buf cut = b;
    cut.len = b.len - 7;
    mk_input(t, "follower_side_cut", 0x08, &cut);
    mk_records(&b, &r);
    mk_input(t, "follower_side_sealed", 0x09, &r);
    b.len = r.len = 0;
    mk_leader_side(&b);
    mk_input(t, "leader_side", 0x0c, &b); /* 2 shards, we lead */
    mk_records(&b, &r);
    mk_input(t, "leader_side_sealed", 0x0f, &r); /* and a 4 MiB bound */
    r.len = 0;
    mk_multipart(&r, 0);
    mk_input(t, "multipart_sealed", 0x01, &r);
    r.len = 0;
    mk_multipart(&r, 1);
    mk_input(t, "multipart_gap_sealed", 0x01, &r);
    r.len = 0;
    mk_multipart(&r, 0);
    mk_input(t, "multipart_small_txn_max", 0x21, &r);
    /* invalid variants as sealed records */
    uint8_t raw[REPL_HELLO_SIZE];
    repl_hello h = mk_hello(REPL_ROLE_LEADER, 0);
    repl_msg_hello_raw(&h, raw);
    raw[8] = 2; /* protocol version 2 */
    r.len = 0;
    fzr_record(&r, REPL_MSG_HELLO, REPL_SHARD_CONN, raw, sizeof(raw));
    mk_input(t, "hello_v2_sealed", 0x01, &r);
    repl_msg_hello_raw(&h, raw);
    raw[14] = 1; /* reserved */
    r.len = 0;
    fzr_record(&r, REPL_MSG_HELLO, REPL_SHARD_CONN, raw, sizeof(raw));
    mk_input(t, "hello_reserved_sealed", 0x01, &r);
    uint8_t bad_ent[REPL_PART_HDR + 9];
    memset(bad_ent, 0, sizeof(bad_ent));
    arm_repl_pos after = {3, 100, 1, 40};
    repl_wire_pos_put(bad_ent, &after);
    bad_ent[24] = 1, bad_ent[32] = 9;
    bad_ent[REPL_PART_HDR] = 3; /* entry type 3 */
    bad_ent[REPL_PART_HDR + 2] = 1;
    r.len = 0;
    fzr_record(&r, REPL_MSG_TXN, 0, bad_ent, sizeof(bad_ent));
    mk_input(t, "txn_bad_entry_sealed", 0x01, &r);
    r.len = 0;
    fzr_record(&r, REPL_MSG_TXN, 99, bad_ent, sizeof(bad_ent)); /* shard 99 of 1 */
    mk_input(t, "txn_wrong_shard_sealed", 0x01, &r);
    const char *http = "GET / HTTP/1.1\r\nHost: leader\r\n\r\n";
    arm_buf g = {(uint8_t *)http, strlen(http), strlen(http)};
    mk_input(t, "garbage_http", 0x00, &g);
    arm_buf_free(&b);
    arm_buf_free(&r);
}

/* -------------------------------------------------- fuzz_repl_handshake */
static void mk_hs(const char *name, uint8_t mode, uint8_t cfg, uint8_t bounds, const uint8_t *ops,
                  size_t nops) {
    uint8_t p[3 + 64];
    if (nops * 4 > 64) exit(1);
    p[0] = mode, p[1] = cfg, p[2] = bounds;
    if (nops) memcpy(p + 3, ops, nops * 4);
    mk_write("fuzz_repl_handshake", name, p, 3 + nops * 4);
}

static void mk_hs_raw(const char *name, uint8_t mode, uint8_t cfg, const arm_buf *frames) {
    arm_buf r = {0};
    mk_records(frames, &r);
    uint8_t *p = malloc(3 + r.len);
    if (p == NULL) exit(1);
    p[0] = mode, p[1] = cfg, p[2] = 0;
    memcpy(p + 3, r.ptr, r.len);
    mk_write("fuzz_repl_handshake", name, p, 3 + r.len);
    free(p);
    arm_buf_free(&r);
}

static void mk_handshake(void) {
    mk_hs("pair_plain", 0, 0x00, 0, NULL, 0);
    mk_hs("pair_auth", 0, 0x03, 0, NULL, 0);
    mk_hs("pair_wrong_secret", 0, 0x07, 0, NULL, 0);
    mk_hs("pair_follower_secret_only", 0, 0x01, 0, NULL, 0);
    mk_hs("pair_leader_secret_only", 0, 0x02, 0, NULL, 0);
    mk_hs("pair_shard_mismatch", 0, 0x08, 0, NULL, 0);
    mk_hs("pair_same_db", 0, 0x80, 0, NULL, 0);
    mk_hs("pair_positions", 0, 0x73, 0x04, NULL, 0);
    mk_hs("pair_txn_max", 0, 0x00, 0x01, NULL, 0);
    const uint8_t flip[4] = {1, 1, 16 + 30, 2}; /* leader hello, db id bit */
    mk_hs("pair_auth_flip", 0, 0x03, 0, flip, 1);
    const uint8_t set[4] = {1, 3, 16 + 24, 0x10}; /* leader hello txn_max, resealed */
    mk_hs("pair_auth_rewrite", 0, 0x03, 0, set, 1);
    mk_hs("pair_plain_rewrite", 0, 0x00, 0, set, 1);
    const uint8_t dup[4] = {0, 4, 0, 0};
    mk_hs("pair_dup_hello", 0, 0x03, 0, dup, 1);
    const uint8_t drop[4] = {2, 2, 0, 0};
    mk_hs("pair_drop_auth", 0, 0x03, 0, drop, 1);
    const uint8_t proof[4] = {3, 3, 16 + 5, 0xee}; /* leader's proof, resealed */
    mk_hs("pair_forge_proof", 0, 0x03, 0, proof, 1);

    arm_buf b = {0};
    repl_hello f = mk_hello(REPL_ROLE_FOLLOWER, 0), l = mk_hello(REPL_ROLE_LEADER, 0);
    mk_ok(repl_msg_hello_encode(&b, &f));
    mk_hs_raw("raw_leader_plain", 1, 0x00, &b);
    b.len = 0;
    f = mk_hello(REPL_ROLE_FOLLOWER, 1);
    uint8_t junk[32];
    memset(junk, 0x42, sizeof(junk));
    mk_ok(repl_msg_hello_encode(&b, &f));
    mk_ok(repl_msg_auth_encode(&b, junk));
    mk_hs_raw("raw_leader_auth", 1, 0x03, &b);
    b.len = 0;
    mk_ok(repl_msg_hello_encode(&b, &l));
    mk_hs_raw("raw_follower_plain", 2, 0x00, &b);
    b.len = 0;
    l = mk_hello(REPL_ROLE_LEADER, 1);
    mk_ok(repl_msg_hello_encode(&b, &l));
    mk_ok(repl_msg_auth_encode(&b, junk));
    mk_hs_raw("raw_follower_auth", 2, 0x03, &b);
    b.len = 0;
    mk_ok(repl_msg_error_encode(&b, ARM_FULL, "too many followers"));
    mk_hs_raw("raw_follower_refused", 2, 0x00, &b);
    arm_buf_free(&b);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: mkcorpus_repl DIR\n");
        return 2;
    }
    mk_root = argv[1];
    if (mkdir(mk_root, 0755) != 0 && errno != EEXIST) {
        perror(mk_root);
        return 1;
    }
    mk_frame();
    mk_handshake();
    return 0;
}
