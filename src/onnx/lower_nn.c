/* Lowering of neural-network ONNX ops to MIL: Conv and ConvTranspose (1-D kept 1-D; the
 * transpose always as pad_type valid plus an explicit slice, never output_shape or
 * asymmetric pads: hazard H3), pooling, batch/instance/layer normalization, Pad, Resize and
 * Upsample (nearest, linear). Output types come from src/ir's type rules; the recurrent ops
 * live in lower_rnn.c. */
#include <math.h>
#include <string.h>

#include "onnx_int.h"

/* Spatial attributes: kernel, strides, dilations, pads (begin..., end...). */
typedef struct spatial {
    int ns;
    int64_t k[MK_MAX_RANK], s[MK_MAX_RANK], d[MK_MAX_RANK], pb[MK_MAX_RANK], pe[MK_MAX_RANK];
    const char *auto_pad;
} spatial;

static const char *read_spatial(ox_ctx *c, const Onnx__NodeProto *n, int ns, const int64_t *kw,
                                spatial *sp)
{
    const int64_t *v;
    int k;
    sp->ns = ns;
    for (int i = 0; i < ns; i++)
        sp->k[i] = kw ? kw[i] : 1, sp->s[i] = 1, sp->d[i] = 1, sp->pb[i] = 0, sp->pe[i] = 0;
    if ((k = mk_onnx_attr_ints(n, "kernel_shape", &v)) >= 0) {
        if (k != ns) return "kernel_shape length does not match the input rank";
        memcpy(sp->k, v, (size_t)k * 8);
    }
    if ((k = mk_onnx_attr_ints(n, "strides", &v)) >= 0) {
        if (k != ns) return "strides length does not match";
        memcpy(sp->s, v, (size_t)k * 8);
    }
    if ((k = mk_onnx_attr_ints(n, "dilations", &v)) >= 0) {
        if (k != ns) return "dilations length does not match";
        memcpy(sp->d, v, (size_t)k * 8);
    }
    if ((k = mk_onnx_attr_ints(n, "pads", &v)) >= 0) {
        if (k != 2 * ns) return "pads length does not match";
        for (int i = 0; i < ns; i++) sp->pb[i] = v[i], sp->pe[i] = v[ns + i];
    }
    for (int i = 0; i < ns; i++)
        if (sp->k[i] < 1 || sp->s[i] < 1 || sp->d[i] < 1 || sp->pb[i] < 0 || sp->pe[i] < 0 ||
            sp->k[i] > INT32_MAX || sp->s[i] > INT32_MAX || sp->d[i] > INT32_MAX ||
            sp->pb[i] > INT32_MAX || sp->pe[i] > INT32_MAX)
            return "bad kernel, stride, dilation or pad";
    sp->auto_pad = mk_onnx_attr_s(c, n, "auto_pad", "NOTSET");
    return NULL;
}

/* Resolve SAME_UPPER / SAME_LOWER / VALID to explicit pads for a forward window op. */
static void resolve_auto_pad(spatial *sp, const int64_t *in)
{
    int upper = strcmp(sp->auto_pad, "SAME_UPPER") == 0;
    int lower = strcmp(sp->auto_pad, "SAME_LOWER") == 0;
    if (strcmp(sp->auto_pad, "VALID") == 0)
        for (int i = 0; i < sp->ns; i++) sp->pb[i] = sp->pe[i] = 0;
    if (!upper && !lower) return;
    for (int i = 0; i < sp->ns; i++) {
        int64_t out = (in[i] + sp->s[i] - 1) / sp->s[i];
        int64_t ek = (sp->k[i] - 1) * sp->d[i] + 1;
        int64_t total = (out - 1) * sp->s[i] + ek - in[i];
        if (total < 0) total = 0;
        sp->pb[i] = upper ? total / 2 : total - total / 2;
        sp->pe[i] = total - sp->pb[i];
    }
}

static int add_spatial(ox_ctx *c, mk_op *op, const spatial *sp, int with_dil, int with_ks)
{
    int32_t s[MK_MAX_RANK], d[MK_MAX_RANK], k[MK_MAX_RANK], p[2 * MK_MAX_RANK];
    for (int i = 0; i < sp->ns; i++) {
        s[i] = (int32_t)sp->s[i];
        d[i] = (int32_t)sp->d[i];
        k[i] = (int32_t)sp->k[i];
        p[2 * i] = (int32_t)sp->pb[i];
        p[2 * i + 1] = (int32_t)sp->pe[i];
    }
    if (with_ks && !mk_onnx_in_i32s(c, op, "kernel_sizes", sp->ns, k)) return 0;
    return mk_onnx_in_i32s(c, op, "strides", sp->ns, s) &&
           mk_onnx_in_str(c, op, "pad_type", "custom") &&
           mk_onnx_in_i32s(c, op, "pad", 2 * sp->ns, p) &&
           (!with_dil || mk_onnx_in_i32s(c, op, "dilations", sp->ns, d));
}

OX_WHY(mk_onnx_why_conv)
{
    const char *ap = mk_onnx_attr_s(c, n, "auto_pad", "NOTSET");
    if (strcmp(ap, "NOTSET") && strcmp(ap, "VALID") && strcmp(ap, "SAME_UPPER") &&
        strcmp(ap, "SAME_LOWER"))
        return "unknown auto_pad";
    return NULL;
}

OX_LOWER(mk_onnx_lower_conv)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    ox_val *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    if (!x || !w) return mk_onnx_unsupported(c, n, "missing input");
    int r = x->type.rank, ns = r - 2;
    if (ns < 1 || ns > 3 || w->type.rank != r)
        return mk_onnx_unsupported(c, n, "Conv of rank %d", r);
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "non-float Conv");
    spatial sp;
    const char *why = read_spatial(c, n, ns, w->type.dims + 2, &sp);
    if (why) return mk_err_set(c->err, MK_EINVAL, "%s", why);
    int64_t g = mk_onnx_attr_i(n, "group", 1), cin = x->type.dims[1], m = w->type.dims[0];
    if (g < 1 || m % g || (cin >= 0 && cin != w->type.dims[1] * g))
        return mk_err_set(c->err, MK_EINVAL, "channels %lld do not match weight %lld x group %lld",
                          (long long)cin, (long long)w->type.dims[1], (long long)g);
    for (int i = 0; i < ns; i++)
        if (x->type.dims[2 + i] < 0 && strncmp(sp.auto_pad, "SAME", 4) == 0)
            return mk_onnx_unsupported(c, n, "auto_pad SAME on a dynamic dim");
    resolve_auto_pad(&sp, x->type.dims + 2);
    for (int i = 0; i < ns; i++) {
        int64_t in_ = x->type.dims[2 + i], ek = (sp.k[i] - 1) * sp.d[i] + 1;
        if (in_ >= 0 && in_ + sp.pb[i] + sp.pe[i] - ek < 0)
            return mk_err_set(c->err, MK_EINVAL, "kernel larger than padded input");
    }
    mk_op *op = mk_onnx_op(c, MK_OP_CONV, oname(n, 0));
    if (!op || !mk_onnx_in(c, op, "x", in[0]) || !mk_onnx_in(c, op, "weight", w) ||
        (b && !mk_onnx_in(c, op, "bias", b)) || !add_spatial(c, op, &sp, 1, 0) ||
        !mk_onnx_in_i32(c, op, "groups", (int32_t)g))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

