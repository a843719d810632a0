/* Type inference: the rule table indexed by mk_op_kind, mk_ir_infer / mk_ir_infer_op, the
 * helpers every rule uses (operands by parameter name, integer/string reads, broadcasting),
 * and the rules for elementwise, activation, cast, constant, fill/range/one_hot/topk-like and
 * control-flow ops. Shape/layout rules live in infer_shape.c, NN rules in infer_nn.c.
 * Data-dependent shapes without data give MK_DIM_UNKNOWN dims, never an error. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "infer_int.h"

/* ---- helpers ---- */

mk_status mk_ir_infer_fail(mk_ictx *c, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const mk_op_info *in = mk_ir_op_info(c->op->kind);
    return mk_err_set(c->e, MK_EINVAL, "op '%s' (%s): %s", c->op->name ? c->op->name : "?",
                      in ? in->name : "?", msg);
}

const mk_operand *mk_ir_infer_in(mk_ictx *c, const char *param)
{
    for (int i = 0, idx = 0; i < c->op->n_inputs; i++) {
        const mk_input *in = &c->op->inputs[i];
        if (strcmp(in->name, param) == 0)
            return in->n_args > 0 && idx < c->n_ins ? &c->ins[idx] : NULL;
        idx += in->n_args;
    }
    const mk_value *v = mk_ir_attr(c->op, param);
    if (!v) return NULL;
    for (int i = 0; i < c->n_attr_slots; i++)
        if (c->attr_vals[i] == v) return &c->attr_slots[i];
    if (c->n_attr_slots >= (int)(sizeof c->attr_slots / sizeof *c->attr_slots)) return NULL;
    c->attr_vals[c->n_attr_slots] = v;
    mk_operand *o = &c->attr_slots[c->n_attr_slots++];
    o->type = v->type;
    o->data = v->cst ? v->cst->data : NULL;
    o->nbytes = v->cst ? v->cst->nbytes : 0;
    return o;
}

const mk_operand *mk_ir_infer_req(mk_ictx *c, const char *param)
{
    const mk_operand *o = mk_ir_infer_in(c, param);
    if (!o) mk_ir_infer_fail(c, "missing required input '%s'", param);
    return o;
}

int mk_ir_infer_nargs(mk_ictx *c, const char *param)
{
    const mk_input *in = mk_ir_input(c->op, param);
    return in ? in->n_args : 0;
}

const mk_operand *mk_ir_infer_arg(mk_ictx *c, const char *param, int j)
{
    int idx = mk_ir_operand_index(c->op, param);
    const mk_input *in = mk_ir_input(c->op, param);
    if (idx < 0 || !in || j < 0 || j >= in->n_args || idx + j >= c->n_ins) return NULL;
    return &c->ins[idx + j];
}

/* Element count of an operand with data; 0 when not static or the data is too short. */
static int data_numel(const mk_operand *o, size_t *n)
{
    size_t nb;
    if (!o->data || !mk_type_numel(&o->type, n)) return 0;
    if (o->type.dtype == MK_DT_STRING) return o->nbytes >= *n * sizeof(char *);
    if (mk_dtype_bits(o->type.dtype) % 8) return 0;
    return mk_type_nbytes(&o->type, &nb) && o->nbytes >= nb;
}

/* Element i as double; *integral says whether it is a whole number. 0 for non-numeric. */
static int elem(const mk_operand *o, size_t i, double *d, int64_t *iv)
{
    const void *p = o->data;
    switch ((int)o->type.dtype) {
    case MK_DT_BOOL:
    case MK_DT_UINT8: *iv = ((const uint8_t *)p)[i]; break;
    case MK_DT_INT8: *iv = ((const int8_t *)p)[i]; break;
    case MK_DT_INT16: *iv = ((const int16_t *)p)[i]; break;
    case MK_DT_UINT16: *iv = ((const uint16_t *)p)[i]; break;
    case MK_DT_INT32: *iv = ((const int32_t *)p)[i]; break;
    case MK_DT_UINT32: *iv = ((const uint32_t *)p)[i]; break;
    case MK_DT_INT64: *iv = ((const int64_t *)p)[i]; break;
    case MK_DT_UINT64: {
        uint64_t u = ((const uint64_t *)p)[i];
        if (u > (uint64_t)INT64_MAX) return 0;
        *iv = (int64_t)u;
        break;
    }
    case MK_DT_FP16: *d = mk_f16_to_f32(((const uint16_t *)p)[i]); return 2;
    case MK_DT_FP32: *d = ((const float *)p)[i]; return 2;
    case MK_DT_FP64: *d = ((const double *)p)[i]; return 2;
    default: return 0;
    }
    *d = (double)*iv;
    return 1;
}

int mk_ir_infer_ints(mk_ictx *c, const char *param, const mk_operand *o, int64_t *out, int max,
                     int *n)
{
    size_t cnt;
    if (!o || !o->data) return 0;
    if (o->type.rank > 1) {
        mk_ir_infer_fail(c, "'%s' must be a scalar or vector, got rank %d", param, o->type.rank);
        return -1;
    }
    if (!data_numel(o, &cnt)) {
        mk_ir_infer_fail(c, "'%s' data does not match its type", param);
        return -1;
    }
    if (cnt > (size_t)max) {
        mk_ir_infer_fail(c, "'%s' has %zu elements, at most %d allowed", param, cnt, max);
        return -1;
    }
    for (size_t i = 0; i < cnt; i++) {
        double d = 0;
        int64_t iv = 0;
        int k = elem(o, i, &d, &iv);
        if (k == 2) {
            if (!(d == floor(d)) || fabs(d) > 9.0e15)
                k = 0;
            else
                iv = (int64_t)d;
        }
        if (!k) {
            mk_ir_infer_fail(c, "'%s' must hold integers", param);
            return -1;
        }
        out[i] = iv;
    }
    *n = (int)cnt;
    return 1;
}

