/* Symbolic dimension facts for run-time slices: an element of an int32 bounds vector is traced
 * to "element k of a value + constant" (through concat, expand_dims/squeeze/reshape, constant
 * slices, add/sub of constants), so a slice_by_index whose begin and end along an axis are the
 * same run-time value plus two constants (a causal mask cut to rows [L - n, L)) has a known
 * extent, once bounds on L (from the dims L is read from) prove no index wraps or clamps.
 * mk_ir_refine_dims writes such extents into the slices' types and re-infers the ops after. */
#include <stdint.h>
#include <string.h>

#include "ir.h"

#define DEPTH 24
#define NO_LO INT64_MIN
#define NO_HI INT64_MAX

typedef mk_ir_term term;

static int numel(const mk_value *v, size_t *n)
{
    return v && v->type.rank >= 0 && mk_type_numel(&v->type, n);
}

static int same_base(const term *a, const term *b)
{
    return a->base == b->base && a->idx == b->idx && a->is_dim == b->is_dim;
}

static int add_off(int64_t a, int64_t b, int64_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

static void trace(const mk_value *v, int k, term *t, int depth);

/* element k of a binary op's operand: a one-element operand broadcasts */
static void trace_operand(const mk_value *v, int k, term *t, int depth)
{
    size_t n = 0;
    trace(v, numel(v, &n) && n == 1 ? 0 : k, t, depth);
}

static void trace(const mk_value *v, int k, term *t, int depth)
{
    t->base = v;
    t->idx = k;
    t->is_dim = 0;
    t->off = 0;
    size_t n = 0;
    if (!v || !mk_dtype_is_int(v->type.dtype) || !numel(v, &n) || k < 0 || (size_t)k >= n) return;
    if (v->cst) {
        if (!v->cst->data) return;
        t->base = NULL;
        t->off = mk_const_get_i64(v, (size_t)k);
        return;
    }
    const mk_op *op = v->producer;
    if (!op || depth > DEPTH || op->n_outputs != 1) return;
    const mk_value *x = mk_ir_arg(op, "x");
    int32_t a32;
    mk_op_kind kd = op->kind;
    if (kd == MK_OP_SHAPE) {
        if (x && x->type.rank > k) {
            if (x->type.dims[k] >= 0) {
                t->base = NULL;
                t->off = x->type.dims[k];
            } else {
                t->base = x;
                t->is_dim = 1;
            }
        }
        return;
    }
    if (kd == MK_OP_EXPAND_DIMS || kd == MK_OP_SQUEEZE || kd == MK_OP_RESHAPE) {
        trace(x, k, t, depth + 1); /* the flat order is kept */
        return;
    }
    if (kd == MK_OP_CAST) {
        if (x && mk_dtype_is_int(x->type.dtype)) trace(x, k, t, depth + 1);
        return;
    }
    if (kd == MK_OP_CONCAT) {
        const mk_input *vals = mk_ir_input(op, "values");
        if (!vals || v->type.rank != 1 || !mk_ir_arg_i32(op, "axis", &a32) ||
            (a32 != 0 && a32 != -1))
            return;
        int at = k;
        for (int i = 0; i < vals->n_args; i++) {
            const mk_value *p = vals->args[i];
            if (!p || p->type.rank != 1 || p->type.dims[0] < 0) return;
            if (at < p->type.dims[0]) {
                trace(p, at, t, depth + 1);
                return;
            }
            at -= (int)p->type.dims[0];
        }
        return;
    }
    if (kd == MK_OP_SLICE_BY_INDEX || kd == MK_OP_SLICE_BY_SIZE) {
        int32_t b = 0, s = 1;
        int nb = 0, bm = 0;
        if (!x || x->type.rank != 1 || x->type.dims[0] < 0 ||
            !mk_ir_arg_i32s(op, "begin", &b, 1, &nb))
            return;
        if (op->kind == MK_OP_SLICE_BY_INDEX) {
            int32_t m[1];
            int nm = 0;
            if (mk_ir_arg(op, "stride") && !mk_ir_arg_i32s(op, "stride", &s, 1, &nm)) return;
            if (mk_ir_arg(op, "begin_mask") && !mk_ir_arg_i32s(op, "begin_mask", m, 1, &nm)) return;
            if (mk_ir_arg(op, "begin_mask")) bm = m[0];
            if (bm) b = s > 0 ? 0 : (int32_t)x->type.dims[0] - 1;
        }
        if (b < 0) b += (int32_t)x->type.dims[0];
        int64_t e = (int64_t)b + (int64_t)k * s;
        if (b < 0 || e < 0 || e >= x->type.dims[0]) return;
        trace(x, (int)e, t, depth + 1);
        return;
    }
    if (kd == MK_OP_ADD || kd == MK_OP_SUB) {
        const mk_value *y = mk_ir_arg(op, "y");
        size_t nx = 0, ny = 0;
        if (!x || !y || !numel(x, &nx) || !numel(y, &ny) || (nx != n && nx != 1) ||
            (ny != n && ny != 1))
            return;
        term tx, ty;
        trace_operand(x, k, &tx, depth + 1);
        trace_operand(y, k, &ty, depth + 1);
        term r;
        if (op->kind == MK_OP_ADD) {
            if (tx.base && ty.base) return;
            r = tx.base ? tx : ty;
            if (!add_off(tx.off, ty.off, &r.off)) return;
        } else {
            if (ty.base && !same_base(&tx, &ty)) return;
            r = ty.base ? (term){NULL, 0, 0, 0} : tx;
            if (ty.off == INT64_MIN || !add_off(tx.off, -ty.off, &r.off)) return;
        }
        *t = r;
    }
}

/* Bounds on dim `axis` of v (v's own dim when known). */
static void dim_bounds(const mk_value *v, int axis, int64_t *lo, int64_t *hi, int depth)
{
    *lo = 0;
    *hi = NO_HI;
    if (!v || axis < 0 || axis >= v->type.rank) return;
    if (v->type.dims[axis] >= 0) {
        *lo = *hi = v->type.dims[axis];
        return;
    }
    const mk_op *op = v->producer;
    if (!op || depth > DEPTH) return;
    const mk_value *x = mk_ir_arg(op, "x");
    int32_t a32;
    mk_op_kind kd = op->kind;
    if (kd == MK_OP_CONCAT) {
        const mk_input *vals = mk_ir_input(op, "values");
        int il = 0;
        if (!vals || !mk_ir_arg_i32(op, "axis", &a32) ||
            (mk_ir_arg(op, "interleave") && (!mk_ir_arg_bool(op, "interleave", &il) || il)))
            return;
        if (a32 < 0) a32 += v->type.rank;
        if (a32 != axis) return;
        int64_t l = 0, h = 0;
        for (int i = 0; i < vals->n_args; i++) {
            int64_t pl, ph;
            dim_bounds(vals->args[i], axis, &pl, &ph, depth + 1);
            if (!add_off(l, pl, &l)) return;
            if (h != NO_HI && (ph == NO_HI || !add_off(h, ph, &h))) h = NO_HI;
        }
        *lo = l;
        *hi = h;
        return;
    }
    if (kd == MK_OP_SLICE_BY_INDEX || kd == MK_OP_SLICE_BY_SIZE) {
        int64_t l;
        if (x && x->type.rank == v->type.rank) dim_bounds(x, axis, &l, hi, depth + 1);
        return;
    }
    if (kd == MK_OP_TRANSPOSE) {
        int32_t perm[MK_MAX_RANK];
        int n = 0;
        if (!x || !mk_ir_arg_i32s(op, "perm", perm, MK_MAX_RANK, &n) || n != v->type.rank) return;
        int p = perm[axis] < 0 ? perm[axis] + n : perm[axis];
        dim_bounds(x, p, lo, hi, depth + 1);
        return;
    }
    if (kd == MK_OP_CAST) dim_bounds(x, axis, lo, hi, depth + 1);
}

/* Bounds of the run-time value a term stands for. */
static void term_bounds(const term *t, int64_t *lo, int64_t *hi)
{
    *lo = NO_LO;
    *hi = NO_HI;
    if (!t->base) {
        *lo = *hi = t->off;
        return;
    }
    if (!t->is_dim) return;
    int64_t l, h;
    dim_bounds(t->base, t->idx, &l, &h, 0);
    if (!add_off(l, t->off, lo)) *lo = NO_LO;
    if (h == NO_HI || !add_off(h, t->off, hi)) *hi = NO_HI;
}

static int mask_at(const mk_op *op, const char *param, int axis, int rank)
{
    int32_t m[MK_MAX_RANK];
    int n = 0;
    if (!mk_ir_arg(op, param)) return 0;
    if (!mk_ir_arg_i32s(op, param, m, MK_MAX_RANK, &n) || n != rank) return -1;
    return m[axis] != 0;
}

void mk_ir_int_term(const mk_value *v, int k, mk_ir_term *t)
{
    trace(v, k, t, 0);
}

int mk_ir_term_same(const mk_ir_term *a, const mk_ir_term *b)
{
    return same_base(a, b) && a->off == b->off;
}

int64_t mk_ir_slice_extent(const mk_op *op, int axis)
{
    const mk_value *x = mk_ir_arg(op, "x"), *bv = mk_ir_arg(op, "begin");
    if (!x || !bv || op->n_outputs != 1 || axis < 0 || axis >= x->type.rank) return -1;
    int r = x->type.rank;
    int64_t D = x->type.dims[axis];
    if (D < 0) return -1;
    term b, en;
    trace(bv, axis, &b, 0);
    if (op->kind == MK_OP_SLICE_BY_SIZE) {
        trace(mk_ir_arg(op, "size"), axis, &en, 0);
        if (en.base || en.off < 0) return -1; /* -1 (to the end) is left to the type rule */
        int64_t lo, hi;
        term_bounds(&b, &lo, &hi);
        return lo >= 0 && hi != NO_HI && hi + en.off <= D ? en.off : -1;
    }
    if (op->kind != MK_OP_SLICE_BY_INDEX) return -1;
    int32_t st[MK_MAX_RANK];
    int ns = 0;
    if (mk_ir_arg(op, "stride") &&
        (!mk_ir_arg_i32s(op, "stride", st, MK_MAX_RANK, &ns) || ns != r || st[axis] != 1))
        return -1;
    int bm = mask_at(op, "begin_mask", axis, r), em = mask_at(op, "end_mask", axis, r),
        sm = mask_at(op, "squeeze_mask", axis, r);
    if (bm < 0 || em < 0 || sm != 0) return -1;
    if (bm) b = (term){NULL, 0, 0, 0};
    if (em)
        en = (term){NULL, 0, 0, D};
    else
        trace(mk_ir_arg(op, "end"), axis, &en, 0);
    if (!b.base && !en.base) return -1; /* constant bounds: the type rule knows */
    if (!same_base(&b, &en) || en.off < b.off) return -1;
    /* begin and end both in [0, D]: no wrap of a negative index, no clamp */
    int64_t blo, bhi, elo, ehi;
    term_bounds(&b, &blo, &bhi);
    term_bounds(&en, &elo, &ehi);
    if (blo < 0 || ehi > D) return -1;
    (void)bhi;
    (void)elo;
    return en.off - b.off;
}

/* Sharpen out with known dims of got (same rank and dtype); the count of dims set. */
static int sharpen(mk_type *out, const mk_type *got)
{
    if (out->rank != got->rank || out->dtype != got->dtype || out->is_list || got->is_list)
        return 0;
    int n = 0;
    for (int d = 0; d < out->rank; d++)
        if (out->dims[d] < 0 && got->dims[d] >= 0) {
            out->dims[d] = got->dims[d];
            n++;
        }
    return n;
}

static int reinfer(mk_op *op)
{
    mk_operand ins[64];
    int k = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const mk_value *v = op->inputs[i].args[j];
            if (!v || k == (int)(sizeof ins / sizeof *ins)) return 0;
            ins[k].type = v->type;
            ins[k].data = v->cst ? v->cst->data : NULL;
            ins[k].nbytes = v->cst ? v->cst->nbytes : 0;
            k++;
        }
    mk_type outs[8];
    int n = 0;
    mk_err e = {MK_OK, ""};
    if (mk_ir_infer(op, ins, k, outs, 8, &n, &e) != MK_OK || n != op->n_outputs) return 0;
    int c = 0;
    for (int i = 0; i < n; i++) c += sharpen(&op->outputs[i]->type, &outs[i]);
    return c;
}

int mk_ir_refine_dims(mk_block *b)
{
    int changed = 0;
    MK_FOR_OPS(b, op)
    {
        if (op->n_blocks || op->n_outputs < 1 || op->kind == MK_OP_CONST) continue;
        if (changed) changed += reinfer(op);
        if ((op->kind != MK_OP_SLICE_BY_INDEX && op->kind != MK_OP_SLICE_BY_SIZE) ||
            op->n_outputs != 1)
            continue;
        mk_type *t = &op->outputs[0]->type;
        const mk_value *x = mk_ir_arg(op, "x");
        if (!x || x->type.rank != t->rank) continue; /* squeezed axes: the rule handles them */
        for (int d = 0; d < t->rank; d++) {
            if (t->dims[d] >= 0) continue;
            int64_t n = mk_ir_slice_extent(op, d);
            if (n >= 0) {
                t->dims[d] = n;
                changed++;
            }
        }
    }
    return changed;
}
