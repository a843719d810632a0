/* Lowering of ONNX ReverseSequence (MIL reverse_sequence) and Unique. Unique compares every
 * pair of rows (the slices along axis, or single elements without one) in [n, n, K] tensors:
 * row i's first equal row, lexicographic order by a prefix-equal mask, and each row's output
 * position (its rank among the first occurrences, by value when sorted, else by first index);
 * argsort of those positions lists the unique rows, and slices of run-time length U give Y,
 * indices and counts. O(n^2 K) elements, so limited to 2^24. */
#include <string.h>

#include "onnx_int.h"

OX_LOWER(mk_onnx_lower_reverse_sequence)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]), *len = x ? mil(c, in[1]) : NULL;
    if (!len) return fail(c);
    int r = x->type.rank, ta, ba;
    if (r < 2 || !norm_axis(mk_onnx_attr_i(n, "time_axis", 0), r, &ta) ||
        !norm_axis(mk_onnx_attr_i(n, "batch_axis", 1), r, &ba) || ta == ba || ta > 1 || ba > 1)
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: node %s: time_axis and batch_axis must be 0 and 1 in some order",
                          c->file, oname(n, 0));
    if (len->type.dtype != MK_DT_INT32 || len->type.rank != 1)
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: sequence_lens must be an int vector",
                          c->file, oname(n, 0));
    mk_op *op = mk_onnx_op(c, MK_OP_REVERSE_SEQUENCE, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "lengths", len) ||
        !mk_onnx_in_i32(c, op, "seq_axis", ta) || !mk_onnx_in_i32(c, op, "batch_axis", ba))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* ---- Unique ---- */

