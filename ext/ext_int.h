/* SPDX-License-Identifier: MIT */
/*
 * ext_int.h: what the files of ext/ share, private to ext/. The per-table
 * configuration parsed from CREATE VIRTUAL TABLE (arm_opts.c), the key and
 * value codecs (arm_codec.c), the vtab object (arm_vtab.c), the per-connection
 * state and the process-wide engine registry (armdb_ext.c), the SQL
 * functions (arm_func.c), and replication from SQL (arm_repl_sql.c: the
 * leader or follower of an engine lives in its registry entry). Layer: ext (the only layer that knows SQLite).
 * Every function here is ARM_PRIVATE (static in the amalgamation).
 */
#ifndef ARM_EXT_INT_H
#define ARM_EXT_INT_H

#include "sqlite3ext.h"

#include <pthread.h>
#include <sys/types.h>

#include "../common/arm_base.h"
#include "../engine/arm_engine.h"

#include <pthread.h>

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
    int shared;               /* shared=1: several databases may use the directory on purpose */
    int read_only;            /* read_only=1: the engine opens read-only, the table refuses
                                 writes, and the directory is never created, adopted or removed */
    char *key_file;           /* key_file= resolved like dir, or NULL (sqlite3_malloc); eng.key_file */
    char *key_env;            /* key_env= variable name, or NULL (sqlite3_malloc); eng.key_env */
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
/* A directory named in SQL, made absolute: a relative one is taken relative
 * to the database file's directory (the current directory when the
 * database has no file), as dir= is. (sqlite3_malloc; NULL on OOM) */
ARM_PRIVATE char *arm_opts_resolve_dir(sqlite3 *db, const char *schema, const char *dir);

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
    int state;             /* 0: not looked at yet; 1: no column has a DEFAULT; 2: some do */
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

/* ------------------------------------------- the record in the directory */
/* Why a table's engine is not open (arm_vtab.open_kind). */
enum arm_ext_fail {
    ARM_EXT_FAIL_NONE = 0,
    ARM_EXT_FAIL_BUSY = 1,    /* another process holds the directory: retried on next use */
    ARM_EXT_FAIL_MISSING = 2, /* no directory (or no database in it): retried on next use */
    ARM_EXT_FAIL_FOREIGN = 3, /* the directory is another table's: never touched */
    ARM_EXT_FAIL_FORKED = 4,  /* opened by the parent of this forked process */
    ARM_EXT_FAIL_OTHER = 5,   /* damage, I/O, options, read-only conflicts */
    ARM_EXT_FAIL_NOMEM = 6,
};

/* Who opens a table: its database file and the table's name. */
typedef struct arm_ext_owner {
    char *file;     /* absolute path of the database file; "" = no file (:memory:, temp);
                       in a record, NULL = nobody owns the directory yet (sqlite3_malloc) */
    uint64_t dev;   /* st_dev of the file (0 without one) */
    uint64_t ino;   /* st_ino of the file */
    char *table;    /* table name (sqlite3_malloc) */
} arm_ext_owner;

/* What a table records in its directory (format in arm_record.c). */
typedef struct arm_ext_record {
    char *decl;          /* declaration: form, key type, columns (sqlite3_malloc) */
    int shared;          /* created with shared=1 */
    arm_ext_owner owner; /* owner.file NULL: nobody yet (armdb_backup's copies) */
    int dropped;         /* DROP TABLE began: the directory is to be removed */
    char *follow;        /* armdb_repl_follow's leader address, NULL when the table does
                            not follow (sqlite3_malloc) */
    char *follow_opts;   /* its options text, NULL when none (sqlite3_malloc) */
} arm_ext_record;

ARM_PRIVATE void arm_record_clear(arm_ext_record *r);
/* The declaration's canonical text (sqlite3_malloc). */
ARM_PRIVATE char *arm_record_decl(const arm_ext_config *cfg);
ARM_PRIVATE char *arm_record_encode(const arm_ext_record *r, int *len_out);
/* SQLITE_OK, SQLITE_CORRUPT (not a record), SQLITE_NOMEM. */
ARM_PRIVATE int arm_record_decode(const char *p, size_t n, arm_ext_record *r);
/* The owner a table of database `schema` would record. SQLITE_OK/NOMEM. */
ARM_PRIVATE int arm_record_owner_of(sqlite3 *db, const char *schema, const char *table,
                                    arm_ext_owner *o);
