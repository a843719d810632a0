/* Attention as exported (matmul(Q, K^T) -> scalar scales -> optional mask -> softmax(last
 * axis) -> matmul(., V)) -> one iOS18 scaled_dot_product_attention. SDPA's scale is fixed at
 * 1/sqrt(E), so the product of the scales found (on the scores, Q or K) times sqrt(E) goes
 * onto Q. Masks: add of a float tensor (additive mask), or select(cond, C, scores) with C a
 * constant <= -1e4 everywhere (bool mask: not cond; select(cond, scores, C): cond). Every
 * intermediate must have this one reader; programs below iOS18 are left alone. Slices cut
 * at run time get the extents mk_ir_refine_dims proves first (a causal mask sliced to the
 * current length keeps the query's rows). */
#include <math.h>

#include "passes_int.h"

#define MASKED_MAX (-1e4) /* a select constant at or below this only masks (exp gives 0) */

/* v is produced by an op and read exactly once in blk (not a block output) */
static int sole_use(const mk_block *blk, const mk_value *v)
{
    return v && v->producer && mk_ir_count_uses(blk, v) == 1;
}

static int is_kind(const mk_value *v, mk_op_kind k)
{
    return v && v->producer && v->producer->kind == k;
}

/* a boolean parameter: 0 when absent, -1 when not a constant */
static int flag(const mk_op *op, const char *param)
{
    int b = 0;
    if (!mk_ir_arg(op, param)) return 0;
    return mk_ir_arg_bool(op, param, &b) ? b : -1;
}

/* v = mul(x, c) | mul(c, x) | real_div(x, c) with c a one-element float constant and the
 * result shaped like x: x, with the factor applied into *factor. */
static mk_value *unscale(mk_value *v, double *factor)
{
    if (!is_kind(v, MK_OP_MUL) && !is_kind(v, MK_OP_REAL_DIV)) return NULL;
    const mk_op *op = v->producer;
    mk_value *x = mk_ir_arg(op, "x"), *y = mk_ir_arg(op, "y");
    float c = 0;
    if (!x || !y) return NULL;
    if (op->kind == MK_OP_MUL && mk_pass_numel1(x) && mk_pass_const_floats(x, &c, 1) &&
        mk_type_equal(&y->type, &v->type)) {
        *factor *= c;
        return y;
    }
    if (!mk_pass_numel1(y) || !mk_pass_const_floats(y, &c, 1) || !mk_type_equal(&x->type, &v->type))
        return NULL;
    if (op->kind == MK_OP_REAL_DIV) {
        if (c == 0) return NULL;
        *factor /= c;
    } else {
        *factor *= c;
    }
    return x;
}

/* Follow scalar scales; with blk, only through values read once there (the scores chain,
 * whose ops the fusion removes), `uses` times for v itself. */
static mk_value *strip_scales(const mk_block *blk, mk_value *v, double *factor, int uses)
{
    for (int i = 0; i < 4; i++) {
        if (blk && !(v->producer && mk_ir_count_uses(blk, v) == (i ? 1 : uses))) break;
        double f = *factor;
        mk_value *u = unscale(v, &f);
        if (!u) break;
        *factor = f;
        v = u;
    }
    return v;
}

/* perm swaps exactly the last two axes */
static int swaps_last(const mk_op *t)
{
    int64_t perm[MK_MAX_RANK];
    int n = 0;
    if (!mk_pass_ints(t, "perm", perm, MK_MAX_RANK, &n) || n < 2) return 0;
    for (int i = 0; i < n - 2; i++)
        if (perm[i] != i && perm[i] != i - n) return 0;
    return (perm[n - 2] == n - 1 || perm[n - 2] == -1) &&
           (perm[n - 1] == n - 2 || perm[n - 1] == -2);
}

/* A constant (fp16/fp32) whose every element is <= MASKED_MAX. */
static int masking_const(const mk_value *v)
{
    size_t n = 0;
    if (!v || !v->cst || !v->cst->data || !mk_dtype_is_float(v->type.dtype) ||
        !mk_type_numel(&v->type, &n) || n == 0 || n > ((size_t)1 << 24))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(mk_const_get_f64(v, i) <= MASKED_MAX)) return 0;
    return 1;
}

