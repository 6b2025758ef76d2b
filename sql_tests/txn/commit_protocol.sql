.load build/armdb
-- SQLite's commit protocol, side by side with a native table: what one SQL
-- transaction writes becomes visible, and durable, only when SQLite's own
-- commit succeeded. The default rollback journal cannot commit while another
-- connection reads (SQLITE_BUSY): the armdb rows of that transaction stay
-- invisible, the transaction stays open, and a retried COMMIT commits
-- exactly what it holds, rows written in between included.
.headers on
.mode list
.open p.db
.load build/armdb
CREATE VIRTUAL TABLE a USING armdb(key_type='integer');
CREATE TABLE n(k INTEGER PRIMARY KEY, v);
.connection 1
.open p.db
.load build/armdb
BEGIN;
SELECT count(*) AS reader_native FROM n;
.connection 0
BEGIN;
INSERT INTO a VALUES (1, 'one');
INSERT INTO n VALUES (1, 'one');
COMMIT;
-- still inside the transaction: it reads its own writes
SELECT (SELECT count(*) FROM a) AS own_armdb, (SELECT count(*) FROM n) AS own_native;
.connection 1
-- the reader sees neither
SELECT (SELECT count(*) FROM a) AS reader_armdb, (SELECT count(*) FROM n) AS reader_native;
COMMIT;
.connection 0
INSERT INTO a VALUES (2, 'written after the failed COMMIT');
INSERT INTO n VALUES (2, 'written after the failed COMMIT');
COMMIT;
SELECT 'armdb' AS t, k, v FROM (SELECT key AS k, value AS v FROM a) UNION ALL SELECT 'native', k, v FROM n ORDER BY 1, 2;
-- a failed COMMIT then ROLLBACK: nothing of it anywhere
.connection 1
BEGIN;
SELECT count(*) AS reader_native FROM n;
.connection 0
BEGIN;
INSERT INTO a VALUES (3, 'rolled back');
INSERT INTO n VALUES (3, 'rolled back');
COMMIT;
ROLLBACK;
.connection 1
COMMIT;
.connection 0
SELECT (SELECT count(*) FROM a) AS armdb_rows, (SELECT count(*) FROM n) AS native_rows;
-- an autocommit statement that writes both (a trigger on the native table
-- writes the armdb one) and fails to commit: nothing is left, and its retry
-- is an ordinary INSERT (no UNIQUE error from a half-committed first try)
CREATE TRIGGER n_copy AFTER INSERT ON n BEGIN INSERT INTO a VALUES (new.k, new.v); END;
.connection 1
BEGIN;
SELECT count(*) AS reader_native FROM n;
.connection 0
INSERT INTO n VALUES (4, 'via trigger');
SELECT (SELECT count(*) FROM a WHERE key = 4) AS armdb_4, (SELECT count(*) FROM n WHERE k = 4) AS native_4;
.connection 1
COMMIT;
.connection 0
INSERT INTO n VALUES (4, 'via trigger');
SELECT (SELECT value FROM a WHERE key = 4) AS armdb_4, (SELECT v FROM n WHERE k = 4) AS native_4;
DROP TRIGGER n_copy;
.connection close 1
