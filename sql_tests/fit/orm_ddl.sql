.load build/armdb
-- The DDL ORMs emit (SQLAlchemy's, for SQLite): PRIMARY KEY (id) as a table
-- constraint, NOT NULL, DEFAULT, REFERENCES and FOREIGN KEY. The same
-- statements run on armdb tables and on native tables; outputs side by side.
.headers on
.mode list
CREATE VIRTUAL TABLE users USING armdb(dir='users',
	id INTEGER NOT NULL,
	name VARCHAR(50) NOT NULL,
	fullname VARCHAR DEFAULT 'n/a',
	karma INTEGER DEFAULT '10',
	joined DATETIME DEFAULT (CURRENT_TIMESTAMP),
	PRIMARY KEY (id)
);
CREATE TABLE n_users (
	id INTEGER NOT NULL,
	name VARCHAR(50) NOT NULL,
	fullname VARCHAR DEFAULT 'n/a',
	karma INTEGER DEFAULT '10',
	joined DATETIME DEFAULT (CURRENT_TIMESTAMP),
	PRIMARY KEY (id)
);
CREATE VIRTUAL TABLE addresses USING armdb(dir='addresses',
	id INTEGER NOT NULL,
	email_address VARCHAR NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	CONSTRAINT pk_addresses PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES users (id)
);
CREATE TABLE n_addresses (
	id INTEGER NOT NULL,
	email_address VARCHAR NOT NULL,
	user_id INTEGER NOT NULL REFERENCES n_users (id) ON DELETE CASCADE,
	CONSTRAINT pk_addresses PRIMARY KEY (id),
	FOREIGN KEY(user_id) REFERENCES n_users (id)
);
-- objects added without ids get the next id; omitted columns get their DEFAULT
INSERT INTO users (name) VALUES ('spongebob');
INSERT INTO n_users (name) VALUES ('spongebob');
INSERT INTO users (name, fullname) VALUES ('sandy', 'Sandy Cheeks');
INSERT INTO n_users (name, fullname) VALUES ('sandy', 'Sandy Cheeks');
-- what a driver sends for None: a bound NULL, which stays NULL
.parameter set $none NULL
INSERT INTO users (name, fullname, karma) VALUES ('patrick', $none, $none);
INSERT INTO n_users (name, fullname, karma) VALUES ('patrick', $none, $none);
SELECT 'armdb' AS t, id, name, quote(fullname), quote(karma), length(joined) FROM users
UNION ALL SELECT 'native', id, name, quote(fullname), quote(karma), length(joined) FROM n_users
ORDER BY id, t;
INSERT INTO addresses (email_address, user_id) VALUES ('sb@example.com', 1), ('sandy@example.com', 2);
INSERT INTO n_addresses (email_address, user_id) VALUES ('sb@example.com', 1), ('sandy@example.com', 2);
SELECT 'armdb' AS t, u.name, a.email_address FROM users u JOIN addresses a ON a.user_id = u.id
UNION ALL SELECT 'native', u.name, a.email_address FROM n_users u JOIN n_addresses a ON a.user_id = u.id
ORDER BY 1, 2;
-- NOT NULL is enforced in both
INSERT INTO users (fullname) VALUES ('nobody');
INSERT INTO n_users (fullname) VALUES ('nobody');
-- differences, by SQLite's rules for virtual tables:
-- 1. SQLite enforces no foreign keys on a virtual table: REFERENCES is documentation
PRAGMA foreign_keys = ON;
INSERT INTO addresses (email_address, user_id) VALUES ('ghost@example.com', 999);
INSERT INTO n_addresses (email_address, user_id) VALUES ('ghost@example.com', 999);
SELECT 'armdb' AS t, count(*) FROM addresses UNION ALL SELECT 'native', count(*) FROM n_addresses;
PRAGMA foreign_keys = OFF;
-- 2. SQLite hands a virtual table an omitted column and a NULL written in the SQL
--    text alike, so a literal NULL gets the DEFAULT too (a bound NULL does not, above)
INSERT INTO users (name, karma) VALUES ('gary', NULL);
INSERT INTO n_users (name, karma) VALUES ('gary', NULL);
SELECT 'armdb' AS t, quote(karma) FROM users WHERE name = 'gary'
UNION ALL SELECT 'native', quote(karma) FROM n_users WHERE name = 'gary';
-- what cannot be enforced is refused with a clear error
CREATE VIRTUAL TABLE u1 USING armdb(dir='u1', id INTEGER PRIMARY KEY, email TEXT UNIQUE);
CREATE VIRTUAL TABLE u2 USING armdb(dir='u2', id INTEGER, v, UNIQUE (v), PRIMARY KEY (id));
CREATE VIRTUAL TABLE u3 USING armdb(dir='u3', id INTEGER PRIMARY KEY, v CHECK (v > 0));
CREATE VIRTUAL TABLE u4 USING armdb(dir='u4', a INTEGER, b INTEGER, PRIMARY KEY (a, b));
CREATE VIRTUAL TABLE u5 USING armdb(dir='u5', id INTEGER PRIMARY KEY AUTOINCREMENT, v);
CREATE VIRTUAL TABLE u6 USING armdb(dir='u6', k TEXT PRIMARY KEY COLLATE NOCASE, v);
CREATE VIRTUAL TABLE u7 USING armdb(dir='u7', id INTEGER PRIMARY KEY, v DEFAULT (no_such_column));
CREATE VIRTUAL TABLE u8 USING armdb(dir='u8', id INTEGER PRIMARY KEY, PRIMARY KEY (id));
-- COLLATE on other columns is SQLite's business, and works
CREATE VIRTUAL TABLE c USING armdb(dir='c', id INTEGER PRIMARY KEY, tag TEXT COLLATE NOCASE);
INSERT INTO c (tag) VALUES ('Hello');
SELECT id, tag FROM c WHERE tag = 'HELLO';
