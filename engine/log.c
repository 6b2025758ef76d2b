/* SPDX-License-Identifier: MIT */
/*
 * log.c: encode and decode of the on-disk formats: the ARMDB metadata file,
 * data-file headers and log entries. Pure functions over bytes (no I/O), so
 * they are what the fuzzers drive. All integers are little-endian.
 *
 * Entry (20-byte header, then key, then value):
 *   0 u32 checksum  low 32 bits of arm_hash_checksum(bytes 4 .. end of value)
 *   4 u8  type      1 PUT, 2 DELETE, 3 TXNINFO (opens a batch decided elsewhere:
 *                   key 1 byte 0, value 16-byte owner), 4 DECISION (of the batch whose
 *                   sequence number is the 8-byte LE key: value 1 COMMIT, 2 ABORT),
 *                   5 REPL_POS (a follower's position in one leader shard: key the
 *                   shard u16, value below)
 *   5 u8  flags     bit0 TXN (batch member), bit1 TXN_END (last of its batch)
 *   6 u16 klen      1..65535
 *   8 u32 vlen      0 for DELETE
 *  12 u64 seq
 *  20 key, value
 * REPL_POS value (48 bytes):
 *   0 u8[16] leader db_id      16 u64 seq    24 u64 off    32 u32 fid
 *  36 u32    len               40 u32 flags (bit0 RESYNC)  44 u32 reserved 0
 * Data-file header and metadata: 64 bytes each, drawn in ARCHITECTURE.md,
 * checksummed over their first 56 bytes (the last 8 hold the checksum).
 *
 * Hint file (FFFFFFFF.hint beside a sealed FFFFFFFF.log): a 64-byte header
 * (the same frame; magic "ARMHINT\1"), one record per entry of the data file
 * in file order, then a 24-byte footer. A record is the entry's header with
 * its checksum replaced by the entry's offset:
 *   0 u8  type      the entry's type, as the entry says
 *   1 u8  flags     the entry's flags (TXN, TXN_END, ...)
 *   2 u16 klen
 *   4 u32 off       offset of the entry in the data file
 *   8 u32 vlen      the entry's value length (the entry is 20+klen+vlen bytes)
 *  12 u64 seq
 *  20 key
 *     value     only for a TXNINFO, DECISION or REPL_POS (vlen bytes: 16, 1
 *               and 48): recovery needs those values, and they are small; a
 *               PUT's or DELETE's value is never in the hint
 * Footer: "ARMHEND\1", u64 record count, u64 arm_hash_checksum of every byte
 * of the file before it. The records must cover the data file exactly: the
 * first at offset 64, each next one where the one before ends, the last
 * ending at the header's log_size.
 */
#include "engine_int.h"
#include "../common/arm_hash.h"

#include <string.h>

static const uint8_t log_meta_magic[8] = {'A', 'R', 'M', 'D', 'B', 'M', 'T', 'A'};
static const uint8_t log_file_magic[8] = {'A', 'R', 'M', 'L', 'O', 'G', 0, 1};
static const uint8_t log_hint_magic[8] = {'A', 'R', 'M', 'H', 'I', 'N', 'T', 1};
static const uint8_t log_hint_end[8] = {'A', 'R', 'M', 'H', 'E', 'N', 'D', 1};

static void log_put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void log_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void log_put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint16_t log_get16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static uint32_t log_get32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}
static uint64_t log_get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* The metadata and file headers share one frame: 64 bytes, an 8-byte magic
 * first, bytes 48..55 reserved (zero), a checksum of bytes 0..55 last. */
_Static_assert(ARM_META_SIZE == 64 && ARM_FILE_HEADER_SIZE == 64, "one 64-byte frame");

static void log_block_seal(uint8_t out[64]) {
    log_put64(out + 56, arm_hash_checksum(out, 56));
}

static int log_block_check(const uint8_t *p, size_t n, const uint8_t magic[8]) {
    if (n < 64 || memcmp(p, magic, 8) != 0) return ARM_ERR(ARM_CORRUPT);
    if (log_get64(p + 56) != arm_hash_checksum(p, 56)) return ARM_ERR(ARM_CORRUPT);
    if (log_get64(p + 48) != 0) return ARM_ERR(ARM_CORRUPT); /* reserved */
    return ARM_OK;
}