/* Compare the record with the table opening it (create: by CREATE VIRTUAL
 * TABLE). ARM_EXT_FAIL_NONE, with *changed = 1 when r was updated (a new or
 * adopted directory, a moved or restored database) and must be written;
 * ARM_EXT_FAIL_FOREIGN with *errmsg saying what differs or who owns it;
 * ARM_EXT_FAIL_NOMEM. */
ARM_PRIVATE int arm_record_check(arm_ext_record *r, const arm_ext_config *cfg,
                                 const arm_ext_owner *me, int create, int *changed,
                                 char **errmsg);

/* -------------------------------------------------- shared engine registry */
/* One open engine, shared by every vtab of the process on the same directory
 * (arm_registry.c). */
typedef struct arm_ext_shared arm_ext_shared;
struct arm_ext_shared {
    char *path;            /* realpath of the directory (malloc) */
    arm_engine *engine;    /* the engine */
    int refs;              /* vtabs using it */
    pid_t pid;             /* process that opened it: a forked child never uses it */
    int read_only;         /* opened read-only (for a read-only connection) */
    int doomed;            /* DROP TABLE happened: remove the directory at the last release */
    int remove_parent;     /* also rmdir the (default) parent directory if empty */
    /* INTEGER PRIMARY KEY given NULL: the last key handed out in this
     * process and to which connection, so that two connections inserting
     * at once get different keys (guarded by auto_mu). */
    pthread_mutex_t auto_mu;
    int64_t auto_last;
    const void *auto_conn; /* arm_ext_conn that got auto_last; NULL = none yet */
    arm_ext_shared *next;
    /* decision slots this process wrote, per decision table (arm_txn.c) */
    pthread_mutex_t slots_mu;
    struct arm_ext_slots *slots;
    /* Replication (arm_repl_sql.c): at most one of leader and follower runs,
     * on this engine, for every connection of the process. Guarded by
     * repl_mu, which is never taken while reg_mu is held (the registry
     * touches these fields only where no connection can reach the entry:
     * before it is listed, and after its last reference went). */
    pthread_mutex_t repl_mu;
    struct arm_repl_leader *leader;
    struct arm_repl_follower *follower;
    char *repl_addr;       /* the bound address served, or the leader's address (malloc) */
    char *repl_opts;       /* a follower's options text, or NULL (malloc) */
    char *repl_err;        /* a recorded follower that could not start again: why (malloc) */
    _Atomic int repl_follows; /* the engine is marked a follower (repl_addr names the leader) */
};

/* Decision slots: a decision table's blob holds ARM_EXT_SLOTS transaction
 * ids; this process's view of which it filled (0: free as far as it knows). */
#define ARM_EXT_SLOTS 128
typedef struct arm_ext_slots {
    uint8_t owner[16];
    uint64_t id[ARM_EXT_SLOTS];
    struct arm_ext_slots *next;
} arm_ext_slots;

/* Another reference to an acquired engine (released with
 * arm_ext_engine_release). */
ARM_PRIVATE void arm_ext_engine_ref(arm_ext_shared *sh);
/* The process-wide domain every engine the extension opens belongs to, so a
 * snapshot and a publish span all armdb tables of the process (borrowed; NULL
 * while no engine is open). */
ARM_PRIVATE arm_domain *arm_ext_domain(void);

#define ARM_EXT_OPEN_CREATE   0x1 /* CREATE VIRTUAL TABLE: make the directory and database */
#define ARM_EXT_OPEN_READONLY 0x2 /* a read-only connection: open the engine read-only */

/* Open (or share) the engine on cfg->dir for table `me`, checking the
 * table against the directory's record (and writing the record when it is
 * new or changed). ARM_OK with *out; otherwise an ARM_* code, *fail_out
 * (enum arm_ext_fail) saying what kind of failure, and *errmsg
 * (sqlite3_malloc). */
ARM_PRIVATE int arm_ext_engine_acquire(const arm_ext_config *cfg, const arm_ext_owner *me,
                                       int flags, arm_ext_shared **out, int *fail_out,
                                       char **errmsg);
/* This process's pid without a system call (kept current across fork()). */
ARM_PRIVATE pid_t arm_ext_pid(void);
/* Drop one reference; the last one closes the engine (and removes the
 * directory when doomed). A forked child's inherited entries are never
 * closed here. */
