#!/bin/sh
# Install what armdb needs to build and test on Debian (12 or later).
# Runs apt-get directly as root, through sudo otherwise.
set -e
PKGS="build-essential pkg-config python3 sqlite3 libsqlite3-dev liburing-dev libsodium-dev libxxhash-dev clang libclang-rt-14-dev python3-sqlalchemy"
if [ "${ARMDB_CI_EXTRA:-0}" = 1 ]; then PKGS="$PKGS librocksdb-dev liblmdb-dev gnuplot-nox"; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# npm fetches the newest SQLite's amalgamation for make test (test/sqlite/).
# Debian's npm package brings Debian's nodejs; a machine that already has npm
# (e.g. NodeSource's nodejs, which includes it and conflicts with Debian's
# npm package) is left as it is.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
# make test-app compiles better-sqlite3's addon against the Node headers
# installed with Node (test/app/install_better_sqlite3.sh): NodeSource's
# nodejs has them, Debian's nodejs gets them from libnode-dev.
node=$(command -v node 2>/dev/null || true)
if [ -z "$node" ] || [ ! -f "$(dirname "$node")/../include/node/node.h" ]; then
    missing="$missing libnode-dev"
fi
if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
echo "deps: ok"
