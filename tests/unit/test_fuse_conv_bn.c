/* fuse_conv_batchnorm: conv (2-D with and without bias, depthwise, 1-D) and grouped 2-D
 * conv_transpose followed by a constant batch_norm become one conv giving the original's
 * outputs in fp32 and fp16-emulate on seeded random inputs; near misses are left alone; a
 * batch_norm with a variance beyond fp16 becomes mul + add that the fp16 pass keeps in fp16. */
#include <math.h>
#include <stdlib.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_fix_util.h"
#include "test_lint_build.h"

#define F32 MK_DT_FP32

/* A constant with elements uniform in [lo, hi) from a small LCG seeded by seed. */
static mk_value *rnd(tb *t, const char *name, int rank, const int64_t *d, double lo, double hi,
                     unsigned seed)
{
    if (t->bad) return NULL;
    mk_type ty = mk_type_make(F32, rank, d);
    size_t n = 0;
    if (!mk_type_numel(&ty, &n)) return tb_chk(t, NULL);
    float *buf = mk_arena_alloc(t->p->arena, n * sizeof *buf + 1);
    if (!buf) return tb_chk(t, NULL);
    uint32_t s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        buf[i] = (float)(lo + (hi - lo) * (double)(s >> 8) / 16777216.0);
    }
    return tb_chk(t, mk_ir_const(t->p, t->b, name, &ty, buf, n * sizeof *buf, 1));
}

/* batch_norm over c channels of x with random constants (variance around var). */
static mk_value *bn(tb *t, mk_value *x, int c, double mean, double var, unsigned seed)
{
    return tb_op(t, MK_OP_BATCH_NORM, "bn", "x", x, "mean",
                 rnd(t, "mean", DIMS(c), mean - 0.5, mean + 0.5, seed), "variance",
                 rnd(t, "var", DIMS(c), var * 0.5, var * 2, seed + 1), "gamma",
                 rnd(t, "gamma", DIMS(c), 0.5, 1.5, seed + 2), "beta",
                 rnd(t, "beta", DIMS(c), -0.5, 0.5, seed + 3), "epsilon", tb_scalar(t, F32, 1e-3),
                 NULL);
}

static int count_kind(const mk_program *p, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op) n += op->kind == k;
    return n;
}

/* q (run with fp16_emulate f16q) against p (fp32 when ref32, else f16q too), seeds 1..3. */
static void same(mk_test_ctx *tc, const mk_program *p, const mk_program *q, int f16q, int ref32,
                 double tol)
{
    for (unsigned long long seed = 1; seed <= 3; seed++) {
        mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
        mk_run_options rp = {ref32 ? 0 : f16q, 1, seed}, rq = {f16q, 1, seed};
        mk_err e = {MK_OK, ""};
        mk_status st = mk_random_inputs(p, seed, &in, &e);
        if (st == MK_OK) st = mk_run(p, &rp, &in, &a, &e);
        if (st == MK_OK) st = mk_run(q, &rq, &in, &b, &e);
        CHECK_MSG(st == MK_OK, "run failed: %s", e.msg);
        if (st == MK_OK) {
            double r = tolerance_ratio(&b, &a, tol, tol);
            CHECK_MSG(r <= 1, "fp16_emulate %d seed %llu: outputs differ (ratio %g, tol %g)", f16q,
                      seed, r, tol);
        }
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
    }
}

/* Runs the pass on a clone of p; returns it (NULL and a failed check on error) and *n. */
static mk_program *fused(mk_test_ctx *tc, const mk_program *p, int *n)
{
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    *n = -1;
    if (mk_program_clone(p, &q, &e) != MK_OK) {
        CHECK_MSG(0, "clone: %s", e.msg);
        return NULL;
    }
    *n = mk_pass_fuse_conv_batchnorm(q, &e);
    CHECK_MSG(*n >= 0, "pass failed: %s", e.msg);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "invalid after the pass: %s", e.msg);
    return q;
}

