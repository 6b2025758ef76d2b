/* SPDX-License-Identifier: MIT */
/*
 * engine.c: open/close of a database directory (metadata, lock, shards,
 * background sync), the point operations (get, put, delete, cas), stats,
 * flush and check. Batches live in batch.c, recovery in recover.c, cursors
 * in cursor.c, the log write path in shard.c.
 *
 * A write: take the key's shard index write lock, then its log mutex; append
 * one entry; release the log; update the index; release it; then wait for
 * durability per the sync mode (group commit for sync=full).
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"
#include "../common/arm_hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- errors */
static _Thread_local char eng_errmsg[512];
static _Thread_local int eng_errno;

int arm_engine_seterr(int rc, int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(eng_errmsg, sizeof(eng_errmsg), fmt, ap);
    va_end(ap);
    if (err && n >= 0 && (size_t)n < sizeof(eng_errmsg))
        snprintf(eng_errmsg + n, sizeof(eng_errmsg) - (size_t)n, ": %s", strerror(err));
    eng_errno = err;
    return rc;
}

const char *arm_engine_errmsg(const arm_engine *e) {
    (void)e;
    return eng_errmsg;
}

int arm_engine_errno(const arm_engine *e) {
    (void)e;
    return eng_errno;
}

/* ------------------------------------------------------------- options */
void arm_engine_options_init(arm_engine_options *o) {
    memset(o, 0, sizeof(*o));
    o->shard_count = 0;
    o->shard_prefix_bits = 0;
    o->max_file_size = 256ull * 1024 * 1024;
    o->write_buffer_size = 1024 * 1024;
    o->sync_mode = ARM_SYNC_NORMAL;
    o->compaction_threshold = 0.3;
    o->index_kind = ARM_INDEX_ORDERED;
    o->cache_size = 0;
    o->max_key_size = 1024;
    o->max_value_size = 16 * 1024 * 1024;
    o->io_backend = ARM_IO_AUTO;
    o->read_only = 0;
    o->create_if_missing = 1;
    o->mmap_reads = 1;
}

static int eng_bad_option(const char *name, const char *why) {
    return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0, "bad option %s: %s", name, why);
}

static int eng_check_options(const arm_engine_options *o) {
    if (o->shard_count > ARM_SHARDS_MAX) return eng_bad_option("shard_count", "at most 1024");
    if (o->shard_prefix_bits > 8 * ARM_ROUTE_PREFIX_MAX)
        return eng_bad_option("shard_prefix_bits", "at most 512 (a 64-byte prefix)");
    if (o->max_file_size < ARM_FILE_SIZE_MIN || o->max_file_size > ARM_FILE_SIZE_MAX)
        return eng_bad_option("max_file_size", "must be between 64 KiB and 4 GiB - 4 KiB");
    if (o->write_buffer_size < ARM_IO_BLOCK || o->write_buffer_size % ARM_IO_BLOCK != 0 ||
        o->write_buffer_size > ARM_WRITE_BUFFER_MAX)
        return eng_bad_option("write_buffer_size", "must be a multiple of 4096, up to 256 MiB");
    if (o->sync_mode < ARM_SYNC_OFF || o->sync_mode > ARM_SYNC_FULL)
        return eng_bad_option("sync_mode", "must be off, normal or full");
    if (!(o->compaction_threshold > 0.0 && o->compaction_threshold <= 1.0))
        return eng_bad_option("compaction_threshold", "must be in (0, 1]");
    if (o->index_kind != ARM_INDEX_ORDERED && o->index_kind != ARM_INDEX_HASH)
        return eng_bad_option("index_kind", "must be ordered or hash");
    if (o->max_key_size < 1 || o->max_key_size > ARM_KEY_SIZE_MAX)
        return eng_bad_option("max_key_size", "must be between 1 and 65535");
    if ((uint64_t)o->max_value_size + o->max_key_size + ARM_ENTRY_HEADER + ARM_FILE_HEADER_SIZE >
        o->max_file_size)
        return eng_bad_option("max_value_size", "an entry must fit in one data file");
    if (o->io_backend < ARM_IO_AUTO || o->io_backend > ARM_IO_URING)
        return eng_bad_option("io_backend", "unknown backend");
    return ARM_OK;
}

