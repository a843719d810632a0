/* Symptom: an axis beyond the Neural Engine range (D/H/W > 16384, C/N > 65536) fails to
 *          compile for the NE ("Tensor dimensions ... not within supported range") and caps
 *          GPU textures; typical: vocabulary projections (51865, 151669), long audio.
 * Scope: what mk_ir_long_split (src/ir/long_axis.c, shared with the lint rule) accepts:
 *        (a) linear / matmul with a constant rank-2 weight whose output's last axis is the
 *        only long one, read by a single-use chain of pointwise ops (one-element operands)
 *        and last-axis softmax that ends only in last-axis reductions (max, min, sum, mean,
 *        argmax, argmin); (b) a single-use chain of pointwise ops on a long value coming from
 *        a function input or a reshape, ending only in reshapes or reductions, when the long
 *        axis L has a divisor k <= 16384 that keeps every axis in range. Long model outputs
 *        and other readers have no interface-preserving rewrite and stay lint-only.
 * Evidence: H20 (FluidAudio issue #121; whisper.cpp splits its 51865-wide logits).
 * Rewrite: (a) one linear/matmul per <= 16384-wide weight chunk, the chain per chunk (softmax
 *          via a global max and sum over chunks), each reduction per chunk combined with
 *          maximum/minimum/add (argmax/argmin: offset indices chosen with select); (b) the
 *          chain on [.., L/k, k], reshapes fed the split form, reductions over both axes. */
#include <string.h>

#include "passes_int.h"

/* The per-chunk width of a split projection (the Neural Engine's axis limit). */
#define LIMIT_HW MK_IR_NE_LIMIT_HW
#define MAX_CHUNKS MK_IR_LONG_CHUNKS

static int same_dims(const mk_type *a, const mk_type *b)
{
    return a->rank == b->rank && !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof *a->dims);
}

static int norm_axis(int64_t a, int r)
{
    return (int)(a < 0 ? a + r : a);
}

/* mk_pb_copy_inputs for an end op: its constants may be defined after the builder's position,
 * so each constant input is re-made (payload borrowed) before it. */
static void copy_end_inputs(pb *b, const mk_op *from, mk_op *to, const char *const *except)
{
    for (int i = 0; i < from->n_inputs && !b->failed; i++) {
        int skip = 0;
        for (const char *const *x = except; *x && !skip; x++)
            skip = strcmp(*x, from->inputs[i].name) == 0;
        for (int j = 0; j < from->inputs[i].n_args && !skip; j++) {
            mk_value *a = from->inputs[i].args[j];
            if (a->cst && a->cst->data && a->producer)
                a = mk_pb_const_borrow(b, "h20_param", &a->type, a->cst->data, a->cst->nbytes);
            mk_pb_in(b, to, from->inputs[i].name, a);
        }
    }
}

/* mk_pb_replace of an end's output; the builder moves on when the end was its position. */
static void replace_end(pb *b, mk_op *end, mk_value *repl)
{
    mk_op *next = end->next;
    int moved = end == b->pos;
    mk_pb_replace(b, end->outputs[0], repl);
    if (moved && next) b->pos = next;
}

static void unlink_chain(const mk_long_split *c)
{
    for (int k = c->n_ops - 1; k >= 0; k--) mk_ir_unlink(c->ops[k]);
}

/* ---- (a) split linear / matmul along the output axis ---- */

static mk_value *reduce_keep(pb *b, mk_op_kind k, mk_value *x)
{
    mk_op *op = mk_pb_op(b, k, "h20_reduce");
    mk_pb_in(b, op, "x", x);
    mk_pb_in(b, op, "axes", mk_pb_i32s(b, "h20_axes", 1, (int32_t[]){-1}));
    mk_pb_in(b, op, "keep_dims", mk_pb_bool(b, "h20_keep", 1));
    return mk_pb_emit(b, op);
}

/* cur[0..nc) <- softmax over the concatenation of the chunks' last axes. */
static void split_softmax(pb *b, mk_value **cur, int nc)
{
    mk_value *m = NULL, *s = NULL, *e[MAX_CHUNKS];
    for (int i = 0; i < nc; i++) {
        mk_value *mi = reduce_keep(b, MK_OP_REDUCE_MAX, cur[i]);
        m = i ? mk_pb_binary(b, MK_OP_MAXIMUM, "h20_max", m, mi) : mi;
    }
    for (int i = 0; i < nc; i++) {
        e[i] = mk_pb_unary(b, MK_OP_EXP, "h20_exp",
                           mk_pb_binary(b, MK_OP_SUB, "h20_shift", cur[i], m));
        mk_value *si = reduce_keep(b, MK_OP_REDUCE_SUM, e[i]);
        s = i ? mk_pb_binary(b, MK_OP_ADD, "h20_sum", s, si) : si;
    }
    for (int i = 0; i < nc; i++) cur[i] = mk_pb_binary(b, MK_OP_REAL_DIV, "h20_softmax", e[i], s);
}

