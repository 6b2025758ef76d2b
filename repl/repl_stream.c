/* SPDX-License-Identifier: MIT */
/*
 * repl_stream.c: framed I/O over one non-blocking socket (repl_conn), the
 * handshake driven over it, heartbeat timing, and the fault hook that test
 * builds use to drop, delay, duplicate or truncate outgoing frames.
 *
 * Receiving reads as much as the buffer holds and hands out one checked
 * frame at a time (repl_wire_frame_decode: header, bounds, checksums); the
 * buffer grows (doubling) to hold the largest frame seen, staying below twice
 * payload_max + header, and is reused, so the hot path allocates nothing. Sending appends encoded
 * frames to a reusable buffer and writes it out in as few send() calls as the
 * socket takes. Every wait polls the socket together with the wake fd, so a
 * stop from another thread interrupts it. A connection that failed
 * mid-frame is marked broken: only close is left. Layer: repl.
 */
#include "repl_int.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RS_READ_MIN ((size_t)64 * 1024) /* receive buffer: first size (bytes) */

/* ---------------------------------------------------------- fault hook */
static pthread_mutex_t rs_fault_lock = PTHREAD_MUTEX_INITIALIZER;
static repl_fault_fn rs_fault_fn;
static void *rs_fault_ctx;

void repl_fault_set_default(repl_fault_fn fn, void *ctx) {
    pthread_mutex_lock(&rs_fault_lock);
    rs_fault_fn = fn;
    rs_fault_ctx = ctx;
    pthread_mutex_unlock(&rs_fault_lock);
}

void repl_conn_set_fault(repl_conn *c, repl_fault_fn fn, void *ctx) {
    c->fault = fn;
    c->fault_ctx = ctx;
}

/* ------------------------------------------------------------ open/close */
int repl_conn_open(repl_conn *c, int fd, int wake_fd, uint32_t payload_max, arm_repl_err *err) {
    assert(fd >= 0);
    assert(payload_max >= ARM_REPL_PAYLOAD_MIN && payload_max <= ARM_REPL_PAYLOAD_MAX);
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->wake_fd = wake_fd;
    c->recv_max = payload_max;
    c->send_max = ARM_REPL_PAYLOAD_MIN; /* until the peer's hello says more */
    if (arm_buf_reserve(&c->in, RS_READ_MIN) != ARM_OK) {
        repl_fd_close(fd);
        c->fd = -1;
        return REPL_ERR(err, ARM_NOMEM, "replication: out of memory for a connection");
    }
    pthread_mutex_lock(&rs_fault_lock);
    c->fault = rs_fault_fn;
    c->fault_ctx = rs_fault_ctx;
    pthread_mutex_unlock(&rs_fault_lock);
    c->last_recv_ms = c->last_send_ms = repl_now_ms();
    return ARM_OK;
}

void repl_conn_close(repl_conn *c) {
    if (c == NULL) return;
    repl_fd_close(c->fd);
    c->fd = -1;
    arm_buf_free(&c->in);
    arm_buf_free(&c->out);
    c->in_pos = 0;
}

/* --------------------------------------------------------------- receive */
static uint64_t rs_deadline(int timeout_ms) {
    return timeout_ms < 0 ? UINT64_MAX : repl_now_ms() + (uint64_t)timeout_ms;
}

