/* The packed 1x1 conv path (k_conv_1x1.c) against a double-precision reference and against the
 * direct kernel (the same sums in the same order: the same bits) on shapes with position tails
 * (planes of 1, 49, 100, 143 positions), output channel tails (not multiples of 8), input
 * channel blocks (1 to 5 blocks, uneven), both packing modes (one chunk per tile with a
 * per-thread copy, or channel ranges over a shared packed copy), two images, two groups, bias
 * or none, fused relu / relu6 / clip in registers and leaky_relu after, constant or run-time
 * weights, 2-D and 1-D; -j 1 and -j 2 bit-identical; the profile's kernel path shows the path
 * ran (AVX-512 only: skipped elsewhere) and which convs it leaves to the direct kernel. */
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "interp/k_conv_1x1.h"
#include "interp/k_conv_direct.h"
#include "test.h"

#include "opsem_build.h"

#define P1X1 "conv: 1x1 packed gemm"

typedef struct pcase {
    int N, cin, cout, H, W, groups; /* H = 0: a 1-D conv over W */
    int bias, act, w_in; /* act: 0 none, 1 relu, 2 relu6, 3 clip [-0.25, 0.3], 4 leaky 0.1 */
} pcase;

static int plane(const pcase *c)
{
    return (c->H ? c->H : 1) * c->W;
}

/* Runs case c with the given threads (and fp16 emulation); returns the output (caller frees)
 * or NULL; the conv's kernel path into path. */
static float *prun(mk_test_ctx *tc, const pcase *c, const float *x, const float *w, const float *b,
                   int threads, int fp16, char *path, size_t path_n)
{
    bld B;
    b_init(&B, 18);
    int cig = c->cin / c->groups, r = c->H ? 4 : 3;
    int64_t xd[4] = {c->N, c->cin, c->H, c->W}, wd[4] = {c->cout, cig, 1, 1}, bd[1] = {c->cout};
    if (!c->H) xd[2] = c->W;
    int32_t one[2] = {1, 1};
    mk_value *xv = b_input(&B, "x", r, xd, x);
    mk_value *wv = c->w_in ? b_input(&B, "w", r, wd, w) : cf(&B, r, wd, w);
    mk_op *o = op(&B, MK_OP_CONV, 1, "x", xv, "weight", wv, "bias", b ? cf(&B, 1, bd, b) : NULL,
                  "strides", ci(&B, r - 2, one), "dilations", ci(&B, r - 2, one), "pad_type",
                  cs(&B, "valid"), "groups", cis(&B, c->groups), NULL);
    mk_value *y = b_act(&B, o ? o->outputs[0] : NULL, c->act);
    int same; /* the second run reuses the packed weights */
    float *res = b_run_profiled(&B, y, threads, fp16, 2, "conv", path, path_n, NULL, &same);
    CHECK_MSG(same, "second run differs from the first");
    CHECK_MSG(res, "conv run: %s", B.e.msg);
    b_free(&B);
    return res;
}

