/* Minimal programs for every implemented hazard rule: build(t, 1) triggers the rule,
 * build(t, 0) is a near miss that must not. Shared by test_lint.c (flags / does not flag)
 * and test_fix.c (the fix keeps the outputs and removes the finding). */
#ifndef MK_TEST_LINT_CASES_H
#define MK_TEST_LINT_CASES_H

#include "test_lint_build.h"

#define F32 MK_DT_FP32
#define F16 MK_DT_FP16

/* x: fp32 input of the given shape, cast to fp16 when half is set. */
static inline mk_value *tb_x(tb *t, int half, int rank, const int64_t *d)
{
    mk_value *x = tb_in(t, "x", F32, rank, d);
    return half ? tb_op(t, MK_OP_CAST, "x_fp16", "x", x, "dtype", tb_str(t, "fp16"), NULL) : x;
}

static inline void c_h1(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(1, 8, 10));
    mk_value *w = tb_const(t, "w", F32, DIMS(8, 4, 3), -0.5, 0.01);
    mk_value *b = tb_const(t, "b", F32, DIMS(4), trig ? 0.25 : 0.0, trig ? 0.5 : 0.0);
    tb_out(t, tb_op(t, MK_OP_CONV_TRANSPOSE, "y", "x", x, "weight", w, "bias", b, "strides",
                    tb_ints(t, 1, 3), "pad_type", tb_str(t, "custom"), "pad", tb_ints(t, 2, 1, 1),
                    NULL));
}

static inline void c_h2(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(1, 2, 5, 5));
    mk_value *w = tb_const(t, "w", F32, DIMS(2, 2, 3, 2), -0.3, 0.05);
    tb_out(t, tb_op(t, MK_OP_CONV, "y", "x", x, "weight", w, "strides", tb_ints(t, 2, 2, 2),
                    "pad_type", tb_str(t, "custom"), "pad",
                    trig ? tb_ints(t, 4, 1, 1, 1, 1) : tb_ints(t, 4, 1, 1, 1, 0), NULL));
}

static inline void c_h3(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(1, 4, 6));
    mk_value *w = tb_const(t, "w", F32, DIMS(4, 2, 3), -0.4, 0.03);
    tb_out(t, tb_op(t, MK_OP_CONV_TRANSPOSE, "y", "x", x, "weight", w, "strides", tb_ints(t, 1, 2),
                    "pad_type", tb_str(t, "custom"), "pad",
                    trig ? tb_ints(t, 2, 1, 0) : tb_ints(t, 2, 1, 1), NULL));
}

static inline void c_h4(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 5, 3));
    if (trig)
        tb_out(t, tb_op(t, MK_OP_CUMSUM, "y", "x", x, "axis", tb_int(t, 1), "exclusive",
                        tb_bool(t, 0), "reverse", tb_bool(t, 0), NULL));
    else
        tb_out(t, tb_op(t, MK_OP_RELU, "y", "x", x, NULL));
}

static inline void c_h4_fill(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 3));
    mk_value *c = trig ? tb_op(t, MK_OP_FILL, "f", "shape", tb_ints(t, 2, 2, 3), "value",
                               tb_scalar(t, F32, 1.5), NULL)
                       : tb_const(t, "f", F32, DIMS(2, 3), 1.5, 0);
    mk_value *r = trig ? tb_op(t, MK_OP_RANGE_1D, "r", "end", tb_scalar(t, F32, 3), "start",
                               tb_scalar(t, F32, 0), "step", tb_scalar(t, F32, 1), NULL)
                       : tb_const(t, "r", F32, DIMS(3), 0, 1);
    tb_out(t, tb_op(t, MK_OP_ADD, "y", "x", tb_op(t, MK_OP_MUL, "m", "x", x, "y", c, NULL), "y", r,
                    NULL));
}

