/* The H20 trigger shared by the lint rule and fix_long_axis: an axis beyond the Neural Engine
 * range (rank 5: D, H, W > 16384; other ranks: the last two axes > 16384, the others > 65536),
 * and the two forms the pass splits:
 * (a) linear / matmul with a constant rank-2 float weight whose output's last axis is the only
 *     long one (at most 64 chunks of <= 16384), read by a single-use chain of pointwise ops
 *     (one-element operands) and last-axis softmax that ends only in last-axis reductions
 *     (max, min, sum, mean, argmax, argmin);
 * (b) a single-use chain of pointwise ops on a long value that comes from a function input or
 *     from a reshape-like op read once, ending only in reshapes or reductions (over the long
 *     axis) to in-range results, when the long axis L has a divisor k <= 16384 that keeps
 *     every axis of [.., L/k, k, ..] in range (rank <= 4).
 * A long op is fixable when it is a start, an inner op or (b)'s reshape of such a split. */
#include <string.h>

#include "ir.h"

#define LIMIT_HW MK_IR_NE_LIMIT_HW
#define MAX_CHAIN MK_IR_LONG_CHAIN_MAX
#define MAX_ENDS MK_IR_LONG_ENDS
#define MAX_CHUNKS MK_IR_LONG_CHUNKS

int mk_ir_ne_long_axis(const mk_type *t, int64_t *limit)
{
    int r = t->rank;
    for (int i = 0; i < r; i++) {
        int64_t lim = (r == 5 ? i >= 2 : i >= r - 2) ? LIMIT_HW : MK_IR_NE_LIMIT_CN;
        if (t->dims[i] > lim) {
            if (limit) *limit = lim;
            return i;
        }
    }
    return -1;
}

static int wide_axis(const mk_type *t)
{
    return mk_ir_ne_long_axis(t, NULL);
}

static int is_long(const mk_value *v)
{
    return v && v->type.rank > 0 && mk_type_is_static(&v->type) && wide_axis(&v->type) >= 0;
}

static int norm_axis(int64_t a, int r)
{
    return (int)(a < 0 ? a + r : a);
}

static int softmax_last(const mk_op *op, const mk_value *v)
{
    int32_t ax = -1;
    if (op->kind != MK_OP_SOFTMAX || mk_ir_arg(op, "x") != v) return 0;
    if (mk_ir_arg(op, "axis") && !mk_ir_arg_i32(op, "axis", &ax)) return 0;
    return norm_axis(ax, v->type.rank) == v->type.rank - 1;
}

/* Reduction of v over exactly its last axis (argmax/argmin: int32 output). */
static int reduce_last(const mk_op *op, const mk_value *v)
{
    int r = v->type.rank;
    if (mk_ir_arg(op, "x") != v || op->n_outputs != 1) return 0;
    static const mk_op_kind reduce[] = {MK_OP_REDUCE_MAX, MK_OP_REDUCE_MIN, MK_OP_REDUCE_SUM,
                                        MK_OP_REDUCE_MEAN};
    if (mk_ir_op_in(op->kind, reduce, 4)) {
        int64_t ax[MK_MAX_RANK];
        int n = 0;
        return mk_ir_arg_i64s(op, "axes", ax, MK_MAX_RANK, &n) && n == 1 &&
               norm_axis(ax[0], r) == r - 1;
    }
    if (op->kind == MK_OP_REDUCE_ARGMAX || op->kind == MK_OP_REDUCE_ARGMIN) {
        int32_t ax = -1;
        if (mk_ir_arg(op, "axis") && !mk_ir_arg_i32(op, "axis", &ax)) return 0;
        return norm_axis(ax, r) == r - 1 && op->outputs[0]->type.dtype == MK_DT_INT32;
    }
    return 0;
}

int mk_ir_reshape_like(mk_op_kind k)
{
    return k == MK_OP_RESHAPE || k == MK_OP_EXPAND_DIMS || k == MK_OP_SQUEEZE ||
           k == MK_OP_FLATTEN2D;
}