static int rs_left(uint64_t deadline) {
    if (deadline == UINT64_MAX) return -1;
    uint64_t now = repl_now_ms();
    if (now >= deadline) return 0;
    return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

/* Make room for `need` bytes from in_pos on: move the unread bytes to the
 * front, and grow (to at most the largest frame) only when they still do
 * not fit. */
static int rs_make_room(repl_conn *c, size_t need, arm_repl_err *err) {
    if (c->in_pos > 0) {
        size_t left = c->in.len - c->in_pos;
        memmove(c->in.ptr, c->in.ptr + c->in_pos, left);
        c->in.len = left;
        c->in_pos = 0;
    }
    assert(need <= REPL_FRAME_HDR + (size_t)c->recv_max);
    if (arm_buf_reserve(&c->in, ARM_MAX(need, RS_READ_MIN)) != ARM_OK)
        return REPL_ERR(err, ARM_NOMEM, "replication: out of memory for a %zu-byte frame", need);
    return ARM_OK;
}

/* Read what the socket has (at least one byte, or EOF, or wait until the
 * deadline: computed at the first wait, so a receive that finds its bytes
 * there, or must not wait, never reads the clock). */
static int rs_fill(repl_conn *c, int timeout_ms, uint64_t *deadline, arm_repl_err *err) {
    for (;;) {
        ssize_t n = recv(c->fd, c->in.ptr + c->in.len, c->in.cap - c->in.len, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->bytes_in += (uint64_t)n;
            c->last_recv_ms = repl_now_ms(); /* per read, not per frame: one clock per batch */
            return ARM_OK;
        }
        if (n == 0) {
            c->eof = 1;
            return ARM_OK;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return REPL_ERR(err, ARM_IOERR, "replication: receive: %s", strerror(errno));
        if (timeout_ms == 0)
            return REPL_ERR(err, REPL_TIMEOUT, "replication: no frame from the peer");
        if (*deadline == 0) *deadline = rs_deadline(timeout_ms);
        int left = rs_left(*deadline);
        if (left == 0) return REPL_ERR(err, REPL_TIMEOUT, "replication: no frame from the peer");
        int rc = repl_poll1(c->fd, POLLIN, c->wake_fd, left, err);
        if (rc == REPL_TIMEOUT)
            return REPL_ERR(err, REPL_TIMEOUT, "replication: no frame from the peer");
        if (rc == ARM_CLOSED) return REPL_ERR(err, ARM_CLOSED, "replication: stopped");
        if (rc != ARM_OK) return rc;
    }
}

int repl_conn_recv(repl_conn *c, int timeout_ms, repl_frame *f, arm_repl_err *err) {
    if (c->broken) return REPL_ERR(err, ARM_IOERR, "replication: connection already failed");
    uint64_t deadline = 0; /* not computed yet */
    for (;;) {
        size_t avail = c->in.len - c->in_pos, need = 0;
        int rc = repl_wire_frame_decode(c->in.ptr + c->in_pos, avail, c->recv_max, f, &need, err);
        if (rc == ARM_OK) {
            c->in_pos += need;
            c->frames_in++;
            return ARM_OK;
        }
        if (rc == ARM_NOTFOUND && c->eof && avail == 0) rc = ARM_IOERR;
        if (rc == ARM_IOERR)
            REPL_ERR(err, ARM_IOERR, "replication: the peer closed the connection");
        if (rc == ARM_NOTFOUND && c->eof)
            rc = REPL_ERR(err, ARM_PROTOCOL,
                          "truncated frame: the peer closed the connection "
                          "after %zu of %zu bytes",
                          avail, need);
        if (rc == ARM_NOTFOUND) rc = rs_make_room(c, need, err);
        if (rc == ARM_OK) rc = rs_fill(c, timeout_ms, &deadline, err);
        if (rc == REPL_TIMEOUT || rc == ARM_CLOSED) return rc; /* nothing lost: try again */
        if (rc != ARM_OK) {
            c->broken = 1;
            return rc;
        }
    }
}

/* ------------------------------------------------------------------ send */
static int rs_send_all(repl_conn *c, const uint8_t *p, size_t n, uint64_t deadline,
                       arm_repl_err *err) {
    while (n > 0) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            c->bytes_out += (uint64_t)k;
            c->last_send_ms = repl_now_ms();
            continue;
        }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return REPL_ERR(err, ARM_IOERR, "replication: send: %s", strerror(errno));
        int left = rs_left(deadline);
        int rc = left == 0 ? REPL_TIMEOUT : repl_poll1(c->fd, POLLOUT, c->wake_fd, left, err);
        if (rc == REPL_TIMEOUT)
            return REPL_ERR(err, REPL_TIMEOUT, "replication: the peer stopped reading");
        if (rc == ARM_CLOSED) return REPL_ERR(err, ARM_CLOSED, "replication: stopped");
        if (rc != ARM_OK) return rc;
    }
    return ARM_OK;
}

/* Send the queued frames one by one through the fault hook. */
static int rs_send_faulted(repl_conn *c, uint64_t deadline, arm_repl_err *err) {
    size_t off = 0;
    int rc = ARM_OK;
    while (rc == ARM_OK && off < c->out.len) {
        repl_frame_hdr h;
        assert(c->out.len - off >= REPL_FRAME_HDR);
        rc = repl_wire_hdr_decode(c->out.ptr + off, ARM_REPL_PAYLOAD_MAX, &h, err);
        if (ARM_NEVER(rc != ARM_OK)) break; /* we encoded it ourselves */
        size_t len = REPL_FRAME_HDR + (size_t)h.len;
        const uint8_t *frame = c->out.ptr + off;
        repl_fault_act act = {REPL_FAULT_PASS, 0};
        c->fault(c->fault_ctx, &h, &act);
        switch (act.kind) {
        case REPL_FAULT_DROP: break;
        case REPL_FAULT_DUP:
            rc = rs_send_all(c, frame, len, deadline, err);
            if (rc == ARM_OK) rc = rs_send_all(c, frame, len, deadline, err);
            break;
        case REPL_FAULT_TRUNC:
            rc = rs_send_all(c, frame, ARM_MIN((size_t)act.arg, len), deadline, err);
            (void)shutdown(c->fd, SHUT_WR);
            c->broken = 1;
            off = c->out.len; /* nothing after it leaves */
            continue;
        case REPL_FAULT_DELAY:
            if (repl_sleep_ms(c->wake_fd, act.arg) == ARM_CLOSED)
                return REPL_ERR(err, ARM_CLOSED, "replication: stopped");
            rc = rs_send_all(c, frame, len, deadline, err);
            break;
        default: rc = rs_send_all(c, frame, len, deadline, err); break;
        }
        off += len;
    }
    return rc;
}

