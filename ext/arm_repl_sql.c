/* SPDX-License-Identifier: MIT */
/*
 * arm_repl_sql.c: replication from SQL. armdb_repl_serve(table, addr
 * [, options]), armdb_repl_follow(table, addr [, options]),
 * armdb_repl_stop(table) and armdb_repl_status(table) wrap repl/'s
 * arm_repl_serve, arm_repl_follow, their stop calls and status JSON one to
 * one. All four are SQLITE_DIRECTONLY: they open sockets and threads (or
 * show where), so never from a trigger or a view.
 *
 * The leader or follower belongs to the engine's registry entry
 * (arm_ext_shared), not to the connection that started it: every connection
 * of the process sees and stops the same one, and it runs until
 * armdb_repl_stop, DROP TABLE, or the table's last connection closing
 * (arm_ext_repl_free, called by the registry before the engine closes). A
 * follower is recorded with the table (arm_record.c: `follow`,
 * `follow_opts`), so the next open of the table in any process follows
 * again (arm_ext_repl_resume); armdb_repl_stop forgets it and makes the
 * table writable again.
 *
 * Options (the optional third argument): `name=value` pairs separated by
 * commas or spaces: max_followers (serve only), secret_file, secret_env,
 * heartbeat_ms, peer_timeout_ms, connect_timeout_ms, backoff_max_ms
 * (follow only). The secret itself is never in SQL text: a file's path or
 * a variable's name is, and repl/ never puts the secret in a message.
 * Layer: ext.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"
#include "../repl/arm_repl.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- options */
/* Parse text into o (defaults first). The strings o points at live in
 * *store (sqlite3_malloc; free it after the serve or follow call).
 * SQLITE_OK, or SQLITE_ERROR with *err naming the bad option. */
static int rs_opts_parse(const char *text, int leader, arm_repl_options *o, char **store,
                         char **err) {
    arm_repl_options_init(o);
    *store = NULL;
    *err = NULL;
    if (text == NULL) return SQLITE_OK;
    char *buf = sqlite3_mprintf("%s", text);
    if (buf == NULL) return SQLITE_NOMEM;
    *store = buf;
    for (char *p = buf; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == 0) break;
        char *name = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n')
            p++;
        if (*p) *p++ = 0;
        char *eq = strchr(name, '=');
        if (eq == NULL || eq == name || eq[1] == 0) {
            *err = sqlite3_mprintf("option '%s' is not name=value", name);
            return SQLITE_ERROR;
        }
        *eq = 0;
        const char *val = eq + 1;
        if (strcmp(name, "secret_file") == 0) {
            o->secret_file = val;
            continue;
        }
        if (strcmp(name, "secret_env") == 0) {
            o->secret_env = val;
            continue;
        }
        static const char *const nums[] = {"max_followers", "heartbeat_ms", "peer_timeout_ms",
                                           "connect_timeout_ms", "backoff_max_ms"};
        size_t k = 0;
        while (k < sizeof(nums) / sizeof(nums[0]) && strcmp(name, nums[k]) != 0)
            k++;
        if (k == sizeof(nums) / sizeof(nums[0])) {
            *err = sqlite3_mprintf("unknown option '%s' (known: max_followers, secret_file, "
                                   "secret_env, heartbeat_ms, peer_timeout_ms, "
                                   "connect_timeout_ms, backoff_max_ms)",
                                   name);
            return SQLITE_ERROR;
        }
        /* max_followers is the leader's; connects and backoff the follower's */
        if ((k == 0 && !leader) || (k >= 3 && leader)) {
            *err = sqlite3_mprintf("option '%s' is for %s", name,
                                   k == 0 ? "armdb_repl_serve" : "armdb_repl_follow");
            return SQLITE_ERROR;
        }
        char *end = NULL;
        unsigned long long v = strtoull(val, &end, 10);
        if (val[0] < '0' || val[0] > '9' || *end != 0 || v > 0xffffffffull) {
            *err = sqlite3_mprintf("option %s: '%s' is not a number", name, val);
            return SQLITE_ERROR;
        }
        uint32_t *slot[] = {&o->max_followers, &o->heartbeat_ms, &o->peer_timeout_ms,
                            &o->connect_timeout_ms, &o->backoff_max_ms};
        *slot[k] = (uint32_t)v;
    }
    return SQLITE_OK;
}

