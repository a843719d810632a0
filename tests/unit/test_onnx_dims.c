/* Shape arithmetic folded per dimension (issue #9): a known dim of a tensor stays known when
 * another of its dims is flexible, so Shape -> Gather -> Div -> Slice chains on static axes
 * fold; bounds that really depend on a run-time length become run-time slice_by_index /
 * slice_by_size forms; zero-length dims and enumerated shapes; the refusal lists every node.
 * Expected values are computed by hand in each test, never taken from milkit. */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "test_onnx_run.h"

static mk_convert_options shapes_opt(int n, const char *const *s)
{
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    o.n_shapes = n;
    o.shapes = s;
    return o;
}

/* Run p (one fp32 input of the given dims) and return output k's element count, or -1. */
static long run_dims(mk_test_ctx *tc, const mk_program *p, int rank, const int64_t *dims,
                     const float *x, int k, float *out, size_t cap, mk_tensor *shape_out)
{
    char nm[64];
    snprintf(nm, sizeof nm, "%s", p->inputs[0].name);
    size_t n = 1;
    for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
    mk_tensor t = {
        .name = nm, .dtype = MK_DT_FP32, .rank = rank, .nbytes = n * 4, .data = (void *)x};
    memcpy(t.dims, dims, (size_t)rank * sizeof *dims);
    mk_tensor_list in = {1, &t}, res = {0, NULL};
    mk_run_options ro = {0};
    ro.threads = 1;
    mk_err e = {0};
    long got = -1;
    if (mk_run(p, &ro, &in, &res, &e) != MK_OK) {
        CHECK_MSG(0, "run: %s", e.msg);
    } else if (res.n > k) {
        got = (long)(res.items[k].nbytes / 4);
        if (res.items[k].nbytes <= cap * 4) memcpy(out, res.items[k].data, res.items[k].nbytes);
        if (shape_out) *shape_out = (mk_tensor){.rank = res.items[k].rank};
        if (shape_out) memcpy(shape_out->dims, res.items[k].dims, sizeof shape_out->dims);
    }
    mk_tensor_list_free(&res);
    return got;
}

/* x [1, S, 12]: y = x[..., : shape(x)[2] / 3] (PyTorch's in-projection split, rotate-half's
 * half): the last axis is static, so the bound folds although S is flexible. */
TEST(onnx_dims_known_dim_folds_when_another_is_flexible)
{
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "x", 1, 3, (int64_t[]){1, -1, 12});
    int64_t two = 2, three = 3, zero1[1] = {0}, ax[1] = {2};
    ob_init_i(&b, "i2", 0, NULL, &two);
    ob_init_i(&b, "three", 0, NULL, &three);
    ob_init_i(&b, "starts", 1, (int64_t[]){1}, zero1);
    ob_init_i(&b, "axes", 1, (int64_t[]){1}, ax);
    ob_init_i(&b, "ax0", 1, (int64_t[]){1}, zero1);
    ob_node(&b, "Shape", "x", "sh");
    ob_node(&b, "Gather", "sh,i2", "d");
    ob_node(&b, "Div", "d,three", "q");
    ob_node(&b, "Unsqueeze", "q,ax0", "end");
    ob_node(&b, "Slice", "x,starts,end,axes", "y");
    ob_output(&b, "y");
    const char *s[1] = {"x=1,1..64,12"};
    mk_convert_options o = shapes_opt(1, s);
    mk_program *p = imp(tc, &b, &o);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_SHAPE), 0);
    CHECK(ob_dims_are(ob_out_type(p, 0), 3, (int64_t[]){1, MK_DIM_UNKNOWN, 4}));
    float x[5 * 12], y[5 * 4];
    for (int i = 0; i < 60; i++) x[i] = (float)i;
    mk_tensor sh;
    CHECK_EQ_INT(run_dims(tc, p, 3, (int64_t[]){1, 5, 12}, x, 0, y, 20, &sh), 20);
    for (int r = 0; r < 5; r++)
        for (int j = 0; j < 4; j++) CHECK(y[r * 4 + j] == (float)(r * 12 + j));
    mk_ir_program_free(p);
}