static int reduce_kind(mk_op_kind k)
{
    static const mk_op_kind r[] = {MK_OP_REDUCE_MEAN,    MK_OP_REDUCE_SUM,
                                   MK_OP_REDUCE_MAX,     MK_OP_REDUCE_MIN,
                                   MK_OP_REDUCE_PROD,    MK_OP_REDUCE_L1_NORM,
                                   MK_OP_REDUCE_L2_NORM, MK_OP_REDUCE_SUM_SQUARE,
                                   MK_OP_REDUCE_LOG_SUM, MK_OP_REDUCE_LOG_SUM_EXP};
    return mk_ir_op_in(k, r, (int)(sizeof r / sizeof *r));
}

/* Reader that can take (b)'s split form: a reshape to an in-range shape, or a reduction with
 * constant (or absent) axes that include the long axis, to an in-range result. */
static int split_end(const mk_op *op, const mk_value *v)
{
    if (mk_ir_arg(op, "x") != v || op->n_outputs != 1 || is_long(op->outputs[0]) ||
        !mk_type_is_static(&op->outputs[0]->type))
        return 0;
    if (mk_ir_reshape_like(op->kind)) return 1;
    if (!reduce_kind(op->kind)) return 0;
    if (!mk_ir_arg(op, "axes")) return 1;
    int64_t ax[MK_MAX_RANK];
    int n = 0, a = wide_axis(&v->type);
    if (!mk_ir_arg_i64s(op, "axes", ax, MK_MAX_RANK, &n)) return 0;
    for (int i = 0; i < n; i++)
        if (norm_axis(ax[i], v->type.rank) == a) return 1;
    return 0;
}

typedef int (*end_fn)(const mk_op *op, const mk_value *v);

/* Follow single-use pointwise ops (and last-axis softmax when allow_softmax) from v until
 * every reader of the current value satisfies is_end; the earliest end after `from`. */
static int find_chain(const mk_op *from, const mk_value *v, int allow_softmax, end_fn is_end,
                      mk_long_split *s)
{
    const mk_block *blk = from->parent;
    mk_op *users[MAX_ENDS];
    for (;;) {
        int n = mk_ir_users(blk, v, users, MAX_ENDS);
        if (n <= 0) return 0;
        int ends = 0;
        for (int i = 0; i < n; i++) ends += is_end(users[i], v);
        if (ends == n) {
            s->n_ends = n;
            memcpy(s->ends, users, (size_t)n * sizeof *users);
            break;
        }
        if (n != 1 || s->n_ops == MAX_CHAIN) return 0;
        mk_op *u = users[0];
        if (!mk_ir_pointwise_param(u, v) && !(allow_softmax && softmax_last(u, v))) return 0;
        s->ops[s->n_ops++] = u;
        v = u->outputs[0];
    }
    for (mk_op *o = from->next; o && !s->pos; o = o->next)
        for (int k = 0; k < s->n_ends && !s->pos; k++)
            if (s->ends[k] == o) s->pos = o;
    return s->pos != NULL;
}

/* (a) */
static int projection(const mk_op *op, mk_long_split *s)
{
    mk_value *y = op->outputs[0], *x = mk_ir_arg(op, "x");
    int lin = op->kind == MK_OP_LINEAR;
    mk_value *w = mk_ir_arg(op, lin ? "weight" : "y"), *bias = lin ? mk_ir_arg(op, "bias") : NULL;
    int r = y->type.rank, tx = 0, ty = 0;
    if (!lin) {
        mk_ir_arg_bool(op, "transpose_x", &tx);
        mk_ir_arg_bool(op, "transpose_y", &ty);
    }
    if (!x || !w || !w->cst || !w->cst->data || w->type.rank != 2 || tx ||
        !mk_type_is_static(&w->type) || !mk_dtype_is_float(w->type.dtype) ||
        mk_dtype_bits(w->type.dtype) % 8 || wide_axis(&y->type) != r - 1)
        return 0;
    int rows = lin || ty; /* output features along the weight's rows */
    int64_t N = rows ? w->type.dims[0] : w->type.dims[1];
    if (N != y->type.dims[r - 1]) return 0;
    if (bias && (!bias->cst || !bias->cst->data || bias->type.rank != 1 ||
                 bias->type.dims[0] != N || mk_dtype_bits(bias->type.dtype) % 8))
        return 0;
    int nc = (int)((N + LIMIT_HW - 1) / LIMIT_HW);
    if (nc > MAX_CHUNKS) return 0;
    mk_type probe = y->type;
    probe.dims[r - 1] = LIMIT_HW;
    if (wide_axis(&probe) >= 0) return 0;
    s->projection = 1;
    s->weight_rows = rows;
    s->n_chunks = nc;
    return find_chain(op, y, 1, reduce_last, s);
}

