/* SPDX-License-Identifier: MIT */
/*
 * arm_vtab.c: the `armdb` virtual-table module. Each table is one engine
 * directory (shared process-wide, see arm_registry.c); a connection's table
 * objects read and write through its transaction context (arm_txn.c).
 * Layer: ext.
 *
 * ===================================================================== formats
 * Keys (the engine orders keys by memcmp, shorter first on a tie):
 *   INTEGER  8 bytes big-endian of (value XOR 0x8000000000000000): the sign
 *            bit flipped, so memcmp order is numeric order, negatives first.
 *   TEXT     0x00, then the UTF-8 bytes. memcmp-then-length is SQLite's
 *   BLOB     0x00, then the bytes.         BINARY collation / blob order.
 *            The 0x00 prefix keeps every engine key non-empty, so '' and
 *            x'' are keys like any other; it does not change the order.
 *            max_key_size counts the SQL bytes (the prefix is not counted).
 * A key written gets the key column's affinity first, as in an ordinary
 * table: INTEGER keys accept integers, whole reals and text that reads as an
 * integer ('42'); TEXT keys accept text and numbers (stored as their text);
 * BLOB keys accept only blobs. Anything else is SQLITE_MISMATCH, "datatype
 * mismatch: cannot store T value in K column t.key", as for a rowid; NULL is
 * "NOT NULL constraint failed: t.key", except that an INTEGER PRIMARY KEY of
 * the table form inserted as NULL gets the largest key + 1.
 *
 * Values, key/value form: one byte with the SQLite type code (1 INTEGER,
 * 2 REAL, 3 TEXT, 4 BLOB, 5 NULL), then INTEGER: 8 bytes little-endian
 * two's complement; REAL: 8 bytes little-endian IEEE-754; TEXT: UTF-8 bytes;
 * BLOB: bytes; NULL: nothing. So a value reads back with the type it had.
 * max_value_size counts the bytes after the type byte.
 *
 * Values, table form: one record holding every non-key column in declaration
 * order: varint N (columns stored), then per column a type byte as above and
 * INTEGER: zigzag varint; REAL: 8 bytes LE; TEXT/BLOB: varint length + bytes;
 * NULL: nothing. Varints are LEB128 (7 bits per byte, low first). Columns past
 * N read as NULL. max_value_size counts the whole record. Each value is
 * stored after its column's affinity (arm_codec.c), as an ordinary table
 * stores it; the key/value form's value keeps the type it was given.
 *
 * ====================================================================== plans
 * xBestIndex encodes its plan in idxNum (bits below); idxStr is only a
 * readable copy for EXPLAIN QUERY PLAN ("key=?", "key>? AND key<=?",
 * "key IN (...)", "... ORDER BY key DESC"). xFilter's argv holds the EQ/IN
 * value, or the lower then the upper bound. Constraints are never omitted:
 * SQLite re-checks each row, so the pushed-down bounds only have to be a
 * superset under SQLite's comparison rules (affinity, collation); xFilter
 * widens or drops a bound whenever its type differs from the key type.
 * key = ? is a unique point lookup; key IN (...) is handled all at once
 * (sqlite3_vtab_in, SQLite >= 3.38: keys sorted, so ORDER BY stays consumed);
 * ranges and ORDER BY key [DESC] run an engine cursor in key order. With
 * index='hash' cursors are unordered: ranges and ORDER BY are left to SQLite
 * (a full scan), point lookups are unchanged. Cursors step lazily, so a
 * LIMIT stops the scan early.
 *
 * =============================================================== transactions
 * Every read and write of a table runs in its connection's transaction
 * context (arm_txn.c): one snapshot of every armdb table of the process, and
 * one engine transaction per table written (its writes, the keys and ranges
 * it read). xBegin enters the context as a writer; xUpdate writes into the
 * table's engine transaction; cursors and point reads read through it, so a
 * transaction sees its own writes and nothing committed after its snapshot.
 * xSync prepares (validation: a conflict is SQLITE_BUSY_SNAPSHOT, nothing
 * written), xCommit publishes every engine of the context at once, xRollback
 * discards. Savepoints (SAVEPOINT, and SQLite's own statement savepoints) map
 * to arm_txn_mark / rollback_to. UNIQUE checks are point reads of the
 * transaction, so another connection (or another database file sharing the
 * dir=) inserting the same key first makes this COMMIT fail instead of
 * overwriting it.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"
#include "../common/arm_hash.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VTAB_PLAN_EQ     0x01 /* argv[0]: key = ? (point lookup) */
#define VTAB_PLAN_IN     0x02 /* argv[0]: key IN (...), all at once */
#define VTAB_PLAN_LO     0x04 /* lower bound in argv */
#define VTAB_PLAN_LO_INC 0x08 /* ... inclusive (>=) */
#define VTAB_PLAN_HI     0x10 /* upper bound in argv (after the lower one) */
#define VTAB_PLAN_HI_INC 0x20 /* ... inclusive (<=) */
#define VTAB_PLAN_DESC   0x40 /* visit keys in descending order */

#define VTAB_IN_MAX 10000000 /* IN list values we hold at once */

typedef struct vtab_cursor {
    sqlite3_vtab_cursor base; /* must be first */
    arm_ext_ctx *ctx;      /* the transaction context it reads in (a reference), or NULL */
    arm_txn *txn;          /* its engine transaction there (borrowed from ctx) */
    int eof;
    int scan;              /* 1: engine cursor; 0: list of point keys */
    int desc;              /* scan backwards */
    arm_cursor *ec;        /* scan mode cursor */
    arm_buf keys;          /* point mode: encoded keys, back to back */
    size_t *koff;          /* point mode: nkeys + 1 offsets into keys */
    size_t nkeys, ikey, cap_keys;
    arm_slice *klist;      /* point mode: keys in visiting order */
    arm_buf val;           /* point mode: owned copy of the current value */
    arm_buf lo, hi;        /* scan bounds (the engine copies them) */
    arm_slice key;         /* current key (borrowed from klist or ec) */
    arm_slice value;       /* current value when have_value */
    int have_value;
    int value_gone;        /* the row was deleted between step and read */
    arm_codec_field *fields; /* table form: split record, ncol - 1 fields */
    int fields_ok;
} vtab_cursor;

/* ---------------------------------------------------------------- errors */
ARM_PRIVATE void arm_vtab_set_error(arm_vtab *vt, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sqlite3_free(vt->base.zErrMsg);
    vt->base.zErrMsg = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
}

ARM_PRIVATE int arm_vtab_engine_error(arm_vtab *vt, int arm_rc, const char *what) {
    assert(arm_rc != ARM_OK);
    const char *m = arm_engine_errmsg(vt->sh ? vt->sh->engine : NULL);
    if (m == NULL || m[0] == 0) m = arm_rc_str(arm_rc);
    arm_vtab_set_error(vt, "armdb: %s: %s: %s", vt->name, what, m);
    return arm_ext_rc(arm_rc);
}

static int vtab_unavailable(arm_vtab *vt) {
    arm_vtab_set_error(vt, "%s", vt->open_err ? vt->open_err : "armdb: table is not open");
    return vt->open_rc ? vt->open_rc : SQLITE_ERROR;
}

/* Acquire the engine; on failure remember why (open_err, open_rc,
 * open_kind). SQLITE_OK or the SQLite code. */
static int vtab_acquire(arm_vtab *vt, int flags) {
    char *msg = NULL;
    int kind = ARM_EXT_FAIL_NONE;
    int arc = arm_ext_engine_acquire(&vt->cfg, &vt->me, flags, &vt->sh, &kind, &msg);
    sqlite3_free(vt->open_err);
    vt->open_err = NULL;
    vt->open_rc = SQLITE_OK;
    vt->open_kind = ARM_EXT_FAIL_NONE;
    if (arc == ARM_OK) return SQLITE_OK;
    vt->open_err = msg ? msg : sqlite3_mprintf("armdb: %s: cannot open: %s", vt->name,
                                               arm_rc_str(arc));
    vt->open_rc = kind == ARM_EXT_FAIL_NOMEM ? SQLITE_NOMEM : arm_ext_rc(arc);
    vt->open_kind = kind;
    return vt->open_rc;
}

ARM_PRIVATE int arm_vtab_reopen(arm_vtab *vt) {
    return vt->sh != NULL ? SQLITE_OK : vtab_acquire(vt, vt->open_flags);
}

