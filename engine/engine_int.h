/* SPDX-License-Identifier: MIT */
/*
 * engine_int.h: private structures of the engine, shared by the engine sources and
 * visible to tests (-DARM_TEST). Lock order, always: shard index rwlocks (in
 * shard order), then at most one shard log mutex, then the file table's
 * mutex (file.c). The on-disk formats are drawn in ARCHITECTURE.md and log.c.
 * The engine's files call each other one way only: engine.c -> recover.c ->
 * shard.c -> file.c -> io_*.c, log.c (and write.c, cursor.c -> shard.c);
 * err.c is the leaf all of them report errors through.
 */
#ifndef ARM_ENGINE_INT_H
#define ARM_ENGINE_INT_H

#include "arm_engine.h"
#include "cache.h"
#include "file.h"
#include "index.h"
#include "io.h"

#include <pthread.h>
#include <stdatomic.h>

/* ------------------------------------------------------------- formats */
#define ARM_FORMAT_VERSION   1u
#define ARM_META_SIZE        64u
#define ARM_FILE_HEADER_SIZE 64u
#define ARM_ENTRY_HEADER     20u
#define ARM_META_NAME        "ARMDB"
#define ARM_LOCK_NAME        "LOCK"

#define ARM_ENTRY_PUT     1
#define ARM_ENTRY_DEL     2
#define ARM_ENTRY_TXN     0x01 /* member of a batch */
#define ARM_ENTRY_TXN_END 0x02 /* last member of its batch */

#define ARM_SHARDS_MAX         1024u
#define ARM_ROUTE_PREFIX_MAX   64u   /* bytes: shard_prefix_bits <= 512 */
#define ARM_KEY_SIZE_MAX       65535u
#define ARM_FILE_SIZE_MIN      (64u * 1024u)
#define ARM_FILE_SIZE_MAX      (4096ull * 1024 * 1024 - ARM_IO_BLOCK) /* offsets are u32 */
#define ARM_WRITE_BUFFER_MAX   (256u * 1024 * 1024)
#define ARM_SYNC_INTERVAL_MS   100u  /* sync=normal: background fdatasync period */
/* Sequence numbers stay below this: a billion writes a second would take
 * 146 years to reach it, so a larger one on disk is damage, and the counter
 * can never wrap. */
#define ARM_SEQ_MAX            ((uint64_t)1 << 62)

/* A decoded entry header. */
typedef struct arm_entry_hdr {
    uint32_t checksum;
    uint8_t type;
    uint8_t flags;
    uint16_t klen;
    uint32_t vlen;
    uint64_t seq;
} arm_entry_hdr;

/* A decoded data-file header. */
typedef struct arm_file_hdr {
    uint32_t version;
    uint32_t shard;
    uint32_t fid;
    uint32_t flags;
    uint8_t db_id[16];
    uint64_t base_seq;
} arm_file_hdr;

/* The decoded metadata file. */
typedef struct arm_meta {
    uint32_t version;
    uint32_t shard_count;
    uint8_t db_id[16];
    uint32_t flags;
    uint32_t prefix_bits;
    uint64_t created_ms;
} arm_meta;

/* log.c: pure encode/decode (no I/O), fuzzable. */
ARM_PRIVATE void arm_meta_encode(const arm_meta *m, uint8_t out[ARM_META_SIZE]);
ARM_PRIVATE int arm_meta_decode(const uint8_t *p, size_t n, arm_meta *m);
ARM_PRIVATE void arm_file_hdr_encode(const arm_file_hdr *h, uint8_t out[ARM_FILE_HEADER_SIZE]);
ARM_PRIVATE int arm_file_hdr_decode(const uint8_t *p, size_t n, arm_file_hdr *h);
/* Encode an entry header (checksum over header tail, key and value). */
ARM_PRIVATE void arm_entry_encode(uint8_t out[ARM_ENTRY_HEADER], uint8_t type, uint8_t flags,
                                  uint64_t seq, arm_slice key, arm_slice value);
/* The same header without its checksum, for an entry assembled in place;
 * arm_entry_seal then fills the checksum over the contiguous entry p[0..len)
 * (one pass, where the streaming form costs a 576-byte state per entry). */
ARM_PRIVATE void arm_entry_header(uint8_t out[ARM_ENTRY_HEADER], uint8_t type, uint8_t flags,
                                  uint64_t seq, size_t klen, size_t vlen);
ARM_PRIVATE void arm_entry_seal(uint8_t *p, size_t len);
/* Decode the entry at p[0..avail): ARM_OK and *h filled when a whole entry
 * with a good checksum is there; ARM_CORRUPT otherwise (torn, zeroed, bad).
 * max_key/max_value bound the lengths accepted. */
