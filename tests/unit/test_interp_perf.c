/* Tests for the interpreter's speed machinery (not its speed): the per-op profile (rows, kernel
 * paths, output bytes, times adding up to the total), `milkit run --profile [--json]`, and
 * threads: runs with -j 1, 2 and 3 give bit-identical outputs on built programs and on the
 * real models of tests/.cache (skipped with a message when absent). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>

#include "base/base.h"
#include "interp/interp_int.h"
#include "interp/k_conv_direct.h"
#include "interp/k_conv_wino.h"
#include "test.h"

#include "opsem_build.h"

static float *rand_arr(size_t n, unsigned seed, float scale)
{
    float *v = malloc(n * 4);
    for (size_t i = 0; i < n && v; i++) v[i] = scale * b_rand(&seed);
    return v;
}

static size_t numel(int rank, const int64_t *dims)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    return n;
}

/* An fp32 input (opsem_build.h's b_input) filled with seeded values in [-scale, scale). */
static mk_value *b_rand_input(bld *B, const char *name, int rank, const int64_t *dims,
                              unsigned seed, float scale)
{
    float *v = rand_arr(numel(rank, dims), seed, scale);
    mk_value *x = b_input(B, name, rank, dims, v);
    free(v);
    return x;
}

static mk_value *crand(bld *B, int rank, const int64_t *dims, unsigned seed, float scale)
{
    float *v = rand_arr(numel(rank, dims), seed, scale);
    mk_value *c = cf(B, rank, dims, v);
    free(v);
    return c;
}

static mk_value *out0(mk_op *o)
{
    return o ? o->outputs[0] : NULL;
}

/* op1(B, kind, "param", value, ..., NULL): the one output of opsem_build.h's op(), or NULL */
#define op1(B, k, ...) out0(op((B), (k), 1, __VA_ARGS__))

/* conv with pad_type same; groups 1 unless g > 1. */
static mk_value *conv(bld *B, mk_value *x, int cout, int cin_g, int kh, int kw, int g, int dil,
                      unsigned seed)
{
    int64_t wd[4] = {cout, cin_g, kh, kw}, bd[1] = {cout};
    int32_t one[2] = {1, 1}, dl[2] = {dil, dil};
    float sc = 1.0f / sqrtf((float)(cin_g * kh * kw));
    return op1(B, MK_OP_CONV, "x", x, "weight", crand(B, 4, wd, seed, sc), "bias",
               crand(B, 1, bd, seed + 1, 0.1f), "strides", ci(B, 2, one), "dilations", ci(B, 2, dl),
               "pad_type", cs(B, "same"), "groups", cis(B, g), NULL);
}

/* A small CNN + attention-like tail covering the kernels with threaded paths: im2col conv with
 * a fused relu, depthwise (dilated) conv, 1x1 conv, hardswish written as sigmoid_hard * x,
 * softmax, layer_norm, matmul, elementwise with broadcasting. */
static mk_value *build_net(bld *B, int C, int H, int W)
{
    int64_t xd[4] = {1, 3, H, W};
    mk_value *x = b_rand_input(B, "x", 4, xd, 7, 1.0f);
    mk_value *y = conv(B, x, C, 3, 3, 3, 1, 1, 11);
    y = op1(B, MK_OP_RELU, "x", y, NULL);
    mk_value *d = conv(B, y, C, 1, 3, 3, C, 2, 13);
    mk_value *hs =
        op1(B, MK_OP_SIGMOID_HARD, "x", d, "alpha", cfs(B, 1.0f / 6), "beta", cfs(B, 0.5f), NULL);
    y = op1(B, MK_OP_MUL, "x", d, "y", hs, NULL);
    y = conv(B, y, C, C, 1, 1, 1, 1, 17);
    y = op1(B, MK_OP_ADD, "x", y, "y", d, NULL);
    int32_t shp[3] = {1, C, H * W};
    y = op1(B, MK_OP_RESHAPE, "x", y, "shape", ci(B, 3, shp), NULL);
    int32_t ax = -1;
    mk_value *ln =
        op1(B, MK_OP_LAYER_NORM, "x", y, "axes", ci(B, 1, &ax), "epsilon", cfs(B, 1e-5f), NULL);
    mk_value *s = op1(B, MK_OP_MATMUL, "x", ln, "y", ln, "transpose_y",
                      mk_ir_const_bool(B->p, B->b, "b", 1, (const uint8_t[]){1}, 1), NULL);
    s = op1(B, MK_OP_SOFTMAX, "x", s, "axis", cis(B, -1), NULL);
    mk_value *o = op1(B, MK_OP_MATMUL, "x", s, "y", ln, NULL);
    o = op1(B, MK_OP_GELU, "x", o, "mode", cs(B, "EXACT"), NULL);
    return op1(B, MK_OP_ADD, "x", o, "y", y, NULL);
}

/* The rows, with one thread (CPU-time clock) and two (wall clock): the input binding and the
 * output copy are rows of their own around the ops, so the rows add up to the total (within 5%
 * on every run, in every build). */
