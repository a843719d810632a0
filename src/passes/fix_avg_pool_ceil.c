/* Symptom: avg_pool with ceil_mode=true, exclude_padding_from_average=false: the last window
 *          hangs past the (padded) input and Core ML divides it by the whole kernel, where the
 *          source framework (PyTorch AvgPool ceil_mode, ONNX AveragePool) divides by the
 *          elements inside input + explicit pads, so edge outputs come out too small.
 * Scope: exactly the ops lint H17 flags (mk_ir_avg_pool_overhang), 1-D/2-D, pad_type valid
 *        or custom; opt-in (milkit fix --only H17): it changes Core ML's output on purpose.
 * Evidence: H17 (coremltools issue #2772, PR #2844); mk_fix checks the result against the
 *           original run with the interpreter's source-framework semantics.
 * Rewrite: no explicit pads -> the same op with exclude_padding_from_average=true; explicit
 *          pads -> pad(constant 0) on the spatial axes + avg_pool(pad_type=valid, ceil_mode,
 *          exclude_padding_from_average=true), kept only when the output type is unchanged. */
#include <string.h>

#include "passes_int.h"

/* Unlinks the ops a failed rewrite inserted between `after` (exclusive) and `op`. */
static void roll_back(mk_op *after, mk_op *op)
{
    mk_op *first = after ? after->next : op->parent->first;
    for (mk_op *o = first, *next; o && o != op; o = next) {
        next = o->next;
        mk_ir_unlink(o);
    }
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_pool_overhang g;
    if (!mk_ir_avg_pool_overhang(op, &g) || g.ns > 2 || !(g.valid || g.custom)) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    if (!g.explicit_pads) {
        mk_pb_set(&b, op, "exclude_padding_from_average", mk_pb_bool(&b, "h17_exclude", 1));
        return mk_pb_done(&b, 1);
    }
    mk_value *x = mk_ir_arg(op, "x"), *y = op->outputs[0];
    mk_op *before = op->prev;
    int32_t pad[4];
    for (int i = 0; i < 2 * g.ns; i++) {
        if (g.pad[i] > INT32_MAX) return 0;
        pad[i] = (int32_t)g.pad[i];
    }
    mk_op *po = mk_pb_op(&b, MK_OP_PAD, "h17_pad");
    mk_pb_in(&b, po, "x", x);
    mk_pb_in(&b, po, "pad", mk_pb_i32s(&b, "h17_pad_amounts", 2 * g.ns, pad));
    mk_pb_in(&b, po, "mode", mk_pb_str(&b, "h17_pad_mode", "constant"));
    mk_pb_in(&b, po, "constant_val", mk_pb_float(&b, "h17_pad_val", x->type.dtype, 0.0));
    mk_value *xp = mk_pb_emit(&b, po);
    mk_op *ap = mk_pb_op(&b, MK_OP_AVG_POOL, "h17_avg_pool");
    static const char *const skip[] = {"x", "pad", "pad_type", "exclude_padding_from_average",
                                       NULL};
    mk_pb_in(&b, ap, "x", xp);
    mk_pb_copy_inputs(&b, op, ap, skip);
    mk_pb_in(&b, ap, "pad_type", mk_pb_str(&b, "h17_pad_type", "valid"));
    mk_pb_in(&b, ap, "exclude_padding_from_average", mk_pb_bool(&b, "h17_exclude", 1));
    mk_value *ny = mk_pb_emit(&b, ap);
    if (b.failed) {
        if (e->code != MK_ENOMEM) {
            /* the new form does not type-check (e.g. a pad the target refuses): leave it */
            roll_back(before, op);
            e->code = MK_OK;
            e->msg[0] = 0;
            return 0;
        }
        return -1;
    }
    if (!mk_type_equal(&ny->type, &y->type)) {
        roll_back(before, op);
        return 0;
    }
    mk_pb_replace(&b, y, ny);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_avg_pool_ceil(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
