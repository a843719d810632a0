/* Core ML reader/writer tests: every golden package loads and survives read -> write -> read
 * with the same IR and a byte-identical weight.bin; writes are deterministic and atomic;
 * re-targeting checks; nested blocks and inline bindings round-trip; allocation failures
 * are clean. Damaged-input tests live in test_coreml_bad.c. */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "test_coreml.h"

/* ---- IR comparison ---- */

/* Placement is compared as written (hint or coremltools rule), so AUTO == what it implies. */
static int g_spec;

static int const_eq(const mk_value *a, const mk_value *b)
{
    if (!a->cst || !b->cst || !mk_type_equal(&a->type, &b->type)) return 0;
    if (a->cst->nbytes != b->cst->nbytes || mk_ir_const_in_blob(g_spec, &a->type, a->cst) !=
                                                mk_ir_const_in_blob(g_spec, &b->type, b->cst))
        return 0;
    if (a->type.dtype == MK_DT_STRING) {
        size_t n = a->cst->nbytes / sizeof(char *);
        for (size_t i = 0; i < n; i++)
            if (strcmp(((const char *const *)a->cst->data)[i],
                       ((const char *const *)b->cst->data)[i]) != 0)
                return 0;
        return 1;
    }
    return a->cst->nbytes == 0 || memcmp(a->cst->data, b->cst->data, a->cst->nbytes) == 0;
}

static int arg_eq(const mk_value *a, const mk_value *b)
{
    if (a->is_inline != b->is_inline) return 0;
    if (a->is_inline) return const_eq(a, b);
    return a->name && b->name && strcmp(a->name, b->name) == 0 && mk_type_equal(&a->type, &b->type);
}

static int block_eq(const mk_block *a, const mk_block *b, char *why, size_t n);

static int op_eq(const mk_op *a, const mk_op *b, char *why, size_t n)
{
    const char *nm = a->name ? a->name : "?";
    if (a->kind != b->kind || !a->name || !b->name || strcmp(a->name, b->name) != 0) {
        snprintf(why, n, "op '%s' vs '%s'", nm, b->name ? b->name : "?");
        return 0;
    }
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs || a->n_attrs != b->n_attrs ||
        a->n_blocks != b->n_blocks) {
        snprintf(why, n, "op '%s': counts differ", nm);
        return 0;
    }
    for (int i = 0; i < a->n_inputs; i++) {
        const mk_input *ia = &a->inputs[i], *ib = mk_ir_input(b, ia->name);
        if (!ib || ia->n_args != ib->n_args) {
            snprintf(why, n, "op '%s': input '%s'", nm, ia->name);
            return 0;
        }
        for (int j = 0; j < ia->n_args; j++)
            if (!arg_eq(ia->args[j], ib->args[j])) {
                snprintf(why, n, "op '%s': input '%s' arg %d", nm, ia->name, j);
                return 0;
            }
    }
    for (int i = 0; i < a->n_outputs; i++)
        if (strcmp(a->outputs[i]->name, b->outputs[i]->name) != 0 ||
            !mk_type_equal(&a->outputs[i]->type, &b->outputs[i]->type) ||
            !a->outputs[i]->cst != !b->outputs[i]->cst) {
            snprintf(why, n, "op '%s': output %d", nm, i);
            return 0;
        }
    for (int i = 0; i < a->n_attrs; i++) {
        const mk_value *vb = mk_ir_attr(b, a->attrs[i].name);
        if (!vb || !const_eq(a->attrs[i].value, vb)) {
            snprintf(why, n, "op '%s': attribute '%s'", nm, a->attrs[i].name);
            return 0;
        }
    }
    for (int i = 0; i < a->n_blocks; i++)
        if (!block_eq(a->blocks[i], b->blocks[i], why, n)) return 0;
    return 1;
}

static int block_eq(const mk_block *a, const mk_block *b, char *why, size_t n)
{
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs) {
        snprintf(why, n, "block input/output counts");
        return 0;
    }
    for (int i = 0; i < a->n_inputs; i++)
        if (strcmp(a->inputs[i]->name, b->inputs[i]->name) != 0 ||
            !mk_type_equal(&a->inputs[i]->type, &b->inputs[i]->type)) {
            snprintf(why, n, "block input %d", i);
            return 0;
        }
    for (int i = 0; i < a->n_outputs; i++)
        if (strcmp(a->outputs[i]->name, b->outputs[i]->name) != 0) {
            snprintf(why, n, "block output %d", i);
            return 0;
        }
    const mk_op *x = a->first, *y = b->first;
    for (; x && y; x = x->next, y = y->next)
        if (!op_eq(x, y, why, n)) return 0;
    if (x || y) {
        snprintf(why, n, "op counts differ");
        return 0;
    }
    return 1;
}

static int str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int feature_eq(const mk_feature *a, const mk_feature *b)
{
    if (!str_eq(a->name, b->name) || !str_eq(a->short_description, b->short_description) ||
        a->dtype != b->dtype || a->rank != b->rank || a->flex != b->flex ||
        a->is_optional != b->is_optional || a->n_enumerated != b->n_enumerated)
        return 0;
    for (int i = 0; i < a->rank; i++) {
        if (a->shape[i] != b->shape[i]) return 0;
        if (a->flex == MK_FLEX_RANGE &&
            (a->range_lo[i] != b->range_lo[i] || a->range_hi[i] != b->range_hi[i]))
            return 0;
        for (int k = 0; k < a->n_enumerated; k++)
            if (a->enumerated[k][i] != b->enumerated[k][i]) return 0;
    }
    return 1;
}

