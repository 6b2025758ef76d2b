/* SPDX-License-Identifier: MIT */
/*
 * repl_follower.c: the follower (arm_repl_follow). One thread keeps a session
 * with the leader, reconnecting with exponential backoff (reset only once a
 * session reached streaming) after any failure. A session:
 *
 *   connect -> handshake (HAVE_POS when every shard has a stored position of
 *   one leader, without RESYNC; EMPTY when the engine holds no keys) ->
 *   SUBSCRIBE per shard -> either a START per shard where this follower
 *   stands (its positions, or the origin when it is empty), or a snapshot:
 *   SNAP_BEGIN (store its cut positions marked RESYNC, delete every key),
 *   SNAP_CHUNKs (applied in batches), SNAP_END (store the cut positions
 *   without RESYNC), then START per shard at the cut -> TXN frames.
 *
 * Every frame is checked before anything of it is applied (checksums and
 * bounds in repl_conn_recv; direction, shard, stream, order and parts here).
 * A transaction is applied only once it is whole, and several whole ones go
 * into one engine batch (arm_engine_apply) together with the position of
 * every shard they advance: up to RF_GROUP_BYTES or RF_GROUP_ENTRIES, or as
 * soon as the stream is idle or RF_GROUP_MS after the first of them arrived.
 * So a follower never shows part of a leader's transaction, and a crash or
 * reconnect resumes exactly at the stored positions. The follower ACKs what
 * it stored after every apply; a silent leader (no frame for
 * peer_timeout_ms) is dead. Layer: repl (public engine API only).
 */
#include "repl_int.h"
#include "../common/arm_alloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RF_GROUP_BYTES   ((uint64_t)1 << 20) /* one apply writes at most about this much */
#define RF_GROUP_MIN     ((uint64_t)4096)    /* ... never less (see group_max) */
#define RF_GROUP_ENTRIES 10000u              /* ... or this many entries */
#define RF_GROUP_MS      2u                  /* ... and waits at most this long for more */
#define RF_CLOCK_FRAMES  32u                 /* frames between two looks at the clock */
#define RF_HB_RING       16u                 /* leader heartbeats not yet covered */
#define RF_ERRTEXT_WAIT  200                 /* ms to hand our refusal to the leader */

struct arm_repl_follower {
    arm_engine *e;
    arm_repl_options opts;
    arm_repl_secret *secret;
    repl_addr addr;
    char addr_text[256];
    uint32_t shard_count;
    uint8_t db_id[REPL_DBID_BYTES];
    repl_wake stop;
    pthread_t th;
    int th_started;
    pthread_mutex_t mu; /* guards st and the heartbeat ring */
    arm_repl_follower_stats st;
    uint64_t applied_seq;        /* newest leader sequence number applied */
    uint64_t group_max;          /* log bytes per apply: RF_GROUP_BYTES, halved each time an
                                    apply of several transactions did not fit in one data
                                    file of this engine (its max_file_size is smaller) */
    uint64_t hb_seq[RF_HB_RING]; /* heartbeats whose last_seq is not applied yet, oldest first */
    uint64_t hb_ms[RF_HB_RING];
    uint32_t hb_head, hb_n;
};

typedef struct rf_shard {
    arm_repl_pos cur;    /* just past the last transaction received (START at first) */
    arm_repl_pos stored; /* the position the engine stores for this shard */
    uint8_t stored_leader[REPL_DBID_BYTES];
    uint32_t stored_flags;
    int has_stored;     /* the engine has a position for this shard */
    int stored_ok;      /* ... and it is this session's leader's, without RESYNC */
    int started;        /* START received */
    uint64_t pending_n; /* transactions received, not yet applied */
    uint64_t applied_n; /* transactions applied this session (ACK.applied) */
} rf_shard;

typedef struct rf_sess {
    arm_repl_follower *f;
    arm_engine *e;
    uint32_t n;
    repl_conn c;
    repl_hs hs;
    repl_asm as;
    rf_shard *sh;
    int have_pos; /* our hello said HAVE_POS (for pos_leader) */
    uint8_t pos_leader[REPL_DBID_BYTES];
    int usable;            /* ... and they are this leader's */
    int empty;             /* our hello said EMPTY */
    uint32_t started;      /* shards with a START */
    int streaming;         /* every shard started */
    uint64_t streaming_ms; /* since when */
    int applied_ok;        /* an apply of this session succeeded */
    /* the group of whole transactions (or snapshot entries) not applied yet */
    arm_batch *b;
    uint32_t *gsh; /* shard_count: positions handed to the apply */
    arm_log_pos *gpos;
    uint64_t gbytes, gentries, gtxns, gfirst_ms; /* gbytes: as the log will hold them */
    /* snapshot */
    int snap; /* 0 none, 1 receiving, 2 applied */
    uint64_t snap_id, snap_chunks, snap_entries;
    arm_repl_pos *cut;
    uint64_t echo_ms; /* now_ms of the leader's last heartbeat */
    int peer_said;    /* the session ended with the leader's own ERROR */
    arm_repl_err err;
} rf_sess;