/* A table object inherited across fork() still points at the parent's
 * engine: the child must never write through it (or read: its locks may
 * have been held at the fork). */
static int vtab_forked(const arm_vtab *vt) {
    return vt->sh != NULL && vt->sh->pid != arm_ext_pid();
}

ARM_PRIVATE int arm_vtab_ready(arm_vtab *vt) {
    if (vtab_forked(vt)) {
        arm_vtab_set_error(vt, "armdb: %s: this connection was opened by process %d, before "
                           "fork(); open a new connection in this process", vt->name,
                           (int)vt->sh->pid);
        return SQLITE_MISUSE;
    }
    if (vt->sh != NULL) return SQLITE_OK;
    if (vt->open_kind == ARM_EXT_FAIL_BUSY || vt->open_kind == ARM_EXT_FAIL_MISSING)
        (void)vtab_acquire(vt, vt->open_flags); // it may have passed: another process closed it
    return vt->sh != NULL ? SQLITE_OK : vtab_unavailable(vt);
}

static const char *vtab_type_name(int t) {
    switch (t) {
    case SQLITE_INTEGER: return "INTEGER";
    case SQLITE_FLOAT: return "REAL";
    case SQLITE_TEXT: return "TEXT";
    case SQLITE_BLOB: return "BLOB";
    default: return "NULL";
    }
}

/* Read key through a transaction (its snapshot and own writes). *found = 0
 * when absent. The value is copied into buf. */
static int vtab_read(arm_txn *txn, arm_slice key, arm_buf *buf, int *found) {
    *found = 0;
    int rc = arm_txn_get(txn, key, buf);
    if (rc == ARM_NOTFOUND) return ARM_OK;
    if (rc == ARM_OK) *found = 1;
    return rc;
}

ARM_PRIVATE int arm_vtab_cursor_open(arm_vtab *vt, arm_txn *txn, arm_cursor **cursor_out) {
    (void)vt;
    return arm_txn_cursor_open_untracked(txn, cursor_out);
}

/* The largest INTEGER key txn sees (*found = 0 when the table is empty). An
 * ordered index answers at once; a hash index is scanned. SQLITE_OK or an
 * error with zErrMsg set. */
static int vtab_largest_int_key(arm_vtab *vt, arm_txn *txn, int *found, int64_t *out) {
    arm_cursor *c = NULL;
    *found = 0;
    int rc = arm_vtab_cursor_open(vt, txn, &c);
    if (rc != ARM_OK) return arm_vtab_engine_error(vt, rc, "find the largest key");
    int hash = vt->cfg.eng.index_kind == ARM_INDEX_HASH;
    for (rc = hash ? arm_engine_cursor_first(c) : arm_engine_cursor_last(c); rc == ARM_OK;
         rc = arm_engine_cursor_next(c)) {
        int64_t k = 0;
        if (arm_codec_int_key_decode(arm_engine_cursor_key(c), &k) != ARM_OK) {
            arm_engine_cursor_close(c);
            arm_vtab_set_error(vt, "armdb: %s: corrupt INTEGER key (length is not 8)", vt->name);
            return SQLITE_CORRUPT_VTAB;
        }
        if (!*found || k > *out) *out = k;
        *found = 1;
        if (!hash) break;
    }
    arm_engine_cursor_close(c);
    if (rc != ARM_OK && rc != ARM_NOTFOUND) return arm_vtab_engine_error(vt, rc, "find the largest key");
    return SQLITE_OK;
}

/* The key an INTEGER PRIMARY KEY inserted as NULL gets, as SQLite picks a
 * rowid: the largest key + 1 (1 in an empty table). A key handed out to
 * another connection of this process and maybe not committed yet is skipped,
 * so concurrent inserts never pick the same key (SQLite serialises writers
 * instead); this connection's own rolled-back keys are reused, as SQLite
 * does. Past 9223372036854775807, random unused positive keys are tried and
 * then SQLITE_FULL, as SQLite does. The largest key is read without counting
 * as a read of the transaction (so concurrent inserters do not conflict over
 * it); the insert of the key chosen is checked like any other, as a point
 * read (vtab_conflict), so another connection taking it first is a conflict
 * at COMMIT. */
#define VTAB_RANDOM_KEY_TRIES 100
static int vtab_next_int_key(arm_vtab *vt, arm_txn *txn, int64_t *out) {
    int found = 0;
    int64_t largest = 0;
    arm_ext_shared *sh = vt->sh;
    pthread_mutex_lock(&sh->auto_mu);
    int rc = vtab_largest_int_key(vt, txn, &found, &largest);
    int64_t next = found ? largest : 0;
    if (sh->auto_conn != NULL && sh->auto_conn != (const void *)vt->conn && sh->auto_last > next)
        next = sh->auto_last;
    for (int i = 0; rc == SQLITE_OK && next == INT64_MAX && i < VTAB_RANDOM_KEY_TRIES; i++) {
        int64_t r = 0;
        sqlite3_randomness(sizeof(r), &r);
        r &= INT64_MAX;
        if (r == 0 || arm_codec_int_key(r, &vt->kbuf) != ARM_OK) continue;
        int e = arm_txn_contains(txn, arm_slice_make(vt->kbuf.ptr, vt->kbuf.len));
        if (e == ARM_NOTFOUND) next = r - 1;
        else if (e != ARM_OK) rc = arm_vtab_engine_error(vt, e, "read");
    }
    if (rc == SQLITE_OK && next == INT64_MAX) {
        arm_vtab_set_error(vt, "armdb: %s: no free key for %s: the largest is "
                           "9223372036854775807 and %d random keys were taken", vt->name,
                           vt->cfg.cols[vt->cfg.key_col].name, VTAB_RANDOM_KEY_TRIES);
        rc = SQLITE_FULL;
    }
    if (rc == SQLITE_OK) {
        *out = next + 1;
        sh->auto_last = *out;
        sh->auto_conn = vt->conn;
    }
    pthread_mutex_unlock(&sh->auto_mu);
    return rc;
}
/* ------------------------------------------------------- create/connect */
static void vtab_free(arm_vtab *vt);

static int vtab_init(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err, int create) {
    arm_ext_conn *conn = aux;
    *out = NULL;
    arm_vtab *vt = sqlite3_malloc64(sizeof(*vt));
    if (vt == NULL) return SQLITE_NOMEM;
    memset(vt, 0, sizeof(*vt));
    vt->db = db;
    int rc = arm_opts_parse(db, argc, argv, &vt->cfg, err);
    if (rc != SQLITE_OK) {
        sqlite3_free(vt);
        return rc;
    }
    vt->schema = sqlite3_mprintf("%s", argv[1]);
    vt->name = sqlite3_mprintf("%s", argv[2]);
    char *decl = arm_opts_schema(&vt->cfg);
    if (vt->schema == NULL || vt->name == NULL || decl == NULL) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK && create) rc = arm_default_check(db, &vt->cfg, err);
    if (rc == SQLITE_OK) rc = sqlite3_declare_vtab(db, decl);
    sqlite3_free(decl);
    // xUpdate reports UNIQUE/NOT NULL itself and honours OR IGNORE/REPLACE
    if (rc == SQLITE_OK) rc = sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
    if (rc == SQLITE_OK) rc = arm_record_owner_of(db, argv[1], argv[2], &vt->me);
    if (rc == SQLITE_OK) {
        vt->open_flags = sqlite3_db_readonly(db, argv[1]) == 1 || vt->cfg.read_only
                             ? ARM_EXT_OPEN_READONLY
                             : 0;
        // read_only=1 reads a directory that is there; it never makes one
        int arc = vtab_acquire(vt, vt->open_flags |
                                       (create && !vt->cfg.read_only ? ARM_EXT_OPEN_CREATE : 0));
        if (arc != SQLITE_OK && create) {
            *err = vt->open_err;
            vt->open_err = NULL;
            rc = arc;
        }
        // A connect that failed connects anyway: every use then fails with
        // the message (or retries, when the cause may pass), and DROP TABLE
        // (which connects first) still works.
    }
    if (rc != SQLITE_OK) {
        if (*err == NULL) *err = sqlite3_mprintf("armdb: %s", sqlite3_errstr(rc));
        arm_opts_clear(&vt->cfg);
        sqlite3_free(vt->me.file);
        sqlite3_free(vt->me.table);
        sqlite3_free(vt->open_err);
        sqlite3_free(vt->schema);
        sqlite3_free(vt->name);
        sqlite3_free(vt);
        return rc;
    }
    vt->conn = conn;
    arm_ext_conn_ref(conn);
    arm_ext_conn_add(conn, vt);
    /* The decision table: made with the table; found (and the engine's
     * in-doubt transactions it owns resolved) when connecting. */
    if (create && vt->sh) {
        rc = arm_ext_shadow_create(vt, err);
        if (rc != SQLITE_OK) { /* the CREATE fails: its new directory goes too */
            char *msg = NULL;
            int kept = 0;
            (void)arm_ext_engine_drop(vt->sh, &vt->me, vt->cfg.dir_default, &kept, &msg);
            sqlite3_free(msg);
            vtab_free(vt);
            return rc;
        }
    } else if (vt->sh) {
        (void)arm_ext_shadow_connect(vt);
    }
    *out = &vt->base;
    return SQLITE_OK;
}

