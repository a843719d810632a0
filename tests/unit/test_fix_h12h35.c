/* H12 general sum-of-squares rewrite (variances, reduce_sum_square) and H35 reflect/replicate
 * pads on outer axes: each case is flagged with a fix, fixed through mk_fix, no longer
 * flagged, and gives the original's outputs in fp32 and fp16-emulate; fp16 variances with
 * outliers |x| ~ 300..1000 overflow in the original but match a double reference once fixed;
 * near misses are neither flagged nor rewritten. */
#include <math.h>
#include <stdlib.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_lint_cases.h"
#include "test_fix_util.h"

/* Findings of `rule`; *n_fix of them offer a fix. */
static int findings(const mk_program *p, const char *rule, int assume, int *n_fix)
{
    rule_hits h;
    int n = lint_hits(p, rule, assume, NULL, &h);
    *n_fix = h.n_fix;
    return n;
}

/* mk_fix with only `rule`; NULL (and a failed check) when it fails or changes nothing. */
static mk_program *fix_only(mk_test_ctx *tc, const mk_program *p, const char *rule, int assume)
{
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = rule;
    fo.assume_fp16 = assume;
    fo.seed = 5;
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_err e = {MK_OK, ""};
    mk_status st = mk_fix(p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "%s: fix failed: %s", rule, e.msg);
    if (st != MK_OK) return NULL;
    CHECK_MSG(rep.n_rows > 0 && rep.rows[0].ops_changed > 0, "%s: nothing changed", rule);
    CHECK_MSG(rep.verified, "%s: not verified", rule);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "%s: fixed program invalid: %s", rule, e.msg);
    int n_fix = 0;
    CHECK_EQ_INT(findings(q, rule, assume, &n_fix), 0);
    return q;
}

/* Original and fixed agree on seeded random inputs, in plain runs (relative/absolute tol32)
 * and in fp16-emulate (tol16). */
static void check_same(mk_test_ctx *tc, const mk_program *p, const mk_program *q, double tol32,
                       double tol16)
{
    for (int f16 = 0; f16 < 2; f16++)
        for (unsigned long long seed = 1; seed <= 3; seed++) {
            mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
            mk_run_options ro = {f16, 1, seed};
            mk_err e = {MK_OK, ""};
            mk_status st = mk_random_inputs(p, seed, &in, &e);
            if (st == MK_OK) st = mk_run(p, &ro, &in, &a, &e);
            if (st == MK_OK) st = mk_run(q, &ro, &in, &b, &e);
            CHECK_MSG(st == MK_OK, "run failed: %s", e.msg);
            if (st == MK_OK) {
                double tol = f16 ? tol16 : tol32, r = tolerance_ratio(&b, &a, tol, tol);
                CHECK_MSG(r <= 1, "fp16_emulate %d seed %llu: outputs differ (ratio %g)", f16, seed,
                          r);
            }
            mk_tensor_list_free(&in);
            mk_tensor_list_free(&a);
            mk_tensor_list_free(&b);
        }
}

/* ---- H12 ---- */

#define ROWS 3
#define COLS 64

enum { VAR_MOMENTS, VAR_CENTRED, SUM_SQUARE };

/* VAR_MOMENTS: y = mean(x*x, -1, keep) - square(mean(x, -1, keep))
 * VAR_CENTRED: v = mean(pow(x - mean(x), 2), 1) [rows]; y = v / (v + 1)
 * SUM_SQUARE:  y = reduce_sum_square(x, [1], keep false) / 1000
 * computed in fp16 (x cast) when half is set, else in fp32. Every output has ROWS elements. */
