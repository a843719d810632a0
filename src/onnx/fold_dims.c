/* Per-element folding of shape vectors: the Shape of a tensor with some dynamic dims is a
 * run-time vector whose other elements are known at convert time. ox_kd keeps them (with an
 * upper bound for unknown ones that come from a bounded flexible input) through Gather, Slice,
 * Concat, Unsqueeze, Squeeze, Reshape, Identity, Cast, integer arithmetic, comparisons and
 * Where, so a chain that reads only known elements folds to a constant, and Reshape, Slice,
 * Expand, ConstantOfShape and Range read what is known of a run-time operand. */
#include <string.h>

#include "onnx_int.h"

static int is_int(mk_dtype d)
{
    return d == MK_DT_INT64 || d == MK_DT_BOOL;
}

const ox_kd *mk_onnx_kd(const ox_val *v, ox_kd *tmp)
{
    if (!v) return NULL;
    if (!v->data) return v->kd;
    if (!is_int(v->type.dtype) || v->type.rank > 1) return NULL;
    size_t k = mk_onnx_numel(&v->type);
    if (v->type.rank == 1 && v->type.dims[0] != (int64_t)k) return NULL;
    if (k > OX_KD_MAX || (v->type.rank == 0 && k != 1)) return NULL;
    tmp->n = (int)k;
    tmp->rank = v->type.rank;
    tmp->dtype = v->type.dtype;
    for (size_t i = 0; i < k; i++) {
        tmp->v[i] = tmp->hi[i] = mk_onnx_cget_i(v, i);
        tmp->src[i] = NULL;
    }
    return tmp;
}

/* Upper bound of a flexible function input's dim, -1 when none. */
static int64_t input_bound(ox_ctx *c, const mk_value *x, int axis)
{
    for (int i = 0; i < c->p->n_inputs; i++) {
        const mk_feature *f = &c->p->inputs[i];
        if (f->name && x->name && strcmp(f->name, x->name) == 0 && axis < f->rank) {
            if (f->flex == MK_FLEX_RANGE) return f->range_hi[axis];
            if (f->flex == MK_FLEX_ENUMERATED) {
                int64_t m = -1;
                for (int k = 0; k < f->n_enumerated; k++)
                    if (f->enumerated[k][axis] > m) m = f->enumerated[k][axis];
                return m;
            }
            return f->shape[axis];
        }
    }
    return -1;
}

ox_kd *mk_onnx_shape_kd(ox_ctx *c, mk_value *x, int s, int e)
{
    if (e - s > OX_KD_MAX || e < s) return NULL;
    ox_kd *k = mk_arena_alloc(c->p->arena, sizeof *k);
    if (!k) return NULL;
    k->n = e - s;
    k->rank = 1;
    k->dtype = MK_DT_INT64;
    for (int i = s; i < e; i++) {
        int64_t d = x->type.dims[i];
        k->v[i - s] = d >= 0 ? d : OX_UNKNOWN;
        k->hi[i - s] = d >= 0 ? d : input_bound(c, x, i);
        k->src[i - s] = d >= 0 ? NULL : x;
        k->axis[i - s] = i;
    }
    return k;
}

int mk_onnx_same_dim(const mk_value *x, int i, const mk_value *src, int axis)
{
    for (int step = 0; step < 16 && x; step++) {
        if (x == src) return i == axis;
        const mk_op *op = x->producer;
        if (!op || i < 0 || i >= x->type.rank) return 0;
        const mk_value *in = mk_ir_arg(op, "x");
        int32_t a[MK_MAX_RANK];
        int na = 0;
        if (op->kind == MK_OP_EXPAND_DIMS && in &&
            mk_ir_arg_i32s(op, "axes", a, MK_MAX_RANK, &na)) {
            int before = 0;
            for (int k = 0; k < na; k++) {
                int ak = a[k] < 0 ? a[k] + x->type.rank : a[k];
                if (ak == i) return 0; /* an inserted axis */
                before += ak < i;
            }
            i -= before;
        } else if (op->kind == MK_OP_TRANSPOSE && in &&
                   mk_ir_arg_i32s(op, "perm", a, MK_MAX_RANK, &na) && na == x->type.rank) {
            i = a[i];
        } else if (op->kind != MK_OP_IDENTITY || !in) {
            return 0;
        }
        x = in;
    }
    return 0;
}

static void set_unknown(ox_kd *k, int i)
{
    k->v[i] = OX_UNKNOWN;
    k->hi[i] = -1;
    k->src[i] = NULL;
}

static void set_known(ox_kd *k, int i, int64_t v)
{
    k->v[i] = k->hi[i] = v;
    k->src[i] = NULL;
}

static void copy_el(ox_kd *o, int i, const ox_kd *k, int j)
{
    o->v[i] = k->v[j];
    o->hi[i] = k->hi[j];
    o->src[i] = k->src[j];
    o->axis[i] = k->axis[j];
}

