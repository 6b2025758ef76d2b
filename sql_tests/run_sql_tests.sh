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
# sql_tests/differential/ holds the differential suite (run_differential.py),
# not golden tests, and is skipped here.
#
# Per-version expected output: where a script's output legitimately differs
# between SQLite versions (an error message SQLite reworded, the EXPLAIN QUERY
# PLAN format), <name>.expected.VVVV holds the output for SQLite versions
# M.NNN.* (VVVV = M*1000 + NNN: 3053 for 3.53.x, 3040 for 3.40.x) and is used
# instead of <name>.expected when the shell's library is that version. UPDATE=1
# rewrites the file that was compared (create the .VVVV file by hand first).
# A shell killed by a signal (a crash in armdb or SQLite) fails its script
# with the signal named, whatever the expected file says.
# Prints the SQLite version, PASS/FAIL per test and `sql: N passed, N failed`;
# exits 1 on failure.
set -u
here=$(cd "$(dirname "$0")" && pwd -P)
root=$(cd "$here/.." && pwd -P)
so=${ARMDB_SO:-build/armdb}
case $so in /*) ;; *) so=$root/$so ;; esac
SQLITE3=${SQLITE3:-sqlite3}
# a relative path must still name the shell from inside the temporary directory
case $SQLITE3 in /*) ;; */*) SQLITE3=$(pwd -P)/$SQLITE3 ;; esac
ARMDB=$so
SQL_TESTS=$here
export SQLITE3 ARMDB SQL_TESTS
[ -f "$so.so" ] || { echo "sql: $so.so not found (make build/armdb.so)"; exit 1; }
version=$("$SQLITE3" -batch -init /dev/null :memory: 'select sqlite_version()') ||
    { echo "sql: $SQLITE3 does not run"; exit 1; }
vsuffix=$(echo "$version" | awk -F. '{ printf "%d%03d", $1, $2 }')
echo "sql: SQLite $version ($SQLITE3), ${ARMDB_SO:-build/armdb}.so"
lsan_supp=$here/lsan.supp
if [ -f "$lsan_supp" ]; then
    LSAN_OPTIONS="suppressions=$lsan_supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    export LSAN_OPTIONS
fi

pass=0
fail=0
for sql in $(find "$here" -path "$here/differential" -prune -o -name '*.sql' -print | sort); do
    name=${sql#"$here"/}
    case $name in *"${SQL_FILTER:-}"*) ;; *) continue ;; esac
    exp=${sql%.sql}.expected
    [ -f "$exp.$vsuffix" ] && exp=$exp.$vsuffix
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
    rc=$(tail -n 1 "$out" | sed -n 's/^exit: \([0-9]*\)$/\1/p')
    crash=""
    if [ "${rc:-0}" -gt 128 ]; then
        sig=$((rc - 128))
        crash=" (CRASH: the shell was killed by signal $sig, SIG$(kill -l $sig 2>/dev/null))"
    fi
    if [ "${UPDATE:-}" = 1 ] && [ -z "$crash" ]; then
        cp "$out" "$exp"
        echo "UPDATED ${exp#"$here"/}"
        pass=$((pass + 1))
    elif [ -z "$crash" ] && [ -f "$exp" ] && diff -u "$exp" "$out" > "$out.diff"; then
        rm -f "$out.diff"
        case $exp in *.expected) echo "PASS $name" ;; *) echo "PASS $name (${exp##*/})" ;; esac
        pass=$((pass + 1))
    else
        echo "FAIL $name$crash"
        if [ -f "$exp" ]; then
            diff -u "$exp" "$out" | head -n 60
        else
            echo "  (no $exp)"
        fi
        rm -f "$out.diff"
        fail=$((fail + 1))
    fi
done
echo "sql: $pass passed, $fail failed"
[ $fail -eq 0 ]
