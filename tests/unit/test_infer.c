/* Type inference tests: the every-op-has-a-rule table test, then per-family programs whose
 * inferred output types are checked against sizes computed by hand from the MIL / ONNX
 * semantics (e.g. conv 1x3x224x224, k7 s2 p3 -> 112), and bad inputs that must fail with
 * a one-line "op '<name>' (<type>): ..." message. */
#include <string.h>

#include "test.h"
#include "test_infer_util.h"

#define U MK_DIM_UNKNOWN

/* Infer op and require success, printing the error message otherwise. */
#define INFER_OK(op)                                                                               \
    do {                                                                                           \
        mk_status st_ = tp_infer((op), &e);                                                        \
        CHECK_MSG(st_ == MK_OK, "infer failed: %s", e.msg);                                        \
    } while (0)

TEST(infer_every_op_has_rule_and_params)
{
    for (int k = 0; k < MK_OP__COUNT; k++) {
        const mk_op_info *in = mk_ir_op_info((mk_op_kind)k);
        CHECK_MSG(mk_ir_infer_has_rule((mk_op_kind)k), "op %s has no type rule", in->name);
        const mk_op_params *ps = mk_ir_op_params((mk_op_kind)k);
        CHECK_MSG(ps && ps->n_params > 0, "op %s has no parameter table entry", in->name);
        for (int i = 0; ps && i < ps->n_params; i++) {
            const mk_op_param *pp = &ps->params[i];
            CHECK_MSG(pp->name && *pp->name, "op %s param %d unnamed", in->name, i);
            CHECK_MSG(!(pp->def && (pp->flags & MK_PARAM_REQUIRED)),
                      "op %s param %s is required but has a default", in->name, pp->name);
        }
    }
    CHECK(!mk_ir_infer_has_rule(MK_OP__COUNT));
}

TEST(infer_param_table_facts)
{
    const mk_op_param *pp = mk_ir_op_param(MK_OP_CONV, "pad_type", 15);
    REQUIRE(pp);
    CHECK(pp->def == MK_DEF_STR && strcmp(pp->sval, "valid") == 0 && (pp->flags & MK_PARAM_CONST));
    CHECK(mk_ir_op_param(MK_OP_GATHER, "batch_dims", 15) == NULL);
    CHECK(mk_ir_op_param(MK_OP_GATHER, "batch_dims", 16) != NULL);
    CHECK(mk_ir_op_param(MK_OP_CONCAT, "values", 15)->flags & MK_PARAM_TUPLE);
    CHECK(mk_ir_op_param(MK_OP_CONSTEXPR_CAST, "source_val", 16)->flags & MK_PARAM_ATTR);
    CHECK(!(mk_ir_op_param(MK_OP_CONSTEXPR_CAST, "source_val", 18)->flags & MK_PARAM_ATTR));
    CHECK(mk_ir_op_param(MK_OP_CONV, "bias", 15)->flags & MK_PARAM_CONST);
    CHECK(!(mk_ir_op_param(MK_OP_CONV, "bias", 17)->flags & MK_PARAM_CONST));
    CHECK(mk_ir_op_param(MK_OP_CONST, "val", 15)->flags & MK_PARAM_ATTR);
    CHECK(mk_ir_op_param(MK_OP_RSQRT, "epsilon", 15)->fval == 1e-12);
}

TEST(infer_elementwise_broadcast_and_compare)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *a = tp_in(&t, "a", T32(2, 1, 4)), *b = tp_in(&t, "b", T32(3, 1));
    mk_value *u = tp_in(&t, "u", T32(U, 4));
    mk_op *add = tp_op(&t, MK_OP_ADD, "add", 1, "x", a, "y", b, NULL);
    INFER_OK(add);
    CHECK(ty_is(add, 0, MK_DT_FP32, SHAPE(2, 3, 4)));
    mk_op *lt = tp_op(&t, MK_OP_LESS, "lt", 1, "x", a, "y", u, NULL);
    INFER_OK(lt);
    CHECK(ty_is(lt, 0, MK_DT_BOOL, SHAPE(2, U, 4)));
    mk_value *c = tp_in(&t, "c", T32(2, 3)), *d = tp_in(&t, "d", T32(4));
    mk_op *bad = tp_op(&t, MK_OP_MUL, "bad", 1, "x", c, "y", d, NULL);
    CHECK(tp_infer(bad, &e) == MK_EINVAL);
    CHECK(strstr(e.msg, "op 'bad' (mul):") == e.msg);
    CHECK(strchr(e.msg, '\n') == NULL);
    mk_value *h = tp_in(&t, "h", tt(MK_DT_FP16, SHAPE(2, 3)));
    mk_op *mix = tp_op(&t, MK_OP_SUB, "mix", 1, "x", c, "y", h, NULL);
    CHECK(tp_infer(mix, &e) == MK_EINVAL);
    mk_op *miss = tp_op(&t, MK_OP_ADD, "miss", 1, "x", c, NULL);
    CHECK(tp_infer(miss, &e) == MK_EINVAL && strstr(e.msg, "'y'"));
    mk_op *sm = tp_op(&t, MK_OP_SOFTMAX, "sm", 1, "x", c, "axis", tp_ints(&t, "ax", -1, 2), NULL);
    CHECK(tp_infer(sm, &e) == MK_EINVAL && strstr(e.msg, "axis"));
    mk_op *cast = tp_op(&t, MK_OP_CAST, "cast", 1, "x", c, "dtype", tp_str(&t, "dt", "fp16"), NULL);
    INFER_OK(cast);

    CHECK(ty_is(cast, 0, MK_DT_FP16, SHAPE(2, 3)));
    mk_op *c8 = tp_op(&t, MK_OP_CAST, "c8", 1, "x", c, "dtype", tp_str(&t, "dt8", "int8"), NULL);
    CHECK(tp_infer(c8, &e) == MK_EINVAL); /* int8 needs iOS17 */
    mk_ir_program_free(t.p);
}

