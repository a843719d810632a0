/* The packed GEMM (k_gemm.c) behind matmul and linear, at each level this CPU has (AVX2: 6 x 16
 * blocks, AVX-512: 8 x 32; mk_conv_direct_cap): against a double-precision
 * reference on shapes with row tails (1-9, 50 rows: blocks of 8, 4, 2, 1), column tails (one
 * vector or two, panels of 32), K of 1 to 300, y as [K][N] or transposed, constant or run-time
 * weights, bias (linear) and a fused relu; the batches of x folded into rows; -j 1 and -j 2
 * bit-identical, a second run of the session (packed weights reused) the same bytes; the
 * profile shows the path ran, and with it off OpenBLAS runs the same op within rounding. */
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "interp/k_conv_direct.h"
#include "interp/k_gemm.h"
#include "test.h"

#include "opsem_build.h"

typedef struct gcase {
    int B, M, K, N;
    int linear; /* else matmul */
    int ty;     /* matmul: y given as [N][K] with transpose_y */
    int y_in;   /* weights a run-time input */
    int bias;   /* linear only */
    int relu;
} gcase;

/* Runs case c: x [B, M, K]; returns the output (caller frees), the op's kernel path in path. */
static float *grun(mk_test_ctx *tc, const gcase *c, const float *x, const float *w, const float *b,
                   int threads, char *path, size_t path_n)
{
    bld B;
    b_init(&B, 18);
    int64_t xd[3] = {c->B, c->M, c->K}, bd[1] = {c->N};
    int64_t wd[2] = {c->linear || c->ty ? c->N : c->K, c->linear || c->ty ? c->K : c->N};
    mk_value *xv = b_input(&B, "x", 3, xd, x);
    mk_value *wv = c->y_in ? b_input(&B, "w", 2, wd, w) : cf(&B, 2, wd, w);
    mk_op *o = c->linear ? op(&B, MK_OP_LINEAR, 1, "x", xv, "weight", wv, "bias",
                              c->bias ? cf(&B, 1, bd, b) : NULL, NULL)
                         : op(&B, MK_OP_MATMUL, 1, "x", xv, "y", wv, "transpose_x", cb(&B, 0),
                              "transpose_y", cb(&B, c->ty), NULL);
    mk_value *y = b_act(&B, o ? o->outputs[0] : NULL, c->relu);
    int same;
    float *res = b_run_profiled(&B, y, threads, 0, 2, c->linear ? "linear" : "matmul", path, path_n,
                                NULL, &same);
    CHECK_MSG(same, "second run differs from the first");
    CHECK_MSG(res, "run: %s", B.e.msg);
    b_free(&B);
    return res;
}

TEST(interp_gemm_packed_vs_reference)
{
    static const gcase cases[] = {
        /* B M K N | linear ty y_in bias relu */
        {1, 50, 64, 64, 0, 0, 0, 0, 0},  /* whisper's projections: 6 blocks of 8, one of 2 */
        {1, 9, 37, 33, 0, 1, 0, 0, 1},   /* transposed y, one column past a panel, relu */
        {2, 3, 16, 100, 0, 0, 0, 0, 0},  /* batches folded into 6 rows, 4 panels, tail 4 */
        {1, 1, 300, 17, 0, 0, 1, 0, 0},  /* one row, y an input (packed per call) */
        {1, 50, 128, 48, 1, 0, 0, 1, 0}, /* linear with bias: from the bias rows */
        {1, 7, 1, 16, 1, 0, 0, 1, 1},    /* K = 1, one vector, relu */
        {1, 4, 200, 520, 1, 0, 1, 0, 0}, /* linear, weights an input, 17 panels */
        {1, 130, 96, 96, 0, 0, 0, 0, 0}, /* several chunks (threads split the pairs) */
    };
    int top = mk_conv_direct_level();
    if (top < 1) SKIP("no AVX2 here: the packed GEMM does not run");
    for (size_t kl = 0; kl < (size_t)top * (sizeof cases / sizeof *cases); kl++) {
        size_t k = kl % (sizeof cases / sizeof *cases);
        mk_conv_direct_cap(1 + (int)(kl / (sizeof cases / sizeof *cases)));
        const gcase *c = &cases[k];
        int R = c->B * c->M;
        size_t xn = (size_t)R * c->K, wn = (size_t)c->K * c->N, on = (size_t)R * c->N;
        unsigned s = 4100 + (unsigned)k;
        float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc((size_t)c->N * 4);
        double *ref = malloc(on * sizeof *ref);
        REQUIRE(x && w && b && ref);
        for (size_t i = 0; i < xn; i++) x[i] = b_rand(&s);
        for (size_t i = 0; i < wn; i++) w[i] = b_rand(&s);
        for (int i = 0; i < c->N; i++) b[i] = b_rand(&s);
        int nk = c->linear || c->ty; /* w stored [N][K] */
        for (int r = 0; r < R; r++)
            for (int n = 0; n < c->N; n++) {
                double a = c->linear && c->bias ? b[n] : 0;
                for (int q = 0; q < c->K; q++)
                    a += (double)x[(size_t)r * c->K + q] *
                         w[nk ? (size_t)n * c->K + q : (size_t)q * c->N + n];
                ref[(size_t)r * c->N + n] = b_act_ref(c->relu, a);
            }
        char p1[96] = "", p2[96] = "", p0[96] = "";
        float *o1 = grun(tc, c, x, w, b, 1, p1, sizeof p1);
        float *o2 = grun(tc, c, x, w, b, 2, p2, sizeof p2);
        mk_gemm_enable(0);
        float *o0 = grun(tc, c, x, w, b, 1, p0, sizeof p0);
        mk_gemm_enable(1);
        if (o1 && o2 && o0) {
            double worst = 0, worst0 = 0;
            for (size_t i = 0; i < on; i++) {
                double tol = 1e-5 * (1 + fabs(ref[i])) * sqrt((double)c->K + 1);
                double d = fabs(o1[i] - ref[i]) / tol, d0 = fabs(o0[i] - o1[i]) / tol;
                worst = d > worst ? d : worst;
                worst0 = d0 > worst0 ? d0 : worst0;
            }
            CHECK_MSG(worst <= 1,
                      "case %zu level %d: %.3g of the tolerance from the double reference", k,
                      mk_conv_direct_level(), worst);
            CHECK_MSG(worst0 <= 2, "case %zu: OpenBLAS differs by %.3g of the tolerance", k,
                      worst0);
            CHECK_MSG(!memcmp(o1, o2, on * 4), "case %zu: -j 1 and -j 2 differ", k);
            CHECK_MSG(strstr(p1, "packed gemm") != NULL, "case %zu: path '%s'", k, p1);
            CHECK_MSG(strstr(p0, "sgemm") != NULL, "case %zu: path with it off '%s'", k, p0);
        }
        free(o1);
        free(o2);
        free(o0);
        free(x);
        free(w);
        free(b);
        free(ref);
    }
    mk_conv_direct_cap(2);
}

