/* Optimal 1-D k-means (src/passes/compress_palette.c: SMAWK over the DP rows) against an
 * O(K m^2) dynamic program on random weighted values, for palette sizes 2..256. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
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
        CHECK_MSG(fabs(got - want) <= 1e-9 * fmax(1, want), "K=%d m=%zu: SSE %.12g, optimum %.12g", K,
                  m, got, want);
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
        REQUIRE(mk_cmp_kmeans1d(NULL, x, w, m, K, NULL, c1) && mk_cmp_kmeans1d(NULL, x, w, m, K, g, c2));
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
