/* The Winograd F(2x2,3x3) and F(4x4,3x3) conv paths (k_conv_wino.c) against a double-precision
 * reference on shapes with odd planes, tile and channel tails, paddings 0/1/2 and asymmetric,
 * bias or none, fused relu / relu6 / clip, constant or run-time weights; -j 1, 2 and 3
 * bit-identical; the profile's kernel path shows which path ran (AVX-512, and the F(2x2) AVX2 +
 * FMA variant forced with mk_conv_direct_cap(1): skipped below that), the size rule that picks
 * F(4x4); under fp16 emulation the same path runs and its result is rounded to half. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "interp/k_conv_direct.h"
#include "interp/k_conv_wino.h"
#include "test.h"

#include "opsem_build.h"

#define WINO_PATH "conv: winograd F(2x2,3x3)"
#define WINO4_PATH "conv: winograd F(4x4,3x3)"

/* the tests below check F(4x4,3x3) (mk_conv_wino_f4_mode(2)) instead of F(2x2,3x3) */
static int t_f4;

typedef struct wcase {
    int N, cin, cout, H, W;
    int pad[4];          /* top, bottom, left, right */
    int bias, act, w_in; /* act: 0 none, 1 relu, 2 relu6, 3 clip [-0.25, 0.3]; w_in: weight input */
} wcase;

/* The conv of case c (output planes OH x OW) in double, and per output the error bound of
 * F(2x2,3x3) in fp32 (F(4x4,3x3) with t_f4: below). Every value the algorithm forms is a signed sum
 * over the 4x4 input patch of the output's tile: with P = sum over input channels of max|g| * sum
 * over the patch |d|, the transformed weights are at most ||G||inf^2 = 2.25 max|g|, the transformed
 * patch entries at most sum |d|, and the output transform adds 9 products, so every intermediate is
 * at most 9 * 2.25 * P = 20.25 P in magnitude. Along any output's path there are at most cin + 9
 * roundings (2 levels of input transform, the weight's, the product, cin - 1 accumulations, 4
 * levels of output transform, the bias), each at most FLT_EPSILON / 2 of a value of that size:
 * bound = (cin + 9) * FLT_EPSILON / 2 * 20.25 * P, doubled for the bias and the reference's
 * own rounding to float. The activations are 1-Lipschitz. A wrong tile, tap or channel gives
 * errors of the size of the outputs themselves, far above it. */
static void wref(const wcase *c, const float *x, const float *w, const float *b, int OH, int OW,
                 double *ref, double *bound)
{
    for (int n = 0; n < c->N; n++)
        for (int co = 0; co < c->cout; co++)
            for (int oy = 0; oy < OH; oy++)
                for (int ox = 0; ox < OW; ox++) {
                    double acc = b ? b[co] : 0, P = 0;
                    int ty = oy / 2 * 2, tx = ox / 2 * 2; /* the tile's first output */
                    if (t_f4) ty = oy / 4 * 4, tx = ox / 4 * 4;
                    int ps = t_f4 ? 6 : 4; /* patch size */
                    for (int ci = 0; ci < c->cin; ci++) {
                        const float *xc = x + ((size_t)n * c->cin + ci) * c->H * c->W;
                        const float *g = w + ((size_t)co * c->cin + ci) * 9;
                        double gm = 0, dsum = 0;
                        for (int t = 0; t < 9; t++) {
                            gm = fmax(gm, fabs(g[t]));
                            int iy = oy + t / 3 - c->pad[0], ix = ox + t % 3 - c->pad[2];
                            if (iy >= 0 && iy < c->H && ix >= 0 && ix < c->W)
                                acc += (double)xc[iy * c->W + ix] * g[t];
                        }
                        for (int a = 0; a < ps; a++)
                            for (int e = 0; e < ps; e++) {
                                int iy = ty + a - c->pad[0], ix = tx + e - c->pad[2];
                                if (iy >= 0 && iy < c->H && ix >= 0 && ix < c->W)
                                    dsum += fabs(xc[iy * c->W + ix]);
                            }
                        P += gm * dsum;
                    }
                    size_t o = (((size_t)n * c->cout + co) * OH + oy) * OW + ox;
                    ref[o] = b_act_ref(c->act, acc);
                    bound[o] = 2.0 * (c->cin + 9) * (FLT_EPSILON / 2) * 20.25 * P +
                               2.0 * FLT_EPSILON * fabs(acc);
                    /* F(4x4): |U| <= max|g| (the rows of G sum to at most 1 in magnitude), a
                     * transformed patch entry at most 25 sum |d| (entries of B^T at most 5), the
                     * output transform's rows sum to at most 19 (19^2 = 361); at most cin + 16
                     * roundings (3 levels per transform direction) */
                    if (t_f4)
                        bound[o] = 2.0 * (c->cin + 16) * (FLT_EPSILON / 2) * 361 * 25 * P +
                                   2.0 * FLT_EPSILON * fabs(acc);
                }
}

