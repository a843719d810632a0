/* One shape engine (issue #13 part B item 2): the ONNX importer's output types are what
 * src/ir's type rules infer. The rules read a run-time int vector's known elements (constant
 * parts of a concat, elements a front end recorded on the value); every op of an imported
 * program keeps its type when inferred again from scratch; the expand / TopK / ConstantOfShape
 * forms whose dims the lowerings used to compute by hand keep them through the IR rule. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "test_infer_util.h"
#include "test_onnx_run.h"

#define U MK_DIM_UNKNOWN

TEST(infer_tile_reads_known_reps_elements)
{
    tprog t;
    REQUIRE(tp_init(&t, 7));
    mk_value *x = tp_in(&t, "x", T32(1, 3, 1));
    mk_value *s = tp_in(&t, "s", tt(MK_DT_INT32, SHAPE(3)));
    REQUIRE(x && s);
    static const int64_t known[3] = {2, MK_ELEM_UNKNOWN, 5};
    mk_op *op = tp_op(&t, MK_OP_TILE, "t", 1, "x", x, "reps", s, NULL);
    mk_err e;
    CHECK_EQ_INT(tp_infer(op, &e), MK_OK);
    CHECK(ty_is(op, 0, MK_DT_FP32, SHAPE(U, U, U)));
    s->known = known;
    CHECK_EQ_INT(tp_infer(op, &e), MK_OK);
    CHECK_MSG(ty_is(op, 0, MK_DT_FP32, SHAPE(2, U, 5)), "%s",
              mk_type_str(&op->outputs[0]->type, e.msg, sizeof e.msg));
    mk_ir_program_free(t.p);
}

TEST(infer_slices_read_constant_parts_of_a_concat)
{
    tprog t;
    REQUIRE(tp_init(&t, 7));
    mk_value *x = tp_in(&t, "x", T32(4, 9, 2));
    mk_value *k = tp_in(&t, "k", tt(MK_DT_INT32, SHAPE(1)));
    mk_value *a = tp_ints(&t, "a", 1, 4), *b = tp_ints(&t, "b", 1, 2);
    mk_value *z = tp_ints(&t, "z", 3, 0, 0, 0);
    mk_op *cc = tp_op(&t, MK_OP_CONCAT, "size", 1, "values", a, "values", k, "values", b, "axis",
                      tp_ints(&t, "ax", -1, 0), "interleave", tp_bool(&t, "il", 0), NULL);
    mk_err e;
    REQUIRE(cc && tp_infer(cc, &e) == MK_OK);
    int64_t el[3];
    CHECK_EQ_INT(mk_ir_value_elems(cc->outputs[0], el, 3), 3);
    CHECK(el[0] == 4 && el[1] == MK_ELEM_UNKNOWN && el[2] == 2);
    mk_op *sl =
        tp_op(&t, MK_OP_SLICE_BY_SIZE, "sl", 1, "x", x, "begin", z, "size", cc->outputs[0], NULL);
    CHECK_EQ_INT(tp_infer(sl, &e), MK_OK);
    CHECK(ty_is(sl, 0, MK_DT_FP32, SHAPE(4, U, 2)));
    /* slice_by_index: begin known where the concat has constants, end_mask on the others */
    mk_op *bi = tp_op(&t, MK_OP_CONCAT, "begin", 1, "values", tp_ints(&t, "b0", 1, 1), "values", k,
                      "values", tp_ints(&t, "b2", 1, 0), "axis", tp_ints(&t, "ax2", -1, 0),
                      "interleave", tp_bool(&t, "il2", 0), NULL);
    REQUIRE(bi && tp_infer(bi, &e) == MK_OK);
    mk_value *em = NULL;
    uint8_t ones[3] = {1, 1, 1};
    em = mk_ir_const_bool(t.p, t.b, "em", 3, ones, 0);
    mk_op *si = tp_op(&t, MK_OP_SLICE_BY_INDEX, "si", 1, "x", x, "begin", bi->outputs[0], "end", z,
                      "end_mask", em, NULL);
    CHECK_EQ_INT(tp_infer(si, &e), MK_OK);
    CHECK(ty_is(si, 0, MK_DT_FP32, SHAPE(3, U, 2)));
    mk_ir_program_free(t.p);
}

/* Every non-const op's output types equal what its rule infers from nothing (the types the
 * importer stored were not built by hand). Returns the number of ops checked. */
static int check_block(mk_test_ctx *tc, const char *what, mk_block *b)
{
    int n = 0;
    MK_FOR_OPS(b, op)
    {
        for (int i = 0; i < op->n_blocks; i++) n += check_block(tc, what, op->blocks[i]);
        if (op->kind == MK_OP_CONST || op->n_outputs > 16) continue;
        mk_type save[16];
        for (int i = 0; i < op->n_outputs; i++) {
            save[i] = op->outputs[i]->type;
            op->outputs[i]->type.rank = MK_RANK_UNKNOWN;
        }
        mk_err e = {0};
        mk_status st = mk_ir_infer_op(op, &e);
        CHECK_MSG(st == MK_OK, "%s: op %s: %s", what, op->name, e.msg);
        for (int i = 0; i < op->n_outputs; i++) {
            char a[160], d[160];
            CHECK_MSG(st != MK_OK || mk_type_equal(&save[i], &op->outputs[i]->type),
                      "%s: op %s (%s) output %d: stored %s, rule %s", what, op->name,
                      mk_ir_op_info(op->kind)->name, i, mk_type_str(&save[i], a, sizeof a),
                      mk_type_str(&op->outputs[i]->type, d, sizeof d));
            op->outputs[i]->type = save[i];
        }
        n++;
    }
    return n;
}