static inline void c_h5(tb *t, int trig)
{
    tb_init(t, 9);
    mk_value *x = tb_x(t, 0, DIMS(4, 6));
    mk_value *u = tb_in(t, "u", F32, DIMS(2, 3));
    if (trig)
        tb_out(t, tb_op(t, MK_OP_SLICE_UPDATE, "y", "x", x, "update", u, "begin",
                        tb_ints(t, 2, 1, 2), "end", tb_ints(t, 2, 3, 5), NULL));
    else
        tb_out(t, tb_op(t, MK_OP_ADD, "y", "x",
                        tb_op(t, MK_OP_SLICE_BY_INDEX, "s", "x", x, "begin", tb_ints(t, 2, 1, 2),
                              "end", tb_ints(t, 2, 3, 5), NULL),
                        "y", u, NULL));
}

static inline void c_h6(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(5, 4));
    mk_value *ix = trig ? tb_ints(t, 3, -1, 0, 2) : tb_ints(t, 3, 4, 0, 2);
    tb_out(t, tb_op(t, MK_OP_GATHER, "y", "x", x, "indices", ix, "axis", tb_int(t, 0), NULL));
}

static inline void c_h6_dyn(tb *t, int trig)
{
    /* run-time int32 indices: flagged from iOS17 (spec 8), a near miss in iOS16 (spec 7) */
    tb_init(t, trig ? 8 : 7);
    mk_value *x = tb_x(t, 0, DIMS(5, 4));
    mk_value *ix = tb_in(t, "i", MK_DT_INT32, DIMS(3));
    tb_out(t, tb_op(t, MK_OP_GATHER, "y", "x", x, "indices", ix, "axis", tb_int(t, 0), NULL));
}

static inline void c_h36(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 4));
    mk_value *sq = trig ? tb_op(t, MK_OP_MUL, "sq", "x", x, "y", x, NULL)
                        : tb_op(t, MK_OP_ABS, "sq", "x", x, NULL);
    tb_out(t, tb_op(t, MK_OP_SQRT, "y", "x", sq, NULL));
}

static inline void c_h7(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *y = tb_in(t, "x", F32, DIMS(2, 3));
    tb_out(t, tb_op(t, MK_OP_POW, "p", "x", tb_const(t, "base", F32, DIMS(2, 3), trig ? 2 : 3, 0),
                    "y", y, NULL));
}

static inline void c_h8(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 3));
    tb_out(t, tb_op(t, MK_OP_POW, "p", "x", x, "y", tb_scalar(t, F32, trig ? 2.0 : 2.5), NULL));
}

static inline void c_h9(tb *t, int trig)
{
    tb_init(t, 8);
    tb_out(t, tb_op(t, MK_OP_SOFTPLUS, "y", "x", tb_x(t, trig, DIMS(2, 8)), NULL));
}

static inline void c_h10(tb *t, int trig)
{
    tb_init(t, 8);
    tb_out(t, tb_op(t, MK_OP_REDUCE_LOG_SUM_EXP, "y", "x", tb_x(t, trig, DIMS(2, 8)), "axes",
                    tb_ints(t, 1, 1), "keep_dims", tb_bool(t, 0), NULL));
}

static inline void c_h11(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 1, DIMS(2, 8));
    mk_value *s = trig ? tb_op(t, MK_OP_SOFTMAX, "sm", "x", x, "axis", tb_int(t, -1), NULL)
                       : tb_op(t, MK_OP_SIGMOID, "sm", "x", x, NULL);
    tb_out(t, tb_op(t, MK_OP_LOG, "y", "x", s, "epsilon", tb_scalar(t, F16, 0), NULL));
}

static inline void c_h12(tb *t, int trig)
{
    tb_init(t, 8);
    tb_out(t, tb_op(t, trig ? MK_OP_REDUCE_L2_NORM : MK_OP_REDUCE_L1_NORM, "y", "x",
                    tb_x(t, 1, DIMS(2, 8)), "axes", tb_ints(t, 1, 1), "keep_dims", tb_bool(t, 1),
                    NULL));
}

static inline void c_h13(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 1, DIMS(2, 8));
    tb_out(t, tb_op(t, MK_OP_LAYER_NORM, "y", "x", x, "axes", tb_ints(t, 1, -1), "epsilon",
                    tb_scalar(t, F16, trig ? 1e-12 : 1e-5), NULL));
}