/* ConvTranspose: the full (pad_type valid) output, then a constant crop per side: b0 at the
 * start and e0 at the end (a negative e0 is output_padding beyond the end, added as zeros).
 * Both depend only on kernel, stride, pads and output_padding, so flexible (unknown) spatial
 * dims convert too; only output_shape needs them static. */
OX_LOWER(mk_onnx_lower_conv_transpose)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    ox_val *w = in[1], *b = n_in > 2 ? in[2] : NULL;
    if (!x || !w) return mk_onnx_unsupported(c, n, "missing input");
    int r = x->type.rank, ns = r - 2;
    if (ns < 1 || ns > 3 || w->type.rank != r) return mk_onnx_unsupported(c, n, "rank %d", r);
    if (x->type.dims[0] < 0 || x->type.dims[1] < 0)
        return mk_onnx_unsupported(c, n, "needs static batch and channel dims");
    spatial sp;
    const char *why = read_spatial(c, n, ns, w->type.dims + 2, &sp);
    if (why) return mk_err_set(c->err, MK_EINVAL, "%s", why);
    int64_t g = mk_onnx_attr_i(n, "group", 1), cin = x->type.dims[1];
    if (g < 1 || cin != w->type.dims[0])
        return mk_err_set(c->err, MK_EINVAL, "channels %lld do not match weight", (long long)cin);
    int64_t m = w->type.dims[1] * g;
    const int64_t *opad = NULL, *oshape = NULL;
    int nop = mk_onnx_attr_ints(n, "output_padding", &opad);
    int nos = mk_onnx_attr_ints(n, "output_shape", &oshape);
    if (nop >= 0 && nop != ns) return mk_err_set(c->err, MK_EINVAL, "output_padding length");
    if (nos >= 0 && nos != ns && nos != r)
        return mk_err_set(c->err, MK_EINVAL, "output_shape length");
    int upper = strcmp(sp.auto_pad, "SAME_UPPER") == 0;
    int64_t full[MK_MAX_RANK], want[MK_MAX_RANK], b0[MK_MAX_RANK], e0[MK_MAX_RANK];
    for (int i = 0; i < ns; i++) {
        int64_t in_ = x->type.dims[2 + i], op_ = nop >= 0 ? opad[i] : 0;
        int64_t ek = (sp.k[i] - 1) * sp.d[i] + 1; /* full = (in - 1) * s + ek */
        if (op_ < 0 || (op_ >= sp.s[i] && op_ >= sp.d[i]))
            return mk_err_set(c->err, MK_EINVAL, "output_padding %lld not below stride or dilation",
                              (long long)op_);
        full[i] = MK_DIM_UNKNOWN;
        if (in_ >= 0 && (!mk_mul_i64(in_ - 1, sp.s[i], &full[i]) ||
                         !mk_add_i64(full[i], ek, &full[i]) || full[i] > INT32_MAX))
            return mk_err_set(c->err, MK_EINVAL, "output size overflows");
        if (nos >= 0) {
            if (in_ < 0) return mk_onnx_unsupported(c, n, "output_shape on a flexible dim");
            want[i] = oshape[nos == r ? 2 + i : i];
            if (want[i] < 1 || want[i] > INT32_MAX)
                return mk_err_set(c->err, MK_EINVAL, "bad output_shape %lld", (long long)want[i]);
            int64_t total = full[i] + op_ - want[i];
            if (total < 0)
                return mk_onnx_unsupported(c, n, "output_shape larger than the full output");
            b0[i] = upper ? total / 2 : total - total / 2;
            e0[i] = full[i] - b0[i] - want[i];
        } else if (strncmp(sp.auto_pad, "SAME", 4) == 0) {
            /* want = in * s */
            int64_t total = ek - sp.s[i] + op_;
            if (total < 0) total = 0;
            b0[i] = upper ? total / 2 : total - total / 2;
            e0[i] = ek - sp.s[i] - b0[i];
        } else {
            int valid = strcmp(sp.auto_pad, "VALID") == 0;
            b0[i] = valid ? 0 : sp.pb[i];
            e0[i] = (valid ? 0 : sp.pe[i]) - op_;
        }
        want[i] = full[i] >= 0 ? full[i] - b0[i] - e0[i] : MK_DIM_UNKNOWN;
        if (full[i] >= 0 && want[i] < 1) return mk_err_set(c->err, MK_EINVAL, "empty output");
        if (b0[i] > INT32_MAX || e0[i] > INT32_MAX || e0[i] < -INT32_MAX)
            return mk_err_set(c->err, MK_EINVAL, "bad pads");
    }
    int need_pad = 0, need_slice = 0;
    for (int i = 0; i < ns; i++) {
        if (e0[i] < 0) need_pad = 1;
        if (b0[i] != 0 || e0[i] > 0) need_slice = 1;
    }
    int bias_in_op = b && !need_pad;
    mk_op *op = mk_onnx_op(c, MK_OP_CONV_TRANSPOSE, need_pad || need_slice ? NULL : oname(n, 0));
    if (!op || !mk_onnx_in(c, op, "x", in[0]) || !mk_onnx_in(c, op, "weight", w) ||
        (bias_in_op && !mk_onnx_in(c, op, "bias", b)))
        return fail(c);
    /* pad_type valid: no pad, no output_shape (H3) */
    int32_t s32[MK_MAX_RANK], d32[MK_MAX_RANK], p32[2 * MK_MAX_RANK] = {0};
    for (int i = 0; i < ns; i++) s32[i] = (int32_t)sp.s[i], d32[i] = (int32_t)sp.d[i];
    if (!mk_onnx_in_str(c, op, "pad_type", "valid") ||
        !mk_onnx_in_i32s(c, op, "pad", 2 * ns, p32) ||
        !mk_onnx_in_i32s(c, op, "strides", ns, s32) ||
        !mk_onnx_in_i32s(c, op, "dilations", ns, d32) ||
        !mk_onnx_in_i32(c, op, "groups", (int32_t)g))
        return fail(c);
    mk_value *v = mk_onnx_out(c, op, NULL);
    if (v && need_pad) {
        /* output_padding beyond the end: zeros appended, bias added afterwards */
        int32_t pads[2 * MK_MAX_RANK] = {0};
        for (int i = 0; i < ns; i++) {
            int64_t extra = e0[i] < 0 ? -e0[i] : 0;
            pads[2 * (2 + i) + 1] = (int32_t)extra;
        }
        mk_op *pop = mk_onnx_op(c, MK_OP_PAD, NULL);
        if (!pop || !mk_onnx_in_mil(c, pop, "x", v) ||
            !mk_onnx_in_i32s(c, pop, "pad", 2 * r, pads) ||
            !mk_onnx_in_str(c, pop, "mode", "constant") ||
            !mk_onnx_in_f32(c, pop, "constant_val", 0.0f))
            return fail(c);
        v = mk_onnx_out(c, pop, NULL);
    }
    if (v && need_slice) {
        /* begin b0; end counted from the end (negative) so it holds for any length */
        int32_t bb[MK_MAX_RANK] = {0}, ee[MK_MAX_RANK] = {0}, st[MK_MAX_RANK];
        uint8_t em[MK_MAX_RANK];
        for (int i = 0; i < r; i++) st[i] = 1, em[i] = 1;
        for (int i = 0; i < ns; i++) {
            bb[2 + i] = (int32_t)b0[i];
            em[2 + i] = e0[i] <= 0;
            ee[2 + i] = e0[i] > 0 ? (int32_t)-e0[i] : 0;
        }
        mk_op *sop = mk_onnx_op(c, MK_OP_SLICE_BY_INDEX, b && need_pad ? NULL : oname(n, 0));
        const char *emn = sop ? mk_arena_printf(c->p->arena, "%s_end_mask", sop->name) : NULL;
        mk_value *emv = emn ? mk_ir_const_bool(c->p, c->blk, emn, r, em, 0) : NULL;
        if (!sop || !emv || !mk_onnx_in_mil(c, sop, "x", v) ||
            !mk_onnx_in_i32s(c, sop, "begin", r, bb) || !mk_onnx_in_i32s(c, sop, "end", r, ee) ||
            !mk_onnx_in_i32s(c, sop, "stride", r, st) || !mk_onnx_in_mil(c, sop, "end_mask", emv))
            return fail(c);
        v = mk_onnx_out(c, sop, NULL);
    }
    if (v && b && !bias_in_op) {
        int64_t bd[MK_MAX_RANK];
        bd[0] = m;
        for (int i = 1; i < r - 1; i++) bd[i] = 1;
        mk_value *bv = mk_onnx_reshape(c, mil(c, b), r - 1, bd, NULL);
        v = bv ? mk_onnx_binary(c, MK_OP_ADD, v, bv, oname(n, 0)) : NULL;
    }
    return done(c, out[0], v);
}

