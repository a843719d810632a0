/* Pooling kernels: avg_pool, max_pool and l2_pool over 1-3 spatial dims with strides, every
 * pad_type and ceil_mode (the output size comes from type inference). avg_pool divides by the
 * whole kernel (a ceil_mode overhang counts as padding, hazard H17), or by the window clipped
 * to the real input with exclude_padding_from_average. With the source-framework semantics
 * (mk_run_semantics, PyTorch/ONNX) the overhang is not counted; explicit pads still are.
 * max_pool is separable (row maxima in SIMD, then window columns); NaN in a window wins. */
#include <math.h>
#include <string.h>

#include "interp_int.h"

/* max that keeps a NaN from either side (a NaN in the window makes the result NaN) */
static inline float fmaxn(float a, float b)
{
    return a > b || a != a ? a : b;
}

MK_SIMD static void vmax_row(float *restrict tmp, const float *restrict row, size_t n)
{
    MK_VLOOP(n, tmp[i] = fmaxn(row[i], tmp[i]));
}

/* Max pooling of one plane, separably: per output row, the elementwise max of the window's
 * input rows (SIMD) into tmp, then of each window's columns. The same maxima as the direct
 * loops, in another order (max is exact; NaN wins either way). */
static void max_pool_rows(const float *xa, float *op, const int64_t *in, const int64_t *o,
                          int64_t *const *wl, int64_t *const *wh, int64_t k2, int64_t s2,
                          int64_t pb2, float *tmp)
{
    size_t n2 = (size_t)in[2];
    /* output columns whose window lies inside the row: [c0, c1) */
    int64_t c0 = (pb2 + s2 - 1) / s2, c1 = in[2] >= k2 ? (in[2] - k2 + pb2) / s2 + 1 : 0;
    if (c1 > o[2]) c1 = o[2];
    if (c0 > c1) c0 = c1;
    float *h = tmp + n2; /* h[j] = max(tmp[j .. j + k2)) */
    size_t nh = in[2] >= k2 ? (size_t)(in[2] - k2 + 1) : 0;
    for (int64_t o0 = 0; o0 < o[0]; o0++)
        for (int64_t o1 = 0; o1 < o[1]; o1++) {
            float *orow = op + (o0 * o[1] + o1) * o[2];
            int64_t l0 = wl[0][o0], h0 = wh[0][o0], l1 = wl[1][o1], h1 = wh[1][o1];
            if (h0 <= l0 || h1 <= l1) {
                memset(orow, 0, (size_t)o[2] * 4);
                continue;
            }
            memcpy(tmp, xa + (l0 * in[1] + l1) * in[2], n2 * 4);
            for (int64_t i0 = l0; i0 < h0; i0++)
                for (int64_t i1 = i0 == l0 ? l1 + 1 : l1; i1 < h1; i1++)
                    vmax_row(tmp, xa + (i0 * in[1] + i1) * in[2], n2);
            if (c1 > c0) {
                memcpy(h, tmp, nh * 4);
                for (int64_t q = 1; q < k2; q++) vmax_row(h, tmp + q, nh);
                for (int64_t o2 = c0; o2 < c1; o2++) orow[o2] = h[o2 * s2 - pb2];
            }
            for (int64_t o2 = 0; o2 < o[2]; o2++) {
                if (o2 == c0) o2 = c1;
                if (o2 >= o[2]) break;
                int64_t l2 = wl[2][o2], h2 = wh[2][o2];
                float m = -INFINITY;
                for (int64_t i2 = l2; i2 < h2; i2++) m = fmaxn(tmp[i2], m);
                orow[o2] = h2 > l2 ? m : 0;
            }
        }
}

/* Max pooling for narrow planes (short rows make per-row passes slow): h = the horizontal
 * window max over the whole tensor at once (one long SIMD pass per kernel column; entries that
 * straddle two rows are never read), then each output the max of its window's rows in h.
 * Border columns (windows clipped by the row's ends) read x directly. */