/* ---------------------------------------------------------- bookkeeping */
static void rf_set_state(arm_repl_follower *f, int state) {
    pthread_mutex_lock(&f->mu);
    f->st.state = state;
    pthread_mutex_unlock(&f->mu);
}

static void rf_note_error(arm_repl_follower *f, const arm_repl_err *e) {
    pthread_mutex_lock(&f->mu);
    f->st.last_error = *e;
    f->st.errors++;
    pthread_mutex_unlock(&f->mu);
}

/* Drop the heartbeats that what is applied now covers. Under f->mu. */
static void rf_hb_cover(arm_repl_follower *f) {
    while (f->hb_n > 0 && f->hb_seq[f->hb_head] <= f->applied_seq) {
        f->hb_head = (f->hb_head + 1) % RF_HB_RING;
        f->hb_n--;
    }
}

/* A leader heartbeat announcing last_seq arrived at now_ms. Under f->mu. */
static void rf_hb_note(arm_repl_follower *f, uint64_t last_seq, uint64_t now_ms) {
    f->st.leader_last_seq = last_seq;
    if (last_seq <= f->applied_seq) { /* caught up: nothing older is pending either */
        f->hb_n = 0;
        return;
    }
    if (f->hb_n == RF_HB_RING) { /* keep the oldest (the lag), refresh the newest */
        f->hb_seq[(f->hb_head + f->hb_n - 1) % RF_HB_RING] = last_seq;
        return;
    }
    uint32_t at = (f->hb_head + f->hb_n) % RF_HB_RING;
    f->hb_seq[at] = last_seq;
    f->hb_ms[at] = now_ms;
    f->hb_n++;
}

/* ------------------------------------------------------------ applying */
static int rf_engine_err(rf_sess *s, int rc, const char *what) {
    return REPL_ERR(&s->err, rc, "%s: %s", what, arm_engine_errmsg(s->e));
}

/* Queue and send our heartbeat when one is due. */
static int rf_heartbeat(rf_sess *s, uint64_t now) {
    if (now < s->c.last_send_ms + s->f->opts.heartbeat_ms) return ARM_OK;
    repl_heartbeat h = {now, s->echo_ms, 0};
    int rc = repl_msg_heartbeat_encode(&s->c.out, &h);
    if (rc != ARM_OK) return REPL_ERR(&s->err, rc, "out of memory for a heartbeat");
    rc = repl_conn_flush(&s->c, (int)s->f->opts.peer_timeout_ms, &s->err);
    if (rc == REPL_TIMEOUT) rc = REPL_ERR(&s->err, ARM_IOERR, "the leader stopped reading");
    return rc;
}

/* Apply the group: its entries plus the position of every started shard
 * whose stored position is behind what was received (during a snapshot,
 * entries only: the cut positions are stored, marked RESYNC). Then ACK. */
static int rf_apply(rf_sess *s) {
    arm_repl_follower *f = s->f;
    size_t npos = 0;
    for (uint32_t i = 0; s->snap != 1 && i < s->n; i++) {
        rf_shard *sh = &s->sh[i];
        if (!sh->started || (sh->stored_ok && repl_pos_eq(&sh->cur, &sh->stored))) continue;
        s->gsh[npos] = i;
        s->gpos[npos] = repl_pos_to_log(sh->cur);
        npos++;
    }
    if (npos == 0 && s->gentries == 0) return ARM_OK;
    int rc = arm_engine_apply(s->e, s->b, s->hs.peer.db_id, s->gsh, s->gpos, npos, 0);
    if (rc == ARM_FULL && (s->gtxns > 1 || (s->snap == 1 && s->gentries > 1))) {
        /* Larger than this engine's data files: the next session groups less
         * (the transactions come again from the stored positions). */
        f->group_max = ARM_MAX(RF_GROUP_MIN, s->gbytes / 2);
        return REPL_ERR(&s->err, ARM_FULL,
                        "an apply of %llu bytes did not fit in one data file of this follower; "
                        "retrying with at most %llu bytes per apply",
                        (unsigned long long)s->gbytes, (unsigned long long)f->group_max);
    }
    if (rc != ARM_OK) return rf_engine_err(s, rc, "cannot apply the leader's transactions");
    s->applied_ok = 1;
    arm_engine_batch_clear(s->b);
    uint64_t newest = 0;
    for (size_t k = 0; k < npos && rc == ARM_OK; k++) {
        rf_shard *sh = &s->sh[s->gsh[k]];
        sh->stored = sh->cur;
        sh->stored_ok = 1;
        sh->applied_n += sh->pending_n;
        sh->pending_n = 0;
        newest = ARM_MAX(newest, sh->cur.seq);
        repl_ack a = {sh->stored, sh->applied_n};
        rc = repl_msg_ack_encode(&s->c.out, (uint16_t)s->gsh[k], &a);
        if (rc != ARM_OK) rc = REPL_ERR(&s->err, rc, "out of memory for an ACK");
    }
    pthread_mutex_lock(&f->mu);
    f->st.txns += s->gtxns;
    f->st.applies++;
    f->st.bytes_received += s->c.bytes_in;
    s->c.bytes_in = 0;
    if (newest > f->applied_seq) f->applied_seq = newest;
    rf_hb_cover(f);
    pthread_mutex_unlock(&f->mu);
    s->gbytes = s->gentries = s->gtxns = s->gfirst_ms = 0;
    if (rc == ARM_OK) rc = repl_conn_flush(&s->c, (int)f->opts.peer_timeout_ms, &s->err);
    if (rc == REPL_TIMEOUT) rc = REPL_ERR(&s->err, ARM_IOERR, "the leader stopped reading");
    /* A busy stream never waits in poll: look at the stop once an apply. */
    if (rc == ARM_OK && repl_wake_is_set(&f->stop)) rc = REPL_ERR(&s->err, ARM_CLOSED, "stopped");
    return rc;
}

