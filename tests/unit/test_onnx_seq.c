/* ONNX ReverseSequence, Unique and Scan (src/onnx/lower_seq.c, lower_scan.c) run in the
 * interpreter on random inputs against the ONNX definitions written here: Unique's four
 * outputs (run-time length) sorted and in first-occurrence order, with and without an axis;
 * Scan unrolled with reverse directions and a non-zero output axis. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

static uint32_t nxt(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

TEST(onnx_reverse_sequence_matches_the_definition)
{
    enum { T = 5, B = 3, F = 2 };
    for (int batch_first = 0; batch_first < 2; batch_first++) {
        float x[T * B * F], want[T * B * F], got[T * B * F];
        int64_t lens[B];
        uint32_t s = 3u + (uint32_t)batch_first;
        for (int i = 0; i < T * B * F; i++) x[i] = (float)(nxt(&s) % 100);
        for (int b = 0; b < B; b++) lens[b] = (int64_t)(nxt(&s) % (T + 1));
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++)
                for (int f = 0; f < F; f++) {
                    int src = t < lens[b] ? (int)lens[b] - 1 - t : t;
                    int o = batch_first ? (b * T + t) * F + f : (t * B + b) * F + f;
                    int i = batch_first ? (b * T + src) * F + f : (src * B + b) * F + f;
                    want[o] = x[i];
                }
        ob bb;
        ob_init(&bb, 10);
        int64_t xd[3] = {batch_first ? B : T, batch_first ? T : B, F}, ld = B;
        ob_input(&bb, "x", 1, 3, xd);
        ob_init_i(&bb, "lens", 1, &ld, lens);
        Onnx__NodeProto *n = ob_node(&bb, "ReverseSequence", "x,lens", "y");
        ob_attr_i(&bb, n, "time_axis", batch_first);
        ob_attr_i(&bb, n, "batch_axis", !batch_first);
        ob_output(&bb, "y");
        mk_program *p = imp(tc, &bb, NULL);
        const void *d[1] = {x};
        if (p && run1(tc, p, 1, d, got, sizeof got))
            for (int i = 0; i < T * B * F; i++)
                CHECK_MSG(got[i] == want[i], "batch_first %d: y[%d] = %g, want %g", batch_first, i,
                          got[i], want[i]);
        mk_ir_program_free(p);
        ob_free(&bb);
    }
}

/* Unique of n rows of k int32 values: outputs by the definition; returns U. */
static int ref_unique(const int32_t *r, int n, int k, int sorted, int *uidx, int *inv, int *cnt)
{
    int u = 0;
    for (int i = 0; i < n; i++) {
        int f = -1;
        for (int j = 0; j < u && f < 0; j++)
            if (!memcmp(r + i * k, r + uidx[j] * k, (size_t)k * 4)) f = j;
        if (f < 0) uidx[u] = i, cnt[u] = 0, f = u++;
        inv[i] = f, cnt[f]++;
    }
    if (sorted) { /* selection sort of the unique rows, inverse remapped */
        for (int a = 0; a < u; a++)
            for (int b = a + 1; b < u; b++) {
                const int32_t *ra = r + uidx[a] * k, *rb = r + uidx[b] * k;
                int m = 0;
                while (m < k && ra[m] == rb[m]) m++;
                if (m < k && rb[m] < ra[m]) {
                    int t = uidx[a];
                    uidx[a] = uidx[b], uidx[b] = t;
                    t = cnt[a], cnt[a] = cnt[b], cnt[b] = t;
                    for (int i = 0; i < n; i++) inv[i] = inv[i] == a ? b : inv[i] == b ? a : inv[i];
                }
            }
    }
    return u;
}

