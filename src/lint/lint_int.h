/* Private to src/lint (and src/api, which composes it): the rule table, the per-op lint
 * context, shared trigger helpers and the placement predictor. Rules only read the IR. */
#ifndef MK_LINT_INT_H
#define MK_LINT_INT_H

#include "ir/ir.h"

/* Rule ids are "H<n>"; the table below is indexed by n (H1..H39). */
#define LINT_MAX_RULE 40

typedef struct lint_ctx lint_ctx;
typedef void (*lint_op_fn)(lint_ctx *c, const mk_op *op);
typedef void (*lint_prog_fn)(lint_ctx *c);

typedef struct lint_rule {
    mk_lint_rule pub;
    lint_op_fn check;      /* per op, NULL when program-level only */
    lint_prog_fn pcheck;   /* once per program, may be NULL */
} lint_rule;

struct mk_findings {
    mk_arena *arena;
    int n, cap;
    mk_finding *items;
    mk_status oom;
};

struct lint_ctx {
    const mk_program *p;
    const mk_lint_options *opts;
    int ios;          /* target opset 15..18 */
    int fp16_program; /* any fp16 compute in the program */
    int fp16;         /* check fp16 hazards: fp16_program or assume_fp16 */
    const lint_rule *rule;
    const mk_function *fn;
    const char *block;
    int op_index;
    mk_findings *out;
    unsigned char seen[LINT_MAX_RULE]; /* once-per-program rules */
};

/* Add a finding for the current rule at op (NULL: program level). fixable 0 means this
 * instance has no safe rewrite even when the rule has one. */
void lint_flag(lint_ctx *c, const mk_op *op, int fixable, const char *fmt, ...)
    MK_PRINTF(4, 5);

/* Per-op checks (rules_*.c), named by hazard id; program-level checks end in _prog. */
#define LINT_OP(n) void lint_h##n(lint_ctx *c, const mk_op *op);
LINT_OP(1) LINT_OP(2) LINT_OP(3) LINT_OP(4) LINT_OP(5) LINT_OP(6) LINT_OP(7) LINT_OP(8)
LINT_OP(9) LINT_OP(10) LINT_OP(11) LINT_OP(12) LINT_OP(13) LINT_OP(14) LINT_OP(15) LINT_OP(16)
LINT_OP(17) LINT_OP(18) LINT_OP(19) LINT_OP(20) LINT_OP(21) LINT_OP(22) LINT_OP(24)
LINT_OP(25) LINT_OP(26) LINT_OP(27) LINT_OP(28) LINT_OP(29) LINT_OP(31) LINT_OP(32)
LINT_OP(33) LINT_OP(34) LINT_OP(35) LINT_OP(37) LINT_OP(39)
#undef LINT_OP
void lint_h18_prog(lint_ctx *c);
void lint_h19_prog(lint_ctx *c);
void lint_h20_prog(lint_ctx *c);
void lint_h23_prog(lint_ctx *c);
void lint_h30_prog(lint_ctx *c);
const lint_rule *lint_table(void);

/* ---- trigger helpers ---- */
/* Float element type of the op's main operand (x, or the first input), MK_DT_INVALID when
 * none. */
mk_dtype lint_x_dtype(const mk_op *op);
/* True when v is a constant and every element equals val (within 1e-6 relative). */
int lint_const_all(const mk_value *v, double val);
/* Numbers of a constant int parameter (or attribute); 0 when absent or not constant. */
int lint_ints(const mk_op *op, const char *param, int64_t *out, int max, int *n);
const char *lint_op_type(const mk_op *op);
int lint_is_bound(const mk_op *op, const char *param);

/* ---- placement ---- */
/* Why op would run off the Neural Engine (a short reason), or NULL if predicted on it.
 * fp16_program: the program computes in fp16 (else every float op is off NE, H19). */
const char *lint_off_ne_reason(const mk_op *op, int fp16_program, char *buf, size_t n);
int lint_program_is_fp16(const mk_program *p);
/* Every op kind has a placement entry (for the table test); weights are not placed. */
int lint_placement_known(mk_op_kind k);
int lint_is_weight_op(const mk_op *op);

#endif