/* A fused case: one change, no batch_norm left, one conv of `kind`, same outputs. */
static void check_fused(mk_test_ctx *tc, tb *t, mk_op_kind kind)
{
    REQUIRE(!t->bad);
    int n;
    mk_program *q = fused(tc, t->p, &n);
    if (q) {
        CHECK_EQ_INT(n, 1);
        CHECK_EQ_INT(count_kind(q, MK_OP_BATCH_NORM), 0);
        CHECK_EQ_INT(count_kind(q, kind), 1);
        same(tc, t->p, q, 0, 1, 1e-5);
        same(tc, t->p, q, 1, 0, 2e-2);
    }
    mk_program_free(q);
    mk_ir_program_free(t->p);
}

/* x [1, cin, 7, 7] -> conv (k 3x3, pad 1, groups g, optional bias) -> batch_norm. */
static void conv2d(tb *t, int cin, int cout, int g, int bias)
{
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F32, DIMS(1, cin, 7, 7));
    mk_value *w = rnd(t, "w", DIMS(cout, cin / g, 3, 3), -0.5, 0.5, 7);
    mk_value *y;
    if (bias)
        y = tb_op(t, MK_OP_CONV, "c", "x", x, "weight", w, "bias",
                  rnd(t, "b", DIMS(cout), -1, 1, 9), "pad_type", tb_str(t, "custom"), "pad",
                  tb_ints(t, 4, 1, 1, 1, 1), "groups", tb_int(t, g), NULL);
    else
        y = tb_op(t, MK_OP_CONV, "c", "x", x, "weight", w, "pad_type", tb_str(t, "custom"), "pad",
                  tb_ints(t, 4, 1, 1, 1, 1), "groups", tb_int(t, g), NULL);
    tb_out(t, bn(t, y, cout, 0.2, 1.0, 11));
}

TEST(fuse_conv_bn_conv2d_bias)
{
    tb t;
    conv2d(&t, 3, 5, 1, 1);
    check_fused(tc, &t, MK_OP_CONV);
}

TEST(fuse_conv_bn_conv2d_no_bias)
{
    tb t;
    conv2d(&t, 4, 6, 2, 0);
    check_fused(tc, &t, MK_OP_CONV);
}

TEST(fuse_conv_bn_depthwise)
{
    tb t;
    conv2d(&t, 6, 6, 6, 1);
    check_fused(tc, &t, MK_OP_CONV);
}

TEST(fuse_conv_bn_conv1d)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_in(&t, "x", F32, DIMS(2, 3, 12));
    mk_value *w = rnd(&t, "w", DIMS(4, 3, 5), -0.5, 0.5, 3);
    mk_value *y =
        tb_op(&t, MK_OP_CONV, "c", "x", x, "weight", w, "strides", tb_ints(&t, 1, 2), NULL);
    tb_out(&t, bn(&t, y, 4, -0.3, 0.5, 21));
    check_fused(tc, &t, MK_OP_CONV);
}

/* grouped 2-D conv_transpose: weight [Cin, Cout/groups, kh, kw], Cout = 2 * 3 */
TEST(fuse_conv_bn_conv_transpose_grouped)
{
    for (int bias = 0; bias < 2; bias++) {
        tb t;
        tb_init(&t, 8);
        mk_value *x = tb_in(&t, "x", F32, DIMS(1, 4, 5, 5));
        mk_value *w = rnd(&t, "w", DIMS(4, 3, 3, 3), -0.5, 0.5, 5 + (unsigned)bias);
        mk_value *y = bias ? tb_op(&t, MK_OP_CONV_TRANSPOSE, "ct", "x", x, "weight", w, "bias",
                                   rnd(&t, "b", DIMS(6), -1, 1, 8), "strides", tb_ints(&t, 2, 2, 2),
                                   "groups", tb_int(&t, 2), NULL)
                           : tb_op(&t, MK_OP_CONV_TRANSPOSE, "ct", "x", x, "weight", w, "strides",
                                   tb_ints(&t, 2, 2, 2), "groups", tb_int(&t, 2), NULL);
        tb_out(&t, bn(&t, y, 6, 0.1, 2.0, 31));
        check_fused(tc, &t, MK_OP_CONV_TRANSPOSE);
    }
}

