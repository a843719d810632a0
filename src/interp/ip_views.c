/* Concat views: the ops producing a concat's values write straight into the concat's output,
 * planned once per session. */
#include "ip_engine.h"

/* Let the ops producing a concat's values write straight into the concat's output (a view
 * at the value's offset), so that the concat itself copies nothing. Applies when the concat
 * joins along an axis with only 1s before it (each value is one contiguous run), its output
 * type is static, and each value is an op output of the same block read by nothing else.
 * Values computed by fused chains share the view down to the chain's host. */
int mk_ip_plan_views(mk_interp *ip)
{
    size_t ns = (size_t)ip->n_slots + 1;
    int *uses = mk_arena_array(ip->ar, ns, sizeof *uses);
    const oplan **def = mk_arena_array(ip->ar, ns, sizeof *def);
    if (!uses || !def) return 0;
    for (int q = 0; q < ip->n_plans; q++) {
        const bplan *bp = ip->plans[q];
        for (int o = 0; o < bp->n_ops; o++) {
            const oplan *pl = &bp->ops[o];
            for (int i = 0; i < pl->n_ins; i++) uses[pl->ins[i]]++;
            for (int i = 0; i < pl->n_attrs; i++)
                if (pl->attrs[i] >= 0) uses[pl->attrs[i]] += 2;
            for (int i = 0; i < pl->n_outs; i++) def[pl->outs[i]] = pl;
        }
        for (int j = 0; j < bp->b->n_outputs; j++) {
            int s = mk_pm_get(&ip->slot_of, bp->b->outputs[j]);
            if (s >= 0) uses[s] += 2;
        }
    }
    for (int q = 0; q < ip->n_plans; q++) {
        const bplan *bp = ip->plans[q];
        for (int o = 0; o < bp->n_ops; o++) {
            const oplan *pl = &bp->ops[o];
            const mk_op *op = pl->op;
            if (op->kind != MK_OP_CONCAT || pl->n_outs != 1 || pl->fused_in != -1) continue;
            const mk_type *ot = &ip->slot_val[pl->outs[0]]->type;
            double ax, il;
            int vi = mk_ir_operand_index(op, "values"), n_vals;
            const mk_input *vin = mk_ir_input(op, "values");
            if (vi < 0 || !vin || !mk_type_is_static(ot) ||
                !mk_ip_const_param_any(op, "axis", 0, &ax) ||
                !mk_ip_const_param_any(op, "interleave", 0, &il) || il != 0)
                continue;
            int axis = (int)(ax < 0 ? ax + ot->rank : ax), ok = axis >= 0 && axis < ot->rank;
            for (int d = 0; d < axis && ok; d++) ok = ot->dims[d] == 1;
            n_vals = vin->n_args;
            size_t es = mk_interp_elem_size(ot->dtype), off = 0, n;
            for (int j = 0; j < n_vals && ok; j++) {
                int s = pl->ins[vi + j];
                const mk_value *v = ip->slot_val[s];
                ok = uses[s] == 1 && def[s] && !v->cst && ip->slot_def[s] == bp->b &&
                     mk_type_is_static(&v->type) && mk_type_numel(&v->type, &n) &&
                     mk_interp_layout(v->type.dtype) == mk_interp_layout(ot->dtype) &&
                     ip->view[s].base < 0;
            }
            if (!ok) continue;
            for (int j = 0; j < n_vals; j++) {
                int s = pl->ins[vi + j];
                mk_type_numel(&ip->slot_val[s]->type, &n);
                /* the value, and the values of its fused chain back to the host */
                for (int c = s; c >= 0;) {
                    ip->view[c] = (struct view){pl->outs[0], off, n};
                    const oplan *d = def[c];
                    c = d && d->fused_in >= 0 ? d->ins[d->fused_in] : -1;
                }
                off += n * es;
            }
        }
    }
    return 1;
}
