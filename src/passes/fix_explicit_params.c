/* Symptom: MIL parameters left at defaults that differ from what source frameworks mean:
 *          hidden epsilons (inverse 1e-4, rsqrt 1e-12, log 1e-45), upsample_bilinear
 *          align_corners=true, resize_bilinear sampling_mode DEFAULT and gelu mode EXACT.
 * Scope: those ops when the parameter is not bound.
 * Evidence: H15 (coremltools elementwise_unary op docs), H16 (image_resizing op docs), H39
 *           (coremltools PR #2863).
 * Rewrite: bind the default value explicitly - the numbers do not change, but the program
 *          now says what it computes. */
#include <string.h>

#include "passes_int.h"

typedef struct dflt {
    mk_op_kind kind;
    const char *param;
    char type; /* 'f' float in x's dtype, 'b' bool, 's' string */
    double f;
    const char *s;
} dflt;

static const dflt defaults[] = {
    {MK_OP_INVERSE, "epsilon", 'f', 1e-4, NULL},
    {MK_OP_RSQRT, "epsilon", 'f', 1e-12, NULL},
    {MK_OP_LOG, "epsilon", 'f', 1e-45, NULL},
    {MK_OP_UPSAMPLE_BILINEAR, "align_corners", 'b', 1, NULL},
    {MK_OP_RESIZE_BILINEAR, "sampling_mode", 's', 0, "DEFAULT"},
    {MK_OP_GELU, "mode", 's', 0, "EXACT"},
};

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int n = 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    for (size_t i = 0; i < sizeof defaults / sizeof *defaults; i++) {
        const dflt *d = &defaults[i];
        if (d->kind != op->kind || mk_ir_arg(op, d->param) || mk_ir_attr(op, d->param)) continue;
        const mk_value *x = mk_ir_arg(op, "x");
        char base[96];
        snprintf(base, sizeof base, "%s_%s", op->name ? op->name : "op", d->param);
        mk_value *v;
        if (d->type == 'f') {
            if (!x || !mk_dtype_is_float(x->type.dtype)) continue;
            v = mk_pb_float(&b, base, x->type.dtype, d->f);
        } else if (d->type == 'b') {
            v = mk_pb_bool(&b, base, d->f != 0);
        } else {
            v = mk_pb_str(&b, base, d->s);
        }
        mk_pb_in(&b, op, d->param, v);
        n = 1;
    }
    return mk_pb_done(&b, n);
}

int mk_pass_fix_explicit_params(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