/* The group is big enough to go now. */
static int rf_group_full(const rf_sess *s) {
    return s->gbytes >= s->f->group_max || s->gentries >= RF_GROUP_ENTRIES;
}

/* Bytes a message's entries take in the log (20-byte entry headers there,
 * 8 on the wire). */
static uint64_t rf_log_bytes(const repl_part *m) {
    return m->total + (uint64_t)(REPL_LOG_ENTRY_MIN - REPL_ENTRY_HDR) * m->count;
}

/* Add a whole, checked message's entries to the group, applying the group
 * first when the message would take it past group_max. */
static int rf_group_add(rf_sess *s, const repl_part *m) {
    if (s->gentries > 0 && s->gbytes + rf_log_bytes(m) > s->f->group_max) {
        int rc = rf_apply(s);
        if (rc != ARM_OK) return rc;
    }
    repl_entry_iter it;
    repl_entry en;
    repl_entry_iter_init(&it, m->bytes, m->count);
    while (repl_entry_iter_next(&it, &en)) {
        int rc = en.type == REPL_ENTRY_DEL ? arm_engine_batch_delete(s->b, en.key)
                                           : arm_engine_batch_put(s->b, en.key, en.val);
        if (rc != ARM_OK) return rf_engine_err(s, rc, "cannot apply the leader's entries");
    }
    if (s->gentries == 0) s->gfirst_ms = repl_now_ms();
    s->gentries += m->count;
    s->gbytes += rf_log_bytes(m);
    return ARM_OK;
}

/* ------------------------------------------------------------ snapshot */
/* Store positions for every shard (the cut), with flags. */
static int rf_store_cut(rf_sess *s, uint32_t flags) {
    for (uint32_t i = 0; i < s->n; i++) {
        s->gsh[i] = i;
        s->gpos[i] = repl_pos_to_log(s->cut[i]);
    }
    int rc = arm_engine_apply(s->e, s->b, s->hs.peer.db_id, s->gsh, s->gpos, s->n, flags);
    if (rc != ARM_OK) return rf_engine_err(s, rc, "cannot store the snapshot's positions");
    arm_engine_batch_clear(s->b);
    s->gbytes = s->gentries = s->gtxns = s->gfirst_ms = 0;
    return ARM_OK;
}

/* Delete every key the follower has (a snapshot replaces them all), in
 * batches, keeping the leader informed that we are alive. */
static int rf_wipe(rf_sess *s) {
    arm_cursor *cur = NULL;
    int rc = arm_engine_cursor_open(s->e, NULL, &cur);
    if (rc != ARM_OK) return rf_engine_err(s, rc, "snapshot: cannot list the old keys");
    int mv = arm_engine_cursor_first(cur);
    while (rc == ARM_OK && mv == ARM_OK) {
        for (uint32_t k = 0; mv == ARM_OK && k < RF_GROUP_ENTRIES; k++) {
            rc = arm_engine_batch_delete(s->b, arm_engine_cursor_key(cur));
            if (rc != ARM_OK) break;
            mv = arm_engine_cursor_next(cur);
        }
        if (rc == ARM_OK) rc = arm_engine_apply(s->e, s->b, s->hs.peer.db_id, NULL, NULL, 0, 0);
        arm_engine_batch_clear(s->b);
        if (rc != ARM_OK) rc = rf_engine_err(s, rc, "snapshot: cannot delete the old keys");
        if (rc == ARM_OK) rc = rf_heartbeat(s, repl_now_ms());
        if (rc == ARM_OK && repl_wake_is_set(&s->f->stop))
            rc = REPL_ERR(&s->err, ARM_CLOSED, "stopped");
    }
    if (rc == ARM_OK && mv != ARM_NOTFOUND)
        rc = rf_engine_err(s, mv, "snapshot: cannot list the old keys");
    arm_engine_cursor_close(cur);
    return rc;
}

