/* ONNX front end pattern fusion: the decomposed layer normalization (ReduceMean, Sub,
 * Pow|Mul, ReduceMean, Add, Sqrt, Div, optional Mul/Add affine) becomes one MIL layer_norm, and
 * the written-out hard_swish / hard_sigmoid (x * clip(x + 3, 0, 6) / 6) become sigmoid_hard.
 * Structural checks, cases that must stay unfused, and interpreter equivalence checks of fused
 * vs unfused programs on random inputs. */
#include <math.h>
#include <stdio.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"

/* Options for the decomposed pattern. */
typedef struct ln_opts {
    int opset;
    int use_mul;        /* Mul(d, d) instead of Pow(d, 2) */
    int rank;           /* x rank (3) */
    int n_axes;         /* trailing axes normalized */
    int gamma_rank;     /* 0 = no Mul; else gamma rank (leading 1s allowed) */
    int beta;           /* add beta */
    int extra_d_output; /* expose d as a graph output too (blocks fusion) */
    int axes_not_trailing;
} ln_opts;

static const int64_t X_DIMS[3] = {2, 5, 8};

static void build_ln(ob *b, const ln_opts *o)
{
    ob_init(b, o->opset);
    ob_input(b, "x", 1, 3, X_DIMS);
    int64_t axes[3];
    for (int i = 0; i < o->n_axes; i++) axes[i] = 3 - o->n_axes + i - 3; /* negative form */
    if (o->axes_not_trailing) axes[0] = 1;
    Onnx__NodeProto *n;
    if (o->opset >= 18) {
        int64_t na = o->n_axes;
        ob_init_i(b, "axes", 1, &na, axes);
        ob_node(b, "ReduceMean", "x,axes", "m");
    } else {
        n = ob_node(b, "ReduceMean", "x", "m");
        ob_attr_ints(b, n, "axes", o->n_axes, axes);
    }
    ob_node(b, "Sub", "x,m", "d");
    if (o->use_mul) {
        ob_node(b, "Mul", "d,d", "sq");
    } else {
        float two = 2.0f;
        ob_init_f(b, "two", 0, NULL, &two);
        ob_node(b, "Pow", "d,two", "sq");
    }
    if (o->opset >= 18) {
        ob_node(b, "ReduceMean", "sq,axes", "var");
    } else {
        n = ob_node(b, "ReduceMean", "sq", "var");
        ob_attr_ints(b, n, "axes", o->n_axes, axes);
    }
    float eps = 1e-5f;
    ob_init_f(b, "eps", 0, NULL, &eps);
    ob_node(b, "Add", "var,eps", "ve");
    ob_node(b, "Sqrt", "ve", "sd");
    ob_node(b, "Div", "d,sd", o->gamma_rank ? "nrm" : "y");
    if (o->gamma_rank) {
        int64_t gd[3] = {1, 1, 1};
        for (int i = 0; i < o->n_axes; i++)
            gd[o->gamma_rank - o->n_axes + i] = X_DIMS[3 - o->n_axes + i];
        float gv[64], bv[64];
        for (int i = 0; i < 64; i++)
            gv[i] = 0.5f + 0.1f * (float)(i % 5), bv[i] = 0.2f * (float)(i % 3) - 0.1f;
        ob_init_f(b, "gamma", o->gamma_rank, gd, gv);
        ob_node(b, "Mul", "nrm,gamma", o->beta ? "sc" : "y");
        if (o->beta) {
            ob_init_f(b, "beta", o->gamma_rank, gd, bv);
            ob_node(b, "Add", "sc,beta", "y");
        }
    }
    ob_output(b, "y");
    if (o->extra_d_output) ob_output(b, "d");
}

static mk_program *import_flags(mk_test_ctx *tc, ob *b, unsigned flags)
{
    mk_program *p = NULL;
    mk_err e = {0};
    if (!b->packed) ob_pack(b);
    mk_status st =
        mk_onnx_import_mem_ex(b->packed, b->packed_len, "ln.onnx", NULL, flags, NULL, &p, &e);
    CHECK_MSG(st == MK_OK, "import: %s", e.msg);
    if (st != MK_OK) return NULL;
    mk_err ve = {0};
    CHECK_MSG(mk_ir_verify(p, &ve) == MK_OK, "verify: %s", ve.msg);
    return p;
}

