/* Lowering of layout and shape ONNX ops to MIL: Reshape, Flatten, Transpose, Squeeze,
 * Unsqueeze, Concat, Split, Slice, Gather, Expand, Tile, Shape, Size, Identity, Dropout,
 * and Constant (always folded). ConstantOfShape / Range / NonZero fold when their inputs are
 * constants and are lowered in lower_runtime.c otherwise. If with a constant condition is
 * inlined; otherwise it becomes a MIL cond with one block per branch. */
#include <string.h>

#include "onnx_int.h"

/* Constant int list from input idx (opset >= since) or attribute attr; -1 absent, -2 dynamic. */
static int ints_arg(ox_ctx *c, const Onnx__NodeProto *n, ox_val **in, int n_in, int idx, int since,
                    const char *attr, int64_t *out, int max)
{
    if (c->opset >= since) {
        if (idx >= n_in || !in[idx]) return -1;
        if (!in[idx]->data) return -2;
        size_t k = mk_onnx_numel(&in[idx]->type);
        if (k > (size_t)max) return -2;
        for (size_t i = 0; i < k; i++) out[i] = mk_onnx_cget_i(in[idx], i);
        return (int)k;
    }
    const int64_t *v;
    int k = mk_onnx_attr_ints(n, attr, &v);
    if (k > max) return -2;
    if (k > 0) memcpy(out, v, (size_t)k * sizeof *v);
    return k;
}

static mk_status all_known(ox_ctx *c, const Onnx__NodeProto *n, const mk_type *t)
{
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static input shape");
    return MK_OK;
}

OX_LOWER(mk_onnx_lower_identity)
{
    ox_val *a = in[0];
    if (n_in > 2 && in[2] && in[2]->data && mk_onnx_cget_i(in[2], 0)) {
        /* constant training mode drops at random unless the ratio is 0; a run-time flag is
         * taken to be off (inference) */
        ox_val *r = n_in > 1 ? in[1] : NULL;
        if (!r || !r->data || mk_onnx_cget_f(r, 0) != 0)
            return mk_onnx_unsupported(c, n, "training_mode dropout unsupported");
    }
    if (a->data) {
        *out[0] = (ox_val){out[0]->name, a->type, a->data, a->nbytes,    a->borrowed, NULL,
                           NULL,         0,       NULL,    a->f16_range, NULL};
    } else {
        mk_onnx_set(out[0], a->mil);
    }
    if (n_out > 1 && oname(n, 1)) {
        mk_type t = a->type;
        t.dtype = MK_DT_BOOL;
        size_t k = mk_onnx_numel(&t);
        uint8_t *ones = mk_arena_alloc(c->p->arena, k ? k : 1);
        if (!ones) return fail(c);
        memset(ones, 1, k);
        return mk_onnx_set_const(c, out[1], &t, ones);
    }
    return MK_OK;
}

/* ---- run-time shape operands (a flexible input's Shape -> Gather -> Concat chains) ---- */

/* int32 vector of x's first len dims: constant when static, else MIL shape (+ gather). */
static mk_value *shape_prefix(ox_ctx *c, mk_value *x, int len)
{
    int known = 1;
    int32_t d[MK_MAX_RANK];
    for (int i = 0; i < len; i++) {
        known &= x->type.dims[i] >= 0;
        d[i] = (int32_t)x->type.dims[i];
    }
    int64_t l64 = len;
    mk_type t = mk_type_make(MK_DT_INT32, 1, &l64);
    if (known) return mk_ir_const(c->p, c->blk, "shape", &t, d, (size_t)len * 4, 0);
    mk_op *op = mk_onnx_op(c, MK_OP_SHAPE, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x)) return NULL;
    mk_value *s = mk_onnx_out(c, op, NULL);
    if (!s || len == x->type.rank) return s;
    int32_t idx[MK_MAX_RANK];
    for (int i = 0; i < len; i++) idx[i] = i;
    mk_op *g = mk_onnx_op(c, MK_OP_GATHER, NULL);
    if (!g || !mk_onnx_in_mil(c, g, "x", s) || !mk_onnx_in_i32s(c, g, "indices", len, idx) ||
        !mk_onnx_in_i32(c, g, "axis", 0))
        return NULL;
    return mk_onnx_out(c, g, NULL);
}

/* Reshape to a shape known only at run time: ONNX zeros (allowzero 0) copy x's dim. */
static mk_status reshape_rt(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, ox_val *shp,
                            ox_val *o)
{
    int len;
    mk_value *s = mk_onnx_i32_vector(c, shp, &len);
    if (!s)
        return c->err->code ? c->err->code : mk_onnx_unsupported(c, n, "shape of unknown length");
    if (!mk_onnx_attr_i(n, "allowzero", 0) && len > 0 && x->type.rank > 0) {
        int k = len < x->type.rank ? len : x->type.rank;
        mk_value *xs = shape_prefix(c, x, k);
        if (xs && k < len) {
            /* positions past x's rank have no dim to copy: 0 stays 0 (an error at run time) */
            int32_t zs[MK_MAX_RANK] = {0};
            int64_t nz = len - k;
            mk_type zt = mk_type_make(MK_DT_INT32, 1, &nz);
            mk_value *zv = mk_ir_const(c->p, c->blk, "zeros", &zt, zs, (size_t)nz * 4, 0);
            mk_op *cc = zv ? mk_onnx_op(c, MK_OP_CONCAT, NULL) : NULL;
            if (!cc || !mk_onnx_in_mil(c, cc, "values", xs) ||
                !mk_onnx_in_mil(c, cc, "values", zv) || !mk_onnx_in_i32(c, cc, "axis", 0) ||
                !mk_onnx_in_bool(c, cc, "interleave", 0))
                return fail(c);
            xs = mk_onnx_out(c, cc, NULL);
        }
        int32_t zero = 0;
        mk_value *z =
            mk_ir_const(c->p, c->blk, "zero", &(mk_type){.dtype = MK_DT_INT32}, &zero, 4, 0);
        mk_value *eq = xs && z ? mk_onnx_binary(c, MK_OP_EQUAL, s, z, NULL) : NULL;
        mk_op *sel = eq ? mk_onnx_op(c, MK_OP_SELECT, NULL) : NULL;
        if (!sel || !mk_onnx_in_mil(c, sel, "cond", eq) || !mk_onnx_in_mil(c, sel, "a", xs) ||
            !mk_onnx_in_mil(c, sel, "b", s))
            return fail(c);
        if (!(s = mk_onnx_out(c, sel, NULL))) return fail(c);
    }
    mk_op *op = mk_onnx_op(c, MK_OP_RESHAPE, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "shape", s)) return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

/* A run-time Reshape target whose elements are all known but one, which becomes -1 (and
 * zeros stay zeros): the static form. Not when a known element is -1 already or could make
 * the -1 ambiguous (a zero count, a 0 copying an unknown dim of x). */
