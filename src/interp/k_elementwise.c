/* Elementwise kernels: binary arithmetic/comparison/logic with numpy broadcasting, unary math,
 * activations, clip/threshold, cast and select. fp32 operands take typed fast loops; integer,
 * bool and mixed operands go through a double-precision path (exact for int32). Output types
 * come from type inference; shapes are checked against broadcasting before any access. */
#include <math.h>
#include <string.h>

#include "interp_int.h"
#include "k_vec.h"

/* Iterate the output in rows of its last axis, with up to three broadcast inputs. */
typedef void (*row_fn)(void *ctx, size_t o, const size_t *ix, int64_t n, const int64_t *sx);

/* A for_rows job: the merged output shape, input strides, and a fixed split of the rows (or of
 * one long row) into chunks of about ROW_GRAIN elements, so threads can share it. */
enum { ROW_GRAIN = 65536 };
typedef struct rows_job {
    int r, n_in;
    int64_t dims[MK_MAX_RANK], st[3][MK_MAX_RANK];
    int64_t inner, rows, per, segs; /* rows per chunk, or segments per row when per == 0 */
    row_fn fn;
    void *ctx;
} rows_job;

static void rows_chunk(void *ctx, int64_t ci, int tid)
{
    const rows_job *J = ctx;
    int64_t r0 = J->per ? ci * J->per : ci / J->segs, r1 = J->per ? r0 + J->per : r0 + 1;
    int64_t s0 = 0, sn = J->inner;
    (void)tid;
    if (!J->per) { /* one segment of one row */
        int64_t seg = (J->inner + J->segs - 1) / J->segs;
        s0 = (ci % J->segs) * seg;
        sn = J->inner - s0 < seg ? J->inner - s0 : seg;
    }
    if (r1 > J->rows) r1 = J->rows;
    for (int64_t row = r0; row < r1; row++) {
        size_t off[3] = {0, 0, 0};
        int64_t rem = row;
        for (int d = J->r - 2; d >= 0; d--) {
            int64_t c = rem % J->dims[d];
            rem /= J->dims[d];
            for (int j = 0; j < J->n_in; j++) off[j] += (size_t)(c * J->st[j][d]);
        }
        int64_t sx[3];
        for (int j = 0; j < J->n_in; j++) {
            sx[j] = J->st[j][J->r - 1];
            off[j] += (size_t)(s0 * sx[j]);
        }
        J->fn(J->ctx, (size_t)(row * J->inner + s0), off, sn, sx);
    }
}

/* Iterate the output in rows of its last axis, with up to three broadcast inputs; rows (or
 * pieces of a long row) go to the session's threads. */
static void for_rows(mk_kctx *k, const mk_type *ot0, int n_in, int64_t (*st0)[MK_MAX_RANK],
                     row_fn fn, void *ctx)
{
    /* merge each axis into the next when every input steps through both as through one
     * (contiguous, or broadcast over both): fewer, longer rows */
    rows_job J = {.n_in = n_in, .fn = fn, .ctx = ctx};
    int r = 0;
    for (int d = 0; d < ot0->rank; d++) {
        if (ot0->dims[d] == 1 && ot0->rank > 1) continue; /* size-1 axes never step */
        int merge = r > 0;
        for (int j = 0; j < n_in && merge; j++)
            merge = st0[j][d] ? J.st[j][r - 1] == st0[j][d] * ot0->dims[d] : J.st[j][r - 1] == 0;
        if (merge) {
            J.dims[r - 1] *= ot0->dims[d];
            for (int j = 0; j < n_in; j++) J.st[j][r - 1] = st0[j][d];
        } else {
            J.dims[r] = ot0->dims[d];
            for (int j = 0; j < n_in; j++) J.st[j][r] = st0[j][d];
            r++;
        }
    }
    if (r == 0 && ot0->rank > 0) { /* all axes of size 1 */
        J.dims[0] = 1;
        for (int j = 0; j < n_in; j++) J.st[j][0] = 0;
        r = 1;
    }
    if (r == 0) {
        size_t ix[3] = {0, 0, 0};
        int64_t sx[3] = {0, 0, 0};
        fn(ctx, 0, ix, 1, sx);
        return;
    }
    J.r = r;
    J.inner = J.dims[r - 1];
    J.rows = 1;
    for (int i = 0; i < r - 1; i++) J.rows *= J.dims[i];
    if (J.inner == 0 || J.rows == 0) return;
    if (J.inner >= ROW_GRAIN) {
        J.per = 0;
        J.segs = mk_par_chunks(J.inner, ROW_GRAIN);
        mk_par_for(k, J.rows * J.segs, rows_chunk, &J);
    } else {
        J.per = ROW_GRAIN / J.inner;
        mk_par_for(k, mk_par_chunks(J.rows, J.per), rows_chunk, &J);
    }
}

