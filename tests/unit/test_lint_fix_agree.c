/* Lint rules and their fix passes share one trigger (src/ir): on borderline cases of each pair
 * the rule offers its fix exactly when the pass rewrites the op. */
#include <stdlib.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_fix_util.h"
#include "test_lint_build.h"

/* Seeded inputs for t's function: floats in [0.25, 2.25) (pow, sqrt stay real), small ints
 * (int32 in [-3, 3], int16 in [0, 4]). */
static void inputs_for(const tb *t, mk_tensor_list *l)
{
    unsigned s = 5;
    l->n = t->f->n_inputs;
    l->items = calloc((size_t)l->n + 1, sizeof *l->items);
    for (int i = 0; i < l->n; i++) {
        const mk_value *v = t->f->inputs[i];
        mk_tensor *x = &l->items[i];
        size_t n = 1;
        mk_type_numel(&v->type, &n);
        x->name = mk_strdup_default(v->name);
        x->dtype = v->type.dtype;
        x->rank = v->type.rank;
        for (int d = 0; d < x->rank; d++) x->dims[d] = v->type.dims[d];
        x->nbytes = n * (v->type.dtype == MK_DT_INT16 ? 2 : 4);
        x->data = malloc(x->nbytes);
        for (size_t k = 0; k < n; k++) {
            s = s * 1103515245u + 12345u;
            if (v->type.dtype == MK_DT_INT32)
                ((int32_t *)x->data)[k] = (int32_t)((s >> 16) % 7) - 3;
            else if (v->type.dtype == MK_DT_INT16)
                ((int16_t *)x->data)[k] = (int16_t)((s >> 16) % 5);
            else
                ((float *)x->data)[k] = 0.25f + (float)((s >> 8) & 0xffff) / 32768.0f;
        }
    }
}

/* One op `name` in t: lint's findings of `rule` on it (expected: `fires`) and whether they offer
 * the fix must match whether `pass` changes the program; a rewritten program computes what the
 * original did on seeded inputs (orig_runs 1; 0: only the rewritten one runs, as the
 * interpreter refuses the original like Core ML; -1: too large to run). */
static void agree_ex(mk_test_ctx *tc, tb *t, const char *rule, const char *pass, const char *name,
                     int fires, const char *label, int orig_runs)
{
    CHECK_MSG(!t->bad, "%s: build failed: %s", label, t->e.msg);
    if (t->bad) {
        mk_ir_program_free(t->p);
        return;
    }
    rule_hits h;
    CHECK_MSG(lint_hits(t->p, rule, 1, name, &h) == fires, "%s: %s fired %d times, expected %d",
              label, rule, h.n, fires);
    const mk_pass_info *pi = mk_pass_find(pass);
    mk_err e = {0};
    mk_tensor_list in = {0, NULL}, before = {0, NULL}, after = {0, NULL};
    mk_run_options ro = {0};
    ro.threads = 1;
    if (orig_runs >= 0) inputs_for(t, &in);
    mk_status st0 = orig_runs < 0 ? MK_EINVAL : mk_run(t->p, &ro, &in, &before, &e);
    CHECK_MSG(orig_runs < 0 || (st0 == MK_OK) == orig_runs, "%s: run: %s", label, e.msg);
    int changed = pi ? pi->fn(t->p, &e) : -1;
    CHECK_MSG(changed >= 0, "%s: %s failed: %s", label, pass, e.msg);
    CHECK_MSG((h.n_op_fix > 0) == (changed > 0), "%s: lint offers the fix %d times, %s changed %d",
              label, h.n_op_fix, pass, changed);
    rule_hits left;
    CHECK_MSG(changed <= 0 || (lint_hits(t->p, rule, 1, NULL, &left) >= 0 && left.n_op_fix == 0),
              "%s: after %s, %s still offers its fix %d times", label, pass, rule, left.n_op_fix);
    CHECK_MSG(orig_runs < 0 || mk_run(t->p, &ro, &in, &after, &e) == MK_OK, "%s: run after: %s",
              label, e.msg);
    double ex = st0 == MK_OK ? excess(&after, &before, 1e-6, 1e-5) : 0;
    CHECK_MSG(ex <= 0, "%s: rewritten program differs by %g beyond tolerance", label, ex);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&before);
    mk_tensor_list_free(&after);
    mk_ir_program_free(t->p);
}

static void agree(mk_test_ctx *tc, tb *t, const char *rule, const char *pass, const char *name,
                  int fires, const char *label)
{
    agree_ex(tc, t, rule, pass, name, fires, label, 1);
}

/* pow with base x_val (shape xs) and exponent y_val (shape ys; NAN: a run-time input). */
static void pow_case(tb *t, double x_val, int xn, double y_val, int yn)
{
    tb_init(t, 6);
    mk_value *x = isnan(x_val) ? tb_in(t, "x", MK_DT_FP32, 1, (int64_t[]){xn})
                               : tb_const(t, "x", MK_DT_FP32, 1, (int64_t[]){xn}, x_val, 0);
    mk_value *y = isnan(y_val) ? tb_in(t, "y", MK_DT_FP32, 1, (int64_t[]){yn})
                               : tb_const(t, "y", MK_DT_FP32, 1, (int64_t[]){yn}, y_val, 0);
    tb_out(t, tb_op(t, MK_OP_POW, "p", "x", x, "y", y, NULL));
}