static int kd_one_unknown(const ox_val *shp, const mk_value *x, int64_t *sh, int *ns)
{
    const ox_kd *k = shp ? shp->kd : NULL;
    if (!k || k->rank != 1 || k->n > MK_MAX_RANK) return 0;
    int unk = 0;
    for (int i = 0; i < k->n; i++) {
        int64_t v = k->v[i];
        if (v == OX_UNKNOWN) {
            unk++;
            sh[i] = -1;
        } else if (v < 0 || (v == 0 && (i >= x->type.rank || x->type.dims[i] <= 0))) {
            return 0;
        } else {
            sh[i] = v;
        }
    }
    *ns = k->n;
    return unk == 1;
}

OX_LOWER(mk_onnx_lower_reshape)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int64_t sh[MK_MAX_RANK * 4];
    int ns = ints_arg(c, n, in, n_in, 1, 5, "shape", sh, MK_MAX_RANK);
    if (ns == -2 && !kd_one_unknown(in[1], x, sh, &ns)) return reshape_rt(c, n, x, in[1], out[0]);
    if (ns < 0) return mk_onnx_unsupported(c, n, "missing shape");
    int allowzero = (int)mk_onnx_attr_i(n, "allowzero", 0), neg = -1;
    int64_t known = 1, total = 1;
    int static_in = 1;
    for (int i = 0; i < x->type.rank; i++) {
        if (x->type.dims[i] < 0)
            static_in = 0;
        else if (!mk_mul_i64(total, x->type.dims[i], &total))
            return mk_err_set(c->err, MK_EINVAL, "input size overflows");
    }
    for (int i = 0; i < ns; i++) {
        if (sh[i] == 0 && !allowzero) {
            if (i >= x->type.rank) return mk_onnx_unsupported(c, n, "0 beyond input rank");
            sh[i] = x->type.dims[i];
            if (sh[i] < 0) {
                if (neg >= 0) return mk_onnx_unsupported(c, n, "two unknown dims");
                neg = i;
                continue;
            }
        }
        if (sh[i] == -1) {
            if (neg >= 0) return mk_onnx_unsupported(c, n, "two -1 dims");
            neg = i;
        } else if (sh[i] < 0) {
            return mk_err_set(c->err, MK_EINVAL, "bad shape value %lld", (long long)sh[i]);
        } else if (!mk_mul_i64(known, sh[i], &known)) {
            return mk_err_set(c->err, MK_EINVAL, "shape %lld overflows", (long long)sh[i]);
        }
    }
    if (neg >= 0 && static_in) {
        if (known == 0 || total % known)
            return mk_err_set(c->err, MK_EINVAL, "cannot reshape %lld elements", (long long)total);
        sh[neg] = total / known;
    } else if (neg < 0 && static_in && known != total) {
        return mk_err_set(c->err, MK_EINVAL, "reshape of %lld elements to %lld", (long long)total,
                          (long long)known);
    }
    return done(c, out[0], mk_onnx_reshape(c, x, ns, sh, oname(n, 0)));
}

OX_LOWER(mk_onnx_lower_flatten)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    int64_t ax = mk_onnx_attr_i(n, "axis", 1);
    if (ax < 0) ax += r;
    if (ax < 0 || ax > r) return mk_onnx_unsupported(c, n, "bad axis");
    int64_t d[2] = {1, 1};
    int unk[2] = {0, 0};
    for (int i = 0; i < r; i++) {
        if (x->type.dims[i] < 0)
            unk[i < ax ? 0 : 1] = 1;
        else if (!mk_mul_i64(d[i < ax ? 0 : 1], x->type.dims[i], &d[i < ax ? 0 : 1]))
            return mk_err_set(c->err, MK_EINVAL, "input size overflows");
    }
    /* dynamic dims on one side of the axis only: that side is the reshape's -1 */
    if ((unk[0] && unk[1]) || (unk[0] && !d[1]) || (unk[1] && !d[0]))
        return all_known(c, n, &x->type);
    if (unk[0] || unk[1]) d[unk[0] ? 0 : 1] = MK_DIM_UNKNOWN;
    return done(c, out[0], mk_onnx_reshape(c, x, 2, d, oname(n, 0)));
}

OX_LOWER(mk_onnx_lower_transpose)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank, perm[MK_MAX_RANK], seen[MK_MAX_RANK] = {0};
    const int64_t *pv;
    int np = mk_onnx_attr_ints(n, "perm", &pv);
    if (np >= 0 && np != r)
        return mk_err_set(c->err, MK_EINVAL, "perm has %d entries, rank %d", np, r);
    for (int i = 0; i < r; i++) {
        int64_t p = np >= 0 ? pv[i] : r - 1 - i;
        if (p < 0) p += r;
        if (p < 0 || p >= r || seen[p]) return mk_err_set(c->err, MK_EINVAL, "bad perm");
        seen[p] = 1;
        perm[i] = (int)p;
    }
    if (r == 0) return done(c, out[0], mk_onnx_unary(c, MK_OP_IDENTITY, x, oname(n, 0)));
    return done(c, out[0], mk_onnx_transpose(c, x, r, perm, oname(n, 0)));
}

