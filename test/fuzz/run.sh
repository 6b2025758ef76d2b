#!/bin/sh
# run.sh OUTDIR TARGET MAX_LEN [libFuzzer flags...]: run one fuzz target
# (built as OUTDIR/TARGET) over a scratch copy of its committed corpus, so new
# inputs never land in the repo. Crashes go to OUTDIR/artifacts/TARGET/.
# Exit status: 0 when libFuzzer found nothing (crash, leak, timeout, OOM all fail).
set -u
out=$1 t=$2 maxlen=$3
shift 3
work=$out/work/$t
rm -rf "$work" && mkdir -p "$work" "$out/artifacts/$t" || exit 1
cp test/fuzz/corpus/$t/* "$work"/ || exit 1
log=$out/$t.log
echo "== $t $*"
# fuzz_recover's scratch databases: a private parent on tmpfs when there is
# one (fsync is cheap), removed afterwards even if the target aborted.
shm=/dev/shm; [ -d "$shm" ] && [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
tmp=$(mktemp -d "$shm/armdb-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} ARM_FUZZ_DIR=$tmp \
"$out/$t" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -max_len="$maxlen" \
    -artifact_prefix="$out/artifacts/$t/" "$@" "$work" >"$log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED (exit $rc; log $log; input saved under $out/artifacts/$t/)"
    exit 1
fi
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$log" | tr '\n' ' '
grep -E '^#[0-9]+.*(DONE|INITED)' "$log" | tail -n 1 | sed 's/^/ /'
exit 0
