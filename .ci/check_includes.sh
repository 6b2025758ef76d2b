#!/bin/sh
# Layer rules (STYLE.md section 2): ext -> repl -> engine -> common.
bad=0
err() { echo "check-includes: $1"; bad=1; }
for f in common/*.[ch]; do
    grep -nE '#include +"\.\./(engine|repl|ext)/' "$f" && err "$f includes a higher layer"
done
for f in engine/*.[ch]; do
    grep -nE '#include +[<"](sqlite3|\.\./repl/|\.\./ext/)' "$f" && err "$f reaches above the engine"
    case $f in engine/io_uring.c) ;; *) grep -n 'liburing.h' "$f" && err "$f includes liburing.h";; esac
    case $f in engine/crypto.c) ;; *) grep -n 'sodium.h' "$f" && err "$f includes sodium.h";; esac
done
for f in repl/*.[ch]; do
    [ -e "$f" ] || continue
    grep -nE '#include +[<"](sqlite3|liburing|\.\./ext/|\.\./engine/[a-z_]*_int\.h|\.\./engine/(index|file|io|cache)\.h)' "$f" \
        && err "$f breaks the repl layer rules"
    case $f in repl/repl_auth.c) ;; *) grep -nE '#include +[<"]sodium.h' "$f" && err "$f includes sodium.h";; esac
done
for f in ext/*.[ch]; do
    [ -e "$f" ] || continue
    grep -nE '#include +"\.\./(engine|repl)/[a-z_]*(_int|index|io|file|cache)\.h"' "$f" && err "$f includes engine/repl internals"
done
for f in $(ls common/*.c engine/*.c repl/*.c ext/*.c 2>/dev/null); do
    case $f in common/arm_hash.c) ;; *) grep -n 'xxhash.h' "$f" && err "$f includes xxhash.h";; esac
done
[ $bad -eq 0 ] && echo "check-includes: ok"
exit $bad
