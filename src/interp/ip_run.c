/* The run loop: per op, constants materialised, output types inferred from the runtime
 * operands, outputs allocated (or donated by a dying operand), the kernel called and timed when
 * profiling, fp16 rounding applied, dead values released; nested blocks for cond/while_loop. */
#include <math.h>
#include <stdio.h>
#include <time.h>

#include "ip_engine.h"
#include "k_vec.h"

/* Round float outputs to half where the dtype or fp16 emulation asks; note overflows. */
static void round_outputs(mk_interp *ip, const mk_op *op, mk_rt *r)
{
    if (mk_interp_layout(r->type.dtype) != MK_L_F32 || !r->data) return;
    if (!(r->type.dtype == MK_DT_FP16 || ip->fp16) || r->type.dtype == MK_DT_FP64) return;
    float was = 0;
    size_t i = (size_t)mk_vec_round16_inf(r->data, (int64_t)r->numel, &was);
    if (i < r->numel && !ip->warning[0])
        snprintf(ip->warning, sizeof ip->warning,
                 "fp16 overflow: op %s (%s) produced %g, beyond +-65504 (became %sinf)",
                 mk_ip_op_label(op), mk_ir_op_info(op->kind)->name, (double)was,
                 was < 0 ? "-" : "+");
}

#ifdef MK_DEBUG
/* Debug builds: an output the kernel's fp16 epilogue rounded holds only halves (and NaNs). */
static int all_halves(const mk_rt *r)
{
    const float *d = r->data;
    for (size_t i = 0; d && i < r->numel; i++)
        if (d[i] == d[i] && mk_round_f16(d[i]) != d[i]) return 0;
    return 1;
}
#endif

mk_status mk_ip_run_plan(mk_interp *ip, const bplan *bp, mk_err *e);

static int skip_infer(mk_op_kind k)
{
    return k == MK_OP_CONST || k == MK_OP_COND || k == MK_OP_WHILE_LOOP;
}

/* Elementwise ops whose kernels read element i of x before writing element i of the output,
 * so x's buffer can become the output when this op is x's last reader. */
static int donation_safe(mk_op_kind k)
{
    if (k >= MK_OP_ADD && k <= MK_OP_LOGICAL_XOR) return 1;
    if (k >= MK_OP_LOGICAL_NOT && k <= MK_OP_THRESHOLD) return 1;
    return k >= MK_OP_RELU && k <= MK_OP_LINEAR_ACTIVATION && k != MK_OP_PRELU;
}

/* reshape, expand_dims, squeeze: the same elements in the same order */
static int same_elements(mk_op_kind k)
{
    return k == MK_OP_RESHAPE || k == MK_OP_EXPAND_DIMS || k == MK_OP_SQUEEZE;
}

/* Hand the buffer of operand `idx` (x, or the fused operand) to output 0 when it dies here and
 * has the output's exact type layout (for reshapes, its element count: the output is then x's
 * buffer and the kernel copies nothing); returns 1 when done (output 0 then needs no
 * allocation). */
static int try_donate(mk_interp *ip, const oplan *pl, const mk_type *t)
{
    if (pl->n_outs != 1 || !mk_type_is_static(t)) return 0;
    int idx = pl->fused_in, reshape = idx < 0 && same_elements(pl->op->kind);
    if (idx < 0) {
        if (!donation_safe(pl->op->kind) && !reshape) return 0;
        idx = mk_ir_operand_index(pl->op, "x");
    }
    if (idx < 0 || idx >= pl->n_ins) return 0;
    int s = pl->ins[idx], dies = 0;
    for (int i = 0; i < pl->n_free; i++) dies |= pl->frees[i] == s;
    mk_rt *x = &ip->slots[s], *o = &ip->slots[pl->outs[0]];
    size_t n;
    if (!dies || !x->cap || x->persist || x == o || (!reshape && x->type.rank != t->rank) ||
        mk_interp_layout(x->type.dtype) != mk_interp_layout(t->dtype) || !mk_type_numel(t, &n) ||
        n != x->numel)
        return 0;
    for (int i = 0; i < t->rank && !reshape; i++)
        if (x->type.dims[i] != t->dims[i]) return 0;
    mk_rt_release(ip, o);
    o->type = *t;
    o->numel = x->numel;
    o->data = x->data;
    o->cap = x->cap;
    x->cap = 0; /* x keeps pointing at the data until its release after the kernel */
    return 1;
}

