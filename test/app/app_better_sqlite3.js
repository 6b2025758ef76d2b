#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// A Node application on armdb: better-sqlite3 from npm (its bundled SQLite is
// the newest), with build/armdb.so loaded through db.loadExtension.
//
// The same workload runs twice, each time in a fresh directory with a file
// database: once on native tables, once with every table created as
// `CREATE VIRTUAL TABLE name USING armdb(<the same columns>, $ARMDB_APP_OPTS)`. Every
// step records what the application saw (lastInsertRowid, changes, rows, the
// JS types of the values, errors); the armdb transcript must equal the native
// one step by step, and some steps also have a known right answer checked on
// both passes, so a workload that silently did nothing cannot pass. What it
// covers: nested transactions (db.transaction inside another: SAVEPOINTs),
// rollback on throw, lastInsertRowid, BigInt keys (safeIntegers), JS numbers
// (bound as doubles) into INTEGER columns and keys, iterate() (also left
// early), raw/pluck/expand, errors and their codes, user functions, a second
// connection, a reopen. One difference by design is checked as such: INSERT
// ... RETURNING reads NULL for a key armdb assigns (README).
//
// usage: [ARMDB_APP_OPTS="shards=2"] node app_better_sqlite3.js --so build/armdb.so --modules DIR/node_modules [--wal] [--verbose]
// Prints one line per failed step (both values), then `N passed, N failed`;
// exits 1 on a failure.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const util = require('util');

