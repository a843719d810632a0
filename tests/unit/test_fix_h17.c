/* H17 opt-in fix (fix_avg_pool_ceil): avg_pool ceil_mode overhangs, 1-D and 2-D, with and
 * without explicit pads. The interpreter's source-framework semantics on the ORIGINAL must
 * equal the fixed program run with Core ML semantics (fp32, fp16-emulate) and a naive
 * PyTorch-style loop; the fixed program must differ from the original under Core ML
 * semantics at the edge windows; near misses stay unflagged; the fix runs only when asked. */
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "test.h"
#include "test_lint_build.h"
#include "test_fix_util.h"

typedef struct pcase {
    const char *what;
    int ns;         /* spatial rank */
    int64_t in[2];  /* spatial input size */
    int64_t k, s;   /* square kernel / stride */
    int64_t pad[4]; /* begin/end per spatial axis (custom when any is nonzero) */
    int excl, ceil; /* exclude_padding_from_average, ceil_mode */
} pcase;

static const pcase trig_cases[] = {
    {"2-D no pads", 2, {5, 6}, 2, 2, {0, 0, 0, 0}, 0, 1},
    {"2-D pads", 2, {6, 7}, 3, 2, {1, 1, 1, 1}, 0, 1},
    {"1-D no pads", 1, {7, 0}, 2, 2, {0, 0, 0, 0}, 0, 1},
    {"1-D pads", 1, {8, 0}, 3, 2, {1, 1, 0, 0}, 0, 1},
};

static const pcase near_misses[] = {
    {"ceil_mode without overhang", 2, {6, 6}, 2, 2, {0, 0, 0, 0}, 0, 1},
    {"exclude_padding_from_average=true", 2, {5, 6}, 2, 2, {0, 0, 0, 0}, 1, 1},
    {"no ceil_mode", 2, {5, 6}, 2, 2, {0, 0, 0, 0}, 0, 0},
};

static int has_pads(const pcase *c)
{
    return c->pad[0] || c->pad[1] || c->pad[2] || c->pad[3];
}

static void build(tb *t, const pcase *c)
{
    tb_init(t, 8);
    mk_value *x = c->ns == 2 ? tb_in(t, "x", MK_DT_FP32, DIMS(1, 3, c->in[0], c->in[1]))
                             : tb_in(t, "x", MK_DT_FP32, DIMS(1, 3, c->in[0]));
    int custom = has_pads(c);
    mk_value *ks = c->ns == 2 ? tb_ints(t, 2, (int)c->k, (int)c->k) : tb_ints(t, 1, (int)c->k);
    mk_value *st = c->ns == 2 ? tb_ints(t, 2, (int)c->s, (int)c->s) : tb_ints(t, 1, (int)c->s);
    mk_value *pd =
        c->ns == 2 ? tb_ints(t, 4, (int)c->pad[0], (int)c->pad[1], (int)c->pad[2], (int)c->pad[3])
                   : tb_ints(t, 2, (int)c->pad[0], (int)c->pad[1]);
    tb_out(t,
           tb_op(t, MK_OP_AVG_POOL, "y", "x", x, "kernel_sizes", ks, "strides", st, "pad_type",
                 tb_str(t, custom ? "custom" : "valid"), "pad", pd, "ceil_mode",
                 tb_bool(t, c->ceil), "exclude_padding_from_average", tb_bool(t, c->excl), NULL));
}

/* H17 findings of p; *fix gets the pass the first one names (NULL when none). */
static int h17(const mk_program *p, const char **fix)
{
    static rule_hits h;
    int n = lint_hits(p, "H17", 0, NULL, &h);
    if (fix) *fix = h.fix[0] ? h.fix : NULL;
    return n;
}

static int count_ops(const mk_program *p, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(p->functions[0]->block, op) n += op->kind == k;
    return n;
}

static mk_status run_sem(const mk_program *p, int half, int source, const mk_tensor_list *in,
                         mk_tensor_list *out, mk_err *e)
{
    mk_run_options ro = {half, 1, 0};
    mk_session *s = NULL;
    mk_status st = mk_session_new(p, &ro, &s, e);
    if (st) return st;
    mk_run_semantics sem = {source};
    mk_session_set_semantics(s, &sem);
    st = mk_session_run(s, in, out, NULL, e);
    mk_session_free(s);
    return st;
}

