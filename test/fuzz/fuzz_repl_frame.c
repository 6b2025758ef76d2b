/* SPDX-License-Identifier: MIT */
/*
 * fuzz_repl_frame.c: libFuzzer target for the replication frame and message
 * decoders (repl/repl_wire.c). The input is a stream of frames as a receiver
 * reads it (raw bytes), or sealed records that become frames with good
 * checksums (fuzz_repl.h), so mutations reach the message decoders.
 *
 * Frames are decoded one after the other, as a connection does, until one
 * fails or the input ends. Invariants:
 *   - the header is accepted exactly when a reference rule written from
 *     ARCHITECTURE.md accepts it (checksum, type, flags, shard field, length
 *     within the payload bound and the type's bounds);
 *   - an incomplete frame asks for more bytes than there are; an accepted one
 *     lies within the input and re-encodes to the same bytes;
 *   - every message that decodes re-encodes to the same payload (the
 *     decoders accept only canonical forms);
 *   - TXN / SNAP_CHUNK parts go through an assembler; a whole message's
 *     entries iterate to exactly its byte count, and encoding them again
 *     (cut at the smallest payload bound) and reassembling gives the same
 *     stream;
 *   - every position a decoder accepts is one by the reference rule of
 *     ARCHITECTURE.md (all zero, or seq in [1, 2^62), fid >= 1 and
 *     20 <= len <= off);
 *   - the session checks (direction, shard) never crash.
 */
#include "fuzz_repl.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ------------------------------------------------- reference header rule */
static int fr_ref_hdr_ok(const uint8_t *h, uint32_t payload_max) {
    if (fz_get32(h + 12) != (uint32_t)arm_hash_checksum(h, 12)) return 0;
    uint32_t len = fz_get32(h);
    uint8_t type = h[4], flags = h[5];
    uint16_t shard = fz_get16(h + 6);
    if (type < 1 || type > 11 || flags != 0 || len > payload_max) return 0;
    static const uint32_t lo[12] = {0, 12, 32, 32, 24, 49, 32, 24, 8, 48, 49, 24};
    static const uint32_t hi[12] = {0, 1024, 32, 32, 24, 4194304, 32, 24, 248, 24600, 4194304, 24};
    if (len < lo[type] || len > hi[type]) return 0;
    int per_shard = type == 3 || type == 4 || type == 5 || type == 6;
    return per_shard ? shard < 1024 : shard == 0xFFFF;
}

/* ---------------------------------------------- reference position rule */
static int fr_ref_pos_ok(const arm_repl_pos *p) {
    if (p->seq == 0) return p->off == 0 && p->fid == 0 && p->len == 0;
    return p->seq < ((uint64_t)1 << 62) && p->fid >= 1 && p->len >= 20 && p->len <= p->off;
}

/* ------------------------------------------------------------ re-encode */
/* The frame `f` decoded from raw bytes: a fresh encoding of its payload
 * under its header fields is byte-identical. */
static void fr_same_frame(const repl_frame *f, const uint8_t *raw, size_t used) {
    arm_buf b = {0};
    FUZZ_CHECK(repl_wire_frame_append(&b, f->hdr.type, f->hdr.shard, f->payload, f->hdr.len) ==
               ARM_OK);
    FUZZ_CHECK(b.len == used && memcmp(b.ptr, raw, used) == 0);
    arm_buf_free(&b);
}

/* A message encoder's output must equal the frame it was decoded from. */
static void fr_same_as(const arm_buf *b, const repl_frame *f) {
    FUZZ_CHECK(b->len == REPL_FRAME_HDR + f->hdr.len);
    FUZZ_CHECK(memcmp(b->ptr + REPL_FRAME_HDR, f->payload, f->hdr.len) == 0);
}

