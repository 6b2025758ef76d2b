/* SPDX-License-Identifier: MIT */
/*
 * fuzz_repl_handshake.c: libFuzzer target for the replication handshake
 * (repl/repl_handshake.c over repl_wire.c and repl_auth.c). Input format in
 * fuzz_repl.h. Two modes:
 *
 * pair: a follower and a leader state machine, configured from the input
 * (secrets on either side, equal or not; shard counts; positions; same or
 * different database ids; transaction and payload bounds), talk through a
 * pump that applies the input's mutations to frames in transit (flip a bit,
 * drop, rewrite a byte and reseal the checksums as an attacker would,
 * deliver twice). Invariants:
 *   - untouched traffic: both sides finish exactly when a reference rule
 *     says the configs are compatible; otherwise neither does;
 *   - a side that finished accepted a hello that passes the checks;
 *   - a side with a secret finishes only if the other side has the same
 *     secret and both saw byte-identical hellos (a follower with a secret
 *     finishes only after the leader did): no mutation of an authenticated
 *     handshake is ever accepted.
 * raw: one state machine (leader or follower) is fed the input's frames as
 * if from a peer. It must never finish when it has a secret (a proof cannot
 * be forged), and when it finishes without one the hello passed the checks.
 */
#include "fuzz_repl.h"
#include "fuzz_util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static arm_repl_secret *fh_s1, *fh_s2;

static arm_repl_secret *fh_load(const char *text) {
    arm_repl_secret *s = NULL;
    FUZZ_CHECK(setenv("ARM_FUZZ_REPL_SECRET", text, 1) == 0);
    FUZZ_CHECK(arm_repl_secret_load(NULL, "ARM_FUZZ_REPL_SECRET", &s, NULL) == ARM_OK);
    FUZZ_CHECK(unsetenv("ARM_FUZZ_REPL_SECRET") == 0);
    return s;
}

static void fh_init(void) {
    if (fh_s1 != NULL) return;
    fh_s1 = fh_load("the fuzzer's first shared secret");
    fh_s2 = fh_load("the fuzzer's other shared secret");
}

typedef struct fh_setup {
    repl_hs_cfg f, l;
    int compatible; /* the reference rule */
} fh_setup;

static void fh_make(uint8_t c, uint8_t b, fh_setup *s) {
    arm_repl_options o;
    arm_repl_options_init(&o);
    uint8_t fid[16], lid[16], other[16];
    memset(fid, 0x11, 16);
    memset(lid, 0x22, 16);
    memset(other, 0x33, 16);
    if (c & 0x80) memcpy(lid, fid, 16);
    repl_hs_cfg_init(&s->f, REPL_ROLE_FOLLOWER, fid, 1, &o, (c & 1) ? fh_s1 : NULL);
    repl_hs_cfg_init(&s->l, REPL_ROLE_LEADER, lid, (c & 8) ? 2 : 1, &o,
                     (c & 2) ? ((c & 4) ? fh_s2 : fh_s1) : NULL);
    s->f.have_pos = (c & 0x10) != 0;
    memcpy(s->f.leader_db_id, (c & 0x20) ? lid : other, 16);
    s->f.empty = (c & 0x40) != 0;
    s->f.txn_max = (b & 1) ? 4096 : ARM_REPL_TXN_MAX;
    s->l.txn_max = (b & 2) ? 4096 : ARM_REPL_TXN_MAX;
    s->f.payload_max = (b & 4) ? 64 * 1024 : ARM_REPL_PAYLOAD_MIN;
    s->l.payload_max = ARM_REPL_PAYLOAD_MIN;
    s->compatible = s->f.secret == s->l.secret && s->f.shard_count == s->l.shard_count &&
                    memcmp(fid, lid, 16) != 0 && s->l.txn_max <= s->f.txn_max;
}

