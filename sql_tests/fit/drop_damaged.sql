.load build/armdb
-- DROP TABLE of a table that cannot open because of damage removes its data
-- (its record says the directory is its own); damage to the metadata itself
-- makes DROP fail (SQLITE_CORRUPT) and keeps the files for armdb_check and
-- salvage. Neither reports success while leaving rows that come back.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE d USING armdb(dir='d', shards=1, max_file_size='64KB', key_type='integer');
CREATE VIRTUAL TABLE m USING armdb(dir='m', shards=1, key_type='integer');
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100)
INSERT INTO d SELECT i, replace(hex(zeroblob(245)), '0', 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 101 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
INSERT INTO d SELECT i, replace(hex(zeroblob(245)), '0', 'x') FROM n;
INSERT INTO m VALUES (1, 'one');
SELECT json_extract(armdb_stats('d'), '$.files') > 1 AS several_files;
-- damage inside the oldest (sealed) data file, and in m's metadata; the
-- data file's hint goes too (with it, open reads no value, so the damage
-- would show where the value is read and in armdb_check, not at open)
.open :memory:
.system printf 'X' | env -u LD_PRELOAD dd of=d/shard-000/00000001.log bs=1 seek=100 conv=notrunc status=none
.system rm d/shard-000/00000001.hint
.system printf 'X' | env -u LD_PRELOAD dd of=m/ARMDB bs=1 seek=20 conv=notrunc status=none
.open test.db
.load build/armdb
SELECT count(*) FROM d;
DROP TABLE d;
SELECT name FROM sqlite_schema ORDER BY name;
.system ls d 2>&1 | sed 's/.*cannot access.*/d is gone/'
SELECT count(*) FROM m;
DROP TABLE m;
SELECT name FROM sqlite_schema ORDER BY name;
.system ls m
