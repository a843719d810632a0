/* Op forms Apple's loader (coremltools 9.0's milproto frontend) refused in milkit's packages,
 * found by scripts/loader_sweep.sh: comparisons on bool (integer Div/Mod, Equal of bools) and
 * pad of an integer tensor. Each test checks the written form structurally (the verifier holds
 * the dtype domains) and runs it against a by-hand reference on seeded random inputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

#define ET_INT32 6
#define ET_INT64 7
#define ET_FLOAT 1

/* No equal/not_equal/less... takes a bool argument; every pad pads a float tensor whose
 * constant_val has its dtype. */
static int forms_ok(mk_test_ctx *tc, const mk_program *p)
{
    int ok = 1;
    {
        MK_FOR_OPS(mk_ir_main(p)->block, o)
        {
            if (o->kind >= MK_OP_EQUAL && o->kind <= MK_OP_GREATER_EQUAL)
                for (int k = 0; k < o->n_inputs; k++)
                    for (int j = 0; j < o->inputs[k].n_args; j++)
                        if (o->inputs[k].args[j]->type.dtype == MK_DT_BOOL) {
                            CHECK_MSG(0, "%s has a bool %s", mk_ir_op_info(o->kind)->name,
                                      o->inputs[k].name);
                            ok = 0;
                        }
            if (o->kind == MK_OP_PAD) {
                const mk_value *x = mk_ir_arg(o, "x"), *cv = mk_ir_arg(o, "constant_val");
                CHECK_MSG(x && mk_dtype_is_float(x->type.dtype), "pad of a non-float x");
                CHECK_MSG(!cv || (x && cv->type.dtype == x->type.dtype),
                          "pad constant_val dtype differs from x's");
                if (!x || !mk_dtype_is_float(x->type.dtype)) ok = 0;
            }
        }
    }
    return ok;
}

/* The fp16 program convert writes from p: verifies and keeps the forms. */
static void fp16_forms(mk_test_ctx *tc, const mk_program *p)
{
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = 1;
    po.fp16 = 1;
    mk_program *q = NULL;
    mk_err e = {0};
    CHECK_MSG(mk_program_as_converted(p, &po, MK_TARGET_DEFAULT, &q, &e) == MK_OK, "%s", e.msg);
    if (!q) return;
    mk_err ve = {0};
    CHECK_MSG(mk_ir_verify(q, &ve) == MK_OK, "fp16 verify: %s", ve.msg);
    forms_ok(tc, q);
    mk_program_free(q);
}

static int32_t trunc_q(int32_t a, int32_t b)
{
    return a / b; /* C division truncates, as ONNX's */
}

static int32_t floor_m(int32_t a, int32_t b)
{
    int32_t m = a % b;
    return m != 0 && ((m < 0) != (b < 0)) ? m + b : m;
}

TEST(loader_int_div_mod_take_no_bool_compare)
{
    for (int mod = 0; mod < 2; mod++) {
        ob b;
        ob_init(&b, 13);
        int64_t d[1] = {64};
        ob_input(&b, "x", ET_INT32, 1, d);
        ob_input(&b, "y", ET_INT32, 1, d);
        ob_node(&b, mod ? "Mod" : "Div", "x,y", "z");
        ob_output(&b, "z");
        mk_program *p = imp(tc, &b, NULL);
        if (p) {
            forms_ok(tc, p);
            fp16_forms(tc, p);
            int32_t x[64], y[64], z[64];
            srand(7 + mod);
            for (int i = 0; i < 64; i++) {
                x[i] = rand() % 2001 - 1000;
                do y[i] = rand() % 41 - 20;
                while (!y[i]);
            }
            const void *in[2] = {x, y};
            if (run1(tc, p, 2, in, z, sizeof z))
                for (int i = 0; i < 64; i++)
                    CHECK_EQ_INT(z[i], mod ? floor_m(x[i], y[i]) : trunc_q(x[i], y[i]));
            mk_program_free(p);
        }
        ob_free(&b);
    }
}

