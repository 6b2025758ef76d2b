/* SPDX-License-Identifier: MIT */
/*
 * arm_opts.c: the arguments of CREATE VIRTUAL TABLE ... USING armdb(...).
 * An argument `name=value` is an option; anything else is a column
 * definition (the table form). Every bad option or column names itself in the
 * error. The result, arm_ext_config, is rebuilt from the same text at every
 * xConnect, since SQLite keeps the statement in sqlite_schema.
 * Layer: ext.
 */
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3

#include "ext_int.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OPTS_MAX_FILE_MIN   65536ULL                /* the engine's smallest data file */
#define OPTS_MAX_FILE_MAX   (4294967296ULL - 4096)  /* 32-bit offsets, block aligned */
#define OPTS_ENTRY_OVERHEAD (64ULL + 20 + 1)        /* file header, entry header, type byte */
#define OPTS_WBUF_MAX       (1ULL << 30)
#define OPTS_VALUE_SIZE_MAX 1000000000ULL /* SQLite's own SQLITE_MAX_LENGTH */

/* The options, in the order the error message lists them. */
static const char *const opts_known =
    "dir, shards, max_file_size, write_buffer, sync, compaction_threshold, index, cache_size, "
    "key_type, max_key_size, max_value_size, shared, key_file, key_env, read_only";

enum opts_id {
    OPT_DIR, OPT_SHARDS, OPT_MAX_FILE_SIZE, OPT_WRITE_BUFFER, OPT_SYNC, OPT_COMPACTION,
    OPT_INDEX, OPT_CACHE_SIZE, OPT_KEY_TYPE, OPT_MAX_KEY_SIZE, OPT_MAX_VALUE_SIZE,
    OPT_SHARED, OPT_KEY_FILE, OPT_KEY_ENV, OPT_READ_ONLY, OPT_COUNT
};
static const char *const opts_names[OPT_COUNT] = {
    "dir", "shards", "max_file_size", "write_buffer", "sync", "compaction_threshold",
    "index", "cache_size", "key_type", "max_key_size", "max_value_size", "shared", "key_file",
    "key_env", "read_only",
};

ARM_PRIVATE const char *arm_opts_key_type_name(int key_type) {
    switch (key_type) {
    case ARM_EXT_KEY_INTEGER: return "INTEGER";
    case ARM_EXT_KEY_TEXT: return "TEXT";
    default: return "BLOB";
    }
}

/* --------------------------------------------------------------- lexing */
static int opts_is_ident_char(int c) {
    return isalnum(c) || c == '_' || c == '$' || c >= 0x80;
}

static const char *opts_skip_space(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

/* Length of the option name if arg looks like `ident = ...`, else 0. */
static size_t opts_option_name_len(const char *arg) {
    const char *p = arg;
    if (!(isalpha((unsigned char)*p) || *p == '_')) return 0;
    while (opts_is_ident_char((unsigned char)*p)) p++;
    size_t n = (size_t)(p - arg);
    p = opts_skip_space(p);
    return *p == '=' ? n : 0;
}

/* The value after '=', unquoted ('x', "x", or bare with spaces trimmed). */
static char *opts_unquote(const char *p) {
    p = opts_skip_space(p);
    size_t n = strlen(p);
    while (n > 0 && isspace((unsigned char)p[n - 1])) n--;
    char *out = sqlite3_malloc64(n + 1);
    if (out == NULL) return NULL;
    if (n >= 2 && (p[0] == '\'' || p[0] == '"') && p[n - 1] == p[0]) {
        char q = p[0];
        size_t j = 0;
        for (size_t i = 1; i + 1 < n; i++) {
            out[j++] = p[i];
            if (p[i] == q && p[i + 1] == q) i++; // doubled quote
        }
        out[j] = 0;
    } else {
        memcpy(out, p, n);
        out[n] = 0;
    }
    return out;
}

/* ---------------------------------------------------------- value parsing */
static int opts_parse_u64(const char *s, uint64_t *out, const char **end) {
    if (!isdigit((unsigned char)*s)) return 0;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
        s++;
    }
    *out = v;
    *end = s;
    return 1;
}

/* Plain bytes or a suffix: K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB, all
 * powers of 1024 ('256MB' = 268435456, as DESIGN.md says). */
static int opts_parse_size(const char *s, uint64_t *out) {
    const char *p;
    uint64_t v;
    if (!opts_parse_u64(s, &v, &p)) return 0;
    p = opts_skip_space(p);
    uint64_t mul = 1;
    switch (toupper((unsigned char)*p)) {
    case 0: break;
    case 'B': mul = 1, p--; break;
    case 'K': mul = 1ULL << 10; break;
    case 'M': mul = 1ULL << 20; break;
    case 'G': mul = 1ULL << 30; break;
    case 'T': mul = 1ULL << 40; break;
    default: return 0;
    }
    if (*p) {
        p++;
        if (toupper((unsigned char)*p) == 'I') p++;
        if (toupper((unsigned char)*p) == 'B') p++;
        if (*p) return 0;
    }
    if (mul > 1 && v > UINT64_MAX / mul) return 0;
    *out = v * mul;
    return 1;
}

