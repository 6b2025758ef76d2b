.load build/armdb
-- Damage to a data file under a running table: reads of the damaged row fail
-- with an error naming file and offset, other rows still read, and
-- armdb_check reports the file and offset of the damage.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', shards=1, max_file_size='64KB', key_type='integer');
-- four statements (four batches: a batch must fit in one data file), 500-byte values
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 51 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 101 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 151 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO kv SELECT i, printf('value %04d ', i) || replace(hex(zeroblob(245)), '0', 'x') FROM n;
-- one batch bigger than a data file is refused whole
WITH RECURSIVE n(i) AS (SELECT 1001 UNION ALL SELECT i + 1 FROM n WHERE i < 1200)
INSERT INTO kv SELECT i, replace(hex(zeroblob(245)), '0', 'x') FROM n;
SELECT count(*) AS rows FROM kv;
SELECT json_extract(armdb_stats('kv'), '$.files') AS files;
SELECT json_extract(armdb_check('kv'), '$.ok') AS ok_before;
-- flip one byte inside the first entry's value of the oldest (sealed) file
.system printf 'X' | env -u LD_PRELOAD dd of=kv/shard-000/00000001.log bs=1 seek=100 conv=notrunc status=none
-- a query that reads only the key does not read (or checksum) the value;
-- reading the value finds the damage
SELECT key FROM kv WHERE key = 1;
SELECT value FROM kv WHERE key = 1;
SELECT substr(value, 1, 10) AS v FROM kv WHERE key = 2;
SELECT json_extract(armdb_check('kv'), '$.ok') AS ok_after;
SELECT json_extract(armdb_check('kv'), '$.problems[0].offset') AS offset,
       json_extract(armdb_check('kv'), '$.problems[0].path') LIKE '%/kv/shard-000/00000001.log' AS path_ok;
