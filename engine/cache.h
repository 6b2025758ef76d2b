/* SPDX-License-Identifier: MIT */
/*
 * cache.h: the engine's read cache of values by location (fid, off), private
 * to engine/. Thread-safe (striped mutexes); memory fixed at creation.
 */
#ifndef ARM_CACHE_H
#define ARM_CACHE_H

#include "../common/arm_base.h"

typedef struct arm_cache arm_cache;

/* A cache holding about `bytes` of values. ARM_OK or ARM_NOMEM. */
ARM_PRIVATE int arm_cache_new(uint64_t bytes, arm_cache **cache_out);
ARM_PRIVATE void arm_cache_free(arm_cache *cache); /* NULL allowed */
/* 1 and the value copied into *out (grown as needed) on a hit, else 0. */
ARM_PRIVATE int arm_cache_get(arm_cache *cache, uint32_t fid, uint32_t off, arm_buf *out);
/* Remember the value stored at (fid, off). Values too big are skipped. */
ARM_PRIVATE void arm_cache_put(arm_cache *cache, uint32_t fid, uint32_t off, const uint8_t *v,
                               size_t n);

#endif
