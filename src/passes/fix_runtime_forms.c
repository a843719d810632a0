/* Symptom: forms the Core ML runtime rejects or gets wrong although MIL can express them:
 *          pad without constant_val (wanted even for reflect), negative pads, reflect /
 *          replicate pads on an axis other than the last two, gather with rank-0 indices
 *          ("Invalid rank" after rank inflation), and a negative-stride slice_by_index that
 *          runs to index 0 through an end below -dim.
 * Scope: mk_ir_runtime_form's fixable cases (src/ir/runtime_forms.c, shared with the lint
 *        rule). pad: missing constant_val (float or int32 x); constant-mode pad with a negative
 * amount on an axis of static size; reflect/replicate pad with amounts >= 0 on an outer axis of
 * static size (reflect amounts < dim, replicate dim > 0). gather with constant axis and rank-0
 *        indices. slice_by_index with constant stride/end where stride < 0 and end < -dim
 *        without end_mask.
 * Evidence: H35 (onnxruntime pad, slice and gather builders; onnxruntime PR #28478).
 * Rewrite: bind constant_val 0; negative pads -> slice_by_index crop, then pad the positive
 *          amounts; outer reflect/replicate axes, two at a time -> transpose them last, pad
 *          the last two axes, transpose back (the last two axes keep one direct pad; the
 *          per-axis index maps are independent, so the pads compose); rank-0 gather ->
 *          reshape indices to [1], gather, squeeze the axis; slice -> the same slice with
 *          end_mask set on that axis. Same numbers. */
#include <stdint.h>
#include <string.h>

#include "passes_int.h"

static mk_value *zero_like(pb *b, const mk_value *x, const char *nm)
{
    if (mk_dtype_is_float(x->type.dtype)) return mk_pb_float(b, nm, x->type.dtype, 0);
    return x->type.dtype == MK_DT_INT32 ? mk_pb_i32(b, nm, 0) : NULL;
}

/* A pad of x in `mode` by pads[0..2k) on its last k (1 or 2) axes, with op's constant_val. */
static mk_value *pad_last(pb *b, const mk_op *op, mk_value *x, const char *mode, int k,
                          const int32_t *pads)
{
    mk_op *pd = mk_pb_op(b, MK_OP_PAD, "h35_pad");
    mk_pb_in(b, pd, "x", x);
    mk_pb_in(b, pd, "pad", mk_pb_i32s(b, "h35_pad_amounts", 2 * k, pads));
    mk_pb_in(b, pd, "mode", mk_pb_str(b, "h35_mode", mode));
    mk_pb_in(b, pd, "constant_val", mk_ir_arg(op, "constant_val"));
    return mk_pb_emit(b, pd);
}

static mk_value *transpose(pb *b, mk_value *x, int r, const int32_t *perm)
{
    mk_op *t = mk_pb_op(b, MK_OP_TRANSPOSE, "h35_transpose");
    mk_pb_in(b, t, "x", x);
    mk_pb_in(b, t, "perm", mk_pb_i32s(b, "h35_perm", r, perm));
    return mk_pb_emit(b, t);
}

/* Reflect/replicate pad touching an axis before the last two: pads on the outer axes go two
 * at a time through transpose (axes last) / pad / transpose back; the last two axes keep a
 * direct pad. pv[0..n) are the pad pairs of the trailing n/2 axes. */
