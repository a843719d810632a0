/* Writer vs coremltools: builds programs in C shaped like the golden packages a_ (conv 1-D
 * with bias), c_ (fp16 conv_transpose with casts), d_ (linear/relu/linear/softmax) and f1_
 * (int8 constexpr_affine_dequantize), writes them, decodes both model.mlmodel files with
 * `protoc --decode` against our proto/ files and compares op for op: op types in order, input
 * parameter names, attribute names with inline/blob placement and blob offsets, output
 * types. Names and metadata, which legitimately differ, are ignored. */
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "../unit/test_coreml.h"

/* ---- a tiny reader for protoc's text format: one summary line per operation ---- */

#define MAX_OPS 64
typedef struct summary {
    int spec;
    char opset[32];
    int n_ops;
    char ops[MAX_OPS][512];
} summary;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct opacc {
    char type[64];
    char *ins[32];
    int n_ins;
    char *attrs[32];
    int n_attrs;
    char outs[256];
} opacc;

static void flush(summary *s, opacc *o)
{
    if (!o->type[0] || s->n_ops >= MAX_OPS) return;
    qsort(o->ins, (size_t)o->n_ins, sizeof *o->ins, cmp_str);
    qsort(o->attrs, (size_t)o->n_attrs, sizeof *o->attrs, cmp_str);
    char *d = s->ops[s->n_ops++];
    size_t n = 512, k = (size_t)snprintf(d, n, "%s(", o->type);
    for (int i = 0; i < o->n_ins && k < n; i++)
        k += (size_t)snprintf(d + k, n - k, "%s%s", i ? "," : "", o->ins[i]);
    if (k < n) k += (size_t)snprintf(d + k, n - k, ")[");
    for (int i = 0; i < o->n_attrs && k < n; i++)
        k += (size_t)snprintf(d + k, n - k, "%s%s", i ? "," : "", o->attrs[i]);
    if (k < n) snprintf(d + k, n - k, "]->%s", o->outs);
    for (int i = 0; i < o->n_ins; i++) free(o->ins[i]);
    for (int i = 0; i < o->n_attrs; i++) free(o->attrs[i]);
    memset(o, 0, sizeof *o);
}

static int at(char stack[][40], int depth, int from_top, const char *name)
{
    return depth > from_top && strcmp(stack[depth - 1 - from_top], name) == 0;
}

