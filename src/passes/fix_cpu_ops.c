/* Symptom: cumsum, fill, fill_like and range_1d run on the CPU and split the Neural Engine
 *          partition around them (extra NE <-> CPU hops).
 * Scope: fill/range_1d with constant inputs and fill_like with a static ref_tensor shape (at
 *        most 16M elements); cumsum on a float x whose static axis length is <= 1024, or
 *        longer and divisible into blocks of <= 1024 (then x must be fully static).
 * Evidence: H4 (docs/hazards.md; onnxruntime PR #28811 on folding Range away).
 * Rewrite: fold the fills/ranges into const ops. cumsum along an axis of length N ->
 *          (transpose axis last) matmul with a constant N x N triangular matrix of ones
 *          (flipped for reverse, strict for exclusive) (transpose back). Long axes use two
 *          levels: block-local triangular matmul + exclusive prefix of block totals. */
#include <math.h>
#include <string.h>

#include "passes_int.h"

static void store(mk_dtype dt, void *buf, size_t i, double v)
{
    switch ((int)dt) {
    case MK_DT_FP16: ((uint16_t *)buf)[i] = mk_f32_to_f16((float)v); break;
    case MK_DT_FP32: ((float *)buf)[i] = (float)v; break;
    case MK_DT_INT32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case MK_DT_BOOL: ((uint8_t *)buf)[i] = v != 0; break;
    default: break;
    }
}

/* Replace op's output by a constant of type t whose element i is f(i). */
static int fold_to_const(mk_program *p, mk_op *op, const mk_type *t, double v0, double step,
                         mk_err *e)
{
    size_t n = 0, nb = 0;
    if (!mk_type_numel(t, &n) || !mk_type_nbytes(t, &nb)) return 0;
    void *buf = mk_arena_alloc(p->arena, nb ? nb : 1);
    if (!buf) {
        MK_OOM(e);
        return -1;
    }
    for (size_t i = 0; i < n; i++) store(t->dtype, buf, i, v0 + step * (double)i);
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *c = mk_pb_const_borrow(&b, "h4_folded", t, buf, nb);
    mk_pb_replace(&b, op->outputs[0], c);
    return mk_pb_done(&b, 1);
}

static int fold_fill(mk_program *p, mk_op *op, mk_err *e)
{
    const mk_value *val = mk_ir_arg(op, "value");
    double v = val ? mk_const_get_f64(val, 0) : 0.0;
    mk_type t;
    if (op->kind == MK_OP_FILL) {
        int64_t dims[MK_MAX_RANK];
        int n = 0;
        mk_ir_arg_i64s(op, "shape", dims, MK_MAX_RANK, &n);
        t = mk_type_make(val ? val->type.dtype : MK_DT_FP32, n, dims);
    } else {
        t = mk_ir_arg(op, "ref_tensor")->type;
        t.dtype = val ? val->type.dtype : MK_DT_FP32;
    }
    if (op->outputs[0]->type.dtype != MK_DT_INVALID) t.dtype = op->outputs[0]->type.dtype;
    return fold_to_const(p, op, &t, v, 0.0, e);
}

static int fold_range(mk_program *p, mk_op *op, mk_err *e)
{
    const mk_value *st = mk_ir_arg(op, "start"), *en = mk_ir_arg(op, "end"),
                   *sp = mk_ir_arg(op, "step");
    double a = mk_const_get_f64(st, 0), z = mk_const_get_f64(en, 0), s = mk_const_get_f64(sp, 0);
    double cnt = ceil((z - a) / s);
    if (cnt < 0) cnt = 0;
    int64_t n = (int64_t)cnt;
    mk_type t = mk_type_make(st->type.dtype, 1, &n);
    return fold_to_const(p, op, &t, a, s, e);
}

/* Triangular N x N matrix M[j][i] = 1 when input j contributes to output i. */
static mk_value *triangle(pb *b, mk_dtype dt, int64_t n, int reverse, int exclusive)
{
    int64_t dims[2] = {n, n};
    mk_type t = mk_type_make(dt, 2, dims);
    size_t nb = 0;
    if (!mk_type_nbytes(&t, &nb)) return NULL;
    void *buf = mk_arena_alloc(b->p->arena, nb);
    if (!buf) return NULL;
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) {
            int on = reverse ? j >= i : j <= i;
            if (exclusive && i == j) on = 0;
            store(dt, buf, (size_t)(j * n + i), on ? 1.0 : 0.0);
        }
    return mk_pb_const_borrow(b, "h4_triangle", &t, buf, nb);
}

