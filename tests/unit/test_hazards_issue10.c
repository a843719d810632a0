/* Issue 10 items 5 and 6 on the hazard engine: fixes keep iOS17's shared dtype domain U (H13
 * on fp16 x with fp32 gamma/beta/epsilon, as coremltools writes it) and every fixed program
 * passes the verifier; H14 masks into fp16 softmax in all their forms; H3/H18 false positives;
 * norms at every rank coremltools' type inference takes (H32 verified on rank 5); unknown
 * rule ids; lint's exit codes and its view of an .onnx model. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "passes/passes_int.h"
#include "test.h"
#include "test_fix_util.h"
#include "test_lint_cases.h"

static int have_cli(void)
{
    return access(mk_test_bin(), X_OK) == 0;
}

/* ---- H13 and the post-fix type check ---- */

/* iOS17 layer_norm as coremltools writes it for an fp16 program: x fp16, gamma/beta/epsilon
 * fp32 (one domain U). eps_dt picks epsilon's dtype (fp16 makes it ill-typed). */
static void ln_fp16_x(tb *t, mk_dtype eps_dt, double eps)
{
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F16, DIMS(2, 8));
    mk_value *g = tb_const(t, "gamma", F32, DIMS(8), 0.5, 0.1);
    mk_value *b = tb_const(t, "beta", F32, DIMS(8), -0.2, 0.05);
    mk_value *e = tb_const(t, "eps", eps_dt, 0, NULL, eps, 0);
    tb_out(t, tb_op(t, MK_OP_LAYER_NORM, "ln", "x", x, "axes", tb_ints(t, 1, -1), "gamma", g,
                    "beta", b, "epsilon", e, NULL));
}

static const mk_op *find_op(const mk_program *p, mk_op_kind k)
{
    MK_FOR_OPS(mk_ir_main(p)->block, op)
    {
        if (op->kind == k) return op;
    }
    return NULL;
}

TEST(fix_h13_keeps_epsilon_in_domain_u)
{
    tb t;
    ln_fp16_x(&t, F32, 1e-12);
    REQUIRE(!t.bad);
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_ir_verify(t.p, &e) == MK_OK);
    rule_hits h;
    CHECK_MSG(lint_hits(t.p, "H13", 0, NULL, &h) == 1 && h.n_fix == 1, "H13 not flagged");
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = "H13";
    fo.seed = 5;
    mk_program *q = NULL;
    mk_fix_report rep;
    mk_status st = mk_fix(t.p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "fix: %s", e.msg);
    if (st == MK_OK) {
        CHECK(rep.verified && rep.n_rows == 1 && rep.max_err <= 1e-2);
        const mk_op *ln = find_op(q, MK_OP_LAYER_NORM);
        const mk_value *eps = ln ? mk_ir_arg(ln, "epsilon") : NULL;
        REQUIRE(eps);
        CHECK_MSG(eps->type.dtype == MK_DT_FP32, "epsilon written as %s, gamma is fp32",
                  mk_dtype_name(eps->type.dtype));
        float v = 0;
        CHECK(mk_ir_arg_f32(ln, "epsilon", &v) && v > 5.96e-8f && v < 2e-7f);
        CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "fixed program: %s", e.msg);
        CHECK_EQ_INT(lint_hits(q, "H13", 0, NULL, &h), 0);
        /* Apple's loader, when present: coremltools rebuilds every op from the written file */
        const char *sh = mk_test_shared_dir();
        char tool[1024], ct[1024], pkg[1024], out[16384];
        snprintf(tool, sizeof tool, "%s/tools/validate_mlpackage.py", sh ? sh : ".");
        snprintf(ct, sizeof ct, "%s",
                 getenv("MILKIT_COREMLTOOLS") ? getenv("MILKIT_COREMLTOOLS") : "/work/ct");
        snprintf(pkg, sizeof pkg, "%s/h13_fixed.mlpackage", mk_test_tmpdir());
        if (!sh || access(tool, R_OK) != 0 || access(ct, R_OK) != 0) {
            mk_program_free(q);
            mk_ir_program_free(t.p);
            SKIP("Apple's loader check: validate_mlpackage.py or coremltools (%s) absent", ct);
        }
        CHECK_MSG(mk_program_save(q, pkg, MK_TARGET_DEFAULT, &e) == MK_OK, "save: %s", e.msg);
        int rc = mk_test_sh(out, sizeof out, "PYTHONPATH='%s' /usr/bin/python3 '%s' --quiet '%s'",
                            ct, tool, pkg);
        if (rc == 2) {
            mk_program_free(q);
            mk_ir_program_free(t.p);
            SKIP("coremltools not importable: %.200s", out);
        }
        CHECK_MSG(rc == 0 && strstr(out, "OK:"), "coremltools refuses the fixed package: %s", out);
    }
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(verify_and_fix_check_reject_split_domain_u)
{
    tb t;
    ln_fp16_x(&t, F16, 1e-5);
    REQUIRE(!t.bad);
    mk_err e = {MK_OK, ""};
    CHECK(mk_ir_verify(t.p, &e) == MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "epsilon") && strstr(e.msg, "fp16") && strstr(e.msg, "fp32"), "%s",
              e.msg);
    mk_err e2 = {MK_OK, ""};
    CHECK(mk_fix_check_types(t.p, "fix_epsilon", &e2) == MK_EINTERNAL);
    CHECK_MSG(strstr(e2.msg, "fix_epsilon") && strstr(e2.msg, "type-check") &&
                  strstr(e2.msg, "nothing written"),
              "%s", e2.msg);
    mk_ir_program_free(t.p);
    /* iOS16 keeps one domain T: fp32 gamma with fp16 x is refused there too */
    tb_init(&t, 7);
    mk_value *x = tb_in(&t, "x", F16, DIMS(2, 8));
    tb_out(&t, tb_op(&t, MK_OP_LAYER_NORM, "ln", "x", x, "axes", tb_ints(&t, 1, -1), "epsilon",
                     tb_scalar(&t, F16, 1e-5), NULL));
    REQUIRE(!t.bad);
    mk_err e3 = {MK_OK, ""};
    CHECK_EQ_INT(mk_ir_verify(t.p, &e3), MK_OK);
    mk_ir_program_free(t.p);
}

