/* SPDX-License-Identifier: MIT */
/*
 * logread.c: reading the shards' logs from positions, for replication
 * (contract in arm_engine.h: arm_log_reader_*, arm_engine_log_cut).
 *
 * A reader keeps, per shard, the file it is in (held), the offset of the
 * next entry, the log end it knows, and at most one parsed *head*: the next
 * batch, with its entries sliced out of the file mapping or out of a copy.
 * Decision records, TXNINFO entries and follower positions are skipped;
 * a batch that was aborted after its prepare is skipped whole; one whose
 * outcome is not known yet (prepared, in doubt) stops its shard (outcome.c
 * says which is which).
 *
 * Order across shards. Two batches that write one key were committed one
 * after the other, and the later one took its sequence number after the
 * earlier one was in the log (a single-phase writer holds the key's index
 * lock from its sequence number to its install; a transaction holds the key
 * from before its sequence number until it is published). Handing out heads
 * smallest sequence number first keeps that order provided no shard can
 * still produce a smaller one. So a round starts by loading the domain's
 * counter L and only then reading the log ends of the shards that have no
 * head: anything appended after that took a number above L. Heads up to L
 * go out in order; a shard stopped at an undecided batch with number p
 * holds everything above p back (its later batches could share keys with
 * them). A shard whose head went out reads its next head from what it knows,
 * or reads its end again, after L was loaded.
 *
 * The cut (arm_engine_log_cut): with every shard's index read lock held, no
 * writer can install, publish or take a key, so the index is exactly the
 * published batches in the logs; each shard's tail then is the cut, and a
 * snapshot taken there sees exactly the batches before it. A transaction
 * already holding its keys may still append meanwhile: harmless after a
 * shard's tail was read (it lands after the cut), and a batch before the cut
 * that is not yet decided makes the cut wait and retry.
 * Compaction: a reader holds the file it reads, so a merge may retire it
 * meanwhile; merged files are skipped (copies, not log); a reader whose next
 * log file compaction removed fails with ARM_RANGE (lr_next_file) instead of
 * skipping it, and so does one from the origin once the first files are gone.
 * Layer: engine, beside cursor.c: it reads through shard.c and file.c and
 * asks outcome.c.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <string.h>
#include <time.h>

#define LR_WINDOW (1u << 20) /* bytes copied at a time from a write buffer or pread */

typedef struct lr_src {
    uint32_t shard;
    arm_file_ref ref;   /* the file being read; none before the shard's first file */
    uint32_t fid;       /* its id (or, with no file held, the last id passed) */
    uint64_t off;       /* next entry */
    uint64_t end;       /* log end known (logical size of the file) */
    int sealed;         /* the file will not grow: at end, go on to the next */
    arm_log_pos pos;    /* just past the last transaction handed out (or the start) */
    /* the head: the batch at off, parsed */
    int head;           /* 0 none, 1 ready, 2 undecided */
    uint64_t head_seq, head_end;
    uint32_t head_last_len;
    uint64_t head_bytes;
    arm_log_op *ops;
    size_t nops, cap_ops;
    arm_buf copy;       /* bytes copied from the file or its write buffer, when not mapped */
    uint64_t copy_off;  /* file offset of copy.ptr[0] */
    uint32_t copy_fid;  /* whose bytes copy holds (0: none) */
    uint32_t heap_at;   /* index in the reader's heap + 1 (0: not in it) */
} lr_src;

struct arm_log_reader {
    arm_engine *e;
    uint32_t n;
    lr_src *src;
    uint32_t *heap;     /* shards with a ready head, smallest head_seq first */
    uint32_t nheap;
    uint64_t limit;     /* heads up to this may go out */
    lr_src *emitted;    /* handed out at the last call: advance it first */
};

/* ------------------------------------------------------------- the heap */
static int lr_less(const arm_log_reader *r, uint32_t a, uint32_t b) {
    return r->src[a].head_seq < r->src[b].head_seq;
}

static void lr_heap_set(arm_log_reader *r, uint32_t at, uint32_t sh) {
    r->heap[at] = sh;
    r->src[sh].heap_at = at + 1;
}

static void lr_heap_push(arm_log_reader *r, uint32_t sh) {
    uint32_t i = r->nheap++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!lr_less(r, sh, r->heap[parent])) break;
        lr_heap_set(r, i, r->heap[parent]);
        i = parent;
    }
    lr_heap_set(r, i, sh);
}

