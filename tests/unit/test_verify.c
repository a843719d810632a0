/* Verifier tests: a valid program (with defaults completed and a cond op) passes; each
 * structural or per-op fault (use before definition, use outside a block, missing required
 * parameter, unknown parameter, non-constant const parameter, tuple misuse, wrong declared
 * type, op newer than the target, opset/spec mismatch) fails with a message naming the
 * function, op name, op type and reason. */
#include <string.h>

#include "test.h"
#include "test_infer_util.h"

/* A small valid iOS15 program: relu -> conv (defaults completed) -> output. */
static mk_op *build_valid(tprog *t, mk_op **relu_out)
{
    if (!tp_init(t, 6)) return NULL;
    mk_value *x = tp_in(t, "x", T32(1, 3, 8, 8));
    float wd[2 * 3 * 3 * 3] = {0};
    mk_type wt = T32(2, 3, 3, 3);
    mk_value *w = mk_ir_const(t->p, t->b, "w", &wt, wd, sizeof wd, 0);
    mk_op *relu = tp_op(t, MK_OP_RELU, "relu", 1, "x", x, NULL);
    mk_op *conv = relu && w
                      ? tp_op(t, MK_OP_CONV, "conv", 1, "x", relu->outputs[0], "weight", w, NULL)
                      : NULL;
    mk_err e;
    memset(&e, 0, sizeof e);
    if (!conv || mk_ir_infer_op(relu, &e) || mk_ir_complete_defaults(t->p, conv, &e) ||
        mk_ir_infer_op(conv, &e) || !mk_ir_block_set_outputs(t->p, t->b, 1, conv->outputs)) {
        fprintf(stderr, "  build_valid: %s\n", e.msg);
        return NULL;
    }
    if (relu_out) *relu_out = relu;
    return conv;
}

static mk_status verify(const tprog *t, mk_err *e)
{
    memset(e, 0, sizeof *e);
    return mk_ir_verify(t->p, e);
}

TEST(verify_accepts_valid_program)
{
    tprog t;
    mk_err e;
    mk_op *conv = build_valid(&t, NULL);
    REQUIRE(conv);
    CHECK_MSG(verify(&t, &e) == MK_OK, "verify: %s", e.msg);
    CHECK(ty_is(conv, 0, MK_DT_FP32, SHAPE(1, 2, 6, 6)));
    memset(&e, 0, sizeof e);
    CHECK(mk_program_verify(t.p, &e) == MK_OK);
    mk_ir_program_free(t.p);
}

TEST(verify_rejects_use_before_definition)
{
    tprog t;
    mk_err e;
    mk_op *relu = NULL;
    mk_op *conv = build_valid(&t, &relu);
    REQUIRE(conv && relu);
    mk_ir_unlink(relu);
    mk_ir_block_append(t.b, relu); /* now defined after its use by conv */
    CHECK(verify(&t, &e) == MK_EINVAL);
    CHECK(strstr(e.msg, "function 'main': op 'conv' (conv):") == e.msg);
    CHECK(strstr(e.msg, "before its definition") != NULL);
    mk_ir_program_free(t.p);
}

TEST(verify_rejects_missing_required_and_unknown_params)
{
    tprog t;
    mk_err e;
    mk_op *conv = build_valid(&t, NULL);
    REQUIRE(conv);
    for (int i = 0; i < conv->n_inputs; i++)
        if (strcmp(conv->inputs[i].name, "weight") == 0) conv->inputs[i].name = "wieght";
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "unknown input 'wieght'"));
    mk_ir_program_free(t.p);

    conv = build_valid(&t, NULL);
    REQUIRE(conv);
    conv->inputs[1] = conv->inputs[conv->n_inputs - 1]; /* drop weight */
    conv->n_inputs--;
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "missing required input 'weight'") &&
          strstr(e.msg, "(conv)"));
    mk_ir_program_free(t.p);
}

TEST(verify_rejects_wrong_declared_type)
{
    tprog t;
    mk_err e;
    mk_op *conv = build_valid(&t, NULL);
    REQUIRE(conv);
    conv->outputs[0]->type.dims[2] = 7; /* really 6 */
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "op 'conv' (conv)") &&
          strstr(e.msg, "declared"));
    conv->outputs[0]->type.dims[2] = MK_DIM_UNKNOWN; /* unknown is consistent */
    CHECK_MSG(verify(&t, &e) == MK_OK, "verify: %s", e.msg);
    conv->outputs[0]->type.dtype = MK_DT_FP16;
    CHECK(verify(&t, &e) == MK_EINVAL);
    mk_ir_program_free(t.p);
}

TEST(verify_rejects_op_newer_than_target_and_opset_mismatch)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *x = tp_in(&t, "x", T32(4));
    mk_op *fl = tp_op(&t, MK_OP_FILL_LIKE, "fl", 1, "ref_tensor", x, NULL); /* iOS16 op */
    REQUIRE(fl);
    fl->outputs[0]->type = T32(4);
    REQUIRE(mk_ir_block_set_outputs(t.p, t.b, 1, fl->outputs));
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "needs iOS16") &&
          strstr(e.msg, "(fill_like)"));
    t.p->spec_version = 7;
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "opset CoreML5"));
    t.f->opset = mk_ir_opset_for_spec(7);
    CHECK_MSG(verify(&t, &e) == MK_OK, "verify: %s", e.msg);
    t.p->spec_version = 3;
    CHECK(verify(&t, &e) == MK_EINVAL);
    mk_ir_program_free(t.p);
}

