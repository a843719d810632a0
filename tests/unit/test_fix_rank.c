/* H21 (rank > 5) and H20 (axes beyond the Neural Engine range) rewrites: each trigger is
 * flagged, rewritten by its pass, gives the same outputs in the interpreter (fp32 and
 * fp16-emulate, on seeded random inputs) and is no longer flagged; near misses (model
 * outputs, permutations that do not collapse, unsupported readers) are left alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_lint_build.h"
#include "test_fix_util.h"

#define F32 MK_DT_FP32

/* Op-level findings of a rule (program-level ones, such as a long model input, excluded). */
static int op_findings(const mk_program *p, const char *rule, int *fixable)
{
    rule_hits h;
    if (lint_hits(p, rule, 0, NULL, &h) < 0) return -1;
    if (fixable) *fixable = h.n_op_fix > 0;
    return h.n_op;
}

/* Whether the rule's finding on op `name` offers a fix: 1 / 0, -1 when not flagged. */
static int fix_offered(const mk_program *p, const char *rule, const char *name)
{
    rule_hits h;
    return lint_hits(p, rule, 0, name, &h) > 0 ? h.fix[0] != 0 : -1;
}

/* Original vs rewritten on the same seeded inputs; fp16-emulate when half. */
static double compare_runs(const mk_program *a, const mk_program *b, int half, double atol,
                           double rtol, char *msg, size_t mn)
{
    mk_tensor_list in = {0, NULL}, ra = {0, NULL}, rb = {0, NULL};
    mk_run_options ro = {half, 1, 11};
    mk_err e = {MK_OK, ""};
    double x = INFINITY;
    if (mk_random_inputs(a, 11, &in, &e) == MK_OK && mk_run(a, &ro, &in, &ra, &e) == MK_OK &&
        mk_run(b, &ro, &in, &rb, &e) == MK_OK)
        x = excess(&rb, &ra, atol, rtol);
    else
        snprintf(msg, mn, "%s", e.msg);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&ra);
    mk_tensor_list_free(&rb);
    return x;
}

typedef void (*build_fn)(tb *t, int variant);

/* Trigger: flagged with a fix offered; the pass rewrites it; same outputs (fp32 within
 * atol/rtol, fp16-emulate within half precision); no longer flagged; mk_fix agrees. */
static void check_fixed(mk_test_ctx *tc, const char *what, build_fn build, int variant,
                        const char *rule, mk_pass_fn pass, double atol, double rtol)
{
    tb t;
    build(&t, variant);
    CHECK_MSG(!t.bad, "%s: build failed: %s", what, t.e.msg);
    if (t.bad) {
        mk_ir_program_free(t.p);
        return;
    }
    int fixable = 0;
    CHECK_MSG(op_findings(t.p, rule, &fixable) > 0, "%s: %s not flagged", what, rule);
    CHECK_MSG(fixable, "%s: no fix offered", what);
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_clone(t.p, &q, &e) == MK_OK);
    int n = pass(q, &e);
    CHECK_MSG(n > 0, "%s: pass changed nothing (%d: %s)", what, n, e.msg);
    CHECK(mk_pass_dce(q, &e) >= 0);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "%s: rewritten program invalid: %s", what, e.msg);
    CHECK_MSG(op_findings(q, rule, NULL) == 0, "%s: still flagged after the pass", what);
    char msg[256] = "";
    double x = compare_runs(t.p, q, 0, atol, rtol, msg, sizeof msg);
    CHECK_MSG(x <= 0, "%s: fp32 outputs differ (excess %g) %s", what, x, msg);
    x = compare_runs(t.p, q, 1, 2e-2, 2e-2, msg, sizeof msg);
    CHECK_MSG(x <= 0, "%s: fp16-emulate outputs differ (excess %g) %s", what, x, msg);
    mk_program_free(q);
    /* the verified fixer picks the pass from the finding and checks it too */
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = rule;
    fo.seed = 5;
    mk_fix_report rep;
    q = NULL;
    mk_status st = mk_fix(t.p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "%s: mk_fix failed: %s", what, e.msg);
    if (st == MK_OK) {
        CHECK_MSG(rep.n_rows == 1 && rep.rows[0].ops_changed > 0 && rep.verified,
                  "%s: mk_fix report rows %d", what, rep.n_rows);
        CHECK_MSG(op_findings(q, rule, NULL) == 0, "%s: flagged after mk_fix", what);
        mk_program_free(q);
    }
    mk_ir_program_free(t.p);
}

