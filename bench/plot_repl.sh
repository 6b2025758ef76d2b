#!/bin/sh
# SPDX-License-Identifier: MIT
# plot_repl.sh: follower lag over time from `bench_repl --csv FILE` (the lag
# phase): per 100 ms of commit time, the p50, p99 and max of the time from a
# write's commit on the leader to its being visible on the follower, with
# gnuplot (log scale; the issue's targets drawn as lines).
#
#   bench/plot_repl.sh [-o OUT.png] CSV [TITLE]
#
#   build/bench/bench_repl --phases lag --csv build/bench/repl_lag.csv
#   bench/plot_repl.sh -o build/bench/repl_lag.png build/bench/repl_lag.csv
set -eu
out=build/bench/repl_lag.png
if [ "${1:-}" = "-o" ]; then out=$2; shift 2; fi
[ $# -ge 1 ] || { echo "usage: $0 [-o OUT.png] CSV [TITLE]" >&2; exit 1; }
csv=$1
title=${2:-"bench_repl: follower lag, commit on the leader to visible on the follower (per 100 ms)"}
[ -r "$csv" ] || { echo "plot_repl.sh: cannot read $csv" >&2; exit 1; }
head -1 "$csv" | grep -q '^t_s,writes,p50_ms,p99_ms,max_ms$' ||
    { echo "plot_repl.sh: $csv is not a bench_repl --csv file" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot_repl.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
rate=$(awk -F, 'NR > 1 { n += $2; t = $1 } END { if (t > 0) printf "%.0f", n / (t + 0.1) }' "$csv")

gnuplot <<GP
set terminal pngcairo size 1400,640 font "Sans,11"
set output "$out"
set datafile separator ","
set title "$title\n(about $rate writes/s)" font "Sans,13" noenhanced
set xlabel "seconds into the run (commit time)"
set ylabel "lag, ms (log scale)"
set logscale y 10
set yrange [0.01:300]
set grid ytics mytics xtics lw 0.5 lc rgb "#dddddd"
set key top right box opaque
set arrow from graph 0, first 10 to graph 1, first 10 nohead lc rgb "#ff7f0e" dt 2 lw 1.5
set arrow from graph 0, first 100 to graph 1, first 100 nohead lc rgb "#d62728" dt 2 lw 1.5
set label "target p99 10 ms" at graph 0.01, first 12 left tc rgb "#ff7f0e" font "Sans,9"
set label "target max 100 ms" at graph 0.01, first 120 left tc rgb "#d62728" font "Sans,9"
plot "$csv" using 1:(\$3 > 0 ? \$3 : 0.01) every ::1 with lines lw 2 lc rgb "#1f77b4" title "p50", \
     "$csv" using 1:(\$4 > 0 ? \$4 : 0.01) every ::1 with lines lw 2 lc rgb "#ff7f0e" title "p99", \
     "$csv" using 1:(\$5 > 0 ? \$5 : 0.01) every ::1 with lines lw 1 lc rgb "#d62728" title "max"
GP
echo "wrote $out"