/* Runs case c with the given threads (and fp16 emulation); returns the output (caller frees)
 * or NULL; the conv's kernel path into path. */
static float *wrun(mk_test_ctx *tc, const wcase *c, const float *x, const float *w, const float *b,
                   int threads, int fp16, char *path, size_t path_n)
{
    bld B;
    b_init(&B, 18);
    int64_t xd[4] = {c->N, c->cin, c->H, c->W}, wd[4] = {c->cout, c->cin, 3, 3}, bd[1] = {c->cout};
    int32_t one[2] = {1, 1}, pd[4] = {c->pad[0], c->pad[1], c->pad[2], c->pad[3]};
    mk_value *xv = b_input(&B, "x", 4, xd, x);
    mk_value *wv = c->w_in ? b_input(&B, "w", 4, wd, w) : cf(&B, 4, wd, w);
    mk_op *o = op(&B, MK_OP_CONV, 1, "x", xv, "weight", wv, "bias", b ? cf(&B, 1, bd, b) : NULL,
                  "strides", ci(&B, 2, one), "dilations", ci(&B, 2, one), "pad_type",
                  cs(&B, "custom"), "pad", ci(&B, 4, pd), "groups", cis(&B, 1), NULL);
    mk_value *y = b_act(&B, o ? o->outputs[0] : NULL, c->act);
    float *res = b_run_profiled(&B, y, threads, fp16, 1, "conv", path, path_n, NULL, NULL);
    CHECK_MSG(res, "conv run: %s", B.e.msg);
    b_free(&B);
    return res;
}

/* Runs case k against the double reference (-j 1, 2 and 3, all on the Winograd path and
 * bit-identical). cv 1: all three runs must take the channel-vector variant for small planes, and
 * give the same bits as a -j 2 run with the variant off (every output is the same fma chain). */
static void wcheck(mk_test_ctx *tc, const wcase *c, size_t k, int cv)
{
    int OH = c->H + c->pad[0] + c->pad[1] - 2, OW = c->W + c->pad[2] + c->pad[3] - 2;
    size_t xn = (size_t)c->N * c->cin * c->H * c->W, wn = (size_t)c->cout * c->cin * 9;
    size_t on = (size_t)c->N * c->cout * OH * OW;
    unsigned s = 1000 + (unsigned)k;
    float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc((size_t)c->cout * 4);
    double *ref = malloc(on * sizeof *ref), *bound = malloc(on * sizeof *bound);
    REQUIRE(x && w && b && ref && bound);
    for (size_t i = 0; i < xn; i++) x[i] = b_rand(&s);
    for (size_t i = 0; i < wn; i++) w[i] = b_rand(&s) / sqrtf(9.0f * c->cin);
    for (int i = 0; i < c->cout; i++) b[i] = 0.5f * b_rand(&s);
    wref(c, x, w, c->bias ? b : NULL, OH, OW, ref, bound);
    char p1[64] = "", p2[64] = "", p3[64] = "";
    const char *want = t_f4 ? WINO4_PATH : WINO_PATH;
    long runs = mk_conv_wino_cv_runs();
    float *a1 = wrun(tc, c, x, w, c->bias ? b : NULL, 1, 0, p1, sizeof p1);
    float *a2 = wrun(tc, c, x, w, c->bias ? b : NULL, 2, 0, p2, sizeof p2);
    float *a3 = NULL;
    /* three threads: other row blocks and channel groups (one share of the chunks each) */
    char p4[64] = "";
    float *a4 = wrun(tc, c, x, w, c->bias ? b : NULL, 3, 0, p4, sizeof p4);
    CHECK_MSG(a1 && a4 && !memcmp(a1, a4, on * 4) && !strcmp(p4, p1),
              "case %zu: -j 1 and -j 3 differ (paths '%s' '%s')", k, p1, p4);
    free(a4);
    if (cv) {
        CHECK_MSG(mk_conv_wino_cv_runs() - runs == 3, "case %zu: %ld of 3 runs channel-vector", k,
                  mk_conv_wino_cv_runs() - runs);
        mk_conv_wino_cv_enable(0);
        runs = mk_conv_wino_cv_runs();
        a3 = wrun(tc, c, x, w, c->bias ? b : NULL, 2, 0, p3, sizeof p3);
        mk_conv_wino_cv_enable(1);
        CHECK_MSG(mk_conv_wino_cv_runs() == runs && !strcmp(p3, want),
                  "case %zu: variant off: path '%s'", k, p3);
        CHECK_MSG(a1 && a3 && !memcmp(a1, a3, on * 4),
                  "case %zu: the channel-vector variant differs from the tile one", k);
    }
    if (a1 && a2) {
        CHECK_MSG(!strcmp(p1, want) && !strcmp(p2, want), "case %zu: paths '%s' '%s'", k, p1, p2);
        CHECK_MSG(!memcmp(a1, a2, on * 4), "case %zu: -j 1 and -j 2 differ", k);
        size_t bad = 0, bad2 = 0, at = 0;
        double worst = 0, sum_err = 0, max_err = 0, max_rel = 0;
        /* F(4x4)'s transforms have larger entries (up to 5 and 8): errors about 10x those of
         * F(2x2) (measured up to 7e-6 here, mean 2e-7) */
        double tol = t_f4 ? 2e-5 : 1e-5, mean = t_f4 ? 5e-7 : 3e-7;
        for (size_t i = 0; i < on; i++) {
            double d = fabs(a1[i] - ref[i]);
            sum_err += d;
            max_err = fmax(max_err, d);
            if (d > bound[i]) bad++;
            if (d > tol + tol * fabs(ref[i])) bad2++;
            max_rel = fmax(max_rel, d / (1 + fabs(ref[i])));
            if (d / bound[i] > worst) worst = d / bound[i], at = i;
        }
        CHECK_MSG(!bad, "case %zu: %zu of %zu beyond the bound (at %zu: %.9g vs %.9g, %g)", k, bad,
                  on, at, (double)a1[at], ref[at], bound[at]);
        /* the worst case bound is far above typical errors (about 1e-3 of it here): the
         * outputs (of size 1) must also meet the direct kernel's test tolerance
         * (test_interp_perf.c, 1e-5 + 1e-5 |ref|) and have a mean error of a few ulps */
        CHECK_MSG(!bad2, "case %zu: %zu beyond %g + %g |ref| (max error %g)", k, bad2, tol, tol,
                  max_err);
        CHECK_MSG(sum_err / (double)on < mean, "case %zu: mean error %g", k, sum_err / (double)on);
        if (getenv("MILKIT_TEST_WINO_ERR"))
            printf("case %zu: max error %.3g, max error / (1 + |ref|) %.3g, mean %.3g\n", k,
                   max_err, max_rel, sum_err / (double)on);
    }
    free(a1);
    free(a2);
    free(a3);
    free(x);
    free(w);
    free(b);
    free(ref);
    free(bound);
}

