/* SPDX-License-Identifier: MIT */
/*
 * arm_hash.h: the one place that chooses hash functions. Checksums of log
 * entries, metadata and wire frames and shard routing are part of the
 * on-disk and wire formats, so function and seed never change within a
 * format version. Layer: common (arm_hash.c is the only xxhash user).
 */
#ifndef ARM_HASH_H
#define ARM_HASH_H

#include "arm_base.h"

/* XXH3-64 with the format seed: checksums. */
uint64_t arm_hash_checksum(const void *p, size_t n);
/* Streaming form for checksums over several pieces. */
typedef struct arm_hash_state {
    uint64_t opaque[80] __attribute__((aligned(64))); /* holds an XXH3_state_t */
} arm_hash_state;
void arm_hash_checksum_begin(arm_hash_state *st);
void arm_hash_checksum_update(arm_hash_state *st, const void *p, size_t n);
uint64_t arm_hash_checksum_end(arm_hash_state *st);

/* XXH3-64 with the routing seed: shard routing and in-memory hash tables. */
uint64_t arm_hash_key(const void *p, size_t n);

#endif
