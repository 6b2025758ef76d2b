.load build/armdb
-- PRAGMA integrity_check includes armdb's own check (every checksum, as
-- armdb_check) where the SQLite library has xIntegrity (3.44 and later,
-- detected when the extension loads); older libraries keep working and
-- check SQLite's own file only. Each result below is 1 on both.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', shards=1, key_type='integer');
CREATE TABLE native(x);
INSERT INTO native VALUES (1);
INSERT INTO kv VALUES (1, 'one'), (2, 'two'), (3, 'three');
SELECT armdb_flush('kv') IS NOT NULL AS flushed;
CREATE TEMP VIEW ic AS SELECT group_concat(integrity_check, ' | ') AS r FROM pragma_integrity_check;
CREATE TEMP VIEW xintegrity AS SELECT sqlite_version() >= '3.44.0' AS has;
-- an intact table: ok in both
SELECT r = 'ok' AS intact_is_ok FROM ic;
SELECT (SELECT group_concat(quick_check) FROM pragma_quick_check) = 'ok' AS quick_is_ok;
-- one flipped byte in the data file
.system printf 'X' | env -u LD_PRELOAD dd of=kv/shard-000/00000001.log bs=1 seek=90 conv=notrunc status=none
SELECT CASE WHEN (SELECT has FROM xintegrity)
            THEN r LIKE 'armdb: main.kv: 1 damaged place in %kv; %kv/shard-000/00000001.log at offset %'
            ELSE r = 'ok' END AS damage_reported_where_supported FROM ic;
SELECT json_extract(armdb_check('kv'), '$.ok') = 0 AS armdb_check_agrees;
-- the native table and SQLite's own file are still checked
SELECT count(*) FROM native;
