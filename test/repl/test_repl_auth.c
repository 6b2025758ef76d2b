/* SPDX-License-Identifier: MIT */
/*
 * test_repl_auth.c: the shared secret and the mutual handshake. Secrets load
 * from a file (owner-only, one trailing newline dropped) or a variable, with
 * bounds, and no error message ever holds the secret. Two handshake state
 * machines run against each other: with the same secret both accept; with a
 * wrong secret, a secret on one side only, a replayed proof (from an earlier
 * session, in either direction), a proof reflected back to its sender, or a
 * handshake field changed in transit, the side that can tell refuses with
 * ARM_AUTH and the other side learns why from the ERROR frame. Incompatible
 * peers (protocol version, shard count, same database) are refused the same
 * way. The same handshakes then run over real sockets (repl_conn_handshake).
 */
#include "../harness.h"
#include "../../common/arm_hash.h"
#include "repl_test.h"

static char g_tmp[512];

static const char k_secret[] = "correct horse battery staple";
static const char k_other[] = "correct horse battery stapl3";

/* ------------------------------------------------------------- secrets */
static int secret_load_file(const char *path, arm_repl_secret **s, arm_repl_err *e) {
    return arm_repl_secret_load(path, NULL, s, e);
}

/* Two secrets prove the same way iff they hold the same bytes. */
static int same_secret(const arm_repl_secret *a, const arm_repl_secret *b) {
    uint8_t f[REPL_HELLO_SIZE], l[REPL_HELLO_SIZE], pa[32], pb[32];
    memset(f, 1, sizeof(f));
    memset(l, 2, sizeof(l));
    repl_auth_proof(a, REPL_ROLE_FOLLOWER, f, l, pa);
    repl_auth_proof(b, REPL_ROLE_FOLLOWER, f, l, pb);
    return memcmp(pa, pb, 32) == 0;
}

static void expect_no_secret_in(const arm_repl_err *e, const char *secret) {
    ARM_CHECK(strstr(e->msg, secret) == NULL);
    ARM_CHECK(strstr(e->msg, "battery") == NULL);
}

