/* SPDX-License-Identifier: MIT */
/*
 * util.c: support code for the test programs (see util.h). No main().
 */
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/arm_hash.h"

int util_scale(void) {
    const char *s = getenv("ARM_TEST_SCALE");
    int v = s ? atoi(s) : 1;
    return v < 1 ? 1 : v;
}

int util_case_enabled(const char *name) {
    const char *only = getenv("ARM_TEST_CASE");
    return only == NULL || only[0] == '\0' || strstr(name, only) != NULL;
}

char *util_tmpdir(char *buf, size_t size, const char *tag) {
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') base = "/tmp";
    int n = snprintf(buf, size, "%s/armtest-%s-XXXXXX", base, tag ? tag : "x");
    if (n < 0 || (size_t)n >= size) return NULL;
    return mkdtemp(buf);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int util_rmrf(const char *path) {
    if (path == NULL || path[0] == '\0') return 0;
    return nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

static const char *g_cleanup_path;
static pid_t g_cleanup_pid;

static void cleanup_at_exit(void) {
    const char *keep = getenv("ARM_TEST_KEEP");
    if (getpid() != g_cleanup_pid || g_cleanup_path == NULL || g_cleanup_path[0] == '\0') return;
    if (keep != NULL && keep[0] == '1') {
        fprintf(stderr, "keeping %s\n", g_cleanup_path);
        return;
    }
    util_rmrf(g_cleanup_path);
}

void util_rmrf_at_exit(const char *path) {
    if (g_cleanup_path == NULL) atexit(cleanup_at_exit);
    g_cleanup_path = path;
    g_cleanup_pid = getpid();
}

uint64_t util_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void util_rng_seed(util_rng *r, uint64_t seed) {
    /* splitmix64 so nearby seeds give unrelated streams */
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    r->s = z ? z : 1;
}

uint64_t util_rng_next(util_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ULL;
}

uint64_t util_rng_below(util_rng *r, uint64_t n) { return n ? util_rng_next(r) % n : 0; }

void util_fill(uint8_t *buf, size_t n, uint64_t a, uint64_t b) {
    util_rng r;
    util_rng_seed(&r, a * 0x100000001b3ULL ^ (b + 0x51ed27ULL));
    size_t i = 0;
    while (i + 8 <= n) {
        uint64_t x = util_rng_next(&r);
        memcpy(buf + i, &x, 8);
        i += 8;
    }
    if (i < n) {
        uint64_t x = util_rng_next(&r);
        memcpy(buf + i, &x, n - i);
    }
}

uint64_t util_hash(const void *p, size_t n) {
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* ------------------------------------------------------------ files */
static int cmp_logfile(const void *a, const void *b) {
    const util_logfile *x = a, *y = b;
    return x->fid < y->fid ? -1 : x->fid > y->fid;
}

int util_list_logs(const char *dir, util_logfile *out, int max) {
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned shard;
        char tail;
        if (sscanf(de->d_name, "shard-%u%c", &shard, &tail) != 1) continue;
        char sub[512];
        int w = snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        if (w < 0 || (size_t)w >= sizeof sub) continue;
        DIR *s = opendir(sub);
        if (s == NULL) continue;
        struct dirent *fe;
        while ((fe = readdir(s)) != NULL) {
            unsigned fid;
            size_t len = strlen(fe->d_name);
            if (len != 12 || strcmp(fe->d_name + 8, ".log") != 0) continue;
            if (sscanf(fe->d_name, "%8u", &fid) != 1) continue;
            if (n < max) {
                util_logfile *lf = &out[n];
                int w2 = snprintf(lf->path, sizeof lf->path, "%s/%s", sub, fe->d_name);
                if (w2 < 0 || (size_t)w2 >= sizeof lf->path) continue;
                lf->shard = shard;
                lf->fid = fid;
                struct stat st;
                lf->size = stat(lf->path, &st) == 0 ? (uint64_t)st.st_size : 0;
            }
            n++;
        }
        closedir(s);
    }
    closedir(d);
    qsort(out, (size_t)(n < max ? n : max), sizeof *out, cmp_logfile);
    return n;
}

int util_newest_log(const char *dir, uint32_t shard, util_logfile *out) {
    enum { MAXF = 4096 };
    util_logfile *all = malloc(sizeof(util_logfile) * MAXF);
    if (all == NULL) return -1;
    int n = util_list_logs(dir, all, MAXF);
    int found = -1;
    for (int i = 0; i < n && i < MAXF; i++)
        if (all[i].shard == shard) {
            *out = all[i];
            found = 0;
        }
    free(all);
    return found;
}

int64_t util_file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (int64_t)st.st_size;
}

int64_t util_dir_bytes(const char *dir, const char *suffix, int *count_out) {
    if (count_out) *count_out = 0;
    DIR *d = opendir(dir);
    if (d == NULL) return -1;
    int64_t total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            DIR *sd = opendir(path);
            struct dirent *se;
            while (sd && (se = readdir(sd)) != NULL) {
                char sp[1400];
                snprintf(sp, sizeof sp, "%s/%s", path, se->d_name);
                struct stat sst;
                if (lstat(sp, &sst) != 0 || !S_ISREG(sst.st_mode)) continue;
                total += (int64_t)sst.st_size;
                size_t nl = strlen(se->d_name), sl = suffix ? strlen(suffix) : 0;
                if (count_out && suffix && nl >= sl && strcmp(se->d_name + nl - sl, suffix) == 0)
                    (*count_out)++;
            }
            if (sd) closedir(sd);
        } else if (S_ISREG(st.st_mode)) {
            total += (int64_t)st.st_size;
        }
    }
    closedir(d);
    return total;
}