/* H7/H8: the rule used to match constants within 1e-6 while the fix wanted them exact, and
 * offered the fix when the rewrite would change the output's shape. */
TEST(lint_fix_agree_h7_h8_pow)
{
    tb t;
    const double near2 = 2.0000002384185791; /* the float after 2 */
    pow_case(&t, 2.0, 4, NAN, 4);
    agree(tc, &t, "H7", "fix_pow", "p", 1, "pow(2, y)");
    pow_case(&t, near2, 4, NAN, 4);
    agree(tc, &t, "H7", "fix_pow", "p", 0, "pow(2+ulp, y)");
    pow_case(&t, 2.0, 4, NAN, 1);
    agree(tc, &t, "H7", "fix_pow", "p", 1, "pow(2 [4], y [1])");
    pow_case(&t, NAN, 4, 3.0, 1);
    agree(tc, &t, "H8", "fix_pow", "p", 1, "pow(x, 3)");
    pow_case(&t, NAN, 4, near2, 1);
    agree(tc, &t, "H8", "fix_pow", "p", 0, "pow(x, 2+ulp)");
    pow_case(&t, NAN, 1, 0.5, 4);
    agree(tc, &t, "H8", "fix_pow", "p", 1, "pow(x [1], 0.5 [4])");
}

/* H36: sqrt of square(a), mul(a, a), pow(a, 2); pow's 2 exact and any count of 2s. */
TEST(lint_fix_agree_h36_sqrt_square)
{
    static const struct {
        mk_op_kind k;
        double two;
        int n2;
        int fires;
    } cs[] = {{MK_OP_SQUARE, 0, 0, 1},
              {MK_OP_MUL, 0, 0, 1},
              {MK_OP_POW, 2.0, 1, 1},
              {MK_OP_POW, 2.0, 3, 1},
              {MK_OP_POW, 2.0000002384185791, 1, 0}};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *a = tb_in(&t, "a", MK_DT_FP32, 1, (int64_t[]){3}), *sq;
        if (cs[i].k == MK_OP_SQUARE)
            sq = tb_op(&t, MK_OP_SQUARE, "sq", "x", a, NULL);
        else if (cs[i].k == MK_OP_MUL)
            sq = tb_op(&t, MK_OP_MUL, "sq", "x", a, "y", a, NULL);
        else
            sq = tb_op(&t, MK_OP_POW, "sq", "x", a, "y",
                       tb_const(&t, "two", MK_DT_FP32, 1, (int64_t[]){cs[i].n2}, cs[i].two, 0),
                       NULL);
        tb_out(&t, tb_op(&t, MK_OP_SQRT, "r", "x", sq, NULL));
        char label[64];
        snprintf(label, sizeof label, "case %zu", i);
        agree(tc, &t, "H36", "fix_sqrt_square", "r", cs[i].fires, label);
    }
}

/* H33: the rule offered the fix for any static channel count > 1; the pass also needs at most
 * 2^20 channels and a float slope. */
TEST(lint_fix_agree_h33_prelu)
{
    static const int64_t chans[] = {1, 3, MK_IR_PRELU_MAX_C, MK_IR_PRELU_MAX_C + 1};
    for (size_t i = 0; i < sizeof chans / sizeof *chans; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 3, (int64_t[]){1, chans[i], 1});
        tb_out(&t, tb_op(&t, MK_OP_PRELU, "pr", "x", x, "alpha", tb_scalar(&t, MK_DT_FP32, 0.25),
                         NULL));
        char label[64];
        snprintf(label, sizeof label, "%lld channels", (long long)chans[i]);
        agree(tc, &t, "H33", "fix_prelu_slope", "pr", 1, label);
    }
}

/* H37: integer linear, and a float one that neither touches. */
TEST(lint_fix_agree_h37_int_linear)
{
    static const mk_dtype dts[] = {MK_DT_INT32, MK_DT_FP32};
    for (int i = 0; i < 2; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", dts[i], 2, (int64_t[]){2, 3});
        mk_value *w = tb_const(&t, "w", dts[i], 2, (int64_t[]){4, 3}, 1, 1);
        tb_out(&t, tb_op(&t, MK_OP_LINEAR, "lin", "x", x, "weight", w, NULL));
        /* the interpreter refuses integer linear as Core ML does; the rewrite runs */
        agree_ex(tc, &t, "H37", "fix_int_linear", "lin", i == 0, i ? "fp32" : "int32", i == 1);
    }
}

/* H13 (tiny_eps.c): an epsilon of exactly 2^-24 is kept, the float below it is raised. */
TEST(lint_fix_agree_h13_epsilon_edge)
{
    static const double eps[] = {5.9604644775390625e-08, 5.9604641222676946e-08};
    for (int i = 0; i < 2; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){2, 8});
        tb_out(&t, tb_op(&t, MK_OP_LAYER_NORM, "ln", "x", x, "axes", tb_ints(&t, 1, -1), "epsilon",
                         tb_scalar(&t, MK_DT_FP32, eps[i]), NULL));
        agree(tc, &t, "H13", "fix_epsilon", "ln", i, i ? "below 2^-24" : "2^-24");
    }
}

