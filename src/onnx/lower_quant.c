/* ONNX quantization ops: QuantizeLinear / DequantizeLinear (per tensor and per axis),
 * DynamicQuantizeLinear, QLinearMatMul, QLinearConv, MatMulInteger and ConvInteger. Constant
 * int8/uint8 weights feeding only conv/matmul weight slots become constexpr dequantize ops from
 * iOS16 (the package keeps the small integers); other constants fold to fp32. Run-time values
 * use float arithmetic (int8/uint8 travel as int32); Q->DQ pairs become fake quantization, or
 * MIL quantize/dequantize from iOS17. Blocked quantization (opset 21 block_size) is refused. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "onnx_int.h"

#define MIN_CONSTEXPR 64 /* smaller quantized weights simply fold to fp32 */

static int ios(const ox_ctx *c)
{
    return mk_ir_ios_for_spec(c->p->spec_version);
}

/* ---- ONNX element types (constants keep canonical INT64, so look the declared type up) ---- */
static int vi_elem(const Onnx__ValueInfoProto *vi)
{
    if (!vi || !vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type)
        return 0;
    return vi->type->tensor_type->elem_type;
}

static int elem_in_graph(const Onnx__GraphProto *g, const char *name, int depth);

static int elem_of_node(const Onnx__GraphProto *g, const Onnx__NodeProto *n, const char *name,
                        int depth)
{
    const char *t = n->op_type;
    if (!strcmp(t, "Constant")) {
        const Onnx__AttributeProto *a = mk_onnx_attr(n, "value");
        return a && a->t ? a->t->data_type : 0;
    }
    if (!strcmp(t, "Cast")) return (int)mk_onnx_attr_i(n, "to", 0);
    if (!strcmp(t, "DynamicQuantizeLinear"))
        return strcmp(n->output[0], name) == 0 || (n->n_output > 2 && !strcmp(n->output[2], name))
                   ? 2
                   : 1;
    if (!strcmp(t, "QuantizeLinear") || !strcmp(t, "QLinearConv") || !strcmp(t, "QLinearMatMul")) {
        int64_t od = mk_onnx_attr_i(n, "output_dtype", 0);
        if (od) return (int)od;
        size_t zi = t[1] == 'u' ? 2 : 7;
        if (n->n_input > zi && n->input[zi] && *n->input[zi])
            return elem_in_graph(g, n->input[zi], depth + 1);
        return 2;
    }
    if (!strcmp(t, "Identity") || !strcmp(t, "Reshape") || !strcmp(t, "Transpose") ||
        !strcmp(t, "Squeeze") || !strcmp(t, "Unsqueeze") || !strcmp(t, "Flatten"))
        return n->n_input ? elem_in_graph(g, n->input[0], depth + 1) : 0;
    return 0;
}

static int elem_in_graph(const Onnx__GraphProto *g, const char *name, int depth)
{
    if (!g || !name || depth > 16) return 0;
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name))
            return g->initializer[i]->data_type;
    for (size_t i = 0; i < g->n_input; i++)
        if (g->input[i]->name && !strcmp(g->input[i]->name, name)) return vi_elem(g->input[i]);
    for (size_t i = 0; i < g->n_node; i++)
        for (size_t k = 0; k < g->node[i]->n_output; k++)
            if (g->node[i]->output[k] && !strcmp(g->node[i]->output[k], name))
                return elem_of_node(g, g->node[i], name, depth);
    for (size_t i = 0; i < g->n_value_info; i++)
        if (g->value_info[i]->name && !strcmp(g->value_info[i]->name, name))
            return vi_elem(g->value_info[i]);
    return 0;
}

static int elem_of(ox_ctx *c, const char *name)
{
    int e = elem_in_graph(c->graph, name, 0);
    if (!e && c->model && c->model->proto) e = elem_in_graph(c->model->proto->graph, name, 0);
    return e;
}

static int qrange(int et, double *lo, double *hi)
{
    switch (et) {
    case 2: *lo = 0, *hi = 255; return 1;
    case 3: *lo = -128, *hi = 127; return 1;
    case 4: *lo = 0, *hi = 65535; return 1;
    case 5: *lo = -32768, *hi = 32767; return 1;
    case 6: *lo = -2147483648.0, *hi = 2147483647.0; return 1;
    default: return 0;
    }
}

