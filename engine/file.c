/* SPDX-License-Identifier: MIT */
/*
 * file.c: the data-file owner (file.h): the file table, references and
 * retirement, and every open, map, read, write, truncate, sync, rename and
 * unlink of a data file, and the lifetime of compaction's merged files (made
 * under a temporary name, published by a rename) and of the files they
 * replace (retired and unlinked in the order compact.c asks). Layer: engine,
 * above io_*.c and crypto.c and below the log (shard.c); it calls no other
 * engine file but err.c.
 *
 * Encrypted files: logical block b (ARM_CRYPT_BLOCK bytes) lives in physical
 * block b (4096 bytes, drawn in crypto.c), so a logical offset maps to a
 * physical one by division; only the last block is short, and its header
 * says how many logical bytes it holds, which gives the logical size.
 *
 * The table is chunked: a chunk holds ARM_FILE_CHUNK slots (an arm_file
 * pointer, its low bit set once retired) and, beside them, the reference
 * counters of those slots, ARM_FILE_STRIPES rows of them. A thread counts in
 * the row its id hashes to, so concurrent readers of one file on different
 * threads do not share a cache line. A reference is taken by counting, then
 * checking the slot is unchanged (not retired); retiring sets the slot's bit,
 * then sums the rows. One of the two always sees the other (sequentially
 * consistent atomics), so a zero sum after the bit is set means no one holds
 * the file or ever will, and whoever sees it first (the retirer or the last
 * releaser) clears the slot with a compare-and-swap and removes the file.
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIL_RETIRED  ((uintptr_t)1) /* slot bit: the file is retired */
#define FIL_HINT_BUF (256u * 1024)  /* bytes a hint is written in */
#define FIL_CRYPT_CHUNK 64u         /* blocks sealed (or opened) per write (view) call */

struct arm_files_chunk {
    _Atomic uintptr_t slot[ARM_FILE_CHUNK];                   /* arm_file * | FIL_RETIRED, or 0 */
    _Atomic uint32_t refs[ARM_FILE_STRIPES][ARM_FILE_CHUNK];  /* references, per thread stripe */
};

_Static_assert(ARM_FILE_STRIPES == 16, "fil_stripe takes 4 bits");
_Static_assert(_Alignof(arm_file) >= 2, "the slot's low bit is free");

/* ------------------------------------------------------------- the table */
static arm_files_chunk *fil_chunk(const arm_files *t, uint32_t c) {
    if (c >= ARM_FILE_CHUNKS_MAX) return NULL;
    return atomic_load_explicit(&((arm_files *)(uintptr_t)t)->chunks[c], memory_order_acquire);
}

/* The stripe of the calling thread: a thread id is a stable address, so a
 * multiplicative hash of it spreads threads over the rows and keeps each
 * thread in one row. */
static uint32_t fil_stripe(void) {
    uint64_t h = (uint64_t)(uintptr_t)pthread_self() * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(h >> 60);
}

int arm_files_init(arm_files *t, uint32_t ndead) {
    memset(t, 0, sizeof(*t));
    t->ndead = ndead;
    if (pthread_mutex_init(&t->lock, NULL) != 0) return ARM_ERR(ARM_NOMEM);
    if (pthread_mutex_init(&t->hint_lock, NULL) != 0) return ARM_ERR(ARM_NOMEM);
    if (pthread_cond_init(&t->hint_cond, NULL) != 0) return ARM_ERR(ARM_NOMEM);
    return ARM_OK;
}

/* f's hint file name: its path with .hint for .log. */
static void fil_hint_path(const arm_file *f, char *buf, size_t n, const char *extra) {
    size_t len = strlen(f->path);
    assert(len > 4 && strcmp(f->path + len - 4, ".log") == 0);
    snprintf(buf, n, "%.*s%s%s", (int)(len - 4), f->path, ARM_HINT_SUFFIX, extra);
}

/* Unlink a retired file's names (its hint first: a hint never outlives its
 * data file). Nothing is left to read it. */
static void fil_remove(arm_file *f) {
    assert(f != NULL);
    arm_file_unlink_hint(f);
    (void)unlink(f->path);
    arm_file_free(f);
}

void arm_files_deinit(arm_files *t) {
    for (uint32_t c = 0; c < ARM_FILE_CHUNKS_MAX; c++) {
        arm_files_chunk *ch = fil_chunk(t, c);
        if (ch == NULL) continue;
        for (uint32_t j = 0; j < ARM_FILE_CHUNK; j++) {
            uintptr_t v = atomic_load(&ch->slot[j]);
            if (v & FIL_RETIRED)
                fil_remove((arm_file *)(v & ~FIL_RETIRED));
            else
                arm_file_free((arm_file *)v);
        }
        arm_free(ch);
    }
    assert(!t->hint_running);
    arm_free(t->hint_queue);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->hint_lock);
    pthread_cond_destroy(&t->hint_cond);
}

arm_file *arm_files_get(const arm_files *t, uint32_t fid) {
    arm_files_chunk *c = fil_chunk(t, fid / ARM_FILE_CHUNK);
    if (c == NULL) return NULL;
    uintptr_t v = atomic_load_explicit(&c->slot[fid % ARM_FILE_CHUNK], memory_order_acquire);
    return (arm_file *)(v & ~FIL_RETIRED);
}

int arm_files_add(arm_files *t, arm_file *f) {
    uint32_t c = f->fid / ARM_FILE_CHUNK, j = f->fid % ARM_FILE_CHUNK;
    if (c >= ARM_FILE_CHUNKS_MAX) return ARM_ERR(ARM_FULL);
    pthread_mutex_lock(&t->lock);
    arm_files_chunk *ch = fil_chunk(t, c);
    if (ch == NULL) {
        ch = arm_calloc(1, sizeof(*ch));
        if (ch == NULL) {
            pthread_mutex_unlock(&t->lock);
            return ARM_ERR(ARM_NOMEM);
        }
        atomic_store_explicit(&t->chunks[c], ch, memory_order_release);
    }
    uintptr_t old = atomic_load(&ch->slot[j]);
    if (old != 0) {
        /* File ids are database-wide: two files with one id is damage
         * (copied or renamed files), never something to pick between. */
        pthread_mutex_unlock(&t->lock);
        return arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "%s and %s have the same file id %u",
                                 ((arm_file *)(old & ~FIL_RETIRED))->path, f->path, f->fid);
    }
    atomic_store_explicit(&ch->slot[j], (uintptr_t)f, memory_order_release);
    pthread_mutex_unlock(&t->lock);
    return ARM_OK;
}

/* Remove a retired file when nothing holds it. Safe to race: the sum sees
 * every holder that got past its check (see the top of the file), and only
 * one caller wins the compare-and-swap. */
static void fil_try_remove(arm_files_chunk *c, uint32_t j, uintptr_t v) {
    assert(v & FIL_RETIRED);
    for (uint32_t s = 0; s < ARM_FILE_STRIPES; s++)
        if (atomic_load(&c->refs[s][j]) != 0) return;
    if (!atomic_compare_exchange_strong(&c->slot[j], &v, 0)) return;
    fil_remove((arm_file *)(v & ~FIL_RETIRED));
}