static const wcase vs_double_cases[] = {
    /* N cin cout H W | pad t b l r | bias act w_in */
    {1, 16, 32, 9, 9, {1, 1, 1, 1}, 1, 1, 0},    /* odd plane: last tiles half outside */
    {1, 17, 33, 13, 11, {1, 1, 1, 1}, 1, 0, 0},  /* channel tails (not multiples of 8/16) */
    {1, 20, 37, 23, 40, {0, 0, 0, 0}, 0, 1, 0},  /* no padding: output 21 x 38 */
    {1, 24, 40, 17, 35, {2, 2, 2, 2}, 1, 2, 0},  /* pad 2: tiles fully in the padding */
    {1, 16, 48, 15, 19, {0, 2, 1, 0}, 1, 3, 0},  /* asymmetric padding */
    {2, 19, 35, 12, 33, {1, 0, 2, 1}, 0, 0, 0},  /* two images, asymmetric */
    {1, 32, 64, 55, 55, {1, 1, 1, 1}, 1, 1, 0},  /* several row chunks (SqueezeNet-like) */
    {1, 32, 128, 27, 27, {1, 1, 1, 1}, 1, 1, 0}, /* one row block: split for threads */
    {1, 64, 72, 13, 13, {1, 1, 1, 1}, 1, 1, 1},  /* weight an input: transformed per run */
    {1, 16, 32, 8, 97, {1, 1, 1, 1}, 1, 0, 0},   /* wide rows: tile rows > 48 tiles */
};

TEST(interp_conv_winograd_vs_double)
{
    if (mk_conv_direct_level() < 2) SKIP("no AVX-512 here: the Winograd path does not run");
    mk_conv_wino_f4_mode(0);
    for (size_t k = 0; k < sizeof vs_double_cases / sizeof *vs_double_cases; k++)
        wcheck(tc, &vs_double_cases[k], k, 0);
    mk_conv_wino_f4_mode(1);
}

/* Planes of at most 64 tiles take the channel-vector variant (channels in the lanes, blocks of
 * 8 tiles and a tail of 1-7 tiles alone, or blocks of 7 for 7k tiles; output transform of two
 * tile rows at once up to 8 tiles a row): every tail length, blocks of 7, odd and even tile
 * and output rows, channel tails, paddings, two images, weights as an input, activations. */