static void unique_case(mk_test_ctx *tc, uint32_t seed, int sorted, int axis)
{
    enum { R = 4, C = 7 };
    int32_t x[R * C], rows[R * C], y[R * C], gy[R * C];
    int uidx[R * C], inv[R * C], cnt[R * C];
    int32_t g[R * C];
    for (int i = 0; i < R * C; i++) x[i] = (int32_t)(nxt(&seed) % 4) - 1;
    if (axis == 1)
        for (int i = 0; i < R; i++) x[i * C + 5] = x[i * C + 1], x[i * C + 6] = x[i * C + 3];
    /* rows: elements (no axis) or columns (axis 1) */
    int n = axis < 0 ? R * C : C, k = axis < 0 ? 1 : R;
    for (int i = 0; i < n; i++)
        for (int m = 0; m < k; m++) rows[i * k + m] = axis < 0 ? x[i] : x[m * C + i];
    int u = ref_unique(rows, n, k, sorted, uidx, inv, cnt);
    for (int s = 0; s < u; s++)
        for (int m = 0; m < k; m++) /* Y as [R, U] for axis 1 */
            y[axis < 0 ? s : m * u + s] = rows[uidx[s] * k + m];
    ob b;
    ob_init(&b, 11);
    int64_t xd[2] = {R, C};
    ob_input(&b, "x", 7, 2, xd);
    Onnx__NodeProto *nd = ob_node(&b, "Unique", "x", "y,i,v,c");
    ob_attr_i(&b, nd, "sorted", sorted);
    if (axis >= 0) ob_attr_i(&b, nd, "axis", axis);
    ob_output(&b, "y");
    ob_output(&b, "i");
    ob_output(&b, "v");
    ob_output(&b, "c");
    mk_program *p = imp(tc, &b, NULL);
    const void *d[1] = {x};
    if (p && run_k(tc, p, 1, d, 0, gy, (size_t)(u * k) * 4))
        for (int i = 0; i < u * k; i++)
            CHECK_MSG(gy[i] == y[i], "sorted %d axis %d: Y[%d] = %d, want %d", sorted, axis, i,
                      gy[i], y[i]);
    if (p && run_k(tc, p, 1, d, 1, g, (size_t)u * 4))
        for (int i = 0; i < u; i++)
            CHECK_MSG(g[i] == uidx[i], "sorted %d axis %d: indices[%d] = %d, want %d", sorted, axis,
                      i, g[i], uidx[i]);
    if (p && run_k(tc, p, 1, d, 2, g, (size_t)n * 4))
        for (int i = 0; i < n; i++)
            CHECK_MSG(g[i] == inv[i], "sorted %d axis %d: inverse[%d] = %d, want %d", sorted, axis,
                      i, g[i], inv[i]);
    if (p && run_k(tc, p, 1, d, 3, g, (size_t)u * 4))
        for (int i = 0; i < u; i++)
            CHECK_MSG(g[i] == cnt[i], "sorted %d axis %d: counts[%d] = %d, want %d", sorted, axis,
                      i, g[i], cnt[i]);
    mk_ir_program_free(p);
    ob_free(&b);
}

TEST(onnx_unique_matches_the_definition_on_random_ints)
{
    for (uint32_t seed = 1; seed <= 4; seed++)
        for (int sorted = 0; sorted < 2; sorted++) {
            unique_case(tc, seed, sorted, -1);
            unique_case(tc, seed, sorted, 1);
        }
}

/* Scan (opset 9): state s += x_t (x read in reverse), out_t = s * 2 stacked on axis 1. */
TEST(onnx_scan_unrolls_with_directions_and_axes)
{
    enum { T = 4, F = 3 };
    float x[T * F], want_s[F], want_y[F * T], gs[F], gy[F * T];
    uint32_t seed = 11;
    for (int i = 0; i < T * F; i++) x[i] = (float)(nxt(&seed) % 50) / 10.0f;
    float s0[F] = {1, -1, 0.5f};
    memcpy(want_s, s0, sizeof s0);
    for (int t = 0; t < T; t++)
        for (int f = 0; f < F; f++) {
            want_s[f] += x[(T - 1 - t) * F + f];
            want_y[f * T + t] = want_s[f] * 2;
        }
    ob b;
    ob_init(&b, 11);
    int64_t xd[2] = {T, F}, fd = F, one = 1;
    ob_input(&b, "s0", 1, 1, &fd);
    ob_input(&b, "x", 1, 2, xd);
    Onnx__NodeProto *n = ob_node(&b, "Scan", "s0,x", "s,y");
    ob_attr_i(&b, n, "num_scan_inputs", 1);
    int64_t rev = 1, ax1 = 1;
    ob_attr_ints(&b, n, "scan_input_directions", 1, &rev);
    ob_attr_ints(&b, n, "scan_output_axes", 1, &ax1);
    ob_begin_graph(&b, n, "body");
    ob_input(&b, "si", 1, 1, &fd);
    ob_input(&b, "xi", 1, 1, &fd);
    float two = 2;
    ob_init_f(&b, "two", 1, &one, &two);
    ob_node(&b, "Add", "si,xi", "so");
    ob_node(&b, "Mul", "so,two", "yo");
    ob_output(&b, "so");
    ob_output(&b, "yo");
    ob_end_graph(&b);
    ob_output(&b, "s");
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    const void *d[2] = {s0, x};
    if (p && run_k(tc, p, 2, d, 0, gs, sizeof gs))
        for (int f = 0; f < F; f++)
            CHECK_MSG(fabsf(gs[f] - want_s[f]) < 1e-5f, "s[%d] = %g, want %g", f, gs[f], want_s[f]);
    if (p && run_k(tc, p, 2, d, 1, gy, sizeof gy))
        for (int i = 0; i < F * T; i++)
            CHECK_MSG(fabsf(gy[i] - want_y[i]) < 1e-5f, "y[%d] = %g, want %g", i, gy[i], want_y[i]);
    mk_ir_program_free(p);
    ob_free(&b);
}