/* ---- H14 ---- */

typedef enum { M_CONST16, M_CAST32, M_MUL_INPUT, M_SELECT, M_TILE, M_NEAR_1E4, M_FP32 } mform;

/* x [2,4] -> (mask in form f, sentinel s) -> add/select -> softmax. */
static void mask_prog(tb *t, mform f, double s)
{
    tb_init(t, 8);
    mk_value *x = tb_x(t, f != M_FP32, DIMS(2, 4)), *m = NULL, *a = NULL;
    mk_dtype dt = f == M_FP32 ? F32 : F16;
    switch (f) {
    case M_CONST16:
    case M_NEAR_1E4:
    case M_FP32:
        m = tb_const(t, "mask", dt, DIMS(1, 4), 0, 0);
        if (m && !t->bad) {
            if (dt == F16)
                ((uint16_t *)m->cst->data)[2] = mk_f32_to_f16((float)s);
            else
                ((float *)m->cst->data)[2] = (float)s;
        }
        break;
    case M_CAST32: {
        mk_value *c = tb_const(t, "mask32", F32, DIMS(1, 4), 0, 0);
        if (c && !t->bad) ((float *)c->cst->data)[1] = (float)s;
        m = tb_op(t, MK_OP_CAST, "mask", "x", c, "dtype", tb_str(t, "fp16"), NULL);
        break;
    }
    case M_MUL_INPUT: {
        mk_value *keep = tb_in(t, "keep", F32, DIMS(1, 4));
        mk_value *k = tb_const(t, "big", F32, 0, NULL, s, 0);
        mk_value *mm = tb_op(t, MK_OP_MUL, "mask32", "x", keep, "y", k, NULL);
        m = tb_op(t, MK_OP_CAST, "mask", "x", mm, "dtype", tb_str(t, "fp16"), NULL);
        break;
    }
    case M_SELECT: {
        mk_value *cond = tb_bools(t, 4, 1, 0, 1, 1);
        mk_value *fill = tb_const(t, "fill", F16, 0, NULL, s, 0);
        a = tb_op(t, MK_OP_SELECT, "masked", "cond", cond, "a", x, "b", fill, NULL);
        break;
    }
    case M_TILE: {
        mk_value *c = tb_const(t, "mask1", F16, DIMS(1, 1), s, 0);
        mk_value *z = tb_const(t, "zero", F16, DIMS(1, 3), 0, 0);
        mk_value *row =
            tb_op(t, MK_OP_CONCAT, "row", "values", z, "values", c, "axis", tb_int(t, 1), NULL);
        m = tb_op(t, MK_OP_TILE, "mask", "x", row, "reps", tb_ints(t, 2, 2, 1), NULL);
        break;
    }
    }
    if (!a) a = tb_op(t, MK_OP_ADD, "masked", "x", x, "y", m, NULL);
    tb_out(t, tb_op(t, MK_OP_SOFTMAX, "y", "x", a, "axis", tb_int(t, -1), NULL));
}

