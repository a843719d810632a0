/* Activations with tensor or clamping parameters that coremltools defines beside the common
 * ones: clamped_relu min(beta, x >= 0 ? x : alpha * x), thresholded_relu (x >= alpha ? x : 0)
 * and softplus_parametric alpha_c * log(1 + e^(beta_c * x)) with one alpha, beta per channel
 * (axis 1), as the op definitions' value_inference computes them. */
#include <math.h>

#include "interp_int.h"

static mk_status float_io(mk_kctx *k, mk_rt **x)
{
    *x = mk_kin(k, "x");
    if (!*x) return mk_kerr(k, MK_EINVAL, "needs input x");
    if (mk_interp_layout((*x)->type.dtype) != MK_L_F32 ||
        mk_interp_layout(k->outs[0]->type.dtype) != MK_L_F32 || (*x)->numel != k->outs[0]->numel)
        return mk_kerr(k, MK_EINVAL, "x and the output must be float tensors of one size");
    return MK_OK;
}

mk_status mk_k_clamped_relu(mk_kctx *k)
{
    mk_rt *x;
    double alpha, beta;
    mk_status st;
    if ((st = float_io(k, &x)) || (st = mk_kfloat(k, "alpha", 0, &alpha)) ||
        (st = mk_kfloat(k, "beta", 0, &beta)))
        return st;
    const float *a = x->data;
    float *o = k->outs[0]->data, fa = (float)alpha, fb = (float)beta;
    for (size_t i = 0; i < x->numel; i++) {
        float v = a[i] >= 0 ? a[i] : fa * a[i];
        o[i] = v < fb ? v : isnan(v) ? v : fb;
    }
    return MK_OK;
}

mk_status mk_k_thresholded_relu(mk_kctx *k)
{
    mk_rt *x;
    double alpha;
    mk_status st;
    if ((st = float_io(k, &x)) || (st = mk_kfloat(k, "alpha", 1, &alpha))) return st;
    const float *a = x->data;
    float *o = k->outs[0]->data, fa = (float)alpha;
    for (size_t i = 0; i < x->numel; i++) o[i] = a[i] < fa ? 0 : a[i];
    return MK_OK;
}

mk_status mk_k_softplus_parametric(mk_kctx *k)
{
    mk_rt *x, *al = mk_kin(k, "alpha"), *be = mk_kin(k, "beta");
    mk_status st = float_io(k, &x);
    if (st) return st;
    if (!al || !be || x->type.rank < 3)
        return mk_kerr(k, MK_EINVAL, "needs x of rank >= 3 and alpha, beta");
    int64_t C = x->type.dims[1], inner = 1;
    for (int i = 2; i < x->type.rank; i++) inner *= x->type.dims[i];
    if (al->numel != (size_t)C || be->numel != (size_t)C)
        return mk_kerr(k, MK_EINVAL, "alpha and beta need %lld values (the channels)",
                       (long long)C);
    const float *a = x->data;
    float *o = k->outs[0]->data;
    for (size_t i = 0; i < x->numel; i++) {
        size_t c = (size_t)((int64_t)i / inner % C);
        double v = mk_rt_f64(be, c) * a[i];
        o[i] = (float)(mk_rt_f64(al, c) * (v > 30 ? v : log1p(exp(v))));
    }
    return MK_OK;
}
