/* Fusion of lowered patterns back into single MIL ops, run on the imported block after every
 * node is lowered: the decomposed layer normalization exported by many tools
 * (ReduceMean -> Sub -> Pow|Mul -> ReduceMean -> Add eps -> Sqrt -> Div [-> Mul gamma
 * -> Add beta]) becomes one layer_norm; x * sigmoid(x) becomes silu; the erf and tanh forms
 * of GELU (0.5 x (1 + erf(x / sqrt 2)), 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))))
 * become gelu; PaddlePaddle's hard_swish x * clip(x + 3, 0, 6) / 6 (Div or Mul by 1/6, any
 * operand order) becomes mul(x, sigmoid_hard(x, 1/6, 0.5)) and clip(x + 3, 0, 6) / 6 alone
 * becomes sigmoid_hard (fp32 x only). Only single-use intermediates are fused; anything else
 * is left as lowered. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "onnx_int.h"

typedef struct fuse_ctx {
    mk_program *p;
    ox_ctx *c;
    mk_strmap uses; /* value name -> use count (names are unique program-wide) */
    int oom;
} fuse_ctx;

/* Insert the fused op before `last` and add its output, typed by src/ir's rule from the op's
 * inputs; NULL on error (set). */
static mk_value *fused_out(fuse_ctx *f, mk_op *op, mk_op *last)
{
    mk_type unranked = mk_type_scalar(MK_DT_FP32);
    unranked.rank = MK_RANK_UNKNOWN;
    mk_value *v = mk_ir_op_add_output(f->p, op, NULL, &unranked);
    mk_err tmp = {0};
    if (!v) return NULL;
    mk_ir_insert_before(last, op);
    if (mk_ir_infer_op(op, &tmp) != MK_OK) {
        mk_err_set(f->c->err, tmp.code, "%s: %s", f->c->file, tmp.msg);
        return NULL;
    }
    return v;
}

static void count_block(fuse_ctx *f, const mk_block *b)
{
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) {
                const mk_value *v = op->inputs[i].args[j];
                if (!v->name) continue;
                intptr_t n = (intptr_t)mk_strmap_get(&f->uses, v->name);
                if (!mk_strmap_put(&f->uses, v->name, (void *)(n + 1))) f->oom = 1;
            }
        for (int i = 0; i < op->n_blocks; i++) count_block(f, op->blocks[i]);
    }
    for (int i = 0; i < b->n_outputs; i++) {
        const mk_value *v = b->outputs[i];
        if (!v->name) continue;
        intptr_t n = (intptr_t)mk_strmap_get(&f->uses, v->name);
        if (!mk_strmap_put(&f->uses, v->name, (void *)(n + 1))) f->oom = 1;
    }
}

static int uses(const fuse_ctx *f, const mk_value *v)
{
    return v->name ? (int)(intptr_t)mk_strmap_get(&f->uses, v->name) : 1000;
}

/* The op of kind k in block b producing v, or NULL. */
static mk_op *made_by(const mk_value *v, mk_op_kind k, const mk_block *b)
{
    return v && v->producer && v->producer->kind == k && v->producer->parent == b ? v->producer
                                                                                  : NULL;
}

static int const_scalar(const mk_value *v, double *out)
{
    size_t n;
    if (!v || !v->cst || !mk_dtype_is_float(v->type.dtype) || !mk_type_numel(&v->type, &n) ||
        n != 1)
        return 0;
    *out = mk_const_get_f64(v, 0);
    return 1;
}

/* Axes of a keep_dims reduce_mean as a bit mask over rank r; 0 when not usable. */
static unsigned mean_axes(const mk_op *op, int r)
{
    int32_t ax[MK_MAX_RANK];
    int n = 0, keep = 0;
    if (!mk_ir_arg_i32s(op, "axes", ax, MK_MAX_RANK, &n) || n < 1) return 0;
    if (!mk_ir_arg_bool(op, "keep_dims", &keep) || !keep) return 0;
    unsigned m = 0;
    for (int i = 0; i < n; i++) {
        int a = ax[i] < 0 ? ax[i] + r : ax[i];
        if (a < 0 || a >= r) return 0;
        m |= 1u << a;
    }
    return m;
}

