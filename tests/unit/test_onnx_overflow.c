/* Shape arithmetic on values from the ONNX file at the int64 extremes (issue 10): Slice steps
 * and bounds of ±INT64_MAX / INT64_MIN (lowered and folded), Reshape to INT64_MAX, ConvTranspose
 * output_padding, pads and strides. Each model either imports with the right shape (checked by
 * running it) or fails with a one-line error; under the ASan+UBSan build (which aborts on any
 * signed overflow) these tests fail before the arithmetic is checked. */
#include <stdint.h>

#include "test.h"
#include "test_onnx_run.h"

#define I64MAX INT64_MAX
#define I64MIN INT64_MIN

static const float X5[5] = {10, 11, 12, 13, 14};

/* Slice of x[5] by (start, end, step): from an input (lowered) or a constant (folded). Returns
 * the number of elements, -1 on a clean import error; the elements go to got. */
static int slice5(mk_test_ctx *tc, int folded, int64_t start, int64_t end, int64_t step, float *got)
{
    ob b;
    ob_init(&b, 13);
    if (folded) {
        ob_input(&b, "z", 1, 1, (int64_t[]){1});
        ob_init_f(&b, "x", 1, (int64_t[]){5}, X5);
    } else {
        ob_input(&b, "x", 1, 1, (int64_t[]){5});
    }
    ob_init_i(&b, "s", 1, (int64_t[]){1}, (int64_t[]){start});
    ob_init_i(&b, "e", 1, (int64_t[]){1}, (int64_t[]){end});
    ob_init_i(&b, "a", 1, (int64_t[]){1}, (int64_t[]){0});
    ob_init_i(&b, "st", 1, (int64_t[]){1}, (int64_t[]){step});
    ob_node(&b, "Slice", "x,s,e,a,st", folded ? "y0" : "y");
    if (folded) ob_node(&b, "Add", "y0,z", "y"); /* keeps an input; z broadcasts */
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    int n = -1;
    if (ob_import(&b, NULL, &p, &e) != MK_OK) {
        CHECK_MSG(e.msg[0] && !strchr(e.msg, '\n'), "bad message '%s'", e.msg);
        ob_free(&b);
        return -1;
    }
    const mk_type *t = ob_out_type(p, 0);
    if (t->rank == 1 && t->dims[0] >= 0 && t->dims[0] <= 5) {
        n = (int)t->dims[0];
        float zero = 0;
        const void *ins[1] = {folded ? (const void *)&zero : (const void *)X5};
        if (n > 0) CHECK(run_k(tc, p, 1, ins, 0, got, (size_t)n * 4));
    } else {
        CHECK_MSG(0, "slice output rank %d dim %lld", t->rank, (long long)t->dims[0]);
    }
    mk_ir_program_free(p);
    ob_free(&b);
    return n;
}

/* The ONNX Slice definition, one axis, with wide arithmetic: the expected elements. */
static int slice_ref(int64_t start, int64_t end, int64_t step, float *out)
{
    const __int128 dim = 5;
    __int128 s = start, e = end, st = step;
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
    } else {
        s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
        e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
    }
    int n = 0;
    for (__int128 i = s; st > 0 ? i < e : i > e; i += st) out[n++] = X5[(int)i];
    return n;
}

TEST(onnx_slice_extreme_steps_and_bounds)
{
    const int64_t cases[][3] = {
        {0, I64MAX, I64MAX},      {I64MAX, I64MIN, I64MIN}, {-1, I64MIN, -I64MAX},
        {I64MIN, I64MAX, 1},      {I64MIN, I64MAX, I64MAX}, {1, I64MAX, I64MAX - 1},
        {I64MAX, I64MIN, -2},     {4, -I64MAX, I64MIN},     {2, 3, I64MAX},
        {I64MIN, I64MIN, I64MIN}, {I64MAX, I64MAX, I64MAX}, {0, 5, 2},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        float want[8], got[8];
        int nw = slice_ref(cases[k][0], cases[k][1], cases[k][2], want);
        for (int folded = 0; folded < 2; folded++) {
            memset(got, 0, sizeof got);
            int ng = slice5(tc, folded, cases[k][0], cases[k][1], cases[k][2], got);
            if (nw == 0) continue; /* empty: refused (unsupported) or empty, either is fine */
            CHECK_MSG(ng == nw, "case %zu %s: %d elements, want %d", k,
                      folded ? "folded" : "lowered", ng, nw);
            for (int i = 0; i < nw && ng == nw; i++)
                CHECK_MSG(got[i] == want[i], "case %zu %s: [%d] = %g, want %g", k,
                          folded ? "folded" : "lowered", i, got[i], want[i]);
        }
    }
}

