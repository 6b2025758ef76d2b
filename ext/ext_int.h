/* SPDX-License-Identifier: MIT */
/*
 * ext_int.h: what the files of ext/ share, private to ext/. The per-table
 * configuration parsed from CREATE VIRTUAL TABLE (arm_opts.c), the key and
 * value codecs (arm_codec.c), the vtab object (arm_vtab.c), the per-connection
 * state and the process-wide engine registry (armdb_ext.c), and the SQL
 * functions (arm_func.c). Layer: ext (the only layer that knows SQLite).
 * Every function here is ARM_PRIVATE (static in the amalgamation).
 */
#ifndef ARM_EXT_INT_H
#define ARM_EXT_INT_H

#include "sqlite3ext.h"

#include <pthread.h>

#include "../common/arm_base.h"
#include "../engine/arm_engine.h"

/* ------------------------------------------------------------ key types */
enum arm_ext_key_type {
    ARM_EXT_KEY_BLOB = 0,    /* memcmp order; the kv form's default */
    ARM_EXT_KEY_TEXT = 1,    /* UTF-8 bytes: BINARY collation */
    ARM_EXT_KEY_INTEGER = 2, /* 64-bit signed, numeric order */
};

/* Column affinity, from the declared type by SQLite's rules (datatype3.html
 * 3.1): applied to every non-key value written in the table form. */
enum arm_ext_affinity {
    ARM_EXT_AFF_BLOB = 0,    /* "BLOB" or no type: values are stored as given */
    ARM_EXT_AFF_TEXT = 1,    /* CHAR, CLOB, TEXT: numbers become text */
    ARM_EXT_AFF_NUMERIC = 2, /* anything else: numeric text becomes a number */
    ARM_EXT_AFF_INTEGER = 3, /* INT: as NUMERIC (whole reals become integers) */
    ARM_EXT_AFF_REAL = 4,    /* REAL, FLOA, DOUB: numbers become reals */
};

/* Bounds. */
#define ARM_EXT_COLUMNS_MAX   2000  /* SQLite's default SQLITE_MAX_COLUMN */
#define ARM_EXT_SHARDS_MAX    1024  /* shards= upper bound */
#define ARM_EXT_KEY_SIZE_MAX  65534 /* engine klen is 1..65535; TEXT/BLOB keys get a prefix byte */
#define ARM_EXT_SAVEPOINT_MAX 100000 /* deepest savepoint nesting we track */

/* ------------------------------------------------------- configuration */
typedef struct arm_ext_column {
    char *name;      /* column name (sqlite3_malloc) */
    char *type;      /* declared type as written, "" when none (sqlite3_malloc) */
    int not_null;    /* NOT NULL was declared */
    int affinity;    /* enum arm_ext_affinity of type */
    char *dflt;      /* DEFAULT value as written, or NULL (sqlite3_malloc) */
    char *collate;   /* COLLATE name, or NULL (sqlite3_malloc) */
} arm_ext_column;

/* Everything CREATE VIRTUAL TABLE says about one table. xConnect parses the
 * same arguments again (SQLite stores the statement), so nothing else needs
 * to be persisted. */
typedef struct arm_ext_config {
    arm_engine_options eng;   /* engine options, already adjusted for our encodings */
    char *dir;                /* absolute directory (sqlite3_malloc) */
    int dir_default;          /* 1 = dir was derived from the database file name */
    int key_type;             /* enum arm_ext_key_type */
    int table_form;           /* 0 = key/value form, 1 = declared columns */
    int key_col;              /* index of the PRIMARY KEY column */
    int ncol;                 /* number of columns (kv form: 2) */
    arm_ext_column *cols;     /* ncol columns (sqlite3_malloc) */
    uint32_t max_key_size;    /* user-visible limit on TEXT/BLOB key bytes */
    uint32_t max_value_size;  /* user-visible limit on the encoded value/record bytes */
    int value_size_lowered;   /* 1 = the default max_value_size was lowered to fit max_file_size */
} arm_ext_config;

