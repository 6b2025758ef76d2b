.load build/armdb
-- xBestIndex: what is pushed down, shown by EXPLAIN QUERY PLAN. No
-- "USE TEMP B-TREE FOR ORDER BY" when ordering by the key.
.headers on
.mode list
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', key_type='integer');
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000)
INSERT INTO kv SELECT i, 'v' || i FROM c;
EXPLAIN QUERY PLAN SELECT value FROM kv WHERE key = 5;
EXPLAIN QUERY PLAN SELECT value FROM kv WHERE key = ?1 ORDER BY key;
EXPLAIN QUERY PLAN SELECT value FROM kv WHERE key IN (1, 5, 9);
EXPLAIN QUERY PLAN SELECT value FROM kv WHERE key IN (1, 5, 9) ORDER BY key DESC;
EXPLAIN QUERY PLAN SELECT value FROM kv WHERE key > 5;
EXPLAIN QUERY PLAN SELECT value FROM kv WHERE key >= 5 AND key < 10;
EXPLAIN QUERY PLAN SELECT value FROM kv WHERE key BETWEEN 5 AND 10 ORDER BY key DESC;
EXPLAIN QUERY PLAN SELECT value FROM kv WHERE key <= 5;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY key;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY key DESC LIMIT 3;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY key, value;
EXPLAIN QUERY PLAN SELECT * FROM kv ORDER BY value;
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE value = 'v5';
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key = 5 OR key = 7;
-- a point lookup beats a range when both are offered
EXPLAIN QUERY PLAN SELECT * FROM kv WHERE key > 3 AND key = 5;
-- the results of those plans
SELECT value FROM kv WHERE key = 5;
SELECT group_concat(value) FROM (SELECT value FROM kv WHERE key IN (9, 1, 5, 5, 2000) ORDER BY key DESC);
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key IN (9, 1, 5) ORDER BY key);
SELECT count(*) FROM kv WHERE key > 5;
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key >= 5 AND key < 10);
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key BETWEEN 5 AND 10 ORDER BY key DESC);
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key <= 5);
SELECT group_concat(key) FROM (SELECT key FROM kv ORDER BY key DESC LIMIT 3);
SELECT group_concat(key) FROM (SELECT key FROM kv ORDER BY key LIMIT 3 OFFSET 10);
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key > 995 ORDER BY key);
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key > 5 AND key > 990 AND key < 995);
SELECT group_concat(key) FROM (SELECT key FROM kv WHERE key = 5 OR key = 7);
SELECT count(*) FROM kv WHERE key > 10 AND key < 5;
-- a join drives point lookups into the armdb table
CREATE TABLE ids(id INTEGER);
INSERT INTO ids VALUES (3), (1000), (1001), (-1);
EXPLAIN QUERY PLAN SELECT kv.value FROM ids JOIN kv ON kv.key = ids.id;
SELECT group_concat(value) FROM (SELECT kv.value FROM ids JOIN kv ON kv.key = ids.id ORDER BY ids.id);
-- TEXT keys: a NOCASE order or comparison is not consumed
CREATE VIRTUAL TABLE t USING armdb(dir='t', key_type='text');
EXPLAIN QUERY PLAN SELECT * FROM t ORDER BY key COLLATE NOCASE;
EXPLAIN QUERY PLAN SELECT * FROM t WHERE key = 'a' COLLATE NOCASE;
EXPLAIN QUERY PLAN SELECT * FROM t WHERE key >= 'a' AND key < 'b' ORDER BY key;