int mk_test_program_eq(const mk_program *a, const mk_program *b, char *why, size_t n)
{
    snprintf(why, n, "ok");
    g_spec = a->spec_version;
    if (a->spec_version != b->spec_version || a->n_functions != b->n_functions) {
        snprintf(why, n, "spec version or function count");
        return 0;
    }
    for (int f = 0; f < a->n_functions; f++) {
        const mk_function *fa = a->functions[f], *fb = b->functions[f];
        if (strcmp(fa->name, fb->name) != 0 || !str_eq(fa->opset, fb->opset) ||
            fa->n_inputs != fb->n_inputs) {
            snprintf(why, n, "function %d header", f);
            return 0;
        }
        for (int i = 0; i < fa->n_inputs; i++)
            if (strcmp(fa->inputs[i]->name, fb->inputs[i]->name) != 0 ||
                !mk_type_equal(&fa->inputs[i]->type, &fb->inputs[i]->type)) {
                snprintf(why, n, "function input %d", i);
                return 0;
            }
        if (!block_eq(fa->block, fb->block, why, n)) return 0;
    }
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs) {
        snprintf(why, n, "description counts");
        return 0;
    }
    for (int i = 0; i < a->n_inputs; i++)
        if (!feature_eq(&a->inputs[i], &b->inputs[i])) {
            snprintf(why, n, "description input %d", i);
            return 0;
        }
    for (int i = 0; i < a->n_outputs; i++)
        if (!feature_eq(&a->outputs[i], &b->outputs[i])) {
            snprintf(why, n, "description output %d", i);
            return 0;
        }
    if (!str_eq(a->short_description, b->short_description) || !str_eq(a->author, b->author) ||
        !str_eq(a->license, b->license) || !str_eq(a->version_string, b->version_string) ||
        a->n_user_meta != b->n_user_meta || a->n_build_info != b->n_build_info) {
        snprintf(why, n, "metadata");
        return 0;
    }
    for (int i = 0; i < a->n_user_meta; i++)
        if (!str_eq(a->user_meta[i].key, b->user_meta[i].key) ||
            !str_eq(a->user_meta[i].value, b->user_meta[i].value)) {
            snprintf(why, n, "user metadata %d", i);
            return 0;
        }
    for (int i = 0; i < a->n_build_info; i++)
        if (!str_eq(a->build_info[i].key, b->build_info[i].key) ||
            !str_eq(a->build_info[i].value, b->build_info[i].value)) {
            snprintf(why, n, "buildInfo %d", i);
            return 0;
        }
    return 1;
}

/* ---- files ---- */

int mk_test_read_file(const char *path, unsigned char **data, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *data = NULL;
    *n = 0;
    if (!f) return 0;
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    for (size_t k; buf && (k = fread(buf + len, 1, cap - len, f)) > 0;) {
        len += k;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) return 0;
    *data = buf;
    *n = len;
    return 1;
}

int mk_test_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    int ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* 1 equal, 0 different, -1 unreadable */
int mk_test_files_equal(const char *a, const char *b)
{
    unsigned char *x, *y;
    size_t nx, ny;
    int ra = mk_test_read_file(a, &x, &nx), rb = mk_test_read_file(b, &y, &ny);
    int eq = ra && rb ? nx == ny && memcmp(x, y, nx) == 0 : -1;
    free(x);
    free(y);
    return eq;
}

const char *mk_test_golden(const char *name, char *buf, size_t n)
{
    const char *sh = mk_test_shared_dir();
    if (!sh) return NULL;
    snprintf(buf, n, "%s/golden/%s", sh, name);
    struct stat st;
    return stat(buf, &st) == 0 ? buf : NULL;
}

/* Copy a golden into the scratch dir (writable); returns the copy's path. */
const char *mk_test_golden_copy(const char *name, const char *as, char *buf, size_t n)
{
    char src[1024];
    if (!mk_test_golden(name, src, sizeof src)) return NULL;
    snprintf(buf, n, "%s/%s", mk_test_tmpdir(), as);
    char out[512];
    if (mk_test_sh(out, sizeof out, "rm -rf '%s' && cp -R '%s' '%s' && chmod -R u+w '%s'", buf, src,
                   buf, buf) != 0)
        return NULL;
    return buf;
}

/* ---- tests ---- */

static const char *const goldens[] = {
    "a_conv1d_bias_fp32_ios15.mlpackage",
    "b_convtranspose1d_768to384_k7s3p2_fp32_ios17.mlpackage",
    "c_convtranspose1d_768to384_k7s3p2_fp16_ios17.mlpackage",
    "d_mlp_linear_relu_softmax_fp32_ios17.mlpackage",
    "e_cumsum_fp32_ios17.mlpackage",
    "f1_int8_affine_dequantize_fp32_ios16.mlpackage",
    "f2_int8_blockwise_shift_scale_fp16_ios18.mlpackage",
    "flex.mlpackage",
};

TEST(coreml_golden_roundtrip)
{
    char g[1024], out[1024], wa[1200], wb[1200];
    if (!mk_test_shared_dir()) SKIP("no shared dir (../shared) with golden packages");
    for (size_t i = 0; i < sizeof goldens / sizeof *goldens; i++) {
        if (!mk_test_golden(goldens[i], g, sizeof g)) {
            CHECK_MSG(0, "golden %s is missing", goldens[i]);
            continue;
        }
        mk_err e = {0};
        mk_program *a = NULL, *b = NULL;
        mk_status st = mk_program_load(g, NULL, &a, &e);
        CHECK_MSG(st == MK_OK, "%s: %s", goldens[i], e.msg);
        if (st) continue;
        snprintf(out, sizeof out, "%s/rt_%zu.mlpackage", mk_test_tmpdir(), i);
        st = mk_program_save(a, out, MK_TARGET_DEFAULT, &e);
        CHECK_MSG(st == MK_OK, "%s: save: %s", goldens[i], e.msg);
        if (!st) st = mk_program_load(out, NULL, &b, &e);
        CHECK_MSG(st == MK_OK, "%s: reload: %s", goldens[i], e.msg);
        char why[256];
        if (!st) CHECK_MSG(mk_test_program_eq(a, b, why, sizeof why), "%s: %s", goldens[i], why);
        snprintf(wa, sizeof wa, "%s/Data/com.apple.CoreML/weights/weight.bin", g);
        snprintf(wb, sizeof wb, "%s/Data/com.apple.CoreML/weights/weight.bin", out);
        struct stat sa, sb;
        int has_a = stat(wa, &sa) == 0, has_b = stat(wb, &sb) == 0;
        CHECK_MSG(has_a == has_b, "%s: weight.bin presence differs", goldens[i]);
        if (has_a && has_b)
            CHECK_MSG(mk_test_files_equal(wa, wb) == 1, "%s: weight.bin differs", goldens[i]);
        snprintf(wb, sizeof wb, "%s/Data/com.apple.CoreML/weights", out);
        CHECK_MSG(mk_path_is_dir(wb), "%s: no weights dir", goldens[i]);
        mk_program_free(a);
        mk_program_free(b);
    }
}

