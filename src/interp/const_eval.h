/* The constant evaluator: one MIL op whose operands are all constants, computed by the kernel
 * the interpreter runs for it. This header is the one part of src/interp that other modules
 * (src/onnx and src/passes, for folding) may include: see "Modules" in docs/DESIGN.md. */
#ifndef MK_CONST_EVAL_H
#define MK_CONST_EVAL_H

#include "ir/ir.h"

typedef struct mk_const_out {
    mk_type type;     /* from type inference (or the kernel, for data-dependent shapes) */
    const void *data; /* payload in type.dtype; the reshape family returns x's payload itself */
    size_t nbytes;
} mk_const_out;

/* Evaluate op into outs[0..n_outs) (n_outs = op->n_outputs). Every input argument and attribute
 * must be an inline or bound constant; payloads go into `ar`. MK_EUNSUPPORTED with a message
 * when an operand is not constant, the op has no kernel or has blocks, or an output is not
 * static or has more than max_elems elements; a kernel's own error otherwise. The op's
 * opset follows its function (iOS15 for an op in no block). */
mk_status mk_const_eval(const mk_op *op, const mk_allocator *a, mk_arena *ar, size_t max_elems,
                        mk_const_out *outs, int n_outs, mk_err *e);

#endif