static void test_secret_file(void) {
    char path[600];
    arm_repl_secret *s = NULL, *env = rt_secret(k_secret);
    arm_repl_err e = {0, ""};
    /* a secret written with echo (trailing newline) equals the bare one */
    char line[64];
    snprintf(line, sizeof(line), "%s\n", k_secret);
    rt_write_file(g_tmp, "nl", line, strlen(line), 0600, path, sizeof(path));
    RT_CHECK_RC(secret_load_file(path, &s, &e), &e, ARM_OK);
    ARM_CHECK(same_secret(s, env));
    arm_repl_secret_free(s);
    snprintf(line, sizeof(line), "%s\r\n", k_secret);
    rt_write_file(g_tmp, "crlf", line, strlen(line), 0400, path, sizeof(path));
    RT_CHECK_RC(secret_load_file(path, &s, &e), &e, ARM_OK);
    ARM_CHECK(same_secret(s, env));
    arm_repl_secret_free(s);
    /* without the newline too, and a different secret differs */
    rt_write_file(g_tmp, "bare", k_secret, strlen(k_secret), 0600, path, sizeof(path));
    RT_CHECK_RC(secret_load_file(path, &s, &e), &e, ARM_OK);
    ARM_CHECK(same_secret(s, env));
    arm_repl_secret_free(s);
    rt_write_file(g_tmp, "other", k_other, strlen(k_other), 0600, path, sizeof(path));
    RT_CHECK_RC(secret_load_file(path, &s, &e), &e, ARM_OK);
    ARM_CHECK(!same_secret(s, env));
    arm_repl_secret_free(s);
    /* readable by others: refused, and the message says how to fix it */
    rt_write_file(g_tmp, "open", k_secret, strlen(k_secret), 0644, path, sizeof(path));
    ARM_CHECK_RC(secret_load_file(path, &s, &e), ARM_AUTH);
    ARM_CHECK(s == NULL);
    RT_CHECK_MSG(&e, "accessible by other users (mode 0644); chmod 600");
    RT_CHECK_MSG(&e, path);
    expect_no_secret_in(&e, k_secret);
    rt_write_file(g_tmp, "grp", k_secret, strlen(k_secret), 0620, path, sizeof(path));
    ARM_CHECK_RC(secret_load_file(path, &s, &e), ARM_AUTH);
    /* missing, a directory, too short, too long */
    snprintf(path, sizeof(path), "%s/none", g_tmp);
    ARM_CHECK_RC(secret_load_file(path, &s, &e), ARM_NOTFOUND);
    RT_CHECK_MSG(&e, "/none");
    ARM_CHECK_RC(secret_load_file(g_tmp, &s, &e), ARM_AUTH);
    RT_CHECK_MSG(&e, "not a regular file");
    rt_write_file(g_tmp, "short", "0123456789abcde\n", 16, 0600, path, sizeof(path));
    ARM_CHECK_RC(secret_load_file(path, &s, &e), ARM_AUTH);
    RT_CHECK_MSG(&e, "too short (at least 16 bytes)");
    ARM_CHECK(strstr(e.msg, "0123456789") == NULL);
    rt_write_file(g_tmp, "empty", "", 0, 0600, path, sizeof(path));
    ARM_CHECK_RC(secret_load_file(path, &s, &e), ARM_AUTH);
    static char big[ARM_REPL_SECRET_MAX + 2];
    memset(big, 's', sizeof(big));
    rt_write_file(g_tmp, "max", big, ARM_REPL_SECRET_MAX, 0600, path, sizeof(path));
    RT_CHECK_RC(secret_load_file(path, &s, &e), &e, ARM_OK);
    arm_repl_secret_free(s);
    rt_write_file(g_tmp, "max_nl", big, ARM_REPL_SECRET_MAX + 1, 0600, path, sizeof(path));
    ARM_CHECK_RC(secret_load_file(path, &s, &e), ARM_AUTH); /* no newline to drop */
    RT_CHECK_MSG(&e, "too long (at most 1024 bytes)");
    big[ARM_REPL_SECRET_MAX] = '\n';
    rt_write_file(g_tmp, "max_nl2", big, ARM_REPL_SECRET_MAX + 1, 0600, path, sizeof(path));
    RT_CHECK_RC(secret_load_file(path, &s, &e), &e, ARM_OK);
    arm_repl_secret_free(s);
    rt_write_file(g_tmp, "huge", big, sizeof(big), 0600, path, sizeof(path));
    ARM_CHECK_RC(secret_load_file(path, &s, &e), ARM_AUTH);
    arm_repl_secret_free(env);
    arm_repl_secret_free(NULL);
}

static void test_secret_env(void) {
    arm_repl_secret *s = NULL;
    arm_repl_err e = {0, ""};
    ARM_CHECK(unsetenv("ARM_REPL_NO_SUCH") == 0);
    ARM_CHECK_RC(arm_repl_secret_load(NULL, "ARM_REPL_NO_SUCH", &s, &e), ARM_NOTFOUND);
    RT_CHECK_MSG(&e, "ARM_REPL_NO_SUCH is not set");
    ARM_CHECK(setenv("ARM_REPL_SHORT", "battery", 1) == 0);
    ARM_CHECK_RC(arm_repl_secret_load(NULL, "ARM_REPL_SHORT", &s, &e), ARM_AUTH);
    RT_CHECK_MSG(&e, "variable ARM_REPL_SHORT is too short");
    expect_no_secret_in(&e, "battery");
    ARM_CHECK(unsetenv("ARM_REPL_SHORT") == 0);
    ARM_CHECK_RC(arm_repl_secret_load(NULL, NULL, &s, &e), ARM_MISUSE);
    RT_CHECK_MSG(&e, "not neither");
    ARM_CHECK_RC(arm_repl_secret_load("/x", "X", &s, &e), ARM_MISUSE);
    RT_CHECK_MSG(&e, "not both");
    /* options: both sources is misuse; bounds name the option */
    arm_repl_options o;
    arm_repl_options_init(&o);
    RT_CHECK_RC(arm_repl_options_check(&o, &e), &e, ARM_OK);
    o.secret_file = "/x", o.secret_env = "X";
    ARM_CHECK_RC(arm_repl_options_check(&o, &e), ARM_MISUSE);
    arm_repl_options_init(&o);
    o.peer_timeout_ms = 2 * o.heartbeat_ms;
    ARM_CHECK_RC(arm_repl_options_check(&o, &e), ARM_RANGE);
    RT_CHECK_MSG(&e, "peer_timeout_ms=2000 is out of range (2001..");
    arm_repl_options_init(&o);
    o.max_followers = 0;
    ARM_CHECK_RC(arm_repl_options_check(&o, &e), ARM_RANGE);
    RT_CHECK_MSG(&e, "max_followers=0");
    arm_repl_options_init(&o);
    o.payload_max = ARM_REPL_PAYLOAD_MAX + 1;
    ARM_CHECK_RC(arm_repl_options_check(&o, &e), ARM_RANGE);
    RT_CHECK_MSG(&e, "payload_max");
    arm_repl_options_init(&o);
    o.backoff_max_ms = o.backoff_base_ms - 1;
    ARM_CHECK_RC(arm_repl_options_check(&o, &e), ARM_RANGE);
    RT_CHECK_MSG(&e, "backoff_max_ms");
}

