/* SPDX-License-Identifier: MIT */
/*
 * recover.c: rebuild the index at open by reading every shard's data files
 * (or their hint files) in file-id order. For each key the entry with the
 * highest sequence number wins (tombstones are kept as DEAD items until the
 * end, so an older put in another shard's file cannot resurrect a deleted
 * key). A batch is applied only when its TXN_END entry is read. Since the
 * winner does not depend on the order entries are applied in, the entries a
 * shard's files hold for its own index are collected and applied in key order
 * once its files are read: an ordered index then grows at its right edge
 * instead of taking a cache miss per level for every entry.
 *
 * Damage is never silent. In a shard's newest file a bad or incomplete entry
 * with nothing valid at any later offset is a torn write: the file is cut
 * there and appends resume at that offset. Any other bad entry (one a good
 * entry follows, or one in an older file) is ARM_CORRUPT naming the file and
 * the damaged entry's own offset; opened read-only, the engine reads on past
 * each damaged stretch and serves everything intact (not the batch it cuts).
 *
 * Two-phase transactions (txn.c): a batch that opens with a TXNINFO entry
 * was decided outside the engine; it is parked until a DECISION record for
 * its sequence number says COMMIT (its entries are collected then) or ABORT
 * (dropped), and one with neither is in doubt after recovery: invisible, its
 * keys held (arm_engine_indoubt_*). Any other batch is collected when
 * complete (its prepare was its decision) unless a later ABORT record names
 * it: then its collected entries are dropped before anything is applied.
 * Shards are read in parallel with all of this per thread, because a batch,
 * its DECISION or ABORT record and its TXNINFO all lie in one shard's log
 * (the shard of the batch's first key, txn.c's coord), in that order: what a
 * shard's files decide is known once they are read, before the shard's
 * entries are applied; entries for other shards' indexes wait for every
 * thread, already filtered the same way. REPL_POS entries are noted as read
 * (arm_repl_note keeps each leader shard's newest, whichever thread is
 * first). Hint records carry the values of these three kinds, so a hinted
 * file decides exactly what the file itself would.
 * Layer: engine, below engine.c (which runs it at open) and above shard.c
 * (arm_shard_resume, arm_shard_new_file) and file.c, through which it lists,
 * opens, views, sets aside and removes data files.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct rec_pending {
    uint64_t off;
    arm_entry_hdr h;
    const uint8_t *key;    /* the value follows it (in the data file, or the hint record) */
} rec_pending;

/* An externally decided batch waiting for its DECISION record. */
typedef struct rec_parked {
    uint64_t seq;
    uint32_t fid, shard;   /* where it lives */
    uint8_t owner[16];
    rec_pending *ents;     /* its data entries */
    size_t n;
    uint8_t *keys;         /* NULL while ents' keys point into the shard's views; copies
                              (ents point here) once the shard is read and it is in doubt */
    struct rec_parked *next;
} rec_parked;

/* An entry to apply, collected while a shard's files are read. */
typedef struct rec_op {
    uint64_t pfx;          /* first 8 key bytes, big-endian, zero-padded: sorts as the key */
    const uint8_t *key;    /* into a view of the shard's files (mapped until applied) */
    uint64_t seq;
    uint32_t fid, off, vlen;
    uint16_t klen;
    uint8_t type, flags;
} rec_op;

/* A view a collected key points into, unmapped once the ops are applied. */
typedef struct rec_view {
    const uint8_t *p;
    uint64_t n;
} rec_view;

typedef struct rec_state {
    arm_engine *e;
    rec_pending *pend; /* entries of a batch whose TXN_END is not yet seen */
    size_t npend, cap;
    uint64_t max_seq;
    uint32_t shard;    /* the shard whose files are being read */
    rec_op *ops;       /* entries for that shard's own index, applied in key order */
    size_t nops, capops;
    rec_op *xops;      /* entries for other shards' indexes (batches), keys in xkeys */
    size_t nxops, capxops;
    arm_buf xkeys;     /* keys of xops, appended: xops[i].key is an offset until applied */
    rec_view *views;
    size_t nviews, capviews;
    uint32_t max_fid;  /* highest data-file id seen */
    uint64_t hinted, scanned; /* files read from their hint / whole */
    rec_parked *parked;  /* the current shard's externally decided batches, undecided yet */
    rec_parked *indoubt; /* those its shard's files never decided (keys copied) */
    uint64_t *aborted;   /* batches an ABORT record names that were not parked, sorted
                            before use: their collected entries are dropped */
    size_t naborted, cap_aborted;
    int aborted_sorted;  /* aborted[0..naborted) is in order */
    arm_log_pos last;    /* just past the last whole entry or batch read */
} rec_state;

static int rec_apply(rec_state *st, uint32_t fid, uint64_t off, const arm_entry_hdr *h,
                     const uint8_t *key) {
    arm_engine *e = st->e;
    uint32_t len = arm_entry_size(h->klen, h->vlen);
    if (h->seq > st->max_seq) st->max_seq = h->seq;
    uint32_t t = arm_engine_route(e, key, h->klen);
    arm_index *idx = e->shards[t].index;
    arm_item *it;
    int created;
    int rc = arm_index_upsert(idx, key, h->klen, &it, &created);
    if (rc != ARM_OK) return arm_engine_seterr(rc, 0, "out of memory rebuilding the index");
    int is_del = h->type == ARM_ENTRY_DEL;
    if (!created && h->seq <= it->seq) {
        arm_file_add_dead(e, fid, t, len); /* an older version: superseded already */
        return ARM_OK;
    }
    if (!created && !(it->flags & ARM_ITEM_DEAD)) arm_file_add_dead(e, it->fid, t, it->len);
    if (is_del) arm_file_add_dead(e, fid, t, len);
    it->seq = h->seq;
    it->fid = fid;
    it->off = (uint32_t)off;
    it->len = len;
    it->flags = is_del ? ARM_ITEM_DEAD : 0;
    return ARM_OK;
}

