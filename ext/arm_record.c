/* SPDX-License-Identifier: MIT */
/*
 * arm_record.c: what a table records in its directory (the engine's
 * application metadata, APPMETA): its declaration (form, key type, columns),
 * whether it was declared shared, who owns it (the database file's path,
 * device and inode, and the table's name), and whether it was dropped. At
 * every open the record is compared with the table that opens it: a
 * different declaration is refused saying what differs; a different owner
 * (a copy made by .backup or VACUUM INTO, another database, another table)
 * is refused saying how to copy armdb data, unless the table is shared=1; a
 * moved database (same inode) or a restored one (same path) is taken as the
 * owner and the record updated. Layer: ext.
 *
 * Format: text, one `name value` per line, values %XX-escaped (%, control
 * characters); unknown names are ignored, so later versions may add some.
 *   armdb-table 1
 *   decl table ("id" INTEGER PRIMARY KEY, "name" TEXT)
 *   shared 0
 *   owner_file /abs/path/app.db      (absent: nobody owns it yet; empty: a
 *   owner_dev 2049                    database without a file, :memory:)
 *   owner_ino 1234567
 *   owner_table users
 *   dropped 0
 *   follow 127.0.0.1:7001            (present only while the table follows a
 *   follow_opts secret_env=ARMDB_SECRET  leader: armdb_repl_follow; options
 *                                     text only when some were given)
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RECORD_MAGIC "armdb-table 1"

ARM_PRIVATE void arm_record_clear(arm_ext_record *r) {
    sqlite3_free(r->decl);
    sqlite3_free(r->owner.file);
    sqlite3_free(r->owner.table);
    sqlite3_free(r->follow);
    sqlite3_free(r->follow_opts);
    memset(r, 0, sizeof(*r));
}

/* ----------------------------------------------------------- declarations */
ARM_PRIVATE char *arm_record_decl(const arm_ext_config *cfg) {
    if (!cfg->table_form)
        return sqlite3_mprintf("kv key_type=%s", arm_opts_key_type_name(cfg->key_type));
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendall(s, "table (");
    for (int i = 0; i < cfg->ncol; i++) {
        const arm_ext_column *c = &cfg->cols[i];
        sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", c->name);
        if (c->type[0]) sqlite3_str_appendf(s, " %s", c->type);
        if (i == cfg->key_col) sqlite3_str_appendall(s, " PRIMARY KEY");
    }
    sqlite3_str_appendchar(s, 1, ')');
    return sqlite3_str_finish(s);
}

/* The declaration as a person reads it. (sqlite3_malloc) */
static char *record_decl_text(const char *decl) {
    if (strncmp(decl, "kv ", 3) == 0) return sqlite3_mprintf("the key/value form (%s)", decl + 3);
    if (strncmp(decl, "table ", 6) == 0) return sqlite3_mprintf("columns %s", decl + 6);
    return sqlite3_mprintf("'%s'", decl);
}

/* ----------------------------------------------------------------- format */
static void record_put(sqlite3_str *s, const char *name, const char *value) {
    sqlite3_str_appendf(s, "%s ", name);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '%' || *p < 0x20 || *p == 0x7f)
            sqlite3_str_appendf(s, "%%%02X", *p);
        else
            sqlite3_str_appendchar(s, 1, (char)*p);
    }
    sqlite3_str_appendchar(s, 1, '\n');
}

ARM_PRIVATE char *arm_record_encode(const arm_ext_record *r, int *len_out) {
    sqlite3_str *s = sqlite3_str_new(NULL);
    char num[32];
    sqlite3_str_appendall(s, RECORD_MAGIC "\n");
    record_put(s, "decl", r->decl ? r->decl : "");
    record_put(s, "shared", r->shared ? "1" : "0");
    if (r->owner.file != NULL) {
        record_put(s, "owner_file", r->owner.file);
        sqlite3_snprintf(sizeof num, num, "%llu", (unsigned long long)r->owner.dev);
        record_put(s, "owner_dev", num);
        sqlite3_snprintf(sizeof num, num, "%llu", (unsigned long long)r->owner.ino);
        record_put(s, "owner_ino", num);
        record_put(s, "owner_table", r->owner.table ? r->owner.table : "");
    }
    record_put(s, "dropped", r->dropped ? "1" : "0");
    if (r->follow != NULL) record_put(s, "follow", r->follow);
    if (r->follow != NULL && r->follow_opts != NULL) record_put(s, "follow_opts", r->follow_opts);
    *len_out = sqlite3_str_length(s);
    return sqlite3_str_finish(s);
}

