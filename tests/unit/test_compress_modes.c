/* `milkit compress` modes on a small linear + conv program: the constexpr form per target, the
 * interpreter output close to fp32, a package round trip, k-means against a brute-force
 * optimum, block fallback reported, refusals (int4 / groups / 3 bits before iOS18), and the
 * CLI's exit 2 with nothing written. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"
#include "passes/passes_int.h"
#include "test.h"
#include "test_coreml.h"

typedef struct mb {
    mk_program *p;
    mk_function *f;
    mk_block *b;
    unsigned seed;
} mb;

static float mrand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffffff) / 8388608.0f - 1.0f;
}

static mk_op *mop(mb *B, mk_op_kind k, int n, const char *const *names, mk_value *const *vals)
{
    mk_op *o = mk_ir_op_new(B->p, k, mk_ir_op_info(k)->name);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    if (!o) return NULL;
    for (int i = 0; i < n; i++)
        if (!vals[i] || !mk_ir_op_add_input(B->p, o, names[i], vals[i])) return NULL;
    if (!mk_ir_op_add_output(B->p, o, NULL, &none)) return NULL;
    mk_ir_block_append(B->b, o);
    mk_err e = {MK_OK, ""};
    return mk_ir_infer_op(o, &e) == MK_OK ? o : NULL;
}

static mk_value *weight(mb *B, const char *name, int rank, const int64_t *d)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)d[i];
    float *w = malloc(n * sizeof *w);
    if (!w) return NULL;
    for (size_t i = 0; i < n; i++) w[i] = mrand(&B->seed) * (1 + (float)(i % 7) * 0.1f);
    mk_type t = mk_type_make(MK_DT_FP32, rank, d);
    mk_value *v = mk_ir_const(B->p, B->b, name, &t, w, n * sizeof *w, 0);
    free(w);
    return v;
}

/* x[1,16,6,6] -> conv(W[32,16,3,3]) -> reshape [1, 512] -> linear(W[48, 512]); cin of the
 * linear (512) and conv (16*9) take blocks of 32 and 16. */
static int build(mb *B, int spec)
{
    B->seed = 7;
    B->p = mk_ir_program_new(NULL, spec);
    mk_test_owned(B->p); /* fault runs: the test's own (test.h) */
    B->f = B->p ? mk_ir_function_new(B->p, "main") : NULL;
    B->b = B->f ? B->f->block : NULL;
    if (!B->b) return 0;
    int64_t xd[4] = {1, 16, 6, 6}, cd[4] = {32, 16, 3, 3}, ld[2] = {48, 512};
    mk_type xt = mk_type_make(MK_DT_FP32, 4, xd);
    mk_value *x = mk_ir_function_add_input(B->p, B->f, "x", &xt);
    static const int32_t ones[2] = {1, 1}, zeros[4] = {0, 0, 0, 0}, shp[2] = {1, 512};
    int32_t g = 1;
    static const char *const cn[] = {"x",   "weight",    "strides", "pad_type",
                                     "pad", "dilations", "groups"};
    mk_value *cv[] = {x,
                      weight(B, "wc", 4, cd),
                      mk_ir_const_i32(B->p, B->b, "s", 2, ones, 0),
                      mk_ir_const_str(B->p, B->b, "pt", "valid"),
                      mk_ir_const_i32(B->p, B->b, "p", 4, zeros, 0),
                      mk_ir_const_i32(B->p, B->b, "d", 2, ones, 0),
                      mk_ir_const_i32(B->p, B->b, "g", 1, &g, 1)};
    mk_op *conv = mop(B, MK_OP_CONV, 7, cn, cv);
    if (!conv) return 0;
    static const char *const rn[] = {"x", "shape"};
    mk_value *rv[] = {conv->outputs[0], mk_ir_const_i32(B->p, B->b, "shp", 2, shp, 0)};
    mk_op *rs = mop(B, MK_OP_RESHAPE, 2, rn, rv);
    if (!rs) return 0;
    static const char *const ln[] = {"x", "weight"};
    mk_value *lv[] = {rs->outputs[0], weight(B, "wl", 2, ld)};
    mk_op *lin = mop(B, MK_OP_LINEAR, 2, ln, lv);
    return lin && mk_ir_block_set_outputs(B->p, B->b, 1, &lin->outputs[0]);
}