TEST(interp_conv_1x1_packed_vs_reference)
{
    static const pcase cases[] = {
        /* N cin cout H W groups | bias act w_in */
        {1, 512, 1000, 13, 13, 1, 1, 1, 0}, /* SqueezeNet's classifier: 4 input blocks */
        {1, 37, 130, 7, 7, 1, 1, 0, 0},     /* odd channels, cout tail 2, 1-position tile tail */
        {1, 300, 136, 10, 10, 1, 0, 2, 0},  /* 3 input blocks of 100, shared packed copy */
        {1, 520, 129, 11, 13, 1, 1, 3, 0},  /* 5 input blocks of 104, cout tail 1 */
        {2, 16, 136, 6, 8, 1, 1, 4, 0},     /* two images, one chunk per tile, leaky after */
        {1, 38, 256, 5, 7, 2, 1, 1, 0},     /* two groups of 19 -> 128 */
        {1, 64, 128, 1, 1, 1, 1, 1, 1},     /* one position, weights an input */
        {1, 200, 144, 0, 100, 1, 1, 1, 0},  /* 1-D, 100 positions */
        {1, 96, 192, 48, 1, 1, 0, 0, 1},    /* exactly one tile, no bias, weights an input */
    };
    if (mk_conv_direct_level() < 2) SKIP("no AVX-512 here: the packed 1x1 path does not run");
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const pcase *c = &cases[k];
        int P = plane(c), cig = c->cin / c->groups, cog = c->cout / c->groups;
        size_t xn = (size_t)c->N * c->cin * P, wn = (size_t)c->cout * cig;
        size_t on = (size_t)c->N * c->cout * P;
        unsigned s = 2000 + (unsigned)k;
        float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc((size_t)c->cout * 4);
        double *ref = malloc(on * sizeof *ref);
        REQUIRE(x && w && b && ref);
        for (size_t i = 0; i < xn; i++) x[i] = b_rand(&s);
        for (size_t i = 0; i < wn; i++) w[i] = b_rand(&s) / sqrtf((float)cig);
        for (int i = 0; i < c->cout; i++) b[i] = 0.5f * b_rand(&s);
        for (int n = 0; n < c->N; n++)
            for (int co = 0; co < c->cout; co++) {
                int g = co / cog;
                for (int p = 0; p < P; p++) {
                    double acc = c->bias ? b[co] : 0;
                    for (int q = 0; q < cig; q++)
                        acc += (double)w[(size_t)co * cig + q] *
                               x[((size_t)n * c->cin + g * cig + q) * P + p];
                    ref[((size_t)n * c->cout + co) * P + p] = b_act_ref(c->act, acc);
                }
            }
        const char *want = c->H ? P1X1 : "conv: 1-D 1x1 packed gemm";
        char p1[64] = "", p2[64] = "", p0[64] = "";
        const float *bb = c->bias ? b : NULL;
        float *a1 = prun(tc, c, x, w, bb, 1, 0, p1, sizeof p1);
        float *a2 = prun(tc, c, x, w, bb, 2, 0, p2, sizeof p2);
        mk_conv_1x1_enable(0);
        float *a0 = prun(tc, c, x, w, bb, 1, 0, p0, sizeof p0);
        mk_conv_1x1_enable(1);
        if (a1 && a2 && a0) {
            CHECK_MSG(!strcmp(p1, want) && !strcmp(p2, want), "case %zu: paths '%s' '%s'", k, p1,
                      p2);
            CHECK_MSG(strcmp(p0, want), "case %zu: path '%s' when switched off", k, p0);
            CHECK_MSG(!memcmp(a1, a2, on * 4), "case %zu: -j 1 and -j 2 differ", k);
            CHECK_MSG(!memcmp(a1, a0, on * 4), "case %zu: differs from the direct kernel", k);
            size_t bad = 0, at = 0;
            double max_err = 0;
            for (size_t i = 0; i < on; i++) {
                double d = fabs(a1[i] - ref[i]);
                if (d > 1e-5 + 1e-5 * fabs(ref[i])) bad++, at = i;
                max_err = fmax(max_err, d);
            }
            CHECK_MSG(!bad, "case %zu: %zu of %zu beyond 1e-5 + 1e-5 |ref| (at %zu: %.9g vs %.9g)",
                      k, bad, on, at, (double)a1[at], ref[at]);
        }
        free(a0);
        free(a1);
        free(a2);
        free(x);
        free(w);
        free(b);
        free(ref);
    }
}

/* Fewer than 128 output channels per group stay on the direct kernel (measured faster there),
 * and so do padded or strided 1x1 convs; fp16 emulation takes the path with the same bits as
 * the direct kernel (the rounding to half runs after, on the finished rows). */
TEST(interp_conv_1x1_packed_dispatch)
{
    if (mk_conv_direct_level() < 2) SKIP("no AVX-512 here: the packed 1x1 path does not run");
    pcase few = {1, 32, 120, 9, 9, 1, 1, 1, 0}, big = {1, 32, 128, 9, 9, 1, 1, 1, 0};
    float x[32 * 81], w[128 * 32], b[128];
    unsigned s = 9;
    for (size_t i = 0; i < sizeof x / 4; i++) x[i] = b_rand(&s);
    for (size_t i = 0; i < sizeof w / 4; i++) w[i] = 0.2f * b_rand(&s);
    for (size_t i = 0; i < sizeof b / 4; i++) b[i] = b_rand(&s);
    char p[64] = "";
    float *o = prun(tc, &few, x, w, b, 1, 0, p, sizeof p);
    CHECK_MSG(!strcmp(p, "conv: direct"), "cout 120: path '%s'", p);
    free(o);
    float *h1 = prun(tc, &big, x, w, b, 1, 1, p, sizeof p); /* --fp16-emulate */
    CHECK_MSG(!strcmp(p, P1X1), "fp16: path '%s'", p);
    mk_conv_1x1_enable(0);
    float *h0 = prun(tc, &big, x, w, b, 1, 1, p, sizeof p);
    mk_conv_1x1_enable(1);
    CHECK_MSG(!strcmp(p, "conv: direct"), "off: path '%s'", p);
    if (h1 && h0) CHECK_MSG(!memcmp(h1, h0, 128 * 81 * 4), "fp16: differs from the direct kernel");
    free(h1);
    free(h0);
}

