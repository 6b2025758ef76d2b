#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Differential tests: the same statements on native tables and on armdb tables.

A native SQLite table is the oracle (STYLE.md 10.5). A table under test is
declared once, as a native table carrying a marker comment:

    CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT) /*armdb*/;
    CREATE TABLE kv(k TEXT PRIMARY KEY NOT NULL, v) WITHOUT ROWID /*armdb: shards=2*/;

The native pass runs it as written (the marker is a comment). The armdb pass
rewrites exactly that statement into

    CREATE VIRTUAL TABLE t USING armdb(id INTEGER PRIMARY KEY, name TEXT);
    CREATE VIRTUAL TABLE kv USING armdb(k TEXT PRIMARY KEY NOT NULL, v, shards=2);

(WITHOUT ROWID is dropped; `IF NOT EXISTS` and a schema name are kept). Write
non-INTEGER keys WITHOUT ROWID or NOT NULL so both sides refuse NULL keys, and
columns with only a type, PRIMARY KEY and NOT NULL (what armdb accepts). armdb's
default directory, <database file>-armdb/<table>, needs a file database: both
runners give each pass a fresh temporary directory as the working directory.

This module is both the shared rewrite (armdb_rewrite, used by
sql_tests/run_differential.py for shell scripts) and a runner for scenarios
that need more than one shell: several connections, threads, two database
files, exact error codes (SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT). A scenario file
(test/py/diff_*.py) defines functions decorated with @scenario; each runs
twice, with a Run object `r`:

    from differential import scenario

    @scenario("a reader keeps its snapshot while another connection commits")
    def wal_snapshot(r):
        a, b = r.connect("a"), r.connect("b")      # test.db in the pass's directory
        a("PRAGMA journal_mode=WAL")
        a("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/")
        b("BEGIN"); b("SELECT count(*) FROM t")
        a("INSERT INTO t VALUES (1, 'x')")
        b("SELECT count(*) FROM t")
        b("COMMIT")

Every call conn(sql, params=(), diverge=None) is recorded in the pass's
transcript as `conn: sql -> rows` or `conn: sql -> error SQLITE_NAME (code): message`
(sqlite3.Error.sqlite_errorname, Python 3.11); it also returns the rows, or
None after an error. The two transcripts must be identical; a difference
fails the scenario with the diff. diverge="reason" marks an expected,
documented divergence: that step is compared only for error versus success,
and the runner lists it with its reason. Steps run from threads must not be
recorded in racing order: use conn(sql, record=False) there and r.record(label,
value) for a deterministic summary. Connections are autocommit
(isolation_level=None: BEGIN/COMMIT are explicit), timeout 0 (BUSY is reported,
not waited out), usable from any thread, with armdb loaded in both passes.

