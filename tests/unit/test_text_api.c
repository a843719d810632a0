/* The string forms of reports (src/api/text.c): mk_program_info_string and mk_findings_string
 * give byte for byte what the FILE * writers print, for text and JSON / SARIF. */
#include <stdlib.h>

#include "test.h"
#include "milkit.h"

typedef mk_status (*writer)(const void *, int, FILE *, mk_err *);

static char *file_text(writer w, const void *o, int mode)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    mk_err e = {0};
    if (!f) return NULL;
    mk_status st = w(o, mode, f, &e);
    fclose(f);
    if (st) {
        free(buf);
        return NULL;
    }
    return buf;
}

static mk_status info_w(const void *p, int json, FILE *f, mk_err *e)
{
    return mk_program_info(p, f, json, e);
}

static mk_status findings_w(const void *x, int fmt, FILE *f, mk_err *e)
{
    return mk_findings_write(x, "m", (mk_format)fmt, f, e);
}

TEST(text_api_info_and_findings_equal_stream_output)
{
    const char *sh = mk_test_shared_dir();
    char path[1024];
    if (sh)
        snprintf(path, sizeof path, "%s/golden/%s", sh,
                 "c_convtranspose1d_768to384_k7s3p2_fp16_ios17.mlpackage");
    else
        snprintf(path, sizeof path, "examples/vocoder_upsampler.onnx");
    mk_program *p = NULL;
    mk_err e = {0};
    REQUIRE(mk_model_load(path, NULL, NULL, &p, &e) == MK_OK);
    for (int json = 0; json < 2; json++) {
        char *s = NULL, *want = file_text(info_w, p, json);
        CHECK(mk_program_info_string(p, json, &s, &e) == MK_OK);
        CHECK(s && want && strlen(s) > 20 && strcmp(s, want) == 0);
        mk_string_free(s);
        free(want);
    }
    mk_findings *f = NULL;
    REQUIRE(mk_lint(p, NULL, &f, &e) == MK_OK);
    CHECK(!sh || mk_findings_count(f) >= 1);
    for (int fmt = MK_FORMAT_TEXT; fmt <= MK_FORMAT_SARIF; fmt++) {
        char *s = NULL, *want = file_text(findings_w, f, fmt);
        CHECK(mk_findings_string(f, "m", (mk_format)fmt, &s, &e) == MK_OK);
        CHECK_MSG(s && want && strcmp(s, want) == 0, "format %d differs", fmt);
        mk_string_free(s);
        free(want);
    }
    mk_string_free(NULL);
    mk_findings_free(f);
    mk_program_free(p);
}
