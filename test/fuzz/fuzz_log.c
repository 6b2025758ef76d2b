/* SPDX-License-Identifier: MIT */
/*
 * fuzz_log.c: libFuzzer target for the data-file decoders in engine/log.c
 * (arm_file_hdr_decode, arm_entry_decode, arm_entry_verify,
 * arm_entry_encode). The input is a data file: a 64-byte header, then
 * entries back to back.
 *
 * Pass 1 walks the input as it is, the way recovery does (rec_scan: decode,
 * batch bookkeeping, stop at the first bad entry), and checks invariants on
 * every accepted entry: its length stays within the input, arm_entry_verify
 * agrees, it re-encodes to the same 20 header bytes, and it is refused with
 * one byte less available or with limits one below its lengths.
 *
 * Pass 2 works on a copy whose checksums are repaired (file header, and each
 * entry that is structurally valid per ARCHITECTURE.md): a random mutation
 * almost never produces a good xxhash, so without this the fuzzer would
 * rarely get past the first entry. Here decode must accept exactly the
 * entries the reference check (fz_entry_hdr_ok) calls valid and that fit.
 *
 * Round trip of the file header: encode(decode(x)) == x on all 64 bytes (the
 * decoder requires the reserved bytes 48..55 to be zero).
 */
#include "../../engine/engine_int.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fl_check_hdr(const uint8_t *p, size_t n) {
    arm_file_hdr h, h2;
    memset(&h, 0, sizeof(h));
    memset(&h2, 0, sizeof(h2));
    if (arm_file_hdr_decode(p, n, &h) != ARM_OK) return;
    FUZZ_CHECK(n >= ARM_FILE_HEADER_SIZE);
    uint8_t out[ARM_FILE_HEADER_SIZE];
    arm_file_hdr_encode(&h, out);
    FUZZ_CHECK(memcmp(out, p, ARM_FILE_HEADER_SIZE) == 0);
    FUZZ_CHECK(arm_file_hdr_decode(out, sizeof(out), &h2) == ARM_OK);
    FUZZ_CHECK(memcmp(&h, &h2, sizeof(h)) == 0);
}

/* Invariants of one entry that arm_entry_decode accepted at p (avail bytes). */
static void fl_check_entry(const uint8_t *p, size_t avail, const arm_entry_hdr *h) {
    FUZZ_CHECK(h->type >= ARM_ENTRY_PUT && h->type <= ARM_ENTRY_REPL_POS);
    FUZZ_CHECK(h->klen >= 1);
    FUZZ_CHECK(h->type != ARM_ENTRY_DEL || h->vlen == 0);
    FUZZ_CHECK((h->flags & ~(ARM_ENTRY_TXN | ARM_ENTRY_TXN_END)) == 0);
    size_t len = (size_t)ARM_ENTRY_HEADER + h->klen + h->vlen;
    FUZZ_CHECK(len <= avail);
    FUZZ_CHECK(arm_entry_size(h->klen, h->vlen) == len);
    FUZZ_CHECK(fz_entry_hdr_ok(p));
    FUZZ_CHECK(arm_entry_verify(p, len) == ARM_OK);
    FUZZ_CHECK(arm_entry_verify(p, len - 1) != ARM_OK);
    if (len < avail) FUZZ_CHECK(arm_entry_verify(p, len + 1) != ARM_OK);
    arm_entry_hdr h2;
    FUZZ_CHECK(arm_entry_decode(p, len, h->klen, h->vlen, &h2) == ARM_OK);
    FUZZ_CHECK(h2.checksum == h->checksum && h2.type == h->type && h2.flags == h->flags);
    FUZZ_CHECK(h2.klen == h->klen && h2.vlen == h->vlen && h2.seq == h->seq);
    FUZZ_CHECK(arm_entry_decode(p, len - 1, ARM_KEY_SIZE_MAX, UINT32_MAX, &h2) != ARM_OK);
    FUZZ_CHECK(arm_entry_decode(p, avail, h->klen - 1u, UINT32_MAX, &h2) != ARM_OK);
    if (h->vlen) FUZZ_CHECK(arm_entry_decode(p, avail, ARM_KEY_SIZE_MAX, h->vlen - 1, &h2) != ARM_OK);
    uint8_t enc[ARM_ENTRY_HEADER];
    arm_entry_encode(enc, h->type, h->flags, h->seq,
                     arm_slice_make(p + ARM_ENTRY_HEADER, h->klen),
                     arm_slice_make(p + ARM_ENTRY_HEADER + h->klen, h->vlen));
    FUZZ_CHECK(memcmp(enc, p, ARM_ENTRY_HEADER) == 0);
}

