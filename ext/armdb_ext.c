/* SPDX-License-Identifier: MIT */
/*
 * armdb_ext.c: the extension's entry point (sqlite3_armdb_init, the only
 * SQLITE_EXTENSION_INIT1), the one table that turns ARM_* result codes into
 * SQLite codes, the per-connection state, and the process-wide registry of
 * open engines: the engine refuses a second open of a directory in one
 * process (ARM_BUSY), so every table and connection on one directory shares
 * one arm_engine, counted by references and keyed by the directory's
 * realpath. Layer: ext.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#include "armdb.h"
#include "ext_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------- rc translation */
/* Codes that are the same number in both worlds (arm_base.h chose them so). */
_Static_assert(ARM_OK == SQLITE_OK, "rc");
_Static_assert(ARM_ERROR == SQLITE_ERROR, "rc");
_Static_assert(ARM_BUSY == SQLITE_BUSY, "rc");
_Static_assert(ARM_NOMEM == SQLITE_NOMEM, "rc");
_Static_assert(ARM_READONLY == SQLITE_READONLY, "rc");
_Static_assert(ARM_IOERR == SQLITE_IOERR, "rc");
_Static_assert(ARM_CORRUPT == SQLITE_CORRUPT, "rc");
_Static_assert(ARM_FULL == SQLITE_FULL, "rc");
_Static_assert(ARM_TOOBIG == SQLITE_TOOBIG, "rc");
_Static_assert(ARM_CONSTRAINT == SQLITE_CONSTRAINT, "rc");
_Static_assert(ARM_MISUSE == SQLITE_MISUSE, "rc");
_Static_assert(ARM_AUTH == SQLITE_AUTH, "rc");
_Static_assert(ARM_RANGE == SQLITE_RANGE, "rc");

static const struct {
    int arm;
    int sqlite;
} ext_rc_map[] = {
    {ARM_OK, SQLITE_OK},
    {ARM_NOMEM, SQLITE_NOMEM},
    {ARM_IOERR, SQLITE_IOERR},
    {ARM_CORRUPT, SQLITE_CORRUPT_VTAB}, /* damage in the table's files, not in the db file */
    {ARM_BUSY, SQLITE_BUSY},
    {ARM_FULL, SQLITE_FULL},
    {ARM_MISUSE, SQLITE_MISUSE},
    {ARM_READONLY, SQLITE_READONLY},
    {ARM_TOOBIG, SQLITE_TOOBIG},
    {ARM_CONSTRAINT, SQLITE_CONSTRAINT},
    /* everything else, ARM_PANIC and ARM_CLOSED included: SQLITE_ERROR */
};

ARM_PRIVATE int arm_ext_rc(int arm_rc) {
    int primary = ARM_RC_PRIMARY(arm_rc);
    // ARM_NOTFOUND is a normal result; SQLite's 12 means something else
    if (ARM_NEVER(primary == ARM_NOTFOUND)) return SQLITE_ERROR;
    for (size_t i = 0; i < sizeof(ext_rc_map) / sizeof(ext_rc_map[0]); i++)
        if (ext_rc_map[i].arm == primary) return ext_rc_map[i].sqlite;
    return SQLITE_ERROR;
}

/* --------------------------------------------------------- the registry */
static pthread_mutex_t ext_registry_mu = PTHREAD_MUTEX_INITIALIZER;
static arm_ext_shared *ext_registry; /* guarded by ext_registry_mu */

/* mkdir -p, bounded by the path's length. */
static int ext_mkdirs(const char *path) {
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
 * knows which), then the directory if that emptied it. A dir= that also
 * holds the user's own files keeps them. */
static void ext_remove_dir(const char *path, int remove_parent) {
    if (arm_engine_destroy(path) != ARM_OK) return;
    if (remove_parent) {
        char parent[PATH_MAX];
        snprintf(parent, sizeof(parent), "%s", path);
        char *slash = strrchr(parent, '/');
        if (slash != NULL && slash != parent) {
            *slash = 0;
            (void)rmdir(parent); // fails, as it should, while other tables live there
        }
    }
}