static const wcase small_cases[] = {
    /* N cin cout H W | pad t b l r | bias act w_in */
    {1, 48, 192, 13, 13, {1, 1, 1, 1}, 1, 1, 0}, /* SqueezeNet fire: 49 tiles (7 x 7) */
    {1, 64, 256, 13, 13, {1, 1, 1, 1}, 1, 1, 1}, /* weight an input */
    {1, 17, 70, 2, 33, {1, 1, 1, 1}, 1, 0, 0},   /* 2 x 33: 17 tiles, channel tails */
    {2, 20, 64, 8, 10, {1, 1, 1, 1}, 0, 2, 0},   /* 8 x 10: 20 tiles (tail 4), 2 images */
    {1, 16, 64, 6, 26, {1, 1, 1, 1}, 1, 3, 0},   /* 6 x 26: 39 tiles (tail 7) */
    {1, 24, 96, 10, 16, {1, 1, 1, 1}, 1, 1, 0},  /* 10 x 16: 40 tiles (tail 0) */
    {1, 16, 32, 12, 14, {0, 0, 0, 0}, 1, 0, 0},  /* no padding: 10 x 12, 30 tiles (tail 6) */
    {1, 32, 64, 11, 12, {2, 0, 1, 2}, 1, 1, 0},  /* asymmetric: 11 x 13, 42 tiles (6 x 7) */
    {1, 16, 32, 9, 9, {1, 1, 1, 1}, 1, 1, 0},    /* 9 x 9: 25 tiles (tail 1) */
    {1, 16, 64, 5, 19, {1, 1, 1, 1}, 1, 1, 0},   /* 5 x 19: 30 tiles (tail 6) */
    {1, 16, 32, 7, 13, {1, 1, 0, 0}, 0, 0, 0},   /* 7 x 11: 24 tiles (tail 0), no bias */
    {1, 16, 64, 6, 9, {1, 1, 1, 1}, 1, 0, 0},    /* 6 x 9: 15 tiles (tail 7) */
    {1, 16, 64, 4, 21, {1, 1, 1, 1}, 1, 0, 0},   /* 4 x 21: 22 tiles (tail 6) */
    {1, 16, 64, 6, 17, {1, 1, 1, 1}, 1, 0, 0},   /* 6 x 17: 27 tiles (tail 3) */
    {1, 16, 64, 4, 25, {1, 1, 1, 1}, 1, 0, 0},   /* 4 x 25: 26 tiles (tail 2) */
    {1, 16, 64, 10, 7, {1, 1, 1, 1}, 1, 0, 0},   /* 10 x 7: 20 tiles (tail 4) */
    {1, 16, 64, 2, 26, {1, 1, 1, 1}, 1, 0, 0},   /* 2 x 26: 13 tiles (tail 5) */
};

TEST(interp_conv_winograd_small_planes)
{
    if (mk_conv_direct_level() < 2) SKIP("no AVX-512 here: the Winograd path does not run");
    mk_conv_wino_f4_mode(0);
    for (size_t k = 0; k < sizeof small_cases / sizeof *small_cases; k++)
        wcheck(tc, &small_cases[k], 100 + k, 1);
    mk_conv_wino_f4_mode(1);
}

/* F(4x4,3x3) (forced for every size: mk_conv_wino_f4_mode(2)) on the same shapes, against its
 * own bound and tolerance: 4x4 tiles half or three quarters outside the plane, tile rows of 1-16+
 * tiles, chunks of several tile rows; the small planes (2-64 tiles) on the channel-vector
 * variant, bit-identical to the tile layout; plus planes of 17-49 tiles a row (row ends 1-15
 * tiles into a vector) and SqueezeNet's F(4x4) shapes. */
TEST(interp_conv_winograd4_vs_double)
{
    static const wcase cases[] = {
        /* N cin cout H W | pad t b l r | bias act w_in */
        {1, 16, 64, 55, 55, {1, 1, 1, 1}, 1, 1, 0},  /* SqueezeNet fire 2/3 */
        {1, 16, 24, 21, 70, {1, 1, 1, 1}, 1, 0, 0},  /* 18 tiles a row: 2 vectors */
        {1, 20, 17, 9, 193, {0, 1, 2, 0}, 1, 3, 1},  /* 49 tiles a row, asymmetric */
        {2, 16, 40, 30, 30, {1, 1, 1, 1}, 0, 2, 0},  /* 2 images of 64 tiles */
        {1, 100, 16, 41, 41, {1, 1, 1, 1}, 1, 1, 0}, /* many channels: chunks of 1 tile row */
    };
    if (mk_conv_direct_level() < 2) SKIP("no AVX-512 here: the Winograd path does not run");
    t_f4 = 1;
    mk_conv_wino_f4_mode(2);
    for (size_t k = 0; k < sizeof vs_double_cases / sizeof *vs_double_cases; k++)
        wcheck(tc, &vs_double_cases[k], 500 + k, 0);
    for (size_t k = 0; k < sizeof small_cases / sizeof *small_cases; k++)
        wcheck(tc, &small_cases[k], 600 + k, 1);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) wcheck(tc, &cases[k], 700 + k, 0);
    mk_conv_wino_f4_mode(1);
    t_f4 = 0;
}