static int rf_on_snap_begin(rf_sess *s, const repl_frame *fr) {
    if (s->snap != 0 || s->started > 0)
        return REPL_ERR(&s->err, ARM_PROTOCOL, "SNAP_BEGIN after the stream began");
    repl_snap_begin b;
    int rc = repl_msg_snap_begin_decode(fr, &b, &s->err);
    if (rc != ARM_OK) return rc;
    if (b.shard_count != s->n)
        return REPL_ERR(&s->err, ARM_PROTOCOL, "SNAP_BEGIN for %u shards, the session has %u",
                        b.shard_count, s->n);
    for (uint32_t i = 0; i < s->n; i++)
        repl_snap_begin_pos(&b, i, &s->cut[i]);
    s->snap = 1;
    s->snap_id = b.snap_id;
    s->snap_chunks = s->snap_entries = 0;
    pthread_mutex_lock(&s->f->mu);
    s->f->st.snapshots++;
    s->f->st.state = ARM_REPL_SNAPSHOT;
    pthread_mutex_unlock(&s->f->mu);
    /* From here until SNAP_END the stored positions say "not usable". */
    rc = rf_store_cut(s, ARM_REPL_RESYNC);
    for (uint32_t i = 0; i < s->n; i++)
        s->sh[i].stored_ok = 0;
    return rc == ARM_OK ? rf_wipe(s) : rc;
}

static int rf_on_snap_chunk(rf_sess *s, const repl_frame *fr) {
    if (s->snap != 1) return REPL_ERR(&s->err, ARM_PROTOCOL, "SNAP_CHUNK without SNAP_BEGIN");
    repl_part p;
    int complete = 0;
    int rc = repl_msg_part_decode(fr, &p, &s->err);
    if (rc == ARM_OK) rc = repl_asm_feed(&s->as, &p, &complete, &s->err);
    if (rc != ARM_OK || !complete) return rc;
    const repl_part *m = &s->as.head;
    if (m->snap_id != s->snap_id || m->chunk_no != s->snap_chunks)
        return REPL_ERR(&s->err, ARM_PROTOCOL,
                        "SNAP_CHUNK %llu of snapshot %llu, expected chunk %llu of %llu",
                        (unsigned long long)m->chunk_no, (unsigned long long)m->snap_id,
                        (unsigned long long)s->snap_chunks, (unsigned long long)s->snap_id);
    rc = rf_group_add(s, m);
    s->snap_chunks++;
    s->snap_entries += m->count;
    return rc;
}

static int rf_on_snap_end(rf_sess *s, const repl_frame *fr) {
    if (s->snap != 1) return REPL_ERR(&s->err, ARM_PROTOCOL, "SNAP_END without SNAP_BEGIN");
    repl_snap_end e;
    int rc = repl_msg_snap_end_decode(fr, &e, &s->err);
    if (rc != ARM_OK) return rc;
    if (e.snap_id != s->snap_id || e.chunks != s->snap_chunks || e.entries != s->snap_entries)
        return REPL_ERR(&s->err, ARM_PROTOCOL,
                        "SNAP_END of snapshot %llu says %llu chunks and %llu entries; "
                        "received %llu and %llu of snapshot %llu",
                        (unsigned long long)e.snap_id, (unsigned long long)e.chunks,
                        (unsigned long long)e.entries, (unsigned long long)s->snap_chunks,
                        (unsigned long long)s->snap_entries, (unsigned long long)s->snap_id);
    /* The last entries and the usable cut positions, in one batch. */
    rc = rf_store_cut(s, 0);
    if (rc != ARM_OK) return rc;
    uint64_t newest = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        s->sh[i].stored = s->cut[i];
        s->sh[i].stored_ok = 1;
        newest = ARM_MAX(newest, s->cut[i].seq);
    }
    s->snap = 2;
    pthread_mutex_lock(&s->f->mu);
    s->f->st.snapshots_done++;
    s->f->applied_seq = newest;
    rf_hb_cover(s->f);
    pthread_mutex_unlock(&s->f->mu);
    return ARM_OK;
}

/* ------------------------------------------------------------ streaming */
static int rf_on_start(rf_sess *s, const repl_frame *fr) {
    uint16_t i = fr->hdr.shard;
    arm_repl_pos pos;
    int rc = repl_msg_start_decode(fr, &pos, &s->err);
    if (rc != ARM_OK) return rc;
    rf_shard *sh = &s->sh[i];
    if (s->snap == 1) return REPL_ERR(&s->err, ARM_PROTOCOL, "START during a snapshot");
    if (sh->started) return REPL_ERR(&s->err, ARM_PROTOCOL, "START twice for shard %u", i);
    static const arm_repl_pos origin = {0, 0, 0, 0};
    int ok = s->snap == 2 ? repl_pos_eq(&pos, &s->cut[i])
                          : (s->usable && repl_pos_eq(&pos, &sh->stored)) ||
                                (s->empty && repl_pos_eq(&pos, &origin));
    if (!ok)
        return REPL_ERR(&s->err, ARM_PROTOCOL,
                        "START for shard %u at seq %llu (file %u, offset %llu) is not where this "
                        "follower stands, and no snapshot came first",
                        i, (unsigned long long)pos.seq, pos.fid, (unsigned long long)pos.off);
    sh->cur = pos;
    sh->started = 1;
    if (++s->started == s->n) {
        s->streaming = 1;
        s->streaming_ms = repl_now_ms();
        pthread_mutex_lock(&s->f->mu);
        s->f->st.sessions++;
        s->f->st.state = ARM_REPL_STREAMING;
        pthread_mutex_unlock(&s->f->mu);
    }
    return ARM_OK;
}

