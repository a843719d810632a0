/* Symptom: a tensor of rank > 5 (typically the rank-6 intermediate of pixel shuffle,
 *          space-to-depth or window partition: reshape -> transpose -> reshape) fails to
 *          compile ("Invalid rank: 6").
 * Scope: a static reshape / expand_dims / squeeze from rank <= 5 to rank > 5, followed by a
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

#define MAX_CHAIN 64
#define MAX_ENDS 16

/* ---- helpers shared with fix_long_axis.c (declared in passes_int.h) ---- */

int mk_pass_pointwise(mk_op_kind k)
{
    const mk_op_info *i = mk_ir_op_info(k);
    return i ? i->pointwise : 0;
}

int mk_pass_users(const mk_block *b, const mk_value *v, mk_op **out, int max)
{
    int n = 0, args = 0;
    MK_FOR_OPS(b, op)
    {
        int cnt = 0;
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) cnt += op->inputs[i].args[j] == v;
        if (!cnt) continue;
        if (n == max) return -1;
        out[n++] = op;
        args += cnt;
    }
    return mk_ir_count_uses(b, v) == args ? n : -1;
}

int mk_pass_numel1(const mk_value *v)
{
    size_t n = 0;
    return v && mk_type_is_static(&v->type) && mk_type_numel(&v->type, &n) && n == 1;
}

/* ---- the chain ---- */

typedef struct chain {
    mk_op *start; /* reshape-like op: x (rank <= 5) -> rank > 5 */
    int n_ops;    /* transposes and pointwise ops, in order */
    mk_op *ops[MAX_CHAIN];
    int n_ends; /* reshape-like readers of the last value (rank <= 5 outputs) */
    mk_op *ends[MAX_ENDS];
    int perm[MK_MAX_RANK]; /* axis j of the last value = axis perm[j] of start's output */
} chain;

static int reshape_like(mk_op_kind k)
{
    return k == MK_OP_RESHAPE || k == MK_OP_EXPAND_DIMS || k == MK_OP_SQUEEZE ||
           k == MK_OP_FLATTEN2D;
}

static int is_end(const mk_op *op, const mk_value *v)
{
    const mk_value *out = op->n_outputs == 1 ? op->outputs[0] : NULL;
    return reshape_like(op->kind) && mk_ir_arg(op, "x") == v && out &&
           mk_type_is_static(&out->type) && out->type.rank <= 5;
}

const char *mk_pass_pointwise_param(const mk_op *op, const mk_value *v)
{
    if (!mk_pass_pointwise(op->kind) || op->n_outputs != 1) return NULL;
    const char *param = NULL;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const mk_value *a = op->inputs[i].args[j];
            if (a == v && !param && op->inputs[i].n_args == 1)
                param = op->inputs[i].name;
            else if (!mk_pass_numel1(a) && a->type.dtype != MK_DT_STRING)
                return NULL;
        }
    if (!param || (strcmp(param, "x") && strcmp(param, "y"))) return NULL;
    const mk_type *o = &op->outputs[0]->type;
    return o->rank == v->type.rank &&
                   !memcmp(o->dims, v->type.dims, (size_t)o->rank * sizeof *o->dims)
               ? param
               : NULL;
}

static int find_chain(const mk_op *start, chain *c)
{
    memset(c, 0, sizeof *c);
    const mk_value *x = mk_ir_arg(start, "x"), *cur = start->outputs[0];
    if (!x || !mk_type_is_static(&x->type) || x->type.rank > 5) return 0;
    int r = cur->type.rank;
    for (int i = 0; i < r; i++) c->perm[i] = i;
    mk_op *users[MAX_ENDS];
    for (;;) {
        int n = mk_pass_users(start->parent, cur, users, MAX_ENDS);
        if (n <= 0) return 0;
        int ends = 0;
        for (int i = 0; i < n; i++) ends += is_end(users[i], cur);
        if (ends == n) {
            c->n_ends = n;
            memcpy(c->ends, users, (size_t)n * sizeof *users);
            return 1;
        }
        mk_op *u = users[0];
        if (n != 1 || c->n_ops == MAX_CHAIN) return 0;
        if (u->kind == MK_OP_TRANSPOSE && mk_ir_arg(u, "x") == cur) {
            int64_t q[MK_MAX_RANK];
            int nq = 0, np[MK_MAX_RANK], seen = 0;
            if (!mk_pass_ints(u, "perm", q, MK_MAX_RANK, &nq) || nq != r) return 0;
            for (int j = 0; j < r; j++) {
                int64_t a = q[j] < 0 ? q[j] + r : q[j];
                if (a < 0 || a >= r || (seen >> a & 1)) return 0;
                seen |= 1 << a;
                np[j] = c->perm[a];
            }
            memcpy(c->perm, np, sizeof np);
        } else if (!mk_pass_pointwise_param(u, cur)) {
            return 0;
        }
        c->ops[c->n_ops++] = u;
        cur = u->outputs[0];
        if (cur->type.rank != r || !mk_type_is_static(&cur->type)) return 0;
    }
}