static void max_pool_narrow(const float *x, float *out, size_t total, int64_t nc, const int64_t *in,
                            const int64_t *o, int64_t *const *wl, int64_t *const *wh, int64_t k2,
                            int64_t s2, int64_t pb2, float *h)
{
    int64_t in_n = in[0] * in[1] * in[2], o_n = o[0] * o[1] * o[2];
    int64_t c0 = (pb2 + s2 - 1) / s2, c1 = in[2] >= k2 ? (in[2] - k2 + pb2) / s2 + 1 : 0;
    if (c1 > o[2]) c1 = o[2];
    if (c0 > c1) c0 = c1;
    size_t nh = total >= (size_t)k2 ? total - (size_t)k2 + 1 : 0;
    if (c1 > c0) {
        memcpy(h, x, nh * 4);
        for (int64_t q = 1; q < k2; q++) vmax_row(h, x + q, nh);
    }
    for (int64_t p = 0; p < nc; p++)
        for (int64_t o0 = 0; o0 < o[0]; o0++)
            for (int64_t o1 = 0; o1 < o[1]; o1++) {
                float *orow = out + p * o_n + (o0 * o[1] + o1) * o[2];
                int64_t l0 = wl[0][o0], h0 = wh[0][o0], l1 = wl[1][o1], h1 = wh[1][o1];
                for (int64_t o2 = 0; o2 < o[2]; o2++) {
                    int64_t l2 = wl[2][o2], h2 = wh[2][o2];
                    float m = -INFINITY; /* branch-free: max, and NaN noted aside */
                    int nan = 0;
                    if (o2 >= c0 && o2 < c1) {
                        const float *hp = h + p * in_n + o2 * s2 - pb2;
                        for (int64_t i0 = l0; i0 < h0; i0++)
                            for (int64_t i1 = l1; i1 < h1; i1++) {
                                float v = hp[(i0 * in[1] + i1) * in[2]];
                                m = mk_fmax(v, m);
                                nan |= v != v;
                            }
                    } else {
                        const float *xp = x + p * in_n;
                        for (int64_t i0 = l0; i0 < h0; i0++)
                            for (int64_t i1 = l1; i1 < h1; i1++)
                                for (int64_t i2 = l2; i2 < h2; i2++) {
                                    float v = xp[(i0 * in[1] + i1) * in[2] + i2];
                                    m = mk_fmax(v, m);
                                    nan |= v != v;
                                }
                    }
                    orow[o2] = nan ? NAN : h0 > l0 && h1 > l1 && h2 > l2 ? m : 0;
                }
            }
}

