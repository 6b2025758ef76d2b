/* SPDX-License-Identifier: MIT */
/*
 * arm_registry.c: the process-wide registry of open engines. The engine
 * refuses a second open of a directory (ARM_BUSY: the directory lock is per
 * open file description), so every table object of every connection on one
 * directory shares one arm_engine, counted by references and keyed by the
 * directory's realpath. Every open checks the table against the record in
 * the directory (arm_record.c) and writes the record when it changes. An
 * entry also holds the engine's replication leader or follower
 * (arm_repl_sql.c): a record that says the table follows starts following
 * again when the entry is made, and the last release stops replication
 * before it closes the engine.
 *
 * fork(): a child inherits the registry and its engines, whose threads,
 * buffers and file offsets are the parent's. Each entry remembers the pid
 * that opened it; the child abandons entries of another pid at its first
 * open (never flushing or closing them, only dropping its copy of the lock
 * descriptor) and opens afresh, which then meets the directory lock while
 * the parent holds it. pthread_atfork keeps the registry mutex usable in the
 * child.
 *
 * Every engine opened here joins one domain (reg_domain), so one snapshot
 * and one publish span all armdb tables of the process (arm_txn.c). It is
 * made with the first engine and freed with the last; a forked child never
 * uses its parent's (whose registered snapshots and locks are the
 * parent's), it makes its own. Layer: ext.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static arm_ext_shared *reg_list; /* guarded by reg_mu */
static pthread_once_t reg_atfork_once = PTHREAD_ONCE_INIT;
/* This process's pid, kept current by the fork handler: getpid() is a
 * system call, and every statement asks (arm_ext_pid). 0 until the first
 * open, before which no engine exists to compare with. */
static _Atomic pid_t reg_pid;
static arm_domain *reg_domain; /* guarded by reg_mu; NULL while no engine is open */
static pid_t reg_domain_pid;   /* the process reg_domain belongs to */

static void reg_lock(void) {
    pthread_mutex_lock(&reg_mu);
}
static void reg_unlock(void) {
    pthread_mutex_unlock(&reg_mu);
}
static void reg_child(void) {
    atomic_store(&reg_pid, getpid());
    reg_unlock();
}
/* A fork while another thread holds reg_mu would leave it locked forever in
 * the child: the fork waits for it instead. */
static void reg_atfork(void) {
    atomic_store(&reg_pid, getpid());
    (void)pthread_atfork(reg_lock, reg_unlock, reg_child);
}

ARM_PRIVATE pid_t arm_ext_pid(void) {
    return atomic_load_explicit(&reg_pid, memory_order_relaxed);
}

ARM_PRIVATE arm_domain *arm_ext_domain(void) {
    reg_lock();
    arm_domain *d = reg_domain_pid == arm_ext_pid() ? reg_domain : NULL;
    reg_unlock();
    return d;
}

ARM_PRIVATE void arm_ext_engine_ref(arm_ext_shared *sh) {
    reg_lock();
    assert(sh->refs > 0);
    sh->refs++;
    reg_unlock();
}

/* The last engine closed: the domain goes too (engines hold references of
 * their own, so this only drops the registry's). reg_mu held. */
static void reg_domain_release_if_idle(void) {
    if (reg_list == NULL && reg_domain != NULL) {
        if (reg_domain_pid == arm_ext_pid()) arm_domain_free(reg_domain);
        reg_domain = NULL;
    }
}

/* mkdir -p, bounded by the path's length. */
static int reg_mkdirs(const char *path) {
    char buf[PATH_MAX];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* Remove an engine's database: only the files the engine made (the engine
 * knows which), then the directory if that emptied it; a dir= that also
 * holds the user's own files keeps them. ARM_OK or the engine's code. */
static int reg_remove_dir(const char *path, int remove_parent) {
    int rc = arm_engine_destroy(path);
    if (rc == ARM_NOTFOUND) rc = ARM_OK; // nothing of ours there
    if (rc == ARM_OK && remove_parent) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", path);
        char *slash = strrchr(parent, '/');
        if (slash != NULL && slash != parent) {
            *slash = 0;
            (void)rmdir(parent); // fails, as it should, while other tables live there
        }
    }
    return rc;
}

