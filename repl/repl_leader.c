/* SPDX-License-Identifier: MIT */
/*
 * repl_leader.c: the leader (arm_repl_serve). A listener thread accepts
 * followers; each gets a session thread of its own, with its own log reader,
 * so a slow follower holds back nobody but itself. A session:
 *
 *   handshake (repl_conn_handshake) -> admission (max_followers, else
 *   ERROR ARM_FULL) -> one SUBSCRIBE per shard -> the start: the follower's
 *   positions (HAVE_POS for this leader, and the reader opens there), the
 *   origin (an EMPTY follower, when the reader opens there), or a snapshot
 *   (SNAP_BEGIN with the cut positions, SNAP_CHUNKs of live keys, SNAP_END)
 *   -> START per shard -> streaming: TXN frames in commit order, read from
 *   the log (the write buffer included), ACKs and heartbeats read between
 *   rounds, a heartbeat every heartbeat_ms, waits on the socket, the engine's
 *   commit watch and the stop signal together.
 *
 * Only published transactions exist for the reader, so a follower never
 * receives a transaction the leader discarded, and each goes out whole (in
 * as many parts as its size needs). A session ends on any bad frame from the
 * follower, a follower silent for peer_timeout_ms, or one that stops reading
 * (a send that cannot finish within peer_timeout_ms). The stop signal (an
 * eventfd every wait polls) ends every thread at once. Layer: repl (public
 * engine API only).
 */
#include "repl_int.h"
#include "../common/arm_alloc.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define RL_EXTRA_SLOTS 4u                  /* sessions in their handshake beyond max_followers */
#define RL_ROUND_BYTES ((size_t)256 << 10) /* frames queued before they are flushed */
#define RL_ROUND_TXNS  4096u               /* transactions per round between reads */
#define RL_ROUND_MS                                                                                \
    20u                       /* ... and at most this long (a slow log read                        \
                                 must not starve heartbeats and ACKs) */
#define RL_CUT_SLICE_MS 100   /* one wait for a consistent cut */
#define RL_CUT_MAX_MS   5000u /* then the follower is told to come back */
#define RL_LAG_RING     32u   /* per shard: (seq, sent time) of unacked sends */
#define RL_COALESCE_US                                                                             \
    200                     /* a busy stream looks again this long before                          \
                               it arms the commit watch (see rl_wait) */
#define RL_ERRTEXT_WAIT 200 /* ms to hand a refusal to the peer */

enum rl_state {
    RL_FREE = 0,
    RL_HANDSHAKE = 1,
    RL_SUBSCRIBING = 2,
    RL_SNAPSHOT = 3,
    RL_STREAMING = 4,
};
static const char *const rl_state_names[] = {"free", "handshake", "subscribing", "snapshot",
                                             "streaming"};

/* One shard of one session: what went out, what came back. */
typedef struct rl_shard {
    arm_repl_pos sent;  /* just past the last transaction shipped (or START) */
    arm_repl_pos acked; /* the follower's last ACK (or START) */
    uint64_t sent_n;    /* transactions shipped this session */
    uint64_t acked_n;   /* ACK.applied: transactions the follower applied this session */
    /* Sent, not acknowledged: (last seq, time of the first send) buckets,
     * oldest first. When full, the newest bucket absorbs later sends, so an
     * age read from it is an upper bound. */
    uint64_t ring_seq[RL_LAG_RING], ring_ms[RL_LAG_RING];
    uint32_t ring_head, ring_n;
} rl_shard;

typedef struct rl_peer rl_peer;
struct rl_peer {
    arm_repl_leader *l;
    pthread_t th;
    int used;         /* slot taken (guarded by l->mu) */
    _Atomic int done; /* the thread has finished: the listener joins it */
    int fd;           /* the accepted socket, until the session owns it */
    char addr[REPL_ADDR_TEXT_MAX];
    /* Read by status; written by the session under mu. */
    pthread_mutex_t mu;
    int state; /* enum rl_state */
    uint8_t follower_id[REPL_DBID_BYTES];
    char start[160]; /* how the follower was brought up to date */
    uint64_t bytes_sent, txns_sent, rtt_ms, since_ms;
    rl_shard *sh; /* shard_count, while admitted */
};

struct arm_repl_leader {
    arm_engine *e;
    arm_repl_options opts;
    arm_repl_secret *secret;
    uint32_t shard_count;
    uint8_t db_id[REPL_DBID_BYTES];
    repl_listener lst;
    char addr[REPL_ADDR_TEXT_MAX];
    repl_wake stop;
    int reap_fd;  /* eventfd: a session thread has finished */
    pthread_t th; /* the listener */
    int th_started;
    _Atomic uint64_t snap_next;
    pthread_mutex_t mu; /* guards the slots' use, admitted and the counters below */
    rl_peer *peers;
    uint32_t nslots, admitted;
    uint64_t sessions, refused, snapshots, dropped, txns_sent, bytes_sent;
    arm_repl_err last_err;
};

/* What one session thread works with (its own, on its stack). */
typedef struct rl_sess {
    arm_repl_leader *l;
    rl_peer *p;
    repl_conn c;
    repl_hs hs;
    arm_log_reader *r;
    arm_watch *w;
    repl_entry *ents; /* ops of the transaction being shipped, as wire entries */
    size_t ents_cap;
    uint64_t echo_ms;     /* now_ms of the follower's last heartbeat */
    uint64_t last_hb_ms;  /* when we last sent one */
    uint64_t shipped_seq; /* highest sequence number shipped */
    int caught_up;        /* the reader had nothing more at its last call */
    uint64_t now_ms;      /* the clock, read once per few transactions shipped */
    uint32_t round_txns;  /* transactions the last round shipped */
    arm_repl_err err;
} rl_sess;

/* --------------------------------------------------------- bookkeeping */
static void rl_set_state(rl_peer *p, int state) {
    pthread_mutex_lock(&p->mu);
    p->state = state;
    pthread_mutex_unlock(&p->mu);
}

static void rl_note_error(arm_repl_leader *l, const char *addr, const arm_repl_err *e) {
    pthread_mutex_lock(&l->mu);
    repl_err_set(&l->last_err, e->rc, "%s: %s", addr, e->msg); /* already raised: no ARM_ERR */
    pthread_mutex_unlock(&l->mu);
}

/* Sent: append to the shard's lag ring (merging into the newest bucket when
 * it is full or when the clock has not moved). */
