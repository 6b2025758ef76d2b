.load build/armdb
-- Rollback-journal mode: a COMMIT while another connection holds a read
-- transaction fails with "database is locked" (SQLITE_BUSY) and publishes
-- nothing; the writer may ROLLBACK (DESIGN.md: "A COMMIT that fails ...
-- publishes nothing"). Today armdb's rows become visible anyway.
.headers on
.mode list
PRAGMA journal_mode = DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;
CREATE TABLE plain(x);
INSERT INTO t VALUES (1, 'one');
.connection 1
.open test.db
.load build/armdb
BEGIN;
SELECT count(*) FROM t;
.connection 0
BEGIN;
INSERT INTO t VALUES (2, 'two');
INSERT INTO plain VALUES ('written too');
COMMIT;
.connection 1
SELECT count(*) FROM t;
COMMIT;
.connection 0
SELECT count(*) FROM t;
ROLLBACK;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
SELECT count(*) FROM plain;
.connection 1
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
.connection 0
.connection close 1
