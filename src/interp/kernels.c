/* The kernel table: one entry per op kind of src/ir/ops.def, indexed by mk_op_kind. A NULL
 * entry means "not supported by the interpreter"; test_interp.c fails for every op that has
 * none and is not on its short allow-list. */
#include "interp_int.h"

static const mk_kernel table[MK_OP__COUNT] = {
#define MK_OP(e, nm, opset, nout, fam, place, pw, prm, rule, kern, meaning)                        \
    [MK_OP_##e] = mk_k_##kern,
#include "ir/ops.def"
#undef MK_OP
};

mk_kernel mk_interp_kernel(mk_op_kind kind)
{
    return (unsigned)kind < MK_OP__COUNT ? table[kind] : NULL;
}
