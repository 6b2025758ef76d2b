.load build/armdb
-- A table whose engine opens inside a transaction that already read another
-- armdb table (the first statement touching it in a fresh connection, as an
-- ORM's new session does) sees all of its committed rows: its reads,
-- duplicate-key checks and NULL-key numbering are those of a native table.
-- (The engine's recovered rows carry sequence numbers from before the open;
-- the transaction's snapshot, taken earlier, must not hide them.)
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE a USING armdb(id INTEGER PRIMARY KEY, v TEXT, shards=2);
CREATE VIRTUAL TABLE b USING armdb(id INTEGER PRIMARY KEY, v TEXT, shards=2);
CREATE TABLE na(id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE nb(id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO a(v) VALUES ('a1');
INSERT INTO na(v) VALUES ('a1');
INSERT INTO b(v) VALUES ('b1'), ('b2'), ('b3');
INSERT INTO nb(v) VALUES ('b1'), ('b2'), ('b3');
UPDATE b SET v = 'b2 updated' WHERE id = 2;
UPDATE nb SET v = 'b2 updated' WHERE id = 2;
-- a fresh connection: both engines closed, then a opens first, b inside the transaction
.open test.db
.load build/armdb
BEGIN;
SELECT 'armdb' AS t, count(*) FROM a UNION ALL SELECT 'native', count(*) FROM na;
SELECT 'armdb' AS t, id, v FROM b UNION ALL SELECT 'native', id, v FROM nb ORDER BY 2, 1;
INSERT INTO b VALUES (2, 'duplicate');
INSERT INTO nb VALUES (2, 'duplicate');
INSERT INTO b(v) VALUES ('b4');
SELECT last_insert_rowid() AS armdb_id;
INSERT INTO nb(v) VALUES ('b4');
SELECT last_insert_rowid() AS native_id;
COMMIT;
SELECT 'armdb' AS t, id, v FROM b UNION ALL SELECT 'native', id, v FROM nb ORDER BY 2, 1;
-- the same with a write to a first
.open test.db
.load build/armdb
BEGIN;
INSERT INTO a(v) VALUES ('a2');
INSERT INTO na(v) VALUES ('a2');
DELETE FROM b WHERE id = 1;
DELETE FROM nb WHERE id = 1;
SELECT changes() AS deleted;
UPDATE b SET v = v || '!' WHERE id >= 3;
UPDATE nb SET v = v || '!' WHERE id >= 3;
COMMIT;
.open test.db
.load build/armdb
SELECT 'armdb' AS t, id, v FROM a UNION ALL SELECT 'native', id, v FROM na ORDER BY 2, 1;
SELECT 'armdb' AS t, id, v FROM b UNION ALL SELECT 'native', id, v FROM nb ORDER BY 2, 1;
