/* SPDX-License-Identifier: MIT */
/*
 * test_index.c: the in-memory index (engine/index.c), both kinds, checked against a
 * sorted-array model: randomized upserts/removes/gets over keys built to stress the
 * u64 prefix compare (1..300 bytes, long shared prefixes, keys that are prefixes of
 * each other, zero bytes), full iteration both ways, seeks with every op,
 * purge_dead, OOM injection at every allocation of an upsert, leak counting.
 * Also prints memory per key and lookups/s at 1M 8-byte keys (timing not asserted).
 */
#include <string.h>
#include <time.h>

/* The Makefile passes -DARM_TEST (test build) and harness.h defines the ARM_TEST(name)
 * macro; drop the flag's empty definition so the two do not clash (-Werror). */
#undef ARM_TEST
#include "../harness.h"
#include "../../common/arm_alloc.h"
#include "../../engine/arm_engine.h"
#include "../../engine/index.h"

/* Test hook defined in engine/index.c (not part of index.h): structural invariants. */
int arm_index_check(const arm_index *index);

#define T_KEY_MAX   1100 /* past 489 bytes items leave the slab classes */
#define T_MODEL_MAX 20000

/* ------------------------------------------------------------ the model */

typedef struct t_entry {
    uint16_t len;
    uint8_t key[T_KEY_MAX];
    arm_item *item; /* what the index returned for this key */
    uint64_t seq;   /* stamp written into item->seq */
    int dead;       /* marked ARM_ITEM_DEAD for a purge */
} t_entry;

typedef struct t_model {
    t_entry *e[T_MODEL_MAX]; /* sorted by arm_key_cmp */
    uint32_t n;
} t_model;

static t_model t_m;
static uint64_t t_seq;

static uint32_t t_rand(uint32_t n) {
    return (uint32_t)(harness_rand() % n);
}

