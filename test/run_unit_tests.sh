#!/bin/sh
# Runs each unit-test program; exit 0 = pass, 77 = skip, anything else = fail.
# Prints one closing line: N passed, N failed, N skipped.
pass=0; fail=0; skip=0; failed=""
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    case $rc in
    0) pass=$((pass + 1)); echo "PASS $t";;
    77) skip=$((skip + 1)); echo "SKIP $t";;
    *) fail=$((fail + 1)); failed="$failed $t"; echo "FAIL $t (exit $rc)"; echo "$out" | tail -n 30;;
    esac
done
echo "unit: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