static void fil_unref(arm_files_chunk *c, uint32_t j, uint32_t s) {
    uint32_t was = atomic_fetch_sub(&c->refs[s][j], 1);
    assert(was > 0);
    (void)was;
    uintptr_t v = atomic_load(&c->slot[j]);
    if (v & FIL_RETIRED) fil_try_remove(c, j, v);
}

int arm_files_hold(arm_files *t, uint32_t fid, arm_file_ref *ref_out) {
    memset(ref_out, 0, sizeof(*ref_out));
    arm_files_chunk *c = fil_chunk(t, fid / ARM_FILE_CHUNK);
    if (c == NULL) return ARM_NOTFOUND;
    uint32_t j = fid % ARM_FILE_CHUNK;
    uintptr_t v = atomic_load(&c->slot[j]);
    if (v == 0 || (v & FIL_RETIRED)) return ARM_NOTFOUND;
    uint32_t s = fil_stripe();
    atomic_fetch_add(&c->refs[s][j], 1);
    if (atomic_load(&c->slot[j]) != v) { /* retired meanwhile: never counted as held */
        fil_unref(c, j, s);
        return ARM_NOTFOUND;
    }
    ref_out->table = t;
    ref_out->file = (arm_file *)v;
    ref_out->fid = fid;
    ref_out->stripe = s;
    return ARM_OK;
}

int arm_files_hold_next(arm_files *t, uint32_t *fid, arm_file_ref *ref_out) {
    memset(ref_out, 0, sizeof(*ref_out));
    for (uint32_t c = *fid / ARM_FILE_CHUNK; c < ARM_FILE_CHUNKS_MAX; c++) {
        arm_files_chunk *ch = fil_chunk(t, c);
        uint32_t j = c == *fid / ARM_FILE_CHUNK ? *fid % ARM_FILE_CHUNK : 0;
        for (; ch != NULL && j < ARM_FILE_CHUNK; j++) {
            uintptr_t v = atomic_load_explicit(&ch->slot[j], memory_order_relaxed);
            if (v == 0 || (v & FIL_RETIRED)) continue; /* ids are sparse: most slots are empty */
            if (arm_files_hold(t, c * ARM_FILE_CHUNK + j, ref_out) != ARM_OK) continue;
            *fid = c * ARM_FILE_CHUNK + j + 1;
            return ARM_OK;
        }
    }
    *fid = ARM_FILE_CHUNKS_MAX * ARM_FILE_CHUNK;
    return ARM_NOTFOUND;
}

void arm_file_release(arm_file_ref *ref) {
    if (ref == NULL || ref->table == NULL) return;
    arm_files_chunk *c = fil_chunk(ref->table, ref->fid / ARM_FILE_CHUNK);
    uint32_t j = ref->fid % ARM_FILE_CHUNK, s = ref->stripe;
    memset(ref, 0, sizeof(*ref));
    if (ARM_ALWAYS(c != NULL)) fil_unref(c, j, s);
}

/* ------------------------------------------------------ sets of references */
static uint32_t fil_refs_slot(const arm_file_refs *set, uint32_t fid) {
    return (uint32_t)(((uint64_t)fid * 0x9e3779b97f4a7c15ull) >> 32) & (set->cap - 1);
}

