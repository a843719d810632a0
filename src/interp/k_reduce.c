/* Reductions over axes (sum, mean, max, min, prod, norms, log-sum(-exp)), arg max/min, cumsum
 * and softmax. Reductions walk the input once, mapping each element to its output cell through
 * strides that are 0 on reduced axes; accumulation is in double. Float sum/mean/max/min over
 * trailing axes take a contiguous fast path. */
#include <math.h>
#include <string.h>

#include "interp_int.h"
#include "k_vec.h"

/* Parse `axes` (absent = all) into a mask; fails on out-of-range axes. */
static mk_status axes_mask(mk_kctx *k, const char *param, int rank, int *mask)
{
    int64_t ax[MK_MAX_RANK * 2];
    int n;
    mk_status st = mk_kints(k, param, ax, MK_MAX_RANK * 2, &n);
    if (st) return st;
    for (int i = 0; i < rank; i++) mask[i] = n < 0;
    for (int i = 0; i < n; i++) {
        int a;
        if ((st = mk_kaxis(k, ax[i], rank, &a))) return st;
        mask[a] = 1;
    }
    return MK_OK;
}

/* Output strides over the input's dims: 0 on reduced axes. */
static void reduce_strides(const mk_type *in, const int *mask, int64_t *os, int64_t *n_out)
{
    int64_t acc = 1;
    for (int i = in->rank - 1; i >= 0; i--) {
        os[i] = mask[i] ? 0 : acc;
        if (!mask[i]) acc *= in->dims[i];
    }
    *n_out = acc;
}

