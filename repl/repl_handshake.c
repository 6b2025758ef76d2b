/* SPDX-License-Identifier: MIT */
/*
 * repl_handshake.c: the handshake as a pure state machine (frames in, frames
 * out, no I/O), so tests and the fuzzer can run two of them against each
 * other and repl_stream.c can drive one over a socket. Layer: repl.
 *
 *   follower                                   leader
 *   HELLO (versions, ids, shards, nonce_f) --->
 *                                          <--- HELLO (..., nonce_l)   or ERROR
 *   with a secret on both sides:
 *   AUTH  proof_F(secret, both hellos)     --->
 *                                          <--- AUTH proof_L(...)      or ERROR
 *   (done: the follower subscribes; the leader may still refuse it with an
 *    ERROR frame, e.g. when max_followers are connected)
 *
 * Each side checks the other's HELLO (repl_wire_check_hello: versions, shard
 * count, distinct database ids, secret on both sides or neither) before it
 * proves anything, and refuses with an ERROR frame the peer can show. The
 * follower proves first, so a leader never sends its proof to a follower that
 * has not shown it knows the secret.
 */
#include "repl_int.h"

#include <string.h>

void repl_hs_cfg_init(repl_hs_cfg *cfg, uint8_t role, const uint8_t db_id[16], uint32_t shard_count,
                      const arm_repl_options *opts, const arm_repl_secret *secret) {
    assert(role == REPL_ROLE_LEADER || role == REPL_ROLE_FOLLOWER);
    assert(opts != NULL);
    memset(cfg, 0, sizeof(*cfg));
    cfg->role = role;
    memcpy(cfg->db_id, db_id, REPL_DBID_BYTES);
    cfg->shard_count = shard_count;
    cfg->payload_max = opts->payload_max;
    cfg->txn_max = opts->txn_max;
    cfg->secret = secret;
}

static void rh_make_hello(repl_hs *hs) {
    const repl_hs_cfg *c = &hs->cfg;
    repl_hello *h = &hs->me;
    memset(h, 0, sizeof(*h));
    h->proto = ARM_REPL_PROTOCOL_VERSION;
    h->engine_fmt = REPL_ENGINE_FORMAT;
    h->role = c->role;
    h->shard_count = c->shard_count;
    h->payload_max = c->payload_max;
    h->txn_max = c->txn_max;
    memcpy(h->db_id, c->db_id, REPL_DBID_BYTES);
    if (c->secret != NULL) {
        h->flags |= REPL_HELLO_AUTH;
        memcpy(h->nonce, hs->nonce, REPL_NONCE_BYTES);
    }
    if (c->role == REPL_ROLE_FOLLOWER && c->have_pos) {
        h->flags |= REPL_HELLO_HAVE_POS;
        memcpy(h->peer_db_id, c->leader_db_id, REPL_DBID_BYTES);
    }
    if (c->role == REPL_ROLE_FOLLOWER && c->empty) h->flags |= REPL_HELLO_EMPTY;
    repl_msg_hello_raw(h, hs->mine);
}

int repl_hs_start(repl_hs *hs, const repl_hs_cfg *cfg, arm_buf *out, arm_repl_err *err) {
    assert(cfg->role == REPL_ROLE_LEADER || cfg->role == REPL_ROLE_FOLLOWER);
    assert(cfg->shard_count >= 1 && cfg->shard_count <= REPL_SHARDS_MAX);
    memset(hs, 0, sizeof(*hs));
    hs->cfg = *cfg;
    hs->state = REPL_HS_HELLO;
    if (cfg->secret != NULL && repl_auth_nonce(hs->nonce) != ARM_OK) {
        hs->state = REPL_HS_FAILED;
        return REPL_ERR(err, ARM_ERROR, "replication: no random numbers for the handshake");
    }
    rh_make_hello(hs);
    if (cfg->role == REPL_ROLE_LEADER) return ARM_OK; /* the follower speaks first */
    int rc =
        repl_wire_frame_append(out, REPL_MSG_HELLO, REPL_SHARD_CONN, hs->mine, REPL_HELLO_SIZE);
    if (rc != ARM_OK) hs->state = REPL_HS_FAILED;
    return rc;
}

/* Refuse: queue an ERROR frame that tells the peer why (our message, which
 * never holds secret bytes; for a failed proof only that it failed). */
static int rh_fail(repl_hs *hs, arm_buf *out, const arm_repl_err *why, const char *peer_text,
                   arm_repl_err *err) {
    assert(why->rc != ARM_OK);
    hs->state = REPL_HS_FAILED;
    if (err != NULL) *err = *why;
    /* out of memory here only loses the courtesy message, not the refusal */
    int erc = repl_msg_error_encode(out, why->rc, peer_text ? peer_text : why->msg);
    (void)erc;
    return why->rc;
}

