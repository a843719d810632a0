/* General pass fuse_conv_batchnorm: conv / conv_transpose (constant weight, constant or no bias)
 * read only by a constant batch_norm -> one conv, W' = s W per output channel, b' = s (b - mean)
 * + beta, s = gamma / sqrt(var + eps); another constant batch_norm beyond the fp16 range
 * (H14; an fp32 island, H19) -> mul(x, s) + b when s and b fit fp16. The same per-channel affine
 * map, computed in double and rounded once: exact up to rounding. Runtime parameters, shared conv
 * outputs, 1-D conv_transpose (H1) and results leaving the fp16 range are left alone. */
#include <math.h>
#include <string.h>

#include "passes_int.h"

#define F16_MAX 65504.0

/* Per-channel batch_norm parameters of op (rank >= 2 x with a static channel count c). */
typedef struct bn {
    int64_t c;
    double *scale, *shift; /* s and beta - mean * s, c each */
    double eps;
    int big; /* a parameter is beyond the fp16 range */
} bn;

/* A float constant with c or 1 elements (NULL v: the default). 0 when unusable. */
static int chan(const mk_value *v, int64_t c, double def, double *out, int *big)
{
    size_t n = 0;
    if (!v) {
        for (int64_t i = 0; i < c; i++) out[i] = def;
        return 1;
    }
    if (!v->cst || !v->cst->data || !mk_type_is_static(&v->type) ||
        (v->type.dtype != MK_DT_FP32 && v->type.dtype != MK_DT_FP16) ||
        !mk_type_numel(&v->type, &n) || (n != (size_t)c && n != 1))
        return 0;
    for (int64_t i = 0; i < c; i++) out[i] = mk_const_get_f64(v, n == 1 ? 0 : (size_t)i);
    for (int64_t i = 0; i < c; i++)
        if (!isfinite(out[i])) return 0;
    if (v->type.dtype == MK_DT_FP32 && mk_ir_const_beyond_f16(v, 1)) *big = 1;
    return 1;
}

/* Reads op's constants into bn (arena scratch). 0 when something is not constant. */
static int bn_read(mk_program *p, const mk_op *op, bn *r)
{
    const mk_value *x = mk_ir_arg(op, "x");
    if (!x || x->type.rank < 2 || x->type.dims[1] < 1 || x->type.dims[1] > (1 << 24)) return 0;
    r->c = x->type.dims[1];
    r->big = 0;
    float e = 1e-5f;
    if (mk_ir_arg(op, "epsilon") && !mk_ir_arg_f32(op, "epsilon", &e)) return 0;
    r->eps = e;
    size_t c = (size_t)r->c;
    double *buf = mk_arena_array(p->arena, 4 * c, sizeof *buf);
    if (!buf) return -1;
    double *mean = buf, *var = buf + c, *gam = buf + 2 * c, *bet = buf + 3 * c;
    if (!chan(mk_ir_arg(op, "mean"), r->c, 0, mean, &r->big) ||
        !chan(mk_ir_arg(op, "variance"), r->c, 1, var, &r->big) ||
        !chan(mk_ir_arg(op, "gamma"), r->c, 1, gam, &r->big) ||
        !chan(mk_ir_arg(op, "beta"), r->c, 0, bet, &r->big))
        return 0;
    r->scale = var;
    r->shift = bet;
    for (size_t i = 0; i < c; i++) {
        double d = var[i] + r->eps;
        if (!(d > 0)) return 0;
        double s = gam[i] / sqrt(d);
        r->scale[i] = s;
        r->shift[i] = bet[i] - mean[i] * s;
    }
    return 1;
}

static int fits_f16(double v)
{
    return fabs(v) <= F16_MAX;
}

static void store(void *buf, mk_dtype dt, size_t i, double v)
{
    if (dt == MK_DT_FP32)
        ((float *)buf)[i] = (float)v;
    else
        ((uint16_t *)buf)[i] = mk_f32_to_f16((float)v);
}

/* Payload buffer of nb bytes owned by the program. */
static void *payload(mk_program *p, size_t nb)
{
    return nb >= ((size_t)1 << 16) ? mk_ir_program_alloc_payload(p, nb)
                                   : mk_arena_alloc(p->arena, nb ? nb : 1);
}

