.load build/armdb
-- armdb_repl_serve / _follow / _stop / _status: results and clear errors
-- (what converges over the network is test/ext/test_repl_sql.py's).
.headers on
.mode list
CREATE VIRTUAL TABLE kv USING armdb(dir='kv', shards=2);
CREATE VIRTUAL TABLE rep USING armdb(dir='rep', shards=2);
CREATE TABLE native(a);
INSERT INTO kv VALUES (x'01', 'one');
-- a leader: port 0 picks a free port and the bound address comes back
SELECT armdb_repl_serve('kv', '127.0.0.1:0') GLOB '127.0.0.1:[0-9]*' AS bound;
SELECT armdb_repl_serve('kv', '127.0.0.1:0');
SELECT armdb_repl_follow('kv', '127.0.0.1:1');
SELECT json_extract(armdb_repl_status('kv'), '$.role') AS role,
       json_extract(armdb_repl_status('kv'), '$.table') AS tab,
       json_extract(armdb_repl_status('kv'), '$.address') GLOB '127.0.0.1:[0-9]*' AS addr;
SELECT group_concat(key, ' ') AS leader_keys FROM json_each(armdb_repl_status('kv'));
SELECT armdb_repl_stop('kv') AS stopped;
SELECT armdb_repl_stop('kv');
SELECT armdb_repl_status('kv') AS status;
-- bad arguments
SELECT armdb_repl_serve('kv', 'nohost');
SELECT armdb_repl_serve('kv', '127.0.0.1:99999');
SELECT armdb_repl_serve('kv', '');
SELECT armdb_repl_serve('kv', NULL);
SELECT armdb_repl_serve('nope', '127.0.0.1:0');
SELECT armdb_repl_serve(NULL, '127.0.0.1:0');
SELECT armdb_repl_serve('native', '127.0.0.1:0');
SELECT armdb_repl_status('nope');
SELECT armdb_repl_stop('nope');
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'bogus=1');
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'max_followers');
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'max_followers=x');
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'max_followers=0');
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'backoff_max_ms=10');
SELECT armdb_repl_follow('rep', '127.0.0.1:1', 'max_followers=2');
-- secrets come from a file or the environment, never from SQL text
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'secret_env=ARMDB_TEST_NO_SUCH_VAR');
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'secret_file=no/such/file');
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'secret_file=x, secret_env=y');
.shell printf 'short' > short.key && chmod 600 short.key
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'secret_file=short.key');
.shell printf '0123456789abcdef0123' > open.key && chmod 644 open.key
SELECT armdb_repl_serve('kv', '127.0.0.1:0', 'secret_file=open.key');
SELECT armdb_repl_status('kv') AS still_none;
-- never from a trigger or a view (SQLITE_DIRECTONLY)
CREATE VIEW v AS SELECT armdb_repl_status('kv') AS s;
SELECT * FROM v;
CREATE TRIGGER t AFTER INSERT ON native BEGIN SELECT armdb_repl_serve('kv', '127.0.0.1:0'); END;
INSERT INTO native VALUES (1);
DROP TRIGGER t;
SELECT armdb_repl_status('kv') AS still_none;
INSERT INTO rep VALUES (x'00', 'before following');
-- a follower (its leader need not be up) refuses writes, naming the leader
SELECT armdb_repl_follow('rep', '127.0.0.1:1', 'backoff_max_ms=100, heartbeat_ms=200,
                         peer_timeout_ms=1000') AS follows;
SELECT armdb_repl_follow('rep', '127.0.0.1:1');
SELECT armdb_repl_serve('rep', '127.0.0.1:0');
INSERT INTO rep VALUES (x'01', 'no');
UPDATE rep SET value = 'no';
DELETE FROM rep;
BEGIN;
INSERT INTO native VALUES (2);
INSERT INTO rep VALUES (x'02', 'no');
COMMIT;
SELECT count(*) AS native_rows FROM native;
SELECT json_extract(armdb_repl_status('rep'), '$.role') AS role,
       json_extract(armdb_repl_status('rep'), '$.leader') AS leader,
       json_type(armdb_repl_status('rep'), '$.shards') AS shards,
       json_array_length(armdb_repl_status('rep'), '$.shards') AS nshards;
SELECT group_concat(key, ' ') AS follower_keys FROM json_each(armdb_repl_status('rep'));
SELECT hex(key) AS k, value FROM rep;
BEGIN;
SELECT armdb_repl_follow('kv', '127.0.0.1:1');
COMMIT;
SELECT armdb_repl_stop('rep') AS stopped;
INSERT INTO rep VALUES (x'03', 'writable again');
SELECT hex(key) AS k, value FROM rep;
SELECT armdb_repl_status('rep') AS status;
-- a table that serves or follows cannot move its directory under its threads
ATTACH 'file.db' AS f;
CREATE VIRTUAL TABLE f.d USING armdb(shards=1);
SELECT armdb_repl_serve('f.d', '127.0.0.1:0') GLOB '127.0.0.1:*' AS serves;
ALTER TABLE f.d RENAME TO d2;
SELECT armdb_repl_stop('f.d') AS stopped;
ALTER TABLE f.d RENAME TO d2;
SELECT count(*) AS renamed FROM f.d2;
-- DROP TABLE of a table that serves stops serving first
SELECT armdb_repl_serve('f.d2', '127.0.0.1:0') GLOB '127.0.0.1:*' AS serves;
DROP TABLE f.d2;
SELECT armdb_repl_follow('rep', '127.0.0.1:1') AS follows;
DROP TABLE rep;
.shell ls