/* ------------------------------------------------------------- routing */
uint32_t arm_engine_route(const arm_engine *e, const uint8_t *key, size_t klen) {
    if (e->shard_count == 1) return 0;
    uint32_t bits = e->meta.prefix_bits;
    uint64_t h;
    if (bits == 0 || (size_t)bits >= 8 * klen) {
        h = arm_hash_key(key, klen);
    } else {
        uint8_t tmp[ARM_ROUTE_PREFIX_MAX];
        size_t nbytes = (bits + 7) / 8;
        memcpy(tmp, key, nbytes);
        if (bits % 8) tmp[nbytes - 1] &= (uint8_t)(0xff00u >> (bits % 8));
        h = arm_hash_key(tmp, nbytes);
    }
    return (uint32_t)(h % e->shard_count);
}

/* ------------------------------------------------------------- files */
static _Atomic(arm_file *) *eng_chunk(const arm_engine *e, uint32_t c) {
    return atomic_load_explicit(&((arm_engine *)(uintptr_t)e)->file_chunks[c], memory_order_acquire);
}

arm_file *arm_engine_file(const arm_engine *e, uint32_t fid) {
    uint32_t c = fid / ARM_FILE_CHUNK;
    if (c >= ARM_FILE_CHUNKS_MAX) return NULL;
    _Atomic(arm_file *) *chunk = eng_chunk(e, c);
    if (chunk == NULL) return NULL;
    return atomic_load_explicit(&chunk[fid % ARM_FILE_CHUNK], memory_order_acquire);
}

/* The first file with id >= *fid, or NULL; *fid is left just past it. Ids
 * are sparse, so empty chunks are skipped whole. Start with *fid = 0. */
static arm_file *eng_file_next(const arm_engine *e, uint32_t *fid) {
    for (uint32_t c = *fid / ARM_FILE_CHUNK; c < ARM_FILE_CHUNKS_MAX; c++) {
        _Atomic(arm_file *) *chunk = eng_chunk(e, c);
        uint32_t j = c == *fid / ARM_FILE_CHUNK ? *fid % ARM_FILE_CHUNK : 0;
        for (; chunk != NULL && j < ARM_FILE_CHUNK; j++) {
            arm_file *f = atomic_load_explicit(&chunk[j], memory_order_acquire);
            if (f == NULL) continue;
            *fid = c * ARM_FILE_CHUNK + j + 1;
            return f;
        }
    }
    *fid = ARM_FILE_CHUNKS_MAX * ARM_FILE_CHUNK;
    return NULL;
}

int arm_engine_file_add(arm_engine *e, arm_file *f) {
    uint32_t c = f->fid / ARM_FILE_CHUNK;
    if (c >= ARM_FILE_CHUNKS_MAX) return ARM_ERR(ARM_FULL);
    pthread_mutex_lock(&e->files_lock);
    _Atomic(arm_file *) *chunk = eng_chunk(e, c);
    if (chunk == NULL) {
        chunk = arm_calloc(ARM_FILE_CHUNK, sizeof(_Atomic(arm_file *)));
        if (chunk == NULL) {
            pthread_mutex_unlock(&e->files_lock);
            return ARM_ERR(ARM_NOMEM);
        }
        atomic_store_explicit(&e->file_chunks[c], chunk, memory_order_release);
    }
    arm_file *old = atomic_load(&chunk[f->fid % ARM_FILE_CHUNK]);
    if (old != NULL) {
        /* File ids are database-wide: two files with one id is damage
         * (copied or renamed files), never something to pick between. */
        pthread_mutex_unlock(&e->files_lock);
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "%s and %s have the same file id %u",
                                 old->path, f->path, f->fid);
    }
    atomic_store_explicit(&chunk[f->fid % ARM_FILE_CHUNK], f, memory_order_release);
    pthread_mutex_unlock(&e->files_lock);
    return ARM_OK;
}

