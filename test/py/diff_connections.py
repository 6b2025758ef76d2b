# SPDX-License-Identifier: MIT
"""Differential scenarios (differential.py): several connections, threads,
two database files and exact error codes, on behaviour armdb already has."""
import threading

from differential import scenario


@scenario("a transaction's writes are private until COMMIT; ROLLBACK publishes nothing")
def visibility(r):
    a, b = r.connect("a"), r.connect("b")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb: shards=2*/")
    a("BEGIN")
    a("INSERT INTO t VALUES (1, 'x'), (2, 'y')")
    a("SELECT count(*) FROM t")
    b("SELECT count(*) FROM t")
    a("COMMIT")
    b("SELECT * FROM t ORDER BY id")
    b("BEGIN")
    b("DELETE FROM t")
    b("SELECT count(*) FROM t")
    a("SELECT count(*) FROM t")
    b("ROLLBACK")
    a("SELECT * FROM t ORDER BY id")


@scenario("a second BEGIN IMMEDIATE gets SQLITE_BUSY while the first is open")
def two_writers(r):
    a, b = r.connect("a"), r.connect("b")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
    a("BEGIN IMMEDIATE")
    a("INSERT INTO t VALUES (1, 'from a')")
    b("BEGIN IMMEDIATE")
    b("INSERT INTO t VALUES (2, 'from b')")
    a("COMMIT")
    b("BEGIN IMMEDIATE")
    b("INSERT INTO t VALUES (2, 'from b')")
    b("COMMIT")
    a("SELECT * FROM t ORDER BY id")


@scenario("constraint errors carry SQLite's extended codes")
def constraint_codes(r):
    a = r.connect("a")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL) /*armdb*/")
    a("CREATE TABLE k(k TEXT PRIMARY KEY NOT NULL, v) WITHOUT ROWID /*armdb*/")
    a("INSERT INTO t VALUES (?, ?)", (1, "x"))
    a("INSERT INTO t VALUES (?, ?)", (1, "y"))
    a("INSERT INTO t VALUES (?, ?)", (2, None))
    a("INSERT INTO k VALUES (?, ?)", (None, 1))
    a("INSERT INTO k VALUES (?, ?)", ("a", 1))
    a("INSERT INTO k VALUES (?, ?)", ("a", 2))
    a("UPDATE t SET v = NULL")
    a("SELECT * FROM t WHERE id = ?", (1,))
    a("SELECT * FROM k WHERE k = ?", ("a",))


@scenario("bound parameters of every type round-trip")
def parameters(r):
    a = r.connect("a")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, x) /*armdb*/")
    values = [None, 0, -1, 2 ** 63 - 1, -2 ** 63, 0.5, -1e300, "", "text", "\u00e9\u4e2d",
              b"", b"\x00\xff", bytes(range(256))]
    for i, v in enumerate(values):
        a("INSERT INTO t VALUES (?, ?)", (i, v))
    a("SELECT id, typeof(x), x FROM t ORDER BY id")
    a("SELECT id FROM t WHERE x = ?", (b"\x00\xff",))
    a("SELECT id FROM t WHERE id IN (?, ?, ?) ORDER BY id DESC", (3, 1, 12))
    a("SELECT x FROM t WHERE id = ?", ("3",))       # the key's affinity applies
    a("SELECT x FROM t WHERE id = ?", (3.0,))


@scenario("two database files, each with its own table, and ATTACH")
def two_files(r):
    a, b = r.connect("a", "one.db"), r.connect("b", "two.db")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
    b("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
    a("INSERT INTO t VALUES (1, 'one')")
    b("INSERT INTO t VALUES (1, 'two'), (2, 'two too')")
    a("SELECT * FROM t")
    b("SELECT * FROM t ORDER BY id")
    a("ATTACH 'two.db' AS o")
    a("SELECT m.v, o.v FROM main.t AS m JOIN o.t AS o USING (id)")
    a("SELECT count(*) FROM o.t")


@scenario("four threads insert concurrently; every row is there once")
def threads(r):
    a = r.connect("a")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER) /*armdb: shards=4*/")
    writers = [r.connect("w%d" % n, timeout=30) for n in range(4)]

    def work(conn, base):
        for i in range(200):
            conn("INSERT INTO t VALUES (?, ?)", (base + i, i), record=False)

    threads_ = [threading.Thread(target=work, args=(c, 1000 * n)) for n, c in enumerate(writers)]
    for t in threads_:
        t.start()
    for t in threads_:
        t.join()
    a("SELECT count(*), sum(v), min(id), max(id) FROM t")
    a("SELECT count(*) FROM t WHERE id BETWEEN 1000 AND 1199")
