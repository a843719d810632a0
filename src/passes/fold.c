/* General clean-up passes: constant folding of ops whose result is known at compile time
 * (shape of a static tensor; cast/reshape/expand_dims/squeeze of a constant, computed by the
 * interpreter's kernels through mk_const_eval; identity) and dead-op removal (one backward
 * sweep, linear in ops; nested blocks are kept whole).
 * Hazard-specific folds (fill, range_1d: H4) live in fix_cpu_ops.c. */
#include <string.h>

#include "interp/const_eval.h"
#include "passes_int.h"

static int is_block_output(const mk_op *op, const mk_value *v)
{
    const mk_block *b = op->parent;
    for (int i = 0; b && i < b->n_outputs; i++)
        if (b->outputs[i] == v) return 1;
    return 0;
}

/* Replace op's single output by its value, computed by the interpreter's kernel; 0 when the
 * evaluator declines (a non-constant operand, a result larger than 2^26 elements, a type other
 * than the declared one), -1 on OOM. */
static int fold_const(pb *b, mk_op *op, mk_err *e)
{
    mk_const_out r;
    mk_err ce = {0};
    mk_status st = mk_const_eval(op, b->p->alloc, b->p->arena, (size_t)1 << 26, &r, 1, &ce);
    if (st == MK_ENOMEM) {
        MK_OOM(e);
        return -1;
    }
    const mk_type *ot = &op->outputs[0]->type;
    if (st || !mk_type_equal(&r.type, ot)) return 0;
    mk_pb_replace(b, op->outputs[0], mk_pb_const_borrow(b, "folded", ot, r.data, r.nbytes));
    return 1;
}

static int fold_op(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    if (op->n_outputs != 1) return 0;
    mk_value *out = op->outputs[0];
    mk_value *x = mk_ir_arg(op, "x");
    pb b;
    mk_pb_init(&b, p, op, e);
    if (op->kind == MK_OP_SHAPE) {
        if (!x || !mk_type_is_static(&x->type) || x->type.rank < 0) return 0;
        int32_t d[MK_MAX_RANK];
        for (int i = 0; i < x->type.rank; i++) {
            if (x->type.dims[i] > INT32_MAX) return 0;
            d[i] = (int32_t)x->type.dims[i];
        }
        mk_pb_replace(&b, out, mk_pb_i32s(&b, "folded_shape", x->type.rank, d));
        return mk_pb_done(&b, 1);
    }
    if (op->kind == MK_OP_CAST) {
        mk_dtype dt = out->type.dtype, xt = x ? x->type.dtype : MK_DT_INVALID;
        if (!x || !x->cst || !mk_type_is_static(&out->type) ||
            (dt != MK_DT_FP32 && dt != MK_DT_FP16 && dt != MK_DT_INT32 && dt != MK_DT_BOOL) ||
            (!mk_dtype_is_float(xt) && !mk_dtype_is_int(xt) && xt != MK_DT_BOOL))
            return 0;
        int r = fold_const(&b, op, e);
        return r < 0 ? -1 : mk_pb_done(&b, r);
    }
    if (op->kind == MK_OP_RESHAPE || op->kind == MK_OP_EXPAND_DIMS || op->kind == MK_OP_SQUEEZE) {
        if (!x || !x->cst || !x->cst->data || !mk_type_is_static(&out->type)) return 0;
        int r = fold_const(&b, op, e);
        return r < 0 ? -1 : mk_pb_done(&b, r);
    }
    if (op->kind == MK_OP_IDENTITY) {
        if (!x || is_block_output(op, out)) return 0;
        mk_ir_replace_uses(op->parent, out, x);
        mk_ir_unlink(op);
        return 1;
    }
    return 0;
}

/* ---- dead-op removal in one backward sweep per block (linear in ops) ---- */

typedef struct pset {
    const mk_allocator *a;
    const void **k;
    size_t cap, n;
} pset;

static size_t phash(const void *p)
{
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ull;
    return (size_t)(x ^ (x >> 29));
}

static int pset_add(pset *s, const void *k)
{
    if ((s->n + 1) * 2 > s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 1024;
        const void **nk = mk_calloc(s->a, nc, sizeof *nk);
        if (!nk) return 0;
        for (size_t i = 0; i < s->cap; i++)
            if (s->k[i]) {
                size_t h = phash(s->k[i]) & (nc - 1);
                while (nk[h]) h = (h + 1) & (nc - 1);
                nk[h] = s->k[i];
            }
        mk_free(s->a, s->k, s->cap * sizeof *s->k);
        s->k = nk;
        s->cap = nc;
    }
    size_t h = phash(k) & (s->cap - 1);
    while (s->k[h] && s->k[h] != k) h = (h + 1) & (s->cap - 1);
    if (!s->k[h]) {
        s->k[h] = k;
        s->n++;
    }
    return 1;
}

static int pset_has(const pset *s, const void *k)
{
    if (!s->cap) return 0;
    size_t h = phash(k) & (s->cap - 1);
    while (s->k[h]) {
        if (s->k[h] == k) return 1;
        h = (h + 1) & (s->cap - 1);
    }
    return 0;
}

/* Mark every value an op (and its nested blocks) reads. */
static int mark_uses(pset *live, const mk_op *op)
{
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++)
            if (!pset_add(live, op->inputs[i].args[j])) return 0;
    for (int k = 0; k < op->n_blocks; k++) {
        const mk_block *b = op->blocks[k];
        for (int i = 0; i < b->n_outputs; i++)
            if (!pset_add(live, b->outputs[i])) return 0;
        MK_FOR_OPS(b, inner)
        if (!mark_uses(live, inner)) return 0;
    }
    return 1;
}

static int sweep(pset *live, mk_block *b)
{
    int removed = 0;
    for (int i = 0; i < b->n_outputs; i++)
        if (!pset_add(live, b->outputs[i])) return -1;
    for (mk_op *op = b->last, *prev; op; op = prev) {
        prev = op->prev;
        int keep = op->n_blocks > 0 || op->kind == MK_OP_READ_STATE ||
                   op->kind == MK_OP_WRITE_STATE || op->kind == MK_OP_COREML_UPDATE_STATE;
        for (int i = 0; i < op->n_outputs && !keep; i++) keep = pset_has(live, op->outputs[i]);
        if (!keep) {
            mk_ir_unlink(op);
            removed++;
        } else if (!mark_uses(live, op)) {
            return -1;
        }
    }
    return removed;
}

int mk_pass_dce(mk_program *p, mk_err *e)
{
    int total = 0;
    for (int i = 0; i < p->n_functions; i++) {
        pset live = {p->alloc, NULL, 0, 0};
        int r = sweep(&live, p->functions[i]->block);
        mk_free(p->alloc, live.k, live.cap * sizeof *live.k);
        if (r < 0) {
            MK_OOM(e);
            return -1;
        }
        total += r;
    }
    return total;
}

int mk_pass_fold(mk_program *p, mk_err *e)
{
    int n = mk_pass_each_op(p, fold_op, NULL, e);
    if (n < 0) return -1;
    int d = mk_pass_dce(p, e);
    return d < 0 ? -1 : n + d;
}
