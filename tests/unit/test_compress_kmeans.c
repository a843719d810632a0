/* Optimal 1-D k-means (src/passes/compress_palette.c: SMAWK over the DP rows) against an
 * O(K m^2) dynamic program on random weighted values, for palette sizes 2..256. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "ir/ir.h"
#include "passes/compress_int.h"
#include "test.h"

static double sse_of(const double *x, const double *w, size_t m, const double *c, int K)
{
    double s = 0;
    for (size_t i = 0; i < m; i++) {
        double b = INFINITY;
        for (int k = 0; k < K; k++) b = fmin(b, (x[i] - c[k]) * (x[i] - c[k]));
        s += w[i] * b;
    }
    return s;
}

/* the optimum by the plain dynamic program */
static double brute(const double *x, const double *w, size_t m, int K)
{
    double *d = malloc((size_t)(K + 1) * (m + 1) * sizeof *d);
    if (!d) return NAN;
    for (size_t i = 0; i <= m; i++) d[i] = i ? INFINITY : 0;
    for (int k = 1; k <= K; k++)
        for (size_t i = 0; i <= m; i++) {
            double best = i ? INFINITY : 0, sw = 0, s1 = 0, s2 = 0;
            for (size_t j = i; j > 0; j--) { /* last cluster j-1 .. i-1 */
                sw += w[j - 1], s1 += w[j - 1] * x[j - 1], s2 += w[j - 1] * x[j - 1] * x[j - 1];
                double v = d[(size_t)(k - 1) * (m + 1) + j - 1] + fmax(0, s2 - s1 * s1 / sw);
                if (v < best) best = v;
            }
            d[(size_t)k * (m + 1) + i] = best;
        }
    double r = d[(size_t)K * (m + 1) + m];
    free(d);
    return r;
}

TEST(compress_kmeans_smawk_matches_dp)
{
    static const int Ks[] = {2, 3, 8, 16, 64, 256};
    unsigned s = 11;
    for (int t = 0; t < 6; t++) {
        size_t m = 300 + (size_t)t * 40;
        double *x = malloc(m * sizeof *x), *w = malloc(m * sizeof *w), c[256];
        REQUIRE(x && w);
        double v = -3;
        for (size_t i = 0; i < m; i++) {
            s = s * 1103515245u + 12345u;
            v += 0.001 + (double)((s >> 8) % 1000) / 1000.0 * (i % 17 ? 0.01 : 0.5);
            x[i] = v;
            w[i] = 1 + (double)((s >> 4) % 50);
        }
        int K = Ks[t];
        CHECK(mk_cmp_kmeans1d(NULL, x, w, m, K, NULL, c));
        for (int k = 1; k < K; k++) CHECK_MSG(c[k] >= c[k - 1], "K=%d: centroids not ascending", K);
        double got = sse_of(x, w, m, c, K), want = brute(x, w, m, K);
        CHECK_MSG(fabs(got - want) <= 1e-9 * fmax(1, want), "K=%d m=%zu: SSE %.12g, optimum %.12g",
                  K, m, got, want);
        free(x);
        free(w);
    }
}

/* Bins of a relative grid (values sharing their top mantissa bits, as the palette code bins
 * beyond 4096 fp16 values) against exact, on 30000 Gaussian-like values plus outliers up to 40
 * sigma: at most 2% more squared error for 16 and 256 entries (measured 0.0002% and 1.1%). */
TEST(compress_kmeans_binned_close_to_exact)
{
    size_t m = 30000;
    double *x = malloc(m * sizeof *x), *w = malloc(m * sizeof *w), c1[256], c2[256];
    uint32_t *g = malloc(m * sizeof *g);
    REQUIRE(x && w && g);
    unsigned s = 3;
    for (size_t i = 0; i < m; i++) {
        double t = ((double)i - m / 2.0) / (m / 8.0); /* -4..4 sigma, weight ~ density */
        x[i] = t * 0.02;
        s = s * 1103515245u + 12345u;
        w[i] = 1 + floor(200 * exp(-t * t / 2)) + (s >> 28);
    }
    for (size_t i = 0; i < 40; i++) { /* sparse outliers in both tails */
        x[i] = -0.8 + 0.016 * (double)i - 0.1, w[i] = 1;
        x[m - 1 - i] = 0.8 - 0.016 * (double)i + 0.1, w[m - 1 - i] = 1;
    }
    for (size_t i = 0; i < m; i++) { /* 7 mantissa bits, sign-ordered */
        int ex;
        double f = frexp(fabs(x[i]), &ex);
        int64_t q = (int64_t)(ex + 40) * 128 + (int64_t)floor((f - 0.5) * 256);
        g[i] = (uint32_t)(x[i] < 0 ? 100000 - q : 100000 + q);
    }
    for (int K = 16; K <= 256; K *= 16) {
        REQUIRE(mk_cmp_kmeans1d(NULL, x, w, m, K, NULL, c1) &&
                mk_cmp_kmeans1d(NULL, x, w, m, K, g, c2));
        double e1 = sse_of(x, w, m, c1, K), e2 = sse_of(x, w, m, c2, K);
        CHECK_MSG(e2 >= e1 * (1 - 1e-9) && e2 <= e1 * 1.02, "K=%d: binned SSE %.6g, exact %.6g", K,
                  e2, e1);
        printf("  k-means K=%d on %zu values: 7-bit-mantissa bins cost %+.4f%% squared error\n", K,
               m, 100 * (e2 / e1 - 1));
    }
    free(x);
    free(w);
    free(g);
}

