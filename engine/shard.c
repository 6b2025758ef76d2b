/* SPDX-License-Identifier: MIT */
/*
 * shard.c: a shard's log: the aligned write buffer, flushes (O_DIRECT in
 * whole blocks through io_uring, or plain pwrite), rotation at
 * max_file_size, group commit, reads of entries (from the buffer when the
 * bytes have not left it) and key routing. Layer: engine, above file.c, which
 * owns the data files themselves: every byte goes to and comes from a file
 * through it.
 *
 * Invariants (log_lock held): buf holds file bytes [buf_off, buf_off+buf_len);
 * buf_off is block aligned and <= flushed_off <= buf_off + buf_len; the file
 * holds [0, flushed_off); synced_off <= flushed_off. With O_DIRECT a flush
 * writes whole blocks, zero-padding the tail block, which is rewritten as it
 * grows; recovery treats the zeros as the end of the log. An encrypted file
 * is written the same way at any I/O mode, in its own logical blocks
 * (arm_file_block: file.c seals each one whole, the tail block holding what
 * there is), so buf_off is a multiple of the active file's block size.
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"
#include "../common/arm_hash.h"

#include <stdio.h>
#include <string.h>

#define SHARD_ALIGN_DOWN(x) ((x) & ~(uint64_t)(ARM_IO_BLOCK - 1))
#define SHARD_ALIGN_UP(x)   SHARD_ALIGN_DOWN((x) + ARM_IO_BLOCK - 1)

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

/* ---------------------------------------------------------- init/deinit */
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

/* Where the bytes of the active file f that a reader may take from the file
 * without the log mutex end: everything flushed, but for an encrypted file
 * only up to its tail block, which a flush rewrites whole (a read racing
 * that write would see the block half rewritten and fail authentication).
 * The tail block's flushed bytes are in the write buffer too. */
static uint64_t shard_stable_end(const arm_file *f, uint64_t flushed) {
    uint64_t blk = arm_file_block(f);
    return f->crypt ? flushed / blk * blk : flushed;
}

const uint8_t *arm_shard_mapped(arm_engine *e, arm_file *f, uint64_t off, size_t n) {
    arm_shard *s = &e->shards[f->shard];
    if (atomic_load(&s->active_fid) != f->fid || off + n <= atomic_load(&s->flushed_off))
        return arm_file_mapped(f, off, n);
    return NULL;
}

