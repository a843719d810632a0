/* Constant folding at convert time: evaluates ONNX nodes whose inputs are all constants
 * (shape arithmetic: Shape/Gather/Concat/Reshape chains, ConstantOfShape, Range, Cast,
 * Unsqueeze/Squeeze, elementwise arithmetic and comparisons, Where, Slice, Expand, Tile,
 * Transpose, small reductions) so Core ML gets static values instead of fill/range_1d.
 * Works on canonical constants (fp32, int64, bool). Anything else returns MK_EUNSUPPORTED
 * and is lowered normally. */
#include <math.h>
#include <string.h>

#include "onnx_int.h"

/* Bounds on what folding may allocate: per result and for the whole import, so a tiny
 * hostile model cannot ask for gigabytes (large results are lowered instead). */
#define FOLD_MAX_ELEMS ((size_t)1 << 22)
#define FOLD_MAX_TOTAL ((size_t)1 << 28)

typedef struct cbuf {
    mk_type t;
    void *d;
} cbuf;

static int esize(mk_dtype d)
{
    return d == MK_DT_BOOL ? 1 : d == MK_DT_FP32 ? 4 : 8;
}

static mk_status alloc_out(ox_ctx *c, ox_val *o, const mk_type *t, void **d)
{
    size_t n = mk_onnx_numel(t), nb;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0 || t->dims[i] > INT32_MAX) return MK_EUNSUPPORTED;
    if (t->rank > 0 && !mk_type_numel(t, &nb)) return MK_EUNSUPPORTED;
    if (n > FOLD_MAX_ELEMS) return MK_EUNSUPPORTED;
    if (!mk_mul_size(n, (size_t)esize(t->dtype), &nb)) return MK_EUNSUPPORTED;
    if (c->fold_bytes + nb > FOLD_MAX_TOTAL) return MK_EUNSUPPORTED;
    c->fold_bytes += nb;
    *d = mk_arena_alloc(c->p->arena, nb ? nb : 1);
    if (!*d) return MK_OOM(c->err);
    o->type = *t;
    o->data = *d;
    o->nbytes = nb;
    o->mil = NULL;
    return MK_OK;
}

static void put(mk_dtype dt, void *d, size_t i, double f, int64_t x)
{
    switch ((int)dt) {
    case MK_DT_FP32: ((float *)d)[i] = (float)f; break;
    case MK_DT_INT64: ((int64_t *)d)[i] = x; break;
    default: ((uint8_t *)d)[i] = x != 0; break;
    }
}

/* Copy element j of v into element i of d (same dtype). */
static void copy_el(const ox_val *v, void *d, size_t i, size_t j)
{
    int es = esize(v->type.dtype);
    memcpy((char *)d + (size_t)es * i, (const char *)v->data + (size_t)es * j, (size_t)es);
}

/* Flat index into a (broadcast) source of type st for output multi-index idx of rank r. */
static size_t bidx(const mk_type *st, const int64_t *idx, int r)
{
    size_t off = 0;
    for (int i = 0; i < st->rank; i++) {
        int oi = i + (r - st->rank);
        int64_t d = st->dims[i];
        off = off * (size_t)d + (size_t)(d == 1 ? 0 : idx[oi]);
    }
    return off;
}

static void next_idx(int64_t *idx, const mk_type *t)
{
    for (int i = t->rank - 1; i >= 0; i--) {
        if (++idx[i] < t->dims[i]) return;
        idx[i] = 0;
    }
}

static int int_like(const ox_val *v)
{
    return v->type.dtype == MK_DT_INT64 || v->type.dtype == MK_DT_BOOL;
}

typedef enum {
    F_ADD,
    F_SUB,
    F_MUL,
    F_DIV,
    F_MOD,
    F_POW,
    F_MIN,
    F_MAX,
    F_EQ,
    F_LT,
    F_GT,
    F_LE,
    F_GE,
    F_AND,
    F_OR,
    F_XOR
} binop;