/* A side that finished accepted a hello that passes the checks. */
static void fh_check_done(const repl_hs *hs) {
    if (hs->state != REPL_HS_DONE) return;
    FUZZ_CHECK(repl_wire_check_hello(&hs->me, &hs->peer, NULL) == ARM_OK);
    FUZZ_CHECK(hs->peer.proto == ARM_REPL_PROTOCOL_VERSION);
    FUZZ_CHECK(hs->peer.shard_count == hs->cfg.shard_count);
    FUZZ_CHECK(memcmp(hs->me.db_id, hs->peer.db_id, 16) != 0);
}

static void fh_reseal(uint8_t *fr, size_t len) {
    if (len < REPL_FRAME_HDR) return;
    uint32_t plen = (uint32_t)(len - REPL_FRAME_HDR);
    fz_put32(fr, plen); /* keep the length honest so the frame still parses */
    fz_put32(fr + 8, (uint32_t)arm_hash_checksum(fr + REPL_FRAME_HDR, plen));
    fz_put32(fr + 12, (uint32_t)arm_hash_checksum(fr, 12));
}

/* One side of the pump. */
typedef struct fh_side {
    repl_hs hs;
    int dead; /* the connection would have closed: nothing more is taken */
    uint32_t recv_max;
} fh_side;

/* Hand one frame (raw bytes) to a side, as its connection would. */
static void fh_deliver(fh_side *s, const uint8_t *fr, size_t len, arm_buf *reply) {
    if (s->dead || (s->hs.state != REPL_HS_HELLO && s->hs.state != REPL_HS_AUTH)) return;
    repl_frame f;
    size_t used;
    if (repl_wire_frame_decode(fr, len, s->recv_max, &f, &used, NULL) != ARM_OK || used != len) {
        s->dead = 1;
        return;
    }
    if (repl_hs_on_frame(&s->hs, &f, reply, NULL) != ARM_OK) {
        FUZZ_CHECK(s->hs.state == REPL_HS_FAILED);
        s->dead = 1;
    }
}

typedef struct fh_pump {
    const uint8_t *ops; /* 4 bytes each */
    size_t nops;
    unsigned k;  /* frames handed over so far */
    int touched; /* some op changed traffic */
} fh_pump;

/* Move every frame queued in q to side `to`, through the mutations. */
static void fh_move(fh_pump *p, arm_buf *q, fh_side *to, arm_buf *reply) {
    size_t off = 0;
    while (off + REPL_FRAME_HDR <= q->len) {
        size_t len = REPL_FRAME_HDR + fz_get32(q->ptr + off);
        FUZZ_CHECK(off + len <= q->len); /* our own encoders */
        uint8_t *fr = malloc(len);
        FUZZ_CHECK(fr != NULL);
        memcpy(fr, q->ptr + off, len);
        int copies = 1;
        for (size_t i = 0; i < p->nops; i++) {
            const uint8_t *op = p->ops + 4 * i;
            if (op[0] != p->k) continue;
            size_t at = op[2] % len;
            switch (op[1] % 5) {
            case 1: fr[at] ^= (uint8_t)(1u << (op[3] % 8)), p->touched = 1; break;
            case 2: copies = 0, p->touched = 1; break;
            case 3: fr[at] = op[3], fh_reseal(fr, len), p->touched = 1; break;
            case 4: copies = 2, p->touched = 1; break;
            default: break;
            }
        }
        for (int c = 0; c < copies; c++)
            fh_deliver(to, fr, len, reply);
        free(fr);
        p->k++;
        off += len;
    }
    q->len = 0;
}