static int rf_on_txn(rf_sess *s, const repl_frame *fr) {
    rf_shard *sh = &s->sh[fr->hdr.shard];
    if (!sh->started)
        return REPL_ERR(&s->err, ARM_PROTOCOL, "TXN for shard %u before its START", fr->hdr.shard);
    repl_part p;
    int complete = 0;
    int rc = repl_msg_part_decode(fr, &p, &s->err);
    if (rc == ARM_OK) rc = repl_asm_feed(&s->as, &p, &complete, &s->err);
    if (rc != ARM_OK || !complete) return rc;
    const repl_part *m = &s->as.head;
    rc = repl_wire_check_txn_order(&sh->cur, &m->after, &s->err);
    if (rc == ARM_OK) rc = rf_group_add(s, m);
    if (rc != ARM_OK) return rc;
    sh->cur = m->after;
    sh->pending_n++;
    s->gtxns++;
    return ARM_OK;
}

static int rf_on_heartbeat(rf_sess *s, const repl_frame *fr) {
    repl_heartbeat h;
    int rc = repl_msg_heartbeat_decode(fr, &h, &s->err);
    if (rc != ARM_OK) return rc;
    s->echo_ms = h.now_ms;
    pthread_mutex_lock(&s->f->mu);
    rf_hb_note(s->f, h.last_seq, repl_now_ms());
    pthread_mutex_unlock(&s->f->mu);
    return ARM_OK;
}

/* The leader ended the session with an ERROR frame: keep its code (when it
 * is one a leader sends) and its text. */
static int rf_on_error(rf_sess *s, const repl_frame *fr) {
    repl_error_msg e;
    int rc = repl_msg_error_decode(fr, &e, &s->err);
    if (rc != ARM_OK) return rc;
    int code = (int)e.code;
    if (code != ARM_FULL && code != ARM_BUSY && code != ARM_AUTH && code != ARM_TOOBIG &&
        code != ARM_CORRUPT && code != ARM_IOERR && code != ARM_NOMEM && code != ARM_RANGE)
        code = ARM_PROTOCOL;
    s->peer_said = 1;
    return REPL_ERR(&s->err, code, "the leader closed the session: %s", e.text);
}

/* One checked frame from the leader. */
static int rf_on_frame(rf_sess *s, const repl_frame *fr) {
    uint8_t type = fr->hdr.type;
    int rc = repl_wire_check_direction(type, REPL_ROLE_FOLLOWER, &s->err);
    if (rc == ARM_OK) rc = repl_wire_check_shard(&fr->hdr, s->n, &s->err);
    if (rc != ARM_OK) return rc;
    if (repl_asm_pending(&s->as) && type != REPL_MSG_TXN && type != REPL_MSG_SNAP_CHUNK &&
        type != REPL_MSG_HEARTBEAT && type != REPL_MSG_ERROR)
        return REPL_ERR(&s->err, ARM_PROTOCOL, "%s frame in the middle of a %s message",
                        repl_wire_type_name(type), repl_wire_type_name(s->as.head.type));
    switch (type) {
    case REPL_MSG_HEARTBEAT: return rf_on_heartbeat(s, fr);
    case REPL_MSG_ERROR: return rf_on_error(s, fr);
    case REPL_MSG_START: return rf_on_start(s, fr);
    case REPL_MSG_TXN: return rf_on_txn(s, fr);
    case REPL_MSG_SNAP_BEGIN: return rf_on_snap_begin(s, fr);
    case REPL_MSG_SNAP_CHUNK: return rf_on_snap_chunk(s, fr);
    case REPL_MSG_SNAP_END: return rf_on_snap_end(s, fr);
    default:
        return REPL_ERR(&s->err, ARM_PROTOCOL, "%s frame after the handshake",
                        repl_wire_type_name(type));
    }
}