/* The quantized element type of a Q/DQ node: output_dtype, else the zero point's or x's
 * declared type, else a guess from constant values (uint8 unless something is negative). */
static int quant_elem(ox_ctx *c, const Onnx__NodeProto *n, ox_val *x, ox_val *zp, int dq)
{
    int et = (int)mk_onnx_attr_i(n, "output_dtype", 0);
    if (!et && n->n_input > 2 && n->input[2] && *n->input[2]) et = elem_of(c, n->input[2]);
    if (!et && dq && n->n_input > 0) et = elem_of(c, n->input[0]);
    if (et) return et;
    ox_val *v[2] = {dq ? x : NULL, zp};
    for (int k = 0; k < 2; k++)
        if (v[k] && v[k]->data)
            for (size_t i = 0, m = mk_onnx_numel(&v[k]->type); i < m; i++)
                if (mk_onnx_cget_i(v[k], i) < 0) return 3;
    return 2;
}

OX_WHY(mk_onnx_why_quant)
{
    (void)c;
    if (mk_onnx_attr_i(n, "block_size", 0) != 0) return "blocked quantization (block_size)";
    return NULL;
}

/* ---- building blocks ---- */
static mk_value *cast(ox_ctx *c, mk_value *x, mk_dtype to, const char *name)
{
    if (x->type.dtype == to) return x;
    mk_op *op = mk_onnx_op(c, MK_OP_CAST, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_str(c, op, "dtype", mk_dtype_name(to)))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *bin(ox_ctx *c, mk_op_kind k, mk_value *x, mk_value *y)
{
    return x && y ? mk_onnx_binary(c, k, x, y, NULL) : NULL;
}

/* Shape of a per-axis parameter for a rank-r operand: [len] placed at axis, ones elsewhere;
 * a one-element parameter becomes a scalar; axis < 0 keeps v's own shape (numpy rules). */
static int param_shape(const ox_val *v, int axis, int r, mk_type *t)
{
    size_t m = mk_onnx_numel(&v->type);
    *t = mk_type_make(MK_DT_FP32, 0, NULL);
    if (m == 1) return 1;
    if (axis < 0) {
        *t = v->type;
        t->dtype = MK_DT_FP32;
        return 1;
    }
    if (v->type.rank != 1 || axis >= r) return 0;
    t->rank = r;
    for (int i = 0; i < r; i++) t->dims[i] = i == axis ? v->type.dims[0] : 1;
    return 1;
}

/* v (scale or zero point) as an fp32 value broadcastable against a rank-r operand. */
static mk_value *param(ox_ctx *c, ox_val *v, int axis, int r)
{
    mk_type t;
    if (!param_shape(v, axis, r, &t)) {
        mk_err_set(c->err, MK_EUNSUPPORTED, "%s: '%s': per-axis parameter must be 1-D", c->file,
                   v->name);
        return NULL;
    }
    size_t m = mk_onnx_numel(&v->type);
    if (v->data) {
        float *f = mk_arena_array(c->p->arena, m ? m : 1, sizeof *f);
        if (!f) return NULL;
        for (size_t i = 0; i < m; i++) f[i] = (float)mk_onnx_cget_f(v, i);
        return mk_onnx_cf32_own(c, v->name, t.rank, t.dims, f);
    }
    mk_value *x = mk_onnx_mil(c, v);
    if (!x || !(x = cast(c, x, MK_DT_FP32, NULL))) return NULL;
    if (x->type.rank == t.rank) return x;
    return mk_onnx_reshape(c, x, t.rank, t.dims, NULL);
}

static int quant_axis(ox_ctx *c, const Onnx__NodeProto *n, int r, int *ax)
{
    int64_t a = mk_onnx_attr_i(n, "axis", 1);
    if (a < 0) a += r;
    if (r == 0) a = 0;
    if (a < 0 || (r > 0 && a >= r)) {
        mk_err_set(c->err, MK_EINVAL, "%s: axis %lld out of range for rank %d", c->file,
                   (long long)mk_onnx_attr_i(n, "axis", 1), r);
        return 0;
    }
    *ax = (int)a;
    return 1;
}

/* Constant parameter value per channel. */
static double pget(const ox_val *v, size_t ch)
{
    return v ? mk_onnx_cget_f(v, mk_onnx_numel(&v->type) == 1 ? 0 : ch) : 0;
}

/* Channel index of element i for a per-axis parameter along ax. */
static size_t chan(const mk_type *t, int ax, size_t i)
{
    size_t inner = 1;
    for (int k = ax + 1; k < t->rank; k++) inner *= (size_t)t->dims[k];
    return (i / inner) % (size_t)t->dims[ax];
}

/* round(x / s) + zp, clipped to [lo, hi], in fp32. */
static mk_value *fake_q(ox_ctx *c, mk_value *x, mk_value *s, mk_value *z, double lo, double hi)
{
    mk_value *r = mk_onnx_unary(c, MK_OP_ROUND, bin(c, MK_OP_REAL_DIV, x, s), NULL);
    if (r && z) r = bin(c, MK_OP_ADD, r, z);
    if (!r) return NULL;
    mk_op *op = mk_onnx_op(c, MK_OP_CLIP, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", r) || !mk_onnx_in_f32(c, op, "alpha", (float)lo) ||
        !mk_onnx_in_f32(c, op, "beta", (float)hi))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* ---- QuantizeLinear ---- */
OX_LOWER(mk_onnx_lower_quantize_linear)
{
    (void)n_out;
    ox_val *x = in[0], *s = n_in > 1 ? in[1] : NULL, *z = n_in > 2 ? in[2] : NULL;
    if (!x || !s) return mk_onnx_unsupported(c, n, "missing input");
    int et = quant_elem(c, n, x, z, 0), r = x->type.rank, ax;
    double lo, hi;
    if (!qrange(et, &lo, &hi)) return mk_onnx_unsupported(c, n, "quantized type %d", et);
    ax = 0;
    if (mk_onnx_numel(&s->type) != 1 && !quant_axis(c, n, r, &ax)) return fail(c);
    if (mk_onnx_numel(&s->type) != 1 && mk_onnx_numel(&s->type) != (size_t)x->type.dims[ax])
        return mk_err_set(c->err, MK_EINVAL, "%s: scale length does not match axis", c->file);
    if (x->data && s->data && (!z || z->data)) {
        size_t m = mk_onnx_numel(&x->type);
        int64_t *q = mk_onnx_weight_alloc(c, m * sizeof *q + 1);
        if (!q) return fail(c);
        int per = mk_onnx_numel(&s->type) > 1;
        for (size_t i = 0; i < m; i++) {
            size_t ch = per ? chan(&x->type, ax, i) : 0;
            double v = nearbyintf((float)mk_onnx_cget_f(x, i) / (float)pget(s, ch)) + pget(z, ch);
            q[i] = (int64_t)(v < lo ? lo : v > hi ? hi : v);
        }
        out[0]->type = x->type;
        out[0]->type.dtype = MK_DT_INT64;
        out[0]->data = q;
        out[0]->nbytes = m * sizeof *q;
        out[0]->mil = NULL;
        return MK_OK;
    }
    mk_value *xv = mk_onnx_mil(c, x);
    if (!xv) return fail(c);
    if (xv->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "non-float input");
    int pax = mk_onnx_numel(&s->type) > 1 ? ax : 0;
    mk_value *sv = param(c, s, pax, r), *zv = z ? param(c, z, pax, r) : NULL;
    if (!sv || (z && !zv)) return fail(c);
    mk_value *qf = fake_q(c, xv, sv, zv, lo, hi);
    mk_status st = done(c, out[0], qf ? cast(c, qf, MK_DT_INT32, oname(n, 0)) : NULL);
    if (st != MK_OK) return st;
    ox_qsrc *qs = mk_arena_alloc(c->p->arena, sizeof *qs);
    if (!qs) return fail(c);
    *qs = (ox_qsrc){xv, qf, s, z, mk_onnx_numel(&s->type) > 1 ? ax : -1, et};
    out[0]->qsrc = qs;
    return MK_OK;
}

/* ---- DequantizeLinear ---- */

/* Every use of `name` in the graph is the weight of Conv/ConvTranspose/MatMul/Gemm. */
static int weight_only(ox_ctx *c, const char *name)
{
    const Onnx__GraphProto *g = c->graph;
    int uses = 0;
    if (!g || !name) return 0;
    for (size_t i = 0; i < g->n_output; i++)
        if (g->output[i]->name && !strcmp(g->output[i]->name, name)) return 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; k < n->n_attribute; k++)
            if (n->attribute[k]->g || n->attribute[k]->n_graphs) return 0; /* outer-scope use */
        const char *t = n->op_type;
        int wop = !strcmp(t, "Conv") || !strcmp(t, "ConvTranspose") || !strcmp(t, "MatMul") ||
                  !strcmp(t, "Gemm");
        for (size_t k = 0; k < n->n_input; k++)
            if (n->input[k] && !strcmp(n->input[k], name)) {
                if (!wop || k != 1) return 0;
                uses++;
            }
    }
    return uses > 0;
}

