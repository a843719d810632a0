/* fp16 compute precision (`milkit convert --precision fp16`), opset- and domain-aware: every op
 * argument whose parameter accepts fp16 at the program's opset (params.c) gets an fp16 value,
 * the others keep (or get back) fp32, so ops that are fp32-only at a target (lstm/gru/rnn before
 * iOS17) and fp32-only parameters (upsample scale factors, affine zero_point) stay legal.
 * Constants are converted once (tiny values kept nonzero; beyond +-65504 clipped, H14, where
 * the op saturates, else the op stays fp32); values get one cached cast right after their
 * definition; casts are looked through instead of stacked; every function and nested block
 * keeps its declared output dtypes (model I/O unchanged). Integer/bool tensors, cond/while_loop
 * interfaces and states are not touched. Ops named in a keep set (calibration, fp16_calib.c)
 * stay fp32 the same way as ops without a legal fp16 form. */
#include <math.h>
#include <string.h>

#include "passes_int.h"

#define SMALL_CONST 400 /* constants this small get the underflow guard (epsilons, scalars) */

typedef struct fctx {
    mk_program *p;
    mk_err *e;
    int ios;
    mk_strmap orig;       /* value name -> original dtype + 1 (op outputs, block inputs) */
    mk_strmap home;       /* block/function input name -> its mk_block */
    mk_strmap to16, to32; /* value name -> its fp16 / fp32 version made by this pass */
    mk_fp16_stats *st;
    mk_fp16_payloads pay;  /* large weights, converted once the pass is done */
    const mk_strmap *keep; /* op names calibration keeps fp32 (may be NULL) */
    int changed;
} fctx;

static int is_constexpr(mk_op_kind k)
{
    return k == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE || k == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE ||
           k == MK_OP_CONSTEXPR_CAST || k == MK_OP_CONSTEXPR_LUT_TO_DENSE ||
           k == MK_OP_CONSTEXPR_SPARSE_TO_DENSE || k == MK_OP_CONSTEXPR_LUT_TO_SPARSE ||
           k == MK_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE;
}

static int is_half_or_single(mk_dtype dt)
{
    return dt == MK_DT_FP16 || dt == MK_DT_FP32;
}

static const char *suffix(mk_dtype dt)
{
    return dt == MK_DT_FP16 ? "to_fp16" : "to_fp32";
}

static mk_dtype orig_dtype(fctx *c, const mk_value *v)
{
    void *o = v->name ? mk_strmap_get(&c->orig, v->name) : NULL;
    return o ? (mk_dtype)((uintptr_t)o - 1) : v->type.dtype;
}

static int remember(mk_strmap *m, const mk_value *v, mk_value *ver)
{
    if (!v->name || !ver->name) return 1;
    return mk_strmap_put(m, v->name, ver) != 0;
}

