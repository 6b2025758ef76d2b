.load build/armdb
-- INTEGER keys sort numerically, negative numbers included; affinity as in
-- an ordinary INTEGER column.
.headers on
.mode list
CREATE VIRTUAL TABLE n USING armdb(dir='n', key_type='integer');
INSERT INTO n VALUES (0, 'zero'), (-1, 'minus one'), (1, 'one'), (-9223372036854775808, 'min'),
  (9223372036854775807, 'max'), (256, '256'), (-256, '-256'), (255, '255'), (-255, '-255');
SELECT key, value FROM n ORDER BY key;
SELECT key FROM n ORDER BY key DESC;
SELECT key FROM n WHERE key < 0 ORDER BY key;
SELECT key FROM n WHERE key BETWEEN -256 AND 255 ORDER BY key DESC;
SELECT key FROM n WHERE key > -256 AND key <= 256 ORDER BY key;
-- whole reals and integer-looking text are integers (INTEGER affinity)
INSERT INTO n VALUES (7.0, 'real seven'), ('8', 'text eight'), (' 9 ', 'spaced nine');
SELECT key, typeof(key), value FROM n WHERE key BETWEEN 7 AND 9 ORDER BY key;
-- comparisons apply the same affinity, as with an ordinary table
CREATE TABLE ref(key INTEGER PRIMARY KEY, value);
INSERT INTO ref SELECT key, value FROM n;
SELECT (SELECT group_concat(key) FROM (SELECT key FROM n WHERE key > '200' ORDER BY key)) AS armdb,
       (SELECT group_concat(key) FROM (SELECT key FROM ref WHERE key > '200' ORDER BY key)) AS sqlite;
SELECT (SELECT group_concat(key) FROM (SELECT key FROM n WHERE key >= 2.5 AND key < 255.5 ORDER BY key)) AS armdb,
       (SELECT group_concat(key) FROM (SELECT key FROM ref WHERE key >= 2.5 AND key < 255.5 ORDER BY key)) AS sqlite;
SELECT (SELECT group_concat(key) FROM (SELECT key FROM n WHERE key < 'abc' ORDER BY key)) AS armdb,
       (SELECT group_concat(key) FROM (SELECT key FROM ref WHERE key < 'abc' ORDER BY key)) AS sqlite;
SELECT (SELECT count(*) FROM n WHERE key > x'00') AS armdb, (SELECT count(*) FROM ref WHERE key > x'00') AS sqlite;
SELECT value FROM n WHERE key = '256';
SELECT value FROM n WHERE key = 256.0;
SELECT count(*) FROM n WHERE key = 2.5;
SELECT count(*) FROM n WHERE key = NULL;
SELECT count(*) FROM n WHERE key > NULL;
SELECT value FROM n WHERE key IN (1, '255', 7.0, 3.5, 'x', NULL) ORDER BY key DESC;
-- a few thousand keys come back in order
CREATE VIRTUAL TABLE big USING armdb(dir='big', key_type='integer');
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
INSERT INTO big SELECT (i * 7919) % 10007 - 5000, i FROM c;
SELECT count(*), min(key), max(key) FROM big;
-- a plain scan visits keys in order too
SELECT group_concat(key) FROM (SELECT key FROM big LIMIT 5);
CREATE TABLE bigref(key INTEGER PRIMARY KEY, value);
INSERT INTO bigref SELECT * FROM big;
SELECT (SELECT group_concat(key) FROM (SELECT key FROM big ORDER BY key)) =
       (SELECT group_concat(key) FROM (SELECT key FROM bigref ORDER BY key)) AS same_order;
SELECT group_concat(key) FROM (SELECT key FROM big ORDER BY key DESC LIMIT 5);