/* constexpr_affine_dequantize (iOS16/17) or constexpr_blockwise_shift_scale (iOS18) holding
 * the int8/uint8 payload of constant x. */
static mk_value *constexpr_dq(ox_ctx *c, const Onnx__NodeProto *n, ox_val *x, ox_val *s, ox_val *z,
                              int ax, int et)
{
    mk_program *p = c->p;
    size_t m = mk_onnx_numel(&x->type), nch = mk_onnx_numel(&s->type);
    int per = nch > 1, r = x->type.rank;
    mk_dtype qd = et == 3 ? MK_DT_INT8 : MK_DT_UINT8;
    unsigned char *q = mk_onnx_weight_alloc(c, m);
    unsigned char *zq = mk_arena_alloc(p->arena, nch);
    float *sc = mk_arena_array(p->arena, nch, sizeof *sc);
    if (!q || !zq || !sc) return fail(c), NULL;
    for (size_t i = 0; i < m; i++) {
        int64_t v = mk_onnx_cget_i(x, i);
        q[i] = (unsigned char)(qd == MK_DT_INT8 ? (uint8_t)(int8_t)v : (uint8_t)v);
    }
    for (size_t k = 0; k < nch; k++) {
        int64_t v = z ? mk_onnx_cget_i(z, mk_onnx_numel(&z->type) == 1 ? 0 : k) : 0;
        zq[k] = (unsigned char)(qd == MK_DT_INT8 ? (uint8_t)(int8_t)v : (uint8_t)v);
        sc[k] = (float)pget(s, k);
    }
    mk_type qt = x->type;
    qt.dtype = qd;
    mk_value *qv = mk_ir_const_value(p, &qt, q, m, 1);
    int64_t len = (int64_t)nch;
    mk_op *op;
    if (ios(c) >= 18) {
        mk_type st = mk_type_make(MK_DT_FP32, r, NULL), zt;
        for (int i = 0; i < r; i++) st.dims[i] = per && i == ax ? len : 1;
        zt = st;
        zt.dtype = qd;
        op = mk_onnx_op(c, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, oname(n, 0));
        mk_value *sv = mk_ir_const_value(p, &st, sc, nch * 4, 1);
        mk_value *zv = z ? mk_ir_const_value(p, &zt, zq, nch, 1) : NULL;
        if (!op || !qv || !sv || (z && !zv)) return fail(c), NULL;
        qv->is_inline = sv->is_inline = 1;
        if (zv) zv->is_inline = 1;
        if (!mk_ir_op_add_input(p, op, "data", qv) || !mk_ir_op_add_input(p, op, "scale", sv) ||
            (zv && !mk_ir_op_add_input(p, op, "offset", zv)))
            return fail(c), NULL;
    } else {
        mk_type st = mk_type_make(MK_DT_FP32, per, &len), zt = mk_type_make(qd, per, &len);
        mk_type at = mk_type_scalar(MK_DT_INT32);
        int32_t axis = per ? ax : 0;
        op = mk_onnx_op(c, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, oname(n, 0));
        mk_value *sv = mk_ir_const_value(p, &st, sc, nch * 4, 1);
        mk_value *zv = mk_ir_const_value(p, &zt, zq, nch, 1);
        mk_value *av = mk_ir_const_value(p, &at, &axis, 4, 0);
        if (!op || !qv || !sv || !zv || !av || !mk_ir_op_add_attr(p, op, "quantized_data", qv) ||
            !mk_ir_op_add_attr(p, op, "zero_point", zv) || !mk_ir_op_add_attr(p, op, "scale", sv) ||
            !mk_ir_op_add_attr(p, op, "axis", av))
            return fail(c), NULL;
    }
    return mk_onnx_out(c, op, NULL);
}

