/* SPDX-License-Identifier: MIT */
/*
 * bench_peers.c: the armdb engine against RocksDB and LMDB on the same
 * workload, in one run. N keys of 8 bytes (random 64-bit values, big-endian,
 * distinct by construction) with 100-byte values; every engine gets its own
 * fresh directory and runs the same phases in the same order:
 *
 *   load        random-order insert of N keys, one put per commit
 *   overwrite   random-order overwrite of every key, one put per commit
 *   batch       random-order overwrite of every key, 1,000 puts per commit
 *   get         random-order get of every key (1 thread)
 *   scan        full ordered scan, reading every key and value
 *   range       1,000 scans: seek to a random existing key, read 1,000 keys+values
 *   durable     single-put commits, each made durable (fdatasync) before the next
 *   durable_mt  T threads (default 8), each committing its own keys durably
 *
 * The durable phases run last, with every engine still open: the engines
 * take turns in slices (--rounds, the order rotating), so a slow spell of the
 * shared disk lands on all of them rather than on whichever ran then.
 *
 * Durability per phase (printed in the output, too):
 *   non-durable phases (load, overwrite, batch): each engine's ordinary
 *     "handed to the OS, not fsynced per commit" mode:
 *       armdb      sync_mode = ARM_SYNC_NORMAL (its default: commit writes to the
 *                  kernel, a background fdatasync every 100 ms)
 *       armdb-off  sync_mode = ARM_SYNC_OFF, reported for load/overwrite/batch
 *       rocksdb    default WriteOptions: WAL on, sync = false
 *       lmdb       one write transaction per put, MDB_NOSYNC (the commit
 *                  writes its pages to the OS, no fsync): the same per-commit
 *                  semantics as the others. The batch phase shows LMDB with
 *                  1,000 puts per transaction, its usual bulk pattern.
 *   durable phases: armdb ARM_SYNC_FULL (engine reopened with it, untimed),
 *     RocksDB sync = true with the WAL, LMDB default flags (fsync per commit).
 *
 * Every result is verified while it is measured (every get finds the value
 * last written, with the right length, key and version; scans return exactly
 * the expected keys in order with the right values; durable writes are read
 * back after their phase), and any error ends the run with exit status 1: a
 * broken engine must never look fast.
 *
 * Values are key (8) | version (8, LE) | 84 bytes taken from a 1 MiB random
 * pool at a per-key offset, so they do not compress (RocksDB keeps its default
 * compression; it gains nothing from repeated filler).
 *
 * Output: a table of ops/s per phase per engine with ratios armdb/rocksdb and
 * armdb/lmdb, "@ <engine>_<phase> <ops/s>" lines for bench/run.sh, and with
 * --csv FILE the table as CSV (bench/plot_peers.sh draws it).
 * Usage: bench_peers --help.
 */
#include "../engine/arm_engine.h"
#include "bench_util.h"

#include <errno.h>
#include <getopt.h>
#include <lmdb.h>
#include <math.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BP_KEY_BYTES   8
#define BP_VALUE_BYTES 100
#define BP_POOL_BYTES  (1u << 20)
#define BP_RANGE_SCANS 1000
#define BP_RANGE_KEYS  1000
#define BP_BATCH       1000
#define BP_THREADS_MAX 64

/* ---------------------------------------------------------------- helpers */
static size_t bp_rocks_cache_mb = 64; /* --rocks-cache */
static bench_disk bp_disk;            /* the device under the run's directory */

static void bp_arm_check(int rc, const char *what) {
    if (rc != ARM_OK) bench_die("armdb: %s: %s (rc=%d): %s", what, arm_rc_str(rc), rc, arm_engine_errmsg(NULL));
}

static void bp_rocks_check(char *err, const char *what) {
    if (err != NULL) bench_die("rocksdb: %s: %s", what, err);
}

static void bp_mdb_check(int rc, const char *what) {
    if (rc != MDB_SUCCESS) bench_die("lmdb: %s: %s (rc=%d)", what, mdb_strerror(rc), rc);
}

static uint64_t bp_du_total;
static int bp_du_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)path;
    (void)ftw;
    if (flag == FTW_F) bp_du_total += (uint64_t)sb->st_blocks * 512u;
    return 0;
}

/* Bytes allocated on disk under path. */
static uint64_t bp_du(const char *path) {
    bp_du_total = 0;
    if (nftw(path, bp_du_cb, 16, FTW_PHYS) != 0) return 0;
    return bp_du_total;
}

/* ------------------------------------------------------------ the dataset */
typedef struct bp_data {
    size_t n;
    uint8_t *keys;    /* n * 8 bytes, big-endian, in load (random) order */
    uint64_t *sorted; /* the same keys as numbers, ascending (= memcmp order) */
    uint32_t *perm;   /* shuffled 0..n-1: access order for overwrites and gets */
    uint32_t *perm2;  /* another shuffle: order for the batched overwrite */
    size_t *range_starts; /* BP_RANGE_SCANS indexes into sorted */
    uint8_t *pool;    /* BP_POOL_BYTES random bytes: value filler */
} bp_data;

/* Value layout: key (8) | version (8, LE) | 84 bytes of the pool at an offset
 * derived from the key. A reader checks length, key and version. */
static void bp_make_value(const bp_data *d, const uint8_t *key, uint64_t version, uint8_t *out) {
    uint64_t k;
    memcpy(&k, key, 8);
    size_t off = (size_t)((k ^ (k >> 29)) % (BP_POOL_BYTES - BP_VALUE_BYTES));
    memcpy(out, key, BP_KEY_BYTES);
    memcpy(out + 8, &version, 8);
    memcpy(out + 16, d->pool + off, BP_VALUE_BYTES - 16);
}

static int bp_value_ok(const uint8_t *v, size_t len, const uint8_t *key, uint64_t version) {
    if (v == NULL || len != BP_VALUE_BYTES) return 0;
    if (memcmp(v, key, BP_KEY_BYTES) != 0) return 0;
    if (memcmp(v + 8, &version, 8) != 0) return 0;
    return 1;
}


static void bp_data_init(bp_data *d, size_t n, uint64_t seed) {
    uint64_t st = seed;
    uint64_t base = bench_splitmix64(&st);
    d->n = n;
    d->keys = bench_xmalloc(n * BP_KEY_BYTES);
    d->sorted = bench_xmalloc(n * sizeof(uint64_t));
    d->perm = bench_xmalloc(n * sizeof(uint32_t));
    d->perm2 = bench_xmalloc(n * sizeof(uint32_t));
    d->range_starts = bench_xmalloc(BP_RANGE_SCANS * sizeof(size_t));
    d->pool = bench_xmalloc(BP_POOL_BYTES);
    bench_keys_make(base, n, d->keys, d->sorted);
    bench_shuffle(d->perm, n, &st);
    bench_shuffle(d->perm2, n, &st);
    size_t span = n > BP_RANGE_KEYS ? n - BP_RANGE_KEYS + 1 : 1;
    for (size_t s = 0; s < BP_RANGE_SCANS; s++) d->range_starts[s] = (size_t)bench_rand_below(&st, span);
    for (size_t i = 0; i < BP_POOL_BYTES; i += 8) {
        uint64_t r = bench_splitmix64(&st);
        memcpy(d->pool + i, &r, 8);
    }
}

static void bp_data_free(bp_data *d) {
    free(d->keys);
    free(d->sorted);
    free(d->perm);
    free(d->perm2);
    free(d->range_starts);
    free(d->pool);
}

