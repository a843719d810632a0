/* Symptom: an ML Program conv computes the last row/column wrong when its declared trailing
 *          padding is not fully used by the last window.
 * Scope: conv with pad_type "custom", static spatial input sizes and constant geometry, where
 *        some axis has pad_end > (out - 1) * s + (k - 1) * d + 1 - in - pad_begin.
 * Evidence: H2 (coremltools issue #2515; the trigger is our hypothesis from the repro).
 * Rewrite: (a) pad_end' = max(0, that value): same output shape and values, the unused
 *          padding disappears; (b, opt-in pass) explicit constant pad op + pad_type valid. */
#include <string.h>

#include "passes_int.h"

typedef struct geo {
    int ns;
    int64_t in[3], k[3], s[3], d[3], pad[6];
} geo;

static int get(const mk_op *op, geo *g)
{
    const mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight");
    const char *pt = mk_ir_arg_str(op, "pad_type");
    if (op->kind != MK_OP_CONV || !x || !w || !pt || strcmp(pt, "custom") != 0) return 0;
    if (x->type.rank < 3 || x->type.rank > 5 || w->type.rank != x->type.rank) return 0;
    memset(g, 0, sizeof *g);
    g->ns = x->type.rank - 2;
    int64_t v[6];
    int n;
    for (int i = 0; i < g->ns; i++) {
        g->in[i] = x->type.dims[2 + i];
        g->k[i] = w->type.dims[2 + i];
        g->s[i] = g->d[i] = 1;
        if (g->in[i] < 0 || g->k[i] <= 0) return 0;
    }
    if (mk_ir_arg(op, "strides") && !(mk_ir_arg_i64s(op, "strides", v, 3, &n) && n == g->ns))
        return 0;
    if (mk_ir_arg(op, "strides"))
        for (int i = 0; i < n; i++) g->s[i] = v[i];
    if (mk_ir_arg(op, "dilations") && !(mk_ir_arg_i64s(op, "dilations", v, 3, &n) && n == g->ns))
        return 0;
    if (mk_ir_arg(op, "dilations"))
        for (int i = 0; i < n; i++) g->d[i] = v[i];
    if (!mk_ir_arg_i64s(op, "pad", g->pad, 6, &n) || n != 2 * g->ns) return 0;
    for (int i = 0; i < g->ns; i++)
        if (g->s[i] <= 0 || g->d[i] <= 0) return 0;
    return 1;
}

/* Needed trailing pad per axis; returns 1 when some axis declares more than it needs. */
static int normalise(const geo *g, int64_t *pe)
{
    int changed = 0;
    for (int i = 0; i < g->ns; i++) {
        int64_t keff = (g->k[i] - 1) * g->d[i] + 1, pbeg = g->pad[2 * i], e = g->pad[2 * i + 1];
        int64_t span = g->in[i] + pbeg + e - keff;
        pe[i] = e;
        if (span < 0) return 0;
        int64_t out = span / g->s[i] + 1;
        int64_t need = (out - 1) * g->s[i] + keff - g->in[i] - pbeg;
        if (need < 0) need = 0;
        if (need < e) {
            pe[i] = need;
            changed = 1;
        }
    }
    return changed;
}

static void rebind(mk_op *op, const char *param, mk_value *v)
{
    for (int i = 0; i < op->n_inputs; i++)
        if (strcmp(op->inputs[i].name, param) == 0 && op->inputs[i].n_args) {
            op->inputs[i].args[0] = v;
            return;
        }
}

static int trim(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    geo g;
    int64_t pe[3];
    if (!get(op, &g) || !normalise(&g, pe)) return 0;
    int32_t pad[6];
    for (int i = 0; i < g.ns; i++) {
        pad[2 * i] = (int32_t)g.pad[2 * i];
        pad[2 * i + 1] = (int32_t)pe[i];
    }
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *nv = mk_pb_i32s(&b, "h2_pad", 2 * g.ns, pad);
    if (nv) rebind(op, "pad", nv);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_conv_padding(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, trim, NULL, e);
}

static int explicit_pad(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    geo g;
    int64_t pe[3];
    if (!get(op, &g) || !normalise(&g, pe)) return 0;
    const mk_value *x = mk_ir_arg(op, "x");
    int32_t pad[6];
    int any = 0;
    for (int i = 0; i < g.ns; i++) {
        pad[2 * i] = (int32_t)g.pad[2 * i];
        pad[2 * i + 1] = (int32_t)pe[i];
        any |= pad[2 * i] | pad[2 * i + 1];
    }
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *xin = mk_ir_arg(op, "x");
    if (any) {
        mk_op *po = mk_pb_op(&b, MK_OP_PAD, "h2_pad");
        mk_pb_in(&b, po, "x", xin);
        mk_pb_in(&b, po, "pad", mk_pb_i32s(&b, "h2_pad_amounts", 2 * g.ns, pad));
        mk_pb_in(&b, po, "mode", mk_pb_str(&b, "h2_pad_mode", "constant"));
        mk_pb_in(&b, po, "constant_val", mk_pb_float(&b, "h2_pad_val", x->type.dtype, 0.0));
        xin = mk_pb_emit(&b, po);
    }
    mk_op *cv = mk_pb_op(&b, MK_OP_CONV, "h2_conv_valid");
    static const char *const skip[] = {"x", "pad", "pad_type", NULL};
    mk_pb_in(&b, cv, "x", xin);
    mk_pb_copy_inputs(&b, op, cv, skip);
    mk_pb_in(&b, cv, "pad_type", mk_pb_str(&b, "h2_pad_type", "valid"));
    mk_value *y = mk_pb_emit(&b, cv);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_conv_padding_explicit(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, explicit_pad, NULL, e);
}
