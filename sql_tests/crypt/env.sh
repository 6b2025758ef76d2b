#!/bin/sh
# Second shell for crypt/encrypted.sql: a table whose key comes from an
# environment variable (the first shell's environment cannot be changed from
# inside it), then the same table under another value of the variable.
ARMDB_TEST_KEY=$(printf %064d 5) "$SQLITE3" -batch -init /dev/null test.db ".load $ARMDB" \
    "CREATE VIRTUAL TABLE e USING armdb(dir='envsec', key_env='ARMDB_TEST_KEY', key_type='text');" \
    "INSERT INTO e VALUES ('x', 'from the environment');" "SELECT key, value FROM e;" 2>&1
ARMDB_TEST_KEY=$(printf %064d 6) "$SQLITE3" -batch -init /dev/null test.db ".load $ARMDB" \
    "SELECT key, value FROM e;" 2>&1
ARMDB_TEST_KEY=$(printf %064d 5) "$SQLITE3" -batch -init /dev/null test.db ".load $ARMDB" \
    "SELECT key, value FROM e;" 2>&1
