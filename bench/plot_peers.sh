#!/bin/sh
# SPDX-License-Identifier: MIT
# plot_peers.sh: bar chart of bench_peers results (ops/s, log scale, grouped
# by phase, one bar per engine) with gnuplot.
#
#   bench/plot_peers.sh [-o OUT.png] CSV [CSV...]
#
# Each CSV is one `bench_peers --csv FILE` run (phase,armdb,armdb-off,rocksdb,
# lmdb; NaN where an engine did not run a phase). With several CSVs the chart
# shows the per-cell median, which is also written next to the PNG as
# <OUT>_median.csv (columns that are NaN in every row are dropped). Default
# output: build/bench/peers.png.
#
#   for i in 1 2 3; do build/bench/bench_peers --csv build/bench/peers.$i.csv; done
#   bench/plot_peers.sh build/bench/peers.*.csv
set -eu
out=build/bench/peers.png
if [ "${1:-}" = "-o" ]; then out=$2; shift 2; fi
[ $# -ge 1 ] || { echo "usage: $0 [-o OUT.png] CSV [CSV...]" >&2; exit 1; }
for f in "$@"; do [ -r "$f" ] || { echo "plot_peers.sh: cannot read $f" >&2; exit 1; }; done
command -v gnuplot >/dev/null || { echo "plot_peers.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
med=${out%.png}_median.csv
nruns=$#

# Per-cell median over the runs; drop engines with no numbers at all.
awk -F, -v OFS=, '
    FNR == 1 { if (NR == 1) { ncol = NF; for (c = 1; c <= NF; c++) head[c] = $c }
               else if (NF != ncol) { print "plot_peers.sh: " FILENAME ": header differs" > "/dev/stderr"; exit 1 }
               next }
    {
        if (!($1 in seen)) { seen[$1] = 1; order[++nrow] = $1 }
        for (c = 2; c <= NF; c++) if ($c != "NaN" && $c != "") { v[$1, c, ++cnt[$1, c]] = $c + 0; used[c] = 1 }
    }
    END {
        line = head[1]
        for (c = 2; c <= ncol; c++) if (used[c]) line = line OFS head[c]
        print line
        for (r = 1; r <= nrow; r++) {
            p = order[r]; line = p
            for (c = 2; c <= ncol; c++) {
                if (!used[c]) continue
                n = cnt[p, c]
                if (n == 0) { line = line OFS "NaN"; continue }
                for (i = 1; i <= n; i++) a[i] = v[p, c, i]
                for (i = 2; i <= n; i++) { x = a[i]; j = i - 1; while (j >= 1 && a[j] > x) { a[j + 1] = a[j]; j-- } a[j + 1] = x }
                m = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
                line = line OFS sprintf("%.1f", m)
            }
            print line
        }
    }' "$@" >"$med"

ncols=$(head -1 "$med" | awk -F, '{ print NF }')
[ "$ncols" -ge 2 ] || { echo "plot_peers.sh: no results in $*" >&2; exit 1; }

# x tic labels: readable names for the phase ids, in file order.
xtics=$(awk -F, 'NR > 1 {
        l = $1
        if (l == "load") l = "random load\\n1 put/commit"
        else if (l == "overwrite") l = "random overwrite\\n1 put/commit"
        else if (l == "batch") l = "random overwrite\\n1000 puts/commit"
        else if (l == "get") l = "random get\\n1 thread"
        else if (l == "scan") l = "full ordered scan\\nkeys/s"
        else if (l == "range") l = "range scans\\n1000 x 1000, keys/s"
        else if (l == "durable") l = "durable commit\\n1 thread (fsync)"
        else if (l ~ /^durable_[0-9]+t$/) { t = substr(l, 9); sub(/t$/, "", t); l = "durable commit\\n" t " threads (fsync)" }
        printf "%s\"%s\" %d", (NR > 2 ? ", " : ""), l, NR - 2
    }' "$med")
titles=$(head -1 "$med" | awk -F, '{
        for (c = 2; c <= NF; c++) {
            n = $c
            if (n == "armdb") n = "armdb (sync=normal; full when durable)"
            else if (n == "armdb-off") n = "armdb (sync=off)"
            else if (n == "rocksdb") n = "RocksDB"
            else if (n == "lmdb") n = "LMDB"
            printf "%s\\\"%s\\\"", (c > 2 ? " " : ""), n
        }
    }')
# one colour per engine, whichever engines are present
colors=$(head -1 "$med" | awk -F, '{
        for (c = 2; c <= NF; c++) {
            n = $c; col = "#9467bd"
            if (n == "armdb") col = "#1f77b4"
            else if (n == "armdb-off") col = "#9ecae1"
            else if (n == "rocksdb") col = "#d62728"
            else if (n == "lmdb") col = "#2ca02c"
            printf "%s%s", (c > 2 ? " " : ""), col
        }
    }')
# y axis from the decade below the smallest value
ymin=$(awk -F, 'NR > 1 { for (c = 2; c <= NF; c++) if ($c != "NaN" && (m == "" || $c + 0 < m)) m = $c + 0 }
    END { if (m == "" || m < 1) m = 1; e = 1; while (e * 10 <= m) e *= 10; print e }' "$med")
title="bench_peers: armdb vs RocksDB vs LMDB, 8-byte keys, 100-byte values"
[ "$nruns" -gt 1 ] && title="$title (median of $nruns runs)"

gnuplot <<EOF
set terminal pngcairo size 1500,760 font "Sans,11"
set output "$out"
set datafile separator ","
set datafile missing "NaN"
set key autotitle columnheader
set title "$title" font "Sans,13" noenhanced
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 10
set format y "10^{%L}"
set yrange [$ymin:*]
set ylabel "operations per second (log scale; higher is better)"
set grid ytics mytics lw 0.5 lc rgb "#dddddd"
set xtics ($xtics) scale 0 font "Sans,10"
set xrange [-0.6:*]
set key top left horizontal box opaque reverse Left samplen 2 width 1
set bmargin 5
N = $ncols - 1
titles = "$titles"
colors = "$colors"
fmt(v) = v >= 1e6 ? sprintf("%.1fM", v / 1e6) : (v >= 1e4 ? sprintf("%.0fk", v / 1e3) : (v >= 1e3 ? sprintf("%.1fk", v / 1e3) : sprintf("%.0f", v)))
xpos(row, j) = row + (j - (N - 1) / 2.0) / (N + 1.0)
plot for [i=2:$ncols] "$med" using i title word(titles, i - 1) lc rgb word(colors, i - 1), \
     for [i=2:$ncols] "$med" using (xpos(\$0, i - 2)):(column(i) * 1.12):(fmt(column(i))) \
         with labels rotate by 90 left font "Sans,8" notitle
EOF
echo "wrote $out (data: $med)"
