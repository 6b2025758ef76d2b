.load build/armdb
-- DELETE/UPDATE ... ORDER BY ... LIMIT work on a table's first use in a
-- connection too (SQLite rewrites them before it connects the table), on
-- every key type; a native table alongside.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE i USING armdb(id INTEGER PRIMARY KEY, v TEXT);
CREATE VIRTUAL TABLE t USING armdb(k TEXT PRIMARY KEY, v TEXT);
CREATE VIRTUAL TABLE b USING armdb(key_type='blob');
CREATE TABLE n(id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO i VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e');
INSERT INTO n VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e');
INSERT INTO t VALUES ('k1', 'a'), ('k2', 'b'), ('k3', 'c'), ('k4', 'd');
INSERT INTO b VALUES (x'01', 'a'), (x'02', 'b'), (x'03', 'c'), (x'04', 'd');
-- a fresh connection: none of the tables is connected yet
.open test.db
.load build/armdb
DELETE FROM i WHERE id > 0 ORDER BY id LIMIT 2;
DELETE FROM n WHERE id > 0 ORDER BY id LIMIT 2;
SELECT 'armdb' AS t, group_concat(id) FROM i UNION ALL SELECT 'native', group_concat(id) FROM n;
DELETE FROM t WHERE k > 'k1' ORDER BY k DESC LIMIT 2;
SELECT group_concat(k) AS text_keys FROM t;
UPDATE b SET value = 'changed' WHERE key >= x'02' ORDER BY key LIMIT 2;
SELECT group_concat(hex(key) || '=' || value) AS blob_keys FROM b;
.open test.db
.load build/armdb
UPDATE i SET v = upper(v) WHERE id > 0 ORDER BY id DESC LIMIT 1;
UPDATE n SET v = upper(v) WHERE id > 0 ORDER BY id DESC LIMIT 1;
SELECT 'armdb' AS t, group_concat(id || v) FROM i UNION ALL SELECT 'native', group_concat(id || v) FROM n;
-- and again, once connected
DELETE FROM i ORDER BY id LIMIT 1;
DELETE FROM n ORDER BY id LIMIT 1;
SELECT 'armdb' AS t, group_concat(id) FROM i UNION ALL SELECT 'native', group_concat(id) FROM n;