TEST(lint_h14_masks_into_fp16_softmax)
{
    static const struct {
        mform f;
        double s;
        int flagged, fix;
        const char *what;
    } cs[] = {
        {M_CONST16, -65504, 1, 1, "fp16 const at finfo(fp16).min"},
        {M_CONST16, -INFINITY, 1, 1, "fp16 const -inf"},
        {M_CAST32, -1e9, 1, 1, "fp32 const -1e9 cast to fp16"},
        {M_CAST32, -3.4028234663852886e38, 1, 1, "fp32 finfo.min cast to fp16"},
        {M_MUL_INPUT, -3e38, 1, 0, "keep * -3e38 folded through mul and cast"},
        {M_SELECT, -65504, 1, 1, "select fill -65504"},
        {M_TILE, -65504, 1, 1, "broadcast (tile) of a [1,1] mask"},
        {M_NEAR_1E4, -1e4, 0, 0, "mask -1e4 (the recommended value)"},
        {M_FP32, -1e9, 0, 0, "fp32 program, fp32 softmax"},
    };
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        tb t;
        mask_prog(&t, cs[i].f, cs[i].s);
        CHECK_MSG(!t.bad, "%s: build: %s", cs[i].what, t.e.msg);
        if (t.bad) {
            mk_ir_program_free(t.p);
            continue;
        }
        rule_hits h;
        int n = lint_hits(t.p, "H14", 0, NULL, &h);
        CHECK_MSG(cs[i].flagged ? n > 0 : n == 0, "%s: %d H14 findings", cs[i].what, n);
        if (cs[i].fix) {
            CHECK_MSG(h.n_fix > 0, "%s: no fix offered", cs[i].what);
            mk_fix_options fo;
            memset(&fo, 0, sizeof fo);
            fo.only = "H14";
            fo.seed = 11;
            mk_program *q = NULL;
            mk_fix_report rep;
            mk_err e = {MK_OK, ""};
            mk_status st = mk_fix(t.p, &fo, &q, &rep, &e);
            CHECK_MSG(st == MK_OK, "%s: fix: %s", cs[i].what, e.msg);
            if (st == MK_OK) {
                CHECK_MSG(rep.verified && rep.n_rows > 0, "%s: nothing fixed", cs[i].what);
                CHECK_MSG(lint_hits(q, "H14", 0, NULL, &h) == 0, "%s: still flagged: %s",
                          cs[i].what, h.message);
                /* fp16-emulated: the original overflows to NaN or off by the sentinel, the
                 * fixed program stays finite */
                mk_tensor_list in = {0, NULL}, b = {0, NULL};
                mk_run_options ro = {1, 1, 3};
                if (mk_random_inputs(q, 3, &in, &e) == MK_OK &&
                    mk_run(q, &ro, &in, &b, &e) == MK_OK) {
                    const float *y = b.items[0].data;
                    int finite = 1;
                    for (size_t k = 0; k < b.items[0].nbytes / 4; k++) finite &= isfinite(y[k]);
                    CHECK_MSG(finite, "%s: fixed program gives non-finite output", cs[i].what);
                } else {
                    CHECK_MSG(0, "%s: run: %s", cs[i].what, e.msg);
                }
                mk_tensor_list_free(&in);
                mk_tensor_list_free(&b);
            }
            mk_program_free(q);
        }
        mk_ir_program_free(t.p);
    }
}

