/* SPDX-License-Identifier: MIT */
/*
 * compact.c: compaction (merge) of sealed data files, in a background thread
 * per engine and on demand (arm_engine_compact). A merge works on one shard's
 * files: the oldest of its sealed log files (a prefix of its log, never one
 * holding a batch whose outcome is not known yet) and its earlier merged
 * files, chosen by dead/total bytes against compaction_threshold. It copies
 * what is still live into new merged files (header flag ARM_FILE_MERGED:
 * copies, never part of the log), every entry standalone with its original
 * sequence number, makes them durable (data, name, hint), repoints the index
 * items (and kept versions) that still point at the old copies, under each
 * index shard's write lock (arm_index_repoint: a newer write always wins),
 * and then retires and unlinks the old files, oldest first.
 *
 * What is live is decided by each key's own index shard (a batch is logged
 * in one shard's file even for keys routed to others): an entry is live when
 * its key's item or one of the item's kept versions is at its location. A
 * tombstone no item points at is dropped only when no file outside the merge
 * can hold an older put of its key (cmp_tomb_needed). Decisions and TXNINFO
 * entries go: every batch they speak of is in the same shard's log before
 * them, so in the merged prefix, and is flattened to plain entries there or
 * dropped with its abort. Of the follower positions (REPL_POS), the newest per
 * leader shard is kept. ARCHITECTURE.md ("Compaction") says why each step is
 * crash-safe. Layer: engine, beside write.c: it calls file.c, index.c,
 * mvcc.c and outcome.c, and is called by engine.c.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CMP_POLL_MS      200u       /* background thread: how often it looks */
#define CMP_BUF          (1u << 20) /* bytes of merge output gathered per write */
#define CMP_REPOINT_STEP 256u          /* items repointed per hold of a write lock */
#define CMP_INPUTS_MAX   4096u      /* files one merge takes at most */
#define CMP_NICE         5          /* the background thread's nice value */

typedef struct arm_compactor arm_compactor;
struct arm_compactor {
    arm_engine *e;
    pthread_mutex_t run_mu; /* one merge at a time: the thread's or a caller's */
    pthread_mutex_t mu;     /* guards stop and the wait */
    pthread_cond_t cond;
    int stop;             /* close: the thread ends, a merge gives up */
    _Atomic int stopping; /* stop, readable by a merge without mu */
    int thread_running;
    pthread_t thread;
    _Atomic int merging; /* a merge is running (stats) */
};

/* One input file of a merge. */
typedef struct cmp_in {
    arm_file_ref ref;
    uint64_t size;  /* bytes of the file (header included) */
    uint32_t bound; /* a tombstone in it is needed while a file outside the
                       merge has an id below this (cmp_tomb_needed) */
    int log;        /* a log file (else an earlier merged one) */
} cmp_in;

/* One entry copied: where it was, where it went. */
typedef struct cmp_copy {
    uint32_t shard; /* its key's index shard (REPL_POS: the file's shard) */
    uint32_t old_fid, old_off;
    uint32_t out; /* which output */
    uint32_t new_off, len;
    uint64_t koff; /* its key in the merge's key buffer */
    uint16_t klen;
    uint8_t type;
    uint8_t kept;   /* copied though nothing points at it (a needed tombstone,
                       a position): dead from the start */
    uint32_t bound; /* a kept tombstone's bound (cmp_tomb_needed) */
    arm_item *item;  /* the key's item when its liveness was decided (or NULL), */
    uint64_t ix_gen; /* valid while its shard's ix_gen is still this */
} cmp_copy;

typedef struct cmp_out {
    arm_file *f; /* owned until published, then the table's */
    uint64_t size;
    int published;
} cmp_out;

/* A merge of one shard. */
typedef struct cmp_merge {
    arm_engine *e;
    arm_compactor *c;
    arm_shard *s;
    cmp_in *in;
    size_t nin;
    uint32_t m_out; /* smallest id of a live file outside the merge */
    cmp_copy *copies;
    size_t ncopies, capcopies;
    arm_buf keys;
    cmp_out *outs;
    size_t nouts, capouts;
    uint8_t *buf; /* output gathered here, CMP_BUF bytes */
    size_t blen;
    uint64_t boff; /* offset in the current output of buf[0] */
    /* the newest REPL_POS per leader shard: its input and offset (0: none) */
    uint64_t *pos_seq;
    uint32_t *pos_in, *pos_off;
} cmp_merge;

