/* SPDX-License-Identifier: MIT */
/*
 * txn.c: transactions (contract in arm_engine.h). A transaction reads one
 * snapshot plus its own writes (an arm_batch), records what it read (point
 * keys, and the ranges its cursors passed over), and commits in two phases:
 *
 *   prepare  with the index write locks of the shards it writes held (and,
 *            when anything changed since its snapshot, the read locks of the
 *            others): validate that nothing it read or writes was changed or
 *            held by someone else since the snapshot (else ARM_BUSY_SNAPSHOT),
 *            then mark every key it writes INTENT (a new key gets a DEAD
 *            placeholder item), release the locks, and append its entries to
 *            one shard's log as a batch (with a TXNINFO entry first when the
 *            decision is external; then fdatasync'd).
 *   publish  with those write locks again: take one stamp from the domain for
 *            all the transactions published together, install the versions
 *            (arm_install), clear the intents. An external one gets a COMMIT
 *            record first. sync=full then waits for durability (group commit,
 *            outside any lock).
 *   discard  an ABORT record (fdatasync'd: recovery must never apply it),
 *            then the intents and placeholders go.
 *
 * Serializability: a transaction's commit point is its validation. Its
 * intents make others that touch its keys fail until it resolves. What it
 * only read is not held by intents, yet a writer of it that validated after
 * it must not become visible before it (a reader would see the later one
 * without the earlier): so from just before its reads are validated until
 * it is published or discarded, it is a registered reader, and a prepare
 * (or a single-phase write) that writes a key a registered reader of
 * another group read fails with ARM_BUSY (retry once it resolved). Of a
 * reader registering while a writer holds, one always sees the other: the
 * reader registers before it validates (and sees the writer's intent), the
 * writer looks at the readers after it holds. In-doubt transactions found by recovery (external
 * decision, neither published nor aborted) hold their keys the same way until
 * arm_engine_indoubt_resolve. Layer: engine.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <stdlib.h>
#include <string.h>

#define TXN_READS_MAX  (1u << 20)         /* point reads recorded before "read everything" */
#define TXN_RANGES_MAX (1u << 16)         /* ranges recorded before "read everything" */
#define TXN_KEYBYTES_MAX (64u << 20)      /* bytes of read keys recorded before the same */

enum { TXN_ACTIVE = 0, TXN_PREPARED = 1, TXN_DONE = 2 };

typedef struct txn_range {
    arm_buf lo, hi;
    int lo_inf, hi_inf; /* -1 / +1: open on that side */
    int used;           /* the cursor noted something */
} txn_range;

struct arm_txn {
    arm_engine *e;
    arm_batch *batch;       /* the writes */
    arm_snapshot own;       /* taken by arm_txn_begin when none was given */
    uint64_t snap;          /* seq of the snapshot read */
    int flags;              /* enum arm_txn_flags */
    int state;
    /* read set */
    arm_buf rkeys;          /* point keys read, back to back */
    uint32_t *rklen;        /* their lengths */
    size_t nread, cap_read;
    txn_range *ranges;
    size_t nranges, cap_ranges;
    int read_all;           /* the read set overflowed: everything counts as read */
    /* prepared */
    arm_wop *ops;
    size_t nops, cap_ops;
    size_t *idx;            /* scratch for arm_batch_latest, reused */
    size_t cap_idx;
    uint8_t mask[ARM_SHARDS_MAX / 8]; /* shards written */
    uint32_t coord;         /* shard whose log holds the batch */
    uint64_t seq;           /* the batch's sequence number (0: nothing written) */
    uint32_t fid;           /* where it ended */
    uint64_t end;
    int ext;                /* decided externally */
    int counted;            /* counted in nprepared (preparing, or prepared and holding) */
    int held;               /* its write keys are held (INTENT) */
    int reread;             /* read more after it was prepared: validate again */
    arm_pending pend;       /* while its batch is in the log undecided (outcome.c) */
    /* registered reader: from just before its reads are validated until it
     * is published or discarded (e->readers_mu guards the links and, while
     * registered, the read set) */
    struct arm_txn *rnext, *rprev;
    int registered;
    size_t *rsort;          /* read keys 0..nrsort-1 by key order (offset, length pairs) */
    size_t nrsort;
    size_t rsort_bytes;     /* bytes of rkeys those first nrsort keys take */
    int has_skips;          /* deletes of absent keys: read absences, not held */
};

/* An in-doubt transaction kept from recovery. */
typedef struct arm_indoubt_txn {
    uint64_t id;
    uint8_t owner[16];
    uint32_t coord;
    uint32_t fid;           /* the file holding its batch */
    arm_wop *ops;
    size_t nops;
    uint8_t *keys;          /* the ops' keys (owned) */
    uint8_t mask[ARM_SHARDS_MAX / 8];
    arm_pending pend;       /* undecided, for log readers (outcome.c) */
    struct arm_indoubt_txn *next;
} arm_indoubt_txn;

static int txn_busy(arm_txn *t, const char *what) {
    (void)t;
    return arm_engine_seterr(ARM_ERR(ARM_BUSY_SNAPSHOT), 0, "%s", what);
}

/* ---------------------------------------------------------------- begin */
/* The seq a transaction reads at in engine e. A snapshot shared by several
 * engines (one SQL transaction over several tables) may predate e's open:
 * the versions e recovered carry the stamps they were written with, possibly
 * newer than that snapshot, yet were all committed before e opened, so the
 * transaction reads at least at e's open (later stamps here are all newer
 * than open_seq, so nothing committed after the open becomes visible). */
static uint64_t txn_snap_seq(const arm_engine *e, const arm_snapshot *snap) {
    return ARM_MAX(snap->seq, e->open_seq);
}

int arm_txn_begin(arm_engine *e, const arm_snapshot *snap, int flags, arm_txn **txn_out) {
    *txn_out = NULL;
    if (snap && snap->domain != e->dom)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "snapshot of another domain");
    arm_txn *t = arm_calloc(1, sizeof(*t));
    if (t == NULL) return ARM_ERR(ARM_NOMEM);
    t->e = e;
    t->flags = flags;
    int rc = arm_engine_batch_new(e, &t->batch);
    if (rc == ARM_OK && snap == NULL) rc = arm_snapshot_take(e->dom, &t->own);
    if (rc != ARM_OK) {
        arm_engine_batch_free(t->batch);
        arm_free(t);
        return rc;
    }
    t->snap = txn_snap_seq(t->e, snap ? snap : &t->own);
    *txn_out = t;
    return ARM_OK;
}

static void txn_reads_clear(arm_txn *t);
static void txn_reader_unregister(arm_txn *t);