static void fr_fixed(const repl_frame *f) {
    arm_buf b = {0};
    int rc = ARM_ERROR;
    switch (f->hdr.type) {
    case REPL_MSG_HELLO: {
        repl_hello h;
        if (repl_msg_hello_decode(f, &h, NULL) != ARM_OK) break;
        rc = repl_msg_hello_encode(&b, &h);
        FUZZ_CHECK(h.proto == ARM_REPL_PROTOCOL_VERSION && h.shard_count >= 1);
        break;
    }
    case REPL_MSG_AUTH: {
        uint8_t p[REPL_PROOF_BYTES];
        if (repl_msg_auth_decode(f, p, NULL) == ARM_OK) rc = repl_msg_auth_encode(&b, p);
        break;
    }
    case REPL_MSG_SUBSCRIBE: {
        repl_subscribe s;
        if (repl_msg_subscribe_decode(f, &s, NULL) == ARM_OK) {
            FUZZ_CHECK(fr_ref_pos_ok(&s.pos));
            rc = repl_msg_subscribe_encode(&b, f->hdr.shard, &s);
        }
        break;
    }
    case REPL_MSG_START: {
        arm_repl_pos p;
        if (repl_msg_start_decode(f, &p, NULL) == ARM_OK) {
            FUZZ_CHECK(fr_ref_pos_ok(&p));
            rc = repl_msg_start_encode(&b, f->hdr.shard, &p);
        }
        break;
    }
    case REPL_MSG_ACK: {
        repl_ack a;
        if (repl_msg_ack_decode(f, &a, NULL) == ARM_OK) {
            FUZZ_CHECK(fr_ref_pos_ok(&a.pos));
            rc = repl_msg_ack_encode(&b, f->hdr.shard, &a);
        }
        break;
    }
    case REPL_MSG_HEARTBEAT: {
        repl_heartbeat h;
        if (repl_msg_heartbeat_decode(f, &h, NULL) == ARM_OK)
            rc = repl_msg_heartbeat_encode(&b, &h);
        break;
    }
    case REPL_MSG_ERROR: {
        repl_error_msg e;
        if (repl_msg_error_decode(f, &e, NULL) != ARM_OK) break;
        FUZZ_CHECK(e.code != 0 && strlen(e.text) + 8 == f->hdr.len);
        rc = repl_msg_error_encode(&b, (int)e.code, e.text);
        break;
    }
    case REPL_MSG_SNAP_BEGIN: {
        repl_snap_begin s;
        static arm_repl_pos pos[REPL_SHARDS_MAX];
        if (repl_msg_snap_begin_decode(f, &s, NULL) != ARM_OK) break;
        for (uint32_t i = 0; i < s.shard_count; i++) {
            repl_snap_begin_pos(&s, i, &pos[i]);
            FUZZ_CHECK(fr_ref_pos_ok(&pos[i]));
        }
        rc = repl_msg_snap_begin_encode(&b, s.snap_id, s.keys, s.shard_count, pos);
        break;
    }
    case REPL_MSG_SNAP_END: {
        repl_snap_end e;
        if (repl_msg_snap_end_decode(f, &e, NULL) == ARM_OK) rc = repl_msg_snap_end_encode(&b, &e);
        break;
    }
    default: break;
    }
    if (rc == ARM_OK) fr_same_as(&b, f);
    arm_buf_free(&b);
}

/* ----------------------------------------------------------- parts */
/* A whole message from the assembler: iterate, re-encode, reassemble. */
static void fr_whole(const repl_asm *a) {
    const repl_part *h = &a->head;
    FUZZ_CHECK(h->bytes.len == h->total && h->count >= 1);
    static repl_entry ents[4096];
    FUZZ_CHECK(h->count <= 4096); /* bytes >= 9 per entry, inputs are small */
    repl_entry_iter it;
    repl_entry_iter_init(&it, h->bytes, h->count);
    uint64_t sum = 0;
    uint32_t n = 0;
    while (repl_entry_iter_next(&it, &ents[n])) {
        FUZZ_CHECK(ents[n].key.len >= 1);
        FUZZ_CHECK(ents[n].type == REPL_ENTRY_PUT || ents[n].val.len == 0);
        sum += repl_entry_size(&ents[n++]);
    }
    FUZZ_CHECK(n == h->count && sum == h->total);
    repl_part_enc enc;
    int rc = h->type == REPL_MSG_TXN
                 ? repl_part_enc_txn(&enc, h->shard, &h->after, ents, n, NULL)
                 : repl_part_enc_snap(&enc, h->snap_id, h->chunk_no, ents, n, NULL);
    FUZZ_CHECK(rc == ARM_OK && enc.total == h->total);
    arm_buf frames = {0};
    int more = 1;
    while (more)
        FUZZ_CHECK(repl_part_enc_next(&enc, &frames, ARM_REPL_PAYLOAD_MIN, &more) == ARM_OK);
    repl_asm b;
    repl_asm_init(&b, ARM_REPL_TXN_MAX);
    size_t off = 0;
    int complete = 0;
    while (off < frames.len) {
        repl_frame f;
        repl_part p;
        size_t used;
        FUZZ_CHECK(repl_wire_frame_decode(frames.ptr + off, frames.len - off, ARM_REPL_PAYLOAD_MIN,
                                          &f, &used, NULL) == ARM_OK);
        FUZZ_CHECK(repl_msg_part_decode(&f, &p, NULL) == ARM_OK);
        FUZZ_CHECK(!complete);
        FUZZ_CHECK(repl_asm_feed(&b, &p, &complete, NULL) == ARM_OK);
        off += used;
    }
    FUZZ_CHECK(complete && b.head.total == h->total && b.head.count == h->count);
    FUZZ_CHECK(memcmp(b.head.bytes.ptr, h->bytes.ptr, h->total) == 0);
    repl_asm_free(&b);
    arm_buf_free(&frames);
}

