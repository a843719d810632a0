/* The H5 scatter rewrite (fix_scatter): scatter, scatter_nd and scatter_along_axis with constant
 * indices (modes update and add, negative indices, fp32 and fp16 data) are flagged with a fix,
 * rewritten by mk_fix with interpreter verification, agree in fp16-emulate and leave no H5
 * finding nor scatter op; run-time indices, duplicate indices with mode add and out-of-range
 * indices are flagged without a fix and left alone. Modes sub/mul/div/max/min are checked
 * too. A mode index m means modes[m] in build(): 0 add, 1 update, 2.. the others. */
#include <math.h>
#include <stdlib.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_lint_cases.h"
#include "test_fix_util.h"

enum { V_TRIG, V_NEG, V_DUP, V_DYN, V_OOR };

/* Indices for each op kind and variant (row-major; shapes fixed per kind below). */
static mk_value *indices(tb *t, mk_op_kind k, int v)
{
    if (v == V_DYN) {
        if (k == MK_OP_SCATTER) return tb_in(t, "ix", MK_DT_INT32, DIMS(3));
        return tb_in(t, "ix", MK_DT_INT32, DIMS(3, 2));
    }
    if (k == MK_OP_SCATTER) {
        /* data [4,6], axis 1, 3 indices, updates [4,3] */
        switch (v) {
        case V_NEG: return tb_ints(t, 3, -1, 0, -4);
        case V_DUP: return tb_ints(t, 3, 5, 0, 5);
        case V_OOR: return tb_ints(t, 3, 6, 0, 2);
        default: return tb_ints(t, 3, 5, 0, 2);
        }
    }
    int32_t a[6] = {4, 0, 1, 3, 2, 0};
    if (k == MK_OP_SCATTER_ND) {
        /* data [4,3,2], indices [3,2] of (row, col), updates [3,2] */
        int32_t b[6] = {1, 2, 3, 0, 0, 1};
        memcpy(a, b, sizeof a);
        if (v == V_NEG) a[0] = -3, a[3] = -3;
        if (v == V_DUP) a[4] = 1, a[5] = 2;
        if (v == V_OOR) a[2] = 4;
    } else {
        /* data [3,5], axis 1, indices [3,2], updates [3,2] */
        if (v == V_NEG) a[0] = -1, a[3] = -2;
        if (v == V_DUP) a[1] = 4;
        if (v == V_OOR) a[2] = -6;
    }
    mk_type ty = mk_type_make(MK_DT_INT32, 2, (int64_t[]){3, 2});
    return t->bad ? NULL : tb_chk(t, mk_ir_const(t->p, t->b, "ix", &ty, a, sizeof a, 0));
}

static void build(tb *t, mk_op_kind k, int mode, int v, int half)
{
    tb_init(t, 8);
    mk_value *x, *u;
    if (k == MK_OP_SCATTER) {
        x = tb_x(t, half, DIMS(4, 6));
        u = tb_in(t, "u", F32, DIMS(4, 3));
    } else if (k == MK_OP_SCATTER_ND) {
        x = tb_x(t, half, DIMS(4, 3, 2));
        u = tb_in(t, "u", F32, DIMS(3, 2));
    } else {
        x = tb_x(t, half, DIMS(3, 5));
        u = tb_in(t, "u", F32, DIMS(3, 2));
    }
    if (half) u = tb_op(t, MK_OP_CAST, "u_fp16", "x", u, "dtype", tb_str(t, "fp16"), NULL);
    mk_value *ix = indices(t, k, v);
    static const char *const modes[] = {"add", "update", "sub", "mul", "div", "max", "min"};
    mk_value *mv = tb_str(t, modes[mode]);
    mk_value *y = k == MK_OP_SCATTER_ND
                      ? tb_op(t, k, "y", "data", x, "indices", ix, "updates", u, "mode", mv, NULL)
                      : tb_op(t, k, "y", "data", x, "indices", ix, "updates", u, "axis",
                              tb_int(t, 1), "mode", mv, NULL);
    if (half) y = tb_op(t, MK_OP_CAST, "y_fp32", "x", y, "dtype", tb_str(t, "fp32"), NULL);
    tb_out(t, y);
}

/* H5 findings on p; *n_fix of them name fix_scatter; the first message into msg. */
static int h5_findings(const mk_program *p, int *n_fix, char *msg, size_t mn)
{
    rule_hits h;
    int n = lint_hits(p, "H5", 0, NULL, &h);
    *n_fix = n > 0 && !strcmp(h.fix, "fix_scatter") ? h.n_fix : 0;
    if (msg) snprintf(msg, mn, "%s", h.message);
    return n;
}

static int count_scatters(const mk_program *p)
{
    int n = 0;
    for (int i = 0; i < p->n_functions; i++) {
        MK_FOR_OPS(p->functions[i]->block, op)
        {
            n += op->kind == MK_OP_SCATTER || op->kind == MK_OP_SCATTER_ND ||
                 op->kind == MK_OP_SCATTER_ALONG_AXIS;
        }
    }
    return n;
}

static const char *kname(mk_op_kind k)
{
    return mk_ir_op_info(k)->name;
}

