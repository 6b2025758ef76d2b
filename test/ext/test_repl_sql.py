#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_repl_sql.py: replication through SQL between processes, the way
people use it: a leader and followers in separate processes, each driving
its own sqlite3 connection with the extension loaded (ARMDB_SO, default
build/armdb.so). Every peer is this script re-run with --peer, taking JSON
commands on stdin (SQL, a background writer, fork, exit) and answering on
stdout, so the test can SIGKILL any of them at any moment.

Cases: rows written on the leader appear on the follower; a follower
SIGKILLed mid-stream (three times) and restarted (without being told to
follow again) ends with exactly the leader's content; the leader SIGKILLed
while it writes and streams, and restarted on the same address;
a follower closed and reopened; a follower process that exits without
closing its connection ends promptly; armdb_repl_stop makes the follower
writable and forgets the role; shared-secret authentication right, wrong
and missing (the secret never appears in any message); after fork() a
child holds none of the leader's sockets (its port can be served again and
a follower sees its session end). Convergence is polled for up to 60 s (a
loaded machine). Prints one line per case and `N passed, N failed`; a
failure prints the peers' stderr.
"""
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

SO = os.path.abspath(os.environ.get("ARMDB_SO", "build/armdb.so"))
CONVERGE_S = 60
DECL = "CREATE VIRTUAL TABLE IF NOT EXISTS kv USING armdb(key_type='integer', shards=4)"


# ------------------------------------------------------------------ peer side
def peer_main(db):
    con = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    con.enable_load_extension(True)
    con.load_extension(SO)
    writer = {}

    def write_rows(first, last, per_txn):
        w = sqlite3.connect(db, isolation_level=None)
        w.enable_load_extension(True)
        w.load_extension(SO)
        try:
            k = first
            while k <= last:
                w.execute("BEGIN")
                for i in range(k, min(k + per_txn, last + 1)):
                    w.execute("INSERT INTO kv VALUES (?, ?)", (i, "v%d" % i))
                w.execute("COMMIT")
                k += per_txn
                time.sleep(0.001)
        except sqlite3.Error as e:
            writer["error"] = str(e)
        w.close()

    for line in sys.stdin:
        cmd = json.loads(line)
        out = {}
        try:
            if "sql" in cmd:
                out["rows"] = [list(r) for r in con.execute(cmd["sql"], cmd.get("args", []))]
            elif "writer" in cmd:
                a, b, n = cmd["writer"]
                writer["thread"] = threading.Thread(target=write_rows, args=(a, b, n))
                writer["thread"].start()
            elif "wait_writer" in cmd:
                writer.pop("thread").join()
                out["error"] = writer.pop("error", None)
            elif "fork_sleep" in cmd:
                pid = os.fork()
                if pid == 0:  # holds whatever the parent had open, touches nothing
                    time.sleep(cmd["fork_sleep"])
                    os._exit(0)
                out["pid"] = pid
            elif "exit" in cmd:
                # without closing the connection: threads must not keep the process
                print(json.dumps({}), flush=True)
                sys.exit(0)
            elif "close_exit" in cmd:
                con.close()
                print(json.dumps({}), flush=True)
                return
        except sqlite3.Error as e:
            out["error"] = str(e)
        print(json.dumps(out), flush=True)


# ---------------------------------------------------------------- test side
class Peer:
    def __init__(self, db, env=None):
        self.db = db
        e = dict(os.environ)
        e.update(env or {})
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen([sys.executable, "-u", os.path.abspath(__file__), "--peer", db],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err,
                                  env=e)

    def call(self, obj, timeout=60):
        self.p.stdin.write((json.dumps(obj) + "\n").encode())
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        if not r:
            raise AssertionError("peer %s: no answer to %r in %d s" % (self.db, obj, timeout))
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError("peer %s died on %r: %s" % (self.db, obj, self.stderr()))
        return json.loads(line)

    def sql(self, q, *args):
        r = self.call({"sql": q, "args": list(args)})
        if "error" in r:
            raise AssertionError("peer %s: %s: %s" % (self.db, q, r["error"]))
        return r["rows"]

    def sql_error(self, q, *args):
        r = self.call({"sql": q, "args": list(args)})
        assert "error" in r, "peer %s: %s succeeded: %r" % (self.db, q, r)
        return r["error"]

    def one(self, q, *args):
        return self.sql(q, *args)[0][0]

    def status(self):
        return json.loads(self.one("SELECT armdb_repl_status('kv')"))

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()
        self.p.stdin.close()
        self.p.stdout.close()

    def finish(self, how, timeout=30):
        """Ask the peer to end (close_exit or exit) and wait at most timeout."""
        self.call({how: 1})
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("peer %s did not exit within %d s after %s" % (self.db, timeout, how))
        self.p.stdin.close()
        self.p.stdout.close()
        assert rc == 0, "peer %s exited with %d: %s" % (self.db, rc, self.stderr())

    def stderr(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace")[-3000:]


def content(peer):
    return peer.sql("SELECT key, value FROM kv ORDER BY key")


def converge(leader, follower, what):
    want = content(leader)
    deadline = time.time() + CONVERGE_S
    got = None
    while time.time() < deadline:
        if follower.one("SELECT count(*) FROM kv") == len(want):
            got = content(follower)
            if got == want:
                return len(want)
        time.sleep(0.2)
    got = content(follower)
    missing = len([r for r in want if r not in got])
    extra = len([r for r in got if r not in want])
    raise AssertionError("%s: follower has %d rows, leader %d (%d missing, %d extra); status %s"
                         % (what, len(got), len(want), missing, extra, follower.status()))


def wait_for(fn, what, timeout=CONVERGE_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("%s: not within %d s" % (what, timeout))


def fill(peer, first, last):
    peer.sql("BEGIN")
    for i in range(first, last + 1):
        peer.sql("INSERT INTO kv VALUES (?, ?)", i, "v%d" % i)
    peer.sql("COMMIT")


PEERS = []


def peer(db, env=None):
    p = Peer(db, env)
    PEERS.append(p)
    return p


# ---------------------------------------------------------------- the cases
def test_stream_kill_restart(tmp):
    ldb, fdb = os.path.join(tmp, "leader.db"), os.path.join(tmp, "follower.db")
    L = peer(ldb)
    L.sql(DECL)
    fill(L, 1, 500)
    addr = L.one("SELECT armdb_repl_serve('kv', '127.0.0.1:0')")
    F = peer(fdb)
    F.sql(DECL)
    assert F.one("SELECT armdb_repl_follow('kv', ?, 'backoff_max_ms=500')", addr) == addr
    converge(L, F, "first catch-up")
    err = F.sql_error("INSERT INTO kv VALUES (-1, 'on the follower')")
    assert "read replica" in err and addr in err, err

    # SIGKILL the follower three times while the leader writes; each time it
    # restarts untold (the first statement opens the table, which follows)
    L.call({"writer": [501, 6500, 10]})
    for delay in (0.2, 0.4, 0.3):
        time.sleep(delay)
        F.kill()
        F = peer(fdb)
        st = F.status()
        assert st["role"] == "follower" and st["leader"] == addr, st
    assert L.call({"wait_writer": 1})["error"] is None
    n = converge(L, F, "after the follower's SIGKILLs")
    assert n == 6500, n

    # the leader SIGKILLed while it writes and streams, restarted on the same
    # address: the follower ends with what the leader has after its restart
    L.call({"writer": [6501, 9000, 10]})
    time.sleep(0.3)
    L.kill()
    wait_for(lambda: F.status()["state"] != "streaming", "follower notices the leader died")
    L = peer(ldb)
    assert L.one("SELECT armdb_repl_serve('kv', ?)", addr) == addr
    base = L.one("SELECT max(key) FROM kv")
    assert 6500 <= base <= 9000, base
    fill(L, 10001, 10500)
    converge(L, F, "after the leader's restart")

    # a follower closed cleanly and reopened follows on
    F.finish("close_exit")
    fill(L, 10501, 10600)
    F = peer(fdb)
    converge(L, F, "after the follower's reopen")

    # a follower process that exits without closing its connection
    F.finish("exit")
    F = peer(fdb)
    fill(L, 10601, 10700)
    total = converge(L, F, "after an exit without close")

    # stop: writable, and the role forgotten at the next open
    assert F.one("SELECT armdb_repl_stop('kv')") == "follower"
    F.sql("INSERT INTO kv VALUES (-1, 'mine now')")
    F.finish("close_exit")
    F = peer(fdb)
    assert F.status()["role"] == "none"
    assert F.one("SELECT value FROM kv WHERE key = -1") == "mine now"
    assert F.one("SELECT count(*) FROM kv") == total + 1
    F.finish("close_exit")
    assert L.one("SELECT armdb_repl_stop('kv')") == "leader"
    L.finish("close_exit")


SECRET = "s3cr3t-0123456789-abcdefghij"


def test_auth(tmp):
    key = os.path.join(tmp, "secret.key")
    with open(key, "w") as f:
        f.write(SECRET + "\n")
    os.chmod(key, 0o600)
    L = peer(os.path.join(tmp, "auth_leader.db"), {"ARMDB_TEST_SECRET": SECRET})
    L.sql(DECL)
    fill(L, 1, 300)
    addr = L.one("SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'secret_env=ARMDB_TEST_SECRET')")
    good = peer(os.path.join(tmp, "auth_good.db"))
    good.sql(DECL)
    good.sql("SELECT armdb_repl_follow('kv', ?, 'secret_file=%s')" % key, addr)
    converge(L, good, "the right secret")
    wrong = peer(os.path.join(tmp, "auth_wrong.db"), {"ARMDB_TEST_SECRET": SECRET[::-1]})
    wrong.sql(DECL)
    wrong.sql("SELECT armdb_repl_follow('kv', ?, 'secret_env=ARMDB_TEST_SECRET')", addr)
    none = peer(os.path.join(tmp, "auth_none.db"))
    none.sql(DECL)
    none.sql("SELECT armdb_repl_follow('kv', ?)", addr)
    for f, what in ((wrong, "a wrong secret"), (none, "no secret")):
        st = wait_for(lambda: (lambda s: s if s["last_error"] else None)(f.status()),
                      "%s is refused" % what)
        assert st["state"] != "streaming" and st["sessions"] == 0, st
        assert f.one("SELECT count(*) FROM kv") == 0, what
        assert "auth" in json.dumps(st["last_error"]).lower(), st
    ls = L.status()
    assert ls["refused"] >= 2 and ls["followers"] == 1, ls
    for p in (L, good, wrong, none):
        for text in (json.dumps(p.status()), p.stderr()):
            assert SECRET not in text and SECRET[::-1] not in text, "the secret leaked"
        p.finish("close_exit")


def test_fork(tmp):
    L = peer(os.path.join(tmp, "fork_leader.db"))
    L.sql(DECL)
    fill(L, 1, 100)
    addr = L.one("SELECT armdb_repl_serve('kv', '127.0.0.1:0')")
    F = peer(os.path.join(tmp, "fork_follower.db"))
    F.sql(DECL)
    # heartbeats too rare to notice the end: only the socket closing tells
    F.sql("SELECT armdb_repl_follow('kv', ?, 'heartbeat_ms=20000, peer_timeout_ms=60000')", addr)
    converge(L, F, "before the fork")
    wait_for(lambda: F.status()["state"] == "streaming", "streaming")
    child = L.call({"fork_sleep": 60})["pid"]
    try:
        assert L.one("SELECT armdb_repl_stop('kv')") == "leader"
        wait_for(lambda: F.status()["state"] != "streaming",
                 "the follower sees its session end while a forked child lives", 15)
        assert L.one("SELECT armdb_repl_serve('kv', ?)", addr) == addr
        fill(L, 101, 200)
        converge(L, F, "after serving again beside the forked child")
    finally:
        os.kill(child, signal.SIGKILL)
    F.finish("close_exit")
    L.finish("close_exit")


def main():
    cases = [test_stream_kill_restart, test_auth, test_fork]
    passed = failed = 0
    for case in cases:
        tmp = tempfile.mkdtemp(prefix="armdb-repl-sql.")
        t0 = time.time()
        try:
            case(tmp)
            print("PASS %s (%.1f s)" % (case.__name__, time.time() - t0))
            passed += 1
        except Exception as e:  # report and go on with the next case
            print("FAIL %s: %s" % (case.__name__, e))
            for p in PEERS:
                print("  peer %s stderr: %s" % (p.db, p.stderr()))
            failed += 1
        for p in PEERS:
            if p.p.poll() is None:
                p.p.kill()
                p.p.wait()
        PEERS.clear()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--peer":
        peer_main(sys.argv[2])
    else:
        sys.exit(main())
