.load build/armdb
-- Regressions found in review: each of these once gave a wrong answer or
-- destroyed data.
.headers on
.mode list
.open test.db
.load build/armdb
-- IN on a table-form table re-splits every record (rows of different
-- lengths once showed the previous row's field layout)
CREATE VIRTUAL TABLE u USING armdb(id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INTEGER);
INSERT INTO u VALUES (1,'al','al@x',30),(2,'barbara','b@example.com',41),(3,NULL,'c@c',7);
INSERT INTO u VALUES (4, zeroblob(100000), 'big', 1);
SELECT id, name, email, age FROM u WHERE id IN (1,2,3) ORDER BY id;
SELECT id, length(name), email FROM u WHERE id IN (1,4,2) ORDER BY id;
-- a TEXT key compared with a number follows SQLite's affinity rules
CREATE VIRTUAL TABLE t USING armdb(k TEXT PRIMARY KEY, v);
CREATE TABLE t_native(k TEXT PRIMARY KEY, v);
INSERT INTO t VALUES ('05','a'),('5','b'),('5.0','c'),(' 5','d'),('6','e');
INSERT INTO t_native SELECT * FROM t;
SELECT 'armdb', k FROM t WHERE k = CAST(5 AS INTEGER) ORDER BY k;
SELECT 'native', k FROM t_native WHERE k = CAST(5 AS INTEGER) ORDER BY k;
SELECT 'armdb', k FROM t WHERE k IN (SELECT 5.0) ORDER BY k;
SELECT 'native', k FROM t_native WHERE k IN (SELECT 5.0) ORDER BY k;
SELECT 'armdb', k FROM t WHERE k = '5';
-- a table created inside a transaction reads its own writes
BEGIN;
CREATE VIRTUAL TABLE kv USING armdb(key_type='integer');
INSERT INTO kv VALUES (1,'a');
UPDATE kv SET value='changed' WHERE key=1;
SELECT 'in txn', key, value FROM kv;
DELETE FROM kv WHERE key=1;
INSERT INTO kv VALUES (2,'b');
SELECT 'in txn', key, value FROM kv;
COMMIT;
SELECT 'after', key, value FROM kv;
-- RENAME and DROP inside a transaction are refused (ROLLBACK could not undo them)
BEGIN;
ALTER TABLE kv RENAME TO kv2;
DROP TABLE kv;
ROLLBACK;
SELECT 'still', key, value FROM kv;
-- DROP removes only the engine's files: dir='.' once deleted the database itself
CREATE TABLE keepme(x);
INSERT INTO keepme VALUES (42);
.system mkdir -p mine && echo hello > mine/notes.txt
CREATE VIRTUAL TABLE b USING armdb(dir='mine');
INSERT INTO b VALUES (x'01', 1);
DROP TABLE b;
.system ls mine
CREATE VIRTUAL TABLE c USING armdb(dir='.');
INSERT INTO c VALUES (x'01', 1);
DROP TABLE c;
SELECT x FROM keepme;
.system ls
