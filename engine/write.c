/* SPDX-License-Identifier: MIT */
/*
 * write.c: the single-phase write paths (put, delete, cas, batches) and what
 * the two-phase transactions of txn.c share with them. wr_commit: with the
 * index write locks of every shard the operations route to held, it appends
 * all entries contiguously to one shard's log (arm_log_append: a batch of
 * n > 1 entries flagged TXN, the last TXN_END, all with one sequence number
 * that is also the new versions' stamp), then installs them in the indexes
 * (arm_install keeps the replaced version when a snapshot may read it).
 * Items for new keys are created before anything is appended, so running
 * out of memory never leaves the log ahead of the index; a failed flush
 * rolls the buffer back so a failed write is never visible later. A key
 * held by a prepared transaction (ARM_ITEM_INTENT) refuses these writes
 * with ARM_BUSY.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"
#include "../common/arm_hash.h"

#include <string.h>

typedef arm_wop wr_op;

struct arm_batch {
    arm_engine *e;
    struct batch_rec {
        uint32_t koff, klen; /* into data */
        uint32_t voff, vlen;
        uint8_t del;
        uint8_t absent; /* the key's first record in the batch was an insert */
    } *recs;
    size_t nrecs, cap_recs;
    arm_buf data;      /* keys and values, appended */
    uint32_t *slots;   /* hash of key -> rec index + 1 (0 = empty), latest rec per key */
    size_t nslots;     /* power of two */
    size_t nkeys;      /* distinct keys in slots */
    wr_op *ops;        /* commit scratch, reused */
    size_t cap_ops;
};

/* --------------------------------------------------------- validation */
static int wr_check_sizes(arm_engine *e, arm_slice key, const arm_slice *value) {
    if (key.len == 0) return arm_engine_seterr(ARM_ERR(ARM_TOOBIG), 0, "empty key");
    if (key.len > e->opts.max_key_size)
        return arm_engine_seterr(ARM_ERR(ARM_TOOBIG), 0, "key of %zu bytes is over max_key_size (%u)",
                                 key.len, e->opts.max_key_size);
    if (value && value->len > e->opts.max_value_size)
        return arm_engine_seterr(ARM_ERR(ARM_TOOBIG), 0,
                                 "value of %zu bytes is over max_value_size (%u)", value->len,
                                 e->opts.max_value_size);
    return ARM_OK;
}

static int wr_check(arm_engine *e, arm_slice key, const arm_slice *value) {
    if (e->opts.read_only)
        return arm_engine_seterr(ARM_ERR(ARM_READONLY), 0, "%s is open read-only", e->dir);
    if (atomic_load(&e->follower)) return arm_engine_refuse_follower(e);
    return wr_check_sizes(e, key, value);
}

/* ------------------------------------------------------------- commit */
static void wr_unprepare(arm_engine *e, wr_op *ops, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!ops[i].created) continue;
        arm_index_remove(e->shards[ops[i].shard].index, ops[i].item);
        e->shards[ops[i].shard].ix_gen++;
    }
}

/* Prepare ops under the index locks: check conditional inserts, skip
 * deletes of absent keys, create items for new keys, refuse keys a prepared
 * transaction holds. On failure every created item is removed again. */
