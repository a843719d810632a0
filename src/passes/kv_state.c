/* KV cache passed in and out (input PAST, output PRESENT = concat(PAST, new) along the cache
 * axis) -> iOS18 model state named PAST with that axis at capacity N (fp16, as Core ML
 * requires; with `exact`, for fp32 programs, a second fp16 state PAST_lo holds each entry's
 * rounding residual, so hi + lo keeps about 22 bits of the fp32 cache). The graph reads
 * slice_by_size(read_state(PAST), 0, filled) where it read PAST, so attention sees only the filled
 * part; the new entries are written at offset `filled` by mk_kv_write (select ops: an iota
 * compared with `filled`, a one-hot matmul placing several entries; slice_update, which
 * leaves the Neural Engine (H5), only where that form does not apply) + coreml_update_state;
 * PRESENT stops being an output. `filled` is the first element of an integer input (e.g.
 * position_ids) or a new int32 [1] input. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "passes_int.h"

/* An ONNX name as the importer spells it in MIL ("past_key_values.0.key" ->
 * "past_key_values_0_key"); keywords aside. */
static const char *mil_spelling(const char *name, char *buf, size_t cap)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)name[0]) || name[0] == '_'))
        n = (size_t)snprintf(buf, cap, "var_");
    else if (name[0] == '_')
        n = (size_t)snprintf(buf, cap, "var");
    for (const char *c = name; *c && n + 1 < cap; c++)
        buf[n++] = (isalnum((unsigned char)*c) || *c == '_') ? *c : '_';
    buf[n] = 0;
    return buf;
}

static mk_value *find_input(const mk_function *f, const char *name)
{
    char buf[256];
    const char *alt = mil_spelling(name, buf, sizeof buf);
    for (int i = 0; i < f->n_inputs; i++)
        if (strcmp(f->inputs[i]->name, name) == 0 || strcmp(f->inputs[i]->name, alt) == 0)
            return f->inputs[i];
    return NULL;
}

static int find_output(const mk_block *b, const char *name)
{
    char buf[256];
    const char *alt = mil_spelling(name, buf, sizeof buf);
    for (int i = 0; i < b->n_outputs; i++)
        if (b->outputs[i]->name &&
            (strcmp(b->outputs[i]->name, name) == 0 || strcmp(b->outputs[i]->name, alt) == 0))
            return i;
    return -1;
}