static int vtab_create(sqlite3 *db, void *aux, int argc, const char *const *argv,
                       sqlite3_vtab **out, char **err) {
    return vtab_init(db, aux, argc, argv, out, err, 1);
}

static int vtab_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                        sqlite3_vtab **out, char **err) {
    return vtab_init(db, aux, argc, argv, out, err, 0);
}

static void vtab_free(arm_vtab *vt) {
    arm_ext_ctx_vtab_gone(vt);
    arm_ext_engine_release(vt->sh);
    sqlite3_free(vt->me.file);
    sqlite3_free(vt->me.table);
    arm_ext_conn_remove(vt->conn, vt);
    arm_ext_conn_unref(vt->conn);
    arm_buf_free(&vt->kbuf);
    arm_buf_free(&vt->kbuf2);
    arm_buf_free(&vt->vbuf);
    arm_default_clear(&vt->dflt, vt->cfg.ncol);
    arm_opts_clear(&vt->cfg);
    sqlite3_free(vt->marks);
    sqlite3_free(vt->open_err);
    sqlite3_free(vt->schema);
    sqlite3_free(vt->name);
    sqlite3_free(vt->base.zErrMsg);
    sqlite3_free(vt);
}

static int vtab_disconnect(sqlite3_vtab *tab) {
    vtab_free((arm_vtab *)tab);
    return SQLITE_OK;
}

/* DROP TABLE removes the data or fails saying why; it never reports success
 * and leaves rows that come back. An open table's directory is marked
 * dropped in its record at once (so a crash cannot bring it back) and goes
 * when the last connection of the process lets go of it. A table another
 * process holds is not dropped (SQLITE_BUSY). A table whose directory is
 * missing, or belongs to another table (a copy of the database, made by
 * .backup or VACUUM INTO, or a shared=1 directory another table owns), is
 * dropped from the schema only: its data is not this table's to remove. So
 * is a read_only=1 table: it only reads the directory. */
static int vtab_destroy(sqlite3_vtab *tab) {
    arm_vtab *vt = (arm_vtab *)tab;
    /* The data goes at once and a ROLLBACK could not bring it back. */
    if (!sqlite3_get_autocommit(vt->db)) {
        arm_vtab_set_error(vt, "armdb: DROP TABLE %s inside a transaction is not supported; "
                           "commit first", vt->name);
        return SQLITE_ERROR;
    }
    int rc = arm_vtab_ready(vt); // an engine another process held may be free now
    if (vtab_forked(vt)) return rc;
    /* The decision table first (whether the engine opened or not: it is this
     * database's own table): it is dropped inside SQLite's transaction, so a
     * failure below rolls it back with the DROP. */
    rc = arm_ext_shadow_drop(vt);
    if (rc != SQLITE_OK) return rc;
    if (vt->sh != NULL) arm_ext_ctx_quiesce(vt);
    /* Replication stops before the data goes (its threads borrow the engine
     * until the last connection lets go; a leader's followers see it go). */
    if (vt->sh != NULL && !vt->cfg.read_only) arm_ext_repl_halt(vt->sh, 1);
    char *msg = NULL;
    int arc = ARM_OK, kept = 0;
    if (vt->cfg.read_only) {
        // nothing to remove: the data is not this table's to change
    } else if (vt->sh != NULL) {
        arc = arm_ext_engine_drop(vt->sh, &vt->me, vt->cfg.dir_default, &kept, &msg);
    } else if (vt->open_kind == ARM_EXT_FAIL_BUSY) {
        msg = sqlite3_mprintf("armdb: cannot drop %s: %s; its rows stay: DROP TABLE again once "
                              "the other process has closed it", vt->name, vt->open_err);
        arc = ARM_BUSY;
    } else if (vt->open_kind != ARM_EXT_FAIL_MISSING && vt->open_kind != ARM_EXT_FAIL_FOREIGN) {
        /* Damage or I/O: the directory is removed if its record says it is
         * this table's; a copy's or another table's is never touched. */
        arc = arm_ext_engine_destroy_dir(&vt->cfg, &vt->me, &msg);
        if (arc == ARM_NOTFOUND) arc = ARM_OK;
        if (arc != ARM_OK) {
            char *m = sqlite3_mprintf("armdb: cannot drop %s: %s", vt->name,
                                      msg ? msg : arm_rc_str(arc));
            sqlite3_free(msg);
            msg = m;
        }
    }
    // MISSING: nothing to remove; FOREIGN: the directory is not this table's
    if (arc != ARM_OK) {
        /* SQLite reports an xDestroy failure by its code alone ("database
         * is locked"); the reason goes to sqlite3_log as well. */
        int rc_out = arc == ARM_NOMEM ? SQLITE_NOMEM : arm_ext_rc(arc);
        arm_vtab_set_error(vt, "%s", msg ? msg : "armdb: DROP TABLE failed");
        sqlite3_log(rc_out, "%s", vt->base.zErrMsg);
        sqlite3_free(msg);
        return rc_out;
    }
    sqlite3_free(msg);
    vtab_free(vt);
    return SQLITE_OK;
}

/* ---------------------------------------------------------- xBestIndex */
static int vtab_usable_collation(const arm_vtab *vt, sqlite3_index_info *info, int i) {
    if (vt->cfg.key_type != ARM_EXT_KEY_TEXT) return 1; // numbers and blobs ignore collation
    const char *coll = sqlite3_vtab_collation(info, i);
    return coll == NULL || sqlite3_stricmp(coll, "BINARY") == 0;
}

