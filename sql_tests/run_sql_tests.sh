#!/bin/sh
# SQL golden tests (STYLE.md 10.2): every sql_tests/<area>/<name>.sql runs
# through the real sqlite3 shell in a fresh temporary directory and its output
# (stderr included: error messages are part of the contract) is compared with
# <name>.expected.
#
# Environment:
#   ARMDB_SO     extension path without .so (default build/armdb); every line
#                `.load build/armdb` in a script is rewritten to it (absolute)
#   SQLITE3      the shell (default sqlite3)
#   UPDATE=1     rewrite the .expected files instead of comparing
#   SQL_PRELOAD  sanitizer runtimes to LD_PRELOAD into the shell
#   SQL_FILTER   run only the tests whose path contains this string
# Scripts may start a second shell with `.system "$SQLITE3" ...`; $ARMDB (the
# absolute extension path), $SQLITE3 and $SQL_TESTS (this directory, for
# helper scripts such as fit/hold.sh) are exported for that. The temporary
# directory's path is printed as <tmp> so output does not depend on it.
# Prints PASS/FAIL per test and `sql: N passed, N failed`; exits 1 on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd -P)
root=$(cd "$here/.." && pwd -P)
so=${ARMDB_SO:-build/armdb}
case $so in /*) ;; *) so=$root/$so ;; esac
SQLITE3=${SQLITE3:-sqlite3}
ARMDB=$so
SQL_TESTS=$here
export SQLITE3 ARMDB SQL_TESTS
[ -f "$so.so" ] || { echo "sql: $so.so not found (make build/armdb.so)"; exit 1; }
lsan_supp=$here/lsan.supp
if [ -f "$lsan_supp" ]; then
    LSAN_OPTIONS="suppressions=$lsan_supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    export LSAN_OPTIONS
fi

pass=0
fail=0
for sql in $(find "$here" -name '*.sql' | sort); do
    name=${sql#"$here"/}
    case $name in *"${SQL_FILTER:-}"*) ;; *) continue ;; esac
    exp=${sql%.sql}.expected
    out=${sql%.sql}.out
    if [ "$(head -n 1 "$sql")" != ".load build/armdb" ]; then
        echo "FAIL $name (first line must be .load build/armdb)"
        fail=$((fail + 1))
        continue
    fi
    tmp=$(cd "$(mktemp -d "${TMPDIR:-/tmp}/armdb-sql.XXXXXX")" && pwd -P)
    sed "s#^\.load build/armdb\$#.load $so#" "$sql" > "$tmp/test.sql"
    (
        cd "$tmp" || exit 1
        if [ -n "${SQL_PRELOAD:-}" ]; then
            LD_PRELOAD="$SQL_PRELOAD" "$SQLITE3" -batch -init /dev/null :memory: < test.sql
        else
            "$SQLITE3" -batch -init /dev/null :memory: < test.sql
        fi
        echo "exit: $?"
    ) 2>&1 | sed "s#$tmp#<tmp>#g" > "$out"
    rm -rf "$tmp"
    if [ "${UPDATE:-}" = 1 ]; then
        cp "$out" "$exp"
        echo "UPDATED $name"
        pass=$((pass + 1))
    elif [ -f "$exp" ] && diff -u "$exp" "$out" > "$out.diff"; then
        rm -f "$out.diff"
        echo "PASS $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name"
        if [ -f "$exp" ]; then head -n 60 "$out.diff"; else echo "  (no $exp)"; fi
        rm -f "$out.diff"
        fail=$((fail + 1))
    fi
done
echo "sql: $pass passed, $fail failed"
[ $fail -eq 0 ]