int arm_txn_reset(arm_txn *t, const arm_snapshot *snap, int flags) {
    if (snap && snap->domain != t->e->dom)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "snapshot of another domain");
    if (t->state != TXN_DONE) (void)arm_txn_discard(t);
    txn_reader_unregister(t);
    txn_reads_clear(t); /* a published one keeps its read set until here */
    arm_snapshot_drop(&t->own);
    if (snap == NULL) {
        int rc = arm_snapshot_take(t->e->dom, &t->own);
        if (rc != ARM_OK) return rc;
    }
    t->snap = txn_snap_seq(t->e, snap ? snap : &t->own);
    t->flags = flags;
    t->state = TXN_ACTIVE;
    t->seq = 0;
    t->reread = 0;
    return ARM_OK;
}

int arm_txn_stale(const arm_txn *t) {
    return atomic_load(&t->e->last_pub) > t->snap || atomic_load(&t->e->nprepared) > 0;
}

static void txn_reads_clear(arm_txn *t) {
    t->rkeys.len = 0;
    t->nread = 0;
    t->nrsort = 0;
    t->rsort_bytes = 0;
    for (size_t i = 0; i < t->nranges; i++) t->ranges[i].used = 0;
    t->read_all = 0;
}

void arm_txn_free(arm_txn *t) {
    if (t == NULL) return;
    if (t->state != TXN_DONE) (void)arm_txn_discard(t);
    arm_engine_batch_free(t->batch);
    arm_snapshot_drop(&t->own);
    arm_buf_free(&t->rkeys);
    arm_free(t->rklen);
    for (size_t i = 0; i < t->nranges; i++) {
        arm_buf_free(&t->ranges[i].lo);
        arm_buf_free(&t->ranges[i].hi);
    }
    arm_free(t->ranges);
    arm_free(t->ops);
    arm_free(t->idx);
    arm_free(t->rsort);
    arm_free(t);
}

uint64_t arm_txn_id(const arm_txn *t) {
    return t->state == TXN_PREPARED ? t->seq : 0;
}

size_t arm_txn_write_count(const arm_txn *t) {
    return arm_batch_nkeys(t->batch);
}

/* ------------------------------------------------------------- read set */
static int txn_tracks(const arm_txn *t) {
    return !(t->flags & ARM_TXN_READONLY) && !t->read_all;
}

/* The read set would not fit: from now on everything counts as read. */
static void txn_read_all(arm_txn *t) {
    txn_reads_clear(t);
    t->read_all = 1;
}

static void txn_note_key_locked(arm_txn *t, arm_slice key);

/* A registered reader's read set is read by other writers: changed under
 * the registry's mutex. */
static void txn_note_key(arm_txn *t, arm_slice key) {
    if (!txn_tracks(t)) return;
    if (!t->registered) {
        txn_note_key_locked(t, key);
        return;
    }
    pthread_mutex_lock(&t->e->readers_mu);
    txn_note_key_locked(t, key);
    pthread_mutex_unlock(&t->e->readers_mu);
}

static void txn_note_key_locked(arm_txn *t, arm_slice key) {
    if (!txn_tracks(t)) return;
    if (t->state == TXN_PREPARED) t->reread = 1;
    if (t->nread >= TXN_READS_MAX || t->rkeys.len + key.len > TXN_KEYBYTES_MAX) {
        txn_read_all(t);
        return;
    }
    if (t->nread == t->cap_read) {
        size_t cap = t->cap_read ? t->cap_read * 2 : 16;
        uint32_t *p = arm_realloc(t->rklen, cap * sizeof(*p));
        if (p == NULL) {
            txn_read_all(t);
            return;
        }
        t->rklen = p;
        t->cap_read = cap;
    }
    if (arm_buf_reserve(&t->rkeys, t->rkeys.len + key.len) != ARM_OK) {
        txn_read_all(t);
        return;
    }
    memcpy(t->rkeys.ptr + t->rkeys.len, key.ptr, key.len);
    t->rkeys.len += key.len;
    t->rklen[t->nread++] = (uint32_t)key.len;
}

static size_t txn_range_slot_locked(arm_txn *t);

size_t arm_txn_range_slot(arm_txn *t) {
    if (!t->registered) return txn_range_slot_locked(t);
    pthread_mutex_lock(&t->e->readers_mu);
    size_t slot = txn_range_slot_locked(t);
    pthread_mutex_unlock(&t->e->readers_mu);
    return slot;
}

static size_t txn_range_slot_locked(arm_txn *t) {
    if (!txn_tracks(t)) return (size_t)-1;
    if (t->nranges >= TXN_RANGES_MAX) {
        txn_read_all(t);
        return (size_t)-1;
    }
    if (t->nranges == t->cap_ranges) {
        size_t cap = t->cap_ranges ? t->cap_ranges * 2 : 4;
        txn_range *p = arm_realloc(t->ranges, cap * sizeof(*p));
        if (p == NULL) {
            txn_read_all(t);
            return (size_t)-1;
        }
        memset(p + t->cap_ranges, 0, (cap - t->cap_ranges) * sizeof(*p));
        t->ranges = p;
        t->cap_ranges = cap;
    }
    txn_range *r = &t->ranges[t->nranges];
    r->used = 0;
    return t->nranges++;
}

/* -1 when bound a (key ak, open side ainf) sorts before bound b. */
static int txn_bound_cmp(arm_slice a, int ainf, arm_slice b, int binf) {
    if (ainf != 0 || binf != 0) return ainf < binf ? -1 : ainf > binf;
    return arm_key_cmp(a.ptr, a.len, b.ptr, b.len);
}

static int txn_buf_set(arm_buf *b, arm_slice k) {
    if (arm_buf_reserve(b, k.len + 1) != ARM_OK) return ARM_NOMEM;
    if (k.len) memmove(b->ptr, k.ptr, k.len);
    b->len = k.len;
    return ARM_OK;
}

static void txn_note_range_locked(arm_txn *t, size_t slot, arm_slice lo, int lo_inf,
                                  arm_slice hi, int hi_inf);

void arm_txn_note_range(arm_txn *t, size_t slot, arm_slice lo, int lo_inf, arm_slice hi, int hi_inf) {
    if (!t->registered) {
        txn_note_range_locked(t, slot, lo, lo_inf, hi, hi_inf);
        return;
    }
    pthread_mutex_lock(&t->e->readers_mu);
    txn_note_range_locked(t, slot, lo, lo_inf, hi, hi_inf);
    pthread_mutex_unlock(&t->e->readers_mu);
}

static void txn_note_range_locked(arm_txn *t, size_t slot, arm_slice lo, int lo_inf,
                                  arm_slice hi, int hi_inf) {
    if (!txn_tracks(t) || slot >= t->nranges) return;
    if (t->state == TXN_PREPARED) t->reread = 1;
    txn_range *r = &t->ranges[slot];
    int rc = ARM_OK;
    if (!r->used || txn_bound_cmp(lo, lo_inf, arm_slice_make(r->lo.ptr, r->lo.len), r->lo_inf) < 0) {
        r->lo_inf = lo_inf;
        rc = lo_inf ? ARM_OK : txn_buf_set(&r->lo, lo);
    }
    if (rc == ARM_OK &&
        (!r->used || txn_bound_cmp(hi, hi_inf, arm_slice_make(r->hi.ptr, r->hi.len), r->hi_inf) > 0)) {
        r->hi_inf = hi_inf;
        rc = hi_inf ? ARM_OK : txn_buf_set(&r->hi, hi);
    }
    r->used = 1;
    if (rc != ARM_OK) txn_read_all(t);
}

