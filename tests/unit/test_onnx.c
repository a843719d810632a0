/* ONNX front end: structural tests per lowering (op kinds emitted, shapes), shape folding,
 * --shape/--bind handling, the unsupported-node report, the importer table, external data
 * and hostile inputs. Models are built in C with protobuf-c (test_onnx_build.h). */
#include <math.h>
#include <stdio.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"

static const int64_t D1x3x8x8[4] = {1, 3, 8, 8};

static mk_program *import_ok(mk_test_ctx *tc, ob *b, const mk_convert_options *o)
{
    mk_program *p = NULL;
    mk_err e;
    mk_status st = ob_import(b, o, &p, &e);
    CHECK_MSG(st == MK_OK, "import failed: %s", e.msg);
    if (st != MK_OK) return NULL;
    mk_err ve = {0};
    CHECK_MSG(mk_ir_verify(p, &ve) == MK_OK, "verify: %s", ve.msg);
    return p;
}

static float *ramp(size_t n, float scale)
{
    static float buf[4096];
    for (size_t i = 0; i < n && i < 4096; i++) buf[i] = scale * (float)((int)(i % 7) - 3);
    return buf;
}

TEST(onnx_importer_table_sorted)
{
    int n = mk_onnx_n_importers();
    CHECK(n > 90);
    for (int i = 1; i < n; i++)
        CHECK_MSG(strcmp(mk_onnx_importer_at(i - 1)->op_type, mk_onnx_importer_at(i)->op_type) < 0,
                  "table not sorted at %s", mk_onnx_importer_at(i)->op_type);
    for (int i = 0; i < n; i++) {
        const ox_importer *im = mk_onnx_importer_at(i);
        CHECK(im->fn != NULL);
        CHECK(mk_onnx_find_importer(im->op_type, im->opset_lo) == im);
    }
    CHECK(mk_onnx_find_importer("NoSuchOp", 13) == NULL);
    CHECK(mk_onnx_find_importer("Gelu", 13) == NULL); /* Gelu needs opset 20 */
}

/* A 1:1 row names a MIL op of its arity whose parameters are the row's: x (and y), plus alpha
 * (and beta) for the activation forms; a row with its own lowering names none. */
TEST(onnx_importer_direct_rows_name_a_mil_op_of_their_form)
{
    int n = mk_onnx_n_importers(), direct = 0;
    for (int i = 0; i < n; i++) {
        const ox_importer *im = mk_onnx_importer_at(i);
        const ox_direct *d = &im->mil;
        CHECK_MSG((im->fn == mk_onnx_lower_direct) == (d->form != OX_OWN),
                  "%s: lowering and form disagree", im->op_type);
        if (d->form == OX_OWN) continue;
        direct++;
        CHECK_MSG(d->kind >= 0 && d->kind < MK_OP__COUNT, "%s: op kind", im->op_type);
        if (d->kind < 0 || d->kind >= MK_OP__COUNT) continue;
        CHECK_MSG(mk_ir_pointwise(d->kind) == (d->form == OX_BINARY ? 2 : 1), "%s -> %s: arity",
                  im->op_type, mk_ir_op_info(d->kind)->name);
        CHECK_MSG(mk_ir_op_param(d->kind, "x", 15) != NULL, "%s: x", im->op_type);
        CHECK_MSG((mk_ir_op_param(d->kind, "y", 15) != NULL) == (d->form == OX_BINARY), "%s: y",
                  im->op_type);
        CHECK_MSG((mk_ir_op_param(d->kind, "alpha", 15) != NULL) ==
                      (d->form == OX_ALPHA || d->form == OX_ALPHA_BETA),
                  "%s: alpha", im->op_type);
        CHECK_MSG((mk_ir_op_param(d->kind, "beta", 15) != NULL) == (d->form == OX_ALPHA_BETA),
                  "%s: beta", im->op_type);
    }
    CHECK(direct >= 36);
}

