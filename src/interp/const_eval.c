/* The constant evaluator behind folding: a one-op session on a stack interpreter (one thread,
 * no fusion, no views) runs the op's kernel on its constant operands, exactly as a run would
 * (constants materialised, output types from the type rules, fp16 outputs rounded), and hands
 * the outputs back as payloads in their declared dtypes. */
#include "const_eval.h"
#include "ip_engine.h"

static mk_status unsupported(mk_err *e, const mk_op *op, const char *why)
{
    return mk_err_set(e, MK_EUNSUPPORTED, "op %s (%s): cannot evaluate at convert time: %s",
                      mk_ip_op_label(op), mk_ir_op_info(op->kind)->name, why);
}

/* A canonical runtime tensor's elements in its declared dtype, into dst. */
static int to_declared(const mk_rt *r, void *dst)
{
    size_t n = r->numel;
    const float *f = r->data;
    const int32_t *q = r->data;
    switch ((int)r->type.dtype) {
    case MK_DT_FP32:
    case MK_DT_INT32: memcpy(dst, r->data, n * 4); return 1;
    case MK_DT_BOOL: memcpy(dst, r->data, n); return 1;
    case MK_DT_FP16: mk_f32_to_f16_n(f, dst, n); return 1;
    case MK_DT_FP64:
        for (size_t i = 0; i < n; i++) ((double *)dst)[i] = f[i];
        return 1;
    case MK_DT_INT64:
        for (size_t i = 0; i < n; i++) ((int64_t *)dst)[i] = q[i];
        return 1;
    case MK_DT_INT16:
        for (size_t i = 0; i < n; i++) ((int16_t *)dst)[i] = (int16_t)q[i];
        return 1;
    case MK_DT_UINT16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = (uint16_t)q[i];
        return 1;
    case MK_DT_INT8:
        for (size_t i = 0; i < n; i++) ((int8_t *)dst)[i] = (int8_t)q[i];
        return 1;
    case MK_DT_UINT8:
        for (size_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = (uint8_t)q[i];
        return 1;
    default: return 0;
    }
}

/* reshape / expand_dims / squeeze / flatten2d / identity move no element: x's payload is the
 * result (their kernel is a memcpy), so a large weight folds without a copy. */
static int is_view(const mk_op *op)
{
    return mk_interp_kernel(op->kind) == mk_k_copy_reshape;
}

static mk_status run(mk_interp *ip, const mk_op *op, mk_arena *ar, size_t max_elems,
                     mk_const_out *outs, int n_outs, mk_err *e)
{
    int n_ins = 0, s = 0;
    for (int i = 0; i < op->n_inputs; i++) n_ins += op->inputs[i].n_args;
    int n_slots = n_ins + op->n_attrs + n_outs;
    ip->n_slots = n_slots;
    mk_kernel fn = mk_interp_kernel(op->kind);
    if (!fn || op->n_blocks) return unsupported(e, op, "no kernel for a one-op evaluation");
    ip->slots = mk_calloc(ip->alloc, (size_t)n_slots + 1, sizeof *ip->slots);
    ip->slot_val = mk_calloc(ip->alloc, (size_t)n_slots + 1, sizeof *ip->slot_val);
    mk_rt **ptr = mk_calloc(ip->alloc, (size_t)n_slots + 1, sizeof *ptr);
    mk_operand *opnds = mk_calloc(ip->alloc, (size_t)n_ins + 1, sizeof *opnds);
    mk_type *types = mk_calloc(ip->alloc, (size_t)n_outs + 1, sizeof *types);
    mk_status st = MK_OK;
    if (!ip->slots || !ip->slot_val || !ptr || !opnds || !types) {
        st = MK_OOM(e);
        goto done;
    }
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++, s++) ip->slot_val[s] = op->inputs[i].args[j];
    for (int i = 0; i < op->n_attrs; i++, s++) ip->slot_val[s] = op->attrs[i].value;
    for (s = 0; s < n_ins + op->n_attrs; s++) {
        const mk_value *v = ip->slot_val[s];
        if (!v) continue;
        if (!v->cst) {
            st = unsupported(e, op, "an operand is not a constant");
            goto done;
        }
        if ((st = mk_ip_materialize(ip, s, e))) goto done;
        ptr[s] = &ip->slots[s];
    }
    for (int i = 0; i < n_ins; i++) {
        opnds[i].type = ip->slot_val[i]->type;
        opnds[i].data = ip->slot_val[i]->cst->data;
        opnds[i].nbytes = ip->slot_val[i]->cst->nbytes;
    }
    int n_types = 0;
    if ((st = mk_ir_infer(op, opnds, n_ins, types, n_outs, &n_types, e))) goto done;
    if (n_types != n_outs) {
        st = unsupported(e, op, "output count differs from the type rule's");
        goto done;
    }
    mk_rt **out = ptr + n_ins + op->n_attrs;
    for (int i = 0; i < n_outs; i++) {
        size_t n;
        out[i] = &ip->slots[n_ins + op->n_attrs + i];
        out[i]->type = types[i];
        if (!mk_type_is_static(&types[i])) continue; /* data-dependent: the kernel allocates */
        if (!mk_type_numel(&types[i], &n) || n > max_elems) {
            st = unsupported(e, op, "result too large");
            goto done;
        }
        if ((st = mk_ip_rt_alloc(ip, out[i], &types[i], e))) goto done;
    }
    mk_kctx k = {ip,     op,  n_ins,     ptr, op->n_attrs, ptr + n_ins,
                 n_outs, out, ip->alloc, e,   NULL,        NULL};
    if ((st = fn(&k))) goto done;
    for (int i = 0; i < n_outs; i++) {
        mk_rt *r = out[i];
        size_t n, nb;
        if (!mk_type_is_static(&r->type) || (!r->data && r->numel) ||
            !mk_type_numel(&r->type, &n) || n > max_elems) {
            st = unsupported(e, op, "result not static or too large");
            goto done;
        }
        if (r->type.dtype == MK_DT_FP16) mk_round_f16_n(r->data, r->numel);
        if (!mk_type_nbytes(&r->type, &nb)) {
            st = unsupported(e, op, "result size overflows");
            goto done;
        }
        void *d = mk_arena_alloc(ar, nb ? nb : 1);
        if (!d) {
            st = MK_OOM(e);
            goto done;
        }
        if (!to_declared(r, d)) {
            st = unsupported(e, op, "no payload form for the result dtype");
            goto done;
        }
        outs[i] = (mk_const_out){r->type, d, nb};
    }
done:
    for (s = 0; ip->slots && s < n_slots; s++) mk_rt_release(ip, &ip->slots[s]);
    mk_free(ip->alloc, types, ((size_t)n_outs + 1) * sizeof *types);
    mk_free(ip->alloc, opnds, ((size_t)n_ins + 1) * sizeof *opnds);
    mk_free(ip->alloc, ptr, ((size_t)n_slots + 1) * sizeof *ptr);
    return st;
}

