.load build/armdb
-- TEXT keys sort by BINARY collation (bytes), BLOB keys by memcmp; empty
-- keys are keys like any other.
.headers on
.mode list
CREATE VIRTUAL TABLE t USING armdb(dir='t', key_type='text');
INSERT INTO t VALUES ('b', 1), ('a', 2), ('B', 3), ('', 4), ('ab', 5), ('a' || char(0) || 'x', 6), ('é', 7), ('z', 8), ('aa', 9);
SELECT quote(key), value FROM t ORDER BY key;
CREATE TABLE ref(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
INSERT INTO ref SELECT * FROM t;
SELECT (SELECT group_concat(value) FROM (SELECT value FROM t ORDER BY key)) =
       (SELECT group_concat(value) FROM (SELECT value FROM ref ORDER BY key)) AS same_order;
SELECT group_concat(quote(key), ' ') FROM (SELECT key FROM t WHERE key >= 'a' AND key < 'b' ORDER BY key DESC);
SELECT value FROM t WHERE key = '';
-- numbers become text (TEXT affinity); a blob is refused
INSERT INTO t VALUES (42, 'forty-two');
SELECT quote(key), value FROM t WHERE key = 42;
SELECT quote(key), value FROM t WHERE key = '42';
INSERT INTO t VALUES (x'41', 'blob');
-- a NOCASE comparison is not pushed down, so it still finds every match
SELECT group_concat(value) FROM (SELECT value FROM t WHERE key = 'b' COLLATE NOCASE ORDER BY value);
SELECT group_concat(value) FROM (SELECT value FROM t WHERE key > 'a' COLLATE NOCASE ORDER BY value);
SELECT group_concat(quote(key)) FROM (SELECT key FROM t ORDER BY key COLLATE NOCASE, value);
CREATE VIRTUAL TABLE b USING armdb(dir='b');
INSERT INTO b VALUES (x'', 'empty'), (x'00', 'zero'), (x'0000', 'zero zero'), (x'01', 'one'), (x'ff', 'ff'), (x'fe01', 'fe01'), (x'7f', '7f'), (x'80', '80');
SELECT hex(key), value FROM b ORDER BY key;
SELECT hex(key) FROM b WHERE key > x'00' AND key <= x'80' ORDER BY key DESC;
SELECT value FROM b WHERE key = x'';
-- a BLOB key table takes only blobs
INSERT INTO b VALUES ('text', 1);
INSERT INTO b VALUES (1, 1);
SELECT count(*) FROM b WHERE key = 'text';
SELECT count(*) FROM b WHERE key > 'text';