static void rl_ring_push(rl_shard *sh, uint64_t seq, uint64_t now_ms) {
    if (sh->ring_n > 0) {
        uint32_t last = (sh->ring_head + sh->ring_n - 1) % RL_LAG_RING;
        if (sh->ring_n == RL_LAG_RING || sh->ring_ms[last] == now_ms) {
            sh->ring_seq[last] = seq;
            return;
        }
    }
    uint32_t at = (sh->ring_head + sh->ring_n) % RL_LAG_RING;
    sh->ring_seq[at] = seq;
    sh->ring_ms[at] = now_ms;
    sh->ring_n++;
}

/* Acknowledged up to seq: forget the buckets it covers. */
static void rl_ring_ack(rl_shard *sh, uint64_t seq) {
    while (sh->ring_n > 0 && sh->ring_seq[sh->ring_head] <= seq) {
        sh->ring_head = (sh->ring_head + 1) % RL_LAG_RING;
        sh->ring_n--;
    }
}

static uint64_t rl_ring_age(const rl_shard *sh, uint64_t now_ms) {
    if (sh->ring_n == 0) return 0;
    uint64_t t = sh->ring_ms[sh->ring_head];
    return now_ms > t ? now_ms - t : 0;
}

/* -------------------------------------------------------- incoming frames */
/* A frame from the follower outside the subscription phase. */
static int rl_on_frame(rl_sess *s, const repl_frame *f) {
    rl_peer *p = s->p;
    uint32_t n = s->l->shard_count;
    int rc = repl_wire_check_direction(f->hdr.type, REPL_ROLE_LEADER, &s->err);
    if (rc == ARM_OK) rc = repl_wire_check_shard(&f->hdr, n, &s->err);
    if (rc != ARM_OK) return rc;
    switch (f->hdr.type) {
    case REPL_MSG_HEARTBEAT: {
        repl_heartbeat h;
        rc = repl_msg_heartbeat_decode(f, &h, &s->err);
        if (rc != ARM_OK) return rc;
        s->echo_ms = h.now_ms;
        uint64_t now = repl_now_ms();
        if (h.echo_ms != 0 && h.echo_ms <= now) {
            pthread_mutex_lock(&p->mu);
            p->rtt_ms = now - h.echo_ms;
            pthread_mutex_unlock(&p->mu);
        }
        return ARM_OK;
    }
    case REPL_MSG_ERROR: {
        repl_error_msg e;
        rc = repl_msg_error_decode(f, &e, &s->err);
        if (rc != ARM_OK) return rc;
        return REPL_ERR(&s->err, ARM_CLOSED, "the follower closed the session: %s", e.text);
    }
    case REPL_MSG_ACK: {
        repl_ack a;
        rc = repl_msg_ack_decode(f, &a, &s->err);
        if (rc != ARM_OK) return rc;
        if (p->sh == NULL || p->state != RL_STREAMING)
            return REPL_ERR(&s->err, ARM_PROTOCOL, "ACK for shard %u before its START",
                            f->hdr.shard);
        pthread_mutex_lock(&p->mu);
        rl_shard *sh = &p->sh[f->hdr.shard];
        int past = arm_repl_pos_cmp(&a.pos, &sh->sent) > 0 || a.applied > sh->sent_n;
        if (!past) {
            sh->acked = a.pos;
            sh->acked_n = a.applied;
            rl_ring_ack(sh, a.pos.seq);
        }
        pthread_mutex_unlock(&p->mu);
        if (past)
            return REPL_ERR(&s->err, ARM_PROTOCOL,
                            "ACK for shard %u past what was sent (seq %llu, %llu transactions)",
                            f->hdr.shard, (unsigned long long)a.pos.seq,
                            (unsigned long long)a.applied);
        return ARM_OK;
    }
    default:
        return REPL_ERR(&s->err, ARM_PROTOCOL, "unexpected %s frame from the follower",
                        repl_wire_type_name(f->hdr.type));
    }
}

/* Handle every frame that has arrived, without waiting. */
static int rl_read_incoming(rl_sess *s) {
    for (;;) {
        repl_frame f;
        int rc = repl_conn_recv(&s->c, 0, &f, &s->err);
        if (rc == REPL_TIMEOUT) return ARM_OK;
        if (rc == ARM_OK) rc = rl_on_frame(s, &f);
        if (rc != ARM_OK) return rc;
    }
}

/* The follower's liveness, and our heartbeat when one is due. last_seq is
 * what the follower must reach to be up to date with this moment: the
 * newest sequence number shipped when the reader is caught up, one more
 * when the log holds more than was shipped (the next transaction shipped
 * covers it). So a follower measures its lag from the leader's log, not
 * from the engine's counter (which other engines of a domain move too, and
 * which arm_engine_stats_get would read under the writers' feet). */
static int rl_heartbeat(rl_sess *s) {
    const arm_repl_options *o = &s->l->opts;
    uint64_t now = repl_now_ms();
    if (now >= s->c.last_recv_ms + o->peer_timeout_ms)
        return REPL_ERR(&s->err, ARM_IOERR, "the follower sent nothing for %u ms (dead peer)",
                        o->peer_timeout_ms);
    if (now < s->last_hb_ms + o->heartbeat_ms) return ARM_OK;
    repl_heartbeat h = {now, s->echo_ms, s->shipped_seq + (s->caught_up ? 0 : 1)};
    if (h.last_seq >= REPL_SEQ_MAX) h.last_seq = REPL_SEQ_MAX - 1;
    s->last_hb_ms = now;
    int rc = repl_msg_heartbeat_encode(&s->c.out, &h);
    return rc == ARM_OK ? ARM_OK : REPL_ERR(&s->err, rc, "out of memory for a heartbeat");
}

static int rl_flush(rl_sess *s) {
    int rc = repl_conn_flush(&s->c, (int)s->l->opts.peer_timeout_ms, &s->err);
    if (rc == REPL_TIMEOUT)
        rc = REPL_ERR(&s->err, ARM_IOERR,
                      "the follower stopped reading: a send did not finish within %u ms",
                      s->l->opts.peer_timeout_ms);
    pthread_mutex_lock(&s->p->mu);
    s->p->bytes_sent = s->c.bytes_out;
    pthread_mutex_unlock(&s->p->mu);
    return rc;
}

/* ----------------------------------------------------------- handshake */
/* Handshake, then admission: a follower past max_followers is told so
 * before it can subscribe to anything. */