int mk_ir_infer_elems(mk_ictx *c, const char *param, const mk_operand *o, int64_t *out, int max,
                      int *n)
{
    int k = mk_ir_infer_ints(c, param, o, out, max, n);
    if (k != 0 || !o) return k;
    int m = mk_ir_value_elems(mk_ir_arg(c->op, param), out, max);
    if (m < 0) return 0;
    *n = m;
    return 2;
}

static mk_status scalar_data(mk_ictx *c, const char *param, const mk_operand *o, size_t *cnt)
{
    if (o->type.rank > 1 || !data_numel(o, cnt) || *cnt != 1)
        return mk_ir_infer_fail(c, "'%s' must be a scalar", param);
    return MK_OK;
}

mk_status mk_ir_infer_int(mk_ictx *c, const char *param, int64_t def, int64_t *out, int *known)
{
    const mk_operand *o = mk_ir_infer_in(c, param);
    int k = 1;
    *out = def;
    if (o && !o->data) k = 0;
    if (o && o->data) {
        int64_t v[1];
        int n = 0;
        size_t cnt;
        if (scalar_data(c, param, o, &cnt)) return c->e->code;
        if (mk_ir_infer_ints(c, param, o, v, 1, &n) < 0) return c->e->code;
        *out = v[0];
    }
    if (known)
        *known = k;
    else if (!k)
        return mk_ir_infer_fail(c, "'%s' must be a known constant", param);
    return MK_OK;
}

mk_status mk_ir_infer_f64(mk_ictx *c, const char *param, double def, double *out, int *known)
{
    const mk_operand *o = mk_ir_infer_in(c, param);
    *out = def;
    if (known) *known = !o || o->data;
    if (!o || !o->data) {
        if (!known && o) return mk_ir_infer_fail(c, "'%s' must be a known constant", param);
        return MK_OK;
    }
    size_t cnt;
    int64_t iv = 0;
    if (scalar_data(c, param, o, &cnt)) return c->e->code;
    if (!elem(o, 0, out, &iv)) return mk_ir_infer_fail(c, "'%s' must be numeric", param);
    return MK_OK;
}

const char *mk_ir_infer_str(mk_ictx *c, const char *param, const char *def)
{
    const mk_operand *o = mk_ir_infer_in(c, param);
    size_t cnt;
    if (!o) return def;
    if (o->type.dtype != MK_DT_STRING || !data_numel(o, &cnt) || cnt != 1) return NULL;
    return ((const char *const *)o->data)[0];
}

mk_status mk_ir_infer_out(mk_ictx *c, const mk_type *t)
{
    if (c->n_outs >= c->max_outs) return mk_ir_infer_fail(c, "more than %d outputs", c->max_outs);
    if (t->rank > MK_MAX_RANK)
        return mk_ir_infer_fail(c, "output rank %d exceeds %d", t->rank, MK_MAX_RANK);
    size_t bytes = 8;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] > MK_INFER_DIM_MAX)
            return mk_ir_infer_fail(c, "output dim %d is absurdly large (%lld)", i,
                                    (long long)t->dims[i]);
        if (t->dims[i] >= 0 && !mk_mul_size(bytes, (size_t)t->dims[i], &bytes))
            return mk_ir_infer_fail(c, "output size overflows");
    }
    c->outs[c->n_outs++] = *t;
    return MK_OK;
}

