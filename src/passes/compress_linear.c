/* Linear weight quantization, int8 or int4, symmetric or with an offset, per tensor, per output
 * channel or per block of the input axis: constexpr_blockwise_shift_scale on iOS18 (data and
 * offset int8/int4, scale in the weight's float dtype, parameter shape = weight shape / block),
 * constexpr_affine_dequantize on iOS16/17 (int8 only, per tensor or per output channel, zero
 * point int8). Also the helpers the other compressors share. */
#include <math.h>
#include <string.h>

#include "base/base.h"
#include "compress_int.h"

size_t mk_cmp_pack(const int32_t *v, size_t n, int bits, unsigned char *out)
{
    size_t nb = (n * (size_t)bits + 7) / 8;
    memset(out, 0, nb);
    for (size_t i = 0; i < n; i++) {
        uint32_t x = (uint32_t)v[i] & ((1u << bits) - 1);
        size_t bit = i * (size_t)bits;
        for (int j = 0; j < bits; j++, bit++)
            out[bit / 8] |= (unsigned char)(((x >> j) & 1u) << (bit % 8));
    }
    return nb;
}

mk_value *mk_cmp_const(mk_cw *c, mk_dtype dt, int rank, const int64_t *d, const void *data,
                       size_t nb)
{
    mk_type t = mk_type_make(dt, rank, d);
    mk_value *v = mk_ir_const_value(c->p, &t, data, nb, 1);
    if (v) c->bytes += nb;
    return v;
}

float mk_cmp_store(const mk_cw *c, void *dst, size_t i, double v)
{
    if (c->w->type.dtype == MK_DT_FP16) {
        uint16_t h = mk_f32_to_f16((float)v);
        ((uint16_t *)dst)[i] = h;
        return mk_f16_to_f32(h);
    }
    ((float *)dst)[i] = (float)v;
    return (float)v;
}

mk_value *mk_cmp_finish(mk_cw *c, mk_op *cx, int n_out, mk_err *e)
{
    mk_value *out = NULL;
    for (int i = 0; i < n_out; i++) {
        mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
        if (!(out = mk_ir_op_add_output(c->p, cx, NULL, &none))) return MK_OOM(e), NULL;
    }
    cx->name = out->name;
    mk_ir_insert_after(c->w->producer, cx);
    if (mk_ir_infer_op(cx, e) != MK_OK) return NULL;
    return out;
}

/* The divisor of len to use for a block/group of want: want itself, else the largest below it
 * down to want/4 (a finer block or group than asked costs a few parameters and never accuracy:
 * 6625 channels in groups of 16 take groups of 5, not 25), else the smallest above it up to
 * 2*want; 0 when none (the caller falls back to per channel or per tensor). */
static int64_t divisor_near(int64_t len, int64_t want)
{
    if (len <= want) return len;
    for (int64_t b = want; b >= 1 && 4 * b >= want; b--)
        if (len % b == 0) return b;
    for (int64_t b = want + 1; b <= 2 * want && b < len; b++)
        if (len % b == 0) return b;
    return 0;
}

void mk_cmp_param_dims(mk_cw *c, int gran, int64_t want, int along_out, int64_t *pd)
{
    const mk_type *t = &c->w->type;
    for (int a = 0; a < t->rank; a++) pd[a] = 1;
    if (gran == 1) return;
    if (!along_out || gran == 0) pd[c->out_ax] = t->dims[c->out_ax];
    if (gran != 2) return;
    int ax = along_out ? c->out_ax : c->in_ax;
    int64_t len = t->dims[ax], b = divisor_near(len, want);
    const char *what = along_out ? "group" : "block";
    if (len < want)
        snprintf(c->note, sizeof c->note, "%s %lld longer than the axis: %s %lld", what,
                 (long long)want, what, (long long)len);
    else if (b && b != want)
        snprintf(c->note, sizeof c->note, "%s %lld does not divide %lld: %s %lld", what,
                 (long long)want, (long long)len, what, (long long)b);
    else if (!b)
        snprintf(c->note, sizeof c->note, "%s %lld: no divisor of %lld near it: %s", what,
                 (long long)want, (long long)len, along_out ? "per tensor" : "per channel");
    if (b) pd[ax] = len / b;
}

