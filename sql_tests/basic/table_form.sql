.load build/armdb
-- The table form: declared columns, one PRIMARY KEY, the rest in a record.
.headers on
.mode list
CREATE VIRTUAL TABLE users USING armdb(dir='users', id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, age INTEGER);
PRAGMA table_info(users);
INSERT INTO users VALUES (1, 'ann', 'ann@example.com', 41), (2, 'bob', NULL, 30), (3, 'cy', 'cy@example.com', 25);
INSERT INTO users(id, name) VALUES (4, 'dee');
SELECT * FROM users ORDER BY id;
-- UPDATE of non-key columns, WHERE on non-key columns (scans, SQLite filters)
UPDATE users SET email = name || '@example.org' WHERE email IS NULL;
UPDATE users SET age = age + 1 WHERE age >= 30;
SELECT * FROM users WHERE age > 26 ORDER BY id;
SELECT name FROM users WHERE email LIKE '%.org' ORDER BY name;
-- UPDATE of the key moves the row
UPDATE users SET id = 10 WHERE id = 1;
SELECT * FROM users ORDER BY id;
UPDATE users SET id = id + 100;
SELECT id, name FROM users ORDER BY id;
-- the key column may sit anywhere
CREATE VIRTUAL TABLE m USING armdb(dir='m', a TEXT, b BLOB PRIMARY KEY, c);
INSERT INTO m VALUES ('one', x'02', 1), ('two', x'01', 2.5);
SELECT a, hex(b), c FROM m ORDER BY b;
UPDATE m SET a = upper(a), c = c * 2;
SELECT a, hex(b), c FROM m ORDER BY b DESC;
DELETE FROM m WHERE a = 'ONE';
SELECT a, hex(b), c FROM m;
-- NOT NULL on a non-key column
INSERT INTO users VALUES (50, NULL, NULL, NULL);
INSERT OR IGNORE INTO users VALUES (50, NULL, NULL, NULL);
UPDATE users SET name = NULL WHERE id = 102;
SELECT count(*) FROM users;
-- aggregates and joins work over it
CREATE TABLE orders(uid INTEGER, item TEXT);
INSERT INTO orders VALUES (102, 'pen'), (103, 'ink'), (102, 'pad');
SELECT u.name, count(*) FROM orders o JOIN users u ON u.id = o.uid GROUP BY u.name ORDER BY u.name;
EXPLAIN QUERY PLAN SELECT u.name FROM orders o JOIN users u ON u.id = o.uid;