static int fil_refs_grow(arm_file_refs *set) {
    uint32_t cap = set->cap ? set->cap * 2 : 16;
    arm_file_ref *old = set->slots;
    uint32_t oldcap = set->cap;
    arm_file_ref *slots = arm_calloc(cap, sizeof(*slots));
    if (slots == NULL) return ARM_ERR(ARM_NOMEM);
    set->slots = slots;
    set->cap = cap;
    for (uint32_t i = 0; i < oldcap; i++) {
        if (old[i].table == NULL) continue;
        uint32_t j = fil_refs_slot(set, old[i].fid);
        while (slots[j].table != NULL) j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    arm_free(old);
    return ARM_OK;
}

int arm_file_refs_hold(arm_file_refs *set, arm_files *t, uint32_t fid) {
    if (fid == set->last && fid != 0) return ARM_OK;
    if ((set->n + 1) * 2 > set->cap) {
        int rc = fil_refs_grow(set);
        if (rc != ARM_OK) return rc;
    }
    uint32_t j = fil_refs_slot(set, fid);
    for (; set->slots[j].table != NULL; j = (j + 1) & (set->cap - 1)) {
        if (set->slots[j].fid == fid) {
            set->last = fid;
            return ARM_OK;
        }
    }
    int rc = arm_files_hold(t, fid, &set->slots[j]);
    if (rc != ARM_OK) return rc;
    set->n++;
    set->last = fid;
    return ARM_OK;
}

void arm_file_refs_clear(arm_file_refs *set) {
    for (uint32_t i = 0; set->n > 0 && i < set->cap; i++) {
        if (set->slots[i].table == NULL) continue;
        arm_file_release(&set->slots[i]);
        set->n--;
    }
    assert(set->n == 0);
    set->last = 0;
}

void arm_file_refs_free(arm_file_refs *set) {
    arm_file_refs_clear(set);
    arm_free(set->slots);
    memset(set, 0, sizeof(*set));
}

int arm_files_retire(arm_files *t, uint32_t fid) {
    arm_files_chunk *c = fil_chunk(t, fid / ARM_FILE_CHUNK);
    if (c == NULL) return ARM_NOTFOUND;
    uint32_t j = fid % ARM_FILE_CHUNK;
    uintptr_t v = atomic_load(&c->slot[j]);
    do {
        if (v == 0 || (v & FIL_RETIRED)) return ARM_NOTFOUND;
    } while (!atomic_compare_exchange_weak(&c->slot[j], &v, v | FIL_RETIRED));
    fil_try_remove(c, j, v | FIL_RETIRED);
    return ARM_OK;
}

/* The directory part of a data file's path. */
static void fil_dir_of(const arm_file *f, char *buf, size_t n) {
    snprintf(buf, n, "%s", f->path);
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(buf, n, ".");
}

int arm_files_retire_unlink(arm_files *t, uint32_t fid) {
    arm_file_ref ref;
    if (arm_files_hold(t, fid, &ref) != ARM_OK) return ARM_NOTFOUND;
    arm_file *f = ref.file;
    char dir[ARM_FILE_PATH_MAX];
    fil_dir_of(f, dir, sizeof(dir));
    /* the hint first: a hint never outlives its data file */
    arm_file_unlink_hint(f);
    (void)unlink(f->path);
    int err = 0;
    int rc = arm_io_sync_dir(dir, &err);
    if (rc != ARM_OK) rc = arm_engine_seterr(rc, err, "cannot sync %s after removing %s", dir, f->path);
    /* retired while still held: the last release (ours, or a reader's)
     * frees it, and its second unlink finds nothing */
    (void)arm_files_retire(t, fid);
    arm_file_release(&ref);
    return rc;
}

/* ----------------------------------------------------------- merge output */
/* A merged file's temporary name: its path with .merge for .log. */
static void fil_merge_tmp(const arm_file *f, char *buf, size_t n) {
    size_t len = strlen(f->path);
    assert(len > 4 && strcmp(f->path + len - 4, ".log") == 0);
    snprintf(buf, n, "%.*s.merge", (int)(len - 4), f->path);
}

int arm_file_merge_create(const arm_files *t, const char *dir, uint32_t shard, uint32_t fid,
                          arm_file **file_out) {
    *file_out = NULL;
    arm_file *f;
    int rc = arm_file_new(t, dir, shard, fid, &f);
    if (rc != ARM_OK) return rc;
    f->merged = 1;
    char tmp[ARM_FILE_PATH_MAX + 16];
    fil_merge_tmp(f, tmp, sizeof(tmp));
    int err = 0;
    rc = arm_io_open(tmp, ARM_IO_O_CREATE, &f->fd, &err);
    int made = rc == ARM_OK;
    if (rc == ARM_OK) rc = arm_io_open(tmp, ARM_IO_O_RDONLY, &f->rfd, &err);
    if (rc != ARM_OK) {
        rc = arm_engine_seterr(rc, err, "cannot create merge output %s", tmp);
        if (made) (void)unlink(tmp);
        arm_file_free(f);
        return rc;
    }
    *file_out = f;
    return ARM_OK;
}

int arm_file_merge_publish(arm_files *t, arm_file *f, int map) {
    char tmp[ARM_FILE_PATH_MAX + 16], dir[ARM_FILE_PATH_MAX];
    fil_merge_tmp(f, tmp, sizeof(tmp));
    fil_dir_of(f, dir, sizeof(dir));
    int err = 0;
    int rc = arm_file_datasync(f, &err);
    if (rc == ARM_OK && rename(tmp, f->path) != 0) rc = (err = errno, arm_io_errno_rc(errno));
    if (rc == ARM_OK) rc = arm_io_sync_dir(dir, &err); /* the name must survive a crash */
    if (rc != ARM_OK) {
        rc = arm_engine_seterr(rc, err, "cannot make merge output %s durable", f->path);
        arm_file_merge_discard(f);
        return rc;
    }
    close(f->fd);
    f->fd = -1;
    if (map) arm_file_map(f, atomic_load(&f->size));
    rc = arm_files_add(t, f);
    if (rc != ARM_OK) arm_file_free(f); /* its name stays: the next open reads it, harmlessly */
    return rc;
}

void arm_file_merge_discard(arm_file *f) {
    if (f == NULL) return;
    char tmp[ARM_FILE_PATH_MAX + 16];
    fil_merge_tmp(f, tmp, sizeof(tmp));
    (void)unlink(tmp);
    arm_file_free(f);
}

/* --------------------------------------------------- encrypted blocks */
/* Logical size of an encrypted file of phys bytes: whole blocks of
 * ARM_CRYPT_BLOCK, the last one as long as its header says. A last block cut
 * short (a torn extension) or with a length out of range counts whole: it
 * fails authentication (arm_file_torn_tail, views, reads say so). */
static int fil_crypt_size_fd(int fd, uint64_t phys, uint64_t *size_out, int *err_out) {
    *size_out = 0;
    if (phys == 0) return ARM_OK;
    uint64_t nb = (phys + ARM_IO_BLOCK - 1) / ARM_IO_BLOCK;
    uint32_t last = ARM_CRYPT_BLOCK;
    if (phys % ARM_IO_BLOCK == 0) {
        uint8_t hdr[ARM_CRYPT_HDR];
        int rc = arm_io_pread(fd, hdr, sizeof(hdr), (nb - 1) * ARM_IO_BLOCK, err_out);
        if (rc != ARM_OK) return rc;
        uint32_t len = arm_crypt_block_len(hdr);
        if (len) last = len;
    }
    *size_out = (nb - 1) * ARM_CRYPT_BLOCK + last;
    return ARM_OK;
}

static int fil_crypt_size(arm_file *f, uint64_t phys, uint64_t *size_out, int *err_out) {
    return fil_crypt_size_fd(f->rfd, phys, size_out, err_out);
}

static int fil_crypt_buf(arm_file *f) {
    if (f->cbuf) return ARM_OK;
    f->cbuf_raw = arm_malloc((size_t)FIL_CRYPT_CHUNK * ARM_IO_BLOCK + ARM_IO_BLOCK);
    if (f->cbuf_raw == NULL) return ARM_ERR(ARM_NOMEM);
    uintptr_t at = ((uintptr_t)f->cbuf_raw + ARM_IO_BLOCK - 1) & ~(uintptr_t)(ARM_IO_BLOCK - 1);
    f->cbuf = (uint8_t *)at;
    return ARM_OK;
}

/* Seal logical bytes [off, off+n) (off at a block boundary) and write them:
 * FIL_CRYPT_CHUNK blocks per write, through f's own aligned buffer, so the
 * caller's buffer is never touched and O_DIRECT's alignment always holds. */
static int fil_crypt_write(arm_file *f, arm_io_ring *ring, const uint8_t *src, size_t n,
                           uint64_t off, int *err_out) {
    assert(off % ARM_CRYPT_BLOCK == 0);
    int rc = fil_crypt_buf(f);
    uint64_t b = off / ARM_CRYPT_BLOCK;
    while (rc == ARM_OK && n > 0) {
        uint32_t k = 0;
        for (; rc == ARM_OK && k < FIL_CRYPT_CHUNK && n > 0; k++) {
            uint32_t len = (uint32_t)ARM_MIN(n, (size_t)ARM_CRYPT_BLOCK);
            rc = arm_crypt_seal(f->crypt, ARM_CRYPT_KIND_LOG, f->fid, b + k, src, len,
                                f->cbuf + (size_t)k * ARM_IO_BLOCK);
            src += len;
            n -= len;
        }
        if (rc == ARM_OK)
            rc = arm_io_pwrite(ring, f->fd, f->cbuf, (size_t)k * ARM_IO_BLOCK, b * ARM_IO_BLOCK, 0,
                               err_out);
        b += k;
    }
    return rc;
}

/* Physical block b of f, opened: ARM_OK and *len_out, ARM_CORRUPT when it
 * is missing or fails authentication, ARM_IOERR. */
static int fil_crypt_block(arm_file *f, uint64_t b, uint8_t phys[ARM_IO_BLOCK],
                           uint8_t plain[ARM_CRYPT_BLOCK], uint32_t *len_out, int *err_out) {
    int rc = arm_io_pread(f->rfd, phys, ARM_IO_BLOCK, b * ARM_IO_BLOCK, err_out);
    if (rc != ARM_OK) return rc;
    return arm_crypt_open_block(f->crypt, ARM_CRYPT_KIND_LOG, f->fid, b, phys, plain, len_out);
}

/* Decrypted blocks, per thread: a cursor reads the entries of one block one
 * after another, and a get often lands where a recent one did, so a block is
 * opened once for all of them. An entry is keyed by the file's generation
 * (unique in the process, and new whenever the file is cut: the only change
 * to bytes already written) and block number; it holds the block's first
 * len bytes, which never change under one generation (a tail block only
 * grows), so bytes past len are a miss. Allocated on a thread's first read
 * of an encrypted file, freed when the thread exits. */
#define FIL_BCACHE_N 8u
typedef struct fil_bcache {
    uint32_t next; /* round-robin victim */
    struct {
        uint64_t gen, block; /* gen 0: empty */
        uint32_t len;
        uint8_t data[ARM_CRYPT_BLOCK];
    } e[FIL_BCACHE_N];
} fil_bcache;

static _Atomic uint64_t fil_gen_next = 1;
static __thread fil_bcache *fil_bcache_tls;
static pthread_key_t fil_bcache_key;
static pthread_once_t fil_bcache_once = PTHREAD_ONCE_INIT;

static void fil_bcache_free(void *p) {
    free(p);
}
static void fil_bcache_init(void) {
    if (pthread_key_create(&fil_bcache_key, fil_bcache_free) != 0) fil_bcache_key = 0;
}

/* This thread's cache, or NULL (reads then go uncached). Plain malloc: it
 * belongs to the thread, not to any engine, and outlives them. */
static fil_bcache *fil_bcache_get(void) {
    if (fil_bcache_tls) return fil_bcache_tls;
    (void)pthread_once(&fil_bcache_once, fil_bcache_init);
    fil_bcache *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    (void)pthread_setspecific(fil_bcache_key, c); /* freed at thread exit */
    fil_bcache_tls = c;
    return c;
}

static uint64_t fil_gen_new(void) {
    return atomic_fetch_add(&fil_gen_next, 1);
}

/* Logical block b of f holding at least bytes [0, need): from the cache or
 * read and opened into it. *plain_out points at its bytes (valid until this
 * thread's next read), *len_out their count. */
static int fil_crypt_cached(arm_file *f, uint64_t b, uint32_t need, const uint8_t **plain_out,
                            uint32_t *len_out, uint8_t phys[ARM_IO_BLOCK],
                            uint8_t plain[ARM_CRYPT_BLOCK], int *err_out) {
    uint64_t gen = atomic_load_explicit(&f->gen, memory_order_acquire); /* before the read */
    fil_bcache *c = fil_bcache_get();
    for (uint32_t i = 0; c != NULL && i < FIL_BCACHE_N; i++) {
        if (c->e[i].gen == gen && c->e[i].block == b && c->e[i].len >= need) {
            *plain_out = c->e[i].data;
            *len_out = c->e[i].len;
            return ARM_OK;
        }
    }
    uint8_t *dst = plain;
    uint32_t slot = 0;
    if (c != NULL) {
        slot = c->next++ % FIL_BCACHE_N;
        c->e[slot].gen = 0; /* empty until it holds the block whole */
        dst = c->e[slot].data;
    }
    uint32_t len = 0;
    int rc = fil_crypt_block(f, b, phys, dst, &len, err_out);
    if (rc != ARM_OK) return rc;
    if (c != NULL) {
        c->e[slot].gen = gen;
        c->e[slot].block = b;
        c->e[slot].len = len;
    }
    *plain_out = dst;
    *len_out = len;
    return ARM_OK;
}

static int fil_crypt_read(arm_file *f, uint64_t off, uint8_t *dst, size_t n, int *err_out) {
    uint8_t phys[ARM_IO_BLOCK], plain[ARM_CRYPT_BLOCK];
    uint64_t b = off / ARM_CRYPT_BLOCK;
    uint32_t in = (uint32_t)(off % ARM_CRYPT_BLOCK);
    int rc = ARM_OK;
    while (rc == ARM_OK && n > 0) {
        uint32_t len = 0;
        const uint8_t *p = NULL;
        uint32_t need = (uint32_t)ARM_MIN((uint64_t)in + n, (uint64_t)ARM_CRYPT_BLOCK);
        rc = fil_crypt_cached(f, b, need, &p, &len, phys, plain, err_out);
        if (rc != ARM_OK) break;
        size_t k = len > in ? ARM_MIN((size_t)(len - in), n) : 0;
        /* the bytes asked for are past the file's end */
        if (k == 0 || (k < n && len < ARM_CRYPT_BLOCK)) rc = ARM_ERR(ARM_CORRUPT);
        else memcpy(dst, p + in, k);
        dst += k;
        n -= k;
        in = 0;
        b++;
    }
    return rc;
}

/* Decrypt logical bytes [0, size) of fd (f's data file, or with kind
 * ARM_CRYPT_KIND_HINT its hint) into an anonymous mapping (released by
 * arm_file_unview like a file's). A block that is missing or fails
 * authentication fails the view (ARM_CORRUPT, *bad_out its block number):
 * no byte a view holds was made up, so an entry that runs into such a block
 * can never pass its checksum on made-up bytes. Sets no message. */
static int fil_crypt_view_fd(arm_file *f, int fd, uint32_t kind, uint64_t size,
                             const uint8_t **view_out, uint64_t *bad_out, int *err_out) {
    uint8_t *v = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (v == MAP_FAILED) return (*err_out = errno, ARM_ERR(ARM_NOMEM));
    uint8_t *phys = arm_malloc((size_t)FIL_CRYPT_CHUNK * ARM_IO_BLOCK);
    uint8_t plain[ARM_CRYPT_BLOCK];
    int rc = phys ? ARM_OK : ARM_ERR(ARM_NOMEM), err = 0;
    struct stat sb;
    if (rc == ARM_OK && fstat(fd, &sb) != 0) rc = (err = errno, ARM_ERR(ARM_IOERR));
    /* whole physical blocks on disk; one cut short is missing (zeros) */
    uint64_t have = rc == ARM_OK ? (uint64_t)sb.st_size / ARM_IO_BLOCK : 0;
    uint64_t want = (size + ARM_CRYPT_BLOCK - 1) / ARM_CRYPT_BLOCK;
    uint64_t nb = ARM_MIN(want, have);
    *bad_out = nb;
    if (rc == ARM_OK && nb < want) rc = ARM_ERR(ARM_CORRUPT); /* cut short */
    for (uint64_t b = 0; rc == ARM_OK && b < nb; b += FIL_CRYPT_CHUNK) {
        uint64_t k = ARM_MIN((uint64_t)FIL_CRYPT_CHUNK, nb - b);
        rc = arm_io_pread(fd, phys, (size_t)k * ARM_IO_BLOCK, b * ARM_IO_BLOCK, &err);
        for (uint64_t i = 0; rc == ARM_OK && i < k; i++) {
            uint32_t len = 0;
            uint64_t at = (b + i) * ARM_CRYPT_BLOCK;
            if (arm_crypt_open_block(f->crypt, kind, f->fid, b + i, phys + i * ARM_IO_BLOCK, plain,
                                     &len) != ARM_OK ||
                (len < ARM_CRYPT_BLOCK && at + len < size)) { /* short inside the file */
                *bad_out = b + i;
                rc = ARM_ERR(ARM_CORRUPT);
                break;
            }
            memcpy(v + at, plain, (size_t)ARM_MIN((uint64_t)len, size - at));
        }
    }
    arm_free(phys);
    if (rc != ARM_OK) {
        munmap(v, size);
        *err_out = err;
        return rc;
    }
    mprotect(v, size, PROT_READ);
    *view_out = v;
    return ARM_OK;
}

/* A data file's view; a block that does not open names itself. */
static int fil_crypt_view(arm_file *f, uint64_t size, const uint8_t **view_out) {
    int err = 0;
    uint64_t bad = 0;
    int rc = fil_crypt_view_fd(f, f->rfd, ARM_CRYPT_KIND_LOG, size, view_out, &bad, &err);
    if (rc == ARM_CORRUPT)
        return arm_engine_seterr(rc, 0,
                                 "the block at file offset %llu of %s fails authentication "
                                 "(damaged, cut short, or not written under this key)",
                                 (unsigned long long)(bad * ARM_IO_BLOCK), f->path);
    if (rc != ARM_OK) return arm_engine_seterr(rc, err, "cannot read %s", f->path);
    return ARM_OK;
}

int arm_file_torn_tail(arm_file *f, uint64_t *size) {
    if (f->crypt == NULL || *size == 0) return ARM_OK;
    uint8_t phys[ARM_IO_BLOCK], plain[ARM_CRYPT_BLOCK];
    uint64_t b = (*size - 1) / ARM_CRYPT_BLOCK;
    uint32_t len = 0;
    int err = 0;
    int rc = fil_crypt_block(f, b, phys, plain, &len, &err);
    if (rc == ARM_CORRUPT) *size = b * ARM_CRYPT_BLOCK; /* torn (or missing): not part of it */
    return rc == ARM_CORRUPT ? ARM_OK : rc;
}

/* Cut to size logical bytes: the block size ends in is sealed again with
 * only what lies below size (its bytes past it must not come back at the
 * next open), then the physical file is cut after that block. */
static int fil_crypt_truncate(arm_file *f, uint64_t size, int *err_out) {
    uint64_t nb = (size + ARM_CRYPT_BLOCK - 1) / ARM_CRYPT_BLOCK;
    uint32_t tail = (uint32_t)(size % ARM_CRYPT_BLOCK);
    int rc = ARM_OK;
    if (tail) {
        uint8_t phys[ARM_IO_BLOCK], plain[ARM_CRYPT_BLOCK];
        uint32_t len = 0;
        rc = fil_crypt_block(f, nb - 1, phys, plain, &len, err_out);
        if (rc == ARM_OK && len < tail) rc = ARM_ERR(ARM_CORRUPT);
        if (rc == ARM_OK && len != tail)
            rc = fil_crypt_write(f, NULL, plain, tail, (nb - 1) * ARM_CRYPT_BLOCK, err_out);
    }
    if (rc == ARM_OK) rc = arm_io_truncate(f->fd, nb * ARM_IO_BLOCK, err_out);
    /* Bytes at and past size may be written again with other contents: no
     * copy any thread cached before now holds (a reader that loaded the old
     * generation files its copy under it, which nothing asks for again). */
    atomic_store_explicit(&f->gen, fil_gen_new(), memory_order_release);
    return rc;
}

/* -------------------------------------------------------- one data file */
void arm_file_path(char *buf, size_t n, const char *dir, uint32_t fid) {
    snprintf(buf, n, "%s/%08u.log", dir, fid);
}

int arm_file_new(const arm_files *t, const char *dir, uint32_t shard, uint32_t fid,
                 arm_file **file_out) {
    char path[ARM_FILE_PATH_MAX];
    arm_file_path(path, sizeof(path), dir, fid);
    *file_out = NULL;
    arm_file *f = arm_calloc(1, sizeof(*f));
    if (f == NULL) return ARM_ERR(ARM_NOMEM);
    f->fd = f->rfd = -1;
    f->fid = fid;
    f->shard = shard;
    f->crypt = t->crypt;
    f->plain = f->crypt == NULL; /* else ciphertext: never mapped */
    atomic_init(&f->gen, fil_gen_new());
    f->ndead = t->ndead;
    f->path = arm_strdup(path);
    f->dead = arm_calloc(f->ndead ? f->ndead : 1, sizeof(*f->dead));
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
    arm_free(f->cbuf_raw);
    if (f->fd >= 0) close(f->fd);
    if (f->rfd >= 0 && f->rfd != f->fd) close(f->rfd);
    arm_free(f->path);
    arm_free(f);
}

/* Open f's write fd, trying O_DIRECT first when *direct_io. */
static int fil_open_writer(arm_file *f, int create, int *direct_io, int *err) {
    int flags = create ? ARM_IO_O_CREATE : 0, rc = ARM_MISUSE;
    if (*direct_io) {
        rc = arm_io_open(f->path, flags | ARM_IO_O_DIRECT, &f->fd, err);
        if (rc == ARM_MISUSE) {
            /* The file system refuses O_DIRECT (tmpfs, ...): buffered. Some
             * create the name before refusing, so the exclusive retry needs
             * it gone. */
            *direct_io = 0;
            if (create) unlink(f->path);
        }
    }
    if (rc == ARM_MISUSE) rc = arm_io_open(f->path, flags, &f->fd, err);
    return rc;
}

int arm_file_create(arm_files *t, const char *dir, uint32_t shard, uint32_t fid, int *direct_io,
                    uint64_t map_len, arm_file **file_out) {
    *file_out = NULL;
    arm_file *f;
    int rc = arm_file_new(t, dir, shard, fid, &f);
    if (rc != ARM_OK) return rc;
    int err = 0;
    rc = fil_open_writer(f, 1, direct_io, &err);
    int made = rc == ARM_OK;
    if (rc == ARM_OK) rc = arm_io_open(f->path, ARM_IO_O_RDONLY, &f->rfd, &err);
    if (rc == ARM_OK) rc = arm_io_sync_dir(dir, &err); /* the name must survive a crash */
    if (rc == ARM_OK) arm_file_map(f, map_len);
    if (rc == ARM_OK) rc = arm_files_add(t, f);
    if (rc != ARM_OK) {
        rc = arm_engine_seterr(rc, err, "cannot create data file %s", f->path);
        if (made) unlink(f->path);
        arm_file_free(f);
        return rc;
    }
    *file_out = f;
    return ARM_OK;
}

int arm_file_open(const arm_files *t, const char *dir, uint32_t shard, uint32_t fid,
                  arm_file **file_out, uint64_t *size_out) {
    *file_out = NULL;
    *size_out = 0;
    arm_file *f;
    int rc = arm_file_new(t, dir, shard, fid, &f);
    if (rc != ARM_OK) return rc;
    int err = 0;
    rc = arm_io_open(f->path, ARM_IO_O_RDONLY, &f->rfd, &err);
    struct stat sb;
    if (rc == ARM_OK && fstat(f->rfd, &sb) != 0) rc = (err = errno, ARM_IOERR);
    if (rc != ARM_OK) {
        rc = arm_engine_seterr(rc, err, "cannot open %s", f->path);
        arm_file_free(f);
        return rc;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (rc == ARM_OK && f->crypt) rc = fil_crypt_size(f, size, &size, &err);
    if (rc != ARM_OK) {
        rc = arm_engine_seterr(rc, err, "cannot read %s", f->path);
        arm_file_free(f);
        return rc;
    }
    if (size > ARM_FILE_SIZE_MAX) {
        /* no data file grows this big (offsets are 32-bit): not ours */
        rc = arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "%s is larger than any data file",
                               f->path);
        arm_file_free(f);
        return rc;
    }
    *size_out = size;
    *file_out = f;
    return ARM_OK;
}

int arm_file_disk_size(arm_file *f, uint64_t *size_out) {
    struct stat sb;
    *size_out = 0;
    if (fstat(f->rfd, &sb) != 0) return ARM_ERR(ARM_IOERR);
    int err = 0;
    if (f->crypt) return fil_crypt_size(f, (uint64_t)sb.st_size, size_out, &err);
    *size_out = (uint64_t)sb.st_size;
    return ARM_OK;
}

void arm_file_map(arm_file *f, uint64_t len) {
    assert(f->map == NULL);
    /* Ciphertext on disk is never handed out: such files are read through
     * arm_file_read, which will decrypt. */
    if (len == 0 || !f->plain) return;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, f->rfd, 0);
    if (p == MAP_FAILED) return; /* reads fall back to pread */
    f->map = p;
    f->map_len = len;
}

