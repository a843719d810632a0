/* Type rules for shape and layout ops: reshape (iOS15 and iOS17 zero rules), transpose,
 * expand_dims/squeeze, flatten2d, concat/split/stack, slicing, gather/scatter families, tile,
 * pad and reductions. Rules use operand data when present (shape, begin/end, reps, pad) and
 * give MK_DIM_UNKNOWN dims when it is not; they do not evaluate values. */
#include <string.h>

#include "infer_int.h"

static mk_status read_axes(mk_ictx *c, const char *param, int rank, int *axes, int *n, int *known)
{
    int64_t v[MK_MAX_RANK + 1];
    const mk_operand *o = mk_ir_infer_in(c, param);
    *known = 0;
    *n = 0;
    if (!o) return MK_OK;
    int k = mk_ir_infer_ints(c, param, o, v, MK_MAX_RANK, n);
    if (k < 0) return c->e->code;
    if (!k) return MK_OK;
    *known = 1;
    for (int i = 0; i < *n; i++) {
        if (mk_ir_infer_axis(c, param, v[i], rank, &axes[i])) return c->e->code;
        for (int j = 0; j < i; j++)
            if (axes[j] == axes[i])
                return mk_ir_infer_fail(c, "duplicate axis %d in '%s'", axes[i], param);
    }
    return MK_OK;
}

static int64_t numel_known(const mk_type *t, int skip, int *ok)
{
    int64_t n = 1;
    *ok = 1;
    for (int i = 0; i < t->rank; i++) {
        if (i == skip) continue;
        if (t->dims[i] < 0) {
            *ok = 0;
            return 0;
        }
        if (t->dims[i] && n > MK_INFER_DIM_MAX * 64 / t->dims[i]) {
            *ok = 0;
            return 0;
        }
        n *= t->dims[i];
    }
    return n;
}