usage: differential.py [--so build/armdb.so] FILE.py...
Prints the SQLite version, PASS/FAIL per scenario, each allowed divergence,
and `py-differential: N passed, N failed`; exits 1 on a failure. Run under
build/sqlite-new/bin/run to use the newest SQLite.
"""
import difflib
import importlib.util
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

# --------------------------------------------------------------- the rewrite
MARKER_RE = re.compile(r"/\*armdb(?::(?P<opts>[^*]*))?\*/")
_CREATE_RE = re.compile(
    r"\s*CREATE\s+TABLE\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>(?:[A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*)\s*\(",
    re.IGNORECASE)
_NEAR_MARKER_RE = re.compile(r"/\*\s*armdb\b", re.IGNORECASE)
_TAIL_RE = re.compile(r"\s*(WITHOUT\s+ROWID\s*)?$", re.IGNORECASE)


class DeclError(Exception):
    """A /*armdb*/ marker on a statement the rewrite does not understand."""


def _skip_quoted(text, i):
    """Index just past the quoted token or comment starting at text[i], or i."""
    c = text[i]
    if c in "'\"`[":
        close = "]" if c == "[" else c
        j = i + 1
        while j < len(text):
            if text[j] == close:
                if close != "]" and j + 1 < len(text) and text[j + 1] == close:
                    j += 2      # doubled quote inside the token
                    continue
                return j + 1
            j += 1
        return len(text)
    if text.startswith("--", i):
        j = text.find("\n", i)
        return len(text) if j < 0 else j + 1
    if text.startswith("/*", i):
        j = text.find("*/", i + 2)
        return len(text) if j < 0 else j + 2
    return i


def split_statements(text):
    """Yield text cut after each ';' outside quotes and comments (rest last)."""
    start = i = 0
    while i < len(text):
        j = _skip_quoted(text, i)
        if j != i:
            i = j
            continue
        if text[i] == ";":
            yield text[start:i + 1]
            start = i + 1
        i += 1
    if start < len(text):
        yield text[start:]


def _rewrite_one(stmt):
    marker = None
    i = 0
    while i < len(stmt):        # the marker must be a comment of its own
        j = _skip_quoted(stmt, i)
        if j != i:
            m = MARKER_RE.fullmatch(stmt, i, j)
            if not m and _NEAR_MARKER_RE.match(stmt, i):
                raise DeclError("malformed marker %r (write /*armdb*/ or /*armdb: options*/)"
                                % stmt[i:j])
            if m:
                if marker:
                    raise DeclError("two /*armdb*/ markers in one statement")
                marker = m
            i = j
        else:
            i += 1
    if not marker:
        return stmt, 0
    start = 0                   # past leading blanks and comments
    while start < len(stmt):
        if stmt[start].isspace():
            start += 1
        elif stmt.startswith(("--", "/*"), start) and start != marker.start():
            start = _skip_quoted(stmt, start)
        else:
            break
    m = _CREATE_RE.match(stmt, start)
    if not m:
        raise DeclError("/*armdb*/ marks a statement that is not CREATE TABLE name(...)")
    depth, i, cols_end = 1, m.end(), None
    while i < marker.start():
        j = _skip_quoted(stmt, i)
        if j != i:
            i = j
            continue
        if stmt[i] == "(":
            depth += 1
        elif stmt[i] == ")":
            depth -= 1
            if depth == 0:
                cols_end = i
                break
        i += 1
    if cols_end is None:
        raise DeclError("/*armdb*/ must follow the column list's closing parenthesis")
    if not _TAIL_RE.match(stmt[cols_end + 1:marker.start()]):
        raise DeclError("only WITHOUT ROWID may stand between the column list and "
                        "/*armdb*/ (armdb tables take no other table options)")
    rest = stmt[marker.end():]
    if rest.strip() not in ("", ";"):
        raise DeclError("/*armdb*/ must end the CREATE TABLE statement")
    cols = stmt[m.end():cols_end]
    opts = (marker.group("opts") or "").strip()
    lead = stmt[:start]
    out = "%sCREATE VIRTUAL TABLE %s%s USING armdb(%s)%s" % (
        lead, m.group("ine") or "", m.group("name"), cols + (", " + opts if opts else ""),
        ";" if ";" in rest else "")
    # keep the line count, so "near line N" and the lines after stay put
    return out + "\n" * (stmt.count("\n") - out.count("\n")), 1


def armdb_rewrite(sql):
    """(sql with each CREATE TABLE ... /*armdb[: opts]*/ made an armdb table, count).

    Raises DeclError for a marker on anything else. Keeps the number of lines.
    """
    parts = [_rewrite_one(s) for s in split_statements(sql)]
    return "".join(p for p, _ in parts), sum(n for _, n in parts)


# ------------------------------------------------------------- the scenarios
def scenario(title):
    """Decorator: mark fn(r) as a differential scenario called `title`."""
    def mark(fn):
        fn.diff_title = title
        return fn
    return mark


class Conn:
    """One connection of one pass; calling it runs and records one statement."""

    def __init__(self, run, name, db, timeout):
        self.run, self.name = run, name
        self.db = sqlite3.connect(db, timeout=timeout, isolation_level=None,
                                  check_same_thread=False)
        self.db.enable_load_extension(True)
        self.db.load_extension(run.so)
        self.db.enable_load_extension(False)

    def __call__(self, sql, params=(), diverge=None, record=True):
        text = sql
        if self.run.armdb:
            text, n = armdb_rewrite(sql)
            self.run.tables += n
        try:
            rows = self.db.execute(text, params).fetchall()
            result, outcome = rows, repr(rows)
        except sqlite3.Error as e:
            result = None
            code = getattr(e, "sqlite_errorcode", None)
            outcome = "error %s (%s): %s" % (getattr(e, "sqlite_errorname", None)
                                            or type(e).__name__, code, e)
        if record:
            self.run.step("%s: %s" % (self.name, " ".join(sql.split())), outcome, diverge)
        return result

    def close(self):
        self.db.close()


class Run:
    """One pass of a scenario: native tables (armdb=False) or armdb tables.

    Every transcript line and diverge= step goes to `sink` as one JSON line as
    it happens, so a pass that crashes still shows how far it got.
    """

    def __init__(self, armdb, so, tmp, sink):
        self.armdb, self.so, self.tmp, self.sink = armdb, so, tmp, sink
        self.lock = threading.Lock()
        self.conns = []
        self.tables = 0         # /*armdb*/ declarations rewritten (armdb pass)

    def connect(self, name, db="test.db", timeout=0.0):
        """A new connection named `name` to db (relative to the pass's directory)."""
        c = Conn(self, name, db, timeout)
        self.conns.append(c)
        return c

    def path(self, name):
        """Absolute path of `name` inside the pass's temporary directory."""
        return os.path.join(self.tmp, name)

    def record(self, label, value):
        """Put a computed value (e.g. a count from threads) into the transcript."""
        self._send("line", "%s = %r" % (label, value))

    def step(self, what, outcome, diverge):
        if diverge:
            self._send("diverged", [what, diverge, outcome])
            kind = "error" if outcome.startswith("error ") else "no error"
            self._send("line", "%s -> <diverge: %s>" % (what, kind))
        else:
            self._send("line", "%s -> %s" % (what, outcome))

    def _send(self, kind, value):
        with self.lock:
            self.sink.write(json.dumps([kind, value]) + "\n")
            self.sink.flush()

    def close(self):
        for c in self.conns:
            c.close()
        self.conns = []
        self._send("tables", self.tables)


def _pass_child(fn, armdb, so, tmp, wfd):
    """In the forked child: run fn in tmp, the transcript going to wfd."""
    with os.fdopen(wfd, "w") as sink:
        run = Run(armdb, so, tmp, sink)
        os.chdir(tmp)
        try:
            fn(run)
        except Exception:                       # the transcript shows where
            run.record("raised", traceback.format_exc().strip().splitlines()[-1])
        finally:
            run.close()


def run_pass(fn, armdb, so):
    """Run fn once, in a forked child and a fresh directory.

    Returns a dict: lines (the transcript), diverged, tables, crash (a note
    when the child died, e.g. of SIGSEGV in SQLite or armdb). The fork keeps a
    crash from taking the runner down and gives each pass a process of its own
    (armdb's engine registry is per process).
    """
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="armdb-diff."))
    rfd, wfd = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        try:
            _pass_child(fn, armdb, so, tmp, wfd)
        finally:
            os._exit(0)
    os.close(wfd)
    res = {"lines": [], "diverged": [], "tables": 0, "crash": ""}
    with os.fdopen(rfd) as r:
        for msg in r:
            kind, value = json.loads(msg)
            if kind == "line":
                res["lines"].append(value.replace(tmp, "<tmp>"))
            elif kind == "diverged":
                res["diverged"].append(value)
            else:
                res["tables"] = value
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(tmp, ignore_errors=True)
    kind = "armdb" if armdb else "native"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        res["crash"] = "CRASH in the %s pass: killed by signal %d (%s)" % (
            kind, sig, signal.Signals(sig).name)
        res["lines"].append("killed by signal %d" % sig)
    elif os.WEXITSTATUS(status) != 0:
        res["crash"] = "the %s pass exited with %d" % (kind, os.WEXITSTATUS(status))
    return res