/* ------------------------------------------------ collected, then applied */
static uint64_t rec_pfx(const uint8_t *key, size_t klen) {
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) v = v << 8 | (i < klen ? key[i] : 0);
    return v;
}

static int rec_grow(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return ARM_OK;
    size_t n = *cap ? *cap : 1024;
    while (n < need) n *= 2;
    void *q = arm_realloc(*p, n * size);
    if (q == NULL) return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "out of memory rebuilding the index");
    *p = q;
    *cap = n;
    return ARM_OK;
}

/* Entry (fid, off, h, key) is to be applied: collect it. Nothing is applied
 * before the shard's files are all read, for either index kind: an ABORT
 * record later in them may still drop it. An entry for another shard's index
 * waits until every shard is read: shards are read by several threads, each
 * touching its own index. */
static int rec_emit(rec_state *st, uint32_t fid, uint64_t off, const arm_entry_hdr *h,
                    const uint8_t *key) {
    arm_engine *e = st->e;
    uint32_t t = arm_engine_route(e, key, h->klen);
    rec_op op = {rec_pfx(key, h->klen), key, h->seq, fid, (uint32_t)off, h->vlen, h->klen,
                 h->type, h->flags};
    if (t == st->shard) {
        int rc = rec_grow((void **)&st->ops, &st->capops, st->nops + 1, sizeof(rec_op));
        if (rc == ARM_OK) st->ops[st->nops++] = op;
        return rc;
    }
    /* A batch member for another shard's index: rare, so its key is copied
     * and it is applied after every shard is read. */
    int rc = rec_grow((void **)&st->xops, &st->capxops, st->nxops + 1, sizeof(rec_op));
    if (rc == ARM_OK) rc = arm_buf_reserve(&st->xkeys, st->xkeys.len + h->klen);
    if (rc != ARM_OK) return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "out of memory rebuilding the index");
    op.key = (const uint8_t *)(uintptr_t)st->xkeys.len;
    memcpy(st->xkeys.ptr + st->xkeys.len, key, h->klen);
    st->xkeys.len += h->klen;
    st->xops[st->nxops++] = op;
    return ARM_OK;
}

static int rec_op_cmp(const rec_op *a, const rec_op *b) {
    if (a->pfx != b->pfx) return a->pfx < b->pfx ? -1 : 1;
    return arm_key_cmp(a->key, a->klen, b->key, b->klen);
}

static int rec_op_qcmp(const void *a, const void *b) {
    return rec_op_cmp(a, b);
}

/* Sort ops[0..n) by key: in-place most-significant-byte radix sort on pfx
 * (no second array: collected entries can be most of the index's size),
 * small buckets by insertion, equal-prefix buckets by a full comparison. An
 * explicit stack of at most 8 levels of 256 buckets instead of recursion. */
#define REC_SORT_SMALL 24
static void rec_sort(rec_op *ops, size_t n) {
    struct { size_t lo, hi; int byte; } stack[8 * 256 + 1];
    size_t top = 0;
    stack[top].lo = 0, stack[top].hi = n, stack[top].byte = 7, top++;
    while (top > 0) {
        top--;
        size_t lo = stack[top].lo, hi = stack[top].hi;
        int byte = stack[top].byte;
        if (hi - lo <= REC_SORT_SMALL) {
            for (size_t i = lo + 1; i < hi; i++) {
                rec_op t = ops[i];
                size_t j = i;
                for (; j > lo && rec_op_cmp(&ops[j - 1], &t) > 0; j--) ops[j] = ops[j - 1];
                ops[j] = t;
            }
            continue;
        }
        if (byte < 0) { /* every prefix byte equal: the keys decide */
            qsort(ops + lo, hi - lo, sizeof(rec_op), rec_op_qcmp);
            continue;
        }
        size_t count[256] = {0}, next[256], end[256];
        int shift = byte * 8;
        for (size_t i = lo; i < hi; i++) count[(ops[i].pfx >> shift) & 0xff]++;
        size_t at = lo;
        for (int b = 0; b < 256; b++) {
            next[b] = at;
            at += count[b];
            end[b] = at;
        }
        for (int b = 0; b < 256; b++) { /* American flag sort: swap into place */
            while (next[b] < end[b]) {
                rec_op t = ops[next[b]];
                int d = (int)((t.pfx >> shift) & 0xff);
                while (d != b) {
                    rec_op u = ops[next[d]];
                    ops[next[d]++] = t;
                    t = u;
                    d = (int)((t.pfx >> shift) & 0xff);
                }
                ops[next[b]++] = t;
            }
        }
        at = lo;
        for (int b = 0; b < 256; b++) {
            size_t blo = at;
            at += count[b];
            if (count[b] > 1) {
                assert(top < sizeof(stack) / sizeof(stack[0]));
                stack[top].lo = blo, stack[top].hi = at, stack[top].byte = byte - 1, top++;
            }
        }
    }
}
#undef REC_SORT_SMALL

static int rec_apply_ops(rec_state *st, rec_op *ops, size_t n, const uint8_t *keybase) {
    int rc = ARM_OK;
    for (size_t i = 0; i < n && rc == ARM_OK; i++) {
        const rec_op *op = &ops[i];
        arm_entry_hdr h = {0, op->type, op->flags, op->klen, op->vlen, op->seq};
        const uint8_t *key = keybase ? keybase + (uintptr_t)op->key : op->key;
        /* In key order the keys sit all over the views: a key of up to 8
         * bytes is its prefix, so it is rebuilt instead of fetched (a cache
         * miss per entry), and a longer one is fetched ahead. */
        uint8_t small[8];
        if (op->klen <= 8) {
            for (int b = 0; b < 8; b++) small[b] = (uint8_t)(op->pfx >> (56 - 8 * b));
            key = small;
        } else if (i + 8 < n && !keybase) {
            __builtin_prefetch(ops[i + 8].key);
        }
        rc = rec_apply(st, op->fid, op->off, &h, key);
    }
    return rc;
}

