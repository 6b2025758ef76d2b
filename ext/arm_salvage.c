/* SPDX-License-Identifier: MIT */
/*
 * arm_salvage.c: armdb_salvage(table), which rebuilds a table from its
 * intact entries: one that cannot open because of damage, or one that is
 * open (let go first, when nothing else uses it). With the registry locked
 * (no connection of the process opens the directory meanwhile) the
 * directory D is opened read-only (it reads on past each damaged stretch),
 * checked (what arm_engine_check reports is what is dropped), and copied
 * with armdb_backup's code (arm_backup_copy_engine: same declaration, shard
 * count and key, made durable; a value failing its checksum is left out)
 * into the sibling D.salvage-new. Then
 * renameat2(RENAME_EXCHANGE) swaps the two names in one step and the parent
 * is fsynced: at every instant some directory holds the table's name (the
 * old one, or the new one), never neither. The damaged directory, now at
 * D.salvage-new, is renamed to D.damaged (-2, -3, ... when taken) and kept:
 * salvage never deletes user data. A D.salvage-new found at the start (a
 * salvage cut short: an unfinished copy, or the damaged original after the
 * exchange) is set aside as D.salvage-leftover (-2, ...) and reported, never
 * removed. Layer: ext.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SALVAGE_NAME_TRIES 1000 /* D.damaged, D.damaged-2, ... D.damaged-1000 */

/* fsync the directory holding path, so a rename in it is durable. */
static int salvage_sync_parent(const char *path) {
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == NULL) return -1;
    if (slash == parent) slash[1] = 0;
    else *slash = 0;
    int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* base + suffix, or base + suffix + "-N" for the first N not taken
 * (sqlite3_malloc; NULL when every one is taken or on OOM). */
static char *salvage_free_name(const char *base, const char *suffix) {
    for (int i = 1; i <= SALVAGE_NAME_TRIES; i++) {
        char *p = i == 1 ? sqlite3_mprintf("%s%s", base, suffix)
                         : sqlite3_mprintf("%s%s-%d", base, suffix, i);
        struct stat st;
        if (p == NULL || lstat(p, &st) != 0) return p;
        sqlite3_free(p);
    }
    return NULL;
}

/* Move path to a free base+suffix name, durably; the new name, or NULL with
 * *errmsg set. */
static char *salvage_set_aside(const char *path, const char *base, const char *suffix,
                               char **errmsg) {
    char *to = salvage_free_name(base, suffix);
    if (to == NULL) {
        *errmsg = sqlite3_mprintf("no free name %s%s[-N] to keep %s under", base, suffix, path);
        return NULL;
    }
    if (rename(path, to) != 0 || salvage_sync_parent(to) != 0) {
        *errmsg = sqlite3_mprintf("cannot rename %s to %s: %s", path, to, strerror(errno));
        sqlite3_free(to);
        return NULL;
    }
    return to;
}

typedef struct salvage_drops {
    sqlite3_str *out;
    uint64_t n;
} salvage_drops;

static void salvage_report(void *p, const char *path, uint64_t offset, const char *message) {
    salvage_drops *d = p;
    sqlite3_str_appendall(d->out, d->n++ ? ",{\"path\":" : "{\"path\":");
    arm_func_json_str(d->out, path);
    sqlite3_str_appendf(d->out, ",\"offset\":%llu,\"message\":", (unsigned long long)offset);
    arm_func_json_str(d->out, message);
    sqlite3_str_appendchar(d->out, 1, '}');
}

/* The directory's record must be this table's (the same check an open
 * makes): salvage never rebuilds another table's data under this name. */
static int salvage_is_ours(arm_vtab *vt, arm_engine *src, char **errmsg) {
    arm_buf b = {0};
    arm_ext_record r;
    memset(&r, 0, sizeof(r));
    int rc = arm_engine_app_meta_get(src, &b);
    if (rc == ARM_NOTFOUND) rc = ARM_OK; // no record (earlier versions): as an open takes it
    else if (rc == ARM_OK && arm_record_decode((const char *)b.ptr, b.len, &r) != SQLITE_OK)
        rc = ARM_CORRUPT, *errmsg = sqlite3_mprintf("its table record is damaged");
    if (rc == ARM_OK) {
        int changed = 0;
        int fail = arm_record_check(&r, &vt->cfg, &vt->me, 0, &changed, errmsg);
        if (fail == ARM_EXT_FAIL_NOMEM) rc = ARM_NOMEM;
        else if (fail != ARM_EXT_FAIL_NONE) rc = ARM_ERROR;
    }
    arm_record_clear(&r);
    arm_buf_free(&b);
    return rc;
}

