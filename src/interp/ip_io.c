/* Tensor I/O: caller tensors (any numeric dtype) into runtime tensors of a declared type,
 * fp16-rounded where the program or emulation asks, and runtime tensors back out as fp32, int32
 * or bool. */
#include "ip_engine.h"

mk_status mk_ip_tensor_to_rt(mk_interp *ip, mk_rt *r, const mk_type *decl, const mk_tensor *t,
                             mk_err *e)
{
    mk_type ty = *decl;
    if (!(t->rank == 0 && decl->rank == 1 && decl->dims[0] == 1)) { /* else scalar as [1] */
        ty.rank = t->rank;
        for (int i = 0; i < t->rank; i++) ty.dims[i] = t->dims[i];
    }
    mk_type raw = ty;
    raw.dtype = (mk_dtype)t->dtype;
    int round16 = mk_dtype_is_float(ty.dtype) && (ty.dtype == MK_DT_FP16 || ip->fp16);
    /* The caller's fp32 or int32 data as it is: borrowed, not copied (cap 0, like a constant's
     * view: no kernel writes it, no op takes it over, the release at the run's end forgets
     * it). The caller's tensor outlives the run, which returns before its caller does. */
    size_t n;
    if (!round16 && t->data && ((uintptr_t)t->data % _Alignof(float)) == 0 &&
        ((ty.dtype == MK_DT_FP32 && t->dtype == MK_DT_FP32) ||
         (ty.dtype == MK_DT_INT32 && t->dtype == MK_DT_INT32)) &&
        mk_type_is_static(&ty) && mk_type_numel(&ty, &n) && n && n <= t->nbytes / 4) {
        mk_rt_release(ip, r);
        r->type = ty;
        r->numel = n;
        r->data = t->data;
        return MK_OK;
    }
    mk_status st = mk_ip_rt_alloc(ip, r, &ty, e);
    if (st) return st;
    if (!round16 && ((ty.dtype == MK_DT_FP32 && t->dtype == MK_DT_FP32) ||
                     (ty.dtype == MK_DT_INT32 && t->dtype == MK_DT_INT32))) {
        if (t->nbytes < r->numel * 4)
            return mk_err_set(e, MK_EINVAL, "data smaller than its shape");
        if (r->numel) memcpy(r->data, t->data, r->numel * 4); /* empty: data may be NULL */
        return MK_OK;
    }
    if (round16 && ty.dtype == MK_DT_FP32 && t->dtype == MK_DT_FP32) { /* in bulk (F16C) */
        if (t->nbytes < r->numel * 4)
            return mk_err_set(e, MK_EINVAL, "data smaller than its shape");
        if (r->numel) memcpy(r->data, t->data, r->numel * 4);
        mk_round_f16_n(r->data, r->numel);
        return MK_OK;
    }
    mk_rt tmp = {0};
    st = mk_ip_rt_from_raw(ip, &tmp, &raw, t->data, t->nbytes, 0, e);
    if (st) return st;
    for (size_t i = 0; i < r->numel; i++) {
        switch (mk_interp_layout(ty.dtype)) {
        case MK_L_F32: {
            float v = (float)mk_rt_f64(&tmp, i);
            ((float *)r->data)[i] = round16 ? mk_round_f16(v) : v;
            break;
        }
        case MK_L_I32: ((int32_t *)r->data)[i] = (int32_t)mk_rt_i64(&tmp, i); break;
        case MK_L_BOOL: ((uint8_t *)r->data)[i] = mk_rt_i64(&tmp, i) != 0; break;
        case MK_L_STR: break;
        }
    }
    mk_rt_release(ip, &tmp);
    return MK_OK;
}

/* Strings (a classifier's label) as fixed-width UTF-8 bytes, NUL-padded to the longest: the
 * layout of NumPy's |S dtype (tensor dtype STRING; element width nbytes / numel). */
static mk_status str_tensor(const mk_rt *r, const char *name, mk_tensor *t, mk_err *e)
{
    const char *const *s = r->data;
    size_t w = 1;
    for (size_t i = 0; i < r->numel; i++)
        if (s[i] && strlen(s[i]) > w) w = strlen(s[i]);
    t->dtype = MK_DT_STRING;
    t->rank = r->type.rank;
    for (int i = 0; i < r->type.rank; i++) t->dims[i] = r->type.dims[i];
    if (!mk_mul_size(r->numel, w, &t->nbytes))
        return mk_err_set(e, MK_EINVAL, "output %s: too large", name);
    t->data = mk_calloc(NULL, 1, t->nbytes ? t->nbytes : 1);
    t->name = mk_strdup_default(name);
    if (!t->data || !t->name) {
        mk_tensor_free(t);
        return MK_OOM(e);
    }
    for (size_t i = 0; i < r->numel; i++)
        if (s[i]) memcpy((char *)t->data + i * w, s[i], strlen(s[i]));
    return MK_OK;
}

mk_status mk_ip_rt_to_tensor(const mk_rt *r, const char *name, mk_tensor *t, mk_err *e)
{
    memset(t, 0, sizeof *t);
    mk_layout l = mk_interp_layout(r->type.dtype);
    if (l == MK_L_STR) return str_tensor(r, name, t, e);
    t->dtype = l == MK_L_F32 ? 11 : l == MK_L_I32 ? 23 : 1;
    t->rank = r->type.rank;
    for (int i = 0; i < r->type.rank; i++) t->dims[i] = r->type.dims[i];
    t->nbytes = r->numel * mk_interp_elem_size(r->type.dtype);
    t->data = mk_malloc(NULL, t->nbytes ? t->nbytes : 1);
    t->name = mk_strdup_default(name);
    if (!t->data || !t->name) {
        mk_tensor_free(t);
        return MK_OOM(e);
    }
    if (t->nbytes) memcpy(t->data, r->data, t->nbytes);
    if (!t->nbytes) t->nbytes = 0;
    return MK_OK;
}
