.load build/armdb
-- Copies of a database file (.backup, VACUUM INTO, cp) copy SQLite's file
-- only. A table in such a copy never reads or writes the original's
-- directory: it fails saying how to copy armdb data, and DROP TABLE in the
-- copy leaves the original's data alone. armdb_backup(table, dir) writes an
-- online copy of a table, which a copy (or a restore) then opens. A moved
-- database (same inode) and a restored one (same path) keep working;
-- shared=1 shares a directory on purpose.
.headers on
.mode list
.open app.db
.load build/armdb
CREATE VIRTUAL TABLE users USING armdb(dir='data/users', id INTEGER PRIMARY KEY, name TEXT);
CREATE VIRTUAL TABLE kv USING armdb;
INSERT INTO users(name) VALUES ('ann'), ('bob'), ('cy');
INSERT INTO kv VALUES (x'01', 'one'), (x'02', 'two');
.backup copy.db
VACUUM INTO 'vacuum.db';
-- the copies: refused with the way to copy armdb data, never the original's rows
.open copy.db
.load build/armdb
SELECT * FROM users;
INSERT INTO users(name) VALUES ('written through the copy');
SELECT * FROM kv;
.open vacuum.db
.load build/armdb
SELECT count(*) FROM users;
-- DROP TABLE in a copy drops the copy's table only
DROP TABLE users;
DROP TABLE kv;
SELECT count(*) AS tables_left_in_the_copy FROM sqlite_schema;
.open app.db
.load build/armdb
SELECT id, name FROM users ORDER BY id;
SELECT hex(key), value FROM kv ORDER BY key;
-- armdb_backup: an online copy of each table, with what it copied
SELECT json_extract(j, '$.keys') AS keys, json_extract(j, '$.bytes') AS bytes,
       json_extract(j, '$.dir') LIKE '%/backups/users' AS dir
  FROM (SELECT armdb_backup('users', 'backups/users') AS j);
SELECT json_extract(armdb_backup('kv', 'copy.db-armdb/kv'), '$.keys') AS kv_keys;
SELECT armdb_backup('users', 'backups/users');
SELECT armdb_backup('users', NULL);
-- the copy opens kv at its default directory, where the backup went
.open copy.db
.load build/armdb
SELECT hex(key), value FROM kv ORDER BY key;
INSERT INTO kv VALUES (x'03', 'written to the copy');
-- and its users table is created over the users backup
DROP TABLE users;
CREATE VIRTUAL TABLE users USING armdb(dir='backups/users', id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO users(name) VALUES ('dan, in the copy');
SELECT id, name FROM users ORDER BY id;
-- the original did not change
.open app.db
.load build/armdb
SELECT count(*) AS original_users FROM users;
SELECT count(*) AS original_kv FROM kv;
-- a directory declared otherwise is refused, saying what differs
CREATE VIRTUAL TABLE other USING armdb(dir='data/users', key_type='text');
CREATE VIRTUAL TABLE other USING armdb(dir='data/users', id INTEGER PRIMARY KEY, name TEXT, age INTEGER);
-- shared=1: one directory from two databases, on purpose
.open other.db
.load build/armdb
CREATE VIRTUAL TABLE users USING armdb(dir='data/users', id INTEGER PRIMARY KEY, name TEXT);
CREATE VIRTUAL TABLE users USING armdb(dir='data/users', id INTEGER PRIMARY KEY, name TEXT, shared=1);
SELECT count(*) AS shared_users FROM users;
-- a moved database keeps its tables (same inode); so does a restored one (same path)
.open :memory:
.system mv app.db moved.db && mv app.db-armdb moved.db-armdb
.open moved.db
.load build/armdb
SELECT count(*) AS users_after_move FROM users;
SELECT count(*) AS kv_after_move FROM kv;
.open :memory:
.system cp moved.db saved.db && rm moved.db && cp saved.db moved.db
.open moved.db
.load build/armdb
SELECT count(*) AS users_after_restore FROM users;
-- .dump carries no armdb rows (they are not in SQLite's file): .dump kv would
-- write the table's declaration and its decision table kv_armdb (a random
-- owner token and empty slots), which is what this shows; copy the rows into
-- a native table first to dump them
SELECT type, name, sql FROM sqlite_schema WHERE tbl_name IN ('kv', 'kv_armdb') ORDER BY name;
SELECT length(owner) AS owner_bytes, length(slots) AS slot_bytes, slots = zeroblob(1024) AS empty
  FROM kv_armdb;
CREATE TABLE kv_rows AS SELECT key, value FROM kv;
.dump kv_rows
