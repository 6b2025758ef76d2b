/* SPDX-License-Identifier: MIT */
/*
 * cursor.c: cursors merged over every shard's index (plus an optional batch
 * overlay: a transaction reading its own writes). Each shard source holds a
 * run of up to CUR_RUN keys and locations copied under the shard's read lock,
 * so a scan takes the lock once per run, not once per key, and never holds it
 * between calls. A run is refilled by seeking past its last key, which keeps
 * the cursor correct while writers change the index (read committed).
 * Values are read on demand from the copied location; entries are immutable,
 * and each source holds a reference to every file its run points into
 * (taken under the read lock, released at the next fill), so a location
 * stays readable even if compaction retires its file meanwhile.
 * With a hash index there is no order: the cursor walks shard by shard, each
 * shard copied whole under one read lock, then the overlay's puts.
 * A cursor of a transaction reads at the transaction's snapshot (each item
 * resolved to the version that snapshot sees, so a scan is one moment however
 * long it runs) and widens a range in the transaction's read set as it moves,
 * covering every key it passed over and the gaps between them.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <stdlib.h>
#include <string.h>

#define CUR_RUN 128u

typedef struct cur_ent {
    uint32_t koff; /* into the source's keys buffer */
    arm_item loc;  /* copy of the index item header (klen, fid, off, len, seq) */
} cur_ent;

typedef struct cur_src {
    arm_buf keys;
    arm_file_refs files; /* the files the run's locations point into, held */
    cur_ent *ents;
    uint32_t n, cap, pos;
    int more;  /* the index may hold more keys past this run */
    int valid; /* positioned on ents[pos] */
} cur_src;

typedef struct cur_ov {
    uint32_t koff, klen, voff, vlen;
    int del;
} cur_ov;

struct arm_cursor {
    arm_engine *e;
    uint64_t snap;    /* read at this snapshot; UINT64_MAX = the newest (no transaction) */
    arm_txn *txn;     /* the transaction whose read set this cursor widens, or NULL */
    size_t range;     /* its range slot there */
    int dir;          /* +1 forward, -1 backward, 0 unpositioned/EOF */
    int hash;         /* hash index: unordered walk */
    uint32_t nsrc;
    cur_src *src;
    uint32_t hash_shard; /* hash walk: shard in src[0]; nsrc = past the shards */
    /* overlay snapshot, sorted by key */
    cur_ov *ov;
    uint32_t nov;
    arm_buf ov_data;
    int64_t ov_pos;   /* index into ov; valid when 0 <= ov_pos < nov */
    /* bounds */
    arm_buf lo, hi;
    int has_lo, has_hi, lo_incl, hi_incl;
    /* current */
    int cur;          /* source index, or -1 for the overlay */
    arm_buf cur_key;
    arm_buf seek;     /* the positioning target, owned (bounds may be long) */
    arm_buf vbuf;
    arm_buf from;     /* a transaction's cursor: where a step started (cur_note) */
};

static arm_slice cur_src_key(const cur_src *s, uint32_t i) {
    return arm_slice_make(s->keys.ptr + s->ents[i].koff, s->ents[i].loc.klen);
}

static arm_slice cur_ov_key(const arm_cursor *c, int64_t i) {
    return arm_slice_make(c->ov_data.ptr + c->ov[i].koff, c->ov[i].klen);
}

static int cur_cmp(arm_slice a, arm_slice b) {
    return arm_key_cmp(a.ptr, a.len, b.ptr, b.len);
}

/* ---------------------------------------------------------- overlay */
static int cur_ov_cmp(const void *a, const void *b, void *ctx) {
    const arm_cursor *c = ctx;
    const cur_ov *x = a, *y = b;
    return arm_key_cmp(c->ov_data.ptr + x->koff, x->klen, c->ov_data.ptr + y->koff, y->klen);
}