def load_scenarios(path):
    spec = importlib.util.spec_from_file_location(
        "diff_" + os.path.splitext(os.path.basename(path))[0], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return [v for v in vars(mod).values() if callable(v) and hasattr(v, "diff_title")]


def main(argv):
    args = argv[1:]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    so = os.environ.get("ARMDB_SO", os.path.join(root, "build", "armdb")) + ".so"
    if args[:1] == ["--so"]:
        so, args = args[1], args[2:]
    so = os.path.abspath(so)
    if not args:
        sys.exit("usage: differential.py [--so build/armdb.so] FILE.py...")
    print("py-differential: SQLite %s, %s" % (sqlite3.sqlite_version, so))
    passed = failed = 0
    for path in args:
        for fn in load_scenarios(path):
            name = "%s:%s" % (os.path.relpath(path, root), fn.__name__)
            native, armdb = run_pass(fn, False, so), run_pass(fn, True, so)
            diff = list(difflib.unified_diff(native["lines"], armdb["lines"], "native", "armdb",
                                             lineterm="", n=2))
            notes = [p["crash"] for p in (native, armdb) if p["crash"]]
            if not armdb["tables"] and not notes:
                notes.append("no CREATE TABLE ... /*armdb*/ ran: nothing was under test")
            if diff or notes:
                failed += 1
                print("FAIL %s (%s)%s" % (name, fn.diff_title,
                                          "".join(" (%s)" % n for n in notes)))
                print("\n".join(diff[:80]))
            else:
                passed += 1
                print("PASS %s" % name)
            for (what, reason, out_n), (_, _, out_a) in zip(native["diverged"],
                                                            armdb["diverged"]):
                print("  allowed divergence: %s: %s" % (what, reason))
                if out_n != out_a:
                    print("    native: %s\n    armdb:  %s" % (out_n, out_a))
                else:
                    print("    (outputs are identical now: the marker may go)")
    print("py-differential: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.modules.setdefault("differential", sys.modules["__main__"])
    sys.exit(main(sys.argv))
