.load build/armdb
-- armdb_stats, armdb_flush, armdb_check: JSON results and clear errors.
.headers on
.mode list
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', shards=2, key_type='integer');
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100)
INSERT INTO kv SELECT i, printf('%.20c', 'x') FROM c;
UPDATE kv SET value = 'y' WHERE key <= 10;
DELETE FROM kv WHERE key > 90;
SELECT json_valid(armdb_stats('kv')) AS valid;
SELECT json_extract(s, '$.table') AS tab, json_extract(s, '$.form') AS form,
       json_extract(s, '$.key_type') AS key_type, json_extract(s, '$.keys') AS keys,
       json_extract(s, '$.shards') AS shards, json_extract(s, '$.sync') AS sync,
       json_extract(s, '$.index') AS idx, json_extract(s, '$.live_bytes') > 0 AS live,
       json_extract(s, '$.dead_bytes') > 0 AS dead, json_extract(s, '$.files') >= 1 AS files,
       json_extract(s, '$.index_bytes') > 0 AS index_mem, json_extract(s, '$.dir') AS dir
  FROM (SELECT armdb_stats('kv') AS s);
SELECT group_concat(key) FROM json_each(armdb_stats('kv'));
SELECT armdb_flush('kv');
SELECT armdb_check('kv');
SELECT json_extract(armdb_check('kv'), '$.ok');
-- schema-qualified names, case-insensitive
SELECT json_extract(armdb_stats('main.kv'), '$.keys'), json_extract(armdb_stats('KV'), '$.keys');
-- the table form
CREATE VIRTUAL TABLE u USING armdb(dir='u', name TEXT PRIMARY KEY, n INTEGER);
SELECT json_extract(s, '$.form'), json_extract(s, '$.key_type'), json_extract(s, '$.keys') FROM (SELECT armdb_stats('u') AS s);
-- errors
SELECT armdb_stats('nope');
CREATE TABLE plain(x);
SELECT armdb_stats('plain');
SELECT armdb_flush(NULL);
SELECT armdb_check('kv', 1);
-- flush is not innocuous: no use from a trigger under trusted_schema=off
PRAGMA trusted_schema = off;
CREATE TABLE log(x);
CREATE TRIGGER t AFTER INSERT ON log BEGIN SELECT armdb_flush('kv'); END;
INSERT INTO log VALUES (1);
CREATE VIEW v AS SELECT length(armdb_stats('kv')) > 0 AS has_stats;
SELECT * FROM v;
