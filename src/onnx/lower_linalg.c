/* Lowering of ONNX Det for a static M x M (M <= 6): the input as [P, M*M] rows, each element
 * a [P, 1] slice, and the determinant by cofactor expansion along the rows with the minors
 * shared by column set (2^M minors, M*2^(M-1) products), then reshaped to the batch dims. */
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