/* Reshape(x, [shape(x)[0], shape(x)[1], 3, 4]) with S flexible: a static reshape with one
 * -1, no run-time shape operand. */
TEST(onnx_dims_reshape_target_with_one_unknown_is_static)
{
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "x", 1, 3, (int64_t[]){1, -1, 12});
    int64_t i0 = 0, i1 = 1, rest[2] = {3, 4}, ax0[1] = {0};
    ob_init_i(&b, "i0", 0, NULL, &i0);
    ob_init_i(&b, "i1", 0, NULL, &i1);
    ob_init_i(&b, "rest", 1, (int64_t[]){2}, rest);
    ob_init_i(&b, "ax0", 1, (int64_t[]){1}, ax0);
    ob_node(&b, "Shape", "x", "sh");
    ob_node(&b, "Gather", "sh,i0", "b0");
    ob_node(&b, "Gather", "sh,i1", "s1");
    ob_node(&b, "Unsqueeze", "b0,ax0", "ub");
    ob_node(&b, "Unsqueeze", "s1,ax0", "us");
    ob_node(&b, "Concat", "ub,us,rest", "target");
    ob_attr_i(&b, b.g->node[b.g->n_node - 1], "axis", 0);
    ob_node(&b, "Reshape", "x,target", "y");
    ob_output(&b, "y");
    const char *s[1] = {"x=1,1..64,12"};
    mk_convert_options o = shapes_opt(1, s);
    mk_program *p = imp(tc, &b, &o);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_SHAPE), 0);
    mk_op *r = ob_find(p, MK_OP_RESHAPE);
    CHECK(r && r->inputs[1].args[0]->cst);
    CHECK(ob_dims_are(ob_out_type(p, 0), 4, (int64_t[]){1, MK_DIM_UNKNOWN, 3, 4}));
    float x[2 * 12], y[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    mk_tensor sh;
    CHECK_EQ_INT(run_dims(tc, p, 3, (int64_t[]){1, 2, 12}, x, 0, y, 24, &sh), 24);
    CHECK(sh.rank == 4 && sh.dims[1] == 2 && sh.dims[2] == 3 && sh.dims[3] == 4);
    CHECK(y[23] == 23.0f);
    mk_ir_program_free(p);
}

/* A causal mask cut to the current length: M[0:L, 0:L] of a constant 8x8 with L = shape(x)[1]
 * at run time: a run-time slice_by_index, not a refusal. */
TEST(onnx_dims_slice_bound_from_runtime_length)
{
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "x", 1, 2, (int64_t[]){1, -1});
    float m[64];
    for (int i = 0; i < 64; i++) m[i] = (float)i;
    ob_init_f(&b, "M", 2, (int64_t[]){8, 8}, m);
    int64_t i1 = 1, z2[2] = {0, 0}, ax0[1] = {0};
    ob_init_i(&b, "i1", 0, NULL, &i1);
    ob_init_i(&b, "z2", 1, (int64_t[]){2}, z2);
    ob_init_i(&b, "ax0", 1, (int64_t[]){1}, ax0);
    ob_node(&b, "Shape", "x", "sh");
    ob_node(&b, "Gather", "sh,i1", "L");
    ob_node(&b, "Unsqueeze", "L,ax0", "uL");
    ob_node(&b, "Concat", "uL,uL", "ends");
    ob_attr_i(&b, b.g->node[b.g->n_node - 1], "axis", 0);
    ob_node(&b, "Slice", "M,z2,ends", "y");
    ob_output(&b, "y");
    const char *s[1] = {"x=1,1..8"};
    mk_convert_options o = shapes_opt(1, s);
    mk_program *p = imp(tc, &b, &o);
    ob_free(&b);
    if (!p) return;
    CHECK(ob_count(p, MK_OP_SLICE_BY_INDEX) >= 1);
    for (int L = 1; L <= 5; L += 2) {
        float x[8] = {0}, y[64];
        mk_tensor sh;
        CHECK_EQ_INT(run_dims(tc, p, 2, (int64_t[]){1, L}, x, 0, y, 64, &sh), L * L);
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++) CHECK(y[i * L + j] == (float)(i * 8 + j));
    }
    mk_ir_program_free(p);
}