/* ---- pooling ---- */
OX_WHY(mk_onnx_why_pool)
{
    const int64_t *v;
    int k = mk_onnx_attr_ints(n, "dilations", &v);
    for (int i = 0; i < k; i++)
        if (v[i] != 1) return "pooling with dilations unsupported";
    if (n->n_output > 1 && n->output[1] && *n->output[1])
        return "MaxPool Indices output unsupported";
    if (mk_onnx_attr_i(n, "storage_order", 0)) return "storage_order=1 unsupported";
    if (mk_onnx_attr_ints(n, "kernel_shape", &v) < 0) return "missing kernel_shape";
    return mk_onnx_why_conv(c, n);
}

static mk_status pool(ox_ctx *c, const Onnx__NodeProto *n, ox_val *xin, ox_val *o, int is_max)
{
    mk_value *x = mil(c, xin);
    if (!x) return fail(c);
    int r = x->type.rank, ns = r - 2;
    if (ns < 1 || ns > 3) return mk_onnx_unsupported(c, n, "pooling of rank %d", r);
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static input shape");
    spatial sp;
    const char *why = read_spatial(c, n, ns, NULL, &sp);
    if (why) return mk_err_set(c->err, MK_EINVAL, "%s", why);
    int ceil_mode = (int)mk_onnx_attr_i(n, "ceil_mode", 0);
    resolve_auto_pad(&sp, x->type.dims + 2);
    int overhang = 0, asymmetric = 0;
    for (int i = 0; i < ns; i++) {
        int64_t in_ = x->type.dims[2 + i], span = in_ + sp.pb[i] + sp.pe[i] - sp.k[i];
        if (span < 0) return mk_err_set(c->err, MK_EINVAL, "kernel larger than padded input");
        int64_t o_ = ceil_mode ? (span + sp.s[i] - 1) / sp.s[i] + 1 : span / sp.s[i] + 1;
        if (ceil_mode && (o_ - 1) * sp.s[i] >= in_ + sp.pb[i]) o_--;
        overhang |= (o_ - 1) * sp.s[i] + sp.k[i] > in_ + sp.pb[i] + sp.pe[i];
        asymmetric |= sp.pb[i] != sp.pe[i];
    }
    int include_pad = !is_max && mk_onnx_attr_i(n, "count_include_pad", 0);
    if (ceil_mode && !is_max && asymmetric && !include_pad)
        return mk_onnx_unsupported(c, n,
                                   "ceil_mode with asymmetric pads that must not be averaged");
    if (ceil_mode && (asymmetric || (include_pad && overhang))) {
        /* H17: MIL averages a ceil overhang as if it were padding, and ceil_mode needs
         * symmetric pads. Pads become data (a constant-0 pad op), so they count while the
         * overhang is excluded, as in ONNX. */
        int32_t pads[2 * MK_MAX_RANK] = {0};
        for (int i = 0; i < ns; i++) {
            pads[2 * i] = (int32_t)sp.pb[i];
            pads[2 * i + 1] = (int32_t)sp.pe[i];
            sp.pb[i] = sp.pe[i] = 0;
        }
        mk_op *pop = mk_onnx_op(c, MK_OP_PAD, NULL);
        if (!pop || !mk_onnx_in_mil(c, pop, "x", x) ||
            !mk_onnx_in_i32s(c, pop, "pad", 2 * ns, pads) ||
            !mk_onnx_in_str(c, pop, "mode", "constant") ||
            !mk_onnx_in_f32(c, pop, "constant_val", is_max ? -INFINITY : 0.0f) ||
            !(x = mk_onnx_out(c, pop, NULL)))
            return fail(c);
        include_pad = 0;
    }
    mk_op *op = mk_onnx_op(c, is_max ? MK_OP_MAX_POOL : MK_OP_AVG_POOL, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !add_spatial(c, op, &sp, 0, 1) ||
        !mk_onnx_in_bool(c, op, "ceil_mode", ceil_mode))
        return fail(c);
    if (!is_max && !mk_onnx_in_bool(c, op, "exclude_padding_from_average", !include_pad))
        return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_max_pool)
{
    (void)n_in, (void)n_out;
    return pool(c, n, in[0], out[0], 1);
}

OX_LOWER(mk_onnx_lower_avg_pool)
{
    (void)n_in, (void)n_out;
    return pool(c, n, in[0], out[0], 0);
}

