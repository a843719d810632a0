/* ONNX Det (src/onnx/lower_linalg.c) on random batches of 1x1 .. 6x6 matrices against
 * Gaussian elimination with partial pivoting in double, written here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

static double ref_det(const float *a, int m)
{
    double w[36], d = 1;
    for (int i = 0; i < m * m; i++) w[i] = a[i];
    for (int k = 0; k < m; k++) {
        int p = k;
        for (int i = k + 1; i < m; i++)
            if (fabs(w[i * m + k]) > fabs(w[p * m + k])) p = i;
        if (w[p * m + k] == 0) return 0;
        if (p != k) {
            for (int j = 0; j < m; j++) {
                double t = w[k * m + j];
                w[k * m + j] = w[p * m + j], w[p * m + j] = t;
            }
            d = -d;
        }
        d *= w[k * m + k];
        for (int i = k + 1; i < m; i++) {
            double f = w[i * m + k] / w[k * m + k];
            for (int j = k; j < m; j++) w[i * m + j] -= f * w[k * m + j];
        }
    }
    return d;
}

TEST(onnx_det_matches_elimination_on_random_matrices)
{
    enum { B0 = 2, B1 = 3 };
    uint32_t s = 5;
    for (int m = 1; m <= 6; m++) {
        float x[B0 * B1 * 36], got[B0 * B1];
        for (int i = 0; i < B0 * B1 * m * m; i++) {
            s = s * 1664525u + 1013904223u;
            x[i] = (float)((int)(s >> 20) % 200 - 100) / 50.0f;
        }
        if (m > 1) memcpy(x + m * m, x, (size_t)m * 4); /* a singular one: repeated row 0 */
        if (m > 1) memcpy(x + m * m + m, x, (size_t)m * 4);
        ob b;
        ob_init(&b, 11);
        int64_t xd[4] = {B0, B1, m, m};
        ob_input(&b, "x", 1, 4, xd);
        ob_node(&b, "Det", "x", "y");
        ob_output(&b, "y");
        mk_program *p = imp(tc, &b, NULL);
        const void *d[1] = {x};
        if (p && run1(tc, p, 1, d, got, sizeof got))
            for (int k = 0; k < B0 * B1; k++) {
                double want = ref_det(x + k * m * m, m);
                CHECK_MSG(fabs(got[k] - want) <= 1e-4 * (1 + fabs(want)) * m * m,
                          "%dx%d #%d: det = %.9g, want %.9g", m, m, k, got[k], want);
            }
        mk_ir_program_free(p);
        ob_free(&b);
    }
}

TEST(onnx_det_refuses_large_matrices)
{
    ob b;
    ob_init(&b, 11);
    int64_t xd[2] = {7, 7};
    ob_input(&b, "x", 1, 2, xd);
    ob_node(&b, "Det", "x", "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    CHECK(ob_import(&b, NULL, &p, &e) != MK_OK);
    CHECK_MSG(strstr(e.msg, "cofactor expansion up to 6") != NULL, "message: %s", e.msg);
    mk_ir_program_free(p);
    ob_free(&b);
}

/* BitShift of uint8 / uint16 with shifts past the width: the type's wrap-around, by hand. */
TEST(onnx_bitshift_wraps_like_the_unsigned_type)
{
    enum { N = 64 };
    for (int w = 0; w < 2; w++)
        for (int left = 0; left < 2; left++) {
            int bits = w ? 16 : 8;
            int32_t x[N], y[N], got[N];
            uint32_t s = 9u + (uint32_t)(2 * w + left);
            for (int i = 0; i < N; i++) {
                s = s * 1664525u + 1013904223u;
                x[i] = (int32_t)((s >> 8) & ((1u << bits) - 1));
                y[i] = (int32_t)((s >> 4) % (uint32_t)(bits + 3));
            }
            ob b;
            ob_init(&b, 11);
            int64_t d = N;
            ob_input(&b, "x", w ? 4 : 2, 1, &d);
            ob_input(&b, "y", w ? 4 : 2, 1, &d);
            Onnx__NodeProto *n = ob_node(&b, "BitShift", "x,y", "z");
            ob_attr_s(&b, n, "direction", left ? "LEFT" : "RIGHT");
            ob_output(&b, "z");
            mk_program *p = imp(tc, &b, NULL);
            const void *in[2] = {x, y};
            if (p && run1(tc, p, 2, in, got, sizeof got))
                for (int i = 0; i < N; i++) {
                    uint32_t mask = (1u << bits) - 1, xv = (uint32_t)x[i];
                    uint32_t want = y[i] >= bits ? 0 : left ? (xv << y[i]) & mask : xv >> y[i];
                    CHECK_MSG((uint32_t)got[i] == want, "uint%d %s: %u by %d = %d, want %u", bits,
                              left ? "left" : "right", xv, y[i], got[i], want);
                }
            mk_ir_program_free(p);
            ob_free(&b);
        }
}
