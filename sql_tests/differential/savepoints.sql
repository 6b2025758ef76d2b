.load build/armdb
-- Transactions and savepoints inside BEGIN: a transaction reads its own
-- writes; ROLLBACK TO discards back to the savepoint and keeps the savepoint;
-- RELEASE keeps the writes; ROLLBACK discards everything.
.headers on
.mode list
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb: shards=2*/;
CREATE TABLE k(key TEXT PRIMARY KEY NOT NULL, n INTEGER) WITHOUT ROWID /*armdb*/;
INSERT INTO t VALUES (1, 'one'), (2, 'two'), (3, 'three');
BEGIN;
INSERT INTO t VALUES (4, 'four');
UPDATE t SET v = 'TWO' WHERE id = 2;
DELETE FROM t WHERE id = 1;
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
SELECT v FROM t WHERE id = 4;
SELECT count(*) FROM t WHERE id = 1;
SAVEPOINT a;
INSERT INTO t VALUES (5, 'five');
UPDATE t SET v = 'FOUR' WHERE id = 4;
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
ROLLBACK TO a;
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
INSERT INTO t VALUES (6, 'six');
SAVEPOINT b;
DELETE FROM t WHERE id >= 3;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id DESC);
SAVEPOINT c;
INSERT INTO t VALUES (7, 'seven');
RELEASE c;
ROLLBACK TO b;
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
RELEASE a;
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
COMMIT;
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
-- ROLLBACK of a whole transaction with savepoints, over two tables
BEGIN;
INSERT INTO k VALUES ('a', 1);
SAVEPOINT s1;
INSERT INTO t VALUES (10, 'ten');
INSERT INTO k VALUES ('b', 2);
SAVEPOINT s2;
UPDATE k SET n = n * 100;
SELECT group_concat(key || n) FROM (SELECT * FROM k ORDER BY key);
ROLLBACK TO s2;
SELECT group_concat(key || n) FROM (SELECT * FROM k ORDER BY key);
ROLLBACK;
SELECT count(*) FROM k;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
-- a failed statement inside a transaction undoes only itself
BEGIN;
INSERT INTO t VALUES (20, 'twenty');
INSERT INTO t VALUES (21, 'a'), (2, 'dup'), (22, 'b');
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
UPDATE t SET id = 3 WHERE id = 20;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
COMMIT;
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
-- ranges and ORDER BY see the transaction's own writes, in key order
BEGIN;
INSERT INTO t VALUES (0, 'zero'), (15, 'fifteen');
DELETE FROM t WHERE id = 3;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE id BETWEEN 0 AND 16 ORDER BY id DESC);
SAVEPOINT r;
INSERT INTO t VALUES (-5, 'minus five');
SELECT group_concat(id) FROM (SELECT id FROM t WHERE id < 3 ORDER BY id);
ROLLBACK TO r;
SELECT group_concat(id) FROM (SELECT id FROM t WHERE id < 3 ORDER BY id);
COMMIT;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