TEST(onnx_conv2d_pads_strides_groups)
{
    ob b;
    ob_init(&b, 13);
    int64_t wd[4] = {6, 1, 3, 3}, bd[1] = {6};
    ob_input(&b, "x", 1, 4, D1x3x8x8);
    ob_init_f(&b, "w", 4, wd, ramp(54, 0.1f));
    ob_init_f(&b, "bias", 1, bd, ramp(6, 1));
    Onnx__NodeProto *n = ob_node(&b, "Conv", "x,w,bias", "y");
    ob_attr_ints(&b, n, "pads", 4, (int64_t[]){1, 0, 1, 2});
    ob_attr_ints(&b, n, "strides", 2, (int64_t[]){2, 1});
    ob_attr_i(&b, n, "group", 3);
    ob_output(&b, "y");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_CONV), 1);
        /* H: (8+1+1-3)/2+1 = 4, W: (8+0+2-3)/1+1 = 8 */
        CHECK(ob_dims_are(ob_out_type(p, 0), 4, (int64_t[]){1, 6, 4, 8}));
        mk_op *c = ob_find(p, MK_OP_CONV);
        int32_t pad[4], k;
        CHECK(mk_ir_arg_i32s(c, "pad", pad, 4, &k) && k == 4);
        CHECK(pad[0] == 1 && pad[1] == 1 && pad[2] == 0 && pad[3] == 2);
        int32_t g;
        CHECK(mk_ir_arg_i32(c, "groups", &g) && g == 3);
        CHECK_STR(mk_ir_arg_str(c, "pad_type"), "custom");
        CHECK_STR(mk_ir_main(p)->block->outputs[0]->name, "y");
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_conv1d_stays_1d_same_upper)
{
    ob b;
    ob_init(&b, 11);
    int64_t xd[3] = {1, 2, 10}, wd[3] = {4, 2, 4};
    ob_input(&b, "x", 1, 3, xd);
    ob_init_f(&b, "w", 3, wd, ramp(32, 0.5f));
    Onnx__NodeProto *n = ob_node(&b, "Conv", "x,w", "y");
    ob_attr_s(&b, n, "auto_pad", "SAME_UPPER");
    ob_output(&b, "y");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        mk_op *c = ob_find(p, MK_OP_CONV);
        REQUIRE(c);
        CHECK_EQ_INT(mk_ir_arg(c, "x")->type.rank, 3);
        CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){1, 4, 10}));
        int32_t pad[2], k;
        /* total pad 3: SAME_UPPER puts the extra one at the end */
        CHECK(mk_ir_arg_i32s(c, "pad", pad, 2, &k) && pad[0] == 1 && pad[1] == 2);
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_conv_transpose_valid_plus_slice)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[3] = {1, 4, 5}, wd[3] = {4, 2, 7};
    ob_input(&b, "x", 1, 3, xd);
    ob_init_f(&b, "w", 3, wd, ramp(56, 0.1f));
    Onnx__NodeProto *n = ob_node(&b, "ConvTranspose", "x,w", "y");
    ob_attr_ints(&b, n, "strides", 1, (int64_t[]){3});
    ob_attr_ints(&b, n, "pads", 2, (int64_t[]){2, 2});
    ob_attr_ints(&b, n, "output_padding", 1, (int64_t[]){1});
    ob_output(&b, "y");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        mk_op *ct = ob_find(p, MK_OP_CONV_TRANSPOSE);
        REQUIRE(ct);
        CHECK_STR(mk_ir_arg_str(ct, "pad_type"), "valid"); /* H3: never custom/asymmetric */
        CHECK(mk_ir_arg(ct, "output_shape") == NULL);
        CHECK_EQ_INT(mk_ir_arg(ct, "x")->type.rank, 3); /* 1-D kept 1-D */
        /* full = (5-1)*3 + 7 = 19; out = 19 + 1 - 4 = 16 */
        CHECK(ob_dims_are(&ct->outputs[0]->type, 3, (int64_t[]){1, 2, 19}));
        CHECK_EQ_INT(ob_count(p, MK_OP_SLICE_BY_INDEX), 1);
        CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){1, 2, 16}));
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_gemm_to_linear_and_matmul)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[2] = {2, 3}, wd[2] = {4, 3}, cd[1] = {4};
    float w[12];
    for (int i = 0; i < 12; i++) w[i] = (float)i;
    ob_input(&b, "x", 1, 2, xd);
    ob_init_f(&b, "w", 2, wd, w);
    ob_init_f(&b, "c", 1, cd, ramp(4, 1));
    Onnx__NodeProto *n = ob_node(&b, "Gemm", "x,w,c", "y");
    ob_attr_i(&b, n, "transB", 1);
    ob_attr_f(&b, n, "alpha", 2.0f);
    ob_node(&b, "MatMul", "y,x2", "z");
    int64_t x2d[2] = {4, 5};
    ob_input(&b, "x2", 1, 2, x2d);
    ob_output(&b, "z");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        mk_op *l = ob_find(p, MK_OP_LINEAR);
        REQUIRE(l);
        mk_value *wv = mk_ir_arg(l, "weight");
        CHECK(ob_dims_are(&wv->type, 2, wd));
        CHECK(fabs(mk_const_get_f64(wv, 5) - 10.0) < 1e-6); /* alpha folded in */
        CHECK_EQ_INT(ob_count(p, MK_OP_MATMUL), 1);
        CHECK(ob_dims_are(ob_out_type(p, 0), 2, (int64_t[]){2, 5}));
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

