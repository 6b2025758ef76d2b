/* SPDX-License-Identifier: MIT */
/*
 * engine.c: open/close of a database directory (options, metadata, lock,
 * shards, background sync), point reads (get, contains, count), stats, flush
 * and check. Layer: the top of the engine; nothing in the engine calls back
 * into it. Writes (put, delete, cas, batches) live in write.c, recovery in
 * recover.c, cursors in cursor.c, the log in shard.c and the data files
 * themselves in file.c.
 *
 * A get: take the key's shard index read lock, copy the item (location) and
 * take a reference to its file, release the lock, read and verify the entry
 * (shard.c), release the reference.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"
#include "../common/arm_hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- options */
/* The options struct as first published: a caller's struct is at least this
 * big (size 0 stands for it). Later fields are appended past it. */
#define ENG_OPTIONS_SIZE_V1 (offsetof(arm_engine_options, mmap_reads) + sizeof(int))
/* The stats struct as first published. */
#define ENG_STATS_SIZE_V1 (offsetof(arm_engine_stats, db_id) + 16)

static void eng_options_defaults(arm_engine_options *o) {
    memset(o, 0, sizeof(*o));
    o->size = (uint32_t)sizeof(*o);
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
    o->hints = 1;
    o->compaction = 1;
}

void arm_engine_options_init_v(arm_engine_options *o, size_t size) {
    assert(size >= ENG_OPTIONS_SIZE_V1 && size <= sizeof(arm_engine_options));
    arm_engine_options d;
    eng_options_defaults(&d);
    size = ARM_MIN(size, sizeof(d));
    memcpy(o, &d, size);
    o->size = (uint32_t)size;
}

/* The caller's options as this engine's struct: fields past the caller's
 * size take their defaults. ARM_MISUSE for a size no version had. */