/* ----------------------------------------------------- decided elsewhere */
static int rec_is_aborted(rec_state *st, uint64_t seq) {
    if (st->naborted == 0) return 0;
    if (!st->aborted_sorted) {
        qsort(st->aborted, st->naborted, sizeof(uint64_t), arm_u64_cmp);
        st->aborted_sorted = 1;
    }
    return bsearch(&seq, st->aborted, st->naborted, sizeof(uint64_t), arm_u64_cmp) != NULL;
}

/* Count n bytes of file fid as dead on behalf of the shard whose log it is
 * (what a worker may touch: its own shard's files, or anything after the
 * threads are joined). */
static void rec_dead(rec_state *st, uint32_t fid, uint64_t n) {
    arm_file *f = arm_engine_file(st->e, fid);
    if (ARM_ALWAYS(f != NULL)) arm_file_count_dead(f, f->shard, n);
}

/* Drop the collected ops of aborted batches (their bytes are dead: nothing
 * will ever point at them); the new count. */
static size_t rec_drop_aborted(rec_state *st, rec_op *ops, size_t n) {
    if (st->naborted == 0) return n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (rec_is_aborted(st, ops[i].seq))
            rec_dead(st, ops[i].fid, arm_entry_size(ops[i].klen, ops[i].vlen));
        else
            ops[k++] = ops[i];
    }
    return k;
}

static void rec_parked_free(rec_parked *p) {
    if (p == NULL) return;
    arm_free(p->ents);
    arm_free(p->keys);
    arm_free(p);
}

static void rec_parked_free_all(rec_parked **list) {
    while (*list) {
        rec_parked *next = (*list)->next;
        rec_parked_free(*list);
        *list = next;
    }
}

/* A REPL_POS entry (its value follows the key): the follower's position in
 * one leader shard, kept when it is the newest seen. Never an index key. */
static int rec_repl_pos(rec_state *st, uint32_t fid, const arm_entry_hdr *h, const uint8_t *key,
                        uint64_t off) {
    arm_engine *e = st->e;
    rec_dead(st, fid, arm_entry_size(h->klen, h->vlen));
    uint32_t leader_shard = (uint32_t)key[0] | (uint32_t)key[1] << 8;
    uint8_t leader[16];
    arm_log_pos pos = {0, 0, 0, 0};
    uint32_t flags = 0;
    if (leader_shard >= e->shard_count ||
        arm_repl_pos_decode(key + h->klen, h->vlen, leader, &pos, &flags) != ARM_OK)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                 "bad replication position in data file %u at offset %llu", fid,
                                 (unsigned long long)off);
    arm_repl_note(e, leader_shard, leader, &pos, flags, h->seq);
    return ARM_OK;
}

/* A batch member whose batch is decided: a position, or an entry to apply. */
static int rec_member(rec_state *st, uint32_t fid, const rec_pending *pe) {
    return pe->h.type == ARM_ENTRY_REPL_POS ? rec_repl_pos(st, fid, &pe->h, pe->key, pe->off)
                                            : rec_emit(st, fid, pe->off, &pe->h, pe->key);
}

/* A complete batch opening with TXNINFO (owner: its value): keep it until
 * its decision. Its keys stay pointers into the shard's views (its decision
 * is in the same shard's log); rec_settle copies them if none comes. */
static int rec_park(rec_state *st, uint32_t fid, const uint8_t *owner) {
    rec_parked *pk = arm_calloc(1, sizeof(*pk));
    size_t n = st->npend - 1;
    if (pk) pk->ents = arm_malloc((n ? n : 1) * sizeof(rec_pending));
    if (pk == NULL || pk->ents == NULL) {
        rec_parked_free(pk);
        return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "out of memory rebuilding the index");
    }
    pk->seq = st->pend[0].h.seq;
    pk->fid = fid;
    pk->shard = st->shard;
    memcpy(pk->owner, owner, 16);
    memcpy(pk->ents, st->pend + 1, n * sizeof(rec_pending));
    pk->n = n;
    pk->next = st->parked;
    st->parked = pk;
    rec_dead(st, fid, arm_entry_size(st->pend[0].h.klen, st->pend[0].h.vlen)); /* never live */
    return ARM_OK;
}

/* A DECISION record for batch `seq`: a parked batch is collected (COMMIT)
 * or dropped; an ABORT of any other batch drops its collected entries at
 * the end of the shard (rec_drop_aborted). A COMMIT of no parked batch needs
 * nothing. */
static int rec_decide(rec_state *st, uint64_t seq, int outcome) {
    for (rec_parked **pp = &st->parked; *pp; pp = &(*pp)->next) {
        rec_parked *pk = *pp;
        if (pk->seq != seq) continue;
        int rc = ARM_OK;
        for (size_t i = 0; i < pk->n && rc == ARM_OK; i++) {
            if (outcome == ARM_DECISION_COMMIT)
                rc = rec_member(st, pk->fid, &pk->ents[i]);
            else
                rec_dead(st, pk->fid, arm_entry_size(pk->ents[i].h.klen, pk->ents[i].h.vlen));
        }
        *pp = pk->next;
        rec_parked_free(pk);
        return rc;
    }
    if (outcome != ARM_DECISION_ABORT) return ARM_OK;
    int rc = rec_grow((void **)&st->aborted, &st->cap_aborted, st->naborted + 1, sizeof(uint64_t));
    if (rc != ARM_OK) return rc;
    st->aborted[st->naborted++] = seq;
    st->aborted_sorted = 0;
    return ARM_OK;
}

/* The batch in st->pend is complete. */
static int rec_batch_done(rec_state *st, uint32_t fid) {
    const rec_pending *first = &st->pend[0];
    if (first->h.type == ARM_ENTRY_TXNINFO) return rec_park(st, fid, first->key + first->h.klen);
    int rc = ARM_OK;
    for (size_t i = 0; i < st->npend && rc == ARM_OK; i++) rc = rec_member(st, fid, &st->pend[i]);
    return rc;
}