/* ---- H3, H18 false positives ---- */

TEST(lint_h3_only_for_fp16)
{
    tb t;
    c_h3(&t, 1);
    REQUIRE(!t.bad);
    rule_hits h;
    CHECK_EQ_INT(lint_hits(t.p, "H3", 0, NULL, &h), 0);
    CHECK(lint_hits(t.p, "H3", 1, NULL, &h) > 0);
    mk_ir_program_free(t.p);
    /* the same conv_transpose on fp16 data is flagged without --assume-fp16 */
    tb_init(&t, 8);
    mk_value *x = tb_x(&t, 1, DIMS(1, 4, 6));
    mk_value *w = tb_const(&t, "w", F16, DIMS(4, 2, 3), -0.4, 0.03);
    tb_out(&t,
           tb_op(&t, MK_OP_CONV_TRANSPOSE, "y", "x", x, "weight", w, "strides", tb_ints(&t, 1, 2),
                 "pad_type", tb_str(&t, "custom"), "pad", tb_ints(&t, 2, 1, 0), NULL));
    REQUIRE(!t.bad);
    CHECK(lint_hits(t.p, "H3", 0, NULL, &h) > 0);
    mk_ir_program_free(t.p);
}

/* x with enumerated shapes [1,8] / [1,16] -> relu (-> layer_norm when ln). */
static void enum_prog(tb *t, int ln, mk_flex flex)
{
    tb_init(t, 8);
    mk_value *x = tb_in(t, "x", F16, DIMS(1, -1));
    mk_value *y = tb_op(t, MK_OP_RELU, "r", "x", x, NULL);
    if (ln) y = tb_op(t, MK_OP_LAYER_NORM, "ln", "x", y, "axes", tb_ints(t, 1, -1), NULL);
    tb_out(t, y);
    if (t->bad) return;
    mk_feature *f = mk_arena_alloc(t->p->arena, sizeof *f);
    int64_t(*en)[MK_MAX_RANK] = mk_arena_alloc(t->p->arena, 2 * sizeof *en);
    if (!f || !en) {
        t->bad = 1;
        return;
    }
    memset(f, 0, sizeof *f);
    memset(en, 0, 2 * sizeof *en);
    f->name = "x";
    f->dtype = F16;
    f->rank = 2;
    f->shape[0] = 1;
    f->shape[1] = 8;
    f->flex = flex;
    en[0][0] = en[1][0] = 1;
    en[0][1] = 8;
    en[1][1] = 16;
    f->range_lo[0] = f->range_hi[0] = 1;
    f->range_lo[1] = 1;
    f->range_hi[1] = 64;
    if (flex == MK_FLEX_ENUMERATED) {
        f->n_enumerated = 2;
        f->enumerated = en;
    }
    t->p->inputs = f;
    t->p->n_inputs = 1;
}

TEST(lint_h18_enumerated_shapes_only_with_layer_norm)
{
    rule_hits h;
    tb t;
    enum_prog(&t, 0, MK_FLEX_ENUMERATED);
    REQUIRE(!t.bad);
    CHECK_EQ_INT(lint_hits(t.p, "H18", 0, NULL, &h), 0);
    mk_ir_program_free(t.p);
    enum_prog(&t, 1, MK_FLEX_ENUMERATED);
    REQUIRE(!t.bad);
    CHECK_MSG(lint_hits(t.p, "H18", 0, NULL, &h) == 1 && strstr(h.message, "layer_norm"),
              "enumerated + layer_norm: %s", h.message);
    mk_ir_program_free(t.p);
    enum_prog(&t, 0, MK_FLEX_RANGE);
    REQUIRE(!t.bad);
    CHECK_MSG(lint_hits(t.p, "H18", 0, NULL, &h) == 1 && strstr(h.message, "range"), "range: %s",
              h.message);
    mk_ir_program_free(t.p);
}

