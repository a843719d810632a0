/* The constant write map of scatter / scatter_nd / scatter_along_axis: for each data element,
 * which updates element the interpreter writes there (same index rules: negative indices count
 * from the end, updates applied in order). Shared by the H5 lint rule and its rewrite so both
 * agree on when a scatter can become gather + select. Builds no ops and changes nothing. */
#include <string.h>

#include "ir.h"

typedef struct smap {
    int32_t *src;  /* per data element: updates index, -1 = none (NULL when checking only) */
    uint8_t *bits; /* written flags when src is NULL and duplicates matter */
    int no_dups;   /* the mode accumulates: a second write to an element is a refusal */
    int dup;
} smap;

static void visit(smap *m, size_t n, size_t ui)
{
    if (m->src) {
        if (m->no_dups && m->src[n] >= 0) m->dup = 1;
        m->src[n] = (int32_t)ui;
    } else if (m->bits) {
        if (m->bits[n >> 3] & (1u << (n & 7))) m->dup = 1;
        m->bits[n >> 3] |= (uint8_t)(1u << (n & 7));
    }
}

static int index_at(const mk_value *ix, size_t i, int64_t len, int64_t *out)
{
    int64_t v = mk_const_get_i64(ix, i);
    if (v < 0) v += len;
    if (v < 0 || v >= len) return 0;
    *out = v;
    return 1;
}

static int64_t prod(const int64_t *d, int lo, int hi)
{
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= d[i];
    return p;
}

static int get_axis(const mk_op *op, int rank, int *axis)
{
    int32_t a = 0;
    if (mk_ir_arg(op, "axis") && !mk_ir_arg_i32(op, "axis", &a)) return 0;
    if (a < -rank || a >= rank) return 0;
    *axis = a < 0 ? a + rank : a;
    return 1;
}

/* Walks every (data element, updates element) write; 0 with *why on a refusal. */
static int walk(const mk_op *op, const mk_type *d, const mk_value *ix, size_t nu, smap *m,
                const char **why)
{
    int r = d->rank, axis = 0;
    size_t ni = 0;
    if (!mk_type_numel(&ix->type, &ni)) return *why = "indices shape is not static", 0;
    if (op->kind == MK_OP_SCATTER) {
        if (!get_axis(op, r, &axis)) return *why = "axis is not a constant in range", 0;
        int64_t outer = prod(d->dims, 0, axis), len = d->dims[axis];
        int64_t inner = prod(d->dims, axis + 1, r);
        if ((size_t)outer * ni * (size_t)inner != nu) return *why = "updates shape mismatch", 0;
        for (size_t j = 0; j < ni; j++) {
            int64_t idx;
            if (!index_at(ix, j, len, &idx)) return *why = "constant index out of range", 0;
            for (int64_t p = 0; p < outer; p++)
                for (int64_t q = 0; q < inner; q++)
                    visit(m, (size_t)((p * len + idx) * inner + q),
                          (size_t)(((int64_t)p * (int64_t)ni + (int64_t)j) * inner + q));
        }
    } else if (op->kind == MK_OP_SCATTER_ALONG_AXIS) {
        if (!get_axis(op, r, &axis)) return *why = "axis is not a constant in range", 0;
        if (ix->type.rank != r || ni != nu) return *why = "indices/updates shape mismatch", 0;
        for (int i = 0; i < r; i++)
            if (i != axis && ix->type.dims[i] > d->dims[i])
                return *why = "indices larger than data", 0;
        int64_t ds[MK_MAX_RANK], c[MK_MAX_RANK] = {0}, acc = 1;
        for (int i = r - 1; i >= 0; i--) {
            ds[i] = acc;
            acc *= d->dims[i];
        }
        for (size_t e = 0; e < ni; e++) {
            int64_t idx, off = 0;
            if (!index_at(ix, e, d->dims[axis], &idx))
                return *why = "constant index out of range", 0;
            for (int i = 0; i < r; i++) off += (i == axis ? idx : c[i]) * ds[i];
            visit(m, (size_t)off, e);
            for (int i = r - 1; i >= 0; i--) {
                if (++c[i] < ix->type.dims[i]) break;
                c[i] = 0;
            }
        }
    } else {
        int ir = ix->type.rank;
        if (ir < 1) return *why = "indices must have rank >= 1", 0;
        int64_t K = ix->type.dims[ir - 1];
        if (K > r) return *why = "index depth exceeds data rank", 0;
        int64_t M = prod(ix->type.dims, 0, ir - 1), inner = prod(d->dims, (int)K, r);
        if ((size_t)(M * inner) != nu) return *why = "updates shape mismatch", 0;
        int64_t ds[MK_MAX_RANK], acc = 1;
        for (int i = r - 1; i >= 0; i--) {
            ds[i] = acc;
            acc *= d->dims[i];
        }
        for (int64_t mm = 0; mm < M; mm++) {
            int64_t off = 0;
            for (int64_t q = 0; q < K; q++) {
                int64_t idx;
                if (!index_at(ix, (size_t)(mm * K + q), d->dims[q], &idx))
                    return *why = "constant index out of range", 0;
                off += idx * ds[q];
            }
            for (int64_t q = 0; q < inner; q++)
                visit(m, (size_t)(off + q), (size_t)(mm * inner + q));
        }
    }
    if (m->dup) return *why = "duplicate indices accumulate (mode is not update)", 0;
    return 1;
}