static int cur_overlay_snapshot(arm_cursor *c, const arm_batch *b) {
    size_t n = arm_engine_batch_mark(b);
    if (n == 0) return ARM_OK;
    size_t *idx = arm_malloc(n * sizeof(size_t));
    if (idx == NULL) return ARM_ERR(ARM_NOMEM);
    size_t m = arm_batch_latest(b, idx);
    size_t bytes = 0;
    for (size_t i = 0; i < m; i++) {
        arm_slice k, v;
        int del;
        arm_batch_rec(b, idx[i], &k, &v, &del);
        bytes += k.len + v.len;
    }
    c->ov = arm_calloc(m ? m : 1, sizeof(cur_ov));
    int rc = c->ov ? arm_buf_reserve(&c->ov_data, bytes + 1) : ARM_ERR(ARM_NOMEM);
    for (size_t i = 0; i < m && rc == ARM_OK; i++) {
        arm_slice k, v;
        int del;
        arm_batch_rec(b, idx[i], &k, &v, &del);
        cur_ov *o = &c->ov[i];
        o->koff = (uint32_t)c->ov_data.len;
        o->klen = (uint32_t)k.len;
        memcpy(c->ov_data.ptr + c->ov_data.len, k.ptr, k.len);
        c->ov_data.len += k.len;
        o->voff = (uint32_t)c->ov_data.len;
        o->vlen = (uint32_t)v.len;
        if (v.len) memcpy(c->ov_data.ptr + c->ov_data.len, v.ptr, v.len);
        c->ov_data.len += v.len;
        o->del = del;
    }
    arm_free(idx);
    if (rc != ARM_OK) return rc;
    c->nov = (uint32_t)m;
    qsort_r(c->ov, m, sizeof(cur_ov), cur_ov_cmp, c);
    return ARM_OK;
}

/* Position the overlay per op (arm_seek_op); first/last when key is NULL. */
static void cur_ov_seek(arm_cursor *c, const arm_slice *key, int op) {
    int64_t lo = 0, hi = c->nov; /* first index with ov[i] >= key (or > key for GT/LE) */
    if (key == NULL) {
        c->ov_pos = (op == ARM_SEEK_GE || op == ARM_SEEK_GT) ? 0 : (int64_t)c->nov - 1;
        return;
    }
    int strict = op == ARM_SEEK_GT || op == ARM_SEEK_LE;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int r = cur_cmp(cur_ov_key(c, mid), *key);
        if (r < 0 || (strict && r == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    c->ov_pos = (op == ARM_SEEK_GE || op == ARM_SEEK_GT) ? lo : lo - 1;
}

/* ---------------------------------------------------------- shard runs */
/* it: the index item (its key); loc: the version the cursor sees (its
 * location: for an old snapshot, maybe an older file than the item's). */
static int cur_src_push(arm_engine *e, cur_src *s, const arm_item *it, const arm_item *loc) {
    int rc = arm_file_refs_hold(&s->files, &e->files, loc->fid);
    if (ARM_NEVER(rc == ARM_NOTFOUND)) /* under the read lock the file is live */
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "data file %u is gone", loc->fid);
    if (rc != ARM_OK) return rc;
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 16;
        cur_ent *p = arm_realloc(s->ents, cap * sizeof(cur_ent));
        if (p == NULL) return ARM_ERR(ARM_NOMEM);
        s->ents = p;
        s->cap = cap;
    }
    rc = arm_buf_reserve(&s->keys, s->keys.len + it->klen);
    if (rc != ARM_OK) return rc;
    cur_ent *en = &s->ents[s->n++];
    en->koff = (uint32_t)s->keys.len;
    memcpy(&en->loc, loc, sizeof(arm_item));
    en->loc.klen = it->klen;
    memcpy(s->keys.ptr + s->keys.len, it->key, it->klen);
    s->keys.len += it->klen;
    return ARM_OK;
}

/* Fill src with a run starting at the position given by (key, op), moving
 * forward for GE/GT and backward for LE/LT; key NULL = first/last. The caller
 * holds the shard's read lock; key is the cursor's own copy (c->seek). */
