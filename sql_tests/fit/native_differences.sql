.load build/armdb
-- What SQLite itself refuses for every virtual table, armdb's included (the
-- README's "What differs from a native table" lists these and what to do
-- instead). A native table alongside shows the statement itself is fine.
.headers on
.mode list
CREATE VIRTUAL TABLE t USING armdb(dir='t', id INTEGER PRIMARY KEY, v TEXT);
CREATE TABLE n(id INTEGER PRIMARY KEY, v TEXT);
INSERT INTO t VALUES (1, 'a');
INSERT INTO n VALUES (1, 'a');
-- UPSERT: use INSERT OR REPLACE (or INSERT OR IGNORE, then UPDATE)
INSERT INTO n VALUES (1, 'b') ON CONFLICT(id) DO UPDATE SET v = 'b';
INSERT INTO t VALUES (1, 'b') ON CONFLICT(id) DO UPDATE SET v = 'b';
INSERT OR REPLACE INTO t VALUES (1, 'b');
-- UPDATE/DELETE ... RETURNING: SELECT the rows first, in the same transaction
UPDATE n SET v = 'c' WHERE id = 1 RETURNING id;
UPDATE t SET v = 'c' WHERE id = 1 RETURNING id;
DELETE FROM t WHERE id = 1 RETURNING id;
-- INSERT ... RETURNING works, but an INTEGER PRIMARY KEY armdb assigns is not
-- known to SQLite there: it reads NULL; last_insert_rowid() has it afterwards
INSERT INTO n(v) VALUES ('d') RETURNING id, v;
INSERT INTO t(v) VALUES ('d') RETURNING id, v;
SELECT last_insert_rowid() AS assigned;
-- CREATE INDEX: the key is the index; other columns scan
CREATE INDEX nv ON n(v);
CREATE INDEX tv ON t(v);
-- triggers on the table: none (a trigger on a native table may write to armdb)
CREATE TRIGGER ntr AFTER INSERT ON n BEGIN INSERT INTO t(v) VALUES ('from a trigger'); END;
CREATE TRIGGER ttr AFTER INSERT ON t BEGIN SELECT 1; END;
INSERT INTO n(v) VALUES ('e');
SELECT count(*) AS rows_from_trigger FROM t WHERE v = 'from a trigger';
-- ALTER TABLE ADD/DROP COLUMN: create a new table and INSERT INTO ... SELECT
ALTER TABLE n ADD COLUMN w;
ALTER TABLE t ADD COLUMN w;
ALTER TABLE t DROP COLUMN v;
-- RENAME works
ALTER TABLE t RENAME TO t2;
SELECT count(*) FROM t2;
-- A BLOB key takes only BLOBs, a TEXT key no BLOB (SQLITE_MISMATCH), where a
-- native BLOB PRIMARY KEY (no affinity) takes any type: armdb keys keep one
-- type, so they sort as SQLite compares them
CREATE TABLE nb(key BLOB PRIMARY KEY NOT NULL, v) WITHOUT ROWID;
CREATE VIRTUAL TABLE tb USING armdb(dir='tb', key BLOB PRIMARY KEY, v);
INSERT INTO nb VALUES ('text', 1), (7, 2);
INSERT INTO tb VALUES ('text', 1);
INSERT INTO tb VALUES (7, 2);
INSERT INTO tb VALUES (x'74657874', 3);
SELECT quote(key), v FROM nb ORDER BY key;
SELECT quote(key), v FROM tb ORDER BY key;