int arm_engine_read_value(arm_engine *e, const arm_item *loc, arm_slice key, arm_buf *buf,
                          arm_slice *value_out) {
    arm_file *f = arm_engine_file(e, loc->fid);
    if (ARM_NEVER(f == NULL)) return ARM_ERR(ARM_CORRUPT);
    /* Zero-copy from the mapping when the entry is in the file already. */
    const uint8_t *p = arm_shard_mapped(e, f, loc->off, loc->len);
    if (p == NULL) {
        int rc = arm_buf_reserve(buf, loc->len);
        if (rc != ARM_OK) return rc;
        rc = arm_shard_read(e, f, loc->off, buf->ptr, loc->len);
        if (rc != ARM_OK) return rc;
        p = buf->ptr;
    }
    if (arm_entry_verify(p, loc->len) != ARM_OK)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "checksum mismatch in %s at offset %u",
                                 f->path, loc->off);
    /* A good checksum on the wrong entry is still the wrong entry. */
    if (key.len != loc->klen || memcmp(p + ARM_ENTRY_HEADER, key.ptr, key.len) != 0)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                 "%s at offset %u holds another key than the index says",
                                 f->path, loc->off);
    size_t voff = ARM_ENTRY_HEADER + (size_t)loc->klen;
    value_out->ptr = p + voff;
    value_out->len = loc->len - voff;
    return ARM_OK;
}

/* ---------------------------------------------------------- meta, lock */
static int eng_mkdirs(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(path)) return arm_engine_seterr(ARM_MISUSE, 0, "bad directory name");
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0') continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) == 0) {
            /* the new entry must survive a crash: sync the parent */
            char *slash = strrchr(path, '/');
            int err = 0;
            if (slash && slash != path) {
                *slash = '\0';
                int rc = arm_io_sync_dir(path, &err);
                *slash = '/';
                if (rc != ARM_OK)
                    return arm_engine_seterr(ARM_ERR(ARM_IOERR), err, "cannot sync %s", path);
            }
        } else if (errno != EEXIST) {
            return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot create directory %s", path);
        }
        path[i] = c;
    }
    return ARM_OK;
}

static int eng_lock(arm_engine *e) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", e->dir, ARM_LOCK_NAME);
    /* LOCK is made only when a database may be created here, so opening a
     * directory that holds none leaves no stray file behind. */
    int flags = O_CLOEXEC | (e->opts.read_only ? O_RDONLY : O_RDWR);
    if (!e->opts.read_only && e->opts.create_if_missing) flags |= O_CREAT;
    e->lock_fd = open(path, flags, 0644);
    if (e->lock_fd < 0) {
        if (errno == ENOENT) return arm_engine_seterr(ARM_NOTFOUND, 0, "no database in %s", e->dir);
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot open %s", path);
    }
    /* flock locks belong to the open file description: a second open in this
     * process conflicts too, which is what we want (one engine per dir). */
    if (flock(e->lock_fd, (e->opts.read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK)
            return arm_engine_seterr(ARM_ERR(ARM_BUSY), 0,
                                     "database %s is locked by another process or handle", e->dir);
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), err, "cannot lock %s", path);
    }
    return ARM_OK;
}

static int eng_meta_create(arm_engine *e, const char *path) {
    arm_meta *m = &e->meta;
    memset(m, 0, sizeof(*m));
    m->version = ARM_FORMAT_VERSION;
    m->shard_count = e->opts.shard_count;
    if (m->shard_count == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        m->shard_count = cpus < 1 ? 1 : (cpus > 64 ? 64 : (uint32_t)cpus);
    }
    m->prefix_bits = e->opts.shard_prefix_bits;
    if (getrandom(m->db_id, sizeof(m->db_id), 0) != (ssize_t)sizeof(m->db_id))
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "getrandom failed");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->created_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    /* The application's blob first: ARMDB then never exists without it. */
    if (e->opts.app_meta != NULL) {
        int arc = arm_app_meta_write(e, arm_slice_make(e->opts.app_meta, e->opts.app_meta_len));
        if (arc != ARM_OK) return arc;
    }
    uint8_t buf[ARM_META_SIZE];
    arm_meta_encode(m, buf);
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = 0;
    int rc = fd < 0 ? (err = errno, ARM_IOERR) : ARM_OK;
    if (rc == ARM_OK) rc = arm_io_pwrite(NULL, fd, buf, sizeof(buf), 0, 1, &err);
    if (fd >= 0) close(fd);
    if (rc == ARM_OK && rename(tmp, path) != 0) rc = (err = errno, ARM_IOERR);
    if (rc == ARM_OK) rc = arm_io_sync_dir(e->dir, &err);
    if (rc != ARM_OK) return arm_engine_seterr(ARM_ERR(rc), err, "cannot write %s", path);
    return ARM_OK;
}