/* Parse argv of xCreate/xConnect (argv[0] module, [1] schema, [2] table,
 * [3..] arguments) into *cfg. On failure returns SQLITE_ERROR with *errmsg
 * (sqlite3_malloc) set; cfg is then cleared. */
ARM_PRIVATE int arm_opts_parse(sqlite3 *db, int argc, const char *const *argv,
                               arm_ext_config *cfg, char **errmsg);
ARM_PRIVATE void arm_opts_clear(arm_ext_config *cfg);
/* The CREATE TABLE statement for sqlite3_declare_vtab (sqlite3_malloc). */
ARM_PRIVATE char *arm_opts_schema(const arm_ext_config *cfg);
/* The default directory for `table` in database `schema`, or NULL with
 * *errmsg set when the database has no file. (sqlite3_malloc) */
ARM_PRIVATE char *arm_opts_default_dir(sqlite3 *db, const char *schema, const char *table,
                                       char **errmsg);
ARM_PRIVATE const char *arm_opts_key_type_name(int key_type);

/* --------------------------------------------------------------- codecs */
/* Outcome of turning an SQL value into an engine key. */
enum arm_codec_key_rc {
    ARM_CODEC_KEY_OK = 0,    /* encoded into the buffer */
    ARM_CODEC_KEY_NULL = 1,  /* the value is NULL */
    ARM_CODEC_KEY_TYPE = 2,  /* wrong type (writes) / can never match (lookups) */
    ARM_CODEC_KEY_NOMEM = 3,
    ARM_CODEC_KEY_TOOBIG = 4, /* TEXT/BLOB longer than max_len (nothing copied) */
};
/* Writes: apply the key column's affinity, then require the declared type.
 * max_len: the longest TEXT/BLOB key accepted (user bytes). No SQLite call
 * made here needs v's database handle, so v may be a copy or an IN value. */
ARM_PRIVATE int arm_codec_key_for_write(int key_type, sqlite3_value *v, size_t max_len,
                                        arm_buf *out);
/* Lookups (key = v, key IN (...)): the one key that can compare equal to v,
 * if any (ARM_CODEC_KEY_TYPE when none can). */
ARM_PRIVATE int arm_codec_key_for_lookup(int key_type, sqlite3_value *v, size_t max_len,
                                         arm_buf *out);
/* Range bounds: ARM_CODEC_BOUND_* below; *inclusive may be widened. */
enum arm_codec_bound_rc {
    ARM_CODEC_BOUND_OK = 0,    /* bound encoded; a superset of the matches is kept */
    ARM_CODEC_BOUND_NONE = 1,  /* ignore this bound (SQLite re-checks every row) */
    ARM_CODEC_BOUND_EMPTY = 2, /* nothing can match */
    ARM_CODEC_BOUND_NOMEM = 3,
};
ARM_PRIVATE int arm_codec_bound(int key_type, sqlite3_value *v, int is_lower, int *inclusive,
                                arm_buf *out);
/* INTEGER keys: encode i (ARM_OK, ARM_NOMEM), decode (ARM_OK, ARM_CORRUPT). */
ARM_PRIVATE int arm_codec_int_key(int64_t i, arm_buf *out);
ARM_PRIVATE int arm_codec_int_key_decode(arm_slice key, int64_t *out);
/* User-visible byte length of an encoded key (TEXT/BLOB prefix not counted). */
ARM_PRIVATE size_t arm_codec_key_user_len(int key_type, arm_slice key);
ARM_PRIVATE void arm_codec_key_result(int key_type, arm_slice key, sqlite3_context *ctx);

/* kv form values: one SQLite type byte, then the payload. ARM_OK, ARM_NOMEM,
 * or ARM_TOOBIG when the payload is over max_len (nothing copied). *len_out
 * gets the payload's length either way. */
ARM_PRIVATE int arm_codec_value_encode(sqlite3_value *v, size_t max_len, arm_buf *out,
                                       size_t *len_out);
