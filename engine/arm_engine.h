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
 * Errors: every function returns an ARM_* code from arm_base.h, and each
 * function's comment lists the codes it can return. A message for the most
 * recent failure on the calling thread is kept by arm_engine_errmsg();
 * ARM_NOTFOUND is a normal result and sets no message.
 *
 * Growth: the option and stats structs gain fields at their end, never
 * elsewhere. arm_engine_options_init and arm_engine_stats_get are macros that
 * pass the caller's sizeof, so a program built against an older header keeps
 * working with a newer engine (fields it does not know take their defaults,
 * or are not written).
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
typedef struct arm_txn arm_txn;
typedef struct arm_domain arm_domain;

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

enum arm_cipher {
    ARM_CIPHER_AUTO = 0,      /* AES-256-GCM where the CPU has it, else XChaCha20-Poly1305 */
    ARM_CIPHER_AES256GCM = 1, /* needs AES-NI (or the CPU's equivalent) wherever it is opened */
    ARM_CIPHER_XCHACHA20 = 2, /* XChaCha20-Poly1305: runs everywhere */
};

typedef struct arm_engine_options {
    uint32_t size;              /* sizeof(arm_engine_options) the caller was built with, set
                                   by arm_engine_options_init; 0 = this first version's */
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
    int read_only;               /* 1 = open for reading/salvage: no writes; damage is
                                    read past (everything intact is served), and a read-only
                                    file system or medium opens too (see lock_mode) */
    int create_if_missing;       /* default 1 */
    int mmap_reads;              /* read data files through a read-only mapping (default 1):
                                    no syscall per read; 0 = pread, where an I/O error is an
                                    error code rather than SIGBUS */
    /* ---- fields past here were added after the first version */
    arm_domain *domain;          /* engines that publish and read together (see domains
                                    below); NULL = a domain of this engine's own. Borrowed:
                                    the engine holds a reference until it closes */
    const void *app_meta;        /* application metadata stored when the database is created
                                    (borrowed for the open call; NULL = none). See
                                    arm_engine_app_meta_get */
    uint32_t app_meta_len;       /* its bytes, at most 65536 */
    int hints;                   /* 1 (default): write a hint file (keys and locations)
                                    for each sealed data file, in the background, and open
                                    from hints instead of reading values; 0 = neither */
    /* Encryption at rest. A database is encrypted when it is created with a
     * key, and every later open needs that key: open fails with ARM_AUTH
     * without it, with another one, or with a key for a database that is not
     * encrypted. Give at most one source. The key is copied into locked,
     * wiped memory at open and never appears in a message. */
    const uint8_t *encryption_key; /* 32 bytes, borrowed for the open call; NULL = none */
    const char *key_file;        /* a file holding the key: 32 raw bytes, or 64 hex digits
                                    (a trailing newline allowed). Borrowed for the call */
    const char *key_env;         /* an environment variable holding 64 hex digits. Borrowed */
    int cipher;                  /* enum arm_cipher, used at creation (then as stored) */
    int compaction;              /* 1 (default): merge sealed files whose dead bytes pass
                                    compaction_threshold in a background thread; 0 = only
                                    when arm_engine_compact is called */
} arm_engine_options;

/* Fill *opts with the defaults above and set opts->size. Always start from
 * this (then change fields), so that fields added by later versions get
 * their defaults. A macro: it passes sizeof(*opts) to arm_engine_options_init_v. */
#define arm_engine_options_init(opts) arm_engine_options_init_v((opts), sizeof(*(opts)))
void arm_engine_options_init_v(arm_engine_options *opts, size_t size);

/* ------------------------------------------------------------ open/close */
/**
 * Open the database in directory `dir`, creating it (and the directory) if
 * missing and opts->create_if_missing. opts may be NULL for defaults.
 * Recovery runs here: the index is rebuilt from the data files (from their
 * hint files where those are good, see opts->hints). A torn write at the
 * tail of a shard's newest file (a bad or incomplete entry with nothing
 * valid at any later offset) is cut away silently; any other damage is
 * reported, never cut.
 *
 * Returns ARM_OK and sets *engine_out (owned: arm_engine_close);
 * ARM_BUSY     another process holds the directory's lock (message names dir);
 * ARM_CORRUPT  a damaged entry (in an older file, or in the newest one with
 *              good entries after it), a damaged file header, or damaged
 *              metadata; the message names the file and the damaged entry's
 *              own offset. Nothing is changed on disk. With opts->read_only the
 *              engine opens anyway (not for damaged metadata) and serves
 *              everything intact: it reads on past each damaged stretch, and
 *              leaves out only the damaged entries and a batch they cut.
 *              Also when ARMDB is missing but shard directories hold data
 *              files: metadata is never created over existing data (the
 *              message names a data file);
 * ARM_MISUSE   bad option (message names it), opts->size not one this engine
 *              knows, or shard_count differs from the stored one;
 * ARM_TOOBIG   opts->app_meta_len over 65536;
 * ARM_AUTH     the database is encrypted and no key or another key was given,
 *              or a key was given for a database that is not encrypted;
 * ARM_NOTFOUND no database in dir and !create_if_missing (or read_only);
 * ARM_IOERR    the OS refused a file operation (also: io_backend is
 *              ARM_IO_URING and io_uring is not available);
 * ARM_FULL     the disk is full (creating the directory or a data file);
 * ARM_NOMEM.
 * Within one process, a second open of the same directory returns ARM_BUSY:
 * share the handle instead (ext/ does).
 */