static int vtab_best_index(sqlite3_vtab *tab, sqlite3_index_info *info) {
    arm_vtab *vt = (arm_vtab *)tab;
    const int hash = vt->cfg.eng.index_kind == ARM_INDEX_HASH;
    const int has_in = sqlite3_libversion_number() >= 3038000;
    int eq = -1, lo = -1, hi = -1;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || c->iColumn != vt->cfg.key_col) continue;
        if (!vtab_usable_collation(vt, info, i)) continue;
        switch (c->op) {
        case SQLITE_INDEX_CONSTRAINT_EQ:
        case SQLITE_INDEX_CONSTRAINT_IS:
            if (eq < 0) eq = i;
            break;
        case SQLITE_INDEX_CONSTRAINT_GT:
        case SQLITE_INDEX_CONSTRAINT_GE:
            if (lo < 0 && !hash) lo = i;
            break;
        case SQLITE_INDEX_CONSTRAINT_LT:
        case SQLITE_INDEX_CONSTRAINT_LE:
            if (hi < 0 && !hash) hi = i;
            break;
        default: break;
        }
    }
    double n = vt->sh && !vtab_forked(vt) ? (double)arm_engine_count(vt->sh->engine) : 0.0;
    int plan = 0, argi = 0, ordered = !hash;
    const char *what = "full scan";
    if (eq >= 0) {
        info->aConstraintUsage[eq].argvIndex = ++argi;
        if (has_in && sqlite3_vtab_in(info, eq, 1)) {
            plan = VTAB_PLAN_IN;
            what = "key IN (...)";
            info->estimatedCost = 10.0;
            info->estimatedRows = 10;
        } else {
            plan = VTAB_PLAN_EQ;
            what = "key=?";
            info->estimatedCost = 1.0;
            info->estimatedRows = 1;
            info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
        }
        ordered = 1; // one row, or IN keys that xFilter sorts
    } else {
        if (lo >= 0) {
            info->aConstraintUsage[lo].argvIndex = ++argi;
            plan |= VTAB_PLAN_LO;
            if (info->aConstraint[lo].op == SQLITE_INDEX_CONSTRAINT_GE) plan |= VTAB_PLAN_LO_INC;
        }
        if (hi >= 0) {
            info->aConstraintUsage[hi].argvIndex = ++argi;
            plan |= VTAB_PLAN_HI;
            if (info->aConstraint[hi].op == SQLITE_INDEX_CONSTRAINT_LE) plan |= VTAB_PLAN_HI_INC;
        }
        double rows = n + 1;
        if (lo >= 0 && hi >= 0) rows = n / 16 + 1;
        else if (lo >= 0 || hi >= 0) rows = n / 4 + 1;
        info->estimatedRows = (sqlite3_int64)rows;
        info->estimatedCost = rows + 10.0; // any scan costs more than a point lookup
        if (lo >= 0 || hi >= 0) what = lo >= 0 && hi >= 0 ? "range" : lo >= 0 ? "lower" : "upper";
    }
    // The key is unique, so ORDER BY key [, anything] is fully decided by it.
    if (info->nOrderBy >= 1 && info->aOrderBy[0].iColumn == vt->cfg.key_col && ordered) {
        info->orderByConsumed = 1;
        if (info->aOrderBy[0].desc) plan |= VTAB_PLAN_DESC;
    }
    info->idxNum = plan;
    const char *lo_op = (plan & VTAB_PLAN_LO_INC) ? ">=" : ">";
    const char *hi_op = (plan & VTAB_PLAN_HI_INC) ? "<=" : "<";
    const char *order = !info->orderByConsumed ? ""
                        : (plan & VTAB_PLAN_DESC) ? " ORDER BY key DESC" : " ORDER BY key";
    if ((plan & VTAB_PLAN_LO) && (plan & VTAB_PLAN_HI))
        info->idxStr = sqlite3_mprintf("key%s? AND key%s?%s", lo_op, hi_op, order);
    else if (plan & VTAB_PLAN_LO)
        info->idxStr = sqlite3_mprintf("key%s?%s", lo_op, order);
    else if (plan & VTAB_PLAN_HI)
        info->idxStr = sqlite3_mprintf("key%s?%s", hi_op, order);
    else
        info->idxStr = sqlite3_mprintf("%s%s", what, order);
    info->needToFreeIdxStr = 1;
    return info->idxStr ? SQLITE_OK : SQLITE_NOMEM;
}

/* --------------------------------------------------------------- cursors */
static int vtab_open(sqlite3_vtab *tab, sqlite3_vtab_cursor **out) {
    arm_vtab *vt = (arm_vtab *)tab;
    *out = NULL;
    int rc = arm_vtab_ready(vt);
    if (rc != SQLITE_OK) return rc;
    vtab_cursor *cur = sqlite3_malloc64(sizeof(*cur));
    if (cur == NULL) return SQLITE_NOMEM;
    memset(cur, 0, sizeof(*cur));
    if (vt->cfg.table_form) {
        cur->fields = sqlite3_malloc64((size_t)vt->cfg.ncol * sizeof(arm_codec_field));
        if (cur->fields == NULL) {
            sqlite3_free(cur);
            return SQLITE_NOMEM;
        }
    }
    cur->eof = 1;
    *out = &cur->base;
    return SQLITE_OK;
}

static void vtab_cursor_reset(vtab_cursor *cur) {
    arm_engine_cursor_close(cur->ec);
    cur->ec = NULL;
    arm_ext_ctx_unref(cur->ctx); /* after the engine cursor: it reads the context's txn */
    cur->ctx = NULL;
    cur->txn = NULL;
    cur->keys.len = 0;
    cur->nkeys = cur->ikey = 0;
    cur->eof = 1;
    cur->have_value = cur->value_gone = cur->fields_ok = 0;
}

static int vtab_close(sqlite3_vtab_cursor *base) {
    vtab_cursor *cur = (vtab_cursor *)base;
    vtab_cursor_reset(cur);
    arm_buf_free(&cur->keys);
    arm_buf_free(&cur->val);
    arm_buf_free(&cur->lo);
    arm_buf_free(&cur->hi);
    sqlite3_free(cur->koff);
    sqlite3_free(cur->klist);
    sqlite3_free(cur->fields);
    sqlite3_free(cur);
    return SQLITE_OK;
}

static int vtab_keys_add(vtab_cursor *cur, const arm_buf *k) {
    if (cur->nkeys + 2 > cur->cap_keys) {
        size_t cap = cur->cap_keys ? cur->cap_keys * 2 : 8;
        size_t *off = sqlite3_realloc64(cur->koff, cap * sizeof(size_t));
        if (off == NULL) return SQLITE_NOMEM;
        cur->koff = off;
        cur->cap_keys = cap;
    }
    if (cur->nkeys == 0) cur->koff[0] = 0;
    if (arm_buf_reserve(&cur->keys, cur->keys.len + k->len) != ARM_OK) return SQLITE_NOMEM;
    memcpy(cur->keys.ptr + cur->keys.len, k->ptr, k->len);
    cur->keys.len += k->len;
    cur->koff[++cur->nkeys] = cur->keys.len;
    return SQLITE_OK;
}

static int vtab_slice_cmp(const void *a, const void *b) {
    const arm_slice *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
    if (c != 0) return c;
    return x->len < y->len ? -1 : x->len > y->len;
}

/* Point mode: the key list in visiting order, sorted and without duplicates. */
static int vtab_keys_finish(vtab_cursor *cur, int sort) {
    sqlite3_free(cur->klist);
    cur->klist = sqlite3_malloc64((cur->nkeys ? cur->nkeys : 1) * sizeof(arm_slice));
    if (cur->klist == NULL) return SQLITE_NOMEM;
    for (size_t i = 0; i < cur->nkeys; i++)
        cur->klist[i] = arm_slice_make(cur->keys.ptr + cur->koff[i], cur->koff[i + 1] - cur->koff[i]);
    if (!sort || cur->nkeys < 2) return SQLITE_OK;
    qsort(cur->klist, cur->nkeys, sizeof(arm_slice), vtab_slice_cmp);
    size_t j = 1;
    for (size_t i = 1; i < cur->nkeys; i++)
        if (vtab_slice_cmp(&cur->klist[i], &cur->klist[j - 1]) != 0) cur->klist[j++] = cur->klist[i];
    cur->nkeys = j;
    if (cur->desc)
        for (size_t i = 0; i < j / 2; i++) {
            arm_slice t = cur->klist[i];
            cur->klist[i] = cur->klist[j - 1 - i];
            cur->klist[j - 1 - i] = t;
        }
    return SQLITE_OK;
}

/* Point mode: move to the first key at or after ikey that exists. */
/* Point mode: the next listed key that exists. Its value is read only when
 * a column other than the key is asked for: an UPDATE of the value, a
 * DELETE, or a count never reads (or checksums) the old value. */
static int vtab_point_settle(vtab_cursor *cur) {
    arm_vtab *vt = (arm_vtab *)cur->base.pVtab;
    for (; cur->ikey < cur->nkeys; cur->ikey++) {
        arm_slice k = cur->klist[cur->ikey];
        int rc = arm_txn_contains(cur->txn, k);
        if (rc == ARM_NOTFOUND) continue;
        if (rc != ARM_OK) return arm_vtab_engine_error(vt, rc, "read");
        cur->key = k;
        cur->have_value = cur->fields_ok = cur->value_gone = 0; /* a new record */
        cur->eof = 0;
        return SQLITE_OK;
    }
    cur->eof = 1;
    return SQLITE_OK;
}

/* Scan mode: after a positioning call returned rc. */
static int vtab_scan_settle(vtab_cursor *cur, int rc) {
    arm_vtab *vt = (arm_vtab *)cur->base.pVtab;
    cur->have_value = cur->value_gone = cur->fields_ok = 0;
    if (rc == ARM_NOTFOUND) {
        cur->eof = 1;
        return SQLITE_OK;
    }
    if (rc != ARM_OK) return arm_vtab_engine_error(vt, rc, "scan");
    cur->key = arm_engine_cursor_key(cur->ec);
    cur->eof = 0;
    return SQLITE_OK;
}

/* A TEXT key compared with a number: SQLite may apply numeric affinity to
 * the key column (k = CAST(5 AS INTEGER) matches '05' and '5.0'), which no
 * single encoded key can express, so such a lookup scans and lets SQLite
 * re-check each row (constraints are never omitted). */
static int vtab_numeric_on_text(const arm_vtab *vt, sqlite3_value *v) {
    int t = sqlite3_value_type(v);
    return vt->cfg.key_type == ARM_EXT_KEY_TEXT && (t == SQLITE_INTEGER || t == SQLITE_FLOAT);
}