#define P1X1_AVX2 "conv: 1x1 packed gemm, avx2"

/* The AVX2+FMA variant (k_conv_1x1_avx2.c), forced onto every 1x1 conv (mk_conv_1x1_enable(2):
 * the shape rule aside) and onto AVX-512 machines by capping the kernel level to 1, against a
 * double reference: output channel tails (not multiples of the 6-channel block), position tails
 * (planes of 1, 15, 35, 49, 100, 143, 400), 1 to 5 input channel blocks, both packing modes and
 * the unpacked reads of few-channel convs (with the plane a multiple of 128 positions: packed),
 * two images, two groups, bias or none, relu / relu6 / clip in registers and leaky_relu after,
 * constant or run-time weights, 2-D and 1-D; -j 1, 2 and 3 bit-identical. Each output is one
 * chain of fp32 fmas from the bias over the input channels in order, so its error is within
 * (cig + 1) * 2^-24 * (|b| + sum |w x|) of the exact sum (the activations are 1-Lipschitz; the
 * leaky slope's product adds one more rounding). */
TEST(interp_conv_1x1_avx2_vs_reference)
{
    static const pcase cases[] = {
        /* N cin cout H W groups | bias act w_in */
        {1, 37, 13, 7, 7, 1, 1, 1, 0},     /* odd channels, cout tail 1, tile tail 1 */
        {1, 300, 136, 10, 10, 1, 0, 2, 0}, /* 3 input blocks of 100, shared packed copy */
        {1, 520, 129, 11, 13, 1, 1, 3, 0}, /* 5 input blocks of 104, cout tail 3 */
        {2, 16, 20, 6, 8, 1, 1, 4, 0},     /* two images, unpacked reads, leaky after */
        {1, 38, 12, 5, 7, 2, 1, 1, 0},     /* two groups of 19 -> 6 */
        {1, 64, 128, 1, 1, 1, 1, 1, 1},    /* one position, weights an input */
        {1, 200, 24, 0, 100, 1, 1, 2, 0},  /* 1-D, 100 positions */
        {1, 96, 40, 16, 16, 1, 0, 0, 1},   /* 256 positions: packed, no bias, weights an input */
        {1, 48, 12, 20, 20, 1, 1, 3, 0},   /* unpacked whole tiles, packed 16-position tail */
        {1, 256, 200, 13, 13, 1, 1, 1, 0}, /* 2 input blocks, 34 channel blocks */
        {1, 3, 7, 3, 5, 1, 1, 0, 0},       /* 3 input channels, 15 positions, no activation */
        {1, 1, 1, 5, 7, 1, 1, 1, 0},       /* one channel in and out */
    };
    if (mk_conv_direct_level() < 1) SKIP("no AVX2+FMA here: the AVX2 1x1 path does not run");
    mk_conv_direct_cap(1);
    mk_conv_1x1_enable(2);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const pcase *c = &cases[k];
        int P = plane(c), cig = c->cin / c->groups, cog = c->cout / c->groups;
        size_t xn = (size_t)c->N * c->cin * P, wn = (size_t)c->cout * cig;
        size_t on = (size_t)c->N * c->cout * P;
        unsigned s = 3000 + (unsigned)k;
        float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc((size_t)c->cout * 4);
        double *ref = malloc(on * sizeof *ref), *bound = malloc(on * sizeof *bound);
        REQUIRE(x && w && b && ref && bound);
        for (size_t i = 0; i < xn; i++) x[i] = b_rand(&s);
        for (size_t i = 0; i < wn; i++) w[i] = b_rand(&s) / sqrtf((float)cig);
        for (int i = 0; i < c->cout; i++) b[i] = 0.5f * b_rand(&s);
        for (int n = 0; n < c->N; n++)
            for (int co = 0; co < c->cout; co++) {
                int g = co / cog;
                for (int p = 0; p < P; p++) {
                    double acc = c->bias ? b[co] : 0, mag = fabs(acc);
                    for (int q = 0; q < cig; q++) {
                        double t = (double)w[(size_t)co * cig + q] *
                                   x[((size_t)n * c->cin + g * cig + q) * P + p];
                        acc += t;
                        mag += fabs(t);
                    }
                    size_t o = ((size_t)n * c->cout + co) * P + p;
                    ref[o] = b_act_ref(c->act, acc);
                    bound[o] = (cig + 2) * ldexp(mag, -24);
                }
            }
        const char *want = c->H ? P1X1_AVX2 : "conv: 1-D 1x1 packed gemm, avx2";
        char p[3][64] = {"", "", ""};
        const float *bb = c->bias ? b : NULL;
        float *a[3];
        for (int j = 0; j < 3; j++) a[j] = prun(tc, c, x, w, bb, j + 1, 0, p[j], sizeof p[j]);
        if (a[0] && a[1] && a[2]) {
            for (int j = 0; j < 3; j++)
                CHECK_MSG(!strcmp(p[j], want), "case %zu -j %d: path '%s'", k, j + 1, p[j]);
            CHECK_MSG(!memcmp(a[0], a[1], on * 4), "case %zu: -j 1 and -j 2 differ", k);
            CHECK_MSG(!memcmp(a[0], a[2], on * 4), "case %zu: -j 1 and -j 3 differ", k);
            size_t bad = 0, at = 0;
            for (size_t i = 0; i < on; i++)
                if (fabs(a[0][i] - ref[i]) > bound[i]) bad++, at = i;
            CHECK_MSG(!bad, "case %zu: %zu of %zu beyond the bound (at %zu: %.9g vs %.9g, %.3g)", k,
                      bad, on, at, (double)a[0][at], ref[at], bound[at]);
        }
        for (int j = 0; j < 3; j++) free(a[j]);
        free(x);
        free(w);
        free(b);
        free(ref);
        free(bound);
    }
    mk_conv_1x1_enable(1);
    mk_conv_direct_cap(2);
}