static int rl_admit(rl_sess *s) {
    arm_repl_leader *l = s->l;
    repl_hs_cfg cfg;
    repl_hs_cfg_init(&cfg, REPL_ROLE_LEADER, l->db_id, l->shard_count, &l->opts, l->secret);
    int rc = repl_conn_handshake(&s->c, &s->hs, &cfg, (int)l->opts.peer_timeout_ms, &s->err);
    if (rc != ARM_OK) return rc;
    pthread_mutex_lock(&l->mu);
    int full = l->admitted >= l->opts.max_followers;
    if (!full) {
        l->admitted++;
        l->sessions++;
    }
    pthread_mutex_unlock(&l->mu);
    if (full) {
        REPL_ERR(&s->err, ARM_FULL, "too many followers (max %u)", l->opts.max_followers);
        repl_conn_send_error(&s->c, ARM_FULL, s->err.msg, RL_ERRTEXT_WAIT);
        return ARM_FULL;
    }
    rl_shard *sh = arm_calloc(l->shard_count, sizeof(*sh));
    pthread_mutex_lock(&s->p->mu);
    s->p->sh = sh;
    memcpy(s->p->follower_id, s->hs.peer.db_id, REPL_DBID_BYTES);
    s->p->since_ms = repl_now_ms();
    pthread_mutex_unlock(&s->p->mu);
    if (sh == NULL) return REPL_ERR(&s->err, ARM_NOMEM, "out of memory for a follower");
    return ARM_OK;
}

/* One SUBSCRIBE per shard (heartbeats may come between them). */
static int rl_subscriptions(rl_sess *s, repl_subscribe *subs) {
    uint32_t n = s->l->shard_count, got = 0;
    uint8_t *seen = arm_calloc(n, 1);
    if (seen == NULL) return REPL_ERR(&s->err, ARM_NOMEM, "out of memory for subscriptions");
    int rc = ARM_OK;
    uint64_t deadline = repl_now_ms() + s->l->opts.peer_timeout_ms;
    while (rc == ARM_OK && got < n) {
        uint64_t now = repl_now_ms();
        repl_frame f;
        rc = repl_conn_recv(&s->c, now < deadline ? (int)(deadline - now) : 0, &f, &s->err);
        if (rc == REPL_TIMEOUT) {
            rc = REPL_ERR(&s->err, ARM_PROTOCOL, "the follower subscribed to %u of %u shards", got,
                          n);
            break;
        }
        if (rc != ARM_OK) break;
        if (f.hdr.type != REPL_MSG_SUBSCRIBE) {
            rc = rl_on_frame(s, &f);
            continue;
        }
        rc = repl_wire_check_shard(&f.hdr, n, &s->err);
        if (rc == ARM_OK) rc = repl_msg_subscribe_decode(&f, &subs[f.hdr.shard], &s->err);
        if (rc == ARM_OK && seen[f.hdr.shard])
            rc = REPL_ERR(&s->err, ARM_PROTOCOL, "SUBSCRIBE twice for shard %u", f.hdr.shard);
        if (rc == ARM_OK && (subs[f.hdr.shard].flags & REPL_SUB_HAVE_POS) &&
            !(s->hs.peer.flags & REPL_HELLO_HAVE_POS))
            rc = REPL_ERR(&s->err, ARM_PROTOCOL,
                          "SUBSCRIBE for shard %u has a position its HELLO did not announce",
                          f.hdr.shard);
        if (rc == ARM_OK) {
            seen[f.hdr.shard] = 1;
            got++;
        }
    }
    arm_free(seen);
    return rc;
}

/* ------------------------------------------------------------ snapshot */
/* A consistent cut, waiting in slices (a stop ends the wait; a prepared
 * transaction that stays undecided sends the follower away to retry). */
static int rl_cut(rl_sess *s, arm_snapshot *snap, arm_log_pos *cut) {
    uint64_t t0 = repl_now_ms();
    for (;;) {
        int rc = arm_engine_log_cut(s->l->e, snap, cut, RL_CUT_SLICE_MS);
        if (rc == ARM_OK) return ARM_OK;
        if (rc != ARM_BUSY)
            return REPL_ERR(&s->err, rc, "snapshot: %s", arm_engine_errmsg(s->l->e));
        if (repl_wake_is_set(&s->l->stop)) return REPL_ERR(&s->err, ARM_CLOSED, "stopped");
        if (repl_now_ms() - t0 >= RL_CUT_MAX_MS)
            return REPL_ERR(&s->err, ARM_BUSY,
                            "no consistent snapshot: a transaction stayed prepared for %u ms; "
                            "try again later",
                            RL_CUT_MAX_MS);
        rc = rl_read_incoming(s);
        if (rc == ARM_OK) rc = rl_heartbeat(s);
        if (rc == ARM_OK) rc = rl_flush(s);
        if (rc != ARM_OK) return rc;
    }
}

/* Keys and values of one chunk, copied out of the cursor (its slices are
 * borrowed only until it moves). */
typedef struct rl_chunk {
    arm_buf bytes; /* keys and values back to back */
    size_t *offs;  /* per entry: key offset, key length, value length */
    repl_entry *ents;
    uint32_t n, cap;
    uint64_t wire; /* encoded size of the entries so far */
} rl_chunk;

static int rl_chunk_add(rl_chunk *k, arm_slice key, arm_slice val) {
    if (k->n == k->cap) {
        uint32_t cap = k->cap ? k->cap * 2 : 256;
        size_t *o = arm_realloc(k->offs, (size_t)cap * 3 * sizeof(*o));
        if (o == NULL) return ARM_NOMEM;
        k->offs = o;
        repl_entry *e = arm_realloc(k->ents, (size_t)cap * sizeof(*e));
        if (e == NULL) return ARM_NOMEM;
        k->ents = e;
        k->cap = cap;
    }
    if (arm_buf_reserve(&k->bytes, k->bytes.len + key.len + val.len) != ARM_OK) return ARM_NOMEM;
    size_t *o = &k->offs[(size_t)k->n * 3];
    o[0] = k->bytes.len, o[1] = key.len, o[2] = val.len;
    memcpy(k->bytes.ptr + k->bytes.len, key.ptr, key.len);
    if (val.len) memcpy(k->bytes.ptr + k->bytes.len + key.len, val.ptr, val.len);
    k->bytes.len += key.len + val.len;
    k->wire += REPL_ENTRY_HDR + key.len + val.len;
    k->n++;
    return ARM_OK;
}

