/* Planning: a slot per value (function inputs, op operands and outputs, nested blocks), and
 * per block a plan with each op's kernel, operand slots and the slots that die at each op (last
 * uses), so that a run frees every activation right after its last reader. */
#include "ip_engine.h"

int mk_ip_add_slot(mk_interp *ip, const mk_value *v, const mk_block *def)
{
    int s = mk_pm_get(&ip->slot_of, v);
    if (s >= 0) {
        if (def && !ip->slot_def[s]) ip->slot_def[s] = def;
        return s;
    }
    if (ip->n_slots == ip->cap_slots) {
        int nc = ip->cap_slots ? ip->cap_slots * 2 : 256;
        mk_rt *ns = mk_arena_array(ip->ar, (size_t)nc, sizeof *ns);
        const mk_value **nv = mk_arena_array(ip->ar, (size_t)nc, sizeof *nv);
        const mk_block **nd = mk_arena_array(ip->ar, (size_t)nc, sizeof *nd);
        if (!ns || !nv || !nd) return -1;
        if (ip->n_slots) {
            memcpy(ns, ip->slots, (size_t)ip->n_slots * sizeof *ns);
            memcpy(nv, ip->slot_val, (size_t)ip->n_slots * sizeof *nv);
            memcpy(nd, ip->slot_def, (size_t)ip->n_slots * sizeof *nd);
        }
        ip->slots = ns;
        ip->slot_val = nv;
        ip->slot_def = nd;
        ip->cap_slots = nc;
    }
    s = ip->n_slots++;
    ip->slot_val[s] = v;
    ip->slot_def[s] = def;
    ip->slots[s].type = v->type;
    if (!mk_pm_put(&ip->slot_of, v, s)) return -1;
    return s;
}

/* Register every value of block b (and nested blocks) as a slot. */
int mk_ip_register_block(mk_interp *ip, const mk_block *b)
{
    for (int i = 0; i < b->n_inputs; i++)
        if (mk_ip_add_slot(ip, b->inputs[i], b) < 0) return 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                if (mk_ip_add_slot(ip, op->inputs[i].args[j], NULL) < 0) return 0;
        for (int i = 0; i < op->n_attrs; i++)
            if (op->attrs[i].value && mk_ip_add_slot(ip, op->attrs[i].value, NULL) < 0) return 0;
        for (int i = 0; i < op->n_blocks; i++)
            if (!mk_ip_register_block(ip, op->blocks[i])) return 0;
        for (int i = 0; i < op->n_outputs; i++)
            if (mk_ip_add_slot(ip, op->outputs[i], b) < 0) return 0;
    }
    for (int i = 0; i < b->n_outputs; i++)
        if (mk_ip_add_slot(ip, b->outputs[i], NULL) < 0) return 0;
    return 1;
}

/* Mark in last[] every slot op index `at` of block b touches, also inside nested blocks. */
static void mark_uses(mk_interp *ip, const mk_block *owner, const mk_op *op, int at, int *last)
{
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            int s = mk_pm_get(&ip->slot_of, op->inputs[i].args[j]);
            if (s >= 0 && ip->slot_def[s] == owner) last[s] = at;
        }
    for (int i = 0; i < op->n_blocks; i++) {
        const mk_block *nb = op->blocks[i];
        MK_FOR_OPS(nb, o2) mark_uses(ip, owner, o2, at, last);
        for (int j = 0; j < nb->n_outputs; j++) {
            int s = mk_pm_get(&ip->slot_of, nb->outputs[j]);
            if (s >= 0 && ip->slot_def[s] == owner) last[s] = at;
        }
    }
}

/* Ops whose output types depend on their operands' types and the values of constant operands
 * only (never on the values of runtime float data): elementwise and activation ops, convs,
 * pools, concat, matmul/linear, normalisations, reductions, reshape and transpose. */
static int memo_kind(mk_op_kind k)
{
    if (k >= MK_OP_ADD && k <= MK_OP_LOGICAL_XOR) return 1;
    if (k >= MK_OP_LOGICAL_NOT && k <= MK_OP_THRESHOLD) return 1;
    if (k >= MK_OP_RELU && k <= MK_OP_LINEAR_ACTIVATION) return 1;
    switch ((int)k) {
    case MK_OP_CONV:
    case MK_OP_MAX_POOL:
    case MK_OP_AVG_POOL:
    case MK_OP_CONCAT:
    case MK_OP_REDUCE_MEAN:
    case MK_OP_LINEAR:
    case MK_OP_MATMUL:
    case MK_OP_SOFTMAX:
    case MK_OP_RESHAPE:
    case MK_OP_BATCH_NORM:
    case MK_OP_LAYER_NORM:
    case MK_OP_TRANSPOSE: return 1;
    default: return 0;
    }
}

