/* SPDX-License-Identifier: MIT */
/*
 * engine_int.h: private structures of the engine, shared by the engine sources and
 * visible to tests (-DARM_TEST). Lock order, always: shard index rwlocks (in
 * shard order), then at most one shard log mutex, then the file table's
 * mutex (file.c) or crypto.c's nonce-lease mutex. The on-disk formats are drawn in ARCHITECTURE.md and log.c.
 * The engine's files call each other one way only: engine.c -> recover.c ->
 * shard.c -> file.c -> io_*.c, log.c (write.c and cursor.c call shard.c and
 * file.c; engine.c starts and stops compact.c, which calls file.c, mvcc.c and
 * outcome.c; every one may call index.c and cache.c); err.c is the leaf all
 * of them report errors through.
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
/* LOCK's content (ARCHITECTURE.md "LOCK"): a state byte, then the sequence
 * floor. The state is what the last read-write engine left: anything but
 * CLEAN (a crash, a power cut, a LOCK from an older build) means its newest
 * entries may be gone, and the open moves the sequence counter ARM_SEQ_GAP
 * past both what it recovered and the floor, so that no (sequence, offset)
 * of a lost entry is reused by a new one: a follower that received a lost
 * entry then finds its position gone (ARM_RANGE) and is sent a snapshot,
 * instead of matching an unrelated entry. The floor keeps that true across
 * later opens. */
#define ARM_LOCK_CLEAN       'C'
#define ARM_LOCK_OPEN        'O'
#define ARM_LOCK_BYTES       17
#define ARM_SEQ_GAP          ((uint64_t)1 << 32)
#define ARM_APP_META_NAME    "APPMETA"   /* appmeta.c */
#define ARM_APP_META_MAX     65536u      /* bytes of application metadata */
#define ARM_META_ENCRYPTED   0x1u        /* ARMDB and file-header flag: see crypto.h */

#define ARM_ENTRY_PUT      1
#define ARM_ENTRY_DEL      2
#define ARM_ENTRY_TXNINFO  3 /* first member of a batch whose decision is external:
                                key 1 byte (0), value the 16-byte owner */
#define ARM_ENTRY_DECISION 4 /* outcome of an earlier batch: key its sequence number
                                (8 bytes LE), value 1 byte ARM_DECISION_* */
#define ARM_ENTRY_REPL_POS 5 /* a follower's position in one shard of its leader, written
                                in the batch that applied what it covers: key the shard
                                (2 bytes LE), value ARM_REPL_POS_VLEN bytes (log.c) */
#define ARM_ENTRY_TXN      0x01 /* member of a batch */
#define ARM_ENTRY_TXN_END  0x02 /* last member of its batch */
#define ARM_FILE_MERGED    0x80000000u /* data-file header flag: written by compaction
                                          (compact.c), holds copies, is no part of a log */
#define ARM_DECISION_COMMIT 1
#define ARM_DECISION_ABORT  2
#define ARM_TXNINFO_VLEN    16
#define ARM_DECISION_KLEN   8
#define ARM_REPL_POS_KLEN   2
#define ARM_REPL_POS_VLEN   48

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
/* LOCK's content: state (ARM_LOCK_OPEN / ARM_LOCK_CLEAN) and sequence floor.
 * Decode is ARM_CORRUPT for anything but a whole, checksummed record (an
 * empty LOCK from an older build included). */
ARM_PRIVATE void arm_lock_encode(uint8_t out[ARM_LOCK_BYTES], uint8_t state, uint64_t floor);
ARM_PRIVATE int arm_lock_decode(const uint8_t *p, size_t n, uint8_t *state, uint64_t *floor);
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
/* The first offset in [from, size) of p where a whole entry with a good
 * checksum starts, or size when there is none. Byte by byte: entries are not
 * aligned. Tells a torn tail (nothing valid after it) from damage. */
ARM_PRIVATE size_t arm_entry_find(const uint8_t *p, size_t size, size_t from);
/* The length the entry header at p claims when its fields obey the rules
 * (the checksum unchecked: the header of a damaged entry may still be good),
 * else 0. */
ARM_PRIVATE size_t arm_entry_span(const uint8_t *p, size_t avail);
/* Verify a whole entry already read into memory (header, key, value). */
ARM_PRIVATE int arm_entry_verify(const uint8_t *p, size_t len);
/* A REPL_POS entry's value: the leader, the position, its flags
 * (ARM_REPL_RESYNC). decode: ARM_OK or ARM_CORRUPT (reserved bits set, a
 * position that cannot be one). */