TEST(coreml_golden_contents)
{
    char g[1024];
    if (!mk_test_golden("a_conv1d_bias_fp32_ios15.mlpackage", g, sizeof g))
        SKIP("no shared dir (../shared) with golden packages");
    mk_err e = {0};
    mk_program *p = NULL;
    REQUIRE(mk_program_load(g, NULL, &p, &e) == MK_OK);
    CHECK_EQ_INT(p->spec_version, 6);
    CHECK_EQ_INT(mk_program_spec_version(p), 6);
    mk_function *f = mk_ir_main(p);
    REQUIRE(f && f->n_inputs == 1);
    CHECK_STR(f->opset, "CoreML5");
    CHECK_EQ_INT(f->inputs[0]->type.rank, 3);
    CHECK_EQ_INT(f->inputs[0]->type.dims[1], 16);
    REQUIRE(p->n_inputs == 1 && p->n_outputs == 1);
    CHECK_STR(p->inputs[0].name, "x");
    CHECK_EQ_INT(p->inputs[0].dtype, MK_DT_FP32);
    CHECK_EQ_INT(p->outputs[0].shape[2], 64);
    const mk_op *conv = f->block->last;
    REQUIRE(conv && conv->kind == MK_OP_CONV);
    const mk_value *w = mk_ir_arg(conv, "weight");
    REQUIRE(w && w->cst);
    CHECK_EQ_INT(w->cst->storage, MK_STORE_BLOB);
    CHECK_EQ_INT(w->cst->blob_offset, 64);
    CHECK_EQ_INT(w->cst->nbytes, 32 * 16 * 3 * 4);
    /* the blob points into the mapped weight.bin, not a copy */
    int inside = 0;
    for (int i = 0; i < p->n_maps; i++)
        inside |= (const unsigned char *)w->cst->data >= p->maps[i].data &&
                  (const unsigned char *)w->cst->data < p->maps[i].data + p->maps[i].size;
    CHECK(inside);
    int32_t pad[4], n = 0;
    CHECK(mk_ir_arg_i32s(conv, "pad", pad, 4, &n) && n == 2 && pad[0] == 1 && pad[1] == 1);
    CHECK_STR(mk_ir_arg_str(conv, "pad_type"), "custom");
    CHECK_EQ_INT(mk_ir_arg(conv, "strides")->cst->storage, MK_STORE_INLINE);
    CHECK_STR(p->short_description, "golden example a_conv1d_bias_fp32_ios15");
    CHECK(p->n_user_meta == 3 && p->n_build_info == 2);
    mk_program_free(p);

    REQUIRE(mk_test_golden("flex.mlpackage", g, sizeof g));
    REQUIRE(mk_program_load(g, NULL, &p, &e) == MK_OK);
    REQUIRE(p->n_inputs == 1);
    CHECK_EQ_INT(p->inputs[0].flex, MK_FLEX_RANGE);
    CHECK_EQ_INT(p->inputs[0].shape[2], 16);
    CHECK_EQ_INT(p->inputs[0].range_lo[2], 1);
    CHECK_EQ_INT(p->inputs[0].range_hi[2], 512);
    CHECK_EQ_INT(mk_ir_main(p)->inputs[0]->type.dims[2], MK_DIM_UNKNOWN);
    mk_program_free(p);

    REQUIRE(mk_test_golden("f1_int8_affine_dequantize_fp32_ios16.mlpackage", g, sizeof g));
    REQUIRE(mk_program_load(g, NULL, &p, &e) == MK_OK);
    const mk_op *q = mk_ir_main(p)->block->first;
    REQUIRE(q && q->kind == MK_OP_CONSTEXPR_AFFINE_DEQUANTIZE);
    CHECK_EQ_INT(q->n_inputs, 0);
    CHECK(mk_ir_attr(q, "quantized_data") && mk_ir_attr(q, "scale") && mk_ir_attr(q, "axis"));
    mk_program_free(p);

    REQUIRE(mk_test_golden("f2_int8_blockwise_shift_scale_fp16_ios18.mlpackage", g, sizeof g));
    REQUIRE(mk_program_load(g, NULL, &p, &e) == MK_OK);
    q = mk_ir_main(p)->block->first;
    REQUIRE(q && q->kind == MK_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE);
    const mk_value *data = mk_ir_arg(q, "data");
    CHECK(data && data->is_inline && data->cst && data->cst->storage == MK_STORE_BLOB);
    CHECK_EQ_INT(q->n_attrs, 0);
    mk_program_free(p);
}

static void read_pkg(const char *dir, unsigned char **m, size_t *mn, unsigned char **w, size_t *wn,
                     unsigned char **j, size_t *jn)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/Data/com.apple.CoreML/model.mlmodel", dir);
    mk_test_read_file(path, m, mn);
    snprintf(path, sizeof path, "%s/Data/com.apple.CoreML/weights/weight.bin", dir);
    mk_test_read_file(path, w, wn);
    snprintf(path, sizeof path, "%s/Manifest.json", dir);
    mk_test_read_file(path, j, jn);
}

