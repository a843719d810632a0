/* ConstantOfShape, Range and NonZero with inputs computed at run time (issue #3): they lower
 * to MIL fill, range_1d and non_zero + transpose, and the interpreter gives the values the
 * test computes by hand for two different run-time inputs. Constant inputs still fold at
 * convert time (no fill / range_1d / non_zero), and forms MIL cannot express are refused
 * with a reason naming the node. */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "test_onnx_run.h"

/* ConstantOfShape of the graph input s (int64 [2]) with an optional value tensor. */
static void cos_model(ob *b, int et, const void *val, size_t val_len)
{
    ob_init(b, 13);
    int64_t two = 2, one = 1;
    ob_input(b, "s", 7, 1, &two);
    Onnx__NodeProto *n = ob_node(b, "ConstantOfShape", "s", "y");
    if (val) ob_attr_t(b, n, "value", ob_tensor(b, "v", et, 1, &one, val, val_len));
    ob_output(b, "y");
}

TEST(onnx_rt_constant_of_shape_float_value)
{
    ob b;
    float v = 2.5f;
    cos_model(&b, 1, &v, 4);
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    /* fill runs on the CPU (H4): a tile of a one-element constant by the shape does not */
    CHECK_EQ_INT(ob_count(p, MK_OP_FILL), 0);
    CHECK_EQ_INT(ob_count(p, MK_OP_TILE), 1);
    const mk_type *t = ob_out_type(p, 0);
    CHECK_EQ_INT(t->dtype, MK_DT_FP32);
    CHECK(ob_dims_are(t, 2, (int64_t[]){MK_DIM_UNKNOWN, MK_DIM_UNKNOWN}));
    int32_t s1[2] = {2, 3}, s2[2] = {3, 1};
    float y[6];
    const void *ins[1] = {s1};
    if (run1(tc, p, 1, ins, y, sizeof y))
        for (int i = 0; i < 6; i++) CHECK(y[i] == 2.5f);
    ins[0] = s2;
    if (run1(tc, p, 1, ins, y, 3 * sizeof *y))
        for (int i = 0; i < 3; i++) CHECK(y[i] == 2.5f);
    mk_ir_program_free(p);
}

TEST(onnx_rt_constant_of_shape_int_and_default)
{
    ob b;
    int64_t v = -7;
    cos_model(&b, 7, &v, 8);
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (p) {
        CHECK_EQ_INT(ob_out_type(p, 0)->dtype, MK_DT_INT32);
        int32_t s[2] = {1, 4}, y[4];
        const void *ins[1] = {s};
        if (run1(tc, p, 1, ins, y, sizeof y))
            for (int i = 0; i < 4; i++) CHECK_EQ_INT(y[i], -7);
        mk_ir_program_free(p);
    }
    cos_model(&b, 0, NULL, 0);
    p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_out_type(p, 0)->dtype, MK_DT_FP32);
    int32_t s[2] = {2, 2};
    float y[4] = {1, 1, 1, 1};
    const void *ins[1] = {s};
    if (run1(tc, p, 1, ins, y, sizeof y))
        for (int i = 0; i < 4; i++) CHECK(y[i] == 0.0f);
    mk_ir_program_free(p);
}

TEST(onnx_rt_constant_of_shape_refusals_are_named)
{
    ob b;
    int64_t big = (int64_t)1 << 40;
    cos_model(&b, 7, &big, 8);
    mk_program *p = NULL;
    mk_err e;
    CHECK(ob_import(&b, NULL, &p, &e) != MK_OK);
    CHECK_MSG(strstr(e.msg, "ConstantOfShape") && strstr(e.msg, "int32"), "%s", e.msg);
    ob_free(&b);
    if (p) mk_ir_program_free(p);
    p = NULL;
    ob_init(&b, 13);
    int64_t dyn = -1;
    ob_input(&b, "s", 7, 1, &dyn);
    ob_node(&b, "ConstantOfShape", "s", "ydyn");
    ob_output(&b, "ydyn");
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    const char *shapes[1] = {"s=1..4"};
    o.n_shapes = 1;
    o.shapes = shapes;
    CHECK(ob_import(&b, &o, &p, &e) != MK_OK);
    CHECK_MSG(strstr(e.msg, "ydyn") && strstr(e.msg, "static length"), "%s", e.msg);
    ob_free(&b);
    if (p) mk_ir_program_free(p);
}