/* ---------------------------------------------------------------- reads */
static int txn_usable(const arm_txn *t) {
    if (t->state == TXN_DONE)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "the transaction has ended");
    return ARM_OK;
}

int arm_txn_get(arm_txn *t, arm_slice key, arm_buf *value_out) {
    value_out->len = 0;
    int rc = txn_usable(t);
    if (rc != ARM_OK) return rc;
    arm_slice v;
    int deleted;
    if (arm_engine_batch_lookup(t->batch, key, &v, &deleted) == ARM_OK) {
        rc = arm_buf_reserve(value_out, v.len);
        if (rc != ARM_OK) return rc;
        if (v.len) memcpy(value_out->ptr, v.ptr, v.len);
        value_out->len = v.len;
        return ARM_OK;
    }
    if (deleted) return ARM_NOTFOUND;
    txn_note_key(t, key);
    return arm_engine_get_at(t->e, key, t->snap, value_out);
}

int arm_txn_contains(arm_txn *t, arm_slice key) {
    int rc = txn_usable(t);
    if (rc != ARM_OK) return rc;
    arm_slice v;
    int deleted;
    if (arm_engine_batch_lookup(t->batch, key, &v, &deleted) == ARM_OK) return ARM_OK;
    if (deleted) return ARM_NOTFOUND;
    if (key.len == 0 || key.len > t->e->opts.max_key_size) return ARM_NOTFOUND;
    txn_note_key(t, key);
    arm_engine *e = t->e;
    arm_shard *s = &e->shards[arm_engine_route(e, key.ptr, key.len)];
    arm_index_rdlock(&s->index_lock);
    arm_item *it = arm_index_get(s->index, key.ptr, key.len), loc;
    int vis = it ? arm_item_visible(s, it, t->snap, &loc) : 0;
    pthread_rwlock_unlock(&s->index_lock);
    if (vis < 0)
        return arm_engine_seterr(ARM_ERR(-vis), 0,
                                 "versions this snapshot needs were lost for lack of memory");
    return vis ? ARM_OK : ARM_NOTFOUND;
}

int arm_txn_cursor_open(arm_txn *t, arm_cursor **cursor_out) {
    *cursor_out = NULL;
    int rc = txn_usable(t);
    if (rc != ARM_OK) return rc;
    return arm_cursor_open_at(t->e, t->batch, t->snap, txn_tracks(t) ? t : NULL, cursor_out);
}

int arm_txn_cursor_open_untracked(arm_txn *t, arm_cursor **cursor_out) {
    *cursor_out = NULL;
    int rc = txn_usable(t);
    if (rc != ARM_OK) return rc;
    return arm_cursor_open_at(t->e, t->batch, t->snap, NULL, cursor_out);
}

/* --------------------------------------------------------------- writes */
static int txn_unprepare(arm_txn *t);

static int txn_writable(arm_txn *t) {
    int rc = txn_usable(t);
    if (rc != ARM_OK) return rc;
    if (t->flags & ARM_TXN_READONLY)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "a read-only transaction cannot write");
    if (t->e->opts.read_only)
        return arm_engine_seterr(ARM_ERR(ARM_READONLY), 0, "%s is open read-only", t->e->dir);
    if (atomic_load(&t->e->follower)) return arm_engine_refuse_follower(t->e);
    return t->state == TXN_PREPARED ? txn_unprepare(t) : ARM_OK;
}

int arm_txn_put(arm_txn *t, arm_slice key, arm_slice value) {
    int rc = txn_writable(t);
    if (rc != ARM_OK) return rc;
    if (value.ptr == NULL) value.ptr = (const uint8_t *)"";
    return arm_engine_batch_put(t->batch, key, value);
}

int arm_txn_delete(arm_txn *t, arm_slice key) {
    int rc = txn_writable(t);
    return rc != ARM_OK ? rc : arm_engine_batch_delete(t->batch, key);
}

size_t arm_txn_mark(const arm_txn *t) {
    return arm_engine_batch_mark(t->batch);
}

int arm_txn_rollback_to(arm_txn *t, size_t mark) {
    int rc = txn_usable(t);
    if (rc == ARM_OK && t->state == TXN_PREPARED && mark < arm_engine_batch_mark(t->batch))
        rc = txn_unprepare(t);
    if (rc == ARM_OK) arm_engine_batch_rollback_to(t->batch, mark);
    return rc;
}

/* ------------------------------------------------------------ validation */
/* 1 when an item conflicts with a transaction reading at snap: changed
 * after it (a newer version, a later delete kept as DEAD), or held by a
 * prepared transaction. */
static int txn_item_conflicts(const arm_item *it, uint64_t snap) {
    return it != NULL && (it->seq > snap || (it->flags & ARM_ITEM_INTENT));
}

/* A key this transaction writes (and so holds, and validated as a write). */
static int txn_writes_key(const arm_txn *t, const arm_item *it) {
    arm_slice v;
    int deleted = 0;
    return arm_engine_batch_lookup(t->batch, arm_slice_make(it->key, it->klen), &v, &deleted) ==
               ARM_OK ||
           deleted;
}

/* A read key's item conflicts, unless the key is one of ours. */
static int txn_read_conflicts(const arm_txn *t, const arm_item *it) {
    return txn_item_conflicts(it, t->snap) && !txn_writes_key(t, it);
}

static int txn_range_conflicts(arm_txn *t, const txn_range *r) {
    arm_engine *e = t->e;
    for (uint32_t i = 0; i < e->shard_count; i++) {
        arm_shard *s = &e->shards[i];
        arm_index_iter it;
        arm_item *item;
        if (arm_index_kind(s->index) == ARM_INDEX_HASH || r->lo_inf)
            item = arm_index_iter_first(s->index, &it);
        else
            item = arm_index_iter_seek(s->index, &it, r->lo.ptr, r->lo.len, ARM_SEEK_GE);
        for (; item != NULL; item = arm_index_iter_next(s->index, &it)) {
            arm_slice k = arm_slice_make(item->key, item->klen);
            if (!r->lo_inf && arm_key_cmp(k.ptr, k.len, r->lo.ptr, r->lo.len) < 0) continue;
            if (!r->hi_inf && arm_key_cmp(k.ptr, k.len, r->hi.ptr, r->hi.len) > 0) {
                if (arm_index_kind(s->index) == ARM_INDEX_HASH) continue;
                break;
            }
            if (txn_read_conflicts(t, item)) return 1;
        }
    }
    return 0;
}

/* Validate the read set; the caller holds a lock (read or write) on every
 * shard. 1 when something conflicts. */