/* Constant int list from an input (opset >= since) or an attribute; -1 when absent, -2 when
 * not constant. */
static int ints(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, int idx, int since,
                const char *attr, int64_t *out)
{
    if (c->opset >= since) {
        if (idx >= n_in || !in[idx]) return -1;
        if (!in[idx]->data || in[idx]->type.rank > 1) return -2;
        size_t k = mk_onnx_numel(&in[idx]->type);
        if (k > OX_KD_MAX) return -2;
        for (size_t i = 0; i < k; i++) out[i] = mk_onnx_cget_i(in[idx], i);
        return (int)k;
    }
    const int64_t *v;
    int k = mk_onnx_attr_ints(n, attr, &v);
    if (k > OX_KD_MAX) return -2;
    if (k > 0) memcpy(out, v, (size_t)k * sizeof *v);
    return k;
}

static int eval_gather(ox_ctx *c, const Onnx__NodeProto *n, const ox_kd *x, ox_val *ix, ox_kd *o)
{
    ox_kd t;
    const ox_kd *q = ix && ix->data ? mk_onnx_kd(ix, &t) : NULL;
    if (!q || x->rank != 1 || q->dtype != MK_DT_INT64) return 0;
    int64_t ax = mk_onnx_attr_i(n, "axis", 0);
    if (ax != 0 && ax != -1) return 0;
    (void)c;
    o->n = q->n;
    o->rank = q->rank;
    o->dtype = x->dtype;
    for (int i = 0; i < q->n; i++) {
        int64_t j = q->v[i] < 0 ? q->v[i] + x->n : q->v[i];
        if (j < 0 || j >= x->n) return 0;
        copy_el(o, i, x, (int)j);
    }
    return 1;
}

static int eval_slice(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, const ox_kd *x,
                      ox_kd *o)
{
    int64_t st[OX_KD_MAX], en[OX_KD_MAX], ax[OX_KD_MAX], sp[OX_KD_MAX];
    int ns = ints(c, n, in, n_in, 1, 10, "starts", st);
    int ne = ints(c, n, in, n_in, 2, 10, "ends", en);
    int na = ints(c, n, in, n_in, 3, 10, "axes", ax);
    int nsp = c->opset >= 10 ? ints(c, n, in, n_in, 4, 10, "steps", sp) : -1;
    if (x->rank != 1 || ns != 1 || ne != 1 || na == -2 || nsp == -2 || (na >= 0 && na != 1) ||
        (nsp >= 0 && nsp != 1))
        return 0;
    if (na == 1 && ax[0] != 0 && ax[0] != -1) return 0;
    int64_t b = st[0], e = en[0], step = nsp == 1 ? sp[0] : 1;
    if (step == 0) return 0;
    int64_t len = ox_slice_axis(x->n, &b, &e, &step);
    o->n = (int)len;
    o->rank = 1;
    o->dtype = x->dtype;
    for (int64_t i = 0; i < len; i++) copy_el(o, (int)i, x, (int)(b + i * step));
    return 1;
}

/* Elementwise binary op on two known values; 0 when it cannot be evaluated. */
static int binop(const char *op, int64_t a, int64_t b, int64_t *r)
{
    if (!strcmp(op, "Add")) return mk_add_i64(a, b, r);
    if (!strcmp(op, "Sub")) {
        if ((b > 0 && a < INT64_MIN + b) || (b < 0 && a > INT64_MAX + b)) return 0;
        *r = a - b;
        return 1;
    }
    if (!strcmp(op, "Mul")) return mk_mul_i64(a, b, r);
    if (!strcmp(op, "Div")) {
        if (b == 0 || (a == INT64_MIN && b == -1)) return 0;
        *r = a / b;
        return 1;
    }
    if (!strcmp(op, "Mod")) {
        if (b == 0 || (a == INT64_MIN && b == -1)) return 0;
        *r = a % b;
        if (*r != 0 && (*r < 0) != (b < 0)) *r += b; /* fmod 0: the divisor's sign */
        return 1;
    }
    if (!strcmp(op, "fmod")) { /* Mod with fmod=1: the dividend's sign, as C */
        if (b == 0 || (a == INT64_MIN && b == -1)) return 0;
        *r = a % b;
        return 1;
    }
    if (!strcmp(op, "Max")) return *r = a > b ? a : b, 1;
    if (!strcmp(op, "Min")) return *r = a < b ? a : b, 1;
    if (!strcmp(op, "Equal")) return *r = a == b, 1;
    if (!strcmp(op, "Less")) return *r = a < b, 1;
    if (!strcmp(op, "Greater")) return *r = a > b, 1;
    if (!strcmp(op, "LessOrEqual")) return *r = a <= b, 1;
    if (!strcmp(op, "GreaterOrEqual")) return *r = a >= b, 1;
    return 0;
}