/* The other operand of a binary op whose one operand is v (NULL if v is not an operand). */
static mk_value *other(const mk_op *op, const mk_value *v)
{
    mk_value *x = mk_ir_arg(op, "x"), *y = mk_ir_arg(op, "y");
    if (x == v) return y;
    if (y == v) return x;
    return NULL;
}

/* The single consumer of v in b, or NULL. */
static mk_op *sole_any(const fuse_ctx *f, const mk_block *b, const mk_value *v)
{
    if (uses(f, v) != 1) return NULL;
    for (mk_op *op = v->producer ? v->producer->next : b->first; op; op = op->next) {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                if (op->inputs[i].args[j] == v) return op;
        if (op->n_blocks) return NULL;
    }
    return NULL;
}

/* The single consumer of v in b of kind k, or NULL. */
static mk_op *sole_user(const fuse_ctx *f, const mk_block *b, const mk_value *v, mk_op_kind k)
{
    mk_op *op = sole_any(f, b, v);
    return op && op->kind == k ? op : NULL;
}

/* One more use of v by an op the fusion created (keeps the counts right for later matches). */
static void bump(fuse_ctx *f, const mk_value *v)
{
    if (!v->name) return;
    intptr_t n = (intptr_t)mk_strmap_get(&f->uses, v->name);
    if (!mk_strmap_put(&f->uses, v->name, (void *)(n + 1))) f->oom = 1;
}

/* A constant that can serve as layer_norm gamma/beta: its shape, without leading 1s, equals
 * dims[0..n). */
static int affine_ok(const mk_value *c, const int64_t *dims, int n)
{
    if (!c || !c->cst || c->type.dtype != MK_DT_FP32 || c->type.rank < n) return 0;
    int lead = c->type.rank - n;
    for (int i = 0; i < lead; i++)
        if (c->type.dims[i] != 1) return 0;
    for (int i = 0; i < n; i++)
        if (c->type.dims[lead + i] != dims[i]) return 0;
    return 1;
}

static mk_value *reshaped_const(fuse_ctx *f, const mk_value *c, const int64_t *dims, int n,
                                const char *name, mk_op *before)
{
    mk_type t = mk_type_make(MK_DT_FP32, n, dims);
    mk_value *v = mk_ir_const(f->p, NULL, name, &t, c->cst->data, c->cst->nbytes, 1);
    if (!v) return NULL;
    mk_ir_insert_before(before, v->producer);
    return v;
}

/* New op `op` (already inserted) with output nv replaces the value of `last`, taking over
 * its name (graph outputs keep their names). */
static void take_over(mk_block *b, mk_op *last, mk_op *op, mk_value *nv)
{
    mk_value *old = last->outputs[0];
    const char *keep = old->name;
    old->name = nv->name;
    last->name = nv->name;
    nv->name = keep;
    op->name = keep;
    mk_ir_replace_uses(b, old, nv);
}

