/* SPDX-License-Identifier: MIT */
/*
 * arm_txn.c: a connection's SQL transaction as armdb sees it (a context),
 * and SQLite's commit protocol mapped onto the engine's two-phase commit.
 * Layer: ext.
 *
 * A context holds one snapshot of every armdb table in the process (the
 * engines share one domain) and one engine transaction per engine touched.
 * It begins at the first armdb access of a transaction, and ends:
 *   - a writing one (a table got xBegin): at xCommit / xRollback;
 *   - inside BEGIN, read-only: when SQLite's transaction ends. SQLite tells
 *     a virtual table nothing about read-only transactions, so at its start
 *     the context reads the temp schema (a cached statement): that read
 *     transaction lasts exactly as long as SQLite's, and
 *     sqlite3_txn_state(db, "temp") then says whether we are still in it;
 *   - in autocommit mode, read-only: when its last cursor closes (a statement
 *     still running keeps SQLite's read transaction, and ours, open).
 * Reads go through the context's engine transactions (snapshot plus own
 * writes; point reads and scanned ranges recorded for validation when the
 * transaction may write).
 *
 * Commit: xSync prepares every written engine transaction (validation:
 * SQLITE_BUSY_SNAPSHOT on a conflict, nothing written); xCommit (after
 * SQLite's own commit succeeded) publishes them all at once, so other
 * connections see the whole transaction or none of it; xRollback discards.
 * A COMMIT that fails after xSync (SQLITE_BUSY, I/O error) publishes
 * nothing; the application may retry or roll back, and a write in between
 * un-prepares. With sync=full the fdatasync happens in publish, after SQLite
 * released its write lock, so concurrent committers share it.
 *
 * Where the decision lives: when the transaction writes one armdb engine and
 * no native table, the engine's prepare record is the decision (recovery
 * applies a prepared transaction; one rolled back after prepare gets an
 * abort record). Otherwise only SQLite's commit is atomic across everything,
 * so each engine's transaction is prepared with an external decision and
 * xSync writes its id into a slot of the table's decision table
 * "<table>_armdb" in the same SQLite transaction (as FTS5 writes its shadow
 * tables from xSync). After a crash the engine reports the transaction in
 * doubt and xConnect resolves it: committed exactly when its id is in a
 * slot. A slot is reused once the engine reports the outcome durable.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"
#include "../common/arm_alloc.h"

#include <stdlib.h>
#include <string.h>

#define CTX_PARTS_MAX  64 /* engines one transaction can write at once (arm_txn_publish) */
#define CTX_BUSY_TRIES 10 /* waits of CTX_WAIT_MS before a conflict at COMMIT is SQLITE_BUSY */
#define CTX_WAIT_MS    10 /* a new writer waits this long at most for decided commits */

typedef struct ctx_part {
    arm_ext_shared *sh; /* a reference held */
    arm_txn *txn;
    arm_vtab *owner;    /* a writer of this engine: its decision table records the outcome */
    int tracked;        /* txn records reads and may write */
    int ext;            /* prepared with an external decision */
    uint64_t rowed;     /* the id whose decision slot is in SQLite's transaction (0: none) */
} ctx_part;

struct arm_ext_ctx {
    arm_ext_conn *conn;
    int refs;           /* current context + open cursors + writer vtabs */
    int current;        /* conn->cur == this */
    int explicit_;      /* began inside BEGIN */
    int probed;         /* the temp read ran: txn_state(temp) tells the end */
    int writes;         /* a table got xBegin: ends at xCommit / xRollback */
    int ended;          /* published or discarded */
    int ncursors;       /* open cursors reading through it */
    int idle;           /* between statements: its snapshot may expire (arm_snapshot_idle) */
    arm_snapshot snap;
    ctx_part parts[CTX_PARTS_MAX];
    int nparts;
    arm_ext_ctx *next;  /* spare list */
};

static int ctx_shadow_make(arm_vtab *vt);
static void ctx_detach(arm_ext_conn *conn);

/* ---------------------------------------------------------------- errors */
static int ctx_error(arm_vtab *vt, int arm_rc, const char *what) {
    if (arm_rc == ARM_BUSY_SNAPSHOT) {
        arm_vtab_set_error(vt, "armdb: %s: %s: %s; the transaction is rolled back: retry it",
                           vt->name, what, arm_engine_errmsg(NULL));
        return SQLITE_BUSY_SNAPSHOT;
    }
    return arm_vtab_engine_error(vt, arm_rc, what);
}

/* ------------------------------------------------------------- lifetime */
/* Engine transactions are kept per connection and engine for the next
 * statement: a statement then allocates nothing. The cache holds an engine
 * reference. */
