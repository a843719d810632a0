/* ops.def drives the per-op tables and the family switches at compile time: an op added to a
 * family that a kernel switch misses, or an ops.def line missing a column, must not compile.
 * Each case compiles a copy of src/ with one ops.def line changed (needs cc; run from the
 * source root). */
#include <stdlib.h>

#include "ir/ir.h"
#include "test.h"

/* Copies src/ and include/ into a fresh dir under the run's tmpdir, appends `line` to its
 * ops.def and compiles `file` there with -Wswitch-enum -Werror; returns cc's exit status, or
 * -1 when the copy failed. */
static int compile_with(const char *tag, const char *line, const char *file, char *out, size_t cap)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/opsdef_%s", mk_test_tmpdir(), tag);
    if (mk_test_sh(out, cap, "rm -rf '%s' && mkdir -p '%s' && cp -r src include '%s'/", dir, dir,
                   dir) != 0)
        return -1;
    if (mk_test_sh(out, cap, "printf '%%s\\n' '%s' >> '%s/src/ir/ops.def'", line, dir) != 0)
        return -1;
    return mk_test_sh(
        out, cap,
        "cd '%s' && cc -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc -I/usr/include/cjson "
        "-Wall -Wextra -Wswitch-enum -Werror -fsyntax-only %s",
        dir, file);
}

TEST(opsdef_unary_op_missed_by_funary_does_not_compile)
{
    char out[8192];
    if (mk_test_sh(out, sizeof out, "test -f src/ir/ops.def && command -v cc") != 0)
        SKIP("needs cc and the source tree (run from the source root)");
    int rc = compile_with("ok", "", "src/interp/k_elementwise.c", out, sizeof out);
    REQUIRE(rc >= 0);
    CHECK_MSG(rc == 0, "unchanged tree does not compile: %.400s", out);
    rc = compile_with(
        "unary",
        "MK_OP(FAKE_UNARY, \"fake_unary\", 15, 1, UNARY, NE, 1, UNARY, unary, unary, \"x\")",
        "src/interp/k_elementwise.c", out, sizeof out);
    CHECK_MSG(rc > 0 && strstr(out, "MK_OP_FAKE_UNARY") && strstr(out, "not handled in switch"),
              "a UNARY op funary lacks compiled (rc %d): %.400s", rc, out);
    rc = compile_with(
        "act", "MK_OP(FAKE_ACT, \"fake_act\", 15, 1, ACT, NE, 1, UNARY, unary, activation, \"x\")",
        "src/interp/k_elementwise.c", out, sizeof out);
    CHECK_MSG(rc > 0 && strstr(out, "MK_OP_FAKE_ACT"),
              "an ACT op the activation switch lacks compiled (rc %d): %.400s", rc, out);
    /* an op of another family passes the family switches untouched */
    rc = compile_with(
        "shape",
        "MK_OP(FAKE_SHAPE, \"fake_shape\", 15, 1, SHAPE, NE, 0, UNARY, unary, identity, \"x\")",
        "src/interp/k_elementwise.c", out, sizeof out);
    CHECK_MSG(rc == 0, "an op outside the switch's family broke it: %.400s", out);
}

TEST(opsdef_line_without_its_kernel_or_rule_does_not_compile)
{
    char out[8192];
    if (mk_test_sh(out, sizeof out, "test -f src/ir/ops.def && command -v cc") != 0)
        SKIP("needs cc and the source tree (run from the source root)");
    /* the kernel column left out: every table built from ops.def fails, not only the kernels */
    const char *line = "MK_OP(FAKE, \"fake\", 15, 1, SHAPE, NE, 0, UNARY, unary, \"x\")";
    int rc = compile_with("nokernel", line, "src/interp/kernels.c", out, sizeof out);
    CHECK_MSG(rc > 0, "kernels.c compiled with a line missing a column: %.400s", out);
    rc = compile_with("nokernel2", line, "src/ir/infer.c", out, sizeof out);
    CHECK_MSG(rc > 0, "infer.c compiled with a line missing a column: %.400s", out);
    /* a rule name that does not exist; an unknown kernel is declared from the column (in
     * interp_int.h), so it is the link that fails: the table references an undefined name */
    rc = compile_with(
        "badkernel",
        "MK_OP(FAKE, \"fake\", 15, 1, SHAPE, NE, 0, UNARY, unary, no_such_kernel, \"x\")",
        "src/interp/kernels.c", out, sizeof out);
    CHECK_MSG(rc == 0, "kernels.c with a new kernel name did not compile: %.400s", out);
    rc = mk_test_sh(out, sizeof out,
                    "cd '%s/opsdef_badkernel' && cc -std=c11 -D_DEFAULT_SOURCE -Iinclude -Isrc "
                    "-I/usr/include/cjson -c src/interp/kernels.c -o k.o && nm -u k.o",
                    mk_test_tmpdir());
    CHECK_MSG(rc == 0 && strstr(out, "mk_k_no_such_kernel"),
              "the kernel table does not reference the unknown kernel: %.400s", out);
    rc = compile_with(
        "badrule",
        "MK_OP(FAKE, \"fake\", 15, 1, SHAPE, NE, 0, UNARY, no_such_rule, identity, \"x\")",
        "src/ir/infer.c", out, sizeof out);
    CHECK_MSG(rc > 0 && strstr(out, "mk_ir_rule_no_such_rule"), "an unknown rule compiled: %.400s",
              out);
}

TEST(opsdef_tables_agree_with_columns)
{
    /* the pointwise column reaches mk_op_info; family switches cover their ops */
    CHECK_EQ_INT(mk_ir_op_info(MK_OP_ADD)->pointwise, 2);
    CHECK_EQ_INT(mk_ir_op_info(MK_OP_EXP)->pointwise, 1);
    CHECK_EQ_INT(mk_ir_op_info(MK_OP_CONV)->pointwise, 0);
    static const mk_op_kind few[] = {MK_OP_ADD, MK_OP_CONV};
    CHECK(mk_ir_op_in(MK_OP_CONV, few, 2));
    CHECK(!mk_ir_op_in(MK_OP_SUB, few, 2));
}