static void fh_pair(const fh_setup *s, const uint8_t *ops, size_t nops) {
    static fh_side f, l;
    memset(&f, 0, sizeof(f));
    memset(&l, 0, sizeof(l));
    f.recv_max = s->f.payload_max;
    l.recv_max = s->l.payload_max;
    arm_buf to_l = {0}, to_f = {0};
    FUZZ_CHECK(repl_hs_start(&f.hs, &s->f, &to_l, NULL) == ARM_OK);
    FUZZ_CHECK(repl_hs_start(&l.hs, &s->l, &to_f, NULL) == ARM_OK);
    FUZZ_CHECK(to_f.len == 0 && to_l.len > 0);
    fh_pump p = {ops, nops, 0, 0};
    for (int round = 0; round < 16 && (to_l.len || to_f.len); round++) {
        fh_move(&p, &to_l, &l, &to_f);
        fh_move(&p, &to_f, &f, &to_l);
    }
    int fd = f.hs.state == REPL_HS_DONE, ld = l.hs.state == REPL_HS_DONE;
    if (!p.touched) FUZZ_CHECK(fd == s->compatible && ld == s->compatible);
    fh_check_done(&f.hs);
    fh_check_done(&l.hs);
    /* A side with a secret finished only after verifying a proof over both
     * hellos as it saw them: so the other side has the same secret and saw
     * the same hellos. (The leader may finish and the follower still refuse
     * the leader's proof, mangled on its way; the other way round cannot
     * happen: the leader proves only after it finished.) */
    if ((fd && s->f.secret) || (ld && s->l.secret)) {
        FUZZ_CHECK(s->f.secret == s->l.secret);
        FUZZ_CHECK(memcmp(f.hs.theirs, l.hs.mine, REPL_HELLO_SIZE) == 0);
        FUZZ_CHECK(memcmp(l.hs.theirs, f.hs.mine, REPL_HELLO_SIZE) == 0);
    }
    if (fd && s->f.secret) FUZZ_CHECK(ld);
    if (fd && ld) /* both agree on what the follower's positions are worth */
        FUZZ_CHECK(repl_hello_positions_valid(&l.hs.peer, &f.hs.peer) ==
                       repl_hello_positions_valid(&f.hs.me, &l.hs.me) ||
                   p.touched);
    arm_buf_free(&to_l);
    arm_buf_free(&to_f);
}

static void fh_raw(const fh_setup *s, int leader, const uint8_t *in, size_t n) {
    static fh_side side;
    memset(&side, 0, sizeof(side));
    const repl_hs_cfg *cfg = leader ? &s->l : &s->f;
    side.recv_max = cfg->payload_max;
    arm_buf out = {0}, frames = {0};
    FUZZ_CHECK(repl_hs_start(&side.hs, cfg, &out, NULL) == ARM_OK);
    FUZZ_CHECK(fzr_seal_records(in, n, &frames) == 0);
    size_t off = 0;
    while (off + REPL_FRAME_HDR <= frames.len) {
        size_t len = REPL_FRAME_HDR + fz_get32(frames.ptr + off);
        fh_deliver(&side, frames.ptr + off, len, &out);
        off += len;
    }
    fh_check_done(&side.hs);
    if (side.hs.state == REPL_HS_DONE) FUZZ_CHECK(cfg->secret == NULL);
    /* whatever it queued is well-formed */
    off = 0;
    while (off < out.len) {
        repl_frame f;
        size_t used;
        FUZZ_CHECK(repl_wire_frame_decode(out.ptr + off, out.len - off, ARM_REPL_PAYLOAD_MAX, &f,
                                          &used, NULL) == ARM_OK);
        FUZZ_CHECK(f.hdr.type == REPL_MSG_HELLO || f.hdr.type == REPL_MSG_AUTH ||
                   f.hdr.type == REPL_MSG_ERROR);
        off += used;
    }
    arm_buf_free(&out);
    arm_buf_free(&frames);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    fh_init();
    fh_setup s;
    fh_make(data[1], data[2], &s);
    switch (data[0] % 3) {
    case 0: fh_pair(&s, data + 3, (size - 3) / 4); break;
    case 1: fh_raw(&s, 1, data + 3, size - 3); break;
    default: fh_raw(&s, 0, data + 3, size - 3); break;
    }
    return 0;
}
