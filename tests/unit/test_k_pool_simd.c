/* max_pool's AVX-512 and AVX2 row kernels (k_pool.c) against a naive loop and against the
 * portable separable passes, on 1-, 2- and 3-D pools with odd sizes, strides 1-3, asymmetric
 * pads, windows clipped at the borders, infinities and NaNs; -j 1, 2 and 3 give the same bits.
 * The AVX2 kernel is forced with mk_pool_simd_cap(1) on an AVX-512 CPU; a level the CPU lacks
 * is said so. */
#include <math.h>
#include <stdlib.h>

#include "base/base.h"
#include "interp/k_pool.h"
#include "test.h"

#include "opsem_build.h"

typedef struct pool_case {
    int ns, C;
    int in[3], k[3], s[3], pad[6]; /* per spatial dim (first ns used); pad: before, after */
} pool_case;

static mk_value *out0(mk_op *o)
{
    return o ? o->outputs[0] : NULL;
}

/* The output of case c (o: its spatial dims, right-aligned in 3 slots); NULL on failure. */
static float *pool_run(mk_test_ctx *tc, const pool_case *c, const float *x, int threads, int simd,
                       int64_t *o, char *path, size_t path_n)
{
    bld B;
    b_init(&B, 17);
    int64_t xd[5] = {1, c->C};
    int32_t k[3], s[3], p[6];
    for (int i = 0; i < c->ns; i++) {
        xd[2 + i] = c->in[i], k[i] = c->k[i], s[i] = c->s[i];
        p[2 * i] = c->pad[2 * i], p[2 * i + 1] = c->pad[2 * i + 1];
    }
    mk_value *y = out0(op(&B, MK_OP_MAX_POOL, 1, "x", b_input(&B, "x", c->ns + 2, xd, x),
                          "kernel_sizes", ci(&B, c->ns, k), "strides", ci(&B, c->ns, s), "pad_type",
                          cs(&B, "custom"), "pad", ci(&B, 2 * c->ns, p), NULL));
    int64_t od[8];
    mk_pool_simd_cap(simd);
    float *res = b_run_profiled(&B, y, threads, 0, 1, "max_pool", path, path_n, od, NULL);
    mk_pool_simd_cap(2);
    o[0] = o[1] = o[2] = 1;
    for (int i = 0; res && i < c->ns; i++) o[3 - c->ns + i] = od[2 + i];
    CHECK_MSG(res, "max_pool run: %s", B.e.msg);
    b_free(&B);
    return res;
}

/* The max over each window's cells inside the input; NaN when one is NaN; 0 when none. */
static float naive_at(const pool_case *c, const float *x, int64_t ch, const int64_t *oq)
{
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, pb[3] = {0};
    for (int i = 0; i < c->ns; i++) {
        int j = 3 - c->ns + i;
        in[j] = c->in[i], k[j] = c->k[i], s[j] = c->s[i], pb[j] = c->pad[2 * i];
    }
    float m = -INFINITY;
    int any = 0, nan = 0;
    for (int64_t a = 0; a < k[0]; a++)
        for (int64_t b = 0; b < k[1]; b++)
            for (int64_t d = 0; d < k[2]; d++) {
                int64_t i0 = oq[0] * s[0] + a - pb[0], i1 = oq[1] * s[1] + b - pb[1],
                        i2 = oq[2] * s[2] + d - pb[2];
                if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                    continue;
                float v = x[((ch * in[0] + i0) * in[1] + i1) * in[2] + i2];
                any = 1;
                if (v != v)
                    nan = 1;
                else if (v > m)
                    m = v;
            }
    return nan ? NAN : any ? m : 0;
}

static int same_or_nan(float a, float b)
{
    return (a != a && b != b) || a == b;
}

static const char *const lv_path[] = {"", "AVX2", "AVX-512"};