/* Frame the chunk (parts if it is big), flushing as the queue fills. */
static int rl_chunk_send(rl_sess *s, rl_chunk *k, uint64_t snap_id, uint64_t chunk_no) {
    for (uint32_t i = 0; i < k->n; i++) {
        const size_t *o = &k->offs[(size_t)i * 3];
        k->ents[i].type = REPL_ENTRY_PUT;
        k->ents[i].key = arm_slice_make(k->bytes.ptr + o[0], o[1]);
        k->ents[i].val = arm_slice_make(k->bytes.ptr + o[0] + o[1], o[2]);
    }
    repl_part_enc enc;
    int rc = repl_part_enc_snap(&enc, snap_id, chunk_no, k->ents, k->n, &s->err);
    for (int more = 1; rc == ARM_OK && more;) {
        rc = repl_part_enc_next(&enc, &s->c.out, s->c.send_max, &more);
        if (rc != ARM_OK) rc = REPL_ERR(&s->err, rc, "out of memory framing a snapshot");
        if (rc == ARM_OK && s->c.out.len >= RL_ROUND_BYTES) rc = rl_flush(s);
    }
    k->n = 0;
    k->bytes.len = 0;
    k->wire = 0;
    return rc;
}

/* Copy the snapshot's live keys as SNAP_CHUNKs. */
static int rl_snap_copy(rl_sess *s, arm_snapshot *snap, uint64_t snap_id, uint64_t *chunks,
                        uint64_t *entries) {
    arm_engine *e = s->l->e;
    arm_txn *t = NULL;
    arm_cursor *cur = NULL;
    rl_chunk k;
    memset(&k, 0, sizeof(k));
    uint64_t target = s->c.send_max - REPL_PART_HDR; /* one chunk, one frame, mostly */
    int rc = arm_txn_begin(e, snap, ARM_TXN_READONLY, &t);
    if (rc == ARM_OK) rc = arm_txn_cursor_open(t, &cur);
    if (rc != ARM_OK) {
        rc = REPL_ERR(&s->err, rc, "snapshot: %s", arm_engine_errmsg(e));
        goto cleanup;
    }
    int mv = arm_engine_cursor_first(cur);
    for (; mv == ARM_OK; mv = arm_engine_cursor_next(cur)) {
        arm_slice key = arm_engine_cursor_key(cur), val;
        rc = arm_engine_cursor_value(cur, &val);
        if (rc != ARM_OK) {
            rc = REPL_ERR(&s->err, rc, "snapshot: %s", arm_engine_errmsg(e));
            goto cleanup;
        }
        if (k.n > 0 && k.wire + REPL_ENTRY_HDR + key.len + val.len > target) {
            rc = rl_chunk_send(s, &k, snap_id, (*chunks)++);
            if (rc == ARM_OK && repl_wake_is_set(&s->l->stop))
                rc = REPL_ERR(&s->err, ARM_CLOSED, "stopped");
            if (rc == ARM_OK) rc = rl_read_incoming(s);
            if (rc == ARM_OK) rc = rl_heartbeat(s);
            if (rc != ARM_OK) goto cleanup;
        }
        if (rl_chunk_add(&k, key, val) != ARM_OK) {
            rc = REPL_ERR(&s->err, ARM_NOMEM, "out of memory copying a snapshot");
            goto cleanup;
        }
        (*entries)++;
    }
    if (mv != ARM_NOTFOUND) {
        rc = REPL_ERR(&s->err, mv, "snapshot: %s", arm_engine_errmsg(e));
        goto cleanup;
    }
    if (k.n > 0) rc = rl_chunk_send(s, &k, snap_id, (*chunks)++);
cleanup:
    arm_engine_cursor_close(cur);
    arm_txn_free(t);
    arm_buf_free(&k.bytes);
    arm_free(k.offs);
    arm_free(k.ents);
    return rc;
}

/* The whole database: SNAP_BEGIN (cut positions), chunks, SNAP_END; then
 * the reader opens at the cut. */
static int rl_snapshot(rl_sess *s, arm_log_pos *cut) {
    arm_repl_leader *l = s->l;
    uint32_t n = l->shard_count;
    rl_set_state(s->p, RL_SNAPSHOT);
    pthread_mutex_lock(&l->mu);
    l->snapshots++;
    pthread_mutex_unlock(&l->mu);
    arm_snapshot snap;
    int rc = rl_cut(s, &snap, cut);
    if (rc != ARM_OK) return rc;
    arm_repl_pos *wire = arm_calloc(n, sizeof(*wire));
    uint64_t snap_id = atomic_fetch_add(&l->snap_next, 1);
    uint64_t chunks = 0, entries = 0;
    if (wire == NULL) {
        rc = REPL_ERR(&s->err, ARM_NOMEM, "out of memory for a snapshot");
    } else {
        for (uint32_t i = 0; i < n; i++)
            wire[i] = repl_pos_from_log(cut[i]);
        rc = repl_msg_snap_begin_encode(&s->c.out, snap_id, arm_engine_count(l->e), n, wire);
        if (rc != ARM_OK) rc = REPL_ERR(&s->err, rc, "out of memory for a snapshot");
    }
    if (rc == ARM_OK) rc = rl_snap_copy(s, &snap, snap_id, &chunks, &entries);
    arm_snapshot_drop(&snap);
    arm_free(wire);
    if (rc == ARM_OK) {
        repl_snap_end end = {snap_id, chunks, entries};
        rc = repl_msg_snap_end_encode(&s->c.out, &end);
        if (rc != ARM_OK) rc = REPL_ERR(&s->err, rc, "out of memory for a snapshot");
    }
    if (rc != ARM_OK) return rc;
    rc = arm_log_reader_open(l->e, cut, &s->r);
    if (rc != ARM_OK)
        rc = REPL_ERR(&s->err, rc, "reading the log from the snapshot's cut: %s",
                      arm_engine_errmsg(l->e));
    return rc;
}

/* ----------------------------------------------------------- the start */
static void rl_set_start(rl_sess *s, const char *text) {
    pthread_mutex_lock(&s->p->mu);
    snprintf(s->p->start, sizeof(s->p->start), "%s", text);
    pthread_mutex_unlock(&s->p->mu);
}

/* Decide where the follower starts (positions, origin or a snapshot), get
 * it there, and send START for every shard. */
