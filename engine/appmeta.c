/* SPDX-License-Identifier: MIT */
/*
 * appmeta.c: the application's metadata blob, kept beside ARMDB in the file
 * APPMETA. The engine gives the bytes no meaning; the SQLite extension keeps
 * a table's declaration and owner there. Written at creation (before ARMDB,
 * so a database never exists without the blob it was created with) and
 * replaced atomically later (tmp file, fsync, rename, fsync of the
 * directory). Layer: engine.
 *
 * APPMETA, all integers little-endian:
 *   0  8 magic     "ARMAPP\0\1"
 *   8  4 version   1
 *  12  4 len       payload bytes, at most ARM_APP_META_MAX
 *  16 16 db_id     the database's id (ARMDB): a file copied in from another
 *                  database is damage, not this database's metadata
 *  32  8 checksum  arm_hash_checksum over bytes 0..31, then the payload
 *  40    payload
 */
#include "engine_int.h"
#include "../common/arm_alloc.h"
#include "../common/arm_hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define APP_HDR     40u
#define APP_VERSION 1u
static const uint8_t app_magic[8] = {'A', 'R', 'M', 'A', 'P', 'P', 0, 1};
_Static_assert(ARM_APP_META_MAX <= UINT32_MAX - APP_HDR, "length fits the header");

static void app_put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t app_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t app_checksum(const uint8_t *hdr, const uint8_t *payload, size_t n) {
    arm_hash_state st;
    arm_hash_checksum_begin(&st);
    arm_hash_checksum_update(&st, hdr, 32);
    if (n) arm_hash_checksum_update(&st, payload, n);
    return arm_hash_checksum_end(&st);
}

static void app_path(char *buf, size_t size, const arm_engine *e, const char *suffix) {
    snprintf(buf, size, "%s/%s%s", e->dir, ARM_APP_META_NAME, suffix);
}

/* Decode a whole APPMETA file image: ARM_OK with *payload pointing into p. */
ARM_PRIVATE int arm_app_meta_decode(const uint8_t *p, size_t n, const uint8_t db_id[16],
                                    arm_slice *payload) {
    if (n < APP_HDR || memcmp(p, app_magic, 8) != 0) return ARM_ERR(ARM_CORRUPT);
    uint32_t len = app_get32(p + 12);
    if (app_get32(p + 8) != APP_VERSION || len > ARM_APP_META_MAX || n != APP_HDR + len)
        return ARM_ERR(ARM_CORRUPT);
    uint64_t sum = 0;
    for (int i = 7; i >= 0; i--) sum = (sum << 8) | p[32 + i];
    if (sum != app_checksum(p, p + APP_HDR, len)) return ARM_ERR(ARM_CORRUPT);
    if (memcmp(p + 16, db_id, 16) != 0) return ARM_ERR(ARM_CORRUPT);
    *payload = arm_slice_make(p + APP_HDR, len);
    return ARM_OK;
}

ARM_PRIVATE int arm_app_meta_load(arm_engine *e) {
    char path[4200];
    app_path(path, sizeof path, e, "");
    e->app_meta_present = 0;
    e->app_meta.len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) return ARM_OK;
    if (fd < 0) return arm_engine_seterr(ARM_ERR(ARM_IOERR), errno, "cannot open %s", path);
    struct stat sb;
    int rc = fstat(fd, &sb) == 0 ? ARM_OK : ARM_ERR(ARM_IOERR);
    size_t n = rc == ARM_OK ? (size_t)sb.st_size : 0;
    if (rc == ARM_OK && n > APP_HDR + ARM_APP_META_MAX) rc = ARM_ERR(ARM_CORRUPT);
    uint8_t *buf = rc == ARM_OK ? arm_malloc(n ? n : 1) : NULL;
    if (rc == ARM_OK && buf == NULL) rc = ARM_ERR(ARM_NOMEM);
    int err = 0;
    if (rc == ARM_OK && n > 0) rc = arm_io_pread(fd, buf, n, 0, &err);
    close(fd);
    arm_slice payload = {NULL, 0};
    if (rc == ARM_OK || rc == ARM_CORRUPT)
        rc = rc == ARM_OK ? arm_app_meta_decode(buf, n, e->meta.db_id, &payload) : rc;
    if (rc == ARM_OK && arm_buf_reserve(&e->app_meta, payload.len ? payload.len : 1) != ARM_OK)
        rc = ARM_ERR(ARM_NOMEM);
    if (rc == ARM_OK) {
        if (payload.len) memcpy(e->app_meta.ptr, payload.ptr, payload.len);
        e->app_meta.len = payload.len;
        e->app_meta_present = 1;
    }
    arm_free(buf);
    if (rc == ARM_CORRUPT && e->opts.read_only) return ARM_OK; /* read what is intact */
    if (rc == ARM_CORRUPT)
        return arm_engine_seterr(rc, 0, "application metadata file %s is damaged", path);
    if (rc != ARM_OK) return arm_engine_seterr(rc, err, "cannot read %s", path);
    return ARM_OK;
}