static arm_ext_shared *reg_find(const char *path) {
    for (arm_ext_shared *s = reg_list; s != NULL; s = s->next)
        if (strcmp(s->path, path) == 0) return s;
    return NULL;
}

/* Entries another process (our parent, before a fork) opened: out of the
 * list, their lock descriptor dropped, nothing else touched. Table objects
 * inherited from the parent still point at them and are refused on use. */
static void reg_prune_forked(void) {
    pid_t me = arm_ext_pid();
    for (arm_ext_shared **pp = &reg_list; *pp != NULL;) {
        arm_ext_shared *s = *pp;
        if (s->pid == me) {
            pp = &s->next;
            continue;
        }
        *pp = s->next;
        s->next = NULL;
        arm_engine_abandon(s->engine);
    }
    /* The parent's domain is the parent's (its snapshots, its locks held at
     * the fork): left as it is, never freed or used here. */
    if (reg_domain != NULL && reg_domain_pid != me) reg_domain = NULL;
}

static int reg_engine_error(char **errmsg, const char *dir, int rc) {
    const char *m = arm_engine_errmsg(NULL);
    *errmsg = sqlite3_mprintf("armdb: cannot open %s: %s", dir, m && m[0] ? m : arm_rc_str(rc));
    return rc;
}

/* ------------------------------------------------------------ the record */
/* The record in sh's directory (r zeroed when there is none). ARM_OK; or
 * ARM_ERROR with *fail FOREIGN when the blob is not a table record. */
static int reg_record_read(arm_ext_shared *sh, arm_ext_record *r, int *fail, char **errmsg) {
    arm_buf b = {0};
    memset(r, 0, sizeof(*r));
    int rc = arm_engine_app_meta_get(sh->engine, &b);
    if (rc == ARM_NOTFOUND) rc = ARM_OK; // none yet: made before tables recorded this
    else if (rc == ARM_OK && arm_record_decode((const char *)b.ptr, b.len, r) != SQLITE_OK) {
        *errmsg = sqlite3_mprintf("armdb: %s holds armdb data that is not a table's (its "
                                  "application metadata is not a table record)", sh->path);
        *fail = ARM_EXT_FAIL_FOREIGN;
        rc = ARM_ERROR;
    } else if (rc != ARM_OK) {
        *fail = rc == ARM_NOMEM ? ARM_EXT_FAIL_NOMEM : ARM_EXT_FAIL_OTHER;
    }
    arm_buf_free(&b);
    return rc;
}

static int reg_record_write(arm_ext_shared *sh, const arm_ext_record *r, int *fail,
                            char **errmsg) {
    int n = 0;
    char *blob = arm_record_encode(r, &n);
    int rc = blob ? arm_engine_app_meta_set(sh->engine, arm_slice_make(blob, (size_t)n))
                  : ARM_NOMEM;
    sqlite3_free(blob);
    if (rc != ARM_OK) {
        *fail = rc == ARM_NOMEM ? ARM_EXT_FAIL_NOMEM : ARM_EXT_FAIL_OTHER;
        reg_engine_error(errmsg, sh->path, rc);
    }
    return rc;
}

/* Check the table against the record in sh's directory, and record what
 * changed (a read-only engine records nothing). */
static int reg_check(arm_ext_shared *sh, const arm_ext_config *cfg, const arm_ext_owner *me,
                     int create, int *fail, char **errmsg) {
    arm_ext_record r;
    int rc = reg_record_read(sh, &r, fail, errmsg);
    int changed = 0;
    if (rc == ARM_OK) {
        *fail = arm_record_check(&r, cfg, me, create, &changed, errmsg);
        if (*fail != ARM_EXT_FAIL_NONE) rc = *fail == ARM_EXT_FAIL_NOMEM ? ARM_NOMEM : ARM_ERROR;
    }
    if (rc == ARM_OK && changed && !sh->read_only) rc = reg_record_write(sh, &r, fail, errmsg);
    arm_record_clear(&r);
    return rc;
}

/* ------------------------------------------------------------ open/close */
/* Open the engine on real. A new database gets its record at creation (the
 * engine writes it before ARMDB). A directory whose record says it was
 * dropped (a crash cut the removal short) is removed now: it is missing to a
 * connect, and created afresh by a CREATE. */