/* bn_op's output now comes from a copy of conv with the new weight and bias. */
static int replace(mk_program *p, mk_op *bn_op, mk_op *conv, const void *nw, size_t nb,
                   const void *nbuf, size_t bb, mk_err *e)
{
    const mk_value *w = mk_ir_arg(conv, "weight");
    mk_dtype dt = w->type.dtype;
    int64_t bd = (int64_t)(bb / (dt == MK_DT_FP32 ? 4 : 2));
    pb pb_;
    mk_pb_init(&pb_, p, bn_op, e);
    mk_type bt = mk_type_make(dt, 1, &bd);
    mk_value *nwv = mk_pb_const_borrow(&pb_, "fused_weight", &w->type, nw, nb);
    mk_value *nbv = mk_pb_const_borrow(&pb_, "fused_bias", &bt, nbuf, bb);
    mk_op *op = mk_pb_op(&pb_, conv->kind, conv->name);
    static const char *const except[] = {"weight", "bias", NULL};
    mk_pb_copy_inputs(&pb_, conv, op, except);
    mk_pb_in(&pb_, op, "weight", nwv);
    mk_pb_in(&pb_, op, "bias", nbv);
    mk_pb_replace(&pb_, bn_op->outputs[0], mk_pb_emit(&pb_, op));
    if (pb_.failed) return -1;
    mk_ir_unlink(conv);
    return 1;
}

/* (1) bn_op reads conv's only output; returns 1 when fused, 0 when left alone. */
static int fuse(mk_program *p, mk_op *bn_op, mk_op *conv, const bn *r, mk_err *e)
{
    const mk_value *w = mk_ir_arg(conv, "weight"), *b = mk_ir_arg(conv, "bias");
    const mk_value *x = mk_ir_arg(conv, "x");
    int tr = conv->kind == MK_OP_CONV_TRANSPOSE;
    size_t n = 0, nb = 0;
    if (!w || !x || !w->cst || !w->cst->data || !mk_type_is_static(&w->type) || w->type.rank < 3 ||
        (w->type.dtype != MK_DT_FP32 && w->type.dtype != MK_DT_FP16) ||
        x->type.dtype != w->type.dtype || !mk_type_numel(&w->type, &n) ||
        !mk_type_nbytes(&w->type, &nb) || n == 0)
        return 0;
    /* a 1-D conv_transpose with a bias is Core ML hazard H1: never give it one */
    if (tr && w->type.rank == 3) return 0;
    int32_t groups = 1;
    if (mk_ir_arg(conv, "groups") && !mk_ir_arg_i32(conv, "groups", &groups)) return 0;
    if (groups < 1) return 0;
    int64_t d0 = w->type.dims[0], d1 = w->type.dims[1];
    int64_t cout = tr ? d1 * groups : d0;
    if (cout != r->c || (tr && d0 % groups)) return 0;
    size_t nbias = 0;
    if (b && (!b->cst || !b->cst->data || b->type.dtype != w->type.dtype ||
              !mk_type_numel(&b->type, &nbias) || nbias != (size_t)cout))
        return 0;
    /* elements per (dim0, dim1) pair, and the output channel of each */
    size_t inner = n / (size_t)(d0 * d1);
    int64_t cig = tr ? d0 / groups : 0;
    mk_dtype dt = w->type.dtype;
    /* a conv that could run in fp16 must not lose that (nor overflow an fp16 weight) */
    int was_f16 = !(dt == MK_DT_FP32 && mk_ir_const_beyond_f16(w, 0)) &&
                  !(b && b->type.dtype == MK_DT_FP32 && mk_ir_const_beyond_f16(b, 0));
    for (int pass = 0; pass < 2; pass++) {
        void *nw = NULL, *nbuf = NULL;
        size_t bb = (size_t)cout * (dt == MK_DT_FP32 ? 4 : 2);
        if (pass) {
            nw = payload(p, nb);
            nbuf = mk_arena_alloc(p->arena, bb);
            if (!nw || !nbuf) return MK_OOM(e), -1;
        }
        int now_f16 = 1;
        for (int64_t i0 = 0; i0 < d0; i0++)
            for (int64_t i1 = 0; i1 < d1; i1++) {
                int64_t o = tr ? (i0 / cig) * d1 + i1 : i0;
                size_t at = ((size_t)i0 * (size_t)d1 + (size_t)i1) * inner;
                for (size_t k = 0; k < inner; k++) {
                    double v = mk_const_get_f64(w, at + k) * r->scale[o];
                    now_f16 &= fits_f16(v);
                    if (pass) store(nw, dt, at + k, v);
                }
            }
        for (int64_t o = 0; o < cout; o++) {
            double v = (b ? mk_const_get_f64(b, (size_t)o) : 0) * r->scale[o] + r->shift[o];
            now_f16 &= fits_f16(v);
            if (pass) store(nbuf, dt, (size_t)o, v);
        }
        if (!pass && (was_f16 || dt == MK_DT_FP16) && !now_f16) return 0;
        if (pass) return replace(p, bn_op, conv, nw, nb, nbuf, bb, e);
    }
    return 0;
}

