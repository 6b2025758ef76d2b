.load build/armdb
-- armdb_salvage(table): a table is rebuilt from its intact entries (one that
-- cannot open because of damage, one that opened); the result says what was
-- dropped and where the old directory is kept. Afterwards the table opens
-- read-write, armdb_check says ok, and its rows are the intact ones.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', shards=1, max_file_size='64KB', key_type='integer');
-- three batches of 50 rows (530 bytes an entry); the third lands in the
-- second data file, the file the next open scans
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 51 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 101 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
-- an undamaged table: rebuilt whole, nothing dropped
CREATE VIRTUAL TABLE u USING armdb(dir='u', shards=2, key_type='text');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20)
INSERT INTO u SELECT 'k' || i, i FROM n;
-- not while a cursor of this statement reads it, nor while another
-- connection of the process has it open
SELECT armdb_salvage('u') FROM u LIMIT 1;
.connection 1
.open test.db
.load build/armdb
SELECT count(*) AS other_rows FROM u;
.connection 0
SELECT armdb_salvage('u');
.connection close 1
SELECT json_extract(r, '$.keys') AS keys, json_extract(r, '$.keys_dropped') AS keys_dropped,
       json_extract(r, '$.shards') AS shards, json_extract(r, '$.dropped_count') AS dropped_count,
       json_extract(r, '$.kept') LIKE '%/u.damaged' AS kept_ok, json_extract(r, '$.leftover') AS leftover
  FROM (SELECT armdb_salvage('u') AS r);
SELECT count(*) AS rows, sum(value) AS total FROM u;
SELECT json_extract(armdb_check('u'), '$.ok') AS ok;
INSERT INTO u VALUES ('k21', 21);
SELECT count(*) AS rows FROM u;
-- close the engine, then damage the 11th entry of the second file
.open test.db
.system printf 'X' | env -u LD_PRELOAD dd of=kv/shard-000/00000002.log bs=1 seek=5400 conv=notrunc status=none
.load build/armdb
SELECT count(*) FROM kv;
-- refused inside a transaction, and while a read-only table holds the directory
BEGIN;
SELECT armdb_salvage('kv');
ROLLBACK;
CREATE VIRTUAL TABLE kv_ro USING armdb(dir='kv', read_only=1, shards=1, max_file_size='64KB', key_type='integer');
SELECT count(*) AS ro_rows FROM kv_ro;
SELECT armdb_salvage('kv');
SELECT armdb_salvage('kv_ro');
DROP TABLE kv_ro;
-- a leftover of a salvage cut short is set aside and reported, never removed
.system mkdir kv.salvage-new && echo partial > kv.salvage-new/junk
SELECT json_extract(r, '$.keys') AS keys, json_extract(r, '$.keys_dropped') AS keys_dropped,
       json_extract(r, '$.shards') AS shards, json_extract(r, '$.dropped_count') AS dropped_count,
       json_extract(r, '$.dropped[0].offset') AS dropped_offset,
       json_extract(r, '$.dropped[0].path') LIKE '%/kv/shard-000/00000002.log' AS dropped_path_ok,
       json_extract(r, '$.kept') LIKE '%/kv.damaged' AS kept_ok,
       json_extract(r, '$.leftover') LIKE '%/kv.salvage-leftover' AS leftover_ok
  FROM (SELECT armdb_salvage('kv') AS r);
.system test -f kv.damaged/shard-000/00000002.log && echo 'damaged copy kept'
.system test -f kv.salvage-leftover/junk && echo 'leftover kept'
.system test -e kv.salvage-new || echo 'no kv.salvage-new'
-- the rebuilt table: read-write, checks ok, rows = a native table of the intact rows
CREATE TABLE native(key INTEGER PRIMARY KEY, value);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO native SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
SELECT count(*) AS rows FROM kv;
SELECT (SELECT count(*) FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM native)) +
       (SELECT count(*) FROM (SELECT key, value FROM native EXCEPT SELECT key, value FROM kv)) AS differing;
SELECT json_extract(armdb_check('kv'), '$.ok') AS ok;
INSERT INTO kv VALUES (200, 'after salvage');
INSERT INTO native VALUES (200, 'after salvage');
-- and in a new connection, from disk
.open test.db
.load build/armdb
SELECT json_extract(armdb_check('kv'), '$.ok') AS ok, json_extract(armdb_stats('kv'), '$.shards') AS shards;
SELECT (SELECT count(*) FROM (SELECT key, value FROM kv EXCEPT SELECT key, value FROM native)) +
       (SELECT count(*) FROM (SELECT key, value FROM native EXCEPT SELECT key, value FROM kv)) AS differing;
-- damage an open table serves around (a sealed file read through its hint
-- file: the open does not read the values): salvage leaves the damaged value out
CREATE VIRTUAL TABLE h USING armdb(dir='h', shards=1, max_file_size='64KB', key_type='integer');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO h SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 51 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO h SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 101 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
INSERT INTO h SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
.system printf 'X' | env -u LD_PRELOAD dd of=h/shard-000/00000001.log bs=1 seek=100 conv=notrunc status=none
SELECT value FROM h WHERE key = 1;
SELECT json_extract(r, '$.keys') AS keys, json_extract(r, '$.keys_dropped') AS keys_dropped,
       json_extract(r, '$.dropped_count') AS dropped_count,
       json_extract(r, '$.dropped[0].offset') AS dropped_offset,
       json_extract(r, '$.kept') LIKE '%/h.damaged' AS kept_ok
  FROM (SELECT armdb_salvage('h') AS r);
SELECT json_extract(armdb_check('h'), '$.ok') AS ok;
CREATE TABLE hnative(key INTEGER PRIMARY KEY, value);
WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
INSERT INTO hnative SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
SELECT (SELECT count(*) FROM (SELECT key, value FROM h EXCEPT SELECT key, value FROM hnative)) +
       (SELECT count(*) FROM (SELECT key, value FROM hnative EXCEPT SELECT key, value FROM h)) AS differing;
-- an encrypted table: the rebuilt directory is encrypted with the same key
.system printf %064d 7 > key.hex
CREATE VIRTUAL TABLE e USING armdb(dir='e', key_file='key.hex', key_type='text', shards=2);
INSERT INTO e VALUES ('alpha', 'secret one'), ('beta', 'secret two');
SELECT json_extract(armdb_salvage('e'), '$.keys') AS keys;
SELECT key, value FROM e ORDER BY key;
.system grep -rl 'secret one' e || echo 'no plaintext on disk'
CREATE VIRTUAL TABLE e_nokey USING armdb(dir='e', read_only=1, key_type='text');
-- the function is SQLITE_DIRECTONLY: never from a view
CREATE VIEW v AS SELECT armdb_salvage('kv');
SELECT * FROM v;
