/* Symptom: a tensor of rank > 5 (typically the rank-6 intermediate of pixel shuffle,
 *          space-to-depth or window partition: reshape -> transpose -> reshape) fails to
 *          compile ("Invalid rank: 6").
 * Scope: mk_ir_rank_chain (src/ir/rank_chain.c, shared with the lint rule): a static
 *        reshape / expand_dims / squeeze from rank <= 5 to rank > 5, followed by a
 *        single-use chain of transposes and pointwise ops (unary, or binary with a one-element
 *        operand) whose rank > 5 result feeds only reshape-like ops back to rank <= 5. The
 *        rewrite happens only when every rank > 5 tensor of the chain disappears.
 * Evidence: H21 (coremltools issue #832).
 * Rewrite: drop size-1 axes and merge axes that stay adjacent and in order under the total
 *          permutation; reshape to that collapsed shape (rank <= 5), one transpose (none when
 *          the permutation collapses to the identity), the pointwise ops, then reshapes to the
 *          original end shapes. Element order is unchanged, so results are bit-identical. */
#include <string.h>

#include "passes_int.h"

/* ---- helpers shared with fix_long_axis.c (declared in passes_int.h; src/ir/rank_chain.c) ---- */

int mk_pass_pointwise(mk_op_kind k)
{
    return mk_ir_pointwise(k);
}

int mk_pass_users(const mk_block *b, const mk_value *v, mk_op **out, int max)
{
    return mk_ir_users(b, v, out, max);
}

int mk_pass_numel1(const mk_value *v)
{
    return mk_ir_numel1(v);
}

const char *mk_pass_pointwise_param(const mk_op *op, const mk_value *v)
{
    return mk_ir_pointwise_param(op, v);
}

static mk_value *reshape_to(pb *b, mk_value *x, int r, const int64_t *dims)
{
    int32_t d[MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        if (dims[i] > INT32_MAX) return NULL;
        d[i] = (int32_t)dims[i];
    }
    mk_op *op = mk_pb_op(b, MK_OP_RESHAPE, "h21_reshape");
    mk_pb_in(b, op, "x", x);
    mk_pb_in(b, op, "shape", mk_pb_i32s(b, "h21_shape", r, d));
    return mk_pb_emit(b, op);
}

/* A rank-0 copy of a one-element constant (so a rank-6 [1,1,1,1,1,1] operand does not
 * broadcast the rebuilt op back to rank 6). */
mk_value *mk_pass_scalar_of(pb *b, const mk_value *v)
{
    if (!v->cst || !v->cst->data) return NULL;
    mk_type t = mk_type_scalar(v->type.dtype);
    size_t nb = 0;
    if (!mk_type_nbytes(&t, &nb) || nb > v->cst->nbytes) return NULL;
    return mk_pb_const_borrow(b, "scalar", &t, v->cst->data, nb);
}

/* Rebuild pointwise op `op` reading `from` on `to` (rank nr). */
mk_value *mk_pass_rebuild_pointwise(pb *b, const mk_op *op, const mk_value *from, mk_value *to)
{
    mk_op *n = mk_pb_op(b, op->kind, op->name);
    for (int i = 0; i < op->n_inputs && !b->failed; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            mk_value *a = op->inputs[i].args[j];
            if (a == from)
                a = to;
            else if (a->type.rank > to->type.rank && a->type.dtype != MK_DT_STRING) {
                a = mk_pass_scalar_of(b, a);
                if (!a) {
                    if (!b->failed)
                        mk_err_set(b->e, MK_EINVAL, "op '%s': operand '%s' is not constant",
                                   op->name ? op->name : "?", op->inputs[i].name);
                    b->failed = 1;
                    return NULL;
                }
            }
            mk_pb_in(b, n, op->inputs[i].name, a);
        }
    return mk_pb_emit(b, n);
}

/* mk_pb_replace of an end's output; the builder moves on when the end was its position. */
static void replace_end(pb *b, mk_op *end, mk_value *repl)
{
    mk_op *next = end->next;
    int moved = end == b->pos;
    mk_pb_replace(b, end->outputs[0], repl);
    if (moved && next) b->pos = next;
}

static int rewrite(mk_program *p, mk_op *start, mk_err *e)
{
    mk_rank_chain c;
    if (!mk_ir_rank_chain(start, &c)) return 0;
    const mk_value *t = start->outputs[0];
    const int64_t *in = c.in;
    const int *perm = c.tperm;
    int nin = c.nin, ident = 1;
    for (int i = 0; i < nin; i++) ident &= perm[i] == i;
    pb b;
    mk_pb_init(&b, p, c.pos, e);
    mk_value *x = mk_ir_arg(start, "x"), *cur = x;
    if (!ident) {
        if (!(x->type.rank == nin && !memcmp(x->type.dims, in, (size_t)nin * sizeof *in)))
            cur = reshape_to(&b, x, nin, in);
        int32_t p32[MK_MAX_RANK];
        for (int i = 0; i < nin; i++) p32[i] = perm[i];
        mk_op *tr = mk_pb_op(&b, MK_OP_TRANSPOSE, "h21_transpose");
        mk_pb_in(&b, tr, "x", cur);
        mk_pb_in(&b, tr, "perm", mk_pb_i32s(&b, "h21_perm", nin, p32));
        cur = mk_pb_emit(&b, tr);
    }
    const mk_value *old = t;
    for (int k = 0; k < c.n_ops && !b.failed; k++) {
        const mk_op *op = c.ops[k];
        if (op->kind != MK_OP_TRANSPOSE) cur = mk_pass_rebuild_pointwise(&b, op, old, cur);
        old = op->outputs[0];
    }
    for (int k = 0; k < c.n_ends && !b.failed; k++) {
        mk_value *y = c.ends[k]->outputs[0];
        replace_end(&b, c.ends[k], reshape_to(&b, cur, y->type.rank, y->type.dims));
    }
    if (b.failed) return -1;
    for (int k = c.n_ops - 1; k >= 0; k--) mk_ir_unlink(c.ops[k]);
    mk_ir_unlink(start);
    return 1;
}

static int rank_op(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    return rewrite(p, op, e);
}

int mk_pass_fix_rank(mk_program *p, mk_err *e)
{
    return mk_pass_each_op_rescan(p, rank_op, NULL, e);
}
