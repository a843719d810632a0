/* Damaged and foreign Core ML input: each test copies a golden package into the scratch dir,
 * damages one thing, and checks that loading fails with a non-OK status and one message line
 * naming the file and the reason (ASan builds also check for crashes and leaks). */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coreml/coreml_int.h"
#include "test_coreml.h"

#define GOLD_A "a_conv1d_bias_fp32_ios15.mlpackage"

static void expect_fail(mk_test_ctx *tc, const char *path, mk_status code, const char *file,
                        const char *reason)
{
    mk_err e = {0};
    mk_program *p = (mk_program *)&e; /* must be reset to NULL */
    mk_status st = mk_program_load(path, NULL, &p, &e);
    CHECK_MSG(st != MK_OK, "%s: loaded although damaged", path);
    if (code != MK_OK)
        CHECK_MSG(st == code, "%s: status %d, expected %d (%s)", path, st, code, e.msg);
    CHECK(p == NULL);
    CHECK_MSG(strchr(e.msg, '\n') == NULL && e.msg[0], "message is not one line: %s", e.msg);
    if (file) CHECK_MSG(strstr(e.msg, file) != NULL, "message does not name %s: %s", file, e.msg);
    if (reason) CHECK_MSG(strstr(e.msg, reason) != NULL, "message lacks '%s': %s", reason, e.msg);
    if (st == MK_OK) mk_program_free(p);
}

static const char *copy_a(const char *as, char *buf, size_t n)
{
    return mk_test_golden_copy(GOLD_A, as, buf, n);
}

static int patch(const char *path, long off, const void *bytes, size_t n)
{
    unsigned char *d;
    size_t len;
    if (!mk_test_read_file(path, &d, &len)) return 0;
    int ok = off >= 0 && (size_t)off + n <= len;
    if (ok) memcpy(d + off, bytes, n);
    ok = ok && mk_test_write_file(path, d, len);
    free(d);
    return ok;
}

/* Offset of the first occurrence of needle in the file, -1 when absent. */
static long find(const char *path, const void *needle, size_t n)
{
    unsigned char *d;
    size_t len;
    long at = -1;
    if (!mk_test_read_file(path, &d, &len)) return -1;
    for (size_t i = 0; i + n <= len && at < 0; i++)
        if (memcmp(d + i, needle, n) == 0) at = (long)i;
    free(d);
    return at;
}

static void sub(char *out, size_t n, const char *pkg, const char *rel)
{
    snprintf(out, n, "%s/%s", pkg, rel);
}

#define MODEL "Data/com.apple.CoreML/model.mlmodel"
#define WEIGHTS "Data/com.apple.CoreML/weights/weight.bin"

TEST(coreml_bad_truncated_model)
{
    char pkg[1024], m[1200];
    if (!copy_a("bad_trunc.mlpackage", pkg, sizeof pkg)) SKIP("no shared dir with goldens");
    sub(m, sizeof m, pkg, MODEL);
    REQUIRE(truncate(m, 700) == 0);
    expect_fail(tc, pkg, MK_EINVAL, "model.mlmodel", "truncated");
    REQUIRE(truncate(m, 0) == 0);
    expect_fail(tc, pkg, MK_EINVAL, "model.mlmodel", "not an ML Program");
}

TEST(coreml_bad_corrupt_model)
{
    char pkg[1024], m[1200];
    if (!copy_a("bad_corrupt.mlpackage", pkg, sizeof pkg)) SKIP("no shared dir with goldens");
    sub(m, sizeof m, pkg, MODEL);
    unsigned char junk[64];
    memset(junk, 0xff, sizeof junk);
    REQUIRE(patch(m, 40, junk, sizeof junk));
    expect_fail(tc, pkg, MK_OK, "model.mlmodel", NULL);
    /* an unknown op type */
    REQUIRE(copy_a("bad_optype.mlpackage", pkg, sizeof pkg));
    sub(m, sizeof m, pkg, MODEL);
    long at = find(m,
                   "\x0a\x04"
                   "conv",
                   6);
    REQUIRE(at >= 0);
    REQUIRE(patch(m, at + 2, "cozv", 4));
    expect_fail(tc, pkg, MK_EUNSUPPORTED, "model.mlmodel", "unknown op type 'cozv'");
    /* a binding to a value that does not exist */
    REQUIRE(copy_a("bad_ref.mlpackage", pkg, sizeof pkg));
    sub(m, sizeof m, pkg, MODEL);
    at = find(m, "\x0a\x08y_bias_0", 10);
    long at2 = at >= 0 ? find(m,
                              "\x0a\x06"
                              "custom",
                              8)
                       : -1; /* keep the const's own name */
    REQUIRE(at >= 0 && at2 >= 0);
    unsigned char *d;
    size_t len;
    REQUIRE(mk_test_read_file(m, &d, &len));
    /* rename the argument binding (the last occurrence, inside conv's inputs) */
    long last = -1;
    for (size_t i = 0; i + 10 <= len; i++)
        if (memcmp(d + i, "\x0a\x08y_bias_0", 10) == 0) last = (long)i;
    free(d);
    REQUIRE(last > at);
    REQUIRE(patch(m, last + 2, "y_bias_9", 8));
    expect_fail(tc, pkg, MK_EINVAL, "model.mlmodel", "undefined value 'y_bias_9'");
}

