/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame.h: the input framing of fuzz_recover (shared with mkcorpus.c).
 * An input is a tiny program that builds a database directory:
 *
 *   byte 0: config
 *     bits 0-1  shard_count - 1 (1..4)
 *     bit 2     index_kind hash (else ordered)
 *     bit 3     mmap_reads off
 *     bit 4     read cache of 64 KiB
 *     bit 5     shard_prefix_bits 8 (else 0)
 *     bit 6     max_file_size 128 KiB (else 64 KiB)
 *     bit 7     write_buffer_size 8192 (else 4096)
 *   then ops until the input ends: a tag byte (op = tag & 7, arg = tag >> 3)
 *   and its operands. Operands past the end of the input read as 0.
 *
 *   FR_FILE   shard u8 (dir shard-NNN, NNN = shard % 4, may be >= shard_count),
 *             fid: u8 (arg bit 3: u32 % 100000000), base_seq: u8 (arg bit 2:
 *             u64); header by arg & 3: 0 valid, 1 valid checksum but one
 *             field changed (selector u8, value u8), 2 64 raw input bytes,
 *             3 none; then, with arg bit 4, u8 picks a character from "+- " for
 *             the name's first digit (used only with env ARM_FUZZ_ODD_NAMES=1). Selects
 *             the file (an existing one is reused, as is).
 *   FR_ENTRY  f u8: bit 0 DELETE, bits 1-2 entry flags (TXN, TXN_END), bit 3
 *             seq u64 (else u8), bit 4 vlen u16 (else u8), bit 5 raw type u8
 *             and raw klen u8 (may be invalid), bit 6 bad checksum; then seq,
 *             [type, klen], vlen, key (klen = 1 + arg % 16 bytes), value seed
 *             u8 (value bytes are a pattern). Good checksum unless bit 6.
 *   FR_BATCH  n = 1 + arg % 8 entries, arg bit 3 seq u64 (else u8), arg bit 4
 *             leaves out TXN_END; per entry: u8 (bit 0 delete, bits 1-3
 *             klen - 1), key bytes, value seed u8.
 *   FR_RAW    n = 1 + u8 + 256 * arg raw input bytes.
 *   FR_PAD    1 + u8 + 512 * arg zero bytes (O_DIRECT padding).
 *   FR_TRUNC  cut u16 % (len + 1) bytes off the end.
 *   FR_FLIP   offset u16 % len, bit arg % 8.
 *   FR_REPEAT the last FR_ENTRY again 4 * (1 + arg) times, seq + 1 each.
 */
#ifndef ARM_FUZZ_FRAME_H
#define ARM_FUZZ_FRAME_H

enum {
    FR_FILE = 0,
    FR_ENTRY = 1,
    FR_BATCH = 2,
    FR_RAW = 3,
    FR_PAD = 4,
    FR_TRUNC = 5,
    FR_FLIP = 6,
    FR_REPEAT = 7,
};

#define FR_TAG(op, arg) ((uint8_t)((op) | ((arg) << 3)))

#define FR_CFG_HASH      0x04
#define FR_CFG_NO_MMAP   0x08
#define FR_CFG_CACHE     0x10
#define FR_CFG_PREFIX    0x20
#define FR_CFG_BIG_FILE  0x40
#define FR_CFG_BIG_BUF   0x80

#define FR_E_DEL     0x01
#define FR_E_TXN     0x02
#define FR_E_TXN_END 0x04
#define FR_E_SEQ64   0x08
#define FR_E_VLEN16  0x10
#define FR_E_RAW     0x20
#define FR_E_BADSUM  0x40

/* The db_id every generated database has. */
static const uint8_t fr_db_id[16] = {'f', 'u', 'z', 'z', '-', 'd', 'b', '-',
                                     'i', 'd', '-', '0', '1', '2', '3', '4'};

#endif