static int wr_prepare(arm_engine *e, wr_op *ops, size_t n) {
    int keep = atomic_load(&e->dom->nsnap) > 0;
    for (size_t i = 0; i < n; i++) {
        wr_op *op = &ops[i];
        arm_shard *sh = &e->shards[op->shard];
        op->created = 0;
        if (op->type) { /* a record that is not a key (REPL_POS): no index item */
            op->item = NULL;
            op->skip = 0;
            continue;
        }
        if (op->found) {
            op->skip = 0; /* wr_one found the existing item already */
        } else if (op->del) {
            op->item = arm_index_get(sh->index, op->key.ptr, op->key.len);
        } else {
            /* one descent finds the key or makes its item */
            int rc = arm_index_upsert(sh->index, op->key.ptr, op->key.len, &op->item, &op->created);
            if (rc != ARM_OK) {
                wr_unprepare(e, ops, i);
                return arm_engine_seterr(rc, 0, "out of memory for the index");
            }
            if (op->created) sh->ix_gen++;
        }
        if (op->item && (op->item->flags & ARM_ITEM_INTENT)) {
            wr_unprepare(e, ops, i + 1);
            return arm_engine_seterr(ARM_ERR(ARM_BUSY), 0,
                                     "a key is held by a prepared transaction in %s", e->dir);
        }
        op->skip = op->del && !arm_item_live(op->item);
        /* A prepared transaction read it: this write would be visible before
         * that transaction, which comes first (txn.c). */
        if (arm_txn_read_by_other(e, op, 1, NULL)) {
            wr_unprepare(e, ops, i + 1);
            return arm_engine_seterr(ARM_ERR(ARM_BUSY), 0,
                                     "a key is read by a transaction that is committing in %s",
                                     e->dir);
        }
        if (op->absent && !op->created && arm_item_live(op->item)) {
            wr_unprepare(e, ops, i + 1);
            return arm_engine_seterr(ARM_CONSTRAINT, 0, "an inserted key already exists");
        }
        /* Best effort: spare version nodes so installing seldom allocates. */
        if (keep && !op->created && !op->skip) arm_vs_reserve(sh, sh->vs.nspare + 1);
    }
    return ARM_OK;
}

int arm_log_append(arm_engine *e, arm_shard *s, wr_op *ops, size_t n, size_t live, uint64_t total,
                   const uint8_t *owner, uint64_t *seq_out, uint32_t *fid_out, uint64_t *end_out) {
    int rc = ARM_OK;
    if (s->buf_cap - s->buf_len < total && total <= s->buf_cap) rc = arm_shard_flush_locked(e, s);
    if (rc == ARM_OK) rc = arm_shard_reserve(e, s, total);
    if (rc != ARM_OK) return rc;
    arm_file *f = s->active;
    uint64_t size0 = atomic_load(&f->size), buf_off0 = s->buf_off;
    uint32_t buf_len0 = s->buf_len;
    uint64_t seq = arm_domain_next_seq(e->dom);
    if (seq == 0)
        return arm_engine_seterr(ARM_ERR(ARM_FULL), 0, "sequence numbers exhausted in %s", e->dir);
    size_t members = live + (owner != NULL), k = 0;
    uint32_t last_len = 0; /* the batch's last entry: where the log's tail position points */
    if (owner != NULL) {
        static const uint8_t zero = 0;
        uint8_t hdr[ARM_ENTRY_HEADER];
        arm_entry_encode(hdr, ARM_ENTRY_TXNINFO, ARM_ENTRY_TXN, seq, arm_slice_make(&zero, 1),
                         arm_slice_make(owner, ARM_TXNINFO_VLEN));
        k++;
        rc = arm_shard_append(e, s, hdr, sizeof(hdr));
        if (rc == ARM_OK) rc = arm_shard_append(e, s, &zero, 1);
        if (rc == ARM_OK) rc = arm_shard_append(e, s, owner, ARM_TXNINFO_VLEN);
    }
    for (size_t i = 0; i < n && rc == ARM_OK; i++) {
        wr_op *op = &ops[i];
        if (op->skip) continue;
        k++;
        uint8_t flags =
            members > 1 ? (uint8_t)(ARM_ENTRY_TXN | (k == members ? ARM_ENTRY_TXN_END : 0)) : 0;
        arm_slice v = op->del ? arm_slice_make(NULL, 0) : op->value;
        uint8_t type = op->type ? op->type : op->del ? ARM_ENTRY_DEL : ARM_ENTRY_PUT;
        uint8_t hdr[ARM_ENTRY_HEADER];
        uint32_t len = arm_entry_size(op->key.len, v.len);
        /* An entry that fits in the buffer's free space lands there whole:
         * checksum it in place, in one pass. A bigger one streams through
         * flushes, so its checksum is computed before its header goes out. */
        int in_place = s->buf_cap - s->buf_len >= len;
        if (in_place)
            arm_entry_header(hdr, type, flags, seq, op->key.len, v.len);
        else
            arm_entry_encode(hdr, type, flags, seq, op->key, v);
        uint32_t pos = s->buf_len;
        op->off = s->buf_off + s->buf_len;
        op->len = len;
        last_len = len;
        rc = arm_shard_append(e, s, hdr, sizeof(hdr));
        if (rc == ARM_OK) rc = arm_shard_append(e, s, op->key.ptr, op->key.len);
        if (rc == ARM_OK && v.len) rc = arm_shard_append(e, s, v.ptr, v.len);
        if (rc == ARM_OK && in_place) arm_entry_seal(s->buf + pos, len);
    }
    /* normal and full: the bytes reach the file before the index shows them,
     * so a write that fails here is rolled back and never seen. (full then
     * shares one fdatasync among concurrent committers.) */
    if (rc == ARM_OK && e->opts.sync_mode != ARM_SYNC_OFF) rc = arm_shard_flush_locked(e, s);
    if (rc != ARM_OK) {
        int terr = 0;
        if (s->buf_off == buf_off0 && s->active == f &&
            arm_file_truncate(f, atomic_load(&s->flushed_off), &terr) == ARM_OK) {
            /* None of this write is in the file's logical part; a failed
             * pwrite may have left some of its bytes past it, which the
             * truncate removed, so a crash cannot bring them back. Forget it. */
            s->buf_len = buf_len0;
            atomic_store(&f->size, size0);
        } else {
            atomic_store(&e->panic, 1);
        }
        return rc;
    }
    *seq_out = seq;
    *fid_out = f->fid;
    *end_out = atomic_load(&f->size);
    s->tail = (arm_log_pos){seq, *end_out, f->fid, last_len};
    return ARM_OK;
}