/* Shape -> Gather -> Unsqueeze -> Concat -> Reshape folds to one reshape with a constant. */
TEST(onnx_shape_chain_folds)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, D1x3x8x8);
    int64_t zero = 0, neg = -1, one = 1;
    ob_init_i(&b, "i0", 0, NULL, &zero);
    ob_init_i(&b, "m1", 1, &one, &neg);
    ob_init_i(&b, "ax", 1, &one, &zero);
    ob_node(&b, "Shape", "x", "s");
    ob_node(&b, "Gather", "s,i0", "n");
    ob_node(&b, "Unsqueeze", "n,ax", "n1");
    ob_node(&b, "Concat", "n1,m1", "shape");
    ob_attr_i(&b, b.nodes[3], "axis", 0);
    ob_node(&b, "Reshape", "x,shape", "y");
    ob_node(&b, "Relu", "y", "z");
    ob_output(&b, "z");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_SHAPE), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_GATHER), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_CONCAT), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_RESHAPE), 1);
        CHECK(ob_dims_are(ob_out_type(p, 0), 2, (int64_t[]){1, 192}));
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_constant_of_shape_and_range_fold)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[1] = {5};
    ob_input(&b, "x", 1, 1, xd);
    int64_t three = 3, one = 1, sd = 1;
    ob_init_i(&b, "n", 1, &sd, &three);
    Onnx__NodeProto *cs = ob_node(&b, "ConstantOfShape", "n", "ones");
    float fv = 2.5f;
    int64_t d1 = 1;
    ob_attr_t(&b, cs, "value", ob_tensor(&b, "v", 1, 1, &d1, &fv, 4));
    float st = 0, lim = 5, dl = 1;
    b.g->initializer[b.g->n_initializer++] = ob_tensor(&b, "st", 1, 0, NULL, &st, 4);
    b.g->initializer[b.g->n_initializer++] = ob_tensor(&b, "lim", 1, 0, NULL, &lim, 4);
    b.g->initializer[b.g->n_initializer++] = ob_tensor(&b, "dl", 1, 0, NULL, &dl, 4);
    ob_node(&b, "Range", "st,lim,dl", "r");
    ob_node(&b, "Add", "x,r", "y");
    ob_node(&b, "ReduceSum", "ones", "s");
    ob_node(&b, "Add", "y,s", "z");
    (void)one;
    ob_output(&b, "z");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_FILL), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_RANGE_1D), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_REDUCE_SUM), 0); /* folded: 7.5 */
        CHECK_EQ_INT(ob_count(p, MK_OP_ADD), 2);
        int found = 0;
        MK_FOR_OPS(mk_ir_main(p)->block, op)
        if (op->kind == MK_OP_CONST && op->outputs[0]->type.rank == 1 &&
            op->outputs[0]->type.dims[0] == 5 && mk_const_get_f64(op->outputs[0], 4) == 4.0)
            found = 1;
        CHECK_MSG(found, "Range(0,5,1) not folded to a constant");
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_softmax_opset11_coerces_opset13_does_not)
{
    for (int pass = 0; pass < 2; pass++) {
        ob b;
        ob_init(&b, pass ? 13 : 11);
        int64_t xd[3] = {2, 3, 4};
        ob_input(&b, "x", 1, 3, xd);
        Onnx__NodeProto *n = ob_node(&b, "Softmax", "x", "y");
        ob_attr_i(&b, n, "axis", 1);
        ob_node(&b, "LogSoftmax", "y", "z");
        ob_output(&b, "z");
        mk_program *p = import_ok(tc, &b, NULL);
        if (p) {
            CHECK_EQ_INT(ob_count(p, MK_OP_SOFTMAX), 1);
            CHECK_EQ_INT(ob_count(p, MK_OP_RESHAPE), pass ? 0 : 4); /* both coerce at opset 11 */
            CHECK_EQ_INT(ob_count(p, MK_OP_REDUCE_LOG_SUM_EXP), 1);
            CHECK(ob_dims_are(ob_out_type(p, 0), 3, xd));
            mk_ir_program_free(p);
        }
        ob_free(&b);
    }
}

TEST(onnx_unsupported_nodes_listed_together)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, D1x3x8x8);
    ob_node(&b, "FancyOp", "x", "a");
    ob_node(&b, "FancyOp", "a", "b2");
    Onnx__NodeProto *r = ob_node(&b, "Resize", "b2,,sc", "c");
    ob_attr_s(&b, r, "mode", "linear");
    ob_attr_i(&b, r, "antialias", 1);
    float sc[4] = {1, 1, 2, 2};
    int64_t sd = 4;
    ob_init_f(&b, "sc", 1, &sd, sc);
    ob_node(&b, "Relu", "c", "d");
    ob_output(&b, "d");
    mk_program *p = NULL;
    mk_err e;
    mk_status st = ob_import(&b, NULL, &p, &e);
    CHECK_EQ_INT(st, MK_EUNSUPPORTED);
    CHECK(p == NULL);
    CHECK_MSG(strstr(e.msg, "3 unsupported nodes") != NULL, "%s", e.msg);
    CHECK_MSG(strstr(e.msg, "FancyOp x2") != NULL, "%s", e.msg);
    CHECK_MSG(strstr(e.msg, "Resize x1 (antialias unsupported: c)") != NULL, "%s", e.msg);
    CHECK(strchr(e.msg, '\n') == NULL);
    ob_free(&b);
}