static int eng_owned_name(const char *nm);

/* Is there a data file in a shard directory (shard-NNN/FFFFFFFF.log...)?
 * Fills path with the first one found. */
static int eng_find_data_file(const arm_engine *e, char *path, size_t size) {
    DIR *d = opendir(e->dir);
    int found = 0;
    if (d == NULL) return 0;
    for (struct dirent *de; !found && (de = readdir(d)) != NULL;) {
        if (strncmp(de->d_name, "shard-", 6) != 0) continue;
        char sdir[4200];
        snprintf(sdir, sizeof sdir, "%s/%s", e->dir, de->d_name);
        DIR *sd = opendir(sdir);
        for (struct dirent *f; sd != NULL && !found && (f = readdir(sd)) != NULL;)
            if (eng_owned_name(f->d_name)) {
                int w = snprintf(path, size, "%s/%s", sdir, f->d_name);
                found = 1;
                if (w < 0 || (size_t)w >= size) path[0] = '\0'; /* found all the same */
            }
        if (sd != NULL) closedir(sd);
    }
    closedir(d);
    return found;
}

static int eng_meta_load(arm_engine *e) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", e->dir, ARM_META_NAME);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        char data[4300];
        if (eng_find_data_file(e, data, sizeof data))
            return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                                     "%s is missing but %s holds a data file: the directory is "
                                     "damaged or partly copied; no new database is created over "
                                     "it", path, data);
        if (e->opts.read_only || !e->opts.create_if_missing)
            return arm_engine_seterr(ARM_NOTFOUND, 0, "no database in %s", e->dir);
        return eng_meta_create(e, path);
    }
    if (fd < 0) return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot open %s", path);
    uint8_t buf[ARM_META_SIZE + 1];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n != (ssize_t)ARM_META_SIZE || arm_meta_decode(buf, (size_t)n, &e->meta) != ARM_OK)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "metadata file %s is damaged", path);
    if (e->meta.version != ARM_FORMAT_VERSION)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "%s: unsupported format version %u",
                                 path, e->meta.version);
    if (e->opts.shard_count != 0 && e->opts.shard_count != e->meta.shard_count)
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                 "shard count is fixed at creation: %s has %u shards, not %u",
                                 e->dir, e->meta.shard_count, e->opts.shard_count);
    if (e->meta.flags != 0)
        return arm_engine_seterr(ARM_ERR(ARM_AUTH), 0,
                                 "%s is encrypted; this build has no encryption key support",
                                 e->dir);
    return ARM_OK;
}

/* ------------------------------------------------------- background sync */
static void *eng_syncer_main(void *arg) {
    arm_engine *e = arg;
    pthread_mutex_lock(&e->syncer_lock);
    while (!e->syncer_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)ARM_SYNC_INTERVAL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&e->syncer_cond, &e->syncer_lock, &ts);
        if (e->syncer_stop) break;
        pthread_mutex_unlock(&e->syncer_lock);
        for (uint32_t i = 0; i < e->shard_count && !atomic_load(&e->panic); i++) {
            arm_shard *s = &e->shards[i];
            uint32_t fid = atomic_load(&s->active_fid);
            uint64_t end = atomic_load(&s->flushed_off);
            /* A failure poisons the engine; writers then report it. */
            (void)arm_shard_sync_to(e, s, fid, end);
        }
        pthread_mutex_lock(&e->syncer_lock);
    }
    pthread_mutex_unlock(&e->syncer_lock);
    return NULL;
}