/* ---- binary ---- */
typedef struct binctx {
    mk_op_kind kind;
    const mk_rt *x, *y;
    mk_rt *out;
} binctx;

static double fbin(mk_op_kind kind, double a, double b, int ints)
{
    switch (kind) {
    case MK_OP_ADD: return a + b;
    case MK_OP_SUB: return a - b;
    case MK_OP_MUL: return a * b;
    case MK_OP_REAL_DIV:
        if (ints) return b == 0 ? 0 : trunc(a / b);
        return a / b;
    case MK_OP_FLOOR_DIV: return ints && b == 0 ? 0 : floor(a / b);
    case MK_OP_MOD: return b == 0 ? (ints ? 0 : NAN) : a - floor(a / b) * b;
    case MK_OP_POW: return pow(a, b);
    case MK_OP_MAXIMUM: return a > b || isnan(a) ? a : b;
    case MK_OP_MINIMUM: return a < b || isnan(a) ? a : b;
    case MK_OP_EQUAL: return a == b;
    case MK_OP_NOT_EQUAL: return a != b;
    case MK_OP_LESS: return a < b;
    case MK_OP_LESS_EQUAL: return a <= b;
    case MK_OP_GREATER: return a > b;
    case MK_OP_GREATER_EQUAL: return a >= b;
    case MK_OP_LOGICAL_AND: return (a != 0) && (b != 0);
    case MK_OP_LOGICAL_OR: return (a != 0) || (b != 0);
    case MK_OP_LOGICAL_XOR: return (a != 0) != (b != 0);
#define MK_IN_FAMILY_BINARY ~, 1
#include "ir/op_cases.h"
#undef MK_IN_FAMILY_BINARY
        return NAN;
    }
    return NAN;
}

static void store(mk_rt *r, size_t i, double v)
{
    switch (mk_interp_layout(r->type.dtype)) {
    case MK_L_F32: ((float *)r->data)[i] = (float)v; break;
    case MK_L_I32:
        ((int32_t *)r->data)[i] = isnan(v)             ? 0
                                  : v >= 2147483647.0  ? INT32_MAX
                                  : v <= -2147483648.0 ? INT32_MIN
                                                       : (int32_t)v;
        break;
    case MK_L_BOOL: ((uint8_t *)r->data)[i] = v != 0; break;
    case MK_L_STR: break;
    }
}

/* Row loops for one binary expression in a, b: restrict-qualified variants (so gcc -O2
 * vectorises them) for non-overlapping rows and for x updated in place (a donated buffer);
 * a plain strided loop otherwise. */
