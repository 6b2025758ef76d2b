/* SPDX-License-Identifier: MIT */
/*
 * file.h: the owner of data files and of the file table, private to engine/.
 * A data file (shard-NNN/FFFFFFFF.log) is created, opened, mapped, read,
 * written, sealed, retired and removed only through these functions, so no
 * other file touches a data file's bytes or its fds. Layer: above io.h and
 * log.c, below shard.c (the log), recover.c and engine.c; it calls none of
 * them.
 *
 * Lifetime. A file in the table is live until retired (by compaction:
 * compact.c, which also makes merged files through the merge functions
 * below). Code that keeps a location past the index lock under which
 * it found it holds a reference (arm_files_hold, arm_file_release); a
 * retired file stays whole (fds, mapping, name on disk) until its last
 * reference goes, and is then removed. Under a shard's index lock every file
 * an item of that index points into is live: compaction repoints items under
 * the write lock before it retires their old file.
 *
 * References are counted in per-thread stripes that live in the table beside
 * the file's slot, never in the arm_file: readers on different threads touch
 * different cache lines, and a release touches nothing the last release may
 * free.
 *
 * Bytes. Every write of data-file bytes goes through arm_file_write and
 * every read through arm_file_read, arm_file_view or arm_file_mapped, at
 * logical offsets: the block-level seam where encryption sits. In an
 * encrypted file, logical block b (ARM_CRYPT_BLOCK bytes) is physical block b
 * (4096 bytes, crypto.h); only this file maps one to the other, so every
 * byte above it is plaintext at logical offsets. A mapping is handed out only
 * where the bytes on disk are the plaintext.
 */
#ifndef ARM_FILE_H
#define ARM_FILE_H

#include "../common/arm_base.h"
#include "crypto.h"
#include "io.h"

#include <pthread.h>
#include <stdatomic.h>

#define ARM_FILE_CHUNK       1024u /* file table: slots per chunk */
#define ARM_FILE_CHUNKS_MAX  4096u /* => at most 4M data files */
#define ARM_FILE_STRIPES     16u   /* reference counters per file, one per thread stripe */
#define ARM_FILE_PATH_MAX    4200u /* bytes of a data-file path, with room for suffixes */

/* One data file. Fields are set when the file is created or opened; only
 * the ones marked otherwise change later. */
typedef struct arm_file {
    uint32_t fid;           /* database-wide id; file name %08u.log */
    uint32_t shard;         /* shard whose log this file belongs to */
    int fd;                 /* read/write fd (O_DIRECT when the shard writes direct);
                               -1 once sealed or when opened for reading. log mutex */
    int rfd;                /* buffered read-only fd: reads need no alignment */
    _Atomic uint64_t size;  /* logical bytes: header + entries appended */
    /* Bytes of entries no longer live, one counter per index shard: only
     * writers holding that shard's index write lock (or single-threaded
     * recovery) add to dead[i], so a plain load and store suffice. A locked
     * add here drained the store buffer (the entry just copied into the
     * write buffer) on every write. Sum for the total. */
    _Atomic uint64_t *dead; /* ndead counters, owned */
    uint32_t ndead;         /* = shard count */
    int plain;              /* 1: the bytes on disk are the plaintext (mappable) */
    arm_crypt *crypt;       /* encrypted file: the table's context (borrowed); NULL = plain */
    uint8_t *cbuf_raw;      /* encrypted, writable: room for sealed blocks, owned */
    uint8_t *cbuf;          /* cbuf_raw aligned to ARM_IO_BLOCK (O_DIRECT) */
    _Atomic uint64_t gen;   /* encrypted: names this file's bytes in the per-thread cache of
                               decrypted blocks; new when the file is cut (file.c) */
    int merged;             /* 1: written by compaction (header flag ARM_FILE_MERGED): copies
                               of entries, no part of its shard's log */
    _Atomic uint64_t merge_kept; /* compaction: bytes of its dead entries the merge that
                               wrote it had to keep (tombstones still needed, positions) */
    _Atomic uint32_t merge_bound; /* compaction: the largest bound of the tombstones it
                               kept (compact.c, cmp_tomb_needed); 0 = unknown (read at
                               open): then the file's own id, a looser bound */
    char *path;             /* owned */
    const uint8_t *map;     /* read-only shared mapping of the file, or NULL (pread) */
    uint64_t map_len;       /* bytes mapped; never read past the file's flushed end */
} arm_file;