ARM_PRIVATE void arm_repl_pos_encode(uint8_t out[ARM_REPL_POS_VLEN], const uint8_t leader[16],
                                     const arm_log_pos *pos, uint32_t flags);
ARM_PRIVATE int arm_repl_pos_decode(const uint8_t *p, size_t n, uint8_t leader[16],
                                    arm_log_pos *pos, uint32_t *flags);

/* qsort/bsearch order of uint64_t. */
static inline int arm_u64_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static inline uint32_t arm_entry_size(size_t klen, size_t vlen) {
    return (uint32_t)(ARM_ENTRY_HEADER + klen + vlen);
}

/* Hint files (log.c draws them): a 64-byte header, one record per entry of
 * the sealed data file it describes, a footer with a checksum of it all. */
#define ARM_HINT_HEADER_SIZE 64u
#define ARM_HINT_RECORD      20u /* record bytes before the key */
#define ARM_HINT_FOOTER      24u
#define ARM_HINT_SUFFIX      ".hint"

typedef struct arm_hint_hdr {
    uint32_t version;
    uint32_t shard;
    uint32_t fid;
    uint32_t flags;               /* the data file's flags */
    uint8_t db_id[16];
    uint64_t log_size;            /* bytes of the data file described */
} arm_hint_hdr;

/* One record: the entry's header (checksum 0), where it is, its key. */
typedef struct arm_hint_rec {
    arm_entry_hdr h;
    uint32_t off;
    const uint8_t *key;           /* h.klen bytes, into the hint file's bytes, followed by
                                     arm_hint_value_len(&h) bytes of the value */
} arm_hint_rec;

/* The bytes of an entry's value its hint record carries after the key: all
 * of a TXNINFO's, DECISION's or REPL_POS's (16, 1 and 48 bytes, which
 * recovery needs), none of a PUT's or DELETE's (what hints save reading). */
static inline uint32_t arm_hint_value_len(const arm_entry_hdr *h) {
    return h->type == ARM_ENTRY_PUT || h->type == ARM_ENTRY_DEL ? 0 : h->vlen;
}

ARM_PRIVATE void arm_hint_hdr_encode(const arm_hint_hdr *h, uint8_t out[ARM_HINT_HEADER_SIZE]);
ARM_PRIVATE int arm_hint_hdr_decode(const uint8_t *p, size_t n, arm_hint_hdr *h);
ARM_PRIVATE void arm_hint_rec_encode(uint8_t out[ARM_HINT_RECORD], const arm_entry_hdr *h,
                                     uint32_t off);
/* checksum: arm_hash_checksum of every file byte before the footer's last 8. */
ARM_PRIVATE void arm_hint_footer_encode(uint8_t out[ARM_HINT_FOOTER], uint64_t count,
                                        uint64_t checksum);
/* Check a whole hint file p[0..n): header, footer, checksum, and records that
 * obey the entry rules and tile the data file from its header to log_size.
 * ARM_OK and *h filled, or ARM_CORRUPT. */
ARM_PRIVATE int arm_hint_check(const uint8_t *p, size_t n, arm_hint_hdr *h);
/* The record at *pos of a checked hint file (start at ARM_HINT_HEADER_SIZE),
 * *pos moved past it: ARM_OK, or ARM_NOTFOUND at the footer. */
ARM_PRIVATE int arm_hint_next(const uint8_t *p, size_t n, size_t *pos, arm_hint_rec *r);

/* ------------------------------------------------------ domains, versions */
#define ARM_SNAP_CHUNK 256 /* snapshot slots per registry chunk */

/* Snapshot registrations: a slot holds 0 (free), 1 (being taken: protects
 * every version), 2 (expired) or seq + 3, with ARM_SNAP_IDLE set while its
 * holder is between statements (idle_ms: since when). An idle snapshot
 * stops protecting versions after ARM_SNAP_IDLE_MS, or sooner when a shard
 * keeps ARM_SNAP_PRESSURE_NODES versions: it is expired then, and its
 * holder's next use fails (arm_snapshot_resume). Chunks are added, never
 * removed, until the domain is freed. */