int mk_ir_scatter_mode(const mk_op *op)
{
    static const char *const names[] = {"update", "add", "sub", "mul", "div", "max", "min"};
    const char *s = mk_ir_input(op, "mode") ? mk_ir_arg_str(op, "mode") : "add";
    for (int i = 0; s && i < 7; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

int mk_ir_scatter_map(const mk_op *op, const mk_allocator *a, int32_t *src, const char **why)
{
    const char *dummy;
    if (!why) why = &dummy;
    *why = "not a scatter";
    if (op->kind != MK_OP_SCATTER && op->kind != MK_OP_SCATTER_ND &&
        op->kind != MK_OP_SCATTER_ALONG_AXIS)
        return 0;
    const mk_value *d = mk_ir_arg(op, "data"), *ix = mk_ir_arg(op, "indices");
    const mk_value *u = mk_ir_arg(op, "updates");
    if (!d || !ix || !u) return *why = "missing data, indices or updates", 0;
    if (!ix->cst || !ix->cst->data) return *why = "indices are not constant", 0;
    if (!mk_type_is_static(&d->type) || !mk_type_is_static(&u->type) ||
        !mk_type_is_static(&ix->type))
        return *why = "data/updates shapes are not static", 0;
    int mode = mk_ir_scatter_mode(op);
    if (mode < 0) return *why = "unknown mode", 0;
    mk_dtype dt = d->type.dtype;
    if (dt != MK_DT_FP32 && dt != MK_DT_FP16 && !(mode == 0 && dt == MK_DT_INT32))
        return *why = "data dtype not supported by the rewrite", 0;
    if (d->type.rank < 1) return *why = "rank-0 data", 0;
    if (!mk_dtype_is_int(ix->type.dtype)) return *why = "indices are not integer", 0;
    size_t n = 0, nu = 0, ni = 0, nb = 0;
    if (!mk_type_numel(&d->type, &n) || !mk_type_numel(&u->type, &nu) ||
        !mk_type_numel(&ix->type, &ni) || !mk_type_nbytes(&ix->type, &nb) || ix->cst->nbytes < nb)
        return *why = "sizes overflow or indices payload short", 0;
    if (n > MK_IR_SCATTER_MAX_NUMEL) return *why = "data larger than 2^24 elements", 0;
    if (nu < 1 || nu > (size_t)INT32_MAX) return *why = "updates empty or too large", 0;
    smap m = {src, NULL, mode != 0, 0};
    if (src) {
        for (size_t i = 0; i < n; i++) src[i] = -1;
    } else if (m.no_dups) {
        m.bits = mk_calloc(a, (n + 7) / 8, 1);
        if (!m.bits) return *why = "out of memory", -1;
    }
    int ok = walk(op, &d->type, ix, nu, &m, why);
    if (m.bits) mk_free(a, m.bits, (n + 7) / 8);
    if (ok) *why = NULL;
    return ok;
}