static int same_batch(const mk_type *a, const mk_type *b)
{
    if (a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank - 2; i++)
        if (a->dims[i] < 0 || a->dims[i] != b->dims[i]) return 0;
    return 1;
}

typedef struct match {
    mk_value *q, *k; /* k as [.., S, E] unless k_t (then [.., E, S]: needs a transpose) */
    int k_t;
    mk_value *mask; /* float mask, or the select's bool cond */
    int mask_not;   /* bool mask = not(mask) */
    double factor;  /* scale applied to Q K^T */
} match;

/* x - reduce_max(x, [last], keep_dims) with x read by these two ops only: x (softmax does not
 * change under a shift, torchaudio's wav2vec2 exports one); else v itself. */
static mk_value *unshift(const mk_block *blk, mk_value *v, int *uses)
{
    *uses = 1;
    if (!is_kind(v, MK_OP_SUB) || !sole_use(blk, v)) return v;
    mk_value *x = mk_ir_arg(v->producer, "x"), *y = mk_ir_arg(v->producer, "y");
    if (!x || !is_kind(y, MK_OP_REDUCE_MAX) || mk_ir_arg(y->producer, "x") != x ||
        !mk_type_equal(&x->type, &v->type) || !sole_use(blk, y))
        return v;
    int64_t ax[2];
    int n = 0, keep = 0, r = x->type.rank;
    if (!mk_pass_ints(y->producer, "axes", ax, 2, &n) || n != 1 ||
        (ax[0] != -1 && ax[0] != r - 1) || !mk_ir_arg_bool(y->producer, "keep_dims", &keep) ||
        !keep || mk_ir_count_uses(blk, x) != 2)
        return v;
    *uses = 2;
    return x;
}

/* The scores chain of softmax sm back to matmul(Q, K^T); every value on it read once. */
static int match_scores(const mk_block *blk, const mk_op *sm, match *m)
{
    mk_value *z = mk_ir_arg(sm, "x");
    int zu = 1;
    if (!z || !mk_dtype_is_float(z->type.dtype) || z->type.rank < 3 || !sole_use(blk, z)) return 0;
    z = unshift(blk, z, &zu);
    int r = z->type.rank;
    mk_value *s = z;
    m->factor = 1;
    if (is_kind(z, MK_OP_ADD)) {
        const mk_op *ad = z->producer;
        mk_value *x = mk_ir_arg(ad, "x"), *y = mk_ir_arg(ad, "y");
        double f = 1;
        int x_scores = x && is_kind(strip_scales(blk, x, &f, 1), MK_OP_MATMUL);
        s = x_scores ? x : y;
        m->mask = x_scores ? y : x;
        if (!s || !m->mask || s == m->mask || !mk_type_equal(&s->type, &z->type) ||
            !mk_dtype_is_float(m->mask->type.dtype))
            return 0;
    } else if (is_kind(z, MK_OP_SELECT)) {
        const mk_op *se = z->producer;
        mk_value *c = mk_ir_arg(se, "cond"), *a = mk_ir_arg(se, "a"), *b = mk_ir_arg(se, "b");
        if (!c || !a || !b || c->type.dtype != MK_DT_BOOL) return 0;
        if (masking_const(a) && mk_type_equal(&b->type, &z->type)) {
            s = b;
            m->mask_not = 1;
        } else if (masking_const(b) && mk_type_equal(&a->type, &z->type)) {
            s = a;
        } else {
            return 0;
        }
        m->mask = c;
    }
    if (m->mask) {
        const mk_type *mt = &m->mask->type;
        if (mt->rank < 1 || mt->rank > r || mt->dims[mt->rank - 1] != z->type.dims[r - 1]) return 0;
    }
    mk_value *raw = strip_scales(blk, s, &m->factor, s == z ? zu : 1);
    if (!is_kind(raw, MK_OP_MATMUL) || mk_ir_count_uses(blk, raw) != (raw == z ? zu : 1)) return 0;
    const mk_op *mm = raw->producer;
    int ty = flag(mm, "transpose_y");
    mk_value *y = mk_ir_arg(mm, "y");
    m->q = mk_ir_arg(mm, "x");
    if (flag(mm, "transpose_x") != 0 || ty < 0 || !m->q || !y) return 0;
    m->q = strip_scales(NULL, m->q, &m->factor, 1);
    mk_value *yt = strip_scales(NULL, y, &m->factor, 1);
    if (ty) {
        m->k = yt;
    } else if (is_kind(yt, MK_OP_TRANSPOSE) && swaps_last(yt->producer) &&
               mk_ir_arg(yt->producer, "x")) {
        m->k = strip_scales(NULL, mk_ir_arg(yt->producer, "x"), &m->factor, 1);
    } else {
        m->k = yt;
        m->k_t = 1;
    }
    return 1;
}

