.load build/armdb
-- A connection opened read-only (SQLITE_OPEN_READONLY: sqlite3 -readonly,
-- .open --readonly) reads armdb tables, reports read_only: true in
-- armdb_stats, and its writes fail as they fail on a native table.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(key_type='integer');
CREATE TABLE native(k INTEGER PRIMARY KEY, v);
INSERT INTO kv VALUES (1, 'one');
INSERT INTO native VALUES (1, 'one');
SELECT json_extract(armdb_stats('kv'), '$.read_only') AS read_only;
.open --readonly test.db
.load build/armdb
SELECT key, value FROM kv;
SELECT json_extract(armdb_stats('kv'), '$.read_only') AS read_only;
INSERT INTO kv VALUES (2, 'two');
INSERT INTO native VALUES (2, 'two');
UPDATE kv SET value = 'ONE' WHERE key = 1;
DELETE FROM kv;
SELECT key, value FROM kv;
-- the engine was opened read-only too: a second process may read alongside
.system "$SQLITE3" -readonly -batch -init /dev/null -cmd ".load $ARMDB" test.db "SELECT 'other process', count(*) FROM kv;"
-- and a read-write connection of this process is told why it cannot write
.connection 1
.open test.db
.load build/armdb
INSERT INTO kv VALUES (3, 'three');
.connection 0
.connection close 1
.open test.db
.load build/armdb
INSERT INTO kv VALUES (3, 'three');
SELECT key, value FROM kv ORDER BY key;
SELECT json_extract(armdb_stats('kv'), '$.read_only') AS read_only;
