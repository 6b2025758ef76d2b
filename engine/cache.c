/* SPDX-License-Identifier: MIT */
/*
 * cache.c: the read cache (option cache_size). Entries are immutable at their
 * (fid, off), so the cache needs no invalidation: a newer version of a key
 * lives at another location. Each of CACHE_STRIPES stripes owns a ring of
 * bytes that values are appended to (FIFO eviction: the ring overwrites its
 * oldest bytes) and a 4-way set-associative table from (fid, off) to a ring
 * position. All memory is allocated at open; a hit is a table probe and a
 * memcpy, a miss an append. Values over 1/8 of a stripe are not cached.
 */
#include "cache.h"
#include "../common/arm_alloc.h"
#include "../common/arm_hash.h"

#include <pthread.h>
#include <string.h>

#define CACHE_STRIPES 16u
#define CACHE_WAYS    4u
#define CACHE_AVG     128u /* bytes per entry the table is sized for */

typedef struct cache_slot {
    uint64_t pos; /* ring write counter at the entry's start; 0 = empty */
    uint32_t fid, off;
    uint32_t len;
} cache_slot;

typedef struct cache_stripe {
    pthread_mutex_t lock;
    uint8_t *ring;
    uint64_t ring_len;
    uint64_t head;      /* bytes ever appended + 1 (so pos 0 means empty) */
    cache_slot *slots;  /* nsets * CACHE_WAYS */
    uint64_t nsets;
    uint32_t victim;    /* round-robin way to replace */
} cache_stripe;

struct arm_cache {
    cache_stripe stripes[CACHE_STRIPES];
};

int arm_cache_new(uint64_t bytes, arm_cache **cache_out) {
    *cache_out = NULL;
    arm_cache *c = arm_calloc(1, sizeof(*c));
    if (c == NULL) return ARM_ERR(ARM_NOMEM);
    uint64_t per = bytes / CACHE_STRIPES;
    if (per < 4096) per = 4096;
    int rc = ARM_OK;
    for (uint32_t i = 0; i < CACHE_STRIPES && rc == ARM_OK; i++) {
        cache_stripe *s = &c->stripes[i];
        pthread_mutex_init(&s->lock, NULL);
        s->ring_len = per;
        s->head = 1;
        s->nsets = per / CACHE_AVG / CACHE_WAYS + 1;
        s->ring = arm_malloc(per);
        s->slots = arm_calloc(s->nsets * CACHE_WAYS, sizeof(cache_slot));
        if (s->ring == NULL || s->slots == NULL) rc = ARM_ERR(ARM_NOMEM);
    }
    if (rc != ARM_OK) {
        arm_cache_free(c);
        return rc;
    }
    *cache_out = c;
    return ARM_OK;
}

void arm_cache_free(arm_cache *c) {
    if (c == NULL) return;
    for (uint32_t i = 0; i < CACHE_STRIPES; i++) {
        cache_stripe *s = &c->stripes[i];
        if (s->ring_len == 0) continue;
        arm_free(s->ring);
        arm_free(s->slots);
        pthread_mutex_destroy(&s->lock);
    }
    arm_free(c);
}

static cache_stripe *cache_locate(arm_cache *c, uint32_t fid, uint32_t off, cache_slot **set) {
    uint64_t key[1] = {((uint64_t)fid << 32) | off};
    uint64_t h = arm_hash_key(key, sizeof(key));
    cache_stripe *s = &c->stripes[h % CACHE_STRIPES];
    *set = &s->slots[((h / CACHE_STRIPES) % s->nsets) * CACHE_WAYS];
    return s;
}

/* Still in the ring: nothing appended since has reached its bytes. */
static int cache_live(const cache_stripe *s, const cache_slot *e) {
    return e->pos != 0 && s->head - e->pos <= s->ring_len;
}

static void cache_copy(const cache_stripe *s, uint64_t pos, uint8_t *dst, size_t n, int out) {
    uint64_t at = (pos - 1) % s->ring_len;
    size_t first = (size_t)ARM_MIN((uint64_t)n, s->ring_len - at);
    if (out) {
        memcpy(dst, s->ring + at, first);
        memcpy(dst + first, s->ring, n - first);
    } else {
        memcpy(s->ring + at, dst, first);
        memcpy(s->ring, dst + first, n - first);
    }
}

int arm_cache_get(arm_cache *c, uint32_t fid, uint32_t off, arm_buf *out) {
    cache_slot *set;
    cache_stripe *s = cache_locate(c, fid, off, &set);
    int hit = 0;
    pthread_mutex_lock(&s->lock);
    for (uint32_t w = 0; w < CACHE_WAYS; w++) {
        cache_slot *e = &set[w];
        if (e->fid != fid || e->off != off || !cache_live(s, e)) continue;
        if (arm_buf_reserve(out, e->len) == ARM_OK) {
            cache_copy(s, e->pos, out->ptr, e->len, 1);
            out->len = e->len;
            hit = 1;
        }
        break;
    }
    pthread_mutex_unlock(&s->lock);
    return hit;
}

void arm_cache_put(arm_cache *c, uint32_t fid, uint32_t off, const uint8_t *v, size_t n) {
    cache_slot *set;
    cache_stripe *s = cache_locate(c, fid, off, &set);
    if (n > s->ring_len / 8) return;
    pthread_mutex_lock(&s->lock);
    cache_slot *e = NULL;
    for (uint32_t w = 0; w < CACHE_WAYS && e == NULL; w++)
        if (!cache_live(s, &set[w]) || (set[w].fid == fid && set[w].off == off)) e = &set[w];
    if (e == NULL) e = &set[s->victim++ % CACHE_WAYS];
    e->pos = s->head;
    e->fid = fid;
    e->off = off;
    e->len = (uint32_t)n;
    cache_copy(s, s->head, (uint8_t *)(uintptr_t)v, n, 0);
    s->head += n ? n : 1;
    pthread_mutex_unlock(&s->lock);
}

#undef CACHE_STRIPES
#undef CACHE_WAYS
#undef CACHE_AVG
