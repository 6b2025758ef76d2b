/* SPDX-License-Identifier: MIT */
/*
 * arm_func.c: the armdb_* SQL helper functions: armdb_stats(table),
 * armdb_flush(table), armdb_check(table), armdb_compact(table),
 * armdb_backup(table, dir), armdb_salvage(table) (arm_salvage.c). Each
 * takes a table name ('kv' or 'schema.kv', resolved as SQL resolves it) of
 * this connection and returns JSON text. None opens sockets or threads;
 * only armdb_stats is marked innocuous (it reads counters). Flush, check and
 * compact do I/O, so they are left out of triggers and views under
 * trusted_schema=OFF; armdb_backup writes files anywhere, so it is
 * SQLITE_DIRECTONLY (never from a trigger or a view), and so is armdb_salvage,
 * which replaces the table's directory. The replication
 * functions are arm_repl_sql.c's, registered from here. Layer: ext.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"

#include <string.h>

/* Append s as a JSON string literal. */
ARM_PRIVATE void arm_func_json_str(sqlite3_str *out, const char *s) {
    sqlite3_str_appendchar(out, 1, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sqlite3_str_appendf(out, "\\%c", *p);
        else if (*p < 0x20)
            sqlite3_str_appendf(out, "\\u%04x", *p);
        else
            sqlite3_str_appendchar(out, 1, (char)*p);
    }
    sqlite3_str_appendchar(out, 1, '"');
}