TEST(infer_conv_output_sizes)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 7));
    mk_value *x = tp_in(&t, "x", T32(1, 3, 224, 224));
    mk_value *w7 = tp_in(&t, "w7", T32(64, 3, 7, 7));
    /* ResNet stem: k7 s2 p3 -> floor((224 + 6 - 7) / 2) + 1 = 112 */
    mk_op *c1 =
        tp_op(&t, MK_OP_CONV, "c1", 1, "x", x, "weight", w7, "strides", tp_ints(&t, "s", 2, 2, 2),
              "pad_type", tp_str(&t, "pt", "custom"), "pad", tp_ints(&t, "p", 4, 3, 3, 3, 3), NULL);
    INFER_OK(c1);
    CHECK(ty_is(c1, 0, MK_DT_FP32, SHAPE(1, 64, 112, 112)));
    /* same: ceil(224 / 2) = 112; valid k7 s1: 224 - 6 = 218 */
    mk_op *c2 = tp_op(&t, MK_OP_CONV, "c2", 1, "x", x, "weight", w7, "strides",
                      tp_ints(&t, "s", 2, 2, 2), "pad_type", tp_str(&t, "pt", "same"), NULL);
    INFER_OK(c2);

    CHECK(ty_is(c2, 0, MK_DT_FP32, SHAPE(1, 64, 112, 112)));
    mk_op *c3 = tp_op(&t, MK_OP_CONV, "c3", 1, "x", x, "weight", w7, NULL);
    INFER_OK(c3);

    CHECK(ty_is(c3, 0, MK_DT_FP32, SHAPE(1, 64, 218, 218)));
    /* dilation 2, k3: effective 5 -> 224 - 4 = 220; same_lower s2 on 15 -> 8 */
    mk_value *w3 = tp_in(&t, "w3", T32(8, 3, 3, 3));
    mk_op *c4 = tp_op(&t, MK_OP_CONV, "c4", 1, "x", x, "weight", w3, "dilations",
                      tp_ints(&t, "d", 2, 2, 2), NULL);
    INFER_OK(c4);

    CHECK(ty_is(c4, 0, MK_DT_FP32, SHAPE(1, 8, 220, 220)));
    mk_value *x15 = tp_in(&t, "x15", T32(1, 3, 15, U));
    mk_op *c5 = tp_op(&t, MK_OP_CONV, "c5", 1, "x", x15, "weight", w3, "strides",
                      tp_ints(&t, "s", 2, 2, 2), "pad_type", tp_str(&t, "pt", "same_lower"), NULL);
    INFER_OK(c5);

    CHECK(ty_is(c5, 0, MK_DT_FP32, SHAPE(1, 8, 8, U)));
    /* depthwise: groups 32, weight [32, 1, 3, 3] */
    mk_value *xd = tp_in(&t, "xd", T32(2, 32, 16, 16)), *wd = tp_in(&t, "wd", T32(32, 1, 3, 3));
    mk_op *c6 = tp_op(&t, MK_OP_CONV, "c6", 1, "x", xd, "weight", wd, "groups",
                      tp_ints(&t, "g", -1, 32), NULL);
    INFER_OK(c6);

    CHECK(ty_is(c6, 0, MK_DT_FP32, SHAPE(2, 32, 14, 14)));
    mk_value *wb = tp_in(&t, "wb", T32(32, 2, 3, 3));
    mk_op *c7 = tp_op(&t, MK_OP_CONV, "c7", 1, "x", xd, "weight", wb, "groups",
                      tp_ints(&t, "g", -1, 32), NULL);
    CHECK(tp_infer(c7, &e) == MK_EINVAL && strstr(e.msg, "(conv)"));
    /* conv1d, kernel larger than input */
    mk_value *x1 = tp_in(&t, "x1", T32(1, 4, 3)), *w1 = tp_in(&t, "w1", T32(2, 4, 5));
    mk_op *c8 = tp_op(&t, MK_OP_CONV, "c8", 1, "x", x1, "weight", w1, NULL);
    CHECK(tp_infer(c8, &e) == MK_EINVAL);
    mk_ir_program_free(t.p);
}

TEST(infer_conv_transpose_and_pool)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 8));
    /* golden b: 768 -> 384, k7 s3 p2 on length 32: (32-1)*3 + 7 - 4 = 96 */
    mk_value *x = tp_in(&t, "x", T32(1, 768, 32)), *w = tp_in(&t, "w", T32(768, 384, 7));
    mk_op *ct = tp_op(&t, MK_OP_CONV_TRANSPOSE, "ct", 1, "x", x, "weight", w, "strides",
                      tp_ints(&t, "s", 1, 3), "pad_type", tp_str(&t, "pt", "custom"), "pad",
                      tp_ints(&t, "p", 2, 2, 2), NULL);
    INFER_OK(ct);

    CHECK(ty_is(ct, 0, MK_DT_FP32, SHAPE(1, 384, 96)));
    mk_op *ct2 = tp_op(&t, MK_OP_CONV_TRANSPOSE, "ct2", 1, "x", x, "weight", w, "strides",
                       tp_ints(&t, "s", 1, 3), "pad_type", tp_str(&t, "pt", "same"), NULL);
    INFER_OK(ct2);

    CHECK(ty_is(ct2, 0, MK_DT_FP32, SHAPE(1, 384, 96)));
    mk_op *ct3 = tp_op(&t, MK_OP_CONV_TRANSPOSE, "ct3", 1, "x", x, "weight", w, "output_shape",
                       tp_ints(&t, "os", 3, 1, 384, 97), NULL);
    INFER_OK(ct3);

    CHECK(ty_is(ct3, 0, MK_DT_FP32, SHAPE(1, 384, 97)));
    mk_value *wg = tp_in(&t, "wg", T32(768, 2, 4));
    mk_op *ct4 = tp_op(&t, MK_OP_CONV_TRANSPOSE, "ct4", 1, "x", x, "weight", wg, "groups",
                       tp_ints(&t, "g", -1, 4), "strides", tp_ints(&t, "s", 1, 2), NULL);
    /* valid: (32-1)*2 + 4 = 66, C_out = 2*4 */
    INFER_OK(ct4);

    CHECK(ty_is(ct4, 0, MK_DT_FP32, SHAPE(1, 8, 66)));

    mk_value *p = tp_in(&t, "pin", T32(1, 64, 112, 112));
    mk_op *mp = tp_op(&t, MK_OP_MAX_POOL, "mp", 1, "x", p, "kernel_sizes",
                      tp_ints(&t, "k", 2, 3, 3), "strides", tp_ints(&t, "s", 2, 2, 2), "pad_type",
                      tp_str(&t, "pt", "custom"), "pad", tp_ints(&t, "pp", 4, 1, 1, 1, 1), NULL);
    INFER_OK(mp);

    CHECK(ty_is(mp, 0, MK_DT_FP32, SHAPE(1, 64, 56, 56)));
    mk_value *q = tp_in(&t, "q", T32(1, 1, 5, 5));
    mk_op *fl =
        tp_op(&t, MK_OP_AVG_POOL, "fl", 1, "x", q, "kernel_sizes", tp_ints(&t, "k", 2, 2, 2),
              "strides", tp_ints(&t, "s", 2, 2, 2), "pad_type", tp_str(&t, "pt", "valid"), NULL);
    INFER_OK(fl);

    CHECK(ty_is(fl, 0, MK_DT_FP32, SHAPE(1, 1, 2, 2)));
    mk_op *ce = tp_op(&t, MK_OP_AVG_POOL, "ce", 1, "x", q, "kernel_sizes",
                      tp_ints(&t, "k", 2, 2, 2), "strides", tp_ints(&t, "s", 2, 2, 2), "pad_type",
                      tp_str(&t, "pt", "valid"), "ceil_mode", tp_bool(&t, "cm", 1), NULL);
    INFER_OK(ce);

    CHECK(ty_is(ce, 0, MK_DT_FP32, SHAPE(1, 1, 3, 3)));
    mk_op *sa =
        tp_op(&t, MK_OP_MAX_POOL, "sa", 1, "x", q, "kernel_sizes", tp_ints(&t, "k", 2, 2, 2),
              "strides", tp_ints(&t, "s", 2, 2, 2), "pad_type", tp_str(&t, "pt", "same"), NULL);
    INFER_OK(sa);

    CHECK(ty_is(sa, 0, MK_DT_FP32, SHAPE(1, 1, 3, 3)));
    mk_op *np =
        tp_op(&t, MK_OP_MAX_POOL, "np", 1, "x", q, "kernel_sizes", tp_ints(&t, "k", 2, 2, 2), NULL);
    CHECK(tp_infer(np, &e) == MK_EINVAL && strstr(e.msg, "pad_type"));
    mk_ir_program_free(t.p);
}