static int cur_src_fill(arm_cursor *c, uint32_t shard, const arm_slice *key, int op) {
    cur_src *s = &c->src[shard];
    arm_shard *sh = &c->e->shards[shard];
    int fwd = op == ARM_SEEK_GE || op == ARM_SEEK_GT;
    arm_slice k = key ? *key : arm_slice_make(NULL, 0); /* c->seek: stable during fills */
    s->n = 0;
    s->pos = 0;
    s->keys.len = 0;
    int rc = ARM_OK;
    arm_index_iter it;
    arm_item *item;
    if (key)
        item = arm_index_iter_seek(sh->index, &it, k.ptr, k.len, op);
    else
        item = fwd ? arm_index_iter_first(sh->index, &it) : arm_index_iter_last(sh->index, &it);
    /* Gather the run's item pointers first, prefetching each: the items live
     * all over the arena, and copying them one by one would make their cache
     * misses a chain instead of letting them overlap. Keys the snapshot does
     * not see (deleted, not yet made) take no place in the run. */
    arm_item *run[CUR_RUN];
    do { /* a run of keys this snapshot does not see is skipped, not returned empty */
        uint32_t m = 0;
        while (item && m < CUR_RUN) {
            __builtin_prefetch(item);
            run[m++] = item;
            item = fwd ? arm_index_iter_next(sh->index, &it) : arm_index_iter_prev(sh->index, &it);
        }
        for (uint32_t i = 0; i < m && rc == ARM_OK; i++) {
            arm_item loc;
            int vis = arm_item_visible(sh, run[i], c->snap, &loc);
            if (vis < 0)
                rc = arm_engine_seterr(ARM_ERR(-vis), 0,
                                       "versions this snapshot needs were lost for lack of memory");
            else if (vis)
                rc = cur_src_push(c->e, s, run[i], &loc);
        }
    } while (rc == ARM_OK && s->n == 0 && item != NULL);
    s->more = item != NULL;
    s->valid = rc == ARM_OK && s->n > 0;
    return rc;
}

/* Step a source; a run that runs out needs a refill (cur_step does it for
 * all shards at once), so this only reports it. */
static int cur_src_advance(cur_src *s) {
    if (++s->pos < s->n) return 0;
    s->valid = 0;
    return s->more;
}

/* ------------------------------------------------------------- merging */
static int cur_in_bounds(const arm_cursor *c, arm_slice k) {
    if (c->has_lo) {
        int r = cur_cmp(k, arm_slice_make(c->lo.ptr, c->lo.len));
        if (r < 0 || (r == 0 && !c->lo_incl)) return 0;
    }
    if (c->has_hi) {
        int r = cur_cmp(k, arm_slice_make(c->hi.ptr, c->hi.len));
        if (r > 0 || (r == 0 && !c->hi_incl)) return 0;
    }
    return 1;
}

static int cur_ov_valid(const arm_cursor *c) {
    return c->ov_pos >= 0 && c->ov_pos < (int64_t)c->nov;
}

/* Advance every source sitting on key k (the current key, and a shard key
 * shadowed by the overlay). Returns 1 when a shard's run ran out and the
 * sources must be refilled. */
static int cur_step_past(arm_cursor *c, arm_slice k) {
    int refill = 0;
    for (uint32_t i = 0; i < c->nsrc; i++) {
        cur_src *s = &c->src[i];
        if (s->valid && cur_cmp(cur_src_key(s, s->pos), k) == 0) refill |= cur_src_advance(s);
    }
    if (cur_ov_valid(c) && cur_cmp(cur_ov_key(c, c->ov_pos), k) == 0) c->ov_pos += c->dir;
    return refill;
}

static int cur_refill(arm_cursor *c, arm_slice k);

/* Make k (from source src: a shard index, or -1 for the overlay) current. */
static int cur_set_current(arm_cursor *c, int src, arm_slice k) {
    int rc = arm_buf_reserve(&c->cur_key, k.len);
    if (rc != ARM_OK) return rc;
    memcpy(c->cur_key.ptr, k.ptr, k.len);
    c->cur_key.len = k.len;
    c->cur = src;
    return ARM_OK;
}

/* Choose the current key among the sources (smallest forward, largest
 * backward; the overlay wins ties), skipping overlay deletes. */