/* ------------------------------------------------------------ open/close */
static int eng_open_shards(arm_engine *e) {
    int made = 0;
    e->shard_count = e->meta.shard_count;
    e->shards = arm_calloc(e->shard_count, sizeof(arm_shard));
    if (e->shards == NULL) return ARM_ERR(ARM_NOMEM);
    for (uint32_t i = 0; i < e->shard_count; i++) {
        int rc = arm_shard_init(e, &e->shards[i], i);
        if (rc != ARM_OK) {
            e->shard_count = i + 1; /* so close frees what was made */
            return rc;
        }
        if (e->opts.read_only) continue;
        if (mkdir(e->shards[i].dir, 0755) == 0)
            made = 1;
        else if (errno != EEXIST)
            return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot create %s",
                                     e->shards[i].dir);
    }
    /* New shard directories must survive a crash like the files in them. */
    int err = 0;
    if (made && arm_io_sync_dir(e->dir, &err) != ARM_OK)
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), err, "cannot sync %s", e->dir);
    return ARM_OK;
}

int arm_engine_open(const char *dir, const arm_engine_options *opts, arm_engine **engine_out) {
    *engine_out = NULL;
    eng_errmsg[0] = '\0';
    eng_errno = 0;
    arm_engine_options defaults;
    if (opts == NULL) {
        arm_engine_options_init(&defaults);
        opts = &defaults;
    }
    int rc = eng_check_options(opts);
    if (rc != ARM_OK) return rc;
    if (opts->app_meta != NULL && opts->app_meta_len > ARM_APP_META_MAX)
        return arm_engine_seterr(ARM_ERR(ARM_TOOBIG), 0, "application metadata over %u bytes",
                                 (unsigned)ARM_APP_META_MAX);
    arm_engine *e = arm_calloc(1, sizeof(*e));
    if (e == NULL) return ARM_ERR(ARM_NOMEM);
    e->opts = *opts;
    e->lock_fd = -1;
    atomic_store(&e->next_fid, 1);
    /* O_DIRECT pays where writes are big: sync=off flushes whole buffers.
     * Where every commit reaches the file (normal, full), a commit would be
     * a device write of its own under the log mutex; through the page cache
     * it is a memcpy, and sync=full's group fdatasync then writes all the
     * waiting commits' pages at once (8 committing threads: 23K commits/s
     * buffered vs 15K direct; 1 thread: 8K vs 12K). */
    atomic_store(&e->direct_ok, opts->io_backend != ARM_IO_POSIX && opts->sync_mode == ARM_SYNC_OFF);
    e->use_uring = opts->io_backend != ARM_IO_POSIX;
    pthread_mutex_init(&e->files_lock, NULL);
    pthread_mutex_init(&e->app_lock, NULL);
    pthread_mutex_init(&e->syncer_lock, NULL);
    pthread_cond_init(&e->syncer_cond, NULL);
    e->dir = arm_strdup(dir);
    rc = e->dir ? ARM_OK : ARM_ERR(ARM_NOMEM);
    if (rc == ARM_OK && !opts->read_only && opts->create_if_missing) rc = eng_mkdirs(dir);
    if (rc == ARM_OK) rc = eng_lock(e);
    if (rc == ARM_OK) rc = eng_meta_load(e);
    if (rc == ARM_OK) rc = arm_app_meta_load(e);
    if (rc == ARM_OK) rc = eng_open_shards(e);
    if (rc == ARM_OK && opts->cache_size) rc = arm_cache_new(opts->cache_size, &e->cache);
    if (rc == ARM_OK) rc = arm_engine_recover(e);
    if (rc == ARM_OK && opts->io_backend == ARM_IO_URING && e->shards[0].ring == NULL &&
        !opts->read_only)
        rc = arm_engine_seterr(ARM_ERR(ARM_IOERR), 0, "io_uring is not available here");
    if (rc == ARM_OK && opts->sync_mode == ARM_SYNC_NORMAL && !opts->read_only) {
        int perr = pthread_create(&e->syncer, NULL, eng_syncer_main, e);
        if (perr != 0)
            rc = arm_engine_seterr(ARM_ERR(ARM_NOMEM), perr, "cannot start the sync thread");
        else
            e->syncer_running = 1;
    }
    if (rc != ARM_OK) {
        char msg[sizeof(eng_errmsg)];
        int err = eng_errno;
        memcpy(msg, eng_errmsg, sizeof(msg));
        (void)arm_engine_close(e);
        memcpy(eng_errmsg, msg, sizeof(msg));
        eng_errno = err;
        return rc;
    }
    *engine_out = e;
    return ARM_OK;
}

