/* SPDX-License-Identifier: MIT */
/*
 * index.c: the in-memory index of one shard (contract in index.h). Layer: engine.
 * Items live in a slab arena with 8-byte size classes, so an item never moves and
 * pointers handed out by get/upsert stay valid until the item is removed.
 * Ordered kind: a B+tree whose every slot pairs a big-endian u64 key prefix with its
 * pointer, so searches compare integers and touch an item only on a prefix tie.
 * Inner separators are arena copies owned by their node (never borrowed items), so
 * removing items can not leave a dangling separator. Leaves grow in steps of
 * IDX_LEAF_STEP slots and are doubly linked; a leaf that empties is unlinked and
 * removed from its parent, and non-empty underfull nodes are not rebalanced.
 * Hash kind: linear probing over item pointers with a parallel u32 hash tag array,
 * load <= 0.8, backward-shift deletion (no tombstones).
 */
#include "index.h"

#include <string.h>

#include "../common/arm_alloc.h"
#include "../common/arm_hash.h"
#include "arm_engine.h"

/* Deepest B+tree (inner levels). Height grows by one only when a full root splits,
 * which takes at least (IDX_INNER_MAX / 2)^height inserts, so 32 is never reached;
 * the bound keeps the path stack fixed-size. */
#define ARM_INDEX_DEPTH_MAX 32

#define IDX_LEAF_MAX     64    /* slots per leaf at most */
#define IDX_LEAF_STEP    8     /* leaves are sized in steps of this many slots */
#define IDX_INNER_MAX    64    /* children per inner node */
#define IDX_SLAB_BYTES   65536 /* arena slab size */
#define IDX_SMALL_MAX    512   /* larger items come straight from arm_malloc */
#define IDX_CLASS_COUNT  (IDX_SMALL_MAX / 8 + 1)
#define IDX_ITEM_MIN     24 /* smallest item: 23-byte header + 1 key byte, rounded */
#define IDX_HASH_CAP_MIN 16 /* initial hash slots */
/* Hash home slots come from the 32-bit tag, so the table stops at 2^32 slots. */
#define IDX_HASH_CAP_MAX ((uint64_t)1 << 32)

_Static_assert(IDX_LEAF_MAX % IDX_LEAF_STEP == 0, "leaf sizes are whole steps");
_Static_assert(IDX_INNER_MAX >= 4, "inner split needs room on both sides");
_Static_assert(IDX_SMALL_MAX % 8 == 0 && IDX_SLAB_BYTES > 2 * IDX_SMALL_MAX, "arena classes");

/* ================================================================ arena */

/* Large items carry this header so arm_index_free can release them without
 * walking the structure. */
typedef struct idx_large {
    struct idx_large *prev, *next;
} idx_large;

typedef struct idx_arena {
    uint8_t *cur;                     /* bump pointer in the newest slab */
    uint8_t *end;                     /* end of the newest slab */
    void *slabs;                      /* singly linked through each slab's first word */
    void *free_list[IDX_CLASS_COUNT]; /* per size class (bytes / 8), linked through the item */
    idx_large *large;                 /* items over IDX_SMALL_MAX */
    uint64_t bytes;                   /* slabs + large allocations */
} idx_arena;

static size_t idx_item_bytes(size_t klen) {
    return (sizeof(arm_item) + klen + 7) & ~(size_t)7;
}

static void *idx_arena_alloc(idx_arena *a, size_t size) {
    assert(size % 8 == 0);
    assert(size >= IDX_ITEM_MIN);
    if (size > IDX_SMALL_MAX) {
        idx_large *h = arm_malloc(sizeof(idx_large) + size);
        if (h == NULL) return NULL;
        h->prev = NULL;
        h->next = a->large;
        if (a->large) a->large->prev = h;
        a->large = h;
        a->bytes += sizeof(idx_large) + size;
        return h + 1;
    }
    void **head = &a->free_list[size / 8];
    if (*head) {
        void *p = *head;
        memcpy(head, p, sizeof(void *));
        return p;
    }
    if ((size_t)(a->end - a->cur) < size) {
        uint8_t *slab = arm_malloc(IDX_SLAB_BYTES);
        if (slab == NULL) return NULL;
        // The tail of the old slab is too small for this class but can serve a smaller one.
        size_t rest = (size_t)(a->end - a->cur);
        if (rest >= IDX_ITEM_MIN) {
            memcpy(a->cur, &a->free_list[rest / 8], sizeof(void *));
            a->free_list[rest / 8] = a->cur;
        }
        memcpy(slab, &a->slabs, sizeof(void *));
        a->slabs = slab;
        a->cur = slab + 8;
        a->end = slab + IDX_SLAB_BYTES;
        a->bytes += IDX_SLAB_BYTES;
    }
    void *p = a->cur;
    a->cur += size;
    return p;
}

static void idx_arena_free(idx_arena *a, void *p, size_t size) {
    assert(p != NULL);
    assert(size % 8 == 0);
    if (size > IDX_SMALL_MAX) {
        idx_large *h = (idx_large *)p - 1;
        if (h->prev)
            h->prev->next = h->next;
        else
            a->large = h->next;
        if (h->next) h->next->prev = h->prev;
        a->bytes -= sizeof(idx_large) + size;
        arm_free(h);
        return;
    }
    memcpy(p, &a->free_list[size / 8], sizeof(void *));
    a->free_list[size / 8] = p;
}

static void idx_arena_destroy(idx_arena *a) {
    uint64_t n = 0;
    while (a->slabs) {
        void *next;
        memcpy(&next, a->slabs, sizeof(void *));
        arm_free(a->slabs);
        a->slabs = next;
        n++;
    }
    while (a->large) {
        idx_large *next = a->large->next;
        arm_free(a->large);
        a->large = next;
    }
    assert(n <= a->bytes / IDX_SLAB_BYTES);
    memset(a, 0, sizeof(*a));
}

/* ================================================================ index */

typedef struct idx_leaf {
    struct idx_leaf *prev, *next; /* neighbours in key order */
    uint32_t n;                   /* slots in use */
    uint32_t cap;                 /* slots allocated: cap prefixes, then cap item pointers */
    uint64_t pfx[];               /* key prefixes, ascending; item pointers follow */
} idx_leaf;

