# SPDX-License-Identifier: MIT
"""Differential scenarios for behaviour armdb does not have yet (not in make
test; the lead enables them as the transaction layer lands): snapshot reads,
SQLITE_BUSY_SNAPSHOT, a COMMIT refused under a reader, automatic keys."""
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


@scenario("WAL: writing after another connection's commit is SQLITE_BUSY_SNAPSHOT (no lost update)")
def wal_busy_snapshot(r):
    a, b = r.connect("a"), r.connect("b")
    a("PRAGMA journal_mode=WAL")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER) /*armdb*/")
    a("INSERT INTO t VALUES (1, 10)")
    b("BEGIN")
    b("SELECT n FROM t WHERE id = 1")
    a("UPDATE t SET n = n + 1 WHERE id = 1")
    b("UPDATE t SET n = n + 100 WHERE id = 1")
    b("COMMIT")
    b("ROLLBACK")
    a("SELECT * FROM t")


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


@scenario("an INTEGER PRIMARY KEY given as NULL gets the next key; lastrowid reports it")
def auto_key(r):
    a = r.connect("a")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
    a("INSERT INTO t VALUES (5, 'x')")
    a("INSERT INTO t(v) VALUES ('y')")
    r.record("lastrowid", a.db.execute("INSERT INTO t(v) VALUES ('z')").lastrowid)
    a("SELECT * FROM t ORDER BY id")