int arm_log_decision(arm_engine *e, arm_shard *s, uint64_t batch_seq, int outcome,
                     uint32_t *fid_out, uint64_t *end_out) {
    uint8_t key[ARM_DECISION_KLEN], val = (uint8_t)outcome;
    for (int i = 0; i < 8; i++) key[i] = (uint8_t)(batch_seq >> (8 * i));
    wr_op op;
    memset(&op, 0, sizeof(op));
    op.key = arm_slice_make(key, sizeof(key));
    op.value = arm_slice_make(&val, 1);
    op.type = ARM_ENTRY_DECISION;
    uint64_t seq = 0;
    uint32_t total = arm_entry_size(sizeof(key), 1);
    arm_log_lock(&s->log_lock);
    int rc = atomic_load(&e->panic)
                 ? arm_engine_seterr(ARM_PANIC, 0, "an earlier write or sync failed; reopen %s", e->dir)
                 : ARM_OK;
    if (rc == ARM_OK)
        rc = arm_log_append(e, s, &op, 1, 1, total, NULL, &seq, fid_out, end_out);
    pthread_mutex_unlock(&s->log_lock);
    return rc;
}

void arm_install(arm_engine *e, uint32_t shard, arm_item *it, int created, int del, uint64_t stamp,
                 uint32_t fid, uint32_t off, uint32_t len, int keep_old) {
    arm_shard *s = &e->shards[shard];
    /* The replaced value is garbage for compaction (a snapshot may still read
     * it from the version store; compaction asks before it drops an entry),
     * and a tombstone is never live data. */
    if (!created && !(it->flags & ARM_ITEM_DEAD)) arm_file_add_dead(e, it->fid, shard, it->len);
    if (del) arm_file_add_dead(e, fid, shard, len);
    int kept = 0;
    if (keep_old && !created) {
        kept = arm_vs_keep(s, it, stamp);
    } else if (it->flags & ARM_ITEM_OLD) {
        arm_vs_forget(s, it); /* no snapshot is left to read the chain */
    }
    if (del && !kept) {
        if (it->flags & ARM_ITEM_DEAD) s->ndead--;
        arm_vs_forget(s, it);
        arm_index_remove(s->index, it);
        s->ix_gen++;
        return;
    }
    if (del && !(it->flags & ARM_ITEM_DEAD)) s->ndead++;
    if (!del && (it->flags & ARM_ITEM_DEAD)) s->ndead--;
    it->flags = (uint8_t)((it->flags & ARM_ITEM_OLD) | (del ? ARM_ITEM_DEAD : 0));
    it->seq = stamp;
    it->fid = fid;
    it->off = off;
    it->len = len;
}