static int reg_open(const char *real, const arm_ext_config *cfg, const arm_ext_owner *me,
                    int flags, arm_engine **out, int *fail, char **errmsg) {
    arm_ext_record r;
    memset(&r, 0, sizeof(r));
    r.decl = arm_record_decl(cfg);
    r.shared = cfg->shared;
    r.owner = *me; // borrowed for the encode below
    int n = 0;
    char *blob = r.decl ? arm_record_encode(&r, &n) : NULL;
    sqlite3_free(r.decl);
    memset(&r, 0, sizeof(r)); // r.owner was borrowed
    if (blob == NULL) return ARM_NOMEM;
    arm_engine_options opts = cfg->eng;
    opts.create_if_missing = (flags & ARM_EXT_OPEN_CREATE) != 0;
    opts.read_only = (flags & ARM_EXT_OPEN_READONLY) != 0;
    opts.app_meta = blob;
    opts.app_meta_len = (uint32_t)n;
    int rc = ARM_OK;
    if (reg_domain == NULL) {
        rc = arm_domain_new(&reg_domain);
        if (rc != ARM_OK) {
            sqlite3_free(blob);
            *fail = ARM_EXT_FAIL_NOMEM;
            return rc;
        }
        reg_domain_pid = arm_ext_pid();
    }
    opts.domain = reg_domain;
    for (int round = 0; round < 2; round++) {
        rc = arm_engine_open(real, &opts, out);
        if (rc != ARM_OK) break;
        arm_buf b = {0};
        int dropped = arm_engine_app_meta_get(*out, &b) == ARM_OK &&
                      arm_record_decode((const char *)b.ptr, b.len, &r) == SQLITE_OK && r.dropped;
        arm_buf_free(&b);
        arm_record_clear(&r);
        if (!dropped || opts.read_only) break;
        (void)arm_engine_close(*out);
        *out = NULL;
        rc = arm_engine_destroy(real);
        if (rc != ARM_OK || !opts.create_if_missing) break;
    }
    sqlite3_free(blob);
    if (rc == ARM_OK && *out == NULL) rc = ARM_NOTFOUND; // dropped: gone, and not created
    if (rc == ARM_NOTFOUND) {
        *fail = ARM_EXT_FAIL_MISSING;
        *errmsg = sqlite3_mprintf("armdb: %s holds no armdb database", real);
        return ARM_IOERR;
    }
    if (rc != ARM_OK) {
        *fail = rc == ARM_BUSY ? ARM_EXT_FAIL_BUSY : ARM_EXT_FAIL_OTHER;
        reg_engine_error(errmsg, real, rc);
    }
    return rc;
}

/* The directory does not exist: say so, and for a default directory also
 * how a copy of a database file gets its armdb data. */
static int reg_missing(const arm_ext_config *cfg, const arm_ext_owner *me, int *fail,
                       char **errmsg) {
    *fail = ARM_EXT_FAIL_MISSING;
    if (cfg->dir_default)
        *errmsg = sqlite3_mprintf("armdb: %s: directory %s is missing. If this database is a "
                                  "copy (.backup, VACUUM INTO, cp), the copy holds no armdb "
                                  "data: write it there with armdb_backup('%q', '%q') on the "
                                  "original", me->table, cfg->dir, me->table, cfg->dir);
    else
        *errmsg = sqlite3_mprintf("armdb: directory %s is missing", cfg->dir);
    return ARM_ERROR;
}

