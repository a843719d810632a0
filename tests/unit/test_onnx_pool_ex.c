/* MaxPool forms lowered in src/onnx/lower_pool.c (dilations, the Indices output in both
 * storage orders, integer inputs) and MaxUnpool, run in the interpreter on random inputs with
 * ties against the ONNX definitions written here (first maximum in window order wins). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

enum { PN = 2, PC = 3, PH = 7, PW = 8 };

typedef struct {
    int k[2], s[2], d[2], pb[2], pe[2], ceil, col, is_int;
} pcase;

static int out_dim(const pcase *q, int i, int in)
{
    int ek = (q->k[i] - 1) * q->d[i] + 1, span = in + q->pb[i] + q->pe[i] - ek;
    int o = q->ceil ? (span + q->s[i] - 1) / q->s[i] + 1 : span / q->s[i] + 1;
    if (q->ceil && (o - 1) * q->s[i] >= in + q->pb[i]) o--;
    return o;
}

static void ref_pool(const pcase *q, const float *x, int OH, int OW, float *y, int32_t *ix)
{
    for (int nc = 0; nc < PN * PC; nc++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                float best = -INFINITY;
                int bi = -1;
                for (int a = 0; a < q->k[0]; a++)
                    for (int b = 0; b < q->k[1]; b++) {
                        int yy = i * q->s[0] - q->pb[0] + a * q->d[0];
                        int xx = j * q->s[1] - q->pb[1] + b * q->d[1];
                        if (yy < 0 || yy >= PH || xx < 0 || xx >= PW) continue;
                        float v = x[(nc * PH + yy) * PW + xx];
                        if (v > best || bi < 0)
                            best = v, bi = nc * PH * PW + (q->col ? xx * PH + yy : yy * PW + xx);
                    }
                y[(nc * OH + i) * OW + j] = best;
                ix[(nc * OH + i) * OW + j] = bi;
            }
}

static void pool_case(mk_test_ctx *tc, uint32_t seed, const pcase *q, int want_idx)
{
    float x[PN * PC * PH * PW], y[PN * PC * PH * PW], gy[PN * PC * PH * PW];
    int32_t xi[PN * PC * PH * PW], ix[PN * PC * PH * PW], gi[PN * PC * PH * PW];
    for (int i = 0; i < PN * PC * PH * PW; i++) {
        seed = seed * 1664525u + 1013904223u;
        xi[i] = (int32_t)((seed >> 20) % 5); /* few levels: ties */
        x[i] = (float)xi[i] - 2;
    }
    int OH = out_dim(q, 0, PH), OW = out_dim(q, 1, PW);
    ref_pool(q, x, OH, OW, y, ix);
    ob b;
    ob_init(&b, 12);
    int64_t xd[4] = {PN, PC, PH, PW};
    ob_input(&b, "x", q->is_int ? 3 : 1, 4, xd);
    Onnx__NodeProto *n = ob_node(&b, "MaxPool", "x", want_idx ? "y,i" : "y");
    int64_t k[2] = {q->k[0], q->k[1]}, s[2] = {q->s[0], q->s[1]}, d[2] = {q->d[0], q->d[1]};
    int64_t p[4] = {q->pb[0], q->pb[1], q->pe[0], q->pe[1]};
    ob_attr_ints(&b, n, "kernel_shape", 2, k);
    ob_attr_ints(&b, n, "strides", 2, s);
    ob_attr_ints(&b, n, "dilations", 2, d);
    ob_attr_ints(&b, n, "pads", 4, p);
    if (q->ceil) ob_attr_i(&b, n, "ceil_mode", 1);
    if (q->col) ob_attr_i(&b, n, "storage_order", 1);
    ob_output(&b, "y");
    if (want_idx) ob_output(&b, "i");
    mk_program *pr = imp(tc, &b, NULL);
    size_t no = (size_t)(PN * PC * OH * OW);
    if (pr) {
        const void *in[1] = {q->is_int ? (const void *)xi : (const void *)x};
        if (run_k(tc, pr, 1, in, 0, gy, no * 4))
            for (size_t i = 0; i < no; i++) {
                float g = q->is_int ? (float)((int32_t *)gy)[i] - 2 : gy[i];
                CHECK_MSG(g == y[i], "seed %u k%dx%d d%d s%d ceil %d: y[%zu] = %g, want %g", seed,
                          q->k[0], q->k[1], q->d[0], q->s[0], q->ceil, i, g, y[i]);
            }
        if (want_idx && run_k(tc, pr, 1, in, 1, gi, no * 4))
            for (size_t i = 0; i < no; i++)
                CHECK_MSG(gi[i] == ix[i], "seed %u col %d: index[%zu] = %d, want %d", seed, q->col,
                          i, gi[i], ix[i]);
    }
    mk_ir_program_free(pr);
    ob_free(&b);
}

