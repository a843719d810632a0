/* fp16 compute precision (for `milkit convert --precision fp16`): fp32 function inputs are
 * cast to fp16 once at the top, fp32 constants become fp16 constants (clipped to +-65504,
 * H14), run-time casts to fp32 become casts to fp16, every op's type is re-inferred, and
 * fp32 model outputs get a final cast back so the model's I/O does not change. Integer and
 * bool tensors are untouched. */
#include <math.h>
#include <string.h>

#include "passes_int.h"

static mk_value *to_fp16_const(pb *b, const mk_value *v) {
    size_t n = 0;
    if (!mk_type_numel(&v->type, &n)) return NULL;
    uint16_t *buf = mk_arena_array(b->p->arena, n ? n : 1, sizeof *buf);
    if (!buf) return NULL;
    for (size_t i = 0; i < n; i++) {
        float f = ((const float *)v->cst->data)[i];
        if (f > 65504.0f) f = 65504.0f;
        if (f < -65504.0f) f = -65504.0f;
        buf[i] = mk_f32_to_f16(f);
    }
    mk_type t = v->type;
    t.dtype = MK_DT_FP16;
    if (v->producer) return pb_const_borrow(b, v->name ? v->name : "fp16_const", &t, buf, n * 2);
    mk_value *c = mk_ir_const_value(b->p, &t, buf, n * 2, 1);
    if (c) c->is_inline = v->is_inline;
    return c;
}

static int is_fp32_const(const mk_value *v) {
    return v && v->cst && v->cst->data && v->type.dtype == MK_DT_FP32;
}

static int convert_op(void *ctx, mk_program *p, mk_op *op, mk_err *e) {
    (void)ctx;
    pb b;
    pb_init(&b, p, op, e);
    if (op->kind == MK_OP_CONST) {
        if (!op->n_outputs || !is_fp32_const(op->outputs[0])) return 0;
        mk_value *c = to_fp16_const(&b, op->outputs[0]);
        if (!c) return MK_OOM(e), -1;
        pb_replace(&b, op->outputs[0], c);
        return pb_done(&b, 1);
    }
    int changed = 0;
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            mk_value *v = op->inputs[i].args[j];
            if (v->producer || !is_fp32_const(v)) continue;
            mk_value *c = to_fp16_const(&b, v);
            if (!c) return MK_OOM(e), -1;
            op->inputs[i].args[j] = c;
            changed = 1;
        }
    if (op->kind == MK_OP_CAST) {
        const char *dt = mk_ir_arg_str(op, "dtype");
        if (dt && strcmp(dt, "fp32") == 0) {
            pb_set(&b, op, "dtype", pb_str(&b, "fp16_dtype", "fp16"));
            changed = 1;
        }
    }
    if (b.failed) return -1;
    if (op->kind >= MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE && op->kind <= MK_OP_CONSTEXPR_LUT_TO_DENSE) {
        /* load-time decompression keeps its own dtype; cast its fp32 result once */
        mk_value *w = op->n_outputs ? op->outputs[0] : NULL;
        if (!w || w->type.dtype != MK_DT_FP32 || !op->next) return changed;
        pb_init(&b, p, op->next, e);
        mk_op *c = pb_op(&b, MK_OP_CAST, "fp16_weight");
        pb_in(&b, c, "x", w);
        pb_in(&b, c, "dtype", pb_str(&b, "fp16_dtype", "fp16"));
        mk_value *wc = pb_emit(&b, c);
        if (!wc) return -1;
        mk_ir_replace_uses(op->parent, w, wc);
        c->inputs[0].args[0] = w;
        return 1;
    }
    int fp32_out = 0;
    for (int i = 0; i < op->n_outputs; i++)
        fp32_out |= op->outputs[i]->type.dtype == MK_DT_FP32;
    if (!changed && !fp32_out && op->n_blocks == 0) {
        int fp16_in = 0;
        for (int i = 0; i < op->n_inputs; i++)
            for (int j = 0; j < op->inputs[i].n_args; j++)
                fp16_in |= op->inputs[i].args[j]->type.dtype == MK_DT_FP16;
        if (!fp16_in) return 0;
    }
    if (mk_ir_infer_op(op, e) != MK_OK) return -1;
    return changed || fp32_out;
}

/* Cast fp32 inputs of f to fp16 right at the top of its block. */
static int cast_inputs(mk_program *p, mk_function *f, mk_err *e) {
    int n = 0;
    for (int i = 0; i < f->n_inputs; i++) {
        mk_value *v = f->inputs[i];
        if (v->type.dtype != MK_DT_FP32 || !f->block->first) continue;
        pb b;
        pb_init(&b, p, f->block->first, e);
        char base[160];
        snprintf(base, sizeof base, "%s_to_fp16", v->name);
        mk_op *c = pb_op(&b, MK_OP_CAST, base);
        pb_in(&b, c, "x", v);
        pb_in(&b, c, "dtype", pb_str(&b, "fp16_dtype", "fp16"));
        mk_value *cv = pb_emit(&b, c);
        if (!cv) return -1;
        mk_ir_replace_uses(f->block, v, cv);
        c->inputs[0].args[0] = v;
        n++;
    }
    return n;
}

/* fp16 block outputs of main that the model describes as fp32 get a cast back. */
static int cast_outputs(mk_program *p, mk_function *f, mk_err *e) {
    mk_block *blk = f->block;
    int n = 0;
    for (int i = 0; i < blk->n_outputs; i++) {
        mk_value *v = blk->outputs[i];
        if (v->type.dtype != MK_DT_FP16) continue;
        int want32 = 1;
        for (int k = 0; k < p->n_outputs; k++)
            if (p->outputs[k].name && v->name && !strcmp(p->outputs[k].name, v->name))
                want32 = p->outputs[k].dtype != MK_DT_FP16;
        if (!want32) continue;
        mk_op *c = mk_ir_op_new(p, MK_OP_CAST, "fp16_out_cast");
        mk_value *dt = mk_ir_const_str(p, NULL, "fp16_out_dtype", "fp32");
        mk_type t = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
        if (!c || !dt || !mk_ir_op_add_input(p, c, "x", v) ||
            !mk_ir_op_add_input(p, c, "dtype", dt))
            return MK_OOM(e), -1;
        mk_value *out = mk_ir_op_add_output(p, c, NULL, &t);
        if (!out) return MK_OOM(e), -1;
        mk_ir_block_append(blk, dt->producer);
        mk_ir_block_append(blk, c);
        if (mk_ir_infer_op(c, e) != MK_OK) return -1;
        const char *nm = v->name;
        v->name = out->name;
        if (v->producer && v->producer->name == nm) v->producer->name = out->name;
        out->name = nm;
        c->name = nm;
        blk->outputs[i] = out;
        n++;
    }
    return n;
}

int mk_pass_fp16(mk_program *p, mk_err *e) {
    int total = 0;
    for (int i = 0; i < p->n_functions; i++) {
        int r = cast_inputs(p, p->functions[i], e);
        if (r < 0) return -1;
        total += r;
    }
    int r = pass_each_op(p, convert_op, NULL, e);
    if (r < 0) return -1;
    total += r;
    mk_function *f = mk_ir_main(p);
    if (f) {
        r = cast_outputs(p, f, e);
        if (r < 0) return -1;
        total += r;
    }
    return total;
}
