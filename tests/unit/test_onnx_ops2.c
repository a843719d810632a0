/* ONNX front end, second round of lowerings: structural checks (the MIL ops emitted) plus
 * small interpreter runs whose expected values are computed here from the ONNX definitions:
 * GatherElements, Trilu, CastLike, ArgMax select_last_index, LayerNormalization statistics,
 * integer Div truncation, Mod fmod, Selu, matrix Resize (cubic, fractional nearest), opsets
 * before 7, and inputs baked in as tensors (mk_convert_options.bind_tensors, --bind @npy). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

TEST(onnx_gather_elements_to_gather_along_axis)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[2] = {3, 4};
    ob_input(&b, "x", 1, 2, xd);
    int64_t ci[6] = {0, -1, 2, 1, 0, -4};
    int64_t cd[2] = {3, 2};
    ob_init_i(&b, "ci", 2, cd, ci);
    Onnx__NodeProto *n = ob_node(&b, "GatherElements", "x,ci", "y");
    ob_attr_i(&b, n, "axis", 1);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_GATHER_ALONG_AXIS), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_SELECT), 0); /* constant indices normalized at import */
        float x[12], y[6];
        for (int i = 0; i < 12; i++) x[i] = (float)(10 * i);
        const void *d[1] = {x};
        if (run1(tc, p, 1, d, y, sizeof y))
            for (int i = 0; i < 6; i++) {
                int64_t j = ci[i] < 0 ? ci[i] + 4 : ci[i];
                CHECK_MSG(y[i] == x[(i / 2) * 4 + j], "y[%d] = %g", i, y[i]);
            }
    }
    mk_ir_program_free(p);
    ob_free(&b);

    /* run-time indices: negative ones wrap with a select */
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 2, xd);
    ob_input(&b, "i", 7, 2, cd);
    n = ob_node(&b, "GatherElements", "x,i", "y");
    ob_attr_i(&b, n, "axis", 1);
    ob_output(&b, "y");
    p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_GATHER_ALONG_AXIS), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_SELECT), 1);
        float x[12], y[6];
        int32_t iv[6] = {0, -1, 2, 1, 0, -4};
        for (int i = 0; i < 12; i++) x[i] = (float)(10 * i);
        const void *d[2] = {x, iv};
        if (run1(tc, p, 2, d, y, sizeof y))
            for (int i = 0; i < 6; i++) {
                int j = iv[i] < 0 ? iv[i] + 4 : iv[i];
                CHECK_MSG(y[i] == x[(i / 2) * 4 + j], "y[%d] = %g", i, y[i]);
            }
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

/* Trilu with k given as a constant (kc) or a run-time input (kc NULL); checks the ops and
 * every element against the definition. */
static void trilu_case(mk_test_ctx *tc, int upper, const int64_t *kc, int runtime_k,
                       mk_op_kind want)
{
    ob b;
    ob_init(&b, 14);
    int64_t xd[3] = {2, 4, 5};
    ob_input(&b, "x", 1, 3, xd);
    if (kc) ob_init_i(&b, "k", 0, NULL, kc);
    if (runtime_k) ob_input(&b, "k", 7, 0, NULL);
    Onnx__NodeProto *n = ob_node(&b, "Trilu", kc || runtime_k ? "x,k" : "x", "y");
    ob_attr_i(&b, n, "upper", upper);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, want), 1);
        float x[40], y[40];
        int32_t kv = 2;
        for (int i = 0; i < 40; i++) x[i] = (float)i + 1;
        const void *d[2] = {x, &kv};
        int64_t k = kc ? *kc : runtime_k ? kv : 0;
        if (run1(tc, p, runtime_k ? 2 : 1, d, y, sizeof y))
            for (int e = 0; e < 40; e++) {
                int64_t i = (e / 5) % 4, j = e % 5;
                int keep = upper ? j - i >= k : j - i <= k;
                CHECK_MSG(y[e] == (keep ? x[e] : 0), "upper=%d k=%lld y[%d] = %g", upper,
                          (long long)k, e, y[e]);
            }
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_trilu_band_part_mask_and_runtime_k)
{
    int64_t k0 = 0, kneg = -1, kpos = 1;
    trilu_case(tc, 1, NULL, 0, MK_OP_BAND_PART);  /* triu */
    trilu_case(tc, 0, &kpos, 0, MK_OP_BAND_PART); /* tril k=1 */
    trilu_case(tc, 1, &kneg, 0, MK_OP_BAND_PART); /* triu k=-1 */
    trilu_case(tc, 1, &kpos, 0, MK_OP_SELECT);    /* triu k=1: not a band */
    trilu_case(tc, 0, &kneg, 0, MK_OP_SELECT);    /* tril k=-1 */
    trilu_case(tc, 0, &k0, 0, MK_OP_BAND_PART);
    trilu_case(tc, 1, NULL, 1, MK_OP_SELECT); /* run-time k */
    trilu_case(tc, 0, NULL, 1, MK_OP_SELECT);
}