TEST(onnx_dynamic_dims_shape_override_and_flex)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[4] = {-1, 3, -1, -1};
    ob_input(&b, "image", 1, 4, xd);
    ob_node(&b, "Relu", "image", "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    CHECK_EQ_INT(ob_import(&b, NULL, &p, &e), MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "image=?,3,?,?") && strstr(e.msg, "--shape"), "%s", e.msg);

    const char *fixed[] = {"image=1,3,32,48"};
    mk_convert_options o = {0};
    o.n_shapes = 1;
    o.shapes = fixed;
    p = import_ok(tc, &b, &o);
    if (p) {
        CHECK(ob_dims_are(ob_out_type(p, 0), 4, (int64_t[]){1, 3, 32, 48}));
        CHECK_EQ_INT(p->inputs[0].flex, MK_FLEX_NONE);
        mk_ir_program_free(p);
    }
    const char *flex[] = {"image=1,3,32..1024,32.."};
    o.shapes = flex;
    p = import_ok(tc, &b, &o);
    if (p) {
        CHECK_EQ_INT(p->inputs[0].flex, MK_FLEX_RANGE);
        CHECK_EQ_INT(p->inputs[0].range_hi[2], 1024);
        CHECK_EQ_INT(p->inputs[0].range_hi[3], -1);
        CHECK_EQ_INT(p->inputs[0].shape[2], 32);
        CHECK_EQ_INT(mk_ir_main(p)->inputs[0]->type.dims[2], MK_DIM_UNKNOWN);
        mk_ir_program_free(p);
    }
    const char *bad[] = {"image=1,3,x"};
    o.shapes = bad;
    CHECK_EQ_INT(ob_import(&b, &o, &p, &e), MK_EINVAL);
    const char *wrong[] = {"other=1"};
    o.shapes = wrong;
    CHECK_EQ_INT(ob_import(&b, &o, &p, &e), MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "other") != NULL, "%s", e.msg);
    ob_free(&b);
}

/* If on a scalar input: --bind folds it; otherwise a MIL cond. */
static void build_if_model(ob *b)
{
    ob_init(b, 13);
    int64_t xd[2] = {1, 4};
    ob_input(b, "x", 1, 2, xd);
    ob_input(b, "sr", 7, 0, NULL);
    int64_t k = 16000;
    ob_init_i(b, "k", 0, NULL, &k);
    ob_node(b, "Equal", "sr,k", "c");
    Onnx__NodeProto *n = ob_node(b, "If", "c", "y");
    ob_begin_graph(b, n, "then_branch");
    ob_node(b, "Relu", "x", "t1");
    ob_output(b, "t1");
    ob_begin_graph(b, n, "else_branch");
    ob_node(b, "Sigmoid", "x", "e1");
    ob_output(b, "e1");
    ob_end_graph(b);
    ob_output(b, "y");
}

