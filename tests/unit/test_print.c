/* MIL text printer: statement syntax, sorted inputs/attributes, hex floats, tuples.
 * Checks the text only; nothing here parses it back. */
#include <stdlib.h>

#include "ir/ir.h"
#include "test.h"

static char *print_to_string(const mk_program *p)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    mk_err e = {0};
    mk_status st = mk_ir_print(p, f, &e);
    fclose(f);
    if (st != MK_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

TEST(print_statements_sorted_and_hex_floats)
{
    mk_program *p = mk_ir_program_new(NULL, 8);
    REQUIRE(p);
    mk_function *f = mk_ir_function_new(p, "main");
    REQUIRE(f);
    int64_t d[2] = {1, 4};
    mk_type t = mk_type_make(MK_DT_FP32, 2, d);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &t);
    mk_value *pi = mk_ir_const_f32(p, f->block, "alpha", 1, (float[]){3.14159274f}, 1);
    mk_op *op = mk_ir_op_new(p, MK_OP_LEAKY_RELU, "act");
    REQUIRE(x && pi && op);
    REQUIRE(mk_ir_op_add_input(p, op, "x", x) && mk_ir_op_add_input(p, op, "alpha", pi));
    mk_value *y = mk_ir_op_add_output(p, op, "y", &t);
    mk_ir_block_append(f->block, op);
    mk_op *cat = mk_ir_op_new(p, MK_OP_CONCAT, "cat");
    mk_value *ax = mk_ir_const_i32(p, f->block, "axis", 1, (int32_t[]){1}, 1);
    REQUIRE(cat && ax && y);
    REQUIRE(mk_ir_op_add_input(p, cat, "values", x) && mk_ir_op_add_input(p, cat, "values", y));
    REQUIRE(mk_ir_op_add_input(p, cat, "axis", ax));
    int64_t d2[2] = {1, 8};
    mk_type t2 = mk_type_make(MK_DT_FP32, 2, d2);
    mk_value *z = mk_ir_op_add_output(p, cat, "z", &t2);
    mk_ir_block_append(f->block, cat);
    REQUIRE(z && mk_ir_block_set_outputs(p, f->block, 1, &z));
    char *s = print_to_string(p);
    REQUIRE(s);
    CHECK(strstr(s, "program(1.0)\n") == s);
    CHECK(strstr(s, "    func main<ios17>(tensor<fp32, [1, 4]> x) {\n"));
    CHECK(strstr(s, "tensor<fp32, []> alpha = const()[name = tensor<string, []>(\"alpha\"), "
                    "val = tensor<fp32, []>(0x1.921fb6p+1)];"));
    CHECK(strstr(s, "tensor<fp32, [1, 4]> y = leaky_relu(alpha = alpha, x = x)"
                    "[name = tensor<string, []>(\"act\")];"));
    CHECK(strstr(s, "tensor<fp32, [1, 8]> z = concat(axis = axis, values = (x, y))"));
    CHECK(strstr(s, "        } -> (z);\n}\n"));
    free(s);
    mk_ir_program_free(p);
}

TEST(print_large_constant_as_blobfile)
{
    mk_program *p = mk_ir_program_new(NULL, 6);
    REQUIRE(p);
    mk_function *f = mk_ir_function_new(p, "main");
    float w[12] = {0};
    int64_t d[2] = {3, 4};
    mk_type t = mk_type_make(MK_DT_FP32, 2, d);
    REQUIRE(f && mk_ir_const(p, f->block, "W", &t, w, sizeof w, 0));
    REQUIRE(mk_ir_const(p, f->block, "W2", &t, w, sizeof w, 0));
    char *s = print_to_string(p);
    REQUIRE(s);
    /* first blob's record at 64; the second at round_up(128 + 48, 64) = 192 */
    CHECK(strstr(s, "offset = tensor<uint64, []>(64)"));
    CHECK(strstr(s, "offset = tensor<uint64, []>(192)"));
    CHECK(strstr(s, "func main<ios15>"));
    free(s);
    mk_ir_program_free(p);
}