static void wr_apply(arm_engine *e, wr_op *ops, size_t n, uint64_t seq, uint32_t fid) {
    /* last_pub before the versions: a transaction that prepares after we
     * unlock, or looks at last_pub while we install, knows to validate
     * (txn.c). nsnap loaded after the stamp was taken (in arm_log_append): a
     * snapshot registered before that is counted here (mvcc.c says why). */
    uint64_t cur = atomic_load(&e->last_pub);
    while (cur < seq && !atomic_compare_exchange_weak(&e->last_pub, &cur, seq)) {
    }
    int keep = atomic_load(&e->dom->nsnap) > 0;
    for (size_t i = 0; i < n; i++) {
        wr_op *op = &ops[i];
        if (op->skip) continue;
        if (op->type) { /* not a key: its bytes are never live data */
            arm_file_add_dead(e, fid, op->shard, op->len);
            continue;
        }
        arm_install(e, op->shard, op->item, op->created, op->del, seq, fid, (uint32_t)op->off,
                    op->len, keep);
    }
    for (size_t i = 0; i < n; i++) {
        arm_shard *s = &e->shards[ops[i].shard];
        if (s->vs.n) arm_vs_gc(e, s, 0);
    }
}

/* ops[] route to shards whose index write locks the caller holds. Appends to
 * shard `coord`'s log and updates the indexes. *fid_out and *end_out say what to
 * sync (fid 0: nothing was written). */
static int wr_commit(arm_engine *e, wr_op *ops, size_t n, uint32_t coord, uint32_t *fid_out,
                     uint64_t *end_out, uint64_t *seq_out) {
    *fid_out = 0;
    *seq_out = 0;
    int rc = wr_prepare(e, ops, n);
    if (rc != ARM_OK) return rc;
    size_t live = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].skip) continue;
        live++;
        total += arm_entry_size(ops[i].key.len, ops[i].del ? 0 : ops[i].value.len);
    }
    if (live == 0) return ARM_OK;
    if (total + ARM_FILE_HEADER_SIZE > e->opts.max_file_size) {
        wr_unprepare(e, ops, n);
        return arm_engine_seterr(ARM_ERR(ARM_FULL), 0,
                                 "batch of %llu bytes does not fit in one data file (max_file_size)",
                                 (unsigned long long)total);
    }
    arm_shard *s = &e->shards[coord];
    uint64_t seq = 0;
    arm_log_lock(&s->log_lock);
    if (atomic_load(&e->panic))
        rc = arm_engine_seterr(ARM_PANIC, 0, "an earlier write or sync failed; reopen %s", e->dir);
    else
        rc = arm_log_append(e, s, ops, n, live, total, NULL, &seq, fid_out, end_out);
    pthread_mutex_unlock(&s->log_lock);
    if (rc != ARM_OK) {
        wr_unprepare(e, ops, n);
        *fid_out = 0;
        return rc;
    }
    wr_apply(e, ops, n, seq, *fid_out);
    *seq_out = seq;
    arm_watch_notify(e);
    return ARM_OK;
}

static int wr_durable(arm_engine *e, uint32_t coord, uint32_t fid, uint64_t end) {
    if (fid == 0 || e->opts.sync_mode != ARM_SYNC_FULL) return ARM_OK;
    return arm_shard_sync_to(e, &e->shards[coord], fid, end);
}

/* --------------------------------------------------------- point writes */
static int wr_values_equal(arm_engine *e, const arm_item *it, arm_slice expected, int *equal) {
    arm_buf buf = {0};
    arm_slice cur;
    int rc = arm_engine_read_value(e, it, arm_slice_make(it->key, it->klen), &buf, &cur);
    if (rc == ARM_OK)
        *equal = cur.len == expected.len && (cur.len == 0 || memcmp(cur.ptr, expected.ptr, cur.len) == 0);
    arm_buf_free(&buf);
    return rc;
}