static int fix_pad_axes(pb *b, mk_op *op, mk_value *x, const char *mode, const int64_t *pv, int n)
{
    int r = x->type.rank, k = n / 2;
    int64_t lo[MK_MAX_RANK] = {0}, hi[MK_MAX_RANK] = {0};
    int outer[MK_MAX_RANK], n_outer = 0, inner = 0;
    for (int a = r - k; a < r; a++) {
        lo[a] = pv[2 * (a - (r - k))];
        hi[a] = pv[2 * (a - (r - k)) + 1];
        if (!lo[a] && !hi[a]) continue;
        if (a < r - 2)
            outer[n_outer++] = a;
        else
            inner = 1;
    }
    mk_value *y = x;
    for (int c = 0; c < n_outer; c += 2) {
        int m = n_outer - c < 2 ? 1 : 2, j = 0;
        int32_t perm[MK_MAX_RANK], inv[MK_MAX_RANK], pads[4];
        for (int a = 0; a < r; a++)
            if (a != outer[c] && (m == 1 || a != outer[c + 1])) perm[j++] = a;
        for (int i = 0; i < m; i++) {
            int a = outer[c + i];
            perm[j++] = a;
            pads[2 * i] = (int32_t)lo[a];
            pads[2 * i + 1] = (int32_t)hi[a];
        }
        for (int a = 0; a < r; a++) inv[perm[a]] = a;
        y = transpose(b, y, r, perm);
        y = pad_last(b, op, y, mode, m, pads);
        y = transpose(b, y, r, inv);
    }
    if (inner) {
        int32_t pads[4];
        for (int i = 0; i < 2; i++) {
            pads[2 * i] = (int32_t)lo[r - 2 + i];
            pads[2 * i + 1] = (int32_t)hi[r - 2 + i];
        }
        y = pad_last(b, op, y, mode, 2, pads); /* r >= 3 here: an outer axis exists */
    }
    mk_pb_replace(b, op->outputs[0], y);
    return mk_pb_done(b, 1);
}

static int fix_pad(mk_program *p, mk_op *op, mk_err *e)
{
    mk_value *x = mk_ir_arg(op, "x");
    mk_rt_form f;
    mk_ir_runtime_form(op, &f);
    int bind = f.no_constant_val && f.zero_fixable;
    if (!bind && !f.fixable) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    if (bind) mk_pb_in(&b, op, "constant_val", zero_like(&b, x, "h35_constant_val"));
    if (!f.fixable) return mk_pb_done(&b, 1);
    int64_t pv[2 * MK_MAX_RANK];
    int n = 0;
    mk_ir_arg_i64s(op, "pad", pv, 2 * MK_MAX_RANK, &n);
    if (f.kind == MK_RT_PAD_OUTER) return fix_pad_axes(&b, op, x, mk_ir_arg_str(op, "mode"), pv, n);
    int r = x->type.rank, k = n / 2, pos = 0;
    for (int i = 0; i < n; i++) pos |= pv[i] > 0;
    int32_t beg[MK_MAX_RANK] = {0}, end[MK_MAX_RANK] = {0}, pads[2 * MK_MAX_RANK];
    uint8_t bm[MK_MAX_RANK], em[MK_MAX_RANK];
    for (int a = 0; a < r; a++) {
        int i = a - (r - k); /* index into the trailing pad pairs, < 0 for leading axes */
        bm[a] = em[a] = i < 0;
        if (i < 0) continue;
        int64_t d = x->type.dims[a], pb0 = pv[2 * i], pe0 = pv[2 * i + 1];
        beg[a] = (int32_t)(pb0 < 0 ? -pb0 : 0);
        end[a] = (int32_t)(d + (pe0 < 0 ? pe0 : 0));
        pads[2 * i] = (int32_t)(pb0 > 0 ? pb0 : 0);
        pads[2 * i + 1] = (int32_t)(pe0 > 0 ? pe0 : 0);
    }
    mk_op *sl = mk_pb_op(&b, MK_OP_SLICE_BY_INDEX, "h35_crop");
    mk_pb_in(&b, sl, "x", x);
    mk_pb_in(&b, sl, "begin", mk_pb_i32s(&b, "h35_begin", r, beg));
    mk_pb_in(&b, sl, "end", mk_pb_i32s(&b, "h35_end", r, end));
    mk_pb_in(&b, sl, "begin_mask", mk_pb_bools(&b, "h35_begin_mask", r, bm));
    mk_pb_in(&b, sl, "end_mask", mk_pb_bools(&b, "h35_end_mask", r, em));
    mk_value *y = mk_pb_emit(&b, sl);
    if (pos) {
        mk_op *pd = mk_pb_op(&b, MK_OP_PAD, "h35_pad");
        mk_pb_in(&b, pd, "x", y);
        mk_pb_in(&b, pd, "pad", mk_pb_i32s(&b, "h35_pad_amounts", n, pads));
        mk_pb_in(&b, pd, "mode", mk_pb_str(&b, "h35_mode", "constant"));
        mk_pb_in(&b, pd, "constant_val", mk_ir_arg(op, "constant_val"));
        y = mk_pb_emit(&b, pd);
    }
    mk_pb_replace(&b, op->outputs[0], y);
    return mk_pb_done(&b, 1);
}