ARM_WARN_UNUSED int arm_engine_open(const char *dir, const arm_engine_options *opts,
                                    arm_engine **engine_out);

/**
 * Whether opts' key source (encryption_key, key_file, key_env) is what an
 * open of this engine's database with those options would accept: for a
 * caller that shares one open engine among several users (ext/), each with
 * its own options. ARM_OK; ARM_AUTH (no key for an encrypted database,
 * another key, or a key for a plain one; the message says which, never with
 * key bytes); ARM_MISUSE / ARM_IOERR (the source holds no key, cannot be
 * read); ARM_NOMEM. Thread-safe.
 */
ARM_WARN_UNUSED int arm_engine_key_verify(arm_engine *engine, const arm_engine_options *opts);

/**
 * Flush every write buffer, fdatasync, release the lock and free everything.
 * NULL is allowed. The engine is freed even when the final flush fails; the
 * failure is returned: ARM_IOERR / ARM_FULL (a write failed),
 * ARM_IOERR_FSYNC (an fdatasync failed), ARM_PANIC (an earlier write or sync
 * had failed). ARM_OK otherwise. No other thread may be using the engine,
 * and every cursor and batch must be closed first.
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
 * ARM_OK; ARM_NOTFOUND (also for an empty or over-long key); ARM_CORRUPT
 * (the entry failed its checksum or holds another key; message names file
 * and offset); ARM_IOERR (the read failed; mmap_reads = 0 only, a mapped
 * read that fails is SIGBUS); ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_engine_get(arm_engine *engine, arm_slice key, arm_buf *value_out);

/* ARM_OK when the key exists, ARM_NOTFOUND when not (also for an empty or
 * over-long key). No value is read. */
ARM_WARN_UNUSED int arm_engine_contains(arm_engine *engine, arm_slice key);

/**
 * Insert or overwrite. Durable according to the sync mode when it returns.
 * ARM_OK; ARM_TOOBIG (key empty or over max_key_size, value over
 * max_value_size: nothing written); ARM_BUSY (the key is held by a prepared
 * transaction, or was read by one, which comes first: nothing written, try
 * again once it is published); ARM_READONLY; ARM_IOERR / ARM_FULL (the
 * write failed; nothing is visible); ARM_IOERR_FSYNC (sync=full: the entry
 * was written but its fdatasync failed: the outcome is unknown, it may be
 * visible now and present after reopen, and the engine refuses writes with
 * ARM_PANIC until reopened); ARM_PANIC (an earlier log write or sync failed:
 * reopen); ARM_NOMEM. With sync=full other threads may see the write just
 * before its fdatasync returns.
 */
ARM_WARN_UNUSED int arm_engine_put(arm_engine *engine, arm_slice key, arm_slice value);

/* Delete (writes a tombstone). ARM_NOTFOUND if the key did not exist (nothing
 * written); otherwise as arm_engine_put (ARM_TOOBIG for an empty or
 * over-long key). */
ARM_WARN_UNUSED int arm_engine_delete(arm_engine *engine, arm_slice key);

/**
 * Compare-and-swap, atomic against every other writer. `expected` with
 * ptr == NULL means "the key must be absent"; `desired` with ptr == NULL means
 * "delete it". ARM_OK when swapped; ARM_CONSTRAINT when the current value
 * differs (nothing written); ARM_CORRUPT / ARM_IOERR when the current value
 * cannot be read (nothing written); otherwise as arm_engine_put.
 */
ARM_WARN_UNUSED int arm_engine_cas(arm_engine *engine, arm_slice key, arm_slice expected,
                                   arm_slice desired);

/* Number of live keys. Cannot fail. */
uint64_t arm_engine_count(arm_engine *engine);

/* --------------------------------------------------------------- batches */
/**
 * A batch collects puts and deletes, possibly over many shards, and commits
 * them atomically: other threads see all or none, and after a crash all or
 * none are there. Later operations on the same key replace earlier ones. A
 * batch can be read (own writes) and rolled back to a mark (savepoints).
 * A batch belongs to one thread at a time.
 *
 * arm_engine_batch_new: an empty batch in *batch_out (owned:
 * arm_engine_batch_free). ARM_OK or ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_engine_batch_new(arm_engine *engine, arm_batch **batch_out);
void arm_engine_batch_free(arm_batch *batch); /* NULL allowed */
/* Record a put of key (the bytes are copied). ARM_OK; ARM_TOOBIG (key empty
 * or over max_key_size, value over max_value_size: nothing recorded);
 * ARM_FULL (the batch would hold more than 4 GiB of keys and values);
 * ARM_NOMEM. */
ARM_WARN_UNUSED int arm_engine_batch_put(arm_batch *batch, arm_slice key, arm_slice value);
/* Record a delete of key. The commit writes a tombstone if the key exists
 * then, and nothing for it otherwise. ARM_OK; ARM_TOOBIG (key empty or over
 * max_key_size); ARM_FULL; ARM_NOMEM, as arm_engine_batch_put. */
