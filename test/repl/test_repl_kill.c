/* SPDX-License-Identifier: MIT */
/*
 * test_repl_kill.c: replication under failure. A follower in a forked child
 * is SIGKILLed mid-stream and restarted, over and over, while the leader
 * takes writes: after every kill its content is exactly the leader's log up
 * to the positions it stored (so data and positions were written together,
 * nothing lost, nothing twice), and every restart resumes from those
 * positions (never a snapshot). The leader in a forked child is SIGKILLed
 * and restarted on the same port while the follower keeps reconnecting:
 * the same exactness after each kill, and the follower ends equal to it.
 * Sockets cut, frames duplicated and delayed at random (the fault shim, on
 * both sides): the follower keeps reconnecting and ends equal. Three
 * followers, one of them stalled (it never reads): the other two keep up,
 * and the leader drops the stalled one. Seeds are printed on failure.
 * The children are this program run again (fork + exec of /proc/self/exe
 * with --follower or --leader), so they start clean of the parent's threads.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../../repl/repl_fault.h"
#include "repl_test.h"

#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static char g_tmp[512];

static void path_of(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", g_tmp, name);
}

/* ------------------------------------------------------------ workload */
/* Puts, overwrites, deletes and multi-key batches over `keys` keys, from a
 * seeded generator: each call does one commit. */
static void one_write(arm_engine *e, util_rng *g, uint64_t i, int keys) {
    char k[32], v[160];
    int kind = (int)util_rng_below(g, 10);
    snprintf(k, sizeof k, "key%05d", (int)util_rng_below(g, (uint64_t)keys));
    int vl = snprintf(v, sizeof v, "v%llu-", (unsigned long long)i);
    size_t fill = util_rng_below(g, 100);
    memset(v + vl, 'a' + (int)(i % 26), fill);
    v[vl + fill] = 0;
    int rc;
    if (kind < 6) {
        rc = arm_engine_put(e, UTIL_S(k), UTIL_S(v));
    } else if (kind < 8) {
        rc = arm_engine_delete(e, UTIL_S(k));
        if (rc == ARM_NOTFOUND) rc = ARM_OK;
    } else {
        arm_batch *b = NULL;
        rc = arm_engine_batch_new(e, &b);
        int m = 2 + (int)util_rng_below(g, 5);
        for (int j = 0; rc == ARM_OK && j < m; j++) {
            snprintf(k, sizeof k, "key%05d", (int)util_rng_below(g, (uint64_t)keys));
            rc = util_rng_below(g, 4) == 0 ? arm_engine_batch_delete(b, UTIL_S(k))
                                           : arm_engine_batch_put(b, UTIL_S(k), UTIL_S(v));
        }
        if (rc == ARM_OK) rc = arm_engine_batch_commit(e, b);
        arm_engine_batch_free(b);
    }
    if (rc != ARM_OK) {
        fprintf(stderr, "write %llu failed: %s: %s\n", (unsigned long long)i, arm_rc_str(rc),
                arm_engine_errmsg(e));
        abort();
    }
}

typedef struct writer {
    arm_engine *e;
    pthread_t th;
    _Atomic int stop;
    uint64_t seed;
    uint32_t pause_us; /* between writes */
    uint64_t n;
} writer;

static void *writer_main(void *arg) {
    writer *w = arg;
    util_rng g;
    util_rng_seed(&g, w->seed);
    for (uint64_t i = 0; !atomic_load(&w->stop); i++) {
        one_write(w->e, &g, i, 500);
        w->n = i + 1;
        if (w->pause_us) usleep(w->pause_us);
    }
    return NULL;
}

static void writer_start(writer *w, arm_engine *e, uint64_t seed, uint32_t pause_us) {
    memset(w, 0, sizeof *w);
    w->e = e;
    w->seed = seed;
    w->pause_us = pause_us;
    ARM_CHECK(pthread_create(&w->th, NULL, writer_main, w) == 0);
}

