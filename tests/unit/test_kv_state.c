/* convert --context on a tiny ONNX cache model (present = Concat(past, 2x) on axis 2, y =
 * ReduceMean(present, axis 2): a reader that sees every filled entry and the count): the
 * fp32 package holds `past` as a pair of fp16 states (past, past_lo: value and rounding
 * residual) of capacity 8, the fp16 package one fp16 state; both drop `present`, add an int32
 * cache_length input, and over 6 session steps gives the original program's y (run by the
 * interpreter with the cache passed in, at each step's length). Bad --state pairs, a missing
 * --target ios18 and bad --context values fail with one line, exit 2, nothing written. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "base/base.h"
#include "passes/passes_int.h"
#include "test_onnx_build.h"

#define CAP 8

/* x [1,2,1,4], PAST [1,2,P,4] -> y [1,2,1,4], PRESENT [1,2,P+1,4], z int32 y */
static void cache_model_named(ob *b, const char *past, const char *present)
{
    char ins[128];
    snprintf(ins, sizeof ins, "%s,nw", past);
    ob_init(b, 13);
    ob_input(b, "x", 1, 4, (const int64_t[]){1, 2, 1, 4});
    ob_input(b, past, 1, 4, (const int64_t[]){1, 2, -1, 4});
    ob_init_f(b, "two", 0, NULL, (const float[]){2.0f});
    ob_node(b, "Mul", "x,two", "nw");
    Onnx__NodeProto *n = ob_node(b, "Concat", ins, present);
    ob_attr_i(b, n, "axis", 2);
    n = ob_node(b, "ReduceMean", present, "y");
    ob_attr_ints(b, n, "axes", 1, (const int64_t[]){2});
    ob_attr_i(b, n, "keepdims", 1);
    n = ob_node(b, "Cast", "y", "z");
    ob_attr_i(b, n, "to", 6);
    ob_output(b, "y");
    ob_output(b, present);
    ob_output(b, "z");
    ob_pack(b);
}

static void cache_model(ob *b)
{
    cache_model_named(b, "past", "present");
}

static int write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static const mk_tensor *named(const mk_tensor_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (l->items[i].name && strcmp(l->items[i].name, name) == 0) return &l->items[i];
    return NULL;
}

/* The fp32 (fp16 = 0) or fp16 package of the tiny model; its state names. */
static void tiny_states(mk_test_ctx *tc, int fp16, int *n, char names[2][32])
{
    ob b;
    cache_model(&b);
    char onnx[600], pkg[600];
    snprintf(onnx, sizeof onnx, "%s/kv_tiny_%d.onnx", mk_test_tmpdir(), fp16);
    snprintf(pkg, sizeof pkg, "%s/kv_tiny_%d.mlpackage", mk_test_tmpdir(), fp16);
    *n = -1;
    REQUIRE(write_file(onnx, b.packed, b.packed_len));
    ob_free(&b);
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = 1;
    po.fp16 = fp16;
    po.context = CAP;
    mk_err e = {MK_OK, ""};
    mk_program *p = NULL;
    mk_session *s = NULL;
    CHECK_MSG(mk_convert(onnx, pkg, &co, &po, NULL, &e) == MK_OK, "convert: %s", e.msg);
    if (!tc->failures) CHECK_MSG(mk_program_load(pkg, NULL, &p, &e) == MK_OK, "%s", e.msg);
    if (!tc->failures) CHECK_MSG(mk_session_new(p, NULL, &s, &e) == MK_OK, "%s", e.msg);
    if (s) {
        *n = mk_session_n_states(s);
        for (int i = 0; i < *n && i < 2; i++)
            snprintf(names[i], 32, "%s", mk_session_state_name(s, i));
    }
    mk_session_free(s);
    mk_program_free(p);
}