typedef struct arm_files_chunk arm_files_chunk;

/* The file table: fid -> arm_file, chunked so lookups take no lock. */
typedef struct arm_files {
    pthread_mutex_t lock;   /* guards adding files, chunk creation and removal */
    uint32_t ndead;         /* dead-byte counters per file (the shard count) */
    arm_crypt *crypt;       /* encryption context for every file (borrowed), or NULL;
                               set before the first file is created or opened */
    /* chunk pointers are published once, atomically: readers take no lock */
    _Atomic(arm_files_chunk *) chunks[ARM_FILE_CHUNKS_MAX];

    /* Hint files: sealed files queued for one, written by a background
     * thread (a hint costs a pass over the file: never under the log mutex). */
    int hints;              /* write hints for sealed files (set before any is sealed) */
    uint8_t db_id[16];      /* stamped into each hint, with flags */
    uint32_t flags;
    pthread_mutex_t hint_lock; /* guards everything below */
    pthread_cond_t hint_cond;
    uint32_t *hint_queue;   /* fids waiting for a hint, owned */
    size_t hint_n, hint_cap;
    int hint_busy;          /* the thread is writing one */
    int hint_stop;
    int hint_running;
    pthread_t hint_thread;
} arm_files;

/* A counted reference to a file: while held, the file (fds, mapping, bytes)
 * stays readable even if it is retired. Owned by whoever took it; released
 * with arm_file_release, by any thread. */
typedef struct arm_file_ref {
    arm_files *table;       /* NULL: holds nothing */
    arm_file *file;
    uint32_t fid;
    uint32_t stripe;        /* the counter it was counted in */
} arm_file_ref;

/* References to many files at once, at most one per file: for a holder that
 * keeps locations in many files (a cursor's runs of keys). Zero-initialised
 * is empty. Belongs to one thread at a time. */
typedef struct arm_file_refs {
    arm_file_ref *slots;    /* open addressing by fid, cap of them; owned */
    uint32_t cap;           /* power of two, or 0 */
    uint32_t n;             /* references held */
    uint32_t last;          /* fid held most recently (0: none): the common case */
} arm_file_refs;

/* ------------------------------------------------------------- the table */
/* ARM_OK or ARM_NOMEM. ndead: dead-byte counters per file (shard count). */
ARM_PRIVATE int arm_files_init(arm_files *t, uint32_t ndead);
/* Free every file and the table. No reference may be held. Retired files
 * still on disk are removed; live ones are only closed. */
ARM_PRIVATE void arm_files_deinit(arm_files *t);
/* The file with this id, or NULL. No lock, no reference: the caller keeps
 * the file from going away (it holds a reference, or the index lock under
 * which it found a location in it). A retired file is still returned while
 * references to it are held. */
ARM_PRIVATE arm_file *arm_files_get(const arm_files *t, uint32_t fid);
/* Put f in the table (taking ownership only on ARM_OK). ARM_CORRUPT when the
 * id is taken (two files with one id), ARM_FULL past ARM_FILE_CHUNKS_MAX
 * chunks, ARM_NOMEM. */
ARM_PRIVATE int arm_files_add(arm_files *t, arm_file *f);
/* Take a reference to live file fid: ARM_OK, or ARM_NOTFOUND when there is
 * none or it is retired (*ref_out then holds nothing). Lock-free; safe from
 * any thread at any time. */
ARM_PRIVATE int arm_files_hold(arm_files *t, uint32_t fid, arm_file_ref *ref_out);
/* The live file with the smallest id >= *fid, held in *ref_out; *fid is left
 * just past it. ARM_NOTFOUND when there is none. Start with *fid = 0. */
ARM_PRIVATE int arm_files_hold_next(arm_files *t, uint32_t *fid, arm_file_ref *ref_out);
/* Drop a reference (NULL-safe: a ref holding nothing is a no-op). The last
 * release of a retired file removes it: unmapped, closed, unlinked. */
ARM_PRIVATE void arm_file_release(arm_file_ref *ref);
/* Hold file fid in set unless it holds it already. ARM_OK, ARM_NOTFOUND (no
 * live file fid), ARM_NOMEM. */
