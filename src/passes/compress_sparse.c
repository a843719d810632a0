/* Magnitude sparsity: the given fraction of a weight's smallest |w| become zero, the rest are
 * kept in the weight's dtype. iOS18: constexpr_sparse_to_dense with a uint1 mask shaped like
 * the weight; iOS16/17: the mask as packed bytes (LSB first) and a uint32 shape, attributes. */
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
        mk_cmp_acc(c, i, v, keep ? mk_cmp_store(c, nz, d++, v) : 0.0f);
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