static void max_pool_rows_level(mk_test_ctx *tc, int lv)
{
    static const pool_case cases[] = {
        /* ns C | in | k | s | pad */
        {2, 3, {111, 111}, {3, 3}, {2, 2}, {0, 1, 0, 1}},
        {2, 2, {55, 57}, {3, 3}, {2, 2}, {1, 1, 1, 1}},
        {2, 4, {13, 40}, {2, 2}, {2, 2}, {0, 0, 0, 0}},
        {2, 2, {9, 37}, {3, 3}, {1, 1}, {1, 1, 1, 1}},
        {2, 2, {7, 50}, {2, 5}, {1, 3}, {0, 1, 2, 2}},
        {2, 3, {6, 8}, {3, 3}, {2, 2}, {1, 1, 1, 1}},
        {2, 2, {10, 26}, {3, 3}, {2, 2}, {1, 2, 1, 2}}, /* last row's window: 1 input row */
        {2, 1, {5, 70}, {1, 7}, {1, 1}, {0, 0, 3, 3}},
        {2, 2, {4, 33}, {4, 4}, {3, 3}, {2, 0, 0, 2}},
        {1, 3, {100}, {3}, {2}, {1, 1}},
        {1, 2, {35}, {17}, {1}, {8, 8}},
        {3, 2, {5, 9, 21}, {2, 3, 3}, {1, 2, 2}, {0, 1, 1, 1, 1, 1}},
    };
    int simd_here = 0;
    const char *want_path = lv_path[lv];
    for (size_t ci_ = 0; ci_ < sizeof cases / sizeof *cases; ci_++) {
        const pool_case *c = &cases[ci_];
        size_t xn = (size_t)c->C;
        for (int i = 0; i < c->ns; i++) xn *= (size_t)c->in[i];
        float *x = malloc(xn * 4);
        unsigned seed = 40 + (unsigned)ci_;
        for (size_t i = 0; i < xn; i++) x[i] = b_rand(&seed);
        x[xn / 3] = NAN;
        x[xn / 2] = INFINITY;
        x[xn - 1] = -INFINITY;
        x[7] = NAN;
        char p1[64] = "", p2[64] = "", p0[64] = "";
        int64_t o[3], o2[3], o0[3];
        float *a = pool_run(tc, c, x, 1, lv, o, p1, sizeof p1);
        float *b = pool_run(tc, c, x, 2, lv, o2, p2, sizeof p2);
        float *r = pool_run(tc, c, x, 1, 0, o0, p0, sizeof p0);
        /* three threads: three bands of output rows (where there are 6 rows or more) */
        char p3[64] = "";
        int64_t o3[3];
        float *b3 = pool_run(tc, c, x, 3, lv, o3, p3, sizeof p3);
        if (a && b3) {
            size_t on3 = (size_t)c->C * (size_t)(o[0] * o[1] * o[2]);
            CHECK_MSG(!memcmp(a, b3, on3 * 4), "case %zu: -j 1 and -j 3 differ", ci_);
        }
        free(b3);
        if (a && b && r) {
            size_t on = (size_t)c->C * (size_t)(o[0] * o[1] * o[2]);
            if (strstr(p1, want_path)) simd_here = 1;
            CHECK_MSG(!strstr(p0, "AVX"), "case %zu: capped run took '%s'", ci_, p0);
            CHECK_MSG(lv == 2 || !strstr(p1, "AVX-512"), "case %zu: level %d took '%s'", ci_, lv,
                      p1);
            CHECK_MSG(!memcmp(a, b, on * 4), "case %zu: -j 1 and -j 2 differ", ci_);
            size_t bad = 0, badp = 0, nans = 0;
            for (size_t i = 0; i < on; i++) {
                int64_t q = (int64_t)i % (o[0] * o[1] * o[2]),
                        ch = (int64_t)i / (o[0] * o[1] * o[2]);
                int64_t oq[3] = {q / (o[1] * o[2]), q / o[2] % o[1], q % o[2]};
                float want = naive_at(c, x, ch, oq);
                bad += !same_or_nan(a[i], want);
                badp += !same_or_nan(r[i], want);
                nans += want != want;
            }
            CHECK_MSG(!bad, "case %zu (%s): %zu of %zu outputs differ from the naive pool", ci_, p1,
                      bad, on);
            CHECK_MSG(!badp, "case %zu (%s): %zu of %zu outputs differ from the naive pool", ci_,
                      p0, badp, on);
            CHECK_MSG(nans > 0, "case %zu: no window saw the NaN", ci_);
        }
        free(a);
        free(b);
        free(r);
        free(x);
    }
    if (!simd_here) printf("      no %s here: that max_pool row kernel did not run\n", want_path);
}

TEST(interp_max_pool_simd_rows_vs_naive_and_portable)
{
    max_pool_rows_level(tc, 2);
}

TEST(interp_max_pool_avx2_rows_vs_naive_and_portable)
{
    max_pool_rows_level(tc, 1);
}
