/* SPDX-License-Identifier: MIT */
/*
 * repl_net.c: the network below the frames: "host:port" addresses, a
 * listening socket (port 0 = any free port, the bound address reported),
 * accept and connect with timeouts, connect with exponential backoff, and a
 * wake-up (an eventfd) that makes any thread blocked in one of them return
 * ARM_CLOSED at once. Every socket is non-blocking and close-on-exec; every
 * wait is a poll on the socket and the wake fd, so nothing blocks past its
 * deadline or past a stop.
 *
 * fork(): every socket and eventfd of replication is opened and closed here
 * (repl_fd_*), listed under one mutex, and a pthread_atfork child handler
 * closes the child's copies of all of them. Otherwise a child (a gunicorn
 * worker, a multiprocessing pool) would keep a leader's port listening
 * after the parent stopped, and keep connections open after the parent
 * closed them, so that peers never see them end. The fork takes the mutex
 * first (prepare), so the list is exact in the child; the handlers are
 * registered at load time (see rn_atfork for why). Layer: repl.
 */
#include "repl_int.h"
#include "../common/arm_alloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

uint64_t repl_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ----------------------------------------------------------- addresses */
/* Split "host:port" / "[v6]:port" into host (NUL-terminated in buf) and a
 * port number. */
static int rn_split(const char *text, char *host, size_t hsize, uint16_t *port, int *v6,
                    arm_repl_err *err) {
    const char *colon;
    *v6 = 0;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return REPL_ERR(err, ARM_RANGE, "address '%s': expected [ipv6]:port", text);
        if ((size_t)(close - text - 1) >= hsize)
            return REPL_ERR(err, ARM_RANGE, "address '%s': host too long", text);
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
        colon = close + 1;
        *v6 = 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return REPL_ERR(err, ARM_RANGE, "address '%s': expected host:port", text);
        if (memchr(text, ':', (size_t)(colon - text)) != NULL)
            return REPL_ERR(err, ARM_RANGE, "address '%s': write IPv6 addresses as [addr]:port",
                            text);
        if ((size_t)(colon - text) >= hsize)
            return REPL_ERR(err, ARM_RANGE, "address '%s': host too long", text);
        memcpy(host, text, (size_t)(colon - text));
        host[colon - text] = '\0';
    }
    if (host[0] == '\0') return REPL_ERR(err, ARM_RANGE, "address '%s': missing host", text);
    const char *ps = colon + 1;
    size_t n = strlen(ps);
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (ps[i] < '0' || ps[i] > '9' || i >= 5) {
            v = 70000;
            break;
        }
        v = v * 10 + (unsigned long)(ps[i] - '0');
    }
    if (n == 0 || v > 65535)
        return REPL_ERR(err, ARM_RANGE, "address '%s': port must be a number 0..65535", text);
    *port = (uint16_t)v;
    return ARM_OK;
}

int repl_addr_parse(const char *text, repl_addr *out, arm_repl_err *err) {
    assert(out != NULL);
    memset(out, 0, sizeof(*out));
    if (text == NULL || text[0] == '\0')
        return REPL_ERR(err, ARM_RANGE, "empty address: expected host:port");
    char host[256];
    uint16_t port = 0;
    int v6 = 0;
    int rc = rn_split(text, host, sizeof(host), &port, &v6, err);
    if (rc != ARM_OK) return rc;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = v6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = v6 ? AI_NUMERICHOST : 0;
    int g = getaddrinfo(host, NULL, &hints, &res);
    if (g != 0 || res == NULL)
        return REPL_ERR(err, ARM_RANGE, "address '%s': cannot resolve '%s': %s", text, host,
                        gai_strerror(g));
    if (res->ai_addrlen <= sizeof(out->ss)) {
        memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
        out->len = (socklen_t)res->ai_addrlen;
    }
    freeaddrinfo(res);
    if (out->ss.ss_family == AF_INET) {
        ((struct sockaddr_in *)&out->ss)->sin_port = htons(port);
    } else if (out->ss.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&out->ss)->sin6_port = htons(port);
    } else {
        return REPL_ERR(err, ARM_RANGE, "address '%s': not an IPv4 or IPv6 address", text);
    }
    return ARM_OK;
}