TEST(loader_equal_of_bools_is_xnor)
{
    ob b;
    ob_init(&b, 13);
    int64_t d[1] = {32};
    ob_input(&b, "a", ET_FLOAT, 1, d);
    ob_input(&b, "b", ET_FLOAT, 1, d);
    ob_input(&b, "c", ET_FLOAT, 1, d);
    ob_node(&b, "Less", "a,b", "l1");
    ob_node(&b, "Less", "b,c", "l2");
    ob_node(&b, "Equal", "l1,l2", "eq");
    Onnx__NodeProto *n = ob_node(&b, "Cast", "eq", "z");
    ob_attr_i(&b, n, "to", ET_FLOAT);
    ob_output(&b, "z");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK(forms_ok(tc, p));
        fp16_forms(tc, p);
        float x[3][32], z[32];
        srand(11);
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 32; i++) x[k][i] = (float)(rand() % 5);
        const void *in[3] = {x[0], x[1], x[2]};
        if (run1(tc, p, 3, in, z, sizeof z))
            for (int i = 0; i < 32; i++)
                CHECK_EQ_INT((int)z[i], (x[0][i] < x[1][i]) == (x[1][i] < x[2][i]));
        mk_program_free(p);
    }
    ob_free(&b);
}

/* ONNX Pad of an int32 [1,1,3,4] tensor by hand: constant (value 7), edge and reflect. */
static int32_t pad_ref(const int32_t *x, int mode, int h, int w, int t, int l)
{
    int i = h - t, j = w - l;
    if (mode == 0 && (i < 0 || i >= 3 || j < 0 || j >= 4)) return 7;
    if (mode == 1) {
        i = i < 0 ? 0 : i > 2 ? 2 : i;
        j = j < 0 ? 0 : j > 3 ? 3 : j;
    } else if (mode == 2) {
        i = i < 0 ? -i : i > 2 ? 4 - i : i;
        j = j < 0 ? -j : j > 3 ? 6 - j : j;
    }
    return x[i * 4 + j];
}

TEST(loader_int_pad_pads_a_float_tensor)
{
    static const char *const modes[3] = {"constant", "edge", "reflect"};
    for (int m = 0; m < 3; m++) {
        ob b;
        ob_init(&b, 13);
        int64_t d[4] = {1, 1, 3, 4}, pd[1] = {8}, pads[8] = {0, 0, 1, 2, 0, 0, 2, 1};
        ob_input(&b, "x", ET_INT32, 4, d);
        ob_init_i(&b, "pads", 1, pd, pads);
        int32_t seven = 7;
        b.g->initializer[b.g->n_initializer++] =
            ob_tensor(&b, "v", ET_INT32, 0, NULL, &seven, sizeof seven);
        Onnx__NodeProto *n = ob_node(&b, "Pad", m == 0 ? "x,pads,v" : "x,pads", "y");
        ob_attr_s(&b, n, "mode", modes[m]);
        ob_output(&b, "y");
        mk_program *p = imp(tc, &b, NULL);
        if (p) {
            CHECK(forms_ok(tc, p));
            CHECK_EQ_INT(ob_out_type(p, 0)->dtype, MK_DT_INT32);
            fp16_forms(tc, p);
            int32_t x[12], y[6 * 7];
            srand(3 + m);
            for (int i = 0; i < 12; i++) x[i] = rand() % 4001 - 2000;
            const void *in[1] = {x};
            if (run1(tc, p, 1, in, y, sizeof y))
                for (int h = 0; h < 6; h++)
                    for (int w = 0; w < 7; w++)
                        CHECK_MSG(y[h * 7 + w] == pad_ref(x, m, h, w, 1, 2), "%s [%d,%d]: %d vs %d",
                                  modes[m], h, w, y[h * 7 + w], pad_ref(x, m, h, w, 1, 2));
            mk_program_free(p);
        }
        ob_free(&b);
    }
}