TEST(coreml_bad_weights_missing_or_short)
{
    char pkg[1024], w[1200];
    if (!copy_a("bad_w1.mlpackage", pkg, sizeof pkg)) SKIP("no shared dir with goldens");
    sub(w, sizeof w, pkg, WEIGHTS);
    REQUIRE(unlink(w) == 0);
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "missing");
    REQUIRE(copy_a("bad_w2.mlpackage", pkg, sizeof pkg));
    sub(w, sizeof w, pkg, WEIGHTS);
    REQUIRE(truncate(w, 1000) == 0);
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "runs past the end");
    REQUIRE(truncate(w, 100) == 0);
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "offset 64 is past the end");
    REQUIRE(truncate(w, 32) == 0);
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "shorter than");
}

TEST(coreml_bad_blob_offset_past_end)
{
    char pkg[1024], m[1200];
    if (!copy_a("bad_off.mlpackage", pkg, sizeof pkg)) SKIP("no shared dir with goldens");
    sub(m, sizeof m, pkg, MODEL);
    /* the bias blob: fileName "...weight.bin" then offset 6272 = varint 80 31 */
    long at = find(m, "weight.bin\x10\x80\x31", 13);
    REQUIRE(at >= 0);
    REQUIRE(patch(m, at + 11, "\xc0\x7f", 2)); /* 16320 > file size 6464 */
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "offset 16320 is past the end");
    /* an offset inside the file that is not a blob record */
    REQUIRE(patch(m, at + 11, "\xc0\x01", 2)); /* 192: in the middle of the first payload */
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "sentinel");
}

TEST(coreml_bad_blob_header_fields)
{
    char pkg[1024], w[1200];
    if (!copy_a("bad_h1.mlpackage", pkg, sizeof pkg)) SKIP("no shared dir with goldens");
    sub(w, sizeof w, pkg, WEIGHTS);
    REQUIRE(patch(w, 64, "\xef\xbe\xad\xdf", 4));
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "sentinel 0xdfadbeef");
    REQUIRE(copy_a("bad_h2.mlpackage", pkg, sizeof pkg));
    sub(w, sizeof w, pkg, WEIGHTS);
    REQUIRE(patch(w, 68, "\x01", 1)); /* fp32 -> fp16 */
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "holds fp16 data");
    REQUIRE(copy_a("bad_h3.mlpackage", pkg, sizeof pkg));
    sub(w, sizeof w, pkg, WEIGHTS);
    REQUIRE(patch(w, 72, "\x04", 1)); /* sizeInBytes 6144 -> 6148 */
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "6148 bytes");
    REQUIRE(copy_a("bad_h4.mlpackage", pkg, sizeof pkg));
    sub(w, sizeof w, pkg, WEIGHTS);
    REQUIRE(patch(w, 4, "\x01", 1)); /* storage version 1 */
    expect_fail(tc, pkg, MK_EUNSUPPORTED, "weight.bin", "version 1");
    REQUIRE(copy_a("bad_h5.mlpackage", pkg, sizeof pkg));
    sub(w, sizeof w, pkg, WEIGHTS);
    REQUIRE(patch(w, 80 + 7, "\x80", 1)); /* data offset far beyond the file */
    expect_fail(tc, pkg, MK_EINVAL, "weight.bin", "past the end");
}

TEST(coreml_bad_manifest)
{
    char pkg[1024], man[1200];
    if (!copy_a("bad_man.mlpackage", pkg, sizeof pkg)) SKIP("no shared dir with goldens");
    sub(man, sizeof man, pkg, "Manifest.json");
    REQUIRE(mk_test_write_file(man, "{ not json", 10));
    expect_fail(tc, pkg, MK_EINVAL, "Manifest.json", "not valid JSON");
    const char *wrong = "{\"fileFormatVersion\": \"1.0.0\", \"itemInfoEntries\": {}, "
                        "\"rootModelIdentifier\": \"X\"}";
    REQUIRE(mk_test_write_file(man, wrong, strlen(wrong)));
    expect_fail(tc, pkg, MK_EINVAL, "Manifest.json", "not listed");
    const char *escape = "{\"fileFormatVersion\": \"1.0.0\", \"itemInfoEntries\": {\"X\": "
                         "{\"path\": \"../../etc/passwd\", \"name\": \"model.mlmodel\"}}, "
                         "\"rootModelIdentifier\": \"X\"}";
    REQUIRE(mk_test_write_file(man, escape, strlen(escape)));
    expect_fail(tc, pkg, MK_EINVAL, "Manifest.json", "bad path");
    const char *ver = "{\"fileFormatVersion\": \"2.0.0\"}";
    REQUIRE(mk_test_write_file(man, ver, strlen(ver)));
    expect_fail(tc, pkg, MK_EUNSUPPORTED, "Manifest.json", "fileFormatVersion");
    REQUIRE(unlink(man) == 0);
    expect_fail(tc, pkg, MK_EINVAL, "bad_man.mlpackage", "Manifest.json is missing");
}

