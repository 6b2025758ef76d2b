/* SPDX-License-Identifier: MIT */
/*
 * index.h: the in-memory index of one shard, private to engine/. Maps a key
 * to where its newest entry lives (file id, offset, length, sequence).
 * Two kinds behind one interface: an ordered B+tree (range scans, ordered
 * iteration) and an open-addressing hash table (point operations, less
 * memory). Items (key + location) are carved from a per-index slab arena
 * with size-class free lists, so memory per key is the item rounded to
 * 8 bytes plus the structure's slot.
 *
 * Not thread-safe: the shard's rwlock protects an index (readers may call
 * get/iter concurrently with each other, never with a writer).
 */
#ifndef ARM_INDEX_H
#define ARM_INDEX_H

#include "../common/arm_base.h"

/* One key's location. Packed: this struct's size is memory per key. */
typedef struct __attribute__((packed)) arm_item {
    uint64_t seq;  /* version stamp: the domain sequence number at which this version
                      became visible (for what recovery found: the entry's sequence
                      number, below every stamp taken after the open) */
    uint32_t fid;  /* data file id (database-wide) */
    uint32_t off;  /* byte offset of the entry in that file */
    uint32_t len;  /* total entry length in the file (header + key + value) */
    uint16_t klen; /* key length in bytes (>= 1) */
    uint8_t flags; /* ARM_ITEM_* */
    uint8_t key[]; /* klen bytes */
} arm_item;
_Static_assert(sizeof(arm_item) == 23, "arm_item layout");

/* Item flags. DEAD: the newest version is a deletion (recovery's tombstones; at
 * run time a deleted key kept for the snapshots that still see it, and a key
 * held for a prepared insert). A DEAD item is not a key: lookups at the
 * newest version treat it as absent. OLD: older versions of the key are kept
 * in the shard's version store (engine/mvcc.c). INTENT: a prepared
 * transaction writes this key; no one else may. */
#define ARM_ITEM_DEAD   0x01
#define ARM_ITEM_OLD    0x02
#define ARM_ITEM_INTENT 0x04

typedef struct arm_index arm_index;

/* Iterator position; valid only while the caller holds the shard lock and
 * the index is not modified. */
typedef struct arm_index_iter {
    void *node;   /* B+tree leaf, or NULL at EOF */
    uint32_t pos; /* slot within the leaf, or hash slot number */
    uint32_t pad;
} arm_index_iter;

/* kind: ARM_INDEX_ORDERED or ARM_INDEX_HASH. ARM_OK or ARM_NOMEM. */
ARM_PRIVATE int arm_index_new(int kind, arm_index **index_out);
/* Free the index and every item. NULL allowed. */
ARM_PRIVATE void arm_index_free(arm_index *index);
ARM_PRIVATE int arm_index_kind(const arm_index *index);

/* Item for key, or NULL. */
ARM_PRIVATE arm_item *arm_index_get(const arm_index *index, const uint8_t *key, size_t klen);

/**
 * Find the item for key, inserting a new one if absent (*created_out = 1;
 * the new item has klen/key set, flags = 0, and seq/fid/off/len zero for the
 * caller to fill). Returns ARM_OK or ARM_NOMEM (nothing changed).
 * Pointers to other items stay valid; iterators do not.
 */
ARM_PRIVATE int arm_index_upsert(arm_index *index, const uint8_t *key, size_t klen,
                                 arm_item **item_out, int *created_out);

/* Compaction's conditional repoint: when key's item is at (fid, off), move
 * it to (nfid, noff) and return it; else leave it and return NULL (a newer
 * write replaced it, or the key is gone). *item_out: the key's item, moved
 * or not (NULL: none). Its length, sequence and flags never change here.
 * known: the key's item when the caller knows it still exists (found earlier
 * and no item was removed since), saving the lookup; else NULL. */
ARM_PRIVATE arm_item *arm_index_repoint(arm_index *index, const uint8_t *key, size_t klen,
                                        arm_item *known, uint32_t fid, uint32_t off,
                                        uint32_t nfid, uint32_t noff, arm_item **item_out);

/* Remove and free the item (must belong to this index). */
ARM_PRIVATE void arm_index_remove(arm_index *index, arm_item *item);

/* Remove and free every item with ARM_ITEM_DEAD set. */
ARM_PRIVATE void arm_index_purge_dead(arm_index *index);

/* Number of items (including DEAD ones, if any). */
ARM_PRIVATE uint64_t arm_index_count(const arm_index *index);
/* Bytes of memory held (structure + arena slabs). */
ARM_PRIVATE uint64_t arm_index_memory(const arm_index *index);

/* ---- iteration. Ordered: key order (memcmp, then shorter first). Hash: slot
 * order. Each returns the item at the new position, or NULL (EOF). */
ARM_PRIVATE arm_item *arm_index_iter_first(const arm_index *index, arm_index_iter *it);
ARM_PRIVATE arm_item *arm_index_iter_next(const arm_index *index, arm_index_iter *it);
/* Ordered only (hash: returns NULL and asserts in debug builds). op is an
 * enum arm_seek_op from arm_engine.h (GE, GT, LE, LT). */
ARM_PRIVATE arm_item *arm_index_iter_last(const arm_index *index, arm_index_iter *it);
ARM_PRIVATE arm_item *arm_index_iter_prev(const arm_index *index, arm_index_iter *it);
ARM_PRIVATE arm_item *arm_index_iter_seek(const arm_index *index, arm_index_iter *it,
                                          const uint8_t *key, size_t klen, int op);

/* memcmp order, shorter first on a common prefix: the engine's key order. */
static inline int arm_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int c = n ? __builtin_memcmp(a, b, n) : 0;
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

#endif