TEST(onnx_if_bind_folds_else_cond)
{
    ob b;
    build_if_model(&b);
    const char *binds[] = {"sr=16000"};
    mk_convert_options o = {0};
    o.n_binds = 1;
    o.binds = binds;
    mk_program *p = import_ok(tc, &b, &o);
    if (p) {
        CHECK_EQ_INT(p->n_inputs, 1); /* sr baked in */
        CHECK_EQ_INT(ob_count(p, MK_OP_COND), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_RELU), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_SIGMOID), 0);
        mk_ir_program_free(p);
    }
    p = import_ok(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(p->n_inputs, 2);
        CHECK_EQ_INT(p->inputs[1].dtype, MK_DT_INT32); /* int64 -> int32 */
        CHECK_EQ_INT(p->inputs[1].rank, 1);            /* scalar -> [1] */
        mk_op *c = ob_find(p, MK_OP_COND);
        REQUIRE(c);
        CHECK_EQ_INT(c->n_blocks, 2);
        CHECK(ob_dims_are(&c->outputs[0]->type, 2, (int64_t[]){1, 4}));
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_lstm_gate_order)
{
    ob b;
    ob_init(&b, 14);
    int64_t H = 2, I = 3;
    int64_t xd[3] = {5, 1, I}, wd[3] = {1, 4 * H, I}, rd[3] = {1, 4 * H, H}, bd[2] = {1, 8 * H};
    float w[24], r[16], bias[16];
    /* gate g (ONNX order i,o,f,c) filled with value g+1 */
    for (int i = 0; i < 24; i++) w[i] = (float)(i / (int)(H * I) + 1);
    for (int i = 0; i < 16; i++) r[i] = (float)(i / (int)(H * H) + 1) * 10;
    for (int i = 0; i < 16; i++) bias[i] = (float)((i % 8) / (int)H + 1) * 100;
    ob_input(&b, "x", 1, 3, xd);
    ob_init_f(&b, "W", 3, wd, w);
    ob_init_f(&b, "R", 3, rd, r);
    ob_init_f(&b, "B", 2, bd, bias);
    Onnx__NodeProto *n = ob_node(&b, "LSTM", "x,W,R,B", "Y,Yh,Yc");
    ob_attr_i(&b, n, "hidden_size", H);
    ob_output(&b, "Y");
    ob_output(&b, "Yh");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        mk_op *l = ob_find(p, MK_OP_LSTM);
        REQUIRE(l);
        mk_value *wi = mk_ir_arg(l, "weight_ih"), *bb = mk_ir_arg(l, "bias");
        REQUIRE(wi && bb);
        CHECK(ob_dims_are(&wi->type, 2, (int64_t[]){4 * H, I}));
        /* MIL order i,f,o,c = ONNX gates 1,3,2,4 */
        CHECK(mk_const_get_f64(wi, 0) == 1 && mk_const_get_f64(wi, (size_t)(H * I)) == 3 &&
              mk_const_get_f64(wi, (size_t)(2 * H * I)) == 2 &&
              mk_const_get_f64(wi, (size_t)(3 * H * I)) == 4);
        CHECK(mk_const_get_f64(bb, (size_t)H) == 600); /* b_i f + b_h f = 300 + 300 */
        CHECK(ob_dims_are(ob_out_type(p, 0), 4, (int64_t[]){5, 1, 1, H}));
        CHECK(ob_dims_are(ob_out_type(p, 1), 3, (int64_t[]){1, 1, H}));
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_pad_resize_pool_norm_lowerings)
{
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "x", 1, 4, D1x3x8x8);
    int64_t pd = 8, pads[8] = {0, 0, 1, 2, 0, 0, 1, 2};
    ob_init_i(&b, "pads", 1, &pd, pads);
    Onnx__NodeProto *pn = ob_node(&b, "Pad", "x,pads", "p");
    ob_attr_s(&b, pn, "mode", "reflect");
    float sc[4] = {1, 1, 2, 2};
    int64_t sd = 4;
    ob_init_f(&b, "sc", 1, &sd, sc);
    Onnx__NodeProto *rn = ob_node(&b, "Resize", "p,,sc", "r");
    ob_attr_s(&b, rn, "mode", "nearest");
    Onnx__NodeProto *rl = ob_node(&b, "Resize", "p,,sc", "rl");
    ob_attr_s(&b, rl, "mode", "linear");
    Onnx__NodeProto *mp = ob_node(&b, "MaxPool", "r", "m");
    ob_attr_ints(&b, mp, "kernel_shape", 2, (int64_t[]){3, 3});
    ob_attr_ints(&b, mp, "strides", 2, (int64_t[]){2, 2});
    ob_attr_i(&b, mp, "ceil_mode", 1);
    int64_t cd = 3;
    ob_init_f(&b, "g", 1, &cd, ramp(3, 1));
    ob_init_f(&b, "be", 1, &cd, ramp(3, 2));
    ob_init_f(&b, "mu", 1, &cd, ramp(3, 3));
    float var[3] = {1, 2, 3};
    ob_init_f(&b, "var", 1, &cd, var);
    ob_node(&b, "BatchNormalization", "m,g,be,mu,var", "bn");
    ob_node(&b, "InstanceNormalization", "bn,g,be", "in");
    ob_node(&b, "GlobalAveragePool", "in", "gap");
    ob_node(&b, "HardSigmoid", "rl", "hs");
    ob_node(&b, "HardSwish", "hs", "hw");
    ob_output(&b, "gap");
    ob_output(&b, "hw");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        mk_op *pad = ob_find(p, MK_OP_PAD);
        REQUIRE(pad);
        CHECK_STR(mk_ir_arg_str(pad, "mode"), "reflect");
        CHECK(ob_dims_are(&pad->outputs[0]->type, 4, (int64_t[]){1, 3, 10, 12}));
        CHECK_EQ_INT(ob_count(p, MK_OP_UPSAMPLE_NEAREST_NEIGHBOR), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_RESIZE_BILINEAR), 1);
        mk_op *mx = ob_find(p, MK_OP_MAX_POOL);
        REQUIRE(mx);
        /* 20x24, k3 s2 ceil: H ceil(17/2)+1 = 10, W ceil(21/2)+1 = 12 */
        CHECK(ob_dims_are(&mx->outputs[0]->type, 4, (int64_t[]){1, 3, 10, 12}));
        CHECK_EQ_INT(ob_count(p, MK_OP_BATCH_NORM), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_INSTANCE_NORM), 1);
        CHECK(ob_dims_are(ob_out_type(p, 0), 4, (int64_t[]){1, 3, 1, 1}));
        CHECK_EQ_INT(ob_count(p, MK_OP_SIGMOID_HARD), 2);
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_layout_ops)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, D1x3x8x8);
    int64_t one = 1, two = 2, d3 = 3;
    int64_t st[3] = {7, 0, 1}, en[3] = {INT64_MIN, 3, 5}, ax[3] = {3, 1, 2}, sp[3] = {-2, 1, 2};
    ob_init_i(&b, "st", 1, &d3, st);
    ob_init_i(&b, "en", 1, &d3, en);
    ob_init_i(&b, "ax", 1, &d3, ax);
    ob_init_i(&b, "sp", 1, &d3, sp);
    ob_node(&b, "Slice", "x,st,en,ax,sp", "s"); /* [1,3,2,4] */
    int64_t perm[4] = {0, 2, 3, 1};
    Onnx__NodeProto *tn = ob_node(&b, "Transpose", "s", "t"); /* [1,2,4,3] */
    ob_attr_ints(&b, tn, "perm", 4, perm);
    int64_t spl[2] = {1, 3};
    ob_init_i(&b, "spl", 1, &two, spl);
    Onnx__NodeProto *sn = ob_node(&b, "Split", "t,spl", "a,c"); /* [1,2,1,3] [1,2,3,3] */
    ob_attr_i(&b, sn, "axis", 2);
    int64_t zero = 0;
    ob_init_i(&b, "a0", 1, &one, &zero);
    ob_node(&b, "Squeeze", "a,a0", "sq"); /* [2,1,3] */
    int64_t idx = 1;
    ob_init_i(&b, "gi", 0, NULL, &idx);
    Onnx__NodeProto *gn = ob_node(&b, "Gather", "c,gi", "g"); /* axis 2 -> [1,2,3] */
    ob_attr_i(&b, gn, "axis", 2);
    int64_t es[3] = {4, 2, 3};
    ob_init_i(&b, "es", 1, &d3, es);
    ob_node(&b, "Expand", "g,es", "e"); /* [4,2,3] */
    int64_t reps[3] = {1, 2, 1};
    ob_init_i(&b, "reps", 1, &d3, reps);
    ob_node(&b, "Tile", "e,reps", "tl"); /* [4,4,3] */
    ob_node(&b, "Add", "sq,sq", "sq2");
    ob_output(&b, "tl");
    ob_output(&b, "sq2");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        mk_op *sl = ob_find(p, MK_OP_SLICE_BY_INDEX);
        REQUIRE(sl);
        CHECK(ob_dims_are(&sl->outputs[0]->type, 4, (int64_t[]){1, 3, 2, 4}));
        CHECK_EQ_INT(ob_count(p, MK_OP_TRANSPOSE), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_SPLIT), 1);
        CHECK(ob_count(p, MK_OP_TILE) >= 2);
        CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){4, 4, 3}));
        CHECK(ob_dims_are(ob_out_type(p, 1), 3, (int64_t[]){2, 1, 3}));
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_elementwise_and_reductions)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[3] = {2, 3, 4}, one = 1, ax1 = 1;
    ob_input(&b, "x", 1, 3, xd);
    ob_init_i(&b, "axes", 1, &one, &ax1);
    ob_node(&b, "Sqrt", "x", "a");
    ob_node(&b, "Neg", "a", "b2");
    ob_node(&b, "Reciprocal", "b2", "c");
    ob_node(&b, "Max", "a,b2,c", "d");
    ob_node(&b, "ReduceSum", "d,axes", "e");
    Onnx__NodeProto *rm = ob_node(&b, "ReduceMean", "d", "f");
    ob_attr_ints(&b, rm, "axes", 2, (int64_t[]){0, -1});
    ob_attr_i(&b, rm, "keepdims", 0);
    Onnx__NodeProto *am = ob_node(&b, "ArgMax", "x", "g");
    ob_attr_i(&b, am, "axis", 2);
    ob_node(&b, "Greater", "x,x", "h");
    ob_node(&b, "Where", "h,x,a", "w");
    float lo = 0, hi = 6;
    b.g->initializer[b.g->n_initializer++] = ob_tensor(&b, "lo", 1, 0, NULL, &lo, 4);
    b.g->initializer[b.g->n_initializer++] = ob_tensor(&b, "hi", 1, 0, NULL, &hi, 4);
    ob_node(&b, "Clip", "w,lo,hi", "cl");
    Onnx__NodeProto *cast = ob_node(&b, "Cast", "g", "gi");
    ob_attr_i(&b, cast, "to", 1);
    ob_output(&b, "e");
    ob_output(&b, "f");
    ob_output(&b, "gi");
    ob_output(&b, "cl");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_MAXIMUM), 2);
        CHECK_EQ_INT(ob_count(p, MK_OP_REAL_DIV), 1);
        CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){2, 1, 4}));
        CHECK(ob_dims_are(ob_out_type(p, 1), 1, (int64_t[]){3}));
        CHECK_EQ_INT(ob_out_type(p, 2)->dtype, MK_DT_FP32);
        CHECK_EQ_INT(ob_count(p, MK_OP_REDUCE_ARGMAX), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_SELECT), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_CLIP), 1);
        CHECK_EQ_INT(ob_count(p, MK_OP_CAST), 1);
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

