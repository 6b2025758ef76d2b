/* SPDX-License-Identifier: MIT */
/*
 * mvcc.c: what makes snapshot reads possible. The domain: one sequence
 * counter for the engines that publish together (every version installed
 * gets a stamp from it while the installer holds the write locks of the
 * index shards it installs into), a registry of the snapshots being read,
 * and the count of prepared transactions. Each shard's version store: the
 * older versions of keys changed while a snapshot older than the change was
 * registered, newest first, and the deleted keys kept as DEAD items for the
 * same reason; pruned when no registered snapshot can read them.
 *
 * Why a stamp taken under the write locks is enough for a consistent view:
 * a reader takes snap = seq after registering. Any stamp <= snap was taken
 * by an installer that held the write lock of every shard it installs into
 * and holds it until the install is done, so by the time the reader gets a
 * shard's read lock that install is complete; a stamp > snap is invisible to
 * it and the installer saw the registration (it loads nsnap after taking its
 * stamp, both sequentially consistent), so it kept the version the reader
 * needs. Layer: engine.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <string.h>
#include <time.h>

#define MVCC_SPARE_MAX 4096u /* spare nodes kept per shard */
#define MVCC_GC_EVERY  256u  /* installs between prunes while snapshots hold versions */

/* ------------------------------------------------------------- domain */
int arm_domain_new(arm_domain **out) {
    *out = NULL;
    arm_domain *d = arm_calloc(1, sizeof(*d));
    if (d == NULL) return ARM_ERR(ARM_NOMEM);
    if (pthread_mutex_init(&d->mu, NULL) != 0) {
        arm_free(d);
        return ARM_ERR(ARM_NOMEM);
    }
    if (pthread_cond_init(&d->prepared_cond, NULL) != 0) {
        pthread_mutex_destroy(&d->mu);
        arm_free(d);
        return ARM_ERR(ARM_NOMEM);
    }
    atomic_store(&d->refs, 1);
    d->idle_ms = ARM_SNAP_IDLE_MS;
    *out = d;
    return ARM_OK;
}

arm_domain *arm_domain_ref(arm_domain *d) {
    atomic_fetch_add(&d->refs, 1);
    return d;
}

void arm_domain_unref(arm_domain *d) {
    if (d == NULL || atomic_fetch_sub(&d->refs, 1) != 1) return;
    assert(atomic_load(&d->nsnap) == 0);
    arm_snap_chunk *c = atomic_load(&d->first.next);
    while (c) {
        arm_snap_chunk *next = atomic_load(&c->next);
        arm_free(c);
        c = next;
    }
    pthread_cond_destroy(&d->prepared_cond);
    pthread_mutex_destroy(&d->mu);
    arm_free(d);
}

void arm_domain_free(arm_domain *d) {
    arm_domain_unref(d);
}

arm_domain *arm_engine_domain(const arm_engine *e) {
    return e->dom;
}

uint64_t arm_domain_next_seq(arm_domain *d) {
    uint64_t seq = atomic_fetch_add(&d->seq, 1) + 1;
    /* Unreachable by writing (2^62 writes), reachable by a damaged or forged
     * file whose entries sit just below the limit: refuse, never wrap. */
    if (seq >= ARM_SEQ_MAX) {
        atomic_store(&d->seq, ARM_SEQ_MAX);
        return 0;
    }
    return seq;
}

void arm_domain_observe_seq(arm_domain *d, uint64_t seq) {
    uint64_t cur = atomic_load(&d->seq);
    while (cur < seq && !atomic_compare_exchange_weak(&d->seq, &cur, seq)) {
    }
}

