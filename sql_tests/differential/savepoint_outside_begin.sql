.load build/armdb
-- SAVEPOINT outside BEGIN starts a transaction. ROLLBACK TO its outermost
-- savepoint must discard the writes, so the RELEASE that follows commits
-- nothing (DESIGN.md: ROLLBACK TO discards "including the outermost
-- savepoint"). Today armdb keeps the rows.
.headers on
.mode list
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;
INSERT INTO t VALUES (1, 'kept');
SAVEPOINT a;
INSERT INTO t VALUES (2, 'rolled back');
ROLLBACK TO a;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
RELEASE a;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
-- nested: the inner savepoint rolled back, the outer released
SAVEPOINT outer_sp;
INSERT INTO t VALUES (3, 'three');
SAVEPOINT inner_sp;
INSERT INTO t VALUES (4, 'four');
ROLLBACK TO inner_sp;
RELEASE outer_sp;
SELECT group_concat(id) FROM (SELECT id FROM t ORDER BY id);
-- ROLLBACK TO the outermost after an UPDATE and a DELETE
SAVEPOINT b;
UPDATE t SET v = 'changed';
DELETE FROM t WHERE id = 1;
ROLLBACK TO b;
RELEASE b;
SELECT group_concat(id || '=' || v) FROM (SELECT * FROM t ORDER BY id);