static void profile_rows(mk_test_ctx *tc, int threads)
{
    bld B;
    b_init(&B, 18);
    enum { C = 32, H = 48, W = 48 };
    mk_value *y = build_net(&B, C, H, W);
    REQUIRE(y);
    mk_ir_block_set_outputs(B.p, B.b, 1, &y); /* a large output: its copy is a visible row */
    int n_ops = 0;
    MK_FOR_OPS(B.b, o) n_ops++;
    size_t in_bytes = 0;
    for (int i = 0; i < B.ins.n; i++) in_bytes += B.ins.items[i].nbytes;
    mk_run_options ro = {0, threads, 0};
    mk_session *s;
    REQUIRE(mk_session_new(B.p, &ro, &s, &B.e) == MK_OK);
    mk_tensor_list out;
    int n;
    double total;
    REQUIRE(mk_session_run(s, &B.ins, &out, NULL, &B.e) == MK_OK);
    CHECK(mk_session_profile(s, &n, &total) == NULL && n == 0); /* off by default */
    mk_tensor_list_free(&out);
    mk_session_set_profile(s, 1);
    for (int it = 0; it < 3; it++) { /* rows are per run, not accumulated */
        REQUIRE(mk_session_run(s, &B.ins, &out, NULL, &B.e) == MK_OK);
        size_t out_bytes = out.n ? out.items[0].nbytes : 0;
        mk_tensor_list_free(&out);
        const mk_op_profile *r = mk_session_profile(s, &n, &total);
        REQUIRE(r);
        REQUIRE(n == n_ops + 2);
        CHECK(!strcmp(r[0].kind, "(inputs)") && !strcmp(r[0].path, "input binding"));
        CHECK_EQ_INT(r[0].out_bytes, in_bytes);
        CHECK(!strcmp(r[n - 1].kind, "(outputs)") &&
              !strcmp(r[n - 1].path, "output copy and release"));
        CHECK_EQ_INT(r[n - 1].out_bytes, (size_t)C * H * W * 4);
        CHECK_EQ_INT(out_bytes, (size_t)C * H * W * 4);
        double sum = 0;
        int convs = 0, fused = 0, dw = 0;
        for (int i = 0; i < n; i++) {
            sum += r[i].ms;
            CHECK(r[i].ms >= 0 && r[i].kind && r[i].path);
            if (!strcmp(r[i].kind, "conv")) {
                convs++;
                CHECK_MSG(!strncmp(r[i].path, "conv: ", 6), "conv path '%s'", r[i].path);
                CHECK_EQ_INT(r[i].out_bytes, (size_t)C * H * W * 4);
                dw += strstr(r[i].path, "depthwise") != NULL;
            }
            if (!strcmp(r[i].kind, "relu")) fused += r[i].fused;
        }
        CHECK_EQ_INT(convs, 3);
        CHECK_EQ_INT(dw, 1);
        CHECK_EQ_INT(fused, 1); /* relu runs inside the first conv's kernel */
        CHECK_MSG(total > 0 && sum <= total * 1.0001 && sum >= total * 0.95,
                  "%d threads: rows add up to %.3f ms of %.3f ms", threads, sum, total);
    }
    mk_session_set_profile(s, 0);
    REQUIRE(mk_session_run(s, &B.ins, &out, NULL, &B.e) == MK_OK);
    mk_tensor_list_free(&out);
    CHECK(mk_session_profile(s, &n, &total) == NULL);
    mk_session_free(s);
    b_free(&B);
}

TEST(interp_profile_rows_paths_and_sum)
{
    profile_rows(tc, 1);
    profile_rows(tc, 2);
}

TEST(interp_threads_bit_identical_built)
{
    static const int shapes[][3] = {{16, 33, 47}, {40, 24, 24}, {8, 5, 300}, {24, 64, 96}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        bld B;
        b_init(&B, 18);
        mk_value *y = build_net(&B, shapes[c][0], shapes[c][1], shapes[c][2]);
        REQUIRE(y);
        mk_ir_block_set_outputs(B.p, B.b, 1, &y);
        mk_tensor_list ref, got;
        mk_run_options r1 = {0, 1, 0};
        REQUIRE(mk_run(B.p, &r1, &B.ins, &ref, &B.e) == MK_OK);
        for (int j = 2; j <= 3; j++) {
            mk_run_options rj = {0, j, 0};
            REQUIRE(mk_run(B.p, &rj, &B.ins, &got, &B.e) == MK_OK);
            CHECK_MSG(b_same_bits(&ref, &got), "shape %zu: -j %d differs from -j 1", c, j);
            mk_tensor_list_free(&got);
        }
        mk_tensor_list_free(&ref);
        b_free(&B);
    }
}

/* Float reduce_mean / sum / max / min over trailing axes run in chunks of rows (the classifier
 * head's global average pool): -j 2 and 3 give -j 1's bits, and every output is its row's
 * reduction (a double reference, to float rounding). */
TEST(interp_threads_reduce_rows)
{
    static const int64_t shapes[][4] = {{1, 1000, 13, 13}, {2, 7, 300, 200}, {1, 3, 1, 5}};
    static const mk_op_kind kinds[4] = {MK_OP_REDUCE_MEAN, MK_OP_REDUCE_SUM, MK_OP_REDUCE_MAX,
                                        MK_OP_REDUCE_MIN};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        bld B;
        b_init(&B, 18);
        mk_value *x = b_rand_input(&B, "x", 4, shapes[c], 31 + (unsigned)c, 1.0f);
        int32_t axes[2] = {2, 3};
        mk_value *y[4];
        for (int q = 0; q < 4; q++) y[q] = op1(&B, kinds[q], "x", x, "axes", ci(&B, 2, axes), NULL);
        REQUIRE(x && y[0] && y[1] && y[2] && y[3]);
        mk_ir_block_set_outputs(B.p, B.b, 4, y);
        mk_tensor_list ref, got;
        mk_run_options r1 = {0, 1, 0};
        REQUIRE(mk_run(B.p, &r1, &B.ins, &ref, &B.e) == MK_OK);
        REQUIRE(ref.n == 4);
        const float *in = B.ins.items[0].data;
        size_t rows = (size_t)(shapes[c][0] * shapes[c][1]),
               len = (size_t)(shapes[c][2] * shapes[c][3]);
        size_t bad = 0;
        for (size_t r = 0; r < rows; r++) {
            double sum = 0, mx = -INFINITY, mn = INFINITY;
            for (size_t i = 0; i < len; i++) {
                double v = in[r * len + i];
                sum += v;
                mx = fmax(mx, v);
                mn = fmin(mn, v);
            }
            double want[4] = {sum / (double)len, sum, mx, mn};
            for (int q = 0; q < 4; q++) {
                double g = ((const float *)ref.items[q].data)[r];
                if (fabs(g - want[q]) > 1e-6 * (1 + fabs(want[q]))) bad++;
            }
        }
        CHECK_MSG(!bad, "shape %zu: %zu outputs off their rows' reduction", c, bad);
        for (int j = 2; j <= 3; j++) {
            mk_run_options rj = {0, j, 0};
            REQUIRE(mk_run(B.p, &rj, &B.ins, &got, &B.e) == MK_OK);
            CHECK_MSG(b_same_bits(&ref, &got), "shape %zu: -j %d differs from -j 1", c, j);
            mk_tensor_list_free(&got);
        }
        mk_tensor_list_free(&ref);
        b_free(&B);
    }
}

TEST(interp_threads_bit_identical_models)
{
    static const char *const models[][2] = {
        {"ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx", "x=1,3,48,192"},
        {"ocr-models-1.4.2/package/assets/ch_PP-OCRv4_rec_infer.onnx", "x=1,3,48,320"},
        {"openwakeword-0.1.1/package/models/embedding_model.onnx", "input_1=1,76,32,1"},
        {"openwakeword-0.1.1/package/models/melspectrogram.onnx", "input=1,1280"},
    };
    int ran = 0;
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        char path[512], out[4096];
        snprintf(path, sizeof path, "tests/.cache/%s", models[m][0]);
        if (!mk_path_exists(path)) continue;
        char f1[600], f2[600];
        snprintf(f1, sizeof f1, "%s/thr%zu_1.npz", mk_test_tmpdir(), m);
        snprintf(f2, sizeof f2, "%s/thr%zu_2.npz", mk_test_tmpdir(), m);
        for (int j = 1; j <= 2; j++) {
            int rc = mk_test_sh(out, sizeof out, "%s run %s --shape %s --seed 5 -j %d -o %s",
                                mk_test_bin(), path, models[m][1], j, j == 1 ? f1 : f2);
            CHECK_MSG(rc == 0, "%s -j %d: %s", models[m][0], j, out);
        }
        mk_tensor_list a, b;
        mk_err e = {0};
        REQUIRE(mk_npz_read(f1, &a, &e) == MK_OK);
        REQUIRE(mk_npz_read(f2, &b, &e) == MK_OK);
        CHECK_MSG(b_same_bits(&a, &b), "%s: -j 2 differs from -j 1", models[m][0]);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
        ran++;
    }
    if (!ran) SKIP("no model of tests/.cache present (tests/fetch_models.sh)");
}