static mk_status fold_binary(ox_ctx *c, binop op, ox_val *a, ox_val *b, ox_val *o, int fmod_attr)
{
    mk_type t;
    if (!mk_onnx_bcast(&a->type, &b->type, &t)) return MK_EUNSUPPORTED;
    int cmp = op >= F_EQ && op <= F_GE, logic = op >= F_AND;
    int isint = int_like(a) && int_like(b);
    t.dtype = cmp || logic ? MK_DT_BOOL : a->type.dtype;
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n = mk_onnx_numel(&t);
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n; i++, next_idx(idx, &t)) {
        size_t ia = bidx(&a->type, idx, t.rank), ib = bidx(&b->type, idx, t.rank);
        if (isint) {
            int64_t x = mk_onnx_cget_i(a, ia), y = mk_onnx_cget_i(b, ib), r = 0;
            switch (op) {
            case F_ADD: r = (int64_t)((uint64_t)x + (uint64_t)y); break;
            case F_SUB: r = (int64_t)((uint64_t)x - (uint64_t)y); break;
            case F_MUL: r = (int64_t)((uint64_t)x * (uint64_t)y); break;
            case F_DIV:
                if (y == 0 || (x == INT64_MIN && y == -1)) return MK_EUNSUPPORTED;
                r = x / y;
                break;
            case F_MOD:
                if (y == 0 || (x == INT64_MIN && y == -1)) return MK_EUNSUPPORTED;
                r = x % y;
                if (!fmod_attr && r != 0 && ((r < 0) != (y < 0))) r += y;
                break;
            case F_POW: {
                r = 1;
                if (y < 0 || y > 62) return MK_EUNSUPPORTED;
                for (int64_t k = 0; k < y; k++) r = (int64_t)((uint64_t)r * (uint64_t)x);
                break;
            }
            case F_MIN: r = x < y ? x : y; break;
            case F_MAX: r = x > y ? x : y; break;
            case F_EQ: r = x == y; break;
            case F_LT: r = x < y; break;
            case F_GT: r = x > y; break;
            case F_LE: r = x <= y; break;
            case F_GE: r = x >= y; break;
            case F_AND: r = x && y; break;
            case F_OR: r = x || y; break;
            case F_XOR: r = (!!x) ^ (!!y); break;
            }
            put(t.dtype, d, i, (double)r, r);
        } else {
            double x = mk_onnx_cget_f(a, ia), y = mk_onnx_cget_f(b, ib), r = 0;
            float fx = (float)x, fy = (float)y;
            switch (op) {
            case F_ADD: r = fx + fy; break;
            case F_SUB: r = fx - fy; break;
            case F_MUL: r = fx * fy; break;
            case F_DIV: r = fx / fy; break;
            case F_MOD: r = fmodf(fx, fy); break;
            case F_POW: r = powf(fx, fy); break;
            case F_MIN: r = fx < fy ? fx : fy; break;
            case F_MAX: r = fx > fy ? fx : fy; break;
            case F_EQ: r = fx == fy; break;
            case F_LT: r = fx < fy; break;
            case F_GT: r = fx > fy; break;
            case F_LE: r = fx <= fy; break;
            case F_GE: r = fx >= fy; break;
            case F_AND:
            case F_OR:
            case F_XOR: return MK_EUNSUPPORTED;
            }
            put(t.dtype, d, i, r, (int64_t)r);
        }
    }
    return MK_OK;
}

static mk_status fold_unary(ox_ctx *c, const char *ot, ox_val *a, ox_val *o)
{
    mk_type t = a->type;
    int isint = a->type.dtype == MK_DT_INT64;
    if (strcmp(ot, "Not") == 0) {
        if (a->type.dtype != MK_DT_BOOL) return MK_EUNSUPPORTED;
    } else if (a->type.dtype == MK_DT_BOOL) {
        return MK_EUNSUPPORTED;
    }
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n = mk_onnx_numel(&t);
    for (size_t i = 0; i < n; i++) {
        if (isint || a->type.dtype == MK_DT_BOOL) {
            int64_t x = mk_onnx_cget_i(a, i), r;
            if (strcmp(ot, "Neg") == 0)
                r = (int64_t)(0 - (uint64_t)x);
            else if (strcmp(ot, "Abs") == 0)
                r = x < 0 ? (int64_t)(0 - (uint64_t)x) : x;
            else if (strcmp(ot, "Not") == 0)
                r = !x;
            else if (strcmp(ot, "Sign") == 0)
                r = (x > 0) - (x < 0);
            else if (strcmp(ot, "Identity") == 0 || strcmp(ot, "Floor") == 0 ||
                     strcmp(ot, "Ceil") == 0 || strcmp(ot, "Round") == 0 || strcmp(ot, "Relu") == 0)
                r = strcmp(ot, "Relu") == 0 && x < 0 ? 0 : x;
            else
                return MK_EUNSUPPORTED;
            put(t.dtype, d, i, (double)r, r);
        } else {
            float x = (float)mk_onnx_cget_f(a, i), r;
            if (strcmp(ot, "Neg") == 0)
                r = -x;
            else if (strcmp(ot, "Abs") == 0)
                r = fabsf(x);
            else if (strcmp(ot, "Sqrt") == 0)
                r = sqrtf(x);
            else if (strcmp(ot, "Floor") == 0)
                r = floorf(x);
            else if (strcmp(ot, "Ceil") == 0)
                r = ceilf(x);
            else if (strcmp(ot, "Round") == 0)
                r = nearbyintf(x);
            else if (strcmp(ot, "Reciprocal") == 0)
                r = 1.0f / x;
            else if (strcmp(ot, "Exp") == 0)
                r = expf(x);
            else if (strcmp(ot, "Log") == 0)
                r = logf(x);
            else if (strcmp(ot, "Relu") == 0)
                r = x > 0 ? x : 0;
            else if (strcmp(ot, "Identity") == 0)
                r = x;
            else if (strcmp(ot, "Sign") == 0)
                r = (float)((x > 0) - (x < 0));
            else
                return MK_EUNSUPPORTED;
            put(t.dtype, d, i, r, 0);
        }
    }
    return MK_OK;
}

