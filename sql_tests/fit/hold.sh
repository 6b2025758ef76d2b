#!/bin/sh
# hold.sh: a second process that holds an armdb table open, for two-process
# golden tests. No sleeps decide anything: the steps wait for files.
#   hold.sh start DB TABLE  start a sqlite3 shell in the background that opens
#                           TABLE of DB, then keeps it open until released;
#                           returns once the table is held
#   hold.sh release         let the holder go; returns once it has exited
# Run from the test's directory (the files `held`, `release` and hold.out
# live there). $SQLITE3 and $ARMDB come from run_sql_tests.sh.
set -u
case $1 in
start)
    rm -f held release
    (
        "$SQLITE3" -batch -init /dev/null -cmd ".load $ARMDB" "$2" \
            "SELECT count(*) FROM \"$3\";" ".system touch held" \
            ".system sh $SQL_TESTS/fit/hold.sh wait" > hold.out 2>&1
        rm -f held release
    ) &
    n=0
    while [ ! -e held ]; do
        sleep 0.02
        n=$((n + 1))
        [ $n -lt 1000 ] || { echo "hold.sh: the holder did not start:"; cat hold.out; exit 1; }
    done
    ;;
wait)
    while [ ! -e release ]; do sleep 0.02; done
    ;;
release)
    touch release
    while [ -e held ]; do sleep 0.02; done
    ;;
esac