ARM_WARN_UNUSED int arm_engine_batch_delete(arm_batch *batch, arm_slice key);
/**
 * A conditional put: like arm_engine_batch_put, and when the batch has not
 * touched `key` before, the commit also requires that the key does not exist
 * in the database at commit time. If another writer created it meanwhile,
 * arm_engine_batch_commit fails with ARM_CONSTRAINT and writes nothing (SQL
 * INSERT semantics under concurrent transactions). ARM_OK, ARM_TOOBIG,
 * ARM_FULL, ARM_NOMEM, as arm_engine_batch_put.
 */
ARM_WARN_UNUSED int arm_engine_batch_insert(arm_batch *batch, arm_slice key, arm_slice value);
/**
 * What the batch says about `key`: ARM_OK with *value_out borrowed (until the
 * batch is next changed) when the batch puts it; ARM_NOTFOUND with
 * *deleted_out = 1 when the batch deletes it; ARM_NOTFOUND with
 * *deleted_out = 0 when the batch does not touch it. Nothing else.
 */
int arm_engine_batch_lookup(const arm_batch *batch, arm_slice key, arm_slice *value_out,
                            int *deleted_out);
/* Number of operations recorded (a savepoint mark). Cannot fail. */
size_t arm_engine_batch_mark(const arm_batch *batch);
/* Forget every operation recorded after `mark`. Cannot fail. */
void arm_engine_batch_rollback_to(arm_batch *batch, size_t mark);
/* Forget everything. Cannot fail. */
void arm_engine_batch_clear(arm_batch *batch);
/**
 * Apply the batch atomically, durable per the sync mode. The batch is left
 * unchanged (clear it to reuse). An empty batch is ARM_OK. ARM_FULL when the
 * batch is larger than one data file; ARM_CONSTRAINT when a key inserted with
 * arm_engine_batch_insert exists (the message names no key: the caller knows
 * its table). Nothing is written on any error. Otherwise as arm_engine_put:
 * ARM_READONLY, ARM_IOERR / ARM_FULL, ARM_IOERR_FSYNC (sync=full: written,
 * outcome unknown), ARM_PANIC, ARM_NOMEM.
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
 * unpositioned. While positioned, a cursor holds the data files its current
 * run of keys points into, so their values stay readable even if the files
 * are retired by compaction meanwhile.
 *
 * ARM_OK with *cursor_out set (owned: arm_engine_cursor_close), or
 * ARM_NOMEM (nothing allocated stays behind).
 */
ARM_WARN_UNUSED int arm_engine_cursor_open(arm_engine *engine, const arm_batch *overlay,
                                           arm_cursor **cursor_out);
void arm_engine_cursor_close(arm_cursor *cursor); /* NULL allowed */

/* Restrict the cursor to keys in [lo, hi] (each bound inclusive or not;
 * a bound with ptr == NULL is open). Takes effect at the next positioning
 * call. The bound bytes are copied. ARM_OK or ARM_NOMEM. */
ARM_WARN_UNUSED int arm_engine_cursor_bounds(arm_cursor *cursor, arm_slice lo, int lo_inclusive,
                                             arm_slice hi, int hi_inclusive);

/* Positioning. ARM_OK when positioned on a key; ARM_NOTFOUND when there is
 * none (the cursor is then at EOF); ARM_NOMEM (copying a run of keys: the
 * cursor is then unpositioned); ARM_MISUSE for last, prev and seek with a
 * hash index, and for seek with an op outside enum arm_seek_op or a key over
 * 65535 bytes; ARM_CORRUPT if an index item points at a data file that is
 * gone (never expected: the message names the file id). next and prev on an
 * unpositioned cursor return ARM_NOTFOUND. */
ARM_WARN_UNUSED int arm_engine_cursor_first(arm_cursor *cursor);
ARM_WARN_UNUSED int arm_engine_cursor_last(arm_cursor *cursor);
ARM_WARN_UNUSED int arm_engine_cursor_seek(arm_cursor *cursor, arm_slice key, int op);
ARM_WARN_UNUSED int arm_engine_cursor_next(arm_cursor *cursor);
ARM_WARN_UNUSED int arm_engine_cursor_prev(arm_cursor *cursor);
/* 1 when positioned on a key. Cannot fail. */
int arm_engine_cursor_valid(const arm_cursor *cursor);
/* Current key (ptr NULL when not positioned). Borrowed until the next call on
 * this cursor. Cannot fail. */
arm_slice arm_engine_cursor_key(const arm_cursor *cursor);
/* Current value, read on demand: the value the key had when the cursor's
 * view was taken (a key deleted or overwritten since still shows that
 * value, so a scan never mixes halves of a batch). *value_out is borrowed
 * until the next call on this cursor. ARM_OK; ARM_CORRUPT (the entry failed
 * its checksum or holds another key; message names file and offset);
 * ARM_IOERR (mmap_reads = 0 only); ARM_NOMEM; ARM_MISUSE when the cursor is
 * not positioned. */
ARM_WARN_UNUSED int arm_engine_cursor_value(arm_cursor *cursor, arm_slice *value_out);