/* A follower's options as recorded: only what differs from the defaults,
 * and a relative secret_file made absolute (the next open may run in
 * another directory). *out NULL when nothing differs. SQLITE_OK, or an
 * error with *err as rs_opts_parse. */
static int rs_opts_canonical(const char *text, char **out, char **err) {
    arm_repl_options o, d;
    char *store = NULL;
    *out = NULL;
    int rc = rs_opts_parse(text, 0, &o, &store, err);
    if (rc != SQLITE_OK) {
        sqlite3_free(store);
        return rc;
    }
    arm_repl_options_init(&d);
    char real[PATH_MAX];
    if (o.secret_file != NULL && o.secret_file[0] != '/' && realpath(o.secret_file, real) != NULL)
        o.secret_file = real; /* a missing file is reported by the follow itself */
    sqlite3_str *s = sqlite3_str_new(NULL);
    const struct {
        const char *name;
        uint32_t v, dflt;
    } nums[] = {{"heartbeat_ms", o.heartbeat_ms, d.heartbeat_ms},
                {"peer_timeout_ms", o.peer_timeout_ms, d.peer_timeout_ms},
                {"connect_timeout_ms", o.connect_timeout_ms, d.connect_timeout_ms},
                {"backoff_max_ms", o.backoff_max_ms, d.backoff_max_ms}};
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        if (nums[i].v != nums[i].dflt)
            sqlite3_str_appendf(s, "%s%s=%u", sqlite3_str_length(s) ? ", " : "", nums[i].name,
                                nums[i].v);
    if (o.secret_file != NULL)
        sqlite3_str_appendf(s, "%ssecret_file=%s", sqlite3_str_length(s) ? ", " : "",
                            o.secret_file);
    if (o.secret_env != NULL)
        sqlite3_str_appendf(s, "%ssecret_env=%s", sqlite3_str_length(s) ? ", " : "", o.secret_env);
    sqlite3_free(store);
    rc = sqlite3_str_errcode(s);
    int empty = sqlite3_str_length(s) == 0;
    char *z = sqlite3_str_finish(s);
    if (rc != SQLITE_OK || empty) {
        sqlite3_free(z);
        return rc == SQLITE_OK ? SQLITE_OK : SQLITE_NOMEM;
    }
    *out = z;
    return SQLITE_OK;
}