static arm_txn *ctx_cache_take(arm_ext_conn *conn, arm_ext_shared *sh) {
    for (int i = 0; i < ARM_EXT_TXN_CACHE; i++) {
        if (conn->txn_cache[i].sh != sh || conn->txn_cache[i].txn == NULL) continue;
        arm_txn *t = conn->txn_cache[i].txn;
        conn->txn_cache[i].txn = NULL;
        return t;
    }
    return NULL;
}

/* Keep t (discarded) for the next statement on sh, or free it. */
static void ctx_cache_put(arm_ext_conn *conn, arm_ext_shared *sh, arm_txn *t) {
    (void)arm_txn_discard(t);
    for (int i = 0; i < ARM_EXT_TXN_CACHE; i++) {
        if (conn->txn_cache[i].sh == sh && conn->txn_cache[i].txn == NULL) {
            conn->txn_cache[i].txn = t;
            return;
        }
    }
    for (int i = 0; i < ARM_EXT_TXN_CACHE; i++) {
        if (conn->txn_cache[i].sh != NULL) continue;
        arm_ext_engine_ref(sh);
        conn->txn_cache[i].sh = sh;
        conn->txn_cache[i].txn = t;
        return;
    }
    arm_txn_free(t);
}

/* Drop the cached transactions of sh (all when sh is NULL). */
static void ctx_cache_drop(arm_ext_conn *conn, const arm_ext_shared *sh) {
    for (int i = 0; i < ARM_EXT_TXN_CACHE; i++) {
        if (conn->txn_cache[i].sh == NULL || (sh && conn->txn_cache[i].sh != sh)) continue;
        arm_txn_free(conn->txn_cache[i].txn);
        arm_ext_engine_release(conn->txn_cache[i].sh);
        conn->txn_cache[i].sh = NULL;
        conn->txn_cache[i].txn = NULL;
    }
}

static void ctx_release(arm_ext_ctx *c) {
    for (int i = 0; i < c->nparts; i++) {
        ctx_cache_put(c->conn, c->parts[i].sh, c->parts[i].txn); /* discards what is open */
        arm_ext_engine_release(c->parts[i].sh);
    }
    c->nparts = 0;
    arm_snapshot_drop(&c->snap);
    arm_ext_conn *conn = c->conn;
    c->next = conn->spare;
    conn->spare = c;
    arm_ext_conn_unref(conn);
}

static void ctx_unref(arm_ext_ctx *c);

/* Between statements (no cursor reads through it): an abandoned transaction
 * (one whose end armdb cannot see, or an idle open one) must not keep
 * versions forever, so its snapshot may expire. */
static void ctx_idle(arm_ext_ctx *c) {
    if (c->idle || c->ended || c->ncursors) return;
    arm_snapshot_idle(&c->snap);
    c->idle = 1;
}

/* In use again: SQLITE_BUSY_SNAPSHOT when the snapshot expired meanwhile. */
static int ctx_resume(arm_ext_ctx *c, arm_vtab *vt) {
    if (!c->idle) return SQLITE_OK;
    int rc = arm_snapshot_resume(&c->snap);
    if (rc != ARM_OK) {
        arm_vtab_set_error(vt, "armdb: %s: this transaction stayed idle for over %u s (or while "
                           "others wrote a great deal), and the state it reads was reclaimed; "
                           "roll back and retry it", vt->name, 30u);
        return SQLITE_BUSY_SNAPSHOT;
    }
    c->idle = 0;
    return SQLITE_OK;
}

ARM_PRIVATE int arm_ext_ctx_resume(arm_vtab *vt) {
    return vt->ctx ? ctx_resume(vt->ctx, vt) : SQLITE_OK;
}

ARM_PRIVATE void arm_ext_ctx_ref(arm_ext_ctx *c) {
    c->refs++;
    c->ncursors++;
}

ARM_PRIVATE void arm_ext_ctx_unref(arm_ext_ctx *c) {
    if (c == NULL) return;
    c->ncursors--;
    /* A transaction lives on between its statements (an autocommit
     * statement's reads end with its last cursor instead). */
    if (c->refs > 1 && (c->explicit_ || c->writes)) ctx_idle(c);
    ctx_unref(c);
}

static void ctx_unref(arm_ext_ctx *c) {
    if (--c->refs == 0) {
        ctx_release(c);
        return;
    }
    /* An autocommit statement's reads are over with its last cursor: let the
     * snapshot go now, not at the connection's next statement. */
    if (c->refs == 1 && c->current && !c->writes && !c->explicit_) ctx_detach(c->conn);
}