static int count(const mk_block *b, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(b, op)
    {
        n += op->kind == k;
    }
    return n;
}

static double out_cos(mk_test_ctx *tc, const mk_program *ref, const mk_program *q)
{
    mk_err e = {MK_OK, ""};
    mk_tensor_list in = {0, NULL};
    mk_output_error oe[2];
    int n = 0;
    double c = -2;
    if (mk_random_inputs(ref, 3, &in, &e) == MK_OK &&
        mk_output_errors(ref, q, &in, 0, oe, 2, &n, &e) == MK_OK && n == 1 && oe[0].has_cos)
        c = oe[0].cos;
    else
        CHECK_MSG(0, "run: %s", e.msg);
    mk_tensor_list_free(&in);
    return c;
}

typedef struct mcase {
    const char *what;
    int spec;
    mk_compress_options o;
    mk_op_kind kind;
    double min_cos;
} mcase;

TEST(compress_modes_per_target_run_and_round_trip)
{
    const mcase cases[] = {
        {"int8 channel ios16",
         7,
         {.mode = MK_CMP_LINEAR, .bits = 8},
         MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE,
         0.9999},
        {"int8 tensor zp ios17",
         8,
         {.mode = MK_CMP_LINEAR, .bits = 8, .granularity = 1, .zero_point = 1},
         MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE,
         0.9999},
        {"int8 channel ios18",
         9,
         {.mode = MK_CMP_LINEAR, .bits = 8},
         MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE,
         0.9999},
        {"int4 block 16 ios18",
         9,
         {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 16},
         MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE,
         0.98},
        {"int4 block 32 zp ios18",
         9,
         {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 32, .zero_point = 1},
         MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE,
         0.98},
        {"lut4 tensor ios16",
         7,
         {.mode = MK_CMP_PALETTE, .bits = 4},
         MK_OP_CONSTEXPR_LUT_TO_DENSE,
         0.99},
        {"lut6 tensor ios17",
         8,
         {.mode = MK_CMP_PALETTE, .bits = 6},
         MK_OP_CONSTEXPR_LUT_TO_DENSE,
         0.999},
        {"lut3 group 8 ios18",
         9,
         {.mode = MK_CMP_PALETTE, .bits = 3, .granularity = 2, .group = 8},
         MK_OP_CONSTEXPR_LUT_TO_DENSE,
         0.97},
        {"lut8 tensor ios18",
         9,
         {.mode = MK_CMP_PALETTE, .bits = 8},
         MK_OP_CONSTEXPR_LUT_TO_DENSE,
         0.9999},
        {"lut2 uniform ios18",
         9,
         {.mode = MK_CMP_PALETTE, .bits = 2, .uniform = 1},
         MK_OP_CONSTEXPR_LUT_TO_DENSE,
         0.5},
        {"sparse ios16",
         7,
         {.mode = MK_CMP_SPARSE, .sparsity = 0.25},
         MK_OP_CONSTEXPR_SPARSE_TO_DENSE,
         0.95},
        {"sparse ios18",
         9,
         {.mode = MK_CMP_SPARSE, .sparsity = 0.25},
         MK_OP_CONSTEXPR_SPARSE_TO_DENSE,
         0.95},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mcase *c = &cases[i];
        mb R, Q;
        REQUIRE(build(&R, c->spec) && build(&Q, c->spec));
        mk_err e = {MK_OK, ""};
        mk_compress_report rep;
        mk_compress_options o = c->o;
        o.min_elements = 1000;
        CHECK_MSG(mk_compress(Q.p, &o, &rep, &e) == MK_OK, "%s: %s", c->what, e.msg);
        CHECK_MSG(rep.n == 2, "%s: %d weights compressed", c->what, rep.n);
        CHECK_MSG(count(Q.b, c->kind) == 2, "%s: %d %s ops", c->what, count(Q.b, c->kind),
                  mk_ir_op_info(c->kind)->name);
        CHECK_MSG(count(Q.b, MK_OP_CONST) < count(R.b, MK_OP_CONST), "%s: fp32 weights left",
                  c->what);
        for (int k = 0; k < rep.n; k++)
            CHECK_MSG(rep.layers[k].bytes_after < rep.layers[k].bytes_before &&
                          rep.layers[k].rel_err > 0 && rep.layers[k].rel_err < 0.6,
                      "%s: %s %zu -> %zu bytes, err %g", c->what, rep.layers[k].name,
                      rep.layers[k].bytes_before, rep.layers[k].bytes_after, rep.layers[k].rel_err);
        double cs = out_cos(tc, R.p, Q.p);
        CHECK_MSG(cs >= c->min_cos, "%s: output cosine %f < %f", c->what, cs, c->min_cos);
        char path[1024];
        snprintf(path, sizeof path, "%s/cmp_%zu.mlpackage", mk_test_tmpdir(), i);
        mk_program *r = NULL;
        CHECK_MSG(mk_program_save(Q.p, path, MK_TARGET_DEFAULT, &e) == MK_OK, "%s: save: %s",
                  c->what, e.msg);
        CHECK_MSG(mk_program_load(path, NULL, &r, &e) == MK_OK, "%s: load: %s", c->what, e.msg);
        if (r) {
            CHECK_MSG(count(mk_ir_main(r)->block, c->kind) == 2, "%s: reloaded ops", c->what);
            double rc = out_cos(tc, Q.p, r);
            CHECK_MSG(rc > 0.9999999, "%s: reloaded package differs (cos %f)", c->what, rc);
        }
        mk_program_free(r);
        mk_compress_report_free(&rep);
        mk_ir_program_free(R.p);
        mk_ir_program_free(Q.p);
    }
}

