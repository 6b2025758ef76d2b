/* SPDX-License-Identifier: MIT */
/*
 * test_repl_net.c: the network and stream layers (repl_net.c,
 * repl_stream.c) over loopback: address parsing, bind to port 0 and the
 * bound address, refused connects, exponential backoff (the delays and the
 * real time a retry loop takes, and a retry that succeeds once the leader
 * appears), heartbeat timing (pure, then a silent peer detected as dead and a
 * talking one kept alive), a stop that wakes threads blocked in accept,
 * receive, send and backoff, framed I/O (many frames, frames dribbled a byte
 * at a time, timeouts that lose nothing, garbage, truncation, oversized
 * headers refused before their payload), a forked child holding none of
 * the descriptors, and the fault shim (drop,
 * duplicate, delay, truncate; rules and seeded rates). Timing bounds are
 * loose: the machine is shared.
 */
#include "../harness.h"
#include "../../repl/repl_fault.h"
#include "../../common/arm_hash.h"
#include "repl_test.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* ------------------------------------------------------------ addresses */
static void addr_bad(const char *text, const char *needle) {
    repl_addr a;
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(repl_addr_parse(text, &a, &e), ARM_RANGE);
    RT_CHECK_MSG(&e, needle);
}

static void test_addr(void) {
    char buf[REPL_ADDR_TEXT_MAX];
    repl_addr a = rt_addr("127.0.0.1:7001");
    repl_addr_format(&a, buf, sizeof(buf));
    ARM_CHECK(strcmp(buf, "127.0.0.1:7001") == 0 && repl_addr_port(&a) == 7001);
    a = rt_addr("localhost:0");
    ARM_CHECK(repl_addr_port(&a) == 0);
    a = rt_addr("[::1]:65535");
    repl_addr_format(&a, buf, sizeof(buf));
    ARM_CHECK(strcmp(buf, "[::1]:65535") == 0);
    a = rt_addr("0.0.0.0:1");
    addr_bad("", "empty address");
    addr_bad("127.0.0.1", "expected host:port");
    addr_bad("127.0.0.1:", "port must be a number");
    addr_bad(":7001", "missing host");
    addr_bad("127.0.0.1:65536", "port must be a number 0..65535");
    addr_bad("127.0.0.1:-1", "port must be a number");
    addr_bad("127.0.0.1:80x", "port must be a number");
    addr_bad("127.0.0.1:000080", "port must be a number");
    addr_bad("::1:80", "write IPv6 addresses as [addr]:port");
    addr_bad("[::1]80", "expected [ipv6]:port");
    addr_bad("[nothex]:80", "cannot resolve");
    addr_bad("no-such-host.invalid:80", "cannot resolve 'no-such-host.invalid'");
}

static void test_listen_port0(void) {
    repl_listener l, l2;
    arm_repl_err e = {0, ""};
    rt_listen(&l);
    char buf[REPL_ADDR_TEXT_MAX];
    repl_addr_format(&l.bound, buf, sizeof(buf));
    ARM_CHECK(strncmp(buf, "127.0.0.1:", 10) == 0 && repl_addr_port(&l.bound) > 0);
    /* the bound port is really ours: a second bind to it fails, naming it */
    ARM_CHECK_RC(repl_listen(&l.bound, &l2, &e), ARM_IOERR);
    RT_CHECK_MSG(&e, buf);
    RT_CHECK_MSG(&e, "in use");
    int fc, fa;
    repl_addr peer;
    RT_CHECK_RC(repl_connect(&l.bound, -1, 2000, &fc, &e), &e, ARM_OK);
    RT_CHECK_RC(repl_accept(&l, -1, 2000, &fa, &peer, &e), &e, ARM_OK);
    ARM_CHECK(peer.ss.ss_family == AF_INET);
    ARM_CHECK((fcntl(fa, F_GETFD) & FD_CLOEXEC) && (fcntl(fa, F_GETFL) & O_NONBLOCK));
    ARM_CHECK((fcntl(fc, F_GETFD) & FD_CLOEXEC) && (fcntl(fc, F_GETFL) & O_NONBLOCK));
    close(fc);
    close(fa);
    /* accept with nothing coming: a timeout, not an error */
    uint64_t t0 = util_now_ms();
    ARM_CHECK_RC(repl_accept(&l, -1, 50, &fa, NULL, &e), REPL_TIMEOUT);
    ARM_CHECK(util_now_ms() - t0 >= 45 && fa == -1);
    repl_listener_close(&l);
    repl_listener_close(&l); /* twice is fine */
}