/* The connection's transaction ended (or will not be this context's). */
static void ctx_detach(arm_ext_conn *conn) {
    arm_ext_ctx *c = conn->cur;
    if (c == NULL) return;
    conn->cur = NULL;
    c->current = 0;
    conn->our_changes = 0;
    conn->changes_mark = sqlite3_total_changes(conn->db);
    conn->created = 0;
    ctx_unref(c);
}

/* Does the current context still belong to the transaction running now? */
static int ctx_still_current(const arm_ext_ctx *c, sqlite3 *db) {
    if (c->writes) return 1; /* until xCommit / xRollback */
    if (c->explicit_) {
        if (sqlite3_get_autocommit(db)) return 0;
        return !c->probed || sqlite3_txn_state(db, "temp") != SQLITE_TXN_NONE;
    }
    return c->refs > 1; /* autocommit: while a statement still reads through it */
}

/* Open a read transaction on temp that lasts as long as SQLite's. */
static int ctx_probe(arm_vtab *vt) {
    if (sqlite3_libversion_number() < 3034000) return 0; /* no sqlite3_txn_state */
    if (vt->probe == NULL &&
        sqlite3_prepare_v2(vt->db, "SELECT 1 FROM temp.sqlite_master LIMIT 0", -1, &vt->probe,
                           NULL) != SQLITE_OK) {
        sqlite3_finalize(vt->probe);
        vt->probe = NULL;
        return 0;
    }
    int rc = sqlite3_step(vt->probe);
    sqlite3_reset(vt->probe);
    return rc == SQLITE_DONE && sqlite3_txn_state(vt->db, "temp") != SQLITE_TXN_NONE;
}

static int ctx_new(arm_vtab *vt, int write, arm_ext_ctx **out) {
    arm_ext_conn *conn = vt->conn;
    arm_domain *dom = arm_ext_domain();
    arm_ext_ctx *c = conn->spare;
    if (c != NULL) {
        conn->spare = c->next;
    } else {
        c = sqlite3_malloc64(sizeof(*c));
        if (c == NULL) return SQLITE_NOMEM;
    }
    memset(c, 0, sizeof(*c));
    c->conn = conn;
    arm_ext_conn_ref(conn);
    c->refs = 1;
    c->current = 1;
    c->explicit_ = !sqlite3_get_autocommit(vt->db);
    /* A writer starts where the commits decided before it (SQLite released
     * its lock to us) are published: the native order. */
    if (write) arm_domain_wait_prepared(dom, CTX_WAIT_MS);
    int rc = arm_snapshot_take(dom, &c->snap);
    if (rc != ARM_OK) {
        ctx_release(c);
        return SQLITE_NOMEM;
    }
    if (c->explicit_) c->probed = ctx_probe(vt);
    conn->cur = c;
    *out = c;
    return SQLITE_OK;
}

static ctx_part *ctx_find(arm_ext_ctx *c, const arm_ext_shared *sh) {
    for (int i = 0; i < c->nparts; i++)
        if (c->parts[i].sh == sh) return &c->parts[i];
    return NULL;
}

/* The part of vt's engine, made when missing; tracked when it may write. */
static int ctx_part_get(arm_vtab *vt, arm_ext_ctx *c, int tracked, ctx_part **out) {
    ctx_part *p = ctx_find(c, vt->sh);
    int flags = tracked ? 0 : ARM_TXN_READONLY;
    if (p != NULL) {
        if (tracked && !p->tracked) {
            /* A read-only statement's transaction turns writer: it tracked no
             * reads, so if anything changed since its snapshot its reads may
             * be stale (SQLite itself fails a stale read transaction that
             * starts writing the same way). */
            if (arm_txn_stale(p->txn)) {
                arm_vtab_set_error(vt, "armdb: %s: a statement still reading an older snapshot "
                                   "keeps this connection from writing; finish it and retry",
                                   vt->name);
                return SQLITE_BUSY_SNAPSHOT;
            }
            int rc = arm_txn_reset(p->txn, &c->snap, 0);
            if (rc != ARM_OK) return ctx_error(vt, rc, "begin");
            p->tracked = 1;
        }
        *out = p;
        return SQLITE_OK;
    }
    if (c->nparts == CTX_PARTS_MAX) {
        arm_vtab_set_error(vt, "armdb: one transaction can use at most %d armdb directories",
                           CTX_PARTS_MAX);
        return SQLITE_ERROR;
    }
    p = &c->parts[c->nparts];
    memset(p, 0, sizeof(*p));
    int rc;
    p->txn = ctx_cache_take(c->conn, vt->sh);
    if (p->txn != NULL && (rc = arm_txn_reset(p->txn, &c->snap, flags)) != ARM_OK) {
        arm_txn_free(p->txn);
        p->txn = NULL;
        return ctx_error(vt, rc, "begin");
    }
    if (p->txn == NULL && (rc = arm_txn_begin(vt->sh->engine, &c->snap, flags, &p->txn)) != ARM_OK)
        return ctx_error(vt, rc, "begin");
    arm_ext_engine_ref(vt->sh);
    p->sh = vt->sh;
    p->tracked = tracked;
    c->nparts++;
    *out = p;
    return SQLITE_OK;
}

