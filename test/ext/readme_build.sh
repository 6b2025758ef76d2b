#!/bin/sh
# readme_build.sh AMALG_DIR: run the README's "Linking armdb into an
# application" blocks exactly as written. The C block (after the marker
# `<!-- readme-test: app.c -->`) becomes app.c, the sh block (after
# `<!-- readme-test: build -->`) runs with `sh -e` in a fresh directory
# holding armdb.c and armdb.h from AMALG_DIR, and its output must equal the
# block after `<!-- readme-test: output -->`. Leaves nothing behind.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd -P)
amalg=$(cd "$1" && pwd -P)
readme=$here/README.md
# the fenced block that follows a marker line, without its fences
block() {
    awk -v m="<!-- readme-test: $1 -->" '
        $0 == m { want = 1; next }
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$readme"
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/armdb-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cp "$amalg/armdb.c" "$amalg/armdb.h" "$tmp/"
block app.c > "$tmp/app.c"
block build > "$tmp/build.sh"
block output > "$tmp/expected"
for f in app.c build.sh expected; do
    [ -s "$tmp/$f" ] || { echo "readme: no '$f' block in README.md"; exit 1; }
done
if ! (cd "$tmp" && sh -e build.sh > out 2>&1); then
    echo "readme: the build block of README.md failed:"
    cat "$tmp/out"
    exit 1
fi
if ! diff -u "$tmp/expected" "$tmp/out"; then
    echo "readme: the README's build block printed something else (diff above)"
    exit 1
fi
echo "readme: the amalgamation build lines work as written"