int arm_file_view(arm_file *f, uint64_t size, const uint8_t **view_out) {
    *view_out = NULL;
    if (size == 0) return ARM_OK;
    if (f->crypt) return fil_crypt_view(f, size, view_out);
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, f->rfd, 0);
    if (p == MAP_FAILED)
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot map %s", f->path);
    /* advice values are not flags: two calls */
    madvise(p, size, MADV_SEQUENTIAL);
    madvise(p, size, MADV_WILLNEED);
    *view_out = p;
    return ARM_OK;
}

void arm_file_unview(const uint8_t *view, uint64_t size) {
    if (view) munmap((void *)view, size);
}

int arm_file_read(arm_file *f, uint64_t off, void *dst, size_t n, int *err_out) {
    if (f->crypt) return fil_crypt_read(f, off, dst, n, err_out);
    return arm_io_pread(f->rfd, dst, n, off, err_out);
}

int arm_file_write(arm_file *f, arm_io_ring *ring, const void *buf, size_t n, uint64_t off,
                   int *err_out) {
    assert(f->fd >= 0);
    if (f->crypt) return fil_crypt_write(f, ring, buf, n, off, err_out);
    return arm_io_pwrite(ring, f->fd, buf, n, off, 0, err_out);
}

int arm_file_truncate(arm_file *f, uint64_t size, int *err_out) {
    assert(f->fd >= 0);
    if (f->crypt) return fil_crypt_truncate(f, size, err_out);
    return arm_io_truncate(f->fd, size, err_out);
}

