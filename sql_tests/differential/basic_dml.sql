.load build/armdb
-- Basic DML on the table form and the key/value form: INSERT, UPDATE (of
-- values and of the key), DELETE, REPLACE, and the errors they raise.
.headers on
.mode list
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, age INTEGER) /*armdb*/;
CREATE TABLE kv(key BLOB PRIMARY KEY NOT NULL, value) WITHOUT ROWID /*armdb*/;
INSERT INTO users VALUES (1, 'ann', 'ann@example.com', 41), (2, 'bob', NULL, 30), (3, 'cy', 'cy@example.com', 25);
INSERT INTO users(id, name) VALUES (4, 'dee');
SELECT * FROM users ORDER BY id;
UPDATE users SET email = name || '@example.org' WHERE email IS NULL;
UPDATE users SET age = age + 1 WHERE age >= 30;
SELECT * FROM users WHERE age > 26 ORDER BY id;
UPDATE users SET id = 10 WHERE id = 1;
UPDATE users SET id = id + 100;
SELECT id, name FROM users ORDER BY id;
DELETE FROM users WHERE name = 'cy';
SELECT id, name FROM users ORDER BY id;
-- constraint errors
INSERT INTO users VALUES (102, 'again', NULL, NULL);
INSERT INTO users VALUES (50, NULL, NULL, NULL);
UPDATE users SET name = NULL WHERE id = 102;
-- diverge: armdb's message names the type and the column after SQLite's "datatype mismatch" (type_errors.sql)
INSERT INTO users VALUES (x'01', 'blob key', NULL, NULL);
INSERT OR REPLACE INTO users VALUES (102, 'bobby', NULL, 31);
SELECT id, name, age FROM users ORDER BY id;
-- key/value form
INSERT INTO kv VALUES (x'01', 'one'), (x'02', 2), (x'03', 3.5), (x'04', NULL), (x'05', x'ff00');
INSERT INTO kv VALUES (x'01', 'dup');
INSERT OR REPLACE INTO kv VALUES (x'01', 'uno');
UPDATE kv SET value = value * 10 WHERE typeof(value) IN ('integer', 'real');
DELETE FROM kv WHERE value IS NULL;
SELECT hex(key), typeof(value), quote(value) FROM kv ORDER BY key;
SELECT count(*), sum(length(key)) FROM kv;
-- joins and aggregates over both
CREATE TABLE orders(uid INTEGER, item TEXT);
INSERT INTO orders VALUES (102, 'pen'), (104, 'ink'), (102, 'pad'), (999, 'lost');
SELECT u.name, count(*) FROM orders o JOIN users u ON u.id = o.uid GROUP BY u.name ORDER BY u.name;
SELECT name FROM users WHERE id IN (SELECT uid FROM orders) ORDER BY name;
DELETE FROM users;
SELECT count(*) FROM users;