TEST(onnx_output_names_kept_and_identity_outputs)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[2] = {1, 2};
    ob_input(&b, "in.put", 1, 2, xd);
    ob_node(&b, "Identity", "in.put", "out/0");
    ob_output(&b, "out/0");
    mk_program *p = import_ok(tc, &b, NULL);
    if (p) {
        CHECK_STR(p->inputs[0].name, "in_put");
        CHECK_STR(p->outputs[0].name, "out_0");
        mk_value *o = mk_ir_main(p)->block->outputs[0];
        CHECK(o->producer && o->producer->kind == MK_OP_IDENTITY);
        mk_ir_program_free(p);
    }
    ob_free(&b);
}

/* ---- hostile input ---- */
TEST(onnx_hostile_truncated_and_garbage)
{
    ob b;
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, D1x3x8x8);
    int64_t wd[4] = {2, 3, 1, 1};
    ob_init_f(&b, "w", 4, wd, ramp(6, 1));
    ob_node(&b, "Conv", "x,w", "y");
    ob_output(&b, "y");
    ob_pack(&b);
    int failures = 0;
    for (size_t cut = 0; cut < b.packed_len; cut += 7) {
        mk_program *p = NULL;
        mk_err e = {0};
        mk_status st = mk_onnx_import_mem(b.packed, cut, "cut.onnx", NULL, NULL, &p, &e);
        if (st != MK_OK) {
            failures++;
            CHECK(e.msg[0] != 0 && strchr(e.msg, '\n') == NULL);
        }
        mk_ir_program_free(p);
    }
    CHECK(failures > 0);
    unsigned char junk[64];
    for (int i = 0; i < 64; i++) junk[i] = (unsigned char)(i * 37 + 11);
    mk_program *p = NULL;
    mk_err e = {0};
    CHECK(mk_onnx_import_mem(junk, sizeof junk, "junk", NULL, NULL, &p, &e) != MK_OK);
    ob_free(&b);
}