int arm_file_datasync(arm_file *f, int *err_out) {
    assert(f->fd >= 0);
    return arm_io_datasync(NULL, f->fd, err_out);
}

int arm_file_dup_writer(arm_file *f, int *fd_out, int *err_out) {
    *fd_out = dup(f->fd);
    if (*fd_out >= 0) return ARM_OK;
    *err_out = errno;
    return ARM_ERR(ARM_IOERR);
}

int arm_file_sync_dup(int fd, int *err_out) {
    int rc = arm_io_datasync(NULL, fd, err_out);
    close(fd);
    return rc;
}

int arm_file_seal(arm_file *f, uint64_t size) {
    int err = 0;
    int rc = arm_file_truncate(f, size, &err);
    if (rc == ARM_OK) rc = arm_file_datasync(f, &err);
    if (rc != ARM_OK) return arm_engine_seterr(rc, err, "cannot seal %s", f->path);
    return ARM_OK;
}

void arm_files_sealed(arm_files *t, arm_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    arm_free(f->cbuf_raw); /* nothing is written to it again */
    f->cbuf_raw = f->cbuf = NULL;
    arm_files_hints_queue(t, f->fid);
}

int arm_file_reopen_writer(arm_file *f, int *direct_io, uint64_t end) {
    assert(f->fd < 0);
    int err = 0;
    int rc = fil_open_writer(f, 0, direct_io, &err);
    if (rc == ARM_OK) rc = arm_file_truncate(f, end, &err);
    if (rc == ARM_OK) rc = arm_file_datasync(f, &err);
    if (rc != ARM_OK) return arm_engine_seterr(rc, err, "cannot reopen %s for appending", f->path);
    return ARM_OK;
}