static mk_status fold_cast(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *o)
{
    int to = (int)mk_onnx_attr_i(n, "to", 0);
    mk_dtype dt = mk_onnx_const_dtype(to);
    if (dt == MK_DT_INVALID) return MK_EUNSUPPORTED;
    mk_type t = a->type;
    t.dtype = dt;
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n_el = mk_onnx_numel(&t);
    for (size_t i = 0; i < n_el; i++) {
        if (dt == MK_DT_FP32) {
            float f = (float)mk_onnx_cget_f(a, i);
            if (to == 10) f = mk_round_f16(f);
            put(dt, d, i, f, 0);
        } else if (dt == MK_DT_BOOL) {
            put(dt, d, i, 0, mk_onnx_cget_f(a, i) != 0);
        } else {
            int64_t x = mk_onnx_cget_i(a, i);
            switch (to) { /* wrap to the target width */
            case 2: x = (uint8_t)x; break;
            case 3: x = (int8_t)x; break;
            case 4: x = (uint16_t)x; break;
            case 5: x = (int16_t)x; break;
            case 6: x = (int32_t)x; break;
            case 12: x = (uint32_t)x; break;
            default: break;
            }
            put(dt, d, i, 0, x);
        }
    }
    return MK_OK;
}

/* Read a constant int list (input or attribute); returns count or -1. */
static int ints_of(const ox_val *v, int64_t *out, int max)
{
    if (!v || !v->data || v->type.dtype == MK_DT_FP32) return -1;
    size_t n = mk_onnx_numel(&v->type);
    if (v->type.rank > 1 || n > (size_t)max) return -1;
    for (size_t i = 0; i < n; i++) out[i] = mk_onnx_cget_i(v, i);
    return (int)n;
}

static mk_status fold_reshape_like(ox_ctx *c, ox_val *a, ox_val *o, int rank, const int64_t *dims)
{
    (void)c;
    mk_type t = mk_type_make(a->type.dtype, rank, dims);
    size_t nt;
    if ((rank && !mk_type_numel(&t, &nt)) || mk_onnx_numel(&t) != mk_onnx_numel(&a->type))
        return MK_EUNSUPPORTED;
    o->type = t;
    o->data = a->data;
    o->nbytes = a->nbytes;
    o->borrowed = a->borrowed;
    o->mil = NULL;
    return MK_OK;
}

static mk_status fold_concat(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o)
{
    ox_val *first = NULL;
    for (int i = 0; i < n_in; i++)
        if (in[i] && (!first || mk_onnx_numel(&first->type) == 0)) first = in[i];
    if (!first) return MK_EUNSUPPORTED;
    int rank = first->type.rank, ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), rank, &ax)) return MK_EUNSUPPORTED;
    mk_type t = first->type;
    t.dims[ax] = 0;
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) continue;
        if (in[i]->type.rank != rank || in[i]->type.dtype != t.dtype) {
            if (mk_onnx_numel(&in[i]->type) == 0 && in[i]->type.rank == 1) continue;
            return MK_EUNSUPPORTED;
        }
        for (int k = 0; k < rank; k++)
            if (k != ax && in[i]->type.dims[k] != t.dims[k]) return MK_EUNSUPPORTED;
        t.dims[ax] += in[i]->type.dims[ax];
    }
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t outer = 1, inner = 1;
    for (int k = 0; k < ax; k++) outer *= (size_t)t.dims[k];
    for (int k = ax + 1; k < rank; k++) inner *= (size_t)t.dims[k];
    size_t es = (size_t)esize(t.dtype), pos = 0;
    for (size_t ou = 0; ou < outer; ou++)
        for (int i = 0; i < n_in; i++) {
            if (!in[i] || in[i]->type.rank != rank) continue;
            size_t chunk = (size_t)in[i]->type.dims[ax] * inner * es;
            memcpy((char *)d + pos, (const char *)in[i]->data + ou * chunk, chunk);
            pos += chunk;
        }
    return MK_OK;
}

static mk_status fold_gather(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *ix, ox_val *o)
{
    int ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), a->type.rank, &ax) || a->type.rank == 0 ||
        ix->type.dtype != MK_DT_INT64)
        return MK_EUNSUPPORTED;
    int r = a->type.rank - 1 + ix->type.rank;
    if (r > MK_MAX_RANK) return MK_EUNSUPPORTED;
    mk_type t = mk_type_make(a->type.dtype, r, NULL);
    int k = 0;
    for (int i = 0; i < ax; i++) t.dims[k++] = a->type.dims[i];
    for (int i = 0; i < ix->type.rank; i++) t.dims[k++] = ix->type.dims[i];
    for (int i = ax + 1; i < a->type.rank; i++) t.dims[k++] = a->type.dims[i];
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t outer = 1, inner = 1, ni = mk_onnx_numel(&ix->type);
    int64_t dim = a->type.dims[ax];
    for (int i = 0; i < ax; i++) outer *= (size_t)a->type.dims[i];
    for (int i = ax + 1; i < a->type.rank; i++) inner *= (size_t)a->type.dims[i];
    size_t es = (size_t)esize(t.dtype);
    for (size_t ou = 0; ou < outer; ou++)
        for (size_t j = 0; j < ni; j++) {
            int64_t q = mk_onnx_cget_i(ix, j);
            if (q < 0) q += dim;
            if (q < 0 || q >= dim) return MK_EUNSUPPORTED;
            memcpy((char *)d + ((ou * ni + j) * inner) * es,
                   (const char *)a->data + ((ou * (size_t)dim + (size_t)q) * inner) * es,
                   inner * es);
        }
    return MK_OK;
}