static void fr_part(const repl_frame *f, repl_asm *a, uint32_t shards) {
    repl_part p;
    if (repl_msg_part_decode(f, &p, NULL) != ARM_OK) return;
    FUZZ_CHECK(p.count >= 1 && p.part_off + p.bytes.len <= p.total);
    if (p.type == REPL_MSG_TXN) FUZZ_CHECK(p.after.seq != 0 && fr_ref_pos_ok(&p.after));
    if (repl_wire_check_shard(&f->hdr, shards, NULL) != ARM_OK) {
        FUZZ_CHECK(f->hdr.type == REPL_MSG_TXN && f->hdr.shard >= shards);
        return; /* a session rejects it here, before assembling anything */
    }
    int complete = 0;
    int pending = repl_asm_pending(a);
    if (repl_asm_feed(a, &p, &complete, NULL) != ARM_OK) {
        FUZZ_CHECK(!repl_asm_pending(a) && !complete);
        return;
    }
    FUZZ_CHECK(complete != repl_asm_pending(a));
    if (!pending && !complete) FUZZ_CHECK(p.part_off == 0 && p.bytes.len < p.total);
    if (complete) fr_whole(a);
}

static void fr_walk(const uint8_t *p, size_t n, uint8_t mode) {
    uint32_t pm = (mode & 2) ? ARM_REPL_PAYLOAD_MAX : ARM_REPL_PAYLOAD_MIN;
    uint8_t role = (mode & 4) ? REPL_ROLE_LEADER : REPL_ROLE_FOLLOWER;
    uint32_t shards = 1 + ((mode >> 3) & 3);
    repl_asm a;
    repl_asm_init(&a, (mode & 0x20) ? 4096 : ARM_REPL_TXN_MAX);
    size_t off = 0;
    while (off < n) {
        repl_frame f;
        repl_frame_hdr h;
        size_t used = 0;
        arm_repl_err err = {0, ""};
        if (n - off >= REPL_FRAME_HDR) {
            int hrc = repl_wire_hdr_decode(p + off, pm, &h, NULL);
            FUZZ_CHECK((hrc == ARM_OK) == fr_ref_hdr_ok(p + off, pm));
        }
        int rc = repl_wire_frame_decode(p + off, n - off, pm, &f, &used, &err);
        if (rc == ARM_NOTFOUND) {
            FUZZ_CHECK(used > n - off);
            break;
        }
        if (rc != ARM_OK) {
            FUZZ_CHECK(rc == ARM_PROTOCOL && err.rc == ARM_PROTOCOL && err.msg[0] != '\0');
            break;
        }
        FUZZ_CHECK(used == REPL_FRAME_HDR + f.hdr.len && used <= n - off);
        fr_same_frame(&f, p + off, used);
        (void)repl_wire_check_direction(f.hdr.type, role, NULL);
        if (f.hdr.type == REPL_MSG_TXN || f.hdr.type == REPL_MSG_SNAP_CHUNK)
            fr_part(&f, &a, shards);
        else
            fr_fixed(&f);
        off += used;
    }
    repl_asm_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t mode = data[0];
    if (mode & 1) {
        arm_buf b = {0};
        FUZZ_CHECK(fzr_seal_records(data + 1, size - 1, &b) == 0);
        /* exact-size copy: ASan catches any read past the end */
        uint8_t *copy = malloc(b.len ? b.len : 1);
        FUZZ_CHECK(copy != NULL);
        if (b.len) memcpy(copy, b.ptr, b.len);
        fr_walk(copy, b.len, mode);
        free(copy);
        arm_buf_free(&b);
    } else {
        fr_walk(data + 1, size - 1, mode);
    }
    return 0;
}