/* Frames until the session ends (it always ends in an error or a stop). */
static int rf_loop(rf_sess *s) {
    const arm_repl_options *o = &s->f->opts;
    uint64_t now = 0;
    for (uint32_t burst = 0;; burst = (burst + 1) % RF_CLOCK_FRAMES) {
        /* The clock's duties (heartbeat, a group's age) once per few frames
         * while frames keep coming, and after every wait. */
        int rc = ARM_OK;
        if (burst == 0) {
            now = repl_now_ms();
            rc = rf_heartbeat(s, now);
            if (rc == ARM_OK && s->gentries && now >= s->gfirst_ms + RF_GROUP_MS) rc = rf_apply(s);
        }
        if (rc != ARM_OK) return rc;
        int timeout = 0;
        if (s->gentries == 0) { /* nothing to apply at idle: wait for the next event */
            uint64_t next = ARM_MIN(s->c.last_send_ms + o->heartbeat_ms,
                                    s->c.last_recv_ms + o->peer_timeout_ms);
            timeout = next > now ? (int)ARM_MIN(next - now, (uint64_t)INT32_MAX) : 0;
        }
        repl_frame fr;
        rc = repl_conn_recv(&s->c, timeout, &fr, &s->err);
        if (rc == REPL_TIMEOUT) {
            burst = RF_CLOCK_FRAMES - 1; /* look at the clock next */
            /* Dead only after a wait that found nothing (time spent applying
             * or wiping, with frames queued meanwhile, does not count). */
            if (timeout > 0 && repl_now_ms() >= s->c.last_recv_ms + o->peer_timeout_ms)
                return REPL_ERR(&s->err, ARM_IOERR,
                                "no frame from the leader for %u ms (dead peer)",
                                o->peer_timeout_ms);
            rc = s->gentries ? rf_apply(s) : ARM_OK; /* the stream is idle */
        } else if (rc == ARM_OK) {
            rc = rf_on_frame(s, &fr);
            if (rc == ARM_OK && rf_group_full(s)) rc = rf_apply(s);
        }
        if (rc != ARM_OK) return rc;
    }
}

/* ------------------------------------------------------------ a session */
/* What the engine stores: per shard, and whether all shards have positions
 * of one leader without RESYNC (then the hello says HAVE_POS). */
static int rf_read_positions(rf_sess *s) {
    s->have_pos = 1;
    for (uint32_t i = 0; i < s->n; i++) {
        rf_shard *sh = &s->sh[i];
        arm_log_pos p;
        int rc = arm_engine_repl_pos(s->e, i, sh->stored_leader, &p, &sh->stored_flags);
        if (rc == ARM_NOTFOUND) {
            s->have_pos = 0;
            continue;
        }
        if (rc != ARM_OK) return rf_engine_err(s, rc, "reading the stored positions");
        sh->has_stored = 1;
        sh->stored = repl_pos_from_log(p);
        if (i == 0) memcpy(s->pos_leader, sh->stored_leader, REPL_DBID_BYTES);
        if ((sh->stored_flags & ARM_REPL_RESYNC) ||
            memcmp(sh->stored_leader, s->pos_leader, REPL_DBID_BYTES) != 0 ||
            !repl_pos_valid(&sh->stored))
            s->have_pos = 0;
    }
    return ARM_OK;
}

/* Handshake, then one SUBSCRIBE per shard. */
static int rf_open(rf_sess *s) {
    arm_repl_follower *f = s->f;
    int rc = rf_read_positions(s);
    if (rc != ARM_OK) return rc;
    s->empty = arm_engine_count(s->e) == 0;
    repl_hs_cfg cfg;
    repl_hs_cfg_init(&cfg, REPL_ROLE_FOLLOWER, f->db_id, s->n, &f->opts, f->secret);
    cfg.have_pos = s->have_pos;
    if (s->have_pos) memcpy(cfg.leader_db_id, s->pos_leader, REPL_DBID_BYTES);
    cfg.empty = s->empty;
    rf_set_state(f, ARM_REPL_HANDSHAKE);
    rc = repl_conn_handshake(&s->c, &s->hs, &cfg, (int)f->opts.peer_timeout_ms, &s->err);
    if (rc != ARM_OK) return rc;
    const uint8_t *lid = s->hs.peer.db_id;
    s->usable = s->have_pos && memcmp(s->pos_leader, lid, REPL_DBID_BYTES) == 0;
    pthread_mutex_lock(&f->mu);
    f->st.has_leader = 1;
    memcpy(f->st.leader_id, lid, REPL_DBID_BYTES);
    f->applied_seq = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        rf_shard *sh = &s->sh[i];
        sh->stored_ok = sh->has_stored && !(sh->stored_flags & ARM_REPL_RESYNC) &&
                        memcmp(sh->stored_leader, lid, REPL_DBID_BYTES) == 0;
        if (sh->stored_ok) f->applied_seq = ARM_MAX(f->applied_seq, sh->stored.seq);
    }
    f->hb_n = 0;
    pthread_mutex_unlock(&f->mu);
    for (uint32_t i = 0; i < s->n && rc == ARM_OK; i++) {
        repl_subscribe sub = {0, {0, 0, 0, 0}};
        if (s->have_pos) {
            sub.flags = REPL_SUB_HAVE_POS;
            sub.pos = s->sh[i].stored;
        }
        rc = repl_msg_subscribe_encode(&s->c.out, (uint16_t)i, &sub);
    }
    if (rc != ARM_OK) return REPL_ERR(&s->err, rc, "out of memory for subscriptions");
    rc = repl_conn_flush(&s->c, (int)f->opts.peer_timeout_ms, &s->err);
    if (rc == REPL_TIMEOUT) rc = REPL_ERR(&s->err, ARM_IOERR, "the leader stopped reading");
    return rc;
}