TEST(onnx_hostile_dims)
{
    /* negative, huge and overflowing initializer dims; rank 100 input */
    int64_t dims_sets[3][3] = {{-5, 2, 2}, {1, 1, (int64_t)1 << 40}, {1 << 30, 1 << 30, 1 << 30}};
    for (int k = 0; k < 3; k++) {
        ob b;
        ob_init(&b, 13);
        int64_t xd[1] = {2};
        ob_input(&b, "x", 1, 1, xd);
        b.g->initializer[b.g->n_initializer++] = ob_tensor(&b, "w", 1, 3, dims_sets[k], "abcd", 4);
        ob_node(&b, "Add", "x,w", "y");
        ob_output(&b, "y");
        mk_program *p = NULL;
        mk_err e;
        CHECK(ob_import(&b, NULL, &p, &e) == MK_EINVAL);
        CHECK_MSG(strstr(e.msg, "'w'") != NULL, "%s", e.msg);
        ob_free(&b);
    }
    ob b;
    ob_init(&b, 13);
    int64_t big[100];
    for (int i = 0; i < 100; i++) big[i] = 2;
    ob_input(&b, "x", 1, 100, big);
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    CHECK(ob_import(&b, NULL, &p, &e) == MK_EUNSUPPORTED);
    CHECK_MSG(strstr(e.msg, "rank 100") != NULL, "%s", e.msg);
    ob_free(&b);
    ob_init(&b, 13);
    int64_t huge[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30};
    ob_input(&b, "x", 1, 4, huge);
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    CHECK(ob_import(&b, NULL, &p, &e) == MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "overflow") != NULL, "%s", e.msg);
    ob_free(&b);
}

