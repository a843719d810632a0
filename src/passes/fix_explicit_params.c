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

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    const mk_hidden_default *d = mk_ir_hidden_default(op);
    if (!d) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    char base[96];
    snprintf(base, sizeof base, "%s_%s", op->name ? op->name : "op", d->param);
    mk_value *v = d->type == 'f'   ? mk_pb_float(&b, base, mk_ir_arg(op, "x")->type.dtype, d->f)
                  : d->type == 'b' ? mk_pb_bool(&b, base, d->f != 0)
                                   : mk_pb_str(&b, base, d->s);
    mk_pb_in(&b, op, d->param, v);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_explicit_params(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