/* Near miss: still flagged (or not at all), and the pass leaves the program alone. */
static void check_left(mk_test_ctx *tc, const char *what, build_fn build, int variant,
                       const char *rule, mk_pass_fn pass, int flagged)
{
    tb t;
    build(&t, variant);
    CHECK_MSG(!t.bad, "%s: build failed: %s", what, t.e.msg);
    if (t.bad) {
        mk_ir_program_free(t.p);
        return;
    }
    int before = op_findings(t.p, rule, NULL);
    CHECK_MSG(flagged ? before > 0 : before == 0, "%s: %d findings", what, before);
    mk_err e = {MK_OK, ""};
    CHECK_MSG(pass(t.p, &e) == 0, "%s: pass rewrote a near miss", what);
    CHECK_EQ_INT(op_findings(t.p, rule, NULL), before);
    mk_ir_program_free(t.p);
}

/* ---- H21 programs ---- */

/* Pixel shuffle (depth to space, r = 2): [n, 4c, h, w] -> [n, c, 2, 2, h, w] -> transpose
 * (0, 1, 4, 2, 5, 3) -> [n, c, h*2, w*2]. variant: batch n (1 or 2). */
static void b_pixel_shuffle(tb *t, int n)
{
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F32, DIMS(n, 12, 4, 5));
    mk_value *r =
        tb_op(t, MK_OP_RESHAPE, "r6", "x", x, "shape", tb_ints(t, 6, n, 3, 2, 2, 4, 5), NULL);
    mk_value *p =
        tb_op(t, MK_OP_TRANSPOSE, "t6", "x", r, "perm", tb_ints(t, 6, 0, 1, 4, 2, 5, 3), NULL);
    tb_out(t, tb_op(t, MK_OP_RESHAPE, "y", "x", p, "shape", tb_ints(t, 4, n, 3, 8, 10), NULL));
}

/* Window partition (Swin): [1, 8, 12, 3] -> [1, 2, 4, 3, 4, 3] -> (0, 1, 3, 2, 4, 5) ->
 * [6, 4, 4, 3]; a relu and a rank-6 one-element scale ride along, and two readers. */
static void b_window(tb *t, int v)
{
    (void)v;
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F32, DIMS(1, 8, 12, 3));
    mk_value *r =
        tb_op(t, MK_OP_RESHAPE, "r6", "x", x, "shape", tb_ints(t, 6, 1, 2, 4, 3, 4, 3), NULL);
    mk_value *a = tb_op(t, MK_OP_RELU, "a6", "x", r, NULL);
    mk_value *p =
        tb_op(t, MK_OP_TRANSPOSE, "t6", "x", a, "perm", tb_ints(t, 6, 0, 1, 3, 2, 4, 5), NULL);
    mk_value *s = tb_const(t, "s6", F32, DIMS(1, 1, 1, 1, 1, 1), 0.5, 0);
    mk_value *m = tb_op(t, MK_OP_MUL, "m6", "x", p, "y", s, NULL);
    tb_out(t, tb_op(t, MK_OP_RESHAPE, "y", "x", m, "shape", tb_ints(t, 4, 6, 4, 4, 3), NULL));
    tb_out(t, tb_op(t, MK_OP_RESHAPE, "z", "x", m, "shape", tb_ints(t, 3, 6, 16, 3), NULL));
}

/* Pointwise ops between reshapes (no transpose): the chain runs on x's own shape. */
static void b_pointwise6(tb *t, int v)
{
    (void)v;
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F32, DIMS(2, 6, 10));
    mk_value *r =
        tb_op(t, MK_OP_RESHAPE, "r6", "x", x, "shape", tb_ints(t, 6, 2, 1, 3, 2, 2, 5), NULL);
    mk_value *a = tb_op(t, MK_OP_SIGMOID, "a6", "x", r, NULL);
    mk_value *c = tb_op(t, MK_OP_ADD, "c6", "x", a, "y", tb_scalar(t, F32, 1.5), NULL);
    tb_out(t, tb_op(t, MK_OP_RESHAPE, "y", "x", c, "shape", tb_ints(t, 2, 12, 10), NULL));
}

/* Near misses: 0 the rank-6 value is the model output; 1 a full reversal of six non-unit
 * axes (nothing merges); 2 a rank-6 value read by a reduction. */