TEST(coreml_bad_paths)
{
    char f[1024];
    snprintf(f, sizeof f, "%s/file.mlpackage", mk_test_tmpdir());
    REQUIRE(mk_test_write_file(f, "hello", 5));
    expect_fail(tc, f, MK_EINVAL, "file.mlpackage", "is a file");
    snprintf(f, sizeof f, "%s/nothing.mlpackage", mk_test_tmpdir());
    expect_fail(tc, f, MK_EIO, "nothing.mlpackage", "no such file");
    snprintf(f, sizeof f, "%s/text.mlmodel", mk_test_tmpdir());
    REQUIRE(mk_test_write_file(f, "this is not a protobuf\n", 23));
    expect_fail(tc, f, MK_OK, "text.mlmodel", NULL);
}

TEST(coreml_bad_neural_network_refused)
{
    char g[1024];
    if (!mk_test_golden("nn.mlmodel", g, sizeof g)) SKIP("no shared dir with goldens");
    expect_fail(tc, g, MK_EUNSUPPORTED, "nn.mlmodel",
                "a NeuralNetwork model, not an ML Program; milkit reads ML Programs only");
}

/* Text-format models encoded with protoc against our own .proto files. */
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

#define TT(dt)                                                                                     \
    "type { tensorType { dataType: " dt " rank: 1 dimensions { constant { size: 2 } } } }"

TEST(coreml_bad_unsupported_types)
{
    char out[1024], msg[256];
    if (mk_test_sh(msg, sizeof msg, "protoc --version") != 0 ||
        !mk_path_exists("proto/Model.proto"))
        SKIP("protoc or proto/ (run from the source root) not available");
    snprintf(out, sizeof out, "%s/list.mlmodel", mk_test_tmpdir());
    const char *list =
        "specificationVersion: 8 mlProgram { version: 1 functions { key: \"main\" value {"
        " inputs { name: \"x\" " TT(
            "FLOAT32") " } opset: \"CoreML7\""
                       " block_specializations { key: \"CoreML7\" value { outputs: \"y\""
                       " operations { type: \"identity\" inputs { key: \"x\" value { arguments { "
                       "name: \"x\" } } }"
                       " outputs { name: \"y\" type { listType { type { tupleType { } } } } } }"
                       " } } } } }";
    if (!encode(tc, list, out)) return;
    expect_fail(tc, out, MK_EUNSUPPORTED, "list.mlmodel", "list type");
    snprintf(out, sizeof out, "%s/spec5.mlmodel", mk_test_tmpdir());
    if (!encode(tc, "specificationVersion: 5 mlProgram { version: 1 }", out)) return;
    expect_fail(tc, out, MK_EUNSUPPORTED, "spec5.mlmodel", "specification version 5");
    snprintf(out, sizeof out, "%s/noblock.mlmodel", mk_test_tmpdir());
    if (!encode(tc,
                "specificationVersion: 8 mlProgram { version: 1 functions { key: \"main\" value {"
                " opset: \"CoreML7\" block_specializations { key: \"CoreML6\" value { } } } } }",
                out))
        return;
    expect_fail(tc, out, MK_EINVAL, "noblock.mlmodel", "no block for its opset 'CoreML7'");
    snprintf(out, sizeof out, "%s/count.mlmodel", mk_test_tmpdir());
    const char *count =
        "specificationVersion: 8 mlProgram { version: 1 functions { key: \"main\" value {"
        " opset: \"CoreML7\" block_specializations { key: \"CoreML7\" value { outputs: \"c\""
        " operations { type: \"const\" outputs { name: \"c\" " TT(
            "INT32") " }"
                     " attributes { key: \"val\" value { " TT(
                         "INT32") " immediateValue { tensor { ints { values: 1 values: 2 values: 3 "
                                  "} } } } } }"
                                  " } } } } }";
    if (!encode(tc, count, out)) return;
    expect_fail(tc, out, MK_EINVAL, "count.mlmodel", "3 values for 2 elements");
    snprintf(out, sizeof out, "%s/range.mlmodel", mk_test_tmpdir());
    const char *range =
        "specificationVersion: 8 mlProgram { version: 1 functions { key: \"main\" value {"
        " opset: \"CoreML7\" block_specializations { key: \"CoreML7\" value { outputs: \"c\""
        " operations { type: \"const\" outputs { name: \"c\" " TT(
            "INT8") " }"
                    " attributes { key: \"val\" value { " TT(
                        "INT8") " immediateValue { tensor { ints { values: 1 values: 300 } } } } } "
                                "}"
                                " } } } } }";
    if (!encode(tc, range, out)) return;
    expect_fail(tc, out, MK_EINVAL, "range.mlmodel", "out of range for int8");
}