/* The shard's files are read: what is still parked was never decided, so it
 * is in doubt. Its keys are copied (the views go next) and it moves to
 * st->indoubt, for rec_indoubt once every thread is done. */
static int rec_settle(rec_state *st) {
    while (st->parked) {
        rec_parked *pk = st->parked;
        size_t bytes = 0, koff = 0;
        for (size_t i = 0; i < pk->n; i++) bytes += pk->ents[i].h.klen;
        pk->keys = arm_malloc(bytes ? bytes : 1);
        if (pk->keys == NULL)
            return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "out of memory rebuilding the index");
        for (size_t i = 0; i < pk->n; i++) {
            memcpy(pk->keys + koff, pk->ents[i].key, pk->ents[i].h.klen);
            pk->ents[i].key = pk->keys + koff;
            koff += pk->ents[i].h.klen;
        }
        st->parked = pk->next;
        pk->next = st->indoubt;
        st->indoubt = pk;
    }
    return ARM_OK;
}

/* Apply what the shard's files hold for its own index (less what they
 * abort), in key order for an ordered index (a hash index has no order to
 * gain from), then let go of the views the keys pointed into. */
static int rec_drain(rec_state *st) {
    int rc = rec_settle(st);
    if (rc != ARM_OK) rec_parked_free_all(&st->parked); /* their keys are in the views */
    st->nops = rec_drop_aborted(st, st->ops, st->nops);
    if (st->e->opts.index_kind == ARM_INDEX_ORDERED) rec_sort(st->ops, st->nops);
    if (rc == ARM_OK) rc = rec_apply_ops(st, st->ops, st->nops, NULL);
    st->nops = 0;
    for (size_t i = 0; i < st->nviews; i++) arm_file_unview(st->views[i].p, st->views[i].n);
    st->nviews = 0;
    return rc;
}

/* Keep a view mapped until the shard's entries are applied. */
static int rec_keep_view(rec_state *st, const uint8_t *p, uint64_t n) {
    int rc = rec_grow((void **)&st->views, &st->capviews, st->nviews + 1, sizeof(rec_view));
    if (rc != ARM_OK) {
        arm_file_unview(p, n);
        return rc;
    }
    st->views[st->nviews++] = (rec_view){p, n};
    return ARM_OK;
}

/* One entry of a data file, in file order, whether it was read from the
 * file (rec_scan) or from its hint file (rec_hint, whose records carry the
 * values of the kinds read here): the one place recovery decides what an
 * entry means. A batch member waits for its TXN_END; a DECISION decides a
 * batch; a REPL_POS is noted; any other entry is collected for rec_apply.
 * *stop_out = 1 when the valid log ends before this entry (a batch
 * interleaved with another, or cut short by an entry that is no member). */
static int rec_entry(rec_state *st, uint32_t fid, uint64_t off, const arm_entry_hdr *h,
                     const uint8_t *key, int *stop_out) {
    *stop_out = 0;
    uint32_t len = arm_entry_size(h->klen, h->vlen);
    int rc = ARM_OK;
    if (h->flags & ARM_ENTRY_TXN) {
        /* batches never interleave, and a TXNINFO opens its batch */
        if (st->npend && (st->pend[0].h.seq != h->seq || h->type == ARM_ENTRY_TXNINFO)) {
            *stop_out = 1;
            return ARM_OK;
        }
        if (st->npend == st->cap) {
            size_t cap = st->cap ? st->cap * 2 : 64;
            rec_pending *np = arm_realloc(st->pend, cap * sizeof(*np));
            if (np == NULL) return ARM_ERR(ARM_NOMEM);
            st->pend = np;
            st->cap = cap;
        }
        st->pend[st->npend++] = (rec_pending){off, *h, key};
        if (h->flags & ARM_ENTRY_TXN_END) {
            rc = rec_batch_done(st, fid);
            st->npend = 0;
        }
    } else if (st->npend) { /* a batch cut short by an entry outside it: damage */
        *stop_out = 1;
        return ARM_OK;
    } else if (h->type == ARM_ENTRY_DECISION) {
        uint64_t seq = 0;
        for (int i = 7; i >= 0; i--) seq = (seq << 8) | key[i];
        int outcome = key[ARM_DECISION_KLEN]; /* the value, right after the key */
        rc = rec_decide(st, seq, outcome);
        rec_dead(st, fid, len); /* never live data */
        /* Log readers must skip what was aborted, wherever it lies. */
        if (outcome == ARM_DECISION_ABORT) arm_outcome_aborted_add(st->e, seq);
    } else if (h->type == ARM_ENTRY_REPL_POS) {
        rc = rec_repl_pos(st, fid, h, key, off);
    } else {
        rc = rec_emit(st, fid, off, h, key);
    }
    if (h->seq > st->max_seq) st->max_seq = h->seq;
    /* the log's tail, as a reader positions: past a whole entry or batch */
    if (st->npend == 0) st->last = (arm_log_pos){h->seq, off + len, fid, len};
    return rc;
}

/* Scan entries in p[from, size). *end_out: where the valid log ends (the
 * start of an unfinished batch counts as its end); *stop_out: the offset of
 * the entry the scan stopped at (bad, or breaking a batch), size if none. */