ARM_PRIVATE int arm_file_refs_hold(arm_file_refs *set, arm_files *t, uint32_t fid);
/* Release everything the set holds (it stays usable). */
ARM_PRIVATE void arm_file_refs_clear(arm_file_refs *set);
/* Release everything and free the set's memory. */
ARM_PRIVATE void arm_file_refs_free(arm_file_refs *set);
/* ---- hint files (FFFFFFFF.hint beside a sealed FFFFFFFF.log) */
/* Start the thread that writes hints for sealed files (t->hints, db_id and
 * flags set first). ARM_OK or ARM_NOMEM. */
ARM_PRIVATE int arm_files_hints_start(arm_files *t);
/* Queue file fid for a hint (nothing when t->hints is 0). A hint that cannot
 * be queued or written is skipped: the next open scans the file and queues
 * it again. */
ARM_PRIVATE void arm_files_hints_queue(arm_files *t, uint32_t fid);
/* Wait until every queued hint is written (tests). */
#ifndef ARM_AMALGAMATION
ARM_PRIVATE void arm_files_hints_drain(arm_files *t);
#endif
/* Write what is queued, then stop the thread (no-op when not started). */
ARM_PRIVATE void arm_files_hints_stop(arm_files *t);
/* Write f's hint now: scan the sealed file (every entry's checksum verified;
 * none is written for a file that does not scan clean to its end), write
 * FFFFFFFF.hint.tmp, fdatasync, rename, fsync the directory, so a crash
 * leaves no hint or a whole one. ARM_OK, ARM_CORRUPT (the file does not scan
 * clean), ARM_IOERR/ARM_FULL/ARM_NOMEM. Sets no message. */
ARM_PRIVATE int arm_file_write_hint(arm_file *f, const uint8_t db_id[16], uint32_t flags);
/* Map f's hint and check it describes f as it is: every check of
 * arm_hint_check, and the header's fid, shard, db_id, flags and log_size
 * (= log_size, the data file's size). ARM_OK and *view_out, *size_out (release
 * with arm_file_unview); ARM_NOTFOUND when there is none; ARM_CORRUPT when it
 * is damaged, truncated or stale. Sets no message. */
ARM_PRIVATE int arm_file_open_hint(arm_file *f, const uint8_t db_id[16], uint32_t flags,
                                   uint64_t log_size, const uint8_t **view_out,
                                   uint64_t *size_out);
/* Remove f's hint (before f is written again: a hint describes a sealed file). */
ARM_PRIVATE void arm_file_unlink_hint(const arm_file *f);

/* Retire file fid: from now on it cannot be held anew, and when no reference
 * is left it is removed from the table and from disk. The caller has moved
 * every live entry out of it (no index item points into it) and it is not a
 * shard's active file. ARM_OK; ARM_NOTFOUND when no live file has that id. */
ARM_PRIVATE int arm_files_retire(arm_files *t, uint32_t fid);
/* Compaction: retire file fid and remove its names from disk now (hint,
 * then data file, then the directory synced), not at its last release:
 * holders keep reading through their fds and mappings, and the caller
 * decides the order in which names go (recovery must never find a newer
 * file gone while an older one it depends on is there). ARM_OK,
 * ARM_NOTFOUND (no live file fid), ARM_IOERR (the directory sync failed:
 * message set; the file is retired anyway). */
ARM_PRIVATE int arm_files_retire_unlink(arm_files *t, uint32_t fid);

/* ---- merge output (compact.c). A merged file is written under a temporary
 * name (FFFFFFFF.merge) that open removes, so a merge cut short leaves
 * nothing; published, it is FFFFFFFF.log like any data file. */
/* A new merged file fid of shard `shard` in dir, created exclusively under
 * its temporary name, opened for writing (buffered) and reading; not in the
 * table. ARM_OK and *file_out (owned until published), or ARM_IOERR/
 * ARM_FULL/ARM_NOMEM (message set, nothing left behind). */
ARM_PRIVATE int arm_file_merge_create(const arm_files *t, const char *dir, uint32_t shard,
                                      uint32_t fid, arm_file **file_out);
/* Make merged file f (size set: every byte written) durable under its real
 * name: fdatasync, rename, fsync the directory; close the write fd, map it
 * (map: whether to) and put it in the table (owned by it from then on, even
 * on failure). ARM_OK, or ARM_IOERR/ARM_FULL/ARM_CORRUPT/ARM_NOMEM with the
 * message set. */