TEST(cli_run_profile_text_and_json)
{
    bld B;
    b_init(&B, 18);
    mk_value *y = build_net(&B, 8, 12, 12);
    REQUIRE(y);
    mk_ir_block_set_outputs(B.p, B.b, 1, &y);
    char pkg[512], out[1 << 16];
    snprintf(pkg, sizeof pkg, "%s/prof.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_program_save(B.p, pkg, MK_TARGET_DEFAULT, &B.e) == MK_OK);
    b_free(&B);
    REQUIRE(mk_test_sh(out, sizeof out, "%s run %s -j 1 --profile", mk_test_bin(), pkg) == 0);
    CHECK(strstr(out, "profile: total") && strstr(out, "kernel path") &&
          strstr(out, "conv: depthwise direct") && strstr(out, "layer_norm"));
    REQUIRE(mk_test_sh(out, sizeof out, "%s run %s -j 1 --profile --json --repeat 2", mk_test_bin(),
                       pkg) == 0);
    CHECK_MSG(out[0] == '{' && strstr(out, "\"total_ms\":") && strstr(out, "\"kinds\":[") &&
                  (strstr(out, "\"path\":\"conv: 1x1 sgemm (no copy)\"") ||
                   strstr(out, "\"path\":\"conv: 1x1 packed gemm, avx2\"") ||
                   strstr(out, "\"path\":\"conv: direct\"")) && /* AVX-512: 1x1 direct too */
                  !strstr(out, "median_ms"),
              "json: %.300s", out);
    CHECK_EQ_INT(mk_test_sh(out, sizeof out, "%s run %s --json", mk_test_bin(), pkg), 2);
    CHECK(strstr(out, "--json goes with --profile") != NULL);
}

static int fused_rows(const mk_session *s, const char *kind)
{
    int n, f = 0;
    double total;
    const mk_op_profile *r = mk_session_profile(s, &n, &total);
    for (int i = 0; i < n; i++) f += r[i].fused && !strcmp(r[i].kind, kind);
    return f;
}

TEST(interp_fused_hard_sigmoid_mul_bit_identical)
{
    for (int order = 0; order < 2; order++) {
        bld B;
        b_init(&B, 18);
        int64_t xd[4] = {1, 4, 9, 13};
        mk_value *x = b_rand_input(&B, "x", 4, xd, 3, 8.0f);
        /* NaN, infinities and -0 pass through the fused step as through the two ops */
        float *xv = B.ins.items[0].data;
        xv[0] = NAN, xv[1] = INFINITY, xv[2] = -INFINITY, xv[3] = -0.0f;
        mk_value *c = conv(&B, x, 6, 4, 3, 3, 1, 1, 21);
        mk_value *h = op1(&B, MK_OP_SIGMOID_HARD, "x", c, "alpha", cfs(&B, 1.0f / 6), "beta",
                          cfs(&B, 0.5f), NULL);
        mk_value *y = order ? op1(&B, MK_OP_MUL, "x", h, "y", c, NULL)
                            : op1(&B, MK_OP_MUL, "x", c, "y", h, NULL);
        y = op1(&B, MK_OP_ADD, "x", y, "y", cfs(&B, 0.25f), NULL);
        REQUIRE(y);
        mk_ir_block_set_outputs(B.p, B.b, 1, &y);
        mk_tensor_list ref, got;
        REQUIRE(b_run_unfused(&B, 0, &ref) == MK_OK);
        mk_run_options ro = {0, 1, 0};
        mk_session *s;
        REQUIRE(mk_session_new(B.p, &ro, &s, &B.e) == MK_OK);
        mk_session_set_profile(s, 1);
        REQUIRE(mk_session_run(s, &B.ins, &got, NULL, &B.e) == MK_OK);
        CHECK_EQ_INT(fused_rows(s, "sigmoid_hard") + fused_rows(s, "mul") + fused_rows(s, "add"),
                     3);
        CHECK_MSG(b_same_bits(&ref, &got), "order %d: fused result differs", order);
        mk_tensor_list_free(&ref);
        mk_tensor_list_free(&got);
        mk_session_free(s);
        b_free(&B);
    }
}

/* softmax's fast path (contiguous rows, polynomial exp) and layer_norm's (trailing axes) against
 * double-precision references, with -inf entries (masked scores) and rows long and short. */
TEST(interp_softmax_layer_norm_fast_paths_vs_double)
{
    static const int64_t lens[] = {1, 7, 64, 1000, 20000};
    for (size_t c = 0; c < sizeof lens / sizeof *lens; c++) {
        int64_t L = lens[c], R = 3;
        bld B;
        b_init(&B, 18);
        int64_t xd[2] = {R, L}, gd[1] = {L};
        mk_value *x = b_rand_input(&B, "x", 2, xd, 9 + (unsigned)c, 30.0f);
        float *xv = B.ins.items[0].data;
        if (L > 1) xv[1] = -INFINITY; /* row 0 only */
        float *gb = malloc((size_t)L * 8);
        unsigned seed = 5;
        for (int64_t j = 0; j < 2 * L; j++) gb[j] = 2 * b_rand(&seed);
        mk_type gt = mk_type_make(MK_DT_FP32, 1, gd);
        int32_t ax = -1;
        mk_value *sm = op1(&B, MK_OP_SOFTMAX, "x", x, "axis", cis(&B, -1), NULL);
        mk_value *ln = op1(&B, MK_OP_LAYER_NORM, "x", x, "axes", ci(&B, 1, &ax), "gamma",
                           mk_ir_const(B.p, B.b, "g", &gt, gb, (size_t)L * 4, 0), "beta",
                           mk_ir_const(B.p, B.b, "b", &gt, gb + L, (size_t)L * 4, 0), "epsilon",
                           cfs(&B, 1e-5f), NULL);
        REQUIRE(sm && ln);
        mk_value *outs[2] = {sm, ln};
        mk_ir_block_set_outputs(B.p, B.b, 2, outs);
        mk_tensor_list out;
        mk_run_options ro = {0, 2, 0};
        REQUIRE(mk_run(B.p, &ro, &B.ins, &out, &B.e) == MK_OK);
        const float *s = out.items[0].data, *l = out.items[1].data;
        for (int64_t r = 0; r < R; r++) {
            const float *xr = xv + r * L;
            double mx = -INFINITY, sum = 0, worst = 0;
            for (int64_t j = 0; j < L; j++) mx = xr[j] > mx ? xr[j] : mx;
            for (int64_t j = 0; j < L; j++) sum += exp((double)xr[j] - mx);
            for (int64_t j = 0; j < L; j++) {
                double want = exp((double)xr[j] - mx) / sum, got = s[r * L + j];
                double err = want > 1e-30 ? fabs(got - want) / want : fabs(got - want) > 1e-30;
                worst = err > worst ? err : worst;
            }
            CHECK_MSG(worst < 2e-6, "softmax len %lld row %lld: rel err %g", (long long)L,
                      (long long)r, worst);
            if (r == 0 && L > 1) {
                CHECK(s[1] == 0.0f);
                continue; /* layer_norm of a row holding -inf is NaN */
            }
            double m = 0, v = 0;
            for (int64_t j = 0; j < L; j++) m += xr[j];
            m /= (double)L;
            for (int64_t j = 0; j < L; j++) v += (xr[j] - m) * (xr[j] - m);
            v /= (double)L;
            worst = 0;
            for (int64_t j = 0; j < L; j++) {
                double want = (xr[j] - m) / sqrt(v + 1e-5) * gb[j] + gb[L + j];
                double err = fabs(l[r * L + j] - want);
                worst = err > worst ? err : worst;
            }
            CHECK_MSG(worst < 1e-5, "layer_norm len %lld row %lld: abs err %g", (long long)L,
                      (long long)r, worst);
        }
        free(gb);
        mk_tensor_list_free(&out);
        b_free(&B);
    }
}

/* gelu EXACT's polynomial erf against the double-precision formula, infinities included. */
TEST(interp_gelu_exact_fast_path_vs_double)
{
    bld B;
    b_init(&B, 18);
    int64_t xd[1] = {4001};
    mk_value *x = b_rand_input(&B, "x", 1, xd, 1, 1.0f);
    float *xv = B.ins.items[0].data;
    for (int i = 0; i < 4000; i++) xv[i] = -10.0f + 20.0f * (float)i / 4000.0f;
    xv[4000] = INFINITY;
    mk_value *y = op1(&B, MK_OP_GELU, "x", x, "mode", cs(&B, "EXACT"), NULL);
    REQUIRE(y);
    mk_ir_block_set_outputs(B.p, B.b, 1, &y);
    mk_tensor_list out;
    mk_run_options ro = {0, 1, 0};
    REQUIRE(mk_run(B.p, &ro, &B.ins, &out, &B.e) == MK_OK);
    const float *o = out.items[0].data;
    double worst = 0;
    for (int i = 0; i < 4000; i++) {
        double v = xv[i], want = 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
        double err = fabs(o[i] - want) / (fabs(v) > 1 ? fabs(v) : 1);
        worst = err > worst ? err : worst;
    }
    CHECK_MSG(worst < 1e-6, "gelu: scaled abs err %g", worst);
    CHECK(o[4000] == INFINITY);
    mk_tensor_list_free(&out);
    b_free(&B);
}

/* Under fp16 emulation the fused chains round the host's result, each step's and each inner
 * value of a pattern, with fp16 constants: the same bits as the ops run one by one. A step
 * overflowing half precision is still reported. */
TEST(interp_fp16_emulate_fused_chains_bit_identical)
{
    for (int big = 0; big < 2; big++) {
        bld B;
        b_init(&B, 18);
        int64_t xd[4] = {1, 3, 11, 17};
        mk_value *x = b_rand_input(&B, "x", 4, xd, 4, 3.0f);
        mk_value *c = conv(&B, x, 8, 3, 3, 3, 1, 1, 31);
        mk_value *h = op1(&B, MK_OP_SIGMOID_HARD, "x", c, "alpha", cfs(&B, 0.2f), "beta",
                          cfs(&B, 0.5f), NULL);
        mk_value *y = op1(&B, MK_OP_MUL, "x", c, "y", h, NULL);
        y = op1(&B, MK_OP_MUL, "x", y, "y", cfs(&B, big ? 30000.0f : 1.7f), NULL);
        mk_value *a = op1(&B, MK_OP_ADD, "x", y, "y", cfs(&B, 3.0f), NULL);
        mk_value *cl = op1(&B, MK_OP_CLIP, "x", a, "alpha", cfs(&B, 0), "beta", cfs(&B, 6), NULL);
        y = op1(&B, MK_OP_MUL, "x", y, "y", cl, NULL);
        y = op1(&B, MK_OP_REAL_DIV, "x", y, "y", cfs(&B, 6), NULL);
        y = op1(&B, MK_OP_LEAKY_RELU, "x", y, "alpha", cfs(&B, 0.1f), NULL);
        REQUIRE(y);
        mk_ir_block_set_outputs(B.p, B.b, 1, &y);
        mk_run_options ro = {1, 1, 0};
        mk_interp *ip;
        REQUIRE(mk_interp_new_observed(B.p, &ro, b_observe_nothing, NULL, &ip, &B.e) == MK_OK);
        const mk_tensor *ins[1] = {&B.ins.items[0]};
        mk_tensor_list ref, got;
        mk_interp_result r1;
        REQUIRE(mk_interp_exec(ip, ins, &ref, &r1, &B.e) == MK_OK);
        mk_interp_free(ip);
        mk_session *s;
        REQUIRE(mk_session_new(B.p, &ro, &s, &B.e) == MK_OK);
        mk_session_set_profile(s, 1);
        mk_run_report r2;
        REQUIRE(mk_session_run(s, &B.ins, &got, &r2, &B.e) == MK_OK);
        CHECK_EQ_INT(fused_rows(s, "mul") + fused_rows(s, "sigmoid_hard") + fused_rows(s, "add") +
                         fused_rows(s, "clip") + fused_rows(s, "real_div") +
                         fused_rows(s, "leaky_relu"),
                     8);
        CHECK_MSG(b_same_bits(&ref, &got), "big=%d: fused fp16 result differs", big);
        CHECK_EQ_INT(r1.warning[0] != 0, big);
        CHECK_EQ_INT(r2.warning[0] != 0, big);
        mk_tensor_list_free(&ref);
        mk_tensor_list_free(&got);
        mk_session_free(s);
        b_free(&B);
    }
}

/* conv -> batch_norm -> sigmoid_hard * x fused (batch_norm as a per-channel step) on a plain,
 * a grouped and a depthwise conv host, fp32 and fp16-emulated: the same bits as unfused. */
TEST(interp_fused_batch_norm_bit_identical)
{
    static const int groups[] = {1, 2, 6};
    for (int fp16 = 0; fp16 < 2; fp16++)
        for (size_t gi = 0; gi < sizeof groups / sizeof *groups; gi++) {
            int G = groups[gi], C = 6;
            bld B;
            b_init(&B, 18);
            int64_t xd[4] = {2, C, 9, 14}, cd[1] = {C};
            mk_value *x = b_rand_input(&B, "x", 4, xd, 8, 2.0f);
            mk_value *c = conv(&B, x, C, C / G, 3, 3, G, 1, 41 + (unsigned)gi);
            mk_value *bn = op1(&B, MK_OP_BATCH_NORM, "x", c, "mean", crand(&B, 1, cd, 4, 0.5f),
                               "variance", cfs(&B, 0.7f), "gamma", crand(&B, 1, cd, 6, 2.0f),
                               "beta", crand(&B, 1, cd, 7, 1.0f), "epsilon", cfs(&B, 1e-3f), NULL);
            mk_value *h = op1(&B, MK_OP_SIGMOID_HARD, "x", bn, "alpha", cfs(&B, 0.2f), "beta",
                              cfs(&B, 0.5f), NULL);
            mk_value *y = op1(&B, MK_OP_MUL, "x", bn, "y", h, NULL);
            REQUIRE(y);
            mk_ir_block_set_outputs(B.p, B.b, 1, &y);
            mk_run_options ro = {fp16, 1, 0};
            mk_interp *ip;
            REQUIRE(mk_interp_new_observed(B.p, &ro, b_observe_nothing, NULL, &ip, &B.e) == MK_OK);
            const mk_tensor *ins[1] = {&B.ins.items[0]};
            mk_tensor_list ref, got;
            REQUIRE(mk_interp_exec(ip, ins, &ref, NULL, &B.e) == MK_OK);
            mk_interp_free(ip);
            mk_session *s;
            REQUIRE(mk_session_new(B.p, &ro, &s, &B.e) == MK_OK);
            mk_session_set_profile(s, 1);
            REQUIRE(mk_session_run(s, &B.ins, &got, NULL, &B.e) == MK_OK);
            CHECK_EQ_INT(fused_rows(s, "batch_norm") + fused_rows(s, "mul"), 2);
            CHECK_MSG(b_same_bits(&ref, &got), "groups %d fp16 %d: fused result differs", G, fp16);
            mk_tensor_list_free(&ref);
            mk_tensor_list_free(&got);
            mk_session_free(s);
            b_free(&B);
        }
}

/* ---- the direct conv kernel against a double-precision reference ---- */

typedef struct conv_case {
    int ns, N, cin, cout, groups, bias, relu; /* 1 relu, 2 relu6, 3 clip [-0.25, 0.3], 4 leaky */
    int in[3], k[3], s[3], d[3], pad[6]; /* per spatial dim (first ns used); pad: before, after */
} conv_case;

/* out[n][co][o...] = relu?(bias + sum x * w) in double; dims right-aligned in 3 slots. */
static void conv_ref(const conv_case *c, const float *x, const float *w, const float *b,
                     const int64_t *o, double *out)
{
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0};
    for (int i = 0; i < c->ns; i++) {
        int j = 3 - c->ns + i;
        in[j] = c->in[i], k[j] = c->k[i], s[j] = c->s[i], d[j] = c->d[i], pb[j] = c->pad[2 * i];
    }
    int64_t cig = c->cin / c->groups, cog = c->cout / c->groups, o_n = o[0] * o[1] * o[2];
    int64_t in_n = in[0] * in[1] * in[2], k_n = k[0] * k[1] * k[2];
    for (int64_t n = 0; n < c->N; n++)
        for (int64_t co = 0; co < c->cout; co++)
            for (int64_t p = 0; p < o_n; p++) {
                int64_t oq[3] = {p / (o[1] * o[2]), p / o[2] % o[1], p % o[2]};
                double acc = b ? b[co] : 0;
                for (int64_t ci = 0; ci < cig; ci++)
                    for (int64_t t = 0; t < k_n; t++) {
                        int64_t kq[3] = {t / (k[1] * k[2]), t / k[2] % k[1], t % k[2]}, ii[3];
                        int ok = 1;
                        for (int j = 0; j < 3; j++) {
                            ii[j] = oq[j] * s[j] + kq[j] * d[j] - pb[j];
                            ok &= ii[j] >= 0 && ii[j] < in[j];
                        }
                        if (!ok) continue;
                        int64_t xc = n * c->cin + (co / cog) * cig + ci;
                        acc += (double)x[xc * in_n + (ii[0] * in[1] + ii[1]) * in[2] + ii[2]] *
                               w[(co * cig + ci) * k_n + t];
                    }
                if (c->relu == 4 && acc < 0) acc *= (double)0.1f;
                if (c->relu && c->relu < 3 && acc < 0) acc = 0;
                if (c->relu == 3 && acc < -0.25) acc = -0.25;
                if (c->relu == 2 && acc > 6) acc = 6;
                if (c->relu == 3 && acc > 0.3) acc = 0.3;
                out[(n * c->cout + co) * o_n + p] = acc;
            }
}

