.load build/armdb
-- Another process holding a table: a clear error naming the directory, and
-- no silent second writer. A connection whose first use failed that way
-- works on a later use once the other process is gone (nothing is cached
-- for the connection's lifetime). DROP TABLE while another process holds the
-- table fails (SQLITE_BUSY: SQLite reports "database is locked" for it) and
-- the rows stay; once the other process is gone, DROP removes them. The
-- second process is a sqlite3 shell started by fit/hold.sh.
.headers on
.mode list
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE kv USING armdb(key_type='integer');
INSERT INTO kv VALUES (1, 'one'), (2, 'two');
-- a fresh connection that has not used the table yet
.open test.db
.load build/armdb
.system sh "$SQL_TESTS/fit/hold.sh" start test.db kv
SELECT * FROM kv;
INSERT INTO kv VALUES (3, 'three');
SELECT armdb_stats('kv');
DROP TABLE kv;
.system sh "$SQL_TESTS/fit/hold.sh" release
.system cat hold.out
-- the same connection, now that the other process has exited: the rows are
-- still there (DROP did not happen) and writes work
SELECT name FROM sqlite_schema;
SELECT key, value FROM kv ORDER BY key;
INSERT INTO kv VALUES (3, 'three');
SELECT json_extract(armdb_stats('kv'), '$.keys') AS keys;
-- DROP TABLE once nobody else holds it: the data goes with it
DROP TABLE kv;
SELECT count(*) AS tables FROM sqlite_schema;
.system ls test.db-armdb 2>&1 | sed 's/.*cannot access.*/test.db-armdb is gone/'
-- a CREATE over the same directory starts empty: the dropped rows never come back
CREATE VIRTUAL TABLE kv USING armdb(key_type='integer');
SELECT count(*) FROM kv;