void arm_domain_prepared_add(arm_domain *d, int delta) {
    if (delta > 0) {
        atomic_fetch_add(&d->nprepared, (uint32_t)delta);
        return;
    }
    atomic_fetch_sub(&d->nprepared, (uint32_t)-delta);
    /* Waking costs a lock round per commit: only when someone waits (the
     * waiter counts itself before it looks at nprepared). */
    if (atomic_load(&d->nwaiters) == 0) return;
    pthread_mutex_lock(&d->mu);
    pthread_cond_broadcast(&d->prepared_cond);
    pthread_mutex_unlock(&d->mu);
}

void arm_domain_wait_prepared(arm_domain *d, int timeout_ms) {
    if (atomic_load(&d->nprepared) == 0) return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    atomic_fetch_add(&d->nwaiters, 1);
    pthread_mutex_lock(&d->mu);
    while (atomic_load(&d->nprepared) != 0)
        if (pthread_cond_timedwait(&d->prepared_cond, &d->mu, &ts) != 0) break;
    pthread_mutex_unlock(&d->mu);
    atomic_fetch_sub(&d->nwaiters, 1);
}

static uint64_t mvcc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t arm_domain_min_snapshot(arm_domain *d, int pressure) {
    if (atomic_load(&d->nsnap) == 0) return UINT64_MAX;
    uint64_t min = UINT64_MAX, now = 0;
    for (arm_snap_chunk *c = &d->first; c != NULL; c = atomic_load(&c->next)) {
        for (uint32_t i = 0; i < ARM_SNAP_CHUNK; i++) {
            uint64_t v = atomic_load(&c->slot[i]);
            if (v == 1) return 0; /* being taken: its seq is not known yet */
            if (v <= ARM_SNAP_EXPIRED) continue;
            if (v & ARM_SNAP_IDLE) {
                if (now == 0) now = mvcc_now_ms();
                int old = now - atomic_load(&c->idle_ms[i]) > d->idle_ms;
                /* Expire it unless its holder resumed meanwhile (then the
                 * exchange fails and it counts). */
                if ((old || pressure) &&
                    atomic_compare_exchange_strong(&c->slot[i], &v, ARM_SNAP_EXPIRED)) {
                    atomic_fetch_sub(&d->nsnap, 1); /* it protects nothing any more */
                    continue;
                }
                v = atomic_load(&c->slot[i]);
                if (v <= ARM_SNAP_EXPIRED) continue;
            }
            uint64_t seq = (v & ~ARM_SNAP_IDLE) - 3;
            if (seq < min) min = seq;
        }
    }
    return min;
}

/* A slot per snapshot; a thread starts looking where it last found one, so
 * the usual take is one compare-and-swap on a line of its own making. */
static _Thread_local uint32_t mvcc_slot_hint;

static _Atomic uint64_t *mvcc_slot_claim(arm_domain *d, _Atomic uint64_t **idle_out) {
    arm_snap_chunk *c = &d->first;
    for (uint32_t nchunk = 0;; nchunk++) {
        for (uint32_t i = 0; i < ARM_SNAP_CHUNK; i++) {
            uint32_t j = (mvcc_slot_hint + i) % ARM_SNAP_CHUNK;
            uint64_t zero = 0;
            if (atomic_compare_exchange_strong(&c->slot[j], &zero, 1)) {
                mvcc_slot_hint = j;
                *idle_out = &c->idle_ms[j];
                return &c->slot[j];
            }
        }
        arm_snap_chunk *next = atomic_load(&c->next);
        if (next == NULL) {
            pthread_mutex_lock(&d->mu);
            next = atomic_load(&c->next);
            if (next == NULL && (next = arm_calloc(1, sizeof(*next))) != NULL)
                atomic_store(&c->next, next);
            pthread_mutex_unlock(&d->mu);
            if (next == NULL) return NULL;
        }
        c = next;
        (void)nchunk;
    }
}