int util_orphan_hints(const char *db, char *first, size_t size) {
    if (first && size) first[0] = 0;
    DIR *d = opendir(db);
    if (d == NULL) return -1;
    int orphans = 0;
    struct dirent *de;
    while (orphans >= 0 && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "shard-", 6) != 0) continue;
        char shard[1024];
        snprintf(shard, sizeof shard, "%s/%s", db, de->d_name);
        DIR *sd = opendir(shard);
        if (sd == NULL) {
            orphans = -1;
            break;
        }
        struct dirent *se;
        while ((se = readdir(sd)) != NULL) {
            if (strlen(se->d_name) != 13 || strcmp(se->d_name + 8, ".hint") != 0) continue;
            char log[1400];
            snprintf(log, sizeof log, "%s/%.8s.log", shard, se->d_name);
            if (util_file_size(log) >= 0) continue;
            if (orphans++ == 0 && first) snprintf(first, size, "%s/%s", shard, se->d_name);
        }
        closedir(sd);
    }
    closedir(d);
    return orphans;
}

uint8_t *util_read_file(const char *path, size_t *len_out) {
    *len_out = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    size_t got = 0;
    while (buf != NULL && got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)got);
        if (r <= 0) {
            free(buf);
            buf = NULL;
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    if (buf) *len_out = len;
    return buf;
}

int util_truncate(const char *path, uint64_t len) { return truncate(path, (off_t)len); }

int util_flip_bit(const char *path, uint64_t off, int bit) {
    int fd = open(path, O_RDWR);
    if (fd < 0) return -1;
    uint8_t b;
    int rc = -1;
    if (pread(fd, &b, 1, (off_t)off) == 1) {
        b ^= (uint8_t)(1u << bit);
        if (pwrite(fd, &b, 1, (off_t)off) == 1) rc = 0;
    }
    close(fd);
    return rc;
}

int util_append_bytes(const char *path, size_t n, uint8_t byte) {
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0) return -1;
    uint8_t buf[4096];
    memset(buf, byte, sizeof buf);
    int rc = 0;
    while (n > 0) {
        size_t c = n < sizeof buf ? n : sizeof buf;
        if (write(fd, buf, c) != (ssize_t)c) {
            rc = -1;
            break;
        }
        n -= c;
    }
    close(fd);
    return rc;
}

int util_copy_file(const char *from, const char *to) {
    size_t len;
    uint8_t *buf = util_read_file(from, &len);
    if (buf == NULL) return -1;
    int fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = -1;
    if (fd >= 0) {
        rc = write(fd, buf, len) == (ssize_t)len ? 0 : -1;
        close(fd);
    }
    free(buf);
    return rc;
}

