.load build/armdb
-- armdb_* functions resolve a table name as SQLite resolves it in SQL:
-- 'schema.table' names one database; a bare name is looked up in temp, then
-- main, then the attached databases in the order they were attached. Each
-- function's answer is shown next to what plain SQL reads for the same name.
.headers on
.mode list
.open main.db
.load build/armdb
ATTACH 'att.db' AS att;
ATTACH 'att2.db' AS att2;
CREATE VIRTUAL TABLE att.kv USING armdb;
CREATE VIRTUAL TABLE main.kv USING armdb;
CREATE VIRTUAL TABLE att2.kv USING armdb;
CREATE VIRTUAL TABLE att2.only_here USING armdb;
CREATE TABLE main.plain(x);
INSERT INTO main.kv VALUES (x'01', 'main');
INSERT INTO att.kv VALUES (x'01', 'att'), (x'02', 'att');
INSERT INTO att2.kv VALUES (x'01', 'att2'), (x'02', 'att2'), (x'03', 'att2');
INSERT INTO att2.only_here VALUES (x'01', 1);
-- a fresh connection, where the attached tables are used before main's
.open main.db
.load build/armdb
ATTACH 'att.db' AS att;
ATTACH 'att2.db' AS att2;
SELECT count(*) AS att_rows FROM att.kv;
SELECT json_extract(armdb_stats('kv'), '$.keys') AS stats_kv;
SELECT count(*) AS sql_kv FROM kv;
SELECT (SELECT count(*) FROM att.kv) AS sql_att_kv, json_extract(armdb_stats('att.kv'), '$.keys') AS stats_att_kv;
SELECT (SELECT count(*) FROM att2.kv) AS sql_att2_kv, json_extract(armdb_stats('ATT2.KV'), '$.keys') AS stats_att2_kv;
SELECT (SELECT count(*) FROM only_here) AS sql_only_here, json_extract(armdb_stats('only_here'), '$.keys') AS stats_only_here;
-- temp comes first
CREATE VIRTUAL TABLE temp.kv USING armdb(dir='tempkv');
SELECT (SELECT count(*) FROM kv) AS sql_kv, json_extract(armdb_stats('kv'), '$.keys') AS stats_kv;
SELECT json_extract(armdb_stats('main.kv'), '$.keys') AS stats_main_kv;
-- names that are not armdb tables
SELECT armdb_stats('plain');
SELECT armdb_stats('nosuch');
SELECT armdb_stats('att.nosuch');
SELECT armdb_flush('att.plain');