mk_status mk_k_pool(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int ns = x->type.rank - 2;
    if (ns < 1 || ns > 3 || out->type.rank != x->type.rank ||
        mk_interp_layout(x->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "x must be a float tensor of rank 3-5");
    int64_t ks[3] = {1, 1, 1}, st3[3] = {1, 1, 1}, pad[6] = {0};
    int n, np;
    mk_status st;
    if ((st = mk_kints(k, "kernel_sizes", ks, 3, &n))) return st;
    if (n != ns) return mk_kerr(k, MK_EINVAL, "kernel_sizes needs %d values", ns);
    if ((st = mk_kints(k, "strides", st3, 3, &n))) return st;
    if (n >= 0 && n != ns) return mk_kerr(k, MK_EINVAL, "strides needs %d values", ns);
    if (n < 0) st3[0] = st3[1] = st3[2] = 1;
    if ((st = mk_kints(k, "pad", pad, 6, &np))) return st;
    int excl;
    if ((st = mk_kbool(k, "exclude_padding_from_average", 0, &excl))) return st;
    const char *pt = mk_kstr(k, "pad_type", "valid");
    int64_t in[3] = {1, 1, 1}, o[3] = {1, 1, 1}, pb[3] = {0}, pe[3] = {0}, K[3] = {1, 1, 1},
            S[3] = {1, 1, 1};
    for (int q = 0; q < ns; q++) {
        int i = 3 - ns + q; /* right-aligned: the last spatial dim is contiguous */
        in[i] = x->type.dims[2 + q];
        o[i] = out->type.dims[2 + q];
        K[i] = ks[q];
        S[i] = st3[q];
        if (K[i] < 1 || S[i] < 1)
            return mk_kerr(k, MK_EINVAL, "kernel sizes and strides must be >= 1");
        int64_t total = (o[i] - 1) * S[i] + K[i] - in[i];
        if (total < 0) total = 0;
        if (strcmp(pt, "custom") == 0) {
            pb[i] = np == 2 * ns ? pad[2 * q] : 0;
            pe[i] = np == 2 * ns ? pad[2 * q + 1] : 0;
        } else if (strcmp(pt, "same") == 0) {
            pb[i] = total / 2;
            pe[i] = total - pb[i];
        } else if (strcmp(pt, "same_lower") == 0) {
            pb[i] = (total + 1) / 2;
            pe[i] = total - pb[i];
        } else if (strcmp(pt, "valid") != 0) {
            return mk_kerr(k, MK_EINVAL, "unknown pad_type '%s'", pt);
        }
    }
    int64_t nc = x->type.dims[0] * x->type.dims[1], in_n = in[0] * in[1] * in[2],
            o_n = o[0] * o[1] * o[2];
    if ((size_t)(nc * o_n) != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    mk_op_kind kind = k->op->kind;
    int framework = mk_interp_framework_pool(k->ip);
    /* per dim and output index: clipped window [lo, hi) and the window size within padding */
    size_t wn = (size_t)(o[0] + o[1] + o[2]) * 3 * sizeof(int64_t);
    int64_t *win = mk_malloc(k->alloc, wn), *wl[3], *wh[3], *wp[3];
    if (!win) return MK_OOM(k->e);
    for (int d = 0, off = 0; d < 3; off += (int)o[d] * 3, d++) {
        wl[d] = win + off;
        wh[d] = wl[d] + o[d];
        wp[d] = wh[d] + o[d];
        for (int64_t q = 0; q < o[d]; q++) {
            int64_t b = q * S[d] - pb[d], e = b + K[d];
            int64_t plo = b < -pb[d] ? -pb[d] : b, phi = e > in[d] + pe[d] ? in[d] + pe[d] : e;
            wl[d][q] = b < 0 ? 0 : b;
            wh[d][q] = e > in[d] ? in[d] : e;
            /* H17: Core ML averages a ceil_mode overhang past the padded input as padding,
             * so without exclude_padding_from_average the divisor is the whole kernel; the
             * source framework counts only the window inside input + explicit pads */
            wp[d][q] = phi <= plo ? 0 : framework ? phi - plo : K[d];
        }
    }
    const float *a = x->data;
    float *od = out->data;
    float *tmp = NULL;
    int narrow = in[2] < 24;
    if (kind == MK_OP_MAX_POOL &&
        !(tmp = mk_interp_scratch(k, (narrow ? x->numel : (size_t)in[2] * 2) * 4 + 4))) {
        mk_free(k->alloc, win, wn);
        return MK_OOM(k->e);
    }
    if (tmp && narrow) {
        max_pool_narrow(a, od, x->numel, nc, in, o, wl, wh, K[2], S[2], pb[2], tmp);
        mk_free(k->alloc, win, wn);
        return MK_OK;
    }
    for (int64_t p = 0; p < nc; p++) {
        const float *xa = a + p * in_n;
        float *op = od + p * o_n;
        if (tmp) {
            max_pool_rows(xa, op, in, o, wl, wh, K[2], S[2], pb[2], tmp);
            continue;
        }
        for (int64_t o0 = 0; o0 < o[0]; o0++)
            for (int64_t o1 = 0; o1 < o[1]; o1++)
                for (int64_t o2 = 0; o2 < o[2]; o2++) {
                    int64_t l0 = wl[0][o0], h0 = wh[0][o0], l1 = wl[1][o1], h1 = wh[1][o1];
                    int64_t l2 = wl[2][o2], h2 = wh[2][o2];
                    float r;
                    if (kind == MK_OP_MAX_POOL) {
                        float m = -INFINITY;
                        int nan = 0;
                        for (int64_t i0 = l0; i0 < h0; i0++)
                            for (int64_t i1 = l1; i1 < h1; i1++) {
                                const float *row = xa + (i0 * in[1] + i1) * in[2];
                                for (int64_t i2 = l2; i2 < h2; i2++) {
                                    float v = row[i2];
                                    m = mk_fmax(v, m);
                                    nan |= v != v;
                                }
                            }
                        r = nan ? NAN : (h0 > l0 && h1 > l1 && h2 > l2) ? m : 0;
                    } else {
                        double acc = 0;
                        int64_t cnt = (h0 - l0) * (h1 - l1) * (h2 - l2);
                        for (int64_t i0 = l0; i0 < h0; i0++)
                            for (int64_t i1 = l1; i1 < h1; i1++) {
                                const float *row = xa + (i0 * in[1] + i1) * in[2];
                                for (int64_t i2 = l2; i2 < h2; i2++)
                                    acc +=
                                        kind == MK_OP_L2_POOL ? (double)row[i2] * row[i2] : row[i2];
                            }
                        if (kind == MK_OP_L2_POOL) {
                            r = (float)sqrt(acc);
                        } else {
                            int64_t div = excl ? cnt : wp[0][o0] * wp[1][o1] * wp[2][o2];
                            r = div > 0 ? (float)(acc / (double)div) : 0;
                        }
                    }
                    op[(o0 * o[1] + o1) * o[2] + o2] = r;
                }
    }
    mk_free(k->alloc, win, wn);
    return MK_OK;
}