/* Slice on constants, with the ONNX clamping rules. */
static mk_status fold_slice(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o)
{
    ox_val *a = in[0];
    int r = a->type.rank;
    int64_t st_[MK_MAX_RANK], en[MK_MAX_RANK], ax[MK_MAX_RANK], sp[MK_MAX_RANK];
    int ns, ne, na = -1, nsp = -1;
    if (c->opset < 10) {
        const int64_t *v;
        ns = mk_onnx_attr_ints(n, "starts", &v);
        if (ns < 0 || ns > r) return MK_EUNSUPPORTED;
        memcpy(st_, v, (size_t)ns * 8);
        ne = mk_onnx_attr_ints(n, "ends", &v);
        if (ne != ns) return MK_EUNSUPPORTED;
        memcpy(en, v, (size_t)ne * 8);
        na = mk_onnx_attr_ints(n, "axes", &v);
        if (na > r) return MK_EUNSUPPORTED;
        if (na > 0) memcpy(ax, v, (size_t)na * 8);
    } else {
        ns = ints_of(n_in > 1 ? in[1] : NULL, st_, MK_MAX_RANK);
        ne = ints_of(n_in > 2 ? in[2] : NULL, en, MK_MAX_RANK);
        if (n_in > 3 && in[3]) na = ints_of(in[3], ax, MK_MAX_RANK);
        if (n_in > 4 && in[4]) nsp = ints_of(in[4], sp, MK_MAX_RANK);
        if (ns < 0 || ne != ns) return MK_EUNSUPPORTED;
    }
    int64_t b[MK_MAX_RANK], s[MK_MAX_RANK];
    mk_type t = a->type;
    for (int i = 0; i < r; i++) b[i] = 0, s[i] = 1;
    for (int k = 0; k < ns; k++) {
        int axis;
        if (!norm_axis(na >= 0 ? ax[k] : k, r, &axis)) return MK_EUNSUPPORTED;
        int64_t dim = a->type.dims[axis], step = nsp >= 0 ? sp[k] : 1;
        if (step == 0) return MK_EUNSUPPORTED;
        int64_t bs = st_[k], es_ = en[k];
        int64_t len = ox_slice_axis(dim, &bs, &es_, &step);
        b[axis] = bs, s[axis] = step;
        t.dims[axis] = len;
    }
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n_el = mk_onnx_numel(&t);
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n_el; i++, next_idx(idx, &t)) {
        size_t off = 0;
        for (int k = 0; k < r; k++)
            off = off * (size_t)a->type.dims[k] + (size_t)(b[k] + idx[k] * s[k]);
        copy_el(a, d, i, off);
    }
    return MK_OK;
}

static mk_status fold_transpose(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *o)
{
    int r = a->type.rank, perm[MK_MAX_RANK];
    const int64_t *pv;
    int np = mk_onnx_attr_ints(n, "perm", &pv);
    for (int i = 0; i < r; i++) perm[i] = np == r ? (int)pv[i] : r - 1 - i;
    mk_type t = a->type;
    for (int i = 0; i < r; i++) {
        if (perm[i] < 0 || perm[i] >= r) return MK_EUNSUPPORTED;
        t.dims[i] = a->type.dims[perm[i]];
    }
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n_el = mk_onnx_numel(&t), stride[MK_MAX_RANK];
    size_t acc = 1;
    for (int i = r - 1; i >= 0; i--) stride[i] = acc, acc *= (size_t)a->type.dims[i];
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n_el; i++, next_idx(idx, &t)) {
        size_t off = 0;
        for (int k = 0; k < r; k++) off += (size_t)idx[k] * stride[perm[k]];
        copy_el(a, d, i, off);
    }
    return MK_OK;
}

/* Expand / Tile / Where share a broadcast copy. */
static mk_status fold_expand(ox_ctx *c, ox_val *a, ox_val *shape, ox_val *o)
{
    int64_t sh[MK_MAX_RANK];
    int ns = ints_of(shape, sh, MK_MAX_RANK);
    if (ns < 0) return MK_EUNSUPPORTED;
    mk_type st = mk_type_make(a->type.dtype, ns, sh), t;
    if (!mk_onnx_bcast(&a->type, &st, &t)) return MK_EUNSUPPORTED;
    void *d;
    mk_status s = alloc_out(c, o, &t, &d);
    if (s != MK_OK) return s;
    size_t n_el = mk_onnx_numel(&t);
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n_el; i++, next_idx(idx, &t))
        copy_el(a, d, i, bidx(&a->type, idx, t.rank));
    return MK_OK;
}