OX_LOWER(mk_onnx_lower_squeeze)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int64_t axes[MK_MAX_RANK];
    int na = ints_arg(c, n, in, n_in, 1, 13, "axes", axes, MK_MAX_RANK);
    if (na == -2) return mk_onnx_unsupported(c, n, "axes computed at run time");
    int r = x->type.rank, flag[MK_MAX_RANK] = {0};
    int32_t ax32[MK_MAX_RANK];
    int nax = 0;
    for (int i = 0; i < na; i++) {
        int a;
        if (!norm_axis(axes[i], r, &a)) return mk_err_set(c->err, MK_EINVAL, "bad axis");
        if (x->type.dims[a] != 1 && x->type.dims[a] >= 0)
            return mk_err_set(c->err, MK_EINVAL, "axis %d has size %lld, not 1", a,
                              (long long)x->type.dims[a]);
        flag[a] = 1;
    }
    if (na <= 0)
        for (int i = 0; i < r; i++) {
            if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs static shape");
            flag[i] = x->type.dims[i] == 1;
        }
    for (int i = 0; i < r; i++)
        if (flag[i]) ax32[nax++] = i;
    if (nax == 0) return done(c, out[0], mk_onnx_unary(c, MK_OP_IDENTITY, x, oname(n, 0)));
    mk_op *op = mk_onnx_op(c, MK_OP_SQUEEZE, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", nax, ax32))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_unsqueeze)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int64_t axes[MK_MAX_RANK];
    int na = ints_arg(c, n, in, n_in, 1, 13, "axes", axes, MK_MAX_RANK);
    if (na == -2) return mk_onnx_unsupported(c, n, "axes computed at run time");
    if (na <= 0) return mk_err_set(c->err, MK_EINVAL, "no axes");
    int r = x->type.rank, out_r = r + na, flag[MK_MAX_RANK] = {0};
    if (out_r > MK_MAX_RANK) return mk_onnx_unsupported(c, n, "rank above %d", MK_MAX_RANK);
    int32_t ax32[MK_MAX_RANK];
    for (int i = 0; i < na; i++) {
        int a;
        if (!norm_axis(axes[i], out_r, &a) || flag[a])
            return mk_err_set(c->err, MK_EINVAL, "bad axes");
        flag[a] = 1;
    }
    int nax = 0;
    for (int i = 0; i < out_r; i++)
        if (flag[i]) ax32[nax++] = i;
    mk_op *op = mk_onnx_op(c, MK_OP_EXPAND_DIMS, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", nax, ax32))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_concat)
{
    (void)n_out;
    mk_value *vals[256];
    int nv = 0, r = -1;
    for (int i = 0; i < n_in; i++) {
        if (!in[i]) continue;
        if (in[i]->data && mk_onnx_numel(&in[i]->type) == 0) continue; /* empty */
        if (nv == 256) return mk_onnx_unsupported(c, n, "more than 256 inputs");
        vals[nv] = mil(c, in[i]);
        if (!vals[nv]) return fail(c);
        if (r < 0) r = vals[nv]->type.rank;
        nv++;
    }
    if (nv == 0) return mk_onnx_unsupported(c, n, "all inputs empty");
    int ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), r, &ax))
        return mk_err_set(c->err, MK_EINVAL, "bad axis");
    for (int i = 0; i < nv; i++)
        if (vals[i]->type.rank != r) return mk_err_set(c->err, MK_EINVAL, "ranks differ");
    if (nv == 1) return done(c, out[0], mk_onnx_unary(c, MK_OP_IDENTITY, vals[0], oname(n, 0)));
    mk_op *op = mk_onnx_op(c, MK_OP_CONCAT, oname(n, 0));
    if (!op) return fail(c);
    for (int i = 0; i < nv; i++)
        if (!mk_onnx_in_mil(c, op, "values", vals[i])) return fail(c);
    if (!mk_onnx_in_i32(c, op, "axis", ax) || !mk_onnx_in_bool(c, op, "interleave", 0))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_split)
{
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank, ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), r, &ax))
        return mk_err_set(c->err, MK_EINVAL, "bad axis");
    int64_t dim = x->type.dims[ax];
    if (dim < 0) return mk_onnx_unsupported(c, n, "split of a dynamic axis");
    int64_t sz[64];
    int ns = ints_arg(c, n, in, n_in, 1, 13, "split", sz, 64);
    if (ns == -2) return mk_onnx_unsupported(c, n, "split sizes computed at run time");
    if (ns < 0 || ns == 0) {
        /* equal parts (the last may be smaller from opset 18) */
        int parts = n_out;
        int64_t each = (dim + parts - 1) / parts;
        for (int i = 0; i < parts; i++) {
            int64_t left = dim - each * i;
            sz[i] = left < each ? (left < 0 ? 0 : left) : each;
        }
        ns = parts;
    }
    if (ns != n_out) return mk_err_set(c->err, MK_EINVAL, "%d sizes for %d outputs", ns, n_out);
    int64_t total = 0;
    int32_t s32[64];
    for (int i = 0; i < ns; i++) {
        if (sz[i] < 0) return mk_err_set(c->err, MK_EINVAL, "negative split");
        total += sz[i];
        s32[i] = (int32_t)sz[i];
    }
    if (total != dim)
        return mk_err_set(c->err, MK_EINVAL, "split sizes sum to %lld, axis is %lld",
                          (long long)total, (long long)dim);
    mk_op *op = mk_onnx_op(c, MK_OP_SPLIT, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "split_sizes", ns, s32) ||
        !mk_onnx_in_i32(c, op, "axis", ax))
        return fail(c);
    for (int i = 0; i < n_out; i++) {
        mk_value *v = mk_onnx_out(c, op, oname(n, i));
        if (!v) return fail(c);
        mk_onnx_set(out[i], v);
    }
    return MK_OK;
}

/* Static slice with explicit begin/end per axis (ONNX clamping); masks for "to the end". */
static mk_value *slice_static(ox_ctx *c, mk_value *x, const int64_t *b, const int64_t *e,
                              const int64_t *s, const int *end_mask, const char *name)
{
    int r = x->type.rank;
    int32_t b32[MK_MAX_RANK], e32[MK_MAX_RANK], s32[MK_MAX_RANK];
    uint8_t em[MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        b32[i] = (int32_t)b[i];
        e32[i] = (int32_t)e[i];
        s32[i] = (int32_t)s[i];
        em[i] = (uint8_t)end_mask[i];
    }
    mk_op *op = mk_onnx_op(c, MK_OP_SLICE_BY_INDEX, name);
    const char *emn = op ? mk_arena_printf(c->p->arena, "%s_end_mask", op->name) : NULL;
    mk_value *emv = emn ? mk_ir_const_bool(c->p, c->blk, emn, r, em, 0) : NULL;
    if (!op || !emv || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "begin", r, b32) ||
        !mk_onnx_in_i32s(c, op, "end", r, e32) || !mk_onnx_in_i32s(c, op, "stride", r, s32) ||
        !mk_onnx_in_mil(c, op, "end_mask", emv))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* An int32 [k] vector: constant elements of kd where known, else slices of run-time vector
 * rt (built lazily from v). pos[i] is the kd element for output i, or -1 for fill[i]. */