/* ----------------------------------------------------------- flushing */
int arm_shard_flush_locked(arm_engine *e, arm_shard *s) {
    (void)e;
    uint64_t end = s->buf_off + s->buf_len;
    uint64_t fl = atomic_load(&s->flushed_off);
    assert(s->buf_off <= fl && fl <= end);
    if (fl == end) return ARM_OK;
    arm_file *f = s->active;
    int err = 0, rc;
    uint64_t blk = arm_file_block(f);
    assert(s->buf_off % blk == 0);
    if (f->crypt) {
        /* from the block the unflushed bytes start in: a block is sealed whole */
        uint64_t rel = fl / blk * blk - s->buf_off;
        rc = arm_file_write(f, s->direct ? s->ring : NULL, s->buf + rel, s->buf_len - rel,
                            s->buf_off + rel, &err);
    } else if (s->direct) {
        uint64_t rel = SHARD_ALIGN_DOWN(fl) - s->buf_off;
        uint64_t rel_end = SHARD_ALIGN_UP((uint64_t)s->buf_len);
        memset(s->buf + s->buf_len, 0, rel_end - s->buf_len);
        rc = arm_file_write(f, s->ring, s->buf + rel, rel_end - rel, s->buf_off + rel, &err);
    } else {
        rc = arm_file_write(f, NULL, s->buf + (fl - s->buf_off), end - fl, fl, &err);
    }
    if (rc != ARM_OK) {
        /* The buffer still holds everything: a later flush can retry. */
        return arm_engine_seterr(rc, err, "write to %s at offset %llu failed", f->path,
                                 (unsigned long long)fl);
    }
    atomic_store(&s->flushed_off, end);
    /* Keep only the partial tail block (it is rewritten as it grows). */
    uint32_t keep = (uint32_t)(s->buf_len % blk);
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
int arm_shard_new_file(arm_engine *e, arm_shard *s) {
    uint32_t fid = atomic_fetch_add(&e->next_fid, 1);
    int direct_io = atomic_load(&e->direct_ok);
    arm_file *f;
    int rc = arm_file_create(&e->files, s->dir, s->id, fid, &direct_io,
                             e->opts.mmap_reads ? e->opts.max_file_size : 0, &f);
    if (!direct_io) atomic_store(&e->direct_ok, 0); /* refused once: buffered from now on */
    if (rc != ARM_OK) return rc;
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

int arm_shard_resume(arm_engine *e, arm_shard *s, arm_file *f, uint64_t end) {
    int direct = atomic_load(&e->direct_ok), err = 0;
    arm_file_unlink_hint(f); /* it is written again: a hint describes a sealed file */
    int rc = arm_file_reopen_writer(f, &direct, end);
    if (!direct) atomic_store(&e->direct_ok, 0);
    if (rc != ARM_OK) return rc;
    s->active = f;
    s->direct = direct;
    s->buf_off = end / arm_file_block(f) * arm_file_block(f);
    s->buf_len = (uint32_t)(end - s->buf_off);
    atomic_store(&s->flushed_off, end);
    s->synced_off = end;
    atomic_store(&s->active_fid, f->fid);
    /* the tail block is rewritten whole by the next O_DIRECT flush */
    if (s->buf_len) rc = arm_file_read(f, s->buf_off, s->buf, s->buf_len, &err);
    if (rc != ARM_OK) return arm_engine_seterr(rc, err, "cannot read the tail of %s", f->path);
    return ARM_OK;
}

/* Seal the active file: everything written, padding cut, synced. A failed
 * flush leaves the buffer intact (the caller's write fails, nothing is lost,
 * a later write retries); a failed truncate or sync poisons the engine. */
static int shard_seal(arm_engine *e, arm_shard *s) {
    arm_file *f = s->active;
    int rc = arm_shard_flush_locked(e, s);
    if (rc != ARM_OK) return rc; /* its message says which write failed */
    uint64_t size = atomic_load(&f->size);
    /* Whatever lies past the logical end (block padding, or the bytes of a
     * failed write) must not stay in a sealed file: recovery would call it
     * damage. */
    rc = arm_file_seal(f, size);
    if (rc != ARM_OK) {
        atomic_store(&e->panic, 1);
        return rc;
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
    if (rc == ARM_OK) arm_files_sealed(&e->files, f); /* read through rfd only from now on */
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
        int fd = -1;
        if (rc == ARM_OK && (rc = arm_file_dup_writer(f, &fd, &err)) != ARM_OK)
            rc = arm_engine_seterr(rc, err, "dup failed");
        if (rc == ARM_OK) {
            pthread_mutex_unlock(&s->log_lock);
            rc = arm_file_sync_dup(fd, &err);
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
    if (atomic_load(&s->active_fid) != f->fid ||
        off + n <= shard_stable_end(f, atomic_load(&s->flushed_off))) {
        rc = arm_file_read(f, off, dst, n, &err);
    } else {
        arm_log_lock(&s->log_lock);
        if (s->active != f || off + n <= shard_stable_end(f, atomic_load(&s->flushed_off))) {
            pthread_mutex_unlock(&s->log_lock);
            rc = arm_file_read(f, off, dst, n, &err);
        } else {
            uint8_t *d = dst;
            size_t head = off < s->buf_off ? (size_t)ARM_MIN(s->buf_off - off, (uint64_t)n) : 0;
            rc = head ? arm_file_read(f, off, d, head, &err) : ARM_OK;
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

#undef SHARD_ALIGN_DOWN
#undef SHARD_ALIGN_UP
