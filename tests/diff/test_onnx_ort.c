/* Small ONNX graphs built in C (recurrent forms MIL cannot express directly, and the ops and
 * patterns of the third importer round) converted by milkit, run in the reference
 * interpreter and compared with onnxruntime-node on the same random inputs
 * (|a-b| <= 1e-4 + 1e-3|b|). Each test SKIPs with a reason when node or onnxruntime-node is
 * missing. Expected values come from onnxruntime, never from milkit itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "unit/test_onnx_build.h"

static const char *ort_missing(void)
{
    char out[4096];
    const char *probe = "node -e \"require('./tests/.cache/node/node_modules/onnxruntime-node')\"";
    if (mk_test_sh(out, sizeof out, "command -v node >/dev/null") != 0) return "node not found";
    if (mk_test_sh(out, sizeof out, "%s", probe) == 0) return NULL;
    mk_test_sh(out, sizeof out,
               "command -v npm >/dev/null && mkdir -p tests/.cache/node && npm install --prefix "
               "tests/.cache/node onnxruntime-node@1.20.1 --ignore-scripts --no-audit --no-fund");
    if (mk_test_sh(out, sizeof out, "%s", probe) == 0) return NULL;
    return "onnxruntime-node cannot be installed or loaded (offline?)";
}

/* Deterministic values in [-scale, scale). */
static void fill(float *v, size_t n, unsigned seed, float scale)
{
    unsigned long long s = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = ((float)((s >> 40) & 0xFFFFFF) / 16777216.0f * 2 - 1) * scale;
    }
}

static void init_rand(ob *b, const char *name, int rank, const int64_t *dims, unsigned seed,
                      float scale)
{
    size_t n = ob_numel(rank, dims);
    float *v = ob_alloc(b, n * sizeof *v);
    fill(v, n, seed, scale);
    ob_init_f(b, name, rank, dims, v);
}