ARM_PRIVATE int arm_ext_ctx_enter(arm_vtab *vt, int write, arm_ext_ctx **ctx_out, arm_txn **txn_out) {
    arm_ext_conn *conn = vt->conn;
    *ctx_out = NULL;
    *txn_out = NULL;
    if (write && vt->ctx != NULL) { /* already writing in this transaction */
        ctx_part *p = ctx_find(vt->ctx, vt->sh);
        *ctx_out = vt->ctx;
        *txn_out = p ? p->txn : NULL;
        if (p == NULL) return SQLITE_INTERNAL;
        return ctx_resume(vt->ctx, vt);
    }
    arm_ext_ctx *c = conn->cur;
    if (c != NULL && !ctx_still_current(c, vt->db)) {
        ctx_detach(conn);
        c = NULL;
    }
    int rc = c ? ctx_resume(c, vt) : ctx_new(vt, write, &c);
    if (rc != SQLITE_OK) return rc;
    ctx_part *p = NULL;
    rc = ctx_part_get(vt, c, write || c->explicit_ || c->writes, &p);
    if (rc != SQLITE_OK) return rc;
    if (write) {
        /* A table made before decision tables existed gets one at its first
         * write (DDL here is allowed; it joins this transaction). */
        if (!vt->has_shadow && !sqlite3_db_readonly(vt->db, vt->schema)) (void)ctx_shadow_make(vt);
        c->writes = 1;
        if (p->owner == NULL) p->owner = vt;
        vt->ctx = c;
        c->refs++;
        vt->nmarks = 0;
    }
    *ctx_out = c;
    *txn_out = p->txn;
    return SQLITE_OK;
}

ARM_PRIVATE arm_txn *arm_ext_ctx_wtxn(arm_vtab *vt) {
    if (vt->ctx == NULL) return NULL;
    ctx_part *p = ctx_find(vt->ctx, vt->sh);
    return p ? p->txn : NULL;
}

ARM_PRIVATE void arm_ext_ctx_changed(arm_vtab *vt) {
    vt->conn->our_changes++;
    if (vt->ctx) ctx_idle(vt->ctx); /* until its next use; cheap when a cursor is open */
}

/* ------------------------------------------- what the commit decision needs */
static struct arm_ext_hdr *ctx_schema(arm_ext_conn *conn, const char *name) {
    size_t n = strlen(name);
    if (n >= sizeof(conn->schemas[0].name)) return NULL;
    for (int i = 0; i < (int)(sizeof(conn->schemas) / sizeof(conn->schemas[0])); i++) {
        struct arm_ext_hdr *h = &conn->schemas[i];
        if (h->name[0] == 0) {
            memcpy(h->name, name, n + 1);
            h->wal = -1;
            return h;
        }
        if (strcmp(h->name, name) == 0) return h;
    }
    return NULL;
}

static int ctx_pragma_int(sqlite3 *db, const char *schema, const char *pragma, int *v) {
    char *sql = sqlite3_mprintf("PRAGMA \"%w\".%s", schema, pragma);
    sqlite3_stmt *st = NULL;
    int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) == SQLITE_TEXT)
            *v = sqlite3_stricmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
        else
            *v = sqlite3_column_int(st, 0);
    } else {
        rc = SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc;
}

/* In WAL mode a change to the database header alone (schema_version after
 * CREATE VIEW on a small schema, user_version, application_id) dirties only
 * page 1, which sqlite3_db_cacheflush never writes (it is always in use):
 * compare the header with what it was at the end of the previous
 * transaction. 1 when it differs or is not known. */
static int ctx_header_changed(sqlite3 *db, struct arm_ext_hdr *h, const char *schema) {
    static const char *const names[3] = {"schema_version", "user_version", "application_id"};
    int v[3], changed = h == NULL || !h->known;
    for (int i = 0; i < 3; i++)
        if (ctx_pragma_int(db, schema, names[i], &v[i]) != SQLITE_OK) return 1;
    if (h != NULL) {
        for (int i = 0; i < 3; i++) changed |= h->hdr[i] != v[i];
        memcpy(h->hdr, v, sizeof(v));
        h->known = 1; /* what it will be once this commits; a rollback makes it differ next time */
    }
    return changed;
}