TEST(kv_state_fp32_program_pairs_states_fp16_program_one)
{
    int n = 0;
    char names[2][32] = {"", ""};
    tiny_states(tc, 0, &n, names);
    CHECK_EQ_INT(n, 2);
    CHECK_MSG(n == 2 && !strcmp(names[0], "past") && !strcmp(names[1], "past_lo"),
              "fp32 states %s, %s", names[0], names[1]);
    tiny_states(tc, 1, &n, names);
    CHECK_EQ_INT(n, 1);
    CHECK_MSG(n == 1 && !strcmp(names[0], "past"), "fp16 state %s", names[0]);
}

TEST(kv_state_tiny_cache_matches_explicit_cache)
{
    ob b;
    cache_model(&b);
    char onnx[600], pkg[600];
    snprintf(onnx, sizeof onnx, "%s/kv_tiny.onnx", mk_test_tmpdir());
    snprintf(pkg, sizeof pkg, "%s/kv_tiny.mlpackage", mk_test_tmpdir());
    REQUIRE(write_file(onnx, b.packed, b.packed_len));
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = MK_TARGET_IOS18;
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = 1;
    po.context = CAP;
    static const char *const pair[] = {"past=present"};
    po.n_kv_states = 1;
    po.kv_states = pair;
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_convert(onnx, pkg, &co, &po, NULL, &e) == MK_OK, "convert: %s", e.msg);
    mk_program *p = NULL;
    mk_session *s = NULL;
    if (!tc->failures) CHECK_MSG(mk_program_load(pkg, NULL, &p, &e) == MK_OK, "%s", e.msg);
    if (!tc->failures) CHECK_MSG(mk_session_new(p, NULL, &s, &e) == MK_OK, "%s", e.msg);
    if (tc->failures) {
        mk_program_free(p);
        ob_free(&b);
        return;
    }
    CHECK_EQ_INT(mk_session_n_states(s), 2); /* past and its residual past_lo */
    CHECK(mk_session_state_name(s, 0) && strcmp(mk_session_state_name(s, 0), "past") == 0);
    float cache[CAP][2][4] = {{{0}}}; /* the explicit cache, [len][head][d] */
    double worst = 0;
    for (int t = 0; t < 6 && !tc->failures; t++) {
        /* step t: filled t + 1 (entry 0 is the zero row the state starts with) */
        int32_t filled = t + 1;
        float x[8];
        for (int k = 0; k < 8; k++) x[k] = (float)sin(1.7 * t + 0.3 * k);
        mk_tensor in[2] = {{(char *)"x", 11, 4, {1, 2, 1, 4}, x, sizeof x},
                           {(char *)"cache_length", 23, 1, {1}, &filled, 4}};
        mk_tensor_list il = {2, in}, got = {0, NULL}, ref = {0, NULL};
        if (mk_session_run(s, &il, &got, NULL, &e) != MK_OK) {
            CHECK_MSG(0, "step %d: %s", t, e.msg);
            break;
        }
        CHECK_MSG(got.n == 2 && !named(&got, "present"), "step %d: %d outputs", t, got.n);
        /* the original, cache passed in at this step's length */
        float past[2][CAP][4];
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < filled; j++)
                for (int d = 0; d < 4; d++) past[h][j][d] = cache[j][h][d];
        float pk[2 * CAP * 4];
        for (int h = 0; h < 2; h++) memcpy(pk + h * filled * 4, past[h], (size_t)filled * 16);
        char shp[64];
        snprintf(shp, sizeof shp, "past=1,2,%d,4", filled);
        const char *shapes[1] = {shp};
        mk_convert_options ro;
        memset(&ro, 0, sizeof ro);
        ro.n_shapes = 1;
        ro.shapes = shapes;
        mk_program *orig = NULL;
        mk_tensor oin[2] = {{(char *)"x", 11, 4, {1, 2, 1, 4}, x, sizeof x},
                            {(char *)"past", 11, 4, {1, 2, filled, 4}, pk, (size_t)filled * 32}};
        mk_tensor_list oil = {2, oin};
        CHECK_MSG(mk_onnx_import_mem(b.packed, b.packed_len, "kv.onnx", &ro, NULL, &orig, &e) ==
                          MK_OK &&
                      mk_run(orig, NULL, &oil, &ref, &e) == MK_OK,
                  "original, step %d: %s", t, e.msg);
        const mk_tensor *a = named(&got, "y"), *r = named(&ref, "y");
        CHECK_MSG(a && r && a->nbytes == 32 && r->nbytes == 32, "step %d: y missing", t);
        for (int k = 0; a && r && a->nbytes == 32 && r->nbytes == 32 && k < 8; k++) {
            /* hi + lo keeps ~22 bits of each entry: far inside fp16's 1e-3 */
            double d = fabs((double)((float *)a->data)[k] - ((float *)r->data)[k]) /
                       (1e-6 + 1e-6 * fabs((double)((float *)r->data)[k]));
            if (!(d <= worst)) worst = d;
        }
        /* the model's own write: entry `filled` becomes 2x */
        for (int h = 0; h < 2; h++)
            for (int d = 0; d < 4; d++) cache[filled][h][d] = 2 * x[h * 4 + d];
        mk_program_free(orig);
        mk_tensor_list_free(&got);
        mk_tensor_list_free(&ref);
    }
    CHECK_MSG(worst <= 1, "y differs from the explicit-cache original: ratio %g", worst);
    mk_session_free(s);
    mk_program_free(p);
    ob_free(&b);
}