static void writer_stop(writer *w) {
    atomic_store(&w->stop, 1);
    pthread_join(w->th, NULL);
}

/* -------------------------------------------------------- the exactness */
static void model_apply(util_model *m, const arm_log_txn *t) {
    for (size_t i = 0; i < t->nops; i++) {
        const arm_log_op *op = &t->ops[i];
        if (op->del)
            util_model_del(m, op->key.ptr, op->key.len);
        else
            util_model_put(m, op->key.ptr, op->key.len, op->value.ptr, op->value.len);
    }
}

/* The leader's id and shard count (read before writers start: the stats
 * call is not safe against a rotating writer, see the report). */
typedef struct leader_id {
    uint8_t id[16];
    uint32_t shards;
} leader_id;

static leader_id id_of(arm_engine *l) {
    arm_engine_stats st;
    arm_engine_stats_get(l, &st);
    leader_id r;
    memcpy(r.id, st.db_id, 16);
    r.shards = st.shards;
    ARM_CHECK(r.shards <= 16);
    return r;
}

/* A failed exactness check: the stored positions, then a few keys on which
 * want (the leader's log up to stored) and got (the follower) differ, each
 * with the leader transactions that wrote it, so a failure says which writes
 * the follower has or lacks. */
static void report_diff(arm_engine *l, const util_model *want, const util_model *got,
                        const arm_repl_pos *stored, uint32_t shards, const char *when) {
    for (uint32_t s = 0; s < shards; s++)
        fprintf(stderr, "%s: %s: stored position of shard %u: seq %llu, file %u, offset %llu\n",
                harness_case, when, s, (unsigned long long)stored[s].seq, stored[s].fid,
                (unsigned long long)stored[s].off);
    const util_kv *bad[6];
    int nbad = 0;
    for (int side = 0; side < 2 && nbad < 6; side++) {
        const util_model *x = side ? got : want, *y = side ? want : got;
        for (size_t i = 0; i < x->n && nbad < 6; i++) {
            const util_kv *a = &x->items[i], *b = util_model_get(y, a->key, a->klen);
            if (b && b->vlen == a->vlen && memcmp(b->val, a->val, a->vlen) == 0) continue;
            if (side && b) continue; /* a different value: named from want's side already */
            fprintf(stderr, "%s: %s: key '%.*s' is %s on the follower\n", harness_case, when,
                    (int)a->klen, (const char *)a->key,
                    side ? "extra" : b ? "another value" : "missing");
            bad[nbad++] = a;
        }
    }
    arm_log_reader *r = NULL;
    if (arm_log_reader_open(l, NULL, &r) != ARM_OK) return;
    arm_log_txn t;
    while (arm_log_reader_next(r, &t) == ARM_OK) {
        for (size_t i = 0; i < t.nops; i++)
            for (int k = 0; k < nbad; k++) {
                const arm_log_op *op = &t.ops[i];
                if (op->key.len != bad[k]->klen || memcmp(op->key.ptr, bad[k]->key, op->key.len))
                    continue;
                arm_repl_pos at = repl_pos_from_log(t.pos);
                int in = stored[t.shard].fid != 0 && arm_repl_pos_cmp(&at, &stored[t.shard]) <= 0;
                fprintf(stderr,
                        "    '%.*s': %s by seq %llu (shard %u, file %u, offset %llu, %zu ops)%s\n",
                        (int)op->key.len, (const char *)op->key.ptr, op->del ? "deleted" : "put",
                        (unsigned long long)t.seq, t.shard, t.pos.fid,
                        (unsigned long long)t.pos.off, t.nops, in ? "" : " [after stored]");
            }
    }
    arm_log_reader_close(r);
}