int arm_snapshot_take(arm_domain *d, arm_snapshot *s) {
    memset(s, 0, sizeof(*s));
    /* Register first, then read seq: an installer that takes a stamp after
     * our read sees the registration and keeps the version we need. */
    atomic_fetch_add(&d->nsnap, 1);
    _Atomic uint64_t *idle = NULL;
    _Atomic uint64_t *slot = mvcc_slot_claim(d, &idle);
    if (slot == NULL) {
        atomic_fetch_sub(&d->nsnap, 1);
        return ARM_ERR(ARM_NOMEM);
    }
    s->seq = atomic_load(&d->seq);
    atomic_store(slot, s->seq + 3);
    s->slot = (void *)slot;
    s->idle = (void *)idle;
    s->domain = d;
    return ARM_OK;
}

void arm_snapshot_idle(arm_snapshot *s) {
    if (s->slot == NULL) return;
    _Atomic uint64_t *slot = s->slot;
    uint64_t v = atomic_load(slot);
    if (v <= ARM_SNAP_EXPIRED || (v & ARM_SNAP_IDLE)) return;
    atomic_store((_Atomic uint64_t *)s->idle, mvcc_now_ms());
    atomic_store(slot, v | ARM_SNAP_IDLE); /* only the holder moves it out of idle */
}

int arm_snapshot_resume(arm_snapshot *s) {
    if (s->slot == NULL) return ARM_OK;
    _Atomic uint64_t *slot = s->slot;
    for (;;) { /* at most twice: only expiry moves it meanwhile */
        uint64_t v = atomic_load(slot);
        if (v == ARM_SNAP_EXPIRED)
            return arm_engine_seterr(ARM_ERR(ARM_BUSY_SNAPSHOT), 0,
                                     "the transaction was idle while the versions it reads "
                                     "were reclaimed");
        if (!(v & ARM_SNAP_IDLE)) return ARM_OK;
        if (atomic_compare_exchange_strong(slot, &v, v & ~ARM_SNAP_IDLE)) return ARM_OK;
    }
}

void arm_snapshot_drop(arm_snapshot *s) {
    if (s == NULL || s->slot == NULL) return;
    /* An expired one was uncounted when it expired. */
    if (atomic_exchange((_Atomic uint64_t *)s->slot, 0) != ARM_SNAP_EXPIRED)
        atomic_fetch_sub(&s->domain->nsnap, 1);
    s->slot = NULL;
}

/* ------------------------------------------------------ version store */
static uint64_t vs_hash(const arm_item *it) {
    uint64_t x = (uint64_t)(uintptr_t)it;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* Slot of `it`, or of the empty slot where it would go. */
static uint64_t vs_find(const arm_vstore *vs, const arm_item *it) {
    uint64_t mask = vs->cap - 1;
    for (uint64_t i = vs_hash(it) & mask;; i = (i + 1) & mask)
        if (vs->item[i] == NULL || vs->item[i] == it) return i;
}

static int vs_grow(arm_vstore *vs) {
    uint64_t cap = vs->cap ? vs->cap * 2 : 64;
    arm_item **item = arm_calloc(cap, sizeof(*item));
    arm_ver **head = arm_calloc(cap, sizeof(*head));
    if (item == NULL || head == NULL) {
        arm_free(item);
        arm_free(head);
        return ARM_ERR(ARM_NOMEM);
    }
    arm_vstore old = *vs;
    vs->item = item;
    vs->head = head;
    vs->cap = cap;
    for (uint64_t i = 0; i < old.cap; i++) {
        if (old.item[i] == NULL) continue;
        uint64_t j = vs_find(vs, old.item[i]);
        vs->item[j] = old.item[i];
        vs->head[j] = old.head[i];
    }
    arm_free(old.item);
    arm_free(old.head);
    return ARM_OK;
}

/* Backward-shift deletion keeps probe chains whole without tombstones. */
static void vs_delete_at(arm_vstore *vs, uint64_t i) {
    uint64_t mask = vs->cap - 1;
    vs->item[i] = NULL;
    vs->head[i] = NULL;
    vs->n--;
    for (uint64_t j = (i + 1) & mask; vs->item[j] != NULL; j = (j + 1) & mask) {
        uint64_t home = vs_hash(vs->item[j]) & mask;
        /* move j back to i when i lies on j's probe path (cyclically in [home, j)) */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            vs->item[i] = vs->item[j];
            vs->head[i] = vs->head[j];
            vs->item[j] = NULL;
            vs->head[j] = NULL;
            i = j;
        }
    }
}

