/* MIL resample and ONNX GridSample (issue #3). The kernel is checked against values worked out
 * by hand on a 2x3 image for every padding mode, both sampling modes, the three coordinate
 * modes and both align_corners; the GridSample lowering runs in the interpreter against an
 * ONNX-spec reference written here (denormalize, pad the coordinate, round or blend); the
 * refusals (bicubic, nearest + reflection without align_corners) name their reason. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test.h"
#include "test_onnx_run.h"

/* ---- the kernel on x = [[1,2,3],[4,5,6]] (1x1x2x3) ---- */
typedef struct rs_case {
    const char *sampling, *padding, *cmode;
    int align;
    float pad_value;
} rs_case;

/* Sample x at k points (x, y); 1 on success with the k values in out. */
static int run_resample(mk_test_ctx *tc, const rs_case *rc, int k, const float *pts, int as_int,
                        int fp16, float *out)
{
    static const float img[6] = {1, 2, 3, 4, 5, 6};
    mk_program *p = mk_ir_program_new(NULL, 6);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    CHECK(f != NULL);
    if (!f) return 0;
    mk_block *b = f->block;
    int64_t xd[4] = {1, 1, 2, 3}, gd[4] = {1, 1, k, 2};
    mk_type xt = mk_type_make(MK_DT_FP32, 4, xd);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_type gt = mk_type_make(as_int ? MK_DT_INT32 : MK_DT_FP32, 4, gd);
    int32_t ip[64];
    for (int i = 0; i < 2 * k; i++) ip[i] = (int32_t)pts[i];
    mk_value *g = mk_ir_const(p, b, "coords", &gt, as_int ? (const void *)ip : (const void *)pts,
                              (size_t)(2 * k) * 4, 0);
    uint8_t ac = (uint8_t)rc->align;
    mk_op *op = mk_ir_op_new(p, MK_OP_RESAMPLE, "rs");
    CHECK(x && g && op);
    if (!x || !g || !op) {
        mk_ir_program_free(p);
        return 0;
    }
    mk_ir_op_add_input(p, op, "x", x);
    mk_ir_op_add_input(p, op, "coordinates", g);
    mk_ir_op_add_input(p, op, "sampling_mode", mk_ir_const_str(p, b, "sm", rc->sampling));
    mk_ir_op_add_input(p, op, "padding_mode", mk_ir_const_str(p, b, "pm", rc->padding));
    mk_ir_op_add_input(p, op, "padding_value", mk_ir_const_f32(p, b, "pv", 1, &rc->pad_value, 1));
    mk_ir_op_add_input(p, op, "coordinates_mode", mk_ir_const_str(p, b, "cm", rc->cmode));
    mk_ir_op_add_input(p, op, "align_corners", mk_ir_const_bool(p, b, "ac", 1, &ac, 1));
    mk_type st = mk_type_scalar(MK_DT_FP32);
    mk_ir_op_add_output(p, op, "y", &st);
    mk_ir_block_append(b, op);
    mk_err e = {0};
    int ok = 0;
    if (mk_ir_infer_op(op, &e) != MK_OK) {
        CHECK_MSG(0, "infer: %s", e.msg);
        goto done;
    }
    CHECK(op->outputs[0]->type.rank == 4 && op->outputs[0]->type.dims[2] == 1 &&
          op->outputs[0]->type.dims[3] == k);
    mk_ir_block_set_outputs(p, b, 1, &op->outputs[0]);
    mk_err ve = {0};
    CHECK_MSG(mk_ir_verify(p, &ve) == MK_OK, "verify: %s", ve.msg);
    mk_tensor_list in = {0, NULL}, res = {0, NULL};
    mk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = mk_strdup_default("x");
    t.dtype = MK_DT_FP32;
    t.rank = 4;
    memcpy(t.dims, xd, sizeof xd);
    t.nbytes = sizeof img;
    t.data = malloc(sizeof img);
    memcpy(t.data, img, sizeof img);
    mk_tensor_list_push(&in, &t, NULL);
    mk_run_options ro = {fp16, 1, 0};
    if (mk_run(p, &ro, &in, &res, &e) != MK_OK)
        CHECK_MSG(0, "run: %s", e.msg);
    else if (res.n != 1 || res.items[0].nbytes != (size_t)k * 4)
        CHECK_MSG(0, "output has %zu bytes", res.n ? res.items[0].nbytes : 0);
    else {
        memcpy(out, res.items[0].data, (size_t)k * 4);
        ok = 1;
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&res);
done:
    mk_ir_program_free(p);
    return ok;
}

