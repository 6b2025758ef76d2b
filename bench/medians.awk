# SPDX-License-Identifier: MIT
# medians.awk: the median of every metric in benchmark logs. Reads the
# "@ <metric> <value>" lines the bench programs print (any number of logs,
# several runs of one program), in the order metrics first appear.
#   awk -f bench/medians.awk run1.log run2.log ...            readable (bench/run.sh)
#   awk -v raw=1 -f bench/medians.awk run1.log run2.log ...   "metric median min max n" (bench/compare.sh)
# spread = (max - min) / median: above 10% a rerun is worth it.
$1 == "@" && NF >= 3 {
    k = $2
    if (!(k in n)) order[++m] = k
    v[k, ++n[k]] = $3 + 0
}
function sort_values(k, c,    i, j, t) { # insertion sort of v[k, 1..c]
    for (i = 2; i <= c; i++) {
        t = v[k, i]
        for (j = i - 1; j >= 1 && v[k, j] > t; j--) v[k, j + 1] = v[k, j]
        v[k, j + 1] = t
    }
}
END {
    for (i = 1; i <= m; i++) {
        k = order[i]; c = n[k]
        sort_values(k, c)
        med = (c % 2) ? v[k, (c + 1) / 2] : (v[k, c / 2] + v[k, c / 2 + 1]) / 2
        if (raw) { printf "%s %.6g %.6g %.6g %d\n", k, med, v[k, 1], v[k, c], c; continue }
        line = ""
        for (j = 1; j <= c; j++) line = line sprintf(" %.4g", v[k, j])
        spread = med != 0 ? 100 * (v[k, c] - v[k, 1]) / (med < 0 ? -med : med) : 0
        num = (med >= 1000 || med <= -1000) ? "%14.0f" : "%14.4f"
        fmt = "  %-30s median " num "   spread %5.1f%%%s   (sorted:%s)\n"
        flag = spread > 10 ? "!" : " "
        printf fmt, k, med, spread, flag, line
    }
}