static int opts_parse_double(const char *s, double *out) {
    char *end = NULL;
    if (*s == 0 || isspace((unsigned char)*s)) return 0;
    errno = 0;
    double d = strtod(s, &end);
    if (errno != 0 || end == s || *end != 0 || d != d) return 0;
    *out = d;
    return 1;
}

static int opts_word(const char *s, const char *const *words, int nwords) {
    for (int i = 0; i < nwords; i++)
        if (sqlite3_stricmp(s, words[i]) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------- columns */
/* Next token of a column definition: an identifier, a quoted name, or a
 * parenthesised group (kept whole). Returns the token (sqlite3_malloc, quotes
 * removed) or NULL at the end; *quoted says it was quoted. */
static char *opts_token(const char **pp, int *quoted, int *bad) {
    const char *p = opts_skip_space(*pp);
    *quoted = 0;
    if (*p == 0) return NULL;
    const char *start = p;
    char close = 0;
    if (*p == '"' || *p == '`' || *p == '\'') close = *p;
    if (*p == '[') close = ']';
    if (close) {
        p++;
        sqlite3_str *s = sqlite3_str_new(NULL);
        while (*p && !(*p == close && p[1] != close)) {
            if (*p == close) p++; // doubled quote
            sqlite3_str_appendchar(s, 1, *p++);
        }
        if (*p != close) {
            *bad = 1;
            sqlite3_free(sqlite3_str_finish(s));
            return NULL;
        }
        *pp = p + 1;
        *quoted = 1;
        char *t = sqlite3_str_finish(s);
        if (t == NULL) t = sqlite3_mprintf("%s", ""); // empty name
        return t;
    }
    if (*p == '(') {
        int depth = 0;
        do {
            if (*p == '(') depth++;
            if (*p == ')') depth--;
            p++;
        } while (*p && depth > 0);
    } else if (opts_is_ident_char((unsigned char)*p) || *p == '+' || *p == '-') {
        while (opts_is_ident_char((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.') p++;
    } else {
        *bad = 1;
        return NULL;
    }
    *pp = p;
    return sqlite3_mprintf("%.*s", (int)(p - start), start);
}

/* Case-insensitive substring test, over the whole declared type. */
static int opts_type_has(const char *type, const char *word) {
    size_t n = strlen(word);
    for (const char *p = type; *p; p++)
        if (sqlite3_strnicmp(p, word, (int)n) == 0) return 1;
    return 0;
}

/* SQLite's affinity rules (datatype3.html 3.1), in their order. */
static int opts_affinity_of(const char *type) {
    if (opts_type_has(type, "INT")) return ARM_EXT_AFF_INTEGER;
    if (opts_type_has(type, "CHAR") || opts_type_has(type, "CLOB") || opts_type_has(type, "TEXT"))
        return ARM_EXT_AFF_TEXT;
    if (type[0] == 0 || opts_type_has(type, "BLOB")) return ARM_EXT_AFF_BLOB;
    if (opts_type_has(type, "REAL") || opts_type_has(type, "FLOA") || opts_type_has(type, "DOUB"))
        return ARM_EXT_AFF_REAL;
    return ARM_EXT_AFF_NUMERIC;
}

/* The same rules reduced to our key types; -1 for the other affinities. */
static int opts_key_type_of(const char *type) {
    switch (opts_affinity_of(type)) {
    case ARM_EXT_AFF_INTEGER: return ARM_EXT_KEY_INTEGER;
    case ARM_EXT_AFF_TEXT: return ARM_EXT_KEY_TEXT;
    case ARM_EXT_AFF_BLOB: return type[0] ? ARM_EXT_KEY_BLOB : -1;
    default: return -1;
    }
}

static int opts_is_keyword(const char *t, const char *kw) {
    return sqlite3_stricmp(t, kw) == 0;
}

/* The next token if it is the keyword kw (consumed), else 0 (nothing consumed). */
static int opts_accept(const char **pp, const char *kw) {
    const char *p = *pp;
    int quoted = 0, bad = 0;
    char *tok = opts_token(&p, &quoted, &bad);
    int yes = tok != NULL && !quoted && opts_is_keyword(tok, kw);
    sqlite3_free(tok);
    if (yes) *pp = p;
    return yes;
}

/* The raw text of a DEFAULT value, as SQLite will parse it: a parenthesised
 * expression, a string or blob literal, or a run of number and word
 * characters (-1.5, NULL, TRUE, CURRENT_TIMESTAMP). NULL when there is none. */
static char *opts_default_value(const char **pp) {
    const char *p = opts_skip_space(*pp), *start = p;
    if ((*p == 'x' || *p == 'X') && p[1] == '\'') p++;
    if (*p == '\'' || *p == '"') {
        char q = *p++;
        while (*p && !(*p == q && p[1] != q)) p += *p == q ? 2 : 1;
        if (*p != q) return NULL;
        p++;
    } else if (*p == '(') {
        int depth = 0;
        do {
            if (*p == '(') depth++;
            if (*p == ')') depth--;
            p++;
        } while (*p && depth > 0);
        if (depth != 0) return NULL;
    } else {
        if (*p == '+' || *p == '-') p++;
        while (opts_is_ident_char((unsigned char)*p) || *p == '.' ||
               ((*p == '+' || *p == '-') && (p[-1] == 'e' || p[-1] == 'E')))
            p++;
    }
    if (p == start) return NULL;
    *pp = p;
    return sqlite3_mprintf("%.*s", (int)(p - start), start);
}

/* REFERENCES table [(columns)] and its actions: kept as documentation only,
 * since SQLite enforces no foreign keys on a virtual table. Consumes the
 * clause; 0 when it does not parse. */
static int opts_skip_references(const char **pp) {
    static const char *const words[] = {"ON", "DELETE", "UPDATE", "SET", "NULL", "DEFAULT",
                                        "CASCADE", "RESTRICT", "NO", "ACTION", "NOT",
                                        "DEFERRABLE", "INITIALLY", "DEFERRED", "IMMEDIATE"};
    int quoted = 0, bad = 0;
    char *tok = opts_token(pp, &quoted, &bad); // the parent table
    if (tok == NULL || tok[0] == '(') {
        sqlite3_free(tok);
        return 0;
    }
    sqlite3_free(tok);
    for (;;) {
        const char *p = *pp;
        tok = opts_token(&p, &quoted, &bad);
        if (tok == NULL) return !bad;
        int take = !quoted && (tok[0] == '(' || opts_word(tok, words, 15) >= 0);
        int match = !quoted && opts_is_keyword(tok, "MATCH");
        // NOT starts NOT NULL (a column constraint) unless DEFERRABLE follows
        if (take && opts_is_keyword(tok, "NOT")) take = opts_accept(&p, "DEFERRABLE");
        // NULL and DEFAULT belong to the clause only after SET
        if (take && (opts_is_keyword(tok, "NULL") || opts_is_keyword(tok, "DEFAULT"))) take = 0;
        sqlite3_free(tok);
        if (!take && !match) return 1;
        *pp = p;
        if (match) sqlite3_free(opts_token(pp, &quoted, &bad)); // MATCH name
        if (opts_accept(pp, "SET") && !opts_accept(pp, "NULL") && !opts_accept(pp, "DEFAULT"))
            return 0;
    }
}

static int opts_column_error(char **errmsg, const char *col, const char *what, const char *why) {
    *errmsg = sqlite3_mprintf("armdb: column %s: %s is not supported (%s)", col, what, why);
    return SQLITE_ERROR;
}

/* One column constraint starting with keyword tok (consumed); *pp is past it
 * on return. */
static int opts_column_constraint(const char **pp, const char *tok, arm_ext_column *col,
                                  int *is_pk, char **errmsg) {
    int quoted = 0, bad = 0;
    if (opts_is_keyword(tok, "CONSTRAINT")) { // a name for the next constraint
        char *name = opts_token(pp, &quoted, &bad);
        sqlite3_free(name);
        return name ? SQLITE_OK : opts_column_error(errmsg, col->name, "CONSTRAINT", "no name");
    }
    if (opts_is_keyword(tok, "PRIMARY")) {
        if (!opts_accept(pp, "KEY")) return SQLITE_ERROR;
        *is_pk = 1;
        (void)opts_accept(pp, "ASC"); // keys are kept in ascending order anyway
        if (opts_accept(pp, "DESC"))
            return opts_column_error(errmsg, col->name, "PRIMARY KEY DESC",
                                     "keys are kept in ascending order; ORDER BY key DESC works");
        if (opts_accept(pp, "AUTOINCREMENT"))
            return opts_column_error(errmsg, col->name, "AUTOINCREMENT",
                                     "a NULL INTEGER PRIMARY KEY gets the largest key + 1");
    } else if (opts_is_keyword(tok, "NOT")) {
        if (!opts_accept(pp, "NULL")) return SQLITE_ERROR;
        col->not_null = 1;
    } else if (opts_is_keyword(tok, "NULL")) {
        // NULL allowed: the default
    } else if (opts_is_keyword(tok, "DEFAULT")) {
        sqlite3_free(col->dflt);
        col->dflt = opts_default_value(pp);
        if (col->dflt == NULL) return SQLITE_ERROR;
    } else if (opts_is_keyword(tok, "COLLATE")) {
        sqlite3_free(col->collate);
        col->collate = opts_token(pp, &quoted, &bad);
        if (col->collate == NULL) return SQLITE_ERROR;
    } else if (opts_is_keyword(tok, "REFERENCES")) {
        if (!opts_skip_references(pp)) return SQLITE_ERROR;
    } else {
        return opts_column_error(errmsg, col->name, tok,
                                 "armdb enforces PRIMARY KEY and NOT NULL; UNIQUE, CHECK, ON "
                                 "CONFLICT and generated columns are not available");
    }
    if (opts_accept(pp, "ON"))
        return opts_column_error(errmsg, col->name, "ON CONFLICT",
                                 "write INSERT OR REPLACE / OR IGNORE instead");
    return SQLITE_OK;
}

/* Words that end a column's type and start a constraint. */
static int opts_is_constraint_word(const char *tok) {
    static const char *const words[] = {"CONSTRAINT", "PRIMARY", "NOT", "NULL", "DEFAULT",
                                        "COLLATE", "REFERENCES", "UNIQUE", "CHECK",
                                        "GENERATED", "AS", "HIDDEN", "ON"};
    return opts_word(tok, words, 13) >= 0;
}

/* Parse one column definition into col: name, type, then constraints
 * (PRIMARY KEY, NOT NULL, DEFAULT, COLLATE, REFERENCES as documentation).
 * *is_pk set for PRIMARY KEY. */
static int opts_column(const char *def, arm_ext_column *col, int *is_pk, char **errmsg) {
    const char *p = def;
    int quoted = 0, bad = 0;
    char *tok = opts_token(&p, &quoted, &bad);
    if (tok == NULL || (!quoted && !opts_is_ident_char((unsigned char)tok[0]))) {
        *errmsg = sqlite3_mprintf("armdb: cannot parse column definition '%s'", def);
        sqlite3_free(tok);
        return SQLITE_ERROR;
    }
    col->name = tok;
    sqlite3_str *type = sqlite3_str_new(NULL);
    int in_type = 1, rc = SQLITE_OK;
    while (rc == SQLITE_OK && (tok = opts_token(&p, &quoted, &bad)) != NULL) {
        if (quoted && !in_type) {
            rc = SQLITE_ERROR;
        } else if (!quoted && opts_is_constraint_word(tok)) {
            in_type = 0;
            rc = opts_column_constraint(&p, tok, col, is_pk, errmsg);
        } else if (in_type) {
            if (sqlite3_str_length(type) > 0 && tok[0] != '(') sqlite3_str_appendchar(type, 1, ' ');
            sqlite3_str_appendall(type, tok);
        } else {
            rc = SQLITE_ERROR;
        }
        sqlite3_free(tok);
    }
    col->type = sqlite3_str_finish(type);
    if (col->type == NULL) col->type = sqlite3_mprintf("%s", "");
    if (col->type != NULL) col->affinity = opts_affinity_of(col->type);
    if (rc != SQLITE_OK || bad || col->type == NULL) {
        if (*errmsg == NULL)
            *errmsg = sqlite3_mprintf("armdb: cannot parse column definition '%s'", def);
        return SQLITE_ERROR;
    }
    return SQLITE_OK;
}

/* A table constraint: PRIMARY KEY (column) names the key (*pk_name, owned);
 * FOREIGN KEY (...) REFERENCES ... is kept as documentation; UNIQUE and
 * CHECK cannot be enforced and are refused. */
static int opts_table_constraint(const char *def, char **pk_name, char **errmsg) {
    const char *p = def;
    int quoted = 0, bad = 0;
    if (opts_accept(&p, "CONSTRAINT")) sqlite3_free(opts_token(&p, &quoted, &bad));
    if (opts_accept(&p, "FOREIGN")) {
        char *cols = opts_accept(&p, "KEY") ? opts_token(&p, &quoted, &bad) : NULL;
        int ok = cols != NULL && cols[0] == '(' && opts_accept(&p, "REFERENCES") &&
                 opts_skip_references(&p) && *opts_skip_space(p) == 0;
        sqlite3_free(cols);
        if (ok) return SQLITE_OK;
    } else if (opts_accept(&p, "PRIMARY") && opts_accept(&p, "KEY")) {
        char *group = opts_token(&p, &quoted, &bad);
        const char *g = group && group[0] == '(' ? group + 1 : NULL;
        char *name = g ? opts_token(&g, &quoted, &bad) : NULL;
        if (g != NULL) (void)opts_accept(&g, "ASC");
        int ok = name != NULL && g != NULL && *opts_skip_space(g) == ')' &&
                 *opts_skip_space(p) == 0 && !bad;
        sqlite3_free(group);
        if (ok) {
            sqlite3_free(*pk_name);
            *pk_name = name;
            return SQLITE_OK;
        }
        sqlite3_free(name);
        *errmsg = sqlite3_mprintf("armdb: '%s': the PRIMARY KEY is one column, in ascending "
                                  "order (composite keys are not supported)", def);
        return SQLITE_ERROR;
    } else {
        *errmsg = sqlite3_mprintf("armdb: table constraint '%s' is not supported (armdb "
                                  "enforces PRIMARY KEY and NOT NULL only)", def);
        return SQLITE_ERROR;
    }
    *errmsg = sqlite3_mprintf("armdb: cannot parse table constraint '%s'", def);
    return SQLITE_ERROR;
}

/* ------------------------------------------------------------- options */
static int opts_bad(char **errmsg, const char *name, const char *value, const char *expected) {
    *errmsg = sqlite3_mprintf("armdb: bad value for option %s: '%s' (expected %s)", name, value,
                              expected);
    return SQLITE_ERROR;
}

/* Options that shape the engine. `seen` marks the ones given. */
typedef struct opts_state {
    int seen[OPT_COUNT];
    char *dir;               /* raw dir= value (sqlite3_malloc) */
    char *key_file;          /* raw key_file= value (sqlite3_malloc) */
    char *key_env;           /* key_env= value (sqlite3_malloc) */
    int key_type;            /* -1 when not given */
    uint64_t max_key_size;   /* 0 when not given */
    uint64_t max_value_size; /* 0 when not given */
} opts_state;

static int opts_apply(opts_state *st, arm_ext_config *cfg, int id, const char *val,
                      char **errmsg) {
    const char *name = opts_names[id];
    uint64_t u = 0;
    double d = 0;
    static const char *const sync_words[] = {"off", "normal", "full"};
    static const char *const index_words[] = {"ordered", "hash"};
    static const char *const key_words[] = {"blob", "text", "integer"};
    switch (id) {
    case OPT_DIR:
        if (*val == 0) return opts_bad(errmsg, name, val, "a directory path");
        st->dir = sqlite3_mprintf("%s", val);
        return st->dir ? SQLITE_OK : SQLITE_NOMEM;
    case OPT_SHARDS:
        if (!opts_parse_size(val, &u) || !isdigit((unsigned char)val[strlen(val) - 1]) || u < 1 ||
            u > ARM_EXT_SHARDS_MAX)
            return opts_bad(errmsg, name, val, "an integer from 1 to 1024");
        cfg->eng.shard_count = (uint32_t)u;
        return SQLITE_OK;
    case OPT_MAX_FILE_SIZE:
        if (!opts_parse_size(val, &u) || u < OPTS_MAX_FILE_MIN || u > OPTS_MAX_FILE_MAX)
            return opts_bad(errmsg, name, val,
                            "a size from '64KB' to 4294963200 (4GB - 4KB), like 268435456 or '256MB'");
        cfg->eng.max_file_size = u;
        return SQLITE_OK;
    case OPT_WRITE_BUFFER:
        if (!opts_parse_size(val, &u) || u < 4096 || u > OPTS_WBUF_MAX || u % 4096 != 0)
            return opts_bad(errmsg, name, val, "a multiple of 4096 from 4KB to 1GB, like '1MB'");
        cfg->eng.write_buffer_size = (uint32_t)u;
        return SQLITE_OK;
    case OPT_SYNC: {
        int w = opts_word(val, sync_words, 3);
        if (w < 0) return opts_bad(errmsg, name, val, "off, normal or full");
        cfg->eng.sync_mode = w == 0 ? ARM_SYNC_OFF : w == 1 ? ARM_SYNC_NORMAL : ARM_SYNC_FULL;
        return SQLITE_OK;
    }
    case OPT_COMPACTION:
        if (!opts_parse_double(val, &d) || d < 0.0 || d > 1.0)
            return opts_bad(errmsg, name, val, "a number from 0 to 1");
        cfg->eng.compaction_threshold = d;
        return SQLITE_OK;
    case OPT_INDEX: {
        int w = opts_word(val, index_words, 2);
        if (w < 0) return opts_bad(errmsg, name, val, "ordered or hash");
        cfg->eng.index_kind = w == 0 ? ARM_INDEX_ORDERED : ARM_INDEX_HASH;
        return SQLITE_OK;
    }
    case OPT_CACHE_SIZE: {
        /* allocated at open: more than the machine's memory can only fail there */
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        uint64_t mem = pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : UINT64_MAX;
        if (!opts_parse_size(val, &u)) return opts_bad(errmsg, name, val, "a size like '64MB'");
        if (u > mem)
            return opts_bad(errmsg, name, val, "a size no larger than this machine's memory");
        cfg->eng.cache_size = u;
        return SQLITE_OK;
    }
    case OPT_KEY_TYPE: {
        int w = opts_word(val, key_words, 3);
        if (w < 0) return opts_bad(errmsg, name, val, "integer, text or blob");
        st->key_type = w == 0 ? ARM_EXT_KEY_BLOB : w == 1 ? ARM_EXT_KEY_TEXT : ARM_EXT_KEY_INTEGER;
        return SQLITE_OK;
    }
    case OPT_MAX_KEY_SIZE:
        if (!opts_parse_size(val, &u) || u < 1 || u > ARM_EXT_KEY_SIZE_MAX)
            return opts_bad(errmsg, name, val, "a size from 1 to 65534 bytes");
        st->max_key_size = u;
        return SQLITE_OK;
    case OPT_MAX_VALUE_SIZE:
        if (!opts_parse_size(val, &u) || u < 1 || u > OPTS_VALUE_SIZE_MAX)
            return opts_bad(errmsg, name, val, "a size from 1 byte to 1000000000 bytes");
        st->max_value_size = u;
        return SQLITE_OK;
    case OPT_SHARED: {
        static const char *const bool_words[] = {"0", "1", "false", "true", "off", "on"};
        int w = opts_word(val, bool_words, 6);
        if (w < 0) return opts_bad(errmsg, name, val, "0 or 1");
        cfg->shared = w % 2;
        return SQLITE_OK;
    }
    case OPT_READ_ONLY: {
        static const char *const bool_words[] = {"0", "1", "false", "true", "off", "on"};
        int w = opts_word(val, bool_words, 6);
        if (w < 0) return opts_bad(errmsg, name, val, "0 or 1");
        cfg->read_only = w % 2;
        return SQLITE_OK;
    }
    case OPT_KEY_FILE:
        // the option names where the key is, never the key: SQLite keeps
        // this text in sqlite_schema, readable by anyone with the file
        if (*val == 0) return opts_bad(errmsg, name, val, "the path of a file holding the key");
        st->key_file = sqlite3_mprintf("%s", val);
        return st->key_file ? SQLITE_OK : SQLITE_NOMEM;
    default: /* OPT_KEY_ENV: every other option has its case above */
        for (const char *c = val; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_') {
                *errmsg = sqlite3_mprintf("armdb: option %s: expected the name of an environment "
                                          "variable (letters, digits, _)", name);
                return SQLITE_ERROR;
            }
        if (*val == 0) return opts_bad(errmsg, name, val, "the name of an environment variable");
        st->key_env = sqlite3_mprintf("%s", val);
        return st->key_env ? SQLITE_OK : SQLITE_NOMEM;
    }
}

static int opts_option(opts_state *st, arm_ext_config *cfg, const char *arg, size_t nlen,
                       char **errmsg) {
    int id = -1;
    for (int i = 0; i < OPT_COUNT; i++)
        if (strlen(opts_names[i]) == nlen && sqlite3_strnicmp(arg, opts_names[i], (int)nlen) == 0)
            id = i;
    if (id < 0) {
        *errmsg = sqlite3_mprintf("armdb: unknown option '%.*s' (options are: %s)", (int)nlen, arg,
                                  opts_known);
        return SQLITE_ERROR;
    }
    if (st->seen[id]) {
        *errmsg = sqlite3_mprintf("armdb: option %s given twice", opts_names[id]);
        return SQLITE_ERROR;
    }
    st->seen[id] = 1;
    char *val = opts_unquote(strchr(arg, '=') + 1);
    if (val == NULL) return SQLITE_NOMEM;
    int rc = opts_apply(st, cfg, id, val, errmsg);
    sqlite3_free(val);
    return rc;
}

/* ---------------------------------------------------------- directories */
/* Table names become one path component: keep [A-Za-z0-9_.-], escape the
 * rest as %XX, and never produce "." or "..". */
static void opts_append_component(sqlite3_str *s, const char *name) {
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        int keep = isalnum(*p) || *p == '_' || *p == '-' || (*p == '.' && p != (const unsigned char *)name);
        if (keep)
            sqlite3_str_appendchar(s, 1, (char)*p);
        else
            sqlite3_str_appendf(s, "%%%02X", *p);
    }
}

ARM_PRIVATE char *arm_opts_default_dir(sqlite3 *db, const char *schema, const char *table,
                                       char **errmsg) {
    const char *file = sqlite3_db_filename(db, schema);
    if (file == NULL || file[0] == 0) {
        *errmsg = sqlite3_mprintf("armdb: %s: dir= is required for a table in a :memory: or "
                                  "temporary database (there is no database file to put the "
                                  "default directory beside)", table);
        return NULL;
    }
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s, "%s-armdb/", file);
    opts_append_component(s, table);
    char *dir = sqlite3_str_finish(s);
    if (dir == NULL) *errmsg = sqlite3_mprintf("armdb: out of memory");
    return dir;
}

/* A relative dir= is taken relative to the database file's directory, so the
 * table still finds its data when the database is opened from elsewhere;
 * without a database file, relative to the current directory. */
ARM_PRIVATE char *arm_opts_resolve_dir(sqlite3 *db, const char *schema, const char *dir) {
    if (dir[0] == '/') return sqlite3_mprintf("%s", dir);
    const char *file = sqlite3_db_filename(db, schema);
    if (file != NULL && file[0] == '/') {
        const char *slash = strrchr(file, '/');
        return sqlite3_mprintf("%.*s/%s", (int)(slash - file), file, dir);
    }
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL) return NULL;
    return sqlite3_mprintf("%s/%s", cwd, dir);
}

/* ------------------------------------------------------------------ parse */
static int opts_columns_finish(arm_ext_config *cfg, const char *table, int npk, char **errmsg) {
    if (npk != 1) {
        *errmsg = sqlite3_mprintf(npk == 0 ? "armdb: %s: one column must be the PRIMARY KEY"
                                           : "armdb: %s: only one column can be the PRIMARY KEY "
                                             "(composite keys are not supported)",
                                  table);
        return SQLITE_ERROR;
    }
    const arm_ext_column *k = &cfg->cols[cfg->key_col];
    int kt = opts_key_type_of(k->type);
    if (kt < 0) {
        *errmsg = sqlite3_mprintf("armdb: %s: the PRIMARY KEY column %s must be declared INTEGER, "
                                  "TEXT or BLOB (not '%s')", table, k->name, k->type);
        return SQLITE_ERROR;
    }
    cfg->key_type = kt;
    if (k->collate != NULL && sqlite3_stricmp(k->collate, "BINARY") != 0) {
        *errmsg = sqlite3_mprintf("armdb: %s: the PRIMARY KEY column %s cannot be COLLATE %s "
                                  "(keys are kept in BINARY order)", table, k->name, k->collate);
        return SQLITE_ERROR;
    }
    for (int i = 0; i < cfg->ncol; i++)
        for (int j = 0; j < i; j++)
            if (sqlite3_stricmp(cfg->cols[i].name, cfg->cols[j].name) == 0) {
                *errmsg = sqlite3_mprintf("armdb: %s: duplicate column name %s", table,
                                          cfg->cols[i].name);
                return SQLITE_ERROR;
            }
    return SQLITE_OK;
}

/* PRIMARY KEY (name) as a table constraint names an existing column. */
static int opts_pk_by_name(arm_ext_config *cfg, const char *table, const char *name,
                           char **errmsg) {
    for (int i = 0; i < cfg->ncol; i++)
        if (sqlite3_stricmp(cfg->cols[i].name, name) == 0) {
            cfg->key_col = i;
            return SQLITE_OK;
        }
    *errmsg = sqlite3_mprintf("armdb: %s: PRIMARY KEY (%s) names no column", table, name);
    return SQLITE_ERROR;
}

static int opts_kv_columns(arm_ext_config *cfg) {
    cfg->ncol = 2;
    cfg->key_col = 0;
    cfg->cols = sqlite3_malloc64(2 * sizeof(arm_ext_column));
    if (cfg->cols == NULL) return SQLITE_NOMEM;
    memset(cfg->cols, 0, 2 * sizeof(arm_ext_column));
    cfg->cols[0].name = sqlite3_mprintf("key");
    cfg->cols[0].type = sqlite3_mprintf("%s", arm_opts_key_type_name(cfg->key_type));
    cfg->cols[0].not_null = 1;
    cfg->cols[1].name = sqlite3_mprintf("value");
    cfg->cols[1].type = sqlite3_mprintf("%s", "");
    if (!cfg->cols[0].name || !cfg->cols[0].type || !cfg->cols[1].name || !cfg->cols[1].type)
        return SQLITE_NOMEM;
    cfg->cols[0].affinity = opts_affinity_of(cfg->cols[0].type);
    cfg->cols[1].affinity = ARM_EXT_AFF_BLOB; // the value keeps the type it was written with
    return SQLITE_OK;
}

static int opts_parse_args(opts_state *st, arm_ext_config *cfg, int argc,
                           const char *const *argv, char **errmsg) {
    const char *table = argv[2];
    int npk = 0, rc = SQLITE_OK;
    char *pk_name = NULL; /* from a PRIMARY KEY (column) table constraint */
    cfg->cols = sqlite3_malloc64((size_t)(argc > 3 ? argc : 1) * sizeof(arm_ext_column));
    if (cfg->cols == NULL) return SQLITE_NOMEM;
    memset(cfg->cols, 0, (size_t)(argc > 3 ? argc : 1) * sizeof(arm_ext_column));
    for (int i = 3; i < argc && rc == SQLITE_OK; i++) {
        const char *arg = opts_skip_space(argv[i]);
        size_t nlen = opts_option_name_len(arg);
        if (nlen > 0) {
            rc = opts_option(st, cfg, arg, nlen, errmsg);
            continue;
        }
        if (*arg == 0) continue; // USING armdb() has one empty argument
        if (cfg->ncol >= ARM_EXT_COLUMNS_MAX) {
            *errmsg = sqlite3_mprintf("armdb: %s: too many columns", table);
            return SQLITE_ERROR;
        }
        static const char *const table_kw[] = {"PRIMARY", "UNIQUE", "CHECK", "FOREIGN",
                                               "CONSTRAINT"};
        const char *q = arg;
        int quoted = 0, bad = 0;
        char *first = opts_token(&q, &quoted, &bad);
        int table_constraint = first != NULL && !quoted && opts_word(first, table_kw, 5) >= 0;
        sqlite3_free(first);
        if (table_constraint) {
            char *before = pk_name;
            rc = opts_table_constraint(arg, &pk_name, errmsg);
            if (pk_name != before) npk++;
            continue;
        }
        int is_pk = 0;
        arm_ext_column *col = &cfg->cols[cfg->ncol++];
        rc = opts_column(arg, col, &is_pk, errmsg);
        if (is_pk) {
            cfg->key_col = cfg->ncol - 1;
            npk++;
        }
    }
    if (rc == SQLITE_OK && pk_name != NULL) rc = opts_pk_by_name(cfg, table, pk_name, errmsg);
    sqlite3_free(pk_name);
    if (rc != SQLITE_OK) return rc;
    cfg->table_form = cfg->ncol > 0;
    if (!cfg->table_form) {
        sqlite3_free(cfg->cols);
        cfg->cols = NULL;
        cfg->key_type = st->key_type >= 0 ? st->key_type : ARM_EXT_KEY_BLOB;
        return opts_kv_columns(cfg);
    }
    if (st->key_type >= 0) {
        *errmsg = sqlite3_mprintf("armdb: %s: key_type applies to the key/value form only; in "
                                  "the table form the PRIMARY KEY column's type decides", table);
        return SQLITE_ERROR;
    }
    return opts_columns_finish(cfg, table, npk, errmsg);
}

ARM_PRIVATE int arm_opts_parse(sqlite3 *db, int argc, const char *const *argv,
                               arm_ext_config *cfg, char **errmsg) {
    opts_state st;
    memset(&st, 0, sizeof(st));
    st.key_type = -1;
    memset(cfg, 0, sizeof(*cfg));
    arm_engine_options_init(&cfg->eng);
    *errmsg = NULL;
    assert(argc >= 3);
    int rc = opts_parse_args(&st, cfg, argc, argv, errmsg);
    if (rc == SQLITE_OK) {
        // user-visible limits; the engine gets room for our encodings
        cfg->max_key_size = st.max_key_size ? (uint32_t)st.max_key_size : cfg->eng.max_key_size;
        if (cfg->max_key_size > ARM_EXT_KEY_SIZE_MAX) cfg->max_key_size = ARM_EXT_KEY_SIZE_MAX;
        cfg->max_value_size =
            st.max_value_size ? (uint32_t)st.max_value_size : cfg->eng.max_value_size;
        /* One entry (file header, entry header, the longest encoded key, a
         * value and its type byte) must fit in one data file. An unset
         * max_value_size shrinks to fit a small max_file_size; a set one is
         * checked here so the message names the two options the user wrote.
         * max_file_size >= 64 KiB and keys < 64 KiB, but the sum may still
         * not fit: room is 0 then, and any value is refused. */
        uint64_t key_room = cfg->key_type == ARM_EXT_KEY_INTEGER ? 8 : cfg->max_key_size + 1;
        uint64_t need = OPTS_ENTRY_OVERHEAD + key_room;
        uint64_t room = cfg->eng.max_file_size > need ? cfg->eng.max_file_size - need : 0;
        if (!st.max_value_size && cfg->max_value_size > room) {
            cfg->max_value_size = (uint32_t)room;
            cfg->value_size_lowered = 1;
        }
        if (st.max_value_size && cfg->max_value_size > room) {
            *errmsg = sqlite3_mprintf("armdb: max_value_size (%llu) does not fit in one data file "
                                      "of max_file_size (%llu); raise max_file_size",
                                      (unsigned long long)st.max_value_size,
                                      (unsigned long long)cfg->eng.max_file_size);
            rc = SQLITE_ERROR;
        }
    }
    if (rc == SQLITE_OK) {
        cfg->eng.max_key_size = cfg->key_type == ARM_EXT_KEY_INTEGER ? 8 : cfg->max_key_size + 1;
        cfg->eng.max_value_size = cfg->max_value_size + 1;
        if (st.dir != NULL) {
            cfg->dir = arm_opts_resolve_dir(db, argv[1], st.dir);
            if (cfg->dir == NULL) rc = SQLITE_NOMEM;
        } else {
            cfg->dir = arm_opts_default_dir(db, argv[1], argv[2], errmsg);
            cfg->dir_default = 1;
            if (cfg->dir == NULL) rc = SQLITE_ERROR;
        }
    }
    if (rc == SQLITE_OK && st.key_file != NULL && st.key_env != NULL) {
        *errmsg = sqlite3_mprintf("armdb: give key_file or key_env, not both");
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && st.key_file != NULL) {
        // relative to the database file, like dir=
        cfg->key_file = arm_opts_resolve_dir(db, argv[1], st.key_file);
        cfg->eng.key_file = cfg->key_file;
        if (cfg->key_file == NULL) rc = SQLITE_NOMEM;
    }
    if (rc == SQLITE_OK && st.key_env != NULL) {
        cfg->key_env = st.key_env;
        cfg->eng.key_env = cfg->key_env;
        st.key_env = NULL;
    }
    sqlite3_free(st.dir);
    sqlite3_free(st.key_file);
    sqlite3_free(st.key_env);
    if (rc == SQLITE_NOMEM && *errmsg == NULL) *errmsg = sqlite3_mprintf("armdb: out of memory");
    if (rc != SQLITE_OK) arm_opts_clear(cfg);
    return rc;
}

ARM_PRIVATE void arm_opts_clear(arm_ext_config *cfg) {
    if (cfg == NULL) return;
    for (int i = 0; cfg->cols != NULL && i < cfg->ncol; i++) {
        sqlite3_free(cfg->cols[i].name);
        sqlite3_free(cfg->cols[i].type);
        sqlite3_free(cfg->cols[i].dflt);
        sqlite3_free(cfg->cols[i].collate);
    }
    sqlite3_free(cfg->cols);
    sqlite3_free(cfg->dir);
    sqlite3_free(cfg->key_file);
    sqlite3_free(cfg->key_env);
    memset(cfg, 0, sizeof(*cfg));
}

/* CREATE TABLE x("key" BLOB PRIMARY KEY NOT NULL, "value") WITHOUT ROWID.
 * Column types only steer affinity in comparisons; SQLite checks nothing
 * else of a virtual table, xUpdate does. */
ARM_PRIVATE char *arm_opts_schema(const arm_ext_config *cfg) {
    sqlite3_str *s = sqlite3_str_new(NULL);
    sqlite3_str_appendall(s, "CREATE TABLE x(");
    for (int i = 0; i < cfg->ncol; i++) {
        const arm_ext_column *c = &cfg->cols[i];
        sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", c->name);
        if (c->type[0]) sqlite3_str_appendf(s, " %s", c->type);
        if (i == cfg->key_col) sqlite3_str_appendall(s, " PRIMARY KEY");
        if (c->not_null || i == cfg->key_col) sqlite3_str_appendall(s, " NOT NULL");
        if (c->dflt) sqlite3_str_appendf(s, " DEFAULT %s", c->dflt);
        if (c->collate) sqlite3_str_appendf(s, " COLLATE \"%w\"", c->collate);
    }
    sqlite3_str_appendall(s, ") WITHOUT ROWID");
    return sqlite3_str_finish(s);
}

#undef OPTS_MAX_FILE_MIN
#undef OPTS_MAX_FILE_MAX
#undef OPTS_WBUF_MAX
#undef OPTS_VALUE_SIZE_MAX