/* The follower's content must be exactly the leader's log up to the
 * positions the follower stored: every transaction at or before its
 * shard's position applied, in order, and none after.
 *
 * Only for a follower that is not applying: reopened after its process was
 * killed, stopped (arm_repl_follower_stop), or with no leader to apply
 * from. arm_engine_apply installs a batch's keys, releases the index locks
 * and only then notes the batch's positions in memory (on disk both are one
 * batch), so a checker that waited for those locks (rt_wait_equal reading
 * the follower) can run in between and read the new keys with the old
 * positions: a correct, caught-up follower failed this check that way "at
 * the end", before the follower was stopped first. */
static void expect_exact(arm_engine *l, const leader_id *ls, arm_engine *f, const char *when) {
    arm_repl_pos stored[16];
    for (uint32_t s = 0; s < ls->shards; s++) {
        uint8_t lid[16];
        arm_log_pos p;
        uint32_t flags = 0;
        int rc = arm_engine_repl_pos(f, s, lid, &p, &flags);
        memset(&stored[s], 0, sizeof stored[s]);
        if (rc == ARM_NOTFOUND) continue;
        UTIL_CHECK_RC(f, rc, ARM_OK);
        if (memcmp(lid, ls->id, 16) != 0 || flags != 0) {
            fprintf(stderr,
                    "%s: %s: shard %u: position of another leader or RESYNC (flags %u): "
                    "a snapshot was taken (seed %llu)\n",
                    harness_case, when, s, flags, (unsigned long long)harness_seed);
            exit(1);
        }
        stored[s] = repl_pos_from_log(p);
    }
    util_model want, got;
    util_model_init(&want);
    util_model_init(&got);
    arm_log_reader *r = NULL;
    UTIL_CHECK_RC(l, arm_log_reader_open(l, NULL, &r), ARM_OK);
    arm_log_txn t;
    int rc;
    uint64_t applied = 0;
    while ((rc = arm_log_reader_next(r, &t)) == ARM_OK) {
        arm_repl_pos at = repl_pos_from_log(t.pos);
        if (stored[t.shard].fid == 0 || arm_repl_pos_cmp(&at, &stored[t.shard]) > 0) continue;
        model_apply(&want, &t);
        applied++;
    }
    UTIL_CHECK_RC(l, rc, ARM_NOTFOUND);
    arm_log_reader_close(r);
    util_engine_model(f, &got);
    int same = want.n == got.n;
    for (size_t i = 0; same && i < want.n; i++) {
        const util_kv *a = &want.items[i], *b = util_model_get(&got, a->key, a->klen);
        same = b && b->vlen == a->vlen && memcmp(b->val, a->val, a->vlen) == 0;
    }
    if (!same) {
        report_diff(l, &want, &got, stored, ls->shards, when);
        fprintf(stderr,
                "%s: %s: the follower (%zu keys) is not the leader's log up to its "
                "positions (%zu keys, %llu transactions) (seed %llu)\n",
                harness_case, when, got.n, want.n, (unsigned long long)applied,
                (unsigned long long)harness_seed);
        exit(1);
    }
    util_model_free(&want);
    util_model_free(&got);
}

static void follower_opts(arm_engine_options *o) {
    rt_engine_opts(o, 4);
    o->sync_mode = ARM_SYNC_NORMAL; /* a SIGKILL loses nothing the kernel has */
}

/* ---------------------------------------------------------- children */
static const char *g_self = "/proc/self/exe";

/* --follower DIR ADDR: follow until killed. */
static int follower_child(const char *dir, const char *addr) {
    arm_engine_options fo;
    follower_opts(&fo);
    arm_engine *f = NULL;
    if (arm_engine_open(dir, &fo, &f) != ARM_OK) return 2;
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_follower *fw = NULL;
    if (arm_repl_follow(f, addr, &o, &fw, NULL) != ARM_OK) return 3;
    for (;;)
        pause();
}

/* Run this program again with args (a NULL-terminated list after argv[0]). */
static pid_t spawn(char *const args[]) {
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        execv(g_self, args);
        _exit(127);
    }
    return pid;
}

