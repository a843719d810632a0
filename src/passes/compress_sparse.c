/* Magnitude sparsity: the given fraction of a weight's smallest |w| become zero, the rest are
 * kept in the weight's dtype. iOS18: constexpr_sparse_to_dense with a uint1 mask shaped like
 * the weight; iOS16/17: the mask as packed bytes (LSB first) and a uint32 shape, attributes.
 * Sparse + palettized (iOS18, as coremltools' joint compression writes it): the kept values
 * as LUT indices, constexpr_lut_to_sparse(indices_mask, indices_nonzero_data, lut) ->
 * (mask, nonzero_data) -> constexpr_sparse_to_dense, one LUT per tensor or per group of
 * output channels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compress_int.h"

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The kept values v[0..d) (flat order, element index at[j]) as LUT indices. */
static mk_value *sparse_lut(mk_cw *c, const mk_compress_options *o, const int32_t *bit,
                            const float *v, const size_t *at, size_t d, mk_err *e)
{
    const mk_type *t = &c->w->type;
    const mk_allocator *al = c->p->alloc;
    int bits = o->bits, K = 1 << bits;
    mk_cmp_param_dims(c, o->granularity == 2 ? 2 : 1, o->group, 1, c->pd);
    size_t groups = (size_t)c->pd[c->out_ax], ch = (size_t)t->dims[c->out_ax], inner = 1;
    for (int a = c->out_ax + 1; a < t->rank; a++) inner *= (size_t)t->dims[a];
    size_t es = t->dtype == MK_DT_FP16 ? 2 : 4, gch = ch / groups;
    c->lutb = mk_arena_alloc(c->p->arena, groups * (size_t)K * es);
    c->ib_bytes = (d * (size_t)bits + 7) / 8;
    c->ib = mk_arena_alloc(c->p->arena, c->ib_bytes + 1);
    unsigned char *mb = mk_arena_alloc(c->p->arena, (c->n + 7) / 8 + 1);
    size_t *start = mk_calloc(al, groups + 1, sizeof(size_t));
    float *sv = mk_malloc(al, d * sizeof(float)),
          *lutf = mk_malloc(al, groups * (size_t)K * sizeof(float));
    uint8_t *si = mk_malloc(al, d), *q = mk_malloc(al, d);
    int ok = c->lutb && c->ib && mb && start && sv && lutf && si && q;
    /* the kept values grouped by output-channel group (counting sort, stable) */
    for (size_t j = 0; ok && j < d; j++) start[(at[j] / inner % ch) / gch + 1]++;
    for (size_t g = 0; ok && g < groups; g++) start[g + 1] += start[g];
    for (size_t j = 0; ok && j < d; j++) sv[start[(at[j] / inner % ch) / gch]++] = v[j];
    for (size_t g = groups; ok && g > 0; g--) start[g] = start[g - 1];
    if (ok) start[0] = 0;
    for (size_t g = 0; ok && g < groups; g++) {
        size_t a = start[g], m = start[g + 1] - a;
        ok = mk_cmp_lut(c, sv + a, m, bits, o->uniform, g, lutf + g * (size_t)K) &&
             mk_cmp_assign(al, lutf + g * (size_t)K, K, sv + a, m, si + a);
    }
    for (size_t j = 0; ok && j < d; j++) {
        size_t g = (at[j] / inner % ch) / gch;
        q[j] = si[start[g]++];
        mk_cmp_acc(c, at[j], v[j], lutf[g * (size_t)K + q[j]]);
    }
    if (ok) mk_cmp_pack8(q, d, bits, c->ib);
    mk_free(al, start, (groups + 1) * sizeof(size_t));
    mk_free(al, sv, d * sizeof(float));
    mk_free(al, lutf, groups * (size_t)K * sizeof(float));
    mk_free(al, si, d);
    mk_free(al, q, d);
    if (!ok) return MK_OOM(e), NULL;
    for (size_t i = 0; i < c->n; i++)
        if (!bit[i]) mk_cmp_acc(c, i, mk_const_get_f64(c->w, i), 0.0f);
    static const mk_dtype ut[9] = {0, MK_DT_UINT1, MK_DT_UINT2, MK_DT_UINT3, MK_DT_UINT4,
                                   0, MK_DT_UINT6, 0,           MK_DT_UINT8};
    int64_t ld[MK_MAX_RANK + 2], dn = (int64_t)d;
    for (int a = 0; a < t->rank; a++) ld[a] = c->pd[a];
    ld[t->rank] = K;
    ld[t->rank + 1] = 1;
    size_t mn = mk_cmp_pack(bit, c->n, 1, mb);
    char base[256];
    snprintf(base, sizeof base, "%s_sparse_lut%d", c->w->name ? c->w->name : "weight", bits);
    mk_op *ls = mk_ir_op_new(c->p, MK_OP_CONSTEXPR_LUT_TO_SPARSE, base);
    mk_value *mv = mk_cmp_const(c, MK_DT_UINT1, t->rank, t->dims, mb, mn);
    mk_value *iv = mk_cmp_const(c, ut[bits], 1, &dn, c->ib, c->ib_bytes);
    mk_value *lv = mk_cmp_const(c, t->dtype, t->rank + 2, ld, c->lutb, groups * (size_t)K * es);
    if (!ls || !mv || !iv || !lv) return MK_OOM(e), NULL;
    mv->is_inline = iv->is_inline = lv->is_inline = 1;
    if (!mk_ir_op_add_input(c->p, ls, "indices_mask", mv) ||
        !mk_ir_op_add_input(c->p, ls, "indices_nonzero_data", iv) ||
        !mk_ir_op_add_input(c->p, ls, "lut", lv))
        return MK_OOM(e), NULL;
    if (!mk_cmp_finish(c, ls, 2, e)) return NULL;
    snprintf(base, sizeof base, "%s_sparse", c->w->name ? c->w->name : "weight");
    mk_op *sd = mk_ir_op_new(c->p, MK_OP_CONSTEXPR_SPARSE_TO_DENSE, base);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *out = sd ? mk_ir_op_add_output(c->p, sd, NULL, &none) : NULL;
    if (!out || !mk_ir_op_add_input(c->p, sd, "nonzero_data", ls->outputs[1]) ||
        !mk_ir_op_add_input(c->p, sd, "mask", ls->outputs[0]))
        return MK_OOM(e), NULL;
    sd->name = out->name;
    mk_ir_insert_after(ls, sd);
    return mk_ir_infer_op(sd, e) == MK_OK ? out : NULL;
}

