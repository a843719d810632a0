/* classify (coremltools iOS15): the label is the class of the largest probability (the first
 * one on ties; NaN never wins) and the dictionary output is the probabilities as a vector in
 * class order (its keys are the classes constant). String labels point at the constant's
 * strings; int64 labels are stored in the int32 layout (a class beyond it is an error). */
#include "interp_int.h"

mk_status mk_k_classify(mk_kctx *k)
{
    mk_rt *pr = mk_kin(k, "probabilities"), *cl = mk_kin(k, "classes");
    if (!pr || !cl || k->n_outs != 2)
        return mk_kerr(k, MK_EINVAL, "needs probabilities and classes");
    if (pr->numel != cl->numel || !pr->numel)
        return mk_kerr(k, MK_EINVAL, "%zu probabilities for %zu classes", pr->numel, cl->numel);
    const float *p = pr->data;
    size_t best = 0;
    for (size_t i = 1; i < pr->numel; i++)
        if (p[i] > p[best] || (p[best] != p[best] && p[i] == p[i])) best = i;
    mk_rt *label = k->outs[0], *probs = k->outs[1];
    if (label->numel != 1 || probs->numel != pr->numel)
        return mk_kerr(k, MK_EINVAL, "output sizes do not match the classes");
    if (cl->type.dtype == MK_DT_STRING) {
        ((const char **)label->data)[0] = ((const char *const *)cl->data)[best];
    } else {
        int64_t v = mk_rt_i64(cl, best);
        if (v < INT32_MIN || v > INT32_MAX)
            return mk_kerr(k, MK_EUNSUPPORTED, "class label %lld exceeds int32", (long long)v);
        ((int32_t *)label->data)[0] = (int32_t)v;
    }
    memcpy(probs->data, p, pr->numel * sizeof *p);
    return MK_OK;
}
