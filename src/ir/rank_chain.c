/* The H21 trigger shared by the lint rule and fix_rank: a rank > 5 tensor inside a chain that a
 * reshape-like op opens from rank <= 5, single-use transposes and pointwise ops carry, and
 * reshape-like ops close back to rank <= 5; fixable when dropping size-1 axes and merging axes
 * that stay adjacent under the chain's permutation brings it to rank <= 5. Also the use and
 * pointwise helpers fix_rank and fix_long_axis walk chains with. */
#include <string.h>

#include "ir.h"

#define MAX_CHAIN MK_IR_RANK_CHAIN_MAX
#define MAX_ENDS MK_IR_RANK_CHAIN_ENDS

int mk_ir_pointwise(mk_op_kind k)
{
    const mk_op_info *i = mk_ir_op_info(k);
    return i ? i->pointwise : 0;
}

int mk_ir_users(const mk_block *b, const mk_value *v, mk_op **out, int max)
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

int mk_ir_numel1(const mk_value *v)
{
    size_t n = 0;
    return v && mk_type_is_static(&v->type) && mk_type_numel(&v->type, &n) && n == 1;
}

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

const char *mk_ir_pointwise_param(const mk_op *op, const mk_value *v)
{
    if (!mk_ir_pointwise(op->kind) || op->n_outputs != 1) return NULL;
    const char *param = NULL;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const mk_value *a = op->inputs[i].args[j];
            if (a == v && !param && op->inputs[i].n_args == 1)
                param = op->inputs[i].name;
            else if (!mk_ir_numel1(a) && a->type.dtype != MK_DT_STRING)
                return NULL;
        }
    if (!param || (strcmp(param, "x") && strcmp(param, "y"))) return NULL;
    const mk_type *o = &op->outputs[0]->type;
    return o->rank == v->type.rank &&
                   !memcmp(o->dims, v->type.dims, (size_t)o->rank * sizeof *o->dims)
               ? param
               : NULL;
}

static int find_chain(const mk_op *start, mk_rank_chain *c)
{
    memset(c, 0, sizeof *c);
    const mk_value *x = mk_ir_arg(start, "x"), *cur = start->outputs[0];
    if (!x || !mk_type_is_static(&x->type) || x->type.rank > 5) return 0;
    int r = cur->type.rank;
    for (int i = 0; i < r; i++) c->perm[i] = i;
    mk_op *users[MAX_ENDS];
    for (;;) {
        int n = mk_ir_users(start->parent, cur, users, MAX_ENDS);
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
            if (!mk_ir_arg_i64s(u, "perm", q, MK_MAX_RANK, &nq) || nq != r) return 0;
            for (int j = 0; j < r; j++) {
                int64_t a = q[j] < 0 ? q[j] + r : q[j];
                if (a < 0 || a >= r || (seen >> a & 1)) return 0;
                seen |= 1 << a;
                np[j] = c->perm[a];
            }
            memcpy(c->perm, np, sizeof np);
        } else if (!mk_ir_pointwise_param(u, cur)) {
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

static int scalars_ok(const mk_rank_chain *c)
{
    /* one-element operands above the collapsed rank must be constants (turned rank 0) */
    for (int k = 0; k < c->n_ops; k++) {
        const mk_op *op = c->ops[k];
        if (op->kind == MK_OP_TRANSPOSE) continue;
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) {
                const mk_value *a = op->inputs[i].args[j];
                if (a->type.rank > 5 && mk_ir_numel1(a) && !a->cst) return 0;
            }
    }
    return 1;
}

int mk_ir_rank_chain(const mk_op *start, mk_rank_chain *c)
{
    const mk_type *t = start->n_outputs == 1 ? &start->outputs[0]->type : NULL;
    if (!reshape_like(start->kind) || !t || t->rank <= 5 || !mk_type_is_static(t) ||
        !start->parent || !find_chain(start, c) || !scalars_ok(c) ||
        !collapse(t->dims, t->rank, c->perm, c->in, &c->nin, c->tperm))
        return 0;
    c->start = (mk_op *)start;
    c->pos = NULL;
    for (mk_op *o = start->next; o && !c->pos; o = o->next)
        for (int k = 0; k < c->n_ends && !c->pos; k++)
            if (c->ends[k] == o) c->pos = o;
    return c->pos != NULL;
}

int mk_ir_rank_fixable(const mk_op *op)
{
    const mk_op *s = op;
    for (int n = 0; s && n <= MAX_CHAIN && !reshape_like(s->kind); n++) {
        const mk_value *x = mk_ir_arg(s, "x"), *y = mk_ir_arg(s, "y");
        if (s->kind != MK_OP_TRANSPOSE && x && !mk_ir_pointwise_param(s, x)) x = y;
        s = x ? x->producer : NULL;
    }
    mk_rank_chain c;
    if (!s || !reshape_like(s->kind) || !mk_ir_rank_chain(s, &c)) return 0;
    if (op == s) return 1;
    for (int k = 0; k < c.n_ops; k++)
        if (c.ops[k] == op) return 1;
    return 0;
}