static mk_status global_pool(ox_ctx *c, const Onnx__NodeProto *n, ox_val *xin, ox_val *o,
                             mk_op_kind k)
{
    mk_value *x = mil(c, xin);
    if (!x) return fail(c);
    int r = x->type.rank;
    if (r < 3) return mk_onnx_unsupported(c, n, "rank %d", r);
    int32_t axes[MK_MAX_RANK];
    for (int i = 2; i < r; i++) axes[i - 2] = i;
    mk_op *op = mk_onnx_op(c, k, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", r - 2, axes) ||
        !mk_onnx_in_bool(c, op, "keep_dims", 1))
        return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

OX_LOWER(mk_onnx_lower_global_avg_pool)
{
    (void)n_in, (void)n_out;
    return global_pool(c, n, in[0], out[0], MK_OP_REDUCE_MEAN);
}

OX_LOWER(mk_onnx_lower_global_max_pool)
{
    (void)n_in, (void)n_out;
    return global_pool(c, n, in[0], out[0], MK_OP_REDUCE_MAX);
}

/* ---- normalization ---- */
OX_WHY(mk_onnx_why_batch_norm)
{
    (void)c;
    if (mk_onnx_attr_i(n, "training_mode", 0)) return "training_mode=1 unsupported";
    for (size_t i = 1; i < n->n_output; i++)
        if (n->output[i] && *n->output[i]) return "training outputs unsupported";
    return NULL;
}

OX_LOWER(mk_onnx_lower_batch_norm)
{
    (void)n_out;
    if (n_in < 5) return mk_onnx_unsupported(c, n, "needs 5 inputs");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    float eps = mk_onnx_attr_f(n, "epsilon", 1e-5f);
    mk_value *xv = x;
    if (r == 2) {
        int64_t d3[3] = {x->type.dims[0], x->type.dims[1], 1};
        xv = mk_onnx_reshape(c, x, 3, d3, NULL);
        if (!xv) return fail(c);
    } else if (r < 2 || r > 5) {
        return mk_onnx_unsupported(c, n, "rank %d", r);
    }
    mk_op *op = mk_onnx_op(c, MK_OP_BATCH_NORM, r == 2 ? NULL : oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", xv) || !mk_onnx_in(c, op, "mean", in[3]) ||
        !mk_onnx_in(c, op, "variance", in[4]) || !mk_onnx_in(c, op, "gamma", in[1]) ||
        !mk_onnx_in(c, op, "beta", in[2]) || !mk_onnx_in_f32(c, op, "epsilon", eps))
        return fail(c);
    mk_value *v = mk_onnx_out(c, op, NULL);
    if (v && r == 2) v = mk_onnx_reshape(c, v, 2, x->type.dims, oname(n, 0));
    return done(c, out[0], v);
}

OX_LOWER(mk_onnx_lower_instance_norm)
{
    (void)n_out;
    if (n_in < 3) return mk_onnx_unsupported(c, n, "needs 3 inputs");
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    if (r < 3 || r > 4) return mk_onnx_unsupported(c, n, "rank %d (MIL instance_norm: 3 or 4)", r);
    mk_op *op = mk_onnx_op(c, MK_OP_INSTANCE_NORM, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in(c, op, "gamma", in[1]) ||
        !mk_onnx_in(c, op, "beta", in[2]) ||
        !mk_onnx_in_f32(c, op, "epsilon", mk_onnx_attr_f(n, "epsilon", 1e-5f)))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}

OX_WHY(mk_onnx_why_layer_norm)
{
    (void)c, (void)n;
    return NULL;
}

/* LayerNormalization's optional Mean and InvStdDev outputs, computed beside the fused op:
 * mean over the axes (kept as 1s) and rsqrt(mean((x - mean)^2) + epsilon). */
static mk_status layer_norm_stats(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x,
                                  const int32_t *axes, int na, float eps, ox_val **out, int n_out)
{
    mk_op *op = mk_onnx_op(c, MK_OP_REDUCE_MEAN, oname(n, 1));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", na, axes) ||
        !mk_onnx_in_bool(c, op, "keep_dims", 1))
        return fail(c);
    mk_value *mean = mk_onnx_out(c, op, NULL);
    if (!mean) return fail(c);
    if (n_out > 1 && oname(n, 1)) mk_onnx_set(out[1], mean);
    if (n_out < 3 || !oname(n, 2)) return MK_OK;
    mk_value *d = mk_onnx_binary(c, MK_OP_SUB, x, mean, NULL);
    mk_value *sq = d ? mk_onnx_binary(c, MK_OP_MUL, d, d, NULL) : NULL;
    mk_op *vop = sq ? mk_onnx_op(c, MK_OP_REDUCE_MEAN, NULL) : NULL;
    if (!vop || !mk_onnx_in_mil(c, vop, "x", sq) || !mk_onnx_in_i32s(c, vop, "axes", na, axes) ||
        !mk_onnx_in_bool(c, vop, "keep_dims", 1))
        return fail(c);
    mk_value *var = mk_onnx_out(c, vop, NULL);
    mk_op *rop = var ? mk_onnx_op(c, MK_OP_RSQRT, oname(n, 2)) : NULL;
    if (!rop || !mk_onnx_in_mil(c, rop, "x", var) || !mk_onnx_in_f32(c, rop, "epsilon", eps))
        return fail(c);
    mk_value *inv = mk_onnx_out(c, rop, NULL);
    if (!inv) return fail(c);
    mk_onnx_set(out[2], inv);
    return MK_OK;
}

OX_LOWER(mk_onnx_lower_layer_norm)
{
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    int64_t a = mk_onnx_attr_i(n, "axis", -1);
    if (a < 0) a += r;
    if (a < 0 || a >= r) return mk_err_set(c->err, MK_EINVAL, "bad axis");
    int32_t axes[MK_MAX_RANK];
    int na = 0;
    for (int i = (int)a; i < r; i++) axes[na++] = i;
    /* MIL gamma/beta must have the normalized shape exactly; otherwise scale afterwards */
    ox_val *g = n_in > 1 ? in[1] : NULL, *b = n_in > 2 ? in[2] : NULL;
    int exact = 1;
    for (int k = 0; k < 2; k++) {
        ox_val *p = k ? b : g;
        if (!p) continue;
        if (!p->data || p->type.rank != na) exact = 0;
        for (int i = 0; exact && i < na; i++) exact = p->type.dims[i] == x->type.dims[a + i];
    }
    mk_op *op = mk_onnx_op(c, MK_OP_LAYER_NORM, exact ? oname(n, 0) : NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", na, axes) ||
        (exact && g && !mk_onnx_in(c, op, "gamma", g)) ||
        (exact && b && !mk_onnx_in(c, op, "beta", b)) ||
        !mk_onnx_in_f32(c, op, "epsilon", mk_onnx_attr_f(n, "epsilon", 1e-5f)))
        return fail(c);
    mk_value *v = mk_onnx_out(c, op, NULL);
    if (!exact && v && g) v = mk_onnx_binary(c, MK_OP_MUL, v, mil(c, g), b ? NULL : oname(n, 0));
    if (!exact && v && b) v = mk_onnx_binary(c, MK_OP_ADD, v, mil(c, b), oname(n, 0));
    if (!exact && v && !g && !b) v = mk_onnx_unary(c, MK_OP_IDENTITY, v, oname(n, 0));
    mk_status st = done(c, out[0], v);
    if (st == MK_OK && n_out > 1)
        st = layer_norm_stats(c, n, x, axes, na, mk_onnx_attr_f(n, "epsilon", 1e-5f), out, n_out);
    return st;
}

