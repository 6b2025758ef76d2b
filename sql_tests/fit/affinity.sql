.load build/armdb
-- Declared column types apply SQLite's affinity on write in the table form,
-- exactly as a native table's columns do. Every statement runs on an armdb
-- table `a` and on a native table `n` with the same columns; the outputs are
-- printed side by side and must agree.
.headers on
.mode list
CREATE VIRTUAL TABLE a USING armdb(dir='a', id INTEGER PRIMARY KEY, age INTEGER, weight REAL,
  name TEXT, num NUMERIC, raw BLOB, any_);
CREATE TABLE n(id INTEGER PRIMARY KEY, age INTEGER, weight REAL, name TEXT, num NUMERIC, raw BLOB,
  any_);
CREATE TEMP VIEW rows_ AS SELECT 'armdb' AS t, * FROM a UNION ALL SELECT 'native', * FROM n;
-- '40' into age INTEGER is 40; 2 into weight REAL is 2.0; numbers into TEXT are text
INSERT INTO a VALUES (1, '40', 2, 7, '12', '12', '12');
INSERT INTO n VALUES (1, '40', 2, 7, '12', '12', '12');
-- doubles into INTEGER become integers when lossless (Node binds every JS number as a double)
INSERT INTO a VALUES (2, 24.0, 24.0, 24.0, 24.0, 24.0, 24.0);
INSERT INTO n VALUES (2, 24.0, 24.0, 24.0, 24.0, 24.0, 24.0);
-- numeric text with spaces, exponents, decimals; text that is no number stays text
INSERT INTO a VALUES (3, ' 42 ', '1e3', 3.25, '  7 ', '2.50', 'x');
INSERT INTO n VALUES (3, ' 42 ', '1e3', 3.25, '  7 ', '2.50', 'x');
INSERT INTO a VALUES (4, '1.5', 'abc', 1e300, '0x1A', '', x'00');
INSERT INTO n VALUES (4, '1.5', 'abc', 1e300, '0x1A', '', x'00');
INSERT INTO a VALUES (5, '9223372036854775807', '-0', -0.0, 9223372036854775807, '9223372036854775808', NULL);
INSERT INTO n VALUES (5, '9223372036854775807', '-0', -0.0, 9223372036854775807, '9223372036854775808', NULL);
INSERT INTO a VALUES (6, 9223372036854775807.0, '+5.', 1.0e15, 0.1, ' 1e2 ', '00012');
INSERT INTO n VALUES (6, 9223372036854775807.0, '+5.', 1.0e15, 0.1, ' 1e2 ', '00012');
INSERT INTO a VALUES (7, '1e', '.5', 100, '1e400', x'3132', 1.0);
INSERT INTO n VALUES (7, '1e', '.5', 100, '1e400', x'3132', 1.0);
SELECT t, id, typeof(age), quote(age), typeof(weight), quote(weight), typeof(name), quote(name),
  typeof(num), quote(num), typeof(raw), quote(raw), typeof(any_), quote(any_)
  FROM rows_ WHERE id <= 5 ORDER BY id, t;
-- (reals spell differently across SQLite versions: rows 6 and 7 by type here)
SELECT t, id, typeof(age), typeof(weight), typeof(name), typeof(num), typeof(raw), typeof(any_),
  quote(weight), quote(raw), quote(any_) FROM rows_ WHERE id IN (6, 7) ORDER BY id, t;
-- the two tables hold the same values, by type and by value
SELECT count(*) AS rows_that_differ FROM (
  SELECT id, age, typeof(age), weight, typeof(weight), name, typeof(name), num, typeof(num),
         raw, typeof(raw), any_, typeof(any_) FROM a
  EXCEPT
  SELECT id, age, typeof(age), weight, typeof(weight), name, typeof(name), num, typeof(num),
         raw, typeof(raw), any_, typeof(any_) FROM n);
-- arithmetic sees integers: age / 2 is 12, not 12.0
SELECT t, age / 2 AS half FROM rows_ WHERE id = 2 ORDER BY t;
-- UPDATE applies the affinity too
UPDATE a SET age = '77', weight = 3, name = 4.5 WHERE id = 1;
UPDATE n SET age = '77', weight = 3, name = 4.5 WHERE id = 1;
SELECT t, typeof(age), age, typeof(weight), weight, typeof(name), name FROM rows_ WHERE id = 1 ORDER BY t;
-- the key column: text that reads as an integer is the integer, in writes and lookups
INSERT INTO a(id, name) VALUES ('8', 'eight'), (' 9 ', 'nine'), (10.0, 'ten'), ('1.1e1', 'eleven');
INSERT INTO n(id, name) VALUES ('8', 'eight'), (' 9 ', 'nine'), (10.0, 'ten'), ('1.1e1', 'eleven');
SELECT t, id, typeof(id), name FROM rows_ WHERE id >= 8 ORDER BY id, t;
SELECT 'armdb' AS t, name FROM a WHERE id = '9' UNION ALL SELECT 'native', name FROM n WHERE id = '9';
SELECT 'armdb' AS t, group_concat(name) FROM a WHERE id IN ('8', 10.0, '11', 'x', 9.5)
UNION ALL SELECT 'native', group_concat(name) FROM n WHERE id IN ('8', 10.0, '11', 'x', 9.5);
SELECT 'armdb' AS t, group_concat(id) FROM a WHERE id > '7' AND id <= '10.5'
UNION ALL SELECT 'native', group_concat(id) FROM n WHERE id > '7' AND id <= '10.5';
UPDATE a SET name = 'EIGHT' WHERE id = '8';
UPDATE n SET name = 'EIGHT' WHERE id = '8';
DELETE FROM a WHERE id = '11';
DELETE FROM n WHERE id = '11';
SELECT t, id, name FROM rows_ WHERE id >= 8 ORDER BY id, t;
-- a type error is SQLITE_MISMATCH (20) in both, also under OR IGNORE
INSERT INTO a(id) VALUES ('abc');
INSERT INTO n(id) VALUES ('abc');
INSERT OR IGNORE INTO a(id) VALUES (1.5);
INSERT OR IGNORE INTO n(id) VALUES (1.5);
INSERT INTO a(id) VALUES (x'01');
INSERT INTO n(id) VALUES (x'01');
INSERT INTO a(id) VALUES (-9223372036854775808.0);
INSERT INTO n(id) VALUES (-9223372036854775808.0);
SELECT (SELECT count(*) FROM a) AS armdb_rows, (SELECT count(*) FROM n) AS native_rows;