/* ---------------------------------------------------------------- engines */
enum { BP_ARMDB = 0, BP_ARMDB_OFF = 1, BP_ROCKSDB = 2, BP_LMDB = 3, BP_NENGINES = 4 };
static const char *const bp_engine_names[BP_NENGINES] = {"armdb", "armdb-off", "rocksdb", "lmdb"};
static const char *const bp_engine_metric[BP_NENGINES] = {"armdb", "armdb_off", "rocksdb", "lmdb"};

enum {
    BP_PH_LOAD = 0,
    BP_PH_OVERWRITE,
    BP_PH_BATCH,
    BP_PH_GET,
    BP_PH_SCAN,
    BP_PH_RANGE,
    BP_PH_DURABLE,
    BP_PH_DURABLE_MT,
    BP_NPHASES
};
static const char *const bp_phase_ids[BP_NPHASES] = {"load",  "overwrite", "batch",   "get",
                                                     "scan",  "range",     "durable", "durable_mt"};

typedef struct bp_eng {
    int kind;
    char dir[4200];
    int durable;      /* current mode */
    uint64_t version; /* the version the non-durable phases left every key at */
    /* armdb */
    arm_engine *arm;
    arm_engine_options ao;
    int arm_nondurable_sync; /* ARM_SYNC_NORMAL or ARM_SYNC_OFF */
    /* rocksdb */
    rocksdb_t *rdb;
    rocksdb_options_t *ropt;
    rocksdb_block_based_table_options_t *rbbto;
    rocksdb_cache_t *rcache;
    rocksdb_filterpolicy_t *rfilter; /* owned by rbbto once set */
    rocksdb_writeoptions_t *rwo_nosync, *rwo_sync;
    rocksdb_readoptions_t *rro;
    /* lmdb */
    MDB_env *env;
    MDB_dbi dbi;
} bp_eng;

static void bp_arm_open(bp_eng *e, int sync_mode) {
    e->ao.sync_mode = sync_mode;
    bp_arm_check(arm_engine_open(e->dir, &e->ao, &e->arm), "arm_engine_open");
}

static void bp_eng_open(bp_eng *e, size_t n) {
    e->durable = 0;
    if (mkdir(e->dir, 0755) != 0 && errno != EEXIST) bench_die("mkdir %s: %s", e->dir, strerror(errno));
    switch (e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF:
        arm_engine_options_init(&e->ao);
        e->arm_nondurable_sync = e->kind == BP_ARMDB ? ARM_SYNC_NORMAL : ARM_SYNC_OFF;
        bp_arm_open(e, e->arm_nondurable_sync);
        break;
    case BP_ROCKSDB: {
        char *err = NULL;
        e->ropt = rocksdb_options_create();
        rocksdb_options_set_create_if_missing(e->ropt, 1);
        e->rbbto = rocksdb_block_based_options_create();
        e->rcache = rocksdb_cache_create_lru(bp_rocks_cache_mb << 20);
        rocksdb_block_based_options_set_block_cache(e->rbbto, e->rcache);
        e->rfilter = rocksdb_filterpolicy_create_bloom(10);
        rocksdb_block_based_options_set_filter_policy(e->rbbto, e->rfilter);
        rocksdb_options_set_block_based_table_factory(e->ropt, e->rbbto);
        e->rwo_nosync = rocksdb_writeoptions_create();
        e->rwo_sync = rocksdb_writeoptions_create();
        rocksdb_writeoptions_set_sync(e->rwo_sync, 1);
        e->rro = rocksdb_readoptions_create();
        e->rdb = rocksdb_open(e->ropt, e->dir, &err);
        bp_rocks_check(err, "rocksdb_open");
        break;
    }
    case BP_LMDB: {
        MDB_txn *txn = NULL;
        bp_mdb_check(mdb_env_create(&e->env), "mdb_env_create");
        /* data ~ n * 130 bytes after page splits; copy-on-write needs room for
         * the old pages until they are reused. The map is sparse. */
        size_t map = (size_t)n * 1024u + ((size_t)1 << 30);
        bp_mdb_check(mdb_env_set_mapsize(e->env, map), "mdb_env_set_mapsize");
        bp_mdb_check(mdb_env_set_maxreaders(e->env, 256), "mdb_env_set_maxreaders");
        bp_mdb_check(mdb_env_open(e->env, e->dir, MDB_NOSYNC, 0644), "mdb_env_open");
        bp_mdb_check(mdb_txn_begin(e->env, NULL, 0, &txn), "mdb_txn_begin");
        bp_mdb_check(mdb_dbi_open(txn, NULL, 0, &e->dbi), "mdb_dbi_open");
        bp_mdb_check(mdb_txn_commit(txn), "mdb_txn_commit (dbi)");
        break;
    }
    default: bench_die("unknown engine %d", e->kind);
    }
}

/* Switch between the non-durable mode and per-commit durability. Before the
 * durable phases everything written so far is made durable (engine flush,
 * then sync() for the whole system), untimed, so the first durable commits
 * do not pay for the earlier phases' writeback (LMDB's first synced commit
 * would otherwise flush every MDB_NOSYNC page). */
static void bp_eng_set_durable(bp_eng *e, int durable) {
    if (e->durable == durable) return;
    if (durable) {
        switch (e->kind) {
        case BP_ARMDB:
        case BP_ARMDB_OFF: bp_arm_check(arm_engine_flush(e->arm), "arm_engine_flush"); break;
        case BP_ROCKSDB: {
            char *err = NULL;
            rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
            rocksdb_flushoptions_set_wait(fo, 1);
            rocksdb_flush(e->rdb, fo, &err);
            rocksdb_flushoptions_destroy(fo);
            bp_rocks_check(err, "rocksdb_flush");
            break;
        }
        case BP_LMDB: bp_mdb_check(mdb_env_sync(e->env, 1), "mdb_env_sync"); break;
        default: break;
        }
        sync();
    }
    switch (e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: {
        int rc = arm_engine_close(e->arm);
        e->arm = NULL;
        bp_arm_check(rc, "arm_engine_close (switch sync mode)");
        bp_arm_open(e, durable ? ARM_SYNC_FULL : e->arm_nondurable_sync);
        arm_engine_stats st;
        arm_engine_stats_get(e->arm, &st);
        if (st.sync_mode != (durable ? ARM_SYNC_FULL : e->arm_nondurable_sync))
            bench_die("armdb: sync mode %d not in force after reopen", st.sync_mode);
        break;
    }
    case BP_ROCKSDB: /* chosen per write: the durable phases use rwo_sync */
        if (durable && (!rocksdb_writeoptions_get_sync(e->rwo_sync) || rocksdb_writeoptions_get_disable_WAL(e->rwo_sync) ||
                        rocksdb_options_get_manual_wal_flush(e->ropt)))
            bench_die("rocksdb: durable writes would not sync the WAL on every commit");
        break;
    case BP_LMDB: {
        unsigned flags = 0;
        bp_mdb_check(mdb_env_set_flags(e->env, MDB_NOSYNC, durable ? 0 : 1), "mdb_env_set_flags");
        bp_mdb_check(mdb_env_get_flags(e->env, &flags), "mdb_env_get_flags");
        if (durable && (flags & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC)) != 0)
            bench_die("lmdb: durable commits would not sync (env flags 0x%x)", flags);
        break;
    }
    default: break;
    }
    e->durable = durable;
}

static void bp_eng_close(bp_eng *e) {
    switch (e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: bp_arm_check(arm_engine_close(e->arm), "arm_engine_close"); break;
    case BP_ROCKSDB:
        rocksdb_close(e->rdb);
        rocksdb_writeoptions_destroy(e->rwo_nosync);
        rocksdb_writeoptions_destroy(e->rwo_sync);
        rocksdb_readoptions_destroy(e->rro);
        rocksdb_options_destroy(e->ropt);
        rocksdb_block_based_options_destroy(e->rbbto); /* frees the filter policy */
        rocksdb_cache_destroy(e->rcache);
        break;
    case BP_LMDB:
        mdb_dbi_close(e->env, e->dbi);
        mdb_env_close(e->env);
        break;
    default: break;
    }
}

