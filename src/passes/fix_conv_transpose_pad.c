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
    if (op->kind != MK_OP_CONV_TRANSPOSE || !op->n_outputs) return 0;
    const mk_value *x = mk_ir_arg(op, "x"), *w = mk_ir_arg(op, "weight");
    const mk_type *yt = &op->outputs[0]->type;
    if (!x || !w || x->type.rank < 3 || x->type.rank > 5 || yt->rank != x->type.rank) return 0;
    const char *pt = mk_ir_arg_str(op, "pad_type");
    if (!pt) pt = "valid";
    int custom = strcmp(pt, "custom") == 0;
    if (!custom && strcmp(pt, "valid") != 0) return 0;
    int ns = x->type.rank - 2, n;
    int64_t s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pad[6] = {0}, v[6];
    if (mk_ir_arg(op, "strides")) {
        if (!mk_ir_arg_i64s(op, "strides", v, 3, &n) || n != ns) return 0;
        memcpy(s, v, sizeof(int64_t) * (size_t)ns);
    }
    if (mk_ir_arg(op, "dilations")) {
        if (!mk_ir_arg_i64s(op, "dilations", v, 3, &n) || n != ns) return 0;
        memcpy(d, v, sizeof(int64_t) * (size_t)ns);
    }
    if (custom && mk_ir_arg(op, "pad")) {
        if (!mk_ir_arg_i64s(op, "pad", v, 6, &n) || n != 2 * ns) return 0;
        memcpy(pad, v, sizeof(int64_t) * (size_t)n);
    }
    int needed = mk_ir_arg(op, "output_shape") != NULL;
    for (int i = 0; i < ns; i++) needed |= pad[2 * i] != pad[2 * i + 1];
    if (!needed) return 0;
    int32_t beg[5] = {0}, end[5] = {0};
    uint8_t bm[5] = {1, 1, 0, 0, 0}, em[5] = {1, 1, 0, 0, 0};
    for (int i = 0; i < ns; i++) {
        int64_t in = x->type.dims[2 + i], k = w->type.dims[2 + i], out = yt->dims[2 + i];
        if (in < 0 || k <= 0 || out < 0 || s[i] <= 0 || d[i] <= 0) return 0;
        int64_t full = (in - 1) * s[i] + (k - 1) * d[i] + 1;
        if (pad[2 * i] + out > full || full > INT32_MAX) return 0; /* would need zero padding */
        beg[2 + i] = (int32_t)pad[2 * i];
        end[2 + i] = (int32_t)(pad[2 * i] + out);
    }
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
    mk_pb_in(&b, sl, "begin", mk_pb_i32s(&b, "h3_begin", r, beg));
    mk_pb_in(&b, sl, "end", mk_pb_i32s(&b, "h3_end", r, end));
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
