/* Pooling kernels: avg_pool, max_pool and l2_pool over 1-3 spatial dims with strides, every
 * pad_type and ceil_mode (the output size comes from type inference). avg_pool divides by the
 * window clipped to the padded input, or to the real input with exclude_padding_from_average. */
#include <math.h>
#include <string.h>

#include "interp_int.h"

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
    for (int i = 0; i < ns; i++) {
        in[i] = x->type.dims[2 + i];
        o[i] = out->type.dims[2 + i];
        K[i] = ks[i];
        S[i] = st3[i];
        if (K[i] < 1 || S[i] < 1) return mk_kerr(k, MK_EINVAL, "kernel sizes and strides must be >= 1");
        int64_t total = (o[i] - 1) * S[i] + K[i] - in[i];
        if (total < 0) total = 0;
        if (strcmp(pt, "custom") == 0) {
            pb[i] = np == 2 * ns ? pad[2 * i] : 0;
            pe[i] = np == 2 * ns ? pad[2 * i + 1] : 0;
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
    const float *a = x->data;
    float *od = out->data;
    for (int64_t p = 0; p < nc; p++) {
        const float *xa = a + p * in_n;
        for (int64_t o0 = 0; o0 < o[0]; o0++)
            for (int64_t o1 = 0; o1 < o[1]; o1++)
                for (int64_t o2 = 0; o2 < o[2]; o2++) {
                    int64_t b0 = o0 * S[0] - pb[0], b1 = o1 * S[1] - pb[1], b2 = o2 * S[2] - pb[2];
                    double acc = kind == MK_OP_MAX_POOL ? -INFINITY : 0;
                    int64_t cnt = 0, padded = 1;
                    int64_t lim[3][2] = {{b0, b0 + K[0]}, {b1, b1 + K[1]}, {b2, b2 + K[2]}};
                    for (int d = 0; d < 3; d++) {
                        int64_t lo = lim[d][0] < -pb[d] ? -pb[d] : lim[d][0];
                        int64_t hi = lim[d][1] > in[d] + pe[d] ? in[d] + pe[d] : lim[d][1];
                        padded *= hi > lo ? hi - lo : 0;
                    }
                    for (int64_t i0 = b0 < 0 ? 0 : b0; i0 < b0 + K[0] && i0 < in[0]; i0++)
                        for (int64_t i1 = b1 < 0 ? 0 : b1; i1 < b1 + K[1] && i1 < in[1]; i1++)
                            for (int64_t i2 = b2 < 0 ? 0 : b2; i2 < b2 + K[2] && i2 < in[2]; i2++) {
                                float v = xa[(i0 * in[1] + i1) * in[2] + i2];
                                if (kind == MK_OP_MAX_POOL) {
                                    if (v > acc || isnan(v)) acc = v;
                                } else if (kind == MK_OP_L2_POOL) {
                                    acc += (double)v * v;
                                } else {
                                    acc += v;
                                }
                                cnt++;
                            }
                    if (kind == MK_OP_AVG_POOL) {
                        int64_t div = excl ? cnt : padded;
                        acc = div ? acc / (double)div : 0;
                    } else if (kind == MK_OP_L2_POOL) {
                        acc = sqrt(acc);
                    } else if (cnt == 0) {
                        acc = 0;
                    }
                    od[p * o_n + (o0 * o[1] + o1) * o[2] + o2] = (float)acc;
                }
    }
    return MK_OK;
}