#define ARM_SNAP_IDLE           ((uint64_t)1 << 63)
#define ARM_SNAP_EXPIRED        2u
#define ARM_SNAP_IDLE_MS        30000u
#define ARM_SNAP_PRESSURE_NODES (1u << 20)
typedef struct arm_snap_chunk {
    _Atomic uint64_t slot[ARM_SNAP_CHUNK];
    _Atomic uint64_t idle_ms[ARM_SNAP_CHUNK];
    _Atomic(struct arm_snap_chunk *) next;
} arm_snap_chunk;

struct arm_domain {
    char pad0[64];
    _Atomic uint64_t seq;         /* last sequence number / version stamp assigned */
    char pad1[64];
    _Atomic uint64_t nsnap;       /* snapshots registered */
    char pad2[64];
    _Atomic uint32_t nprepared;   /* transactions prepared, not yet published/discarded */
    _Atomic uint32_t nwaiters;    /* threads in arm_domain_wait_prepared */
    uint32_t idle_ms;             /* ARM_SNAP_IDLE_MS (tests shorten it) */
    _Atomic int refs;             /* arm_domain_new's reference + engines */
    pthread_mutex_t mu;           /* guards chunk growth and prepared-waiters */
    pthread_cond_t prepared_cond; /* broadcast when nprepared drops */
    arm_snap_chunk first;
};

ARM_PRIVATE arm_domain *arm_domain_ref(arm_domain *d);
ARM_PRIVATE void arm_domain_unref(arm_domain *d);
/* Smallest snapshot seq registered (0 while one is being taken), or
 * UINT64_MAX when there is none. Idle snapshots past their time, or any idle
 * one under `pressure`, are expired instead of counted. */
ARM_PRIVATE uint64_t arm_domain_min_snapshot(arm_domain *d, int pressure);
/* Take the next sequence number, or 0 when they are exhausted (the caller
 * refuses the write). */
ARM_PRIVATE uint64_t arm_domain_next_seq(arm_domain *d);
/* Raise the counter to at least seq (recovery). */
ARM_PRIVATE void arm_domain_observe_seq(arm_domain *d, uint64_t seq);
ARM_PRIVATE void arm_domain_prepared_add(arm_domain *d, int delta);

/* An older version of a key, kept while a snapshot may read it. */
typedef struct arm_ver {
    uint64_t ver;          /* stamp when this version became visible */
    uint32_t fid, off, len; /* where its entry lives (dead: its tombstone, or fid 0) */
    uint8_t dead;          /* the version is a deletion */
    struct arm_ver *next;  /* the next older version */
} arm_ver;

/* A shard's version store: item -> its older versions, newest first. Open
 * addressing on the item pointer. Guarded by the shard's index_lock. */
typedef struct arm_vstore {
    arm_item **item;       /* cap slots, NULL = empty */
    arm_ver **head;        /* cap chains */
    uint64_t cap, n;       /* cap a power of two (or 0); n items with chains */
    uint64_t nodes;        /* arm_ver nodes held (chains and the spare list) */
    arm_ver *spare;        /* freed nodes kept for reuse, so installs rarely allocate */
    uint64_t nspare;
} arm_vstore;

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
    arm_vstore vs;                /* older versions for snapshots (index_lock) */
    uint64_t ndead;               /* DEAD items in the index: not keys (index_lock) */
    uint64_t lost_ver;            /* an older version could not be kept (out of memory)
                                     when a version with this stamp was installed:
                                     snapshots before it fail their reads (index_lock) */
    uint32_t gc_tick;             /* installs since the version store was last pruned */

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
    arm_log_pos tail;             /* just past the last entry appended (origin: none yet) */
    /* Compaction removed this shard's log files up to and including this id
     * (0: none): a log reader that would step from a file below it to the
     * next would skip what they held (logread.c fails instead). Written by
     * compact.c (and recovery), read by log readers. */
    _Atomic uint32_t log_gone;
    char pad[64];                 /* shards sit in an array: keep neighbours' lines apart */
} arm_shard;

/* ------------------------------------------------------- batch outcomes */
/* A batch in a log whose outcome is not known yet: a prepared transaction
 * (the node lives in its arm_txn) or an in-doubt one (in its in-doubt
 * record). outcome.c. */
typedef struct arm_pending {
    uint64_t seq;
    uint32_t shard;               /* whose log holds the batch */
    struct arm_pending *prev, *next;
} arm_pending;

