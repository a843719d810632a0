/* Per-channel int8 weights (for `milkit convert --weights int8`): every constant fp32/fp16
 * weight of linear/conv/conv_transpose with at least 4096 elements becomes symmetric int8
 * with one scale per output channel (axis 0), decompressed at load time:
 * constexpr_affine_dequantize (parameters as attributes) for iOS16/17, and
 * constexpr_blockwise_shift_scale (parameters as inputs) for iOS18. iOS15 has neither. */
#include <math.h>
#include <string.h>

#include "passes_int.h"

#define MIN_ELEMS 4096

static int quantize_weight(mk_program *p, mk_op *op, mk_err *e) {
    mk_value *w = mk_ir_arg(op, "weight");
    size_t n = 0;
    if (!w || !w->cst || !w->cst->data || w->type.rank < 2 || !mk_type_numel(&w->type, &n) ||
        n < MIN_ELEMS)
        return 0;
    if (w->type.dtype != MK_DT_FP32 && w->type.dtype != MK_DT_FP16) return 0;
    int64_t ch = w->type.dims[0];
    if (ch <= 0 || n % (size_t)ch) return 0;
    size_t per = n / (size_t)ch, es = w->type.dtype == MK_DT_FP16 ? 2 : 4;
    int8_t *q = mk_arena_alloc(p->arena, n);
    int8_t *zp = mk_arena_alloc(p->arena, (size_t)ch);
    unsigned char *sc = mk_arena_alloc(p->arena, (size_t)ch * es);
    if (!q || !zp || !sc) return MK_OOM(e), -1;
    for (int64_t c = 0; c < ch; c++) {
        double mx = 0;
        for (size_t i = 0; i < per; i++) {
            double v = fabs(mk_const_get_f64(w, (size_t)c * per + i));
            if (v > mx) mx = v;
        }
        float s = mx > 0 ? (float)(mx / 127.0) : 1.0f;
        if (es == 2) {
            uint16_t h = mk_f32_to_f16(s);
            s = mk_f16_to_f32(h);
            if (s == 0) s = 1, h = mk_f32_to_f16(1);
            memcpy(sc + (size_t)c * 2, &h, 2);
        } else {
            memcpy(sc + (size_t)c * 4, &s, 4);
        }
        for (size_t i = 0; i < per; i++) {
            double v = mk_const_get_f64(w, (size_t)c * per + i) / s;
            long r = lround(v);
            q[(size_t)c * per + i] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
        }
    }
    int ios = mk_ir_ios_for_spec(p->spec_version);
    mk_type qt = w->type;
    qt.dtype = MK_DT_INT8;
    pb b;
    pb_init(&b, p, op, e);
    mk_op *cx;
    if (ios >= 18) {
        cx = pb_op(&b, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, "int8_weight");
        mk_type st = w->type;
        for (int i = 1; i < st.rank; i++)
            st.dims[i] = 1;
        mk_value *qd = mk_ir_const_value(p, &qt, q, n, 1);
        mk_value *sv = mk_ir_const_value(p, &st, sc, (size_t)ch * es, 1);
        if (!qd || !sv) return MK_OOM(e), -1;
        qd->is_inline = sv->is_inline = 1;
        pb_in(&b, cx, "data", qd);
        pb_in(&b, cx, "scale", sv);
    } else if (ios >= 16) {
        cx = pb_op(&b, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, "int8_weight");
        mk_type zt = mk_type_make(MK_DT_INT8, 1, &ch);
        mk_type st = mk_type_make(w->type.dtype, 1, &ch);
        mk_type at = mk_type_scalar(MK_DT_INT32);
        int32_t axis = 0;
        mk_value *qd = mk_ir_const_value(p, &qt, q, n, 1);
        mk_value *zv = mk_ir_const_value(p, &zt, zp, (size_t)ch, 1);
        mk_value *sv = mk_ir_const_value(p, &st, sc, (size_t)ch * es, 1);
        mk_value *av = mk_ir_const_value(p, &at, &axis, 4, 0);
        if (!cx || !qd || !zv || !sv || !av || !mk_ir_op_add_attr(p, cx, "quantized_data", qd) ||
            !mk_ir_op_add_attr(p, cx, "zero_point", zv) || !mk_ir_op_add_attr(p, cx, "scale", sv) ||
            !mk_ir_op_add_attr(p, cx, "axis", av))
            return MK_OOM(e), -1;
    } else {
        return 0;
    }
    if (!cx) return -1;
    mk_value *out = mk_ir_op_add_output(p, cx, NULL, &w->type);
    if (!out) return MK_OOM(e), -1;
    cx->name = out->name;
    mk_ir_insert_before(op, cx);
    pb_set(&b, op, "weight", out);
    return pb_done(&b, 1);
}

static int visit(void *ctx, mk_program *p, mk_op *op, mk_err *e) {
    (void)ctx;
    if (op->kind != MK_OP_LINEAR && op->kind != MK_OP_CONV && op->kind != MK_OP_CONV_TRANSPOSE)
        return 0;
    return quantize_weight(p, op, e);
}

int mk_pass_quantize_int8(mk_program *p, mk_err *e) {
    if (mk_ir_ios_for_spec(p->spec_version) < 16)
        return mk_err_set(e, MK_EUNSUPPORTED,
                          "int8 weights need an iOS16 or newer target (this program is iOS%d)",
                          mk_ir_ios_for_spec(p->spec_version)),
               -1;
    int n = pass_each_op(p, visit, NULL, e);
    if (n <= 0) return n;
    int d = mk_pass_dce(p, e);
    return d < 0 ? -1 : n;
}
