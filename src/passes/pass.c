/* The pass table (one line per pass: name, hazards, purpose), the runner that verifies the
 * IR after each pass in debug builds, and the builder helpers the rewrites share. No rewrite
 * logic of its own. */
#include <string.h>

#include "passes_int.h"

static const mk_pass_info table[] = {
    /* hazard fixes, in the order mk_fix applies them (H3 before H1: both touch
     * conv_transpose; the H1 lift expects no output_shape but copes with one) */
    {"fix_conv_transpose_pad", "H3", mk_pass_fix_conv_transpose_pad, 0,
     "conv_transpose with output_shape/asymmetric pads -> valid conv_transpose + slice"},
    {"fix_conv_transpose_1d", "H1", mk_pass_fix_conv_transpose_1d, 0,
     "1-D conv_transpose with bias -> expand_dims + 2-D conv_transpose (k x 1) + squeeze"},
    {"fix_conv_transpose_1d_bias", "", mk_pass_fix_conv_transpose_1d_bias, 1,
     "H1 fallback: 1-D conv_transpose bias moved into a separate add"},
    {"fix_conv_padding", "H2", mk_pass_fix_conv_padding, 0,
     "conv trailing padding no window uses -> normalised padding (same output)"},
    {"fix_conv_padding_explicit", "", mk_pass_fix_conv_padding_explicit, 1,
     "H2 alternative: explicit pad op + valid conv"},
    {"fix_cpu_ops", "H4", mk_pass_fix_cpu_ops, 0,
     "fold static fill/fill_like/range_1d; cumsum -> matmul with a triangular constant"},
    {"fix_slice_update", "H5", mk_pass_fix_slice_update, 0,
     "slice_update with static bounds -> pad + select with a constant mask"},
    {"fix_scatter", "H5", mk_pass_fix_scatter, 0,
     "scatter* with constant indices -> gather of updates + op + select with a constant mask"},
    {"fix_negative_indices", "H6", mk_pass_fix_negative_indices, 0,
     "gather indices: constants made non-negative, run-time ones guarded with select"},
    {"fix_pow", "H7,H8", mk_pass_fix_pow, 0,
     "pow(2, y) -> exp(y ln2); pow(x, 2|3|0.5|-1) -> mul/sqrt/real_div"},
    {"fix_softplus", "H9", mk_pass_fix_softplus, 0,
     "softplus -> relu(x) + log(1 + exp(-|x|)) (no fp16 overflow)"},
    {"fix_logsumexp", "H10", mk_pass_fix_logsumexp, 0,
     "reduce_log_sum_exp -> max-shifted explicit form"},
    {"fix_log_softmax", "H11", mk_pass_fix_log_softmax, 0,
     "log(softmax(x)) -> (x - max) - log(sum(exp(x - max))); log(cumsum(exp)) max-shifted"},
    {"fix_sum_squares", "H12", mk_pass_fix_sum_squares, 0,
     "l2_norm, RMSNorm and any other sum of squares (variance): squares of x / max|x|"},
    {"fix_epsilon", "H13", mk_pass_fix_epsilon, 0, "norm/rsqrt epsilon below fp16 range -> 1e-7"},
    {"fix_fp16_range", "H14", mk_pass_fix_fp16_range, 0, "float constants clipped to +-65504"},
    {"fix_explicit_params", "H15,H16,H39", mk_pass_fix_explicit_params, 0,
     "write hidden defaults explicitly (epsilon, resampling modes, pad constant_val, gelu mode)"},
    {"fix_runtime_forms", "H35", mk_pass_fix_runtime_forms, 0,
     "pad constant_val/negative pads/outer-axis reflect, rank-0 gather, slice-to-start"},
    {"fix_empty", "H22", mk_pass_fix_empty, 0,
     "drop zero-sized inputs of concat; single-input concat -> identity"},
    {"fix_rank", "H21", mk_pass_fix_rank, 0,
     "rank > 5 reshape/transpose/pointwise chains -> collapsed axes at rank <= 5"},
    {"fix_long_axis", "H20", mk_pass_fix_long_axis, 0,
     "axes > 16384: split linear/matmul into chunks (reductions combined); [L/k, k] chains"},
    {"fix_global_pool", "H27", mk_pass_fix_global_pool, 0,
     "global avg/max pool with a big kernel -> reduce_mean/reduce_max"},
    {"fix_instance_norm_5d", "H32", mk_pass_fix_instance_norm_5d, 0,
     "rank-5 instance_norm / D,H,W reductions -> rank 3-4 form between reshapes"},
    {"fix_prelu_slope", "H33", mk_pass_fix_prelu_slope, 0,
     "prelu shared slope -> one slope per channel"},
    {"fix_sqrt_square", "H36", mk_pass_fix_sqrt_square, 0, "sqrt(x^2) -> abs(x)"},
    {"fix_int_linear", "H37", mk_pass_fix_int_linear, 0, "integer linear -> matmul (+ add bias)"},
    {"fix_linear_to_conv", "H25", mk_pass_fix_linear_to_conv, 1,
     "linear on (B,S,C) -> 1x1 conv in (B,C,1,S) layout (opt-in, --ane-layout)"},
    {"fix_avg_pool_ceil", "H17", mk_pass_fix_avg_pool_ceil,
     MK_PASS_OPT_IN | MK_PASS_SOURCE_SEMANTICS,
     "avg_pool ceil_mode overhang divided by the real count (source framework; --only H17)"},
    /* general passes */
    {"fold", "", mk_pass_fold, 0, "constant-fold static shape ops and casts; remove dead ops"},
    {"dce", "", mk_pass_dce, 0, "remove ops whose outputs nobody reads"},
    {"fuse_conv_batchnorm", "", mk_pass_fuse_conv_batchnorm, 0,
     "conv + constant batch_norm -> one conv; beyond-fp16 batch_norm -> mul + add"},
    {"fuse_attention", "", mk_pass_fuse_attention, MK_PASS_IOS18,
     "matmul(Q,K^T) -> scale -> mask -> softmax -> matmul(.,V) -> scaled_dot_product_attention"},
    {"fp16", "", mk_pass_fp16, 1, "fp16 compute precision: cast I/O, fp16 constants"},
    {"quantize_int8", "", mk_pass_quantize_int8, 1,
     "per-channel int8 weights (constexpr_affine_dequantize / blockwise_shift_scale)"},
};

