#!/bin/sh
# Builds the newest SQLite for tests, into OUTDIR (make: build/sqlite-new):
#
#   OUTDIR/lib/libsqlite3.so.0   SQLite $SQLNEW_VERSION from the amalgamation that
#                                better-sqlite3 $SQLNEW_PKG_VERSION bundles (what a
#                                Node application loads armdb into), built with
#                                the compile options of Debian 12's libsqlite3
#   OUTDIR/bin/sqlite3           the system's sqlite3 shell on that library
#   OUTDIR/bin/run CMD [ARG...]  runs CMD with that library first on
#                                LD_LIBRARY_PATH (e.g. bin/run /usr/bin/python3)
#   OUTDIR/include/              sqlite3.h, sqlite3ext.h of that version
#
# The amalgamation comes from the npm registry (`npm pack` downloads the
# package tarball: no install scripts run, no Node version applies), cached in
# $SQLNEW_DL (default build/dl) and checked against the sha256 pinned below.
# Set SQLNEW_TARBALL=/path/to/better-sqlite3-$SQLNEW_PKG_VERSION.tgz to use a
# copy fetched elsewhere (it is checked the same way).
#
# Why the shell is patched: Debian's /usr/bin/sqlite3 links libsqlite3.so.0
# dynamically, but its main() refuses a library whose sqlite3_sourceid()
# differs from the SQLITE_SOURCE_ID it was compiled with ("SQLite header and
# source version mismatch"). A newer library is ABI-compatible with an older
# caller (SQLite's compatibility promise; Python's sqlite3 module makes no such
# check), so bin/sqlite3 runs a copy of the system shell in which that one
# 60-byte constant is replaced by the new library's (patch_shell.py). Keeping
# the system shell, rather than building the newer shell.c, keeps its output
# format (error lines, .mode quote) identical, so the SQL suite's .expected
# files serve both libraries and a difference is the library's.
#
# Exits non-zero with a message saying what to do when npm or the registry is
# unavailable; make test then fails (the Makefile's ARMDB_SKIP_SQLITE_NEW=1 is
# the explicit, printed way to skip locally).
set -eu

SQLNEW_PKG=better-sqlite3
SQLNEW_PKG_VERSION=12.11.1
SQLNEW_PKG_SHA256=ebf0ed75a7a59dbcb3b24bbd014ef49d9f15bc328e4adcbf516f2a8fadfa2835
SQLNEW_VERSION=3.53.2

# Debian 12's libsqlite3 options (`sqlite3 :memory: 'pragma compile_options'`);
# the features among them are checked against the system library below.
# MAX_FUNCTION_ARG, MAX_PAGE_COUNT and DIRECT_OVERFLOW_READ keep 3.53's new
# defaults, as a current distribution's build would.
SQLNEW_DEFS="-DSQLITE_THREADSAFE=1 -DSQLITE_USE_URI=1 -DSQLITE_ENABLE_LOAD_EXTENSION
 -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_UPDATE_DELETE_LIMIT
 -DSQLITE_ENABLE_FTS3 -DSQLITE_ENABLE_FTS3_PARENTHESIS -DSQLITE_ENABLE_FTS3_TOKENIZER
 -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_DBSTAT_VTAB
 -DSQLITE_ENABLE_STMTVTAB -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_ENABLE_PREUPDATE_HOOK
 -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_LIKE_DOESNT_MATCH_BLOBS
 -DSQLITE_SECURE_DELETE -DSQLITE_SOUNDEX -DSQLITE_OMIT_LOOKASIDE -DSQLITE_TEMP_STORE=1
 -DSQLITE_DEFAULT_RECURSIVE_TRIGGERS=1 -DSQLITE_DEFAULT_SECTOR_SIZE=4096
 -DSQLITE_MAX_SCHEMA_RETRY=25 -DSQLITE_MAX_VARIABLE_NUMBER=250000
 -DSQLITE_MAX_DEFAULT_PAGE_SIZE=32768
 -DHAVE_ISNAN -DHAVE_USLEEP -DHAVE_FDATASYNC -DHAVE_LOCALTIME_R -DHAVE_GMTIME_R
 -DHAVE_MALLOC_USABLE_SIZE"

here=$(cd "$(dirname "$0")" && pwd -P)
out=${1:?usage: build_sqlite_new.sh OUTDIR}
case $out in /|.|..|"$HOME") echo "build_sqlite_new.sh: refusing OUTDIR $out" >&2; exit 1 ;; esac
dl=${SQLNEW_DL:-build/dl}
CC=${CC:-cc}
SQLITE3=${SQLITE3:-sqlite3}
PYTHON=${PYTHON:-python3}
tgz=$dl/$SQLNEW_PKG-$SQLNEW_PKG_VERSION.tgz

howto="set SQLNEW_TARBALL=/path/to/$SQLNEW_PKG-$SQLNEW_PKG_VERSION.tgz, or skip locally"
howto="$howto with ARMDB_SKIP_SQLITE_NEW=1"

say() { echo "sqlite-new: $*"; }
die() { echo "sqlite-new: $*" >&2; exit 1; }

# ------------------------------------------------------------- the tarball
sha_ok() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$SQLNEW_PKG_SHA256" ]; }

mkdir -p "$dl"
if [ -f "$tgz" ] && ! sha_ok "$tgz"; then
    mv "$tgz" "$tgz.bad"
    say "cached $tgz failed its sha256 check; moved to $tgz.bad, fetching again"