/* H9/H10: softplus always; reduce_log_sum_exp only with constant axes (the rule offered the fix
 * for run-time axes too). */
TEST(lint_fix_agree_h9_h10)
{
    tb t;
    tb_init(&t, 6);
    tb_out(&t, tb_op(&t, MK_OP_SOFTPLUS, "sp", "x", tb_in(&t, "x", MK_DT_FP32, 1, (int64_t[]){4}),
                     NULL));
    agree(tc, &t, "H9", "fix_softplus", "sp", 1, "softplus");
    for (int rt = 0; rt < 2; rt++) {
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){2, 5});
        mk_value *axes = rt ? tb_in(&t, "axes", MK_DT_INT32, 1, (int64_t[]){1}) : tb_ints(&t, 1, 1);
        tb_out(&t, tb_op(&t, MK_OP_REDUCE_LOG_SUM_EXP, "lse", "x", x, "axes", axes, NULL));
        agree(tc, &t, "H10", "fix_logsumexp", "lse", 1, rt ? "run-time axes" : "constant axes");
    }
}

/* H22: dropping empty concat inputs needs a non-empty one (the rule offered it for all-empty). */
TEST(lint_fix_agree_h22_empty_concat)
{
    for (int all_empty = 0; all_empty < 2; all_empty++) {
        tb t;
        tb_init(&t, 6);
        mk_value *a = tb_in(&t, "a", MK_DT_FP32, 2, (int64_t[]){2, 0});
        mk_value *b = tb_in(&t, "b", MK_DT_FP32, 2, (int64_t[]){2, all_empty ? 0 : 3});
        mk_op *cat = t.bad ? NULL : mk_ir_op_new(t.p, MK_OP_CONCAT, "cat");
        mk_type u = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
        if (!t.bad && cat && mk_ir_op_add_input(t.p, cat, "values", a) &&
            mk_ir_op_add_input(t.p, cat, "values", b) &&
            mk_ir_op_add_input(t.p, cat, "axis", tb_int(&t, 1)) &&
            mk_ir_op_add_output(t.p, cat, "cat", &u)) {
            mk_ir_block_append(t.b, cat);
            t.bad = mk_ir_infer_op(cat, &t.e) != MK_OK;
            tb_out(&t, cat->outputs[0]);
        } else {
            t.bad = 1;
        }
        agree(tc, &t, "H22", "fix_empty", "cat", 1, all_empty ? "all empty" : "one empty");
    }
}

/* H27: a global avg_pool with pad_type valid and a (meaningless) nonzero pad bound is a reduce
 * (the rule said it was not); a global l2_pool has no exact reduce. */
TEST(lint_fix_agree_h27_global_pool)
{
    static const mk_op_kind kinds[] = {MK_OP_AVG_POOL, MK_OP_MAX_POOL, MK_OP_L2_POOL};
    for (int i = 0; i < 3; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 4, (int64_t[]){1, 2, 16, 16});
        tb_out(&t, tb_op(&t, kinds[i], "pool", "x", x, "kernel_sizes", tb_ints(&t, 2, 16, 16),
                         "strides", tb_ints(&t, 2, 1, 1), "pad_type", tb_str(&t, "valid"), "pad",
                         tb_ints(&t, 4, 1, 1, 1, 1), NULL));
        agree(tc, &t, "H27", "fix_global_pool", "pool", 1, mk_ir_op_info(kinds[i])->name);
    }
}

/* H1: a bias of 1e-13 is not zero to the rewrite, and was to the rule (zero within 1e-12). */
TEST(lint_fix_agree_h1_tiny_bias)
{
    static const double bias[] = {1e-13, 0.5, 0.0};
    for (int i = 0; i < 3; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 3, (int64_t[]){1, 2, 8});
        mk_value *w = tb_const(&t, "w", MK_DT_FP32, 3, (int64_t[]){2, 3, 3}, 0.1, 0.01);
        mk_value *b = tb_const(&t, "b", MK_DT_FP32, 1, (int64_t[]){3}, bias[i], 0);
        tb_out(&t, tb_op(&t, MK_OP_CONV_TRANSPOSE, "ct", "x", x, "weight", w, "bias", b, "pad_type",
                         tb_str(&t, "valid"), "strides", tb_ints(&t, 1, 2), "dilations",
                         tb_ints(&t, 1, 1), "groups", tb_int(&t, 1), NULL));
        char label[64];
        snprintf(label, sizeof label, "bias %g", bias[i]);
        agree(tc, &t, "H1", "fix_conv_transpose_1d", "ct", bias[i] != 0, label);
    }
}

/* H6 (iOS17): negative constant indices and unguarded run-time int32 indices are rewritten;
 * int16 run-time indices are a hazard the rewrite does not take (the rule offered it). */
