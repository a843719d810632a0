/* Type rules for neural-network ops: conv / conv_transpose (every pad_type, dilations, groups,
 * output_shape), pooling (ceil_mode), matmul / linear / einsum, normalizations, recurrent
 * layers, attention, resampling and depth/space rearrangements. Output sizes follow the MIL
 * definitions (coremltools' spatial_dimensions_out_shape arithmetic); no values are computed. */
#include <string.h>

#include "infer_int.h"

/* A const int vector of exactly len entries (def fills when absent); known must be 1. */
static mk_status vec(mk_ictx *c, const char *param, int len, int64_t def, int64_t *out)
{
    const mk_operand *o = mk_ir_infer_in(c, param);
    for (int i = 0; i < len; i++) out[i] = def;
    if (!o) return MK_OK;
    int n = 0, k = mk_ir_infer_ints(c, param, o, out, 2 * MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    if (!k) return mk_ir_infer_fail(c, "'%s' must be a known constant", param);
    if (n != len) return mk_ir_infer_fail(c, "'%s' has %d entries, expected %d", param, n, len);
    return MK_OK;
}

typedef enum { PAD_VALID, PAD_SAME, PAD_SAME_LOWER, PAD_CUSTOM } pad_kind;

static mk_status read_pad_type(mk_ictx *c, const char *def, pad_kind *pk)
{
    const char *s = mk_ir_infer_str(c, "pad_type", def);
    if (!s) return mk_ir_infer_fail(c, "'pad_type' must be a constant string");
    if (!strcmp(s, "valid"))
        *pk = PAD_VALID;
    else if (!strcmp(s, "same"))
        *pk = PAD_SAME;
    else if (!strcmp(s, "same_lower"))
        *pk = PAD_SAME_LOWER;
    else if (!strcmp(s, "custom"))
        *pk = PAD_CUSTOM;
    else
        return mk_ir_infer_fail(c, "unknown pad_type \"%s\"", s);
    return MK_OK;
}

/* One spatial output size of conv/pool. */
static mk_status spatial_out(mk_ictx *c, int axis, int64_t in, int64_t k, int64_t s, int64_t d,
                             int64_t pb, int64_t pa, pad_kind pk, int ceil_mode, int64_t *out)
{
    if (k <= 0 && k != MK_DIM_UNKNOWN)
        return mk_ir_infer_fail(c, "kernel size %lld invalid on spatial axis %d", (long long)k,
                                axis);
    if (s <= 0 || d <= 0)
        return mk_ir_infer_fail(c, "stride %lld / dilation %lld invalid on spatial axis %d",
                                (long long)s, (long long)d, axis);
    if (pb < 0 || pa < 0) return mk_ir_infer_fail(c, "negative pad on spatial axis %d", axis);
    if (in < 0 || k < 0) {
        *out = MK_DIM_UNKNOWN;
        return MK_OK;
    }
    if (k > MK_INFER_DIM_MAX || d > MK_INFER_DIM_MAX / k || s > MK_INFER_DIM_MAX ||
        pb > MK_INFER_DIM_MAX || pa > MK_INFER_DIM_MAX)
        return mk_ir_infer_fail(c, "absurd kernel/stride/pad on spatial axis %d", axis);
    int64_t eff = (k - 1) * d + 1, pad = 0;
    if (pk == PAD_CUSTOM)
        pad = pb + pa;
    else if (pk != PAD_VALID) {
        int64_t p = s * ((in + s - 1) / s) - in + eff - s;
        pad = p > 0 ? p : 0;
    }
    int64_t num = in + pad - eff, o;
    if (ceil_mode) num += s - 1;
    o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && pad > 0 && 2 * (o - 1) * s >= 2 * in + pad) o--;
    if (o <= 0)
        return mk_ir_infer_fail(c,
                                "spatial axis %d has invalid output size %lld (input %lld, "
                                "kernel %lld)",
                                axis, (long long)o, (long long)in, (long long)eff);
    *out = o;
    return MK_OK;
}