/* Runs case c at the given threads and kernel level; returns the output (caller frees) or NULL
 * and the conv row's kernel path in path. */
static float *conv_run(mk_test_ctx *tc, const conv_case *c, const float *x, const float *w,
                       const float *b, int threads, int level, char *path, size_t path_n,
                       int64_t *o)
{
    bld B;
    b_init(&B, 18);
    int64_t xd[5] = {c->N, c->cin}, wd[5] = {c->cout, c->cin / c->groups}, bd[1] = {c->cout};
    size_t xn = (size_t)c->N * c->cin, wn = (size_t)c->cout * (c->cin / c->groups);
    int32_t st[3], dl[3], pd[6];
    for (int i = 0; i < c->ns; i++) {
        xd[2 + i] = c->in[i], wd[2 + i] = c->k[i];
        xn *= (size_t)c->in[i], wn *= (size_t)c->k[i];
        st[i] = c->s[i], dl[i] = c->d[i], pd[2 * i] = c->pad[2 * i],
        pd[2 * i + 1] = c->pad[2 * i + 1];
    }
    mk_type xt = mk_type_make(MK_DT_FP32, c->ns + 2, xd),
            wt = mk_type_make(MK_DT_FP32, c->ns + 2, wd), bt = mk_type_make(MK_DT_FP32, 1, bd);
    mk_value *xv = mk_ir_function_add_input(B.p, B.f, "x", &xt);
    mk_tensor tt;
    memset(&tt, 0, sizeof tt);
    tt.name = mk_strdup_default("x");
    tt.dtype = MK_DT_FP32;
    tt.rank = c->ns + 2;
    memcpy(tt.dims, xd, sizeof xd);
    tt.nbytes = xn * 4;
    tt.data = malloc(tt.nbytes);
    memcpy(tt.data, x, tt.nbytes);
    mk_tensor_list_push(&B.ins, &tt, NULL);
    mk_value *y =
        op1(&B, MK_OP_CONV, "x", xv, "weight", mk_ir_const(B.p, B.b, "w", &wt, w, wn * 4, 0),
            "bias", b ? mk_ir_const(B.p, B.b, "b", &bt, b, (size_t)c->cout * 4, 0) : NULL,
            "strides", ci(&B, c->ns, st), "dilations", ci(&B, c->ns, dl), "pad_type",
            cs(&B, "custom"), "pad", ci(&B, 2 * c->ns, pd), "groups", cis(&B, c->groups), NULL);
    y = b_act(&B, y, c->relu);
    int64_t od[8];
    mk_conv_direct_cap(level);
    mk_conv_wino_enable(0); /* this test is the direct kernel's; test_k_conv_wino.c tests that */
    float *res = b_run_profiled(&B, y, threads, 0, 1, "conv", path, path_n, od, NULL);
    mk_conv_direct_cap(2);
    mk_conv_wino_enable(1);
    o[0] = o[1] = o[2] = 1;
    for (int i = 0; res && i < c->ns; i++) o[3 - c->ns + i] = od[2 + i];
    CHECK_MSG(res, "conv run: %s", B.e.msg);
    b_free(&B);
    return res;
}