/* Exact sum, error bound ((cig + 2) * 2^-24 * (|b| + sum |w x|): any fp32 summation order) and
 * activation of case c into ref and bound. */
static void pref(const pcase *c, const float *x, const float *w, const float *b, double *ref,
                 double *bound)
{
    int P = plane(c), cig = c->cin / c->groups, cog = c->cout / c->groups;
    for (int n = 0; n < c->N; n++)
        for (int co = 0; co < c->cout; co++)
            for (int p = 0; p < P; p++) {
                double acc = b ? b[co] : 0, mag = fabs(acc);
                for (int q = 0; q < cig; q++) {
                    double t = (double)w[(size_t)co * cig + q] *
                               x[((size_t)n * c->cin + co / cog * cig + q) * P + p];
                    acc += t;
                    mag += fabs(t);
                }
                size_t o = ((size_t)n * c->cout + co) * P + p;
                ref[o] = b_act_ref(c->act, acc);
                bound[o] = (cig + 2) * ldexp(mag, -24);
            }
}

/* Case c at -j 1, 2 and 3: the path want each time, the same bits, within the bound. */
static void pcheck(mk_test_ctx *tc, const pcase *c, const char *want, unsigned seed)
{
    int P = plane(c), cig = c->cin / c->groups;
    size_t xn = (size_t)c->N * c->cin * P, wn = (size_t)c->cout * cig;
    size_t on = (size_t)c->N * c->cout * P;
    float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc((size_t)c->cout * 4);
    double *ref = malloc(on * sizeof *ref), *bound = malloc(on * sizeof *bound);
    REQUIRE(x && w && b && ref && bound);
    for (size_t i = 0; i < xn; i++) x[i] = b_rand(&seed);
    for (size_t i = 0; i < wn; i++) w[i] = b_rand(&seed) / sqrtf((float)cig);
    for (int i = 0; i < c->cout; i++) b[i] = 0.5f * b_rand(&seed);
    pref(c, x, w, c->bias ? b : NULL, ref, bound);
    char p[3][64] = {"", "", ""};
    float *a[3];
    for (int j = 0; j < 3; j++)
        a[j] = prun(tc, c, x, w, c->bias ? b : NULL, j + 1, 0, p[j], sizeof p[j]);
    if (a[0] && a[1] && a[2]) {
        for (int j = 0; j < 3; j++)
            CHECK_MSG(!strcmp(p[j], want), "%d -> %d: -j %d path '%s', want '%s'", c->cin, c->cout,
                      j + 1, p[j], want);
        CHECK_MSG(!memcmp(a[0], a[1], on * 4) && !memcmp(a[0], a[2], on * 4),
                  "%d -> %d: -j 1, 2, 3 differ", c->cin, c->cout);
        size_t bad = 0;
        for (size_t i = 0; i < on; i++) bad += fabs(a[0][i] - ref[i]) > bound[i];
        CHECK_MSG(!bad, "%d -> %d: %zu of %zu beyond the bound", c->cin, c->cout, bad, on);
    }
    for (int j = 0; j < 3; j++) free(a[j]);
    free(x);
    free(w);
    free(b);
    free(ref);
    free(bound);
}

