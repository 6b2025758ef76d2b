.load build/armdb
-- An INTEGER PRIMARY KEY inserted as NULL or omitted gets the largest key + 1,
-- and last_insert_rowid() reports it, as in a native table (`n`, alongside).
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE a USING armdb(id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE n(id INTEGER PRIMARY KEY, name TEXT);
CREATE TEMP VIEW rows_ AS SELECT 'armdb' AS t, * FROM a UNION ALL SELECT 'native', * FROM n;
-- an empty table starts at 1
INSERT INTO a(name) VALUES ('first');
SELECT 'armdb' AS t, last_insert_rowid() AS rowid;
INSERT INTO n(name) VALUES ('first');
SELECT 'native' AS t, last_insert_rowid() AS rowid;
-- NULL and omitted alike; an explicit key is reported too
INSERT INTO a VALUES (NULL, 'second');
INSERT INTO n VALUES (NULL, 'second');
INSERT INTO a VALUES (10, 'ten');
SELECT 'armdb' AS t, last_insert_rowid() AS rowid;
INSERT INTO n VALUES (10, 'ten');
SELECT 'native' AS t, last_insert_rowid() AS rowid;
INSERT INTO a(name) VALUES ('after ten'), ('and again');
SELECT 'armdb' AS t, last_insert_rowid() AS rowid;
INSERT INTO n(name) VALUES ('after ten'), ('and again');
SELECT 'native' AS t, last_insert_rowid() AS rowid;
-- a deleted largest key is reused, as SQLite does without AUTOINCREMENT
DELETE FROM a WHERE id = 12;
DELETE FROM n WHERE id = 12;
INSERT INTO a(name) VALUES ('twelve again');
INSERT INTO n(name) VALUES ('twelve again');
-- inside a transaction: own uncommitted keys count; a rollback gives them back
BEGIN;
INSERT INTO a(name) VALUES ('in txn 1'), ('in txn 2');
SELECT 'armdb' AS t, last_insert_rowid() AS rowid;
ROLLBACK;
BEGIN;
INSERT INTO n(name) VALUES ('in txn 1'), ('in txn 2');
SELECT 'native' AS t, last_insert_rowid() AS rowid;
ROLLBACK;
INSERT INTO a(name) VALUES ('after rollback');
INSERT INTO n(name) VALUES ('after rollback');
SELECT t, id, name FROM rows_ ORDER BY id, t;
-- an INSERT OR IGNORE that ignored its row leaves last_insert_rowid alone
INSERT INTO a VALUES (20, 'twenty');
INSERT OR IGNORE INTO a VALUES (1, 'dup');
SELECT 'armdb' AS t, last_insert_rowid() AS rowid;
INSERT INTO n VALUES (20, 'twenty');
INSERT OR IGNORE INTO n VALUES (1, 'dup');
SELECT 'native' AS t, last_insert_rowid() AS rowid;
-- UPDATE of the key to NULL is a type error, as for a rowid
UPDATE a SET id = NULL WHERE id = 1;
UPDATE n SET id = NULL WHERE id = 1;
-- a table whose key is not an integer does not touch last_insert_rowid
CREATE VIRTUAL TABLE s USING armdb(code TEXT PRIMARY KEY, v);
CREATE TABLE sn(code TEXT PRIMARY KEY, v) WITHOUT ROWID;
INSERT INTO s VALUES ('x', 1);
SELECT 'armdb' AS t, last_insert_rowid() AS rowid;
INSERT INTO sn VALUES ('x', 1);
SELECT 'native' AS t, last_insert_rowid() AS rowid;
-- negative keys: largest + 1 even when that is negative
CREATE VIRTUAL TABLE neg USING armdb(id INTEGER PRIMARY KEY, v);
CREATE TABLE negn(id INTEGER PRIMARY KEY, v);
INSERT INTO neg VALUES (-5, 'a');
INSERT INTO neg(v) VALUES ('b');
INSERT INTO negn VALUES (-5, 'a');
INSERT INTO negn(v) VALUES ('b');
SELECT 'armdb' AS t, group_concat(id) FROM neg UNION ALL SELECT 'native', group_concat(id) FROM negn;
-- at the largest possible key, unused positive keys are picked at random
INSERT INTO neg VALUES (9223372036854775807, 'max');
INSERT INTO neg(v) VALUES ('random 1'), ('random 2');
INSERT INTO negn VALUES (9223372036854775807, 'max');
INSERT INTO negn(v) VALUES ('random 1'), ('random 2');
SELECT 'armdb' AS t, count(*), count(DISTINCT id), sum(id > 0 AND id < 9223372036854775807)
  FROM neg WHERE v LIKE 'random%'
UNION ALL SELECT 'native', count(*), count(DISTINCT id), sum(id > 0 AND id < 9223372036854775807)
  FROM negn WHERE v LIKE 'random%';