static bplan *build_plan(mk_interp *ip, const mk_block *b, int *last, mk_err *e)
{
    bplan *bp = mk_arena_alloc(ip->ar, sizeof *bp);
    if (!bp) return NULL;
    bp->b = b;
    int n = 0;
    MK_FOR_OPS(b, op) n++;
    bp->n_ops = n;
    bp->ops = mk_arena_array(ip->ar, (size_t)(n ? n : 1), sizeof *bp->ops);
    if (!bp->ops) return NULL;
    for (int s = 0; s < ip->n_slots; s++) last[s] = -2;
    int i = 0, n_defs = 0;
    MK_FOR_OPS(b, op)
    {
        mark_uses(ip, b, op, i, last);
        for (int j = 0; j < op->n_outputs; j++) {
            int s = mk_pm_get(&ip->slot_of, op->outputs[j]);
            if (last[s] == -2) last[s] = i; /* never read: freed right after its producer */
        }
        n_defs += op->n_outputs;
        i++;
    }
    for (int j = 0; j < b->n_outputs; j++) {
        int s = mk_pm_get(&ip->slot_of, b->outputs[j]);
        if (s >= 0) last[s] = -1; /* kept until the block ends */
    }
    n_defs += b->n_inputs;
    bp->defs = mk_arena_array(ip->ar, (size_t)(n_defs ? n_defs : 1), sizeof(int));
    if (!bp->defs) return NULL;
    for (int j = 0; j < b->n_inputs; j++)
        bp->defs[bp->n_defs++] = mk_pm_get(&ip->slot_of, b->inputs[j]);
    i = 0;
    MK_FOR_OPS(b, op)
    {
        oplan *pl = &bp->ops[i];
        pl->op = op;
        pl->fused_in = -1;
        pl->fn = mk_interp_kernel(op->kind);
        if (!pl->fn)
            return mk_err_set(e, MK_EUNSUPPORTED, "op %s (%s): not supported by the interpreter",
                              mk_ip_op_label(op), mk_ir_op_info(op->kind)->name),
                   NULL;
        int ni = 0;
        for (int a = 0; a < op->n_inputs; a++) ni += op->inputs[a].n_args;
        pl->n_ins = ni;
        pl->n_attrs = op->n_attrs;
        pl->n_outs = op->n_outputs;
        pl->ins = mk_arena_array(ip->ar, (size_t)ni + 1, sizeof(int));
        pl->attrs = mk_arena_array(ip->ar, (size_t)op->n_attrs + 1, sizeof(int));
        pl->outs = mk_arena_array(ip->ar, (size_t)op->n_outputs + 1, sizeof(int));
        if (!pl->ins || !pl->attrs || !pl->outs) return NULL;
        ni = 0;
        for (int a = 0; a < op->n_inputs; a++)
            for (int j = 0; j < op->inputs[a].n_args; j++)
                pl->ins[ni++] = mk_pm_get(&ip->slot_of, op->inputs[a].args[j]);
        for (int a = 0; a < op->n_attrs; a++)
            pl->attrs[a] = op->attrs[a].value ? mk_pm_get(&ip->slot_of, op->attrs[a].value) : -1;
        for (int a = 0; a < op->n_outputs; a++) {
            pl->outs[a] = mk_pm_get(&ip->slot_of, op->outputs[a]);
            bp->defs[bp->n_defs++] = pl->outs[a];
        }
        pl->memo = NULL;
        if (memo_kind(op->kind)) {
            pl->memo = mk_arena_array(ip->ar, 1, sizeof *pl->memo);
            if (!pl->memo) return NULL;
            pl->memo->valid = 0;
            pl->memo->types =
                mk_arena_array(ip->ar, (size_t)ni + (size_t)op->n_outputs + 1, sizeof(mk_type));
            if (!pl->memo->types) return NULL;
        }
        i++;
    }
    /* free lists: a slot defined here whose last use is op i */
    int *cnt = mk_arena_array(ip->ar, (size_t)(n ? n : 1), sizeof(int));
    if (!cnt) return NULL;
    for (int d = 0; d < bp->n_defs; d++) {
        int s = bp->defs[d];
        if (last[s] >= 0) cnt[last[s]]++;
    }
    for (int o = 0; o < n; o++) {
        bp->ops[o].frees = mk_arena_array(ip->ar, (size_t)cnt[o] + 1, sizeof(int));
        if (!bp->ops[o].frees) return NULL;
    }
    for (int d = 0; d < bp->n_defs; d++) {
        int s = bp->defs[d];
        if (last[s] >= 0) {
            oplan *pl = &bp->ops[last[s]];
            pl->frees[pl->n_free++] = s;
        }
    }
    return bp;
}

int mk_ip_plan_all(mk_interp *ip, const mk_block *b, int *last, mk_err *e)
{
    bplan *bp = build_plan(ip, b, last, e);
    if (!bp) return 0;
    if (ip->n_plans == ip->cap_plans) {
        int nc = ip->cap_plans ? ip->cap_plans * 2 : 8;
        bplan **np = mk_arena_array(ip->ar, (size_t)nc, sizeof *np);
        if (!np) return 0;
        if (ip->n_plans) memcpy(np, ip->plans, (size_t)ip->n_plans * sizeof *np);
        ip->plans = np;
        ip->cap_plans = nc;
    }
    if (!mk_pm_put(&ip->plan_of, b, ip->n_plans)) return 0;
    ip->plans[ip->n_plans++] = bp;
    MK_FOR_OPS(b, op)
    for (int i = 0; i < op->n_blocks; i++)
        if (!mk_ip_plan_all(ip, op->blocks[i], last, e)) return 0;
    return 1;
}