function arg(name, dflt) {
    const i = process.argv.indexOf(name);
    return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const SO = path.resolve(arg('--so', 'build/armdb.so'));
const MODULES = path.resolve(arg('--modules', 'build/node/node_modules'));
const Database = require(path.join(MODULES, 'better-sqlite3'));
const VERBOSE = process.argv.includes('--verbose'); // print every step's native value
const WAL = process.argv.includes('--wal'); // connections in WAL mode
// Options of every armdb table (ARMDB_APP_OPTS runs the workload with others,
// e.g. "shards=1, index='hash'" or "sync='full'").
const ARMDB_OPTS = process.env.ARMDB_APP_OPTS || 'shards=2';

// A value as the application sees it, with JS types kept apart (1 vs 1n vs
// '1', Buffer vs string): util.inspect is exact for BigInt, -0, Buffers.
const show = (v) => util.inspect(v, { depth: null, breakLength: Infinity, sorted: true });

class Transcript {
    constructor() { this.steps = []; this.checks = 0; this.wrong = []; }
    see(label, value, expect, message) {
        this.steps.push([label, show(value), message]);
        if (expect !== undefined) this.check(label, value, expect);
        return value;
    }
    check(label, value, expect) {
        this.checks++;
        if (show(value) !== show(expect)) this.wrong.push([label, show(expect), show(value)]);
    }
    // A statement's error as the application sees it: class and code, and the
    // message kept aside (sameStep compares it).
    error(label, fn, expect) {
        try {
            return this.see(label, ['ok', fn()], expect);
        } catch (e) {
            return this.see(label, [e.constructor.name, e.code], expect, e.message);
        }
    }
}

// ---------------------------------------------------------------- the app
function workload(t, mode, dbPath) {
    const open = () => {
        const db = new Database(dbPath);
        db.loadExtension(SO); // on both passes: the same library loaded
        if (WAL) db.pragma('journal_mode = WAL');
        return db;
    };
    // A table as the application declares it; on the armdb pass, the same
    // columns in an armdb table.
    const create = (db, name, cols) => db.exec(mode === 'armdb'
        ? `CREATE VIRTUAL TABLE ${name} USING armdb(${cols}, ${ARMDB_OPTS})`
        : `CREATE TABLE ${name}(${cols})`);

    const db = open();
    t.see('sqlite_version', db.prepare('SELECT sqlite_version() AS v').pluck().get() >= '3.5');
    create(db, 'accounts', 'id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER, note TEXT');
    create(db, 'ledger', 'id INTEGER PRIMARY KEY, account INTEGER, amount INTEGER, memo TEXT');
    create(db, 'big', 'k INTEGER PRIMARY KEY, v TEXT');
    create(db, 'tags', 'name TEXT PRIMARY KEY, n INTEGER, data BLOB');
    t.check('armdb tables', db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' " +
        "AND sql LIKE 'CREATE VIRTUAL TABLE % USING armdb(%'").pluck().get(),
        mode === 'armdb' ? 4 : 0);

    // lastInsertRowid and changes for rows added without ids.
    const addAccount = db.prepare('INSERT INTO accounts (owner, balance) VALUES (?, ?)');
    t.see('insert without id', addAccount.run('ann', 100), { changes: 1, lastInsertRowid: 1 });
    t.see('second insert', addAccount.run('bob', 50), { changes: 1, lastInsertRowid: 2 });
    t.see('named parameters', db.prepare('INSERT INTO accounts (owner, balance, note) ' +
        'VALUES (@owner, @balance, @note)').run({ owner: 'cy', balance: 0, note: null }),
        { changes: 1, lastInsertRowid: 3 });
    t.see('explicit id (a JS number: bound as a double)', db.prepare(
        'INSERT INTO accounts (id, owner, balance) VALUES (?, ?, ?)').run(10, 'dee', 7),
        { changes: 1, lastInsertRowid: 10 });
    t.see('next id after 10', addAccount.run('eve', 1).lastInsertRowid, 11);
    t.see('typeof the key bound as a double', db.prepare(
        'SELECT typeof(id), id FROM accounts WHERE id = ?').raw().get(10.0), ['integer', 10]);

    // Numbers bound as doubles into INTEGER columns: affinity as SQLite's.
    const setBal = db.prepare('UPDATE accounts SET balance = ? WHERE id = ?');
    const typed = db.prepare('SELECT typeof(balance) AS t, balance AS b FROM accounts WHERE id = ?');
    for (const v of [5, 2.5, -0, 1e15, 2 ** 53, 1e20, -7.25, NaN, Infinity]) {
        setBal.run(v, 3);
        t.see('balance ' + show(v), typed.get(3));
    }
    t.error('2.5 as a key', () => db.prepare('INSERT INTO accounts (id, owner) VALUES (?, ?)')
        .run(2.5, 'half'));
    t.error('text key into INTEGER PRIMARY KEY', () => db.prepare(
        'INSERT INTO accounts (id, owner) VALUES (?, ?)').run('12', 'text id'));
    t.see('numeric text key became 12', db.prepare('SELECT typeof(id), owner FROM accounts WHERE ' +
        'id = 12').raw().get(), ['integer', 'text id']);
    t.error("'abc' as a key", () => db.prepare('INSERT INTO accounts (id, owner) VALUES (?, ?)')
        .run('abc', 'bad'));
    t.error('duplicate key', () => db.prepare('INSERT INTO accounts (id, owner) VALUES (1, ?)')
        .run('dup'));
    t.error('NOT NULL', () => addAccount.run(null, 1));
    t.see('or ignore', db.prepare('INSERT OR IGNORE INTO accounts (id, owner) VALUES (1, ?)')
        .run('ignored').changes, 0);
    t.see('or replace', db.prepare('INSERT OR REPLACE INTO accounts (id, owner, balance) ' +
        'VALUES (2, ?, 55)').run('bob2'), { changes: 1, lastInsertRowid: 2 });
    // INSERT ... RETURNING: SQLite does not know a key armdb assigns there,
    // so it reads NULL (README, "What differs from a native table");
    // lastInsertRowid has it, on both.
    const ret = db.prepare("INSERT INTO accounts (owner, balance) VALUES ('ret', 5) " +
        'RETURNING id, owner, balance');
    const retRow = ret.get();
    t.check('RETURNING a key the table assigns', retRow,
        { balance: 5, id: mode === 'armdb' ? null : 13, owner: 'ret' });
    t.see('RETURNING: the other columns', [retRow.owner, retRow.balance]);
    t.see('lastInsertRowid after RETURNING', db.prepare('SELECT last_insert_rowid()').pluck().get(),
        13);
    t.see('RETURNING a key given', db.prepare("INSERT INTO accounts (id, owner) VALUES (20, 'r2') " +
        'RETURNING id, owner').raw().get(), [20, 'r2']);
    db.prepare('DELETE FROM accounts WHERE id IN (13, 20)').run();
    t.see('accounts', db.prepare('SELECT * FROM accounts ORDER BY id').all());

    // Nested transactions: db.transaction inside another uses SAVEPOINTs.
    const post = db.prepare('INSERT INTO ledger (account, amount, memo) VALUES (?, ?, ?)');
    const move = db.prepare('UPDATE accounts SET balance = balance + ? WHERE id = ?');
    const transfer = db.transaction((from, to, amount, memo) => {
        move.run(-amount, from);
        move.run(amount, to);
        const r = post.run(from, -amount, memo);
        post.run(to, amount, memo);
        if (amount > 1000) throw new Error('limit exceeded');
        return r.lastInsertRowid;
    });
    const batch = db.transaction((items) => {
        const ids = [];
        for (const [from, to, amount] of items) {
            try {
                ids.push(transfer(from, to, amount, `${from}->${to}`));
            } catch (e) {
                ids.push(e.message); // the inner savepoint rolled back; the outer goes on
            }
        }
        t.see('inTransaction inside', db.inTransaction, true);
        return ids;
    });
    t.see('nested: ids and failures', batch([[1, 2, 10], [2, 1, 5000], [1, 10, 20]]),
        [1, 'limit exceeded', 3]);
    t.see('nested: lastInsertRowid after', db.prepare('SELECT last_insert_rowid()').pluck().get());
    t.see('inTransaction after', db.inTransaction, false);
    t.see('nested: balances', db.prepare('SELECT id, balance FROM accounts WHERE id IN (1, 2, 10) ' +
        'ORDER BY id').raw().all(), [[1, 70], [2, 65], [10, 27]]);
    t.see('nested: ledger', db.prepare('SELECT * FROM ledger ORDER BY id').raw().all());
    // three levels, the middle one rolled back by a throw caught outside it
    const level3 = db.transaction(() => post.run(1, 3, 'level3'));
    const level2 = db.transaction(() => { post.run(1, 2, 'level2'); level3(); throw new Error('l2'); });
    const level1 = db.transaction(() => {
        post.run(1, 1, 'level1');
        try { level2(); } catch (e) { t.see('level2 threw', e.message, 'l2'); }
        return post.run(1, 4, 'level1 again').lastInsertRowid;
    });
    t.see('three levels: last id', level1());
    t.see('three levels: memos', db.prepare("SELECT id, memo FROM ledger WHERE memo LIKE 'level%' " +
        'ORDER BY id').raw().all());

    // Rollback on throw: the whole transaction is discarded.
    const before = db.prepare('SELECT count(*) FROM ledger').pluck().get();
    const failing = db.transaction(() => {
        post.run(1, 1, 'doomed');
        move.run(1000, 1);
        db.prepare('DELETE FROM accounts WHERE id = 2').run();
        throw new Error('boom');
    });
    t.error('throw in a transaction', () => failing());
    t.see('rollback: ledger count', db.prepare('SELECT count(*) FROM ledger').pluck().get(), before);
    t.see('rollback: accounts', db.prepare('SELECT id, balance FROM accounts ORDER BY id').raw().all());
    t.see('id after rollback', post.run(2, 2, 'after rollback').lastInsertRowid);
    // deferred / immediate / exclusive variants
    for (const kind of ['deferred', 'immediate', 'exclusive']) {
        t.see(kind, transfer[kind](10, 11, 1, kind));
    }
    // a transaction that fails inside SQLite (constraint), not by a throw in JS
    const bad = db.transaction(() => {
        post.run(1, 9, 'before the constraint');
        db.prepare('INSERT INTO accounts (id, owner) VALUES (1, ?)').run('dup');
    });
    t.error('constraint inside a transaction', () => bad());
    t.see('constraint: ledger unchanged', db.prepare("SELECT count(*) FROM ledger WHERE memo = " +
        "'before the constraint'").pluck().get(), 0);

    // BigInt keys: beyond 2^53, the extremes, and keys handed out near them.
    const putBig = db.prepare('INSERT INTO big (k, v) VALUES (?, ?)');
    for (const k of [9007199254740993n, -9007199254740993n, 2n ** 62n, -(2n ** 63n), 0n, 1n])
        putBig.run(k, 'v' + k);
    t.see('bigint ids: lastInsertRowid (safe)', putBig.safeIntegers(true)
        .run(null, 'after 2^62').lastInsertRowid, 2n ** 62n + 1n);
    t.see('bigint: lastInsertRowid (number)', putBig.safeIntegers(false)
        .run(2 ** 62 * 1.5, 'double key').lastInsertRowid);
    const allBig = db.prepare('SELECT k, v, typeof(k) FROM big ORDER BY k').safeIntegers();
    t.see('bigint: ordered rows', allBig.raw().all());
    t.see('bigint: range', db.prepare('SELECT k FROM big WHERE k > ? AND k <= ? ORDER BY k DESC')
        .safeIntegers().pluck().all(1n, 9007199254740993n), [9007199254740993n]);
    t.see('bigint: point lookup', db.prepare('SELECT v FROM big WHERE k = ?').pluck()
        .get(-(2n ** 63n)), 'v-9223372036854775808');
    t.error('bigint: beyond int64', () => putBig.run(2n ** 63n, 'too big'));
    t.see('bigint key read as a number (rounded)', (() => {
        try { return db.prepare('SELECT k FROM big WHERE k = ?').pluck().get(9007199254740993n); }
        catch (e) { return [e.constructor.name, e.message]; }
    })(), 9007199254740992);
    db.defaultSafeIntegers(true);
    t.see('defaultSafeIntegers: a row', db.prepare('SELECT * FROM accounts WHERE id = 1').get());
    t.see('defaultSafeIntegers: run', addAccount.run('fay', 3n));
    db.defaultSafeIntegers(false);
    t.see('max key then NULL', (() => {
        putBig.run(2n ** 63n - 1n, 'max');
        const r = putBig.safeIntegers(true).run(null, 'past the max');
        // SQLite then picks an unused key at random: only its type and that it is new
        return [typeof r.lastInsertRowid, r.changes,
                db.prepare('SELECT count(*) FROM big WHERE k = ?').pluck().get(r.lastInsertRowid)];
    })(), ['bigint', 1, 1]);

    // iterate(): all rows, left early, and a write right after leaving early.
    const it = db.prepare('SELECT id, memo FROM ledger ORDER BY id DESC');
    const seen = [];
    for (const row of it.iterate()) seen.push(row.id);
    t.see('iterate all', seen);
    const early = [];
    for (const row of it.iterate()) { early.push(row.memo); if (early.length === 2) break; }
    t.see('iterate, left early', early);
    t.see('write after leaving early', post.run(3, 3, 'after iterate').changes, 1);
    t.error('write while iterating', () => {
        for (const row of it.iterate()) post.run(row.id, 0, 'inside');
    });
    const gen = db.prepare('SELECT name, n FROM tags ORDER BY name').iterate();
    t.see('iterate empty', gen.next(), { done: true, value: undefined });
    t.see('iterate with range', [...db.prepare('SELECT id FROM ledger WHERE id BETWEEN ? AND ? ' +
        'ORDER BY id').pluck().iterate(2, 4)]);

    // TEXT keys, BLOBs, expand() over a join, user functions and aggregates.
    const putTag = db.prepare('INSERT INTO tags (name, n, data) VALUES (?, ?, ?)');
    const tagAll = db.transaction((rows) => { for (const r of rows) putTag.run(...r); });
    tagAll([['b', 2, Buffer.from([0, 1, 2])], ['a', 1, null], ['é', 3, Buffer.alloc(0)],
            ['B', 4, Buffer.from('text')]]);
    t.see('text keys in BINARY order', db.prepare('SELECT name, n, data FROM tags ORDER BY name')
        .raw().all());
    t.see('text key range', db.prepare('SELECT name FROM tags WHERE name >= ? ORDER BY name DESC')
        .pluck().all('a'), ['é', 'b', 'a']);
    t.see('expand over a join', db.prepare('SELECT a.owner, l.amount FROM accounts a JOIN ledger l ' +
        'ON l.account = a.id WHERE l.id <= 4 ORDER BY l.id').expand().all());
    db.function('twice', { deterministic: true }, (x) => x * 2);
    db.aggregate('total', { start: 0, step: (acc, v) => acc + (v || 0) });
    t.see('user function and aggregate', db.prepare('SELECT twice(sum(amount)), total(amount) ' +
        'FROM ledger').raw().get());
    t.see('columns()', db.prepare('SELECT id, owner, balance FROM accounts').columns()
        .map((c) => [c.name, c.column, c.table, c.type]));
    t.see('reader / readonly', [db.prepare('SELECT 1 FROM accounts').reader,
        db.prepare('DELETE FROM accounts WHERE id = 0').readonly]);
    t.see('delete changes', db.prepare('DELETE FROM ledger WHERE amount < 0').run().changes);
    t.see('update changes', db.prepare('UPDATE ledger SET memo = upper(memo) WHERE id > 5')
        .run().changes);

    // A second connection sees committed work, and not work in progress.
    const other = open();
    db.prepare('BEGIN').run();
    post.run(1, 42, 'uncommitted');
    t.see('other: before commit', other.prepare("SELECT count(*) FROM ledger WHERE memo = " +
        "'uncommitted'").pluck().get(), 0);
    db.prepare('COMMIT').run();
    t.see('other: after commit', other.prepare("SELECT count(*) FROM ledger WHERE memo = " +
        "'uncommitted'").pluck().get(), 1);
    t.see('other: insert', other.prepare('INSERT INTO ledger (memo) VALUES (?)').run('from other'));
    other.close();
    t.see('final ledger', db.prepare('SELECT * FROM ledger ORDER BY id').raw().all());
    t.see('final accounts', db.prepare('SELECT * FROM accounts ORDER BY id').raw().all());
    db.close();

    // Reopened: everything is still there.
    const again = open();
    // Transactions whose statements are prepared as they go: ledger and tags
    // open (first used since the reopen) after the transaction read accounts,
    // written longer ago, and must show all their rows.
    const reopened = again.transaction(() => {
        const n = again.prepare('SELECT count(*) FROM accounts').pluck().get();
        const r = again.prepare('INSERT INTO ledger (account, amount, memo) VALUES (?, ?, ?)')
            .run(1, n, 'after reopen');
        return [n, r.lastInsertRowid, again.prepare('SELECT count(*) FROM ledger').pluck().get()];
    });
    t.see('reopen: read one table, then write another', reopened(), [7, 17, 12]);
    t.error('reopen: duplicate key in another table', () => again.transaction(() => {
        again.prepare('SELECT count(*) FROM accounts').pluck().get();
        again.prepare("INSERT INTO tags (name, n) VALUES ('a', 0)").run();
    })());
    t.see('after reopen', again.prepare('SELECT (SELECT count(*) FROM accounts), ' +
        '(SELECT count(*) FROM ledger), (SELECT count(*) FROM big), (SELECT count(*) FROM tags)')
        .raw().get());
    for (const n of ['accounts', 'ledger', 'big', 'tags']) again.exec(`DROP TABLE ${n}`);
    t.see('tables after DROP', again.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .pluck().all(), []);
    again.close();
}