static mk_status fold_tile(ox_ctx *c, ox_val *a, ox_val *reps, ox_val *o)
{
    int64_t rp[MK_MAX_RANK];
    int nr = ints_of(reps, rp, MK_MAX_RANK), r = a->type.rank;
    if (nr != r) return MK_EUNSUPPORTED;
    mk_type t = a->type;
    for (int i = 0; i < r; i++) {
        if (rp[i] < 0 || !mk_mul_i64(t.dims[i], rp[i], &t.dims[i])) return MK_EUNSUPPORTED;
    }
    void *d;
    mk_status s = alloc_out(c, o, &t, &d);
    if (s != MK_OK) return s;
    size_t n_el = mk_onnx_numel(&t);
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n_el; i++, next_idx(idx, &t)) {
        size_t off = 0;
        for (int k = 0; k < r; k++)
            off = off * (size_t)a->type.dims[k] + (size_t)(idx[k] % a->type.dims[k]);
        copy_el(a, d, i, off);
    }
    return MK_OK;
}

static mk_status fold_where(ox_ctx *c, ox_val *cd, ox_val *a, ox_val *b, ox_val *o)
{
    mk_type t1, t;
    if (!mk_onnx_bcast(&cd->type, &a->type, &t1) || !mk_onnx_bcast(&t1, &b->type, &t) ||
        a->type.dtype != b->type.dtype)
        return MK_EUNSUPPORTED;
    t.dtype = a->type.dtype;
    void *d;
    mk_status s = alloc_out(c, o, &t, &d);
    if (s != MK_OK) return s;
    size_t n_el = mk_onnx_numel(&t);
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n_el; i++, next_idx(idx, &t)) {
        int pick = mk_onnx_cget_i(cd, bidx(&cd->type, idx, t.rank)) != 0;
        ox_val *src = pick ? a : b;
        copy_el(src, d, i, bidx(&src->type, idx, t.rank));
    }
    return MK_OK;
}

static mk_status fold_range(ox_ctx *c, ox_val *s, ox_val *l, ox_val *dl, ox_val *o)
{
    if (mk_onnx_numel(&s->type) != 1 || mk_onnx_numel(&l->type) != 1 ||
        mk_onnx_numel(&dl->type) != 1)
        return MK_EUNSUPPORTED;
    mk_type t = mk_type_make(s->type.dtype, 1, NULL);
    if (s->type.dtype == MK_DT_INT64) {
        int64_t a = mk_onnx_cget_i(s, 0), b = mk_onnx_cget_i(l, 0), d = mk_onnx_cget_i(dl, 0);
        if (d == 0) return MK_EUNSUPPORTED;
        double cnt = ceil(((double)b - (double)a) / (double)d);
        t.dims[0] = cnt > 0 ? (int64_t)cnt : 0;
        if (t.dims[0] > (int64_t)FOLD_MAX_ELEMS) return MK_EUNSUPPORTED;
        void *p;
        mk_status st = alloc_out(c, o, &t, &p);
        if (st != MK_OK) return st;
        for (int64_t i = 0; i < t.dims[0]; i++) ((int64_t *)p)[i] = a + i * d;
        return MK_OK;
    }
    float a = (float)mk_onnx_cget_f(s, 0), b = (float)mk_onnx_cget_f(l, 0),
          d = (float)mk_onnx_cget_f(dl, 0);
    if (d == 0 || !(a == a) || !(b == b)) return MK_EUNSUPPORTED;
    double cnt = ceil(((double)b - (double)a) / (double)d);
    t.dims[0] = cnt > 0 ? (int64_t)cnt : 0;
    if (t.dims[0] > (int64_t)FOLD_MAX_ELEMS) return MK_EUNSUPPORTED;
    void *p;
    mk_status st = alloc_out(c, o, &t, &p);
    if (st != MK_OK) return st;
    for (int64_t i = 0; i < t.dims[0]; i++) ((float *)p)[i] = a + (float)i * d;
    return MK_OK;
}

static mk_status fold_const_of_shape(ox_ctx *c, const Onnx__NodeProto *n, ox_val *s, ox_val *o)
{
    int64_t sh[MK_MAX_RANK];
    int ns = ints_of(s, sh, MK_MAX_RANK);
    if (ns < 0) return MK_EUNSUPPORTED;
    for (int i = 0; i < ns; i++)
        if (sh[i] < 0) return mk_err_set(c->err, MK_EINVAL, "negative dim %lld", (long long)sh[i]);
    ox_val fill;
    memset(&fill, 0, sizeof fill);
    const Onnx__AttributeProto *a = mk_onnx_attr(n, "value");
    float zero = 0;
    if (a && a->t) {
        mk_status st = mk_onnx_tensor(c, a->t, &fill);
        if (st != MK_OK) return st;
        if (mk_onnx_numel(&fill.type) != 1)
            return mk_err_set(c->err, MK_EINVAL, "value must have one element");
    } else {
        fill.type = mk_type_scalar(MK_DT_FP32);
        fill.data = &zero;
    }
    mk_type t = mk_type_make(fill.type.dtype, ns, sh);
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n_el = mk_onnx_numel(&t);
    for (size_t i = 0; i < n_el; i++) copy_el(&fill, d, i, 0);
    return MK_OK;
}