TEST(lint_fix_agree_h6_negative_indices)
{
    for (int i = 0; i < 3; i++) {
        tb t;
        tb_init(&t, 8);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){5, 3});
        mk_value *ix = i == 0   ? tb_ints(&t, 3, 0, -1, 2)
                       : i == 1 ? tb_in(&t, "ix", MK_DT_INT32, 1, (int64_t[]){3})
                                : tb_in(&t, "ix", MK_DT_INT16, 1, (int64_t[]){3});
        tb_out(&t,
               tb_op(&t, MK_OP_GATHER, "g", "x", x, "indices", ix, "axis", tb_int(&t, 0), NULL));
        static const char *const label[] = {"constant -1", "run-time int32", "run-time int16"};
        agree(tc, &t, "H6", "fix_negative_indices", "g", 1, label[i]);
    }
}

/* H32: the rewrite also needs the merged D*H*W to fit int32 (the rule offered it for any static
 * shape); the oversized case is only typed, never run. */
TEST(lint_fix_agree_h32_rank5)
{
    static const int64_t dd[] = {4, 2048};
    for (int i = 0; i < 2; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 5, (int64_t[]){1, 2, dd[i], dd[i], dd[i]});
        tb_out(&t, tb_op(&t, MK_OP_REDUCE_MEAN, "rm", "x", x, "axes", tb_ints(&t, 3, 2, 3, 4),
                         "keep_dims", tb_bool(&t, 1), NULL));
        agree_ex(tc, &t, "H32", "fix_instance_norm_5d", "rm", 1, i ? "2048^3" : "4^3", i ? -1 : 1);
    }
}

/* H4: a cumsum longer than 1024 is rewritten in blocks only forward (the rule offered it
 * reversed too); a fill of constants folds. */
TEST(lint_fix_agree_h4_cumsum_fill)
{
    for (int rev = 0; rev < 2; rev++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){1, 2048});
        tb_out(&t, tb_op(&t, MK_OP_CUMSUM, "cs", "x", x, "axis", tb_int(&t, 1), "reverse",
                         tb_bool(&t, rev), NULL));
        agree(tc, &t, "H4", "fix_cpu_ops", "cs", 1, rev ? "reverse 2048" : "forward 2048");
    }
    tb t;
    tb_init(&t, 6);
    mk_value *x = tb_in(&t, "x", MK_DT_FP32, 1, (int64_t[]){3});
    mk_value *f = tb_op(&t, MK_OP_FILL, "f", "shape", tb_ints(&t, 1, 3), "value",
                        tb_scalar(&t, MK_DT_FP32, 1.5), NULL);
    tb_out(&t, tb_op(&t, MK_OP_ADD, "a", "x", x, "y", f, NULL));
    agree(tc, &t, "H4", "fix_cpu_ops", "f", 1, "fill");
}

/* H15/H39: an unbound epsilon on a float x and gelu's mode are bound by the fix; an int32 log
 * (typed by hand: its type rule refuses it; never run) is no H15 case (the rule offered the
 * fix, which does not bind an epsilon on integers). */
TEST(lint_fix_agree_h15_h39_defaults)
{
    tb t;
    tb_init(&t, 6);
    tb_out(&t,
           tb_op(&t, MK_OP_LOG, "lg", "x", tb_in(&t, "x", MK_DT_FP32, 1, (int64_t[]){4}), NULL));
    agree(tc, &t, "H15", "fix_explicit_params", "lg", 1, "log fp32");
    tb_init(&t, 6);
    tb_out(&t,
           tb_op(&t, MK_OP_GELU, "ge", "x", tb_in(&t, "x", MK_DT_FP32, 1, (int64_t[]){4}), NULL));
    agree(tc, &t, "H39", "fix_explicit_params", "ge", 1, "gelu");
    tb_init(&t, 6);
    mk_value *xi = tb_in(&t, "x", MK_DT_INT32, 1, (int64_t[]){4});
    mk_type ti = mk_type_make(MK_DT_INT32, 1, (int64_t[]){4});
    mk_op *lg = t.bad ? NULL : mk_ir_op_new(t.p, MK_OP_LOG, "lg");
    if (!t.bad && lg && mk_ir_op_add_input(t.p, lg, "x", xi) &&
        mk_ir_op_add_output(t.p, lg, "lg", &ti)) {
        mk_ir_block_append(t.b, lg);
        tb_out(&t, lg->outputs[0]);
    } else {
        t.bad = 1;
    }
    agree_ex(tc, &t, "H15", "fix_explicit_params", "lg", 0, "log int32", -1);
}

/* H5 slice_update: int16 data is no fixable form (the rule offered the rewrite for any dtype);
 * fp32 is. */
TEST(lint_fix_agree_h5_slice_update)
{
    for (int i = 0; i < 2; i++) {
        mk_dtype dt = i ? MK_DT_INT16 : MK_DT_FP32;
        tb t;
        tb_init(&t, 8);
        mk_value *x = tb_in(&t, "x", dt, 1, (int64_t[]){4});
        mk_value *u = tb_in(&t, "u", dt, 1, (int64_t[]){2});
        tb_out(&t, tb_op(&t, MK_OP_SLICE_UPDATE, "su", "x", x, "update", u, "begin",
                         tb_ints(&t, 1, 1), "end", tb_ints(&t, 1, 3), NULL));
        agree(tc, &t, "H5", "fix_slice_update", "su", 1, i ? "int16" : "fp32");
    }
}

