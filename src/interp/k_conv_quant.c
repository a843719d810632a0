/* conv_quantized (coremltools iOS15, experimental): the uint8 weight is dequantized as
 * quant_scale * q + quant_bias (scalars, or one per output channel; T = x's dtype, so an fp16
 * program rounds the weights to half) into a tensor of this run, and the conv kernel runs on
 * it. A uint8 bias (the op's domain U) adds its integer values. Weight values must fit nbits. */
#include "interp_int.h"

/* A float tensor of type-like shape t, allocated for this run (released by the caller). */
static mk_status float_rt(mk_kctx *k, const mk_type *like, mk_dtype dt, mk_rt *r)
{
    mk_type t = *like;
    t.dtype = dt;
    memset(r, 0, sizeof *r);
    return mk_rt_alloc(k, r, &t);
}

static mk_status dequantize(mk_kctx *k, const mk_rt *w, mk_dtype dt, mk_rt *wf)
{
    mk_rt *sc = mk_kin(k, "quant_scale"), *qb = mk_kin(k, "quant_bias");
    int64_t nbits;
    mk_status st = mk_kint(k, "nbits", 8, &nbits);
    if (st) return st;
    if (!sc || !qb) return mk_kerr(k, MK_EINVAL, "needs quant_scale and quant_bias");
    int64_t cout = w->type.rank >= 1 ? w->type.dims[0] : 0;
    if (cout <= 0 || (sc->numel != 1 && sc->numel != (size_t)cout) ||
        (qb->numel != 1 && qb->numel != (size_t)cout))
        return mk_kerr(k, MK_EINVAL, "quant_scale/quant_bias need 1 or C_out values");
    if ((st = float_rt(k, &w->type, dt, wf))) return st;
    size_t per = w->numel / (size_t)cout;
    const int32_t *q = w->data;
    float *o = wf->data;
    int64_t qmax = ((int64_t)1 << nbits) - 1;
    for (size_t i = 0; i < w->numel; i++) {
        size_t ch = i / per;
        if (q[i] < 0 || q[i] > qmax) {
            mk_rt_release(k->ip, wf);
            return mk_kerr(k, MK_EINVAL, "weight value %d does not fit nbits=%lld", (int)q[i],
                           (long long)nbits);
        }
        float s = (float)mk_rt_f64(sc, sc->numel == 1 ? 0 : ch);
        float b = (float)mk_rt_f64(qb, qb->numel == 1 ? 0 : ch);
        o[i] = s * (float)q[i] + b;
    }
    if (dt == MK_DT_FP16) mk_round_f16_n(o, w->numel);
    return MK_OK;
}

/* The operand slot of parameter `name` (so it can be swapped for the conv kernel); -1 absent. */
static int slot(mk_kctx *k, const char *name)
{
    int idx = mk_ir_operand_index(k->op, name);
    return idx >= 0 && idx < k->n_ins ? idx : -1;
}

mk_status mk_k_conv_quantized(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *w = mk_kin(k, "weight"), *b = mk_kin(k, "bias");
    if (!x || !w) return mk_kerr(k, MK_EINVAL, "needs x and weight");
    const char *qt = mk_kstr(k, "quantization_type", "");
    if (strcmp(qt, "linear") != 0)
        return mk_kerr(k, MK_EUNSUPPORTED, "quantization_type '%s' is not supported", qt);
    if (w->type.dtype != MK_DT_UINT8 || mk_interp_layout(x->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "takes a float x and a uint8 weight");
    int iw = slot(k, "weight"), ib = b ? slot(k, "bias") : -1;
    if (iw < 0 || (b && ib < 0)) return mk_kerr(k, MK_EINVAL, "weight and bias must be inputs");
    mk_rt wf, bf;
    memset(&bf, 0, sizeof bf);
    mk_status st = dequantize(k, w, x->type.dtype, &wf);
    if (st) return st;
    if (b && b->type.dtype == MK_DT_UINT8) {
        if ((st = float_rt(k, &b->type, MK_DT_FP32, &bf))) {
            mk_rt_release(k->ip, &wf);
            return st;
        }
        for (size_t i = 0; i < b->numel; i++)
            ((float *)bf.data)[i] = (float)((const int32_t *)b->data)[i];
        k->ins[ib] = &bf;
    }
    k->ins[iw] = &wf;
    st = mk_k_conv(k);
    k->ins[iw] = w;
    if (ib >= 0) k->ins[ib] = b;
    mk_rt_release(k->ip, &wf);
    mk_rt_release(k->ip, &bf);
    return st;
}