static int txn_reads_conflict(arm_txn *t) {
    arm_engine *e = t->e;
    if (t->read_all) return 1; /* anything changed counts: the caller saw something did */
    size_t off = 0;
    for (size_t i = 0; i < t->nread; i++) {
        arm_slice k = arm_slice_make(t->rkeys.ptr + off, t->rklen[i]);
        off += t->rklen[i];
        arm_shard *s = &e->shards[arm_engine_route(e, k.ptr, k.len)];
        if (txn_read_conflicts(t, arm_index_get(s->index, k.ptr, k.len))) return 1;
    }
    for (size_t i = 0; i < t->nranges; i++)
        if (t->ranges[i].used && txn_range_conflicts(t, &t->ranges[i])) return 1;
    return 0;
}

static int txn_has_reads(const arm_txn *t) {
    if (t->read_all || t->nread) return 1;
    for (size_t i = 0; i < t->nranges; i++)
        if (t->ranges[i].used) return 1;
    return 0;
}

/* Lock the written shards (write), and with `all` every other shard (read). */
static void txn_lock(arm_engine *e, const uint8_t *mask, int all, int lock) {
    if (!all) {
        arm_lock_shards(e, mask, lock);
        return;
    }
    for (uint32_t k = 0; k < e->shard_count; k++) {
        uint32_t i = lock ? k : e->shard_count - 1 - k;
        int w = (mask[i / 8] >> (i % 8)) & 1;
        if (!lock)
            pthread_rwlock_unlock(&e->shards[i].index_lock);
        else if (w)
            arm_index_wrlock(&e->shards[i].index_lock);
        else
            arm_index_rdlock(&e->shards[i].index_lock);
    }
}

/* ------------------------------------------------------ registered readers */
static arm_slice txn_rsort_key(const arm_txn *t, size_t i) {
    return arm_slice_make(t->rkeys.ptr + t->rsort[2 * i], t->rsort[2 * i + 1]);
}

static const arm_txn *txn_sort_of; /* qsort has no context argument: readers_mu held */
static int txn_rsort_cmp(const void *a, const void *b) {
    const size_t *x = a, *y = b;
    const uint8_t *p = txn_sort_of->rkeys.ptr;
    return arm_key_cmp(p + x[0], x[1], p + y[0], y[1]);
}

/* Sort t's point reads for lookups, when enough of them are unsorted to pay
 * for it: at a writer's first look, not at registration, so a transaction no
 * writer ever looks at never sorts. readers_mu held. */
static void txn_rsort_build(arm_txn *t) {
    if (t->nread - t->nrsort <= 16) return;
    size_t *p = arm_realloc(t->rsort, 2 * t->nread * sizeof(size_t));
    if (p == NULL) return; /* the lookup stays linear */
    t->rsort = p;
    size_t off = 0;
    for (size_t i = 0; i < t->nread; i++) {
        p[2 * i] = off;
        p[2 * i + 1] = t->rklen[i];
        off += t->rklen[i];
    }
    txn_sort_of = t;
    qsort(p, t->nread, 2 * sizeof(size_t), txn_rsort_cmp);
    t->nrsort = t->nread;
    t->rsort_bytes = off;
}

/* 1 when t read key (a point read, a range its cursors passed over, a
 * delete of a key that was absent), or read everything. readers_mu held. */