/* H2: kernel 3, stride 2 on 7 samples: a trailing pad of 1 is unused, 0 and 2 are used. */
TEST(lint_fix_agree_h2_conv_pad)
{
    for (int pe = 0; pe < 3; pe++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 3, (int64_t[]){1, 1, 7});
        mk_value *w = tb_const(&t, "w", MK_DT_FP32, 3, (int64_t[]){1, 1, 3}, 0.5, 0.25);
        tb_out(&t,
               tb_op(&t, MK_OP_CONV, "cv", "x", x, "weight", w, "pad_type", tb_str(&t, "custom"),
                     "pad", tb_ints(&t, 2, 0, pe), "strides", tb_ints(&t, 1, 2), "dilations",
                     tb_ints(&t, 1, 1), "groups", tb_int(&t, 1), NULL));
        char label[32];
        snprintf(label, sizeof label, "pad end %d", pe);
        agree(tc, &t, "H2", "fix_conv_padding", "cv", pe == 1, label);
    }
}

/* H3: output_shape inside the full result is a crop; beyond it zero padding would be needed and
 * the rewrite declines (the rule offered it for any output_shape). */
TEST(lint_fix_agree_h3_output_shape)
{
    static const int outs[] = {5, 8};
    for (int i = 0; i < 2; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 3, (int64_t[]){1, 1, 4});
        mk_value *w = tb_const(&t, "w", MK_DT_FP32, 3, (int64_t[]){1, 1, 3}, 0.5, 0.25);
        tb_out(&t, tb_op(&t, MK_OP_CONV_TRANSPOSE, "ct", "x", x, "weight", w, "pad_type",
                         tb_str(&t, "valid"), "strides", tb_ints(&t, 1, 1), "dilations",
                         tb_ints(&t, 1, 1), "groups", tb_int(&t, 1), "output_shape",
                         tb_ints(&t, 3, 1, 1, outs[i]), NULL));
        char label[32];
        snprintf(label, sizeof label, "output %d of 6", outs[i]);
        agree(tc, &t, "H3", "fix_conv_transpose_pad", "ct", 1, label);
    }
}

/* An op typed by hand (for forms whose type rule refuses a run-time parameter): x's type. */
static mk_value *hand_typed(tb *t, mk_op_kind k, const char *name, const mk_type *ty,
                            const char *p1, mk_value *v1, const char *p2, mk_value *v2)
{
    mk_op *op = t->bad ? NULL : mk_ir_op_new(t->p, k, name);
    if (op && mk_ir_op_add_input(t->p, op, p1, v1) &&
        (!p2 || mk_ir_op_add_input(t->p, op, p2, v2)) && mk_ir_op_add_output(t->p, op, name, ty)) {
        mk_ir_block_append(t->b, op);
        return op->outputs[0];
    }
    t->bad = 1;
    return NULL;
}

/* H11: log(softmax) and log(cumsum(exp)) are rewritten; a log epsilon the explicit form would
 * drop is reported without the fix (the pass rewrote it and changed the result), as is a
 * run-time softmax axis (the rule offered the fix, the pass declined); an already shifted
 * cumsum is silent. */
TEST(lint_fix_agree_h11_log_softmax)
{
    for (int i = 0; i < 5; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){2, 5}), *in = NULL;
        if (i == 0 || i == 1) {
            in = tb_op(&t, MK_OP_SOFTMAX, "sm", "x", x, "axis", tb_int(&t, -1), NULL);
        } else if (i == 2) {
            mk_value *ax = tb_in(&t, "axis", MK_DT_INT32, 0, NULL);
            in = hand_typed(&t, MK_OP_SOFTMAX, "sm", x ? &x->type : NULL, "x", x, "axis", ax);
        } else {
            mk_value *v = x;
            if (i == 4) {
                mk_value *m = tb_op(&t, MK_OP_REDUCE_MAX, "mx", "x", x, "axes", tb_ints(&t, 1, 1),
                                    "keep_dims", tb_bool(&t, 1), NULL);
                v = tb_op(&t, MK_OP_SUB, "sh", "x", x, "y", m, NULL);
            }
            in = tb_op(&t, MK_OP_CUMSUM, "cs", "x", tb_op(&t, MK_OP_EXP, "ex", "x", v, NULL),
                       "axis", tb_int(&t, 1), NULL);
        }
        tb_out(&t, i == 1 ? tb_op(&t, MK_OP_LOG, "lg", "x", in, "epsilon",
                                  tb_scalar(&t, MK_DT_FP32, 0.5), NULL)
                          : tb_op(&t, MK_OP_LOG, "lg", "x", in, NULL));
        static const char *const label[] = {"log(softmax)", "log(softmax) epsilon 0.5",
                                            "run-time softmax axis", "log(cumsum(exp))",
                                            "already shifted"};
        agree(tc, &t, "H11", "fix_log_softmax", "lg", i != 4, label[i]);
    }
}