/* ---------------------------------------------------------- metadata */
void arm_meta_encode(const arm_meta *m, uint8_t out[ARM_META_SIZE]) {
    memset(out, 0, ARM_META_SIZE);
    memcpy(out, log_meta_magic, 8);
    log_put32(out + 8, m->version);
    log_put32(out + 12, m->shard_count);
    memcpy(out + 16, m->db_id, 16);
    log_put32(out + 32, m->flags);
    log_put32(out + 36, m->prefix_bits);
    log_put64(out + 40, m->created_ms);
    log_block_seal(out);
}

int arm_meta_decode(const uint8_t *p, size_t n, arm_meta *m) {
    if (log_block_check(p, n, log_meta_magic) != ARM_OK) return ARM_CORRUPT;
    m->version = log_get32(p + 8);
    m->shard_count = log_get32(p + 12);
    memcpy(m->db_id, p + 16, 16);
    m->flags = log_get32(p + 32);
    m->prefix_bits = log_get32(p + 36);
    m->created_ms = log_get64(p + 40);
    if (m->shard_count == 0 || m->shard_count > ARM_SHARDS_MAX) return ARM_ERR(ARM_CORRUPT);
    return ARM_OK;
}

/* ------------------------------------------------------- file header */
void arm_file_hdr_encode(const arm_file_hdr *h, uint8_t out[ARM_FILE_HEADER_SIZE]) {
    memset(out, 0, ARM_FILE_HEADER_SIZE);
    memcpy(out, log_file_magic, 8);
    log_put32(out + 8, h->version);
    log_put32(out + 12, h->shard);
    log_put32(out + 16, h->fid);
    log_put32(out + 20, h->flags);
    memcpy(out + 24, h->db_id, 16);
    log_put64(out + 40, h->base_seq);
    log_block_seal(out);
}

int arm_file_hdr_decode(const uint8_t *p, size_t n, arm_file_hdr *h) {
    if (log_block_check(p, n, log_file_magic) != ARM_OK) return ARM_CORRUPT;
    h->version = log_get32(p + 8);
    h->shard = log_get32(p + 12);
    h->fid = log_get32(p + 16);
    h->flags = log_get32(p + 20);
    memcpy(h->db_id, p + 24, 16);
    h->base_seq = log_get64(p + 40);
    if (h->base_seq >= ARM_SEQ_MAX) return ARM_ERR(ARM_CORRUPT);
    return ARM_OK;
}

/* ------------------------------------------------------------ entries */
void arm_entry_encode(uint8_t out[ARM_ENTRY_HEADER], uint8_t type, uint8_t flags, uint64_t seq,
                      arm_slice key, arm_slice value) {
    assert(key.len >= 1 && key.len <= ARM_KEY_SIZE_MAX);
    assert(type != ARM_ENTRY_DEL || value.len == 0);
    out[4] = type;
    out[5] = flags;
    log_put16(out + 6, (uint16_t)key.len);
    log_put32(out + 8, (uint32_t)value.len);
    log_put64(out + 12, seq);
    arm_hash_state st;
    arm_hash_checksum_begin(&st);
    arm_hash_checksum_update(&st, out + 4, ARM_ENTRY_HEADER - 4);
    arm_hash_checksum_update(&st, key.ptr, key.len);
    if (value.len) arm_hash_checksum_update(&st, value.ptr, value.len);
    log_put32(out, (uint32_t)arm_hash_checksum_end(&st));
}

void arm_entry_header(uint8_t out[ARM_ENTRY_HEADER], uint8_t type, uint8_t flags, uint64_t seq,
                      size_t klen, size_t vlen) {
    assert(klen >= 1 && klen <= ARM_KEY_SIZE_MAX);
    log_put32(out, 0);
    out[4] = type;
    out[5] = flags;
    log_put16(out + 6, (uint16_t)klen);
    log_put32(out + 8, (uint32_t)vlen);
    log_put64(out + 12, seq);
}