/* ------------------------------------------------------- domains, snapshots */
/**
 * A domain is a set of engines that share one sequence counter, so that a
 * snapshot is one moment across all of them and a transaction over several of
 * them (arm_txn_publish with several txns) becomes visible to every snapshot
 * at once. The SQLite extension puts every engine of the process in one
 * domain. An engine opened with opts->domain == NULL gets a domain of its own.
 * A domain is freed when arm_domain_free has been called and the last engine
 * using it has closed. Thread-safe.
 * arm_domain_new: ARM_OK or ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_domain_new(arm_domain **domain_out);
void arm_domain_free(arm_domain *domain); /* NULL allowed */
/* The domain of an engine (borrowed until the engine closes). */
arm_domain *arm_engine_domain(const arm_engine *engine);

/**
 * A snapshot: every engine of the domain as it was at one moment. While it is
 * held, older versions of keys changed afterwards are kept in memory so that
 * reads through it (arm_txn_*, cursors of a transaction) see that moment.
 * Hold snapshots briefly: a snapshot held for long keeps every version written
 * since. Caller-allocated; the fields are private. Thread-safe; one snapshot
 * may be read by several transactions and threads at once.
 * arm_snapshot_take: ARM_OK or ARM_NOMEM.
 */
typedef struct arm_snapshot {
    uint64_t seq;   /* private: the moment */
    void *slot;     /* private: registration */
    void *idle;     /* private */
    arm_domain *domain;
} arm_snapshot;
ARM_WARN_UNUSED int arm_snapshot_take(arm_domain *domain, arm_snapshot *snap_out);
void arm_snapshot_drop(arm_snapshot *snap); /* a zeroed or dropped snapshot is allowed */
/**
 * A holder that may keep a snapshot across idle time (a transaction between
 * its statements) says so: an idle snapshot keeps protecting its versions
 * for 30 s, or until versions pile up (a million in one shard); then it
 * expires, so an abandoned holder cannot make memory grow without bound.
 * arm_snapshot_resume before reading through it again: ARM_OK, or
 * ARM_BUSY_SNAPSHOT when it expired (reads through it would be wrong: the
 * holder must give it up). Not for concurrent use of one snapshot.
 */
void arm_snapshot_idle(arm_snapshot *snap);
ARM_WARN_UNUSED int arm_snapshot_resume(arm_snapshot *snap);

/* ----------------------------------------------------------- transactions */
/**
 * A transaction reads one snapshot plus its own writes, and commits
 * atomically with optimistic validation (serializable): it fails with
 * ARM_BUSY_SNAPSHOT, writing nothing, when a key it read or wrote (including
 * keys a cursor of it passed over, and the absence of keys it looked up) was
 * changed by a transaction published after its snapshot. Commit is two-phase:
 *   prepare: validate, hold its keys (other writers of them get ARM_BUSY or,
 *            inside transactions, ARM_BUSY_SNAPSHOT) and what it read (until
 *            it is published, writers of those get ARM_BUSY: it comes before
 *            them, so they must not become visible before it), and write its
 *            entries to the log, invisible;
 *   publish: make it visible to every new snapshot at once (with sync=full,
 *            durable before the call returns);
 *   discard: forget it (after prepare, an abort record makes sure recovery
 *            never applies it).
 * arm_txn_commit is prepare + publish. What recovery does with a transaction
 * that was prepared but neither published nor discarded when the process
 * died: by default it is applied (the prepare record is the decision); with
 * an external decision (arm_txn_prepare's `ext`), it is "in doubt" after
 * reopen and stays invisible, with its keys held, until the application
 * resolves it (arm_engine_indoubt_*) from wherever it recorded the decision.
 * A transaction belongs to one thread at a time.
 */
enum arm_txn_flags {
    ARM_TXN_READONLY = 1, /* reads only: no read tracking, writes refused (ARM_MISUSE) */
};

/**
 * Begin a transaction on engine. snap (borrowed; must outlive the
 * transaction) is the snapshot to read, from engine's domain; NULL takes one
 * of its own now. ARM_OK and *txn_out (owned: arm_txn_free); ARM_NOMEM;
 * ARM_MISUSE (snap from another domain).
 */
ARM_WARN_UNUSED int arm_txn_begin(arm_engine *engine, const arm_snapshot *snap, int flags,
                                  arm_txn **txn_out);
/* Discard if still open, then free. NULL allowed. */
void arm_txn_free(arm_txn *txn);

/* Read through the snapshot and the transaction's own writes. The value is
 * copied into *value_out (grown with arm_realloc, owned by the caller).
 * ARM_OK, ARM_NOTFOUND, ARM_CORRUPT, ARM_IOERR, ARM_NOMEM. */
ARM_WARN_UNUSED int arm_txn_get(arm_txn *txn, arm_slice key, arm_buf *value_out);
/* ARM_OK when the key exists (own writes first), ARM_NOTFOUND, ARM_NOMEM. */
ARM_WARN_UNUSED int arm_txn_contains(arm_txn *txn, arm_slice key);
/* Writes, buffered in the transaction until it commits. ARM_OK, ARM_TOOBIG
 * (key empty or too long, value too long), ARM_FULL (over 4 GiB of writes),
 * ARM_NOMEM, ARM_READONLY (engine opened read-only), ARM_MISUSE (a read-only
 * or finished transaction). A write to a prepared transaction un-prepares it
 * first (its log records are aborted); prepare again to commit. */
