/* Fix passes: for every rule with a fix, the fixed program gives the same outputs as the
 * original in the interpreter (fp32, and fp16-emulate with a half-precision tolerance) on
 * seeded random inputs, and no longer triggers the rule. Also the deep copy, the mismatch
 * refusal, the goldens b_/c_/e_ through `milkit fix`, and the fp16/int8 passes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_fix_util.h"
#include "test_lint_cases.h"

static int rule_count(const mk_program *p, const char *rule, int assume)
{
    rule_hits h;
    return lint_hits(p, rule, assume, NULL, &h);
}

static void run_fix_case(mk_test_ctx *tc, const lcase *c)
{
    tb t;
    c->build(&t, 1);
    CHECK_MSG(!t.bad, "%s: build failed: %s", c->rule, t.e.msg);
    if (t.bad) {
        mk_ir_program_free(t.p);
        return;
    }
    CHECK_MSG(rule_count(t.p, c->rule, c->assume_fp16) > 0, "%s: not flagged", c->rule);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = c->rule;
    fo.assume_fp16 = c->assume_fp16;
    fo.ane_layout = c->ane_layout;
    fo.seed = 7;
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_err e = {MK_OK, ""};
    mk_status st = mk_fix(t.p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "%s: fix failed: %s", c->rule, e.msg);
    if (st != MK_OK) {
        mk_ir_program_free(t.p);
        return;
    }
    CHECK_MSG(rep.n_rows > 0 && rep.rows[0].ops_changed > 0, "%s: nothing changed", c->rule);
    /* fp16 programs store every intermediate in half precision: allow its rounding */
    double tol = c->build == c_h9 || c->build == c_h10 || c->build == c_h11 || c->build == c_h12 ||
                         c->build == c_h13
                     ? 1e-2
                     : 1e-4;
    CHECK_MSG(rep.verified && rep.max_err <= tol, "%s: max error %g", c->rule, rep.max_err);
    CHECK_MSG(rule_count(q, c->rule, c->assume_fp16) == 0, "%s: still flagged after fix", c->rule);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "%s: fixed program invalid: %s", c->rule, e.msg);
    /* fp16-emulate: original and fixed agree to half precision */
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
    mk_run_options ro = {1, 1, 3};
    if (mk_random_inputs(t.p, 3, &in, &e) == MK_OK && mk_run(t.p, &ro, &in, &a, &e) == MK_OK &&
        mk_run(q, &ro, &in, &b, &e) == MK_OK) {
        double x = excess(&b, &a, 2e-2, 2e-2);
        CHECK_MSG(x <= 0, "%s: fp16-emulate outputs differ (excess %g)", c->rule, x);
    } else {
        CHECK_MSG(0, "%s: fp16-emulate run failed: %s", c->rule, e.msg);
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

static int have_cli(void)
{
    return access(mk_test_bin(), X_OK) == 0;
}

static void fix_rule(mk_test_ctx *tc, const char *rule)
{
    int seen = 0;
    for (size_t k = 0; k < sizeof lint_cases / sizeof *lint_cases; k++)
        if (!strcmp(lint_cases[k].rule, rule) && lint_cases[k].fixable) {
            seen = 1;
            run_fix_case(tc, &lint_cases[k]);
        }
    CHECK_MSG(seen, "%s: no fix case", rule);
}

#define FIX_TEST(r)                                                                                \
    TEST(fix_rule_##r)                                                                             \
    {                                                                                              \
        fix_rule(tc, #r);                                                                          \
    }
FIX_TEST(H1)
FIX_TEST(H2)
FIX_TEST(H3)
FIX_TEST(H4)
FIX_TEST(H5)
FIX_TEST(H6)
FIX_TEST(H7)
FIX_TEST(H8)
FIX_TEST(H9)
FIX_TEST(H10)
FIX_TEST(H11)
FIX_TEST(H12)
FIX_TEST(H13)
FIX_TEST(H14)
FIX_TEST(H15)
FIX_TEST(H16)
FIX_TEST(H22)
FIX_TEST(H25)
FIX_TEST(H27)
FIX_TEST(H32)
FIX_TEST(H35)
FIX_TEST(H36)
FIX_TEST(H39)

TEST(fix_pass_table_is_consistent_with_rules)
{
    for (int i = 0; i < mk_lint_rule_count(); i++) {
        const mk_lint_rule *r = mk_lint_rule_at(i);
        for (const char *s = r->fix; s && *s;) { /* "a" or "a, b" */
            char name[64];
            size_t n = strcspn(s, ",");
            REQUIRE(n < sizeof name);
            memcpy(name, s, n);
            name[n] = 0;
            const mk_pass_info *pi = mk_pass_find(name);
            CHECK_MSG(pi != NULL, "%s names unknown pass '%s'", r->id, name);
            if (pi) CHECK_MSG(mk_rule_list_has(pi->hazards, r->id), "%s not in %s", r->id, name);
            s += n;
            s += strspn(s, ", ");
        }
    }
    for (int i = 0; i < mk_pass_count(); i++) {
        const mk_pass_info *pi = mk_pass_at(i);
        CHECK(pi->name && pi->fn && pi->purpose && pi->purpose[0]);
    }
}

TEST(fix_h1_fallback_bias_split_matches)
{
    tb t;
    c_h1(&t, 1);
    REQUIRE(!t.bad);
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_clone(t.p, &q, &e) == MK_OK);
    mk_test_owned(q); /* fault runs: the test's own */
    CHECK_EQ_INT(mk_pass_fix_conv_transpose_1d_bias(q, &e), 1);
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
    mk_run_options ro = {0, 1, 5};
    REQUIRE(mk_random_inputs(t.p, 5, &in, &e) == MK_OK);
    CHECK(mk_run(t.p, &ro, &in, &a, &e) == MK_OK);
    CHECK(mk_run(q, &ro, &in, &b, &e) == MK_OK);
    CHECK(excess(&b, &a, 1e-5, 1e-4) <= 0);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_h2_explicit_pad_form_matches)
{
    tb t;
    c_h2(&t, 1);
    REQUIRE(!t.bad);
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_clone(t.p, &q, &e) == MK_OK);
    mk_test_owned(q); /* fault runs: the test's own */
    CHECK_EQ_INT(mk_pass_fix_conv_padding_explicit(q, &e), 1);
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
    mk_run_options ro = {0, 1, 5};
    REQUIRE(mk_random_inputs(t.p, 5, &in, &e) == MK_OK);
    CHECK(mk_run(t.p, &ro, &in, &a, &e) == MK_OK);
    CHECK(mk_run(q, &ro, &in, &b, &e) == MK_OK);
    CHECK(excess(&b, &a, 1e-5, 1e-4) <= 0);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_h4_long_cumsum_uses_blocks)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_x(&t, 0, DIMS(1, 2048));
    tb_out(&t, tb_op(&t, MK_OP_CUMSUM, "y", "x", x, "axis", tb_int(&t, 1), NULL));
    REQUIRE(!t.bad);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.atol = 1e-3; /* 2048-long fp32 sums in a different order */
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_fix(t.p, &fo, &q, &rep, &e) == MK_OK, "%s", e.msg);
    if (q) {
        CHECK_EQ_INT(rule_count(q, "H4", 0), 0);
        int n_mm = 0;
        MK_FOR_OPS(mk_ir_main(q)->block, op) n_mm += op->kind == MK_OP_MATMUL;
        CHECK_EQ_INT(n_mm, 2);
    }
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_refuses_when_results_change)
{
    /* H13 raises epsilon; with a tolerance of 0 the (tiny) change must be refused */
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_x(&t, 0, DIMS(2, 4));
    tb_out(&t, tb_op(&t, MK_OP_LAYER_NORM, "y", "x", x, "axes", tb_ints(&t, 1, -1), "epsilon",
                     tb_scalar(&t, F32, 0), NULL));
    REQUIRE(!t.bad);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.assume_fp16 = 1;
    fo.atol = 1e-300;
    fo.rtol = 1e-300;
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    mk_status st = mk_fix(t.p, &fo, &q, NULL, &e);
    CHECK_MSG(st == MK_EMISMATCH, "status %d: %s", st, e.msg);
    CHECK(q == NULL);
    CHECK(strstr(e.msg, "fix_epsilon") != NULL);
    mk_ir_program_free(t.p);
}