/* On AVX2 (the level capped to 1 on AVX-512 machines) the measured rule: the AVX2 variant for at
 * most 128 input channels, OpenBLAS for more, or with the path switched off; the OpenBLAS path
 * of a 1x1 conv of one column tile split for the threads into column tiles (PP-OCRv4 rec's
 * 240 -> 240 at 12x80) or ranges of output channels (its 480 -> 480 at 3x80), -j 1, 2 and 3
 * bit-identical; the portable level (0) too. */
TEST(interp_conv_1x1_avx2_dispatch)
{
    if (mk_conv_direct_level() < 1) SKIP("no AVX2+FMA here: the AVX2 1x1 path does not run");
    mk_conv_direct_cap(1);
    pcase small = {1, 128, 40, 9, 9, 1, 1, 1, 0}, wide = {1, 240, 240, 12, 80, 1, 1, 2, 0};
    pcase deep = {1, 480, 480, 3, 80, 1, 1, 3, 0};
    pcheck(tc, &small, P1X1_AVX2, 41);
    pcheck(tc, &wide, "conv: 1x1 sgemm (no copy)", 42);
    pcheck(tc, &deep, "conv: 1x1 sgemm (no copy)", 45);
    mk_conv_1x1_enable(0);
    pcheck(tc, &small, "conv: 1x1 sgemm (no copy)", 43);
    mk_conv_1x1_enable(1);
    mk_conv_direct_cap(0);
    pcheck(tc, &wide, "conv: 1x1 sgemm (no copy)", 44);
    mk_conv_direct_cap(2);
}

/* conv_transpose (k_conv.c's sgemm+col2im) in chunks of output channel ranges: 2x2 stride 2
 * (PP-OCRv4 det's upsampling: every tap pair interleaved), 3x3 stride 2 with pad 1 (overlapping
 * windows: the tiles of input rows add into the same outputs; no pairs) and 4x4 stride 2 pad 1
 * (overlap and a pair), two groups, two images, bias and relu; -j 1, 2 and 3 bit-identical, the
 * same bits at kernel level 0 (no AVX2 pairs), within (terms + 2) * 2^-24 * (|b| + sum |w x|)
 * of the exact sums. */
