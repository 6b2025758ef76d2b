# SPDX-License-Identifier: MIT
"""Differential scenario for behaviour armdb does not have yet (not in make
test): automatic INTEGER PRIMARY KEY values."""
from differential import scenario


@scenario("an INTEGER PRIMARY KEY given as NULL gets the next key; lastrowid reports it")
def auto_key(r):
    a = r.connect("a")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
    a("INSERT INTO t VALUES (5, 'x')")
    a("INSERT INTO t(v) VALUES ('y')")
    r.record("lastrowid", a.db.execute("INSERT INTO t(v) VALUES ('z')").lastrowid)
    a("SELECT * FROM t ORDER BY id")