static double max_diff(const mk_tensor_list *a, const mk_tensor_list *b)
{
    if (a->n != 1 || b->n != 1 || a->items[0].nbytes != b->items[0].nbytes) return INFINITY;
    const float *x = a->items[0].data, *y = b->items[0].data;
    double m = 0;
    for (size_t i = 0; i < a->items[0].nbytes / 4; i++) {
        double d = fabs((double)x[i] - y[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* PyTorch AvgPool (count_include_pad=True, ceil_mode=True) on one channel plane: the window
 * clipped to input + explicit pads is the divisor; the sum covers real elements only. */
static double torch_avg(const pcase *c, const float *x, const int64_t *o)
{
    int64_t H = c->ns == 2 ? c->in[0] : 1, W = c->ns == 2 ? c->in[1] : c->in[0];
    int64_t ph = c->ns == 2 ? c->pad[0] : 0, pw = c->ns == 2 ? c->pad[2] : c->pad[0];
    int64_t peh = c->ns == 2 ? c->pad[1] : 0, pew = c->ns == 2 ? c->pad[3] : c->pad[1];
    int64_t kh = c->ns == 2 ? c->k : 1, sh = c->ns == 2 ? c->s : 1;
    int64_t h0 = o[0] * sh - ph, w0 = o[1] * c->s - pw;
    int64_t h1 = h0 + kh < H + peh ? h0 + kh : H + peh,
            w1 = w0 + c->k < W + pew ? w0 + c->k : W + pew;
    double acc = 0;
    for (int64_t i = h0; i < h1; i++)
        for (int64_t j = w0; j < w1; j++)
            if (i >= 0 && i < H && j >= 0 && j < W) acc += x[i * W + j];
    return acc / (double)((h1 - h0) * (w1 - w0));
}

static void check_case(mk_test_ctx *tc, const pcase *c)
{
    tb t;
    build(&t, c);
    CHECK_MSG(!t.bad, "%s: build: %s", c->what, t.e.msg);
    if (t.bad) {
        mk_ir_program_free(t.p);
        return;
    }
    const char *fix = NULL;
    CHECK_MSG(h17(t.p, &fix) == 1, "%s: not flagged", c->what);
    CHECK_MSG(fix && !strcmp(fix, "fix_avg_pool_ceil"), "%s: fix %s", c->what, fix ? fix : "-");
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = "H17";
    fo.seed = 5;
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_err e = {MK_OK, ""};
    mk_status st = mk_fix(t.p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "%s: fix: %s", c->what, e.msg);
    if (st != MK_OK) {
        mk_ir_program_free(t.p);
        return;
    }
    REQUIRE(rep.n_rows == 1);
    CHECK_STR(rep.rows[0].pass, "fix_avg_pool_ceil");
    CHECK_EQ_INT(rep.rows[0].source_semantics, 1);
    CHECK_MSG(rep.verified && rep.max_err <= 1e-5, "%s: max error %g", c->what, rep.max_err);
    CHECK_MSG(h17(q, NULL) == 0, "%s: still flagged after the fix", c->what);
    CHECK_EQ_INT(count_ops(q, MK_OP_PAD), has_pads(c) ? 1 : 0);
    CHECK_EQ_INT(count_ops(q, MK_OP_AVG_POOL), 1);
    CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "%s: fixed program invalid: %s", c->what, e.msg);

    for (unsigned long long seed = 1; seed <= 3; seed++) {
        mk_tensor_list in = {0, NULL}, src = {0, NULL}, fx = {0, NULL}, cm = {0, NULL};
        mk_tensor_list src16 = {0, NULL}, fx16 = {0, NULL};
        if (mk_random_inputs(t.p, seed, &in, &e) != MK_OK ||
            run_sem(t.p, 0, 1, &in, &src, &e) != MK_OK || run_sem(q, 0, 0, &in, &fx, &e) ||
            run_sem(t.p, 0, 0, &in, &cm, &e) || run_sem(t.p, 1, 1, &in, &src16, &e) ||
            run_sem(q, 1, 0, &in, &fx16, &e)) {
            CHECK_MSG(0, "%s: run: %s", c->what, e.msg);
        } else {
            /* source semantics on the original == the fixed program under Core ML's */
            double d = max_diff(&src, &fx), d16 = max_diff(&src16, &fx16);
            CHECK_MSG(d <= 1e-6, "%s seed %llu: fp32 differs by %g", c->what, seed, d);
            CHECK_MSG(d16 <= 1e-2, "%s seed %llu: fp16 differs by %g", c->what, seed, d16);
            /* the fix changes Core ML's numbers at the edge windows (the test can fail) */
            const mk_tensor *y = &fx.items[0], *y0 = &cm.items[0];
            size_t n = y->nbytes / 4;
            const float *a = y->data, *b = y0->data;
            CHECK_MSG(fabs((double)a[n - 1] - b[n - 1]) > 1e-3 * (fabs((double)b[n - 1]) + 1e-3),
                      "%s: last (edge) window unchanged: %g vs %g", c->what, a[n - 1], b[n - 1]);
            CHECK_MSG(fabsf(a[0] - b[0]) <= 1e-6f, "%s: first window changed", c->what);
            /* and a naive PyTorch loop agrees with the fixed program, channel 0 */
            int64_t oh = c->ns == 2 ? y->dims[2] : 1, ow = y->dims[c->ns == 2 ? 3 : 2];
            const float *x = in.items[0].data;
            double worst = 0;
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double r = torch_avg(c, x, (int64_t[]){i, j});
                    double g = fabs(r - a[i * ow + j]);
                    if (!(g <= worst)) worst = g;
                }
            CHECK_MSG(worst <= 1e-5, "%s: PyTorch reference differs by %g", c->what, worst);
        }
        mk_tensor_list_free(&in);
        mk_tensor_list_free(&src);
        mk_tensor_list_free(&fx);
        mk_tensor_list_free(&cm);
        mk_tensor_list_free(&src16);
        mk_tensor_list_free(&fx16);
    }
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_h17_2d_no_pads)
{
    check_case(tc, &trig_cases[0]);
}

TEST(fix_h17_2d_explicit_pads)
{
    check_case(tc, &trig_cases[1]);
}

TEST(fix_h17_1d_no_pads)
{
    check_case(tc, &trig_cases[2]);
}

TEST(fix_h17_1d_explicit_pads)
{
    check_case(tc, &trig_cases[3]);
}

TEST(fix_h17_near_misses_not_flagged)
{
    for (size_t i = 0; i < sizeof near_misses / sizeof *near_misses; i++) {
        tb t;
        build(&t, &near_misses[i]);
        CHECK_MSG(!t.bad, "%s: build: %s", near_misses[i].what, t.e.msg);
        if (!t.bad) CHECK_MSG(h17(t.p, NULL) == 0, "%s: flagged", near_misses[i].what);
        mk_ir_program_free(t.p);
    }
}

TEST(fix_h17_source_semantics_default_off)
{
    /* without the semantics switch (and without a ceil overhang) nothing changes */
    tb t;
    build(&t, &near_misses[0]);
    REQUIRE(!t.bad);
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, b = {0, NULL};
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_random_inputs(t.p, 2, &in, &e) == MK_OK);
    CHECK(run_sem(t.p, 0, 0, &in, &a, &e) == MK_OK && run_sem(t.p, 0, 1, &in, &b, &e) == MK_OK);
    CHECK(max_diff(&a, &b) == 0);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&b);
    mk_ir_program_free(t.p);
}