static arm_ver *vs_node_get(arm_vstore *vs) {
    arm_ver *v = vs->spare;
    if (v) {
        vs->spare = v->next;
        vs->nspare--;
        return v;
    }
    v = arm_malloc(sizeof(*v));
    if (v) vs->nodes++;
    return v;
}

static void vs_node_put(arm_vstore *vs, arm_ver *v) {
    if (vs->nspare >= MVCC_SPARE_MAX) {
        arm_free(v);
        vs->nodes--;
        return;
    }
    v->next = vs->spare;
    vs->spare = v;
    vs->nspare++;
}

static void vs_chain_free(arm_vstore *vs, arm_ver *v) {
    while (v) {
        arm_ver *next = v->next;
        vs_node_put(vs, v);
        v = next;
    }
}

void arm_vs_reserve(arm_shard *s, uint64_t n) {
    arm_vstore *vs = &s->vs;
    n = ARM_MIN(n, (uint64_t)MVCC_SPARE_MAX);
    while (vs->nspare < n) {
        arm_ver *v = arm_malloc(sizeof(*v));
        if (v == NULL) return;
        vs->nodes++;
        v->next = vs->spare;
        vs->spare = v;
        vs->nspare++;
    }
}

int arm_vs_keep(arm_shard *s, arm_item *it, uint64_t stamp) {
    arm_vstore *vs = &s->vs;
    arm_ver *v = vs_node_get(vs);
    if (v == NULL || ((vs->n + 1) * 4 > vs->cap * 3 && vs_grow(vs) != ARM_OK)) {
        if (v) vs_node_put(vs, v);
        if (stamp > s->lost_ver) s->lost_ver = stamp;
        return 0;
    }
    v->ver = it->seq;
    v->fid = it->fid;
    v->off = it->off;
    v->len = it->len;
    v->dead = (it->flags & ARM_ITEM_DEAD) != 0;
    uint64_t i = vs_find(vs, it);
    if (vs->item[i] == NULL) {
        vs->item[i] = it;
        vs->head[i] = NULL;
        vs->n++;
    }
    v->next = vs->head[i];
    vs->head[i] = v;
    it->flags |= ARM_ITEM_OLD;
    return 1;
}

void arm_vs_forget(arm_shard *s, arm_item *it) {
    if (!(it->flags & ARM_ITEM_OLD)) return;
    arm_vstore *vs = &s->vs;
    uint64_t i = vs_find(vs, it);
    if (ARM_NEVER(vs->item[i] == NULL)) return;
    vs_chain_free(vs, vs->head[i]);
    vs_delete_at(vs, i);
    it->flags &= (uint8_t)~ARM_ITEM_OLD;
}

/* The chain of `it`, or NULL (no kept versions). */
static arm_ver *vs_chain(const arm_shard *s, const arm_item *it) {
    if (!(it->flags & ARM_ITEM_OLD) || s->vs.cap == 0) return NULL;
    uint64_t i = vs_find(&s->vs, it);
    return s->vs.item[i] == it ? s->vs.head[i] : NULL;
}

int arm_vs_refers(const arm_shard *s, const arm_item *it, uint32_t fid, uint32_t off) {
    for (const arm_ver *v = vs_chain(s, it); v; v = v->next)
        if (!v->dead && v->fid == fid && v->off == off) return 1;
    return 0;
}

int arm_vs_repoint(arm_shard *s, const arm_item *it, uint32_t fid, uint32_t off, uint32_t nfid,
                   uint32_t noff) {
    int n = 0;
    for (arm_ver *v = vs_chain(s, it); v; v = v->next) {
        if (v->fid != fid || v->off != off) continue;
        v->fid = nfid;
        v->off = noff;
        n++;
    }
    return n;
}