ARM_WARN_UNUSED int arm_txn_put(arm_txn *txn, arm_slice key, arm_slice value);
ARM_WARN_UNUSED int arm_txn_delete(arm_txn *txn, arm_slice key);
/* Number of writes recorded (a savepoint mark), and forgetting every write
 * after a mark (un-prepares a prepared transaction, as a write does). */
size_t arm_txn_mark(const arm_txn *txn);
ARM_WARN_UNUSED int arm_txn_rollback_to(arm_txn *txn, size_t mark);
/* Number of distinct keys written. */
size_t arm_txn_write_count(const arm_txn *txn);

/**
 * A cursor over the transaction's snapshot with its own writes on top (the
 * writes as of this call). As arm_engine_cursor_open otherwise; the range it
 * passes over counts as read by the transaction. The cursor must be closed
 * before the transaction is freed. ARM_OK, ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_txn_cursor_open(arm_txn *txn, arm_cursor **cursor_out);
/* The same cursor, except that what it passes over does not count as read:
 * for a lookup whose result the caller checks otherwise (e.g. the largest
 * key, before inserting the next one as a conditional point write).
 * ARM_OK, ARM_NOMEM. */
ARM_WARN_UNUSED int arm_txn_cursor_open_untracked(arm_txn *txn, arm_cursor **cursor_out);

/* An external decision: recovery asks the application about a prepared
 * transaction instead of applying it. owner (16 bytes) names the decision's
 * store (e.g. one table of one database) and comes back with the in-doubt
 * transaction. */
typedef struct arm_txn_ext {
    uint8_t owner[16];
} arm_txn_ext;

/**
 * Prepare: validate, hold the keys, write the entries (invisible) to the log
 * of one shard; with sync=normal or full they reach the kernel before it
 * returns. With ext != NULL the entries are also fdatasync'd (so the external
 * decision can rely on them) and recovery treats the transaction as in doubt
 * unless it was published or discarded. Preparing again is a no-op.
 * ARM_OK; ARM_BUSY_SNAPSHOT (a conflict, see above: nothing written, the
 * transaction stays open and may be discarded or retried from the start);
 * ARM_BUSY (a key it writes was read by another transaction that is
 * prepared and not yet published, which comes first: writing it now would
 * make this one visible before that one; nothing written, prepare again
 * once it is published or discarded);
 * ARM_FULL (larger than one data file, or the disk is full); ARM_READONLY;
 * ARM_IOERR; ARM_IOERR_FSYNC and ARM_PANIC as arm_engine_put; ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_txn_prepare(arm_txn *txn, const arm_txn_ext *ext);
/**
 * Prepare several transactions (of engines of one domain, e.g. one SQL
 * transaction over several armdb directories) as one: every key any of them
 * writes is held before anything any of them read is validated, so two such
 * groups that each read what the other writes cannot both succeed. ext[i]
 * (ext may be NULL) as arm_txn_prepare's. Transactions that only read are
 * validated and count as prepared (nothing to publish). All or nothing: on
 * an error none of them stays prepared (those prepared before the call
 * excepted). Errors as arm_txn_prepare.
 */
ARM_WARN_UNUSED int arm_txn_prepare_group(arm_txn *const *txns, size_t n,
                                          const arm_txn_ext *const *ext);
/* The id of a prepared transaction (stable until it is un-prepared), the one
 * an external decision records and arm_engine_indoubt_* report. 0 when
 * nothing was written. */
uint64_t arm_txn_id(const arm_txn *txn);

/**
 * Publish prepared transactions (one per engine, all engines of one domain)
 * at once: a snapshot taken after this sees all of them, one taken before
 * sees none. An externally decided one gets its commit record here. With
 * sync=full each returns only when its writes, and everything published
 * before it, are on stable storage. The transactions end (free them).
 * ARM_OK. Publishing cannot fail once prepared, except for durability:
 * ARM_IOERR_FSYNC / ARM_IOERR / ARM_PANIC when a commit record or the
 * fdatasync of sync=full failed: the transactions are visible, the engine is
 * poisoned (every later write returns ARM_PANIC until it is reopened), and
 * what reaches disk decides what a reopen finds. ARM_MISUSE: not prepared, or
 * two transactions of one engine, or of different domains.
 */
ARM_WARN_UNUSED int arm_txn_publish(arm_txn *const *txns, size_t n);
/* Discard: forget every write; a prepared transaction's keys are released
 * and an abort record (fdatasync'd) keeps recovery from applying it. The
 * transaction ends. ARM_OK, or ARM_IOERR / ARM_PANIC when the abort record
 * could not be made durable (the engine is then poisoned: a reopen could
 * apply the transaction). */
int arm_txn_discard(arm_txn *txn);
/* Un-prepare: abort its log records and release its keys (as a write to a
 * prepared transaction does); the writes stay, to be prepared again (e.g.
 * with another decision). A transaction not prepared is left as it is.
 * ARM_OK, or ARM_IOERR / ARM_PANIC as arm_txn_discard. */