ARM_PRIVATE int arm_app_meta_write(arm_engine *e, arm_slice meta) {
    if (meta.len > ARM_APP_META_MAX)
        return arm_engine_seterr(ARM_ERR(ARM_TOOBIG), 0, "application metadata over %u bytes",
                                 (unsigned)ARM_APP_META_MAX);
    uint8_t *buf = arm_malloc(APP_HDR + meta.len);
    if (buf == NULL) return ARM_ERR(ARM_NOMEM);
    memcpy(buf, app_magic, 8);
    app_put32(buf + 8, APP_VERSION);
    app_put32(buf + 12, (uint32_t)meta.len);
    memcpy(buf + 16, e->meta.db_id, 16);
    if (meta.len) memcpy(buf + APP_HDR, meta.ptr, meta.len);
    uint64_t sum = app_checksum(buf, buf + APP_HDR, meta.len);
    for (int i = 0; i < 8; i++) buf[32 + i] = (uint8_t)(sum >> (8 * i));
    char path[4200], tmp[4300];
    app_path(path, sizeof path, e, "");
    app_path(tmp, sizeof tmp, e, ".tmp");
    int err = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? (err = errno, ARM_IOERR) : ARM_OK;
    if (rc == ARM_OK) rc = arm_io_pwrite(NULL, fd, buf, APP_HDR + meta.len, 0, 1, &err);
    if (fd >= 0) close(fd);
    if (rc == ARM_OK && rename(tmp, path) != 0) rc = (err = errno, ARM_IOERR);
    if (rc == ARM_OK) rc = arm_io_sync_dir(e->dir, &err);
    if (rc != ARM_OK) (void)unlink(tmp);
    if (rc == ARM_OK && arm_buf_reserve(&e->app_meta, meta.len ? meta.len : 1) != ARM_OK)
        rc = ARM_NOMEM; /* on disk already: the next open reads it */
    if (rc == ARM_OK) {
        if (meta.len) memcpy(e->app_meta.ptr, meta.ptr, meta.len);
        e->app_meta.len = meta.len;
        e->app_meta_present = 1;
    }
    arm_free(buf);
    if (rc != ARM_OK && rc != ARM_NOMEM)
        return arm_engine_seterr(ARM_ERR(rc), err, "cannot write %s", path);
    return rc == ARM_OK ? ARM_OK : ARM_ERR(rc);
}

int arm_engine_app_meta_get(arm_engine *e, arm_buf *out) {
    out->len = 0;
    pthread_mutex_lock(&e->app_lock);
    int rc = e->app_meta_present ? ARM_OK : ARM_NOTFOUND;
    if (rc == ARM_OK && arm_buf_reserve(out, e->app_meta.len ? e->app_meta.len : 1) != ARM_OK)
        rc = ARM_ERR(ARM_NOMEM);
    if (rc == ARM_OK) {
        if (e->app_meta.len) memcpy(out->ptr, e->app_meta.ptr, e->app_meta.len);
        out->len = e->app_meta.len;
    }
    pthread_mutex_unlock(&e->app_lock);
    return rc;
}

int arm_engine_app_meta_set(arm_engine *e, arm_slice meta) {
    if (e->opts.read_only)
        return arm_engine_seterr(ARM_ERR(ARM_READONLY), 0, "%s is open read-only", e->dir);
    pthread_mutex_lock(&e->app_lock);
    int rc = arm_app_meta_write(e, meta);
    pthread_mutex_unlock(&e->app_lock);
    return rc;
}

#undef APP_HDR
#undef APP_VERSION
