.load build/armdb
-- No lost updates. A read-modify-write whose read went stale fails with
-- SQLITE_BUSY_SNAPSHOT and writes nothing, as on a native table in WAL mode
-- (where SQLite refuses the write statement itself; armdb refuses at
-- COMMIT, having no lock to take earlier). Then across two database files
-- sharing one directory, which have no SQLite lock between them at all.
.headers on
.mode list
.open w.db
.load build/armdb
PRAGMA journal_mode=WAL;
CREATE VIRTUAL TABLE c USING armdb(id INTEGER PRIMARY KEY, n INTEGER);
CREATE TABLE nc(id INTEGER PRIMARY KEY, n INTEGER);
INSERT INTO c VALUES (1, 0);
INSERT INTO nc VALUES (1, 0);
.connection 1
.open w.db
.load build/armdb
.connection 0
BEGIN;
SELECT n AS a_read_armdb FROM c WHERE id = 1;
.connection 1
UPDATE c SET n = n + 1 WHERE id = 1;
.connection 0
-- A writes what it computed from its stale read
UPDATE c SET n = 0 + 1 WHERE id = 1;
COMMIT;
-- the same on the native table
BEGIN;
SELECT n AS a_read_native FROM nc WHERE id = 1;
.connection 1
UPDATE nc SET n = n + 1 WHERE id = 1;
.connection 0
UPDATE nc SET n = 0 + 1 WHERE id = 1;
ROLLBACK;
SELECT (SELECT n FROM c WHERE id = 1) AS armdb_n, (SELECT n FROM nc WHERE id = 1) AS native_n;
-- the retry reads the new value
BEGIN;
UPDATE c SET n = n + 1 WHERE id = 1;
COMMIT;
SELECT n AS armdb_n FROM c WHERE id = 1;
-- reads inside a transaction see one state: a commit by another connection
-- in between is not seen (repeatable), on both
BEGIN;
SELECT n AS before_armdb FROM c WHERE id = 1;
SELECT n AS before_native FROM nc WHERE id = 1;
.connection 1
UPDATE c SET n = 100 WHERE id = 1;
UPDATE nc SET n = 100 WHERE id = 1;
.connection 0
SELECT n AS again_armdb FROM c WHERE id = 1;
SELECT n AS again_native FROM nc WHERE id = 1;
SELECT sum(n) AS again_armdb_scan FROM c;
COMMIT;
SELECT n AS after_armdb FROM c WHERE id = 1;
SELECT n AS after_native FROM nc WHERE id = 1;
-- what a transaction read in one armdb table counts when it writes another
CREATE VIRTUAL TABLE src USING armdb(id INTEGER PRIMARY KEY, n INTEGER);
CREATE VIRTUAL TABLE dst USING armdb(id INTEGER PRIMARY KEY, total INTEGER);
INSERT INTO src VALUES (1, 5), (2, 6);
BEGIN;
SELECT sum(n) AS a_sums FROM src;
.connection 1
UPDATE src SET n = 50 WHERE id = 1;
.connection 0
INSERT INTO dst VALUES (1, 11);
COMMIT;
SELECT count(*) AS dst_rows FROM dst;
INSERT INTO dst SELECT 1, sum(n) FROM src;
SELECT total AS dst_total FROM dst;
.connection close 1
-- two database files, one directory
.open x.db
.load build/armdb
CREATE VIRTUAL TABLE c USING armdb(id INTEGER PRIMARY KEY, n INTEGER, dir='shared', shared=1);
INSERT INTO c VALUES (1, 0);
.connection 1
.open y.db
.load build/armdb
CREATE VIRTUAL TABLE c USING armdb(id INTEGER PRIMARY KEY, n INTEGER, dir='shared', shared=1);
BEGIN;
UPDATE c SET n = n + 1 WHERE id = 1;
.connection 0
BEGIN;
UPDATE c SET n = n + 1 WHERE id = 1;
.connection 1
COMMIT;
.connection 0
COMMIT;
UPDATE c SET n = n + 1 WHERE id = 1;
SELECT n AS two_files_n FROM c WHERE id = 1;
.connection close 1