/* Try to fuse the pattern ending in real_div op `dv`; returns 1 when fused, -1 on OOM. */
static int fuse_at(fuse_ctx *f, mk_block *b, mk_op *dv)
{
    mk_value *d = mk_ir_arg(dv, "x"), *s = mk_ir_arg(dv, "y");
    mk_op *sq = made_by(s, MK_OP_SQRT, b);
    mk_op *add = sq ? made_by(mk_ir_arg(sq, "x"), MK_OP_ADD, b) : NULL;
    if (!add || uses(f, s) != 1 || uses(f, sq ? mk_ir_arg(sq, "x") : NULL) != 1) return 0;
    double eps = 0;
    mk_value *var = NULL;
    if (const_scalar(mk_ir_arg(add, "y"), &eps))
        var = mk_ir_arg(add, "x");
    else if (const_scalar(mk_ir_arg(add, "x"), &eps))
        var = mk_ir_arg(add, "y");
    mk_op *rv = made_by(var, MK_OP_REDUCE_MEAN, b);
    if (!rv || uses(f, var) != 1 || eps < 0) return 0;
    mk_value *sqd = mk_ir_arg(rv, "x");
    mk_op *pw = sqd ? sqd->producer : NULL;
    if (!pw || pw->parent != b || uses(f, sqd) != 1) return 0;
    int d_uses;
    if (pw->kind == MK_OP_POW) {
        double e2;
        if (mk_ir_arg(pw, "x") != d || !const_scalar(mk_ir_arg(pw, "y"), &e2) || e2 != 2.0)
            return 0;
        d_uses = 2;
    } else if (pw->kind == MK_OP_MUL) {
        if (mk_ir_arg(pw, "x") != d || mk_ir_arg(pw, "y") != d) return 0;
        d_uses = 3;
    } else if (pw->kind == MK_OP_SQUARE) {
        if (mk_ir_arg(pw, "x") != d) return 0;
        d_uses = 2;
    } else {
        return 0;
    }
    mk_op *sub = made_by(d, MK_OP_SUB, b);
    if (!sub || uses(f, d) != d_uses) return 0;
    mk_value *x = mk_ir_arg(sub, "x"), *m = mk_ir_arg(sub, "y");
    mk_op *rm = made_by(m, MK_OP_REDUCE_MEAN, b);
    if (!rm || uses(f, m) != 1 || mk_ir_arg(rm, "x") != x || !x) return 0;
    int r = x->type.rank;
    if (x->type.dtype != MK_DT_FP32 || r < 1 || r > MK_MAX_RANK) return 0;
    unsigned am = mean_axes(rm, r);
    if (!am || am != mean_axes(rv, r)) return 0;
    /* trailing contiguous axes with static sizes */
    int first = r;
    while (first > 0 && (am >> (first - 1)) & 1u) first--;
    if (am != ((1u << r) - 1) - ((1u << first) - 1)) return 0;
    int na = r - first;
    int64_t nd[MK_MAX_RANK];
    for (int i = 0; i < na; i++) {
        nd[i] = x->type.dims[first + i];
        if (nd[i] < 0) return 0;
    }
    if (!mk_type_equal(&dv->outputs[0]->type, &x->type)) return 0;

    /* optional affine tail: * gamma, + beta (constants of the normalized shape) */
    mk_op *last = dv, *gm = sole_user(f, b, dv->outputs[0], MK_OP_MUL), *bt = NULL;
    mk_value *gamma = NULL, *beta = NULL;
    if (gm && affine_ok(other(gm, dv->outputs[0]), nd, na) &&
        mk_type_equal(&gm->outputs[0]->type, &x->type)) {
        gamma = other(gm, dv->outputs[0]);
        last = gm;
        bt = sole_user(f, b, gm->outputs[0], MK_OP_ADD);
        if (bt && affine_ok(other(bt, gm->outputs[0]), nd, na) &&
            mk_type_equal(&bt->outputs[0]->type, &x->type)) {
            beta = other(bt, gm->outputs[0]);
            last = bt;
        }
    }

    mk_program *p = f->p;
    const char *nm = mk_ir_unique_name(p, "layer_norm");
    mk_op *ln = nm ? mk_ir_op_new(p, MK_OP_LAYER_NORM, nm) : NULL;
    if (!ln) return -1;
    int32_t ax32[MK_MAX_RANK];
    for (int i = 0; i < na; i++) ax32[i] = first + i;
    mk_value *axv = mk_ir_const_i32(p, NULL, mk_arena_printf(p->arena, "%s_axes", nm), na, ax32, 0);
    float e32 = (float)eps;
    mk_value *epv =
        mk_ir_const_f32(p, NULL, mk_arena_printf(p->arena, "%s_epsilon", nm), 1, &e32, 1);
    if (!axv || !epv) return -1;
    mk_ir_insert_before(last, axv->producer);
    mk_ir_insert_before(last, epv->producer);
    mk_value *gv = NULL, *bv = NULL;
    if (gamma &&
        !(gv = reshaped_const(f, gamma, nd, na, mk_arena_printf(p->arena, "%s_gamma", nm), last)))
        return -1;
    if (beta &&
        !(bv = reshaped_const(f, beta, nd, na, mk_arena_printf(p->arena, "%s_beta", nm), last)))
        return -1;
    if (!mk_ir_op_add_input(p, ln, "x", x) || !mk_ir_op_add_input(p, ln, "axes", axv) ||
        (gv && !mk_ir_op_add_input(p, ln, "gamma", gv)) ||
        (bv && !mk_ir_op_add_input(p, ln, "beta", bv)) ||
        !mk_ir_op_add_input(p, ln, "epsilon", epv))
        return -1;
    mk_value *nv = fused_out(f, ln, last);
    if (!nv) return -1;
    take_over(b, last, ln, nv);
    return 1;
}

