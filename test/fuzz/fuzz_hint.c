/* SPDX-License-Identifier: MIT */
/*
 * fuzz_hint.c: libFuzzer target for the hint-file parser in engine/log.c
 * (arm_hint_check, arm_hint_next, arm_hint_hdr_decode and the encoders). The
 * input is a hint file: a 64-byte header, records, a 24-byte footer.
 *
 * arm_hint_check must agree with a reference check written from
 * ARCHITECTURE.md (fz_hint_ok in fuzz_util.h). When it accepts: the header
 * round-trips (encode(decode(x)) == x); arm_hint_next walks exactly the
 * footer's count of records, each re-encoding to its 20 bytes, its key (and
 * the value a TXNINFO, DECISION or REPL_POS record carries) inside the
 * input, the records tiling [64, log_size) of the data file; and
 * refusing is stable under truncation by one byte.
 *
 * A second pass repairs both checksums of a copy (a random mutation almost
 * never yields a good xxhash), then sets the footer count to what the
 * reference walked, so the structure of records is what gets fuzzed.
 */
#include "../../engine/engine_int.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fh_check(const uint8_t *p, size_t n) {
    arm_hint_hdr h;
    memset(&h, 0, sizeof(h));
    int rc = arm_hint_check(p, n, &h);
    FUZZ_CHECK((rc == ARM_OK) == fz_hint_ok(p, n, NULL));
    if (rc != ARM_OK) return;
    uint8_t head[ARM_HINT_HEADER_SIZE];
    arm_hint_hdr_encode(&h, head);
    FUZZ_CHECK(memcmp(head, p, sizeof(head)) == 0);
    size_t pos = ARM_HINT_HEADER_SIZE;
    uint64_t expect = ARM_FILE_HEADER_SIZE, count = 0;
    arm_hint_rec r;
    while ((rc = arm_hint_next(p, n, &pos, &r)) == ARM_OK) {
        FUZZ_CHECK(r.off == expect);
        uint32_t carried = arm_hint_value_len(&r.h);
        FUZZ_CHECK(r.key >= p + ARM_HINT_HEADER_SIZE &&
                   r.key + r.h.klen + carried <= p + n - ARM_HINT_FOOTER);
        FUZZ_CHECK(r.h.klen >= 1 && (r.h.type != ARM_ENTRY_DEL || r.h.vlen == 0));
        FUZZ_CHECK(carried == (r.h.type == ARM_ENTRY_PUT || r.h.type == ARM_ENTRY_DEL ? 0 : r.h.vlen));
        uint8_t rec[ARM_HINT_RECORD];
        arm_hint_rec_encode(rec, &r.h, r.off);
        FUZZ_CHECK(memcmp(rec, r.key - ARM_HINT_RECORD, sizeof(rec)) == 0);
        expect += arm_entry_size(r.h.klen, r.h.vlen);
        count++;
    }
    FUZZ_CHECK(rc == ARM_NOTFOUND);
    FUZZ_CHECK(pos == n - ARM_HINT_FOOTER);
    FUZZ_CHECK(expect == h.log_size);
    FUZZ_CHECK(count == fz_get64(p + n - 16));
    uint8_t foot[ARM_HINT_FOOTER];
    arm_hint_footer_encode(foot, count, fz_get64(p + n - 8));
    FUZZ_CHECK(memcmp(foot, p + n - ARM_HINT_FOOTER, sizeof(foot)) == 0);
    /* one byte less is never a hint (the footer moves) */
    FUZZ_CHECK(arm_hint_check(p, n - 1, &h) != ARM_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fh_check(data, size);
    if (size < ARM_HINT_HEADER_SIZE + ARM_HINT_FOOTER) return 0;
    uint8_t *copy = malloc(size); /* exact size: ASan catches any overread */
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);
    memcpy(copy + size - ARM_HINT_FOOTER, "ARMHEND\1", 8);
    fz_hint_seal(copy, size);
    uint64_t walked = 0;
    (void)fz_hint_ok(copy, size, &walked);
    if (data[size - 1] & 1) { /* half the time, a count that matches the walk */
        fz_put64(copy + size - 16, walked);
        fz_hint_seal(copy, size);
    }
    fh_check(copy, size);
    free(copy);
    return 0;
}
