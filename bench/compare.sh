#!/bin/sh
# SPDX-License-Identifier: MIT
# compare.sh: before/after numbers for one change, measured in the same window.
# Builds the baseline <git-ref> (git archive into build-base/<commit>/src,
# MODE=release) and the current tree (MODE=release O=build-rel), then runs the
# *current* bench_sql against each side's armdb.so (-e), alternating sides
# (before, after; then after, before; ...) so load from other processes hits
# both alike, RUNS times each. Only the extension differs, so the workload is
# the same even when the baseline's own bench_sql lacks newer phases. With -p,
# bench_peers' durable phases also run for both sides: the current
# bench_peers.c compiled against each side's engine (the engine is linked in).
# Prints, per metric, the median before and after, after/before, and each
# side's spread ((max - min) / median, ! above 10%).
#
#   bench/compare.sh [-p] [-a] [-o DIR] [-P 'PEERS ARGS'] <git-ref> [runs] [-- bench_sql args...]
#     -p   also bench_peers (default args: --only armdb,rocksdb --phases durable,durable_mt)
#     -P   bench_peers args instead of those (implies -p)
#     -a   also show the *_percpu metrics
#     -o   keep the logs in DIR (default: a new mktemp dir, printed)
#   e.g. bench/compare.sh 8d5b01c 3 -- --phases new
#        bench/compare.sh -p main 3 -- -n 300000
set -eu
peers=0
all=0
out=
peers_args="--only armdb,rocksdb --phases durable,durable_mt"
while getopts pao:P: opt; do
    case $opt in
    p) peers=1 ;;
    a) all=1 ;;
    o) out=$OPTARG ;;
    P) peers=1; peers_args=$OPTARG ;;
    *) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1; }