int arm_vs_visible(const arm_shard *s, const arm_item *it, uint64_t snap, arm_item *loc) {
    memcpy(loc, it, sizeof(*loc));
    if (it->seq <= snap) return !(it->flags & ARM_ITEM_DEAD);
    /* Newer than the snapshot: the version it saw is in the chain, or the key
     * did not exist then (made after it, or a prepared insert's hold). */
    if (snap < s->lost_ver) return -ARM_BUSY_SNAPSHOT;
    if (!(it->flags & ARM_ITEM_OLD)) return 0;
    const arm_vstore *vs = &s->vs;
    uint64_t i = vs_find(vs, it);
    if (ARM_NEVER(vs->item[i] == NULL)) return 0;
    for (const arm_ver *v = vs->head[i]; v != NULL; v = v->next) {
        if (v->ver > snap) continue;
        if (v->dead) return 0;
        loc->seq = v->ver;
        loc->fid = v->fid;
        loc->off = v->off;
        loc->len = v->len;
        loc->flags = 0;
        return 1;
    }
    return 0;
}

/* Keep, of a chain, the versions some snapshot >= min can read: everything
 * newer than min plus the first one at or below it. */
static arm_ver *vs_prune_chain(arm_vstore *vs, arm_ver *v, uint64_t min) {
    arm_ver **link = &v;
    while (*link && (*link)->ver > min) link = &(*link)->next;
    if (*link) {
        vs_chain_free(vs, (*link)->next);
        (*link)->next = NULL;
    }
    return v;
}

void arm_vs_gc(arm_engine *e, arm_shard *s, int force) {
    arm_vstore *vs = &s->vs;
    if (vs->n == 0) return;
    uint64_t nsnap = atomic_load(&e->dom->nsnap);
    if (!force && nsnap > 0 && ++s->gc_tick < MVCC_GC_EVERY) return;
    s->gc_tick = 0;
    uint64_t min = arm_domain_min_snapshot(e->dom, vs->nodes > ARM_SNAP_PRESSURE_NODES);
    /* An item whose own version is at or below min is all any snapshot reads
     * (a deleted one then leaves the index, unless a prepared transaction
     * holds it); otherwise its chain is trimmed. */
    int removed = 0;
    for (uint64_t i = 0; i < vs->cap; i++) {
        arm_item *it = vs->item[i];
        if (it == NULL) continue;
        if (it->seq > min) {
            vs->head[i] = vs_prune_chain(vs, vs->head[i], min);
            continue;
        }
        vs_chain_free(vs, vs->head[i]);
        it->flags &= (uint8_t)~ARM_ITEM_OLD;
        vs_delete_at(vs, i);
        if ((it->flags & ARM_ITEM_DEAD) && !(it->flags & ARM_ITEM_INTENT)) {
            arm_index_remove(s->index, it);
            s->ndead--;
            removed = 1;
        }
        i--; /* a later entry may have shifted back into slot i */
    }
    if (removed) s->ix_gen++;
}

void arm_vs_free(arm_vstore *vs) {
    for (uint64_t i = 0; i < vs->cap; i++)
        if (vs->item[i]) vs_chain_free(vs, vs->head[i]);
    while (vs->spare) {
        arm_ver *next = vs->spare->next;
        arm_free(vs->spare);
        vs->spare = next;
    }
    arm_free(vs->item);
    arm_free(vs->head);
    memset(vs, 0, sizeof(*vs));
}

uint64_t arm_vs_memory(const arm_vstore *vs) {
    return vs->nodes * sizeof(arm_ver) + vs->cap * (sizeof(arm_item *) + sizeof(arm_ver *));
}

#undef MVCC_SPARE_MAX
#undef MVCC_GC_EVERY