static int check_program(mk_test_ctx *tc, const char *what, mk_program *p)
{
    int n = 0;
    for (int i = 0; i < p->n_functions; i++) n += check_block(tc, what, p->functions[i]->block);
    return n;
}

TEST(onnx_expand_to_a_run_time_shape_keeps_the_broadcast_dims)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[2] = {3, 1}, three = 3;
    ob_input(&b, "x", 1, 2, xd);
    ob_input(&b, "s", 7, 1, &three);
    ob_node(&b, "Expand", "x,s", "y");
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_TILE), 1);
    CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){U, 3, U}));
    CHECK(check_program(tc, "expand", p) > 0);
    /* x [3,1] expanded to [2,3,4] */
    float x[3] = {1, 2, 3}, y[24];
    int32_t s[3] = {2, 3, 4};
    const void *ins[2] = {x, s};
    if (run_k(tc, p, 2, ins, 0, y, sizeof y))
        for (int i = 0; i < 24; i++) CHECK(y[i] == x[(i / 4) % 3]);
    mk_ir_program_free(p);
}

TEST(onnx_topk_with_run_time_k_keeps_the_other_dims)
{
    ob b;
    ob_init(&b, 11);
    int64_t xd[2] = {3, 4}, one = 1;
    ob_input(&b, "x", 1, 2, xd);
    ob_input(&b, "k", 7, 1, &one);
    ob_node(&b, "TopK", "x,k", "v,i");
    ob_output(&b, "v");
    ob_output(&b, "i");
    mk_program *p = imp(tc, &b, NULL);
    ob_free(&b);
    if (!p) return;
    CHECK(ob_dims_are(ob_out_type(p, 0), 2, (int64_t[]){3, U}));
    CHECK(ob_dims_are(ob_out_type(p, 1), 2, (int64_t[]){3, U}));
    CHECK(check_program(tc, "topk", p) > 0);
    mk_ir_program_free(p);
}

/* ConstantOfShape of a shape made of a Shape, a Gather and a constant: the known elements
 * (fold_dims) are recorded on the shape vector, and the tile's rule reads them. */
TEST(onnx_constant_of_shape_keeps_dims_known_at_convert_time)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[2] = {4, U}, one = 1;
    ob_input(&b, "x", 1, 2, xd);
    ob_init_i(&b, "tail", 1, &one, (int64_t[]){7});
    ob_node(&b, "Shape", "x", "sh");
    ob_node(&b, "Concat", "sh,tail", "s");
    ob_attr_i(&b, b.g->node[b.g->n_node - 1], "axis", 0);
    ob_node(&b, "ConstantOfShape", "s", "y");
    ob_output(&b, "y");
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    const char *shapes[1] = {"x=4,1..16"};
    o.shapes = shapes;
    o.n_shapes = 1;
    mk_program *p = imp(tc, &b, &o);
    ob_free(&b);
    if (!p) return;
    CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){4, U, 7}));
    CHECK(check_program(tc, "constant_of_shape", p) > 0);
    mk_ir_program_free(p);
}

/* ONNX's node conformance models with run-time shapes, slices, expands and TopK: every op of
 * each imported program is typed by its rule. */
TEST(onnx_conformance_models_are_typed_by_the_ir_rules)
{
    static const char *const dir = "/usr/share/libonnx-testdata/data/node";
    static const char *const pick[] = {"expand", "top_k", "slice", "constantofshape", "reshape",
                                       "tile",   "shape", "range", "gather",          "where"};
    DIR *d = opendir(dir);
    if (!d) {
        SKIP("%s not found (Debian libonnx-testdata)", dir);
        return;
    }
    int models = 0, ops = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        int want = 0;
        for (size_t i = 0; i < sizeof pick / sizeof *pick; i++)
            want |= !!strstr(de->d_name, pick[i]);
        if (!want) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/model.onnx", dir, de->d_name);
        mk_program *p = NULL;
        mk_err e = {0};
        if (mk_onnx_import(path, NULL, NULL, &p, &e) != MK_OK) continue;
        models++;
        ops += check_program(tc, de->d_name, p);
        mk_ir_program_free(p);
    }
    closedir(d);
    printf("  %d conformance models, %d ops inferred again\n", models, ops);
    CHECK(models > 20);
}

/* A type rule's refusal reaches the caller as the rule's message with its own status (the
 * sticky fail() idiom): MatMul inner dims that differ are invalid input, not out of memory. */
TEST(onnx_rule_refusal_keeps_its_status_and_message)
{
    ob b;
    ob_init(&b, 13);
    int64_t ad[2] = {2, 3}, bd[2] = {4, 5};
    ob_input(&b, "a", 1, 2, ad);
    ob_input(&b, "b", 1, 2, bd);
    ob_node(&b, "MatMul", "a,b", "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e = {0};
    mk_status st = ob_import(&b, NULL, &p, &e);
    ob_free(&b);
    CHECK_EQ_INT(st, MK_EINVAL);
    CHECK_EQ_INT(e.code, st);
    CHECK_MSG(strstr(e.msg, "matmul") && strstr(e.msg, "'y'"), "%s", e.msg);
    CHECK(p == NULL);
    mk_ir_program_free(p);
}