static mk_value *mixed_vector(ox_ctx *c, ox_val *v, const ox_kd *kd, int k, const int *pos,
                              const int32_t *fill)
{
    mk_value *parts[MK_MAX_RANK], *rt = NULL;
    int np = 0, len;
    int32_t run[MK_MAX_RANK];
    int nrun = 0;
    for (int i = 0; i <= k; i++) {
        int unknown = i < k && pos[i] >= 0 && kd->v[pos[i]] == OX_UNKNOWN;
        if (i < k && !unknown) {
            int64_t x = pos[i] < 0 ? fill[i] : kd->v[pos[i]];
            run[nrun++] = (int32_t)(x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : x);
            continue;
        }
        if (nrun) {
            parts[np] = mk_ir_const_i32(c->p, c->blk, "bounds", nrun, run, 0);
            if (!parts[np++]) return NULL;
            nrun = 0;
        }
        if (i == k) break;
        if (!rt && !(rt = mk_onnx_i32_vector(c, v, &len))) return NULL;
        int64_t b = pos[i], e = pos[i] + 1, st = 1;
        int em = 0;
        if (!(parts[np++] = slice_static(c, rt, &b, &e, &st, &em, NULL))) return NULL;
    }
    if (np == 1) return parts[0];
    mk_op *op = mk_onnx_op(c, MK_OP_CONCAT, NULL);
    if (!op) return NULL;
    for (int i = 0; i < np; i++)
        if (!mk_onnx_in_mil(c, op, "values", parts[i])) return NULL;
    if (!mk_onnx_in_i32(c, op, "axis", 0) || !mk_onnx_in_bool(c, op, "interleave", 0)) return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Slice whose bounds are known only at run time (a causal mask cut to the current length),
 * or of an axis whose length is: slice_by_index with begin/end vectors made of the known
 * elements and the run-time ones; MIL clamps them as ONNX does. Axes and steps constant. */
static mk_status slice_rt(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, ox_val **in, int n_in,
                          ox_val *o)
{
    int r = x->type.rank;
    int64_t ax[MK_MAX_RANK], sp[MK_MAX_RANK];
    ox_kd t1, t2;
    const ox_kd *kb = c->opset >= 10 && n_in > 1 ? mk_onnx_kd(in[1], &t1) : NULL;
    const ox_kd *ke = c->opset >= 10 && n_in > 2 ? mk_onnx_kd(in[2], &t2) : NULL;
    if (!kb || !ke || kb->rank != 1 || kb->n != ke->n || kb->n > r)
        return mk_onnx_unsupported(c, n, "slice bounds computed at run time");
    int na = ints_arg(c, n, in, n_in, 3, 10, "axes", ax, MK_MAX_RANK);
    int nsp = ints_arg(c, n, in, n_in, 4, 10, "steps", sp, MK_MAX_RANK);
    if ((na >= 0 && na != kb->n) || (nsp >= 0 && nsp != kb->n))
        return mk_err_set(c->err, MK_EINVAL, "starts/ends/axes/steps lengths differ");
    int posb[MK_MAX_RANK], pose[MK_MAX_RANK], em[MK_MAX_RANK];
    int32_t fb[MK_MAX_RANK], fe[MK_MAX_RANK], s32[MK_MAX_RANK];
    uint8_t emb[MK_MAX_RANK];
    for (int i = 0; i < r; i++) posb[i] = pose[i] = -1, fb[i] = fe[i] = 0, s32[i] = 1, em[i] = 1;
    for (int k = 0; k < kb->n; k++) {
        int a;
        if (!norm_axis(na >= 0 ? ax[k] : k, r, &a))
            return mk_err_set(c->err, MK_EINVAL, "bad axis");
        int64_t step = nsp >= 0 ? sp[k] : 1, dim = x->type.dims[a];
        int64_t b = kb->v[k], e = ke->v[k];
        if (step == 0) return mk_err_set(c->err, MK_EINVAL, "step 0");
        if (b != OX_UNKNOWN && e != OX_UNKNOWN && dim >= 0) {
            ox_slice_axis(dim, &b, &e, &step);
            em[a] = step < 0 && e < 0;
            fb[a] = (int32_t)b;
            fe[a] = em[a] ? 0 : (int32_t)e;
            s32[a] = (int32_t)step;
            continue;
        }
        if (step < 0 || step > INT32_MAX)
            return mk_onnx_unsupported(c, n, "negative step with run-time bounds");
        s32[a] = (int32_t)step;
        posb[a] = k;
        em[a] = e != OX_UNKNOWN && e >= INT32_MAX;
        pose[a] = em[a] ? -1 : k;
    }
    for (int i = 0; i < r; i++) emb[i] = (uint8_t)em[i];
    mk_value *bv = mixed_vector(c, in[1], kb, r, posb, fb);
    mk_value *ev = bv ? mixed_vector(c, in[2], ke, r, pose, fe) : NULL;
    mk_op *op = ev ? mk_onnx_op(c, MK_OP_SLICE_BY_INDEX, oname(n, 0)) : NULL;
    const char *emn = op ? mk_arena_printf(c->p->arena, "%s_end_mask", op->name) : NULL;
    mk_value *emv = emn ? mk_ir_const_bool(c->p, c->blk, emn, r, emb, 0) : NULL;
    if (!emv || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "begin", bv) ||
        !mk_onnx_in_mil(c, op, "end", ev) || !mk_onnx_in_i32s(c, op, "stride", r, s32) ||
        !mk_onnx_in_mil(c, op, "end_mask", emv))
        return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_slice)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    int64_t st_[MK_MAX_RANK], en[MK_MAX_RANK], ax[MK_MAX_RANK], sp[MK_MAX_RANK];
    int ns = ints_arg(c, n, in, n_in, 1, 10, "starts", st_, MK_MAX_RANK);
    int ne = ints_arg(c, n, in, n_in, 2, 10, "ends", en, MK_MAX_RANK);
    int na = ints_arg(c, n, in, n_in, 3, 10, "axes", ax, MK_MAX_RANK);
    int nsp = c->opset >= 10 ? ints_arg(c, n, in, n_in, 4, 10, "steps", sp, MK_MAX_RANK) : -1;
    if (na == -2 || nsp == -2)
        return mk_onnx_unsupported(c, n, "slice axes or steps computed at run time");
    if (ns == -2 || ne == -2) return slice_rt(c, n, x, in, n_in, out[0]);
    if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (nsp >= 0 && nsp != ns))
        return mk_err_set(c->err, MK_EINVAL, "starts/ends/axes/steps lengths differ");
    int64_t b[MK_MAX_RANK], e[MK_MAX_RANK], s[MK_MAX_RANK];
    int em[MK_MAX_RANK];
    for (int i = 0; i < r; i++) b[i] = 0, e[i] = 0, s[i] = 1, em[i] = 1;
    for (int k = 0; k < ns; k++) {
        int a;
        if (!norm_axis(na >= 0 ? ax[k] : k, r, &a))
            return mk_err_set(c->err, MK_EINVAL, "bad axis");
        int64_t dim = x->type.dims[a], step = nsp >= 0 ? sp[k] : 1;
        if (step == 0) return mk_err_set(c->err, MK_EINVAL, "step 0");
        if (dim < 0) return slice_rt(c, n, x, in, n_in, out[0]);
        int64_t bs = st_[k], es = en[k];
        int64_t len = ox_slice_axis(dim, &bs, &es, &step);
        if (len == 0) return mk_onnx_unsupported(c, n, "empty slice");
        b[a] = bs;
        s[a] = step;
        /* an end of -1 with a negative step means "through index 0": use the mask */
        em[a] = step < 0 && es < 0;
        e[a] = em[a] ? 0 : es;
    }
    return done(c, out[0], slice_static(c, x, b, e, s, em, oname(n, 0)));
}

