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

/* Limits from ARCHITECTURE.md (not the engine's macros: mkcorpus links no
 * engine, and the reference checks must not borrow from what they check). */
#define FZ_SEQ_MAX       ((uint64_t)1 << 62)            /* sequence numbers < 2^62 */
#define FZ_FILE_SIZE_MAX (4096ull * 1024 * 1024 - 4096) /* a data file's largest size */

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
    if (type < 1 || type > 5) return 0; /* PUT, DELETE, TXNINFO, DECISION, REPL_POS */
    if (klen == 0) return 0;
    if (flags & ~3u) return 0;
    if ((flags & 2) && !(flags & 1)) return 0; /* TXN_END only on a batch member */
    if (type == 2 && vlen != 0) return 0;
    if (type == 3 && (flags != 1 || klen != 1 || vlen != 16)) return 0; /* opens its batch */
    if (type == 4 && (flags != 0 || klen != 8 || vlen != 1)) return 0;  /* stands alone */
    if (type == 5 && (klen != 2 || vlen != 48)) return 0;
    uint64_t seq = fz_get64(p + 12);
    if (seq == 0 || seq >= FZ_SEQ_MAX) return 0; /* sequence numbers live in [1, 2^62) */
    return 1;
}

/* ------------------------------------------------------- hint files */
/* Reseal a hint file image per ARCHITECTURE.md: the header frame's checksum
 * (bytes 56..63) and the footer's, over every byte before its last 8. */
static inline void fz_hint_seal(uint8_t *p, size_t n) {
    if (n >= 64) fz_block_seal(p);
    if (n >= 64 + 24) fz_put64(p + n - 8, arm_hash_checksum(p, n - 8));
}

/* Reference check of a whole hint file, written from ARCHITECTURE.md and
 * independent of engine/log.c: 1 when valid. *count_out (may be NULL): the
 * records walked before the verdict. */
static inline int fz_hint_ok(const uint8_t *p, size_t n, uint64_t *count_out) {
    uint64_t count = 0;
    if (count_out) *count_out = 0;
    if (n < 64 + 24 || memcmp(p, "ARMHINT\1", 8) != 0) return 0;
    if (fz_get64(p + 56) != arm_hash_checksum(p, 56) || fz_get64(p + 48) != 0) return 0;
    if (fz_get32(p + 8) != 1) return 0; /* version */
    uint64_t log_size = fz_get64(p + 40);
    if (log_size < 64 || log_size > FZ_FILE_SIZE_MAX) return 0;
    const uint8_t *foot = p + n - 24;
    if (memcmp(foot, "ARMHEND\1", 8) != 0 || fz_get64(foot + 16) != arm_hash_checksum(p, n - 8))
        return 0;
    size_t pos = 64, end = n - 24;
    uint64_t expect = 64;
    while (pos < end) {
        if (end - pos < 20) return 0;
        const uint8_t *r = p + pos;
        uint8_t fake[20]; /* the record's fields as an entry header */
        fz_entry_hdr(fake, r[0], r[1], fz_get16(r + 2), fz_get32(r + 8), fz_get64(r + 12));
        if (!fz_entry_hdr_ok(fake)) return 0;
        uint16_t klen = fz_get16(r + 2);
        /* a TXNINFO's, DECISION's or REPL_POS's value follows its key */
        uint32_t carried = r[0] == 1 || r[0] == 2 ? 0 : fz_get32(r + 8);
        if (end - pos - 20 < (uint64_t)klen + carried) return 0;
        if (fz_get32(r + 4) != expect) return 0;
        expect += 20 + (uint64_t)klen + fz_get32(r + 8);
        if (expect > log_size) return 0;
        pos += 20 + (size_t)klen + carried;
        count++;
        if (count_out) *count_out = count;
    }
    return expect == log_size && count == fz_get64(foot + 8);
}

#endif
