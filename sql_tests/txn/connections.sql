.load build/armdb
-- Several connections of one process share one engine per directory; a
-- transaction's writes become visible to the others at COMMIT.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(key_type='integer');
INSERT INTO kv VALUES (1, 'one');
.connection 1
.open test.db
.load build/armdb
SELECT key, value FROM kv;
INSERT INTO kv VALUES (2, 'two from connection 1');
.connection 0
SELECT key, value FROM kv ORDER BY key;
BEGIN;
INSERT INTO kv VALUES (3, 'three');
UPDATE kv SET value = 'ONE' WHERE key = 1;
.connection 1
SELECT key, value FROM kv ORDER BY key;
.connection 0
COMMIT;
.connection 1
SELECT key, value FROM kv ORDER BY key;
-- both connections see the same engine
SELECT json_extract(armdb_stats('kv'), '$.keys');
.connection 0
SELECT json_extract(armdb_stats('kv'), '$.keys');
-- the same file attached twice is a third and fourth user of the engine
ATTACH 'test.db' AS again;
SELECT count(*) FROM again.kv;
SELECT json_extract(armdb_stats('again.kv'), '$.keys');
DETACH again;
-- a second process cannot open the directory: a clear error, not a second writer
.system "$SQLITE3" -batch -init /dev/null -cmd ".load $ARMDB" test.db "SELECT * FROM kv;" 2>&1 | sed 's/pid [0-9]*/pid N/'
.connection 0
.connection close 1
.connection 0
SELECT count(*) FROM kv;