void arm_entry_seal(uint8_t *p, size_t len) {
    assert(len >= ARM_ENTRY_HEADER);
    log_put32(p, (uint32_t)arm_hash_checksum(p + 4, len - 4));
}

/* The rules every entry header obeys, whether it is read from a data file or
 * from a hint record (one place, so a new kind of entry is taught once). */
static int log_hdr_ok(const arm_entry_hdr *h) {
    if (h->type < ARM_ENTRY_PUT || h->type > ARM_ENTRY_REPL_POS) return ARM_CORRUPT;
    if (h->klen == 0 || (h->flags & ~(ARM_ENTRY_TXN | ARM_ENTRY_TXN_END)) != 0) return ARM_CORRUPT;
    if ((h->flags & ARM_ENTRY_TXN_END) && !(h->flags & ARM_ENTRY_TXN)) return ARM_CORRUPT;
    if (h->type == ARM_ENTRY_DEL && h->vlen != 0) return ARM_CORRUPT;
    /* A TXNINFO opens a batch (never ends one: a batch has data after it);
     * a DECISION stands alone. */
    if (h->type == ARM_ENTRY_TXNINFO &&
        (h->flags != ARM_ENTRY_TXN || h->klen != 1 || h->vlen != ARM_TXNINFO_VLEN))
        return ARM_CORRUPT;
    if (h->type == ARM_ENTRY_DECISION &&
        (h->flags != 0 || h->klen != ARM_DECISION_KLEN || h->vlen != 1))
        return ARM_CORRUPT;
    if (h->type == ARM_ENTRY_REPL_POS &&
        (h->klen != ARM_REPL_POS_KLEN || h->vlen != ARM_REPL_POS_VLEN))
        return ARM_CORRUPT;
    if (h->seq == 0 || h->seq >= ARM_SEQ_MAX) return ARM_CORRUPT;
    return ARM_OK;
}

static int log_hdr_parse(const uint8_t *p, arm_entry_hdr *h) {
    h->checksum = log_get32(p);
    h->type = p[4];
    h->flags = p[5];
    h->klen = log_get16(p + 6);
    h->vlen = log_get32(p + 8);
    h->seq = log_get64(p + 12);
    return log_hdr_ok(h);
}

int arm_entry_decode(const uint8_t *p, size_t avail, uint32_t max_key, uint32_t max_value,
                     arm_entry_hdr *h) {
    if (avail < ARM_ENTRY_HEADER) return ARM_CORRUPT;
    if (log_hdr_parse(p, h) != ARM_OK) return ARM_CORRUPT;
    if (h->klen > max_key || h->vlen > max_value) return ARM_CORRUPT;
    size_t len = (size_t)ARM_ENTRY_HEADER + h->klen + h->vlen;
    if (len > avail) return ARM_CORRUPT;
    if ((uint32_t)arm_hash_checksum(p + 4, len - 4) != h->checksum) return ARM_CORRUPT;
    return ARM_OK;
}

size_t arm_entry_span(const uint8_t *p, size_t avail) {
    arm_entry_hdr h;
    if (avail < ARM_ENTRY_HEADER || log_hdr_parse(p, &h) != ARM_OK) return 0;
    return (size_t)ARM_ENTRY_HEADER + h.klen + h.vlen;
}

size_t arm_entry_find(const uint8_t *p, size_t size, size_t from) {
    for (size_t o = from; o + ARM_ENTRY_HEADER <= size; o++) {
        /* most bytes fail on the type alone: no header parse, no checksum */
        if (p[o + 4] < ARM_ENTRY_PUT || p[o + 4] > ARM_ENTRY_REPL_POS) continue;
        arm_entry_hdr h;
        if (arm_entry_decode(p + o, size - o, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) == ARM_OK) return o;
    }
    return size;
}

int arm_entry_verify(const uint8_t *p, size_t len) {
    arm_entry_hdr h;
    if (len < ARM_ENTRY_HEADER || log_hdr_parse(p, &h) != ARM_OK) return ARM_ERR(ARM_CORRUPT);
    if ((size_t)ARM_ENTRY_HEADER + h.klen + h.vlen != len) return ARM_ERR(ARM_CORRUPT);
    if ((uint32_t)arm_hash_checksum(p + 4, len - 4) != h.checksum) return ARM_ERR(ARM_CORRUPT);
    return ARM_OK;
}