/* Zero-length dims: --shape past=1,2,0,4 and a range 0..8 are legal; concat(past, new) on the
 * cache axis then has new's length. */
TEST(onnx_dims_zero_length_cache)
{
    const char *specs[2] = {"past=1,2,0,4", "past=1,2,0..8,4"};
    for (int k = 0; k < 2; k++) {
        ob b;
        ob_init(&b, 14);
        ob_input(&b, "past", 1, 4, (int64_t[]){1, 2, -1, 4});
        float nw[8];
        for (int i = 0; i < 8; i++) nw[i] = (float)(i + 1);
        ob_init_f(&b, "new", 4, (int64_t[]){1, 2, 1, 4}, nw);
        Onnx__NodeProto *n = ob_node(&b, "Concat", "past,new", "present");
        ob_attr_i(&b, n, "axis", 2);
        ob_output(&b, "present");
        mk_convert_options o = shapes_opt(1, &specs[k]);
        mk_program *p = imp(tc, &b, &o);
        ob_free(&b);
        if (!p) continue;
        CHECK_MSG(p->inputs[0].shape[2] == 0, "%s: default dim %lld", specs[k],
                  (long long)p->inputs[0].shape[2]);
        float y[16];
        mk_tensor sh;
        CHECK_EQ_INT(run_dims(tc, p, 4, (int64_t[]){1, 2, 0, 4}, NULL, 0, y, 16, &sh), 8);
        CHECK(sh.rank == 4 && sh.dims[2] == 1 && y[0] == 1.0f && y[7] == 8.0f);
        mk_ir_program_free(p);
    }
    /* a negative dim stays an error */
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "past", 1, 1, (int64_t[]){-1});
    ob_node(&b, "Identity", "past", "y");
    ob_output(&b, "y");
    const char *bad[1] = {"past=-1"};
    mk_convert_options o = shapes_opt(1, bad);
    mk_program *p = NULL;
    mk_err e;
    CHECK(ob_import(&b, &o, &p, &e) == MK_EINVAL);
    CHECK_MSG(strstr(e.msg, "bad dim"), "%s", e.msg);
    ob_free(&b);
    if (p) mk_ir_program_free(p);
}

/* x=1,[2|4|6]: an enumerated input (the product of its enumerated dims, first one the
 * default) written to a package, read back and shown by info; mixing kinds is refused. */
TEST(onnx_dims_enumerated_shapes_round_trip)
{
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "x", 1, 3, (int64_t[]){1, -1, -1});
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    const char *s[1] = {"x=1,[2|4],[3|5]"};
    mk_convert_options o = shapes_opt(1, s);
    mk_program *p = imp(tc, &b, &o);
    if (p) {
        const mk_feature *f = &p->inputs[0];
        CHECK_EQ_INT(f->flex, MK_FLEX_ENUMERATED);
        CHECK_EQ_INT(f->n_enumerated, 4);
        CHECK(f->shape[1] == 2 && f->shape[2] == 3);
        CHECK(f->n_enumerated == 4 && f->enumerated[3][1] == 4 && f->enumerated[3][2] == 5 &&
              f->enumerated[1][1] == 2 && f->enumerated[1][2] == 5);
        char pkg[1024];
        snprintf(pkg, sizeof pkg, "%s/enum.mlpackage", mk_test_tmpdir());
        mk_err e = {0};
        CHECK_MSG(mk_program_save(p, pkg, MK_TARGET_DEFAULT, &e) == MK_OK, "%s", e.msg);
        mk_program *q = NULL;
        CHECK_MSG(mk_model_load(pkg, NULL, NULL, &q, &e) == MK_OK, "%s", e.msg);
        if (q) {
            CHECK_EQ_INT(q->inputs[0].flex, MK_FLEX_ENUMERATED);
            CHECK_EQ_INT(q->inputs[0].n_enumerated, 4);
            CHECK(q->inputs[0].n_enumerated == 4 && q->inputs[0].enumerated[2][1] == 4 &&
                  q->inputs[0].enumerated[2][2] == 3);
            char out[4096];
            mk_test_sh(out, sizeof out, "%s info %s", mk_test_bin(), pkg);
            CHECK_MSG(strstr(out, "[1, 4, 5]"), "info: %s", out);
            mk_ir_program_free(q);
        }
        mk_ir_program_free(p);
    }
    static const char *const bad[] = {"x=1,[2|4],1..8", "x=1,[2],3", "x=1,[2|a],3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o = shapes_opt(1, &bad[i]);
        mk_err e;
        mk_program *q = NULL;
        CHECK_MSG(ob_import(&b, &o, &q, &e) == MK_EINVAL && strstr(e.msg, "--shape"), "%s: %s",
                  bad[i], e.msg);
        if (q) mk_ir_program_free(q);
    }
    ob_free(&b);
}