uint64_t arm_file_dead(const arm_file *f) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < f->ndead; i++)
        n += atomic_load_explicit(&f->dead[i], memory_order_relaxed);
    return n;
}

/* ------------------------------------------------------------ hint files */
/* A hint being written: bytes go through buf, and into the checksum. */
typedef struct fil_out {
    int fd;
    uint8_t *buf;
    size_t len, cap;   /* bytes in buf, and its room */
    uint64_t off;      /* (logical) file offset of buf[0] */
    arm_hash_state sum;
    int rc, err;
    arm_file *f;       /* encrypted: the data file whose hint this is, else NULL */
    uint8_t *phys;     /* encrypted: buf's blocks sealed, FIL_CRYPT_CHUNK of them */
} fil_out;

/* An encrypted hint is sealed block by block like its data file (kind HINT:
 * no block of one passes as the other's); cap is whole blocks, so every
 * flush but the last starts and ends at a block boundary. */
static void fil_out_flush(fil_out *o) {
    if (o->rc != ARM_OK || o->len == 0) return;
    if (o->f == NULL) {
        o->rc = arm_io_pwrite_as(ARM_IO_OP_HINT_WRITE, o->fd, o->buf, o->len, o->off, &o->err);
    } else {
        assert(o->off % ARM_CRYPT_BLOCK == 0);
        uint64_t b0 = o->off / ARM_CRYPT_BLOCK;
        size_t k = 0;
        for (size_t at = 0; o->rc == ARM_OK && at < o->len; at += ARM_CRYPT_BLOCK, k++)
            o->rc = arm_crypt_seal(o->f->crypt, ARM_CRYPT_KIND_HINT, o->f->fid, b0 + k, o->buf + at,
                                   (uint32_t)ARM_MIN(o->len - at, (size_t)ARM_CRYPT_BLOCK),
                                   o->phys + k * ARM_IO_BLOCK);
        if (o->rc == ARM_OK)
            o->rc = arm_io_pwrite_as(ARM_IO_OP_HINT_WRITE, o->fd, o->phys, k * ARM_IO_BLOCK,
                                     b0 * ARM_IO_BLOCK, &o->err);
    }
    o->off += o->len;
    o->len = 0;
}

/* Bytes into the hint, outside the checksum. */
static void fil_out_raw(fil_out *o, const void *p, size_t n) {
    const uint8_t *src = p;
    while (n > 0 && o->rc == ARM_OK) {
        if (o->len == o->cap) fil_out_flush(o);
        size_t k = ARM_MIN(n, o->cap - o->len);
        memcpy(o->buf + o->len, src, k);
        o->len += k;
        src += k;
        n -= k;
    }
}

/* Bytes into the hint and its checksum. */
static void fil_out_put(fil_out *o, const void *p, size_t n) {
    arm_hash_checksum_update(&o->sum, p, n);
    fil_out_raw(o, p, n);
}

/* The records of data file p[0..size) into o; ARM_CORRUPT unless every entry
 * decodes (checksum included) and they end exactly at size. */
static int fil_hint_body(fil_out *o, const uint8_t *p, uint64_t size, uint64_t *count_out) {
    uint64_t off = ARM_FILE_HEADER_SIZE, count = 0;
    while (off < size && o->rc == ARM_OK) {
        arm_entry_hdr h;
        if (arm_entry_decode(p + off, size - off, ARM_KEY_SIZE_MAX, UINT32_MAX, &h) != ARM_OK)
            return ARM_ERR(ARM_CORRUPT);
        uint8_t rec[ARM_HINT_RECORD];
        arm_hint_rec_encode(rec, &h, (uint32_t)off);
        fil_out_put(o, rec, sizeof(rec));
        fil_out_put(o, p + off + ARM_ENTRY_HEADER, (size_t)h.klen + arm_hint_value_len(&h));
        off += arm_entry_size(h.klen, h.vlen);
        count++;
    }
    *count_out = count;
    return off == size ? o->rc : ARM_ERR(ARM_CORRUPT);
}