/* Child i holds keys in [sep[i-1], sep[i]); seps are arena copies owned by the node. */
typedef struct idx_inner {
    uint32_t n; /* children (separators: n - 1) */
    uint32_t pad;
    uint64_t pfx[IDX_INNER_MAX - 1];  /* separator prefixes */
    arm_item *sep[IDX_INNER_MAX - 1]; /* separator keys (owned copies) */
    void *child[IDX_INNER_MAX];       /* idx_inner, or idx_leaf on the last inner level */
} idx_inner;

struct arm_index {
    int kind;        /* ARM_INDEX_ORDERED or ARM_INDEX_HASH */
    uint64_t count;  /* items */
    idx_arena arena; /* items and separator copies */
    /* ordered */
    void *root;          /* idx_leaf when height == 0, else idx_inner */
    uint32_t height;     /* inner levels above the leaves */
    uint64_t node_bytes; /* bytes of leaves and inner nodes */
    /* hash */
    arm_item **slot; /* hcap item pointers, NULL = empty */
    uint32_t *tag;   /* low 32 bits of arm_hash_key; also gives the home slot */
    uint64_t hcap;   /* power of two */
};

/* Search key with its prefix computed once. */
typedef struct idx_key {
    const uint8_t *p;
    size_t len;
    uint64_t pfx;
} idx_key;

/* Root-to-leaf path: node[d] and the child slot taken there. */
typedef struct idx_path {
    idx_inner *node[ARM_INDEX_DEPTH_MAX];
    uint32_t slot[ARM_INDEX_DEPTH_MAX];
    uint32_t depth;
} idx_path;

/* First 8 key bytes, zero padded, as a big-endian integer: integer order matches
 * memcmp order of those bytes, and a smaller prefix always means a smaller key
 * (padding 0 sorts a shorter key first). Equal prefixes decide nothing. */
