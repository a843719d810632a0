/* classify (coremltools iOS15 classify.py): label = class of the largest probability (first on
 * ties), probabilities as a dictionary class -> value; string and int64 classes as a list
 * literal; type-rule refusals; the classifier description (string/int64/dictionary outputs,
 * predictedFeatureName) read from coremltools' packages, written back, and run. */
#include <math.h>

#include "interp/interp_int.h"
#include "test.h"

#include "opsem_build.h"

/* classify(probabilities = x [1, n], classes = an inline list literal) as the block outputs */
static mk_op *classifier(bld *B, const float *x, int n, mk_dtype kd, const void *classes)
{
    int64_t xd[2] = {1, n}, ld[1] = {n};
    mk_type lt = mk_type_make(kd, 1, ld);
    lt.is_list = 1;
    size_t es = kd == MK_DT_STRING ? sizeof(char *) : 8;
    mk_value *cl = mk_ir_const_value(B->p, &lt, classes, (size_t)n * es, 1);
    if (!cl) return NULL;
    cl->is_inline = 1;
    mk_op *o =
        op(B, MK_OP_CLASSIFY, 2, "probabilities", b_input(B, "x", 2, xd, x), "classes", cl, NULL);
    if (o) mk_ir_block_set_outputs(B->p, B->b, 2, o->outputs);
    return o;
}

static mk_status run(bld *B, const mk_program *p, mk_tensor_list *res)
{
    mk_run_options ro = {0, 1, 0};
    memset(&B->e, 0, sizeof B->e);
    mk_status st = mk_program_verify(p, &B->e);
    if (!st) st = mk_run(p, &ro, &B->ins, res, &B->e);
    if (st) printf("  %s\n", B->e.msg);
    return st;
}

/* a string label: fixed-width NUL-padded bytes (the layout of NumPy's |S dtype) */
static int label_is(const mk_tensor *t, const char *want)
{
    return t->dtype == MK_DT_STRING && t->rank == 0 && t->nbytes >= strlen(want) &&
           memcmp(t->data, want, strlen(want)) == 0 &&
           (t->nbytes == strlen(want) || ((const char *)t->data)[strlen(want)] == 0);
}

TEST(opsem_classify_string_labels)
{
    static const char *const cls[4] = {"a", "bb", "ccc", "dd"};
    static const float x[4] = {0.1f, 0.5f, 0.3f, 0.1f}, tie[4] = {0.4f, 0.1f, 0.4f, 0.1f};
    for (int t = 0; t < 2; t++) {
        bld B;
        b_init(&B, 15);
        mk_op *o = classifier(&B, t ? tie : x, 4, MK_DT_STRING, cls);
        REQUIRE(o);
        CHECK(o->outputs[0]->type.dtype == MK_DT_STRING && o->outputs[0]->type.rank == 0);
        CHECK(o->outputs[1]->type.dict_key == MK_DT_STRING &&
              o->outputs[1]->type.dtype == MK_DT_FP64 && o->outputs[1]->type.dims[0] == 4);
        mk_tensor_list res = {0};
        REQUIRE(run(&B, B.p, &res) == MK_OK && res.n == 2);
        CHECK_MSG(label_is(&res.items[0], t ? "a" : "bb"), "label %.*s", (int)res.items[0].nbytes,
                  (const char *)res.items[0].data);
        REQUIRE(res.items[1].nbytes == 16);
        for (int i = 0; i < 4; i++)
            CHECK(((const float *)res.items[1].data)[i] == (t ? tie : x)[i]);
        mk_tensor_list_free(&res);

        /* written and read back: the same description (string label, string-keyed
         * dictionary, the predicted names) and the same answer */
        char path[1024];
        snprintf(path, sizeof path, "%s/cls%d.mlpackage", mk_test_tmpdir(), t);
        REQUIRE(mk_program_save(B.p, path, MK_TARGET_DEFAULT, &B.e) == MK_OK);
        mk_program *q = NULL;
        REQUIRE(mk_program_load(path, NULL, &q, &B.e) == MK_OK);
        CHECK(q->n_outputs == 2 && q->outputs[0].dtype == MK_DT_STRING && !q->outputs[0].dict_key &&
              q->outputs[1].dict_key == MK_DT_STRING);
        CHECK_STR(q->predicted_feature, o->outputs[0]->name);
        CHECK_STR(q->predicted_probs, o->outputs[1]->name);
        REQUIRE(run(&B, q, &res) == MK_OK && res.n == 2);
        CHECK(label_is(&res.items[0], t ? "a" : "bb"));
        mk_tensor_list_free(&res);
        mk_program_free(q);
        b_free(&B);
    }
}