/* Replace the value of op `last` by a new single-input op of kind k on x (inserted before
 * last, taking over last's output name); returns 1, or -1 on OOM. */
static int replace_with(fuse_ctx *f, mk_block *b, mk_op *last, mk_op_kind k, mk_value *x,
                        const char *mode)
{
    mk_program *p = f->p;
    const char *nm = mk_ir_unique_name(p, mk_ir_op_info(k)->name);
    mk_op *op = nm ? mk_ir_op_new(p, k, nm) : NULL;
    if (!op || !mk_ir_op_add_input(p, op, "x", x)) return -1;
    if (mode) {
        mk_value *mv = mk_ir_const_str(p, NULL, mk_arena_printf(p->arena, "%s_mode", nm), mode);
        if (!mv || !mk_ir_op_add_input(p, op, "mode", mv)) return -1;
        mk_ir_insert_before(last, mv->producer);
    }
    mk_value *nv = fused_out(f, op, last);
    if (!nv) return -1;
    take_over(b, last, op, nv);
    return 1;
}

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-4 * fabs(b);
}

/* v == x * k (mul either way round, or x / (1/k)); returns x or NULL. */
static mk_value *scaled(const fuse_ctx *f, const mk_block *b, mk_value *v, double k)
{
    mk_op *op = v ? v->producer : NULL;
    double c;
    if (!op || op->parent != b || uses(f, v) != 1) return NULL;
    mk_value *x = mk_ir_arg(op, "x"), *y = mk_ir_arg(op, "y");
    if (op->kind == MK_OP_MUL) {
        if (const_scalar(y, &c) && near(c, k)) return x;
        if (const_scalar(x, &c) && near(c, k)) return y;
    } else if (op->kind == MK_OP_REAL_DIV && const_scalar(y, &c) && c != 0 && near(1 / c, k)) {
        return x;
    }
    return NULL;
}

/* x^3 as pow(x, 3), x * x * x (either grouping) or x * square(x). */
static mk_value *cube_of(const fuse_ctx *f, const mk_block *b, mk_value *v)
{
    mk_op *op = v ? v->producer : NULL;
    double c;
    if (!op || op->parent != b || uses(f, v) != 1) return NULL;
    mk_value *x = mk_ir_arg(op, "x"), *y = mk_ir_arg(op, "y");
    if (op->kind == MK_OP_POW) return const_scalar(y, &c) && c == 3.0 ? x : NULL;
    if (op->kind != MK_OP_MUL) return NULL;
    for (int k = 0; k < 2; k++) {
        mk_value *sq = k ? x : y, *o = k ? y : x;
        mk_op *so = sq ? sq->producer : NULL;
        if (!so || so->parent != b || uses(f, sq) != 1) continue;
        if (so->kind == MK_OP_MUL && mk_ir_arg(so, "x") == o && mk_ir_arg(so, "y") == o) return o;
        if (so->kind == MK_OP_SQUARE && mk_ir_arg(so, "x") == o) return o;
    }
    return NULL;
}

/* The x of gelu's inner function at erf/tanh op e: x / sqrt(2) for erf; sqrt(2/pi) *
 * (x + 0.044715 x^3) for tanh. */
static mk_value *gelu_x(const fuse_ctx *f, const mk_block *b, const mk_op *e)
{
    mk_value *in = mk_ir_arg(e, "x");
    if (e->kind == MK_OP_ERF) return scaled(f, b, in, 0.70710678118654752);
    mk_value *sum = scaled(f, b, in, 0.79788456080286536);
    mk_op *ad = sum ? sum->producer : NULL;
    if (!ad || ad->kind != MK_OP_ADD || ad->parent != b || uses(f, sum) != 1) return NULL;
    for (int k = 0; k < 2; k++) {
        mk_value *x = mk_ir_arg(ad, k ? "y" : "x"), *t = mk_ir_arg(ad, k ? "x" : "y");
        mk_value *cube = scaled(f, b, t, 0.044715);
        if (cube && cube_of(f, b, cube) == x) return x;
    }
    return NULL;
}