/* The split shape of t: long axis a as [L/k, k], largest k <= 16384 keeping all in range. */
static int split_shape(const mk_type *t, mk_type *out, int *axis)
{
    int a = wide_axis(t), r = t->rank;
    if (a < 0 || r >= 5) return 0;
    int64_t L = t->dims[a];
    for (int64_t k = L < LIMIT_HW ? L : LIMIT_HW; k >= 2; k--) {
        if (L % k) continue;
        *out = *t;
        out->rank = r + 1;
        out->dims[a] = L / k;
        out->dims[a + 1] = k;
        for (int i = a + 1; i < r; i++) out->dims[i + 1] = t->dims[i];
        if (wide_axis(out) < 0) {
            *axis = a;
            return 1;
        }
    }
    return 0;
}

/* (b) */
static int pointwise_chain(const mk_op *first, mk_long_split *s)
{
    mk_value *v = NULL;
    for (int i = 0; i < first->n_inputs && !v; i++)
        if (first->inputs[i].n_args == 1 && is_long(first->inputs[i].args[0]))
            v = first->inputs[i].args[0];
    if (!v || !mk_ir_pointwise_param(first, v)) return 0;
    mk_op *src = v->producer, *one[1];
    if (src && !(mk_ir_reshape_like(src->kind) && src->parent == first->parent &&
                 mk_ir_users(first->parent, v, one, 1) == 1))
        return 0;
    if (!split_shape(&v->type, &s->split, &s->axis)) return 0;
    s->v = v;
    s->src = src;
    return find_chain(first, v, 0, split_end, s) && s->n_ops;
}

int mk_ir_long_split(const mk_op *start, mk_long_split *s)
{
    memset(s, 0, sizeof *s);
    s->start = (mk_op *)start;
    if (start->n_outputs != 1 || !is_long(start->outputs[0])) return 0;
    if (start->kind == MK_OP_LINEAR || start->kind == MK_OP_MATMUL) return projection(start, s);
    if (mk_ir_pointwise(start->kind)) return pointwise_chain(start, s);
    return 0;
}

static int covers(const mk_op *start, const mk_op *op)
{
    mk_long_split s;
    if (!mk_ir_long_split(start, &s)) return 0;
    if (op == start || op == s.src) return 1;
    for (int k = 0; k < s.n_ops; k++)
        if (s.ops[k] == op) return 1;
    return 0;
}

int mk_ir_long_fixable(const mk_op *op)
{
    if (op->n_outputs != 1 || !is_long(op->outputs[0])) return 0;
    if (mk_ir_reshape_like(op->kind)) {
        /* (b)'s reshape: its one reader starts the chain */
        mk_op *u[1];
        return mk_ir_users(op->parent, op->outputs[0], u, 1) == 1 && covers(u[0], op);
    }
    /* back from op along the chain's tensor operand to a start */
    const mk_op *s = op;
    for (int n = 0; s && n <= MAX_CHAIN; n++) {
        if (covers(s, op)) return 1;
        int pw = mk_ir_pointwise(s->kind) != 0;
        if (!pw && s->kind != MK_OP_SOFTMAX) return 0;
        const mk_value *x = mk_ir_arg(s, "x"), *y = mk_ir_arg(s, "y");
        if (pw && x && !mk_ir_pointwise_param(s, x)) x = y;
        s = x ? x->producer : NULL;
    }
    return 0;
}
