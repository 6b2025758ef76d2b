.load build/armdb
-- Type errors are SQLITE_MISMATCH, as on a native table; armdb's message
-- adds which value and which column (the code is the same).
.headers on
.mode list
CREATE TABLE n(id INTEGER PRIMARY KEY, v TEXT) /*armdb*/;
-- diverge: armdb's message names the type and the column after SQLite's "datatype mismatch"
INSERT INTO n VALUES ('abc', 1);
-- diverge: armdb's message names the type and the column after SQLite's "datatype mismatch"
INSERT INTO n VALUES (x'01', 2);
-- diverge: armdb's message names the type and the column after SQLite's "datatype mismatch"
INSERT INTO n VALUES (2.5, 3);
INSERT INTO n VALUES (1, 'ok');
INSERT INTO n VALUES ('2', 'text that reads as an integer');
INSERT INTO n VALUES (3.0, 'a whole real');
-- diverge: armdb's message names the type and the column after SQLite's "datatype mismatch"
UPDATE n SET id = 'seven' WHERE id = 1;
SELECT id, typeof(id), v FROM n ORDER BY id;
