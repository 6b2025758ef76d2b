.load build/armdb
-- armdb_compact(table): merges the data files whose dead bytes pass
-- compaction_threshold now and returns JSON saying what it did; the rows are
-- the same before and after (a native table holds the same rows), and the
-- files shrink. The background thread may merge some of it first, so the
-- checks are on what is left, not on what this call alone reclaimed.
.headers on
.mode list
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', shards=1, max_file_size='64KB', key_type='integer');
CREATE TABLE native(key INTEGER PRIMARY KEY, value);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
INSERT INTO kv SELECT i, printf('v%04d ', i) || replace(hex(zeroblob(150)), '0', 'a') FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
INSERT INTO native SELECT i, printf('v%04d ', i) || replace(hex(zeroblob(150)), '0', 'a') FROM n;
-- every row rewritten four times, a third deleted: most bytes are dead
UPDATE kv SET value = 'b' || value;
UPDATE kv SET value = 'c' || value;
UPDATE kv SET value = 'd' || value;
UPDATE kv SET value = 'e' || value;
DELETE FROM kv WHERE key % 3 = 0;
UPDATE native SET value = 'edcb' || value;
DELETE FROM native WHERE key % 3 = 0;
SELECT json_extract(armdb_stats('kv'), '$.files') > 4 AS many_files;
SELECT json_valid(c) AS valid, json_extract(c, '$.table') AS tab,
       json_extract(c, '$.reclaimed') >= 0 AS reclaimed,
       json_extract(c, '$.bytes_in') >= json_extract(c, '$.bytes_out') AS shrank
  FROM (SELECT armdb_compact('kv') AS c);
SELECT group_concat(key) FROM json_each(armdb_compact('kv'));
-- what is left: the active file, its predecessor and the merged output
SELECT json_extract(s, '$.files') <= 4 AS few_files,
       json_extract(s, '$.compaction') AS background, json_extract(s, '$.compacting') AS now,
       json_array_length(json_extract(s, '$.shard_bytes')) AS shards,
       json_extract(s, '$.shard_bytes[0].live_bytes') > 0 AS live
  FROM (SELECT armdb_stats('kv') AS s);
SELECT count(*) AS rows FROM kv;
SELECT count(*) AS differ FROM (SELECT * FROM kv EXCEPT SELECT * FROM native);
SELECT count(*) AS missing FROM (SELECT * FROM native EXCEPT SELECT * FROM kv);
-- a second call finds nothing worth merging
SELECT json_extract(armdb_compact('kv'), '$.files_in') AS again;
-- errors
SELECT armdb_compact('nope');
SELECT armdb_compact(NULL);
