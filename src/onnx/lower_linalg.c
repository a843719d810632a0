/* Lowering of ONNX Det and BitShift. Det for a static M x M (M <= 6): the input as [P, M*M]
 * rows, each element a [P, 1] slice, and the determinant by cofactor expansion along the rows
 * with the minors shared by column set (2^M minors), reshaped to the batch dims. BitShift of
 * uint8/uint16 by power tables in int32 arithmetic (below). */
#include <string.h>

#include "onnx_int.h"

#define DET_MAX 6

OX_LOWER(mk_onnx_lower_det)
{
    (void)n_in, (void)n_out;
    mk_value *x = mil(c, in[0]);
    if (!x) return fail(c);
    int r = x->type.rank;
    if (r < 2 || x->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "needs a float input of rank >= 2");
    int64_t M = x->type.dims[r - 1], P = 1;
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] < 0) return mk_onnx_unsupported(c, n, "needs a static input shape");
    for (int i = 0; i < r - 2; i++) P *= x->type.dims[i];
    if (x->type.dims[r - 2] != M)
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: matrices must be square", c->file,
                          oname(n, 0));
    if (M < 1 || M > DET_MAX)
        return mk_onnx_unsupported(c, n, "%lld x %lld matrices (cofactor expansion up to %d)",
                                   (long long)M, (long long)M, DET_MAX);
    if (P < 1) return mk_onnx_unsupported(c, n, "an empty batch");
    int64_t rd[2] = {P, M * M};
    mk_value *rows = mk_onnx_reshape(c, x, 2, rd, NULL);
    if (!rows) return fail(c);
    mk_value *el[DET_MAX * DET_MAX];
    for (int i = 0; i < M * M; i++) {
        int32_t b[2] = {0, i}, s[2] = {(int32_t)P, 1};
        mk_op *op = mk_onnx_op(c, MK_OP_SLICE_BY_SIZE, "det_elem");
        if (!op || !mk_onnx_in_mil(c, op, "x", rows) || !mk_onnx_in_i32s(c, op, "begin", 2, b) ||
            !mk_onnx_in_i32s(c, op, "size", 2, s) || !(el[i] = mk_onnx_out(c, op, NULL)))
            return fail(c);
    }
    /* minor[S]: determinant of rows M-|S|.. and the columns in S */
    mk_value *minor[1 << DET_MAX];
    memset(minor, 0, sizeof minor);
    for (unsigned S = 1; S < (1u << M); S++) {
        int k = __builtin_popcount(S), row = (int)M - k, pos = 0;
        mk_value *acc = NULL;
        for (int j = 0; j < M; j++) {
            if (!(S & (1u << j))) continue;
            mk_value *a = el[row * M + j], *t = a;
            unsigned rest = S & ~(1u << j);
            if (rest) t = mk_onnx_binary(c, MK_OP_MUL, a, minor[rest], NULL);
            if (!t) return fail(c);
            acc = !acc ? t /* the first term, always at an even position */
                       : mk_onnx_binary(c, pos & 1 ? MK_OP_SUB : MK_OP_ADD, acc, t, NULL);
            if (!acc) return fail(c);
            pos++;
        }
        minor[S] = acc;
    }
    mk_value *d = minor[(1u << M) - 1];
    return done(c, out[0], mk_onnx_reshape(c, d, r - 2, x->type.dims, oname(n, 0)));
}

/* ---- BitShift ---- */

/* The declared ONNX element type of value `name` in the graph being lowered (inputs,
 * value_info, initializers, outputs), 0 when not declared. */
static int elem_type_of(const Onnx__GraphProto *g, const char *name)
{
    const Onnx__ValueInfoProto *const *lists[3] = {
        (const Onnx__ValueInfoProto *const *)g->input,
        (const Onnx__ValueInfoProto *const *)g->value_info,
        (const Onnx__ValueInfoProto *const *)g->output};
    size_t counts[3] = {g->n_input, g->n_value_info, g->n_output};
    for (int l = 0; l < 3; l++)
        for (size_t i = 0; i < counts[l]; i++) {
            const Onnx__ValueInfoProto *vi = lists[l][i];
            if (vi->name && !strcmp(vi->name, name) && vi->type &&
                vi->type->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
                return vi->type->tensor_type->elem_type;
        }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name))
            return g->initializer[i]->data_type;
    return 0;
}

static mk_value *table(ox_ctx *c, const int32_t *v, int n, const mk_value *idx)
{
    mk_value *t = mk_ir_const_i32(c->p, c->blk, "bitshift_table", n, v, 0);
    mk_op *op = t ? mk_onnx_op(c, MK_OP_GATHER, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", t) ||
        !mk_onnx_in_mil(c, op, "indices", (mk_value *)idx) || !mk_onnx_in_i32(c, op, "axis", 0))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* BitShift of uint8 / uint16 in int32 arithmetic, exact with the type's wrap-around:
 * left  = (x mod 2^(bits-y)) * 2^y, right = floor(x / 2^y); y >= bits gives 0. The powers
 * come from constant tables gathered at min(y, bits). uint32/uint64 values do not fit. */
OX_LOWER(mk_onnx_lower_bitshift)
{
    (void)n_in, (void)n_out;
    const char *dir = mk_onnx_attr_s(c, n, "direction", "");
    if (!dir) return fail(c);
    int left = !strcmp(dir, "LEFT");
    if (!left && strcmp(dir, "RIGHT"))
        return mk_err_set(c->err, MK_EINVAL, "%s: node %s: direction must be LEFT or RIGHT",
                          c->file, oname(n, 0));
    int et = elem_type_of(c->graph, n->input[0]);
    int bits = et == 2 ? 8 : et == 4 ? 16 : 0;
    if (!bits)
        return mk_onnx_unsupported(c, n,
                                   et == 12 || et == 13
                                       ? "uint32/uint64 values do not fit MIL's int32"
                                       : "the element type of X is not declared uint8 "
                                         "or uint16");
    mk_value *x = mil(c, in[0]), *y = x ? mil(c, in[1]) : NULL;
    if (!y) return fail(c);
    int32_t b = bits, pw[17], md[17], dv[17];
    for (int i = 0; i <= bits; i++) {
        pw[i] = i < bits ? (int32_t)1 << i : 0;
        md[i] = i < bits ? (int32_t)1 << (bits - i) : 1;
        dv[i] = (int32_t)1 << i;
    }
    mk_value *bv = mk_ir_const_i32(c->p, c->blk, "bitshift_bits", 1, &b, 1);
    mk_value *yc = bv ? mk_onnx_binary(c, MK_OP_MINIMUM, y, bv, NULL) : NULL;
    if (!yc) return fail(c);
    mk_value *v;
    if (left) {
        mk_value *m = table(c, md, bits + 1, yc), *p = m ? table(c, pw, bits + 1, yc) : NULL;
        mk_value *lo = p ? mk_onnx_binary(c, MK_OP_MOD, x, m, NULL) : NULL;
        v = lo ? mk_onnx_binary(c, MK_OP_MUL, lo, p, oname(n, 0)) : NULL;
    } else {
        mk_value *d = table(c, dv, bits + 1, yc);
        v = d ? mk_onnx_binary(c, MK_OP_FLOOR_DIV, x, d, oname(n, 0)) : NULL;
    }
    return done(c, out[0], v);
}