/* MIL quantize -> dequantize (iOS17+) for a Q->DQ pair with constant int8/uint8 params. */
static mk_value *mil_qdq(ox_ctx *c, const ox_qsrc *q)
{
    size_t nch = mk_onnx_numel(&q->scale->type);
    int per = nch > 1;
    int64_t len = (int64_t)nch;
    mk_dtype qd = q->elem == 3 ? MK_DT_INT8 : MK_DT_UINT8;
    float *sc = mk_arena_array(c->p->arena, nch, sizeof *sc);
    uint8_t *zq = mk_arena_alloc(c->p->arena, nch);
    if (!sc || !zq) return NULL;
    for (size_t k = 0; k < nch; k++) {
        sc[k] = (float)pget(q->scale, k);
        int64_t v = q->zero_point ? (int64_t)pget(q->zero_point, k) : 0;
        zq[k] = qd == MK_DT_INT8 ? (uint8_t)(int8_t)v : (uint8_t)v;
    }
    mk_type st = mk_type_make(MK_DT_FP32, per, &len), zt = mk_type_make(qd, per, &len);
    mk_value *sv = mk_ir_const(c->p, c->blk, "q_scale", &st, sc, nch * 4, 1);
    mk_value *zv = mk_ir_const(c->p, c->blk, "q_zero_point", &zt, zq, nch, 1);
    mk_op *qo = mk_onnx_op(c, MK_OP_QUANTIZE, NULL);
    if (!sv || !zv || !qo || !mk_onnx_in_mil(c, qo, "input", q->x) ||
        !mk_onnx_in_mil(c, qo, "zero_point", zv) || !mk_onnx_in_mil(c, qo, "scale", sv) ||
        (per && !mk_onnx_in_i32(c, qo, "axis", q->axis)) ||
        !mk_onnx_in_str(c, qo, "output_dtype", mk_dtype_name(qd)))
        return NULL;
    mk_value *qv = mk_onnx_out(c, qo, NULL);
    mk_op *dq = qv ? mk_onnx_op(c, MK_OP_DEQUANTIZE, NULL) : NULL;
    if (!dq || !mk_onnx_in_mil(c, dq, "input", qv) || !mk_onnx_in_mil(c, dq, "zero_point", zv) ||
        !mk_onnx_in_mil(c, dq, "scale", sv) || (per && !mk_onnx_in_i32(c, dq, "axis", q->axis)))
        return NULL;
    return mk_onnx_out(c, dq, NULL);
}