static int rec_scan(rec_state *st, uint32_t fid, const uint8_t *p, uint64_t from, uint64_t size,
                    uint64_t *end_out, uint64_t *stop_out) {
    uint64_t off = from;
    st->npend = 0;
    int rc = ARM_OK, stop = 0;
    while (off < size && rc == ARM_OK) {
        arm_entry_hdr h;
        if (arm_entry_decode(p + off, size - off, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK)
            break;
        rc = rec_entry(st, fid, off, &h, p + off + ARM_ENTRY_HEADER, &stop);
        if (stop) break;
        off += arm_entry_size(h.klen, h.vlen);
    }
    *end_out = st->npend ? st->pend[0].off : off;
    *stop_out = off < size ? off : size;
    st->npend = 0;
    return rc;
}

/* Feed a checked hint file's records to rec_entry, as rec_scan feeds the
 * entries themselves: what a file holds is decided in one place, whichever
 * way it is read. *end_out and *stop_out as for rec_scan (size: the size of
 * the data file, which the records tile). */
static int rec_hint(rec_state *st, uint32_t fid, const uint8_t *p, uint64_t n, uint64_t size,
                    uint64_t *end_out, uint64_t *stop_out) {
    size_t pos = ARM_HINT_HEADER_SIZE;
    uint64_t end = ARM_FILE_HEADER_SIZE;
    st->npend = 0;
    int rc = ARM_OK, stop = 0;
    arm_hint_rec r;
    *stop_out = size;
    while (rc == ARM_OK && (rc = arm_hint_next(p, n, &pos, &r)) == ARM_OK) {
        rc = rec_entry(st, fid, r.off, &r.h, r.key, &stop);
        if (stop) {
            *stop_out = r.off;
            break;
        }
        end = r.off + (uint64_t)arm_entry_size(r.h.klen, r.h.vlen);
    }
    if (rc == ARM_NOTFOUND) rc = ARM_OK; /* the footer */
    *end_out = st->npend ? st->pend[0].off : end;
    st->npend = 0;
    return rc;
}

/* What reading one data file found. */
typedef struct rec_result {
    uint64_t size;      /* bytes on disk */
    uint64_t end;       /* where its valid log ends (an unfinished batch's start counts) */
    uint64_t stop;      /* the entry reading stopped at: damaged, or breaking a batch (size: none) */
    uint64_t next_good; /* the first good entry after stop (size: none, a torn tail) */
    uint64_t read_end;  /* read-only: the end of the last stretch read (past damage too) */
    int bad_header;     /* see rec_bad_header */
} rec_result;

/* The entry to read on from after the stop at `stop` (read-only): the entry
 * there when it is good (it only broke a batch); else where the damaged
 * entry's own header says it ends, when an entry starts there; else the next
 * good entry. Then any batch members are passed over up to and with the end
 * of their batch: a batch whose start may lie in the damage is never shown in
 * part (one that merely starts there is dropped with it: nothing tells it
 * from the other kind). */
static uint64_t rec_resync(const uint8_t *p, uint64_t size, uint64_t stop) {
    uint64_t span = arm_entry_span(p + stop, size - stop), y;
    arm_entry_hdr h;
    if (arm_entry_decode(p + stop, size - stop, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) == ARM_OK)
        y = stop;
    else if (span && stop + span < size &&
             arm_entry_decode(p + stop + span, size - stop - span, ARM_KEY_SIZE_MAX, UINT32_MAX,
                              &h) == ARM_OK)
        y = stop + span;
    else
        y = arm_entry_find(p, size, stop + 1);
    while (y < size &&
           arm_entry_decode(p + y, size - y, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) == ARM_OK &&
           (h.flags & ARM_ENTRY_TXN)) {
        y += arm_entry_size(h.klen, h.vlen);
        if (h.flags & ARM_ENTRY_TXN_END) break;
    }
    return y;
}

/* Read-only: go on past the damage at r->stop, stretch by stretch, so that
 * everything intact is served (the batch cut by the damage is not). */
static int rec_salvage(rec_state *st, uint32_t fid, const uint8_t *p, rec_result *r) {
    uint64_t stop = r->stop;
    int rc = ARM_OK;
    /* Each round moves forward: rec_resync starts past a bad entry, or at a
     * good plain one, which the next scan (no batch pending) then takes. So
     * the rounds are bounded by the file's size. */
    while (rc == ARM_OK && stop < r->size) {
        uint64_t from = rec_resync(p, r->size, stop), end;
        assert(from >= stop);
        if (from >= r->size) break;
        rc = rec_scan(st, fid, p, from, r->size, &end, &stop);
        r->read_end = end;
    }
    return rc;
}

/* Recover file f (r->size bytes, in the table) from its hint when it has a
 * good one, else by scanning it; a sealed file that scans clean is queued
 * for a hint. The newest file is always scanned: it is still being written. */
static int rec_entries(rec_state *st, arm_file *f, int last, rec_result *r) {
    arm_engine *e = st->e;
    const uint8_t *p = NULL;
    uint64_t n = 0, size = r->size;
    int hint = last || !e->opts.hints
                   ? ARM_NOTFOUND
                   : arm_file_open_hint(f, e->meta.db_id, e->meta.flags, size, &p, &n);
    if (hint == ARM_OK) {
        int rc = rec_keep_view(st, p, n); /* the collected keys point into it */
        if (rc == ARM_OK) rc = rec_hint(st, f->fid, p, n, size, &r->end, &r->stop);
        r->next_good = r->stop; /* a record is a good entry */
        r->read_end = r->end;
        st->hinted++;
        return rc;
    }
    /* A damaged, truncated or stale hint is no hint: scan, silently, and
     * let a good one replace it. */
    if (hint == ARM_CORRUPT && !e->opts.read_only) arm_file_unlink_hint(f);
    int rc = arm_file_view(f, size, &p);
    if (rc == ARM_OK && p != NULL) rc = rec_keep_view(st, p, size);
    if (rc == ARM_OK) rc = rec_scan(st, f->fid, p, ARM_FILE_HEADER_SIZE, size, &r->end, &r->stop);
    st->scanned++;
    if (rc != ARM_OK) return rc;
    r->read_end = r->end;
    /* Nothing valid from the stop on: a torn write. A good entry there or
     * after it (the stop may be a good entry that breaks a batch): the file
     * is damaged where it stopped. */
    r->next_good = r->stop < size ? arm_entry_find(p, size, r->stop) : size;
    if (e->opts.read_only && r->next_good < size) rc = rec_salvage(st, f->fid, p, r);
    if (rc == ARM_OK && !last && r->end == size && r->stop == size)
        arm_files_hints_queue(&e->files, f->fid);
    return rc;
}

/* 2 when the file's header is bad and no good entry is anywhere in it either
 * (a newest file whose first block was torn before it was ever synced), 1
 * when a bad header stands in front of a readable entry (damage). */
static int rec_bad_header(arm_file *f, uint64_t size, int *kind_out) {
    *kind_out = 2;
    if (size <= ARM_FILE_HEADER_SIZE) return ARM_OK;
    const uint8_t *p;
    int rc = arm_file_view(f, size, &p);
    if (rc != ARM_OK) return rc;
    if (arm_entry_find(p, size, ARM_FILE_HEADER_SIZE) < size) *kind_out = 1;
    arm_file_unview(p, size);
    return ARM_OK;
}

/* Open, validate and recover one data file; register it in the file table.
 * *r says what was found. */
static int rec_file(rec_state *st, arm_shard *s, uint32_t fid, int last, arm_file **file_out,
                    rec_result *r) {
    arm_engine *e = st->e;
    *file_out = NULL;
    memset(r, 0, sizeof(*r));
    arm_file *f;
    int rc = arm_file_open(&e->files, s->dir, s->id, fid, &f, &r->size);
    if (rc != ARM_OK) return rc;
    /* an encrypted newest file's torn tail block is no part of it */
    if (last && (rc = arm_file_torn_tail(f, &r->size)) != ARM_OK) {
        rc = arm_engine_seterr(rc, 0, "cannot read the tail of %s", f->path);
        arm_file_free(f);
        return rc;
    }
    uint64_t size = r->size;
    uint8_t head[ARM_FILE_HEADER_SIZE];
    int err = 0;
    if (size >= ARM_FILE_HEADER_SIZE && (rc = arm_file_read(f, 0, head, sizeof(head), &err)) != ARM_OK) {
        if (rc != ARM_CORRUPT) {
            rc = arm_engine_seterr(rc, err, "cannot read the header of %s", f->path);
            arm_file_free(f);
            return rc;
        }
        /* an encrypted first block that fails authentication: a bad header */
        memset(head, 0, sizeof(head));
        rc = ARM_OK;
    }
    arm_file_hdr fh;
    if (size < ARM_FILE_HEADER_SIZE || arm_file_hdr_decode(head, sizeof(head), &fh) != ARM_OK ||
        fh.fid != fid || fh.shard != s->id || memcmp(fh.db_id, e->meta.db_id, 16) != 0 ||
        (fh.flags & ~ARM_FILE_MERGED) != e->meta.flags) {
        rc = rec_bad_header(f, size, &r->bad_header);
        /* an encrypted file whose blocks do not open: damage, not a torn first block */
        if (rc == ARM_CORRUPT) r->bad_header = 1, rc = ARM_OK;
        arm_file_free(f);
        return rc;
    }
    if (fh.base_seq > st->max_seq) st->max_seq = fh.base_seq;
    f->merged = (fh.flags & ARM_FILE_MERGED) != 0;
    rc = arm_files_add(&e->files, f);
    if (rc != ARM_OK) {
        arm_file_free(f);
        return rc;
    }
    /* owned by the file table now, even on failure */
    rc = rec_entries(st, f, last, r);
    if (rc != ARM_OK) return rc;
    atomic_store(&f->size, e->opts.read_only ? ARM_MAX(r->end, r->read_end) : r->end);
    /* The newest file keeps growing: reserve room for all of it. Read-only,
     * what was read past damage must be mapped too. */
    uint64_t map_len = e->opts.read_only ? size : last ? e->opts.max_file_size : r->end;
    if (e->opts.mmap_reads) arm_file_map(f, map_len);
    *file_out = f;
    return ARM_OK;
}

/* ARM_CORRUPT for what reading file f found (r): the damaged entry's own
 * offset, or the entry that cuts a batch short, or an unfinished batch at the
 * end of a sealed file. */
static int rec_damage(const arm_file *f, int last, const rec_result *r) {
    const char *salvage = "open read-only to read what is intact";
    unsigned long long stop = r->stop, end = r->end, next = r->next_good, size = r->size;
    if (r->stop < r->size && r->next_good == r->stop) /* a good entry, out of place */
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                 "the entry in %s at offset %llu cuts short the batch at offset "
                                 "%llu; %s", f->path, stop, end, salvage);
    if (r->stop < r->size && last)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                 "damaged entry in %s at offset %llu: a good entry follows at "
                                 "offset %llu, so this is no torn write; %s",
                                 f->path, stop, next, salvage);
    if (r->stop < r->size)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                 "damaged entry in %s at offset %llu (file size %llu); %s",
                                 f->path, stop, size, salvage);
    return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                             "the batch in %s at offset %llu never ends in this sealed file; %s",
                             f->path, end, salvage);
}