#define FROW(EXPR)                                                                                 \
    do {                                                                                           \
        int64_t nx_ = sa ? n : 1, ny_ = sb ? n : 1;                                                \
        int ox_ = overlaps(x, nx_, o, n), oy_ = overlaps(y, ny_, o, n);                            \
        if (sa == 1 && !oy_ && (x == o || !ox_)) {                                                 \
            float *restrict ro = o;                                                                \
            const float *restrict rx = x == o ? NULL : x, *restrict ry = y;                        \
            if (sb == 1 && rx) {                                                                   \
                MK_VLOOP((size_t)n, float a = rx[i]; float b = ry[i]; ro[i] = (EXPR));             \
            } else if (sb == 1) {                                                                  \
                MK_VLOOP((size_t)n, float a = ro[i]; float b = ry[i]; ro[i] = (EXPR));             \
            } else if (rx) {                                                                       \
                float b = ry[0];                                                                   \
                MK_VLOOP((size_t)n, float a = rx[i]; ro[i] = (EXPR));                              \
            } else {                                                                               \
                float b = ry[0];                                                                   \
                MK_VLOOP((size_t)n, float a = ro[i]; ro[i] = (EXPR));                              \
            }                                                                                      \
        } else if (sa == 0 && sb == 1 && !ox_ && !oy_) {                                           \
            float *restrict ro = o;                                                                \
            const float *restrict ry = y;                                                          \
            float a = x[0];                                                                        \
            MK_VLOOP((size_t)n, float b = ry[i]; ro[i] = (EXPR));                                  \
        } else {                                                                                   \
            for (int64_t k_ = 0; k_ < n; k_++) {                                                   \
                float a = x[k_ * sa], b = y[k_ * sb];                                              \
                o[k_] = (EXPR);                                                                    \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static int overlaps(const float *p, int64_t np, const float *q, int64_t nq)
{
    return p < q + nq && q < p + np;
}

/* The four arithmetic ops on rows through function parameters (gcc honours restrict only
 * there, so these loops become SIMD): o = x op y, o = o op y (x donated), o = x op b,
 * o = o op b, o = a op y. */
#define ARITH(KIND, LOOP)                                                                          \
    if ((KIND) == MK_OP_ADD)                                                                       \
        LOOP(a + b);                                                                               \
    else if ((KIND) == MK_OP_SUB)                                                                  \
        LOOP(a - b);                                                                               \
    else if ((KIND) == MK_OP_MUL)                                                                  \
        LOOP(a *b);                                                                                \
    else                                                                                           \
        LOOP(a / b);
MK_SIMD static void arith_vv(mk_op_kind kind, float *restrict o, const float *restrict x,
                             const float *restrict y, size_t n)
{
#define L(E) MK_VLOOP(n, float a = x[i]; float b = y[i]; o[i] = (E))
    ARITH(kind, L)
#undef L
}
MK_SIMD static void arith_iv(mk_op_kind kind, float *restrict o, const float *restrict y, size_t n)
{
#define L(E) MK_VLOOP(n, float a = o[i]; float b = y[i]; o[i] = (E))
    ARITH(kind, L)
#undef L
}
MK_SIMD static void arith_vs(mk_op_kind kind, float *restrict o, const float *restrict x, float b,
                             size_t n)
{
#define L(E) MK_VLOOP(n, float a = x[i]; o[i] = (E))
    ARITH(kind, L)
#undef L
}
MK_SIMD static void arith_is(mk_op_kind kind, float *restrict o, float b, size_t n)
{
#define L(E) MK_VLOOP(n, float a = o[i]; o[i] = (E))
    ARITH(kind, L)
#undef L
}
MK_SIMD static void arith_sv(mk_op_kind kind, float *restrict o, float a, const float *restrict y,
                             size_t n)
{
#define L(E) MK_VLOOP(n, float b = y[i]; o[i] = (E))
    ARITH(kind, L)
#undef L
}

/* 1 when done: an arithmetic op on rows that are contiguous or scalar and do not overlap the
 * output (x may be the output itself). */
static int arith_row(mk_op_kind kind, const float *x, const float *y, float *o, int64_t n,
                     int64_t sa, int64_t sb)
{
    if (kind != MK_OP_ADD && kind != MK_OP_SUB && kind != MK_OP_MUL && kind != MK_OP_REAL_DIV)
        return 0;
    int ox = overlaps(x, sa ? n : 1, o, n), oy = overlaps(y, sb ? n : 1, o, n);
    if (oy || (ox && x != o) || (x == o && sa != 1)) return 0;
    size_t m = (size_t)n;
    if (sa == 1 && sb == 1 && x == o)
        arith_iv(kind, o, y, m);
    else if (sa == 1 && sb == 1)
        arith_vv(kind, o, x, y, m);
    else if (sa == 1 && sb == 0 && x == o)
        arith_is(kind, o, y[0], m);
    else if (sa == 1 && sb == 0)
        arith_vs(kind, o, x, y[0], m);
    else if (sa == 0 && sb == 1)
        arith_sv(kind, o, x[0], y, m);
    else
        return 0;
    return 1;
}

MK_SIMD static void bin_row_f32(void *ctx, size_t oo, const size_t *ix, int64_t n,
                                const int64_t *sx)
{
    binctx *c = ctx;
    const float *x = (const float *)c->x->data + ix[0], *y = (const float *)c->y->data + ix[1];
    float *o = (float *)c->out->data + oo;
    int64_t sa = sx[0], sb = sx[1];
    if (arith_row(c->kind, x, y, o, n, sa, sb)) return;
    switch (c->kind) {

    case MK_OP_ADD: FROW(a + b); break;
    case MK_OP_SUB: FROW(a - b); break;
    case MK_OP_MUL: FROW(a * b); break;
    case MK_OP_REAL_DIV: FROW(a / b); break;
    /* NaN propagates from either side, as numpy's maximum/minimum do */
    case MK_OP_MAXIMUM: FROW(a != a || b != b ? a + b : mk_fmax(a, b)); break;
    case MK_OP_MINIMUM: FROW(a != a || b != b ? a + b : mk_fmin(a, b)); break;
    case MK_OP_POW: FROW(powf(a, b)); break;
    case MK_OP_FLOOR_DIV:
    case MK_OP_MOD:
    case MK_OP_EQUAL:
    case MK_OP_NOT_EQUAL:
    case MK_OP_LESS:
    case MK_OP_LESS_EQUAL:
    case MK_OP_GREATER:
    case MK_OP_GREATER_EQUAL:
    case MK_OP_LOGICAL_AND:
    case MK_OP_LOGICAL_OR:
    case MK_OP_LOGICAL_XOR:
#define MK_IN_FAMILY_BINARY ~, 1
#include "ir/op_cases.h"
#undef MK_IN_FAMILY_BINARY
        FROW((float)fbin(c->kind, a, b, 0));
        break;
    }
}

static void bin_row_any(void *ctx, size_t oo, const size_t *ix, int64_t n, const int64_t *sx)
{
    binctx *c = ctx;
    int ints = mk_interp_layout(c->out->type.dtype) == MK_L_I32 ||
               (mk_interp_layout(c->x->type.dtype) == MK_L_I32 &&
                mk_interp_layout(c->y->type.dtype) == MK_L_I32);
    for (int64_t i = 0; i < n; i++) {
        double a = mk_rt_f64(c->x, ix[0] + (size_t)(i * sx[0]));
        double b = mk_rt_f64(c->y, ix[1] + (size_t)(i * sx[1]));
        store(c->out, oo + (size_t)i, fbin(c->kind, a, b, ints));
    }
}

mk_status mk_k_binary(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *y = mk_kin(k, "y"), *out = k->outs[0];
    if (!x || !y) return mk_kerr(k, MK_EINVAL, "needs inputs x and y");
    int64_t st[3][MK_MAX_RANK];
    if (!mk_bcast_strides(&x->type, &out->type, st[0]) ||
        !mk_bcast_strides(&y->type, &out->type, st[1]))
        return mk_kerr(k, MK_EINVAL, "shapes do not broadcast to the output");
    binctx c = {k->op->kind, x, y, out};
    int f32 = mk_interp_layout(x->type.dtype) == MK_L_F32 &&
              mk_interp_layout(y->type.dtype) == MK_L_F32 &&
              mk_interp_layout(out->type.dtype) == MK_L_F32;
    for_rows(k, &out->type, 2, st, f32 ? bin_row_f32 : bin_row_any, &c);
    return MK_OK;
}

/* ---- select ---- */
typedef struct selctx {
    const mk_rt *c, *a, *b;
    mk_rt *out;
} selctx;

static void sel_row(void *ctx, size_t oo, const size_t *ix, int64_t n, const int64_t *sx)
{
    selctx *s = ctx;
    size_t es = mk_interp_elem_size(s->out->type.dtype);
    for (int64_t i = 0; i < n; i++) {
        int cond = mk_rt_f64(s->c, ix[0] + (size_t)(i * sx[0])) != 0;
        const mk_rt *src = cond ? s->a : s->b;
        size_t si = ix[cond ? 1 : 2] + (size_t)(i * sx[cond ? 1 : 2]);
        if (mk_interp_layout(src->type.dtype) == mk_interp_layout(s->out->type.dtype))
            memcpy((char *)s->out->data + (oo + (size_t)i) * es, (const char *)src->data + si * es,
                   es);
        else
            store(s->out, oo + (size_t)i, mk_rt_f64(src, si));
    }
}

mk_status mk_k_select(mk_kctx *k)
{
    mk_rt *c = mk_kin(k, "cond"), *a = mk_kin(k, "a"), *b = mk_kin(k, "b"), *out = k->outs[0];
    if (!c || !a || !b) return mk_kerr(k, MK_EINVAL, "needs cond, a and b");
    int64_t st[3][MK_MAX_RANK];
    if (!mk_bcast_strides(&c->type, &out->type, st[0]) ||
        !mk_bcast_strides(&a->type, &out->type, st[1]) ||
        !mk_bcast_strides(&b->type, &out->type, st[2]))
        return mk_kerr(k, MK_EINVAL, "shapes do not broadcast to the output");
    selctx s = {c, a, b, out};
    for_rows(k, &out->type, 3, st, sel_row, &s);
    return MK_OK;
}

/* ---- unary math ---- */
static double funary(mk_op_kind kind, double x, double eps)
{
    switch (kind) {
    case MK_OP_ABS: return fabs(x);
    case MK_OP_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case MK_OP_CEIL: return ceil(x);
    case MK_OP_FLOOR: return floor(x);
    case MK_OP_ROUND: return nearbyint(x);
    case MK_OP_EXP: return exp(x);
    case MK_OP_EXP2: return exp2(x);
    case MK_OP_LOG: return log(x + eps);
    case MK_OP_SQRT: return sqrt(x);
    case MK_OP_RSQRT: return 1.0 / sqrt(x + eps);
    case MK_OP_INVERSE: return 1.0 / (x + eps);
    case MK_OP_SQUARE: return x * x;
    case MK_OP_SIN: return sin(x);
    case MK_OP_COS: return cos(x);
    case MK_OP_TAN: return tan(x);
    case MK_OP_ASIN: return asin(x);
    case MK_OP_ACOS: return acos(x);
    case MK_OP_ATAN: return atan(x);
    case MK_OP_SINH: return sinh(x);
    case MK_OP_COSH: return cosh(x);
    case MK_OP_ATANH: return atanh(x);
    case MK_OP_ERF: return erf(x);
    case MK_OP_LOGICAL_NOT: return x == 0;
#define MK_IN_FAMILY_UNARY ~, 1
#include "ir/op_cases.h"
#undef MK_IN_FAMILY_UNARY
        return NAN;
    }
    return NAN;
}

static mk_status same_numel(mk_kctx *k, const mk_rt *x, const mk_rt *out)
{
    if (x->numel != out->numel) return mk_kerr(k, MK_EINVAL, "output size differs from input");
    return MK_OK;
}

mk_status mk_k_unary(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    mk_status st = same_numel(k, x, out);
    if (st) return st;
    double eps = 0;
    mk_op_kind kind = k->op->kind;
    double def = kind == MK_OP_LOG       ? 1e-45
                 : kind == MK_OP_RSQRT   ? 1e-12
                 : kind == MK_OP_INVERSE ? 1e-4
                                         : 0;
    if ((st = mk_kfloat(k, "epsilon", def, &eps))) return st;
    size_t n = out->numel;
    if (mk_interp_layout(x->type.dtype) == MK_L_F32 &&
        mk_interp_layout(out->type.dtype) == MK_L_F32) {
        const float *a = x->data;
        float *o = out->data;
        float fe = (float)eps;
        switch (kind) {
        case MK_OP_EXP:
            for (size_t i = 0; i < n; i++) o[i] = expf(a[i]);
            return MK_OK;
        case MK_OP_SQRT:
            for (size_t i = 0; i < n; i++) o[i] = sqrtf(a[i]);
            return MK_OK;
        case MK_OP_RSQRT:
            for (size_t i = 0; i < n; i++) o[i] = 1.0f / sqrtf(a[i] + fe);
            return MK_OK;
        case MK_OP_ABS:
            for (size_t i = 0; i < n; i++) o[i] = fabsf(a[i]);
            return MK_OK;
        case MK_OP_LOG:
            for (size_t i = 0; i < n; i++) o[i] = logf(a[i] + fe);
            return MK_OK;
        case MK_OP_ERF:
            for (size_t i = 0; i < n; i++) o[i] = erff(a[i]);
            return MK_OK;
        case MK_OP_SIGN:
        case MK_OP_CEIL:
        case MK_OP_FLOOR:
        case MK_OP_ROUND:
        case MK_OP_EXP2:
        case MK_OP_INVERSE:
        case MK_OP_SQUARE:
        case MK_OP_SIN:
        case MK_OP_COS:
        case MK_OP_TAN:
        case MK_OP_ASIN:
        case MK_OP_ACOS:
        case MK_OP_ATAN:
        case MK_OP_SINH:
        case MK_OP_COSH:
        case MK_OP_ATANH:
        case MK_OP_LOGICAL_NOT:
#define MK_IN_FAMILY_UNARY ~, 1
#include "ir/op_cases.h"
#undef MK_IN_FAMILY_UNARY
            for (size_t i = 0; i < n; i++) o[i] = (float)funary(kind, a[i], eps);
            return MK_OK;
        }
    }
    for (size_t i = 0; i < n; i++) store(out, i, funary(kind, mk_rt_f64(x, i), eps));
    return MK_OK;
}

mk_status mk_k_clip(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    mk_status st = same_numel(k, x, out);
    double lo, hi;
    if (st || (st = mk_kfloat(k, "alpha", k->op->kind == MK_OP_CLIP ? -INFINITY : 0, &lo)) ||
        (st = mk_kfloat(k, "beta", INFINITY, &hi)))
        return st;
    if (mk_interp_layout(x->type.dtype) == MK_L_F32 &&
        mk_interp_layout(out->type.dtype) == MK_L_F32) {
        const float *a = x->data;
        float *o = out->data, flo = (float)lo, fhi = (float)hi;
        if (k->op->kind == MK_OP_CLIP) /* NaN stays NaN: mk_fmax/fmin return b on NaN */
            MK_VLOOP(out->numel, o[i] = mk_fmin(fhi, mk_fmax(flo, a[i])));
        else
            MK_VLOOP(out->numel, o[i] = mk_fmax(flo, a[i]));
        return MK_OK;
    }
    for (size_t i = 0; i < out->numel; i++) {
        double v = mk_rt_f64(x, i);
        if (k->op->kind == MK_OP_CLIP)
            v = v < lo ? lo : v > hi ? hi : v;
        else
            v = v > lo ? v : lo;
        store(out, i, v);
    }
    return MK_OK;
}

/* ---- activations ---- */
mk_status mk_k_activation(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    mk_status st = same_numel(k, x, out);
    if (st) return st;
    if (mk_interp_layout(x->type.dtype) != MK_L_F32 ||
        mk_interp_layout(out->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EUNSUPPORTED, "activations take float tensors");
    mk_op_kind kind = k->op->kind;
    double da = 0, db = 0;
    switch (kind) {
    case MK_OP_LEAKY_RELU: da = 0.01; break;
    case MK_OP_ELU: da = 1.0; break;
    case MK_OP_SIGMOID_HARD: da = 0.2, db = 0.5; break;
    case MK_OP_SCALED_TANH: da = 1.0, db = 1.0; break;
    case MK_OP_LINEAR_ACTIVATION: da = 1.0, db = 0.0; break;
    case MK_OP_RELU:
    case MK_OP_RELU6:
    case MK_OP_SIGMOID:
    case MK_OP_SILU:
    case MK_OP_TANH:
    case MK_OP_GELU:
    case MK_OP_SOFTPLUS:
    case MK_OP_SOFTSIGN:
#define MK_IN_FAMILY_ACT ~, 1
#include "ir/op_cases.h"
#undef MK_IN_FAMILY_ACT
        break;
    }
    double alpha, beta;
    if ((st = mk_kfloat(k, "alpha", da, &alpha)) || (st = mk_kfloat(k, "beta", db, &beta)))
        return st;
    const float *a = x->data;
    float *o = out->data;
    float fa = (float)alpha, fb = (float)beta;
    size_t n = out->numel;
    const char *mode = mk_kstr(k, "mode", "EXACT");
    switch (kind) {
    /* branch-free selects in 16-wide chunks: SIMD at -O2 */
    case MK_OP_RELU: MK_VLOOP(n, o[i] = mk_relu(a[i])); break;
    case MK_OP_RELU6: MK_VLOOP(n, o[i] = mk_fmin(mk_relu(a[i]), 6.0f)); break;
    case MK_OP_LEAKY_RELU: MK_VLOOP(n, o[i] = mk_sign_select(a[i], fa * a[i])); break;
    case MK_OP_ELU:
        for (size_t i = 0; i < n; i++) o[i] = a[i] > 0 ? a[i] : fa * expm1f(a[i]);
        break;
    case MK_OP_SIGMOID:
        for (size_t i = 0; i < n; i++) o[i] = 1.0f / (1.0f + expf(-a[i]));
        break;
    case MK_OP_SIGMOID_HARD: /* selects: NaN passes, -0 stays */
        MK_VLOOP(n, o[i] = mk_fmin(1.0f, mk_fmax(0.0f, fa * a[i] + fb)));
        break;
    case MK_OP_SILU:
        for (size_t i = 0; i < n; i++) o[i] = a[i] / (1.0f + expf(-a[i]));
        break;
    case MK_OP_TANH:
        for (size_t i = 0; i < n; i++) o[i] = tanhf(a[i]);
        break;
    case MK_OP_SCALED_TANH:
        for (size_t i = 0; i < n; i++) o[i] = fa * tanhf(fb * a[i]);
        break;
    case MK_OP_GELU:
        if (strcmp(mode, "TANH_APPROXIMATION") == 0) {
            const float c = 0.7978845608f;
            for (size_t i = 0; i < n; i++)
                o[i] = 0.5f * a[i] * (1.0f + tanhf(c * (a[i] + 0.044715f * a[i] * a[i] * a[i])));
        } else if (strcmp(mode, "SIGMOID_APPROXIMATION") == 0) {
            for (size_t i = 0; i < n; i++) o[i] = a[i] / (1.0f + expf(-1.702f * a[i]));
        } else if (strcmp(mode, "EXACT") == 0) {
            mk_vec_gelu(a, o, (int64_t)n);
            k->path = "gelu: exact, polynomial erf";
        } else {
            return mk_kerr(k, MK_EINVAL, "unknown gelu mode '%s'", mode);
        }
        break;
    case MK_OP_SOFTPLUS:
        for (size_t i = 0; i < n; i++) o[i] = a[i] > 20 ? a[i] : log1pf(expf(a[i]));
        break;
    case MK_OP_SOFTSIGN:
        for (size_t i = 0; i < n; i++) o[i] = a[i] / (1.0f + fabsf(a[i]));
        break;
    case MK_OP_LINEAR_ACTIVATION: MK_VLOOP(n, o[i] = fa * a[i] + fb); break;
#define MK_IN_FAMILY_ACT ~, 1
#include "ir/op_cases.h"
#undef MK_IN_FAMILY_ACT
        return mk_kerr(k, MK_EINTERNAL, "not an activation");
    }
    return MK_OK;
}

mk_status mk_k_prelu(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *al = mk_kin(k, "alpha"), *out = k->outs[0];
    if (!x || !al) return mk_kerr(k, MK_EINVAL, "needs x and alpha");
    mk_status st = same_numel(k, x, out);
    if (st) return st;
    if (x->type.rank < 2 || mk_interp_layout(x->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "x must be a float tensor of rank >= 2");
    int64_t c = x->type.dims[1], inner = 1;
    for (int i = 2; i < x->type.rank; i++) inner *= x->type.dims[i];
    if (al->numel != (size_t)c && al->numel != 1)
        return mk_kerr(k, MK_EINVAL, "alpha has %zu values for %lld channels", al->numel,
                       (long long)c);
    const float *a = x->data;
    float *o = out->data;
    for (size_t i = 0; i < out->numel; i++) {
        size_t ch = al->numel == 1 ? 0 : (size_t)((int64_t)(i / (size_t)(inner ? inner : 1)) % c);
        float s = (float)mk_rt_f64(al, ch);
        o[i] = a[i] >= 0 ? a[i] : s * a[i];
    }
    return MK_OK;
}

mk_status mk_k_cast(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    mk_status st = same_numel(k, x, out);
    if (st) return st;
    mk_dtype dt = out->type.dtype;
    double lo = -INFINITY, hi = INFINITY;
    switch ((int)dt) {
    case MK_DT_INT8: lo = -128, hi = 127; break;
    case MK_DT_UINT8: lo = 0, hi = 255; break;
    case MK_DT_INT16: lo = -32768, hi = 32767; break;
    case MK_DT_UINT16: lo = 0, hi = 65535; break;
    default: break;
    }
    mk_layout lo_in = mk_interp_layout(x->type.dtype), lo_out = mk_interp_layout(dt);
    if (lo_in == MK_L_F32 && lo_out == MK_L_F32) {
        memcpy(out->data, x->data, x->numel * 4); /* rounding to half follows the op */
        return MK_OK;
    }
    for (size_t i = 0; i < out->numel; i++) {
        double v = mk_rt_f64(x, i);
        if (lo_out == MK_L_I32) {
            v = trunc(v);
            v = v < lo ? lo : v > hi ? hi : v;
        }
        store(out, i, v);
    }
    return MK_OK;
}