/* One end reduction over the chunks; returns the combined value. */
static mk_value *split_reduce(pb *b, const mk_op *end, mk_value **cur, int nc, const int *off,
                              int64_t total)
{
    mk_op_kind k = end->kind;
    int arg = k == MK_OP_REDUCE_ARGMAX || k == MK_OP_REDUCE_ARGMIN;
    mk_op_kind part = k == MK_OP_REDUCE_MEAN ? MK_OP_REDUCE_SUM : k;
    mk_value *acc = NULL, *best = NULL;
    for (int i = 0; i < nc && !b->failed; i++) {
        mk_op *op = mk_pb_op(b, part, "h20_part");
        mk_pb_in(b, op, "x", cur[i]);
        static const char *const skip[] = {"x", NULL};
        copy_end_inputs(b, end, op, skip);
        mk_value *r = mk_pb_emit(b, op);
        if (!arg) {
            mk_op_kind comb = k == MK_OP_REDUCE_MAX   ? MK_OP_MAXIMUM
                              : k == MK_OP_REDUCE_MIN ? MK_OP_MINIMUM
                                                      : MK_OP_ADD;
            acc = i ? mk_pb_binary(b, comb, "h20_combine", acc, r) : r;
            continue;
        }
        /* the value at the chunk's arg position: its max (argmax) or min (argmin) */
        mk_op *vo = mk_pb_op(b, k == MK_OP_REDUCE_ARGMAX ? MK_OP_REDUCE_MAX : MK_OP_REDUCE_MIN,
                             "h20_value");
        mk_pb_in(b, vo, "x", cur[i]);
        mk_pb_in(b, vo, "axes", mk_pb_i32s(b, "h20_axes", 1, (int32_t[]){-1}));
        int keep = 0;
        mk_ir_arg_bool(end, "keep_dims", &keep);
        mk_pb_in(b, vo, "keep_dims", mk_pb_bool(b, "h20_keep", keep));
        mk_value *v = mk_pb_emit(b, vo);
        if (!i) {
            acc = r;
            best = v;
            continue;
        }
        mk_value *idx =
            mk_pb_binary(b, MK_OP_ADD, "h20_index", r, mk_pb_i32(b, "h20_offset", off[i]));
        /* strictly better: ties keep the earlier chunk (first occurrence, like argmax) */
        mk_value *g = mk_pb_binary(b, k == MK_OP_REDUCE_ARGMAX ? MK_OP_GREATER : MK_OP_LESS,
                                   "h20_better", v, best);
        mk_op *si = mk_pb_op(b, MK_OP_SELECT, "h20_pick");
        mk_pb_in(b, si, "cond", g);
        mk_pb_in(b, si, "a", idx);
        mk_pb_in(b, si, "b", acc);
        acc = mk_pb_emit(b, si);
        mk_op *sv = mk_pb_op(b, MK_OP_SELECT, "h20_pick_value");
        mk_pb_in(b, sv, "cond", g);
        mk_pb_in(b, sv, "a", v);
        mk_pb_in(b, sv, "b", best);
        best = mk_pb_emit(b, sv);
    }
    if (k == MK_OP_REDUCE_MEAN && acc)
        acc = mk_pb_binary(b, MK_OP_REAL_DIV, "h20_mean", acc,
                           mk_pb_float(b, "h20_count", acc->type.dtype, (double)total));
    return acc;
}

/* A chunk of rows [r0, r0+nr) or columns [c0, c0+nc) of a rank-2 constant. */
static mk_value *weight_chunk(pb *b, const mk_value *w, int rows, int64_t o, int64_t n)
{
    size_t es = (size_t)mk_dtype_bits(w->type.dtype) / 8;
    int64_t R = w->type.dims[0], C = w->type.dims[1];
    int64_t d[2] = {rows ? n : R, rows ? C : n};
    mk_type t = mk_type_make(w->type.dtype, 2, d);
    const unsigned char *src = w->cst->data;
    if (rows)
        return mk_pb_const_borrow(b, "h20_weight", &t, src + (size_t)(o * C) * es,
                                  (size_t)(n * C) * es);
    size_t nb = (size_t)(R * n) * es;
    unsigned char *buf = b->failed ? NULL : mk_arena_alloc(b->p->arena, nb);
    if (!buf) {
        if (!b->failed) MK_OOM(b->e);
        b->failed = 1;
        return NULL;
    }
    for (int64_t r = 0; r < R; r++)
        memcpy(buf + (size_t)(r * n) * es, src + (size_t)(r * C + o) * es, (size_t)n * es);
    return mk_pb_const_borrow(b, "h20_weight", &t, buf, nb);
}

