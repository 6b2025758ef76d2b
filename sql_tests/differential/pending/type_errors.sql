.load build/armdb
-- Type errors are SQLITE_MISMATCH with SQLite's own message, as on a native
-- table (DESIGN.md). Today armdb says "cannot store T value in K column"
-- with SQLITE_CONSTRAINT_DATATYPE (3091).
.headers on
.mode list
CREATE TABLE n(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;
INSERT INTO n VALUES ('abc', 1);
INSERT INTO n VALUES (x'01', 2);
INSERT INTO n VALUES (2.5, 3);
INSERT INTO n VALUES (1, 'ok');
UPDATE n SET id = 'seven' WHERE id = 1;
SELECT id, v FROM n ORDER BY id;
-- A BLOB key natively takes any type (BLOB affinity converts nothing);
-- armdb's BLOB keys take only blobs (arm_vtab.c), so that the key order stays
-- memcmp. Whether to follow SQLite here is a decision still to make.
CREATE TABLE b(key BLOB PRIMARY KEY NOT NULL, v) WITHOUT ROWID /*armdb*/;
INSERT INTO b VALUES ('text', 1);
INSERT INTO b VALUES (7, 2);
SELECT quote(key), v FROM b ORDER BY key;