/* Range over three rank-0 graph inputs of ONNX type et. */
static mk_program *range_model(mk_test_ctx *tc, int et)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "start", et, 0, NULL);
    ob_input(&b, "limit", et, 0, NULL);
    ob_input(&b, "delta", et, 0, NULL);
    ob_node(&b, "Range", "start,limit,delta", "y");
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    return p;
}

TEST(onnx_rt_range_float)
{
    mk_program *p = range_model(tc, 1);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_RANGE_1D), 1);
    CHECK(ob_dims_are(ob_out_type(p, 0), 1, (int64_t[]){MK_DIM_UNKNOWN}));
    float a = 1, l = 3, d = 0.5f, y[4];
    const void *ins[3] = {&a, &l, &d};
    if (run1(tc, p, 3, ins, y, sizeof y)) {
        CHECK(y[0] == 1.0f && y[1] == 1.5f && y[2] == 2.0f && y[3] == 2.5f);
    }
    /* ceil((0 - 1) / -0.3) = 4 elements: 1, 0.7, 0.4, 0.1 */
    a = 1, l = 0, d = -0.3f;
    if (run1(tc, p, 3, ins, y, sizeof y)) {
        CHECK(y[0] == 1.0f && y[3] > 0.09f && y[3] < 0.11f);
    }
    mk_ir_program_free(p);
}

TEST(onnx_rt_range_int_negative_delta)
{
    mk_program *p = range_model(tc, 6);
    if (!p) return;
    CHECK_EQ_INT(ob_out_type(p, 0)->dtype, MK_DT_INT32);
    int32_t a = 10, l = 4, d = -3, y[3];
    const void *ins[3] = {&a, &l, &d};
    if (run1(tc, p, 3, ins, y, 2 * sizeof *y)) {
        CHECK_EQ_INT(y[0], 10);
        CHECK_EQ_INT(y[1], 7);
    }
    a = 0, l = 3, d = 1;
    if (run1(tc, p, 3, ins, y, 3 * sizeof *y)) {
        CHECK_EQ_INT(y[0], 0);
        CHECK_EQ_INT(y[2], 2);
    }
    mk_ir_program_free(p);
}

/* A run-time limit computed from a flexible input's shape; start and delta are constants. */
TEST(onnx_rt_range_limit_from_shape)
{
    ob b;
    ob_init(&b, 13);
    int64_t z = 0, two = 2;
    ob_input(&b, "x", 1, 1, (int64_t[]){-1});
    ob_init_i(&b, "start", 0, NULL, &z);
    ob_init_i(&b, "delta", 0, NULL, &two);
    ob_init_i(&b, "i0", 0, NULL, &z);
    ob_node(&b, "Shape", "x", "sh");
    Onnx__NodeProto *n = ob_node(&b, "Gather", "sh,i0", "len");
    ob_attr_i(&b, n, "axis", 0);
    ob_node(&b, "Range", "start,len,delta", "y");
    ob_output(&b, "y");
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    const char *shapes[1] = {"x=5"};
    o.n_shapes = 1;
    o.shapes = shapes;
    mk_program *fixed = imp(tc, &b, &o);
    if (fixed) {
        /* a static shape folds the whole chain: Core ML gets a constant */
        CHECK_EQ_INT(ob_count(fixed, MK_OP_RANGE_1D), 0);
        CHECK(ob_dims_are(ob_out_type(fixed, 0), 1, (int64_t[]){3}));
        mk_ir_program_free(fixed);
    }
    static const char *const wide[2] = {"x=1..", "x=1..1000000"}; /* no bound, too wide */
    for (int k = 0; k < 2; k++) {
        shapes[0] = wide[k];
        mk_program *unbounded = imp(tc, &b, &o);
        if (unbounded) {
            CHECK_EQ_INT(ob_count(unbounded, MK_OP_RANGE_1D), 1);
            mk_ir_program_free(unbounded);
        }
    }
    /* a bounded length: a slice of the constant range to the bound, not range_1d (H4) */
    shapes[0] = "x=1..16";
    mk_program *p = imp(tc, &b, &o);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_RANGE_1D), 0);
    CHECK_EQ_INT(ob_count(p, MK_OP_SLICE_BY_SIZE), 1);
    /* x of length 5 at run time: Range(0, 5, 2) = [0, 2, 4] */
    float x[5] = {0};
    char nm[64];
    snprintf(nm, sizeof nm, "%s", p->inputs[0].name);
    mk_tensor_list in = {1, &(mk_tensor){.name = nm,
                                         .dtype = p->inputs[0].dtype,
                                         .rank = 1,
                                         .dims = {5},
                                         .nbytes = sizeof x,
                                         .data = x}};
    mk_tensor_list res = {0, NULL};
    mk_run_options ro = {0};
    ro.threads = 1;
    mk_err e = {0};
    CHECK_MSG(mk_run(p, &ro, &in, &res, &e) == MK_OK, "run: %s", e.msg);
    if (res.n == 1 && res.items[0].nbytes == 3 * sizeof(int32_t)) {
        const int32_t *y = res.items[0].data;
        CHECK(y[0] == 0 && y[1] == 2 && y[2] == 4);
    } else {
        CHECK_MSG(0, "%d outputs, %zu bytes", res.n, res.n ? res.items[0].nbytes : 0);
    }
    mk_tensor_list_free(&res);
    mk_ir_program_free(p);
}

