.load build/armdb
-- Reopening the database file reconnects every armdb table with its data
-- (options come back from the stored CREATE statement); DROP TABLE removes
-- the directory; ALTER TABLE RENAME keeps the data, also after a reopen.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb;
CREATE VIRTUAL TABLE n USING armdb(key_type='integer', index='hash', sync='full', shards=3);
CREATE VIRTUAL TABLE users USING armdb(dir='data/users', id INTEGER PRIMARY KEY, name TEXT, score REAL);
CREATE VIRTUAL TABLE gone USING armdb;
INSERT INTO kv VALUES (x'01', 'one'), (x'02', 2), (x'03', NULL);
INSERT INTO n VALUES (-1, 'minus'), (1, 'plus');
INSERT INTO users VALUES (1, 'ann', 9.5), (2, 'bob', NULL);
INSERT INTO gone VALUES (x'00', 0);
BEGIN;
INSERT INTO kv VALUES (x'04', 'in a transaction');
DELETE FROM kv WHERE key = x'02';
COMMIT;
BEGIN;
INSERT INTO kv VALUES (x'05', 'rolled back');
ROLLBACK;
.system ls test.db-armdb
.system ls data
-- reopen: a fresh connection to the same file
.open test.db
.load build/armdb
SELECT hex(key), quote(value) FROM kv ORDER BY key;
SELECT key, value FROM n ORDER BY key;
SELECT json_extract(s, '$.index'), json_extract(s, '$.sync'), json_extract(s, '$.shards'), json_extract(s, '$.key_type')
  FROM (SELECT armdb_stats('n') AS s);
SELECT * FROM users ORDER BY id;
-- DROP TABLE removes the directory
DROP TABLE gone;
.system ls test.db-armdb
DROP TABLE users;
.system ls data
-- RENAME moves a default directory with the table
ALTER TABLE kv RENAME TO kv2;
.system ls test.db-armdb
SELECT hex(key), quote(value) FROM kv2 ORDER BY key;
INSERT INTO kv2 VALUES (x'06', 'after rename');
.open test.db
.load build/armdb
SELECT hex(key), quote(value) FROM kv2 ORDER BY key;
SELECT name FROM sqlite_schema ORDER BY name;
-- an explicit dir stays where it is
CREATE VIRTUAL TABLE e USING armdb(dir='explicit', key_type='text');
INSERT INTO e VALUES ('k', 'v');
ALTER TABLE e RENAME TO e2;
.open test.db
.load build/armdb
SELECT * FROM e2;
.system ls -d explicit
-- a table whose directory vanished says so, and can still be dropped
.system rm -rf test.db-armdb/n
.open test.db
.load build/armdb
SELECT * FROM n;
SELECT armdb_stats('n');
DROP TABLE n;
SELECT name FROM sqlite_schema ORDER BY name;
-- dropping the last default-dir table removes the <db>-armdb directory too
DROP TABLE kv2;
.system ls