/* One put, committed on its own (durable per e->durable). Thread-safe. */
static void bp_put(bp_eng *e, const uint8_t *key, const uint8_t *val) {
    switch (e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: {
        int rc = arm_engine_put(e->arm, arm_slice_make(key, BP_KEY_BYTES), arm_slice_make(val, BP_VALUE_BYTES));
        if (rc != ARM_OK) bp_arm_check(rc, "arm_engine_put");
        break;
    }
    case BP_ROCKSDB: {
        char *err = NULL;
        rocksdb_put(e->rdb, e->durable ? e->rwo_sync : e->rwo_nosync, (const char *)key, BP_KEY_BYTES,
                    (const char *)val, BP_VALUE_BYTES, &err);
        bp_rocks_check(err, "rocksdb_put");
        break;
    }
    case BP_LMDB: {
        MDB_txn *txn = NULL;
        MDB_val k = {BP_KEY_BYTES, (void *)(uintptr_t)key}, v = {BP_VALUE_BYTES, (void *)(uintptr_t)val};
        int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
        if (rc != MDB_SUCCESS) bp_mdb_check(rc, "mdb_txn_begin (put)");
        rc = mdb_put(txn, e->dbi, &k, &v, 0);
        if (rc != MDB_SUCCESS) bp_mdb_check(rc, "mdb_put");
        rc = mdb_txn_commit(txn);
        if (rc != MDB_SUCCESS) bp_mdb_check(rc, "mdb_txn_commit (put)");
        break;
    }
    default: break;
    }
}

/* A batch of puts committed atomically in one commit. */
typedef struct bp_batch {
    bp_eng *e;
    arm_batch *ab;
    rocksdb_writebatch_t *rb;
    MDB_txn *txn;
} bp_batch;

static void bp_batch_begin(bp_eng *e, bp_batch *b) {
    memset(b, 0, sizeof(*b));
    b->e = e;
    switch (e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: bp_arm_check(arm_engine_batch_new(e->arm, &b->ab), "arm_engine_batch_new"); break;
    case BP_ROCKSDB: b->rb = rocksdb_writebatch_create(); break;
    case BP_LMDB: bp_mdb_check(mdb_txn_begin(e->env, NULL, 0, &b->txn), "mdb_txn_begin (batch)"); break;
    default: break;
    }
}

static void bp_batch_put(bp_batch *b, const uint8_t *key, const uint8_t *val) {
    switch (b->e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: {
        int rc = arm_engine_batch_put(b->ab, arm_slice_make(key, BP_KEY_BYTES), arm_slice_make(val, BP_VALUE_BYTES));
        if (rc != ARM_OK) bp_arm_check(rc, "arm_engine_batch_put");
        break;
    }
    case BP_ROCKSDB:
        rocksdb_writebatch_put(b->rb, (const char *)key, BP_KEY_BYTES, (const char *)val, BP_VALUE_BYTES);
        break;
    case BP_LMDB: {
        MDB_val k = {BP_KEY_BYTES, (void *)(uintptr_t)key}, v = {BP_VALUE_BYTES, (void *)(uintptr_t)val};
        int rc = mdb_put(b->txn, b->e->dbi, &k, &v, 0);
        if (rc != MDB_SUCCESS) bp_mdb_check(rc, "mdb_put (batch)");
        break;
    }
    default: break;
    }
}

/* Commit what was put; the batch is then empty and ready for more. */
static void bp_batch_commit(bp_batch *b) {
    bp_eng *e = b->e;
    switch (e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: {
        int rc = arm_engine_batch_commit(e->arm, b->ab);
        if (rc != ARM_OK) bp_arm_check(rc, "arm_engine_batch_commit");
        arm_engine_batch_clear(b->ab);
        break;
    }
    case BP_ROCKSDB: {
        char *err = NULL;
        rocksdb_write(e->rdb, e->durable ? e->rwo_sync : e->rwo_nosync, b->rb, &err);
        bp_rocks_check(err, "rocksdb_write");
        rocksdb_writebatch_clear(b->rb);
        break;
    }
    case BP_LMDB:
        bp_mdb_check(mdb_txn_commit(b->txn), "mdb_txn_commit (batch)");
        bp_mdb_check(mdb_txn_begin(e->env, NULL, 0, &b->txn), "mdb_txn_begin (batch)");
        break;
    default: break;
    }
}

static void bp_batch_end(bp_batch *b) {
    switch (b->e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: arm_engine_batch_free(b->ab); break;
    case BP_ROCKSDB: rocksdb_writebatch_destroy(b->rb); break;
    case BP_LMDB: mdb_txn_abort(b->txn); break; /* empty */
    default: break;
    }
}

/* A point reader (one per thread): LMDB reads inside one read-only
 * transaction for the whole phase (its cheapest way; a snapshot costs LMDB
 * nothing per get), RocksDB through get_pinned (no copy), armdb into one
 * reused arm_buf. */
typedef struct bp_reader {
    bp_eng *e;
    arm_buf buf;
    rocksdb_pinnableslice_t *ps;
    MDB_txn *txn;
} bp_reader;

static void bp_reader_begin(bp_eng *e, bp_reader *r) {
    memset(r, 0, sizeof(*r));
    r->e = e;
    if (e->kind == BP_LMDB) bp_mdb_check(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &r->txn), "mdb_txn_begin (read)");
}

/* Sets *v and *vlen to the value (borrowed until the next call); 0 = not found. */
static int bp_get(bp_reader *r, const uint8_t *key, const uint8_t **v, size_t *vlen) {
    bp_eng *e = r->e;
    switch (e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: {
        int rc = arm_engine_get(e->arm, arm_slice_make(key, BP_KEY_BYTES), &r->buf);
        if (rc == ARM_NOTFOUND) return 0;
        if (rc != ARM_OK) bp_arm_check(rc, "arm_engine_get");
        *v = r->buf.ptr;
        *vlen = r->buf.len;
        return 1;
    }
    case BP_ROCKSDB: {
        char *err = NULL;
        if (r->ps != NULL) rocksdb_pinnableslice_destroy(r->ps);
        r->ps = rocksdb_get_pinned(e->rdb, e->rro, (const char *)key, BP_KEY_BYTES, &err);
        bp_rocks_check(err, "rocksdb_get_pinned");
        if (r->ps == NULL) return 0;
        *v = (const uint8_t *)rocksdb_pinnableslice_value(r->ps, vlen);
        return 1;
    }
    case BP_LMDB: {
        MDB_val k = {BP_KEY_BYTES, (void *)(uintptr_t)key}, val = {0, NULL};
        int rc = mdb_get(r->txn, e->dbi, &k, &val);
        if (rc == MDB_NOTFOUND) return 0;
        if (rc != MDB_SUCCESS) bp_mdb_check(rc, "mdb_get");
        *v = val.mv_data;
        *vlen = val.mv_size;
        return 1;
    }
    default: return 0;
    }
}

static void bp_reader_end(bp_reader *r) {
    arm_buf_free(&r->buf);
    if (r->ps != NULL) rocksdb_pinnableslice_destroy(r->ps);
    if (r->txn != NULL) mdb_txn_abort(r->txn);
}