TEST(onnx_external_data)
{
    const char *dir = mk_test_tmpdir();
    if (!dir) SKIP("no temp dir");
    char path[512], wpath[512];
    float w[16];
    for (int i = 0; i < 16; i++) w[i] = (float)i * 0.25f;
    snprintf(wpath, sizeof wpath, "%s/ext_w.bin", dir);
    FILE *f = fopen(wpath, "wb");
    REQUIRE(f);
    fwrite("PAD!", 1, 4, f);
    fwrite(w, 4, 16, f);
    fclose(f);
    for (int variant = 0; variant < 3; variant++) {
        ob b;
        ob_init(&b, 13);
        int64_t xd[2] = {1, 16}, wd[2] = {1, 16};
        ob_input(&b, "x", 1, 2, xd);
        Onnx__TensorProto *t = ob_tensor(&b, "w", 1, 2, wd, NULL, 0);
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        t->n_external_data = 3;
        t->external_data = ob_alloc(&b, 3 * sizeof(void *));
        const char *keys[3] = {"location", "offset", "length"};
        const char *vals[3][3] = {
            {"ext_w.bin", "4", "64"}, {"missing.bin", "0", "64"}, {"../../etc/passwd", "0", "64"}};
        for (int i = 0; i < 3; i++) {
            Onnx__StringStringEntryProto *kv = ob_alloc(&b, sizeof *kv);
            onnx__string_string_entry_proto__init(kv);
            kv->key = ob_str(&b, keys[i]);
            kv->value = ob_str(&b, vals[variant][i]);
            t->external_data[i] = kv;
        }
        b.g->initializer[b.g->n_initializer++] = t;
        ob_node(&b, "Mul", "x,w", "y");
        ob_output(&b, "y");
        ob_pack(&b);
        snprintf(path, sizeof path, "%s/ext.onnx", dir);
        f = fopen(path, "wb");
        REQUIRE(f);
        fwrite(b.packed, 1, b.packed_len, f);
        fclose(f);
        mk_program *p = NULL;
        mk_err e = {0};
        mk_status st = mk_onnx_import(path, NULL, NULL, &p, &e);
        if (variant == 0) {
            CHECK_MSG(st == MK_OK, "%s", e.msg);
            int ok = 0;
            if (p) MK_FOR_OPS(mk_ir_main(p)->block, op)
            if (op->kind == MK_OP_CONST && op->outputs[0]->type.rank == 2)
                ok = mk_const_get_f64(op->outputs[0], 15) == 3.75;
            CHECK(ok);
        } else {
            CHECK(st != MK_OK);
            CHECK_MSG(strstr(e.msg, variant == 1 ? "missing.bin" : "leaves the model dir"), "%s",
                      e.msg);
        }
        mk_ir_program_free(p);
        ob_free(&b);
    }
}

TEST(onnx_allocation_failures_never_crash)
{
    ob b;
    build_if_model(&b);
    ob_pack(&b);
    int ok = 0, oom = 0;
    for (long n = 1; n < 4000 && !ok; n += 3) {
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, n);
        mk_program *p = NULL;
        mk_err e = {0};
        mk_status st = mk_onnx_import_mem(b.packed, b.packed_len, "oom", NULL, &fa.base, &p, &e);
        if (st == MK_OK)
            ok = 1;
        else if (st == MK_ENOMEM)
            oom++;
        else
            CHECK_MSG(0, "unexpected error at %ld: %s", n, e.msg);
        mk_ir_program_free(p);
    }
    CHECK(ok);
    CHECK(oom > 0);
    ob_free(&b);
}

TEST(onnx_read_tensor_pb)
{
    const char *dir = mk_test_tmpdir();
    if (!dir) SKIP("no temp dir");
    ob b;
    ob_init(&b, 13);
    int64_t d[2] = {2, 3}, v[6] = {1, -2, 3, 4, 5, 1 << 20};
    Onnx__TensorProto *t = ob_tensor(&b, "t", 7, 2, d, v, sizeof v);
    size_t n = protobuf_c_message_get_packed_size(&t->base);
    unsigned char *buf = ob_alloc(&b, n);
    protobuf_c_message_pack(&t->base, buf);
    char path[512];
    snprintf(path, sizeof path, "%s/t.pb", dir);
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    fwrite(buf, 1, n, f);
    fclose(f);
    mk_tensor ten;
    mk_err e = {0};
    mk_status st = mk_onnx_read_tensor(path, &ten, &e);
    ob_free(&b);
    REQUIRE(st == MK_OK);
    CHECK_EQ_INT(ten.dtype, MK_DT_INT32);
    CHECK_EQ_INT(ten.rank, 2);
    CHECK_EQ_INT(ten.dims[1], 3);
    CHECK_EQ_INT(((int32_t *)ten.data)[1], -2);
    CHECK_EQ_INT(((int32_t *)ten.data)[5], 1 << 20);
    mk_tensor_free(&ten);
}
