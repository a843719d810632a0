/* The H12 RMSNorm / L2 chain rewrite of fix_sum_squares: each chain form (mul/square/pow,
 * reduce_mean/reduce_sum, with or without eps, sqrt/rsqrt) is flagged with a fix, fixed,
 * verified by mk_fix and in fp16-emulate, and no longer flagged; with |x| ~ 1000 the fixed
 * fp16 program matches an RMS computed here in double while the original overflows; a sum of
 * squares that feeds no root (a variance) gets the general rewrite (test_fix_h12h35.c). */
#include <math.h>
#include <stdlib.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_lint_cases.h"
#include "test_fix_util.h"

#define ROWS 2
#define COLS 16

/* Findings of rule H12: *n_fix of them offer a fix. */
static int h12_findings(const mk_program *p, int assume, int *n_fix)
{
    rule_hits h;
    int n = lint_hits(p, "H12", assume, NULL, &h);
    *n_fix = h.n_fix;
    return n;
}

static int rule_findings(const mk_program *p, const char *rule, int *n_fix)
{
    rule_hits h;
    int n = lint_hits(p, rule, 0, NULL, &h);
    *n_fix = h.n_fix;
    return n;
}

enum { RMS_RSQRT, L2_SQRT, POW_SQRT_EPS };

/* RMS_RSQRT: y = x * rsqrt(reduce_mean(mul(x, x), [-1], keep) + 1e-5)  (fp16 via cast);
 * L2_SQRT: y = sqrt(reduce_sum(square(x), [1]))  (fp16);
 * POW_SQRT_EPS: y = x / sqrt(reduce_mean(pow(x, 2), [1], keep) + 1e-6)  (fp32, assume fp16). */
static void build(tb *t, int form)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, form != POW_SQRT_EPS, DIMS(ROWS, COLS));
    mk_dtype dt = form == POW_SQRT_EPS ? F32 : F16;
    if (form == RMS_RSQRT) {
        mk_value *s = tb_op(t, MK_OP_MUL, "sq", "x", x, "y", x, NULL);
        mk_value *m = tb_op(t, MK_OP_REDUCE_MEAN, "ms", "x", s, "axes", tb_ints(t, 1, -1),
                            "keep_dims", tb_bool(t, 1), NULL);
        mk_value *a = tb_op(t, MK_OP_ADD, "ae", "x", m, "y", tb_scalar(t, dt, 1e-5), NULL);
        mk_value *r = tb_op(t, MK_OP_RSQRT, "inv", "x", a, NULL);
        tb_out(t, tb_op(t, MK_OP_MUL, "y", "x", x, "y", r, NULL));
    } else if (form == L2_SQRT) {
        mk_value *s = tb_op(t, MK_OP_SQUARE, "sq", "x", x, NULL);
        mk_value *m = tb_op(t, MK_OP_REDUCE_SUM, "ss", "x", s, "axes", tb_ints(t, 1, 1),
                            "keep_dims", tb_bool(t, 0), NULL);
        tb_out(t, tb_op(t, MK_OP_SQRT, "y", "x", m, NULL));
    } else {
        mk_value *s = tb_op(t, MK_OP_POW, "sq", "x", x, "y", tb_scalar(t, dt, 2.0), NULL);
        mk_value *m = tb_op(t, MK_OP_REDUCE_MEAN, "ms", "x", s, "axes", tb_ints(t, 1, 1),
                            "keep_dims", tb_bool(t, 1), NULL);
        mk_value *a = tb_op(t, MK_OP_ADD, "ae", "x", tb_scalar(t, dt, 1e-6), "y", m, NULL);
        mk_value *r = tb_op(t, MK_OP_SQRT, "rms", "x", a, NULL);
        tb_out(t, tb_op(t, MK_OP_REAL_DIV, "y", "x", x, "y", r, NULL));
    }
}