/* x with its last two axes swapped; a transpose producing x is composed into one. */
static mk_value *transpose_last(pb *b, mk_value *x)
{
    int32_t perm[MK_MAX_RANK];
    int64_t prev[MK_MAX_RANK];
    int r = x->type.rank, n = 0;
    for (int i = 0; i < r; i++) perm[i] = i;
    if (is_kind(x, MK_OP_TRANSPOSE) && mk_ir_arg(x->producer, "x") &&
        mk_pass_ints(x->producer, "perm", prev, MK_MAX_RANK, &n) && n == r) {
        for (int i = 0; i < r; i++) perm[i] = (int32_t)(prev[i] < 0 ? prev[i] + r : prev[i]);
        x = mk_ir_arg(x->producer, "x");
    }
    int32_t t2 = perm[r - 2];
    perm[r - 2] = perm[r - 1];
    perm[r - 1] = t2;
    mk_op *t = mk_pb_op(b, MK_OP_TRANSPOSE, "sdpa_t");
    mk_pb_in(b, t, "x", x);
    mk_pb_in(b, t, "perm", mk_pb_i32s(b, "sdpa_perm", r, perm));
    return mk_pb_emit(b, t);
}

static int rewrite(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    if (op->kind != MK_OP_MATMUL || op->n_outputs != 1) return 0;
    mk_value *pr = mk_ir_arg(op, "x"), *v = mk_ir_arg(op, "y");
    if (!pr || !v || !is_kind(pr, MK_OP_SOFTMAX) || !sole_use(op->parent, pr)) return 0;
    if (flag(op, "transpose_x") != 0) return 0;
    int vt = flag(op, "transpose_y");
    const mk_op *sm = pr->producer;
    int32_t axis = -1;
    int r = pr->type.rank;
    if (vt < 0 || r < 3 || (mk_ir_arg(sm, "axis") && !mk_ir_arg_i32(sm, "axis", &axis)) ||
        (axis != -1 && axis != r - 1))
        return 0;
    match m = {0};
    if (!match_scores(op->parent, sm, &m)) return 0;
    const mk_type *tq = &m.q->type, *tk = &m.k->type, *tv = &v->type;
    mk_dtype dt = tq->dtype;
    if (tq->rank != r || tk->rank != r || tv->rank != r || tk->dtype != dt || tv->dtype != dt ||
        !mk_dtype_is_float(dt) || !same_batch(tq, tk) || !same_batch(tq, tv))
        return 0;
    int64_t E = tq->dims[r - 1], Ek = tk->dims[m.k_t ? r - 2 : r - 1];
    int64_t Sk = tk->dims[m.k_t ? r - 1 : r - 2], Sv = tv->dims[vt ? r - 1 : r - 2];
    if (E <= 0 || Ek != E || Sk != Sv || Sk != pr->type.dims[r - 1]) return 0;
    double qs = m.factor * sqrt((double)E);
    if (!isfinite(qs) || qs == 0) return 0;
    pb b;
    mk_pb_init(&b, p, op, e);
    mk_value *q = m.q, *k = m.k, *val = v;
    if (fabs(qs - 1) > 1e-7)
        q = mk_pb_binary(&b, MK_OP_MUL, "sdpa_q", q, mk_pb_float(&b, "sdpa_qs", dt, qs));
    if (m.k_t) k = transpose_last(&b, k);
    if (vt) val = transpose_last(&b, val);
    mk_value *mask = m.mask;
    if (mask && m.mask_not) mask = mk_pb_unary(&b, MK_OP_LOGICAL_NOT, "sdpa_mask", mask);
    mk_op *at = mk_pb_op(&b, MK_OP_SCALED_DOT_PRODUCT_ATTENTION, "sdpa");
    mk_pb_in(&b, at, "query", q);
    mk_pb_in(&b, at, "key", k);
    mk_pb_in(&b, at, "value", val);
    if (mask) mk_pb_in(&b, at, "attn_mask", mask);
    mk_value *out = mk_pb_emit(&b, at);
    if (out && !mk_type_equal(&out->type, &op->outputs[0]->type)) {
        *(int *)ctx = 1; /* the new ops are dead: dce removes them */
        return mk_pb_done(&b, 0);
    }
    mk_pb_replace(&b, op->outputs[0], out);
    return mk_pb_done(&b, 1);
}

