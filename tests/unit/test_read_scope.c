/* Core ML reader scoping: block inputs belong to their block. A while_loop whose cond and
 * body blocks name their inputs alike (as coremltools writes them), here also shadowing the
 * function's own inputs, reads, runs, saves and reads again; a name repeated within one
 * block's inputs is still refused. Packages are encoded with protoc from text. */
#include <math.h>
#include <stdlib.h>

#include "test.h"
#include "test_coreml.h"

#define F1 "type { tensorType { dataType: FLOAT32 rank: 1 dimensions { constant { size: 1 } } } }"
#define B1 "type { tensorType { dataType: BOOL rank: 1 dimensions { constant { size: 1 } } } }"

/* while a < b: a = a + b; then y = a + w0 with the function's a. */
static const char *const loop_txt =
    "specificationVersion: 6 mlProgram { version: 1 functions { key: \"main\" value { "
    "inputs { name: \"a\" " F1 " } "
    "inputs { name: \"b\" " F1 " } "
    "opset: \"CoreML5\" "
    "block_specializations { key: \"CoreML5\" value { outputs: \"y\" "
    "operations { type: \"while_loop\" "
    "inputs { key: \"loop_vars\" value { arguments { name: \"a\" } arguments { name: \"b\" } } } "
    "outputs { name: \"w0\" " F1 " } "
    "outputs { name: \"w1\" " F1 " } "
    "blocks { "
    "inputs { name: \"a\" " F1 " } "
    "inputs { name: \"b\" " F1 " } "
    "outputs: \"lt\" "
    "operations { type: \"less\" inputs { key: \"x\" value { arguments { name: \"a\" } } } inputs "
    "{ key: \"y\" value { arguments { name: \"b\" } } } "
    "outputs { name: \"lt\" " B1 " } } "
    "} "
    "blocks { "
    "inputs { name: \"a\" " F1 " } "
    "inputs { name: \"b\" " F1 " } "
    "outputs: \"s\" outputs: \"b\" "
    "operations { type: \"add\" inputs { key: \"x\" value { arguments { name: \"a\" } } } inputs { "
    "key: \"y\" value { arguments { name: \"b\" } } } "
    "outputs { name: \"s\" " F1 " } } "
    "} "
    "} "
    "operations { type: \"add\" inputs { key: \"x\" value { arguments { name: \"a\" } } } inputs { "
    "key: \"y\" value { arguments { name: \"w0\" } } } "
    "outputs { name: \"y\" " F1 " } } "
    "} } } } } ";

static int encode(mk_test_ctx *tc, const char *txt, const char *out)
{
    char tpath[1100], msg[2048];
    snprintf(tpath, sizeof tpath, "%s.txt", out);
    if (!mk_test_write_file(tpath, txt, strlen(txt))) return 0;
    int rc = mk_test_sh(msg, sizeof msg,
                        "protoc --encode=CoreML.Specification.Model -Iproto proto/Model.proto "
                        "< '%s' > '%s'",
                        tpath, out);
    CHECK_MSG(rc == 0, "protoc --encode failed: %s", msg);
    return rc == 0;
}

static void push(mk_tensor_list *l, const char *name, float v)
{
    mk_tensor t;
    memset(&t, 0, sizeof t);
    t.name = mk_strdup_default(name);
    t.dtype = MK_DT_FP32;
    t.rank = 1;
    t.dims[0] = 1;
    t.nbytes = 4;
    t.data = malloc(4);
    memcpy(t.data, &v, 4);
    mk_tensor_list_push(l, &t, NULL);
}

/* Loads path and runs it on a = 1, b = 5.5; the value of y (NAN on failure). */
static float load_and_run(mk_test_ctx *tc, const char *path)
{
    mk_err e = {0};
    mk_program *p = NULL;
    float y = NAN;
    if (mk_program_load(path, NULL, &p, &e) != MK_OK) {
        CHECK_MSG(0, "load %s: %s", path, e.msg);
        return y;
    }
    CHECK_MSG(mk_program_verify(p, &e) == MK_OK, "verify: %s", e.msg);
    mk_tensor_list in = {0, NULL}, out = {0, NULL};
    push(&in, "a", 1);
    push(&in, "b", 5.5f);
    mk_run_options ro = {0, 1, 0};
    if (mk_run(p, &ro, &in, &out, &e) == MK_OK && out.n == 1)
        y = *(const float *)out.items[0].data;
    else
        CHECK_MSG(0, "run: %s", e.msg);
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&out);
    mk_program_free(p);
    return y;
}

TEST(coreml_read_block_inputs_scoped_per_block)
{
    char msg[256], path[1024], saved[1024];
    if (mk_test_sh(msg, sizeof msg, "protoc --version") != 0 ||
        !mk_path_exists("proto/Model.proto"))
        SKIP("protoc or proto/ (run from the source root) not available");
    snprintf(path, sizeof path, "%s/loop_scoped.mlmodel", mk_test_tmpdir());
    if (!encode(tc, loop_txt, path)) return;
    float y = load_and_run(tc, path);
    CHECK_MSG(y == 7.5f, "y = %g, expected 1 + (1 + 5.5) = 7.5", (double)y);
    /* the renamed block inputs survive a write and a second read */
    mk_err e = {0};
    mk_program *p = NULL;
    REQUIRE(mk_program_load(path, NULL, &p, &e) == MK_OK);
    snprintf(saved, sizeof saved, "%s/loop_scoped.mlpackage", mk_test_tmpdir());
    CHECK_MSG(mk_program_save(p, saved, MK_TARGET_DEFAULT, &e) == MK_OK, "save: %s", e.msg);
    mk_program_free(p);
    y = load_and_run(tc, saved);
    CHECK_MSG(y == 7.5f, "after save: y = %g, expected 7.5", (double)y);
}

TEST(coreml_read_block_input_declared_twice_refused)
{
    char msg[256], path[1024];
    if (mk_test_sh(msg, sizeof msg, "protoc --version") != 0 ||
        !mk_path_exists("proto/Model.proto"))
        SKIP("protoc or proto/ (run from the source root) not available");
    /* the body's second input renamed "a" as well */
    const char *first = strstr(loop_txt, "blocks {");
    const char *body = first ? strstr(first + 1, "blocks {") : NULL;
    const char *bname = body ? strstr(body, "name: \"b\"") : NULL;
    REQUIRE(bname);
    size_t n = strlen(loop_txt);
    char *txt = malloc(n + 1);
    REQUIRE(txt);
    memcpy(txt, loop_txt, n + 1);
    txt[bname - loop_txt + 7] = 'a';
    snprintf(path, sizeof path, "%s/loop_twice.mlmodel", mk_test_tmpdir());
    int ok = encode(tc, txt, path);
    free(txt);
    if (!ok) return;
    mk_err e = {0};
    mk_program *p = NULL;
    CHECK(mk_program_load(path, NULL, &p, &e) == MK_EINVAL);
    CHECK(p == NULL);
    CHECK_MSG(strstr(e.msg, "block input 'a' is declared twice") != NULL, "message: %s", e.msg);
    if (p) mk_program_free(p);
}