/* ------------------------------------------------------- shared helpers */
static void rs_error(sqlite3_context *ctx, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rs_error(sqlite3_context *ctx, int rc, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *m = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    sqlite3_result_error(ctx, m ? m : "armdb: out of memory", -1);
    sqlite3_result_error_code(ctx, rc);
    sqlite3_free(m);
}

/* The SQLite code for a replication failure: a bad address, option or
 * secret is the caller's error (SQLITE_ERROR, as for a bad table option);
 * the rest (I/O, memory) as anywhere in armdb. */
static int rs_rc(int arm_rc) {
    int p = ARM_RC_PRIMARY(arm_rc);
    if (p == ARM_NOTFOUND || p == ARM_RANGE || p == ARM_AUTH || p == ARM_MISUSE)
        return SQLITE_ERROR;
    return arm_ext_rc(arm_rc);
}

/* The address argument, or NULL with the error set. */
static const char *rs_addr(sqlite3_context *ctx, sqlite3_value *v, const char *fn) {
    const char *a = (const char *)sqlite3_value_text(v);
    if (a == NULL || a[0] == 0) {
        rs_error(ctx, SQLITE_ERROR, "%s: the second argument is the address, 'host:port'", fn);
        return NULL;
    }
    return a;
}

/* What sh already does, for a refusal; NULL when nothing. repl_mu held. */
static char *rs_busy(const arm_ext_shared *sh, const char *table) {
    if (sh->leader != NULL)
        return sqlite3_mprintf("%s already serves (armdb_repl_status has the address); "
                               "armdb_repl_stop('%s') first",
                               table, table);
    if (atomic_load(&sh->repl_follows))
        return sqlite3_mprintf("%s follows the leader at %s; armdb_repl_stop('%s') first", table,
                               sh->repl_addr, table);
    return NULL;
}

static char *rs_strdup(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Start following addr on sh with opts text. repl_mu held (or sh not
 * listed yet). ARM_OK, or the code with err filled. */
static int rs_follow_start(arm_ext_shared *sh, const char *addr, const char *opts,
                           arm_repl_err *err) {
    arm_repl_options o;
    char *store = NULL, *perr = NULL;
    int prc = rs_opts_parse(opts, 0, &o, &store, &perr);
    int rc = ARM_OK;
    if (prc != SQLITE_OK) {
        err->rc = rc = prc == SQLITE_NOMEM ? ARM_NOMEM : ARM_RANGE;
        snprintf(err->msg, sizeof(err->msg), "%s", perr ? perr : "out of memory");
    } else {
        rc = arm_repl_follow(sh->engine, addr, &o, &sh->follower, err);
    }
    sqlite3_free(store);
    sqlite3_free(perr);
    return rc;
}

/* ----------------------------------------------------- armdb_repl_serve */
static void rs_serve(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_repl_serve");
    if (vt == NULL) return;
    const char *addr = rs_addr(ctx, argv[1], "armdb_repl_serve");
    if (addr == NULL) return;
    arm_repl_options o;
    char *store = NULL, *perr = NULL;
    int prc = rs_opts_parse(argc > 2 ? (const char *)sqlite3_value_text(argv[2]) : NULL, 1, &o,
                            &store, &perr);
    if (prc != SQLITE_OK) {
        rs_error(ctx, prc, "armdb_repl_serve: %s", perr ? perr : "out of memory");
        sqlite3_free(store);
        sqlite3_free(perr);
        return;
    }
    arm_ext_shared *sh = vt->sh;
    pthread_mutex_lock(&sh->repl_mu);
    char *busy = rs_busy(sh, vt->name);
    arm_repl_err e = {0};
    int rc = ARM_OK;
    if (busy != NULL) {
        rs_error(ctx, SQLITE_ERROR, "armdb_repl_serve: %s", busy);
    } else {
        rc = arm_repl_serve(sh->engine, addr, &o, &sh->leader, &e);
        if (rc == ARM_OK && (sh->repl_addr = rs_strdup(arm_repl_leader_addr(sh->leader))) == NULL) {
            arm_repl_leader_stop(sh->leader);
            sh->leader = NULL;
            rc = e.rc = ARM_NOMEM;
            snprintf(e.msg, sizeof(e.msg), "out of memory");
        }
        if (rc != ARM_OK)
            rs_error(ctx, rs_rc(rc), "armdb_repl_serve: %s: %s", vt->name,
                     e.msg[0] ? e.msg : arm_rc_str(rc));
        else
            sqlite3_result_text(ctx, sh->repl_addr, -1, SQLITE_TRANSIENT);
    }
    pthread_mutex_unlock(&sh->repl_mu);
    sqlite3_free(busy);
    sqlite3_free(store);
    sqlite3_free(perr);
}

/* ---------------------------------------------------- armdb_repl_follow */
static void rs_follow_do(sqlite3_context *ctx, arm_vtab *vt, const char *addr, const char *opts);

static void rs_follow(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_repl_follow");
    if (vt == NULL) return;
    const char *addr = rs_addr(ctx, argv[1], "armdb_repl_follow");
    if (addr == NULL) return;
    char *opts = NULL, *perr = NULL;
    int prc = rs_opts_canonical(argc > 2 ? (const char *)sqlite3_value_text(argv[2]) : NULL, &opts,
                                &perr);
    if (prc != SQLITE_OK) {
        rs_error(ctx, prc, "armdb_repl_follow: %s: %s", vt->name, perr ? perr : "out of memory");
        sqlite3_free(perr);
        return;
    }
    rs_follow_do(ctx, vt, addr, opts);
    sqlite3_free(opts);
}

static void rs_follow_do(sqlite3_context *ctx, arm_vtab *vt, const char *addr, const char *opts) {
    arm_ext_shared *sh = vt->sh;
    if (sh->read_only) {
        rs_error(ctx, SQLITE_READONLY, "armdb_repl_follow: %s is open read-only in this process",
                 vt->name);
        return;
    }
    if (!sqlite3_get_autocommit(vt->db)) {
        /* a transaction of this connection may hold writes the mark would
         * refuse at COMMIT, half-way through a statement's effects */
        rs_error(ctx, SQLITE_ERROR,
                 "armdb_repl_follow: %s: cannot start following inside a "
                 "transaction; commit first",
                 vt->name);
        return;
    }
    pthread_mutex_lock(&sh->repl_mu);
    char *busy = NULL;
    /* A recorded follower that could not start again may be told again. */
    if (sh->follower != NULL || sh->leader != NULL) busy = rs_busy(sh, vt->name);
    arm_repl_err e = {0};
    char *rec_err = NULL;
    int rc = ARM_OK;
    if (busy != NULL) {
        rs_error(ctx, SQLITE_ERROR, "armdb_repl_follow: %s", busy);
        goto out;
    }
    char *a = rs_strdup(addr), *op = rs_strdup(opts);
    if (a == NULL || (opts != NULL && op == NULL)) {
        free(a);
        free(op);
        sqlite3_result_error_nomem(ctx);
        goto out;
    }
    rc = rs_follow_start(sh, addr, opts, &e);
    if (rc == ARM_OK) {
        /* Recorded, so the next open follows again (and refuses writes
         * before anyone could make one). */
        rc = arm_ext_engine_record_follow(sh, addr, opts, &rec_err);
        if (rc != ARM_OK) {
            arm_repl_follower_stop(sh->follower);
            sh->follower = NULL;
        }
    }
    /* A table that did not follow before is writable again. */
    if (rc != ARM_OK && !atomic_load(&sh->repl_follows)) arm_engine_set_follower(sh->engine, 0);
    if (rc != ARM_OK) {
        free(a);
        free(op);
        rs_error(ctx, rs_rc(rc), "armdb_repl_follow: %s: %s", vt->name,
                 rec_err    ? rec_err
                 : e.msg[0] ? e.msg
                            : arm_rc_str(rc));
        goto out;
    }
    free(sh->repl_addr);
    free(sh->repl_opts);
    free(sh->repl_err);
    sh->repl_addr = a, sh->repl_opts = op, sh->repl_err = NULL;
    atomic_store(&sh->repl_follows, 1);
    sqlite3_result_text(ctx, addr, -1, SQLITE_TRANSIENT);
out:
    pthread_mutex_unlock(&sh->repl_mu);
    sqlite3_free(busy);
    sqlite3_free(rec_err);
}

/* ------------------------------------------------------ armdb_repl_stop */
static void rs_stop(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_repl_stop");
    if (vt == NULL) return;
    arm_ext_shared *sh = vt->sh;
    pthread_mutex_lock(&sh->repl_mu);
    if (sh->leader != NULL) {
        arm_repl_leader_stop(sh->leader);
        sh->leader = NULL;
        free(sh->repl_addr);
        sh->repl_addr = NULL;
        sqlite3_result_text(ctx, "leader", -1, SQLITE_STATIC);
    } else if (atomic_load(&sh->repl_follows)) {
        /* Forgotten first: a failure leaves the table following. */
        char *rec_err = NULL;
        int rc = arm_ext_engine_record_follow(sh, NULL, NULL, &rec_err);
        if (rc != ARM_OK) {
            rs_error(ctx, rs_rc(rc), "armdb_repl_stop: %s: %s", vt->name,
                     rec_err ? rec_err : arm_rc_str(rc));
        } else {
            arm_repl_follower_stop(sh->follower);
            sh->follower = NULL;
            arm_engine_set_follower(sh->engine, 0); // what it applied stays; writable again
            atomic_store(&sh->repl_follows, 0);
            free(sh->repl_addr);
            free(sh->repl_opts);
            free(sh->repl_err);
            sh->repl_addr = sh->repl_opts = sh->repl_err = NULL;
            sqlite3_result_text(ctx, "follower", -1, SQLITE_STATIC);
        }
        sqlite3_free(rec_err);
    } else {
        rs_error(ctx, SQLITE_ERROR, "armdb_repl_stop: %s neither serves nor follows", vt->name);
    }
    pthread_mutex_unlock(&sh->repl_mu);
}

/* ---------------------------------------------------- armdb_repl_status */
/* {"table":..., then the rest of body (which starts with '{'). */
static void rs_status_result(sqlite3_context *ctx, const arm_vtab *vt, const char *body) {
    sqlite3_str *s = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendall(s, "{\"table\":");
    arm_func_json_str(s, vt->name);
    sqlite3_str_appendall(s, ",");
    sqlite3_str_appendall(s, body + 1);
    arm_func_result_str(ctx, s);
}

static void rs_status(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    arm_vtab *vt = arm_func_table(ctx, argv, "armdb_repl_status");
    if (vt == NULL) return;
    arm_ext_shared *sh = vt->sh;
    arm_buf b = {0};
    int rc = ARM_OK;
    pthread_mutex_lock(&sh->repl_mu);
    if (sh->leader != NULL) {
        rc = arm_repl_leader_status_json(sh->leader, &b);
    } else if (sh->follower != NULL) {
        rc = arm_repl_follower_status_json(sh->follower, &b);
    } else {
        /* Nothing runs: nobody, or a recorded follower that could not
         * start again (why: last_error). */
        sqlite3_str *s = sqlite3_str_new(NULL);
        if (atomic_load(&sh->repl_follows)) {
            sqlite3_str_appendall(s, "{\"role\":\"follower\",\"leader\":");
            arm_func_json_str(s, sh->repl_addr);
            sqlite3_str_appendall(s, ",\"state\":\"stopped\",\"last_error\":");
            if (sh->repl_err != NULL) {
                sqlite3_str_appendall(s, "{\"message\":");
                arm_func_json_str(s, sh->repl_err);
                sqlite3_str_appendall(s, "}}");
            } else {
                sqlite3_str_appendall(s, "null}");
            }
        } else {
            sqlite3_str_appendall(s, "{\"role\":\"none\"}");
        }
        int src = sqlite3_str_errcode(s);
        char *z = sqlite3_str_finish(s);
        rc = src == SQLITE_OK && z != NULL ? arm_buf_reserve(&b, strlen(z) + 1) : ARM_NOMEM;
        if (rc == ARM_OK) {
            memcpy(b.ptr, z, strlen(z) + 1);
            b.len = strlen(z);
        }
        sqlite3_free(z);
    }
    pthread_mutex_unlock(&sh->repl_mu);
    if (rc != ARM_OK)
        sqlite3_result_error_nomem(ctx);
    else
        rs_status_result(ctx, vt, (const char *)b.ptr);
    arm_buf_free(&b);
}

/* ------------------------------------------------- the registry's calls */
ARM_PRIVATE void arm_ext_repl_resume(arm_ext_shared *sh, const arm_ext_record *r) {
    /* Marked before anything else: the table refuses writes even when the
     * follower cannot start (its secret is gone, say). */
    arm_engine_set_follower(sh->engine, 1);
    atomic_store(&sh->repl_follows, 1);
    sh->repl_addr = rs_strdup(r->follow);
    sh->repl_opts = rs_strdup(r->follow_opts);
    arm_repl_err e = {0};
    int rc = sh->repl_addr == NULL ? ARM_NOMEM : rs_follow_start(sh, r->follow, r->follow_opts, &e);
    if (rc != ARM_OK) {
        char m[ARM_REPL_ERRMSG_MAX + 64];
        snprintf(m, sizeof(m), "could not follow again at open: %s",
                 e.msg[0] ? e.msg : arm_rc_str(rc));
        sh->repl_err = strdup(m);
    }
}

ARM_PRIVATE void arm_ext_repl_halt(arm_ext_shared *sh, int locked) {
    if (locked) pthread_mutex_lock(&sh->repl_mu);
    arm_repl_leader_stop(sh->leader);
    arm_repl_follower_stop(sh->follower);
    sh->leader = NULL;
    sh->follower = NULL;
    if (locked) pthread_mutex_unlock(&sh->repl_mu);
}

ARM_PRIVATE void arm_ext_repl_free(arm_ext_shared *sh) {
    arm_ext_repl_halt(sh, 0);
    free(sh->repl_addr);
    free(sh->repl_opts);
    free(sh->repl_err);
    sh->repl_addr = sh->repl_opts = sh->repl_err = NULL;
    pthread_mutex_destroy(&sh->repl_mu);
}

ARM_PRIVATE int arm_ext_repl_active(arm_ext_shared *sh) {
    pthread_mutex_lock(&sh->repl_mu);
    int on = sh->leader != NULL || sh->follower != NULL;
    pthread_mutex_unlock(&sh->repl_mu);
    return on;
}

ARM_PRIVATE int arm_ext_repl_check_write(arm_vtab *vt) {
    arm_ext_shared *sh = vt->sh;
    if (!atomic_load_explicit(&sh->repl_follows, memory_order_relaxed)) return SQLITE_OK;
    pthread_mutex_lock(&sh->repl_mu);
    if (atomic_load(&sh->repl_follows))
        arm_vtab_set_error(vt,
                           "armdb: %s is a read replica of the leader at %s: write there "
                           "(or armdb_repl_stop('%s') to make it writable)",
                           vt->name, sh->repl_addr ? sh->repl_addr : "?", vt->name);
    int follows = atomic_load(&sh->repl_follows);
    pthread_mutex_unlock(&sh->repl_mu);
    return follows ? SQLITE_READONLY : SQLITE_OK;
}

/* ------------------------------------------------------------ register */
ARM_PRIVATE int arm_repl_sql_register(sqlite3 *db, arm_ext_conn *conn) {
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } funcs[] = {
        {"armdb_repl_serve", 2, rs_serve},   {"armdb_repl_serve", 3, rs_serve},
        {"armdb_repl_follow", 2, rs_follow}, {"armdb_repl_follow", 3, rs_follow},
        {"armdb_repl_stop", 1, rs_stop},     {"armdb_repl_status", 1, rs_status},
    };
    // SQLITE_DIRECTONLY from 3.30; older versions get the plain flag
    const int directonly = sqlite3_libversion_number() >= 3030000 ? SQLITE_DIRECTONLY : 0;
    int rc = SQLITE_OK;
    for (size_t i = 0; i < sizeof(funcs) / sizeof(funcs[0]) && rc == SQLITE_OK; i++) {
        arm_ext_conn_ref(conn); // released by SQLite through the destructor, even on failure
        rc = sqlite3_create_function_v2(db, funcs[i].name, funcs[i].nargs, SQLITE_UTF8 | directonly,
                                        conn, funcs[i].fn, NULL, NULL, arm_ext_conn_unref);
    }
    return rc;
}