static int fix_gather(mk_program *p, mk_op *op, mk_err *e)
{
    mk_value *x = mk_ir_arg(op, "x"), *ix = mk_ir_arg(op, "indices");
    mk_rt_form f;
    if (!mk_ir_runtime_form(op, &f) || f.kind != MK_RT_GATHER_RANK0 || !f.fixable) return 0;
    int32_t axis = f.axis;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_op *rs = mk_pb_op(&b, MK_OP_RESHAPE, "h35_index_1");
    mk_pb_in(&b, rs, "x", ix);
    mk_pb_in(&b, rs, "shape", mk_pb_i32s(&b, "h35_shape", 1, (int32_t[]){1}));
    mk_op *g = mk_pb_op(&b, MK_OP_GATHER, "h35_gather");
    mk_pb_in(&b, g, "x", x);
    mk_pb_in(&b, g, "indices", mk_pb_emit(&b, rs));
    static const char *const skip[] = {"x", "indices", NULL};
    mk_pb_copy_inputs(&b, op, g, skip);
    mk_op *sq = mk_pb_op(&b, MK_OP_SQUEEZE, "h35_squeeze");
    mk_pb_in(&b, sq, "x", mk_pb_emit(&b, g));
    mk_pb_in(&b, sq, "axes", mk_pb_i32s(&b, "h35_axes", 1, &axis));
    mk_pb_replace(&b, op->outputs[0], mk_pb_emit(&b, sq));
    return mk_pb_done(&b, 1);
}

static int fix_slice(mk_program *p, mk_op *op, mk_err *e)
{
    mk_value *x = mk_ir_arg(op, "x");
    mk_rt_form f;
    if (!mk_ir_runtime_form(op, &f) || f.kind != MK_RT_SLICE_TO_START || !f.fixable) return 0;
    int64_t st[MK_MAX_RANK], en[MK_MAX_RANK], em[MK_MAX_RANK] = {0};
    int ns = 0, ne = 0, nm = 0, r = x->type.rank;
    mk_ir_arg_i64s(op, "stride", st, MK_MAX_RANK, &ns);
    mk_ir_arg_i64s(op, "end", en, MK_MAX_RANK, &ne);
    if (mk_ir_arg(op, "end_mask")) mk_ir_arg_i64s(op, "end_mask", em, MK_MAX_RANK, &nm);
    uint8_t m[MK_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int64_t d = x->type.dims[i];
        m[i] = em[i] != 0 || (st[i] < 0 && d > 0 && en[i] < -d);
    }
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_pb_set(&b, op, "end_mask", mk_pb_bools(&b, "h35_end_mask", r, m));
    return mk_pb_done(&b, 1);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    (void)ctx;
    if (op->kind == MK_OP_PAD) return fix_pad(p, op, e);
    if (op->kind == MK_OP_GATHER) return fix_gather(p, op, e);
    if (op->kind == MK_OP_SLICE_BY_INDEX) return fix_slice(p, op, e);
    return 0;
}

int mk_pass_fix_runtime_forms(mk_program *p, mk_err *e)
{
    return mk_pass_each_op(p, rewrite, NULL, e);
}