int arm_engine_close(arm_engine *e) {
    if (e == NULL) return ARM_OK;
    int rc = ARM_OK;
    if (e->syncer_running) {
        pthread_mutex_lock(&e->syncer_lock);
        e->syncer_stop = 1;
        pthread_cond_signal(&e->syncer_cond);
        pthread_mutex_unlock(&e->syncer_lock);
        pthread_join(e->syncer, NULL);
    }
    if (e->shards && !e->opts.read_only && e->lock_fd >= 0) rc = arm_engine_flush(e);
    /* Leave no block padding past the logical end of the active files, so a
     * cleanly closed database reads clean to a read-only open and check. */
    for (uint32_t i = 0; rc == ARM_OK && e->shards && i < e->shard_count; i++) {
        arm_shard *s = &e->shards[i];
        int err = 0;
        if (s->active && s->direct && !atomic_load(&e->panic))
            rc = arm_io_truncate(s->active->fd, atomic_load(&s->active->size), &err);
    }
    for (uint32_t i = 0; e->shards && i < e->shard_count; i++) arm_shard_deinit(e, &e->shards[i]);
    arm_free(e->shards);
    arm_cache_free(e->cache);
    uint32_t fid = 0;
    for (arm_file *f; (f = eng_file_next(e, &fid)) != NULL;) arm_file_free(f);
    for (uint32_t c = 0; c < ARM_FILE_CHUNKS_MAX; c++) arm_free((void *)eng_chunk(e, c));
    if (e->lock_fd >= 0) close(e->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&e->files_lock);
    pthread_mutex_destroy(&e->app_lock);
    arm_buf_free(&e->app_meta);
    pthread_mutex_destroy(&e->syncer_lock);
    pthread_cond_destroy(&e->syncer_cond);
    arm_free(e->dir);
    arm_free(e);
    return rc;
}

void arm_engine_abandon(arm_engine *e) {
    if (e == NULL) return;
    /* an flock belongs to the open file description both processes share:
     * only the parent's close may release it, so the child drops its copy */
    if (e->lock_fd >= 0) (void)close(e->lock_fd);
    e->lock_fd = -1;
}

/* 1 for the names the engine creates in a shard directory: FFFFFFFF.log,
 * FFFFFFFF.log.torn (a torn newest file set aside), FFFFFFFF.log.cut-N (the
 * bytes cut off a newest file that had good entries after damage) and
 * FFFFFFFF.hint. */
static int eng_owned_name(const char *nm) {
    for (int i = 0; i < 8; i++)
        if (nm[i] < '0' || nm[i] > '9') return 0;
    return strcmp(nm + 8, ".log") == 0 || strcmp(nm + 8, ".log.torn") == 0 ||
           strncmp(nm + 8, ".log.cut-", 9) == 0 || strcmp(nm + 8, ".hint") == 0;
}

int arm_engine_destroy(const char *dir) {
    arm_engine_options o;
    arm_engine_options_init(&o); /* create_if_missing: ARMDB is checked first, LOCK may be gone */
    arm_engine e; /* just enough of one to lock and read the metadata */
    memset(&e, 0, sizeof(e));
    e.opts = o;
    e.lock_fd = -1;
    e.dir = (char *)(uintptr_t)dir;
    char meta[4200];
    struct stat sb;
    snprintf(meta, sizeof(meta), "%s/%s", dir, ARM_META_NAME);
    if (stat(meta, &sb) != 0) /* checked first: locking would create LOCK */
        return arm_engine_seterr(ARM_NOTFOUND, 0, "no database in %s", dir);
    int rc = eng_lock(&e);
    if (rc == ARM_OK) rc = eng_meta_load(&e);
    for (uint32_t i = 0; rc == ARM_OK && i < e.meta.shard_count; i++) {
        char sdir[4200], path[4500];
        snprintf(sdir, sizeof(sdir), "%s/shard-%03u", dir, i);
        DIR *d = opendir(sdir);
        if (d == NULL) continue;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!eng_owned_name(de->d_name)) continue;
            snprintf(path, sizeof(path), "%s/%s", sdir, de->d_name);
            if (unlink(path) != 0 && errno != ENOENT)
                rc = arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot remove %s", path);
        }
        closedir(d);
        (void)rmdir(sdir); /* stays if something else lives there */
    }
    if (rc == ARM_OK) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, ARM_APP_META_NAME);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot remove %s", path);
    }
    if (rc == ARM_OK) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, ARM_META_NAME);
        if (unlink(path) != 0)
            rc = arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot remove %s", path);
        snprintf(path, sizeof(path), "%s/%s", dir, ARM_LOCK_NAME);
        (void)unlink(path);
    }
    if (e.lock_fd >= 0) close(e.lock_fd);
    if (rc == ARM_OK) (void)rmdir(dir);
    return rc;
}