uint16_t repl_addr_port(const repl_addr *a) {
    if (a->ss.ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
    if (a->ss.ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
    return 0;
}

void repl_addr_format(const repl_addr *a, char *buf, size_t size) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (a->ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, host, sizeof(host));
        (void)snprintf(buf, size, "%s:%u", host, repl_addr_port(a));
    } else if (a->ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, host, sizeof(host));
        (void)snprintf(buf, size, "[%s]:%u", host, repl_addr_port(a));
    } else {
        (void)snprintf(buf, size, "?");
    }
}

/* ------------------------------------------------ descriptors and fork */
static pthread_mutex_t rn_fds_mu = PTHREAD_MUTEX_INITIALIZER;
static int *rn_fds; /* guarded by rn_fds_mu */
static size_t rn_nfds, rn_capfds;

static void rn_fds_lock(void) {
    pthread_mutex_lock(&rn_fds_mu);
}
static void rn_fds_unlock(void) {
    pthread_mutex_unlock(&rn_fds_mu);
}
/* In the child: the threads that used these are the parent's; close our
 * copies (the parent's stay open) and forget them. */
static void rn_fds_child(void) {
    for (size_t i = 0; i < rn_nfds; i++)
        close(rn_fds[i]);
    rn_nfds = 0;
    pthread_mutex_unlock(&rn_fds_mu);
}
/* Registered when the library loads, so before any caller's own handlers
 * (the extension's registry registers at its first open): prepare handlers
 * run newest first, so a fork takes a caller's locks before rn_fds_mu, the
 * order of a caller that closes replication under its own lock (the
 * registry stops a leader under its mutex). */
__attribute__((constructor)) static void rn_atfork(void) {
    (void)pthread_atfork(rn_fds_lock, rn_fds_unlock, rn_fds_child);
}

/* fd was just opened (rn_fds_mu held): list it, or close it. */
static int rn_fds_add(int fd) {
    if (fd < 0) return fd;
    if (rn_nfds == rn_capfds) {
        size_t cap = rn_capfds ? rn_capfds * 2 : 64;
        int *p = arm_realloc(rn_fds, cap * sizeof(*p));
        if (p == NULL) {
            close(fd);
            errno = ENOMEM;
            return -1;
        }
        rn_fds = p, rn_capfds = cap;
    }
    rn_fds[rn_nfds++] = fd;
    return fd;
}

