/* ONNX Loop. A loop whose trip count and condition fold to constants at convert time is
 * unrolled: the body is lowered once per iteration into the current block (outer-scope names
 * visible) and scan outputs are stacked along a new axis 0; unrolling is capped. Any other
 * loop whose carried values keep one static type becomes a MIL while_loop, its scan outputs
 * (static shapes) written to dynamic lists at the iteration number and gathered after. Not
 * handled: sequence or optional loop values, carried values that change shape, and infinite
 * loops (neither M nor cond). */
#include <string.h>

#include "onnx_int.h"

#define MAX_UNROLL 1024        /* iterations */
#define MAX_UNROLL_NODES 65536 /* body nodes lowered in total */

static const Onnx__GraphProto *body_of(const Onnx__NodeProto *n)
{
    const Onnx__AttributeProto *a = mk_onnx_attr(n, "body");
    return a ? a->g : NULL;
}

static int tensor_typed(const Onnx__ValueInfoProto *vi)
{
    return !vi->type || vi->type->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET ||
           vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
}

OX_WHY(mk_onnx_why_loop)
{
    (void)c;
    const Onnx__GraphProto *g = body_of(n);
    if (!g) return "Loop without a body graph";
    size_t n_car = n->n_input > 2 ? n->n_input - 2 : 0;
    if (g->n_input != 2 + n_car)
        return "Loop body inputs are not (iteration_num, cond, carried...)";
    if (g->n_output < 1 + n_car || n->n_output != g->n_output - 1)
        return "Loop body outputs do not match the node's (cond, carried..., scans...)";
    for (size_t i = 0; i < g->n_input; i++)
        if (!tensor_typed(g->input[i])) return "sequence- or optional-typed Loop values";
    for (size_t i = 0; i < g->n_output; i++)
        if (!tensor_typed(g->output[i])) return "sequence- or optional-typed Loop values";
    return NULL;
}

/* Open a scope for one lowering of the body and define its initializers. */
static mk_status open_scope(ox_ctx *c, const Onnx__GraphProto *g, ox_scope *sc)
{
    mk_strmap_init(&sc->vals, c->p->alloc);
    sc->parent = c->scope;
    c->scope = sc;
    for (size_t i = 0; i < g->n_initializer; i++) {
        ox_val *v = mk_onnx_define(c, g->initializer[i]->name ? g->initializer[i]->name : "");
        mk_status st = v ? mk_onnx_tensor(c, g->initializer[i], v) : fail(c);
        if (st != MK_OK) return st;
    }
    return MK_OK;
}

static void close_scope(ox_ctx *c, ox_scope *sc)
{
    c->scope = sc->parent;
    mk_strmap_free(&sc->vals);
}

static const char *vname(const Onnx__ValueInfoProto *vi)
{
    return vi->name ? vi->name : "";
}

/* Body output i as seen from inside the body scope (it may name an outer value). */
static ox_val *body_out(ox_ctx *c, const Onnx__GraphProto *g, int i)
{
    return mk_onnx_lookup(c, vname(g->output[i]));
}

/* A copy of v under another ONNX name (same constant payload or MIL value). */
static void alias(ox_val *dst, const ox_val *v)
{
    const char *nm = dst->name;
    *dst = (ox_val){nm,         v->type,     v->data, v->nbytes,    v->borrowed, v->mil,
                    v->mil_blk, v->poisoned, NULL,    v->f16_range, v->kd};
}

