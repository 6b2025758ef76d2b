/* SPDX-License-Identifier: MIT */
/*
 * recover.c: rebuild the index at open by scanning every shard's data files
 * in file-id order. For each key the entry with the highest sequence number
 * wins (tombstones are kept as DEAD items until the end, so an older put in
 * another shard's file cannot resurrect a deleted key). A batch is applied
 * only when its TXN_END entry is read. In a shard's newest file the first bad
 * or incomplete entry is the torn tail: the file is cut there and appends
 * resume at that offset. In an older file it is damage: ARM_CORRUPT naming
 * file and offset, unless the engine is opened read-only for salvage.
 *
 * Two-phase transactions (txn.c): a batch that opens with a TXNINFO entry
 * was decided outside the engine; it is parked until a DECISION record for
 * its sequence number says COMMIT (applied then) or ABORT (dropped), and one
 * with neither is in doubt after recovery: invisible, its keys held
 * (arm_engine_indoubt_*). Any other batch is applied when complete (its
 * prepare was its decision) unless a later ABORT record names it: then the
 * keys it touched are resolved again from everything else (rec_redo).
 * Layer: engine, below engine.c (which runs it at open) and above shard.c
 * (arm_shard_resume, arm_shard_new_file) and file.c, through which it lists,
 * opens, views, sets aside and removes data files.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct rec_pending {
    uint64_t off;
    arm_entry_hdr h;
    const uint8_t *key;
} rec_pending;

/* An externally decided batch waiting for its DECISION record. */
typedef struct rec_parked {
    uint64_t seq;
    uint32_t fid, shard;      /* where it lives */
    uint8_t owner[16];
    rec_pending *ents;        /* its data entries (key pointers into keys) */
    size_t n;
    uint8_t *keys;            /* copies: the file is unmapped after its scan */
    struct rec_parked *next;
} rec_parked;

typedef struct rec_state {
    arm_engine *e;
    rec_pending *pend; /* entries of a batch whose TXN_END is not yet seen */
    size_t npend, cap;
    uint64_t max_seq;
    rec_parked *parked;      /* externally decided batches without a decision yet */
    uint64_t *aborted;       /* batches applied, then aborted by a later record */
    size_t naborted, cap_aborted;
    int redo;                /* rec_redo's pass: only items marked REDO are applied */
    arm_log_pos last;        /* rec_scan: just past the last whole entry or batch seen */
} rec_state;

/* rec_redo marks the items it resolves again (recovery only). */
#define REC_ITEM_REDO 0x80

/* A REPL_POS entry (its value follows the key): the follower's position in
 * one leader shard, kept when it is the newest seen. Never an index key. */