TEST(onnx_rt_non_zero)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 2, (int64_t[]){2, 3});
    ob_node(&b, "NonZero", "x", "y");
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_NON_ZERO), 1);
    CHECK(ob_dims_are(ob_out_type(p, 0), 2, (int64_t[]){2, MK_DIM_UNKNOWN}));
    /* non-zeros at (0,1), (1,0), (1,2): ONNX layout [rank, N] = [[0,1,1], [1,0,2]] */
    float x[6] = {0, 1, 0, 2, 0, -3};
    int32_t y[6];
    const void *ins[1] = {x};
    if (run1(tc, p, 1, ins, y, sizeof y)) {
        static const int32_t want[6] = {0, 1, 1, 1, 0, 2};
        for (int i = 0; i < 6; i++) CHECK_EQ_INT(y[i], want[i]);
    }
    /* one non-zero at (1,1): [[1], [1]] */
    float x2[6] = {0, 0, 0, 0, 4, 0};
    ins[0] = x2;
    if (run1(tc, p, 1, ins, y, 2 * sizeof *y)) {
        CHECK_EQ_INT(y[0], 1);
        CHECK_EQ_INT(y[1], 1);
    }
    mk_ir_program_free(p);
}

/* Constant inputs still fold at convert time: no fill, range_1d or non_zero in the program. */
TEST(onnx_rt_constant_inputs_still_fold)
{
    ob b;
    ob_init(&b, 13);
    int64_t two = 2, sh[2] = {2, 2}, a = 1, l = 7, d = 3;
    int64_t six = 6, nz[6] = {0, 5, 0, 0, 1, 0};
    ob_input(&b, "x", 1, 2, sh);
    ob_init_i(&b, "shape", 1, &two, sh);
    ob_init_i(&b, "a", 0, NULL, &a);
    ob_init_i(&b, "l", 0, NULL, &l);
    ob_init_i(&b, "d", 0, NULL, &d);
    ob_init_i(&b, "nzin", 1, &six, nz);
    ob_node(&b, "ConstantOfShape", "shape", "c");
    ob_node(&b, "Add", "x,c", "y0");
    ob_node(&b, "Range", "a,l,d", "y1");
    ob_node(&b, "NonZero", "nzin", "y2");
    ob_output(&b, "y0");
    ob_output(&b, "y1");
    ob_output(&b, "y2");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_FILL), 0);
    CHECK_EQ_INT(ob_count(p, MK_OP_RANGE_1D), 0);
    CHECK_EQ_INT(ob_count(p, MK_OP_NON_ZERO), 0);
    CHECK(ob_dims_are(ob_out_type(p, 1), 1, (int64_t[]){2}));
    CHECK(ob_dims_are(ob_out_type(p, 2), 2, (int64_t[]){1, 2}));
    float x[4] = {1, 2, 3, 4};
    int32_t r[2], n[2];
    const void *ins[1] = {x};
    if (run_k(tc, p, 1, ins, 1, r, sizeof r)) {
        CHECK_EQ_INT(r[0], 1);
        CHECK_EQ_INT(r[1], 4);
    }
    if (run_k(tc, p, 1, ins, 2, n, sizeof n)) {
        CHECK_EQ_INT(n[0], 1);
        CHECK_EQ_INT(n[1], 4);
    }
    mk_ir_program_free(p);
}