/* H12: reduce_l2_norm with run-time axes is reported without the fix (the rule offered it);
 * pow(x, 2) squares by a constant of several 2s of x's shape (the pass wanted one element) and
 * not when the 2s broadcast x to a larger shape (the rule fired and offered the fix); a sum of
 * squares nothing reads is reported without the fix (the rule offered it, the pass skips dead
 * reductions). */
TEST(lint_fix_agree_h12_sum_squares)
{
    for (int rt = 0; rt < 2; rt++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){2, 4});
        mk_value *axes = rt ? tb_in(&t, "axes", MK_DT_INT32, 1, (int64_t[]){1}) : tb_ints(&t, 1, 1);
        tb_out(&t, tb_op(&t, MK_OP_REDUCE_L2_NORM, "l2", "x", x, "axes", axes, "keep_dims",
                         tb_bool(&t, 1), NULL));
        agree(tc, &t, "H12", "fix_sum_squares", "l2", 1, rt ? "l2 run-time axes" : "l2");
    }
    for (int wide = 0; wide < 2; wide++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){2, wide ? 1 : 4});
        mk_value *sq = tb_op(&t, MK_OP_POW, "sq", "x", x, "y",
                             tb_const(&t, "two", MK_DT_FP32, 1, (int64_t[]){4}, 2.0, 0), NULL);
        tb_out(&t, tb_op(&t, MK_OP_REDUCE_MEAN, "rm", "x", sq, "axes", tb_ints(&t, 1, 1),
                         "keep_dims", tb_bool(&t, 0), NULL));
        agree(tc, &t, "H12", "fix_sum_squares", "rm", !wide,
              wide ? "pow(x [2,1], 2 [4])" : "pow(x [2,4], 2 [4])");
    }
    tb t;
    tb_init(&t, 6);
    mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){2, 4});
    tb_op(&t, MK_OP_REDUCE_SUM_SQUARE, "dead", "x", x, "axes", tb_ints(&t, 1, 1), NULL);
    tb_out(&t, tb_op(&t, MK_OP_ABS, "a", "x", x, NULL));
    agree(tc, &t, "H12", "fix_sum_squares", "dead", 1, "unread reduce_sum_square");
}

/* H25: a plain constant weight is rewritten; a constexpr-decompressed weight and a matmul are
 * reported without the fix; a rank-4 x is no case. */
TEST(lint_fix_agree_h25_linear_to_conv)
{
    for (int i = 0; i < 3; i++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, i == 2 ? 4 : 3,
                            i == 2 ? (int64_t[]){1, 1, 2, 3} : (int64_t[]){1, 2, 3});
        mk_value *w =
            tb_const(&t, "w", i == 1 ? MK_DT_FP16 : MK_DT_FP32, 2, (int64_t[]){4, 3}, 0.1, 0.05);
        if (i == 1)
            w = tb_op(&t, MK_OP_CONSTEXPR_CAST, "wc", "source_val", w, "output_dtype",
                      tb_str(&t, "fp32"), NULL);
        tb_out(&t, tb_op(&t, MK_OP_LINEAR, "lin", "x", x, "weight", w, NULL));
        static const char *const label[] = {"const weight", "constexpr weight", "rank-4 x"};
        agree(tc, &t, "H25", "fix_linear_to_conv", "lin", i != 2, label[i]);
    }
}

/* H35: a reflect pad with a negative amount and no constant_val: the pass bound constant_val
 * while the rule, stopping at the negative pad, offered no fix; now both findings are made
 * and the binding is offered. An int16 pad has no 0 to bind (the rule offered it). A rank-0
 * gather index with a run-time axis has no rewrite (the rule offered one). */
TEST(lint_fix_agree_h35_runtime_forms)
{
    {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){3, 4});
        mk_type ty = mk_type_make(MK_DT_FP32, 2, (int64_t[]){3, 3});
        mk_value *y =
            hand_typed(&t, MK_OP_PAD, "pd", &ty, "x", x, "pad", tb_ints(&t, 4, 0, 0, -1, 0));
        mk_op *pd = y ? y->producer : NULL;
        if (!pd || !mk_ir_op_add_input(t.p, pd, "mode", tb_str(&t, "reflect"))) t.bad = 1;
        tb_out(&t, y);
        rule_hits h;
        CHECK(t.bad || lint_hits(t.p, "H35", 1, "pd", &h) == 2);
        agree_ex(tc, &t, "H35", "fix_runtime_forms", "pd", 2, "reflect -1 without constant_val",
                 -1);
    }
    for (int i = 0; i < 2; i++) {
        tb t;
        tb_init(&t, 6);
        mk_dtype dt = i ? MK_DT_INT16 : MK_DT_FP32;
        mk_value *x = tb_in(&t, "x", dt, 2, (int64_t[]){3, 4});
        tb_out(&t, tb_op(&t, MK_OP_PAD, "pd", "x", x, "pad", tb_ints(&t, 4, 0, 0, 1, 1), "mode",
                         tb_str(&t, "constant"), NULL));
        agree_ex(tc, &t, "H35", "fix_runtime_forms", "pd", 1, i ? "int16 pad" : "fp32 pad",
                 i ? -1 : 1);
    }
    for (int rt = 0; rt < 2; rt++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){3, 4});
        mk_value *ix = tb_const(&t, "ix", MK_DT_INT32, 0, NULL, 1, 0);
        mk_value *g;
        if (rt) {
            mk_type ty = mk_type_make(MK_DT_FP32, 1, (int64_t[]){4});
            g = hand_typed(&t, MK_OP_GATHER, "g", &ty, "x", x, "indices", ix);
            if (!g || !mk_ir_op_add_input(t.p, g->producer, "axis",
                                          tb_in(&t, "axis", MK_DT_INT32, 0, NULL)))
                t.bad = 1;
        } else {
            g = tb_op(&t, MK_OP_GATHER, "g", "x", x, "indices", ix, "axis", tb_int(&t, 0), NULL);
        }
        tb_out(&t, g);
        agree_ex(tc, &t, "H35", "fix_runtime_forms", "g", 1, rt ? "run-time axis" : "axis 0",
                 rt ? -1 : 1);
    }
}

