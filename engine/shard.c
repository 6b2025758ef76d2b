/* SPDX-License-Identifier: MIT */
/*
 * shard.c: a shard's log: the aligned write buffer, flushes (O_DIRECT in
 * whole blocks through io_uring, or plain pwrite), rotation at
 * max_file_size, group commit, and reads that come from the buffer when the
 * bytes have not left it.
 *
 * Invariants (log_lock held): buf holds file bytes [buf_off, buf_off+buf_len);
 * buf_off is block aligned and <= flushed_off <= buf_off + buf_len; the file
 * holds [0, flushed_off); synced_off <= flushed_off. With O_DIRECT a flush
 * writes whole blocks, zero-padding the tail block, which is rewritten as it
 * grows; recovery treats the zeros as the end of the log.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SHARD_ALIGN_DOWN(x) ((x) & ~(uint64_t)(ARM_IO_BLOCK - 1))
#define SHARD_ALIGN_UP(x)   SHARD_ALIGN_DOWN((x) + ARM_IO_BLOCK - 1)

int arm_shard_init(arm_engine *e, arm_shard *s, uint32_t id) {
    memset(s, 0, sizeof(*s));
    s->id = id;
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/shard-%03u", e->dir, id);
    if (n < 0 || (size_t)n >= sizeof(path)) return ARM_ERR(ARM_MISUSE);
    s->dir = arm_strdup(path);
    if (s->dir == NULL) return ARM_ERR(ARM_NOMEM);
    if (pthread_rwlock_init(&s->index_lock, NULL) != 0) return ARM_ERR(ARM_NOMEM);
    if (pthread_mutex_init(&s->log_lock, NULL) != 0) return ARM_ERR(ARM_NOMEM);
    if (pthread_cond_init(&s->sync_cond, NULL) != 0) return ARM_ERR(ARM_NOMEM);
    int rc = arm_index_new(e->opts.index_kind, &s->index);
    if (rc != ARM_OK) return rc;
    if (e->opts.read_only) return ARM_OK; /* no write buffer needed */
    s->buf_cap = e->opts.write_buffer_size;
    s->buf_raw = arm_malloc((size_t)s->buf_cap + ARM_IO_BLOCK);
    if (s->buf_raw == NULL) return ARM_ERR(ARM_NOMEM);
    s->buf = (uint8_t *)SHARD_ALIGN_UP((uintptr_t)s->buf_raw);
    if (e->use_uring && arm_io_ring_new(8, &s->ring) != ARM_OK) s->ring = NULL;
    return ARM_OK;
}

/* Caller frees the files themselves (they are in the engine's table). */
void arm_shard_deinit(arm_engine *e, arm_shard *s) {
    (void)e;
    arm_vs_free(&s->vs);
    arm_index_free(s->index);
    arm_io_ring_free(s->ring);
    arm_free(s->buf_raw);
    arm_free(s->dir);
    pthread_rwlock_destroy(&s->index_lock);
    pthread_mutex_destroy(&s->log_lock);
    pthread_cond_destroy(&s->sync_cond);
}

void arm_file_map(arm_engine *e, arm_file *f, uint64_t len) {
    if (!e->opts.mmap_reads || len == 0) return;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, f->rfd, 0);
    if (p == MAP_FAILED) return; /* reads fall back to pread */
    f->map = p;
    f->map_len = len;
}

const uint8_t *arm_shard_mapped(arm_engine *e, arm_file *f, uint64_t off, size_t n) {
    if (f->map == NULL || off + n > f->map_len) return NULL;
    arm_shard *s = &e->shards[f->shard];
    if (atomic_load(&s->active_fid) != f->fid || off + n <= atomic_load(&s->flushed_off))
        return f->map + off;
    return NULL;
}

void arm_file_add_dead(arm_engine *e, uint32_t fid, uint32_t shard, uint64_t n) {
    arm_file *f = arm_engine_file(e, fid);
    if (ARM_ALWAYS(f != NULL))
        atomic_store_explicit(&f->dead[shard],
                              atomic_load_explicit(&f->dead[shard], memory_order_relaxed) + n,
                              memory_order_relaxed);
}

