/* ONNX Scan, unrolled at convert time: the scan length is a static dim of the scan inputs,
 * so the body is lowered once per step into the current block (outer names visible) with the
 * carried states and the step's slices (gather at a constant index) bound, and the per-step
 * scan outputs are stacked along their output axis (reversed for reverse directions). Opset 8
 * Scan (a leading batch axis) unrolls per batch entry too; its sequence_lens is refused. */
#include <string.h>

#include "onnx_int.h"

#define SCAN_MAX_STEPS 1024
#define SCAN_MAX_NODES 65536

static const char *vname(const Onnx__ValueInfoProto *vi)
{
    return vi && vi->name ? vi->name : "";
}

/* Slice i of x along axis (the axis removed). */
static mk_value *take(ox_ctx *c, mk_value *x, int axis, int64_t i)
{
    int32_t ix = (int32_t)i;
    mk_value *iv = mk_ir_const_i32(c->p, c->blk, "scan_step", 1, &ix, 1);
    mk_op *op = iv ? mk_onnx_op(c, MK_OP_GATHER, "scan_slice") : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "indices", iv) ||
        !mk_onnx_in_i32(c, op, "axis", axis))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Stack k values along a new axis (name may be NULL). */
static mk_value *stack(ox_ctx *c, mk_value **v, int64_t k, int axis, const char *name)
{
    mk_op *op = mk_onnx_op(c, MK_OP_STACK, name);
    if (!op) return NULL;
    for (int64_t i = 0; i < k; i++)
        if (!v[i] || !mk_onnx_in_mil(c, op, "values", v[i])) return NULL;
    if (!mk_onnx_in_i32(c, op, "axis", axis)) return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Attribute list entry i (default 0), or -1 when the list has another length. */
static int ints_at(const Onnx__NodeProto *n, const char *name, int count, int i, int64_t *v)
{
    const int64_t *a;
    int k = mk_onnx_attr_ints(n, name, &a);
    if (k < 0) return *v = 0, 1;
    if (k != count) return 0;
    *v = a[i];
    return 1;
}

typedef struct {
    const Onnx__NodeProto *n;
    const Onnx__GraphProto *g;
    int ns, nm, nk; /* states, scan inputs, scan outputs */
    long nodes;
} scan_ctx;

/* One body run: states st[ns], slices xs[nm] in; res[ns + nk] out (MIL values). */
static mk_status body(ox_ctx *c, scan_ctx *s, mk_value **st, mk_value **xs, mk_value **res)
{
    const Onnx__GraphProto *g = s->g;
    s->nodes += (long)g->n_node;
    if (s->nodes > SCAN_MAX_NODES)
        return mk_onnx_unsupported(c, s->n, "unrolled body exceeds %d nodes", SCAN_MAX_NODES);
    ox_scope *sc = mk_arena_alloc(c->p->arena, sizeof *sc);
    if (!sc) return fail(c);
    mk_strmap_init(&sc->vals, c->p->alloc);
    sc->parent = c->scope;
    c->scope = sc;
    mk_status r = MK_OK;
    for (size_t i = 0; i < g->n_initializer && r == MK_OK; i++) {
        ox_val *v = mk_onnx_define(c, g->initializer[i]->name ? g->initializer[i]->name : "");
        r = v ? mk_onnx_tensor(c, g->initializer[i], v) : fail(c);
    }
    for (int i = 0; i < s->ns + s->nm && r == MK_OK; i++) {
        ox_val *v = mk_onnx_define(c, vname(g->input[i]));
        if (!v)
            r = fail(c);
        else
            mk_onnx_set(v, i < s->ns ? st[i] : xs[i - s->ns]);
    }
    if (r == MK_OK) r = mk_onnx_lower_nodes(c, g);
    for (int i = 0; i < s->ns + s->nk && r == MK_OK; i++) {
        ox_val *v = mk_onnx_lookup(c, vname(g->output[i]));
        if (!v)
            r = mk_err_set(c->err, MK_EINVAL, "%s: Scan body output '%s' not produced", c->file,
                           vname(g->output[i]));
        else if (v->poisoned)
            r = MK_EUNSUPPORTED;
        else if (!(res[i] = mk_onnx_mil(c, v)))
            r = fail(c);
    }
    c->scope = sc->parent;
    mk_strmap_free(&sc->vals);
    if (r == MK_EUNSUPPORTED)
        return mk_onnx_unsupported(c, s->n, "the body holds unsupported nodes");
    return r;
}

OX_LOWER(mk_onnx_lower_scan)
{
    const Onnx__AttributeProto *ba = mk_onnx_attr(n, "body");
    scan_ctx s = {n, ba ? ba->g : NULL, 0, 0, 0, 0};
    int v8 = c->opset < 9, first = v8 ? 1 : 0;
    if (!s.g) return mk_err_set(c->err, MK_EINVAL, "%s: Scan without a body", c->file);
    if (v8 && n_in > 0 && in[0])
        return mk_onnx_unsupported(c, n, "sequence_lens (per-batch scan lengths)");
    s.nm = (int)mk_onnx_attr_i(n, "num_scan_inputs", 0);
    s.ns = n_in - first - s.nm;
    s.nk = n_out - s.ns;
    if (s.nm < 1 || s.ns < 0 || s.nk < 0 || (int)s.g->n_input != s.ns + s.nm ||
        (int)s.g->n_output != s.ns + s.nk || s.ns + s.nm > 64 || s.ns + s.nk > 64)
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: Scan inputs, outputs and body disagree",
                          c->file, oname(n, 0));
    mk_value *st0[64], *xin[64];
    int64_t T = -1, B = 1;
    int xax[64], xrev[64], oax[64], orev[64];
    for (int i = 0; i < s.ns + s.nm; i++) {
        ox_val *v = in[first + i];
        mk_value *m = v ? mil(c, v) : NULL;
        if (!m) return v ? fail(c) : mk_onnx_unsupported(c, n, "missing Scan input");
        if (m->type.rank < (v8 ? 1 : 0)) return mk_onnx_unsupported(c, n, "unknown ranks");
        if (i < s.ns) {
            st0[i] = m;
            if (v8) B = m->type.dims[0];
            continue;
        }
        int j = i - s.ns;
        int64_t a = 0, d = 0;
        if (!ints_at(n, v8 ? "directions" : "scan_input_directions", s.nm, j, &d) ||
            (!v8 && !ints_at(n, "scan_input_axes", s.nm, j, &a)))
            return mk_err_set(c->err, MK_EINVAL,
                              "%s: node %s: scan axes or directions do not "
                              "match the scan inputs",
                              c->file, oname(n, 0));
        int ax;
        if (!norm_axis(v8 ? 1 : a, m->type.rank, &ax) || m->type.rank < 1)
            return mk_err_set(c->err, MK_EINVAL, "%s: node %s: scan axis out of range", c->file,
                              oname(n, 0));
        int64_t len = m->type.dims[ax];
        if (len < 0 || (T >= 0 && len != T))
            return mk_onnx_unsupported(c, n,
                                       "scan length must be a static dim shared by the "
                                       "scan inputs");
        T = len;
        if (v8) B = m->type.dims[0];
        xin[j] = m, xax[j] = ax - (v8 ? 1 : 0), xrev[j] = d != 0;
    }
    if (T < 1 || T > SCAN_MAX_STEPS || B < 1 || B * T > SCAN_MAX_STEPS)
        return mk_onnx_unsupported(c, n, "scan of %lld steps (unrolled: 1..%d)", (long long)(T * B),
                                   SCAN_MAX_STEPS);
    for (int j = 0; j < s.nk; j++) {
        int64_t a = 0, d = 0;
        if (!v8 && (!ints_at(n, "scan_output_directions", s.nk, j, &d) ||
                    !ints_at(n, "scan_output_axes", s.nk, j, &a)))
            return mk_err_set(c->err, MK_EINVAL,
                              "%s: node %s: scan output axes or directions "
                              "do not match",
                              c->file, oname(n, 0));
        oax[j] = (int)a, orev[j] = d != 0;
    }
    size_t per = (size_t)(s.ns + s.nk);
    mk_value **all = mk_arena_array(c->p->arena, per * (size_t)(B * T) + 1, sizeof *all);
    mk_value **fin = mk_arena_array(c->p->arena, (size_t)(s.ns * B + s.nk * B) + 1, sizeof *fin);
    if (!all || !fin) return fail(c);
    for (int64_t b = 0; b < B; b++) {
        mk_value *cur[64], *xb[64], *xs[64];
        for (int i = 0; i < s.ns; i++)
            if (!(cur[i] = v8 ? take(c, st0[i], 0, b) : st0[i])) return fail(c);
        for (int j = 0; j < s.nm; j++)
            if (!(xb[j] = v8 ? take(c, xin[j], 0, b) : xin[j])) return fail(c);
        for (int64_t t = 0; t < T; t++) {
            for (int j = 0; j < s.nm; j++)
                if (!(xs[j] = take(c, xb[j], xax[j], xrev[j] ? T - 1 - t : t))) return fail(c);
            mk_value **res = all + per * (size_t)(b * T + t);
            mk_status r = body(c, &s, cur, xs, res);
            if (r != MK_OK) return r;
            for (int i = 0; i < s.ns; i++) cur[i] = res[i];
        }
        for (int i = 0; i < s.ns; i++) fin[(size_t)i * (size_t)B + (size_t)b] = cur[i];
    }
    for (int i = 0; i < s.ns; i++) {
        if (!oname(n, i)) continue;
        mk_value *v = v8 ? stack(c, fin + (size_t)i * (size_t)B, B, 0, oname(n, i)) : fin[i];
        if (!v) return fail(c);
        mk_onnx_set(out[i], v);
    }
    mk_value **steps = mk_arena_array(c->p->arena, (size_t)T, sizeof *steps);
    mk_value **per_b = mk_arena_array(c->p->arena, (size_t)B, sizeof *per_b);
    if (!steps || !per_b) return fail(c);
    for (int j = 0; j < s.nk; j++) {
        if (!oname(n, s.ns + j)) continue;
        for (int64_t b = 0; b < B; b++) {
            for (int64_t t = 0; t < T; t++)
                steps[orev[j] ? T - 1 - t : t] =
                    all[per * (size_t)(b * T + t) + (size_t)s.ns + (size_t)j];
            int r = steps[0]->type.rank + 1, ax;
            if (!norm_axis(oax[j], r, &ax))
                return mk_err_set(c->err, MK_EINVAL, "%s: node %s: scan output axis out of range",
                                  c->file, oname(n, 0));
            per_b[b] = stack(c, steps, T, ax, v8 ? NULL : oname(n, s.ns + j));
            if (!per_b[b]) return fail(c);
        }
        mk_value *v = v8 ? stack(c, per_b, B, 0, oname(n, s.ns + j)) : per_b[0];
        if (!v) return fail(c);
        mk_onnx_set(out[s.ns + j], v);
    }
    return MK_OK;
}
