/* SPDX-License-Identifier: MIT */
/*
 * fuzz_util.h: helpers shared by the libFuzzer targets and mkcorpus.c.
 * Little-endian put/get, a reference entry encoder written from the format
 * in ARCHITECTURE.md (so the fuzzers can build entries with good checksums,
 * or with deliberately bad structure and a good checksum), and FUZZ_CHECK,
 * which prints the failed invariant and aborts (libFuzzer then saves the
 * input as crash-*).
 */
#ifndef ARM_FUZZ_UTIL_H
#define ARM_FUZZ_UTIL_H

#include "../../common/arm_hash.h"
#include "../../engine/engine_int.h" /* ARM_SEQ_MAX, used below (mkcorpus.c needs it too) */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                          \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static inline void fz_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void fz_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void fz_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t fz_get16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t fz_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t fz_get64(const uint8_t *p) {
    return (uint64_t)fz_get32(p) | (uint64_t)fz_get32(p + 4) << 32;
}


/* Entry header per ARCHITECTURE.md: checksum over bytes 4.. of header, key
 * and value. Any field values (even invalid ones) are written as given. */
static inline void fz_entry_hdr(uint8_t out[20], uint8_t type, uint8_t flags, uint16_t klen,
                                uint32_t vlen, uint64_t seq) {
    out[4] = type;
    out[5] = flags;
    fz_put16(out + 6, klen);
    fz_put32(out + 8, vlen);
    fz_put64(out + 12, seq);
}
/* Write the checksum of the whole entry at p (len bytes) into p[0..4). */
static inline void fz_entry_seal(uint8_t *p, size_t len) {
    fz_put32(p, (uint32_t)arm_hash_checksum(p + 4, len - 4));
}
/* Write the checksum of a 64-byte header/metadata block into bytes 56..63. */
static inline void fz_block_seal(uint8_t p[64]) {
    fz_put64(p + 56, arm_hash_checksum(p, 56));
}

/* Reference structural check of an entry header (what a valid header looks
 * like per ARCHITECTURE.md), independent of engine/log.c. */
static inline int fz_entry_hdr_ok(const uint8_t *p) {
    uint8_t type = p[4], flags = p[5];
    uint16_t klen = fz_get16(p + 6);
    uint32_t vlen = fz_get32(p + 8);
    if (type != 1 && type != 2) return 0;
    if (klen == 0) return 0;
    if (flags & ~3u) return 0;
    if ((flags & 2) && !(flags & 1)) return 0; /* TXN_END only on a batch member */
    if (type == 2 && vlen != 0) return 0;
    uint64_t seq = fz_get64(p + 12);
    if (seq == 0 || seq >= ARM_SEQ_MAX) return 0; /* sequence numbers live in [1, 2^62) */
    return 1;
}

#endif
