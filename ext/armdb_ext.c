/* SPDX-License-Identifier: MIT */
/*
 * armdb_ext.c: the extension's entry point (sqlite3_armdb_init, the only
 * SQLITE_EXTENSION_INIT1), the one table that turns ARM_* result codes into
 * SQLite codes, the per-connection state and how armdb_* functions find a
 * table by name. The registry of open engines is arm_registry.c. Layer: ext.
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

/* ------------------------------------------------ per-connection state */
ARM_PRIVATE void arm_ext_conn_ref(arm_ext_conn *conn) {
    conn->refs++;
}

ARM_PRIVATE void arm_ext_conn_unref(void *p) {
    arm_ext_conn *conn = p;
    if (conn != NULL && --conn->refs == 0) {
        assert(conn->vtabs == NULL);
        assert(conn->cur == NULL);
        arm_ext_ctx_conn_gone(conn);
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
    /* Every connection that loads the extension gets here, on any thread,
     * while other threads already call SQLite through sqlite3_api: it is
     * written once, under a lock, and never again (SQLite hands every
     * connection the same table), so no thread writes while others read. */
    if (__atomic_load_n(&sqlite3_api, __ATOMIC_ACQUIRE) != pApi) {
        static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&init_mu);
        if (sqlite3_api != pApi) __atomic_store_n(&sqlite3_api, pApi, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&init_mu);
    }
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