/* Converted payload of a float constant (fp32 <-> fp16); counts clipped / guarded values. */
static void *convert_payload(fctx *c, const mk_value *v, mk_dtype dt, size_t *nbytes)
{
    size_t n = 0;
    if (!mk_type_numel(&v->type, &n) || !v->cst || !v->cst->data) return NULL;
    size_t es = dt == MK_DT_FP16 ? 2 : 4, nb;
    if (!mk_mul_size(n ? n : 1, es, &nb)) return NULL;
    void *buf = mk_arena_alloc(c->p->arena, nb);
    if (!buf) return NULL;
    if (v->type.dtype == MK_DT_FP32 && dt == MK_DT_FP16) {
        /* bulk path for weights: convert, then clip infinities (H14) and keep epsilons */
        const float *src = v->cst->data;
        uint16_t *h = buf;
        mk_f32_to_f16_n(src, h, n);
        /* weights rarely hold an infinity or a tiny epsilon: skip the fix-up pass then */
        if (n >= SMALL_CONST && !mk_ir_const_beyond_f16(v, 0)) {
            *nbytes = n * es;
            mk_ir_release_const(c->p, v->cst);
            return buf;
        }
        for (size_t i = 0; i < n; i++) {
            if ((h[i] & 0x7fff) == 0x7c00) {
                h[i] = (uint16_t)((h[i] & 0x8000) | 0x7bff);
                c->st->n_clipped++;
            } else if (n < SMALL_CONST && src[i] != 0 && (h[i] & 0x7fff) == 0) {
                h[i] = (uint16_t)((h[i] & 0x8000) | 1);
                c->st->n_underflow++;
            }
        }
        *nbytes = n * es;
        mk_ir_release_const(c->p, v->cst);
        return buf;
    }
    for (size_t i = 0; i < n; i++) {
        float f = (float)mk_const_get_f64(v, i);
        if (dt == MK_DT_FP32) {
            ((float *)buf)[i] = f;
            continue;
        }
        if (f > 65504.0f || f < -65504.0f) {
            f = f > 0 ? 65504.0f : -65504.0f;
            c->st->n_clipped++;
        }
        uint16_t h = mk_f32_to_f16(f);
        if (n < SMALL_CONST && f != 0 && (h & 0x7fff) == 0) {
            h = (uint16_t)((h & 0x8000) | 1); /* +-2^-24: an epsilon must not become 0 */
            c->st->n_underflow++;
        }
        ((uint16_t *)buf)[i] = h;
    }
    *nbytes = n * es;
    return buf;
}

/* A new constant value equal to constant v in dtype dt: a const op right after v's producer
 * when v has one, else an inline value. */
static mk_value *convert_const(fctx *c, mk_value *v, mk_dtype dt)
{
    size_t nb = 0, n = 0;
    int defer = dt == MK_DT_FP16 && v->type.dtype == MK_DT_FP32 && v->cst->data &&
                mk_type_numel(&v->type, &n) && n >= MK_FP16_DEFER_MIN;
    void *data = defer ? (void *)v->cst->data : convert_payload(c, v, dt, &nb);
    if (!data) return MK_OOM(c->e), NULL;
    if (defer) nb = 2 * n;
    mk_type t = v->type;
    t.dtype = dt;
    mk_value *nv;
    if (v->producer) {
        char base[256];
        snprintf(base, sizeof base, "%s_%s", v->name ? v->name : "const", suffix(dt));
        nv = mk_ir_const(c->p, NULL, base, &t, data, nb, 1);
        if (!nv) return MK_OOM(c->e), NULL;
        mk_ir_insert_after(v->producer, nv->producer);
    } else {
        nv = mk_ir_const_value(c->p, &t, data, nb, 1);
        if (!nv) return MK_OOM(c->e), NULL;
        nv->is_inline = v->is_inline;
    }
    if (v->cst->storage != MK_STORE_AUTO) ((mk_const *)nv->cst)->storage = v->cst->storage;
    if (defer && !mk_fp16_payload_defer(&c->pay, nv->cst, v, n)) return MK_OOM(c->e), NULL;
    if (dt == MK_DT_FP16) c->st->n_consts++;
    return nv;
}

static mk_value *as_dtype(fctx *c, mk_value *v, mk_dtype dt);

/* constexpr op output in dtype dt: the same decompression with its float parameters converted
 * (scale, lut, float data/offset/zero_point where the domain allows), so it stays a constant. */