static int parse_text(const char *txt, summary *s)
{
    char stack[64][40];
    int depth = 0;
    opacc o;
    memset(&o, 0, sizeof o);
    memset(s, 0, sizeof *s);
    const char *line = txt;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        char buf[512];
        while (len && (*line == ' ')) line++, len--;
        if (len >= sizeof buf) len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = 0;
        line = end ? end + 1 : line + strlen(line);
        if (len && buf[len - 1] == '{') {
            if (depth == 64) return 0;
            buf[len - 1] = 0;
            if (len >= 2) buf[len - 2] = 0;
            snprintf(stack[depth++], 40, "%.39s", buf);
            /* an attribute's value kind */
            if (!strcmp(buf, "immediateValue") && at(stack, depth, 1, "value") &&
                at(stack, depth, 2, "attributes") && at(stack, depth, 3, "operations") &&
                o.n_attrs) {
                char *a = o.attrs[o.n_attrs - 1], *na = malloc(strlen(a) + 8);
                sprintf(na, "%s:imm", a);
                free(a);
                o.attrs[o.n_attrs - 1] = na;
            }
            if (!strcmp(buf, "unknown") && at(stack, depth, 1, "dimensions") &&
                at(stack, depth, 4, "outputs") && at(stack, depth, 5, "operations"))
                strncat(o.outs, "?,", sizeof o.outs - strlen(o.outs) - 1);
            continue;
        }
        if (!strcmp(buf, "}")) {
            if (depth) depth--;
            if (depth >= 3 && !strcmp(stack[depth], "tensorType") &&
                at(stack, depth, 1, "outputs") && at(stack, depth, 2, "operations"))
                strncat(o.outs, "] ", sizeof o.outs - strlen(o.outs) - 1);
            continue;
        }
        char key[64], val[400];
        if (sscanf(buf, "%63[^:]: %399[^\n]", key, val) != 2) continue;
        if (depth == 0 && !strcmp(key, "specificationVersion")) s->spec = atoi(val);
        if (at(stack, depth, 0, "value") && at(stack, depth, 1, "functions") &&
            !strcmp(key, "opset"))
            snprintf(s->opset, sizeof s->opset, "%.31s", val);
        if (at(stack, depth, 0, "operations") && !strcmp(key, "type")) {
            flush(s, &o);
            snprintf(o.type, sizeof o.type, "%.63s", val);
        } else if (at(stack, depth, 0, "inputs") && at(stack, depth, 1, "operations") &&
                   !strcmp(key, "key") && o.n_ins < 32) {
            o.ins[o.n_ins++] = strdup(val);
        } else if (at(stack, depth, 0, "attributes") && at(stack, depth, 1, "operations") &&
                   !strcmp(key, "key") && strcmp(val, "\"name\"") != 0 && o.n_attrs < 32) {
            o.attrs[o.n_attrs++] = strdup(val);
        } else if (at(stack, depth, 0, "blobFileValue") && at(stack, depth, 2, "attributes") &&
                   !strcmp(key, "offset") && o.n_attrs) {
            char *a = o.attrs[o.n_attrs - 1], *na = malloc(strlen(a) + 40);
            sprintf(na, "%s:blob@%s", a, val);
            free(a);
            o.attrs[o.n_attrs - 1] = na;
        } else if (at(stack, depth, 0, "tensorType") && at(stack, depth, 2, "outputs") &&
                   at(stack, depth, 3, "operations") && !strcmp(key, "dataType")) {
            size_t k = strlen(o.outs);
            snprintf(o.outs + k, sizeof o.outs - k, "%s[", val);
        } else if (at(stack, depth, 0, "constant") && at(stack, depth, 4, "outputs") &&
                   at(stack, depth, 5, "operations") && !strcmp(key, "size")) {
            size_t k = strlen(o.outs);
            snprintf(o.outs + k, sizeof o.outs - k, "%s,", val);
        }
    }
    flush(s, &o);
    return 1;
}

static int decode(mk_test_ctx *tc, const char *pkg, summary *s)
{
    char txt[1200], out[512];
    snprintf(txt, sizeof txt, "%s.txt", pkg);
    int rc = mk_test_sh(out, sizeof out,
                        "protoc --decode=CoreML.Specification.Model -Iproto proto/Model.proto "
                        "< '%s/Data/com.apple.CoreML/model.mlmodel' > '%s'",
                        pkg, txt);
    CHECK_MSG(rc == 0, "protoc --decode of %s failed: %s", pkg, out);
    unsigned char *d;
    size_t n;
    if (rc != 0 || !mk_test_read_file(txt, &d, &n)) return 0;
    char *t = malloc(n + 1);
    memcpy(t, d, n);
    t[n] = 0;
    free(d);
    int ok = parse_text(t, s);
    free(t);
    return ok;
}

static void compare(mk_test_ctx *tc, const char *golden, mk_program *p, const char *as)
{
    char g[1024], out[1024];
    if (!mk_test_golden(golden, g, sizeof g)) {
        CHECK_MSG(0, "golden %s missing", golden);
        return;
    }
    snprintf(out, sizeof out, "%s/%s", mk_test_tmpdir(), as);
    mk_err e = {0};
    CHECK_MSG(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK, "%s: %s", as, e.msg);
    summary *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    if (a && b && decode(tc, g, a) && decode(tc, out, b)) {
        CHECK_MSG(a->n_ops > 2, "%s: parsed only %d ops", golden, a->n_ops);
        CHECK_EQ_INT(b->spec, a->spec);
        CHECK_STR(b->opset, a->opset);
        CHECK_EQ_INT(b->n_ops, a->n_ops);
        for (int i = 0; i < a->n_ops && i < b->n_ops; i++)
            CHECK_MSG(strcmp(a->ops[i], b->ops[i]) == 0, "%s op %d:\n    golden %s\n    ours   %s",
                      golden, i, a->ops[i], b->ops[i]);
        char wa[1200], wb[1200];
        struct stat sa, sb;
        snprintf(wa, sizeof wa, "%s/Data/com.apple.CoreML/weights/weight.bin", g);
        snprintf(wb, sizeof wb, "%s/Data/com.apple.CoreML/weights/weight.bin", out);
        CHECK(stat(wa, &sa) == 0 && stat(wb, &sb) == 0 && sa.st_size == sb.st_size);
    }
    free(a);
    free(b);
}