static inline uint64_t idx_prefix(const uint8_t *k, size_t len) {
    uint64_t v = 0;
    memcpy(&v, k, len < 8 ? len : 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline idx_key idx_key_make(const uint8_t *p, size_t len) {
    idx_key k;
    k.p = p;
    k.len = len;
    k.pfx = idx_prefix(p, len);
    return k;
}

static inline int idx_cmp(const idx_key *k, const arm_item *it) {
    return arm_key_cmp(k->p, k->len, it->key, it->klen);
}

static arm_item *idx_item_new(arm_index *ix, const uint8_t *key, size_t klen) {
    arm_item *it = idx_arena_alloc(&ix->arena, idx_item_bytes(klen));
    if (it == NULL) return NULL;
    memset(it, 0, sizeof(arm_item));
    it->klen = (uint16_t)klen;
    memcpy(it->key, key, klen);
    return it;
}

static void idx_item_free(arm_index *ix, arm_item *it) {
    idx_arena_free(&ix->arena, it, idx_item_bytes(it->klen));
}

/* ================================================================ B+tree nodes */

static inline arm_item **idx_leaf_items(const idx_leaf *l) {
    return (arm_item **)(void *)(uintptr_t)(l->pfx + l->cap);
}

static size_t idx_leaf_bytes(uint32_t cap) {
    return sizeof(idx_leaf) + (size_t)cap * (sizeof(uint64_t) + sizeof(arm_item *));
}

static uint32_t idx_leaf_cap_for(uint32_t n) {
    uint32_t cap = (n + IDX_LEAF_STEP - 1) / IDX_LEAF_STEP * IDX_LEAF_STEP;
    return cap ? cap : IDX_LEAF_STEP;
}

static idx_leaf *idx_leaf_alloc(arm_index *ix, uint32_t cap) {
    assert(cap > 0 && cap <= IDX_LEAF_MAX);
    idx_leaf *l = arm_malloc(idx_leaf_bytes(cap));
    if (l == NULL) return NULL;
    l->prev = l->next = NULL;
    l->n = 0;
    l->cap = cap;
    ix->node_bytes += idx_leaf_bytes(cap);
    return l;
}

static void idx_leaf_free(arm_index *ix, idx_leaf *l) {
    ix->node_bytes -= idx_leaf_bytes(l->cap);
    arm_free(l);
}

static idx_inner *idx_inner_alloc(arm_index *ix) {
    idx_inner *in = arm_malloc(sizeof(idx_inner));
    if (in == NULL) return NULL;
    in->n = 0;
    in->pad = 0;
    ix->node_bytes += sizeof(idx_inner);
    return in;
}

static void idx_inner_free(arm_index *ix, idx_inner *in) {
    ix->node_bytes -= sizeof(idx_inner);
    arm_free(in);
}

/* First i in [0, n) with a[i] >= x, or n. Branchless so the compiler emits cmov. */
static inline uint32_t idx_pfx_lower(const uint64_t *a, uint32_t n, uint64_t x) {
    if (n == 0) return 0;
    const uint64_t *base = a;
    uint32_t len = n;
    while (len > 1) {
        uint32_t half = len / 2;
        base = base[half] < x ? base + half : base;
        len -= half;
    }
    return (uint32_t)(base - a) + (*base < x);
}

/* Index of the child of in that covers k: the number of separators <= k. */
static inline uint32_t idx_inner_find(const idx_inner *in, const idx_key *k) {
    uint32_t ns = in->n - 1;
    uint32_t i = idx_pfx_lower(in->pfx, ns, k->pfx);
    while (i < ns && in->pfx[i] == k->pfx && idx_cmp(k, in->sep[i]) >= 0)
        i++;
    return i;
}

/* First slot of l whose key is >= k; *eq says whether it equals k. */
static inline uint32_t idx_leaf_find(const idx_leaf *l, const idx_key *k, int *eq) {
    arm_item *const *items = idx_leaf_items(l);
    // Leaves are mostly out of cache: request every line of both arrays at once so the
    // misses overlap, instead of a chain of binary-search misses followed by one more
    // for the item pointer. (Measured: +20% lookups/s at 1M keys. Inner nodes stay
    // cache-resident, and prefetching them measured slower.)
    for (uint32_t j = 0; j < l->n; j += 8) {
        __builtin_prefetch(l->pfx + j);
        __builtin_prefetch(items + j);
    }
    uint32_t i = idx_pfx_lower(l->pfx, l->n, k->pfx);
    *eq = 0;
    while (i < l->n && l->pfx[i] == k->pfx) {
        int c = idx_cmp(k, items[i]);
        if (c <= 0) {
            *eq = c == 0;
            break;
        }
        i++;
    }
    return i;
}

static idx_leaf *idx_tree_descend(const arm_index *ix, const idx_key *k, idx_path *path) {
    assert(ix->height < ARM_INDEX_DEPTH_MAX);
    void *node = ix->root;
    path->depth = ix->height;
    for (uint32_t d = 0; d < ix->height; d++) {
        idx_inner *in = node;
        uint32_t s = idx_inner_find(in, k);
        path->node[d] = in;
        path->slot[d] = s;
        node = in->child[s];
    }
    return node;
}

static idx_leaf *idx_tree_edge(const arm_index *ix, int last) {
    void *node = ix->root;
    for (uint32_t d = 0; d < ix->height; d++) {
        idx_inner *in = node;
        node = in->child[last ? in->n - 1 : 0];
    }
    return node;
}

/* Point every reference to leaf l's position (parent slot or root, neighbours) at l. */
static void idx_leaf_relink(arm_index *ix, const idx_path *path, idx_leaf *l) {
    if (path->depth == 0)
        ix->root = l;
    else
        path->node[path->depth - 1]->child[path->slot[path->depth - 1]] = l;
    if (l->prev) l->prev->next = l;
    if (l->next) l->next->prev = l;
}

/* Move l into a new allocation of cap slots. NULL (l untouched) on NOMEM. */
static idx_leaf *idx_leaf_resize(arm_index *ix, const idx_path *path, idx_leaf *l, uint32_t cap) {
    assert(cap >= l->n);
    idx_leaf *r = idx_leaf_alloc(ix, cap);
    if (r == NULL) return NULL;
    r->n = l->n;
    r->prev = l->prev;
    r->next = l->next;
    memcpy(r->pfx, l->pfx, l->n * sizeof(uint64_t));
    memcpy(idx_leaf_items(r), idx_leaf_items(l), l->n * sizeof(arm_item *));
    idx_leaf_relink(ix, path, r);
    idx_leaf_free(ix, l);
    return r;
}

static void idx_leaf_insert_at(idx_leaf *l, uint32_t pos, uint64_t pfx, arm_item *it) {
    assert(l->n < l->cap);
    assert(pos <= l->n);
    arm_item **items = idx_leaf_items(l);
    memmove(l->pfx + pos + 1, l->pfx + pos, (l->n - pos) * sizeof(uint64_t));
    memmove(items + pos + 1, items + pos, (l->n - pos) * sizeof(arm_item *));
    l->pfx[pos] = pfx;
    items[pos] = it;
    l->n++;
}

/* Insert separator (pfx, sep) with its right child into in, after child slot s. */
static void idx_inner_insert_at(idx_inner *in, uint32_t s, uint64_t pfx, arm_item *sep,
                                void *right) {
    assert(in->n < IDX_INNER_MAX);
    assert(s < in->n);
    uint32_t ns = in->n - 1;
    memmove(in->pfx + s + 1, in->pfx + s, (ns - s) * sizeof(uint64_t));
    memmove(in->sep + s + 1, in->sep + s, (ns - s) * sizeof(arm_item *));
    memmove(in->child + s + 2, in->child + s + 1, (in->n - s - 1) * sizeof(void *));
    in->pfx[s] = pfx;
    in->sep[s] = sep;
    in->child[s + 1] = right;
    in->n++;
}

/* Split the full node in while adding (pfx, sep, right) after child slot s. in keeps
 * the left half; r (preallocated) takes the right half; the middle separator is
 * returned through the out parameters for the parent. */
static void idx_inner_split(idx_inner *in, uint32_t s, idx_inner *r, uint64_t *pfx, arm_item **sep,
                            void **right) {
    uint64_t vp[IDX_INNER_MAX];
    arm_item *vs[IDX_INNER_MAX];
    void *vc[IDX_INNER_MAX + 1];
    uint32_t ns = in->n - 1;
    assert(in->n == IDX_INNER_MAX);
    memcpy(vp, in->pfx, s * sizeof(uint64_t));
    memcpy(vs, in->sep, s * sizeof(arm_item *));
    vp[s] = *pfx;
    vs[s] = *sep;
    memcpy(vp + s + 1, in->pfx + s, (ns - s) * sizeof(uint64_t));
    memcpy(vs + s + 1, in->sep + s, (ns - s) * sizeof(arm_item *));
    memcpy(vc, in->child, (s + 1) * sizeof(void *));
    vc[s + 1] = *right;
    memcpy(vc + s + 2, in->child + s + 1, (in->n - s - 1) * sizeof(void *));
    uint32_t total = in->n + 1, left = total / 2;
    in->n = left;
    memcpy(in->pfx, vp, (left - 1) * sizeof(uint64_t));
    memcpy(in->sep, vs, (left - 1) * sizeof(arm_item *));
    memcpy(in->child, vc, left * sizeof(void *));
    r->n = total - left;
    memcpy(r->pfx, vp + left, (r->n - 1) * sizeof(uint64_t));
    memcpy(r->sep, vs + left, (r->n - 1) * sizeof(arm_item *));
    memcpy(r->child, vc + left, r->n * sizeof(void *));
    *pfx = vp[left - 1];
    *sep = vs[left - 1];
    *right = r;
}

/* Add (pfx, sep, right) above the node at path depth: into the parent, splitting
 * full ancestors with the preallocated spare nodes, and growing a new root last.
 * Cannot fail: the caller allocated every node this needs. */
static void idx_tree_insert_up(arm_index *ix, const idx_path *path, uint64_t pfx, arm_item *sep,
                               void *right, idx_inner **spare, uint32_t nspare) {
    uint32_t d = path->depth;
    while (d > 0) {
        d--;
        idx_inner *in = path->node[d];
        if (in->n < IDX_INNER_MAX) {
            idx_inner_insert_at(in, path->slot[d], pfx, sep, right);
            assert(nspare == 0);
            return;
        }
        assert(nspare > 0);
        idx_inner_split(in, path->slot[d], spare[--nspare], &pfx, &sep, &right);
    }
    assert(nspare == 1);
    idx_inner *root = spare[0];
    root->n = 2;
    root->child[0] = ix->root;
    root->child[1] = right;
    root->pfx[0] = pfx;
    root->sep[0] = sep;
    ix->root = root;
    ix->height++;
    assert(ix->height < ARM_INDEX_DEPTH_MAX);
}

/* Inner nodes a split of the leaf at the end of path needs: one per full ancestor,
 * plus a new root when every ancestor is full. */
static uint32_t idx_split_nodes_needed(const idx_path *path) {
    uint32_t need = 0, d = path->depth;
    while (d > 0 && path->node[d - 1]->n == IDX_INNER_MAX) {
        need++;
        d--;
    }
    return d == 0 ? need + 1 : need;
}

/* Split full leaf l while inserting (pfx, it) at pos. Every allocation happens
 * before the first change, so ARM_NOMEM leaves the tree exactly as it was. */
static int idx_leaf_split(arm_index *ix, const idx_path *path, idx_leaf *l, uint32_t pos,
                          uint64_t pfx, arm_item *it) {
    uint64_t vp[IDX_LEAF_MAX + 1];
    arm_item *vi[IDX_LEAF_MAX + 1];
    idx_inner *spare[ARM_INDEX_DEPTH_MAX + 1];
    arm_item **items = idx_leaf_items(l);
    uint32_t total = l->n + 1;
    assert(l->n == IDX_LEAF_MAX);
    memcpy(vp, l->pfx, pos * sizeof(uint64_t));
    memcpy(vi, items, pos * sizeof(arm_item *));
    vp[pos] = pfx;
    vi[pos] = it;
    memcpy(vp + pos + 1, l->pfx + pos, (l->n - pos) * sizeof(uint64_t));
    memcpy(vi + pos + 1, items + pos, (l->n - pos) * sizeof(arm_item *));
    // Ascending inserts (the common key pattern) keep the left leaf full.
    uint32_t left = (pos == l->n && l->next == NULL) ? l->n : total / 2;
    uint32_t need = idx_split_nodes_needed(path), got = 0;
    idx_leaf *nl = idx_leaf_alloc(ix, idx_leaf_cap_for(left));
    idx_leaf *nr = idx_leaf_alloc(ix, idx_leaf_cap_for(total - left));
    arm_item *sep = idx_item_new(ix, vi[left]->key, vi[left]->klen);
    while (got < need && (spare[got] = idx_inner_alloc(ix)) != NULL)
        got++;
    if (nl == NULL || nr == NULL || sep == NULL || got < need) {
        while (got > 0)
            idx_inner_free(ix, spare[--got]);
        if (sep) idx_item_free(ix, sep);
        if (nr) idx_leaf_free(ix, nr);
        if (nl) idx_leaf_free(ix, nl);
        return ARM_ERR(ARM_NOMEM);
    }
    nl->n = left;
    memcpy(nl->pfx, vp, left * sizeof(uint64_t));
    memcpy(idx_leaf_items(nl), vi, left * sizeof(arm_item *));
    nr->n = total - left;
    memcpy(nr->pfx, vp + left, nr->n * sizeof(uint64_t));
    memcpy(idx_leaf_items(nr), vi + left, nr->n * sizeof(arm_item *));
    nl->prev = l->prev;
    nl->next = nr;
    nr->prev = nl;
    nr->next = l->next;
    idx_leaf_relink(ix, path, nl);
    if (nr->next) nr->next->prev = nr;
    idx_leaf_free(ix, l);
    idx_tree_insert_up(ix, path, vp[left], sep, nr, spare, need);
    return ARM_OK;
}

static int idx_tree_upsert(arm_index *ix, const idx_key *k, arm_item **item_out, int *created_out) {
    idx_path path;
    idx_leaf *l = idx_tree_descend(ix, k, &path);
    int eq;
    uint32_t pos = idx_leaf_find(l, k, &eq);
    if (eq) {
        *item_out = idx_leaf_items(l)[pos];
        return ARM_OK;
    }
    arm_item *it = idx_item_new(ix, k->p, k->len);
    if (it == NULL) return ARM_ERR(ARM_NOMEM);
    if (l->n == l->cap && l->cap < IDX_LEAF_MAX) {
        idx_leaf *g = idx_leaf_resize(ix, &path, l, l->cap + IDX_LEAF_STEP);
        if (g == NULL) {
            idx_item_free(ix, it);
            return ARM_ERR(ARM_NOMEM);
        }
        l = g;
    }
    if (l->n < l->cap) {
        idx_leaf_insert_at(l, pos, k->pfx, it);
    } else {
        int rc = idx_leaf_split(ix, &path, l, pos, k->pfx, it);
        if (rc != ARM_OK) {
            idx_item_free(ix, it);
            return rc;
        }
    }
    ix->count++;
    *item_out = it;
    *created_out = 1;
    return ARM_OK;
}

/* Remove child slot s of in along with one separator (the one to its left, or the
 * first when s is 0: the left neighbour's range, or the leftmost child's, widens). */
static void idx_inner_remove_at(arm_index *ix, idx_inner *in, uint32_t s) {
    assert(in->n > 1);
    assert(s < in->n);
    uint32_t r = s > 0 ? s - 1 : 0, ns = in->n - 1;
    idx_item_free(ix, in->sep[r]);
    memmove(in->pfx + r, in->pfx + r + 1, (ns - r - 1) * sizeof(uint64_t));
    memmove(in->sep + r, in->sep + r + 1, (ns - r - 1) * sizeof(arm_item *));
    memmove(in->child + s, in->child + s + 1, (in->n - s - 1) * sizeof(void *));
    in->n--;
}

/* Unlink the empty non-root leaf l and remove it from its ancestors, dropping
 * inner nodes that lose their only child, then collapse single-child roots. */
static void idx_tree_drop_leaf(arm_index *ix, const idx_path *path, idx_leaf *l) {
    assert(l->n == 0);
    assert(path->depth > 0);
    if (l->prev) l->prev->next = l->next;
    if (l->next) l->next->prev = l->prev;
    idx_leaf_free(ix, l);
    uint32_t d = path->depth;
    while (d > 0) {
        d--;
        idx_inner *in = path->node[d];
        if (in->n > 1) {
            idx_inner_remove_at(ix, in, path->slot[d]);
            break;
        }
        // The root always keeps >= 2 children, so an only child is never the last leaf.
        assert(d > 0);
        idx_inner_free(ix, in);
    }
    while (ix->height > 0 && ((idx_inner *)ix->root)->n == 1) {
        idx_inner *old = ix->root;
        ix->root = old->child[0];
        ix->height--;
        idx_inner_free(ix, old);
    }
}

static void idx_tree_remove(arm_index *ix, arm_item *item) {
    idx_key k = idx_key_make(item->key, item->klen);
    idx_path path;
    idx_leaf *l = idx_tree_descend(ix, &k, &path);
    int eq;
    uint32_t pos = idx_leaf_find(l, &k, &eq);
    arm_item **items = idx_leaf_items(l);
    if (!ARM_ALWAYS(eq && items[pos] == item)) return; // not in this index: misuse
    memmove(l->pfx + pos, l->pfx + pos + 1, (l->n - pos - 1) * sizeof(uint64_t));
    memmove(items + pos, items + pos + 1, (l->n - pos - 1) * sizeof(arm_item *));
    l->n--;
    ix->count--;
    idx_item_free(ix, item);
    if (l->n == 0 && path.depth > 0) {
        idx_tree_drop_leaf(ix, &path, l);
    } else if (l->cap >= idx_leaf_cap_for(l->n) + 2 * IDX_LEAF_STEP) {
        // Give back memory, keeping one step of slack against add/remove flapping.
        // On NOMEM the leaf simply stays larger.
        (void)idx_leaf_resize(ix, &path, l, idx_leaf_cap_for(l->n) + IDX_LEAF_STEP);
    }
}

/* Free every node without recursion: depth-first with an explicit stack. */
static void idx_tree_destroy(arm_index *ix) {
    idx_inner *stack[ARM_INDEX_DEPTH_MAX];
    uint32_t next[ARM_INDEX_DEPTH_MAX];
    if (ix->root == NULL) return;
    if (ix->height == 0) {
        idx_leaf_free(ix, ix->root);
        ix->root = NULL;
        return;
    }
    uint32_t d = 0;
    stack[0] = ix->root;
    next[0] = 0;
    for (;;) {
        idx_inner *in = stack[d];
        if (next[d] == in->n) {
            idx_inner_free(ix, in);
            if (d == 0) break;
            d--;
            continue;
        }
        void *c = in->child[next[d]++];
        if (d + 1 == ix->height) {
            idx_leaf_free(ix, c);
        } else {
            assert(d + 1 < ARM_INDEX_DEPTH_MAX);
            d++;
            stack[d] = c;
            next[d] = 0;
        }
    }
    ix->root = NULL;
    assert(ix->node_bytes == 0);
}

/* Remove dead items leaf by leaf: live ones are compacted in place; a leaf with no
 * live item keeps one dead item so idx_tree_remove can drop the leaf by its key. */
static void idx_tree_purge_dead(arm_index *ix) {
    idx_leaf *l = idx_tree_edge(ix, 0);
    while (l) {
        idx_leaf *next = l->next;
        arm_item **items = idx_leaf_items(l);
        arm_item *keep = NULL;
        uint32_t j = 0;
        for (uint32_t i = 0; i < l->n; i++) {
            arm_item *it = items[i];
            if (!(it->flags & ARM_ITEM_DEAD)) {
                l->pfx[j] = l->pfx[i];
                items[j++] = it;
            } else if (keep == NULL) {
                keep = it;
            } else {
                idx_item_free(ix, it);
                ix->count--;
            }
        }
        l->n = j;
        if (keep && j == 0) {
            l->pfx[0] = idx_prefix(keep->key, keep->klen);
            items[0] = keep;
            l->n = 1;
            idx_tree_remove(ix, keep); // frees l unless it is the root
        } else if (keep) {
            idx_item_free(ix, keep);
            ix->count--;
        }
        l = next;
    }
}

/* Position it on the target of a seek. */
static arm_item *idx_tree_seek(const arm_index *ix, arm_index_iter *it, const idx_key *k, int op) {
    idx_path path;
    idx_leaf *l = idx_tree_descend(ix, k, &path);
    int eq;
    uint32_t pos = idx_leaf_find(l, k, &eq);
    it->node = NULL;
    if (op == ARM_SEEK_GT && eq) pos++;
    if (op == ARM_SEEK_LE && eq) pos++;
    if (op == ARM_SEEK_GE || op == ARM_SEEK_GT) {
        // The next leaf's keys are all >= this leaf's upper bound > k.
        if (pos == l->n) {
            l = l->next;
            pos = 0;
        }
    } else {
        // pos is the first slot past the target; step back one.
        if (pos == 0) {
            l = l->prev;
            pos = l ? l->n : 0;
        }
        pos--;
    }
    if (l == NULL || l->n == 0) return NULL;
    it->node = l;
    it->pos = pos;
    return idx_leaf_items(l)[pos];
}

/* ================================================================ hash */

static int idx_hash_alloc(uint64_t cap, arm_item ***slot_out, uint32_t **tag_out) {
    arm_item **slot = arm_calloc(cap, sizeof(arm_item *));
    uint32_t *tag = arm_malloc(cap * sizeof(uint32_t));
    if (slot == NULL || tag == NULL) {
        arm_free(slot);
        arm_free(tag);
        return ARM_ERR(ARM_NOMEM);
    }
    *slot_out = slot;
    *tag_out = tag;
    return ARM_OK;
}

/* Double the table. Home slots come from the stored tags, so no key is rehashed. */
static int idx_hash_grow(arm_index *ix) {
    uint64_t cap = ix->hcap * 2, mask = cap - 1;
    arm_item **slot;
    uint32_t *tag;
    if (cap > IDX_HASH_CAP_MAX) return ARM_ERR(ARM_NOMEM);
    int rc = idx_hash_alloc(cap, &slot, &tag);
    if (rc != ARM_OK) return rc;
    for (uint64_t i = 0; i < ix->hcap; i++) {
        if (ix->slot[i] == NULL) continue;
        uint64_t j = ix->tag[i] & mask;
        while (slot[j])
            j = (j + 1) & mask;
        slot[j] = ix->slot[i];
        tag[j] = ix->tag[i];
    }
    arm_free(ix->slot);
    arm_free(ix->tag);
    ix->slot = slot;
    ix->tag = tag;
    ix->hcap = cap;
    return ARM_OK;
}

/* Slot holding key, or the empty slot ending its probe run (*found = 0). */
static uint64_t idx_hash_probe(const arm_index *ix, const uint8_t *key, size_t klen, uint32_t t,
                               int *found) {
    uint64_t mask = ix->hcap - 1, i = t & mask;
    for (uint64_t n = 0; n < ix->hcap; n++, i = (i + 1) & mask) {
        const arm_item *it = ix->slot[i];
        if (it == NULL) break;
        if (ix->tag[i] == t && it->klen == klen && memcmp(it->key, key, klen) == 0) {
            *found = 1;
            return i;
        }
    }
    assert(ix->slot[i] == NULL); // load <= 0.8 guarantees an empty slot
    *found = 0;
    return i;
}

static int idx_hash_upsert(arm_index *ix, const uint8_t *key, size_t klen, arm_item **item_out,
                           int *created_out) {
    uint32_t t = (uint32_t)arm_hash_key(key, klen);
    int found;
    uint64_t i = idx_hash_probe(ix, key, klen, t, &found);
    if (found) {
        *item_out = ix->slot[i];
        return ARM_OK;
    }
    arm_item *it = idx_item_new(ix, key, klen);
    if (it == NULL) return ARM_ERR(ARM_NOMEM);
    if ((ix->count + 1) * 5 > ix->hcap * 4) {
        int rc = idx_hash_grow(ix);
        if (rc != ARM_OK) {
            idx_item_free(ix, it);
            return rc;
        }
        i = idx_hash_probe(ix, key, klen, t, &found);
        assert(!found);
    }
    ix->slot[i] = it;
    ix->tag[i] = t;
    ix->count++;
    *item_out = it;
    *created_out = 1;
    return ARM_OK;
}

/* Empty slot i by backward shift: later members of the probe run whose home is
 * not inside (i, j] move back, so lookups never need tombstones. */
static void idx_hash_delete_at(arm_index *ix, uint64_t i) {
    uint64_t mask = ix->hcap - 1, j = i;
    for (uint64_t n = 0; n < ix->hcap; n++) {
        j = (j + 1) & mask;
        if (ix->slot[j] == NULL) break;
        uint64_t home = ix->tag[j] & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            ix->slot[i] = ix->slot[j];
            ix->tag[i] = ix->tag[j];
            i = j;
        }
    }
    ix->slot[i] = NULL;
    ix->count--;
}

static void idx_hash_remove(arm_index *ix, arm_item *item) {
    uint32_t t = (uint32_t)arm_hash_key(item->key, item->klen);
    uint64_t mask = ix->hcap - 1, i = t & mask, n = 0;
    while (n < ix->hcap && ix->slot[i] != NULL && ix->slot[i] != item) {
        i = (i + 1) & mask;
        n++;
    }
    if (!ARM_ALWAYS(n < ix->hcap && ix->slot[i] == item)) return; // not in this index
    idx_hash_delete_at(ix, i);
    idx_item_free(ix, item);
}

static void idx_hash_purge_dead(arm_index *ix) {
    // A backward shift only moves entries into the slot just emptied or into slots
    // already passed (whose entries are live), so re-checking slot i suffices.
    for (uint64_t i = 0; i < ix->hcap; i++) {
        while (ix->slot[i] != NULL && (ix->slot[i]->flags & ARM_ITEM_DEAD)) {
            arm_item *it = ix->slot[i];
            idx_hash_delete_at(ix, i);
            idx_item_free(ix, it);
        }
    }
}

static arm_item *idx_hash_scan(const arm_index *ix, arm_index_iter *it, uint64_t from) {
    for (uint64_t i = from; i < ix->hcap; i++) {
        if (ix->slot[i]) {
            it->node = (void *)(uintptr_t)ix; // any non-NULL marks "positioned"
            it->pos = (uint32_t)i;
            return ix->slot[i];
        }
    }
    it->node = NULL;
    return NULL;
}

/* ================================================================ public */

ARM_PRIVATE int arm_index_new(int kind, arm_index **index_out) {
    assert(index_out != NULL);
    *index_out = NULL;
    if (!ARM_ALWAYS(kind == ARM_INDEX_ORDERED || kind == ARM_INDEX_HASH)) {
        return ARM_ERR(ARM_MISUSE);
    }
    arm_index *ix = arm_calloc(1, sizeof(*ix));
    if (ix == NULL) return ARM_ERR(ARM_NOMEM);
    ix->kind = kind;
    if (kind == ARM_INDEX_ORDERED) {
        ix->root = idx_leaf_alloc(ix, IDX_LEAF_STEP);
        if (ix->root == NULL) {
            arm_free(ix);
            return ARM_ERR(ARM_NOMEM);
        }
    } else {
        if (idx_hash_alloc(IDX_HASH_CAP_MIN, &ix->slot, &ix->tag) != ARM_OK) {
            arm_free(ix);
            return ARM_ERR(ARM_NOMEM);
        }
        ix->hcap = IDX_HASH_CAP_MIN;
    }
    *index_out = ix;
    return ARM_OK;
}

ARM_PRIVATE void arm_index_free(arm_index *index) {
    if (index == NULL) return;
    if (index->kind == ARM_INDEX_ORDERED) idx_tree_destroy(index);
    arm_free(index->slot);
    arm_free(index->tag);
    idx_arena_destroy(&index->arena);
    arm_free(index);
}

ARM_PRIVATE int arm_index_kind(const arm_index *index) {
    return index->kind;
}

ARM_PRIVATE arm_item *arm_index_get(const arm_index *index, const uint8_t *key, size_t klen) {
    assert(index != NULL);
    assert(klen > 0 && klen <= UINT16_MAX);
    if (index->kind == ARM_INDEX_HASH) {
        int found;
        uint64_t i = idx_hash_probe(index, key, klen, (uint32_t)arm_hash_key(key, klen), &found);
        return found ? index->slot[i] : NULL;
    }
    idx_key k = idx_key_make(key, klen);
    void *node = index->root;
    for (uint32_t d = 0; d < index->height; d++) {
        idx_inner *in = node;
        node = in->child[idx_inner_find(in, &k)];
    }
    int eq;
    uint32_t pos = idx_leaf_find(node, &k, &eq);
    return eq ? idx_leaf_items(node)[pos] : NULL;
}

ARM_PRIVATE int arm_index_upsert(arm_index *index, const uint8_t *key, size_t klen,
                                 arm_item **item_out, int *created_out) {
    assert(index != NULL);
    assert(item_out != NULL && created_out != NULL);
    *item_out = NULL;
    *created_out = 0;
    if (!ARM_ALWAYS(klen > 0 && klen <= UINT16_MAX)) return ARM_ERR(ARM_MISUSE);
    if (index->kind == ARM_INDEX_HASH) {
        return idx_hash_upsert(index, key, klen, item_out, created_out);
    }
    idx_key k = idx_key_make(key, klen);
    return idx_tree_upsert(index, &k, item_out, created_out);
}

ARM_PRIVATE arm_item *arm_index_repoint(arm_index *index, const uint8_t *key, size_t klen,
                                        arm_item *known, uint32_t fid, uint32_t off,
                                        uint32_t nfid, uint32_t noff, arm_item **item_out) {
    arm_item *it = known ? known : arm_index_get(index, key, klen);
    assert(known == NULL || (known->klen == klen && memcmp(known->key, key, klen) == 0));
    *item_out = it;
    if (it == NULL || it->fid != fid || it->off != off) return NULL;
    it->fid = nfid;
    it->off = noff;
    return it;
}

ARM_PRIVATE void arm_index_remove(arm_index *index, arm_item *item) {
    assert(index != NULL);
    assert(item != NULL);
    if (index->kind == ARM_INDEX_HASH)
        idx_hash_remove(index, item);
    else
        idx_tree_remove(index, item);
}

ARM_PRIVATE void arm_index_purge_dead(arm_index *index) {
    assert(index != NULL);
    if (index->kind == ARM_INDEX_HASH)
        idx_hash_purge_dead(index);
    else
        idx_tree_purge_dead(index);
}

ARM_PRIVATE uint64_t arm_index_count(const arm_index *index) {
    return index->count;
}

ARM_PRIVATE uint64_t arm_index_memory(const arm_index *index) {
    uint64_t hash = index->hcap * (sizeof(arm_item *) + sizeof(uint32_t));
    return sizeof(*index) + index->arena.bytes + index->node_bytes + hash;
}

ARM_PRIVATE arm_item *arm_index_iter_first(const arm_index *index, arm_index_iter *it) {
    assert(it != NULL);
    if (index->kind == ARM_INDEX_HASH) return idx_hash_scan(index, it, 0);
    idx_leaf *l = idx_tree_edge(index, 0);
    it->node = NULL;
    if (l->n == 0) return NULL; // only an empty root leaf can be empty
    it->node = l;
    it->pos = 0;
    return idx_leaf_items(l)[0];
}

ARM_PRIVATE arm_item *arm_index_iter_next(const arm_index *index, arm_index_iter *it) {
    assert(it != NULL);
    if (it->node == NULL) return NULL;
    if (index->kind == ARM_INDEX_HASH) return idx_hash_scan(index, it, (uint64_t)it->pos + 1);
    idx_leaf *l = it->node;
    uint32_t pos = it->pos + 1;
    if (pos >= l->n) {
        l = l->next;
        pos = 0;
    }
    it->node = l;
    it->pos = pos;
    return l ? idx_leaf_items(l)[pos] : NULL;
}

ARM_PRIVATE arm_item *arm_index_iter_last(const arm_index *index, arm_index_iter *it) {
    assert(it != NULL);
    it->node = NULL;
    if (index->kind == ARM_INDEX_HASH) return NULL; // no order to walk backwards in
    idx_leaf *l = idx_tree_edge(index, 1);
    if (l->n == 0) return NULL;
    it->node = l;
    it->pos = l->n - 1;
    return idx_leaf_items(l)[it->pos];
}

ARM_PRIVATE arm_item *arm_index_iter_prev(const arm_index *index, arm_index_iter *it) {
    assert(it != NULL);
    if (index->kind == ARM_INDEX_HASH || it->node == NULL) {
        it->node = NULL;
        return NULL;
    }
    idx_leaf *l = it->node;
    if (it->pos == 0) {
        l = l->prev;
        it->node = l;
        if (l == NULL) return NULL;
        it->pos = l->n;
    }
    it->pos--;
    return idx_leaf_items(l)[it->pos];
}

ARM_PRIVATE arm_item *arm_index_iter_seek(const arm_index *index, arm_index_iter *it,
                                          const uint8_t *key, size_t klen, int op) {
    assert(it != NULL);
    assert(op >= ARM_SEEK_GE && op <= ARM_SEEK_LT);
    it->node = NULL;
    if (index->kind == ARM_INDEX_HASH) return NULL;
    idx_key k = idx_key_make(key, klen);
    return idx_tree_seek(index, it, &k, op);
}

/* ================================================================ self-check */

/* Test hook, declared here rather than in index.h (which other modules share):
 * checks every structural invariant and returns ARM_OK or ARM_CORRUPT. O(n). */
ARM_PRIVATE __attribute__((unused)) int arm_index_check(const arm_index *index);

static int idx_check_leaf(const arm_index *ix, const idx_leaf *l, const arm_item *lo,
                          const arm_item *hi) {
    arm_item *const *items = idx_leaf_items(l);
    if (l->cap == 0 || l->cap > IDX_LEAF_MAX || l->cap % IDX_LEAF_STEP) return ARM_CORRUPT;
    if (l->n > l->cap || (l->n == 0 && ix->height > 0)) return ARM_CORRUPT;
    for (uint32_t i = 0; i < l->n; i++) {
        const arm_item *it = items[i];
        idx_key k = idx_key_make(it->key, it->klen);
        if (l->pfx[i] != k.pfx) return ARM_CORRUPT;
        if (i > 0 && idx_cmp(&k, items[i - 1]) <= 0) return ARM_CORRUPT;
        if (lo && idx_cmp(&k, lo) < 0) return ARM_CORRUPT;
        if (hi && idx_cmp(&k, hi) >= 0) return ARM_CORRUPT;
    }
    return ARM_OK;
}

static int idx_check_inner(const idx_inner *in, const arm_item *lo, const arm_item *hi) {
    if (in->n == 0 || in->n > IDX_INNER_MAX) return ARM_CORRUPT;
    for (uint32_t i = 0; i + 1 < in->n; i++) {
        const arm_item *s = in->sep[i];
        idx_key k = idx_key_make(s->key, s->klen);
        if (in->pfx[i] != k.pfx) return ARM_CORRUPT;
        if (i > 0 && idx_cmp(&k, in->sep[i - 1]) <= 0) return ARM_CORRUPT;
        if (lo && idx_cmp(&k, lo) < 0) return ARM_CORRUPT;
        if (hi && idx_cmp(&k, hi) >= 0) return ARM_CORRUPT;
    }
    return ARM_OK;
}

static int idx_check_tree(const arm_index *ix) {
    struct {
        const idx_inner *node;
        const arm_item *lo, *hi; /* key range of the node: [lo, hi), NULL = unbounded */
        uint32_t next;           /* next child to visit */
    } st[ARM_INDEX_DEPTH_MAX];
    const idx_leaf *prev = NULL;
    uint64_t items = 0, bytes = 0;
    if (ix->height >= ARM_INDEX_DEPTH_MAX) return ARM_CORRUPT;
    if (ix->height == 0) {
        const idx_leaf *l = ix->root;
        if (l->prev || l->next) return ARM_CORRUPT;
        if (l->n != ix->count || idx_leaf_bytes(l->cap) != ix->node_bytes) return ARM_CORRUPT;
        return idx_check_leaf(ix, l, NULL, NULL);
    }
    if (((const idx_inner *)ix->root)->n < 2) return ARM_CORRUPT;
    uint32_t d = 0;
    st[0].node = ix->root;
    st[0].lo = st[0].hi = NULL;
    st[0].next = 0;
    if (idx_check_inner(st[0].node, NULL, NULL) != ARM_OK) return ARM_CORRUPT;
    bytes += sizeof(idx_inner);
    for (;;) {
        const idx_inner *in = st[d].node;
        uint32_t c = st[d].next++;
        if (c == in->n) {
            if (d == 0) break;
            d--;
            continue;
        }
        const arm_item *lo = c > 0 ? in->sep[c - 1] : st[d].lo;
        const arm_item *hi = c + 1 < in->n ? in->sep[c] : st[d].hi;
        if (d + 1 == ix->height) {
            const idx_leaf *l = in->child[c];
            if (l->prev != prev || (prev && prev->next != l)) return ARM_CORRUPT;
            if (idx_check_leaf(ix, l, lo, hi) != ARM_OK) return ARM_CORRUPT;
            items += l->n;
            bytes += idx_leaf_bytes(l->cap);
            prev = l;
            continue;
        }
        d++;
        st[d].node = in->child[c];
        st[d].lo = lo;
        st[d].hi = hi;
        st[d].next = 0;
        if (idx_check_inner(st[d].node, lo, hi) != ARM_OK) return ARM_CORRUPT;
        bytes += sizeof(idx_inner);
    }
    if (prev == NULL || prev->next != NULL) return ARM_CORRUPT;
    if (items != ix->count || bytes != ix->node_bytes) return ARM_CORRUPT;
    return ARM_OK;
}

static int idx_check_hash(const arm_index *ix) {
    uint64_t mask = ix->hcap - 1, n = 0;
    if (ix->hcap < IDX_HASH_CAP_MIN || (ix->hcap & mask)) return ARM_CORRUPT;
    if (ix->count * 5 > ix->hcap * 4) return ARM_CORRUPT;
    for (uint64_t i = 0; i < ix->hcap; i++) {
        const arm_item *it = ix->slot[i];
        if (it == NULL) continue;
        n++;
        if (ix->tag[i] != (uint32_t)arm_hash_key(it->key, it->klen)) return ARM_CORRUPT;
        // No hole between the home slot and i, or a lookup would stop short.
        for (uint64_t j = ix->tag[i] & mask; j != i; j = (j + 1) & mask) {
            if (ix->slot[j] == NULL) return ARM_CORRUPT;
        }
    }
    return n == ix->count ? ARM_OK : ARM_CORRUPT;
}

ARM_PRIVATE int arm_index_check(const arm_index *index) {
    if (index->kind == ARM_INDEX_HASH) return idx_check_hash(index);
    return idx_check_tree(index);
}

/* The amalgamation puts every file in one translation unit: keep these file-local. */
#undef ARM_INDEX_DEPTH_MAX
#undef IDX_LEAF_MAX
#undef IDX_LEAF_STEP
#undef IDX_INNER_MAX
#undef IDX_SLAB_BYTES
#undef IDX_SMALL_MAX
#undef IDX_CLASS_COUNT
#undef IDX_ITEM_MIN
#undef IDX_HASH_CAP_MIN
#undef IDX_HASH_CAP_MAX