const char *arm_engine_dir(const arm_engine *e) {
    return e->dir;
}

/* ------------------------------------------------------------- reads */
int arm_engine_get(arm_engine *e, arm_slice key, arm_buf *value_out) {
    value_out->len = 0;
    if (key.len == 0 || key.len > e->opts.max_key_size) return ARM_NOTFOUND;
    arm_shard *s = &e->shards[arm_engine_route(e, key.ptr, key.len)];
    arm_index_rdlock(&s->index_lock);
    arm_item *it = arm_index_get(s->index, key.ptr, key.len);
    arm_item loc;
    if (it) memcpy(&loc, it, sizeof(loc));
    pthread_rwlock_unlock(&s->index_lock);
    if (it == NULL) return ARM_NOTFOUND;
    if (e->cache) {
        if (arm_cache_get(e->cache, loc.fid, loc.off, value_out)) {
            atomic_fetch_add_explicit(&e->cache_hits, 1, memory_order_relaxed);
            return ARM_OK;
        }
        atomic_fetch_add_explicit(&e->cache_misses, 1, memory_order_relaxed);
    }
    /* Entries are immutable once appended, so the location read under the
     * lock stays readable after it is released. */
    arm_slice v;
    int rc = arm_engine_read_value(e, &loc, key, value_out, &v);
    if (rc != ARM_OK) return rc;
    if (e->cache) arm_cache_put(e->cache, loc.fid, loc.off, v.ptr, v.len);
    uintptr_t vp = (uintptr_t)v.ptr, bp = (uintptr_t)value_out->ptr;
    if (vp < bp || vp >= bp + value_out->cap) {
        rc = arm_buf_reserve(value_out, v.len); /* v is in a file mapping */
        if (rc != ARM_OK) return rc;
    }
    if (v.len) memmove(value_out->ptr, v.ptr, v.len);
    value_out->len = v.len;
    return ARM_OK;
}

int arm_engine_contains(arm_engine *e, arm_slice key) {
    if (key.len == 0 || key.len > e->opts.max_key_size) return ARM_NOTFOUND;
    arm_shard *s = &e->shards[arm_engine_route(e, key.ptr, key.len)];
    arm_index_rdlock(&s->index_lock);
    arm_item *it = arm_index_get(s->index, key.ptr, key.len);
    pthread_rwlock_unlock(&s->index_lock);
    return it ? ARM_OK : ARM_NOTFOUND;
}

uint64_t arm_engine_count(arm_engine *e) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < e->shard_count; i++) {
        arm_shard *s = &e->shards[i];
        arm_index_rdlock(&s->index_lock);
        n += arm_index_count(s->index);
        pthread_rwlock_unlock(&s->index_lock);
    }
    return n;
}

/* ----------------------------------------------------------- maintenance */
int arm_engine_flush(arm_engine *e) {
    if (e->opts.read_only) return ARM_OK;
    int rc = ARM_OK;
    for (uint32_t i = 0; i < e->shard_count && rc == ARM_OK; i++) {
        arm_shard *s = &e->shards[i];
        arm_log_lock(&s->log_lock);
        uint32_t fid = s->active ? s->active->fid : 0;
        uint64_t end = s->buf_off + s->buf_len;
        pthread_mutex_unlock(&s->log_lock);
        if (fid) rc = arm_shard_sync_to(e, s, fid, end);
    }
    return rc;
}