int util_copy_db(const char *from, const char *to) {
    if (mkdir(to, 0755) != 0 && errno != EEXIST) return -1;
    DIR *d = opendir(from);
    if (d == NULL) return -1;
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        if (strcmp(de->d_name, "LOCK") == 0) continue;
        char src[512], dst[512];
        int w1 = snprintf(src, sizeof src, "%s/%s", from, de->d_name);
        int w2 = snprintf(dst, sizeof dst, "%s/%s", to, de->d_name);
        if (w1 < 0 || w2 < 0 || (size_t)w1 >= sizeof src || (size_t)w2 >= sizeof dst) {
            rc = -1;
            break;
        }
        struct stat st;
        if (stat(src, &st) != 0) {
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = util_copy_db(src, dst);
        } else if (S_ISREG(st.st_mode)) {
            rc = util_copy_file(src, dst);
        }
    }
    closedir(d);
    return rc;
}

/* ------------------------------------------------ documented log format */
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void wr64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int util_parse_log(const char *path, util_entry *out, int max, uint64_t *end_out) {
    size_t len;
    uint8_t *buf = util_read_file(path, &len);
    if (end_out) *end_out = 0;
    if (buf == NULL) return -1;
    if (len < UTIL_FILE_HDR || memcmp(buf, "ARMLOG\0\1", 8) != 0 ||
        rd64(buf + 56) != arm_hash_checksum(buf, 56)) {
        free(buf);
        return -2;
    }
    uint64_t off = UTIL_FILE_HDR;
    int n = 0;
    while (off + UTIL_ENTRY_HDR <= len) {
        const uint8_t *e = buf + off;
        uint16_t klen = (uint16_t)(e[6] | e[7] << 8);
        uint32_t vlen = rd32(e + 8);
        uint64_t total = (uint64_t)UTIL_ENTRY_HDR + klen + vlen;
        if (klen == 0 || off + total > len) break;
        uint32_t sum = (uint32_t)arm_hash_checksum(e + 4, (size_t)total - 4);
        if (sum != rd32(e)) break;
        if (n < max) {
            util_entry *u = &out[n];
            u->off = off;
            u->len = (uint32_t)total;
            u->type = e[4];
            u->flags = e[5];
            u->klen = klen;
            u->vlen = vlen;
            u->seq = rd64(e + 12);
            u->key_off = off + UTIL_ENTRY_HDR;
        }
        n++;
        off += total;
    }
    if (end_out) *end_out = off;
    free(buf);
    return n;
}

size_t util_build_entry(uint8_t *buf, uint8_t type, uint8_t flags, uint64_t seq,
                        const uint8_t *key, uint16_t klen, const uint8_t *val, uint32_t vlen) {
    buf[4] = type;
    buf[5] = flags;
    wr16(buf + 6, klen);
    wr32(buf + 8, vlen);
    wr64(buf + 12, seq);
    memcpy(buf + 20, key, klen);
    if (vlen) memcpy(buf + 20 + klen, val, vlen);
    size_t total = (size_t)UTIL_ENTRY_HDR + klen + vlen;
    wr32(buf, (uint32_t)arm_hash_checksum(buf + 4, total - 4));
    return total;
}

/* ------------------------------------------------ documented hint format */
void util_hint_path(char *out, size_t n, const char *log_path) {
    size_t len = strlen(log_path);
    if (len >= 4 && strcmp(log_path + len - 4, ".log") == 0) len -= 4;
    snprintf(out, n, "%.*s.hint", (int)len, log_path);
}

int util_parse_hint(const char *path, util_hint_rec *out, int max, uint64_t *log_size_out) {
    size_t len;
    uint8_t *buf = util_read_file(path, &len);
    if (log_size_out) *log_size_out = 0;
    if (buf == NULL) return -1;
    int bad = len < UTIL_HINT_HDR + UTIL_HINT_FOOT || memcmp(buf, "ARMHINT\1", 8) != 0 ||
              rd64(buf + 56) != arm_hash_checksum(buf, 56) ||
              memcmp(buf + len - UTIL_HINT_FOOT, "ARMHEND\1", 8) != 0 ||
              rd64(buf + len - 8) != arm_hash_checksum(buf, len - 8);
    if (bad) {
        free(buf);
        return -2;
    }
    if (log_size_out) *log_size_out = rd64(buf + 40);
    size_t off = UTIL_HINT_HDR, end = len - UTIL_HINT_FOOT;
    int n = 0;
    while (off + UTIL_HINT_REC <= end) {
        const uint8_t *r = buf + off;
        uint16_t klen = (uint16_t)(r[2] | r[3] << 8);
        /* the value too, for the kinds that are no data */
        uint64_t carried = r[0] == UTIL_T_PUT || r[0] == UTIL_T_DEL ? 0 : rd32(r + 8);
        if (off + UTIL_HINT_REC + klen + carried > end) break;
        if (n < max) {
            util_hint_rec *u = &out[n];
            u->type = r[0];
            u->flags = r[1];
            u->klen = klen;
            u->off = rd32(r + 4);
            u->vlen = rd32(r + 8);
            u->seq = rd64(r + 12);
            u->key_off = off + UTIL_HINT_REC;
        }
        n++;
        off += UTIL_HINT_REC + klen + carried;
    }
    uint64_t count = rd64(buf + end + 8);
    free(buf);
    return off == end && count == (uint64_t)n ? n : -2;
}