/* What a log reader needs to know about the batches it meets (outcome.c):
 * which are still undecided and which were aborted. Everything else in a log
 * is published. Lock order: a shard's log mutex, then mu. */
typedef struct arm_outcomes {
    pthread_mutex_t mu;
    arm_pending head;             /* circular list of pending batches (mu) */
    _Atomic uint32_t npending;    /* its length: 0 lets readers skip the lock */
    uint64_t *aborted;            /* sorted seqs of batches aborted after their prepare (mu) */
    size_t naborted, cap_aborted;
    _Atomic uint32_t any_aborted; /* naborted != 0, or the set lost one (then readers fail) */
    int lost;                     /* an abort could not be recorded (out of memory) */
} arm_outcomes;

/* Watches (outcome.c): eventfds written when something lands while armed. */
struct arm_watch {
    arm_engine *e;
    int fd;
    _Atomic int armed;
    struct arm_watch *next;       /* the engine's list (watch_mu) */
};

/* A follower's positions (engine.c keeps them; apply and recovery set them). */
typedef struct arm_repl_state {
    uint8_t leader[16];
    arm_log_pos pos;
    uint32_t flags;               /* enum arm_repl_flags */
    uint64_t stored;              /* local seq of the entry that stored it (0: none) */
} arm_repl_state;

/* ------------------------------------------------------------- engine */
struct arm_engine {
    char *dir;                    /* owned, as given */
    arm_engine_options opts;      /* effective options */
    arm_meta meta;
    int lock_fd;                  /* LOCK file with flock held, or -1 */
    int marked_open;              /* LOCK says open (ARM_LOCK_OPEN): a clean close says clean */
    int opened;                   /* arm_engine_open succeeded (close may mark LOCK clean) */
    uint64_t seq_floor;           /* sequences of this engine are above it (LOCK bytes 1..8) */
    int lock_mode;                /* enum arm_lock_mode */
    uint32_t shard_count;
    arm_shard *shards;            /* shard_count of them */
    /* The sequence counter every writer bumps lives in the domain (padded
     * onto a cache line of its own there). */
    arm_domain *dom;              /* held reference */
    char pub_pad0[64];
    _Atomic uint64_t last_pub;    /* stamp of the newest version installed here */
    uint64_t open_seq;            /* largest stamp recovered at open: every snapshot sees
                                     those versions, even one taken before the open */
    _Atomic uint32_t nprepared;   /* transactions holding keys here: prepared and not yet
                                     published or discarded, and in-doubt ones */
    char pub_pad1[64];
    _Atomic uint32_t next_fid;    /* next data file id */
    _Atomic int panic;            /* a log write/sync failed: writes refused */
    _Atomic int direct_ok;        /* O_DIRECT accepted by the file system */
    int use_uring;                /* io_uring rings in use */

    arm_files files;              /* the data files (file.c) */
    arm_crypt *crypt;             /* encrypted database: keys and nonces (crypto.c), or NULL */
    uint8_t *open_key;            /* the key during arm_engine_open only (crypto.c memory) */

    /* background sync (sync=normal) */
    pthread_t syncer;
    int syncer_running;
    pthread_mutex_t syncer_lock;
    pthread_cond_t syncer_cond;
    int syncer_stop;

    arm_cache *cache;             /* read cache, or NULL (cache_size 0) */
    uint64_t open_hinted;         /* data files recovered from hints at open */
    uint64_t open_scanned;        /* data files recovered by a scan at open */
    _Atomic uint64_t cache_hits, cache_misses;

    /* in-doubt transactions found by recovery (txn.c), and externally
     * decided ones whose outcome is not yet known durable; indoubt_lock */
    pthread_mutex_t indoubt_lock;
    struct arm_indoubt_txn *indoubt; /* list */
    struct arm_ext_track *ext_track; /* array */
    size_t next_track, cap_track;

    arm_outcomes outcomes;        /* undecided and aborted batches (outcome.c) */
    char watch_pad0[64];
    _Atomic int watch_armed;      /* some watch is armed: writers notify */
    char watch_pad1[64];
    pthread_mutex_t watch_mu;     /* guards the watch list */
    struct arm_watch *watches;

    /* transactions registered as readers, validating or prepared (txn.c) */
    pthread_mutex_t readers_mu;   /* after index locks; guards the list and their read sets */
    struct arm_txn *readers;
    _Atomic uint32_t nreaders;