static void expect(mk_test_ctx *tc, const rs_case *rc, int k, const float *pts, const float *want,
                   int as_int)
{
    float got[32];
    if (!run_resample(tc, rc, k, pts, as_int, 0, got)) return;
    for (int i = 0; i < k; i++)
        CHECK_MSG(fabsf(got[i] - want[i]) <= 1e-5f, "%s/%s/%s ac=%d point (%g, %g): %g, want %g",
                  rc->sampling, rc->padding, rc->cmode, rc->align, (double)pts[2 * i],
                  (double)pts[2 * i + 1], (double)got[i], (double)want[i]);
}

TEST(resample_bilinear_padding_modes)
{
    /* unnormalized (x, y) points; x = [[1,2,3],[4,5,6]] */
    static const float pts[] = {1.5f, 0.5f, -0.5f, 0, -1, 0, 3, 0, -1.5f, 0, 4, 1, 0, -1, 2.5f, 0};
    /* (1.5,.5): (2.5+5.5)/2 = 4 everywhere inside */
    static const float constant[] = {4, 0.5f * 9 + 0.5f * 1, 9, 9, 9, 9, 9, 0.5f * 3 + 0.5f * 9};
    static const float border[] = {4, 1, 1, 3, 1, 6, 1, 3};
    /* reflection about the edge pixels: index -1 -> 1, 3 -> 1, -2 -> 2, 4 -> 0; row -1 -> 1 */
    static const float reflection[] = {4, 1.5f, 2, 2, 2.5f, 4, 4, 2.5f};
    /* symmetric: index -1 -> 0, -2 -> 1, 3 -> 2, 4 -> 1; row -1 -> 0 */
    static const float symmetric[] = {4, 1, 1, 3, 1.5f, 5, 1, 3};
    rs_case rc = {"bilinear", "constant", "unnormalized", 0, 9};
    expect(tc, &rc, 8, pts, constant, 0);
    rc.padding = "border";
    expect(tc, &rc, 8, pts, border, 0);
    rc.padding = "reflection";
    expect(tc, &rc, 8, pts, reflection, 0);
    rc.padding = "symmetric";
    expect(tc, &rc, 8, pts, symmetric, 0);
    rc.align = 1; /* ignored for unnormalized coordinates */
    expect(tc, &rc, 8, pts, symmetric, 0);
}

TEST(resample_nearest_and_int_coordinates)
{
    /* rounds halves up (floor(v + 0.5)): 0.5 -> 1, 1.5 -> 2, 2.5 -> 3, -0.1 -> 0; -0.6 -> -1 */
    static const float pts[] = {0.5f, 0, 1.5f, 0, 2.5f, 1, 2.4f, 1.6f, -0.6f, 0.4f, 1, 0.5f};
    static const float constant[] = {2, 3, -1, -1, -1, 5};
    static const float border[] = {2, 3, 6, 6, 1, 5};
    static const float reflection[] = {2, 3, 5, 3, 2, 5}; /* col 3 -> 1, row 2 -> 0, col -1 -> 1 */
    static const float symmetric[] = {2, 3, 6, 6, 1, 5};  /* col 3 -> 2, row 2 -> 1, col -1 -> 0 */
    rs_case rc = {"nearest", "constant", "unnormalized", 0, -1};
    expect(tc, &rc, 6, pts, constant, 0);
    rc.padding = "border";
    expect(tc, &rc, 6, pts, border, 0);
    rc.padding = "reflection";
    expect(tc, &rc, 6, pts, reflection, 0);
    rc.padding = "symmetric";
    expect(tc, &rc, 6, pts, symmetric, 0);
    /* int32 coordinates, bilinear: exact pixels */
    static const float ipts[] = {2, 1, 0, 0, -1, 0, 1, 1};
    static const float iwant[] = {6, 1, 7, 5};
    rs_case ri = {"bilinear", "constant", "unnormalized", 0, 7};
    expect(tc, &ri, 4, ipts, iwant, 1);
}

