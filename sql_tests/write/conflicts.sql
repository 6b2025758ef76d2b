.load build/armdb
-- INSERT, INSERT OR REPLACE / IGNORE / FAIL / ABORT / ROLLBACK, REPLACE,
-- UPDATE (of the key too), DELETE, and the constraint errors users expect.
.headers on
.mode list
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', key_type='text');
INSERT INTO kv VALUES ('a', 1), ('b', 2), ('c', 3);
INSERT INTO kv VALUES ('a', 10);
INSERT OR ABORT INTO kv VALUES ('d', 4), ('a', 10);
INSERT OR IGNORE INTO kv VALUES ('a', 10), ('e', 5);
INSERT OR REPLACE INTO kv VALUES ('b', 20), ('f', 6);
REPLACE INTO kv VALUES ('c', 30);
SELECT key, value FROM kv ORDER BY key;
SELECT changes();
-- UPDATE of the value, of the key, and of the key onto an existing key
UPDATE kv SET value = value * 100 WHERE key = 'e';
UPDATE kv SET key = 'z' WHERE key = 'f';
UPDATE kv SET key = 'a' WHERE key = 'z';
UPDATE OR IGNORE kv SET key = 'a' WHERE key = 'z';
SELECT key, value FROM kv ORDER BY key;
UPDATE OR REPLACE kv SET key = 'a' WHERE key = 'z';
SELECT key, value FROM kv ORDER BY key;
-- updating every key at once: no row is lost or met twice
UPDATE kv SET key = key || key;
SELECT key, value FROM kv ORDER BY key;
UPDATE kv SET key = key WHERE key = 'aa';
SELECT count(*) FROM kv;
-- DELETE: by key, by range, by value, everything
DELETE FROM kv WHERE key = 'bb';
DELETE FROM kv WHERE key = 'nothing';
SELECT changes();
DELETE FROM kv WHERE key >= 'c' AND key < 'd';
DELETE FROM kv WHERE value = 500;
SELECT key, value FROM kv ORDER BY key;
DELETE FROM kv;
SELECT count(*) FROM kv;
-- re-insert after delete
INSERT INTO kv VALUES ('a', 'again');
SELECT key, value FROM kv;
-- OR ROLLBACK undoes the whole transaction
BEGIN;
INSERT INTO kv VALUES ('x', 1);
INSERT OR ROLLBACK INTO kv VALUES ('a', 2);
SELECT key, value FROM kv ORDER BY key;
COMMIT;
-- the table form reports its own column
CREATE VIRTUAL TABLE u USING armdb(dir='u', uid INTEGER PRIMARY KEY, name TEXT);
INSERT INTO u VALUES (1, 'one');
INSERT INTO u VALUES (1, 'uno');
UPDATE u SET name = 'eins' WHERE uid = 1;
INSERT INTO u SELECT uid + 1, name FROM u;
INSERT INTO u SELECT uid + 1, name FROM u;
SELECT * FROM u ORDER BY uid;