int util_reseal_hint(const char *path) {
    size_t len;
    uint8_t *buf = util_read_file(path, &len);
    if (buf == NULL || len < UTIL_HINT_HDR + UTIL_HINT_FOOT) {
        free(buf);
        return -1;
    }
    wr64(buf + 56, arm_hash_checksum(buf, 56));
    wr64(buf + len - 8, arm_hash_checksum(buf, len - 8));
    FILE *f = fopen(path, "wb");
    int rc = f != NULL && fwrite(buf, 1, len, f) == len ? 0 : -1;
    if (f) fclose(f);
    free(buf);
    return rc;
}

/* ---------------------------------------------------------- key model */
int util_keycmp(const void *a, size_t alen, const void *b, size_t blen) {
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return alen < blen ? -1 : alen > blen;
}

void util_model_init(util_model *m) { memset(m, 0, sizeof *m); }

void util_model_free(util_model *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->items[i].key);
        free(m->items[i].val);
    }
    free(m->items);
    memset(m, 0, sizeof *m);
}

static uint8_t *dup_bytes(const void *p, size_t n) {
    uint8_t *d = malloc(n ? n : 1);
    if (d == NULL) abort();
    if (n) memcpy(d, p, n);
    return d;
}

void util_model_copy(util_model *dst, const util_model *src) {
    util_model_free(dst);
    dst->items = malloc(sizeof(util_kv) * (src->n ? src->n : 1));
    if (dst->items == NULL) abort();
    dst->cap = src->n ? src->n : 1;
    for (size_t i = 0; i < src->n; i++) {
        dst->items[i].key = dup_bytes(src->items[i].key, src->items[i].klen);
        dst->items[i].klen = src->items[i].klen;
        dst->items[i].val = dup_bytes(src->items[i].val, src->items[i].vlen);
        dst->items[i].vlen = src->items[i].vlen;
    }
    dst->n = src->n;
}

