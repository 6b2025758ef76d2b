.load build/armdb
-- Values over max_value_size are refused before SQLite expands or armdb
-- copies them: with SQLite's heap capped at 64 MB, zeroblob(1e9) would fail
-- with "out of memory" if it were expanded; it fails with armdb's own size
-- error instead. Error texts name ranges in a form the option accepts, and
-- say when a default limit was lowered.
.headers on
.mode list
PRAGMA hard_heap_limit = 67108864;
CREATE VIRTUAL TABLE kv USING armdb(dir='kv');
CREATE VIRTUAL TABLE t USING armdb(dir='t', id INTEGER PRIMARY KEY, b BLOB, s TEXT);
INSERT INTO kv VALUES (x'01', zeroblob(1000000000));
INSERT INTO kv VALUES (zeroblob(1000000000), 1);
INSERT INTO t VALUES (1, zeroblob(1000000000), 'x');
INSERT INTO t VALUES (2, x'00', 'ok');
UPDATE t SET b = zeroblob(999999999) WHERE id = 2;
SELECT count(*) AS kv_rows FROM kv;
SELECT id, hex(b), s FROM t;
-- a lookup with an over-long key cannot match, and expands nothing either
SELECT count(*) FROM kv WHERE key = zeroblob(1000000000);
PRAGMA hard_heap_limit = 0;
-- the range of max_file_size is written as the option takes it, and works as written
CREATE VIRTUAL TABLE bad USING armdb(dir='bad', max_file_size='100');
CREATE VIRTUAL TABLE lo USING armdb(dir='lo', max_file_size='64KB');
CREATE VIRTUAL TABLE hi USING armdb(dir='hi', max_file_size=4294963200);
SELECT 'both ends accepted';
-- the default max_value_size shrinks to fit a small max_file_size, and the error says so
INSERT INTO lo VALUES (x'01', zeroblob(70000));
CREATE VIRTUAL TABLE lo2 USING armdb(dir='lo2', max_file_size='64KB', max_value_size='1KB');
INSERT INTO lo2 VALUES (x'01', zeroblob(2000));