static int txn_read_covers(arm_txn *t, arm_slice key) {
    if (t->read_all) return 1;
    txn_rsort_build(t);
    size_t lo = 0, hi = t->nrsort;
    while (lo < hi) { /* the sorted part */
        size_t mid = lo + (hi - lo) / 2;
        arm_slice m = txn_rsort_key(t, mid);
        int c = arm_key_cmp(m.ptr, m.len, key.ptr, key.len);
        if (c == 0) return 1;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    size_t off = t->rsort_bytes;
    for (size_t i = t->nrsort; i < t->nread; i++) { /* read after it registered */
        if (t->rklen[i] == key.len && memcmp(t->rkeys.ptr + off, key.ptr, key.len) == 0) return 1;
        off += t->rklen[i];
    }
    for (size_t i = 0; i < t->nranges; i++) {
        const txn_range *r = &t->ranges[i];
        if (!r->used) continue;
        if (!r->lo_inf && arm_key_cmp(key.ptr, key.len, r->lo.ptr, r->lo.len) < 0) continue;
        if (!r->hi_inf && arm_key_cmp(key.ptr, key.len, r->hi.ptr, r->hi.len) > 0) continue;
        return 1;
    }
    for (size_t i = 0; t->has_skips && i < t->nops; i++)
        if (t->ops[i].skip && arm_key_cmp(t->ops[i].key.ptr, t->ops[i].key.len, key.ptr, key.len) == 0)
            return 1;
    return 0;
}

/* Register t as a reader (before its reads are validated). */
static void txn_reader_register(arm_txn *t) {
    arm_engine *e = t->e;
    pthread_mutex_lock(&e->readers_mu);
    t->has_skips = 0;
    for (size_t i = 0; i < t->nops && !t->has_skips; i++) t->has_skips = t->ops[i].skip;
    if (!t->registered) {
        t->nrsort = 0;
        t->rsort_bytes = 0;
        t->rnext = e->readers;
        t->rprev = NULL;
        if (e->readers) e->readers->rprev = t;
        e->readers = t;
        t->registered = 1;
        atomic_fetch_add(&e->nreaders, 1);
    }
    pthread_mutex_unlock(&e->readers_mu);
}

static void txn_reader_unregister(arm_txn *t) {
    if (!t->registered) return;
    arm_engine *e = t->e;
    pthread_mutex_lock(&e->readers_mu);
    if (t->rprev) t->rprev->rnext = t->rnext;
    else e->readers = t->rnext;
    if (t->rnext) t->rnext->rprev = t->rprev;
    t->rnext = t->rprev = NULL;
    t->registered = 0;
    t->nrsort = 0;
    atomic_fetch_sub(&e->nreaders, 1);
    pthread_mutex_unlock(&e->readers_mu);
}

int arm_txn_read_by_other(arm_engine *e, const arm_wop *ops, size_t n, const arm_txn *self) {
    if (atomic_load(&e->nreaders) == 0) return 0;
    int hit = 0;
    pthread_mutex_lock(&e->readers_mu);
    for (arm_txn *r = e->readers; r != NULL && !hit; r = r->rnext) {
        if (r == self) continue; /* a group has one transaction per engine */
        for (size_t i = 0; i < n && !hit; i++)
            if (!ops[i].type) hit = txn_read_covers(r, ops[i].key);
    }
    pthread_mutex_unlock(&e->readers_mu);
    return hit;
}

/* --------------------------------------------------------------- intents */
/* Release what intents marking made: placeholders leave the index, holds on
 * existing items go. Write locks of ops' shards held. */
static void txn_release_intents(arm_engine *e, arm_wop *ops, size_t n) {
    for (size_t i = 0; i < n; i++) {
        arm_wop *op = &ops[i];
        if (op->item == NULL) continue;
        arm_shard *s = &e->shards[op->shard];
        if (op->created) {
            s->ndead--;
            arm_index_remove(s->index, op->item);
            s->ix_gen++;
        } else {
            op->item->flags &= (uint8_t)~ARM_ITEM_INTENT;
        }
        op->item = NULL;
        op->created = 0;
    }
}

/* Hold every key of ops: an existing item gets INTENT, a new key a DEAD
 * placeholder with INTENT. A delete of a key that does not exist is skipped.
 * Write locks held. ARM_OK or ARM_NOMEM (nothing held then). */
static int txn_hold(arm_engine *e, arm_wop *ops, size_t n) {
    int keep = atomic_load(&e->dom->nsnap) > 0;
    for (size_t i = 0; i < n; i++) {
        arm_wop *op = &ops[i];
        arm_shard *s = &e->shards[op->shard];
        op->created = 0;
        op->skip = 0;
        if (op->del) {
            op->item = arm_index_get(s->index, op->key.ptr, op->key.len);
            if (!arm_item_live(op->item)) {
                op->item = NULL;
                op->skip = 1;
                continue;
            }
        } else { /* one descent finds the key or makes its placeholder */
            int rc = arm_index_upsert(s->index, op->key.ptr, op->key.len, &op->item, &op->created);
            if (rc != ARM_OK) {
                op->item = NULL;
                txn_release_intents(e, ops, i);
                return arm_engine_seterr(rc, 0, "out of memory for the index");
            }
        }
        if (op->created) {
            op->item->flags = ARM_ITEM_DEAD;
            op->item->seq = 0;
            s->ndead++;
            s->ix_gen++;
        } else if (op->item->flags & ARM_ITEM_INTENT) { /* validation catches it; be sure */
            txn_release_intents(e, ops, i);
            op->item = NULL;
            return arm_engine_seterr(ARM_ERR(ARM_BUSY_SNAPSHOT), 0,
                                     "a key it writes is held by another transaction");
        } else if (keep) {
            arm_vs_reserve(s, s->vs.nspare + 1); /* so publishing seldom allocates */
        }
        op->item->flags |= ARM_ITEM_INTENT;
    }
    return ARM_OK;
}

/* The batch's latest record per key as ops, routed, with the shard mask. */
static int txn_build_ops(arm_txn *t) {
    arm_engine *e = t->e;
    size_t nrec = arm_engine_batch_mark(t->batch);
    memset(t->mask, 0, sizeof(t->mask));
    t->nops = 0;
    if (nrec == 0) return ARM_OK;
    if (t->cap_idx < nrec) {
        size_t *p = arm_realloc(t->idx, nrec * sizeof(size_t));
        if (p == NULL) return ARM_ERR(ARM_NOMEM);
        t->idx = p;
        t->cap_idx = nrec;
    }
    size_t *idx = t->idx;
    size_t n = arm_batch_latest(t->batch, idx);
    if (t->cap_ops < n) {
        arm_wop *p = arm_realloc(t->ops, n * sizeof(*p));
        if (p == NULL) return ARM_ERR(ARM_NOMEM);
        t->ops = p;
        t->cap_ops = n;
    }
    for (size_t i = 0; i < n; i++) {
        arm_wop *op = &t->ops[i];
        memset(op, 0, sizeof(*op));
        arm_batch_rec(t->batch, idx[i], &op->key, &op->value, &op->del);
        op->shard = arm_engine_route(e, op->key.ptr, op->key.len);
        t->mask[op->shard / 8] |= (uint8_t)(1u << (op->shard % 8));
    }
    t->nops = n;
    return ARM_OK;
}

/* ---------------------------------------- externally decided: tracking */
static arm_ext_track *txn_track_find(arm_engine *e, uint64_t id) {
    for (size_t i = 0; i < e->next_track; i++)
        if (e->ext_track[i].id == id) return &e->ext_track[i];
    return NULL;
}

static int txn_track_add(arm_engine *e, uint64_t id) {
    pthread_mutex_lock(&e->indoubt_lock);
    int rc = ARM_OK;
    if (e->next_track == e->cap_track) {
        size_t cap = e->cap_track ? e->cap_track * 2 : 16;
        arm_ext_track *p = arm_realloc(e->ext_track, cap * sizeof(*p));
        if (p == NULL) rc = ARM_ERR(ARM_NOMEM);
        else e->ext_track = p, e->cap_track = cap;
    }
    if (rc == ARM_OK) {
        memset(&e->ext_track[e->next_track], 0, sizeof(arm_ext_track));
        e->ext_track[e->next_track++].id = id;
    }
    pthread_mutex_unlock(&e->indoubt_lock);
    return rc;
}

/* decided: its record is at (shard, fid, end); or forget it (gone). */
static void txn_track_set(arm_engine *e, uint64_t id, int gone, uint32_t shard, uint32_t fid,
                          uint64_t end) {
    pthread_mutex_lock(&e->indoubt_lock);
    arm_ext_track *k = txn_track_find(e, id);
    if (k && gone) {
        *k = e->ext_track[--e->next_track];
    } else if (k) {
        k->shard = shard;
        k->fid = fid;
        k->end = end;
        k->decided = 1;
    }
    pthread_mutex_unlock(&e->indoubt_lock);
}

int arm_engine_txn_durable(arm_engine *e, uint64_t id) {
    pthread_mutex_lock(&e->indoubt_lock);
    arm_ext_track *k = txn_track_find(e, id);
    int durable = k == NULL;
    if (k && k->decided) {
        arm_shard *s = &e->shards[k->shard];
        arm_log_lock(&s->log_lock); /* lock order: indoubt_lock is taken on its own */
        durable = s->active == NULL || s->active->fid != k->fid || s->synced_off >= k->end;
        pthread_mutex_unlock(&s->log_lock);
        if (durable) *k = e->ext_track[--e->next_track];
    }
    pthread_mutex_unlock(&e->indoubt_lock);
    return durable;
}

/* ------------------------------------------------------------- prepare */
/* A prepare holds every key it writes before it validates anything it read:
 * of two transactions that each read what the other writes, one then sees
 * the other's hold (serializability across engines, where no lock spans
 * both). Phases, for every transaction of a group: count itself as
 * preparing; hold its writes (and validate them); validate its reads;
 * append. */

/* A transaction stops counting as preparing (failed, or nothing to hold). */
static void txn_unprepared(arm_txn *t) {
    if (!t->counted) return;
    t->counted = 0;
    atomic_fetch_sub(&t->e->nprepared, 1);
    arm_domain_prepared_add(t->e->dom, -1);
}

/* Nothing published on the engine since the snapshot, and no one else
 * preparing there: nothing to validate. Read under the locks the caller
 * holds: an installer stores last_pub before it installs and holds its locks
 * while it does, so what it put in our shards is seen here or not there yet;
 * and every preparer counts itself in nprepared before it looks, so of two
 * concurrent ones each sees the other. */
static int txn_quiet(const arm_txn *t) {
    return atomic_load(&t->e->last_pub) <= t->snap &&
           atomic_load(&t->e->nprepared) == (uint32_t)t->counted;
}

/* Phase 2: validate the keys it writes and hold them. */
static int txn_hold_writes(arm_txn *t) {
    arm_engine *e = t->e;
    int rc = ARM_OK;
    arm_lock_shards(e, t->mask, 1);
    if (!txn_quiet(t)) {
        for (size_t i = 0; i < t->nops && rc == ARM_OK; i++) {
            arm_wop *op = &t->ops[i];
            arm_shard *s = &e->shards[op->shard];
            if (txn_item_conflicts(arm_index_get(s->index, op->key.ptr, op->key.len), t->snap))
                rc = txn_busy(t, "a key it writes was changed by another transaction after it "
                                 "began");
        }
    }
    if (rc == ARM_OK) rc = txn_hold(e, t->ops, t->nops);
    arm_lock_shards(e, t->mask, 0);
    if (rc == ARM_OK) t->held = 1;
    /* After the hold (so that a reader validating later sees it): a key a
     * registered reader of another transaction read. */
    if (rc == ARM_OK && arm_txn_read_by_other(e, t->ops, t->nops, t))
        rc = arm_engine_seterr(ARM_ERR(ARM_BUSY), 0,
                               "a key it writes was read by a transaction that is committing in "
                               "%s; retry", e->dir);
    return rc;
}

/* Phase 3: validate what it read (its own held keys excepted). */
static int txn_check_reads(arm_txn *t) {
    if (!txn_has_reads(t)) return ARM_OK;
    arm_engine *e = t->e;
    uint8_t none[ARM_SHARDS_MAX / 8];
    memset(none, 0, sizeof(none));
    txn_lock(e, none, 1, 1); /* reads may be anywhere: every shard, read-locked, in order */
    int rc = ARM_OK;
    if (!txn_quiet(t) && txn_reads_conflict(t))
        rc = txn_busy(t, "something it read was changed by another transaction after it began");
    txn_lock(e, none, 1, 0);
    return rc;
}

/* Phase 4: write the batch (invisible) to the log. */
static int txn_append(arm_txn *t, const arm_txn_ext *ext) {
    arm_engine *e = t->e;
    size_t live = 0;
    uint64_t total = ext ? ARM_TXNINFO_BYTES : 0;
    for (size_t i = 0; i < t->nops; i++) {
        if (t->ops[i].skip) continue;
        if (live == 0) t->coord = t->ops[i].shard;
        live++;
        total += arm_entry_size(t->ops[i].key.len, t->ops[i].del ? 0 : t->ops[i].value.len);
    }
    if (live == 0) return ARM_OK; /* only deletes of absent keys: nothing to write */
    if (total + ARM_FILE_HEADER_SIZE > e->opts.max_file_size)
        return arm_engine_seterr(ARM_ERR(ARM_FULL), 0,
                                 "transaction of %llu bytes does not fit in one data file "
                                 "(max_file_size)",
                                 (unsigned long long)total);
    arm_shard *s = &e->shards[t->coord];
    arm_log_lock(&s->log_lock);
    int rc = atomic_load(&e->panic)
                 ? arm_engine_seterr(ARM_PANIC, 0, "an earlier write or sync failed; reopen %s", e->dir)
                 : arm_log_append(e, s, t->ops, t->nops, live, total, ext ? ext->owner : NULL,
                                  &t->seq, &t->fid, &t->end);
    /* Undecided until publish or discard; registered before the log mutex
     * goes, so a log reader that sees the bytes sees this too. */
    if (rc == ARM_OK) arm_outcome_pending_add(e, &t->pend, t->seq, t->coord);
    pthread_mutex_unlock(&s->log_lock);
    /* Decided elsewhere: tracked until its outcome is durable, and the
     * entries must be durable before that decision is taken. */
    if (rc == ARM_OK && ext) rc = txn_track_add(e, t->seq);
    if (rc == ARM_OK && ext) rc = arm_shard_sync_to(e, s, t->fid, t->end);
    return rc;
}

/* Take back a prepare: an abort record for its batch (fdatasync'd: the
 * batch may be durable, and a reopen must never apply it), then its keys
 * and its reader registration go. ARM_OK, or the error of the abort record
 * (the engine is poisoned then: a reopen could apply the batch). */
static int txn_take_back(arm_txn *t) {
    arm_engine *e = t->e;
    int rc = ARM_OK;
    if (t->seq) {
        arm_shard *s = &e->shards[t->coord];
        uint32_t fid = 0;
        uint64_t end = 0;
        rc = arm_log_decision(e, s, t->seq, ARM_DECISION_ABORT, &fid, &end);
        if (rc == ARM_OK) rc = arm_shard_sync_to(e, s, fid, end);
        if (rc != ARM_OK) atomic_store(&e->panic, 1);
        if (t->ext) txn_track_set(e, t->seq, 1, 0, 0, 0);
        arm_outcome_resolve(e, &t->pend, 1);
        t->seq = 0;
    }
    if (t->held) {
        arm_lock_shards(e, t->mask, 1);
        txn_release_intents(e, t->ops, t->nops);
        arm_lock_shards(e, t->mask, 0);
        t->held = 0;
    }
    txn_reader_unregister(t);
    txn_unprepared(t);
    return rc;
}

int arm_txn_prepare_group(arm_txn *const *txns, size_t n, const arm_txn_ext *const *ext) {
    int rc = ARM_OK;
    for (size_t i = 0; i < n && rc == ARM_OK; i++) {
        arm_txn *t = txns[i];
        rc = txn_usable(t);
        if (rc == ARM_OK && t->state != TXN_PREPARED && arm_engine_batch_mark(t->batch)) {
            if (t->e->opts.read_only)
                rc = arm_engine_seterr(ARM_ERR(ARM_READONLY), 0, "%s is open read-only", t->e->dir);
            else if (atomic_load(&t->e->follower))
                rc = arm_engine_refuse_follower(t->e);
        }
    }
    if (rc != ARM_OK) return rc;
    /* Phase 1: everyone that writes counts itself as preparing, first. */
    for (size_t i = 0; i < n && rc == ARM_OK; i++) {
        arm_txn *t = txns[i];
        if (t->state == TXN_PREPARED) continue;
        t->seq = 0;
        t->ext = ext && ext[i];
        t->nops = 0;
        if (arm_engine_batch_mark(t->batch) == 0) continue;
        atomic_fetch_add(&t->e->nprepared, 1);
        arm_domain_prepared_add(t->e->dom, 1);
        t->counted = 1;
        rc = txn_build_ops(t);
    }
    int writes = 0;
    for (size_t i = 0; i < n && rc == ARM_OK; i++) {
        if (txns[i]->state == TXN_PREPARED || txns[i]->nops == 0) continue;
        writes = 1;
        rc = txn_hold_writes(txns[i]);
    }
    for (size_t i = 0; i < n; i++)
        writes |= txns[i]->state == TXN_PREPARED && txns[i]->seq != 0;
    /* A group that writes is a reader for others' writes from now until it
     * is published or discarded (see the top of the file). */
    for (size_t i = 0; i < n && rc == ARM_OK && writes; i++) {
        arm_txn *t = txns[i];
        int skips = 0;
        for (size_t j = 0; j < t->nops && !skips; j++) skips = t->ops[j].skip;
        if ((t->state != TXN_PREPARED || t->reread) && (txn_has_reads(t) || skips))
            txn_reader_register(t);
    }
    /* Reads matter only to a group that writes: one that only reads saw one
     * consistent snapshot, which is all it needs. One prepared before (a
     * retried SQL COMMIT) that read more since is validated again. */
    for (size_t i = 0; i < n && rc == ARM_OK && writes; i++)
        if (txns[i]->state != TXN_PREPARED || txns[i]->reread) rc = txn_check_reads(txns[i]);
    if (rc == ARM_OK)
        for (size_t i = 0; i < n; i++) txns[i]->reread = 0;
    for (size_t i = 0; i < n && rc == ARM_OK; i++)
        if (txns[i]->state != TXN_PREPARED && txns[i]->nops)
            rc = txn_append(txns[i], ext ? ext[i] : NULL);
    if (rc != ARM_OK) {
        char msg[ARM_ERRMSG_MAX];
        int err;
        arm_engine_saveerr(msg, &err);
        for (size_t i = 0; i < n; i++)
            if (txns[i]->state != TXN_PREPARED) (void)txn_take_back(txns[i]);
        arm_engine_restoreerr(msg, err);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        arm_txn *t = txns[i];
        if (t->state == TXN_PREPARED) continue;
        if (t->seq == 0) txn_unprepared(t); /* nothing written: holds nothing */
        if (t->seq == 0 && t->held) {
            arm_lock_shards(t->e, t->mask, 1);
            txn_release_intents(t->e, t->ops, t->nops);
            arm_lock_shards(t->e, t->mask, 0);
            t->held = 0;
        }
        t->state = TXN_PREPARED;
    }
    return ARM_OK;
}

int arm_txn_prepare(arm_txn *t, const arm_txn_ext *ext) {
    return arm_txn_prepare_group(&t, 1, &ext);
}

/* ------------------------------------------------------------- publish */
static int txn_engine_cmp(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)(*(arm_txn *const *)a)->e, y = (uintptr_t)(*(arm_txn *const *)b)->e;
    return x < y ? -1 : x > y;
}

