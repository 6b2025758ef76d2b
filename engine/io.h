/* SPDX-License-Identifier: MIT */
/*
 * io.h: the engine's I/O seam, private to engine/. Every read, write, sync
 * and truncate of a data file goes through these functions, so errno turns
 * into an ARM_* code in one place (io_posix.c, io_uring.c) and EINTR/EAGAIN
 * never escape. A shard that writes with O_DIRECT owns an arm_io_ring
 * (io_uring), which submits a write and its fdatasync as one linked pair.
 */
#ifndef ARM_IO_H
#define ARM_IO_H

#include "../common/arm_base.h"

#define ARM_IO_BLOCK 4096u /* O_DIRECT alignment for offsets, lengths and buffers */

typedef struct arm_io_ring arm_io_ring;

/* Open flags. */
#define ARM_IO_O_CREATE 0x1 /* create (exclusive) */
#define ARM_IO_O_DIRECT 0x2 /* O_DIRECT: caller honours ARM_IO_BLOCK alignment */
#define ARM_IO_O_RDONLY 0x4

/* Map errno to an rc: ENOSPC/EDQUOT -> ARM_FULL, ENOMEM -> ARM_NOMEM,
 * EWOULDBLOCK on a lock -> ARM_BUSY, everything else ARM_IOERR. */
ARM_PRIVATE int arm_io_errno_rc(int err);

/* Open path; *fd_out set on ARM_OK. With ARM_IO_O_DIRECT, EINVAL from the
 * file system (tmpfs and others refuse O_DIRECT) is returned as ARM_MISUSE so
 * the caller can fall back to buffered I/O. *err_out gets errno on failure. */
ARM_PRIVATE int arm_io_open(const char *path, int flags, int *fd_out, int *err_out);

/* Read exactly n bytes at off. A short read (end of file) is ARM_CORRUPT. */
ARM_PRIVATE int arm_io_pread(int fd, void *buf, size_t n, uint64_t off, int *err_out);

/* Write exactly n bytes at off, then fdatasync if sync_after. With a ring the
 * write and the sync are submitted together (linked); without one, pwrite
 * and fdatasync. buf belongs to the ring until this returns. */
ARM_PRIVATE int arm_io_pwrite(arm_io_ring *ring, int fd, const void *buf, size_t n, uint64_t off,
                              int sync_after, int *err_out);
ARM_PRIVATE int arm_io_datasync(arm_io_ring *ring, int fd, int *err_out);
ARM_PRIVATE int arm_io_truncate(int fd, uint64_t size, int *err_out);
/* fsync a directory so a create/rename/unlink in it is durable. */
ARM_PRIVATE int arm_io_sync_dir(const char *dir, int *err_out);

/* io_uring, one ring per writer (rings are not thread-safe; the shard's log
 * mutex serialises its ring). ARM_IOERR when io_uring is unavailable
 * (old kernel, seccomp): callers fall back to plain syscalls. */
ARM_PRIVATE int arm_io_ring_new(unsigned depth, arm_io_ring **ring_out);
ARM_PRIVATE void arm_io_ring_free(arm_io_ring *ring);
ARM_PRIVATE int arm_io_ring_write(arm_io_ring *ring, int fd, const void *buf, size_t n, uint64_t off,
                                  int sync_after, int *err_out);
ARM_PRIVATE int arm_io_ring_datasync(arm_io_ring *ring, int fd, int *err_out);

/* Write exactly n bytes at off (plain pwrite), or fdatasync, for a file that
 * is not a data file, telling the fault hook which kind of op it is (hint
 * files: ARM_IO_OP_HINT_*, so a hook aimed at data files never sees them). */
ARM_PRIVATE int arm_io_pwrite_as(int op, int fd, const void *buf, size_t n, uint64_t off,
                                 int *err_out);
ARM_PRIVATE int arm_io_datasync_as(int op, int fd, int *err_out);

/* Test seam: when set (tests only), called before every write/sync/read with
 * the operation kind and returns 0 or an errno to inject. Data files are
 * WRITE, SYNC and READ; hint files HINT_WRITE and HINT_SYNC; directories DIR_SYNC. */
enum {
    ARM_IO_OP_WRITE = 1,
    ARM_IO_OP_SYNC = 2,
    ARM_IO_OP_READ = 3,
    ARM_IO_OP_HINT_WRITE = 4,
    ARM_IO_OP_HINT_SYNC = 5,
    ARM_IO_OP_DIR_SYNC = 6, /* fsync of a directory (fd -1): a crash point between renames
                               and unlinks (compaction's retirements) */
};
typedef int (*arm_io_fault_fn)(int op, int fd, uint64_t off, size_t n);
#ifndef ARM_AMALGAMATION
ARM_PRIVATE void arm_io_set_fault_hook(arm_io_fault_fn fn);
#endif
ARM_PRIVATE int arm_io_fault_check(int op, int fd, uint64_t off, size_t n);

#endif
