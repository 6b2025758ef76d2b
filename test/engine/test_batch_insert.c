/* SPDX-License-Identifier: MIT */
/*
 * test_batch_insert.c: conditional inserts in batches (SQL INSERT under
 * concurrent transactions): the commit fails with ARM_CONSTRAINT and writes
 * nothing when an inserted key appeared meanwhile; a key the batch itself
 * deleted or wrote first carries no condition; rollback_to drops it.
 */
#include "../harness.h"
#include "../../engine/arm_engine.h"
#include "../util.h"

#include <stdio.h>

static char g_dir[600];

#define S(x) arm_slice_make((x), sizeof(x) - 1)

static void test_conflict_writes_nothing(void) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 4;
    arm_engine *e = util_open_ok(g_dir, &o);
    arm_batch *a, *b;
    ARM_CHECK_RC(arm_engine_batch_new(e, &a), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_new(e, &b), ARM_OK);
    /* two overlapping transactions insert the same new key */
    ARM_CHECK_RC(arm_engine_batch_insert(a, S("k"), S("from a")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_insert(b, S("k"), S("from b")), ARM_OK);
    for (int i = 0; i < 20; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "b%02d", i);
        ARM_CHECK_RC(arm_engine_batch_put(b, arm_slice_make(k, (size_t)n), S("x")), ARM_OK);
    }
    ARM_CHECK_RC(arm_engine_batch_commit(e, a), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_commit(e, b), ARM_CONSTRAINT);
    util_expect(e, "k", 1, "from a", 6);
    ARM_CHECK(arm_engine_count(e) == 1); /* none of b's other keys */
    /* a plain put of the same key is unconditional */
    arm_engine_batch_clear(b);
    ARM_CHECK_RC(arm_engine_batch_put(b, S("k"), S("put")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_commit(e, b), ARM_OK);
    util_expect(e, "k", 1, "put", 3);
    arm_engine_batch_free(a);
    arm_engine_batch_free(b);
    util_close_ok(e);
    e = util_open_ok(g_dir, &o);
    util_expect(e, "k", 1, "put", 3);
    ARM_CHECK(arm_engine_count(e) == 1);
    util_close_ok(e);
}

static void test_condition_follows_first_record(void) {
    arm_engine_options o;
    arm_engine_options_init(&o);
    o.shard_count = 2;
    arm_engine *e = util_open_ok(g_dir, &o);
    util_put_ok(e, "old", 3, "1", 1);
    arm_batch *b;
    ARM_CHECK_RC(arm_engine_batch_new(e, &b), ARM_OK);
    /* delete then insert (SQL UPDATE of the key onto itself): no condition */
    ARM_CHECK_RC(arm_engine_batch_delete(b, S("old")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_insert(b, S("old"), S("2")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_commit(e, b), ARM_OK);
    util_expect(e, "old", 3, "2", 1);
    /* insert then put: still conditional */
    arm_engine_batch_clear(b);
    ARM_CHECK_RC(arm_engine_batch_insert(b, S("new"), S("a")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_put(b, S("new"), S("b")), ARM_OK);
    util_put_ok(e, "new", 3, "other", 5);
    ARM_CHECK_RC(arm_engine_batch_commit(e, b), ARM_CONSTRAINT);
    util_expect(e, "new", 3, "other", 5);
    /* rolled back past the insert: the condition goes with it */
    arm_engine_batch_clear(b);
    size_t mark = arm_engine_batch_mark(b);
    ARM_CHECK_RC(arm_engine_batch_insert(b, S("new"), S("c")), ARM_OK);
    arm_engine_batch_rollback_to(b, mark);
    ARM_CHECK_RC(arm_engine_batch_put(b, S("new"), S("d")), ARM_OK);
    ARM_CHECK_RC(arm_engine_batch_commit(e, b), ARM_OK);
    util_expect(e, "new", 3, "d", 1);
    arm_engine_batch_free(b);
    util_close_ok(e);
}

int main(void) {
    harness_init();
    /* static: util_rmrf_at_exit reads the path at exit, after main returned */
    static char base[512];
    util_tmpdir_ok(base, sizeof base, "binsert");
    util_rmrf_at_exit(base);
    snprintf(g_dir, sizeof g_dir, "%s/a", base);
    ARM_TEST("conditional insert: conflict writes nothing") test_conflict_writes_nothing();
    snprintf(g_dir, sizeof g_dir, "%s/b", base);
    ARM_TEST("conditional insert: condition follows the key's first record")
        test_condition_follows_first_record();
    return harness_done();
}