static int cur_pick(arm_cursor *c) {
    for (;;) {
        int best = -2;
        arm_slice bk = {0};
        for (uint32_t i = 0; i < c->nsrc; i++) {
            cur_src *s = &c->src[i];
            if (!s->valid) continue;
            arm_slice k = cur_src_key(s, s->pos);
            if (best == -2 || cur_cmp(k, bk) * c->dir < 0) {
                best = (int)i;
                bk = k;
            }
        }
        if (cur_ov_valid(c)) {
            arm_slice k = cur_ov_key(c, c->ov_pos);
            if (best == -2 || cur_cmp(k, bk) * c->dir <= 0) {
                best = -1;
                bk = k;
            }
        }
        if (best == -2 || !cur_in_bounds(c, bk)) {
            c->dir = 0;
            return ARM_NOTFOUND;
        }
        if (best == -1 && c->ov[c->ov_pos].del) {
            if (cur_step_past(c, bk)) return cur_refill(c, bk);
            continue;
        }
        return cur_set_current(c, best, bk);
    }
}

/* Position every source at (key, op) and pick. All shards' runs are copied
 * under all their read locks at once, so the cursor sees each batch commit
 * whole or not at all (commits hold the write locks of all their shards),
 * and what it shows is never older than what it showed before. */
static int cur_position(arm_cursor *c, const arm_slice *key, int op) {
    c->dir = (op == ARM_SEEK_GE || op == ARM_SEEK_GT) ? 1 : -1;
    /* Keep the target in the cursor's own buffer: it may point into a run
     * that the fills below overwrite, and bounds may be any length. */
    arm_slice k;
    if (key) {
        int rc = arm_buf_reserve(&c->seek, key->len + 1);
        if (rc != ARM_OK) {
            c->dir = 0;
            return rc;
        }
        if (key->len) memmove(c->seek.ptr, key->ptr, key->len);
        k = arm_slice_make(c->seek.ptr, key->len);
        key = &k;
    }
    int rc = ARM_OK;
    /* The old runs' files are let go before the locks are taken: a last
     * release of a retired file removes it, which need not block writers. */
    for (uint32_t i = 0; i < c->nsrc; i++) arm_file_refs_clear(&c->src[i].files);
    for (uint32_t i = 0; i < c->nsrc; i++) arm_index_rdlock(&c->e->shards[i].index_lock);
    for (uint32_t i = 0; i < c->nsrc && rc == ARM_OK; i++) rc = cur_src_fill(c, i, key, op);
    for (uint32_t i = c->nsrc; i-- > 0;) pthread_rwlock_unlock(&c->e->shards[i].index_lock);
    if (rc != ARM_OK) {
        c->dir = 0;
        return rc;
    }
    cur_ov_seek(c, key, op);
    return cur_pick(c);
}

/* A run ran out past key k: reposition everything just past k. */
static int cur_refill(arm_cursor *c, arm_slice k) {
    return cur_position(c, &k, c->dir > 0 ? ARM_SEEK_GT : ARM_SEEK_LT);
}

/* ------------------------------------------------------------ hash walk */
static int cur_hash_fill(arm_cursor *c) {
    cur_src *s = &c->src[0];
    for (; c->hash_shard < c->e->shard_count; c->hash_shard++) {
        arm_shard *sh = &c->e->shards[c->hash_shard];
        s->n = s->pos = 0;
        s->keys.len = 0;
        int rc = ARM_OK;
        arm_index_iter it;
        arm_file_refs_clear(&s->files);
        arm_index_rdlock(&sh->index_lock);
        for (arm_item *item = arm_index_iter_first(sh->index, &it); item && rc == ARM_OK;
             item = arm_index_iter_next(sh->index, &it)) {
            arm_item loc;
            int vis = arm_item_visible(sh, item, c->snap, &loc);
            if (vis < 0) rc = arm_engine_seterr(ARM_ERR(-vis), 0, "versions this snapshot needs "
                                                                  "were lost for lack of memory");
            else if (vis) rc = cur_src_push(c->e, s, item, &loc);
        }
        pthread_rwlock_unlock(&sh->index_lock);
        if (rc != ARM_OK) return rc;
        if (s->n) {
            s->valid = 1;
            return ARM_OK;
        }
    }
    s->valid = 0;
    return ARM_OK;
}