OX_LOWER(mk_onnx_lower_gather)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    ox_val *ix = in[1];
    if (!x || !ix) return fail(c);
    int r = x->type.rank, ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), r, &ax))
        return mk_err_set(c->err, MK_EINVAL, "bad axis");
    int64_t dim = x->type.dims[ax];
    if (ix->data && ix->type.rank == 0 && dim > 0) {
        /* a constant scalar index: slice and squeeze the axis */
        int64_t q = mk_onnx_cget_i(ix, 0);
        if (q < 0) q += dim;
        if (q < 0 || q >= dim) return mk_err_set(c->err, MK_EINVAL, "index out of range");
        int64_t b[MK_MAX_RANK] = {0}, e[MK_MAX_RANK] = {0}, s[MK_MAX_RANK];
        int em[MK_MAX_RANK];
        for (int i = 0; i < r; i++) s[i] = 1, em[i] = i != ax;
        b[ax] = q;
        e[ax] = q + 1;
        mk_value *sl = slice_static(c, x, b, e, s, em, NULL);
        if (!sl) return fail(c);
        mk_op *op = mk_onnx_op(c, MK_OP_SQUEEZE, oname(n, 0));
        int32_t a32 = ax;
        if (!op || !mk_onnx_in_mil(c, op, "x", sl) || !mk_onnx_in_i32s(c, op, "axes", 1, &a32))
            return fail(c);
        return done(c, out[0], mk_onnx_out(c, op, NULL));
    }
    mk_value *iv;
    if (ix->data && dim > 0) {
        /* normalize negative constant indices */
        size_t k = mk_onnx_numel(&ix->type);
        int32_t *q = mk_arena_array(c->p->arena, k ? k : 1, sizeof *q);
        if (!q) return fail(c);
        for (size_t i = 0; i < k; i++) {
            int64_t v = mk_onnx_cget_i(ix, i);
            if (v < 0) v += dim;
            if (v < 0 || v >= dim) return mk_err_set(c->err, MK_EINVAL, "index out of range");
            q[i] = (int32_t)v;
        }
        mk_type it = ix->type;
        it.dtype = MK_DT_INT32;
        iv = mk_ir_const(c->p, c->blk, ix->name, &it, q, k * 4, 1);
    } else {
        iv = mil(c, ix);
    }
    if (!iv) return fail(c);
    int nr = r - 1 + iv->type.rank;
    if (nr > MK_MAX_RANK) return mk_onnx_unsupported(c, n, "rank above %d", MK_MAX_RANK);
    mk_op *op = mk_onnx_op(c, MK_OP_GATHER, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "indices", iv) ||
        !mk_onnx_in_i32(c, op, "axis", ax))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* Indices for gather_along_axis / gather: constants normalized at convert time, run-time
 * values wrapped to dim when negative (dim must be known then). */
static mk_value *norm_indices(ox_ctx *c, const Onnx__NodeProto *n, ox_val *ix, int64_t dim)
{
    if (ix->data) {
        size_t k = mk_onnx_numel(&ix->type);
        int32_t *q = mk_arena_array(c->p->arena, k ? k : 1, sizeof *q);
        if (!q) return NULL;
        for (size_t i = 0; i < k; i++) {
            int64_t v = mk_onnx_cget_i(ix, i);
            if (v < 0 && dim >= 0) v += dim;
            if (v < 0 || (dim >= 0 && v >= dim)) {
                mk_err_set(c->err, MK_EINVAL, "index %lld out of range for an axis of %lld",
                           (long long)mk_onnx_cget_i(ix, i), (long long)dim);
                return NULL;
            }
            q[i] = (int32_t)v;
        }
        mk_type it = ix->type;
        it.dtype = MK_DT_INT32;
        return mk_ir_const(c->p, c->blk, ix->name, &it, q, k * 4, 1);
    }
    mk_value *iv = mil(c, ix);
    if (!iv || dim < 0) return iv;
    int32_t zero = 0, d32 = (int32_t)dim;
    mk_value *z = mk_ir_const_i32(c->p, c->blk, "zero", 1, &zero, 1);
    mk_value *dv = mk_ir_const_i32(c->p, c->blk, "axis_size", 1, &d32, 1);
    mk_value *neg = z ? mk_onnx_binary(c, MK_OP_LESS, iv, z, NULL) : NULL;
    mk_value *up = neg && dv ? mk_onnx_binary(c, MK_OP_ADD, iv, dv, NULL) : NULL;
    mk_op *op = up ? mk_onnx_op(c, MK_OP_SELECT, NULL) : NULL;
    (void)n;
    if (!op || !mk_onnx_in_mil(c, op, "cond", neg) || !mk_onnx_in_mil(c, op, "a", up) ||
        !mk_onnx_in_mil(c, op, "b", iv))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

OX_LOWER(mk_onnx_lower_gather_elements)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "expects 2 inputs");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank, ax;
    if (!norm_axis(mk_onnx_attr_i(n, "axis", 0), r, &ax))
        return mk_err_set(c->err, MK_EINVAL, "bad axis");
    if (in[1]->type.rank != r)
        return mk_err_set(c->err, MK_EINVAL, "indices rank %d, data rank %d", in[1]->type.rank, r);
    mk_value *iv = norm_indices(c, n, in[1], x->type.dims[ax]);
    if (!iv) return fail(c);
    mk_op *op = mk_onnx_op(c, MK_OP_GATHER_ALONG_AXIS, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "indices", iv) ||
        !mk_onnx_in_i32(c, op, "axis", ax))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* Trilu: band_part when the kept region is a band around the diagonal (tril with k >= 0,
 * triu with k <= 0); otherwise select with a mask over the last two axes, built as a
 * constant (constant k) or compared at run time against the constant j - i grid. */