static arm_ext_shared *ext_registry_find(const char *path) {
    for (arm_ext_shared *s = ext_registry; s != NULL; s = s->next)
        if (strcmp(s->path, path) == 0) return s;
    return NULL;
}

static int ext_open_error(char **errmsg, const char *dir, int rc) {
    const char *m = arm_engine_errmsg(NULL);
    *errmsg = sqlite3_mprintf("armdb: cannot open %s: %s", dir, m && m[0] ? m : arm_rc_str(rc));
    return rc;
}

ARM_PRIVATE int arm_ext_engine_acquire(const arm_ext_config *cfg, int create,
                                       arm_ext_shared **out, char **errmsg) {
    char real[PATH_MAX];
    *out = NULL;
    *errmsg = NULL;
    struct stat st;
    int existed = stat(cfg->dir, &st) == 0; /* a CREATE that fails removes what it made */
    if (create && ext_mkdirs(cfg->dir) != 0) {
        *errmsg = sqlite3_mprintf("armdb: cannot create directory %s: %s", cfg->dir,
                                  strerror(errno));
        return ARM_IOERR;
    }
    if (realpath(cfg->dir, real) == NULL) {
        int err = errno;
        *errmsg = err == ENOENT
                      ? sqlite3_mprintf("armdb: directory %s is missing", cfg->dir)
                      : sqlite3_mprintf("armdb: cannot open %s: %s", cfg->dir, strerror(err));
        return err == ENOENT ? ARM_ERROR : ARM_IOERR;
    }
    int rc = ARM_OK;
    pthread_mutex_lock(&ext_registry_mu);
    arm_ext_shared *sh = ext_registry_find(real);
    if (sh != NULL && !sh->doomed) {
        sh->refs++;
    } else if (sh != NULL) {
        *errmsg = sqlite3_mprintf("armdb: %s is being dropped by another connection", real);
        rc = ARM_BUSY;
    } else {
        arm_engine_options opts = cfg->eng;
        opts.create_if_missing = create;
        arm_engine *e = NULL;
        sh = calloc(1, sizeof(*sh));
        char *path = strdup(real);
        if (sh == NULL || path == NULL) rc = ARM_NOMEM;
        if (rc == ARM_OK) rc = arm_engine_open(real, &opts, &e);
        if (rc == ARM_OK) {
            sh->path = path, sh->engine = e, sh->refs = 1;
            pthread_mutex_init(&sh->auto_mu, NULL);
            sh->next = ext_registry;
            ext_registry = sh;
        } else {
            if (rc == ARM_NOTFOUND)
                *errmsg = sqlite3_mprintf("armdb: %s holds no armdb database", real);
            else
                ext_open_error(errmsg, real, rc);
            if (rc == ARM_NOTFOUND) rc = ARM_IOERR;
            if (create && !existed) (void)rmdir(real); /* only if still empty */
            free(path);
            free(sh);
            sh = NULL;
        }
    }
    pthread_mutex_unlock(&ext_registry_mu);
    if (rc == ARM_OK) *out = sh;
    return rc;
}

ARM_PRIVATE void arm_ext_engine_release(arm_ext_shared *sh) {
    if (sh == NULL) return;
    pthread_mutex_lock(&ext_registry_mu);
    assert(sh->refs > 0);
    if (--sh->refs > 0) {
        pthread_mutex_unlock(&ext_registry_mu);
        return;
    }
    for (arm_ext_shared **pp = &ext_registry; *pp != NULL; pp = &(*pp)->next)
        if (*pp == sh) {
            *pp = sh->next;
            break;
        }
    // A failed final flush leaves nothing to report to: the tables are gone.
    (void)arm_engine_close(sh->engine);
    if (sh->doomed) ext_remove_dir(sh->path, sh->remove_parent);
    pthread_mutex_unlock(&ext_registry_mu);
    pthread_mutex_destroy(&sh->auto_mu);
    free(sh->path);
    free(sh);
}

ARM_PRIVATE void arm_ext_engine_doom(arm_ext_shared *sh, int remove_parent) {
    pthread_mutex_lock(&ext_registry_mu);
    sh->doomed = 1;
    sh->remove_parent = remove_parent;
    pthread_mutex_unlock(&ext_registry_mu);
}

