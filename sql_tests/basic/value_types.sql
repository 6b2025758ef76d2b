.load build/armdb
-- The key/value form's value reads back with the type it was written with;
-- the table form's columns apply their declared type's affinity on write,
-- exactly as a native table's columns do (native table alongside).
.headers on
.mode list
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', key_type='integer');
INSERT INTO kv VALUES (1, NULL), (2, 42), (3, -9223372036854775808), (4, 9223372036854775807),
  (5, 2.5), (6, -0.0), (7, 1e308), (8, ''), (9, 'héllo'), (10, x''), (11, x'00ff00'),
  (12, '42'), (13, 'a' || char(0) || 'b');
SELECT key, typeof(value) AS t, quote(value) AS v, hex(value) AS bytes FROM kv ORDER BY key;
SELECT count(*) FROM kv WHERE typeof(value) = 'integer';
CREATE VIRTUAL TABLE t USING armdb(dir='t', k TEXT PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n);
INSERT INTO t VALUES ('a', 1, 1.5, 'x', x'01', NULL), ('b', -300000, -1e-5, '', x'', 'any'),
  ('c', NULL, NULL, NULL, NULL, 7), ('d', '12', 3, 4.5, 'text in blob column', x'ff');
SELECT k, typeof(i), quote(i), typeof(r), quote(r), typeof(s), quote(s), typeof(b), quote(b),
  typeof(n), quote(n) FROM t ORDER BY k;
CREATE TABLE native(k TEXT PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n);
INSERT INTO native VALUES ('a', 1, 1.5, 'x', x'01', NULL), ('b', -300000, -1e-5, '', x'', 'any'),
  ('c', NULL, NULL, NULL, NULL, 7), ('d', '12', 3, 4.5, 'text in blob column', x'ff');
SELECT k, typeof(i), quote(i), typeof(r), quote(r), typeof(s), quote(s), typeof(b), quote(b),
  typeof(n), quote(n) FROM native ORDER BY k;
-- a large value
INSERT INTO kv VALUES (100, zeroblob(1000000));
SELECT key, typeof(value), length(value) FROM kv WHERE key = 100;