static mk_value *convert_constexpr(fctx *c, mk_value *v, mk_dtype dt)
{
    mk_op *cx = v->producer;
    if (cx->kind == MK_OP_CONSTEXPR_CAST) {
        /* fp16 source cast to fp32 at load time: the fp16 version is the source itself */
        mk_value *src = mk_ir_attr(cx, "source_val");
        if (!src) src = mk_ir_arg(cx, "source_val");
        if (dt != MK_DT_FP16 || !src || !src->cst || src->type.dtype != MK_DT_FP16) return NULL;
        char base[256];
        snprintf(base, sizeof base, "%s_%s", v->name, suffix(dt));
        mk_value *nv =
            mk_ir_const(c->p, NULL, base, &src->type, src->cst->data, src->cst->nbytes, 1);
        if (!nv) return MK_OOM(c->e), NULL;
        mk_ir_insert_after(cx, nv->producer);
        return nv;
    }
    char base[256];
    snprintf(base, sizeof base, "%s_%s", v->name, suffix(dt));
    mk_op *n = mk_ir_op_new(c->p, cx->kind, base);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *out = NULL;
    /* sparse-to-sparse ops have (mask, data) outputs: v may be either */
    for (int i = 0; n && i < cx->n_outputs; i++) {
        mk_value *o = mk_ir_op_add_output(c->p, n, NULL, &none);
        if (!o) return MK_OOM(c->e), NULL;
        if (cx->outputs[i] == v) out = o;
    }
    if (!out) return MK_OOM(c->e), NULL;
    n->name = out->name;
    for (int i = 0; i < cx->n_attrs; i++) {
        mk_value *a = cx->attrs[i].value;
        const mk_op_param *pp = mk_ir_op_param(cx->kind, cx->attrs[i].name, c->ios);
        int ok16 = !pp || !pp->dtypes || (pp->dtypes & MK_DTBIT(MK_DT_FP16));
        if (is_half_or_single(a->type.dtype) && a->type.dtype != dt && (dt == MK_DT_FP32 || ok16))
            if (!(a = convert_const(c, a, dt))) return NULL;
        if (!mk_ir_op_add_attr(c->p, n, cx->attrs[i].name, a)) return MK_OOM(c->e), NULL;
    }
    mk_ir_insert_after(cx, n);
    /* a constexpr chain (iOS18): float data from a constexpr converts with it, and the
     * sibling outputs (masks) of that producer come from its converted version */
    const mk_op *from = NULL, *to = NULL;
    for (int i = 0; i < cx->n_inputs; i++)
        for (int j = 0; j < cx->inputs[i].n_args; j++) {
            mk_value *a = cx->inputs[i].args[j], *b;
            if (is_half_or_single(a->type.dtype) && a->type.dtype != dt && a->producer &&
                is_constexpr(a->producer->kind) && a->producer->n_outputs > 1 &&
                (b = convert_constexpr(c, a, dt)) != NULL)
                from = a->producer, to = b->producer;
        }
    for (int i = 0; i < cx->n_inputs; i++)
        for (int j = 0; j < cx->inputs[i].n_args; j++) {
            mk_value *a = cx->inputs[i].args[j];
            if (from && a->producer == from)
                for (int k = 0; k < from->n_outputs; k++)
                    if (from->outputs[k] == a) a = to->outputs[k];
            if (is_half_or_single(a->type.dtype) && a->type.dtype != dt && a->cst &&
                !(a = as_dtype(c, a, dt)))
                return NULL;
            if (!mk_ir_op_add_input(c->p, n, cx->inputs[i].name, a)) return MK_OOM(c->e), NULL;
        }
    mk_err tmp = {MK_OK, ""};
    if (mk_ir_infer_op(n, &tmp) != MK_OK || out->type.dtype != dt) {
        mk_ir_unlink(n); /* not expressible: the caller casts instead */
        return NULL;
    }
    return out;
}