static int same_param(const ox_val *a, const ox_val *b)
{
    if (a == b) return 1;
    if (!a || !b || !a->data || !b->data) return 0;
    size_t m = mk_onnx_numel(&a->type);
    if (m != mk_onnx_numel(&b->type)) return 0;
    for (size_t i = 0; i < m; i++)
        if (mk_onnx_cget_f(a, i) != mk_onnx_cget_f(b, i)) return 0;
    return 1;
}

OX_LOWER(mk_onnx_lower_dequantize_linear)
{
    (void)n_out;
    ox_val *x = in[0], *s = n_in > 1 ? in[1] : NULL, *z = n_in > 2 ? in[2] : NULL;
    if (!x || !s) return mk_onnx_unsupported(c, n, "missing input");
    int r = x->type.rank, ax, et = quant_elem(c, n, x, z, 1);
    size_t nch = mk_onnx_numel(&s->type);
    ax = 0;
    if (nch != 1 && !quant_axis(c, n, r, &ax)) return fail(c);
    if (nch != 1 && (r == 0 || nch != (size_t)x->type.dims[ax]))
        return mk_err_set(c->err, MK_EINVAL, "%s: scale length does not match axis", c->file);
    int per = nch > 1;
    if (x->data && s->data && (!z || z->data)) {
        size_t m = mk_onnx_numel(&x->type);
        if ((et == 2 || et == 3) && ios(c) >= 16 && m >= MIN_CONSTEXPR && r >= 1 &&
            weight_only(c, oname(n, 0)))
            return done(c, out[0], constexpr_dq(c, n, x, s, z, ax, et));
        size_t nb;
        if (!mk_mul_size(m, sizeof(float), &nb)) return fail(c);
        float *w = mk_onnx_weight_alloc(c, nb + 1);
        if (!w) return fail(c);
        for (size_t i = 0; i < m; i++) {
            size_t ch = per ? chan(&x->type, ax, i) : 0;
            w[i] = (float)(mk_onnx_cget_i(x, i) - (int64_t)pget(z, ch)) * (float)pget(s, ch);
        }
        out[0]->type = x->type;
        out[0]->type.dtype = MK_DT_FP32;
        out[0]->data = w;
        out[0]->nbytes = nb;
        out[0]->mil = NULL;
        return MK_OK;
    }
    const ox_qsrc *q = x->qsrc;
    int pax = per ? ax : 0;
    if (q && same_param(q->scale, s) && (same_param(q->zero_point, z) || (!z && !q->zero_point)) &&
        (q->axis < 0) == !per) {
        /* a Q->DQ pair: fake quantization of the float input */
        if (ios(c) >= 17 && (q->elem == 2 || q->elem == 3) && s->data && (!z || z->data))
            return done(c, out[0], mil_qdq(c, q));
        mk_value *sv = param(c, s, pax, r), *zv = z ? param(c, z, pax, r) : NULL;
        mk_value *v = zv ? bin(c, MK_OP_SUB, q->qf, zv) : q->qf;
        return done(c, out[0], bin(c, MK_OP_MUL, v, sv));
    }
    mk_value *xv = mk_onnx_mil(c, x);
    mk_value *sv = param(c, s, pax, r), *zv = z ? param(c, z, pax, r) : NULL;
    if (!xv || !sv || (z && !zv)) return fail(c);
    mk_value *v = cast(c, xv, MK_DT_FP32, NULL);
    if (v && zv) v = bin(c, MK_OP_SUB, v, zv);
    return done(c, out[0], bin(c, MK_OP_MUL, v, sv));
}