static int split_projection(mk_program *p, const mk_long_split *c, mk_err *e)
{
    mk_op *op = c->start;
    mk_value *y = op->outputs[0], *x = mk_ir_arg(op, "x");
    int lin = op->kind == MK_OP_LINEAR, rows = c->weight_rows, nc = c->n_chunks;
    mk_value *w = mk_ir_arg(op, lin ? "weight" : "y"), *bias = lin ? mk_ir_arg(op, "bias") : NULL;
    int64_t N = y->type.dims[y->type.rank - 1];
    pb b;
    mk_pb_init(&b, p, c->pos, e);
    mk_value *cur[MAX_CHUNKS];
    int off[MAX_CHUNKS];
    int64_t o = 0;
    for (int i = 0; i < nc; i++) {
        int64_t n = N / nc + (i < N % nc);
        off[i] = (int)o;
        mk_op *k = mk_pb_op(&b, op->kind, "h20_chunk");
        static const char *const skip_lin[] = {"x", "weight", "bias", NULL};
        static const char *const skip_mm[] = {"x", "y", NULL};
        mk_pb_in(&b, k, "x", x);
        mk_pb_in(&b, k, lin ? "weight" : "y", weight_chunk(&b, w, rows, o, n));
        if (bias) {
            size_t es = (size_t)mk_dtype_bits(bias->type.dtype) / 8;
            mk_type bt = mk_type_make(bias->type.dtype, 1, &n);
            mk_pb_in(&b, k, "bias",
                     mk_pb_const_borrow(&b, "h20_bias", &bt,
                                        (const unsigned char *)bias->cst->data + (size_t)o * es,
                                        (size_t)n * es));
        }
        mk_pb_copy_inputs(&b, op, k, lin ? skip_lin : skip_mm);
        cur[i] = mk_pb_emit(&b, k);
        o += n;
    }
    const mk_value *old = y;
    for (int s = 0; s < c->n_ops && !b.failed; s++) {
        const mk_op *u = c->ops[s];
        if (u->kind == MK_OP_SOFTMAX)
            split_softmax(&b, cur, nc);
        else
            for (int i = 0; i < nc; i++) cur[i] = mk_pass_rebuild_pointwise(&b, u, old, cur[i]);
        old = u->outputs[0];
    }
    for (int k = 0; k < c->n_ends && !b.failed; k++)
        replace_end(&b, c->ends[k], split_reduce(&b, c->ends[k], cur, nc, off, N));
    if (b.failed) return -1;
    unlink_chain(c);
    mk_ir_unlink(op);
    return 1;
}

/* ---- (b) pointwise chains on [.., L/k, k] ---- */

static mk_value *reshape_to(pb *b, mk_value *x, const mk_type *t)
{
    int32_t d[MK_MAX_RANK];
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] > INT32_MAX) return NULL;
        d[i] = (int32_t)t->dims[i];
    }
    mk_op *op = mk_pb_op(b, MK_OP_RESHAPE, "h20_reshape");
    mk_pb_in(b, op, "x", x);
    mk_pb_in(b, op, "shape", mk_pb_i32s(b, "h20_shape", t->rank, d));
    return mk_pb_emit(b, op);
}

static mk_value *split_end_op(pb *b, const mk_op *end, mk_value *cur, int a, int r)
{
    const mk_type *ot = &end->outputs[0]->type;
    if (mk_ir_reshape_like(end->kind)) return reshape_to(b, cur, ot);
    mk_op *op = mk_pb_op(b, end->kind, "h20_reduce");
    mk_pb_in(b, op, "x", cur);
    if (mk_ir_arg(end, "axes")) {
        int64_t ax[MK_MAX_RANK];
        int n = 0, m = 0;
        int32_t nax[MK_MAX_RANK + 1];
        mk_pass_ints(end, "axes", ax, MK_MAX_RANK, &n);
        for (int i = 0; i < n; i++) {
            int x = norm_axis(ax[i], r);
            nax[m++] = x > a ? x + 1 : x;
            if (x == a) nax[m++] = a + 1;
        }
        mk_pb_in(b, op, "axes", mk_pb_i32s(b, "h20_axes", m, nax));
    }
    static const char *const skip[] = {"x", "axes", NULL};
    copy_end_inputs(b, end, op, skip);
    mk_value *y = mk_pb_emit(b, op);
    return y && !same_dims(&y->type, ot) ? reshape_to(b, y, ot) : y;
}

static int split_chain(mk_program *p, const mk_long_split *c, mk_err *e)
{
    pb b;
    mk_pb_init(&b, p, c->pos, e);
    mk_value *cur = reshape_to(&b, c->src ? mk_ir_arg(c->src, "x") : c->v, &c->split);
    const mk_value *old = c->v;
    for (int s = 0; s < c->n_ops && !b.failed; s++) {
        cur = mk_pass_rebuild_pointwise(&b, c->ops[s], old, cur);
        old = c->ops[s]->outputs[0];
    }
    for (int k = 0; k < c->n_ends && !b.failed; k++)
        replace_end(&b, c->ends[k], split_end_op(&b, c->ends[k], cur, c->axis, c->v->type.rank));
    if (b.failed) return -1;
    unlink_chain(c);
    if (c->src) mk_ir_unlink(c->src);
    return 1;
}

/* ---- driver ---- */

static int long_axis_op(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_long_split c;
    if (!mk_ir_long_split(op, &c)) return 0;
    return c.projection ? split_projection(p, &c, e) : split_chain(p, &c, e);
}

int mk_pass_fix_long_axis(mk_program *p, mk_err *e)
{
    return mk_pass_each_op_rescan(p, long_axis_op, NULL, e);
}
