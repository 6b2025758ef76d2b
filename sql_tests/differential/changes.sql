.load build/armdb
-- changes() and total_changes() count the rows each statement really wrote,
-- as on a native table (INSERT OR IGNORE is in pending/: not yet).
.headers on
.mode list
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;
CREATE TABLE k(key TEXT PRIMARY KEY NOT NULL, n INTEGER) WITHOUT ROWID /*armdb: shards=2*/;
INSERT INTO t VALUES (1, 'a');
SELECT changes(), total_changes();
INSERT INTO t VALUES (2, 'b'), (3, 'c'), (4, 'd');
SELECT changes(), total_changes();
UPDATE t SET v = upper(v) WHERE id >= 3;
SELECT changes(), total_changes();
UPDATE t SET v = 'none' WHERE id > 100;
SELECT changes(), total_changes();
UPDATE t SET v = v;
SELECT changes(), total_changes();
DELETE FROM t WHERE id = 2;
SELECT changes(), total_changes();
DELETE FROM t WHERE id = 2;
SELECT changes(), total_changes();
INSERT OR REPLACE INTO t VALUES (1, 'replaced');
SELECT changes(), total_changes();
INSERT OR REPLACE INTO t VALUES (9, 'new');
SELECT changes(), total_changes();
REPLACE INTO t VALUES (9, 'again'), (10, 'ten');
SELECT changes(), total_changes();
INSERT INTO t VALUES (11, 'x'), (1, 'dup');
SELECT changes(), total_changes();
INSERT INTO k SELECT 'k' || id, id FROM t;
SELECT changes(), total_changes();
UPDATE k SET key = key || '!' WHERE n > 3;
SELECT changes(), total_changes();
DELETE FROM k;
SELECT changes(), total_changes();
-- inside a transaction, and after a rollback
BEGIN;
INSERT INTO t VALUES (20, 'x'), (21, 'y');
SELECT changes(), total_changes();
SAVEPOINT s;
DELETE FROM t WHERE id >= 20;
SELECT changes(), total_changes();
ROLLBACK TO s;
COMMIT;
SELECT changes(), total_changes();
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
.changes on
UPDATE t SET v = 'shell' WHERE id IN (1, 9, 99);
DELETE FROM t WHERE v = 'shell';
.changes off
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
