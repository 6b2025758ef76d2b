/* SPDX-License-Identifier: MIT */
/*
 * arm_backup.c: armdb_backup(table, dir), an online logical copy of a table
 * into a fresh engine at dir. Every live key is read through a cursor of a
 * read-only transaction of its own (arm_vtab_cursor_open), so the copy is
 * one moment of the committed data, whatever commits while it runs (the
 * versions those commits replace are kept in memory until it ends), with
 * each value verified against its checksum as it is read; it is written to
 * the new engine, which is flushed and fdatasynced before the function
 * returns. The
 * copy records the table's declaration and no owner, so the first database
 * that opens it with that declaration (a restored or copied database file,
 * or a CREATE VIRTUAL TABLE ... dir='that directory') adopts it. Progress
 * goes to sqlite3_log (SQLITE_NOTICE) every ARM_BACKUP_LOG_KEYS keys or
 * ARM_BACKUP_LOG_BYTES bytes. armdb_salvage (arm_salvage.c) copies through
 * the same code from a private read-only engine. Layer: ext.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARM_BACKUP_LOG_KEYS  (1u << 16)          /* a progress line at least this often */
#define ARM_BACKUP_LOG_BYTES (64ull << 20)       /* ... or after this many bytes */

/* dir must not exist, or be an empty directory: a backup never mixes with
 * other files (and never writes into another table's directory). */
static int backup_dir_ok(const char *dir, int *existed, char **errmsg) {
    struct stat st;
    *existed = stat(dir, &st) == 0;
    if (!*existed) return ARM_OK;
    DIR *d = S_ISDIR(st.st_mode) ? opendir(dir) : NULL;
    int empty = d != NULL;
    for (struct dirent *de; d != NULL && empty && (de = readdir(d)) != NULL;)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    if (d != NULL) closedir(d);
    if (empty) return ARM_OK;
    *errmsg = sqlite3_mprintf("%s exists and is not an empty directory; back up into a new "
                              "or empty one", dir);
    return ARM_ERROR;
}

/* The new engine: the table's shard count and file options, its
 * declaration recorded with no owner, buffered writes (one fdatasync at the
 * end does the whole copy's durability). */
static int backup_open(arm_vtab *vt, const char *dir, uint32_t shards, arm_engine **out,
                       char **errmsg) {
    arm_ext_record r;
    memset(&r, 0, sizeof(r));
    r.decl = arm_record_decl(&vt->cfg);
    r.shared = vt->cfg.shared;
    int n = 0;
    char *blob = r.decl ? arm_record_encode(&r, &n) : NULL;
    arm_record_clear(&r);
    if (blob == NULL) return ARM_NOMEM;
    arm_engine_options o = vt->cfg.eng;
    o.shard_count = shards;
    o.sync_mode = ARM_SYNC_OFF;
    o.read_only = 0;
    o.create_if_missing = 1;
    o.cache_size = 0;
    o.app_meta = blob;
    o.app_meta_len = (uint32_t)n;
    int rc = arm_engine_open(dir, &o, out);
    sqlite3_free(blob);
    if (rc != ARM_OK)
        *errmsg = sqlite3_mprintf("cannot create %s: %s", dir, arm_engine_errmsg(NULL));
    return rc;
}

static void backup_log(const arm_vtab *vt, const arm_backup_result *res, const char *what) {
    sqlite3_log(SQLITE_NOTICE, "armdb_backup: %s: %llu keys, %llu bytes %s", vt->name,
                (unsigned long long)res->keys, (unsigned long long)res->bytes, what);
}