ARM_PRIVATE int arm_ext_engine_acquire(const arm_ext_config *cfg, const arm_ext_owner *me,
                                       int flags, arm_ext_shared **out, int *fail_out,
                                       char **errmsg) {
    char real[PATH_MAX];
    const int create = (flags & ARM_EXT_OPEN_CREATE) != 0;
    const int ro = (flags & ARM_EXT_OPEN_READONLY) != 0;
    *out = NULL;
    *errmsg = NULL;
    *fail_out = ARM_EXT_FAIL_NONE;
    (void)pthread_once(&reg_atfork_once, reg_atfork);
    struct stat st;
    int existed = stat(cfg->dir, &st) == 0; /* a CREATE that fails removes what it made */
    if (create && reg_mkdirs(cfg->dir) != 0) {
        *errmsg = sqlite3_mprintf("armdb: cannot create directory %s: %s", cfg->dir,
                                  strerror(errno));
        *fail_out = ARM_EXT_FAIL_OTHER;
        return ARM_IOERR;
    }
    if (realpath(cfg->dir, real) == NULL) {
        int err = errno;
        if (err == ENOENT) return reg_missing(cfg, me, fail_out, errmsg);
        *errmsg = sqlite3_mprintf("armdb: cannot open %s: %s", cfg->dir, strerror(err));
        *fail_out = ARM_EXT_FAIL_OTHER;
        return ARM_IOERR;
    }
    int rc = ARM_OK;
    reg_lock();
    reg_prune_forked();
    arm_ext_shared *sh = reg_find(real);
    if (sh != NULL && sh->doomed) {
        *errmsg = sqlite3_mprintf("armdb: %s is being dropped by another connection", real);
        *fail_out = ARM_EXT_FAIL_BUSY;
        rc = ARM_BUSY;
    } else if (sh != NULL && sh->read_only && !ro) {
        *errmsg = sqlite3_mprintf("armdb: %s is open read-only in this process (by a read-only "
                                  "connection or a read_only=1 table); close it to write to "
                                  "the directory", real);
        *fail_out = ARM_EXT_FAIL_OTHER;
        rc = ARM_READONLY;
    } else if (sh != NULL) {
        // shared: the engine was opened with someone's key, this table must
        // bring the same one (or none for a plain database)
        rc = arm_engine_key_verify(sh->engine, &cfg->eng);
        if (rc != ARM_OK) {
            reg_engine_error(errmsg, real, rc);
            *fail_out = ARM_EXT_FAIL_OTHER;
        }
        if (rc == ARM_OK) rc = reg_check(sh, cfg, me, create, fail_out, errmsg);
        if (rc == ARM_OK) sh->refs++;
    } else {
        arm_engine *e = NULL;
        sh = calloc(1, sizeof(*sh));
        char *path = strdup(real);
        rc = sh && path ? reg_open(real, cfg, me, flags, &e, fail_out, errmsg) : ARM_NOMEM;
        if (rc == ARM_OK) {
            sh->path = path, sh->engine = e, sh->refs = 1, sh->pid = arm_ext_pid();
            sh->read_only = ro;
            pthread_mutex_init(&sh->auto_mu, NULL);
            pthread_mutex_init(&sh->slots_mu, NULL);
            pthread_mutex_init(&sh->repl_mu, NULL);
            rc = reg_check(sh, cfg, me, create, fail_out, errmsg);
        }
        if (rc == ARM_OK && !ro) { /* a follower follows again, before anyone can write */
            arm_ext_record r;
            int f = 0;
            char *m = NULL;
            if (reg_record_read(sh, &r, &f, &m) == ARM_OK && r.follow != NULL)
                arm_ext_repl_resume(sh, &r);
            arm_record_clear(&r);
            sqlite3_free(m);
        }
        if (rc == ARM_OK) {
            sh->next = reg_list;
            reg_list = sh;
        } else {
            if (e != NULL) pthread_mutex_destroy(&sh->auto_mu);
            if (e != NULL) pthread_mutex_destroy(&sh->slots_mu);
            if (e != NULL) pthread_mutex_destroy(&sh->repl_mu);
            (void)arm_engine_close(e);
            free(path);
            free(sh);
            reg_domain_release_if_idle();
        }
        if (rc != ARM_OK) sh = NULL;
    }
    reg_unlock();
    if (rc == ARM_NOMEM && *fail_out == ARM_EXT_FAIL_NONE) *fail_out = ARM_EXT_FAIL_NOMEM;
    if (rc != ARM_OK && create && !existed) (void)rmdir(real); /* only if still empty */
    if (rc == ARM_OK) *out = sh;
    return rc;
}

ARM_PRIVATE int arm_ext_engine_users(const char *real) {
    reg_lock();
    reg_prune_forked();
    arm_ext_shared *sh = reg_find(real);
    int n = sh != NULL ? sh->refs : 0;
    reg_unlock();
    return n;
}