static mk_status fold_reduce(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o,
                             int prod)
{
    ox_val *a = in[0];
    int r = a->type.rank;
    int64_t axes[MK_MAX_RANK];
    int na;
    int axes_as_input = prod ? c->opset >= 18 : c->opset >= 13;
    if (axes_as_input) {
        na = n_in > 1 && in[1] ? ints_of(in[1], axes, MK_MAX_RANK) : 0;
    } else {
        const int64_t *v;
        na = mk_onnx_attr_ints(n, "axes", &v);
        if (na > MK_MAX_RANK) return MK_EUNSUPPORTED;
        if (na > 0) memcpy(axes, v, (size_t)na * 8);
        if (na < 0) na = 0;
    }
    if (na < 0) return MK_EUNSUPPORTED;
    int keep = (int)mk_onnx_attr_i(n, "keepdims", 1);
    if (na == 0 && mk_onnx_attr_i(n, "noop_with_empty_axes", 0)) return MK_EUNSUPPORTED;
    int red[MK_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
        int ax;
        if (!norm_axis(axes[i], r, &ax)) return MK_EUNSUPPORTED;
        red[ax] = 1;
    }
    if (na == 0)
        for (int i = 0; i < r; i++) red[i] = 1;
    mk_type t = mk_type_make(a->type.dtype, 0, NULL);
    for (int i = 0; i < r; i++) {
        if (!red[i])
            t.dims[t.rank++] = a->type.dims[i];
        else if (keep)
            t.dims[t.rank++] = 1;
    }
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    size_t n_out = mk_onnx_numel(&t), n_el = mk_onnx_numel(&a->type);
    double *acc = mk_arena_array(c->p->arena, n_out ? n_out : 1, sizeof *acc);
    if (!acc) return MK_OOM(c->err);
    for (size_t i = 0; i < n_out; i++) acc[i] = prod ? 1 : 0;
    int64_t idx[MK_MAX_RANK] = {0};
    for (size_t i = 0; i < n_el; i++, next_idx(idx, &a->type)) {
        size_t off = 0;
        for (int k = 0; k < r; k++)
            if (!red[k]) off = off * (size_t)a->type.dims[k] + (size_t)idx[k];
        double x = mk_onnx_cget_f(a, i);
        acc[off] = prod ? acc[off] * x : acc[off] + x;
    }
    for (size_t i = 0; i < n_out; i++) put(t.dtype, d, i, acc[i], (int64_t)acc[i]);
    return MK_OK;
}

static mk_status fold_squeeze_like(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in,
                                   ox_val *o, int unsq)
{
    ox_val *a = in[0];
    int64_t axes[MK_MAX_RANK];
    int na;
    if (c->opset >= 13) {
        na = n_in > 1 && in[1] ? ints_of(in[1], axes, MK_MAX_RANK) : (unsq ? -1 : 0);
    } else {
        const int64_t *v;
        na = mk_onnx_attr_ints(n, "axes", &v);
        if (na > MK_MAX_RANK) return MK_EUNSUPPORTED;
        if (na > 0) memcpy(axes, v, (size_t)na * 8);
        if (na < 0) na = unsq ? -1 : 0;
    }
    if (na < 0) return MK_EUNSUPPORTED;
    int64_t dims[MK_MAX_RANK];
    int r = a->type.rank, nr = 0;
    if (unsq) {
        int out_r = r + na, flag[MK_MAX_RANK] = {0};
        if (out_r > MK_MAX_RANK) return MK_EUNSUPPORTED;
        for (int i = 0; i < na; i++) {
            int ax;
            if (!norm_axis(axes[i], out_r, &ax)) return MK_EUNSUPPORTED;
            flag[ax] = 1;
        }
        int k = 0;
        for (int i = 0; i < out_r; i++) dims[nr++] = flag[i] ? 1 : a->type.dims[k++];
        if (k != r) return MK_EUNSUPPORTED;
    } else {
        int flag[MK_MAX_RANK] = {0};
        for (int i = 0; i < na; i++) {
            int ax;
            if (!norm_axis(axes[i], r, &ax) || a->type.dims[ax] != 1) return MK_EUNSUPPORTED;
            flag[ax] = 1;
        }
        for (int i = 0; i < r; i++) {
            if (na == 0 ? a->type.dims[i] == 1 : flag[i]) continue;
            dims[nr++] = a->type.dims[i];
        }
    }
    return fold_reshape_like(c, a, o, nr, dims);
}

static mk_status fold_reshape(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val *o)
{
    ox_val *a = in[0];
    int64_t sh[MK_MAX_RANK];
    int ns;
    if (c->opset < 5) return MK_EUNSUPPORTED;
    ns = n_in > 1 ? ints_of(in[1], sh, MK_MAX_RANK) : -1;
    if (ns < 0) return MK_EUNSUPPORTED;
    int allowzero = (int)mk_onnx_attr_i(n, "allowzero", 0), neg = -1;
    size_t known = 1, total = mk_onnx_numel(&a->type);
    for (int i = 0; i < ns; i++) {
        if (sh[i] == 0 && !allowzero) {
            if (i >= a->type.rank) return MK_EUNSUPPORTED;
            sh[i] = a->type.dims[i];
        }
        if (sh[i] == -1) {
            if (neg >= 0) return MK_EUNSUPPORTED;
            neg = i;
        } else if (sh[i] < 0) {
            return MK_EUNSUPPORTED;
        } else if (!mk_mul_size(known, (size_t)sh[i], &known)) {
            return MK_EUNSUPPORTED;
        }
    }
    if (neg >= 0) {
        if (known == 0 || total % known) return MK_EUNSUPPORTED;
        sh[neg] = (int64_t)(total / known);
    }
    return fold_reshape_like(c, a, o, ns, sh);
}