/* A cast of v to dt, right after v's definition (so every use of v can see it). */
static mk_value *insert_cast(fctx *c, mk_value *v, mk_value *x, mk_dtype dt)
{
    char base[256];
    snprintf(base, sizeof base, "%s_%s", v->name ? v->name : "x", suffix(dt));
    mk_op *op = mk_ir_op_new(c->p, MK_OP_CAST, base);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *out = op ? mk_ir_op_add_output(c->p, op, NULL, &none) : NULL;
    if (!out) return MK_OOM(c->e), NULL;
    op->name = out->name;
    char dname[280];
    snprintf(dname, sizeof dname, "%s_dtype", out->name);
    mk_value *s = mk_ir_const_str(c->p, NULL, dname, mk_dtype_name(dt));
    if (!s || !mk_ir_op_add_input(c->p, op, "x", x) || !mk_ir_op_add_input(c->p, op, "dtype", s))
        return MK_OOM(c->e), NULL;
    if (v->producer) {
        mk_ir_insert_after(v->producer, op);
    } else {
        mk_block *b = v->name ? mk_strmap_get(&c->home, v->name) : NULL;
        if (!b)
            return mk_err_set(c->e, MK_EINTERNAL, "fp16: value '%s' has no defining block",
                              v->name ? v->name : "?"),
                   NULL;
        if (b->first)
            mk_ir_insert_before(b->first, op);
        else
            mk_ir_block_append(b, op);
    }
    mk_ir_insert_before(op, s->producer);
    if (mk_ir_infer_op(op, c->e) != MK_OK) return NULL;
    c->st->n_casts++;
    return out;
}

/* v as dtype dt (fp16 or fp32): v itself, a version made earlier, a converted constant, the
 * value a cast started from (exact), or a new cast. NULL with err set on failure. */
static mk_value *as_dtype(fctx *c, mk_value *v, mk_dtype dt)
{
    if (v->type.dtype == dt || !mk_dtype_is_float(v->type.dtype)) return v;
    mk_strmap *cache = dt == MK_DT_FP16 ? &c->to16 : &c->to32;
    mk_value *got = v->name ? mk_strmap_get(cache, v->name) : NULL;
    if (got) return got;
    mk_value *nv = NULL;
    mk_op *pr = v->producer;
    if (v->cst && (!pr || pr->kind == MK_OP_CONST)) {
        nv = convert_const(c, v, dt);
    } else if (pr && is_constexpr(pr->kind)) {
        nv = convert_constexpr(c, v, dt);
        if (!nv && !c->e->code) nv = insert_cast(c, v, v, dt);
    } else if (pr && pr->kind == MK_OP_CAST && mk_ir_arg(pr, "x")) {
        mk_value *x = mk_ir_arg(pr, "x");
        if (x->type.dtype == dt && dt == MK_DT_FP16)
            nv = x; /* fp16 -> fp32 -> fp16 is exact */
        else
            nv = insert_cast(c, v, mk_dtype_is_float(x->type.dtype) ? v : x, dt);
    } else {
        nv = insert_cast(c, v, v, dt);
    }
    if (!nv) return NULL;
    c->changed++;
    /* the version of a version is the original: no cast(cast(x)) pairs */
    mk_strmap *back = dt == MK_DT_FP16 ? &c->to32 : &c->to16;
    if (!remember(cache, v, nv) ||
        (is_half_or_single(v->type.dtype) && nv != v && nv->type.dtype != v->type.dtype &&
         !mk_strmap_get(back, nv->name ? nv->name : "") && !remember(back, nv, v)))
        return MK_OOM(c->e), NULL;
    return nv;
}

/* iOS17+ activations and unary epsilons accept a second float type: coremltools keeps those
 * scalars fp32 for accuracy; so do we. */
static int keep_fp32_scalar(mk_op_kind k, const char *param, int ios)
{
    if (ios < 17) return 0;
    int alpha = strcmp(param, "alpha") == 0, beta = strcmp(param, "beta") == 0;
    static const mk_op_kind with_alpha[] = {MK_OP_LEAKY_RELU, MK_OP_PRELU, MK_OP_ELU},
                            with_beta[] = {MK_OP_SIGMOID_HARD, MK_OP_SCALED_TANH,
                                           MK_OP_LINEAR_ACTIVATION},
                            with_eps[] = {MK_OP_INVERSE, MK_OP_LOG, MK_OP_RSQRT};
    if (mk_ir_op_in(k, with_alpha, 3)) return alpha;
    if (mk_ir_op_in(k, with_beta, 3)) return alpha || beta;
    return mk_ir_op_in(k, with_eps, 3) && strcmp(param, "epsilon") == 0;
}