static int rec_repl_pos(rec_state *st, uint32_t fid, uint32_t shard, const arm_entry_hdr *h,
                        const uint8_t *key, uint64_t off) {
    arm_engine *e = st->e;
    if (st->redo) return ARM_OK;
    arm_file_add_dead(e, fid, shard, arm_entry_size(h->klen, h->vlen));
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

static int rec_apply(rec_state *st, uint32_t fid, uint64_t off, const arm_entry_hdr *h,
                     const uint8_t *key) {
    arm_engine *e = st->e;
    uint32_t len = arm_entry_size(h->klen, h->vlen);
    if (h->seq > st->max_seq) st->max_seq = h->seq;
    uint32_t t = arm_engine_route(e, key, h->klen);
    arm_index *idx = e->shards[t].index;
    arm_item *it;
    int created;
    if (st->redo) { /* only keys an aborted batch left pointing at itself */
        it = arm_index_get(idx, key, h->klen);
        if (it == NULL || !(it->flags & REC_ITEM_REDO) || h->seq <= it->seq) return ARM_OK;
        it->seq = h->seq;
        it->fid = fid;
        it->off = (uint32_t)off;
        it->len = len;
        it->flags = (uint8_t)(REC_ITEM_REDO | (h->type == ARM_ENTRY_DEL ? ARM_ITEM_DEAD : 0));
        return ARM_OK;
    }
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

static int rec_is_aborted(const rec_state *st, uint64_t seq) {
    return st->naborted &&
           bsearch(&seq, st->aborted, st->naborted, sizeof(uint64_t), arm_u64_cmp) != NULL;
}

static void rec_parked_free(rec_parked *p) {
    if (p == NULL) return;
    arm_free(p->ents);
    arm_free(p->keys);
    arm_free(p);
}

/* A complete batch opening with TXNINFO: keep it (with key copies) until its
 * decision. */
static int rec_park(rec_state *st, uint32_t fid, uint32_t shard, const uint8_t *owner) {
    rec_parked *pk = arm_calloc(1, sizeof(*pk));
    size_t n = st->npend - 1, bytes = 0;
    for (size_t i = 1; i < st->npend; i++) bytes += st->pend[i].h.klen;
    if (pk) pk->ents = arm_malloc((n ? n : 1) * sizeof(rec_pending));
    if (pk && pk->ents) pk->keys = arm_malloc(bytes ? bytes : 1);
    if (pk == NULL || pk->ents == NULL || pk->keys == NULL) {
        rec_parked_free(pk);
        return ARM_ERR(ARM_NOMEM);
    }
    pk->seq = st->pend[0].h.seq;
    pk->fid = fid;
    pk->shard = shard;
    memcpy(pk->owner, owner, 16);
    size_t koff = 0;
    for (size_t i = 1; i < st->npend; i++) {
        rec_pending *d = &pk->ents[i - 1];
        *d = st->pend[i];
        memcpy(pk->keys + koff, st->pend[i].key, d->h.klen);
        d->key = pk->keys + koff;
        koff += d->h.klen;
    }
    pk->n = n;
    pk->next = st->parked;
    st->parked = pk;
    return ARM_OK;
}

/* A DECISION record for batch `seq`. */
static int rec_decide(rec_state *st, uint64_t seq, int outcome) {
    for (rec_parked **pp = &st->parked; *pp; pp = &(*pp)->next) {
        rec_parked *pk = *pp;
        if (pk->seq != seq) continue;
        int rc = ARM_OK;
        if (outcome == ARM_DECISION_COMMIT)
            for (size_t i = 0; i < pk->n && rc == ARM_OK; i++)
                rc = rec_apply(st, pk->fid, pk->ents[i].off, &pk->ents[i].h, pk->ents[i].key);
        *pp = pk->next;
        rec_parked_free(pk);
        return rc;
    }
    if (outcome != ARM_DECISION_ABORT || st->redo) return ARM_OK; /* a commit needs nothing */
    if (st->naborted == st->cap_aborted) {
        size_t cap = st->cap_aborted ? st->cap_aborted * 2 : 16;
        uint64_t *p = arm_realloc(st->aborted, cap * sizeof(uint64_t));
        if (p == NULL) return ARM_ERR(ARM_NOMEM);
        st->aborted = p;
        st->cap_aborted = cap;
    }
    st->aborted[st->naborted++] = seq;
    return ARM_OK;
}

/* The batch in st->pend is complete. */
static int rec_batch_done(rec_state *st, uint32_t fid, uint32_t shard) {
    const rec_pending *first = &st->pend[0];
    if (first->h.type == ARM_ENTRY_TXNINFO) return rec_park(st, fid, shard, first->key + 1);
    if (st->redo && rec_is_aborted(st, first->h.seq)) return ARM_OK;
    int rc = ARM_OK;
    for (size_t i = 0; i < st->npend && rc == ARM_OK; i++) {
        const rec_pending *pe = &st->pend[i];
        rc = pe->h.type == ARM_ENTRY_REPL_POS ? rec_repl_pos(st, fid, shard, &pe->h, pe->key, pe->off)
                                              : rec_apply(st, fid, pe->off, &pe->h, pe->key);
    }
    return rc;
}

/* Scan entries in p[ARM_FILE_HEADER_SIZE, size). *end_out: where the valid
 * log ends (the start of an unfinished batch counts as its end). */
static int rec_scan(rec_state *st, uint32_t fid, uint32_t shard, const uint8_t *p, uint64_t size,
                    uint64_t *end_out) {
    uint64_t off = ARM_FILE_HEADER_SIZE;
    st->npend = 0;
    int rc = ARM_OK;
    while (off < size && rc == ARM_OK) {
        arm_entry_hdr h;
        if (arm_entry_decode(p + off, size - off, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK)
            break;
        uint32_t len = arm_entry_size(h.klen, h.vlen);
        const uint8_t *key = p + off + ARM_ENTRY_HEADER;
        if (h.seq > st->max_seq) st->max_seq = h.seq;
        if (h.type == ARM_ENTRY_DECISION) {
            if (st->npend) break; /* inside a batch: damage */
            uint64_t seq = 0;
            for (int i = 7; i >= 0; i--) seq = (seq << 8) | key[i];
            rc = rec_decide(st, seq, key[ARM_DECISION_KLEN]);
            if (!st->redo) arm_file_add_dead(st->e, fid, shard, len); /* never live data */
            /* Log readers must skip what was aborted, wherever it lies. */
            if (!st->redo && key[ARM_DECISION_KLEN] == ARM_DECISION_ABORT)
                arm_outcome_aborted_add(st->e, seq);
        } else if (h.flags & ARM_ENTRY_TXN) {
            if (st->npend && st->pend[0].h.seq != h.seq) break; /* batches never interleave */
            if (h.type == ARM_ENTRY_TXNINFO && st->npend) break;  /* it opens its batch */
            if (st->npend == st->cap) {
                size_t cap = st->cap ? st->cap * 2 : 64;
                rec_pending *np = arm_realloc(st->pend, cap * sizeof(*np));
                if (np == NULL) return ARM_ERR(ARM_NOMEM);
                st->pend = np;
                st->cap = cap;
            }
            st->pend[st->npend++] = (rec_pending){off, h, key};
            if (h.type == ARM_ENTRY_TXNINFO && !st->redo) arm_file_add_dead(st->e, fid, shard, len);
            if (h.flags & ARM_ENTRY_TXN_END) {
                rc = rec_batch_done(st, fid, shard);
                st->npend = 0;
            }
        } else if (h.type == ARM_ENTRY_REPL_POS) {
            if (st->npend) break;
            rc = rec_repl_pos(st, fid, shard, &h, key, off);
        } else {
            if (st->npend) break; /* a batch cut short by a plain entry: damage */
            if (!(st->redo && rec_is_aborted(st, h.seq))) rc = rec_apply(st, fid, off, &h, key);
        }
        off += len;
        if (st->npend == 0) st->last = (arm_log_pos){h.seq, off, fid, len};
    }
    *end_out = st->npend ? st->pend[0].off : off;
    st->npend = 0;
    return rc;
}

/* Open, validate and scan one data file; register it in the file table.
 * *valid_end_out: logical end; *bad_header_out set when the header is bad. */
static int rec_file(rec_state *st, arm_shard *s, uint32_t fid, int last, arm_file **file_out,
                    uint64_t *size_out, uint64_t *valid_end_out, int *bad_header_out) {
    arm_engine *e = st->e;
    *file_out = NULL;
    *bad_header_out = 0;
    *valid_end_out = 0;
    arm_file *f;
    uint64_t size;
    int rc = arm_file_open(&e->files, s->dir, s->id, fid, &f, &size);
    if (rc != ARM_OK) return rc;
    *size_out = size;
    const uint8_t *map = NULL;
    rc = arm_file_view(f, size, &map);
    if (rc != ARM_OK) {
        arm_file_free(f);
        return rc;
    }
    arm_file_hdr fh;
    if (map == NULL || arm_file_hdr_decode(map, size, &fh) != ARM_OK || fh.fid != fid ||
        fh.shard != s->id || memcmp(fh.db_id, e->meta.db_id, 16) != 0 || fh.flags != e->meta.flags) {
        /* 2: the header is bad and no entry follows it either: a newest
         * file whose first block was torn by a crash before it was ever
         * synced. 1: a bad header in front of readable entries: damage. */
        arm_entry_hdr h;
        int has_entry = size > ARM_FILE_HEADER_SIZE &&
                        arm_entry_decode(map + ARM_FILE_HEADER_SIZE, size - ARM_FILE_HEADER_SIZE,
                                         ARM_KEY_SIZE_MAX, UINT32_MAX, &h) == ARM_OK;
        *bad_header_out = has_entry ? 1 : 2;
    } else {
        if (fh.base_seq > st->max_seq) st->max_seq = fh.base_seq;
        rc = arm_files_add(&e->files, f);
        if (rc != ARM_OK) goto cleanup;
        arm_file *added = f;
        f = NULL; /* owned by the file table now, even on failure */
        rc = rec_scan(st, fid, s->id, map, size, valid_end_out);
        if (rc == ARM_OK) atomic_store(&added->size, *valid_end_out);
        /* The newest file keeps growing: reserve room for all of it. */
        uint64_t map_len = last && !e->opts.read_only ? e->opts.max_file_size : *valid_end_out;
        if (rc == ARM_OK && e->opts.mmap_reads) arm_file_map(added, map_len);
        if (rc == ARM_OK) *file_out = added;
    }
cleanup:
    arm_file_unview(map, size);
    arm_file_free(f);
    return rc;
}

/* The newest file is cut at its first bad entry (the torn tail). When a good
 * entry still follows the cut, the damage was not a torn write alone (bit rot
 * in the middle, say), and what follows may be acknowledged data: the cut
 * bytes are kept beside the file as FFFFFFFF.log.cut-OFFSET, never thrown
 * away unseen. */
static int rec_keep_cut(arm_file *f, uint64_t end, uint64_t size) {
    if (size <= end + ARM_ENTRY_HEADER) return ARM_OK;
    const uint8_t *map;
    int rc = arm_file_view(f, size, &map);
    if (rc != ARM_OK) return rc;
    int later = 0;
    arm_entry_hdr h;
    for (uint64_t o = end + 1; o + ARM_ENTRY_HEADER <= size && !later; o++)
        later = arm_entry_decode(map + o, size - o, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) == ARM_OK;
    if (later) rc = arm_file_save_tail(f, map, end, size);
    arm_file_unview(map, size);
    return rc;
}

static int rec_shard(rec_state *st, arm_shard *s, uint32_t *max_fid) {
    arm_engine *e = st->e;
    uint32_t *ids;
    size_t n;
    int rc = arm_files_list(s->dir, &ids, &n);
    if (rc != ARM_OK) return rc;
    /* Newest files that were created and never written (a rotation cut short
     * by a crash) hold no data: drop them, so the file before is the newest
     * and appends resume there. A blank file anywhere else is damage. */
    for (; n > 0; n--) {
        if (!arm_file_blank(s->dir, ids[n - 1])) break;
        if (ids[n - 1] > *max_fid) *max_fid = ids[n - 1]; /* never reuse its id */
        if (!e->opts.read_only) arm_file_unlink(s->dir, ids[n - 1]);
    }
    arm_file *newest = NULL, *newest_prev = NULL; /* the newest good file, the one before */
    uint64_t newest_end = 0, newest_prev_end = 0; /* their valid ends */
    uint64_t newest_size = 0;                      /* the newest file's size on disk */
    for (size_t i = 0; i < n && rc == ARM_OK; i++) {
        int last = i + 1 == n, bad_header;
        arm_file *f = NULL;
        uint64_t size = 0, end = 0;
        if (ids[i] > *max_fid) *max_fid = ids[i];
        rc = rec_file(st, s, ids[i], last, &f, &size, &end, &bad_header);
        if (rc != ARM_OK) break;
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
                if (rc == ARM_OK && newest_prev != NULL)
                    rc = arm_shard_resume(e, s, newest_prev, newest_prev_end);
                continue;
            }
            if (!e->opts.read_only)
                rc = arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                       "bad file header in %s; open read-only to salvage", path);
            continue;
        }
        if (end < size && !last && !e->opts.read_only)
            rc = arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                   "corrupt entry in %s at offset %llu (file size %llu); "
                                   "open read-only to salvage",
                                   f->path, (unsigned long long)end, (unsigned long long)size);
        /* The log's tail position: the last whole entry of the newest file
         * that has one. */
        if (st->last.fid == ids[i]) s->tail = st->last;
        if (last) {
            newest = f;
            newest_end = end;
            newest_size = size;
        } else {
            newest_prev = f;
            newest_prev_end = end;
        }
    }
    arm_free(ids);
    if (rc == ARM_OK && newest && !e->opts.read_only && newest_end < newest_size)
        rc = rec_keep_cut(newest, newest_end, newest_size);
    if (rc == ARM_OK && newest && !e->opts.read_only) rc = arm_shard_resume(e, s, newest, newest_end);
    return rc;
}