/* Install a prepared set of ops at stamp (their shards' write locks held). */
static void txn_install(arm_engine *e, arm_wop *ops, size_t n, uint64_t stamp, uint32_t fid) {
    /* last_pub first: a prepare that takes one of these locks after us must
     * see it (txn_validate_and_hold). Then nsnap, after the stamp. */
    uint64_t cur = atomic_load(&e->last_pub);
    while (cur < stamp && !atomic_compare_exchange_weak(&e->last_pub, &cur, stamp)) {
    }
    int keep = atomic_load(&e->dom->nsnap) > 0;
    for (size_t i = 0; i < n; i++) {
        arm_wop *op = &ops[i];
        if (op->skip || op->item == NULL) continue;
        arm_install(e, op->shard, op->item, op->created, op->del, stamp, fid, (uint32_t)op->off,
                    op->len, keep);
        op->item = NULL;
    }
}

/* Prune the written shards' version stores while their write locks are
 * still held (cheap when nothing is kept). */
static void txn_gc(arm_engine *e, const uint8_t *mask) {
    for (uint32_t i = 0; i < e->shard_count; i++)
        if ((mask[i / 8] >> (i % 8)) & 1) arm_vs_gc(e, &e->shards[i], 0);
}

int arm_txn_publish(arm_txn *const *txns_in, size_t n) {
    enum { TXN_GROUP_MAX = 64 };
    if (n == 0) return ARM_OK;
    if (n > TXN_GROUP_MAX)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "too many transactions published at once");
    arm_txn *txns[TXN_GROUP_MAX];
    memcpy(txns, txns_in, n * sizeof(*txns));
    qsort(txns, n, sizeof(*txns), txn_engine_cmp); /* one lock order for everyone */
    for (size_t i = 0; i < n; i++) {
        if (txns[i]->state != TXN_PREPARED || (i && txns[i]->e == txns[i - 1]->e) ||
            txns[i]->e->dom != txns[0]->e->dom)
            return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                     "publish: not prepared, or two of one engine, or domains "
                                     "differ");
    }
    int rc = ARM_OK;
    /* Done reading: a snapshot still registered would make every install
     * below keep the version it replaces. */
    for (size_t i = 0; i < n; i++) arm_snapshot_drop(&txns[i]->own);
    /* Decided externally: the commit record, before anything is visible.
     * If it fails the decision is still the application's, which recovery
     * will ask for; the engine is poisoned. */
    for (size_t i = 0; i < n; i++) {
        arm_txn *t = txns[i];
        if (!t->ext || t->seq == 0) continue;
        uint32_t fid;
        uint64_t end;
        int r = arm_log_decision(t->e, &t->e->shards[t->coord], t->seq, ARM_DECISION_COMMIT, &fid,
                                 &end);
        if (r != ARM_OK) {
            atomic_store(&t->e->panic, 1);
            if (rc == ARM_OK) rc = r;
        } else {
            txn_track_set(t->e, t->seq, 0, t->coord, fid, end);
        }
    }
    for (size_t i = 0; i < n; i++) arm_lock_shards(txns[i]->e, txns[i]->mask, 1);
    uint64_t stamp = arm_domain_next_seq(txns[0]->e->dom);
    if (ARM_NEVER(stamp == 0)) stamp = ARM_SEQ_MAX - 1;
    for (size_t i = 0; i < n; i++) {
        if (txns[i]->seq == 0) continue;
        txn_install(txns[i]->e, txns[i]->ops, txns[i]->nops, stamp, txns[i]->fid);
        txn_gc(txns[i]->e, txns[i]->mask);
    }
    for (size_t i = n; i-- > 0;) arm_lock_shards(txns[i]->e, txns[i]->mask, 0);
    for (size_t i = 0; i < n; i++) {
        if (txns[i]->seq) arm_outcome_resolve(txns[i]->e, &txns[i]->pend, 0);
        txn_reader_unregister(txns[i]); /* visible now: its writes are ordered after it */
    }
    for (size_t i = 0; i < n; i++) {
        arm_txn *t = txns[i];
        t->held = 0;
        txn_unprepared(t);
        t->state = TXN_DONE;
        arm_engine_batch_clear(t->batch);
    }
    /* sync=full: durable before returning, and so is everything published
     * before (the commit may depend on it): sync every shard with unsynced
     * bytes. Concurrent committers share each fdatasync. */
    for (size_t i = 0; i < n; i++) {
        arm_txn *t = txns[i];
        if (t->seq == 0 || t->e->opts.sync_mode != ARM_SYNC_FULL) continue;
        int r = arm_engine_flush(t->e);
        if (r != ARM_OK && rc == ARM_OK) rc = r;
    }
    return rc;
}