/* The expected output for row-major input xs, in double. */
static double expect(int form, const float *xs, int r, int c)
{
    double ss = 0;
    for (int j = 0; j < COLS; j++) ss += (double)xs[r * COLS + j] * xs[r * COLS + j];
    if (form == L2_SQRT) return sqrt(ss);
    if (form == RMS_RSQRT) return xs[r * COLS + c] / sqrt(ss / COLS + 1e-5);
    return xs[r * COLS + c] / sqrt(ss / COLS + 1e-6);
}

/* Worst relative error of out against expect(); INFINITY for inf/NaN. */
static double worst_rel(int form, const float *xs, const mk_tensor_list *out)
{
    if (out->n != 1) return INFINITY;
    const float *y = out->items[0].data;
    size_t n = out->items[0].nbytes / sizeof(float);
    double w = 0;
    for (size_t k = 0; k < n; k++) {
        int r = form == L2_SQRT ? (int)k : (int)(k / COLS), c = (int)(k % COLS);
        double ref = expect(form, xs, r, c), d = fabs(y[k] - ref) / fmax(fabs(ref), 1e-3);
        if (!isfinite(y[k]) || isnan(d)) return INFINITY;
        if (d > w) w = d;
    }
    return w;
}

/* Run p on input x = xs (ROWS x COLS fp32) with fp16 emulation. */
static mk_status run16(const mk_program *p, const float *xs, mk_tensor_list *out, mk_err *e)
{
    mk_tensor t = {"x", 11, 2, {ROWS, COLS}, (void *)xs, sizeof(float) * ROWS * COLS};
    mk_tensor_list in = {1, &t};
    mk_run_options ro = {1, 1, 3};
    return mk_run(p, &ro, &in, out, e);
}

static void check_form(mk_test_ctx *tc, int form)
{
    tb t;
    build(&t, form);
    REQUIRE(!t.bad);
    int assume = form == POW_SQRT_EPS, n_fix = 0;
    CHECK_EQ_INT(h12_findings(t.p, assume, &n_fix), 1);
    CHECK_EQ_INT(n_fix, 1);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = "H12";
    fo.assume_fp16 = assume;
    fo.seed = 11;
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_err e = {MK_OK, ""};
    mk_status st = mk_fix(t.p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "form %d: fix failed: %s", form, e.msg);
    if (st != MK_OK) {
        mk_ir_program_free(t.p);
        return;
    }
    CHECK_MSG(rep.n_rows > 0 && rep.rows[0].ops_changed == 1, "form %d: nothing changed", form);
    CHECK_MSG(rep.verified && rep.max_err <= 1e-2, "form %d: max error %g", form, rep.max_err);
    CHECK_EQ_INT(h12_findings(q, assume, &n_fix), 0);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "form %d: invalid: %s", form, e.msg);

    /* ordinary magnitudes: original and fixed agree in fp16-emulate */
    float xs[ROWS * COLS];
    for (int k = 0; k < ROWS * COLS; k++) xs[k] = (float)sin(0.7 * k + form) * 3.0f;
    mk_tensor_list a = {0, NULL}, b = {0, NULL};
    CHECK(run16(t.p, xs, &a, &e) == MK_OK && run16(q, xs, &b, &e) == MK_OK);
    double wa = worst_rel(form, xs, &a), wb = worst_rel(form, xs, &b);
    CHECK_MSG(wa <= 1e-2 && wb <= 1e-2, "form %d: fp16 small inputs: original %g fixed %g", form,
              wa, wb);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);

    /* |x| ~ 1000: x^2 ~ 1e6 overflows fp16; only the fixed program stays right */
    for (int k = 0; k < ROWS * COLS; k++) xs[k] = (float)sin(0.3 * k + 1) * 1000.0f;
    CHECK(run16(t.p, xs, &a, &e) == MK_OK && run16(q, xs, &b, &e) == MK_OK);
    wa = worst_rel(form, xs, &a);
    wb = worst_rel(form, xs, &b);
    CHECK_MSG(wa > 0.1, "form %d: original did not overflow in fp16 (error %g)", form, wa);
    CHECK_MSG(wb <= 1e-2, "form %d: fixed fp16 error %g with |x| ~ 1000", form, wb);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);

    /* the rewritten form is left alone */
    CHECK_EQ_INT(mk_pass_fix_sum_squares(q, &e), 0);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_h12_rmsnorm_mul_mean_eps_rsqrt)
{
    check_form(tc, RMS_RSQRT);
}

