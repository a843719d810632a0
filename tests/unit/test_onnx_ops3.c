/* ONNX front end, third round: recurrent forms unrolled into primitive MIL ops (GRU with
 * linear_before_reset=1, LSTM clip), the ops added in this round and real-model patterns
 * (shapes from Shape chains on flexible inputs, run-time Split/Slice/Pad/Squeeze inputs,
 * SiLU and tanh-GELU fusion). Expected values are computed here from the ONNX definitions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

static double sigm(double v)
{
    return 1 / (1 + exp(-v));
}

/* GRU with one unit and one input feature, weights z, r, h distinct: the ONNX equations by
 * hand for both linear_before_reset forms, forward and reverse, with an initial state. */
static void gru_case(mk_test_ctx *tc, int lbr, int reverse)
{
    const float W[3] = {0.5f, -0.8f, 1.2f}, R[3] = {0.3f, 0.9f, -1.1f};
    const float Bv[6] = {0.1f, -0.2f, 0.3f, 0.05f, 0.4f, -0.6f};
    const float x[3] = {1.0f, -0.5f, 2.0f}, h0 = 0.7f;
    ob b;
    ob_init(&b, 14);
    int64_t xd[3] = {3, 1, 1}, wd[3] = {1, 3, 1}, bd[2] = {1, 6}, hd[3] = {1, 1, 1};
    ob_input(&b, "X", 1, 3, xd);
    ob_input(&b, "h0", 1, 3, hd);
    ob_init_f(&b, "W", 3, wd, W);
    ob_init_f(&b, "R", 3, wd, R);
    ob_init_f(&b, "B", 2, bd, Bv);
    Onnx__NodeProto *n = ob_node(&b, "GRU", "X,W,R,B,,h0", "Y,Yh");
    ob_attr_i(&b, n, "hidden_size", 1);
    if (lbr) ob_attr_i(&b, n, "linear_before_reset", 1);
    if (reverse) ob_attr_s(&b, n, "direction", "reverse");
    ob_output(&b, "Y");
    ob_output(&b, "Yh");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        /* the unrolled form for lbr=1 (MIL gru resets before the product); native otherwise */
        CHECK_EQ_INT(ob_count(p, MK_OP_GRU), lbr ? 0 : 1);
        double h = h0, want[3];
        for (int s = 0; s < 3; s++) {
            int t = reverse ? 2 - s : s;
            double z = sigm(W[0] * x[t] + R[0] * h + Bv[0] + Bv[3]);
            double r = sigm(W[1] * x[t] + R[1] * h + Bv[1] + Bv[4]);
            double hh = lbr ? tanh(W[2] * x[t] + r * (R[2] * h + Bv[5]) + Bv[2])
                            : tanh(W[2] * x[t] + R[2] * (r * h) + Bv[5] + Bv[2]);
            h = (1 - z) * hh + z * h;
            want[t] = h;
        }
        float y[3], yh;
        const void *d[2] = {x, &h0};
        if (run_k(tc, p, 2, d, 0, y, sizeof y))
            for (int t = 0; t < 3; t++)
                CHECK_MSG(fabs(y[t] - want[t]) < 1e-5, "lbr=%d rev=%d Y[%d] = %g, want %g", lbr,
                          reverse, t, y[t], want[t]);
        if (run_k(tc, p, 2, d, 1, &yh, sizeof yh))
            CHECK_MSG(fabs(yh - h) < 1e-5, "lbr=%d rev=%d Y_h = %g, want %g", lbr, reverse, yh, h);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_gru_linear_before_reset_by_hand)
{
    gru_case(tc, 1, 0);
    gru_case(tc, 1, 1);
    gru_case(tc, 0, 0);
    gru_case(tc, 0, 1);
}

/* LSTM clip bounds the inputs of every activation (not the cell state): by hand. */
TEST(onnx_lstm_clip_unrolled_by_hand)
{
    const float W[4] = {2.0f, -3.0f, 1.5f, 4.0f}, R[4] = {0.5f, 0.2f, -0.7f, 1.0f};
    const float x[2] = {1.0f, 2.0f}, clip = 0.8f;
    ob b;
    ob_init(&b, 14);
    int64_t xd[3] = {2, 1, 1}, wd[3] = {1, 4, 1};
    ob_input(&b, "X", 1, 3, xd);
    ob_init_f(&b, "W", 3, wd, W);
    ob_init_f(&b, "R", 3, wd, R);
    Onnx__NodeProto *n = ob_node(&b, "LSTM", "X,W,R", "Y,Yh,Yc");
    ob_attr_i(&b, n, "hidden_size", 1);
    ob_attr_f(&b, n, "clip", clip);
    ob_output(&b, "Y");
    ob_output(&b, "Yc");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_LSTM), 0);
        CHECK(ob_count(p, MK_OP_CLIP) > 0);
        double h = 0, cs = 0, want[2];
#define CL(v) ((v) > clip ? clip : (v) < -clip ? -clip : (v))
        for (int t = 0; t < 2; t++) { /* gates i, o, f, c */
            double i = sigm(CL(W[0] * x[t] + R[0] * h)), o = sigm(CL(W[1] * x[t] + R[1] * h));
            double f = sigm(CL(W[2] * x[t] + R[2] * h)), g = tanh(CL(W[3] * x[t] + R[3] * h));
            cs = f * cs + i * g;
            h = o * tanh(cs);
            want[t] = h;
        }