TEST(interp_conv_transpose_channel_chunks)
{
    static const struct {
        int N, cin, cout, H, W, k, s, pad, groups;
    } cases[] = {{1, 64, 32, 20, 20, 2, 2, 0, 1},
                 {1, 48, 36, 20, 22, 3, 2, 1, 2},
                 {2, 32, 24, 13, 17, 4, 2, 1, 1}};
    for (size_t q = 0; q < sizeof cases / sizeof *cases; q++) {
        int N = cases[q].N, cin = cases[q].cin, cout = cases[q].cout, H = cases[q].H;
        int W = cases[q].W, K = cases[q].k, S = cases[q].s, pd = cases[q].pad, G = cases[q].groups;
        int cig = cin / G, cog = cout / G, OH = (H - 1) * S + K - 2 * pd,
            OW = (W - 1) * S + K - 2 * pd;
        size_t xn = (size_t)N * cin * H * W, wn = (size_t)cin * cog * K * K;
        size_t on = (size_t)N * cout * OH * OW;
        unsigned s = 77 + (unsigned)q;
        float *x = malloc(xn * 4), *w = malloc(wn * 4), *b = malloc((size_t)cout * 4);
        double *ref = calloc(on, sizeof *ref), *mag = calloc(on, sizeof *mag);
        REQUIRE(x && w && b && ref && mag);
        for (size_t i = 0; i < xn; i++) x[i] = b_rand(&s);
        for (size_t i = 0; i < wn; i++) w[i] = b_rand(&s) / sqrtf((float)(cig * K));
        for (int i = 0; i < cout; i++) b[i] = 0.5f * b_rand(&s);
        for (int n = 0; n < N; n++)
            for (int ci = 0; ci < cin; ci++)
                for (int i0 = 0; i0 < H; i0++)
                    for (int i1 = 0; i1 < W; i1++)
                        for (int co = 0; co < cog; co++)
                            for (int k0 = 0; k0 < K; k0++)
                                for (int k1 = 0; k1 < K; k1++) {
                                    int o0 = i0 * S + k0 - pd, o1 = i1 * S + k1 - pd;
                                    if (o0 < 0 || o0 >= OH || o1 < 0 || o1 >= OW) continue;
                                    int oc = ci / cig * cog + co;
                                    size_t o = (((size_t)n * cout + oc) * OH + o0) * OW + o1;
                                    double t =
                                        (double)x[(((size_t)n * cin + ci) * H + i0) * W + i1] *
                                        w[(((size_t)ci * cog + co) * K + k0) * K + k1];
                                    ref[o] += t;
                                    mag[o] += fabs(t);
                                }
        float *a[4] = {NULL, NULL, NULL, NULL};
        char p[4][64] = {"", "", "", ""};
        for (int j = 0; j < 4; j++) {
            if (j == 3) mk_conv_direct_cap(0); /* col2im without the AVX2 tap pairs */
            bld B;
            b_init(&B, 18);
            int64_t xd[4] = {N, cin, H, W}, wd[4] = {cin, cog, K, K}, bd[1] = {cout};
            int32_t st[2] = {S, S}, one[2] = {1, 1}, pads[4] = {pd, pd, pd, pd};
            mk_value *xv = b_input(&B, "x", 4, xd, x);
            mk_op *o = op(&B, MK_OP_CONV_TRANSPOSE, 1, "x", xv, "weight", cf(&B, 4, wd, w), "bias",
                          cf(&B, 1, bd, b), "strides", ci(&B, 2, st), "dilations", ci(&B, 2, one),
                          "pad_type", cs(&B, "custom"), "pad", ci(&B, 4, pads), "groups",
                          cis(&B, G), NULL);
            mk_value *y = b_act(&B, o ? o->outputs[0] : NULL, 1);
            a[j] = b_run_profiled(&B, y, j < 3 ? j + 1 : 1, 0, 1, "conv_transpose", p[j],
                                  sizeof p[j], NULL, NULL);
            CHECK_MSG(a[j], "conv_transpose run: %s", B.e.msg);
            b_free(&B);
        }
        mk_conv_direct_cap(2);
        if (a[0] && a[1] && a[2] && a[3]) {
            CHECK_MSG(!strcmp(p[0], "conv_transpose: sgemm+col2im"), "path '%s'", p[0]);
            CHECK_MSG(!memcmp(a[0], a[1], on * 4) && !memcmp(a[0], a[2], on * 4),
                      "case %zu: -j 1, 2, 3 differ", q);
            CHECK_MSG(!memcmp(a[0], a[3], on * 4), "case %zu: differs at kernel level 0", q);
            size_t bad = 0, at = 0;
            int terms = cig * K * K + 2;
            for (size_t i = 0; i < on; i++) {
                int oc = (int)(i / ((size_t)OH * OW) % (size_t)cout);
                double r = b_act_ref(1, ref[i] + b[oc]),
                       bound = terms * ldexp(mag[i] + fabs(b[oc]), -24);
                if (fabs(a[0][i] - r) > bound) bad++, at = i;
            }
            CHECK_MSG(!bad, "case %zu: %zu of %zu beyond the bound (at %zu: %.9g)", q, bad, on, at,
                      (double)a[0][at]);
        }
        for (int j = 0; j < 4; j++) free(a[j]);
        free(x);
        free(w);
        free(b);
        free(ref);
        free(mag);
    }
}
