/* Symptom: conv_transpose with output_shape or asymmetric padding gives results that depend
 *          on the compute unit (and shift by one position in fp16).
 * Scope: conv_transpose with pad_type custom or valid, constant geometry, static input and
 *        output spatial sizes, and output_shape bound or pad_begin != pad_end on some axis;
 *        only when the wanted window lies inside the full (unpadded) result.
 * Evidence: H3 (coremltools #2324, #2281; onnxruntime PR #21416 and its conv_transpose
 *           builder, which refuses these forms).
 * Rewrite: conv_transpose with pad_type valid, no pad, no output_shape (full length
 *          F = (in - 1) s + (k - 1) d + 1 per axis), then slice_by_index [pb, pb + out). */
#include <string.h>

#include "passes_int.h"

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    mk_ct_crop cc;
    if (!mk_ir_conv_transpose_crop(op, &cc) || !cc.fixable) return 0;
    const mk_value *x = mk_ir_arg(op, "x");
    uint8_t bm[5] = {1, 1, 0, 0, 0}, em[5] = {1, 1, 0, 0, 0};
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *ct = mk_pb_op(&b, MK_OP_CONV_TRANSPOSE, "h3_conv_transpose_valid");
    static const char *const skip[] = {"pad", "pad_type", "output_shape", NULL};
    mk_pb_copy_inputs(&b, op, ct, skip);
    mk_pb_in(&b, ct, "pad_type", mk_pb_str(&b, "h3_pad_type", "valid"));
    mk_value *full = mk_pb_emit(&b, ct);
    int r = x->type.rank;
    mk_op *sl = mk_pb_op(&b, MK_OP_SLICE_BY_INDEX, "h3_crop");
    mk_pb_in(&b, sl, "x", full);
    mk_pb_in(&b, sl, "begin", mk_pb_i32s(&b, "h3_begin", r, cc.beg));
    mk_pb_in(&b, sl, "end", mk_pb_i32s(&b, "h3_end", r, cc.end));
    mk_pb_in(&b, sl, "begin_mask", mk_pb_bools(&b, "h3_begin_mask", r, bm));
    mk_pb_in(&b, sl, "end_mask", mk_pb_bools(&b, "h3_end_mask", r, em));
    mk_value *y = mk_pb_emit(&b, sl);
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

int mk_pass_fix_conv_transpose_pad(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