/* Some batches were applied and then aborted: every key whose newest entry
 * belongs to one is resolved again from all the other entries (a second scan
 * of the files that only touches those keys). Rare: an abort follows a
 * prepare only when something after it failed. */
static int rec_redo(rec_state *st) {
    arm_engine *e = st->e;
    qsort(st->aborted, st->naborted, sizeof(uint64_t), arm_u64_cmp);
    uint64_t marked = 0;
    for (uint32_t i = 0; i < e->shard_count; i++) {
        arm_index_iter it;
        for (arm_item *item = arm_index_iter_first(e->shards[i].index, &it); item;
             item = arm_index_iter_next(e->shards[i].index, &it)) {
            if (!rec_is_aborted(st, item->seq)) continue;
            item->seq = 0; /* absent unless an older entry is found */
            item->flags = ARM_ITEM_DEAD | REC_ITEM_REDO;
            marked++;
        }
    }
    rec_parked *parked = st->parked; /* the first pass's verdicts stand */
    st->parked = NULL;
    st->redo = 1;
    int rc = ARM_OK;
    uint32_t top = atomic_load(&e->next_fid);
    for (uint32_t fid = 1; marked && fid < top && rc == ARM_OK; fid++) {
        arm_file *f = arm_engine_file(e, fid);
        uint64_t size = f ? atomic_load(&f->size) : 0;
        if (size <= ARM_FILE_HEADER_SIZE) continue;
        const uint8_t *map = NULL;
        rc = arm_file_view(f, size, &map);
        if (rc != ARM_OK) break;
        uint64_t end;
        rc = rec_scan(st, fid, f->shard, map, size, &end);
        arm_file_unview(map, size);
    }
    while (st->parked) {
        rec_parked *next = st->parked->next;
        rec_parked_free(st->parked);
        st->parked = next;
    }
    st->parked = parked;
    st->redo = 0;
    for (uint32_t i = 0; i < e->shard_count; i++) {
        arm_index_iter it;
        for (arm_item *item = arm_index_iter_first(e->shards[i].index, &it); item;
             item = arm_index_iter_next(e->shards[i].index, &it))
            item->flags &= (uint8_t)~REC_ITEM_REDO;
    }
    return rc;
}