    _Atomic int follower;         /* arm_engine_set_follower: only apply writes */
    pthread_mutex_t repl_mu;      /* guards repl[] */
    arm_repl_state *repl;         /* shard_count of them */
    struct arm_compactor *compactor; /* compact.c: the merge state and thread, or NULL */
    /* application metadata (appmeta.c): the APPMETA payload, cached */
    pthread_mutex_t app_lock;     /* guards app_meta, app_meta_present and the file */
    arm_buf app_meta;
    int app_meta_present;         /* 0: the directory has no APPMETA */
};

/* An externally decided transaction, from prepare until its outcome record
 * is known to be synced (arm_engine_txn_durable). */
typedef struct arm_ext_track {
    uint64_t id;
    uint32_t shard, fid; /* where its outcome record is */
    uint64_t end;
    int decided;         /* the record is written */
} arm_ext_track;

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

/* arm_engine_get at snapshot seq snap (UINT64_MAX: the newest). */
ARM_PRIVATE int arm_engine_get_at(arm_engine *e, arm_slice key, uint64_t snap, arm_buf *value_out);
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

/* write.c: one operation of a commit, and appending a run of them. */
typedef struct arm_wop {
    arm_slice key;
    arm_slice value;
    int del;          /* 1 = delete */
    uint32_t shard;   /* index shard the key routes to */
    arm_item *item;   /* existing or pre-created index item */
    int created;      /* item was created for this write (removed again on failure) */
    int skip;         /* delete of an absent key: nothing to write */
    int absent;       /* the key must not exist at commit (conditional insert) */
    int found;        /* item already looked up (existing key) by the caller */
    uint64_t off;     /* where the entry went */
    uint32_t len;     /* its length */
    uint8_t type;     /* entry type when not PUT/DELETE (a DECISION record), else 0 */
} arm_wop;

/* Append the ops that are not skipped to shard s's log as one batch (flags
 * TXN/TXN_END when there are several, or when owner != NULL: then a TXNINFO
 * entry carrying the 16-byte owner goes first), with a new sequence number;
 * with sync normal/full the bytes reach the kernel. Caller holds s->log_lock,
 * checked the panic flag, and made sure total + header fits one file.
 * `live` ops are not skipped and take `total` bytes (TXNINFO included).
 * On failure nothing of the batch is in the file's logical part (or the
 * engine is poisoned). */
ARM_PRIVATE int arm_log_append(arm_engine *e, arm_shard *s, arm_wop *ops, size_t n, size_t live,
                               uint64_t total, const uint8_t *owner, uint64_t *seq_out,
                               uint32_t *fid_out, uint64_t *end_out);
/* Bytes arm_log_append writes for the TXNINFO entry. */
#define ARM_TXNINFO_BYTES (ARM_ENTRY_HEADER + 1 + ARM_TXNINFO_VLEN)
/* Append a DECISION record for batch `batch_seq` to shard s's log and, with
 * sync normal/full, hand it to the kernel. Takes s->log_lock. */
ARM_PRIVATE int arm_log_decision(arm_engine *e, arm_shard *s, uint64_t batch_seq, int outcome,
                                 uint32_t *fid_out, uint64_t *end_out);
/* Lock (lock=1) or unlock the index write locks of the shards set in mask,
 * in shard order. */
ARM_PRIVATE void arm_lock_shards(arm_engine *e, const uint8_t *mask, int lock);

/* write.c, for cursor overlays: the index of the latest record of every key
 * in a batch, in first-write order (idx_out holds arm_engine_batch_mark()
 * entries; returns how many), and one record's key, value and delete flag. */
ARM_PRIVATE size_t arm_batch_latest(const arm_batch *b, size_t *idx_out);
ARM_PRIVATE void arm_batch_rec(const arm_batch *b, size_t i, arm_slice *key, arm_slice *value,
                               int *del);
/* Distinct keys the batch writes. */
ARM_PRIVATE size_t arm_batch_nkeys(const arm_batch *b);

/* appmeta.c: APPMETA. load at open (a missing file is ARM_OK with
 * app_meta_present 0), write at creation (before ARMDB) and on set. */