mk_status mk_ir_infer_out_unranked(mk_ictx *c, mk_dtype dt)
{
    mk_type t = mk_type_make(dt, 0, NULL);
    t.rank = MK_RANK_UNKNOWN;
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_infer_axis(mk_ictx *c, const char *what, int64_t axis, int rank, int *out)
{
    if (axis < -(int64_t)rank || axis >= rank)
        return mk_ir_infer_fail(c, "%s %lld out of range for rank %d", what, (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return MK_OK;
}

mk_status mk_ir_infer_dim_mul(mk_ictx *c, int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) {
        *out = (a == 0 || b == 0) ? 0 : MK_DIM_UNKNOWN;
        return MK_OK;
    }
    if (a != 0 && b > MK_INFER_DIM_MAX / a)
        return mk_ir_infer_fail(c, "dimension %lld x %lld is absurdly large", (long long)a,
                                (long long)b);
    *out = a * b;
    return MK_OK;
}

mk_status mk_ir_infer_rank(mk_ictx *c, const char *param, const mk_operand *o, int lo, int hi)
{
    if (o->type.rank >= 0 && (o->type.rank < lo || o->type.rank > hi)) {
        if (lo == hi)
            return mk_ir_infer_fail(c, "'%s' must have rank %d, got %d", param, lo, o->type.rank);
        return mk_ir_infer_fail(c, "'%s' must have rank %d..%d, got %d", param, lo, hi,
                                o->type.rank);
    }
    return MK_OK;
}

mk_status mk_ir_infer_same_dim(mk_ictx *c, const char *what, int64_t a, int64_t b)
{
    if (a >= 0 && b >= 0 && a != b)
        return mk_ir_infer_fail(c, "%s mismatch: %lld vs %lld", what, (long long)a, (long long)b);
    return MK_OK;
}

mk_status mk_ir_infer_broadcast(mk_ictx *c, const mk_type *a, const mk_type *b, mk_type *out)
{
    if (a->rank < 0 || b->rank < 0) {
        out->rank = MK_RANK_UNKNOWN;
        return MK_OK;
    }
    int r = a->rank > b->rank ? a->rank : b->rank;
    mk_type t = *out;
    t.rank = r;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        int64_t d;
        if (da == 1)
            d = db;
        else if (db == 1)
            d = da;
        else if (da < 0)
            d = db;
        else if (db < 0)
            d = da;
        else if (da == db)
            d = da;
        else {
            char sa[160], sb[160];
            return mk_ir_infer_fail(c, "shapes %s and %s do not broadcast",
                                    mk_type_str(a, sa, sizeof sa), mk_type_str(b, sb, sizeof sb));
        }
        t.dims[i] = d;
    }
    *out = t;
    return MK_OK;
}

/* ---- elementwise and activations ---- */

static int is_compare(mk_op_kind k)
{
    return k >= MK_OP_EQUAL && k <= MK_OP_LOGICAL_XOR;
}

static mk_status mk_ir_rule_binary(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *y = x ? mk_ir_infer_req(c, "y") : NULL;
    if (!x || !y) return c->e->code;
    if (x->type.dtype != y->type.dtype)
        return mk_ir_infer_fail(c, "x and y dtypes differ (%s vs %s)",
                                mk_dtype_name(x->type.dtype) ? mk_dtype_name(x->type.dtype) : "?",
                                mk_dtype_name(y->type.dtype) ? mk_dtype_name(y->type.dtype) : "?");
    mk_type t = mk_type_scalar(is_compare(c->op->kind) ? MK_DT_BOOL : x->type.dtype);
    if (mk_ir_infer_broadcast(c, &x->type, &y->type, &t)) return c->e->code;
    return mk_ir_infer_out(c, &t);
}

/* Output = x's type (x or another named tensor input). */
static mk_status same_as(mk_ictx *c, const char *param)
{
    const mk_operand *x = mk_ir_infer_req(c, param);
    if (!x) return c->e->code;
    return mk_ir_infer_out(c, &x->type);
}

static mk_status mk_ir_rule_unary(mk_ictx *c)
{
    return same_as(c, "x");
}

static mk_status mk_ir_rule_logical_not(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    mk_type t = x->type;
    t.dtype = MK_DT_BOOL;
    return mk_ir_infer_out(c, &t);
}

/* Unary op with an axis parameter (softmax, cumsum): the axis must fit x's rank. */
static mk_status mk_ir_rule_unary_axis(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t axis;
    int known = 0, ax = 0;
    if (mk_ir_infer_int(c, "axis", c->op->kind == MK_OP_SOFTMAX ? -1 : 0, &axis, &known))
        return c->e->code;
    if (known && x->type.rank >= 0) {
        if (x->type.rank == 0) return mk_ir_infer_fail(c, "x must have rank >= 1");
        if (mk_ir_infer_axis(c, "axis", axis, x->type.rank, &ax)) return c->e->code;
    }
    return mk_ir_infer_out(c, &x->type);
}

static mk_status mk_ir_rule_prelu(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *a = x ? mk_ir_infer_req(c, "alpha") : NULL;
    if (!a) return c->e->code;
    if (mk_ir_infer_rank(c, "x", x, 3, MK_MAX_RANK)) return c->e->code;
    if (a->type.rank == 1 && x->type.rank >= 3 &&
        mk_ir_infer_same_dim(c, "alpha length vs channels", a->type.dims[0], x->type.dims[1]))
        return c->e->code;
    return mk_ir_infer_out(c, &x->type);
}

static mk_dtype cast_target(mk_ictx *c, const char *s)
{
    static const struct {
        const char *name;
        mk_dtype dt;
        int since;
    } ok[] = {{"int32", MK_DT_INT32, 15}, {"fp16", MK_DT_FP16, 15},    {"fp32", MK_DT_FP32, 15},
              {"bool", MK_DT_BOOL, 15},   {"int8", MK_DT_INT8, 17},    {"uint8", MK_DT_UINT8, 17},
              {"int16", MK_DT_INT16, 17}, {"uint16", MK_DT_UINT16, 17}};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strcmp(ok[i].name, s) == 0) {
            if (c->ios < ok[i].since) break;
            return ok[i].dt;
        }
    return MK_DT_INVALID;
}

static mk_status mk_ir_rule_cast(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x || !mk_ir_infer_req(c, "dtype")) return c->e->code;
    const char *s = mk_ir_infer_str(c, "dtype", NULL);
    if (!s) return mk_ir_infer_fail(c, "'dtype' must be a constant string");
    mk_dtype dt = cast_target(c, s);
    if (!dt) return mk_ir_infer_fail(c, "unsupported cast dtype \"%s\" for iOS%d", s, c->ios);
    mk_type t = x->type;
    t.dtype = dt;
    return mk_ir_infer_out(c, &t);
}

/* ---- constants ---- */

static mk_status mk_ir_rule_const(mk_ictx *c)
{
    const mk_operand *v = mk_ir_infer_in(c, "val");
    if (!v) return mk_ir_infer_fail(c, "missing attribute 'val'");
    return mk_ir_infer_out(c, &v->type);
}