TEST(infer_matmul_linear_einsum)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *a = tp_in(&t, "a", T32(2, 3, 4)), *b = tp_in(&t, "b", T32(4, 5));
    mk_op *m1 = tp_op(&t, MK_OP_MATMUL, "m1", 1, "x", a, "y", b, NULL);
    INFER_OK(m1);

    CHECK(ty_is(m1, 0, MK_DT_FP32, SHAPE(2, 3, 5)));
    mk_value *c = tp_in(&t, "c", T32(3, 4)), *d = tp_in(&t, "d", T32(5, 4));
    mk_op *m2 =
        tp_op(&t, MK_OP_MATMUL, "m2", 1, "x", c, "y", d, "transpose_y", tp_bool(&t, "ty", 1), NULL);
    INFER_OK(m2);

    CHECK(ty_is(m2, 0, MK_DT_FP32, SHAPE(3, 5)));
    mk_value *v = tp_in(&t, "v", T32(4));
    mk_op *m3 = tp_op(&t, MK_OP_MATMUL, "m3", 1, "x", v, "y", b, NULL);
    INFER_OK(m3);

    CHECK(ty_is(m3, 0, MK_DT_FP32, SHAPE(5)));
    mk_op *m3b = tp_op(&t, MK_OP_MATMUL, "m3b", 1, "x", c, "y", v, NULL);
    INFER_OK(m3b);

    CHECK(ty_is(m3b, 0, MK_DT_FP32, SHAPE(3)));
    mk_value *g = tp_in(&t, "g", T32(2, 1, 3, 4)), *h = tp_in(&t, "h", T32(5, 4, 6));
    mk_op *m4 = tp_op(&t, MK_OP_MATMUL, "m4", 1, "x", g, "y", h, NULL);
    INFER_OK(m4);

    CHECK(ty_is(m4, 0, MK_DT_FP32, SHAPE(2, 5, 3, 6)));
    mk_op *m5 = tp_op(&t, MK_OP_MATMUL, "m5", 1, "x", c, "y", d, NULL);
    CHECK(tp_infer(m5, &e) == MK_EINVAL && strstr(e.msg, "inner"));

    mk_value *x = tp_in(&t, "x", T32(2, 7, 8)), *w = tp_in(&t, "w", T32(16, 8));
    mk_op *l = tp_op(&t, MK_OP_LINEAR, "l", 1, "x", x, "weight", w, NULL);
    INFER_OK(l);

    CHECK(ty_is(l, 0, MK_DT_FP32, SHAPE(2, 7, 16)));
    mk_op *lb = tp_op(&t, MK_OP_LINEAR, "lb", 1, "x", x, "weight", d, NULL);
    CHECK(tp_infer(lb, &e) == MK_EINVAL);

    mk_value *p = tp_in(&t, "p", T32(2, 3, 4)), *q = tp_in(&t, "q", T32(2, 4, 5));
    mk_op *e1 = mk_ir_op_new(t.p, MK_OP_EINSUM, "e1");
    REQUIRE(e1 && mk_ir_op_add_input(t.p, e1, "values", p) &&
            mk_ir_op_add_input(t.p, e1, "values", q) &&
            mk_ir_op_add_input(t.p, e1, "equation", tp_str(&t, "eq", "bij,bjk->bik")));
    mk_type none = mk_type_scalar(MK_DT_INVALID);
    REQUIRE(mk_ir_op_add_output(t.p, e1, NULL, &none));
    mk_ir_block_append(t.b, e1);
    INFER_OK(e1);

    CHECK(ty_is(e1, 0, MK_DT_FP32, SHAPE(2, 3, 5)));
    mk_op *e2 = mk_ir_op_new(t.p, MK_OP_EINSUM, "e2");
    REQUIRE(e2 && mk_ir_op_add_input(t.p, e2, "values", a) &&
            mk_ir_op_add_input(t.p, e2, "equation", tp_str(&t, "eq", "...ij->...ji")));
    REQUIRE(mk_ir_op_add_output(t.p, e2, NULL, &none));
    mk_ir_block_append(t.b, e2);
    INFER_OK(e2);

    CHECK(ty_is(e2, 0, MK_DT_FP32, SHAPE(2, 4, 3)));
    mk_op *e3 = mk_ir_op_new(t.p, MK_OP_EINSUM, "e3");
    REQUIRE(e3 && mk_ir_op_add_input(t.p, e3, "values", c) &&
            mk_ir_op_add_input(t.p, e3, "values", b) &&
            mk_ir_op_add_input(t.p, e3, "equation", tp_str(&t, "eq", "kj,jl")));
    REQUIRE(mk_ir_op_add_output(t.p, e3, NULL, &none));
    mk_ir_block_append(t.b, e3);
    INFER_OK(e3);

    CHECK(ty_is(e3, 0, MK_DT_FP32, SHAPE(3, 5)));
    mk_ir_program_free(t.p);
}

TEST(infer_reshape_rules_by_opset)
{
    mk_err e;
    for (int spec = 6; spec <= 8; spec += 2) {
        tprog t;
        REQUIRE(tp_init(&t, spec));
        mk_value *x = tp_in(&t, "x", T32(2, 3, 4));
        mk_op *r1 =
            tp_op(&t, MK_OP_RESHAPE, "r1", 1, "x", x, "shape", tp_ints(&t, "s", 2, -1, 4), NULL);
        INFER_OK(r1);

        CHECK(ty_is(r1, 0, MK_DT_FP32, SHAPE(6, 4)));
        mk_op *r2 =
            tp_op(&t, MK_OP_RESHAPE, "r2", 1, "x", x, "shape", tp_ints(&t, "s", 3, 0, 0, -1), NULL);
        INFER_OK(r2);

        CHECK(ty_is(r2, 0, MK_DT_FP32, SHAPE(2, 3, 4)));
        mk_value *y = tp_in(&t, "y", T32(2, 50));
        mk_op *r3 = tp_op(&t, MK_OP_RESHAPE, "r3", 1, "x", y, "shape",
                          tp_ints(&t, "s", 4, 1, 0, -1, 0), NULL);
        if (spec == 8) { /* iOS17: zeros match from the right, out-of-range zeros become 1 */
            INFER_OK(r3);

            CHECK(ty_is(r3, 0, MK_DT_FP32, SHAPE(1, 1, 2, 50)));
        } else {
            CHECK(tp_infer(r3, &e) == MK_EINVAL && strstr(e.msg, "(reshape)"));
        }
        mk_op *r4 =
            tp_op(&t, MK_OP_RESHAPE, "r4", 1, "x", x, "shape", tp_ints(&t, "s", 2, 5, -1), NULL);
        CHECK(tp_infer(r4, &e) == MK_EINVAL);
        mk_value *dyn = tp_in(&t, "dyn", tt(MK_DT_INT32, SHAPE(3)));
        mk_op *r5 = tp_op(&t, MK_OP_RESHAPE, "r5", 1, "x", x, "shape", dyn, NULL);
        INFER_OK(r5);

        CHECK(ty_is(r5, 0, MK_DT_FP32, SHAPE(U, U, U)));
        mk_ir_program_free(t.p);
    }
}

TEST(infer_runtime_operands_drive_shapes)
{
    /* The interpreter passes concrete data for non-constant inputs. */
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *x = tp_in(&t, "x", T32(2, 3, 4));
    mk_value *s = tp_in(&t, "s", tt(MK_DT_INT32, SHAPE(2)));
    mk_op *r = tp_op(&t, MK_OP_RESHAPE, "r", 1, "x", x, "shape", s, NULL);
    REQUIRE(r);
    int32_t shape[2] = {4, -1};
    mk_operand ops[2] = {{x->type, NULL, 0}, {s->type, shape, sizeof shape}};
    mk_type out[4];
    int n = 0;
    memset(&e, 0, sizeof e);
    CHECK(mk_ir_infer(r, ops, 2, out, 4, &n, &e) == MK_OK);
    CHECK(n == 1 && out[0].rank == 2 && out[0].dims[0] == 4 && out[0].dims[1] == 6);
    CHECK(mk_ir_infer(r, ops, 1, out, 4, &n, &e) == MK_EINVAL);

    mk_value *fs = tp_in(&t, "fs", tt(MK_DT_INT32, SHAPE(3)));
    mk_op *f = tp_op(&t, MK_OP_FILL, "f", 1, "shape", fs, "value", tp_f32(&t, "v", 1), NULL);
    INFER_OK(f);

    CHECK(ty_is(f, 0, MK_DT_FP32, SHAPE(U, U, U)));
    int32_t fd[3] = {2, 0, 5};
    mk_operand fo[2] = {{fs->type, fd, sizeof fd}, {mk_type_scalar(MK_DT_FP32), NULL, 0}};
    memset(&e, 0, sizeof e);
    CHECK(mk_ir_infer(f, fo, 2, out, 4, &n, &e) == MK_OK && n == 1 && out[0].rank == 3 &&
          out[0].dims[0] == 2 && out[0].dims[1] == 0 && out[0].dims[2] == 5);
    int32_t neg[3] = {2, -3, 5};
    fo[0].data = neg;
    memset(&e, 0, sizeof e);
    CHECK(mk_ir_infer(f, fo, 2, out, 4, &n, &e) == MK_EINVAL);
    int32_t big[3] = {2147483647, 2147483647, 2147483647};
    fo[0].data = big;
    memset(&e, 0, sizeof e);
    CHECK(mk_ir_infer(f, fo, 2, out, 4, &n, &e) == MK_EINVAL && strstr(e.msg, "overflow"));
    fo[0].nbytes = 4; /* data shorter than its type */
    memset(&e, 0, sizeof e);
    CHECK(mk_ir_infer(f, fo, 2, out, 4, &n, &e) == MK_EINVAL);

    mk_value *nz = tp_in(&t, "nz", T32(2, 3));
    mk_op *z = tp_op(&t, MK_OP_NON_ZERO, "z", 1, "x", nz, NULL);
    INFER_OK(z);

    CHECK(ty_is(z, 0, MK_DT_INT32, SHAPE(U, 2)));
    float zd[6] = {0, 1, 0, 2, 3, 0};
    mk_operand zo[1] = {{nz->type, zd, sizeof zd}};
    memset(&e, 0, sizeof e);
    CHECK(mk_ir_infer(z, zo, 1, out, 4, &n, &e) == MK_OK && out[0].dims[0] == 3);
    mk_ir_program_free(t.p);
}