/* An ordered iterator. */
typedef struct bp_iter {
    bp_eng *e;
    arm_cursor *c;
    rocksdb_iterator_t *ri;
    MDB_txn *txn;
    MDB_cursor *mc;
    MDB_val mk, mv;
} bp_iter;

static void bp_iter_open(bp_eng *e, bp_iter *it) {
    memset(it, 0, sizeof(*it));
    it->e = e;
    switch (e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: bp_arm_check(arm_engine_cursor_open(e->arm, NULL, &it->c), "arm_engine_cursor_open"); break;
    case BP_ROCKSDB: it->ri = rocksdb_create_iterator(e->rdb, e->rro); break;
    case BP_LMDB:
        bp_mdb_check(mdb_txn_begin(e->env, NULL, MDB_RDONLY, &it->txn), "mdb_txn_begin (cursor)");
        bp_mdb_check(mdb_cursor_open(it->txn, e->dbi, &it->mc), "mdb_cursor_open");
        break;
    default: break;
    }
}

static int bp_arm_valid(int rc, const char *what) {
    if (rc == ARM_NOTFOUND) return 0;
    if (rc != ARM_OK) bp_arm_check(rc, what);
    return 1;
}

static int bp_rocks_valid(bp_iter *it) {
    if (rocksdb_iter_valid(it->ri)) return 1;
    char *err = NULL;
    rocksdb_iter_get_error(it->ri, &err);
    bp_rocks_check(err, "rocksdb iterator");
    return 0;
}

static int bp_mdb_valid(int rc, const char *what) {
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != MDB_SUCCESS) bp_mdb_check(rc, what);
    return 1;
}

/* op: 0 = first, 1 = seek GE key, 2 = next. Returns 1 when positioned. */
static int bp_iter_move(bp_iter *it, int op, const uint8_t *key) {
    switch (it->e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF:
        if (op == 0) return bp_arm_valid(arm_engine_cursor_first(it->c), "arm_engine_cursor_first");
        if (op == 1)
            return bp_arm_valid(arm_engine_cursor_seek(it->c, arm_slice_make(key, BP_KEY_BYTES), ARM_SEEK_GE),
                                "arm_engine_cursor_seek");
        return bp_arm_valid(arm_engine_cursor_next(it->c), "arm_engine_cursor_next");
    case BP_ROCKSDB:
        if (op == 0) rocksdb_iter_seek_to_first(it->ri);
        else if (op == 1) rocksdb_iter_seek(it->ri, (const char *)key, BP_KEY_BYTES);
        else rocksdb_iter_next(it->ri);
        return bp_rocks_valid(it);
    case BP_LMDB:
        if (op == 1) {
            it->mk.mv_size = BP_KEY_BYTES;
            it->mk.mv_data = (void *)(uintptr_t)key;
        }
        return bp_mdb_valid(mdb_cursor_get(it->mc, &it->mk, &it->mv, op == 0 ? MDB_FIRST : op == 1 ? MDB_SET_RANGE : MDB_NEXT),
                            "mdb_cursor_get");
    default: return 0;
    }
}

/* Current key and value (value read now), borrowed until the next move. */
static void bp_iter_kv(bp_iter *it, const uint8_t **k, size_t *klen, const uint8_t **v, size_t *vlen) {
    switch (it->e->kind) {
    case BP_ARMDB:
    case BP_ARMDB_OFF: {
        arm_slice ks = arm_engine_cursor_key(it->c), vs = {NULL, 0};
        int rc = arm_engine_cursor_value(it->c, &vs);
        if (rc != ARM_OK) bp_arm_check(rc, "arm_engine_cursor_value");
        *k = ks.ptr;
        *klen = ks.len;
        *v = vs.ptr;
        *vlen = vs.len;
        break;
    }
    case BP_ROCKSDB:
        *k = (const uint8_t *)rocksdb_iter_key(it->ri, klen);
        *v = (const uint8_t *)rocksdb_iter_value(it->ri, vlen);
        break;
    case BP_LMDB:
        *k = it->mk.mv_data;
        *klen = it->mk.mv_size;
        *v = it->mv.mv_data;
        *vlen = it->mv.mv_size;
        break;
    default: break;
    }
}

static void bp_iter_close(bp_iter *it) {
    if (it->c != NULL) arm_engine_cursor_close(it->c);
    if (it->ri != NULL) rocksdb_iter_destroy(it->ri);
    if (it->mc != NULL) mdb_cursor_close(it->mc);
    if (it->txn != NULL) mdb_txn_abort(it->txn);
}

/* ----------------------------------------------------------------- phases */
static const uint8_t *bp_key(const bp_data *d, size_t i) { return d->keys + i * BP_KEY_BYTES; }

static double bp_phase_load(bp_eng *e, const bp_data *d) {
    uint8_t val[BP_VALUE_BYTES];
    double t0 = bench_now();
    for (size_t i = 0; i < d->n; i++) {
        bp_make_value(d, bp_key(d, i), 0, val);
        bp_put(e, bp_key(d, i), val);
    }
    return (double)d->n / (bench_now() - t0);
}

static double bp_phase_overwrite(bp_eng *e, const bp_data *d, uint64_t version) {
    uint8_t val[BP_VALUE_BYTES];
    double t0 = bench_now();
    for (size_t i = 0; i < d->n; i++) {
        const uint8_t *k = bp_key(d, d->perm[i]);
        bp_make_value(d, k, version, val);
        bp_put(e, k, val);
    }
    return (double)d->n / (bench_now() - t0);
}

static double bp_phase_batch(bp_eng *e, const bp_data *d, uint64_t version) {
    uint8_t val[BP_VALUE_BYTES];
    bp_batch b;
    double t0 = bench_now();
    bp_batch_begin(e, &b);
    for (size_t i = 0; i < d->n; i++) {
        const uint8_t *k = bp_key(d, d->perm2[i]);
        bp_make_value(d, k, version, val);
        bp_batch_put(&b, k, val);
        if ((i + 1) % BP_BATCH == 0 || i + 1 == d->n) bp_batch_commit(&b);
    }
    bp_batch_end(&b);
    return (double)d->n / (bench_now() - t0);
}

/* Reads keys perm[lo..hi) (all keys when perm == NULL: 0..n), each must have
 * `version`. Returns ops/s. */
static double bp_read_keys(bp_eng *e, const bp_data *d, const uint32_t *perm, size_t lo, size_t hi,
                           uint64_t version, const char *phase) {
    bp_reader r;
    bp_reader_begin(e, &r);
    double t0 = bench_now();
    for (size_t i = lo; i < hi; i++) {
        size_t idx = perm != NULL ? perm[i] : i;
        const uint8_t *k = bp_key(d, idx), *v = NULL;
        size_t vlen = 0;
        if (!bp_get(&r, k, &v, &vlen)) bench_die("%s: %s: key #%zu not found", bp_engine_names[e->kind], phase, idx);
        if (!bp_value_ok(v, vlen, k, version))
            bench_die("%s: %s: wrong value for key #%zu (len %zu, want %d bytes at version %llu)", bp_engine_names[e->kind],
                   phase, idx, vlen, BP_VALUE_BYTES, (unsigned long long)version);
    }
    double dt = bench_now() - t0;
    bp_reader_end(&r);
    return (double)(hi - lo) / dt;
}