OX_LOWER(mk_onnx_lower_trilu)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank, upper = (int)mk_onnx_attr_i(n, "upper", 1);
    if (r < 2) return mk_err_set(c->err, MK_EINVAL, "rank %d below 2", r);
    int64_t M = x->type.dims[r - 2], N = x->type.dims[r - 1];
    if (M < 0 || N < 0) return mk_onnx_unsupported(c, n, "needs static last two dims");
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] == 0) return mk_onnx_unsupported(c, n, "empty tensor");
    ox_val *kv = n_in > 1 ? in[1] : NULL;
    int64_t k = 0;
    if (kv && kv->data) {
        if (mk_onnx_numel(&kv->type) != 1)
            return mk_err_set(c->err, MK_EINVAL, "k must be a scalar");
        k = mk_onnx_cget_i(kv, 0);
    }
    if (!kv || kv->data) {
        if ((upper && k <= 0 && -k <= INT32_MAX) || (!upper && k >= 0 && k <= INT32_MAX)) {
            mk_op *op = mk_onnx_op(c, MK_OP_BAND_PART, oname(n, 0));
            if (!op || !mk_onnx_in_mil(c, op, "x", x) ||
                !mk_onnx_in_i32(c, op, "lower", upper ? (int32_t)-k : -1) ||
                !mk_onnx_in_i32(c, op, "upper", upper ? -1 : (int32_t)k))
                return fail(c);
            return done(c, out[0], mk_onnx_out(c, op, NULL));
        }
    }
    size_t cells;
    if (!mk_mul_size((size_t)M, (size_t)N, &cells) || cells > ((size_t)1 << 26))
        return mk_onnx_unsupported(c, n, "mask of %lld x %lld too large", (long long)M,
                                   (long long)N);
    int64_t md[2] = {M, N};
    mk_type mt = mk_type_make(MK_DT_BOOL, 2, md);
    mk_value *cond;
    if (!kv || kv->data) {
        uint8_t *m = mk_arena_alloc(c->p->arena, cells ? cells : 1);
        if (!m) return fail(c);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) m[i * N + j] = upper ? j - i >= k : j - i <= k;
        cond = mk_ir_const(c->p, c->blk, "trilu_mask", &mt, m, cells, 1);
    } else {
        int32_t *g = mk_arena_array(c->p->arena, cells ? cells : 1, sizeof *g);
        if (!g) return fail(c);
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) g[i * N + j] = (int32_t)(j - i);
        mt.dtype = MK_DT_INT32;
        mk_value *gv = mk_ir_const(c->p, c->blk, "trilu_offsets", &mt, g, cells * 4, 1);
        mk_value *kk = mil(c, kv);
        cond = gv && kk
                   ? mk_onnx_binary(c, upper ? MK_OP_GREATER_EQUAL : MK_OP_LESS_EQUAL, gv, kk, NULL)
                   : NULL;
    }
    if (!cond) return fail(c);
    mk_value *zero;
    mk_type zt = mk_type_scalar(x->type.dtype);
    static const uint32_t zbits = 0;
    zero = mk_ir_const(c->p, c->blk, "zero", &zt, &zbits, (size_t)mk_dtype_bits(zt.dtype) / 8, 0);
    mk_op *op = zero ? mk_onnx_op(c, MK_OP_SELECT, oname(n, 0)) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "cond", cond) || !mk_onnx_in_mil(c, op, "a", x) ||
        !mk_onnx_in_mil(c, op, "b", zero))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* x broadcast to type t (static): reshape to t's rank, then tile. */
static mk_value *broadcast_to(ox_ctx *c, mk_value *x, const mk_type *t, const char *name)
{
    int r = t->rank;
    int64_t xd[MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->type.rank);
        xd[i] = xi >= 0 ? x->type.dims[xi] : 1;
    }
    int32_t reps[MK_MAX_RANK];
    int need_tile = 0;
    for (int i = 0; i < r; i++) {
        reps[i] = xd[i] == t->dims[i] ? 1 : (int32_t)t->dims[i];
        need_tile |= reps[i] != 1;
    }
    mk_value *v = x;
    if (x->type.rank != r) v = mk_onnx_reshape(c, x, r, xd, need_tile ? NULL : name);
    if (!v) return NULL;
    if (!need_tile) return x->type.rank != r ? v : mk_onnx_unary(c, MK_OP_IDENTITY, v, name);
    mk_op *op = mk_onnx_op(c, MK_OP_TILE, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", v) || !mk_onnx_in_i32s(c, op, "reps", r, reps))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Expand to a run-time shape: tile by max(x.shape, shape) / x.shape (ONNX's two-way
 * broadcast), after a reshape that gives x the shape's rank. */
static mk_status expand_rt(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, ox_val *shp, ox_val *o)
{
    int len;
    mk_value *s = mk_onnx_i32_vector(c, shp, &len);
    if (!s)
        return c->err->code ? c->err->code : mk_onnx_unsupported(c, n, "shape of unknown length");
    int r = x->type.rank > len ? x->type.rank : len;
    if (len < r) return mk_onnx_unsupported(c, n, "run-time shape shorter than the input rank");
    if (x->type.rank < r) {
        int64_t d[MK_MAX_RANK];
        int k = r - x->type.rank;
        for (int i = 0; i < r; i++) d[i] = i < k ? 1 : x->type.dims[i - k];
        for (int i = 0; i < x->type.rank; i++)
            if (x->type.dims[i] < 0)
                return mk_onnx_unsupported(c, n, "rank change of a dynamic input");
        if (!(x = mk_onnx_reshape(c, x, r, d, NULL))) return fail(c);
    }
    mk_value *xs = shape_prefix(c, x, r);
    mk_value *m = xs ? mk_onnx_binary(c, MK_OP_MAXIMUM, xs, s, NULL) : NULL;
    mk_value *reps = m ? mk_onnx_binary(c, MK_OP_FLOOR_DIV, m, xs, NULL) : NULL;
    mk_op *op = reps ? mk_onnx_op(c, MK_OP_TILE, oname(n, 0)) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "reps", reps))
        return fail(c);
    /* what ONNX broadcasting makes of the reps, for the tile's type rule: 1 where x's dim is
     * above 1 (the shape says 1 or the same), the shape's element where x's dim is 1 */
    ox_kd tmp;
    const ox_kd *k = mk_onnx_kd(shp, &tmp);
    int64_t *kr = mk_arena_array(c->p->arena, (size_t)r, sizeof *kr);
    if (!kr) return fail(c);
    for (int i = 0; i < r; i++) {
        int64_t xv = x->type.dims[i], sv = k && k->n == len ? k->v[i] : OX_UNKNOWN;
        kr[i] = xv > 1 ? 1 : xv == 1 && sv >= 0 ? sv : MK_ELEM_UNKNOWN;
    }
    reps->known = kr;
    return done(c, o, mk_onnx_out(c, op, NULL));
}

/* Expand whose tile reps are all known at convert time although some dims are not (a
 * target of 1, or 1 -> N, at a run-time dim): one static tile. 0 when a rep depends on a
 * run-time value. */