TEST(onnx_int_div_truncates_and_mod_fmod)
{
    ob b;
    ob_init(&b, 13);
    int64_t d[1] = {8};
    ob_input(&b, "a", 6, 1, d);
    ob_input(&b, "b", 6, 1, d);
    ob_node(&b, "Div", "a,b", "q");
    ob_output(&b, "q");
    mk_program *p = imp(tc, &b, NULL);
    int32_t a[8] = {7, -7, 7, -7, 6, -6, 0, -1}, bb[8] = {2, 2, -2, -2, 3, 3, 5, 4}, q[8];
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_FLOOR_DIV), 1);
        const void *dd[2] = {a, bb};
        if (run1(tc, p, 2, dd, q, sizeof q))
            for (int i = 0; i < 8; i++)
                CHECK_MSG(q[i] == a[i] / bb[i], "%d / %d = %d, want %d", a[i], bb[i], q[i],
                          a[i] / bb[i]);
    }
    mk_ir_program_free(p);
    ob_free(&b);

    ob_init(&b, 13);
    ob_input(&b, "a", 1, 1, d);
    ob_input(&b, "b", 1, 1, d);
    Onnx__NodeProto *n = ob_node(&b, "Mod", "a,b", "m");
    ob_attr_i(&b, n, "fmod", 1);
    ob_output(&b, "m");
    p = imp(tc, &b, NULL);
    if (p) {
        float fa[8] = {5.5f, -5.5f, 5.5f, -5.5f, 4, -4, 0, 1}, fb[8] = {2, 2, -2, -2, 2, 3, 3, -3};
        float m[8];
        const void *dd[2] = {fa, fb};
        if (run1(tc, p, 2, dd, m, sizeof m))
            for (int i = 0; i < 8; i++)
                CHECK_MSG(fabsf(m[i] - fmodf(fa[i], fb[i])) < 1e-6f, "fmod(%g, %g) = %g", fa[i],
                          fb[i], m[i]);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_argmax_select_last_index)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[2] = {2, 5};
    ob_input(&b, "x", 1, 2, xd);
    Onnx__NodeProto *n = ob_node(&b, "ArgMin", "x", "i");
    ob_attr_i(&b, n, "axis", 1);
    ob_attr_i(&b, n, "keepdims", 0);
    ob_attr_i(&b, n, "select_last_index", 1);
    ob_output(&b, "i");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_REVERSE), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_REDUCE_ARGMIN), 1);
        float x[10] = {3, 1, 2, 1, 5, 0, 0, 4, 4, 0};
        int32_t got[2];
        const void *d[1] = {x};
        if (run1(tc, p, 1, d, got, sizeof got)) {
            CHECK_EQ_INT(got[0], 3);
            CHECK_EQ_INT(got[1], 4);
        }
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_layer_norm_mean_and_inv_std_outputs)
{
    ob b;
    ob_init(&b, 17);
    int64_t xd[2] = {2, 4}, gd[1] = {4};
    float g[4] = {1, 1, 1, 1};
    ob_input(&b, "x", 1, 2, xd);
    ob_init_f(&b, "g", 1, gd, g);
    ob_node(&b, "LayerNormalization", "x,g", "y,mean,inv");
    ob_output(&b, "y");
    ob_output(&b, "mean");
    ob_output(&b, "inv");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_LAYER_NORM), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_RSQRT), 1);
        CHECK_EQ_INT(p->n_outputs, 3);
        int64_t want[2] = {2, 1};
        CHECK(ob_dims_are(ob_out_type(p, 1), 2, want));
        CHECK(ob_dims_are(ob_out_type(p, 2), 2, want));
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_castlike_selu_and_old_opsets)
{
    ob b;
    ob_init(&b, 15);
    int64_t d[1] = {4};
    int64_t like = 0;
    ob_input(&b, "x", 1, 1, d);
    ob_init_i(&b, "like", 0, NULL, &like);
    ob_node(&b, "CastLike", "x,like", "y");
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        mk_op *op = ob_find(p, MK_OP_CAST);
        CHECK(op != NULL);
        if (op) CHECK_STR(mk_ir_arg_str(op, "dtype"), "int32");
        CHECK_EQ_INT(ob_out_type(p, 0)->dtype, MK_DT_INT32);
    }
    mk_ir_program_free(p);
    ob_free(&b);

    /* opset 6: Selu is one of the ops whose meaning did not change at opset 7 */
    ob_init(&b, 6);
    ob_input(&b, "x", 1, 1, d);
    Onnx__NodeProto *n = ob_node(&b, "Selu", "x", "y");
    ob_attr_f(&b, n, "alpha", 2.0f);
    ob_attr_f(&b, n, "gamma", 3.0f);
    ob_output(&b, "y");
    p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_ELU), 1);
        float x[4] = {-1, 0, 0.5f, 2}, y[4];
        const void *dd[1] = {x};
        if (run1(tc, p, 1, dd, y, sizeof y))
            for (int i = 0; i < 4; i++) {
                float want = 3.0f * (x[i] > 0 ? x[i] : 2.0f * (expf(x[i]) - 1));
                CHECK_MSG(fabsf(y[i] - want) < 1e-5f, "selu(%g) = %g, want %g", x[i], y[i], want);
            }
    }
    mk_ir_program_free(p);
    ob_free(&b);

    /* opset 6 Add has legacy broadcasting: refused with a reason */
    ob_init(&b, 6);
    ob_input(&b, "x", 1, 1, d);
    ob_node(&b, "Add", "x,x", "y");
    ob_output(&b, "y");
    mk_err e;
    p = NULL;
    CHECK_EQ_INT(ob_import(&b, NULL, &p, &e), MK_EUNSUPPORTED);
    CHECK_MSG(strstr(e.msg, "opset 6 semantics") != NULL, "%s", e.msg);
    mk_ir_program_free(p);
    ob_free(&b);
}

