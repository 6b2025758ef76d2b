-- A first armdb session: run with `make demo` (or sqlite3 -init /dev/null demo.db < examples/demo.sql
-- after `make`). Every statement here is from DESIGN.md section 1.
.load build/armdb
.headers on
.mode box
CREATE VIRTUAL TABLE IF NOT EXISTS kv USING armdb;
CREATE VIRTUAL TABLE IF NOT EXISTS users USING armdb(id INTEGER PRIMARY KEY, name TEXT, email TEXT, age INTEGER);

INSERT OR REPLACE INTO kv VALUES (x'0001', 'hello');
INSERT OR REPLACE INTO kv VALUES (x'0001', 'world');
INSERT OR REPLACE INTO kv VALUES (x'10', 'ten'), (x'15', 'fifteen'), (x'1f', 'thirty-one'), (x'20', 'thirty-two');
SELECT hex(key) AS key, value FROM kv WHERE key = x'0001';
SELECT hex(key) AS key, value FROM kv WHERE key >= x'10' AND key < x'20' ORDER BY key DESC LIMIT 10;

INSERT OR REPLACE INTO users VALUES (7, 'Ada', 'ada@example.com', 36), (-2, 'Grace', 'grace@example.com', 45),
                                    (12, 'Edsger', 'ew@example.com', 72);
BEGIN;
UPDATE users SET age = age + 1 WHERE id = 7;
DELETE FROM kv WHERE key = x'0001';
COMMIT;
SELECT * FROM users ORDER BY id;
SELECT count(*) AS kv_rows FROM kv;
EXPLAIN QUERY PLAN SELECT * FROM users WHERE id BETWEEN 0 AND 100 ORDER BY id DESC;
.mode list
SELECT armdb_stats('users') AS stats;