/* ---- norms at every rank coremltools' type inference accepts ---- */

/* Reference instance_norm over axes 2.. of x [N, C, ...] (sp elements per channel). */
static double inorm_ref(const float *x, int64_t n, int64_t c, int64_t sp, const float *g,
                        const float *b, double eps, const float *y)
{
    double worst = 0;
    for (int64_t i = 0; i < n * c; i++) {
        double m = 0, v = 0;
        for (int64_t q = 0; q < sp; q++) m += x[i * sp + q];
        m /= (double)sp;
        for (int64_t q = 0; q < sp; q++) v += (x[i * sp + q] - m) * (x[i * sp + q] - m);
        v /= (double)sp;
        for (int64_t q = 0; q < sp; q++) {
            double want = (x[i * sp + q] - m) / sqrt(v + eps) * g[i % c] + b[i % c];
            double d = fabs(want - y[i * sp + q]);
            if (d > worst) worst = d;
        }
    }
    return worst;
}

TEST(interp_instance_norm_rank5_and_h32_fix_verified)
{
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_in(&t, "x", F32, DIMS(2, 3, 2, 3, 4));
    mk_value *g = tb_const(&t, "gamma", F32, DIMS(3), 0.5, 0.25);
    mk_value *b = tb_const(&t, "beta", F32, DIMS(3), -0.1, 0.2);
    tb_out(&t, tb_op(&t, MK_OP_INSTANCE_NORM, "y", "x", x, "gamma", g, "beta", b, "epsilon",
                     tb_scalar(&t, F32, 1e-5), NULL));
    CHECK_MSG(!t.bad, "rank-5 instance_norm refused: %s", t.e.msg);
    if (t.bad) {
        mk_ir_program_free(t.p);
        return;
    }
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_ir_verify(t.p, &e) == MK_OK, "%s", e.msg);
    mk_tensor_list in = {0, NULL}, out = {0, NULL};
    mk_run_options ro = {0, 0, 4};
    mk_status st = mk_random_inputs(t.p, 4, &in, &e);
    if (st == MK_OK) st = mk_run(t.p, &ro, &in, &out, &e);
    CHECK_MSG(st == MK_OK, "run: %s", e.msg);
    if (st == MK_OK) {
        float gv[3] = {0.5f, 0.75f, 1.0f}, bv[3] = {-0.1f, 0.1f, 0.3f};
        double w = inorm_ref(in.items[0].data, 2, 3, 24, gv, bv, 1e-5, out.items[0].data);
        CHECK_MSG(w < 1e-5, "instance_norm rank 5 off by %g", w);
    }
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&out);
    rule_hits h;
    CHECK(lint_hits(t.p, "H32", 0, NULL, &h) == 1 && h.n_fix == 1);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.only = "H32";
    fo.seed = 2;
    mk_program *q = NULL;
    mk_fix_report rep;
    st = mk_fix(t.p, &fo, &q, &rep, &e);
    CHECK_MSG(st == MK_OK, "fix: %s", e.msg);
    if (st == MK_OK) {
        CHECK_MSG(rep.verified && rep.n_rows == 1 && rep.rows[0].max_err >= 0 &&
                      rep.rows[0].max_err <= 1e-4,
                  "H32 fix not verified (max err %g)", rep.rows[0].max_err);
        CHECK_EQ_INT(lint_hits(q, "H32", 0, NULL, &h), 0);
    }
    mk_program_free(q);
    mk_ir_program_free(t.p);
}