typedef struct salvage_result {
    arm_backup_result copy;
    char *kept;     /* where the damaged directory is now (sqlite3_malloc) */
    char *leftover; /* an earlier, interrupted salvage's directory set aside, or NULL */
} salvage_result;

/* The steps of the header comment on real, vt's directory, which no
 * connection of the process has open (the registry is locked meanwhile). */
static int salvage_run(arm_vtab *vt, const char *real, salvage_drops *drops,
                       salvage_result *res, char **errmsg) {
    char *tmp = sqlite3_mprintf("%s.salvage-new", real);
    if (tmp == NULL) return ARM_NOMEM;
    int rc = ARM_OK;
    struct stat st;
    if (lstat(tmp, &st) == 0) {
        res->leftover = salvage_set_aside(tmp, real, ".salvage-leftover", errmsg);
        if (res->leftover == NULL) rc = ARM_IOERR;
    }
    arm_engine *src = NULL;
    if (rc == ARM_OK) {
        arm_engine_options o = vt->cfg.eng; // the table's key, if it has one
        o.read_only = 1;
        o.create_if_missing = 0;
        rc = arm_engine_open(real, &o, &src);
        if (rc != ARM_OK) *errmsg = sqlite3_mprintf("%s", arm_engine_errmsg(NULL));
    }
    if (rc == ARM_OK) rc = salvage_is_ours(vt, src, errmsg);
    uint64_t nprob = 0;
    if (rc == ARM_OK) {
        rc = arm_engine_check(src, salvage_report, NULL, drops, &nprob);
        if (rc != ARM_OK) *errmsg = sqlite3_mprintf("%s", arm_engine_errmsg(src));
    }
    // the copy removes what it made if it fails: the directory is left as it was
    if (rc == ARM_OK) rc = arm_backup_copy_engine(vt, src, tmp, 1, &res->copy, errmsg);
    (void)arm_engine_close(src); // read-only: nothing to flush
    if (rc == ARM_OK && renameat2(AT_FDCWD, tmp, AT_FDCWD, real, RENAME_EXCHANGE) != 0) {
        *errmsg = sqlite3_mprintf("cannot swap %s and %s (%s); the salvaged copy is kept at %s",
                                  tmp, real, strerror(errno), tmp);
        rc = ARM_IOERR; // the copy stays: the next salvage sets it aside as a leftover
    }
    if (rc == ARM_OK && salvage_sync_parent(real) != 0) {
        *errmsg = sqlite3_mprintf("cannot sync the directory holding %s: %s", real,
                                  strerror(errno));
        rc = ARM_IOERR;
    }
    if (rc == ARM_OK) {
        res->kept = salvage_set_aside(tmp, real, ".damaged", errmsg);
        if (res->kept == NULL) rc = ARM_IOERR;
    }
    sqlite3_free(tmp);
    return rc;
}

typedef struct salvage_job {
    arm_vtab *vt;
    const char *real;
    salvage_drops *drops;
    salvage_result *res;
    char **errmsg;
} salvage_job;

static int salvage_job_run(void *p) {
    salvage_job *j = p;
    return salvage_run(j->vt, j->real, j->drops, j->res, j->errmsg);
}

static void salvage_error(sqlite3_context *ctx, int code, const char *name, const char *msg) {
    char *m = sqlite3_mprintf("armdb_salvage: %s: %s", name, msg);
    sqlite3_result_error(ctx, m ? m : "armdb: out of memory", -1);
    sqlite3_result_error_code(ctx, code);
    sqlite3_free(m);
}