static void reap_killed(pid_t pid) {
    kill(pid, SIGKILL);
    int st;
    ARM_CHECK(waitpid(pid, &st, 0) == pid);
    if (!WIFSIGNALED(st)) {
        fprintf(stderr, "%s: a child exited by itself with %d (seed %llu)\n", harness_case,
                WIFEXITED(st) ? WEXITSTATUS(st) : -1, (unsigned long long)harness_seed);
        exit(1);
    }
}

/* ------------------------------------------------ a follower SIGKILLed */
static void test_follower_killed(void) {
    char ldir[600], fdir[600];
    path_of(ldir, sizeof ldir, "fk_leader");
    path_of(fdir, sizeof fdir, "fk_follower");
    arm_engine_options lo, fo;
    rt_engine_opts(&lo, 4);
    lo.max_file_size = 1 << 20; /* rotations too */
    follower_opts(&fo);
    arm_engine *l = util_open_ok(ldir, &lo);
    leader_id lid = id_of(l);
    arm_repl_options o;
    rt_repl_opts(&o);
    arm_repl_leader *ld = rt_serve(l, &o);
    char addr[REPL_ADDR_TEXT_MAX];
    snprintf(addr, sizeof addr, "%s", arm_repl_leader_addr(ld));
    writer w;
    writer_start(&w, l, harness_seed, 50);
    util_rng g;
    util_rng_seed(&g, harness_seed ^ 0xf011);
    int rounds = 6 * util_scale();
    for (int round = 0; round < rounds; round++) {
        char *args[] = {(char *)"test_repl_kill", (char *)"--follower", fdir, addr, NULL};
        pid_t pid = spawn(args);
        usleep((useconds_t)(60000 + util_rng_below(&g, 150000)));
        reap_killed(pid);
        arm_engine *f = util_open_ok(fdir, &fo);
        char when[64];
        snprintf(when, sizeof when, "after kill %d", round + 1);
        expect_exact(l, &lid, f, when);
        util_close_ok(f);
    }
    /* in-process now, to the end: caught up, exactly, without a snapshot */
    writer_stop(&w);
    arm_engine *f = util_open_ok(fdir, &fo);
    ARM_CHECK(arm_engine_count(f) > 0); /* the children got somewhere */
    arm_repl_follower *fw = rt_follow(f, addr, &o);
    rt_wait_equal(l, f, ld, fw, 20000);
    ARM_CHECK(rt_fstats(fw).snapshots == 0);
    arm_repl_follower_stop(fw); /* quiescent before the exactness check (expect_exact) */
    expect_exact(l, &lid, f, "at the end");
    arm_repl_leader_stop(ld);
    util_close_ok(f);
    util_close_ok(l);
}

/* --------------------------------------------------- a leader SIGKILLed */
static void leader_opts(arm_engine_options *lo) {
    rt_engine_opts(lo, 4);
    lo->sync_mode = ARM_SYNC_NORMAL; /* what a follower saw is in the kernel when it dies */
    lo->max_file_size = 1 << 20;
}

/* --leader DIR PORT FD SEED: open the leader, serve on PORT (0: any; the
 * port bound goes to pipe FD), write forever. */
static int leader_child(const char *dir, uint16_t port, int pipe_w, uint64_t seed) {
    arm_engine_options lo;
    leader_opts(&lo);
    arm_engine *l = NULL;
    if (arm_engine_open(dir, &lo, &l) != ARM_OK) return 2;
    arm_repl_options o;
    rt_repl_opts(&o);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    arm_repl_leader *ld = NULL;
    for (int i = 0; arm_repl_serve(l, addr, &o, &ld, NULL) != ARM_OK; i++) {
        if (i == 100) return 3; /* the port stays taken */
        usleep(20000);
    }
    const char *bound = arm_repl_leader_addr(ld);
    unsigned p = (unsigned)atoi(strrchr(bound, ':') + 1);
    if (write(pipe_w, &p, sizeof p) != (ssize_t)sizeof p) return 4;
    util_rng g;
    util_rng_seed(&g, seed);
    for (uint64_t i = 0;; i++) {
        one_write(l, &g, i, 500);
        usleep(100);
    }
}