int arm_txn_commit(arm_txn *t) {
    int rc = arm_txn_prepare(t, NULL);
    if (rc != ARM_OK) return rc;
    return arm_txn_publish(&t, 1);
}

/* ------------------------------------------------------------- discard */
/* Abort a prepared transaction's log records and release its keys; the
 * writes stay in the batch. */
static int txn_unprepare(arm_txn *t) {
    txn_reader_unregister(t);
    if (t->state != TXN_PREPARED) return ARM_OK;
    int rc = txn_take_back(t);
    t->state = TXN_ACTIVE;
    return rc;
}

int arm_txn_unprepare(arm_txn *t) {
    return txn_unprepare(t);
}

int arm_txn_discard(arm_txn *t) {
    if (t->state == TXN_DONE) return ARM_OK;
    int rc = txn_unprepare(t);
    arm_engine_batch_clear(t->batch);
    txn_reads_clear(t);
    t->state = TXN_DONE;
    return rc;
}

/* ------------------------------------------------------------ in doubt */
void arm_txn_indoubt_free(arm_engine *e) {
    arm_free(e->ext_track);
    e->ext_track = NULL;
    e->next_track = e->cap_track = 0;
    arm_indoubt_txn *d = e->indoubt;
    while (d) {
        arm_indoubt_txn *next = d->next;
        arm_free(d->ops);
        arm_free(d->keys);
        arm_free(d);
        d = next;
    }
    e->indoubt = NULL;
}