static int rl_start(rl_sess *s, const repl_subscribe *subs) {
    arm_repl_leader *l = s->l;
    uint32_t n = l->shard_count;
    arm_log_pos *pos = arm_calloc(n, sizeof(*pos));
    if (pos == NULL) return REPL_ERR(&s->err, ARM_NOMEM, "out of memory for positions");
    int rc = ARM_OK;
    char why[sizeof(s->p->start)] = "snapshot (the follower has no positions and is not empty)";
    if (repl_hello_positions_valid(&s->hs.peer, &s->hs.me)) {
        for (uint32_t i = 0; i < n && rc == ARM_OK; i++) {
            if (!(subs[i].flags & REPL_SUB_HAVE_POS))
                rc = REPL_ERR(&s->err, ARM_PROTOCOL,
                              "the follower announced positions but sent none for shard %u", i);
            pos[i] = repl_pos_to_log(subs[i].pos);
        }
        if (rc == ARM_OK) rc = arm_log_reader_open(l->e, pos, &s->r);
        if (rc == ARM_OK) rl_set_start(s, "from its positions");
        if (rc == ARM_RANGE) {
            /* the engine's message, cut to fit */
            snprintf(why, sizeof(why), "snapshot (%.*s)", (int)sizeof(why) - 16,
                     arm_engine_errmsg(l->e));
            rc = ARM_OK;
        }
    } else if (s->hs.peer.flags & REPL_HELLO_HAVE_POS) {
        snprintf(why, sizeof(why), "snapshot (its positions are another leader's)");
    }
    if (rc == ARM_OK && s->r == NULL && (s->hs.peer.flags & REPL_HELLO_EMPTY)) {
        rc = arm_log_reader_open(l->e, NULL, &s->r);
        if (rc == ARM_OK) rl_set_start(s, "from the origin (an empty follower)");
        if (rc == ARM_RANGE) rc = ARM_OK;
    }
    if (rc == ARM_OK && s->r == NULL) {
        rl_set_start(s, why);
        rc = rl_snapshot(s, pos);
    } else if (rc != ARM_OK && rc != ARM_PROTOCOL) { /* the reader's own failure */
        rc = REPL_ERR(&s->err, rc, "reading the log: %s", arm_engine_errmsg(l->e));
    }
    arm_free(pos);
    if (rc != ARM_OK) return rc;
    pthread_mutex_lock(&s->p->mu);
    for (uint32_t i = 0; i < n && rc == ARM_OK; i++) {
        arm_repl_pos at = repl_pos_from_log(arm_log_reader_pos(s->r, i));
        s->p->sh[i].sent = s->p->sh[i].acked = at;
        if (at.seq > s->shipped_seq) s->shipped_seq = at.seq; /* the follower has that */
        rc = repl_msg_start_encode(&s->c.out, (uint16_t)i, &at);
    }
    s->p->state = RL_STREAMING;
    pthread_mutex_unlock(&s->p->mu);
    if (rc != ARM_OK) return REPL_ERR(&s->err, rc, "out of memory for START frames");
    return rl_flush(s);
}

/* ------------------------------------------------------------ streaming */
/* Queue one transaction as TXN frames (flushing as the queue fills, so a
 * transaction of any size goes out in bounded memory). */
static int rl_ship(rl_sess *s, const arm_log_txn *t) {
    if (t->nops > s->ents_cap) {
        size_t cap = ARM_MAX(t->nops, 2 * s->ents_cap);
        repl_entry *e = arm_realloc(s->ents, cap * sizeof(*e));
        if (e == NULL) return REPL_ERR(&s->err, ARM_NOMEM, "out of memory shipping a transaction");
        s->ents = e;
        s->ents_cap = cap;
    }
    for (size_t i = 0; i < t->nops; i++) {
        const arm_log_op *op = &t->ops[i];
        s->ents[i].type = op->del ? REPL_ENTRY_DEL : REPL_ENTRY_PUT;
        s->ents[i].key = op->key;
        s->ents[i].val = op->del ? arm_slice_make(NULL, 0) : op->value;
    }
    uint64_t wire = t->bytes + (uint64_t)REPL_ENTRY_HDR * t->nops;
    if (wire > s->l->opts.txn_max || t->nops > UINT32_MAX)
        return REPL_ERR(&s->err, ARM_TOOBIG,
                        "a transaction of %llu bytes (seq %llu) is over txn_max (%llu): it cannot "
                        "be shipped",
                        (unsigned long long)wire, (unsigned long long)t->seq,
                        (unsigned long long)s->l->opts.txn_max);
    arm_repl_pos after = repl_pos_from_log(t->pos);
    repl_part_enc enc;
    int rc =
        repl_part_enc_txn(&enc, (uint16_t)t->shard, &after, s->ents, (uint32_t)t->nops, &s->err);
    for (int more = 1; rc == ARM_OK && more;) {
        rc = repl_part_enc_next(&enc, &s->c.out, s->c.send_max, &more);
        if (rc != ARM_OK) rc = REPL_ERR(&s->err, rc, "out of memory shipping a transaction");
        if (rc == ARM_OK && more && s->c.out.len >= RL_ROUND_BYTES) rc = rl_flush(s);
    }
    if (rc != ARM_OK) return rc;
    pthread_mutex_lock(&s->p->mu);
    rl_shard *sh = &s->p->sh[t->shard];
    sh->sent = after;
    sh->sent_n++;
    rl_ring_push(sh, t->seq, s->now_ms);
    s->p->txns_sent++;
    pthread_mutex_unlock(&s->p->mu);
    if (t->seq > s->shipped_seq) s->shipped_seq = t->seq;
    return ARM_OK;
}

/* Ship what the reader has, up to a round's worth. */
static int rl_round(rl_sess *s) {
    s->caught_up = 0;
    s->round_txns = 0;
    uint64_t t0 = s->now_ms = repl_now_ms();
    for (uint32_t k = 0; k < RL_ROUND_TXNS && s->c.out.len < RL_ROUND_BYTES; k++) {
        if ((k & 63) == 63 && (s->now_ms = repl_now_ms()) >= t0 + RL_ROUND_MS) return ARM_OK;
        arm_log_txn t;
        int rc = arm_log_reader_next(s->r, &t);
        if (rc == ARM_NOTFOUND) {
            s->caught_up = 1;
            return ARM_OK;
        }
        if (rc != ARM_OK)
            return REPL_ERR(&s->err, rc, "reading the log: %s", arm_engine_errmsg(s->l->e));
        rc = rl_ship(s, &t);
        if (rc != ARM_OK) return rc;
        s->round_txns++;
    }
    return ARM_OK;
}