/* Is k written by the overlay (then the overlay decides)? */
static int cur_ov_has(arm_cursor *c, arm_slice k) {
    int64_t save = c->ov_pos;
    cur_ov_seek(c, &k, ARM_SEEK_GE);
    int has = cur_ov_valid(c) && cur_cmp(cur_ov_key(c, c->ov_pos), k) == 0;
    c->ov_pos = save;
    return has;
}

/* Settle on the next acceptable key at or after the current hash position. */
static int cur_hash_settle(arm_cursor *c) {
    cur_src *s = &c->src[0];
    for (;;) {
        if (s->valid) {
            arm_slice k = cur_src_key(s, s->pos);
            if (cur_in_bounds(c, k) && !cur_ov_has(c, k)) return cur_set_current(c, 0, k);
            if (++s->pos < s->n) continue;
            c->hash_shard++;
            int rc = cur_hash_fill(c);
            if (rc != ARM_OK) return rc;
            continue;
        }
        /* Shards done: the overlay's puts. */
        while (cur_ov_valid(c) &&
               (c->ov[c->ov_pos].del || !cur_in_bounds(c, cur_ov_key(c, c->ov_pos))))
            c->ov_pos++;
        if (!cur_ov_valid(c)) {
            c->dir = 0;
            return ARM_NOTFOUND;
        }
        return cur_set_current(c, -1, cur_ov_key(c, c->ov_pos));
    }
}

/* ------------------------------------------------------------- public */
int arm_cursor_open_at(arm_engine *e, const arm_batch *overlay, uint64_t snap, arm_txn *txn,
                       arm_cursor **cursor_out) {
    *cursor_out = NULL;
    arm_cursor *c = arm_calloc(1, sizeof(*c));
    if (c == NULL) return ARM_ERR(ARM_NOMEM);
    c->e = e;
    c->snap = snap;
    c->txn = txn;
    c->hash = arm_index_kind(e->shards[0].index) == ARM_INDEX_HASH;
    c->nsrc = c->hash ? 1 : e->shard_count;
    c->src = arm_calloc(c->nsrc, sizeof(cur_src));
    c->ov_pos = -1;
    int rc = c->src ? ARM_OK : ARM_ERR(ARM_NOMEM);
    if (rc == ARM_OK && overlay) rc = cur_overlay_snapshot(c, overlay);
    if (rc == ARM_OK && txn) c->range = arm_txn_range_slot(txn);
    if (rc != ARM_OK) {
        arm_engine_cursor_close(c);
        return rc;
    }
    *cursor_out = c;
    return ARM_OK;
}

int arm_engine_cursor_open(arm_engine *e, const arm_batch *overlay, arm_cursor **cursor_out) {
    return arm_cursor_open_at(e, overlay, UINT64_MAX, NULL, cursor_out);
}

/* A transaction's cursor saw every key from where a positioning call started
 * (`from`, or the edge of its bounds it starts at) to where it landed (or, at
 * the end, to the bound it was heading for), dir +1 forward / -1 backward.
 * That range joins the transaction's read set: a key made, changed or
 * deleted in it by a later commit is a conflict. */
static int cur_note(arm_cursor *c, const arm_slice *from, int dir, int rc) {
    if (c->txn == NULL || (rc != ARM_OK && rc != ARM_NOTFOUND)) return rc;
    arm_slice lo_b = arm_slice_make(c->lo.ptr, c->lo.len), hi_b = arm_slice_make(c->hi.ptr, c->hi.len);
    int lo_inf = c->has_lo ? 0 : -1, hi_inf = c->has_hi ? 0 : 1;
    arm_slice a, b;
    int ainf, binf;
    if (c->hash) { /* no order: what it passes over is anything in its bounds */
        arm_txn_note_range(c->txn, c->range, lo_b, lo_inf, hi_b, hi_inf);
        return rc;
    }
    if (from) {
        a = *from;
        ainf = 0;
    } else {
        a = dir > 0 ? lo_b : hi_b;
        ainf = dir > 0 ? lo_inf : hi_inf;
    }
    if (rc == ARM_OK) {
        b = arm_slice_make(c->cur_key.ptr, c->cur_key.len);
        binf = 0;
    } else {
        b = dir > 0 ? hi_b : lo_b;
        binf = dir > 0 ? hi_inf : lo_inf;
    }
    if (dir > 0)
        arm_txn_note_range(c->txn, c->range, a, ainf, b, binf);
    else
        arm_txn_note_range(c->txn, c->range, b, binf, a, ainf);
    return rc;
}