static inline void c_h14(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 4));
    mk_value *m = tb_const(t, "mask", F32, DIMS(1, 4), 0, 0);
    if (m && !t->bad) ((float *)m->cst->data)[1] = trig ? -3.4e38f : -1e4f;
    mk_value *a = tb_op(t, MK_OP_ADD, "masked", "x", x, "y", m, NULL);
    tb_out(t, tb_op(t, MK_OP_SOFTMAX, "y", "x", a, "axis", tb_int(t, -1), NULL));
}

static inline void c_h15(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 4));
    tb_out(t, trig ? tb_op(t, MK_OP_RSQRT, "y", "x", x, NULL)
                   : tb_op(t, MK_OP_RSQRT, "y", "x", x, "epsilon", tb_scalar(t, F32, 1e-12), NULL));
}

/* inverse with its default epsilon, absent or written out as coremltools does: flagged, with
 * no safe rewrite; an epsilon of 0 (exact 1/x) is the near miss */
static inline void c_h15_inverse(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 4));
    tb_out(t, tb_op(t, MK_OP_INVERSE, "y", "x", x, "epsilon", tb_scalar(t, F32, trig ? 1e-4 : 0),
                    NULL));
}

static inline void c_h16(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(1, 1, 4, 4));
    mk_value *sh = tb_scalar(t, F32, 2), *sw = tb_scalar(t, F32, 2);
    tb_out(t, trig ? tb_op(t, MK_OP_UPSAMPLE_BILINEAR, "y", "x", x, "scale_factor_height", sh,
                           "scale_factor_width", sw, NULL)
                   : tb_op(t, MK_OP_UPSAMPLE_BILINEAR, "y", "x", x, "scale_factor_height", sh,
                           "scale_factor_width", sw, "align_corners", tb_bool(t, 0), NULL));
}

static inline void c_h17(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(1, 1, 5, 5));
    tb_out(t, tb_op(t, MK_OP_AVG_POOL, "y", "x", x, "kernel_sizes", tb_ints(t, 2, 2, 2), "strides",
                    tb_ints(t, 2, 2, 2), "pad_type", tb_str(t, "valid"), "ceil_mode", tb_bool(t, 1),
                    "exclude_padding_from_average", tb_bool(t, !trig), NULL));
}

static inline void c_h18(tb *t, int trig)
{
    tb_init(t, 8);
    tb_out(t, tb_op(t, MK_OP_RELU, "y", "x", tb_x(t, 0, DIMS(1, trig ? -1 : 8)), NULL));
}

static inline void c_h19(tb *t, int trig)
{
    tb_init(t, 8);
    tb_out(t, tb_op(t, MK_OP_RELU, "y", "x", tb_x(t, !trig, DIMS(1, 8)), NULL));
}

static inline void c_h20(tb *t, int trig)
{
    tb_init(t, 8);
    tb_out(t, tb_op(t, MK_OP_RELU, "y", "x", tb_x(t, 0, DIMS(1, trig ? 20000 : 16000)), NULL));
}

static inline void c_h21(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 3));
    tb_out(t, tb_op(t, MK_OP_RESHAPE, "y", "x", x, "shape",
                    trig ? tb_ints(t, 6, 1, 1, 1, 1, 2, 3) : tb_ints(t, 5, 1, 1, 1, 2, 3), NULL));
}

static inline void c_h22(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 3));
    mk_value *o = trig ? tb_const(t, "empty", F32, DIMS(2, 0), 0, 0)
                       : tb_const(t, "full", F32, DIMS(2, 1), 1, 0);
    tb_out(t, tb_op(t, MK_OP_CONCAT, "y", "values", x, "values", o, "axis", tb_int(t, 1),
                    "interleave", tb_bool(t, 0), NULL));
}