/* Fourteen unsupported nodes: the refusal names them all (up to twelve, then a count) and
 * says how many later nodes were not tried. */
TEST(onnx_dims_refusal_lists_every_node)
{
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "x", 1, 2, (int64_t[]){4, 4});
    ob_input(&b, "ax", 7, 1, (int64_t[]){1});
    int64_t z = 0, one = 1;
    ob_init_i(&b, "st", 1, (int64_t[]){1}, &z);
    ob_init_i(&b, "en", 1, (int64_t[]){1}, &one);
    char nm[32], prev[32] = "x";
    for (int i = 0; i < 14; i++) {
        snprintf(nm, sizeof nm, "s%d", i);
        char ins[64];
        snprintf(ins, sizeof ins, "x,st,en,ax");
        Onnx__NodeProto *n = ob_node(&b, "Slice", ins, nm);
        n->name = ob_str(&b, nm);
        snprintf(prev, sizeof prev, "%s", nm);
    }
    ob_node(&b, "Relu", prev, "y");
    ob_output(&b, "y");
    mk_program *p = NULL;
    mk_err e;
    CHECK(ob_import(&b, NULL, &p, &e) == MK_EUNSUPPORTED);
    CHECK_MSG(strstr(e.msg, "14 unsupported") && strstr(e.msg, "s11") &&
                  strstr(e.msg, "and 2 more") && strstr(e.msg, "1 later node"),
              "%s", e.msg);
    ob_free(&b);
    if (p) mk_ir_program_free(p);
}

/* Flatten of x [N, 3, 4] with N flexible: a static reshape to [-1, 12]. */
TEST(onnx_dims_flatten_with_a_flexible_batch)
{
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "x", 1, 3, (int64_t[]){-1, 3, 4});
    Onnx__NodeProto *n = ob_node(&b, "Flatten", "x", "y");
    ob_attr_i(&b, n, "axis", 1);
    ob_output(&b, "y");
    const char *s[1] = {"x=1..8,3,4"};
    mk_convert_options o = shapes_opt(1, s);
    mk_program *p = imp(tc, &b, &o);
    ob_free(&b);
    if (!p) return;
    CHECK(ob_dims_are(ob_out_type(p, 0), 2, (int64_t[]){MK_DIM_UNKNOWN, 12}));
    float x[24], y[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    mk_tensor sh;
    CHECK_EQ_INT(run_dims(tc, p, 3, (int64_t[]){2, 3, 4}, x, 0, y, 24, &sh), 24);
    CHECK(sh.rank == 2 && sh.dims[0] == 2 && sh.dims[1] == 12 && y[13] == 13.0f);
    mk_ir_program_free(p);
}

/* Shape(x, start=0, end=1) of x [N, 3] with N flexible feeding ConstantOfShape: a run-time
 * slice of the shape and a tile (no fill, which runs on the CPU). */