static void test_proofs(void) {
    arm_repl_secret *a = rt_secret(k_secret), *b = rt_secret(k_other);
    uint8_t f[REPL_HELLO_SIZE], l[REPL_HELLO_SIZE], p[32], q[32];
    util_fill(f, sizeof(f), 1, 1);
    util_fill(l, sizeof(l), 2, 2);
    repl_auth_proof(a, REPL_ROLE_FOLLOWER, f, l, p);
    ARM_CHECK(repl_auth_verify(a, REPL_ROLE_FOLLOWER, f, l, p) == ARM_OK);
    ARM_CHECK_RC(repl_auth_verify(b, REPL_ROLE_FOLLOWER, f, l, p), ARM_AUTH); /* wrong secret */
    ARM_CHECK_RC(repl_auth_verify(a, REPL_ROLE_LEADER, f, l, p), ARM_AUTH);   /* other role */
    ARM_CHECK_RC(repl_auth_verify(a, REPL_ROLE_FOLLOWER, l, f, p), ARM_AUTH); /* hellos swapped */
    repl_auth_proof(a, REPL_ROLE_LEADER, f, l, q);
    ARM_CHECK(memcmp(p, q, 32) != 0);
    for (size_t i = 0; i < REPL_HELLO_SIZE; i += 7) { /* any byte of either hello counts */
        f[i] ^= 1;
        ARM_CHECK_RC(repl_auth_verify(a, REPL_ROLE_FOLLOWER, f, l, p), ARM_AUTH);
        f[i] ^= 1;
        l[i] ^= 0x80;
        ARM_CHECK_RC(repl_auth_verify(a, REPL_ROLE_FOLLOWER, f, l, p), ARM_AUTH);
        l[i] ^= 0x80;
    }
    for (int i = 0; i < 32; i++) {
        p[i] ^= 4;
        ARM_CHECK_RC(repl_auth_verify(a, REPL_ROLE_FOLLOWER, f, l, p), ARM_AUTH);
        p[i] ^= 4;
    }
    uint8_t n1[32], n2[32];
    ARM_CHECK(repl_auth_nonce(n1) == ARM_OK && repl_auth_nonce(n2) == ARM_OK);
    ARM_CHECK(memcmp(n1, n2, 32) != 0);
    arm_repl_secret_free(a);
    arm_repl_secret_free(b);
}

/* --------------------------------------------------- state machines */
static void expect_both_done(const rt_hs_result *r, const repl_hs *f, const repl_hs *l) {
    if (r->f_rc != ARM_OK || r->l_rc != ARM_OK)
        fprintf(stderr, "follower %s \"%s\", leader %s \"%s\"\n", arm_rc_str(r->f_rc), r->f_err.msg,
                arm_rc_str(r->l_rc), r->l_err.msg);
    ARM_CHECK(r->f_rc == ARM_OK && r->l_rc == ARM_OK);
    ARM_CHECK(f->state == REPL_HS_DONE && l->state == REPL_HS_DONE);
    ARM_CHECK(memcmp(f->peer.db_id, l->cfg.db_id, 16) == 0);
    ARM_CHECK(memcmp(l->peer.db_id, f->cfg.db_id, 16) == 0);
}