/* The op computing 0.5 * x * (1 + e) from e's output, in the orders exporters write it. */
static mk_op *gelu_tail(const fuse_ctx *f, const mk_block *b, mk_value *ev, mk_value *x)
{
    double c;
    mk_op *ad = sole_user(f, b, ev, MK_OP_ADD);
    if (!ad || !const_scalar(other(ad, ev), &c) || c != 1.0) return NULL;
    mk_value *a = ad->outputs[0];
    mk_op *m1 = sole_user(f, b, a, MK_OP_MUL);
    if (!m1) return NULL;
    mk_value *w = other(m1, a);
    if (w == x) { /* (x * (1 + e)) * 0.5 */
        mk_op *m2 = sole_user(f, b, m1->outputs[0], MK_OP_MUL);
        return m2 && const_scalar(other(m2, m1->outputs[0]), &c) && c == 0.5 ? m2 : NULL;
    }
    if (const_scalar(w, &c) && c == 0.5) { /* ((1 + e) * 0.5) * x */
        mk_op *m2 = sole_user(f, b, m1->outputs[0], MK_OP_MUL);
        return m2 && other(m2, m1->outputs[0]) == x ? m2 : NULL;
    }
    /* (x * 0.5) * (1 + e) */
    return scaled(f, b, w, 0.5) == x ? m1 : NULL;
}

static int near0(double a)
{
    return fabs(a) <= 1e-6;
}

/* x when clip op cl computes clip(x + 3, 0, 6) (add either way round, the sum used once). */
static mk_value *relu6_shift(const fuse_ctx *f, const mk_block *b, const mk_op *cl)
{
    double lo, hi, k;
    if (!const_scalar(mk_ir_arg(cl, "alpha"), &lo) || !near0(lo) ||
        !const_scalar(mk_ir_arg(cl, "beta"), &hi) || !near(hi, 6))
        return NULL;
    mk_value *t = mk_ir_arg(cl, "x");
    mk_op *ad = made_by(t, MK_OP_ADD, b);
    if (!ad || uses(f, t) != 1) return NULL;
    mk_value *x = mk_ir_arg(ad, "x"), *y = mk_ir_arg(ad, "y");
    if (const_scalar(y, &k) && near(k, 3)) return x;
    if (const_scalar(x, &k) && near(k, 3)) return y;
    return NULL;
}

/* Whether op computes v / 6 (real_div by 6, or mul by 1/6 either way round). */
static int sixth_of(const mk_op *op, const mk_value *v)
{
    double c;
    if (!op) return 0;
    if (op->kind == MK_OP_REAL_DIV)
        return mk_ir_arg(op, "x") == v && const_scalar(mk_ir_arg(op, "y"), &c) && near(c, 6);
    return op->kind == MK_OP_MUL && const_scalar(other(op, v), &c) && near(c, 1.0 / 6);
}

/* Replace the value of `last` by sigmoid_hard(x, 1/6, 0.5), times x when `swish`; 1 or -1. */
static int replace_hard(fuse_ctx *f, mk_block *b, mk_op *last, mk_value *x, int swish)
{
    mk_program *p = f->p;
    const char *nm = mk_ir_unique_name(p, "sigmoid_hard");
    mk_op *hs = nm ? mk_ir_op_new(p, MK_OP_SIGMOID_HARD, nm) : NULL;
    if (!hs) return -1;
    float al = 1.0f / 6, be = 0.5f;
    mk_value *av = mk_ir_const_f32(p, NULL, mk_arena_printf(p->arena, "%s_alpha", nm), 1, &al, 1);
    mk_value *bv = mk_ir_const_f32(p, NULL, mk_arena_printf(p->arena, "%s_beta", nm), 1, &be, 1);
    if (!av || !bv || !mk_ir_op_add_input(p, hs, "x", x) ||
        !mk_ir_op_add_input(p, hs, "alpha", av) || !mk_ir_op_add_input(p, hs, "beta", bv))
        return -1;
    mk_ir_insert_before(last, av->producer);
    mk_ir_insert_before(last, bv->producer);
    mk_value *hv = fused_out(f, hs, last);
    if (!hv) return -1;
    bump(f, x);
    if (!swish) {
        take_over(b, last, hs, hv);
        return f->oom ? -1 : 1;
    }
    const char *mn = mk_ir_unique_name(p, "mul");
    mk_op *m = mn ? mk_ir_op_new(p, MK_OP_MUL, mn) : NULL;
    if (!m || !mk_ir_op_add_input(p, m, "x", x) || !mk_ir_op_add_input(p, m, "y", hv)) return -1;
    mk_value *mv = fused_out(f, m, last);
    if (!mv) return -1;
    bump(f, x);
    bump(f, hv);
    take_over(b, last, m, mv);
    return f->oom ? -1 : 1;
}