ARM_PRIVATE int arm_entry_decode(const uint8_t *p, size_t avail, uint32_t max_key,
                                 uint32_t max_value, arm_entry_hdr *h);
/* Verify a whole entry already read into memory (header, key, value). */
ARM_PRIVATE int arm_entry_verify(const uint8_t *p, size_t len);

static inline uint32_t arm_entry_size(size_t klen, size_t vlen) {
    return (uint32_t)(ARM_ENTRY_HEADER + klen + vlen);
}

/* ------------------------------------------------------------- shards */
typedef struct arm_shard {
    uint32_t id;
    char *dir;                    /* owned: <db>/shard-NNN */

    /* index side */
    pthread_rwlock_t index_lock;  /* guards index and ix_gen */
    arm_index *index;
    uint64_t ix_gen;              /* bumped when an item is created or removed: an item
                                     pointer found under the read lock is still valid
                                     under the write lock if ix_gen did not move */

    /* log side: everything below is guarded by log_lock */
    pthread_mutex_t log_lock;
    arm_file *active;             /* file appends go to */
    _Atomic uint32_t active_fid;  /* readable without the lock */
    uint8_t *buf_raw;             /* allocation holding buf */
    uint8_t *buf;                 /* write buffer, ARM_IO_BLOCK aligned */
    uint32_t buf_cap;             /* bytes, multiple of ARM_IO_BLOCK */
    uint32_t buf_len;             /* bytes of buf in use */
    uint64_t buf_off;             /* file offset of buf[0], block aligned */
    _Atomic uint64_t flushed_off; /* active file bytes [0, flushed_off) are in the file */
    uint64_t synced_off;          /* active file bytes [0, synced_off) are durable */
    int direct;                   /* active file written with O_DIRECT */
    arm_io_ring *ring;            /* io_uring when available and direct, else NULL */
    int syncing;                  /* a group-commit leader is in fdatasync */
    pthread_cond_t sync_cond;     /* signalled when a leader finishes */
    char pad[64];                 /* shards sit in an array: keep neighbours' lines apart */
} arm_shard;

/* ------------------------------------------------------------- engine */
struct arm_engine {
    char *dir;                    /* owned, as given */
    arm_engine_options opts;      /* effective options */
    arm_meta meta;
    int lock_fd;                  /* LOCK file with flock held */
    uint32_t shard_count;
    arm_shard *shards;            /* shard_count of them */
    /* The one counter every writer bumps: padded onto a cache line of its
     * own so it does not evict the read-mostly fields around it. */
    char seq_pad0[64];
    _Atomic uint64_t seq;         /* last sequence number assigned */
    char seq_pad1[64];
    _Atomic uint32_t next_fid;    /* next data file id */
    _Atomic int panic;            /* a log write/sync failed: writes refused */
    _Atomic int direct_ok;        /* O_DIRECT accepted by the file system */
    int use_uring;                /* io_uring rings in use */

    arm_files files;              /* the data files (file.c) */

    /* background sync (sync=normal) */
    pthread_t syncer;
    int syncer_running;
    pthread_mutex_t syncer_lock;
    pthread_cond_t syncer_cond;
    int syncer_stop;

    arm_cache *cache;             /* read cache, or NULL (cache_size 0) */
    _Atomic uint64_t cache_hits, cache_misses;
};

/* ------------------------------------------------------------- locks */
/* Critical sections here are a few hundred nanoseconds (an index probe and a
 * memcpy), while sleeping on a futex and being woken costs microseconds, more
 * in a VM: a contended lock is spun for briefly before blocking. */
#define ARM_LOCK_SPINS 256
static inline void arm_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
static inline void arm_index_wrlock(pthread_rwlock_t *l) {
    for (int i = 0; i < ARM_LOCK_SPINS; i++) {
        if (pthread_rwlock_trywrlock(l) == 0) return;
        arm_cpu_relax();
    }
    pthread_rwlock_wrlock(l);
}
static inline void arm_index_rdlock(pthread_rwlock_t *l) {
    for (int i = 0; i < ARM_LOCK_SPINS; i++) {
        if (pthread_rwlock_tryrdlock(l) == 0) return;
        arm_cpu_relax();
    }
    pthread_rwlock_rdlock(l);
}
static inline void arm_log_lock(pthread_mutex_t *m) {
    for (int i = 0; i < ARM_LOCK_SPINS; i++) {
        if (pthread_mutex_trylock(m) == 0) return;
        arm_cpu_relax();
    }
    pthread_mutex_lock(m);
}