function runPass(mode) {
    const t = new Transcript();
    const top = fs.mkdtempSync(path.join(os.tmpdir(), `armdb-node-${mode}.`));
    try {
        workload(t, mode, path.join(top, 'app.db'));
        const left = [];
        const walk = (d) => { for (const f of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, f.name);
            if (f.isDirectory()) walk(p); else if (p !== path.join(top, 'app.db')) left.push(p);
        } };
        walk(top);
        t.see('files left beside app.db', left.map((p) => path.relative(top, p)), []);
    } catch (e) { // an exception ends the pass; the step lists then differ
        t.see('exception', `${e.constructor.name}: ${e.message}\n${e.stack}`);
    } finally {
        fs.rmSync(top, { recursive: true, force: true });
    }
    return t;
}

// One step seen alike on both passes. An error's message must be native's,
// or native's followed by armdb's detail after a colon (SQLite's own
// "datatype mismatch" for a bad key, where armdb adds "cannot store TEXT
// value in INTEGER column accounts.id").
function sameStep(a, b) {
    if (a[0] !== b[0] || a[1] !== b[1]) return false;
    if (a[2] === undefined || a[2] === b[2]) return a[2] === b[2];
    return typeof b[2] === 'string' && b[2].startsWith(a[2] + ': ');
}