/* One session on a connected socket (owned). *worked: it got to streaming. */
static int rf_session(arm_repl_follower *f, int fd, arm_repl_err *err, int *worked) {
    rf_sess s;
    memset(&s, 0, sizeof(s));
    s.f = f;
    s.e = f->e;
    s.n = f->shard_count;
    repl_asm_init(&s.as, f->opts.txn_max);
    int rc = repl_conn_open(&s.c, fd, f->stop.fd, f->opts.payload_max, &s.err);
    if (rc == ARM_OK) {
        s.sh = arm_calloc(s.n, sizeof(*s.sh));
        s.gsh = arm_calloc(s.n, sizeof(*s.gsh));
        s.gpos = arm_calloc(s.n, sizeof(*s.gpos));
        s.cut = arm_calloc(s.n, sizeof(*s.cut));
        if (!s.sh || !s.gsh || !s.gpos || !s.cut)
            rc = REPL_ERR(&s.err, ARM_NOMEM, "out of memory for a session");
    }
    if (rc == ARM_OK) {
        rc = arm_engine_batch_new(s.e, &s.b);
        if (rc != ARM_OK) rc = REPL_ERR(&s.err, rc, "out of memory for a session");
    }
    if (rc == ARM_OK) rc = rf_open(&s);
    if (rc == ARM_OK) rc = rf_loop(&s);
    /* Tell the leader why we leave, unless it told us, or the socket failed. */
    if (rc != ARM_CLOSED && rc != ARM_IOERR && !s.peer_said && s.c.fd >= 0 && !s.c.broken &&
        s.hs.state == REPL_HS_DONE)
        repl_conn_send_error(&s.c, rc, s.err.msg, RF_ERRTEXT_WAIT);
    /* It worked when it streamed and applied, or streamed a while: then the
     * next attempt comes quickly. One that fails at once (an apply that
     * cannot succeed) backs off like a refused connection. */
    *worked =
        s.streaming && (s.applied_ok || repl_now_ms() >= s.streaming_ms + f->opts.heartbeat_ms);
    *err = s.err;
    pthread_mutex_lock(&f->mu);
    f->st.bytes_received += s.c.bytes_in;
    pthread_mutex_unlock(&f->mu);
    arm_engine_batch_free(s.b); /* a group not applied is dropped: it comes again */
    repl_asm_free(&s.as);
    repl_conn_close(&s.c);
    arm_free(s.sh);
    arm_free(s.gsh);
    arm_free(s.gpos);
    arm_free(s.cut);
    return rc;
}

static void *rf_main(void *arg) {
    arm_repl_follower *f = arg;
    (void)pthread_setname_np(pthread_self(), "armdb-repl-foll"); /* for top -H, perf */
    repl_backoff bo;
    repl_backoff_init(&bo, f->opts.backoff_base_ms, f->opts.backoff_max_ms,
                      repl_now_ms() ^ (uint64_t)(uintptr_t)f);
    while (!repl_wake_is_set(&f->stop)) {
        rf_set_state(f, ARM_REPL_CONNECTING);
        arm_repl_err e = {0, ""};
        int fd = -1, worked = 0;
        int rc = repl_connect(&f->addr, f->stop.fd, (int)f->opts.connect_timeout_ms, &fd, &e);
        if (rc == ARM_OK) {
            pthread_mutex_lock(&f->mu);
            f->st.connects++;
            pthread_mutex_unlock(&f->mu);
            rc = rf_session(f, fd, &e, &worked);
        }
        if (repl_wake_is_set(&f->stop)) break;
        if (e.rc == ARM_OK) REPL_ERR(&e, rc, "replication session ended (%s)", arm_rc_str(rc));
        rf_note_error(f, &e);
        if (worked) repl_backoff_reset(&bo);
        rf_set_state(f, ARM_REPL_BACKOFF);
        if (repl_sleep_ms(f->stop.fd, repl_backoff_next(&bo)) == ARM_CLOSED) break;
    }
    rf_set_state(f, ARM_REPL_STOPPED);
    return NULL;
}

/* ------------------------------------------------------------------ API */
static void rf_free(arm_repl_follower *f) {
    if (f == NULL) return;
    repl_wake_close(&f->stop);
    arm_repl_secret_free(f->secret);
    pthread_mutex_destroy(&f->mu);
    arm_free(f);
}