static int vtab_filter_scan(vtab_cursor *cur, int plan, int argc, sqlite3_value **argv);

static int vtab_filter_points(vtab_cursor *cur, int plan, sqlite3_value *arg) {
    arm_vtab *vt = (arm_vtab *)cur->base.pVtab;
    int rc = SQLITE_OK;
    int numeric = 0;
    if (plan & VTAB_PLAN_IN) {
        sqlite3_value *v = NULL;
        for (int irc = sqlite3_vtab_in_first(arg, &v); irc == SQLITE_OK && v && !numeric;
             irc = sqlite3_vtab_in_next(arg, &v))
            numeric = vtab_numeric_on_text(vt, v);
    } else {
        numeric = vtab_numeric_on_text(vt, arg);
    }
    if (numeric) {
        cur->scan = 1;
        return vtab_filter_scan(cur, plan & VTAB_PLAN_DESC, 0, NULL);
    }
    if (plan & VTAB_PLAN_IN) {
        sqlite3_value *v = NULL;
        int irc;
        for (irc = sqlite3_vtab_in_first(arg, &v); irc == SQLITE_OK && v && rc == SQLITE_OK;
             irc = sqlite3_vtab_in_next(arg, &v)) {
            if (cur->nkeys >= VTAB_IN_MAX) {
                arm_vtab_set_error(vt, "armdb: %s: IN list longer than %d values", vt->name,
                                   VTAB_IN_MAX);
                return SQLITE_TOOBIG;
            }
            int k = arm_codec_key_for_lookup(vt->cfg.key_type, v, vt->cfg.max_key_size, &vt->kbuf);
            if (k == ARM_CODEC_KEY_NOMEM) return SQLITE_NOMEM;
            if (k == ARM_CODEC_KEY_OK) rc = vtab_keys_add(cur, &vt->kbuf);
        }
        if (rc == SQLITE_OK && irc != SQLITE_OK && irc != SQLITE_DONE) rc = irc;
    } else {
        int k = arm_codec_key_for_lookup(vt->cfg.key_type, arg, vt->cfg.max_key_size, &vt->kbuf);
        if (k == ARM_CODEC_KEY_NOMEM) return SQLITE_NOMEM;
        if (k == ARM_CODEC_KEY_OK) rc = vtab_keys_add(cur, &vt->kbuf);
    }
    if (rc == SQLITE_OK) rc = vtab_keys_finish(cur, (plan & VTAB_PLAN_IN) != 0);
    if (rc == SQLITE_OK) rc = vtab_point_settle(cur);
    return rc;
}

/* Encode one bound; *use = 0 when dropped, -1 when nothing can match. */
static int vtab_bound(arm_vtab *vt, sqlite3_value *v, int is_lower, int *inc, arm_buf *buf,
                      int *use) {
    int b = arm_codec_bound(vt->cfg.key_type, v, is_lower, inc, buf);
    if (b == ARM_CODEC_BOUND_NOMEM) return SQLITE_NOMEM;
    *use = b == ARM_CODEC_BOUND_OK ? 1 : b == ARM_CODEC_BOUND_NONE ? 0 : -1;
    return SQLITE_OK;
}

static int vtab_filter_scan(vtab_cursor *cur, int plan, int argc, sqlite3_value **argv) {
    arm_vtab *vt = (arm_vtab *)cur->base.pVtab;
    int ai = 0, use_lo = 0, use_hi = 0, rc = SQLITE_OK;
    int lo_inc = (plan & VTAB_PLAN_LO_INC) != 0, hi_inc = (plan & VTAB_PLAN_HI_INC) != 0;
    if ((plan & VTAB_PLAN_LO) && ai < argc)
        rc = vtab_bound(vt, argv[ai++], 1, &lo_inc, &cur->lo, &use_lo);
    if (rc == SQLITE_OK && (plan & VTAB_PLAN_HI) && ai < argc)
        rc = vtab_bound(vt, argv[ai++], 0, &hi_inc, &cur->hi, &use_hi);
    if (rc != SQLITE_OK || use_lo < 0 || use_hi < 0) return rc; // eof stays set
    int arc = arm_txn_cursor_open(cur->txn, &cur->ec);
    if (arc != ARM_OK) return arm_vtab_engine_error(vt, arc, "open cursor");
    if (use_lo || use_hi) {
        arm_slice lo = use_lo ? arm_slice_make(cur->lo.ptr, cur->lo.len) : arm_slice_make(NULL, 0);
        arm_slice hi = use_hi ? arm_slice_make(cur->hi.ptr, cur->hi.len) : arm_slice_make(NULL, 0);
        arc = arm_engine_cursor_bounds(cur->ec, lo, lo_inc, hi, hi_inc);
        if (arc != ARM_OK) return arm_vtab_engine_error(vt, arc, "cursor bounds");
    }
    arc = cur->desc ? arm_engine_cursor_last(cur->ec) : arm_engine_cursor_first(cur->ec);
    return vtab_scan_settle(cur, arc);
}

static int vtab_filter(sqlite3_vtab_cursor *base, int plan, const char *idx_str, int argc,
                       sqlite3_value **argv) {
    vtab_cursor *cur = (vtab_cursor *)base;
    arm_vtab *vt = (arm_vtab *)base->pVtab;
    (void)idx_str; // a description only; the plan is in idxNum
    vtab_cursor_reset(cur);
    /* Every read of the transaction goes through its context: one snapshot
     * of all armdb tables, plus its own writes. */
    arm_ext_ctx *ctx = NULL;
    int crc = arm_ext_ctx_enter(vt, 0, &ctx, &cur->txn);
    if (crc != SQLITE_OK) return crc;
    arm_ext_ctx_ref(ctx);
    cur->ctx = ctx;
    cur->desc = (plan & VTAB_PLAN_DESC) != 0;
    if (plan & (VTAB_PLAN_EQ | VTAB_PLAN_IN)) {
        cur->scan = 0;
        if (argc < 1) return SQLITE_ERROR;
        return vtab_filter_points(cur, plan, argv[0]);
    }
    cur->scan = 1;
    return vtab_filter_scan(cur, plan, argc, argv);
}

static int vtab_next(sqlite3_vtab_cursor *base) {
    vtab_cursor *cur = (vtab_cursor *)base;
    if (cur->eof) return SQLITE_OK;
    if (!cur->scan) {
        cur->ikey++;
        return vtab_point_settle(cur);
    }
    int rc = cur->desc ? arm_engine_cursor_prev(cur->ec) : arm_engine_cursor_next(cur->ec);
    return vtab_scan_settle(cur, rc);
}

static int vtab_eof(sqlite3_vtab_cursor *base) {
    return ((vtab_cursor *)base)->eof;
}

/* The value is read only when a non-key column is asked for. */
static int vtab_cursor_value(vtab_cursor *cur) {
    if (cur->have_value || cur->value_gone) return SQLITE_OK;
    arm_vtab *vt = (arm_vtab *)cur->base.pVtab;
    if (!cur->scan) { /* point mode: the same snapshot as the existence check */
        int found = 0;
        int rc = vtab_read(cur->txn, cur->key, &cur->val, &found);
        if (rc != ARM_OK) return arm_vtab_engine_error(vt, rc, "read");
        if (!found) { /* deleted by this transaction since (a trigger, say) */
            cur->value_gone = 1;
            return SQLITE_OK;
        }
        cur->value = arm_slice_make(cur->val.ptr, cur->val.len);
        cur->have_value = 1;
        return SQLITE_OK;
    }
    arm_slice v = {NULL, 0};
    int rc = arm_engine_cursor_value(cur->ec, &v);
    if (rc == ARM_NOTFOUND) {
        cur->value_gone = 1; // deleted since we stepped onto it: reads as NULLs
        return SQLITE_OK;
    }
    if (rc != ARM_OK) return arm_vtab_engine_error(vt, rc, "read");
    // the key slice is borrowed from the cursor too; refresh it after the call
    cur->key = arm_engine_cursor_key(cur->ec);
    cur->value = v;
    cur->have_value = 1;
    return SQLITE_OK;
}