static int has_prefix(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

int mk_kv_auto_pairs(const mk_program *p, mk_kv_pair *out, int max, mk_err *e)
{
    const mk_function *f = mk_ir_main(p);
    int n = 0;
    if (!f) return 0;
    for (int i = 0; i < f->n_inputs; i++) {
        const char *in = f->inputs[i]->name;
        if (f->inputs[i]->is_state || !has_prefix(in, "past")) continue;
        /* past_key_0 -> present_key_0; Hugging Face: past_key_values_0_key -> present_0_key */
        char want[256];
        int hf = has_prefix(in, "past_key_values");
        if (snprintf(want, sizeof want, "present%s", in + (hf ? 15 : 4)) >= (int)sizeof want)
            continue;
        int o = find_output(f->block, want);
        if (o < 0) {
            mk_err_set(e, MK_EINVAL,
                       "--context: input '%s' has no output '%s' to pair with; give "
                       "--state PAST=PRESENT for each cache tensor",
                       in, want);
            return -1;
        }
        if (n == max) {
            mk_err_set(e, MK_EINVAL, "--context: more than %d cache tensors", max);
            return -1;
        }
        out[n].past = in;
        out[n].present = f->block->outputs[o]->name;
        n++;
    }
    if (!n)
        mk_err_set(e, MK_EINVAL,
                   "--context: no input named past* pairs with a present* output; give "
                   "--state PAST=PRESENT");
    return n ? n : -1;
}

static void dims_str(const mk_type *t, char *s, size_t n)
{
    size_t off = 0;
    off += (size_t)snprintf(s, n, "[");
    for (int i = 0; i < t->rank && off < n; i++)
        off += t->dims[i] < 0 ? (size_t)snprintf(s + off, n - off, "%s?", i ? "," : "")
                              : (size_t)snprintf(s + off, n - off, "%s%lld", i ? "," : "",
                                                 (long long)t->dims[i]);
    if (off < n) snprintf(s + off, n - off, "]");
}

/* Checks one pair and finds the cache axis and the new entries. */
static mk_status check_pair(const mk_function *f, const mk_kv_pair *kp, mk_value **past,
                            mk_op **cat, int *axis, mk_value **nw, mk_err *e)
{
    const mk_block *b = f->block;
    *past = find_input(f, kp->past);
    int o = find_output(b, kp->present);
    if (!*past || (*past)->is_state)
        return mk_err_set(e, MK_EINVAL, "--state %s=%s: '%s' is not an input of the model",
                          kp->past, kp->present, kp->past);
    if (o < 0)
        return mk_err_set(e, MK_EINVAL, "--state %s=%s: '%s' is not an output of the model",
                          kp->past, kp->present, kp->present);
    mk_value *pr = b->outputs[o];
    const mk_type *tp = &(*past)->type, *to = &pr->type;
    char sp[96], so[96];
    dims_str(tp, sp, sizeof sp);
    dims_str(to, so, sizeof so);
    if (!mk_dtype_is_float(tp->dtype) || tp->dtype != to->dtype || tp->rank < 1 ||
        tp->rank != to->rank)
        return mk_err_set(e, MK_EINVAL, "--state %s=%s: shapes disagree: %s %s vs %s %s", kp->past,
                          kp->present, mk_dtype_name(tp->dtype), sp, mk_dtype_name(to->dtype), so);
    *cat = pr->producer;
    const mk_input *vals =
        *cat && (*cat)->kind == MK_OP_CONCAT ? mk_ir_input(*cat, "values") : NULL;
    int32_t ax = 0;
    if (!vals || vals->n_args != 2 || vals->args[0] != *past || !mk_ir_arg_i32(*cat, "axis", &ax))
        return mk_err_set(e, MK_EINVAL,
                          "--state %s=%s: '%s' is not concat(%s, new entries) along one axis, "
                          "so the cache axis is unknown",
                          kp->past, kp->present, kp->present, kp->past);
    int r = tp->rank;
    *axis = ax < 0 ? ax + r : ax;
    *nw = vals->args[1];
    for (int d = 0; d < r; d++) {
        if (d == *axis) continue;
        int64_t a = tp->dims[d], c = to->dims[d], n = (*nw)->type.dims[d];
        if (a < 0)
            return mk_err_set(e, MK_EINVAL,
                              "--state %s=%s: '%s' %s has a dynamic dim %d besides the cache "
                              "axis %d (fix it with --shape)",
                              kp->past, kp->present, kp->past, sp, d, *axis);
        if ((c >= 0 && c != a) || (n >= 0 && n != a))
            return mk_err_set(e, MK_EINVAL, "--state %s=%s: shapes disagree: %s vs %s on axis %d",
                              kp->past, kp->present, sp, so, d);
    }
    return MK_OK;
}

/* [0.., v, 0..] or [d0.., v, d..] (axis holds v, an int32 [1]) as an int32 [r] tensor. */
static mk_value *with_axis(pb *b, const mk_type *t, int axis, mk_value *v, int zeros)
{
    int32_t pre[MK_MAX_RANK], post[MK_MAX_RANK];
    int r = t->rank;
    if (zeros && v->cst) { /* all zeros */
        int32_t z[MK_MAX_RANK] = {0};
        return mk_pb_i32s(b, "kv_zeros", r, z);
    }
    for (int d = 0; d < r; d++) {
        int32_t x = zeros ? 0 : (int32_t)t->dims[d];
        if (d < axis) pre[d] = x;
        if (d > axis) post[d - axis - 1] = x;
    }
    mk_op *c = mk_pb_op(b, MK_OP_CONCAT, "kv_vec");
    if (axis > 0) mk_pb_in(b, c, "values", mk_pb_i32s(b, "kv_pre", axis, pre));
    mk_pb_in(b, c, "values", v);
    if (axis < r - 1) mk_pb_in(b, c, "values", mk_pb_i32s(b, "kv_post", r - axis - 1, post));
    mk_pb_in(b, c, "axis", mk_pb_i32(b, "kv_axis", 0));
    mk_pb_in(b, c, "interleave", mk_pb_bool(b, "kv_il", 0));
    return mk_pb_emit(b, c);
}

static mk_value *cast_to(pb *b, mk_value *x, mk_dtype dt)
{
    if (!x || x->type.dtype == dt) return x;
    mk_op *c = mk_pb_op(b, MK_OP_CAST, "kv_cast");
    mk_pb_in(b, c, "x", x);
    mk_pb_in(b, c, "dtype", mk_pb_str(b, "kv_dtype", dt == MK_DT_FP16 ? "fp16" : "fp32"));
    return mk_pb_emit(b, c);
}

/* The filled count as int32 [1]: the input itself, or its first element. */
static mk_value *filled_count(pb *b, mk_program *p, mk_function *f, const char *name, int *added,
                              mk_err *e)
{
    mk_value *x = find_input(f, name);
    *added = 0;
    if (!x) {
        int64_t one = 1;
        mk_type t = mk_type_make(MK_DT_INT32, 1, &one);
        x = mk_ir_function_add_input(p, f, name, &t);
        if (!x) {
            MK_OOM(e);
            return NULL;
        }
        *added = 1;
        return x;
    }
    size_t n = 0;
    if (x->is_state || !mk_dtype_is_int(x->type.dtype) || x->type.rank < 0 ||
        (mk_type_is_static(&x->type) && (!mk_type_numel(&x->type, &n) || n == 0))) {
        mk_err_set(e, MK_EINVAL,
                   "--cache-length %s: needs an integer input with at least one "
                   "element",
                   name);
        return NULL;
    }
    if (x->type.dtype == MK_DT_INT32 && x->type.rank == 1 && x->type.dims[0] == 1) return x;
    mk_value *v = cast_to(b, x, MK_DT_INT32);
    mk_op *rs = mk_pb_op(b, MK_OP_RESHAPE, "kv_flat");
    mk_pb_in(b, rs, "x", v);
    mk_pb_in(b, rs, "shape", mk_pb_i32s(b, "kv_flat_shape", 1, (const int32_t[]){-1}));
    mk_op *sl = mk_pb_op(b, MK_OP_SLICE_BY_SIZE, "kv_filled");
    mk_pb_in(b, sl, "x", mk_pb_emit(b, rs));
    mk_pb_in(b, sl, "begin", mk_pb_i32s(b, "kv_b", 1, (const int32_t[]){0}));
    mk_pb_in(b, sl, "size", mk_pb_i32s(b, "kv_s", 1, (const int32_t[]){1}));
    return mk_pb_emit(b, sl);
}

static void drop_feature(mk_feature *fs, int *n, const char *name)
{
    int k = 0;
    for (int i = 0; i < *n; i++)
        if (!fs[i].name || strcmp(fs[i].name, name) != 0) fs[k++] = fs[i];
    *n = k;
}

/* hi + lo: the fp32 value an exact state pair holds */
static mk_value *pair_sum(pb *b, mk_value *hi, mk_value *lo)
{
    return mk_pb_binary(b, MK_OP_ADD, "kv_pair", cast_to(b, hi, MK_DT_FP32),
                        cast_to(b, lo, MK_DT_FP32));
}

/* The residual of x (fp32) after rounding to hi (fp16), as fp16. */
static mk_value *residual(pb *b, mk_value *x, mk_value *hi)
{
    return cast_to(b, mk_pb_binary(b, MK_OP_SUB, "kv_resid", x, cast_to(b, hi, MK_DT_FP32)),
                   MK_DT_FP16);
}

static mk_value *sel(pb *b, mk_value *cond, mk_value *a, mk_value *c)
{
    mk_op *op = mk_pb_op(b, MK_OP_SELECT, "kv_written");
    mk_pb_in(b, op, "cond", cond);
    mk_pb_in(b, op, "a", a);
    mk_pb_in(b, op, "b", c);
    return mk_pb_emit(b, op);
}

/* int32 constant [1.., N at axis, ..1] holding 0..N-1 */
static mk_value *iota(pb *b, int rank, int axis, int64_t n)
{
    int64_t d[MK_MAX_RANK];
    for (int i = 0; i < rank; i++) d[i] = i == axis ? n : 1;
    mk_type t = mk_type_make(MK_DT_INT32, rank, d);
    size_t nb = 0;
    int32_t *v = NULL;
    if (!mk_mul_size((size_t)n, 4, &nb) || !(v = mk_malloc(b->p->alloc, nb ? nb : 1))) {
        if (!b->failed) MK_OOM(b->e);
        b->failed = 1;
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) v[i] = (int32_t)i;
    mk_value *c = mk_pb_const(b, "kv_iota", &t, v, nb);
    mk_free(b->p->alloc, v, nb ? nb : 1);
    return c;
}

mk_value *mk_kv_write(pb *b, mk_value *x, mk_value *upd, mk_value *f, int axis)
{
    const mk_type *tx = &x->type, *tu = &upd->type;
    int r = tx->rank;
    if (r < 2 || tu->rank != r || tx->dtype != tu->dtype || !mk_type_is_static(tx) ||
        !mk_type_is_static(tu) || axis < 0 || axis >= r)
        return NULL;
    int64_t N = tx->dims[axis], n = tu->dims[axis];
    if (n < 1 || n > N || (n > 1 && axis != r - 2) || N > INT32_MAX) return NULL;
    mk_value *rel = mk_pb_binary(b, MK_OP_SUB, "kv_rel", iota(b, r, axis, N), f);
    if (n == 1) /* the update broadcasts along the axis; only row f takes it */
        return sel(b, mk_pb_binary(b, MK_OP_EQUAL, "kv_row", rel, mk_pb_i32(b, "kv_zero", 0)), upd,
                   x);
    /* rows f..f+n-1 take update rows 0..n-1: one-hot P[j, i] = (j - f == i), P @ update */
    mk_value *rel2 = mk_pb_binary(b, MK_OP_SUB, "kv_rel2", iota(b, 2, 0, N), f);
    mk_value *hot = mk_pb_binary(b, MK_OP_EQUAL, "kv_hot", rel2, iota(b, 2, 1, n));
    mk_value *pm = cast_to(b, hot, tx->dtype);
    mk_op *mm = mk_pb_op(b, MK_OP_MATMUL, "kv_placed");
    mk_pb_in(b, mm, "x", pm);
    mk_pb_in(b, mm, "y", upd);
    mk_pb_in(b, mm, "transpose_x", mk_pb_bool(b, "kv_tx", 0));
    mk_pb_in(b, mm, "transpose_y", mk_pb_bool(b, "kv_ty", 0));
    mk_value *placed = mk_pb_emit(b, mm);
    mk_value *rows =
        mk_pb_binary(b, MK_OP_LOGICAL_AND, "kv_rows",
                     mk_pb_binary(b, MK_OP_GREATER_EQUAL, "kv_ge", rel, mk_pb_i32(b, "kv_zero", 0)),
                     mk_pb_binary(b, MK_OP_LESS, "kv_lt", rel, mk_pb_i32(b, "kv_n", (int32_t)n)));
    return sel(b, rows, placed, x);
}

mk_value *mk_kv_len_mask(pb *b, mk_value *len, int64_t cap, int rank)
{
    if (rank < 1 || cap > INT32_MAX) return NULL;
    return mk_pb_binary(b, MK_OP_LESS, "kv_filled_mask", iota(b, rank, rank - 1, cap), len);
}

/* x with upd written at offset len on axis: the select form when it applies, else
 * slice_update (orig: PAST's type, for the bounds) */
static mk_value *write_at(pb *b, mk_value *x, mk_value *upd, mk_value *len, const mk_type *orig,
                          int axis)
{
    mk_value *w = b->failed ? NULL : mk_kv_write(b, x, upd, len, axis);
    if (w || b->failed) return w;
    mk_value *bg = with_axis(b, orig, axis, len, 1), *en;
    if (mk_type_is_static(&upd->type)) {
        int32_t d[MK_MAX_RANK];
        for (int k = 0; k < orig->rank; k++) d[k] = (int32_t)upd->type.dims[k];
        en = mk_pb_binary(b, MK_OP_ADD, "kv_end", bg, mk_pb_i32s(b, "kv_new", orig->rank, d));
    } else {
        en = mk_pb_binary(b, MK_OP_ADD, "kv_end", bg, mk_pb_unary(b, MK_OP_SHAPE, "kv_new", upd));
    }
    mk_op *su = mk_pb_op(b, MK_OP_SLICE_UPDATE, "kv_write");
    mk_pb_in(b, su, "x", x);
    mk_pb_in(b, su, "update", upd);
    mk_pb_in(b, su, "begin", bg);
    mk_pb_in(b, su, "end", en);
    return mk_pb_emit(b, su);
}

int mk_kv_to_state(mk_program *p, const mk_kv_pair *pairs, int n, int64_t capacity,
                   const char *len_name, int exact, mk_err *e)
{
    mk_function *f = mk_ir_main(p);
    if (!f || !f->block->first) {
        mk_err_set(e, MK_EINVAL, "--state: the model has no function to rewrite");
        return -1;
    }
    if (mk_ir_ios_for_spec(p->spec_version) < 18) {
        mk_err_set(e, MK_EINVAL, "--context: model state needs --target ios18 or later");
        return -1;
    }
    if (capacity < 1 || capacity > (1 << 24)) {
        mk_err_set(e, MK_EINVAL, "--context %lld: must be 1..16777216", (long long)capacity);
        return -1;
    }
    if (find_input(f, len_name) && !find_input(f, len_name)->is_state)
        for (int i = 0; i < n; i++)
            if (strcmp(pairs[i].past, len_name) == 0) {
                mk_err_set(e, MK_EINVAL, "--cache-length %s: is a cache tensor", len_name);
                return -1;
            }
    /* check every pair before changing anything */
    for (int i = 0; i < n; i++) {
        mk_value *pv, *nw;
        mk_op *cat;
        int axis;
        if (check_pair(f, &pairs[i], &pv, &cat, &axis, &nw, e)) return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(pairs[j].past, pairs[i].past) == 0 ||
                strcmp(pairs[j].present, pairs[i].present) == 0) {
                mk_err_set(e, MK_EINVAL, "--state %s=%s: named twice", pairs[i].past,
                           pairs[i].present);
                return -1;
            }
    }
    mk_block *blk = f->block;
    mk_op *start = blk->first; /* the reads go after the filled count, before the graph */
    pb b;
    mk_pb_init(&b, p, start, e);
    int added = 0;
    mk_value *len = filled_count(&b, p, f, len_name, &added, e);
    if (!len) return -1;
    for (int i = 0; i < n && !b.failed; i++) {
        mk_value *pv, *nw;
        mk_op *cat;
        int axis;
        if (check_pair(f, &pairs[i], &pv, &cat, &axis, &nw, e)) return -1;
        mk_type orig = pv->type;
        mk_dtype dt = orig.dtype;
        mk_type st = orig;
        st.dtype = MK_DT_FP16;
        st.dims[axis] = capacity;
        mk_value *lov = NULL, *full_lo = NULL;
        if (exact && dt == MK_DT_FP32) {
            char lo_name[300];
            snprintf(lo_name, sizeof lo_name, "%s_lo", pv->name);
            if (find_input(f, lo_name)) {
                mk_err_set(e, MK_EINVAL, "--state %s: an input %s exists already", pairs[i].past,
                           lo_name);
                return -1;
            }
            if (!(lov = mk_ir_function_add_input(p, f, lo_name, &st))) {
                MK_OOM(e);
                return -1;
            }
            lov->is_state = 1;
        }
        /* readers of PAST read the filled part of the state instead */
        pv->type = st;
        pv->is_state = 1;
        b.pos = start;
        mk_op *rd = mk_pb_op(&b, MK_OP_READ_STATE, "kv_read");
        mk_pb_in(&b, rd, "input", pv);
        mk_value *full = mk_pb_emit(&b, rd);
        if (lov) {
            mk_op *rl = mk_pb_op(&b, MK_OP_READ_STATE, "kv_read_lo");
            mk_pb_in(&b, rl, "input", lov);
            full_lo = mk_pb_emit(&b, rl);
        }
        mk_op *sl = mk_pb_op(&b, MK_OP_SLICE_BY_SIZE, "kv_filled_view");
        mk_pb_in(&b, sl, "x", lov ? pair_sum(&b, full, full_lo) : cast_to(&b, full, dt));
        mk_pb_in(&b, sl, "begin",
                 with_axis(&b, &orig, axis, mk_pb_i32s(&b, "kv_zero", 1, (const int32_t[]){0}), 1));
        mk_pb_in(&b, sl, "size", with_axis(&b, &orig, axis, len, 0));
        mk_value *view = mk_pb_emit(&b, sl);
        if (b.failed) break;
        view->type = orig;
        view->type.dims[axis] = MK_DIM_UNKNOWN;
        mk_ir_replace_uses(blk, pv, view);
        mk_pb_set(&b, rd, "input", pv);
        /* the new entries go into the state at the filled offset */
        b.pos = cat;
        mk_value *hi = cast_to(&b, nw, st.dtype);
        mk_op *up = mk_pb_op(&b, MK_OP_COREML_UPDATE_STATE, "kv_update");
        mk_pb_in(&b, up, "state", pv);
        mk_pb_in(&b, up, "value", write_at(&b, full, hi, len, &orig, axis));
        mk_pb_emit(&b, up);
        if (lov) {
            mk_op *u2 = mk_pb_op(&b, MK_OP_COREML_UPDATE_STATE, "kv_update_lo");
            mk_pb_in(&b, u2, "state", lov);
            mk_pb_in(&b, u2, "value",
                     write_at(&b, full_lo, residual(&b, nw, hi), len, &orig, axis));
            mk_pb_emit(&b, u2);
        }
        if (b.failed) break;
        /* PRESENT is no longer an output */
        int o = find_output(blk, pairs[i].present), k = 0;
        const char *oname = blk->outputs[o]->name;
        mk_value *outs[256];
        if (blk->n_outputs > (int)(sizeof outs / sizeof *outs)) {
            mk_err_set(e, MK_EUNSUPPORTED, "--state: more than 256 outputs");
            return -1;
        }
        for (int j = 0; j < blk->n_outputs; j++)
            if (j != o) outs[k++] = blk->outputs[j];
        if (!mk_ir_block_set_outputs(p, blk, k, outs)) {
            MK_OOM(e);
            return -1;
        }
        drop_feature(p->outputs, &p->n_outputs, oname);
        drop_feature(p->inputs, &p->n_inputs, pv->name);
    }
    if (b.failed) return -1;
    if (added && p->n_inputs) {
        mk_feature *fs = mk_arena_array(p->arena, (size_t)p->n_inputs + 1, sizeof *fs);
        if (!fs) {
            MK_OOM(e);
            return -1;
        }
        memcpy(fs, p->inputs, (size_t)p->n_inputs * sizeof *fs);
        memset(&fs[p->n_inputs], 0, sizeof *fs);
        fs[p->n_inputs].name = find_input(f, len_name)->name;
        fs[p->n_inputs].dtype = MK_DT_INT32;
        fs[p->n_inputs].rank = 1;
        fs[p->n_inputs].shape[0] = 1;
        p->inputs = fs;
        p->n_inputs++;
    }
    p->n_states = 0; /* described from the state inputs when written */
    return n;
}