/* An op fused into its producer, which already computed its result into the buffer of operand
 * fused_in: that buffer becomes (or is copied into) the output. Inner ops of a fused pattern
 * (FUSED_SKIP) do nothing; only the pattern's own ops read their outputs. */
static mk_status run_fused(mk_interp *ip, const oplan *pl, mk_err *e)
{
    mk_status st = MK_OK;
    if (pl->fused_in >= 0) {
        mk_rt *src = &ip->slots[pl->ins[pl->fused_in]], *o = &ip->slots[pl->outs[0]];
        if (!src->data && src->numel)
            return mk_err_set(e, MK_EINTERNAL, "op %s (%s): fused input has no value",
                              mk_ip_op_label(pl->op), mk_ir_op_info(pl->op->kind)->name);
        mk_type t = src->type;
        t.dtype = ip->slot_val[pl->outs[0]]->type.dtype;
        if (!try_donate(ip, pl, &t) && !(st = mk_ip_alloc_slot(ip, pl->outs[0], &t, e)) &&
            src->numel && o->data != src->data)
            memcpy(o->data, src->data, src->numel * 4);
    }
    for (int i = 0; i < pl->n_free; i++) {
        mk_rt *r = &ip->slots[pl->frees[i]];
        if (!r->persist) mk_rt_release(ip, r);
    }
    if (ip->profile) ip->prof_n[pl->op->kind]++;
    return st;
}