TEST(coreml_save_is_deterministic_and_manifest_well_formed)
{
    char g[1024], o1[1024], o2[1024];
    if (!mk_test_golden("d_mlp_linear_relu_softmax_fp32_ios17.mlpackage", g, sizeof g))
        SKIP("no shared dir (../shared) with golden packages");
    mk_err e = {0};
    mk_program *p = NULL;
    REQUIRE(mk_program_load(g, NULL, &p, &e) == MK_OK);
    mk_test_owned(p); /* fault runs: the test's own when a save fails */
    snprintf(o1, sizeof o1, "%s/det1.mlpackage", mk_test_tmpdir());
    snprintf(o2, sizeof o2, "%s/det2.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_program_save(p, o1, MK_TARGET_DEFAULT, &e) == MK_OK);
    REQUIRE(mk_program_save(p, o2, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_program_free(p);
    unsigned char *m1, *w1, *j1, *m2, *w2, *j2;
    size_t mn1, wn1, jn1, mn2, wn2, jn2;
    read_pkg(o1, &m1, &mn1, &w1, &wn1, &j1, &jn1);
    read_pkg(o2, &m2, &mn2, &w2, &wn2, &j2, &jn2);
    CHECK(m1 && m2 && mn1 == mn2 && memcmp(m1, m2, mn1) == 0);
    CHECK(w1 && w2 && wn1 == wn2 && memcmp(w1, w2, wn1) == 0);
    CHECK(j1 && j2 && jn1 == jn2 && memcmp(j1, j2, jn1) == 0);
    /* manifest: 4-space indent, sorted keys, upper-case UUIDs, root is the spec item */
    if (j1) {
        char *txt = calloc(1, jn1 + 1);
        REQUIRE(txt);
        memcpy(txt, j1, jn1);
        CHECK(strncmp(txt, "{\n    \"fileFormatVersion\": \"1.0.0\",\n", 36) == 0);
        CHECK(txt[jn1 - 1] == '\n');
        const char *root = strstr(txt, "\"rootModelIdentifier\": \"");
        REQUIRE(root);
        root += 24;
        char id[40] = {0};
        memcpy(id, root, 36);
        int ok = 1;
        for (int i = 0; i < 36; i++)
            ok &= (i == 8 || i == 13 || i == 18 || i == 23)
                      ? id[i] == '-'
                      : (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F');
        CHECK_MSG(ok, "identifier %s is not an upper-case UUID", id);
        char key[64];
        snprintf(key, sizeof key, "\"%s\": {", id);
        const char *item = strstr(txt, key);
        CHECK(item && strstr(item, "\"name\": \"model.mlmodel\""));
        const char *a = strstr(txt, "\"author\""), *d = strstr(txt, "\"description\"");
        CHECK(a && d && a < d);
        free(txt);
    }
    free(m1), free(w1), free(j1), free(m2), free(w2), free(j2);
}

/* A small program built in C: x[1,4] -> linear(W[3,4] blob, b[3] inline) -> relu -> y. */
static mk_program *tiny_program(int spec, mk_dtype io)
{
    mk_program *p = mk_ir_program_new(NULL, spec);
    mk_test_owned(p); /* fault runs: the test's own (test.h) */
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    if (!f) return p;
    int64_t xd[2] = {1, 4}, wd[2] = {3, 4}, bd[1] = {3}, yd[2] = {1, 3};
    mk_type xt = mk_type_make(io, 2, xd), wt = mk_type_make(MK_DT_FP32, 2, wd);
    mk_type bt = mk_type_make(MK_DT_FP32, 1, bd), yt = mk_type_make(MK_DT_FP32, 2, yd);
    mk_type yo = mk_type_make(io, 2, yd);
    float W[12], B[3] = {0.5f, -1.0f, 2.0f};
    for (int i = 0; i < 12; i++) W[i] = (float)(i + 1);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *xin = x;
    if (io == MK_DT_FP16) {
        mk_op *c = mk_ir_op_new(p, MK_OP_CAST, "x_cast");
        mk_value *dt = mk_ir_const_str(p, f->block, "x_dtype", "fp32");
        mk_ir_op_add_input(p, c, "x", x);
        mk_ir_op_add_input(p, c, "dtype", dt);
        mk_type t32 = mk_type_make(MK_DT_FP32, 2, xd);
        xin = mk_ir_op_add_output(p, c, "x_cast", &t32);
        mk_ir_block_append(f->block, c);
    }
    mk_value *w = mk_ir_const(p, f->block, "W", &wt, W, sizeof W, 0);
    mk_value *b = mk_ir_const(p, f->block, "b", &bt, B, sizeof B, 0);
    mk_op *lin = mk_ir_op_new(p, MK_OP_LINEAR, "lin");
    mk_ir_op_add_input(p, lin, "x", xin);
    mk_ir_op_add_input(p, lin, "weight", w);
    mk_ir_op_add_input(p, lin, "bias", b);
    mk_value *h = mk_ir_op_add_output(p, lin, "lin", &yt);
    mk_ir_block_append(f->block, lin);
    mk_op *r = mk_ir_op_new(p, MK_OP_RELU, "r");
    mk_ir_op_add_input(p, r, "x", h);
    mk_value *y = mk_ir_op_add_output(p, r, io == MK_DT_FP16 ? "r" : "y", &yt);
    mk_ir_block_append(f->block, r);
    if (io == MK_DT_FP16) {
        mk_op *c = mk_ir_op_new(p, MK_OP_CAST, "y");
        mk_value *dt = mk_ir_const_str(p, f->block, "y_dtype", "fp16");
        mk_ir_op_add_input(p, c, "x", y);
        mk_ir_op_add_input(p, c, "dtype", dt);
        y = mk_ir_op_add_output(p, c, "y", &yo);
        mk_ir_block_append(f->block, c);
    }
    mk_ir_block_set_outputs(p, f->block, 1, &y);
    return p;
}

TEST(coreml_write_small_program_layout)
{
    mk_program *p = tiny_program(6, MK_DT_FP32);
    REQUIRE(p && mk_ir_main(p));
    char out[1024], wpath[1200];
    snprintf(out, sizeof out, "%s/tiny.mlpackage", mk_test_tmpdir());
    mk_err e = {0};
    REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
    snprintf(wpath, sizeof wpath, "%s/Data/com.apple.CoreML/weights/weight.bin", out);
    unsigned char *w;
    size_t wn;
    REQUIRE(mk_test_read_file(wpath, &w, &wn));
    /* header count 1, version 2; metadata at 64; data at 128; 48 bytes; no tail padding */
    CHECK_EQ_INT(wn, 128 + 48);
    CHECK(w[0] == 1 && w[4] == 2);
    CHECK(w[64] == 0xEF && w[65] == 0xBE && w[66] == 0xAD && w[67] == 0xDE);
    CHECK_EQ_INT(w[68], 2);   /* fp32 */
    CHECK_EQ_INT(w[72], 48);  /* size */
    CHECK_EQ_INT(w[80], 128); /* data offset */
    float one;
    memcpy(&one, w + 128, 4);
    CHECK(one == 1.0f);
    free(w);
    mk_program *q = NULL;
    REQUIRE(mk_program_load(out, NULL, &q, &e) == MK_OK);
    const mk_value *bias = mk_ir_arg(mk_ir_main(q)->block->last->prev, "bias");
    REQUIRE(bias && bias->cst);
    CHECK_EQ_INT(bias->cst->storage, MK_STORE_INLINE);
    CHECK_EQ_INT(mk_ir_arg(mk_ir_main(q)->block->last->prev, "weight")->cst->storage,
                 MK_STORE_BLOB);
    /* the description was derived from the function */
    REQUIRE(q->n_inputs == 1 && q->n_outputs == 1);
    CHECK_STR(q->outputs[0].name, "y");
    CHECK_EQ_INT(q->outputs[0].shape[1], 3);
    mk_program_free(q);
    mk_program_free(p);
}

TEST(coreml_storage_hint_and_sharing)
{
    mk_program *p = tiny_program(6, MK_DT_FP32);
    REQUIRE(p && mk_ir_main(p));
    mk_block *b = mk_ir_main(p)->block;
    /* force the 3-element bias into weight.bin and the weight inline; add a second constant
     * identical to the bias: it must share the bias's blob */
    for (mk_op *op = b->first; op; op = op->next) {
        if (op->kind != MK_OP_CONST) continue;
        mk_const *c = (mk_const *)op->outputs[0]->cst;
        c->storage = strcmp(op->name, "b") == 0 ? MK_STORE_BLOB : MK_STORE_INLINE;
        ((mk_const *)mk_ir_attr(op, "val")->cst)->storage = c->storage;
    }
    float B[3] = {0.5f, -1.0f, 2.0f};
    int64_t d1[1] = {3};
    mk_type t1 = mk_type_make(MK_DT_FP32, 1, d1);
    mk_value *b2 = mk_ir_const(p, NULL, "b2", &t1, B, sizeof B, 0);
    REQUIRE(b2);
    mk_ir_insert_before(b->first, b2->producer);
    ((mk_const *)b2->cst)->storage = MK_STORE_BLOB;
    mk_op *id = mk_ir_op_new(p, MK_OP_IDENTITY, "keep");
    mk_ir_op_add_input(p, id, "x", b2);
    mk_ir_op_add_output(p, id, "keep", &t1);
    mk_ir_insert_before(b->last, id);
    char out[1024];
    snprintf(out, sizeof out, "%s/hint.mlpackage", mk_test_tmpdir());
    mk_err e = {0};
    REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_program *q = NULL;
    CHECK_MSG(mk_program_load(out, NULL, &q, &e) == MK_OK, "%s", e.msg);
    REQUIRE(q);
    const mk_value *vb = NULL, *vw = NULL, *vb2 = NULL;
    for (mk_op *op = mk_ir_main(q)->block->first; op; op = op->next) {
        if (op->kind != MK_OP_CONST) continue;
        if (!strcmp(op->name, "b")) vb = op->outputs[0];
        if (!strcmp(op->name, "W")) vw = op->outputs[0];
        if (!strcmp(op->name, "b2")) vb2 = op->outputs[0];
    }
    REQUIRE(vb && vw && vb2);
    CHECK_EQ_INT(vb->cst->storage, MK_STORE_BLOB);
    CHECK_EQ_INT(vw->cst->storage, MK_STORE_INLINE);
    CHECK_EQ_INT(vb2->cst->storage, MK_STORE_BLOB);
    CHECK_EQ_INT(vb->cst->blob_offset, 64);
    CHECK_EQ_INT(vb2->cst->blob_offset, 64); /* identical payload, one blob */
    CHECK(vb->cst->data == vb2->cst->data);
    mk_program_free(q);
    mk_program_free(p);
}

TEST(coreml_retarget_checks)
{
    mk_err e = {0};
    char out[1024];
    snprintf(out, sizeof out, "%s/retarget.mlpackage", mk_test_tmpdir());
    /* fp16 I/O cannot be written for iOS15 */
    mk_program *p = tiny_program(7, MK_DT_FP16);
    REQUIRE(p && mk_ir_main(p));
    CHECK_EQ_INT(mk_program_save(p, out, MK_TARGET_IOS15, &e), MK_EUNSUPPORTED);
    CHECK(strstr(e.msg, "fp16") && strstr(e.msg, "iOS16") && !strchr(e.msg, '\n'));
    CHECK(!mk_path_exists(out));
    e = (mk_err){0};
    CHECK_EQ_INT(mk_program_save(p, out, MK_TARGET_IOS16, &e), MK_OK);
    mk_program *q = NULL;
    REQUIRE(mk_program_load(out, NULL, &q, &e) == MK_OK);
    CHECK_EQ_INT(q->spec_version, 7);
    CHECK_STR(mk_ir_main(q)->opset, "CoreML6");
    CHECK_EQ_INT(q->inputs[0].dtype, MK_DT_FP16);
    mk_program_free(q);
    /* re-target to iOS18: same program, opset CoreML8 */
    CHECK_EQ_INT(mk_program_save(p, out, MK_TARGET_IOS18, &e), MK_OK);
    REQUIRE(mk_program_load(out, NULL, &q, &e) == MK_OK);
    CHECK_EQ_INT(q->spec_version, 9);
    CHECK_STR(mk_ir_main(q)->opset, "CoreML8");
    mk_program_free(q);
    mk_program_free(p);
    /* an iOS18 op cannot go to iOS17 */
    char g[1024];
    if (!mk_test_golden("f2_int8_blockwise_shift_scale_fp16_ios18.mlpackage", g, sizeof g))
        SKIP("no shared dir (../shared) with golden packages");
    REQUIRE(mk_program_load(g, NULL, &p, &e) == MK_OK);
    e = (mk_err){0};
    CHECK_EQ_INT(mk_program_save(p, out, MK_TARGET_IOS17, &e), MK_EUNSUPPORTED);
    CHECK(strstr(e.msg, "constexpr_blockwise_shift_scale") && strstr(e.msg, "iOS18"));
    mk_program_free(p);
}

TEST(coreml_save_is_atomic)
{
    mk_err e = {0};
    char dir[1024], out[1100], man[1200];
    snprintf(dir, sizeof dir, "%s/atomic", mk_test_tmpdir());
    mkdir(dir, 0755);
    snprintf(out, sizeof out, "%s/m.mlpackage", dir);
    mk_program *p = tiny_program(6, MK_DT_FP32);
    REQUIRE(p && mk_ir_main(p));
    REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
    snprintf(man, sizeof man, "%s/Manifest.json", out);
    unsigned char *before;
    size_t nb;
    REQUIRE(mk_test_read_file(man, &before, &nb));
    /* a failing save (op too new for the target) leaves the old package untouched */
    mk_program *q = tiny_program(7, MK_DT_FP16);
    REQUIRE(q && mk_ir_main(q));
    CHECK(mk_program_save(q, out, MK_TARGET_IOS15, &e) != MK_OK);
    CHECK_EQ_INT(mk_test_files_equal(man, man), 1);
    unsigned char *after;
    size_t na;
    REQUIRE(mk_test_read_file(man, &after, &na));
    CHECK(na == nb && memcmp(before, after, nb) == 0);
    free(before);
    free(after);
    /* a failing write (bad constant) leaves nothing behind */
    mk_block *b = mk_ir_main(q)->block;
    for (mk_op *op = b->first; op; op = op->next)
        if (op->kind == MK_OP_CONST && !strcmp(op->name, "W"))
            ((mk_const *)mk_ir_attr(op, "val")->cst)->nbytes = 7;
    char out2[1100];
    snprintf(out2, sizeof out2, "%s/n.mlpackage", dir);
    e = (mk_err){0};
    CHECK_EQ_INT(mk_program_save(q, out2, MK_TARGET_DEFAULT, &e), MK_EINVAL);
    CHECK(strstr(e.msg, "'W'") != NULL);
    CHECK(!mk_path_exists(out2));
    char lst[512];
    mk_test_sh(lst, sizeof lst, "ls -A '%s'", dir);
    CHECK_STR(lst, "m.mlpackage\n");
    /* refuse to replace something that is not a package */
    snprintf(out2, sizeof out2, "%s/plain", dir);
    mkdir(out2, 0755);
    e = (mk_err){0};
    CHECK_EQ_INT(mk_program_save(p, out2, MK_TARGET_DEFAULT, &e), MK_EINVAL);
    CHECK(mk_path_is_dir(out2));
    /* replacing an existing package works */
    e = (mk_err){0};
    CHECK_EQ_INT(mk_program_save(p, out, MK_TARGET_IOS17, &e), MK_OK);
    mk_program *r = NULL;
    REQUIRE(mk_program_load(out, NULL, &r, &e) == MK_OK);
    CHECK_EQ_INT(r->spec_version, 8);
    mk_program_free(r);
    mk_program_free(q);
    mk_program_free(p);
}

TEST(coreml_nested_blocks_and_inline_bindings)
{
    mk_program *p = mk_ir_program_new(NULL, 8);
    REQUIRE(p);
    mk_test_owned(p); /* fault runs: the test's own (test.h) */
    mk_function *f = mk_ir_function_new(p, "main");
    REQUIRE(f);
    int64_t d[1] = {4};
    mk_type t = mk_type_make(MK_DT_FP32, 1, d);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &t);
    mk_value *c = mk_ir_const_bool(p, f->block, "pred", 1, (const uint8_t[]){1}, 1);
    REQUIRE(x && c);
    mk_op *cond = mk_ir_op_new(p, MK_OP_COND, "branch");
    mk_ir_op_add_input(p, cond, "pred", c);
    const char *names[2] = {"t_out", "f_out"};
    for (int k = 0; k < 2; k++) {
        mk_block *b = mk_ir_block_new(p, f, cond);
        mk_op *op = mk_ir_op_new(p, k ? MK_OP_SUB : MK_OP_ADD, names[k]);
        mk_ir_op_add_input(p, op, "x", x);
        /* y bound by value (Binding.value), a 16-element fp32 inline-or-blob constant */
        float one = 1.0f;
        mk_type st = mk_type_scalar(MK_DT_FP32);
        mk_value *iv = mk_ir_const_value(p, &st, &one, 4, 0);
        iv->is_inline = 1;
        mk_ir_op_add_input(p, op, "y", iv);
        mk_value *o = mk_ir_op_add_output(p, op, names[k], &t);
        mk_ir_block_append(b, op);
        mk_ir_block_set_outputs(p, b, 1, &o);
        mk_ir_op_add_block(p, cond, b);
    }
    mk_value *y = mk_ir_op_add_output(p, cond, "y", &t);
    mk_ir_block_append(f->block, cond);
    mk_ir_block_set_outputs(p, f->block, 1, &y);
    char out[1024];
    snprintf(out, sizeof out, "%s/cond.mlpackage", mk_test_tmpdir());
    mk_err e = {0};
    REQUIRE(mk_program_save(p, out, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_program *q = NULL;
    REQUIRE(mk_program_load(out, NULL, &q, &e) == MK_OK);
    char why[256];
    CHECK_MSG(mk_test_program_eq(p, q, why, sizeof why) || strstr(why, "description"), "%s", why);
    const mk_op *qc = mk_ir_main(q)->block->last;
    REQUIRE(qc && qc->kind == MK_OP_COND && qc->n_blocks == 2);
    const mk_value *yv = mk_ir_arg(qc->blocks[1]->first, "y");
    CHECK(yv && yv->is_inline && yv->cst && ((const float *)yv->cst->data)[0] == 1.0f);
    CHECK_STR(qc->blocks[1]->outputs[0]->name, "f_out");
    mk_program_free(q);
    mk_program_free(p);
}

TEST(coreml_alloc_failure_loop)
{
    char g[1024];
    if (!mk_test_golden("f1_int8_affine_dequantize_fp32_ios16.mlpackage", g, sizeof g))
        SKIP("no shared dir (../shared) with golden packages");
    long n;
    int clean = 1;
    for (n = 1; n < 100000; n++) {
        mk_failing_alloc fa;
        mk_failing_alloc_init(&fa, n);
        mk_err e = {0};
        mk_program *p = NULL;
        mk_status st = mk_program_load(g, &fa.base, &p, &e);
        if (st == MK_OK) {
            mk_program_free(p);
            break;
        }
        if (st != MK_ENOMEM || p) clean = 0;
    }
    CHECK(clean);
    CHECK(n > 10 && n < 100000);
    /* and saving under allocation failure: clean errors, nothing left behind */
    mk_err e = {0};
    mk_program *p = NULL;
    REQUIRE(mk_program_load(g, NULL, &p, &e) == MK_OK);
    char out[1024];
    snprintf(out, sizeof out, "%s/oom.mlpackage", mk_test_tmpdir());
    mk_failing_alloc fa;
    const mk_allocator *orig = p->alloc;
    for (n = 1; n < 100000; n++) {
        mk_failing_alloc_init(&fa, n);
        p->alloc = &fa.base;
        e = (mk_err){0};
        mk_status st = mk_program_save(p, out, MK_TARGET_DEFAULT, &e);
        p->alloc = orig;
        if (st == MK_OK) break;
        if (st != MK_ENOMEM || mk_path_exists(out)) clean = 0;
    }
    CHECK(clean);
    CHECK(n < 100000 && mk_path_exists(out));
    mk_program_free(p);
}

TEST(coreml_target_names)
{
    CHECK_EQ_INT(mk_target_parse("ios15"), MK_TARGET_IOS15);
    CHECK_EQ_INT(mk_target_parse("iOS18"), MK_TARGET_IOS18);
    CHECK_EQ_INT(mk_target_parse("ios14"), MK_TARGET_DEFAULT);
    CHECK_EQ_INT(mk_target_parse(NULL), MK_TARGET_DEFAULT);
    CHECK_STR(mk_target_name(MK_TARGET_IOS17), "iOS17");
}

TEST(coreml_flexible_shapes_and_metadata_roundtrip)
{
    mk_program *p = tiny_program(8, MK_DT_FP32);
    REQUIRE(p && mk_ir_main(p));
    mk_function *f = mk_ir_main(p);
    /* x: default [1, 4], enumerated {[1, 4], [2, 4], [3, 4]}: dim 0 varies */
    f->inputs[0]->type.dims[0] = MK_DIM_UNKNOWN;
    mk_feature *in = mk_arena_array(p->arena, 1, sizeof *in);
    mk_feature *out = mk_arena_array(p->arena, 1, sizeof *out);
    REQUIRE(in && out);
    in->name = "x";
    in->short_description = "the input";
    in->dtype = MK_DT_FP32;
    in->rank = 2;
    in->shape[0] = 1, in->shape[1] = 4;
    in->flex = MK_FLEX_ENUMERATED;
    in->n_enumerated = 3;
    in->enumerated = mk_arena_array(p->arena, 3, sizeof *in->enumerated);
    REQUIRE(in->enumerated);
    for (int k = 0; k < 3; k++) in->enumerated[k][0] = k + 1, in->enumerated[k][1] = 4;
    out->name = "y";
    out->dtype = MK_DT_FP32; /* rank 0: shape not static, written as an empty shape */
    p->inputs = in, p->n_inputs = 1, p->outputs = out, p->n_outputs = 1;
    p->author = "milkit tests";
    p->license = "MIT";
    p->version_string = "1.2.3";
    p->short_description = "tiny";
    mk_kv kv[2] = {{"k1", "v1"}, {"k2", ""}};
    p->user_meta = kv, p->n_user_meta = 2;
    mk_kv bi[1] = {{"milkit-version", MK_VERSION}};
    p->build_info = bi, p->n_build_info = 1;
    char path[1024];
    snprintf(path, sizeof path, "%s/flex_enum.mlpackage", mk_test_tmpdir());
    mk_err e = {0};
    REQUIRE(mk_program_save(p, path, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_program *q = NULL;
    REQUIRE(mk_program_load(path, NULL, &q, &e) == MK_OK);
    char why[256];
    CHECK_MSG(mk_test_program_eq(p, q, why, sizeof why), "%s", why);
    CHECK_EQ_INT(mk_ir_main(q)->inputs[0]->type.dims[0], MK_DIM_UNKNOWN);
    CHECK_EQ_INT(mk_ir_main(q)->inputs[0]->type.dims[1], 4);
    REQUIRE(q->n_inputs == 1 && q->inputs[0].flex == MK_FLEX_ENUMERATED);
    CHECK_EQ_INT(q->inputs[0].enumerated[2][0], 3);
    CHECK_STR(q->author, "milkit tests");
    CHECK_STR(q->build_info[0].value, MK_VERSION);
    mk_program_free(q);
    /* a range: dim 0 in 1..unbounded */
    in->flex = MK_FLEX_RANGE;
    in->n_enumerated = 0;
    in->enumerated = NULL;
    in->range_lo[0] = 1, in->range_hi[0] = -1, in->range_lo[1] = in->range_hi[1] = 4;
    REQUIRE(mk_program_save(p, path, MK_TARGET_DEFAULT, &e) == MK_OK);
    REQUIRE(mk_program_load(path, NULL, &q, &e) == MK_OK);
    CHECK_MSG(mk_test_program_eq(p, q, why, sizeof why), "%s", why);
    CHECK_EQ_INT(q->inputs[0].range_hi[0], -1);
    mk_program_free(q);
    /* a description that does not match the function is refused */
    in->dtype = MK_DT_INT32;
    e = (mk_err){0};
    CHECK_EQ_INT(mk_program_save(p, path, MK_TARGET_DEFAULT, &e), MK_EINVAL);
    CHECK(strstr(e.msg, "input 'x'") != NULL);
    mk_program_free(p);
}

TEST(coreml_while_loop_block_inputs_roundtrip)
{
    mk_program *p = mk_ir_program_new(NULL, 6);
    REQUIRE(p);
    mk_test_owned(p); /* fault runs: the test's own (test.h) */
    mk_function *f = mk_ir_function_new(p, "main");
    REQUIRE(f);
    mk_type t = mk_type_scalar(MK_DT_INT32), bt = mk_type_scalar(MK_DT_BOOL);
    mk_value *x = mk_ir_function_add_input(p, f, "x", &t);
    mk_op *loop = mk_ir_op_new(p, MK_OP_WHILE_LOOP, "loop");
    mk_ir_op_add_input(p, loop, "loop_vars", x);
    /* cond block: (cx) -> cx < 10 */
    mk_block *cb = mk_ir_block_new(p, f, loop);
    mk_value *cx = mk_ir_block_add_input(p, cb, "cx", &t);
    mk_value *ten = mk_ir_const_i32(p, cb, "ten", 1, (const int32_t[]){10}, 1);
    mk_op *lt = mk_ir_op_new(p, MK_OP_LESS, "go_on");
    mk_ir_op_add_input(p, lt, "x", cx);
    mk_ir_op_add_input(p, lt, "y", ten);
    mk_value *go = mk_ir_op_add_output(p, lt, "go_on", &bt);
    mk_ir_block_append(cb, lt);
    mk_ir_block_set_outputs(p, cb, 1, &go);
    mk_ir_op_add_block(p, loop, cb);
    /* body block: (bx) -> bx + 1 */
    mk_block *bb = mk_ir_block_new(p, f, loop);
    mk_value *bx = mk_ir_block_add_input(p, bb, "bx", &t);
    mk_value *one = mk_ir_const_i32(p, bb, "one", 1, (const int32_t[]){1}, 1);
    mk_op *add = mk_ir_op_new(p, MK_OP_ADD, "next");
    mk_ir_op_add_input(p, add, "x", bx);
    mk_ir_op_add_input(p, add, "y", one);
    mk_value *nx = mk_ir_op_add_output(p, add, "next", &t);
    mk_ir_block_append(bb, add);
    mk_ir_block_set_outputs(p, bb, 1, &nx);
    mk_ir_op_add_block(p, loop, bb);
    mk_value *y = mk_ir_op_add_output(p, loop, "y", &t);
    mk_ir_block_append(f->block, loop);
    REQUIRE(mk_ir_block_set_outputs(p, f->block, 1, &y));
    char path[1024];
    snprintf(path, sizeof path, "%s/loop.mlpackage", mk_test_tmpdir());
    mk_err e = {0};
    REQUIRE(mk_program_save(p, path, MK_TARGET_DEFAULT, &e) == MK_OK);
    mk_program *q = NULL;
    REQUIRE(mk_program_load(path, NULL, &q, &e) == MK_OK);
    char why[256];
    /* the description was derived (scalar I/O is described as shape [1]) */
    CHECK_MSG(mk_test_program_eq(p, q, why, sizeof why) || strstr(why, "description"), "%s", why);
    const mk_op *ql = mk_ir_main(q)->block->first;
    REQUIRE(ql && ql->kind == MK_OP_WHILE_LOOP && ql->n_blocks == 2);
    CHECK_STR(ql->blocks[0]->inputs[0]->name, "cx");
    CHECK_STR(ql->blocks[1]->inputs[0]->name, "bx");
    CHECK(ql->blocks[1]->parent_op == ql);
    CHECK_EQ_INT(q->inputs[0].rank, 1);
    CHECK_EQ_INT(q->inputs[0].shape[0], 1);
    mk_program_free(q);
    mk_program_free(p);
}

TEST(coreml_single_file_and_overwrite_in_place)
{
    char g[1024], m[1200], pkg[1024];
    if (!mk_test_golden("e_cumsum_fp32_ios17.mlpackage", g, sizeof g))
        SKIP("no shared dir (../shared) with golden packages");
    /* a bare model.mlmodel without blob constants loads on its own */
    snprintf(m, sizeof m, "%s/Data/com.apple.CoreML/model.mlmodel", g);
    mk_err e = {0};
    mk_program *p = NULL, *q = NULL;
    CHECK_MSG(mk_program_load(m, NULL, &p, &e) == MK_OK, "%s", e.msg);
    REQUIRE(p);
    CHECK_EQ_INT(p->spec_version, 8);
    mk_program_free(p);
    /* saving over the package the program's weights are mapped from */
    REQUIRE(mk_test_golden_copy("d_mlp_linear_relu_softmax_fp32_ios17.mlpackage",
                                "inplace.mlpackage", pkg, sizeof pkg));
    REQUIRE(mk_program_load(pkg, NULL, &p, &e) == MK_OK);
    mk_test_owned(p); /* fault runs: the test's own when a later call fails */
    CHECK_MSG(mk_program_save(p, pkg, MK_TARGET_DEFAULT, &e) == MK_OK, "%s", e.msg);
    REQUIRE(mk_program_load(pkg, NULL, &q, &e) == MK_OK);
    mk_test_owned(q);
    char why[256];
    CHECK_MSG(mk_test_program_eq(p, q, why, sizeof why), "%s", why);
    snprintf(m, sizeof m, "%s/Data/com.apple.CoreML/weights/weight.bin", pkg);
    char gw[1200];
    REQUIRE(mk_test_golden("d_mlp_linear_relu_softmax_fp32_ios17.mlpackage", g, sizeof g));
    snprintf(gw, sizeof gw, "%s/Data/com.apple.CoreML/weights/weight.bin", g);
    CHECK_EQ_INT(mk_test_files_equal(m, gw), 1);
    mk_program_free(q);
    mk_program_free(p);
}

/* A linear layer whose 2 MiB weight is above the writer's content-dedup size. */
static mk_program *big_weight_program(void)
{
    mk_program *p = mk_ir_program_new(NULL, 8);
    mk_function *f = p ? mk_ir_function_new(p, "main") : NULL;
    if (!f) return p;
    enum { IN = 1024, OUT = 512 };
    int64_t xd[2] = {1, IN}, wd[2] = {OUT, IN}, yd[2] = {1, OUT};
    mk_type xt = mk_type_make(MK_DT_FP32, 2, xd), wt = mk_type_make(MK_DT_FP32, 2, wd);
    mk_type yt = mk_type_make(MK_DT_FP32, 2, yd);
    float *W = malloc(sizeof(float) * IN * OUT);
    if (!W) return p;
    uint32_t s = 12345;
    for (int i = 0; i < IN * OUT; i++)
        W[i] = (float)((s = s * 1664525u + 1013904223u) >> 8) / 16777216.0f;
    mk_value *x = mk_ir_function_add_input(p, f, "x", &xt);
    mk_value *w = mk_ir_const(p, f->block, "W", &wt, W, sizeof(float) * IN * OUT, 0);
    free(W);
    mk_op *lin = x && w ? mk_ir_op_new(p, MK_OP_LINEAR, "y") : NULL;
    mk_value *y = NULL;
    if (!lin || !mk_ir_op_add_input(p, lin, "x", x) || !mk_ir_op_add_input(p, lin, "weight", w) ||
        !(y = mk_ir_op_add_output(p, lin, "y", &yt))) {
        mk_ir_program_free(p); /* out of memory (milkit_tests --fail-alloc) */
        return NULL;
    }
    mk_ir_block_append(f->block, lin);
    if (!mk_ir_block_set_outputs(p, f->block, 1, &y)) {
        mk_ir_program_free(p);
        return NULL;
    }
    return p;
}

TEST(coreml_manifest_ids_do_not_depend_on_weight_addresses)
{
    /* two programs hold the same large weight at two addresses: same package bytes */
    mk_program *a = big_weight_program(), *b = big_weight_program();
    char o1[1100], o2[1100], m1[1200], m2[1200];
    snprintf(o1, sizeof o1, "%s/addr1.mlpackage", mk_test_tmpdir());
    snprintf(o2, sizeof o2, "%s/addr2.mlpackage", mk_test_tmpdir());
    mk_err e = {0};
    int ok = a && b && mk_ir_main(a) && mk_ir_main(b) &&
             mk_program_save(a, o1, MK_TARGET_DEFAULT, &e) == MK_OK &&
             mk_program_save(b, o2, MK_TARGET_DEFAULT, &e) == MK_OK;
    CHECK(ok);
    snprintf(m1, sizeof m1, "%s/Manifest.json", o1);
    snprintf(m2, sizeof m2, "%s/Manifest.json", o2);
    if (ok) CHECK_EQ_INT(mk_test_files_equal(m1, m2), 1);
    mk_ir_program_free(a);
    mk_ir_program_free(b);
}