/* A transposed x, and products past the measured sizes, stay with OpenBLAS. */
TEST(interp_gemm_packed_leaves_other_products)
{
    if (mk_conv_direct_level() < 1) SKIP("no AVX2 here: the packed GEMM does not run");
    CHECK(mk_gemm_ok(50, 64, 64));
    CHECK(!mk_gemm_ok(4096, 64, 64));
    CHECK(!mk_gemm_ok(50, 64, 8192));
    CHECK(!mk_gemm_ok(0, 64, 64));
    mk_gemm_enable(2);
    CHECK(mk_gemm_ok(4096, 64, 8192));
    mk_gemm_enable(0);
    CHECK(!mk_gemm_ok(50, 64, 64));
    mk_gemm_enable(1);
}

/* Batched matmul (attention's q.k^T and p.v): each batch packs its y in the thread's scratch;
 * y broadcast over the first batch dim and transposed, at each level against double, -j 1 vs
 * -j 2. */
TEST(interp_gemm_packed_per_batch)
{
    enum { B0 = 2, B1 = 3, M = 11, K = 20, N = 37 };
    int top = mk_conv_direct_level();
    if (top < 1) SKIP("no AVX2 here: the packed GEMM does not run");
    static float x[B0 * B1 * M * K], y[B1 * N * K];
    unsigned s = 77;
    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = b_rand(&s);
    for (size_t i = 0; i < sizeof y / 4; i++) y[i] = b_rand(&s);
    for (int lv = 1; lv <= top; lv++) {
        float *o[2] = {NULL, NULL};
        char path[96] = "";
        mk_conv_direct_cap(lv);
        for (int t = 0; t < 2; t++) {
            bld B;
            b_init(&B, 18);
            int64_t xd[4] = {B0, B1, M, K}, yd[3] = {B1, N, K};
            mk_value *xv = b_input(&B, "x", 4, xd, x), *yv = b_input(&B, "y", 3, yd, y);
            mk_op *op1 = op(&B, MK_OP_MATMUL, 1, "x", xv, "y", yv, "transpose_x", cb(&B, 0),
                            "transpose_y", cb(&B, 1), NULL);
            o[t] = b_run_profiled(&B, op1 ? op1->outputs[0] : NULL, t + 1, 0, 1, "matmul", path,
                                  sizeof path, NULL, NULL);
            CHECK_MSG(o[t], "run: %s", B.e.msg);
            b_free(&B);
        }
        CHECK_MSG(strstr(path, "packed gemm per batch") != NULL, "level %d: path '%s'", lv, path);
        if (o[0] && o[1]) {
            CHECK_MSG(!memcmp(o[0], o[1], sizeof(float) * B0 * B1 * M * N),
                      "level %d: -j 1 and -j 2 differ", lv);
            double worst = 0;
            for (int b = 0; b < B0 * B1; b++)
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double a = 0;
                        for (int q = 0; q < K; q++)
                            a += (double)x[((size_t)b * M + i) * K + q] *
                                 y[((size_t)(b % B1) * N + j) * K + q];
                        double d =
                            fabs(o[0][((size_t)b * M + i) * N + j] - a) / (1e-5 * (1 + fabs(a)));
                        worst = d > worst ? d : worst;
                    }
            CHECK_MSG(worst <= 5, "level %d: %.3g of the tolerance from the double reference", lv,
                      worst);
        }
        free(o[0]);
        free(o[1]);
    }
    mk_conv_direct_cap(2);
}