static void build_h12(tb *t, int form, int half)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, half, DIMS(ROWS, COLS));
    mk_dtype dt = half ? F16 : F32;
    if (form == VAR_MOMENTS) {
        mk_value *s = tb_op(t, MK_OP_MUL, "sq", "x", x, "y", x, NULL);
        mk_value *m2 = tb_op(t, MK_OP_REDUCE_MEAN, "m2", "x", s, "axes", tb_ints(t, 1, -1),
                             "keep_dims", tb_bool(t, 1), NULL);
        mk_value *m1 = tb_op(t, MK_OP_REDUCE_MEAN, "m1", "x", x, "axes", tb_ints(t, 1, -1),
                             "keep_dims", tb_bool(t, 1), NULL);
        mk_value *m11 = tb_op(t, MK_OP_SQUARE, "m11", "x", m1, NULL);
        tb_out(t, tb_op(t, MK_OP_SUB, "y", "x", m2, "y", m11, NULL));
    } else if (form == VAR_CENTRED) {
        mk_value *mu = tb_op(t, MK_OP_REDUCE_MEAN, "mu", "x", x, "axes", tb_ints(t, 1, 1),
                             "keep_dims", tb_bool(t, 1), NULL);
        mk_value *d = tb_op(t, MK_OP_SUB, "d", "x", x, "y", mu, NULL);
        mk_value *s = tb_op(t, MK_OP_POW, "sq", "x", d, "y", tb_scalar(t, dt, 2.0), NULL);
        mk_value *v = tb_op(t, MK_OP_REDUCE_MEAN, "v", "x", s, "axes", tb_ints(t, 1, 1),
                            "keep_dims", tb_bool(t, 0), NULL);
        mk_value *a = tb_op(t, MK_OP_ADD, "a", "x", v, "y", tb_scalar(t, dt, 1.0), NULL);
        tb_out(t, tb_op(t, MK_OP_REAL_DIV, "y", "x", v, "y", a, NULL));
    } else {
        mk_value *s = tb_op(t, MK_OP_REDUCE_SUM_SQUARE, "ss", "x", x, "axes", tb_ints(t, 1, 1),
                            "keep_dims", tb_bool(t, 0), NULL);
        tb_out(t, tb_op(t, MK_OP_REAL_DIV, "y", "x", s, "y", tb_scalar(t, dt, 1000.0), NULL));
    }
}

/* The expected output for row r in double. */
static double expect_h12(int form, const float *xs, int r)
{
    double s1 = 0, s2 = 0;
    for (int j = 0; j < COLS; j++) {
        double v = xs[r * COLS + j];
        s1 += v;
        s2 += v * v;
    }
    if (form == SUM_SQUARE) return s2 / 1000;
    double var = s2 / COLS - (s1 / COLS) * (s1 / COLS);
    return form == VAR_MOMENTS ? var : var / (var + 1);
}

/* Worst relative error of output 0 against expect_h12 (INFINITY for inf/NaN). */
static double worst_h12(int form, const float *xs, const mk_tensor_list *out)
{
    if (out->n != 1 || out->items[0].nbytes != ROWS * sizeof(float)) return INFINITY;
    const float *y = out->items[0].data;
    double w = 0;
    for (int r = 0; r < ROWS; r++) {
        double ref = expect_h12(form, xs, r), d = fabs(y[r] - ref) / fmax(fabs(ref), 1e-3);
        if (!isfinite(y[r]) || isnan(d)) return INFINITY;
        if (d > w) w = d;
    }
    return w;
}

static mk_status run_x(const mk_program *p, int f16, const float *xs, mk_tensor_list *out,
                       mk_err *e)
{
    mk_tensor t = {"x", 11, 2, {ROWS, COLS}, (void *)xs, sizeof(float) * ROWS * COLS};
    mk_tensor_list in = {1, &t};
    mk_run_options ro = {f16, 1, 3};
    return mk_run(p, &ro, &in, out, e);
}

/* Build form in fp16 (half) or fp32 (assuming fp16), check flag -> fix -> equivalence, and
 * return the fixed program (NULL on failure; *orig gets the original). */
static mk_program *fixed_h12(mk_test_ctx *tc, int form, int half, mk_program **orig)
{
    tb t;
    build_h12(&t, form, half);
    *orig = t.p;
    CHECK_MSG(!t.bad, "form %d: build failed: %s", form, t.e.msg);
    if (t.bad) return NULL;
    int n_fix = 0;
    CHECK_EQ_INT(findings(t.p, "H12", !half, &n_fix), 1);
    CHECK_EQ_INT(n_fix, 1);
    mk_program *q = fix_only(tc, t.p, "H12", !half);
    if (q) check_same(tc, t.p, q, half ? 2e-2 : 1e-5, 2e-2);
    return q;
}