TEST(infer_norm_ranks_follow_coremltools_type_inference)
{
    static const struct {
        mk_op_kind k;
        int rank, ok;
    } cs[] = {
        {MK_OP_INSTANCE_NORM, 2, 1},
        {MK_OP_INSTANCE_NORM, 5, 1},
        {MK_OP_INSTANCE_NORM, 1, 0},
        {MK_OP_BATCH_NORM, 2, 1},
        {MK_OP_BATCH_NORM, 6, 1},
        {MK_OP_LOCAL_RESPONSE_NORM, 2, 1},
        {MK_OP_LOCAL_RESPONSE_NORM, 5, 1},
        {MK_OP_L2_NORM, 2, 0},
        {MK_OP_L2_NORM, 5, 1},
        {MK_OP_LAYER_NORM, 1, 1},
        {MK_OP_LAYER_NORM, 5, 1},
    };
    static const int64_t dims[6] = {2, 3, 2, 2, 3, 2};
    for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
        tb t;
        tb_init(&t, 8);
        mk_value *x = tb_in(&t, "x", F32, cs[i].rank, dims);
        mk_value *y = NULL;
        int64_t c = cs[i].rank >= 2 ? dims[1] : 1;
        if (cs[i].k == MK_OP_BATCH_NORM)
            y = tb_op(&t, cs[i].k, "y", "x", x, "mean", tb_const(&t, "m", F32, 1, &c, 0.1, 0.1),
                      "variance", tb_const(&t, "v", F32, 1, &c, 0.5, 0.25), NULL);
        else if (cs[i].k == MK_OP_LOCAL_RESPONSE_NORM)
            y = tb_op(&t, cs[i].k, "y", "x", x, "size", tb_int(&t, 3), NULL);
        else if (cs[i].k == MK_OP_LAYER_NORM)
            y = tb_op(&t, cs[i].k, "y", "x", x, "axes", tb_ints(&t, 1, -1), NULL);
        else
            y = tb_op(&t, cs[i].k, "y", "x", x, NULL);
        const char *name = mk_ir_op_info(cs[i].k)->name;
        CHECK_MSG(cs[i].ok ? y != NULL : y == NULL, "%s rank %d: %s", name, cs[i].rank,
                  cs[i].ok ? t.e.msg : "accepted");
        if (y) {
            tb_out(&t, y);
            mk_tensor_list in = {0, NULL}, out = {0, NULL};
            mk_run_options ro = {0, 0, 1};
            mk_err e = {MK_OK, ""};
            CHECK_MSG(mk_random_inputs(t.p, 1, &in, &e) == MK_OK &&
                          mk_run(t.p, &ro, &in, &out, &e) == MK_OK,
                      "%s rank %d: interpreter: %s", name, cs[i].rank, e.msg);
            mk_tensor_list_free(&in);
            mk_tensor_list_free(&out);
        }
        mk_ir_program_free(t.p);
    }
}

/* ---- rule ids, exit codes, the ONNX view ---- */

TEST(lint_and_fix_refuse_unknown_rule_ids)
{
    mk_err e = {MK_OK, ""};
    CHECK_EQ_INT(mk_rule_list_check("H1, h4,H39", "--only", &e), MK_OK);
    CHECK_EQ_INT(mk_rule_list_check(NULL, "--only", &e), MK_OK);
    CHECK_EQ_INT(mk_rule_list_check("", "--only", &e), MK_OK);
    tb t;
    c_h1(&t, 1);
    REQUIRE(!t.bad);
    mk_lint_options o = {MK_TARGET_DEFAULT, 0, "H1,H99", NULL};
    mk_findings *f = NULL;
    CHECK_EQ_INT(mk_lint(t.p, &o, &f, &e), MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "--only") && strstr(e.msg, "'H99'"), "%s", e.msg);
    CHECK(f == NULL);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.skip = "H1x";
    mk_program *q = NULL;
    mk_err e2 = {MK_OK, ""};
    CHECK_EQ_INT(mk_fix(t.p, &fo, &q, NULL, &e2), MK_EINVAL);
    CHECK_MSG(strstr(e2.msg, "--skip") && strstr(e2.msg, "'H1x'"), "%s", e2.msg);
    CHECK(q == NULL);
    mk_ir_program_free(t.p);
}

static int save_tb(tb *t, const char *name, char *path, size_t n)
{
    mk_err e = {MK_OK, ""};
    snprintf(path, n, "%s/%s.mlpackage", mk_test_tmpdir(), name);
    mk_status st = t->bad ? MK_EINVAL : mk_program_save(t->p, path, MK_TARGET_DEFAULT, &e);
    mk_ir_program_free(t->p);
    return st == MK_OK;
}

