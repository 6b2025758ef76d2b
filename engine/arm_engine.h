/* SPDX-License-Identifier: MIT */
/*
 * arm_engine.h: the public C API of the armdb storage engine, usable without
 * SQLite. A database is a directory of per-shard append-only logs with an
 * in-memory index (ordered or hash). Every function is thread-safe unless it
 * says otherwise: any number of threads may share one arm_engine. Cursors and
 * batches belong to one thread at a time.
 *
 * Ownership: whoever allocates frees, through the paired function; out
 * parameters are set to NULL/0 on entry and filled only on success.
 * "Borrowed until X" means the memory stays valid only until X happens.
 *
 * Errors: every function returns an ARM_* code from arm_base.h. A message for
 * the most recent failure on the calling thread is kept by
 * arm_engine_errmsg(); ARM_NOTFOUND is a normal result and sets no message.
 */
#ifndef ARM_ENGINE_H
#define ARM_ENGINE_H

#include "../common/arm_base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct arm_engine arm_engine;
typedef struct arm_cursor arm_cursor;
typedef struct arm_batch arm_batch;

/* ---------------------------------------------------------------- options */
enum arm_sync_mode {
    ARM_SYNC_OFF = 0,    /* write buffer may hold recent commits until full or flushed */
    ARM_SYNC_NORMAL = 1, /* commit hands data to the kernel; background fdatasync every 100 ms */
    ARM_SYNC_FULL = 2,   /* commit returns after fdatasync; concurrent committers share one */
};

enum arm_index_kind {
    ARM_INDEX_ORDERED = 0, /* ordered: range scans and ordered cursors */
    ARM_INDEX_HASH = 1,    /* hash: point operations; cursors visit keys in no order */
};

enum arm_io_backend {
    ARM_IO_AUTO = 0,  /* io_uring + O_DIRECT where available, else pwrite */
    ARM_IO_POSIX = 1, /* plain pwrite/pread, page cache */
    ARM_IO_URING = 2, /* require io_uring (O_DIRECT still falls back if refused) */
};

typedef struct arm_engine_options {
    uint32_t shard_count;       /* 0 = number of CPUs; fixed at creation (0 on reopen = as stored) */
    uint32_t shard_prefix_bits; /* route by hash of the first N bits of the key (at most 512);
                                   0 = whole key. fixed at creation */
    uint64_t max_file_size;     /* bytes; data files rotate past this. default 256 MiB */
    uint32_t write_buffer_size; /* bytes per shard, multiple of 4096. default 1 MiB */
    int sync_mode;              /* enum arm_sync_mode; default ARM_SYNC_NORMAL */
    double compaction_threshold; /* dead/total bytes that makes a file worth merging; 0.3 */
    int index_kind;              /* enum arm_index_kind; default ARM_INDEX_ORDERED */
    uint64_t cache_size;         /* read cache bytes (0 = none). default 0 */
    uint32_t max_key_size;       /* bytes, 1..65535. default 1024 */
    uint32_t max_value_size;     /* bytes, at most max_file_size minus overheads. default 16 MiB */
    int io_backend;              /* enum arm_io_backend; default ARM_IO_AUTO */
    int read_only;               /* 1 = open for reading/salvage: no writes, damage tolerated */
    int create_if_missing;       /* default 1 */
    int mmap_reads;              /* read data files through a read-only mapping (default 1):
                                    no syscall per read; 0 = pread, where an I/O error is an
                                    error code rather than SIGBUS */
    const void *app_meta;        /* application metadata stored when the database is created
                                    (borrowed for the open call; NULL = none). See
                                    arm_engine_app_meta_get */
    uint32_t app_meta_len;       /* its bytes, at most 65536 */
} arm_engine_options;

/* Fill *opts with the defaults above. */
void arm_engine_options_init(arm_engine_options *opts);

/* ------------------------------------------------------------ open/close */
/**
 * Open the database in directory `dir`, creating it (and the directory) if
 * missing and opts->create_if_missing. opts may be NULL for defaults.
 * Recovery runs here: the index is rebuilt from the data files; a torn or bad
 * entry at the tail of a shard's newest file is truncated away.
 *
 * Returns ARM_OK and sets *engine_out (owned: arm_engine_close);
 * ARM_BUSY    another process holds the directory's lock (message names dir);
 * ARM_CORRUPT damage inside an older file or in the metadata (message names
 *             file and offset); with opts->read_only the engine opens anyway
 *             and serves everything readable (all but the damaged file's
 *             part from the damage on);
 * ARM_MISUSE  bad option (message names it), or shard_count differs from the
 *             stored one;
 * ARM_CORRUPT also when ARMDB is missing but shard directories hold data
 *             files: metadata is never created over existing data (the
 *             message names a data file);
 * ARM_TOOBIG  opts->app_meta_len over 65536;
 * ARM_IOERR, ARM_NOMEM, ARM_NOTFOUND (missing and !create_if_missing).
 * Within one process, a second open of the same directory returns ARM_BUSY:
 * share the handle instead (ext/ does).
 */