ARM_PRIVATE int arm_ext_engine_move(arm_ext_shared *sh, const arm_ext_config *cfg,
                                    const char *new_dir, char **errmsg) {
    char real[PATH_MAX];
    int rc = ARM_OK;
    *errmsg = NULL;
    pthread_mutex_lock(&ext_registry_mu);
    if (sh->refs != 1) {
        *errmsg = sqlite3_mprintf("armdb: cannot rename while another connection uses %s",
                                  sh->path);
        rc = ARM_BUSY;
    } else if (access(new_dir, F_OK) == 0) {
        *errmsg = sqlite3_mprintf("armdb: cannot rename: %s already exists", new_dir);
        rc = ARM_ERROR;
    }
    if (rc != ARM_OK) {
        pthread_mutex_unlock(&ext_registry_mu);
        return rc;
    }
    arm_engine_options opts = cfg->eng;
    opts.create_if_missing = 0;
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
        ext_open_error(errmsg, open_at, orc);
        rc = orc;
    }
    pthread_mutex_unlock(&ext_registry_mu);
    return rc;
}

/* ------------------------------------------------ per-connection state */
ARM_PRIVATE void arm_ext_conn_ref(arm_ext_conn *conn) {
    conn->refs++;
}

ARM_PRIVATE void arm_ext_conn_unref(void *p) {
    arm_ext_conn *conn = p;
    if (conn != NULL && --conn->refs == 0) {
        assert(conn->vtabs == NULL);
        sqlite3_free(conn);
    }
}

ARM_PRIVATE void arm_ext_conn_add(arm_ext_conn *conn, arm_vtab *vt) {
    vt->next_in_conn = conn->vtabs;
    conn->vtabs = vt;
}

ARM_PRIVATE void arm_ext_conn_remove(arm_ext_conn *conn, arm_vtab *vt) {
    for (arm_vtab **pp = &conn->vtabs; *pp != NULL; pp = &(*pp)->next_in_conn)
        if (*pp == vt) {
            *pp = vt->next_in_conn;
            return;
        }
}

/* The connected armdb table schema.table of this connection, or NULL. */
static arm_vtab *ext_conn_lookup(arm_ext_conn *conn, const char *schema, const char *table) {
    for (arm_vtab *vt = conn->vtabs; vt != NULL; vt = vt->next_in_conn)
        if (sqlite3_stricmp(vt->name, table) == 0 && sqlite3_stricmp(vt->schema, schema) == 0)
            return vt;
    return NULL;
}

/* Does schema hold a table (of any kind) named table? */
static int ext_schema_has_table(sqlite3 *db, const char *schema, const char *table) {
    char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\".sqlite_master WHERE type = 'table' AND "
                                "name = ?1 COLLATE NOCASE", schema);
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sql != NULL && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC) == SQLITE_OK)
        found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    sqlite3_free(sql);
    return found;
}

/* The database names of this connection in SQLite's lookup order for an
 * unqualified name: temp, main, then the attached ones in the order they
 * were attached. Returns how many (at most max), names sqlite3_malloc'd. */
#define EXT_SCHEMAS_MAX 128 /* SQLITE_MAX_ATTACHED is at most 125, plus main and temp */
static int ext_schemas(sqlite3 *db, char **names, int max) {
    sqlite3_stmt *st = NULL;
    int n = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA database_list", -1, &st, NULL) != SQLITE_OK) return 0;
    while (n < max && sqlite3_step(st) == SQLITE_ROW) {
        const char *nm = (const char *)sqlite3_column_text(st, 1);
        if (nm == NULL || (names[n] = sqlite3_mprintf("%s", nm)) == NULL) continue;
        if (sqlite3_stricmp(nm, "temp") == 0 && n > 0) { // temp goes first
            char *t = names[n];
            memmove(names + 1, names, (size_t)n * sizeof(char *));
            names[0] = t;
        }
        n++;
    }
    sqlite3_finalize(st);
    return n;
}

/* A table not used yet since the database was opened is not connected;
 * preparing a statement on it connects it. */