/* Visit every input element with its output index. */
#define FOR_MAPPED(in, os, BODY)                                                                   \
    do {                                                                                           \
        int64_t cnt_[MK_MAX_RANK] = {0};                                                           \
        size_t oi = 0;                                                                             \
        for (size_t ii = 0; ii < (in)->numel; ii++) {                                              \
            BODY;                                                                                  \
            for (int d_ = (in)->type.rank - 1; d_ >= 0; d_--) {                                    \
                oi += (size_t)(os)[d_];                                                            \
                if (++cnt_[d_] < (in)->type.dims[d_]) break;                                       \
                oi -= (size_t)((os)[d_] * cnt_[d_]);                                               \
                cnt_[d_] = 0;                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* Sum in double over 8 interleaved partial sums (independent adds: SIMD, no latency chain). */
MK_SIMD static double sum_f32(const float *r, size_t n)
{
    double acc[8] = {0};
    size_t q = 0;
    for (; q + 8 <= n; q += 8)
        for (int j = 0; j < 8; j++) acc[j] += r[q + (size_t)j];
    double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; q < n; q++) sum += r[q];
    return sum;
}

static void accumulate(mk_op_kind kind, double *acc, double v)
{
    switch (kind) {
    case MK_OP_REDUCE_MAX:
        if (v > *acc || isnan(v)) *acc = v;
        break;
    case MK_OP_REDUCE_MIN:
        if (v < *acc || isnan(v)) *acc = v;
        break;
    case MK_OP_REDUCE_PROD: *acc *= v; break;
    case MK_OP_REDUCE_L1_NORM: *acc += fabs(v); break;
    case MK_OP_REDUCE_L2_NORM:
    case MK_OP_REDUCE_SUM_SQUARE: *acc += v * v; break;
    case MK_OP_REDUCE_SUM:
    case MK_OP_REDUCE_MEAN:
    case MK_OP_REDUCE_LOG_SUM:
    case MK_OP_REDUCE_LOG_SUM_EXP: *acc += v; break;
#define MK_IN_FAMILY_REDUCE ~, 1
#include "ir/op_cases.h"
#undef MK_IN_FAMILY_REDUCE
        *acc = NAN;
        break;
    }
}

typedef struct rd_job {
    const float *a;
    float *o;
    size_t inner;
    int64_t n_out, per; /* outputs, outputs per chunk */
    mk_op_kind kind;
} rd_job;

/* The float fast path's outputs [ci * per, (ci + 1) * per): one contiguous row each. */
static void rd_chunk(void *ctx, int64_t ci, int tid)
{
    const rd_job *J = ctx;
    mk_op_kind kind = J->kind;
    size_t inner = J->inner;
    int64_t p1 = (ci + 1) * J->per < J->n_out ? (ci + 1) * J->per : J->n_out;
    (void)tid;
    for (int64_t p = ci * J->per; p < p1; p++) {
        const float *r = J->a + (size_t)p * inner;
        if (kind == MK_OP_REDUCE_MAX || kind == MK_OP_REDUCE_MIN) {
            float m = kind == MK_OP_REDUCE_MAX ? -INFINITY : INFINITY;
            int nan = 0;
            for (size_t q = 0; q < inner; q++) {
                m = kind == MK_OP_REDUCE_MAX ? mk_fmax(r[q], m) : mk_fmin(r[q], m);
                nan |= r[q] != r[q];
            }
            J->o[p] = nan ? NAN : m;
        } else {
            double sum = sum_f32(r, inner);
            double mean = inner ? sum / (double)inner : NAN;
            J->o[p] = (float)(kind == MK_OP_REDUCE_MEAN ? mean : sum);
        }
    }
}

mk_status mk_k_reduce(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int mask[MK_MAX_RANK];
    mk_status st = axes_mask(k, "axes", x->type.rank, mask);
    if (st) return st;
    int64_t os[MK_MAX_RANK], n_out;
    reduce_strides(&x->type, mask, os, &n_out);
    if ((size_t)n_out != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    mk_op_kind kind = k->op->kind;
    /* fast path: float sum/mean/max/min over a contiguous run of trailing axes */
    int tail = 1, seen_red = 0;
    for (int i = 0; i < x->type.rank; i++) {
        if (mask[i])
            seen_red = 1;
        else if (seen_red)
            tail = 0;
    }
    if (tail && n_out > 0 && mk_interp_layout(x->type.dtype) == MK_L_F32 &&
        mk_interp_layout(out->type.dtype) == MK_L_F32 &&
        (kind == MK_OP_REDUCE_SUM || kind == MK_OP_REDUCE_MEAN || kind == MK_OP_REDUCE_MAX ||
         kind == MK_OP_REDUCE_MIN)) {
        rd_job J = {x->data, out->data, x->numel / (size_t)n_out, n_out, 0, kind};
        /* rows of about 32K floats per chunk: each output is one row's, whatever the chunking */
        J.per = J.inner >= 32768 ? 1 : (int64_t)(32768 / (J.inner ? J.inner : 1));
        mk_par_for(k, mk_par_chunks(n_out, J.per), rd_chunk, &J);
        return MK_OK;
    }
    double *acc = mk_malloc(k->alloc, (size_t)n_out * sizeof(double) + 8);
    if (!acc) return MK_OOM(k->e);
    double init = kind == MK_OP_REDUCE_MAX    ? -INFINITY
                  : kind == MK_OP_REDUCE_MIN  ? INFINITY
                  : kind == MK_OP_REDUCE_PROD ? 1.0
                                              : 0.0;
    for (int64_t i = 0; i < n_out; i++) acc[i] = init;
    size_t per = n_out ? x->numel / (size_t)n_out : 0;
    if (kind == MK_OP_REDUCE_LOG_SUM_EXP) {
        double *mx = mk_malloc(k->alloc, (size_t)n_out * sizeof(double) + 8);
        if (!mx) {
            mk_free(k->alloc, acc, (size_t)n_out * sizeof(double) + 8);
            return MK_OOM(k->e);
        }
        for (int64_t i = 0; i < n_out; i++) mx[i] = -INFINITY;
        FOR_MAPPED(x, os, {
            double v = mk_rt_f64(x, ii);
            if (v > mx[oi]) mx[oi] = v;
        });
        FOR_MAPPED(x, os, acc[oi] += exp(mk_rt_f64(x, ii) - mx[oi]));
        for (int64_t i = 0; i < n_out; i++) acc[i] = isinf(mx[i]) ? mx[i] : mx[i] + log(acc[i]);
        mk_free(k->alloc, mx, (size_t)n_out * sizeof(double) + 8);
    } else {
        FOR_MAPPED(x, os, accumulate(kind, &acc[oi], mk_rt_f64(x, ii)));
    }
    for (int64_t i = 0; i < n_out; i++) {
        double v = acc[i];
        if (kind == MK_OP_REDUCE_MEAN)
            v = per ? v / (double)per : NAN;
        else if (kind == MK_OP_REDUCE_L2_NORM)
            v = sqrt(v);
        else if (kind == MK_OP_REDUCE_LOG_SUM)
            v = log(v);
        if (mk_interp_layout(out->type.dtype) == MK_L_F32)
            ((float *)out->data)[i] = (float)v;
        else if (mk_interp_layout(out->type.dtype) == MK_L_I32)
            ((int32_t *)out->data)[i] = (int32_t)v;
        else
            ((uint8_t *)out->data)[i] = v != 0;
    }
    mk_free(k->alloc, acc, (size_t)n_out * sizeof(double) + 8);
    return MK_OK;
}

/* Split a shape at axis into outer x len x inner. */
static void split3(const mk_type *t, int axis, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= t->dims[i];
    *len = t->rank ? t->dims[axis] : 1;
    for (int i = axis + 1; i < t->rank; i++) *inner *= t->dims[i];
}

mk_status mk_k_arg_reduce(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t a64;
    int axis;
    mk_status st;
    if ((st = mk_kint(k, "axis", -1, &a64)) || (st = mk_kaxis(k, a64, x->type.rank, &axis)))
        return st;
    int64_t outer, len, inner;
    split3(&x->type, axis, &outer, &len, &inner);
    if ((size_t)(outer * inner) != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    int mx = k->op->kind == MK_OP_REDUCE_ARGMAX;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            int64_t best = 0;
            double bv = len ? mk_rt_f64(x, (size_t)(o * len * inner + i)) : 0;
            for (int64_t j = 1; j < len; j++) {
                double v = mk_rt_f64(x, (size_t)((o * len + j) * inner + i));
                if (mx ? v > bv : v < bv) {
                    bv = v;
                    best = j;
                }
            }
            size_t oi = (size_t)(o * inner + i);
            if (mk_interp_layout(out->type.dtype) == MK_L_I32)
                ((int32_t *)out->data)[oi] = (int32_t)best;
            else
                ((float *)out->data)[oi] = (float)best;
        }
    return MK_OK;
}

mk_status mk_k_cumsum(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t a64;
    int axis, excl, rev;
    mk_status st;
    if ((st = mk_kint(k, "axis", 0, &a64)) || (st = mk_kaxis(k, a64, x->type.rank, &axis)) ||
        (st = mk_kbool(k, "exclusive", 0, &excl)) || (st = mk_kbool(k, "reverse", 0, &rev)))
        return st;
    if (x->numel != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    int64_t outer, len, inner;
    split3(&x->type, axis, &outer, &len, &inner);
    int f = mk_interp_layout(out->type.dtype) == MK_L_F32;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double acc = 0;
            for (int64_t jj = 0; jj < len; jj++) {
                int64_t j = rev ? len - 1 - jj : jj;
                size_t idx = (size_t)((o * len + j) * inner + i);
                double v = mk_rt_f64(x, idx);
                if (!excl) acc += v;
                if (f)
                    ((float *)out->data)[idx] = (float)acc;
                else
                    ((int32_t *)out->data)[idx] = (int32_t)acc;
                if (excl) acc += v;
            }
        }
    return MK_OK;
}

typedef struct sm_job {
    const float *a;
    float *o;
    int64_t rows, len, per;
} sm_job;

static void softmax_chunk(void *ctx, int64_t ci, int tid)
{
    const sm_job *J = ctx;
    int64_t r1 = (ci + 1) * J->per < J->rows ? (ci + 1) * J->per : J->rows;
    (void)tid;
    for (int64_t r = ci * J->per; r < r1; r++)
        mk_vec_softmax(J->a + r * J->len, J->o + r * J->len, J->len);
}

mk_status mk_k_softmax(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t a64;
    int axis;
    mk_status st;
    if ((st = mk_kint(k, "axis", -1, &a64)) || (st = mk_kaxis(k, a64, x->type.rank, &axis)))
        return st;
    if (x->numel != out->numel || mk_interp_layout(x->type.dtype) != MK_L_F32 ||
        mk_interp_layout(out->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "softmax takes a float tensor of the output's size");
    int64_t outer, len, inner;
    split3(&x->type, axis, &outer, &len, &inner);
    const float *a = x->data;
    float *o = out->data;
    if (inner == 1) {
        sm_job J = {a, o, outer, len, len >= 65536 ? 1 : 65536 / (len ? len : 1)};
        k->path = "softmax: rows, polynomial exp";
        mk_par_for(k, mk_par_chunks(outer, J.per), softmax_chunk, &J);
        return MK_OK;
    }
    for (int64_t p = 0; p < outer; p++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xa = a + p * len * inner + i;
            float *oa = o + p * len * inner + i;
            float mx = -INFINITY;
            for (int64_t j = 0; j < len; j++)
                if (xa[j * inner] > mx) mx = xa[j * inner];
            double sum = 0;
            for (int64_t j = 0; j < len; j++) {
                float e = expf(xa[j * inner] - mx);
                oa[j * inner] = e;
                sum += e;
            }
            float inv = (float)(1.0 / sum);
            for (int64_t j = 0; j < len; j++) oa[j * inner] *= inv;
        }
    return MK_OK;
}