static int vtab_column(sqlite3_vtab_cursor *base, sqlite3_context *ctx, int col) {
    vtab_cursor *cur = (vtab_cursor *)base;
    arm_vtab *vt = (arm_vtab *)cur->base.pVtab;
    if (cur->eof) return SQLITE_OK;
    if (col == vt->cfg.key_col) {
        arm_codec_key_result(vt->cfg.key_type, cur->key, ctx);
        return SQLITE_OK;
    }
    int rc = vtab_cursor_value(cur);
    if (rc != SQLITE_OK) return rc;
    if (cur->value_gone) return SQLITE_OK; // NULL
    if (!vt->cfg.table_form) {
        if (arm_codec_value_result(cur->value, ctx) != ARM_OK) {
            arm_vtab_set_error(vt, "armdb: %s: corrupt value", vt->name);
            return SQLITE_CORRUPT_VTAB;
        }
        return SQLITE_OK;
    }
    if (!cur->fields_ok) {
        if (arm_codec_record_split(cur->value, cur->fields, vt->cfg.ncol - 1) != ARM_OK) {
            arm_vtab_set_error(vt, "armdb: %s: corrupt record", vt->name);
            return SQLITE_CORRUPT_VTAB;
        }
        cur->fields_ok = 1;
    }
    arm_codec_field_result(&cur->fields[col < vt->cfg.key_col ? col : col - 1], ctx);
    return SQLITE_OK;
}

/* WITHOUT ROWID, so SQLite asks for a rowid in one case only: a DELETE or
 * UPDATE ... LIMIT on a table not yet connected in this connection, which
 * SQLite rewrites to `rowid IN (SELECT rowid ... LIMIT n)` before connecting
 * the table. The rowid only has to name a row the same way in both scans:
 * an INTEGER key is its own rowid; a TEXT or BLOB key gets a 64-bit hash of
 * its bytes (two keys of one table sharing a hash is a 2^-64 event). */
static int vtab_rowid(sqlite3_vtab_cursor *base, sqlite3_int64 *rowid) {
    vtab_cursor *cur = (vtab_cursor *)base;
    arm_vtab *vt = (arm_vtab *)cur->base.pVtab;
    *rowid = 0;
    if (cur->eof) return SQLITE_OK;
    int64_t k = 0;
    if (vt->cfg.key_type != ARM_EXT_KEY_INTEGER)
        *rowid = (sqlite3_int64)arm_hash_key(cur->key.ptr, cur->key.len);
    else if (arm_codec_int_key_decode(cur->key, &k) == ARM_OK)
        *rowid = k;
    return SQLITE_OK;
}

/* --------------------------------------------------------------- writes */
/* The engine transaction vt writes in: from xBegin, or joined here when the
 * table was created inside the open transaction (SQLite then calls no
 * xBegin for it). */
static int vtab_wtxn(arm_vtab *vt, arm_txn **txn_out) {
    *txn_out = arm_ext_ctx_wtxn(vt);
    if (*txn_out != NULL) return arm_ext_ctx_resume(vt);
    arm_ext_ctx *ctx;
    return arm_ext_ctx_enter(vt, 1, &ctx, txn_out);
}

/* Validate and encode the key of a new row into buf. *skip = 1 under
 * OR IGNORE when the row breaks a constraint. A wrong type is no constraint
 * but SQLITE_MISMATCH, as for an INTEGER PRIMARY KEY, and IGNORE does not
 * skip it. */
static int vtab_new_key(arm_vtab *vt, sqlite3_value *v, arm_buf *buf, int on_conflict,
                        int *skip) {
    const arm_ext_column *kc = &vt->cfg.cols[vt->cfg.key_col];
    int k = arm_codec_key_for_write(vt->cfg.key_type, v, vt->cfg.max_key_size, buf);
    if (k == ARM_CODEC_KEY_NOMEM) return SQLITE_NOMEM;
    if (k == ARM_CODEC_KEY_TYPE) {
        arm_vtab_set_error(vt, "datatype mismatch: cannot store %s value in %s column %s.%s",
                           vtab_type_name(sqlite3_value_type(v)),
                           arm_opts_key_type_name(vt->cfg.key_type), vt->name, kc->name);
        return SQLITE_MISMATCH;
    }
    if (k == ARM_CODEC_KEY_NULL && on_conflict == SQLITE_IGNORE) {
        *skip = 1;
        return SQLITE_OK;
    }
    if (k == ARM_CODEC_KEY_NULL) {
        arm_vtab_set_error(vt, "NOT NULL constraint failed: %s.%s", vt->name, kc->name);
        return SQLITE_CONSTRAINT_NOTNULL;
    }
    if (k == ARM_CODEC_KEY_TOOBIG) {
        arm_vtab_set_error(vt, "armdb: %s.%s is too long (%llu bytes; max_key_size is %u)",
                           vt->name, kc->name, (unsigned long long)sqlite3_value_bytes(v),
                           vt->cfg.max_key_size);
        return SQLITE_TOOBIG;
    }
    size_t n = arm_codec_key_user_len(vt->cfg.key_type, arm_slice_make(buf->ptr, buf->len));
    if (vt->cfg.key_type != ARM_EXT_KEY_INTEGER && n > vt->cfg.max_key_size) {
        arm_vtab_set_error(vt, "armdb: %s.%s is too long (%llu bytes; max_key_size is %u)",
                           vt->name, kc->name, (unsigned long long)n, vt->cfg.max_key_size);
        return SQLITE_TOOBIG;
    }
    return SQLITE_OK;
}

/* The key of the row being written, into vt->kbuf: an INTEGER PRIMARY KEY
 * inserted as NULL gets the next key (set to NULL by UPDATE it is a type
 * error, as for a rowid); anything else goes through vtab_new_key. */
static int vtab_row_key(arm_vtab *vt, arm_txn *txn, sqlite3_value *v, int is_update,
                        int on_conflict, int *skip) {
    int auto_key = vt->cfg.table_form && vt->cfg.key_type == ARM_EXT_KEY_INTEGER &&
                   sqlite3_value_type(v) == SQLITE_NULL;
    if (!auto_key) return vtab_new_key(vt, v, &vt->kbuf, on_conflict, skip);
    if (is_update) {
        arm_vtab_set_error(vt, "datatype mismatch: cannot store NULL value in INTEGER column %s.%s",
                           vt->name, vt->cfg.cols[vt->cfg.key_col].name);
        return SQLITE_MISMATCH;
    }
    int64_t k = 0;
    int rc = vtab_next_int_key(vt, txn, &k);
    if (rc == SQLITE_OK && arm_codec_int_key(k, &vt->kbuf) != ARM_OK) rc = SQLITE_NOMEM;
    return rc;
}

/* A value over max_value_size. When that limit is the default, lowered so one
 * entry fits in a small max_file_size, the message says so: the user never
 * wrote the number it names. */
static int vtab_value_too_long(arm_vtab *vt, size_t n) {
    const arm_ext_config *cfg = &vt->cfg;
    char *note = NULL;
    if (cfg->value_size_lowered) {
        note = sqlite3_mprintf(", the default lowered to fit one data file of max_file_size %llu",
                               (unsigned long long)cfg->eng.max_file_size);
        if (note == NULL) return SQLITE_NOMEM;
    }
    arm_vtab_set_error(vt, "armdb: %s%s is too long (%llu bytes; max_value_size is %u%s)",
                       vt->name, cfg->table_form ? ": row" : ".value", (unsigned long long)n,
                       cfg->max_value_size, note ? note : "");
    sqlite3_free(note);
    return SQLITE_TOOBIG;
}

/* Validate and encode the non-key columns of a new row into vt->vbuf. The
 * size is checked before any byte is copied. */
static int vtab_new_value(arm_vtab *vt, sqlite3_value **cols, int on_conflict, int *skip) {
    const arm_ext_config *cfg = &vt->cfg;
    for (int i = 0; i < cfg->ncol; i++) {
        if (i == cfg->key_col || !cfg->cols[i].not_null) continue;
        if (sqlite3_value_type(cols[i]) != SQLITE_NULL) continue;
        if (on_conflict == SQLITE_IGNORE) {
            *skip = 1;
            return SQLITE_OK;
        }
        arm_vtab_set_error(vt, "NOT NULL constraint failed: %s.%s", vt->name, cfg->cols[i].name);
        return SQLITE_CONSTRAINT_NOTNULL;
    }
    size_t n = 0;
    int rc = cfg->table_form ? arm_codec_record_encode(cols, cfg->cols, cfg->ncol, cfg->key_col,
                                                       cfg->max_value_size, &vt->vbuf, &n)
                             : arm_codec_value_encode(cols[1], cfg->max_value_size, &vt->vbuf, &n);
    if (rc == ARM_NOMEM) return SQLITE_NOMEM;
    if (rc == ARM_TOOBIG) return vtab_value_too_long(vt, n);
    assert(rc == ARM_OK);
    return SQLITE_OK;
}