uint64_t arm_file_dead(const arm_file *f) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < f->ndead; i++) n += atomic_load_explicit(&f->dead[i], memory_order_relaxed);
    return n;
}

void arm_file_path(char *buf, size_t n, const arm_shard *s, uint32_t fid) {
    snprintf(buf, n, "%s/%08u.log", s->dir, fid);
}

int arm_file_new(const arm_engine *e, const arm_shard *s, uint32_t fid, arm_file **file_out) {
    char path[4200];
    arm_file_path(path, sizeof(path), s, fid);
    *file_out = NULL;
    arm_file *f = arm_calloc(1, sizeof(*f));
    if (f == NULL) return ARM_ERR(ARM_NOMEM);
    f->fd = f->rfd = -1;
    f->fid = fid;
    f->shard = s->id;
    f->ndead = e->shard_count;
    f->path = arm_strdup(path);
    f->dead = arm_calloc(f->ndead, sizeof(*f->dead));
    if (f->path == NULL || f->dead == NULL) {
        arm_file_free(f);
        return ARM_ERR(ARM_NOMEM);
    }
    *file_out = f;
    return ARM_OK;
}

void arm_file_free(arm_file *f) {
    if (f == NULL) return;
    if (f->map) munmap((void *)f->map, f->map_len);
    arm_free((void *)f->dead);
    if (f->fd >= 0) close(f->fd);
    if (f->rfd >= 0 && f->rfd != f->fd) close(f->rfd);
    arm_free(f->path);
    arm_free(f);
}

/* ----------------------------------------------------------- flushing */
int arm_shard_flush_locked(arm_engine *e, arm_shard *s) {
    (void)e; /* kept for the encryption layer, which needs the key */
    uint64_t end = s->buf_off + s->buf_len;
    uint64_t fl = atomic_load(&s->flushed_off);
    assert(s->buf_off <= fl && fl <= end);
    if (fl == end) return ARM_OK;
    arm_file *f = s->active;
    int err = 0, rc;
    if (s->direct) {
        uint64_t rel = SHARD_ALIGN_DOWN(fl) - s->buf_off;
        uint64_t rel_end = SHARD_ALIGN_UP((uint64_t)s->buf_len);
        memset(s->buf + s->buf_len, 0, rel_end - s->buf_len);
        rc = arm_io_pwrite(s->ring, f->fd, s->buf + rel, rel_end - rel, s->buf_off + rel, 0, &err);
    } else {
        rc = arm_io_pwrite(NULL, f->fd, s->buf + (fl - s->buf_off), end - fl, fl, 0, &err);
    }
    if (rc != ARM_OK) {
        /* The buffer still holds everything: a later flush can retry. */
        return arm_engine_seterr(rc, err, "write to %s at offset %llu failed", f->path,
                                 (unsigned long long)fl);
    }
    atomic_store(&s->flushed_off, end);
    /* Keep only the partial tail block (it is rewritten as it grows). */
    uint32_t keep = s->buf_len % ARM_IO_BLOCK;
    uint32_t drop = s->buf_len - keep;
    if (drop) {
        memmove(s->buf, s->buf + drop, keep);
        s->buf_off += drop;
        s->buf_len = keep;
    }
    return ARM_OK;
}

int arm_shard_append(arm_engine *e, arm_shard *s, const void *p, size_t n) {
    const uint8_t *src = p;
    arm_file *f = s->active;
    while (n > 0) {
        if (s->buf_len == s->buf_cap) {
            int rc = arm_shard_flush_locked(e, s);
            if (rc != ARM_OK) return rc;
        }
        size_t k = ARM_MIN((size_t)(s->buf_cap - s->buf_len), n);
        memcpy(s->buf + s->buf_len, src, k);
        s->buf_len += (uint32_t)k;
        src += k;
        n -= k;
    }
    /* Only the log mutex holder writes size: a store, not a locked add. */
    atomic_store_explicit(&f->size, s->buf_off + s->buf_len, memory_order_release);
    return ARM_OK;
}

