/* SPDX-License-Identifier: MIT */
/*
 * fuzz_meta.c: libFuzzer target for the ARMDB metadata parser
 * (arm_meta_decode / arm_meta_encode in engine/log.c).
 *
 * The input is decoded as it is, then again with its checksum repaired
 * (bytes 56..63 recomputed over the first 56; a random mutation almost never
 * produces a good xxhash). For every accepted input:
 *   - encode(decode(x)) == x[0..64);
 *   - decode(encode(m)) gives m back;
 *   - the reference rule holds: accepted iff n >= 64, magic "ARMDBMTA",
 *     checksum good, reserved bytes zero and 1 <= shard_count <= 1024.
 */
#include "../../engine/engine_int.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fm_reference_ok(const uint8_t *p, size_t n) {
    if (n < ARM_META_SIZE || memcmp(p, "ARMDBMTA", 8) != 0) return 0;
    if (fz_get64(p + 56) != arm_hash_checksum(p, 56)) return 0;
    if (fz_get64(p + 48) != 0) return 0; /* reserved */
    uint32_t shards = fz_get32(p + 12);
    return shards >= 1 && shards <= ARM_SHARDS_MAX;
}

static void fm_one(const uint8_t *p, size_t n) {
    arm_meta m;
    memset(&m, 0, sizeof(m));
    int rc = arm_meta_decode(p, n, &m);
    FUZZ_CHECK((rc == ARM_OK) == fm_reference_ok(p, n));
    if (rc != ARM_OK) return;
    FUZZ_CHECK(m.shard_count >= 1 && m.shard_count <= ARM_SHARDS_MAX);
    uint8_t out[ARM_META_SIZE];
    arm_meta_encode(&m, out);
    FUZZ_CHECK(memcmp(out, p, ARM_META_SIZE) == 0);
    arm_meta m2;
    memset(&m2, 0, sizeof(m2));
    FUZZ_CHECK(arm_meta_decode(out, sizeof(out), &m2) == ARM_OK);
    FUZZ_CHECK(memcmp(&m, &m2, sizeof(m)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fm_one(data, size);
    if (size < 56) return 0;
    size_t n = size < ARM_META_SIZE ? ARM_META_SIZE : size;
    uint8_t *copy = malloc(n); /* exact size: ASan catches any overread */
    FUZZ_CHECK(copy != NULL);
    memset(copy, 0, n);
    memcpy(copy, data, size);
    fz_block_seal(copy);
    fm_one(copy, n);
    free(copy);
    return 0;
}
