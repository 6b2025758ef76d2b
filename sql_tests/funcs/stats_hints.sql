.load build/armdb
-- armdb_stats says how the directory is locked, whether hint files are on,
-- and how the last open read each data file: sealed ones from their hint
-- files (written for each sealed file, and at close), the newest whole.
.headers on
.mode list
.open stats_hints.db
.load build/armdb
CREATE VIRTUAL TABLE h USING armdb(dir='h', shards=1, key_type='integer', max_file_size='64KB');
-- a transaction fits in one data file: 300 rows each
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(1, 300);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(301, 600);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(601, 900);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(901, 1200);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(1201, 1500);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(1501, 1800);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(1801, 2100);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(2101, 2400);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(2401, 2700);
INSERT INTO h SELECT value, printf('%.100c', 'x') FROM generate_series(2701, 3000);
SELECT json_extract(s, '$.hints') AS hints, json_extract(s, '$.lock_mode') AS lock_mode,
       json_extract(s, '$.open_hinted') AS hinted, json_extract(s, '$.open_scanned') AS scanned,
       json_extract(s, '$.files') > 3 AS several_files
  FROM (SELECT armdb_stats('h') AS s);
-- closed with the connection, opened again by the next
.open other.db
.open stats_hints.db
.load build/armdb
SELECT json_extract(s, '$.hints') AS hints, json_extract(s, '$.lock_mode') AS lock_mode,
       json_extract(s, '$.open_hinted') = json_extract(s, '$.files') - 1 AS hinted_all_sealed,
       json_extract(s, '$.open_scanned') AS scanned, json_extract(s, '$.keys') AS keys
  FROM (SELECT armdb_stats('h') AS s);
-- a read-only connection opens the engine read-only: LOCK shared
.open --readonly stats_hints.db
.load build/armdb
SELECT json_extract(s, '$.read_only') AS ro, json_extract(s, '$.lock_mode') AS lock_mode,
       json_extract(s, '$.open_hinted') = json_extract(s, '$.files') - 1 AS hinted_all_sealed,
       json_extract(s, '$.keys') AS keys
  FROM (SELECT armdb_stats('h') AS s);
