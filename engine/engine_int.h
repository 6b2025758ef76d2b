/* SPDX-License-Identifier: MIT */
/*
 * engine_int.h: private structures of the engine, shared by the engine sources and
 * visible to tests (-DARM_TEST). Lock order, always: shard index rwlocks (in
 * shard order), then at most one shard log mutex, then the engine's files
 * mutex. The on-disk formats are drawn in ARCHITECTURE.md and log.c.
 */
#ifndef ARM_ENGINE_INT_H
#define ARM_ENGINE_INT_H

#include "arm_engine.h"
#include "cache.h"
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
#define ARM_APP_META_NAME    "APPMETA"   /* appmeta.c */
#define ARM_APP_META_MAX     65536u      /* bytes of application metadata */

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
#define ARM_FILE_CHUNK         1024u /* file table: chunks of this many slots */
#define ARM_FILE_CHUNKS_MAX    4096u /* => at most 4M data files */
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

/* ------------------------------------------------------------- files */
typedef struct arm_file {
    uint32_t fid;                 /* database-wide id; file name %08u.log */
    uint32_t shard;               /* shard whose log this file belongs to */
    int fd;                       /* read/write fd (O_DIRECT when the shard writes direct) */
    int rfd;                      /* buffered read-only fd: reads need no alignment */
    _Atomic uint64_t size;        /* logical bytes: header + entries appended */
    /* Bytes of entries no longer live, one counter per index shard: only
     * writers holding that shard's index write lock (or single-threaded
     * recovery) add to dead[i], so a plain load and store suffice. A locked
     * add here drained the store buffer (the entry just copied into the
     * write buffer) on every write. Sum for the total. */
    _Atomic uint64_t *dead;       /* ndead counters, owned */
    uint32_t ndead;               /* = shard count */
    char *path;                   /* owned */
    const uint8_t *map;           /* read-only mapping of the file, or NULL (pread) */
    uint64_t map_len;             /* bytes mapped; never read past the file's flushed end */
} arm_file;

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

    /* file table: fid -> arm_file, chunked so lookups are lock-free */
    pthread_mutex_t files_lock;   /* guards creation of chunks and entries */
    /* chunk pointers are published once, atomically: readers take no lock */
    _Atomic(_Atomic(arm_file *) *) file_chunks[ARM_FILE_CHUNKS_MAX];

    /* background sync (sync=normal) */
    pthread_t syncer;
    int syncer_running;
    pthread_mutex_t syncer_lock;
    pthread_cond_t syncer_cond;
    int syncer_stop;

    arm_cache *cache;             /* read cache, or NULL (cache_size 0) */
    _Atomic uint64_t cache_hits, cache_misses;

    /* application metadata (appmeta.c): the APPMETA payload, cached */
    pthread_mutex_t app_lock;     /* guards app_meta, app_meta_present and the file */
    arm_buf app_meta;
    int app_meta_present;         /* 0: the directory has no APPMETA */
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

/* engine.c helpers used by cursor.c and the write path */
ARM_PRIVATE uint32_t arm_engine_route(const arm_engine *e, const uint8_t *key, size_t klen);
ARM_PRIVATE arm_file *arm_engine_file(const arm_engine *e, uint32_t fid);
/* Read the entry at loc, verify its checksum and that it holds `key`, and
 * return its value: a slice into the file mapping, or into buf (grown as
 * needed) when the entry is not mapped. */
ARM_PRIVATE int arm_engine_read_value(arm_engine *e, const arm_item *loc, arm_slice key,
                                      arm_buf *buf, arm_slice *value_out);
/* Thread-local error reporting. */
ARM_PRIVATE int arm_engine_seterr(int rc, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* shard.c: the log write path */
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
/* Map f for reads (len bytes of address space, may exceed the file: only
 * bytes already in the file are ever touched). Failure leaves f->map NULL. */
ARM_PRIVATE void arm_file_map(arm_engine *e, arm_file *f, uint64_t len);
/* Pointer to file bytes [off, off+n) in the mapping when they are all in the
 * file already, else NULL (read through arm_shard_read). */
ARM_PRIVATE const uint8_t *arm_shard_mapped(arm_engine *e, arm_file *f, uint64_t off, size_t n);
/* Register a file in the engine's file table. */
ARM_PRIVATE int arm_engine_file_add(arm_engine *e, arm_file *f);
ARM_PRIVATE void arm_file_free(arm_file *f);
/* A data file's path: <shard dir>/%08u.log. */
ARM_PRIVATE void arm_file_path(char *buf, size_t n, const arm_shard *s, uint32_t fid);
/* A new arm_file for (s, fid) with its path set and no fds open (fd, rfd
 * -1). ARM_OK or ARM_NOMEM; free with arm_file_free. */
ARM_PRIVATE int arm_file_new(const arm_engine *e, const arm_shard *s, uint32_t fid,
                             arm_file **file_out);
/* Count n bytes of file fid as dead, on behalf of index shard `shard`, whose
 * index write lock the caller holds (or recovery, single-threaded). */
ARM_PRIVATE void arm_file_add_dead(arm_engine *e, uint32_t fid, uint32_t shard, uint64_t n);
ARM_PRIVATE uint64_t arm_file_dead(const arm_file *f);

/* write.c, for cursor overlays: the index of the latest record of every key
 * in a batch, in first-write order (idx_out holds arm_engine_batch_mark()
 * entries; returns how many), and one record's key, value and delete flag. */
ARM_PRIVATE size_t arm_batch_latest(const arm_batch *b, size_t *idx_out);
ARM_PRIVATE void arm_batch_rec(const arm_batch *b, size_t i, arm_slice *key, arm_slice *value,
                               int *del);

/* appmeta.c: APPMETA. load at open (a missing file is ARM_OK with
 * app_meta_present 0), write at creation (before ARMDB) and on set. */
ARM_PRIVATE int arm_app_meta_load(arm_engine *e);
ARM_PRIVATE int arm_app_meta_write(arm_engine *e, arm_slice meta);
ARM_PRIVATE int arm_app_meta_decode(const uint8_t *p, size_t n, const uint8_t db_id[16],
                                    arm_slice *payload);

/* recover.c */
ARM_PRIVATE int arm_engine_recover(arm_engine *e);

#endif