/* ----------------------------------------------------------- output */
static int cmp_flush(cmp_merge *m) {
    if (m->blen == 0) return ARM_OK;
    cmp_out *o = &m->outs[m->nouts - 1];
    int err = 0;
    int rc = arm_file_write(o->f, NULL, m->buf, m->blen, m->boff, &err);
    if (rc != ARM_OK) return arm_engine_seterr(rc, err, "cannot write merge output %s", o->f->path);
    m->boff += m->blen;
    m->blen = 0;
    return ARM_OK;
}

static int cmp_put(cmp_merge *m, const void *p, size_t n) {
    const uint8_t *src = p;
    while (n > 0) {
        if (m->blen == CMP_BUF) {
            int rc = cmp_flush(m);
            if (rc != ARM_OK) return rc;
        }
        size_t k = ARM_MIN(n, (size_t)CMP_BUF - m->blen);
        memcpy(m->buf + m->blen, src, k);
        m->blen += k;
        src += k;
        n -= k;
    }
    return ARM_OK;
}

/* Start a new output file: its header goes first. */
static int cmp_out_open(cmp_merge *m) {
    arm_engine *e = m->e;
    int rc = cmp_flush(m);
    if (rc != ARM_OK) return rc;
    if (m->nouts == m->capouts) {
        size_t cap = m->capouts ? m->capouts * 2 : 4;
        cmp_out *o = arm_realloc(m->outs, cap * sizeof(*o));
        if (o == NULL) return ARM_ERR(ARM_NOMEM);
        m->outs = o;
        m->capouts = cap;
    }
    uint32_t fid = atomic_fetch_add(&e->next_fid, 1);
    arm_file *f;
    rc = arm_file_merge_create(&e->files, m->s->dir, m->s->id, fid, &f);
    if (rc != ARM_OK) return rc;
    m->outs[m->nouts++] = (cmp_out){f, ARM_FILE_HEADER_SIZE, 0};
    arm_file_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = ARM_FORMAT_VERSION;
    h.shard = m->s->id;
    h.fid = fid;
    h.flags = e->meta.flags | ARM_FILE_MERGED;
    memcpy(h.db_id, e->meta.db_id, 16);
    h.base_seq = atomic_load(&e->dom->seq);
    uint8_t hdr[ARM_FILE_HEADER_SIZE];
    arm_file_hdr_encode(&h, hdr);
    m->boff = 0;
    return cmp_put(m, hdr, sizeof(hdr));
}

/* Copy entry h (key, value) of input i at off into the output, standalone
 * (no batch flags) with its own sequence number, and note where it went. */
static int cmp_copy_entry(cmp_merge *m, size_t i, uint64_t off, const arm_entry_hdr *h,
                          const uint8_t *key, uint32_t shard, int kept, arm_item *item,
                          uint64_t ix_gen) {
    uint32_t len = arm_entry_size(h->klen, h->vlen);
    int rc = ARM_OK;
    if (m->nouts == 0 || m->outs[m->nouts - 1].size + len > m->e->opts.max_file_size)
        rc = cmp_out_open(m);
    if (rc == ARM_OK && m->ncopies == m->capcopies) {
        size_t cap = m->capcopies ? m->capcopies * 2 : 1024;
        cmp_copy *c = arm_realloc(m->copies, cap * sizeof(*c));
        if (c == NULL) return ARM_ERR(ARM_NOMEM);
        m->copies = c;
        m->capcopies = cap;
    }
    if (rc == ARM_OK) rc = arm_buf_reserve(&m->keys, m->keys.len + h->klen);
    if (rc != ARM_OK) return rc;
    cmp_out *o = &m->outs[m->nouts - 1];
    uint8_t eh[ARM_ENTRY_HEADER];
    arm_entry_encode(eh, h->type, 0, h->seq, arm_slice_make(key, h->klen),
                     arm_slice_make(key + h->klen, h->vlen));
    m->copies[m->ncopies++] = (cmp_copy){shard,
                                         m->in[i].ref.fid,
                                         (uint32_t)off,
                                         (uint32_t)(m->nouts - 1),
                                         (uint32_t)o->size,
                                         len,
                                         m->keys.len,
                                         h->klen,
                                         h->type,
                                         (uint8_t)kept,
                                         m->in[i].bound, item, ix_gen};
    memcpy(m->keys.ptr + m->keys.len, key, h->klen);
    m->keys.len += h->klen;
    o->size += len;
    rc = cmp_put(m, eh, sizeof(eh));
    if (rc == ARM_OK) rc = cmp_put(m, key, (size_t)h->klen + h->vlen);
    return rc;
}