/* 1 when data file fid of s has a good header that marks it a merged file
 * (compaction's output: never a shard's newest log file). */
static int rec_is_merged(rec_state *st, arm_shard *s, uint32_t fid) {
    arm_file *f;
    uint64_t size;
    if (arm_file_open(&st->e->files, s->dir, s->id, fid, &f, &size) != ARM_OK) {
        arm_engine_clearerr(); /* rec_file reports it */
        return 0;
    }
    uint8_t head[ARM_FILE_HEADER_SIZE];
    arm_file_hdr fh;
    int err = 0, merged = size >= ARM_FILE_HEADER_SIZE &&
                          arm_file_read(f, 0, head, sizeof(head), &err) == ARM_OK &&
                          arm_file_hdr_decode(head, sizeof(head), &fh) == ARM_OK &&
                          (fh.flags & ARM_FILE_MERGED);
    arm_file_free(f);
    return merged;
}

static int rec_shard(rec_state *st, arm_shard *s) {
    uint32_t *max_fid = &st->max_fid;
    arm_engine *e = st->e;
    uint32_t *ids;
    size_t n;
    int rc = arm_files_list(s->dir, !e->opts.read_only, &ids, &n);
    if (rc != ARM_OK) return rc;
    /* Newest files that were created and never written (a rotation cut short
     * by a crash) hold no data: drop them, so the file before is the newest
     * and appends resume there. A blank file anywhere else is damage. */
    for (; n > 0; n--) {
        if (!arm_file_blank(s->dir, ids[n - 1])) break;
        if (ids[n - 1] > *max_fid) *max_fid = ids[n - 1]; /* never reuse its id */
        if (!e->opts.read_only) arm_file_unlink(s->dir, ids[n - 1]);
    }
    /* The shard's newest log file: merged files (compaction's, which take
     * new ids) above it are read like the others but are never its log's
     * tail, never resumed for appending. */
    size_t last_log = n;
    while (last_log > 0 && rec_is_merged(st, s, ids[last_log - 1])) last_log--;
    uint32_t first_log = 0;  /* the shard's oldest log file read */
    int any_merged = 0;
    arm_file *newest = NULL, *newest_prev = NULL; /* the newest good file, the one before */
    uint64_t newest_end = 0, newest_prev_end = 0; /* their valid ends */
    int torn = 0;                                  /* the newest file was set aside */
    st->shard = s->id;
    for (size_t i = 0; i < n && rc == ARM_OK; i++) {
        int last = i + 1 == last_log;
        arm_file *f = NULL;
        rec_result r;
        if (ids[i] > *max_fid) *max_fid = ids[i];
        rc = rec_file(st, s, ids[i], last, &f, &r);
        if (rc != ARM_OK) break;
        int bad_header = r.bad_header;
        if (bad_header) {
            char path[ARM_FILE_PATH_MAX];
            arm_file_path(path, sizeof(path), s->dir, ids[i]);
            /* The newest file, torn before its first block was synced: no
             * entry in it can be read, so nothing acknowledged is in it. Set
             * it aside (kept for inspection, never scanned again) so appends
             * resume in the file before it. A bad header in front of
             * readable entries is damage, never dropped. */
            if (last && bad_header == 2 && !e->opts.read_only) {
                rc = arm_file_set_aside(s->dir, ids[i], "torn");
                torn = 1;
                continue;
            }
            if (!e->opts.read_only)
                rc = arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                       "bad file header in %s; open read-only to salvage", path);
            continue;
        }
        /* An older file holds nothing but whole entries and batches; in the
         * newest, only a torn write (nothing valid after it) is cut. Anything
         * else is reported at the damaged entry's own offset, never cut. */
        if (!e->opts.read_only && ((!last && (r.stop < r.size || r.end < r.size)) ||
                                   (last && r.next_good < r.size)))
            rc = rec_damage(f, last, &r);
        /* The log's tail position: the last whole entry of the newest file
         * that has one (fids are unique, so an older file's never matches). */
        if (f->merged) {
            any_merged = 1;
            continue;
        }
        if (first_log == 0) first_log = ids[i];
        if (st->last.fid == ids[i]) s->tail = st->last;
        if (last) {
            newest = f;
            newest_end = r.end;
        } else {
            newest_prev = f;
            newest_prev_end = r.end;
        }
    }
    arm_free(ids);
    /* A merged file means compaction removed the oldest log files: the log
     * begins at the oldest left (a reader from the origin would miss some). */
    if (any_merged) atomic_store(&s->log_gone, first_log ? first_log - 1 : *max_fid);
    /* Applied before any file is cut or written again (the keys point into
     * views of the files); what the files left undecided is in doubt. */
    int drc = rec_drain(st);
    if (rc == ARM_OK) rc = drc;
    if (rc == ARM_OK && torn && newest_prev != NULL)
        rc = arm_shard_resume(e, s, newest_prev, newest_prev_end);
    /* the torn tail, if any, goes: appends resume where the log is valid */
    if (rc == ARM_OK && newest && !e->opts.read_only) rc = arm_shard_resume(e, s, newest, newest_end);
    return rc;
}