/* One key. cas: when non-NULL, the write happens only if the current value
 * equals *cas (cas->ptr == NULL: the key must be absent). */
static int wr_one(arm_engine *e, arm_slice key, const arm_slice *value, const arm_slice *cas) {
    int rc = wr_check(e, key, value);
    if (rc != ARM_OK) return rc;
    uint32_t sh = arm_engine_route(e, key.ptr, key.len);
    arm_shard *s = &e->shards[sh];
    wr_op op;
    memset(&op, 0, sizeof(op));
    op.key = key;
    op.del = value == NULL;
    if (value) op.value = *value;
    op.shard = sh;
    uint32_t fid = 0;
    uint64_t end = 0, seq = 0;
    /* Probe under the shared lock first: the probe's cache misses (most of
     * a write's time at a million keys) then overlap with other readers and
     * writers instead of lengthening the exclusive section. If no item was
     * created or removed in between (ix_gen), what it found (the key's item, or
     * no item) still holds: put, delete and cas need no second probe. */
    arm_index_rdlock(&s->index_lock);
    arm_item *hint = arm_index_get(s->index, key.ptr, key.len);
    uint64_t gen = s->ix_gen;
    pthread_rwlock_unlock(&s->index_lock);
    arm_index_wrlock(&s->index_lock);
    arm_item *it = s->ix_gen == gen ? hint : arm_index_get(s->index, key.ptr, key.len);
    int live = arm_item_live(it);
    if (it != NULL && (it->flags & ARM_ITEM_INTENT)) {
        rc = arm_engine_seterr(ARM_ERR(ARM_BUSY), 0,
                               "the key is held by a prepared transaction in %s", e->dir);
    } else if (cas) {
        int equal = 0;
        if (cas->ptr == NULL || !live)
            equal = cas->ptr == NULL && !live;
        else
            rc = wr_values_equal(e, it, *cas, &equal);
        if (rc == ARM_OK && !equal) rc = ARM_CONSTRAINT;
    } else if (op.del && !live) {
        rc = ARM_NOTFOUND;
    }
    if (it != NULL) { /* the key's item, valid under this lock: no probe in wr_prepare */
        op.item = it;
        op.found = 1;
    }
    if (rc == ARM_OK) rc = wr_commit(e, &op, 1, sh, &fid, &end, &seq);
    pthread_rwlock_unlock(&s->index_lock);
    if (rc == ARM_OK) rc = wr_durable(e, sh, fid, end);
    return rc;
}

int arm_engine_put(arm_engine *e, arm_slice key, arm_slice value) {
    if (value.ptr == NULL) value.ptr = (const uint8_t *)"";
    return wr_one(e, key, &value, NULL);
}

int arm_engine_delete(arm_engine *e, arm_slice key) {
    return wr_one(e, key, NULL, NULL);
}

int arm_engine_cas(arm_engine *e, arm_slice key, arm_slice expected, arm_slice desired) {
    return wr_one(e, key, desired.ptr ? &desired : NULL, &expected);
}

/* --------------------------------------------------------------- batches */
int arm_engine_batch_new(arm_engine *e, arm_batch **batch_out) {
    *batch_out = NULL;
    arm_batch *b = arm_calloc(1, sizeof(*b));
    if (b == NULL) return ARM_ERR(ARM_NOMEM);
    b->e = e;
    *batch_out = b;
    return ARM_OK;
}

void arm_engine_batch_free(arm_batch *b) {
    if (b == NULL) return;
    arm_free(b->recs);
    arm_buf_free(&b->data);
    arm_free(b->slots);
    arm_free(b->ops);
    arm_free(b);
}

static arm_slice batch_key(const arm_batch *b, size_t i) {
    return arm_slice_make(b->data.ptr + b->recs[i].koff, b->recs[i].klen);
}