ARM_PRIVATE int arm_app_meta_load(arm_engine *e);
ARM_PRIVATE int arm_app_meta_write(arm_engine *e, arm_slice meta);
ARM_PRIVATE int arm_app_meta_decode(const uint8_t *p, size_t n, const uint8_t db_id[16],
                                    arm_slice *payload);

/* recover.c */
ARM_PRIVATE int arm_engine_recover(arm_engine *e);

/* compact.c: merging sealed data files (contract: arm_engine_compact). init
 * after recovery (starts the background thread unless read-only or
 * opts.compaction is 0); stop at close, before the shards go (joins it;
 * NULL-safe). */
ARM_PRIVATE int arm_compact_init(arm_engine *e);
ARM_PRIVATE void arm_compact_stop(arm_engine *e);
/* 1 while a merge is running (stats). */
ARM_PRIVATE int arm_compact_running(arm_engine *e);

/* outcome.c: batches whose outcome a log reader must know. pending_add when
 * a prepared batch is appended (under its shard's log mutex, so a reader
 * that sees the bytes sees it pending); resolve when it is published
 * (aborted 0) or its abort record is written (aborted 1); aborted_add for
 * an abort recovery found. Cannot fail: an abort that cannot be recorded
 * makes readers fail instead (ARM_NOMEM). */
ARM_PRIVATE int arm_outcomes_init(arm_outcomes *o);
ARM_PRIVATE void arm_outcomes_deinit(arm_outcomes *o);
ARM_PRIVATE void arm_outcome_pending_add(arm_engine *e, arm_pending *p, uint64_t seq,
                                         uint32_t shard);
/* 1 when a batch in the log of shard i before pos[i] is pending (arm_engine_log_cut). */
ARM_PRIVATE int arm_outcome_pending_before(arm_engine *e, const arm_log_pos *pos);
ARM_PRIVATE void arm_outcome_resolve(arm_engine *e, arm_pending *p, int aborted);
ARM_PRIVATE void arm_outcome_aborted_add(arm_engine *e, uint64_t seq);
enum { ARM_OUTCOME_PUBLISHED = 0, ARM_OUTCOME_PENDING = 1, ARM_OUTCOME_ABORTED = 2 };
/* ARM_OUTCOME_* of batch seq, or ARM_NOMEM (negated) when the aborted set
 * lost an entry. */
ARM_PRIVATE int arm_outcome_of(arm_engine *e, uint64_t seq);
/* Something landed (a commit, a decision, an apply): wake armed watches.
 * One atomic load when none is armed. */
ARM_PRIVATE void arm_watch_fire(arm_engine *e);
static inline void arm_watch_notify(arm_engine *e) {
    if (atomic_load(&e->watch_armed)) arm_watch_fire(e);
}
/* engine.c: the error every write to a follower gets (ARM_READONLY). */
ARM_PRIVATE int arm_engine_refuse_follower(const arm_engine *e);
/* engine.c: a follower's position stored by an entry with local seq
 * `stored` (kept only if newer than what is there). */
ARM_PRIVATE void arm_repl_note(arm_engine *e, uint32_t shard, const uint8_t leader[16],
                               const arm_log_pos *pos, uint32_t flags, uint64_t stored);

/* ------------------------------------------------------------- mvcc.c */
/* The version of item `it` visible at snapshot seq snap (UINT64_MAX: the
 * newest). Fills *loc with the item's header fields for that version and
 * returns 1 when a value is visible, 0 when the key does not exist then, or
 * ARM_BUSY_SNAPSHOT (negated) when the version was lost to an out-of-memory.
 * Caller holds the shard's index lock. */
ARM_PRIVATE int arm_vs_visible(const arm_shard *s, const arm_item *it, uint64_t snap,
                               arm_item *loc);
/* Before installing over `it` at stamp `stamp`: keep its current version for
 * snapshots (call only when a snapshot may need it). 1 when kept; 0 when no
 * memory could be had, and then the shard's lost_ver marks the snapshots
 * that can no longer read (they fail rather than read wrong). Write lock. */
ARM_PRIVATE int arm_vs_keep(arm_shard *s, arm_item *it, uint64_t stamp);
/* Make sure n nodes are spare, so the next n keeps need no allocation (best
 * effort). Write lock held. */