ARM_PRIVATE int arm_ext_engine_exclusive(const char *real, int (*fn)(void *), void *arg) {
    reg_lock();
    reg_prune_forked();
    int rc = reg_find(real) != NULL ? ARM_BUSY : fn(arg);
    reg_unlock();
    return rc;
}

ARM_PRIVATE void arm_ext_engine_release(arm_ext_shared *sh) {
    if (sh == NULL) return;
    reg_lock();
    assert(sh->refs > 0);
    if (--sh->refs > 0 || sh->pid != arm_ext_pid()) {
        reg_unlock(); // another process's engine (before a fork) is never closed here
        return;
    }
    for (arm_ext_shared **pp = &reg_list; *pp != NULL; pp = &(*pp)->next)
        if (*pp == sh) {
            *pp = sh->next;
            break;
        }
    /* Replication borrows the engine: its threads are joined first. No
     * connection can reach sh any more, so repl_mu is not needed. */
    arm_ext_repl_free(sh);
    // A failed final flush leaves nothing to report to: the tables are gone.
    (void)arm_engine_close(sh->engine);
    if (sh->doomed) (void)reg_remove_dir(sh->path, sh->remove_parent); // retried at next open
    reg_domain_release_if_idle();
    reg_unlock();
    while (sh->slots) {
        arm_ext_slots *next = sh->slots->next;
        free(sh->slots);
        sh->slots = next;
    }
    pthread_mutex_destroy(&sh->slots_mu);
    pthread_mutex_destroy(&sh->auto_mu);
    free(sh->path);
    free(sh);
}

ARM_PRIVATE int arm_ext_engine_drop(arm_ext_shared *sh, const arm_ext_owner *me,
                                    int remove_parent, int *kept_out, char **errmsg) {
    arm_ext_record r;
    int fail = 0;
    *kept_out = 0;
    *errmsg = NULL;
    reg_lock();
    int rc = reg_record_read(sh, &r, &fail, errmsg);
    /* A directory shared on purpose goes with its owner's table only. */
    int owner = r.owner.file == NULL ||
                (strcmp(r.owner.file, me->file) == 0 &&
                 sqlite3_stricmp(r.owner.table ? r.owner.table : "", me->table) == 0);
    if (rc == ARM_OK && !owner) *kept_out = 1;
    if (rc == ARM_OK && owner) {
        /* Recorded first, durably: if the process dies before the last
         * connection lets go, the next open removes the directory instead
         * of bringing the rows back. */
        r.dropped = 1;
        rc = sh->read_only ? ARM_READONLY : reg_record_write(sh, &r, &fail, errmsg);
        if (rc == ARM_READONLY)
            *errmsg = sqlite3_mprintf("armdb: %s is open read-only in this process", sh->path);
    }
    if (rc == ARM_OK && owner) {
        sh->doomed = 1;
        sh->remove_parent = remove_parent;
    }
    reg_unlock();
    arm_record_clear(&r);
    return rc;
}

ARM_PRIVATE int arm_ext_engine_destroy_dir(const arm_ext_config *cfg, const arm_ext_owner *me,
                                           char **errmsg) {
    /* The table could not open: read its record read-only (damage is
     * tolerated there) and remove the directory only if it is this table's. */
    char real[PATH_MAX];
    *errmsg = NULL;
    if (realpath(cfg->dir, real) == NULL) return ARM_OK; // nothing there
    arm_engine_options o = cfg->eng;
    o.read_only = 1;
    o.create_if_missing = 0;
    arm_engine *e = NULL;
    int rc = arm_engine_open(real, &o, &e);
    if (rc == ARM_NOTFOUND) return ARM_OK;
    if (rc != ARM_OK) return reg_engine_error(errmsg, real, rc);
    arm_ext_shared tmp;
    memset(&tmp, 0, sizeof(tmp));
    tmp.engine = e, tmp.path = real, tmp.read_only = 1;
    arm_ext_record r;
    int fail = 0, changed = 0;
    rc = reg_record_read(&tmp, &r, &fail, errmsg);
    if (rc == ARM_OK) fail = arm_record_check(&r, cfg, me, 0, &changed, errmsg);
    arm_record_clear(&r);
    (void)arm_engine_close(e);
    if (rc != ARM_OK || fail == ARM_EXT_FAIL_FOREIGN) {
        sqlite3_free(*errmsg);
        *errmsg = NULL;
        return ARM_NOTFOUND; // not ours to remove: only the schema entry goes
    }
    rc = reg_remove_dir(real, cfg->dir_default);
    if (rc != ARM_OK) reg_engine_error(errmsg, real, rc);
    return rc;
}

