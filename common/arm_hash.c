/* SPDX-License-Identifier: MIT */
/*
 * arm_hash.c: xxhash behind arm_hash.h. XXH_INLINE_ALL makes xxhash
 * header-only, so the amalgamation needs no libxxhash at link time.
 * Layer: common.
 */
#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "arm_hash.h"

#include <string.h>

/* Format constants: changing either breaks every existing database. */
#define ARM_HASH_CHECKSUM_SEED 0x61726d6462763101ULL /* "armdbv1" + 1 */
#define ARM_HASH_ROUTE_SEED    0x726f757465763101ULL /* "routev1" + 1 */

_Static_assert(sizeof(XXH3_state_t) <= sizeof(arm_hash_state), "arm_hash_state too small");

uint64_t arm_hash_checksum(const void *p, size_t n) {
    return XXH3_64bits_withSeed(p, n, ARM_HASH_CHECKSUM_SEED);
}

void arm_hash_checksum_begin(arm_hash_state *st) {
    XXH3_state_t *s = (XXH3_state_t *)(void *)st->opaque;
    memset(st, 0, sizeof(*st));
    XXH3_64bits_reset_withSeed(s, ARM_HASH_CHECKSUM_SEED);
}

void arm_hash_checksum_update(arm_hash_state *st, const void *p, size_t n) {
    XXH3_64bits_update((XXH3_state_t *)(void *)st->opaque, p, n);
}

uint64_t arm_hash_checksum_end(arm_hash_state *st) {
    return XXH3_64bits_digest((XXH3_state_t *)(void *)st->opaque);
}

uint64_t arm_hash_key(const void *p, size_t n) {
    return XXH3_64bits_withSeed(p, n, ARM_HASH_ROUTE_SEED);
}

#undef ARM_HASH_CHECKSUM_SEED
#undef ARM_HASH_ROUTE_SEED