ARM_PRIVATE int arm_file_merge_publish(arm_files *t, arm_file *f, int map);
/* Remove a merged file that was not published, and free it (NULL allowed). */
ARM_PRIVATE void arm_file_merge_discard(arm_file *f);

/* -------------------------------------------------------- one data file */
/* A data file's path: <dir>/%08u.log. */
ARM_PRIVATE void arm_file_path(char *buf, size_t n, const char *dir, uint32_t fid);
/* A new arm_file for (dir, shard, fid) with its path set and no fds open
 * (fd, rfd -1). ARM_OK or ARM_NOMEM; free with arm_file_free. */
ARM_PRIVATE int arm_file_new(const arm_files *t, const char *dir, uint32_t shard, uint32_t fid,
                             arm_file **file_out);
/* Unmap, close and free a file that is in no table (NULL allowed). */
ARM_PRIVATE void arm_file_free(arm_file *f);
/* Create data file fid in dir (exclusively), open it for writing and reading,
 * make its name durable (fsync dir), map map_len bytes when map_len > 0 and
 * put it in the table. *direct_io: in, whether to try O_DIRECT; out, whether
 * it is used (the file system may refuse it). Returns ARM_OK with *file_out
 * borrowed (the table owns it), or ARM_IOERR/ARM_FULL/ARM_NOMEM/ARM_CORRUPT
 * with the message set and nothing left behind. */
ARM_PRIVATE int arm_file_create(arm_files *t, const char *dir, uint32_t shard, uint32_t fid,
                                int *direct_io, uint64_t map_len, arm_file **file_out);
/* Open existing data file fid in dir for reading: *file_out owned (not in
 * the table yet: arm_files_add, or arm_file_free), *size_out its size on
 * disk. ARM_IOERR (message set), ARM_CORRUPT (larger than any data file),
 * ARM_NOMEM. */
ARM_PRIVATE int arm_file_open(const arm_files *t, const char *dir, uint32_t shard, uint32_t fid,
                              arm_file **file_out, uint64_t *size_out);
/* The file's logical size on disk (fstat; for an encrypted file, from its
 * last block's length). ARM_OK or ARM_IOERR. */
ARM_PRIVATE int arm_file_disk_size(arm_file *f, uint64_t *size_out);
/* A shard's newest file may end in a tail block a crash tore while it was
 * rewritten (an encrypted tail block is rewritten whole): when the block
 * *size ends in does not open, *size becomes that block's start, so the
 * recovery that follows cuts it like any torn write. No-op for a plain file.
 * ARM_OK or ARM_IOERR. */
ARM_PRIVATE int arm_file_torn_tail(arm_file *f, uint64_t *size);
/* Map len bytes of f for zero-copy reads (may exceed the file: only bytes
 * already in it are ever touched). Failure leaves f->map NULL (reads then go
 * through arm_file_read). */
ARM_PRIVATE void arm_file_map(arm_file *f, uint64_t len);
/* Logical bytes per block: writers that rewrite a tail block (shard.c) align
 * to this. 4096 for a plain file, ARM_CRYPT_BLOCK for an encrypted one. */
static inline uint64_t arm_file_block(const arm_file *f) {
    return f->crypt ? ARM_CRYPT_BLOCK : ARM_IO_BLOCK;
}
/* Pointer to bytes [off, off+n) of f in its mapping, or NULL when unmapped
 * there. The caller knows the bytes are in the file already (a sealed file,
 * or below the active file's flushed end). */
static inline const uint8_t *arm_file_mapped(const arm_file *f, uint64_t off, size_t n) {
    if (f->map == NULL || off + n > f->map_len) return NULL;
    return f->map + off;
}
/* A read-only view of bytes [0, size) for a sequential pass (recovery,
 * check, hints): ARM_OK and *view_out, released with arm_file_unview;
 * ARM_IOERR (message set). size 0 gives NULL. An encrypted file is
 * decrypted into the view; a block in it that is missing or fails
 * authentication is ARM_CORRUPT, the message naming the file and the
 * block's offset (no made-up byte is ever in a view). */
ARM_PRIVATE int arm_file_view(arm_file *f, uint64_t size, const uint8_t **view_out);
ARM_PRIVATE void arm_file_unview(const uint8_t *view, uint64_t size);
/* Copy file bytes [off, off+n) into dst. ARM_OK, ARM_IOERR (*err_out
 * errno), ARM_CORRUPT (the file is shorter, or a block of an encrypted file
 * fails authentication). Sets no message. */