TEST(infer_layout_ops)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *x = tp_in(&t, "x", T32(1, 2, 3));
    mk_op *tr =
        tp_op(&t, MK_OP_TRANSPOSE, "tr", 1, "x", x, "perm", tp_ints(&t, "p", 3, 2, 0, 1), NULL);
    INFER_OK(tr);

    CHECK(ty_is(tr, 0, MK_DT_FP32, SHAPE(3, 1, 2)));
    mk_op *trb =
        tp_op(&t, MK_OP_TRANSPOSE, "trb", 1, "x", x, "perm", tp_ints(&t, "p", 3, 0, 0, 1), NULL);
    CHECK(tp_infer(trb, &e) == MK_EINVAL);
    mk_value *y = tp_in(&t, "y", T32(2, 3));
    mk_op *ed =
        tp_op(&t, MK_OP_EXPAND_DIMS, "ed", 1, "x", y, "axes", tp_ints(&t, "a", 2, 0, -1), NULL);
    INFER_OK(ed);

    CHECK(ty_is(ed, 0, MK_DT_FP32, SHAPE(1, 2, 3, 1)));
    mk_value *s = tp_in(&t, "s", T32(1, 3, 1));
    mk_op *sq = tp_op(&t, MK_OP_SQUEEZE, "sq", 1, "x", s, NULL);
    INFER_OK(sq);

    CHECK(ty_is(sq, 0, MK_DT_FP32, SHAPE(3)));
    mk_op *sq2 = tp_op(&t, MK_OP_SQUEEZE, "sq2", 1, "x", s, "axes", tp_ints(&t, "a", 1, -1), NULL);
    INFER_OK(sq2);

    CHECK(ty_is(sq2, 0, MK_DT_FP32, SHAPE(1, 3)));
    mk_value *f4 = tp_in(&t, "f4", T32(2, 3, 4, 5));
    mk_op *fl = tp_op(&t, MK_OP_FLATTEN2D, "fl", 1, "x", f4, "axis", tp_ints(&t, "a", -1, 2), NULL);
    INFER_OK(fl);

    CHECK(ty_is(fl, 0, MK_DT_FP32, SHAPE(6, 20)));

    mk_value *c1 = tp_in(&t, "c1", T32(2, 3)), *c2 = tp_in(&t, "c2", T32(U, 5));
    mk_op *cc = mk_ir_op_new(t.p, MK_OP_CONCAT, "cc");
    REQUIRE(cc && mk_ir_op_add_input(t.p, cc, "values", c1) &&
            mk_ir_op_add_input(t.p, cc, "values", c2) &&
            mk_ir_op_add_input(t.p, cc, "axis", tp_ints(&t, "a", -1, -1)));
    mk_type none = mk_type_scalar(MK_DT_INVALID);
    REQUIRE(mk_ir_op_add_output(t.p, cc, NULL, &none));
    mk_ir_block_append(t.b, cc);
    INFER_OK(cc);

    CHECK(ty_is(cc, 0, MK_DT_FP32, SHAPE(2, 8)));
    mk_op *st = mk_ir_op_new(t.p, MK_OP_STACK, "st");
    REQUIRE(st && mk_ir_op_add_input(t.p, st, "values", c1) &&
            mk_ir_op_add_input(t.p, st, "values", c1) &&
            mk_ir_op_add_input(t.p, st, "values", c1) &&
            mk_ir_op_add_input(t.p, st, "axis", tp_ints(&t, "a", -1, 1)));
    REQUIRE(mk_ir_op_add_output(t.p, st, NULL, &none));
    mk_ir_block_append(t.b, st);
    INFER_OK(st);

    CHECK(ty_is(st, 0, MK_DT_FP32, SHAPE(2, 3, 3)));

    mk_value *sp = tp_in(&t, "sp", T32(6, 4));
    mk_op *s1 = tp_op(&t, MK_OP_SPLIT, "s1", 3, "x", sp, "num_splits", tp_ints(&t, "n", -1, 3),
                      "axis", tp_ints(&t, "a", -1, 0), NULL);
    INFER_OK(s1);
    for (int i = 0; i < 3; i++) CHECK(ty_is(s1, i, MK_DT_FP32, SHAPE(2, 4)));
    mk_op *s2 = tp_op(&t, MK_OP_SPLIT, "s2", 2, "x", sp, "split_sizes", tp_ints(&t, "ss", 2, 1, 3),
                      "axis", tp_ints(&t, "a", -1, 1), NULL);
    INFER_OK(s2);

    CHECK(ty_is(s2, 0, MK_DT_FP32, SHAPE(6, 1)) && ty_is(s2, 1, MK_DT_FP32, SHAPE(6, 3)));
    mk_op *s3 = tp_op(&t, MK_OP_SPLIT, "s3", 2, "x", sp, "num_splits", tp_ints(&t, "n", -1, 3),
                      "axis", tp_ints(&t, "a", -1, 0), NULL);
    CHECK(tp_infer(s3, &e) == MK_EINVAL && strstr(e.msg, "outputs")); /* declares 2, gives 3 */
    mk_op *s4 = tp_op(&t, MK_OP_SPLIT, "s4", 1, "x", sp, "num_splits", tp_ints(&t, "n", -1, 4),
                      "axis", tp_ints(&t, "a", -1, 0), NULL);
    CHECK(tp_infer(s4, &e) == MK_EINVAL); /* 6 not divisible by 4 */

    mk_value *tl = tp_in(&t, "tl", T32(2, 3));
    mk_op *ti = tp_op(&t, MK_OP_TILE, "ti", 1, "x", tl, "reps", tp_ints(&t, "r", 2, 3, 2), NULL);
    INFER_OK(ti);

    CHECK(ty_is(ti, 0, MK_DT_FP32, SHAPE(6, 6)));
    mk_value *pd = tp_in(&t, "pd", T32(1, 3, 4, 4));
    mk_op *pa = tp_op(&t, MK_OP_PAD, "pa", 1, "x", pd, "pad", tp_ints(&t, "p", 4, 1, 1, 2, 2),
                      "mode", tp_str(&t, "m", "reflect"), NULL);
    INFER_OK(pa);

    CHECK(ty_is(pa, 0, MK_DT_FP32, SHAPE(1, 3, 6, 8)));
    mk_op *pb = tp_op(&t, MK_OP_PAD, "pb", 1, "x", pd, "pad", tp_ints(&t, "p", 2, 4, 0), "mode",
                      tp_str(&t, "m", "reflect"), NULL);
    CHECK(tp_infer(pb, &e) == MK_EINVAL); /* reflect pad must stay below the dim */
    mk_value *sh = tp_in(&t, "sh", T32(U, 7));
    mk_op *so = tp_op(&t, MK_OP_SHAPE, "so", 1, "x", sh, NULL);
    INFER_OK(so);

    CHECK(ty_is(so, 0, MK_DT_INT32, SHAPE(2)));
    mk_value *d2 = tp_in(&t, "d2", T32(1, 8, 3, 5));
    mk_op *ds = tp_op(&t, MK_OP_DEPTH_TO_SPACE, "ds", 1, "x", d2, "block_size",
                      tp_ints(&t, "b", -1, 2), NULL);
    INFER_OK(ds);

    CHECK(ty_is(ds, 0, MK_DT_FP32, SHAPE(1, 2, 6, 10)));
    mk_op *ps = tp_op(&t, MK_OP_PIXEL_SHUFFLE, "ps", 1, "x", d2, "upscale_factor",
                      tp_ints(&t, "b", -1, 2), NULL);
    INFER_OK(ps);

    CHECK(ty_is(ps, 0, MK_DT_FP32, SHAPE(1, 2, 6, 10)));
    mk_op *sd = tp_op(&t, MK_OP_SPACE_TO_DEPTH, "sd", 1, "x", d2, "block_size",
                      tp_ints(&t, "b", -1, 2), NULL);
    CHECK(tp_infer(sd, &e) == MK_EINVAL); /* 3 and 5 are not divisible by 2 */
    mk_ir_program_free(t.p);
}