int repl_fd_socket(int family) {
    rn_fds_lock();
    int fd = rn_fds_add(socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    rn_fds_unlock();
    return fd;
}

int repl_fd_accept(int lfd, struct sockaddr *sa, socklen_t *len) {
    rn_fds_lock();
    int fd = rn_fds_add(accept4(lfd, sa, len, SOCK_CLOEXEC | SOCK_NONBLOCK));
    int e = errno;
    rn_fds_unlock();
    errno = e;
    return fd;
}

int repl_fd_eventfd(void) {
    rn_fds_lock();
    int fd = rn_fds_add(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    rn_fds_unlock();
    return fd;
}

void repl_fd_close(int fd) {
    if (fd < 0) return;
    rn_fds_lock();
    for (size_t i = 0; i < rn_nfds; i++)
        if (rn_fds[i] == fd) {
            rn_fds[i] = rn_fds[--rn_nfds];
            break;
        }
    close(fd);          /* under the mutex: a fork never sees it closed and still listed */
    if (rn_nfds == 0) { /* nothing left: nothing kept (the library may be unloaded next) */
        arm_free(rn_fds);
        rn_fds = NULL, rn_capfds = 0;
    }
    rn_fds_unlock();
}

/* -------------------------------------------------------------- wake-up */
int repl_wake_open(repl_wake *w, arm_repl_err *err) {
    w->fd = repl_fd_eventfd();
    if (w->fd < 0) return REPL_ERR(err, ARM_IOERR, "replication: eventfd: %s", strerror(errno));
    return ARM_OK;
}

void repl_wake_signal(repl_wake *w) {
    uint64_t one = 1;
    /* Never read, so the count stays non-zero and the fd readable for good;
     * a full counter (EAGAIN) is already set. */
    ssize_t n = write(w->fd, &one, sizeof(one));
    (void)n;
}

int repl_wake_is_set(const repl_wake *w) {
    struct pollfd p = {.fd = w->fd, .events = POLLIN, .revents = 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

void repl_wake_close(repl_wake *w) {
    repl_fd_close(w->fd);
    w->fd = -1;
}

/* ---------------------------------------------------------------- waits */
/* Milliseconds left until deadline (UINT64_MAX: none) as a poll timeout. */
static int rn_left(uint64_t deadline) {
    if (deadline == UINT64_MAX) return -1;
    uint64_t now = repl_now_ms();
    if (now >= deadline) return 0;
    uint64_t left = deadline - now;
    return left > INT_MAX ? INT_MAX : (int)left;
}

static uint64_t rn_deadline(int timeout_ms) {
    return timeout_ms < 0 ? UINT64_MAX : repl_now_ms() + (uint64_t)timeout_ms;
}

int repl_poll1(int fd, short events, int wake_fd, int timeout_ms, arm_repl_err *err) {
    uint64_t deadline = rn_deadline(timeout_ms);
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = events, .revents = 0},
                              {.fd = wake_fd, .events = POLLIN, .revents = 0}};
        int n = poll(p, wake_fd >= 0 ? 2 : 1, rn_left(deadline));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return REPL_ERR(err, ARM_IOERR, "replication: poll: %s", strerror(errno));
        if (wake_fd >= 0 && p[1].revents != 0) return ARM_CLOSED;
        if (n == 0) return REPL_TIMEOUT;
        return ARM_OK;
    }
}

int repl_sleep_ms(int wake_fd, uint32_t ms) {
    uint64_t deadline = repl_now_ms() + ms;
    for (;;) {
        int left = rn_left(deadline);
        if (left == 0) return ARM_OK;
        if (wake_fd < 0) {
            struct timespec ts = {.tv_sec = left / 1000, .tv_nsec = (long)(left % 1000) * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd p = {.fd = wake_fd, .events = POLLIN, .revents = 0};
        int n = poll(&p, 1, left);
        if (n > 0) return ARM_CLOSED;
    }
}

/* -------------------------------------------------------------- sockets */
static void rn_nodelay(int fd) {
    int one = 1;
    /* best effort: a socket without it still works, only with more latency */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int repl_listen(const repl_addr *addr, repl_listener *l, arm_repl_err *err) {
    char text[REPL_ADDR_TEXT_MAX];
    repl_addr_format(addr, text, sizeof(text));
    l->fd = repl_fd_socket(addr->ss.ss_family);
    if (l->fd < 0) return REPL_ERR(err, ARM_IOERR, "listen on %s: %s", text, strerror(errno));
    int one = 1;
    if (setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(l->fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 || listen(l->fd, 64) != 0) {
        int e = errno;
        repl_listener_close(l);
        return REPL_ERR(err, ARM_IOERR, "listen on %s: %s", text, strerror(e));
    }
    l->bound.len = sizeof(l->bound.ss);
    if (getsockname(l->fd, (struct sockaddr *)&l->bound.ss, &l->bound.len) != 0) {
        int e = errno;
        repl_listener_close(l);
        return REPL_ERR(err, ARM_IOERR, "listen on %s: getsockname: %s", text, strerror(e));
    }
    return ARM_OK;
}

void repl_listener_close(repl_listener *l) {
    repl_fd_close(l->fd);
    l->fd = -1;
}

int repl_accept(repl_listener *l, int wake_fd, int timeout_ms, int *fd_out, repl_addr *peer,
                arm_repl_err *err) {
    assert(fd_out != NULL);
    *fd_out = -1;
    uint64_t deadline = rn_deadline(timeout_ms);
    for (;;) {
        repl_addr a;
        a.len = sizeof(a.ss);
        int fd = repl_fd_accept(l->fd, (struct sockaddr *)&a.ss, &a.len);
        if (fd >= 0) {
            rn_nodelay(fd);
            if (peer != NULL) *peer = a;
            *fd_out = fd;
            return ARM_OK;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return REPL_ERR(err, ARM_IOERR, "accept: %s", strerror(errno));
        int rc = repl_poll1(l->fd, POLLIN, wake_fd, rn_left(deadline), err);
        if (rc != ARM_OK) return rc;
    }
}

/* Wait for a non-blocking connect to finish; its result. */
static int rn_connect_wait(int fd, int wake_fd, int timeout_ms, const char *text,
                           arm_repl_err *err) {
    int rc = repl_poll1(fd, POLLOUT, wake_fd, timeout_ms, err);
    if (rc == REPL_TIMEOUT)
        return REPL_ERR(err, REPL_TIMEOUT, "connect to %s: no answer within %d ms", text,
                        timeout_ms);
    if (rc != ARM_OK) return rc;
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
    if (soerr != 0) return REPL_ERR(err, ARM_IOERR, "connect to %s: %s", text, strerror(soerr));
    return ARM_OK;
}

int repl_connect(const repl_addr *addr, int wake_fd, int timeout_ms, int *fd_out,
                 arm_repl_err *err) {
    assert(fd_out != NULL);
    *fd_out = -1;
    char text[REPL_ADDR_TEXT_MAX];
    repl_addr_format(addr, text, sizeof(text));
    int fd = repl_fd_socket(addr->ss.ss_family);
    if (fd < 0) return REPL_ERR(err, ARM_IOERR, "connect to %s: %s", text, strerror(errno));
    int rc = ARM_OK;
    if (connect(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0) {
        if (errno == EINPROGRESS || errno == EINTR)
            rc = rn_connect_wait(fd, wake_fd, timeout_ms, text, err);
        else
            rc = REPL_ERR(err, ARM_IOERR, "connect to %s: %s", text, strerror(errno));
    }
    if (rc != ARM_OK) {
        repl_fd_close(fd);
        return rc;
    }
    rn_nodelay(fd);
    *fd_out = fd;
    return ARM_OK;
}

/* -------------------------------------------------------------- backoff */
void repl_backoff_init(repl_backoff *b, uint32_t base_ms, uint32_t max_ms, uint64_t seed) {
    assert(base_ms >= 1);
    assert(max_ms >= base_ms);
    b->base_ms = base_ms;
    b->max_ms = max_ms;
    b->attempt = 0;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint32_t repl_backoff_next(repl_backoff *b) {
    uint64_t d = (uint64_t)b->base_ms << (b->attempt < 32 ? b->attempt : 32);
    if (d > b->max_ms) d = b->max_ms;
    if (b->attempt < UINT32_MAX) b->attempt++;
    b->rng ^= b->rng >> 12; /* xorshift64* */
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    uint64_t r = b->rng * 2685821657736338717ULL;
    uint64_t lo = d / 2;
    uint32_t delay = (uint32_t)(lo + r % (d - lo + 1));
    assert(delay >= d / 2 && delay <= b->max_ms);
    return delay;
}

void repl_backoff_reset(repl_backoff *b) {
    b->attempt = 0;
}

int repl_connect_retry(const repl_addr *addr, repl_backoff *b, int wake_fd, int connect_timeout_ms,
                       uint32_t max_attempts, int *fd_out, uint32_t *attempts_out,
                       arm_repl_err *err) {
    uint32_t attempts = 0;
    int rc;
    for (;;) {
        rc = repl_connect(addr, wake_fd, connect_timeout_ms, fd_out, err);
        attempts++;
        if (rc == ARM_OK || rc == ARM_CLOSED) break;
        if (max_attempts != 0 && attempts >= max_attempts) break;
        if (repl_sleep_ms(wake_fd, repl_backoff_next(b)) == ARM_CLOSED) {
            rc = ARM_CLOSED;
            break;
        }
    }
    if (attempts_out != NULL) *attempts_out = attempts;
    /* No reset here: a leader that accepts the TCP connection and then
     * refuses the follower (too many followers, wrong secret) must still see
     * the delays grow. The caller resets after a session that worked. */
    return rc;
}