int arm_file_write_hint(arm_file *f, const uint8_t db_id[16], uint32_t flags) {
    uint64_t size = atomic_load(&f->size), disk = 0;
    int rc = arm_file_disk_size(f, &disk);
    /* A sealed file is cut to its logical end; anything else is not sealed. */
    if (rc == ARM_OK && (disk != size || size < ARM_FILE_HEADER_SIZE)) rc = ARM_ERR(ARM_CORRUPT);
    if (rc != ARM_OK) return rc;
    char tmp[ARM_FILE_PATH_MAX + 32], path[ARM_FILE_PATH_MAX + 32];
    fil_hint_path(f, tmp, sizeof(tmp), ".tmp");
    fil_hint_path(f, path, sizeof(path), "");
    const uint8_t *p = NULL;
    fil_out o = {.fd = -1, .rc = ARM_OK};
    rc = arm_file_view(f, size, &p);
    if (rc == ARM_OK) {
        o.cap = f->crypt ? (size_t)FIL_CRYPT_CHUNK * ARM_CRYPT_BLOCK : FIL_HINT_BUF;
        o.buf = arm_malloc(o.cap);
        if (f->crypt) {
            o.f = f;
            o.phys = arm_malloc((size_t)FIL_CRYPT_CHUNK * ARM_IO_BLOCK);
        }
        o.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (o.buf == NULL || (f->crypt && o.phys == NULL)) rc = ARM_ERR(ARM_NOMEM);
        else if (o.fd < 0) rc = arm_io_errno_rc(errno);
    }
    if (rc != ARM_OK) goto cleanup;
    arm_hash_checksum_begin(&o.sum);
    arm_hint_hdr hh;
    memset(&hh, 0, sizeof(hh));
    hh.version = ARM_FORMAT_VERSION;
    hh.shard = f->shard;
    hh.fid = f->fid;
    hh.flags = flags;
    memcpy(hh.db_id, db_id, 16);
    hh.log_size = size;
    uint8_t head[ARM_HINT_HEADER_SIZE], foot[ARM_HINT_FOOTER];
    arm_hint_hdr_encode(&hh, head);
    fil_out_put(&o, head, sizeof(head));
    uint64_t count = 0;
    rc = fil_hint_body(&o, p, size, &count);
    if (rc == ARM_OK) {
        /* the checksum covers every byte before its own 8 */
        arm_hint_footer_encode(foot, count, 0);
        fil_out_put(&o, foot, ARM_HINT_FOOTER - 8);
        arm_hint_footer_encode(foot, count, arm_hash_checksum_end(&o.sum));
        fil_out_raw(&o, foot + ARM_HINT_FOOTER - 8, 8);
        fil_out_flush(&o);
        rc = o.rc;
    }
    if (rc == ARM_OK) rc = arm_io_datasync_as(ARM_IO_OP_HINT_SYNC, o.fd, &o.err);
    if (rc == ARM_OK && rename(tmp, path) != 0) rc = arm_io_errno_rc(errno);
    if (rc == ARM_OK) {
        char dir[ARM_FILE_PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", f->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        rc = arm_io_sync_dir(slash ? dir : ".", &o.err); /* the rename must survive a crash */
    }
cleanup:
    if (o.fd >= 0) close(o.fd);
    if (rc != ARM_OK) (void)unlink(tmp);
    arm_free(o.buf);
    arm_free(o.phys);
    arm_file_unview(p, size);
    return rc;
}

int arm_file_open_hint(arm_file *f, const uint8_t db_id[16], uint32_t flags, uint64_t log_size,
                       const uint8_t **view_out, uint64_t *size_out) {
    *view_out = NULL;
    *size_out = 0;
    char path[ARM_FILE_PATH_MAX + 32];
    fil_hint_path(f, path, sizeof(path), "");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? ARM_NOTFOUND : ARM_ERR(ARM_CORRUPT);
    struct stat sb;
    int rc = fstat(fd, &sb) == 0 ? ARM_OK : ARM_ERR(ARM_CORRUPT), err = 0;
    uint64_t size = rc == ARM_OK ? (uint64_t)sb.st_size : 0;
    if (rc == ARM_OK && f->crypt && fil_crypt_size_fd(fd, size, &size, &err) != ARM_OK)
        rc = ARM_ERR(ARM_CORRUPT);
    /* a hint is smaller than its data file: records are entries minus values */
    if (rc == ARM_OK && (size < ARM_HINT_HEADER_SIZE + ARM_HINT_FOOTER || size > 2 * log_size + 4096))
        rc = ARM_ERR(ARM_CORRUPT);
    void *p = MAP_FAILED;
    if (rc == ARM_OK && f->crypt) {
        /* every block must open: a hint is all there or none at all */
        const uint8_t *v = NULL;
        uint64_t bad = 0;
        if (fil_crypt_view_fd(f, fd, ARM_CRYPT_KIND_HINT, size, &v, &bad, &err) == ARM_OK)
            p = (void *)(uintptr_t)v;
    } else if (rc == ARM_OK) {
        p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    close(fd);
    if (rc == ARM_OK && p == MAP_FAILED) rc = ARM_ERR(ARM_CORRUPT);
    if (rc != ARM_OK) return rc;
    madvise(p, size, MADV_SEQUENTIAL);
    madvise(p, size, MADV_WILLNEED);
    arm_hint_hdr h;
    rc = arm_hint_check(p, size, &h);
    if (rc == ARM_OK && (h.fid != f->fid || h.shard != f->shard || h.flags != flags ||
                         memcmp(h.db_id, db_id, 16) != 0 || h.log_size != log_size))
        rc = ARM_ERR(ARM_CORRUPT); /* another file's, or the data file changed since */
    if (rc != ARM_OK) {
        munmap(p, size);
        return ARM_CORRUPT;
    }
    *view_out = p;
    *size_out = size;
    return ARM_OK;
}

void arm_file_unlink_hint(const arm_file *f) {
    char path[ARM_FILE_PATH_MAX + 32];
    fil_hint_path(f, path, sizeof(path), "");
    (void)unlink(path);
}

/* The hint thread: writes the queued hints, one at a time, each with the
 * file held (a file retired meanwhile is skipped). On stop it finishes what
 * is queued first, so a clean close leaves every sealed file its hint. */
static void *fil_hint_main(void *arg) {
    arm_files *t = arg;
    pthread_mutex_lock(&t->hint_lock);
    for (;;) {
        while (t->hint_n == 0 && !t->hint_stop) pthread_cond_wait(&t->hint_cond, &t->hint_lock);
        if (t->hint_n == 0) break; /* stopping, and nothing left */
        uint32_t fid = t->hint_queue[0];
        memmove(t->hint_queue, t->hint_queue + 1, --t->hint_n * sizeof(uint32_t));
        t->hint_busy = 1;
        pthread_mutex_unlock(&t->hint_lock);
        arm_file_ref ref;
        if (arm_files_hold(t, fid, &ref) == ARM_OK) {
            (void)arm_file_write_hint(ref.file, t->db_id, t->flags); /* none is fine */
            arm_file_release(&ref);
        }
        pthread_mutex_lock(&t->hint_lock);
        t->hint_busy = 0;
        pthread_cond_broadcast(&t->hint_cond);
    }
    pthread_mutex_unlock(&t->hint_lock);
    return NULL;
}

int arm_files_hints_start(arm_files *t) {
    if (!t->hints || t->hint_running) return ARM_OK;
    int perr = pthread_create(&t->hint_thread, NULL, fil_hint_main, t);
    if (perr != 0) return arm_engine_seterr(ARM_ERR(ARM_NOMEM), perr, "cannot start the hint thread");
    t->hint_running = 1;
    return ARM_OK;
}

void arm_files_hints_queue(arm_files *t, uint32_t fid) {
    if (!t->hints) return;
    pthread_mutex_lock(&t->hint_lock);
    if (t->hint_n == t->hint_cap) {
        size_t cap = t->hint_cap ? t->hint_cap * 2 : 16;
        uint32_t *q = arm_realloc(t->hint_queue, cap * sizeof(uint32_t));
        if (q != NULL) {
            t->hint_queue = q;
            t->hint_cap = cap;
        }
    }
    if (t->hint_n < t->hint_cap) { /* else skipped: the next open queues it again */
        t->hint_queue[t->hint_n++] = fid;
        pthread_cond_broadcast(&t->hint_cond);
    }
    pthread_mutex_unlock(&t->hint_lock);
}

#ifndef ARM_AMALGAMATION /* tests wait for hints; the engine only at close */
void arm_files_hints_drain(arm_files *t) {
    pthread_mutex_lock(&t->hint_lock);
    while (t->hint_running && (t->hint_n > 0 || t->hint_busy))
        pthread_cond_wait(&t->hint_cond, &t->hint_lock);
    pthread_mutex_unlock(&t->hint_lock);
}
#endif

void arm_files_hints_stop(arm_files *t) {
    if (!t->hint_running) return;
    pthread_mutex_lock(&t->hint_lock);
    t->hint_stop = 1;
    pthread_cond_broadcast(&t->hint_cond);
    pthread_mutex_unlock(&t->hint_lock);
    pthread_join(t->hint_thread, NULL);
    t->hint_running = 0;
}

/* ------------------------------------------------- a shard's directory */
static int fil_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* 1 when nm is FFFFFFFF followed by exactly suffix. */
static int fil_name_is(const char *nm, const char *suffix) {
    for (int i = 0; i < 8; i++)
        if (nm[i] < '0' || nm[i] > '9') return 0;
    return strcmp(nm + 8, suffix) == 0;
}

/* 1 when nm is FFFFFFFF.hint.tmp (a hint write cut short) or FFFFFFFF.merge
 * (a merge cut short: its inputs are all still there). */
static int fil_hint_tmp_name(const char *nm) {
    return fil_name_is(nm, ARM_HINT_SUFFIX ".tmp") || fil_name_is(nm, ".merge");
}

/* Remove FFFFFFFF.hint files in dir whose data file is not in ids[0..n)
 * (sorted): a crash between a retired file's two unlinks leaves one. */
static void fil_tidy_hints(const char *dir, const uint32_t *ids, size_t n) {
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!fil_name_is(de->d_name, ARM_HINT_SUFFIX)) continue;
        uint32_t fid = (uint32_t)strtoul(de->d_name, NULL, 10);
        if (n && bsearch(&fid, ids, n, sizeof(uint32_t), fil_cmp_u32) != NULL) continue;
        char path[ARM_FILE_PATH_MAX + 32];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        (void)unlink(path);
    }
    closedir(d);
}