/* --------------------------------------------------------- file create */
static int shard_open_file(arm_engine *e, const char *path, int create, int *direct_io,
                           int *fd_out) {
    int err = 0, rc = ARM_MISUSE;
    int flags = create ? ARM_IO_O_CREATE : 0;
    if (*direct_io) {
        rc = arm_io_open(path, flags | ARM_IO_O_DIRECT, fd_out, &err);
        if (rc == ARM_MISUSE) {
            /* The file system refuses O_DIRECT (tmpfs, ...): buffered from now on. */
            atomic_store(&e->direct_ok, 0);
            *direct_io = 0;
            if (create) unlink(path);
        }
    }
    if (rc == ARM_MISUSE) rc = arm_io_open(path, flags, fd_out, &err);
    if (rc != ARM_OK) return arm_engine_seterr(rc, err, "cannot open %s", path);
    return ARM_OK;
}

int arm_shard_new_file(arm_engine *e, arm_shard *s) {
    uint32_t fid = atomic_fetch_add(&e->next_fid, 1);
    arm_file *f;
    int rc = arm_file_new(e, s, fid, &f);
    if (rc != ARM_OK) return rc;
    const char *path = f->path;
    int direct_io = atomic_load(&e->direct_ok);
    int err = 0;
    rc = shard_open_file(e, path, 1, &direct_io, &f->fd);
    if (rc == ARM_OK) rc = arm_io_open(path, ARM_IO_O_RDONLY, &f->rfd, &err);
    if (rc == ARM_OK) rc = arm_io_sync_dir(s->dir, &err); /* the name must survive a crash */
    if (rc == ARM_OK) arm_file_map(e, f, e->opts.max_file_size);
    if (rc == ARM_OK) rc = arm_engine_file_add(e, f);
    if (rc != ARM_OK) {
        rc = arm_engine_seterr(rc, err, "cannot create data file %s", path);
        if (f->fd >= 0) unlink(path);
        arm_file_free(f); /* frees path */
        return rc;
    }
    arm_file_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = ARM_FORMAT_VERSION;
    h.shard = s->id;
    h.fid = fid;
    h.flags = e->meta.flags;
    memcpy(h.db_id, e->meta.db_id, 16);
    h.base_seq = atomic_load(&e->dom->seq);
    s->active = f;
    s->direct = direct_io;
    s->buf_off = 0;
    s->buf_len = 0;
    s->synced_off = 0;
    atomic_store(&s->flushed_off, 0);
    atomic_store(&s->active_fid, fid);
    uint8_t hdr[ARM_FILE_HEADER_SIZE];
    arm_file_hdr_encode(&h, hdr);
    return arm_shard_append(e, s, hdr, sizeof(hdr));
}

/* Seal the active file: everything written, padding cut, synced. A failed
 * flush leaves the buffer intact (the caller's write fails, nothing is lost,
 * a later write retries); a failed truncate or sync poisons the engine. */
static int shard_seal(arm_engine *e, arm_shard *s) {
    arm_file *f = s->active;
    int err = 0;
    int rc = arm_shard_flush_locked(e, s);
    if (rc != ARM_OK) return rc; /* its message says which write failed */
    uint64_t size = atomic_load(&f->size);
    /* Whatever lies past the logical end (block padding, or the bytes of a
     * failed write) must not stay in a sealed file: recovery would call it
     * damage. */
    rc = arm_io_truncate(f->fd, size, &err);
    if (rc == ARM_OK) rc = arm_io_datasync(NULL, f->fd, &err);
    if (rc != ARM_OK) {
        atomic_store(&e->panic, 1);
        return arm_engine_seterr(rc, err, "cannot seal %s", f->path);
    }
    s->synced_off = size;
    return ARM_OK;
}