TEST(onnx_max_pool_dilations_indices_and_ints_match_the_onnx_definition)
{
    static const pcase cases[] = {
        {{2, 2}, {1, 1}, {2, 2}, {0, 0}, {0, 0}, 0, 0, 0},
        {{3, 2}, {2, 1}, {2, 3}, {1, 0}, {2, 1}, 0, 0, 0},
        {{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}, 1, 0, 0},
        {{2, 3}, {2, 2}, {2, 1}, {0, 1}, {0, 0}, 1, 1, 0},
        {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 0, 0, 1},
        {{2, 2}, {2, 2}, {2, 2}, {0, 0}, {1, 1}, 0, 1, 1},
    };
    for (uint32_t seed = 1; seed <= 3; seed++)
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            pool_case(tc, seed, &cases[i], 0);
            pool_case(tc, seed, &cases[i], 1);
        }
}

/* MaxPool with Indices then MaxUnpool: every maximum back at its flat index, zeros
 * elsewhere; with an output_shape the result is padded at the end (the indices still address
 * the inferred shape, as ONNX's test data shows). */
static void unpool_case(mk_test_ctx *tc, int with_shape)
{
    enum { UH = 6, UW = 8, OH = 3, OW = 4, XH = UH + 1, XW = UW + 2 };
    float x[PN * PC * UH * UW], want[PN * PC * XH * XW], got[PN * PC * XH * XW];
    uint32_t seed = 7;
    for (int i = 0; i < PN * PC * UH * UW; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) % 1000) / 100.0f;
    }
    int th = with_shape ? XH : UH, tw = with_shape ? XW : UW;
    memset(want, 0, sizeof want);
    for (int nc = 0; nc < PN * PC; nc++)
        for (int i = 0; i < OH; i++)
            for (int j = 0; j < OW; j++) {
                int by = 2 * i, bx = 2 * j;
                for (int a = 0; a < 2; a++)
                    for (int b = 0; b < 2; b++)
                        if (x[(nc * UH + 2 * i + a) * UW + 2 * j + b] > x[(nc * UH + by) * UW + bx])
                            by = 2 * i + a, bx = 2 * j + b;
                want[(nc * th + by) * tw + bx] = x[(nc * UH + by) * UW + bx];
            }
    ob b;
    ob_init(&b, 12);
    int64_t xd[4] = {PN, PC, UH, UW}, two[2] = {2, 2}, four = 4, os[4] = {PN, PC, XH, XW};
    ob_input(&b, "x", 1, 4, xd);
    ob_init_i(&b, "os", 1, &four, os);
    Onnx__NodeProto *n = ob_node(&b, "MaxPool", "x", "p,i");
    ob_attr_ints(&b, n, "kernel_shape", 2, two);
    ob_attr_ints(&b, n, "strides", 2, two);
    n = ob_node(&b, "MaxUnpool", with_shape ? "p,i,os" : "p,i", "u");
    ob_attr_ints(&b, n, "kernel_shape", 2, two);
    ob_attr_ints(&b, n, "strides", 2, two);
    ob_output(&b, "u");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        const void *in[1] = {x};
        if (run1(tc, p, 1, in, got, (size_t)(PN * PC * th * tw) * 4))
            for (int i = 0; i < PN * PC * th * tw; i++)
                CHECK_MSG(got[i] == want[i], "shape %d: u[%d] = %g, want %g", with_shape, i, got[i],
                          want[i]);
    }
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_max_unpool_puts_pooled_maxima_back)
{
    unpool_case(tc, 0);
    unpool_case(tc, 1);
}
