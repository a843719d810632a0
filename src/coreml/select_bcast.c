/* coremltools types select's output as the broadcast of a and b alone, leaving cond out, so a
 * select whose cond is wider than a and b has a declared shape Apple's loader rejects. Before
 * writing, b of such a select is widened to cond's shape without changing a value:
 * b - (c - c) with c = cast(cond) (bool b: b or (cond and not cond)). */
#include <string.h>

#include "coreml_int.h"

/* The broadcast of a and b equals t's shape. */
static int covers(const mk_type *a, const mk_type *b, const mk_type *t)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    if (a->rank < 0 || b->rank < 0 || t->rank < 0) return 1;
    if (r != t->rank) return 0;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        int64_t d = da == 1 ? db : da;
        if (d != t->dims[i]) return 0;
    }
    return 1;
}

static mk_value *emit(mk_program *p, mk_op *pos, mk_op_kind k, const char *base, const char *p1,
                      mk_value *v1, const char *p2, mk_value *v2, mk_err *e)
{
    mk_op *op = mk_ir_op_new(p, k, mk_ir_unique_name(p, base));
    mk_type t = mk_type_scalar(MK_DT_FP32);
    if (!op || !mk_ir_op_add_input(p, op, p1, v1) || (p2 && !mk_ir_op_add_input(p, op, p2, v2)) ||
        !mk_ir_op_add_output(p, op, NULL, &t))
        return MK_OOM(e), NULL;
    mk_ir_insert_before(pos, op);
    return mk_ir_infer_op(op, e) == MK_OK ? op->outputs[0] : NULL;
}

static mk_status widen(mk_program *p, mk_op *op, mk_err *e)
{
    mk_input *bi = NULL;
    for (int i = 0; i < op->n_inputs; i++)
        if (!strcmp(op->inputs[i].name, "b") && op->inputs[i].n_args == 1) bi = &op->inputs[i];
    mk_value *a = mk_ir_arg(op, "a"), *b = bi ? bi->args[0] : NULL, *c = mk_ir_arg(op, "cond");
    if (!a || !b || !c || covers(&a->type, &b->type, &op->outputs[0]->type)) return MK_OK;
    mk_value *nb;
    if (b->type.dtype == MK_DT_BOOL) {
        mk_value *nc = emit(p, op, MK_OP_LOGICAL_NOT, "widen_not", "x", c, NULL, NULL, e);
        mk_value *f = nc ? emit(p, op, MK_OP_LOGICAL_AND, "widen_false", "x", c, "y", nc, e) : NULL;
        nb = f ? emit(p, op, MK_OP_LOGICAL_OR, "widen_b", "x", b, "y", f, e) : NULL;
    } else {
        mk_dtype dt = b->type.dtype;
        if (dt != MK_DT_FP32 && dt != MK_DT_FP16 && dt != MK_DT_INT32) return MK_OK;
        mk_value *ds = mk_ir_const_str(p, NULL, "widen_dtype", mk_dtype_name(dt));
        if (!ds) return MK_OOM(e);
        mk_ir_insert_before(op, ds->producer);
        mk_value *cc = emit(p, op, MK_OP_CAST, "widen_cast", "x", c, "dtype", ds, e);
        mk_value *z = cc ? emit(p, op, MK_OP_SUB, "widen_zero", "x", cc, "y", cc, e) : NULL;
        nb = z ? emit(p, op, MK_OP_SUB, "widen_b", "x", b, "y", z, e) : NULL;
    }
    if (!nb) return e->code ? e->code : MK_ENOMEM;
    bi->args[0] = nb;
    return MK_OK;
}

mk_status mk_coreml_widen_selects(mk_program *p, mk_block *b, mk_err *e)
{
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_blocks; i++) {
            mk_status st = mk_coreml_widen_selects(p, op->blocks[i], e);
            if (st) return st;
        }
        if (op->kind == MK_OP_SELECT && op->n_outputs == 1) {
            mk_status st = widen(p, op, e);
            if (st) return st;
        }
    }
    return MK_OK;
}