static mk_status view(const mk_op *op, mk_const_out *out, mk_err *e)
{
    const mk_value *x = mk_ir_arg(op, "x");
    mk_operand opnds[MK_MAX_RANK + 4];
    int n_ins = 0, n_types = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const mk_value *v = op->inputs[i].args[j];
            if (!v->cst) return unsupported(e, op, "an operand is not a constant");
            if (n_ins == MK_MAX_RANK + 4) return unsupported(e, op, "too many operands");
            opnds[n_ins++] = (mk_operand){v->type, v->cst->data, v->cst->nbytes};
        }
    mk_type t;
    mk_status st = mk_ir_infer(op, opnds, n_ins, &t, 1, &n_types, e);
    if (st) return st;
    size_t n, nx, nb;
    if (n_types != 1 || !x || !mk_type_is_static(&t) || t.dtype != x->type.dtype ||
        !mk_type_numel(&t, &n) || !mk_type_numel(&x->type, &nx) || n != nx ||
        !mk_type_nbytes(&t, &nb) || x->cst->nbytes < nb)
        return unsupported(e, op, "result not a static view of x");
    *out = (mk_const_out){t, x->cst->data, nb};
    return MK_OK;
}

mk_status mk_const_eval(const mk_op *op, const mk_allocator *a, mk_arena *ar, size_t max_elems,
                        mk_const_out *outs, int n_outs, mk_err *e)
{
    if (n_outs != op->n_outputs || n_outs < 1)
        return unsupported(e, op, "output count differs from the op's");
    if (is_view(op) && n_outs == 1) return view(op, outs, e);
    mk_interp ip;
    memset(&ip, 0, sizeof ip);
    ip.alloc = a ? a : mk_alloc_default();
    ip.threads = ip.n_threads = 1;
    mk_status st = run(&ip, op, ar, max_elems, outs, n_outs, e);
    mk_free(ip.alloc, ip.slots, ((size_t)ip.n_slots + 1) * sizeof *ip.slots);
    mk_free(ip.alloc, ip.slot_val, ((size_t)ip.n_slots + 1) * sizeof *ip.slot_val);
    for (int i = 0; i < ip.n_pool; i++) mk_free(ip.alloc, ip.pool[i], ip.pool_cap[i]);
    mk_free(ip.alloc, ip.scratch, ip.scratch_n);
    for (int t = 0; t < MK_PAR_MAX; t++) mk_free(ip.alloc, ip.tscratch[t], ip.tscratch_n[t]);
    return st;
}