static mk_value *matmul(pb *b, mk_value *x, mk_value *y)
{
    mk_op *mm = mk_pb_op(b, MK_OP_MATMUL, "h4_cumsum_matmul");
    mk_pb_in(b, mm, "x", x);
    mk_pb_in(b, mm, "y", y);
    mk_pb_in(b, mm, "transpose_x", mk_pb_bool(b, "h4_tx", 0));
    mk_pb_in(b, mm, "transpose_y", mk_pb_bool(b, "h4_ty", 0));
    return mk_pb_emit(b, mm);
}

static mk_value *reshape(pb *b, mk_value *x, int r, const int64_t *dims)
{
    int32_t d[MK_MAX_RANK];
    for (int i = 0; i < r; i++) d[i] = (int32_t)dims[i];
    mk_op *op = mk_pb_op(b, MK_OP_RESHAPE, "h4_reshape");
    mk_pb_in(b, op, "x", x);
    mk_pb_in(b, op, "shape", mk_pb_i32s(b, "h4_shape", r, d));
    return mk_pb_emit(b, op);
}

static int fold_cumsum(mk_program *p, mk_op *op, int64_t bs, mk_err *e)
{
    mk_value *x = mk_ir_arg(op, "x");
    int32_t axis = 0;
    int rev = 0, exc = 0;
    mk_ir_arg_i32(op, "axis", &axis);
    mk_ir_arg_bool(op, "reverse", &rev);
    mk_ir_arg_bool(op, "exclusive", &exc);
    int r = x->type.rank;
    if (axis < 0) axis += r;
    int64_t n = x->type.dims[axis];
    pb b;
    mk_pb_init(&b, p, op, e);
    int32_t perm[MK_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = i;
    perm[axis] = r - 1;
    perm[r - 1] = axis;
    mk_value *xt = x;
    if (axis != r - 1) {
        mk_op *tr = mk_pb_op(&b, MK_OP_TRANSPOSE, "h4_axis_last");
        mk_pb_in(&b, tr, "x", x);
        mk_pb_in(&b, tr, "perm", mk_pb_i32s(&b, "h4_perm", r, perm));
        xt = mk_pb_emit(&b, tr);
    }
    mk_value *y;
    if (!bs) {
        y = matmul(&b, xt, triangle(&b, x->type.dtype, n, rev, exc));
    } else {
        int64_t dims[MK_MAX_RANK];
        for (int i = 0; i < r; i++) dims[i] = x->type.dims[perm[i]];
        int64_t bd[MK_MAX_RANK];
        memcpy(bd, dims, sizeof(int64_t) * (size_t)r);
        bd[r - 1] = n / bs;
        bd[r] = bs;
        mk_value *xr = reshape(&b, xt, r + 1, bd);
        mk_value *local = matmul(&b, xr, triangle(&b, x->type.dtype, bs, 0, 0));
        mk_op *rs = mk_pb_op(&b, MK_OP_REDUCE_SUM, "h4_block_totals");
        mk_pb_in(&b, rs, "x", xr);
        mk_pb_in(&b, rs, "axes", mk_pb_i32s(&b, "h4_last", 1, (int32_t[]){-1}));
        mk_pb_in(&b, rs, "keep_dims", mk_pb_bool(&b, "h4_keep", 0));
        mk_value *tot = mk_pb_emit(&b, rs);
        mk_value *pre = matmul(&b, tot, triangle(&b, x->type.dtype, n / bs, 0, 1));
        mk_op *ex = mk_pb_op(&b, MK_OP_EXPAND_DIMS, "h4_prefix");
        mk_pb_in(&b, ex, "x", pre);
        mk_pb_in(&b, ex, "axes", mk_pb_i32s(&b, "h4_last", 1, (int32_t[]){-1}));
        mk_value *pre2 = mk_pb_emit(&b, ex);
        mk_value *yr = mk_pb_binary(&b, MK_OP_ADD, "h4_cumsum_blocks", local, pre2);
        y = reshape(&b, yr, r, dims);
    }
    if (axis != r - 1) {
        mk_op *tr = mk_pb_op(&b, MK_OP_TRANSPOSE, "h4_axis_back");
        mk_pb_in(&b, tr, "x", y);
        mk_pb_in(&b, tr, "perm", mk_pb_i32s(&b, "h4_perm", r, perm));
        y = mk_pb_emit(&b, tr);
    }
    if (!b.failed && !y) {
        MK_OOM(e);
        b.failed = 1;
    }
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    int64_t block;
    int fixable = 0;
    if (!mk_ir_cpu_op(op, &block, &fixable) || !fixable) return 0;
    if (op->kind == MK_OP_CUMSUM) return fold_cumsum(p, op, block, e);
    return op->kind == MK_OP_RANGE_1D ? fold_range(p, op, e) : fold_fill(p, op, e);
}

int mk_pass_fix_cpu_ops(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
