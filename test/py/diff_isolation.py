# SPDX-License-Identifier: MIT
"""Differential scenarios for isolation and the commit protocol: snapshot
reads, lost updates refused (SQLITE_BUSY_SNAPSHOT), a COMMIT refused under a
reader, two connections and two database files, transfers from threads.

One documented difference: on a native table in WAL mode, a transaction
whose snapshot went stale is refused at its first write statement; an armdb
table (which holds no lock before COMMIT) refuses at COMMIT. Scenarios
record "did the transaction commit" and the final data, which must agree."""
import threading

from differential import scenario




@scenario("WAL: a read transaction keeps its snapshot while another connection commits")
def wal_snapshot(r):
    a, b = r.connect("a"), r.connect("b")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
    a("INSERT INTO t VALUES (1, 'x')")
    b("BEGIN")
    b("SELECT count(*) FROM t")
    a("INSERT INTO t VALUES (2, 'y')")
    a("UPDATE t SET v = 'X' WHERE id = 1")
    b("SELECT * FROM t ORDER BY id")
    b("COMMIT")
    b("SELECT * FROM t ORDER BY id")


def stale_write(r, conn, sql):
    """A write through a stale snapshot, then COMMIT: whichever statement
    SQLite or armdb refuses, the transaction must end rolled back with
    SQLITE_BUSY_SNAPSHOT, nothing written."""
    codes = []
    for stmt in (sql, "COMMIT"):
        try:
            conn.db.execute(stmt)
        except Exception as e:  # sqlite3.Error
            codes.append(getattr(e, "sqlite_errorname", type(e).__name__))
            break
    r.record("refused with", codes)
    # native: the refused UPDATE leaves the transaction open for a ROLLBACK;
    # armdb: the refused COMMIT has rolled it back already
    if conn.db.in_transaction:
        conn.db.execute("ROLLBACK")


@scenario("WAL: writing after another connection's commit is SQLITE_BUSY_SNAPSHOT (no lost update)")
def wal_busy_snapshot(r):
    a, b = r.connect("a"), r.connect("b")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER) /*armdb*/")
    a("INSERT INTO t VALUES (1, 10)")
    b("BEGIN")
    b("SELECT n FROM t WHERE id = 1")
    a("UPDATE t SET n = n + 1 WHERE id = 1")
    stale_write(r, b, "UPDATE t SET n = n + 100 WHERE id = 1")
    a("SELECT * FROM t")
    # the retry sees the new value
    b("BEGIN")
    b("UPDATE t SET n = n + 100 WHERE id = 1")
    b("COMMIT")
    a("SELECT * FROM t")


@scenario("a read-modify-write computed in the application from a stale read is refused")
def app_read_modify_write(r):
    a, b = r.connect("a"), r.connect("b")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER) /*armdb*/")
    a("INSERT INTO acct VALUES (1, 100), (2, 100)")
    b("BEGIN")
    bal = b("SELECT bal FROM acct WHERE id = 1")[0][0]
    a("UPDATE acct SET bal = bal - 30 WHERE id = 1")
    stale_write(r, b, "UPDATE acct SET bal = %d WHERE id = 1" % (bal - 50))
    a("SELECT * FROM acct ORDER BY id")


@scenario("a read-only transaction reads one state while others commit, in WAL mode")
def wal_repeatable(r):
    a, b = r.connect("a"), r.connect("b")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER) /*armdb*/")
    a("INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)")
    b("BEGIN")
    b("SELECT sum(n) FROM t")
    a("UPDATE t SET n = n * 10")
    a("DELETE FROM t WHERE id = 3")
    a("INSERT INTO t VALUES (4, 4)")
    b("SELECT * FROM t ORDER BY id")
    b("SELECT sum(n) FROM t")
    b("COMMIT")
    b("SELECT * FROM t ORDER BY id")


@scenario("rollback journal: COMMIT under a reader is SQLITE_BUSY and publishes nothing")
def commit_under_reader(r):
    a, b = r.connect("a"), r.connect("b")
    a("PRAGMA journal_mode=DELETE")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
    a("INSERT INTO t VALUES (1, 'x')")
    b("BEGIN")
    b("SELECT count(*) FROM t")
    a("BEGIN")
    a("INSERT INTO t VALUES (2, 'y')")
    a("COMMIT")
    b("SELECT count(*) FROM t")
    b("COMMIT")
    a("COMMIT")
    b("SELECT * FROM t ORDER BY id")




@scenario("threads transfer between accounts, retrying refused transactions; the total holds")
def transfers(r):
    a = r.connect("a")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER) /*armdb*/")
    a("INSERT INTO acct VALUES (1,1000),(2,1000),(3,1000),(4,1000),(5,1000),(6,1000),"
      "(7,1000),(8,1000)")
    conns = [r.connect("w%d" % i, timeout=5.0) for i in range(3)]
    errors = []

    def worker(i, conn):
        import random
        rnd = random.Random(i)
        done = 0
        while done < 150:
            x, y = rnd.sample(range(1, 9), 2)
            amt = rnd.randrange(1, 20)
            try:
                conn.db.execute("BEGIN")
                bx = conn.db.execute("SELECT bal FROM acct WHERE id = ?", (x,)).fetchone()[0]
                by = conn.db.execute("SELECT bal FROM acct WHERE id = ?", (y,)).fetchone()[0]
                conn.db.execute("UPDATE acct SET bal = ? WHERE id = ?", (bx - amt, x))
                conn.db.execute("UPDATE acct SET bal = ? WHERE id = ?", (by + amt, y))
                conn.db.execute("COMMIT")
                done += 1
            except Exception as e:  # busy or busy-snapshot: retry from the start
                if conn.db.in_transaction:
                    conn.db.execute("ROLLBACK")
                name = getattr(e, "sqlite_errorname", "")
                if not name.startswith("SQLITE_BUSY"):
                    errors.append(repr(e))
                    return

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r.record("unexpected errors", errors)
    a("SELECT sum(bal), count(*) FROM acct")