static mk_status fold_flatten(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *o)
{
    int r = a->type.rank, ax;
    int64_t axis = mk_onnx_attr_i(n, "axis", 1);
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) return MK_EUNSUPPORTED;
    ax = (int)axis;
    int64_t d[2] = {1, 1};
    for (int i = 0; i < r; i++) d[i < ax ? 0 : 1] *= a->type.dims[i];
    return fold_reshape_like(c, a, o, 2, d);
}

static mk_status fold_shape(ox_ctx *c, const Onnx__NodeProto *n, ox_val *a, ox_val *o)
{
    int r = a->type.rank;
    int64_t s = mk_onnx_attr_i(n, "start", 0), e = mk_onnx_attr_i(n, "end", r);
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = s < 0 ? 0 : s > r ? r : s;
    e = e < 0 ? 0 : e > r ? r : e;
    int64_t len = e > s ? e - s : 0;
    mk_type t = mk_type_make(MK_DT_INT64, 1, &len);
    int64_t dims[MK_MAX_RANK];
    for (int64_t i = s; i < e; i++) {
        if (a->type.dims[i] < 0) return MK_EUNSUPPORTED;
        dims[i - s] = a->type.dims[i];
    }
    return mk_onnx_set_const(c, o, &t, dims);
}

/* NonZero of a constant: [rank, count] int64 indices in row-major order. */
static mk_status fold_non_zero(ox_ctx *c, ox_val *a, ox_val *o)
{
    size_t n = mk_onnx_numel(&a->type), cnt = 0;
    int r = a->type.rank ? a->type.rank : 1;
    for (size_t i = 0; i < n; i++) cnt += mk_onnx_cget_f(a, i) != 0;
    int64_t dims[2] = {r, (int64_t)cnt};
    mk_type t = mk_type_make(MK_DT_INT64, 2, dims);
    void *d;
    mk_status st = alloc_out(c, o, &t, &d);
    if (st != MK_OK) return st;
    int64_t idx[MK_MAX_RANK] = {0};
    size_t k = 0;
    for (size_t i = 0; i < n; i++, next_idx(idx, &a->type)) {
        if (mk_onnx_cget_f(a, i) == 0) continue;
        for (int j = 0; j < r; j++) ((int64_t *)d)[(size_t)j * cnt + k] = a->type.rank ? idx[j] : 0;
        k++;
    }
    return MK_OK;
}