fi
if [ ! -f "$tgz" ]; then
    if [ -n "${SQLNEW_TARBALL:-}" ]; then
        cp "$SQLNEW_TARBALL" "$tgz.part"
    else
        command -v npm >/dev/null 2>&1 || die "npm not found: it fetches" \
            "$SQLNEW_PKG@$SQLNEW_PKG_VERSION (SQLite $SQLNEW_VERSION) from the npm registry." \
            "Install it (sh .ci/deps.sh), or $howto"
        say "fetching $SQLNEW_PKG@$SQLNEW_PKG_VERSION with npm pack"
        tmp=$(mktemp -d "${TMPDIR:-/tmp}/armdb-npm.XXXXXX")
        if ! (cd "$tmp" && npm pack --loglevel=error --fetch-timeout=60000 --ignore-scripts \
                "$SQLNEW_PKG@$SQLNEW_PKG_VERSION" >/dev/null); then
            rm -rf "$tmp"
            die "npm pack $SQLNEW_PKG@$SQLNEW_PKG_VERSION failed (see above): is the npm" \
                "registry reachable? make test runs the SQL suite on SQLite $SQLNEW_VERSION too;" \
                "fix npm, or $howto"
        fi
        mv "$tmp/$SQLNEW_PKG-$SQLNEW_PKG_VERSION.tgz" "$tgz.part"
        rm -rf "$tmp"
    fi
    sha_ok "$tgz.part" || {
        mv "$tgz.part" "$tgz.bad"
        die "$tgz.bad: sha256 is not the pinned $SQLNEW_PKG_SHA256 ($0)"
    }
    mv "$tgz.part" "$tgz"
fi
say "$tgz: sha256 ok"

# ------------------------------------------------------------- the library
rm -rf "$out"
mkdir -p "$out/src" "$out/lib" "$out/libexec" "$out/bin" "$out/include"
tar -xzf "$tgz" -C "$out/src" --strip-components=3 \
    package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h package/deps/sqlite3/sqlite3ext.h
got=$(sed -n 's/^#define SQLITE_VERSION  *"\(.*\)"$/\1/p' "$out/src/sqlite3.h")
[ "$got" = "$SQLNEW_VERSION" ] || die "$tgz holds SQLite $got, not the pinned $SQLNEW_VERSION"
new_id=$(sed -n 's/^#define SQLITE_SOURCE_ID  *"\(.*\)"$/\1/p' "$out/src/sqlite3.h")
cp "$out/src/sqlite3.h" "$out/src/sqlite3ext.h" "$out/include/"
say "compiling SQLite $SQLNEW_VERSION (about a minute)"
# shellcheck disable=SC2086 # SQLNEW_DEFS is a list of words
"$CC" -O2 -fPIC -shared -Wl,-soname,libsqlite3.so.0 $SQLNEW_DEFS \
    -o "$out/lib/libsqlite3.so.0" "$out/src/sqlite3.c" -lm -ldl -lpthread
ln -s libsqlite3.so.0 "$out/lib/libsqlite3.so"

# ------------------------------------------------------ shell and wrappers
shell=$(command -v "$SQLITE3") || die "$SQLITE3 not found (sh .ci/deps.sh installs sqlite3)"
old_id=$("$SQLITE3" :memory: 'select sqlite_source_id()')
"$PYTHON" "$here/patch_shell.py" "$shell" "$out/libexec/sqlite3" "$old_id" "$new_id"
cat > "$out/bin/run" <<'EOF'
#!/bin/sh
# Runs a command with this directory's libsqlite3.so.0 first on LD_LIBRARY_PATH.
lib=$(cd "$(dirname "$0")/../lib" && pwd -P)
LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$@"
EOF
cat > "$out/bin/sqlite3.tmp" <<'EOF'
#!/bin/sh
# The system sqlite3 shell on this directory's libsqlite3.so.0.
top=$(cd "$(dirname "$0")/.." && pwd -P)
LD_LIBRARY_PATH="$top/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$top/libexec/sqlite3" "$@"
EOF
chmod +x "$out/bin/run" "$out/bin/sqlite3.tmp"

# ------------------------------------------------------------------ checks
got=$("$out/bin/sqlite3.tmp" :memory: 'select sqlite_version()')
[ "$got" = "$SQLNEW_VERSION" ] || die "$out/bin/sqlite3 runs SQLite '$got', not $SQLNEW_VERSION"
py=/usr/bin/python3
[ -x "$py" ] || py=$PYTHON
got=$("$out/bin/run" "$py" -c 'import sqlite3; print(sqlite3.sqlite_version)')
[ "$got" = "$SQLNEW_VERSION" ] ||
    die "$py under $out/bin/run sees SQLite '$got', not $SQLNEW_VERSION"
# Every feature the system library was built with must be in ours too (the
# values that are defaults of their version, like MAX_PAGE_COUNT, may differ).
features='^(ENABLE_|OMIT_|THREADSAFE|USE_URI|SECURE_DELETE|SOUNDEX|LIKE_DOESNT_MATCH_BLOBS'
features="$features|TEMP_STORE|DEFAULT_RECURSIVE_TRIGGERS|DEFAULT_SECTOR_SIZE|MAX_SCHEMA_RETRY"
features="$features|MAX_VARIABLE_NUMBER|MAX_DEFAULT_PAGE_SIZE)"
"$SQLITE3" :memory: 'pragma compile_options' | grep -E "$features" | sort > "$out/options.system"
"$out/bin/sqlite3.tmp" :memory: 'pragma compile_options' | sort > "$out/options.new"
missing=$(comm -23 "$out/options.system" "$out/options.new" | tr '\n' ' ')
[ -z "$missing" ] ||
    die "built without options the system SQLite has: $missing(SQLNEW_DEFS in $0)"
mv "$out/bin/sqlite3.tmp" "$out/bin/sqlite3"
say "$out/bin/sqlite3: SQLite $SQLNEW_VERSION" \
    "($(wc -l < "$out/options.system") compile options of the system SQLite matched)"