#undef CL
        float y[2], yc;
        const void *d[1] = {x};
        if (run_k(tc, p, 1, d, 0, y, sizeof y))
            for (int t = 0; t < 2; t++)
                CHECK_MSG(fabs(y[t] - want[t]) < 1e-5, "Y[%d] = %g, want %g", t, y[t], want[t]);
        if (run_k(tc, p, 1, d, 1, &yc, sizeof yc))
            CHECK_MSG(fabs(yc - cs) < 1e-5, "Y_c = %g, want %g", yc, cs);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

/* ---- activation fusion: SiLU and the two GELU forms ---- */

static void scalar_init(ob *b, const char *name, float v)
{
    ob_init_f(b, name, 0, NULL, &v);
}

/* form 0: x * sigmoid(x); 1: erf GELU (x * (1 + erf(x / sqrt2))) * 0.5; 2: tanh GELU written
 * as (0.5 * x) * (1 + tanh(0.79788 * (x + 0.044715 * pow(x, 3)))); 3: erf GELU with the
 * intermediate also a graph output (must stay unfused). */
static void act_model(ob *b, int form)
{
    ob_init(b, 13);
    ob_input(b, "x", 1, 2, (int64_t[]){3, 5});
    if (form == 0) {
        ob_node(b, "Sigmoid", "x", "s");
        ob_node(b, "Mul", "x,s", "y");
    } else if (form == 1 || form == 3) {
        scalar_init(b, "rt2", 1.4142135f);
        scalar_init(b, "one", 1.0f);
        scalar_init(b, "half", 0.5f);
        ob_node(b, "Div", "x,rt2", "u");
        ob_node(b, "Erf", "u", "e");
        ob_node(b, "Add", "e,one", "a");
        ob_node(b, "Mul", "x,a", "m");
        ob_node(b, "Mul", "m,half", "y");
    } else {
        scalar_init(b, "three", 3.0f);
        scalar_init(b, "c", 0.044715f);
        scalar_init(b, "k", 0.7978845608f);
        scalar_init(b, "one", 1.0f);
        scalar_init(b, "half", 0.5f);
        ob_node(b, "Pow", "x,three", "x3");
        ob_node(b, "Mul", "c,x3", "cx3");
        ob_node(b, "Add", "x,cx3", "in");
        ob_node(b, "Mul", "in,k", "kin");
        ob_node(b, "Tanh", "kin", "t");
        ob_node(b, "Add", "one,t", "a");
        ob_node(b, "Mul", "half,x", "hx");
        ob_node(b, "Mul", "hx,a", "y");
    }
    ob_output(b, "y");
    if (form == 3) ob_output(b, "a");
}

TEST(onnx_fuse_silu_and_gelu_patterns)
{
    static const mk_op_kind want[4] = {MK_OP_SILU, MK_OP_GELU, MK_OP_GELU, MK_OP__COUNT};
    for (int form = 0; form < 4; form++) {
        ob b;
        act_model(&b, form);
        ob_pack(&b);
        mk_program *fused = NULL, *plain = NULL;
        mk_err e = {0};
        CHECK(mk_onnx_import_mem(b.packed, b.packed_len, "f.onnx", NULL, NULL, &fused, &e) ==
              MK_OK);
        CHECK(mk_onnx_import_mem_ex(b.packed, b.packed_len, "f.onnx", NULL, MK_ONNX_NO_FUSE, NULL,
                                    &plain, &e) == MK_OK);
        if (fused && plain) {
            int n_silu = ob_count(fused, MK_OP_SILU), n_gelu = ob_count(fused, MK_OP_GELU);
            CHECK_MSG(n_silu == (want[form] == MK_OP_SILU), "form %d: %d silu", form, n_silu);
            CHECK_MSG(n_gelu == (want[form] == MK_OP_GELU), "form %d: %d gelu", form, n_gelu);
            if (want[form] != MK_OP__COUNT) {
                /* nothing of the pattern is left once dead ops are gone */
                CHECK_EQ_INT(ob_count(fused, MK_OP_MUL), 0);
                CHECK_EQ_INT(ob_count(fused, MK_OP_SIGMOID) + ob_count(fused, MK_OP_ERF) +
                                 ob_count(fused, MK_OP_TANH),
                             0);
            }
            if (form == 1 || form == 2) {
                mk_op *g = ob_find(fused, MK_OP_GELU);
                CHECK_STR(g ? mk_ir_arg_str(g, "mode") : NULL,
                          form == 1 ? "EXACT" : "TANH_APPROXIMATION");
            }
            float x[15], a[15], c[15];
            for (int i = 0; i < 15; i++) x[i] = (float)i * 0.5f - 3.5f;
            const void *d[1] = {x};
            if (run_k(tc, fused, 1, d, 0, a, sizeof a) && run_k(tc, plain, 1, d, 0, c, sizeof c))
                for (int i = 0; i < 15; i++)
                    CHECK_MSG(fabsf(a[i] - c[i]) <= 1e-5f + 1e-4f * fabsf(c[i]),
                              "form %d: fused %g, unfused %g at x=%g", form, a[i], c[i], x[i]);
        }
        mk_ir_program_free(fused);
        mk_ir_program_free(plain);
        ob_free(&b);
    }
}
