/* `milkit convert --weights` runs the code of `milkit compress`: a constant MatMul weight is
 * compressed too (the old int8 pass left it fp32), lut4 writes constexpr_lut_to_dense,
 * cos=C chooses per weight; the converted package runs close to the fp32 one. */
#include <stdio.h>
#include <stdlib.h>

#include "base/base.h"
#include "ir/ir.h"
#include "test.h"
#include "test_onnx_build.h"

static int count_kind(const mk_program *p, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op)
    {
        n += op->kind == k;
    }
    return n;
}

TEST(compress_convert_weights_same_code)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 2, (int64_t[]){1, 128});
    static float w1[128 * 128], w2[128 * 64];
    for (int i = 0; i < 128 * 128; i++) w1[i] = (float)((i * 37) % 101 - 50) * 0.002f;
    for (int i = 0; i < 128 * 64; i++) w2[i] = (float)((i * 53) % 97 - 48) * 0.003f;
    ob_init_f(&b, "w1", 2, (int64_t[]){128, 128}, w1);
    ob_init_f(&b, "w2", 2, (int64_t[]){128, 64}, w2);
    ob_node(&b, "MatMul", "x,w1", "h");
    ob_node(&b, "Relu", "h", "r");
    ob_node(&b, "MatMul", "r,w2", "y");
    ob_output(&b, "y");
    char onnx[1024], ref[1024], out[1024], buf[4096];
    snprintf(onnx, sizeof onnx, "%s/cw.onnx", mk_test_tmpdir());
    snprintf(ref, sizeof ref, "%s/cw32.mlpackage", mk_test_tmpdir());
    ob_pack(&b);
    FILE *f = fopen(onnx, "wb");
    REQUIRE(f);
    int ok = fwrite(b.packed, 1, b.packed_len, f) == b.packed_len;
    REQUIRE(fclose(f) == 0 && ok);
    ob_free(&b);
    CHECK_EQ_INT(mk_test_sh(buf, sizeof buf,
                            "'%s' convert '%s' -o '%s' --target ios18 --precision fp32",
                            mk_test_bin(), onnx, ref),
                 0);
    static const struct {
        const char *w;
        mk_op_kind k;
        int n;
    } cases[] = {{"int8", MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE, 2},
                 {"lut4", MK_OP_CONSTEXPR_LUT_TO_DENSE, 2},
                 {"cos=0.999", MK_OP__COUNT, 2}};
    mk_program *r = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_program_load(ref, NULL, &r, &e) == MK_OK);
    mk_tensor_list in = {0, NULL};
    REQUIRE(mk_random_inputs(r, 4, &in, &e) == MK_OK);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        snprintf(out, sizeof out, "%s/cw_%zu.mlpackage", mk_test_tmpdir(), k);
        int rc =
            mk_test_sh(buf, sizeof buf,
                       "'%s' convert '%s' -o '%s' --target ios18 --precision fp32 --weights %s",
                       mk_test_bin(), onnx, out, cases[k].w);
        CHECK_MSG(rc == 0, "--weights %s: %s", cases[k].w, buf);
        mk_program *q = NULL;
        if (rc || mk_program_load(out, NULL, &q, &e) != MK_OK) continue;
        int n = cases[k].k == MK_OP__COUNT ? count_kind(q, MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE) +
                                                 count_kind(q, MK_OP_CONSTEXPR_LUT_TO_DENSE)
                                           : count_kind(q, cases[k].k);
        CHECK_MSG(n == cases[k].n, "--weights %s: %d compressed weights", cases[k].w, n);
        mk_output_error oe[2];
        int no = 0;
        CHECK_MSG(mk_output_errors(r, q, &in, 0, oe, 2, &no, &e) == MK_OK && no == 1 &&
                      oe[0].cos > (k == 1 ? 0.98 : 0.999),
                  "--weights %s: cosine %f (%s)", cases[k].w, no ? oe[0].cos : -1, e.msg);
        mk_program_free(q);
    }
    int rc =
        mk_test_sh(buf, sizeof buf, "'%s' convert '%s' -o '%s/cw_bad.mlpackage' --weights lut5",
                   mk_test_bin(), onnx, mk_test_tmpdir());
    CHECK_MSG(rc == 2, "lut5: exit %d: %s", rc, buf);
    mk_tensor_list_free(&in);
    mk_program_free(r);
}