/* 2-bit k-means of a weight taking 12 distinct values with uneven counts: the squared error
 * equals the best of all 165 splits of the sorted values into 4 runs; uniform is worse. */
TEST(compress_kmeans_is_optimal)
{
    static const float vals[12] = {-3, -2.5f, -1, -0.75f, -0.5f, 0, 0.25f, 0.5f, 2, 2.25f, 4, 6};
    static const int cnt[12] = {5, 40, 7, 300, 90, 12, 600, 33, 250, 8, 60, 3};
    int64_t d[2] = {32, 44}; /* 1408 elements = sum of cnt */
    float w[1408];
    size_t k = 0;
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < cnt[i]; j++) w[k++] = vals[i];
    REQUIRE(k == 1408);
    unsigned s = 5;
    for (size_t i = k - 1; i > 0; i--) { /* shuffle */
        size_t j = (size_t)((mrand(&s) + 1) * 0.5f * (float)(i + 1)) % (i + 1);
        float t = w[i];
        w[i] = w[j], w[j] = t;
    }
    double best = INFINITY, ww = 0;
    for (size_t i = 0; i < k; i++) ww += (double)w[i] * w[i];
    for (int a = 1; a < 12; a++)
        for (int b = a + 1; b < 12; b++)
            for (int c = b + 1; c < 12; c++) {
                int cut[5] = {0, a, b, c, 12};
                double sse = 0;
                for (int g = 0; g < 4; g++) {
                    double n = 0, s1 = 0, s2 = 0;
                    for (int v = cut[g]; v < cut[g + 1]; v++)
                        n += cnt[v], s1 += cnt[v] * vals[v],
                            s2 += cnt[v] * (double)vals[v] * vals[v];
                    sse += s2 - s1 * s1 / n;
                }
                if (sse < best) best = sse;
            }
    double got[2];
    for (int uni = 0; uni < 2; uni++) {
        mk_program *p = mk_ir_program_new(NULL, 9);
        mk_test_owned(p); /* fault runs: the test's own (test.h) */
        mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
        if (!f) mk_ir_program_free(p);
        REQUIRE(f);
        mk_type t = mk_type_make(MK_DT_FP32, 2, d);
        int64_t xd[2] = {1, 44};
        mk_type xt = mk_type_make(MK_DT_FP32, 2, xd);
        mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
        mk_value *wv = mk_ir_const(p, f->block, "w", &t, w, sizeof w, 0);
        mk_op *lin = mk_ir_op_new(p, MK_OP_LINEAR, "lin");
        mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
        REQUIRE(x && wv && lin && mk_ir_op_add_input(p, lin, "x", x) &&
                mk_ir_op_add_input(p, lin, "weight", wv) &&
                mk_ir_op_add_output(p, lin, NULL, &none));
        mk_ir_block_append(f->block, lin);
        mk_err e = {MK_OK, ""};
        REQUIRE(mk_ir_infer_op(lin, &e) == MK_OK &&
                mk_ir_block_set_outputs(p, f->block, 1, &lin->outputs[0]));
        mk_compress_options o = {
            .mode = MK_CMP_PALETTE, .bits = 2, .uniform = uni, .min_elements = 1, .nearest = 1};
        mk_compress_report rep;
        CHECK_MSG(mk_compress(p, &o, &rep, &e) == MK_OK && rep.n == 1, "%s", e.msg);
        got[uni] = rep.n == 1 ? rep.layers[0].rel_err * rep.layers[0].rel_err * ww : INFINITY;
        mk_compress_report_free(&rep);
        mk_ir_program_free(p);
    }
    CHECK_MSG(fabs(got[0] - best) <= 1e-6 * best, "k-means SSE %g, optimum %g", got[0], best);
    CHECK_MSG(got[1] > best * 1.01, "uniform SSE %g not above the optimum %g", got[1], best);
}