/* Nothing to ship: wait for the follower, a commit, the next heartbeat or
 * the stop. The watch is armed, then the log read once more, so a commit
 * that landed in between is not slept through. An armed watch costs every
 * committer an eventfd write (until we re-arm), so a stream that just
 * shipped something first waits RL_COALESCE_US and reads again: under a
 * steady load the next commits are there by then, the watch stays unarmed
 * and writers pay nothing; the price is at most that delay in lag. */
static int rl_wait(rl_sess *s) {
    arm_log_txn t;
    int rc;
    if (s->round_txns > 0) {
        struct pollfd pf[2] = {{s->c.fd, POLLIN, 0}, {s->l->stop.fd, POLLIN, 0}};
        struct timespec ts = {0, RL_COALESCE_US * 1000L};
        if (ppoll(pf, 2, &ts, NULL) > 0 && pf[1].revents)
            return REPL_ERR(&s->err, ARM_CLOSED, "stopped");
        rc = arm_log_reader_next(s->r, &t);
        if (rc == ARM_OK) {
            s->caught_up = 0;
            s->now_ms = repl_now_ms();
            return rl_ship(s, &t);
        }
        if (rc != ARM_NOTFOUND)
            return REPL_ERR(&s->err, rc, "reading the log: %s", arm_engine_errmsg(s->l->e));
        s->round_txns = 0;
    }
    arm_watch_arm(s->w);
    rc = arm_log_reader_next(s->r, &t);
    if (rc == ARM_OK) {
        s->caught_up = 0;
        s->now_ms = repl_now_ms();
        return rl_ship(s, &t);
    }
    if (rc != ARM_NOTFOUND)
        return REPL_ERR(&s->err, rc, "reading the log: %s", arm_engine_errmsg(s->l->e));
    const arm_repl_options *o = &s->l->opts;
    uint64_t now = repl_now_ms();
    uint64_t next =
        ARM_MIN(s->last_hb_ms + o->heartbeat_ms, s->c.last_recv_ms + o->peer_timeout_ms);
    int timeout = next > now ? (int)ARM_MIN(next - now, (uint64_t)INT32_MAX) : 0;
    struct pollfd pf[3] = {
        {s->c.fd, POLLIN, 0}, {arm_watch_fd(s->w), POLLIN, 0}, {s->l->stop.fd, POLLIN, 0}};
    int k;
    do
        k = poll(pf, 3, timeout);
    while (k < 0 && errno == EINTR);
    if (k < 0) return REPL_ERR(&s->err, ARM_IOERR, "poll: %s", strerror(errno));
    if (pf[2].revents) return REPL_ERR(&s->err, ARM_CLOSED, "stopped");
    return ARM_OK;
}

static int rl_stream(rl_sess *s) {
    int rc = arm_engine_watch_open(s->l->e, &s->w);
    if (rc != ARM_OK) return REPL_ERR(&s->err, rc, "commit watch: %s", arm_engine_errmsg(s->l->e));
    for (;;) {
        /* A busy stream never waits in poll: look at the stop once a round. */
        if (repl_wake_is_set(&s->l->stop)) return REPL_ERR(&s->err, ARM_CLOSED, "stopped");
        rc = rl_read_incoming(s);
        if (rc == ARM_OK) rc = rl_round(s);
        if (rc == ARM_OK) rc = rl_heartbeat(s); /* after the round: caught_up is fresh */
        if (rc == ARM_OK) rc = rl_flush(s);
        if (rc == ARM_OK && s->caught_up) rc = rl_wait(s);
        if (rc != ARM_OK) return rc;
    }
}

/* ------------------------------------------------------------- a session */
static void rl_session(rl_sess *s) {
    arm_repl_leader *l = s->l;
    rl_peer *p = s->p;
    repl_subscribe *subs = NULL;
    int admitted = 0;
    int rc = repl_conn_open(&s->c, p->fd, l->stop.fd, l->opts.payload_max, &s->err);
    p->fd = -1;
    s->last_hb_ms = repl_now_ms();
    if (rc == ARM_OK) rc = rl_admit(s);
    admitted = rc == ARM_OK;
    if (rc == ARM_OK) {
        rl_set_state(p, RL_SUBSCRIBING);
        subs = arm_calloc(l->shard_count, sizeof(*subs));
        rc = subs ? rl_subscriptions(s, subs)
                  : REPL_ERR(&s->err, ARM_NOMEM, "out of memory for subscriptions");
    }
    if (rc == ARM_OK) rc = rl_start(s, subs);
    if (rc == ARM_OK) rc = rl_stream(s);
    /* Tell the follower why, unless it was the socket or a stop. */
    if (admitted && rc != ARM_CLOSED && rc != ARM_IOERR && !s->c.broken)
        repl_conn_send_error(&s->c, rc, s->err.msg, RL_ERRTEXT_WAIT);
    int stopped = repl_wake_is_set(&l->stop);
    if (rc != ARM_CLOSED || !stopped) rl_note_error(l, p->addr, &s->err);
    arm_free(subs);
    arm_free(s->ents);
    arm_log_reader_close(s->r);
    arm_watch_close(s->w);
    /* The session's counters move to the leader's totals in one step (both
     * locks, leader first, as arm_repl_leader_stats_get takes them). */
    pthread_mutex_lock(&l->mu);
    pthread_mutex_lock(&p->mu);
    if (admitted) {
        l->admitted--;
        if (!stopped) l->dropped++;
    } else {
        l->refused++;
    }
    l->txns_sent += p->txns_sent;
    l->bytes_sent += s->c.bytes_out;
    arm_free(p->sh);
    p->sh = NULL;
    p->state = RL_FREE;
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&l->mu);
    repl_conn_close(&s->c);
}

static void *rl_session_main(void *arg) {
    rl_peer *p = arg;
    (void)pthread_setname_np(pthread_self(), "armdb-repl-ship"); /* for top -H, perf */
    rl_sess s;
    memset(&s, 0, sizeof(s));
    s.l = p->l;
    s.p = p;
    rl_session(&s);
    atomic_store(&p->done, 1);
    uint64_t one = 1;
    ssize_t w = write(p->l->reap_fd, &one, sizeof(one)); /* wake the listener to join us */
    (void)w;
    return NULL;
}