static inline void c_h25(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = trig ? tb_x(t, 0, DIMS(1, 4, 8)) : tb_x(t, 0, DIMS(4, 8));
    tb_out(t, tb_op(t, MK_OP_LINEAR, "y", "x", x, "weight",
                    tb_const(t, "w", F32, DIMS(6, 8), -0.2, 0.01), "bias",
                    tb_const(t, "b", F32, DIMS(6), 0.1, 0.1), NULL));
}

static inline void c_h27(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(1, 2, 15, 15));
    int k = trig ? 15 : 3;
    tb_out(t, tb_op(t, MK_OP_AVG_POOL, "y", "x", x, "kernel_sizes", tb_ints(t, 2, k, k), "strides",
                    tb_ints(t, 2, 1, 1), "pad_type", tb_str(t, "valid"),
                    "exclude_padding_from_average", tb_bool(t, 0), NULL));
}

static inline void c_h29(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 8));
    tb_out(t, trig ? tb_op(t, MK_OP_TOPK, "y", "x", x, "k", tb_int(t, 2), NULL)
                   : tb_op(t, MK_OP_REDUCE_MAX, "y", "x", x, "axes", tb_ints(t, 1, 1), NULL));
}

static inline void c_h32(tb *t, int trig)
{
    /* instance_norm itself takes rank 3-4 in MIL; rank 5 arrives as its decomposition */
    tb_init(t, 8);
    mk_value *x = trig ? tb_x(t, 0, DIMS(1, 2, 3, 4, 5)) : tb_x(t, 0, DIMS(1, 2, 12, 5));
    mk_value *ax = trig ? tb_ints(t, 3, 2, 3, 4) : tb_ints(t, 2, 2, 3);
    mk_value *m =
        tb_op(t, MK_OP_REDUCE_MEAN, "mean", "x", x, "axes", ax, "keep_dims", tb_bool(t, 1), NULL);
    tb_out(t, tb_op(t, MK_OP_SUB, "y", "x", x, "y", m, NULL));
}

/* MIL prelu wants one slope per channel, so the shared-slope form is built with an explicit
 * output type (type inference rejects it, as it should). */
static inline void c_h33(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(1, 3, 4));
    mk_value *a =
        trig ? tb_const(t, "a", F32, DIMS(1), 0.25, 0) : tb_const(t, "a", F32, DIMS(3), 0.25, 0);
    if (t->bad) return;
    mk_op *op = mk_ir_op_new(t->p, MK_OP_PRELU, "y");
    mk_type ty = x->type;
    mk_value *y =
        op && mk_ir_op_add_input(t->p, op, "x", x) && mk_ir_op_add_input(t->p, op, "alpha", a)
            ? mk_ir_op_add_output(t->p, op, "y", &ty)
            : NULL;
    if (!y) {
        t->bad = 1;
        return;
    }
    mk_ir_block_append(t->b, op);
    tb_out(t, y);
}

static inline void c_h35(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 4));
    tb_out(t, trig ? tb_op(t, MK_OP_PAD, "y", "x", x, "pad", tb_ints(t, 2, 1, 2), "mode",
                           tb_str(t, "constant"), NULL)
                   : tb_op(t, MK_OP_PAD, "y", "x", x, "pad", tb_ints(t, 2, 1, 2), "mode",
                           tb_str(t, "constant"), "constant_val", tb_scalar(t, F32, 0), NULL));
}

static inline void c_h35_gather(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(5, 4));
    tb_out(t, tb_op(t, MK_OP_GATHER, "y", "x", x, "indices", trig ? tb_int(t, 3) : tb_ints(t, 1, 3),
                    "axis", tb_int(t, 0), NULL));
}

static inline void c_h35_slice(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(3, 5));
    tb_out(t, tb_op(t, MK_OP_SLICE_BY_INDEX, "y", "x", x, "begin", tb_ints(t, 2, 0, -1), "end",
                    tb_ints(t, 2, 3, trig ? -6 : -5), "stride", tb_ints(t, 2, 1, -1), NULL));
}