TEST(fix_clone_is_independent)
{
    tb t;
    c_h7(&t, 1);
    REQUIRE(!t.bad);
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_clone(t.p, &q, &e) == MK_OK);
    mk_test_owned(q); /* fault runs: the test's own */
    int n0 = 0, n1 = 0;
    MK_FOR_OPS(mk_ir_main(t.p)->block, op) n0++;
    CHECK(mk_pass_fix_pow(q, &e) == 1);
    MK_FOR_OPS(mk_ir_main(t.p)->block, op) n1++;
    CHECK_EQ_INT(n0, n1);
    CHECK(mk_ir_verify(q, &e) == MK_OK);
    CHECK_EQ_INT(rule_count(t.p, "H7", 0), 1);
    CHECK_EQ_INT(rule_count(q, "H7", 0), 0);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_fp16_pass_keeps_outputs_to_half_precision)
{
    tb t;
    c_h25(&t, 1);
    REQUIRE(!t.bad);
    mk_program *q = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_clone(t.p, &q, &e) == MK_OK);
    mk_test_owned(q); /* fault runs: the test's own */
    CHECK_MSG(mk_pass_fp16(q, &e) > 0, "%s", e.msg);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "%s", e.msg);
    int half = 0;
    MK_FOR_OPS(mk_ir_main(q)->block, op)
    half |= op->kind == MK_OP_LINEAR && op->outputs[0]->type.dtype == MK_DT_FP16;
    CHECK(half);
    CHECK(mk_ir_main(q)->block->outputs[0]->type.dtype == MK_DT_FP32);
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
    mk_run_options ro = {0, 1, 5};
    REQUIRE(mk_random_inputs(t.p, 5, &in, &e) == MK_OK);
    CHECK(mk_run(t.p, &ro, &in, &a, &e) == MK_OK);
    CHECK_MSG(mk_run(q, &ro, &in, &b, &e) == MK_OK, "%s", e.msg);
    CHECK(excess(&b, &a, 1e-2, 1e-2) <= 0);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_quantize_int8_keeps_outputs)
{
    for (int spec = 7; spec <= 9; spec += 2) {
        tb t;
        tb_init(&t, spec);
        mk_value *x = tb_x(&t, 0, DIMS(2, 128));
        tb_out(&t, tb_op(&t, MK_OP_LINEAR, "y", "x", x, "weight",
                         tb_const(&t, "w", F32, DIMS(64, 128), -0.5, 1.0 / 8192), NULL));
        REQUIRE(!t.bad);
        mk_program *q = NULL;
        mk_err e = {MK_OK, ""};
        REQUIRE(mk_program_clone(t.p, &q, &e) == MK_OK);
        mk_test_owned(q); /* fault runs: the test's own */
        CHECK_MSG(mk_pass_quantize_int8(q, &e) == 1, "spec %d: %s", spec, e.msg);
        int cx = 0;
        MK_FOR_OPS(mk_ir_main(q)->block, op)
        cx += op->kind == (spec >= 9 ? MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE
                                     : MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE);
        CHECK_EQ_INT(cx, 1);
        mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
        mk_run_options ro = {0, 1, 5};
        REQUIRE(mk_random_inputs(t.p, 5, &in, &e) == MK_OK);
        CHECK(mk_run(t.p, &ro, &in, &a, &e) == MK_OK);
        CHECK_MSG(mk_run(q, &ro, &in, &b, &e) == MK_OK, "spec %d: %s", spec, e.msg);
        CHECK(excess(&b, &a, 5e-2, 2e-2) <= 0);
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
        mk_program_free(q);
        mk_ir_program_free(t.p);
    }
}

