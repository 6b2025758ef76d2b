#!/bin/sh
# SPDX-License-Identifier: MIT
# plot_compact.sh: throughput and disk use over time from `bench_compact --csv
# FILE`: writes per second (top) and directory bytes over live data (bottom),
# compaction on and off, with gnuplot; the issue's targets drawn as lines
# (disk < 2x live data).
#
#   build-rel/bench/bench_compact -s 60 --csv build-rel/bench/compact.csv
#   bench/plot_compact.sh -o build-rel/bench/compact.png build-rel/bench/compact.csv
set -eu
out=build/bench/compact.png
if [ "${1:-}" = "-o" ]; then out=$2; shift 2; fi
[ $# -ge 1 ] || { echo "usage: $0 [-o OUT.png] CSV [TITLE]" >&2; exit 1; }
csv=$1
title=${2:-"bench_compact: sustained random overwrites, compaction on and off"}
[ -r "$csv" ] || { echo "plot_compact.sh: cannot read $csv" >&2; exit 1; }
head -1 "$csv" | grep -q '^mode,t_s,writes,disk_bytes,live_bytes$' ||
    { echo "plot_compact.sh: $csv is not a bench_compact --csv file" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot_compact.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
dir=$(mktemp -d "${TMPDIR:-/tmp}/plot_compact.XXXXXX")
trap 'rm -rf "$dir"' EXIT
awk -F, -v d="$dir" 'NR > 1 { print $2 "," $3 "," $4 / $5 > (d "/" $1 ".csv") }' "$csv"
[ -f "$dir/on.csv" ] || : > "$dir/on.csv"
[ -f "$dir/off.csv" ] || : > "$dir/off.csv"
gnuplot <<GP
set terminal pngcairo size 1200,800 font "Sans,11"
set output "$out"
set datafile separator ","
set multiplot layout 2,1 title "$title" font "Sans,13" noenhanced
set grid lw 0.5 lc rgb "#dddddd"
set key top right box opaque
set ylabel "writes/s"
set yrange [0:*]
plot "$dir/off.csv" using 1:2 with lines lw 2 lc rgb "#7f7f7f" title "compaction off", \
     "$dir/on.csv" using 1:2 with lines lw 2 lc rgb "#1f77b4" title "compaction on"
set xlabel "seconds into the run"
set ylabel "disk / live data"
set yrange [0:*]
set arrow from graph 0, first 2 to graph 1, first 2 nohead lc rgb "#d62728" dt 2 lw 1.5
set label "target: < 2x live" at graph 0.01, first 2.15 left tc rgb "#d62728" font "Sans,9"
plot "$dir/off.csv" using 1:3 with lines lw 2 lc rgb "#7f7f7f" title "compaction off", \
     "$dir/on.csv" using 1:3 with lines lw 2 lc rgb "#1f77b4" title "compaction on"
unset multiplot
GP
echo "plot_compact.sh: wrote $out"