/* ---- attention over a KV cache held as state, at its capacity ---- */
/* The filled view of a state (slice_by_size to the run-time count f) and the concat of the new
 * entries have run-time lengths, which keep the attention off the Neural Engine (H18). The
 * state's contract (f + n <= N, what the write itself needs) makes the attention over all N
 * entries equal, with the new ones written in and positions >= f + n masked. */

/* v read from a state: read_state, a cast of one, or hi + lo of two */
static int from_state(const mk_value *v, int depth)
{
    if (!v || !v->producer || depth > 3) return 0;
    const mk_op *op = v->producer;
    if (op->kind == MK_OP_READ_STATE) return 1;
    if (op->kind == MK_OP_CAST) return from_state(mk_ir_arg(op, "x"), depth + 1);
    return op->kind == MK_OP_ADD && from_state(mk_ir_arg(op, "x"), depth + 1) &&
           from_state(mk_ir_arg(op, "y"), depth + 1);
}

typedef struct kv_side {
    mk_value *cache, *nw, *size; /* cache: [.., N, E] from a state */
    mk_ir_term f;                /* the filled count: size[axis] */
} kv_side;

/* k = concat(slice_by_size(cache, 0, [.., f, ..]), new) along the second-to-last axis */
static int match_side(const mk_value *k, kv_side *s)
{
    int r = k->type.rank, a = r - 2, il = 0;
    int32_t ax = 0;
    const mk_op *cat = k->producer;
    const mk_input *vals = cat && cat->kind == MK_OP_CONCAT ? mk_ir_input(cat, "values") : NULL;
    if (!vals || vals->n_args != 2 || !mk_ir_arg_i32(cat, "axis", &ax) || (ax != a && ax != -2) ||
        (mk_ir_arg(cat, "interleave") && (!mk_ir_arg_bool(cat, "interleave", &il) || il)))
        return 0;
    const mk_value *view = vals->args[0];
    s->nw = vals->args[1];
    if (!is_kind(view, MK_OP_SLICE_BY_SIZE)) return 0;
    s->cache = mk_ir_arg(view->producer, "x");
    s->size = mk_ir_arg(view->producer, "size");
    mk_value *bg = mk_ir_arg(view->producer, "begin");
    const mk_type *tc = s->cache ? &s->cache->type : NULL, *tn = &s->nw->type;
    if (!tc || !s->size || !bg || tc->rank != r || tn->rank != r || tc->dtype != tn->dtype ||
        !mk_type_is_static(tc) || !mk_type_is_static(tn) || tn->dims[a] > tc->dims[a] ||
        !from_state(s->cache, 0))
        return 0;
    for (int d = 0; d < r; d++) {
        mk_ir_term tb, ts;
        mk_ir_int_term(bg, d, &tb);
        mk_ir_int_term(s->size, d, &ts);
        if (tb.base || tb.off != 0) return 0;
        if (d == a) {
            s->f = ts;
            if (!ts.base) return 0;
        } else if (ts.base || ts.off != tc->dims[d] || tn->dims[d] != tc->dims[d]) {
            return 0;
        }
    }
    return 1;
}

/* mask = [not] slice_by_index(y, ..) cutting only the last axis, to [0, L) with L the key
 * length (dim r-2 of key or value): y (static, last dim >= cap), *neg */