TEST(fix_golden_packages_via_cli)
{
    const char *sh = mk_test_shared_dir();
    if (!sh) SKIP("shared reference dir (../shared) not present");
    if (!have_cli()) SKIP("milkit binary not built (%s)", mk_test_bin());
    static const char *const pk[] = {"b_convtranspose1d_768to384_k7s3p2_fp32_ios17",
                                     "c_convtranspose1d_768to384_k7s3p2_fp16_ios17",
                                     "e_cumsum_fp32_ios17"};
    static const char *const rule[] = {"H1", "H1", "H4"};
    char out[8192];
    for (int i = 0; i < 3; i++) {
        char in[1024], dst[1024];
        snprintf(in, sizeof in, "%s/golden/%s.mlpackage", sh, pk[i]);
        snprintf(dst, sizeof dst, "%s/fixed_%s.mlpackage", mk_test_tmpdir(), pk[i]);
        int rc = mk_test_sh(out, sizeof out, "'%s' fix '%s' -o '%s'", mk_test_bin(), in, dst);
        if (rc != 0 && strstr(out, "not available in this build"))
            SKIP("milkit binary lacks a command this test needs: %s", out);
        CHECK_MSG(rc == 0, "fix %s: rc %d: %s", pk[i], rc, out);
        if (rc) continue;
        CHECK_MSG(strstr(out, rule[i]) != NULL, "%s: table lacks %s: %s", pk[i], rule[i], out);
        mk_program *p = NULL, *q = NULL;
        mk_err e = {MK_OK, ""};
        if (mk_program_load(dst, NULL, &q, &e) != MK_OK || mk_program_load(in, NULL, &p, &e)) {
            CHECK_MSG(0, "%s: reload: %s", pk[i], e.msg);
        } else {
            CHECK_MSG(rule_count(q, rule[i], 0) == 0, "%s: still flagged %s", pk[i], rule[i]);
            mk_tensor_list x = {0, NULL}, a = {0, NULL}, b = {0, NULL};
            mk_run_options ro = {0, 0, 9};
            if (mk_random_inputs(p, 9, &x, &e) == MK_OK && mk_run(p, &ro, &x, &a, &e) == MK_OK &&
                mk_run(q, &ro, &x, &b, &e) == MK_OK)
                CHECK_MSG(excess(&b, &a, 1e-3, 1e-3) <= 0, "%s: outputs differ", pk[i]);
            else
                CHECK_MSG(0, "%s: run: %s", pk[i], e.msg);
            mk_tensor_list_free(&x);
            mk_tensor_list_free(&a);
            mk_tensor_list_free(&b);
        }
        mk_program_free(q);
        mk_program_free(p);
    }
}