int arm_txn_unprepare(arm_txn *txn);
/* prepare(txn, NULL) then publish: ARM_OK or an error of either. */
ARM_WARN_UNUSED int arm_txn_commit(arm_txn *txn);
/* Make an ended (or open: it is discarded first) transaction new again,
 * reading snap (NULL: a snapshot of its own, taken now) with flags, without
 * allocating. ARM_OK, ARM_NOMEM, ARM_MISUSE (snap of another domain). */
ARM_WARN_UNUSED int arm_txn_reset(arm_txn *txn, const arm_snapshot *snap, int flags);
/* 1 when something was published on the transaction's engine after its
 * snapshot, or a transaction is preparing there (its reads may be stale). */
int arm_txn_stale(const arm_txn *txn);
/* Wait, at most timeout_ms, until no transaction of the domain is prepared
 * and unpublished (those past their decision publish within microseconds:
 * a writer that starts now then sees them). Returns at once when none is. */
void arm_domain_wait_prepared(arm_domain *domain, int timeout_ms);
/* For externally decided transactions: 1 once the record of transaction
 * `id`'s outcome is on stable storage, so the application may forget its
 * decision; 0 while it is prepared or its commit record is not yet synced.
 * An id this engine is not tracking (never prepared here since it opened, or
 * already reported durable) is 1. */
int arm_engine_txn_durable(arm_engine *engine, uint64_t id);

/* ------------------------------------------------------ in-doubt recovery */
/* A transaction prepared with an external decision, found at open neither
 * published nor discarded: invisible, its keys held until resolved. */
typedef struct arm_indoubt {
    uint64_t id;        /* arm_txn_id of the transaction */
    uint8_t owner[16];  /* arm_txn_ext.owner it was prepared with */
    uint32_t nkeys;     /* keys it writes */
} arm_indoubt;
/* The in-doubt transactions, *list_out owned (arm_free of arm_alloc.h; NULL
 * when *n_out is 0). ARM_OK or ARM_NOMEM. */
ARM_WARN_UNUSED int arm_engine_indoubt_list(arm_engine *engine, arm_indoubt **list_out,
                                            size_t *n_out);
/* Resolve one: commit (publish it, durably recorded) or abort. ARM_OK,
 * ARM_NOTFOUND (no such in-doubt transaction), ARM_IOERR, ARM_PANIC,
 * ARM_READONLY, ARM_NOMEM. */
ARM_WARN_UNUSED int arm_engine_indoubt_resolve(arm_engine *engine, uint64_t id, int commit);

/* ------------------------------------------------------------ replication */
/**
 * The seams replication (repl/) stands on. A leader reads each shard's log
 * from a position and ships what it finds; a follower applies it, storing
 * its position in the same atomic batch as the data.
 *
 * A position is a point in one shard's log, just past an entry. The origin
 * (all fields zero) is before the shard's first entry. Positions are
 * per database: only meaningful with the db_id of the engine they came from.
 */
typedef struct arm_log_pos {
    uint64_t seq; /* sequence number of the entry that ends here (0: the origin) */
    uint64_t off; /* byte offset in data file fid just past that entry */
    uint32_t fid; /* data file id (0: the origin) */
    uint32_t len; /* bytes of that entry: lets a reader check the position */
} arm_log_pos;

/* One write of a transaction read from the log. */
typedef struct arm_log_op {
    int del;         /* 1: delete (value empty) */
    arm_slice key;   /* borrowed until the reader's next call */
    arm_slice value;
} arm_log_op;

/* One published transaction, whole: every entry of one batch in one shard's
 * log (a single put is a transaction of one). */
typedef struct arm_log_txn {
    uint32_t shard;        /* the shard whose log holds it */
    uint64_t seq;          /* its sequence number (increasing along a shard's log) */
    arm_log_pos pos;       /* that shard's position just past it */
    const arm_log_op *ops; /* nops writes in log order; borrowed until the next call */
    size_t nops;
    uint64_t bytes;        /* bytes of its keys and values */
} arm_log_txn;

typedef struct arm_log_reader arm_log_reader;

/**
 * Open a reader of every shard's log, shard i starting at pos[i] (pos NULL:
 * every shard at its origin). A position is checked: the entry that ends
 * there must be in that shard's log with that length and sequence number.
 * The reader holds the data files it reads (they stay readable if retired).
 * ARM_OK and *reader_out (owned: arm_log_reader_close, before the engine
 * closes); ARM_RANGE when a position is not in the log any more (its file
 * was compacted away, or the log was rewritten since: a leader that lost its
 * tail), naming the shard; ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_log_reader_open(arm_engine *engine, const arm_log_pos *pos,
                                        arm_log_reader **reader_out);
void arm_log_reader_close(arm_log_reader *reader); /* NULL allowed */
/**
 * The next transaction to ship, in *txn_out. Only published transactions are
 * returned, each once, whole; one prepared and then discarded, a decision
 * record, and a transaction still prepared (or in doubt) are never returned
 * (the reader waits at a prepared one until it is decided). Entries still in
 * the write buffer are returned too. Across shards, transactions come in
 * sequence-number order, so two that write one key come in the order they
 * were committed. ARM_OK; ARM_NOTFOUND when nothing more is ready now (wait
 * with an arm_watch, then call again); ARM_CORRUPT (an entry failed its
 * checksum: message names file and offset); ARM_IOERR; ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_log_reader_next(arm_log_reader *reader, arm_log_txn *txn_out);
/* Where shard `shard` stands: just past the last transaction returned (or
 * its start position). Cannot fail. */