/* 1-D resize along the last axis of [1, 1, 4]: expected values from the ONNX formulas. */
static void resize_case(mk_test_ctx *tc, const char *mode, const char *ct, const char *nmode,
                        float scale, int64_t out_w, const float *want)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[3] = {1, 1, 4}, sd = 3;
    float sc[3] = {1, 1, scale};
    ob_input(&b, "x", 1, 3, xd);
    ob_init_f(&b, "sc", 1, &sd, sc);
    Onnx__NodeProto *n = ob_node(&b, "Resize", "x,,sc", "y");
    ob_attr_s(&b, n, "mode", mode);
    ob_attr_s(&b, n, "coordinate_transformation_mode", ct);
    if (nmode) ob_attr_s(&b, n, "nearest_mode", nmode);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_MATMUL), 1);
        int64_t od[3] = {1, 1, out_w};
        CHECK(ob_dims_are(ob_out_type(p, 0), 3, od));
        float x[4] = {1, 2, 4, 8}, y[8];
        const void *d[1] = {x};
        if (out_w <= 8 && run1(tc, p, 1, d, y, (size_t)out_w * 4))
            for (int i = 0; i < out_w; i++)
                CHECK_MSG(fabsf(y[i] - want[i]) < 1e-5f, "%s/%s y[%d] = %g, want %g", mode, ct, i,
                          y[i], want[i]);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_resize_cubic_and_fractional_nearest_as_matrices)
{
    /* nearest, asymmetric floor, scale 1.5: src = floor(o / 1.5) = 0 0 1 2 2 3 */
    const float nn[6] = {1, 1, 2, 4, 4, 8};
    resize_case(tc, "nearest", "asymmetric", "floor", 1.5f, 6, nn);
    /* cubic, align_corners, 4 -> 7 (scale 1.75): src = o * 3 / 6 = o / 2; at o = 1,
     * r = 0.5 with A = -0.75: weights -0.09375, 0.59375, 0.59375, -0.09375 over x[-1..2]
     * (edge repeated): -0.09375*1 + 0.59375*1 + 0.59375*2 - 0.09375*4 = 1.3125 */
    float cw[7];
    cw[0] = 1;
    cw[1] = -0.09375f * 1 + 0.59375f * 1 + 0.59375f * 2 - 0.09375f * 4;
    cw[2] = 2;
    cw[3] = -0.09375f * 1 + 0.59375f * 2 + 0.59375f * 4 - 0.09375f * 8;
    cw[4] = 4;
    cw[5] = -0.09375f * 2 + 0.59375f * 4 + 0.59375f * 8 - 0.09375f * 8;
    cw[6] = 8;
    resize_case(tc, "cubic", "align_corners", NULL, 1.75f, 7, cw);
}