/* ---- Pad ---- */
OX_WHY(mk_onnx_why_pad)
{
    const char *m = mk_onnx_attr_s(c, n, "mode", "constant");
    if (strcmp(m, "constant") && strcmp(m, "reflect") && strcmp(m, "edge"))
        return "Pad mode unsupported (constant, reflect, edge)";
    return NULL;
}

static mk_value *pad_cast(ox_ctx *c, mk_value *x, const char *dtype, const char *name)
{
    mk_op *op = mk_onnx_op(c, MK_OP_CAST, name);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_str(c, op, "dtype", dtype))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

OX_LOWER(mk_onnx_lower_pad)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    const char *mode = mk_onnx_attr_s(c, n, "mode", "constant");
    int64_t pads[2 * MK_MAX_RANK];
    float cval = 0;
    int np;
    if (c->opset < 11) {
        const int64_t *v;
        np = mk_onnx_attr_ints(n, c->opset < 2 ? "paddings" : "pads", &v);
        if (np != 2 * r) return mk_err_set(c->err, MK_EINVAL, "pads length %d for rank %d", np, r);
        memcpy(pads, v, (size_t)np * 8);
        cval = mk_onnx_attr_f(n, "value", 0);
    } else {
        if (n_in < 2 || !in[1]) return mk_err_set(c->err, MK_EINVAL, "missing pads");
        if (!in[1]->data) return mk_onnx_unsupported(c, n, "pads computed at run time");
        np = (int)mk_onnx_numel(&in[1]->type);
        int64_t raw[2 * MK_MAX_RANK];
        if (np > 2 * MK_MAX_RANK) return mk_err_set(c->err, MK_EINVAL, "too many pads");
        for (int i = 0; i < np; i++) raw[i] = mk_onnx_cget_i(in[1], (size_t)i);
        if (n_in > 2 && in[2]) {
            if (!in[2]->data) return mk_onnx_unsupported(c, n, "pad value computed at run time");
            cval = (float)mk_onnx_cget_f(in[2], 0);
        }
        if (n_in > 3 && in[3]) {
            if (!in[3]->data) return mk_onnx_unsupported(c, n, "axes computed at run time");
            int na = (int)mk_onnx_numel(&in[3]->type);
            if (np != 2 * na || na > r) return mk_err_set(c->err, MK_EINVAL, "pads/axes lengths");
            for (int i = 0; i < 2 * r; i++) pads[i] = 0;
            for (int i = 0; i < na; i++) {
                int64_t ax = mk_onnx_cget_i(in[3], (size_t)i);
                if (ax < 0) ax += r;
                if (ax < 0 || ax >= r) return mk_err_set(c->err, MK_EINVAL, "bad axis");
                pads[ax] = raw[i];
                pads[r + ax] = raw[na + i];
            }
        } else {
            if (np != 2 * r)
                return mk_err_set(c->err, MK_EINVAL, "pads length %d for rank %d", np, r);
            memcpy(pads, raw, (size_t)np * 8);
        }
    }
    int32_t p32[2 * MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        if (pads[i] < 0 || pads[r + i] < 0) return mk_onnx_unsupported(c, n, "negative pads");
        if (pads[i] > INT32_MAX || pads[r + i] > INT32_MAX)
            return mk_err_set(c->err, MK_EINVAL, "pad too big");
        if (strcmp(mode, "constant") && i < r - 2 && (pads[i] || pads[r + i]))
            return mk_onnx_unsupported(c, n, "%s pad on a leading axis (MIL pads the last two)",
                                       mode);
        if (!strcmp(mode, "reflect") && x->type.dims[i] >= 0 &&
            (pads[i] >= x->type.dims[i] || pads[r + i] >= x->type.dims[i]))
            return mk_err_set(c->err, MK_EINVAL, "reflect pad larger than the axis");
        p32[2 * i] = (int32_t)pads[i];
        p32[2 * i + 1] = (int32_t)pads[r + i];
    }
    /* MIL pad takes fp16/fp32 only: an integer tensor is padded in fp32 (exact to 2^24) */
    int isint = !mk_dtype_is_float(x->type.dtype);
    const char *dn = mk_dtype_name(x->type.dtype);
    if (isint && (!dn || !(x = pad_cast(c, x, "fp32", NULL)))) return fail(c);
    mk_op *op = mk_onnx_op(c, MK_OP_PAD, isint ? NULL : oname(n, 0));
    const char *mm = !strcmp(mode, "edge") ? "replicate" : mode;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "pad", 2 * r, p32) ||
        !mk_onnx_in_str(c, op, "mode", mm) || !mk_onnx_in_f32(c, op, "constant_val", cval))
        return fail(c);
    mk_value *y = mk_onnx_out(c, op, NULL);
    return done(c, out[0], isint && y ? pad_cast(c, y, dn, oname(n, 0)) : y);
}

/* ---- Resize / Upsample ---- */
OX_WHY(mk_onnx_why_resize)
{
    const char *m = mk_onnx_attr_s(c, n, "mode", "nearest");
    if (strcmp(m, "nearest") && strcmp(m, "linear") && strcmp(m, "bilinear") && strcmp(m, "cubic"))
        return "Resize mode unsupported";
    const char *ct = mk_onnx_attr_s(c, n, "coordinate_transformation_mode", "half_pixel");
    if (!strcmp(ct, "tf_crop_and_resize")) return "tf_crop_and_resize unsupported";
    if (mk_onnx_attr_i(n, "antialias", 0)) return "antialias unsupported";
    return NULL;
}

/* Source coordinate of output index o along an axis (ONNX Resize coordinate transforms);
 * the resized length is in * scale before rounding, as the specification has it. */
static double src_coord(const char *ct, double o, int64_t in, int64_t out, double scale)
{
    double len = (double)in * scale;
    if (!strcmp(ct, "align_corners")) return len <= 1 ? 0 : o * (double)(in - 1) / (len - 1);
    if (!strcmp(ct, "asymmetric")) return o / scale;
    if (!strcmp(ct, "tf_half_pixel_for_nn")) return (o + 0.5) / scale;
    if (!strcmp(ct, "pytorch_half_pixel")) return len > 1 ? (o + 0.5) / scale - 0.5 : 0;
    if (!strcmp(ct, "half_pixel_symmetric")) {
        double adj = (double)out / len, center = (double)in / 2;
        return center * (1 - adj) + (o + 0.5) / scale - 0.5;
    }
    return (o + 0.5) / scale - 0.5; /* half_pixel */
}

/* The input index nearest mode picks for source coordinate x, clamped to the axis. */
static int64_t nearest_index(const char *nmode, double x, int64_t in)
{
    double f = floor(x), frac = x - f;
    int64_t k;
    if (!strcmp(nmode, "floor"))
        k = (int64_t)f;
    else if (!strcmp(nmode, "ceil"))
        k = (int64_t)ceil(x);
    else if (!strcmp(nmode, "round_prefer_ceil"))
        k = (int64_t)(frac >= 0.5 ? f + 1 : f);
    else
        k = (int64_t)(frac > 0.5 ? f + 1 : f);
    return k < 0 ? 0 : k >= in ? in - 1 : k;
}

