/* ONNX DFT, STFT and Hann/Hamming/BlackmanWindow lowering (issue #3): C-built models run in
 * the interpreter and are compared with a naive DFT / window formula computed here in double
 * precision. Also checks the MIL form (matmul for DFT, strided conv for STFT, constant
 * windows for constant sizes) and that run-time lengths are refused with a reason. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "test_onnx_run.h"

#define PI 3.14159265358979323846

/* naive DFT of x[j*st] (j < L, complex when C == 2) into y[k*2 + {0,1}] for k < K. */
static void naive(const float *x, int L, int C, int st, int N, int K, int inverse, double *y)
{
    for (int k = 0; k < K; k++) {
        double re = 0, im = 0;
        for (int j = 0; j < N && j < L; j++) {
            double th = (inverse ? 2 : -2) * PI * k * j / N;
            double xr = x[j * st * C], xi = C == 2 ? x[j * st * C + 1] : 0;
            re += xr * cos(th) - xi * sin(th);
            im += xr * sin(th) + xi * cos(th);
        }
        y[2 * k] = inverse ? re / N : re;
        y[2 * k + 1] = inverse ? im / N : im;
    }
}

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-4 + 1e-4 * fabs(b);
}

static void fill(float *v, int n, unsigned seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        v[i] = (float)((seed >> 16) % 2001) / 1000.0f - 1.0f;
    }
}

/* DFT of x [B, L, C] along axis 1 (dft_length dl > 0 as a constant). */
static void dft_case(mk_test_ctx *tc, int B, int L, int C, int dl, int inverse, int onesided)
{
    ob b;
    ob_init(&b, 17);
    int64_t xd[3] = {B, L, C};
    ob_input(&b, "x", 1, 3, xd);
    if (dl > 0) {
        int64_t v = dl;
        ob_init_i(&b, "len", 0, NULL, &v);
    }
    Onnx__NodeProto *n = ob_node(&b, "DFT", dl > 0 ? "x,len" : "x", "y");
    ob_attr_i(&b, n, "axis", 1);
    if (inverse) ob_attr_i(&b, n, "inverse", 1);
    if (onesided) ob_attr_i(&b, n, "onesided", 1);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    int N = dl > 0 ? dl : L, K = onesided ? N / 2 + 1 : N;
    CHECK(ob_count(p, MK_OP_MATMUL) >= 2);
    CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){B, K, 2}));
    float x[4096], y[4096];
    double ref[4096];
    fill(x, B * L * C, (unsigned)(L * 7 + C));
    const void *ins[1] = {x};
    if (run1(tc, p, 1, ins, y, sizeof(float) * (size_t)(B * K * 2))) {
        int bad = 0;
        for (int bi = 0; bi < B; bi++) {
            naive(x + bi * L * C, L, C, 1, N, K, inverse, ref);
            for (int i = 0; i < 2 * K; i++) bad += !close_to(y[bi * K * 2 + i], ref[i]);
        }
        CHECK_MSG(bad == 0, "%d of %d values differ from the naive DFT", bad, B * K * 2);
    }
    mk_ir_program_free(p);
}

TEST(onnx_dft_real)
{
    dft_case(tc, 2, 8, 1, 0, 0, 0);
}

TEST(onnx_dft_complex_inverse)
{
    dft_case(tc, 3, 6, 2, 0, 1, 0);
}

TEST(onnx_dft_complex_forward_odd)
{
    dft_case(tc, 1, 7, 2, 0, 0, 0);
}

TEST(onnx_dft_onesided_padded_and_truncated)
{
    dft_case(tc, 2, 8, 1, 12, 0, 1);
    dft_case(tc, 2, 8, 1, 5, 0, 1);
    dft_case(tc, 1, 9, 2, 4, 1, 0);
}

/* DFT along axis 0 of [L, 3, C]: needs the transposes around the matmuls. */
TEST(onnx_dft_axis0)
{
    ob b;
    ob_init(&b, 17);
    int64_t xd[3] = {5, 3, 2};
    ob_input(&b, "x", 1, 3, xd);
    Onnx__NodeProto *n = ob_node(&b, "DFT", "x", "y");
    ob_attr_i(&b, n, "axis", -3);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){5, 3, 2}));
    float x[30], y[30];
    double ref[10];
    fill(x, 30, 3);
    const void *ins[1] = {x};
    if (run1(tc, p, 1, ins, y, sizeof y)) {
        int bad = 0;
        for (int m = 0; m < 3; m++) {
            naive(x + m * 2, 5, 2, 3, 5, 5, 0, ref);
            for (int k = 0; k < 5; k++)
                for (int q = 0; q < 2; q++)
                    bad += !close_to(y[(k * 3 + m) * 2 + q], ref[2 * k + q]);
        }
        CHECK_MSG(bad == 0, "%d values differ from the naive DFT", bad);
    }
    mk_ir_program_free(p);
}