/* After fork() the child holds none of replication's descriptors (repl_fd_*
 * and the atfork handler): a connection the parent closes ends for its peer
 * while the child lives, and the parent's own descriptors stay open. */
static int fd_closed(int fd) {
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static void test_fork_closes(void) {
    repl_listener l;
    repl_wake w;
    arm_repl_err e = {0, ""};
    rt_listen(&l);
    RT_CHECK_RC(repl_wake_open(&w, &e), &e, ARM_OK);
    int fc, fa, pfd[2];
    RT_CHECK_RC(repl_connect(&l.bound, -1, 2000, &fc, &e), &e, ARM_OK);
    RT_CHECK_RC(repl_accept(&l, -1, 2000, &fa, NULL, &e), &e, ARM_OK);
    ARM_CHECK(pipe(pfd) == 0);
    pid_t pid = fork();
    ARM_CHECK(pid >= 0);
    if (pid == 0) {
        char ok = fd_closed(l.fd) && fd_closed(w.fd) && fd_closed(fc) && fd_closed(fa) ? 'y' : 'n';
        if (write(pfd[1], &ok, 1) != 1) _exit(2);
        sleep(60); /* alive while the parent checks */
        _exit(0);
    }
    char got = 0;
    ARM_CHECK(read(pfd[0], &got, 1) == 1);
    ARM_CHECK(got == 'y');
    ARM_CHECK(!fd_closed(l.fd) && !fd_closed(w.fd) && !fd_closed(fc) && !fd_closed(fa));
    repl_fd_close(fa);
    struct pollfd p = {.fd = fc, .events = POLLIN, .revents = 0};
    ARM_CHECK(poll(&p, 1, 10000) == 1);
    char c;
    ARM_CHECK(read(fc, &c, 1) == 0); /* EOF: the child had no copy keeping it open */
    kill(pid, SIGKILL);
    ARM_CHECK(waitpid(pid, NULL, 0) == pid);
    close(pfd[0]);
    close(pfd[1]);
    repl_fd_close(fc);
    repl_wake_close(&w);
    repl_listener_close(&l);
}

/* A port that refuses connections: bound, never listening (held, so no race). */
static int refusing_port(repl_addr *a) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ARM_CHECK(fd >= 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ARM_CHECK(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    memset(a, 0, sizeof(*a));
    a->len = sizeof(a->ss);
    ARM_CHECK(getsockname(fd, (struct sockaddr *)&a->ss, &a->len) == 0);
    return fd;
}

static void test_connect_refused(void) {
    repl_addr a;
    int hold = refusing_port(&a), fd = 7;
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(repl_connect(&a, -1, 2000, &fd, &e), ARM_IOERR);
    RT_CHECK_MSG(&e, "refused");
    ARM_CHECK(fd == -1);
    close(hold);
}

/* -------------------------------------------------------------- backoff */
static void test_backoff_delays(void) {
    repl_backoff b, c;
    repl_backoff_init(&b, 10, 80, harness_seed);
    repl_backoff_init(&c, 10, 80, harness_seed);
    const uint32_t d[8] = {10, 20, 40, 80, 80, 80, 80, 80};
    for (int i = 0; i < 8; i++) {
        uint32_t x = repl_backoff_next(&b);
        ARM_CHECK(x >= d[i] / 2 && x <= d[i]);
        ARM_CHECK(repl_backoff_next(&c) == x); /* the seed decides the jitter */
    }
    repl_backoff_reset(&b);
    uint32_t x = repl_backoff_next(&b);
    ARM_CHECK(x >= 5 && x <= 10);
    /* jitter really spreads: 200 first delays of base 1000 are not all equal */
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 200; i++) {
        repl_backoff_init(&b, 1000, 1000, harness_seed + (uint64_t)i);
        x = repl_backoff_next(&b);
        lo = ARM_MIN(lo, x), hi = ARM_MAX(hi, x);
    }
    ARM_CHECK(lo >= 500 && hi <= 1000 && hi - lo > 100);
    /* no overflow after many attempts */
    repl_backoff_init(&b, 1000, ARM_REPL_TIMEOUT_MAX_MS, 1);
    for (int i = 0; i < 100; i++)
        x = repl_backoff_next(&b);
    ARM_CHECK(x >= ARM_REPL_TIMEOUT_MAX_MS / 2 && x <= ARM_REPL_TIMEOUT_MAX_MS);
}

static void test_backoff_timing(void) {
    repl_addr a;
    int hold = refusing_port(&a), fd = -1;
    repl_backoff b;
    repl_backoff_init(&b, 40, 80, harness_seed);
    arm_repl_err e = {0, ""};
    uint32_t attempts = 0;
    uint64_t t0 = util_now_ms();
    ARM_CHECK_RC(repl_connect_retry(&a, &b, -1, 1000, 4, &fd, &attempts, &e), ARM_IOERR);
    uint64_t dt = util_now_ms() - t0;
    /* 4 attempts, 3 waits of at least 20, 40, 40 ms (at most 40, 80, 80) */
    ARM_CHECK(attempts == 4);
    if (dt < 100 || dt > 3000) fprintf(stderr, "retry loop took %llu ms\n", (unsigned long long)dt);
    ARM_CHECK(dt >= 100 && dt < 3000);
    ARM_CHECK(b.attempt == 3); /* not reset by the loop */
    close(hold);
}

typedef struct late_listen {
    int fd;
    uint32_t after_ms;
} late_listen;

static void *late_listen_thread(void *arg) {
    late_listen *ll = arg;
    struct timespec ts = {0, (long)ll->after_ms * 1000000L};
    nanosleep(&ts, NULL);
    ARM_CHECK(listen(ll->fd, 8) == 0);
    return NULL;
}

static void test_backoff_until_leader_appears(void) {
    repl_addr a;
    late_listen ll = {refusing_port(&a), 150};
    pthread_t t;
    ARM_CHECK(pthread_create(&t, NULL, late_listen_thread, &ll) == 0);
    repl_backoff b;
    repl_backoff_init(&b, 20, 40, harness_seed);
    int fd = -1;
    uint32_t attempts = 0;
    arm_repl_err e = {0, ""};
    uint64_t t0 = util_now_ms();
    RT_CHECK_RC(repl_connect_retry(&a, &b, -1, 1000, 0, &fd, &attempts, &e), &e, ARM_OK);
    uint64_t dt = util_now_ms() - t0;
    ARM_CHECK(pthread_join(t, NULL) == 0);
    ARM_CHECK(fd >= 0 && attempts >= 2 && dt >= 140 && dt < 5000);
    close(fd);
    close(ll.fd);
}

/* ------------------------------------------------------------ heartbeats */
static void test_hb_pure(void) {
    repl_hb hb;
    repl_hb_init(&hb, 100, 350, 1000);
    ARM_CHECK(!repl_hb_send_due(&hb, 1099) && repl_hb_send_due(&hb, 1100));
    ARM_CHECK(repl_hb_wait_ms(&hb, 1000) == 100 && repl_hb_wait_ms(&hb, 1100) == 0);
    repl_hb_sent(&hb, 1100);
    ARM_CHECK(repl_hb_wait_ms(&hb, 1100) == 100);
    ARM_CHECK(!repl_hb_peer_dead(&hb, 1349) && repl_hb_peer_dead(&hb, 1350));
    repl_hb_sent(&hb, 1300);
    ARM_CHECK(repl_hb_wait_ms(&hb, 1300) == 50); /* death comes before the next send */
    repl_hb_received(&hb, 1340);
    ARM_CHECK(!repl_hb_peer_dead(&hb, 1689) && repl_hb_peer_dead(&hb, 1690));
}

/* The loop a session runs: wait for a frame or the next heartbeat event,
 * send heartbeats when due, give up when the peer is silent too long.
 * Returns ms from start to detecting death, or -1 if alive at max_ms. */
static long hb_watch(repl_conn *c, uint32_t interval, uint32_t timeout, uint32_t max_ms,
                     uint64_t *frames) {
    repl_hb hb;
    uint64_t t0 = repl_now_ms();
    repl_hb_init(&hb, interval, timeout, t0);
    for (;;) {
        uint64_t now = repl_now_ms();
        if (repl_hb_peer_dead(&hb, now)) return (long)(now - t0);
        if (now - t0 >= max_ms) return -1;
        if (repl_hb_send_due(&hb, now)) {
            repl_heartbeat h = {now, 0, 0};
            ARM_CHECK(repl_msg_heartbeat_encode(&c->out, &h) == ARM_OK);
            ARM_CHECK(repl_conn_flush(c, 1000, NULL) == ARM_OK);
            repl_hb_sent(&hb, now);
        }
        repl_frame f;
        arm_repl_err e = {0, ""};
        int rc = repl_conn_recv(c, repl_hb_wait_ms(&hb, repl_now_ms()), &f, &e);
        if (rc == ARM_OK) {
            repl_hb_received(&hb, repl_now_ms());
            (*frames)++;
        } else {
            ARM_CHECK(rc == REPL_TIMEOUT);
        }
    }
}

typedef struct talker {
    repl_conn *c;
    uint32_t every_ms, for_ms;
} talker;

static void *talker_thread(void *arg) {
    talker *t = arg;
    uint64_t t0 = repl_now_ms();
    while (repl_now_ms() - t0 < t->for_ms) {
        repl_heartbeat h = {repl_now_ms(), 0, 0};
        ARM_CHECK(repl_msg_heartbeat_encode(&t->c->out, &h) == ARM_OK);
        ARM_CHECK(repl_conn_flush(t->c, 1000, NULL) == ARM_OK);
        ARM_CHECK(repl_sleep_ms(-1, t->every_ms) == ARM_OK);
    }
    return NULL;
}

static void test_hb_dead_peer(void) {
    repl_conn a, b;
    uint64_t frames = 0;
    /* a silent peer is dead after the timeout, not before */
    rt_conn_pair(&a, &b, -1, ARM_REPL_PAYLOAD_MIN);
    long dead = hb_watch(&a, 20, 120, 5000, &frames);
    ARM_CHECK(dead >= 120 && dead < 2000);
    ARM_CHECK(frames == 0);
    /* while b talks every 20 ms (for 400 ms) a stays convinced; then it notices */
    talker t = {&b, 20, 400};
    pthread_t th;
    ARM_CHECK(pthread_create(&th, NULL, talker_thread, &t) == 0);
    frames = 0;
    dead = hb_watch(&a, 20, 120, 5000, &frames);
    ARM_CHECK(pthread_join(th, NULL) == 0);
    if (dead < 400) fprintf(stderr, "declared dead after %ld ms\n", dead);
    ARM_CHECK(dead >= 400 + 60 && dead < 5000);
    ARM_CHECK(frames >= 5);
    /* and a's own heartbeats reached b */
    repl_frame f;
    arm_repl_err e = {0, ""};
    RT_CHECK_RC(repl_conn_recv(&b, 1000, &f, &e), &e, ARM_OK);
    ARM_CHECK(f.hdr.type == REPL_MSG_HEARTBEAT);
    repl_conn_close(&a);
    repl_conn_close(&b);
}

/* ---------------------------------------------------------------- stop */
typedef struct blocked {
    int what; /* 0 accept, 1 recv, 2 send, 3 connect with backoff, 4 sleep */
    repl_wake *wake;
    repl_listener *l;
    repl_conn *c;
    repl_addr addr;
    int rc;
    uint64_t woke_ms;
} blocked;

static void *blocked_thread(void *arg) {
    blocked *b = arg;
    int fd = -1;
    repl_frame f;
    arm_repl_err e = {0, ""};
    switch (b->what) {
    case 0: b->rc = repl_accept(b->l, b->wake->fd, -1, &fd, NULL, &e); break;
    case 1: b->rc = repl_conn_recv(b->c, -1, &f, &e); break;
    case 2: {
        /* fill the socket until it blocks: the peer never reads */
        static uint8_t chunk[ARM_REPL_PAYLOAD_MIN];
        b->rc = ARM_OK;
        while (b->rc == ARM_OK) {
            ARM_CHECK(repl_wire_frame_append(&b->c->out, REPL_MSG_TXN, 0, chunk, 1000) == ARM_OK);
            b->rc = repl_conn_flush(b->c, -1, &e);
        }
        break;
    }
    case 3: {
        repl_backoff bo;
        repl_backoff_init(&bo, 20000, 20000, 1); /* a long wait after the first failure */
        b->rc = repl_connect_retry(&b->addr, &bo, b->wake->fd, 1000, 0, &fd, NULL, &e);
        break;
    }
    default: b->rc = repl_sleep_ms(b->wake->fd, 60000); break;
    }
    b->woke_ms = repl_now_ms();
    if (fd >= 0) close(fd);
    return NULL;
}

static void test_stop_wakes(void) {
    for (int what = 0; what <= 4; what++) {
        repl_wake w;
        arm_repl_err e = {0, ""};
        RT_CHECK_RC(repl_wake_open(&w, &e), &e, ARM_OK);
        ARM_CHECK(!repl_wake_is_set(&w));
        repl_listener l;
        repl_conn a, b;
        int hold = -1;
        rt_listen(&l);
        rt_conn_pair(&a, &b, w.fd, ARM_REPL_PAYLOAD_MIN);
        blocked bl;
        memset(&bl, 0, sizeof(bl));
        bl.what = what, bl.wake = &w, bl.l = &l, bl.c = &a;
        if (what == 3) hold = refusing_port(&bl.addr);
        pthread_t t;
        ARM_CHECK(pthread_create(&t, NULL, blocked_thread, &bl) == 0);
        ARM_CHECK(repl_sleep_ms(-1, 150) == ARM_OK); /* let it block */
        uint64_t t0 = repl_now_ms();
        repl_wake_signal(&w);
        repl_wake_signal(&w); /* idempotent */
        ARM_CHECK(pthread_join(t, NULL) == 0);
        ARM_CHECK_RC(bl.rc, ARM_CLOSED);
        ARM_CHECK(bl.woke_ms - t0 < 1000);
        ARM_CHECK(repl_wake_is_set(&w));
        /* a stopped wake stops every later wait at once, too */
        ARM_CHECK(repl_sleep_ms(w.fd, 10000) == ARM_CLOSED);
        repl_conn_close(&a);
        repl_conn_close(&b);
        repl_listener_close(&l);
        if (hold >= 0) close(hold);
        repl_wake_close(&w);
    }
}

/* ----------------------------------------------------------- framed I/O */
typedef struct sender {
    repl_conn *c;
    int n;
    uint64_t seed;
} sender;

/* Frame i: a TXN-typed frame (the stream layer does not care) of a size
 * derived from (seed, i), up to the whole payload bound. */
static uint32_t frame_len(uint64_t seed, int i, uint32_t max) {
    util_rng r;
    util_rng_seed(&r, seed + (uint64_t)i);
    uint64_t k = util_rng_below(&r, 10);
    return k == 0  ? max
           : k < 4 ? 49 + (uint32_t)util_rng_below(&r, 100)
                   : 49 + (uint32_t)util_rng_below(&r, max - 48);
}

static void *sender_thread(void *arg) {
    sender *s = arg;
    static uint8_t buf[ARM_REPL_PAYLOAD_MAX];
    for (int i = 0; i < s->n; i++) {
        uint32_t len = frame_len(s->seed, i, s->c->send_max);
        util_fill(buf, len, s->seed, (uint64_t)i);
        ARM_CHECK(repl_wire_frame_append(&s->c->out, REPL_MSG_TXN, (uint16_t)(i % 1024), buf,
                                         len) == ARM_OK);
        if (s->c->out.len > 256 * 1024 || i + 1 == s->n)
            ARM_CHECK(repl_conn_flush(s->c, 5000, NULL) == ARM_OK);
    }
    return NULL;
}

static void test_many_frames(void) {
    repl_conn a, b;
    const uint32_t pm = 256 * 1024;
    rt_conn_pair(&a, &b, -1, pm);
    sender s = {&a, 300, harness_seed};
    pthread_t t;
    ARM_CHECK(pthread_create(&t, NULL, sender_thread, &s) == 0);
    static uint8_t want[256 * 1024];
    for (int i = 0; i < s.n; i++) {
        repl_frame f;
        arm_repl_err e = {0, ""};
        RT_CHECK_RC(repl_conn_recv(&b, 5000, &f, &e), &e, ARM_OK);
        uint32_t len = frame_len(s.seed, i, pm);
        ARM_CHECK(f.hdr.len == len && f.hdr.shard == i % 1024);
        util_fill(want, len, s.seed, (uint64_t)i);
        ARM_CHECK(memcmp(f.payload, want, len) == 0);
    }
    ARM_CHECK(pthread_join(t, NULL) == 0);
    /* the receive buffer grew to fit the largest frame, and no further */
    ARM_CHECK(b.in.cap >= REPL_FRAME_HDR + pm && b.in.cap <= 2 * (REPL_FRAME_HDR + pm));
    ARM_CHECK(b.frames_in == (uint64_t)s.n && b.bytes_in == a.bytes_out);
    /* the peer closes between frames: an I/O error, not a protocol one */
    repl_conn_close(&a);
    repl_frame f;
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(repl_conn_recv(&b, 2000, &f, &e), ARM_IOERR);
    RT_CHECK_MSG(&e, "closed the connection");
    ARM_CHECK_RC(repl_conn_recv(&b, 2000, &f, &e), ARM_IOERR); /* broken stays broken */
    repl_conn_close(&b);
}

/* Raw bytes written to the peer socket of a framed connection. */
static void raw_send(int fd, const void *p, size_t n) {
    ARM_CHECK(send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n);
}

static void test_dribble_and_timeouts(void) {
    int fa, fb;
    rt_tcp_pair(&fa, &fb);
    repl_conn b;
    arm_repl_err e = {0, ""};
    RT_CHECK_RC(repl_conn_open(&b, fb, -1, ARM_REPL_PAYLOAD_MIN, &e), &e, ARM_OK);
    arm_buf frame = {0};
    repl_heartbeat h = {5, 6, 7};
    ARM_CHECK(repl_msg_heartbeat_encode(&frame, &h) == ARM_OK);
    ARM_CHECK(repl_msg_heartbeat_encode(&frame, &h) == ARM_OK);
    size_t one = frame.len / 2;
    repl_frame f;
    /* byte by byte: each partial read times out (timeout 0) and loses nothing */
    for (size_t i = 0; i + 1 < one; i++) {
        raw_send(fa, frame.ptr + i, 1);
        ARM_CHECK(repl_sleep_ms(-1, 1) == ARM_OK);
        ARM_CHECK_RC(repl_conn_recv(&b, 0, &f, &e), REPL_TIMEOUT);
    }
    /* the last byte of the first frame and the whole second one at once */
    raw_send(fa, frame.ptr + one - 1, frame.len - one + 1);
    RT_CHECK_RC(repl_conn_recv(&b, 1000, &f, &e), &e, ARM_OK);
    repl_heartbeat got;
    RT_CHECK_RC(repl_msg_heartbeat_decode(&f, &got, &e), &e, ARM_OK);
    ARM_CHECK(got.now_ms == 5 && got.echo_ms == 6 && got.last_seq == 7);
    RT_CHECK_RC(repl_conn_recv(&b, 1000, &f, &e), &e, ARM_OK);
    ARM_CHECK(f.hdr.type == REPL_MSG_HEARTBEAT);
    /* a waiting receive times out after its time, still losing nothing */
    uint64_t t0 = util_now_ms();
    ARM_CHECK_RC(repl_conn_recv(&b, 60, &f, &e), REPL_TIMEOUT);
    ARM_CHECK(util_now_ms() - t0 >= 55);
    /* half a frame, then the peer closes: truncated, a protocol error */
    raw_send(fa, frame.ptr, one - 3);
    close(fa);
    ARM_CHECK_RC(repl_conn_recv(&b, 1000, &f, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "truncated frame: the peer closed the connection after 37 of 40 bytes");
    repl_conn_close(&b);
    arm_buf_free(&frame);
}

static void test_garbage_and_oversized(void) {
    for (int k = 0; k < 2; k++) {
        int fa, fb;
        rt_tcp_pair(&fa, &fb);
        repl_conn b;
        arm_repl_err e = {0, ""};
        RT_CHECK_RC(repl_conn_open(&b, fb, -1, ARM_REPL_PAYLOAD_MIN, &e), &e, ARM_OK);
        repl_frame f;
        if (k == 0) {
            const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
            raw_send(fa, http, strlen(http));
            ARM_CHECK_RC(repl_conn_recv(&b, 1000, &f, &e), ARM_PROTOCOL);
            RT_CHECK_MSG(&e, "bad frame header checksum");
        } else {
            /* a header announcing 1 MiB to a 32 KiB receiver: refused at
             * once, with the connection still open and no payload sent */
            uint8_t h[16] = {0};
            uint32_t len = 1u << 20;
            for (int i = 0; i < 4; i++)
                h[i] = (uint8_t)(len >> (8 * i));
            h[4] = REPL_MSG_TXN;
            uint32_t hc = (uint32_t)arm_hash_checksum(h, 12);
            for (int i = 0; i < 4; i++)
                h[12 + i] = (uint8_t)(hc >> (8 * i));
            raw_send(fa, h, sizeof(h));
            uint64_t t0 = util_now_ms();
            ARM_CHECK_RC(repl_conn_recv(&b, 5000, &f, &e), ARM_PROTOCOL);
            ARM_CHECK(util_now_ms() - t0 < 2000);
            RT_CHECK_MSG(&e, "oversized TXN frame: 1048576 payload bytes, at most 32768");
            ARM_CHECK(b.in.cap < (1u << 20));
        }
        repl_conn_close(&b);
        close(fa);
    }
}

/* ------------------------------------------------------------ fault shim */
/* Send n heartbeats numbered 1..n (in now_ms) through c, one flush each. */
static void send_numbered(repl_conn *c, int n) {
    for (int i = 1; i <= n; i++) {
        repl_heartbeat h = {(uint64_t)i, 0, 0};
        ARM_CHECK(repl_msg_heartbeat_encode(&c->out, &h) == ARM_OK);
        arm_repl_err e = {0, ""};
        int rc = repl_conn_flush(c, 2000, &e);
        ARM_CHECK(rc == ARM_OK || (c->broken && rc == ARM_IOERR));
    }
}

static void test_fault_rules(void) {
    repl_conn a, b;
    rt_conn_pair(&a, &b, -1, ARM_REPL_PAYLOAD_MIN);
    repl_fault_plan plan;
    repl_fault_plan_init(&plan, harness_seed);
    ARM_CHECK(repl_fault_plan_rule(&plan, REPL_MSG_HEARTBEAT, 2, REPL_FAULT_DROP, 0) == 0);
    ARM_CHECK(repl_fault_plan_rule(&plan, REPL_MSG_HEARTBEAT, 3, REPL_FAULT_DUP, 0) == 0);
    ARM_CHECK(repl_fault_plan_rule(&plan, 0, 5, REPL_FAULT_DELAY, 150) == 0);
    ARM_CHECK(repl_fault_plan_rule(&plan, 0, 7, REPL_FAULT_TRUNC, 10) == 0);
    repl_conn_set_fault(&a, repl_fault_hook, &plan);
    send_numbered(&a, 9); /* 8 and 9 never leave: the connection was cut at 7 */
    ARM_CHECK(a.broken);
    const uint64_t want[] = {1, 3, 3, 4, 5, 6};
    uint64_t got_ms[6];
    for (int i = 0; i < 6; i++) {
        repl_frame f;
        repl_heartbeat h;
        arm_repl_err e = {0, ""};
        RT_CHECK_RC(repl_conn_recv(&b, 2000, &f, &e), &e, ARM_OK);
        RT_CHECK_RC(repl_msg_heartbeat_decode(&f, &h, &e), &e, ARM_OK);
        ARM_CHECK(h.now_ms == want[i]);
        got_ms[i] = util_now_ms();
    }
    (void)got_ms;
    repl_frame f;
    arm_repl_err e = {0, ""};
    ARM_CHECK_RC(repl_conn_recv(&b, 2000, &f, &e), ARM_PROTOCOL);
    RT_CHECK_MSG(&e, "truncated frame: the peer closed the connection after 10 of 16 bytes");
    ARM_CHECK(repl_fault_plan_count(&plan, REPL_FAULT_DROP) == 1);
    ARM_CHECK(repl_fault_plan_count(&plan, REPL_FAULT_DUP) == 1);
    ARM_CHECK(repl_fault_plan_count(&plan, REPL_FAULT_DELAY) == 1);
    ARM_CHECK(repl_fault_plan_count(&plan, REPL_FAULT_TRUNC) == 1);
    repl_conn_close(&a);
    repl_conn_close(&b);
    repl_fault_plan_destroy(&plan);
}

static void test_fault_delay_and_default(void) {
    repl_fault_plan plan;
    repl_fault_plan_init(&plan, harness_seed);
    ARM_CHECK(repl_fault_plan_rule(&plan, 0, 2, REPL_FAULT_DELAY, 200) == 0);
    /* installed process-wide: connections opened from now on carry it */
    repl_fault_set_default(repl_fault_hook, &plan);
    repl_conn a, b;
    rt_conn_pair(&a, &b, -1, ARM_REPL_PAYLOAD_MIN);
    repl_fault_set_default(NULL, NULL);
    ARM_CHECK(a.fault == repl_fault_hook);
    repl_conn_set_fault(&b, NULL, NULL);
    uint64_t t0 = util_now_ms();
    send_numbered(&a, 3);
    ARM_CHECK(util_now_ms() - t0 >= 190); /* the sender waited before frame 2 */
    for (uint64_t i = 1; i <= 3; i++) {
        repl_frame f;
        repl_heartbeat h;
        arm_repl_err e = {0, ""};
        RT_CHECK_RC(repl_conn_recv(&b, 2000, &f, &e), &e, ARM_OK);
        RT_CHECK_RC(repl_msg_heartbeat_decode(&f, &h, &e), &e, ARM_OK);
        ARM_CHECK(h.now_ms == i);
    }
    repl_conn_close(&a);
    repl_conn_close(&b);
    repl_fault_plan_destroy(&plan);
}

static void test_fault_random(void) {
    repl_conn a, b;
    rt_conn_pair(&a, &b, -1, ARM_REPL_PAYLOAD_MIN);
    repl_fault_plan plan;
    repl_fault_plan_init(&plan, harness_seed);
    plan.drop_pm = 300;
    plan.dup_pm = 200;
    repl_conn_set_fault(&a, repl_fault_hook, &plan);
    const int n = 400;
    send_numbered(&a, n);
    repl_conn_close(&a);
    uint64_t dropped = repl_fault_plan_count(&plan, REPL_FAULT_DROP);
    uint64_t duped = repl_fault_plan_count(&plan, REPL_FAULT_DUP);
    ARM_CHECK(dropped > 60 && dropped < 180 && duped > 30 && duped < 130);
    uint64_t received = 0, last = 0;
    for (;;) {
        repl_frame f;
        repl_heartbeat h;
        arm_repl_err e = {0, ""};
        int rc = repl_conn_recv(&b, 2000, &f, &e);
        if (rc == ARM_IOERR) break;
        RT_CHECK_RC(rc, &e, ARM_OK);
        RT_CHECK_RC(repl_msg_heartbeat_decode(&f, &h, &e), &e, ARM_OK);
        ARM_CHECK(h.now_ms >= last); /* order kept; repeats only as duplicates */
        last = h.now_ms;
        received++;
    }
    ARM_CHECK(received == (uint64_t)n - dropped + duped);
    repl_conn_close(&b);
    repl_fault_plan_destroy(&plan);
}

int main(void) {
    harness_init();
    UTIL_CASE("addresses parse and print", test_addr());
    UTIL_CASE("listen on port 0 reports the bound address", test_listen_port0());
    UTIL_CASE("a refused connect", test_connect_refused());
    UTIL_CASE("a forked child holds none of the descriptors", test_fork_closes());
    UTIL_CASE("backoff delays double, with jitter, capped", test_backoff_delays());
    UTIL_CASE("backoff: a retry loop takes its delays", test_backoff_timing());
    UTIL_CASE("backoff: connects once the leader appears", test_backoff_until_leader_appears());
    UTIL_CASE("heartbeat timing", test_hb_pure());
    UTIL_CASE("heartbeat: a silent peer is dead", test_hb_dead_peer());
    UTIL_CASE("a stop wakes blocked threads", test_stop_wakes());
    UTIL_CASE("many frames, up to the payload bound", test_many_frames());
    UTIL_CASE("frames a byte at a time; timeouts lose nothing", test_dribble_and_timeouts());
    UTIL_CASE("garbage and oversized headers", test_garbage_and_oversized());
    UTIL_CASE("fault shim: drop, duplicate, delay, truncate", test_fault_rules());
    UTIL_CASE("fault shim: delays; the process-wide hook", test_fault_delay_and_default());
    UTIL_CASE("fault shim: seeded random faults", test_fault_random());
    return harness_done();
}