ARM_PRIVATE int arm_codec_value_result(arm_slice val, sqlite3_context *ctx);

/* Table form records (format in arm_codec.c). A field is one column's slice. */
typedef struct arm_codec_field {
    int type;           /* SQLITE_INTEGER .. SQLITE_NULL */
    const uint8_t *ptr; /* payload (borrowed from the record) */
    size_t len;         /* payload bytes */
} arm_codec_field;
/* Encode argv columns except key_col (argv[i] for column i), each after its
 * column's affinity (defs[i].affinity). ARM_OK, ARM_NOMEM, or ARM_TOOBIG
 * when the record would be over max_len bytes (nothing copied: a zeroblob is
 * never expanded). *len_out gets the record's length either way. */
ARM_PRIVATE int arm_codec_record_encode(sqlite3_value *const *cols, const arm_ext_column *defs,
                                        int ncol, int key_col, size_t max_len, arm_buf *out,
                                        size_t *len_out);
/* Split a record into nfield fields (absent trailing fields read as NULL).
 * ARM_OK or ARM_CORRUPT. */
ARM_PRIVATE int arm_codec_record_split(arm_slice rec, arm_codec_field *fields, int nfield);
ARM_PRIVATE void arm_codec_field_result(const arm_codec_field *f, sqlite3_context *ctx);

/* ------------------------------------------------------------- defaults */
/* Per table object: what arm_default.c keeps to evaluate DEFAULT clauses. */
typedef struct arm_default {
    sqlite3_stmt *stmt;    /* SELECT of every DEFAULT, prepared on first use */
    sqlite3_value **vals;  /* ncol: last evaluated default per column (owned copies) */
    sqlite3_value **row;   /* ncol: the row with defaults filled in (borrowed values) */
} arm_default;
/* Check at CREATE that every DEFAULT is an expression SQLite accepts. */
ARM_PRIVATE int arm_default_check(sqlite3 *db, const arm_ext_config *cfg, char **errmsg);
/* The new row's columns with each NULL that did not come from a bound
 * parameter replaced by its column's DEFAULT (*out = cols when none applies;
 * otherwise valid until the next call). SQLITE_OK or an error, *errmsg set. */
ARM_PRIVATE int arm_default_apply(arm_default *d, sqlite3 *db, const arm_ext_config *cfg,
                                  sqlite3_value **cols, sqlite3_value ***out, char **errmsg);
ARM_PRIVATE void arm_default_clear(arm_default *d, int ncol);

/* -------------------------------------------------- shared engine registry */
/* One open engine, shared by every vtab of the process on the same directory. */
typedef struct arm_ext_shared arm_ext_shared;
struct arm_ext_shared {
    char *path;            /* realpath of the directory (malloc) */
    arm_engine *engine;    /* the engine */
    int refs;              /* vtabs using it */
    int doomed;            /* DROP TABLE happened: remove the directory at the last release */
    int remove_parent;     /* also rmdir the (default) parent directory if empty */
    /* INTEGER PRIMARY KEY given NULL: the last key handed out in this
     * process and to which connection, so that two connections inserting
     * at once get different keys (guarded by auto_mu). */
    pthread_mutex_t auto_mu;
    int64_t auto_last;
    const void *auto_conn; /* arm_ext_conn that got auto_last; NULL = none yet */
    arm_ext_shared *next;
};

/* Open (or share) the engine on cfg->dir. create: make the directory if
 * missing. ARM_OK with *out, or an ARM_* code with *errmsg (sqlite3_malloc). */
ARM_PRIVATE int arm_ext_engine_acquire(const arm_ext_config *cfg, int create,
                                       arm_ext_shared **out, char **errmsg);
/* Drop one reference; the last one closes the engine (and removes the
 * directory when doomed). */
ARM_PRIVATE void arm_ext_engine_release(arm_ext_shared *sh);
/* DROP TABLE: remove the directory once the last reference is gone. */
ARM_PRIVATE void arm_ext_engine_doom(arm_ext_shared *sh, int remove_parent);
/* ALTER TABLE RENAME of a table with a default directory: move the directory.
 * Only when sh has a single reference. ARM_OK or an ARM_* code with *errmsg. */