void arm_engine_cursor_close(arm_cursor *c) {
    if (c == NULL) return;
    for (uint32_t i = 0; c->src && i < c->nsrc; i++) {
        arm_file_refs_free(&c->src[i].files);
        arm_buf_free(&c->src[i].keys);
        arm_free(c->src[i].ents);
    }
    arm_free(c->src);
    arm_free(c->ov);
    arm_buf_free(&c->ov_data);
    arm_buf_free(&c->lo);
    arm_buf_free(&c->hi);
    arm_buf_free(&c->cur_key);
    arm_buf_free(&c->seek);
    arm_buf_free(&c->vbuf);
    arm_buf_free(&c->from);
    arm_free(c);
}

static int cur_set_bound(arm_buf *b, int *has, arm_slice k) {
    *has = k.ptr != NULL;
    b->len = 0;
    if (!*has) return ARM_OK;
    int rc = arm_buf_reserve(b, k.len + 1);
    if (rc != ARM_OK) return rc;
    if (k.len) memcpy(b->ptr, k.ptr, k.len);
    b->len = k.len;
    return ARM_OK;
}

int arm_engine_cursor_bounds(arm_cursor *c, arm_slice lo, int lo_inclusive, arm_slice hi,
                             int hi_inclusive) {
    c->lo_incl = lo_inclusive;
    c->hi_incl = hi_inclusive;
    int rc = cur_set_bound(&c->lo, &c->has_lo, lo);
    if (rc == ARM_OK) rc = cur_set_bound(&c->hi, &c->has_hi, hi);
    return rc;
}

static int cur_first(arm_cursor *c) {
    if (c->hash) {
        c->dir = 1;
        c->hash_shard = 0;
        c->ov_pos = 0;
        int rc = cur_hash_fill(c);
        return rc != ARM_OK ? rc : cur_hash_settle(c);
    }
    if (c->has_lo) {
        arm_slice lo = arm_slice_make(c->lo.ptr, c->lo.len);
        return cur_position(c, &lo, c->lo_incl ? ARM_SEEK_GE : ARM_SEEK_GT);
    }
    return cur_position(c, NULL, ARM_SEEK_GE);
}

static int cur_last(arm_cursor *c) {
    if (c->hash) return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "a hash index has no order");
    if (c->has_hi) {
        arm_slice hi = arm_slice_make(c->hi.ptr, c->hi.len);
        return cur_position(c, &hi, c->hi_incl ? ARM_SEEK_LE : ARM_SEEK_LT);
    }
    return cur_position(c, NULL, ARM_SEEK_LE);
}

static int cur_seek(arm_cursor *c, arm_slice key, int op) {
    if (c->hash) return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "a hash index has no order");
    if (op < ARM_SEEK_GE || op > ARM_SEEK_LT || key.len > ARM_KEY_SIZE_MAX)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "bad seek");
    /* Clamp to the bound on the side the cursor starts from. */
    int fwd = op == ARM_SEEK_GE || op == ARM_SEEK_GT;
    if (fwd && c->has_lo) {
        arm_slice lo = arm_slice_make(c->lo.ptr, c->lo.len);
        int r = cur_cmp(key, lo);
        if (r < 0 || (r == 0 && !c->lo_incl)) return cur_first(c);
    }
    if (!fwd && c->has_hi) {
        arm_slice hi = arm_slice_make(c->hi.ptr, c->hi.len);
        int r = cur_cmp(key, hi);
        if (r > 0 || (r == 0 && !c->hi_incl)) return cur_last(c);
    }
    return cur_position(c, &key, op);
}