/* Ops where a constant beyond +-65504 acts as a sentinel (src/ir/mask_path.c). */
int mk_pass_saturating_op(mk_op_kind k)
{
    return mk_ir_saturating_op(k);
}

static int beyond_fp16(const mk_value *v)
{
    size_t n = 0;
    if (!v->cst || !v->cst->data || v->type.dtype != MK_DT_FP32 || !mk_type_numel(&v->type, &n))
        return 0;
    return mk_ir_const_beyond_f16(v, 1);
}

/* The dtype an argument of `param` should have in the fp16 program. */
static mk_dtype want_dtype(const mk_op *op, const char *param, int ios)
{
    const mk_op_param *pp = mk_ir_op_param(op->kind, param, ios);
    if (!pp) return MK_DT_INVALID;
    if (pp->dtypes && !(pp->dtypes & MK_DTBIT(MK_DT_FP16))) return MK_DT_FP32;
    if (keep_fp32_scalar(op->kind, param, ios)) return MK_DT_FP32;
    return MK_DT_FP16;
}

static int is_constant(const mk_value *v)
{
    return v->cst || v->is_inline ||
           (v->producer && (v->producer->kind == MK_OP_CONST || is_constexpr(v->producer->kind)));
}

/* Parameter domains, constness and shared-T dtypes at ios (the verifier's rules). */
static int legal(const mk_op *op, int ios)
{
    const mk_value *anchor = NULL;
    const mk_op_params *ps = mk_ir_op_params(op->kind);
    for (int i = 0; i < ps->n_params && !anchor; i++) {
        const mk_op_param *pp = &ps->params[i];
        const mk_value *a = mk_ir_arg(op, pp->name);
        if (mk_ir_op_param(op->kind, pp->name, ios) == pp && !(pp->flags & MK_PARAM_SAME_T) && a &&
            mk_dtype_is_float(a->type.dtype))
            anchor = a;
    }
    for (int i = 0; i < op->n_inputs; i++) {
        const mk_op_param *pp = mk_ir_op_param(op->kind, op->inputs[i].name, ios);
        if (!pp) return 0;
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            mk_dtype dt = op->inputs[i].args[j]->type.dtype;
            if (pp->dtypes && !(pp->dtypes & MK_DTBIT(dt))) return 0;
            if ((pp->flags & MK_PARAM_CONST) && !is_constant(op->inputs[i].args[j])) return 0;
            if ((pp->flags & MK_PARAM_SAME_T) && anchor && mk_dtype_is_float(dt) &&
                dt != anchor->type.dtype)
                return 0;
        }
    }
    return 1;
}

static int op_has_float(const mk_op *op, mk_dtype dt)
{
    for (int i = 0; i < op->n_outputs; i++)
        if (op->outputs[i]->type.dtype == dt) return 1;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++)
            if (op->inputs[i].args[j]->type.dtype == dt && !op->inputs[i].args[j]->cst) return 1;
    return 0;
}

/* Bind every float argument to its dtype-dt version (dt INVALID: the fp16-program choice). */
static int bind_all(fctx *c, mk_op *op, mk_value **saved, int fallback)
{
    int k = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++, k++) {
            mk_value *v = fallback ? saved[k] : op->inputs[i].args[j];
            if (!is_half_or_single(v->type.dtype)) {
                op->inputs[i].args[j] = v;
                continue;
            }
            mk_dtype dt = fallback ? orig_dtype(c, v) : want_dtype(op, op->inputs[i].name, c->ios);
            if (!is_half_or_single(dt)) dt = v->type.dtype;
            mk_value *nv = as_dtype(c, v, dt);
            if (!nv) return -1;
            op->inputs[i].args[j] = nv;
        }
    return 0;
}

static int convert_block(fctx *c, mk_block *b, int top);

