.load build/armdb
-- Two database files whose tables share one armdb directory (shared=1, on
-- purpose) have no SQLite lock between them, so their write transactions can
-- overlap. An INSERT checked the key was free; when the other side inserts it
-- meanwhile, the COMMIT fails with SQLITE_BUSY_SNAPSHOT (what SQLite gives a
-- transaction whose snapshot went stale), SQLite rolls the transaction back
-- and nothing of it is written; a retry then meets the UNIQUE error at the
-- INSERT, as on a native table.
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
INSERT INTO kv VALUES (5, 'from a');
-- REPLACE reads nothing, but it writes a key the other side wrote after
-- this transaction began: that is a conflict too (first committer wins)
BEGIN;
INSERT OR REPLACE INTO kv VALUES (5, 'replaced by a');
.connection 1
INSERT OR REPLACE INTO kv VALUES (5, 'replaced by b');
.connection 0
COMMIT;
INSERT OR REPLACE INTO kv VALUES (5, 'replaced by a, retried');
SELECT key, value FROM kv ORDER BY key;
.connection 1
SELECT key, value FROM kv ORDER BY key;
.connection 0
.connection close 1