int mk_pass_count(void)
{
    return (int)(sizeof table / sizeof *table);
}

const mk_pass_info *mk_pass_at(int i)
{
    return i >= 0 && i < mk_pass_count() ? &table[i] : NULL;
}

const mk_pass_info *mk_pass_find(const char *name)
{
    for (int i = 0; i < mk_pass_count(); i++)
        if (name && strcmp(table[i].name, name) == 0) return &table[i];
    return NULL;
}

int mk_pass_run(const mk_pass_info *pi, mk_program *p, mk_err *e)
{
    int n = pi->fn(p, e);
    if (n < 0) {
        mk_err_prefix(e, "pass %s: ", pi->name);
        return -1;
    }
#ifdef MK_DEBUG
    if (n > 0 && mk_ir_verify(p, e) != MK_OK) {
        mk_err_prefix(e, "after pass %s: ", pi->name);
        return -1;
    }
#endif
    return n;
}

/* ---- iteration ---- */

/* Calls fn on every op of b (nested blocks first). With rescan, a change (fn > 0) restarts
 * at the block's first op, for rewrites that unlink whole chains; otherwise the walk goes on
 * from the op that followed. */
static int walk_block(mk_program *p, mk_block *b, pass_op_fn fn, void *ctx, int rescan, mk_err *e)
{
    int total = 0;
    for (mk_op *op = b->first, *next; op; op = next) {
        next = op->next;
        for (int i = 0; i < op->n_blocks; i++) {
            int r = walk_block(p, op->blocks[i], fn, ctx, rescan, e);
            if (r < 0) return -1;
            total += r;
        }
        int r = fn(ctx, p, op, e);
        if (r < 0) return -1;
        total += r;
        if (rescan && r) next = b->first;
    }
    return total;
}