int arm_txn_indoubt_add(arm_engine *e, uint64_t id, const uint8_t *owner, uint32_t coord,
                        uint32_t fid, arm_wop *ops, size_t nops, uint8_t *keys) {
    arm_indoubt_txn *d = arm_calloc(1, sizeof(*d));
    if (d == NULL) return ARM_ERR(ARM_NOMEM);
    d->id = id;
    memcpy(d->owner, owner, 16);
    d->coord = coord;
    d->fid = fid;
    d->ops = ops;
    d->nops = nops;
    d->keys = keys;
    arm_outcome_pending_add(e, &d->pend, id, coord);
    pthread_mutex_lock(&e->indoubt_lock);
    d->next = e->indoubt;
    e->indoubt = d;
    pthread_mutex_unlock(&e->indoubt_lock);
    return ARM_OK;
}

int arm_txn_indoubt_hold(arm_engine *e) {
    int rc = ARM_OK;
    pthread_mutex_lock(&e->indoubt_lock);
    for (arm_indoubt_txn *d = e->indoubt; d && rc == ARM_OK; d = d->next) {
        memset(d->mask, 0, sizeof(d->mask));
        for (size_t i = 0; i < d->nops; i++)
            d->mask[d->ops[i].shard / 8] |= (uint8_t)(1u << (d->ops[i].shard % 8));
        arm_lock_shards(e, d->mask, 1);
        rc = txn_hold(e, d->ops, d->nops);
        arm_lock_shards(e, d->mask, 0);
        if (rc == ARM_OK) atomic_fetch_add(&e->nprepared, 1);
    }
    pthread_mutex_unlock(&e->indoubt_lock);
    return rc;
}

int arm_engine_indoubt_list(arm_engine *e, arm_indoubt **list_out, size_t *n_out) {
    *list_out = NULL;
    *n_out = 0;
    pthread_mutex_lock(&e->indoubt_lock);
    size_t n = 0;
    for (arm_indoubt_txn *d = e->indoubt; d; d = d->next) n++;
    arm_indoubt *list = n ? arm_calloc(n, sizeof(*list)) : NULL;
    if (n && list == NULL) {
        pthread_mutex_unlock(&e->indoubt_lock);
        return ARM_ERR(ARM_NOMEM);
    }
    size_t i = 0;
    for (arm_indoubt_txn *d = e->indoubt; d; d = d->next, i++) {
        list[i].id = d->id;
        memcpy(list[i].owner, d->owner, 16);
        list[i].nkeys = (uint32_t)d->nops;
    }
    pthread_mutex_unlock(&e->indoubt_lock);
    *list_out = list;
    *n_out = n;
    return ARM_OK;
}

int arm_engine_indoubt_resolve(arm_engine *e, uint64_t id, int commit) {
    if (e->opts.read_only)
        return arm_engine_seterr(ARM_ERR(ARM_READONLY), 0, "%s is open read-only", e->dir);
    pthread_mutex_lock(&e->indoubt_lock);
    arm_indoubt_txn **pp = &e->indoubt;
    while (*pp && (*pp)->id != id) pp = &(*pp)->next;
    arm_indoubt_txn *d = *pp;
    if (d == NULL) {
        pthread_mutex_unlock(&e->indoubt_lock);
        return ARM_NOTFOUND;
    }
    /* The decision, durably, first: then the keys can go. */
    arm_shard *s = &e->shards[d->coord];
    uint32_t fid = 0;
    uint64_t end = 0;
    int rc = arm_log_decision(e, s, id, commit ? ARM_DECISION_COMMIT : ARM_DECISION_ABORT, &fid, &end);
    if (rc == ARM_OK) rc = arm_shard_sync_to(e, s, fid, end);
    if (rc != ARM_OK) {
        pthread_mutex_unlock(&e->indoubt_lock);
        return rc;
    }
    *pp = d->next;
    arm_lock_shards(e, d->mask, 1);
    if (commit) {
        uint64_t stamp = arm_domain_next_seq(e->dom);
        if (ARM_NEVER(stamp == 0)) stamp = ARM_SEQ_MAX - 1;
        uint64_t cur = atomic_load(&e->last_pub);
        while (cur < stamp && !atomic_compare_exchange_weak(&e->last_pub, &cur, stamp)) {
        }
        int keep = atomic_load(&e->dom->nsnap) > 0;
        for (size_t i = 0; i < d->nops; i++) {
            arm_wop *op = &d->ops[i];
            if (op->skip || op->item == NULL) continue;
            arm_install(e, op->shard, op->item, op->created, op->del, stamp, d->fid,
                        (uint32_t)op->off, op->len, keep);
            op->item = NULL;
        }
    } else {
        txn_release_intents(e, d->ops, d->nops);
    }
    arm_lock_shards(e, d->mask, 0);
    atomic_fetch_sub(&e->nprepared, 1); /* in-doubt ones count there: they hold keys */
    pthread_mutex_unlock(&e->indoubt_lock);
    arm_outcome_resolve(e, &d->pend, !commit);
    arm_free(d->ops);
    arm_free(d->keys);
    arm_free(d);
    return ARM_OK;
}

#undef TXN_READS_MAX
#undef TXN_RANGES_MAX
#undef TXN_KEYBYTES_MAX
