#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Differential SQL tests: one script, run on native tables and on armdb tables.

usage: run_differential.py [SCRIPT.sql | DIR]...   (default: sql_tests/differential)

Each script runs twice through the real sqlite3 shell, `$SQLITE3 -batch -init
/dev/null test.db < script`, in a fresh temporary directory (the working
directory, removed afterwards): once as written (native tables) and once with
every `CREATE TABLE ... /*armdb[: options]*/;` rewritten into an armdb table
(the declaration format and its rules are in test/py/differential.py, which
owns the rewrite). The two outputs, stderr included and `exit: N` appended,
must be identical; a difference fails the script and prints the diff (---
native, +++ armdb). Outputs are kept as <script>.native.out / .armdb.out.

Script rules:
  - the first line is `.load build/armdb`; every `.load build/armdb` line is
    rewritten to the extension's absolute path (load it again after `.open`
    on another `.connection N`: extensions are per connection), in both runs;
  - at least one table is declared with /*armdb*/ (else nothing is under test);
  - `-- diverge: reason` on a line of its own marks an expected, documented
    divergence in the next statement (or dot command, or the statements
    ending on the same line): its output is compared only for error versus
    success, and the runner lists every divergence it allowed, with both
    outputs when they differ, so they stay visible (and says so when the two
    agree again and the marker can go);
  - error lines say "near line N" with N the script's own line number.