TEST(onnx_dft_runtime_length_refused)
{
    ob b;
    ob_init(&b, 17);
    int64_t xd[3] = {1, 8, 1};
    ob_input(&b, "x", 1, 3, xd);
    ob_input(&b, "len", 7, 0, NULL);
    ob_node(&b, "DFT", "x,len", "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    mk_status st = ob_import(&b, NULL, &p, &e);
    ob_free(&b);
    CHECK(st != MK_OK);
    CHECK_MSG(strstr(e.msg, "DFT") && strstr(e.msg, "dft_length"), "%s", e.msg);
    mk_ir_program_free(p);
}

/* STFT of a real or complex signal [B, T, C]; window: 0 none (frame_length N), 1 constant,
 * 2 graph input. */
static void stft_case(mk_test_ctx *tc, int B, int T, int C, int N, int step, int win, int onesided)
{
    ob b;
    ob_init(&b, 17);
    int64_t sd[3] = {B, T, C}, nd = N, stv = step, flv = N;
    float w[64];
    for (int i = 0; i < N; i++) w[i] = (float)(0.5 - 0.5 * cos(2 * PI * i / N)) + 0.1f * (float)i;
    ob_input(&b, "sig", 1, 3, sd);
    if (win == 2) ob_input(&b, "w", 1, 1, &nd);
    ob_init_i(&b, "step", 0, NULL, &stv);
    if (win == 1) ob_init_f(&b, "w", 1, &nd, w);
    if (win == 0) ob_init_i(&b, "flen", 0, NULL, &flv);
    Onnx__NodeProto *n = ob_node(&b, "STFT", win ? "sig,step,w" : "sig,step,,flen", "y");
    if (!onesided) ob_attr_i(&b, n, "onesided", 0);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    int F = (T - N) / step + 1, K = onesided ? N / 2 + 1 : N;
    CHECK_EQ_INT(ob_count(p, MK_OP_CONV), 2);
    CHECK(ob_dims_are(ob_out_type(p, 0), 4, (int64_t[]){B, F, K, 2}));
    static float x[4096], y[8192], fr[128];
    static double ref[256];
    fill(x, B * T * C, (unsigned)(T + N));
    const void *ins[2] = {x, w};
    if (run1(tc, p, win == 2 ? 2 : 1, ins, y, sizeof(float) * (size_t)(B * F * K * 2))) {
        int bad = 0;
        for (int bi = 0; bi < B; bi++)
            for (int f = 0; f < F; f++) {
                for (int j = 0; j < N; j++)
                    for (int q = 0; q < C; q++)
                        fr[j * C + q] = x[(bi * T + f * step + j) * C + q] * (win ? w[j] : 1.0f);
                naive(fr, N, C, 1, N, K, 0, ref);
                for (int i = 0; i < 2 * K; i++)
                    bad += !close_to(y[((bi * F + f) * K) * 2 + i], ref[i]);
            }
        CHECK_MSG(bad == 0, "%d of %d values differ from the naive STFT", bad, B * F * K * 2);
    }
    mk_ir_program_free(p);
}

TEST(onnx_stft_const_window)
{
    stft_case(tc, 2, 40, 1, 8, 4, 1, 1);
}

TEST(onnx_stft_runtime_window)
{
    stft_case(tc, 1, 33, 1, 10, 3, 2, 1);
}

TEST(onnx_stft_complex_frame_length)
{
    stft_case(tc, 2, 20, 2, 6, 5, 0, 0);
}

TEST(onnx_stft_runtime_step_refused)
{
    ob b;
    ob_init(&b, 17);
    int64_t sd[3] = {1, 32, 1}, fl = 8;
    ob_input(&b, "sig", 1, 3, sd);
    ob_input(&b, "step", 7, 0, NULL);
    ob_init_i(&b, "flen", 0, NULL, &fl);
    ob_node(&b, "STFT", "sig,step,,flen", "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    mk_status st = ob_import(&b, NULL, &p, &e);
    ob_free(&b);
    CHECK(st != MK_OK);
    CHECK_MSG(strstr(e.msg, "STFT") && strstr(e.msg, "frame_step"), "%s", e.msg);
    mk_ir_program_free(p);
}

/* ---- windows ---- */
static double wref(const char *op, int i, int size, int periodic)
{
    double d = periodic ? size : size - 1, t = 2 * PI * i / d;
    if (!strcmp(op, "HannWindow")) return 0.5 - 0.5 * cos(t);
    if (!strcmp(op, "HammingWindow")) return 25.0 / 46.0 - 21.0 / 46.0 * cos(t);
    return 0.42 - 0.5 * cos(t) + 0.08 * cos(2 * t);
}

/* Window op with a constant size (folds: no ops) or a run-time int32 size input. */
static void win_case(mk_test_ctx *tc, const char *opn, int size, int periodic, int runtime)
{
    ob b;
    ob_init(&b, 17);
    int64_t s = size;
    if (runtime)
        ob_input(&b, "n", 6, 0, NULL);
    else
        ob_init_i(&b, "n", 0, NULL, &s);
    Onnx__NodeProto *n = ob_node(&b, opn, "n", "y");
    if (!periodic) ob_attr_i(&b, n, "periodic", 0);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_RANGE_1D), runtime);
    CHECK_EQ_INT(ob_count(p, MK_OP_COS), runtime ? (strcmp(opn, "BlackmanWindow") ? 1 : 2) : 0);
    float y[64];
    int32_t sz = size;
    const void *ins[1] = {&sz};
    if (run1(tc, p, runtime, ins, y, sizeof(float) * (size_t)size)) {
        int bad = 0;
        for (int i = 0; i < size; i++) bad += !close_to(y[i], wref(opn, i, size, periodic));
        CHECK_MSG(bad == 0, "%s: %d of %d values differ", opn, bad, size);
    }
    mk_ir_program_free(p);
}

TEST(onnx_windows_constant_size)
{
    win_case(tc, "HannWindow", 10, 1, 0);
    win_case(tc, "HammingWindow", 9, 0, 0);
    win_case(tc, "BlackmanWindow", 16, 1, 0);
}

TEST(onnx_windows_runtime_size)
{
    win_case(tc, "HannWindow", 7, 0, 1);
    win_case(tc, "HammingWindow", 12, 1, 1);
    win_case(tc, "BlackmanWindow", 11, 0, 1);
}