/* (2) bn_op -> mul(x, s) + b with [1, C, 1, ...] constants; 0 when s or b leaves fp16. */
static int to_affine(mk_program *p, mk_op *bn_op, const bn *r, mk_err *e)
{
    mk_value *x = mk_ir_arg(bn_op, "x");
    mk_dtype dt = x->type.dtype;
    if (dt != MK_DT_FP32 && dt != MK_DT_FP16) return 0;
    for (int64_t i = 0; i < r->c; i++) {
        double s = r->scale[i];
        if (!fits_f16(s) || !fits_f16(r->shift[i])) return 0;
        /* s must keep fp16's relative precision: no subnormal scale */
        if (s != 0 && fabs(s) < ldexp(1.0, -14)) return 0;
    }
    int64_t d[MK_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++) d[i] = i == 1 ? r->c : 1;
    mk_type t = mk_type_make(dt, x->type.rank, d);
    size_t eb = dt == MK_DT_FP32 ? 4 : 2, nb = (size_t)r->c * eb;
    void *sb = mk_arena_alloc(p->arena, nb), *hb = mk_arena_alloc(p->arena, nb);
    if (!sb || !hb) return MK_OOM(e), -1;
    for (int64_t i = 0; i < r->c; i++) {
        store(sb, dt, (size_t)i, r->scale[i]);
        store(hb, dt, (size_t)i, r->shift[i]);
    }
    pb b;
    mk_pb_init(&b, p, bn_op, e);
    mk_value *sv = mk_pb_const_borrow(&b, "bn_scale", &t, sb, nb);
    mk_value *hv = mk_pb_const_borrow(&b, "bn_shift", &t, hb, nb);
    mk_value *m = mk_pb_binary(&b, MK_OP_MUL, "bn_mul", x, sv);
    mk_pb_replace(&b, bn_op->outputs[0], mk_pb_binary(&b, MK_OP_ADD, "bn_add", m, hv));
    return mk_pb_done(&b, 1);
}

/* Readers of every value, counted once before the pass (count + 1, so absent reads as NULL):
 * asking the block per batch_norm made the pass quadratic in the ops. Values made by the pass
 * are not in it and are counted on demand. */
static int count_one(mk_ptrmap *m, const mk_value *v)
{
    uintptr_t n = (uintptr_t)mk_ptrmap_get(m, v);
    return mk_ptrmap_put(m, v, (void *)(n ? n + 1 : 2));
}

static int count_uses(mk_ptrmap *m, const mk_block *b)
{
    for (int i = 0; i < b->n_outputs; i++)
        if (!count_one(m, b->outputs[i])) return 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                if (!count_one(m, op->inputs[i].args[j])) return 0;
        for (int i = 0; i < op->n_blocks; i++)
            if (!count_uses(m, op->blocks[i])) return 0;
    }
    return 1;
}

/* Whether op is the only reader of x. */
static int sole_reader(const mk_ptrmap *uses, const mk_op *op, const mk_value *x)
{
    uintptr_t n = (uintptr_t)mk_ptrmap_get(uses, x);
    mk_op *users[2];
    if (n) return n == 2;
    return mk_pass_users(op->parent, x, users, 2) == 1 && users[0] == op;
}

static int visit(void *ctx, mk_program *p, mk_op *op, mk_err *e)
{
    const mk_ptrmap *uses = ctx;
    if (op->kind != MK_OP_BATCH_NORM || op->n_outputs != 1 || !op->parent) return 0;
    bn r;
    int ok = bn_read(p, op, &r);
    if (ok <= 0) return ok < 0 ? (MK_OOM(e), -1) : 0;
    mk_value *x = mk_ir_arg(op, "x");
    mk_op *conv = x->producer;
    if (conv && (conv->kind == MK_OP_CONV || conv->kind == MK_OP_CONV_TRANSPOSE) &&
        conv->parent == op->parent && conv->n_outputs == 1 && sole_reader(uses, op, x)) {
        int f = fuse(p, op, conv, &r, e);
        if (f != 0) return f;
    }
    return r.big ? to_affine(p, op, &r, e) : 0;
}

int mk_pass_fuse_conv_batchnorm(mk_program *p, mk_err *e)
{
    mk_ptrmap uses;
    mk_ptrmap_init(&uses, p->alloc);
    int ok = 1;
    for (int i = 0; i < p->n_functions && ok; i++) ok = count_uses(&uses, p->functions[i]->block);
    int n = ok ? mk_pass_each_op(p, visit, &uses, e) : (MK_OOM(e), -1);
    mk_ptrmap_free(&uses);
    if (n > 0 && mk_pass_dce(p, e) < 0) return -1;
    return n;
}