mk_status mk_ir_rule_reshape(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *s = x ? mk_ir_infer_req(c, "shape") : NULL;
    if (!s) return c->e->code;
    if (s->type.rank > 1) return mk_ir_infer_fail(c, "'shape' must be a vector");
    int64_t v[MK_MAX_RANK + 1];
    int n = 0;
    int k = mk_ir_infer_ints(c, "shape", s, v, MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    mk_type t = mk_type_scalar(x->type.dtype);
    if (!k) {
        int64_t len = s->type.rank == 1 ? s->type.dims[0] : -1;
        if (len > MK_MAX_RANK)
            return mk_ir_infer_fail(c, "target rank %lld exceeds %d", (long long)len, MK_MAX_RANK);
        if (len < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
        t.rank = (int)len;
        for (int i = 0; i < t.rank; i++) t.dims[i] = MK_DIM_UNKNOWN;
        return mk_ir_infer_out(c, &t);
    }
    int neg = -1, r = x->type.rank;
    t.rank = n;
    for (int i = 0; i < n; i++) {
        if (v[i] == -1) {
            if (neg >= 0) return mk_ir_infer_fail(c, "more than one -1 in 'shape'");
            neg = i;
        } else if (v[i] < -1) {
            return mk_ir_infer_fail(c, "invalid dim %lld in 'shape'", (long long)v[i]);
        }
        t.dims[i] = v[i];
    }
    int has_zero = 0;
    for (int i = 0; i < n; i++) has_zero |= v[i] == 0;
    if (has_zero) {
        if (r < 0) {
            for (int i = 0; i < n; i++)
                if (v[i] == 0) t.dims[i] = MK_DIM_UNKNOWN;
        } else if (c->ios >= 17) { /* zeros match x's dims from the right; out of range -> 1 */
            for (int i = 0; i < n; i++) {
                int j = r - (n - i);
                if (v[i] == 0) t.dims[i] = j >= 0 ? x->type.dims[j] : 1;
            }
        } else {
            if (n != r)
                return mk_ir_infer_fail(c, "0 in 'shape' needs len(shape) %d == rank(x) %d", n, r);
            for (int i = 0; i < n; i++)
                if (v[i] == 0) t.dims[i] = x->type.dims[i];
        }
    }
    int xok, tok;
    int64_t xn = r >= 0 ? numel_known(&x->type, -1, &xok) : (xok = 0, 0);
    if (neg >= 0) {
        int64_t rest = numel_known(&t, neg, &tok);
        t.dims[neg] = MK_DIM_UNKNOWN;
        if (xok && tok) {
            if (rest == 0) {
                if (xn != 0) return mk_ir_infer_fail(c, "cannot infer -1 with a 0-sized dim");
                t.dims[neg] = 0;
            } else {
                if (xn % rest)
                    return mk_ir_infer_fail(c, "cannot reshape %lld elements with -1 and %lld",
                                            (long long)xn, (long long)rest);
                t.dims[neg] = xn / rest;
            }
        }
    }
    int64_t tn = numel_known(&t, -1, &tok);
    if (xok && tok && xn != tn)
        return mk_ir_infer_fail(c, "cannot reshape %lld elements into %lld", (long long)xn,
                                (long long)tn);
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_transpose(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *p = x ? mk_ir_infer_req(c, "perm") : NULL;
    if (!p) return c->e->code;
    int64_t v[MK_MAX_RANK + 1];
    int n = 0, k = mk_ir_infer_ints(c, "perm", p, v, MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    if (!k) return mk_ir_infer_fail(c, "'perm' must be a known constant");
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    if (n != x->type.rank)
        return mk_ir_infer_fail(c, "perm has %d entries for rank %d", n, x->type.rank);
    mk_type t = x->type;
    int seen[MK_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        int a;
        if (mk_ir_infer_axis(c, "perm entry", v[i], n, &a)) return c->e->code;
        if (seen[a]++) return mk_ir_infer_fail(c, "perm is not a permutation");
        t.dims[i] = x->type.dims[a];
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_expand_dims(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *a = x ? mk_ir_infer_req(c, "axes") : NULL;
    if (!a) return c->e->code;
    int64_t v[MK_MAX_RANK + 1];
    int n = 0, k = mk_ir_infer_ints(c, "axes", a, v, MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    if (!k) return mk_ir_infer_fail(c, "'axes' must be a known constant");
    if (n == 0) return mk_ir_infer_fail(c, "'axes' is empty");
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int r = x->type.rank + n;
    if (r > MK_MAX_RANK) return mk_ir_infer_fail(c, "output rank %d exceeds %d", r, MK_MAX_RANK);
    int mark[MK_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        int ax;
        if (mk_ir_infer_axis(c, "axis", v[i], r, &ax)) return c->e->code;
        if (mark[ax]++) return mk_ir_infer_fail(c, "duplicate axis %d", ax);
    }
    mk_type t = mk_type_scalar(x->type.dtype);
    t.rank = r;
    for (int i = 0, j = 0; i < r; i++) t.dims[i] = mark[i] ? 1 : x->type.dims[j++];
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_squeeze(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int axes[MK_MAX_RANK + 1], n, known, drop[MK_MAX_RANK] = {0};
    if (read_axes(c, "axes", x->type.rank, axes, &n, &known)) return c->e->code;
    if (mk_ir_infer_in(c, "axes") && !known)
        return mk_ir_infer_fail(c, "'axes' must be a known constant");
    if (!known) { /* squeeze every dim known to be 1 (unknown dims are kept) */
        for (int i = 0; i < x->type.rank; i++) drop[i] = x->type.dims[i] == 1;
    } else { /* listed axes: size-1 or unknown dims go, other sizes are kept */
        for (int i = 0; i < n; i++) drop[axes[i]] = x->type.dims[axes[i]] <= 1;
    }
    mk_type t = mk_type_scalar(x->type.dtype);
    for (int i = 0; i < x->type.rank; i++)
        if (!drop[i]) t.dims[t.rank++] = x->type.dims[i];
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_flatten2d(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t axis;
    if (mk_ir_infer_int(c, "axis", 1, &axis, NULL)) return c->e->code;
    int64_t d[2] = {MK_DIM_UNKNOWN, MK_DIM_UNKNOWN};
    int r = x->type.rank;
    if (r >= 0) {
        if (axis < -r || axis > r)
            return mk_ir_infer_fail(c, "axis %lld out of range for rank %d", (long long)axis, r);
        int ax = (int)(axis < 0 ? axis + r : axis);
        d[0] = d[1] = 1;
        for (int i = 0; i < r; i++)
            if (mk_ir_infer_dim_mul(c, d[i >= ax], x->type.dims[i], &d[i >= ax])) return c->e->code;
    }
    mk_type t = mk_type_make(x->type.dtype, 2, d);
    return mk_ir_infer_out(c, &t);
}

/* Unify dim a with b (known wins; two different known dims are an error). */
static mk_status unify(mk_ictx *c, const char *what, int i, int64_t *a, int64_t b)
{
    if (*a < 0)
        *a = b;
    else if (b >= 0 && *a != b)
        return mk_ir_infer_fail(c, "%s: dim %d mismatch (%lld vs %lld)", what, i, (long long)*a,
                                (long long)b);
    return MK_OK;
}

mk_status mk_ir_rule_concat(mk_ictx *c)
{
    int n = mk_ir_infer_nargs(c, "values");
    if (n == 0) return mk_ir_infer_fail(c, "missing required input 'values'");
    const mk_operand *v0 = mk_ir_infer_arg(c, "values", 0);
    int64_t axis;
    int ax;
    if (!v0 || mk_ir_infer_int(c, "axis", 0, &axis, NULL))
        return c->e->code ? c->e->code : MK_EINVAL;
    if (!mk_ir_infer_in(c, "axis")) return mk_ir_infer_fail(c, "missing required input 'axis'");
    mk_type t = v0->type;
    for (int j = 0; j < n; j++) {
        const mk_operand *v = mk_ir_infer_arg(c, "values", j);
        if (!v) return mk_ir_infer_fail(c, "values[%d] missing", j);
        if (v->type.dtype != t.dtype) return mk_ir_infer_fail(c, "values[%d] dtype differs", j);
        if (v->type.rank < 0 || t.rank < 0) {
            t.rank = v->type.rank < 0 ? MK_RANK_UNKNOWN : t.rank;
            continue;
        }
        if (v->type.rank != t.rank)
            return mk_ir_infer_fail(c, "values[%d] rank %d differs from %d", j, v->type.rank,
                                    t.rank);
    }
    if (t.rank < 0) return mk_ir_infer_out_unranked(c, t.dtype);
    if (t.rank == 0) return mk_ir_infer_fail(c, "values must have rank >= 1");
    if (mk_ir_infer_axis(c, "axis", axis, t.rank, &ax)) return c->e->code;
    int64_t sum = 0;
    for (int j = 0; j < n; j++) {
        const mk_operand *v = mk_ir_infer_arg(c, "values", j);
        for (int i = 0; i < t.rank; i++) {
            if (i == ax) continue;
            if (unify(c, "values", i, &t.dims[i], v->type.dims[i])) return c->e->code;
        }
        int64_t d = v->type.dims[ax];
        if (sum >= 0) sum = d < 0 ? MK_DIM_UNKNOWN : sum + d;
        if (sum > MK_INFER_DIM_MAX) return mk_ir_infer_fail(c, "concat size is absurd");
    }
    t.dims[ax] = sum;
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_split(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    if (!mk_ir_infer_in(c, "axis")) return mk_ir_infer_fail(c, "missing required input 'axis'");
    int64_t axis, ns;
    int ax, nsk;
    if (mk_ir_infer_int(c, "axis", 0, &axis, NULL)) return c->e->code;
    const mk_operand *ss = mk_ir_infer_in(c, "split_sizes");
    const mk_operand *nso = mk_ir_infer_in(c, "num_splits");
    if (!ss && !nso) return mk_ir_infer_fail(c, "needs num_splits or split_sizes");
    if (x->type.rank == 0) return mk_ir_infer_fail(c, "x must have rank >= 1");
    int64_t dim = MK_DIM_UNKNOWN;
    if (x->type.rank > 0) {
        if (mk_ir_infer_axis(c, "axis", axis, x->type.rank, &ax)) return c->e->code;
        dim = x->type.dims[ax];
    }
    int64_t sizes[MK_INFER_MAX_OUTS];
    int n = 0;
    if (ss) {
        int k = mk_ir_infer_ints(c, "split_sizes", ss, sizes, MK_INFER_MAX_OUTS, &n);
        if (k < 0) return c->e->code;
        if (!k) {
            if (ss->type.rank != 1 || ss->type.dims[0] < 0)
                return mk_ir_infer_fail(c, "split_sizes length unknown");
            if (ss->type.dims[0] > MK_INFER_MAX_OUTS) return mk_ir_infer_fail(c, "too many splits");
            n = (int)ss->type.dims[0];
            for (int i = 0; i < n; i++) sizes[i] = MK_DIM_UNKNOWN;
        } else {
            int64_t sum = 0;
            for (int i = 0; i < n; i++) {
                if (sizes[i] < 0) return mk_ir_infer_fail(c, "negative split size");
                sum += sizes[i];
            }
            if (dim >= 0 && sum != dim)
                return mk_ir_infer_fail(c, "split sizes sum to %lld, axis size is %lld",
                                        (long long)sum, (long long)dim);
        }
    } else {
        if (mk_ir_infer_int(c, "num_splits", 0, &ns, &nsk)) return c->e->code;
        if (!nsk) return mk_ir_infer_fail(c, "'num_splits' must be a known constant");
        if (ns <= 0 || ns > MK_INFER_MAX_OUTS)
            return mk_ir_infer_fail(c, "num_splits %lld out of range", (long long)ns);
        if (dim >= 0 && dim % ns)
            return mk_ir_infer_fail(c, "axis size %lld not divisible by num_splits %lld",
                                    (long long)dim, (long long)ns);
        n = (int)ns;
        for (int i = 0; i < n; i++) sizes[i] = dim < 0 ? MK_DIM_UNKNOWN : dim / ns;
    }
    if (n == 0) return mk_ir_infer_fail(c, "zero splits");
    for (int i = 0; i < n; i++) {
        mk_type t = x->type;
        if (t.rank > 0) t.dims[ax] = sizes[i];
        if (mk_ir_infer_out(c, &t)) return c->e->code;
    }
    return MK_OK;
}

mk_status mk_ir_rule_stack(mk_ictx *c)
{
    int n = mk_ir_infer_nargs(c, "values");
    if (n == 0) return mk_ir_infer_fail(c, "missing required input 'values'");
    if (!mk_ir_infer_in(c, "axis")) return mk_ir_infer_fail(c, "missing required input 'axis'");
    int64_t axis;
    int ax;
    if (mk_ir_infer_int(c, "axis", 0, &axis, NULL)) return c->e->code;
    const mk_operand *v0 = mk_ir_infer_arg(c, "values", 0);
    if (!v0) return mk_ir_infer_fail(c, "values[0] missing");
    mk_type s = v0->type;
    for (int j = 1; j < n; j++) {
        const mk_operand *v = mk_ir_infer_arg(c, "values", j);
        if (!v) return mk_ir_infer_fail(c, "values[%d] missing", j);
        if (v->type.dtype != s.dtype) return mk_ir_infer_fail(c, "values[%d] dtype differs", j);
        if (s.rank < 0 || v->type.rank < 0) {
            s.rank = MK_RANK_UNKNOWN;
            continue;
        }
        if (v->type.rank != s.rank)
            return mk_ir_infer_fail(c, "values[%d] rank %d differs from %d", j, v->type.rank,
                                    s.rank);
        for (int i = 0; i < s.rank; i++)
            if (unify(c, "values", i, &s.dims[i], v->type.dims[i])) return c->e->code;
    }
    if (s.rank < 0) return mk_ir_infer_out_unranked(c, s.dtype);
    int r = s.rank + 1;
    if (r > MK_MAX_RANK) return mk_ir_infer_fail(c, "output rank exceeds %d", MK_MAX_RANK);
    if (mk_ir_infer_axis(c, "axis", axis, r, &ax)) return c->e->code;
    mk_type t = mk_type_scalar(s.dtype);
    t.rank = r;
    for (int i = 0, j = 0; i < r; i++) t.dims[i] = i == ax ? n : s.dims[j++];
    return mk_ir_infer_out(c, &t);
}

/* Read an optional per-axis vector of exactly rank entries, def everywhere when absent. Not
 * constant: *known (may be NULL) is 0 and out keeps def; with elems, the elements known of a
 * run-time vector (a shape) are read and the others are MK_ELEM_UNKNOWN. */
static mk_status per_axis(mk_ictx *c, const char *param, int rank, int64_t def, int elems,
                          int64_t *out, int *known)
{
    const mk_operand *o = mk_ir_infer_in(c, param);
    int n = 0, k_;
    int *kn = known ? known : &k_;
    *kn = 1;
    for (int i = 0; i < rank; i++) out[i] = o && elems ? MK_ELEM_UNKNOWN : def;
    if (!o) return MK_OK;
    int k = elems ? mk_ir_infer_elems(c, param, o, out, MK_MAX_RANK, &n)
                  : mk_ir_infer_ints(c, param, o, out, MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    if (k == 0 || (k == 2 && n != rank)) {
        *kn = 0;
        for (int i = 0; elems && i < rank; i++) out[i] = MK_ELEM_UNKNOWN;
        if (o->type.rank == 1 && o->type.dims[0] >= 0 && o->type.dims[0] != rank)
            return mk_ir_infer_fail(c, "'%s' has %lld entries for rank %d", param,
                                    (long long)o->type.dims[0], rank);
        return MK_OK;
    }
    if (n != rank) return mk_ir_infer_fail(c, "'%s' has %d entries for rank %d", param, n, rank);
    return MK_OK;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The slice_by_index output type of x (shared with slice_update's update check). */
static mk_status slice_type(mk_ictx *c, const mk_operand *x, mk_type *t)
{
    int r = x->type.rank;
    *t = mk_type_scalar(x->type.dtype);
    if (r < 0) {
        t->rank = MK_RANK_UNKNOWN;
        return MK_OK;
    }
    int64_t b[MK_MAX_RANK + 1], e[MK_MAX_RANK + 1], s[MK_MAX_RANK + 1];
    int64_t bm[MK_MAX_RANK + 1], em[MK_MAX_RANK + 1], sm[MK_MAX_RANK + 1];
    int sk, bmk, emk, smk;
    if (!mk_ir_infer_req(c, "begin") || !mk_ir_infer_req(c, "end")) return c->e->code;
    if (per_axis(c, "begin", r, 0, 1, b, NULL) || per_axis(c, "end", r, 0, 1, e, NULL) ||
        per_axis(c, "stride", r, 1, 0, s, &sk) || per_axis(c, "begin_mask", r, 0, 0, bm, &bmk) ||
        per_axis(c, "end_mask", r, 0, 0, em, &emk) ||
        per_axis(c, "squeeze_mask", r, 0, 0, sm, &smk))
        return c->e->code;
    if (!smk) return mk_ir_infer_fail(c, "'squeeze_mask' must be a known constant");
    for (int i = 0; i < r; i++) {
        if (sm[i]) continue;
        int64_t d = x->type.dims[i], st = s[i], len = MK_DIM_UNKNOWN;
        if (sk && st == 0) return mk_ir_infer_fail(c, "stride is 0 on axis %d", i);
        int bknown = bmk && (bm[i] || b[i] != MK_ELEM_UNKNOWN);
        int eknown = emk && (em[i] || e[i] != MK_ELEM_UNKNOWN);
        if (d >= 0 && sk && bknown && eknown) {
            int64_t lo, hi;
            if (st > 0) {
                lo = bm[i] ? 0 : clamp64(b[i] < 0 ? b[i] + d : b[i], 0, d);
                hi = em[i] ? d : clamp64(e[i] < 0 ? e[i] + d : e[i], 0, d);
                len = hi > lo ? (hi - lo + st - 1) / st : 0;
            } else {
                lo = bm[i] ? d - 1 : clamp64(b[i] < 0 ? b[i] + d : b[i], -1, d - 1);
                hi = em[i] ? -1 : clamp64(e[i] < 0 ? e[i] + d : e[i], -1, d - 1);
                len = lo > hi ? (lo - hi + (-st) - 1) / (-st) : 0;
            }
        }
        t->dims[t->rank++] = len;
    }
    return MK_OK;
}

mk_status mk_ir_rule_slice_by_index(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    mk_type t;
    if (!x || slice_type(c, x, &t)) return c->e->code;
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_slice_update(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *u = x ? mk_ir_infer_req(c, "update") : NULL;
    mk_type t;
    if (!u || slice_type(c, x, &t)) return c->e->code;
    if (u->type.dtype != x->type.dtype) return mk_ir_infer_fail(c, "update dtype differs from x");
    if (t.rank >= 0 && u->type.rank >= 0) {
        if (u->type.rank != t.rank)
            return mk_ir_infer_fail(c, "update rank %d, slice rank %d", u->type.rank, t.rank);
        for (int i = 0; i < t.rank; i++)
            if (mk_ir_infer_same_dim(c, "update vs slice dim", u->type.dims[i], t.dims[i]))
                return c->e->code;
    }
    return mk_ir_infer_out(c, &x->type);
}

mk_status mk_ir_rule_slice_by_size(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x || !mk_ir_infer_req(c, "begin") || !mk_ir_infer_req(c, "size")) return c->e->code;
    int r = x->type.rank;
    if (r < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int64_t b[MK_MAX_RANK + 1], sz[MK_MAX_RANK + 1];
    if (per_axis(c, "begin", r, 0, 1, b, NULL) || per_axis(c, "size", r, 0, 1, sz, NULL))
        return c->e->code;
    mk_type t = x->type;
    for (int i = 0; i < r; i++) {
        int64_t d = x->type.dims[i];
        int bk = b[i] != MK_ELEM_UNKNOWN;
        if (sz[i] == MK_ELEM_UNKNOWN) {
            t.dims[i] = MK_DIM_UNKNOWN;
        } else if (sz[i] == -1) {
            int64_t bi = bk ? (b[i] < 0 && d >= 0 ? b[i] + d : b[i]) : -1;
            t.dims[i] = d >= 0 && bk ? d - bi : MK_DIM_UNKNOWN;
            if (t.dims[i] < MK_DIM_UNKNOWN || (d >= 0 && bk && (bi < 0 || bi > d)))
                return mk_ir_infer_fail(c, "begin %lld out of range on axis %d", (long long)b[i],
                                        i);
        } else if (sz[i] < 0) {
            return mk_ir_infer_fail(c, "size %lld invalid on axis %d", (long long)sz[i], i);
        } else {
            t.dims[i] = sz[i];
            if (d >= 0 && sz[i] > d)
                return mk_ir_infer_fail(c, "size %lld exceeds dim %lld on axis %d",
                                        (long long)sz[i], (long long)d, i);
        }
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_gather(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *ix = x ? mk_ir_infer_req(c, "indices") : NULL;
    if (!ix) return c->e->code;
    int64_t axis, bd;
    int ax;
    if (mk_ir_infer_int(c, "axis", 0, &axis, NULL) ||
        mk_ir_infer_int(c, "batch_dims", 0, &bd, NULL))
        return c->e->code;
    if (!mk_dtype_is_int(ix->type.dtype)) return mk_ir_infer_fail(c, "indices must be integer");
    int rx = x->type.rank, ri = ix->type.rank;
    if (rx < 0 || ri < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    if (rx == 0) return mk_ir_infer_fail(c, "x must have rank >= 1");
    if (mk_ir_infer_axis(c, "axis", axis, rx, &ax)) return c->e->code;
    if (bd < 0) bd += ri;
    if (bd < 0 || bd > ri || bd > ax)
        return mk_ir_infer_fail(c, "batch_dims %lld invalid for axis %d and indices rank %d",
                                (long long)bd, ax, ri);
    int r = rx - 1 + ri - (int)bd;
    if (r > MK_MAX_RANK) return mk_ir_infer_fail(c, "output rank %d exceeds %d", r, MK_MAX_RANK);
    mk_type t = mk_type_scalar(x->type.dtype);
    for (int i = 0; i < ax; i++) t.dims[t.rank++] = x->type.dims[i];
    for (int i = (int)bd; i < ri; i++) t.dims[t.rank++] = ix->type.dims[i];
    for (int i = ax + 1; i < rx; i++) t.dims[t.rank++] = x->type.dims[i];
    for (int i = 0; i < bd; i++)
        if (mk_ir_infer_same_dim(c, "batch dim", x->type.dims[i], ix->type.dims[i]))
            return c->e->code;
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_gather_along_axis(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *ix = x ? mk_ir_infer_req(c, "indices") : NULL;
    if (!ix) return c->e->code;
    int64_t axis;
    int ax;
    if (mk_ir_infer_int(c, "axis", 0, &axis, NULL)) return c->e->code;
    if (x->type.rank < 0 || ix->type.rank < 0) {
        mk_type t = ix->type;
        t.dtype = x->type.dtype;
        return mk_ir_infer_out(c, &t);
    }
    if (x->type.rank != ix->type.rank)
        return mk_ir_infer_fail(c, "indices rank %d differs from x rank %d", ix->type.rank,
                                x->type.rank);
    if (x->type.rank == 0) return mk_ir_infer_fail(c, "x must have rank >= 1");
    if (mk_ir_infer_axis(c, "axis", axis, x->type.rank, &ax)) return c->e->code;
    for (int i = 0; i < x->type.rank; i++)
        if (i != ax &&
            mk_ir_infer_same_dim(c, "indices vs x dim", ix->type.dims[i], x->type.dims[i]))
            return c->e->code;
    mk_type t = ix->type;
    t.dtype = x->type.dtype;
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_gather_nd(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *ix = x ? mk_ir_infer_req(c, "indices") : NULL;
    if (!ix) return c->e->code;
    int64_t bd;
    if (mk_ir_infer_int(c, "batch_dims", 0, &bd, NULL)) return c->e->code;
    int rx = x->type.rank, ri = ix->type.rank;
    if (rx < 0 || ri < 0 || (ri > 0 && ix->type.dims[ri - 1] < 0))
        return mk_ir_infer_out_unranked(c, x->type.dtype);
    if (ri == 0) return mk_ir_infer_fail(c, "indices must have rank >= 1");
    int64_t k = ix->type.dims[ri - 1];
    if (bd < 0 || bd >= ri || bd + k > rx)
        return mk_ir_infer_fail(c, "indices last dim %lld with batch_dims %lld exceeds x rank %d",
                                (long long)k, (long long)bd, rx);
    int r = ri - 1 + rx - (int)(bd + k);
    if (r > MK_MAX_RANK) return mk_ir_infer_fail(c, "output rank %d exceeds %d", r, MK_MAX_RANK);
    mk_type t = mk_type_scalar(x->type.dtype);
    for (int i = 0; i < ri - 1; i++) t.dims[t.rank++] = ix->type.dims[i];
    for (int i = (int)(bd + k); i < rx; i++) t.dims[t.rank++] = x->type.dims[i];
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_scatter(mk_ictx *c)
{
    const mk_operand *d = mk_ir_infer_req(c, "data");
    const mk_operand *ix = d ? mk_ir_infer_req(c, "indices") : NULL;
    const mk_operand *u = ix ? mk_ir_infer_req(c, "updates") : NULL;
    if (!u) return c->e->code;
    if (u->type.dtype != d->type.dtype) return mk_ir_infer_fail(c, "updates dtype differs");
    if (!mk_dtype_is_int(ix->type.dtype)) return mk_ir_infer_fail(c, "indices must be integer");
    const char *mode = mk_ir_infer_str(c, "mode", "add");
    static const char *const modes[] = {"update", "add", "sub", "mul", "div", "max", "min"};
    int ok = !mode;
    for (size_t i = 0; mode && i < sizeof modes / sizeof *modes; i++) ok |= !strcmp(mode, modes[i]);
    if (!ok) return mk_ir_infer_fail(c, "unknown mode \"%s\"", mode);
    if (c->op->kind != MK_OP_SCATTER_ND && d->type.rank > 0) {
        int64_t axis;
        int ax;
        if (mk_ir_infer_int(c, "axis", 0, &axis, NULL) ||
            mk_ir_infer_axis(c, "axis", axis, d->type.rank, &ax))
            return c->e->code;
    }
    return mk_ir_infer_out(c, &d->type);
}

mk_status mk_ir_rule_tile(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *rp = x ? mk_ir_infer_req(c, "reps") : NULL;
    if (!rp) return c->e->code;
    int r = x->type.rank;
    if (r < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int64_t reps[MK_MAX_RANK + 1];
    if (per_axis(c, "reps", r, 1, 1, reps, NULL)) return c->e->code;
    mk_type t = x->type;
    for (int i = 0; i < r; i++) {
        if (reps[i] == MK_ELEM_UNKNOWN) {
            t.dims[i] = MK_DIM_UNKNOWN;
            continue;
        }
        if (reps[i] < 0) return mk_ir_infer_fail(c, "negative reps on axis %d", i);
        if (mk_ir_infer_dim_mul(c, x->type.dims[i], reps[i], &t.dims[i])) return c->e->code;
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_pad(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *p = x ? mk_ir_infer_req(c, "pad") : NULL;
    if (!p) return c->e->code;
    const char *mode = mk_ir_infer_str(c, "mode", "constant");
    if (mode && strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "replicate"))
        return mk_ir_infer_fail(c, "unknown pad mode \"%s\"", mode);
    int r = x->type.rank;
    if (r < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int64_t v[2 * MK_MAX_RANK + 1];
    int n = 0, k = mk_ir_infer_ints(c, "pad", p, v, 2 * MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    mk_type t = x->type;
    if (!k) {
        int64_t len = p->type.rank == 1 ? p->type.dims[0] : 2 * r;
        if (len < 0) len = 2 * r;
        if (len % 2 || len > 2 * r)
            return mk_ir_infer_fail(c, "pad length %lld invalid for rank %d", (long long)len, r);
        for (int i = r - (int)(len / 2); i < r; i++) t.dims[i] = MK_DIM_UNKNOWN;
        return mk_ir_infer_out(c, &t);
    }
    if (n % 2 || n > 2 * r) return mk_ir_infer_fail(c, "pad length %d invalid for rank %d", n, r);
    int first = r - n / 2;
    for (int i = first; i < r; i++) {
        int64_t a = v[2 * (i - first)], b = v[2 * (i - first) + 1], d = x->type.dims[i];
        if (a < 0 || b < 0) return mk_ir_infer_fail(c, "negative pad on axis %d", i);
        if (mode && strcmp(mode, "reflect") == 0 && d >= 0 && (a >= d || b >= d))
            return mk_ir_infer_fail(c, "reflect pad %lld/%lld must be below dim %lld on axis %d",
                                    (long long)a, (long long)b, (long long)d, i);
        if (d >= 0) {
            if (a > MK_INFER_DIM_MAX || b > MK_INFER_DIM_MAX - a || d > MK_INFER_DIM_MAX - a - b)
                return mk_ir_infer_fail(c, "padded size is absurd on axis %d", i);
            t.dims[i] = d + a + b;
        }
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_reduce(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t keep;
    int kk;
    if (mk_ir_infer_int(c, "keep_dims", 0, &keep, &kk)) return c->e->code;
    if (!kk) return mk_ir_infer_fail(c, "'keep_dims' must be a known constant");
    int r = x->type.rank;
    if (r < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int axes[MK_MAX_RANK + 1], n, known, red[MK_MAX_RANK] = {0};
    if (read_axes(c, "axes", r, axes, &n, &known)) return c->e->code;
    const mk_operand *ao = mk_ir_infer_in(c, "axes");
    mk_type t = mk_type_scalar(x->type.dtype);
    if (ao && !known) {
        if (keep) {
            t = x->type;
            for (int i = 0; i < r; i++) t.dims[i] = MK_DIM_UNKNOWN;
            return mk_ir_infer_out(c, &t);
        }
        return mk_ir_infer_out_unranked(c, x->type.dtype);
    }
    if (!ao) {
        for (int i = 0; i < r; i++) red[i] = 1;
    } else {
        for (int i = 0; i < n; i++) red[axes[i]] = 1;
    }
    for (int i = 0; i < r; i++) {
        if (!red[i])
            t.dims[t.rank++] = x->type.dims[i];
        else if (keep)
            t.dims[t.rank++] = 1;
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_reduce_arg(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t keep, axis;
    int kk, ak, ax;
    if (mk_ir_infer_int(c, "keep_dims", 0, &keep, &kk) ||
        mk_ir_infer_int(c, "axis", -1, &axis, &ak))
        return c->e->code;
    if (!kk || !ak) return mk_ir_infer_fail(c, "'axis' and 'keep_dims' must be known constants");
    const char *dn = mk_ir_infer_str(c, "output_dtype", "int32");
    mk_dtype dt = dn ? mk_dtype_from_name(dn) : MK_DT_INVALID;
    if (dt != MK_DT_INT32 && dt != MK_DT_UINT16)
        return mk_ir_infer_fail(c, "output_dtype must be \"int32\" or \"uint16\"");
    int r = x->type.rank;
    if (r < 0) return mk_ir_infer_out_unranked(c, dt);
    if (r == 0) return mk_ir_infer_fail(c, "x must have rank >= 1");
    if (mk_ir_infer_axis(c, "axis", axis, r, &ax)) return c->e->code;
    mk_type t = mk_type_scalar(dt);
    for (int i = 0; i < r; i++) {
        if (i != ax)
            t.dims[t.rank++] = x->type.dims[i];
        else if (keep)
            t.dims[t.rank++] = 1;
    }
    return mk_ir_infer_out(c, &t);
}
