/* Automatic mixed modes (mk_compress_auto): the result meets the bound on the inputs, is no
 * larger than any single candidate mode meeting it, leaves the reference unchanged, meets a
 * reachable --target-size and refuses an unreachable one in one line. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"
#include "test.h"

/* x[1,64] -> linear(W1[256,64]) -> relu -> linear(W2[64,256]) -> y; W2 has a heavy tail */
static mk_program *two_layers(void)
{
    mk_program *p = mk_ir_program_new(NULL, 9);
    mk_test_owned(p); /* fault runs: a program left half-built by a failed step is the test's */
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    if (!f) return NULL;
    static float w1[256 * 64], w2[64 * 256];
    unsigned s = 9;
    for (int i = 0; i < 256 * 64; i++) {
        s = s * 1664525u + 1013904223u;
        w1[i] = ((float)((s >> 8) & 0xffff) / 32768.0f - 1.0f) * 0.2f;
        s = s * 1664525u + 1013904223u;
        float u = (float)((s >> 8) & 0xffff) / 65536.0f;
        w2[i] = (u - 0.5f) * (u > 0.98f || u < 0.02f ? 3.0f : 0.1f);
    }
    int64_t d1[2] = {256, 64}, d2[2] = {64, 256}, xd[2] = {1, 64};
    mk_type t1 = mk_type_make(MK_DT_FP32, 2, d1), t2 = mk_type_make(MK_DT_FP32, 2, d2);
    mk_type xt = mk_type_make(MK_DT_FP32, 2, xd);
    mk_type none = mk_type_make(MK_DT_INVALID, MK_RANK_UNKNOWN, NULL);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *a = mk_ir_const(p, f->block, "w1", &t1, w1, sizeof w1, 0);
    mk_value *b = mk_ir_const(p, f->block, "w2", &t2, w2, sizeof w2, 0);
    mk_op *l1 = mk_ir_op_new(p, MK_OP_LINEAR, "l1"), *r = mk_ir_op_new(p, MK_OP_RELU, "r");
    mk_op *l2 = mk_ir_op_new(p, MK_OP_LINEAR, "l2");
    mk_err e = {MK_OK, ""};
    if (!x || !a || !b || !l1 || !r || !l2 || !mk_ir_op_add_input(p, l1, "x", x) ||
        !mk_ir_op_add_input(p, l1, "weight", a) || !mk_ir_op_add_output(p, l1, NULL, &none))
        return NULL;
    mk_ir_block_append(f->block, l1);
    if (mk_ir_infer_op(l1, &e) || !mk_ir_op_add_input(p, r, "x", l1->outputs[0]) ||
        !mk_ir_op_add_output(p, r, NULL, &none))
        return NULL;
    mk_ir_block_append(f->block, r);
    if (mk_ir_infer_op(r, &e) || !mk_ir_op_add_input(p, l2, "x", r->outputs[0]) ||
        !mk_ir_op_add_input(p, l2, "weight", b) || !mk_ir_op_add_output(p, l2, NULL, &none))
        return NULL;
    mk_ir_block_append(f->block, l2);
    if (mk_ir_infer_op(l2, &e) || !mk_ir_block_set_outputs(p, f->block, 1, &l2->outputs[0]))
        return NULL;
    return p;
}

static double worst_cos(const mk_program *ref, const mk_program *q, const mk_tensor_list *runs,
                        int n)
{
    double c = 1;
    for (int k = 0; k < n; k++) {
        mk_output_error oe[4];
        int no = 0;
        mk_err e = {MK_OK, ""};
        if (mk_output_errors(ref, q, &runs[k], 0, oe, 4, &no, &e) || no != 1) return -2;
        c = fmin(c, oe[0].cos);
    }
    return c;
}