/* What is left parked after recovery is in doubt: keep it, holding its
 * keys (unless read-only: nothing can write then anyway). */
static int rec_indoubt(rec_state *st) {
    arm_engine *e = st->e;
    int rc = ARM_OK;
    while (st->parked && rc == ARM_OK) {
        rec_parked *pk = st->parked;
        arm_wop *ops = arm_calloc(pk->n ? pk->n : 1, sizeof(arm_wop));
        rc = ops ? arm_txn_indoubt_add(e, pk->seq, pk->owner, pk->shard, pk->fid, ops, pk->n,
                                       pk->keys)
                 : ARM_ERR(ARM_NOMEM);
        if (rc != ARM_OK) {
            arm_free(ops);
            break;
        }
        for (size_t i = 0; i < pk->n; i++) {
            arm_wop *op = &ops[i];
            op->key = arm_slice_make(pk->ents[i].key, pk->ents[i].h.klen);
            op->del = pk->ents[i].h.type == ARM_ENTRY_DEL;
            op->shard = arm_engine_route(e, op->key.ptr, op->key.len);
            op->off = pk->ents[i].off;
            op->len = arm_entry_size(pk->ents[i].h.klen, pk->ents[i].h.vlen);
        }
        pk->keys = NULL; /* owned by the in-doubt record now */
        st->parked = pk->next;
        rec_parked_free(pk);
    }
    return rc;
}