static mk_status run_op(mk_interp *ip, const oplan *pl, mk_err *e)
{
    const mk_op *op = pl->op;
    /* a const whose value persists from an earlier run: nothing to do (observers see it each
     * run, so not for them) */
    if (op->kind == MK_OP_CONST && pl->n_outs == 1 && !ip->observe &&
        ip->slots[pl->outs[0]].persist && ip->slots[pl->outs[0]].data && !pl->n_free)
        return MK_OK;
    mk_rt *inbuf[16], *atbuf[16], *outbuf[8];
    mk_operand opbuf[16];
    void *tmpbuf[17] = {0};
    size_t tmpnbuf[17] = {0};
    mk_rt stash = {0};
    mk_rt **ins = inbuf, **attrs = atbuf, **outs = outbuf;
    mk_operand *opnds = opbuf;
    mk_status st = MK_OK;
    void **tmps = NULL;
    size_t *tmp_n = NULL;
    if (pl->n_ins > 16 || pl->n_attrs > 16 || pl->n_outs > 8) {
        ins = mk_calloc(ip->alloc, (size_t)pl->n_ins + 1, sizeof *ins);
        attrs = mk_calloc(ip->alloc, (size_t)pl->n_attrs + 1, sizeof *attrs);
        outs = mk_calloc(ip->alloc, (size_t)pl->n_outs + 1, sizeof *outs);
        opnds = mk_calloc(ip->alloc, (size_t)pl->n_ins + 1, sizeof *opnds);
        if (!ins || !attrs || !outs || !opnds) {
            st = MK_OOM(e);
            goto done;
        }
    }
    MK_ASSERT(ins != inbuf || (pl->n_ins <= 16 && pl->n_attrs <= 16 && pl->n_outs <= 8));
    tmps = tmpbuf;
    tmp_n = tmpnbuf;
    if (pl->n_ins > 16) {
        tmps = mk_calloc(ip->alloc, (size_t)pl->n_ins + 1, sizeof *tmps);
        tmp_n = mk_calloc(ip->alloc, (size_t)pl->n_ins + 1, sizeof *tmp_n);
    }
    if (!tmps || !tmp_n) {
        st = MK_OOM(e);
        goto done;
    }
    for (int i = 0; i < pl->n_ins; i++) {
        int s = pl->ins[i];
        MK_ASSERT(s >= 0 && s < ip->n_slots);
        if ((st = mk_ip_materialize(ip, s, e))) goto done;
        if (!ip->slots[s].data && ip->slots[s].numel) {
            st = mk_err_set(e, MK_EINVAL, "op %s (%s): input %s has no value", mk_ip_op_label(op),
                            mk_ir_op_info(op->kind)->name,
                            ip->slot_val[s]->name ? ip->slot_val[s]->name : "?");
            goto done;
        }
        ins[i] = &ip->slots[s];
    }
    for (int i = 0; i < pl->n_attrs; i++) {
        attrs[i] = NULL;
        if (pl->attrs[i] < 0) continue;
        if ((st = mk_ip_materialize(ip, pl->attrs[i], e))) goto done;
        attrs[i] = &ip->slots[pl->attrs[i]];
    }
    for (int i = 0; i < pl->n_outs; i++) outs[i] = &ip->slots[pl->outs[i]];
    mk_kctx k = {ip,         op,   pl->n_ins, ins, pl->n_attrs, attrs,
                 pl->n_outs, outs, ip->alloc, e,   pl->epi,     NULL};
    if (!skip_infer(op->kind)) {
        mk_type types[64];
        int n_types = 0;
        /* the memo holds while every runtime operand is float data (whose values no inference
         * reads) of the types seen last time; constants are the same values each run */
        int memo = pl->memo != NULL && pl->n_outs <= 64;
        for (int i = 0; memo && i < pl->n_ins; i++)
            memo =
                ip->slot_val[pl->ins[i]]->cst || mk_interp_layout(ins[i]->type.dtype) == MK_L_F32;
        int hit = memo && pl->memo->valid;
        for (int i = 0; hit && i < pl->n_ins; i++)
            hit = mk_type_equal(&pl->memo->types[i], &ins[i]->type);
        if (hit) {
            n_types = pl->n_outs;
            memcpy(types, pl->memo->types + pl->n_ins, (size_t)n_types * sizeof *types);
        }
        for (int i = 0; i < pl->n_ins && !hit; i++) {
            opnds[i].type = ins[i]->type;
            opnds[i].data = mk_ip_declared_view(ip, pl->ins[i], &tmps[i], &tmp_n[i]);
            opnds[i].nbytes = 0;
            if (opnds[i].data) {
                size_t nb = 0;
                mk_type_nbytes(&ins[i]->type, &nb);
                opnds[i].nbytes = nb;
            }
        }
        if (!hit) {
            st = mk_ir_infer(op, opnds, pl->n_ins, types, 64, &n_types, e);
            if (st) goto done; /* the message already names the op */
            if (n_types < pl->n_outs) {
                st = mk_kerr(&k, MK_EINTERNAL, "type inference gave %d outputs, expected %d",
                             n_types, pl->n_outs);
                goto done;
            }
            if (pl->memo) pl->memo->valid = 0;
            if (memo) {
                for (int i = 0; i < pl->n_ins; i++) pl->memo->types[i] = ins[i]->type;
                memcpy(pl->memo->types + pl->n_ins, types, (size_t)pl->n_outs * sizeof *types);
                pl->memo->valid = 1;
            }
        }
        int donated = try_donate(ip, pl, &types[0]);
        for (int i = donated; i < pl->n_outs; i++) {
            if (outs[i]->early) { /* a view base: keep the buffer its views wrote into */
                outs[i]->early = 0;
                if (outs[i]->data && mk_type_equal(&outs[i]->type, &types[i])) continue;
                if (!stash.cap) { /* not as planned: the views stay readable until the end */
                    stash = *outs[i];
                    outs[i]->data = NULL;
                    outs[i]->cap = 0;
                }
            }
            mk_rt_release(ip, outs[i]);
            outs[i]->type = types[i];
            outs[i]->numel = 0;
            if (mk_type_is_static(&types[i]) &&
                (st = mk_ip_alloc_slot(ip, pl->outs[i], &types[i], e))) {
                mk_err_prefix(e, "op %s (%s): ", mk_ip_op_label(op), mk_ir_op_info(op->kind)->name);
                goto done;
            }
        }
    }
    struct timespec t0, t1;
    /* one thread: CPU time of this thread (steady on a busy machine), else wall time */
    clockid_t clk = ip->threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    if (ip->profile) clock_gettime(clk, &t0);
    st = pl->fn(&k);
    ip->cur_path = k.path;
    if (st) goto done;
    if (ip->profile) {
        clock_gettime(clk, &t1);
        ip->prof_ms[op->kind] +=
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        ip->prof_n[op->kind]++;
        if (ip->profile > 1) {
            double ms =
                (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
            fprintf(stderr, "op %-14s %8.3f ms%s ->[", mk_ir_op_info(op->kind)->name, ms,
                    pl->epi ? " +fused" : "");
            for (int d = 0; d < outs[0]->type.rank; d++)
                fprintf(stderr, "%s%lld", d ? "," : "", (long long)outs[0]->type.dims[d]);
            fprintf(stderr, "]");
            for (int i = 0; i < pl->n_ins && i < 3; i++) {
                fprintf(stderr, " [");
                for (int d = 0; d < ins[i]->type.rank; d++)
                    fprintf(stderr, "%s%lld", d ? "," : "", (long long)ins[i]->type.dims[d]);
                fprintf(stderr, "]");
            }
            fprintf(stderr, "\n");
        }
    }
    for (int i = 0; i < pl->n_outs; i++) {
        if (!outs[i]->data && outs[i]->numel) {
            st = mk_kerr(&k, MK_EINTERNAL, "output %d was not produced", i);
            goto done;
        }
        if (i == 0 && pl->epi && pl->epi->round16 && atomic_load(pl->epi->overflow)) {
            atomic_store(pl->epi->overflow, 0);
            if (!ip->warning[0])
                snprintf(ip->warning, sizeof ip->warning,
                         "fp16 overflow: op %s (%s) or an op fused into it produced a value "
                         "beyond +-65504 (became inf)",
                         mk_ip_op_label(op), mk_ir_op_info(op->kind)->name);
        }
        /* an epilogue under fp16 emulation rounded every value already (its overflow noted) */
        if (i == 0 && pl->epi && pl->epi->round16) {
#ifdef MK_DEBUG
            if (mk_interp_layout(outs[i]->type.dtype) == MK_L_F32 && !all_halves(outs[i])) {
                st = mk_kerr(&k, MK_EINTERNAL, "fused epilogue left values unrounded to fp16");
                goto done;
            }
#endif
        } else {
            round_outputs(ip, op, outs[i]);
        }
        ip->cur_bytes += outs[i]->numel * mk_interp_elem_size(outs[i]->type.dtype);
        if (ip->observe && mk_interp_layout(outs[i]->type.dtype) == MK_L_F32 && outs[i]->data)
            ip->observe(ip->observe_ud, op, op->outputs[i], outs[i]->data, outs[i]->numel);
    }
    for (int i = 0; i < pl->n_free; i++) {
        mk_rt *r = &ip->slots[pl->frees[i]];
        if (!r->persist) mk_rt_release(ip, r);
    }
done:
    mk_rt_release(ip, &stash);
    if (tmps && tmp_n)
        for (int i = 0; i < pl->n_ins; i++) mk_free(ip->alloc, tmps[i], tmp_n[i]);
    if (tmps != tmpbuf) mk_free(ip->alloc, tmps, ((size_t)pl->n_ins + 1) * sizeof *tmps);
    if (tmp_n != tmpnbuf) mk_free(ip->alloc, tmp_n, ((size_t)pl->n_ins + 1) * sizeof *tmp_n);
    if (ins != inbuf) {
        mk_free(ip->alloc, ins, ((size_t)pl->n_ins + 1) * sizeof *ins);
        mk_free(ip->alloc, attrs, ((size_t)pl->n_attrs + 1) * sizeof *attrs);
        mk_free(ip->alloc, outs, ((size_t)pl->n_outs + 1) * sizeof *outs);
        mk_free(ip->alloc, opnds, ((size_t)pl->n_ins + 1) * sizeof *opnds);
    }
    return st;
}

double mk_ip_now_ms(const mk_interp *ip)
{
    struct timespec ts;
    clock_gettime(ip->n_threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One op timed into the next profile row (top level only: nested ops count in their cond or
 * while_loop). */
static mk_status run_profiled(mk_interp *ip, const oplan *pl, mk_err *e)
{
    ip->cur_path = NULL;
    ip->cur_bytes = 0;
    const mk_op *op = pl->op;
    /* a constant kept from an earlier run costs nothing: no clock read (its few ns go to the
     * next row), since a read costs more than the op (~1 us: 600 consts were 37% of a run) */
    int kept = op->kind == MK_OP_CONST && pl->n_outs == 1 && !ip->observe &&
               ip->slots[pl->outs[0]].persist && ip->slots[pl->outs[0]].data && !pl->n_free;
    mk_status st = pl->fused_in != -1 ? run_fused(ip, pl, e) : run_op(ip, pl, e);
    /* one clock read per op: each row runs from the previous op's end to this op's end */
    double t0 = ip->t_mark, t1 = kept ? t0 : mk_ip_now_ms(ip);
    ip->t_mark = t1;
    mk_op_profile *r = &ip->rows[ip->n_rows++];
    r->name = mk_ip_op_label(pl->op);
    r->kind = mk_ir_op_info(pl->op->kind)->name;
    r->path = ip->cur_path ? ip->cur_path : r->kind;
    r->fused = pl->fused_in != -1;
    if (r->fused) {
        const mk_rt *o = &ip->slots[pl->outs[0]];
        r->path = "fused into its producer";
        ip->cur_bytes = pl->fused_in >= 0 ? o->numel * 4 : 0;
    }
    r->ms = t1 - t0;
    r->out_bytes = ip->cur_bytes;
    return st;
}

mk_status mk_ip_run_plan(mk_interp *ip, const bplan *bp, mk_err *e)
{
    int prof = ip->rows && ip->depth == 0;
    if (prof) ip->t_mark = mk_ip_now_ms(ip);
    for (int i = 0; i < bp->n_ops; i++) {
        const oplan *pl = &bp->ops[i];
        mk_status st = prof                 ? run_profiled(ip, pl, e)
                       : pl->fused_in != -1 ? run_fused(ip, pl, e)
                                            : run_op(ip, pl, e);
        if (st) return st;
    }
    return MK_OK;
}

static mk_status rt_copy(mk_interp *ip, mk_rt *dst, const mk_rt *src, mk_err *e)
{
    if (mk_interp_layout(src->type.dtype) == MK_L_STR) {
        mk_rt_release(ip, dst);
        *dst = *src;
        dst->cap = 0;
        return MK_OK;
    }
    mk_status st = mk_ip_rt_alloc(ip, dst, &src->type, e);
    if (st) return st;
    if (src->numel) memcpy(dst->data, src->data, src->numel * mk_interp_elem_size(src->type.dtype));
    return MK_OK;
}

mk_status mk_interp_block(mk_kctx *k, const mk_block *b, mk_rt *const *ins, int n_ins, mk_rt *outs,
                          int n_outs)
{
    mk_interp *ip = k->ip;
    int pi = mk_pm_get(&ip->plan_of, b);
    if (pi < 0) return mk_kerr(k, MK_EINTERNAL, "nested block has no plan");
    if (n_ins != b->n_inputs)
        return mk_kerr(k, MK_EINVAL, "block takes %d inputs, given %d", b->n_inputs, n_ins);
    if (n_outs != b->n_outputs)
        return mk_kerr(k, MK_EINVAL, "block returns %d outputs, expected %d", b->n_outputs, n_outs);
    const bplan *bp = ip->plans[pi];
    mk_status st = MK_OK;
    for (int i = 0; i < n_ins && !st; i++)
        st = rt_copy(ip, &ip->slots[mk_pm_get(&ip->slot_of, b->inputs[i])], ins[i], k->e);
    ip->depth++;
    if (!st) st = mk_ip_run_plan(ip, bp, k->e);
    ip->depth--;
    for (int i = 0; i < n_outs && !st; i++) {
        int s = mk_pm_get(&ip->slot_of, b->outputs[i]);
        if ((st = mk_ip_materialize(ip, s, k->e))) break;
        if (!ip->slots[s].data && ip->slots[s].numel)
            st = mk_kerr(k, MK_EINVAL, "block output %d has no value", i);
        else
            st = rt_copy(ip, &outs[i], &ip->slots[s], k->e);
    }
    for (int d = 0; d < bp->n_defs; d++) {
        mk_rt *r = &ip->slots[bp->defs[d]];
        if (!r->persist) mk_rt_release(ip, r);
    }
    return st;
}