static int convert_op(fctx *c, mk_op *op)
{
    if (op->kind == MK_OP_CONST || is_constexpr(op->kind) || op->kind == MK_OP_READ_STATE) return 0;
    if (op->kind == MK_OP_COND || op->kind == MK_OP_WHILE_LOOP) {
        /* the interface keeps its dtypes; the blocks convert inside */
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++) {
                mk_value *v = op->inputs[i].args[j];
                mk_value *nv = as_dtype(c, v, orig_dtype(c, v));
                if (!nv) return -1;
                op->inputs[i].args[j] = nv;
            }
        for (int i = 0; i < op->n_blocks; i++)
            if (convert_block(c, op->blocks[i], 0) < 0) return -1;
        return mk_ir_infer_op(op, c->e) == MK_OK ? 0 : -1;
    }
    if (op->kind == MK_OP_CAST || op->kind == MK_OP_SHAPE) {
        /* any float x will do: converting it first would only add a cast */
        return mk_ir_infer_op(op, c->e) == MK_OK ? 0 : -1;
    }
    int n = 0;
    for (int i = 0; i < op->n_inputs; i++) n += op->inputs[i].n_args;
    mk_value **saved = mk_arena_array(c->p->arena, n ? (size_t)n : 1, sizeof *saved);
    if (!saved) return MK_OOM(c->e), -1;
    for (int i = 0, k = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) saved[k++] = op->inputs[i].args[j];
    /* a list's dtype is make_list's dtype string: list ops keep theirs, casts around */
    static const mk_op_kind list_ops[] = {MK_OP_MAKE_LIST,  MK_OP_LIST_LENGTH, MK_OP_LIST_READ,
                                          MK_OP_LIST_WRITE, MK_OP_LIST_GATHER, MK_OP_LIST_SCATTER};
    int is_list = mk_ir_op_in(op->kind, list_ops, 6);
    int big = is_list;
    for (int i = 0; i < op->n_inputs && !mk_pass_saturating_op(op->kind) && !big; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++)
            big |= want_dtype(op, op->inputs[i].name, c->ios) == MK_DT_FP16 &&
                   beyond_fp16(op->inputs[i].args[j]);
    if (big && !is_list) c->st->n_range_fp32++;
    if (!big && c->keep && op->name && mk_strmap_get(c->keep, op->name)) {
        big = 1;
        c->st->n_calib_fp32++;
    }
    if (!big && bind_all(c, op, saved, 0) < 0) return -1;
    mk_err tmp = {MK_OK, ""};
    if (big || !legal(op, c->ios) || mk_ir_infer_op(op, &tmp) != MK_OK) {
        /* the fp16 form is not legal here: back to the original dtypes, casts around */
        if (bind_all(c, op, saved, 1) < 0) return -1;
        if (mk_ir_infer_op(op, c->e) != MK_OK) return -1;
    }
    for (int i = 0; i < op->n_outputs; i++)
        if (op->outputs[i]->type.dtype != orig_dtype(c, op->outputs[i])) c->changed++;
    if (op_has_float(op, MK_DT_FP32)) {
        c->st->n_fp32_ops++;
        c->st->kept[op->kind]++;
    } else if (op_has_float(op, MK_DT_FP16)) {
        c->st->n_fp16_ops++;
    }
    return 0;
}

/* Rename the fp16 value `v` (a block output) so that its fp32 version `out` carries the
 * output's name: `y` stays `y`, the fp16 value becomes `y_cast_fp16`. */
static int take_name(fctx *c, mk_value *v, mk_value *out)
{
    char base[256];
    snprintf(base, sizeof base, "%s_cast_fp16", v->name);
    const char *nm = mk_ir_unique_name(c->p, base);
    if (!nm) return MK_OOM(c->e), -1;
    const char *old = v->name;
    if (v->producer && v->producer->name && !strcmp(v->producer->name, old)) v->producer->name = nm;
    v->name = nm;
    out->name = old;
    if (out->producer) out->producer->name = old;
    return 0;
}