static mk_value *match_len_mask(const mk_value *m, const mk_value *k, const mk_value *v,
                                int64_t cap, int *neg)
{
    *neg = 0;
    if (is_kind(m, MK_OP_LOGICAL_NOT)) {
        *neg = 1;
        m = mk_ir_arg(m->producer, "x");
    }
    if (!is_kind(m, MK_OP_SLICE_BY_INDEX) || m->type.dtype != MK_DT_BOOL) return NULL;
    const mk_op *op = m->producer;
    mk_value *y = mk_ir_arg(op, "x"), *bg = mk_ir_arg(op, "begin"), *en = mk_ir_arg(op, "end");
    int r = m->type.rank, last = r - 1;
    if (!y || !bg || !en || y->type.rank != r || r < 1 || !mk_type_is_static(&y->type) ||
        y->type.dims[last] < cap || mk_ir_arg(op, "squeeze_mask"))
        return NULL;
    int32_t st[MK_MAX_RANK], bm[MK_MAX_RANK] = {0};
    int n = 0;
    if (mk_ir_arg(op, "stride") && !mk_ir_arg_i32s(op, "stride", st, MK_MAX_RANK, &n)) return NULL;
    for (int d = 0; d < n; d++)
        if (st[d] != 1) return NULL;
    if (mk_ir_arg(op, "begin_mask") && !mk_ir_arg_i32s(op, "begin_mask", bm, MK_MAX_RANK, &n))
        return NULL;
    if (mk_ir_arg(op, "end_mask")) {
        int32_t em[MK_MAX_RANK];
        if (!mk_ir_arg_i32s(op, "end_mask", em, MK_MAX_RANK, &n) || n != r || em[last]) return NULL;
    }
    for (int d = 0; d < last; d++) /* full along the other axes (stride 1, same extent) */
        if (m->type.dims[d] != y->type.dims[d]) return NULL;
    mk_ir_term b0, e0;
    mk_ir_int_term(bg, last, &b0);
    mk_ir_int_term(en, last, &e0);
    if (!bm[last] && (b0.base || b0.off != 0)) return NULL;
    int ka = k->type.rank - 2;
    if (!e0.base || !e0.is_dim || e0.off != 0 || e0.idx != ka || (e0.base != k && e0.base != v))
        return NULL;
    return y;
}

/* SDPA over concat(filled view of a state, new entries) -> SDPA over the state with the new
 * entries written (capacity N, static) and the mask extended to N columns, cut at f + n. */