/* ----------------------------------------------------------- liveness */
/* Entries of one index shard whose liveness is decided under one hold of
 * its read lock: a lock per entry made writers of that shard wait on the
 * rwlock's cache line far more than on the merge's work. */
#define CMP_CHUNK 16

typedef struct cmp_chunk {
    uint32_t t; /* the index shard of every entry in it */
    size_t n;
    uint64_t ix_gen; /* the shard's ix_gen when the items were found */
    uint64_t off[CMP_CHUNK];
    arm_entry_hdr h[CMP_CHUNK];
    arm_item *item[CMP_CHUNK]; /* each key's item then, or NULL */
    uint8_t live[CMP_CHUNK];
} cmp_chunk;

/* live[i] = 1 when the item of entry i's key (or one of its kept versions)
 * is at the entry's location in file fid (bytes p). */
static void cmp_live(arm_engine *e, cmp_chunk *c, const uint8_t *p, uint32_t fid) {
    arm_shard *s = &e->shards[c->t];
    arm_index_rdlock(&s->index_lock);
    for (size_t i = 0; i < c->n; i++) {
        const uint8_t *key = p + c->off[i] + ARM_ENTRY_HEADER;
        arm_item *it = arm_index_get(s->index, key, c->h[i].klen);
        uint32_t off = (uint32_t)c->off[i];
        c->item[i] = it;
        c->live[i] = it != NULL && ((it->fid == fid && it->off == off) ||
                                    ((it->flags & ARM_ITEM_OLD) && arm_vs_refers(s, it, fid, off)));
    }
    c->ix_gen = s->ix_gen;
    pthread_rwlock_unlock(&s->index_lock);
}

/* A tombstone no item points at must stay while some file outside the merge
 * may hold an older put of its key: recovery lets the highest sequence
 * number win, so dropping it would bring that put back. Such a put was
 * appended before the tombstone was, so its file was created before the
 * tombstone's file was sealed (for a log file, before its successor in the
 * shard's log got its id: `bound`) or, for a merged file, before the merged
 * file holding the tombstone got its id. Ids only grow: when every live file
 * outside the merge has an id at or above the bound, none can hold it. */
static int cmp_tomb_needed(const cmp_merge *m, size_t i) {
    return m->in[i].bound > m->m_out;
}

/* ------------------------------------------------------------- inputs */
static int cmp_in_cmp(const void *a, const void *b) {
    const cmp_in *x = a, *y = b;
    return x->ref.fid < y->ref.fid ? -1 : x->ref.fid > y->ref.fid;
}

/* Bytes of entries in a file of `size` bytes (its header is no entry). */
static uint64_t cmp_data(uint64_t size) {
    return size > ARM_FILE_HEADER_SIZE ? size - ARM_FILE_HEADER_SIZE : 0;
}

static double cmp_ratio(uint64_t dead, uint64_t data) {
    if (data == 0) return 1.0;
    return (double)ARM_MIN(dead, data) / (double)data;
}

/* 1 when log file p[0..size) holds a batch whose outcome is not known yet
 * (prepared, in doubt): its entries are in no index until it is decided, so
 * the file must stay as it is. */