/* hard_swish / hard_sigmoid written out around clip op cl (see the top of the file). */
static int fuse_hard(fuse_ctx *f, mk_block *b, mk_op *cl)
{
    mk_value *x = relu6_shift(f, b, cl), *c = cl->outputs[0];
    if (!x || x->type.dtype != MK_DT_FP32 || !mk_type_equal(&c->type, &x->type)) return 0;
    mk_op *u = sole_any(f, b, c);
    if (!u || !mk_type_equal(&u->outputs[0]->type, &x->type)) return 0;
    if (sixth_of(u, c)) { /* clip(x + 3, 0, 6) / 6, then maybe * x */
        mk_value *h = u->outputs[0];
        mk_op *m = sole_user(f, b, h, MK_OP_MUL);
        if (m && other(m, h) == x && mk_type_equal(&m->outputs[0]->type, &x->type))
            return replace_hard(f, b, m, x, 1);
        return replace_hard(f, b, u, x, 0);
    }
    if (u->kind != MK_OP_MUL || other(u, c) != x) return 0;
    mk_value *m = u->outputs[0]; /* (x * clip(x + 3, 0, 6)) / 6 */
    mk_op *d = sole_any(f, b, m);
    if (!sixth_of(d, m) || !mk_type_equal(&d->outputs[0]->type, &x->type)) return 0;
    return replace_hard(f, b, d, x, 1);
}

static int fuse_act(fuse_ctx *f, mk_block *b, mk_op *op)
{
    if (op->kind == MK_OP_SIGMOID) {
        mk_value *x = mk_ir_arg(op, "x"), *s = op->outputs[0];
        mk_op *m = sole_user(f, b, s, MK_OP_MUL);
        if (!x || !m || other(m, s) != x || !mk_type_equal(&m->outputs[0]->type, &x->type))
            return 0;
        return replace_with(f, b, m, MK_OP_SILU, x, NULL);
    }
    if (op->kind == MK_OP_CLIP) return fuse_hard(f, b, op);
    if (op->kind != MK_OP_ERF && op->kind != MK_OP_TANH) return 0;
    mk_value *x = gelu_x(f, b, op);
    mk_op *last = x ? gelu_tail(f, b, op->outputs[0], x) : NULL;
    if (!last || x->type.dtype != MK_DT_FP32 || !mk_type_equal(&last->outputs[0]->type, &x->type))
        return 0;
    return replace_with(f, b, last, MK_OP_GELU, x,
                        op->kind == MK_OP_ERF ? "EXACT" : "TANH_APPROXIMATION");
}

static int fuse_block(fuse_ctx *f, mk_block *b)
{
    int n = 0;
    for (mk_op *op = b->first, *next; op; op = next) {
        next = op->next;
        for (int i = 0; i < op->n_blocks; i++) {
            int k = fuse_block(f, op->blocks[i]);
            if (k < 0) return -1;
            n += k;
        }
        int k = fuse_act(f, b, op);
        if (k < 0) return -1;
        n += k;
        if (op->kind != MK_OP_REAL_DIV) continue;
        k = fuse_at(f, b, op);
        if (k < 0) return -1;
        n += k;
    }
    return n;
}

mk_status mk_onnx_fuse(ox_ctx *c, mk_block *b, int *n_fused)
{
    fuse_ctx f;
    memset(&f, 0, sizeof f);
    f.p = c->p;
    f.c = c;
    mk_strmap_init(&f.uses, c->p->alloc);
    count_block(&f, b);
    int n = f.oom ? -1 : fuse_block(&f, b);
    mk_strmap_free(&f.uses);
    if (n < 0) return fail(c);
    if (n_fused) *n_fused = n;
    return MK_OK;
}
