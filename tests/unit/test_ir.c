/* Unit tests for src/ir construction, naming, editing and dead-op removal.
 * Type inference, verification and printing have their own test files. */
#include "ir/ir.h"
#include "test.h"

TEST(ir_unique_names_are_sanitized_identifiers)
{
    mk_program *p = mk_ir_program_new(NULL, 8);
    REQUIRE(p);
    const char *a = mk_ir_unique_name(p, "conv.0/weight");
    const char *b = mk_ir_unique_name(p, "conv.0/weight");
    const char *c = mk_ir_unique_name(p, "1abc");
    const char *d = mk_ir_unique_name(p, "fp16");
    CHECK_STR(a, "conv_0_weight");
    CHECK(b && strcmp(a, b) != 0 && mk_ir_valid_identifier(b));
    CHECK(mk_ir_valid_identifier(c));
    CHECK_STR(d, "fp16_workaround");
    CHECK(!mk_ir_valid_identifier("fp32"));
    mk_ir_program_free(p);
}

TEST(ir_op_table_is_complete)
{
    for (int k = 0; k < MK_OP__COUNT; k++) {
        const mk_op_info *in = mk_ir_op_info((mk_op_kind)k);
        CHECK(in && in->name && in->meaning && in->min_opset >= 15 && in->min_opset <= 18);
        CHECK(mk_ir_op_lookup(in->name) == (mk_op_kind)k);
    }
    CHECK(mk_ir_op_lookup("no_such_op") == MK_OP__COUNT);
}

TEST(ir_build_edit_and_dce)
{
    mk_program *p = mk_ir_program_new(NULL, 6);
    REQUIRE(p);
    mk_function *f = mk_ir_function_new(p, "main");
    REQUIRE(f);
    int64_t d[2] = {1, 4};
    mk_type t = mk_type_make(MK_DT_FP32, 2, d);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &t);
    REQUIRE(x);
    mk_op *r = mk_ir_op_new(p, MK_OP_RELU, "r");
    REQUIRE(r && mk_ir_op_add_input(p, r, "x", x));
    mk_value *rv = mk_ir_op_add_output(p, r, "r", &t);
    mk_ir_block_append(f->block, r);
    mk_op *dead = mk_ir_op_new(p, MK_OP_SIGMOID, "dead");
    REQUIRE(dead && mk_ir_op_add_input(p, dead, "x", rv));
    REQUIRE(mk_ir_op_add_output(p, dead, "dead", &t));
    mk_ir_block_append(f->block, dead);
    mk_value *one = mk_ir_const_f32(p, f->block, "one", 1, (float[]){1.0f}, 1);
    REQUIRE(one && one->cst);
    REQUIRE(mk_ir_block_set_outputs(p, f->block, 1, &rv));
    CHECK_EQ_INT(mk_ir_count_uses(f->block, rv), 2);
    CHECK_EQ_INT(mk_ir_dce(p, f->block), 2);
    CHECK(f->block->first == r && f->block->last == r);
    float fv;
    CHECK(!mk_ir_arg_f32(r, "x", &fv));
    mk_ir_program_free(p);
}

TEST(ir_add_input_refuses_a_null_value)
{
    /* a builder's failed value must not become a half-bound op the writer later dereferences */
    mk_program *p = mk_ir_program_new(NULL, 8);
    REQUIRE(p);
    mk_op *op = mk_ir_op_new(p, MK_OP_RELU, "r");
    REQUIRE(op);
    CHECK_EQ_INT(mk_ir_op_add_input(p, op, "x", NULL), 0);
    CHECK(mk_ir_input(op, "x") == NULL || mk_ir_input(op, "x")->n_args == 0);
    mk_ir_program_free(p);
}