/* Stack k per-iteration values along a new axis 0 into o: a constant when all are. */
static mk_status stack_scan(ox_ctx *c, const Onnx__NodeProto *n, ox_val **vals, int k, ox_val *o)
{
    mk_type t0 = vals[0]->type;
    int all_const = 1;
    for (int i = 0; i < k; i++) {
        if (!mk_type_equal(&vals[i]->type, &t0))
            return mk_onnx_unsupported(c, n, "scan output changes type between iterations");
        all_const &= vals[i]->data != NULL;
    }
    if (t0.rank < 0 || t0.rank >= MK_MAX_RANK)
        return mk_onnx_unsupported(c, n, "scan output of unknown or too high rank");
    mk_type t = t0;
    t.rank = t0.rank + 1;
    t.dims[0] = k;
    for (int d = 0; d < t0.rank; d++) t.dims[d + 1] = t0.dims[d];
    if (all_const) {
        size_t each = vals[0]->nbytes, total;
        if (!mk_mul_size(each, (size_t)k, &total))
            return mk_err_set(c->err, MK_EINVAL, "scan output too big");
        unsigned char *d = mk_arena_alloc(c->p->arena, total ? total : 1);
        if (!d) return fail(c);
        for (int i = 0; i < k; i++) {
            if (vals[i]->nbytes != each) return mk_err_set(c->err, MK_EINVAL, "scan size");
            if (each) memcpy(d + (size_t)i * each, vals[i]->data, each);
        }
        return mk_onnx_set_const(c, o, &t, d);
    }
    mk_op *op = mk_onnx_op(c, MK_OP_STACK, o->name);
    if (!op) return fail(c);
    for (int i = 0; i < k; i++)
        if (!mk_onnx_in(c, op, "values", vals[i])) return fail(c);
    if (!mk_onnx_in_i32(c, op, "axis", 0)) return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

/* Unroll at convert time. Sets *again (nothing bound, MK_OK) when the body's condition does
 * not fold: the caller falls back to while_loop; ops emitted so far are dead (DCE drops them). */
static mk_status unroll(ox_ctx *c, const Onnx__NodeProto *n, const Onnx__GraphProto *g,
                        int64_t trip, int cond0, int use_cond, ox_val **init, int n_car,
                        ox_val **out, int n_scan, int *again)
{
    *again = 0;
    ox_val **cur = mk_arena_array(c->p->arena, (size_t)n_car + 1, sizeof *cur);
    ox_val **scans = mk_arena_array(c->p->arena, (size_t)n_scan * MAX_UNROLL + 1, sizeof *scans);
    if (!cur || !scans) return fail(c);
    for (int k = 0; k < n_car; k++) cur[k] = init[k];
    int go = cond0;
    int64_t it = 0;
    long nodes = 0;
    for (; it < trip && go; it++) {
        if (it >= MAX_UNROLL)
            return mk_onnx_unsupported(c, n,
                                       "unrolling stops at %d iterations (trip count %lld"
                                       " known but too large)",
                                       MAX_UNROLL, (long long)trip);
        nodes += (long)g->n_node;
        if (nodes > MAX_UNROLL_NODES)
            return mk_onnx_unsupported(c, n, "unrolled body exceeds %d nodes", MAX_UNROLL_NODES);
        ox_scope *sc = mk_arena_alloc(c->p->arena, sizeof *sc);
        if (!sc) return fail(c);
        mk_status st = open_scope(c, g, sc);
        ox_val *iv = st == MK_OK ? mk_onnx_define(c, vname(g->input[0])) : NULL;
        ox_val *cv = iv ? mk_onnx_define(c, vname(g->input[1])) : NULL;
        if (st == MK_OK && !cv) st = fail(c);
        uint8_t b = 1;
        mk_type it_t = mk_type_scalar(MK_DT_INT64), b_t = mk_type_scalar(MK_DT_BOOL);
        if (st == MK_OK) st = mk_onnx_set_const(c, iv, &it_t, &it);
        if (st == MK_OK) st = mk_onnx_set_const(c, cv, &b_t, &b);
        for (int k = 0; k < n_car && st == MK_OK; k++) {
            ox_val *v = mk_onnx_define(c, vname(g->input[2 + k]));
            if (!v)
                st = fail(c);
            else
                alias(v, cur[k]);
        }
        if (st == MK_OK) st = mk_onnx_lower_nodes(c, g);
        ox_val *res[64];
        for (int i = 0; i < 1 + n_car + n_scan && st == MK_OK; i++) {
            res[i] = body_out(c, g, i);
            if (!res[i])
                st = mk_err_set(c->err, MK_EINVAL, "body output '%s' not produced",
                                vname(g->output[i]));
            else if (res[i]->poisoned)
                st = MK_EUNSUPPORTED;
        }
        close_scope(c, sc);
        if (st == MK_EUNSUPPORTED)
            return mk_onnx_unsupported(c, n, "the body holds unsupported nodes");
        if (st != MK_OK) return st;
        if (use_cond) { /* ONNX ignores the body's condition when cond is omitted */
            if (!res[0]->data) {
                *again = 1;
                return MK_OK;
            }
            if (mk_onnx_numel(&res[0]->type) != 1)
                return mk_err_set(c->err, MK_EINVAL, "body condition is not a single value");
            go = mk_onnx_cget_i(res[0], 0) != 0;
        }
        for (int k = 0; k < n_car; k++) cur[k] = res[1 + k];
        for (int j = 0; j < n_scan; j++)
            scans[(size_t)j * MAX_UNROLL + (size_t)it] = res[1 + n_car + j];
    }
    if (n_scan && it == 0)
        return mk_onnx_unsupported(c, n,
                                   "zero iterations with scan outputs (empty scan shape"
                                   " unknown)");
    for (int k = 0; k < n_car; k++) alias(out[k], cur[k]);
    for (int j = 0; j < n_scan; j++) {
        mk_status st = stack_scan(c, n, scans + (size_t)j * MAX_UNROLL, (int)it, out[n_car + j]);
        if (st != MK_OK) return st;
    }
    return MK_OK;
}

/* A rank-0 view of a single-element value (reshape when needed) in the current block. */
static mk_value *scalar(ox_ctx *c, mk_value *v)
{
    if (!v || v->type.rank == 0) return v;
    mk_op *op = mk_onnx_op(c, MK_OP_RESHAPE, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", v) || !mk_onnx_in_i32s(c, op, "shape", 0, NULL))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* A value produced inside blk (block outputs must be). */
static mk_value *local(ox_ctx *c, mk_value *v, mk_block *blk)
{
    if (v && (!v->producer || v->producer->parent != blk))
        return mk_onnx_unary(c, MK_OP_IDENTITY, v, NULL);
    return v;
}

static int static_type(const mk_type *t)
{
    if (t->rank < 0) return 0;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return 0;
    return 1;
}

/* A block input named <op>_<tag><i> (a numbered variant when a model value took the name). */
static mk_value *block_input(ox_ctx *c, mk_block *b, const char *op, char tag, int i,
                             const mk_type *t)
{
    for (int k = 0; k < 64; k++) {
        const char *nm = k ? mk_arena_printf(c->p->arena, "%s_%c%d_%d", op, tag, i, k)
                           : mk_arena_printf(c->p->arena, "%s_%c%d", op, tag, i);
        if (!nm) return NULL;
        mk_value *v = mk_ir_block_add_input(c->p, b, nm, t);
        if (v) return v;
    }
    return NULL;
}

/* Scan outputs of a run-time loop: per scan value an empty dynamic list (make_list before the
 * loop, its element shape from the lowered body) carried as an extra loop variable, and a
 * list_write at the iteration number in the body; res gets the written lists. */
static mk_status scan_lists(ox_ctx *c, const Onnx__NodeProto *n, mk_op *op, mk_block *cb,
                            mk_block *bb, mk_value *it, mk_value **sv, int n_scan, mk_value **res,
                            int *scalar_out)
{
    for (int j = 0; j < n_scan; j++) {
        if (sv[j]->type.rank == 0) { /* a scalar travels as [1] */
            int64_t one = 1;
            mk_block *outer = c->blk;
            c->blk = bb;
            sv[j] = mk_onnx_reshape(c, sv[j], 1, &one, NULL);
            c->blk = outer;
            if (!sv[j]) return fail(c);
            scalar_out[j] = 1;
        }
        const mk_type *et = &sv[j]->type;
        const char *dt = et->dtype == MK_DT_FP32    ? "fp32"
                         : et->dtype == MK_DT_INT32 ? "int32"
                         : et->dtype == MK_DT_BOOL  ? "bool"
                                                    : NULL;
        if (!dt || !static_type(et) || et->rank >= MK_MAX_RANK)
            return mk_onnx_unsupported(c, n,
                                       "run-time trip count and a scan output that is "
                                       "not a static fp32/int32/bool tensor");
        mk_op *ml = mk_onnx_op(c, MK_OP_MAKE_LIST, "loop_scan_list");
        if (!ml || !mk_onnx_in_i32(c, ml, "init_length", 0) ||
            !mk_onnx_in_bool(c, ml, "dynamic_length", 1) || !mk_onnx_in_str(c, ml, "dtype", dt))
            return fail(c);
        for (int d = 0; d < et->rank; d++) {
            int32_t dim = (int32_t)et->dims[d];
            mk_value *dv = mk_ir_const_i32(c->p, c->blk, "loop_scan_dim", 1, &dim, 1);
            if (!dv || !mk_onnx_in_mil(c, ml, "elem_shape", dv)) return fail(c);
        }
        mk_value *l0 = mk_onnx_out(c, ml, NULL);
        if (!l0 || !mk_onnx_in_mil(c, op, "loop_vars", l0)) return fail(c);
        mk_type lt = l0->type;
        lt.dims[0] = MK_DIM_UNKNOWN;
        int k = mk_ir_input(op, "loop_vars")->n_args - 1;
        mk_value *lc = block_input(c, cb, op->name, 'c', k, &lt);
        mk_value *lb = lc ? block_input(c, bb, op->name, 'b', k, &lt) : NULL;
        if (!lb) return fail(c);
        mk_block *outer = c->blk;
        c->blk = bb;
        mk_op *lw = mk_onnx_op(c, MK_OP_LIST_WRITE, NULL);
        if (lw && mk_onnx_in_mil(c, lw, "ls", lb) && mk_onnx_in_mil(c, lw, "index", it) &&
            mk_onnx_in_mil(c, lw, "value", sv[j]))
            res[j] = mk_onnx_out(c, lw, NULL);
        else
            res[j] = NULL;
        c->blk = outer;
        if (!res[j]) return fail(c);
    }
    return MK_OK;
}

/* Run-time loop: while_loop over (i, cond, carried...). The cond block tests i < M and cond;
 * the body block lowers the ONNX body and returns (i + 1, cond_out, carried_out...). */
static mk_status while_loop(ox_ctx *c, const Onnx__NodeProto *n, const Onnx__GraphProto *g,
                            ox_val *m, ox_val *cond, ox_val **init, int n_car, ox_val **out,
                            int n_scan)
{
    int nv = 2 + n_car;
    if (nv + n_scan > 16) return mk_onnx_unsupported(c, n, "more than 14 carried and scan values");
    mk_value *vars[16], *m_s = NULL;
    mk_type types[16];
    int32_t zero = 0;
    uint8_t yes = 1;
    vars[0] = mk_ir_const_i32(c->p, c->blk, "loop_i0", 1, &zero, 1);
    vars[1] =
        cond ? scalar(c, mil(c, cond)) : mk_ir_const_bool(c->p, c->blk, "loop_c0", 1, &yes, 1);
    if (m) m_s = scalar(c, mil(c, m));
    if (!vars[0] || !vars[1] || (m && !m_s)) return fail(c);
    if (vars[1]->type.dtype != MK_DT_BOOL) return mk_onnx_unsupported(c, n, "cond is not bool");
    if (m_s && m_s->type.dtype != MK_DT_INT32)
        return mk_onnx_unsupported(c, n, "trip count is not an integer");
    for (int k = 0; k < n_car; k++) {
        vars[2 + k] = mil(c, init[k]);
        if (!vars[2 + k]) return fail(c);
        if (!static_type(&vars[2 + k]->type))
            return mk_onnx_unsupported(c, n,
                                       "run-time trip count and a carried value of dynamic"
                                       " shape");
    }
    for (int i = 0; i < nv; i++) types[i] = vars[i]->type;
    mk_op *op = mk_onnx_op(c, MK_OP_WHILE_LOOP, oname(n, 0));
    if (!op) return fail(c);
    for (int i = 0; i < nv; i++)
        if (!mk_onnx_in_mil(c, op, "loop_vars", vars[i])) return fail(c);
    mk_block *outer = c->blk;
    mk_block *cb = mk_ir_block_new(c->p, c->fn, op), *bb = mk_ir_block_new(c->p, c->fn, op);
    if (!cb || !bb || !mk_ir_op_add_block(c->p, op, cb) || !mk_ir_op_add_block(c->p, op, bb))
        return fail(c);
    /* cond block: (i < M) and c */
    mk_value *ci[16], *bi[16];
    for (int i = 0; i < nv; i++) {
        ci[i] = block_input(c, cb, op->name, 'c', i, &types[i]);
        bi[i] = block_input(c, bb, op->name, 'b', i, &types[i]);
        if (!ci[i] || !bi[i]) return fail(c);
    }
    c->blk = cb;
    mk_value *go = ci[1];
    if (m_s) {
        mk_value *lt = mk_onnx_binary(c, MK_OP_LESS, ci[0], m_s, NULL);
        go = lt ? mk_onnx_binary(c, MK_OP_LOGICAL_AND, lt, ci[1], NULL) : NULL;
    }
    go = local(c, go, cb);
    c->blk = outer;
    if (!go || !mk_ir_block_set_outputs(c->p, cb, 1, &go)) return fail(c);
    /* body block */
    c->blk = bb;
    ox_scope *sc = mk_arena_alloc(c->p->arena, sizeof *sc);
    if (!sc) {
        c->blk = outer;
        return fail(c);
    }
    mk_status st = open_scope(c, g, sc);
    for (int i = 0; i < nv && st == MK_OK; i++) {
        ox_val *v = mk_onnx_define(c, vname(g->input[i]));
        if (!v)
            st = fail(c);
        else
            mk_onnx_set(v, bi[i]);
    }
    if (st == MK_OK) st = mk_onnx_lower_nodes(c, g);
    mk_value *res[16];
    if (st == MK_OK) {
        mk_value *i32one = mk_ir_const_i32(c->p, bb, "loop_one", 1, (int32_t[]){1}, 1);
        res[0] = i32one ? mk_onnx_binary(c, MK_OP_ADD, bi[0], i32one, NULL) : NULL;
        if (!res[0]) st = fail(c);
    }
    for (int i = 0; i < 1 + n_car && st == MK_OK; i++) {
        ox_val *v = body_out(c, g, i);
        if (!v || v->poisoned) {
            st = v ? MK_EUNSUPPORTED
                   : mk_err_set(c->err, MK_EINVAL, "body output '%s' not produced",
                                vname(g->output[i]));
            break;
        }
        /* without a cond input ONNX ignores the body's condition: keep it true */
        mk_value *mv = i == 0 && !cond ? bi[1] : mil(c, v);
        if (mv && i == 0) mv = scalar(c, mv);
        mv = local(c, mv, bb);
        if (!mv) {
            st = fail(c);
            break;
        }
        if (!mk_type_equal(&mv->type, &types[1 + i])) {
            close_scope(c, sc);
            c->blk = outer;
            return mk_onnx_unsupported(c, n,
                                       "run-time trip count and a carried value whose"
                                       " type changes in the body");
        }
        res[1 + i] = mv;
    }
    mk_value *sv[16];
    for (int j = 0; j < n_scan && st == MK_OK; j++) {
        ox_val *v = body_out(c, g, 1 + n_car + j);
        sv[j] = v && !v->poisoned ? local(c, mil(c, v), bb) : NULL;
        if (!v || v->poisoned)
            st = v ? MK_EUNSUPPORTED
                   : mk_err_set(c->err, MK_EINVAL, "body output '%s' not produced",
                                vname(g->output[1 + n_car + j]));
        else if (!sv[j])
            st = fail(c);
    }
    close_scope(c, sc);
    c->blk = outer;
    if (st == MK_EUNSUPPORTED) return mk_onnx_unsupported(c, n, "the body holds unsupported nodes");
    if (st != MK_OK) return st;
    int sc_out[16] = {0};
    if (n_scan && (st = scan_lists(c, n, op, cb, bb, bi[0], sv, n_scan, res + nv, sc_out)) != MK_OK)
        return st;
    if (!mk_ir_block_set_outputs(c->p, bb, nv + n_scan, res)) return fail(c);
    mk_value *ov[16];
    for (int i = 0; i < nv + n_scan; i++) {
        const char *nm = i >= 2 ? oname(n, i - 2) : NULL;
        ov[i] = mk_onnx_out(c, op, nm);
        if (!ov[i]) return fail(c);
    }
    for (int k = 0; k < n_car; k++) mk_onnx_set(out[k], ov[2 + k]);
    for (int j = 0; j < n_scan; j++) { /* the written elements: list_gather of 0 .. i-1 */
        int32_t z = 0, one = 1;
        mk_op *rg = mk_onnx_op(c, MK_OP_RANGE_1D, NULL);
        if (!rg || !mk_onnx_in_mil(c, rg, "end", ov[0]) || !mk_onnx_in_i32(c, rg, "start", z) ||
            !mk_onnx_in_i32(c, rg, "step", one))
            return fail(c);
        mk_value *ix = mk_onnx_out(c, rg, NULL);
        const char *nm = oname(n, n_car + j);
        mk_op *lg = ix ? mk_onnx_op(c, MK_OP_LIST_GATHER, sc_out[j] ? NULL : nm) : NULL;
        if (!lg || !mk_onnx_in_mil(c, lg, "ls", ov[nv + j]) ||
            !mk_onnx_in_mil(c, lg, "indices", ix))
            return fail(c);
        mk_value *sg = mk_onnx_out(c, lg, NULL);
        int64_t m1 = -1;
        if (sg && sc_out[j]) sg = mk_onnx_reshape(c, sg, 1, &m1, nm);
        if (!sg) return fail(c);
        mk_onnx_set(out[n_car + j], sg);
    }
    return MK_OK;
}

OX_LOWER(mk_onnx_lower_loop)
{
    (void)n_out;
    if (mk_onnx_why_loop(c, n)) return MK_EUNSUPPORTED; /* the pre-scan recorded why */
    const Onnx__GraphProto *g = body_of(n);
    int n_car = n_in > 2 ? n_in - 2 : 0;
    int n_scan = (int)g->n_output - 1 - n_car;
    ox_val *m = n_in > 0 ? in[0] : NULL, *cond = n_in > 1 ? in[1] : NULL;
    if (!m && !cond)
        return mk_onnx_unsupported(c, n, "neither trip count nor condition (infinite loop)");
    if (1 + n_car + n_scan > 64) return mk_onnx_unsupported(c, n, "more than 64 loop values");
    if (m && mk_onnx_numel(&m->type) != 1)
        return mk_err_set(c->err, MK_EINVAL, "trip count M is not a single value");
    if (cond && mk_onnx_numel(&cond->type) != 1)
        return mk_err_set(c->err, MK_EINVAL, "cond is not a single value");
    if ((!m || m->data) && (!cond || cond->data)) {
        int64_t trip = m ? mk_onnx_cget_i(m, 0) : INT64_MAX;
        int c0 = cond ? mk_onnx_cget_i(cond, 0) != 0 : 1;
        int again;
        mk_status st = unroll(c, n, g, trip, c0, cond != NULL, in + 2, n_car, out, n_scan, &again);
        if (st != MK_OK || !again) return st;
    }
    return while_loop(c, n, g, m, cond, in + 2, n_car, out, n_scan);
}