TEST(opsem_classify_int64_labels_and_refusals)
{
    static const int64_t cls[3] = {7, -3, 11};
    static const float x[3] = {0.2f, NAN, 0.7f};
    bld B;
    b_init(&B, 15);
    REQUIRE(classifier(&B, x, 3, MK_DT_INT64, cls));
    mk_tensor_list res = {0};
    REQUIRE(run(&B, B.p, &res) == MK_OK && res.n == 2);
    /* NaN never wins */
    CHECK(res.items[0].dtype == MK_DT_INT32 && res.items[0].nbytes == 4 &&
          ((const int32_t *)res.items[0].data)[0] == 11);
    mk_tensor_list_free(&res);
    b_free(&B);

    /* 3 probabilities for 2 classes; classes that are not a list; fp16 probabilities */
    b_init(&B, 15);
    {
        int64_t xd[2] = {1, 3}, ld[1] = {2};
        mk_type lt = mk_type_make(MK_DT_INT64, 1, ld);
        lt.is_list = 1;
        mk_value *cl = mk_ir_const_value(B.p, &lt, cls, 16, 1);
        CHECK(!op(&B, MK_OP_CLASSIFY, 2, "probabilities", b_input(&B, "x", 2, xd, x), "classes", cl,
                  NULL));
        CHECK(strstr(B.e.msg, "3 probabilities for 2 classes") != NULL);
        mk_type nl = mk_type_make(MK_DT_INT64, 1, ld + 0);
        nl.dims[0] = 3;
        mk_value *cn = mk_ir_const_value(B.p, &nl, cls, 24, 1);
        memset(&B.e, 0, sizeof B.e);
        CHECK(!op(&B, MK_OP_CLASSIFY, 2, "probabilities", B.f->inputs[0], "classes", cn, NULL));
        CHECK(strstr(B.e.msg, "must be a list") != NULL);
        int64_t hd[2] = {1, 2};
        mk_type ht = mk_type_make(MK_DT_FP16, 2, hd);
        mk_value *h = mk_ir_function_add_input(B.p, B.f, "h", &ht);
        mk_value *c2 = mk_ir_const_value(B.p, &lt, cls, 16, 1);
        memset(&B.e, 0, sizeof B.e);
        CHECK(!op(&B, MK_OP_CLASSIFY, 2, "probabilities", h, "classes", c2, NULL));
        CHECK(strstr(B.e.msg, "must be fp32") != NULL);
    }
    b_free(&B);
}

/* coremltools 9.0's classifier packages (tests/data/make_ct_classifiers.py): read, run, and
 * written back with the same classify op and description */
TEST(opsem_classify_coremltools_packages)
{
    static const char *const kinds[2] = {"str", "int"};
    for (int k = 0; k < 2; k++) {
        char path[512], out[1024];
        snprintf(path, sizeof path, "tests/data/ct_classifier_%s_ios15.mlpackage", kinds[k]);
        mk_program *p = NULL;
        mk_err e = {0};
        REQUIRE(mk_program_load(path, NULL, &p, &e) == MK_OK);
        CHECK(p->n_outputs == 2 && p->outputs[1].dict_key == (k ? MK_DT_INT64 : MK_DT_STRING));
        CHECK_STR(p->predicted_feature, "classLabel");
        CHECK_STR(p->predicted_probs, "classLabel_probs");
        bld B;
        memset(&B, 0, sizeof B);
        static const float x[3] = {0.1f, 2.0f, 0.3f};
        static const int64_t xd[2] = {1, 3};
        mk_tensor tt;
        memset(&tt, 0, sizeof tt);
        tt.name = mk_strdup_default("x");
        tt.dtype = MK_DT_FP32;
        tt.rank = 2;
        tt.dims[0] = xd[0], tt.dims[1] = xd[1];
        tt.nbytes = sizeof x;
        tt.data = malloc(sizeof x);
        memcpy(tt.data, x, sizeof x);
        mk_tensor_list_push(&B.ins, &tt, NULL);
        mk_tensor_list res = {0};
        REQUIRE(run(&B, p, &res) == MK_OK && res.n == 2);
        /* softmax(0.1, 2, 0.3): the second class */
        if (k)
            CHECK(res.items[0].nbytes == 4 && ((const int32_t *)res.items[0].data)[0] == 3);
        else
            CHECK(label_is(&res.items[0], "dog"));
        const float *pr = res.items[1].data;
        double z = exp(0.1) + exp(2.0) + exp(0.3);
        CHECK(res.items[1].nbytes == 12 && fabs(pr[1] - exp(2.0) / z) < 1e-6);
        mk_tensor_list_free(&res);
        snprintf(out, sizeof out, "%s/ct_cls_%s.mlpackage", mk_test_tmpdir(), kinds[k]);
        REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
        mk_program *q = NULL;
        REQUIRE(mk_program_load(out, NULL, &q, &e) == MK_OK);
        CHECK(q->n_outputs == 2 && q->outputs[0].dtype == (k ? MK_DT_INT64 : MK_DT_STRING) &&
              q->outputs[1].dict_key == p->outputs[1].dict_key);
        CHECK_STR(q->predicted_feature, "classLabel");
        mk_program_free(q);
        mk_program_free(p);
        mk_tensor_list_free(&B.ins);
    }
}