int arm_repl_follow(arm_engine *engine, const char *addr, const arm_repl_options *opts,
                    arm_repl_follower **follower_out, arm_repl_err *err) {
    assert(follower_out != NULL);
    *follower_out = NULL;
    if (ARM_NEVER(engine == NULL)) return REPL_ERR(err, ARM_MISUSE, "follow: no engine");
    arm_repl_follower *f = arm_calloc(1, sizeof(*f));
    if (f == NULL) return REPL_ERR(err, ARM_NOMEM, "out of memory for a follower");
    f->stop.fd = -1;
    pthread_mutex_init(&f->mu, NULL);
    f->e = engine;
    if (opts)
        f->opts = *opts;
    else
        arm_repl_options_init(&f->opts);
    int rc = arm_repl_options_check(&f->opts, err);
    if (rc == ARM_OK && (f->opts.secret_file || f->opts.secret_env))
        rc = arm_repl_secret_load(f->opts.secret_file, f->opts.secret_env, &f->secret, err);
    f->opts.secret_file = f->opts.secret_env = NULL; /* borrowed for this call only */
    if (rc == ARM_OK) rc = repl_addr_parse(addr, &f->addr, err);
    if (rc == ARM_OK) rc = repl_wake_open(&f->stop, err);
    if (rc == ARM_OK) {
        snprintf(f->addr_text, sizeof(f->addr_text), "%s", addr);
        arm_engine_stats st;
        arm_engine_stats_get(engine, &st);
        f->shard_count = st.shards;
        memcpy(f->db_id, st.db_id, REPL_DBID_BYTES);
        f->st.state = ARM_REPL_CONNECTING;
        f->group_max = RF_GROUP_BYTES;
        arm_engine_set_follower(engine, 1);
        if (pthread_create(&f->th, NULL, rf_main, f) != 0)
            rc = REPL_ERR(err, ARM_IOERR, "follow: cannot start the follower thread");
    }
    if (rc != ARM_OK) {
        rf_free(f);
        return rc;
    }
    f->th_started = 1;
    *follower_out = f;
    return ARM_OK;
}

void arm_repl_follower_stop(arm_repl_follower *f) {
    if (f == NULL) return;
    repl_wake_signal(&f->stop);
    if (f->th_started) pthread_join(f->th, NULL);
    rf_free(f);
}

void arm_repl_follower_stats_get(arm_repl_follower *f, arm_repl_follower_stats *out) {
    uint64_t now = repl_now_ms();
    pthread_mutex_lock(&f->mu);
    *out = f->st;
    out->lag_ms = 0;
    if (f->hb_n > 0 && now > f->hb_ms[f->hb_head]) out->lag_ms = now - f->hb_ms[f->hb_head];
    pthread_mutex_unlock(&f->mu);
}

static const char *rf_state_name(int state) {
    static const char *const names[] = {"?",         "connecting", "handshake", "snapshot",
                                        "streaming", "backoff",    "stopped"};
    return state >= 1 && state <= ARM_REPL_STOPPED ? names[state] : "?";
}

int arm_repl_follower_status_json(arm_repl_follower *f, arm_buf *out) {
    arm_repl_follower_stats st;
    arm_repl_follower_stats_get(f, &st);
    pthread_mutex_lock(&f->mu);
    uint64_t applied = f->applied_seq;
    pthread_mutex_unlock(&f->mu);
    repl_json j;
    repl_json_begin(&j, out);
    repl_json_raw(&j, "{\"role\":\"follower\",\"leader\":");
    repl_json_str(&j, f->addr_text);
    repl_json_raw(&j, ",\"state\":");
    repl_json_str(&j, rf_state_name(st.state));
    repl_json_raw(&j, ",\"db_id\":");
    repl_json_hex(&j, f->db_id, REPL_DBID_BYTES);
    repl_json_raw(&j, ",\"leader_db_id\":");
    if (st.has_leader)
        repl_json_hex(&j, st.leader_id, REPL_DBID_BYTES);
    else
        repl_json_raw(&j, "null");
    repl_json_raw(
        &j,
        ",\"connects\":%llu,\"sessions\":%llu,\"snapshots\":%llu,"
        "\"snapshots_done\":%llu,\"errors\":%llu,\"txns_applied\":%llu,"
        "\"applies\":%llu,\"bytes_received\":%llu,\"leader_last_seq\":%llu,"
        "\"lag_ms\":%llu,\"lag_seq\":%llu,\"last_error\":",
        (unsigned long long)st.connects, (unsigned long long)st.sessions,
        (unsigned long long)st.snapshots, (unsigned long long)st.snapshots_done,
        (unsigned long long)st.errors, (unsigned long long)st.txns, (unsigned long long)st.applies,
        (unsigned long long)st.bytes_received, (unsigned long long)st.leader_last_seq,
        (unsigned long long)st.lag_ms,
        (unsigned long long)(st.leader_last_seq > applied ? st.leader_last_seq - applied : 0));
    repl_json_err(&j, &st.last_error);
    repl_json_raw(&j, ",\"shards\":[");
    for (uint32_t i = 0; i < f->shard_count; i++) {
        uint8_t lid[REPL_DBID_BYTES];
        arm_log_pos p;
        uint32_t flags = 0;
        if (i) repl_json_raw(&j, ",");
        if (arm_engine_repl_pos(f->e, i, lid, &p, &flags) != ARM_OK) {
            repl_json_raw(&j, "{\"shard\":%u,\"position\":null}", i);
            continue;
        }
        arm_repl_pos rp = repl_pos_from_log(p);
        repl_json_raw(&j, "{\"shard\":%u,\"leader_db_id\":", i);
        repl_json_hex(&j, lid, REPL_DBID_BYTES);
        repl_json_raw(&j, ",\"position\":");
        repl_json_pos(&j, &rp);
        repl_json_raw(&j, ",\"resync\":%s}", (flags & ARM_REPL_RESYNC) ? "true" : "false");
    }
    repl_json_raw(&j, "]}");
    return repl_json_end(&j);
}