static void ext_conn_touch(arm_ext_conn *conn, const char *schema, const char *table) {
    char *sql = sqlite3_mprintf("SELECT 0 FROM \"%w\".\"%w\" LIMIT 0", schema, table);
    sqlite3_stmt *st = NULL;
    if (sql != NULL && sqlite3_prepare_v2(conn->db, sql, -1, &st, NULL) == SQLITE_OK)
        sqlite3_finalize(st);
    sqlite3_free(sql);
}

/* Names resolve as SQLite resolves them: 'schema.table' names one database
 * (when the part before the dot is one); a bare name is looked up in temp,
 * main, then the attached databases in order, and the first database that
 * has a table of that name decides (if that table is no armdb table, the
 * name is an error, as it would be in SQL). */
ARM_PRIVATE arm_vtab *arm_ext_conn_find(arm_ext_conn *conn, const char *name, char **errmsg) {
    char *schemas[EXT_SCHEMAS_MAX];
    int n = ext_schemas(conn->db, schemas, EXT_SCHEMAS_MAX);
    const char *dot = strchr(name, '.');
    char *schema = NULL, *table = NULL;
    *errmsg = NULL;
    for (int i = 0; dot != NULL && i < n && schema == NULL; i++)
        if ((size_t)(dot - name) == strlen(schemas[i]) &&
            sqlite3_strnicmp(schemas[i], name, (int)(dot - name)) == 0) {
            schema = schemas[i];
            table = sqlite3_mprintf("%s", dot + 1);
        }
    for (int i = 0; schema == NULL && i < n; i++)
        if (ext_schema_has_table(conn->db, schemas[i], name)) {
            schema = schemas[i];
            table = sqlite3_mprintf("%s", name);
        }
    arm_vtab *vt = NULL;
    if (schema != NULL && table != NULL) {
        vt = ext_conn_lookup(conn, schema, table);
        if (vt == NULL) ext_conn_touch(conn, schema, table);
        if (vt == NULL) vt = ext_conn_lookup(conn, schema, table);
        if (vt == NULL && ext_schema_has_table(conn->db, schema, table))
            *errmsg = sqlite3_mprintf("%s.%s is not an armdb table", schema, table);
    }
    if (vt == NULL && *errmsg == NULL) *errmsg = sqlite3_mprintf("no armdb table named '%s'", name);
    sqlite3_free(table);
    for (int i = 0; i < n; i++) sqlite3_free(schemas[i]);
    return vt;
}

/* ----------------------------------------------------------- entry point */
ARM_API int sqlite3_armdb_init(struct sqlite3 *db, char **pzErrMsg,
                               const struct sqlite3_api_routines *pApi) {
    SQLITE_EXTENSION_INIT2(pApi);
    // Writable WITHOUT ROWID virtual tables need 3.21, sqlite3_vtab_collation
    // 3.22, sqlite3_str 3.25. Newer API (SQLITE_INNOCUOUS 3.31, sqlite3_vtab_in
    // 3.38) is used only after a runtime version check.
    if (sqlite3_libversion_number() < 3025000) {
        *pzErrMsg = sqlite3_mprintf("armdb needs SQLite 3.25.0 or newer (this is %s)",
                                    sqlite3_libversion());
        return SQLITE_ERROR;
    }
    arm_ext_conn *conn = sqlite3_malloc64(sizeof(*conn));
    if (conn == NULL) return SQLITE_NOMEM;
    memset(conn, 0, sizeof(*conn));
    conn->db = db;
    conn->refs = 1; // ours, until registration is done
    arm_ext_conn_ref(conn);
    // SQLite calls the destructor even when registration fails
    int rc = sqlite3_create_module_v2(db, "armdb", arm_vtab_module(), conn, arm_ext_conn_unref);
    if (rc == SQLITE_OK) rc = arm_func_register(db, conn);
    arm_ext_conn_unref(conn);
    if (rc != SQLITE_OK && *pzErrMsg == NULL)
        *pzErrMsg = sqlite3_mprintf("armdb: cannot register: %s", sqlite3_errmsg(db));
    return rc;
}

#undef EXT_SCHEMAS_MAX