static int expand_static(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, ox_val *shp,
                         mk_status *st, ox_val *o)
{
    ox_kd tmp;
    const ox_kd *k = mk_onnx_kd(shp, &tmp);
    if (!k || k->rank != 1 || k->n > MK_MAX_RANK) return 0;
    int r = x->type.rank > k->n ? x->type.rank : k->n;
    int64_t xd[MK_MAX_RANK];
    int32_t reps[MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->type.rank), si = i - (r - k->n);
        int64_t xv = xi >= 0 ? x->type.dims[xi] : 1, sv = si >= 0 ? k->v[si] : 1;
        xd[i] = xv;
        int same = sv == OX_UNKNOWN && xi >= 0 && k->src[si] &&
                   mk_onnx_same_dim(x, xi, k->src[si], k->axis[si]); /* GQA: x's own length */
        if (sv == 1 || (sv == OX_UNKNOWN && xv > 1) || same) {
            reps[i] = 1;
        } else if (sv == OX_UNKNOWN || xv < 0 || sv < 0 || sv > INT32_MAX) {
            return 0;
        } else if (xv == 1 || xv == sv) {
            reps[i] = xv == 1 ? (int32_t)sv : 1;
        } else {
            *st = mk_err_set(c->err, MK_EINVAL, "shapes do not broadcast");
            return 1;
        }
    }
    mk_value *v = x;
    int need_tile = 0;
    for (int i = 0; i < r; i++) need_tile |= reps[i] != 1;
    if (x->type.rank != r) {
        /* a rank change of a dynamic x: a reshape with -1 at its one unknown dim */
        int unk = 0;
        for (int j = 0; j < r; j++) unk += xd[j] < 0;
        if (unk > 1) return 0;
        if (!(v = mk_onnx_reshape(c, x, r, xd, need_tile ? NULL : oname(n, 0)))) {
            *st = fail(c);
            return 1;
        }
    }
    if (!need_tile) {
        *st = done(c, o, x->type.rank != r ? v : mk_onnx_unary(c, MK_OP_IDENTITY, v, oname(n, 0)));
        return 1;
    }
    mk_op *op = mk_onnx_op(c, MK_OP_TILE, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", v) || !mk_onnx_in_i32s(c, op, "reps", r, reps)) {
        *st = fail(c);
        return 1;
    }
    *st = done(c, o, mk_onnx_out(c, op, NULL));
    return 1;
}

OX_LOWER(mk_onnx_lower_expand)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    mk_status est;
    if (expand_static(c, n, x, in[1], &est, out[0])) return est;
    if (!in[1]->data) return expand_rt(c, n, x, in[1], out[0]);
    size_t ns = mk_onnx_numel(&in[1]->type);
    if (ns > MK_MAX_RANK) return mk_onnx_unsupported(c, n, "rank above %d", MK_MAX_RANK);
    int64_t sh[MK_MAX_RANK];
    for (size_t i = 0; i < ns; i++) sh[i] = mk_onnx_cget_i(in[1], i);
    mk_type st = mk_type_make(x->type.dtype, (int)ns, sh), t;
    if (!mk_onnx_bcast(&x->type, &st, &t))
        return mk_err_set(c->err, MK_EINVAL, "shapes do not broadcast");
    mk_status s = all_known(c, n, &t);
    if (s != MK_OK) return s;
    return done(c, out[0], broadcast_to(c, x, &t, oname(n, 0)));
}

OX_LOWER(mk_onnx_lower_tile)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    if (!in[1]->data) {
        /* run-time repeats: MIL tile takes a non-constant reps */
        int len;
        mk_value *reps = mk_onnx_i32_vector(c, in[1], &len);
        if (!reps || len != r) return mk_onnx_unsupported(c, n, "repeats of unknown length");
        mk_op *op = mk_onnx_op(c, MK_OP_TILE, oname(n, 0));
        if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "reps", reps))
            return fail(c);
        return done(c, out[0], mk_onnx_out(c, op, NULL));
    }
    if ((int)mk_onnx_numel(&in[1]->type) != r)
        return mk_err_set(c->err, MK_EINVAL, "repeats length");
    int32_t reps[MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int64_t k = mk_onnx_cget_i(in[1], (size_t)i);
        if (k < 0 || k > INT32_MAX) return mk_err_set(c->err, MK_EINVAL, "bad repeat");
        reps[i] = (int32_t)k;
    }
    mk_op *op = mk_onnx_op(c, MK_OP_TILE, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "reps", r, reps))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* Shape of a run-time value: constant when static, else MIL shape (+ slice). */
OX_LOWER(mk_onnx_lower_shape)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    int64_t s = mk_onnx_attr_i(n, "start", 0), e = mk_onnx_attr_i(n, "end", r);
    if (s < 0) s += r;
    if (e < 0) e += r;
    s = s < 0 ? 0 : s > r ? r : s;
    e = e < 0 ? 0 : e > r ? r : e;
    int64_t len = e > s ? e - s : 0, dims[MK_MAX_RANK];
    int known = 1;
    for (int64_t i = s; i < e; i++) {
        dims[i - s] = x->type.dims[i];
        known &= x->type.dims[i] >= 0;
    }
    if (known) {
        mk_type t = mk_type_make(MK_DT_INT64, 1, &len);
        return mk_onnx_set_const(c, out[0], &t, dims);
    }
    int whole = s == 0 && e == r;
    mk_op *op = mk_onnx_op(c, MK_OP_SHAPE, whole ? oname(n, 0) : NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x)) return fail(c);
    mk_value *v = mk_onnx_out(c, op, NULL);
    if (v && !whole) {
        int64_t b[1] = {s}, en[1] = {e}, st1[1] = {1};
        int em[1] = {0};
        v = slice_static(c, v, b, en, st1, em, oname(n, 0));
    }
    mk_status st = done(c, out[0], v);
    if (st == MK_OK && !mk_onnx_note_kd(c, out[0], mk_onnx_shape_kd(c, x, (int)s, (int)e)))
        st = fail(c);
    return st;
}

OX_LOWER(mk_onnx_lower_size)
{
    (void)n_in, (void)n_out;
    size_t k = mk_onnx_numel(&in[0]->type);
    if (!k && in[0]->type.rank > 0) {
        for (int i = 0; i < in[0]->type.rank; i++)
            if (in[0]->type.dims[i] < 0)
                return mk_onnx_unsupported(c, n, "size of a dynamic shape");
    }
    int64_t v = (int64_t)k;
    mk_type t = mk_type_scalar(MK_DT_INT64);
    return mk_onnx_set_const(c, out[0], &t, &v);
}

OX_LOWER(mk_onnx_lower_constant)
{
    (void)in, (void)n_in, (void)out, (void)n_out, (void)n;
    /* folding handles every supported form; reaching here means it failed */
    if (!c->err->code) mk_err_set(c->err, MK_EUNSUPPORTED, "Constant value unsupported");
    return c->err->code;
}

/* ---- If ---- */
static mk_status lower_branch(ox_ctx *c, const Onnx__GraphProto *g, ox_scope *sc)
{
    mk_strmap_init(&sc->vals, c->p->alloc);
    sc->parent = c->scope;
    c->scope = sc;
    mk_status st = MK_OK;
    for (size_t i = 0; i < g->n_initializer && st == MK_OK; i++) {
        ox_val *v = mk_onnx_define(c, g->initializer[i]->name ? g->initializer[i]->name : "");
        st = v ? mk_onnx_tensor(c, g->initializer[i], v) : fail(c);
    }
    if (st == MK_OK) st = mk_onnx_lower_nodes(c, g);
    c->scope = sc->parent;
    return st;
}

static ox_val *branch_out(ox_ctx *c, ox_scope *sc, const Onnx__GraphProto *g, int i)
{
    const char *nm = g->output[i]->name ? g->output[i]->name : "";
    ox_val *v = mk_strmap_get(&sc->vals, nm);
    if (v) return v;
    ox_scope *save = c->scope;
    c->scope = sc;
    v = mk_onnx_lookup(c, nm);
    c->scope = save;
    return v;
}

