#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_python.py: armdb from Python's sqlite3 module, the way applications
use it: multiprocessing with the fork start method while the parent holds
an armdb table (workers opening their own connections, and a worker using
a connection it inherited); cursor.lastrowid after an INSERT that gave no
key; and a process that dies between DROP TABLE and its last connection's
close, whose dropped rows must not come back. ARMDB_SO names the extension (default build/armdb.so). Prints one
line per case and a closing `N passed, N failed`; exit 0 only when all pass.
"""
import multiprocessing as mp
import os
import shutil
import sqlite3
import sys
import tempfile

SO = os.path.abspath(os.environ.get("ARMDB_SO", "build/armdb.so"))
ROWS = 2000


def connect(path):
    con = sqlite3.connect(path, isolation_level=None)
    con.enable_load_extension(True)
    con.load_extension(SO)
    return con


def fill(con, first, last):
    con.execute("BEGIN")
    con.executemany("INSERT INTO kv VALUES (?, ?)", ((i, "v%d" % i) for i in range(first, last + 1)))
    con.execute("COMMIT")


def rows_ok(con, n):
    got = con.execute("SELECT count(*), sum(key) FROM kv WHERE value = 'v' || key").fetchone()
    return got == (n, n * (n + 1) // 2)


def worker_own_connection(path):
    """A pool worker opening its own connection: refused with the lock error."""
    con = connect(path)
    try:
        con.execute("INSERT INTO kv VALUES (-1, 'from a worker')")
        return "wrote"
    except sqlite3.Error as e:
        return str(e)
    finally:
        con.close()


INHERITED = None


def worker_inherited(_):
    """A worker using the connection object it inherited from the parent."""
    try:
        INHERITED.execute("INSERT INTO kv VALUES (-2, 'through the parent connection')")
        return "wrote"
    except sqlite3.Error as e:
        return str(e)


def test_fork_workers(tmp):
    global INHERITED
    path = os.path.join(tmp, "app.db")
    tdir = path + "-armdb/kv"
    con = connect(path)
    con.execute("CREATE VIRTUAL TABLE kv USING armdb(key_type='integer')")
    fill(con, 1, ROWS)
    INHERITED = con
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        own = pool.map(worker_own_connection, [path] * 4)
        inherited = pool.map(worker_inherited, range(2))
    for r in own:
        assert "locked" in r and tdir in r, "worker's own connection: %r" % r
    for r in inherited:
        assert "fork" in r, "inherited connection: %r" % r
    # the parent's acknowledged rows, and the parent's next writes, are intact
    assert rows_ok(con, ROWS)
    fill(con, ROWS + 1, ROWS + 100)
    assert rows_ok(con, ROWS + 100)
    ok = con.execute("SELECT json_extract(armdb_check('kv'), '$.ok')").fetchone()[0]
    assert ok == 1
    con.close()
    con = connect(path)
    assert rows_ok(con, ROWS + 100), "after reopen"
    con.close()


def test_lastrowid(tmp):
    con = connect(os.path.join(tmp, "rowid.db"))
    con.execute("CREATE VIRTUAL TABLE a USING armdb(id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("CREATE TABLE n(id INTEGER PRIMARY KEY, name TEXT)")
    for table in ("a", "n"):
        ids = [con.execute("INSERT INTO %s(name) VALUES (?)" % table, (x,)).lastrowid
               for x in ("ann", "bob")]
        ids.append(con.execute("INSERT INTO %s VALUES (10, 'ten')" % table).lastrowid)
        ids.append(con.execute("INSERT INTO %s(name) VALUES ('after')" % table).lastrowid)
        assert ids == [1, 2, 10, 11], "%s: %r" % (table, ids)
        got = con.execute("SELECT id FROM %s WHERE name = 'after'" % table).fetchone()[0]
        assert got == 11
    con.close()


DROP_AND_DIE = r"""
import os, sqlite3, sys
so, path = sys.argv[1], sys.argv[2]
cons = []
for _ in range(2):
    c = sqlite3.connect(path, isolation_level=None)
    c.enable_load_extension(True)
    c.load_extension(so)
    c.execute("SELECT count(*) FROM kv").fetchone()  # both connections hold the table
    cons.append(c)
cons[0].execute("DROP TABLE kv")
os._exit(0)  # the second connection never lets go: no close, no cleanup
"""


def test_drop_then_crash(tmp):
    import subprocess
    path = os.path.join(tmp, "drop.db")
    con = connect(path)
    con.execute("CREATE VIRTUAL TABLE kv USING armdb(key_type='integer')")
    fill(con, 1, 100)
    con.close()
    subprocess.run([sys.executable, "-c", DROP_AND_DIE, SO, path], check=True)
    con = connect(path)
    names = [r[0] for r in con.execute("SELECT name FROM sqlite_schema")]
    assert names == [], names
    # a table created again over the same directory starts empty
    con.execute("CREATE VIRTUAL TABLE kv USING armdb(key_type='integer')")
    n = con.execute("SELECT count(*) FROM kv").fetchone()[0]
    assert n == 0, "the dropped rows came back: %d" % n
    con.close()


def main():
    tmp = tempfile.mkdtemp(prefix="armtest-python-")
    passed = failed = 0
    try:
        for name, fn in (("fork: workers never use the parent's engine", test_fork_workers),
                         ("lastrowid reports the key a NULL id got", test_lastrowid),
                         ("a DROP cut short by a crash keeps its rows gone",
                          test_drop_then_crash)):
            try:
                fn(tmp)
                passed += 1
                print("  ok " + name, file=sys.stderr)
            except AssertionError as e:
                failed += 1
                print("FAIL %s: %s" % (name, e), file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
