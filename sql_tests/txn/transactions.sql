.load build/armdb
-- Transactions: all at COMMIT, nothing after ROLLBACK, savepoints, and a
-- transaction reads its own writes (point lookups and scans).
.headers on
.mode list
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', key_type='integer');
INSERT INTO kv VALUES (1, 'one'), (2, 'two'), (3, 'three');
BEGIN;
INSERT INTO kv VALUES (4, 'four');
UPDATE kv SET value = 'TWO' WHERE key = 2;
DELETE FROM kv WHERE key = 1;
-- own writes: point lookups, IN, a scan, a range, descending
SELECT value FROM kv WHERE key = 4;
SELECT value FROM kv WHERE key = 2;
SELECT count(*) FROM kv WHERE key = 1;
SELECT group_concat(value) FROM (SELECT value FROM kv WHERE key IN (1, 2, 4) ORDER BY key);
SELECT group_concat(key || '=' || value) FROM (SELECT * FROM kv);
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key >= 2 ORDER BY key DESC);
-- the engine itself has not seen them yet
SELECT json_extract(armdb_stats('kv'), '$.keys') AS committed_keys;
ROLLBACK;
SELECT group_concat(key || '=' || value) FROM (SELECT * FROM kv ORDER BY key);
BEGIN;
INSERT INTO kv VALUES (4, 'four');
DELETE FROM kv WHERE key = 1;
COMMIT;
SELECT group_concat(key || '=' || value) FROM (SELECT * FROM kv ORDER BY key);
SELECT json_extract(armdb_stats('kv'), '$.keys') AS committed_keys;
-- savepoints
BEGIN;
INSERT INTO kv VALUES (10, 'ten');
SAVEPOINT a;
INSERT INTO kv VALUES (11, 'eleven');
UPDATE kv SET value = 'TEN' WHERE key = 10;
SAVEPOINT b;
DELETE FROM kv WHERE key = 2;
INSERT INTO kv VALUES (12, 'twelve');
SELECT group_concat(key || '=' || value) FROM (SELECT * FROM kv ORDER BY key);
ROLLBACK TO b;
SELECT group_concat(key || '=' || value) FROM (SELECT * FROM kv ORDER BY key);
INSERT INTO kv VALUES (13, 'thirteen');
ROLLBACK TO a;
SELECT group_concat(key || '=' || value) FROM (SELECT * FROM kv ORDER BY key);
INSERT INTO kv VALUES (14, 'fourteen');
SAVEPOINT c;
INSERT INTO kv VALUES (15, 'fifteen');
RELEASE c;
ROLLBACK TO a;
INSERT INTO kv VALUES (16, 'sixteen');
RELEASE a;
COMMIT;
SELECT group_concat(key || '=' || value) FROM (SELECT * FROM kv ORDER BY key);
-- a savepoint as the outermost transaction
SAVEPOINT outer_sp;
INSERT INTO kv VALUES (20, 'twenty');
SAVEPOINT inner_sp;
INSERT INTO kv VALUES (21, 'twenty-one');
ROLLBACK TO inner_sp;
RELEASE outer_sp;
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key >= 20);
-- a table first written after the savepoint was taken
CREATE VIRTUAL TABLE late USING armdb(dir='late');
BEGIN;
SAVEPOINT s1;
INSERT INTO late VALUES (x'01', 1);
ROLLBACK TO s1;
INSERT INTO late VALUES (x'02', 2);
COMMIT;
SELECT hex(key) FROM late;
-- two armdb tables in one transaction commit together
BEGIN;
INSERT INTO kv VALUES (30, 'thirty');
INSERT INTO late VALUES (x'30', 30);
COMMIT;
BEGIN;
INSERT INTO kv VALUES (31, 'thirty-one');
INSERT INTO late VALUES (x'31', 31);
ROLLBACK;
SELECT (SELECT group_concat(key) FROM kv WHERE key >= 30) AS kv, (SELECT group_concat(hex(key)) FROM late) AS late;
-- many rows in one transaction
BEGIN;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 10000)
INSERT INTO kv SELECT 1000 + i, i FROM c;
SELECT count(*) FROM kv WHERE key > 1000;
COMMIT;
SELECT count(*), sum(value) FROM kv WHERE key > 1000;