static void test_leader_killed(void) {
    char ldir[600], fdir[600];
    path_of(ldir, sizeof ldir, "lk_leader");
    path_of(fdir, sizeof fdir, "lk_follower");
    arm_engine_options lo, fo;
    leader_opts(&lo);
    follower_opts(&fo);
    /* create it here, so the children only reopen */
    arm_engine *l0 = util_open_ok(ldir, &lo);
    leader_id lid = id_of(l0);
    util_close_ok(l0);
    arm_engine *f = util_open_ok(fdir, &fo);
    arm_repl_options o;
    rt_repl_opts(&o);
    util_rng g;
    util_rng_seed(&g, harness_seed ^ 0x1ead);
    uint16_t port = 0;
    arm_repl_follower *fw = NULL;
    int rounds = 4 * util_scale();
    for (int round = 0; round < rounds; round++) {
        int fds[2];
        ARM_CHECK(pipe(fds) == 0); /* not close-on-exec: the child writes fds[1] */
        char sport[16], sfd[16], sseed[32];
        snprintf(sport, sizeof sport, "%u", port);
        snprintf(sfd, sizeof sfd, "%d", fds[1]);
        snprintf(sseed, sizeof sseed, "%llu",
                 (unsigned long long)(harness_seed + (uint64_t)round * 1000));
        char *args[] = {
            (char *)"test_repl_kill", (char *)"--leader", ldir, sport, sfd, sseed, NULL};
        pid_t pid = spawn(args);
        close(fds[1]);
        unsigned p = 0;
        if (read(fds[0], &p, sizeof p) != (ssize_t)sizeof p) {
            fprintf(stderr, "%s: the leader child did not start (seed %llu)\n", harness_case,
                    (unsigned long long)harness_seed);
            exit(1);
        }
        close(fds[0]);
        ARM_CHECK(port == 0 || p == port);
        port = (uint16_t)p;
        if (fw == NULL) {
            char addr[64];
            snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
            fw = rt_follow(f, addr, &o);
        }
        uint64_t sessions = rt_fstats(fw).sessions;
        if (!RT_WAIT(5000, rt_fstats(fw).sessions > sessions)) rt_dump(NULL, fw);
        usleep((useconds_t)(50000 + util_rng_below(&g, 150000)));
        reap_killed(pid);
        /* the follower notices and stops applying; then check it against the
         * dead leader's log */
        ARM_CHECK(RT_WAIT(5000, rt_fstats(fw).state != ARM_REPL_STREAMING));
        arm_engine *l = util_open_ok(ldir, &lo);
        char when[64];
        snprintf(when, sizeof when, "after leader kill %d", round + 1);
        expect_exact(l, &lid, f, when);
        util_close_ok(l);
    }
    /* the leader back in-process on the same port: caught up exactly */
    arm_engine *l = util_open_ok(ldir, &lo);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", port);
    arm_repl_leader *ld = NULL;
    arm_repl_err e = {0, ""};
    RT_CHECK_RC(arm_repl_serve(l, addr, &o, &ld, &e), &e, ARM_OK);
    ARM_CHECK(RT_WAIT(5000, rt_fstats(fw).sessions >= (uint64_t)rounds + 1));
    util_rng g2;
    util_rng_seed(&g2, harness_seed ^ 0xe2d);
    for (uint64_t i = 0; i < 200; i++)
        one_write(l, &g2, i, 500);
    rt_wait_equal(l, f, ld, fw, 20000);
    ARM_CHECK(rt_fstats(fw).snapshots == 0); /* every restart resumed from positions */
    arm_repl_follower_stop(fw); /* quiescent before the exactness check (expect_exact) */
    expect_exact(l, &lid, f, "at the end");
    arm_repl_leader_stop(ld);
    util_close_ok(l);
    util_close_ok(f);
}

