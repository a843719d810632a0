/* The H35 trigger shared by the lint rule and fix_runtime_forms: pad, gather and
 * slice_by_index forms MIL expresses but the Core ML runtime rejects or gets wrong, and
 * whether the rewrite (crop, transpose-pad-transpose, reshaped index, end_mask) applies. */
#include <stdint.h>
#include <string.h>

#include "ir.h"

/* Negative pads (constant mode): the crop keeps a non-empty, static, int32-sized axis. */
static int crop_fits(const mk_type *t, const int64_t *pv, int n)
{
    int r = t->rank, k = n / 2;
    if (n % 2 || k > r || r > MK_MAX_RANK) return 0;
    for (int i = 0; i < k; i++) {
        int64_t d = t->dims[r - k + i], lo = pv[2 * i], hi = pv[2 * i + 1];
        if (d < 0 || d > INT32_MAX || lo < -INT32_MAX || lo > INT32_MAX || hi < -INT32_MAX ||
            hi > INT32_MAX || (lo < 0 ? -lo : 0) + (hi < 0 ? -hi : 0) >= d)
            return 0;
    }
    return 1;
}

/* Reflect / replicate pads of the trailing n/2 axes: the first padded axis before the last
 * two (-1: none, -2: a pad pair beyond x's rank); *fits: every padded axis can be padded on
 * its own (amounts in int32, dim known and > 0, reflect amounts < dim). */
static int outer_axis(const mk_type *t, const int64_t *pv, int n, int reflect, int *fits)
{
    int r = t->rank, k = n / 2, outer = -1;
    *fits = n % 2 == 0 && k <= r && r <= MK_MAX_RANK;
    for (int i = 0; i < k; i++) {
        int a = r - k + i;
        int64_t lo = pv[2 * i], hi = pv[2 * i + 1];
        if (!lo && !hi) continue;
        if (a < 0) return -2;
        int64_t d = t->dims[a];
        if (lo > INT32_MAX || hi > INT32_MAX || d <= 0 || (reflect && (lo >= d || hi >= d)))
            *fits = 0;
        if (a < r - 2 && outer < 0) outer = a;
    }
    return outer;
}

static void check_pad(const mk_op *op, const mk_value *x, mk_rt_form *f)
{
    const mk_dtype dt = x->type.dtype;
    int64_t pv[2 * MK_MAX_RANK];
    int n = 0;
    const char *mode = mk_ir_arg_str(op, "mode");
    f->no_constant_val = !mk_ir_arg(op, "constant_val");
    f->zero_fixable = mk_dtype_is_float(dt) || dt == MK_DT_INT32;
    if (!mk_ir_arg_i64s(op, "pad", pv, 2 * MK_MAX_RANK, &n)) return;
    for (int i = 0; i < n; i++)
        if (pv[i] < 0) {
            f->kind = MK_RT_PAD_NEGATIVE;
            f->amount = pv[i];
            f->fixable = (!mode || !strcmp(mode, "constant")) && crop_fits(&x->type, pv, n);
            return;
        }
    if (!mode || !strcmp(mode, "constant") || x->type.rank == 0) return;
    int reflect = !strcmp(mode, "reflect"), fits = 0;
    int a = outer_axis(&x->type, pv, n, reflect, &fits);
    if (a == -1) return;
    f->kind = MK_RT_PAD_OUTER;
    f->axis = a;
    f->fixable = a >= 0 && fits && (reflect || !strcmp(mode, "replicate"));
}

static void check_gather(const mk_op *op, const mk_value *x, mk_rt_form *f)
{
    const mk_value *ix = mk_ir_arg(op, "indices");
    int32_t axis = 0;
    if (!ix || ix->type.rank != 0) return;
    f->kind = MK_RT_GATHER_RANK0;
    if (mk_ir_arg(op, "axis") && !mk_ir_arg_i32(op, "axis", &axis)) return;
    if (axis < 0) axis += x->type.rank;
    f->axis = axis;
    f->fixable = x->type.rank >= 1 && axis >= 0 && axis < x->type.rank;
}

static void check_slice(const mk_op *op, const mk_value *x, mk_rt_form *f)
{
    int64_t st[MK_MAX_RANK], en[MK_MAX_RANK], em[MK_MAX_RANK];
    int ns = 0, ne = 0, nm = 0, r = x->type.rank;
    if (!mk_ir_arg_i64s(op, "stride", st, MK_MAX_RANK, &ns) ||
        !mk_ir_arg_i64s(op, "end", en, MK_MAX_RANK, &ne))
        return;
    int masks = !mk_ir_arg(op, "end_mask");
    if (!masks && mk_ir_arg_i64s(op, "end_mask", em, MK_MAX_RANK, &nm)) masks = 1;
    for (int i = 0; i < ns && i < ne && i < r; i++) {
        int64_t d = x->type.dims[i];
        if (st[i] < 0 && d > 0 && en[i] < -d && !(i < nm && em[i])) {
            f->kind = MK_RT_SLICE_TO_START;
            f->axis = i;
            f->amount = en[i];
            f->fixable = ns == r && ne == r && masks && (nm == 0 || nm == r);
            return;
        }
    }
}

int mk_ir_runtime_form(const mk_op *op, mk_rt_form *f)
{
    const mk_value *x = mk_ir_arg(op, "x");
    memset(f, 0, sizeof *f);
    f->axis = -1;
    if (!x) return 0;
    if (op->kind == MK_OP_PAD) check_pad(op, x, f);
    if (op->kind == MK_OP_GATHER) check_gather(op, x, f);
    if (op->kind == MK_OP_SLICE_BY_INDEX) check_slice(op, x, f);
    return f->kind != MK_RT_NONE || f->no_constant_val;
}
