.load build/armdb
-- changes() counts only rows really changed (DESIGN.md): an INSERT OR IGNORE
-- that ignored its row is 0. Today armdb reports 1. (UPSERT, ON CONFLICT DO
-- NOTHING, is left out: SQLite refuses it on every virtual table.)
.headers on
.mode list
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;
CREATE TABLE k(key TEXT PRIMARY KEY NOT NULL, n INTEGER) WITHOUT ROWID /*armdb*/;
INSERT INTO t VALUES (1, 'a');
INSERT OR IGNORE INTO t VALUES (1, 'b');
SELECT changes(), total_changes();
INSERT OR IGNORE INTO t VALUES (1, 'c'), (2, 'new'), (2, 'again');
SELECT changes(), total_changes();
INSERT INTO k VALUES ('x', 1);
INSERT OR IGNORE INTO k SELECT 'x', 2 UNION ALL SELECT 'y', 3;
SELECT changes(), total_changes();
UPDATE OR IGNORE t SET id = 1 WHERE id = 2;
SELECT changes(), total_changes();
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
SELECT group_concat(key || '=' || n) FROM (SELECT * FROM k ORDER BY key);