/* Max |a-b| over output 0 of both programs on the same random input; -1 on failure. */
static double run_diff(mk_test_ctx *tc, const mk_program *a, const mk_program *b)
{
    mk_tensor_list in = {0, NULL}, oa = {0, NULL}, obl = {0, NULL};
    mk_err e = {0};
    double worst = -1;
    mk_run_options ro = {0};
    ro.threads = 1;
    if (mk_random_inputs(a, 7, &in, &e) != MK_OK) {
        CHECK_MSG(0, "random inputs: %s", e.msg);
        return -1;
    }
    if (mk_run(a, &ro, &in, &oa, &e) != MK_OK || mk_run(b, &ro, &in, &obl, &e) != MK_OK) {
        CHECK_MSG(0, "run: %s", e.msg);
        goto out;
    }
    if (oa.n < 1 || obl.n < 1 || oa.items[0].nbytes != obl.items[0].nbytes ||
        oa.items[0].dtype != 11) {
        CHECK_MSG(0, "outputs differ in shape");
        goto out;
    }
    worst = 0;
    size_t n = oa.items[0].nbytes / 4;
    const float *x = oa.items[0].data, *y = obl.items[0].data;
    double mag = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)x[i] - (double)y[i]);
        if (!(d <= worst)) worst = d;
        mag += fabs(y[i]);
    }
    CHECK_MSG(mag > 0.1 * (double)n, "outputs are suspiciously small (mean |y| %g)",
              mag / (double)n);
out:
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&oa);
    mk_tensor_list_free(&obl);
    return worst;
}

static void check_fused(mk_test_ctx *tc, const ln_opts *o, int want_gamma, int want_beta)
{
    ob b;
    build_ln(&b, o);
    mk_program *f = import_flags(tc, &b, 0), *u = import_flags(tc, &b, MK_ONNX_NO_FUSE);
    if (f && u) {
        CHECK_EQ_INT(ob_count(f, MK_OP_LAYER_NORM), 1);
        CHECK_EQ_INT(ob_count(f, MK_OP_REDUCE_MEAN), 0);
        CHECK_EQ_INT(ob_count(f, MK_OP_SQRT), 0);
        CHECK_EQ_INT(ob_count(f, MK_OP_REAL_DIV), 0);
        CHECK_EQ_INT(ob_count(f, MK_OP_MUL), 0);
        CHECK_EQ_INT(ob_count(f, MK_OP_ADD), 0);
        CHECK_EQ_INT(ob_count(u, MK_OP_LAYER_NORM), 0);
        CHECK_EQ_INT(ob_count(u, MK_OP_REDUCE_MEAN), 2);
        mk_op *ln = ob_find(f, MK_OP_LAYER_NORM);
        if (ln) {
            int32_t ax[8];
            int na = 0;
            float eps = 0;
            CHECK(mk_ir_arg_i32s(ln, "axes", ax, 8, &na));
            CHECK_EQ_INT(na, o->n_axes);
            for (int i = 0; i < na; i++) CHECK_EQ_INT(ax[i], 3 - o->n_axes + i);
            CHECK(mk_ir_arg_f32(ln, "epsilon", &eps) && fabsf(eps - 1e-5f) < 1e-9f);
            CHECK_EQ_INT(mk_ir_arg(ln, "gamma") != NULL, want_gamma);
            CHECK_EQ_INT(mk_ir_arg(ln, "beta") != NULL, want_beta);
            if (mk_ir_arg(ln, "gamma")) CHECK_EQ_INT(mk_ir_arg(ln, "gamma")->type.rank, o->n_axes);
        }
        CHECK_STR(mk_ir_main(f)->block->outputs[0]->name, "y");
        double d = run_diff(tc, f, u);
        CHECK_MSG(d >= 0 && d <= 1e-5, "fused vs unfused differ by %g", d);
    }
    mk_ir_program_free(f);
    mk_ir_program_free(u);
    ob_free(&b);
}

TEST(onnx_fuse_layer_norm_pow_gamma_beta)
{
    ln_opts o = {13, 0, 3, 1, 1, 1, 0, 0};
    check_fused(tc, &o, 1, 1);
}

