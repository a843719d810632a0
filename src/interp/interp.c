/* The interpreter engine: plans a function once per session (a slot per value, kernel per op,
 * last-use lists, activation chains fused onto conv/linear/matmul, concat inputs written in
 * place), then runs blocks op by op, asking mk_ir_infer for output types from the runtime
 * operands. Constants are materialised lazily and kept; freed buffers are pooled across runs;
 * fp16 values are rounded after every op. Kernels are in k_<family>.c; per-op knowledge here is
 * const/cond/while_loop and the elementwise ops that fusion understands. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blas.h"
#include "interp_int.h"

/* ---- value / block -> index (a base pointer map holding index + 1, so absent reads -1) ---- */
static int pm_get(const mk_ptrmap *m, const void *k)
{
    return (int)((intptr_t)mk_ptrmap_get(m, k) - 1);
}

static int pm_put(mk_ptrmap *m, const void *k, int v)
{
    return mk_ptrmap_put(m, k, (void *)((intptr_t)v + 1));
}

#define POOL_MAX 128
#define POOL_MIN_BYTES 4096 /* smaller buffers go straight back to the allocator */

/* ---- plans ---- */
typedef struct oplan {
    const mk_op *op;
    mk_kernel fn;
    int n_ins, n_attrs, n_outs, n_free;
    int *ins, *attrs, *outs, *frees;
    mk_epi *epi;  /* activations fused onto this op's output (a host kernel), or NULL */
    int fused_in; /* >= 0: this op was fused into its producer; ins[fused_in] holds its result */
} oplan;

typedef struct bplan {
    const mk_block *b;
    int n_ops;
    oplan *ops;
    int n_defs; /* slots defined in this block (inputs and op outputs), released at its end */
    int *defs;
} bplan;

struct mk_interp {
    const mk_program *p;
    const mk_function *f;
    const mk_allocator *alloc;
    mk_arena *ar;
    int fp16, threads, fuse;
    int framework_pool; /* mk_run_semantics.framework_pool_overhang */
    mk_ptrmap slot_of; /* mk_value* -> slot */
    mk_ptrmap plan_of; /* mk_block* -> index in plans */
    int n_slots, cap_slots;
    mk_rt *slots;
    const mk_value **slot_val;
    const mk_block **slot_def;
    int n_plans, cap_plans;
    bplan **plans;
    size_t live, peak; /* bytes held by slots now / at most during this run */
    size_t hwm;        /* the largest peak of any run so far */
    struct view {
        int base;
        size_t off, numel;
    } * view; /* per slot; base -1: none */
    char warning[512];
    mk_interp_observer observe; /* sees each op's float outputs (calibration) */
    void *observe_ud;
    void *scratch;
    size_t scratch_n;
    mk_rt *state; /* per function input: the state buffer of a state input (kept across runs) */
    /* MILKIT_PROFILE set: per-kind op times to stderr after each run (thread CPU time with one
     * thread); MILKIT_PROFILE=1 also prints every op with its shapes. MILKIT_NO_FUSE=1 turns
     * fusion and concat views off (to compare). */
    int profile;
    double prof_ms[MK_OP__COUNT];
    int prof_n[MK_OP__COUNT];
    /* freed activation buffers kept for reuse within the run (fewer page faults) */
    int n_pool;
    void *pool[POOL_MAX];
    size_t pool_cap[POOL_MAX];
    size_t pool_bytes;
};

mk_layout mk_interp_layout(mk_dtype dt)
{
    if (dt == MK_DT_BOOL) return MK_L_BOOL;
    if (dt == MK_DT_STRING) return MK_L_STR;
    if (mk_dtype_is_float(dt)) return MK_L_F32;
    return MK_L_I32;
}

size_t mk_interp_elem_size(mk_dtype dt)
{
    switch (mk_interp_layout(dt)) {
    case MK_L_BOOL: return 1;
    case MK_L_STR: return sizeof(char *);
    default: return 4;
    }
}

void *mk_interp_scratch(mk_kctx *k, size_t bytes)
{
    mk_interp *ip = k->ip;
    if (bytes > ip->scratch_n) {
        mk_free(ip->alloc, ip->scratch, ip->scratch_n);
        ip->scratch_n = 0;
        ip->scratch = mk_malloc(ip->alloc, bytes);
        if (!ip->scratch) return NULL;
        ip->scratch_n = bytes;
    }
    return ip->scratch;
}

int mk_interp_threads(const mk_interp *ip)
{
    return ip->threads;
}

static const char *op_label(const mk_op *op)
{
    return op->name ? op->name : (op->n_outputs ? op->outputs[0]->name : "?");
}

mk_status mk_kerr(mk_kctx *k, mk_status code, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mk_err_set(k->e, code, "op %s (%s): %s", op_label(k->op),
                      mk_ir_op_info(k->op->kind)->name, msg);
}

static int add_slot(mk_interp *ip, const mk_value *v, const mk_block *def)
{
    int s = pm_get(&ip->slot_of, v);
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
    if (!pm_put(&ip->slot_of, v, s)) return -1;
    return s;
}

/* Register every value of block b (and nested blocks) as a slot. */
static int register_block(mk_interp *ip, const mk_block *b)
{
    for (int i = 0; i < b->n_inputs; i++)
        if (add_slot(ip, b->inputs[i], b) < 0) return 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                if (add_slot(ip, op->inputs[i].args[j], NULL) < 0) return 0;
        for (int i = 0; i < op->n_attrs; i++)
            if (op->attrs[i].value && add_slot(ip, op->attrs[i].value, NULL) < 0) return 0;
        for (int i = 0; i < op->n_blocks; i++)
            if (!register_block(ip, op->blocks[i])) return 0;
        for (int i = 0; i < op->n_outputs; i++)
            if (add_slot(ip, op->outputs[i], b) < 0) return 0;
    }
    for (int i = 0; i < b->n_outputs; i++)
        if (add_slot(ip, b->outputs[i], NULL) < 0) return 0;
    return 1;
}