static void check_h12(mk_test_ctx *tc, int form)
{
    mk_program *p16, *p32, *q16 = fixed_h12(tc, form, 1, &p16), *q32 = fixed_h12(tc, form, 0, &p32);
    mk_err e = {MK_OK, ""};
    if (q16 && q32 && form != SUM_SQUARE) {
        /* outliers: two |x| in 300..1000 per row among |x| < 20. Each outlier's square
         * overflows fp16; the row mean of squares (the result) stays below 65504. (A row sum
         * of squares holds max|x|^2 itself, so SUM_SQUARE has no such case.) */
        float xs[ROWS * COLS];
        for (int k = 0; k < ROWS * COLS; k++) xs[k] = (float)sin(0.37 * k + form) * 20.0f;
        for (int r = 0; r < ROWS; r++) {
            xs[r * COLS + 5] = 300.0f + 350.0f * (float)r;
            xs[r * COLS + 40] = -(float)(1000 - 200 * r);
        }
        mk_tensor_list a = {0, NULL}, b = {0, NULL}, c = {0, NULL};
        CHECK(run_x(p16, 1, xs, &a, &e) == MK_OK && run_x(q16, 1, xs, &b, &e) == MK_OK &&
              run_x(q32, 0, xs, &c, &e) == MK_OK);
        double wa = worst_h12(form, xs, &a), wb = worst_h12(form, xs, &b),
               wc = worst_h12(form, xs, &c);
        CHECK_MSG(wa > 0.1, "form %d: original did not overflow in fp16 (error %g)", form, wa);
        CHECK_MSG(wb <= 1e-2, "form %d: fixed fp16 error %g with outliers", form, wb);
        CHECK_MSG(wc <= 1e-5, "form %d: fixed fp32 error %g with outliers", form, wc);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
        mk_tensor_list_free(&c);
    }
    if (q16) CHECK_EQ_INT(mk_pass_fix_sum_squares(q16, &e), 0); /* rescaled: left alone */
    mk_program_free(q16);
    mk_program_free(q32);
    mk_ir_program_free(p16);
    mk_ir_program_free(p32);
}

TEST(fix_h12_variance_moments_rescaled)
{
    check_h12(tc, VAR_MOMENTS);
}

TEST(fix_h12_variance_centred_pow_no_keep_dims)
{
    check_h12(tc, VAR_CENTRED);
}

TEST(fix_h12_reduce_sum_square_rescaled)
{
    check_h12(tc, SUM_SQUARE);
}

/* One sum of squares read by sqrt (the RMS chain) and by a sub: the chain keeps its own
 * rewrite and the other reader gets the general one. */
TEST(fix_h12_shared_sum_of_squares_both_forms)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_x(&t, 1, DIMS(ROWS, COLS));
    mk_value *s = tb_op(&t, MK_OP_SQUARE, "sq", "x", x, NULL);
    mk_value *m = tb_op(&t, MK_OP_REDUCE_MEAN, "ms", "x", s, "axes", tb_ints(&t, 1, 1), "keep_dims",
                        tb_bool(&t, 1), NULL);
    mk_value *r = tb_op(&t, MK_OP_SQRT, "rms", "x", m, NULL);
    tb_out(&t, tb_op(&t, MK_OP_SUB, "y", "x", m, "y", r, NULL));
    REQUIRE(!t.bad);
    int n_fix = 0;
    CHECK_EQ_INT(findings(t.p, "H12", 0, &n_fix), 1);
    CHECK_EQ_INT(n_fix, 1);
    mk_program *q = fix_only(tc, t.p, "H12", 0);
    if (q) {
        check_same(tc, t.p, q, 2e-2, 2e-2);
        int sqrt_ops = 0;
        MK_FOR_OPS(q->functions[0]->block, op) sqrt_ops += op->kind == MK_OP_SQRT;
        CHECK_EQ_INT(sqrt_ops, 1); /* the RMS chain's m * sqrt(s) */
        mk_program_free(q);
    }
    mk_ir_program_free(t.p);
}

TEST(fix_h12_near_miss_product_of_two_values)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_x(&t, 1, DIMS(ROWS, COLS));
    mk_value *n = tb_op(&t, MK_OP_ABS, "n", "x", x, NULL);
    mk_value *s = tb_op(&t, MK_OP_MUL, "xy", "x", x, "y", n, NULL);
    tb_out(&t, tb_op(&t, MK_OP_REDUCE_MEAN, "y", "x", s, "axes", tb_ints(&t, 1, 1), "keep_dims",
                     tb_bool(&t, 1), NULL));
    REQUIRE(!t.bad);
    int n_fix = 0;
    CHECK_EQ_INT(findings(t.p, "H12", 0, &n_fix), 0);
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_pass_fix_sum_squares(t.p, &e), 0);
    mk_ir_program_free(t.p);
}

