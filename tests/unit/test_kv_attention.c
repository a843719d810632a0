/* A tiny decoder with its KV cache passed in and out and a causal mask cut to the run-time
 * length (GPT-2's form: bias[L - n : L, :L] with L = Shape(present)[2]), converted with
 * --context 8 at iOS18: with fixes its attention is one scaled_dot_product_attention over the
 * whole state (no value with a run-time dim, no slice_update); without fixes it stays
 * matmul/softmax over the filled part. Over consecutive steps of n = 1 and n = 3 new entries
 * both give the same y (interpreter, 1e-5 + 1e-5|ref|). A mask whose rows cannot be proven
 * in range (bias rows fewer than the cache can hold) is left unfused. With every allocation
 * failing in turn, the state rewrite and the fusion at capacity fail cleanly or succeed. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "ir/ir.h"
#include "passes/passes_int.h"
#include "test.h"
#include "test_fix_util.h"
#include "test_onnx_build.h"

#define CAP 8

/* x [1,2,n,8] -> y; past_k/past_v [1,2,P,8] -> present_k/present_v; bias rows x cols R x R */
static void decoder(ob *b, int64_t rows)
{
    ob_init(b, 13);
    ob_input(b, "x", 1, 4, (const int64_t[]){1, 2, -1, 8});
    ob_input(b, "past_k", 1, 4, (const int64_t[]){1, 2, -1, 8});
    ob_input(b, "past_v", 1, 4, (const int64_t[]){1, 2, -1, 8});
    ob_init_f(b, "wk", 0, NULL, (const float[]){0.5f});
    ob_init_f(b, "wv", 0, NULL, (const float[]){1.5f});
    ob_init_f(b, "c", 0, NULL, (const float[]){0.35f});
    ob_init_f(b, "masked", 0, NULL, (const float[]){-1e4f});
    ob_init_i(b, "two", 0, NULL, (const int64_t[]){2});
    ob_init_i(b, "ax0", 1, (const int64_t[]){1}, (const int64_t[]){0});
    ob_init_i(b, "ax2", 1, (const int64_t[]){1}, (const int64_t[]){2});
    ob_init_i(b, "ax3", 1, (const int64_t[]){1}, (const int64_t[]){3});
    ob_init_i(b, "zero", 1, (const int64_t[]){1}, (const int64_t[]){0});
    unsigned char tri[64 * 64];
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < rows; j++) tri[i * rows + j] = j <= i;
    int64_t bd[4] = {1, 1, rows, rows};
    b->g->initializer[b->g->n_initializer++] =
        ob_tensor(b, "bias", 9, 4, bd, tri, (size_t)(rows * rows));
    ob_node(b, "Mul", "x,wk", "k_new");
    ob_node(b, "Mul", "x,wv", "v_new");
    Onnx__NodeProto *n = ob_node(b, "Concat", "past_k,k_new", "present_k");
    ob_attr_i(b, n, "axis", 2);
    n = ob_node(b, "Concat", "past_v,v_new", "present_v");
    ob_attr_i(b, n, "axis", 2);
    n = ob_node(b, "Transpose", "present_k", "kt");
    ob_attr_ints(b, n, "perm", 4, (const int64_t[]){0, 1, 3, 2});
    ob_node(b, "MatMul", "x,kt", "s");
    ob_node(b, "Mul", "s,c", "ss");
    ob_node(b, "Shape", "present_k", "shk");
    ob_node(b, "Gather", "shk,two", "L");
    ob_node(b, "Shape", "x", "shq");
    ob_node(b, "Gather", "shq,two", "Q");
    ob_node(b, "Sub", "L,Q", "start");
    ob_node(b, "Unsqueeze", "start,ax0", "st1");
    ob_node(b, "Unsqueeze", "L,ax0", "en1");
    ob_node(b, "Slice", "bias,st1,en1,ax2", "rows");
    ob_node(b, "Slice", "rows,zero,en1,ax3", "mask");
    ob_node(b, "Where", "mask,ss,masked", "w");
    n = ob_node(b, "Softmax", "w", "p");
    ob_attr_i(b, n, "axis", -1);
    ob_node(b, "MatMul", "p,present_v", "y");
    ob_output(b, "y");
    ob_output(b, "present_k");
    ob_output(b, "present_v");
    ob_pack(b);
}

static mk_program *conv(mk_test_ctx *tc, const ob *b, int n, int fix)
{
    char onnx[600], pkg[600], shp[64];
    snprintf(onnx, sizeof onnx, "%s/kv_att.onnx", mk_test_tmpdir());
    snprintf(pkg, sizeof pkg, "%s/kv_att_%d_%d.mlpackage", mk_test_tmpdir(), n, fix);
    FILE *f = fopen(onnx, "wb");
    int ok = f && fwrite(b->packed, 1, b->packed_len, f) == b->packed_len;
    if (f) ok &= fclose(f) == 0;
    CHECK_MSG(ok, "write %s", onnx);
    snprintf(shp, sizeof shp, "x=1,2,%d,8", n);
    const char *shapes[1] = {shp};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    co.n_shapes = 1;
    co.shapes = shapes;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = fix;
    po.context = CAP;
    mk_err e = {MK_OK, ""};
    mk_program *p = NULL;
    if (!ok || mk_convert(onnx, pkg, &co, &po, NULL, &e) != MK_OK ||
        mk_program_load(pkg, NULL, &p, &e) != MK_OK) {
        CHECK_MSG(0, "n=%d fix=%d: %s", n, fix, e.msg);
        return NULL;
    }
    return p;
}

