/* SPDX-License-Identifier: MIT */
/*
 * arm_default.c: the DEFAULT values of table-form columns. SQLite keeps a
 * virtual table's DEFAULT clauses but never applies them (sqlite3ColumnExpr
 * returns nothing for a table that is not ordinary): an INSERT that omits a
 * column hands xUpdate a NULL, the same NULL a NULL written in the
 * statement's text gives. So armdb applies a column's DEFAULT to a NULL that
 * did not come from a bound parameter (sqlite3_value_frombind, SQLite 3.28+):
 * omitted columns get their default as in a native table, a NULL bound by a
 * driver or an ORM stays NULL, and only a literal NULL in the SQL text
 * differs from a native table (it gets the default too). The defaults are
 * evaluated by SQLite itself, one `SELECT d1, d2, ...` per row that needs
 * them, so CURRENT_TIMESTAMP and (expressions) mean what they mean natively.
 * Layer: ext.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"

#include <string.h>

/* `SELECT d_i, ...` over the columns that have a DEFAULT (sqlite3_malloc). */
static char *dflt_select(const arm_ext_config *cfg) {
    sqlite3_str *s = sqlite3_str_new(NULL);
    int n = 0;
    sqlite3_str_appendall(s, "SELECT ");
    for (int i = 0; i < cfg->ncol; i++) {
        if (cfg->cols[i].dflt == NULL) continue;
        sqlite3_str_appendf(s, "%s(%s)", n++ ? ", " : "", cfg->cols[i].dflt);
    }
    return sqlite3_str_finish(s);
}

/* 1 when column i's DEFAULT applies to a NULL written to it. An INTEGER
 * PRIMARY KEY given NULL gets the next key instead, as a rowid does. */
static int dflt_applies(const arm_ext_config *cfg, int i) {
    if (cfg->cols[i].dflt == NULL) return 0;
    return !(i == cfg->key_col && cfg->key_type == ARM_EXT_KEY_INTEGER && cfg->table_form);
}

ARM_PRIVATE int arm_default_check(sqlite3 *db, const arm_ext_config *cfg, char **errmsg) {
    for (int i = 0; i < cfg->ncol; i++) {
        if (cfg->cols[i].dflt == NULL) continue;
        char *sql = sqlite3_mprintf("SELECT (%s)", cfg->cols[i].dflt);
        sqlite3_stmt *st = NULL;
        int rc = sql ? sqlite3_prepare_v2(db, sql, -1, &st, NULL) : SQLITE_NOMEM;
        sqlite3_finalize(st);
        sqlite3_free(sql);
        if (rc == SQLITE_NOMEM) return rc;
        if (rc != SQLITE_OK) {
            *errmsg = sqlite3_mprintf("armdb: column %s: bad DEFAULT %s: %s", cfg->cols[i].name,
                                      cfg->cols[i].dflt, sqlite3_errmsg(db));
            return SQLITE_ERROR;
        }
    }
    return SQLITE_OK;
}

/* Evaluate every DEFAULT once into d->vals (copies, owned). */
static int dflt_eval(arm_default *d, sqlite3 *db, const arm_ext_config *cfg, char **errmsg) {
    int rc = SQLITE_OK;
    if (d->stmt == NULL) {
        char *sql = dflt_select(cfg);
        rc = sql ? sqlite3_prepare_v2(db, sql, -1, &d->stmt, NULL) : SQLITE_NOMEM;
        sqlite3_free(sql);
    }
    if (rc == SQLITE_OK) {
        int step = sqlite3_step(d->stmt); // a SELECT without FROM: always one row
        if (step != SQLITE_ROW) rc = step == SQLITE_DONE ? SQLITE_ERROR : step;
    }
    for (int i = 0, j = 0; rc == SQLITE_OK && i < cfg->ncol; i++) {
        if (cfg->cols[i].dflt == NULL) continue;
        sqlite3_value_free(d->vals[i]);
        // column values are unprotected; a copy may be read like any value
        d->vals[i] = sqlite3_value_dup(sqlite3_column_value(d->stmt, j++));
        if (d->vals[i] == NULL) rc = SQLITE_NOMEM;
    }
    if (d->stmt != NULL) (void)sqlite3_reset(d->stmt);
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM)
        *errmsg = sqlite3_mprintf("armdb: cannot evaluate a DEFAULT: %s", sqlite3_errmsg(db));
    return rc;
}

ARM_PRIVATE int arm_default_apply(arm_default *d, sqlite3 *db, const arm_ext_config *cfg,
                                  sqlite3_value **cols, sqlite3_value ***out, char **errmsg) {
    *out = cols;
    *errmsg = NULL;
    if (d->state == 0) { // first use: does any column have a DEFAULT?
        d->state = 1;
        for (int i = 0; i < cfg->ncol; i++)
            if (dflt_applies(cfg, i)) d->state = 2;
    }
    if (d->state == 1) return SQLITE_OK; // the common case, decided once
    const int frombind = sqlite3_libversion_number() >= 3028000;
    int need = 0;
    for (int i = 0; i < cfg->ncol && !need; i++)
        need = dflt_applies(cfg, i) && sqlite3_value_type(cols[i]) == SQLITE_NULL &&
               !(frombind && sqlite3_value_frombind(cols[i]));
    if (!need) return SQLITE_OK;
    if (d->row == NULL) {
        size_t n = (size_t)cfg->ncol * sizeof(sqlite3_value *);
        d->row = sqlite3_malloc64(n);
        d->vals = sqlite3_malloc64(n);
        if (d->row == NULL || d->vals == NULL) return SQLITE_NOMEM;
        memset(d->vals, 0, n);
    }
    int rc = dflt_eval(d, db, cfg, errmsg);
    if (rc != SQLITE_OK) return rc;
    for (int i = 0; i < cfg->ncol; i++) {
        int use = dflt_applies(cfg, i) && sqlite3_value_type(cols[i]) == SQLITE_NULL &&
                  !(frombind && sqlite3_value_frombind(cols[i]));
        d->row[i] = use ? d->vals[i] : cols[i];
    }
    *out = d->row;
    return SQLITE_OK;
}

ARM_PRIVATE void arm_default_clear(arm_default *d, int ncol) {
    sqlite3_finalize(d->stmt);
    for (int i = 0; d->vals != NULL && i < ncol; i++) sqlite3_value_free(d->vals[i]);
    sqlite3_free(d->vals);
    sqlite3_free(d->row);
    memset(d, 0, sizeof(*d));
}