const showStep = (s) => s[1] + (s[2] === undefined ? '' : ' ' + show(s[2]));

function main() {
    const probe = new Database(':memory:');
    console.log(`app_better_sqlite3: better-sqlite3 ${require(path.join(MODULES,
        'better-sqlite3', 'package.json')).version}, SQLite ${probe.prepare(
        'SELECT sqlite_version()').pluck().get()}, Node ${process.version}, ` +
        `${WAL ? 'WAL' : 'rollback journal'}, armdb(${ARMDB_OPTS})`);
    probe.close();
    const native = runPass('native');
    const armdb = runPass('armdb');
    let passed = 0;
    let failed = 0;
    const n = Math.max(native.steps.length, armdb.steps.length);
    for (let i = 0; i < n; i++) {
        const a = native.steps[i] || ['(missing)', ''];
        const b = armdb.steps[i] || ['(missing)', ''];
        if (VERBOSE) console.log(`${a[0]}: ${showStep(a)}`);
        if (sameStep(a, b)) {
            passed++;
        } else {
            failed++;
            console.log(`FAIL ${a[0]}\n  native: ${showStep(a)}\n  armdb:  ${a[0] === b[0] ?
                showStep(b) : b[0] + ': ' + showStep(b)}`);
        }
    }
    for (const [mode, t] of [['native', native], ['armdb', armdb]]) {
        passed += t.checks - t.wrong.length;
        for (const [label, expect, got] of t.wrong) {
            failed++;
            console.log(`FAIL ${label} (${mode} pass)\n  expected: ${expect}\n  got:      ${got}`);
        }
    }
    console.log(`app_better_sqlite3: ${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
}

main();
