/* List kernels. A runtime list is a tensor of its elements stacked on axis 0 (mk_type.is_list);
 * a list whose element shape is not known yet (make_list with symbolic dims, nothing written)
 * holds no data and reads as zeros. Writes copy the list (values are immutable) and grow it
 * past its end with zero elements; reads and gathers outside the list fail. */
#include <string.h>

#include "interp_int.h"

static size_t elem_numel(const mk_type *t)
{
    size_t n = 1;
    for (int i = 1; i < t->rank; i++) n *= (size_t)(t->dims[i] > 0 ? t->dims[i] : 0);
    return n;
}

static mk_rt *list_arg(mk_kctx *k)
{
    mk_rt *ls = mk_kin(k, "ls");
    if (!ls || !ls->type.is_list || ls->type.rank < 1) {
        mk_kerr(k, MK_EINVAL, "'ls' must be a list");
        return NULL;
    }
    return ls;
}

mk_status mk_k_make_list(mk_kctx *k)
{
    mk_rt *out = k->outs[0];
    if (!mk_type_is_static(&out->type)) { /* element shape still unknown: no data */
        out->numel = 0;
        return MK_OK;
    }
    if (out->numel) memset(out->data, 0, out->numel * mk_interp_elem_size(out->type.dtype));
    return MK_OK;
}

mk_status mk_k_list_length(mk_kctx *k)
{
    mk_rt *ls = list_arg(k);
    if (!ls) return k->e->code;
    ((int32_t *)k->outs[0]->data)[0] = (int32_t)ls->type.dims[0];
    return MK_OK;
}

/* Copy element i of ls (zeros when ls holds no data) to dst. */
static void read_elem(const mk_rt *ls, int64_t i, void *dst, size_t es, size_t en)
{
    if (ls->data && ls->numel)
        memcpy(dst, (const char *)ls->data + (size_t)i * en * es, en * es);
    else
        memset(dst, 0, en * es);
}

mk_status mk_k_list_read(mk_kctx *k)
{
    mk_rt *ls = list_arg(k);
    int64_t i;
    mk_status st;
    if (!ls) return k->e->code;
    if ((st = mk_kint(k, "index", 0, &i))) return st;
    if (i < 0 || i >= ls->type.dims[0])
        return mk_kerr(k, MK_EINVAL, "index %lld outside a list of %lld", (long long)i,
                       (long long)ls->type.dims[0]);
    mk_rt *out = k->outs[0];
    read_elem(ls, i, out->data, mk_interp_elem_size(out->type.dtype), out->numel);
    return MK_OK;
}

mk_status mk_k_list_gather(mk_kctx *k)
{
    mk_rt *ls = list_arg(k), *ix = mk_kin(k, "indices"), *out = k->outs[0];
    if (!ls) return k->e->code;
    if (!ix) return mk_kerr(k, MK_EINVAL, "needs indices");
    size_t es = mk_interp_elem_size(out->type.dtype), en = elem_numel(&out->type);
    for (size_t j = 0; j < ix->numel; j++) {
        int64_t i = mk_rt_i64(ix, j);
        if (i < 0 || i >= ls->type.dims[0])
            return mk_kerr(k, MK_EINVAL, "index %lld outside a list of %lld", (long long)i,
                           (long long)ls->type.dims[0]);
        read_elem(ls, i, (char *)out->data + j * en * es, es, en);
    }
    return MK_OK;
}

/* list_write (value at index) and list_scatter (value[j] at indices[j]). */
mk_status mk_k_list_write(mk_kctx *k)
{
    int scatter = k->op->kind == MK_OP_LIST_SCATTER;
    mk_rt *ls = list_arg(k), *ix = mk_kin(k, scatter ? "indices" : "index"),
          *v = mk_kin(k, "value");
    mk_rt *out = k->outs[0];
    if (!ls) return k->e->code;
    if (!ix || !v || mk_interp_layout(v->type.dtype) != mk_interp_layout(ls->type.dtype))
        return mk_kerr(k, MK_EINVAL, "needs %s and a value of the list's dtype",
                       scatter ? "indices" : "index");
    int64_t len = ls->type.dims[0];
    for (size_t j = 0; j < ix->numel; j++) {
        int64_t i = mk_rt_i64(ix, j);
        if (i < 0) return mk_kerr(k, MK_EINVAL, "negative list index %lld", (long long)i);
        if (i >= len) len = i + 1;
    }
    mk_type t = out->type;
    t.dims[0] = len;
    for (int d = 1; d < t.rank; d++) /* element dims from the value when the list had none */
        if (t.dims[d] < 0) t.dims[d] = v->type.dims[d - 1 + scatter];
    mk_status st;
    if ((!out->data || !mk_type_equal(&out->type, &t)) && (st = mk_rt_alloc(k, out, &t))) return st;
    size_t es = mk_interp_elem_size(t.dtype), en = elem_numel(&t);
    if ((size_t)(scatter ? v->type.dims[0] : 1) != ix->numel || v->numel != ix->numel * en)
        return mk_kerr(k, MK_EINVAL, "value does not match the list's element shape");
    int64_t have = ls->data && ls->numel ? ls->type.dims[0] : 0;
    if (have) memcpy(out->data, ls->data, (size_t)have * en * es);
    memset((char *)out->data + (size_t)have * en * es, 0, (size_t)(len - have) * en * es);
    for (size_t j = 0; j < ix->numel; j++)
        memcpy((char *)out->data + (size_t)mk_rt_i64(ix, j) * en * es,
               (const char *)v->data + j * en * es, en * es);
    return MK_OK;
}
