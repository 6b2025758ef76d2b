.load build/armdb
-- NULL keys, wrong key types, over-long keys and values: clear errors, and
-- nothing is stored half-way.
.headers on
.mode list
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', max_key_size=4, max_value_size=8);
INSERT INTO kv VALUES (NULL, 1);
INSERT INTO kv VALUES ('text', 1);
INSERT INTO kv VALUES (3, 1);
INSERT INTO kv VALUES (2.5, 1);
INSERT INTO kv VALUES (x'0102030405', 1);
INSERT INTO kv VALUES (x'01020304', 1);
INSERT INTO kv VALUES (x'05', x'010203040506070809');
INSERT INTO kv VALUES (x'05', '123456789');
INSERT INTO kv VALUES (x'05', '12345678');
INSERT INTO kv VALUES (x'06', 1234567890123);
SELECT hex(key), quote(value) FROM kv ORDER BY key;
-- OR IGNORE skips rows that break a constraint (as SQLite does), never type
-- errors (SQLITE_MISMATCH, as for an INTEGER PRIMARY KEY) or size limits
INSERT OR IGNORE INTO kv VALUES (NULL, 1), ('text', 2), (x'07', 3);
INSERT OR IGNORE INTO kv VALUES (x'0102030405', 1);
SELECT hex(key), quote(value) FROM kv ORDER BY key;
-- UPDATE to a bad key or value fails and changes nothing
UPDATE kv SET key = NULL WHERE key = x'05';
UPDATE kv SET key = 'x' WHERE key = x'05';
UPDATE kv SET value = zeroblob(9) WHERE key = x'05';
SELECT hex(key), quote(value) FROM kv ORDER BY key;
-- a multi-row statement inside a transaction stops at the bad row and keeps
-- what the statement did before it only under OR FAIL
BEGIN;
INSERT INTO kv VALUES (x'10', 1), (x'11', 2), (NULL, 3);
INSERT OR FAIL INTO kv VALUES (x'20', 1), (x'21', 2), (NULL, 3);
COMMIT;
SELECT hex(key), quote(value) FROM kv ORDER BY key;
-- integer keys: text that is not a number, blobs, fractions
CREATE VIRTUAL TABLE n USING armdb(dir='n', key_type='integer');
INSERT INTO n VALUES ('abc', 1);
INSERT INTO n VALUES (x'01', 1);
INSERT INTO n VALUES (1.5, 1);
INSERT INTO n VALUES ('9223372036854775808', 1);
INSERT INTO n VALUES (NULL, 1);
SELECT count(*) FROM n;
-- the table form names its own key column; an INTEGER PRIMARY KEY given NULL
-- (or omitted) gets the next key, as a rowid does; a TEXT key must be given
CREATE VIRTUAL TABLE u USING armdb(dir='u', uid INTEGER PRIMARY KEY, name TEXT);
INSERT INTO u VALUES (NULL, 'x');
INSERT INTO u VALUES ('x', 'x');
INSERT INTO u(name) VALUES ('no key');
SELECT uid, name FROM u ORDER BY uid;
CREATE VIRTUAL TABLE tk USING armdb(dir='tk', code TEXT PRIMARY KEY, name TEXT);
INSERT INTO tk(name) VALUES ('no key');
-- default limits: 1024-byte keys
CREATE VIRTUAL TABLE d USING armdb(dir='d', key_type='text');
INSERT INTO d VALUES (printf('%.1024c', 'k'), 1);
INSERT INTO d VALUES (printf('%.1025c', 'k'), 1);
SELECT length(key) FROM d;
-- the table form limits the whole record
CREATE VIRTUAL TABLE r USING armdb(dir='r', id INTEGER PRIMARY KEY, a TEXT, b BLOB, max_value_size=16);
INSERT INTO r VALUES (1, 'short', x'01');
INSERT INTO r VALUES (2, 'a much longer text', x'01');
UPDATE r SET b = zeroblob(20) WHERE id = 1;
SELECT id, a, hex(b) FROM r;
