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