/* Through mk_compress: a trained-looking weight (Gaussian plus sparse outliers to 30 sigma, many
 * more distinct fp16 values than the 4096 bins) keeps an 8-bit palette error near the exact
 * k-means one; bins joining outliers with distant values gave ten times more. */
TEST(compress_kmeans_outliers_lut8)
{
    enum { R = 64, C = 1024 };
    static float w[R * C];
    unsigned s = 17;
    for (int i = 0; i < R * C; i++) {
        double u = 0;
        for (int k = 0; k < 4; k++) {
            s = s * 1664525u + 1013904223u;
            u += (double)(s >> 8) / 16777216.0 - 0.5;
        }
        w[i] = (float)(u * 0.05);
        if (i % 997 == 0) w[i] = (float)((i % 3 ? 1 : -1) * (0.2 + (double)(i % 61) * 0.02));
    }
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_test_owned(p); /* fault runs: the test's own (test.h) */
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    REQUIRE(f);
    int64_t d[2] = {R, C}, xd[2] = {1, C};
    mk_type t = mk_type_make(MK_DT_FP32, 2, d), xt = mk_type_make(MK_DT_FP32, 2, xd);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *wv = mk_ir_const(p, f->block, "w", &t, w, sizeof w, 0);
    mk_op *l = mk_ir_op_new(p, MK_OP_LINEAR, "l");
    mk_err e = {MK_OK, ""};
    REQUIRE(x && wv && l && mk_ir_op_add_input(p, l, "x", x) &&
            mk_ir_op_add_input(p, l, "weight", wv) && mk_ir_op_add_output(p, l, NULL, &none));
    mk_ir_block_append(f->block, l);
    REQUIRE(mk_ir_infer_op(l, &e) == MK_OK &&
            mk_ir_block_set_outputs(p, f->block, 1, &l->outputs[0]));
    /* the exact optimum over the fp16 values, for reference */
    static double xs[65536], cnt[65536], c[256];
    static uint32_t hist[65536];
    for (int i = 0; i < R * C; i++) hist[mk_f32_to_f16(w[i])]++;
    hist[0] += hist[0x8000];
    hist[0x8000] = 0;
    size_t m = 0;
    for (uint32_t h = 0xffff; h >= 0x8000; h--)
        if (hist[h]) xs[m] = mk_f16_to_f32((uint16_t)h), cnt[m++] = hist[h];
    for (uint32_t h = 0; h < 0x7c00; h++)
        if (hist[h]) xs[m] = mk_f16_to_f32((uint16_t)h), cnt[m++] = hist[h];
    REQUIRE(m > 4096 && mk_cmp_kmeans1d(NULL, xs, cnt, m, 256, NULL, c));
    double d2 = 0, w2 = 0;
    for (int i = 0; i < R * C; i++) {
        double b = INFINITY;
        for (int k = 0; k < 256; k++) b = fmin(b, fabs(w[i] - c[k]));
        d2 += b * b, w2 += (double)w[i] * w[i];
    }
    double exact = sqrt(d2 / w2);
    mk_compress_options o = {.mode = MK_CMP_PALETTE, .bits = 8};
    mk_compress_report rep;
    CHECK_MSG(mk_compress(p, &o, &rep, &e) == MK_OK && rep.n == 1, "%s", e.msg);
    if (rep.n == 1)
        CHECK_MSG(rep.layers[0].rel_err <= exact * 1.2,
                  "lut8 error %g, exact k-means %g (%zu values)", rep.layers[0].rel_err, exact, m);
    mk_compress_report_free(&rep);
    mk_ir_program_free(p);
}

/* Few values are counted by sorting them, many by a histogram of every fp16 value: the same
 * values twice over (every count doubled, which leaves the optimum) take the other path and
 * give the same LUT. */
TEST(compress_kmeans_sorted_and_histogram_agree)
{
    enum { N = 10000 };
    static float v[2 * N];
    unsigned s = 21;
    for (int i = 0; i < N; i++) {
        s = s * 1664525u + 1013904223u;
        double u = (double)(s >> 8) / 16777216.0 - 0.5;
        v[i] = v[N + i] = (float)(u * u * u * 4 + (i % 101 == 0 ? 3 : 0));
    }
    v[5] = v[N + 5] = -0.0f;
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    int64_t d[2] = {1, 1};
    mk_type t = mk_type_make(MK_DT_FP32, 2, d);
    float one = 1;
    mk_value *w = f ? mk_ir_const(p, f->block, "w", &t, &one, 4, 0) : NULL;
    REQUIRE(w);
    static unsigned char lb[2 * 256 * 4];
    mk_cw c;
    memset(&c, 0, sizeof c);
    c.p = p, c.w = w, c.lutb = lb;
    for (int bits = 4; bits <= 8; bits += 4) {
        float a[256], b[256];
        CHECK(mk_cmp_lut(&c, v, N, bits, 0, 0, a) && mk_cmp_lut(&c, v, 2 * N, bits, 0, 1, b));
        CHECK_MSG(!memcmp(a, b, sizeof(float) << bits), "%d-bit LUTs differ", bits);
    }
    mk_ir_program_free(p);
}