TEST(onnx_fuse_layer_norm_mul_two_axes_gamma_leading_ones)
{
    ln_opts o = {13, 1, 3, 2, 3, 0, 0, 0};
    check_fused(tc, &o, 1, 0);
}

TEST(onnx_fuse_layer_norm_opset18_axes_input_no_affine)
{
    ln_opts o = {18, 0, 3, 1, 0, 0, 0, 0};
    check_fused(tc, &o, 0, 0);
}

TEST(onnx_fuse_layer_norm_left_alone)
{
    /* d also leaves the graph: fusing would drop it */
    ln_opts o1 = {13, 0, 3, 1, 1, 1, 1, 0};
    /* normalizing over a non-trailing axis set */
    ln_opts o2 = {13, 0, 3, 1, 0, 0, 0, 1};
    const ln_opts *cases[2] = {&o1, &o2};
    for (int k = 0; k < 2; k++) {
        ob b;
        build_ln(&b, cases[k]);
        mk_program *p = import_flags(tc, &b, 0);
        if (p) {
            CHECK_EQ_INT(ob_count(p, MK_OP_LAYER_NORM), 0);
            CHECK_EQ_INT(ob_count(p, MK_OP_REDUCE_MEAN), 2);
            CHECK_EQ_INT(ob_count(p, MK_OP_SQRT), 1);
        }
        mk_ir_program_free(p);
        ob_free(&b);
    }
}

/* ---- hard_swish / hard_sigmoid written out (PaddlePaddle: x * Clip(x + 3, 0, 6) / 6) ---- */

/* Options for the decomposed hard_swish / hard_sigmoid. */
typedef struct hs_opts {
    int swish;     /* multiply by x */
    int mul_first; /* x * (clip / 6) instead of (x * clip) / 6 */
    int by_sixth;  /* Mul by 1/6 instead of Div by 6 */
    int commute;   /* constants and x on the other side of Add / Mul */
    int opset;     /* < 11: Clip bounds as attributes */
    float add, lo, hi, div;
    int share;   /* 1: clip output also a graph output; 2: the /6 value also one */
    int other_x; /* multiply by a second input instead of x */
} hs_opts;

static const int64_t HS_DIMS[4] = {2, 3, 4, 5};

static void build_hs(ob *b, const hs_opts *o)
{
    ob_init(b, o->opset);
    ob_input(b, "x", 1, 4, HS_DIMS);
    if (o->other_x) ob_input(b, "z", 1, 4, HS_DIMS);
    const char *mx = o->other_x ? "z" : "x";
    float k6 = o->by_sixth ? 1.0f / o->div : o->div;
    ob_init_f(b, "three", 0, NULL, &o->add);
    ob_init_f(b, "six", 0, NULL, &k6);
    ob_node(b, "Add", o->commute ? "three,x" : "x,three", "t");
    if (o->opset < 11) {
        Onnx__NodeProto *n = ob_node(b, "Clip", "t", "c");
        ob_attr_f(b, n, "min", o->lo);
        ob_attr_f(b, n, "max", o->hi);
    } else {
        ob_init_f(b, "lo", 0, NULL, &o->lo);
        ob_init_f(b, "hi", 0, NULL, &o->hi);
        ob_node(b, "Clip", "t,lo,hi", "c");
    }
    const char *scale = o->by_sixth ? "Mul" : "Div";
    char ins[64];
    if (!o->swish || o->mul_first) {
        snprintf(ins, sizeof ins, o->commute && o->by_sixth ? "six,c" : "c,six");
        ob_node(b, scale, ins, o->swish ? "h" : "y");
        if (o->swish) {
            snprintf(ins, sizeof ins, o->commute ? "h,%s" : "%s,h", mx);
            ob_node(b, "Mul", ins, "y");
        }
    } else {
        snprintf(ins, sizeof ins, o->commute ? "c,%s" : "%s,c", mx);
        ob_node(b, "Mul", ins, "m");
        ob_node(b, scale, o->commute && o->by_sixth ? "six,m" : "m,six", "y");
    }
    ob_output(b, "y");
    if (o->share == 1) ob_output(b, "c");
    if (o->share == 2) ob_output(b, "h");
}