ARM_PRIVATE int arm_ext_engine_move(arm_ext_shared *sh, const arm_ext_config *cfg,
                                    const char *new_dir, char **errmsg);

/* --------------------------------------------------------- rc translation */
/* The one table that turns ARM_* codes into SQLite codes (armdb_ext.c). */
ARM_PRIVATE int arm_ext_rc(int arm_rc);

/* ------------------------------------------------------------ the vtab */
typedef struct arm_ext_conn arm_ext_conn;
typedef struct arm_vtab arm_vtab;

struct arm_vtab {
    sqlite3_vtab base;     /* must be first */
    sqlite3 *db;
    arm_ext_conn *conn;    /* per-connection state (holds a reference) */
    char *schema;          /* database name: "main", "temp", attached (sqlite3_malloc) */
    char *name;            /* table name (sqlite3_malloc; changes with RENAME) */
    arm_ext_config cfg;
    arm_ext_shared *sh;    /* NULL when the engine could not be opened at connect */
    char *open_err;        /* why sh is NULL (sqlite3_malloc) */
    int open_rc;           /* SQLite code for open_err */
    arm_batch *batch;      /* this connection's transaction; NULL until first xBegin */
    int in_txn;            /* between xBegin and xCommit/xRollback */
    int committed;         /* xSync committed the batch already */
    size_t *marks;         /* savepoint i -> batch mark (sqlite3_malloc) */
    int nmarks, cap_marks;
    arm_buf kbuf;          /* scratch: encoded key */
    arm_buf kbuf2;         /* scratch: second key (UPDATE of the key) */
    arm_buf vbuf;          /* scratch: encoded value */
    arm_default dflt;      /* DEFAULT clauses (table form) */
    arm_vtab *next_in_conn; /* arm_ext_conn list */
};

struct arm_ext_conn {
    sqlite3 *db;
    int refs;              /* module + functions + vtabs */
    arm_vtab *vtabs;       /* connected armdb tables of this connection */
};

ARM_PRIVATE void arm_ext_conn_ref(arm_ext_conn *conn);
ARM_PRIVATE void arm_ext_conn_unref(void *conn);
ARM_PRIVATE void arm_ext_conn_add(arm_ext_conn *conn, arm_vtab *vt);
ARM_PRIVATE void arm_ext_conn_remove(arm_ext_conn *conn, arm_vtab *vt);
/* Find a connected armdb table: `name` or `schema.name`. Connects it first if
 * it exists in the schema but was not used yet. NULL with *errmsg set. */
ARM_PRIVATE arm_vtab *arm_ext_conn_find(arm_ext_conn *conn, const char *name, char **errmsg);

/* An engine cursor over what this connection's table reads: committed data,
 * plus this connection's transaction when own_writes. Every read this
 * module makes beyond point lookups and its query scans (the largest key
 * for a NULL INTEGER PRIMARY KEY, armdb_backup) opens its cursor here, so
 * making them snapshot- and conflict-aware is one change. Owned: close with
 * arm_engine_cursor_close. ARM_OK or an ARM_* code; vt must be open. */
ARM_PRIVATE int arm_vtab_cursor_open(arm_vtab *vt, int own_writes, arm_cursor **cursor_out);

/* Set vt->base.zErrMsg (the old one is freed). */
ARM_PRIVATE void arm_vtab_set_error(arm_vtab *vt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copy the engine's message for a failed call into zErrMsg; returns the
 * SQLite code. */
ARM_PRIVATE int arm_vtab_engine_error(arm_vtab *vt, int arm_rc, const char *what);

ARM_PRIVATE const sqlite3_module *arm_vtab_module(void);
ARM_PRIVATE int arm_func_register(sqlite3 *db, arm_ext_conn *conn);

#endif /* ARM_EXT_INT_H */