/* conv and conv_quantized (whose weight is uint8, whatever x's dtype) */
static mk_status conv_rule(mk_ictx *c, int quantized)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *w = x ? mk_ir_infer_req(c, "weight") : NULL;
    if (!w) return c->e->code;
    if (mk_ir_infer_rank(c, "x", x, 3, 5)) return c->e->code;
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int r = x->type.rank, ns = r - 2;
    if (w->type.rank >= 0 && w->type.rank != r)
        return mk_ir_infer_fail(c, "weight rank %d differs from x rank %d", w->type.rank, r);
    if (!quantized && c->ios < 17 && w->type.dtype != x->type.dtype)
        return mk_ir_infer_fail(c, "weight dtype differs from x dtype");
    int64_t g, st[MK_MAX_RANK], dl[MK_MAX_RANK], pad[2 * MK_MAX_RANK];
    pad_kind pk;
    if (mk_ir_infer_int(c, "groups", 1, &g, NULL) || vec(c, "strides", ns, 1, st) ||
        vec(c, "dilations", ns, 1, dl) || vec(c, "pad", 2 * ns, 0, pad) ||
        read_pad_type(c, "valid", &pk))
        return c->e->code;
    if (g <= 0) return mk_ir_infer_fail(c, "groups %lld must be positive", (long long)g);
    if (pk == PAD_SAME_LOWER && c->ios < 16)
        return mk_ir_infer_fail(c, "pad_type same_lower needs iOS16");
    int wr = w->type.rank;
    int64_t cin = x->type.dims[1], cout = wr >= 0 ? w->type.dims[0] : MK_DIM_UNKNOWN;
    if (cin >= 0 && cin % g)
        return mk_ir_infer_fail(c, "input channels %lld not divisible by groups %lld",
                                (long long)cin, (long long)g);
    if (cin >= 0 && wr >= 0 && w->type.dims[1] >= 0 && cin / g != w->type.dims[1])
        return mk_ir_infer_fail(c, "C_in/groups = %lld/%lld != weight dim 1 (%lld)", (long long)cin,
                                (long long)g, (long long)w->type.dims[1]);
    if (cout >= 0 && cout % g)
        return mk_ir_infer_fail(c, "output channels %lld not divisible by groups %lld",
                                (long long)cout, (long long)g);
    const mk_operand *b = mk_ir_infer_in(c, "bias");
    if (b &&
        (b->type.rank > 1 || (b->type.rank == 1 && mk_ir_infer_same_dim(c, "bias length vs C_out",
                                                                        b->type.dims[0], cout))))
        return c->e->code ? c->e->code : mk_ir_infer_fail(c, "bias must be a vector");
    mk_type t = x->type;
    t.dims[1] = cout;
    for (int i = 0; i < ns; i++) {
        int64_t k = wr >= 0 ? w->type.dims[2 + i] : MK_DIM_UNKNOWN;
        if (pk != PAD_CUSTOM) pad[2 * i] = pad[2 * i + 1] = 0;
        if (spatial_out(c, i, x->type.dims[2 + i], k, st[i], dl[i], pad[2 * i], pad[2 * i + 1], pk,
                        0, &t.dims[2 + i]))
            return c->e->code;
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_conv(mk_ictx *c)
{
    return conv_rule(c, 0);
}

/* coremltools iOS15 conv.py: W = quant_scale * q + quant_bias for "linear", 1 <= nbits <= 8;
 * scale and bias are scalars or one per output channel (NeuralNetwork's linearQuantization).
 * "lut" is named but its table has no parameter, so it is refused. */
mk_status mk_ir_rule_conv_quantized(mk_ictx *c)
{
    const mk_operand *w = mk_ir_infer_req(c, "weight");
    if (!w) return c->e->code;
    if (w->type.dtype != MK_DT_UINT8) return mk_ir_infer_fail(c, "weight must be uint8");
    const char *qt = mk_ir_infer_str(c, "quantization_type", NULL);
    if (qt && strcmp(qt, "linear") != 0)
        return mk_ir_infer_fail(c,
                                "quantization_type '%s' is not supported (only 'linear': "
                                "'lut' has no table parameter in the op's definition)",
                                qt);
    int64_t nbits;
    if (mk_ir_infer_int(c, "nbits", 8, &nbits, NULL)) return c->e->code;
    if (nbits < 1 || nbits > 8)
        return mk_ir_infer_fail(c, "nbits %lld not in [1, 8]", (long long)nbits);
    int64_t cout = w->type.rank >= 1 ? w->type.dims[0] : MK_DIM_UNKNOWN;
    static const char *const qp[2] = {"quant_scale", "quant_bias"};
    for (int i = 0; i < 2; i++) {
        const mk_operand *q = mk_ir_infer_req(c, qp[i]);
        if (!q) return c->e->code;
        size_t n;
        if (!mk_type_is_static(&q->type) || !mk_type_numel(&q->type, &n)) continue;
        if (n != 1 && (cout < 0 || n != (size_t)cout))
            return mk_ir_infer_fail(c, "%s has %zu values: needs 1 or C_out (%lld)", qp[i], n,
                                    (long long)cout);
    }
    return conv_rule(c, 1);
}

mk_status mk_ir_rule_conv_transpose(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *w = x ? mk_ir_infer_req(c, "weight") : NULL;
    if (!w) return c->e->code;
    if (mk_ir_infer_rank(c, "x", x, 3, 5)) return c->e->code;
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int r = x->type.rank, ns = r - 2;
    if (w->type.rank >= 0 && w->type.rank != r)
        return mk_ir_infer_fail(c, "weight rank %d differs from x rank %d", w->type.rank, r);
    int64_t g, st[MK_MAX_RANK], dl[MK_MAX_RANK], pad[2 * MK_MAX_RANK];
    pad_kind pk;
    if (mk_ir_infer_int(c, "groups", 1, &g, NULL) || vec(c, "strides", ns, 1, st) ||
        vec(c, "dilations", ns, 1, dl) || vec(c, "pad", 2 * ns, 0, pad) ||
        read_pad_type(c, "valid", &pk))
        return c->e->code;
    if (g <= 0) return mk_ir_infer_fail(c, "groups %lld must be positive", (long long)g);
    int wr = w->type.rank;
    int64_t cout = MK_DIM_UNKNOWN;
    if (wr >= 0) {
        if (mk_ir_infer_same_dim(c, "C_in vs weight dim 0", x->type.dims[1], w->type.dims[0]) ||
            mk_ir_infer_dim_mul(c, w->type.dims[1], g, &cout))
            return c->e->code;
    }
    mk_type t = x->type;
    t.dims[1] = cout;
    const mk_operand *os = mk_ir_infer_in(c, "output_shape");
    if (os) {
        int64_t v[MK_MAX_RANK + 1];
        int n = 0, k = mk_ir_infer_ints(c, "output_shape", os, v, MK_MAX_RANK, &n);
        if (k < 0) return c->e->code;
        if (k) {
            if (n != r && n != ns)
                return mk_ir_infer_fail(c, "output_shape has %d entries for rank %d", n, r);
            for (int i = 0; i < n; i++)
                if (v[i] < 0) return mk_ir_infer_fail(c, "negative output_shape entry");
            if (n == r) {
                if (mk_ir_infer_same_dim(c, "output_shape N", v[0], x->type.dims[0]) ||
                    mk_ir_infer_same_dim(c, "output_shape C_out", v[1], cout))
                    return c->e->code;
                for (int i = 0; i < r; i++) t.dims[i] = v[i];
            } else {
                for (int i = 0; i < ns; i++) t.dims[2 + i] = v[i];
            }
            return mk_ir_infer_out(c, &t);
        }
        for (int i = 0; i < ns; i++) t.dims[2 + i] = MK_DIM_UNKNOWN;
        return mk_ir_infer_out(c, &t);
    }
    for (int i = 0; i < ns; i++) {
        int64_t in = x->type.dims[2 + i], k = wr >= 0 ? w->type.dims[2 + i] : MK_DIM_UNKNOWN;
        if (st[i] <= 0 || dl[i] <= 0) return mk_ir_infer_fail(c, "stride/dilation must be > 0");
        if (in < 0 || k < 0) {
            t.dims[2 + i] = MK_DIM_UNKNOWN;
            continue;
        }
        int64_t eff, o, base;
        if (mk_ir_infer_dim_mul(c, k - 1, dl[i], &eff)) return c->e->code;
        eff += 1;
        if (pk == PAD_SAME || pk == PAD_SAME_LOWER) {
            if (mk_ir_infer_dim_mul(c, in, st[i], &o)) return c->e->code;
        } else {
            if (in < 1) return mk_ir_infer_fail(c, "empty spatial input on axis %d", i);
            if (mk_ir_infer_dim_mul(c, in - 1, st[i], &base)) return c->e->code;
            o = base + eff;
            if (pk == PAD_CUSTOM) o -= pad[2 * i] + pad[2 * i + 1];
        }
        if (o <= 0 || o > MK_INFER_DIM_MAX)
            return mk_ir_infer_fail(c, "spatial axis %d has invalid output size %lld", i,
                                    (long long)o);
        t.dims[2 + i] = o;
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_pool(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    if (mk_ir_infer_rank(c, "x", x, 3, c->op->kind == MK_OP_L2_POOL ? 4 : 5)) return c->e->code;
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int ns = x->type.rank - 2;
    int64_t ks[MK_MAX_RANK], st[MK_MAX_RANK], pad[2 * MK_MAX_RANK], ceil_mode;
    pad_kind pk;
    if (!mk_ir_infer_req(c, "kernel_sizes") || !mk_ir_infer_req(c, "pad_type") ||
        vec(c, "kernel_sizes", ns, 1, ks) || vec(c, "strides", ns, 1, st) ||
        vec(c, "pad", 2 * ns, 0, pad) || read_pad_type(c, "valid", &pk) ||
        mk_ir_infer_int(c, "ceil_mode", 0, &ceil_mode, NULL))
        return c->e->code;
    if (ceil_mode) {
        if (ns > 2) return mk_ir_infer_fail(c, "ceil_mode only supported for 1D or 2D pooling");
        if (pk == PAD_SAME)
            return mk_ir_infer_fail(c, "ceil_mode must be false with pad_type same");
    }
    if (pk == PAD_SAME_LOWER && c->ios < 16)
        return mk_ir_infer_fail(c, "pad_type same_lower needs iOS16");
    mk_type t = x->type;
    for (int i = 0; i < ns; i++) {
        if (pk != PAD_CUSTOM) pad[2 * i] = pad[2 * i + 1] = 0;
        if (spatial_out(c, i, x->type.dims[2 + i], ks[i], st[i], 1, pad[2 * i], pad[2 * i + 1], pk,
                        (int)ceil_mode, &t.dims[2 + i]))
            return c->e->code;
    }
    return mk_ir_infer_out(c, &t);
}

/* Whether the value bound to param is a const op's output (or an inline literal), as
 * coremltools' matmul asks: constexpr outputs do not count. */
static int arg_is_const(const mk_ictx *c, const char *param)
{
    const mk_value *v = c->op ? mk_ir_arg(c->op, param) : NULL;
    return v && (v->is_inline || (v->producer && v->producer->kind == MK_OP_CONST) ||
                 (!v->producer && v->cst));
}

mk_status mk_ir_rule_matmul(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *y = x ? mk_ir_infer_req(c, "y") : NULL;
    if (!y) return c->e->code;
    int64_t tx, ty;
    if (mk_ir_infer_int(c, "transpose_x", 0, &tx, NULL) ||
        mk_ir_infer_int(c, "transpose_y", 0, &ty, NULL))
        return c->e->code;
    if (c->ios < 17 && x->type.dtype != y->type.dtype)
        return mk_ir_infer_fail(c, "x and y dtypes differ");
    /* iOS17: x and y may differ when exactly one is a constant; the output takes the other's
     * dtype (coremltools' iOS17 matmul) */
    mk_dtype odt = x->type.dtype;
    if (x->type.dtype != y->type.dtype) {
        int xc = arg_is_const(c, "x"), yc = arg_is_const(c, "y");
        if (xc == yc)
            return mk_ir_infer_fail(c, "x and y dtypes differ and both are %s",
                                    xc ? "constants" : "not constants");
        if (xc) odt = y->type.dtype;
    }
    int rx = x->type.rank, ry = y->type.rank;
    if (rx < 0 || ry < 0) return mk_ir_infer_out_unranked(c, odt);
    if (rx == 0 || ry == 0) return mk_ir_infer_fail(c, "x and y must have rank >= 1");
    if ((rx == 1 && tx) || (ry == 1 && ty))
        return mk_ir_infer_fail(c, "cannot transpose a rank-1 operand");
    mk_type a = x->type, b = y->type;
    if (rx == 1) {
        a.rank = 2;
        a.dims[1] = a.dims[0];
        a.dims[0] = 1;
    }
    if (ry == 1) {
        b.rank = 2;
        b.dims[1] = 1;
    }
    if (tx) {
        int64_t s = a.dims[a.rank - 1];
        a.dims[a.rank - 1] = a.dims[a.rank - 2];
        a.dims[a.rank - 2] = s;
    }
    if (ty) {
        int64_t s = b.dims[b.rank - 1];
        b.dims[b.rank - 1] = b.dims[b.rank - 2];
        b.dims[b.rank - 2] = s;
    }
    if (mk_ir_infer_same_dim(c, "inner dimension", a.dims[a.rank - 1], b.dims[b.rank - 2]))
        return c->e->code;
    mk_type ba = a, bb = b, t = mk_type_scalar(odt);
    ba.rank -= 2;
    bb.rank -= 2;
    if (mk_ir_infer_broadcast(c, &ba, &bb, &t)) return c->e->code;
    if (t.rank + 2 > MK_MAX_RANK) return mk_ir_infer_fail(c, "rank exceeds %d", MK_MAX_RANK);
    if (rx != 1) t.dims[t.rank++] = a.dims[a.rank - 2];
    if (ry != 1) t.dims[t.rank++] = b.dims[b.rank - 1];
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_linear(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *w = x ? mk_ir_infer_req(c, "weight") : NULL;
    if (!w) return c->e->code;
    if (mk_ir_infer_rank(c, "weight", w, 2, 2) || mk_ir_infer_rank(c, "x", x, 1, MK_MAX_RANK))
        return c->e->code;
    if (c->ios < 17 && w->type.dtype != x->type.dtype)
        return mk_ir_infer_fail(c, "weight dtype differs from x dtype");
    int64_t dout = w->type.rank == 2 ? w->type.dims[0] : MK_DIM_UNKNOWN;
    const mk_operand *b = mk_ir_infer_in(c, "bias");
    if (b) {
        if (mk_ir_infer_rank(c, "bias", b, 1, 1)) return c->e->code;
        if (b->type.rank == 1 &&
            mk_ir_infer_same_dim(c, "bias length vs D_out", b->type.dims[0], dout))
            return c->e->code;
    }
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int r = x->type.rank;
    if (w->type.rank == 2 &&
        mk_ir_infer_same_dim(c, "x last dim vs weight D_in", x->type.dims[r - 1], w->type.dims[1]))
        return c->e->code;
    mk_type t = x->type;
    t.dims[r - 1] = dout;
    return mk_ir_infer_out(c, &t);
}

/* ---- einsum: explicit or implicit equations, letters and one "..." per term ---- */

typedef struct term {
    int n;   /* letters */
    int ell; /* position of "..." among letters, -1 when absent */
    signed char l[MK_MAX_RANK + 1];
} term;

static int letter_index(char ch)
{
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
    return -1;
}

static mk_status parse_term(mk_ictx *c, const char **p, const char *end, term *t)
{
    t->n = 0;
    t->ell = -1;
    const char *s = *p;
    while (s < end && *s != ',' && *s != '-') {
        if (*s == ' ') {
            s++;
        } else if (*s == '.') {
            if (end - s < 3 || s[1] != '.' || s[2] != '.' || t->ell >= 0)
                return mk_ir_infer_fail(c, "bad ellipsis in einsum equation");
            t->ell = t->n;
            s += 3;
        } else {
            int li = letter_index(*s);
            if (li < 0) return mk_ir_infer_fail(c, "bad character '%c' in einsum equation", *s);
            if (t->n >= MK_MAX_RANK) return mk_ir_infer_fail(c, "einsum term too long");
            t->l[t->n++] = (signed char)li;
            s++;
        }
    }
    *p = s;
    return MK_OK;
}

mk_status mk_ir_rule_einsum(mk_ictx *c)
{
    int nv = mk_ir_infer_nargs(c, "values");
    if (nv == 0) return mk_ir_infer_fail(c, "missing required input 'values'");
    if (!mk_ir_infer_req(c, "equation")) return c->e->code;
    const char *eq = mk_ir_infer_str(c, "equation", NULL);
    if (!eq) return mk_ir_infer_fail(c, "'equation' must be a constant string");
    const mk_operand *v0 = mk_ir_infer_arg(c, "values", 0);
    if (!v0) return mk_ir_infer_fail(c, "values[0] missing");
    const char *arrow = strstr(eq, "->"), *end = arrow ? arrow : eq + strlen(eq), *p = eq;
    term in[8], out;
    int nt = 0;
    for (;;) {
        if (nt >= 8) return mk_ir_infer_fail(c, "too many einsum operands");
        if (parse_term(c, &p, end, &in[nt++])) return c->e->code;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p != end) return mk_ir_infer_fail(c, "bad einsum equation \"%s\"", eq);
        break;
    }
    if (nt != nv) return mk_ir_infer_fail(c, "equation has %d operands, values has %d", nt, nv);
    /* A label of the output may be 1 in one operand and d in another (iOS15's batch broadcast of
     * B and H); a contracted label must agree. */
    int in_out[52] = {0};
    if (arrow) {
        const char *q = arrow + 2, *oend = eq + strlen(eq);
        if (parse_term(c, &q, oend, &out)) return c->e->code;
        if (q != oend) return mk_ir_infer_fail(c, "bad einsum output \"%s\"", arrow + 2);
        for (int i = 0; i < out.n; i++) in_out[out.l[i]] = 1;
    }
    int64_t dim[52];
    int count[52] = {0};
    for (int i = 0; i < 52; i++) dim[i] = MK_DIM_UNKNOWN;
    mk_type ell = mk_type_scalar(v0->type.dtype);
    int any_ell = 0;
    for (int j = 0; j < nt; j++) {
        const mk_operand *v = mk_ir_infer_arg(c, "values", j);
        if (v->type.dtype != v0->type.dtype)
            return mk_ir_infer_fail(c, "values[%d] dtype differs", j);
        if (v->type.rank < 0) return mk_ir_infer_out_unranked(c, v0->type.dtype);
        int er = v->type.rank - in[j].n;
        if (er < 0 || (in[j].ell < 0 && er != 0))
            return mk_ir_infer_fail(c, "operand %d has rank %d for %d subscripts", j, v->type.rank,
                                    in[j].n);
        for (int i = 0; i < in[j].n; i++) {
            int pos = in[j].ell >= 0 && i >= in[j].ell ? i + er : i;
            int li = in[j].l[i];
            int64_t d = v->type.dims[pos];
            count[li]++;
            if (dim[li] < 0)
                dim[li] = d;
            else if (d >= 0 && d != dim[li] && in_out[li] && (d == 1 || dim[li] == 1))
                dim[li] = d > dim[li] ? d : dim[li];
            else if (d >= 0 && d != dim[li])
                return mk_ir_infer_fail(c, "subscript '%c' has sizes %lld and %lld",
                                        li < 26 ? 'a' + li : 'A' + li - 26, (long long)dim[li],
                                        (long long)d);
        }
        if (in[j].ell >= 0) {
            mk_type e = mk_type_scalar(v0->type.dtype);
            e.rank = er;
            for (int i = 0; i < er; i++) e.dims[i] = v->type.dims[in[j].ell + i];
            if (mk_ir_infer_broadcast(c, &ell, &e, &ell)) return c->e->code;
            any_ell = 1;
        }
    }
    mk_type t = mk_type_scalar(v0->type.dtype);
    if (!arrow) {
        out.n = 0;
        out.ell = any_ell ? 0 : -1;
        for (int li = 0; li < 52; li++) {
            int ascii = li < 26 ? li + 26 : li - 26; /* uppercase sorts first */
            if (count[ascii] == 1 && out.n < MK_MAX_RANK) out.l[out.n++] = (signed char)ascii;
        }
    }
    if (out.ell >= 0 && !any_ell) out.ell = -1;
    int er = out.ell >= 0 ? ell.rank : 0;
    if (out.n + er > MK_MAX_RANK) return mk_ir_infer_fail(c, "einsum output rank too large");
    for (int i = 0; i <= out.n; i++) {
        if (i == out.ell)
            for (int k = 0; k < er; k++) t.dims[t.rank++] = ell.dims[k];
        if (i == out.n) break;
        int li = out.l[i];
        if (!count[li]) return mk_ir_infer_fail(c, "output subscript not in any input");
        for (int k = 0; k < i; k++)
            if (out.l[k] == li) return mk_ir_infer_fail(c, "repeated output subscript");
        t.dims[t.rank++] = dim[li];
    }
    return mk_ir_infer_out(c, &t);
}

/* ---- normalization ---- */

static mk_status check_vec_len(mk_ictx *c, const char *param, int64_t want)
{
    const mk_operand *o = mk_ir_infer_in(c, param);
    if (!o) return MK_OK;
    if (o->type.rank == 0) return MK_OK;
    if (mk_ir_infer_rank(c, param, o, 1, 1)) return c->e->code;
    if (o->type.rank == 1) {
        char what[64];
        snprintf(what, sizeof what, "%s length vs channels", param);
        return mk_ir_infer_same_dim(c, what, o->type.dims[0], want);
    }
    return MK_OK;
}

/* Ranks follow coremltools' own type inference, not its docstrings: batch_norm,
 * instance_norm and local_response_norm accept any rank there (the docs say 3-5 / 3-4 / 3-4,
 * yet coremltools writes and validates rank-5 instance_norm); they need the channel axis 1,
 * so rank >= 2 here. l2_norm raises below rank 3; layer_norm takes any rank with valid axes. */
mk_status mk_ir_rule_norm(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int r = x->type.rank;
    int64_t ch = r >= 2 ? x->type.dims[1] : MK_DIM_UNKNOWN;
    switch (c->op->kind) {
    case MK_OP_BATCH_NORM:
        if (!mk_ir_infer_req(c, "mean") || !mk_ir_infer_req(c, "variance") ||
            mk_ir_infer_rank(c, "x", x, 2, MK_MAX_RANK))
            return c->e->code;
        if (check_vec_len(c, "mean", ch) || check_vec_len(c, "variance", ch) ||
            check_vec_len(c, "gamma", ch) || check_vec_len(c, "beta", ch))
            return c->e->code;
        break;
    case MK_OP_INSTANCE_NORM:
        if (mk_ir_infer_rank(c, "x", x, 2, MK_MAX_RANK) || check_vec_len(c, "gamma", ch) ||
            check_vec_len(c, "beta", ch))
            return c->e->code;
        break;
    case MK_OP_LAYER_NORM:
        if (r >= 0) {
            const mk_operand *a = mk_ir_infer_in(c, "axes");
            int64_t v[MK_MAX_RANK + 1];
            int n = 0, k = a ? mk_ir_infer_ints(c, "axes", a, v, MK_MAX_RANK, &n) : 0;
            if (k < 0) return c->e->code;
            for (int i = 0; i < n; i++) {
                int ax;
                if (mk_ir_infer_axis(c, "axes entry", v[i], r, &ax)) return c->e->code;
            }
        }
        break;
    case MK_OP_LOCAL_RESPONSE_NORM: {
        int64_t size;
        if (mk_ir_infer_rank(c, "x", x, 2, MK_MAX_RANK) ||
            mk_ir_infer_int(c, "size", 1, &size, NULL))
            return c->e->code;
        if (size <= 0) return mk_ir_infer_fail(c, "size must be positive");
        break;
    }
    case MK_OP_L2_NORM:
        if (mk_ir_infer_rank(c, "x", x, 3, MK_MAX_RANK)) return c->e->code;
        break;
#define MK_IN_FAMILY_NORM ~, 1
#include "op_cases.h"
#undef MK_IN_FAMILY_NORM
        return mk_ir_infer_fail(c, "not a normalization op");
    }
    return mk_ir_infer_out(c, &x->type);
}

/* ---- recurrent ---- */

static mk_status rnn_common(mk_ictx *c, int allow_bi, int *dirs, int64_t *outseq)
{
    const char *d = mk_ir_infer_str(c, "direction", "forward");
    if (!d) return mk_ir_infer_fail(c, "'direction' must be a constant string");
    if (!strcmp(d, "forward") || !strcmp(d, "reverse"))
        *dirs = 1;
    else if (allow_bi && !strcmp(d, "bidirectional"))
        *dirs = 2;
    else
        return mk_ir_infer_fail(c, "direction \"%s\" not supported", d);
    return mk_ir_infer_int(c, "output_sequence", 0, outseq, NULL);
}

static mk_status rnn_outputs(mk_ictx *c, const mk_operand *x, int64_t hidden, int64_t outseq,
                             int n_states)
{
    int64_t s = x->type.dims[0], b = x->type.dims[1];
    int64_t d3[3] = {outseq ? s : 1, b, hidden}, d2[2] = {b, hidden};
    mk_type t = mk_type_make(x->type.dtype, 3, d3);
    if (mk_ir_infer_out(c, &t)) return c->e->code;
    t = mk_type_make(x->type.dtype, 2, d2);
    for (int i = 0; i < n_states; i++)
        if (mk_ir_infer_out(c, &t)) return c->e->code;
    return MK_OK;
}

mk_status mk_ir_rule_lstm(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    const mk_operand *wih = x ? mk_ir_infer_req(c, "weight_ih") : NULL;
    const mk_operand *whh = wih ? mk_ir_infer_req(c, "weight_hh") : NULL;
    if (!whh) return c->e->code;
    int dirs;
    int64_t outseq;
    if (mk_ir_infer_rank(c, "x", x, 3, 3) || mk_ir_infer_rank(c, "weight_ih", wih, 2, 2) ||
        mk_ir_infer_rank(c, "weight_hh", whh, 2, 2) || rnn_common(c, 1, &dirs, &outseq))
        return c->e->code;
    if (dirs == 2 && (!mk_ir_infer_in(c, "weight_ih_back") || !mk_ir_infer_in(c, "weight_hh_back")))
        return mk_ir_infer_fail(c, "bidirectional lstm needs weight_ih_back and weight_hh_back");
    int64_t h = whh->type.rank == 2 ? whh->type.dims[1] : MK_DIM_UNKNOWN, hd;
    if (whh->type.rank == 2 && h >= 0) {
        int64_t h4;
        if (mk_ir_infer_dim_mul(c, h, 4, &h4) ||
            mk_ir_infer_same_dim(c, "weight_hh rows vs 4*H", whh->type.dims[0], h4) ||
            (wih->type.rank == 2 &&
             mk_ir_infer_same_dim(c, "weight_ih rows vs 4*H", wih->type.dims[0], h4)))
            return c->e->code;
    }
    if (x->type.rank == 3 && wih->type.rank == 2 &&
        mk_ir_infer_same_dim(c, "input size vs weight_ih cols", x->type.dims[2], wih->type.dims[1]))
        return c->e->code;
    if (x->type.rank < 0) {
        for (int i = 0; i < 3; i++)
            if (mk_ir_infer_out_unranked(c, x->type.dtype)) return c->e->code;
        return MK_OK;
    }
    if (mk_ir_infer_dim_mul(c, h, dirs, &hd)) return c->e->code;
    return rnn_outputs(c, x, hd, outseq, 2);
}

mk_status mk_ir_rule_gru_rnn(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    const mk_operand *wih = x ? mk_ir_infer_req(c, "weight_ih") : NULL;
    const mk_operand *whh = wih ? mk_ir_infer_req(c, "weight_hh") : NULL;
    if (!whh) return c->e->code;
    int dirs;
    int64_t outseq;
    if (mk_ir_infer_rank(c, "x", x, 3, 3) || mk_ir_infer_rank(c, "weight_ih", wih, 2, 2) ||
        mk_ir_infer_rank(c, "weight_hh", whh, 2, 2) || rnn_common(c, 0, &dirs, &outseq))
        return c->e->code;
    int64_t h;
    if (c->op->kind == MK_OP_GRU) {
        h = whh->type.rank == 2 ? whh->type.dims[1] : MK_DIM_UNKNOWN;
        int64_t h3;
        if (h >= 0 && whh->type.rank == 2 &&
            (mk_ir_infer_dim_mul(c, h, 3, &h3) ||
             mk_ir_infer_same_dim(c, "weight_hh rows vs 3*H", whh->type.dims[0], h3)))
            return c->e->code;
    } else {
        h = wih->type.rank == 2 ? wih->type.dims[0] : MK_DIM_UNKNOWN;
    }
    if (x->type.rank < 0) {
        for (int i = 0; i < 2; i++)
            if (mk_ir_infer_out_unranked(c, x->type.dtype)) return c->e->code;
        return MK_OK;
    }
    return rnn_outputs(c, x, h, outseq, 1);
}

mk_status mk_ir_rule_sdpa(mk_ictx *c)
{
    const mk_operand *q = mk_ir_infer_req(c, "query");
    const mk_operand *k = q ? mk_ir_infer_req(c, "key") : NULL;
    const mk_operand *v = k ? mk_ir_infer_req(c, "value") : NULL;
    if (!v) return c->e->code;
    if (mk_ir_infer_rank(c, "query", q, 3, MK_MAX_RANK) ||
        mk_ir_infer_rank(c, "key", k, 3, MK_MAX_RANK) ||
        mk_ir_infer_rank(c, "value", v, 3, MK_MAX_RANK))
        return c->e->code;
    if (k->type.dtype != q->type.dtype || v->type.dtype != q->type.dtype)
        return mk_ir_infer_fail(c, "query, key and value dtypes differ");
    if (q->type.rank < 0 || k->type.rank < 0 || v->type.rank < 0)
        return mk_ir_infer_out_unranked(c, q->type.dtype);
    int rq = q->type.rank, rk = k->type.rank, rv = v->type.rank;
    if (mk_ir_infer_same_dim(c, "query vs key embedding", q->type.dims[rq - 1],
                             k->type.dims[rk - 1]) ||
        mk_ir_infer_same_dim(c, "key vs value sequence", k->type.dims[rk - 2],
                             v->type.dims[rv - 2]))
        return c->e->code;
    mk_type t = q->type;
    t.dims[rq - 1] = v->type.dims[rv - 1];
    return mk_ir_infer_out(c, &t);
}

/* ---- resampling ---- */

mk_status mk_ir_rule_upsample(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    double sh, sw;
    if (mk_ir_infer_rank(c, "x", x, 3, MK_MAX_RANK) ||
        mk_ir_infer_f64(c, "scale_factor_height", 1, &sh, NULL) ||
        mk_ir_infer_f64(c, "scale_factor_width", 1, &sw, NULL))
        return c->e->code;
    if (!(sh > 0) || !(sw > 0) || sh > 1e6 || sw > 1e6)
        return mk_ir_infer_fail(c, "scale factors must be positive");
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    mk_type t = x->type;
    int r = t.rank;
    double s[2] = {sh, sw};
    for (int i = 0; i < 2; i++) {
        int64_t d = t.dims[r - 2 + i];
        if (d < 0) continue;
        double o = (double)d * s[i];
        if (o > (double)MK_INFER_DIM_MAX) return mk_ir_infer_fail(c, "upsampled size is absurd");
        t.dims[r - 2 + i] = (int64_t)o;
    }
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_resize_hw(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    int64_t h, w;
    if (mk_ir_infer_rank(c, "x", x, 3, MK_MAX_RANK) ||
        mk_ir_infer_int(c, "target_size_height", 1, &h, NULL) ||
        mk_ir_infer_int(c, "target_size_width", 1, &w, NULL))
        return c->e->code;
    if (h <= 0 || w <= 0 || h > MK_INFER_DIM_MAX || w > MK_INFER_DIM_MAX)
        return mk_ir_infer_fail(c, "target sizes must be positive");
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    mk_type t = x->type;
    t.dims[t.rank - 2] = h;
    t.dims[t.rank - 1] = w;
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_resize(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x"), *s = x ? mk_ir_infer_req(c, "shape") : NULL;
    if (!s) return c->e->code;
    int64_t rd;
    if (mk_ir_infer_int(c, "resized_dims", 0, &rd, NULL)) return c->e->code;
    int64_t v[MK_MAX_RANK + 1];
    int n = 0, k = mk_ir_infer_ints(c, "shape", s, v, MK_MAX_RANK, &n);
    if (k < 0) return c->e->code;
    if (!k) n = s->type.rank == 1 ? (int)(s->type.dims[0] < 0 ? rd : s->type.dims[0]) : (int)rd;
    if (rd < 0 || rd > n)
        return mk_ir_infer_fail(c, "resized_dims %lld exceeds shape length %d", (long long)rd, n);
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    int r = x->type.rank;
    if (rd > r) return mk_ir_infer_fail(c, "resized_dims %lld exceeds rank %d", (long long)rd, r);
    mk_type t = x->type;
    for (int i = 0; i < rd; i++) {
        int xi = r - (int)rd + i;
        if (!k) {
            t.dims[xi] = MK_DIM_UNKNOWN;
            continue;
        }
        int64_t d = v[n - (int)rd + i];
        if (d < 0) return mk_ir_infer_fail(c, "negative target size");
        t.dims[xi] = d == 0 ? x->type.dims[xi] : d;
    }
    return mk_ir_infer_out(c, &t);
}

/* resample (iOS15): x [N, C, H1, W1] sampled at coordinates [N, H2, W2, 2] -> [N, C, H2, W2];
 * the string parameters must take one of the values coremltools' definition lists. */
static int one_of(const char *s, const char *const *allowed, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, allowed[i]) == 0) return 1;
    return 0;
}

mk_status mk_ir_rule_resample(mk_ictx *c)
{
    static const char *const sampling[] = {"bilinear", "nearest"};
    static const char *const padding[] = {"constant", "border", "reflection", "symmetric"};
    static const char *const coords[] = {"unnormalized", "normalized_minus_one_to_one",
                                         "normalized_zero_to_one"};
    static const struct {
        const char *param;
        const char *const *allowed;
        int n;
    } strs[] = {{"sampling_mode", sampling, 2},
                {"padding_mode", padding, 4},
                {"coordinates_mode", coords, 3}};
    const mk_operand *x = mk_ir_infer_req(c, "x");
    const mk_operand *g = x ? mk_ir_infer_req(c, "coordinates") : NULL;
    if (!g) return c->e->code;
    if (mk_ir_infer_rank(c, "x", x, 4, 4) || mk_ir_infer_rank(c, "coordinates", g, 4, 4))
        return c->e->code;
    if (x->type.dtype != MK_DT_FP32 && x->type.dtype != MK_DT_FP16)
        return mk_ir_infer_fail(c, "'x' must be fp16 or fp32");
    mk_dtype gd = g->type.dtype;
    int small_int =
        gd == MK_DT_INT8 || gd == MK_DT_UINT8 || gd == MK_DT_INT16 || gd == MK_DT_UINT16;
    if (gd != MK_DT_FP32 && gd != MK_DT_INT32 && (gd != MK_DT_FP16 || c->ios < 16) &&
        (!small_int || c->ios < 17))
        return mk_ir_infer_fail(c, "'coordinates' must be int32 or fp32%s",
                                c->ios < 16   ? ""
                                : c->ios < 17 ? " or fp16"
                                              : ", fp16, (u)int8 or (u)int16");
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        const char *s = mk_ir_infer_str(c, strs[i].param, NULL);
        if (!s) return mk_ir_infer_fail(c, "'%s' must be a constant string", strs[i].param);
        if (!one_of(s, strs[i].allowed, strs[i].n))
            return mk_ir_infer_fail(c, "unknown %s \"%s\"", strs[i].param, s);
    }
    int64_t ac;
    if (mk_ir_infer_int(c, "align_corners", 0, &ac, NULL)) return c->e->code;
    mk_type t = x->type;
    if (g->type.rank < 0) {
        if (t.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
        t.dims[2] = t.dims[3] = MK_DIM_UNKNOWN;
        return mk_ir_infer_out(c, &t);
    }
    if (g->type.dims[3] >= 0 && g->type.dims[3] != 2)
        return mk_ir_infer_fail(c, "'coordinates' last dimension must be 2, got %lld",
                                (long long)g->type.dims[3]);
    if (t.rank < 0) {
        t.rank = 4;
        t.dims[0] = g->type.dims[0];
        t.dims[1] = MK_DIM_UNKNOWN;
    } else if (mk_ir_infer_same_dim(c, "batch of x and coordinates", t.dims[0], g->type.dims[0]))
        return c->e->code;
    if (t.dims[0] < 0) t.dims[0] = g->type.dims[0];
    t.dims[2] = g->type.dims[1];
    t.dims[3] = g->type.dims[2];
    return mk_ir_infer_out(c, &t);
}

mk_status mk_ir_rule_space(mk_ictx *c)
{
    const mk_operand *x = mk_ir_infer_req(c, "x");
    if (!x) return c->e->code;
    const char *param = c->op->kind == MK_OP_PIXEL_SHUFFLE ? "upscale_factor" : "block_size";
    int64_t bs, bs2;
    if (!mk_ir_infer_req(c, param) || mk_ir_infer_int(c, param, 1, &bs, NULL) ||
        mk_ir_infer_rank(c, "x", x, 4, 4))
        return c->e->code;
    if (bs <= 0 || bs > 65536) return mk_ir_infer_fail(c, "%s %lld invalid", param, (long long)bs);
    if (x->type.rank < 0) return mk_ir_infer_out_unranked(c, x->type.dtype);
    bs2 = bs * bs;
    mk_type t = x->type;
    int64_t ch = t.dims[1], h = t.dims[2], w = t.dims[3];
    if (c->op->kind == MK_OP_SPACE_TO_DEPTH) {
        if ((h >= 0 && h % bs) || (w >= 0 && w % bs))
            return mk_ir_infer_fail(c, "spatial dims not divisible by block_size %lld",
                                    (long long)bs);
        if (mk_ir_infer_dim_mul(c, ch, bs2, &t.dims[1])) return c->e->code;
        t.dims[2] = h < 0 ? h : h / bs;
        t.dims[3] = w < 0 ? w : w / bs;
    } else {
        if (ch >= 0 && ch % bs2)
            return mk_ir_infer_fail(c, "channels %lld not divisible by %s^2", (long long)ch, param);
        t.dims[1] = ch < 0 ? ch : ch / bs2;
        if (mk_ir_infer_dim_mul(c, h, bs, &t.dims[2]) || mk_ir_infer_dim_mul(c, w, bs, &t.dims[3]))
            return c->e->code;
    }
    return mk_ir_infer_out(c, &t);
}
