/* SPDX-License-Identifier: MIT */
/*
 * outcome.c: what a log reader must know about the batches it meets, and
 * telling watchers that something landed.
 *
 * A batch in a shard's log is published unless it is one of two kinds the
 * log alone does not tell apart at the point where the batch is:
 *   pending  a prepared transaction not yet published or discarded (its
 *            prepare wrote the batch; publish writes nothing on the hot
 *            path), or an in-doubt one found by recovery;
 *   aborted  discarded after its prepare: the ABORT record comes later in
 *            the log, possibly much later.
 * txn.c registers a prepared batch as pending under the log mutex of the
 * shard it was appended to, so a reader that read the bytes (it reads a log's
 * end under that mutex) finds it registered; publish resolves it, discard
 * resolves it as aborted (after its abort record is written). Recovery adds
 * the aborts it read. The aborted set lives as long as the engine: aborts
 * follow a prepare only when something after it failed, so it stays small.
 *
 * Watches: an eventfd per watch; arm sets its flag and the engine's
 * watch_armed, and every commit, decision and apply checks watch_armed (one
 * atomic load) and, when set, writes the armed watches' eventfds and disarms
 * them. Arming is a store then a read of the log; a commit is a write to the
 * log then a load of the flag; both sequentially consistent, so either the
 * reader sees the commit or the committer sees the arm. Layer: engine, a leaf
 * beside err.c (txn.c, write.c, recover.c and logread.c call it).
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

int arm_outcomes_init(arm_outcomes *o) {
    memset(o, 0, sizeof(*o));
    if (pthread_mutex_init(&o->mu, NULL) != 0) return ARM_ERR(ARM_NOMEM);
    o->head.next = o->head.prev = &o->head;
    return ARM_OK;
}

void arm_outcomes_deinit(arm_outcomes *o) {
    arm_free(o->aborted);
    o->aborted = NULL;
    pthread_mutex_destroy(&o->mu);
}

void arm_outcome_pending_add(arm_engine *e, arm_pending *p, uint64_t seq, uint32_t shard) {
    arm_outcomes *o = &e->outcomes;
    pthread_mutex_lock(&o->mu);
    p->seq = seq;
    p->shard = shard;
    p->next = &o->head;
    p->prev = o->head.prev;
    o->head.prev->next = p;
    o->head.prev = p;
    atomic_fetch_add(&o->npending, 1);
    pthread_mutex_unlock(&o->mu);
}

/* Insert seq into the sorted aborted set. mu held. */
static void outcome_abort_locked(arm_outcomes *o, uint64_t seq) {
    size_t lo = 0, hi = o->naborted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (o->aborted[mid] < seq) lo = mid + 1;
        else hi = mid;
    }
    if (lo < o->naborted && o->aborted[lo] == seq) return;
    if (o->naborted == o->cap_aborted) {
        size_t cap = o->cap_aborted ? o->cap_aborted * 2 : 16;
        uint64_t *np = arm_realloc(o->aborted, cap * sizeof(uint64_t));
        if (np == NULL) {
            o->lost = 1; /* readers fail rather than ship an aborted batch */
            atomic_store(&o->any_aborted, 1);
            return;
        }
        o->aborted = np;
        o->cap_aborted = cap;
    }
    memmove(o->aborted + lo + 1, o->aborted + lo, (o->naborted - lo) * sizeof(uint64_t));
    o->aborted[lo] = seq;
    o->naborted++;
    atomic_store(&o->any_aborted, 1);
}

void arm_outcome_resolve(arm_engine *e, arm_pending *p, int aborted) {
    arm_outcomes *o = &e->outcomes;
    pthread_mutex_lock(&o->mu);
    if (ARM_ALWAYS(p->next != NULL)) {
        /* Aborted first, then not pending: a reader never finds it neither. */
        if (aborted) outcome_abort_locked(o, p->seq);
        p->prev->next = p->next;
        p->next->prev = p->prev;
        p->next = p->prev = NULL;
        atomic_fetch_sub(&o->npending, 1);
    }
    pthread_mutex_unlock(&o->mu);
    arm_watch_notify(e);
}