ARM_WARN_UNUSED int arm_engine_open(const char *dir, const arm_engine_options *opts,
                                    arm_engine **engine_out);

/**
 * Flush every write buffer, fdatasync, release the lock and free everything.
 * NULL is allowed. The engine is freed even when the final flush fails; the
 * failure is returned (ARM_IOERR / ARM_PANIC). No other thread may be using
 * the engine, and every cursor and batch must be closed first.
 */
int arm_engine_close(arm_engine *engine);

/**
 * Application metadata: bytes the engine keeps for its user beside the
 * database's own metadata and gives no meaning (the SQLite extension keeps a
 * table's declaration there). Stored at creation from opts->app_meta, before
 * the database itself, so a database never exists without the blob it was
 * created with; a database created without one (or by an older version)
 * has none until set.
 *
 * get: a copy into *out (grown as needed, owned by the caller). ARM_OK;
 * ARM_NOTFOUND when the database has none; ARM_NOMEM. A damaged or foreign
 * (copied from another database) APPMETA file fails arm_engine_open with
 * ARM_CORRUPT instead; read_only opens treat it as absent.
 *
 * set: replace it atomically and durably (tmp file, fsync, rename, fsync of
 * the directory): after a crash the old or the new blob is there, whole.
 * ARM_OK; ARM_READONLY (engine opened read-only); ARM_TOOBIG (over 65536
 * bytes); ARM_IOERR / ARM_FULL (nothing changed); ARM_NOMEM. Thread-safe;
 * concurrent sets are serialised (the last one wins).
 */
ARM_WARN_UNUSED int arm_engine_app_meta_get(arm_engine *engine, arm_buf *out);
ARM_WARN_UNUSED int arm_engine_app_meta_set(arm_engine *engine, arm_slice meta);

/**
 * After fork(), in the child: let go of an engine the parent opened, without
 * flushing, syncing, joining or freeing anything (the parent's threads do not
 * exist in the child, its buffers and file offsets are the parent's, and its
 * locks may have been held at the fork). Closes the child's copy of the
 * directory lock's descriptor, which would otherwise keep the parent's lock
 * alive after the parent closes. The engine's memory is left as it is; the
 * handle must not be used again (not even closed) in this process. Never
 * blocks; NULL is allowed.
 */
void arm_engine_abandon(arm_engine *engine);

/* Message for the calling thread's last failure (any engine, or an open that
 * failed). Never NULL; "" when there is none. Borrowed until the thread's next
 * engine call. */
const char *arm_engine_errmsg(const arm_engine *engine);
/* errno of the calling thread's last OS failure, or 0. */
int arm_engine_errno(const arm_engine *engine);

/* --------------------------------------------------------- point access */
/**
 * Read the value of `key` into *value_out (value_out->len set; the buffer is
 * grown with arm_realloc if needed and owned by the caller).
 * ARM_OK, ARM_NOTFOUND, ARM_CORRUPT (entry failed its checksum; message names
 * file and offset), ARM_IOERR, ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_engine_get(arm_engine *engine, arm_slice key, arm_buf *value_out);

/* ARM_OK when the key exists, ARM_NOTFOUND when not. No value is read. */
ARM_WARN_UNUSED int arm_engine_contains(arm_engine *engine, arm_slice key);

/**
 * Insert or overwrite. Durable according to the sync mode when it returns.
 * ARM_OK; ARM_TOOBIG (key empty or over max_key_size, value over
 * max_value_size: nothing written); ARM_READONLY; ARM_IOERR / ARM_FULL (the
 * write failed; nothing is visible); ARM_IOERR_FSYNC (sync=full: the entry
 * was written but its fdatasync failed: the outcome is unknown, it may be
 * visible now and present after reopen, and the engine refuses writes with
 * ARM_PANIC until reopened); ARM_PANIC (an earlier log write or sync failed:
 * reopen); ARM_NOMEM. With sync=full other threads may see the write just
 * before its fdatasync returns.
 */
ARM_WARN_UNUSED int arm_engine_put(arm_engine *engine, arm_slice key, arm_slice value);

/* Delete (writes a tombstone). ARM_NOTFOUND if the key did not exist (nothing
 * written); otherwise as arm_engine_put. */
ARM_WARN_UNUSED int arm_engine_delete(arm_engine *engine, arm_slice key);