static int eng_options_copy(const arm_engine_options *in, arm_engine_options *out) {
    eng_options_defaults(out);
    size_t size = in->size ? in->size : ENG_OPTIONS_SIZE_V1;
    if (size < ENG_OPTIONS_SIZE_V1 || size > sizeof(*out))
        return arm_engine_seterr(ARM_ERR(ARM_MISUSE), 0,
                                 "bad option size %zu (fill options with arm_engine_options_init)",
                                 size);
    memcpy(out, in, size);
    out->size = (uint32_t)sizeof(*out);
    return ARM_OK;
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

/* ---------------------------------------------------------- meta, lock */
/* 1 when dir holds a metadata file. */
static int eng_has_meta(const arm_engine *e) {
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", e->dir, ARM_META_NAME);
    return stat(path, &sb) == 0;
}

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

/* Lock the directory: LOCK held exclusively by a read-write engine, shared by
 * a read-only one. A read-only engine also opens where LOCK cannot exist or
 * be made, a read-only file system or medium: it then takes no lock (a
 * read-only file system has no writer to exclude) and says so in its stats. */
static int eng_lock(arm_engine *e) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", e->dir, ARM_LOCK_NAME);
    e->lock_mode = e->opts.read_only ? ARM_LOCK_SHARED : ARM_LOCK_EXCLUSIVE;
    /* LOCK is made only when a database may be created here, so opening a
     * directory that holds none leaves no stray file behind. */
    int flags = O_CLOEXEC | (e->opts.read_only ? O_RDONLY : O_RDWR);
    if (!e->opts.read_only && e->opts.create_if_missing) flags |= O_CREAT;
    e->lock_fd = open(path, flags, 0644);
    if (e->lock_fd < 0 && errno == ENOENT && e->opts.read_only && eng_has_meta(e)) {
        /* a database without LOCK (copied without it): make one to share,
         * unless the file system is read-only */
        e->lock_fd = open(path, O_CLOEXEC | O_RDONLY | O_CREAT, 0644);
        if (e->lock_fd < 0 && errno == EROFS) {
            e->lock_mode = ARM_LOCK_NONE;
            return ARM_OK;
        }
    }
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

/* LOCK's content (log.c's arm_lock_*): the state the last read-write engine
 * left and the sequence floor. Read before recovery; *was_clean is 1
 * when the engine before this one closed cleanly (or the database is being
 * created: it has no entries to lose), *floor 0 when LOCK holds none. */
static int eng_lock_read(arm_engine *e, int fresh, int *was_clean, uint64_t *floor) {
    *was_clean = 1;
    *floor = 0;
    if (e->opts.read_only || e->lock_fd < 0) return ARM_OK;
    uint8_t b[ARM_LOCK_BYTES];
    ssize_t n = pread(e->lock_fd, b, sizeof b, 0);
    if (n < 0) return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot read %s/%s", e->dir, ARM_LOCK_NAME);
    uint8_t state = 0;
    (void)arm_lock_decode(b, (size_t)n, &state, floor); /* none or damaged: unclean, floor 0 */
    *was_clean = fresh || state == ARM_LOCK_CLEAN;
    return ARM_OK;
}

static int eng_lock_write(arm_engine *e, uint8_t state, int sync) {
    uint8_t b[ARM_LOCK_BYTES];
    arm_lock_encode(b, state, e->seq_floor);
    if (pwrite(e->lock_fd, b, sizeof b, 0) != (ssize_t)sizeof b || (sync && fdatasync(e->lock_fd) != 0))
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot write %s/%s", e->dir, ARM_LOCK_NAME);
    return ARM_OK;
}

/* After recovery, before the first write: the sequence resumes past both what
 * recovery found and the floor an earlier open set, and after an unclean end
 * ARM_SEQ_GAP further still. The floor goes to LOCK, durably, with the state
 * open, so every later open resumes past it too (even one after a clean close
 * of an engine that wrote nothing, or a crash before this one writes). */
static int eng_mark_open(arm_engine *e, int was_clean, uint64_t floor) {
    if (e->opts.read_only || e->lock_fd < 0) return ARM_OK;
    uint64_t base = ARM_MAX(atomic_load(&e->dom->seq), floor);
    if (!was_clean) base = base + ARM_SEQ_GAP < ARM_SEQ_MAX ? base + ARM_SEQ_GAP : ARM_SEQ_MAX;
    e->seq_floor = base;
    int rc = eng_lock_write(e, ARM_LOCK_OPEN, 1);
    if (rc != ARM_OK) return rc;
    arm_domain_observe_seq(e->dom, base);
    e->marked_open = 1;
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
    /* The application's blob and the encryption metadata first: ARMDB then
     * never exists without them. */
    if (e->opts.app_meta != NULL) {
        int arc = arm_app_meta_write(e, arm_slice_make(e->opts.app_meta, e->opts.app_meta_len));
        if (arc != ARM_OK) return arc;
    }
    if (e->open_key != NULL) {
        int crc = arm_crypt_create(e->dir, m->db_id, e->open_key, e->opts.cipher, &e->crypt);
        if (crc != ARM_OK) return crc;
        m->flags |= ARM_META_ENCRYPTED;
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

/* Is there a data file in a shard directory (shard-NNN/FFFFFFFF.log)? Fills
 * path with the first one found. */
static int eng_find_data_file(const arm_engine *e, char *path, size_t size) {
    DIR *d = opendir(e->dir);
    int found = 0;
    if (d == NULL) return 0;
    for (struct dirent *de; !found && (de = readdir(d)) != NULL;) {
        if (strncmp(de->d_name, "shard-", 6) != 0) continue;
        char sdir[ARM_FILE_PATH_MAX - 64]; /* room for the file's name after it */
        snprintf(sdir, sizeof sdir, "%s/%s", e->dir, de->d_name);
        uint32_t *ids = NULL;
        size_t n = 0;
        if (arm_files_list(sdir, 0, &ids, &n) == ARM_OK && n > 0) {
            found = 1;
            char fp[ARM_FILE_PATH_MAX];
            arm_file_path(fp, sizeof fp, sdir, ids[0]);
            int w = snprintf(path, size, "%s", fp);
            if (w < 0 || (size_t)w >= size) path[0] = '\0'; /* found all the same */
        }
        arm_free(ids);
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
    if (e->meta.flags & ~ARM_META_ENCRYPTED)
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "%s: unsupported flags 0x%x", path,
                                 e->meta.flags);
    return ARM_OK;
}

/* The key against the metadata: an encrypted database needs its key, a
 * plain one takes none (a key given for it would protect nothing). */
static int eng_crypt_open(arm_engine *e) {
    int encrypted = (e->meta.flags & ARM_META_ENCRYPTED) != 0;
    if (!encrypted && e->open_key != NULL)
        return arm_engine_seterr(ARM_ERR(ARM_AUTH), 0,
                                 "%s is not encrypted: open it without a key", e->dir);
    if (!encrypted) return ARM_OK;
    if (e->open_key == NULL)
        return arm_engine_seterr(ARM_ERR(ARM_AUTH), 0,
                                 "%s is encrypted: open it with its key (key_file or key_env)",
                                 e->dir);
    int rc = ARM_OK;
    if (e->crypt == NULL) /* else just created */
        rc = arm_crypt_open(e->dir, e->meta.db_id, e->open_key, !e->opts.read_only, &e->crypt);
    if (rc == ARM_NOTFOUND)
        rc = arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0,
                               "%s is encrypted but its %s file is missing", e->dir,
                               ARM_CRYPT_NAME);
    if (rc != ARM_OK) return rc;
    e->files.crypt = e->crypt; /* its hints are sealed like its data files (file.c) */
    return ARM_OK;
}

int arm_engine_key_verify(arm_engine *e, const arm_engine_options *opts) {
    uint8_t *key = NULL;
    int rc = arm_crypt_key_load(opts->encryption_key, opts->key_file, opts->key_env, &key);
    if (rc != ARM_OK) return rc;
    if (e->crypt == NULL && key != NULL)
        rc = arm_engine_seterr(ARM_ERR(ARM_AUTH), 0,
                               "%s is not encrypted: open it without a key", e->dir);
    else if (e->crypt != NULL && key == NULL)
        rc = arm_engine_seterr(ARM_ERR(ARM_AUTH), 0,
                               "%s is encrypted: open it with its key (key_file or key_env)",
                               e->dir);
    else if (e->crypt != NULL && !arm_crypt_key_is(e->crypt, key))
        rc = arm_engine_seterr(ARM_ERR(ARM_AUTH), 0, "wrong encryption key for %s", e->dir);
    arm_crypt_key_free(key);
    return rc;
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
    /* no file exists yet */
    e->files.ndead = e->shard_count;
    e->files.hints = e->opts.hints && !e->opts.read_only;
    memcpy(e->files.db_id, e->meta.db_id, 16);
    e->files.flags = e->meta.flags;
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
    arm_engine_clearerr();
    arm_engine_options given;
    if (opts == NULL)
        eng_options_defaults(&given);
    else if (eng_options_copy(opts, &given) != ARM_OK)
        return ARM_MISUSE;
    opts = &given;
    int rc = eng_check_options(opts);
    if (rc != ARM_OK) return rc;
    if (opts->app_meta != NULL && opts->app_meta_len > ARM_APP_META_MAX)
        return arm_engine_seterr(ARM_ERR(ARM_TOOBIG), 0, "application metadata over %u bytes",
                                 (unsigned)ARM_APP_META_MAX);
    arm_engine *e = arm_calloc(1, sizeof(*e));
    if (e == NULL) return ARM_ERR(ARM_NOMEM);
    e->opts = *opts;
    e->opts.domain = NULL; /* e->dom holds it */
    /* borrowed for this call only: the key is copied (crypto.c memory) */
    e->opts.encryption_key = NULL;
    e->opts.key_file = e->opts.key_env = NULL;
    e->lock_fd = -1;
    if (opts->domain) {
        e->dom = arm_domain_ref(opts->domain);
    } else if (arm_domain_new(&e->dom) != ARM_OK) {
        arm_free(e);
        return ARM_ERR(ARM_NOMEM);
    }
    atomic_store(&e->next_fid, 1);
    /* O_DIRECT pays where writes are big: sync=off flushes whole buffers.
     * Where every commit reaches the file (normal, full), a commit would be
     * a device write of its own under the log mutex; through the page cache
     * it is a memcpy, and sync=full's group fdatasync then writes all the
     * waiting commits' pages at once (8 committing threads: 23K commits/s
     * buffered vs 15K direct; 1 thread: 8K vs 12K). */
    atomic_store(&e->direct_ok, opts->io_backend != ARM_IO_POSIX && opts->sync_mode == ARM_SYNC_OFF);
    e->use_uring = opts->io_backend != ARM_IO_POSIX;
    pthread_mutex_init(&e->indoubt_lock, NULL);
    pthread_mutex_init(&e->app_lock, NULL);
    pthread_mutex_init(&e->syncer_lock, NULL);
    pthread_cond_init(&e->syncer_cond, NULL);
    pthread_mutex_init(&e->watch_mu, NULL);
    pthread_mutex_init(&e->repl_mu, NULL);
    pthread_mutex_init(&e->readers_mu, NULL);
    rc = arm_outcomes_init(&e->outcomes);
    if (rc == ARM_OK) rc = arm_files_init(&e->files, 0); /* dead counters per file: set once shards are known */
    e->dir = rc == ARM_OK ? arm_strdup(dir) : NULL;
    if (rc == ARM_OK && e->dir == NULL) rc = ARM_ERR(ARM_NOMEM);
    if (rc == ARM_OK && !opts->read_only && opts->create_if_missing) rc = eng_mkdirs(dir);
    int fresh = e->dir != NULL && !eng_has_meta(e), was_clean = 1;
    uint64_t floor = 0;
    if (rc == ARM_OK)
        rc = arm_crypt_key_load(opts->encryption_key, opts->key_file, opts->key_env, &e->open_key);
    if (rc == ARM_OK) rc = eng_lock(e);
    if (rc == ARM_OK) rc = eng_lock_read(e, fresh, &was_clean, &floor);
    if (rc == ARM_OK) rc = eng_meta_load(e);
    if (rc == ARM_OK) rc = eng_crypt_open(e);
    arm_crypt_key_free(e->open_key); /* the data key lives on in e->crypt */
    e->open_key = NULL;
    if (rc == ARM_OK) rc = arm_app_meta_load(e);
    if (rc == ARM_OK) rc = eng_open_shards(e);
    if (rc == ARM_OK) {
        e->repl = arm_calloc(e->shard_count, sizeof(*e->repl));
        if (e->repl == NULL) rc = ARM_ERR(ARM_NOMEM);
    }
    if (rc == ARM_OK && opts->cache_size) rc = arm_cache_new(opts->cache_size, &e->cache);
    if (rc == ARM_OK) rc = arm_engine_recover(e);
    if (rc == ARM_OK) rc = eng_mark_open(e, was_clean, floor);
    if (rc == ARM_OK) rc = arm_files_hints_start(&e->files); /* hints queued by recovery too */
    if (rc == ARM_OK) rc = arm_compact_init(e);
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
        char msg[ARM_ERRMSG_MAX];
        int err;
        arm_engine_saveerr(msg, &err);
        (void)arm_engine_close(e);
        arm_engine_restoreerr(msg, err);
        return rc;
    }
    e->opened = 1;
    *engine_out = e;
    return ARM_OK;
}

int arm_engine_close(arm_engine *e) {
    if (e == NULL) return ARM_OK;
    int rc = ARM_OK;
    arm_compact_stop(e); /* a merge in flight gives up: its inputs are all still there */
    if (e->syncer_running) {
        pthread_mutex_lock(&e->syncer_lock);
        e->syncer_stop = 1;
        pthread_cond_signal(&e->syncer_cond);
        pthread_mutex_unlock(&e->syncer_lock);
        pthread_join(e->syncer, NULL);
    }
    if (e->shards && !e->opts.read_only && e->lock_fd >= 0) rc = arm_engine_flush(e);
    arm_files_hints_stop(&e->files); /* writes what is queued: the next open is fast */
    /* Leave no block padding past the logical end of the active files, so a
     * cleanly closed database reads clean to a read-only open and check. */
    for (uint32_t i = 0; rc == ARM_OK && e->shards && i < e->shard_count; i++) {
        arm_shard *s = &e->shards[i];
        int err = 0;
        if (s->active && s->direct && !atomic_load(&e->panic))
            rc = arm_file_truncate(s->active, atomic_load(&s->active->size), &err);
    }
    /* Clean only when every entry reached the disk: a close of an engine
     * whose open failed, or after a failed write or sync, leaves LOCK open
     * (so the next open takes a sequence gap). */
    if (e->marked_open && e->opened && rc == ARM_OK && !atomic_load(&e->panic))
        (void)eng_lock_write(e, ARM_LOCK_CLEAN, 0); /* failed: the next open takes a gap, harmless */
    for (uint32_t i = 0; e->shards && i < e->shard_count; i++) arm_shard_deinit(e, &e->shards[i]);
    arm_free(e->shards);
    arm_cache_free(e->cache);
    arm_files_deinit(&e->files);
    arm_crypt_free(e->crypt);
    if (e->lock_fd >= 0) close(e->lock_fd); /* releases the flock */
    arm_txn_indoubt_free(e);
    arm_domain_unref(e->dom);
    assert(e->watches == NULL); /* every watch is closed before its engine */
    arm_outcomes_deinit(&e->outcomes);
    arm_free(e->repl);
    pthread_mutex_destroy(&e->watch_mu);
    pthread_mutex_destroy(&e->repl_mu);
    pthread_mutex_destroy(&e->readers_mu);
    pthread_mutex_destroy(&e->indoubt_lock);
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
        char sdir[4200];
        snprintf(sdir, sizeof(sdir), "%s/shard-%03u", dir, i);
        rc = arm_files_destroy_dir(sdir);
    }
    for (int i = 0; rc == ARM_OK && i < 2; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, i ? ARM_CRYPT_NAME : ARM_APP_META_NAME);
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
/* The value of key at loc into value_out; the caller holds loc's file. */
static int eng_get_at(arm_engine *e, const arm_item *loc, arm_slice key, arm_buf *value_out) {
    if (e->cache) {
        if (arm_cache_get(e->cache, loc->fid, loc->off, value_out)) {
            atomic_fetch_add_explicit(&e->cache_hits, 1, memory_order_relaxed);
            return ARM_OK;
        }
        atomic_fetch_add_explicit(&e->cache_misses, 1, memory_order_relaxed);
    }
    arm_slice v;
    int rc = arm_engine_read_value(e, loc, key, value_out, &v);
    if (rc != ARM_OK) return rc;
    if (e->cache) arm_cache_put(e->cache, loc->fid, loc->off, v.ptr, v.len);
    uintptr_t vp = (uintptr_t)v.ptr, bp = (uintptr_t)value_out->ptr;
    if (vp < bp || vp >= bp + value_out->cap) {
        rc = arm_buf_reserve(value_out, v.len); /* v is in a file mapping */
        if (rc != ARM_OK) return rc;
    }
    if (v.len) memmove(value_out->ptr, v.ptr, v.len);
    value_out->len = v.len;
    return ARM_OK;
}

int arm_engine_get(arm_engine *e, arm_slice key, arm_buf *value_out) {
    return arm_engine_get_at(e, key, UINT64_MAX, value_out);
}

int arm_engine_get_at(arm_engine *e, arm_slice key, uint64_t snap, arm_buf *value_out) {
    value_out->len = 0;
    if (key.len == 0 || key.len > e->opts.max_key_size) return ARM_NOTFOUND;
    arm_shard *s = &e->shards[arm_engine_route(e, key.ptr, key.len)];
    arm_index_rdlock(&s->index_lock);
    arm_item *it = arm_index_get(s->index, key.ptr, key.len);
    arm_item loc;
    int vis = it ? arm_item_visible(s, it, snap, &loc) : 0;
    arm_file_ref ref;
    /* Under the lock the entry's file is live; the reference keeps it
     * readable after the lock is gone, even if compaction retires it. */
    int rc = vis > 0 ? arm_files_hold(&e->files, loc.fid, &ref) : ARM_OK;
    pthread_rwlock_unlock(&s->index_lock);
    if (vis < 0)
        return arm_engine_seterr(ARM_ERR(-vis), 0,
                                 "versions this snapshot needs were lost for lack of memory");
    if (vis == 0) return ARM_NOTFOUND;
    if (ARM_NEVER(rc != ARM_OK))
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "data file %u is gone", loc.fid);
    rc = eng_get_at(e, &loc, key, value_out);
    arm_file_release(&ref);
    return rc;
}