/* Both refused: the side that could tell with `rc_refuser`, and the other
 * with the code the ERROR frame carried. */
static void expect_refused(const rt_hs_result *r, int f_rc, int l_rc, const char *f_needle,
                           const char *l_needle) {
    if (r->f_rc != f_rc || r->l_rc != l_rc)
        fprintf(stderr, "follower %s \"%s\", leader %s \"%s\"\n", arm_rc_str(r->f_rc), r->f_err.msg,
                arm_rc_str(r->l_rc), r->l_err.msg);
    ARM_CHECK(r->f_rc == f_rc && r->l_rc == l_rc);
    if (f_needle) RT_CHECK_MSG(&r->f_err, f_needle);
    if (l_needle) RT_CHECK_MSG(&r->l_err, l_needle);
    expect_no_secret_in(&r->f_err, k_secret);
    expect_no_secret_in(&r->l_err, k_secret);
}

static void test_hs_ok(void) {
    arm_repl_secret *s1 = rt_secret(k_secret), *s2 = rt_secret(k_secret);
    for (int auth = 0; auth < 2; auth++) {
        repl_hs f, l;
        repl_hs_cfg fc = rt_cfg(REPL_ROLE_FOLLOWER, 1, 4, auth ? s1 : NULL);
        repl_hs_cfg lc = rt_cfg(REPL_ROLE_LEADER, 2, 4, auth ? s2 : NULL);
        rt_hs_result r = rt_hs_pump(&f, &fc, &l, &lc, NULL, NULL);
        expect_both_done(&r, &f, &l);
        ARM_CHECK(r.rounds == (auth ? 2 : 1));
        ARM_CHECK(repl_hello_positions_valid(&l.peer, &f.peer) == 0);
        /* a follower that stored positions for this leader has them accepted */
        fc.have_pos = 1;
        memcpy(fc.leader_db_id, lc.db_id, 16);
        fc.empty = 1;
        r = rt_hs_pump(&f, &fc, &l, &lc, NULL, NULL);
        expect_both_done(&r, &f, &l);
        ARM_CHECK(repl_hello_positions_valid(&l.peer, &f.peer) == 1);
        ARM_CHECK((l.peer.flags & REPL_HELLO_EMPTY) != 0);
        /* ... and positions of another leader are not */
        rt_id(fc.leader_db_id, 77);
        r = rt_hs_pump(&f, &fc, &l, &lc, NULL, NULL);
        expect_both_done(&r, &f, &l);
        ARM_CHECK(repl_hello_positions_valid(&l.peer, &f.peer) == 0);
    }
    arm_repl_secret_free(s1);
    arm_repl_secret_free(s2);
}

static void test_hs_wrong_or_missing(void) {
    arm_repl_secret *s = rt_secret(k_secret), *o = rt_secret(k_other);
    repl_hs f, l;
    /* wrong secret: the leader sees the follower's proof fail */
    repl_hs_cfg fc = rt_cfg(REPL_ROLE_FOLLOWER, 1, 2, o), lc = rt_cfg(REPL_ROLE_LEADER, 2, 2, s);
    rt_hs_result r = rt_hs_pump(&f, &fc, &l, &lc, NULL, NULL);
    expect_refused(&r, ARM_AUTH, ARM_AUTH,
                   "the leader refused the connection: authentication "
                   "failed",
                   "the follower failed to prove the shared secret");
    ARM_CHECK(f.state == REPL_HS_FAILED && l.state == REPL_HS_FAILED);
    /* secret on the leader only */
    fc = rt_cfg(REPL_ROLE_FOLLOWER, 1, 2, NULL);
    r = rt_hs_pump(&f, &fc, &l, &lc, NULL, NULL);
    expect_refused(&r, ARM_AUTH, ARM_AUTH, "requires authentication",
                   "the follower has no shared secret");
    /* secret on the follower only: the leader refuses too, and the follower
     * would not have taken an unauthenticated leader anyway */
    fc = rt_cfg(REPL_ROLE_FOLLOWER, 1, 2, s);
    lc = rt_cfg(REPL_ROLE_LEADER, 2, 2, NULL);
    r = rt_hs_pump(&f, &fc, &l, &lc, NULL, NULL);
    expect_refused(&r, ARM_AUTH, ARM_AUTH, "this side has no shared secret",
                   "the follower expects authentication");
    arm_repl_secret_free(s);
    arm_repl_secret_free(o);
}

