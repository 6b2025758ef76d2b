.load build/armdb
-- index='hash': point operations as usual; cursors are unordered, so ranges
-- and ORDER BY are left to SQLite (a scan and a sort) and stay correct.
.headers on
.mode list
CREATE VIRTUAL TABLE h USING armdb(dir='h', index='hash', key_type='integer');
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200)
INSERT INTO h SELECT i - 100, i FROM c;
EXPLAIN QUERY PLAN SELECT value FROM h WHERE key = 5;
EXPLAIN QUERY PLAN SELECT value FROM h WHERE key IN (5, 6) ORDER BY key DESC;
EXPLAIN QUERY PLAN SELECT value FROM h WHERE key > 5 ORDER BY key;
EXPLAIN QUERY PLAN SELECT value FROM h ORDER BY key DESC LIMIT 2;
SELECT value FROM h WHERE key = 5;
SELECT group_concat(key) FROM (SELECT key FROM h WHERE key IN (6, -99, 5, 500) ORDER BY key DESC);
SELECT group_concat(key) FROM (SELECT key FROM h WHERE key > 95 ORDER BY key);
SELECT group_concat(key) FROM (SELECT key FROM h WHERE key BETWEEN -3 AND 3 ORDER BY key DESC);
SELECT group_concat(key) FROM (SELECT key FROM h ORDER BY key DESC LIMIT 2);
SELECT count(*), sum(key), min(key), max(key) FROM h;
INSERT INTO h VALUES (5, 'dup');
INSERT OR REPLACE INTO h VALUES (5, 'five');
UPDATE h SET key = 1000 WHERE key = -99;
DELETE FROM h WHERE key < -90;
SELECT count(*), min(key), max(key) FROM h;
SELECT value FROM h WHERE key IN (5, 1000);
SELECT json_extract(armdb_stats('h'), '$.index') AS idx, json_extract(armdb_stats('h'), '$.keys') AS keys;
