/* Run-time shape operands on a flexible input: Shape -> Gather -> Concat chains feeding
 * Reshape, Tile and Expand convert to MIL shape/gather/concat arithmetic (not folded), and the
 * flexible program matches the fixed-shape conversion of the same model at two sizes in the
 * reference interpreter. The fixed conversion folds the chain to constants, so it is an
 * independent reference for the run-time path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "unit/test_onnx_build.h"

static void dyn_model(ob *b)
{
    ob_init(b, 13);
    int64_t one = 1, three = 3, bd[4] = {1, 3, 1, 1};
    int64_t i0 = 0, i1 = 1, i2 = 2, m1 = -1, ones[3] = {1, 1, 1};
    float bias[3] = {0.5f, -1.0f, 2.0f};
    ob_input(b, "x", 1, 4, (int64_t[]){1, 3, -1, -1});
    ob_init_i(b, "i0", 1, &one, &i0);
    ob_init_i(b, "i1", 1, &one, &i1);
    ob_init_i(b, "i2", 1, &one, &i2);
    ob_init_i(b, "m1", 1, &one, &m1);
    ob_init_i(b, "ones", 1, &three, ones);
    ob_init_f(b, "bias", 4, bd, bias);
    ob_node(b, "Shape", "x", "s");
    Onnx__NodeProto *n = ob_node(b, "Gather", "s,i0", "bt");
    ob_attr_i(b, n, "axis", 0);
    n = ob_node(b, "Gather", "s,i2", "hh");
    ob_attr_i(b, n, "axis", 0);
    n = ob_node(b, "Gather", "s,i1", "ch");
    ob_attr_i(b, n, "axis", 0);
    n = ob_node(b, "Concat", "bt,hh,m1", "ns");
    ob_attr_i(b, n, "axis", 0);
    ob_node(b, "Reshape", "x,ns", "r");
    ob_node(b, "Relu", "r", "y_reshape");
    n = ob_node(b, "Concat", "ones,ch", "reps");
    ob_attr_i(b, n, "axis", 0);
    ob_node(b, "Tile", "x,reps", "y_tile");
    ob_node(b, "Expand", "bias,s", "e");
    ob_node(b, "Add", "x,e", "y_expand");
    ob_output(b, "y_reshape");
    ob_output(b, "y_tile");
    ob_output(b, "y_expand");
}

static mk_program *convert(mk_test_ctx *tc, const char *shape)
{
    ob b;
    dyn_model(&b);
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    const char *shapes[1] = {shape};
    o.n_shapes = 1;
    o.shapes = shapes;
    mk_program *p = NULL;
    mk_err e;
    mk_status st = ob_import(&b, &o, &p, &e);
    ob_free(&b);
    CHECK_MSG(st == MK_OK, "convert with %s: %s", shape, e.msg);
    return st == MK_OK ? p : NULL;
}

static int run1(mk_program *p, int64_t h, int64_t w, mk_tensor_list *outs, char *why, size_t n)
{
    mk_tensor_list ins = {1, calloc(1, sizeof(mk_tensor))};
    mk_tensor *t = &ins.items[0];
    t->name = strdup("x");
    t->dtype = MK_DT_FP32;
    t->rank = 4;
    t->dims[0] = 1, t->dims[1] = 3, t->dims[2] = h, t->dims[3] = w;
    size_t k = (size_t)(3 * h * w);
    t->data = malloc(k * 4);
    t->nbytes = k * 4;
    for (size_t i = 0; i < k; i++) ((float *)t->data)[i] = (float)((i * 7919) % 101) / 25.0f - 2;
    mk_run_options ro = {0};
    ro.threads = 1;
    mk_err e = {0};
    mk_status st = mk_run(p, &ro, &ins, outs, &e);
    if (st != MK_OK) snprintf(why, n, "%.*s", (int)(n ? n - 1 : 0), e.msg);
    mk_tensor_list_free(&ins);
    return st == MK_OK;
}

TEST(onnx_dynamic_shape_chain_matches_fixed)
{
    mk_program *flex = convert(tc, "x=1,3,4..64,4..64");
    REQUIRE(flex != NULL);
    CHECK(ob_count(flex, MK_OP_SHAPE) >= 1);
    CHECK(ob_count(flex, MK_OP_RESHAPE) >= 1);
    CHECK(ob_count(flex, MK_OP_TILE) >= 2); /* Tile and Expand */
    CHECK_EQ_INT(ob_count(flex, MK_OP_FILL), 0);
    mk_err ve = {0};
    CHECK_MSG(mk_ir_verify(flex, &ve) == MK_OK, "verify: %s", ve.msg);
    static const int64_t sizes[2][2] = {{8, 12}, {20, 6}};
    for (int s = 0; s < 2; s++) {
        int64_t h = sizes[s][0], w = sizes[s][1];
        char spec[64], why[512] = "";
        snprintf(spec, sizeof spec, "x=1,3,%lld,%lld", (long long)h, (long long)w);
        mk_program *fixed = convert(tc, spec);
        if (!fixed) continue;
        CHECK_EQ_INT(ob_count(fixed, MK_OP_SHAPE), 0);
        mk_tensor_list a = {0, NULL}, b = {0, NULL};
        int ok_a = run1(flex, h, w, &a, why, sizeof why);
        CHECK_MSG(ok_a, "flexible run at %s: %s", spec, why);
        int ok_b = run1(fixed, h, w, &b, why, sizeof why);
        CHECK_MSG(ok_b, "fixed run at %s: %s", spec, why);
        if (ok_a && ok_b) {
            CHECK_EQ_INT(a.n, 3);
            CHECK_EQ_INT(b.n, 3);
            for (int i = 0; i < a.n && i < b.n; i++) {
                const mk_tensor *x = &a.items[i], *y = &b.items[i];
                CHECK_EQ_INT(x->rank, y->rank);
                int same = x->rank == y->rank && x->nbytes == y->nbytes;
                for (int d = 0; same && d < x->rank; d++) same = x->dims[d] == y->dims[d];
                CHECK_MSG(same, "%s: output %d shape differs", spec, i);
                if (same)
                    CHECK_MSG(!memcmp(x->data, y->data, x->nbytes), "%s: output %d differs", spec,
                              i);
            }
            /* the reshape output is [1, H, 3W], tile [1, 3, H, 3W] */
            CHECK(a.n > 1 && a.items[0].dims[1] == h && a.items[0].dims[2] == 3 * w);
            CHECK(a.n > 1 && a.items[1].dims[3] == 3 * w);
        }
        mk_tensor_list_free(&a);
        mk_tensor_list_free(&b);
        mk_ir_program_free(fixed);
    }
    mk_ir_program_free(flex);
}