/* Near misses: the pass changes nothing and the batch_norm stays. */
static void check_untouched(mk_test_ctx *tc, tb *t, const char *what)
{
    CHECK_MSG(!t->bad, "%s: build failed: %s", what, t->e.msg);
    if (t->bad) {
        mk_ir_program_free(t->p);
        return;
    }
    int n;
    mk_program *q = fused(tc, t->p, &n);
    CHECK_MSG(n == 0, "%s: %d ops changed", what, n);
    if (q) CHECK_MSG(count_kind(q, MK_OP_BATCH_NORM) == 1, "%s: batch_norm gone", what);
    mk_program_free(q);
    mk_ir_program_free(t->p);
}

TEST(fuse_conv_bn_near_misses)
{
    tb t;
    /* the conv output has a second reader */
    tb_init(&t, 8);
    mk_value *x = tb_in(&t, "x", F32, DIMS(1, 3, 6, 6));
    mk_value *y = tb_op(&t, MK_OP_CONV, "c", "x", x, "weight",
                        rnd(&t, "w", DIMS(4, 3, 1, 1), -1, 1, 2), NULL);
    tb_out(&t, bn(&t, y, 4, 0, 1, 3));
    tb_out(&t, tb_op(&t, MK_OP_RELU, "r", "x", y, NULL));
    check_untouched(tc, &t, "second reader");

    /* the conv output is also a model output */
    tb_init(&t, 8);
    x = tb_in(&t, "x", F32, DIMS(1, 3, 6, 6));
    y = tb_op(&t, MK_OP_CONV, "c", "x", x, "weight", rnd(&t, "w", DIMS(4, 3, 1, 1), -1, 1, 2),
              NULL);
    tb_out(&t, bn(&t, y, 4, 0, 1, 3));
    tb_out(&t, y);
    check_untouched(tc, &t, "model output");

    /* a run-time weight (iOS17 allows one) */
    tb_init(&t, 8);
    x = tb_in(&t, "x", F32, DIMS(1, 3, 6, 6));
    mk_value *w = tb_in(&t, "w", F32, DIMS(4, 3, 1, 1));
    tb_out(&t, bn(&t, tb_op(&t, MK_OP_CONV, "c", "x", x, "weight", w, NULL), 4, 0, 1, 3));
    check_untouched(tc, &t, "runtime weight");

    /* a batch_norm variance that is not a plain constant (constexpr_cast of fp16) */
    tb_init(&t, 8);
    x = tb_in(&t, "x", F32, DIMS(1, 3, 6, 6));
    y = tb_op(&t, MK_OP_CONV, "c", "x", x, "weight", rnd(&t, "w", DIMS(4, 3, 1, 1), -1, 1, 2),
              NULL);
    mk_op *cc = mk_ir_op_new(t.p, MK_OP_CONSTEXPR_CAST, "var");
    mk_value *h = tb_const(&t, "var16", MK_DT_FP16, DIMS(4), 1.0, 0.25);
    mk_type vt = mk_type_make(F32, DIMS(4));
    mk_value *var = cc ? mk_ir_op_add_output(t.p, cc, "var", &vt) : NULL;
    mk_value *dt = tb_str(&t, "fp32");
    if (!cc || !var || !h || !dt || !mk_ir_op_add_attr(t.p, cc, "source_val", h) ||
        !mk_ir_op_add_attr(t.p, cc, "output_dtype", dt))
        t.bad = 1;
    else
        mk_ir_block_append(t.b, cc);
    tb_out(&t, tb_op(&t, MK_OP_BATCH_NORM, "bn", "x", y, "mean", rnd(&t, "m", DIMS(4), 0, 1, 4),
                     "variance", var, NULL));
    check_untouched(tc, &t, "constexpr variance");

    /* 1-D conv_transpose: a bias would bring back H1 */
    tb_init(&t, 8);
    x = tb_in(&t, "x", F32, DIMS(1, 3, 6));
    y = tb_op(&t, MK_OP_CONV_TRANSPOSE, "ct", "x", x, "weight",
              rnd(&t, "w", DIMS(3, 4, 3), -1, 1, 2), NULL);
    tb_out(&t, bn(&t, y, 4, 0, 1, 3));
    check_untouched(tc, &t, "1-D conv_transpose");

    /* beyond fp16 but the scale would not fit fp16 either (gamma 1e9, variance 1) */
    tb_init(&t, 8);
    x = tb_in(&t, "x", F32, DIMS(1, 2, 3, 3));
    tb_out(&t,
           tb_op(&t, MK_OP_BATCH_NORM, "bn", "x", tb_op(&t, MK_OP_RELU, "r", "x", x, NULL), "mean",
                 rnd(&t, "m", DIMS(2), 0, 1, 4), "variance", rnd(&t, "v", DIMS(2), 1, 2, 5),
                 "gamma", rnd(&t, "g", DIMS(2), 1e9, 2e9, 6), NULL));
    check_untouched(tc, &t, "scale beyond fp16");
}