TEST(kv_state_bad_options_refused)
{
    ob b;
    cache_model(&b);
    char onnx[600], pkg[600], out[4096];
    snprintf(onnx, sizeof onnx, "%s/kv_bad.onnx", mk_test_tmpdir());
    snprintf(pkg, sizeof pkg, "%s/kv_bad.mlpackage", mk_test_tmpdir());
    REQUIRE(write_file(onnx, b.packed, b.packed_len));
    ob_free(&b);
    static const struct {
        const char *opts, *want;
    } cases[] = {
        {"--target ios18 --context 8 --state past=nothing", "'nothing' is not an output"},
        {"--target ios18 --context 8 --state nothing=present", "'nothing' is not an input"},
        {"--target ios18 --context 8 --state past=z", "shapes disagree"},
        {"--target ios18 --context 8 --state past=y", "is not concat(past"},
        {"--target ios18 --context 8 --state past", "want PAST=PRESENT"},
        {"--target ios17 --context 8", "needs --target ios18"},
        {"--target ios18 --context 0", "--context '0'"},
        {"--target ios18 --cache-length n", "needs --context"},
        {"--target ios18 --context 8 --cache-length x", "needs an integer input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s %s", mk_test_bin(), onnx, pkg,
                            cases[i].opts);
        size_t n = strlen(out);
        CHECK_MSG(rc == 2 && strstr(out, cases[i].want) && n && strchr(out, '\n') == out + n - 1,
                  "%s: rc %d: %s", cases[i].opts, rc, out);
        CHECK_MSG(access(pkg, F_OK) != 0, "%s: a package was written", cases[i].opts);
    }
    /* the automatic pairing finds past/present */
    int rc = mk_test_sh(out, sizeof out,
                        "%s convert %s -o %s --target ios18 --context 8 "
                        "--precision fp32 && %s info %s",
                        mk_test_bin(), onnx, pkg, mk_test_bin(), pkg);
    CHECK_MSG(rc == 0 && strstr(out, "states:") && strstr(out, "[1, 2, 8, 4]") &&
                  strstr(out, "cache_length"),
              "rc %d: %s", rc, out);
}

/* Hugging Face names: past_key_values.0.key pairs with present.0.key automatically, and
 * --state takes the ONNX spellings too. */
