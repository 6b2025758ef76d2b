.load build/armdb
-- read_only=1: a table that opens its directory read-only. It reads a table
-- that cannot open because of damage (everything intact, and armdb_check),
-- refuses every write with SQLITE_READONLY, and never creates, adopts or
-- removes the directory.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', shards=1, max_file_size='64KB', key_type='integer');
-- three statements, three batches of 50 rows (530 bytes an entry); the third
-- batch lands in the second data file, the file the next open scans
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 51 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 101 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
SELECT json_extract(armdb_stats('kv'), '$.files') AS files;
-- close the engine, then flip one byte in the 11th entry of the second file
-- (entry offset 64 + 10 * 530 = 5364): valid entries follow, so it is no torn tail
.open test.db
.system printf 'X' | env -u LD_PRELOAD dd of=kv/shard-000/00000002.log bs=1 seek=5400 conv=notrunc status=none
.load build/armdb
SELECT count(*) FROM kv;
-- the same directory, declared the same way, read-only
CREATE VIRTUAL TABLE kv_ro USING armdb(dir='kv', read_only=1, shards=1, max_file_size='64KB', key_type='integer');
SELECT count(*) AS rows, min(key) AS lo, max(key) AS hi FROM kv_ro;
-- the damaged entry's batch (keys 101..150) is dropped whole: a batch is
-- atomic. What is served equals a native table of the intact rows.
CREATE TABLE native(key INTEGER PRIMARY KEY, value);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO native SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
SELECT (SELECT count(*) FROM (SELECT key, value FROM kv_ro EXCEPT SELECT key, value FROM native)) +
       (SELECT count(*) FROM (SELECT key, value FROM native EXCEPT SELECT key, value FROM kv_ro)) AS differing;
SELECT json_extract(armdb_check('kv_ro'), '$.ok') AS ok,
       json_extract(armdb_check('kv_ro'), '$.problems[0].offset') AS offset,
       json_extract(armdb_check('kv_ro'), '$.problems[0].path') LIKE '%/kv/shard-000/00000002.log' AS path_ok;
SELECT json_extract(armdb_stats('kv_ro'), '$.read_only') AS read_only;
-- every write is refused
INSERT INTO kv_ro VALUES (1000, 'x');
UPDATE kv_ro SET value = 'x' WHERE key = 1;
DELETE FROM kv_ro WHERE key = 1;
SELECT count(*) AS rows FROM kv_ro;
-- the damaged table still cannot open (a read-only table beside it changes nothing)
SELECT count(*) FROM kv;
-- dropping the read-only table leaves the directory alone
DROP TABLE kv_ro;
.system test -f kv/shard-000/00000002.log && echo 'kv/shard-000/00000002.log still there'
-- read_only=1 never makes a directory; a different declaration is refused
CREATE VIRTUAL TABLE nodir USING armdb(dir='nodir', read_only=1);
.system test -e nodir || echo 'nodir not created'
CREATE VIRTUAL TABLE kv_text USING armdb(dir='kv', read_only=1, shards=1, key_type='text');
CREATE VIRTUAL TABLE bad USING armdb(dir='kv', read_only=2);
-- beside a writable table in the same process: it reads the committed rows
-- and still refuses writes
CREATE VIRTUAL TABLE w USING armdb(dir='w', shards=2, key_type='integer');
INSERT INTO w VALUES (1, 'one'), (2, 'two');
CREATE VIRTUAL TABLE w_ro USING armdb(dir='w', read_only=true, shards=2, key_type='integer');
INSERT INTO w VALUES (3, 'three');
SELECT key, value FROM w_ro ORDER BY key;
INSERT INTO w_ro VALUES (4, 'four');
DROP TABLE w_ro;
SELECT count(*) AS rows FROM w;
