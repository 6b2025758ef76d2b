.load build/armdb
-- An INTEGER PRIMARY KEY inserted as NULL (or left out) gets the next key,
-- largest + 1, and last_insert_rowid() reports it (DESIGN.md). Today armdb
-- refuses the row: NOT NULL constraint failed.
.headers on
.mode list
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;
INSERT INTO t VALUES (5, 'five');
INSERT INTO t(v) VALUES ('six');
SELECT last_insert_rowid(), changes();
INSERT INTO t VALUES (NULL, 'seven');
SELECT last_insert_rowid();
INSERT INTO t VALUES (-10, 'minus ten');
INSERT INTO t(v) VALUES ('eight'), ('nine');
SELECT last_insert_rowid();
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
INSERT INTO t VALUES (42, 'explicit');
SELECT last_insert_rowid();
BEGIN;
INSERT INTO t(v) VALUES ('in txn');
SELECT last_insert_rowid();
ROLLBACK;
INSERT INTO t(v) VALUES ('after rollback');
SELECT id, v FROM t WHERE id > 40 ORDER BY id;