TEST(fix_h12_l2_square_sum_sqrt)
{
    check_form(tc, L2_SQRT);
}

TEST(fix_h12_pow_mean_eps_sqrt_fp32_assumed_fp16)
{
    check_form(tc, POW_SQRT_EPS);
}

TEST(fix_h12_sum_of_squares_without_root_gets_general_fix)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_x(&t, 1, DIMS(ROWS, COLS));
    mk_value *s = tb_op(&t, MK_OP_MUL, "sq", "x", x, "y", x, NULL);
    mk_value *m = tb_op(&t, MK_OP_REDUCE_MEAN, "ms", "x", s, "axes", tb_ints(&t, 1, -1),
                        "keep_dims", tb_bool(&t, 1), NULL);
    tb_out(&t, tb_op(&t, MK_OP_EXP, "y", "x", m, NULL));
    REQUIRE(!t.bad);
    int n_fix = 0;
    CHECK_EQ_INT(h12_findings(t.p, 0, &n_fix), 1);
    CHECK_EQ_INT(n_fix, 1); /* the general rewrite (tests in test_fix_h12h35.c) */
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_pass_fix_sum_squares(t.p, &e), 1);
    mk_ir_program_free(t.p);
}

TEST(fix_h12_near_miss_sqrt_of_plain_mean_not_flagged)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_x(&t, 1, DIMS(ROWS, COLS));
    mk_value *m = tb_op(&t, MK_OP_REDUCE_MEAN, "ms", "x", tb_op(&t, MK_OP_ABS, "ab", "x", x, NULL),
                        "axes", tb_ints(&t, 1, -1), "keep_dims", tb_bool(&t, 1), NULL);
    tb_out(&t, tb_op(&t, MK_OP_SQRT, "y", "x", m, NULL));
    REQUIRE(!t.bad);
    int n_fix = 0;
    CHECK_EQ_INT(h12_findings(t.p, 0, &n_fix), 0);
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_pass_fix_sum_squares(t.p, &e), 0);
    mk_ir_program_free(t.p);
}

/* ---- H11: log(cumsum(exp(x))) (logcumsumexp) ---- */

#define LC 8

/* y = log(cumsum(exp(x16), axis 1, reverse)) [with log epsilon eps when eps >= 0]; with
 * use_exp 0 the exp is left out (near miss). */
static void build_lcse(tb *t, int reverse, double eps, int use_exp)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 1, DIMS(ROWS, LC));
    mk_value *ex = use_exp ? tb_op(t, MK_OP_EXP, "ex", "x", x, NULL) : x;
    mk_value *cs = tb_op(t, MK_OP_CUMSUM, "cs", "x", ex, "axis", tb_int(t, 1), "exclusive",
                         tb_bool(t, 0), "reverse", tb_bool(t, reverse), NULL);
    if (eps >= 0)
        tb_out(t, tb_op(t, MK_OP_LOG, "y", "x", cs, "epsilon", tb_scalar(t, F16, eps), NULL));
    else
        tb_out(t, tb_op(t, MK_OP_LOG, "y", "x", cs, NULL));
}

/* Worst |y - logcumsumexp(x)| over a ROWS x LC output, in double; INFINITY for inf/NaN. */
static double lcse_err(const float *xs, const mk_tensor_list *out, int reverse)
{
    if (out->n != 1 || out->items[0].nbytes != sizeof(float) * ROWS * LC) return INFINITY;
    const float *y = out->items[0].data;
    double w = 0;
    for (int r = 0; r < ROWS; r++)
        for (int j = 0; j < LC; j++) {
            double s = 0;
            for (int i = reverse ? j : 0; i < (reverse ? LC : j + 1); i++)
                s += exp((double)xs[r * LC + i]);
            double d = fabs(y[r * LC + j] - log(s));
            if (!isfinite(y[r * LC + j]) || isnan(d)) return INFINITY;
            if (d > w) w = d;
        }
    return w;
}