size_t util_model_lower(const util_model *m, const void *k, size_t klen) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (util_keycmp(m->items[mid].key, m->items[mid].klen, k, klen) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const util_kv *util_model_get(const util_model *m, const void *k, size_t klen) {
    size_t i = util_model_lower(m, k, klen);
    if (i < m->n && util_keycmp(m->items[i].key, m->items[i].klen, k, klen) == 0)
        return &m->items[i];
    return NULL;
}

void util_model_put(util_model *m, const void *k, size_t klen, const void *v, size_t vlen) {
    size_t i = util_model_lower(m, k, klen);
    if (i < m->n && util_keycmp(m->items[i].key, m->items[i].klen, k, klen) == 0) {
        free(m->items[i].val);
        m->items[i].val = dup_bytes(v, vlen);
        m->items[i].vlen = vlen;
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->items = realloc(m->items, sizeof(util_kv) * m->cap);
        if (m->items == NULL) abort();
    }
    memmove(&m->items[i + 1], &m->items[i], sizeof(util_kv) * (m->n - i));
    m->items[i].key = dup_bytes(k, klen);
    m->items[i].klen = klen;
    m->items[i].val = dup_bytes(v, vlen);
    m->items[i].vlen = vlen;
    m->n++;
}

int util_model_del(util_model *m, const void *k, size_t klen) {
    size_t i = util_model_lower(m, k, klen);
    if (i < m->n && util_keycmp(m->items[i].key, m->items[i].klen, k, klen) == 0) {
        free(m->items[i].key);
        free(m->items[i].val);
        memmove(&m->items[i], &m->items[i + 1], sizeof(util_kv) * (m->n - i - 1));
        m->n--;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------ process state */
int util_mapped(const char *path) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (f == NULL) return 0;
    char line[4096 + 256];
    int found = 0;
    size_t n = strlen(path);
    while (!found && fgets(line, sizeof line, f) != NULL) {
        char *p = strchr(line, '/');
        if (p == NULL) continue;
        found = strncmp(p, path, n) == 0 && (p[n] == '\n' || p[n] == '\0' || p[n] == ' ');
    }
    fclose(f);
    return found;
}

int util_fds_on(const char *path) {
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char link[300], target[4096];
        if (de->d_name[0] == '.') continue;
        snprintf(link, sizeof link, "/proc/self/fd/%s", de->d_name);
        ssize_t r = readlink(link, target, sizeof target - 1);
        if (r < 0) continue;
        target[r] = '\0';
        /* an unlinked file reads "PATH (deleted)": still open */
        size_t pl = strlen(path);
        if (strncmp(target, path, pl) == 0 && (target[pl] == '\0' || target[pl] == ' ')) n++;
    }
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------- JSON */
/* A validating recursive-descent parser of RFC 8259 JSON text (depth bound:
 * no recursion past UTIL_JSON_DEPTH). */
#define UTIL_JSON_DEPTH 64

typedef struct util_jp {
    const char *p, *end;
} util_jp;

static void uj_ws(util_jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int uj_lit(util_jp *j, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, lit, n) != 0) return 0;
    j->p += n;
    return 1;
}

static int uj_string(util_jp *j) {
    if (j->p >= j->end || *j->p != '"') return 0;
    j->p++;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p++;
        if (c == '"') return 1;
        if (c < 0x20) return 0;
        if (c >= 0x80) return 0; /* the writers under test escape everything else */
        if (c != '\\') continue;
        if (j->p >= j->end) return 0;
        c = (unsigned char)*j->p++;
        if (c == 'u') {
            for (int i = 0; i < 4; i++, j->p++)
                if (j->p >= j->end || !strchr("0123456789abcdefABCDEF", *j->p)) return 0;
        } else if (!strchr("\"\\/bfnrt", c)) {
            return 0;
        }
    }
    return 0;
}

static int uj_number(util_jp *j) {
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end) return 0;
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    } else {
        return 0;
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    return j->p > s;
}

static int uj_value(util_jp *j, int depth);

/* An object or array body after its opening bracket. */
static int uj_members(util_jp *j, int depth, char close, int object) {
    uj_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 1;
    }
    for (;;) {
        uj_ws(j);
        if (object) {
            if (!uj_string(j)) return 0;
            uj_ws(j);
            if (j->p >= j->end || *j->p++ != ':') return 0;
        }
        if (!uj_value(j, depth + 1)) return 0;
        uj_ws(j);
        if (j->p >= j->end) return 0;
        char c = *j->p++;
        if (c == close) return 1;
        if (c != ',') return 0;
    }
}

static int uj_value(util_jp *j, int depth) {
    if (depth > UTIL_JSON_DEPTH) return 0;
    uj_ws(j);
    if (j->p >= j->end) return 0;
    switch (*j->p) {
    case '{': j->p++; return uj_members(j, depth, '}', 1);
    case '[': j->p++; return uj_members(j, depth, ']', 0);
    case '"': return uj_string(j);
    case 't': return uj_lit(j, "true");
    case 'f': return uj_lit(j, "false");
    case 'n': return uj_lit(j, "null");
    default: return uj_number(j);
    }
}

int util_json_valid(const char *text, size_t len) {
    util_jp j = {text, text + len};
    if (!uj_value(&j, 0)) return 0;
    uj_ws(&j);
    return j.p == j.end;
}

const char *util_json_find(const char *text, const char *key, char *out, size_t size) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (p == NULL) return NULL;
    p += strlen(pat);
    size_t n = 0;
    int depth = 0, in_str = 0;
    for (const char *q = p; *q && n + 1 < size; q++) {
        char c = *q;
        if (in_str) {
            if (c == '\\' && q[1]) {
                out[n++] = c;
                c = *++q;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']' || c == ',') {
            if (depth == 0) break;
            if (c != ',') depth--;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return p;
}
