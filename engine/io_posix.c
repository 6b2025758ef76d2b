/* SPDX-License-Identifier: MIT */
/*
 * io_posix.c: the plain-syscall half of the I/O seam (io.h): open, pread,
 * pwrite, fdatasync, ftruncate. Turns errno into ARM_* codes; retries EINTR
 * and short transfers so neither escapes. Layer: engine.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <unistd.h>

static _Atomic(arm_io_fault_fn) posix_fault_hook;

#ifndef ARM_AMALGAMATION /* a test seam: the single-file build has no tests to set it */
void arm_io_set_fault_hook(arm_io_fault_fn fn) {
    atomic_store(&posix_fault_hook, fn);
}
#endif

int arm_io_fault_check(int op, int fd, uint64_t off, size_t n) {
    arm_io_fault_fn fn = atomic_load_explicit(&posix_fault_hook, memory_order_relaxed);
    return fn ? fn(op, fd, off, n) : 0;
}

int arm_io_errno_rc(int err) {
    switch (err) {
    case ENOSPC:
    case EDQUOT: return ARM_FULL;
    case ENOMEM: return ARM_NOMEM;
    case EWOULDBLOCK: return ARM_BUSY;
    default: return ARM_IOERR;
    }
}

static int posix_fail(int err, int *err_out) {
    if (err_out) *err_out = err;
    return ARM_ERR(arm_io_errno_rc(err));
}

int arm_io_open(const char *path, int flags, int *fd_out, int *err_out) {
    int oflags = O_CLOEXEC;
    oflags |= (flags & ARM_IO_O_RDONLY) ? O_RDONLY : O_RDWR;
    if (flags & ARM_IO_O_CREATE) oflags |= O_CREAT | O_EXCL;
    if (flags & ARM_IO_O_DIRECT) oflags |= O_DIRECT;
    *fd_out = -1;
    int fd;
    do {
        fd = open(path, oflags, 0644);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == EINVAL && (flags & ARM_IO_O_DIRECT)) {
            if (err_out) *err_out = EINVAL;
            return ARM_MISUSE; /* not an error: the caller falls back */
        }
        return posix_fail(errno, err_out);
    }
    *fd_out = fd;
    return ARM_OK;
}

int arm_io_pread(int fd, void *buf, size_t n, uint64_t off, int *err_out) {
    int inj = arm_io_fault_check(ARM_IO_OP_READ, fd, off, n);
    if (inj) return posix_fail(inj, err_out);
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return posix_fail(errno, err_out);
        }
        if (got == 0) return ARM_ERR(ARM_CORRUPT); /* file shorter than the index says */
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return ARM_OK;
}

static int posix_pwrite_all(int op, int fd, const void *buf, size_t n, uint64_t off,
                            int *err_out) {
    int inj = arm_io_fault_check(op, fd, off, n);
    if (inj) return posix_fail(inj, err_out);
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t put = pwrite(fd, p, n, (off_t)off);
        if (put < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return posix_fail(errno, err_out);
        }
        p += put;
        n -= (size_t)put;
        off += (uint64_t)put;
    }
    return ARM_OK;
}

static int posix_datasync(int op, int fd, int *err_out) {
    int inj = arm_io_fault_check(op, fd, 0, 0);
    if (inj) return posix_fail(inj, err_out);
    /* Retried only when interrupted before doing anything (EINTR). Any
     * other failure is final: the kernel may have dropped the dirty pages,
     * so the caller must treat it as fatal. */
    int r;
    do {
        r = fdatasync(fd);
    } while (r != 0 && errno == EINTR);
    if (r != 0) return posix_fail(errno, err_out);
    return ARM_OK;
}

int arm_io_pwrite(arm_io_ring *ring, int fd, const void *buf, size_t n, uint64_t off,
                  int sync_after, int *err_out) {
    if (ring) return arm_io_ring_write(ring, fd, buf, n, off, sync_after, err_out);
    int rc = posix_pwrite_all(ARM_IO_OP_WRITE, fd, buf, n, off, err_out);
    if (rc == ARM_OK && sync_after) rc = posix_datasync(ARM_IO_OP_SYNC, fd, err_out);
    return rc;
}

int arm_io_datasync(arm_io_ring *ring, int fd, int *err_out) {
    if (ring) return arm_io_ring_datasync(ring, fd, err_out);
    return posix_datasync(ARM_IO_OP_SYNC, fd, err_out);
}

int arm_io_pwrite_as(int op, int fd, const void *buf, size_t n, uint64_t off, int *err_out) {
    return posix_pwrite_all(op, fd, buf, n, off, err_out);
}

int arm_io_datasync_as(int op, int fd, int *err_out) {
    return posix_datasync(op, fd, err_out);
}

int arm_io_truncate(int fd, uint64_t size, int *err_out) {
    while (ftruncate(fd, (off_t)size) != 0) {
        if (errno != EINTR) return posix_fail(errno, err_out);
    }
    return ARM_OK;
}

int arm_io_sync_dir(const char *dir, int *err_out) {
    int inj = arm_io_fault_check(ARM_IO_OP_DIR_SYNC, -1, 0, 0);
    if (inj) return posix_fail(inj, err_out);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return posix_fail(errno, err_out);
    int rc = ARM_OK;
    if (fsync(fd) != 0 && errno != EINVAL) rc = posix_fail(errno, err_out);
    close(fd);
    return rc;
}