/* Slot holding key (or the empty slot where it would go). */
static size_t batch_find(const arm_batch *b, arm_slice key) {
    size_t mask = b->nslots - 1;
    size_t i = (size_t)arm_hash_key(key.ptr, key.len) & mask;
    for (;; i = (i + 1) & mask) {
        uint32_t r = b->slots[i];
        if (r == 0) return i;
        arm_slice k = batch_key(b, r - 1);
        if (k.len == key.len && memcmp(k.ptr, key.ptr, key.len) == 0) return i;
    }
}

static int batch_grow_slots(arm_batch *b) {
    size_t n = b->nslots ? b->nslots * 2 : 64;
    uint32_t *old = b->slots;
    size_t oldn = b->nslots;
    b->slots = arm_calloc(n, sizeof(uint32_t));
    if (b->slots == NULL) {
        b->slots = old;
        return ARM_ERR(ARM_NOMEM);
    }
    b->nslots = n;
    for (size_t i = 0; i < oldn; i++)
        if (old[i]) b->slots[batch_find(b, batch_key(b, old[i] - 1))] = old[i];
    arm_free(old);
    return ARM_OK;
}

static int batch_add(arm_batch *b, arm_slice key, const arm_slice *value, int insert) {
    int rc = wr_check_sizes(b->e, key, value);
    if (rc != ARM_OK) return rc;
    if (b->data.len + key.len + (value ? value->len : 0) > UINT32_MAX)
        return arm_engine_seterr(ARM_ERR(ARM_FULL), 0, "batch over 4 GiB");
    if ((b->nkeys + 1) * 4 > b->nslots * 3 && (rc = batch_grow_slots(b)) != ARM_OK) return rc;
    if (b->nrecs == b->cap_recs) {
        size_t cap = b->cap_recs ? b->cap_recs * 2 : 16;
        void *p = arm_realloc(b->recs, cap * sizeof(*b->recs));
        if (p == NULL) return ARM_ERR(ARM_NOMEM);
        b->recs = p;
        b->cap_recs = cap;
    }
    size_t vlen = value ? value->len : 0;
    rc = arm_buf_reserve(&b->data, b->data.len + key.len + vlen);
    if (rc != ARM_OK) return rc;
    struct batch_rec *r = &b->recs[b->nrecs];
    r->koff = (uint32_t)b->data.len;
    r->klen = (uint32_t)key.len;
    memcpy(b->data.ptr + b->data.len, key.ptr, key.len);
    b->data.len += key.len;
    r->voff = (uint32_t)b->data.len;
    r->vlen = (uint32_t)vlen;
    if (vlen) memcpy(b->data.ptr + b->data.len, value->ptr, vlen);
    b->data.len += vlen;
    r->del = value == NULL;
    size_t slot = batch_find(b, key);
    /* The key's condition rides on its latest record. */
    r->absent = b->slots[slot] ? b->recs[b->slots[slot] - 1].absent : (uint8_t)insert;
    if (b->slots[slot] == 0) b->nkeys++;
    b->slots[slot] = (uint32_t)++b->nrecs;
    return ARM_OK;
}

int arm_engine_batch_put(arm_batch *b, arm_slice key, arm_slice value) {
    return batch_add(b, key, &value, 0);
}

int arm_engine_batch_insert(arm_batch *b, arm_slice key, arm_slice value) {
    return batch_add(b, key, &value, 1);
}

int arm_engine_batch_delete(arm_batch *b, arm_slice key) {
    return batch_add(b, key, NULL, 0);
}

int arm_engine_batch_lookup(const arm_batch *b, arm_slice key, arm_slice *value_out,
                            int *deleted_out) {
    *deleted_out = 0;
    value_out->ptr = NULL;
    value_out->len = 0;
    if (b->nkeys == 0) return ARM_NOTFOUND;
    uint32_t r = b->slots[batch_find(b, key)];
    if (r == 0) return ARM_NOTFOUND;
    const struct batch_rec *rec = &b->recs[r - 1];
    if (rec->del) {
        *deleted_out = 1;
        return ARM_NOTFOUND;
    }
    *value_out = arm_slice_make(b->data.ptr + rec->voff, rec->vlen);
    return ARM_OK;
}