/* The new key is taken: REPLACE overwrites, IGNORE skips, the rest fail.
 * The lookup is a read of the transaction: if another connection inserts the
 * key before this one commits, the commit fails with SQLITE_BUSY_SNAPSHOT. */
static int vtab_conflict(arm_vtab *vt, arm_txn *txn, arm_slice key, int on_conflict, int *skip) {
    if (on_conflict == SQLITE_REPLACE) return SQLITE_OK;
    int rc = arm_txn_contains(txn, key);
    if (rc == ARM_NOTFOUND) return SQLITE_OK;
    if (rc != ARM_OK) return arm_vtab_engine_error(vt, rc, "read");
    if (on_conflict == SQLITE_IGNORE) {
        *skip = 1;
        return SQLITE_OK;
    }
    arm_vtab_set_error(vt, "UNIQUE constraint failed: %s.%s", vt->name,
                       vt->cfg.cols[vt->cfg.key_col].name);
    return SQLITE_CONSTRAINT_PRIMARYKEY;
}

/* argc == 1: DELETE argv[0]. argv[0] NULL: INSERT. Otherwise UPDATE of the
 * row whose key is argv[0]. argv[2 + i] is column i of the new row (argv[1]
 * is not used: the key column carries the new key). */
static int vtab_update(sqlite3_vtab *tab, int argc, sqlite3_value **argv, sqlite3_int64 *rowid) {
    arm_vtab *vt = (arm_vtab *)tab;
    /* SQLite sets last_insert_rowid() to *rowid after every INSERT that
     * returns SQLITE_OK: an INTEGER key reports itself (below); any other
     * insert, and one OR IGNORE skipped, leaves it as it was. */
    *rowid = sqlite3_last_insert_rowid(vt->db);
    int rc = arm_vtab_ready(vt);
    if (rc == SQLITE_OK && vt->cfg.read_only) {
        // the engine may be shared with a writable table: refuse here, always
        arm_vtab_set_error(vt, "armdb: %s is declared read_only=1: it cannot be written", vt->name);
        rc = SQLITE_READONLY;
    }
    if (rc == SQLITE_OK) rc = arm_ext_repl_check_write(vt);
    if (rc != SQLITE_OK) return rc;
    arm_txn *txn = NULL;
    rc = vtab_wtxn(vt, &txn);
    if (rc != SQLITE_OK) return rc;
    int on_conflict = sqlite3_vtab_on_conflict(vt->db);
    int have_old = sqlite3_value_type(argv[0]) != SQLITE_NULL, skip = 0;
    if (have_old && arm_codec_key_for_write(vt->cfg.key_type, argv[0], ARM_EXT_KEY_SIZE_MAX,
                                            &vt->kbuf2) != ARM_CODEC_KEY_OK)
        return SQLITE_NOMEM; // argv[0] came from our own column: only OOM can fail
    arm_slice old_key = arm_slice_make(vt->kbuf2.ptr, vt->kbuf2.len);
    if (argc == 1) {
        rc = arm_txn_delete(txn, old_key);
        if (rc != ARM_OK) return arm_vtab_engine_error(vt, rc, "delete");
        arm_ext_ctx_changed(vt);
        return SQLITE_OK;
    }
    if (argc != vt->cfg.ncol + 2) return SQLITE_ERROR;
    sqlite3_value **cols = argv + 2;
    if (!have_old) {
        char *msg = NULL;
        rc = arm_default_apply(&vt->dflt, vt->db, &vt->cfg, argv + 2, &cols, &msg);
        if (msg != NULL) arm_vtab_set_error(vt, "%s", msg);
        sqlite3_free(msg);
        if (rc != SQLITE_OK) return rc;
    }
    rc = vtab_row_key(vt, txn, cols[vt->cfg.key_col], have_old, on_conflict, &skip);
    if (rc == SQLITE_OK && !skip) rc = vtab_new_value(vt, cols, on_conflict, &skip);
    arm_slice key = arm_slice_make(vt->kbuf.ptr, vt->kbuf.len);
    int same = have_old && vtab_slice_cmp(&key, &old_key) == 0;
    if (rc == SQLITE_OK && !skip && !same) rc = vtab_conflict(vt, txn, key, on_conflict, &skip);
    /* OR IGNORE: SQLite skips the row, and does not count it as changed,
     * when xUpdate says SQLITE_CONSTRAINT (constraint support is on). */
    if (skip) return SQLITE_CONSTRAINT;
    if (rc != SQLITE_OK) return rc;
    size_t mark = arm_txn_mark(txn);
    int arc = ARM_OK;
    if (have_old && !same) arc = arm_txn_delete(txn, old_key);
    arm_slice val = arm_slice_make(vt->vbuf.ptr, vt->vbuf.len);
    if (arc == ARM_OK) arc = arm_txn_put(txn, key, val);
    if (arc != ARM_OK) {
        if (arm_txn_rollback_to(txn, mark) != ARM_OK) {} // a row is all or nothing
        return arm_vtab_engine_error(vt, arc, "write");
    }
    arm_ext_ctx_changed(vt);
    int64_t k = 0;
    if (!have_old && vt->cfg.key_type == ARM_EXT_KEY_INTEGER &&
        arm_codec_int_key_decode(key, &k) == ARM_OK)
        *rowid = k;
    return SQLITE_OK;
}

/* ---------------------------------------------------------- transactions */
/* The commit protocol lives in arm_txn.c: xBegin enters (or starts) the
 * connection's transaction context as a writer, xSync prepares, xCommit
 * publishes, xRollback discards. */
static int vtab_begin(sqlite3_vtab *tab) {
    arm_vtab *vt = (arm_vtab *)tab;
    int rc = arm_vtab_ready(vt); // retries an open another process blocked; refuses after fork
    if (rc != SQLITE_OK) return rc;
    arm_txn *txn;
    return vtab_wtxn(vt, &txn);
}

static int vtab_sync(sqlite3_vtab *tab) {
    return arm_ext_ctx_sync((arm_vtab *)tab);
}

static int vtab_commit(sqlite3_vtab *tab) {
    return arm_ext_ctx_commit((arm_vtab *)tab);
}

static int vtab_rollback(sqlite3_vtab *tab) {
    return arm_ext_ctx_rollback((arm_vtab *)tab);
}

/* Savepoint n saves the transaction's current mark. A table that joins the
 * transaction late is told only of the newest savepoint; the older ones
 * predate its first write, so their mark is 0. */
static int vtab_savepoint(sqlite3_vtab *tab, int n) {
    arm_vtab *vt = (arm_vtab *)tab;
    if (n < 0 || n >= ARM_EXT_SAVEPOINT_MAX) return SQLITE_OK;
    if (n >= vt->cap_marks) {
        int cap = vt->cap_marks ? vt->cap_marks : 8;
        while (cap <= n) cap *= 2;
        size_t *m = sqlite3_realloc64(vt->marks, (size_t)cap * sizeof(size_t));
        if (m == NULL) return SQLITE_NOMEM;
        vt->marks = m;
        vt->cap_marks = cap;
    }
    arm_txn *txn = arm_ext_ctx_wtxn(vt);
    for (int i = vt->nmarks; i < n; i++) vt->marks[i] = 0;
    vt->marks[n] = txn ? arm_txn_mark(txn) : 0;
    vt->nmarks = n + 1;
    return SQLITE_OK;
}

static int vtab_release(sqlite3_vtab *tab, int n) {
    arm_vtab *vt = (arm_vtab *)tab;
    if (n >= 0 && n < vt->nmarks) vt->nmarks = n;
    return SQLITE_OK;
}

/* n = -1 is the transaction's start: SQLite rolls back to it for the
 * outermost savepoint of a transaction that SAVEPOINT began. */
static int vtab_rollback_to(sqlite3_vtab *tab, int n) {
    arm_vtab *vt = (arm_vtab *)tab;
    if (n < -1 || n >= vt->nmarks) return SQLITE_OK;
    arm_txn *txn = arm_ext_ctx_wtxn(vt);
    int rc = txn ? arm_txn_rollback_to(txn, n < 0 ? 0 : vt->marks[n]) : ARM_OK;
    vt->nmarks = n + 1;
    return rc == ARM_OK ? SQLITE_OK : arm_vtab_engine_error(vt, rc, "rollback to savepoint");
}