TEST(fix_cli_lint_exit_codes_and_formats)
{
    const char *sh = mk_test_shared_dir();
    if (!sh) SKIP("shared reference dir (../shared) not present");
    if (!have_cli()) SKIP("milkit binary not built (%s)", mk_test_bin());
    char out[65536], in[1024];
    snprintf(in, sizeof in, "%s/golden/e_cumsum_fp32_ios17.mlpackage", sh);
    int rc = mk_test_sh(out, sizeof out, "'%s' lint '%s' --sarif", mk_test_bin(), in);
    if (rc == 2 && strstr(out, "not available in this build"))
        SKIP("milkit binary lacks a command this test needs: %s", out);
    CHECK_MSG(rc == 1, "lint rc %d: %s", rc, out);
    CHECK(strstr(out, "\"2.1.0\"") && strstr(out, "\"H4\""));
    rc = mk_test_sh(out, sizeof out, "'%s' lint '%s' --placement", mk_test_bin(), in);
    CHECK_MSG(rc == 1 && strstr(out, "not a measurement"), "placement rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "'%s' lint '%s' --only H1", mk_test_bin(), in);
    CHECK_MSG(rc == 0, "clean lint rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "'%s' lint /nonexistent.mlpackage", mk_test_bin());
    CHECK_EQ_INT(rc, 2);
    rc = mk_test_sh(out, sizeof out, "'%s' graph '%s' --dot", mk_test_bin(), in);
    CHECK_MSG(rc == 0 && strstr(out, "digraph"), "graph rc %d: %s", rc, out);
}

TEST(fix_h33_shared_slope_becomes_per_channel)
{
    tb t;
    c_h33(&t, 1);
    REQUIRE(!t.bad);
    mk_err e = {MK_OK, ""};
    CHECK(mk_ir_verify(t.p, &e) != MK_OK); /* MIL wants one slope per channel */
    CHECK_EQ_INT(rule_count(t.p, "H33", 0), 1);
    CHECK_EQ_INT(mk_pass_fix_prelu_slope(t.p, &e), 1);
    CHECK_MSG(mk_ir_verify(t.p, &e) == MK_OK, "%s", e.msg);
    CHECK_EQ_INT(rule_count(t.p, "H33", 0), 0);
    mk_tensor_list in = {0, NULL}, a = {0, NULL};
    mk_run_options ro = {0, 1, 5};
    REQUIRE(mk_random_inputs(t.p, 5, &in, &e) == MK_OK);
    CHECK_MSG(mk_run(t.p, &ro, &in, &a, &e) == MK_OK, "%s", e.msg);
    if (a.n == 1 && in.n == 1) {
        const float *x = in.items[0].data, *y = a.items[0].data;
        for (size_t i = 0; i < in.items[0].nbytes / 4; i++)
            CHECK(fabsf(y[i] - (x[i] >= 0 ? x[i] : 0.25f * x[i])) <= 1e-6f);
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_ir_program_free(t.p);
}

TEST(fix_h37_integer_linear_becomes_matmul)
{
    /* the interpreter (like Core ML) refuses integer linear, so check the fixed program
     * against the integer math computed here */
    tb t;
    c_h37(&t, 1);
    REQUIRE(!t.bad);
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(rule_count(t.p, "H37", 0), 1);
    CHECK_EQ_INT(mk_pass_fix_int_linear(t.p, &e), 1);
    CHECK_MSG(mk_ir_verify(t.p, &e) == MK_OK, "%s", e.msg);
    CHECK_EQ_INT(rule_count(t.p, "H37", 0), 0);
    mk_tensor_list in = {0, NULL}, a = {0, NULL};
    mk_run_options ro = {0, 1, 5};
    REQUIRE(mk_random_inputs(t.p, 5, &in, &e) == MK_OK);
    CHECK_MSG(mk_run(t.p, &ro, &in, &a, &e) == MK_OK, "%s", e.msg);
    if (a.n == 1 && in.n == 1 && a.items[0].dtype == 23) {
        const int32_t *x = in.items[0].data, *y = a.items[0].data;
        for (int i = 0; i < 2; i++)
            for (int o = 0; o < 4; o++) {
                int32_t want = 1 + o; /* bias b[o] = 1 + o, weight w[o][k] = -2 + 3o + k */
                for (int k = 0; k < 3; k++) want += x[i * 3 + k] * (-2 + 3 * o + k);
                CHECK_EQ_INT(y[i * 4 + o], want);
            }
    } else {
        CHECK_MSG(0, "unexpected outputs (n=%d)", a.n);
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_ir_program_free(t.p);
}

TEST(fix_and_lint_survive_allocation_failures)
{
    /* fail the Nth allocation of lint and of fix (clone + passes) until both succeed */
    tb t;
    c_h1(&t, 1);
    REQUIRE(!t.bad);
    const mk_allocator *saved = t.p->alloc;
    int lint_ok = 0, fix_ok = 0, fix_fails = 0;
    for (long n = 1; n < 5000 && !(lint_ok && fix_ok); n++) {
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, n);
        t.p->alloc = &fa.base;
        mk_err e = {MK_OK, ""};
        if (!lint_ok) {
            mk_findings *f = NULL;
            mk_status st = mk_lint(t.p, NULL, &f, &e);
            CHECK_MSG(st == MK_OK || st == MK_ENOMEM, "lint at %ld: %s", n, e.msg);
            lint_ok = st == MK_OK;
            mk_findings_free(f);
        }
        mk_failing_alloc_init(&fa, n);
        e.code = MK_OK;
        e.msg[0] = 0;
        if (!fix_ok) {
            mk_fix_options fo;
            memset(&fo, 0, sizeof fo);
            fo.no_verify = 1;
            mk_program *q = NULL;
            mk_status st = mk_fix(t.p, &fo, &q, NULL, &e);
            CHECK_MSG(st == MK_OK || st == MK_ENOMEM, "fix at %ld: %d %s", n, st, e.msg);
            fix_ok = st == MK_OK;
            fix_fails += st == MK_ENOMEM;
            if (q) mk_program_free(q);
        }
    }
    t.p->alloc = saved;
    CHECK(lint_ok && fix_ok);
    CHECK_MSG(fix_fails > 3, "only %d failing runs", fix_fails);
    mk_ir_program_free(t.p);
}