TEST(infer_slices)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *x = tp_in(&t, "x", T32(10, 8));
    /* rows 2,4,6 (3 of them), columns 0..6 (7) */
    mk_op *s1 = tp_op(&t, MK_OP_SLICE_BY_INDEX, "s1", 1, "x", x, "begin", tp_ints(&t, "b", 2, 2, 0),
                      "end", tp_ints(&t, "e", 2, 8, -1), "stride", tp_ints(&t, "s", 2, 2, 1), NULL);
    INFER_OK(s1);

    CHECK(ty_is(s1, 0, MK_DT_FP32, SHAPE(3, 7)));
    uint8_t em[2] = {0, 1}, sqm[2] = {1, 0}, all[2] = {1, 1};
    mk_value *emv = mk_ir_const_bool(t.p, t.b, "em", 2, em, 0);
    mk_op *s2 = tp_op(&t, MK_OP_SLICE_BY_INDEX, "s2", 1, "x", x, "begin", tp_ints(&t, "b", 2, 2, 0),
                      "end", tp_ints(&t, "e", 2, 8, -1), "stride", tp_ints(&t, "s", 2, 2, 1),
                      "end_mask", emv, NULL);
    INFER_OK(s2);

    CHECK(ty_is(s2, 0, MK_DT_FP32, SHAPE(3, 8)));
    /* reverse: stride -1 with both masks -> whole axis; squeeze axis 0 */
    mk_op *s3 = tp_op(&t, MK_OP_SLICE_BY_INDEX, "s3", 1, "x", x, "begin", tp_ints(&t, "b", 2, 4, 0),
                      "end", tp_ints(&t, "e", 2, 5, 0), "stride", tp_ints(&t, "s", 2, 1, -1),
                      "begin_mask", mk_ir_const_bool(t.p, t.b, "bm", 2, all, 0), "end_mask",
                      mk_ir_const_bool(t.p, t.b, "em2", 2, all, 0), "squeeze_mask",
                      mk_ir_const_bool(t.p, t.b, "sq", 2, sqm, 0), NULL);
    INFER_OK(s3);

    CHECK(ty_is(s3, 0, MK_DT_FP32, SHAPE(8)));
    /* negative stride without masks: from 7 down to (not including) 1 step -2: 7,5,3 */
    mk_op *s4 =
        tp_op(&t, MK_OP_SLICE_BY_INDEX, "s4", 1, "x", x, "begin", tp_ints(&t, "b", 2, 0, 7), "end",
              tp_ints(&t, "e", 2, 10, 1), "stride", tp_ints(&t, "s", 2, 1, -2), NULL);
    INFER_OK(s4);

    CHECK(ty_is(s4, 0, MK_DT_FP32, SHAPE(10, 3)));
    mk_value *dyn = tp_in(&t, "dyn", tt(MK_DT_INT32, SHAPE(2)));
    mk_op *s5 = tp_op(&t, MK_OP_SLICE_BY_INDEX, "s5", 1, "x", x, "begin", dyn, "end",
                      tp_ints(&t, "e", 2, 8, -1), NULL);
    INFER_OK(s5);

    CHECK(ty_is(s5, 0, MK_DT_FP32, SHAPE(U, U)));
    mk_op *z1 = tp_op(&t, MK_OP_SLICE_BY_SIZE, "z1", 1, "x", x, "begin", tp_ints(&t, "b", 2, 3, 2),
                      "size", tp_ints(&t, "s", 2, -1, 4), NULL);
    INFER_OK(z1);

    CHECK(ty_is(z1, 0, MK_DT_FP32, SHAPE(7, 4)));
    mk_op *z2 = tp_op(&t, MK_OP_SLICE_BY_SIZE, "z2", 1, "x", x, "begin", tp_ints(&t, "b", 1, 3),
                      "size", tp_ints(&t, "s", 2, -1, 4), NULL);
    CHECK(tp_infer(z2, &e) == MK_EINVAL); /* begin has 1 entry for rank 2 */
    mk_ir_program_free(t.p);
}

TEST(infer_gather_scatter_reduce)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 7));
    mk_value *x = tp_in(&t, "x", T32(5, 6, 7)), *i2 = tp_in(&t, "i2", tt(MK_DT_INT32, SHAPE(2, 3)));
    mk_op *g1 = tp_op(&t, MK_OP_GATHER, "g1", 1, "x", x, "indices", i2, "axis",
                      tp_ints(&t, "a", -1, 1), NULL);
    INFER_OK(g1);

    CHECK(ty_is(g1, 0, MK_DT_FP32, SHAPE(5, 2, 3, 7)));
    mk_value *b = tp_in(&t, "b", T32(4, 5, 6)), *ib = tp_in(&t, "ib", tt(MK_DT_INT32, SHAPE(4, 3)));
    mk_op *g2 = tp_op(&t, MK_OP_GATHER, "g2", 1, "x", b, "indices", ib, "axis",
                      tp_ints(&t, "a", -1, 1), "batch_dims", tp_ints(&t, "bd", -1, 1), NULL);
    INFER_OK(g2);

    CHECK(ty_is(g2, 0, MK_DT_FP32, SHAPE(4, 3, 6)));
    mk_value *ind = tp_in(&t, "ind", tt(MK_DT_INT32, SHAPE(2, 2)));
    mk_op *g3 = tp_op(&t, MK_OP_GATHER_ND, "g3", 1, "x", b, "indices", ind, NULL);
    INFER_OK(g3);

    CHECK(ty_is(g3, 0, MK_DT_FP32, SHAPE(2, 6)));
    mk_value *ia = tp_in(&t, "ia", tt(MK_DT_INT32, SHAPE(4, 2, 6)));
    mk_op *g4 = tp_op(&t, MK_OP_GATHER_ALONG_AXIS, "g4", 1, "x", b, "indices", ia, "axis",
                      tp_ints(&t, "a", -1, 1), NULL);
    INFER_OK(g4);

    CHECK(ty_is(g4, 0, MK_DT_FP32, SHAPE(4, 2, 6)));
    mk_value *up = tp_in(&t, "up", T32(4, 2, 6));
    mk_op *sc = tp_op(&t, MK_OP_SCATTER_ALONG_AXIS, "sc", 1, "data", b, "indices", ia, "updates",
                      up, "axis", tp_ints(&t, "a", -1, 1), "mode", tp_str(&t, "m", "update"), NULL);
    INFER_OK(sc);

    CHECK(ty_is(sc, 0, MK_DT_FP32, SHAPE(4, 5, 6)));

    mk_value *r = tp_in(&t, "r", T32(2, 3, 4));
    mk_op *r1 =
        tp_op(&t, MK_OP_REDUCE_MEAN, "r1", 1, "x", r, "axes", tp_ints(&t, "ax", 1, 1), NULL);
    INFER_OK(r1);

    CHECK(ty_is(r1, 0, MK_DT_FP32, SHAPE(2, 4)));
    mk_op *r2 = tp_op(&t, MK_OP_REDUCE_SUM, "r2", 1, "x", r, "axes", tp_ints(&t, "ax", 2, -1, 0),
                      "keep_dims", tp_bool(&t, "k", 1), NULL);
    INFER_OK(r2);

    CHECK(ty_is(r2, 0, MK_DT_FP32, SHAPE(1, 3, 1)));
    mk_op *r3 = tp_op(&t, MK_OP_REDUCE_MAX, "r3", 1, "x", r, NULL);
    INFER_OK(r3);

    CHECK(ty_is(r3, 0, MK_DT_FP32, 0, NULL));
    mk_op *r4 =
        tp_op(&t, MK_OP_REDUCE_ARGMAX, "r4", 1, "x", r, "axis", tp_ints(&t, "ax", -1, 1), NULL);
    INFER_OK(r4);

    CHECK(ty_is(r4, 0, MK_DT_INT32, SHAPE(2, 4)));
    mk_op *r5 = tp_op(&t, MK_OP_REDUCE_MIN, "r5", 1, "x", r, "axes", tp_ints(&t, "ax", 1, 3), NULL);
    CHECK(tp_infer(r5, &e) == MK_EINVAL);
    mk_ir_program_free(t.p);
}