static mk_status run16_lc(const mk_program *p, const float *xs, mk_tensor_list *out, mk_err *e)
{
    mk_tensor t = {"x", 11, 2, {ROWS, LC}, (void *)xs, sizeof(float) * ROWS * LC};
    mk_tensor_list in = {1, &t};
    mk_run_options ro = {1, 1, 3};
    return mk_run(p, &ro, &in, out, e);
}

static void check_lcse(mk_test_ctx *tc, int reverse, double eps)
{
    tb t;
    build_lcse(&t, reverse, eps, 1);
    REQUIRE(!t.bad);
    int n_fix = 0;
    CHECK_EQ_INT(rule_findings(t.p, "H11", &n_fix), 1);
    CHECK_EQ_INT(n_fix, 1);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = "H11";
    fo.seed = 5;
    fo.atol = fo.rtol = 1e-2; /* an fp16 program: both forms round every op to half */
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_err e = {MK_OK, ""};
    mk_status st = mk_fix(t.p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "fix failed: %s", e.msg);
    if (st != MK_OK) {
        mk_ir_program_free(t.p);
        return;
    }
    CHECK(rep.n_rows > 0 && rep.rows[0].ops_changed == 1);
    CHECK_MSG(rep.verified && rep.max_err <= 1e-2, "max error %g", rep.max_err);
    CHECK_EQ_INT(rule_findings(q, "H11", &n_fix), 0);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "invalid: %s", e.msg);

    float xs[ROWS * LC];
    mk_tensor_list a = {0, NULL}, b = {0, NULL};
    /* small x: both agree with the reference in fp16-emulate */
    for (int k = 0; k < ROWS * LC; k++) xs[k] = (float)sin(0.9 * k) * 2.0f;
    CHECK(run16_lc(t.p, xs, &a, &e) == MK_OK && run16_lc(q, xs, &b, &e) == MK_OK);
    double ea = lcse_err(xs, &a, reverse), eb = lcse_err(xs, &b, reverse);
    CHECK_MSG(ea <= 2e-2 && eb <= 2e-2, "small x: original %g fixed %g", ea, eb);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    /* x in [12, 20]: exp overflows fp16 in the original only */
    for (int k = 0; k < ROWS * LC; k++) xs[k] = 16.0f + (float)sin(0.9 * k) * 4.0f;
    CHECK(run16_lc(t.p, xs, &a, &e) == MK_OK && run16_lc(q, xs, &b, &e) == MK_OK);
    ea = lcse_err(xs, &a, reverse);
    eb = lcse_err(xs, &b, reverse);
    CHECK_MSG(ea > 1.0, "original did not overflow in fp16 (error %g)", ea);
    CHECK_MSG(eb <= 5e-2, "fixed fp16 error %g with x ~ 16", eb);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    CHECK_EQ_INT(mk_pass_fix_log_softmax(q, &e), 0);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_h11_logcumsumexp_forward)
{
    check_lcse(tc, 0, 0);
}

TEST(fix_h11_logcumsumexp_reverse_default_eps)
{
    check_lcse(tc, 1, -1);
}

TEST(fix_h11_logcumsumexp_near_misses)
{
    /* log(cumsum(x)) without exp: not flagged, untouched */
    tb t;
    build_lcse(&t, 0, 0, 0);
    REQUIRE(!t.bad);
    int n_fix = 0;
    CHECK_EQ_INT(rule_findings(t.p, "H11", &n_fix), 0);
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_pass_fix_log_softmax(t.p, &e), 0);
    mk_ir_program_free(t.p);
    /* a real log epsilon does not commute with the shift: flagged, no fix, untouched */
    build_lcse(&t, 0, 1e-3, 1);
    REQUIRE(!t.bad);
    CHECK_EQ_INT(rule_findings(t.p, "H11", &n_fix), 1);
    CHECK_EQ_INT(n_fix, 0);
    CHECK_EQ_INT(mk_pass_fix_log_softmax(t.p, &e), 0);
    mk_ir_program_free(t.p);
}