static uint32_t lr_heap_pop(arm_log_reader *r) {
    uint32_t top = r->heap[0];
    r->src[top].heap_at = 0;
    uint32_t last = r->heap[--r->nheap];
    if (r->nheap == 0) return top;
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= r->nheap) break;
        if (c + 1 < r->nheap && lr_less(r, r->heap[c + 1], r->heap[c])) c++;
        if (!lr_less(r, r->heap[c], last)) break;
        lr_heap_set(r, i, r->heap[c]);
        i = c;
    }
    lr_heap_set(r, i, last);
    return top;
}

/* ------------------------------------------------------------ the bytes */
/* The shard's log end for the file src holds, read under the log mutex (so
 * every batch appended before is whole in it, and every pending batch in it
 * is registered). */
static void lr_read_end(arm_engine *e, lr_src *src) {
    arm_shard *s = &e->shards[src->shard];
    arm_log_lock(&s->log_lock);
    src->end = atomic_load(&src->ref.file->size);
    src->sealed = s->active != src->ref.file;
    pthread_mutex_unlock(&s->log_lock);
}

/* Hold the shard's first log file with an id above src->fid (compaction's
 * merged files are no part of the log). ARM_NOTFOUND when there is none
 * yet; ARM_RANGE when compaction removed log files after src's: stepping
 * over them would skip what they held. The removed files are always the
 * oldest of the shard's log, up to log_gone, which compact.c raises before
 * it retires them: looked at after the next file is found, it tells whether
 * the one found is really the next. */
static int lr_next_file(arm_engine *e, lr_src *src) {
    uint32_t fid = src->fid + 1;
    arm_file_ref ref;
    while (arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        if (ref.file->shard == src->shard && !ref.file->merged) break;
        arm_file_release(&ref);
    }
    if (atomic_load(&e->shards[src->shard].log_gone) > src->fid) {
        arm_file_release(&ref);
        return arm_engine_seterr(ARM_ERR(ARM_RANGE), 0,
                                 "shard %u: compaction removed the log after file %u: the "
                                 "position is no longer in the log", src->shard, src->fid);
    }
    if (ref.table == NULL) return ARM_NOTFOUND;
    arm_file_release(&src->ref);
    src->ref = ref;
    src->fid = ref.fid;
    src->off = ARM_FILE_HEADER_SIZE;
    lr_read_end(e, src);
    return ARM_OK;
}

/* Bytes [off, off + n) of src's file: a pointer into the mapping, or into
 * src->copy. A copy is reused while the bytes asked for lie in it (they are
 * below the log end, so they never change): one window copied from the
 * write buffer serves every small transaction in it. */
static int lr_view(arm_engine *e, lr_src *src, uint64_t off, size_t n, const uint8_t **p_out) {
    const uint8_t *m = arm_shard_mapped(e, src->ref.file, off, n);
    if (m) {
        *p_out = m;
        return ARM_OK;
    }
    if (src->copy_fid == src->fid && off >= src->copy_off &&
        off + n <= src->copy_off + src->copy.len) {
        *p_out = src->copy.ptr + (off - src->copy_off);
        return ARM_OK;
    }
    int rc = arm_buf_reserve(&src->copy, n);
    if (rc != ARM_OK) return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0, "out of memory reading a log");
    src->copy_fid = 0;
    rc = arm_shard_read(e, src->ref.file, off, src->copy.ptr, n);
    if (rc != ARM_OK) return rc;
    src->copy.len = n;
    src->copy_off = off;
    src->copy_fid = src->fid;
    *p_out = src->copy.ptr;
    return ARM_OK;
}

static int lr_corrupt(const lr_src *src, uint64_t off) {
    return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                             "replication read: bad entry in %s at offset %llu",
                             src->ref.file->path, (unsigned long long)off);
}

/* ------------------------------------------------------------ the head */
/* Parse the batch at src->off (src->end known, bytes before it whole):
 * *got 0 when there is nothing at off yet, else 1 with head_seq, head_end,
 * ops filled. Standalone records are consumed here, not returned. */
