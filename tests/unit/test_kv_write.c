/* mk_kv_write, the KV cache write without slice_update (H5): x [1,2,8,4] with n = 1, 3 and 8
 * new entries written at every offset f with f + n <= 8 gives slice_update's result exactly
 * (interpreter, fp32 and fp16), by a broadcast select for one entry and a one-hot matmul for
 * several; a dynamic update or several entries off the second-to-last axis build nothing. */
#include <stdlib.h>
#include <string.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_lint_build.h"

#define IOS18 9

/* outputs (slice_update, mk_kv_write) of x, u at offset input f */
static int build(tb *t, mk_dtype dt, int n)
{
    tb_init(t, IOS18);
    mk_value *x = tb_in(t, "x", dt, DIMS(1, 2, 8, 4));
    mk_value *u = tb_in(t, "u", dt, DIMS(1, 2, n, 4));
    mk_value *f = tb_in(t, "f", MK_DT_INT32, DIMS(1));
    mk_value *bg =
        tb_op(t, MK_OP_CONCAT, "bg", "values", tb_ints(t, 2, 0, 0), "values", f, "values",
              tb_ints(t, 1, 0), "axis", tb_int(t, 0), "interleave", tb_bool(t, 0), NULL);
    mk_value *en = tb_op(t, MK_OP_ADD, "en", "x", bg, "y", tb_ints(t, 4, 1, 2, n, 4), NULL);
    tb_out(t,
           tb_op(t, MK_OP_SLICE_UPDATE, "ref", "x", x, "update", u, "begin", bg, "end", en, NULL));
    if (t->bad) return 0;
    pb b;
    mk_pb_init(&b, t->p, t->b->last, &t->e); /* before the slice_update */
    mk_value *w = mk_kv_write(&b, x, u, f, 2);
    if (!w || b.failed) return 0;
    tb_out(t, w);
    return !t->bad;
}

TEST(kv_write_equals_slice_update)
{
    static const int ns[3] = {1, 3, 8};
    for (int dt = 0; dt < 2; dt++)
        for (int k = 0; k < 3; k++) {
            int n = ns[k];
            tb t;
            CHECK_MSG(build(&t, dt ? MK_DT_FP16 : MK_DT_FP32, n), "build n=%d: %s", n, t.e.msg);
            if (tc->failures) {
                mk_ir_program_free(t.p);
                return;
            }
            mk_err e = {MK_OK, ""};
            CHECK_MSG(mk_ir_verify(t.p, &e) == MK_OK, "%s", e.msg);
            float x[64], u[64];
            for (int i = 0; i < 64; i++) x[i] = (float)(rand() % 2001 - 1000) / 64.0f;
            for (int i = 0; i < 8 * n; i++) u[i] = (float)(rand() % 2001 - 1000) / 64.0f;
            for (int32_t f = 0; f + n <= 8; f++) {
                mk_tensor in[3] = {{(char *)"x", 11, 4, {1, 2, 8, 4}, x, sizeof x},
                                   {(char *)"u", 11, 4, {1, 2, n, 4}, u, (size_t)n * 32},
                                   {(char *)"f", 23, 1, {1}, &f, 4}};
                mk_tensor_list il = {3, in}, out = {0, NULL};
                if (mk_run(t.p, NULL, &il, &out, &e) != MK_OK) {
                    CHECK_MSG(0, "n=%d f=%d: %s", n, f, e.msg);
                    break;
                }
                CHECK_MSG(out.n == 2 && out.items[0].nbytes == out.items[1].nbytes &&
                              memcmp(out.items[0].data, out.items[1].data, out.items[0].nbytes) ==
                                  0,
                          "%s n=%d f=%d: differs from slice_update", dt ? "fp16" : "fp32", n, f);
                mk_tensor_list_free(&out);
            }
            mk_ir_program_free(t.p);
        }
}

TEST(kv_write_declines_what_it_cannot_place)
{
    tb t;
    tb_init(&t, IOS18);
    mk_value *x = tb_in(&t, "x", MK_DT_FP32, DIMS(1, 2, 8, 4));
    mk_value *u = tb_in(&t, "u", MK_DT_FP32, DIMS(1, 2, 8, 2));
    mk_value *d = tb_in(&t, "d", MK_DT_FP32, DIMS(1, 2, -1, 4));
    mk_value *f = tb_in(&t, "f", MK_DT_INT32, DIMS(1));
    REQUIRE(!t.bad);
    tb_out(&t, x);
    pb b;
    mk_pb_init(&b, t.p, NULL, &t.e);
    CHECK(mk_kv_write(&b, x, u, f, 3) == NULL); /* 2 entries on the last axis */
    CHECK(mk_kv_write(&b, x, d, f, 2) == NULL); /* dynamic update */
    CHECK(!b.failed && t.b->first == NULL);     /* nothing built */
    mk_ir_program_free(t.p);
}