/* Records every frame the pump hands over. */
typedef struct tape {
    arm_buf frames[8];
    int to_leader[8];
    int n;
} tape;

static int tape_fn(void *ctx, int to_leader, arm_buf *frame) {
    tape *t = ctx;
    ARM_CHECK(t->n < 8);
    arm_buf *c = &t->frames[t->n];
    ARM_CHECK(arm_buf_reserve(c, frame->len) == ARM_OK);
    memcpy(c->ptr, frame->ptr, frame->len);
    c->len = frame->len;
    t->to_leader[t->n++] = to_leader;
    return 1;
}

/* Feed recorded frame i to hs; its code. */
static int tape_play(tape *t, int i, repl_hs *hs, arm_buf *out, arm_repl_err *e) {
    repl_frame f = rt_frame_one(&t->frames[i]);
    return repl_hs_on_frame(hs, &f, out, e);
}

static void test_hs_replay(void) {
    arm_repl_secret *s = rt_secret(k_secret);
    repl_hs f, l;
    repl_hs_cfg fc = rt_cfg(REPL_ROLE_FOLLOWER, 1, 2, s), lc = rt_cfg(REPL_ROLE_LEADER, 2, 2, s);
    tape t;
    memset(&t, 0, sizeof(t));
    rt_hs_result r = rt_hs_pump(&f, &fc, &l, &lc, tape_fn, &t);
    expect_both_done(&r, &f, &l);
    /* follower HELLO, leader HELLO, follower AUTH, leader AUTH */
    ARM_CHECK(t.n == 4 && t.to_leader[0] && !t.to_leader[1] && t.to_leader[2] && !t.to_leader[3]);
    arm_buf out = {0};
    arm_repl_err e = {0, ""};
    /* an impostor follower replays the recorded follower HELLO and AUTH to a
     * new leader session: the leader's fresh nonce makes the old proof fail */
    RT_CHECK_RC(repl_hs_start(&l, &lc, &out, &e), &e, ARM_OK);
    RT_CHECK_RC(tape_play(&t, 0, &l, &out, &e), &e, ARM_OK);
    ARM_CHECK(l.state == REPL_HS_AUTH);
    ARM_CHECK_RC(tape_play(&t, 2, &l, &out, &e), ARM_AUTH);
    RT_CHECK_MSG(&e, "replayed or forged");
    ARM_CHECK(l.state == REPL_HS_FAILED);
    /* an impostor leader replays the recorded leader HELLO and AUTH to a new
     * follower session: the follower's fresh nonce makes the old proof fail */
    out.len = 0;
    RT_CHECK_RC(repl_hs_start(&f, &fc, &out, &e), &e, ARM_OK);
    RT_CHECK_RC(tape_play(&t, 1, &f, &out, &e), &e, ARM_OK);
    ARM_CHECK(f.state == REPL_HS_AUTH);
    ARM_CHECK_RC(tape_play(&t, 3, &f, &out, &e), ARM_AUTH);
    RT_CHECK_MSG(&e, "the leader failed to prove the shared secret");
    ARM_CHECK(f.state == REPL_HS_FAILED);
    for (int i = 0; i < 8; i++)
        arm_buf_free(&t.frames[i]);
    arm_buf_free(&out);
    arm_repl_secret_free(s);
}

/* Reflection: an impostor leader without the secret answers the follower's
 * HELLO with a HELLO of its own and sends the follower's proof back. */