/* H21: x [2,4,8] -> reshape to rank 6 -> (relu | reversing transpose | reduce_sum) -> reshape
 * to rank 1. The relu chain collapses; the reversal keeps six separate axes and the reduction
 * is no pointwise op, so neither is rewritten, and the rule, which offered the fix on every
 * rank-6 op not a model output, now says so. */
TEST(lint_fix_agree_h21_rank_chain)
{
    static const char *const label[] = {"relu chain", "six-axis reversal", "rank-6 reduction"};
    static const char *const inner[] = {"p6", "t6", "s6"};
    for (int v = 0; v < 3; v++)
        for (int at = 0; at < 2; at++) {
            tb t;
            tb_init(&t, 8);
            mk_value *x = tb_in(&t, "x", MK_DT_FP32, 3, (int64_t[]){2, 4, 8});
            mk_value *r = tb_op(&t, MK_OP_RESHAPE, "r6", "x", x, "shape",
                                tb_ints(&t, 6, 2, 2, 2, 2, 2, 2), NULL);
            mk_value *p = v == 0   ? tb_op(&t, MK_OP_RELU, "p6", "x", r, NULL)
                          : v == 1 ? tb_op(&t, MK_OP_TRANSPOSE, "t6", "x", r, "perm",
                                           tb_ints(&t, 6, 5, 4, 3, 2, 1, 0), NULL)
                                   : tb_op(&t, MK_OP_REDUCE_SUM, "s6", "x", r, "axes",
                                           tb_ints(&t, 1, 2), "keep_dims", tb_bool(&t, 1), NULL);
            tb_out(&t, tb_op(&t, MK_OP_RESHAPE, "y", "x", p, "shape",
                             tb_ints(&t, 1, v == 2 ? 32 : 64), NULL));
            char lb[64];
            snprintf(lb, sizeof lb, "%s (%s)", label[v], at ? inner[v] : "r6");
            agree(tc, &t, "H21", "fix_rank", at ? inner[v] : "r6", 1, lb);
        }
}

/* H14 in an fp32 program linted for fp16: a -1e9 mask [0, -1e9, ...] added before a softmax
 * becomes -1e4 (the softmax and the constant offer the fix). The same constant also read by a
 * real_div (no sentinel there) is kept: the rule offered the fix on both findings, the pass did
 * nothing. */
TEST(lint_fix_agree_h14_softmax_mask)
{
    for (int shared = 0; shared < 2; shared++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 2, (int64_t[]){2, 4});
        mk_value *m = tb_const(&t, "mask", MK_DT_FP32, 1, (int64_t[]){4}, 0, -1e9);
        mk_value *s =
            tb_op(&t, MK_OP_SOFTMAX, "sm", "x", tb_op(&t, MK_OP_ADD, "a", "x", x, "y", m, NULL),
                  "axis", tb_int(&t, -1), NULL);
        tb_out(&t, s);
        if (shared) tb_out(&t, tb_op(&t, MK_OP_REAL_DIV, "d", "x", m, "y", x, NULL));
        char lb[64];
        snprintf(lb, sizeof lb, "softmax mask%s", shared ? " also divided by" : "");
        rule_hits h;
        CHECK_MSG(t.bad ||
                      (lint_hits(t.p, "H14", 1, "mask", &h) == 1 && (h.n_op_fix > 0) == !shared),
                  "%s: the constant's finding", lb);
        agree(tc, &t, "H14", "fix_fp16_range", "sm", 1, lb);
    }
}

/* H14 in an fp16 program: an fp32 -1e9 constant read only by an add whose sum is cast to fp16
 * (then relu) is clipped by the pass; the rule's cast finding offered no fix. Read by a
 * real_div too, it stays and the finding says so. */