mk_value *mk_cmp_sparse(mk_cw *c, const mk_compress_options *o, mk_err *e)
{
    const mk_type *t = &c->w->type;
    size_t n = c->n, es = t->dtype == MK_DT_FP16 ? 2 : 4;
    float *mag = mk_malloc(c->p->alloc, n * sizeof(float));
    int32_t *bit = mk_arena_alloc(c->p->arena, n * sizeof(int32_t));
    unsigned char *mb = mk_arena_alloc(c->p->arena, (n + 7) / 8 + 1);
    unsigned char *nz = mk_arena_alloc(c->p->arena, n * es + 1);
    if (!mag || !bit || !mb || !nz) {
        mk_free(c->p->alloc, mag, n * sizeof(float));
        return MK_OOM(e), NULL;
    }
    for (size_t i = 0; i < n; i++) mag[i] = fabsf((float)mk_const_get_f64(c->w, i));
    qsort(mag, n, sizeof *mag, cmp_f);
    size_t drop = (size_t)floor(o->sparsity * (double)n);
    float thr = drop ? mag[drop - 1] : -1;
    mk_free(c->p->alloc, mag, n * sizeof(float));
    size_t d = 0, dropped = 0;
    for (size_t i = 0; i < n; i++) {
        double v = mk_const_get_f64(c->w, i);
        int keep = !(fabs(v) <= thr && dropped < drop) && v != 0;
        if (!keep && v != 0) dropped++;
        bit[i] = keep;
        if (o->bits && keep)
            d++;
        else if (!o->bits)
            mk_cmp_acc(c, i, v, keep ? mk_cmp_store(c, nz, d++, v) : 0.0f);
    }
    if (o->bits && d) {
        float *kv = mk_malloc(c->p->alloc, d * sizeof(float));
        size_t *at = mk_malloc(c->p->alloc, d * sizeof(size_t)), j = 0;
        mk_value *r = NULL;
        if (kv && at) {
            for (size_t i = 0; i < n; i++)
                if (bit[i]) kv[j] = (float)mk_const_get_f64(c->w, i), at[j++] = i;
            r = sparse_lut(c, o, bit, kv, at, d, e);
        } else {
            MK_OOM(e);
        }
        mk_free(c->p->alloc, kv, d * sizeof(float));
        mk_free(c->p->alloc, at, d * sizeof(size_t));
        return r;
    }
    size_t mn = mk_cmp_pack(bit, n, 1, mb);
    int64_t dn = (int64_t)d;
    char base[256];
    snprintf(base, sizeof base, "%s_sparse", c->w->name ? c->w->name : "weight");
    mk_op *cx = mk_ir_op_new(c->p, MK_OP_CONSTEXPR_SPARSE_TO_DENSE, base);
    mk_value *dv = mk_cmp_const(c, t->dtype, 1, &dn, nz, d * es);
    if (!cx || !dv) return MK_OOM(e), NULL;
    if (c->ios >= 18) {
        mk_value *mv = mk_cmp_const(c, MK_DT_UINT1, t->rank, t->dims, mb, mn);
        if (!mv) return MK_OOM(e), NULL;
        dv->is_inline = mv->is_inline = 1;
        if (!mk_ir_op_add_input(c->p, cx, "nonzero_data", dv) ||
            !mk_ir_op_add_input(c->p, cx, "mask", mv))
            return MK_OOM(e), NULL;
    } else {
        int64_t m = (int64_t)mn, r = t->rank;
        uint32_t shape[MK_MAX_RANK];
        for (int a = 0; a < t->rank; a++) shape[a] = (uint32_t)t->dims[a];
        mk_value *mv = mk_cmp_const(c, MK_DT_UINT8, 1, &m, mb, mn);
        mk_type st = mk_type_make(MK_DT_UINT32, 1, &r);
        mk_value *sv = mk_ir_const_value(c->p, &st, shape, (size_t)r * 4, 0);
        if (!mv || !sv || !mk_ir_op_add_attr(c->p, cx, "nonzero_data", dv) ||
            !mk_ir_op_add_attr(c->p, cx, "mask", mv) || !mk_ir_op_add_attr(c->p, cx, "shape", sv))
            return MK_OOM(e), NULL;
    }
    return mk_cmp_finish(c, cx, 1, e);
}
