/* Per-channel int8 weights (`milkit convert --weights int8`): every constant fp32/fp16 weight
 * of linear/conv/conv_transpose with at least 4096 elements becomes symmetric int8 (zero point
 * 0, scale max|w|/127 per output channel) decompressed at load time by
 * constexpr_affine_dequantize (parameters as attributes) on iOS16/17 and
 * constexpr_blockwise_shift_scale (parameters as inputs) on iOS18. The output channel is axis 0
 * of linear/conv weights [Cout, Cin/g, K..] and axis 1 of conv_transpose's [Cin, Cout/g, K..].
 * Scales keep the weight's float dtype, so it composes with the fp16 pass in either order.
 * A weight shared by several ops is quantized once. iOS15 has no constexpr ops: refused. */
#include <math.h>
#include <string.h>

#include "passes_int.h"

#define MIN_ELEMS 4096

typedef struct qctx {
    mk_strmap done; /* weight value name -> its dequantized value */
    int ios;
} qctx;

static mk_value *quantize_weight(mk_program *p, qctx *qc, mk_op *op, mk_value *w, int ax, mk_err *e)
{
    size_t n = 0;
    int64_t ch = w->type.dims[ax];
    size_t inner = 1, outer = 1, es = w->type.dtype == MK_DT_FP16 ? 2 : 4;
    if (!mk_type_numel(&w->type, &n) || ch <= 0) return NULL;
    for (int i = 0; i < w->type.rank; i++)
        if (i < ax)
            outer *= (size_t)w->type.dims[i];
        else if (i > ax)
            inner *= (size_t)w->type.dims[i];
    int8_t *q = mk_arena_alloc(p->arena, n);
    int8_t *zp = mk_arena_alloc(p->arena, (size_t)ch);
    unsigned char *sc = mk_arena_alloc(p->arena, (size_t)ch * es);
    if (!q || !zp || !sc) return MK_OOM(e), NULL;
    for (int64_t c = 0; c < ch; c++) {
        double mx = 0;
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) {
                double v = fabs(mk_const_get_f64(w, (o * (size_t)ch + (size_t)c) * inner + i));
                if (v > mx && isfinite(v)) mx = v;
            }
        float s = mx > 0 ? (float)(mx / 127.0) : 1.0f;
        if (es == 2) {
            uint16_t h = mk_f32_to_f16(s);
            if (mk_f16_to_f32(h) == 0) h = mk_f32_to_f16(1); /* scale below fp16 range */
            s = mk_f16_to_f32(h);
            memcpy(sc + (size_t)c * 2, &h, 2);
        } else {
            memcpy(sc + (size_t)c * 4, &s, 4);
        }
        for (size_t o = 0; o < outer; o++)
            for (size_t i = 0; i < inner; i++) {
                size_t k = (o * (size_t)ch + (size_t)c) * inner + i;
                double v = mk_const_get_f64(w, k) / s;
                long r = isfinite(v) ? lround(v) : v > 0 ? 127 : -127;
                q[k] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
            }
    }
    mk_type qt = w->type;
    qt.dtype = MK_DT_INT8;
    char base[256];
    snprintf(base, sizeof base, "%s_int8", w->name ? w->name : "weight");
    mk_op *cx;
    mk_value *qd = mk_ir_const_value(p, &qt, q, n, 1);
    if (!qd) return MK_OOM(e), NULL;
    if (qc->ios >= 18) {
        cx = mk_ir_op_new(p, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, base);
        mk_type st = w->type;
        for (int i = 0; i < st.rank; i++) st.dims[i] = i == ax ? ch : 1;
        mk_value *sv = mk_ir_const_value(p, &st, sc, (size_t)ch * es, 1);
        if (!cx || !sv) return MK_OOM(e), NULL;
        qd->is_inline = sv->is_inline = 1;
        if (!mk_ir_op_add_input(p, cx, "data", qd) || !mk_ir_op_add_input(p, cx, "scale", sv))
            return MK_OOM(e), NULL;
    } else {
        cx = mk_ir_op_new(p, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, base);
        mk_type zt = mk_type_make(MK_DT_INT8, 1, &ch);
        mk_type st = mk_type_make(w->type.dtype, 1, &ch);
        mk_type at = mk_type_scalar(MK_DT_INT32);
        int32_t axis = ax;
        mk_value *zv = mk_ir_const_value(p, &zt, zp, (size_t)ch, 1);
        mk_value *sv = mk_ir_const_value(p, &st, sc, (size_t)ch * es, 1);
        mk_value *av = mk_ir_const_value(p, &at, &axis, 4, 0);
        if (!cx || !zv || !sv || !av || !mk_ir_op_add_attr(p, cx, "quantized_data", qd) ||
            !mk_ir_op_add_attr(p, cx, "zero_point", zv) || !mk_ir_op_add_attr(p, cx, "scale", sv) ||
            !mk_ir_op_add_attr(p, cx, "axis", av))
            return MK_OOM(e), NULL;
    }
    mk_value *out = mk_ir_op_add_output(p, cx, NULL, &w->type);
    if (!out) return MK_OOM(e), NULL;
    cx->name = out->name;
    /* right after the weight's const op (visible to every user), else before this op */
    if (w->producer)
        mk_ir_insert_after(w->producer, cx);
    else
        mk_ir_insert_before(op, cx);
    if (mk_ir_infer_op(cx, e) != MK_OK) return NULL;
    return out;
}

static int visit(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    qctx *qc = ctx;
    int ax;
    if (op->kind == MK_OP_LINEAR || op->kind == MK_OP_CONV)
        ax = 0;
    else if (op->kind == MK_OP_CONV_TRANSPOSE)
        ax = 1;
    else
        return 0;
    mk_value *w = mk_ir_arg(op, "weight");
    size_t n = 0;
    if (!w || !w->cst || !w->cst->data || w->type.rank < 2 || !mk_type_is_static(&w->type) ||
        !mk_type_numel(&w->type, &n) || n < MIN_ELEMS)
        return 0;
    if (w->type.dtype != MK_DT_FP32 && w->type.dtype != MK_DT_FP16) return 0;
    mk_value *dq = w->name ? mk_strmap_get(&qc->done, w->name) : NULL;
    if (!dq) {
        if (!(dq = quantize_weight(p, qc, op, w, ax, e))) return -1;
        if (w->name && !mk_strmap_put(&qc->done, w->name, dq)) return MK_OOM(e), -1;
    }
    for (int i = 0; i < op->n_inputs; i++)
        if (!strcmp(op->inputs[i].name, "weight")) op->inputs[i].args[0] = dq;
    return 1;
}

int mk_pass_quantize_int8(mk_program *p, mk_err *e)
{
    qctx qc;
    qc.ios = mk_ir_ios_for_spec(p->spec_version);
    if (qc.ios < 16)
        return mk_err_set(e, MK_EUNSUPPORTED,
                          "int8 weights need an iOS16 or newer target: this program is iOS%d, "
                          "which has no constexpr_affine_dequantize",
                          qc.ios ? qc.ios : 15),
               -1;
    mk_strmap_init(&qc.done, p->alloc);
    int n = mk_pass_each_op(p, visit, &qc, e);
    mk_strmap_free(&qc.done);
    if (n <= 0) return n;
    int d = mk_pass_dce(p, e);
    return d < 0 ? -1 : n;
}
