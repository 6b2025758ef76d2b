#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Copy a dynamically linked sqlite3 shell so that it accepts a newer library.

usage: patch_shell.py SHELL OUT OLD_SOURCE_ID NEW_SOURCE_ID

The shell's main() compares the first 60 characters of sqlite3_sourceid()
with the SQLITE_SOURCE_ID it was compiled with and exits on a mismatch. OUT is
SHELL with that one compiled-in constant (date, time and the first 40 hex
digits of the check-in) replaced by the new library's; nothing else changes.
OLD_SOURCE_ID is what the system library reports (the shell runs on it, so the
two agree). Fails unless the old prefix occurs exactly once. Used by
build_sqlite_new.sh; see the reasoning there.
"""
import os
import sys

PREFIX_LEN = 60  # what the shell compares (strncmp(..., 60) in shell.c main())


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__.strip().splitlines()[2])
    shell, out, old_id, new_id = argv[1:]
    old = old_id.encode()[:PREFIX_LEN]
    new = new_id.encode()[:PREFIX_LEN]
    if len(old) != PREFIX_LEN or len(new) != PREFIX_LEN:
        sys.exit(f"patch_shell: source ids shorter than {PREFIX_LEN} bytes: {old_id!r} {new_id!r}")
    with open(shell, "rb") as f:
        image = f.read()
    found = image.count(old)
    if found != 1:
        sys.exit(f"patch_shell: {shell} holds the source id {old.decode()!r} {found} times, "
                 "expected once (not the shell that goes with the system libsqlite3?)")
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(image.replace(old, new))
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)


if __name__ == "__main__":
    main(sys.argv)