static int lr_parse(arm_engine *e, lr_src *src, int *got) {
    *got = 0;
    for (;;) {
        if (src->off >= src->end) return ARM_OK;
        uint64_t avail = src->end - src->off;
        size_t want = (size_t)ARM_MIN(avail, (uint64_t)LR_WINDOW);
        const uint8_t *p;
        int rc;
        /* Grow the view until the whole batch is in it. */
        for (;;) {
            rc = lr_view(e, src, src->off, want, &p);
            if (rc != ARM_OK) return rc;
            size_t at = 0, need = 0;
            src->nops = 0;
            src->head_bytes = 0;
            uint64_t seq = 0;
            int done = 0, in_batch = 0, skip = 0;
            uint32_t last_len = 0;
            while (!done) {
                if (want - at < ARM_ENTRY_HEADER) {
                    need = at + ARM_ENTRY_HEADER;
                    break;
                }
                arm_entry_hdr h;
                if (arm_entry_decode(p + at, want - at, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK) {
                    /* incomplete in the view, or bad: a bigger view tells */
                    uint32_t klen = (uint32_t)p[at + 6] | (uint32_t)p[at + 7] << 8;
                    uint32_t vlen = (uint32_t)p[at + 8] | (uint32_t)p[at + 9] << 8 |
                                    (uint32_t)p[at + 10] << 16 | (uint32_t)p[at + 11] << 24;
                    uint64_t len = (uint64_t)ARM_ENTRY_HEADER + klen + vlen;
                    if (at + len > want && at + len <= avail) {
                        need = at + (size_t)len;
                        break;
                    }
                    return lr_corrupt(src, src->off + at);
                }
                uint32_t len = arm_entry_size(h.klen, h.vlen);
                const uint8_t *key = p + at + ARM_ENTRY_HEADER;
                if (in_batch && (!(h.flags & ARM_ENTRY_TXN) || h.seq != seq))
                    return lr_corrupt(src, src->off + at); /* batches never interleave */
                seq = h.seq;
                int member = (h.flags & ARM_ENTRY_TXN) != 0;
                if (!member) {
                    done = 1;
                    skip = h.type == ARM_ENTRY_DECISION || h.type == ARM_ENTRY_REPL_POS;
                } else {
                    in_batch = 1;
                    done = (h.flags & ARM_ENTRY_TXN_END) != 0;
                }
                if (h.type == ARM_ENTRY_PUT || h.type == ARM_ENTRY_DEL) {
                    if (src->nops == src->cap_ops) {
                        size_t cap = src->cap_ops ? src->cap_ops * 2 : 64;
                        arm_log_op *np = arm_realloc(src->ops, cap * sizeof(*np));
                        if (np == NULL)
                            return arm_engine_seterr(ARM_ERR(ARM_NOMEM), 0,
                                                     "out of memory reading a log");
                        src->ops = np;
                        src->cap_ops = cap;
                    }
                    arm_log_op *op = &src->ops[src->nops++];
                    op->del = h.type == ARM_ENTRY_DEL;
                    op->key = arm_slice_make(key, h.klen);
                    op->value = arm_slice_make(key + h.klen, h.vlen);
                    src->head_bytes += (uint64_t)h.klen + h.vlen;
                }
                at += len;
                last_len = len;
            }
            if (!done) {
                if (need <= want || need > avail) return lr_corrupt(src, src->off + at);
                want = (size_t)ARM_MAX((uint64_t)need, ARM_MIN(avail, (uint64_t)want * 2));
                continue;
            }
            src->head_seq = seq;
            src->head_end = src->off + at;
            src->head_last_len = last_len;
            if (skip || src->nops == 0) { /* a record, or a batch of positions only */
                src->off = src->head_end;
                break; /* parse what follows */
            }
            int fate = arm_outcome_of(e, seq);
            if (fate < 0)
                return arm_engine_seterr(ARM_ERR(-fate), 0,
                                         "replication read: the record of aborted transactions "
                                         "is incomplete (out of memory)");
            if (fate == ARM_OUTCOME_ABORTED) {
                src->off = src->head_end;
                break;
            }
            src->head = fate == ARM_OUTCOME_PENDING ? 2 : 1;
            *got = 1;
            return ARM_OK;
        }
    }
}

/* Find src's next head, moving on to later files, reading the log end again
 * when what it knows is used up. */
static int lr_advance(arm_log_reader *r, lr_src *src) {
    arm_engine *e = r->e;
    src->head = 0;
    for (int fresh = 0;;) {
        if (src->ref.file != NULL) {
            int got;
            int rc = lr_parse(e, src, &got);
            if (rc != ARM_OK || got) return rc;
            if (!src->sealed && fresh) return ARM_OK; /* at the end of the active file */
            if (!src->sealed) {
                lr_read_end(e, src);
                fresh = 1;
                continue;
            }
        }
        /* past the end of a sealed file, or before the first one */
        int rc = lr_next_file(e, src);
        if (rc == ARM_NOTFOUND) return ARM_OK;
        if (rc != ARM_OK) return rc;
        fresh = 1;
    }
}

/* ------------------------------------------------------------ positions */
static int lr_range(uint32_t shard, const char *why, const arm_log_pos *pos) {
    return arm_engine_seterr(ARM_ERR(ARM_RANGE), 0,
                             "shard %u: position (file %u, offset %llu, seq %llu) %s", shard,
                             pos->fid, (unsigned long long)pos->off, (unsigned long long)pos->seq,
                             why);
}

/* Put src at pos, checking that the entry ending there is the one pos says. */
static int lr_seek(arm_log_reader *r, lr_src *src, const arm_log_pos *pos) {
    arm_engine *e = r->e;
    src->pos = *pos;
    if (pos->fid == 0) {
        if (pos->seq || pos->off || pos->len) return lr_range(src->shard, "is malformed", pos);
        if (atomic_load(&e->shards[src->shard].log_gone) > 0)
            return lr_range(src->shard, "is the origin, and compaction removed the first files",
                            pos);
        src->fid = 0;
        return ARM_OK;
    }
    if (arm_files_hold(&e->files, pos->fid, &src->ref) != ARM_OK)
        return lr_range(src->shard, "is no longer in the log (its file is gone)", pos);
    src->fid = pos->fid;
    if (src->ref.file->shard != src->shard)
        return lr_range(src->shard, "names another shard's file", pos);
    if (src->ref.file->merged)
        return lr_range(src->shard, "names a file compaction wrote, no log file", pos);
    lr_read_end(e, src);
    if (pos->len < ARM_ENTRY_HEADER || pos->off > src->end ||
        pos->off < (uint64_t)ARM_FILE_HEADER_SIZE + pos->len)
        return lr_range(src->shard, "is past the end of the log (was the log rewritten?)", pos);
    const uint8_t *p;
    int rc = lr_view(e, src, pos->off - pos->len, pos->len, &p);
    if (rc != ARM_OK) return rc;
    arm_entry_hdr h;
    if (arm_entry_decode(p, pos->len, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK ||
        arm_entry_size(h.klen, h.vlen) != pos->len || h.seq != pos->seq ||
        (h.flags & ARM_ENTRY_TXN && !(h.flags & ARM_ENTRY_TXN_END)))
        return lr_range(src->shard, "does not match the log (was the log rewritten?)", pos);
    src->off = pos->off;
    return ARM_OK;
}

/* ------------------------------------------------------------- the API */
void arm_log_reader_close(arm_log_reader *r) {
    if (r == NULL) return;
    for (uint32_t i = 0; r->src && i < r->n; i++) {
        arm_file_release(&r->src[i].ref);
        arm_free(r->src[i].ops);
        arm_buf_free(&r->src[i].copy);
    }
    arm_free(r->src);
    arm_free(r->heap);
    arm_free(r);
}

int arm_log_reader_open(arm_engine *e, const arm_log_pos *pos, arm_log_reader **reader_out) {
    *reader_out = NULL;
    arm_log_reader *r = arm_calloc(1, sizeof(*r));
    if (r == NULL) return ARM_ERR(ARM_NOMEM);
    r->e = e;
    r->n = e->shard_count;
    r->src = arm_calloc(r->n, sizeof(*r->src));
    r->heap = arm_calloc(r->n, sizeof(*r->heap));
    int rc = r->src && r->heap ? ARM_OK : ARM_ERR(ARM_NOMEM);
    static const arm_log_pos origin = {0, 0, 0, 0};
    for (uint32_t i = 0; i < r->n && rc == ARM_OK; i++) {
        r->src[i].shard = i;
        rc = lr_seek(r, &r->src[i], pos ? &pos[i] : &origin);
    }
    if (rc != ARM_OK) {
        arm_log_reader_close(r);
        return rc;
    }
    *reader_out = r;
    return ARM_OK;
}

arm_log_pos arm_log_reader_pos(const arm_log_reader *r, uint32_t shard) {
    static const arm_log_pos none = {0, 0, 0, 0};
    return shard < r->n ? r->src[shard].pos : none;
}

/* A new round: the counter first, then every shard without a ready head
 * looks at its log again. */
static int lr_round(arm_log_reader *r) {
    r->limit = atomic_load(&r->e->dom->seq);
    for (uint32_t i = 0; i < r->n; i++) {
        lr_src *src = &r->src[i];
        if (src->head == 1) continue;
        int rc = src->head == 2 ? ARM_OK : lr_advance(r, src);
        if (rc != ARM_OK) return rc;
        if (src->head == 2) { /* decided since? */
            int fate = arm_outcome_of(r->e, src->head_seq);
            if (fate < 0) return arm_engine_seterr(ARM_ERR(-fate), 0, "out of memory");
            if (fate == ARM_OUTCOME_ABORTED) {
                src->off = src->head_end;
                rc = lr_advance(r, src);
                if (rc != ARM_OK) return rc;
            } else if (fate == ARM_OUTCOME_PUBLISHED) {
                src->head = 1;
            }
        }
        if (src->head == 1) lr_heap_push(r, i);
    }
    /* Everything above an undecided batch waits for it. */
    for (uint32_t i = 0; i < r->n; i++)
        if (r->src[i].head == 2 && r->src[i].head_seq <= r->limit) r->limit = r->src[i].head_seq - 1;
    return ARM_OK;
}

int arm_log_reader_next(arm_log_reader *r, arm_log_txn *txn_out) {
    memset(txn_out, 0, sizeof(*txn_out));
    if (r->emitted) { /* its bytes were the caller's until now */
        lr_src *src = r->emitted;
        r->emitted = NULL;
        src->off = src->head_end;
        int rc = lr_advance(r, src);
        if (rc != ARM_OK) return rc;
        if (src->head == 2 && src->head_seq <= r->limit) r->limit = src->head_seq - 1;
        if (src->head == 1) lr_heap_push(r, src->shard);
    }
    for (int round = 0; round < 2; round++) {
        if (r->nheap && r->src[r->heap[0]].head_seq <= r->limit) {
            lr_src *src = &r->src[lr_heap_pop(r)];
            src->pos = (arm_log_pos){src->head_seq, src->head_end, src->fid, src->head_last_len};
            txn_out->shard = src->shard;
            txn_out->seq = src->head_seq;
            txn_out->pos = src->pos;
            txn_out->ops = src->ops;
            txn_out->nops = src->nops;
            txn_out->bytes = src->head_bytes;
            src->head = 0;
            r->emitted = src;
            return ARM_OK;
        }
        if (round == 0) {
            int rc = lr_round(r);
            if (rc != ARM_OK) return rc;
        }
    }
    return ARM_NOTFOUND;
}

/* ----------------------------------------------------------------- cut */
static void lr_sleep_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

int arm_engine_log_cut(arm_engine *e, arm_snapshot *snap_out, arm_log_pos *pos_out,
                       int timeout_ms) {
    memset(snap_out, 0, sizeof(*snap_out));
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long wait_us = 50;; wait_us = ARM_MIN(wait_us * 2, 5000L)) {
        for (uint32_t i = 0; i < e->shard_count; i++) arm_index_rdlock(&e->shards[i].index_lock);
        for (uint32_t i = 0; i < e->shard_count; i++) {
            arm_shard *s = &e->shards[i];
            arm_log_lock(&s->log_lock);
            pos_out[i] = s->tail;
            pthread_mutex_unlock(&s->log_lock);
        }
        int rc = arm_outcome_pending_before(e, pos_out) ? ARM_BUSY : ARM_OK;
        if (rc == ARM_OK) rc = arm_snapshot_take(e->dom, snap_out);
        for (uint32_t i = e->shard_count; i-- > 0;) pthread_rwlock_unlock(&e->shards[i].index_lock);
        if (rc != ARM_BUSY) return rc;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms >= timeout_ms)
            return arm_engine_seterr(ARM_ERR(ARM_BUSY), 0,
                                     "a transaction in %s stayed prepared for %d ms: no "
                                     "consistent cut", e->dir, timeout_ms);
        lr_sleep_us(wait_us);
    }
}