static double value(const mk_tensor *t, size_t i)
{
    switch (t->dtype) {
    case MK_DT_FP32: return ((const float *)t->data)[i];
    case MK_DT_INT32: return ((const int32_t *)t->data)[i];
    case MK_DT_INT64: return (double)((const int64_t *)t->data)[i];
    case MK_DT_BOOL:
    case MK_DT_UINT8: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

/* Convert b, run milkit and onnxruntime on the same random inputs, compare every output.
 * want_kind (MK_OP__COUNT for none) must appear in the converted program, and avoid_kind
 * must not. */
static void ort_check_t(mk_test_ctx *tc, ob *b, const char *label, mk_target target,
                        mk_op_kind want_kind, mk_op_kind avoid_kind)
{
    const char *why = ort_missing();
    if (why) {
        ob_free(b);
        SKIP("%s", why);
    }
    char model[1024], dir[1024], npz[1100], out[8192];
    snprintf(model, sizeof model, "%s/%s.onnx", mk_test_tmpdir(), label);
    snprintf(dir, sizeof dir, "%s/ort_%s", mk_test_tmpdir(), label);
    snprintf(npz, sizeof npz, "%s/ort_%s_in.npz", mk_test_tmpdir(), label);
    ob_pack(b);
    mk_err e = {0};
    REQUIRE(mk_file_write_all(model, b->packed, b->packed_len, &e) == MK_OK);
    ob_free(b);
    mk_program *p = NULL;
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = target;
    mk_status st = mk_onnx_import(model, &co, NULL, &p, &e);
    CHECK_MSG(st == MK_OK, "%s: convert: %s", label, e.msg);
    if (st != MK_OK) return;
    mk_err ve = {0};
    CHECK_MSG(mk_ir_verify(p, &ve) == MK_OK, "%s: verify: %s", label, ve.msg);
    int has_want = want_kind == MK_OP__COUNT, has_avoid = 0;
    MK_FOR_OPS(mk_ir_main(p)->block, op)
    {
        has_want |= op->kind == want_kind;
        has_avoid |= op->kind == avoid_kind;
    }
    CHECK_MSG(has_want, "%s: no %s op", label, mk_ir_op_info(want_kind)->name);
    CHECK_MSG(!has_avoid, "%s: has a %s op", label,
              avoid_kind < MK_OP__COUNT ? mk_ir_op_info(avoid_kind)->name : "?");
    mk_tensor_list ins, outs = {0, NULL};
    REQUIRE(mk_random_inputs(p, 11, &ins, &e) == MK_OK);
    REQUIRE(mk_npz_write(npz, &ins, &e) == MK_OK);
    int rc = mk_test_sh(out, sizeof out, "node tests/diff/ort_run.js %s %s %s --threads 1", model,
                        dir, npz);
    CHECK_MSG(rc == 0, "%s: onnxruntime: %s", label, out);
    mk_run_options o = {0, 0, 0};
    st = mk_run(p, &o, &ins, &outs, &e);
    CHECK_MSG(st == MK_OK, "%s: run: %s", label, e.msg);
    for (int i = 0; rc == 0 && st == MK_OK && i < outs.n; i++) {
        char path[1200];
        mk_tensor ref;
        snprintf(path, sizeof path, "%s/%s.npy", dir, outs.items[i].name);
        if (mk_npy_read(path, &ref, &e) != MK_OK) {
            CHECK_MSG(0, "%s: %s", label, e.msg);
            continue;
        }
        const mk_tensor *g = &outs.items[i];
        size_t n = 1, m = 1;
        for (int d = 0; d < ref.rank; d++) n *= (size_t)ref.dims[d];
        for (int d = 0; d < g->rank; d++) m *= (size_t)g->dims[d];
        CHECK_MSG(n == m, "%s: output %s has %zu elements, onnxruntime %zu", label, g->name, m, n);
        int bad = 0;
        for (size_t k = 0; n == m && k < n && bad < 3; k++) {
            double a = value(g, k), r = value(&ref, k);
            if (!(fabs(a - r) <= 1e-4 + 1e-3 * fabs(r)) && !(isnan(a) && isnan(r))) {
                CHECK_MSG(0, "%s: %s[%zu] = %g, onnxruntime %g", label, g->name, k, a, r);
                bad++;
            }
        }
        mk_tensor_free(&ref);
    }
    mk_tensor_list_free(&outs);
    mk_tensor_list_free(&ins);
    mk_ir_program_free(p);
}

static void ort_check(mk_test_ctx *tc, ob *b, const char *label, mk_op_kind want_kind,
                      mk_op_kind avoid_kind)
{
    ort_check_t(tc, b, label, MK_TARGET_DEFAULT, want_kind, avoid_kind);
}

/* ---- recurrent ---- */

/* A GRU / LSTM / RNN node with random weights: X [S, B, I] (or [B, S, I] with layout 1), all
 * three state inputs when with_state, outputs Y and Y_h (and Y_c). */
typedef struct rnn_case {
    const char *op;
    int G, D, layout, with_state, with_bias;
    int64_t S, B, I, H;
    const char *direction;
    int64_t lbr, input_forget;
    float clip;
    const char *acts; /* comma-separated or NULL */
    int peephole;     /* 1 constant, 2 graph input */
    const int64_t *lens;
    const float *alphas; /* two activation_alpha values */
} rnn_case;

static void rnn_model(ob *b, const rnn_case *k)
{
    ob_init(b, 14);
    int64_t xd[3] = {k->layout ? k->B : k->S, k->layout ? k->S : k->B, k->I};
    int64_t wd[3] = {k->D, k->G * k->H, k->I}, rd[3] = {k->D, k->G * k->H, k->H};
    int64_t bd[2] = {k->D, 2 * k->G * k->H}, pd[2] = {k->D, 3 * k->H};
    int64_t sd[3] = {k->layout ? k->B : k->D, k->layout ? k->D : k->B, k->H};
    ob_input(b, "X", 1, 3, xd);
    init_rand(b, "W", 3, wd, 1, 0.6f);
    init_rand(b, "R", 3, rd, 2, 0.6f);
    if (k->with_bias) init_rand(b, "B", 2, bd, 3, 0.5f);
    if (k->lens) {
        int32_t l32[8];
        for (int64_t i = 0; i < k->B && i < 8; i++) l32[i] = (int32_t)k->lens[i];
        b->g->initializer[b->g->n_initializer++] =
            ob_tensor(b, "L", 6, 1, &k->B, l32, 4 * (size_t)k->B);
    }
    if (k->with_state) {
        ob_input(b, "h0", 1, 3, sd);
        if (k->G == 4) ob_input(b, "c0", 1, 3, sd);
    }
    if (k->peephole == 1) init_rand(b, "P", 2, pd, 4, 0.5f);
    if (k->peephole == 2) ob_input(b, "P", 1, 2, pd);
    char ins[128];
    snprintf(ins, sizeof ins, "X,W,R,%s,%s,%s%s%s", k->with_bias ? "B" : "", k->lens ? "L" : "",
             k->with_state ? "h0" : "", k->G == 4 ? (k->with_state ? ",c0" : ",") : "",
             k->peephole ? ",P" : "");
    Onnx__NodeProto *n = ob_node(b, k->op, ins, k->G == 4 ? "Y,Yh,Yc" : "Y,Yh");
    ob_attr_i(b, n, "hidden_size", k->H);
    if (k->direction) ob_attr_s(b, n, "direction", k->direction);
    if (k->layout) ob_attr_i(b, n, "layout", 1);
    if (k->lbr) ob_attr_i(b, n, "linear_before_reset", 1);
    if (k->input_forget) ob_attr_i(b, n, "input_forget", 1);
    if (k->clip > 0) ob_attr_f(b, n, "clip", k->clip);
    if (k->alphas) {
        Onnx__AttributeProto *a =
            ob_attr(b, n, "activation_alpha", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
        a->n_floats = 2;
        a->floats = ob_alloc(b, 2 * sizeof *a->floats);
        memcpy(a->floats, k->alphas, 2 * sizeof *a->floats);
    }
    if (k->acts) {
        Onnx__AttributeProto *a =
            ob_attr(b, n, "activations", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
        size_t na;
        char **v = ob_split(b, k->acts, &na);
        a->n_strings = na;
        a->strings = ob_alloc(b, na * sizeof *a->strings);
        for (size_t i = 0; i < na; i++) {
            a->strings[i].data = (uint8_t *)v[i];
            a->strings[i].len = strlen(v[i]);
        }
    }
    ob_output(b, "Y");
    ob_output(b, "Yh");
    if (k->G == 4) ob_output(b, "Yc");
}

static void rnn_check(mk_test_ctx *tc, const rnn_case *k, const char *label, mk_op_kind want,
                      mk_op_kind avoid)
{
    ob b;
    rnn_model(&b, k);
    ort_check(tc, &b, label, want, avoid);
}

TEST(ort_gru_linear_before_reset_unrolled)
{
    /* PyTorch's GRU: linear_before_reset=1, forward, reverse and bidirectional */
    rnn_case k = {"GRU", 3, 1, 0, 1, 1, 5, 2, 3, 4, NULL, 1, 0, 0, NULL, 0, NULL, NULL};
    rnn_check(tc, &k, "gru_lbr_fwd", MK_OP_LINEAR, MK_OP_GRU);
    k.direction = "reverse";
    rnn_check(tc, &k, "gru_lbr_rev", MK_OP_LINEAR, MK_OP_GRU);
    k.direction = "bidirectional";
    k.D = 2;
    rnn_check(tc, &k, "gru_lbr_bi", MK_OP_LINEAR, MK_OP_GRU);
    k.with_state = 0;
    k.with_bias = 0;
    rnn_check(tc, &k, "gru_lbr_bi_defaults", MK_OP_LINEAR, MK_OP_GRU);
    /* a long sequence: more than 64 steps are sliced in chunks */
    rnn_case l = {"GRU", 3, 1, 0, 0, 1, 70, 1, 2, 3, NULL, 1, 0, 0, NULL, 0, NULL, NULL};
    rnn_check(tc, &l, "gru_lbr_long", MK_OP_LINEAR, MK_OP_GRU);
}

TEST(ort_gru_native_and_other_forms)
{
    rnn_case k = {"GRU", 3, 1, 0, 1, 1, 4, 2, 3, 4, NULL, 0, 0, 0, NULL, 0, NULL, NULL};
    rnn_check(tc, &k, "gru_native", MK_OP_GRU, MK_OP__COUNT);
    k.D = 2;
    k.direction = "bidirectional";
    rnn_check(tc, &k, "gru_native_bi", MK_OP_GRU, MK_OP__COUNT);
    k.clip = 0.3f;
    rnn_check(tc, &k, "gru_clip", MK_OP_CLIP, MK_OP_GRU);
    k.clip = 0;
    k.D = 1;
    k.direction = NULL;
    k.acts = "HardSigmoid,Softsign";
    rnn_check(tc, &k, "gru_acts", MK_OP_SIGMOID_HARD, MK_OP_GRU);
    int64_t lens[2] = {4, 2};
    k.acts = NULL;
    k.lens = lens;
    k.direction = "reverse";
    rnn_check(tc, &k, "gru_seq_lens", MK_OP_SELECT, MK_OP_GRU);
}

TEST(ort_lstm_forms)
{
    rnn_case k = {"LSTM", 4, 1, 0, 1, 1, 4, 2, 3, 4, NULL, 0, 0, 0, NULL, 1, NULL, NULL};
    rnn_check(tc, &k, "lstm_native_peephole", MK_OP_LSTM, MK_OP__COUNT);
    /* MIL's one-way reverse lstm lists steps in processing order; the lowering flips Y back */
    k.direction = "reverse";
    rnn_check(tc, &k, "lstm_native_reverse", MK_OP_LSTM, MK_OP__COUNT);
    k.direction = NULL;
    k.peephole = 2;
    rnn_check(tc, &k, "lstm_runtime_peephole", MK_OP_LINEAR, MK_OP_LSTM);
    k.peephole = 0;
    k.input_forget = 1;
    rnn_check(tc, &k, "lstm_input_forget", MK_OP_LINEAR, MK_OP_LSTM);
    k.input_forget = 0;
    k.clip = 0.5f;
    k.D = 2;
    k.direction = "bidirectional";
    rnn_check(tc, &k, "lstm_clip_bi", MK_OP_CLIP, MK_OP_LSTM);
    k.clip = 0;
    rnn_check(tc, &k, "lstm_native_bi", MK_OP_LSTM, MK_OP__COUNT);
    int64_t lens[2] = {1, 4};
    k.lens = lens;
    rnn_check(tc, &k, "lstm_seq_lens_bi", MK_OP_SELECT, MK_OP_LSTM);
}

TEST(ort_rnn_forms)
{
    rnn_case k = {"RNN", 1, 1, 0, 1, 1, 5, 2, 3, 4, NULL, 0, 0, 0, NULL, 0, NULL, NULL};
    rnn_check(tc, &k, "rnn_native", MK_OP_RNN, MK_OP__COUNT);
    k.D = 2;
    k.direction = "bidirectional";
    k.acts = "Relu,Sigmoid";
    rnn_check(tc, &k, "rnn_native_bi", MK_OP_RNN, MK_OP__COUNT);
    /* explicit alphas: onnxruntime takes 0 for missing ones, the ONNX text the ops' defaults */
    static const float al[2] = {0.1f, 0.7f};
    k.acts = "LeakyRelu,Elu";
    k.alphas = al;
    rnn_check(tc, &k, "rnn_acts", MK_OP_LEAKY_RELU, MK_OP_RNN);
}

/* ---- ops of the third round ---- */

static void ints_init(ob *b, const char *name, int rank, const int64_t *dims, const int64_t *v)
{
    ob_init_i(b, name, rank, dims, v);
}

TEST(ort_index_ops)
{
    ob b;
    int64_t xd[3] = {2, 3, 4};
    /* OneHot with negative indices and an axis */
    ob_init(&b, 11);
    int64_t id[2] = {2, 3}, iv[6] = {0, -1, 3, 2, -4, 1}, depth = 4, vd = 2;
    float vals[2] = {-2.0f, 5.0f};
    ints_init(&b, "i", 2, id, iv);
    ints_init(&b, "depth", 0, NULL, &depth);
    ob_init_f(&b, "vals", 1, &vd, vals);
    ob_input(&b, "x", 1, 3, (int64_t[]){2, 4, 3});
    Onnx__NodeProto *n = ob_node(&b, "OneHot", "i,depth,vals", "oh");
    ob_attr_i(&b, n, "axis", 1);
    ob_node(&b, "Add", "oh,x", "y");
    ob_output(&b, "y");
    ort_check(tc, &b, "onehot", MK_OP_ONE_HOT, MK_OP__COUNT);

    /* TopK, largest and smallest, both outputs */
    for (int largest = 0; largest < 2; largest++) {
        ob_init(&b, 11);
        int64_t k = 2, kd = 1;
        ob_input(&b, "x", 1, 3, xd);
        ints_init(&b, "k", 1, &kd, &k);
        n = ob_node(&b, "TopK", "x,k", "v,i");
        ob_attr_i(&b, n, "axis", 1);
        ob_attr_i(&b, n, "largest", largest);
        ob_output(&b, "v");
        ob_output(&b, "i");
        ort_check(tc, &b, largest ? "topk_largest" : "topk_smallest", MK_OP_TOPK, MK_OP__COUNT);
    }

    /* GatherND with batch_dims 1 and negative indices */
    ob_init(&b, 13);
    int64_t gd[3] = {2, 2, 2}, gv[8] = {0, -1, 2, 3, -3, 0, 1, 1};
    ob_input(&b, "x", 1, 3, xd);
    ints_init(&b, "i", 3, gd, gv);
    n = ob_node(&b, "GatherND", "x,i", "y");
    ob_attr_i(&b, n, "batch_dims", 1);
    ob_output(&b, "y");
    ort_check(tc, &b, "gathernd_batch", MK_OP_GATHER_ND, MK_OP__COUNT);

    /* ScatterND with add, ScatterElements with mul along axis 2 */
    ob_init(&b, 16);
    int64_t sd[2] = {2, 2}, sv[4] = {1, -1, 0, 2};
    ob_input(&b, "x", 1, 3, xd);
    ob_input(&b, "u", 1, 2, (int64_t[]){2, 4});
    ints_init(&b, "i", 2, sd, sv);
    n = ob_node(&b, "ScatterND", "x,i,u", "y");
    ob_attr_s(&b, n, "reduction", "add");
    ob_output(&b, "y");
    ort_check(tc, &b, "scatternd_add", MK_OP_SCATTER_ND, MK_OP__COUNT);
    ob_init(&b, 16);
    int64_t ed[3] = {2, 3, 2}, ev[12] = {0, 3, -1, 1, 2, 2, 1, 0, 3, -4, 0, 1};
    ob_input(&b, "x", 1, 3, xd);
    ob_input(&b, "u", 1, 3, ed);
    ints_init(&b, "i", 3, ed, ev);
    n = ob_node(&b, "ScatterElements", "x,i,u", "y");
    ob_attr_i(&b, n, "axis", 2);
    ob_attr_s(&b, n, "reduction", "mul");
    ob_output(&b, "y");
    ort_check(tc, &b, "scatter_elements_mul", MK_OP_SCATTER_ALONG_AXIS, MK_OP__COUNT);

    /* Hardmax (opset 11 flattens the trailing axes) */
    for (int op13 = 0; op13 < 2; op13++) {
        ob_init(&b, op13 ? 13 : 11);
        ob_input(&b, "x", 1, 3, xd);
        n = ob_node(&b, "Hardmax", "x", "y");
        ob_attr_i(&b, n, "axis", 1);
        ob_output(&b, "y");
        ort_check(tc, &b, op13 ? "hardmax13" : "hardmax11", MK_OP_ONE_HOT, MK_OP__COUNT);
    }
}

/* One unary float op with attributes: x [2, 3, 4] in, y out. */
static Onnx__NodeProto *unary_model(ob *b, int opset, const char *op)
{
    ob_init(b, opset);
    ob_input(b, "x", 1, 3, (int64_t[]){2, 3, 4});
    Onnx__NodeProto *n = ob_node(b, op, "x", "y");
    ob_output(b, "y");
    return n;
}

TEST(ort_elementwise_and_norm_ops)
{
    ob b;
    Onnx__NodeProto *n = unary_model(&b, 10, "ThresholdedRelu");
    ob_attr_f(&b, n, "alpha", 0.2f);
    ort_check(tc, &b, "thresholded_relu", MK_OP_SELECT, MK_OP__COUNT);
    n = unary_model(&b, 9, "Shrink");
    ob_attr_f(&b, n, "lambd", 0.3f);
    ob_attr_f(&b, n, "bias", 0.1f);
    ort_check(tc, &b, "shrink", MK_OP_SELECT, MK_OP__COUNT);
    unary_model(&b, 9, "Asinh");
    ort_check(tc, &b, "asinh", MK_OP_LOG, MK_OP__COUNT);
    n = unary_model(&b, 12, "Celu");
    ob_attr_f(&b, n, "alpha", 0.5f);
    ort_check(tc, &b, "celu", MK_OP_ELU, MK_OP__COUNT);
    unary_model(&b, 13, "IsNaN");
    ort_check(tc, &b, "isnan", MK_OP_NOT_EQUAL, MK_OP__COUNT);
    /* acosh needs x >= 1: x*x + 1 */
    ob_init(&b, 9);
    ob_input(&b, "x", 1, 3, (int64_t[]){2, 3, 4});
    ob_node(&b, "Mul", "x,x", "s");
    float one = 1;
    ob_init_f(&b, "one", 0, NULL, &one);
    ob_node(&b, "Add", "s,one", "t");
    ob_node(&b, "Acosh", "t", "y");
    ob_output(&b, "y");
    ort_check(tc, &b, "acosh", MK_OP_LOG, MK_OP__COUNT);

    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, (int64_t[]){2, 5, 3, 2});
    n = ob_node(&b, "LRN", "x", "y");
    ob_attr_i(&b, n, "size", 3);
    ob_attr_f(&b, n, "alpha", 0.5f);
    ob_attr_f(&b, n, "bias", 2.0f);
    ob_output(&b, "y");
    ort_check(tc, &b, "lrn", MK_OP_MATMUL, MK_OP__COUNT);

    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, (int64_t[]){2, 3, 2, 2});
    ob_node(&b, "MeanVarianceNormalization", "x", "y");
    ob_output(&b, "y");
    ort_check(tc, &b, "mvn", MK_OP_REDUCE_MEAN, MK_OP__COUNT);

    static const char *const modes[2] = {"DCR", "CRD"};
    for (int m = 0; m < 2; m++) {
        ob_init(&b, 13);
        ob_input(&b, "x", 1, 4, (int64_t[]){1, 8, 2, 3});
        n = ob_node(&b, "DepthToSpace", "x", "y");
        ob_attr_i(&b, n, "blocksize", 2);
        ob_attr_s(&b, n, "mode", modes[m]);
        ob_output(&b, "y");
        ort_check(tc, &b, m ? "d2s_crd" : "d2s_dcr", m ? MK_OP_PIXEL_SHUFFLE : MK_OP_DEPTH_TO_SPACE,
                  MK_OP__COUNT);
    }
    ob_init(&b, 13);
    ob_input(&b, "x", 1, 4, (int64_t[]){1, 2, 4, 6});
    n = ob_node(&b, "SpaceToDepth", "x", "y");
    ob_attr_i(&b, n, "blocksize", 2);
    ob_output(&b, "y");
    ort_check(tc, &b, "s2d", MK_OP_SPACE_TO_DEPTH, MK_OP__COUNT);
}

static void einsum_case(mk_test_ctx *tc, const char *label, const char *eq, int n_in,
                        const int64_t dims[][4], const int *ranks)
{
    ob b;
    ob_init(&b, 12);
    char ins[32] = "";
    for (int i = 0; i < n_in; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "x%d", i);
        ob_input(&b, nm, 1, ranks[i], dims[i]);
        strcat(ins, i ? "," : "");
        strcat(ins, nm);
    }
    Onnx__NodeProto *n = ob_node(&b, "Einsum", ins, "y");
    ob_attr_s(&b, n, "equation", eq);
    ob_output(&b, "y");
    ort_check(tc, &b, label, MK_OP__COUNT, MK_OP_EINSUM);
}

TEST(ort_einsum_equations)
{
    const int64_t att[2][4] = {{2, 3, 5, 4}, {2, 3, 6, 4}};
    const int r44[2] = {4, 4};
    einsum_case(tc, "einsum_attention", "bhqd,bhkd->bhqk", 2, att, r44);
    const int64_t av[2][4] = {{2, 3, 5, 6}, {2, 3, 6, 4}};
    einsum_case(tc, "einsum_attn_v", "bhqk,bhkd->bqhd", 2, av, r44);
    const int64_t ell[2][4] = {{2, 3, 4}, {4, 5}};
    const int r32[2] = {3, 2};
    einsum_case(tc, "einsum_ellipsis", "...ij,jk->...ik", 2, ell, r32);
    const int64_t outer[2][4] = {{3}, {4}};
    const int r11[2] = {1, 1};
    einsum_case(tc, "einsum_outer_implicit", "i,j", 2, outer, r11);
    const int64_t tr[1][4] = {{3, 3, 2}};
    const int r3[1] = {3};
    einsum_case(tc, "einsum_trace", "iij->j", 1, tr, r3);
    const int64_t three[3][4] = {{2, 3}, {3, 4}, {4, 5}};
    const int r222[3] = {2, 2, 2};
    einsum_case(tc, "einsum_chain", "ij,jk,kl->il", 3, three, r222);
    const int64_t red[1][4] = {{2, 3, 4}};
    einsum_case(tc, "einsum_sum", "abc->b", 1, red, r3);
}

/* ---- quantization (QDQ) ---- */

/* A QDQ model: fake-quantized activations (uint8, per tensor) into a Conv whose int8 weight is
 * dequantized per output channel, and a MatMul with a uint8 weight (zero point 128). */
static void qdq_model(ob *b)
{
    ob_init(b, 13);
    int64_t xd[4] = {1, 3, 8, 8}, wd[4] = {4, 3, 3, 3}, cd = 4, md[2] = {16, 8};
    ob_input(b, "x", 1, 4, xd);
    ob_input(b, "a", 1, 2, (int64_t[]){2, 16});
    float sx = 0.02f, ws[4] = {0.01f, 0.02f, 0.005f, 0.03f}, bias[4] = {0.1f, -0.2f, 0, 0.3f};
    float ms = 0.004f;
    uint8_t zx = 120, mz = 128, mq[128];
    int8_t wq[108], wz[4] = {0, 0, 0, 0};
    for (int i = 0; i < 108; i++) wq[i] = (int8_t)((i * 37) % 255 - 127);
    for (int i = 0; i < 128; i++) mq[i] = (uint8_t)((i * 53 + 7) % 256);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "sx", 1, 0, NULL, &sx, 4);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "zx", 2, 0, NULL, &zx, 1);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "wq", 3, 4, wd, wq, 108);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "ws", 1, 1, &cd, ws, 16);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "wz", 3, 1, &cd, wz, 4);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "bias", 1, 1, &cd, bias, 16);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "mq", 2, 2, md, mq, 128);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "ms", 1, 0, NULL, &ms, 4);
    b->g->initializer[b->g->n_initializer++] = ob_tensor(b, "mz", 2, 0, NULL, &mz, 1);
    ob_node(b, "QuantizeLinear", "x,sx,zx", "xq");
    ob_node(b, "DequantizeLinear", "xq,sx,zx", "xd");
    Onnx__NodeProto *n = ob_node(b, "DequantizeLinear", "wq,ws,wz", "wd");
    ob_attr_i(b, n, "axis", 0);
    n = ob_node(b, "Conv", "xd,wd,bias", "c");
    ob_attr_ints(b, n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    ob_node(b, "Relu", "c", "y");
    ob_node(b, "DequantizeLinear", "mq,ms,mz", "md");
    ob_node(b, "MatMul", "a,md", "z");
    ob_output(b, "y");
    ob_output(b, "z");
}

TEST(ort_qdq_targets)
{
    static const struct {
        mk_target t;
        const char *label;
        mk_op_kind want, avoid;
    } cases[] = {
        {MK_TARGET_IOS15, "qdq_ios15", MK_OP_ROUND, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE},
        {MK_TARGET_IOS16, "qdq_ios16", MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, MK_OP_QUANTIZE},
        {MK_TARGET_IOS17, "qdq_ios17", MK_OP_QUANTIZE, MK_OP_ROUND},
        {MK_TARGET_IOS18, "qdq_ios18", MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE,
         MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ob b;
        qdq_model(&b);
        ort_check_t(tc, &b, cases[i].label, cases[i].t, cases[i].want, cases[i].avoid);
    }
}