/* Walk entries from offset 64 as recovery does. Returns the number accepted;
 * *end_out gets the recovery end (start of an unfinished batch counts). */
static size_t fl_walk(const uint8_t *p, size_t size, int repaired, size_t *end_out) {
    size_t off = ARM_FILE_HEADER_SIZE, n = 0, pend = 0, pend_off = 0;
    uint64_t pend_seq = 0;
    while (off < size) {
        arm_entry_hdr h;
        int rc = arm_entry_decode(p + off, size - off, ARM_KEY_SIZE_MAX, UINT32_MAX, &h);
        if (repaired) {
            /* Checksums are right, so the verdict is the structure's. */
            int fits = size - off >= ARM_ENTRY_HEADER && fz_entry_hdr_ok(p + off) &&
                       (uint64_t)ARM_ENTRY_HEADER + fz_get16(p + off + 6) +
                               fz_get32(p + off + 8) <= size - off;
            FUZZ_CHECK((rc == ARM_OK) == fits);
        }
        if (rc != ARM_OK) break;
        fl_check_entry(p + off, size - off, &h);
        if (h.flags & ARM_ENTRY_TXN) {
            if (pend && pend_seq != h.seq) break;
            if (pend == 0) {
                pend_off = off;
                pend_seq = h.seq;
            }
            pend++;
            if (h.flags & ARM_ENTRY_TXN_END) pend = 0;
        } else if (pend) {
            break;
        }
        off += arm_entry_size(h.klen, h.vlen);
        n++;
        FUZZ_CHECK(off <= size);
    }
    *end_out = pend ? pend_off : off;
    FUZZ_CHECK(*end_out <= size || size < ARM_FILE_HEADER_SIZE);
    return n;
}

/* Fix the checksums of p in place: the header's, then each structurally
 * valid entry's that fits, stopping where a walk would stop. */
static void fl_repair(uint8_t *p, size_t size) {
    if (size >= ARM_FILE_HEADER_SIZE) fz_block_seal(p);
    size_t off = ARM_FILE_HEADER_SIZE;
    while (off + ARM_ENTRY_HEADER <= size && fz_entry_hdr_ok(p + off)) {
        uint64_t len = (uint64_t)ARM_ENTRY_HEADER + fz_get16(p + off + 6) + fz_get32(p + off + 8);
        if (len > size - off) break;
        fz_entry_seal(p + off, (size_t)len);
        off += (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fl_check_hdr(data, size);
    size_t end;
    (void)fl_walk(data, size, 0, &end);

    if (size == 0) return 0;
    uint8_t *copy = malloc(size); /* exact size: ASan catches any overread */
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);
    fl_repair(copy, size);
    /* a repaired header decodes iff its magic, reserved bytes and base_seq are valid */
    if (size >= ARM_FILE_HEADER_SIZE && memcmp(copy, "ARMLOG\0\1", 8) == 0) {
        arm_file_hdr h;
        int want = fz_get64(copy + 48) == 0 && fz_get64(copy + 40) < ARM_SEQ_MAX;
        FUZZ_CHECK((arm_file_hdr_decode(copy, size, &h) == ARM_OK) == want);
    }
    fl_check_hdr(copy, size);
    (void)fl_walk(copy, size, 1, &end);
    free(copy);
    return 0;
}