static void b_rank_miss(tb *t, int v)
{
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F32, DIMS(2, 4, 8));
    mk_value *r =
        tb_op(t, MK_OP_RESHAPE, "r6", "x", x, "shape", tb_ints(t, 6, 2, 2, 2, 2, 2, 2), NULL);
    if (v == 0) {
        tb_out(t, tb_op(t, MK_OP_RELU, "y", "x", r, NULL));
        return;
    }
    mk_value *p = v == 1 ? tb_op(t, MK_OP_TRANSPOSE, "t6", "x", r, "perm",
                                 tb_ints(t, 6, 5, 4, 3, 2, 1, 0), NULL)
                         : tb_op(t, MK_OP_REDUCE_SUM, "s6", "x", r, "axes", tb_ints(t, 1, 2),
                                 "keep_dims", tb_bool(t, 1), NULL);
    tb_out(t, tb_op(t, MK_OP_RESHAPE, "y", "x", p, "shape", tb_ints(t, 1, v == 1 ? 64 : 32), NULL));
}

/* The legal rank-5 form: never flagged, nothing to do. */
static void b_rank5(tb *t, int v)
{
    (void)v;
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F32, DIMS(2, 4, 8));
    mk_value *r =
        tb_op(t, MK_OP_RESHAPE, "r5", "x", x, "shape", tb_ints(t, 5, 2, 2, 2, 4, 2), NULL);
    mk_value *p =
        tb_op(t, MK_OP_TRANSPOSE, "t5", "x", r, "perm", tb_ints(t, 5, 4, 3, 2, 1, 0), NULL);
    tb_out(t, tb_op(t, MK_OP_RESHAPE, "y", "x", p, "shape", tb_ints(t, 1, 64), NULL));
}

TEST(fix_h21_pixel_shuffle)
{
    check_fixed(tc, "pixel shuffle n=1", b_pixel_shuffle, 1, "H21", mk_pass_fix_rank, 0, 0);
    check_fixed(tc, "pixel shuffle n=2", b_pixel_shuffle, 2, "H21", mk_pass_fix_rank, 0, 0);
}

TEST(fix_h21_window_partition_collapses_to_rank4)
{
    check_fixed(tc, "window partition", b_window, 0, "H21", mk_pass_fix_rank, 0, 0);
    tb t;
    b_window(&t, 0);
    REQUIRE(!t.bad);
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_pass_fix_rank(t.p, &e), 1);
    CHECK(mk_pass_dce(t.p, &e) >= 0);
    int maxr = 0, transposes = 0;
    MK_FOR_OPS(t.b, op)
    {
        for (int i = 0; i < op->n_outputs; i++)
            if (op->outputs[i]->type.rank > maxr) maxr = op->outputs[i]->type.rank;
        transposes += op->kind == MK_OP_TRANSPOSE;
    }
    CHECK_EQ_INT(maxr, 4); /* nH, nW, ws, ws*C after merging */
    CHECK_EQ_INT(transposes, 1);
    mk_ir_program_free(t.p);
}

TEST(fix_h21_pointwise_between_reshapes)
{
    check_fixed(tc, "pointwise rank 6", b_pointwise6, 0, "H21", mk_pass_fix_rank, 0, 0);
}

TEST(fix_h21_near_misses)
{
    check_left(tc, "rank-6 model output", b_rank_miss, 0, "H21", mk_pass_fix_rank, 1);
    check_left(tc, "six-axis reversal", b_rank_miss, 1, "H21", mk_pass_fix_rank, 1);
    check_left(tc, "rank-6 reduction", b_rank_miss, 2, "H21", mk_pass_fix_rank, 1);
    check_left(tc, "rank 5", b_rank5, 0, "H21", mk_pass_fix_rank, 0);
    /* the model-output case says why there is no fix; the reshape feeding it is no chain
     * fix_rank collapses either (no fix offered: it used to be, and the pass left it) */
    tb t;
    b_rank_miss(&t, 0);
    REQUIRE(!t.bad);
    CHECK_EQ_INT(fix_offered(t.p, "H21", "y"), 0);
    CHECK_EQ_INT(fix_offered(t.p, "H21", "r6"), 0);
    mk_ir_program_free(t.p);
}

/* ---- H20 programs ---- */