static void check_fixed(mk_test_ctx *tc, mk_op_kind k, int mode, int v, int half)
{
    tb t;
    build(&t, k, mode, v, half);
    CHECK_MSG(!t.bad, "%s: build failed: %s", kname(k), t.e.msg);
    if (t.bad) {
        mk_ir_program_free(t.p);
        return;
    }
    int nfix = 0;
    char msg[600];
    int n = h5_findings(t.p, &nfix, msg, sizeof msg);
    CHECK_MSG(n == 1 && nfix == 1, "%s mode=%d v=%d half=%d: %d findings, %d with fix (%s)",
              kname(k), mode, v, half, n, nfix, msg);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = "H5";
    fo.seed = 11;
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_err e = {MK_OK, ""};
    mk_status st = mk_fix(t.p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "%s: fix failed: %s", kname(k), e.msg);
    if (st != MK_OK) {
        mk_ir_program_free(t.p);
        return;
    }
    int changed = 0;
    for (int i = 0; i < rep.n_rows; i++)
        if (!strcmp(rep.rows[i].pass, "fix_scatter")) changed += rep.rows[i].ops_changed;
    CHECK_MSG(changed == 1, "%s: fix_scatter changed %d ops", kname(k), changed);
    CHECK_MSG(rep.verified && rep.max_err <= (half ? 1e-2 : 1e-6), "%s: verified %d max err %g",
              kname(k), rep.verified, rep.max_err);
    CHECK_MSG(h5_findings(q, &nfix, NULL, 0) == 0, "%s: still flagged after fix", kname(k));
    CHECK_MSG(count_scatters(q) == 0, "%s: scatter left after fix", kname(k));
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "%s: fixed program invalid: %s", kname(k), e.msg);
    /* fp32 on two more seeds (exact), and fp16-emulate within half precision */
    for (int s = 0; s < 3; s++) {
        mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
        mk_run_options ro = {s == 2, 1, 0};
        if (mk_random_inputs(t.p, 100u + (unsigned)s, &in, &e) == MK_OK &&
            mk_run(t.p, &ro, &in, &a, &e) == MK_OK && mk_run(q, &ro, &in, &b, &e) == MK_OK) {
            double x = s == 2 ? excess(&b, &a, 2e-2, 2e-2) : excess(&b, &a, 0, 0);
            CHECK_MSG(x <= 0, "%s mode=%d v=%d half=%d emu=%d: outputs differ (excess %g)",
                      kname(k), mode, v, half, s == 2, x);
        } else {
            CHECK_MSG(0, "%s: run failed: %s", kname(k), e.msg);
        }
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
    }
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

static void check_left(mk_test_ctx *tc, mk_op_kind k, int mode, int v, const char *reason)
{
    tb t;
    build(&t, k, mode, v, 0);
    CHECK_MSG(!t.bad, "%s: build failed: %s", kname(k), t.e.msg);
    if (t.bad) {
        mk_ir_program_free(t.p);
        return;
    }
    int nfix = 0;
    char msg[600];
    int n = h5_findings(t.p, &nfix, msg, sizeof msg);
    CHECK_MSG(n == 1 && nfix == 0, "%s v=%d: %d findings, %d with fix", kname(k), v, n, nfix);
    CHECK_MSG(strstr(msg, reason) != NULL, "%s v=%d: message '%s' lacks '%s'", kname(k), v, msg,
              reason);
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_pass_fix_scatter(t.p, &e), 0);
    CHECK_EQ_INT(count_scatters(t.p), 1);
    mk_ir_program_free(t.p);
}

static const mk_op_kind kinds[] = {MK_OP_SCATTER, MK_OP_SCATTER_ND, MK_OP_SCATTER_ALONG_AXIS};

TEST(fix_scatter_update_add)
{
    for (int i = 0; i < 3; i++)
        for (int mode = 0; mode < 2; mode++) {
            check_fixed(tc, kinds[i], mode, V_TRIG, 0);
            check_fixed(tc, kinds[i], mode, V_NEG, 0);
        }
}

TEST(fix_scatter_fp16)
{
    for (int i = 0; i < 3; i++)
        for (int mode = 0; mode < 2; mode++) check_fixed(tc, kinds[i], mode, V_TRIG, 1);
}

/* Duplicate indices: mode update keeps the interpreter's last write; add/max are left alone. */
TEST(fix_scatter_duplicates)
{
    for (int i = 0; i < 3; i++) {
        check_fixed(tc, kinds[i], 1, V_DUP, 0);
        check_left(tc, kinds[i], 0, V_DUP, "duplicate");
        check_left(tc, kinds[i], 5, V_DUP, "duplicate");
    }
}

/* sub, mul, div (real_div), max, min: the elementwise op of the mode. */
TEST(fix_scatter_other_modes)
{
    for (int i = 0; i < 3; i++)
        for (int mode = 2; mode < 7; mode++) check_fixed(tc, kinds[i], mode, V_NEG, 0);
}

TEST(fix_scatter_near_miss)
{
    for (int i = 0; i < 3; i++)
        for (int mode = 0; mode < 2; mode++) {
            check_left(tc, kinds[i], mode, V_DYN, "not constant");
            check_left(tc, kinds[i], mode, V_OOR, "out of range");
        }
}

/* A data tensor above 2^24 elements is left to lint (checked on shapes only: nothing runs). */
TEST(fix_scatter_size_bound)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_in(&t, "x", F32, DIMS(4097, 4096));
    mk_value *u = tb_in(&t, "u", F32, DIMS(1, 4096));
    tb_out(&t, tb_op(&t, MK_OP_SCATTER, "y", "data", x, "indices", tb_ints(&t, 1, 7), "updates", u,
                     "axis", tb_int(&t, 0), "mode", tb_str(&t, "update"), NULL));
    REQUIRE(!t.bad);
    int nfix = 0;
    char msg[600];
    CHECK_EQ_INT(h5_findings(t.p, &nfix, msg, sizeof msg), 1);
    CHECK_EQ_INT(nfix, 0);
    CHECK_MSG(strstr(msg, "2^24") != NULL, "message: %s", msg);
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_pass_fix_scatter(t.p, &e), 0);
    CHECK_EQ_INT(count_scatters(t.p), 1);
    mk_ir_program_free(t.p);
}
