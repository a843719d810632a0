/* The kernel-argument API: errors naming the op, parameters by name (tensors, scalars with
 * defaults, integer vectors, axes), elements of any layout, and stride helpers. */
#include <stdarg.h>
#include <stdio.h>

#include "ip_engine.h"

mk_status mk_kerr(mk_kctx *k, mk_status code, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mk_err_set(k->e, code, "op %s (%s): %s", mk_ip_op_label(k->op),
                      mk_ir_op_info(k->op->kind)->name, msg);
}

double mk_rt_f64(const mk_rt *t, size_t i)
{
    switch (mk_interp_layout(t->type.dtype)) {
    case MK_L_F32: return ((const float *)t->data)[i];
    case MK_L_I32: return ((const int32_t *)t->data)[i];
    case MK_L_BOOL: return ((const uint8_t *)t->data)[i];
    case MK_L_STR: return 0;
    }
    return 0;
}

int64_t mk_rt_i64(const mk_rt *t, size_t i)
{
    switch (mk_interp_layout(t->type.dtype)) {
    case MK_L_F32: return (int64_t)((const float *)t->data)[i];
    case MK_L_I32: return ((const int32_t *)t->data)[i];
    case MK_L_BOOL: return ((const uint8_t *)t->data)[i];
    case MK_L_STR: return 0;
    }
    return 0;
}

mk_rt *mk_kin(mk_kctx *k, const char *name)
{
    int idx = mk_ir_operand_index(k->op, name);
    if (idx >= 0 && idx < k->n_ins) return k->ins[idx];
    for (int i = 0; i < k->op->n_attrs && i < k->n_attrs; i++)
        if (strcmp(k->op->attrs[i].name, name) == 0) return k->attrs[i];
    return NULL;
}

mk_rt **mk_kargs(mk_kctx *k, const char *name, int *n)
{
    const mk_input *in = mk_ir_input(k->op, name);
    int idx = mk_ir_operand_index(k->op, name);
    *n = in && idx >= 0 ? in->n_args : 0;
    return *n ? k->ins + idx : NULL;
}

/* The operand `name` as one number: *r is NULL when it is absent, an error when not a scalar. */
static mk_status scalar_in(mk_kctx *k, const char *name, mk_rt **r)
{
    *r = mk_kin(k, name);
    if (*r && ((*r)->numel != 1 || mk_interp_layout((*r)->type.dtype) == MK_L_STR))
        return mk_kerr(k, MK_EINVAL, "%s must be a scalar", name);
    return MK_OK;
}

mk_status mk_kint(mk_kctx *k, const char *name, int64_t def, int64_t *out)
{
    mk_rt *r;
    mk_status st = scalar_in(k, name, &r);
    if (st) return st;
    *out = r ? mk_rt_i64(r, 0) : def;
    return MK_OK;
}

mk_status mk_kfloat(mk_kctx *k, const char *name, double def, double *out)
{
    mk_rt *r;
    mk_status st = scalar_in(k, name, &r);
    if (st) return st;
    *out = r ? mk_rt_f64(r, 0) : def;
    return MK_OK;
}

mk_status mk_kbool(mk_kctx *k, const char *name, int def, int *out)
{
    int64_t v = def; /* kept when mk_kint fails */
    mk_status st = mk_kint(k, name, def, &v);
    *out = v != 0;
    return st;
}

const char *mk_kstr(mk_kctx *k, const char *name, const char *def)
{
    mk_rt *r = mk_kin(k, name);
    if (!r || mk_interp_layout(r->type.dtype) != MK_L_STR || r->numel != 1) return def;
    return ((const char *const *)r->data)[0];
}

mk_status mk_kints(mk_kctx *k, const char *name, int64_t *out, int max, int *n)
{
    mk_rt *r = mk_kin(k, name);
    *n = -1;
    if (!r) return MK_OK;
    if (mk_interp_layout(r->type.dtype) == MK_L_STR || r->numel > (size_t)max)
        return mk_kerr(k, MK_EINVAL, "%s: expected at most %d integers", name, max);
    for (size_t i = 0; i < r->numel; i++) out[i] = mk_rt_i64(r, i);
    *n = (int)r->numel;
    return MK_OK;
}

mk_status mk_kaxis(mk_kctx *k, int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= (rank ? rank : 1))
        return mk_kerr(k, MK_EINVAL, "axis %lld out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return MK_OK;
}

void mk_strides(const mk_type *t, int64_t *s)
{
    int64_t acc = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        s[i] = acc;
        acc *= t->dims[i];
    }
}

int mk_bcast_strides(const mk_type *in, const mk_type *out, int64_t *s)
{
    if (in->rank > out->rank) return 0;
    int64_t st[MK_MAX_RANK];
    mk_strides(in, st);
    int off = out->rank - in->rank;
    for (int i = 0; i < out->rank; i++) {
        if (i < off) {
            s[i] = 0;
            continue;
        }
        int64_t d = in->dims[i - off];
        if (d == out->dims[i])
            s[i] = d == 1 ? 0 : st[i - off];
        else if (d == 1)
            s[i] = 0;
        else
            return 0;
    }
    return 1;
}