/* scale and zero point for the range [lo, hi] clipped to the fraction a */
static void scale_for(double lo, double hi, double a, double qmin, double qmax, int asym, double *s,
                      double *z)
{
    lo *= a, hi *= a;
    *z = 0;
    if (asym) {
        *s = (hi - lo) / (qmax - qmin);
        if (!(*s > 0)) *s = 1;
        *z = nearbyint(qmin - lo / *s);
        *z = *z < qmin ? qmin : *z > qmax ? qmax : *z;
    } else {
        double m = fmax(-lo, hi);
        *s = m > 0 ? m / qmax : 1;
    }
}

/* round half to even, as nearbyint in the default mode (|x| < 2^51) */
static inline double rne(double x)
{
    return (x + 6755399441055744.0) - 6755399441055744.0;
}

/* one weight's rounding: scales (stored in the weight's dtype), zero points, integers */
typedef struct lq {
    mk_cw *c;
    unsigned char *sc;
    int32_t *zp, *q;
    const double *hd; /* compensated: the Gram diagonal per column, weighting the clip search */
    double *buf;      /* compensated: one row's block */
    size_t rows, nblk, bc;
    int tr;
    double qmin, qmax, rmin;
    int asym;
} lq;

/* the range is clipped to the fraction (1 - k/40) of its extremes that gives the smallest
 * (weighted by wt when set) squared error over the block v[0..n) (outliers cost less than a
 * coarse step everywhere); the scale goes to parameter j (its stored value returned) */
static float block_scale(const lq *l, const double *v, const double *wt, size_t n, size_t j)
{
    enum { NA = 16 };
    double lo = 0, hi = 0, best = INFINITY, bsv = 1, bz = 0;
    for (size_t k = 0; k < n; k++) {
        double x = v[k];
        if (!isfinite(x)) continue;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
    }
    for (int k = 0; k < NA; k++) {
        double sv, z, sse = 0;
        scale_for(lo, hi, 1 - k / 40.0, l->qmin, l->qmax, l->asym, &sv, &z);
        double inv = 1 / sv;
        for (size_t i = 0; i < n; i++) {
            double x = v[i];
            if (!isfinite(x)) continue;
            double r = rne(x * inv) + z;
            r = r < l->rmin ? l->rmin : r > l->qmax ? l->qmax : r;
            double dd = (r - z) * sv - x;
            sse += wt ? wt[i] * dd * dd : dd * dd;
        }
        if (sse < best) best = sse, bsv = sv, bz = z;
    }
    float sj = mk_cmp_store(l->c, l->sc, j, bsv);
    if (sj == 0 || !isfinite(sj)) sj = mk_cmp_store(l->c, l->sc, j, 1);
    l->zp[j] = (int32_t)bz;
    return sj;
}

/* x rounded with scale s and zero point z: the integer into *qi, the value returned */
static double round_to(const lq *l, double x, float s, int32_t z, int32_t *qi)
{
    double y = x / s + z;
    double r = isfinite(y) ? nearbyint(y) : y > 0 ? l->qmax : l->qmin;
    r = r < l->rmin ? l->rmin : r > l->qmax ? l->qmax : r;
    *qi = (int32_t)r;
    return (r - z) * s;
}

static size_t pidx(const lq *l, size_t r, size_t b)
{
    return l->tr ? b * l->rows + r : r * l->nblk + b;
}

static void lin_round(void *ctx, const double *m, size_t rows, size_t d, size_t j, double *q)
{
    lq *l = ctx;
    size_t b = j / l->bc;
    for (size_t r = 0; r < rows; r++) {
        size_t pj = pidx(l, r, b), i = l->tr ? j * rows + r : r * d + j;
        if (j % l->bc == 0) {
            for (size_t k = 0; k < l->bc; k++) l->buf[k] = m[(j + k) * rows + r];
            block_scale(l, l->buf, l->hd ? l->hd + j : NULL, l->bc, pj);
        }
        float s = l->c->w->type.dtype == MK_DT_FP16 ? mk_f16_to_f32(((const uint16_t *)l->sc)[pj])
                                                    : ((const float *)l->sc)[pj];
        q[r] = round_to(l, m[j * rows + r], s, l->zp[pj], &l->q[i]);
    }
}

/* the blocks rounded column by column with error compensation (mk_cmp_gptq), each block's
 * scale chosen when its first column comes; 0 when out of memory */