/* Each select's a and b broadcast to its output shape (cond is not in coremltools' type). */
static int selects_covered(const mk_program *p)
{
    MK_FOR_OPS(mk_ir_main(p)->block, o)
    {
        if (o->kind != MK_OP_SELECT) continue;
        const mk_type *a = &mk_ir_arg(o, "a")->type, *b = &mk_ir_arg(o, "b")->type;
        const mk_type *t = &o->outputs[0]->type;
        int r = a->rank > b->rank ? a->rank : b->rank;
        if (r != t->rank) return 0;
        for (int i = 0; i < r; i++) {
            int ia = i - (r - a->rank), ib = i - (r - b->rank);
            int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
            if ((da == 1 ? db : da) != t->dims[i]) return 0;
        }
    }
    return 1;
}

TEST(loader_select_wider_cond_is_written_with_b_widened)
{
    for (int fp16 = 0; fp16 < 2; fp16++) {
        ob b;
        ob_init(&b, 13);
        int64_t d[2] = {3, 2}, one[1] = {1};
        float zero = 0, neg0 = -0.0f;
        ob_input(&b, "a", ET_FLOAT, 2, d);
        ob_input(&b, "b", ET_FLOAT, 2, d);
        ob_init_f(&b, "lo", 1, one, &zero);
        ob_init_f(&b, "hi", 1, one, &neg0);
        ob_node(&b, "Less", "a,b", "m");
        ob_node(&b, "Where", "m,lo,hi", "w");
        ob_node(&b, "Add", "w,a", "z");
        ob_output(&b, "z");
        ob_output(&b, "w");
        mk_program *p = imp(tc, &b, NULL), *q = NULL, *back = NULL;
        if (p) {
            CHECK(!selects_covered(p)); /* the form the loader refused */
            mk_pipeline_options po;
            memset(&po, 0, sizeof po);
            po.fp16 = fp16;
            mk_err e = {0};
            char path[1024];
            snprintf(path, sizeof path, "%s/select_widen_%d.mlpackage", mk_test_tmpdir(), fp16);
            CHECK_MSG(mk_program_as_converted(p, &po, MK_TARGET_DEFAULT, &q, &e) == MK_OK, "%s",
                      e.msg);
            CHECK_MSG(q && mk_program_save(q, path, MK_TARGET_DEFAULT, &e) == MK_OK, "save: %s",
                      e.msg);
            CHECK_MSG(mk_program_load(path, NULL, &back, &e) == MK_OK, "load: %s", e.msg);
            if (back) {
                CHECK(selects_covered(back));
                mk_err ve = {0};
                CHECK_MSG(mk_ir_verify(back, &ve) == MK_OK, "verify: %s", ve.msg);
                float x[2][6], want[6], got[6];
                srand(5 + fp16);
                for (int k = 0; k < 2; k++)
                    for (int i = 0; i < 6; i++) x[k][i] = (float)(rand() % 7) - 3;
                const void *in[2] = {x[0], x[1]};
                if (run_k(tc, p, 2, in, 1, want, sizeof want) &&
                    run_k(tc, back, 2, in, 1, got, sizeof got))
                    for (int i = 0; i < 6; i++) {
                        CHECK(want[i] == got[i] && !!signbit(want[i]) == !!signbit(got[i]));
                        CHECK(!!signbit(got[i]) == !(x[0][i] < x[1][i]));
                    }
            }
            mk_program_free(back);
            mk_program_free(q);
            mk_program_free(p);
        }
        ob_free(&b);
    }
}

TEST(loader_rank6_tensor_is_refused_at_write)
{
    ob b;
    ob_init(&b, 13);
    int64_t d[6] = {1, 2, 1, 2, 1, 2};
    ob_input(&b, "x", ET_FLOAT, 6, d);
    ob_node(&b, "Relu", "x", "y");
    ob_output(&b, "y");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        char path[1024];
        snprintf(path, sizeof path, "%s/rank6.mlpackage", mk_test_tmpdir());
        mk_err e = {0};
        CHECK_EQ_INT(mk_program_save(p, path, MK_TARGET_DEFAULT, &e), MK_EUNSUPPORTED);
        CHECK_MSG(strstr(e.msg, "rank 6") != NULL, "%s", e.msg);
        CHECK(!mk_path_exists(path));
        mk_program_free(p);
    }
    ob_free(&b);
}