/* Collapse: shape in[] (rank *nin) of the merged axes in input order, and the transpose
 * perm out[] over them. Returns 0 when the result still has rank > 5. */
static int collapse(const int64_t *d, int r, const int *perm, int64_t *in, int *nin, int *out)
{
    int kept[MK_MAX_RANK], nk = 0, ki[MK_MAX_RANK];
    for (int a = 0; a < r; a++) ki[a] = d[a] == 1 ? -1 : nk++;
    nk = 0;
    for (int j = 0; j < r; j++)
        if (ki[perm[j]] >= 0) kept[nk++] = ki[perm[j]];
    /* groups: runs of consecutive kept indices in output order */
    int gstart[MK_MAX_RANK], ng = 0;
    int64_t gdim[MK_MAX_RANK];
    int kdim_axis[MK_MAX_RANK];
    for (int a = 0; a < r; a++)
        if (ki[a] >= 0) kdim_axis[ki[a]] = a;
    for (int j = 0; j < nk; j++) {
        int64_t dim = d[kdim_axis[kept[j]]];
        if (j > 0 && kept[j] == kept[j - 1] + 1) {
            gdim[ng - 1] *= dim;
        } else {
            gstart[ng] = kept[j];
            gdim[ng++] = dim;
        }
    }
    if (ng > 5) return 0;
    if (ng == 0) {
        in[0] = 1;
        out[0] = 0;
        *nin = 1;
        return 1;
    }
    /* input order = groups sorted by their first kept index */
    int order[MK_MAX_RANK];
    for (int g = 0; g < ng; g++) order[g] = g;
    for (int g = 1; g < ng; g++)
        for (int h = g; h > 0 && gstart[order[h]] < gstart[order[h - 1]]; h--) {
            int t = order[h];
            order[h] = order[h - 1];
            order[h - 1] = t;
        }
    for (int pos = 0; pos < ng; pos++) {
        in[pos] = gdim[order[pos]];
        out[order[pos]] = pos; /* group order[pos] sits at input position pos */
    }
    /* out[g] now holds the input position of output group g: that is the transpose perm */
    *nin = ng;
    return 1;
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

static int scalars_ok(const chain *c)
{
    /* one-element operands above the collapsed rank must be constants (turned rank 0) */
    for (int k = 0; k < c->n_ops; k++) {
        const mk_op *op = c->ops[k];
        if (op->kind == MK_OP_TRANSPOSE) continue;
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) {
                const mk_value *a = op->inputs[i].args[j];
                if (a->type.rank > 5 && mk_pass_numel1(a) && !a->cst) return 0;
            }
    }
    return 1;
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
    chain c;
    if (!find_chain(start, &c) || !scalars_ok(&c)) return 0;
    const mk_value *t = start->outputs[0];
    int64_t in[MK_MAX_RANK];
    int nin = 0, perm[MK_MAX_RANK];
    if (!collapse(t->type.dims, t->type.rank, c.perm, in, &nin, perm)) return 0;
    int ident = 1;
    for (int i = 0; i < nin; i++) ident &= perm[i] == i;
    /* the earliest end in block order: every new op goes before it */
    mk_op *pos = NULL;
    for (mk_op *o = start->next; o && !pos; o = o->next)
        for (int k = 0; k < c.n_ends && !pos; k++)
            if (c.ends[k] == o) pos = o;
    if (!pos) return 0;
    pb b;
    mk_pb_init(&b, p, pos, e);
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
    if (reshape_like(op->kind) && op->n_outputs == 1 && op->outputs[0]->type.rank > 5 &&
        mk_type_is_static(&op->outputs[0]->type))
        return rewrite(p, op, e);
    return 0;
}

int mk_pass_fix_rank(mk_program *p, mk_err *e)
{
    return mk_pass_each_op_rescan(p, rank_op, NULL, e);
}