/* ---- H35 ---- */

/* y = pad(x, pads, mode, constant_val 0) with x fp32 of the given shape. */
static void build_pad(tb *t, int rank, const int64_t *dims, int n, const int32_t *pads,
                      const char *mode)
{
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F32, rank, dims);
    mk_value *pv = t->bad ? NULL : tb_chk(t, mk_ir_const_i32(t->p, t->b, "c", n, pads, 0));
    tb_out(t, tb_op(t, MK_OP_PAD, "y", "x", x, "pad", pv, "mode", tb_str(t, mode), "constant_val",
                    tb_scalar(t, F32, 0), NULL));
}

static void check_pad(mk_test_ctx *tc, int rank, const int64_t *dims, int n, const int32_t *pads,
                      const char *mode, int n_pads_expected)
{
    tb t;
    build_pad(&t, rank, dims, n, pads, mode);
    REQUIRE(!t.bad);
    int n_fix = 0;
    CHECK_EQ_INT(findings(t.p, "H35", 0, &n_fix), 1);
    CHECK_EQ_INT(n_fix, 1);
    mk_program *q = fix_only(tc, t.p, "H35", 0);
    if (q) {
        check_same(tc, t.p, q, 1e-6, 1e-6); /* pads and transposes only move values */
        int n_pad = 0;
        MK_FOR_OPS(q->functions[0]->block, op) n_pad += op->kind == MK_OP_PAD;
        CHECK_EQ_INT(n_pad, n_pads_expected);
        mk_err e = {MK_OK, ""};
        CHECK_EQ_INT(mk_pass_fix_runtime_forms(q, &e), 0);
        mk_program_free(q);
    }
    mk_ir_program_free(t.p);
}

TEST(fix_h35_reflect_rank4_outer_and_inner_axes)
{
    /* axis 1 (outer) and axis 3: one transposed pad + one direct pad */
    check_pad(tc, DIMS(2, 5, 4, 6), 8, (const int32_t[]){0, 0, 2, 1, 0, 0, 1, 2}, "reflect", 2);
}

TEST(fix_h35_replicate_rank4_two_outer_axes)
{
    /* axes 0 and 1 in one transposed pad, axis 2 direct */
    check_pad(tc, DIMS(3, 2, 4, 5), 8, (const int32_t[]){1, 2, 0, 3, 2, 0, 0, 0}, "replicate", 2);
}

TEST(fix_h35_reflect_rank5_three_outer_axes)
{
    /* axes 0, 1, 2 (two transposed pads) and axis 4 */
    check_pad(tc, DIMS(3, 4, 3, 2, 5), 10, (const int32_t[]){1, 1, 0, 2, 2, 1, 0, 0, 1, 3},
              "reflect", 3);
}

TEST(fix_h35_replicate_rank5_trailing_pad_pairs)
{
    /* 4 pairs for the trailing 4 axes: axes 1 and 2 padded, the last two not */
    check_pad(tc, DIMS(2, 3, 2, 4, 3), 8, (const int32_t[]){2, 1, 0, 3, 0, 0, 0, 0}, "replicate",
              1);
}

TEST(fix_h35_near_misses)
{
    /* pad on the last two axes only: supported as is */
    tb t;
    build_pad(&t, DIMS(2, 3, 4, 5), 8, (const int32_t[]){0, 0, 0, 0, 1, 2, 3, 1}, "reflect");
    REQUIRE(!t.bad);
    int n_fix = 0;
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(findings(t.p, "H35", 0, &n_fix), 0);
    CHECK_EQ_INT(mk_pass_fix_runtime_forms(t.p, &e), 0);
    mk_ir_program_free(t.p);
    /* outer axis of unknown size (reflect amount not checkable): flagged, no fix, left alone */
    build_pad(&t, DIMS(2, -1, 4, 5), 8, (const int32_t[]){0, 0, 1, 0, 0, 0, 1, 1}, "reflect");
    REQUIRE(!t.bad);
    CHECK_EQ_INT(findings(t.p, "H35", 0, &n_fix), 1);
    CHECK_EQ_INT(n_fix, 0);
    CHECK_EQ_INT(mk_pass_fix_runtime_forms(t.p, &e), 0);
    mk_ir_program_free(t.p);
}