/* The peer refused us with an ERROR frame. */
static int rh_peer_error(repl_hs *hs, const repl_frame *f, arm_repl_err *err) {
    repl_error_msg e;
    hs->state = REPL_HS_FAILED;
    int rc = repl_msg_error_decode(f, &e, err);
    if (rc != ARM_OK) return rc;
    int code = (int)e.code;
    if (code != ARM_AUTH && code != ARM_FULL && code != ARM_BUSY) code = ARM_PROTOCOL;
    const char *who = hs->cfg.role == REPL_ROLE_LEADER ? "follower" : "leader";
    return REPL_ERR(err, code, "the %s refused the connection: %s", who, e.text);
}

/* The peer's HELLO: check it, answer it. */
static int rh_on_hello(repl_hs *hs, const repl_frame *f, arm_buf *out, arm_repl_err *err) {
    arm_repl_err why = {0, ""};
    int rc = repl_msg_hello_decode(f, &hs->peer, &why);
    if (rc == ARM_OK) rc = repl_wire_check_hello(&hs->me, &hs->peer, &why);
    if (rc != ARM_OK) return rh_fail(hs, out, &why, NULL, err);
    memcpy(hs->theirs, f->payload, REPL_HELLO_SIZE);
    int leader = hs->cfg.role == REPL_ROLE_LEADER;
    if (leader) {
        rc =
            repl_wire_frame_append(out, REPL_MSG_HELLO, REPL_SHARD_CONN, hs->mine, REPL_HELLO_SIZE);
        if (rc != ARM_OK) return REPL_ERR(err, rc, "out of memory in the handshake");
    }
    if (hs->cfg.secret == NULL) { /* check_hello saw that neither side has one */
        hs->state = REPL_HS_DONE;
        return ARM_OK;
    }
    hs->state = REPL_HS_AUTH;
    if (leader) return ARM_OK; /* the follower proves first */
    uint8_t proof[REPL_PROOF_BYTES];
    repl_auth_proof(hs->cfg.secret, REPL_ROLE_FOLLOWER, hs->mine, hs->theirs, proof);
    rc = repl_msg_auth_encode(out, proof);
    return rc == ARM_OK ? ARM_OK : REPL_ERR(err, rc, "out of memory in the handshake");
}

/* The peer's AUTH: verify it; the leader answers with its own proof. */
static int rh_on_auth(repl_hs *hs, const repl_frame *f, arm_buf *out, arm_repl_err *err) {
    arm_repl_err why = {0, ""};
    uint8_t proof[REPL_PROOF_BYTES];
    int rc = repl_msg_auth_decode(f, proof, &why);
    if (rc != ARM_OK) return rh_fail(hs, out, &why, NULL, err);
    int leader = hs->cfg.role == REPL_ROLE_LEADER;
    const uint8_t *fh = leader ? hs->theirs : hs->mine;
    const uint8_t *lh = leader ? hs->mine : hs->theirs;
    uint8_t peer_role = leader ? REPL_ROLE_FOLLOWER : REPL_ROLE_LEADER;
    if (repl_auth_verify(hs->cfg.secret, peer_role, fh, lh, proof) != ARM_OK) {
        REPL_ERR(&why, ARM_AUTH,
                 "the %s failed to prove the shared secret (wrong secret, or a "
                 "replayed or forged handshake)",
                 leader ? "follower" : "leader");
        return rh_fail(hs, out, &why, "authentication failed", err);
    }
    if (leader) {
        repl_auth_proof(hs->cfg.secret, REPL_ROLE_LEADER, fh, lh, proof);
        rc = repl_msg_auth_encode(out, proof);
        if (rc != ARM_OK) return REPL_ERR(err, rc, "out of memory in the handshake");
    }
    hs->state = REPL_HS_DONE;
    return ARM_OK;
}

int repl_hs_on_frame(repl_hs *hs, const repl_frame *f, arm_buf *out, arm_repl_err *err) {
    if (ARM_NEVER(hs->state != REPL_HS_HELLO && hs->state != REPL_HS_AUTH))
        return REPL_ERR(err, ARM_MISUSE, "handshake already finished");
    if (f->hdr.type == REPL_MSG_ERROR) return rh_peer_error(hs, f, err);
    uint8_t want = hs->state == REPL_HS_HELLO ? REPL_MSG_HELLO : REPL_MSG_AUTH;
    if (f->hdr.type != want) {
        arm_repl_err why = {0, ""};
        REPL_ERR(&why, ARM_PROTOCOL, "handshake: expected %s, got %s", repl_wire_type_name(want),
                 repl_wire_type_name(f->hdr.type));
        return rh_fail(hs, out, &why, NULL, err);
    }
    return want == REPL_MSG_HELLO ? rh_on_hello(hs, f, out, err) : rh_on_auth(hs, f, out, err);
}