int repl_conn_flush(repl_conn *c, int timeout_ms, arm_repl_err *err) {
    if (c->broken) {
        c->out.len = 0;
        return REPL_ERR(err, ARM_IOERR, "replication: connection already failed");
    }
    if (c->out.len == 0) return ARM_OK;
    uint64_t deadline = rs_deadline(timeout_ms);
    int rc = c->fault != NULL ? rs_send_faulted(c, deadline, err)
                              : rs_send_all(c, c->out.ptr, c->out.len, deadline, err);
    c->out.len = 0;
    if (rc != ARM_OK) c->broken = 1; /* part of a frame may be out: the stream is lost */
    return rc;
}

void repl_conn_send_error(repl_conn *c, int code, const char *text, int timeout_ms) {
    if (c->broken) return;
    if (repl_msg_error_encode(&c->out, code, text) != ARM_OK) return;
    int rc = repl_conn_flush(c, timeout_ms, NULL); /* best effort: we are closing anyway */
    (void)rc;
}

/* ------------------------------------------------------------- handshake */
int repl_conn_handshake(repl_conn *c, repl_hs *hs, const repl_hs_cfg *cfg, int timeout_ms,
                        arm_repl_err *err) {
    /* we announce what we accept: it must be what this connection accepts */
    if (ARM_NEVER(cfg->payload_max > c->recv_max))
        return REPL_ERR(err, ARM_MISUSE, "handshake announces more than the connection accepts");
    uint64_t deadline = rs_deadline(timeout_ms);
    int rc = repl_hs_start(hs, cfg, &c->out, err);
    while (rc == ARM_OK && hs->state != REPL_HS_DONE) {
        repl_frame f;
        rc = repl_conn_flush(c, rs_left(deadline), err);
        if (rc == ARM_OK) rc = repl_conn_recv(c, rs_left(deadline), &f, err);
        if (rc == REPL_TIMEOUT)
            rc = REPL_ERR(err, REPL_TIMEOUT, "replication handshake: no answer within %d ms",
                          timeout_ms);
        if (rc == ARM_PROTOCOL) { /* a frame that failed its checks: tell the peer */
            repl_conn_send_error(c, rc, err ? err->msg : "bad frame", 100);
            return rc;
        }
        if (rc == ARM_OK) rc = repl_hs_on_frame(hs, &f, &c->out, err);
    }
    /* our last frame: the leader's proof on success, or our refusal */
    int frc = repl_conn_flush(c, rc == ARM_OK ? rs_left(deadline) : 100, rc == ARM_OK ? err : NULL);
    if (rc == ARM_OK) rc = frc;
    if (rc == ARM_OK) c->send_max = ARM_MIN(cfg->payload_max, hs->peer.payload_max);
    return rc;
}

/* ------------------------------------------------------------ heartbeats */
void repl_hb_init(repl_hb *hb, uint32_t interval_ms, uint32_t timeout_ms, uint64_t now_ms) {
    assert(interval_ms >= 1);
    assert(timeout_ms > interval_ms);
    hb->interval_ms = interval_ms;
    hb->timeout_ms = timeout_ms;
    hb->last_send_ms = hb->last_recv_ms = now_ms;
}

int repl_hb_send_due(const repl_hb *hb, uint64_t now_ms) {
    return now_ms >= hb->last_send_ms + hb->interval_ms;
}

int repl_hb_peer_dead(const repl_hb *hb, uint64_t now_ms) {
    return now_ms >= hb->last_recv_ms + hb->timeout_ms;
}

int repl_hb_wait_ms(const repl_hb *hb, uint64_t now_ms) {
    uint64_t a = hb->last_send_ms + hb->interval_ms, b = hb->last_recv_ms + hb->timeout_ms;
    uint64_t next = ARM_MIN(a, b);
    if (next <= now_ms) return 0;
    return next - now_ms > INT_MAX ? INT_MAX : (int)(next - now_ms);
}