TEST(infer_creation_and_selection_ops)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 8));
    mk_op *f = tp_op(&t, MK_OP_FILL, "f", 1, "shape", tp_ints(&t, "s", 2, 2, 3), NULL);
    INFER_OK(f);

    CHECK(ty_is(f, 0, MK_DT_FP32, SHAPE(2, 3)));
    mk_op *r = tp_op(&t, MK_OP_RANGE_1D, "r", 1, "start", tp_ints(&t, "a", -1, 0), "end",
                     tp_ints(&t, "b", -1, 10), "step", tp_ints(&t, "c", -1, 3), NULL);
    INFER_OK(r);

    CHECK(ty_is(r, 0, MK_DT_INT32, SHAPE(4))); /* 0 3 6 9 */
    mk_op *rf = tp_op(&t, MK_OP_RANGE_1D, "rf", 1, "start", tp_f32(&t, "a", 1), "end",
                      tp_f32(&t, "b", 0), "step", tp_f32(&t, "c", -0.25f), NULL);
    INFER_OK(rf);

    CHECK(ty_is(rf, 0, MK_DT_FP32, SHAPE(4)));
    mk_op *rz = tp_op(&t, MK_OP_RANGE_1D, "rz", 1, "start", tp_ints(&t, "a", -1, 0), "end",
                      tp_ints(&t, "b", -1, 10), "step", tp_ints(&t, "c", -1, 0), NULL);
    CHECK(tp_infer(rz, &e) == MK_EINVAL);
    mk_value *ix = tp_in(&t, "ix", tt(MK_DT_INT32, SHAPE(2, 3)));
    mk_op *oh = tp_op(&t, MK_OP_ONE_HOT, "oh", 1, "indices", ix, "one_hot_vector_size",
                      tp_ints(&t, "n", -1, 5), "axis", tp_ints(&t, "a", -1, 1), "on_value",
                      tp_f32(&t, "on", 1), "off_value", tp_f32(&t, "off", 0), NULL);
    INFER_OK(oh);

    CHECK(ty_is(oh, 0, MK_DT_FP32, SHAPE(2, 5, 3)));
    mk_value *x = tp_in(&t, "x", T32(4, 10));
    mk_op *tk = tp_op(&t, MK_OP_TOPK, "tk", 2, "x", x, "k", tp_ints(&t, "k", -1, 3), NULL);
    INFER_OK(tk);

    CHECK(ty_is(tk, 0, MK_DT_FP32, SHAPE(4, 3)) && ty_is(tk, 1, MK_DT_INT32, SHAPE(4, 3)));
    mk_op *tk1 = tp_op(&t, MK_OP_TOPK, "tk1", 1, "x", x, "k", tp_ints(&t, "k", -1, 3),
                       "return_indices", tp_bool(&t, "ri", 0), NULL);
    INFER_OK(tk1);

    CHECK(ty_is(tk1, 0, MK_DT_FP32, SHAPE(4, 3)));
    mk_value *cnd = tp_in(&t, "cnd", tt(MK_DT_BOOL, SHAPE(4, 1)));
    mk_value *bb = tp_in(&t, "bb", T32(10));
    mk_op *se = tp_op(&t, MK_OP_SELECT, "se", 1, "cond", cnd, "a", x, "b", bb, NULL);
    INFER_OK(se);

    CHECK(ty_is(se, 0, MK_DT_FP32, SHAPE(4, 10)));
    mk_op *se2 = tp_op(&t, MK_OP_SELECT, "se2", 1, "cond", x, "a", x, "b", bb, NULL);
    CHECK(tp_infer(se2, &e) == MK_EINVAL);
    mk_op *as = tp_op(&t, MK_OP_ARGSORT, "as", 1, "x", x, NULL);
    INFER_OK(as);

    CHECK(ty_is(as, 0, MK_DT_INT32, SHAPE(4, 10)));
    mk_op *fl = tp_op(&t, MK_OP_FILL_LIKE, "fl", 1, "ref_tensor", x, "value",
                      tp_ints(&t, "v", -1, 7), NULL);
    INFER_OK(fl);

    CHECK(ty_is(fl, 0, MK_DT_INT32, SHAPE(4, 10)));
    mk_ir_program_free(t.p);
}