/* Reshape of x[2,3] (input or constant) to a shape holding extremes: a clean error. */
TEST(onnx_reshape_extreme_dims_fail_cleanly)
{
    const int64_t shapes[][2] = {{I64MAX, 1}, {-1, I64MAX}, {I64MAX, I64MAX}, {I64MIN, -1},
                                 {0, I64MAX}, {3, I64MIN},  {-1, -1}};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (int folded = 0; folded < 2; folded++) {
            ob b;
            ob_init(&b, 13);
            float v[6] = {0};
            if (folded) {
                ob_input(&b, "z", 1, 1, (int64_t[]){1});
                ob_init_f(&b, "x", 2, (int64_t[]){2, 3}, v);
            } else {
                ob_input(&b, "x", 1, 2, (int64_t[]){2, 3});
            }
            ob_init_i(&b, "sh", 1, (int64_t[]){2}, shapes[k]);
            ob_node(&b, "Reshape", "x,sh", folded ? "y0" : "y");
            if (folded) ob_node(&b, "Add", "y0,z", "y");
            ob_output(&b, "y");
            mk_program *p = NULL;
            mk_err e;
            mk_status st = ob_import(&b, NULL, &p, &e);
            CHECK_MSG(st != MK_OK, "shape %zu %s imported", k, folded ? "folded" : "lowered");
            CHECK_MSG(st == MK_OK || (e.msg[0] && !strchr(e.msg, '\n')), "message '%s'", e.msg);
            if (st == MK_OK) mk_ir_program_free(p);
            ob_free(&b);
        }
}

/* ConvTranspose x[1,1,4,4] with extreme output_padding, pads, strides or dilations. */
TEST(onnx_conv_transpose_extreme_attributes_fail_cleanly)
{
    const char *attrs[] = {"output_padding", "pads", "strides", "dilations"};
    const int64_t vals[] = {I64MAX, I64MIN, I64MAX - 1, -I64MAX, (int64_t)1 << 62};
    for (int a = 0; a < 4; a++)
        for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
            ob b;
            ob_init(&b, 13);
            float w[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
            ob_input(&b, "x", 1, 4, (int64_t[]){1, 1, 4, 4});
            ob_init_f(&b, "w", 4, (int64_t[]){1, 1, 3, 3}, w);
            Onnx__NodeProto *n = ob_node(&b, "ConvTranspose", "x,w", "y");
            int64_t v4[4] = {vals[k], vals[k], vals[k], vals[k]};
            ob_attr_ints(&b, n, attrs[a], a == 1 ? 4 : 2, v4);
            ob_output(&b, "y");
            mk_program *p = NULL;
            mk_err e;
            mk_status st = ob_import(&b, NULL, &p, &e);
            CHECK_MSG(st != MK_OK, "%s = %lld imported", attrs[a], (long long)vals[k]);
            CHECK_MSG(st == MK_OK || (e.msg[0] && !strchr(e.msg, '\n')), "message '%s'", e.msg);
            if (st == MK_OK) mk_ir_program_free(p);
            ob_free(&b);
        }
}

/* Ops whose shape comes from integers in the file, each fed int64 extremes through an input
 * constant k or an attribute, on x[2,3] from an input and from a constant (folded). */
typedef struct {
    const char *op, *ins;
    int kn; /* values in k; 0: none, -1: a scalar */
    int64_t k[4];
    const char *attr;
    int an;
    int64_t a[4];
} extreme_case;

