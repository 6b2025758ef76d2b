.load build/armdb
-- A directory records its table's declaration at creation. A directory made
-- by the previous version (no record) is adopted: its declaration is
-- recorded at its first open, and from then on a different one is refused.
-- A directory whose metadata (ARMDB) is gone but whose data files are there
-- is never given fresh metadata.
.headers on
.mode list
.open app.db
.load build/armdb
CREATE VIRTUAL TABLE t USING armdb(dir='t', shards=1, id INTEGER PRIMARY KEY, name TEXT);
INSERT INTO t(name) VALUES ('kept');
-- what the previous version left: the same directory without APPMETA
.open :memory:
.system rm t/APPMETA
.open app.db
.load build/armdb
SELECT id, name FROM t;
.system ls t
.open other.db
.load build/armdb
CREATE VIRTUAL TABLE t2 USING armdb(dir='t', shards=1, id INTEGER PRIMARY KEY, name BLOB);
-- ARMDB lost, data files left: no new database is created over them
.open :memory:
.system rm t/ARMDB
.open app.db
.load build/armdb
SELECT id, name FROM t;
.open fresh.db
.load build/armdb
CREATE VIRTUAL TABLE t USING armdb(dir='t', shards=1, id INTEGER PRIMARY KEY, name TEXT);
.system ls t