int arm_engine_contains(arm_engine *e, arm_slice key) {
    if (key.len == 0 || key.len > e->opts.max_key_size) return ARM_NOTFOUND;
    arm_shard *s = &e->shards[arm_engine_route(e, key.ptr, key.len)];
    arm_index_rdlock(&s->index_lock);
    int live = arm_item_live(arm_index_get(s->index, key.ptr, key.len));
    pthread_rwlock_unlock(&s->index_lock);
    return live ? ARM_OK : ARM_NOTFOUND;
}

uint64_t arm_engine_count(arm_engine *e) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < e->shard_count; i++) {
        arm_shard *s = &e->shards[i];
        arm_index_rdlock(&s->index_lock);
        n += arm_index_count(s->index) - s->ndead;
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

static void eng_stats(arm_engine *e, arm_engine_stats *st) {
    memset(st, 0, sizeof(*st));
    uint64_t total = 0, dead = 0;
    uint32_t fid = 0;
    arm_file_ref ref;
    while (arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        st->files++;
        total += atomic_load(&ref.file->size) - ARM_FILE_HEADER_SIZE;
        dead += arm_file_dead(ref.file);
        arm_file_release(&ref);
    }
    for (uint32_t i = 0; i < e->shard_count; i++) {
        arm_shard *s = &e->shards[i];
        arm_index_rdlock(&s->index_lock);
        st->keys += arm_index_count(s->index) - s->ndead;
        st->index_bytes += arm_index_memory(s->index) + arm_vs_memory(&s->vs);
        pthread_rwlock_unlock(&s->index_lock);
    }
    st->dead_bytes = dead;
    st->live_bytes = total > dead ? total - dead : 0;
    st->shards = e->shard_count;
    st->last_seq = atomic_load(&e->dom->seq);
    st->cache_hits = atomic_load(&e->cache_hits);
    st->cache_misses = atomic_load(&e->cache_misses);
    st->sync_mode = e->opts.sync_mode;
    st->index_kind = e->opts.index_kind;
    /* A rotation rewrites these under the log mutex (arm_shard_new_file). */
    arm_log_lock(&e->shards[0].log_lock);
    st->io_direct = e->shards[0].direct;
    st->io_uring = e->shards[0].ring != NULL && e->shards[0].direct;
    pthread_mutex_unlock(&e->shards[0].log_lock);
    st->read_only = e->opts.read_only;
    memcpy(st->db_id, e->meta.db_id, 16);
    st->open_hinted = e->open_hinted;
    st->open_scanned = e->open_scanned;
    st->lock_mode = e->lock_mode;
    st->hints = e->opts.hints != 0;
    st->compacting = arm_compact_running(e);
    st->compaction = e->opts.compaction != 0 && !e->opts.read_only;
}

void arm_engine_shard_bytes(arm_engine *e, uint32_t shard, arm_shard_bytes *out) {
    memset(out, 0, sizeof(*out));
    if (shard >= e->shard_count) return;
    uint32_t fid = 0;
    arm_file_ref ref;
    while (arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        if (ref.file->shard == shard) {
            uint64_t size = atomic_load(&ref.file->size);
            out->files++;
            out->bytes += size > ARM_FILE_HEADER_SIZE ? size - ARM_FILE_HEADER_SIZE : 0;
            out->dead += arm_file_dead(ref.file);
        }
        arm_file_release(&ref);
    }
    if (out->dead > out->bytes) out->dead = out->bytes;
}

void arm_engine_stats_get_v(arm_engine *e, arm_engine_stats *stats_out, size_t size) {
    assert(size >= ENG_STATS_SIZE_V1);
    arm_engine_stats st;
    eng_stats(e, &st);
    memcpy(stats_out, &st, ARM_MIN(size, sizeof(st)));
}

/* Walk the entries of file bytes p[0..size). Each damaged stretch is
 * reported at the damaged entry's own offset, and the walk goes on at the
 * next good entry; a batch cut short (by a plain entry, by another batch or
 * a TXNINFO, or by the end of a sealed file) is reported where it is cut.
 * The newest file of a shard may end in a torn write, nothing valid after
 * it: open cuts that, so it is no problem. */
static uint64_t eng_check_entries(const arm_file *f, const uint8_t *p, uint64_t size, int newest,
                                  arm_check_report_fn report, void *ctx) {
    uint64_t off = ARM_FILE_HEADER_SIZE, problems = 0, pend_off = 0, pend_seq = 0;
    int pend = 0;
    char msg[200];
    while (off < size) {
        arm_entry_hdr h;
        if (arm_entry_decode(p + off, size - off, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK) {
            uint64_t next = arm_entry_find(p, size, off + 1);
            if (next >= size && newest) break; /* a torn write */
            if (next < size)
                snprintf(msg, sizeof(msg), "damaged entry (bad header or checksum mismatch); "
                         "the next good entry is at offset %llu", (unsigned long long)next);
            else
                snprintf(msg, sizeof(msg), "damaged entry (bad header or checksum mismatch); "
                         "nothing readable in the %llu bytes from here", (unsigned long long)(size - off));
            if (report) report(ctx, f->path, off, msg);
            problems++;
            pend = 0;
            off = next;
            continue;
        }
        /* a batch is cut short by an entry outside it, or by a TXNINFO
         * (which only ever opens one, as recovery reads it) */
        if (pend && (!(h.flags & ARM_ENTRY_TXN) || h.seq != pend_seq ||
                     h.type == ARM_ENTRY_TXNINFO)) {
            snprintf(msg, sizeof(msg), "batch with sequence number %llu from offset %llu is cut "
                     "short here", (unsigned long long)pend_seq, (unsigned long long)pend_off);
            if (report) report(ctx, f->path, off, msg);
            problems++;
            pend = 0;
        }
        if ((h.flags & ARM_ENTRY_TXN) && !pend) {
            pend = 1;
            pend_seq = h.seq;
            pend_off = off;
        }
        if (h.flags & ARM_ENTRY_TXN_END) pend = 0;
        off += arm_entry_size(h.klen, h.vlen);
    }
    if (pend && !newest) {
        snprintf(msg, sizeof(msg), "batch with sequence number %llu never ends in this sealed file",
                 (unsigned long long)pend_seq);
        if (report) report(ctx, f->path, pend_off, msg);
        problems++;
    }
    return problems;
}

/* Verify one file's header and entries up to its logical size. */
static uint64_t eng_check_file(arm_engine *e, arm_file *f, int newest, arm_check_report_fn report,
                               void *ctx) {
    /* A sealed file is checked whole, as it is on disk (recovery may have
     * stopped short of damage in it); the active file up to its logical end
     * (past it there is only block padding). */
    arm_shard *s = &e->shards[f->shard];
    uint64_t size = 0, disk = 0;
    if (arm_file_disk_size(f, &disk) != ARM_OK) {
        if (report) report(ctx, f->path, 0, "cannot stat the file");
        return 1;
    }
    arm_log_lock(&s->log_lock);
    int active = s->active == f;
    if (active) size = atomic_load(&s->flushed_off); /* writers go on past it */
    /* an encrypted tail block is rewritten whole by every flush: checked
     * up to it (what straddles into it reads as the newest file's tail) */
    if (active && f->crypt) size = size / arm_file_block(f) * arm_file_block(f);
    pthread_mutex_unlock(&s->log_lock);
    if (!active || size > disk) size = disk;
    /* an encrypted newest file's torn tail block is cut by open, not damage */
    if (newest && !active && arm_file_torn_tail(f, &size) != ARM_OK) size = 0;
    if (size == 0) return 0;
    const uint8_t *p;
    if (arm_file_view(f, size, &p) != ARM_OK) {
        /* the message says which block of an encrypted file does not open */
        const char *m = arm_engine_errmsg(e);
        if (report) report(ctx, f->path, 0, m[0] ? m : "cannot map the file for reading");
        return 1;
    }
    arm_file_hdr fh;
    uint64_t problems = 0;
    if (arm_file_hdr_decode(p, size, &fh) != ARM_OK || fh.fid != f->fid ||
        memcmp(fh.db_id, e->meta.db_id, 16) != 0) {
        if (report) report(ctx, f->path, 0, "bad file header");
        problems++;
    } else {
        problems += eng_check_entries(f, p, size, newest, report, ctx);
    }
    arm_file_unview(p, size);
    return problems;
}

int arm_engine_check(arm_engine *e, arm_check_report_fn report, arm_progress_fn progress,
                     void *ctx, uint64_t *problems_out) {
    *problems_out = 0;
    int rc = arm_engine_flush(e); /* so the files hold everything the index points at */
    if (rc != ARM_OK) return rc;
    uint64_t total = 0, done = 0;
    uint32_t fid = 0;
    arm_file_ref ref;
    /* the newest file of each shard (a read-only engine has no active one) */
    uint32_t *newest = arm_calloc(e->shard_count, sizeof(uint32_t));
    if (newest == NULL) return ARM_ERR(ARM_NOMEM);
    while (arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        total += atomic_load(&ref.file->size);
        if (ref.file->shard < e->shard_count && !ref.file->merged) /* merged: never newest */
            newest[ref.file->shard] = ARM_MAX(newest[ref.file->shard], ref.fid);
        arm_file_release(&ref);
    }
    fid = 0;
    /* Each file is held while it is checked: a file retired meanwhile is
     * checked whole or skipped, never pulled away mid-check. */
    while (arm_files_hold_next(&e->files, &fid, &ref) == ARM_OK) {
        arm_file *f = ref.file;
        *problems_out += eng_check_file(e, f, f->shard < e->shard_count && newest[f->shard] == f->fid,
                                        report, ctx);
        done += atomic_load(&ref.file->size);
        arm_file_release(&ref);
        if (progress) progress(ctx, done < total ? done : total, total);
    }
    arm_free(newest);
    return ARM_OK;
}

/* ------------------------------------------------------------ follower */
void arm_engine_set_follower(arm_engine *e, int on) {
    atomic_store(&e->follower, on != 0);
}

int arm_engine_refuse_follower(const arm_engine *e) {
    return arm_engine_seterr(ARM_ERR(ARM_READONLY), 0,
                             "%s is a replication follower: it takes writes only from its leader",
                             e->dir);
}

void arm_repl_note(arm_engine *e, uint32_t shard, const uint8_t leader[16], const arm_log_pos *pos,
                   uint32_t flags, uint64_t stored) {
    if (ARM_NEVER(shard >= e->shard_count)) return;
    pthread_mutex_lock(&e->repl_mu);
    arm_repl_state *r = &e->repl[shard];
    if (stored > r->stored) { /* recovery meets them in file order, not write order */
        memcpy(r->leader, leader, 16);
        r->pos = *pos;
        r->flags = flags;
        r->stored = stored;
    }
    pthread_mutex_unlock(&e->repl_mu);
    arm_watch_notify(e);
}

int arm_engine_repl_pos(arm_engine *e, uint32_t shard, uint8_t leader_out[16], arm_log_pos *pos_out,
                        uint32_t *flags_out) {
    memset(leader_out, 0, 16);
    memset(pos_out, 0, sizeof(*pos_out));
    *flags_out = 0;
    if (shard >= e->shard_count)
        return arm_engine_seterr(ARM_ERR(ARM_RANGE), 0, "shard %u of %u", shard, e->shard_count);
    pthread_mutex_lock(&e->repl_mu);
    arm_repl_state r = e->repl[shard];
    pthread_mutex_unlock(&e->repl_mu);
    if (r.stored == 0) return ARM_NOTFOUND;
    memcpy(leader_out, r.leader, 16);
    *pos_out = r.pos;
    *flags_out = r.flags;
    return ARM_OK;
}