size_t arm_batch_nkeys(const arm_batch *b) {
    return b->nkeys;
}

size_t arm_engine_batch_mark(const arm_batch *b) {
    return b->nrecs;
}

void arm_engine_batch_rollback_to(arm_batch *b, size_t mark) {
    if (mark >= b->nrecs) return;
    b->data.len = b->recs[mark].koff;
    b->nrecs = mark;
    b->nkeys = 0;
    if (b->slots) memset(b->slots, 0, b->nslots * sizeof(uint32_t));
    for (size_t i = 0; i < b->nrecs; i++) {
        size_t slot = batch_find(b, batch_key(b, i));
        if (b->slots[slot] == 0) b->nkeys++;
        b->slots[slot] = (uint32_t)(i + 1);
    }
}

void arm_engine_batch_clear(arm_batch *b) {
    arm_engine_batch_rollback_to(b, 0);
}


size_t arm_batch_latest(const arm_batch *b, size_t *idx_out) {
    size_t n = 0;
    for (size_t i = 0; i < b->nrecs; i++) {
        if (b->slots[batch_find(b, batch_key(b, i))] == i + 1) idx_out[n++] = i;
    }
    return n;
}

void arm_batch_rec(const arm_batch *b, size_t i, arm_slice *key, arm_slice *value, int *del) {
    *key = batch_key(b, i);
    *value = arm_slice_make(b->data.ptr + b->recs[i].voff, b->recs[i].vlen);
    *del = b->recs[i].del;
}

void arm_lock_shards(arm_engine *e, const uint8_t *mask, int lock) {
    if (lock) {
        for (uint32_t i = 0; i < e->shard_count; i++)
            if (mask[i / 8] & (1u << (i % 8))) arm_index_wrlock(&e->shards[i].index_lock);
    } else {
        for (uint32_t i = e->shard_count; i-- > 0;)
            if (mask[i / 8] & (1u << (i % 8))) pthread_rwlock_unlock(&e->shards[i].index_lock);
    }
}

/* Commit b's latest record of every key, then `nextra` records that are not
 * keys (REPL_POS), in one batch in shard coord's log (coord UINT32_MAX: the
 * shard of the first key). *seq_out: the batch's sequence number (0 when
 * nothing was written). */
static int wr_batch(arm_engine *e, arm_batch *b, const wr_op *extra, size_t nextra,
                    uint32_t coord, uint64_t *seq_out) {
    *seq_out = 0;
    size_t need = b->nkeys + nextra;
    if (need == 0) return ARM_OK;
    if (b->cap_ops < need) {
        wr_op *p = arm_realloc(b->ops, need * sizeof(wr_op));
        if (p == NULL) return ARM_ERR(ARM_NOMEM);
        b->ops = p;
        b->cap_ops = need;
    }
    uint8_t mask[ARM_SHARDS_MAX / 8];
    memset(mask, 0, sizeof(mask));
    size_t n = 0;
    for (size_t i = 0; i < b->nrecs; i++) {
        arm_slice key = batch_key(b, i);
        if (b->slots[batch_find(b, key)] != i + 1) continue; /* superseded */
        wr_op *op = &b->ops[n++];
        memset(op, 0, sizeof(*op));
        op->key = key;
        op->del = b->recs[i].del;
        op->absent = b->recs[i].absent;
        op->value = arm_slice_make(b->data.ptr + b->recs[i].voff, b->recs[i].vlen);
        op->shard = arm_engine_route(e, key.ptr, key.len);
        mask[op->shard / 8] |= (uint8_t)(1u << (op->shard % 8));
    }
    assert(n == b->nkeys);
    if (nextra) memcpy(b->ops + n, extra, nextra * sizeof(wr_op));
    for (size_t i = 0; i < nextra; i++) /* their dead bytes are counted under these locks */
        mask[extra[i].shard / 8] |= (uint8_t)(1u << (extra[i].shard % 8));
    n += nextra;
    if (coord == UINT32_MAX) coord = b->ops[0].shard;
    uint32_t fid = 0;
    uint64_t end = 0;
    arm_lock_shards(e, mask, 1);
    int rc = wr_commit(e, b->ops, n, coord, &fid, &end, seq_out);
    arm_lock_shards(e, mask, 0);
    if (rc == ARM_OK) rc = wr_durable(e, coord, fid, end);
    return rc;
}