/**
 * Compare-and-swap, atomic against every other writer. `expected` with
 * ptr == NULL means "the key must be absent"; `desired` with ptr == NULL means
 * "delete it". ARM_OK when swapped; ARM_CONSTRAINT when the current value
 * differs (nothing written); otherwise as arm_engine_put.
 */
ARM_WARN_UNUSED int arm_engine_cas(arm_engine *engine, arm_slice key, arm_slice expected,
                                   arm_slice desired);

/* Number of live keys. */
uint64_t arm_engine_count(arm_engine *engine);

/* --------------------------------------------------------------- batches */
/**
 * A batch collects puts and deletes, possibly over many shards, and commits
 * them atomically: other threads see all or none, and after a crash all or
 * none are there. Later operations on the same key replace earlier ones. A
 * batch can be read (own writes) and rolled back to a mark (savepoints).
 * A batch belongs to one thread at a time.
 */
ARM_WARN_UNUSED int arm_engine_batch_new(arm_engine *engine, arm_batch **batch_out);
void arm_engine_batch_free(arm_batch *batch); /* NULL allowed */
/* ARM_OK, ARM_TOOBIG, ARM_NOMEM. */
ARM_WARN_UNUSED int arm_engine_batch_put(arm_batch *batch, arm_slice key, arm_slice value);
ARM_WARN_UNUSED int arm_engine_batch_delete(arm_batch *batch, arm_slice key);
/**
 * A conditional put: like arm_engine_batch_put, and when the batch has not
 * touched `key` before, the commit also requires that the key does not exist
 * in the database at commit time. If another writer created it meanwhile,
 * arm_engine_batch_commit fails with ARM_CONSTRAINT and writes nothing (SQL
 * INSERT semantics under concurrent transactions). ARM_OK, ARM_TOOBIG,
 * ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_engine_batch_insert(arm_batch *batch, arm_slice key, arm_slice value);
/**
 * What the batch says about `key`: ARM_OK with *value_out borrowed (until the
 * batch is next changed) when the batch puts it; ARM_NOTFOUND with
 * *deleted_out = 1 when the batch deletes it; ARM_NOTFOUND with
 * *deleted_out = 0 when the batch does not touch it.
 */
int arm_engine_batch_lookup(const arm_batch *batch, arm_slice key, arm_slice *value_out,
                            int *deleted_out);
/* Number of operations recorded (a savepoint mark). */
size_t arm_engine_batch_mark(const arm_batch *batch);
/* Forget every operation recorded after `mark`. */
void arm_engine_batch_rollback_to(arm_batch *batch, size_t mark);
/* Forget everything. */
void arm_engine_batch_clear(arm_batch *batch);
/**
 * Apply the batch atomically, durable per the sync mode. The batch is left
 * unchanged (clear it to reuse). An empty batch is ARM_OK. ARM_FULL when the
 * batch is larger than one data file; ARM_CONSTRAINT when a key inserted with
 * arm_engine_batch_insert exists (the message names no key: the caller knows
 * its table). Nothing is written on any error. Otherwise as arm_engine_put.
 */
ARM_WARN_UNUSED int arm_engine_batch_commit(arm_engine *engine, arm_batch *batch);

/* ---------------------------------------------------------------- cursors */
enum arm_seek_op {
    ARM_SEEK_GE = 0, /* first key >= target */
    ARM_SEEK_GT = 1, /* first key >  target */
    ARM_SEEK_LE = 2, /* last key  <= target */
    ARM_SEEK_LT = 3, /* last key  <  target */
};

/**
 * Open a cursor over all shards, merged in key order (memcmp, shorter key
 * first on a tie). With a hash index the cursor visits keys in no particular
 * order, and only first/next work (seek, last and prev return ARM_MISUSE).
 * `overlay` (may be NULL) is a batch whose writes the cursor shows on top of
 * the committed data (a transaction reading its own writes); it is
 * snapshotted at open, so later changes to the batch are not seen.
 * Consistency (read committed, moving forward in time): the cursor copies
 * keys and locations in runs (up to 128 keys per shard), all shards at once
 * under all their read locks, so each run shows committed data as of one
 * moment, never half of a batch. A later run shows a later moment: a scan
 * longer than a run may show, for the keys after some point, a batch that
 * committed while it was running (never the reverse: nothing goes back to an
 * older value). A hash-index cursor copies one shard at a time, so there the
 * moment is per shard. Take a batch-free snapshot by other means (e.g. hold
 * off writers) when a whole scan must be one moment. A new cursor is
 * unpositioned.
 */
ARM_WARN_UNUSED int arm_engine_cursor_open(arm_engine *engine, const arm_batch *overlay,
                                           arm_cursor **cursor_out);