int arm_engine_recover(arm_engine *e) {
    rec_state st;
    memset(&st, 0, sizeof(st));
    st.e = e;
    uint32_t max_fid = 0;
    int rc = ARM_OK;
    for (uint32_t i = 0; i < e->shard_count && rc == ARM_OK; i++)
        rc = rec_shard(&st, &e->shards[i], &max_fid);
    if (rc == ARM_OK) atomic_store(&e->next_fid, max_fid + 1);
    if (rc == ARM_OK && st.naborted) rc = rec_redo(&st);
    if (rc == ARM_OK) {
        for (uint32_t i = 0; i < e->shard_count; i++) arm_index_purge_dead(e->shards[i].index);
        rc = rec_indoubt(&st);
    }
    arm_free(st.pend);
    arm_free(st.aborted);
    while (st.parked) {
        rec_parked *next = st.parked->next;
        rec_parked_free(st.parked);
        st.parked = next;
    }
    if (rc != ARM_OK) return rc;
    arm_domain_observe_seq(e->dom, st.max_seq);
    if (e->opts.read_only) return ARM_OK;
    rc = arm_txn_indoubt_hold(e);
    for (uint32_t i = 0; i < e->shard_count && rc == ARM_OK; i++) {
        arm_shard *s = &e->shards[i];
        if (s->active == NULL) rc = arm_shard_new_file(e, s);
    }
    return rc;
}