void arm_outcome_aborted_add(arm_engine *e, uint64_t seq) {
    arm_outcomes *o = &e->outcomes;
    pthread_mutex_lock(&o->mu);
    outcome_abort_locked(o, seq);
    pthread_mutex_unlock(&o->mu);
}

int arm_outcome_of(arm_engine *e, uint64_t seq) {
    arm_outcomes *o = &e->outcomes;
    /* The common case: nothing is undecided and nothing was ever aborted. */
    if (atomic_load(&o->npending) == 0 && atomic_load(&o->any_aborted) == 0)
        return ARM_OUTCOME_PUBLISHED;
    int r = ARM_OUTCOME_PUBLISHED;
    pthread_mutex_lock(&o->mu);
    for (arm_pending *p = o->head.next; p != &o->head; p = p->next)
        if (p->seq == seq) r = ARM_OUTCOME_PENDING;
    if (r == ARM_OUTCOME_PUBLISHED && o->naborted &&
        bsearch(&seq, o->aborted, o->naborted, sizeof(uint64_t), arm_u64_cmp) != NULL)
        r = ARM_OUTCOME_ABORTED;
    if (r == ARM_OUTCOME_PUBLISHED && o->lost) r = -ARM_NOMEM;
    pthread_mutex_unlock(&o->mu);
    return r;
}

int arm_outcome_pending_before(arm_engine *e, const arm_log_pos *pos) {
    arm_outcomes *o = &e->outcomes;
    if (atomic_load(&o->npending) == 0) return 0;
    int r = 0;
    pthread_mutex_lock(&o->mu);
    /* Sequence numbers grow along a shard's log: before the position is
     * at or below the sequence number of the entry that ends there. */
    for (arm_pending *p = o->head.next; p != &o->head && !r; p = p->next)
        r = p->seq <= pos[p->shard].seq;
    pthread_mutex_unlock(&o->mu);
    return r;
}

/* ------------------------------------------------------------- watches */
int arm_engine_watch_open(arm_engine *e, arm_watch **watch_out) {
    *watch_out = NULL;
    arm_watch *w = arm_calloc(1, sizeof(*w));
    if (w == NULL) return ARM_ERR(ARM_NOMEM);
    w->e = e;
    w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->fd < 0) {
        int err = errno;
        arm_free(w);
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), err, "eventfd failed");
    }
    pthread_mutex_lock(&e->watch_mu);
    w->next = e->watches;
    e->watches = w;
    pthread_mutex_unlock(&e->watch_mu);
    *watch_out = w;
    return ARM_OK;
}

int arm_watch_fd(const arm_watch *w) {
    return w->fd;
}

void arm_watch_arm(arm_watch *w) {
    uint64_t v;
    while (read(w->fd, &v, sizeof(v)) < 0 && errno == EINTR) {
    }
    atomic_store(&w->armed, 1);
    atomic_store(&w->e->watch_armed, 1);
}

void arm_watch_fire(arm_engine *e) {
    pthread_mutex_lock(&e->watch_mu);
    /* Cleared before the watches are looked at: an arm that lands meanwhile
     * sets it again and is seen by the next commit or by this loop. */
    atomic_store(&e->watch_armed, 0);
    for (arm_watch *w = e->watches; w; w = w->next) {
        if (!atomic_exchange(&w->armed, 0)) continue;
        uint64_t one = 1;
        while (write(w->fd, &one, sizeof(one)) < 0 && errno == EINTR) {
        }
    }
    pthread_mutex_unlock(&e->watch_mu);
}

void arm_watch_close(arm_watch *w) {
    if (w == NULL) return;
    arm_engine *e = w->e;
    pthread_mutex_lock(&e->watch_mu);
    for (arm_watch **pp = &e->watches; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&e->watch_mu);
    close(w->fd);
    arm_free(w);
}