static void test_hs_reflect(void) {
    arm_repl_secret *s = rt_secret(k_secret);
    repl_hs f;
    repl_hs_cfg fc = rt_cfg(REPL_ROLE_FOLLOWER, 1, 2, s);
    arm_buf to_l = {0}, to_f = {0};
    arm_repl_err e = {0, ""};
    RT_CHECK_RC(repl_hs_start(&f, &fc, &to_l, &e), &e, ARM_OK);
    repl_hello fake;
    memset(&fake, 0, sizeof(fake));
    fake.proto = ARM_REPL_PROTOCOL_VERSION, fake.engine_fmt = REPL_ENGINE_FORMAT;
    fake.role = REPL_ROLE_LEADER, fake.flags = REPL_HELLO_AUTH, fake.shard_count = 2;
    fake.payload_max = ARM_REPL_PAYLOAD_MIN, fake.txn_max = 4096;
    rt_id(fake.db_id, 3);
    memcpy(fake.nonce, f.nonce, 32); /* even echoing the follower's own nonce back */
    ARM_CHECK(repl_msg_hello_encode(&to_f, &fake) == ARM_OK);
    repl_frame fr = rt_frame_one(&to_f);
    to_l.len = 0;
    RT_CHECK_RC(repl_hs_on_frame(&f, &fr, &to_l, &e), &e, ARM_OK);
    ARM_CHECK(f.state == REPL_HS_AUTH);
    repl_frame proof = rt_frame_one(&to_l); /* the follower's AUTH */
    ARM_CHECK(proof.hdr.type == REPL_MSG_AUTH);
    arm_buf back = {0};
    ARM_CHECK(repl_wire_frame_append(&back, REPL_MSG_AUTH, REPL_SHARD_CONN, proof.payload, 32) ==
              ARM_OK);
    repl_frame refl = rt_frame_one(&back);
    arm_buf out = {0};
    ARM_CHECK_RC(repl_hs_on_frame(&f, &refl, &out, &e), ARM_AUTH);
    ARM_CHECK(f.state == REPL_HS_FAILED);
    repl_frame ef = rt_frame_one(&out); /* and the impostor is told, without detail */
    repl_error_msg em;
    RT_CHECK_RC(repl_msg_error_decode(&ef, &em, &e), &e, ARM_OK);
    ARM_CHECK(em.code == ARM_AUTH && strcmp(em.text, "authentication failed") == 0);
    arm_buf_free(&to_l);
    arm_buf_free(&to_f);
    arm_buf_free(&back);
    arm_buf_free(&out);
    arm_repl_secret_free(s);
}

/* A man in the middle lowers the leader's txn_max (still compatible) on its
 * way to the follower: the proofs cover the hellos as each side saw them. */
typedef struct tamper_ctx {
    int done;
} tamper_ctx;
static int tamper_txn_max(void *ctx, int to_leader, arm_buf *frame) {
    tamper_ctx *t = ctx;
    if (!to_leader && !t->done && frame->ptr[4] == REPL_MSG_HELLO) {
        uint8_t *p = frame->ptr + REPL_FRAME_HDR;
        p[24 + 3] ^= 1; /* txn_max: the leader's is 4 GiB; flip a low byte */
        /* reseal both checksums, as an attacker would */
        uint32_t pc = (uint32_t)arm_hash_checksum(p, REPL_HELLO_SIZE);
        for (int i = 0; i < 4; i++)
            frame->ptr[8 + i] = (uint8_t)(pc >> (8 * i));
        uint32_t hc = (uint32_t)arm_hash_checksum(frame->ptr, 12);
        for (int i = 0; i < 4; i++)
            frame->ptr[12 + i] = (uint8_t)(hc >> (8 * i));
        t->done = 1;
    }
    return 1;
}

static void test_hs_tampered(void) {
    arm_repl_secret *s = rt_secret(k_secret);
    repl_hs f, l;
    repl_hs_cfg fc = rt_cfg(REPL_ROLE_FOLLOWER, 1, 2, s), lc = rt_cfg(REPL_ROLE_LEADER, 2, 2, s);
    lc.txn_max = 1u << 20;
    tamper_ctx t = {0};
    rt_hs_result r = rt_hs_pump(&f, &fc, &l, &lc, tamper_txn_max, &t);
    ARM_CHECK(t.done);
    expect_refused(&r, ARM_AUTH, ARM_AUTH, "authentication failed", "replayed or forged");
    /* without a secret the same change goes through: that is what the secret is for */
    fc.secret = lc.secret = NULL;
    t.done = 0;
    r = rt_hs_pump(&f, &fc, &l, &lc, tamper_txn_max, &t);
    expect_both_done(&r, &f, &l);
    ARM_CHECK(f.peer.txn_max != lc.txn_max);
    arm_repl_secret_free(s);
}

