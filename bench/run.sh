#!/bin/sh
# SPDX-License-Identifier: MIT
# run.sh: run a benchmark several times and print the median of every metric
# it reports ("@ <metric> <value>" lines, medians.awk), with the spread of the
# runs (flagged with ! above 10%). Each run's full output is kept in $OUT
# (default: a mktemp dir) so outliers can be inspected.
#
#   bench/run.sh [-r RUNS] BINARY [ARGS...]      e.g. bench/run.sh -r 5 build/bench/bench_engine --quick
#   bench/run.sh [-r RUNS]                       both benchmarks with default arguments
set -eu
runs=3
if [ "${1:-}" = "-r" ]; then runs=$2; shift 2; fi
if [ $# -eq 0 ]; then
    "$0" -r "$runs" build/bench/bench_engine
    "$0" -r "$runs" build/bench/bench_sql
    exit 0
fi
bin=$1; shift
[ -x "$bin" ] || { echo "run.sh: $bin is not built (make bench, or make $bin)" >&2; exit 1; }
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/bench_run.XXXXXX")}
mkdir -p "$out"
name=$(basename "$bin")
i=1
while [ "$i" -le "$runs" ]; do
    log="$out/$name.$i.log"
    echo "== run $i/$runs: $bin $*  (log: $log)"
    if ! "$bin" "$@" >"$log" 2>&1; then
        cat "$log"
        echo "run.sh: $bin failed on run $i" >&2
        exit 1
    fi
    grep -E '^(PASS|MISS):' "$log" || true
    i=$((i + 1))
done
echo "== $name: medians over $runs runs ($*)"
awk -f "$(dirname "$0")/medians.awk" "$out"/"$name".*.log