/* --------------------------------------------------------- hint files */
_Static_assert(ARM_HINT_HEADER_SIZE == 64, "the hint header is the 64-byte frame");

void arm_hint_hdr_encode(const arm_hint_hdr *h, uint8_t out[ARM_HINT_HEADER_SIZE]) {
    memset(out, 0, ARM_HINT_HEADER_SIZE);
    memcpy(out, log_hint_magic, 8);
    log_put32(out + 8, h->version);
    log_put32(out + 12, h->shard);
    log_put32(out + 16, h->fid);
    log_put32(out + 20, h->flags);
    memcpy(out + 24, h->db_id, 16);
    log_put64(out + 40, h->log_size);
    log_block_seal(out);
}

int arm_hint_hdr_decode(const uint8_t *p, size_t n, arm_hint_hdr *h) {
    if (log_block_check(p, n, log_hint_magic) != ARM_OK) return ARM_CORRUPT;
    h->version = log_get32(p + 8);
    h->shard = log_get32(p + 12);
    h->fid = log_get32(p + 16);
    h->flags = log_get32(p + 20);
    memcpy(h->db_id, p + 24, 16);
    h->log_size = log_get64(p + 40);
    if (h->log_size < ARM_FILE_HEADER_SIZE || h->log_size > ARM_FILE_SIZE_MAX)
        return ARM_ERR(ARM_CORRUPT);
    return ARM_OK;
}

void arm_hint_rec_encode(uint8_t out[ARM_HINT_RECORD], const arm_entry_hdr *h, uint32_t off) {
    assert(log_hdr_ok(h) == ARM_OK);
    out[0] = h->type;
    out[1] = h->flags;
    log_put16(out + 2, h->klen);
    log_put32(out + 4, off);
    log_put32(out + 8, h->vlen);
    log_put64(out + 12, h->seq);
}

void arm_hint_footer_encode(uint8_t out[ARM_HINT_FOOTER], uint64_t count, uint64_t checksum) {
    memcpy(out, log_hint_end, 8);
    log_put64(out + 8, count);
    log_put64(out + 16, checksum);
}

/* The record at p[pos..n) as an entry header, its offset and its key (with
 * the value after it when the record carries one), with the structure rules
 * checked (not the order: arm_hint_check does that). */
static int log_hint_rec(const uint8_t *p, size_t n, size_t pos, arm_hint_rec *r) {
    if (pos > n || n - pos < ARM_HINT_RECORD) return ARM_CORRUPT;
    const uint8_t *q = p + pos;
    r->h.checksum = 0; /* a record carries the entry's offset in its place */
    r->h.type = q[0];
    r->h.flags = q[1];
    r->h.klen = log_get16(q + 2);
    r->off = log_get32(q + 4);
    r->h.vlen = log_get32(q + 8);
    r->h.seq = log_get64(q + 12);
    if (log_hdr_ok(&r->h) != ARM_OK) return ARM_CORRUPT;
    if (n - pos - ARM_HINT_RECORD < (uint64_t)r->h.klen + arm_hint_value_len(&r->h))
        return ARM_CORRUPT;
    r->key = q + ARM_HINT_RECORD;
    return ARM_OK;
}

