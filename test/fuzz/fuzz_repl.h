/* SPDX-License-Identifier: MIT */
/*
 * fuzz_repl.h: input formats shared by the replication fuzz targets
 * (fuzz_repl_frame.c, fuzz_repl_handshake.c) and their corpus generator
 * (mkcorpus_repl.c).
 *
 * Sealed records, so that mutations get past the frame checksums (a random
 * change almost never keeps an xxhash right): each record is
 *   type u8, shard u16 LE, len u16 LE, then len payload bytes
 * and becomes one frame with good checksums (repl_wire_frame_append). A
 * record cut short by the end of the input keeps what is there.
 *
 * fuzz_repl_frame input:
 *   byte 0  mode: bit 0 sealed records (else raw frame bytes); bit 1 payload
 *           bound 4 MiB (else 32 KiB); bit 2 we are the leader (else the
 *           follower: direction checks); bits 3-4 shard count - 1; bit 5
 *           txn_max 4 KiB (else 4 GiB)
 *   then    the frames (raw) or records (sealed)
 *
 * fuzz_repl_handshake input:
 *   byte 0  mode: 0 two state machines talk (pair); 1 the leader is fed
 *           frames from the input; 2 the follower is; (mode % 3)
 *   byte 1  config: bit 0 follower has a secret; bit 1 leader has one;
 *           bit 2 the two secrets differ; bit 3 leader has 2 shards (else
 *           1); bit 4 follower has positions; bit 5 ... for this leader (else
 *           another); bit 6 follower is empty; bit 7 same database id
 *   byte 2  bounds: bit 0 follower txn_max 4 KiB (else 4 GiB); bit 1 leader
 *           txn_max 4 KiB (else 4 GiB); bit 2 follower payload bound 64 KiB
 *   pair:   mutation ops of 4 bytes each: frame index (0 = first frame on
 *           the wire, either direction), op (% 5: 0 none, 1 flip bit
 *           value % 8 of byte offset, 2 drop, 3 set byte offset to value and
 *           reseal the checksums, 4 deliver twice), offset, value
 *   1 or 2: sealed records, delivered in order
 */
#ifndef ARM_FUZZ_REPL_H
#define ARM_FUZZ_REPL_H

#include "../../repl/repl_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Turn sealed records into frames appended to out. 0, or -1 when out of memory. */
static inline int fzr_seal_records(const uint8_t *in, size_t n, arm_buf *out) {
    size_t off = 0;
    while (off + 5 <= n) {
        uint8_t type = in[off];
        uint16_t shard = (uint16_t)(in[off + 1] | in[off + 2] << 8);
        size_t len = (size_t)(in[off + 3] | in[off + 4] << 8);
        off += 5;
        if (len > n - off) len = n - off;
        if (repl_wire_frame_append(out, type, shard, in + off, (uint32_t)len) != ARM_OK) return -1;
        off += len;
    }
    return 0;
}

/* Append one sealed record (for the corpus generator). */
static inline void fzr_record(arm_buf *out, uint8_t type, uint16_t shard, const void *p,
                              uint16_t len) {
    if (arm_buf_reserve(out, out->len + 5 + len) != ARM_OK) abort();
    uint8_t *d = out->ptr + out->len;
    d[0] = type;
    d[1] = (uint8_t)shard;
    d[2] = (uint8_t)(shard >> 8);
    d[3] = (uint8_t)len;
    d[4] = (uint8_t)(len >> 8);
    if (len) memcpy(d + 5, p, len);
    out->len += 5 + (size_t)len;
}

#endif