/* ------------------------------------------------- sockets cut at random */
static void test_random_faults(void) {
    char ldir[600], fdir[600];
    path_of(ldir, sizeof ldir, "rf_leader");
    path_of(fdir, sizeof fdir, "rf_follower");
    arm_engine_options eo;
    rt_engine_opts(&eo, 4);
    arm_engine *l = util_open_ok(ldir, &eo), *f = util_open_ok(fdir, &eo);
    leader_id lid = id_of(l);
    repl_fault_plan plan;
    repl_fault_plan_init(&plan, harness_seed | 1);
    plan.trunc_pm = 4;  /* a cut socket, mid-frame, every ~250 frames */
    plan.dup_pm = 3;    /* a frame twice: the receiver must refuse it */
    plan.delay_pm = 20; /* a stall of 3 ms */
    plan.delay_ms = 3;
    repl_fault_set_default(repl_fault_hook, &plan);
    arm_repl_options o;
    rt_repl_opts(&o);
    o.backoff_max_ms = 20;
    arm_repl_leader *ld = rt_serve(l, &o);
    arm_repl_follower *fw = rt_follow(f, arm_repl_leader_addr(ld), &o);
    writer w;
    writer_start(&w, l, harness_seed + 5, 100);
    usleep(1500 * 1000);
    writer_stop(&w);
    /* quiet again: it converges */
    pthread_mutex_lock(&plan.lock);
    plan.trunc_pm = plan.dup_pm = plan.delay_pm = 0;
    pthread_mutex_unlock(&plan.lock);
    uint64_t cuts = repl_fault_plan_count(&plan, REPL_FAULT_TRUNC);
    uint64_t dups = repl_fault_plan_count(&plan, REPL_FAULT_DUP);
    rt_wait_equal(l, f, ld, fw, 20000);
    arm_repl_follower_stats st = rt_fstats(fw);
    if (getenv("ARM_TEST_VERBOSE"))
        fprintf(stderr,
                "    %llu writes, %llu cuts, %llu duplicates, %llu sessions, %llu "
                "snapshots\n",
                (unsigned long long)w.n, (unsigned long long)cuts, (unsigned long long)dups,
                (unsigned long long)st.sessions, (unsigned long long)st.snapshots);
    ARM_CHECK(cuts + dups >= 3);
    ARM_CHECK(st.errors >= 3 && st.sessions >= 2);
    arm_repl_follower_stop(fw); /* quiescent before the exactness check (expect_exact) */
    expect_exact(l, &lid, f, "after the faults");
    arm_repl_leader_stop(ld);
    repl_fault_set_default(NULL, NULL);
    repl_fault_plan_destroy(&plan);
    util_close_ok(f);
    util_close_ok(l);
}