static int at_capacity(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    if (op->kind != MK_OP_SCALED_DOT_PRODUCT_ATTENTION || op->n_outputs != 1) return 0;
    mk_value *q = mk_ir_arg(op, "query"), *k = mk_ir_arg(op, "key"), *v = mk_ir_arg(op, "value"),
             *m = mk_ir_arg(op, "attn_mask");
    kv_side sk, sv;
    if (!q || !k || !v || k->type.rank < 3 || v->type.rank != k->type.rank ||
        !mk_type_is_static(&op->outputs[0]->type) || !match_side(k, &sk) || !match_side(v, &sv) ||
        !mk_ir_term_same(&sk.f, &sv.f))
        return 0;
    int r = k->type.rank, a = r - 2, neg = 0;
    int64_t cap = sk.cache->type.dims[a], n = sk.nw->type.dims[a];
    if (sv.cache->type.dims[a] != cap || sv.nw->type.dims[a] != n) return 0;
    mk_value *y = m ? match_len_mask(m, k, v, cap, &neg) : NULL;
    if ((m && !y) || n > INT32_MAX || cap > INT32_MAX) return 0;
    pb b;
    mk_pb_init(&b, p, k->producer, e); /* f and the key length before anything reads them */
    mk_op *fs = mk_pb_op(&b, MK_OP_SLICE_BY_SIZE, "sdpa_filled");
    mk_pb_in(&b, fs, "x", sk.size);
    mk_pb_in(&b, fs, "begin", mk_pb_i32s(&b, "sdpa_fb", 1, (const int32_t[]){a}));
    mk_pb_in(&b, fs, "size", mk_pb_i32s(&b, "sdpa_fs", 1, (const int32_t[]){1}));
    mk_value *f = mk_pb_emit(&b, fs);
    mk_value *len = mk_pb_binary(&b, MK_OP_ADD, "sdpa_len", f, mk_pb_i32(&b, "sdpa_n", (int32_t)n));
    /* shape(key) / shape(value) (the mask is cut with it): static dims and f + n */
    MK_FOR_OPS(op->parent, sh)
    {
        mk_value *x = sh->kind == MK_OP_SHAPE ? mk_ir_arg(sh, "x") : NULL;
        if (!x || (x != k && x != v) || b.failed || x->type.rank != r) continue;
        int32_t pre[MK_MAX_RANK], post = (int32_t)x->type.dims[r - 1];
        for (int d = 0; d < a; d++) pre[d] = (int32_t)(x == k ? sk : sv).cache->type.dims[d];
        mk_op *c = mk_pb_op(&b, MK_OP_CONCAT, "sdpa_kshape");
        mk_pb_in(&b, c, "values", mk_pb_i32s(&b, "sdpa_pre", a, pre));
        mk_pb_in(&b, c, "values", len);
        mk_pb_in(&b, c, "values", mk_pb_i32s(&b, "sdpa_post", 1, &post));
        mk_pb_in(&b, c, "axis", mk_pb_i32(&b, "sdpa_ax", 0));
        mk_pb_in(&b, c, "interleave", mk_pb_bool(&b, "sdpa_il", 0));
        mk_value *vec = mk_pb_emit(&b, c);
        if (vec && mk_type_equal(&vec->type, &sh->outputs[0]->type))
            mk_ir_replace_uses(op->parent, sh->outputs[0], vec);
    }
    b.pos = op;
    mk_value *kc = mk_kv_write(&b, sk.cache, sk.nw, f, a), *vc = NULL;
    if (kc) vc = mk_kv_write(&b, sv.cache, sv.nw, f, a);
    mk_value *mask = mk_kv_len_mask(&b, len, cap, m ? m->type.rank : r);
    if (y) {
        int32_t z[MK_MAX_RANK] = {0}, en[MK_MAX_RANK];
        int yr = y->type.rank;
        for (int d = 0; d < yr; d++) en[d] = (int32_t)y->type.dims[d];
        en[yr - 1] = (int32_t)cap;
        mk_op *sl = mk_pb_op(&b, MK_OP_SLICE_BY_INDEX, "sdpa_mask_cap");
        mk_pb_in(&b, sl, "x", y);
        mk_pb_in(&b, sl, "begin", mk_pb_i32s(&b, "sdpa_mb", yr, z));
        mk_pb_in(&b, sl, "end", mk_pb_i32s(&b, "sdpa_me", yr, en));
        mk_value *ym = mk_pb_emit(&b, sl);
        if (neg) ym = mk_pb_unary(&b, MK_OP_LOGICAL_NOT, "sdpa_mask_not", ym);
        mask = mk_pb_binary(&b, MK_OP_LOGICAL_AND, "sdpa_mask_filled", ym, mask);
    }
    if (!kc || !vc) { /* an unplaceable write: the new ops are dead, dce removes them */
        *(int *)ctx = 1;
        return mk_pb_done(&b, 0);
    }
    mk_op *at = mk_pb_op(&b, MK_OP_SCALED_DOT_PRODUCT_ATTENTION, "sdpa_cap");
    mk_pb_in(&b, at, "query", q);
    mk_pb_in(&b, at, "key", kc);
    mk_pb_in(&b, at, "value", vc);
    mk_pb_in(&b, at, "attn_mask", mask);
    mk_value *out = mk_pb_emit(&b, at);
    if (out && !mk_type_equal(&out->type, &op->outputs[0]->type)) {
        *(int *)ctx = 1;
        return mk_pb_done(&b, 0);
    }
    mk_pb_replace(&b, op->outputs[0], out);
    return mk_pb_done(&b, 1);
}

int mk_pass_fuse_attention(mk_program *p, mk_err *e)
{
    if (mk_ir_ios_for_spec(p->spec_version) < 18) return 0;
    /* a mask cut to rows [L - n, L) of a run-time L has n rows: the scores keep their shape */
    for (int i = 0; i < p->n_functions; i++) mk_ir_refine_dims(p->functions[i]->block);
    int dead = 0, n = mk_pass_each_op(p, rewrite, &dead, e);
    int c = n < 0 ? n : mk_pass_each_op(p, at_capacity, &dead, e);
    if (c < 0) return c;
    if (n > 0 || c > 0 || (n == 0 && dead))
        for (int i = 0; i < p->n_functions; i++)
            if (mk_ir_dce(p, p->functions[i]->block) < 0) {
                MK_OOM(e);
                return -1;
            }
    return n;
}
