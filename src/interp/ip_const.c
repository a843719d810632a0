/* Constants and declared-dtype data: raw payloads (any dtype, packed sub-byte types) converted
 * to the canonical layouts once per session, and operand data shown to type inference in its
 * declared dtype. */
#include "ip_engine.h"

/* Element i of raw data in a declared dtype (packed sub-byte types included). */
double mk_ip_raw_f64(mk_dtype dt, const void *d, size_t i)
{
    const unsigned char *b = d;
    switch ((int)dt) {
    case MK_DT_FP16: return mk_f16_to_f32(((const uint16_t *)d)[i]);
    case MK_DT_FP32: return ((const float *)d)[i];
    case MK_DT_FP64: return ((const double *)d)[i];
    case MK_DT_BF16: {
        uint32_t x = (uint32_t)((const uint16_t *)d)[i] << 16;
        float f;
        memcpy(&f, &x, 4);
        return f;
    }
    case MK_DT_BOOL:
    case MK_DT_UINT8: return b[i];
    case MK_DT_INT8: return ((const int8_t *)d)[i];
    case MK_DT_INT16: return ((const int16_t *)d)[i];
    case MK_DT_UINT16: return ((const uint16_t *)d)[i];
    case MK_DT_INT32: return ((const int32_t *)d)[i];
    case MK_DT_UINT32: return ((const uint32_t *)d)[i];
    case MK_DT_INT64: return (double)((const int64_t *)d)[i];
    case MK_DT_UINT64: return (double)((const uint64_t *)d)[i];
    default: break;
    }
    int bits = mk_dtype_bits(dt);
    if (bits <= 0 || bits >= 8) return 0;
    size_t bit = i * (size_t)bits;
    unsigned v = 0;
    for (int k = 0; k < bits; k++, bit++) v |= (unsigned)((b[bit / 8] >> (bit % 8)) & 1u) << k;
    if (dt == MK_DT_INT4 && (v & 8u)) return (double)v - 16;
    return v;
}

/* Convert numel raw elements of dtype dt into a fresh canonical tensor. */
mk_status mk_ip_rt_from_raw(mk_interp *ip, mk_rt *r, const mk_type *t, const void *raw,
                            size_t raw_bytes, int round16, mk_err *e)
{
    mk_status st = mk_ip_rt_alloc(ip, r, t, e);
    if (st) return st;
    size_t need;
    if (!mk_type_nbytes(t, &need) || raw_bytes < need)
        return mk_err_set(e, MK_EINVAL, "constant payload smaller than its type");
    switch (mk_interp_layout(t->dtype)) {
    case MK_L_F32: {
        float *o = r->data;
        if (t->dtype == MK_DT_FP32) {
            memcpy(o, raw, r->numel * 4);
        } else {
            for (size_t i = 0; i < r->numel; i++) o[i] = (float)mk_ip_raw_f64(t->dtype, raw, i);
        }
        if (round16) mk_round_f16_n(o, r->numel);
        break;
    }
    case MK_L_I32: {
        int32_t *o = r->data;
        const unsigned char *b = raw;
        int bits = mk_dtype_bits(t->dtype);
        if (t->dtype == MK_DT_UINT8 || t->dtype == MK_DT_UINT6 || t->dtype == MK_DT_UINT4 ||
            t->dtype == MK_DT_UINT3 || t->dtype == MK_DT_UINT2 || t->dtype == MK_DT_UINT1) {
            /* packed LSB first (a value may span two bytes): without the generic path */
            unsigned m = (1u << bits) - 1;
            for (size_t i = 0; i < r->numel; i++) {
                size_t bit = i * (size_t)bits, by = bit / 8;
                unsigned v = (unsigned)b[by] >> (bit % 8);
                if (bit % 8 + (size_t)bits > 8) v |= (unsigned)b[by + 1] << (8 - bit % 8);
                o[i] = (int32_t)(v & m);
            }
            break;
        }
        for (size_t i = 0; i < r->numel; i++) {
            double v = mk_ip_raw_f64(t->dtype, raw, i);
            o[i] = v > 2147483647.0 ? INT32_MAX : v < -2147483648.0 ? INT32_MIN : (int32_t)v;
        }
        break;
    }
    case MK_L_BOOL: {
        uint8_t *o = r->data;
        for (size_t i = 0; i < r->numel; i++) o[i] = ((const uint8_t *)raw)[i] != 0;
        break;
    }
    case MK_L_STR: return mk_err_set(e, MK_EINTERNAL, "string tensor conversion");
    }
    return MK_OK;
}