TEST(fix_h17_not_applied_unless_asked)
{
    tb t;
    build(&t, &trig_cases[1]);
    REQUIRE(!t.bad);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.seed = 5;
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_fix(t.p, &fo, &q, &rep, &e) == MK_OK);
    for (int i = 0; i < rep.n_rows; i++) CHECK(strcmp(rep.rows[i].pass, "fix_avg_pool_ceil"));
    CHECK_EQ_INT(h17(q, NULL), 1);
    CHECK_EQ_INT(count_ops(q, MK_OP_PAD), 0);
    mk_program_free(q);
    /* --only naming another rule leaves it alone too */
    fo.only = "H2";
    REQUIRE(mk_fix(t.p, &fo, &q, &rep, &e) == MK_OK);
    CHECK_EQ_INT(rep.n_rows, 0);
    CHECK_EQ_INT(h17(q, NULL), 1);
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(fix_h17_cli_only_h17)
{
    if (access(mk_test_bin(), X_OK) != 0) SKIP("milkit binary not built (%s)", mk_test_bin());
    tb t;
    build(&t, &trig_cases[1]);
    REQUIRE(!t.bad);
    char src[1024], dst[1024], out[8192];
    snprintf(src, sizeof src, "%s/h17_src.mlpackage", mk_test_tmpdir());
    snprintf(dst, sizeof dst, "%s/h17_fixed.mlpackage", mk_test_tmpdir());
    mk_err e = {MK_OK, ""};
    mk_status st = mk_program_save(t.p, src, MK_TARGET_DEFAULT, &e);
    mk_ir_program_free(t.p);
    if (st != MK_OK) {
        CHECK_MSG(0, "save: %s", e.msg);
        return;
    }
    int rc =
        mk_test_sh(out, sizeof out, "'%s' fix '%s' -o '%s' --only H17", mk_test_bin(), src, dst);
    CHECK_MSG(rc == 0, "fix rc %d: %s", rc, out);
    CHECK_MSG(strstr(out, "H17*") && strstr(out, "fix_avg_pool_ceil") &&
                  strstr(out, "source framework"),
              "table: %s", out);
    mk_program *q = NULL;
    if (rc == 0 && mk_program_load(dst, NULL, &q, &e) == MK_OK) {
        CHECK_EQ_INT(h17(q, NULL), 0);
        CHECK_EQ_INT(count_ops(q, MK_OP_PAD), 1);
    } else {
        CHECK_MSG(0, "reload: %s", e.msg);
    }
    mk_program_free(q);
    /* without --only H17 the op is left alone (and H17 stays reported) */
    rc = mk_test_sh(out, sizeof out, "'%s' fix '%s' -o '%s'", mk_test_bin(), src, dst);
    CHECK_MSG(rc == 0 && !strstr(out, "fix_avg_pool_ceil"), "default fix rc %d: %s", rc, out);
}
