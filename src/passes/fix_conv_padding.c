/* Symptom: an ML Program conv computes the last row/column wrong when its declared trailing
 *          padding is not fully used by the last window.
 * Scope: conv with pad_type "custom", static spatial input sizes and constant geometry, where
 *        some axis has pad_end > (out - 1) * s + (k - 1) * d + 1 - in - pad_begin.
 * Evidence: H2 (coremltools issue #2515; the trigger is our hypothesis from the repro).
 * Rewrite: (a) pad_end' = max(0, that value): same output shape and values, the unused
 *          padding disappears; (b, opt-in pass) explicit constant pad op + pad_type valid. */
#include <string.h>

#include "passes_int.h"

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
    mk_conv_pad g;
    if (!mk_ir_conv_unused_pad(op, &g)) return 0;
    int32_t pad[6];
    for (int i = 0; i < g.ns; i++) {
        pad[2 * i] = (int32_t)g.pad[2 * i];
        pad[2 * i + 1] = (int32_t)g.need[i];
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
    mk_conv_pad g;
    if (!mk_ir_conv_unused_pad(op, &g)) return 0;
    const mk_value *x = mk_ir_arg(op, "x");
    int32_t pad[6];
    int any = 0;
    for (int i = 0; i < g.ns; i++) {
        pad[2 * i] = (int32_t)g.pad[2 * i];
        pad[2 * i + 1] = (int32_t)g.need[i];
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
