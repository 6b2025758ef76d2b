#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Tests of the differential runners themselves: that they fail when they must.

Checks the /*armdb*/ rewrite, then runs sql_tests/run_differential.py and
differential.py on small scripts and scenarios written to a temporary
directory: identical outputs pass; a difference, a crash (a shell or pass
killed by SIGSEGV), a divergence marker over an error-versus-success
difference, a script with no table under test and a malformed marker fail;
an allowed divergence is listed; "near line N" names the script's own line.

usage: test_differential.py   (SQLITE3, ARMDB_SO as for the runners)
Prints one line per check and `N passed, N failed`; exits 1 on a failure.
"""
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from differential import DeclError, armdb_rewrite  # noqa: E402  (path set above)

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok %s" % name)
    else:
        failed += 1
        print("not ok %s\n%s" % (name, detail))


def check_rewrite():
    cases = [
        ("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;",
         "CREATE VIRTUAL TABLE t USING armdb(id INTEGER PRIMARY KEY, v TEXT);", 1),
        ("create table if not exists main.k(k TEXT PRIMARY KEY NOT NULL, v) WITHOUT ROWID"
         " /*armdb: shards=2, sync=off*/;",
         "CREATE VIRTUAL TABLE if not exists main.k USING armdb(k TEXT PRIMARY KEY NOT NULL, v,"
         " shards=2, sync=off);", 1),
        ("CREATE TABLE t(\n a INTEGER PRIMARY KEY,\n b\n)\n/*armdb*/;",
         "CREATE VIRTUAL TABLE t USING armdb(\n a INTEGER PRIMARY KEY,\n b\n);\n", 1),
        ("-- a comment\n/* another */ CREATE TABLE t(k BLOB PRIMARY KEY) /*armdb*/",
         "-- a comment\n/* another */ CREATE VIRTUAL TABLE t USING armdb(k BLOB PRIMARY KEY)", 1),
        ("INSERT INTO t VALUES (';', '/*armdb*/'); CREATE TABLE n(x);",
         "INSERT INTO t VALUES (';', '/*armdb*/'); CREATE TABLE n(x);", 0),
    ]
    for sql, want, n in cases:
        got = armdb_rewrite(sql)
        check("rewrite %r" % sql[:40], got == (want, n), "  got %r" % (got,))
    for sql in ["INSERT INTO t VALUES (1) /*armdb*/;", "CREATE TABLE t(a) STRICT /*armdb*/;",
                "CREATE TABLE t(a) /* armdb */;", "CREATE TABLE t(a) /*armdb*/ /*armdb*/;"]:
        try:
            armdb_rewrite(sql)
            check("rewrite refuses %r" % sql, False, "  no DeclError")
        except DeclError:
            check("rewrite refuses %r" % sql, True)


SCRIPTS = {
    "same.sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;\n"
                "INSERT INTO t VALUES (1, 'a');\nSELECT * FROM t;\n",
    "differs.sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;\n"
                   "SELECT sql FROM sqlite_schema WHERE name = 't';\n",
    "crash.sql": "CREATE TABLE t(id INTEGER PRIMARY KEY) /*armdb*/;\n"
                 ".system kill -SEGV $PPID\nSELECT 1;\n",
    "diverge_ok.sql": "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;\n"
                      "-- diverge: the two messages differ\n"
                      "CREATE INDEX i ON t(nosuch);\n"
                      "-- diverge: the same message\n"
                      "SELECT * FROM nosuch;\n"
                      "SELECT * FROM nosuch_either;\n",
    "diverge_bad.sql": "CREATE TABLE t(id INTEGER PRIMARY KEY) /*armdb*/;\n"
                       "-- diverge: an error on one side only is no divergence\n"
                       "SELECT armdb_stats('t') IS NOT NULL;\n",
    "no_table.sql": "CREATE TABLE t(id INTEGER PRIMARY KEY);\nSELECT 1;\n",
    "bad_marker.sql": "CREATE TABLE t(id INTEGER PRIMARY KEY) /* armdb */;\n",
}


def check_shell_runner(tmp):
    env = dict(os.environ)
    runner = os.path.join(ROOT, "sql_tests", "run_differential.py")
    results = {}
    for name, body in SCRIPTS.items():
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(".load build/armdb\n" + body)
        p = subprocess.run([sys.executable, runner, path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env, check=False)
        results[name] = (p.returncode, p.stdout.decode())
    expect = {
        "same.sql": (0, ["PASS"]),
        "differs.sql": (1, ["FAIL", "-CREATE TABLE t(id", "+CREATE VIRTUAL TABLE t USING armdb("]),
        "crash.sql": (1, ["FAIL", "CRASH in the native pass", "signal 11 (SIGSEGV)",
                          "CRASH in the armdb pass"]),
        "diverge_ok.sql": (0, ["PASS", "allowed divergence at line 3: the two messages differ",
                               "native: Parse error near line 4: no such column: nosuch",
                               "armdb:  Parse error near line 4: virtual tables may not be indexed",
                               "allowed divergence at line 5: the same message",
                               "(outputs are identical now: the marker may go)"]),
        "diverge_bad.sql": (1, ["FAIL", "-<diverge at line 3: error>",
                                "+<diverge at line 3: no error>"]),
        "no_table.sql": (1, ["FAIL", "nothing is under test"]),
        "bad_marker.sql": (1, ["FAIL", "malformed marker"]),
    }
    for name, (rc, needles) in expect.items():
        got_rc, out = results[name]
        missing = [n for n in needles if n not in out]
        check("shell runner: %s exits %d and says %s" % (name, rc, needles),
              got_rc == rc and not missing, "  exit %d, missing %s; output:\n%s"
              % (got_rc, missing, out))
    # "near line N" is the script's own line, past a diverge marker's extra lines
    with open(os.path.join(tmp, "diverge_ok.native.out"), encoding="utf-8") as f:
        out = f.read()
    check("shell runner: error lines keep the script's line numbers",
          "Parse error near line 7: no such table: nosuch_either" in out, out)


SCENARIOS = '''
import os, signal
from differential import scenario

@scenario("same")
def same(r):
    a = r.connect("a")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
    a("INSERT INTO t VALUES (?, ?)", (1, "x"))
    a("SELECT * FROM nosuch", diverge="both fail; wording may differ")
    a("SELECT * FROM t")

@scenario("differs")
def differs(r):
    a = r.connect("a")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY) /*armdb*/")
    a("SELECT sql FROM sqlite_schema WHERE name = 't'")

@scenario("crashes")
def crashes(r):
    a = r.connect("a")
    a("CREATE TABLE t(id INTEGER PRIMARY KEY) /*armdb*/")
    a("SELECT 1")
    if r.armdb:
        os.kill(os.getpid(), signal.SIGSEGV)
    a("SELECT 2")
'''


def check_py_runner(tmp):
    path = os.path.join(tmp, "diff_selftest.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(SCENARIOS)
    p = subprocess.run([sys.executable, os.path.join(HERE, "differential.py"), path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    out = p.stdout.decode()
    for needle in ["PASS " + os.path.relpath(path, ROOT) + ":same",
                   "allowed divergence: a: SELECT * FROM nosuch: both fail; wording may differ",
                   ":differs (differs)", "+a: SELECT sql FROM sqlite_schema",
                   ":crashes (crashes) (CRASH in the armdb pass: killed by signal 11 (SIGSEGV))",
                   "-a: SELECT 2 -> [(2,)]", "+killed by signal 11",
                   "py-differential: 1 passed, 2 failed"]:
        check("py runner says %r" % needle, needle in out, out)
    check("py runner exits 1 on a failure", p.returncode == 1, out)


def main():
    check_rewrite()
    with tempfile.TemporaryDirectory(prefix="armdb-diff-selftest.") as tmp:
        check_shell_runner(tmp)
        check_py_runner(tmp)
    print("differential self-test: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