static int have_tools(void)
{
    char out[256];
    return mk_test_shared_dir() && mk_path_exists("proto/Model.proto") &&
           mk_test_sh(out, sizeof out, "protoc --version") == 0;
}

#define NEED_TOOLS()                                                                               \
    do {                                                                                           \
        if (!have_tools())                                                                         \
            SKIP("needs ../shared goldens, protoc and proto/ (run from the source root)");         \
    } while (0)

/* ---- building programs ---- */

static mk_value *cst(mk_program *p, mk_block *b, const char *name, mk_dtype dt, int rank,
                     const int64_t *dims, const void *data)
{
    mk_type t = mk_type_make(dt, rank, dims);
    size_t nb = 0;
    mk_type_nbytes(&t, &nb);
    return mk_ir_const(p, b, name, &t, data, nb, 0);
}

/* Filled payload of n elements of a dtype: a deterministic ramp. */
static void *ramp(mk_dtype dt, size_t n, int seed)
{
    size_t es = (size_t)mk_dtype_bits(dt) / 8;
    unsigned char *d = malloc(n * es + 1);
    for (size_t i = 0; i < n; i++) {
        float f = (float)((int)((i + (size_t)seed) % 17) - 8) / 16.0f;
        if (dt == MK_DT_FP32)
            memcpy(d + 4 * i, &f, 4);
        else if (dt == MK_DT_FP16) {
            uint16_t h = mk_f32_to_f16(f);
            memcpy(d + 2 * i, &h, 2);
        } else
            d[i] = (unsigned char)(i * 7 + (size_t)seed);
    }
    return d;
}

/* add_op(p, b, kind, out name, out type, "param", value, ..., NULL) */
static mk_value *add_op(mk_program *p, mk_block *b, mk_op_kind k, const char *out, const mk_type *t,
                        ...)
{
    mk_op *op = mk_ir_op_new(p, k, out);
    va_list ap;
    va_start(ap, t);
    for (const char *param; (param = va_arg(ap, const char *));) {
        mk_value *v = va_arg(ap, mk_value *);
        mk_ir_op_add_input(p, op, param, v);
    }
    va_end(ap);
    mk_value *v = mk_ir_op_add_output(p, op, out, t);
    mk_ir_block_append(b, op);
    return v;
}

TEST(writer_golden_a_conv1d_bias)
{
    NEED_TOOLS();
    mk_program *p = mk_ir_program_new(NULL, 6);
    mk_function *f = mk_ir_function_new(p, "main");
    mk_block *b = f->block;
    int64_t xd[3] = {1, 16, 64}, wd[3] = {32, 16, 3}, bd[1] = {32}, one[1] = {1}, two[1] = {2};
    int64_t yd[3] = {1, 32, 64};
    mk_type xt = mk_type_make(MK_DT_FP32, 3, xd), yt = mk_type_make(MK_DT_FP32, 3, yd);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    void *W = ramp(MK_DT_FP32, 32 * 16 * 3, 1), *B = ramp(MK_DT_FP32, 32, 2);
    mk_value *w = cst(p, b, "w", MK_DT_FP32, 3, wd, W);
    mk_value *bias = cst(p, b, "bias", MK_DT_FP32, 1, bd, B);
    mk_value *strides = cst(p, b, "strides", MK_DT_INT32, 1, one, (int32_t[]){1});
    mk_value *pad_type = mk_ir_const_str(p, b, "pad_type", "custom");
    mk_value *pad = cst(p, b, "pad", MK_DT_INT32, 1, two, (int32_t[]){1, 1});
    mk_value *dil = cst(p, b, "dilations", MK_DT_INT32, 1, one, (int32_t[]){1});
    mk_value *groups = cst(p, b, "groups", MK_DT_INT32, 0, NULL, (int32_t[]){1});
    mk_value *y =
        add_op(p, b, MK_OP_CONV, "y", &yt, "x", x, "weight", w, "bias", bias, "strides", strides,
               "pad_type", pad_type, "pad", pad, "dilations", dil, "groups", groups, NULL);
    mk_ir_block_set_outputs(p, b, 1, &y);
    compare(tc, "a_conv1d_bias_fp32_ios15.mlpackage", p, "wg_a.mlpackage");
    free(W);
    free(B);
    mk_ir_program_free(p);
}