ARM_PRIVATE void arm_vs_reserve(arm_shard *s, uint64_t n);
/* The item is leaving the index: drop its older versions. Write lock held. */
ARM_PRIVATE void arm_vs_forget(arm_shard *s, arm_item *it);
/* Compaction (compact.c): 1 when a kept version of `it` that is no deletion
 * lives at (fid, off) (a snapshot may still read it there). Any index lock. */
ARM_PRIVATE int arm_vs_refers(const arm_shard *s, const arm_item *it, uint32_t fid, uint32_t off);
/* Move the kept versions of `it` at (fid, off) to (nfid, noff): how many
 * moved. Write lock held. */
ARM_PRIVATE int arm_vs_repoint(arm_shard *s, const arm_item *it, uint32_t fid, uint32_t off,
                               uint32_t nfid, uint32_t noff);
/* Prune versions no snapshot can read any more, and remove the DEAD items
 * kept for them (every DEAD item kept for snapshots has a chain). Write lock
 * held. Cheap when nothing is kept; otherwise runs every few hundred calls
 * unless force. */
ARM_PRIVATE void arm_vs_gc(arm_engine *e, arm_shard *s, int force);
ARM_PRIVATE void arm_vs_free(arm_vstore *vs);
ARM_PRIVATE uint64_t arm_vs_memory(const arm_vstore *vs);

/* ----------------------------------------------------- write.c, txn.c */
/* Install one written version into the index at stamp `stamp` (write lock
 * held): keeps the old version when a snapshot may need it, accounts dead
 * bytes, removes or keeps a deleted key. `created`: the item was made for
 * this write (no older version). Deletes of absent keys never get here. */
ARM_PRIVATE void arm_install(arm_engine *e, uint32_t shard, arm_item *it, int created, int del,
                             uint64_t stamp, uint32_t fid, uint32_t off, uint32_t len,
                             int keep_old);
/* 1 when an item is a key at the newest version (not DEAD). */
static inline int arm_item_live(const arm_item *it) {
    return it != NULL && !(it->flags & ARM_ITEM_DEAD);
}

/* arm_vs_visible with the common case inline: the item's own version is old
 * enough for the snapshot (always so for snap UINT64_MAX, the newest). */
static inline int arm_item_visible(const arm_shard *s, const arm_item *it, uint64_t snap,
                                   arm_item *loc) {
    if (it->seq <= snap) {
        if (it->flags & ARM_ITEM_DEAD) return 0;
        __builtin_memcpy(loc, it, sizeof(*loc));
        return 1;
    }
    return arm_vs_visible(s, it, snap, loc);
}

/* txn.c, for cursors of a transaction: a range slot in its read set, and
 * widening that range to cover [lo, hi] (an open side: inf -1 below, +1
 * above). A slot of (size_t)-1 means the read set could not grow: the
 * transaction then treats everything as read. */
ARM_PRIVATE size_t arm_txn_range_slot(arm_txn *t);
ARM_PRIVATE void arm_txn_note_range(arm_txn *t, size_t slot, arm_slice lo, int lo_inf, arm_slice hi,
                                    int hi_inf);
/* 1 when a transaction registered as a reader (validating or prepared, not
 * `self`) read one of ops' keys: writing it now could make a transaction
 * that comes after that reader visible before it. One atomic load when no
 * reader is registered. Takes readers_mu (after any index locks). */
ARM_PRIVATE int arm_txn_read_by_other(arm_engine *e, const arm_wop *ops, size_t n,
                                      const arm_txn *self);
/* Cursor open with a snapshot and an optional transaction (cursor.c). */
ARM_PRIVATE int arm_cursor_open_at(arm_engine *e, const arm_batch *overlay, uint64_t snap,
                                   arm_txn *txn, arm_cursor **cursor_out);
ARM_PRIVATE void arm_txn_indoubt_free(arm_engine *e);
/* Recovery found an in-doubt transaction: keep it (takes ops and keys, which
 * the ops' keys point into; fills nothing else). ARM_OK or ARM_NOMEM (then
 * nothing is taken). */
ARM_PRIVATE int arm_txn_indoubt_add(arm_engine *e, uint64_t id, const uint8_t *owner,
                                    uint32_t coord, uint32_t fid, arm_wop *ops, size_t nops,
                                    uint8_t *keys);
/* Hold the keys of every in-doubt transaction (after recovery, before any
 * writer): ARM_OK or ARM_NOMEM. */
ARM_PRIVATE int arm_txn_indoubt_hold(arm_engine *e);

#endif
