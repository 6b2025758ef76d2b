/* SPDX-License-Identifier: MIT */
/*
 * file.c: the data-file owner (file.h): the file table, references and
 * retirement, and every open, map, read, write, truncate, sync, rename and
 * unlink of a data file. Layer: engine, above io_*.c and below the log
 * (shard.c); it calls no other engine file but err.c.
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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIL_RETIRED ((uintptr_t)1) /* slot bit: the file is retired */

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
    return ARM_OK;
}

/* Unlink a retired file's name. Nothing is left to read it. */
static void fil_remove(arm_file *f) {
    assert(f != NULL);
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
    pthread_mutex_destroy(&t->lock);
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

/* Nothing retires files yet but the tests: until compaction does, the
 * single-file build (where it would be an unused static) leaves it out. */
#ifndef ARM_AMALGAMATION
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
#endif

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
    f->plain = 1; /* no encryption yet: the file holds the log's bytes as they are */
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
    if ((uint64_t)sb.st_size > ARM_FILE_SIZE_MAX) {
        /* no data file grows this big (offsets are 32-bit): not ours */
        rc = arm_engine_seterr(ARM_ERR(ARM_CORRUPT), 0, "%s is larger than any data file",
                               f->path);
        arm_file_free(f);
        return rc;
    }
    *size_out = (uint64_t)sb.st_size;
    *file_out = f;
    return ARM_OK;
}

int arm_file_disk_size(arm_file *f, uint64_t *size_out) {
    struct stat sb;
    *size_out = 0;
    if (fstat(f->rfd, &sb) != 0) return ARM_ERR(ARM_IOERR);
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
    assert(f->plain); /* an encrypted file will be decrypted into a buffer here */
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
    return arm_io_pread(f->rfd, dst, n, off, err_out);
}

int arm_file_write(arm_file *f, arm_io_ring *ring, const void *buf, size_t n, uint64_t off,
                   int *err_out) {
    assert(f->fd >= 0);
    return arm_io_pwrite(ring, f->fd, buf, n, off, 0, err_out);
}

int arm_file_truncate(arm_file *f, uint64_t size, int *err_out) {
    assert(f->fd >= 0);
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

void arm_file_close_writer(arm_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
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

int arm_file_save_tail(arm_file *f, const uint8_t *view, uint64_t from, uint64_t size) {
    assert(from < size);
    char path[ARM_FILE_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s.cut-%llu", f->path, (unsigned long long)from);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = 0;
    int rc = fd < 0 ? (err = errno, ARM_IOERR)
                    : arm_io_pwrite(NULL, fd, view + from, size - from, 0, 1, &err);
    if (fd >= 0) close(fd);
    if (rc != ARM_OK) return arm_engine_seterr(ARM_ERR(rc), err, "cannot save %s", path);
    return ARM_OK;
}

uint64_t arm_file_dead(const arm_file *f) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < f->ndead; i++)
        n += atomic_load_explicit(&f->dead[i], memory_order_relaxed);
    return n;
}

/* ------------------------------------------------- a shard's directory */
static int fil_cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int arm_files_list(const char *dir, uint32_t **ids_out, size_t *n_out) {
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
 * bytes cut off a newest file that had good entries after damage) and
 * FFFFFFFF.hint. */
static int fil_owned_name(const char *nm) {
    for (int i = 0; i < 8; i++)
        if (nm[i] < '0' || nm[i] > '9') return 0;
    return strcmp(nm + 8, ".log") == 0 || strcmp(nm + 8, ".log.torn") == 0 ||
           strncmp(nm + 8, ".log.cut-", 9) == 0 || strcmp(nm + 8, ".hint") == 0;
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