/* ---------------------------------------------------------------- rename */
/* A default directory is named after the table, so it moves with it (only
 * while no other connection has the table open); an explicit dir= stays. */
static int vtab_rename(sqlite3_vtab *tab, const char *new_name) {
    arm_vtab *vt = (arm_vtab *)tab;
    /* The directory moves at once and a ROLLBACK could not move it back. */
    if (!sqlite3_get_autocommit(vt->db)) {
        arm_vtab_set_error(vt, "armdb: ALTER TABLE %s RENAME inside a transaction is not "
                           "supported; commit first", vt->name);
        return SQLITE_ERROR;
    }
    /* The directory's record names its table: it must follow the rename,
     * so the engine must be open. */
    int rc0 = arm_vtab_ready(vt);
    if (rc0 != SQLITE_OK) return rc0;
    /* Replication threads borrow the engine that a move closes and reopens. */
    if (vt->cfg.dir_default && arm_ext_repl_active(vt->sh)) {
        arm_vtab_set_error(vt, "armdb: cannot rename %s while it serves or follows; "
                           "armdb_repl_stop('%s') first", vt->name, vt->name);
        return SQLITE_BUSY;
    }
    char *name = sqlite3_mprintf("%s", new_name);
    char *me_table = sqlite3_mprintf("%s", new_name);
    if (name == NULL || me_table == NULL) {
        sqlite3_free(name);
        sqlite3_free(me_table);
        return SQLITE_NOMEM;
    }
    if (vt->cfg.dir_default) {
        arm_txn *wtxn = arm_ext_ctx_wtxn(vt);
        if (wtxn != NULL && arm_txn_write_count(wtxn) > 0) {
            sqlite3_free(name);
            sqlite3_free(me_table);
            arm_vtab_set_error(vt, "armdb: %s: commit the table's changes before renaming it",
                               vt->name);
            return SQLITE_ERROR;
        }
        char *err = NULL;
        char *dir = arm_opts_default_dir(vt->db, vt->schema, new_name, &err);
        int rc = dir ? ARM_OK : ARM_ERROR;
        if (dir != NULL) {
            arm_ext_ctx_quiesce(vt); // let go of transactions on the engine about to close
            rc = arm_ext_engine_move(vt->sh, &vt->cfg, dir, &err);
        }
        if (rc != ARM_OK) {
            arm_vtab_set_error(vt, "%s", err ? err : "armdb: rename failed");
            sqlite3_free(err);
            sqlite3_free(dir);
            sqlite3_free(name);
            sqlite3_free(me_table);
            return arm_ext_rc(rc);
        }
        sqlite3_free(vt->cfg.dir);
        vt->cfg.dir = dir;
    }
    /* The decision table follows inside SQLite's transaction; the record's
     * owner (outside it) last, so a failure before it rolls the rename back
     * whole. */
    int src = arm_ext_shadow_rename(vt, new_name);
    if (src != SQLITE_OK) {
        sqlite3_free(name);
        sqlite3_free(me_table);
        return src;
    }
    char *err = NULL;
    int rc = vt->sh->engine ? arm_ext_engine_rename(vt->sh, &vt->me, new_name, &err) : ARM_OK;
    if (rc != ARM_OK) {
        arm_vtab_set_error(vt, "%s", err ? err : "armdb: rename failed");
        sqlite3_free(err);
        sqlite3_free(name);
        sqlite3_free(me_table);
        return arm_ext_rc(rc);
    }
    sqlite3_free(vt->name);
    vt->name = name;
    sqlite3_free(vt->me.table);
    vt->me.table = me_table;
    return SQLITE_OK;
}

/* ------------------------------------------------------------- integrity */
typedef struct vtab_integrity_ctx {
    sqlite3_str *out;
    uint64_t n;
} vtab_integrity_ctx;

#define VTAB_INTEGRITY_SHOWN 10 /* problems spelled out in one report */

static void vtab_integrity_report(void *p, const char *path, uint64_t offset, const char *msg) {
    vtab_integrity_ctx *c = p;
    if (c->n++ < VTAB_INTEGRITY_SHOWN)
        sqlite3_str_appendf(c->out, "; %s at offset %llu: %s", path, (unsigned long long)offset,
                            msg);
}

/* PRAGMA integrity_check (SQLite 3.44+): every checksum of the table's data
 * files, as armdb_check verifies them; quick_check only sees that the table
 * opens. A table that cannot open is reported as a problem, not an error,
 * so the rest of the check still runs. */
static int vtab_integrity(sqlite3_vtab *tab, const char *schema, const char *name, int flags,
                          char **err) {
    arm_vtab *vt = (arm_vtab *)tab;
    *err = NULL;
    if (arm_vtab_ready(vt) != SQLITE_OK) {
        *err = sqlite3_mprintf("armdb: %s.%s: %s", schema, name, vt->base.zErrMsg);
        return *err ? SQLITE_OK : SQLITE_NOMEM;
    }
    if (flags & 1) return SQLITE_OK; // quick_check
    vtab_integrity_ctx c = {sqlite3_str_new(NULL), 0};
    uint64_t nprob = 0;
    int rc = arm_engine_check(vt->sh->engine, vtab_integrity_report, NULL, &c, &nprob);
    char *list = sqlite3_str_finish(c.out);
    if (rc != ARM_OK)
        *err = sqlite3_mprintf("armdb: %s.%s: the check could not run: %s", schema, name,
                               arm_engine_errmsg(vt->sh->engine));
    else if (nprob > 0)
        *err = sqlite3_mprintf("armdb: %s.%s: %llu damaged place%s in %s%s%s", schema, name,
                               (unsigned long long)nprob, nprob == 1 ? "" : "s", vt->sh->path,
                               list ? list : "", nprob > VTAB_INTEGRITY_SHOWN ? "; ..." : "");
    sqlite3_free(list);
    return (rc != ARM_OK || nprob > 0) && *err == NULL ? SQLITE_NOMEM : SQLITE_OK;
}

/* ---------------------------------------------------------------- module */
/* xIntegrity is member 24 of sqlite3_module from SQLite 3.44 (iVersion 4).
 * Built against an older sqlite3ext.h the struct ends before it, so the
 * module is laid out with the member appended; it is registered with
 * iVersion 4 only where the running library reads it. */
#if SQLITE_VERSION_NUMBER >= 3044000
typedef sqlite3_module vtab_module_v4;
#define VTAB_MODULE(m) (&(m))
#else
typedef struct vtab_module_v4 {
    sqlite3_module base;
    int (*xIntegrity)(sqlite3_vtab *, const char *, const char *, int, char **);
} vtab_module_v4;
#define VTAB_MODULE(m) (&(m).base)
#endif

#define VTAB_METHODS                                                                             \
    vtab_create, vtab_connect, vtab_best_index, vtab_disconnect, vtab_destroy, vtab_open,        \
        vtab_close, vtab_filter, vtab_next, vtab_eof, vtab_column, vtab_rowid, vtab_update,      \
        vtab_begin, vtab_sync, vtab_commit, vtab_rollback, NULL, vtab_rename, vtab_savepoint,    \
        vtab_release, vtab_rollback_to

/* iVersion 2: xSavepoint, xRelease, xRollbackTo. */
static const sqlite3_module vtab_module = {2, VTAB_METHODS, NULL /* xShadowName */};
#if SQLITE_VERSION_NUMBER >= 3044000
static const vtab_module_v4 vtab_module4 = {4, VTAB_METHODS, NULL, vtab_integrity};
#else
static const vtab_module_v4 vtab_module4 = {{4, VTAB_METHODS, NULL}, vtab_integrity};
#endif

ARM_PRIVATE const sqlite3_module *arm_vtab_module(void) {
    return sqlite3_libversion_number() >= 3044000 ? VTAB_MODULE(vtab_module4) : &vtab_module;
}

#undef VTAB_PLAN_EQ
#undef VTAB_PLAN_IN
#undef VTAB_PLAN_LO
#undef VTAB_PLAN_LO_INC
#undef VTAB_PLAN_HI
#undef VTAB_PLAN_HI_INC
#undef VTAB_PLAN_DESC
#undef VTAB_IN_MAX
#undef VTAB_RANDOM_KEY_TRIES
#undef VTAB_INTEGRITY_SHOWN
#undef VTAB_MODULE
#undef VTAB_METHODS