/* ---------------------------------------- three followers, one stalled */
static void test_stalled_follower(void) {
    char ldir[600], adir[600], bdir[600];
    path_of(ldir, sizeof ldir, "sf_leader");
    path_of(adir, sizeof adir, "sf_a");
    path_of(bdir, sizeof bdir, "sf_b");
    arm_engine_options eo;
    rt_engine_opts(&eo, 4);
    eo.max_file_size = 16 << 20;
    arm_engine *l = util_open_ok(ldir, &eo);
    arm_engine *a = util_open_ok(adir, &eo), *b = util_open_ok(bdir, &eo);
    arm_repl_options o;
    rt_repl_opts(&o);
    o.peer_timeout_ms = 3000 * RT_TIME_FACTOR;
    arm_repl_leader *ld = rt_serve(l, &o);
    /* the stalled one: handshake, subscribe, then it never reads again */
    int fd;
    arm_repl_err e = {0, ""};
    repl_addr ad = rt_addr(arm_repl_leader_addr(ld));
    RT_CHECK_RC(repl_connect(&ad, -1, 2000, &fd, &e), &e, ARM_OK);
    int small = 4096; /* a small receive buffer: it fills at once */
    ARM_CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    repl_conn c;
    RT_CHECK_RC(repl_conn_open(&c, fd, -1, ARM_REPL_PAYLOAD_MAX, &e), &e, ARM_OK);
    repl_hs hs;
    repl_hs_cfg cfg = rt_cfg(REPL_ROLE_FOLLOWER, harness_seed + 9, 4, NULL);
    cfg.empty = 1;
    RT_CHECK_RC(repl_conn_handshake(&c, &hs, &cfg, 2000, &e), &e, ARM_OK);
    for (uint16_t s = 0; s < 4; s++) {
        repl_subscribe sub = {0, {0, 0, 0, 0}};
        ARM_CHECK(repl_msg_subscribe_encode(&c.out, s, &sub) == ARM_OK);
    }
    RT_CHECK_RC(repl_conn_flush(&c, 2000, &e), &e, ARM_OK);
    arm_repl_follower *fa = rt_follow(a, arm_repl_leader_addr(ld), &o);
    arm_repl_follower *fb = rt_follow(b, arm_repl_leader_addr(ld), &o);
    ARM_CHECK(RT_WAIT(3000, rt_lstats(ld).followers == 3));
    uint64_t t0 = util_now_ms();
    for (uint64_t i = 0; i < 8000; i++)
        rt_put_i(l, i, "a-kilobyte-each", 1000);
    /* the two keep up while the third is stuck with its socket full */
    rt_wait_equal(l, a, ld, fa, 2500 * RT_TIME_FACTOR);
    rt_wait_equal(l, b, ld, fb, 2500 * RT_TIME_FACTOR);
    uint64_t took = util_now_ms() - t0;
    ARM_CHECK(took < 2500 * RT_TIME_FACTOR);
    ARM_CHECK(rt_lstats(ld).followers == 3); /* the stalled one is still admitted */
    /* ... until the leader drops it (silent, and not reading) */
    if (!RT_WAIT(8000 * RT_TIME_FACTOR, rt_lstats(ld).followers == 2)) rt_dump(ld, NULL);
    arm_repl_leader_stats ls = rt_lstats(ld);
    ARM_CHECK(ls.dropped >= 1);
    ARM_CHECK(strstr(ls.last_error.msg, "stopped reading") != NULL ||
              strstr(ls.last_error.msg, "sent nothing") != NULL);
    /* the two go on streaming */
    for (uint64_t i = 0; i < 100; i++)
        rt_put_i(l, i, "after", 32);
    rt_wait_equal(l, a, ld, fa, 5000);
    rt_wait_equal(l, b, ld, fb, 5000);
    arm_repl_follower_stop(fa);
    arm_repl_follower_stop(fb);
    arm_repl_leader_stop(ld);
    repl_conn_close(&c);
    util_close_ok(a);
    util_close_ok(b);
    util_close_ok(l);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc == 4 && strcmp(argv[1], "--follower") == 0) return follower_child(argv[2], argv[3]);
    if (argc == 6 && strcmp(argv[1], "--leader") == 0)
        return leader_child(argv[2], (uint16_t)atoi(argv[3]), atoi(argv[4]),
                            strtoull(argv[5], NULL, 10));
    harness_init();
    util_tmpdir_ok(g_tmp, sizeof g_tmp, "repl_kill");
    util_rmrf_at_exit(g_tmp);
    UTIL_CASE("a follower SIGKILLed and restarted mid-stream", test_follower_killed());
    UTIL_CASE("a leader SIGKILLed and restarted on its port", test_leader_killed());
    UTIL_CASE("sockets cut, frames duplicated and delayed at random", test_random_faults());
    UTIL_CASE("three followers, one stalled: the others keep up", test_stalled_follower());
    return harness_done();
}