TEST(resample_normalized_coordinates)
{
    /* minus_one_to_one: align -> u = (g+1)/2*(W-1); no align -> u = ((g+1)*W-1)/2 */
    static const float pts[] = {-1, -1, 1, 1, 0, 0, 1, -1};
    static const float aligned[] = {1, 6, 3.5f, 3};
    /* no align: (-1,-1) -> (-0.5,-0.5): a quarter of pixel 1; (1,1) -> (2.5,1.5): a quarter
     * of 6; (0,0) -> (1, 0.5) = 3.5; (1,-1) -> (2.5,-0.5): a quarter of 3 */
    static const float unaligned[] = {0.25f, 1.5f, 3.5f, 0.75f};
    rs_case rc = {"bilinear", "constant", "normalized_minus_one_to_one", 1, 0};
    expect(tc, &rc, 4, pts, aligned, 0);
    rc.align = 0;
    expect(tc, &rc, 4, pts, unaligned, 0);
    /* zero_to_one: align -> u = g*(W-1); no align -> u = g*W - 0.5 */
    static const float zpts[] = {0.5f, 1, 0, 0, 0.5f, 0.75f};
    static const float zaligned[] = {5, 1, 2 * 0.25f + 5 * 0.75f};
    static const float zunaligned[] = {5 * 0.5f, 0.25f, 5};
    rc.cmode = "normalized_zero_to_one";
    rc.align = 1;
    expect(tc, &rc, 3, zpts, zaligned, 0);
    rc.align = 0;
    expect(tc, &rc, 3, zpts, zunaligned, 0);
}

TEST(resample_type_rule_and_fp16)
{
    float got[2];
    static const float pts[] = {1.5f, 0.5f, 0, 0};
    rs_case rc = {"bilinear", "border", "unnormalized", 0, 0};
    if (run_resample(tc, &rc, 2, pts, 0, 1, got))
        CHECK_MSG(fabsf(got[0] - 4) < 1e-2f && fabsf(got[1] - 1) < 1e-3f, "fp16: %g %g",
                  (double)got[0], (double)got[1]);
    const mk_op_param *pp = mk_ir_op_param(MK_OP_RESAMPLE, "coordinates", 15);
    REQUIRE(pp);
    CHECK(!(pp->dtypes & MK_DTBIT(MK_DT_FP16)) && (pp->dtypes & MK_DTBIT(MK_DT_INT32)));
    pp = mk_ir_op_param(MK_OP_RESAMPLE, "coordinates", 16);
    REQUIRE(pp);
    CHECK(pp->dtypes & MK_DTBIT(MK_DT_FP16));
    static const char *const consts[] = {"sampling_mode", "padding_mode", "padding_value",
                                         "coordinates_mode", "align_corners"};
    for (int i = 0; i < 5; i++) {
        pp = mk_ir_op_param(MK_OP_RESAMPLE, consts[i], 15);
        REQUIRE(pp);
        CHECK_MSG((pp->flags & MK_PARAM_REQUIRED) && (pp->flags & MK_PARAM_CONST) && !pp->def,
                  "%s must be a required constant without default", consts[i]);
    }
    /* an unknown padding mode is refused by the type rule */
    rs_case bad = {"bilinear", "wrap", "unnormalized", 0, 0};
    mk_program *p = mk_ir_program_new(NULL, 6);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    REQUIRE(f);
    int64_t xd[4] = {1, 1, 2, 3}, gd[4] = {1, 1, 1, 2};
    mk_type xt = mk_type_make(MK_DT_FP32, 4, xd), gt = mk_type_make(MK_DT_FP32, 4, gd);
    mk_op *op = mk_ir_op_new(p, MK_OP_RESAMPLE, "rs");
    REQUIRE(op);
    mk_ir_op_add_input(p, op, "x", mk_ir_function_add_input(p, f, "x", &xt));
    mk_ir_op_add_input(p, op, "coordinates", mk_ir_function_add_input(p, f, "g", &gt));
    mk_ir_op_add_input(p, op, "sampling_mode", mk_ir_const_str(p, f->block, "a", bad.sampling));
    mk_ir_op_add_input(p, op, "padding_mode", mk_ir_const_str(p, f->block, "b", bad.padding));
    mk_ir_op_add_input(p, op, "padding_value",
                       mk_ir_const_f32(p, f->block, "c", 1, &bad.pad_value, 1));
    mk_ir_op_add_input(p, op, "coordinates_mode", mk_ir_const_str(p, f->block, "d", bad.cmode));
    uint8_t z = 0;
    mk_ir_op_add_input(p, op, "align_corners", mk_ir_const_bool(p, f->block, "e", 1, &z, 1));
    mk_type st = mk_type_scalar(MK_DT_FP32);
    mk_ir_op_add_output(p, op, "y", &st);
    mk_ir_block_append(f->block, op);
    mk_err e = {0};
    CHECK(mk_ir_infer_op(op, &e) != MK_OK && strstr(e.msg, "wrap"));
    mk_ir_program_free(p);
}