mk_status mk_onnx_fold(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, ox_val **out,
                       int n_out)
{
    const char *ot = n->op_type;
    if (n_out < 1) return MK_EUNSUPPORTED;
    ox_val *o = out[0];
    for (int i = 0; i < n_in; i++)
        if (in[i] && in[i]->type.dtype == MK_DT_INVALID) return MK_EUNSUPPORTED;
    static const struct {
        const char *name;
        binop op;
    } bins[] = {{"Add", F_ADD},    {"Sub", F_SUB},        {"Mul", F_MUL},           {"Div", F_DIV},
                {"Mod", F_MOD},    {"Pow", F_POW},        {"Equal", F_EQ},          {"Less", F_LT},
                {"Greater", F_GT}, {"LessOrEqual", F_LE}, {"GreaterOrEqual", F_GE}, {"And", F_AND},
                {"Or", F_OR},      {"Xor", F_XOR}};
    for (size_t i = 0; i < sizeof bins / sizeof *bins; i++)
        if (strcmp(ot, bins[i].name) == 0) {
            if (n_in != 2 || !in[0] || !in[1]) return MK_EUNSUPPORTED;
            return fold_binary(c, bins[i].op, in[0], in[1], o, (int)mk_onnx_attr_i(n, "fmod", 0));
        }
    if (strcmp(ot, "Min") == 0 || strcmp(ot, "Max") == 0 || strcmp(ot, "Sum") == 0) {
        if (n_in < 1 || !in[0]) return MK_EUNSUPPORTED;
        binop op = ot[1] == 'i' ? F_MIN : ot[1] == 'a' ? F_MAX : F_ADD;
        ox_val *acc = in[0];
        for (int i = 1; i < n_in; i++) {
            ox_val *tmp = i == n_in - 1 ? o : mk_arena_alloc(c->p->arena, sizeof *tmp);
            if (!tmp) return MK_OOM(c->err);
            mk_status st = fold_binary(c, op, acc, in[i], tmp, 0);
            if (st != MK_OK) return st;
            acc = tmp;
        }
        if (n_in == 1)
            *o = (ox_val){o->name, acc->type, acc->data, acc->nbytes,    acc->borrowed, NULL,
                          NULL,    0,         NULL,      acc->f16_range, NULL};
        return MK_OK;
    }
    static const char *const unary[] = {"Neg",        "Abs", "Sqrt", "Floor", "Ceil", "Round",
                                        "Reciprocal", "Exp", "Log",  "Relu",  "Not",  "Sign"};
    for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
        if (strcmp(ot, unary[i]) == 0)
            return n_in == 1 ? fold_unary(c, ot, in[0], o) : MK_EUNSUPPORTED;
    if (strcmp(ot, "Constant") == 0) {
        const Onnx__AttributeProto *a = mk_onnx_attr(n, "value");
        if (a && a->t) return mk_onnx_tensor(c, a->t, o);
        if ((a = mk_onnx_attr(n, "value_float"))) {
            mk_type t = mk_type_scalar(MK_DT_FP32);
            return mk_onnx_set_const(c, o, &t, &a->f);
        }
        if ((a = mk_onnx_attr(n, "value_int"))) {
            mk_type t = mk_type_scalar(MK_DT_INT64);
            return mk_onnx_set_const(c, o, &t, &a->i);
        }
        if ((a = mk_onnx_attr(n, "value_floats"))) {
            int64_t d = (int64_t)a->n_floats;
            mk_type t = mk_type_make(MK_DT_FP32, 1, &d);
            return mk_onnx_set_const(c, o, &t, a->floats);
        }
        if ((a = mk_onnx_attr(n, "value_ints"))) {
            int64_t d = (int64_t)a->n_ints;
            mk_type t = mk_type_make(MK_DT_INT64, 1, &d);
            return mk_onnx_set_const(c, o, &t, a->ints);
        }
        return mk_err_set(c->err, MK_EUNSUPPORTED, "Constant without a supported value");
    }
    if (n_in < 1 || !in[0]) {
        if (strcmp(ot, "Range") != 0) return MK_EUNSUPPORTED;
    }
    if (strcmp(ot, "Identity") == 0 || strcmp(ot, "Dropout") == 0) {
        ox_val *a = in[0];
        *o = (ox_val){o->name, a->type, a->data, a->nbytes,    a->borrowed, NULL,
                      NULL,    0,       NULL,    a->f16_range, NULL};
        if (n_out > 1 && out[1]) {
            /* Dropout mask: all true in inference */
            mk_type t = a->type;
            t.dtype = MK_DT_BOOL;
            void *d;
            mk_status st = alloc_out(c, out[1], &t, &d);
            if (st != MK_OK) return st;
            memset(d, 1, mk_onnx_numel(&t));
        }
        return MK_OK;
    }
    if (strcmp(ot, "Cast") == 0) return fold_cast(c, n, in[0], o);
    if (strcmp(ot, "Shape") == 0) return fold_shape(c, n, in[0], o);
    if (strcmp(ot, "Size") == 0) {
        int64_t sz = (int64_t)mk_onnx_numel(&in[0]->type);
        mk_type t = mk_type_scalar(MK_DT_INT64);
        return mk_onnx_set_const(c, o, &t, &sz);
    }
    if (strcmp(ot, "Concat") == 0) return fold_concat(c, n, in, n_in, o);
    if (strcmp(ot, "Gather") == 0 && n_in == 2 && in[1]) return fold_gather(c, n, in[0], in[1], o);
    if (strcmp(ot, "Slice") == 0) return fold_slice(c, n, in, n_in, o);
    if (strcmp(ot, "Transpose") == 0) return fold_transpose(c, n, in[0], o);
    if (strcmp(ot, "Expand") == 0 && n_in == 2) return fold_expand(c, in[0], in[1], o);
    if (strcmp(ot, "Tile") == 0 && n_in == 2) return fold_tile(c, in[0], in[1], o);
    if (strcmp(ot, "Where") == 0 && n_in == 3 && in[1] && in[2])
        return fold_where(c, in[0], in[1], in[2], o);
    if (strcmp(ot, "Range") == 0 && n_in == 3 && in[0] && in[1] && in[2])
        return fold_range(c, in[0], in[1], in[2], o);
    if (strcmp(ot, "ConstantOfShape") == 0) return fold_const_of_shape(c, n, in[0], o);
    if (strcmp(ot, "ReduceProd") == 0) return fold_reduce(c, n, in, n_in, o, 1);
    if (strcmp(ot, "ReduceSum") == 0) return fold_reduce(c, n, in, n_in, o, 0);
    if (strcmp(ot, "Squeeze") == 0) return fold_squeeze_like(c, n, in, n_in, o, 0);
    if (strcmp(ot, "Unsqueeze") == 0) return fold_squeeze_like(c, n, in, n_in, o, 1);
    if (strcmp(ot, "Reshape") == 0) return fold_reshape(c, n, in, n_in, o);
    if (strcmp(ot, "Flatten") == 0) return fold_flatten(c, n, in[0], o);
    if (strcmp(ot, "NonZero") == 0) return fold_non_zero(c, in[0], o);
    return MK_EUNSUPPORTED;
}