TEST(lint_cli_exit_codes_follow_severity)
{
    if (!have_cli()) SKIP("milkit binary not built (%s)", mk_test_bin());
    char info[1024], warn[1024], out[16384];
    tb t;
    tb_init(&t, 8);
    tb_out(&t, tb_op(&t, MK_OP_RELU, "y", "x", tb_in(&t, "x", F16, DIMS(1, 8)), NULL));
    REQUIRE(save_tb(&t, "info_only", info, sizeof info));
    tb_init(&t, 8);
    tb_out(&t, tb_op(&t, MK_OP_RELU, "y", "x", tb_in(&t, "x", F32, DIMS(1, 32)), NULL));
    REQUIRE(save_tb(&t, "warning", warn, sizeof warn));
    int rc = mk_test_sh(out, sizeof out, "'%s' lint '%s'", mk_test_bin(), info);
    CHECK_MSG(rc == 0 && strstr(out, "info H23") && strstr(out, "0 errors, 0 warnings, 1 info"),
              "info only: rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "'%s' lint '%s'", mk_test_bin(), warn);
    CHECK_MSG(rc == 1 && strstr(out, "warning H19"), "warning: rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "'%s' lint '%s' --skip H19,H2O", mk_test_bin(), warn);
    CHECK_MSG(rc == 2 && strstr(out, "'H2O'"), "typo in --skip: rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "'%s' fix '%s' -o '%s/x.mlpackage' --only H99", mk_test_bin(),
                    warn, mk_test_tmpdir());
    CHECK_MSG(rc == 2 && strstr(out, "'H99'"), "fix --only H99: rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "'%s' lint '%s' --precision fp32", mk_test_bin(), warn);
    CHECK_MSG(rc == 2 && strstr(out, ".onnx"), "--precision on a package: rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out, "'%s' lint --help", mk_test_bin());
    CHECK_MSG(rc == 0 && strstr(out, "0 no findings or only info findings") &&
                  strstr(out, "fixes applied"),
              "help: %s", out);
}

TEST(lint_onnx_judges_the_converted_package)
{
    static const char *model =
        "tests/.cache/ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
    if (access(model, R_OK) != 0) SKIP("%s not fetched (tests/fetch_models.sh)", model);
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    const char *shape = "x=1,3,48,192";
    co.shapes = &shape;
    co.n_shapes = 1;
    mk_program *p = NULL, *q16 = NULL, *q32 = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_model_load(model, &co, NULL, &p, &e) == MK_OK);
    rule_hits h;
    /* the fp32 in-memory import has H19 and an H2 convert fixes */
    CHECK(lint_hits(p, "H19", 0, NULL, &h) > 0 && lint_hits(p, "H2", 0, NULL, &h) > 0);
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = 1;
    po.fp16 = 1;
    CHECK_MSG(mk_program_as_converted(p, &po, MK_TARGET_DEFAULT, &q16, &e) == MK_OK, "%s", e.msg);
    po.fp16 = 0;
    CHECK_MSG(mk_program_as_converted(p, &po, MK_TARGET_DEFAULT, &q32, &e) == MK_OK, "%s", e.msg);
    if (q16 && q32) {
        CHECK_EQ_INT(lint_hits(q16, "H19", 0, NULL, &h), 0);
        CHECK_EQ_INT(lint_hits(q16, "H2", 0, NULL, &h), 0);
        CHECK(lint_hits(q32, "H19", 0, NULL, &h) > 0);
        CHECK_EQ_INT(lint_hits(q32, "H2", 0, NULL, &h), 0);
        CHECK_MSG(mk_ir_verify(q16, &e) == MK_OK, "%s", e.msg);
    }
    mk_program_free(q32);
    mk_program_free(q16);
    mk_program_free(p);
    if (!have_cli()) SKIP("milkit binary not built (%s)", mk_test_bin());
    char out[65536];
    int rc = mk_test_sh(out, sizeof out, "'%s' lint '%s' --shape %s", mk_test_bin(), model, shape);
    CHECK_MSG(rc == 0 && !strstr(out, "H19") && !strstr(out, " H2:"), "fp16 view: rc %d: %s", rc,
              out);
    rc = mk_test_sh(out, sizeof out, "'%s' lint '%s' --shape %s --precision fp32", mk_test_bin(),
                    model, shape);
    CHECK_MSG(rc == 1 && strstr(out, "warning H19") && !strstr(out, " H2:"), "fp32 view: rc %d: %s",
              rc, out);
    rc = mk_test_sh(out, sizeof out, "'%s' lint '%s' --shape %s --precision fp32 --no-fix",
                    mk_test_bin(), model, shape);
    CHECK_MSG(rc == 1 && strstr(out, " H2:"), "as imported: rc %d: %s", rc, out);
}

/* ---- the same on packages coremltools 9.0 wrote (tests/data/ct/make_packages.py) ---- */

static mk_program *load_ct(mk_test_ctx *tc, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "tests/data/ct/%s.mlpackage", name);
    mk_program *p = NULL;
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_program_load(path, NULL, &p, &e) == MK_OK, "%s: %s", path, e.msg);
    return p;
}

TEST(hazards_on_coremltools_packages)
{
    rule_hits h;
    mk_program *p = load_ct(tc, "ln_fp16x_fp32eps");
    if (p) {
        mk_err e = {MK_OK, ""};
        CHECK_MSG(mk_ir_verify(p, &e) == MK_OK, "as written: %s", e.msg);
        CHECK(lint_hits(p, "H13", 0, NULL, &h) == 1 && h.n_fix == 1);
        mk_fix_options fo;
        memset(&fo, 0, sizeof fo);
        fo.seed = 3;
        mk_program *q = NULL;
        mk_fix_report rep;
        mk_status st = mk_fix(p, &fo, &q, &rep, &e);
        CHECK_MSG(st == MK_OK && rep.verified, "fix: %s", e.msg);
        if (st == MK_OK) {
            const mk_op *ln = find_op(q, MK_OP_LAYER_NORM);
            const mk_value *eps = ln ? mk_ir_arg(ln, "epsilon") : NULL;
            CHECK(eps && eps->type.dtype == MK_DT_FP32);
            CHECK_MSG(mk_ir_verify(q, &e) == MK_OK, "fixed: %s", e.msg);
            CHECK_EQ_INT(lint_hits(q, "H13", 0, NULL, &h), 0);
        }
        mk_program_free(q);
        mk_program_free(p);
    }
    if ((p = load_ct(tc, "inverse_default_eps"))) {
        CHECK_MSG(lint_hits(p, "H15", 0, NULL, &h) == 1 && h.n_fix == 0 &&
                      strstr(h.message, "real_div"),
                  "inverse with coremltools' epsilon: %d findings", h.n);
        mk_program_free(p);
    }
    if ((p = load_ct(tc, "instance_norm_5d"))) {
        CHECK(lint_hits(p, "H32", 0, NULL, &h) == 1 && h.n_fix == 1);
        mk_fix_options fo;
        memset(&fo, 0, sizeof fo);
        fo.only = "H32";
        fo.seed = 8;
        mk_program *q = NULL;
        mk_fix_report rep;
        mk_err e = {MK_OK, ""};
        mk_status st = mk_fix(p, &fo, &q, &rep, &e);
        CHECK_MSG(st == MK_OK, "H32 fix on coremltools' rank-5 instance_norm: %s", e.msg);
        if (st == MK_OK) {
            CHECK(rep.verified && rep.n_rows == 1 && rep.rows[0].max_err <= 1e-4);
            CHECK_EQ_INT(lint_hits(q, "H32", 0, NULL, &h), 0);
        }
        mk_program_free(q);
        mk_program_free(p);
    }
    if ((p = load_ct(tc, "enum_relu"))) {
        CHECK_EQ_INT(lint_hits(p, "H18", 0, NULL, &h), 0);
        mk_program_free(p);
    }
    if ((p = load_ct(tc, "enum_layer_norm"))) {
        CHECK_EQ_INT(lint_hits(p, "H18", 0, NULL, &h), 1);
        mk_program_free(p);
    }
}