TEST(interp_conv_direct_vs_reference)
{
    static const conv_case cases[] = {
        /* ns N cin cout g bias relu | in | k | s | d | pad */
        {2, 1, 5, 7, 1, 1, 1, {9, 13}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 4, 9, 1, 1, 0, {11, 17}, {3, 3}, {2, 2}, {1, 1}, {0, 1, 1, 0}},
        {2, 1, 3, 16, 1, 0, 0, {10, 23}, {2, 5}, {1, 3}, {2, 1}, {0, 0, 2, 1}},
        {2, 1, 6, 10, 2, 1, 1, {12, 50}, {3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}},
        {1, 1, 8, 12, 1, 1, 1, {101}, {7}, {1}, {3}, {9, 9}},
        {1, 1, 3, 5, 1, 1, 0, {64}, {4}, {2}, {1}, {1, 2}},
        {2, 1, 17, 33, 1, 1, 0, {7, 9}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
        {2, 1, 8, 8, 1, 0, 1, {9, 9}, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
        {3, 1, 3, 4, 1, 1, 0, {5, 6, 7}, {3, 3, 3}, {2, 1, 1}, {1, 1, 1}, {1, 1, 1, 1, 1, 1}},
        {2, 2, 4, 8, 2, 1, 1, {5, 70}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 2, 3, 1, 1, 0, {3, 3}, {5, 5}, {1, 1}, {1, 1}, {2, 2, 2, 2}},
        {2, 1, 3, 4, 1, 1, 0, {20, 1}, {3, 1}, {1, 1}, {1, 1}, {1, 1, 0, 0}},
        {2, 1, 16, 32, 1, 1, 1, {40, 40}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 3, 8, 1, 1, 0, {33, 31}, {3, 3}, {2, 3}, {1, 2}, {1, 0, 2, 1}},
        /* depthwise (one input channel per group): 1 and 2 outputs per group */
        {2, 1, 12, 12, 12, 1, 1, {19, 37}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 2, 6, 12, 6, 0, 0, {15, 21}, {5, 5}, {2, 2}, {1, 1}, {2, 2, 1, 2}},
        {1, 1, 9, 9, 9, 1, 0, {157}, {5}, {1}, {4}, {8, 8}},
        {2, 1, 16, 16, 16, 1, 1, {20, 64}, {3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}},
        /* activations applied in registers: relu6, clip; packed weights with spare lanes */
        {2, 1, 5, 13, 1, 1, 2, {9, 21}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 6, 11, 1, 1, 3, {8, 35}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
        {2, 1, 8, 10, 2, 0, 3, {11, 19}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
        {1, 1, 7, 9, 1, 1, 2, {77}, {3}, {2}, {2}, {2, 2}},
        {2, 1, 4, 12, 4, 1, 3, {13, 29}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        /* outputs >= 16 wide from wider planes: only the kept columns stored (AVX-512) */
        {2, 1, 3, 16, 1, 1, 4, {21, 45}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 5, 9, 1, 1, 4, {6, 17}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 4, 8, 1, 0, 1, {7, 18}, {2, 2}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
        /* packed stores: rows narrower than a vector (one vector spans 2-3 rows), a stem conv
         * (3 channels, stride 2, odd size), a 27-wide plane, an unfused epilogue, spans */
        {2, 1, 16, 24, 1, 1, 1, {13, 13}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 3, 64, 1, 1, 1, {49, 49}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
        {2, 1, 8, 20, 1, 1, 4, {27, 27}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 4, 9, 1, 0, 0, {5, 5}, {5, 5}, {1, 1}, {1, 1}, {2, 2, 2, 2}},
        {2, 2, 6, 16, 2, 1, 3, {7, 11}, {3, 3}, {2, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 32, 16, 1, 1, 1, {61, 61}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        /* stride 2 without padding over even sizes: the phase planes copied without zeroing */
        {2, 2, 3, 24, 1, 1, 1, {32, 30}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
        {1, 1, 5, 16, 1, 1, 0, {66}, {5}, {2}, {1}, {0, 0}},
        /* stride-2 rows split in one pass (AVX-512): an odd left pad (even columns to phase
         * 1) over 77 columns; a stem whose output is larger than L2 (stores fetched ahead) */
        {2, 1, 2, 8, 1, 1, 0, {5, 77}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 3, 32, 1, 1, 1, {190, 190}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
        /* a SqueezeNet squeeze conv: 2 spans, 3 with -j 3 */
        {2, 1, 64, 16, 1, 1, 1, {55, 55}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
        /* AVX2 depthwise by output rows: multipliers 3 and 2, strides 2 and 3 (the generic
         * phase split), odd pads, dilation, rows wider than 32 with a masked tail, the
         * epilogue outside the registers (leaky), one output position, several windows */
        {2, 1, 8, 24, 8, 1, 2, {23, 45}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 5, 5, 5, 1, 4, {17, 9}, {5, 5}, {2, 2}, {1, 1}, {2, 1, 2, 2}},
        {2, 1, 4, 4, 4, 0, 3, {30, 70}, {3, 3}, {1, 1}, {2, 3}, {2, 2, 3, 3}},
        {2, 1, 3, 6, 3, 1, 1, {14, 40}, {3, 5}, {3, 3}, {1, 1}, {1, 0, 2, 2}},
        {2, 1, 2, 2, 2, 1, 0, {1, 1}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 1, 2, 2, 2, 1, 1, {100, 300}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 2, 2, 2, 2, 1, 0, {90, 251}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
        {1, 1, 3, 3, 3, 1, 4, {45}, {5}, {2}, {1}, {2, 1}},
        /* AVX2 stores by output rows (>= 96 columns from wider planes): channels not a
         * multiple of 4, a stem, a 1-D conv, dilation, the epilogue outside the registers */
        {2, 1, 3, 6, 1, 1, 1, {9, 223}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
        {2, 1, 4, 5, 1, 1, 4, {7, 100}, {3, 3}, {1, 1}, {1, 2}, {1, 1, 2, 2}},
        {1, 1, 3, 8, 1, 0, 2, {201}, {5}, {2}, {1}, {2, 2}},
        {2, 1, 6, 9, 3, 1, 0, {5, 130}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        /* AVX2 rows sharing their padding columns: openWakeWord's 1x3 convs on 32 and 2
         * columns, channels not a multiple of 4 with the epilogue outside the registers,
         * row stride 2 with dilation and unequal pads, wide pads (planes as wide as the output:
         * no staging), a 1-D conv, a 1x1 input, images and groups one after another */
        {2, 1, 24, 24, 1, 1, 1, {6, 32}, {1, 3}, {1, 1}, {1, 1}, {0, 0, 1, 1}},
        {2, 1, 9, 7, 1, 1, 4, {5, 2}, {1, 3}, {1, 1}, {1, 1}, {0, 0, 1, 1}},
        {2, 1, 5, 6, 1, 0, 0, {7, 11}, {3, 3}, {2, 1}, {1, 2}, {1, 2, 1, 3}},
        {2, 1, 4, 8, 1, 1, 1, {5, 9}, {3, 3}, {1, 1}, {1, 1}, {2, 2, 2, 2}},
        {1, 1, 6, 5, 1, 1, 0, {13}, {3}, {1}, {1}, {1, 1}},
        {2, 1, 3, 4, 1, 1, 0, {1, 1}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
        {2, 2, 6, 8, 2, 1, 1, {3, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
    };
    int top = mk_conv_direct_level();
    if (top < 1) printf("      no AVX2/FMA here: only the im2col path runs\n");
    for (size_t ci_ = 0; ci_ < sizeof cases / sizeof *cases; ci_++) {
        const conv_case *c = &cases[ci_];
        size_t xn = (size_t)c->N * c->cin, wn = (size_t)c->cout * (c->cin / c->groups), on;
        for (int i = 0; i < c->ns; i++) xn *= (size_t)c->in[i], wn *= (size_t)c->k[i];
        float *x = rand_arr(xn, 100 + (unsigned)ci_, 1.0f),
              *w = rand_arr(wn, 200 + (unsigned)ci_, 0.3f);
        float *b = c->bias ? rand_arr((size_t)c->cout, 300 + (unsigned)ci_, 0.5f) : NULL;
        float *first = NULL;
        double *ref = NULL;
        for (int level = top; level >= 0; level--) {
            char p1[64] = "", p2[64] = "";
            int64_t o[3], o2[3];
            float *a = conv_run(tc, c, x, w, b, 1, level, p1, sizeof p1, o);
            float *a2 = conv_run(tc, c, x, w, b, 2, level, p2, sizeof p2, o2);
            if (!a || !a2) {
                free(a);
                free(a2);
                break;
            }
            on = (size_t)c->N * c->cout * (size_t)(o[0] * o[1] * o[2]);
            if (!ref) {
                ref = malloc(on * sizeof *ref);
                conv_ref(c, x, w, b, o, ref);
            }
            int unit = 1; /* a 1x1 stride-1 unpadded conv is an sgemm below AVX-512 */
            for (int i = 0; i < c->ns; i++)
                unit &= c->k[i] == 1 && c->s[i] == 1 && !c->pad[2 * i] && !c->pad[2 * i + 1];
            int direct = level >= 1 && !(unit && level < 2);
            if (c->groups == c->cin && c->groups > 1) /* depthwise: the older kernel below AVX2 */
                direct = level >= 1 ? 2 : 0;
            if (direct == 2)
                CHECK_MSG(strstr(p1, "depthwise direct, blocked"), "case %zu level %d: path '%s'",
                          ci_, level, p1);
            else if (c->groups == c->cin && c->groups > 1)
                CHECK_MSG(!strstr(p1, "blocked"), "case %zu level %d: path '%s'", ci_, level, p1);
            else
                CHECK_MSG(direct ? strstr(p1, "direct") != NULL : !strstr(p1, "direct"),
                          "case %zu level %d: path '%s'", ci_, level, p1);
            CHECK_MSG(!memcmp(a, a2, on * 4), "case %zu level %d: -j 1 and -j 2 differ", ci_,
                      level);
            if (level == 2) { /* packed stores (the default) = staged rows, bit for bit */
                char p3[64] = "";
                int64_t o3[3];
                mk_conv_direct_pack(0);
                float *a3 = conv_run(tc, c, x, w, b, 2, level, p3, sizeof p3, o3);
                mk_conv_direct_pack(1);
                CHECK_MSG(a3 && !memcmp(a, a3, on * 4), "case %zu: packed and staged stores differ",
                          ci_);
                free(a3);
                /* three threads: spans a multiple of 3 where the output has one slice */
                float *a4 = conv_run(tc, c, x, w, b, 3, level, p3, sizeof p3, o3);
                CHECK_MSG(a4 && !memcmp(a, a4, on * 4), "case %zu: -j 1 and -j 3 differ", ci_);
                free(a4);
            }
            if (level == 1) { /* AVX2: rows of >= 96 kept columns stored by rows = staged */
                char p3[64] = "";
                int64_t o3[3];
                mk_conv_direct_pack(0);
                float *a3 = conv_run(tc, c, x, w, b, 2, level, p3, sizeof p3, o3);
                mk_conv_direct_pack(1);
                CHECK_MSG(a3 && !memcmp(a, a3, on * 4),
                          "case %zu: AVX2 stores by rows and staged differ", ci_);
                free(a3);
                /* rows sharing padding columns (the default) = rows P2 apart; -j 3 too */
                mk_conv_direct_wrap(0);
                a3 = conv_run(tc, c, x, w, b, 2, level, p3, sizeof p3, o3);
                mk_conv_direct_wrap(1);
                CHECK_MSG(a3 && !memcmp(a, a3, on * 4),
                          "case %zu: AVX2 shared and separate padding columns differ", ci_);
                free(a3);
                a3 = conv_run(tc, c, x, w, b, 3, level, p3, sizeof p3, o3);
                CHECK_MSG(a3 && !memcmp(a, a3, on * 4), "case %zu: AVX2 -j 1 and -j 3 differ", ci_);
                free(a3);
            }
            if (level == 1 && c->groups == c->cin && c->groups > 1) {
                /* AVX2 depthwise: by output rows (the default) = by staged positions, bit for
                 * bit; -j 3 too */
                char p3[64] = "";
                int64_t o3[3];
                mk_conv_direct_dwrows(0);
                float *a3 = conv_run(tc, c, x, w, b, 2, level, p3, sizeof p3, o3);
                mk_conv_direct_dwrows(1);
                CHECK_MSG(a3 && !memcmp(a, a3, on * 4),
                          "case %zu: depthwise by rows and by positions differ", ci_);
                free(a3);
                float *a4 = conv_run(tc, c, x, w, b, 3, level, p3, sizeof p3, o3);
                CHECK_MSG(a4 && !memcmp(a, a4, on * 4), "case %zu: -j 1 and -j 3 differ", ci_);
                free(a4);
            }
            size_t bad = 0, worst = 0;
            double wd_ = 0;
            for (size_t i = 0; i < on; i++) {
                double dd = fabs(a[i] - ref[i]), tol = 1e-5 + 1e-5 * fabs(ref[i]);
                if (dd > tol) bad++;
                if (dd - tol > wd_) wd_ = dd - tol, worst = i;
            }
            CHECK_MSG(!bad,
                      "case %zu level %d: %zu of %zu beyond 1e-5+1e-5|ref| (at %zu: %g vs %g)", ci_,
                      level, bad, on, worst, (double)a[worst], ref[worst]);
            if (!first) {
                first = a;
            } else {
                free(a);
            }
            free(a2);
        }
        free(first);
        free(ref);
        free(x);
        free(w);
        free(b);
    }
}

/* scaled_dot_product_attention with a broadcast float mask (the fast path reads it in place)
 * and with a bool mask that blanks a whole row, against a double reference; -j 1 = -j 2. */
TEST(interp_sdpa_masks_vs_double)
{
    enum { B0 = 2, H = 3, L = 5, S = 7, E = 4, EV = 3 };
    for (int boolean = 0; boolean < 2; boolean++) {
        float *res[2] = {NULL, NULL};
        double ref[B0 * H * L * EV];
        float *qd = rand_arr(B0 * H * L * E, 41, 1.0f), *kd = rand_arr(B0 * H * S * E, 42, 1.0f);
        float *vd = rand_arr(B0 * H * S * EV, 43, 1.0f), *md = rand_arr(L * S, 44, 2.0f);
        uint8_t mb[L * S];
        for (int i = 0; i < L * S; i++) mb[i] = (uint8_t)(i / S != 2 && md[i] > -0.5f);
        md[3] = -1e9f;
        for (int b = 0; b < B0 * H; b++)
            for (int l = 0; l < L; l++) {
                double sc[S], mx = -INFINITY, sum = 0;
                for (int s = 0; s < S; s++) {
                    double a = 0;
                    for (int e = 0; e < E; e++)
                        a += (double)qd[(b * L + l) * E + e] * kd[(b * S + s) * E + e];
                    a /= sqrt((double)E);
                    if (boolean)
                        a = mb[l * S + s] ? a : -INFINITY;
                    else
                        a += md[l * S + s];
                    sc[s] = a;
                    mx = a > mx ? a : mx;
                }
                for (int s = 0; s < S; s++) sum += sc[s] = mx == -INFINITY ? 0 : exp(sc[s] - mx);
                for (int ev = 0; ev < EV; ev++) {
                    double o = 0;
                    for (int s = 0; s < S; s++)
                        o += (sum > 0 ? sc[s] / sum : 0) * vd[(b * S + s) * EV + ev];
                    ref[(b * L + l) * EV + ev] = o;
                }
            }
        for (int th = 1; th <= 2; th++) {
            bld Bq;
            b_init(&Bq, 18);
            int64_t qs[4] = {B0, H, L, E}, ks[4] = {B0, H, S, E}, vs[4] = {B0, H, S, EV},
                    ms[4] = {1, 1, L, S};
            mk_type qt = mk_type_make(MK_DT_FP32, 4, qs), kt = mk_type_make(MK_DT_FP32, 4, ks),
                    vt = mk_type_make(MK_DT_FP32, 4, vs),
                    mt = mk_type_make(boolean ? MK_DT_BOOL : MK_DT_FP32, 4, ms);
            mk_value *m =
                mk_ir_const(Bq.p, Bq.b, "m", &mt, boolean ? (const void *)mb : (const void *)md,
                            boolean ? sizeof mb : (size_t)L * S * 4, 0);
            mk_value *y =
                op1(&Bq, MK_OP_SCALED_DOT_PRODUCT_ATTENTION, "query",
                    mk_ir_const(Bq.p, Bq.b, "q", &qt, qd, (size_t)B0 * H * L * E * 4, 0), "key",
                    mk_ir_const(Bq.p, Bq.b, "k", &kt, kd, (size_t)B0 * H * S * E * 4, 0), "value",
                    mk_ir_const(Bq.p, Bq.b, "v", &vt, vd, (size_t)B0 * H * S * EV * 4, 0),
                    "attn_mask", m, NULL);
            REQUIRE(y);
            mk_ir_block_set_outputs(Bq.p, Bq.b, 1, &y);
            mk_run_options ro = {0, th, 0};
            mk_tensor_list out = {0, NULL};
            REQUIRE(mk_run(Bq.p, &ro, &Bq.ins, &out, &Bq.e) == MK_OK && out.n == 1);
            res[th - 1] = malloc(out.items[0].nbytes);
            memcpy(res[th - 1], out.items[0].data, out.items[0].nbytes);
            mk_tensor_list_free(&out);
            b_free(&Bq);
        }
        CHECK_MSG(!memcmp(res[0], res[1], sizeof(float) * B0 * H * L * EV), "mask %d: -j differs",
                  boolean);
        for (int i = 0; i < B0 * H * L * EV; i++)
            CHECK_MSG(fabs(res[0][i] - ref[i]) <= 1e-5 + 1e-4 * fabs(ref[i]),
                      "mask %d [%d]: %g vs %g", boolean, i, (double)res[0][i], ref[i]);
        free(res[0]);
        free(res[1]);
        free(qd);
        free(kd);
        free(vd);
        free(md);
    }
}