static int cmp_has_undecided(arm_engine *e, const uint8_t *p, uint64_t size) {
    if (atomic_load(&e->outcomes.npending) == 0) return 0;
    uint64_t off = ARM_FILE_HEADER_SIZE, last = 0;
    while (off < size) {
        arm_entry_hdr h;
        if (arm_entry_decode(p + off, size - off, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK)
            return 1; /* unreadable: leave it to check and recovery */
        if ((h.flags & ARM_ENTRY_TXN) && h.seq != last) {
            last = h.seq;
            int fate = arm_outcome_of(e, h.seq); /* negative: unknown, so undecided */
            if (fate != ARM_OUTCOME_PUBLISHED && fate != ARM_OUTCOME_ABORTED) return 1;
        }
        off += arm_entry_size(h.klen, h.vlen);
    }
    return 0;
}

/* Smallest id of a live file not among the inputs. */
static uint32_t cmp_min_outside(cmp_merge *m) {
    uint32_t fid = 0;
    arm_file_ref ref;
    while (arm_files_hold_next(&m->e->files, &fid, &ref) == ARM_OK) {
        uint32_t id = ref.fid;
        arm_file_release(&ref);
        int in = 0;
        for (size_t i = 0; i < m->nin && !in; i++)
            in = m->in[i].ref.fid == id;
        if (!in) return id;
    }
    return UINT32_MAX;
}

/* Smallest id of a live file that is not in all[0..n) with take set. */
static uint32_t cmp_min_except(arm_engine *e, const cmp_in *all, const int *take, size_t n) {
    uint32_t fid = 0;
    arm_file_ref ref;
    while (arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        uint32_t id = ref.fid;
        arm_file_release(&ref);
        int in = 0;
        for (size_t i = 0; i < n && !in; i++)
            in = take[i] && all[i].ref.fid == id;
        if (!in) return id;
    }
    return UINT32_MAX;
}

/* The log prefix: how many of the shard's oldest log files in all[0..n) go:
 * the longest run that passes the threshold as a whole and ends at a file
 * that passes on its own, cut before the first that holds an undecided
 * batch. */
static size_t cmp_prefix(arm_engine *e, cmp_in *all, size_t n) {
    size_t nlog = 0, k = 0;
    uint64_t dead = 0, data = 0;
    for (size_t i = 0; i < n; i++) {
        if (!all[i].log) continue;
        nlog++;
        uint64_t d = arm_file_dead(all[i].ref.file), n_i = cmp_data(all[i].size);
        dead += d;
        data += n_i;
        /* The run ends at a file that passes on its own: a mostly live file
         * after it would be copied for little gain (it passes later). One
         * before it is taken along while the run passes as a whole (an old
         * file of data that never changes must not hold back the rest). */
        double thr = e->opts.compaction_threshold;
        if (cmp_ratio(d, n_i) >= thr && cmp_ratio(dead, data) >= thr) k = nlog;
    }
    size_t seen = 0;
    for (size_t i = 0; i < n && seen < k; i++) {
        if (!all[i].log) continue;
        const uint8_t *p;
        if (arm_file_view(all[i].ref.file, all[i].size, &p) != ARM_OK) {
            arm_engine_clearerr();
            return seen;
        }
        int undecided = cmp_has_undecided(e, p, all[i].size);
        arm_file_unview(p, all[i].size);
        if (undecided) return seen;
        seen++;
    }
    return k;
}

/* Choose the inputs: the log prefix (cmp_prefix) and the shard's merged
 * files that pass the threshold on their own. A merged file's bytes that a
 * merge had to keep though dead (tombstones still needed, positions) do not
 * count while they would have to be kept again: rewriting it would gain
 * nothing. */
static int cmp_select(cmp_merge *m) {
    arm_engine *e = m->e;
    arm_shard *s = m->s;
    double thr = e->opts.compaction_threshold;
    /* The log's tail (what a log cut hands a follower) stays: a file past
     * the last entry appended is no part of the prefix. */
    arm_log_lock(&s->log_lock);
    uint32_t tail = s->tail.fid;
    pthread_mutex_unlock(&s->log_lock);
    uint32_t active = atomic_load(&s->active_fid), fid = 0;
    if (tail == 0 || tail > active) tail = active;
    cmp_in *all = arm_calloc(CMP_INPUTS_MAX, sizeof(*all));
    int *take = arm_calloc(CMP_INPUTS_MAX, sizeof(int));
    if (all == NULL || take == NULL) {
        arm_free(all);
        arm_free(take);
        return ARM_ERR(ARM_NOMEM);
    }
    size_t n = 0;
    arm_file_ref ref;
    while (n < CMP_INPUTS_MAX && arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        arm_file *f = ref.file;
        if (f->shard != s->id || (!f->merged && ref.fid >= tail)) {
            arm_file_release(&ref);
            continue;
        }
        all[n++] = (cmp_in){ref, atomic_load(&f->size), 0, !f->merged};
    }
    /* bounds: a log file's successor in the shard's log; a merged file's own id */
    uint32_t next = active;
    for (size_t i = n; i-- > 0;) {
        uint32_t mb = atomic_load(&all[i].ref.file->merge_bound);
        all[i].bound = all[i].log ? next : mb ? mb : all[i].ref.fid;
        if (all[i].log) next = all[i].ref.fid;
    }
    size_t k = cmp_prefix(e, all, n), seen = 0;
    for (size_t i = 0; i < n; i++) {
        if (all[i].log)
            take[i] = seen++ < k;
        else
            take[i] = 1; /* for the estimate below */
    }
    uint32_t m_pre = cmp_min_except(e, all, take, n);
    for (size_t i = 0; i < n; i++) {
        if (all[i].log) continue;
        arm_file *f = all[i].ref.file;
        uint64_t dead = arm_file_dead(f), kept = atomic_load(&f->merge_kept);
        if (all[i].bound > m_pre) dead = dead > kept ? dead - kept : 0;
        /* Empty merged files mark that history is gone (recovery); one goes
         * only with log files, whose merge leaves a new marker. */
        take[i] =
            cmp_data(all[i].size) == 0 ? k > 0 : cmp_ratio(dead, cmp_data(all[i].size)) >= thr;
    }
    m->in = arm_calloc(n ? n : 1, sizeof(cmp_in));
    int rc = m->in ? ARM_OK : ARM_ERR(ARM_NOMEM);
    for (size_t i = 0; i < n; i++) {
        if (rc == ARM_OK && take[i])
            m->in[m->nin++] = all[i];
        else
            arm_file_release(&all[i].ref);
    }
    arm_free(all);
    arm_free(take);
    if (rc != ARM_OK) return rc;
    qsort(m->in, m->nin, sizeof(cmp_in), cmp_in_cmp);
    m->m_out = cmp_min_outside(m);
    return ARM_OK;
}

/* -------------------------------------------------------------- copy */
/* The newest REPL_POS per leader shard among the inputs: kept, as recovery
 * would pick it from them. */
static void cmp_note_pos(cmp_merge *m, size_t i, uint64_t off, const arm_entry_hdr *h,
                         const uint8_t *key) {
    uint32_t ls = (uint32_t)key[0] | (uint32_t)key[1] << 8;
    if (ls >= m->e->shard_count || h->seq <= m->pos_seq[ls]) return;
    m->pos_seq[ls] = h->seq;
    m->pos_in[ls] = (uint32_t)i;
    m->pos_off[ls] = (uint32_t)off;
}

/* Copy what of chunk c is live, and the tombstones still needed. */
static int cmp_copy_chunk(cmp_merge *m, size_t i, cmp_chunk *c, const uint8_t *p) {
    if (c->n == 0) return ARM_OK;
    cmp_live(m->e, c, p, m->in[i].ref.fid);
    int rc = ARM_OK;
    for (size_t j = 0; j < c->n && rc == ARM_OK; j++)
        if (c->live[j] || (c->h[j].type == ARM_ENTRY_DEL && cmp_tomb_needed(m, i)))
            rc = cmp_copy_entry(m, i, c->off[j], &c->h[j], p + c->off[j] + ARM_ENTRY_HEADER, c->t,
                                !c->live[j], c->item[j], c->ix_gen);
    c->n = 0;
    return rc;
}

/* One pass over input i: live entries and needed tombstones are copied;
 * the newest position per leader shard is noted (cmp_copy_positions copies
 * them once every input is read). */
static int cmp_copy_file(cmp_merge *m, size_t i) {
    arm_engine *e = m->e;
    cmp_in *in = &m->in[i];
    const uint8_t *p;
    int rc = arm_file_view(in->ref.file, in->size, &p);
    if (rc != ARM_OK) return rc;
    cmp_chunk *c = arm_malloc(sizeof(*c));
    if (c == NULL) {
        arm_file_unview(p, in->size);
        return ARM_ERR(ARM_NOMEM);
    }
    c->n = 0;
    uint64_t off = ARM_FILE_HEADER_SIZE;
    while (rc == ARM_OK && off < in->size) {
        if (atomic_load_explicit(&m->c->stopping, memory_order_relaxed)) {
            rc = ARM_CLOSED;
            break;
        }
        arm_entry_hdr h;
        if (arm_entry_decode(p + off, in->size - off, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK) {
            rc = arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                   "compaction: damaged entry in %s at offset %llu",
                                   in->ref.file->path, (unsigned long long)off);
            break;
        }
        const uint8_t *key = p + off + ARM_ENTRY_HEADER;
        if (h.type == ARM_ENTRY_PUT || h.type == ARM_ENTRY_DEL) {
            uint32_t t = arm_engine_route(e, key, h.klen);
            if (c->n == CMP_CHUNK || (c->n > 0 && c->t != t)) rc = cmp_copy_chunk(m, i, c, p);
            c->t = t;
            c->off[c->n] = off;
            c->h[c->n++] = h;
        } else if (h.type == ARM_ENTRY_REPL_POS) {
            cmp_note_pos(m, i, off, &h, key);
        }
        /* TXNINFO and DECISION: gone with the batches they decide */
        off += arm_entry_size(h.klen, h.vlen);
    }
    if (rc == ARM_OK) rc = cmp_copy_chunk(m, i, c, p);
    arm_free(c);
    arm_file_unview(p, in->size);
    return rc;
}

/* Copy the newest position per leader shard noted over the inputs. */
static int cmp_copy_positions(cmp_merge *m) {
    int rc = ARM_OK;
    for (uint32_t ls = 0; ls < m->e->shard_count && rc == ARM_OK; ls++) {
        if (m->pos_seq[ls] == 0) continue;
        size_t i = m->pos_in[ls];
        uint8_t b[ARM_ENTRY_HEADER + ARM_REPL_POS_KLEN + ARM_REPL_POS_VLEN];
        int err = 0;
        arm_entry_hdr h;
        rc = arm_file_read(m->in[i].ref.file, m->pos_off[ls], b, sizeof b, &err);
        if (rc == ARM_OK && arm_entry_decode(b, sizeof b, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK)
            rc = ARM_ERR(ARM_CORRUPT);
        if (rc != ARM_OK)
            return arm_engine_seterr(rc, err, "compaction: cannot read back a position in %s",
                                     m->in[i].ref.file->path);
        rc = cmp_copy_entry(m, i, m->pos_off[ls], &h, b + ARM_ENTRY_HEADER, m->s->id, 1, NULL,
                            0);
    }
    return rc;
}

/* ------------------------------------------------------------ commit */
static int cmp_copy_shard_cmp(const void *a, const void *b) {
    const cmp_copy *x = a, *y = b;
    return x->shard < y->shard ? -1 : x->shard > y->shard;
}

/* Point the index at the copies: each item (or kept version) still at the
 * old location moves; anything else was replaced meanwhile and its copy is
 * dead. Tombstones and positions count as dead wherever they are (as
 * arm_install and recovery count them). Write locks are taken per shard,
 * CMP_REPOINT_STEP items at a time. */
static void cmp_repoint(cmp_merge *m) {
    arm_engine *e = m->e;
    if (m->ncopies > 1) qsort(m->copies, m->ncopies, sizeof(cmp_copy), cmp_copy_shard_cmp);
    size_t i = 0;
    while (i < m->ncopies) {
        uint32_t t = m->copies[i].shard;
        arm_shard *s = &e->shards[t];
        arm_index_wrlock(&s->index_lock);
        for (size_t n = 0; i < m->ncopies && m->copies[i].shard == t && n < CMP_REPOINT_STEP;
             i++, n++) {
            const cmp_copy *c = &m->copies[i];
            arm_file *out = m->outs[c->out].f;
            int moved = 0;
            if (!c->kept) {
                arm_item *it;
                /* the item found when liveness was decided, if no item went since */
                arm_item *known = c->item && s->ix_gen == c->ix_gen ? c->item : NULL;
                moved = arm_index_repoint(s->index, m->keys.ptr + c->koff, c->klen, known,
                                          c->old_fid, c->old_off, out->fid, c->new_off,
                                          &it) != NULL;
                /* a kept version is dead bytes already (arm_install counted it) */
                if (it && (it->flags & ARM_ITEM_OLD))
                    (void)arm_vs_repoint(s, it, c->old_fid, c->old_off, out->fid, c->new_off);
            }
            if (!moved || c->type != ARM_ENTRY_PUT) arm_file_count_dead(out, t, c->len);
            if (c->kept) atomic_fetch_add(&out->merge_kept, c->len);
            /* a copied tombstone is needed as long as its original was */
            if (c->type == ARM_ENTRY_DEL && c->bound > atomic_load(&out->merge_bound))
                atomic_store(&out->merge_bound, c->bound);
        }
        pthread_rwlock_unlock(&s->index_lock);
    }
}

/* Outputs durable: data, name, hint. */
static int cmp_publish(cmp_merge *m) {
    arm_engine *e = m->e;
    int rc = cmp_flush(m);
    for (size_t i = 0; i < m->nouts && rc == ARM_OK; i++) {
        cmp_out *o = &m->outs[i];
        atomic_store(&o->f->size, o->size);
        rc = arm_file_merge_publish(&e->files, o->f, e->opts.mmap_reads);
        o->published = 1; /* the table owns it, or it is freed */
        if (rc != ARM_OK) {
            o->f = NULL;
            break;
        }
        /* A hint that cannot be written is no loss: the file is scanned. */
        if (e->files.hints) (void)arm_file_write_hint(o->f, e->meta.db_id, e->meta.flags);
    }
    return rc;
}

/* A merge that did not finish: outputs not published are removed; published
 * ones stay (their entries are copies of entries still in place, which
 * recovery tells apart by nothing and needs nothing from) and count as dead
 * whole, so a later merge takes them away. */
static void cmp_abandon(cmp_merge *m) {
    for (size_t i = 0; i < m->nouts; i++) {
        cmp_out *o = &m->outs[i];
        if (!o->published) {
            arm_file_merge_discard(o->f);
        } else if (o->f != NULL) {
            arm_index_wrlock(&m->s->index_lock);
            arm_file_count_dead(o->f, m->s->id, o->size - ARM_FILE_HEADER_SIZE);
            pthread_rwlock_unlock(&m->s->index_lock);
        }
        o->f = NULL;
    }
}

static void cmp_merge_free(cmp_merge *m) {
    for (size_t i = 0; i < m->nin; i++)
        arm_file_release(&m->in[i].ref);
    arm_free(m->in);
    arm_free(m->copies);
    arm_buf_free(&m->keys);
    arm_free(m->outs);
    arm_free(m->buf);
    arm_free(m->pos_seq);
    arm_free(m->pos_in);
    arm_free(m->pos_off);
}

/* Merge shard s's files that pass the threshold; add what it did to *res. */
static int cmp_merge_shard(arm_compactor *c, arm_shard *s, arm_compact_result *res) {
    arm_engine *e = c->e;
    cmp_merge m;
    memset(&m, 0, sizeof(m));
    m.e = e;
    m.c = c;
    m.s = s;
    int rc = cmp_select(&m);
    if (rc != ARM_OK || m.nin == 0) goto cleanup;
    m.buf = arm_malloc(CMP_BUF);
    m.pos_seq = arm_calloc(e->shard_count, sizeof(uint64_t));
    m.pos_in = arm_calloc(e->shard_count, sizeof(uint32_t));
    m.pos_off = arm_calloc(e->shard_count, sizeof(uint32_t));
    if (m.buf == NULL || m.pos_seq == NULL || m.pos_in == NULL || m.pos_off == NULL) {
        rc = ARM_ERR(ARM_NOMEM);
        goto cleanup;
    }
    for (size_t i = 0; i < m.nin && rc == ARM_OK; i++)
        rc = cmp_copy_file(&m, i);
    if (rc == ARM_OK) rc = cmp_copy_positions(&m);
    /* a merge leaves a merged file behind, empty if need be: it tells the
     * next open that the log's first files are gone */
    if (rc == ARM_OK && m.nouts == 0) rc = cmp_out_open(&m);
    if (rc == ARM_OK) rc = cmp_publish(&m);
    if (rc != ARM_OK) {
        cmp_abandon(&m);
        goto cleanup;
    }
    cmp_repoint(&m);
    /* Readers stepping past a file below this one fail from now on (before
     * any file goes: logread.c reads it after finding the next file). */
    uint32_t gone = 0;
    for (size_t i = 0; i < m.nin; i++)
        if (m.in[i].log) gone = ARM_MAX(gone, m.in[i].ref.fid);
    if (gone > atomic_load(&s->log_gone)) atomic_store(&s->log_gone, gone);
    /* Oldest first, each removal durable before the next: a batch's file
     * never outlives the file holding its decision. */
    for (size_t i = 0; i < m.nin; i++) {
        res->bytes_in += m.in[i].size;
        res->files_in++;
        int r = arm_files_retire_unlink(&e->files, m.in[i].ref.fid);
        if (r != ARM_OK && r != ARM_NOTFOUND && rc == ARM_OK) rc = r;
    }
    for (size_t i = 0; i < m.nouts; i++)
        res->bytes_out += m.outs[i].size;
    res->files_out += m.nouts;
cleanup:
    cmp_merge_free(&m);
    return rc;
}

/* One pass over every shard. */
static int cmp_run(arm_compactor *c, arm_compact_result *res) {
    arm_engine *e = c->e;
    int rc = ARM_OK;
    pthread_mutex_lock(&c->run_mu);
    atomic_store(&c->merging, 1);
    /* A second pass when the first merged something: a shard merged early
     * had to keep tombstones that the later shards' merges made droppable. */
    for (int pass = 0; pass < 2 && rc == ARM_OK; pass++) {
        uint64_t before = res->files_in;
        for (uint32_t i = 0; i < e->shard_count && rc == ARM_OK; i++) {
            if (atomic_load(&e->panic)) {
                rc = arm_engine_seterr(ARM_PANIC, 0, "an earlier write or sync failed; reopen");
                break;
            }
            if (atomic_load(&c->stopping)) break;
            rc = cmp_merge_shard(c, &e->shards[i], res);
        }
        if (res->files_in == before) break;
    }
    atomic_store(&c->merging, 0);
    pthread_mutex_unlock(&c->run_mu);
    res->reclaimed = res->bytes_in > res->bytes_out ? res->bytes_in - res->bytes_out : 0;
    return rc == ARM_CLOSED && atomic_load(&c->stopping) ? ARM_OK : rc;
}

/* ------------------------------------------------------------ thread */
static void *cmp_main(void *arg) {
    arm_compactor *c = arg;
    /* Below the writers: on a busy machine a merge waits for CPU, writes do
     * not (Linux: a thread's own nice value). Failure is harmless. */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), CMP_NICE);
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)CMP_POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cond, &c->mu, &ts);
        if (c->stop) break;
        pthread_mutex_unlock(&c->mu);
        arm_compact_result res;
        memset(&res, 0, sizeof(res));
        /* A failure is retried at the next round (an I/O error that stays
         * shows in arm_engine_compact and in writes). */
        if (cmp_run(c, &res) != ARM_OK) arm_engine_clearerr();
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int arm_compact_init(arm_engine *e) {
    if (e->opts.read_only) return ARM_OK;
    arm_compactor *c = arm_calloc(1, sizeof(*c));
    if (c == NULL) return ARM_ERR(ARM_NOMEM);
    c->e = e;
    pthread_mutex_init(&c->run_mu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    e->compactor = c;
    if (!e->opts.compaction) return ARM_OK;
    int perr = pthread_create(&c->thread, NULL, cmp_main, c);
    if (perr != 0)
        return arm_engine_seterr(ARM_ERR(ARM_NOMEM), perr, "cannot start the compaction thread");
    c->thread_running = 1;
    return ARM_OK;
}

void arm_compact_stop(arm_engine *e) {
    arm_compactor *c = e->compactor;
    if (c == NULL) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    atomic_store(&c->stopping, 1);
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->mu);
    if (c->thread_running) pthread_join(c->thread, NULL);
    /* a caller's merge in arm_engine_compact is a misuse now (close with a
     * call in flight); run_mu is free */
    pthread_mutex_destroy(&c->run_mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    arm_free(c);
    e->compactor = NULL;
}

int arm_compact_running(arm_engine *e) {
    return e->compactor != NULL && atomic_load(&e->compactor->merging);
}

int arm_engine_compact(arm_engine *e, arm_compact_result *result_out) {
    arm_compact_result res;
    memset(&res, 0, sizeof(res));
    if (result_out) *result_out = res;
    if (e == NULL) return ARM_ERR(ARM_MISUSE);
    if (e->opts.read_only || e->compactor == NULL)
        return arm_engine_seterr(ARM_ERR(ARM_READONLY), 0, "compaction: the engine is read-only");
    arm_engine_clearerr();
    int rc = cmp_run(e->compactor, &res);
    if (result_out) *result_out = res;
    return rc;
}

#undef CMP_POLL_MS
#undef CMP_BUF
#undef CMP_REPOINT_STEP
#undef CMP_INPUTS_MAX
#undef CMP_NICE
#undef CMP_CHUNK
