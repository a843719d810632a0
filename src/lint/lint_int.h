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
    lint_op_fn check;    /* per op, NULL when program-level only */
    lint_prog_fn pcheck; /* once per program, may be NULL */
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
void mk_lint_flag(lint_ctx *c, const mk_op *op, int fixable, const char *fmt, ...) MK_PRINTF(4, 5);
/* The same for a rule with more than one rewrite: pass names the one that applies (NULL: none). */
void mk_lint_flag_fix(lint_ctx *c, const mk_op *op, const char *pass, const char *fmt, ...)
    MK_PRINTF(4, 5);

/* Per-op checks (rules_*.c), named by hazard id; program-level checks end in _prog. */
void mk_lint_h1(lint_ctx *c, const mk_op *op);
void mk_lint_h2(lint_ctx *c, const mk_op *op);
void mk_lint_h3(lint_ctx *c, const mk_op *op);
void mk_lint_h4(lint_ctx *c, const mk_op *op);
void mk_lint_h5(lint_ctx *c, const mk_op *op);
void mk_lint_h6(lint_ctx *c, const mk_op *op);
void mk_lint_h7(lint_ctx *c, const mk_op *op);
void mk_lint_h8(lint_ctx *c, const mk_op *op);
void mk_lint_h9(lint_ctx *c, const mk_op *op);
void mk_lint_h10(lint_ctx *c, const mk_op *op);
void mk_lint_h11(lint_ctx *c, const mk_op *op);
void mk_lint_h12(lint_ctx *c, const mk_op *op);
void mk_lint_h13(lint_ctx *c, const mk_op *op);
void mk_lint_h14(lint_ctx *c, const mk_op *op);
void mk_lint_h15(lint_ctx *c, const mk_op *op);
void mk_lint_h16(lint_ctx *c, const mk_op *op);
void mk_lint_h17(lint_ctx *c, const mk_op *op);
void mk_lint_h18(lint_ctx *c, const mk_op *op);
void mk_lint_h19(lint_ctx *c, const mk_op *op);
void mk_lint_h20(lint_ctx *c, const mk_op *op);
void mk_lint_h21(lint_ctx *c, const mk_op *op);
void mk_lint_h22(lint_ctx *c, const mk_op *op);
void mk_lint_h24(lint_ctx *c, const mk_op *op);
void mk_lint_h25(lint_ctx *c, const mk_op *op);
void mk_lint_h26(lint_ctx *c, const mk_op *op);
void mk_lint_h27(lint_ctx *c, const mk_op *op);
void mk_lint_h28(lint_ctx *c, const mk_op *op);
void mk_lint_h29(lint_ctx *c, const mk_op *op);
void mk_lint_h31(lint_ctx *c, const mk_op *op);
void mk_lint_h32(lint_ctx *c, const mk_op *op);
void mk_lint_h33(lint_ctx *c, const mk_op *op);
void mk_lint_h34(lint_ctx *c, const mk_op *op);
void mk_lint_h35(lint_ctx *c, const mk_op *op);
void mk_lint_h36(lint_ctx *c, const mk_op *op);
void mk_lint_h37(lint_ctx *c, const mk_op *op);
void mk_lint_h39(lint_ctx *c, const mk_op *op);
void mk_lint_h18_prog(lint_ctx *c);
void mk_lint_h19_prog(lint_ctx *c);
void mk_lint_h20_prog(lint_ctx *c);
void mk_lint_h23_prog(lint_ctx *c);
void mk_lint_h30_prog(lint_ctx *c);
const lint_rule *mk_lint_table(void);

/* ---- trigger helpers ---- */
/* Float element type of the op's main operand (x, or the first input), MK_DT_INVALID when
 * none. */
mk_dtype mk_lint_x_dtype(const mk_op *op);
const char *mk_lint_op_type(const mk_op *op);
int mk_lint_is_bound(const mk_op *op, const char *param);

/* ---- placement ---- */
/* Why op would run off the Neural Engine (a short reason), or NULL if predicted on it.
 * fp16_program: the program computes in fp16 (else every float op is off NE, H19). */
const char *mk_lint_off_ne_reason(const mk_op *op, int fp16_program, char *buf, size_t n);
int mk_lint_program_is_fp16(const mk_program *p);
/* Every op kind has a placement entry (for the table test); weights are not placed. */
int mk_lint_placement_known(mk_op_kind k);
int mk_lint_is_weight_op(const mk_op *op);

#endif