/* Has this transaction changed schema `name` (not armdb's own writes)? */
static int ctx_schema_dirty(arm_ext_ctx *c, sqlite3 *db, const char *name, int *flushed) {
    sqlite3_file *jf = NULL;
    if (sqlite3_file_control(db, name, SQLITE_FCNTL_JOURNAL_POINTER, &jf) != SQLITE_OK) return 1;
    /* Rollback journal modes open the journal at the first page change. */
    if (jf == NULL || jf->pMethods == NULL) return 0;
    struct arm_ext_hdr *h = ctx_schema(c->conn, name);
    int wal = h ? h->wal : -1;
    if (wal != 1) { /* not known to be WAL: the open file may be a rollback journal */
        if (ctx_pragma_int(db, name, "journal_mode", &wal) != SQLITE_OK) return 1;
        if (h) h->wal = wal;
        if (!wal) return 1; /* a journal is open (PERSIST/exclusive: maybe): yes */
    }
    /* WAL: the page cache holds the changes. Pages not in use can be
     * written to the WAL early (they would be at commit anyway) and counted. */
    if (!*flushed) {
        int w0 = 0, w1 = 0, hi = 0;
        sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &w0, &hi, 0);
        int frc = sqlite3_db_cacheflush(db);
        sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &w1, &hi, 0);
        *flushed = frc != SQLITE_OK || w1 != w0 ? 2 : 1;
    }
    if (*flushed == 2) return 1;
    if (c->explicit_) {
        /* Completed statements' row changes beyond our own (a dirty page
         * still held by an open statement is not flushed), and the header. */
        if (sqlite3_total_changes(db) - c->conn->changes_mark != c->conn->our_changes) return 1;
        if (ctx_header_changed(db, h, name)) return 1;
    }
    return 0;
}

/* Does the transaction need its decision recorded in SQLite: does it write
 * armdb tables of more than one engine, or change native tables? When
 * unsure: yes (it costs a row in SQLite's commit; a wrong "no" would cost
 * atomicity across a crash). */
static int ctx_needs_decision(arm_ext_ctx *c, sqlite3 *db) {
    int engines = 0;
    for (int i = 0; i < c->nparts; i++) engines += arm_txn_write_count(c->parts[i].txn) > 0;
    if (engines > 1 || c->conn->created) return 1;
    if (sqlite3_libversion_number() < 3039000) return 1; /* sqlite3_db_name, txn_state */
    int flushed = 0;
    for (int i = 0;; i++) {
        const char *name = sqlite3_db_name(db, i);
        if (name == NULL) break;
        if (i == 1) continue; /* temp: nothing of it survives a crash */
        if (sqlite3_txn_state(db, name) != SQLITE_TXN_WRITE) continue;
        const char *file = sqlite3_db_filename(db, name);
        if (file == NULL || file[0] == 0) continue; /* in memory */
        if (ctx_schema_dirty(c, db, name, &flushed)) return 1;
    }
    return 0;
}

/* ---------------------------------------------------- the decision table */
/* "<table>_armdb" holds one row (rowid 1): owner, the 16-byte token that
 * names this table in the transactions it prepares, and slots, ARM_EXT_SLOTS
 * 8-byte little-endian transaction ids. A transaction whose decision is
 * SQLite's writes its id into a free slot from xSync, with the blob API:
 * inside SQLite's transaction, yet not a row change (changes() and
 * total_changes() stay as on a native table; so does making the table,
 * CREATE TABLE ... AS SELECT). A slot is free again once the outcome of the
 * id in it is durable in the engine. */
#define CTX_SLOT_BYTES 8

static char *ctx_shadow_name(const arm_vtab *vt, const char *table) {
    return sqlite3_mprintf("\"%w\".\"%w_armdb\"", vt->schema, table ? table : vt->name);
}