TEST(verify_rejects_nonconst_const_param_and_tuple_misuse)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *x = tp_in(&t, "x", T32(2, 3));
    mk_value *perm = tp_in(&t, "perm", tt(MK_DT_INT32, SHAPE(2)));
    mk_op *tr = tp_op(&t, MK_OP_TRANSPOSE, "tr", 1, "x", x, "perm", perm, NULL);
    REQUIRE(tr);
    tr->outputs[0]->type = T32(3, 2);
    REQUIRE(mk_ir_block_set_outputs(t.p, t.b, 1, tr->outputs));
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "must be a constant"));
    mk_ir_program_free(t.p);

    REQUIRE(tp_init(&t, 6));
    x = tp_in(&t, "x", T32(2, 3));
    mk_op *r = tp_op(&t, MK_OP_RELU, "r", 1, "x", x, "x", x, NULL);
    REQUIRE(r);
    r->outputs[0]->type = T32(2, 3);
    REQUIRE(mk_ir_block_set_outputs(t.p, t.b, 1, r->outputs));
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "not a tuple"));
    mk_ir_program_free(t.p);
}

TEST(verify_nested_blocks_scope)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *x = tp_in(&t, "x", T32(3));
    mk_value *pred = tp_in(&t, "pred", tt(MK_DT_BOOL, 0, NULL));
    mk_op *cond = mk_ir_op_new(t.p, MK_OP_COND, "cond");
    REQUIRE(cond && mk_ir_op_add_input(t.p, cond, "pred", pred));
    mk_value *inner = NULL;
    for (int i = 0; i < 2; i++) {
        mk_block *b = mk_ir_block_new(t.p, t.f, cond);
        REQUIRE(b && mk_ir_op_add_block(t.p, cond, b));
        mk_op *op = mk_ir_op_new(t.p, i ? MK_OP_EXP : MK_OP_RELU, i ? "br_f" : "br_t");
        REQUIRE(op && mk_ir_op_add_input(t.p, op, "x", x));
        mk_type ty = T32(3);
        mk_value *o = mk_ir_op_add_output(t.p, op, NULL, &ty);
        REQUIRE(o);
        mk_ir_block_append(b, op);
        REQUIRE(mk_ir_block_set_outputs(t.p, b, 1, &o));
        if (!i) inner = o;
    }
    mk_type none = mk_type_scalar(MK_DT_INVALID);
    REQUIRE(mk_ir_op_add_output(t.p, cond, NULL, &none));
    mk_ir_block_append(t.b, cond);
    memset(&e, 0, sizeof e);
    CHECK_MSG(mk_ir_infer_op(cond, &e) == MK_OK, "infer: %s", e.msg);
    CHECK(ty_is(cond, 0, MK_DT_FP32, SHAPE(3)));
    REQUIRE(mk_ir_block_set_outputs(t.p, t.b, 1, cond->outputs));
    CHECK_MSG(verify(&t, &e) == MK_OK, "verify: %s", e.msg);
    /* using a value of the true branch after the cond is out of scope */
    mk_op *leak = tp_op(&t, MK_OP_RELU, "leak", 1, "x", inner, NULL);
    REQUIRE(leak);
    leak->outputs[0]->type = T32(3);
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "outside its block") &&
          strstr(e.msg, "op 'leak' (relu)"));
    mk_ir_unlink(leak);
    REQUIRE(mk_ir_block_set_outputs(t.p, t.b, 1, &inner));
    CHECK(verify(&t, &e) == MK_EINVAL && strstr(e.msg, "block output"));
    mk_ir_program_free(t.p);
}

/* Every golden package written by coremltools must verify, and its declared output types
 * must be what our rules infer; a corrupted declared dim must then be caught. */
TEST(verify_golden_packages_from_coremltools)
{
    const char *shared = mk_test_shared_dir();
    if (!shared) SKIP("no shared reference dir");
    static const char *const names[] = {"a_conv1d_bias_fp32_ios15.mlpackage",
                                        "b_convtranspose1d_768to384_k7s3p2_fp32_ios17.mlpackage",
                                        "c_convtranspose1d_768to384_k7s3p2_fp16_ios17.mlpackage",
                                        "d_mlp_linear_relu_softmax_fp32_ios17.mlpackage",
                                        "e_cumsum_fp32_ios17.mlpackage",
                                        "f1_int8_affine_dequantize_fp32_ios16.mlpackage",
                                        "f2_int8_blockwise_shift_scale_fp16_ios18.mlpackage",
                                        "flex.mlpackage"};
    int n_ops = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/golden/%s", shared, names[i]);
        mk_program *p = NULL;
        mk_err e;
        memset(&e, 0, sizeof e);
        if (mk_program_load(path, NULL, &p, &e) != MK_OK) {
            mk_test_fail(tc, __FILE__, __LINE__, "load %s: %s", names[i], e.msg);
            continue;
        }
        memset(&e, 0, sizeof e);
        CHECK_MSG(mk_ir_verify(p, &e) == MK_OK, "%s: %s", names[i], e.msg);
        mk_op *target = NULL;
        MK_FOR_OPS(mk_ir_main(p)->block, op)
        {
            n_ops++;
            if (op->kind != MK_OP_CONST && op->n_outputs && op->outputs[0]->type.rank > 0 &&
                op->outputs[0]->type.dims[op->outputs[0]->type.rank - 1] > 0)
                target = op;
        }
        if (target) {
            mk_type *ty = &target->outputs[0]->type;
            ty->dims[ty->rank - 1] += 1;
            memset(&e, 0, sizeof e);
            CHECK_MSG(mk_ir_verify(p, &e) == MK_EINVAL && strstr(e.msg, "declared"),
                      "%s: corrupted output type of '%s' not caught", names[i],
                      target->name ? target->name : "?");
        }
        mk_program_free(p);
    }
    CHECK(n_ops >= 20);
}