/* ------------------------------------------------------------ threads */
/* Shards are read in parallel: each shard's files are read, and what they
 * hold for its own index applied, by one thread at a time, with its own
 * state (its parked, in-doubt and aborted batches too: a batch and what
 * decides it share a shard); what is left (batch members for other shards'
 * indexes, in-doubt batches) is applied by the caller once all are done. */
typedef struct rec_pool rec_pool;

typedef struct rec_worker {
    rec_state st;
    rec_pool *pool;
    pthread_t thread;
    int started;
    int rc;                    /* first failure, with its message */
    uint32_t failed_shard;
    char msg[ARM_ERRMSG_MAX];
    int err;
} rec_worker;

struct rec_pool {
    arm_engine *e;
    _Atomic uint32_t next;     /* next shard to read */
    rec_worker *w;
    uint32_t nw;
};

static void rec_run(rec_pool *pool, rec_worker *w) {
    arm_engine *e = pool->e;
    for (;;) {
        uint32_t i = atomic_fetch_add(&pool->next, 1);
        if (i >= e->shard_count) break;
        int rc = rec_shard(&w->st, &e->shards[i]);
        if (rc != ARM_OK && (w->rc == ARM_OK || i < w->failed_shard)) {
            w->rc = rc;
            w->failed_shard = i;
            arm_engine_saveerr(w->msg, &w->err);
        }
    }
}

static void *rec_thread(void *arg) {
    rec_worker *w = arg;
    rec_run(w->pool, w);
    return NULL;
}

static void rec_state_free(rec_state *st) {
    for (size_t i = 0; i < st->nviews; i++) arm_file_unview(st->views[i].p, st->views[i].n);
    arm_free(st->pend);
    arm_free(st->ops);
    arm_free(st->xops);
    arm_buf_free(&st->xkeys);
    arm_free(st->views);
    arm_free(st->aborted);
    rec_parked_free_all(&st->parked);
    rec_parked_free_all(&st->indoubt);
}

/* Workers: one per shard, up to the CPUs there are (at most 16); 1 reads in
 * the calling thread. */
