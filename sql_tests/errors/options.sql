.load build/armdb
-- Every option, good values and bad ones; each error names the option.
.headers on
.mode list
-- :memory: needs dir=
CREATE VIRTUAL TABLE kv USING armdb;
CREATE VIRTUAL TABLE temp.kv USING armdb;
-- every option at once, with quoted and bare values and size suffixes
CREATE VIRTUAL TABLE a USING armdb(dir='a', shards=3, max_file_size='256MB', write_buffer='64KiB', sync=off,
  compaction_threshold=0.5, index='ordered', cache_size='1 MB', key_type='text', max_key_size=16, max_value_size='1k');
SELECT json_extract(s, '$.shards'), json_extract(s, '$.sync'), json_extract(s, '$.index'), json_extract(s, '$.key_type')
  FROM (SELECT armdb_stats('a') AS s);
INSERT INTO a VALUES ('sixteen-bytes-ok', zeroblob(1024));
SELECT length(key), length(value) FROM a;
CREATE VIRTUAL TABLE b USING armdb(dir="b", SYNC='Normal', Index=hash, max_file_size=268435456, key_type=INTEGER);
SELECT json_extract(s, '$.sync'), json_extract(s, '$.index'), json_extract(s, '$.key_type')
  FROM (SELECT armdb_stats('b') AS s);
CREATE VIRTUAL TABLE c USING armdb(dir='c', sync='full');
SELECT json_extract(armdb_stats('c'), '$.sync');
-- unknown, repeated and empty
CREATE VIRTUAL TABLE x USING armdb(dir='x', shard=2);
CREATE VIRTUAL TABLE x USING armdb(dir='x', shards=2, shards=3);
CREATE VIRTUAL TABLE x USING armdb(dir='');
-- bad values
CREATE VIRTUAL TABLE x USING armdb(dir='x', shards=0);
CREATE VIRTUAL TABLE x USING armdb(dir='x', shards=1025);
CREATE VIRTUAL TABLE x USING armdb(dir='x', shards='two');
CREATE VIRTUAL TABLE x USING armdb(dir='x', shards='2KB');
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_file_size='12 parsecs');
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_file_size='8GB');
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_file_size=100);
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_file_size='1.5MB');
-- a small data file: an unset max_value_size shrinks to fit; a set one that cannot fit is named
CREATE VIRTUAL TABLE small USING armdb(dir='small', max_file_size='1MB');
INSERT INTO small VALUES (x'01', zeroblob(900000));
SELECT length(value) FROM small;
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_file_size='1MB', max_value_size='2MB');
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_file_size='32KB');
CREATE VIRTUAL TABLE x USING armdb(dir='x', write_buffer=5000);
CREATE VIRTUAL TABLE x USING armdb(dir='x', write_buffer='-4KB');
CREATE VIRTUAL TABLE x USING armdb(dir='x', sync='sometimes');
CREATE VIRTUAL TABLE x USING armdb(dir='x', compaction_threshold=1.5);
CREATE VIRTUAL TABLE x USING armdb(dir='x', compaction_threshold='half');
CREATE VIRTUAL TABLE x USING armdb(dir='x', index='btree');
CREATE VIRTUAL TABLE x USING armdb(dir='x', cache_size='lots');
CREATE VIRTUAL TABLE x USING armdb(dir='x', cache_size='16383T');
CREATE VIRTUAL TABLE x USING armdb(dir='x', key_type='real');
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_key_size=0);
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_key_size=65535);
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_value_size=0);
CREATE VIRTUAL TABLE x USING armdb(dir='x', max_value_size='2GB');
-- encryption keys never go into the CREATE text: the options name a key
-- file or an environment variable (a missing one is an error; see crypt/)
CREATE VIRTUAL TABLE x USING armdb(dir='x', key_file='/etc/armdb.key');
CREATE VIRTUAL TABLE x USING armdb(dir='x', key_env='ARMDB_KEY');
-- table form mistakes
CREATE VIRTUAL TABLE x USING armdb(dir='x', id INTEGER, name TEXT);
CREATE VIRTUAL TABLE x USING armdb(dir='x', id INTEGER PRIMARY KEY, name TEXT PRIMARY KEY);
CREATE VIRTUAL TABLE x USING armdb(dir='x', id REAL PRIMARY KEY, name TEXT);
CREATE VIRTUAL TABLE x USING armdb(dir='x', id PRIMARY KEY, name TEXT);
CREATE VIRTUAL TABLE x USING armdb(dir='x', id INTEGER PRIMARY KEY, name TEXT UNIQUE);
CREATE VIRTUAL TABLE x USING armdb(dir='x', id INTEGER PRIMARY KEY, name TEXT DEFAULT);
CREATE VIRTUAL TABLE x USING armdb(dir='x', id INTEGER, name TEXT, PRIMARY KEY(nosuch));
CREATE VIRTUAL TABLE x USING armdb(dir='x', id INTEGER PRIMARY KEY, ID TEXT);
CREATE VIRTUAL TABLE x USING armdb(dir='x', key_type='integer', id INTEGER PRIMARY KEY, v);
-- nothing was created by the failures
.system ls
SELECT name FROM sqlite_schema ORDER BY name;
-- table form types: VARCHAR(20) is TEXT, BIGINT is INTEGER
CREATE VIRTUAL TABLE y USING armdb(dir='y', "the key" VARCHAR(20) PRIMARY KEY, [weird name] BIGINT, `x` DECIMAL(10, 2));
INSERT INTO y VALUES ('k', 1, 2.5);
SELECT * FROM y;
SELECT json_extract(armdb_stats('y'), '$.key_type');