OX_WHY(mk_onnx_why_if)
{
    (void)c;
    const Onnx__AttributeProto *t = mk_onnx_attr(n, "then_branch");
    const Onnx__AttributeProto *e = mk_onnx_attr(n, "else_branch");
    if (!t || !t->g || !e || !e->g) return "If without then_branch/else_branch graphs";
    if (t->g->n_output != n->n_output || e->g->n_output != n->n_output)
        return "If branch output count differs from the node's";
    return NULL;
}

OX_LOWER(mk_onnx_lower_if)
{
    (void)n_in;
    const Onnx__GraphProto *tg = mk_onnx_attr(n, "then_branch")->g;
    const Onnx__GraphProto *eg = mk_onnx_attr(n, "else_branch")->g;
    ox_val *cond = in[0];
    if (cond->data) {
        /* constant condition: inline the chosen branch */
        const Onnx__GraphProto *g = mk_onnx_cget_i(cond, 0) ? tg : eg;
        ox_scope *sc = mk_arena_alloc(c->p->arena, sizeof *sc);
        if (!sc) return fail(c);
        mk_status st = lower_branch(c, g, sc);
        if (st == MK_OK)
            for (int i = 0; i < n_out; i++) {
                ox_val *v = branch_out(c, sc, g, i);
                if (!v) {
                    st = mk_err_set(c->err, MK_EINVAL, "branch output '%s' not produced",
                                    g->output[i]->name);
                    break;
                }
                if (v->poisoned)
                    out[i]->poisoned = 1;
                else
                    *out[i] =
                        (ox_val){out[i]->name, v->type, v->data, v->nbytes,    v->borrowed, v->mil,
                                 v->mil_blk,   0,       NULL,    v->f16_range, v->kd};
            }
        mk_strmap_free(&sc->vals);
        return st;
    }
    /* run-time condition: MIL cond with two blocks */
    mk_value *pred = mil(c, cond);
    if (!pred) return fail(c);
    if (pred->type.rank != 0) {
        int64_t none = 0;
        (void)none;
        mk_op *sq = mk_onnx_op(c, MK_OP_RESHAPE, NULL);
        if (!sq || !mk_onnx_in_mil(c, sq, "x", pred) || !mk_onnx_in_i32s(c, sq, "shape", 0, NULL))
            return fail(c);
        pred = mk_onnx_out(c, sq, NULL);
        if (!pred) return fail(c);
    }
    mk_op *op = mk_onnx_op(c, MK_OP_COND, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "pred", pred)) return fail(c);
    mk_block *outer = c->blk;
    const Onnx__GraphProto *gs[2] = {tg, eg};
    mk_value *res[2][64];
    for (int b = 0; b < 2; b++) {
        mk_block *blk = mk_ir_block_new(c->p, c->fn, op);
        ox_scope *sc = mk_arena_alloc(c->p->arena, sizeof *sc);
        if (!blk || !sc || !mk_ir_op_add_block(c->p, op, blk)) return fail(c);
        c->blk = blk;
        mk_status st = lower_branch(c, gs[b], sc);
        for (int i = 0; i < n_out && st == MK_OK; i++) {
            ox_val *v = branch_out(c, sc, gs[b], i);
            if (!v || v->poisoned) {
                st = v ? MK_EUNSUPPORTED : mk_err_set(c->err, MK_EINVAL, "branch output missing");
                break;
            }
            mk_value *mv = mk_onnx_mil(c, v);
            /* a block output must be produced inside the block */
            if (mv && (!mv->producer || mv->producer->parent != blk))
                mv = mk_onnx_unary(c, MK_OP_IDENTITY, mv, NULL);
            if (!mv) st = fail(c);
            res[b][i] = mv;
        }
        mk_strmap_free(&sc->vals);
        c->blk = outer;
        if (st == MK_EUNSUPPORTED)
            return mk_onnx_unsupported(c, n, "a branch holds unsupported nodes");
        if (st != MK_OK) return st;
        if (!mk_ir_block_set_outputs(c->p, blk, n_out, res[b])) return fail(c);
    }
    for (int i = 0; i < n_out; i++) {
        mk_type t = res[0][i]->type;
        if (!mk_type_equal(&t, &res[1][i]->type))
            return mk_onnx_unsupported(c, n, "branches produce different types");
        mk_value *v = mk_onnx_out(c, op, oname(n, i));
        if (!v) return fail(c);
        mk_onnx_set(out[i], v);
    }
    return MK_OK;
}

/* ---- DepthToSpace / SpaceToDepth ---- */
OX_WHY(mk_onnx_why_depth_to_space)
{
    const char *m = mk_onnx_attr_s(c, n, "mode", "DCR");
    return strcmp(m, "DCR") && strcmp(m, "CRD") ? "mode must be DCR or CRD" : NULL;
}

/* DCR is MIL depth_to_space; CRD (PyTorch's PixelShuffle order) is MIL pixel_shuffle. */
static mk_status depth_space(ox_ctx *c, const Onnx__NodeProto *n, ox_val *xin, ox_val *o,
                             int to_space)
{
    mk_value *x = mil(c, xin);
    if (!x) return fail(c);
    int64_t bs = mk_onnx_attr_i(n, "blocksize", 0);
    if (x->type.rank != 4) return mk_onnx_unsupported(c, n, "rank %d (MIL: 4)", x->type.rank);
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "non-float input");
    if (bs < 1 || bs > 4096)
        return mk_err_set(c->err, MK_EINVAL, "bad blocksize %lld", (long long)bs);
    int64_t C = x->type.dims[1];
    if (to_space && C >= 0 && C % (bs * bs))
        return mk_err_set(c->err, MK_EINVAL, "channels not divisible");
    for (int i = 2; i < 4 && !to_space; i++)
        if (x->type.dims[i] >= 0 && x->type.dims[i] % bs)
            return mk_err_set(c->err, MK_EINVAL, "spatial size not divisible");
    int crd = to_space && !strcmp(mk_onnx_attr_s(c, n, "mode", "DCR"), "CRD");
    mk_op_kind k = !to_space ? MK_OP_SPACE_TO_DEPTH
                   : crd     ? MK_OP_PIXEL_SHUFFLE
                             : MK_OP_DEPTH_TO_SPACE;
    mk_op *op = mk_onnx_op(c, k, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) ||
        !mk_onnx_in_i32(c, op, crd ? "upscale_factor" : "block_size", (int32_t)bs))
        return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_depth_to_space)
{
    (void)n_in, (void)n_out;
    return depth_space(c, n, in[0], out[0], 1);
}

OX_LOWER(mk_onnx_lower_space_to_depth)
{
    (void)n_in, (void)n_out;
    return depth_space(c, n, in[0], out[0], 0);
}