int arm_engine_batch_commit(arm_engine *e, arm_batch *b) {
    if (b->nkeys == 0) return ARM_OK;
    if (e->opts.read_only)
        return arm_engine_seterr(ARM_ERR(ARM_READONLY), 0, "%s is open read-only", e->dir);
    if (atomic_load(&e->follower)) return arm_engine_refuse_follower(e);
    uint64_t seq;
    return wr_batch(e, b, NULL, 0, UINT32_MAX, &seq);
}

int arm_engine_apply(arm_engine *e, arm_batch *b, const uint8_t leader_id[16],
                     const uint32_t *shards, const arm_log_pos *pos, size_t npos, uint32_t flags) {
    if (e->opts.read_only)
        return arm_engine_seterr(ARM_ERR(ARM_READONLY), 0, "%s is open read-only", e->dir);
    if (!atomic_load(&e->follower))
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                 "%s is not a follower: apply refused", e->dir);
    if (b && b->e != e)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "apply: a batch of another engine");
    if ((flags & ~(uint32_t)ARM_REPL_RESYNC) != 0 || npos > e->shard_count)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "apply: bad flags or too many positions");
    enum { APPLY_STACK = 16 };
    wr_op stack_ops[APPLY_STACK];
    uint8_t stack_keys[APPLY_STACK][ARM_REPL_POS_KLEN];
    uint8_t stack_vals[APPLY_STACK][ARM_REPL_POS_VLEN];
    wr_op *extra = stack_ops;
    uint8_t (*keys)[ARM_REPL_POS_KLEN] = stack_keys;
    uint8_t (*vals)[ARM_REPL_POS_VLEN] = stack_vals;
    if (npos > APPLY_STACK) {
        extra = arm_malloc(npos * sizeof(*extra));
        keys = arm_malloc(npos * sizeof(*keys));
        vals = arm_malloc(npos * sizeof(*vals));
    }
    int rc = extra && keys && vals ? ARM_OK : ARM_ERR(ARM_NOMEM);
    for (size_t i = 0; i < npos && rc == ARM_OK; i++) {
        if (shards[i] >= e->shard_count) {
            rc = arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "apply: shard %u of %u", shards[i],
                                   e->shard_count);
            break;
        }
        keys[i][0] = (uint8_t)shards[i];
        keys[i][1] = (uint8_t)(shards[i] >> 8);
        arm_repl_pos_encode(vals[i], leader_id, &pos[i], flags);
        memset(&extra[i], 0, sizeof(extra[i]));
        extra[i].key = arm_slice_make(keys[i], ARM_REPL_POS_KLEN);
        extra[i].value = arm_slice_make(vals[i], ARM_REPL_POS_VLEN);
        extra[i].type = ARM_ENTRY_REPL_POS;
        extra[i].shard = shards[i];
    }
    uint64_t seq = 0;
    arm_batch empty = {0};
    empty.e = e;
    if (rc == ARM_OK) {
        /* A batch that writes keys goes to the first key's shard, as any
         * batch; positions alone go to the first position's shard. */
        arm_batch *use = b ? b : &empty;
        uint32_t coord = use->nkeys ? UINT32_MAX : (npos ? shards[0] : 0);
        rc = wr_batch(e, use, extra, npos, coord, &seq);
        if (use == &empty) arm_free(empty.ops);
    }
    /* Written (durable or not per the sync mode): the follower's positions
     * now say so, even when only the fdatasync failed (the engine is then
     * poisoned and its next open reads what reached the disk). */
    if (seq)
        for (size_t i = 0; i < npos; i++) arm_repl_note(e, shards[i], leader_id, &pos[i], flags, seq);
    if (extra != stack_ops) {
        arm_free(extra);
        arm_free(keys);
        arm_free(vals);
    }
    return rc;
}
