/* ONNX Loop lowering (issue #3): convert-time unrolling with constant trip counts and folding
 * conditions, scan outputs stacked on a new axis, outer-scope values in the body, the MIL
 * while_loop for run-time trip counts, and clear errors for unsupported forms. Each model is
 * built in C, imported, checked structurally and run in the interpreter against values the
 * test computes itself. */
#include <math.h>
#include <string.h>

#include "test.h"
#include "test_onnx_run.h"

#define CHECK_NEAR(a, b, tol)                                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%s = %g, expected %g", #a, (double)(a),   \
              (double)(b))

static int count_all(const mk_block *b, mk_op_kind k)
{
    int n = 0;
    MK_FOR_OPS(b, op)
    {
        n += op->kind == k;
        for (int i = 0; i < op->n_blocks; i++) n += count_all(op->blocks[i], k);
    }
    return n;
}

/* Loop body inputs (i, cin, <carried>) with a rank-2 [1,3] float carried value. */
static Onnx__NodeProto *loop_node(ob *b, const char *ins, const char *outs)
{
    Onnx__NodeProto *n = ob_node(b, "Loop", ins, outs);
    ob_begin_graph(b, n, "body");
    int64_t d[2] = {1, 3};
    ob_input(b, "i", 7, 0, NULL);
    ob_input(b, "cin", 9, 0, NULL);
    ob_input(b, "y_in", 1, 2, d);
    return n;
}

/* ob_init, graph input x [1,3], the trip count M (a graph input when m < 0, else a constant),
 * cond (a constant; no cond input when cond < 0) and the Loop node with its body begun. */
static void loop_model(ob *b, int64_t m, int cond, const char *outs)
{
    ob_init(b, 13);
    int64_t d[2] = {1, 3};
    ob_input(b, "x", 1, 2, d);
    if (m < 0)
        ob_input(b, "M", 7, 0, NULL);
    else
        ob_init_i(b, "M", 0, NULL, &m);
    if (cond >= 0) {
        uint8_t cv = (uint8_t)cond;
        b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "cond", 9, 0, NULL, &cv, 1);
    }
    loop_node(b, cond >= 0 ? "M,cond,x" : "M,,x", outs);
}

/* M = 4: y += float(i); scan = y * y. */
TEST(onnx_loop_const_trip_scan_unrolls)
{
    ob b;
    loop_model(&b, 4, 1, "y,scan");
    Onnx__NodeProto *cast = ob_node(&b, "Cast", "i", "fi");
    ob_attr_i(&b, cast, "to", 1);
    ob_node(&b, "Add", "y_in,fi", "y_out");
    ob_node(&b, "Mul", "y_out,y_out", "sq");
    ob_node(&b, "Identity", "cin", "cout");
    ob_output(&b, "cout");
    ob_output(&b, "y_out");
    ob_output(&b, "sq");
    ob_end_graph(&b);
    ob_output(&b, "y");
    ob_output(&b, "scan");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(count_all(mk_ir_main(p)->block, MK_OP_WHILE_LOOP), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_STACK), 1);
        CHECK(ob_dims_are(ob_out_type(p, 0), 2, (int64_t[]){1, 3}));
        CHECK(ob_dims_are(ob_out_type(p, 1), 3, (int64_t[]){4, 1, 3}));
        float x[3] = {0.5f, -1, 2}, y[3], scan[12];
        const void *ins[1] = {x};
        if (run_k(tc, p, 1, ins, 0, y, sizeof y) && run_k(tc, p, 1, ins, 1, scan, sizeof scan)) {
            float acc[3] = {x[0], x[1], x[2]};
            for (int it = 0; it < 4; it++)
                for (int j = 0; j < 3; j++) {
                    acc[j] += (float)it;
                    CHECK_NEAR(scan[it * 3 + j], acc[j] * acc[j], 1e-5);
                }
            for (int j = 0; j < 3; j++) CHECK_NEAR(y[j], acc[j], 1e-6);
        }
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

