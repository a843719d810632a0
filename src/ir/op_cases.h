/* "case MK_OP_X:" for every op of ops.def outside one family, for a switch that handles that
 * family's ops: it lists its own and ends with these instead of a default:, so an op added to
 * the family and missed by the switch is a compile error (-Wswitch-enum). Use, in the switch:
 *     #define MK_IN_FAMILY_UNARY ~, 1
 *     #include "ir/op_cases.h"
 *     #undef MK_IN_FAMILY_UNARY
 * (a family is selected by defining its probe; pasting the column onto MK_IN_FAMILY_ finds it
 * without expanding the family name itself). Included more than once, hence no guard. */
#define MK_OPC_2ND_(a, b, ...) b
#define MK_OPC_2ND(...) MK_OPC_2ND_(__VA_ARGS__)
#define MK_OPC_UNLESS_1(x)
#define MK_OPC_UNLESS_0(x) x
#define MK_OPC_UNLESS_(c) MK_OPC_UNLESS_##c
#define MK_OPC_UNLESS(c) MK_OPC_UNLESS_(c)
#define MK_OP(e, nm, opset, nout, fam, place, pw, prm, rule, kern, meaning)                        \
    MK_OPC_UNLESS(MK_OPC_2ND(MK_IN_FAMILY_##fam, 0, ~))(case MK_OP_##e:)
#include "ops.def"
#undef MK_OP
