.load build/armdb
-- Declared column types apply their affinity in the table form (DESIGN.md:
-- "'40' into an INTEGER column is 40"). Today armdb stores non-key columns
-- as given.
.headers on
.mode list
CREATE TABLE a(id INTEGER PRIMARY KEY, i INTEGER, r REAL, n NUMERIC, s TEXT, b BLOB, u) /*armdb*/;
INSERT INTO a VALUES (1, '40', '1.5', '3.0', 12, 'zz', '7');
INSERT INTO a VALUES (2, '4e2', '2', '0x10', 1.25, 5, x'01');
INSERT INTO a VALUES (3, ' 9 ', 'abc', '1e3', x'41', NULL, 2.0);
INSERT INTO a VALUES (4, 5.0, 7, 2.5, -0.0, 3.5, '');
SELECT id, typeof(i), quote(i), typeof(r), quote(r), typeof(n), quote(n),
       typeof(s), quote(s), typeof(b), quote(b), typeof(u), quote(u) FROM a ORDER BY id;
UPDATE a SET i = '41', r = '3', s = 99 WHERE id = 1;
SELECT id, typeof(i), quote(i), typeof(r), quote(r), typeof(s), quote(s) FROM a WHERE id = 1;
-- affinity from the type name's rules: INT anywhere, CHAR/CLOB/TEXT, REAL/FLOA/DOUB
CREATE TABLE names(id INTEGER PRIMARY KEY, x BIGINT, y VARCHAR(10), z DOUBLE PRECISION, w DECIMAL(5,2)) /*armdb*/;
INSERT INTO names VALUES (1, '12', 34, '5', '6.50');
SELECT typeof(x), quote(x), typeof(y), quote(y), typeof(z), quote(z), typeof(w), quote(w) FROM names;
SELECT id FROM a WHERE i = 40;
SELECT id FROM a WHERE i = '40';