/* ---- DynamicQuantizeLinear: uint8 with scale and zero point from the input's range ---- */
static mk_value *reduce_all(ox_ctx *c, mk_op_kind k, mk_value *x)
{
    int r = x->type.rank;
    int32_t axes[MK_MAX_RANK];
    for (int i = 0; i < r; i++) axes[i] = i;
    mk_op *op = mk_onnx_op(c, k, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || (r && !mk_onnx_in_i32s(c, op, "axes", r, axes)) ||
        !mk_onnx_in_bool(c, op, "keep_dims", 0))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

OX_LOWER(mk_onnx_lower_dynamic_quantize_linear)
{
    (void)n_in;
    mk_value *x = in[0] ? mk_onnx_mil(c, in[0]) : NULL;
    if (!x) return mk_onnx_unsupported(c, n, "missing input");
    if (x->type.dtype != MK_DT_FP32 || x->type.rank < 1)
        return mk_onnx_unsupported(c, n, "needs a float tensor");
    float zero = 0, q255 = 255;
    mk_value *z0 = mk_onnx_cf32(c, "zero", 0, NULL, &zero);
    mk_value *mx = bin(c, MK_OP_MAXIMUM, reduce_all(c, MK_OP_REDUCE_MAX, x), z0);
    mk_value *mn = bin(c, MK_OP_MINIMUM, reduce_all(c, MK_OP_REDUCE_MIN, x), z0);
    mk_value *sc =
        bin(c, MK_OP_REAL_DIV, bin(c, MK_OP_SUB, mx, mn), mk_onnx_cf32(c, "q255", 0, NULL, &q255));
    mk_value *zp = fake_q(c, bin(c, MK_OP_SUB, z0, mn), sc, NULL, 0, 255);
    mk_value *y = zp ? fake_q(c, x, sc, zp, 0, 255) : NULL;
    mk_status st = done(c, out[0], y ? cast(c, y, MK_DT_INT32, oname(n, 0)) : NULL);
    if (st == MK_OK && n_out > 1) st = done(c, out[1], sc);
    if (st == MK_OK && n_out > 2)
        st = done(c, out[2], zp ? cast(c, zp, MK_DT_INT32, oname(n, 2)) : NULL);
    return st;
}

/* ---- integer products: (a - a_zp) x (b - b_zp) in fp32 (exact below 2^24) ---- */

/* fp32 (v - zp) for an operand: folded when constant, else cast and subtract. The zero point
 * is per row/channel along axis (-1: its own numpy shape). */
static ox_val *centered(ox_ctx *c, ox_val *v, ox_val *zp, int axis)
{
    ox_val *o = mk_arena_alloc(c->p->arena, sizeof *o);
    if (!o) return NULL;
    o->name = v->name;
    size_t nz = zp ? mk_onnx_numel(&zp->type) : 0;
    if (v->data && (!zp || zp->data) && (nz <= 1 || (axis >= 0 && axis < v->type.rank))) {
        size_t m = mk_onnx_numel(&v->type), nb;
        if (!mk_mul_size(m, sizeof(float), &nb)) return NULL;
        float *w = mk_onnx_weight_alloc(c, nb + 1);
        if (!w) return NULL;
        for (size_t i = 0; i < m; i++)
            w[i] = (float)(mk_onnx_cget_i(v, i) -
                           (int64_t)pget(zp, nz > 1 ? chan(&v->type, axis, i) : 0));
        o->type = v->type;
        o->type.dtype = MK_DT_FP32;
        o->data = w;
        o->nbytes = nb;
        return o;
    }
    mk_value *x = mk_onnx_mil(c, v);
    x = x ? cast(c, x, MK_DT_FP32, NULL) : NULL;
    if (x && zp) {
        mk_value *zv = param(c, zp, nz > 1 ? axis : 0, v->type.rank);
        x = bin(c, MK_OP_SUB, x, zv);
    }
    if (!x) return NULL;
    mk_onnx_set(o, x);
    return o;
}

static mk_value *matmul_f(ox_ctx *c, ox_val *a, ox_val *b)
{
    mk_value *x = mk_onnx_mil(c, a), *y = mk_onnx_mil(c, b);
    if (!x || !y) return NULL;
    if (x->type.rank < 2 || y->type.rank < 2) {
        mk_err_set(c->err, MK_EUNSUPPORTED, "%s: integer matmul of a vector", c->file);
        return NULL;
    }
    mk_type bt, ba = x->type, bb = y->type;
    ba.rank -= 2, bb.rank -= 2;
    if (!mk_onnx_bcast(&ba, &bb, &bt) || bt.rank + 2 > MK_MAX_RANK) {
        mk_err_set(c->err, MK_EINVAL, "%s: matmul shapes do not match", c->file);
        return NULL;
    }
    mk_op *op = mk_onnx_op(c, MK_OP_MATMUL, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "y", y) ||
        !mk_onnx_in_bool(c, op, "transpose_x", 0) || !mk_onnx_in_bool(c, op, "transpose_y", 0))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

static mk_value *conv_f(ox_ctx *c, const Onnx__NodeProto *n, ox_val *x, ox_val *w, ox_val *b)
{
    if (!w->data) {
        mk_err_set(c->err, MK_EUNSUPPORTED, "%s: integer conv needs a constant weight", c->file);
        return NULL;
    }
    ox_val *ins[3] = {x, w, b}, tmp = {0};
    tmp.name = "conv";
    if (mk_onnx_lower_conv(c, n, ins, b ? 3 : 2, (ox_val *[]){&tmp}, 1) != MK_OK) return NULL;
    return tmp.mil;
}

/* Requantize an integer-valued fp32 accumulator: round(acc * k) + zy, saturated, as int32. */
static mk_status requant(ox_ctx *c, const Onnx__NodeProto *n, mk_value *acc, ox_val *sa, ox_val *sb,
                         ox_val *sy, ox_val *zy, int b_axis, ox_val *o)
{
    if (!acc) return fail(c);
    if (!sa->data || !sb->data || !sy->data || mk_onnx_numel(&sa->type) != 1 ||
        mk_onnx_numel(&sy->type) != 1)
        return mk_onnx_unsupported(c, n, "needs constant per-tensor input/output scales");
    size_t nb = mk_onnx_numel(&sb->type);
    int r = acc->type.rank;
    if (nb > 1 && (b_axis >= r || (size_t)acc->type.dims[b_axis] != nb))
        return mk_onnx_unsupported(c, n, "weight scale length");
    float *k = mk_arena_array(c->p->arena, nb, sizeof *k);
    if (!k) return fail(c);
    for (size_t i = 0; i < nb; i++)
        k[i] = (float)pget(sa, 0) * (float)pget(sb, i) / (float)pget(sy, 0);
    mk_type kt = mk_type_make(MK_DT_FP32, 0, NULL);
    if (nb > 1) {
        kt.rank = r;
        for (int i = 0; i < r; i++) kt.dims[i] = i == b_axis ? (int64_t)nb : 1;
    }
    int et = n->n_input > 7 && n->input[7] && *n->input[7] ? elem_of(c, n->input[7]) : 0;
    if (!et) et = elem_of(c, oname(n, 0));
    if (!et) et = zy && zy->data && pget(zy, 0) < 0 ? 3 : 2;
    double lo, hi;
    if (!qrange(et, &lo, &hi)) return mk_onnx_unsupported(c, n, "output type %d", et);
    float one = 1;
    mk_value *v = bin(c, MK_OP_MUL, acc, mk_onnx_cf32_own(c, "requant", kt.rank, kt.dims, k));
    mk_value *zv = zy ? param(c, zy, 0, r) : NULL;
    if (zy && !zv) return fail(c);
    mk_value *q = v ? fake_q(c, v, mk_onnx_cf32(c, "one", 0, NULL, &one), zv, lo, hi) : NULL;
    return done(c, o, q ? cast(c, q, MK_DT_INT32, oname(n, 0)) : NULL);
}

OX_LOWER(mk_onnx_lower_qlinear_matmul)
{
    (void)n_out;
    if (n_in < 8) return mk_onnx_unsupported(c, n, "expects 8 inputs");
    for (int i = 0; i < 8; i++)
        if (!in[i] && i != 2 && i != 5 && i != 7) return mk_onnx_unsupported(c, n, "missing input");
    ox_val *a = centered(c, in[0], in[2], in[0]->type.rank - 2);
    ox_val *b = a ? centered(c, in[3], in[5], in[3]->type.rank - 1) : NULL;
    if (!a || !b) return fail(c);
    mk_value *acc = matmul_f(c, a, b);
    return requant(c, n, acc, in[1], in[4], in[6], in[7], acc ? acc->type.rank - 1 : 0, out[0]);
}

OX_LOWER(mk_onnx_lower_qlinear_conv)
{
    (void)n_out;
    if (n_in < 8) return mk_onnx_unsupported(c, n, "expects 8 or 9 inputs");
    for (int i = 0; i < 8; i++)
        if (!in[i] && i != 2 && i != 5 && i != 7) return mk_onnx_unsupported(c, n, "missing input");
    ox_val *x = centered(c, in[0], in[2], 1);
    ox_val *w = x ? centered(c, in[3], in[5], 0) : NULL;
    if (!x || !w) return fail(c);
    ox_val *b = NULL;
    if (n_in > 8 && in[8]) {
        if (!in[8]->data) return mk_onnx_unsupported(c, n, "bias must be constant");
        b = centered(c, in[8], NULL, 0);
        if (!b) return fail(c);
    }
    return requant(c, n, conv_f(c, n, x, w, b), in[1], in[4], in[6], in[7], 1, out[0]);
}

OX_LOWER(mk_onnx_lower_matmul_integer)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "missing input");
    ox_val *a = centered(c, in[0], n_in > 2 ? in[2] : NULL, in[0]->type.rank - 2);
    ox_val *b = a ? centered(c, in[1], n_in > 3 ? in[3] : NULL, in[1]->type.rank - 1) : NULL;
    if (!a || !b) return fail(c);
    mk_value *acc = matmul_f(c, a, b);
    return done(c, out[0], acc ? cast(c, acc, MK_DT_INT32, oname(n, 0)) : NULL);
}

OX_LOWER(mk_onnx_lower_conv_integer)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1]) return mk_onnx_unsupported(c, n, "missing input");
    ox_val *x = centered(c, in[0], n_in > 2 ? in[2] : NULL, 1);
    ox_val *w = x ? centered(c, in[1], n_in > 3 ? in[3] : NULL, 0) : NULL;
    if (!x || !w) return fail(c);
    mk_value *acc = conv_f(c, n, x, w, NULL);
    return done(c, out[0], acc ? cast(c, acc, MK_DT_INT32, oname(n, 0)) : NULL);
}
