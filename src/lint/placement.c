/* Placement prediction: for each op, whether published evidence (hazards.md Table 2, H4, H5,
 * H18-H21, H29, H34 for state ops) says it runs off the Neural Engine. A prediction, not a
 * measurement: Apple documents no op list, and residency changes with device and OS. Printing
 * lives in src/api/lint.c. */
#include <stdio.h>
#include <string.h>

#include "lint_int.h"

enum { PL_NONE = 0, PL_NE, PL_CPU, PL_WEIGHT, PL_CTRL };

/* From ops.def's placement column. NE means "no evidence that it leaves the Neural Engine";
 * shape and dtype conditions are checked apart. */
static const unsigned char place[MK_OP__COUNT] = {
#define MK_OP(e, nm, opset, nout, fam, pl, pw, prm, rule, kern, meaning) [MK_OP_##e] = PL_##pl,
#include "ir/ops.def"
#undef MK_OP
};

int mk_lint_placement_known(mk_op_kind k)
{
    return (unsigned)k < MK_OP__COUNT && place[k] != PL_NONE;
}

int mk_lint_is_weight_op(const mk_op *op)
{
    return (unsigned)op->kind < MK_OP__COUNT && place[op->kind] == PL_WEIGHT;
}

int mk_lint_program_is_fp16(const mk_program *p)
{
    for (int i = 0; i < p->n_functions; i++) MK_FOR_OPS(p->functions[i]->block, op)
        {
            /* Core ML states are fp16 even in fp32 programs: their reads and writes (and the
             * slice_update writing a KV cache) say nothing about the compute precision */
            if (mk_lint_is_weight_op(op) || op->kind == MK_OP_CAST ||
                op->kind == MK_OP_READ_STATE || op->kind == MK_OP_WRITE_STATE ||
                op->kind == MK_OP_COREML_UPDATE_STATE ||
                (op->kind == MK_OP_SLICE_UPDATE && mk_ir_arg(op, "x") &&
                 mk_ir_arg(op, "x")->producer &&
                 mk_ir_arg(op, "x")->producer->kind == MK_OP_READ_STATE))
                continue;
            for (int j = 0; j < op->n_outputs; j++)
                if (op->outputs[j]->type.dtype == MK_DT_FP16) return 1;
        }
    return 0;
}

static const char *shape_reason(const mk_type *t, char *buf, size_t n)
{
    if (t->rank > 5) {
        snprintf(buf, n, "rank %d > 5 (H21)", t->rank);
        return buf;
    }
    for (int d = 0; d < t->rank; d++) {
        if (t->dims[d] < 0) return "dynamic shape (H18)";
        if (t->dims[d] == 0) return "zero-sized dimension (H22)";
        int64_t lim = (t->rank == 5 ? d >= 2 : d >= t->rank - 2) ? 16384 : 65536;
        if (t->dims[d] > lim) {
            snprintf(buf, n, "axis %d = %lld > %lld (H20)", d, (long long)t->dims[d],
                     (long long)lim);
            return buf;
        }
    }
    return NULL;
}

/* The tensor type a state op reads or writes; NULL for other ops. */
static const mk_type *state_type(const mk_op *op)
{
    const mk_value *s = op->kind == MK_OP_READ_STATE || op->kind == MK_OP_WRITE_STATE
                            ? mk_ir_arg(op, "input")
                        : op->kind == MK_OP_COREML_UPDATE_STATE ? mk_ir_arg(op, "state")
                                                                : NULL;
    return s ? &s->type : NULL;
}

const char *mk_lint_off_ne_reason(const mk_op *op, int fp16_program, char *buf, size_t n)
{
    if ((unsigned)op->kind >= MK_OP__COUNT) return "unknown op";
    /* H34 (coremltools #2631): a state whose last dim is a multiple of 32 runs on the Neural
     * Engine (256 did, 270 did not); its ops then follow the shape rules below */
    const mk_type *st = state_type(op);
    if (st) {
        int64_t last = st->rank >= 1 ? st->dims[st->rank - 1] : -1;
        if (last <= 0 || last % 32) {
            snprintf(buf, n, "state last dim %lld is not a multiple of 32 (H34)", (long long)last);
            return buf;
        }
        for (int i = 0; i < op->n_outputs; i++) {
            const char *r = shape_reason(&op->outputs[i]->type, buf, n);
            if (r) return r;
        }
        return shape_reason(st, buf, n);
    }
    switch (place[op->kind]) {
    case PL_WEIGHT: return NULL;
    case PL_CPU:
        snprintf(buf, n, "%s runs on the CPU (%s)", mk_ir_op_info(op->kind)->name,
                 op->kind == MK_OP_NON_ZERO ? "Table 2: data-dependent shape"
                 : op->kind == MK_OP_CUMSUM || op->kind == MK_OP_FILL ||
                         op->kind == MK_OP_FILL_LIKE || op->kind == MK_OP_RANGE_1D
                     ? "H4"
                 : op->kind == MK_OP_SCATTER || op->kind == MK_OP_SCATTER_ND ||
                         op->kind == MK_OP_SCATTER_ALONG_AXIS || op->kind == MK_OP_SLICE_UPDATE
                     ? "H5"
                     : "H29");
        return buf;
    case PL_CTRL:
        snprintf(buf, n, "%s: control flow/state/list has no Neural Engine evidence",
                 mk_ir_op_info(op->kind)->name);
        return buf;
    default: break;
    }
    for (int i = 0; i < op->n_outputs; i++) {
        const mk_type *t = &op->outputs[i]->type;
        if (mk_dtype_is_float(t->dtype) && t->dtype != MK_DT_FP16 &&
            !(op->kind == MK_OP_CAST && fp16_program))
            return fp16_program ? "fp32 island (H19)" : "fp32 compute (H19)";
        const char *r = shape_reason(t, buf, n);
        if (r) return r;
    }
    for (int i = 0; i < op->n_inputs; i++)
        for (int j = 0; j < op->inputs[i].n_args; j++) {
            const char *r = shape_reason(&op->inputs[i].args[j]->type, buf, n);
            if (r) return r;
        }
    return NULL;
}