/* err.c: the calling thread's last error (a leaf every layer reports through). */
#define ARM_ERRMSG_MAX 512
ARM_PRIVATE int arm_engine_seterr(int rc, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
ARM_PRIVATE void arm_engine_clearerr(void);
/* Save and restore the message and errno around cleanup that may set them. */
ARM_PRIVATE void arm_engine_saveerr(char msg[ARM_ERRMSG_MAX], int *err);
ARM_PRIVATE void arm_engine_restoreerr(const char msg[ARM_ERRMSG_MAX], int err);

/* The data file with this id (file.c's table), or NULL. The caller keeps it
 * from going away: see arm_files_get. */
static inline arm_file *arm_engine_file(const arm_engine *e, uint32_t fid) {
    return arm_files_get(&e->files, fid);
}
/* Count n bytes of file fid as dead, on behalf of index shard `shard`, whose
 * index write lock the caller holds (or recovery, single-threaded). */
static inline void arm_file_add_dead(arm_engine *e, uint32_t fid, uint32_t shard, uint64_t n) {
    arm_file *f = arm_engine_file(e, fid);
    if (ARM_ALWAYS(f != NULL)) arm_file_count_dead(f, shard, n);
}

/* shard.c: the log (write buffer, rotation, group commit, reads that may come
 * from the buffer) and key routing. Calls file.c, never engine.c or
 * recover.c. */
ARM_PRIVATE uint32_t arm_engine_route(const arm_engine *e, const uint8_t *key, size_t klen);
ARM_PRIVATE int arm_shard_init(arm_engine *e, arm_shard *s, uint32_t id);
ARM_PRIVATE void arm_shard_deinit(arm_engine *e, arm_shard *s);
/* Make room for `len` contiguous bytes in the active file (rotating when the
 * file would pass max_file_size). Caller holds log_lock. */
ARM_PRIVATE int arm_shard_reserve(arm_engine *e, arm_shard *s, uint64_t len);
/* Append bytes to the log (through the buffer). Caller holds log_lock and
 * reserved the space. */
ARM_PRIVATE int arm_shard_append(arm_engine *e, arm_shard *s, const void *p, size_t n);
/* Hand buffered bytes to the kernel. Caller holds log_lock. */
ARM_PRIVATE int arm_shard_flush_locked(arm_engine *e, arm_shard *s);
/* Make the log durable up to (fid, end) with group commit. Takes log_lock. */
ARM_PRIVATE int arm_shard_sync_to(arm_engine *e, arm_shard *s, uint32_t fid, uint64_t end);
/* Copy file bytes [off, off+n) of file f, from its owner's buffer or file. */
ARM_PRIVATE int arm_shard_read(arm_engine *e, arm_file *f, uint64_t off, void *dst, size_t n);
/* Create a new data file and make it the shard's active file. log_lock held
 * (or single-threaded open). */
ARM_PRIVATE int arm_shard_new_file(arm_engine *e, arm_shard *s);
/* Make recovered file f, valid up to end, the shard's active file: reopened
 * for appending, cut at end, its tail block in the write buffer.
 * Single-threaded open. */
ARM_PRIVATE int arm_shard_resume(arm_engine *e, arm_shard *s, arm_file *f, uint64_t end);
/* Pointer to file bytes [off, off+n) in the mapping when they are all in the
 * file already, else NULL (read through arm_shard_read). */
ARM_PRIVATE const uint8_t *arm_shard_mapped(arm_engine *e, arm_file *f, uint64_t off, size_t n);
/* Read the entry at loc, verify its checksum and that it holds `key`, and
 * return its value: a slice into the file mapping, or into buf (grown as
 * needed) when the entry is not mapped. The caller keeps loc's file from
 * being removed while it uses the value: it holds a reference to it
 * (arm_files_hold), or still holds the index lock under which it read loc. */
ARM_PRIVATE int arm_engine_read_value(arm_engine *e, const arm_item *loc, arm_slice key,
                                      arm_buf *buf, arm_slice *value_out);

/* write.c, for cursor overlays: the index of the latest record of every key
 * in a batch, in first-write order (idx_out holds arm_engine_batch_mark()
 * entries; returns how many), and one record's key, value and delete flag. */
ARM_PRIVATE size_t arm_batch_latest(const arm_batch *b, size_t *idx_out);
ARM_PRIVATE void arm_batch_rec(const arm_batch *b, size_t i, arm_slice *key, arm_slice *value,
                               int *del);

/* recover.c */
ARM_PRIVATE int arm_engine_recover(arm_engine *e);

#endif