ARM_PRIVATE int arm_ext_engine_record_follow(arm_ext_shared *sh, const char *addr,
                                             const char *opts, char **errmsg) {
    arm_ext_record r;
    int fail = 0;
    *errmsg = NULL;
    reg_lock();
    int rc = sh->read_only ? ARM_READONLY : reg_record_read(sh, &r, &fail, errmsg);
    if (rc == ARM_READONLY)
        *errmsg = sqlite3_mprintf("armdb: %s is open read-only in this process", sh->path);
    if (rc == ARM_OK) {
        sqlite3_free(r.follow);
        sqlite3_free(r.follow_opts);
        r.follow = addr ? sqlite3_mprintf("%s", addr) : NULL;
        r.follow_opts = addr && opts && opts[0] ? sqlite3_mprintf("%s", opts) : NULL;
        if ((addr && !r.follow) || (addr && opts && opts[0] && !r.follow_opts)) rc = ARM_NOMEM;
        else rc = reg_record_write(sh, &r, &fail, errmsg);
        arm_record_clear(&r);
    }
    reg_unlock();
    return rc;
}

ARM_PRIVATE int arm_ext_engine_rename(arm_ext_shared *sh, const arm_ext_owner *me,
                                      const char *new_name, char **errmsg) {
    arm_ext_record r;
    int fail = 0;
    *errmsg = NULL;
    reg_lock();
    int rc = reg_record_read(sh, &r, &fail, errmsg);
    int mine = rc == ARM_OK && r.owner.file != NULL && strcmp(r.owner.file, me->file) == 0 &&
               sqlite3_stricmp(r.owner.table ? r.owner.table : "", me->table) == 0;
    if (mine && !sh->read_only) {
        sqlite3_free(r.owner.table);
        r.owner.table = sqlite3_mprintf("%s", new_name);
        rc = r.owner.table ? reg_record_write(sh, &r, &fail, errmsg) : ARM_NOMEM;
    }
    reg_unlock();
    arm_record_clear(&r);
    return rc;
}

ARM_PRIVATE int arm_ext_engine_move(arm_ext_shared *sh, const arm_ext_config *cfg,
                                    const char *new_dir, char **errmsg) {
    char real[PATH_MAX];
    int rc = ARM_OK;
    *errmsg = NULL;
    reg_lock();
    if (sh->refs != 1) {
        *errmsg = sqlite3_mprintf("armdb: cannot rename while another connection uses %s",
                                  sh->path);
        rc = ARM_BUSY;
    } else if (access(new_dir, F_OK) == 0) {
        *errmsg = sqlite3_mprintf("armdb: cannot rename: %s already exists", new_dir);
        rc = ARM_ERROR;
    }
    if (rc != ARM_OK) {
        reg_unlock();
        return rc;
    }
    arm_engine_options opts = cfg->eng;
    opts.create_if_missing = 0;
    opts.read_only = sh->read_only;
    opts.domain = reg_domain; /* sh's engine holds it: never NULL here */
    (void)arm_engine_close(sh->engine);
    sh->engine = NULL;
    const char *open_at = sh->path;
    if (rename(sh->path, new_dir) != 0) {
        *errmsg = sqlite3_mprintf("armdb: cannot rename %s to %s: %s", sh->path, new_dir,
                                  strerror(errno));
        rc = ARM_IOERR;
    } else if (realpath(new_dir, real) != NULL) {
        open_at = real;
    }
    arm_engine *e = NULL;
    int orc = arm_engine_open(open_at, &opts, &e);
    if (orc == ARM_OK) {
        sh->engine = e;
        if (open_at == real) {
            char *p = strdup(real);
            if (p != NULL) free(sh->path), sh->path = p;
        }
    } else {
        // The table is unusable until reconnected; say why.
        sqlite3_free(*errmsg);
        reg_engine_error(errmsg, open_at, orc);
        rc = orc;
    }
    reg_unlock();
    return rc;
}