static int compensated(mk_cw *c, lq *l, size_t d)
{
    size_t rows = l->rows, nb, hb = d * sizeof(double);
    if (!mk_mul_size(rows * d, sizeof(double), &nb)) return 0;
    double *m = mk_malloc(c->p->alloc, nb), *hd = mk_malloc(c->p->alloc, hb);
    double *buf = mk_malloc(c->p->alloc, l->bc * sizeof(double));
    int ok = m && hd && buf;
    l->buf = buf;
    if (ok) {
        size_t a, off = 0;
        for (int k = 0; k < c->g->nch; k++) {
            size_t b = mk_cmp_gram_span(d, c->g->nch, k, &a);
            /* shrunk toward 1 when the calibration has few vectors for the columns (a
             * classifier head fed one token a run) */
            double mean = 0, al = (double)c->g->nvec / ((double)c->g->nvec + 0.1 * (double)b);
            for (size_t i = 0; i < b; i++) mean += c->g->h[off + i * b + i] / (double)b;
            for (size_t i = 0; i < b; i++)
                hd[a + i] = mean > 0 ? al * c->g->h[off + i * b + i] / mean + (1 - al) + 0.01 : 1;
            off += b * b;
        }
        l->hd = hd;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < d; j++) {
                double x = mk_const_get_f64(c->w, l->tr ? j * rows + r : r * d + j);
                m[j * rows + r] = isfinite(x) ? x : 0;
            }
        ok = mk_cmp_gptq(c->p->alloc, c->g, m, rows, lin_round, l);
    }
    for (size_t r = 0; ok && r < rows; r++)
        for (size_t j = 0; j < d; j++) {
            size_t i = l->tr ? j * rows + r : r * d + j;
            mk_cmp_acc(c, i, mk_const_get_f64(c->w, i), (float)m[j * rows + r]);
        }
    mk_free(c->p->alloc, m, nb);
    mk_free(c->p->alloc, hd, hb);
    mk_free(c->p->alloc, buf, l->bc * sizeof(double));
    return ok;
}