/* F(4x4,3x3)'s AVX2 + FMA variant (mk_conv_direct_cap(1), every size: mk_conv_wino_enable(2),
 * mk_conv_wino_f4_mode(2)) on the same shapes (all on its tile layout), plus tile rows of 9-15
 * and 17-24 tiles (8-tile vectors, row ends 1-31 outputs into the last one), output channel
 * tails of 1-3 (blocks of 4) and chunks crossing blocks of 24 tiles. */
TEST(interp_conv_winograd4_avx2_vs_double)
{
    static const wcase cases[] = {
        /* N cin cout H W | pad t b l r | bias act w_in */
        {1, 16, 17, 9, 49, {1, 1, 1, 1}, 1, 1, 0},  /* 13 tiles a row, cout tail 1 */
        {1, 18, 18, 11, 45, {1, 1, 1, 1}, 1, 0, 0}, /* 12 a row, tail 2 */
        {1, 16, 19, 23, 90, {1, 1, 1, 1}, 0, 1, 0}, /* 23 a row, tail 3 */
        {1, 21, 23, 19, 7, {2, 2, 2, 2}, 1, 1, 1},  /* pad 2, weight an input */
        {1, 16, 32, 55, 55, {1, 1, 1, 1}, 1, 1, 0}, /* several row blocks */
    };
    if (mk_conv_direct_level() < 1) SKIP("no AVX2 + FMA here: the Winograd path does not run");
    mk_conv_direct_cap(1);
    REQUIRE(mk_conv_direct_level() == 1);
    mk_conv_wino_enable(2);
    mk_conv_wino_f4_mode(2);
    t_f4 = 1;
    for (size_t k = 0; k < sizeof vs_double_cases / sizeof *vs_double_cases; k++)
        wcheck(tc, &vs_double_cases[k], 800 + k, 0);
    for (size_t k = 0; k < sizeof small_cases / sizeof *small_cases; k++)
        wcheck(tc, &small_cases[k], 900 + k, 0);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) wcheck(tc, &cases[k], 1000 + k, 0);
    t_f4 = 0;
    mk_conv_wino_f4_mode(1);
    mk_conv_wino_enable(1);
    mk_conv_direct_cap(2);
}

/* The rule that picks F(4x4,3x3) over F(2x2,3x3): with AVX-512 from 20x20 output planes, at most
 * 10% of the 4x4 tiles' outputs outside the plane, not more than twice as many input as output
 * channels, or 4x4 tiles with 192 or more output channels in blocks of 32 and at most 32768
 * channel pairs; with AVX2 from 80x80 with 4 times as many input as output channels;
 * mk_conv_wino_f4_mode(0) turns it off. */