ARM_PRIVATE void arm_ext_engine_release(arm_ext_shared *sh);
/* DROP TABLE of an open table: record the drop durably, then remove the
 * directory once the last reference is gone. A directory shared on purpose
 * is kept (*kept_out = 1) unless `me` is its owner. ARM_OK or an error with
 * *errmsg. */
ARM_PRIVATE int arm_ext_engine_drop(arm_ext_shared *sh, const arm_ext_owner *me,
                                    int remove_parent, int *kept_out, char **errmsg);
/* DROP TABLE of a table whose engine could not open (damage): remove the
 * directory if its record says it is this table's. ARM_OK (removed, or
 * nothing there), ARM_NOTFOUND (not this table's: keep it), or an error
 * with *errmsg (another process holds it, unreadable metadata). */
ARM_PRIVATE int arm_ext_engine_destroy_dir(const arm_ext_config *cfg, const arm_ext_owner *me,
                                           char **errmsg);
/* Record that the table follows the leader at addr with options text opts
 * (NULL), or, addr NULL, that it follows nobody. ARM_OK or an error with
 * *errmsg (ARM_READONLY for a read-only engine). */
ARM_PRIVATE int arm_ext_engine_record_follow(arm_ext_shared *sh, const char *addr,
                                             const char *opts, char **errmsg);
/* ALTER TABLE RENAME: the record's owner follows the table's new name. */
ARM_PRIVATE int arm_ext_engine_rename(arm_ext_shared *sh, const arm_ext_owner *me,
                                      const char *new_name, char **errmsg);
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
typedef struct arm_ext_ctx arm_ext_ctx;

struct arm_vtab {
    sqlite3_vtab base;     /* must be first */
    sqlite3 *db;
    arm_ext_conn *conn;    /* per-connection state (holds a reference) */
    char *schema;          /* database name: "main", "temp", attached (sqlite3_malloc) */
    char *name;            /* table name (sqlite3_malloc; changes with RENAME) */
    arm_ext_config cfg;
    arm_ext_shared *sh;    /* NULL when the engine could not be opened */
    char *open_err;        /* why sh is NULL (sqlite3_malloc) */
    int open_rc;           /* SQLite code for open_err */
    int open_kind;         /* enum arm_ext_fail for open_err: BUSY and MISSING are retried */
    int open_flags;        /* ARM_EXT_OPEN_* to open again with */
    arm_ext_owner me;      /* this table's database file and name, for the record */
    arm_ext_ctx *ctx;      /* the transaction context it writes in (a reference), from
                              xBegin to xCommit/xRollback; NULL otherwise */
    size_t *marks;         /* savepoint i -> transaction mark (sqlite3_malloc) */
    int nmarks, cap_marks;
    /* the decision table <name>_armdb (arm_txn.c) */
    uint8_t owner[16];     /* its owner token: names it in prepared transactions */
    int has_shadow;        /* the table exists and owner is read */
    sqlite3_stmt *probe;   /* cached: a read of the temp schema (context boundaries) */
    arm_buf kbuf;          /* scratch: encoded key */
    arm_buf kbuf2;         /* scratch: second key (UPDATE of the key) */
    arm_buf vbuf;          /* scratch: encoded value */
    arm_default dflt;      /* DEFAULT clauses (table form) */
    arm_vtab *next_in_conn; /* arm_ext_conn list */
};

#define ARM_EXT_TXN_CACHE 8 /* engine transactions a connection keeps for reuse */

struct arm_ext_conn {
    sqlite3 *db;
    int refs;              /* module + functions + vtabs */
    arm_vtab *vtabs;       /* connected armdb tables of this connection */
    arm_ext_ctx *cur;      /* the current transaction context, or NULL */
    arm_ext_ctx *spare;    /* ended contexts kept for reuse */
    struct {               /* ended engine transactions kept for reuse */
        arm_ext_shared *sh; /* engine (a reference), or NULL */
        arm_txn *txn;
    } txn_cache[ARM_EXT_TXN_CACHE];
    int our_changes;       /* row changes armdb made since the last boundary */
    int changes_mark;      /* sqlite3_total_changes at the last boundary */
    int created;           /* an armdb table was created in the current transaction */
    struct arm_ext_hdr {   /* per schema, for WAL change detection (arm_txn.c) */
        char name[64];
        int wal;           /* its journal mode was WAL when last looked at */
        int known;         /* hdr valid */
        int hdr[3];        /* schema_version, user_version, application_id */
    } schemas[8];
};