/* Output 0 of both programs on x spanning [-5, 5] (the kinks at -3 and 3 included): checks
 * |a - b| <= 1e-6 max(1, |b|) and that b is the hard_swish / hard_sigmoid formula. */
static void hs_equal(mk_test_ctx *tc, const mk_program *a, const mk_program *b, int swish)
{
    mk_tensor_list in = {0, NULL}, oa = {0, NULL}, obl = {0, NULL};
    mk_err e = {0};
    mk_run_options ro = {0};
    ro.threads = 1;
    if (mk_random_inputs(a, 11, &in, &e) != MK_OK) {
        CHECK_MSG(0, "random inputs: %s", e.msg);
        return;
    }
    float *x = in.items[0].data;
    size_t n = in.items[0].nbytes / sizeof *x;
    unsigned s = 12345;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = i < 21 ? -5.0f + 0.5f * (float)i : -5.0f + 10.0f * (float)(s >> 8) / 16777216.0f;
    }
    if (mk_run(a, &ro, &in, &oa, &e) != MK_OK || mk_run(b, &ro, &in, &obl, &e) != MK_OK) {
        CHECK_MSG(0, "run: %s", e.msg);
        goto out;
    }
    REQUIRE(oa.n >= 1 && obl.n >= 1 && oa.items[0].nbytes == n * 4 && obl.items[0].nbytes == n * 4);
    const float *ya = oa.items[0].data, *yb = obl.items[0].data;
    double worst = 0, worst_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double xd = x[i], h = fmin(fmax(xd + 3, 0), 6) / 6, r = swish ? xd * h : h;
        double d = fabs((double)ya[i] - yb[i]) / fmax(1.0, fabs(yb[i]));
        double dr = fabs(r - yb[i]) / fmax(1.0, fabs(r));
        if (!(d <= worst)) worst = d;
        if (!(dr <= worst_ref)) worst_ref = dr;
    }
    CHECK_MSG(worst <= 1e-6, "fused vs unfused differ by %g (relative)", worst);
    CHECK_MSG(worst_ref <= 1e-6, "unfused vs formula differ by %g (relative)", worst_ref);
out:
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&oa);
    mk_tensor_list_free(&obl);
}

static void check_hs(mk_test_ctx *tc, const hs_opts *o)
{
    ob b;
    build_hs(&b, o);
    mk_program *f = import_flags(tc, &b, 0), *u = import_flags(tc, &b, MK_ONNX_NO_FUSE);
    if (f && u) {
        CHECK_EQ_INT(ob_count(u, MK_OP_CLIP), 1);
        CHECK_EQ_INT(ob_count(u, MK_OP_SIGMOID_HARD), 0);
        CHECK_EQ_INT(ob_count(f, MK_OP_SIGMOID_HARD), 1);
        CHECK_EQ_INT(ob_count(f, MK_OP_CLIP), 0);
        CHECK_EQ_INT(ob_count(f, MK_OP_ADD), 0);
        CHECK_EQ_INT(ob_count(f, MK_OP_REAL_DIV), 0);
        CHECK_EQ_INT(ob_count(f, MK_OP_MUL), o->swish);
        mk_op *hs = ob_find(f, MK_OP_SIGMOID_HARD);
        float al = 0, be = 0;
        if (hs) {
            CHECK(mk_ir_arg_f32(hs, "alpha", &al) && fabsf(al - 1.0f / 6) < 1e-7f);
            CHECK(mk_ir_arg_f32(hs, "beta", &be) && be == 0.5f);
            CHECK_STR(mk_ir_arg(hs, "x")->name, "x");
        }
        if (o->swish) {
            mk_op *m = ob_find(f, MK_OP_MUL);
            CHECK(m && hs && mk_ir_arg(m, "x") == mk_ir_arg(hs, "x") &&
                  mk_ir_arg(m, "y") == hs->outputs[0]);
        }
        CHECK_STR(mk_ir_main(f)->block->outputs[0]->name, "y");
        hs_equal(tc, f, u, o->swish);
    }
    mk_ir_program_free(f);
    mk_ir_program_free(u);
    ob_free(&b);
}