TEST(interp_conv_winograd4_dispatch)
{
    static const struct {
        wcase c;
        int f4;
    } cases[] = {
        {{1, 16, 64, 55, 55, {1, 1, 1, 1}, 1, 1, 0}, 1},   /* SqueezeNet fire 2/3 */
        {{1, 32, 128, 27, 27, {1, 1, 1, 1}, 1, 1, 0}, 1},  /* fire 4/5: 7.5% wasted */
        {{1, 48, 192, 13, 13, {1, 1, 1, 1}, 1, 1, 0}, 1},  /* fire 6/7: 16 tiles, 192 outputs */
        {{1, 128, 256, 16, 16, {1, 1, 1, 1}, 1, 1, 0}, 1}, /* 32768 channel pairs */
        {{1, 129, 256, 13, 13, {1, 1, 1, 1}, 1, 1, 0}, 0}, /* more */
        {{1, 64, 160, 13, 13, {1, 1, 1, 1}, 1, 1, 0}, 0},  /* 160 outputs */
        {{1, 48, 200, 13, 13, {1, 1, 1, 1}, 1, 1, 0}, 0},  /* not in blocks of 32 */
        {{1, 48, 192, 12, 12, {1, 1, 1, 1}, 1, 1, 0}, 0},  /* 9 tiles */
        {{1, 48, 192, 13, 17, {1, 1, 1, 1}, 1, 1, 0}, 0},  /* 4 x 5 tiles: 31% wasted */
        {{1, 16, 16, 20, 20, {1, 1, 1, 1}, 1, 1, 0}, 1},   /* 400 outputs */
        {{1, 16, 16, 19, 21, {1, 1, 1, 1}, 1, 1, 0}, 0},   /* 399 */
        {{1, 16, 16, 30, 30, {1, 1, 1, 1}, 1, 1, 0}, 0},   /* 30x30: 14% wasted */
        {{1, 64, 32, 40, 40, {1, 1, 1, 1}, 1, 1, 0}, 1},   /* twice the output channels */
        {{1, 65, 32, 40, 40, {1, 1, 1, 1}, 1, 1, 0}, 0},   /* more */
    };
    if (mk_conv_direct_level() < 2) SKIP("no AVX-512 here: the Winograd path does not run");
    size_t xn = 65 * 80 * 81, wn = 256 * 129 * 9;
    float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc(256 * 4);
    REQUIRE(x && w && b);
    unsigned s = 13;
    for (size_t i = 0; i < xn; i++) x[i] = b_rand(&s);
    for (size_t i = 0; i < wn; i++) w[i] = 0.1f * b_rand(&s);
    for (int i = 0; i < 256; i++) b[i] = b_rand(&s);
    char p[64] = "";
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        float *o = wrun(tc, &cases[k].c, x, w, b, 1, 0, p, sizeof p);
        CHECK_MSG(!strcmp(p, cases[k].f4 ? WINO4_PATH : WINO_PATH), "case %zu: path '%s'", k, p);
        free(o);
    }
    mk_conv_wino_f4_mode(0);
    float *o = wrun(tc, &cases[0].c, x, w, b, 1, 0, p, sizeof p);
    mk_conv_wino_f4_mode(1);
    CHECK_MSG(!strcmp(p, WINO_PATH), "off: path '%s'", p);
    free(o);
    static const struct {
        wcase c;
        int f4;
    } avx2[] = {
        {{1, 16, 64, 55, 55, {1, 1, 1, 1}, 1, 1, 0}, 0},  /* SqueezeNet fire 2/3 */
        {{1, 48, 192, 13, 13, {1, 1, 1, 1}, 1, 1, 0}, 0}, /* fire 6/7 */
        {{1, 64, 16, 80, 80, {1, 1, 1, 1}, 1, 1, 0}, 1},  /* 4x the input channels, 80x80 */
        {{1, 64, 17, 80, 80, {1, 1, 1, 1}, 1, 1, 0}, 0},  /* fewer */
        {{1, 64, 16, 79, 81, {1, 1, 1, 1}, 1, 1, 0}, 0},  /* 6399 outputs */
    };
    mk_conv_direct_cap(1);
    for (size_t k = 0; k < sizeof avx2 / sizeof *avx2; k++) {
        float *o2 = wrun(tc, &avx2[k].c, x, w, b, 1, 0, p, sizeof p);
        CHECK_MSG(!strcmp(p, avx2[k].f4 ? WINO4_PATH : WINO_PATH), "AVX2 case %zu: path '%s'", k,
                  p);
        free(o2);
    }
    mk_conv_direct_cap(2);
    free(x);
    free(w);
    free(b);
}

/* The AVX2 + FMA variant (forced with mk_conv_direct_cap(1) on AVX-512 machines; its size rule
 * off: mk_conv_wino_enable(2)) on the same shapes as the two tests above (the small planes on
 * its tile layout: no channel-vector variant), plus shapes for its own layout: tiles packed in
 * blocks of 24 (tile rows that cross blocks, chunks ending 1-7 tiles into a vector, blocks of 8 and
 * 16 tiles), output channels in blocks of 4 (tails of 1-3), 16-tile output rows (row ends 1-15
 * outputs into them), against the same double reference and bounds, -j 1/2/3 bit-identical. */
TEST(interp_conv_winograd_avx2_vs_double)
{
    static const wcase cases[] = {
        /* N cin cout H W | pad t b l r | bias act w_in */
        {1, 16, 17, 9, 49, {1, 1, 1, 1}, 1, 1, 0},  /* 25 tiles a row: 5 x 25 = 125 tiles */
        {1, 18, 18, 11, 45, {1, 1, 1, 1}, 1, 0, 0}, /* 23 a row, cout tail 2 */
        {1, 16, 19, 6, 15, {1, 1, 1, 1}, 0, 1, 0},  /* 3 x 8 = 24 tiles: one full block */
        {1, 16, 16, 4, 15, {1, 1, 1, 1}, 1, 2, 0},  /* 2 x 8 = 16 tiles: one block of 16 */
        {1, 16, 16, 8, 16, {1, 1, 1, 1}, 1, 0, 0},  /* 4 x 8 = 32 tiles: blocks of 24, 8 */
        {2, 17, 21, 7, 31, {0, 0, 0, 0}, 1, 3, 0},  /* no padding: 5 x 29, 3 x 15 tiles */
        {1, 16, 32, 55, 55, {1, 1, 1, 1}, 1, 1, 0}, /* several row blocks */
        {1, 21, 23, 19, 7, {2, 2, 2, 2}, 1, 1, 1},  /* pad 2, weight an input, 11 x 5 tiles */
    };
    if (mk_conv_direct_level() < 1) SKIP("no AVX2 + FMA here: the Winograd path does not run");
    mk_conv_direct_cap(1);
    REQUIRE(mk_conv_direct_level() == 1);
    mk_conv_wino_enable(2);
    mk_conv_wino_f4_mode(0);
    for (size_t k = 0; k < sizeof vs_double_cases / sizeof *vs_double_cases; k++)
        wcheck(tc, &vs_double_cases[k], 200 + k, 0);
    for (size_t k = 0; k < sizeof small_cases / sizeof *small_cases; k++)
        wcheck(tc, &small_cases[k], 300 + k, 0);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) wcheck(tc, &cases[k], 400 + k, 0);
    mk_conv_wino_f4_mode(1);
    mk_conv_wino_enable(1);
    mk_conv_direct_cap(2);
}