TEST(lint_fix_agree_h14_cast)
{
    for (int shared = 0; shared < 2; shared++) {
        tb t;
        tb_init(&t, 6);
        mk_value *x = tb_in(&t, "x", MK_DT_FP32, 1, (int64_t[]){4});
        mk_value *m = tb_const(&t, "big", MK_DT_FP32, 1, (int64_t[]){4}, 0, -1e9);
        mk_value *y = tb_op(&t, MK_OP_ADD, "a", "x", x, "y", m, NULL);
        mk_value *h = tb_op(&t, MK_OP_CAST, "c16", "x", y, "dtype", tb_str(&t, "fp16"), NULL);
        tb_out(&t, tb_op(&t, MK_OP_RELU, "r", "x", h, NULL));
        if (shared) tb_out(&t, tb_op(&t, MK_OP_REAL_DIV, "d", "x", m, "y", x, NULL));
        agree(tc, &t, "H14", "fix_fp16_range", "c16", 1,
              shared ? "cast of a shared constant" : "cast of a sum with -1e9");
    }
}

/* H20, a [1, 3, 40000] projection (linear with a constant weight, or matmul): 0 scaled and
 * reduced over the last axis (max and argmax; split into three chunks); 1 reduced over axis 1
 * (the long axis survives); 2 also reshaped (a reader the split cannot feed); 3 matmul with a
 * run-time weight. The rule offered the fix on every long op but a model output. */
static void h20_projection(tb *t, int v)
{
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", MK_DT_FP32, DIMS(1, 3, 8)), *y;
    if (v == 3)
        y = tb_op(t, MK_OP_MATMUL, "logits", "x", x, "y", tb_in(t, "w", MK_DT_FP32, DIMS(8, 40000)),
                  NULL);
    else
        y = tb_op(t, MK_OP_LINEAR, "logits", "x", x, "weight",
                  tb_const(t, "w", MK_DT_FP32, DIMS(40000, 8), -1, 1e-5), NULL);
    mk_value *s = tb_op(t, MK_OP_MUL, "scaled", "x", y, "y", tb_scalar(t, MK_DT_FP32, 0.5), NULL);
    tb_out(t,
           tb_op(t, MK_OP_REDUCE_MAX, "m", "x", s, "axes", tb_ints(t, 1, v == 1 ? 1 : -1), NULL));
    if (v != 1)
        tb_out(t, tb_op(t, MK_OP_REDUCE_ARGMAX, "token", "x", s, "axis", tb_int(t, -1), NULL));
    if (v == 2)
        tb_out(t, tb_op(t, MK_OP_RESHAPE, "flat", "x", s, "shape", tb_ints(t, 1, 120000), NULL));
}

/* H20, a pointwise chain relu -> square on a long value, reduced by max: 0 a [2, 36000] input,
 * over both axes; 1 a [1, 40009] input (prime: no in-range split); 2 a [1, 36000] reshape of
 * [1, 200, 180], the reshape read twice; 3 that reshape read once; 4 a [2, 36000] input reduced
 * over axis 0 only (the long axis survives the reduction). */
static void h20_chain(tb *t, int v)
{
    tb_init(t, 8);
    mk_value *x, *r;
    if (v == 2 || v == 3) {
        x = tb_in(t, "x", MK_DT_FP32, DIMS(1, 200, 180));
        r = tb_op(t, MK_OP_RESHAPE, "flat", "x", x, "shape", tb_ints(t, 2, 1, 36000), NULL);
        if (v == 2)
            tb_out(t, tb_op(t, MK_OP_REDUCE_MIN, "lo", "x", r, "axes", tb_ints(t, 1, 1), NULL));
    } else {
        int64_t d[2] = {v == 1 ? 1 : 2, v == 1 ? 40009 : 36000};
        r = x = tb_in(t, "x", MK_DT_FP32, 2, d);
    }
    mk_value *a = tb_op(t, MK_OP_RELU, "a", "x", r, NULL);
    mk_value *q = tb_op(t, MK_OP_SQUARE, "q", "x", a, NULL);
    tb_out(t, tb_op(t, MK_OP_REDUCE_MAX, "m", "x", q, "axes",
                    v == 4   ? tb_ints(t, 1, 0)
                    : v == 0 ? tb_ints(t, 2, 0, 1)
                             : tb_ints(t, 1, 1),
                    "keep_dims", tb_bool(t, 1), NULL));
}

TEST(lint_fix_agree_h20_long_axis)
{
    static const char *const plabel[] = {"projection, last-axis max", "projection, axis-1 max",
                                         "projection, also reshaped", "run-time matmul"};
    for (int v = 0; v < 4; v++)
        for (int at = 0; at < 2; at++) {
            tb t;
            h20_projection(&t, v);
            char lb[96];
            snprintf(lb, sizeof lb, "%s (%s)", plabel[v], at ? "scaled" : "logits");
            agree(tc, &t, "H20", "fix_long_axis", at ? "scaled" : "logits", 1, lb);
        }
    static const char *const clabel[] = {"input chain", "prime length", "reshape read twice",
                                         "reshape chain", "axis-0 reduction"};
    static const char *const at_op[] = {"a", "q", "flat"};
    for (int v = 0; v < 5; v++)
        for (int at = 0; at < (v == 2 || v == 3 ? 3 : 2); at++) {
            tb t;
            h20_chain(&t, v);
            char lb[96];
            snprintf(lb, sizeof lb, "%s (%s)", clabel[v], at_op[at]);
            agree(tc, &t, "H20", "fix_long_axis", at_op[at], 1, lb);
        }
}