TEST(writer_golden_d_mlp)
{
    NEED_TOOLS();
    mk_program *p = mk_ir_program_new(NULL, 8);
    mk_function *f = mk_ir_function_new(p, "main");
    mk_block *b = f->block;
    int64_t xd[2] = {1, 64}, w1[2] = {128, 64}, b1[1] = {128}, w2[2] = {10, 128}, b2[1] = {10};
    int64_t h1[2] = {1, 128}, h2[2] = {1, 10};
    mk_type xt = mk_type_make(MK_DT_FP32, 2, xd), t1 = mk_type_make(MK_DT_FP32, 2, h1);
    mk_type t2 = mk_type_make(MK_DT_FP32, 2, h2);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    void *W1 = ramp(MK_DT_FP32, 128 * 64, 3), *B1 = ramp(MK_DT_FP32, 128, 4);
    void *W2 = ramp(MK_DT_FP32, 10 * 128, 5), *B2 = ramp(MK_DT_FP32, 10, 6);
    mk_value *vw1 = cst(p, b, "fc1_w", MK_DT_FP32, 2, w1, W1);
    mk_value *vb1 = cst(p, b, "fc1_b", MK_DT_FP32, 1, b1, B1);
    mk_value *h = add_op(p, b, MK_OP_LINEAR, "fc1", &t1, "x", x, "weight", vw1, "bias", vb1, NULL);
    mk_value *r = add_op(p, b, MK_OP_RELU, "relu1", &t1, "x", h, NULL);
    mk_value *vw2 = cst(p, b, "fc2_w", MK_DT_FP32, 2, w2, W2);
    mk_value *vb2 = cst(p, b, "fc2_b", MK_DT_FP32, 1, b2, B2);
    mk_value *o = add_op(p, b, MK_OP_LINEAR, "fc2", &t2, "x", r, "weight", vw2, "bias", vb2, NULL);
    mk_value *axis = cst(p, b, "axis", MK_DT_INT32, 0, NULL, (int32_t[]){-1});
    mk_value *y = add_op(p, b, MK_OP_SOFTMAX, "probs", &t2, "x", o, "axis", axis, NULL);
    mk_ir_block_set_outputs(p, b, 1, &y);
    compare(tc, "d_mlp_linear_relu_softmax_fp32_ios17.mlpackage", p, "wg_d.mlpackage");
    free(W1), free(B1), free(W2), free(B2);
    mk_ir_program_free(p);
}