/* M = 10 but cond_out = i < 2 stops after three iterations: y = y * 2, scan = y. */
TEST(onnx_loop_cond_false_early)
{
    ob b;
    loop_model(&b, 10, 1, "y,scan");
    float two = 2;
    int64_t lim = 2;
    ob_init_f(&b, "two", 0, NULL, &two);
    ob_init_i(&b, "lim", 0, NULL, &lim);
    ob_node(&b, "Mul", "y_in,two", "y_out");
    ob_node(&b, "Less", "i,lim", "cout");
    ob_output(&b, "cout");
    ob_output(&b, "y_out");
    ob_output(&b, "y_out");
    ob_end_graph(&b);
    ob_output(&b, "y");
    ob_output(&b, "scan");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK(ob_dims_are(ob_out_type(p, 1), 3, (int64_t[]){3, 1, 3}));
        CHECK_EQ_INT(ob_count(p, MK_OP_MUL), 3);
        float x[3] = {1, -3, 0.25f}, y[3], scan[9];
        const void *ins[1] = {x};
        if (run_k(tc, p, 1, ins, 0, y, sizeof y) && run_k(tc, p, 1, ins, 1, scan, sizeof scan)) {
            for (int j = 0; j < 3; j++) {
                CHECK_NEAR(y[j], x[j] * 8, 1e-6);
                for (int it = 0; it < 3; it++)
                    CHECK_NEAR(scan[it * 3 + j], x[j] * (float)(2 << it), 1e-6);
            }
        }
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

/* The body reads an outer graph input w and an outer initializer bias: y = y * w + bias. */
TEST(onnx_loop_body_reads_outer_scope)
{
    ob b;
    ob_init(&b, 13);
    int64_t d[2] = {1, 3};
    ob_input(&b, "x", 1, 2, d);
    ob_input(&b, "w", 1, 2, d);
    float bias[3] = {1, 2, 3};
    ob_init_f(&b, "bias", 2, d, bias);
    int64_t m = 3;
    ob_init_i(&b, "M", 0, NULL, &m);
    loop_node(&b, "M,,x", "y");
    ob_node(&b, "Mul", "y_in,w", "t");
    ob_node(&b, "Add", "t,bias", "y_out");
    ob_output(&b, "cin");
    ob_output(&b, "y_out");
    ob_end_graph(&b);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_MUL), 3);
        CHECK_EQ_INT(ob_count(p, MK_OP_ADD), 3);
        float x[3] = {1, 2, -1}, w[3] = {0.5f, -1, 2}, y[3];
        const void *ins[2] = {x, w};
        if (run1(tc, p, 2, ins, y, sizeof y))
            for (int j = 0; j < 3; j++) {
                float v = x[j];
                for (int it = 0; it < 3; it++) v = v * w[j] + bias[j];
                CHECK_NEAR(y[j], v, 1e-5);
            }
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