ref=$1; shift
runs=3
if [ $# -ge 1 ] && [ "$1" != "--" ]; then runs=$1; shift; fi
[ $# -ge 1 ] && [ "$1" = "--" ] && shift
sql_args="$*"

here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel)
sha=$(git -C "$root" rev-parse --verify "$ref^{commit}")
short=$(git -C "$root" rev-parse --short=12 "$sha")
base=$root/build-base/$short
out=${out:-$(mktemp -d "${TMPDIR:-/tmp}/compare.XXXXXX")}
mkdir -p "$out"
jobs=${JOBS:-2}

say() { echo "compare.sh: $*"; }

# ------------------------------------------------------------------ builds
# The baseline's sources come from git, never from a work tree, so local edits
# cannot leak into "before". The current side is the work tree as it is.
if [ ! -f "$base/src/.complete" ]; then
    say "extracting $short into $base/src"
    rm -rf "$base/src"
    mkdir -p "$base/src"
    git -C "$root" archive "$sha" | tar -x -C "$base/src"
    touch "$base/src/.complete"
fi
say "building baseline $short (MODE=release) in $base/src/build"
make -s -C "$base/src" -j"$jobs" MODE=release O=build WERROR=0 build/armdb.so >"$out/build-base.log" 2>&1 ||
    { tail -20 "$out/build-base.log"; say "baseline build failed (log: $out/build-base.log)"; exit 1; }
say "building the current tree (MODE=release) in $root/build-rel"
targets="build-rel/armdb.so build-rel/bench/bench_sql"
[ "$peers" = 1 ] && targets="$targets build-rel/bench/bench_peers"
# shellcheck disable=SC2086
make -s -C "$root" -j"$jobs" MODE=release O=build-rel $targets >"$out/build-cur.log" 2>&1 ||
    { tail -20 "$out/build-cur.log"; say "current build failed (log: $out/build-cur.log)"; exit 1; }
if [ "$peers" = 1 ]; then
    # today's bench_peers.c, linked with the baseline's engine
    cp "$root"/bench/*.c "$root"/bench/*.h "$base/src/bench/"
    make -s -C "$base/src" -j"$jobs" MODE=release O=build WERROR=0 build/bench/bench_peers >>"$out/build-base.log" 2>&1 ||
        { tail -20 "$out/build-base.log"; say "bench_peers does not build against the baseline engine"; exit 1; }
fi

sql=$root/build-rel/bench/bench_sql
so_before=$base/src/build/armdb.so
so_after=$root/build-rel/armdb.so
peers_before=$base/src/build/bench/bench_peers
peers_after=$root/build-rel/bench/bench_peers

# A tiny run against each extension first: a baseline that cannot serve the
# current workload fails here in seconds, not after the first long run.
for so in "$so_before" "$so_after"; do
    "$sql" -e "$so" --phases autocommit,multi,durable --autocommit-rows 20 --multi-txns 10 --multi-rows 50 \
        --durable-ms 20 --rounds 1 --only armdb >"$out/preflight.log" 2>&1 ||
        { cat "$out/preflight.log"; say "bench_sql cannot run against $so"; exit 1; }
done

# -------------------------------------------------------------------- runs
run_one() { # SIDE I
    if [ "$1" = before ]; then so=$so_before; pb=$peers_before; else so=$so_after; pb=$peers_after; fi
    log=$out/sql.$1.$2.log
    say "run $2/$runs $1: bench_sql -e $so $sql_args"
    # shellcheck disable=SC2086
    "$sql" -e "$so" $sql_args >"$log" 2>&1 || { cat "$log"; say "bench_sql failed ($1, run $2)"; exit 1; }
    if [ "$peers" = 1 ]; then
        log=$out/peers.$1.$2.log
        say "run $2/$runs $1: bench_peers $peers_args"
        # shellcheck disable=SC2086
        "$pb" $peers_args >"$log" 2>&1 || { cat "$log"; say "bench_peers failed ($1, run $2)"; exit 1; }
    fi
}

say "baseline $short ($(git -C "$root" log -1 --format=%s "$sha" | cut -c1-60))"
say "current  $(git -C "$root" rev-parse --short=12 HEAD)$(git -C "$root" diff --quiet HEAD -- . 2>/dev/null || echo ' + uncommitted changes')"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "logs in $out; load average at start: $load_start"
i=1
while [ "$i" -le "$runs" ]; do
    if [ $((i % 2)) -eq 1 ]; then run_one before "$i"; run_one after "$i"
    else run_one after "$i"; run_one before "$i"; fi
    i=$((i + 1))
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------- table
table() { # PROGRAM
    awk -v raw=1 -f "$here/medians.awk" "$out/$1".before.*.log >"$out/$1.before.medians"
    awk -v raw=1 -f "$here/medians.awk" "$out/$1".after.*.log >"$out/$1.after.medians"
    echo
    echo "$1: medians of $runs runs each (before = $short, after = current tree)"
    awk -v all="$all" '
        FNR == 1 { f++ }
        f == 1 { b[$1] = $2; bs[$1] = $2 != 0 ? 100 * ($4 - $3) / ($2 < 0 ? -$2 : $2) : 0; next }
        {
            k = $1
            if (!all && k ~ /_percpu$/) next
            as = $2 != 0 ? 100 * ($4 - $3) / ($2 < 0 ? -$2 : $2) : 0
            if (!(k in b)) { printf "  %-32s %14s %14.6g %9s   %6s  %5.1f%%\n", k, "-", $2, "-", "-", as; next }
            r = b[k] != 0 ? $2 / b[k] : 0
            printf "  %-32s %14.6g %14.6g %8.3fx   %5.1f%%%s %5.1f%%%s\n", k, b[k], $2, r,
                   bs[k], (bs[k] > 10 ? "!" : " "), as, (as > 10 ? "!" : " ")
        }' "$out/$1.before.medians" "$out/$1.after.medians" |
        { printf "  %-32s %14s %14s %9s   %-7s %-7s\n" metric before after after/bef spread/b spread/a; cat; }
}
table sql
[ "$peers" = 1 ] && table peers
echo
say "load average (1, 5, 15 min) at start: $load_start, at end: $load_end (logs: $out)"