static double bp_phase_scan(bp_eng *e, const bp_data *d, uint64_t version) {
    bp_iter it;
    uint8_t expect[BP_KEY_BYTES];
    size_t count = 0;
    uint64_t sum = 0;
    double t0 = bench_now();
    bp_iter_open(e, &it);
    int ok = bp_iter_move(&it, 0, NULL);
    while (ok) {
        const uint8_t *k = NULL, *v = NULL;
        size_t klen = 0, vlen = 0;
        bp_iter_kv(&it, &k, &klen, &v, &vlen);
        if (count >= d->n) bench_die("%s: scan: more than %zu keys", bp_engine_names[e->kind], d->n);
        bench_put_be64(expect, d->sorted[count]);
        if (klen != BP_KEY_BYTES || memcmp(k, expect, BP_KEY_BYTES) != 0)
            bench_die("%s: scan: key #%zu out of order or unexpected", bp_engine_names[e->kind], count);
        if (!bp_value_ok(v, vlen, k, version))
            bench_die("%s: scan: wrong value at key #%zu", bp_engine_names[e->kind], count);
        sum += v[BP_VALUE_BYTES - 1];
        count++;
        ok = bp_iter_move(&it, 2, NULL);
    }
    bp_iter_close(&it);
    double dt = bench_now() - t0;
    if (count != d->n) bench_die("%s: scan: visited %zu keys, expected %zu", bp_engine_names[e->kind], count, d->n);
    if (sum == 0) bench_die("%s: scan: values read as zeros", bp_engine_names[e->kind]);
    return (double)count / dt;
}

/* BP_RANGE_SCANS scans of up to BP_RANGE_KEYS keys from a random existing
 * key, one iterator reused. Returns keys/s. */
static double bp_phase_range(bp_eng *e, const bp_data *d, uint64_t version, double *scans_per_s) {
    bp_iter it;
    uint8_t target[BP_KEY_BYTES], expect[BP_KEY_BYTES];
    size_t total = 0;
    bp_iter_open(e, &it);
    double t0 = bench_now();
    for (size_t s = 0; s < BP_RANGE_SCANS; s++) {
        size_t idx = d->range_starts[s];
        size_t want = ARM_MIN((size_t)BP_RANGE_KEYS, d->n - idx);
        bench_put_be64(target, d->sorted[idx]);
        int ok = bp_iter_move(&it, 1, target);
        for (size_t j = 0; j < want; j++) {
            if (!ok) bench_die("%s: range scan %zu: end after %zu of %zu keys", bp_engine_names[e->kind], s, j, want);
            const uint8_t *k = NULL, *v = NULL;
            size_t klen = 0, vlen = 0;
            bp_iter_kv(&it, &k, &klen, &v, &vlen);
            bench_put_be64(expect, d->sorted[idx + j]);
            if (klen != BP_KEY_BYTES || memcmp(k, expect, BP_KEY_BYTES) != 0)
                bench_die("%s: range scan %zu: key %zu is not the expected one", bp_engine_names[e->kind], s, j);
            if (!bp_value_ok(v, vlen, k, version))
                bench_die("%s: range scan %zu: wrong value at key %zu", bp_engine_names[e->kind], s, j);
            total++;
            if (j + 1 < want) ok = bp_iter_move(&it, 2, NULL);
        }
    }
    double dt = bench_now() - t0;
    bp_iter_close(&it);
    *scans_per_s = (double)BP_RANGE_SCANS / dt;
    return (double)total / dt;
}

/* One thread's share of a durable slice: keys perm[lo..hi). */
typedef struct bp_djob {
    bp_eng *e;
    const bp_data *d;
    size_t lo, hi;
    uint64_t version;
    pthread_barrier_t *bar;
} bp_djob;

static void *bp_durable_worker(void *arg) {
    const bp_djob *j = arg;
    uint8_t val[BP_VALUE_BYTES];
    if (j->bar != NULL) pthread_barrier_wait(j->bar);
    for (size_t i = j->lo; i < j->hi; i++) {
        const uint8_t *k = bp_key(j->d, j->d->perm[i]);
        bp_make_value(j->d, k, j->version, val);
        bp_put(j->e, k, val);
    }
    return NULL;
}

/* Durable single-put commits of keys perm[lo..hi) at `version`, split over
 * `threads` threads (each its own contiguous part), all started together.
 * Returns the seconds from the start until the last commit returned. */
static double bp_durable_slice(bp_eng *e, const bp_data *d, size_t lo, size_t hi, int threads, uint64_t version) {
    pthread_t tid[BP_THREADS_MAX];
    bp_djob jobs[BP_THREADS_MAX];
    pthread_barrier_t bar;
    size_t cnt = hi - lo;
    if (threads == 1) {
        bp_djob j = {e, d, lo, hi, version, NULL};
        double t0 = bench_now();
        bp_durable_worker(&j);
        return bench_now() - t0;
    }
    if (pthread_barrier_init(&bar, NULL, (unsigned)threads + 1) != 0) bench_die("pthread_barrier_init");
    for (int t = 0; t < threads; t++) {
        jobs[t].e = e;
        jobs[t].d = d;
        jobs[t].lo = lo + cnt * (size_t)t / (size_t)threads;
        jobs[t].hi = lo + cnt * (size_t)(t + 1) / (size_t)threads;
        jobs[t].version = version;
        jobs[t].bar = &bar;
        int prc = pthread_create(&tid[t], NULL, bp_durable_worker, &jobs[t]);
        if (prc != 0) bench_die("pthread_create: %s", strerror(prc));
    }
    pthread_barrier_wait(&bar);
    double t0 = bench_now();
    for (int t = 0; t < threads; t++) {
        int prc = pthread_join(tid[t], NULL);
        if (prc != 0) bench_die("pthread_join: %s", strerror(prc));
    }
    double dt = bench_now() - t0;
    pthread_barrier_destroy(&bar);
    return dt;
}

/* ------------------------------------------------------------------ main */
typedef struct bp_opts {
    size_t n;
    size_t sync_ops;    /* 1-thread durable commits */
    size_t mt_ops;      /* durable commits per thread */
    int threads;
    const char *dir;
    const char *csv;
    int keep;
    int only[BP_NENGINES];
    uint64_t seed;
    unsigned phases; /* bit p: run phase p (load is added when a later non-durable phase needs it) */
    int rounds;      /* durable phases: slices per engine, the engines taking turns */
    int strict;      /* exit 2 when a target is missed */
} bp_opts;

static void bp_usage(FILE *f) {
    fprintf(f,
            "usage: bench_peers [options]\n"
            "  -n N                keys (default 1000000)\n"
            "  --quick             100000 keys, fewer durable commits (smoke test)\n"
            "  -d DIR              database directory parent (default: mkdtemp in $TMPDIR or /tmp)\n"
            "  -k                  keep the database directories\n"
            "  --only LIST         engines to run, comma-separated: armdb (both armdb and armdb-off),\n"
            "                      armdb-off, rocksdb, lmdb (default: all)\n"
            "  --csv FILE          write the results as CSV (phase,armdb,armdb-off,rocksdb,lmdb; ops/s,\n"
            "                      NaN where not run; the threaded phase is durable_<T>t) for bench/plot_peers.sh\n"
            "  --rocks-cache MIB   RocksDB block cache (default 64)\n"
            "  --phases LIST       phases to run, comma-separated: all (default), load, overwrite, batch,\n"
            "                      get, scan, range, durable, durable_mt (load runs too when overwrite..range\n"
            "                      is chosen; durable phases alone start from an empty database)\n"
            "  --sync-ops N        durable single-put commits, 1 thread (default 5000; --quick 500)\n"
            "  --mt-ops N          durable commits per thread in the threaded phase (default 1000; --quick 100)\n"
            "  --rounds N          durable phases: commits in N slices per engine, engines taking turns (default 5)\n"
            "  --strict            exit 2 when a durable-commit target (vs RocksDB) is missed\n"
            "  -t N                threads in the threaded durable phase (default 8)\n"
            "  --seed N            PRNG seed (default 42)\n");
}