void arm_engine_cursor_close(arm_cursor *cursor); /* NULL allowed */

/* Restrict the cursor to keys in [lo, hi] (each bound inclusive or not;
 * a bound with ptr == NULL is open). Takes effect at the next positioning
 * call. The bound bytes are copied. ARM_OK or ARM_NOMEM. */
ARM_WARN_UNUSED int arm_engine_cursor_bounds(arm_cursor *cursor, arm_slice lo, int lo_inclusive,
                                             arm_slice hi, int hi_inclusive);

/* Positioning: ARM_OK when positioned on a key, ARM_NOTFOUND when there is
 * none (the cursor is then at EOF), or an error. */
ARM_WARN_UNUSED int arm_engine_cursor_first(arm_cursor *cursor);
ARM_WARN_UNUSED int arm_engine_cursor_last(arm_cursor *cursor);
ARM_WARN_UNUSED int arm_engine_cursor_seek(arm_cursor *cursor, arm_slice key, int op);
ARM_WARN_UNUSED int arm_engine_cursor_next(arm_cursor *cursor);
ARM_WARN_UNUSED int arm_engine_cursor_prev(arm_cursor *cursor);
/* 1 when positioned on a key. */
int arm_engine_cursor_valid(const arm_cursor *cursor);
/* Current key. Borrowed until the next call on this cursor. */
arm_slice arm_engine_cursor_key(const arm_cursor *cursor);
/* Current value, read on demand: the value the key had when the cursor's
 * view was taken (a key deleted or overwritten since still shows that
 * value, so a scan never mixes halves of a batch). *value_out is borrowed
 * until the next call on this cursor. ARM_OK, ARM_CORRUPT, ARM_IOERR,
 * ARM_NOMEM. */
ARM_WARN_UNUSED int arm_engine_cursor_value(arm_cursor *cursor, arm_slice *value_out);

/* ------------------------------------------------------- maintenance */
/* Flush every shard's write buffer and fdatasync. ARM_OK, ARM_IOERR, ARM_PANIC. */
ARM_WARN_UNUSED int arm_engine_flush(arm_engine *engine);

typedef struct arm_engine_stats {
    uint64_t keys;          /* live keys */
    uint64_t live_bytes;    /* bytes of entries the index points at */
    uint64_t dead_bytes;    /* bytes of overwritten/deleted entries and tombstones */
    uint64_t files;         /* data files */
    uint32_t shards;        /* shard count */
    uint64_t index_bytes;   /* memory held by the index */
    uint64_t last_seq;      /* highest sequence number assigned */
    uint64_t cache_hits;    /* read cache hits */
    uint64_t cache_misses;  /* read cache misses */
    int sync_mode;          /* enum arm_sync_mode in force */
    int index_kind;         /* enum arm_index_kind in force */
    int io_direct;          /* 1 if writes use O_DIRECT */
    int io_uring;           /* 1 if writes go through io_uring */
    int read_only;          /* opened read-only */
    uint8_t db_id[16];      /* database id from the metadata */
} arm_engine_stats;
void arm_engine_stats_get(arm_engine *engine, arm_engine_stats *stats_out);

/**
 * Verify every entry's checksum in every data file. For each problem found,
 * `report` (may be NULL) is called with the file path, the byte offset and a
 * message; all arguments are borrowed for the call. *problems_out gets the
 * count. `progress` (may be NULL) is called after each file with bytes done
 * and total. ARM_OK when the check ran (whatever it found), or ARM_IOERR /
 * ARM_NOMEM if it could not.
 */
typedef void (*arm_check_report_fn)(void *ctx, const char *path, uint64_t offset,
                                    const char *message);
typedef void (*arm_progress_fn)(void *ctx, uint64_t done, uint64_t total);
ARM_WARN_UNUSED int arm_engine_check(arm_engine *engine, arm_check_report_fn report,
                                     arm_progress_fn progress, void *ctx,
                                     uint64_t *problems_out);

/**
 * Remove the database in `dir`: the files the engine made (ARMDB, APPMETA,
 * LOCK, the shard directories' data files) and then the directories themselves if that
 * leaves them empty. Nothing else in `dir` is touched, so a directory that
 * also holds other files keeps them (and stays). No engine may have `dir`
 * open. ARM_OK; ARM_NOTFOUND when there is no armdb database in `dir`;
 * ARM_BUSY when it is open; ARM_IOERR.
 */
ARM_WARN_UNUSED int arm_engine_destroy(const char *dir);

/* Directory this engine was opened on (borrowed until close). */
const char *arm_engine_dir(const arm_engine *engine);

#ifdef __cplusplus
}
#endif
#endif /* ARM_ENGINE_H */
