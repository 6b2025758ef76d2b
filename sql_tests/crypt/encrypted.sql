.load build/armdb
-- Encryption at rest: key_file= / key_env= name where the key is (the
-- CREATE text SQLite stores holds no key). Reopening with the right key
-- reads the rows; another key, no key, or a key for a table that is not
-- encrypted fail with a clear error; nothing is on disk in the clear.
.headers on
.mode list
.system printf %064d 7 > key.hex
.system printf %064d 8 > other.hex
.open test.db
.load build/armdb
CREATE VIRTUAL TABLE s USING armdb(dir='sec', key_file='key.hex', key_type='text', shards=2);
INSERT INTO s VALUES ('alpha', 'secret one'), ('beta', 2), ('gamma', zeroblob(20000));
SELECT key, typeof(value), length(value) FROM s ORDER BY key;
SELECT sql FROM sqlite_schema WHERE name = 's';
CREATE VIRTUAL TABLE plain USING armdb(dir='plain');
INSERT INTO plain VALUES (x'6b', 'v');
-- a second table on the same directory must bring the same key
CREATE VIRTUAL TABLE s2 USING armdb(dir='sec', key_file='other.hex', key_type='text', shards=2);
CREATE VIRTUAL TABLE s3 USING armdb(dir='sec', key_type='text', shards=2);
-- reopen with the right key
.open test.db
.load build/armdb
SELECT key, value FROM s WHERE key <> 'gamma' ORDER BY key;
.system grep -rl 'secret one' sec || echo 'no plaintext on disk'
.system grep -rl 'alpha' sec || echo 'no key in the clear'
-- another key
.system cp other.hex key.hex
.open test.db
.load build/armdb
SELECT key, value FROM s ORDER BY key;
-- no key: the key file is gone
.system rm key.hex
.open test.db
.load build/armdb
SELECT key, value FROM s ORDER BY key;
-- the key file back
.system printf %064d 7 > key.hex
.open test.db
.load build/armdb
SELECT key, value FROM s WHERE key = 'beta';
-- a key for a table that is not encrypted
CREATE VIRTUAL TABLE p2 USING armdb(dir='plain', key_file='key.hex');
SELECT key, value FROM plain;
-- key_env: a table whose key is in an environment variable (a second
-- shell, with the variable set): right value, another value, right again
.system sh "$SQL_TESTS/crypt/env.sh"
-- bad sources
CREATE VIRTUAL TABLE b1 USING armdb(dir='b1', key_file='key.hex', key_env='K');
CREATE VIRTUAL TABLE b2 USING armdb(dir='b2', key_env='NO_SUCH_ARMDB_KEY_VAR');
CREATE VIRTUAL TABLE b3 USING armdb(dir='b3', key_env='bad name');
.system printf 'short' > short.key
CREATE VIRTUAL TABLE b4 USING armdb(dir='b4', key_file='short.key');
-- an online backup of an encrypted table is encrypted under the same key
SELECT armdb_backup('s', 'bk');
.system grep -rl 'secret one' bk || echo 'no plaintext in the backup'
CREATE VIRTUAL TABLE restored USING armdb(dir='bk', key_file='key.hex', key_type='text', shards=2);
SELECT key, value FROM restored WHERE key <> 'gamma' ORDER BY key;
CREATE VIRTUAL TABLE restored2 USING armdb(dir='bk', key_file='other.hex', key_type='text', shards=2);
.system ls
DROP TABLE s;
.system ls