/* Blocks that do not divide the input axis fall back to the largest divisor, reported. */
TEST(compress_block_fallback_reported)
{
    mb B;
    REQUIRE(build(&B, 9));
    mk_compress_options o = {
        .mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 48, .min_elements = 1000};
    mk_compress_report rep;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_compress(B.p, &o, &rep, &e) == MK_OK && rep.n == 2);
    /* conv cin 16 (< 48): one block; linear cin 512: 48 does not divide, 32 does */
    int found = 0;
    for (int i = 0; i < rep.n; i++)
        if (strstr(rep.layers[i].mode, "block 48 does not divide 512: block 32")) found++;
    CHECK_MSG(found == 1, "fallback not reported: %s / %s", rep.layers[0].mode, rep.layers[1].mode);
    MK_FOR_OPS(B.b, op)
    {
        if (op->kind != MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE) continue;
        mk_value *sc = mk_ir_arg(op, "scale"), *d = mk_ir_arg(op, "data");
        if (d->type.rank == 2) CHECK_EQ_INT(sc->type.dims[1], 16);
        CHECK_EQ_INT(d->type.dtype, MK_DT_INT4);
    }
    mk_compress_report_free(&rep);
    mk_ir_program_free(B.p);
}

TEST(compress_refuses_what_the_target_lacks)
{
    const mk_compress_options bad[] = {
        {.mode = MK_CMP_LINEAR, .bits = 4},
        {.mode = MK_CMP_LINEAR, .bits = 8, .granularity = 2, .block = 32},
        {.mode = MK_CMP_PALETTE, .bits = 3},
        {.mode = MK_CMP_PALETTE, .bits = 4, .granularity = 2, .group = 4},
        {.mode = MK_CMP_PALETTE, .bits = 5},
        {.mode = MK_CMP_SPARSE, .sparsity = 1.5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mb B;
        REQUIRE(build(&B, 8));
        mk_compress_report rep;
        mk_err e = {MK_OK, ""};
        CHECK_MSG(mk_compress(B.p, &bad[i], &rep, &e) != MK_OK && e.msg[0], "case %zu accepted", i);
        CHECK_EQ_INT(count(B.b, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE), 0);
        mk_ir_program_free(B.p);
    }
}

/* The CLI: int4 on an iOS17 package is one line, exit 2, nothing written; a good run writes a
 * package and a JSON report. */
TEST(compress_cli_exit_codes)
{
    mb B;
    REQUIRE(build(&B, 8));
    char in[1024], out[1024], buf[4096];
    snprintf(in, sizeof in, "%s/cli_in.mlpackage", mk_test_tmpdir());
    snprintf(out, sizeof out, "%s/cli_out.mlpackage", mk_test_tmpdir());
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_save(B.p, in, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_ir_program_free(B.p);
    int rc =
        mk_test_sh(buf, sizeof buf, "'%s' compress '%s' -o '%s' --int4", mk_test_bin(), in, out);
    CHECK_EQ_INT(rc, 2);
    CHECK_MSG(strstr(buf, "int4 needs iOS18") && !strchr(strchr(buf, '\n') + 1, '\n'),
              "message: %s", buf);
    rc = mk_test_sh(buf, sizeof buf, "test -e '%s'", out);
    CHECK_MSG(rc != 0, "an output was written");
    rc = mk_test_sh(buf, sizeof buf,
                    "'%s' compress '%s' -o '%s' --palettize 6 --min-elements 100 --json",
                    mk_test_bin(), in, out);
    CHECK_EQ_INT(rc, 0);
    CHECK_MSG(strstr(buf, "\"mode\":\"lut6 kmeans per tensor\"") && strstr(buf, "\"cosine\":"),
              "report: %.300s", buf);
    rc = mk_test_sh(buf, sizeof buf, "test -d '%s'", out);
    CHECK_EQ_INT(rc, 0);
}

/* Structure of the constexpr op compress writes vs coremltools' goldens for the same form:
 * the same parameters, bound the same way (attributes on iOS16, inputs on iOS18), with the same
 * dtypes and ranks, and per-channel parameter shapes. */
static void same_form(mk_test_ctx *tc, const mk_op *g, const mk_op *m, const char *what)
{
    CHECK_EQ_INT(m->kind, g->kind);
    CHECK_MSG(m->n_attrs == g->n_attrs && m->n_inputs == g->n_inputs,
              "%s: %d attrs %d inputs, golden %d %d", what, m->n_attrs, m->n_inputs, g->n_attrs,
              g->n_inputs);
    for (int i = 0; i < g->n_attrs; i++) {
        const mk_value *a = mk_ir_attr(m, g->attrs[i].name), *b = g->attrs[i].value;
        CHECK_MSG(a && a->type.dtype == b->type.dtype && a->type.rank == b->type.rank,
                  "%s: attribute %s differs", what, g->attrs[i].name);
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const mk_value *a = mk_ir_arg(m, g->inputs[i].name), *b = g->inputs[i].args[0];
        CHECK_MSG(a && a->type.dtype == b->type.dtype && a->type.rank == b->type.rank,
                  "%s: input %s differs", what, g->inputs[i].name);
        if (a && a->type.rank == b->type.rank && !strcmp(g->inputs[i].name, "scale"))
            for (int d = 1; d < a->type.rank; d++) CHECK_EQ_INT(a->type.dims[d], b->type.dims[d]);
    }
}

TEST(compress_int8_matches_coremltools_goldens)
{
    static const char *const names[] = {"f1_int8_affine_dequantize_fp32_ios16.mlpackage",
                                        "f2_int8_blockwise_shift_scale_fp16_ios18.mlpackage"};
    for (int g = 0; g < 2; g++) {
        char path[1024];
        if (!mk_test_golden(names[g], path, sizeof path))
            SKIP("golden %s absent (no shared dir)", names[g]);
        mk_program *gp = NULL;
        mk_err e = {MK_OK, ""};
        REQUIRE(mk_program_load(path, NULL, &gp, &e) == MK_OK);
        const mk_op *gx = NULL;
        MK_FOR_OPS(mk_ir_main(gp)->block, op)
        {
            if (!gx && (op->kind == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE ||
                        op->kind == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE))
                gx = op;
        }
        REQUIRE(gx);
        mb B;
        REQUIRE(build(&B, g ? 9 : 7));
        if (g) CHECK_MSG(mk_pass_fp16(B.p, &e) > 0, "%s", e.msg); /* f2 has fp16 weights */
        mk_compress_options o = {.mode = MK_CMP_LINEAR, .bits = 8, .min_elements = 1000};
        mk_compress_report rep;
        CHECK_MSG(mk_compress(B.p, &o, &rep, &e) == MK_OK, "%s", e.msg);
        const mk_op *mx = NULL;
        MK_FOR_OPS(B.b, op)
        {
            if (op->kind != gx->kind) continue;
            const mk_value *d = mk_ir_arg(op, "data");
            if (!d) d = mk_ir_attr(op, "quantized_data");
            if (d && d->type.rank == 2) mx = op;
        }
        CHECK_MSG(mx != NULL, "%s: no linear weight compressed", names[g]);
        if (mx) same_form(tc, gx, mx, names[g]);
        mk_compress_report_free(&rep);
        mk_ir_program_free(B.p);
        mk_program_free(gp);
    }
}
