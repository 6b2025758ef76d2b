#!/bin/sh
# SPDX-License-Identifier: MIT
# trace_durable.sh: where a durable commit's time goes, per engine. Runs
# bench_peers' durable phases (1 thread, then T threads) for each engine on a
# fresh database under `strace -f -c -w` (every syscall counted, wall time
# spent in each) and under `perf stat` (CPU time, context switches), and prints
# per-commit figures: fdatasync/fsync calls per commit says whether each commit
# really reached the disk before returning (1 per commit on one thread; fewer
# when concurrent commits share a sync), pwrite/write per commit how the bytes
# got there. Each measurement is run twice, with N commits and with 1 commit
# per thread, and the difference is divided by the difference in commits, so
# opening, the mode switch and closing do not count.
#
#   bench/trace_durable.sh [-b BENCH_PEERS] [-e ENGINES] [-c COMMITS] [-m COMMITS_PER_THREAD] [-t THREADS]
#     ENGINES: comma-separated armdb,rocksdb,lmdb (default armdb,rocksdb)
#   e.g. bench/trace_durable.sh -e armdb,rocksdb,lmdb -c 2000 -m 500
set -eu
bin=build-rel/bench/bench_peers
[ -x "$bin" ] || bin=build/bench/bench_peers
engines=armdb,rocksdb
commits=2000
per_thread=500
threads=8
while getopts b:e:c:m:t: opt; do
    case $opt in
    b) bin=$OPTARG ;;
    e) engines=$OPTARG ;;
    c) commits=$OPTARG ;;
    m) per_thread=$OPTARG ;;
    t) threads=$OPTARG ;;
    *) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 1 ;;
    esac
done
[ -x "$bin" ] || { echo "trace_durable.sh: $bin is not built (make MODE=release O=build-rel build-rel/bench/bench_peers)" >&2; exit 1; }
command -v strace >/dev/null || { echo "trace_durable.sh: strace is not installed" >&2; exit 1; }
have_perf=0
perf stat -e task-clock true >/dev/null 2>&1 && have_perf=1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/trace_durable.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

measure() { # ENGINE PHASE OPS_1THREAD OPS_PER_THREAD TAG
    n=$(( $3 + $4 * threads + 16 ))
    args="-n $n --only $1 --phases $2 --sync-ops $3 --mt-ops $4 -t $threads"
    # shellcheck disable=SC2086
    strace -f -c -w -o "$tmp/$5.strace" "$bin" $args -d "$tmp/db.$5.s" >"$tmp/$5.out" 2>&1 ||
        { cat "$tmp/$5.out"; echo "trace_durable.sh: bench_peers failed under strace" >&2; exit 1; }
    rm -rf "$tmp/db.$5.s"
    if [ "$have_perf" = 1 ]; then
        # shellcheck disable=SC2086
        perf stat -x, -e task-clock,context-switches,cpu-migrations,page-faults -o "$tmp/$5.perf" \
            "$bin" $args -d "$tmp/db.$5.p" >"$tmp/$5.pout" 2>&1 ||
            { cat "$tmp/$5.pout"; echo "trace_durable.sh: bench_peers failed under perf" >&2; exit 1; }
        rm -rf "$tmp/db.$5.p"
    fi
}

# per_commit TAG_BIG TAG_SMALL COMMIT_DIFF: one line per syscall, sorted by calls per commit
per_commit() {
    awk -v d="$3" '
        FNR == 1 { f++ }
        /^[ ]*[0-9]/ && $NF != "total" {
            name = $NF; calls = $4; secs = $2
            if (f == 1) { c1[name] = calls; s1[name] = secs } else { c2[name] = calls; s2[name] = secs }
            seen[name] = 1
        }
        END {
            for (k in seen) {
                pc = (c1[k] - c2[k]) / d
                us = (s1[k] - s2[k]) * 1e6 / d
                if (pc >= 0.05) printf "    %-16s %8.2f calls/commit %10.1f us/commit (wall, in the call)\n", k, pc, us
            }
        }' "$tmp/$1.strace" "$tmp/$2.strace" | sort -k2,2gr
}

perf_commit() { # TAG_BIG TAG_SMALL COMMIT_DIFF
    [ "$have_perf" = 1 ] || { echo "    (perf stat unavailable)"; return; }
    awk -F, -v d="$3" '
        FNR == 1 { f++ }
        $3 != "" && $1 ~ /^[0-9.]+$/ { if (f == 1) a[$3] = $1; else b[$3] = $1 }
        END {
            printf "    perf stat: %.1f us CPU/commit (task-clock, all threads), %.2f context switches/commit, %.3f migrations/commit\n",
                (a["task-clock"] - b["task-clock"]) * 1000 / d, (a["context-switches"] - b["context-switches"]) / d,
                (a["cpu-migrations"] - b["cpu-migrations"]) / d
        }' "$tmp/$1.perf" "$tmp/$2.perf"
}

rate() { # TAG PHASE_ID: ops/s bench_peers printed (under strace, so slower than a plain run)
    awk -v p="$2" '$1 == "@" && $2 ~ ("_" p "$") { printf "%.0f", $3 }' "$tmp/$1.out"
}

echo "trace_durable.sh: $bin, engines $engines; 1 thread x $commits commits, $threads threads x $per_thread commits"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for e in $(echo "$engines" | tr , ' '); do
    measure "$e" durable "$commits" 1 "$e.1t"
    measure "$e" durable 1 1 "$e.1t0"
    measure "$e" durable_mt 1 "$per_thread" "$e.mt"
    measure "$e" durable_mt 1 1 "$e.mt0"
    echo "== $e, durable commit, 1 thread ($(rate "$e.1t" durable) commits/s under strace)"
    per_commit "$e.1t" "$e.1t0" $((commits - 1))
    perf_commit "$e.1t" "$e.1t0" $((commits - 1))
    echo "== $e, durable commit, $threads threads ($(rate "$e.mt" durable_mt) commits/s under strace)"
    per_commit "$e.mt" "$e.mt0" $((threads * (per_thread - 1)))
    perf_commit "$e.mt" "$e.mt0" $((threads * (per_thread - 1)))
done
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