/* Whether nearest resize of an axis by integer factor f is plain repetition (index o / f). */
static int nearest_is_repeat(const char *ct, const char *nmode, int64_t in, int64_t out, int64_t f)
{
    for (int64_t o = 0; o < out; o++)
        if (nearest_index(nmode, src_coord(ct, (double)o, in, out, (double)f), in) != o / f)
            return 0;
    return 1;
}

static int known_ct(const char *ct)
{
    return !strcmp(ct, "align_corners") || !strcmp(ct, "asymmetric") ||
           !strcmp(ct, "tf_half_pixel_for_nn") || !strcmp(ct, "pytorch_half_pixel") ||
           !strcmp(ct, "half_pixel_symmetric") || !strcmp(ct, "half_pixel");
}

/* Interpolation weights W[out][in] of one axis: y = W x. Neighbours outside the axis repeat
 * its edge (or, with exclude_outside, drop out and the rest are renormalized). */
static void resize_weights(ox_ctx *c, const Onnx__NodeProto *n, const char *mode, const char *ct,
                           int64_t in, int64_t out, double scale, float *w)
{
    const char *nmode =
        c->opset >= 11 ? mk_onnx_attr_s(c, n, "nearest_mode", "round_prefer_floor") : "floor";
    double A = mk_onnx_attr_f(n, "cubic_coeff_a", -0.75f);
    int excl = (int)mk_onnx_attr_i(n, "exclude_outside", 0);
    memset(w, 0, (size_t)(out * in) * sizeof *w);
    for (int64_t o = 0; o < out; o++) {
        double x = src_coord(ct, (double)o, in, out, scale);
        float *row = w + o * in;
        if (!strcmp(mode, "nearest")) {
            row[nearest_index(nmode, x, in)] = 1;
            continue;
        }
        double f = floor(x), r = x - f, cw[4];
        int64_t base = (int64_t)f, nb;
        if (!strcmp(mode, "cubic")) {
            double r1 = r + 1, q = 1 - r, q1 = q + 1;
            cw[0] = ((A * r1 - 5 * A) * r1 + 8 * A) * r1 - 4 * A;
            cw[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
            cw[2] = ((A + 2) * q - (A + 3)) * q * q + 1;
            cw[3] = ((A * q1 - 5 * A) * q1 + 8 * A) * q1 - 4 * A;
            base -= 1;
            nb = 4;
        } else {
            cw[0] = 1 - r;
            cw[1] = r;
            nb = 2;
        }
        double sum = 0;
        for (int64_t j = 0; j < nb; j++) {
            int64_t k = base + j;
            if (excl && (k < 0 || k >= in)) cw[j] = 0;
            sum += cw[j];
        }
        for (int64_t j = 0; j < nb; j++) {
            int64_t k = base + j;
            k = k < 0 ? 0 : k >= in ? in - 1 : k;
            row[k] += (float)(excl && sum != 0 ? cw[j] / sum : cw[j]);
        }
    }
}

/* Any separable resize of the last two axes as constant interpolation matrices: y = Wh x Ww^T
 * (one matmul per resized axis). Used where MIL's resize ops cannot express the mode. */
static mk_status resize_matrix(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, const int64_t *od,
                               const float *s, const char *mode, const char *ct, ox_val *o)
{
    int r = x->type.rank;
    if (!known_ct(ct)) return mk_onnx_unsupported(c, n, "coordinate transformation %s", ct);
    for (int i = 0; i < r - 2; i++)
        if (od[i] != x->type.dims[i]) return mk_onnx_unsupported(c, n, "resize of a leading axis");
    mk_value *v = x;
    int last = -1;
    for (int a = r >= 2 ? r - 2 : 0; a < r; a++)
        if (od[a] != x->type.dims[a] || s[a] != 1.0f) last = a;
    if (last < 0) return done(c, o, mk_onnx_unary(c, MK_OP_IDENTITY, x, oname(n, 0)));
    for (int a = r >= 2 ? r - 2 : 0; a < r && v; a++) {
        int64_t in = x->type.dims[a];
        if (od[a] == in && s[a] == 1.0f) continue;
        size_t cells;
        if (!mk_mul_size((size_t)od[a], (size_t)in, &cells) || cells > ((size_t)1 << 22))
            return mk_onnx_unsupported(c, n, "%s resize of %lld to %lld: weight matrix too large",
                                       mode, (long long)in, (long long)od[a]);
        float *w = mk_onnx_weight_alloc(c, cells * sizeof *w);
        if (!w) return fail(c);
        resize_weights(c, n, mode, ct, in, od[a], (double)s[a], w);
        int64_t wd[2] = {od[a], in};
        mk_value *wv = mk_onnx_cf32_own(c, "resize_weights", 2, wd, w);
        mk_op *op = wv ? mk_onnx_op(c, MK_OP_MATMUL, a == last ? oname(n, 0) : NULL) : NULL;
        int along_h = a == r - 2;
        /* H: W @ x; W (last axis): x @ W^T */
        if (!op || !mk_onnx_in_mil(c, op, "x", along_h ? wv : v) ||
            !mk_onnx_in_mil(c, op, "y", along_h ? v : wv) ||
            !mk_onnx_in_bool(c, op, "transpose_x", 0) ||
            !mk_onnx_in_bool(c, op, "transpose_y", !along_h))
            return fail(c);
        v = mk_onnx_out(c, op, NULL);
    }
    return done(c, o, v);
}

/* Resize of flexible H/W (ranges from --shape): MIL's nearest upsampling takes scale factors,
 * not sizes, so integer nearest upsampling converts with the dims left unknown. */
static mk_status resize_dynamic(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, const float *sc,
                                const int64_t *sizes, const char *mode, const char *ct, ox_val *o)
{
    int r = x->type.rank;
    if (sizes) return mk_onnx_unsupported(c, n, "sizes given for a flexible input shape");
    if (r != 4) return mk_onnx_unsupported(c, n, "flexible shape with rank %d", r);
    for (int i = 0; i < r - 2; i++)
        if (sc[i] != 1.0f) return mk_onnx_unsupported(c, n, "resize of a leading axis");
    float sh = sc[2], sw = sc[3];
    if (strcmp(mode, "nearest") || sh != floorf(sh) || sw != floorf(sw) || sh < 1 || sw < 1 ||
        sh > 1024 || sw > 1024)
        return mk_onnx_unsupported(c, n,
                                   "on a flexible shape only nearest upsampling by integer "
                                   "scales converts (mode %s, scales %g x %g)",
                                   mode, (double)sh, (double)sw);
    const char *nmode =
        c->opset >= 11 ? mk_onnx_attr_s(c, n, "nearest_mode", "round_prefer_floor") : "floor";
    /* the index map of these transforms repeats with period f; check one length */
    if (!strcmp(ct, "align_corners") || !known_ct(ct) ||
        !nearest_is_repeat(ct, nmode, 16, 16 * (int64_t)sh, (int64_t)sh) ||
        !nearest_is_repeat(ct, nmode, 16, 16 * (int64_t)sw, (int64_t)sw))
        return mk_onnx_unsupported(c, n,
                                   "nearest %s/%s on a flexible shape is not plain "
                                   "repetition",
                                   ct, nmode);
    mk_op *op = mk_onnx_op(c, MK_OP_UPSAMPLE_NEAREST_NEIGHBOR, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) ||
        !mk_onnx_in_f32(c, op, "scale_factor_height", sh) ||
        !mk_onnx_in_f32(c, op, "scale_factor_width", sw))
        return fail(c);
    return done(c, o, mk_onnx_out(c, op, NULL));
}