mk_value *mk_cmp_linear(mk_cw *c, const mk_compress_options *o, mk_err *e)
{
    const mk_type *t = &c->w->type;
    int bits = o->bits, ios18 = c->ios >= 18, r_ = t->rank;
    int64_t pd[MK_MAX_RANK];
    mk_cmp_param_dims(c, o->granularity, o->block, 0, pd);
    size_t np = 1, bn = 1, bs[MK_MAX_RANK], st[MK_MAX_RANK];
    for (int a = r_ - 1; a >= 0; a--) {
        np *= (size_t)pd[a];
        bs[a] = (size_t)(t->dims[a] / pd[a]);
        bn *= bs[a];
        st[a] = a == r_ - 1 ? 1 : st[a + 1] * (size_t)t->dims[a + 1];
    }
    size_t es = t->dtype == MK_DT_FP16 ? 2 : 4;
    int32_t *q = mk_arena_alloc(c->p->arena, c->n * sizeof(int32_t));
    int32_t *zp = mk_arena_alloc(c->p->arena, np * sizeof(int32_t));
    unsigned char *sc = mk_arena_alloc(c->p->arena, np * es);
    unsigned char *qb = mk_arena_alloc(c->p->arena, (c->n * (size_t)bits + 7) / 8 + 1);
    unsigned char *zb = mk_arena_alloc(c->p->arena, np + 1);
    uint32_t *off = mk_malloc(c->p->alloc, bn * sizeof(uint32_t));
    double *v = mk_malloc(c->p->alloc, bn * sizeof(double));
    if (!q || !zp || !sc || !qb || !zb || !off || !v || c->n > UINT32_MAX) {
        mk_free(c->p->alloc, off, bn * sizeof(uint32_t));
        mk_free(c->p->alloc, v, bn * sizeof(double));
        return MK_OOM(e), NULL;
    }
    lq l = {.c = c,
            .sc = sc,
            .zp = zp,
            .q = q,
            .qmin = -(double)(1 << (bits - 1)),
            .qmax = (double)((1 << (bits - 1)) - 1),
            .asym = o->zero_point};
    l.rmin = o->zero_point ? l.qmin : -l.qmax;
    size_t rows, d;
    int ok = 1;
    if (mk_cmp_gram_useful(c->g) && o->granularity != 1 &&
        mk_cmp_rows(c->w, c->out_ax, c->in_ax, &rows, &d, &l.tr) && (size_t)pd[c->out_ax] == rows &&
        np % rows == 0) {
        l.rows = rows, l.nblk = np / rows, l.bc = d / l.nblk;
        ok = compensated(c, &l, d);
    } else {
        size_t ec[MK_MAX_RANK] = {0}, pc[MK_MAX_RANK] = {0};
        for (size_t k = 0; k < bn; k++) { /* offsets from a block's first element */
            size_t x = 0;
            for (int a = 0; a < r_; a++) x += ec[a] * st[a];
            off[k] = (uint32_t)x;
            for (int a = r_ - 1; a >= 0 && ++ec[a] == bs[a]; a--) ec[a] = 0;
        }
        for (size_t j = 0; j < np; j++) {
            size_t base = 0;
            for (int a = 0; a < r_; a++) base += pc[a] * bs[a] * st[a];
            for (int a = r_ - 1; a >= 0 && ++pc[a] == (size_t)pd[a]; a--) pc[a] = 0;
            for (size_t k = 0; k < bn; k++) v[k] = mk_const_get_f64(c->w, base + off[k]);
            float sj = block_scale(&l, v, NULL, bn, j);
            for (size_t k = 0; k < bn; k++) {
                double x = v[k];
                mk_cmp_acc(c, base + off[k], x,
                           (float)round_to(&l, x, sj, zp[j], &q[base + off[k]]));
            }
        }
    }
    mk_free(c->p->alloc, off, bn * sizeof(uint32_t));
    mk_free(c->p->alloc, v, bn * sizeof(double));
    if (!ok) return MK_OOM(e), NULL;
    mk_dtype qt = bits == 4 ? MK_DT_INT4 : MK_DT_INT8;
    size_t qn = mk_cmp_pack(q, c->n, bits, qb), zn = mk_cmp_pack(zp, np, bits, zb);
    mk_op *cx;
    char base[256];
    snprintf(base, sizeof base, "%s_%s", c->w->name ? c->w->name : "weight",
             bits == 4 ? "int4" : "int8");
    if (ios18) {
        cx = mk_ir_op_new(c->p, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, base);
        mk_value *dv = mk_cmp_const(c, qt, t->rank, t->dims, qb, qn);
        mk_value *sv = mk_cmp_const(c, t->dtype, t->rank, pd, sc, np * es);
        mk_value *zv = o->zero_point ? mk_cmp_const(c, qt, t->rank, pd, zb, zn) : NULL;
        if (!cx || !dv || !sv || (o->zero_point && !zv)) return MK_OOM(e), NULL;
        dv->is_inline = sv->is_inline = 1;
        if (zv) zv->is_inline = 1;
        if (!mk_ir_op_add_input(c->p, cx, "data", dv) ||
            !mk_ir_op_add_input(c->p, cx, "scale", sv) ||
            (zv && !mk_ir_op_add_input(c->p, cx, "offset", zv)))
            return MK_OOM(e), NULL;
    } else {
        /* per tensor or per output channel: scale/zero_point are scalars or vectors on axis */
        int64_t ch = np;
        mk_type at = mk_type_scalar(MK_DT_INT32);
        int32_t axis = c->out_ax;
        cx = mk_ir_op_new(c->p, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, base);
        mk_value *dv = mk_cmp_const(c, qt, t->rank, t->dims, qb, qn);
        mk_value *zv = mk_cmp_const(c, MK_DT_INT8, np > 1, &ch, zb, np);
        mk_value *sv = mk_cmp_const(c, t->dtype, np > 1, &ch, sc, np * es);
        mk_value *av = mk_ir_const_value(c->p, &at, &axis, 4, 0);
        if (!cx || !dv || !zv || !sv || !av || !mk_ir_op_add_attr(c->p, cx, "quantized_data", dv) ||
            !mk_ir_op_add_attr(c->p, cx, "zero_point", zv) ||
            !mk_ir_op_add_attr(c->p, cx, "scale", sv) || !mk_ir_op_add_attr(c->p, cx, "axis", av))
            return MK_OOM(e), NULL;
    }
    return mk_cmp_finish(c, cx, 1, e);
}