TEST(compress_auto_meets_bound_smaller_than_uniform)
{
    mk_program *ref = two_layers();
    REQUIRE(ref);
    mk_tensor_list runs[2];
    mk_err e = {MK_OK, ""};
    for (int k = 0; k < 2; k++) {
        REQUIRE(mk_random_inputs(ref, (unsigned long long)k + 1, &runs[k], &e) == MK_OK);
        mk_test_owned(runs[k].items);
    }
    const double bound = 0.9995;
    mk_compress_options o = {.min_cos = bound, .min_elements = 1000};
    mk_program *q = NULL;
    mk_compress_report rep;
    CHECK_MSG(mk_compress_auto(ref, &o, runs, 2, &q, &rep, &e) == MK_OK, "%s", e.msg);
    REQUIRE(q);
    mk_test_owned(q), mk_test_owned(rep.layers); /* fault runs: the test's own */
    double c = worst_cos(ref, q, runs, 2);
    CHECK_MSG(c >= bound, "auto: cosine %f below the bound", c);
    /* the reference still has its two fp32 weights and gives itself cosine 1 */
    CHECK(worst_cos(ref, ref, runs, 2) > 0.9999999);
    /* every single candidate mode meeting the bound is at least as large */
    static const mk_compress_options uni[] = {
        {.mode = MK_CMP_LINEAR, .bits = 8},
        {.mode = MK_CMP_PALETTE, .bits = 8},
        {.mode = MK_CMP_PALETTE, .bits = 6},
        {.mode = MK_CMP_LINEAR, .bits = 4, .granularity = 2, .block = 32},
        {.mode = MK_CMP_PALETTE, .bits = 4},
        {.mode = MK_CMP_PALETTE, .bits = 2},
    };
    int met = 0;
    for (size_t k = 0; k < sizeof uni / sizeof uni[0]; k++) {
        mk_program *u = NULL;
        mk_compress_report ur;
        mk_compress_options uo = uni[k];
        uo.min_elements = 1000;
        REQUIRE(mk_program_clone(ref, &u, &e) == MK_OK);
        mk_test_owned(u); /* fault runs: the test's own */
        CHECK_MSG(mk_compress(u, &uo, &ur, &e) == MK_OK, "%s", e.msg);
        double uc = worst_cos(ref, u, runs, 2);
        if (uc >= bound) {
            met++;
            CHECK_MSG(ur.const_bytes_after >= rep.const_bytes_after,
                      "uniform mode %zu: %zu bytes at cosine %f, auto %zu bytes", k,
                      ur.const_bytes_after, uc, rep.const_bytes_after);
        }
        mk_compress_report_free(&ur);
        mk_program_free(u);
    }
    CHECK_MSG(met > 0, "no uniform mode met the bound: the test proves nothing");
    /* the two weights got different modes: one lut/int per layer, chosen */
    CHECK_MSG(rep.n == 2 && strcmp(rep.layers[0].mode, rep.layers[1].mode) != 0, "modes: %s / %s",
              rep.n > 0 ? rep.layers[0].mode : "-", rep.n > 1 ? rep.layers[1].mode : "-");
    mk_compress_report_free(&rep);
    mk_program_free(q);

    /* a reachable size target is met, an unreachable one refused in one line */
    mk_compress_options t = {.target_bytes = 20000, .min_elements = 1000};
    CHECK_MSG(mk_compress_auto(ref, &t, runs, 2, &q, &rep, &e) == MK_OK &&
                  rep.const_bytes_after <= 20000,
              "target 20000: %s (%zu bytes)", e.msg, q ? rep.const_bytes_after : 0);
    mk_compress_report_free(&rep);
    mk_program_free(q);
    t.target_bytes = 3000;
    CHECK(mk_compress_auto(ref, &t, runs, 2, &q, &rep, &e) == MK_EINVAL && !q);
    CHECK_MSG(strstr(e.msg, "below the smallest reachable size") && !strchr(e.msg, '\n'),
              "message: %s", e.msg);
    for (int k = 0; k < 2; k++) mk_tensor_list_free(&runs[k]);
    mk_ir_program_free(ref);
}

/* The CLI: --max-error with a mode, an unreachable --target-size, a block that does not divide
 * with --strict: one line, exit 2, nothing written; --max-error alone writes a package whose
 * report meets the bound. */
TEST(compress_auto_cli)
{
    mk_program *p = two_layers();
    REQUIRE(p);
    char in[1024], out[1024], buf[8192];
    snprintf(in, sizeof in, "%s/auto_in.mlpackage", mk_test_tmpdir());
    snprintf(out, sizeof out, "%s/auto_out.mlpackage", mk_test_tmpdir());
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_save(p, in, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_ir_program_free(p);
    static const char *const bad[][2] = {
        {"--max-error cos=0.999 --int8", "choose the mode per weight"},
        {"--target-size 3K", "below the smallest reachable size"},
        {"--int4 --block 48 --strict", "does not divide 64"},
        {"--max-error cos=2", "--max-error takes cos=C"},
        {"--palettize 5", "1, 2, 3, 4, 6 or 8"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        int rc = mk_test_sh(buf, sizeof buf, "'%s' compress '%s' -o '%s' --min-elements 1000 %s",
                            mk_test_bin(), in, out, bad[k][0]);
        CHECK_MSG(rc == 2 && strstr(buf, bad[k][1]) && strchr(buf, '\n') == buf + strlen(buf) - 1,
                  "%s: exit %d, %s", bad[k][0], rc, buf);
        CHECK_MSG(mk_test_sh(buf, sizeof buf, "test -e '%s'", out) != 0, "%s: output written",
                  bad[k][0]);
    }
    int rc =
        mk_test_sh(buf, sizeof buf,
                   "'%s' compress '%s' -o '%s' --min-elements 1000 --max-error cos=0.999 --json",
                   mk_test_bin(), in, out);
    CHECK_EQ_INT(rc, 0);
    const char *c = strstr(buf, "\"precision\":\"fp32\",\"elements\":64,\"cosine\":");
    CHECK_MSG(c && atof(c + strlen("\"precision\":\"fp32\",\"elements\":64,\"cosine\":")) >= 0.999,
              "report: %.400s", buf);
    CHECK_EQ_INT(mk_test_sh(buf, sizeof buf, "test -d '%s'", out), 0);
}