int arm_shard_reserve(arm_engine *e, arm_shard *s, uint64_t len) {
    arm_file *f = s->active;
    uint64_t size = atomic_load(&f->size);
    if (size + len <= e->opts.max_file_size || size <= ARM_FILE_HEADER_SIZE) return ARM_OK;
    int rc = shard_seal(e, s);
    if (rc == ARM_OK) rc = arm_shard_new_file(e, s);
    if (rc == ARM_OK) {
        /* The sealed file is read through rfd only from now on. */
        close(f->fd);
        f->fd = -1;
    }
    return rc;
}

/* --------------------------------------------------------- group commit */
int arm_shard_sync_to(arm_engine *e, arm_shard *s, uint32_t fid, uint64_t end) {
    int rc = ARM_OK;
    arm_log_lock(&s->log_lock);
    for (;;) {
        if (atomic_load(&e->panic)) {
            rc = arm_engine_seterr(ARM_PANIC, 0, "an earlier write or sync failed; reopen");
            break;
        }
        if (s->active->fid != fid || s->synced_off >= end) break; /* sealed files are synced */
        if (s->syncing) {
            pthread_cond_wait(&s->sync_cond, &s->log_lock);
            continue;
        }
        /* Leader: flush what everyone appended so far, then sync without the
         * lock so others keep appending and join the next round. */
        s->syncing = 1;
        rc = arm_shard_flush_locked(e, s);
        arm_file *f = s->active;
        uint64_t target = atomic_load(&s->flushed_off);
        int err = 0;
        /* A rotation may close f->fd while we sync without the lock: sync a
         * duplicate, which keeps the open file description alive. */
        int fd = rc == ARM_OK ? dup(f->fd) : -1;
        if (rc == ARM_OK && fd < 0) rc = arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "dup failed");
        if (rc == ARM_OK) {
            pthread_mutex_unlock(&s->log_lock);
            rc = arm_io_datasync(NULL, fd, &err);
            close(fd);
            arm_log_lock(&s->log_lock);
            if (rc != ARM_OK) {
                atomic_store(&e->panic, 1);
                rc = arm_engine_seterr(ARM_IOERR_FSYNC, err, "fdatasync of %s failed", f->path);
            } else if (s->active == f && s->synced_off < target) {
                s->synced_off = target;
            }
        }
        s->syncing = 0;
        pthread_cond_broadcast(&s->sync_cond);
        if (rc != ARM_OK) break;
    }
    pthread_mutex_unlock(&s->log_lock);
    return rc;
}

/* ------------------------------------------------------------- reads */
int arm_shard_read(arm_engine *e, arm_file *f, uint64_t off, void *dst, size_t n) {
    arm_shard *s = &e->shards[f->shard];
    int err = 0, rc;
    const uint8_t *m = arm_shard_mapped(e, f, off, n);
    if (m) {
        memcpy(dst, m, n);
        return ARM_OK;
    }
    /* Fast path, no lock: a sealed file, or bytes already in the file. A
     * stale view errs towards the locked path, never the other way. */
    if (atomic_load(&s->active_fid) != f->fid || off + n <= atomic_load(&s->flushed_off)) {
        rc = arm_io_pread(f->rfd, dst, n, off, &err);
    } else {
        arm_log_lock(&s->log_lock);
        if (s->active != f || off + n <= atomic_load(&s->flushed_off)) {
            pthread_mutex_unlock(&s->log_lock);
            rc = arm_io_pread(f->rfd, dst, n, off, &err);
        } else {
            uint8_t *d = dst;
            size_t head = off < s->buf_off ? (size_t)ARM_MIN(s->buf_off - off, (uint64_t)n) : 0;
            rc = head ? arm_io_pread(f->rfd, d, head, off, &err) : ARM_OK;
            if (rc == ARM_OK) {
                assert(off + n <= s->buf_off + s->buf_len);
                memcpy(d + head, s->buf + (off + head - s->buf_off), n - head);
            }
            pthread_mutex_unlock(&s->log_lock);
        }
    }
    if (rc != ARM_OK)
        return arm_engine_seterr(rc, err, "read of %zu bytes at offset %llu of %s failed", n,
                                 (unsigned long long)off, f->path);
    return ARM_OK;
}

#undef SHARD_ALIGN_DOWN
#undef SHARD_ALIGN_UP
