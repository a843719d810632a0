/* Known elements of a run-time int vector, for the type rules that read shapes, sizes, reps
 * and slice bounds: constant data, the elements a front end recorded on the value
 * (mk_value.known), and the concat (axis 0) / int cast of such vectors. What is not known is
 * MK_ELEM_UNKNOWN. A bounded walk up the producers; nothing is evaluated at run time. */
#include <string.h>

#include "ir.h"

#define ELEMS_DEPTH 8

static int64_t const_elem(const mk_value *v, size_t i)
{
    const void *p = v->cst->data;
    switch ((int)v->type.dtype) {
    case MK_DT_BOOL:
    case MK_DT_UINT8: return ((const uint8_t *)p)[i];
    case MK_DT_INT8: return ((const int8_t *)p)[i];
    case MK_DT_INT16: return ((const int16_t *)p)[i];
    case MK_DT_UINT16: return ((const uint16_t *)p)[i];
    case MK_DT_INT32: return ((const int32_t *)p)[i];
    case MK_DT_UINT32: return ((const uint32_t *)p)[i];
    case MK_DT_INT64: return ((const int64_t *)p)[i];
    default: return MK_ELEM_UNKNOWN;
    }
}

static int is_intlike(mk_dtype t)
{
    return t == MK_DT_BOOL || mk_dtype_is_int(t);
}

/* A constant int parameter of op (arg 0), def when absent, MK_ELEM_UNKNOWN when not constant. */
static int64_t const_param(const mk_op *op, const char *param, int64_t def)
{
    const mk_value *a = mk_ir_arg(op, param);
    if (!a) return def;
    if (!a->cst || a->type.rank != 0 || !is_intlike(a->type.dtype)) return MK_ELEM_UNKNOWN;
    return const_elem(a, 0);
}

static int elems(const mk_value *v, int64_t *out, int max, int depth)
{
    if (!v || v->type.rank < 0 || v->type.rank > 1 || !is_intlike(v->type.dtype)) return -1;
    int64_t n64 = v->type.rank == 0 ? 1 : v->type.dims[0];
    if (n64 < 0 || n64 > max) return -1;
    int n = (int)n64;
    for (int i = 0; i < n; i++) out[i] = MK_ELEM_UNKNOWN;
    if (v->cst) {
        size_t nb;
        if (!mk_type_nbytes(&v->type, &nb) || v->cst->nbytes < nb) return n;
        for (int i = 0; i < n; i++) out[i] = const_elem(v, (size_t)i);
        return n;
    }
    if (v->known) {
        memcpy(out, v->known, (size_t)n * sizeof *out);
        return n;
    }
    const mk_op *op = v->producer;
    if (!op || depth >= ELEMS_DEPTH) return n;
    if (op->kind == MK_OP_CAST) {
        const mk_value *x = mk_ir_arg(op, "x");
        int64_t tmp[MK_MAX_RANK];
        /* int -> int32 keeps values in int32's range; others stay unknown */
        if (v->type.dtype != MK_DT_INT32 || n > MK_MAX_RANK || !x ||
            elems(x, tmp, MK_MAX_RANK, depth + 1) != n)
            return n;
        for (int i = 0; i < n; i++)
            if (tmp[i] >= INT32_MIN && tmp[i] <= INT32_MAX) out[i] = tmp[i];
        return n;
    }
    if (op->kind == MK_OP_CONCAT && v->type.rank == 1) {
        const mk_input *in = mk_ir_input(op, "values");
        int64_t ax = const_param(op, "axis", MK_ELEM_UNKNOWN);
        if (!in || (ax != 0 && ax != -1) || const_param(op, "interleave", 0) != 0) return n;
        int off = 0;
        for (int j = 0; j < in->n_args; j++) {
            const mk_value *a = in->args[j];
            if (!a || a->type.rank != 1 || a->type.dims[0] < 0 || a->type.dims[0] > n - off)
                return n;
            int k = (int)a->type.dims[0];
            if (elems(a, out + off, k, depth + 1) != k)
                for (int i = 0; i < k; i++) out[off + i] = MK_ELEM_UNKNOWN;
            off += k;
        }
        if (off != n)
            for (int i = 0; i < n; i++) out[i] = MK_ELEM_UNKNOWN;
        return n;
    }
    return n;
}

int mk_ir_value_elems(const mk_value *v, int64_t *out, int max)
{
    return elems(v, out, max, 0);
}