/* ------------------------------------------------------------ listener */
/* Join every finished session thread and free its slot. */
static void rl_reap(arm_repl_leader *l, int all) {
    for (uint32_t i = 0; i < l->nslots; i++) {
        rl_peer *p = &l->peers[i];
        pthread_mutex_lock(&l->mu);
        int join = p->used && (all || atomic_load(&p->done));
        pthread_mutex_unlock(&l->mu);
        if (!join) continue;
        pthread_join(p->th, NULL);
        pthread_mutex_lock(&l->mu);
        p->used = 0;
        pthread_mutex_unlock(&l->mu);
    }
}

/* A new connection: a session thread in a free slot, or (all slots busy
 * with sessions) an immediate refusal. */
static void rl_take(arm_repl_leader *l, int fd, const repl_addr *peer) {
    rl_peer *p = NULL;
    pthread_mutex_lock(&l->mu);
    for (uint32_t i = 0; i < l->nslots && p == NULL; i++)
        if (!l->peers[i].used) p = &l->peers[i];
    if (p != NULL) p->used = 1;
    pthread_mutex_unlock(&l->mu);
    char text[REPL_ADDR_TEXT_MAX];
    repl_addr_format(peer, text, sizeof(text));
    if (p != NULL) {
        pthread_mutex_lock(&p->mu);
        snprintf(p->addr, sizeof(p->addr), "%s", text);
        p->state = RL_HANDSHAKE;
        p->start[0] = '\0';
        p->bytes_sent = p->txns_sent = p->rtt_ms = 0;
        memset(p->follower_id, 0, sizeof(p->follower_id));
        pthread_mutex_unlock(&p->mu);
        p->fd = fd;
        atomic_store(&p->done, 0);
        if (pthread_create(&p->th, NULL, rl_session_main, p) == 0) return;
        p->fd = -1;
        pthread_mutex_lock(&l->mu);
        p->used = 0;
        pthread_mutex_unlock(&l->mu);
    }
    /* No thread for it: say so, close. */
    repl_conn c;
    arm_repl_err e = {ARM_FULL, ""};
    snprintf(e.msg, sizeof(e.msg), "too many connections (max %u followers)",
             l->opts.max_followers);
    if (repl_conn_open(&c, fd, l->stop.fd, l->opts.payload_max, NULL) == ARM_OK) {
        repl_conn_send_error(&c, ARM_FULL, e.msg, RL_ERRTEXT_WAIT);
        repl_conn_close(&c);
    }
    rl_note_error(l, text, &e);
    pthread_mutex_lock(&l->mu);
    l->refused++;
    pthread_mutex_unlock(&l->mu);
}

static void *rl_listen_main(void *arg) {
    arm_repl_leader *l = arg;
    (void)pthread_setname_np(pthread_self(), "armdb-repl-lstn");
    for (;;) {
        struct pollfd pf[3] = {
            {l->lst.fd, POLLIN, 0}, {l->stop.fd, POLLIN, 0}, {l->reap_fd, POLLIN, 0}};
        int k = poll(pf, 3, -1);
        if (k < 0 && errno == EINTR) continue;
        if (pf[1].revents) break;
        if (pf[2].revents) {
            uint64_t v;
            ssize_t r = read(l->reap_fd, &v, sizeof(v));
            (void)r;
            rl_reap(l, 0);
        }
        if (k < 0 || !(pf[0].revents & POLLIN)) continue;
        int fd = -1;
        repl_addr peer;
        arm_repl_err e = {0, ""};
        int rc = repl_accept(&l->lst, l->stop.fd, 0, &fd, &peer, &e);
        if (rc == ARM_OK) {
            rl_take(l, fd, &peer);
        } else if (rc == ARM_IOERR) { /* out of fds, say: note it, do not spin */
            rl_note_error(l, l->addr, &e);
            if (repl_sleep_ms(l->stop.fd, 100) == ARM_CLOSED) break;
        }
    }
    rl_reap(l, 1); /* the stop has woken every session */
    return NULL;
}

/* ------------------------------------------------------------------ API */
static void rl_free(arm_repl_leader *l) {
    if (l == NULL) return;
    if (l->peers)
        for (uint32_t i = 0; i < l->nslots; i++)
            pthread_mutex_destroy(&l->peers[i].mu);
    arm_free(l->peers);
    repl_listener_close(&l->lst);
    repl_wake_close(&l->stop);
    repl_fd_close(l->reap_fd);
    arm_repl_secret_free(l->secret);
    pthread_mutex_destroy(&l->mu);
    arm_free(l);
}

int arm_repl_serve(arm_engine *engine, const char *addr, const arm_repl_options *opts,
                   arm_repl_leader **leader_out, arm_repl_err *err) {
    assert(leader_out != NULL);
    *leader_out = NULL;
    if (ARM_NEVER(engine == NULL)) return REPL_ERR(err, ARM_MISUSE, "serve: no engine");
    arm_repl_leader *l = arm_calloc(1, sizeof(*l));
    if (l == NULL) return REPL_ERR(err, ARM_NOMEM, "out of memory for a leader");
    l->lst.fd = l->stop.fd = l->reap_fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    l->e = engine;
    if (opts)
        l->opts = *opts;
    else
        arm_repl_options_init(&l->opts);
    int rc = arm_repl_options_check(&l->opts, err);
    if (rc == ARM_OK && (l->opts.secret_file || l->opts.secret_env))
        rc = arm_repl_secret_load(l->opts.secret_file, l->opts.secret_env, &l->secret, err);
    l->opts.secret_file = l->opts.secret_env = NULL; /* borrowed for this call only */
    arm_engine_stats st;
    arm_engine_stats_get(engine, &st);
    l->shard_count = st.shards;
    memcpy(l->db_id, st.db_id, REPL_DBID_BYTES);
    l->nslots = l->opts.max_followers + RL_EXTRA_SLOTS;
    l->snap_next = ((repl_now_ms() & 0xffffff) << 20) | 1; /* distinct across restarts, not 0 */
    if (rc == ARM_OK) {
        l->peers = arm_calloc(l->nslots, sizeof(*l->peers));
        if (l->peers == NULL) rc = REPL_ERR(err, ARM_NOMEM, "out of memory for a leader");
    }
    for (uint32_t i = 0; rc == ARM_OK && i < l->nslots; i++) {
        l->peers[i].l = l;
        l->peers[i].fd = -1;
        pthread_mutex_init(&l->peers[i].mu, NULL);
    }
    repl_addr a;
    if (rc == ARM_OK) rc = repl_addr_parse(addr, &a, err);
    if (rc == ARM_OK) rc = repl_wake_open(&l->stop, err);
    if (rc == ARM_OK) {
        l->reap_fd = repl_fd_eventfd();
        if (l->reap_fd < 0) rc = REPL_ERR(err, ARM_IOERR, "eventfd: %s", strerror(errno));
    }
    if (rc == ARM_OK) rc = repl_listen(&a, &l->lst, err);
    if (rc == ARM_OK) {
        repl_addr_format(&l->lst.bound, l->addr, sizeof(l->addr));
        if (pthread_create(&l->th, NULL, rl_listen_main, l) != 0)
            rc = REPL_ERR(err, ARM_IOERR, "serve: cannot start the listener thread");
    }
    if (rc != ARM_OK) {
        if (l->peers == NULL) l->nslots = 0;
        rl_free(l);
        return rc;
    }
    l->th_started = 1;
    *leader_out = l;
    return ARM_OK;
}