/* First model index whose key is >= key; *eq when equal. */
static uint32_t t_lower(const uint8_t *key, size_t len, int *eq) {
    uint32_t lo = 0, hi = t_m.n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (arm_key_cmp(t_m.e[mid]->key, t_m.e[mid]->len, key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *eq = lo < t_m.n && arm_key_cmp(t_m.e[lo]->key, t_m.e[lo]->len, key, len) == 0;
    return lo;
}

static void t_model_insert(uint32_t pos, const uint8_t *key, size_t len, arm_item *item) {
    ARM_CHECK(t_m.n < T_MODEL_MAX);
    t_entry *e = malloc(sizeof(*e));
    ARM_CHECK(e != NULL);
    e->len = (uint16_t)len;
    memcpy(e->key, key, len);
    e->item = item;
    e->seq = ++t_seq;
    memmove(t_m.e + pos + 1, t_m.e + pos, (t_m.n - pos) * sizeof(t_entry *));
    t_m.e[pos] = e;
    t_m.n++;
}

static void t_model_delete(uint32_t pos) {
    free(t_m.e[pos]);
    memmove(t_m.e + pos, t_m.e + pos + 1, (t_m.n - pos - 1) * sizeof(t_entry *));
    t_m.n--;
}

static void t_model_clear(void) {
    while (t_m.n > 0)
        free(t_m.e[--t_m.n]);
}

/* Keys built to defeat an 8-byte prefix compare: ties on the prefix, zero padding
 * versus real zero bytes, prefixes of each other, long common prefixes. */
static size_t t_key_gen(uint8_t *k) {
    static const uint8_t alpha[] = {0, 1, 'a', 0xff};
    size_t len = 0;
    switch (t_rand(8)) {
    case 0: // tiny alphabet, short: many keys are prefixes of each other
        len = 1 + t_rand(10);
        for (size_t i = 0; i < len; i++)
            k[i] = alpha[t_rand(4)];
        break;
    case 1: // shared 8-byte prefix, the tie-break decides everything
        memcpy(k, "prefix!!", 8);
        len = 8 + t_rand(5);
        for (size_t i = 8; i < len; i++)
            k[i] = alpha[t_rand(2)];
        break;
    case 7: // sometimes keys big enough to bypass the arena's size classes
        len = t_rand(4) == 0 ? 480 + t_rand(T_KEY_MAX - 480 + 1) : 1 + t_rand(8);
        memset(k, 'L', len);
        k[len - 1] = alpha[t_rand(4)];
        break;
    case 2: // long shared prefix up to 300 bytes
        len = 200 + t_rand(101);
        memset(k, 'P', len);
        for (size_t i = len - 1 - t_rand(3); i < len; i++)
            k[i] = alpha[t_rand(4)];
        break;
    case 3: // random bytes, any length
        len = 1 + t_rand(T_KEY_MAX);
        for (size_t i = 0; i < len; i++)
            k[i] = (uint8_t)harness_rand();
        break;
    case 4: // zeros only: "\0" < "\0\0" < ... all with the same prefix
        len = 1 + t_rand(12);
        memset(k, 0, len);
        break;
    case 5: // an existing key, truncated or extended by zero bytes
        if (t_m.n > 0) {
            const t_entry *e = t_m.e[t_rand(t_m.n)];
            len = 1 + t_rand(e->len);
            memcpy(k, e->key, len);
            if (t_rand(2) && len + 2 <= T_KEY_MAX) {
                k[len++] = 0;
                if (t_rand(2)) k[len++] = (uint8_t)t_rand(3);
            }
            break;
        }
        k[0] = 'x';
        len = 1;
        break;
    default: // plain 8-byte keys
        len = 8;
        for (size_t i = 0; i < len; i++)
            k[i] = (uint8_t)harness_rand();
        break;
    }
    return len;
}

/* ------------------------------------------------------------ checks */

static int t_item_is(const arm_item *it, const t_entry *e) {
    return it == e->item && it->klen == e->len && memcmp(it->key, e->key, e->len) == 0 &&
           it->seq == e->seq;
}

static void t_check_seek(const arm_index *ix, const uint8_t *key, size_t len) {
    int eq;
    uint32_t lo = t_lower(key, len, &eq);
    for (int op = ARM_SEEK_GE; op <= ARM_SEEK_LT; op++) {
        long want;
        switch (op) {
        case ARM_SEEK_GE: want = lo; break;
        case ARM_SEEK_GT: want = lo + eq; break;
        case ARM_SEEK_LE: want = (long)lo + eq - 1; break;
        default: want = (long)lo - 1; break;
        }
        arm_index_iter it;
        arm_item *got = arm_index_iter_seek(ix, &it, key, len, op);
        if (want < 0 || want >= (long)t_m.n) {
            ARM_CHECK(got == NULL);
            continue;
        }
        ARM_CHECK(got != NULL);
        ARM_CHECK(t_item_is(got, t_m.e[want]));
        // The iterator continues from the seek position in both directions.
        arm_item *nx = arm_index_iter_next(ix, &it);
        if (want + 1 < (long)t_m.n)
            ARM_CHECK(nx == t_m.e[want + 1]->item);
        else
            ARM_CHECK(nx == NULL);
        got = arm_index_iter_seek(ix, &it, key, len, op);
        arm_item *pv = arm_index_iter_prev(ix, &it);
        if (want > 0)
            ARM_CHECK(pv == t_m.e[want - 1]->item);
        else
            ARM_CHECK(pv == NULL);
    }
}

static void t_check_ordered(const arm_index *ix) {
    arm_index_iter it;
    uint32_t i = 0;
    for (arm_item *p = arm_index_iter_first(ix, &it); p; p = arm_index_iter_next(ix, &it)) {
        ARM_CHECK(i < t_m.n);
        ARM_CHECK(t_item_is(p, t_m.e[i]));
        i++;
    }
    ARM_CHECK(i == t_m.n);
    ARM_CHECK(arm_index_iter_next(ix, &it) == NULL);
    for (arm_item *p = arm_index_iter_last(ix, &it); p; p = arm_index_iter_prev(ix, &it)) {
        ARM_CHECK(i > 0);
        i--;
        ARM_CHECK(t_item_is(p, t_m.e[i]));
    }
    ARM_CHECK(i == 0);
    uint8_t k[T_KEY_MAX + 2];
    for (int s = 0; s < 40; s++) {
        size_t len = t_key_gen(k);
        t_check_seek(ix, k, len);
    }
    for (uint32_t s = 0; s < t_m.n && s < 40; s++) { // exact keys and their neighbours
        const t_entry *e = t_m.e[t_rand(t_m.n)];
        t_check_seek(ix, e->key, e->len);
    }
    if (t_m.n == 0) {
        ARM_CHECK(arm_index_iter_first(ix, &it) == NULL);
        ARM_CHECK(arm_index_iter_last(ix, &it) == NULL);
    }
}

static void t_check_hash(const arm_index *ix) {
    // Every item visited exactly once: stamp each visit into item->off.
    static uint32_t stamp;
    stamp++;
    arm_index_iter it;
    uint32_t n = 0;
    for (arm_item *p = arm_index_iter_first(ix, &it); p; p = arm_index_iter_next(ix, &it)) {
        int eq;
        uint32_t pos = t_lower(p->key, p->klen, &eq);
        ARM_CHECK(eq);
        ARM_CHECK(t_item_is(p, t_m.e[pos]));
        ARM_CHECK(p->off != stamp);
        p->off = stamp;
        n++;
    }
    ARM_CHECK(n == t_m.n);
    ARM_CHECK(arm_index_iter_last(ix, &it) == NULL);
    ARM_CHECK(arm_index_iter_prev(ix, &it) == NULL);
    ARM_CHECK(arm_index_iter_seek(ix, &it, (const uint8_t *)"a", 1, ARM_SEEK_GE) == NULL);
}

static void t_check_all(const arm_index *ix) {
    ARM_CHECK_RC(arm_index_check(ix), ARM_OK);
    ARM_CHECK(arm_index_count(ix) == t_m.n);
    for (uint32_t i = 0; i < t_m.n; i++) {
        const t_entry *e = t_m.e[i];
        ARM_CHECK(arm_index_get(ix, e->key, e->len) == e->item);
    }
    if (arm_index_kind(ix) == ARM_INDEX_ORDERED)
        t_check_ordered(ix);
    else
        t_check_hash(ix);
}

/* ------------------------------------------------------------ operations */

/* Upsert a key into index and model; returns the rc (model unchanged unless OK). */
static int t_upsert(arm_index *ix, const uint8_t *k, size_t len) {
    arm_item *item;
    int created, eq;
    uint32_t pos = t_lower(k, len, &eq);
    int rc = arm_index_upsert(ix, k, len, &item, &created);
    if (rc != ARM_OK) {
        ARM_CHECK(rc == ARM_NOMEM);
        ARM_CHECK(item == NULL);
        return rc;
    }
    ARM_CHECK(item != NULL);
    ARM_CHECK(created == !eq);
    if (eq) {
        ARM_CHECK(item == t_m.e[pos]->item);
        item->fid++; // caller-owned fields survive
        return rc;
    }
    ARM_CHECK(item->klen == len && memcmp(item->key, k, len) == 0);
    ARM_CHECK(item->seq == 0 && item->fid == 0 && item->off == 0 && item->len == 0);
    ARM_CHECK(item->flags == 0);
    t_model_insert(pos, k, len, item);
    item->seq = t_m.e[pos]->seq;
    return rc;
}

static void t_remove_at(arm_index *ix, uint32_t pos) {
    arm_index_remove(ix, t_m.e[pos]->item);
    t_model_delete(pos);
}

static void t_random_ops(arm_index *ix, uint32_t ops, uint32_t target) {
    uint8_t k[T_KEY_MAX + 2];
    for (uint32_t i = 0; i < ops; i++) {
        uint32_t r = t_rand(100);
        // Drift toward the target size so the tree grows and shrinks through levels.
        uint32_t p_ins = t_m.n < target ? 60 : 30;
        if (r < p_ins) {
            size_t len = t_key_gen(k);
            ARM_CHECK_RC(t_upsert(ix, k, len), ARM_OK);
        } else if (r < 85) {
            if (t_m.n > 0) t_remove_at(ix, t_rand(t_m.n));
        } else {
            size_t len = t_key_gen(k);
            int eq;
            uint32_t pos = t_lower(k, len, &eq);
            arm_item *got = arm_index_get(ix, k, len);
            ARM_CHECK(eq ? got == t_m.e[pos]->item : got == NULL);
        }
        if (i % 2000 == 0) ARM_CHECK_RC(arm_index_check(ix), ARM_OK);
    }
}

static void t_purge(arm_index *ix, uint32_t mode) {
    // mode 0: random third; 1: a contiguous run (whole leaves die); 2: everything
    uint32_t from = t_m.n ? t_rand(t_m.n) : 0, to = from + t_m.n / 2;
    for (uint32_t i = 0; i < t_m.n; i++) {
        int dead = mode == 2 || (mode == 0 && t_rand(3) == 0) || (mode == 1 && i >= from && i < to);
        if (dead) t_m.e[i]->item->flags |= ARM_ITEM_DEAD;
        t_m.e[i]->dead = dead; // purge frees dead items: remember them on the model side
    }
    arm_index_purge_dead(ix);
    for (uint32_t i = t_m.n; i > 0; i--) {
        if (t_m.e[i - 1]->dead) {
            free(t_m.e[i - 1]);
            memmove(t_m.e + i - 1, t_m.e + i, (t_m.n - i) * sizeof(t_entry *));
            t_m.n--;
        }
    }
    t_check_all(ix);
}

static void t_differential(int kind) {
    long base = arm_alloc_outstanding();
    arm_index *ix;
    ARM_CHECK_RC(arm_index_new(kind, &ix), ARM_OK);
    t_check_all(ix);
    static const uint32_t targets[] = {50, 3000, 9000, 200, 0, 6000, 10};
    for (size_t r = 0; r < sizeof(targets) / sizeof(targets[0]); r++) {
        t_random_ops(ix, 12000, targets[r]);
        t_check_all(ix);
    }
    for (uint32_t mode = 0; mode < 3; mode++) {
        t_random_ops(ix, 8000, 5000);
        t_purge(ix, mode);
    }
    // Regrow after purging everything, then remove in key order (drops every leaf).
    t_random_ops(ix, 6000, 6000);
    while (t_m.n > 0) {
        t_remove_at(ix, t_m.n > 100 ? 0 : t_rand(t_m.n));
        if (t_m.n % 1000 == 0) t_check_all(ix);
    }
    t_check_all(ix);
    ARM_CHECK(arm_index_memory(ix) > 0);
    arm_index_free(ix);
    ARM_CHECK(arm_alloc_outstanding() == base);
}

/* Ascending, descending and duplicate-heavy patterns hit the append split and the
 * leftmost/rightmost paths that random keys rarely reach. */
static void t_patterns(int kind) {
    long base = arm_alloc_outstanding();
    arm_index *ix;
    ARM_CHECK_RC(arm_index_new(kind, &ix), ARM_OK);
    uint8_t k[16];
    for (uint32_t i = 0; i < 6000; i++) {
        k[0] = (uint8_t)(i >> 8);
        k[1] = (uint8_t)i;
        ARM_CHECK_RC(t_upsert(ix, k, 2), ARM_OK);
        ARM_CHECK_RC(t_upsert(ix, k, 2), ARM_OK); // existing: created = 0
    }
    t_check_all(ix);
    for (uint32_t i = 6000; i > 0; i--) { // descending, with a zero byte appended
        k[0] = (uint8_t)((i - 1) >> 8);
        k[1] = (uint8_t)(i - 1);
        k[2] = 0;
        ARM_CHECK_RC(t_upsert(ix, k, 3), ARM_OK);
    }
    t_check_all(ix);
    while (t_m.n > 0)
        t_remove_at(ix, t_m.n - 1); // remove from the right end
    t_check_all(ix);
    arm_index_free(ix);
    ARM_CHECK(arm_alloc_outstanding() == base);
}

/* Every allocation an upsert makes can fail: it must return ARM_NOMEM with the
 * index unchanged and consistent, and keep working once memory returns. */
static void t_oom(int kind) {
    long base = arm_alloc_outstanding();
    arm_index *ix = NULL;
    for (long n = 0;; n++) { // arm_index_new itself
        arm_alloc_fail_after(n);
        int rc = arm_index_new(kind, &ix);
        arm_alloc_fail_after(-1);
        if (rc == ARM_OK) break;
        ARM_CHECK(rc == ARM_NOMEM && ix == NULL);
        ARM_CHECK(arm_alloc_outstanding() == base);
    }
    uint8_t k[T_KEY_MAX + 2];
    uint32_t failures = 0;
    for (long n = 0; n < 60; n++) {
        arm_alloc_fail_after(n);
        for (int i = 0; i < 400; i++) {
            size_t len = t_key_gen(k);
            if (t_upsert(ix, k, len) == ARM_NOMEM) {
                failures++;
                break;
            }
        }
        arm_alloc_fail_after(-1);
        t_check_all(ix);
        // Removals never allocate except an optional leaf shrink; let them fail too.
        arm_alloc_fail_after(0);
        for (int i = 0; i < 20 && t_m.n > 0; i++)
            t_remove_at(ix, t_rand(t_m.n));
        arm_alloc_fail_after(-1);
        ARM_CHECK_RC(arm_index_check(ix), ARM_OK);
    }
    ARM_CHECK(failures > 0);
    t_check_all(ix);
    arm_index_free(ix);
    t_model_clear();
    ARM_CHECK(arm_alloc_outstanding() == base);
}

/* Fail each allocation of every upsert in turn (n = 0, 1, ... until it succeeds).
 * Ascending keys fill leaves completely, so by key 4097 a leaf split cascades into a
 * full root: the failure lands between every pair of preallocations there too. */
static void t_oom_stepwise(int kind) {
    long base = arm_alloc_outstanding();
    arm_index *ix;
    ARM_CHECK_RC(arm_index_new(kind, &ix), ARM_OK);
    uint32_t failures = 0;
    for (uint32_t i = 0; i < 4300; i++) {
        uint8_t k[3] = {(uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        for (long n = 0;; n++) {
            ARM_CHECK(n < 16);
            arm_alloc_fail_after(n);
            int rc = t_upsert(ix, k, 3);
            arm_alloc_fail_after(-1);
            if (rc == ARM_OK) break;
            failures++;
            ARM_CHECK_RC(arm_index_check(ix), ARM_OK);
            ARM_CHECK(arm_index_count(ix) == t_m.n);
        }
    }
    ARM_CHECK(failures > (kind == ARM_INDEX_ORDERED ? 4300 / 64 : 8));
    t_check_all(ix);
    arm_index_free(ix);
    t_model_clear();
    ARM_CHECK(arm_alloc_outstanding() == base);
}

/* ------------------------------------------------------------ measurement */

static double t_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 1M random 8-byte keys: memory per key and lookup rate. Returns bytes per key. */
static double t_measure(int kind, int ascending) {
    enum { N = 1000000, LOOKUPS = 2000000 };
    long base = arm_alloc_outstanding();
    uint64_t *keys = malloc(N * sizeof(uint64_t));
    ARM_CHECK(keys != NULL);
    arm_index *ix;
    ARM_CHECK_RC(arm_index_new(kind, &ix), ARM_OK);
    double t0 = t_now();
    for (uint32_t i = 0; i < N; i++) {
        uint64_t v = ascending ? __builtin_bswap64(i) : harness_rand();
        keys[i] = v;
        arm_item *item;
        int created;
        ARM_CHECK_RC(arm_index_upsert(ix, (const uint8_t *)&keys[i], 8, &item, &created), ARM_OK);
        item->seq = i;
    }
    double t1 = t_now();
    ARM_CHECK(arm_index_count(ix) == N); // 64-bit random keys: collisions are negligible
    double per_key = (double)arm_index_memory(ix) / N;
    // Probe keys laid out in lookup order, so the timed loop measures the index and
    // not random reads of the key array.
    uint64_t *probe = malloc(LOOKUPS * sizeof(uint64_t));
    uint32_t *want = malloc(LOOKUPS * sizeof(uint32_t));
    ARM_CHECK(probe != NULL && want != NULL);
    for (uint32_t i = 0; i < LOOKUPS; i++) {
        want[i] = (uint32_t)(harness_rand() % N);
        probe[i] = keys[want[i]];
    }
    uint64_t hits = 0;
    double t2 = t_now();
    for (uint32_t i = 0; i < LOOKUPS; i++) {
        const arm_item *it = arm_index_get(ix, (const uint8_t *)&probe[i], 8);
        hits += it != NULL && it->seq == want[i];
    }
    double t3 = t_now();
    ARM_CHECK(hits == LOOKUPS);
    free(probe);
    free(want);
    printf("    %s %s 1M 8-byte keys: %.1f bytes/key, %.2fM inserts/s, %.2fM lookups/s\n",
           kind == ARM_INDEX_ORDERED ? "ordered" : "hash   ", ascending ? "ascending" : "random  ",
           per_key, N / (t1 - t0) / 1e6, LOOKUPS / (t3 - t2) / 1e6);
    arm_index_free(ix);
    free(keys);
    ARM_CHECK(arm_alloc_outstanding() == base);
    return per_key;
}

int main(void) {
    harness_init();
    ARM_TEST("ordered: randomized differential against a sorted model") {
        t_differential(ARM_INDEX_ORDERED);
    }
    ARM_TEST("hash: randomized differential against a sorted model") {
        t_differential(ARM_INDEX_HASH);
    }
    ARM_TEST("ordered: ascending, descending, duplicate upserts") {
        t_patterns(ARM_INDEX_ORDERED);
    }
    ARM_TEST("hash: ascending, descending, duplicate upserts") {
        t_patterns(ARM_INDEX_HASH);
    }
    ARM_TEST("ordered: OOM at every allocation leaves the index intact") {
        t_oom(ARM_INDEX_ORDERED);
    }
    ARM_TEST("hash: OOM at every allocation leaves the index intact") {
        t_oom(ARM_INDEX_HASH);
    }
    ARM_TEST("ordered: OOM at each allocation of each upsert, through root splits") {
        t_oom_stepwise(ARM_INDEX_ORDERED);
    }
    ARM_TEST("hash: OOM at each allocation of each upsert, through table growth") {
        t_oom_stepwise(ARM_INDEX_HASH);
    }
    ARM_TEST("ordered: memory per key <= 64 at 1M random 8-byte keys") {
        ARM_CHECK(t_measure(ARM_INDEX_ORDERED, 0) <= 64.0);
        (void)t_measure(ARM_INDEX_ORDERED, 1);
    }
    ARM_TEST("hash: memory and lookups at 1M random 8-byte keys") {
        (void)t_measure(ARM_INDEX_HASH, 0);
    }
    return harness_done();
}