static int walk(mk_program *p, pass_op_fn fn, void *ctx, int rescan, mk_err *e)
{
    int total = 0;
    for (int i = 0; i < p->n_functions; i++) {
        int r = walk_block(p, p->functions[i]->block, fn, ctx, rescan, e);
        if (r < 0) return -1;
        total += r;
    }
    return total;
}

int mk_pass_each_op(mk_program *p, pass_op_fn fn, void *ctx, mk_err *e)
{
    return walk(p, fn, ctx, 0, e);
}

int mk_pass_each_op_rescan(mk_program *p, pass_op_fn fn, void *ctx, mk_err *e)
{
    return walk(p, fn, ctx, 1, e);
}

/* ---- builder ---- */

void mk_pb_init(pb *b, mk_program *p, mk_op *pos, mk_err *e)
{
    b->p = p;
    b->pos = pos;
    b->e = e;
    b->failed = 0;
}

static void *oom(pb *b)
{
    if (!b->failed) MK_OOM(b->e);
    b->failed = 1;
    return NULL;
}

static mk_value *const_at(pb *b, const char *base, const mk_type *t, const void *data,
                          size_t nbytes, int borrow)
{
    if (b->failed) return NULL;
    mk_value *v = mk_ir_const(b->p, NULL, base, t, data, nbytes, borrow);
    if (!v) return oom(b);
    mk_ir_insert_before(b->pos, v->producer);
    return v;
}

mk_value *mk_pb_const(pb *b, const char *base, const mk_type *t, const void *data, size_t nbytes)
{
    return const_at(b, base, t, data, nbytes, 0);
}

mk_value *mk_pb_const_borrow(pb *b, const char *base, const mk_type *t, const void *data,
                             size_t nbytes)
{
    return const_at(b, base, t, data, nbytes, 1);
}

mk_value *mk_pb_i32(pb *b, const char *base, int32_t v)
{
    mk_type t = mk_type_scalar(MK_DT_INT32);
    return mk_pb_const(b, base, &t, &v, sizeof v);
}

mk_value *mk_pb_i32s(pb *b, const char *base, int n, const int32_t *v)
{
    int64_t d = n;
    mk_type t = mk_type_make(MK_DT_INT32, 1, &d);
    return mk_pb_const(b, base, &t, v, (size_t)n * sizeof *v);
}

mk_value *mk_pb_bool(pb *b, const char *base, int v)
{
    uint8_t x = v != 0;
    mk_type t = mk_type_scalar(MK_DT_BOOL);
    return mk_pb_const(b, base, &t, &x, 1);
}

mk_value *mk_pb_bools(pb *b, const char *base, int n, const uint8_t *v)
{
    int64_t d = n;
    mk_type t = mk_type_make(MK_DT_BOOL, 1, &d);
    return mk_pb_const(b, base, &t, v, (size_t)n);
}

mk_value *mk_pb_str(pb *b, const char *base, const char *s)
{
    mk_type t = mk_type_scalar(MK_DT_STRING);
    return mk_pb_const(b, base, &t, &s, sizeof s);
}

mk_value *mk_pb_float(pb *b, const char *base, mk_dtype dt, double v)
{
    mk_type t = mk_type_scalar(dt == MK_DT_FP16 ? MK_DT_FP16 : MK_DT_FP32);
    if (dt == MK_DT_FP16) {
        uint16_t h = mk_f32_to_f16((float)v);
        return mk_pb_const(b, base, &t, &h, sizeof h);
    }
    float f = (float)v;
    return mk_pb_const(b, base, &t, &f, sizeof f);
}

mk_op *mk_pb_op(pb *b, mk_op_kind k, const char *base)
{
    if (b->failed) return NULL;
    mk_op *op = mk_ir_op_new(b->p, k, base ? base : mk_ir_op_info(k)->name);
    return op ? op : oom(b);
}