TEST(onnx_shape_ops_with_extreme_integers_fail_cleanly_or_import)
{
    static const extreme_case cases[] = {
        {"Pad", "x,k", 4, {I64MAX, 0, 0, 1}, NULL, 0, {0}},
        {"Pad", "x,k", 4, {I64MIN, I64MIN, 0, 0}, NULL, 0, {0}},
        {"Pad", "x,k", 4, {-2, 0, 0, I64MIN}, NULL, 0, {0}},
        {"Tile", "x,k", 2, {I64MAX, 1}, NULL, 0, {0}},
        {"Tile", "x,k", 2, {I64MAX, I64MAX}, NULL, 0, {0}},
        {"Tile", "x,k", 2, {I64MIN, 1}, NULL, 0, {0}},
        {"Expand", "x,k", 2, {I64MAX, 3}, NULL, 0, {0}},
        {"Expand", "x,k", 3, {I64MAX, I64MAX, 3}, NULL, 0, {0}},
        {"Expand", "x,k", 2, {I64MIN, 3}, NULL, 0, {0}},
        {"ConstantOfShape", "k", 2, {I64MAX, I64MAX}, NULL, 0, {0}},
        {"ConstantOfShape", "k", 2, {I64MIN, 2}, NULL, 0, {0}},
        {"Gather", "x,k", 1, {I64MIN}, "axis", -1, {0}},
        {"Gather", "x,k", 1, {I64MAX}, "axis", -1, {1}},
        {"Gather", "x,k", -1, {I64MIN}, "axis", -1, {I64MIN}},
        {"Unsqueeze", "x,k", 1, {I64MIN}, NULL, 0, {0}},
        {"Unsqueeze", "x,k", 2, {I64MAX, 0}, NULL, 0, {0}},
        {"Squeeze", "x,k", 1, {I64MAX}, NULL, 0, {0}},
        {"Split", "x,k", 2, {I64MAX, I64MIN + 3}, "axis", -1, {1}},
        {"Split", "x,k", 2, {I64MAX, 2}, "axis", -1, {0}},
        {"TopK", "x,k", 1, {I64MAX}, NULL, 0, {0}},
        {"TopK", "x,k", 1, {I64MIN}, NULL, 0, {0}},
        {"Trilu", "x,k", -1, {I64MIN}, NULL, 0, {0}},
        {"Trilu", "x,k", -1, {I64MAX}, "upper", -1, {0}},
        {"CumSum", "x,k", -1, {I64MIN}, NULL, 0, {0}},
        {"Flatten", "x", 0, {0}, "axis", -1, {I64MIN}},
        {"Concat", "x,x", 0, {0}, "axis", -1, {I64MIN}},
        {"Transpose", "x", 0, {0}, "perm", 2, {I64MAX, 0}},
        {"Transpose", "x", 0, {0}, "perm", 2, {I64MIN, 0}},
        {"Softmax", "x", 0, {0}, "axis", -1, {I64MIN}},
        {"Shape", "x", 0, {0}, "start", -1, {I64MIN}},
        {"Shape", "x", 0, {0}, "end", -1, {I64MAX}},
        {"ArgMax", "x", 0, {0}, "axis", -1, {I64MIN}},
        {"ReduceSum", "x,k", 1, {I64MIN}, NULL, 0, {0}},
        {"ReduceMean", "x", 0, {0}, "axes", 1, {I64MAX}},
        {"DepthToSpace", "x", 0, {0}, "blocksize", -1, {I64MAX}},
        {"SpaceToDepth", "x", 0, {0}, "blocksize", -1, {I64MAX}},
        {"MaxPool", "x", 0, {0}, "kernel_shape", 1, {I64MAX}},
        {"AveragePool", "x", 0, {0}, "kernel_shape", 1, {I64MIN}},
        {"LpPool", "x", 0, {0}, "kernel_shape", 1, {I64MAX}},
        {"Range", "k,k,k", -1, {I64MAX}, NULL, 0, {0}},
        {"Range", "k,z,k", -1, {I64MIN}, NULL, 0, {0}},
        {"OneHot", "x,k,v", -1, {I64MAX}, NULL, 0, {0}},
        {"EyeLike", "x", 0, {0}, "k", -1, {I64MIN}},
        {"EyeLike", "x", 0, {0}, "k", -1, {I64MAX}},
        {"GatherElements", "x,g", 0, {0}, "axis", -1, {I64MIN}},
        {"ReverseSequence", "x,g2", 0, {0}, "batch_axis", -1, {I64MAX}},
        {"Resize", "x,,,k", 2, {I64MAX, I64MAX}, NULL, 0, {0}},
        {"Resize", "x,,,k", 2, {I64MIN, 3}, NULL, 0, {0}},
        {"Einsum", "x", 0, {0}, NULL, 0, {0}},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++)
        for (int folded = 0; folded < 2; folded++) {
            const extreme_case *k = &cases[ci];
            ob b;
            ob_init(&b, 18);
            float xv[6] = {1, 2, 3, 4, 5, 6};
            if (folded) {
                ob_input(&b, "w", 1, 1, (int64_t[]){1});
                ob_init_f(&b, "x", 2, (int64_t[]){2, 3}, xv);
            } else {
                ob_input(&b, "x", 1, 2, (int64_t[]){2, 3});
            }
            if (k->kn) ob_init_i(&b, "k", k->kn < 0 ? 0 : 1, (int64_t[]){k->kn}, k->k);
            ob_init_i(&b, "z", 0, NULL, (int64_t[]){0});
            ob_init_f(&b, "v", 1, (int64_t[]){2}, (float[]){0, 1});
            ob_init_i(&b, "g", 2, (int64_t[]){2, 3}, (int64_t[]){0, 1, I64MAX, I64MIN, -1, 2});
            ob_init_i(&b, "g2", 1, (int64_t[]){2}, (int64_t[]){I64MAX, I64MIN});
            Onnx__NodeProto *n = ob_node(&b, k->op, k->ins, "y");
            if (k->attr && k->an < 0)
                ob_attr_i(&b, n, k->attr, k->a[0]);
            else if (k->attr)
                ob_attr_ints(&b, n, k->attr, k->an, k->a);
            ob_output(&b, "y");
            if (folded) ob_output(&b, "w");
            mk_program *p = NULL;
            mk_err e;
            mk_status st = ob_import(&b, NULL, &p, &e);
            CHECK_MSG(st == MK_OK || (e.msg[0] && !strchr(e.msg, '\n')), "%s: message '%s'", k->op,
                      e.msg);
            if (st == MK_OK) {
                mk_err ve = {0};
                CHECK_MSG(mk_ir_verify(p, &ve) == MK_OK, "case %zu %s: %s", ci, k->op, ve.msg);
                mk_ir_program_free(p);
            }
            ob_free(&b);
        }
}

/* Declared graph input dims at the extremes, through ops that multiply or add them. */
TEST(onnx_extreme_input_dims_fail_cleanly_or_import)
{
    static const char *const ops[] = {"Relu", "Flatten", "Hardmax",   "Shape",
                                      "Size", "EyeLike", "Transpose", "GlobalAveragePool"};
    static const int64_t dims[][2] = {{I64MAX, I64MAX}, {I64MAX, 2}, {(int64_t)1 << 40, 1 << 30}};
    for (int opset = 11; opset <= 13; opset += 2)
        for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
            for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
                ob b;
                ob_init(&b, opset);
                ob_input(&b, "x", 1, 2, dims[d]);
                ob_node(&b, ops[i], "x", "y");
                ob_output(&b, "y");
                mk_program *p = NULL;
                mk_err e;
                mk_status st = ob_import(&b, NULL, &p, &e);
                CHECK_MSG(st == MK_OK || (e.msg[0] && !strchr(e.msg, '\n')), "%s: message '%s'",
                          ops[i], e.msg);
                if (st == MK_OK) mk_ir_program_free(p);
                ob_free(&b);
            }
}