/* A batch_norm variance of 1e7 (PP-OCRv4 det) on inputs of some 1000s: mul + add, then
 * the fp16 pass keeps nothing in fp32 (the original keeps the batch_norm), outputs close. */
TEST(fuse_conv_bn_beyond_fp16_to_mul_add)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_in(&t, "x", F32, DIMS(1, 3, 6, 6));
    mk_value *y = tb_op(&t, MK_OP_MUL, "y", "x", x, "y", tb_scalar(&t, F32, 3000.0), NULL);
    tb_out(&t, bn(&t, y, 3, 300.0, 1e7, 3));
    tb_out(&t, tb_op(&t, MK_OP_RELU, "r", "x", y, NULL));
    REQUIRE(!t.bad);
    mk_err e = {MK_OK, ""};
    mk_fp16_stats st;
    mk_program *orig16 = NULL;
    REQUIRE(mk_program_clone(t.p, &orig16, &e) == MK_OK);
    memset(&st, 0, sizeof st);
    CHECK(mk_pass_fp16_ex(orig16, &st, &e) >= 0);
    CHECK_MSG(st.kept[MK_OP_BATCH_NORM] == 1, "the original batch_norm stays fp32 (%d)",
              st.kept[MK_OP_BATCH_NORM]);
    mk_program_free(orig16);

    int n;
    mk_program *q = fused(tc, t.p, &n);
    if (q) {
        CHECK_EQ_INT(n, 1);
        CHECK_EQ_INT(count_kind(q, MK_OP_BATCH_NORM), 0);
        CHECK_EQ_INT(count_kind(q, MK_OP_MUL), 2); /* y and the batch_norm scale */
        CHECK_EQ_INT(count_kind(q, MK_OP_ADD), 1);
        same(tc, t.p, q, 0, 1, 1e-5);
        memset(&st, 0, sizeof st);
        CHECK_MSG(mk_pass_fp16_ex(q, &st, &e) >= 0, "fp16: %s", e.msg);
        CHECK_EQ_INT(st.n_fp32_ops, 0);
        CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "fp16 program invalid: %s", e.msg);
        same(tc, t.p, q, 1, 1, 1e-2);
    }
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

/* conv -> batch_norm -> batch_norm: the second one reads a conv the pass itself made (not in
 * the use counts taken before the pass), and still folds: one conv, same outputs. */
TEST(fuse_conv_bn_chain_folds_twice)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_in(&t, "x", F32, DIMS(1, 3, 7, 7));
    mk_value *w = rnd(&t, "w", DIMS(4, 3, 3, 3), -0.5, 0.5, 7);
    mk_value *y = tb_op(&t, MK_OP_CONV, "c", "x", x, "weight", w, "pad_type", tb_str(&t, "custom"),
                        "pad", tb_ints(&t, 4, 1, 1, 1, 1), NULL);
    tb_out(&t, bn(&t, bn(&t, y, 4, 0.2, 1.0, 11), 4, -0.1, 2.0, 13));
    REQUIRE(!t.bad);
    int n;
    mk_program *q = fused(tc, t.p, &n);
    if (q) {
        CHECK_EQ_INT(n, 2);
        CHECK_EQ_INT(count_kind(q, MK_OP_BATCH_NORM), 0);
        CHECK_EQ_INT(count_kind(q, MK_OP_CONV), 1);
        same(tc, t.p, q, 0, 1, 1e-5);
    }
    mk_program_free(q);
    mk_ir_program_free(t.p);
}
