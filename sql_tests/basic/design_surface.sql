.load build/armdb
-- Every statement of DESIGN.md section 1 (replication functions aside: they
-- come with their own issue), as written, on a database file, after a
-- literal `.load ./armdb` (a copy of the extension in the current directory).
.headers on
.mode list
.system cp "$ARMDB.so" ./armdb.so
.open test.db
.load ./armdb
CREATE VIRTUAL TABLE kv USING armdb;                          -- key/value form, all defaults
CREATE VIRTUAL TABLE s USING armdb(dir='sessions', shards=8, sync='full');
CREATE VIRTUAL TABLE users USING armdb(id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INTEGER);
INSERT INTO kv VALUES (x'0001', 'hello');                    -- key, value
INSERT OR REPLACE INTO kv VALUES (x'0001', 'world');
SELECT value FROM kv WHERE key = x'0001';
INSERT INTO kv VALUES (x'10', 'a'), (x'15', 'b'), (x'1f', 'c'), (x'20', 'd'), (x'0f', 'e');
.mode quote
SELECT * FROM kv WHERE key >= x'10' AND key < x'20' ORDER BY key DESC LIMIT 10;
.mode list
INSERT INTO users VALUES (7, 'ann', 'ann@example.com', 41), (8, 'bob', NULL, 30);
BEGIN; UPDATE users SET age = age + 1 WHERE id = 7; DELETE FROM kv WHERE key = x'0001'; COMMIT;
SELECT * FROM users ORDER BY id;
SELECT hex(key), value FROM kv ORDER BY key;
-- the explicit dir is relative to the database file; shards=8 and sync=full took
INSERT INTO s VALUES (x'aa', 1);
SELECT json_extract(armdb_stats('s'), '$.shards') AS shards,
       json_extract(armdb_stats('s'), '$.sync') AS sync,
       json_extract(armdb_stats('s'), '$.dir') AS dir;
.system ls test.db-armdb
.system ls sessions