static int cur_step(arm_cursor *c, int dir) {
    if (c->dir == 0) return ARM_NOTFOUND;
    arm_slice k = arm_slice_make(c->cur_key.ptr, c->cur_key.len);
    if (c->hash) {
        if (dir < 0) return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "a hash index has no order");
        if (c->cur == -1)
            c->ov_pos++;
        else
            c->src[0].pos++;
        if (c->cur == 0 && c->src[0].pos >= c->src[0].n) {
            c->hash_shard++;
            int rc = cur_hash_fill(c);
            if (rc != ARM_OK) return rc;
        }
        return cur_hash_settle(c);
    }
    if (dir != c->dir) return cur_position(c, &k, dir > 0 ? ARM_SEEK_GT : ARM_SEEK_LT);
    if (cur_step_past(c, k)) return cur_refill(c, k);
    return cur_pick(c);
}

int arm_engine_cursor_first(arm_cursor *c) {
    return cur_note(c, NULL, 1, cur_first(c));
}

int arm_engine_cursor_last(arm_cursor *c) {
    return cur_note(c, NULL, -1, cur_last(c));
}

int arm_engine_cursor_seek(arm_cursor *c, arm_slice key, int op) {
    int rc = ARM_OK;
    if (c->txn && key.len) { /* key may point into the cursor's own buffers */
        rc = arm_buf_reserve(&c->from, key.len);
        if (rc != ARM_OK) return rc;
        memmove(c->from.ptr, key.ptr, key.len);
        key = arm_slice_make(c->from.ptr, key.len);
    }
    int dir = op == ARM_SEEK_GE || op == ARM_SEEK_GT ? 1 : -1;
    return cur_note(c, &key, dir, cur_seek(c, key, op));
}

/* A step of a transaction's cursor notes the range from the key it left. */
static int cur_step_noted(arm_cursor *c, int dir) {
    if (c->txn == NULL || c->dir == 0) return cur_step(c, dir);
    int rc = arm_buf_reserve(&c->from, c->cur_key.len + 1);
    if (rc != ARM_OK) return rc;
    memcpy(c->from.ptr, c->cur_key.ptr, c->cur_key.len);
    arm_slice from = arm_slice_make(c->from.ptr, c->cur_key.len);
    return cur_note(c, &from, dir, cur_step(c, dir));
}

int arm_engine_cursor_next(arm_cursor *c) {
    return cur_step_noted(c, 1);
}

int arm_engine_cursor_prev(arm_cursor *c) {
    return cur_step_noted(c, -1);
}

int arm_engine_cursor_valid(const arm_cursor *c) {
    return c->dir != 0;
}

arm_slice arm_engine_cursor_key(const arm_cursor *c) {
    if (c->dir == 0) return arm_slice_make(NULL, 0);
    return arm_slice_make(c->cur_key.ptr, c->cur_key.len);
}

int arm_engine_cursor_value(arm_cursor *c, arm_slice *value_out) {
    value_out->ptr = NULL;
    value_out->len = 0;
    if (c->dir == 0) return ARM_ERR(ARM_MISUSE);
    if (c->cur == -1) {
        const cur_ov *o = &c->ov[c->ov_pos];
        *value_out = arm_slice_make(c->ov_data.ptr + o->voff, o->vlen);
        return ARM_OK;
    }
    const cur_src *s = &c->src[c->cur];
    /* Values sit in write order, so a key-order scan jumps around the log:
     * prefetch the entries a few keys ahead (a prefetch never faults, even
     * past the file's end; the run holds their files). */
    for (uint32_t d = 4; d <= 8; d += 4) {
        if (s->pos + d >= s->n) break;
        const arm_item *nx = &s->ents[s->pos + d].loc;
        arm_file *f = arm_engine_file(c->e, nx->fid);
        const uint8_t *p = f ? arm_file_mapped(f, nx->off, nx->len) : NULL;
        if (p) {
            __builtin_prefetch(p);
            __builtin_prefetch(p + nx->len - 1);
        }
    }
    return arm_engine_read_value(c->e, &s->ents[s->pos].loc, cur_src_key(s, s->pos), &c->vbuf,
                                 value_out);
}

#undef CUR_RUN