void mk_pb_in(pb *b, mk_op *op, const char *param, mk_value *v)
{
    if (b->failed || !op || !v) {
        if (!b->failed && (!op || !v)) oom(b);
        return;
    }
    if (!mk_ir_op_add_input(b->p, op, param, v)) oom(b);
}

mk_value *mk_pb_emit(pb *b, mk_op *op)
{
    if (b->failed || !op) return NULL;
    mk_type t = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *out = mk_ir_op_add_output(b->p, op, NULL, &t); /* unique from op->name */
    if (!out) return oom(b);
    op->name = out->name;
    mk_ir_insert_before(b->pos, op);
    if (mk_ir_infer_op(op, b->e) != MK_OK) {
        b->failed = 1;
        return NULL;
    }
    return out;
}

mk_value *mk_pb_unary(pb *b, mk_op_kind k, const char *base, mk_value *x)
{
    mk_op *op = mk_pb_op(b, k, base);
    mk_pb_in(b, op, "x", x);
    return mk_pb_emit(b, op);
}

mk_value *mk_pb_binary(pb *b, mk_op_kind k, const char *base, mk_value *x, mk_value *y)
{
    mk_op *op = mk_pb_op(b, k, base);
    mk_pb_in(b, op, "x", x);
    mk_pb_in(b, op, "y", y);
    return mk_pb_emit(b, op);
}

void mk_pb_copy_inputs(pb *b, const mk_op *from, mk_op *to, const char *const *except)
{
    for (int i = 0; i < from->n_inputs && !b->failed; i++) {
        int skip = 0;
        for (const char *const *x = except; x && *x && !skip; x++)
            skip = strcmp(*x, from->inputs[i].name) == 0;
        for (int j = 0; j < from->inputs[i].n_args && !skip; j++)
            mk_pb_in(b, to, from->inputs[i].name, from->inputs[i].args[j]);
    }
}

void mk_pb_replace(pb *b, mk_value *old, mk_value *repl)
{
    if (b->failed || !old || !repl) return;
    mk_op *op = old->producer, *fin = repl->producer;
    if (!fin || !op) {
        /* no producer to take over: rebind every use (O(block)) */
        mk_block *blk = op && op->parent ? op->parent : b->pos->parent;
        mk_ir_replace_uses(blk, old, repl);
        if (op && op->parent) mk_ir_unlink(op);
        return;
    }
    /* O(1): the new producer adopts the old value object, so every use (and the model
     * output name) stays bound; the orphaned repl goes to the unlinked old op. */
    int oi = old->producer_output, ri = repl->producer_output;
    fin->outputs[ri] = old;
    op->outputs[oi] = repl;
    repl->producer = op;
    repl->producer_output = oi;
    old->producer = fin;
    old->producer_output = ri;
    old->type = repl->type;
    old->cst = repl->cst;
    fin->name = old->name;
    if (op->parent) mk_ir_unlink(op);
}

int mk_pb_done(pb *b, int n)
{
    return b->failed ? -1 : n;
}

int mk_pass_ints(const mk_op *op, const char *param, int64_t *out, int max, int *n)
{
    return mk_ir_arg_i64s(op, param, out, max, n);
}

int mk_pass_const_floats(const mk_value *v, float *out, size_t n)
{
    size_t cnt = 0;
    if (!v || !v->cst || !v->cst->data || !mk_type_numel(&v->type, &cnt) || cnt != n) return 0;
    if (v->type.dtype != MK_DT_FP16 && v->type.dtype != MK_DT_FP32) return 0;
    for (size_t i = 0; i < n; i++) out[i] = (float)mk_const_get_f64(v, i);
    return 1;
}

void mk_pb_set(pb *b, mk_op *op, const char *param, mk_value *v)
{
    if (b->failed) return;
    if (!v) {
        oom(b);
        return;
    }
    for (int i = 0; i < op->n_inputs; i++)
        if (strcmp(op->inputs[i].name, param) == 0 && op->inputs[i].n_args) {
            op->inputs[i].args[0] = v;
            op->inputs[i].n_args = 1;
            return;
        }
    mk_pb_in(b, op, param, v);
}