static uint32_t rec_workers(const arm_engine *e) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t n = cpus < 1 ? 1 : (uint32_t)ARM_MIN(cpus, 16L);
    return ARM_MIN(n, e->shard_count);
}

/* In-doubt batches by (shard, seq), descending: added to the engine's list
 * (at its head) in this order, it lists them in log order whichever thread
 * read them. */
static int rec_indoubt_cmp(const void *a, const void *b) {
    const rec_parked *x = *(rec_parked *const *)a, *y = *(rec_parked *const *)b;
    if (x->shard != y->shard) return x->shard > y->shard ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq;
}

/* One in-doubt batch into the engine (txn.c holds its keys later, unless
 * read-only: nothing can write then anyway). Its keys go with it. */
static int rec_indoubt_one(arm_engine *e, rec_parked *pk) {
    arm_wop *ops = arm_calloc(pk->n ? pk->n : 1, sizeof(arm_wop));
    if (ops == NULL) return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "out of memory for recovery");
    for (size_t i = 0; i < pk->n; i++) {
        arm_wop *op = &ops[i];
        op->key = arm_slice_make(pk->ents[i].key, pk->ents[i].h.klen);
        op->del = pk->ents[i].h.type == ARM_ENTRY_DEL;
        op->shard = arm_engine_route(e, op->key.ptr, op->key.len);
        op->off = pk->ents[i].off;
        op->len = arm_entry_size(pk->ents[i].h.klen, pk->ents[i].h.vlen);
    }
    int rc = arm_txn_indoubt_add(e, pk->seq, pk->owner, pk->shard, pk->fid, ops, pk->n, pk->keys);
    if (rc != ARM_OK) {
        arm_free(ops);
        return arm_engine_seterr(rc, 0, "out of memory for recovery");
    }
    pk->keys = NULL; /* owned by the in-doubt record now */
    return ARM_OK;
}

/* What every worker left in doubt, into the engine. */
static int rec_indoubt(arm_engine *e, rec_worker *w, uint32_t nw) {
    size_t n = 0, k = 0;
    for (uint32_t i = 0; i < nw; i++)
        for (rec_parked *pk = w[i].st.indoubt; pk; pk = pk->next) n++;
    if (n == 0) return ARM_OK;
    rec_parked **all = arm_malloc(n * sizeof(*all));
    if (all == NULL) return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "out of memory for recovery");
    for (uint32_t i = 0; i < nw; i++)
        for (rec_parked *pk = w[i].st.indoubt; pk; pk = pk->next) all[k++] = pk;
    qsort(all, n, sizeof(*all), rec_indoubt_cmp);
    int rc = ARM_OK;
    for (size_t i = 0; i < n && rc == ARM_OK; i++) rc = rec_indoubt_one(e, all[i]);
    arm_free(all);
    return rc;
}

int arm_engine_recover(arm_engine *e) {
    rec_pool pool;
    memset(&pool, 0, sizeof(pool));
    pool.e = e;
    pool.nw = rec_workers(e);
    pool.w = arm_calloc(pool.nw, sizeof(rec_worker));
    if (pool.w == NULL) return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "out of memory for recovery");
    for (uint32_t i = 0; i < pool.nw; i++) {
        pool.w[i].st.e = e;
        pool.w[i].st.shard = UINT32_MAX;
        pool.w[i].pool = &pool;
    }
    /* Workers 1.. run on threads (a thread that cannot start leaves its
     * share to the others); worker 0 is the calling thread. */
    for (uint32_t i = 1; i < pool.nw; i++)
        pool.w[i].started = pthread_create(&pool.w[i].thread, NULL, rec_thread, &pool.w[i]) == 0;
    rec_run(&pool, &pool.w[0]);
    for (uint32_t i = 1; i < pool.nw; i++)
        if (pool.w[i].started) pthread_join(pool.w[i].thread, NULL);
    /* the failure of the lowest shard is the one reported */
    int rc = ARM_OK;
    uint32_t failed = UINT32_MAX, max_fid = 0;
    uint64_t max_seq = 0;
    for (uint32_t i = 0; i < pool.nw; i++) {
        rec_worker *w = &pool.w[i];
        if (w->rc != ARM_OK && w->failed_shard < failed) {
            rc = w->rc;
            failed = w->failed_shard;
            arm_engine_restoreerr(w->msg, w->err);
        }
    }
    /* Batch members for other shards' indexes, last (any order will do),
     * less those of batches aborted: a worker read each one's batch and
     * the records deciding it, in the same shard. */
    for (uint32_t i = 0; i < pool.nw && rc == ARM_OK; i++) {
        rec_state *st = &pool.w[i].st;
        st->nxops = rec_drop_aborted(st, st->xops, st->nxops);
        rc = rec_apply_ops(st, st->xops, st->nxops, st->xkeys.ptr);
    }
    for (uint32_t i = 0; i < pool.nw; i++) {
        rec_state *st = &pool.w[i].st;
        max_fid = ARM_MAX(max_fid, st->max_fid);
        max_seq = ARM_MAX(max_seq, st->max_seq);
        e->open_hinted += st->hinted;
        e->open_scanned += st->scanned;
    }
    if (rc == ARM_OK) {
        for (uint32_t i = 0; i < e->shard_count; i++) arm_index_purge_dead(e->shards[i].index);
        rc = rec_indoubt(e, pool.w, pool.nw);
    }
    for (uint32_t i = 0; i < pool.nw; i++) rec_state_free(&pool.w[i].st);
    arm_free(pool.w);
    if (rc != ARM_OK) return rc;
    arm_domain_observe_seq(e->dom, max_seq);
    e->open_seq = max_seq;
    atomic_store(&e->next_fid, max_fid + 1);
    if (e->opts.read_only) return ARM_OK;
    rc = arm_txn_indoubt_hold(e);
    for (uint32_t i = 0; i < e->shard_count && rc == ARM_OK; i++) {
        arm_shard *s = &e->shards[i];
        if (s->active == NULL) rc = arm_shard_new_file(e, s);
    }
    return rc;
}