/* Prefix buf[0..n) with a length-delimited tag for field; returns the new length. */
static size_t wrap(unsigned char *buf, size_t n, unsigned field)
{
    unsigned char hdr[16];
    size_t h = 0;
    for (uint64_t tag = (uint64_t)field << 3 | 2; tag > 0x7f; tag >>= 7)
        hdr[h++] = (unsigned char)((tag & 0x7f) | 0x80), hdr[h] = (unsigned char)(tag >> 7);
    if (h == 0) hdr[0] = (unsigned char)(field << 3 | 2);
    h++;
    size_t len = n;
    do {
        hdr[h++] = (unsigned char)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
        len >>= 7;
    } while (len);
    memmove(buf + h, buf, n);
    memcpy(buf, hdr, h);
    return n + h;
}

/* Block -> Operation -> Block -> ... nested far deeper than any real model: refused before
 * protobuf-c or the IR builder could recurse that deep. */
TEST(coreml_bad_deep_nesting)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    REQUIRE(buf);
    for (int level = 0; level < 1000; level++) {
        n = wrap(buf, n, 4); /* Operation.blocks */
        n = wrap(buf, n, 3); /* Block.operations */
    }
    CHECK(!mk_ml_depth_ok(&core_ml__specification__milspec__block__descriptor, buf, n,
                          MK_ML_MAX_DEPTH));
    n = wrap(buf, n, 2);   /* block_specializations entry value */
    n = wrap(buf, n, 3);   /* Function.block_specializations */
    n = wrap(buf, n, 2);   /* functions entry value */
    n = wrap(buf, n, 2);   /* Program.functions */
    n = wrap(buf, n, 502); /* Model.mlProgram */
    REQUIRE(n < cap);
    mk_err e = {0};
    mk_program *p = NULL;
    mk_status st = mk_ml_load_mem(buf, n, "deep.mlmodel", NULL, 0, NULL, &p, &e);
    CHECK_EQ_INT(st, MK_EINVAL);
    CHECK(p == NULL && strstr(e.msg, "deep.mlmodel") && strstr(e.msg, "nested deeper"));
    free(buf);
}

/* The fuzz seed corpus (and any crash reproducers added to it) through the reader and the
 * in-memory writer, so ordinary and ASan CI runs replay it. Same split as fuzz_package.c. */
TEST(coreml_fuzz_corpus_replays_clean)
{
    const char *dir = "tests/fuzz/corpus/package";
    char out[8192];
    if (!mk_path_is_dir(dir))
        SKIP("tests/fuzz/corpus/package not found (run from the source root)");
    REQUIRE(mk_test_sh(out, sizeof out, "ls '%s'", dir) == 0);
    int runs = 0, loaded = 0;
    for (char *name = strtok(out, "\n"); name; name = strtok(NULL, "\n")) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        unsigned char *d;
        size_t n;
        if (!mk_test_read_file(path, &d, &n)) continue;
        size_t spec_n = n, w_n = 0;
        for (size_t i = 0; i + 8 <= n; i++)
            if (memcmp(d + i, "MKWEIGHT", 8) == 0) {
                spec_n = i;
                w_n = n - i - 8;
                break;
            }
        unsigned char *w = spec_n < n ? malloc(w_n + 1) : NULL;
        if (w && w_n) memcpy(w, d + spec_n + 8, w_n);
        mk_err e = {0};
        mk_program *p = NULL;
        mk_status st = mk_ml_load_mem(d, spec_n, name, w, w_n, NULL, &p, &e);
        CHECK_MSG(st == MK_OK || (e.msg[0] && !strchr(e.msg, '\n')), "%s: bad failure", name);
        if (st == MK_OK) {
            uint8_t *enc;
            size_t en;
            mk_err we = {0};
            CHECK_MSG(mk_ml_encode(p, MK_TARGET_DEFAULT, &enc, &en, &we) == MK_OK, "%s: %s", name,
                      we.msg);
            if (!we.code) mk_free(p->alloc, enc, en);
            mk_ir_program_free(p);
            loaded++;
        }
        runs++;
        free(w);
        free(d);
    }
    CHECK(runs >= 5 && loaded >= 4);
}