/* Make slot s hold its constant's data (once per run). */
mk_status mk_ip_materialize(mk_interp *ip, int s, mk_err *e)
{
    mk_rt *r = &ip->slots[s];
    const mk_value *v = ip->slot_val[s];
    if (r->data || !v->cst) return MK_OK;
    const mk_type *t = &v->type;
    size_t n;
    if (!mk_type_is_static(t) || !mk_type_numel(t, &n))
        return mk_err_set(e, MK_EINVAL, "constant %s: dynamic or bad shape",
                          v->name ? v->name : "(inline)");
    r->type = *t;
    r->numel = n;
    r->persist = 1;
    mk_layout l = mk_interp_layout(t->dtype);
    int round16 = l == MK_L_F32 && (t->dtype == MK_DT_FP16 || ip->fp16) && t->dtype != MK_DT_FP16;
    int borrow =
        l == MK_L_STR ||
        (!round16 && (t->dtype == MK_DT_FP32 || t->dtype == MK_DT_INT32 || t->dtype == MK_DT_BOOL));
    if (borrow) {
        size_t need = n * mk_interp_elem_size(t->dtype);
        if (v->cst->nbytes < need && n)
            return mk_err_set(e, MK_EINVAL, "constant %s: payload smaller than its type",
                              v->name ? v->name : "(inline)");
        r->data = (void *)v->cst->data;
        if (t->dtype == MK_DT_BOOL) { /* normalise to 0/1 only if needed */
            const uint8_t *b = r->data;
            for (size_t i = 0; i < n; i++)
                if (b[i] > 1) {
                    borrow = 0;
                    break;
                }
        }
        if (borrow) return MK_OK;
        r->data = NULL;
    }
    mk_status st = mk_ip_rt_from_raw(ip, r, t, v->cst->data, v->cst->nbytes, round16, e);
    if (st) mk_err_prefix(e, "constant %s: ", v->name ? v->name : "(inline)");
    r->persist = 1;
    return st;
}

/* Operand data in its declared dtype, for mk_ir_infer; NULL when large and not canonical. */
const void *mk_ip_declared_view(const mk_interp *ip, int s, void **tmp, size_t *tmp_n)
{
    const mk_rt *r = &ip->slots[s];
    const mk_value *v = ip->slot_val[s];
    if (v->cst) return v->cst->data;
    mk_dtype dt = r->type.dtype;
    if (dt == MK_DT_FP32 || dt == MK_DT_INT32 || dt == MK_DT_BOOL) return r->data;
    int bits = mk_dtype_bits(dt);
    if (r->numel > 4096 || bits < 8 || !r->data) return NULL;
    size_t n = r->numel * (size_t)bits / 8;
    unsigned char *b = mk_malloc(ip->alloc, n ? n : 1);
    if (!b) return NULL;
    for (size_t i = 0; i < r->numel; i++) {
        double x = mk_rt_f64(r, i);
        switch ((int)dt) {
        case MK_DT_FP16: ((uint16_t *)b)[i] = mk_f32_to_f16((float)x); break;
        case MK_DT_FP64: ((double *)b)[i] = x; break;
        case MK_DT_INT8: ((int8_t *)b)[i] = (int8_t)x; break;
        case MK_DT_UINT8: b[i] = (uint8_t)x; break;
        case MK_DT_INT16: ((int16_t *)b)[i] = (int16_t)x; break;
        case MK_DT_UINT16: ((uint16_t *)b)[i] = (uint16_t)x; break;
        case MK_DT_UINT32: ((uint32_t *)b)[i] = (uint32_t)x; break;
        case MK_DT_INT64: ((int64_t *)b)[i] = (int64_t)x; break;
        case MK_DT_UINT64: ((uint64_t *)b)[i] = (uint64_t)x; break;
        default: memset(b + i * (size_t)bits / 8, 0, (size_t)bits / 8); break;
        }
    }
    *tmp = b;
    *tmp_n = n ? n : 1;
    return b;
}