static int is_compare(const char *op)
{
    return !strcmp(op, "Equal") || !strcmp(op, "Less") || !strcmp(op, "Greater") ||
           !strcmp(op, "LessOrEqual") || !strcmp(op, "GreaterOrEqual");
}

static int bcast_n(const ox_kd *const *k, int m, int *n, int *rank)
{
    *n = 1;
    *rank = 0;
    for (int i = 0; i < m; i++) {
        if (k[i]->rank > *rank) *rank = k[i]->rank;
        if (k[i]->n != 1) {
            if (*n != 1 && *n != k[i]->n) return 0;
            *n = k[i]->n;
        }
    }
    return 1;
}

static int eval_binary(const char *op, const ox_kd *a, const ox_kd *b, ox_kd *o)
{
    const ox_kd *ab[2] = {a, b};
    if (a->dtype != MK_DT_INT64 || b->dtype != MK_DT_INT64) {
        if (!strcmp(op, "Equal") && a->dtype == b->dtype) { /* bool == bool */
        } else {
            return 0;
        }
    }
    if (!bcast_n(ab, 2, &o->n, &o->rank)) return 0;
    o->dtype = is_compare(op) ? MK_DT_BOOL : MK_DT_INT64;
    for (int i = 0; i < o->n; i++) {
        int ia = a->n == 1 ? 0 : i, ib = b->n == 1 ? 0 : i;
        int64_t x = a->v[ia], y = b->v[ib], r;
        if (x != OX_UNKNOWN && y != OX_UNKNOWN && binop(op, x, y, &r) && r != OX_UNKNOWN) {
            set_known(o, i, r);
            continue;
        }
        set_unknown(o, i);
        /* a dim against a negative constant (PyTorch's "== -1" in expand shapes) */
        int64_t neg = a->src[ia] && y != OX_UNKNOWN && y < 0   ? y
                      : b->src[ib] && x != OX_UNKNOWN && x < 0 ? x
                                                               : 0;
        int dim_first = a->src[ia] != NULL;
        if (neg < 0 && is_compare(op)) {
            int64_t r2 = !strcmp(op, "Equal")                                ? 0
                         : !strcmp(op, "Less") || !strcmp(op, "LessOrEqual") ? !dim_first
                                                                             : dim_first;
            set_known(o, i, r2);
            continue;
        }
        int64_t ha = a->hi[ia], hb = b->hi[ib];
        if (!strcmp(op, "Add") && ha >= 0 && hb >= 0)
            o->hi[i] = ha + hb;
        else if (!strcmp(op, "Sub") && ha >= 0 && y != OX_UNKNOWN && y >= 0)
            o->hi[i] = ha - y;
        else if (!strcmp(op, "Min") && (ha >= 0 || hb >= 0))
            o->hi[i] = ha < 0 ? hb : hb < 0 ? ha : ha < hb ? ha : hb;
        else if (!strcmp(op, "Div") && ha >= 0 && y != OX_UNKNOWN && y > 0)
            o->hi[i] = ha / y;
    }
    return 1;
}

static int eval_where(const ox_kd *cnd, const ox_kd *a, const ox_kd *b, ox_kd *o)
{
    const ox_kd *k[3] = {cnd, a, b};
    if (cnd->dtype != MK_DT_BOOL || a->dtype != b->dtype || !bcast_n(k, 3, &o->n, &o->rank))
        return 0;
    o->dtype = a->dtype;
    for (int i = 0; i < o->n; i++) {
        int64_t cv = cnd->v[cnd->n == 1 ? 0 : i];
        const ox_kd *src = cv == OX_UNKNOWN ? NULL : cv ? a : b;
        int j = src && src->n == 1 ? 0 : i;
        if (src) {
            copy_el(o, i, src, j);
        } else {
            int64_t x = a->v[a->n == 1 ? 0 : i], y = b->v[b->n == 1 ? 0 : i];
            if (x != OX_UNKNOWN && x == y)
                set_known(o, i, x);
            else
                set_unknown(o, i);
        }
    }
    return 1;
}