static int ctx_exec(arm_vtab *vt, const char *fmt, const char *a) {
    char *sql = sqlite3_mprintf(fmt, a);
    if (sql == NULL) return SQLITE_NOMEM;
    char *err = NULL;
    int rc = sqlite3_exec(vt->db, sql, NULL, NULL, &err);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        arm_vtab_set_error(vt, "armdb: %s: decision table: %s", vt->name,
                           err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return rc;
}

/* Make the decision table with a fresh owner token. */
static int ctx_shadow_make(arm_vtab *vt) {
    char *name = ctx_shadow_name(vt, NULL);
    if (name == NULL) return SQLITE_NOMEM;
    sqlite3_randomness(16, vt->owner);
    char hex[33];
    for (int i = 0; i < 16; i++) sqlite3_snprintf(3, hex + 2 * i, "%02x", vt->owner[i]);
    char *sql = sqlite3_mprintf("CREATE TABLE IF NOT EXISTS %s AS SELECT x'%s' AS owner, "
                                "zeroblob(%d) AS slots",
                                name, hex, ARM_EXT_SLOTS * CTX_SLOT_BYTES);
    sqlite3_free(name);
    int rc = sql ? ctx_exec(vt, "%s", sql) : SQLITE_NOMEM;
    sqlite3_free(sql);
    if (rc == SQLITE_OK) vt->has_shadow = 1;
    return rc;
}

ARM_PRIVATE int arm_ext_shadow_create(arm_vtab *vt, char **err) {
    int rc = ctx_shadow_make(vt);
    if (rc != SQLITE_OK && err != NULL && *err == NULL)
        *err = sqlite3_mprintf("%s", vt->base.zErrMsg ? vt->base.zErrMsg : sqlite3_errstr(rc));
    if (!sqlite3_get_autocommit(vt->db)) vt->conn->created = 1;
    return rc;
}

static uint64_t ctx_get64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* The engine's in-doubt transactions that this table prepared are resolved
 * by whether their id is in a slot. */
static void ctx_resolve(arm_vtab *vt, const uint8_t *slots, int nbytes) {
    arm_engine *e = vt->sh->engine;
    arm_indoubt *list = NULL;
    size_t n = 0;
    if (arm_engine_indoubt_list(e, &list, &n) != ARM_OK) return;
    for (size_t i = 0; i < n; i++) {
        if (memcmp(list[i].owner, vt->owner, 16) != 0) continue;
        int commit = 0;
        for (int j = 0; j + CTX_SLOT_BYTES <= nbytes; j += CTX_SLOT_BYTES)
            commit |= ctx_get64(slots + j) == list[i].id;
        int rc = arm_engine_indoubt_resolve(e, list[i].id, commit);
        sqlite3_log(rc == ARM_OK ? SQLITE_NOTICE : SQLITE_WARNING,
                    "armdb: %s: transaction %llu, prepared before a crash, %s%s", vt->name,
                    (unsigned long long)list[i].id, commit ? "committed" : "rolled back",
                    rc == ARM_OK ? "" : " could not be recorded; it stays in doubt");
    }
    arm_free(list);
}

ARM_PRIVATE int arm_ext_shadow_connect(arm_vtab *vt) {
    char *name = ctx_shadow_name(vt, NULL);
    char *sql = name ? sqlite3_mprintf("SELECT owner, slots FROM %s WHERE rowid = 1", name) : NULL;
    sqlite3_free(name);
    if (sql == NULL) return SQLITE_NOMEM;
    sqlite3_stmt *st = NULL;
    /* Missing: a table made before decision tables existed; xBegin makes it. */
    int rc = sqlite3_prepare_v2(vt->db, sql, -1, &st, NULL);
    sqlite3_free(sql);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
        memcpy(vt->owner, sqlite3_column_blob(st, 0), 16);
        vt->has_shadow = 1;
        if (vt->sh)
            ctx_resolve(vt, sqlite3_column_blob(st, 1), sqlite3_column_bytes(st, 1));
    }
    sqlite3_finalize(st);
    return SQLITE_OK;
}

ARM_PRIVATE int arm_ext_shadow_rename(arm_vtab *vt, const char *new_name) {
    if (!vt->has_shadow) return SQLITE_OK;
    char *from = ctx_shadow_name(vt, NULL);
    char *to = sqlite3_mprintf("\"%w_armdb\"", new_name);
    int rc = from && to ? SQLITE_OK : SQLITE_NOMEM;
    char *sql = rc == SQLITE_OK ? sqlite3_mprintf("ALTER TABLE %s RENAME TO %s", from, to) : NULL;
    if (rc == SQLITE_OK && sql == NULL) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK) rc = ctx_exec(vt, "%s", sql);
    sqlite3_free(sql);
    sqlite3_free(from);
    sqlite3_free(to);
    return rc;
}

ARM_PRIVATE int arm_ext_shadow_drop(arm_vtab *vt) {
    char *name = ctx_shadow_name(vt, NULL);
    if (name == NULL) return SQLITE_NOMEM;
    int rc = ctx_exec(vt, "DROP TABLE IF EXISTS %s", name);
    sqlite3_free(name);
    return rc;
}

/* This process's slot map for vt's decision table (made when missing);
 * sh->slots_mu held. */
static arm_ext_slots *ctx_slots(arm_vtab *vt) {
    arm_ext_slots *m = vt->sh->slots;
    while (m && memcmp(m->owner, vt->owner, 16) != 0) m = m->next;
    if (m == NULL && (m = calloc(1, sizeof(*m))) != NULL) {
        memcpy(m->owner, vt->owner, 16);
        m->next = vt->sh->slots;
        vt->sh->slots = m;
    }
    return m;
}

/* A slot whose transaction's outcome is durable (or that was never used
 * by this process: what the table held at connect was resolved then). */
