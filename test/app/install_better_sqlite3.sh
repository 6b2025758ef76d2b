#!/bin/sh
# Installs better-sqlite3 for test/app/app_better_sqlite3.js into OUTDIR
# (make: build/node): OUTDIR/node_modules/better-sqlite3, its addon compiled
# here against the installed Node. Needs no network but the npm registry:
#
#   - the package is the one test/sqlite/build_sqlite_new.sh builds the newest
#     SQLite from (its version and sha256 are read from that script, so the
#     Node application runs on the same SQLite as make test-sql-new), from the
#     same cache ($SQLNEW_DL, default build/dl), fetched by `npm pack` when
#     missing and checked against the pinned sha256;
#   - `npm install --build-from-source` fetches its two small dependencies
#     from the registry and skips prebuild-install (which would download a
#     prebuilt addon from GitHub); node-gyp compiles the addon with its
#     bundled SQLite (about two minutes, once);
#   - npm_config_nodedir points node-gyp at the Node headers installed with
#     Node (PREFIX/include/node: NodeSource's nodejs has them, Debian's comes
#     with libnode-dev; sh .ci/deps.sh installs it), so no headers download.
#
# better-sqlite3 12 supports Node 20 and later: Debian 13's nodejs, or
# NodeSource's on Debian 12; Debian 12's own nodejs (18) is tried, with a
# warning (its addon compiles; it was not run here). Exits non-zero with a
# message saying what is missing. OUTDIR/installed is written last: the
# Makefile reinstalls only when it is missing or this script changes.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
pins=$here/../sqlite/build_sqlite_new.sh
out=${1:?usage: install_better_sqlite3.sh OUTDIR}
case $out in /|.|..|"$HOME") echo "install_better_sqlite3.sh: refusing OUTDIR $out" >&2; exit 1 ;; esac
dl=${SQLNEW_DL:-build/dl}

say() { echo "better-sqlite3: $*"; }
die() { echo "better-sqlite3: $*" >&2; exit 1; }

pin() { sed -n "s/^$1=\\([^ ]*\\)\$/\\1/p" "$pins"; }
pkg=$(pin SQLNEW_PKG)
ver=$(pin SQLNEW_PKG_VERSION)
sha=$(pin SQLNEW_PKG_SHA256)
[ "$pkg" = better-sqlite3 ] && [ -n "$ver" ] && [ -n "$sha" ] ||
    die "no better-sqlite3 pin (SQLNEW_PKG, SQLNEW_PKG_VERSION, SQLNEW_PKG_SHA256) in $pins"

command -v node >/dev/null 2>&1 || die "node not found (sh .ci/deps.sh installs npm and Node)"
command -v npm >/dev/null 2>&1 || die "npm not found (sh .ci/deps.sh installs it)"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || die "$pkg $ver needs Node 20 or later; this is Node $(node -v)"
# Node 18 (Debian 12's nodejs): upstream dropped it in better-sqlite3 12, but
# the addon still compiles against its headers (checked with Debian's 18.20.4
# headers); whether it loads is checked below, after the install.
[ "$major" -ge 20 ] || say "warning: $pkg $ver supports Node 20 and later; trying Node $(node -v)"
prefix=$(cd "$(dirname "$(node -p process.execPath)")/.." && pwd -P)
nodedir=${npm_config_nodedir:-$prefix}
[ -f "$nodedir/include/node/node.h" ] && [ -f "$nodedir/include/node/common.gypi" ] ||
    die "no Node headers in $nodedir/include/node (Debian: apt-get install libnode-dev;" \
        "or set npm_config_nodedir to a Node source or headers directory)"
hdr=$(sed -n 's/^#define NODE_MAJOR_VERSION \([0-9]*\)$/\1/p' "$nodedir/include/node/node_version.h")
[ "$hdr" = "$major" ] ||
    die "$nodedir/include/node holds Node $hdr's headers, but node is $(node -v)"

# ------------------------------------------------------------- the tarball
tgz=$dl/$pkg-$ver.tgz
sha_ok() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha" ]; }
mkdir -p "$dl"
if [ -f "$tgz" ] && ! sha_ok "$tgz"; then
    mv "$tgz" "$tgz.bad"
    say "cached $tgz failed its sha256 check; moved to $tgz.bad, fetching again"
fi
if [ ! -f "$tgz" ]; then
    say "fetching $pkg@$ver with npm pack"
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/armdb-npm.XXXXXX")
    (cd "$tmp" && npm pack --loglevel=error --fetch-timeout=60000 --ignore-scripts \
        "$pkg@$ver" >/dev/null) || { rm -rf "$tmp"; die "npm pack $pkg@$ver failed (see above):" \
        "is the npm registry reachable?"; }
    mv "$tmp/$pkg-$ver.tgz" "$tgz.part"
    rm -rf "$tmp"
    sha_ok "$tgz.part" || { mv "$tgz.part" "$tgz.bad"; die "$tgz.bad: sha256 is not $sha"; }
    mv "$tgz.part" "$tgz"
fi

# ------------------------------------------------------------- the install
tgz_abs=$(cd "$(dirname "$tgz")" && pwd -P)/$(basename "$tgz")
rm -rf "$out"
mkdir -p "$out"
echo '{ "private": true, "description": "better-sqlite3 for test/app (generated)" }' \
    > "$out/package.json"
say "npm install $tgz --build-from-source (Node $(node -v), headers from $nodedir; about two minutes)"
(cd "$out" && npm_config_nodedir=$nodedir npm install --no-save --no-audit --no-fund \
    --loglevel=error --fetch-timeout=60000 --build-from-source "$tgz_abs") || {
    rm -rf "$out"
    die "npm install failed (see above): the npm registry for its dependencies, a C++ compiler" \
        "(build-essential) and python3 for node-gyp are needed"
}
got=$(cd "$out" && node -e '
const D = require("better-sqlite3");
const db = new D(":memory:");
process.stdout.write(require("better-sqlite3/package.json").version + " " +
    db.prepare("select sqlite_version()").pluck().get());') ||
    { rm -rf "$out"; die "the installed better-sqlite3 does not load"; }
want="$ver $(pin SQLNEW_VERSION)"
[ "$got" = "$want" ] || { rm -rf "$out"; die "installed $got, expected $want"; }
echo "$pkg $ver, SQLite ${got#* }, Node $(node -v)" > "$out/installed"
say "$out/node_modules/$pkg: $pkg $ver on SQLite ${got#* }"