static mk_status mk_ir_rule_affine_dequantize(mk_ictx *c)
{
    const mk_operand *q = mk_ir_infer_req(c, "quantized_data");
    const mk_operand *s = q ? mk_ir_infer_req(c, "scale") : NULL;
    const mk_operand *z = s ? mk_ir_infer_req(c, "zero_point") : NULL;
    if (!z) return c->e->code;
    int64_t axis;
    int ax = 0;
    if (mk_ir_infer_int(c, "axis", 0, &axis, NULL)) return c->e->code;
    if (q->type.rank >= 0) {
        if (mk_ir_infer_axis(c, "axis", axis, q->type.rank, &ax)) return c->e->code;
        const mk_operand *sz[2] = {s, z};
        for (int i = 0; i < 2; i++) {
            if (sz[i]->type.rank > 1)
                return mk_ir_infer_fail(c, "%s must be a scalar or vector",
                                        i ? "zero_point" : "scale");
            if (sz[i]->type.rank == 1 &&
                mk_ir_infer_same_dim(
                    c, i ? "zero_point length vs axis dim" : "scale length vs axis dim",
                    sz[i]->type.dims[0], q->type.dims[ax]))
                return c->e->code;
        }
    }
    mk_type t = q->type;
    t.dtype = s->type.dtype;
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_blockwise_shift_scale(mk_ictx *c)
{
    const mk_operand *d = mk_ir_infer_req(c, "data");
    const mk_operand *s = d ? mk_ir_infer_req(c, "scale") : NULL;
    if (!s) return c->e->code;
    if (d->type.rank >= 0 && s->type.rank >= 0) {
        if (d->type.rank != s->type.rank)
            return mk_ir_infer_fail(c, "scale rank %d differs from data rank %d", s->type.rank,
                                    d->type.rank);
        for (int i = 0; i < d->type.rank; i++) {
            int64_t a = d->type.dims[i], b = s->type.dims[i];
            if (a >= 0 && b > 0 && a % b)
                return mk_ir_infer_fail(c, "data dim %d (%lld) not a multiple of scale dim %lld", i,
                                        (long long)a, (long long)b);
            if (b == 0) return mk_ir_infer_fail(c, "scale dim %d is 0", i);
        }
    }
    mk_type t = d->type;
    t.dtype = s->type.dtype;
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_constexpr_cast(mk_ictx *c)
{
    const mk_operand *s = mk_ir_infer_req(c, "source_val");
    if (!s || !mk_ir_infer_req(c, "output_dtype")) return c->e->code;
    const char *dn = mk_ir_infer_str(c, "output_dtype", NULL);
    mk_dtype dt = dn ? mk_dtype_from_name(dn) : MK_DT_INVALID;
    if (!mk_dtype_is_float(dt)) return mk_ir_infer_fail(c, "output_dtype must name a float type");
    mk_type t = s->type;
    t.dtype = dt;
    return mk_ir_infer_out(c, &t);
}

/* The iOS16 constexpr forms: the output is dt shaped by the constant `shape` operand. */
static mk_status const_shape_out(mk_ictx *c, const mk_operand *shape, mk_dtype dt)
{
    int64_t dims[MK_MAX_RANK + 1];
    int n = 0;
    int k = mk_ir_infer_ints(c, "shape", shape, dims, MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    if (!k) return mk_ir_infer_fail(c, "'shape' must be a known constant");
    for (int i = 0; i < n; i++)
        if (dims[i] < 0) return mk_ir_infer_fail(c, "negative dim in 'shape'");
    mk_type t = mk_type_make(dt, n, dims);
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_lut_to_dense(mk_ictx *c)
{
    const mk_operand *lut = mk_ir_infer_req(c, "lut");
    const mk_operand *idx = lut ? mk_ir_infer_req(c, "indices") : NULL;
    if (!idx) return c->e->code;
    const mk_operand *shape = mk_ir_infer_in(c, "shape");
    if (shape) { /* iOS16: flat indices, output shape given by `shape` */
        return const_shape_out(c, shape, lut->type.dtype);
    }
    /* iOS18: indices shaped like the output; lut [..., palettes, vector_size] */
    mk_type t = idx->type;
    t.dtype = lut->type.dtype;
    if (lut->type.rank < 0 || t.rank < 0) return mk_ir_infer_out(c, &t);
    if (lut->type.rank != t.rank + 2)
        return mk_ir_infer_fail(c, "lut rank %d must be indices rank %d + 2", lut->type.rank,
                                t.rank);
    int64_t vs = lut->type.dims[lut->type.rank - 1], axis;
    int ax = 0;
    if (vs != 1) {
        if (mk_ir_infer_int(c, "vector_axis", 0, &axis, NULL) ||
            mk_ir_infer_axis(c, "vector_axis", axis, t.rank, &ax) ||
            mk_ir_infer_dim_mul(c, t.dims[ax], vs, &t.dims[ax]))
            return c->e->code;
    }
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_sparse_to_dense(mk_ictx *c)
{
    const mk_operand *nz = mk_ir_infer_req(c, "nonzero_data");
    const mk_operand *mask = nz ? mk_ir_infer_req(c, "mask") : NULL;
    if (!mask) return c->e->code;
    if (nz->type.rank > 1) return mk_ir_infer_fail(c, "nonzero_data must be a vector");
    const mk_operand *shape = mk_ir_infer_in(c, "shape");
    if (!shape) { /* iOS18: uint1 mask shaped like the output */
        mk_type t = mask->type;
        t.dtype = nz->type.dtype;
        return mk_ir_infer_out(c, &t);
    }
    return const_shape_out(c, shape, nz->type.dtype);
}

/* Sparse-to-sparse ops: outputs (mask, nonzero values). */
static mk_status sparse_outs(mk_ictx *c, const mk_operand *mask, const mk_operand *nz, mk_dtype dt,
                             int64_t vs, int ax)
{
    mk_type m = mask->type, v = nz->type;
    if (nz->type.rank >= 0 && nz->type.rank != 1)
        return mk_ir_infer_fail(c, "nonzero data must be a vector");
    if (vs != 1) {
        if (mk_ir_infer_dim_mul(c, m.dims[ax], vs, &m.dims[ax]) ||
            (v.rank == 1 && mk_ir_infer_dim_mul(c, v.dims[0], vs, &v.dims[0])))
            return c->e->code;
    }
    v.dtype = dt;
    if (mk_ir_infer_out(c, &m)) return c->e->code;
    return mk_ir_infer_out(c, &v);
}

static mk_status mk_ir_rule_lut_to_sparse(mk_ictx *c)
{
    const mk_operand *mask = mk_ir_infer_req(c, "indices_mask");
    const mk_operand *nz = mask ? mk_ir_infer_req(c, "indices_nonzero_data") : NULL;
    const mk_operand *lut = nz ? mk_ir_infer_req(c, "lut") : NULL;
    if (!lut) return c->e->code;
    int64_t vs = 1, axis;
    int ax = 0;
    if (lut->type.rank >= 0 && mask->type.rank >= 0) {
        if (lut->type.rank != mask->type.rank + 2)
            return mk_ir_infer_fail(c, "lut rank %d must be indices_mask rank %d + 2",
                                    lut->type.rank, mask->type.rank);
        vs = lut->type.dims[lut->type.rank - 1];
        if (vs != 1 && (mk_ir_infer_int(c, "vector_axis", 0, &axis, NULL) ||
                        mk_ir_infer_axis(c, "vector_axis", axis, mask->type.rank, &ax)))
            return c->e->code;
    }
    return sparse_outs(c, mask, nz, lut->type.dtype, vs, ax);
}

static mk_status mk_ir_rule_sparse_shift_scale(mk_ictx *c)
{
    const mk_operand *mask = mk_ir_infer_req(c, "data_mask");
    const mk_operand *nz = mask ? mk_ir_infer_req(c, "nonzero_data") : NULL;
    const mk_operand *s = nz ? mk_ir_infer_req(c, "scale") : NULL;
    if (!s) return c->e->code;
    if (mask->type.rank >= 0 && s->type.rank >= 0) {
        if (mask->type.rank != s->type.rank)
            return mk_ir_infer_fail(c, "scale rank %d differs from data_mask rank %d", s->type.rank,
                                    mask->type.rank);
        for (int i = 0; i < s->type.rank; i++) {
            int64_t a = mask->type.dims[i], b = s->type.dims[i];
            if (b == 0 || (a >= 0 && b > 0 && a % b))
                return mk_ir_infer_fail(c,
                                        "data_mask dim %d (%lld) not a multiple of scale dim %lld",
                                        i, (long long)a, (long long)b);
        }
    }
    return sparse_outs(c, mask, nz, s->type.dtype, 1, 0);
}

/* ---- creation ops ---- */

static mk_status mk_ir_rule_shape(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t d = x->type.rank;
    mk_type t = mk_type_make(MK_DT_INT32, 1, &d);
    return mk_ir_infer_out(c, &t);
}

static mk_dtype value_dtype(mk_ictx *c, const char *param, mk_dtype def)
{
    const mk_operand *v = mk_ir_infer_in(c, param);
    return v ? v->type.dtype : def;
}

/* Output shape from an int vector operand (fill, resize shapes): dims from data, or a rank
 * with unknown dims from its static length, or unknown rank. */
static mk_status shape_from_vector(mk_ictx *c, const char *param, const mk_operand *s, mk_type *t)
{
    int64_t dims[MK_MAX_RANK + 1];
    int n = 0;
    int k = mk_ir_infer_ints(c, param, s, dims, MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    if (s->type.rank > 1) return mk_ir_infer_fail(c, "'%s' must be a vector", param);
    if (k) {
        for (int i = 0; i < n; i++)
            if (dims[i] < 0)
                return mk_ir_infer_fail(c, "'%s' has negative dim %lld", param, (long long)dims[i]);
        t->rank = n;
        for (int i = 0; i < n; i++) t->dims[i] = dims[i];
        return MK_OK;
    }
    int64_t len = s->type.rank == 1 ? s->type.dims[0] : s->type.rank == 0 ? 1 : -1;
    if (len > MK_MAX_RANK)
        return mk_ir_infer_fail(c, "'%s' length %lld exceeds max rank %d", param, (long long)len,
                                MK_MAX_RANK);
    t->rank = len < 0 ? MK_RANK_UNKNOWN : (int)len;
    for (int i = 0; i < t->rank; i++) t->dims[i] = MK_DIM_UNKNOWN;
    return MK_OK;
}

static mk_status mk_ir_rule_fill(mk_ictx *c)
{
    const mk_operand *s = mk_ir_infer_req(c, "shape");
    if (!s) return c->e->code;
    mk_type t = mk_type_scalar(value_dtype(c, "value", MK_DT_FP32));
    if (shape_from_vector(c, "shape", s, &t)) return c->e->code;
    return mk_ir_infer_out(c, &t);
}

/* random_bernoulli / normal / uniform: shape from `shape`, dtype of the distribution's first
 * parameter (prob, mean, low), fp32 when defaulted. */
static mk_status mk_ir_rule_random(mk_ictx *c)
{
    const mk_operand *s = mk_ir_infer_req(c, "shape");
    if (!s) return c->e->code;
    mk_op_kind k = c->op->kind;
    const char *p = k == MK_OP_RANDOM_BERNOULLI ? "prob"
                    : k == MK_OP_RANDOM_NORMAL  ? "mean"
                                                : "low";
    mk_type t = mk_type_scalar(value_dtype(c, p, MK_DT_FP32));
    if (!mk_dtype_is_float(t.dtype)) return mk_ir_infer_fail(c, "'%s' must be a float", p);
    if (shape_from_vector(c, "shape", s, &t)) return c->e->code;
    return mk_ir_infer_out(c, &t);
}

/* random_categorical: x [..., classes] -> [..., size] of x's dtype. */
static mk_status mk_ir_rule_random_categorical(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    int64_t size;
    if (!x || mk_ir_infer_int(c, "size", 1, &size, NULL)) return c->e->code;
    if (size < 1 || size > MK_INFER_DIM_MAX) return mk_ir_infer_fail(c, "size must be positive");
    if (x->type.rank == 0) return mk_ir_infer_fail(c, "x must have rank >= 1");
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    mk_type t = x->type;
    t.dims[t.rank - 1] = size;
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_fill_like(mk_ictx *c)
{
    const mk_operand *r = mk_ir_infer_req(c, "ref_tensor");
    if (!r) return c->e->code;
    mk_type t = r->type;
    t.dtype = value_dtype(c, "value", MK_DT_FP32);
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_range_1d(mk_ictx *c)
{
    const char *names[3] = {"start", "end", "step"};
    const mk_operand *o[3];
    for (int i = 0; i < 3; i++)
        if (!(o[i] = mk_ir_infer_req(c, names[i]))) return c->e->code;
    for (int i = 0; i < 3; i++) {
        if (o[i]->type.rank > 1 || (o[i]->type.rank == 1 && o[i]->type.dims[0] > 1))
            return mk_ir_infer_fail(c, "'%s' must be a scalar", names[i]);
        if (o[i]->type.dtype != o[0]->type.dtype)
            return mk_ir_infer_fail(c, "start, end and step dtypes differ");
    }
    int64_t len = MK_DIM_UNKNOWN;
    if (o[0]->data && o[1]->data && o[2]->data) {
        double v[3];
        int64_t iv[3];
        int integral = 1;
        size_t cnt;
        for (int i = 0; i < 3; i++) {
            if (scalar_data(c, names[i], o[i], &cnt)) return c->e->code;
            int k = elem(o[i], 0, &v[i], &iv[i]);
            if (!k) return mk_ir_infer_fail(c, "'%s' must be numeric", names[i]);
            integral &= k == 1;
        }
        if (v[2] == 0) return mk_ir_infer_fail(c, "step is 0");
        if (integral) {
            int64_t s = iv[0], e = iv[1], st = iv[2];
            uint64_t mag = st > 0 ? (uint64_t)st : (uint64_t)0 - (uint64_t)st;
            int up = st > 0 ? e > s : s > e;
            uint64_t diff = st > 0 ? (uint64_t)e - (uint64_t)s : (uint64_t)s - (uint64_t)e;
            uint64_t n = up ? (diff - 1) / mag + 1 : 0;
            if (n > (uint64_t)MK_INFER_DIM_MAX)
                return mk_ir_infer_fail(c, "range length is absurd");
            len = (int64_t)n;
        } else {
            double n = ceil((v[1] - v[0]) / v[2]);
            if (!(n == n) || n > (double)MK_INFER_DIM_MAX)
                return mk_ir_infer_fail(c, "range length is absurd");
            len = n > 0 ? (int64_t)n : 0;
        }
        if (len > MK_INFER_DIM_MAX) return mk_ir_infer_fail(c, "range length is absurd");
    }
    mk_type t = mk_type_make(o[0]->type.dtype, 1, &len);
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_one_hot(mk_ictx *c)
{
    const mk_operand *idx = mk_ir_infer_req(c, "indices");
    const mk_operand *sz = idx ? mk_ir_infer_req(c, "one_hot_vector_size") : NULL;
    if (!sz) return c->e->code;
    int64_t size, axis;
    int known = 0, ax = 0;
    if (mk_ir_infer_int(c, "one_hot_vector_size", 0, &size, &known) ||
        mk_ir_infer_int(c, "axis", -1, &axis, NULL))
        return c->e->code;
    if (!known)
        size = MK_DIM_UNKNOWN;
    else if (size < 0)
        return mk_ir_infer_fail(c, "one_hot_vector_size is negative");
    mk_dtype dt = value_dtype(c, "on_value", MK_DT_INT32);
    if (idx->type.rank < 0) return mk_ir_infer_out_unranked(c, dt);
    int r = idx->type.rank + 1;
    if (r > MK_MAX_RANK) return mk_ir_infer_fail(c, "output rank exceeds %d", MK_MAX_RANK);
    if (mk_ir_infer_axis(c, "axis", axis, r, &ax)) return c->e->code;
    mk_type t = mk_type_scalar(dt);
    t.rank = r;
    for (int i = 0, j = 0; i < r; i++) t.dims[i] = i == ax ? size : idx->type.dims[j++];
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_topk(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t k, axis, ret_idx;
    int kknown = 0, ax = 0;
    if (mk_ir_infer_int(c, "k", 1, &k, &kknown) || mk_ir_infer_int(c, "axis", -1, &axis, NULL) ||
        mk_ir_infer_int(c, "return_indices", 1, &ret_idx, NULL))
        return c->e->code;
    const char *idn = mk_ir_infer_str(c, "output_indices_dtype", "int32");
    mk_dtype idt = idn ? mk_dtype_from_name(idn) : MK_DT_INVALID;
    if (!mk_dtype_is_int(idt)) return mk_ir_infer_fail(c, "bad output_indices_dtype");
    mk_type t = x->type;
    if (t.rank >= 0) {
        if (t.rank == 0) return mk_ir_infer_fail(c, "x must have rank >= 1");
        if (mk_ir_infer_axis(c, "axis", axis, t.rank, &ax)) return c->e->code;
        if (!kknown)
            t.dims[ax] = MK_DIM_UNKNOWN;
        else if (k == 0)
            return mk_ir_infer_fail(c, "k is 0");
        else if (k > 0) {
            if (t.dims[ax] >= 0 && k > t.dims[ax])
                return mk_ir_infer_fail(c, "k %lld exceeds axis size %lld", (long long)k,
                                        (long long)t.dims[ax]);
            t.dims[ax] = k;
        }
    }
    if (mk_ir_infer_out(c, &t)) return c->e->code;
    if (!ret_idx) return MK_OK;
    t.dtype = idt;
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_argsort(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t axis;
    int ax = 0;
    if (mk_ir_infer_int(c, "axis", -1, &axis, NULL)) return c->e->code;
    if (x->type.rank == 0) return mk_ir_infer_fail(c, "x must have rank >= 1");
    if (x->type.rank > 0 && mk_ir_infer_axis(c, "axis", axis, x->type.rank, &ax)) return c->e->code;
    mk_type t = x->type;
    t.dtype = MK_DT_INT32;
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_non_zero(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t d[2] = {MK_DIM_UNKNOWN, x->type.rank};
    size_t n;
    if (x->data && data_numel(x, &n)) {
        int64_t cnt = 0;
        for (size_t i = 0; i < n; i++) {
            double v = 0;
            int64_t iv = 0;
            if (!elem(x, i, &v, &iv)) return mk_ir_infer_fail(c, "x must be numeric");
            cnt += v != 0;
        }
        d[0] = cnt;
    }
    mk_type t = mk_type_make(MK_DT_INT32, 2, d);
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_select(mk_ictx *c)
{
    const mk_operand *cd = mk_ir_infer_req(c, "cond");
    const mk_operand *a = cd ? mk_ir_infer_req(c, "a") : NULL;
    const mk_operand *b = a ? mk_ir_infer_req(c, "b") : NULL;
    if (!b) return c->e->code;
    if (cd->type.dtype != MK_DT_BOOL) return mk_ir_infer_fail(c, "cond must be bool");
    if (a->type.dtype != b->type.dtype) return mk_ir_infer_fail(c, "a and b dtypes differ");
    mk_type t = mk_type_scalar(a->type.dtype);
    if (mk_ir_infer_broadcast(c, &a->type, &b->type, &t) ||
        mk_ir_infer_broadcast(c, &cd->type, &t, &t))
        return c->e->code;
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_band_part(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    if (x->type.rank >= 0 && x->type.rank < 2) return mk_ir_infer_fail(c, "x must have rank >= 2");
    return mk_ir_infer_out(c, &x->type);
}

static mk_status mk_ir_rule_read_state(mk_ictx *c)
{
    return same_as(c, "input");
}

/* The state operand is the wrapped tensor type; the value must match it exactly.
 * coreml_update_state returns the value; write_state (its on-disk form) returns nothing. */
static mk_status mk_ir_rule_update_state(mk_ictx *c)
{
    int wr = c->op->kind == MK_OP_WRITE_STATE;
    const mk_operand *s = mk_ir_infer_req(c, wr ? "input" : "state"),
                     *v = mk_ir_infer_req(c, wr ? "data" : "value");
    if (!s || !v) return c->e->code;
    if (!mk_type_equal(&s->type, &v->type)) {
        char a[128], b[128];
        return mk_ir_infer_fail(c, "value %s does not match state %s",
                                mk_type_str(&v->type, a, sizeof a),
                                mk_type_str(&s->type, b, sizeof b));
    }
    return wr ? MK_OK : mk_ir_infer_out(c, &v->type);
}

static mk_status mk_ir_rule_quantize(mk_ictx *c)
{
    const mk_operand *in = mk_ir_infer_req(c, "input");
    if (!in || !mk_ir_infer_req(c, "scale") || !mk_ir_infer_req(c, "output_dtype"))
        return c->e->code;
    const char *s = mk_ir_infer_str(c, "output_dtype", NULL);
    mk_dtype dt = s ? mk_dtype_from_name(s) : MK_DT_INVALID;
    if (dt != MK_DT_INT8 && dt != MK_DT_UINT8)
        return mk_ir_infer_fail(c, "output_dtype must be \"int8\" or \"uint8\"");
    const mk_operand *z = mk_ir_infer_in(c, "zero_point");
    if (z && z->type.dtype != dt)
        return mk_ir_infer_fail(c, "zero_point dtype differs from output_dtype");
    mk_type t = in->type;
    t.dtype = dt;
    return mk_ir_infer_out(c, &t);
}

static mk_status mk_ir_rule_dequantize(mk_ictx *c)
{
    const mk_operand *in = mk_ir_infer_req(c, "input");
    const mk_operand *s = in ? mk_ir_infer_req(c, "scale") : NULL;
    if (!s) return c->e->code;
    mk_type t = in->type;
    t.dtype = s->type.dtype;
    return mk_ir_infer_out(c, &t);
}

/* ---- control flow ---- */

/* Merge b into a: dims equal stay, others become unknown; dtypes must match. */
static mk_status merge_type(mk_ictx *c, int i, mk_type *a, const mk_type *b)
{
    if (a->is_list != b->is_list)
        return mk_ir_infer_fail(c, "output %d: a list on one side only", i);
    if (a->dtype != b->dtype)
        return mk_ir_infer_fail(c, "output %d: branch dtypes differ (%s vs %s)", i,
                                mk_dtype_name(a->dtype) ? mk_dtype_name(a->dtype) : "?",
                                mk_dtype_name(b->dtype) ? mk_dtype_name(b->dtype) : "?");
    if (a->rank != b->rank) {
        a->rank = MK_RANK_UNKNOWN;
        return MK_OK;
    }
    for (int d = 0; d < a->rank; d++)
        if (a->dims[d] != b->dims[d]) a->dims[d] = MK_DIM_UNKNOWN;
    return MK_OK;
}

static mk_status mk_ir_rule_cond(mk_ictx *c)
{
    const mk_operand *p = mk_ir_infer_req(c, "pred");
    if (!p) return c->e->code;
    if (p->type.dtype != MK_DT_BOOL) return mk_ir_infer_fail(c, "pred must be bool");
    if (c->op->n_blocks != 2)
        return mk_ir_infer_fail(c, "cond needs 2 blocks, has %d", c->op->n_blocks);
    const mk_block *t = c->op->blocks[0], *f = c->op->blocks[1];
    if (t->n_outputs != f->n_outputs)
        return mk_ir_infer_fail(c, "branches return %d and %d values", t->n_outputs, f->n_outputs);
    for (int i = 0; i < t->n_outputs; i++) {
        if (!t->outputs[i] || !f->outputs[i]) return mk_ir_infer_fail(c, "NULL block output");
        mk_type ty = t->outputs[i]->type;
        if (merge_type(c, i, &ty, &f->outputs[i]->type) || mk_ir_infer_out(c, &ty))
            return c->e->code;
    }
    return MK_OK;
}

static mk_status mk_ir_rule_while_loop(mk_ictx *c)
{
    int n = mk_ir_infer_nargs(c, "loop_vars");
    if (n == 0) return mk_ir_infer_fail(c, "missing required input 'loop_vars'");
    const mk_block *body = c->op->n_blocks == 2 ? c->op->blocks[1] : NULL;
    if (c->op->n_blocks != 2)
        return mk_ir_infer_fail(c, "while_loop needs 2 blocks, has %d", c->op->n_blocks);
    if (body->n_outputs != n)
        return mk_ir_infer_fail(c, "body returns %d values for %d loop_vars", body->n_outputs, n);
    for (int i = 0; i < n; i++) {
        const mk_operand *o = mk_ir_infer_arg(c, "loop_vars", i);
        if (!o || !body->outputs[i]) return mk_ir_infer_fail(c, "bad loop_vars %d", i);
        mk_type ty = o->type;
        if (merge_type(c, i, &ty, &body->outputs[i]->type) || mk_ir_infer_out(c, &ty))
            return c->e->code;
    }
    return MK_OK;
}

/* ---- the table ---- */

static const mk_ir_rule rules[MK_OP__COUNT] = {
#define MK_OP(e, nm, opset, nout, fam, place, pw, prm, rule, kern, meaning)                        \
    [MK_OP_##e] = mk_ir_rule_##rule,
#include "ops.def"
#undef MK_OP
};

int mk_ir_infer_has_rule(mk_op_kind k)
{
    return (unsigned)k < MK_OP__COUNT && rules[k] != NULL;
}

/* Is parameter pp bound on op (as an input with args, or as an attribute)? */
static int is_bound(const mk_op *op, const mk_op_param *pp)
{
    const mk_input *in = mk_ir_input(op, pp->name);
    if (in && in->n_args > 0) return 1;
    return mk_ir_attr(op, pp->name) != NULL;
}

mk_status mk_ir_infer(const mk_op *op, const mk_operand *ins, int n_ins, mk_type *outs,
                      int max_outs, int *n_outs, mk_err *e)
{
    mk_ictx c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.ins = ins;
    c.n_ins = n_ins;
    c.outs = outs;
    c.max_outs = max_outs;
    c.e = e;
    c.ios = mk_ir_op_ios(op);
    *n_outs = 0;
    if ((unsigned)op->kind >= MK_OP__COUNT || !rules[op->kind])
        return mk_err_set(e, MK_EUNSUPPORTED, "op '%s': no type rule for op kind %d",
                          op->name ? op->name : "?", (int)op->kind);
    int total = 0;
    for (int i = 0; i < op->n_inputs; i++) total += op->inputs[i].n_args;
    if (total != n_ins)
        return mk_ir_infer_fail(&c, "%d operands given for %d bound arguments", n_ins, total);
    for (int i = 0; i < n_ins; i++) {
        const mk_type *t = &ins[i].type;
        if (t->rank > MK_MAX_RANK || t->rank < MK_RANK_UNKNOWN)
            return mk_ir_infer_fail(&c, "operand %d has invalid rank %d", i, t->rank);
    }
    const mk_op_params *ps = mk_ir_op_params(op->kind);
    for (int i = 0; i < ps->n_params; i++) {
        const mk_op_param *pp = &ps->params[i];
        if (!(pp->flags & MK_PARAM_REQUIRED) || mk_ir_op_param(op->kind, pp->name, c.ios) != pp)
            continue;
        if (!is_bound(op, pp))
            return mk_ir_infer_fail(&c, "missing required %s '%s'",
                                    pp->flags & MK_PARAM_ATTR ? "attribute" : "input", pp->name);
    }
    mk_status st = rules[op->kind](&c);
    if (st) {
        if (!e) return st;
        if (!e->code) mk_ir_infer_fail(&c, "type inference failed");
        return e->code ? e->code : st;
    }
    *n_outs = c.n_outs;
    return MK_OK;
}

/* Keep a declared dim where inference could not know it (same dtype and rank only). */
static void store_type(mk_type *dst, const mk_type *inf)
{
    mk_type old = *dst;
    *dst = *inf;
    if (old.dtype != inf->dtype || old.rank != inf->rank || inf->rank < 0) return;
    for (int i = 0; i < inf->rank; i++)
        if (inf->dims[i] < 0 && old.dims[i] >= 0) dst->dims[i] = old.dims[i];
}

mk_status mk_ir_infer_op(mk_op *op, mk_err *e)
{
    mk_operand stack_ops[64];
    mk_operand *ops = stack_ops;
    size_t total = 0;
    for (int i = 0; i < op->n_inputs; i++) total += (size_t)op->inputs[i].n_args;
    const mk_allocator *al = mk_alloc_default();
    if (total > sizeof stack_ops / sizeof *stack_ops) {
        size_t nb;
        if (!mk_mul_size(total, sizeof *ops, &nb) || total > INT32_MAX ||
            !(ops = mk_malloc(al, nb)))
            return MK_OOM(e);
    }
    size_t k = 0;
    mk_status st = MK_OK;
    for (int i = 0; i < op->n_inputs && !st; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++, k++) {
            const mk_value *v = op->inputs[i].args[j];
            if (!v) {
                st = mk_err_set(e, MK_EINVAL, "op '%s' (%s): input '%s' arg %d is NULL",
                                op->name ? op->name : "?",
                                mk_ir_op_info(op->kind) ? mk_ir_op_info(op->kind)->name : "?",
                                op->inputs[i].name, j);
                break;
            }
            ops[k].type = v->type;
            ops[k].data = v->cst ? v->cst->data : NULL;
            ops[k].nbytes = v->cst ? v->cst->nbytes : 0;
        }
    mk_type outs[MK_INFER_MAX_OUTS];
    int n = 0;
    if (!st) st = mk_ir_infer(op, ops, (int)total, outs, MK_INFER_MAX_OUTS, &n, e);
    if (ops != stack_ops) mk_free(al, ops, total * sizeof *ops);
    if (st) return st;
    if (n != op->n_outputs)
        return mk_err_set(e, MK_EINVAL, "op '%s' (%s): has %d outputs, type rule gives %d",
                          op->name ? op->name : "?", mk_ir_op_info(op->kind)->name, op->n_outputs,
                          n);
    for (int i = 0; i < n; i++) {
        if (!op->outputs[i])
            return mk_err_set(e, MK_EINVAL, "op '%s' (%s): output %d is NULL",
                              op->name ? op->name : "?", mk_ir_op_info(op->kind)->name, i);
        store_type(&op->outputs[i]->type, &outs[i]);
    }
    return MK_OK;
}
