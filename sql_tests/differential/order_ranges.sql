.load build/armdb
-- ORDER BY and ranges over INTEGER (negatives, extremes), TEXT (BINARY
-- collation) and BLOB keys: what armdb pushes down must return exactly the
-- rows, in exactly the order, that a native table returns.
.headers on
.mode list
CREATE TABLE n(key INTEGER PRIMARY KEY, value TEXT) /*armdb: shards=3*/;
CREATE TABLE t(key TEXT PRIMARY KEY NOT NULL, value INTEGER) WITHOUT ROWID /*armdb: shards=2*/;
CREATE TABLE b(key BLOB PRIMARY KEY NOT NULL, value INTEGER) WITHOUT ROWID /*armdb*/;
INSERT INTO n VALUES (-9223372036854775808, 'min'), (-256, 'a'), (-255, 'b'), (-1, 'c'), (0, 'd'),
  (1, 'e'), (7, 'f'), (255, 'g'), (256, 'h'), (9223372036854775807, 'max');
WITH RECURSIVE c(i) AS (SELECT 1000 UNION ALL SELECT i + 7 FROM c WHERE i < 3000) INSERT INTO n SELECT i, 'r' || i FROM c;
INSERT INTO t VALUES ('', 0), ('B', 1), ('a', 2), ('aa', 3), ('ab', 4), ('b', 5), ('z', 6), ('é', 7), ('42', 8), ('a b', 9);
INSERT INTO b VALUES (x'', 0), (x'00', 1), (x'0000', 2), (x'01', 3), (x'7f', 4), (x'80', 5), (x'fe01', 6), (x'ff', 7);
-- integer keys
SELECT key, value FROM n WHERE key < 1000 ORDER BY key;
SELECT key FROM n WHERE key < 1000 ORDER BY key DESC;
SELECT key FROM n WHERE key < 0 ORDER BY key;
SELECT key FROM n WHERE key BETWEEN -256 AND 255 ORDER BY key DESC;
SELECT key FROM n WHERE key > -256 AND key <= 256 ORDER BY key;
SELECT key FROM n WHERE key >= 2990 ORDER BY key;
SELECT key FROM n WHERE key > 1500 ORDER BY key LIMIT 5;
SELECT key FROM n WHERE key > 1500 ORDER BY key DESC LIMIT 5 OFFSET 3;
SELECT key FROM n WHERE key IN (7, -1, 256, 99, 9223372036854775807) ORDER BY key;
SELECT key FROM n WHERE key IN (7, -1, 256) ORDER BY key DESC;
SELECT value FROM n WHERE key = 255;
SELECT value FROM n WHERE key = 254;
SELECT count(*), min(key), max(key), sum(key % 1000) FROM n;
SELECT group_concat(key) FROM (SELECT key FROM n WHERE key >= 2.5 AND key < 255.5 ORDER BY key);
SELECT group_concat(key) FROM (SELECT key FROM n WHERE key > 9223372036854775806 ORDER BY key);
SELECT group_concat(key) FROM (SELECT key FROM n WHERE key < -9223372036854775807 ORDER BY key);
SELECT key FROM n WHERE key = 1 OR key = 256 ORDER BY key;
-- text keys
SELECT key, value FROM t ORDER BY key;
SELECT key FROM t ORDER BY key DESC;
SELECT key FROM t WHERE key >= 'a' AND key < 'b' ORDER BY key;
SELECT key FROM t WHERE key > 'a' ORDER BY key DESC LIMIT 3;
SELECT key FROM t WHERE key BETWEEN 'B' AND 'ab' ORDER BY key;
SELECT key FROM t WHERE key IN ('z', 'a', 'nope', '') ORDER BY key;
SELECT value FROM t WHERE key = 'é';
SELECT key FROM t WHERE key LIKE 'a%' ORDER BY key;
-- blob keys
SELECT hex(key), value FROM b ORDER BY key;
SELECT hex(key) FROM b ORDER BY key DESC;
SELECT hex(key) FROM b WHERE key > x'00' AND key <= x'80' ORDER BY key;
SELECT hex(key) FROM b WHERE key >= x'fe' ORDER BY key DESC;
SELECT value FROM b WHERE key = x'';
-- ordering by a non-key column (SQLite sorts)
SELECT key FROM t ORDER BY value DESC LIMIT 4;
SELECT key, value FROM n WHERE value LIKE 'r29%' ORDER BY value;
-- mixed types in comparisons: the key column's affinity applies, as natively
SELECT value FROM n WHERE key = '7';
SELECT group_concat(key) FROM (SELECT key FROM n WHERE key > '2980' ORDER BY key);
SELECT group_concat(key) FROM (SELECT key FROM n WHERE key <= '1' AND key > -2 ORDER BY key);
SELECT count(*) FROM n WHERE key = 'seven';
SELECT count(*) FROM n WHERE key = x'07';
SELECT value FROM t WHERE key = 42;
SELECT group_concat(key) FROM (SELECT key FROM t WHERE key < 5 ORDER BY key);
SELECT count(*) FROM b WHERE key = '';
SELECT count(*) FROM b WHERE key > 'a';
