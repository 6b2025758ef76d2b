/* SPDX-License-Identifier: MIT */
/*
 * armdb.h: the public entry point of the armdb SQLite extension, for programs
 * that link it statically (or the amalgamation) instead of loading armdb.so:
 *
 *     sqlite3_auto_extension((void (*)(void))sqlite3_armdb_init);
 *
 * The engine's own C API (arm_engine.h) comes along for programs that also use
 * the engine directly. Layer: ext.
 */
#ifndef ARMDB_H
#define ARMDB_H

#include "../engine/arm_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

struct sqlite3;
struct sqlite3_api_routines;

/**
 * Register the `armdb` virtual-table module and the armdb_* SQL functions on
 * db. Called by SQLite on `.load ./armdb` / sqlite3_load_extension; pApi is
 * SQLite's routine table (NULL-safe only when linked statically with
 * SQLITE_CORE). Returns SQLITE_OK, or an SQLite error code with *pzErrMsg set
 * (sqlite3_malloc; SQLite frees it).
 */
ARM_API int sqlite3_armdb_init(struct sqlite3 *db, char **pzErrMsg,
                               const struct sqlite3_api_routines *pApi);

#ifdef __cplusplus
}
#endif
#endif /* ARMDB_H */