arm_log_pos arm_log_reader_pos(const arm_log_reader *reader, uint32_t shard);

/**
 * A consistent cut, for a follower that needs the whole database: a snapshot
 * of the engine's domain and, for every shard, the position in its log that
 * matches it exactly: every transaction before pos_out[i] is in the snapshot
 * and none after it, so a reader opened at pos_out continues where a copy
 * of the snapshot ends. pos_out has the engine's shard count of entries.
 * Read the snapshot with arm_txn_begin(engine, snap_out, ARM_TXN_READONLY)
 * and a cursor; drop it when done. Waits (at most timeout_ms) while a
 * transaction of the engine is prepared and not yet decided. ARM_OK;
 * ARM_BUSY when one stayed prepared that long (an in-doubt one, say);
 * ARM_NOMEM.
 */
ARM_WARN_UNUSED int arm_engine_log_cut(arm_engine *engine, arm_snapshot *snap_out,
                                       arm_log_pos *pos_out, int timeout_ms);

/**
 * Commit notification without polling: a watch's fd (an eventfd) becomes
 * readable when a write is committed, a prepared transaction is decided, or
 * a follower applies a batch, after the watch was armed. Use: arm it, read
 * the log again (so nothing committed before the arm is missed), then poll
 * the fd (with sockets, timeouts). One wake-up per arm, however many commits
 * land: a writer pays for a notification only when a watch is armed.
 * arm_engine_watch_open: ARM_OK and *watch_out (owned: arm_watch_close,
 * before the engine closes); ARM_IOERR (no eventfd); ARM_NOMEM.
 */
typedef struct arm_watch arm_watch;
ARM_WARN_UNUSED int arm_engine_watch_open(arm_engine *engine, arm_watch **watch_out);
int arm_watch_fd(const arm_watch *watch);
void arm_watch_arm(arm_watch *watch);
void arm_watch_close(arm_watch *watch); /* NULL allowed */

/* Flags of a follower's position in one shard. */
enum arm_repl_flags {
    ARM_REPL_RESYNC = 1, /* a copy of the whole leader is being applied: the position is not
                            usable until the copy's last batch stores another */
};

/**
 * Follower side: apply `batch` (a leader's transactions, one or several,
 * whole) and store the follower's new position in each of shards[0..npos)
 * of the leader `leader_id`, all in one atomic batch of the log: after a
 * crash both are there or neither. The writes get this engine's own sequence
 * numbers (the order it applied them, which is what its recovery must
 * follow: a copy from a new leader restarts the leader's numbering); the
 * leader's numbers are in the positions. flags: ARM_REPL_RESYNC for every
 * position (a copy has begun). An empty batch stores positions only. Durable
 * per the sync mode. The batch is left unchanged. Refused on an engine not
 * marked a follower (ARM_MISUSE). Errors as arm_engine_batch_commit.
 */
ARM_WARN_UNUSED int arm_engine_apply(arm_engine *engine, arm_batch *batch,
                                     const uint8_t leader_id[16], const uint32_t *shards,
                                     const arm_log_pos *pos, size_t npos, uint32_t flags);
/**
 * A follower's stored position in leader shard `shard`: ARM_OK with
 * *leader_out (16 bytes), *pos_out and *flags_out (enum arm_repl_flags) as
 * the last apply (or recovery) left them; ARM_NOTFOUND when none was ever
 * stored for that shard; ARM_RANGE for a shard past the engine's count.
 */
ARM_WARN_UNUSED int arm_engine_repl_pos(arm_engine *engine, uint32_t shard, uint8_t leader_out[16],
                                        arm_log_pos *pos_out, uint32_t *flags_out);
/**
 * Mark the engine a follower (on = 1) or not: a follower refuses every write
 * but arm_engine_apply (puts, deletes, batches, transaction prepares) with
 * ARM_READONLY and a message saying it follows a leader. Not persistent: the
 * caller records the role where it keeps its configuration. Cannot fail.
 */
void arm_engine_set_follower(arm_engine *engine, int on);

/* ------------------------------------------------------- maintenance */
/* Flush every shard's write buffer and fdatasync. ARM_OK (also read-only);
 * ARM_IOERR / ARM_FULL (a write failed: the buffers are kept, a later flush
 * retries); ARM_IOERR_FSYNC (an fdatasync failed: the engine is poisoned);
 * ARM_PANIC (an earlier write or sync failed: reopen). */
ARM_WARN_UNUSED int arm_engine_flush(arm_engine *engine);

/* How the directory is locked (arm_engine_stats.lock_mode). */
enum arm_lock_mode {
    ARM_LOCK_EXCLUSIVE = 0, /* read-write: LOCK held exclusively */
    ARM_LOCK_SHARED = 1,    /* read-only: LOCK held shared (writers are kept out) */
    ARM_LOCK_NONE = 2,      /* read-only on a read-only file system without LOCK: no lock */
};

