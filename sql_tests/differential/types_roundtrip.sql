.load build/armdb
-- Every SQLite type, at its edges, reads back from an untyped column with the
-- type and bytes it was written with; keys take their column's affinity.
.headers on
.mode list
CREATE TABLE v(id INTEGER PRIMARY KEY, x) /*armdb*/;
CREATE TABLE w(k TEXT PRIMARY KEY NOT NULL, a, b) WITHOUT ROWID /*armdb: shards=2*/;
INSERT INTO v VALUES (1, NULL), (2, 0), (3, -1), (4, 9223372036854775807), (5, -9223372036854775808),
  (6, 0.0), (7, -0.0), (8, 1.0e308), (9, 4.9e-324), (10, 2.5), (11, 1e999), (12, -1e999),
  (13, ''), (14, 'héllo wörld'), (15, 'a' || char(0) || 'b'), (16, x''), (17, x'00ff00'),
  (18, '42'), (19, ' 7 '), (20, '1e3'), (21, zeroblob(3)), (22, 123456789012345678),
  (23, 0.1), (24, 100.0);
SELECT id, typeof(x), quote(x), hex(x), length(x) FROM v ORDER BY id;
SELECT id FROM v WHERE x = 0 ORDER BY id;
SELECT id FROM v WHERE x IS NULL;
SELECT id, x + 0 FROM v WHERE typeof(x) IN ('integer', 'real') ORDER BY x, id;
UPDATE v SET x = x || '!' WHERE typeof(x) = 'text';
SELECT id, quote(x) FROM v WHERE typeof(x) = 'text' ORDER BY id;
-- a long text and a long blob
INSERT INTO v VALUES (100, printf('%.*c', 100000, 'x')), (101, zeroblob(200000));
SELECT id, typeof(x), length(x) FROM v WHERE id >= 100 ORDER BY id;
-- several untyped columns, NULLs among them, UPDATE of one leaves the other
INSERT INTO w VALUES ('r1', 1, 'one'), ('r2', NULL, x'02'), ('r3', 3.25, NULL), ('r4', NULL, NULL);
UPDATE w SET a = 10 WHERE k = 'r2';
UPDATE w SET b = NULL WHERE k = 'r1';
SELECT k, typeof(a), quote(a), typeof(b), quote(b) FROM w ORDER BY k;
-- key affinity: INTEGER keys take whole reals and integer text, TEXT keys take numbers as text
INSERT INTO v VALUES (30.0, 'real thirty'), ('31', 'text thirty-one'), (' 32 ', 'spaced');
SELECT id, typeof(id), x FROM v WHERE id BETWEEN 30 AND 32 ORDER BY id;
INSERT INTO w VALUES (42, 'int', 1), (4.5, 'real', 2);
SELECT quote(k), a FROM w WHERE a IN ('int', 'real') ORDER BY k;
SELECT a FROM w WHERE k = 42;
SELECT a FROM w WHERE k = '4.5';
-- typed columns given values of their own type
CREATE TABLE typed(id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB) /*armdb*/;
INSERT INTO typed VALUES (1, 1, 1.5, 'x', x'01'), (2, -300000, -1e-5, '', x''), (3, NULL, NULL, NULL, NULL);
SELECT id, typeof(i), quote(i), typeof(r), quote(r), typeof(s), quote(s), typeof(b), quote(b) FROM typed ORDER BY id;