/* --------------------------------------------------- transactions (arm_txn.c) */
/* The context a read (write = 0) or a write statement (write = 1, from
 * xBegin) of vt runs in, started if needed, and vt's engine transaction in
 * it (borrowed until the context ends). SQLITE_OK or an error (message set
 * on vt). */
ARM_PRIVATE int arm_ext_ctx_enter(arm_vtab *vt, int write, arm_ext_ctx **ctx_out,
                                  arm_txn **txn_out);
/* A cursor keeps its context (and the snapshot it reads) alive: ref when it
 * starts reading, unref when it stops. */
ARM_PRIVATE void arm_ext_ctx_ref(arm_ext_ctx *ctx);
ARM_PRIVATE void arm_ext_ctx_unref(arm_ext_ctx *ctx);
/* vt's engine transaction in the context it writes in (NULL: none). */
ARM_PRIVATE arm_txn *arm_ext_ctx_wtxn(arm_vtab *vt);
/* Before vt writes again in its context: SQLITE_OK, or SQLITE_BUSY_SNAPSHOT
 * when the context sat idle so long that its snapshot expired. */
ARM_PRIVATE int arm_ext_ctx_resume(arm_vtab *vt);
/* A row change armdb made (for change detection). */
ARM_PRIVATE void arm_ext_ctx_changed(arm_vtab *vt);
/* xSync / xCommit / xRollback of vt: prepare (with the decision recorded in
 * SQLite when the transaction spans more than one armdb engine or changes
 * native tables), publish every engine of the context at once, discard. */
ARM_PRIVATE int arm_ext_ctx_sync(arm_vtab *vt);
ARM_PRIVATE int arm_ext_ctx_commit(arm_vtab *vt);
ARM_PRIVATE int arm_ext_ctx_rollback(arm_vtab *vt);
/* The decision table: create it (xCreate), or find it and resolve the
 * engine's in-doubt transactions it owns (xConnect), rename, drop. */
ARM_PRIVATE int arm_ext_shadow_create(arm_vtab *vt, char **err);
ARM_PRIVATE int arm_ext_shadow_connect(arm_vtab *vt);
ARM_PRIVATE int arm_ext_shadow_rename(arm_vtab *vt, const char *new_name);
ARM_PRIVATE int arm_ext_shadow_drop(arm_vtab *vt);
/* The vtab is going: finalize what it cached, leave its context. */
ARM_PRIVATE void arm_ext_ctx_vtab_gone(arm_vtab *vt);
/* Before the table's engine is closed or moved (DROP, RENAME): let go of the
 * connection's idle transactions on it. */
ARM_PRIVATE void arm_ext_ctx_quiesce(arm_vtab *vt);
/* The connection is closing: free its contexts. */
ARM_PRIVATE void arm_ext_ctx_conn_gone(arm_ext_conn *conn);
/* --------------------------------------------------------------- backup */
typedef struct arm_backup_result {
    uint64_t keys;   /* keys copied */
    uint64_t bytes;  /* key and value bytes copied */
    uint32_t shards; /* shards of the copy (those of the table) */
    uint64_t damaged; /* keys left out: their value failed its checksum (salvage only) */
} arm_backup_result;
/* armdb_backup: copy vt's committed data into a new engine at dir (absolute;
 * must not exist or be empty). ARM_OK with *res; otherwise an ARM_* code
 * with *errmsg (sqlite3_malloc), and nothing left at dir. vt must be open. */
ARM_PRIVATE int arm_backup_run(arm_vtab *vt, const char *dir, arm_backup_result *res,
                               char **errmsg);
/* The same copy from src (any engine holding vt's declaration; armdb_salvage's
 * read-only one) instead of vt's own. skip_damaged: a value that fails its
 * checksum is left out and counted (res->damaged) instead of failing the copy. */
ARM_PRIVATE int arm_backup_copy_engine(arm_vtab *vt, arm_engine *src, const char *dir,
                                       int skip_damaged, arm_backup_result *res,
                                       char **errmsg);
/* armdb_salvage(table) (arm_salvage.c). */
ARM_PRIVATE void arm_salvage_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
/* Open vt's engine again after its directory was replaced (SQLITE_OK or the
 * open's error, kept in vt as at connect). */
ARM_PRIVATE int arm_vtab_reopen(arm_vtab *vt);
/* How many table objects of this process hold the engine on realpath real. */
ARM_PRIVATE int arm_ext_engine_users(const char *real);
/* fn(arg) with the registry locked, so that no connection of the process
 * opens the directory real meanwhile; ARM_BUSY without calling fn when one
 * has it open. fn must not use the registry. */