/* A constant with pseudo-random values in [-1, 1) (fixed LCG: the test is deterministic). */
static mk_value *rand_const(tb *t, const char *name, int rank, const int64_t *d, unsigned seed)
{
    if (t->bad) return NULL;
    mk_type ty = mk_type_make(F32, rank, d);
    size_t n = 0;
    if (!mk_type_numel(&ty, &n)) return tb_chk(t, NULL);
    float *buf = mk_arena_alloc(t->p->arena, n * sizeof *buf);
    if (!buf) return tb_chk(t, NULL);
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        buf[i] = (float)((s >> 8) / 8388608.0 - 1.0);
    }
    return tb_chk(t, mk_ir_const(t->p, t->b, name, &ty, buf, n * sizeof *buf, 1));
}

#define VOCAB 40000 /* three chunks of <= 16384 */

/* A vocabulary projection [1, 3, 8] -> [1, 3, VOCAB]. variant 0: linear + bias -> softmax ->
 * reduce_max and argmax; 1: linear -> scale -> reduce_sum, reduce_mean (keep_dims);
 * 2: matmul with a [8, VOCAB] constant -> reduce_min and argmin (keep_dims). */
static void b_vocab(tb *t, int v)
{
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F32, DIMS(1, 3, 8));
    mk_value *y;
    if (v < 2) {
        mk_value *w = rand_const(t, "w", DIMS(VOCAB, 8), 1);
        mk_value *b = rand_const(t, "b", DIMS(VOCAB), 2);
        y = v == 0 ? tb_op(t, MK_OP_LINEAR, "logits", "x", x, "weight", w, "bias", b, NULL)
                   : tb_op(t, MK_OP_LINEAR, "logits", "x", x, "weight", w, NULL);
    } else {
        mk_value *w = rand_const(t, "w", DIMS(8, VOCAB), 3);
        y = tb_op(t, MK_OP_MATMUL, "logits", "x", x, "y", w, NULL);
    }
    if (v == 0) {
        mk_value *s = tb_op(t, MK_OP_SOFTMAX, "probs", "x", y, "axis", tb_int(t, -1), NULL);
        tb_out(t, tb_op(t, MK_OP_REDUCE_MAX, "conf", "x", s, "axes", tb_ints(t, 1, -1), NULL));
        tb_out(t, tb_op(t, MK_OP_REDUCE_ARGMAX, "token", "x", s, "axis", tb_int(t, 2), NULL));
    } else if (v == 1) {
        mk_value *s = tb_op(t, MK_OP_MUL, "scaled", "x", y, "y", tb_scalar(t, F32, 0.25), NULL);
        mk_value *a = tb_op(t, MK_OP_TANH, "act", "x", s, NULL);
        tb_out(t, tb_op(t, MK_OP_REDUCE_SUM, "total", "x", a, "axes", tb_ints(t, 1, 2), NULL));
        tb_out(t, tb_op(t, MK_OP_REDUCE_MEAN, "mean", "x", a, "axes", tb_ints(t, 1, -1),
                        "keep_dims", tb_bool(t, 1), NULL));
    } else {
        tb_out(t, tb_op(t, MK_OP_REDUCE_MIN, "low", "x", y, "axes", tb_ints(t, 1, -1), NULL));
        tb_out(t, tb_op(t, MK_OP_REDUCE_ARGMIN, "lowest", "x", y, "axis", tb_int(t, -1),
                        "keep_dims", tb_bool(t, 1), NULL));
    }
}

/* Long pointwise chains. variant 0: [1, 200, 200] -> reshape [1, 40000] -> sigmoid -> exp
 * -> reduce_mean axis 1 and reshape [1, 40, 1000]; 1: a [2, 36000] input -> relu -> square
 * -> reduce_max over axes (0, 1) keep_dims. */
static void b_long_chain(tb *t, int v)
{
    tb_init(t, 8);
    if (v == 0) {
        mk_value *x = tb_in(t, "x", F32, DIMS(1, 200, 200));
        mk_value *r =
            tb_op(t, MK_OP_RESHAPE, "flat", "x", x, "shape", tb_ints(t, 2, 1, 40000), NULL);
        mk_value *a = tb_op(t, MK_OP_SIGMOID, "a", "x", r, NULL);
        mk_value *e = tb_op(t, MK_OP_EXP, "e", "x", a, NULL);
        tb_out(t, tb_op(t, MK_OP_REDUCE_MEAN, "s", "x", e, "axes", tb_ints(t, 1, 1), NULL));
        tb_out(t, tb_op(t, MK_OP_RESHAPE, "y", "x", e, "shape", tb_ints(t, 3, 1, 40, 1000), NULL));
    } else {
        mk_value *x = tb_in(t, "x", F32, DIMS(2, 36000));
        mk_value *a = tb_op(t, MK_OP_RELU, "a", "x", x, NULL);
        mk_value *q = tb_op(t, MK_OP_SQUARE, "q", "x", a, NULL);
        tb_out(t, tb_op(t, MK_OP_REDUCE_MAX, "m", "x", q, "axes", tb_ints(t, 2, 0, 1), "keep_dims",
                        tb_bool(t, 1), NULL));
    }
}