/* The AVX2 size rule (planes from 10x10, or from 7x7 with 4096 channel pairs; not 32 or fewer
 * input and output channels from 27x27), the same path under fp16 emulation, and the portable
 * level (mk_conv_direct_cap(0)) on the direct kernel. */
TEST(interp_conv_winograd_avx2_dispatch)
{
    static const struct {
        wcase c;
        int wino;
    } cases[] = {
        {{1, 16, 16, 10, 10, {1, 1, 1, 1}, 1, 1, 0}, 1}, /* 10x10 plane */
        {{1, 16, 16, 9, 11, {1, 1, 1, 1}, 1, 1, 0}, 0},  /* 9x11: 99 outputs */
        {{1, 64, 64, 7, 7, {1, 1, 1, 1}, 1, 1, 0}, 1},   /* 7x7, 64x64 channels */
        {{1, 32, 64, 7, 7, {1, 1, 1, 1}, 1, 1, 0}, 0},   /* 7x7, 32x64 */
        {{1, 64, 64, 6, 8, {1, 1, 1, 1}, 1, 1, 0}, 0},   /* 48 outputs */
        {{1, 15, 64, 16, 16, {1, 1, 1, 1}, 1, 1, 0}, 0}, /* 15 input channels */
        {{1, 16, 15, 16, 16, {1, 1, 1, 1}, 1, 1, 0}, 0}, /* 15 output channels */
        {{1, 32, 32, 27, 27, {1, 1, 1, 1}, 1, 1, 0}, 0}, /* 32x32 channels from 27x27 */
        {{1, 32, 32, 26, 27, {1, 1, 1, 1}, 1, 1, 0}, 1}, /* 26x27: 702 outputs */
        {{1, 33, 32, 27, 27, {1, 1, 1, 1}, 1, 1, 0}, 1}, /* 33 input channels */
    };
    if (mk_conv_direct_level() < 1) SKIP("no AVX2 + FMA here: the Winograd path does not run");
    float *x = malloc(33 * 27 * 27 * 4), *w = malloc(64 * 64 * 9 * 4), *b = malloc(64 * 4);
    REQUIRE(x && w && b);
    unsigned s = 11;
    for (int i = 0; i < 33 * 27 * 27; i++) x[i] = b_rand(&s);
    for (int i = 0; i < 64 * 64 * 9; i++) w[i] = 0.1f * b_rand(&s);
    for (int i = 0; i < 64; i++) b[i] = b_rand(&s);
    mk_conv_direct_cap(1);
    char p[64] = "";
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        float *o = wrun(tc, &cases[k].c, x, w, b, 1, 0, p, sizeof p);
        CHECK_MSG(!strcmp(p, cases[k].wino ? WINO_PATH : "conv: direct"), "case %zu: path '%s'", k,
                  p);
        free(o);
    }
    float *o = wrun(tc, &cases[0].c, x, w, b, 1, 1, p, sizeof p); /* --fp16-emulate */
    CHECK_MSG(!strcmp(p, WINO_PATH), "fp16: path '%s'", p);
    free(o);
    mk_conv_direct_cap(0);
    o = wrun(tc, &cases[0].c, x, w, b, 1, 0, p, sizeof p);
    CHECK_MSG(strcmp(p, WINO_PATH), "level 0: path '%s'", p);
    free(o);
    mk_conv_direct_cap(2);
    free(x);
    free(w);
    free(b);
}

/* The path can be switched off (mk_conv_wino_enable, MILKIT_CONV_WINO=0); shapes below the size
 * rule stay on the direct kernel; under fp16 emulation it runs, rounded to half after. */