static int count(const mk_program *p, mk_op_kind k, int *dynamic)
{
    int c = 0;
    *dynamic = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op)
    {
        c += op->kind == k;
        for (int i = 0; i < op->n_outputs; i++)
            *dynamic += !mk_type_is_static(&op->outputs[i]->type);
    }
    return c;
}

TEST(kv_attention_fused_at_capacity_equals_unfused)
{
    ob b;
    decoder(&b, 32);
    for (int n = 1; n <= 3; n += 2) {
        mk_program *fu = conv(tc, &b, n, 1), *un = conv(tc, &b, n, 0);
        mk_session *a = NULL, *c = NULL;
        mk_err e = {MK_OK, ""};
        int dyn = 0, dyn_un = 0;
        if (fu && un) {
            CHECK_EQ_INT(count(fu, MK_OP_SCALED_DOT_PRODUCT_ATTENTION, &dyn), 1);
            CHECK_EQ_INT(count(fu, MK_OP_SOFTMAX, &dyn), 0);
            CHECK_EQ_INT(count(fu, MK_OP_SLICE_UPDATE, &dyn), 0);
            CHECK_MSG(dyn == 0, "n=%d: %d values with a run-time dim", n, dyn);
            CHECK_EQ_INT(count(un, MK_OP_SOFTMAX, &dyn_un), 1);
            CHECK_MSG(dyn_un > 0, "the unfused form reads the filled part (run-time length)");
            CHECK_MSG(mk_session_new(fu, NULL, &a, &e) == MK_OK &&
                          mk_session_new(un, NULL, &c, &e) == MK_OK,
                      "%s", e.msg);
        }
        double worst = 0;
        for (int t = 0; a && c && (t + 1) * n <= CAP && !tc->failures; t++) {
            float x[2 * 3 * 8];
            for (int k = 0; k < 16 * n; k++) x[k] = (float)sin(0.9 * t + 0.37 * k);
            int32_t len = t * n;
            mk_tensor in[2] = {{(char *)"x", 11, 4, {1, 2, n, 8}, x, (size_t)(64 * n)},
                               {(char *)"cache_length", 23, 1, {1}, &len, 4}};
            mk_tensor_list il = {2, in}, oa = {0, NULL}, oc = {0, NULL};
            if (mk_session_run(a, &il, &oa, NULL, &e) == MK_OK &&
                mk_session_run(c, &il, &oc, NULL, &e) == MK_OK) {
                double r = tolerance_ratio(&oa, &oc, 1e-5, 1e-5);
                if (!(r <= worst)) worst = r;
            } else {
                CHECK_MSG(0, "n=%d step %d: %s", n, t, e.msg);
            }
            mk_tensor_list_free(&oa);
            mk_tensor_list_free(&oc);
        }
        CHECK_MSG(worst <= 1, "n=%d: fused vs unfused ratio %g", n, worst);
        mk_session_free(a);
        mk_session_free(c);
        mk_program_free(fu);
        mk_program_free(un);
    }
    ob_free(&b);
}

TEST(kv_attention_unprovable_mask_rows_left_unfused)
{
    ob b;
    decoder(&b, 6); /* L can reach 9 > 6 bias rows: the row slice may clamp */
    mk_program *fu = conv(tc, &b, 1, 1);
    int dyn = 0;
    if (fu) {
        CHECK_EQ_INT(count(fu, MK_OP_SCALED_DOT_PRODUCT_ATTENTION, &dyn), 0);
        CHECK_EQ_INT(count(fu, MK_OP_SOFTMAX, &dyn), 1);
    }
    mk_program_free(fu);
    ob_free(&b);
}

TEST(kv_attention_alloc_failure_loop)
{
    ob b;
    decoder(&b, 32);
    static const char *const shapes[] = {"x=1,2,1,8", "past_k=1,2,0..8,8", "past_v=1,2,0..8,8"};
    static const mk_kv_pair pairs[] = {{"past_k", "present_k"}, {"past_v", "present_v"}};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    co.n_shapes = 3;
    co.shapes = shapes;
    mk_failing_alloc fa;
    mk_err e = {MK_OK, ""};
    int clean = 1, ok = 0;
    long n;
    for (n = 1; n < 20000 && !ok && clean; n++) {
        mk_failing_alloc_init(&fa, 0);
        mk_program *p = NULL;
        e = (mk_err){MK_OK, ""};
        if (mk_onnx_import_mem(b.packed, b.packed_len, "t.onnx", &co, &fa.base, &p, &e) != MK_OK) {
            clean = 0;
            break;
        }
        fa.fail_at = fa.calls + n;
        int r = mk_kv_to_state(p, pairs, 2, CAP, "cache_length", 1, &e);
        int f = r < 0 ? -1 : mk_pass_fuse_attention(p, &e);
        if (r == 2 && f == 1) ok = 1;
        if (!ok && ((r != -1 && f != -1) || e.code != MK_ENOMEM)) clean = 0;
        fa.fail_at = 0;
        mk_program_free(p);
    }
    printf("      kv_to_state + fuse_attention: first success with allocation %ld failing\n",
           n - 1);
    CHECK_MSG(clean, "allocation %ld failing: not a clean MK_ENOMEM (%s)", n, e.msg);
    CHECK(ok);
    ob_free(&b);
}