/* A run-time trip count without scan outputs becomes a MIL while_loop: y = y * 2 + x. */
TEST(onnx_loop_runtime_trip_while_loop)
{
    ob b;
    loop_model(&b, -1, 1, "y");
    float two = 2;
    ob_init_f(&b, "two", 0, NULL, &two);
    ob_node(&b, "Mul", "y_in,two", "t2");
    ob_node(&b, "Add", "t2,x", "y_out");
    ob_output(&b, "cin");
    ob_output(&b, "y_out");
    ob_end_graph(&b);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        mk_op *w = ob_find(p, MK_OP_WHILE_LOOP);
        REQUIRE(w);
        CHECK_EQ_INT(w->n_blocks, 2);
        CHECK_EQ_INT(w->n_outputs, 3); /* i, cond, y */
        CHECK(ob_dims_are(ob_out_type(p, 0), 2, (int64_t[]){1, 3}));
        for (int32_t m = 0; m <= 5; m += 5) {
            float x[3] = {1, -2, 0.5f}, y[3];
            const void *ins[2] = {x, &m};
            if (run1(tc, p, 2, ins, y, sizeof y))
                for (int j = 0; j < 3; j++) {
                    float v = x[j];
                    for (int it = 0; it < m; it++) v = v * 2 + x[j];
                    CHECK_NEAR(y[j], v, 1e-4);
                }
        }
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

/* Constant M but a condition computed from run-time data: unrolling gives way to while_loop.
 * while (i < 10 && cond) { y = y * 2; cond = sum(y) < 100 } */
TEST(onnx_loop_runtime_cond_falls_back_to_while_loop)
{
    ob b;
    loop_model(&b, 10, 1, "y");
    float two = 2, hundred = 100;
    ob_init_f(&b, "two", 0, NULL, &two);
    ob_init_f(&b, "hundred", 0, NULL, &hundred);
    ob_node(&b, "Mul", "y_in,two", "y_out");
    Onnx__NodeProto *rs = ob_node(&b, "ReduceSum", "y_out", "s");
    ob_attr_i(&b, rs, "keepdims", 0);
    ob_node(&b, "Less", "s,hundred", "cout");
    ob_output(&b, "cout");
    ob_output(&b, "y_out");
    ob_end_graph(&b);
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK(ob_find(p, MK_OP_WHILE_LOOP) != NULL);
        CHECK_EQ_INT(ob_count(p, MK_OP_MUL), 0); /* the abandoned unrolled ops are gone */
        float xs[2][3] = {{1, 2, 3}, {0.001f, 0, 0}};
        for (int k = 0; k < 2; k++) {
            float y[3], v[3] = {xs[k][0], xs[k][1], xs[k][2]};
            const void *ins[1] = {xs[k]};
            int go = 1;
            for (int it = 0; it < 10 && go; it++) {
                for (int j = 0; j < 3; j++) v[j] *= 2;
                go = v[0] + v[1] + v[2] < 100;
            }
            if (run1(tc, p, 1, ins, y, sizeof y))
                for (int j = 0; j < 3; j++) CHECK_NEAR(y[j], v[j], 1e-5);
        }
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

/* With M and no cond input ONNX ignores the body's condition (here always false): y = y + 1
 * runs M times, unrolled for a constant M and as a while_loop for a run-time one. */
TEST(onnx_loop_without_cond_ignores_body_condition)
{
    for (int rt = 0; rt < 2; rt++) {
        ob b;
        int64_t m = 4;
        loop_model(&b, rt ? -1 : m, -1, "y");
        float one = 1;
        ob_init_f(&b, "one", 0, NULL, &one);
        ob_node(&b, "Add", "y_in,one", "y_out");
        ob_node(&b, "Not", "cin", "cout");
        ob_output(&b, "cout");
        ob_output(&b, "y_out");
        ob_end_graph(&b);
        ob_output(&b, "y");
        mk_program *p = imp(tc, &b, NULL);
        if (p) {
            CHECK_EQ_INT(ob_count(p, MK_OP_WHILE_LOOP), rt);
            float x[3] = {1, -2, 0.5f}, y[3];
            int32_t m32 = (int32_t)m;
            const void *ins[2] = {x, &m32};
            if (run1(tc, p, 1 + rt, ins, y, sizeof y))
                for (int j = 0; j < 3; j++) CHECK_NEAR(y[j], x[j] + (float)m, 1e-6);
            mk_ir_program_free(p);
        }
        ob_free(&b);
    }
}

/* Unsupported forms name the node and the reason. */
TEST(onnx_loop_unsupported_forms_are_named)
{
    /* (a run-time trip count with scan outputs converts: test_onnx_loop_scan.c) */
    ob b;
    mk_program *p = NULL;
    mk_err e;
    /* a constant trip count above the unrolling cap */
    loop_model(&b, 5000, 1, "ybig,scan");
    ob_node(&b, "Neg", "y_in", "y_out");
    ob_output(&b, "cin");
    ob_output(&b, "y_out");
    ob_output(&b, "y_out");
    ob_end_graph(&b);
    ob_output(&b, "ybig");
    ob_output(&b, "scan");
    CHECK_EQ_INT(ob_import(&b, NULL, &p, &e), MK_EUNSUPPORTED);
    CHECK_MSG(strstr(e.msg, "ybig") && strstr(e.msg, "1024"), "%s", e.msg);
    ob_free(&b);

    /* a sequence-typed carried value (static reason from the pre-scan) */
    loop_model(&b, 2, 1, "yseq");
    Onnx__TypeProto__Sequence *sq = ob_alloc(&b, sizeof *sq);
    onnx__type_proto__sequence__init(sq);
    b.g->input[2]->type->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    b.g->input[2]->type->sequence_type = sq;
    ob_node(&b, "Identity", "y_in", "y_out");
    ob_output(&b, "cin");
    ob_output(&b, "y_out");
    ob_end_graph(&b);
    ob_output(&b, "yseq");
    CHECK_EQ_INT(ob_import(&b, NULL, &p, &e), MK_EUNSUPPORTED);
    CHECK_MSG(strstr(e.msg, "yseq") && strstr(e.msg, "sequence"), "%s", e.msg);
    ob_free(&b);

    /* neither M nor cond: an infinite loop */
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 2, (int64_t[]){1, 3});
    loop_node(&b, ",,x", "yinf");
    ob_node(&b, "Identity", "y_in", "y_out");
    ob_output(&b, "cin");
    ob_output(&b, "y_out");
    ob_end_graph(&b);
    ob_output(&b, "yinf");
    CHECK_EQ_INT(ob_import(&b, NULL, &p, &e), MK_EUNSUPPORTED);
    CHECK_MSG(strstr(e.msg, "yinf") && strstr(e.msg, "infinite"), "%s", e.msg);
    ob_free(&b);
}