ARM_PRIVATE int arm_ext_engine_exclusive(const char *real, int (*fn)(void *), void *arg);

ARM_PRIVATE void arm_ext_conn_ref(arm_ext_conn *conn);
ARM_PRIVATE void arm_ext_conn_unref(void *conn);
ARM_PRIVATE void arm_ext_conn_add(arm_ext_conn *conn, arm_vtab *vt);
ARM_PRIVATE void arm_ext_conn_remove(arm_ext_conn *conn, arm_vtab *vt);
/* Find a connected armdb table: `name` or `schema.name`. Connects it first if
 * it exists in the schema but was not used yet. NULL with *errmsg set. */
ARM_PRIVATE arm_vtab *arm_ext_conn_find(arm_ext_conn *conn, const char *name, char **errmsg);

/* An engine cursor over what txn reads (its snapshot and its own writes)
 * that does not count as a read of txn: for the reads this module makes
 * besides its query scans (the largest key for a NULL INTEGER PRIMARY KEY,
 * whose insert is checked as a point read anyway; armdb_backup, on a
 * read-only transaction of its own). Owned: close with
 * arm_engine_cursor_close. ARM_OK or an ARM_* code. */
ARM_PRIVATE int arm_vtab_cursor_open(arm_vtab *vt, arm_txn *txn, arm_cursor **cursor_out);
/* The table's engine, ready for use: opened again when an earlier attempt
 * failed for a reason that may have passed (another process held the
 * directory, it was missing), and refused in a process forked after the
 * engine was opened. SQLITE_OK with vt->sh set, or an error code with
 * vt->base.zErrMsg set. */
ARM_PRIVATE int arm_vtab_ready(arm_vtab *vt);

/* Set vt->base.zErrMsg (the old one is freed). */
ARM_PRIVATE void arm_vtab_set_error(arm_vtab *vt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copy the engine's message for a failed call into zErrMsg; returns the
 * SQLite code. */
ARM_PRIVATE int arm_vtab_engine_error(arm_vtab *vt, int arm_rc, const char *what);

ARM_PRIVATE const sqlite3_module *arm_vtab_module(void);
ARM_PRIVATE int arm_func_register(sqlite3 *db, arm_ext_conn *conn);
/* For the armdb_* functions of other files (arm_func.c): the table named by
 * argv[0], ready, or NULL with the error set on ctx; s as a JSON string. */
ARM_PRIVATE arm_vtab *arm_func_table(sqlite3_context *ctx, sqlite3_value **argv, const char *fn);
ARM_PRIVATE void arm_func_json_str(sqlite3_str *out, const char *s);
/* Finish s as the function's text result (freeing it), or report out of
 * memory when building it failed. */
ARM_PRIVATE void arm_func_result_str(sqlite3_context *ctx, sqlite3_str *s);

/* ------------------------------------------- replication (arm_repl_sql.c) */
/* armdb_repl_serve / _follow / _stop / _status (SQLITE_DIRECTONLY). */
ARM_PRIVATE int arm_repl_sql_register(sqlite3 *db, arm_ext_conn *conn);
/* A new registry entry whose record says it follows: mark the engine a
 * follower and start following again (a failure is kept for the status;
 * the table opens anyway, refusing writes). Only before the entry is
 * listed. */
ARM_PRIVATE void arm_ext_repl_resume(arm_ext_shared *sh, const arm_ext_record *r);
/* Stop whatever serves or follows on sh, joining its threads; the record
 * and the follower mark stay (DROP TABLE, the last release). locked: take
 * repl_mu (0 only where no connection can reach sh). */
ARM_PRIVATE void arm_ext_repl_halt(arm_ext_shared *sh, int locked);
/* The last reference went: halt and free what replication kept on sh. */
ARM_PRIVATE void arm_ext_repl_free(arm_ext_shared *sh);
/* Does sh serve or follow (so its engine must not be closed under it)? */
ARM_PRIVATE int arm_ext_repl_active(arm_ext_shared *sh);
/* A write to vt: SQLITE_OK, or SQLITE_READONLY with the message set when
 * the table follows a leader. */
ARM_PRIVATE int arm_ext_repl_check_write(arm_vtab *vt);

#endif /* ARM_EXT_INT_H */