/* Mark in last[] every slot op index `at` of block b touches, also inside nested blocks. */
static void mark_uses(mk_interp *ip, const mk_block *owner, const mk_op *op, int at, int *last)
{
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            int s = pm_get(&ip->slot_of, op->inputs[i].args[j]);
            if (s >= 0 && ip->slot_def[s] == owner) last[s] = at;
        }
    for (int i = 0; i < op->n_blocks; i++) {
        const mk_block *nb = op->blocks[i];
        MK_FOR_OPS(nb, o2) mark_uses(ip, owner, o2, at, last);
        for (int j = 0; j < nb->n_outputs; j++) {
            int s = pm_get(&ip->slot_of, nb->outputs[j]);
            if (s >= 0 && ip->slot_def[s] == owner) last[s] = at;
        }
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
            int s = pm_get(&ip->slot_of, op->outputs[j]);
            if (last[s] == -2) last[s] = i; /* never read: freed right after its producer */
        }
        n_defs += op->n_outputs;
        i++;
    }
    for (int j = 0; j < b->n_outputs; j++) {
        int s = pm_get(&ip->slot_of, b->outputs[j]);
        if (s >= 0) last[s] = -1; /* kept until the block ends */
    }
    n_defs += b->n_inputs;
    bp->defs = mk_arena_array(ip->ar, (size_t)(n_defs ? n_defs : 1), sizeof(int));
    if (!bp->defs) return NULL;
    for (int j = 0; j < b->n_inputs; j++)
        bp->defs[bp->n_defs++] = pm_get(&ip->slot_of, b->inputs[j]);
    i = 0;
    MK_FOR_OPS(b, op)
    {
        oplan *pl = &bp->ops[i];
        pl->op = op;
        pl->fused_in = -1;
        pl->fn = mk_interp_kernel(op->kind);
        if (!pl->fn)
            return mk_err_set(e, MK_EUNSUPPORTED, "op %s (%s): not supported by the interpreter",
                              op_label(op), mk_ir_op_info(op->kind)->name),
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
                pl->ins[ni++] = pm_get(&ip->slot_of, op->inputs[a].args[j]);
        for (int a = 0; a < op->n_attrs; a++)
            pl->attrs[a] = op->attrs[a].value ? pm_get(&ip->slot_of, op->attrs[a].value) : -1;
        for (int a = 0; a < op->n_outputs; a++) {
            pl->outs[a] = pm_get(&ip->slot_of, op->outputs[a]);
            bp->defs[bp->n_defs++] = pl->outs[a];
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

static int plan_all(mk_interp *ip, const mk_block *b, int *last, mk_err *e)
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
    if (!pm_put(&ip->plan_of, b, ip->n_plans)) return 0;
    ip->plans[ip->n_plans++] = bp;
    MK_FOR_OPS(b, op)
    for (int i = 0; i < op->n_blocks; i++)
        if (!plan_all(ip, op->blocks[i], last, e)) return 0;
    return 1;
}

/* ---- fused activations ---- */
static double raw_f64(mk_dtype dt, const void *d, size_t i);

MK_SIMD static void epi_step_apply(const mk_epi_step *st, float *p, size_t n)
{
    float a = st->a, b = st->b, c = st->c, d = st->d;
    switch (st->kind) {
    case MK_EPI_RELU: MK_VLOOP(n, p[i] = mk_relu(p[i])); break;
    case MK_EPI_RELU6: MK_VLOOP(n, p[i] = mk_fmin(mk_relu(p[i]), 6.0f)); break;
    case MK_EPI_CLIP: MK_VLOOP(n, p[i] = mk_fmin(b, mk_fmax(a, p[i]))); break;
    case MK_EPI_THRESHOLD: MK_VLOOP(n, p[i] = mk_fmax(a, p[i])); break;
    case MK_EPI_LEAKY: MK_VLOOP(n, p[i] = mk_sign_select(p[i], a * p[i])); break;
    case MK_EPI_MAX:
        if (st->swap)
            MK_VLOOP(n, p[i] = a != a || p[i] != p[i] ? a + p[i] : mk_fmax(a, p[i]));
        else
            MK_VLOOP(n, p[i] = p[i] != p[i] || a != a ? p[i] + a : mk_fmax(p[i], a));
        break;
    case MK_EPI_MIN:
        if (st->swap)
            MK_VLOOP(n, p[i] = a != a || p[i] != p[i] ? a + p[i] : mk_fmin(a, p[i]));
        else
            MK_VLOOP(n, p[i] = p[i] != p[i] || a != a ? p[i] + a : mk_fmin(p[i], a));
        break;
    case MK_EPI_ADD: MK_VLOOP(n, p[i] = p[i] + a); break;
    case MK_EPI_MUL: MK_VLOOP(n, p[i] = p[i] * a); break;
    case MK_EPI_SUB:
        if (st->swap)
            MK_VLOOP(n, p[i] = a - p[i]);
        else
            MK_VLOOP(n, p[i] = p[i] - a);
        break;
    case MK_EPI_DIV:
        if (st->swap)
            MK_VLOOP(n, p[i] = a / p[i]);
        else
            MK_VLOOP(n, p[i] = p[i] / a);
        break;
    case MK_EPI_HSWISH:
        if (st->post == 1)
            MK_VLOOP(n, p[i] = p[i] * mk_fmin(c, mk_fmax(b, p[i] + a)) / d);
        else if (st->post == 2)
            MK_VLOOP(n, p[i] = p[i] * mk_fmin(c, mk_fmax(b, p[i] + a)) * d);
        else
            MK_VLOOP(n, p[i] = p[i] * mk_fmin(c, mk_fmax(b, p[i] + a)));
        break;
    }
}

MK_SIMD static void add_scalar(float *p, float v, size_t n)
{
    MK_VLOOP(n, p[i] += v);
}

void mk_epi_apply(const mk_epi *ep, const float *bias, float *p, size_t n)
{
    if (bias) add_scalar(p, *bias, n);
    /* in cache-sized pieces, so that several steps cost one trip through memory */
    for (size_t o = 0; ep && ep->n && o < n; o += 4096) {
        size_t m = n - o < 4096 ? n - o : 4096;
        for (int s = 0; s < ep->n; s++) epi_step_apply(&ep->step[s], p + o, m);
    }
}

/* Kernels that apply k->epi to their output. */
static int epi_host(mk_op_kind k)
{
    return k == MK_OP_CONV || k == MK_OP_CONV_TRANSPOSE || k == MK_OP_LINEAR || k == MK_OP_MATMUL;
}

/* A scalar float constant bound to op parameter `name`: 1 and *out set, 0 when the parameter
 * is bound to anything else; absent parameters give def. */
static int const_param(const mk_op *op, const char *name, double def, double *out)
{
    const mk_input *in = mk_ir_input(op, name);
    if (!in || in->n_args == 0) {
        *out = def;
        return 1;
    }
    const mk_value *v = in->args[0];
    size_t n, need;
    if (in->n_args != 1 || !v->cst || !mk_dtype_is_float(v->type.dtype) ||
        !mk_type_is_static(&v->type) || !mk_type_numel(&v->type, &n) || n != 1 ||
        !mk_type_nbytes(&v->type, &need) || v->cst->nbytes < need)
        return 0;
    *out = raw_f64(v->type.dtype, v->cst->data, 0);
    return 1;
}

/* As const_param, for a scalar constant of any numeric dtype (axis, flags). */
static int const_param_any(const mk_op *op, const char *name, double def, double *out)
{
    const mk_input *in = mk_ir_input(op, name);
    if (!in || in->n_args == 0) {
        *out = def;
        return 1;
    }
    const mk_value *v = in->args[0];
    size_t n, need;
    if (in->n_args != 1 || !v->cst || v->type.dtype == MK_DT_STRING ||
        !mk_type_is_static(&v->type) || !mk_type_numel(&v->type, &n) || n != 1 ||
        !mk_type_nbytes(&v->type, &need) || v->cst->nbytes < need)
        return 0;
    *out = raw_f64(v->type.dtype, v->cst->data, 0);
    return 1;
}

/* Plan-time graph facts for fusion: how often each slot is read (block outputs and attributes
 * count double, so they never look like a single reader) and by which ops. */
typedef struct fuse_graph {
    int *uses;
    int *rd_start; /* readers of slot s: rd[rd_start[s] .. rd_start[s] + uses_in[s]) */
    int *uses_in;
    struct rd {
        int plan, op;
    } * rd;
} fuse_graph;

#define FUSED_SKIP (-2) /* fused_in: an inner op of a fused pattern; does nothing at all */

/* The only reader of slot s in plan q after op o, or NULL. */
static oplan *only_reader(const mk_interp *ip, const fuse_graph *g, int s, int q, int o)
{
    if (g->uses[s] != 1 || g->uses_in[s] != 1) return NULL;
    const struct rd *r = &g->rd[g->rd_start[s]];
    return r->plan == q && r->op > o ? &ip->plans[q]->ops[r->op] : NULL;
}

/* Operand index at which pl reads slot s once, -1 if not exactly once. */
static int operand_of(const oplan *pl, int s)
{
    int at = -1;
    for (int i = 0; i < pl->n_ins; i++)
        if (pl->ins[i] == s) {
            if (at >= 0) return -1;
            at = i;
        }
    return at;
}

/* An fp32 elementwise op whose output has the type of its operand carrying slot s. */
static int same_f32(const mk_interp *ip, const oplan *pl, int s)
{
    const mk_value *in = ip->slot_val[s], *out;
    if (pl->op->n_outputs != 1 || pl->op->n_blocks || pl->n_attrs) return 0;
    out = pl->op->outputs[0];
    return in->type.dtype == MK_DT_FP32 && out->type.dtype == MK_DT_FP32 &&
           mk_type_equal(&in->type, &out->type);
}

/* For a binary op reading s at operand `at`: the other operand as a scalar constant whose
 * rank does not exceed s's (so the output keeps s's shape). */
static int other_scalar(const mk_interp *ip, const oplan *pl, int at, double *c, int *swap)
{
    int xi = mk_ir_operand_index(pl->op, "x"), yi = mk_ir_operand_index(pl->op, "y");
    if (xi < 0 || yi < 0 || (at != xi && at != yi) || pl->n_ins != 2) return 0;
    *swap = at == yi;
    if (!const_param(pl->op, at == xi ? "y" : "x", NAN, c) || *c != *c) return 0;
    const mk_value *other = ip->slot_val[pl->ins[at == xi ? yi : xi]];
    return other->type.rank <= ip->slot_val[pl->ins[at]]->type.rank;
}

/* The step op pl performs on slot s, when it can be fused: an fp32 elementwise op whose other
 * parameters are scalar constants and whose output has s's type. Returns the operand index of
 * s, or -1. */
static int epi_step(const mk_interp *ip, const oplan *pl, int s, mk_epi_step *st)
{
    const mk_op *op = pl->op;
    int at = operand_of(pl, s), xi = mk_ir_operand_index(op, "x");
    if (at < 0 || !same_f32(ip, pl, s)) return -1;
    double a = 0, b = 0;
    memset(st, 0, sizeof *st);
    switch (op->kind) {
    case MK_OP_RELU: st->kind = MK_EPI_RELU; break;
    case MK_OP_RELU6: st->kind = MK_EPI_RELU6; break;
    case MK_OP_LEAKY_RELU:
        st->kind = MK_EPI_LEAKY;
        if (!const_param(op, "alpha", 0.01, &a)) return -1;
        break;
    case MK_OP_CLIP:
    case MK_OP_THRESHOLD:
        st->kind = op->kind == MK_OP_CLIP ? MK_EPI_CLIP : MK_EPI_THRESHOLD;
        if (!const_param(op, "alpha", op->kind == MK_OP_CLIP ? -INFINITY : 0, &a) ||
            !const_param(op, "beta", INFINITY, &b))
            return -1;
        break;
    case MK_OP_MAXIMUM:
    case MK_OP_MINIMUM:
    case MK_OP_ADD:
    case MK_OP_SUB:
    case MK_OP_MUL:
    case MK_OP_REAL_DIV:
        st->kind = op->kind == MK_OP_MAXIMUM   ? MK_EPI_MAX
                   : op->kind == MK_OP_MINIMUM ? MK_EPI_MIN
                   : op->kind == MK_OP_ADD     ? MK_EPI_ADD
                   : op->kind == MK_OP_SUB     ? MK_EPI_SUB
                   : op->kind == MK_OP_MUL     ? MK_EPI_MUL
                                               : MK_EPI_DIV;
        if (!other_scalar(ip, pl, at, &a, &st->swap)) return -1;
        return st->a = (float)a, at;
    default: return -1;
    }
    if (at != xi) return -1;
    st->a = (float)a;
    st->b = (float)b;
    return at;
}

/* v * clip(v + k, lo, hi) [/ d | * d]: add(v, k) -> clip -> mul(v, clip) [-> real_div or mul
 * by a constant], v read by exactly the add and the mul (hardswish as exporters spell it).
 * On a match fills st, marks the inner ops and returns the slot of the pattern's result. */
static int hswish(mk_interp *ip, const fuse_graph *g, int s, int q, int o, mk_epi_step *st,
                  oplan **ops, int *at, int *n_ops)
{
    if (g->uses[s] != 2 || g->uses_in[s] != 2) return -1;
    const struct rd *r = &g->rd[g->rd_start[s]];
    if (r[0].plan != q || r[1].plan != q || r[0].op <= o || r[1].op <= o) return -1;
    oplan *A = &ip->plans[q]->ops[r[0].op < r[1].op ? r[0].op : r[1].op];
    oplan *M = &ip->plans[q]->ops[r[0].op < r[1].op ? r[1].op : r[0].op];
    double k, lo, hi, d = 1;
    int sw, ai = operand_of(A, s), mi = operand_of(M, s);
    if (A->op->kind != MK_OP_ADD || M->op->kind != MK_OP_MUL || ai < 0 || mi < 0 ||
        !same_f32(ip, A, s) || !same_f32(ip, M, s) || !other_scalar(ip, A, ai, &k, &sw))
        return -1;
    oplan *B = only_reader(ip, g, A->outs[0], q, o);
    if (!B || B->op->kind != MK_OP_CLIP ||
        operand_of(B, A->outs[0]) != mk_ir_operand_index(B->op, "x") ||
        !same_f32(ip, B, A->outs[0]) || !const_param(B->op, "alpha", -INFINITY, &lo) ||
        !const_param(B->op, "beta", INFINITY, &hi) || only_reader(ip, g, B->outs[0], q, o) != M ||
        operand_of(M, B->outs[0]) < 0)
        return -1;
    memset(st, 0, sizeof *st);
    st->kind = MK_EPI_HSWISH;
    ops[0] = A, at[0] = FUSED_SKIP;
    ops[1] = B, at[1] = FUSED_SKIP;
    ops[2] = M, at[2] = mi;
    *n_ops = 3;
    int res = M->outs[0];
    oplan *D = only_reader(ip, g, res, q, o);
    int di = D ? operand_of(D, res) : -1;
    if (D && di >= 0 && same_f32(ip, D, res) &&
        ((D->op->kind == MK_OP_REAL_DIV && di == mk_ir_operand_index(D->op, "x")) ||
         D->op->kind == MK_OP_MUL) &&
        other_scalar(ip, D, di, &d, &sw)) {
        st->post = D->op->kind == MK_OP_REAL_DIV ? 1 : 2;
        ops[3] = D, at[3] = di;
        *n_ops = 4;
        res = D->outs[0];
    }
    st->a = (float)k;
    st->b = (float)lo;
    st->c = (float)hi;
    st->d = (float)d;
    return res;
}

/* Move chains of elementwise ops onto the conv/linear/matmul producing their input. A value
 * qualifies when only ops of the chain read it, in the same block (so nothing else sees the
 * value before the chain's end). Off under fp16 emulation, where each op's output is
 * rounded. */
static int plan_fusion(mk_interp *ip)
{
    size_t ns = (size_t)ip->n_slots + 1, total = 0;
    fuse_graph g;
    g.uses = mk_arena_array(ip->ar, ns, sizeof *g.uses);
    g.uses_in = mk_arena_array(ip->ar, ns, sizeof *g.uses_in);
    g.rd_start = mk_arena_array(ip->ar, ns, sizeof *g.rd_start);
    if (!g.uses || !g.uses_in || !g.rd_start) return 0;
    for (int q = 0; q < ip->n_plans; q++) {
        const bplan *bp = ip->plans[q];
        for (int o = 0; o < bp->n_ops; o++) {
            const oplan *pl = &bp->ops[o];
            for (int i = 0; i < pl->n_ins; i++) g.uses_in[pl->ins[i]]++, total++;
            for (int i = 0; i < pl->n_attrs; i++)
                if (pl->attrs[i] >= 0) g.uses[pl->attrs[i]] += 2;
        }
        for (int j = 0; j < bp->b->n_outputs; j++) {
            int s = pm_get(&ip->slot_of, bp->b->outputs[j]);
            if (s >= 0) g.uses[s] += 2;
        }
    }
    for (int j = 0; j < ip->f->n_inputs; j++) g.uses[pm_get(&ip->slot_of, ip->f->inputs[j])] += 2;
    g.rd = mk_arena_array(ip->ar, total + 1, sizeof *g.rd);
    if (!g.rd) return 0;
    for (int s = 0, acc = 0; s < ip->n_slots; s++) {
        g.uses[s] += g.uses_in[s];
        g.rd_start[s] = acc;
        acc += g.uses_in[s];
        g.uses_in[s] = 0;
    }
    for (int q = 0; q < ip->n_plans; q++)
        for (int o = 0; o < ip->plans[q]->n_ops; o++) {
            const oplan *pl = &ip->plans[q]->ops[o];
            for (int i = 0; i < pl->n_ins; i++) {
                int s = pl->ins[i];
                g.rd[g.rd_start[s] + g.uses_in[s]++] = (struct rd){q, o};
            }
        }
    for (int q = 0; q < ip->n_plans; q++) {
        bplan *bp = ip->plans[q];
        for (int o = 0; o < bp->n_ops; o++) {
            oplan *host = &bp->ops[o];
            if (!epi_host(host->op->kind) || host->n_outs != 1 || host->fused_in != -1) continue;
            if (ip->slot_val[host->outs[0]]->type.dtype != MK_DT_FP32) continue;
            mk_epi ep = {0};
            oplan *chain[4 * MK_EPI_MAX_STEPS];
            int at[4 * MK_EPI_MAX_STEPS], n_chain = 0, s = host->outs[0];
            while (ep.n < MK_EPI_MAX_STEPS) {
                oplan *rd = only_reader(ip, &g, s, q, o);
                int a = rd ? epi_step(ip, rd, s, &ep.step[ep.n]) : -1, n_ops = 0;
                if (a >= 0) {
                    chain[n_chain] = rd;
                    at[n_chain++] = a;
                    s = rd->outs[0];
                    ep.n++;
                    continue;
                }
                int r =
                    hswish(ip, &g, s, q, o, &ep.step[ep.n], chain + n_chain, at + n_chain, &n_ops);
                if (r < 0) break;
                n_chain += n_ops;
                s = r;
                ep.n++;
            }
            if (!ep.n) continue;
            host->epi = mk_arena_alloc(ip->ar, sizeof *host->epi);
            if (!host->epi) return 0;
            *host->epi = ep;
            for (int i = 0; i < n_chain; i++) chain[i]->fused_in = at[i];
        }
    }
    return 1;
}

/* Let the ops producing a concat's values write straight into the concat's output (a view
 * at the value's offset), so that the concat itself copies nothing. Applies when the concat
 * joins along an axis with only 1s before it (each value is one contiguous run), its output
 * type is static, and each value is an op output of the same block read by nothing else.
 * Values computed by fused chains share the view down to the chain's host. */
static int plan_views(mk_interp *ip)
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
            int s = pm_get(&ip->slot_of, bp->b->outputs[j]);
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
            if (vi < 0 || !vin || !mk_type_is_static(ot) || !const_param_any(op, "axis", 0, &ax) ||
                !const_param_any(op, "interleave", 0, &il) || il != 0)
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

/* ---- tensors ---- */
void mk_rt_release(mk_interp *ip, mk_rt *r)
{
    if (r->cap) {
        ip->live -= r->cap;
        /* keep while the pool stays below twice the largest live peak; the pool outlives
         * runs, so a session's later runs take no page faults */
        if (r->cap >= POOL_MIN_BYTES && ip->n_pool < POOL_MAX &&
            ip->pool_bytes + r->cap <= 2 * ip->hwm + (1u << 20)) {
            ip->pool[ip->n_pool] = r->data;
            ip->pool_cap[ip->n_pool++] = r->cap;
            ip->pool_bytes += r->cap;
        } else {
            mk_free(ip->alloc, r->data, r->cap);
        }
    }
    r->data = NULL;
    r->cap = 0;
    r->persist = 0;
    r->early = 0;
}

/* Sizes from POOL_MIN_BYTES up are rounded to 4 steps per power of two (at most 25% more),
 * so that a buffer released by one op fits the next op of about the same size. */
static size_t size_class(size_t n)
{
    if (n < POOL_MIN_BYTES) return n;
    int b = 63 - __builtin_clzll((unsigned long long)n); /* 2^b <= n < 2^(b+1) */
    size_t step = (size_t)1 << (b - 2);
    size_t r = (n + step - 1) & ~(step - 1);
    return r >= n ? r : n;
}

static mk_status rt_alloc_ip(mk_interp *ip, mk_rt *r, const mk_type *t, mk_err *e)
{
    size_t n, bytes;
    if (!mk_type_is_static(t) || !mk_type_numel(t, &n) ||
        !mk_mul_size(n, mk_interp_elem_size(t->dtype), &bytes))
        return mk_err_set(e, MK_EINVAL, "tensor of %s: bad or dynamic shape",
                          mk_dtype_name(t->dtype) ? mk_dtype_name(t->dtype) : "?");
    mk_rt_release(ip, r);
    size_t want = size_class(bytes ? bytes : 1);
    int best = -1;
    for (int i = 0; i < ip->n_pool; i++) /* best fit, at most 25% slack */
        if (ip->pool_cap[i] >= want && ip->pool_cap[i] - want <= want / 2 &&
            (best < 0 || ip->pool_cap[i] < ip->pool_cap[best]))
            best = i;
    if (best >= 0) {
        r->data = ip->pool[best];
        r->cap = ip->pool_cap[best];
        ip->pool_bytes -= r->cap;
        ip->pool[best] = ip->pool[--ip->n_pool];
        ip->pool_cap[best] = ip->pool_cap[ip->n_pool]; /* not cleared: kernels write it all */
    } else {
        r->data = mk_malloc(ip->alloc, want); /* not cleared: every kernel writes its outputs */
        if (!r->data) return MK_OOM(e);
        r->cap = want;
    }
    r->type = *t;
    r->numel = n;
    ip->live += r->cap;
    if (ip->live > ip->peak) ip->peak = ip->live;
    if (ip->peak > ip->hwm) ip->hwm = ip->peak;
    return MK_OK;
}

/* Allocate op output slot s: a view into its concat's output when the plan says so and the
 * size is as planned (the concat's buffer is allocated now if not yet), else a buffer. */
static mk_status alloc_slot(mk_interp *ip, int s, const mk_type *t, mk_err *e)
{
    mk_rt *r = &ip->slots[s];
    const struct view *v = ip->view ? &ip->view[s] : NULL;
    size_t n;
    if (v && v->base >= 0 && mk_type_is_static(t) && mk_type_numel(t, &n) && n == v->numel) {
        mk_rt *b = &ip->slots[v->base];
        const mk_type *bt = &ip->slot_val[v->base]->type;
        if (!b->data) {
            mk_status st = rt_alloc_ip(ip, b, bt, e);
            if (st) return st;
            b->early = 1;
        }
        if (b->early && mk_interp_layout(bt->dtype) == mk_interp_layout(t->dtype)) {
            mk_rt_release(ip, r);
            r->type = *t;
            r->numel = n;
            r->data = (char *)b->data + v->off;
            return MK_OK;
        }
    }
    return rt_alloc_ip(ip, r, t, e);
}

mk_status mk_rt_alloc(mk_kctx *k, mk_rt *r, const mk_type *t)
{
    mk_status st = rt_alloc_ip(k->ip, r, t, k->e);
    if (st && st != MK_ENOMEM) mk_err_prefix(k->e, "op %s: ", op_label(k->op));
    return st;
}

double mk_rt_f64(const mk_rt *t, size_t i)
{
    switch (mk_interp_layout(t->type.dtype)) {
    case MK_L_F32: return ((const float *)t->data)[i];
    case MK_L_I32: return ((const int32_t *)t->data)[i];
    case MK_L_BOOL: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

int64_t mk_rt_i64(const mk_rt *t, size_t i)
{
    switch (mk_interp_layout(t->type.dtype)) {
    case MK_L_F32: return (int64_t)((const float *)t->data)[i];
    case MK_L_I32: return ((const int32_t *)t->data)[i];
    case MK_L_BOOL: return ((const uint8_t *)t->data)[i];
    default: return 0;
    }
}

/* Element i of raw data in a declared dtype (packed sub-byte types included). */
static double raw_f64(mk_dtype dt, const void *d, size_t i)
{
    const unsigned char *b = d;
    switch (dt) {
    case MK_DT_FP16: return mk_f16_to_f32(((const uint16_t *)d)[i]);
    case MK_DT_FP32: return ((const float *)d)[i];
    case MK_DT_FP64: return ((const double *)d)[i];
    case MK_DT_BF16: {
        uint32_t x = (uint32_t)((const uint16_t *)d)[i] << 16;
        float f;
        memcpy(&f, &x, 4);
        return f;
    }
    case MK_DT_BOOL:
    case MK_DT_UINT8: return b[i];
    case MK_DT_INT8: return ((const int8_t *)d)[i];
    case MK_DT_INT16: return ((const int16_t *)d)[i];
    case MK_DT_UINT16: return ((const uint16_t *)d)[i];
    case MK_DT_INT32: return ((const int32_t *)d)[i];
    case MK_DT_UINT32: return ((const uint32_t *)d)[i];
    case MK_DT_INT64: return (double)((const int64_t *)d)[i];
    case MK_DT_UINT64: return (double)((const uint64_t *)d)[i];
    default: break;
    }
    int bits = mk_dtype_bits(dt);
    if (bits <= 0 || bits >= 8) return 0;
    size_t bit = i * (size_t)bits;
    unsigned v = 0;
    for (int k = 0; k < bits; k++, bit++) v |= (unsigned)((b[bit / 8] >> (bit % 8)) & 1u) << k;
    if (dt == MK_DT_INT4 && (v & 8u)) return (double)v - 16;
    return v;
}

/* Convert numel raw elements of dtype dt into a fresh canonical tensor. */
static mk_status rt_from_raw(mk_interp *ip, mk_rt *r, const mk_type *t, const void *raw,
                             size_t raw_bytes, int round16, mk_err *e)
{
    mk_status st = rt_alloc_ip(ip, r, t, e);
    if (st) return st;
    size_t need;
    if (!mk_type_nbytes(t, &need) || raw_bytes < need)
        return mk_err_set(e, MK_EINVAL, "constant payload smaller than its type");
    switch (mk_interp_layout(t->dtype)) {
    case MK_L_F32: {
        float *o = r->data;
        if (t->dtype == MK_DT_FP32) {
            memcpy(o, raw, r->numel * 4);
        } else {
            for (size_t i = 0; i < r->numel; i++) o[i] = (float)raw_f64(t->dtype, raw, i);
        }
        if (round16) mk_round_f16_n(o, r->numel);
        break;
    }
    case MK_L_I32: {
        int32_t *o = r->data;
        for (size_t i = 0; i < r->numel; i++) {
            double v = raw_f64(t->dtype, raw, i);
            o[i] = v > 2147483647.0 ? INT32_MAX : v < -2147483648.0 ? INT32_MIN : (int32_t)v;
        }
        break;
    }
    case MK_L_BOOL: {
        uint8_t *o = r->data;
        for (size_t i = 0; i < r->numel; i++) o[i] = ((const uint8_t *)raw)[i] != 0;
        break;
    }
    default: return mk_err_set(e, MK_EINTERNAL, "string tensor conversion");
    }
    return MK_OK;
}

/* Make slot s hold its constant's data (once per run). */
static mk_status materialize(mk_interp *ip, int s, mk_err *e)
{
    mk_rt *r = &ip->slots[s];
    const mk_value *v = ip->slot_val[s];
    if (r->data || !v->cst) return MK_OK;
    const mk_type *t = &v->type;
    size_t n;
    if (!mk_type_is_static(t) || !mk_type_numel(t, &n))
        return mk_err_set(e, MK_EINVAL, "constant %s: dynamic or bad shape",
                          v->name ? v->name : "(inline)");
    r->type = *t;
    r->numel = n;
    r->persist = 1;
    mk_layout l = mk_interp_layout(t->dtype);
    int round16 = l == MK_L_F32 && (t->dtype == MK_DT_FP16 || ip->fp16) && t->dtype != MK_DT_FP16;
    int borrow =
        l == MK_L_STR ||
        (!round16 && (t->dtype == MK_DT_FP32 || t->dtype == MK_DT_INT32 || t->dtype == MK_DT_BOOL));
    if (borrow) {
        size_t need = n * mk_interp_elem_size(t->dtype);
        if (v->cst->nbytes < need && n)
            return mk_err_set(e, MK_EINVAL, "constant %s: payload smaller than its type",
                              v->name ? v->name : "(inline)");
        r->data = (void *)v->cst->data;
        if (t->dtype == MK_DT_BOOL) { /* normalise to 0/1 only if needed */
            const uint8_t *b = r->data;
            for (size_t i = 0; i < n; i++)
                if (b[i] > 1) {
                    borrow = 0;
                    break;
                }
        }
        if (borrow) return MK_OK;
        r->data = NULL;
    }
    mk_status st = rt_from_raw(ip, r, t, v->cst->data, v->cst->nbytes, round16, e);
    if (st) mk_err_prefix(e, "constant %s: ", v->name ? v->name : "(inline)");
    r->persist = 1;
    return st;
}

/* Operand data in its declared dtype, for mk_ir_infer; NULL when large and not canonical. */
static const void *declared_view(const mk_interp *ip, int s, void **tmp, size_t *tmp_n)
{
    const mk_rt *r = &ip->slots[s];
    const mk_value *v = ip->slot_val[s];
    if (v->cst) return v->cst->data;
    mk_dtype dt = r->type.dtype;
    if (dt == MK_DT_FP32 || dt == MK_DT_INT32 || dt == MK_DT_BOOL) return r->data;
    int bits = mk_dtype_bits(dt);
    if (r->numel > 4096 || bits < 8 || !r->data) return NULL;
    size_t n = r->numel * (size_t)bits / 8;
    unsigned char *b = mk_malloc(ip->alloc, n ? n : 1);
    if (!b) return NULL;
    for (size_t i = 0; i < r->numel; i++) {
        double x = mk_rt_f64(r, i);
        switch (dt) {
        case MK_DT_FP16: ((uint16_t *)b)[i] = mk_f32_to_f16((float)x); break;
        case MK_DT_FP64: ((double *)b)[i] = x; break;
        case MK_DT_INT8: ((int8_t *)b)[i] = (int8_t)x; break;
        case MK_DT_UINT8: b[i] = (uint8_t)x; break;
        case MK_DT_INT16: ((int16_t *)b)[i] = (int16_t)x; break;
        case MK_DT_UINT16: ((uint16_t *)b)[i] = (uint16_t)x; break;
        case MK_DT_UINT32: ((uint32_t *)b)[i] = (uint32_t)x; break;
        case MK_DT_INT64: ((int64_t *)b)[i] = (int64_t)x; break;
        case MK_DT_UINT64: ((uint64_t *)b)[i] = (uint64_t)x; break;
        default: memset(b + i * (size_t)bits / 8, 0, (size_t)bits / 8); break;
        }
    }
    *tmp = b;
    *tmp_n = n ? n : 1;
    return b;
}

/* Round float outputs to half where the dtype or fp16 emulation asks; note overflows. */
static void round_outputs(mk_interp *ip, const mk_op *op, mk_rt *r)
{
    if (mk_interp_layout(r->type.dtype) != MK_L_F32 || !r->data) return;
    if (!(r->type.dtype == MK_DT_FP16 || ip->fp16) || r->type.dtype == MK_DT_FP64) return;
    float *d = r->data;
    for (size_t i = 0; !ip->warning[0] && i < r->numel; i++) {
        i += mk_f32_find_beyond_f16(d + i, r->numel - i, 1);
        if (i < r->numel && isinf(mk_round_f16(d[i])))
            snprintf(ip->warning, sizeof ip->warning,
                     "fp16 overflow: op %s (%s) produced %g, beyond +-65504 (became %sinf)",
                     op_label(op), mk_ir_op_info(op->kind)->name, (double)d[i],
                     d[i] < 0 ? "-" : "+");
    }
    mk_round_f16_n(d, r->numel);
}

static mk_status run_plan(mk_interp *ip, const bplan *bp, mk_err *e);

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

/* Hand the buffer of operand `idx` (x, or the fused operand) to output 0 when it dies here and
 * has the output's exact type layout; returns 1 when done (output 0 then needs no
 * allocation). */
static int try_donate(mk_interp *ip, const oplan *pl, const mk_type *t)
{
    if (pl->n_outs != 1 || !mk_type_is_static(t)) return 0;
    int idx = pl->fused_in;
    if (idx < 0) {
        if (!donation_safe(pl->op->kind)) return 0;
        idx = mk_ir_operand_index(pl->op, "x");
    }
    if (idx < 0 || idx >= pl->n_ins) return 0;
    int s = pl->ins[idx], dies = 0;
    for (int i = 0; i < pl->n_free; i++) dies |= pl->frees[i] == s;
    mk_rt *x = &ip->slots[s], *o = &ip->slots[pl->outs[0]];
    if (!dies || !x->cap || x->persist || x == o || x->type.rank != t->rank ||
        mk_interp_layout(x->type.dtype) != mk_interp_layout(t->dtype))
        return 0;
    for (int i = 0; i < t->rank; i++)
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
                              op_label(pl->op), mk_ir_op_info(pl->op->kind)->name);
        mk_type t = src->type;
        t.dtype = ip->slot_val[pl->outs[0]]->type.dtype;
        if (!try_donate(ip, pl, &t) && !(st = alloc_slot(ip, pl->outs[0], &t, e)) && src->numel &&
            o->data != src->data)
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
    if (pl->fused_in != -1) return run_fused(ip, pl, e);
    const mk_op *op = pl->op;
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
        if ((st = materialize(ip, s, e))) goto done;
        if (!ip->slots[s].data && ip->slots[s].numel) {
            st = mk_err_set(e, MK_EINVAL, "op %s (%s): input %s has no value", op_label(op),
                            mk_ir_op_info(op->kind)->name,
                            ip->slot_val[s]->name ? ip->slot_val[s]->name : "?");
            goto done;
        }
        ins[i] = &ip->slots[s];
    }
    for (int i = 0; i < pl->n_attrs; i++) {
        attrs[i] = NULL;
        if (pl->attrs[i] < 0) continue;
        if ((st = materialize(ip, pl->attrs[i], e))) goto done;
        attrs[i] = &ip->slots[pl->attrs[i]];
    }
    for (int i = 0; i < pl->n_outs; i++) outs[i] = &ip->slots[pl->outs[i]];
    mk_kctx k = {ip,         op,   pl->n_ins, ins, pl->n_attrs, attrs,
                 pl->n_outs, outs, ip->alloc, e,   pl->epi};
    if (!skip_infer(op->kind)) {
        for (int i = 0; i < pl->n_ins; i++) {
            opnds[i].type = ins[i]->type;
            opnds[i].data = declared_view(ip, pl->ins[i], &tmps[i], &tmp_n[i]);
            opnds[i].nbytes = 0;
            if (opnds[i].data) {
                size_t nb = 0;
                mk_type_nbytes(&ins[i]->type, &nb);
                opnds[i].nbytes = nb;
            }
        }
        mk_type types[64];
        int n_types = 0;
        st = mk_ir_infer(op, opnds, pl->n_ins, types, 64, &n_types, e);
        if (st) goto done; /* the message already names the op */
        if (n_types < pl->n_outs) {
            st = mk_kerr(&k, MK_EINTERNAL, "type inference gave %d outputs, expected %d", n_types,
                         pl->n_outs);
            goto done;
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
            if (mk_type_is_static(&types[i]) && (st = alloc_slot(ip, pl->outs[i], &types[i], e))) {
                mk_err_prefix(e, "op %s (%s): ", op_label(op), mk_ir_op_info(op->kind)->name);
                goto done;
            }
        }
    }
    struct timespec t0, t1;
    /* one thread: CPU time of this thread (steady on a busy machine), else wall time */
    clockid_t clk = ip->threads == 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
    if (ip->profile) clock_gettime(clk, &t0);
    if ((st = pl->fn(&k))) goto done;
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
        round_outputs(ip, op, outs[i]);
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

static mk_status run_plan(mk_interp *ip, const bplan *bp, mk_err *e)
{
    for (int i = 0; i < bp->n_ops; i++) {
        mk_status st = run_op(ip, &bp->ops[i], e);
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
    mk_status st = rt_alloc_ip(ip, dst, &src->type, e);
    if (st) return st;
    if (src->numel) memcpy(dst->data, src->data, src->numel * mk_interp_elem_size(src->type.dtype));
    return MK_OK;
}

mk_status mk_interp_block(mk_kctx *k, const mk_block *b, mk_rt *const *ins, int n_ins, mk_rt *outs,
                          int n_outs)
{
    mk_interp *ip = k->ip;
    int pi = pm_get(&ip->plan_of, b);
    if (pi < 0) return mk_kerr(k, MK_EINTERNAL, "nested block has no plan");
    if (n_ins != b->n_inputs)
        return mk_kerr(k, MK_EINVAL, "block takes %d inputs, given %d", b->n_inputs, n_ins);
    if (n_outs != b->n_outputs)
        return mk_kerr(k, MK_EINVAL, "block returns %d outputs, expected %d", b->n_outputs, n_outs);
    const bplan *bp = ip->plans[pi];
    mk_status st = MK_OK;
    for (int i = 0; i < n_ins && !st; i++)
        st = rt_copy(ip, &ip->slots[pm_get(&ip->slot_of, b->inputs[i])], ins[i], k->e);
    if (!st) st = run_plan(ip, bp, k->e);
    for (int i = 0; i < n_outs && !st; i++) {
        int s = pm_get(&ip->slot_of, b->outputs[i]);
        if ((st = materialize(ip, s, k->e))) break;
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

/* ---- parameters ---- */
mk_rt *mk_kin(mk_kctx *k, const char *name)
{
    int idx = mk_ir_operand_index(k->op, name);
    if (idx >= 0 && idx < k->n_ins) return k->ins[idx];
    for (int i = 0; i < k->op->n_attrs && i < k->n_attrs; i++)
        if (strcmp(k->op->attrs[i].name, name) == 0) return k->attrs[i];
    return NULL;
}

mk_rt **mk_kargs(mk_kctx *k, const char *name, int *n)
{
    const mk_input *in = mk_ir_input(k->op, name);
    int idx = mk_ir_operand_index(k->op, name);
    *n = in && idx >= 0 ? in->n_args : 0;
    return *n ? k->ins + idx : NULL;
}

/* The operand `name` as one number: *r is NULL when it is absent, an error when not a scalar. */
static mk_status scalar_in(mk_kctx *k, const char *name, mk_rt **r)
{
    *r = mk_kin(k, name);
    if (*r && ((*r)->numel != 1 || mk_interp_layout((*r)->type.dtype) == MK_L_STR))
        return mk_kerr(k, MK_EINVAL, "%s must be a scalar", name);
    return MK_OK;
}

mk_status mk_kint(mk_kctx *k, const char *name, int64_t def, int64_t *out)
{
    mk_rt *r;
    mk_status st = scalar_in(k, name, &r);
    if (st) return st;
    *out = r ? mk_rt_i64(r, 0) : def;
    return MK_OK;
}

mk_status mk_kfloat(mk_kctx *k, const char *name, double def, double *out)
{
    mk_rt *r;
    mk_status st = scalar_in(k, name, &r);
    if (st) return st;
    *out = r ? mk_rt_f64(r, 0) : def;
    return MK_OK;
}

mk_status mk_kbool(mk_kctx *k, const char *name, int def, int *out)
{
    int64_t v = def; /* kept when mk_kint fails */
    mk_status st = mk_kint(k, name, def, &v);
    *out = v != 0;
    return st;
}

const char *mk_kstr(mk_kctx *k, const char *name, const char *def)
{
    mk_rt *r = mk_kin(k, name);
    if (!r || mk_interp_layout(r->type.dtype) != MK_L_STR || r->numel != 1) return def;
    return ((const char *const *)r->data)[0];
}

mk_status mk_kints(mk_kctx *k, const char *name, int64_t *out, int max, int *n)
{
    mk_rt *r = mk_kin(k, name);
    *n = -1;
    if (!r) return MK_OK;
    if (mk_interp_layout(r->type.dtype) == MK_L_STR || r->numel > (size_t)max)
        return mk_kerr(k, MK_EINVAL, "%s: expected at most %d integers", name, max);
    for (size_t i = 0; i < r->numel; i++) out[i] = mk_rt_i64(r, i);
    *n = (int)r->numel;
    return MK_OK;
}

mk_status mk_kaxis(mk_kctx *k, int64_t axis, int rank, int *out)
{
    if (axis < -rank || axis >= (rank ? rank : 1))
        return mk_kerr(k, MK_EINVAL, "axis %lld out of range for rank %d", (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return MK_OK;
}

void mk_strides(const mk_type *t, int64_t *s)
{
    int64_t acc = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        s[i] = acc;
        acc *= t->dims[i];
    }
}

int mk_bcast_strides(const mk_type *in, const mk_type *out, int64_t *s)
{
    if (in->rank > out->rank) return 0;
    int64_t st[MK_MAX_RANK];
    mk_strides(in, st);
    int off = out->rank - in->rank;
    for (int i = 0; i < out->rank; i++) {
        if (i < off) {
            s[i] = 0;
            continue;
        }
        int64_t d = in->dims[i - off];
        if (d == out->dims[i])
            s[i] = d == 1 ? 0 : st[i - off];
        else if (d == 1)
            s[i] = 0;
        else
            return 0;
    }
    return 1;
}

/* ---- entry ---- */
static mk_status tensor_to_rt(mk_interp *ip, mk_rt *r, const mk_type *decl, const mk_tensor *t,
                              mk_err *e)
{
    mk_type ty = *decl;
    if (!(t->rank == 0 && decl->rank == 1 && decl->dims[0] == 1)) { /* else scalar as [1] */
        ty.rank = t->rank;
        for (int i = 0; i < t->rank; i++) ty.dims[i] = t->dims[i];
    }
    mk_type raw = ty;
    raw.dtype = (mk_dtype)t->dtype;
    int round16 = mk_dtype_is_float(ty.dtype) && (ty.dtype == MK_DT_FP16 || ip->fp16);
    mk_status st = rt_alloc_ip(ip, r, &ty, e);
    if (st) return st;
    if (!round16 && ((ty.dtype == MK_DT_FP32 && t->dtype == MK_DT_FP32) ||
                     (ty.dtype == MK_DT_INT32 && t->dtype == MK_DT_INT32))) {
        if (t->nbytes < r->numel * 4)
            return mk_err_set(e, MK_EINVAL, "data smaller than its shape");
        if (r->numel) memcpy(r->data, t->data, r->numel * 4); /* empty: data may be NULL */
        return MK_OK;
    }
    mk_rt tmp = {0};
    st = rt_from_raw(ip, &tmp, &raw, t->data, t->nbytes, 0, e);
    if (st) return st;
    for (size_t i = 0; i < r->numel; i++) {
        switch (mk_interp_layout(ty.dtype)) {
        case MK_L_F32: {
            float v = (float)mk_rt_f64(&tmp, i);
            ((float *)r->data)[i] = round16 ? mk_round_f16(v) : v;
            break;
        }
        case MK_L_I32: ((int32_t *)r->data)[i] = (int32_t)mk_rt_i64(&tmp, i); break;
        case MK_L_BOOL: ((uint8_t *)r->data)[i] = mk_rt_i64(&tmp, i) != 0; break;
        default: break;
        }
    }
    mk_rt_release(ip, &tmp);
    return MK_OK;
}

static mk_status rt_to_tensor(const mk_rt *r, const char *name, mk_tensor *t, mk_err *e)
{
    memset(t, 0, sizeof *t);
    mk_layout l = mk_interp_layout(r->type.dtype);
    if (l == MK_L_STR) return mk_err_set(e, MK_EUNSUPPORTED, "output %s: string tensor", name);
    t->dtype = l == MK_L_F32 ? 11 : l == MK_L_I32 ? 23 : 1;
    t->rank = r->type.rank;
    for (int i = 0; i < r->type.rank; i++) t->dims[i] = r->type.dims[i];
    t->nbytes = r->numel * mk_interp_elem_size(r->type.dtype);
    t->data = mk_malloc(NULL, t->nbytes ? t->nbytes : 1);
    t->name = mk_strdup_default(name);
    if (!t->data || !t->name) {
        mk_tensor_free(t);
        return MK_OOM(e);
    }
    if (t->nbytes) memcpy(t->data, r->data, t->nbytes);
    if (!t->nbytes) t->nbytes = 0;
    return MK_OK;
}

void mk_interp_free(mk_interp *ip)
{
    if (!ip) return;
    for (int s = 0; s < ip->n_slots; s++) mk_rt_release(ip, &ip->slots[s]);
    for (int i = 0; i < ip->n_pool; i++) mk_free(ip->alloc, ip->pool[i], ip->pool_cap[i]);
    mk_free(ip->alloc, ip->scratch, ip->scratch_n);
    for (int i = 0; ip->state && i < ip->f->n_inputs; i++)
        mk_free(ip->alloc, ip->state[i].data, ip->state[i].cap);
    mk_ptrmap_free(&ip->slot_of);
    mk_ptrmap_free(&ip->plan_of);
    const mk_allocator *a = ip->alloc;
    mk_arena_free(ip->ar);
    mk_free(a, ip, sizeof *ip);
}

void mk_interp_set_framework_pool(mk_interp *ip, int on)
{
    if (ip) ip->framework_pool = on != 0;
}

int mk_interp_framework_pool(const mk_interp *ip)
{
    return ip && ip->framework_pool;
}

/* Any fp16 value in a block: the program has chosen its precision op by op. */
static int has_fp16(const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_outputs; i++)
            if (op->outputs[i]->type.dtype == MK_DT_FP16) return 1;
        for (int i = 0; i < op->n_blocks; i++)
            if (has_fp16(op->blocks[i])) return 1;
    }
    return 0;
}

static mk_status interp_new(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                            mk_interp_observer fn, void *ud, mk_interp **out, mk_err *e);

mk_status mk_interp_new(const mk_program *p, const mk_run_options *opts, mk_interp **out, mk_err *e)
{
    return interp_new(p, mk_ir_main(p), opts, NULL, NULL, out, e);
}

mk_status mk_interp_new_observed(const mk_program *p, const mk_run_options *opts,
                                 mk_interp_observer fn, void *ud, mk_interp **out, mk_err *e)
{
    return interp_new(p, mk_ir_main(p), opts, fn, ud, out, e);
}

const mk_function *mk_interp_function(const mk_interp *ip)
{
    return ip->f;
}

/* Zeroed state buffers for f's state inputs (static types only). */
static mk_status alloc_states(mk_interp *ip, mk_err *e)
{
    const mk_function *f = ip->f;
    for (int i = 0; i < f->n_inputs; i++) {
        const mk_value *v = f->inputs[i];
        if (!v->is_state) continue;
        if (!ip->state && !(ip->state = mk_arena_array(ip->ar, (size_t)f->n_inputs,
                                                       sizeof *ip->state)))
            return MK_OOM(e);
        size_t n, nb;
        if (!mk_type_is_static(&v->type) || !mk_type_numel(&v->type, &n) ||
            !mk_mul_size(n, mk_interp_elem_size(v->type.dtype), &nb))
            return mk_err_set(e, MK_EINVAL, "state %s: needs a static shape", v->name);
        mk_rt *r = &ip->state[i];
        if (!(r->data = mk_calloc(ip->alloc, 1, nb ? nb : 1))) return MK_OOM(e);
        r->type = v->type;
        r->numel = n;
        r->cap = nb ? nb : 1;
    }
    return MK_OK;
}

static mk_rt *find_state(mk_interp *ip, const char *name)
{
    for (int i = 0; ip->state && i < ip->f->n_inputs; i++)
        if (ip->f->inputs[i]->is_state && strcmp(ip->f->inputs[i]->name, name) == 0)
            return &ip->state[i];
    return NULL;
}

mk_status mk_interp_state_get(mk_interp *ip, const char *name, mk_tensor *out, mk_err *e)
{
    const mk_rt *r = find_state(ip, name);
    if (!r) return mk_err_set(e, MK_EINVAL, "no state named '%s'", name);
    return rt_to_tensor(r, name, out, e);
}

mk_status mk_interp_state_set(mk_interp *ip, const char *name, const mk_tensor *t, mk_err *e)
{
    mk_rt *r = find_state(ip, name);
    if (!r) return mk_err_set(e, MK_EINVAL, "no state named '%s'", name);
    int same = t->rank == r->type.rank;
    for (int i = 0; same && i < t->rank; i++) same = t->dims[i] == r->type.dims[i];
    if (!same) {
        char want[128];
        return mk_err_set(e, MK_EINVAL, "state %s: shape differs from the model's %s", name,
                          mk_type_str(&r->type, want, sizeof want));
    }
    if (!mk_npy_dtype_size(t->dtype) || (mk_dtype_is_float((mk_dtype)t->dtype) !=
                                         mk_dtype_is_float(r->type.dtype)))
        return mk_err_set(e, MK_EINVAL, "state %s: dtype %s, model expects %s", name,
                          mk_dtype_name((mk_dtype)t->dtype) ? mk_dtype_name((mk_dtype)t->dtype)
                                                            : "unknown",
                          mk_dtype_name(r->type.dtype));
    mk_rt tmp = {0};
    mk_status st = tensor_to_rt(ip, &tmp, &r->type, t, e);
    if (!st && r->numel) memcpy(r->data, tmp.data, r->numel * mk_interp_elem_size(r->type.dtype));
    mk_rt_release(ip, &tmp);
    return st;
}

mk_status mk_interp_new_fn(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                           mk_interp **out, mk_err *e)
{
    return interp_new(p, f, opts, NULL, NULL, out, e);
}

static mk_status interp_new(const mk_program *p, const mk_function *f, const mk_run_options *opts,
                            mk_interp_observer fn, void *ud, mk_interp **out, mk_err *e)
{
    *out = NULL;
    if (!f) return mk_err_set(e, MK_EINVAL, "program has no function to run");
    mk_status bst = mk_blas_open(e);
    if (bst != MK_OK) return bst;
    const mk_allocator *a = p->alloc ? p->alloc : mk_alloc_default();
    mk_interp *ip = mk_calloc(a, 1, sizeof *ip);
    if (!ip) return MK_OOM(e);
    ip->p = p;
    ip->f = f;
    ip->alloc = a;
    mk_ptrmap_init(&ip->slot_of, a);
    mk_ptrmap_init(&ip->plan_of, a);
    /* a program with fp16 compute runs as typed: its fp32 ops are islands Core ML keeps fp32 */
    ip->fp16 = opts && opts->fp16_emulate && !has_fp16(f->block);
    ip->observe = fn;
    ip->observe_ud = ud;
    const char *prof = getenv("MILKIT_PROFILE");
    ip->profile = prof ? atoi(prof) + 1 : 0;
    ip->fuse = !ip->fp16 && !fn && !getenv("MILKIT_NO_FUSE");
    ip->threads = opts && opts->threads > 0 ? opts->threads : 0;
    ip->ar = mk_arena_new(ip->alloc);
    if (!ip->ar) {
        mk_free(a, ip, sizeof *ip);
        return MK_OOM(e);
    }
    mk_status st = MK_OK;
    for (int i = 0; i < f->n_inputs; i++)
        if (add_slot(ip, f->inputs[i], f->block) < 0) st = MK_OOM(e);
    int *last = NULL;
    if (!st) st = alloc_states(ip, e);
    if (!st && !register_block(ip, f->block)) st = MK_OOM(e);
    if (!st) {
        last = mk_arena_array(ip->ar, (size_t)ip->n_slots + 1, sizeof *last);
        if (!last) st = MK_OOM(e);
    }
    if (!st && !plan_all(ip, f->block, last, e)) st = e && e->code ? e->code : MK_OOM(e);
    if (!st && ip->fuse && !plan_fusion(ip)) st = MK_OOM(e);
    if (!st && ip->fuse) {
        ip->view = mk_arena_array(ip->ar, (size_t)ip->n_slots + 1, sizeof *ip->view);
        if (!ip->view) st = MK_OOM(e);
        for (int i = 0; !st && i < ip->n_slots; i++) ip->view[i].base = -1;
        if (!st && !plan_views(ip)) st = MK_OOM(e);
    }
    if (st) {
        mk_interp_free(ip);
        return st;
    }
    *out = ip;
    return MK_OK;
}

mk_status mk_interp_exec(mk_interp *ip, const mk_tensor *const *inputs, mk_tensor_list *outputs,
                         mk_interp_result *res, mk_err *e)
{
    memset(outputs, 0, sizeof *outputs);
    if (res) memset(res, 0, sizeof *res);
    const mk_program *p = ip->p;
    const mk_function *f = ip->f;
    ip->warning[0] = 0;
    ip->peak = ip->live;
    memset(ip->prof_ms, 0, sizeof ip->prof_ms);
    memset(ip->prof_n, 0, sizeof ip->prof_n);
    mk_blas_threads(ip->threads);
    mk_status st = MK_OK;
    for (int i = 0; i < f->n_inputs && !st; i++) {
        int s = pm_get(&ip->slot_of, f->inputs[i]);
        if (f->inputs[i]->is_state) { /* the slot is the state buffer itself */
            mk_rt_release(ip, &ip->slots[s]);
            ip->slots[s] = ip->state[i];
            ip->slots[s].cap = 0;
            ip->slots[s].persist = 1;
            continue;
        }
        st = tensor_to_rt(ip, &ip->slots[s], &f->inputs[i]->type, inputs[i], e);
        if (st) mk_err_prefix(e, "input %s: ", f->inputs[i]->name);
    }
    if (!st) st = run_plan(ip, ip->plans[0], e);
    for (int i = 0; i < f->block->n_outputs && !st; i++) {
        const mk_value *v = f->block->outputs[i];
        int s = pm_get(&ip->slot_of, v);
        if ((st = materialize(ip, s, e))) break;
        mk_tensor t;
        const char *nm = f == mk_ir_main(p) && i < p->n_outputs && p->outputs[i].name
                             ? p->outputs[i].name
                             : v->name;
        if ((st = rt_to_tensor(&ip->slots[s], nm ? nm : "output", &t, e))) break;
        st = mk_tensor_list_push(outputs, &t, e);
    }
    if (ip->profile)
        for (int k = 0; k < MK_OP__COUNT; k++)
            if (ip->prof_n[k])
                fprintf(stderr, "profile: %-28s %5d ops %9.3f ms\n",
                        mk_ir_op_info((mk_op_kind)k)->name, ip->prof_n[k], ip->prof_ms[k]);
    if (res) {
        memcpy(res->warning, ip->warning, sizeof res->warning);
        res->warning[sizeof res->warning - 1] = 0;
        res->peak_bytes = ip->peak;
    }
    /* activations go back to the pool; converted constants stay for the next run */
    for (int s = 0; s < ip->n_slots; s++)
        if (!ip->slots[s].persist) mk_rt_release(ip, &ip->slots[s]);
    if (st) mk_tensor_list_free(outputs);
    return st;
}

mk_status mk_interp_run(const mk_program *p, const mk_run_options *opts,
                        const mk_tensor *const *inputs, mk_tensor_list *outputs,
                        mk_interp_result *res, mk_err *e)
{
    memset(outputs, 0, sizeof *outputs);
    if (res) memset(res, 0, sizeof *res);
    mk_interp *ip;
    mk_status st = mk_interp_new(p, opts, &ip, e);
    if (st) return st;
    st = mk_interp_exec(ip, inputs, outputs, res, e);
    mk_interp_free(ip);
    return st;
}