static size_t bp_parse_size(const char *s, const char *what, size_t min, size_t max) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) bench_die("bad %s '%s' (%zu..%zu)", what, s, min, max);
    return (size_t)v;
}

static unsigned bp_parse_phases(const char *list) {
    char buf[256];
    unsigned mask = 0;
    if (snprintf(buf, sizeof(buf), "%s", list) >= (int)sizeof(buf)) bench_die("--phases too long");
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        unsigned bit = strcmp(tok, "all") == 0 ? (1u << BP_NPHASES) - 1u : 0;
        for (int p = 0; p < BP_NPHASES && bit == 0; p++)
            if (strcmp(tok, bp_phase_ids[p]) == 0) bit = 1u << p;
        if (bit == 0)
            bench_die("bad --phases '%s' (all, load, overwrite, batch, get, scan, range, durable, durable_mt)", tok);
        mask |= bit;
    }
    return mask;
}

static void bp_parse(int argc, char **argv, bp_opts *o) {
    static const struct option lopts[] = {
        {"quick", no_argument, NULL, 'Q'},          {"only", required_argument, NULL, 'O'},
        {"csv", required_argument, NULL, 'C'},      {"sync-ops", required_argument, NULL, 'S'},
        {"mt-ops", required_argument, NULL, 'M'},   {"seed", required_argument, NULL, 'R'},
        {"rocks-cache", required_argument, NULL, 'B'}, {"help", no_argument, NULL, 'h'},
        {"phases", required_argument, NULL, 'P'},      {"strict", no_argument, NULL, 'X'},
        {"rounds", required_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    int quick = 0, sync_set = 0, mt_set = 0, only_set = 0;
    memset(o, 0, sizeof(*o));
    o->n = 1000000;
    o->sync_ops = 5000;
    o->mt_ops = 1000;
    o->phases = (1u << BP_NPHASES) - 1u;
    o->rounds = 5;
    o->threads = 8;
    o->seed = 42;
    int ch;
    while ((ch = getopt_long(argc, argv, "n:d:kt:h", lopts, NULL)) != -1) {
        switch (ch) {
        case 'n': o->n = bp_parse_size(optarg, "-n", 1, UINT32_MAX); break;
        case 'Q': quick = 1; break;
        case 'd': o->dir = optarg; break;
        case 'k': o->keep = 1; break;
        case 't': o->threads = (int)bp_parse_size(optarg, "-t", 1, BP_THREADS_MAX); break;
        case 'C': o->csv = optarg; break;
        case 'S':
            o->sync_ops = bp_parse_size(optarg, "--sync-ops", 1, UINT32_MAX);
            sync_set = 1;
            break;
        case 'M':
            o->mt_ops = bp_parse_size(optarg, "--mt-ops", 1, UINT32_MAX);
            mt_set = 1;
            break;
        case 'B': bp_rocks_cache_mb = bp_parse_size(optarg, "--rocks-cache", 1, 1u << 20); break;
        case 'R': o->seed = bp_parse_size(optarg, "--seed", 0, SIZE_MAX); break;
        case 'O': {
            char buf[256];
            if (snprintf(buf, sizeof(buf), "%s", optarg) >= (int)sizeof(buf)) bench_die("--only too long");
            char *save = NULL;
            for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
                if (strcmp(tok, "armdb") == 0) o->only[BP_ARMDB] = o->only[BP_ARMDB_OFF] = 1;
                else if (strcmp(tok, "armdb-off") == 0) o->only[BP_ARMDB_OFF] = 1;
                else if (strcmp(tok, "rocksdb") == 0) o->only[BP_ROCKSDB] = 1;
                else if (strcmp(tok, "lmdb") == 0) o->only[BP_LMDB] = 1;
                else bench_die("bad --only '%s' (armdb|armdb-off|rocksdb|lmdb, comma-separated)", tok);
            }
            only_set = 1;
            break;
        }
        case 'P': o->phases = bp_parse_phases(optarg); break;
        case 'X': o->strict = 1; break;
        case 'N': o->rounds = (int)bp_parse_size(optarg, "--rounds", 1, 1000); break;
        case 'h': bp_usage(stdout); exit(0);
        default: bp_usage(stderr); exit(1);
        }
    }
    if (optind != argc) {
        bp_usage(stderr);
        exit(1);
    }
    /* the read phases and the overwrites verify what load wrote */
    if (o->phases & ((1u << BP_PH_OVERWRITE) | (1u << BP_PH_BATCH) | (1u << BP_PH_GET) | (1u << BP_PH_SCAN) |
                     (1u << BP_PH_RANGE)))
        o->phases |= 1u << BP_PH_LOAD;
    if (quick) {
        o->n = 100000;
        if (!sync_set) o->sync_ops = 500;
        if (!mt_set) o->mt_ops = 100;
    }
    if (!only_set)
        for (int i = 0; i < BP_NENGINES; i++) o->only[i] = 1;
    if (o->sync_ops + o->mt_ops * (size_t)o->threads > o->n)
        bench_die("--sync-ops + threads * --mt-ops (%zu) exceeds the key count %zu",
               o->sync_ops + o->mt_ops * (size_t)o->threads, o->n);
}

static void bp_loadavg(const char *when) {
    double la[3];
    if (bench_loadavg(la) >= 0) printf("load average %s: %.2f %.2f %.2f\n", when, la[0], la[1], la[2]);
}

static const char *bp_phase_labels[BP_NPHASES] = {
    "random load (1 put/commit)",
    "random overwrite (1 put/commit)",
    "random overwrite (1000 puts/commit)",
    "random get (1 thread)",
    "full ordered scan (keys+values)",
    "range scans 1000 x 1000 keys",
    "durable commit, 1 thread",
    NULL, /* set in main: the thread count */
};

static double bp_res[BP_NPHASES][BP_NENGINES];

/* Records a phase result and prints its line (with CPU use since cpu0). */
/* Records a phase result and prints its line, with the CPU it used (cpu
 * seconds over wall seconds). */
static void bp_record_cpu(int ph, int kind, double ops, double wall, double cpu, const char *unit) {
    bp_res[ph][kind] = ops;
    printf("  %-10s %-40s %12.0f %-6s (cpu %.2f cores)\n", bp_engine_names[kind], bp_phase_labels[ph], ops, unit,
           wall > 0 ? cpu / wall : 0);
    printf("@ %s_%s %.6g\n", bp_engine_metric[kind], bp_phase_ids[ph], ops);
}

/* The same for a phase that started at t0 with the process at cpu0 CPU seconds. */
static void bp_record(int ph, int kind, double ops, double t0, double cpu0, const char *unit) {
    bp_record_cpu(ph, kind, ops, bench_now() - t0, bench_cpu() - cpu0, unit);
}

static int bp_want(const bp_opts *o, int ph) {
    return (o->phases >> ph) & 1u;
}

/* The device I/O of a durable phase per commit (device-wide counters: other
 * processes' I/O in the same window counts too). A flush per commit is each
 * commit reaching stable storage on its own; fewer is commits sharing one. */
static void bp_print_io(int kind, int ph, const bench_io *io, double commits) {
    printf("  %-10s   device per commit: %.2f flushes, %.2f writes, %.1f KiB\n", bp_engine_names[kind],
           io->flushes / commits, io->writes / commits, io->sectors / 2.0 / commits);
    printf("@ %s_%s_dev_flushes %.4g\n@ %s_%s_dev_writes %.4g\n@ %s_%s_dev_kib %.4g\n", bp_engine_metric[kind],
           bp_phase_ids[ph], io->flushes / commits, bp_engine_metric[kind], bp_phase_ids[ph], io->writes / commits,
           bp_engine_metric[kind], bp_phase_ids[ph], io->sectors / 2.0 / commits);
}

/* One durable phase over several engines: keys perm[lo..hi) at each engine's
 * version + vdelta, committed in o->rounds slices per engine. The engines
 * take turns slice by slice, the order rotating every round, so a slow spell
 * of the shared disk or CPU falls on all of them instead of on whichever ran
 * during it (each commit syncs before it returns, so no engine's deferred
 * work is timed on another's). Each key is read back afterwards. */
static void bp_durable_rounds(bp_eng *const *engs, int n, const bp_opts *o, const bp_data *d, int ph, size_t lo,
                              size_t hi, int threads, uint64_t vdelta) {
    double wall[BP_NENGINES] = {0}, cpu[BP_NENGINES] = {0};
    bench_io io[BP_NENGINES], io0 = {0, 0, 0}, io1 = {0, 0, 0};
    int have_io = 1;
    memset(io, 0, sizeof(io));
    size_t span = hi - lo;
    for (int r = 0; r < o->rounds; r++)
        for (int j = 0; j < n; j++) {
            int i = (j + r) % n;
            size_t a = lo + span * (size_t)r / (size_t)o->rounds, b = lo + span * (size_t)(r + 1) / (size_t)o->rounds;
            double c0 = bench_cpu();
            have_io &= bench_disk_read(&bp_disk, &io0);
            wall[i] += bp_durable_slice(engs[i], d, a, b, threads, engs[i]->version + vdelta);
            have_io &= bench_disk_read(&bp_disk, &io1);
            cpu[i] += bench_cpu() - c0;
            bench_io_add(&io[i], &io0, &io1);
        }
    for (int i = 0; i < n; i++) {
        int kind = engs[i]->kind;
        bp_record_cpu(ph, kind, (double)span / wall[i], wall[i], cpu[i], "ops/s");
        if (have_io) bp_print_io(kind, ph, &io[i], (double)span);
        (void)bp_read_keys(engs[i], d, d->perm, lo, hi, engs[i]->version + vdelta, "read-back after durable commits");
    }
}

/* The durable phases on every engine still open: each switched to durable
 * commits (checked), then keys perm[0..sync_ops) from 1 thread and
 * perm[sync_ops..+T*mt_ops) from T threads. */
static void bp_run_durable_all(bp_eng *const *engs, int n, const bp_opts *o, const bp_data *d) {
    printf("durable commits (engines take turns: %d slices each, the order rotating):\n", o->rounds);
    for (int i = 0; i < n; i++) {
        bp_eng_set_durable(engs[i], 1);
        if (engs[i]->kind == BP_ARMDB) {
            arm_engine_stats st;
            arm_engine_stats_get(engs[i]->arm, &st);
            printf("  (armdb reopened: sync=%s io_direct=%d io_uring=%d)\n",
                   st.sync_mode == ARM_SYNC_FULL ? "full" : "?", st.io_direct, st.io_uring);
        }
    }
    size_t hi = o->sync_ops, hi2 = hi + o->mt_ops * (size_t)o->threads;
    bench_disk_background(&bp_disk, 500);
    if (bp_want(o, BP_PH_DURABLE)) bp_durable_rounds(engs, n, o, d, BP_PH_DURABLE, 0, hi, 1, 1);
    if (bp_want(o, BP_PH_DURABLE_MT)) bp_durable_rounds(engs, n, o, d, BP_PH_DURABLE_MT, hi, hi2, o->threads, 2);
    for (int i = 0; i < n && bp_want(o, BP_PH_DURABLE); i++) /* still there after the threaded commits */
        (void)bp_read_keys(engs[i], d, d->perm, 0, hi, engs[i]->version + 1, "read-back of 1-thread durable keys");
}

/* Opens engine `kind` in a fresh directory and runs the selected
 * non-durable phases; leaves it open in *e (bp_close_engine closes it). Each
 * phase's version is one more than the last write phase's, so every read
 * checks the newest write of every key it reads. */
static void bp_run_engine(int kind, const bp_opts *o, const bp_data *d, const char *parent, bp_eng *e) {
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    snprintf(e->dir, sizeof(e->dir), "%s/%s", parent, bp_engine_names[kind]);
    if (access(e->dir, F_OK) == 0) bench_die("%s already exists; refusing to benchmark over old data", e->dir);
    bp_eng_open(e, d->n);
    int full = kind != BP_ARMDB_OFF; /* armdb-off: write phases only (plus an untimed read-back) */
    double t0, c0, ops;
    uint64_t version = 0;

    printf("%s:\n", bp_engine_names[kind]);
    if (kind == BP_ARMDB || kind == BP_ARMDB_OFF) {
        arm_engine_stats st;
        arm_engine_stats_get(e->arm, &st);
        printf("  (armdb: shards=%u sync=%s io_direct=%d io_uring=%d index=%s)\n", st.shards,
               st.sync_mode == ARM_SYNC_OFF ? "off" : st.sync_mode == ARM_SYNC_NORMAL ? "normal" : "full", st.io_direct,
               st.io_uring, st.index_kind == ARM_INDEX_HASH ? "hash" : "ordered");
    }

    if (bp_want(o, BP_PH_LOAD)) {
        c0 = bench_cpu();
        t0 = bench_now();
        ops = bp_phase_load(e, d);
        bp_record(BP_PH_LOAD, kind, ops, t0, c0, "ops/s");
    }
    if (bp_want(o, BP_PH_OVERWRITE)) {
        c0 = bench_cpu();
        t0 = bench_now();
        ops = bp_phase_overwrite(e, d, ++version);
        bp_record(BP_PH_OVERWRITE, kind, ops, t0, c0, "ops/s");
    }
    if (bp_want(o, BP_PH_BATCH)) {
        c0 = bench_cpu();
        t0 = bench_now();
        ops = bp_phase_batch(e, d, ++version);
        bp_record(BP_PH_BATCH, kind, ops, t0, c0, "ops/s");
    }

    if (kind == BP_ROCKSDB && bp_want(o, BP_PH_LOAD)) {
        /* the shape of the LSM tree the reads below meet (no compaction forced) */
        printf("  %-10s files per level before reads:", bp_engine_names[kind]);
        for (int l = 0; l < 7; l++) {
            char prop[64];
            snprintf(prop, sizeof(prop), "rocksdb.num-files-at-level%d", l);
            char *v = rocksdb_property_value(e->rdb, prop);
            printf(" L%d=%s", l, v != NULL ? v : "?");
            rocksdb_free(v);
        }
        printf("\n");
    }
    if (!full) {
        /* untimed: every key must read back at the last version */
        (void)bp_read_keys(e, d, NULL, 0, d->n, version, "read-back after writes");
        printf("  %-10s all %zu keys read back at version %llu\n", bp_engine_names[kind], d->n,
               (unsigned long long)version);
    } else {
        if (bp_want(o, BP_PH_GET)) {
            c0 = bench_cpu();
            t0 = bench_now();
            ops = bp_read_keys(e, d, d->perm, 0, d->n, version, "get");
            bp_record(BP_PH_GET, kind, ops, t0, c0, "ops/s");
        }
        if (bp_want(o, BP_PH_SCAN)) {
            c0 = bench_cpu();
            t0 = bench_now();
            ops = bp_phase_scan(e, d, version);
            bp_record(BP_PH_SCAN, kind, ops, t0, c0, "keys/s");
        }
        if (bp_want(o, BP_PH_RANGE)) {
            double scans_s = 0;
            c0 = bench_cpu();
            t0 = bench_now();
            ops = bp_phase_range(e, d, version, &scans_s);
            bp_record(BP_PH_RANGE, kind, ops, t0, c0, "keys/s");
        }
    }
    e->version = version;
}

static void bp_close_engine(bp_eng *e, const bp_opts *o) {
    uint64_t du = bp_du(e->dir);
    bp_eng_close(e);
    printf("  %-10s on disk at close: %.1f MiB\n", bp_engine_names[e->kind], (double)du / 1048576.0);
    if (!o->keep) bench_rm_rf(e->dir);
}

/* The targets for durable commits against RocksDB (sync=true), for
 * the phases that ran on both. Returns the number missed. */
static int bp_targets(void) {
    static const struct {
        int ph;
        double min;
    } t[] = {{BP_PH_DURABLE, 1.0}, {BP_PH_DURABLE_MT, 1.5}};
    int nmiss = 0, shown = 0;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        double a = bp_res[t[i].ph][BP_ARMDB], r = bp_res[t[i].ph][BP_ROCKSDB];
        if (isnan(a) || isnan(r) || r <= 0) continue;
        if (!shown++) printf("targets (armdb/rocksdb):\n");
        int pass = a / r >= t[i].min;
        nmiss += !pass;
        printf("  %-38s %8.2fx >= %4.1fx   %s\n", bp_phase_labels[t[i].ph], a / r, t[i].min, pass ? "PASS" : "MISS");
        printf("@ ratio_rocksdb_%s %.6g\n", bp_phase_ids[t[i].ph], a / r);
    }
    if (shown) printf("%s: %d target(s) missed\n", nmiss ? "MISS" : "PASS", nmiss);
    return nmiss;
}