static inline void c_h37(tb *t, int trig)
{
    tb_init(t, 8);
    mk_dtype dt = trig ? MK_DT_INT32 : F32;
    mk_value *x = tb_in(t, "x", dt, DIMS(2, 3));
    tb_out(t, tb_op(t, MK_OP_LINEAR, "y", "x", x, "weight", tb_const(t, "w", dt, DIMS(4, 3), -2, 1),
                    "bias", tb_const(t, "b", dt, DIMS(4), 1, 1), NULL));
}

static inline void c_h39(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, 0, DIMS(2, 4));
    tb_out(t,
           trig ? tb_op(t, MK_OP_GELU, "y", "x", x, NULL)
                : tb_op(t, MK_OP_GELU, "y", "x", x, "mode", tb_str(t, "TANH_APPROXIMATION"), NULL));
}

static inline void c_h23(tb *t, int trig)
{
    tb_init(t, 8);
    tb_out(t, tb_op(t, MK_OP_RELU, "y", "x", tb_x(t, 0, DIMS(1, trig ? 5 : 16)), NULL));
}

static inline void c_h24(tb *t, int trig)
{
    tb_init(t, 8);
    mk_value *x = trig ? tb_x(t, 1, DIMS(4096, 16, 2)) : tb_x(t, 1, DIMS(2, 16, 4096));
    tb_out(t, tb_op(t, MK_OP_RELU, "y", "x", x, NULL));
}

static inline void c_h28(tb *t, int trig)
{
    tb_init(t, 8);
    int k = trig ? 4096 : 64;
    mk_value *x = tb_x(t, 1, DIMS(1, k));
    tb_out(t, tb_op(t, MK_OP_MATMUL, "y", "x", x, "y", tb_const(t, "w", F16, DIMS(k, 2), 0.01, 0),
                    NULL));
}

typedef struct lcase {
    const char *rule;
    void (*build)(tb *t, int trig);
    int assume_fp16; /* lint/fix as if the program will run in fp16 */
    int fixable;     /* a fix exists and is tested */
    int ane_layout;  /* the fix is opt-in */
} lcase;

static const lcase lint_cases[] = {
    {"H1", c_h1, 0, 1, 0},           {"H2", c_h2, 0, 1, 0},      {"H3", c_h3, 1, 1, 0},
    {"H4", c_h4, 0, 1, 0},           {"H4", c_h4_fill, 0, 1, 0}, {"H5", c_h5, 0, 1, 0},
    {"H6", c_h6, 0, 1, 0},           {"H6", c_h6_dyn, 0, 1, 0},  {"H36", c_h36, 0, 1, 0},
    {"H7", c_h7, 0, 1, 0},           {"H8", c_h8, 0, 1, 0},      {"H9", c_h9, 0, 1, 0},
    {"H10", c_h10, 0, 1, 0},         {"H11", c_h11, 0, 1, 0},    {"H12", c_h12, 0, 1, 0},
    {"H13", c_h13, 0, 1, 0},         {"H14", c_h14, 1, 1, 0},    {"H15", c_h15, 0, 1, 0},
    {"H15", c_h15_inverse, 0, 0, 0}, {"H16", c_h16, 0, 1, 0},    {"H17", c_h17, 0, 0, 0},
    {"H18", c_h18, 0, 0, 0},         {"H19", c_h19, 0, 0, 0},    {"H20", c_h20, 0, 0, 0},
    {"H21", c_h21, 0, 0, 0},         {"H22", c_h22, 0, 1, 0},    {"H23", c_h23, 0, 0, 0},
    {"H24", c_h24, 0, 0, 0},         {"H25", c_h25, 0, 1, 1},    {"H27", c_h27, 0, 1, 0},
    {"H28", c_h28, 0, 0, 0},         {"H29", c_h29, 0, 0, 0},    {"H32", c_h32, 0, 1, 0},
    {"H33", c_h33, 0, 0, 0},         {"H35", c_h35, 0, 1, 0},    {"H35", c_h35_gather, 0, 1, 0},
    {"H35", c_h35_slice, 0, 1, 0},   {"H37", c_h37, 0, 0, 0},    {"H39", c_h39, 0, 1, 0},
};

#endif