static mk_status resize_common(ox_ctx *c, const Onnx__NodeProto *n, mk_value *x, const float *sc,
                               const int64_t *sizes, ox_val *o)
{
    int r = x->type.rank;
    const char *mode = mk_onnx_attr_s(c, n, "mode", "nearest");
    const char *ct = c->opset >= 11
                         ? mk_onnx_attr_s(c, n, "coordinate_transformation_mode", "half_pixel")
                         : "asymmetric";
    if (!strcmp(mode, "bilinear")) mode = "linear";
    if (r < 1) return mk_onnx_unsupported(c, n, "Resize of a scalar");
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "non-float Resize");
    int dyn = 0;
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] < 0) {
            if (i < r - 2) return mk_onnx_unsupported(c, n, "needs static leading dims");
            dyn = 1;
        }
    if (dyn) return resize_dynamic(c, n, x, sc, sizes, mode, ct, o);
    int64_t od[MK_MAX_RANK];
    float s[MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        if (sizes) {
            od[i] = sizes[i];
            s[i] = (float)sizes[i] / (float)x->type.dims[i];
        } else {
            s[i] = sc[i];
            od[i] = (int64_t)floorf((float)x->type.dims[i] * sc[i]);
        }
        if (od[i] < 1) return mk_err_set(c->err, MK_EINVAL, "empty output");
        if (od[i] > INT32_MAX) return mk_err_set(c->err, MK_EINVAL, "output too large");
    }
    for (int i = 0; i < r - 2; i++)
        if (od[i] != x->type.dims[i]) return mk_onnx_unsupported(c, n, "resize of a leading axis");
    /* MIL's own resize ops where they mean the same; interpolation matrices otherwise */
    int native = (r == 3 || r == 4) && strcmp(mode, "cubic") != 0;
    float sh = native ? s[r - 2] : 1, sw = native ? s[r - 1] : 1;
    if (native && !strcmp(mode, "nearest")) {
        int integral = sh == floorf(sh) && sw == floorf(sw) && sh >= 1 && sw >= 1 &&
                       od[r - 2] == (int64_t)sh * x->type.dims[r - 2] &&
                       od[r - 1] == (int64_t)sw * x->type.dims[r - 1];
        const char *nmode =
            c->opset >= 11 ? mk_onnx_attr_s(c, n, "nearest_mode", "round_prefer_floor") : "floor";
        if (!integral || !known_ct(ct) ||
            !nearest_is_repeat(ct, nmode, x->type.dims[r - 2], od[r - 2], (int64_t)sh) ||
            !nearest_is_repeat(ct, nmode, x->type.dims[r - 1], od[r - 1], (int64_t)sw))
            native = 0;
    } else if (native) {
        int exact = (double)od[r - 2] == (double)sh * (double)x->type.dims[r - 2] &&
                    (double)od[r - 1] == (double)sw * (double)x->type.dims[r - 1];
        if ((strcmp(ct, "align_corners") && strcmp(ct, "asymmetric") && strcmp(ct, "half_pixel") &&
             strcmp(ct, "pytorch_half_pixel")) ||
            (!strcmp(ct, "pytorch_half_pixel") && (od[r - 2] == 1 || od[r - 1] == 1)) || !exact)
            native = 0;
    }
    if (!native) return resize_matrix(c, n, x, od, s, mode, ct, o);
    mk_value *xv = x;
    if (r == 3) {
        int64_t d4[4] = {1, x->type.dims[0], x->type.dims[1], x->type.dims[2]};
        xv = mk_onnx_reshape(c, x, 4, d4, NULL);
        if (!xv) return fail(c);
    }
    mk_op *op;
    const char *nm = r == 3 ? NULL : oname(n, 0);
    if (!strcmp(mode, "nearest")) {
        op = mk_onnx_op(c, MK_OP_UPSAMPLE_NEAREST_NEIGHBOR, nm);
        if (!op || !mk_onnx_in_mil(c, op, "x", xv) ||
            !mk_onnx_in_f32(c, op, "scale_factor_height", sh) ||
            !mk_onnx_in_f32(c, op, "scale_factor_width", sw))
            return fail(c);
    } else {
        const char *sm;
        if (!strcmp(ct, "align_corners"))
            sm = "STRICT_ALIGN_CORNERS";
        else if (!strcmp(ct, "asymmetric"))
            sm = "DEFAULT";
        else
            sm = "UNALIGN_CORNERS";
        op = mk_onnx_op(c, MK_OP_RESIZE_BILINEAR, nm);
        if (!op || !mk_onnx_in_mil(c, op, "x", xv) ||
            !mk_onnx_in_i32(c, op, "target_size_height", (int32_t)od[r - 2]) ||
            !mk_onnx_in_i32(c, op, "target_size_width", (int32_t)od[r - 1]) ||
            !mk_onnx_in_str(c, op, "sampling_mode", sm))
            return fail(c);
    }
    mk_value *v = mk_onnx_out(c, op, NULL);
    if (v && r == 3) v = mk_onnx_reshape(c, v, 3, od, oname(n, 0));
    return done(c, o, v);
}

OX_LOWER(mk_onnx_lower_resize)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    ox_val *scales = NULL, *sizes = NULL;
    if (c->opset < 11)
        scales = n_in > 1 ? in[1] : NULL;
    else {
        scales = n_in > 2 ? in[2] : NULL;
        sizes = n_in > 3 ? in[3] : NULL;
    }
    if (scales && mk_onnx_numel(&scales->type) == 0) scales = NULL;
    if (sizes && mk_onnx_numel(&sizes->type) == 0) sizes = NULL;
    if ((scales && !scales->data) || (sizes && !sizes->data))
        return mk_onnx_unsupported(c, n, "scales/sizes computed at run time");
    if (!scales && !sizes) return mk_err_set(c->err, MK_EINVAL, "neither scales nor sizes");
    if (c->opset >= 18 && n_in > 0 && mk_onnx_attr(n, "axes"))
        return mk_onnx_unsupported(c, n, "axes attribute");
    float sc[MK_MAX_RANK];
    int64_t sz[MK_MAX_RANK];
    ox_val *v = sizes ? sizes : scales;
    if ((int)mk_onnx_numel(&v->type) != r)
        return mk_err_set(c->err, MK_EINVAL, "scales/sizes length");
    for (int i = 0; i < r; i++) {
        if (sizes)
            sz[i] = mk_onnx_cget_i(sizes, (size_t)i);
        else
            sc[i] = (float)mk_onnx_cget_f(scales, (size_t)i);
    }
    return resize_common(c, n, x, sc, sizes ? sz : NULL, out[0]);
}

