.load build/armdb
-- Two database files whose tables share one armdb directory (shared=1, on
-- purpose) have no SQLite lock between them, so their write transactions can
-- overlap. An INSERT of a
-- key that the other side inserted meanwhile fails at COMMIT with the usual
-- UNIQUE error, and nothing of that transaction is written.
.headers on
.mode list
.open a.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(dir='shared', key_type='integer', shared=1);
.connection 1
.open b.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(dir='shared', key_type='integer', shared=1);
.connection 0
BEGIN;
INSERT INTO kv VALUES (5, 'from a');
INSERT INTO kv VALUES (6, 'also from a');
.connection 1
BEGIN;
INSERT INTO kv VALUES (5, 'from b');
COMMIT;
.connection 0
COMMIT;
SELECT key, value FROM kv ORDER BY key;
-- REPLACE has no condition: the last commit wins
BEGIN;
INSERT OR REPLACE INTO kv VALUES (5, 'replaced by a');
.connection 1
INSERT INTO kv VALUES (7, 'seven from b');
.connection 0
COMMIT;
SELECT key, value FROM kv ORDER BY key;
.connection 1
SELECT key, value FROM kv ORDER BY key;
.connection 0
.connection close 1
