/* SPDX-License-Identifier: MIT */
/*
 * io_uring.c: the io_uring half of the I/O seam (io.h), the only file that
 * includes liburing.h. A write and its fdatasync go in as one linked pair
 * (IOSQE_IO_LINK), one io_uring_enter for a durable commit. Short writes are
 * resubmitted; CQE res values (-errno) become ARM_* codes here and nowhere
 * else. Each ring is used under its shard's log mutex, one op at a time.
 */
#include "io.h"
#include "../common/arm_alloc.h"

#include <errno.h>
#include <liburing.h>

struct arm_io_ring {
    struct io_uring ring;
};

int arm_io_ring_new(unsigned depth, arm_io_ring **ring_out) {
    *ring_out = NULL;
    arm_io_ring *r = arm_calloc(1, sizeof(*r));
    if (r == NULL) return ARM_ERR(ARM_NOMEM);
    if (io_uring_queue_init(depth, &r->ring, 0) < 0) {
        arm_free(r);
        return ARM_IOERR; /* not raised: unavailability is an expected fallback */
    }
    *ring_out = r;
    return ARM_OK;
}

void arm_io_ring_free(arm_io_ring *ring) {
    if (ring == NULL) return;
    io_uring_queue_exit(&ring->ring);
    arm_free(ring);
}

static int ring_fail(int err, int *err_out) {
    if (err_out) *err_out = err;
    return ARM_ERR(arm_io_errno_rc(err));
}

/* Wait for `want` completions; the first failure wins. *written gets the
 * write's result (bytes), the sync's result is checked for errors only. */
static int ring_reap(arm_io_ring *r, unsigned want, ssize_t *written, int *err_out) {
    int rc = ARM_OK;
    for (unsigned i = 0; i < want; i++) {
        struct io_uring_cqe *cqe;
        int w;
        do {
            w = io_uring_wait_cqe(&r->ring, &cqe);
        } while (w == -EINTR);
        if (w < 0) { /* cannot wait: the ring is unusable, say so */
            if (rc == ARM_OK) rc = ring_fail(-w, err_out);
            break;
        }
        int res = cqe->res;
        uint64_t tag = io_uring_cqe_get_data64(cqe);
        io_uring_cqe_seen(&r->ring, cqe);
        if (tag == 1) *written = res;
        /* -ECANCELED on the sync means the linked write failed or was short. */
        if (res < 0 && res != -ECANCELED && rc == ARM_OK) rc = ring_fail(-res, err_out);
    }
    return rc;
}

int arm_io_ring_write(arm_io_ring *r, int fd, const void *buf, size_t n, uint64_t off,
                      int sync_after, int *err_out) {
    int inj = arm_io_fault_check(ARM_IO_OP_WRITE, fd, off, n);
    if (inj) return ring_fail(inj, err_out);
    if (sync_after && (inj = arm_io_fault_check(ARM_IO_OP_SYNC, fd, 0, 0)) != 0)
        return ring_fail(inj, err_out);
    const uint8_t *p = buf;
    while (n > 0) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
        if (ARM_NEVER(sqe == NULL)) return ring_fail(EBUSY, err_out);
        io_uring_prep_write(sqe, fd, p, (unsigned)ARM_MIN(n, (size_t)1 << 30), off);
        io_uring_sqe_set_data64(sqe, 1);
        unsigned want = 1;
        if (sync_after) {
            sqe->flags |= IOSQE_IO_LINK;
            struct io_uring_sqe *s2 = io_uring_get_sqe(&r->ring);
            if (ARM_NEVER(s2 == NULL)) return ring_fail(EBUSY, err_out);
            io_uring_prep_fsync(s2, fd, IORING_FSYNC_DATASYNC);
            io_uring_sqe_set_data64(s2, 2);
            want = 2;
        }
        int s;
        do {
            s = io_uring_submit(&r->ring);
        } while (s == -EINTR || s == -EAGAIN);
        if (s < 0) return ring_fail(-s, err_out);
        ssize_t done = -1;
        int rc = ring_reap(r, want, &done, err_out);
        if (rc != ARM_OK) return rc;
        if (done <= 0) return ring_fail(done == 0 ? EIO : EINTR, err_out);
        if ((size_t)done == n) return ARM_OK; /* the linked sync covered it all */
        /* Short write: the linked sync was cancelled; go again for the rest. */
        p += done;
        n -= (size_t)done;
        off += (uint64_t)done;
    }
    return ARM_OK;
}

int arm_io_ring_datasync(arm_io_ring *r, int fd, int *err_out) {
    int inj = arm_io_fault_check(ARM_IO_OP_SYNC, fd, 0, 0);
    if (inj) return ring_fail(inj, err_out);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (ARM_NEVER(sqe == NULL)) return ring_fail(EBUSY, err_out);
    io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    io_uring_sqe_set_data64(sqe, 2);
    int s;
    do {
        s = io_uring_submit(&r->ring);
    } while (s == -EINTR || s == -EAGAIN);
    if (s < 0) return ring_fail(-s, err_out);
    ssize_t unused = 0;
    return ring_reap(r, 1, &unused, err_out);
}