static int record_hex(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* One line's value, unescaped (sqlite3_malloc); NULL on a bad escape. */
static char *record_value(const char *p, size_t n) {
    char *out = sqlite3_malloc64(n + 1);
    size_t j = 0;
    if (out == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%') {
            out[j++] = p[i];
            continue;
        }
        int hi = i + 2 < n ? record_hex(p[i + 1]) : -1;
        int lo = hi >= 0 ? record_hex(p[i + 2]) : -1;
        if (lo < 0 || (hi << 4 | lo) == 0) {
            sqlite3_free(out);
            return NULL;
        }
        out[j++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[j] = 0;
    return out;
}

static int record_line(arm_ext_record *r, const char *name, size_t nlen, char *value) {
#define RECORD_IS(s) (nlen == strlen(s) && memcmp(name, s, nlen) == 0)
    char **slot = RECORD_IS("decl")          ? &r->decl
                  : RECORD_IS("owner_file")  ? &r->owner.file
                  : RECORD_IS("owner_table") ? &r->owner.table
                  : RECORD_IS("follow")      ? &r->follow
                  : RECORD_IS("follow_opts") ? &r->follow_opts
                                             : NULL;
    if (slot != NULL) {
        sqlite3_free(*slot);
        *slot = value;
        return SQLITE_OK;
    }
    if (RECORD_IS("shared")) r->shared = strcmp(value, "1") == 0;
    if (RECORD_IS("dropped")) r->dropped = strcmp(value, "1") == 0;
    if (RECORD_IS("owner_dev")) r->owner.dev = strtoull(value, NULL, 10);
    if (RECORD_IS("owner_ino")) r->owner.ino = strtoull(value, NULL, 10);
    sqlite3_free(value); // other names: a later version's, ignored
    return SQLITE_OK;
#undef RECORD_IS
}

ARM_PRIVATE int arm_record_decode(const char *p, size_t n, arm_ext_record *r) {
    memset(r, 0, sizeof(*r));
    size_t m = strlen(RECORD_MAGIC);
    if (n < m + 1 || memcmp(p, RECORD_MAGIC, m) != 0 || p[m] != '\n') return SQLITE_CORRUPT;
    for (size_t i = m + 1; i < n;) {
        const char *eol = memchr(p + i, '\n', n - i);
        const char *sp = memchr(p + i, ' ', n - i);
        if (eol == NULL || sp == NULL || sp > eol) break;
        char *value = record_value(sp + 1, (size_t)(eol - sp - 1));
        if (value == NULL) {
            arm_record_clear(r);
            return SQLITE_CORRUPT;
        }
        (void)record_line(r, p + i, (size_t)(sp - (p + i)), value);
        i = (size_t)(eol - p) + 1;
    }
    if (r->decl == NULL) {
        arm_record_clear(r);
        return SQLITE_CORRUPT;
    }
    return SQLITE_OK;
}

/* ------------------------------------------------------------------ owners */
ARM_PRIVATE int arm_record_owner_of(sqlite3 *db, const char *schema, const char *table,
                                    arm_ext_owner *o) {
    memset(o, 0, sizeof(*o));
    const char *file = sqlite3_db_filename(db, schema);
    struct stat st;
    o->file = sqlite3_mprintf("%s", file ? file : "");
    o->table = sqlite3_mprintf("%s", table);
    if (o->file == NULL || o->table == NULL) return SQLITE_NOMEM;
    if (o->file[0] && stat(o->file, &st) == 0) {
        o->dev = (uint64_t)st.st_dev;
        o->ino = (uint64_t)st.st_ino;
    }
    return SQLITE_OK;
}

static int record_set_owner(arm_ext_record *r, const arm_ext_owner *me) {
    sqlite3_free(r->owner.file);
    sqlite3_free(r->owner.table);
    r->owner.file = sqlite3_mprintf("%s", me->file);
    r->owner.table = sqlite3_mprintf("%s", me->table);
    r->owner.dev = me->dev;
    r->owner.ino = me->ino;
    return r->owner.file && r->owner.table ? SQLITE_OK : SQLITE_NOMEM;
}

static int record_file_exists(const char *path) {
    struct stat st;
    return path[0] && stat(path, &st) == 0;
}

static int record_foreign(char **errmsg, const char *dir, const arm_ext_record *r,
                          const arm_ext_owner *me) {
    const char *there = r->owner.file[0] ? r->owner.file : "a database without a file";
    const char *here = me->file[0] ? me->file : "a database without a file";
    *errmsg = sqlite3_mprintf(
        "armdb: %s: %s belongs to table %s of %s, not to this database (%s). A copy of a "
        "database file (.backup, VACUUM INTO, cp) holds no armdb data: copy a table's data "
        "with armdb_backup('%q', 'new directory') on the original and create the table in "
        "the copy over that directory; or declare both tables shared=1 to use one directory "
        "from several databases on purpose",
        me->table, dir, r->owner.table ? r->owner.table : "?", there, here, me->table);
    return ARM_EXT_FAIL_FOREIGN;
}

ARM_PRIVATE int arm_record_check(arm_ext_record *r, const arm_ext_config *cfg,
                                 const arm_ext_owner *me, int create, int *changed,
                                 char **errmsg) {
    *changed = 0;
    char *decl = arm_record_decl(cfg);
    if (decl == NULL) return ARM_EXT_FAIL_NOMEM;
    if (r->decl == NULL) { // a new table, or a directory made before tables recorded this
        r->decl = decl;
        r->shared = cfg->shared;
        *changed = 1;
        return record_set_owner(r, me) == SQLITE_OK ? ARM_EXT_FAIL_NONE : ARM_EXT_FAIL_NOMEM;
    }
    if (sqlite3_stricmp(r->decl, decl) != 0) {
        char *there = record_decl_text(r->decl), *here = record_decl_text(decl);
        *errmsg = sqlite3_mprintf("armdb: %s: %s holds a table declared differently: there %s, "
                                  "here %s", me->table, cfg->dir, there ? there : "?",
                                  here ? here : "?");
        sqlite3_free(there);
        sqlite3_free(here);
        sqlite3_free(decl);
        return ARM_EXT_FAIL_FOREIGN;
    }
    sqlite3_free(decl);
    /* read_only=1 reads whoever's directory this is (a damaged table's, one
     * on a read-only medium) and changes nothing in it: no owner check, no
     * adoption. */
    if (cfg->read_only) return ARM_EXT_FAIL_NONE;
    const arm_ext_owner *o = &r->owner;
    int adopt = o->file == NULL                         /* nobody: armdb_backup's copy */
                || (o->file[0] == 0 && me->file[0] != 0) /* a :memory: table's directory */
                || (create && !record_file_exists(o->file) && o->file[0] != 0);
    if (adopt || cfg->shared) {
        if (!adopt) return ARM_EXT_FAIL_NONE; // shared on purpose: the owner stays
        *changed = 1;
        return record_set_owner(r, me) == SQLITE_OK ? ARM_EXT_FAIL_NONE : ARM_EXT_FAIL_NOMEM;
    }
    int same_path = strcmp(o->file, me->file) == 0;
    int same_file = me->file[0] && o->dev == me->dev && o->ino == me->ino;
    if ((!same_path && !same_file) || sqlite3_stricmp(o->table ? o->table : "", me->table) != 0)
        return record_foreign(errmsg, cfg->dir, r, me);
    if (same_path && (same_file || me->file[0] == 0)) return ARM_EXT_FAIL_NONE;
    *changed = 1; // moved (same inode) or restored (same path): this database owns it
    return record_set_owner(r, me) == SQLITE_OK ? ARM_EXT_FAIL_NONE : ARM_EXT_FAIL_NOMEM;
}

#undef RECORD_MAGIC