static void bp_fmt(char *out, size_t cap, double v) {
    if (isnan(v)) snprintf(out, cap, "-");
    else snprintf(out, cap, "%.0f", v);
}

static void bp_fmt_ratio(char *out, size_t cap, double a, double b) {
    if (isnan(a) || isnan(b) || b <= 0) snprintf(out, cap, "-");
    else snprintf(out, cap, "%.2fx", a / b);
}

int main(int argc, char **argv) {
    bp_opts o;
    bp_parse(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char mtlabel[64];
    snprintf(mtlabel, sizeof(mtlabel), "durable commit, %d threads", o.threads);
    bp_phase_labels[BP_PH_DURABLE_MT] = mtlabel;

    for (int p = 0; p < BP_NPHASES; p++)
        for (int k = 0; k < BP_NENGINES; k++) bp_res[p][k] = NAN;

    char parent[4096];
    int made_parent = bench_parent_dir(o.dir, o.keep, parent, sizeof(parent));

    printf("bench_peers: n=%zu keys (%d-byte random keys, %d-byte incompressible values), dir=%s\n", o.n,
           BP_KEY_BYTES, BP_VALUE_BYTES, parent);
    printf("  durable phases: %zu single-put commits on 1 thread; %d threads x %zu commits; the engines take\n"
           "    turns in %d slices each, after every engine's other phases\n",
           o.sync_ops, o.threads, o.mt_ops, o.rounds);
    printf("  non-durable mode (load/overwrite/batch): armdb sync=normal (armdb-off: sync=off); rocksdb WAL on,\n"
           "    sync=false; lmdb MDB_NOSYNC with one write txn per put (same per-commit semantics as the others;\n"
           "    the 1000-puts/commit row shows each engine's batch path: arm batch, WriteBatch, one LMDB txn)\n");
    printf("  durable mode: armdb sync=full (group commit), rocksdb sync=true + WAL, lmdb default flags\n");
    printf("  rocksdb: %zu MiB LRU block cache, 10-bit bloom filter, other options default (compression too)\n",
           bp_rocks_cache_mb);
    printf("  lmdb %d.%d.%d: default flags; one read txn per get/scan phase (a snapshot is free in LMDB)\n",
           MDB_VERSION_MAJOR, MDB_VERSION_MINOR, MDB_VERSION_PATCH);
    printf("  phases:");
    for (int p = 0; p < BP_NPHASES; p++)
        if (bp_want(&o, p)) printf(" %s", bp_phase_ids[p]);
    printf("\n");
    bp_loadavg("at start");
    bench_disk_find(parent, &bp_disk);
    if (!bp_disk.ok) printf("  (no block device counters for %s: device I/O per commit not shown)\n", parent);

    bp_data d;
    bp_data_init(&d, o.n, o.seed);

    unsigned writes = (1u << BP_PH_LOAD) | (1u << BP_PH_OVERWRITE) | (1u << BP_PH_BATCH);
    int durable = bp_want(&o, BP_PH_DURABLE) || bp_want(&o, BP_PH_DURABLE_MT), nd = 0;
    bp_eng *engs = calloc(BP_NENGINES, sizeof(bp_eng)), *dur[BP_NENGINES];
    if (engs == NULL) bench_die("out of memory");
    for (int k = 0; k < BP_NENGINES; k++) {
        if (!o.only[k] || (k == BP_ARMDB_OFF && (o.phases & writes) == 0)) continue; /* armdb-off: writes only */
        bp_run_engine(k, &o, &d, parent, &engs[k]);
        if (durable && k != BP_ARMDB_OFF) dur[nd++] = &engs[k];
        else bp_close_engine(&engs[k], &o);
    }
    if (nd > 0) {
        bp_run_durable_all(dur, nd, &o, &d);
        for (int i = 0; i < nd; i++) bp_close_engine(dur[i], &o);
    }
    free(engs);

    /* table */
    printf("\nresults (n=%zu; ops/s, scans in keys/s; higher is better):\n", o.n);
    printf("  %-38s %12s %12s %12s %12s %10s %10s\n", "phase", "armdb", "armdb-off", "rocksdb", "lmdb",
           "arm/rocks", "arm/lmdb");
    for (int p = 0; p < BP_NPHASES; p++) {
        char c[BP_NENGINES][32], r1[32], r2[32];
        for (int k = 0; k < BP_NENGINES; k++) bp_fmt(c[k], sizeof(c[k]), bp_res[p][k]);
        bp_fmt_ratio(r1, sizeof(r1), bp_res[p][BP_ARMDB], bp_res[p][BP_ROCKSDB]);
        bp_fmt_ratio(r2, sizeof(r2), bp_res[p][BP_ARMDB], bp_res[p][BP_LMDB]);
        printf("  %-38s %12s %12s %12s %12s %10s %10s\n", bp_phase_labels[p], c[0], c[1], c[2], c[3], r1, r2);
    }
    int nmiss = bp_targets();
    bp_loadavg("at end");

    if (o.csv != NULL) {
        FILE *f = fopen(o.csv, "w");
        if (f == NULL) bench_die("open %s: %s", o.csv, strerror(errno));
        fprintf(f, "phase,armdb,armdb-off,rocksdb,lmdb\n");
        for (int p = 0; p < BP_NPHASES; p++) {
            if (p == BP_PH_DURABLE_MT) fprintf(f, "durable_%dt", o.threads);
            else fprintf(f, "%s", bp_phase_ids[p]);
            for (int k = 0; k < BP_NENGINES; k++) {
                if (isnan(bp_res[p][k])) fprintf(f, ",NaN");
                else fprintf(f, ",%.1f", bp_res[p][k]);
            }
            fprintf(f, "\n");
        }
        if (fclose(f) != 0) bench_die("write %s: %s", o.csv, strerror(errno));
        printf("wrote %s\n", o.csv);
    }

    bp_data_free(&d);
    if (made_parent && !o.keep) bench_rm_rf(parent);
    else if (o.keep) printf("kept %s\n", parent);
    return (o.strict && nmiss) ? 2 : 0;
}