/* ---- ONNX GridSample against a reference from the ONNX specification ---- */
static double reflect(double c, double lo, double hi)
{
    double span = hi - lo;
    if (span <= 0) return 0;
    double d = fabs(c - lo), flips = floor(d / span), extra = d - flips * span;
    return fmod(flips, 2) == 0 ? lo + extra : hi - extra;
}

static double src(double g, int64_t S, int align, int pad)
{
    double u = align ? (g + 1) / 2 * (double)(S - 1) : ((g + 1) * (double)S - 1) / 2;
    if (pad == 2) u = align ? reflect(u, 0, (double)(S - 1)) : reflect(u, -0.5, (double)S - 0.5);
    if (pad >= 1) u = fmin(fmax(u, 0), (double)(S - 1));
    return u;
}

static double px(const float *img, int64_t H, int64_t W, int pad, int64_t y, int64_t x)
{
    if (y < 0 || y >= H || x < 0 || x >= W) {
        if (pad == 0) return 0;
        y = y < 0 ? 0 : y >= H ? H - 1 : y;
        x = x < 0 ? 0 : x >= W ? W - 1 : x;
    }
    return img[y * W + x];
}

/* pad: 0 zeros, 1 border, 2 reflection; mode 0 bilinear, 1 nearest */
static void grid_case(mk_test_ctx *tc, int opset, int mode, int pad, int align)
{
    static const char *const pads[] = {"zeros", "border", "reflection"};
    enum { N = 1, C = 2, H = 3, W = 4, OH = 3, OW = 5 };
    ob b;
    ob_init(&b, opset);
    int64_t xd[4] = {N, C, H, W}, gd[4] = {N, OH, OW, 2};
    ob_input(&b, "X", 1, 4, xd);
    ob_input(&b, "grid", 1, 4, gd);
    Onnx__NodeProto *n = ob_node(&b, "GridSample", "X,grid", "Y");
    ob_attr_s(&b, n, "mode", mode ? "nearest" : opset >= 20 ? "linear" : "bilinear");
    ob_attr_s(&b, n, "padding_mode", pads[pad]);
    ob_attr_i(&b, n, "align_corners", align);
    ob_output(&b, "Y");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_RESAMPLE), 1);
    CHECK(ob_dims_are(ob_out_type(p, 0), 4, (int64_t[]){N, C, OH, OW}));
    float x[N * C * H * W], g[N * OH * OW * 2], y[N * C * OH * OW];
    for (int i = 0; i < N * C * H * W; i++) x[i] = (float)((i * 37) % 23) / 4 - 2;
    /* ties for nearest (0, +-0.5, +-1 land on half pixels with W = 4 or no align) and points
     * well outside the image */
    static const float ties[] = {0, 0.5f, -1, 1, -0.5f, -1.25f, 1.75f, 2.6f, -2.2f, 0.25f};
    for (int i = 0; i < N * OH * OW * 2; i++)
        g[i] = i < 10 ? ties[i] : (float)((i * 53) % 29) / 9.0f - 1.6f;
    const void *ins[2] = {x, g};
    if (run1(tc, p, 2, ins, y, sizeof y)) {
        int bad = 0;
        for (int c = 0; c < C; c++)
            for (int o = 0; o < OH * OW; o++) {
                const float *img = x + c * H * W;
                double u = src(g[2 * o], W, align, pad), v = src(g[2 * o + 1], H, align, pad);
                double want;
                if (mode)
                    want = px(img, H, W, pad, (int64_t)nearbyint(v), (int64_t)nearbyint(u));
                else {
                    int64_t x0 = (int64_t)floor(u), y0 = (int64_t)floor(v);
                    double wx = u - (double)x0, wy = v - (double)y0;
                    want = (px(img, H, W, pad, y0, x0) * (1 - wx) +
                            px(img, H, W, pad, y0, x0 + 1) * wx) *
                               (1 - wy) +
                           (px(img, H, W, pad, y0 + 1, x0) * (1 - wx) +
                            px(img, H, W, pad, y0 + 1, x0 + 1) * wx) *
                               wy;
                }
                double got = y[c * OH * OW + o];
                if (fabs(got - want) > 1e-5 + 1e-5 * fabs(want)) {
                    if (bad++ < 3)
                        printf("  %s %s ac=%d: (%g, %g) -> %g, want %g\n",
                               mode ? "nearest" : "bilinear", pads[pad], align, (double)g[2 * o],
                               (double)g[2 * o + 1], got, want);
                }
            }
        CHECK_MSG(bad == 0, "%s/%s/align %d: %d values differ", mode ? "nearest" : "bilinear",
                  pads[pad], align, bad);
    }
    mk_ir_program_free(p);
}