int arm_hint_check(const uint8_t *p, size_t n, arm_hint_hdr *h) {
    if (n < ARM_HINT_HEADER_SIZE + ARM_HINT_FOOTER) return ARM_CORRUPT;
    if (arm_hint_hdr_decode(p, n, h) != ARM_OK || h->version != ARM_FORMAT_VERSION)
        return ARM_CORRUPT;
    const uint8_t *foot = p + n - ARM_HINT_FOOTER;
    if (memcmp(foot, log_hint_end, 8) != 0) return ARM_CORRUPT;
    if (log_get64(foot + 16) != arm_hash_checksum(p, n - 8)) return ARM_CORRUPT;
    /* The records tile the data file from its header to log_size. */
    size_t pos = ARM_HINT_HEADER_SIZE, body = n - ARM_HINT_FOOTER;
    uint64_t expect = ARM_FILE_HEADER_SIZE, count = 0;
    while (pos < body) {
        arm_hint_rec r;
        if (log_hint_rec(p, body, pos, &r) != ARM_OK || r.off != expect) return ARM_CORRUPT;
        expect += arm_entry_size(r.h.klen, r.h.vlen);
        if (expect > h->log_size) return ARM_CORRUPT;
        pos += ARM_HINT_RECORD + r.h.klen + arm_hint_value_len(&r.h);
        count++;
    }
    if (expect != h->log_size || count != log_get64(foot + 8)) return ARM_CORRUPT;
    return ARM_OK;
}

int arm_hint_next(const uint8_t *p, size_t n, size_t *pos, arm_hint_rec *r) {
    assert(n >= ARM_HINT_HEADER_SIZE + ARM_HINT_FOOTER && *pos >= ARM_HINT_HEADER_SIZE);
    if (*pos >= n - ARM_HINT_FOOTER) return ARM_NOTFOUND;
    if (log_hint_rec(p, n - ARM_HINT_FOOTER, *pos, r) != ARM_OK) return ARM_ERR(ARM_CORRUPT);
    *pos += ARM_HINT_RECORD + r->h.klen + arm_hint_value_len(&r->h);
    return ARM_OK;
}

/* ------------------------------------------------------ REPL_POS value */
void arm_repl_pos_encode(uint8_t out[ARM_REPL_POS_VLEN], const uint8_t leader[16],
                         const arm_log_pos *pos, uint32_t flags) {
    memset(out, 0, ARM_REPL_POS_VLEN);
    memcpy(out, leader, 16);
    log_put64(out + 16, pos->seq);
    log_put64(out + 24, pos->off);
    log_put32(out + 32, pos->fid);
    log_put32(out + 36, pos->len);
    log_put32(out + 40, flags);
}

int arm_repl_pos_decode(const uint8_t *p, size_t n, uint8_t leader[16], arm_log_pos *pos,
                        uint32_t *flags) {
    if (n != ARM_REPL_POS_VLEN) return ARM_ERR(ARM_CORRUPT);
    memcpy(leader, p, 16);
    pos->seq = log_get64(p + 16);
    pos->off = log_get64(p + 24);
    pos->fid = log_get32(p + 32);
    pos->len = log_get32(p + 36);
    *flags = log_get32(p + 40);
    if ((*flags & ~(uint32_t)ARM_REPL_RESYNC) != 0 || log_get32(p + 44) != 0)
        return ARM_ERR(ARM_CORRUPT);
    int origin = pos->seq == 0 && pos->off == 0 && pos->fid == 0 && pos->len == 0;
    if (!origin && (pos->seq == 0 || pos->seq >= ARM_SEQ_MAX || pos->fid == 0 || pos->len < ARM_ENTRY_HEADER ||
                    pos->off < ARM_FILE_HEADER_SIZE + pos->len))
        return ARM_ERR(ARM_CORRUPT);
    return ARM_OK;
}

/* LOCK (ARCHITECTURE.md "LOCK"): 0 u8 state, 1 u64 sequence floor, 9 u64
 * checksum of bytes 0..8. Written in place with one pwrite: within a sector. */
void arm_lock_encode(uint8_t out[ARM_LOCK_BYTES], uint8_t state, uint64_t floor) {
    out[0] = state;
    log_put64(out + 1, floor);
    log_put64(out + 9, arm_hash_checksum(out, 9));
}

int arm_lock_decode(const uint8_t *p, size_t n, uint8_t *state, uint64_t *floor) {
    *state = 0;
    *floor = 0;
    if (n < ARM_LOCK_BYTES || log_get64(p + 9) != arm_hash_checksum(p, 9)) return ARM_CORRUPT;
    if (p[0] != ARM_LOCK_OPEN && p[0] != ARM_LOCK_CLEAN) return ARM_CORRUPT;
    *state = p[0];
    *floor = log_get64(p + 1);
    return ARM_OK;
}
