.load build/armdb
-- Two connections of one shell (.connection) on one database in WAL mode:
-- uncommitted writes stay private, a COMMIT publishes them all at once, a
-- ROLLBACK publishes nothing. (A reader's snapshot across another's COMMIT,
-- and rollback-journal locking, are in pending/.)
.headers on
.mode list
PRAGMA journal_mode = WAL;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb: shards=2*/;
CREATE TABLE k(key TEXT PRIMARY KEY NOT NULL, n INTEGER) WITHOUT ROWID /*armdb*/;
INSERT INTO t VALUES (1, 'one');
.connection 1
.open test.db
.load build/armdb
SELECT * FROM t;
.connection 0
BEGIN;
INSERT INTO t VALUES (2, 'two');
INSERT INTO k VALUES ('a', 1), ('b', 2);
UPDATE t SET v = 'ONE' WHERE id = 1;
SELECT group_concat(id || v) FROM (SELECT * FROM t ORDER BY id);
.connection 1
SELECT group_concat(id || v) FROM (SELECT * FROM t ORDER BY id);
SELECT count(*) FROM k;
.connection 0
COMMIT;
.connection 1
SELECT group_concat(id || v) FROM (SELECT * FROM t ORDER BY id);
SELECT group_concat(key || n) FROM (SELECT * FROM k ORDER BY key);
BEGIN;
DELETE FROM t;
UPDATE k SET n = n + 10;
.connection 0
SELECT count(*) FROM t;
.connection 1
ROLLBACK;
.connection 0
SELECT group_concat(id || v) FROM (SELECT * FROM t ORDER BY id);
SELECT group_concat(key || n) FROM (SELECT * FROM k ORDER BY key);
-- the second connection writes, the first reads it back
.connection 1
INSERT INTO t VALUES (3, 'three from 1');
DELETE FROM k WHERE key = 'a';
.connection 0
.connection close 1
SELECT group_concat(id || v) FROM (SELECT * FROM t ORDER BY id);
SELECT group_concat(key || n) FROM (SELECT * FROM k ORDER BY key);