/* Near misses: 0 a long model output (relu of a long reshape); 1 linear whose long output is
 * the model output; 2 a long axis with no divisor in range (40009 is prime); 3 a chain read
 * by a concat; 4 16000 wide (in range: never flagged). */
static void b_long_miss(tb *t, int v)
{
    tb_init(t, 8);
    if (v == 1) {
        mk_value *x = tb_in(t, "x", F32, DIMS(1, 8));
        mk_value *w = rand_const(t, "w", DIMS(VOCAB, 8), 4);
        tb_out(t, tb_op(t, MK_OP_LINEAR, "logits", "x", x, "weight", w, NULL));
        return;
    }
    int64_t L = v == 2 ? 40009 : v == 4 ? 16000 : 40000;
    mk_value *x = tb_in(t, "x", F32, DIMS(1, L));
    mk_value *a = tb_op(t, MK_OP_RELU, "a", "x", x, NULL);
    if (v == 0) {
        tb_out(t, a);
        return;
    }
    mk_value *e = tb_op(t, MK_OP_EXP, "e", "x", a, NULL);
    if (v == 3) {
        mk_value *c = tb_op(t, MK_OP_CONCAT, "c", "values", e, "values", e, "axis", tb_int(t, 0),
                            "interleave", tb_bool(t, 0), NULL);
        tb_out(t, tb_op(t, MK_OP_REDUCE_SUM, "s", "x", c, "axes", tb_ints(t, 1, 1), NULL));
        return;
    }
    tb_out(t, tb_op(t, MK_OP_REDUCE_SUM, "s", "x", e, "axes", tb_ints(t, 1, 1), NULL));
}

TEST(fix_h20_vocab_split_softmax_argmax)
{
    check_fixed(tc, "linear+softmax", b_vocab, 0, "H20", mk_pass_fix_long_axis, 1e-6, 1e-4);
}

TEST(fix_h20_vocab_split_sum_mean)
{
    check_fixed(tc, "linear+tanh sums", b_vocab, 1, "H20", mk_pass_fix_long_axis, 1e-4, 1e-4);
}

TEST(fix_h20_matmul_split_min_argmin)
{
    check_fixed(tc, "matmul min", b_vocab, 2, "H20", mk_pass_fix_long_axis, 1e-5, 1e-5);
    tb t;
    b_vocab(&t, 2);
    REQUIRE(!t.bad);
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_pass_fix_long_axis(t.p, &e), 1);
    int chunks = 0;
    MK_FOR_OPS(t.b, op)
    {
        if (op->kind != MK_OP_MATMUL) continue;
        chunks++;
        CHECK(op->outputs[0]->type.dims[2] <= 16384);
    }
    CHECK_EQ_INT(chunks, 3);
    mk_ir_program_free(t.p);
}

TEST(fix_h20_long_pointwise_chain)
{
    check_fixed(tc, "reshape chain", b_long_chain, 0, "H20", mk_pass_fix_long_axis, 1e-6, 1e-5);
    check_fixed(tc, "input chain", b_long_chain, 1, "H20", mk_pass_fix_long_axis, 0, 0);
}

TEST(fix_h20_near_misses)
{
    check_left(tc, "long model output", b_long_miss, 0, "H20", mk_pass_fix_long_axis, 1);
    check_left(tc, "long linear output", b_long_miss, 1, "H20", mk_pass_fix_long_axis, 1);
    check_left(tc, "prime length", b_long_miss, 2, "H20", mk_pass_fix_long_axis, 1);
    check_left(tc, "concat reader", b_long_miss, 3, "H20", mk_pass_fix_long_axis, 1);
    check_left(tc, "in range", b_long_miss, 4, "H20", mk_pass_fix_long_axis, 0);
    for (int v = 0; v < 2; v++) {
        tb t;
        b_long_miss(&t, v);
        REQUIRE(!t.bad);
        CHECK_MSG(fix_offered(t.p, "H20", v ? "logits" : "a") == 0,
                  "variant %d: a model output offered a fix", v);
        mk_ir_program_free(t.p);
    }
}