TEST(infer_norms_resample_recurrent_attention)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 9));
    mk_value *x = tp_in(&t, "x", T32(2, 3, 8, 8));
    mk_value *m = mk_ir_const_f32(t.p, t.b, "m", 3, (float[]){0, 0, 0}, 0);
    mk_op *bn = tp_op(&t, MK_OP_BATCH_NORM, "bn", 1, "x", x, "mean", m, "variance", m, NULL);
    INFER_OK(bn);

    CHECK(ty_is(bn, 0, MK_DT_FP32, SHAPE(2, 3, 8, 8)));
    mk_value *m4 = mk_ir_const_f32(t.p, t.b, "m4", 4, (float[]){0, 0, 0, 0}, 0);
    mk_op *bn2 = tp_op(&t, MK_OP_BATCH_NORM, "bn2", 1, "x", x, "mean", m4, "variance", m4, NULL);
    CHECK(tp_infer(bn2, &e) == MK_EINVAL);
    mk_op *ln = tp_op(&t, MK_OP_LAYER_NORM, "ln", 1, "x", x, "axes", tp_ints(&t, "a", 1, -1), NULL);
    INFER_OK(ln);

    CHECK(ty_is(ln, 0, MK_DT_FP32, SHAPE(2, 3, 8, 8)));
    mk_op *un = tp_op(&t, MK_OP_UPSAMPLE_NEAREST_NEIGHBOR, "un", 1, "x", x, "scale_factor_height",
                      tp_f32(&t, "sh", 1.5f), "scale_factor_width", tp_ints(&t, "sw", -1, 2), NULL);
    INFER_OK(un);

    CHECK(ty_is(un, 0, MK_DT_FP32, SHAPE(2, 3, 12, 16)));
    mk_op *rb = tp_op(&t, MK_OP_RESIZE_BILINEAR, "rb", 1, "x", x, "target_size_height",
                      tp_ints(&t, "h", -1, 5), "target_size_width", tp_ints(&t, "w", -1, 7), NULL);
    INFER_OK(rb);

    CHECK(ty_is(rb, 0, MK_DT_FP32, SHAPE(2, 3, 5, 7)));
    mk_op *rs = tp_op(&t, MK_OP_RESIZE, "rs", 1, "x", x, "shape", tp_ints(&t, "s", 2, 0, 20),
                      "resized_dims", tp_ints(&t, "rd", -1, 2), NULL);
    INFER_OK(rs);

    CHECK(ty_is(rs, 0, MK_DT_FP32, SHAPE(2, 3, 8, 20)));

    /* lstm: seq 5, batch 2, input 4, hidden 6, bidirectional, full sequence */
    mk_value *s = tp_in(&t, "seq", T32(5, 2, 4)), *h0 = tp_in(&t, "h0", T32(2, 12));
    mk_value *wih = tp_in(&t, "wih", T32(24, 4)), *whh = tp_in(&t, "whh", T32(24, 6));
    mk_op *ls =
        tp_op(&t, MK_OP_LSTM, "ls", 3, "x", s, "initial_h", h0, "initial_c", h0, "weight_ih", wih,
              "weight_hh", whh, "weight_ih_back", wih, "weight_hh_back", whh, "direction",
              tp_str(&t, "d", "bidirectional"), "output_sequence", tp_bool(&t, "os", 1), NULL);
    INFER_OK(ls);

    CHECK(ty_is(ls, 0, MK_DT_FP32, SHAPE(5, 2, 12)) && ty_is(ls, 1, MK_DT_FP32, SHAPE(2, 12)) &&
          ty_is(ls, 2, MK_DT_FP32, SHAPE(2, 12)));
    mk_value *gih = tp_in(&t, "gih", T32(18, 4)), *ghh = tp_in(&t, "ghh", T32(18, 6));
    mk_op *gr = tp_op(&t, MK_OP_GRU, "gr", 2, "x", s, "initial_h", h0, "weight_ih", gih,
                      "weight_hh", ghh, NULL);
    INFER_OK(gr);

    CHECK(ty_is(gr, 0, MK_DT_FP32, SHAPE(1, 2, 6)) && ty_is(gr, 1, MK_DT_FP32, SHAPE(2, 6)));
    mk_value *q = tp_in(&t, "q", T32(2, 4, 10, 16)), *k = tp_in(&t, "k", T32(2, 4, 12, 16));
    mk_value *v = tp_in(&t, "v", T32(2, 4, 12, 32));
    mk_op *at = tp_op(&t, MK_OP_SCALED_DOT_PRODUCT_ATTENTION, "at", 1, "query", q, "key", k,
                      "value", v, NULL);
    INFER_OK(at);

    CHECK(ty_is(at, 0, MK_DT_FP32, SHAPE(2, 4, 10, 32)));
    mk_op *at2 = tp_op(&t, MK_OP_SCALED_DOT_PRODUCT_ATTENTION, "at2", 1, "query", q, "key", v,
                       "value", v, NULL);
    CHECK(tp_infer(at2, &e) == MK_EINVAL);
    mk_ir_program_free(t.p);
}

TEST(infer_constants_and_constexpr)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 7));
    int8_t q[6] = {1, 2, 3, 4, 5, 6};
    float sc[2] = {0.5f, 0.25f};
    int8_t zp[2] = {0, 0};
    int32_t axis = 0;
    mk_type tq = tt(MK_DT_INT8, SHAPE(2, 3)), ts = T32(2), tz = tt(MK_DT_INT8, SHAPE(2));
    mk_type ta = mk_type_scalar(MK_DT_INT32);
    mk_op *dq = mk_ir_op_new(t.p, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, "dq");
    REQUIRE(dq);
    REQUIRE(
        mk_ir_op_add_attr(t.p, dq, "quantized_data", mk_ir_const_value(t.p, &tq, q, sizeof q, 0)));
    REQUIRE(mk_ir_op_add_attr(t.p, dq, "scale", mk_ir_const_value(t.p, &ts, sc, sizeof sc, 0)));
    REQUIRE(mk_ir_op_add_attr(t.p, dq, "zero_point", mk_ir_const_value(t.p, &tz, zp, 2, 0)));
    REQUIRE(mk_ir_op_add_attr(t.p, dq, "axis", mk_ir_const_value(t.p, &ta, &axis, 4, 0)));
    mk_type none = mk_type_scalar(MK_DT_INVALID);
    REQUIRE(mk_ir_op_add_output(t.p, dq, NULL, &none));
    mk_ir_block_append(t.b, dq);
    INFER_OK(dq);

    CHECK(ty_is(dq, 0, MK_DT_FP32, SHAPE(2, 3)));
    mk_value *c = tp_ints(&t, "c", 3, 1, 2, 3);
    CHECK(c && tp_infer(c->producer, &e) == MK_OK && ty_is(c->producer, 0, MK_DT_INT32, SHAPE(3)));
    mk_op *nodq = mk_ir_op_new(t.p, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, "nodq");
    REQUIRE(nodq && mk_ir_op_add_output(t.p, nodq, NULL, &none));
    mk_ir_block_append(t.b, nodq);
    CHECK(tp_infer(nodq, &e) == MK_EINVAL && strstr(e.msg, "quantized_data"));
    mk_ir_program_free(t.p);
}

TEST(infer_complete_defaults_conv_and_linear)
{
    tprog t;
    mk_err e;
    REQUIRE(tp_init(&t, 6));
    mk_value *x = tp_in(&t, "x", T32(1, 3, 32, 32)), *w = tp_in(&t, "w", T32(8, 3, 3, 3));
    mk_op *conv = tp_op(&t, MK_OP_CONV, "conv1", 1, "x", x, "weight", w, NULL);
    REQUIRE(conv);
    memset(&e, 0, sizeof e);
    CHECK(mk_ir_complete_defaults(t.p, conv, &e) == MK_OK);
    CHECK_EQ_INT(conv->n_inputs, 7);
    const char *want[5] = {"strides", "pad_type", "pad", "dilations", "groups"};
    int n_const = 0;
    MK_FOR_OPS(t.b, op) n_const += op->kind == MK_OP_CONST;
    CHECK_EQ_INT(n_const, 5);
    for (int i = 0; i < 5; i++) {
        mk_value *v = mk_ir_arg(conv, want[i]);
        CHECK_MSG(v && v->producer && v->producer->kind == MK_OP_CONST, "default %s missing",
                  want[i]);
        char nm[64];
        snprintf(nm, sizeof nm, "conv1_%s", want[i]);
        CHECK_STR(v ? v->name : NULL, nm);
    }
    int32_t s[4];
    int n = 0;
    CHECK(mk_ir_arg_i32s(conv, "strides", s, 4, &n) && n == 2 && s[0] == 1 && s[1] == 1);
    CHECK(mk_ir_arg_i32s(conv, "pad", s, 4, &n) && n == 4 && s[0] == 0 && s[3] == 0);
    CHECK_STR(mk_ir_arg_str(conv, "pad_type"), "valid");
    CHECK(t.b->last == conv); /* consts were inserted before the op */
    INFER_OK(conv);

    CHECK(ty_is(conv, 0, MK_DT_FP32, SHAPE(1, 8, 30, 30)));
    CHECK(mk_ir_complete_defaults(t.p, conv, &e) == MK_OK && conv->n_inputs == 7);

    mk_value *lx = tp_in(&t, "lx", T32(2, 4)), *lw = tp_in(&t, "lw", T32(5, 4));
    mk_op *lin = tp_op(&t, MK_OP_LINEAR, "lin", 1, "x", lx, "weight", lw, NULL);
    CHECK(mk_ir_complete_defaults(t.p, lin, &e) == MK_OK);
    mk_value *bias = mk_ir_arg(lin, "bias");
    CHECK(bias && bias->type.rank == 1 && bias->type.dims[0] == 5 && bias->cst &&
          mk_const_get_f64(bias, 4) == 0.0);
    mk_op *cs = tp_op(&t, MK_OP_CUMSUM, "cs", 1, "x", lx, NULL);
    CHECK(mk_ir_complete_defaults(t.p, cs, &e) == MK_OK && cs->n_inputs == 4);
    mk_op *sm = tp_op(&t, MK_OP_SOFTMAX, "sm", 1, "x", lx, NULL);
    int32_t ax = 0;
    CHECK(mk_ir_complete_defaults(t.p, sm, &e) == MK_OK && mk_ir_arg_i32(sm, "axis", &ax) &&
          ax == -1);
    mk_op *g = tp_op(&t, MK_OP_GATHER, "g", 1, "x", lx, "indices", tp_ints(&t, "i", 1, 0), NULL);
    CHECK(mk_ir_complete_defaults(t.p, g, &e) == MK_OK && mk_ir_arg(g, "axis") &&
          !mk_ir_arg(g, "batch_dims")); /* batch_dims is iOS16+ */
    mk_op *loose = mk_ir_op_new(t.p, MK_OP_SOFTMAX, "loose");
    CHECK(loose && mk_ir_complete_defaults(t.p, loose, &e) == MK_EINVAL);
    mk_ir_program_free(t.p);
}