TEST(onnx_dims_shape_start_end_on_a_dynamic_dim)
{
    ob b;
    ob_init(&b, 15);
    ob_input(&b, "x", 1, 2, (int64_t[]){-1, 3});
    Onnx__NodeProto *n = ob_node(&b, "Shape", "x", "sh");
    ob_attr_i(&b, n, "start", 0);
    ob_attr_i(&b, n, "end", 1);
    float two = 2.0f;
    n = ob_node(&b, "ConstantOfShape", "sh", "y");
    ob_attr_t(&b, n, "value", ob_tensor(&b, "v", 1, 1, (int64_t[]){1}, &two, 4));
    ob_output(&b, "y");
    const char *s[1] = {"x=1..8,3"};
    mk_convert_options o = shapes_opt(1, s);
    mk_program *p = imp(tc, &b, &o);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_FILL), 0);
    float x[15] = {0}, y[8];
    mk_tensor sh;
    CHECK_EQ_INT(run_dims(tc, p, 2, (int64_t[]){5, 3}, x, 0, y, 8, &sh), 5);
    CHECK(sh.rank == 1 && sh.dims[0] == 5 && y[0] == 2.0f && y[4] == 2.0f);
    mk_ir_program_free(p);
}

/* GQA's repeat_kv under a flexible length: k [1, 2, S, 3] -> k[:, :, None] expanded to
 * where(shape == -1, 1, shape) with shape = (shape(k)[0], 2, 2, shape(k)[2], 3), as PyTorch
 * exports it. The S position comes from k itself, so the tile reps are all static. */
TEST(onnx_dims_gqa_repeat_is_a_static_tile)
{
    ob b;
    ob_init(&b, 14);
    ob_input(&b, "k", 1, 4, (int64_t[]){1, 2, -1, 3});
    int64_t i0 = 0, i2 = 2, two1[1] = {2}, three1[1] = {3}, ax0[1] = {0}, ax2[1] = {2};
    int64_t m1[5] = {-1, -1, -1, -1, -1}, ones[5] = {1, 1, 1, 1, 1};
    ob_init_i(&b, "i0", 0, NULL, &i0);
    ob_init_i(&b, "i2", 0, NULL, &i2);
    ob_init_i(&b, "two", 1, (int64_t[]){1}, two1);
    ob_init_i(&b, "three", 1, (int64_t[]){1}, three1);
    ob_init_i(&b, "ax0", 1, (int64_t[]){1}, ax0);
    ob_init_i(&b, "ax2", 1, (int64_t[]){1}, ax2);
    ob_init_i(&b, "m1", 1, (int64_t[]){5}, m1);
    ob_init_i(&b, "ones", 1, (int64_t[]){5}, ones);
    ob_node(&b, "Shape", "k", "sh");
    ob_node(&b, "Gather", "sh,i0", "b0");
    ob_node(&b, "Gather", "sh,i2", "s2");
    ob_node(&b, "Unsqueeze", "b0,ax0", "ub");
    ob_node(&b, "Unsqueeze", "s2,ax0", "us");
    ob_node(&b, "Concat", "ub,two,two,us,three", "target");
    ob_attr_i(&b, b.g->node[b.g->n_node - 1], "axis", 0);
    ob_node(&b, "Equal", "target,m1", "isneg");
    ob_node(&b, "Where", "isneg,ones,target", "shp");
    ob_node(&b, "Unsqueeze", "k,ax2", "k5");
    ob_node(&b, "Expand", "k5,shp", "y");
    ob_output(&b, "y");
    const char *s[1] = {"k=1,2,1..64,3"};
    mk_convert_options o = shapes_opt(1, s);
    mk_program *p = imp(tc, &b, &o);
    ob_free(&b);
    if (!p) return;
    CHECK_EQ_INT(ob_count(p, MK_OP_SHAPE), 0);
    mk_op *t = ob_find(p, MK_OP_TILE);
    CHECK(t && t->inputs[1].args[0]->cst);
    CHECK(ob_dims_are(ob_out_type(p, 0), 5, (int64_t[]){1, 2, 2, MK_DIM_UNKNOWN, 3}));
    float x[2 * 4 * 3], y[2 * 2 * 4 * 3];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    mk_tensor sh;
    CHECK_EQ_INT(run_dims(tc, p, 4, (int64_t[]){1, 2, 4, 3}, x, 0, y, 48, &sh), 48);
    /* y[0, h, r, s, d] = k[0, h, s, d] for both repeats r */
    int bad = 0;
    for (int h = 0; h < 2; h++)
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < 12; i++) bad += y[(h * 2 + r) * 12 + i] != x[h * 12 + i];
    CHECK_EQ_INT(bad, 0);
    mk_ir_program_free(p);
}