static int convert_block(fctx *c, mk_block *b, int top)
{
    mk_dtype *want = NULL;
    if (b->n_outputs) {
        want = mk_arena_array(c->p->arena, (size_t)b->n_outputs, sizeof *want);
        if (!want) return MK_OOM(c->e), -1;
        for (int i = 0; i < b->n_outputs; i++) want[i] = orig_dtype(c, b->outputs[i]);
    }
    for (mk_op *op = b->first, *next; op; op = next) {
        next = op->next;
        if (convert_op(c, op) < 0) return -1;
    }
    for (int i = 0; i < b->n_outputs; i++) {
        mk_value *v = b->outputs[i];
        if (v->type.dtype == want[i] || !is_half_or_single(want[i])) continue;
        mk_value *nv = as_dtype(c, v, want[i]);
        if (!nv) return -1;
        if (top && nv->producer && nv->producer->kind == MK_OP_CAST && take_name(c, v, nv) < 0)
            return -1;
        b->outputs[i] = nv;
    }
    return 0;
}

/* Record original dtypes and the defining block of every block input. */
static int survey(fctx *c, mk_block *b)
{
    for (int i = 0; i < b->n_inputs; i++)
        if (!mk_strmap_put(&c->home, b->inputs[i]->name, b) ||
            !mk_strmap_put(&c->orig, b->inputs[i]->name,
                           (void *)(uintptr_t)(b->inputs[i]->type.dtype + 1)))
            return -1;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_outputs; i++)
            if (op->outputs[i]->name &&
                !mk_strmap_put(&c->orig, op->outputs[i]->name,
                               (void *)(uintptr_t)(op->outputs[i]->type.dtype + 1)))
                return -1;
        for (int i = 0; i < op->n_blocks; i++)
            if (survey(c, op->blocks[i]) < 0) return -1;
    }
    return 0;
}

int mk_pass_fp16_ex(mk_program *p, mk_fp16_stats *st, mk_err *e)
{
    return mk_pass_fp16_keep(p, NULL, st, e);
}

int mk_pass_fp16_keep(mk_program *p, const mk_strmap *keep, mk_fp16_stats *st, mk_err *e)
{
    mk_fp16_stats local;
    if (!st) st = &local;
    memset(st, 0, sizeof *st);
    fctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.e = e;
    c.st = st;
    c.keep = keep;
    c.pay.alloc = p->alloc;
    c.ios = mk_ir_ios_for_spec(p->spec_version);
    if (!c.ios) c.ios = 15;
    mk_strmap_init(&c.orig, p->alloc);
    mk_strmap_init(&c.home, p->alloc);
    mk_strmap_init(&c.to16, p->alloc);
    mk_strmap_init(&c.to32, p->alloc);
    int r = 0;
    /* value names are scoped per function: the name maps start afresh for each */
    for (int i = 0; i < p->n_functions && !r; i++) {
        mk_function *f = p->functions[i];
        if (i) {
            mk_strmap *ms[] = {&c.orig, &c.home, &c.to16, &c.to32};
            for (int m = 0; m < 4; m++) {
                mk_strmap_free(ms[m]);
                mk_strmap_init(ms[m], p->alloc);
            }
        }
        for (int k = 0; k < f->n_inputs && !r; k++)
            if (!mk_strmap_put(&c.home, f->inputs[k]->name, f->block) ||
                !mk_strmap_put(&c.orig, f->inputs[k]->name,
                               (void *)(uintptr_t)(f->inputs[k]->type.dtype + 1)))
                r = -1;
        if (!r) r = survey(&c, f->block);
        if (r)
            MK_OOM(e);
        else
            r = convert_block(&c, f->block, 1);
    }
    if (!r && c.changed && mk_pass_dce(p, e) < 0) r = -1;
    if (!r) r = mk_fp16_payload_finish(&c.pay, p, st, e);
    mk_fp16_payload_free(&c.pay);
    mk_strmap_free(&c.orig);
    mk_strmap_free(&c.home);
    mk_strmap_free(&c.to16);
    mk_strmap_free(&c.to32);
    return r < 0 ? -1 : c.changed;
}

int mk_pass_fp16(mk_program *p, mk_err *e)
{
    return mk_pass_fp16_ex(p, NULL, e);
}