A shell killed by a signal fails the script as a CRASH, naming the pass.
Environment: SQLITE3 (the shell, default sqlite3), ARMDB_SO (extension path
without .so, default build/armdb), SQL_PRELOAD (LD_PRELOAD for the shell, as
in run_sql_tests.sh). Prints the SQLite version, PASS/FAIL per script and
`differential: N passed, N failed`; exits 1 on a failure.
"""
import difflib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "test", "py"))
from differential import DeclError, armdb_rewrite  # noqa: E402  (path set above)

LOAD_LINE = ".load build/armdb"
DIVERGE_RE = re.compile(r"^\s*--\s*diverge:\s*(?P<reason>\S.*?)\s*$")
ERROR_RE = re.compile(r"^(Parse error|Runtime error|Error)[ :]")
NEAR_RE = re.compile(r"\bnear line (\d+)")
MARK_FMT = ".print <<diverge %d>>\n", ".print <</diverge %d>>\n"
MARK_RE = re.compile(r"^<<(/?)diverge (\d+)>>$")


class Script:
    """A script prepared for both passes: texts, line map and divergences."""

    def __init__(self, path, so):
        self.path = path
        self.diverge = []           # (original line, reason)
        self.error = None
        native, armdb, self.line_of = [], [], []   # line_of[i]: original line of line i+1
        self.tables = 0
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
        if not lines or lines[0].rstrip("\n") != LOAD_LINE:
            self.error = "first line must be " + LOAD_LINE
            return
        pending, pending_start, want = "", 0, None
        for no, line in enumerate(lines, 1):
            if line.rstrip("\n") == LOAD_LINE:
                line = ".load %s\n" % so
            if not pending:
                m = DIVERGE_RE.match(line)
                if m:
                    if want is not None:
                        self.error = "line %d: two diverge markers for one statement" % no
                        return
                    self.diverge.append((no, m.group("reason")))
                    want = len(self.diverge)
                    self._emit(native, armdb, MARK_FMT[0] % want, no)
                    continue
                # as the shell reads lines: a dot command (or '#' line) starts
                # in column 0; blank and comment-only lines are skipped
                if line.startswith((".", "#")) or not line.strip() or \
                        line.lstrip().startswith("--"):
                    self._emit(native, armdb, line, no)
                    if line.startswith(".") and want is not None:
                        self._emit(native, armdb, MARK_FMT[1] % want, no)
                        want = None
                    continue
                pending_start = no
            pending += line
            if not sqlite3.complete_statement(pending):
                continue
            try:
                rewritten, n = armdb_rewrite(pending)
            except DeclError as e:
                self.error = "line %d: %s" % (pending_start, e)
                return
            self.tables += n
            for i, (a, b) in enumerate(zip(pending.splitlines(True), rewritten.splitlines(True))):
                native.append(a)
                armdb.append(b)
                self.line_of.append(pending_start + i)
            if want is not None:
                self._emit(native, armdb, MARK_FMT[1] % want, no)
                want = None
            pending = ""
        if pending:                 # an unfinished statement: the shell reports it
            native.append(pending)
            armdb.append(pending)
            self.line_of.extend(range(pending_start, pending_start + pending.count("\n")))
        if want is not None:
            self.error = "line %d: diverge marker before the end of the script" % \
                self.diverge[-1][0]
        elif not self.tables:
            self.error = "no CREATE TABLE ... /*armdb*/; nothing is under test"
        self.texts = {"native": "".join(native), "armdb": "".join(armdb)}

    def _emit(self, native, armdb, line, no):
        native.append(line)
        armdb.append(line)
        self.line_of.append(no)

    def orig_line(self, n):
        return self.line_of[n - 1] if 0 < n <= len(self.line_of) else n


def run_pass(script, kind, shell):
    """Run one pass; returns (output lines, diverge regions {N: lines}, crash note)."""
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="armdb-diff.", dir=os.environ.get("TMPDIR")))
    try:
        with open(os.path.join(tmp, "test.sql"), "w", encoding="utf-8") as f:
            f.write(script.texts[kind])
        env = dict(os.environ)
        if os.environ.get("SQL_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["SQL_PRELOAD"]
        with open(os.path.join(tmp, "test.sql"), "rb") as stdin:
            p = subprocess.run([shell, "-batch", "-init", "/dev/null", "test.db"], cwd=tmp,
                               stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=env, check=False)
        raw = p.stdout.decode("utf-8", "replace").replace(tmp, "<tmp>")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rc = p.returncode
    sig = -rc if rc < 0 else rc - 128 if rc > 128 else 0
    crash = ""
    if sig:
        crash = "CRASH in the %s pass: the shell was killed by signal %d (%s)" % (
            kind, sig, signal.Signals(sig).name if sig in signal.valid_signals() else "?")
    out, regions, cur = [], {}, None
    for line in raw.splitlines():
        line = NEAR_RE.sub(lambda m: "near line %d" % script.orig_line(int(m.group(1))), line)
        m = MARK_RE.match(line)
        if m and not m.group(1):
            cur = int(m.group(2))
            regions[cur] = []
        elif m:
            n = int(m.group(2))
            kind_ = "error" if any(ERROR_RE.match(x) for x in regions[n]) else "no error"
            out.append("<diverge at line %d: %s>" % (script.diverge[n - 1][0], kind_))
            cur = None
        elif cur is not None:
            regions[cur].append(line)
        else:
            out.append(line)
    if cur is not None:             # the shell stopped inside a diverge region
        out.extend(regions[cur])
    out.append("exit: %d" % rc if not sig else "exit: signal %d" % sig)
    return out, regions, crash


def check(path, shell, so):
    name = os.path.relpath(path, HERE)
    script = Script(path, so)
    if script.error:
        print("FAIL %s (%s)" % (name, script.error))
        return False
    results = {kind: run_pass(script, kind, shell) for kind in ("native", "armdb")}
    for kind, (out, _, _) in results.items():
        with open(path[:-4] + "." + kind + ".out", "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
    (nat, nat_reg, nat_crash), (arm, arm_reg, arm_crash) = results["native"], results["armdb"]
    ok = nat == arm and not nat_crash and not arm_crash
    notes = [c for c in (nat_crash, arm_crash) if c]
    print("%s %s%s" % ("PASS" if ok else "FAIL", name, " (%s)" % "; ".join(notes) if notes else ""))
    if nat != arm:
        diff = difflib.unified_diff(nat, arm, "native", "armdb", lineterm="")
        print("\n".join(list(diff)[:80]))
    for n, (line, reason) in enumerate(script.diverge, 1):
        a, b = nat_reg.get(n), arm_reg.get(n)
        print("  allowed divergence at line %d: %s" % (line, reason))
        if a == b:
            print("    (outputs are identical now: the marker may go)")
        else:
            for kind, lines in (("native", a), ("armdb", b)):
                print("    %-7s %s" % (kind + ":", " | ".join(lines or ["(no output)"])[:300]))
    return ok


def main(argv):
    shell = os.environ.get("SQLITE3", "sqlite3")
    if os.sep in shell:
        shell = os.path.abspath(shell)
    so = os.environ.get("ARMDB_SO", "build/armdb")
    so = so if os.path.isabs(so) else os.path.join(ROOT, so)
    if not os.path.exists(so + ".so"):
        print("differential: %s.so not found (make build/armdb.so)" % so)
        return 1
    ver = subprocess.run([shell, "-batch", "-init", "/dev/null", ":memory:",
                          "select sqlite_version()"], stdout=subprocess.PIPE, check=True)
    print("differential: SQLite %s (%s), %s.so" % (ver.stdout.decode().strip(), shell, so))
    paths = []
    for arg in argv[1:] or [os.path.join(HERE, "differential")]:
        if os.path.isdir(arg):
            paths += sorted(os.path.join(arg, f) for f in os.listdir(arg) if f.endswith(".sql"))
        else:
            paths.append(arg)
    results = [check(os.path.abspath(p), shell, so) for p in paths]
    passed = sum(results)
    print("differential: %d passed, %d failed" % (passed, len(results) - passed))
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