/* Counters. New fields are only ever appended. */
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
    /* ---- fields past here were added after the first version */
    uint64_t open_hinted;   /* data files the last open recovered from their hint file */
    uint64_t open_scanned;  /* data files the last open recovered by reading them whole */
    int lock_mode;          /* enum arm_lock_mode */
    int hints;              /* opts->hints in force: hint files read at open and (unless
                               read-only) written for sealed files */
    int compacting;         /* 1 while a merge is running (background or arm_engine_compact) */
    int compaction;         /* opts->compaction in force: the background thread runs */
} arm_engine_stats;
/* Fill *stats_out (every field this engine and the caller's header both
 * know; any other is left as it was). Cannot fail. A macro: it passes
 * sizeof(*stats_out) to arm_engine_stats_get_v. */
#define arm_engine_stats_get(engine, stats_out) \
    arm_engine_stats_get_v((engine), (stats_out), sizeof(*(stats_out)))
void arm_engine_stats_get_v(arm_engine *engine, arm_engine_stats *stats_out, size_t size);

/* Bytes in the data files of one shard's directory (its log and the merged
 * files compaction wrote there), and of those the bytes of entries no longer
 * live (overwritten, deleted, tombstones), counted for whichever index shard
 * a key routes to: the figures compaction_threshold is measured against. */
typedef struct arm_shard_bytes {
    uint64_t files;         /* data files */
    uint64_t bytes;         /* their entry bytes (headers not counted) */
    uint64_t dead;          /* of those, dead */
} arm_shard_bytes;
/* Fill *out for shard `shard` (< stats.shards; otherwise zeros). Cannot fail;
 * takes no lock a writer waits on. */
void arm_engine_shard_bytes(arm_engine *engine, uint32_t shard, arm_shard_bytes *out);

/* What a compaction pass did. */
typedef struct arm_compact_result {
    uint64_t files_in;      /* data files merged and removed */
    uint64_t files_out;     /* merged files written (an empty one marks a log's lost start) */
    uint64_t bytes_in;      /* bytes of the files removed */
    uint64_t bytes_out;     /* bytes of the merged files written */
    uint64_t reclaimed;     /* bytes_in - bytes_out (0 when that is negative) */
} arm_compact_result;
/**
 * Compaction now: for each shard, merge its sealed files that pass
 * compaction_threshold (dead/total bytes) as the background thread would
 * (see opts->compaction): the oldest sealed log files, as long as they pass
 * together and hold no transaction whose outcome is not known yet, and the
 * shard's earlier merged files that pass on their own. Live entries are
 * copied into new merged files; then the index is repointed (a write that
 * came meanwhile wins) and the old files are removed (readers, cursors and
 * log readers still holding one finish first). The active file is never
 * merged. Waits for a background merge that is running. Reads and writes go
 * on meanwhile. result_out (may be NULL) gets what this call did.
 *
 * ARM_OK (also when nothing passed); ARM_READONLY (read-only engine);
 * ARM_IOERR/ARM_FULL/ARM_NOMEM (writing the merged file: nothing changed, the
 * message says what); ARM_CORRUPT (an input file is damaged: it is left
 * alone); ARM_PANIC. Thread-safe; blocks for the whole pass.
 */
ARM_WARN_UNUSED int arm_engine_compact(arm_engine *engine, arm_compact_result *result_out);

/**
 * Verify every entry's checksum in every data file. For each problem found,
 * `report` (may be NULL) is called with the file path, the byte offset and a
 * message; all arguments are borrowed for the call. *problems_out gets the
 * count. `progress` (may be NULL) is called after each file with bytes done
 * and total. ARM_OK when the check ran (whatever it found: a file that cannot
 * be read is one more problem, reported); ARM_NOMEM; otherwise the error of
 * the flush that comes first (ARM_IOERR, ARM_FULL, ARM_IOERR_FSYNC,
 * ARM_PANIC). Each damaged entry is reported at its own offset and the check
 * goes on at the next good one; a batch cut short is reported where it is
 * cut; a torn write at the tail of a shard's newest file (which open cuts)
 * is not a problem.
 */
typedef void (*arm_check_report_fn)(void *ctx, const char *path, uint64_t offset,
                                    const char *message);
typedef void (*arm_progress_fn)(void *ctx, uint64_t done, uint64_t total);
ARM_WARN_UNUSED int arm_engine_check(arm_engine *engine, arm_check_report_fn report,
                                     arm_progress_fn progress, void *ctx,
                                     uint64_t *problems_out);

/**
 * Remove the database in `dir`: the files the engine made (ARMDB, APPMETA,
 * CRYPT, LOCK, the shard directories' data files) and then the directories themselves if that
 * leaves them empty. Nothing else in `dir` is touched, so a directory that
 * also holds other files keeps them (and stays). No engine may have `dir`
 * open. ARM_OK; ARM_NOTFOUND when there is no armdb database in `dir`;
 * ARM_BUSY when it is open; ARM_CORRUPT when its metadata is damaged;
 * ARM_IOERR (nothing is left half-removed that a later call cannot finish).
 */
ARM_WARN_UNUSED int arm_engine_destroy(const char *dir);

/* Directory this engine was opened on (borrowed until close). Cannot fail. */
const char *arm_engine_dir(const arm_engine *engine);

#ifdef __cplusplus
}
#endif
#endif /* ARM_ENGINE_H */
