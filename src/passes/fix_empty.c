/* Symptom: Core ML rejects zero-sized tensors; empty slices feeding concat (typical of
 *          full-head rotary embeddings) make the model fail or shatter into partitions.
 * Scope: concat with at least one input whose static shape has a zero dimension along the
 *        concat axis (or anywhere) while some other input is non-empty.
 * Evidence: H22 (onnxruntime CoreML helper.cc and slice builder refuse 0-sized shapes).
 * Rewrite: drop the empty inputs from the values tuple; a concat left with one input
 *          becomes identity. The producers of the empty tensors then die in DCE. */
#include <string.h>

#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int fixable = 0;
    if (!mk_ir_concat_empty_inputs(op, &fixable) || !fixable) return 0;
    mk_input *in = NULL;
    for (int i = 0; i < op->n_inputs; i++)
        if (op->inputs[i].n_args && !strcmp(op->inputs[i].name, "values")) in = &op->inputs[i];
    if (!in) return 0;
    int k = 0;
    for (int j = 0; j < in->n_args; j++)
        if (!mk_ir_type_has_zero_dim(&in->args[j]->type)) in->args[k++] = in->args[j];
    in->n_args = k;
    if (k > 1) return 1;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *y = mk_pb_unary(&b, MK_OP_IDENTITY, "h22_identity", in->args[0]);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_empty(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
