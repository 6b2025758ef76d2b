-- A first armdb session: run with `make demo` (or sqlite3 -init /dev/null demo.db < examples/demo.sql
-- after `make`). Run it twice: the second run shows what the first one left.
.load build/armdb
.headers on
.mode box
CREATE VIRTUAL TABLE IF NOT EXISTS kv USING armdb;
CREATE VIRTUAL TABLE IF NOT EXISTS users USING armdb(id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INTEGER);
CREATE VIRTUAL TABLE IF NOT EXISTS runs USING armdb(id INTEGER PRIMARY KEY, at TEXT DEFAULT (datetime('now')));

.print
.print "1. Persistence: the rows earlier runs of this demo left (0 on the first run). They live in"
.print "   build/demo/demo.db-armdb/, one directory per table, beside SQLite's own file."
SELECT count(*) AS earlier_runs, max(at) AS last_run_utc FROM runs;
INSERT INTO runs DEFAULT VALUES;

.print
.print "2. A key/value table: INSERT OR REPLACE overwrites; a point lookup by key."
INSERT OR REPLACE INTO kv VALUES (x'0001', 'hello');
INSERT OR REPLACE INTO kv VALUES (x'0001', 'world');
INSERT OR REPLACE INTO kv VALUES (x'10', 'ten'), (x'15', 'fifteen'), (x'1f', 'thirty-one'), (x'20', 'thirty-two');
SELECT hex(key) AS key, value FROM kv WHERE key = x'0001';

.print
.print "3. A range of keys, newest first: the engine walks its ordered index (no sort)."
SELECT hex(key) AS key, value FROM kv WHERE key >= x'10' AND key < x'20' ORDER BY key DESC LIMIT 10;

.print
.print "4. A table with columns: an id left out gets the next key, last_insert_rowid() reports it,"
.print "   and '36' typed as text is stored as the integer 36 (the column is INTEGER)."
INSERT OR REPLACE INTO users VALUES (7, 'Ada', 'ada@example.com', '36'), (-2, 'Grace', 'grace@example.com', 45);
INSERT INTO users(name, email, age) VALUES ('Edsger', 'ew@example.com', 72);
SELECT last_insert_rowid() AS new_id;

.print
.print "5. One transaction over two tables: Ada ages a year, the 'world' row goes. All or nothing."
BEGIN;
UPDATE users SET age = age + 1 WHERE id = 7;
DELETE FROM kv WHERE key = x'0001';
COMMIT;
SELECT id, name, age, typeof(age) AS age_type FROM users ORDER BY id;
SELECT count(*) AS kv_rows_now FROM kv;

.print
.print "6. The plan: the id range and the ORDER BY go to the engine (see \"key>=? AND key<=?\")."
EXPLAIN QUERY PLAN SELECT * FROM users WHERE id BETWEEN 0 AND 100 ORDER BY id DESC;

.print
.print "7. armdb_stats: the engine's own counters for the users table (JSON)."
.mode list
SELECT armdb_stats('users') AS users_stats;