int arm_files_list(const char *dir, int tidy, uint32_t **ids_out, size_t *n_out) {
    *ids_out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT) return ARM_OK;
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot list %s", dir);
    }
    uint32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = ARM_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        /* exactly eight digits and ".log" (sscanf would take signs, spaces) */
        const char *nm = de->d_name;
        if (tidy && fil_hint_tmp_name(nm)) {
            char path[ARM_FILE_PATH_MAX + 32];
            snprintf(path, sizeof(path), "%s/%s", dir, nm);
            (void)unlink(path); /* no hint at all is what a crash mid-write must leave */
            continue;
        }
        uint32_t fid = 0;
        int ok = strlen(nm) == 12 && strcmp(nm + 8, ".log") == 0;
        for (int j = 0; ok && j < 8; j++) {
            ok = nm[j] >= '0' && nm[j] <= '9';
            fid = fid * 10 + (uint32_t)(nm[j] - '0');
        }
        if (!ok || fid == 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *p = arm_realloc(ids, cap * sizeof(uint32_t));
            if (p == NULL) {
                rc = ARM_ERR(ARM_NOMEM);
                break;
            }
            ids = p;
        }
        ids[n++] = fid;
    }
    closedir(d);
    if (rc != ARM_OK) {
        arm_free(ids);
        return rc;
    }
    if (n) qsort(ids, n, sizeof(uint32_t), fil_cmp_u32);
    if (tidy) fil_tidy_hints(dir, ids, n);
    *ids_out = ids;
    *n_out = n;
    return ARM_OK;
}

int arm_file_blank(const char *dir, uint32_t fid) {
    char path[ARM_FILE_PATH_MAX];
    arm_file_path(path, sizeof(path), dir, fid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    uint8_t buf[8192];
    ssize_t got = 0;
    int blank = 1;
    while (blank && (got = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < got && blank; i++) blank = buf[i] == 0;
    close(fd);
    return blank && got == 0; /* a read error is no proof of emptiness */
}

void arm_file_unlink(const char *dir, uint32_t fid) {
    char path[ARM_FILE_PATH_MAX];
    arm_file_path(path, sizeof(path), dir, fid);
    (void)unlink(path);
}

int arm_file_set_aside(const char *dir, uint32_t fid, const char *suffix) {
    char path[ARM_FILE_PATH_MAX], aside[ARM_FILE_PATH_MAX + 32];
    arm_file_path(path, sizeof(path), dir, fid);
    snprintf(aside, sizeof(aside), "%s.%s", path, suffix);
    if (rename(path, aside) != 0)
        return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot rename %s", path);
    return ARM_OK;
}

/* 1 for the names the engine creates in a shard directory: FFFFFFFF.log,
 * FFFFFFFF.log.torn (a torn newest file set aside), FFFFFFFF.log.cut-N (the
 * bytes cut off a newest file that had good entries after damage),
 * FFFFFFFF.hint, FFFFFFFF.hint.tmp and FFFFFFFF.merge. */
static int fil_owned_name(const char *nm) {
    for (int i = 0; i < 8; i++)
        if (nm[i] < '0' || nm[i] > '9') return 0;
    return strcmp(nm + 8, ".log") == 0 || strcmp(nm + 8, ".log.torn") == 0 ||
           strncmp(nm + 8, ".log.cut-", 9) == 0 || strcmp(nm + 8, ARM_HINT_SUFFIX) == 0 ||
           strcmp(nm + 8, ARM_HINT_SUFFIX ".tmp") == 0 || strcmp(nm + 8, ".merge") == 0;
}

int arm_files_destroy_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) return ARM_OK;
    int rc = ARM_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!fil_owned_name(de->d_name)) continue;
        char path[ARM_FILE_PATH_MAX + 256];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot remove %s", path);
    }
    closedir(d);
    (void)rmdir(dir); /* stays if something else lives there */
    return rc;
}

#undef FIL_RETIRED
#undef FIL_HINT_BUF
#undef FIL_CRYPT_CHUNK
#undef FIL_BCACHE_N