static mk_value *u_cast(ox_ctx *c, mk_value *x, const char *dt)
{
    mk_op *op = mk_onnx_op(c, MK_OP_CAST, NULL);
    if (!x || !op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_str(c, op, "dtype", dt))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *u_reduce(ox_ctx *c, mk_op_kind k, mk_value *x, int32_t axis)
{
    mk_op *op = mk_onnx_op(c, k, NULL);
    if (!x || !op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", 1, &axis) ||
        !mk_onnx_in_bool(c, op, "keep_dims", 0))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *u_select(ox_ctx *c, mk_value *cond, mk_value *a, mk_value *b)
{
    mk_op *op = mk_onnx_op(c, MK_OP_SELECT, NULL);
    if (!cond || !a || !b || !op || !mk_onnx_in_mil(c, op, "cond", cond) ||
        !mk_onnx_in_mil(c, op, "a", a) || !mk_onnx_in_mil(c, op, "b", b))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* 0..n-1 as int32 of the given shape (n elements). */
static mk_value *u_iota(ox_ctx *c, int rank, const int64_t *dims, int64_t n)
{
    int32_t *v = mk_arena_array(c->p->arena, (size_t)n, sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) v[i] = (int32_t)i;
    mk_type t = mk_type_make(MK_DT_INT32, rank, dims);
    return mk_ir_const(c->p, c->blk, "unique_iota", &t, v, (size_t)n * 4, 1);
}

/* The first `u` ([1] run-time) entries of x along axis 0. */
static mk_value *u_head(ox_ctx *c, mk_value *x, mk_value *u, const char *name)
{
    int r = x->type.rank;
    int32_t b[MK_MAX_RANK] = {0};
    mk_value *sz = u;
    if (r > 1) {
        int32_t rest[MK_MAX_RANK];
        for (int i = 1; i < r; i++) rest[i - 1] = (int32_t)x->type.dims[i];
        mk_value *rv = mk_ir_const_i32(c->p, c->blk, "unique_rest", r - 1, rest, 0);
        mk_op *cc = rv ? mk_onnx_op(c, MK_OP_CONCAT, NULL) : NULL;
        if (!cc || !mk_onnx_in_mil(c, cc, "values", u) || !mk_onnx_in_mil(c, cc, "values", rv) ||
            !mk_onnx_in_i32(c, cc, "axis", 0) || !(sz = mk_onnx_out(c, cc, NULL)))
            return NULL;
    }
    mk_op *op = mk_onnx_op(c, MK_OP_SLICE_BY_SIZE, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "begin", r, b) ||
        !mk_onnx_in_mil(c, op, "size", sz))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

OX_LOWER(mk_onnx_lower_unique)
{
    (void)n_in;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank, sorted = mk_onnx_attr_i(n, "sorted", 1) != 0, ax = -1;
    if (r < 0) return mk_onnx_unsupported(c, n, "input of unknown rank");
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static input shape");
    if (x->type.dtype != MK_DT_FP32 && x->type.dtype != MK_DT_INT32)
        return mk_onnx_unsupported(c, n, "data type %s", mk_dtype_name(x->type.dtype));
    if (mk_onnx_attr(n, "axis") && !norm_axis(mk_onnx_attr_i(n, "axis", 0), r, &ax))
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: axis out of range", c->file,
                          oname(n, 0));
    /* rows [n, K]: the axis moved to the front (or every element a row of 1) */
    int64_t N = ax < 0 ? (int64_t)mk_onnx_numel(&x->type) : x->type.dims[ax], K = 1;
    int perm[MK_MAX_RANK], np = 0;
    if (ax >= 0) {
        perm[np++] = ax;
        for (int i = 0; i < r; i++)
            if (i != ax) perm[np++] = i, K *= x->type.dims[i];
    }
    if (N < 1 || N > 4096 || (double)N * (double)N * (double)K > (double)(1 << 24))
        return mk_onnx_unsupported(c, n, "%lld rows of %lld: too many pairs to compare",
                                   (long long)N, (long long)K);
    mk_value *rows = x;
    if (ax > 0) rows = mk_onnx_transpose(c, x, r, perm, NULL);
    int64_t rd[2] = {N, K}, ad[3] = {N, 1, K}, bd[3] = {1, N, K};
    rows = rows ? mk_onnx_reshape(c, rows, 2, rd, NULL) : NULL;
    mk_value *A = rows ? mk_onnx_reshape(c, rows, 3, ad, NULL) : NULL;
    mk_value *B = A ? mk_onnx_reshape(c, rows, 3, bd, NULL) : NULL;
    mk_value *eq3 = B ? mk_onnx_binary(c, MK_OP_EQUAL, A, B, NULL) : NULL;
    mk_value *eqi = u_cast(c, eq3, "int32");
    mk_value *eq = u_reduce(c, MK_OP_REDUCE_MIN, eqi, 2); /* [n, n] 1 when rows i, j equal */
    mk_value *jrow = eq ? u_iota(c, 2, (int64_t[]){1, N}, N) : NULL;
    mk_value *icol = jrow ? u_iota(c, 1, &N, N) : NULL;
    int32_t nv = (int32_t)N, zero = 0;
    mk_value *nc = icol ? mk_ir_const_i32(c->p, c->blk, "unique_n", 1, &nv, 1) : NULL;
    mk_value *zc = nc ? mk_ir_const_i32(c->p, c->blk, "unique_zero", 1, &zero, 1) : NULL;
    /* first[i] = min over j of j + (1 - eq[i, j]) * n (arithmetic: coremltools types select
     * by a and b alone, not by a broadcast cond) */
    int32_t onev = 1;
    mk_value *oc = zc ? mk_ir_const_i32(c->p, c->blk, "unique_one", 1, &onev, 1) : NULL;
    mk_value *ne = oc ? mk_onnx_binary(c, MK_OP_SUB, oc, eq, NULL) : NULL;
    mk_value *far = ne ? mk_onnx_binary(c, MK_OP_MUL, ne, nc, NULL) : NULL;
    mk_value *cand = far ? mk_onnx_binary(c, MK_OP_ADD, far, jrow, NULL) : NULL;
    mk_value *first = u_reduce(c, MK_OP_REDUCE_MIN, cand, 1);
    mk_value *isf = first ? mk_onnx_binary(c, MK_OP_EQUAL, first, icol, NULL) : NULL;
    mk_value *isfi = u_cast(c, isf, "int32");
    if (!isfi) return fail(c);
    /* key[i]: the output position of row i's value */
    mk_value *key;
    if (sorted) {
        mk_value *lt3 = mk_onnx_binary(c, MK_OP_LESS, A, B, NULL);
        mk_value *ne3 = lt3 ? mk_onnx_binary(c, MK_OP_NOT_EQUAL, A, B, NULL) : NULL;
        mk_op *cs = ne3 ? mk_onnx_op(c, MK_OP_CUMSUM, NULL) : NULL;
        mk_value *nei = u_cast(c, ne3, "int32");
        if (!cs || !nei || !mk_onnx_in_mil(c, cs, "x", nei) || !mk_onnx_in_i32(c, cs, "axis", 2) ||
            !mk_onnx_in_bool(c, cs, "exclusive", 1))
            return fail(c);
        mk_value *pre = mk_onnx_out(c, cs, NULL); /* differences before column k */
        mk_value *pe = pre ? mk_onnx_binary(c, MK_OP_EQUAL, pre, zc, NULL) : NULL;
        mk_value *lt = pe ? mk_onnx_binary(c, MK_OP_LOGICAL_AND, lt3, pe, NULL) : NULL;
        mk_value *lex = u_reduce(c, MK_OP_REDUCE_MAX, u_cast(c, lt, "int32"), 2); /* i < j */
        int64_t fd[2] = {N, 1};
        mk_value *fc = lex ? mk_onnx_reshape(c, isfi, 2, fd, NULL) : NULL;
        mk_value *w = fc ? mk_onnx_binary(c, MK_OP_MUL, lex, fc, NULL) : NULL;
        key = u_reduce(c, MK_OP_REDUCE_SUM, w, 0); /* first rows below row i */
    } else {
        mk_op *cs = mk_onnx_op(c, MK_OP_CUMSUM, NULL);
        if (!cs || !mk_onnx_in_mil(c, cs, "x", isfi) || !mk_onnx_in_i32(c, cs, "axis", 0) ||
            !mk_onnx_in_bool(c, cs, "exclusive", 1))
            return fail(c);
        mk_value *before = mk_onnx_out(c, cs, NULL);
        mk_op *g = before ? mk_onnx_op(c, MK_OP_GATHER, NULL) : NULL;
        if (!g || !mk_onnx_in_mil(c, g, "x", before) || !mk_onnx_in_mil(c, g, "indices", first) ||
            !mk_onnx_in_i32(c, g, "axis", 0))
            return fail(c);
        key = mk_onnx_out(c, g, NULL);
    }
    if (!key) return fail(c);
    /* unique rows in key order: argsort of key (first rows) / n + i (the others) */
    mk_value *late = mk_onnx_binary(c, MK_OP_ADD, icol, nc, NULL);
    mk_value *sk = u_select(c, isf, key, late);
    mk_op *as = sk ? mk_onnx_op(c, MK_OP_ARGSORT, NULL) : NULL;
    if (!as || !mk_onnx_in_mil(c, as, "x", sk) || !mk_onnx_in_i32(c, as, "axis", 0) ||
        !mk_onnx_in_bool(c, as, "ascending", 1))
        return fail(c);
    mk_value *order = mk_onnx_out(c, as, NULL);
    mk_op *rs = order ? mk_onnx_op(c, MK_OP_REDUCE_SUM, NULL) : NULL;
    if (!rs || !mk_onnx_in_mil(c, rs, "x", isfi) || !mk_onnx_in_bool(c, rs, "keep_dims", 1))
        return fail(c);
    mk_value *u = mk_onnx_out(c, rs, NULL); /* [1]: the unique count */
    mk_value *uidx = u ? u_head(c, order, u, oname(n, 1)) : NULL;
    if (!uidx) return fail(c);
    /* Y */
    mk_op *gy = mk_onnx_op(c, MK_OP_GATHER, NULL);
    if (!gy || !mk_onnx_in_mil(c, gy, "x", rows) || !mk_onnx_in_mil(c, gy, "indices", uidx) ||
        !mk_onnx_in_i32(c, gy, "axis", 0))
        return fail(c);
    mk_value *y = mk_onnx_out(c, gy, NULL);
    if (y && ax < 0) {
        int64_t m1 = -1;
        y = mk_onnx_reshape(c, y, 1, &m1, oname(n, 0));
    } else if (y) {
        int64_t yd[MK_MAX_RANK];
        int inv[MK_MAX_RANK];
        yd[0] = -1;
        for (int i = 1; i < r; i++) yd[i] = x->type.dims[perm[i]];
        for (int i = 0; i < r; i++) inv[perm[i]] = i;
        y = mk_onnx_reshape(c, y, r, yd, ax > 0 ? NULL : oname(n, 0));
        if (y && ax > 0) y = mk_onnx_transpose(c, y, r, inv, oname(n, 0));
    }
    if (!y) return fail(c);
    mk_onnx_set(out[0], y);
    if (n_out > 1 && oname(n, 1)) mk_onnx_set(out[1], uidx);
    if (n_out > 2 && oname(n, 2)) {
        mk_op *id = mk_onnx_op(c, MK_OP_IDENTITY, oname(n, 2));
        if (!id || !mk_onnx_in_mil(c, id, "x", key)) return fail(c);
        mk_value *kv = mk_onnx_out(c, id, NULL);
        if (!kv) return fail(c);
        mk_onnx_set(out[2], kv);
    }
    if (n_out > 3 && oname(n, 3)) { /* counts[s] = rows whose key is s */
        int64_t kd[2] = {N, 1};
        mk_value *kc = mk_onnx_reshape(c, key, 2, kd, NULL);
        mk_value *hit = kc ? mk_onnx_binary(c, MK_OP_EQUAL, kc, jrow, NULL) : NULL;
        mk_value *cnt = u_reduce(c, MK_OP_REDUCE_SUM, u_cast(c, hit, "int32"), 0);
        mk_value *cu = cnt ? u_head(c, cnt, u, oname(n, 3)) : NULL;
        if (!cu) return fail(c);
        mk_onnx_set(out[3], cu);
    }
    return MK_OK;
}