TEST(onnx_bind_tensor_and_npy)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[2] = {2, 6}, sd[1] = {2};
    ob_input(&b, "x", 1, 2, xd);
    ob_input(&b, "shape", 7, 1, sd);
    ob_node(&b, "Reshape", "x,shape", "y");
    ob_output(&b, "y");
    mk_err e;
    mk_program *p = NULL;
    /* run-time shape: a MIL reshape whose shape is not a constant */
    CHECK_EQ_INT(ob_import(&b, NULL, &p, &e), MK_OK);
    mk_op *rs = p ? ob_find(p, MK_OP_RESHAPE) : NULL;
    mk_value *sv = rs ? mk_ir_arg(rs, "shape") : NULL;
    CHECK(sv != NULL && !sv->cst);
    mk_ir_program_free(p);
    p = NULL;
    /* baked in from a tensor */
    int32_t shape[2] = {3, 4};
    mk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "shape";
    t.dtype = MK_DT_INT32;
    t.rank = 1;
    t.dims[0] = 2;
    t.data = shape;
    t.nbytes = sizeof shape;
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    o.n_bind_tensors = 1;
    o.bind_tensors = &t;
    p = imp(tc, &b, &o);
    if (p) {
        int64_t want[2] = {3, 4};
        CHECK_EQ_INT(p->n_inputs, 1);
        CHECK(ob_dims_are(ob_out_type(p, 0), 2, want));
    }
    mk_ir_program_free(p);
    /* a wrong shape is refused with a message naming the input */
    t.dims[0] = 1;
    t.nbytes = 4;
    p = NULL;
    CHECK_EQ_INT(ob_import(&b, &o, &p, &e), MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "--bind shape") != NULL, "%s", e.msg);
    mk_ir_program_free(p);
    /* the same from a .npy (numpy's int64 narrowed) */
    char path[1024], bind[1100];
    snprintf(path, sizeof path, "%s/shape.npy", mk_test_tmpdir());
    int64_t s64[2] = {6, 2};
    mk_tensor t64 = {NULL, MK_DT_INT64, 1, {2}, s64, sizeof s64};
    REQUIRE(mk_npy_write(path, &t64, &e) == MK_OK);
    snprintf(bind, sizeof bind, "shape=@%s", path);
    const char *binds[1] = {bind};
    memset(&o, 0, sizeof o);
    o.n_binds = 1;
    o.binds = binds;
    p = imp(tc, &b, &o);
    if (p) {
        int64_t want[2] = {6, 2};
        CHECK(ob_dims_are(ob_out_type(p, 0), 2, want));
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

/* Weights from initializers and Constant nodes stay in mappings the program keeps (the model
 * file, or the weight slab for unaligned copies), never in per-tensor heap copies: clones and
 * writers can then borrow them. */
static int in_program_maps(const mk_program *p, const void *d)
{
    for (int i = 0; i < p->n_maps; i++)
        if ((const unsigned char *)d >= p->maps[i].data &&
            (const unsigned char *)d < p->maps[i].data + p->maps[i].size)
            return 1;
    return 0;
}

TEST(onnx_weights_stay_in_kept_mappings)
{
    ob b;
    ob_init(&b, 13);
    int64_t d[2] = {32, 64};
    static float w[32 * 64], cw[64 * 16];
    for (int i = 0; i < 32 * 64; i++) w[i] = (float)(i % 13) - 6;
    for (int i = 0; i < 64 * 16; i++) cw[i] = (float)(i % 5);
    ob_input(&b, "x", 1, 2, d);
    int64_t wd[2] = {64, 16};
    ob_init_f(&b, "w", 2, d, w);
    Onnx__NodeProto *cn = ob_node(&b, "Constant", NULL, "cw");
    ob_attr_t(&b, cn, "value", ob_tensor(&b, "cwt", 1, 2, wd, cw, sizeof cw));
    ob_node(&b, "Add", "x,w", "s");
    ob_node(&b, "MatMul", "s,cw", "y");
    ob_output(&b, "y");
    ob_pack(&b);
    char path[1024];
    mk_err e = {0};
    snprintf(path, sizeof path, "%s/weights.onnx", mk_test_tmpdir());
    REQUIRE(mk_file_write_all(path, b.packed, b.packed_len, &e) == MK_OK);
    mk_program *p = NULL;
    mk_status st = mk_onnx_import(path, NULL, NULL, &p, &e);
    CHECK_MSG(st == MK_OK, "import: %s", e.msg);
    if (p) {
        int seen = 0;
        MK_FOR_OPS(mk_ir_main(p)->block, op)
        {
            if (op->kind != MK_OP_CONST) continue;
            const mk_value *v = op->outputs[0];
            size_t n = 0;
            if (!mk_type_numel(&v->type, &n) || n < 1024) continue;
            seen++;
            CHECK_MSG(in_program_maps(p, v->cst->data), "%s is a heap copy", v->name);
            const float *f = v->cst->data;
            CHECK(n == 2048 ? f[14] == w[14] : f[7] == cw[7]);
        }
        CHECK_EQ_INT(seen, 2);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

/* TopK with K a graph input: argsort + slice_by_size (run-time size) + gather_along_axis. */
TEST(onnx_topk_runtime_k_sorts_and_slices)
{
    for (int largest = 0; largest <= 1; largest++) {
        ob b;
        ob_init(&b, 13);
        int64_t xd[2] = {2, 5}, kd[1] = {1};
        ob_input(&b, "x", 1, 2, xd);
        ob_input(&b, "k", 7, 1, kd);
        Onnx__NodeProto *n = ob_node(&b, "TopK", "x,k", "v,i");
        ob_attr_i(&b, n, "axis", 1);
        ob_attr_i(&b, n, "largest", largest);
        ob_output(&b, "v");
        ob_output(&b, "i");
        mk_program *p = imp(tc, &b, NULL);
        if (p) {
            CHECK_EQ_INT(ob_count(p, MK_OP_TOPK), 0);
            CHECK_EQ_INT(ob_count(p, MK_OP_ARGSORT), 1);
            CHECK_EQ_INT(ob_count(p, MK_OP_SLICE_BY_SIZE), 1);
            float x[10] = {3, -1, 7, 0.5f, 2, -4, 9, 1, 8, -2}, v[6];
            int32_t k = 3, ix[6];
            const void *d[2] = {x, &k};
            if (run_k(tc, p, 2, d, 0, v, sizeof v) && run_k(tc, p, 2, d, 1, ix, sizeof ix))
                for (int row = 0; row < 2; row++) {
                    /* expected: the row's values sorted (descending when largest) */
                    float s[5];
                    memcpy(s, x + 5 * row, sizeof s);
                    for (int a = 0; a < 5; a++)
                        for (int c2 = a + 1; c2 < 5; c2++)
                            if (largest ? s[c2] > s[a] : s[c2] < s[a]) {
                                float t = s[a];
                                s[a] = s[c2];
                                s[c2] = t;
                            }
                    for (int j = 0; j < 3; j++) {
                        CHECK_MSG(v[3 * row + j] == s[j], "row %d v[%d] = %g, want %g", row, j,
                                  v[3 * row + j], s[j]);
                        CHECK(x[5 * row + ix[3 * row + j]] == v[3 * row + j]);
                    }
                }
            /* the outputs' length is K: written without a declared shape, as coremltools does */
            CHECK_EQ_INT(p->outputs[0].shape[1], MK_DIM_UNKNOWN);
            char path[512];
            snprintf(path, sizeof path, "%s/topk_rt_%d.mlpackage", mk_test_tmpdir(), largest);
            mk_err e = {0};
            mk_program *q = NULL;
            CHECK_MSG(mk_program_save(p, path, MK_TARGET_DEFAULT, &e) == MK_OK, "%s", e.msg);
            CHECK_MSG(mk_model_load(path, NULL, NULL, &q, &e) == MK_OK, "%s", e.msg);
            if (q) {
                CHECK_EQ_INT(q->outputs[0].rank, 0);
                k = 2;
                float v2[4];
                if (run_k(tc, q, 2, d, 0, v2, sizeof v2))
                    CHECK(v2[0] == v[0] && v2[1] == v[1] && v2[2] == v[3] && v2[3] == v[4]);
            }
            mk_program_free(q);
        }
        mk_ir_program_free(p);
        ob_free(&b);
    }
}