TEST(kv_state_hugging_face_names)
{
    ob b;
    cache_model_named(&b, "past_key_values.0.key", "present.0.key");
    char onnx[600], pkg[600], out[4096];
    snprintf(onnx, sizeof onnx, "%s/kv_hf.onnx", mk_test_tmpdir());
    snprintf(pkg, sizeof pkg, "%s/kv_hf.mlpackage", mk_test_tmpdir());
    REQUIRE(write_file(onnx, b.packed, b.packed_len));
    ob_free(&b);
    const char *bin = mk_test_bin();
    int rc =
        mk_test_sh(out, sizeof out, "%s convert %s -o %s --target ios18 --context 8 && %s info %s",
                   bin, onnx, pkg, bin, pkg);
    CHECK_MSG(rc == 0 && strstr(out, "past_key_values_0_key") && strstr(out, "[1, 2, 8, 4]") &&
                  !strstr(out, "present_0_key"),
              "auto: rc %d: %s", rc, out);
    rc = mk_test_sh(out, sizeof out,
                    "%s convert %s -o %s --target ios18 --context 8 --state "
                    "past_key_values.0.key=present.0.key && %s info %s",
                    bin, onnx, pkg, bin, pkg);
    CHECK_MSG(rc == 0 && strstr(out, "states:") && !strstr(out, "present_0_key"),
              "explicit: rc %d: %s", rc, out);
}

/* q,k,v [1,2,5,8] -> MatMul(q, Transpose(k)) * 0.3 -> Softmax -> MatMul(., v) */
static void attention_model(ob *b)
{
    ob_init(b, 13);
    for (int i = 0; i < 3; i++)
        ob_input(b, (const char *[]){"q", "k", "v"}[i], 1, 4, (const int64_t[]){1, 2, 5, 8});
    ob_init_f(b, "c", 0, NULL, (const float[]){0.3f});
    Onnx__NodeProto *n = ob_node(b, "Transpose", "k", "kt");
    ob_attr_ints(b, n, "perm", 4, (const int64_t[]){0, 1, 3, 2});
    ob_node(b, "MatMul", "q,kt", "s");
    ob_node(b, "Mul", "s,c", "ss");
    n = ob_node(b, "Softmax", "ss", "p");
    ob_attr_i(b, n, "axis", -1);
    ob_node(b, "MatMul", "p,v", "y");
    ob_output(b, "y");
    ob_pack(b);
}

/* Every allocation after the import failing in turn: the KV-state rewrite and the attention
 * fusion fail with MK_ENOMEM (or succeed), never crash; the loops reach a success. */
TEST(kv_state_and_fuse_attention_alloc_failure_loops)
{
    for (int which = 0; which < 2; which++) {
        ob b;
        if (which)
            attention_model(&b);
        else
            cache_model(&b);
        static const char *const shapes[] = {"past=1,2,3,4"};
        mk_convert_options co;
        memset(&co, 0, sizeof co);
        co.target = MK_TARGET_IOS18;
        co.n_shapes = which ? 0 : 1;
        co.shapes = shapes;
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, 0);
        mk_err e = {MK_OK, ""};
        mk_program *p = NULL;
        REQUIRE(mk_onnx_import_mem(b.packed, b.packed_len, "t.onnx", &co, &fa.base, &p, &e) ==
                MK_OK);
        long base = fa.calls;
        mk_program_free(p);
        long n;
        int clean = 1, ok = 0;
        for (n = 1; n < 20000 && !ok; n++) {
            mk_failing_alloc_init(&fa, 0);
            p = NULL;
            e = (mk_err){MK_OK, ""};
            if (mk_onnx_import_mem(b.packed, b.packed_len, "t.onnx", &co, &fa.base, &p, &e) !=
                MK_OK) {
                clean = 0;
                break;
            }
            fa.fail_at = base + n; /* calls counted from the start of this import */
            fa.calls = base;
            static const mk_kv_pair pair[] = {{"past", "present"}};
            int r = which ? mk_pass_fuse_attention(p, &e)
                          : mk_kv_to_state(p, pair, 1, 8, "cache_length", 0, &e);
            if (r >= 1)
                ok = 1;
            else if (r != -1 || e.code != MK_ENOMEM)
                clean = 0;
            fa.fail_at = 0;
            mk_program_free(p);
        }
        printf("      %s: first success with allocation %ld failing\n",
               which ? "fuse_attention" : "kv_to_state", n - 1);
        CHECK_MSG(clean && ok, "%s: clean %d, success after %ld failures",
                  which ? "fuse_attention" : "kv_to_state", clean, n);
        ob_free(&b);
    }
}