void arm_engine_stats_get(arm_engine *e, arm_engine_stats *st) {
    memset(st, 0, sizeof(*st));
    uint64_t total = 0, dead = 0;
    uint32_t fid = 0;
    for (arm_file *f; (f = eng_file_next(e, &fid)) != NULL;) {
        st->files++;
        total += atomic_load(&f->size) - ARM_FILE_HEADER_SIZE;
        dead += arm_file_dead(f);
    }
    for (uint32_t i = 0; i < e->shard_count; i++) {
        arm_shard *s = &e->shards[i];
        arm_index_rdlock(&s->index_lock);
        st->keys += arm_index_count(s->index);
        st->index_bytes += arm_index_memory(s->index);
        pthread_rwlock_unlock(&s->index_lock);
    }
    st->dead_bytes = dead;
    st->live_bytes = total > dead ? total - dead : 0;
    st->shards = e->shard_count;
    st->last_seq = atomic_load(&e->seq);
    st->cache_hits = atomic_load(&e->cache_hits);
    st->cache_misses = atomic_load(&e->cache_misses);
    st->sync_mode = e->opts.sync_mode;
    st->index_kind = e->opts.index_kind;
    st->io_direct = e->shards[0].direct;
    st->io_uring = e->shards[0].ring != NULL && e->shards[0].direct;
    st->read_only = e->opts.read_only;
    memcpy(st->db_id, e->meta.db_id, 16);
}

/* Verify one file's header and entries up to its logical size. */
static uint64_t eng_check_file(arm_engine *e, arm_file *f, arm_check_report_fn report, void *ctx) {
    /* A sealed file is checked whole, as it is on disk (recovery may have
     * stopped short of damage in it); the active file up to its logical end
     * (past it there is only block padding). */
    arm_shard *s = &e->shards[f->shard];
    uint64_t size = 0;
    struct stat sb;
    if (fstat(f->rfd, &sb) != 0) {
        if (report) report(ctx, f->path, 0, "cannot stat the file");
        return 1;
    }
    arm_log_lock(&s->log_lock);
    int active = s->active == f;
    if (active) size = atomic_load(&s->flushed_off); /* writers go on past it */
    pthread_mutex_unlock(&s->log_lock);
    if (!active || size > (uint64_t)sb.st_size) size = (uint64_t)sb.st_size;
    if (size == 0) return 0;
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, f->rfd, 0);
    if (map == MAP_FAILED) {
        if (report) report(ctx, f->path, 0, "cannot map the file for reading");
        return 1;
    }
    madvise(map, size, MADV_SEQUENTIAL);
    const uint8_t *p = map;
    arm_file_hdr fh;
    uint64_t problems = 0;
    if (arm_file_hdr_decode(p, size, &fh) != ARM_OK || fh.fid != f->fid ||
        memcmp(fh.db_id, e->meta.db_id, 16) != 0) {
        if (report) report(ctx, f->path, 0, "bad file header");
        problems++;
    } else {
        uint64_t off = ARM_FILE_HEADER_SIZE;
        while (off < size) {
            arm_entry_hdr h;
            if (arm_entry_decode(p + off, size - off, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK) {
                char msg[160];
                snprintf(msg, sizeof(msg),
                         "bad entry (checksum mismatch or torn); %llu bytes from here unreadable",
                         (unsigned long long)(size - off));
                if (report) report(ctx, f->path, off, msg);
                problems++;
                break;
            }
            off += arm_entry_size(h.klen, h.vlen);
        }
    }
    munmap(map, size);
    return problems;
}

int arm_engine_check(arm_engine *e, arm_check_report_fn report, arm_progress_fn progress,
                     void *ctx, uint64_t *problems_out) {
    *problems_out = 0;
    int rc = arm_engine_flush(e); /* so the files hold everything the index points at */
    if (rc != ARM_OK) return rc;
    uint64_t total = 0, done = 0;
    uint32_t fid = 0;
    for (arm_file *f; (f = eng_file_next(e, &fid)) != NULL;) total += atomic_load(&f->size);
    fid = 0;
    for (arm_file *f; (f = eng_file_next(e, &fid)) != NULL;) {
        *problems_out += eng_check_file(e, f, report, ctx);
        done += atomic_load(&f->size);
        if (progress) progress(ctx, done, total);
    }
    return ARM_OK;
}