static int bump_version(void *ctx, int to_leader, arm_buf *frame) {
    (void)ctx;
    if (to_leader && frame->ptr[4] == REPL_MSG_HELLO) {
        uint8_t *p = frame->ptr + REPL_FRAME_HDR;
        p[8] = 2;
        uint32_t pc = (uint32_t)arm_hash_checksum(p, REPL_HELLO_SIZE);
        for (int i = 0; i < 4; i++)
            frame->ptr[8 + i] = (uint8_t)(pc >> (8 * i));
        uint32_t hc = (uint32_t)arm_hash_checksum(frame->ptr, 12);
        for (int i = 0; i < 4; i++)
            frame->ptr[12 + i] = (uint8_t)(hc >> (8 * i));
    }
    return 1;
}

static void test_hs_incompatible(void) {
    repl_hs f, l;
    repl_hs_cfg fc = rt_cfg(REPL_ROLE_FOLLOWER, 1, 2, NULL),
                lc = rt_cfg(REPL_ROLE_LEADER, 2, 4, NULL);
    rt_hs_result r = rt_hs_pump(&f, &fc, &l, &lc, NULL, NULL);
    expect_refused(&r, ARM_PROTOCOL, ARM_PROTOCOL,
                   "the leader refused the connection: shard count"
                   " mismatch: the leader has 4 shards, the follower 2",
                   "shard count mismatch");
    lc = rt_cfg(REPL_ROLE_LEADER, 1, 2, NULL); /* same database id as the follower */
    r = rt_hs_pump(&f, &fc, &l, &lc, NULL, NULL);
    expect_refused(&r, ARM_PROTOCOL, ARM_PROTOCOL, "same database", "same database");
    lc = rt_cfg(REPL_ROLE_LEADER, 2, 2, NULL);
    r = rt_hs_pump(&f, &fc, &l, &lc, bump_version, NULL);
    expect_refused(&r, ARM_PROTOCOL, ARM_PROTOCOL, "protocol version 2, this build speaks 1",
                   "protocol version 2");
    lc = rt_cfg(REPL_ROLE_FOLLOWER, 2, 2, NULL); /* two followers */
    arm_buf to_l = {0}, out = {0};
    arm_repl_err e = {0, ""};
    RT_CHECK_RC(repl_hs_start(&f, &fc, &to_l, &e), &e, ARM_OK);
    RT_CHECK_RC(repl_hs_start(&l, &lc, &out, &e), &e, ARM_OK);
    ARM_CHECK(out.len > 0); /* a follower always speaks first */
    repl_frame fr = rt_frame_one(&to_l);
    out.len = 0;
    ARM_CHECK_RC(repl_hs_on_frame(&l, &fr, &out, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "both sides are followers");
    /* a frame out of turn */
    repl_hs_cfg lc2 = rt_cfg(REPL_ROLE_LEADER, 2, 2, NULL);
    RT_CHECK_RC(repl_hs_start(&l, &lc2, &out, &e), &e, ARM_OK);
    repl_subscribe sub = {0, {0, 0, 0, 0}};
    to_l.len = 0;
    ARM_CHECK(repl_msg_subscribe_encode(&to_l, 0, &sub) == ARM_OK);
    fr = rt_frame_one(&to_l);
    out.len = 0;
    ARM_CHECK_RC(repl_hs_on_frame(&l, &fr, &out, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "handshake: expected HELLO, got SUBSCRIBE");
    fr = rt_frame_one(&out);
    ARM_CHECK(fr.hdr.type == REPL_MSG_ERROR);
    arm_buf_free(&to_l);
    arm_buf_free(&out);
}

/* --------------------------------------------------------- over sockets */
typedef struct hs_side {
    repl_conn *c;
    repl_hs_cfg cfg;
    repl_hs hs;
    int rc;
    arm_repl_err err;
    int timeout_ms;
} hs_side;

static hs_side side(repl_conn *c, repl_hs_cfg cfg, int timeout_ms) {
    hs_side s;
    memset(&s, 0, sizeof(s));
    s.c = c;
    s.cfg = cfg;
    s.timeout_ms = timeout_ms;
    return s;
}

static void *hs_thread(void *arg) {
    hs_side *s = arg;
    s->rc = repl_conn_handshake(s->c, &s->hs, &s->cfg, s->timeout_ms, &s->err);
    return NULL;
}

static void run_pair(hs_side *f, hs_side *l) {
    pthread_t t;
    ARM_CHECK(pthread_create(&t, NULL, hs_thread, l) == 0);
    hs_thread(f);
    ARM_CHECK(pthread_join(t, NULL) == 0);
}

static void test_hs_sockets(void) {
    arm_repl_secret *s = rt_secret(k_secret), *o = rt_secret(k_other);
    for (int round = 0; round < 3; round++) {
        repl_conn cf, cl;
        const uint32_t big = 2 * ARM_REPL_PAYLOAD_MIN;
        rt_conn_pair(&cf, &cl, -1, big);
        hs_side f = side(&cf, rt_cfg(REPL_ROLE_FOLLOWER, 1, 3, s), 2000);
        hs_side l = side(&cl, rt_cfg(REPL_ROLE_LEADER, 2, 3, round == 1 ? o : s), 2000);
        f.cfg.payload_max = round == 2 ? ARM_REPL_PAYLOAD_MIN : big;
        l.cfg.payload_max = big;
        run_pair(&f, &l);
        if (round == 1) {
            ARM_CHECK_RC(f.rc, ARM_AUTH);
            ARM_CHECK_RC(l.rc, ARM_AUTH);
            RT_CHECK_MSG(&f.err, "authentication failed");
        } else {
            RT_CHECK_RC(f.rc, &f.err, ARM_OK);
            RT_CHECK_RC(l.rc, &l.err, ARM_OK);
            /* each side sends at most what the other accepts */
            uint32_t want = round == 2 ? ARM_REPL_PAYLOAD_MIN : big;
            ARM_CHECK(cf.send_max == want && cl.send_max == want);
        }
        repl_conn_close(&cf);
        repl_conn_close(&cl);
    }
    /* a silent peer: the handshake gives up at its deadline */
    repl_conn cf, cl;
    rt_conn_pair(&cf, &cl, -1, ARM_REPL_PAYLOAD_MIN);
    hs_side f = side(&cf, rt_cfg(REPL_ROLE_FOLLOWER, 1, 3, NULL), 150);
    f.cfg.payload_max = ARM_REPL_PAYLOAD_MIN;
    uint64_t t0 = util_now_ms();
    hs_thread(&f);
    uint64_t dt = util_now_ms() - t0;
    ARM_CHECK_RC(f.rc, REPL_TIMEOUT);
    RT_CHECK_MSG(&f.err, "no answer within 150 ms");
    ARM_CHECK(dt >= 140 && dt < 5000);
    repl_conn_close(&cf);
    repl_conn_close(&cl);
    arm_repl_secret_free(s);
    arm_repl_secret_free(o);
}

int main(void) {
    harness_init();
    ARM_CHECK(util_tmpdir(g_tmp, sizeof(g_tmp), "repl-auth") != NULL);
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("secret from a file", test_secret_file());
    UTIL_CASE("secret from the environment; options", test_secret_env());
    UTIL_CASE("proofs bind secret, role and both hellos", test_proofs());
    UTIL_CASE("handshake: with and without a secret", test_hs_ok());
    UTIL_CASE("handshake: wrong or one-sided secret", test_hs_wrong_or_missing());
    UTIL_CASE("handshake: replayed proofs", test_hs_replay());
    UTIL_CASE("handshake: reflected proof", test_hs_reflect());
    UTIL_CASE("handshake: field changed in transit", test_hs_tampered());
    UTIL_CASE("handshake: incompatible peers", test_hs_incompatible());
    UTIL_CASE("handshake over sockets", test_hs_sockets());
    return harness_done();
}