TEST(onnx_fuse_hard_swish_forms)
{
    /* swish, mul_first, by_sixth, commute, opset, add, lo, hi, div, share, other_x */
    const hs_opts forms[] = {
        {1, 0, 0, 0, 13, 3, 0, 6, 6, 0, 0}, /* PaddlePaddle: (x * clip) / 6 */
        {1, 0, 1, 1, 13, 3, 0, 6, 6, 0, 0}, /* (1/6) * (clip * x), 3 + x */
        {1, 1, 0, 0, 13, 3, 0, 6, 6, 0, 0}, /* x * (clip / 6) */
        {1, 1, 1, 1, 13, 3, 0, 6, 6, 0, 0}, /* (1/6 * clip) * x */
        {1, 0, 1, 0, 10, 3, 0, 6, 6, 0, 0}, /* opset 10 Clip attributes, (x * clip) * 1/6 */
        {1, 0, 0, 0, 13, 3.0000002f, 0, 6.0000005f, 5.9999995f, 0, 0}, /* within tolerance */
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) check_hs(tc, &forms[i]);
}

TEST(onnx_fuse_hard_sigmoid_forms)
{
    const hs_opts forms[] = {
        {0, 0, 0, 0, 13, 3, 0, 6, 6, 0, 0}, /* clip(x + 3, 0, 6) / 6 */
        {0, 0, 1, 1, 13, 3, 0, 6, 6, 0, 0}, /* (1/6) * clip(3 + x, 0, 6) */
        {0, 0, 1, 0, 9, 3, 0, 6, 6, 0, 0},  /* opset 9 attributes, clip * 1/6 */
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) check_hs(tc, &forms[i]);
}

TEST(onnx_fuse_hard_swish_shared_tail_fuses_hard_sigmoid_only)
{
    /* x * h with h = clip(x + 3, 0, 6) / 6 also a graph output: h itself is still fusable */
    const hs_opts o = {1, 1, 0, 0, 13, 3, 0, 6, 6, 2, 0};
    ob b;
    build_hs(&b, &o);
    mk_program *p = import_flags(tc, &b, 0);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_SIGMOID_HARD), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_CLIP), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_REAL_DIV), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_MUL), 1);
        CHECK_STR(mk_ir_main(p)->block->outputs[1]->name, "h");
        mk_op *hs = ob_find(p, MK_OP_SIGMOID_HARD);
        CHECK(hs && mk_ir_main(p)->block->outputs[1] == hs->outputs[0]);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_fuse_hard_swish_near_misses)
{
    const hs_opts cases[] = {
        {1, 0, 0, 0, 13, 2.5f, 0, 6, 6, 0, 0},  /* x + 2.5 */
        {1, 0, 0, 0, 13, 3, 0.1f, 6, 6, 0, 0},  /* clip low 0.1 */
        {1, 0, 0, 0, 13, 3, 0, 5, 6, 0, 0},     /* clip high 5 */
        {1, 0, 0, 0, 13, 3, 0, 6, 6.01f, 0, 0}, /* / 6.01 */
        {1, 0, 1, 0, 13, 3, 0, 6, 5, 0, 0},     /* * 1/5 */
        {0, 0, 0, 0, 13, 3, 0, 6, 7, 0, 0},     /* hard sigmoid / 7 */
        {1, 0, 0, 0, 13, 3, 0, 6, 6, 1, 0},     /* clip output shared */
        {0, 0, 0, 0, 13, 3, 0, 6, 6, 1, 0},     /* clip output shared (hard sigmoid) */
        {1, 0, 0, 0, 13, 3, 0, 6, 6, 0, 1},     /* z * clip(x + 3, 0, 6) / 6 */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ob b;
        build_hs(&b, &cases[k]);
        mk_program *p = import_flags(tc, &b, 0);
        if (p) {
            CHECK_MSG(ob_count(p, MK_OP_SIGMOID_HARD) == 0, "case %zu fused", k);
            CHECK_EQ_INT(ob_count(p, MK_OP_CLIP), 1);
            CHECK_EQ_INT(ob_count(p, MK_OP_ADD), 1);
        }
        mk_ir_program_free(p);
        ob_free(&b);
    }
}