ARM_PRIVATE void arm_func_result_str(sqlite3_context *ctx, sqlite3_str *s) {
    int rc = sqlite3_str_errcode(s);
    char *z = sqlite3_str_finish(s);
    if (rc != SQLITE_OK || z == NULL) {
        sqlite3_free(z);
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_text(ctx, z, -1, sqlite3_free); // JSON text; json_*() parse it
}

/* The table named by argv[0], open, or NULL with the error set. */
ARM_PRIVATE arm_vtab *arm_func_table(sqlite3_context *ctx, sqlite3_value **argv, const char *fn) {
    const char *name = (const char *)sqlite3_value_text(argv[0]);
    if (name == NULL) {
        char *m = sqlite3_mprintf("%s: the table name must not be NULL", fn);
        sqlite3_result_error(ctx, m ? m : "armdb: out of memory", -1);
        sqlite3_free(m);
        return NULL;
    }
    char *err = NULL;
    arm_vtab *vt = arm_ext_conn_find(sqlite3_user_data(ctx), name, &err);
    int rc = vt != NULL ? arm_vtab_ready(vt) : SQLITE_ERROR;
    if (rc != SQLITE_OK) {
        char *m = sqlite3_mprintf("%s: %s", fn, vt ? vt->base.zErrMsg : err);
        sqlite3_result_error(ctx, m ? m : "armdb: out of memory", -1);
        sqlite3_result_error_code(ctx, rc);
        sqlite3_free(m);
        sqlite3_free(err);
        return NULL;
    }
    return vt;
}

static void func_engine_error(sqlite3_context *ctx, arm_vtab *vt, const char *fn, int rc) {
    const char *m = arm_engine_errmsg(vt->sh->engine);
    char *z = sqlite3_mprintf("%s: %s: %s", fn, vt->name, m && m[0] ? m : arm_rc_str(rc));
    sqlite3_result_error(ctx, z ? z : "armdb: out of memory", -1);
    sqlite3_result_error_code(ctx, arm_ext_rc(rc));
    sqlite3_free(z);
}

static const char *func_sync_name(int mode) {
    return mode == ARM_SYNC_OFF ? "off" : mode == ARM_SYNC_FULL ? "full" : "normal";
}

/* armdb_stats(table): counters of the table's engine (committed data). */
static void func_stats(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_stats");
    if (vt == NULL) return;
    arm_engine_stats st;
    memset(&st, 0, sizeof(st));
    arm_engine_stats_get(vt->sh->engine, &st);
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendf(s, "{\"table\":");
    arm_func_json_str(s, vt->name);
    sqlite3_str_appendf(s, ",\"form\":\"%s\",\"key_type\":\"%s\"",
                        vt->cfg.table_form ? "table" : "kv",
                        vt->cfg.key_type == ARM_EXT_KEY_INTEGER ? "integer"
                        : vt->cfg.key_type == ARM_EXT_KEY_TEXT  ? "text"
                                                                : "blob");
    sqlite3_str_appendf(s,
                        ",\"keys\":%llu,\"live_bytes\":%llu,\"dead_bytes\":%llu,\"files\":%llu,"
                        "\"shards\":%u,\"index_bytes\":%llu,\"last_seq\":%llu,"
                        "\"cache_hits\":%llu,\"cache_misses\":%llu",
                        (unsigned long long)st.keys, (unsigned long long)st.live_bytes,
                        (unsigned long long)st.dead_bytes, (unsigned long long)st.files,
                        st.shards, (unsigned long long)st.index_bytes,
                        (unsigned long long)st.last_seq, (unsigned long long)st.cache_hits,
                        (unsigned long long)st.cache_misses);
    sqlite3_str_appendf(s, ",\"sync\":\"%s\",\"index\":\"%s\",\"io\":\"%s\",\"direct\":%s",
                        func_sync_name(st.sync_mode),
                        st.index_kind == ARM_INDEX_HASH ? "hash" : "ordered",
                        st.io_uring ? "io_uring" : "posix", st.io_direct ? "true" : "false");
    /* read-only: the engine, or this connection (SQLITE_OPEN_READONLY), whose
     * writes SQLite refuses even when the engine is shared with a writer */
    int ro = st.read_only || sqlite3_db_readonly(vt->db, vt->schema) == 1;
    sqlite3_str_appendf(s, ",\"read_only\":%s,\"lock_mode\":\"%s\"", ro ? "true" : "false",
                        st.lock_mode == ARM_LOCK_SHARED ? "shared"
                        : st.lock_mode == ARM_LOCK_NONE ? "none"
                                                        : "exclusive");
    /* how the last open read the data files: from hint files, or whole */
    sqlite3_str_appendf(s, ",\"hints\":%s,\"open_hinted\":%llu,\"open_scanned\":%llu,\"dir\":",
                        st.hints ? "true" : "false", (unsigned long long)st.open_hinted,
                        (unsigned long long)st.open_scanned);
    arm_func_json_str(s, arm_engine_dir(vt->sh->engine));
    /* compaction: whether the background thread runs, whether a merge is
     * running now, and each shard's bytes (live = bytes - dead) */
    sqlite3_str_appendf(s, ",\"compaction\":%s,\"compacting\":%s,\"shard_bytes\":[",
                        st.compaction ? "true" : "false", st.compacting ? "true" : "false");
    for (uint32_t i = 0; i < st.shards; i++) {
        arm_shard_bytes b;
        arm_engine_shard_bytes(vt->sh->engine, i, &b);
        sqlite3_str_appendf(s, "%s{\"shard\":%u,\"files\":%llu,\"live_bytes\":%llu,"
                            "\"dead_bytes\":%llu}", i ? "," : "", i, (unsigned long long)b.files,
                            (unsigned long long)(b.bytes - b.dead), (unsigned long long)b.dead);
    }
    sqlite3_str_appendall(s, "]}");
    arm_func_result_str(ctx, s);
}

/* armdb_compact(table): merge the table's data files that pass its
 * compaction_threshold now (arm_engine_compact); JSON says what it did. */
static void func_compact(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_compact");
    if (vt == NULL) return;
    arm_compact_result r;
    int rc = arm_engine_compact(vt->sh->engine, &r);
    if (rc != ARM_OK) {
        func_engine_error(ctx, vt, "armdb_compact", rc);
        return;
    }
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendall(s, "{\"table\":");
    arm_func_json_str(s, vt->name);
    sqlite3_str_appendf(s, ",\"files_in\":%llu,\"files_out\":%llu,\"bytes_in\":%llu,"
                        "\"bytes_out\":%llu,\"reclaimed\":%llu}",
                        (unsigned long long)r.files_in, (unsigned long long)r.files_out,
                        (unsigned long long)r.bytes_in, (unsigned long long)r.bytes_out,
                        (unsigned long long)r.reclaimed);
    arm_func_result_str(ctx, s);
}

/* armdb_flush(table): write buffers out and fdatasync. */
static void func_flush(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_flush");
    if (vt == NULL) return;
    int rc = arm_engine_flush(vt->sh->engine);
    if (rc != ARM_OK) {
        func_engine_error(ctx, vt, "armdb_flush", rc);
        return;
    }
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendall(s, "{\"flushed\":true,\"table\":");
    arm_func_json_str(s, vt->name);
    sqlite3_str_appendchar(s, 1, '}');
    arm_func_result_str(ctx, s);
}

typedef struct func_check_ctx {
    sqlite3_str *out;
    uint64_t n;
} func_check_ctx;

static void func_check_report(void *p, const char *path, uint64_t offset, const char *message) {
    func_check_ctx *c = p;
    sqlite3_str_appendall(c->out, c->n++ ? ",{\"path\":" : "{\"path\":");
    arm_func_json_str(c->out, path);
    sqlite3_str_appendf(c->out, ",\"offset\":%llu,\"message\":", (unsigned long long)offset);
    arm_func_json_str(c->out, message);
    sqlite3_str_appendchar(c->out, 1, '}');
}

/* armdb_check(table): verify every checksum; report what is damaged where. */
static void func_check(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_check");
    if (vt == NULL) return;
    func_check_ctx c = {sqlite3_str_new(sqlite3_context_db_handle(ctx)), 0};
    sqlite3_str *probs = c.out;
    uint64_t nprob = 0;
    int rc = arm_engine_check(vt->sh->engine, func_check_report, NULL, &c, &nprob);
    if (rc != ARM_OK) {
        sqlite3_free(sqlite3_str_finish(probs));
        func_engine_error(ctx, vt, "armdb_check", rc);
        return;
    }
    char *list = sqlite3_str_finish(probs);
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendf(s, "{\"ok\":%s,\"problems_count\":%llu,\"problems\":[%s]}",
                        nprob == 0 ? "true" : "false", (unsigned long long)nprob,
                        list ? list : "");
    sqlite3_free(list);
    arm_func_result_str(ctx, s);
}

/* armdb_backup(table, dir): a logical copy of the table's committed data
 * into a new engine at dir (see arm_backup.c); JSON says what was copied. */
static void func_backup(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_backup");
    if (vt == NULL) return;
    const char *arg = (const char *)sqlite3_value_text(argv[1]);
    if (arg == NULL || arg[0] == 0) {
        sqlite3_result_error(ctx, "armdb_backup: the second argument names the directory to "
                                  "write the copy to", -1);
        return;
    }
    char *dir = arm_opts_resolve_dir(vt->db, vt->schema, arg);
    if (dir == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    arm_backup_result res;
    char *err = NULL;
    int rc = arm_backup_run(vt, dir, &res, &err);
    if (rc != ARM_OK) {
        char *m = sqlite3_mprintf("armdb_backup: %s: %s", vt->name, err ? err : arm_rc_str(rc));
        sqlite3_result_error(ctx, m ? m : "armdb: out of memory", -1);
        sqlite3_result_error_code(ctx, rc == ARM_NOMEM ? SQLITE_NOMEM : arm_ext_rc(rc));
        sqlite3_free(m);
    } else {
        sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
        sqlite3_str_appendall(s, "{\"table\":");
        arm_func_json_str(s, vt->name);
        sqlite3_str_appendall(s, ",\"dir\":");
        arm_func_json_str(s, dir);
        sqlite3_str_appendf(s, ",\"keys\":%llu,\"bytes\":%llu,\"shards\":%u}",
                            (unsigned long long)res.keys, (unsigned long long)res.bytes,
                            res.shards);
        arm_func_result_str(ctx, s);
    }
    sqlite3_free(err);
    sqlite3_free(dir);
}

ARM_PRIVATE int arm_func_register(sqlite3 *db, arm_ext_conn *conn) {
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
        int flags;
    } funcs[] = {
        {"armdb_stats", 1, func_stats, SQLITE_UTF8 | SQLITE_INNOCUOUS},
        {"armdb_flush", 1, func_flush, SQLITE_UTF8},
        {"armdb_check", 1, func_check, SQLITE_UTF8},
        {"armdb_compact", 1, func_compact, SQLITE_UTF8},
        // writes a directory anywhere: never from a trigger or a view
        {"armdb_backup", 2, func_backup, SQLITE_UTF8 | SQLITE_DIRECTONLY},
        // replaces the table's directory: never from a trigger or a view
        {"armdb_salvage", 1, arm_salvage_func, SQLITE_UTF8 | SQLITE_DIRECTONLY},
    };
    // SQLITE_INNOCUOUS exists from 3.31, SQLITE_DIRECTONLY from 3.30; older
    // versions get the plain flags
    const int innocuous = sqlite3_libversion_number() >= 3031000 ? SQLITE_INNOCUOUS : 0;
    const int directonly = sqlite3_libversion_number() >= 3030000 ? SQLITE_DIRECTONLY : 0;
    int rc = SQLITE_OK;
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]) && rc == SQLITE_OK; i++) {
        arm_ext_conn_ref(conn); // released by SQLite through the destructor, even on failure
        int flags = funcs[i].flags & ~(innocuous ? 0 : SQLITE_INNOCUOUS) &
                    ~(directonly ? 0 : SQLITE_DIRECTONLY);
        rc = sqlite3_create_function_v2(db, funcs[i].name, funcs[i].nargs, flags, conn,
                                        funcs[i].fn, NULL, NULL, arm_ext_conn_unref);
    }
    if (rc == SQLITE_OK) rc = arm_repl_sql_register(db, conn);
    return rc;
}
