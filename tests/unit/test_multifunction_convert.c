/* convert --function: one ONNX model (x [1,S,64] -> MatMul W[64,64] + b -> Gelu) becomes one
 * iOS18 package with functions `prefill` (S 16, the default) and `decode` (S 1) whose weights
 * are stored once (weight.bin within 1% of the single-function package's), each function
 * running like the model converted alone at its shape (fp32 and fp16). Bad --function specs,
 * a target below iOS18 and an unknown `run --function` fail with one line, exit 2, nothing
 * written. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "test_onnx_build.h"

#define D 64

static void linear_model(ob *b)
{
    static float w[D * D], bias[D];
    for (int i = 0; i < D * D; i++) w[i] = (float)sin(0.37 * i) * 0.2f;
    for (int i = 0; i < D; i++) bias[i] = (float)cos(0.11 * i) * 0.1f;
    ob_init(b, 13);
    ob_input(b, "x", 1, 3, (const int64_t[]){1, -1, D});
    ob_init_f(b, "w", 2, (const int64_t[]){D, D}, w);
    ob_init_f(b, "bias", 1, (const int64_t[]){D}, bias);
    ob_node(b, "MatMul", "x,w", "m");
    ob_node(b, "Add", "m,bias", "a");
    ob_node(b, "Tanh", "a", "y");
    ob_output(b, "y");
    ob_pack(b);
}

static int write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(d, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static long long weight_size(const char *pkg)
{
    char p[700];
    struct stat st;
    snprintf(p, sizeof p, "%s/Data/com.apple.CoreML/weights/weight.bin", pkg);
    return stat(p, &st) == 0 ? (long long)st.st_size : -1;
}

/* Run function fn of pkg and the single package single on the same seeded input. */
static void same_as_single(mk_test_ctx *tc, const char *pkg, const char *fn, const char *single)
{
    mk_program *p = NULL, *q = NULL;
    mk_session *s = NULL;
    mk_err e = {MK_OK, ""};
    mk_tensor_list in = {0, NULL}, a = {0, NULL}, r = {0, NULL};
    mk_status st = mk_program_load(pkg, NULL, &p, &e);
    if (!st) st = mk_program_load(single, NULL, &q, &e);
    if (!st) st = mk_random_inputs(q, 7, &in, &e);
    if (!st) st = mk_run(q, NULL, &in, &r, &e);
    if (!st) st = mk_session_new_function(p, fn, NULL, &s, &e);
    if (!st) st = mk_session_run(s, &in, &a, NULL, &e);
    CHECK_MSG(st == MK_OK, "%s: %s", fn, e.msg);
    if (!st) {
        CHECK_MSG(a.n == 1 && r.n == 1 && a.items[0].nbytes == r.items[0].nbytes &&
                      memcmp(a.items[0].data, r.items[0].data, a.items[0].nbytes) == 0,
                  "%s: outputs differ from the single-function package", fn);
    }
    mk_session_free(s);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&a);
    mk_tensor_list_free(&r);
    mk_program_free(p);
    mk_program_free(q);
}

TEST(multifunction_convert_shares_weights)
{
    ob b;
    linear_model(&b);
    const char *tmp = mk_test_tmpdir();
    char onnx[600], mf[600], s16[600], s1[600], out[4096];
    snprintf(onnx, sizeof onnx, "%s/mf_lin.onnx", tmp);
    snprintf(mf, sizeof mf, "%s/mf_lin.mlpackage", tmp);
    snprintf(s16, sizeof s16, "%s/mf_lin16.mlpackage", tmp);
    snprintf(s1, sizeof s1, "%s/mf_lin1.mlpackage", tmp);
    REQUIRE(write_file(onnx, b.packed, b.packed_len));
    ob_free(&b);
    const char *bin = mk_test_bin();
    for (int fp32 = 0; fp32 < 2; fp32++) {
        const char *prec = fp32 ? "--precision fp32" : "--precision fp16 --no-calibrate";
        int rc =
            mk_test_sh(out, sizeof out,
                       "%s convert %s -o %s --target ios18 %s --function prefill:x=1,16,64 "
                       "--function decode:x=1,1,64 && %s convert %s -o %s --target ios18 %s "
                       "--shape x=1,16,64 && %s convert %s -o %s --target ios18 %s --shape "
                       "x=1,1,64 && %s info %s",
                       bin, onnx, mf, prec, bin, onnx, s16, prec, bin, onnx, s1, prec, bin, mf);
        CHECK_MSG(rc == 0 && strstr(out, "functions: 2") && strstr(out, "prefill (default)") &&
                      strstr(out, "function decode"),
                  "%s: rc %d: %s", prec, rc, out);
        long long m = weight_size(mf), one = weight_size(s16);
        printf("      %s: weight.bin two functions %lld bytes, one function %lld\n", prec, m, one);
        CHECK_MSG(m > 0 && one > 0 && m * 100 <= one * 101, "%s: %lld vs %lld bytes", prec, m, one);
        CHECK_MSG(one >= D * D * (fp32 ? 4 : 2), "%s: weights missing (%lld bytes)", prec, one);
        same_as_single(tc, mf, "prefill", s16);
        same_as_single(tc, mf, "decode", s1);
    }
    /* run --function with an unknown name */
    int rc = mk_test_sh(out, sizeof out, "%s run %s --function nope", bin, mf);
    CHECK_MSG(rc == 2 && strstr(out, "no function 'nope'") &&
                  strchr(out, '\n') == out + strlen(out) - 1,
              "rc %d: %s", rc, out);
}

TEST(multifunction_convert_bad_specs_refused)
{
    ob b;
    linear_model(&b);
    const char *tmp = mk_test_tmpdir();
    char onnx[600], pkg[600], out[4096];
    snprintf(onnx, sizeof onnx, "%s/mf_bad.onnx", tmp);
    snprintf(pkg, sizeof pkg, "%s/mf_bad.mlpackage", tmp);
    REQUIRE(write_file(onnx, b.packed, b.packed_len));
    ob_free(&b);
    static const struct {
        const char *opts, *want;
    } cases[] = {
        {"--target ios18 --function a:x=1,2,64 --function a:x=1,1,64", "named twice"},
        {"--target ios18 --function x=1,2,64", "want NAME:INPUT=DIMS"},
        {"--target ios18 --function 9a:x=1,2,64", "want NAME:INPUT=DIMS"},
        {"--target ios17 --function a:x=1,2,64 --function b:x=1,1,64", "need --target ios18"},
        {"--target ios18 --function a:y=1,2,64", "no such input"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = mk_test_sh(out, sizeof out, "%s convert %s -o %s %s", mk_test_bin(), onnx, pkg,
                            cases[i].opts);
        size_t n = strlen(out);
        CHECK_MSG(rc == 2 && strstr(out, cases[i].want) && n && strchr(out, '\n') == out + n - 1,
                  "%s: rc %d: %s", cases[i].opts, rc, out);
        CHECK_MSG(access(pkg, F_OK) != 0, "%s: a package was written", cases[i].opts);
    }
}
