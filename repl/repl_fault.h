/* SPDX-License-Identifier: MIT */
/*
 * repl_fault.h: the test-build fault shim for replication connections. It
 * decides, frame by frame, what the connection's fault hook (repl_stream.c)
 * does with an outgoing frame: pass, drop, duplicate, truncate (and shut the
 * connection down), or delay it. Two ways to say what: rules ("the 3rd TXN
 * frame: drop") and seeded random rates per thousand frames (the seed comes
 * from the test, which prints it on failure). Install it on one connection
 * with repl_conn_set_fault(c, repl_fault_hook, &plan), or on every connection
 * opened afterwards (those made inside a leader or follower) with
 * repl_fault_set_default(repl_fault_hook, &plan). The plan is thread-safe.
 * Compiled only into test builds (-DARM_TEST): production code cannot
 * include it.
 */
#ifndef ARM_REPL_FAULT_H
#define ARM_REPL_FAULT_H

#ifndef ARM_TEST
#error "repl_fault.h is for test builds only (-DARM_TEST)"
#endif

#include "repl_int.h"

#include <pthread.h>
#include <string.h>

#define REPL_FAULT_RULES_MAX 16

/* The nth (1-based) frame of `type` (0: of any type) gets `kind` (enum
 * repl_fault_kind) with `arg`. */
typedef struct repl_fault_rule {
    uint8_t type;
    uint64_t nth;
    int kind;
    uint32_t arg;
} repl_fault_rule;

typedef struct repl_fault_plan {
    pthread_mutex_t lock;
    repl_fault_rule rules[REPL_FAULT_RULES_MAX];
    int nrules;
    /* random faults, per thousand frames of type only_type (0: all types) */
    uint64_t rng;
    uint32_t drop_pm, dup_pm, trunc_pm, delay_pm;
    uint32_t delay_ms; /* for random delays */
    uint8_t only_type;
    /* what happened */
    uint64_t seen[REPL_MSG_TYPE_MAX + 1]; /* frames offered, per type (index 0: all) */
    uint64_t done[5];                     /* frames per enum repl_fault_kind */
} repl_fault_plan;

static inline void repl_fault_plan_init(repl_fault_plan *p, uint64_t seed) {
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    p->rng = seed ? seed : 1;
}

static inline void repl_fault_plan_destroy(repl_fault_plan *p) {
    pthread_mutex_destroy(&p->lock);
}

/* Add a rule; 0 on success, -1 when the table is full. */
static inline int repl_fault_plan_rule(repl_fault_plan *p, uint8_t type, uint64_t nth, int kind,
                                       uint32_t arg) {
    pthread_mutex_lock(&p->lock);
    int ok = p->nrules < REPL_FAULT_RULES_MAX;
    if (ok) {
        repl_fault_rule r = {type, nth, kind, arg};
        p->rules[p->nrules++] = r;
    }
    pthread_mutex_unlock(&p->lock);
    return ok ? 0 : -1;
}

/* Frames of each kind done so far (thread-safe read). */
static inline uint64_t repl_fault_plan_count(repl_fault_plan *p, int kind) {
    pthread_mutex_lock(&p->lock);
    uint64_t n = p->done[kind];
    pthread_mutex_unlock(&p->lock);
    return n;
}

static inline uint32_t repl_fault_rand_pm(repl_fault_plan *p) {
    p->rng ^= p->rng >> 12; /* xorshift64* */
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    return (uint32_t)((p->rng * 2685821657736338717ULL) >> 33) % 1000u;
}

/* The repl_fault_fn: ctx is a repl_fault_plan. */
static inline void repl_fault_hook(void *ctx, const repl_frame_hdr *h, repl_fault_act *act) {
    repl_fault_plan *p = (repl_fault_plan *)ctx;
    pthread_mutex_lock(&p->lock);
    uint64_t nth_any = ++p->seen[0];
    uint64_t nth_type = ++p->seen[h->type <= REPL_MSG_TYPE_MAX ? h->type : 0];
    act->kind = REPL_FAULT_PASS;
    act->arg = 0;
    int ruled = 0;
    for (int i = 0; i < p->nrules && !ruled; i++) {
        const repl_fault_rule *r = &p->rules[i];
        if (r->type == 0 ? r->nth == nth_any : r->type == h->type && r->nth == nth_type) {
            act->kind = r->kind;
            act->arg = r->arg;
            ruled = 1;
        }
    }
    if (!ruled && (p->only_type == 0 || p->only_type == h->type)) {
        uint32_t x = repl_fault_rand_pm(p);
        uint32_t len = REPL_FRAME_HDR + h->len;
        if (x < p->drop_pm) {
            act->kind = REPL_FAULT_DROP;
        } else if ((x -= p->drop_pm) < p->dup_pm) {
            act->kind = REPL_FAULT_DUP;
        } else if ((x -= p->dup_pm) < p->trunc_pm) {
            act->kind = REPL_FAULT_TRUNC;
            act->arg = (uint32_t)(p->rng % len); /* keeps 0 .. len-1 bytes */
        } else if ((x -= p->trunc_pm) < p->delay_pm) {
            act->kind = REPL_FAULT_DELAY;
            act->arg = p->delay_ms;
        }
    }
    p->done[act->kind]++;
    pthread_mutex_unlock(&p->lock);
}

#endif /* ARM_REPL_FAULT_H */