static int ctx_slot_free(arm_engine *e, const arm_ext_slots *m) {
    for (int i = 0; i < ARM_EXT_SLOTS; i++)
        if (m->id[i] == 0 || arm_engine_txn_durable(e, m->id[i])) return i;
    return -1;
}

/* Record, inside SQLite's transaction, that transaction id commits with it. */
static int ctx_decide(arm_vtab *vt, uint64_t id) {
    arm_engine *e = vt->sh->engine;
    pthread_mutex_lock(&vt->sh->slots_mu);
    arm_ext_slots *m = ctx_slots(vt);
    int slot = m ? ctx_slot_free(e, m) : -1;
    if (m && slot < 0 && arm_engine_flush(e) == ARM_OK) slot = ctx_slot_free(e, m);
    if (slot >= 0) m->id[slot] = id;
    pthread_mutex_unlock(&vt->sh->slots_mu);
    if (m == NULL) return SQLITE_NOMEM;
    if (slot < 0) {
        arm_vtab_set_error(vt, "armdb: %s: %d transactions are committing at once; retry",
                           vt->name, ARM_EXT_SLOTS);
        return SQLITE_BUSY;
    }
    uint8_t le[CTX_SLOT_BYTES];
    for (int i = 0; i < CTX_SLOT_BYTES; i++) le[i] = (uint8_t)(id >> (8 * i));
    char *table = sqlite3_mprintf("%s_armdb", vt->name);
    sqlite3_blob *b = NULL;
    int rc = table ? sqlite3_blob_open(vt->db, vt->schema, table, "slots", 1, 1, &b) : SQLITE_NOMEM;
    if (rc == SQLITE_OK) rc = sqlite3_blob_write(b, le, CTX_SLOT_BYTES, slot * CTX_SLOT_BYTES);
    if (rc != SQLITE_OK)
        arm_vtab_set_error(vt, "armdb: %s: decision table %s: %s", vt->name, table ? table : "",
                           sqlite3_errmsg(vt->db));
    sqlite3_blob_close(b);
    sqlite3_free(table);
    return rc;
}

/* ---------------------------------------------------------------- commit */
ARM_PRIVATE int arm_ext_ctx_sync(arm_vtab *vt) {
    arm_ext_ctx *c = vt->ctx;
    if (c == NULL || c->ended) return SQLITE_OK;
    /* Every xSync of the transaction does all of it (idempotent): SQLite
     * calls each table's, and again when a COMMIT is retried. */
    int decide = ctx_needs_decision(c, vt->db);
    arm_txn *txns[CTX_PARTS_MAX];
    arm_txn_ext exts[CTX_PARTS_MAX];
    const arm_txn_ext *extp[CTX_PARTS_MAX];
    int n = 0;
    for (int i = 0; i < c->nparts; i++) {
        ctx_part *p = &c->parts[i];
        arm_vtab *owner = p->owner ? p->owner : vt;
        int writes = arm_txn_write_count(p->txn) > 0;
        if (writes && decide && !owner->has_shadow) {
            arm_vtab_set_error(owner, "armdb: %s: this transaction needs the decision table "
                               "%s_armdb, which is missing and could not be made", owner->name,
                               owner->name);
            return SQLITE_ERROR;
        }
        if (writes && arm_txn_id(p->txn) != 0 && p->ext != decide) {
            /* prepared the other way (more was written since): again */
            int rc = arm_txn_unprepare(p->txn);
            if (rc != ARM_OK) return ctx_error(owner, rc, "commit");
        }
        /* Parts that only read go too: their reads are validated with the
         * rest (what the transaction writes may depend on them). */
        if (!p->tracked) continue;
        memcpy(exts[n].owner, owner->owner, 16);
        extp[n] = writes && decide ? &exts[n] : NULL;
        txns[n++] = p->txn;
        p->ext = writes && decide;
    }
    /* ARM_BUSY: a key is held by, or was read by, another transaction that
     * is committing; that lasts microseconds (or as long as its own COMMIT
     * is kept waiting), so wait briefly for it before saying SQLITE_BUSY. */
    int rc = arm_txn_prepare_group(txns, (size_t)n, extp);
    for (int i = 0; rc == ARM_BUSY && i < CTX_BUSY_TRIES; i++) {
        arm_domain_wait_prepared(arm_engine_domain(vt->sh->engine), CTX_WAIT_MS);
        rc = arm_txn_prepare_group(txns, (size_t)n, extp);
    }
    if (rc != ARM_OK) return ctx_error(vt, rc, "commit");
    for (int i = 0; i < c->nparts; i++) {
        ctx_part *p = &c->parts[i];
        uint64_t id = arm_txn_id(p->txn);
        if (!p->ext || id == 0 || p->rowed == id) continue;
        int src = ctx_decide(p->owner ? p->owner : vt, id);
        if (src != SQLITE_OK) return src;
        p->rowed = id;
    }
    return SQLITE_OK;
}