mk_status mk_onnx_fold_dims(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in,
                            ox_val **out, ox_kd **partial)
{
    *partial = NULL;
    ox_kd tmp[3], o;
    const ox_kd *k[3] = {NULL, NULL, NULL};
    int any_kd = 0;
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) continue;
        if (!in[i]->data && !in[i]->kd) return MK_EUNSUPPORTED;
        any_kd |= !in[i]->data;
        if (i < 3) k[i] = mk_onnx_kd(in[i], &tmp[i]);
    }
    if (!any_kd || !k[0] || n->n_output < 1) return MK_EUNSUPPORTED;
    const char *op = n->op_type;
    memset(&o, 0, sizeof o);
    int ok = 0;
    if (!strcmp(op, "Gather")) {
        ok = in[0]->kd && n_in >= 2 && eval_gather(c, n, k[0], in[1], &o);
    } else if (!strcmp(op, "Slice")) {
        ok = in[0]->kd && eval_slice(c, n, in, n_in, k[0], &o);
    } else if (!strcmp(op, "Concat")) {
        int64_t ax = mk_onnx_attr_i(n, "axis", 0);
        ok = ax == 0 || ax == -1;
        o.rank = 1;
        o.dtype = k[0]->dtype;
        for (int i = 0; ok && i < n_in; i++) {
            ox_kd t;
            const ox_kd *q = in[i] ? mk_onnx_kd(in[i], &t) : NULL;
            ok = q && q->rank == 1 && q->dtype == o.dtype && o.n + q->n <= OX_KD_MAX;
            for (int j = 0; ok && j < q->n; j++, o.n++) copy_el(&o, o.n, q, j);
        }
    } else if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze") || !strcmp(op, "Reshape") ||
               !strcmp(op, "Identity") || !strcmp(op, "Cast")) {
        o = *k[0];
        if (!strcmp(op, "Unsqueeze")) {
            int64_t ax[OX_KD_MAX];
            int na = ints(c, n, in, n_in, 1, 13, "axes", ax);
            ok = k[0]->rank == 0 && na == 1 && (ax[0] == 0 || ax[0] == -1);
            o.rank = 1;
        } else if (!strcmp(op, "Squeeze")) {
            ok = k[0]->rank == 1 && k[0]->n == 1;
            o.rank = 0;
        } else if (!strcmp(op, "Reshape")) {
            ox_kd t;
            const ox_kd *s = n_in > 1 && in[1] && in[1]->data ? mk_onnx_kd(in[1], &t) : NULL;
            ok = s && s->rank == 1 && s->n <= 1 &&
                 (s->n == 0 ? o.n == 1 : (s->v[0] == -1 || s->v[0] == o.n));
            o.rank = s ? s->n : 0;
        } else if (!strcmp(op, "Cast")) {
            int64_t to = mk_onnx_attr_i(n, "to", 0);
            int full = 1;
            for (int i = 0; i < o.n; i++) full &= o.v[i] != OX_UNKNOWN;
            if (to == 1 || to == 10 || to == 11) { /* float: only a fully known vector folds */
                if (!full) return MK_EUNSUPPORTED;
                float f[OX_KD_MAX];
                for (int i = 0; i < o.n; i++) f[i] = (float)o.v[i];
                int64_t d = o.n;
                mk_type t = mk_type_make(MK_DT_FP32, o.rank, &d);
                return mk_onnx_set_const(c, out[0], &t, f);
            }
            ok = to == 9 || to == 2 || to == 3 || to == 4 || to == 5 || to == 6 || to == 7 ||
                 to == 12 || to == 13;
            if (to == 9) {
                o.dtype = MK_DT_BOOL;
                for (int i = 0; i < o.n; i++)
                    if (o.v[i] != OX_UNKNOWN)
                        set_known(&o, i, o.v[i] != 0);
                    else
                        set_unknown(&o, i);
            } else {
                o.dtype = MK_DT_INT64;
            }
        } else {
            ok = 1;
        }
    } else if (!strcmp(op, "Where")) {
        ok = n_in == 3 && k[1] && k[2] && eval_where(k[0], k[1], k[2], &o);
    } else if (!strcmp(op, "Not")) {
        o = *k[0];
        ok = o.dtype == MK_DT_BOOL;
        for (int i = 0; ok && i < o.n; i++)
            if (o.v[i] != OX_UNKNOWN) set_known(&o, i, !o.v[i]);
    } else if (n_in == 2 && k[1]) {
        if (!strcmp(op, "Mod") && mk_onnx_attr_i(n, "fmod", 0)) op = "fmod";
        ok = eval_binary(op, k[0], k[1], &o);
    }
    if (!ok) return MK_EUNSUPPORTED;
    int full = 1;
    for (int i = 0; i < o.n; i++) full &= o.v[i] != OX_UNKNOWN;
    if (full) {
        int64_t d = o.n;
        mk_type t = mk_type_make(o.dtype, o.rank, &d);
        if (o.dtype == MK_DT_BOOL) {
            uint8_t b[OX_KD_MAX];
            for (int i = 0; i < o.n; i++) b[i] = o.v[i] != 0;
            return mk_onnx_set_const(c, out[0], &t, b);
        }
        return mk_onnx_set_const(c, out[0], &t, o.v);
    }
    ox_kd *p = mk_arena_alloc(c->p->arena, sizeof *p);
    if (!p) return MK_OOM(c->err);
    *p = o;
    *partial = p;
    return MK_EUNSUPPORTED;
}