TEST(onnx_gridsample_every_mode)
{
    for (int mode = 0; mode < 2; mode++)
        for (int pad = 0; pad < 3; pad++)
            for (int align = 0; align < 2; align++) {
                if (mode == 1 && pad == 2 && align == 0) continue; /* refused, see below */
                grid_case(tc, 16, mode, pad, align);
            }
    grid_case(tc, 20, 0, 2, 0); /* opset 20 spelling "linear" */
}

static void refused(mk_test_ctx *tc, const char *mode, const char *pad, int align, const char *why)
{
    ob b;
    ob_init(&b, 16);
    int64_t xd[4] = {1, 1, 3, 4}, gd[4] = {1, 2, 2, 2};
    ob_input(&b, "X", 1, 4, xd);
    ob_input(&b, "grid", 1, 4, gd);
    Onnx__NodeProto *n = ob_node(&b, "GridSample", "X,grid", "Y");
    ob_attr_s(&b, n, "mode", mode);
    ob_attr_s(&b, n, "padding_mode", pad);
    ob_attr_i(&b, n, "align_corners", align);
    ob_output(&b, "Y");
    mk_program *p = NULL;
    mk_err e = {0};
    CHECK(ob_import(&b, NULL, &p, &e) != MK_OK);
    CHECK_MSG(strstr(e.msg, "GridSample") && strstr(e.msg, why), "message: %s", e.msg);
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_gridsample_refusals)
{
    refused(tc, "bicubic", "zeros", 0, "bicubic");
    refused(tc, "nearest", "reflection", 0, "align_corners=0");
}