const char *arm_repl_leader_addr(const arm_repl_leader *l) {
    return l->addr;
}

void arm_repl_leader_stop(arm_repl_leader *l) {
    if (l == NULL) return;
    repl_wake_signal(&l->stop);
    if (l->th_started) pthread_join(l->th, NULL);
    rl_free(l);
}

void arm_repl_leader_stats_get(arm_repl_leader *l, arm_repl_leader_stats *out) {
    memset(out, 0, sizeof(*out));
    uint64_t txns = 0, bytes = 0;
    pthread_mutex_lock(&l->mu);
    for (uint32_t i = 0; i < l->nslots; i++) { /* sessions still running */
        rl_peer *p = &l->peers[i];
        pthread_mutex_lock(&p->mu);
        if (p->state != RL_FREE) {
            txns += p->txns_sent;
            bytes += p->bytes_sent;
        }
        pthread_mutex_unlock(&p->mu);
    }
    out->followers = l->admitted;
    out->sessions = l->sessions;
    out->refused = l->refused;
    out->snapshots = l->snapshots;
    out->dropped = l->dropped;
    out->txns_sent = l->txns_sent + txns;
    out->bytes_sent = l->bytes_sent + bytes;
    out->last_error = l->last_err;
    pthread_mutex_unlock(&l->mu);
}

/* One session's entry in the status. */
static void rl_json_peer(repl_json *j, rl_peer *p, uint32_t n, uint64_t now) {
    pthread_mutex_lock(&p->mu);
    repl_json_raw(j, "{\"address\":");
    repl_json_str(j, p->addr);
    repl_json_raw(j, ",\"state\":");
    repl_json_str(j, rl_state_names[p->state]);
    repl_json_raw(j, ",\"db_id\":");
    if (p->sh)
        repl_json_hex(j, p->follower_id, REPL_DBID_BYTES);
    else
        repl_json_raw(j, "null");
    repl_json_raw(j, ",\"start\":");
    repl_json_str(j, p->start[0] ? p->start : NULL);
    uint64_t lag_n = 0, lag_ms = 0;
    for (uint32_t i = 0; p->sh && i < n; i++) {
        lag_n += p->sh[i].sent_n - p->sh[i].acked_n;
        lag_ms = ARM_MAX(lag_ms, rl_ring_age(&p->sh[i], now));
    }
    repl_json_raw(j,
                  ",\"connected_ms\":%llu,\"bytes_sent\":%llu,\"txns_sent\":%llu,"
                  "\"lag_entries\":%llu,\"lag_ms\":%llu,\"rtt_ms\":%llu,\"shards\":[",
                  (unsigned long long)(p->sh ? now - p->since_ms : 0),
                  (unsigned long long)p->bytes_sent, (unsigned long long)p->txns_sent,
                  (unsigned long long)lag_n, (unsigned long long)lag_ms,
                  (unsigned long long)p->rtt_ms);
    for (uint32_t i = 0; p->sh && p->state == RL_STREAMING && i < n; i++) {
        const rl_shard *sh = &p->sh[i];
        repl_json_raw(j, "%s{\"shard\":%u,\"sent\":", i ? "," : "", i);
        repl_json_pos(j, &sh->sent);
        repl_json_raw(j, ",\"acked\":");
        repl_json_pos(j, &sh->acked);
        repl_json_raw(j, ",\"lag_entries\":%llu,\"lag_ms\":%llu}",
                      (unsigned long long)(sh->sent_n - sh->acked_n),
                      (unsigned long long)rl_ring_age(sh, now));
    }
    repl_json_raw(j, "]}");
    pthread_mutex_unlock(&p->mu);
}

int arm_repl_leader_status_json(arm_repl_leader *l, arm_buf *out) {
    arm_repl_leader_stats st;
    arm_repl_leader_stats_get(l, &st);
    arm_engine_stats es;
    arm_engine_stats_get(l->e, &es);
    repl_json j;
    repl_json_begin(&j, out);
    repl_json_raw(&j, "{\"role\":\"leader\",\"address\":");
    repl_json_str(&j, l->addr);
    repl_json_raw(&j, ",\"db_id\":");
    repl_json_hex(&j, l->db_id, REPL_DBID_BYTES);
    repl_json_raw(&j,
                  ",\"shards\":%u,\"last_seq\":%llu,\"max_followers\":%u,\"followers\":%u,"
                  "\"sessions\":%llu,\"refused\":%llu,\"dropped\":%llu,\"snapshots\":%llu,"
                  "\"txns_sent\":%llu,\"bytes_sent\":%llu,\"last_error\":",
                  l->shard_count, (unsigned long long)es.last_seq, l->opts.max_followers,
                  st.followers, (unsigned long long)st.sessions, (unsigned long long)st.refused,
                  (unsigned long long)st.dropped, (unsigned long long)st.snapshots,
                  (unsigned long long)st.txns_sent, (unsigned long long)st.bytes_sent);
    repl_json_err(&j, &st.last_error);
    repl_json_raw(&j, ",\"peers\":[");
    uint64_t now = repl_now_ms();
    int first = 1;
    for (uint32_t i = 0; i < l->nslots; i++) {
        rl_peer *p = &l->peers[i];
        pthread_mutex_lock(&p->mu);
        int live = p->state != RL_FREE;
        pthread_mutex_unlock(&p->mu);
        if (!live) continue;
        if (!first) repl_json_raw(&j, ",");
        first = 0;
        rl_json_peer(&j, p, l->shard_count, now);
    }
    repl_json_raw(&j, "]}");
    return repl_json_end(&j);
}