OX_LOWER(mk_onnx_lower_upsample)
{
    (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    float sc[MK_MAX_RANK];
    if (c->opset < 9) {
        const Onnx__AttributeProto *a = mk_onnx_attr(n, "scales");
        if (!a || (int)a->n_floats != r) return mk_err_set(c->err, MK_EINVAL, "scales");
        for (int i = 0; i < r; i++) sc[i] = a->floats[i];
    } else {
        if (n_in < 2 || !in[1]) return mk_err_set(c->err, MK_EINVAL, "missing scales");
        if (!in[1]->data) return mk_onnx_unsupported(c, n, "scales computed at run time");
        if ((int)mk_onnx_numel(&in[1]->type) != r)
            return mk_err_set(c->err, MK_EINVAL, "scales length");
        for (int i = 0; i < r; i++) sc[i] = (float)mk_onnx_cget_f(in[1], (size_t)i);
    }
    return resize_common(c, n, x, sc, NULL, out[0]);
}

/* ---- LRN and MeanVarianceNormalization ---- */

/* LRN: y = x / (bias + alpha / size * s)^beta with s the sum of squares over a window of
 * channels [c - floor((size-1)/2), c + ceil((size-1)/2)], computed as a constant band matrix
 * times x^2 (MIL's own op is left out: see the report on its name in ops.def). */
OX_LOWER(mk_onnx_lower_lrn)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    int64_t size = mk_onnx_attr_i(n, "size", 0);
    float alpha = mk_onnx_attr_f(n, "alpha", 1e-4f), beta = mk_onnx_attr_f(n, "beta", 0.75f);
    float bias = mk_onnx_attr_f(n, "bias", 1.0f);
    if (r < 3 || x->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "needs float [N, C, ...]");
    if (size < 1) return mk_err_set(c->err, MK_EINVAL, "size must be positive");
    int64_t N = x->type.dims[0], C = x->type.dims[1], rest = 1;
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static shape");
    for (int i = 2; i < r; i++) rest *= x->type.dims[i];
    if (C > 4096) return mk_onnx_unsupported(c, n, "%lld channels", (long long)C);
    float *band = mk_onnx_weight_alloc(c, (size_t)(C * C) * sizeof *band);
    if (!band) return fail(c);
    int64_t lo = (size - 1) / 2, hi = size - 1 - lo;
    for (int64_t i = 0; i < C; i++)
        for (int64_t j = 0; j < C; j++)
            band[i * C + j] = j >= i - lo && j <= i + hi ? alpha / (float)size : 0;
    int64_t bd[2] = {C, C}, d3[3] = {N, C, rest};
    mk_value *bv = mk_onnx_cf32_own(c, "lrn_band", 2, bd, band);
    mk_value *x3 = bv ? mk_onnx_reshape(c, x, 3, d3, NULL) : NULL;
    mk_value *sq = x3 ? mk_onnx_binary(c, MK_OP_MUL, x3, x3, NULL) : NULL;
    mk_op *mm = sq ? mk_onnx_op(c, MK_OP_MATMUL, NULL) : NULL;
    if (!mm || !mk_onnx_in_mil(c, mm, "x", bv) || !mk_onnx_in_mil(c, mm, "y", sq) ||
        !mk_onnx_in_bool(c, mm, "transpose_x", 0) || !mk_onnx_in_bool(c, mm, "transpose_y", 0))
        return fail(c);
    mk_value *s = mk_onnx_out(c, mm, NULL);
    mk_value *base =
        s ? mk_onnx_binary(c, MK_OP_ADD, s, mk_onnx_cf32(c, "lrn_bias", 0, NULL, &bias), NULL)
          : NULL;
    mk_value *pw =
        base ? mk_onnx_binary(c, MK_OP_POW, base, mk_onnx_cf32(c, "lrn_beta", 0, NULL, &beta), NULL)
             : NULL;
    mk_value *y = pw ? mk_onnx_binary(c, MK_OP_REAL_DIV, x3, pw, NULL) : NULL;
    return done(c, out[0], y ? mk_onnx_reshape(c, y, r, x->type.dims, oname(n, 0)) : NULL);
}

/* MeanVarianceNormalization as ONNX defines it: (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9)
 * over the axes (default 0, 2, 3). */
OX_LOWER(mk_onnx_lower_mvn)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    if (x->type.dtype != MK_DT_FP32) return mk_onnx_unsupported(c, n, "non-float input");
    const int64_t *av;
    int64_t defaxes[3] = {0, 2, 3};
    int na = mk_onnx_attr_ints(n, "axes", &av);
    if (na < 0) av = defaxes, na = 3;
    int32_t axes[MK_MAX_RANK];
    int flag[MK_MAX_RANK] = {0};
    if (na < 1 || na > r) return mk_err_set(c->err, MK_EINVAL, "bad axes");
    for (int i = 0; i < na; i++) {
        int64_t a = av[i] < 0 ? av[i] + r : av[i];
        if (a < 0 || a >= r || flag[a]) return mk_err_set(c->err, MK_EINVAL, "bad axes");
        flag[a] = 1;
        axes[i] = (int32_t)a;
    }
    mk_value *m = NULL, *m2 = NULL, *sq = mk_onnx_binary(c, MK_OP_MUL, x, x, NULL);
    for (int k = 0; k < 2 && sq; k++) {
        mk_op *op = mk_onnx_op(c, MK_OP_REDUCE_MEAN, NULL);
        if (!op || !mk_onnx_in_mil(c, op, "x", k ? sq : x) ||
            !mk_onnx_in_i32s(c, op, "axes", na, axes) || !mk_onnx_in_bool(c, op, "keep_dims", 1))
            return fail(c);
        *(k ? &m2 : &m) = mk_onnx_out(c, op, NULL);
        if (!(k ? m2 : m)) return fail(c);
    }
    float eps = 1e-9f;
    mk_value *mm = m2 ? mk_onnx_binary(c, MK_OP_MUL, m, m, NULL) : NULL;
    mk_value *var = mm ? mk_onnx_binary(c, MK_OP_SUB, m2, mm, NULL) : NULL;
    mk_value *sd = var ? mk_onnx_unary(c, MK_OP_SQRT, var, NULL) : NULL;
    mk_value *sde =
        sd ? mk_onnx_binary(c, MK_OP_ADD, sd, mk_onnx_cf32(c, "mvn_eps", 0, NULL, &eps), NULL)
           : NULL;
    mk_value *d = sde ? mk_onnx_binary(c, MK_OP_SUB, x, m, NULL) : NULL;
    return done(c, out[0], d ? mk_onnx_binary(c, MK_OP_REAL_DIV, d, sde, oname(n, 0)) : NULL);
}