TEST(writer_golden_c_fp16_conv_transpose)
{
    NEED_TOOLS();
    mk_program *p = mk_ir_program_new(NULL, 8);
    mk_function *f = mk_ir_function_new(p, "main");
    mk_block *b = f->block;
    int64_t xd[3] = {1, 768, 32}, yd[3] = {1, 384, 96}, wd[3] = {768, 384, 7}, bd[1] = {384};
    int64_t one[1] = {1}, two[1] = {2}, three[1] = {3};
    mk_type xt = mk_type_make(MK_DT_FP32, 3, xd), xh = mk_type_make(MK_DT_FP16, 3, xd);
    mk_type yh = mk_type_make(MK_DT_FP16, 3, yd), yt = mk_type_make(MK_DT_FP32, 3, yd);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *strides = cst(p, b, "strides", MK_DT_INT32, 1, one, (int32_t[]){3});
    mk_value *pad_type = mk_ir_const_str(p, b, "pad_type", "custom");
    mk_value *pad = cst(p, b, "pad", MK_DT_INT32, 1, two, (int32_t[]){2, 2});
    mk_value *dil = cst(p, b, "dilations", MK_DT_INT32, 1, one, (int32_t[]){1});
    mk_value *groups = cst(p, b, "groups", MK_DT_INT32, 0, NULL, (int32_t[]){1});
    mk_value *oshape = cst(p, b, "output_shape", MK_DT_INT32, 1, three, (int32_t[]){1, 384, 96});
    mk_value *to16 = mk_ir_const_str(p, b, "to_fp16", "fp16");
    void *W = ramp(MK_DT_FP16, 768 * 384 * 7, 7), *B = ramp(MK_DT_FP16, 384, 8);
    mk_value *w = cst(p, b, "w16", MK_DT_FP16, 3, wd, W);
    mk_value *bias = cst(p, b, "b16", MK_DT_FP16, 1, bd, B);
    mk_value *x16 = add_op(p, b, MK_OP_CAST, "x16", &xh, "x", x, "dtype", to16, NULL);
    mk_value *y16 = add_op(p, b, MK_OP_CONV_TRANSPOSE, "y16", &yh, "x", x16, "weight", w, "bias",
                           bias, "strides", strides, "pad_type", pad_type, "pad", pad, "dilations",
                           dil, "groups", groups, "output_shape", oshape, NULL);
    mk_value *to32 = mk_ir_const_str(p, b, "to_fp32", "fp32");
    mk_value *y = add_op(p, b, MK_OP_CAST, "y", &yt, "x", y16, "dtype", to32, NULL);
    mk_ir_block_set_outputs(p, b, 1, &y);
    compare(tc, "c_convtranspose1d_768to384_k7s3p2_fp16_ios17.mlpackage", p, "wg_c.mlpackage");
    free(W);
    free(B);
    mk_ir_program_free(p);
}

TEST(writer_golden_f1_int8_affine_dequantize)
{
    NEED_TOOLS();
    mk_program *p = mk_ir_program_new(NULL, 7);
    mk_function *f = mk_ir_function_new(p, "main");
    mk_block *b = f->block;
    int64_t xd[2] = {1, 64}, wd[2] = {128, 64}, vd[1] = {128}, hd[2] = {1, 128};
    mk_type xt = mk_type_make(MK_DT_FP32, 2, xd), wt = mk_type_make(MK_DT_FP32, 2, wd);
    mk_type ht = mk_type_make(MK_DT_FP32, 2, hd);
    mk_type qt = mk_type_make(MK_DT_INT8, 2, wd), zt = mk_type_make(MK_DT_INT8, 1, vd);
    mk_type st = mk_type_make(MK_DT_FP32, 1, vd), at = mk_type_scalar(MK_DT_INT32);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    void *Q = ramp(MK_DT_INT8, 128 * 64, 9), *Z = calloc(128, 1), *S = ramp(MK_DT_FP32, 128, 10);
    void *B = ramp(MK_DT_FP32, 128, 11);
    int32_t axis = 0;
    mk_op *dq = mk_ir_op_new(p, MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE, "w");
    mk_ir_op_add_attr(p, dq, "quantized_data", mk_ir_const_value(p, &qt, Q, 128 * 64, 0));
    mk_ir_op_add_attr(p, dq, "zero_point", mk_ir_const_value(p, &zt, Z, 128, 0));
    mk_ir_op_add_attr(p, dq, "scale", mk_ir_const_value(p, &st, S, 128 * 4, 0));
    mk_ir_op_add_attr(p, dq, "axis", mk_ir_const_value(p, &at, &axis, 4, 0));
    mk_value *w = mk_ir_op_add_output(p, dq, "w", &wt);
    mk_ir_block_append(b, dq);
    mk_value *bias = cst(p, b, "bias", MK_DT_FP32, 1, vd, B);
    mk_value *h = add_op(p, b, MK_OP_LINEAR, "fc1", &ht, "x", x, "weight", w, "bias", bias, NULL);
    mk_value *y = add_op(p, b, MK_OP_RELU, "y", &ht, "x", h, NULL);
    mk_ir_block_set_outputs(p, b, 1, &y);
    compare(tc, "f1_int8_affine_dequantize_fp32_ios16.mlpackage", p, "wg_f1.mlpackage");
    free(Q), free(Z), free(S), free(B);
    mk_ir_program_free(p);
}