TEST(interp_conv_winograd_dispatch)
{
    if (mk_conv_direct_level() < 2) SKIP("no AVX-512 here: the Winograd path does not run");
    wcase c = {1, 16, 32, 9, 9, {1, 1, 1, 1}, 1, 1, 0},
          small = {1, 8, 32, 9, 9, {1, 1, 1, 1}, 1, 1, 0};
    float x[16 * 81], w[32 * 16 * 9], b[32];
    unsigned s = 7;
    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = b_rand(&s);
    for (size_t i = 0; i < sizeof w / 4; i++) w[i] = 0.1f * b_rand(&s);
    for (size_t i = 0; i < sizeof b / 4; i++) b[i] = b_rand(&s);
    char p[64] = "";
    float *o = wrun(tc, &c, x, w, b, 1, 0, p, sizeof p);
    CHECK_MSG(!strcmp(p, WINO_PATH), "path '%s'", p);
    free(o);
    /* --fp16-emulate: the same path, its result rounded to half like the direct kernel's (within
     * one fp16 ulp of the direct kernel's under fp16 emulation, or of the plane's largest value
     * for outputs near 0: Winograd's fp32 error is relative to that scale) */
    float *o16 = wrun(tc, &c, x, w, b, 1, 1, p, sizeof p);
    CHECK_MSG(!strcmp(p, WINO_PATH), "fp16: path '%s'", p);
    mk_conv_wino_enable(0);
    float *d16 = wrun(tc, &c, x, w, b, 1, 1, p, sizeof p);
    mk_conv_wino_enable(1);
    float top = 0;
    for (int i = 0; o16 && d16 && i < 32 * 81; i++) top = fmaxf(top, fabsf(d16[i]));
    if (o16 && d16)
        for (int i = 0; i < 32 * 81; i++)
            if (fabsf(o16[i] - d16[i]) > (fabsf(d16[i]) + top * 0x1p-10f) * 0x1p-10f) {
                CHECK_MSG(0, "fp16: output %d is %g, the direct kernel's %g", i, o16[i], d16[i]);
                break;
            }
    free(o16);
    free(d16);
    o = wrun(tc, &small, x, w, b, 1, 0, p, sizeof p); /* 8 input channels: direct */
    CHECK_MSG(!strcmp(p, "conv: direct"), "cin 8: path '%s'", p);
    free(o);
    mk_conv_wino_enable(0);
    o = wrun(tc, &c, x, w, b, 1, 0, p, sizeof p);
    mk_conv_wino_enable(1);
    CHECK_MSG(!strcmp(p, "conv: direct"), "off: path '%s'", p);
    free(o);
}

/* SqueezeNet (the shared model): its eight expand3x3 convs take the Winograd path F(4x4,3x3), its
 * classifier and the 1x1 expand convs with 128 or more outputs (fire 6..9: 128, 128, 192, 192,
 * 256, 256) the packed 1x1 path, and `milkit run -j 1` and `-j 2` give the same bits. */
TEST(interp_conv_paths_squeezenet_threads)
{
    if (mk_conv_direct_level() < 2) SKIP("no AVX-512 here: the Winograd and 1x1 paths do not run");
    const char *sh = mk_test_shared_dir();
    char model[512], f[2][600], out[1 << 16];
    snprintf(model, sizeof model, "%s/models/tv_squeezenet1_1/model.onnx", sh ? sh : "");
    if (!sh || !mk_path_exists(model)) SKIP("no shared tv_squeezenet1_1 model (MILKIT_SHARED)");
    static const struct {
        const char *path;
        int n;
    } want[] = {{WINO_PATH, 0}, {WINO4_PATH, 8}, {"conv: 1x1 packed gemm", 7}};
    for (int j = 0; j < 2; j++) {
        snprintf(f[j], sizeof f[j], "%s/paths_sq_%d.npz", mk_test_tmpdir(), j + 1);
        int rc = mk_test_sh(out, sizeof out, "%s run %s --seed 3 -j %d -o %s --profile --json",
                            mk_test_bin(), model, j + 1, f[j]);
        REQUIRE(rc == 0);
        for (int w = 0; w < 3; w++) {
            char key[96];
            snprintf(key, sizeof key, "\"kind\":\"conv\",\"path\":\"%s", want[w].path);
            int n = 0;
            for (const char *p = out; (p = strstr(p, key)); p++) n++;
            CHECK_MSG(n == want[w].n, "-j %d: %d convs on \"%s\", %d expected", j + 1, n,
                      want[w].path, want[w].n);
        }
    }
    mk_tensor_list a, b;
    mk_err e = {0};
    REQUIRE(mk_npz_read(f[0], &a, &e) == MK_OK);
    REQUIRE(mk_npz_read(f[1], &b, &e) == MK_OK);
    CHECK_MSG(b_same_bits(&a, &b), "squeezenet: -j 2 differs from -j 1");
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
}