ARM_PRIVATE int arm_file_read(arm_file *f, uint64_t off, void *dst, size_t n, int *err_out);
/* Write n bytes at off through the write fd (the ring when given; O_DIRECT
 * files need ARM_IO_BLOCK-aligned off, n and buf). buf belongs to the ring
 * until this returns. An encrypted file takes off at a block boundary
 * (arm_file_block) and any n: each block is sealed under a fresh nonce into
 * f's own aligned buffer, the last one holding what is left (a tail block
 * that is rewritten whole as it grows). ARM_OK, ARM_IOERR/ARM_FULL (*err_out
 * errno), ARM_NOMEM. Sets no message. */
ARM_PRIVATE int arm_file_write(arm_file *f, arm_io_ring *ring, const void *buf, size_t n,
                               uint64_t off, int *err_out);
/* Cut the file to size logical bytes (write fd); an encrypted file's block
 * that size ends inside is sealed again holding only what lies below size.
 * Sets no message. */
ARM_PRIVATE int arm_file_truncate(arm_file *f, uint64_t size, int *err_out);
/* fdatasync the write fd. Sets no message. */
ARM_PRIVATE int arm_file_datasync(arm_file *f, int *err_out);
/* A duplicate of the write fd for an fdatasync made without the log mutex
 * (a rotation may seal f meanwhile; the duplicate keeps the open file
 * alive). Then arm_file_sync_dup syncs and closes it. */
ARM_PRIVATE int arm_file_dup_writer(arm_file *f, int *fd_out, int *err_out);
ARM_PRIVATE int arm_file_sync_dup(int fd, int *err_out);
/* Seal f at its logical end: drop whatever lies past size (block padding, a
 * failed write's bytes), fdatasync. Writes keep working until
 * arm_files_sealed. ARM_OK or ARM_IOERR/ARM_FULL (message set). */
ARM_PRIVATE int arm_file_seal(arm_file *f, uint64_t size);
/* The shard writes to f no more (its successor is in place): the write fd is
 * closed and f is queued for a hint file. */
ARM_PRIVATE void arm_files_sealed(arm_files *t, arm_file *f);
/* Reopen a recovered file for appending at end: write fd (O_DIRECT when
 * *direct_io and the file system allows; *direct_io says what is used), the
 * file cut to end and synced. ARM_OK or ARM_IOERR (message set). */
ARM_PRIVATE int arm_file_reopen_writer(arm_file *f, int *direct_io, uint64_t end);

/* Dead-byte accounting. Adds n to f's counter for index shard `shard`, whose
 * index write lock the caller holds (or recovery, single-threaded). */
static inline void arm_file_count_dead(arm_file *f, uint32_t shard, uint64_t n) {
    atomic_store_explicit(&f->dead[shard],
                          atomic_load_explicit(&f->dead[shard], memory_order_relaxed) + n,
                          memory_order_relaxed);
}
ARM_PRIVATE uint64_t arm_file_dead(const arm_file *f);

/* ------------------------------------------------- a shard's directory */
/* The data-file ids in a shard directory (exactly eight digits and .log),
 * sorted. *ids_out owned (arm_free). A missing directory is no files. With
 * tidy, leftovers are removed: of an interrupted hint write (.hint.tmp), of
 * an interrupted merge (.merge), and hints whose data file is gone (a crash
 * between a retired file's two unlinks). */
ARM_PRIVATE int arm_files_list(const char *dir, int tidy, uint32_t **ids_out, size_t *n_out);
/* 1 when data file fid in dir holds nothing but zeros (or nothing at all). */
ARM_PRIVATE int arm_file_blank(const char *dir, uint32_t fid);
/* Remove data file fid's name (a blank file). */
ARM_PRIVATE void arm_file_unlink(const char *dir, uint32_t fid);
/* Rename data file fid to PATH.suffix (kept for inspection, never read
 * again). ARM_OK or ARM_IOERR (message set). */
ARM_PRIVATE int arm_file_set_aside(const char *dir, uint32_t fid, const char *suffix);
/* Remove every name the engine makes in a shard directory (data files,
 * .log.torn, .log.cut-N, .hint, .hint.tmp, .merge), then the directory if that
 * empties it.
 * ARM_OK or ARM_IOERR (message set). */
ARM_PRIVATE int arm_files_destroy_dir(const char *dir);

#endif