/* Every rule on random, mostly wrong operands (all ranks 0..4, zero/unknown dims, odd
 * constants, strings, bools; params dropped or duplicated): each call must return OK or
 * MK_EINVAL with a one-line message, and OK results must be well-formed types. Run under
 * ASan this is the rules' memory-safety check. */
TEST(infer_random_operands_never_crash)
{
    tprog t;
    REQUIRE(tp_init(&t, 9));
    mk_value *pool[64];
    int np = 0;
    static const int64_t dimset[] = {1, 2, 3, 4, 0, MK_DIM_UNKNOWN, 7, 16};
    unsigned long long rng = 88172645463325252ull;
#define NEXT() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
    char nm[32];
    for (int i = 0; i < 24; i++) {
        int r = (int)(NEXT() % 5);
        int64_t d[4];
        for (int k = 0; k < r; k++) d[k] = dimset[NEXT() % 8];
        mk_dtype dts[4] = {MK_DT_FP32, MK_DT_FP16, MK_DT_INT32, MK_DT_BOOL};
        mk_type ty = mk_type_make(dts[i % 4], r, d);
        snprintf(nm, sizeof nm, "in%d", i);
        pool[np++] = tp_in(&t, nm, ty);
    }
    static const int32_t ivals[] = {-5, -1, 0, 1, 2, 3, 1000000, 2147483647};
    for (int i = 0; i < 16; i++) {
        int32_t v[8];
        int n = (int)(NEXT() % 9);
        for (int k = 0; k < n; k++) v[k] = ivals[NEXT() % 8];
        snprintf(nm, sizeof nm, "ci%d", i);
        pool[np++] = mk_ir_const_i32(t.p, t.b, nm, n ? n : 1, v, n == 0);
    }
    static const char *const strs[] = {"same",  "valid",         "custom",    "bogus",   "fp16",
                                       "int32", "bidirectional", "ij,jk->ik", "...i->i", "->,"};
    for (int i = 0; i < 10; i++) {
        snprintf(nm, sizeof nm, "cs%d", i);
        pool[np++] = tp_str(&t, nm, strs[i]);
    }
    pool[np++] = tp_bool(&t, "cb0", 0);
    pool[np++] = tp_bool(&t, "cb1", 1);
    pool[np++] = tp_f32(&t, "cf0", 0.5f);
    pool[np++] = tp_f32(&t, "cf1", -3.0f);
    for (int i = 0; i < np; i++) REQUIRE(pool[i]);
    int n_ok = 0, n_err = 0;
    for (int k = 0; k < MK_OP__COUNT; k++) {
        const mk_op_params *ps = mk_ir_op_params((mk_op_kind)k);
        for (int trial = 0; trial < 150; trial++) {
            mk_op *op = mk_ir_op_new(t.p, (mk_op_kind)k, "r");
            REQUIRE(op);
            mk_ir_block_append(t.b, op);
            for (int i = 0; i < ps->n_params; i++) {
                const mk_op_param *pp = &ps->params[i];
                if (mk_ir_op_param((mk_op_kind)k, pp->name, 18) != pp) continue;
                unsigned roll = (unsigned)(NEXT() % 100);
                if ((pp->flags & MK_PARAM_REQUIRED) ? roll < 3 : roll < 50) continue;
                int nargs = (pp->flags & MK_PARAM_TUPLE) ? 1 + (int)(NEXT() % 3) : 1;
                for (int a = 0; a < nargs; a++)
                    REQUIRE(mk_ir_op_add_input(t.p, op, pp->name, pool[NEXT() % np]));
            }
            mk_operand ops[64];
            int n = 0;
            for (int i = 0; i < op->n_inputs; i++)
                for (int j = 0; j < op->inputs[i].n_args && n < 64; j++, n++) {
                    const mk_value *v = op->inputs[i].args[j];
                    ops[n].type = v->type;
                    ops[n].data = v->cst ? v->cst->data : NULL;
                    ops[n].nbytes = v->cst ? v->cst->nbytes : 0;
                }
            mk_type outs[8];
            int n_outs = 0;
            mk_err e;
            memset(&e, 0, sizeof e);
            mk_status st = mk_ir_infer(op, ops, n, outs, 8, &n_outs, &e);
            if (st == MK_OK) {
                n_ok++;
                CHECK((n_outs >= 1 || mk_ir_op_info(op->kind)->n_outputs == 0) && n_outs <= 8);
                for (int i = 0; i < n_outs; i++)
                    CHECK(outs[i].rank >= MK_RANK_UNKNOWN && outs[i].rank <= MK_MAX_RANK);
            } else {
                n_err++;
                CHECK_MSG(st == MK_EINVAL && e.msg[0] && !strchr(e.msg, '\n'),
                          "op %s: status %d msg '%s'", mk_ir_op_info((mk_op_kind)k)->name, st,
                          e.msg);
            }
            mk_ir_unlink(op);
        }
    }
#undef NEXT
    CHECK(n_ok > 500 && n_err > 500);
    mk_ir_program_free(t.p);
}

/* iOS17 matmul (coremltools' iOS17 linear.py): x and y may have different dtypes when exactly
 * one of them is a constant, and the output takes the non-constant one's dtype; before iOS17,
 * or with both constant or both not, the dtypes must agree. */
TEST(infer_matmul_ios17_mixed_dtypes)
{
    mk_err e;
    for (int spec = 7; spec <= 8; spec++) {
        tprog t;
        REQUIRE(tp_init(&t, spec));
        mk_value *h = tp_in(&t, "h", tt(MK_DT_FP16, SHAPE(5, 10))), *f = tp_in(&t, "f", T32(2, 5)),
                 *i = tp_in(&t, "i", tt(MK_DT_INT32, SHAPE(5, 10)));
        float w[10] = {0};
        mk_type wt = T32(2, 5);
        mk_value *cx = mk_ir_const(t.p, t.b, "cx", &wt, w, sizeof w, 0);
        mk_op *a = tp_op(&t, MK_OP_MATMUL, "a", 1, "x", cx, "y", h, NULL);
        mk_op *b = tp_op(&t, MK_OP_MATMUL, "b", 1, "x", cx, "y", i, NULL);
        mk_op *c = tp_op(&t, MK_OP_MATMUL, "c", 1, "x", f, "y", h, NULL);
        REQUIRE(cx && a && b && c);
        if (spec == 8) {
            INFER_OK(a);
            CHECK(ty_is(a, 0, MK_DT_FP16, SHAPE(2, 10)));
            INFER_OK(b);
            CHECK(ty_is(b, 0, MK_DT_INT32, SHAPE(2, 10)));
            CHECK(tp_infer(c, &e) == MK_EINVAL && strstr(e.msg, "both are not constants"));
        } else {
            CHECK(tp_infer(a, &e) == MK_EINVAL && strstr(e.msg, "dtypes differ"));
        }
        mk_ir_program_free(t.p);
    }
}