ARM_PRIVATE void arm_salvage_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    sqlite3 *db = sqlite3_context_db_handle(ctx);
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    if (name == NULL) {
        sqlite3_result_error(ctx, "armdb_salvage: the table name must not be NULL", -1);
        return;
    }
    // the directory is replaced at once: a ROLLBACK could not bring it back
    if (!sqlite3_get_autocommit(db)) {
        salvage_error(ctx, SQLITE_ERROR, name, "cannot run inside a transaction; commit first");
        return;
    }
    char *err = NULL;
    arm_vtab *vt = arm_ext_conn_find(sqlite3_user_data(ctx), name, &err);
    if (vt == NULL) {
        sqlite3_result_error(ctx, err ? err : "armdb_salvage: no such table", -1);
        sqlite3_free(err);
        return;
    }
    if (vt->cfg.read_only) {
        salvage_error(ctx, SQLITE_READONLY, vt->name,
                      "declared read_only=1; salvage the table the directory belongs to");
        return;
    }
    char real[PATH_MAX];
    if (realpath(vt->cfg.dir, real) == NULL) {
        char *m = sqlite3_mprintf("%s: %s", vt->cfg.dir, strerror(errno));
        salvage_error(ctx, SQLITE_IOERR, vt->name, m ? m : "out of memory");
        sqlite3_free(m);
        return;
    }
    if (vt->sh == NULL && vt->open_kind != ARM_EXT_FAIL_OTHER) {
        // busy, missing, another table's, a forked copy: nothing salvage can mend
        salvage_error(ctx, vt->open_rc ? vt->open_rc : SQLITE_ERROR, vt->name,
                      vt->open_err ? vt->open_err : "cannot open");
        return;
    }
    if (vt->sh != NULL) {
        /* An open table is closed first. Its reference is the engine's only
         * one once this connection's idle transactions let go: any cursor
         * or transaction on it (this statement's too) holds another. */
        arm_ext_ctx_quiesce(vt);
        int users = arm_ext_engine_users(real);
        if (vt->sh->pid != arm_ext_pid() || arm_ext_repl_active(vt->sh) || users != 1) {
            salvage_error(ctx, SQLITE_BUSY, vt->name,
                          "the table is in use (by another connection or statement of this "
                          "process, or by replication): close what uses it first");
            return;
        }
        arm_ext_engine_release(vt->sh);
        vt->sh = NULL;
    }
    salvage_drops drops = {sqlite3_str_new(db), 0};
    salvage_result res;
    memset(&res, 0, sizeof(res));
    salvage_job job = {vt, real, &drops, &res, &err};
    int rc = arm_ext_engine_exclusive(real, salvage_job_run, &job);
    if (rc == ARM_BUSY && err == NULL)
        err = sqlite3_mprintf("another connection of this process has its directory open (a "
                              "read-only connection or a read_only=1 table): close it first");
    char *list = sqlite3_str_finish(drops.out);
    /* The rebuilt directory (or, when salvage failed, the one that was
     * there) opens again; if it does not, the table reports why at its next
     * use, as after any failed open. */
    (void)arm_vtab_reopen(vt);
    if (rc == ARM_OK) {
        sqlite3_str *s = sqlite3_str_new(db);
        sqlite3_str_appendall(s, "{\"table\":");
        arm_func_json_str(s, vt->name);
        sqlite3_str_appendf(s, ",\"keys\":%llu,\"keys_dropped\":%llu,\"shards\":%u,"
                            "\"dropped_count\":%llu,\"dropped\":[%s],\"kept\":",
                            (unsigned long long)res.copy.keys,
                            (unsigned long long)res.copy.damaged, res.copy.shards,
                            (unsigned long long)drops.n, list ? list : "");
        arm_func_json_str(s, res.kept);
        sqlite3_str_appendall(s, ",\"leftover\":");
        if (res.leftover) arm_func_json_str(s, res.leftover);
        else sqlite3_str_appendall(s, "null");
        sqlite3_str_appendchar(s, 1, '}');
        int src = sqlite3_str_errcode(s);
        char *z = sqlite3_str_finish(s);
        if (src != SQLITE_OK || z == NULL) {
            sqlite3_free(z);
            sqlite3_result_error_nomem(ctx);
        } else {
            sqlite3_result_text(ctx, z, -1, sqlite3_free);
        }
    } else if (rc == ARM_NOMEM) {
        sqlite3_result_error_nomem(ctx);
    } else {
        salvage_error(ctx, arm_ext_rc(rc), vt->name, err ? err : arm_rc_str(rc));
    }
    sqlite3_free(list);
    sqlite3_free(err);
    sqlite3_free(res.kept);
    sqlite3_free(res.leftover);
}

#undef SALVAGE_NAME_TRIES
