.load build/armdb
-- Savepoints and changes(), each statement run on a native table and on an
-- armdb table: the outputs must agree line by line.
.headers on
.mode list
CREATE VIRTUAL TABLE a USING armdb(dir='a', key_type='integer');
CREATE TABLE n(key INTEGER PRIMARY KEY, value);
-- the outermost savepoint outside BEGIN (SQLite rolls vtabs back to -1)
SAVEPOINT s; INSERT INTO a VALUES (1, 'x'); ROLLBACK TO s; RELEASE s;
SAVEPOINT s; INSERT INTO n VALUES (1, 'x'); ROLLBACK TO s; RELEASE s;
SELECT (SELECT count(*) FROM a) AS armdb, (SELECT count(*) FROM n) AS native;
-- nested savepoints inside BEGIN
BEGIN;
INSERT INTO a VALUES (10, 'kept'); INSERT INTO n VALUES (10, 'kept');
SAVEPOINT x;
INSERT INTO a VALUES (11, 'x'); INSERT INTO n VALUES (11, 'x');
SAVEPOINT y;
INSERT INTO a VALUES (12, 'y'); INSERT INTO n VALUES (12, 'y');
ROLLBACK TO y;
INSERT INTO a VALUES (13, 'after y'); INSERT INTO n VALUES (13, 'after y');
RELEASE y;
ROLLBACK TO x;
INSERT INTO a VALUES (14, 'after x'); INSERT INTO n VALUES (14, 'after x');
RELEASE x;
COMMIT;
SELECT group_concat(key) AS armdb FROM (SELECT key FROM a ORDER BY key);
SELECT group_concat(key) AS native FROM (SELECT key FROM n ORDER BY key);
-- a savepoint released into BEGIN, then the whole transaction rolled back
BEGIN; SAVEPOINT z; INSERT INTO a VALUES (20, 'z'); INSERT INTO n VALUES (20, 'z'); RELEASE z; ROLLBACK;
SELECT (SELECT count(*) FROM a WHERE key = 20) AS armdb, (SELECT count(*) FROM n WHERE key = 20) AS native;
-- a statement that fails part-way is undone whole (its statement savepoint)
INSERT INTO a SELECT value, 'multi' FROM (SELECT 30 AS value UNION ALL SELECT 31 UNION ALL SELECT 10);
INSERT INTO n SELECT value, 'multi' FROM (SELECT 30 AS value UNION ALL SELECT 31 UNION ALL SELECT 10);
SELECT (SELECT count(*) FROM a WHERE key IN (30, 31)) AS armdb, (SELECT count(*) FROM n WHERE key IN (30, 31)) AS native;
-- ... and inside BEGIN the transaction goes on without it
BEGIN;
INSERT INTO a VALUES (40, 'before');
INSERT INTO n VALUES (40, 'before');
INSERT INTO a SELECT value, 'multi' FROM (SELECT 41 AS value UNION ALL SELECT 10);
INSERT INTO n SELECT value, 'multi' FROM (SELECT 41 AS value UNION ALL SELECT 10);
COMMIT;
SELECT group_concat(key) AS armdb FROM (SELECT key FROM a WHERE key >= 40 ORDER BY key);
SELECT group_concat(key) AS native FROM (SELECT key FROM n WHERE key >= 40 ORDER BY key);
-- OR FAIL keeps the rows before the failing one; OR ROLLBACK undoes the transaction
BEGIN;
INSERT INTO a VALUES (50, 'in txn');
INSERT INTO n VALUES (50, 'in txn');
INSERT OR FAIL INTO a SELECT value, 'fail' FROM (SELECT 51 AS value UNION ALL SELECT 10 UNION ALL SELECT 52);
INSERT OR FAIL INTO n SELECT value, 'fail' FROM (SELECT 51 AS value UNION ALL SELECT 10 UNION ALL SELECT 52);
COMMIT;
SELECT group_concat(key) AS armdb FROM (SELECT key FROM a WHERE key >= 50 ORDER BY key);
SELECT group_concat(key) AS native FROM (SELECT key FROM n WHERE key >= 50 ORDER BY key);
BEGIN;
INSERT INTO a VALUES (60, 'in txn');
INSERT OR ROLLBACK INTO a VALUES (10, 'dup');

COMMIT;
BEGIN;
INSERT INTO n VALUES (60, 'in txn');
INSERT OR ROLLBACK INTO n VALUES (10, 'dup');
COMMIT;
SELECT (SELECT count(*) FROM a WHERE key = 60) AS armdb, (SELECT count(*) FROM n WHERE key = 60) AS native;
-- changes(): only rows really changed
INSERT OR IGNORE INTO a VALUES (10, 'dup'); SELECT changes() AS armdb_ignored;
INSERT OR IGNORE INTO n VALUES (10, 'dup'); SELECT changes() AS native_ignored;
INSERT OR IGNORE INTO a VALUES (70, 'new'), (10, 'dup'), (71, 'new'); SELECT changes() AS armdb_two;
INSERT OR IGNORE INTO n VALUES (70, 'new'), (10, 'dup'), (71, 'new'); SELECT changes() AS native_two;
INSERT OR REPLACE INTO a VALUES (10, 'replaced'); SELECT changes() AS armdb_replace;
INSERT OR REPLACE INTO n VALUES (10, 'replaced'); SELECT changes() AS native_replace;
UPDATE a SET value = value WHERE key >= 70; SELECT changes() AS armdb_update;
UPDATE n SET value = value WHERE key >= 70; SELECT changes() AS native_update;
DELETE FROM a WHERE key >= 70; SELECT changes() AS armdb_delete;
DELETE FROM n WHERE key >= 70; SELECT changes() AS native_delete;
DELETE FROM a WHERE key = 12345; SELECT changes() AS armdb_none;
DELETE FROM n WHERE key = 12345; SELECT changes() AS native_none;
SELECT total_changes() > 0 AS counted;