/* Copy every key the cursor shows into dst. */
static int backup_copy(arm_vtab *vt, arm_engine *src, arm_engine *dst, int skip_damaged,
                       arm_backup_result *res, char **errmsg) {
    arm_cursor *c = NULL;
    arm_txn *t = NULL; /* its own snapshot: not this connection's transaction */
    int rc = arm_txn_begin(src, NULL, ARM_TXN_READONLY, &t);
    if (rc == ARM_OK) rc = arm_vtab_cursor_open(vt, t, &c);
    uint64_t logged_keys = 0, logged_bytes = 0;
    for (rc = rc == ARM_OK ? arm_engine_cursor_first(c) : rc; rc == ARM_OK;
         rc = arm_engine_cursor_next(c)) {
        arm_slice v = {NULL, 0};
        rc = arm_engine_cursor_value(c, &v); // checksum verified here
        if (rc == ARM_CORRUPT && skip_damaged) { // salvage: leave the damaged value out
            res->damaged++;
            continue;
        }
        arm_slice k = arm_engine_cursor_key(c);
        if (rc == ARM_OK) rc = arm_engine_put(dst, k, v);
        if (rc != ARM_OK) {
            *errmsg = sqlite3_mprintf("%s", arm_engine_errmsg(NULL));
            break;
        }
        res->keys++;
        res->bytes += k.len + v.len;
        if (res->keys - logged_keys >= ARM_BACKUP_LOG_KEYS ||
            res->bytes - logged_bytes >= ARM_BACKUP_LOG_BYTES) {
            backup_log(vt, res, "copied so far");
            logged_keys = res->keys, logged_bytes = res->bytes;
        }
    }
    arm_engine_cursor_close(c);
    arm_txn_free(t);
    if (rc == ARM_NOTFOUND) rc = ARM_OK; // past the last key
    if (rc != ARM_OK && *errmsg == NULL)
        *errmsg = sqlite3_mprintf("%s", arm_engine_errmsg(NULL));
    return rc;
}

/* Undo a failed backup: dir was new or empty when it began, so everything
 * in it (files, and the shard directories' files) is the backup's. */
static void backup_remove(const char *dir, int existed) {
    DIR *d = opendir(dir);
    for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *p = sqlite3_mprintf("%s/%s", dir, de->d_name);
        if (p != NULL && unlink(p) != 0 && errno == EISDIR) {
            DIR *sd = opendir(p);
            for (struct dirent *f; sd != NULL && (f = readdir(sd)) != NULL;) {
                char *q = sqlite3_mprintf("%s/%s", p, f->d_name);
                if (q != NULL && f->d_name[0] != '.') (void)unlink(q);
                sqlite3_free(q);
            }
            if (sd != NULL) closedir(sd);
            (void)rmdir(p);
        }
        sqlite3_free(p);
    }
    if (d != NULL) closedir(d);
    if (!existed) (void)rmdir(dir);
}

ARM_PRIVATE int arm_backup_copy_engine(arm_vtab *vt, arm_engine *src, const char *dir,
                                       int skip_damaged, arm_backup_result *res,
                                       char **errmsg) {
    memset(res, 0, sizeof(*res));
    *errmsg = NULL;
    int existed = 0;
    int rc = backup_dir_ok(dir, &existed, errmsg);
    if (rc != ARM_OK) return rc; // not ours: touch nothing
    arm_engine_stats st;
    arm_engine_stats_get(src, &st);
    res->shards = st.shards;
    arm_engine *dst = NULL;
    rc = backup_open(vt, dir, st.shards, &dst, errmsg);
    if (rc == ARM_OK) rc = backup_copy(vt, src, dst, skip_damaged, res, errmsg);
    if (rc == ARM_OK && arm_engine_count(dst) != res->keys) {
        *errmsg = sqlite3_mprintf("the copy holds %llu keys, %llu were copied",
                                  (unsigned long long)arm_engine_count(dst),
                                  (unsigned long long)res->keys);
        rc = ARM_CORRUPT;
    }
    if (rc == ARM_OK) {
        rc = arm_engine_close(dst); // flushes and fdatasyncs everything
        dst = NULL;
        if (rc != ARM_OK) *errmsg = sqlite3_mprintf("%s", arm_engine_errmsg(NULL));
    }
    (void)arm_engine_close(dst);
    if (rc != ARM_OK) backup_remove(dir, existed); // a failed backup leaves nothing behind
    if (rc == ARM_OK) backup_log(vt, res, "copied: done");
    return rc;
}

ARM_PRIVATE int arm_backup_run(arm_vtab *vt, const char *dir, arm_backup_result *res,
                               char **errmsg) {
    return arm_backup_copy_engine(vt, vt->sh->engine, dir, 0, res, errmsg);
}

#undef ARM_BACKUP_LOG_KEYS
#undef ARM_BACKUP_LOG_BYTES