ARM_PRIVATE int arm_ext_ctx_commit(arm_vtab *vt) {
    arm_ext_ctx *c = vt->ctx;
    if (c == NULL) return SQLITE_OK;
    vt->ctx = NULL;
    vt->nmarks = 0;
    if (!c->ended) {
        c->ended = 1;
        /* SQLite has committed: publish every engine's part at once. Nothing
         * can be reported from here (SQLite ignores it): a failure (an
         * fdatasync of sync=full) poisons the engine, so every later
         * statement on the table reports it, and goes to SQLite's log. */
        arm_txn *txns[CTX_PARTS_MAX];
        int n = 0;
        for (int i = 0; i < c->nparts; i++) {
            ctx_part *p = &c->parts[i];
            /* never prepared (xCommit without xSync: SQLite always syncs
             * first; be safe): prepared now */
            if (arm_txn_id(p->txn) == 0 && arm_txn_write_count(p->txn) > 0 &&
                arm_txn_prepare(p->txn, NULL) != ARM_OK)
                sqlite3_log(SQLITE_ERROR, "armdb: %s: commit without prepare failed: %s",
                            vt->name, arm_engine_errmsg(NULL));
            if (arm_txn_id(p->txn) != 0) txns[n++] = p->txn; /* only what was written */
        }
        /* Done reading, unless a statement still reads through it: a
         * registered snapshot would make the publish keep every version it
         * replaces. */
        if (c->ncursors == 0) arm_snapshot_drop(&c->snap);
        if (n) {
            int rc = arm_txn_publish(txns, (size_t)n);
            if (rc != ARM_OK)
                sqlite3_log(arm_ext_rc(rc), "armdb: %s: commit after SQLite's: %s", vt->name,
                            arm_engine_errmsg(NULL));
        }
        if (c->current) ctx_detach(c->conn);
    }
    ctx_unref(c);
    return SQLITE_OK;
}

ARM_PRIVATE int arm_ext_ctx_rollback(arm_vtab *vt) {
    arm_ext_ctx *c = vt->ctx;
    if (c == NULL) return SQLITE_OK;
    vt->ctx = NULL;
    vt->nmarks = 0;
    if (!c->ended) {
        c->ended = 1;
        for (int i = 0; i < c->nparts; i++) {
            int rc = arm_txn_discard(c->parts[i].txn);
            if (rc != ARM_OK)
                sqlite3_log(arm_ext_rc(rc), "armdb: %s: rollback: %s", vt->name,
                            arm_engine_errmsg(NULL));
        }
        if (c->current) ctx_detach(c->conn);
    }
    ctx_unref(c);
    return SQLITE_OK;
}

/* ----------------------------------------------------------------- going */
ARM_PRIVATE void arm_ext_ctx_vtab_gone(arm_vtab *vt) {
    if (vt->ctx != NULL) (void)arm_ext_ctx_rollback(vt);
    arm_ext_ctx *c = vt->conn->cur;
    /* the current context may still have a part on this engine: it must not
     * outlive the table's engine reference by much, so end it if idle */
    if (c != NULL && c->refs == 1 && !c->writes) ctx_detach(vt->conn);
    for (int i = 0; c != NULL && i < c->nparts; i++)
        if (c->parts[i].owner == vt) c->parts[i].owner = NULL;
    int shared = 0; /* another table of this connection on the same engine */
    for (arm_vtab *o = vt->conn->vtabs; o != NULL; o = o->next_in_conn)
        shared |= o != vt && o->sh == vt->sh;
    if (!shared && vt->sh) ctx_cache_drop(vt->conn, vt->sh);
    sqlite3_finalize(vt->probe);
    vt->probe = NULL;
}

ARM_PRIVATE void arm_ext_ctx_quiesce(arm_vtab *vt) {
    arm_ext_conn *conn = vt->conn;
    if (conn->cur != NULL && !ctx_still_current(conn->cur, vt->db)) ctx_detach(conn);
    if (vt->sh) ctx_cache_drop(conn, vt->sh);
}

ARM_PRIVATE void arm_ext_ctx_conn_gone(arm_ext_conn *conn) {
    ctx_cache_drop(conn, NULL);
    while (conn->spare) {
        arm_ext_ctx *next = conn->spare->next;
        sqlite3_free(conn->spare);
        conn->spare = next;
    }
}

#undef CTX_PARTS_MAX
#undef CTX_WAIT_MS
#undef CTX_SLOT_BYTES
