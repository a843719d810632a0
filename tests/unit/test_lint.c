/* Lint rules: for every implemented hazard rule, a minimal program built in C that the rule
 * flags and a near miss it does not (test_lint_cases.h); plus the rule table, rule-list
 * parsing, output formats (text, JSON, SARIF 2.1.0), placement and the golden packages. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "lint/lint_int.h"
#include "test.h"
#include "test_lint_cases.h"
#include "test_fix_util.h"

static int count_rule(mk_program *p, const char *rule, int assume, int *fixable)
{
    rule_hits h;
    int n = lint_hits(p, rule, assume, NULL, &h);
    if (fixable) *fixable = h.n_fix > 0;
    return n;
}

static void run_case(mk_test_ctx *tc, const char *rule)
{
    int seen = 0;
    for (size_t k = 0; k < sizeof lint_cases / sizeof *lint_cases; k++) {
        const lcase *c = &lint_cases[k];
        if (strcmp(c->rule, rule) != 0) continue;
        seen = 1;
        for (int trig = 1; trig >= 0; trig--) {
            tb t;
            c->build(&t, trig);
            CHECK_MSG(!t.bad, "%s: building the %s program failed: %s", rule,
                      trig ? "trigger" : "near-miss", t.e.msg);
            if (t.bad) {
                mk_ir_program_free(t.p);
                continue;
            }
            int fixable = 0;
            int n = count_rule(t.p, rule, c->assume_fp16, &fixable);
            if (trig) {
                CHECK_MSG(n > 0, "%s: the trigger program is not flagged", rule);
                CHECK_MSG(!c->fixable || fixable, "%s: the finding offers no fix", rule);
            } else {
                CHECK_MSG(n == 0, "%s: the near miss is flagged %d time(s)", rule, n);
            }
            mk_ir_program_free(t.p);
        }
    }
    CHECK_MSG(seen, "%s: no test case", rule);
}

#define LINT_TEST(r)                                                                               \
    TEST(lint_rule_##r)                                                                            \
    {                                                                                              \
        run_case(tc, #r);                                                                          \
    }
LINT_TEST(H1)
LINT_TEST(H2)
LINT_TEST(H3)
LINT_TEST(H4)
LINT_TEST(H5)
LINT_TEST(H6)
LINT_TEST(H7)
LINT_TEST(H8)
LINT_TEST(H9)
LINT_TEST(H10)
LINT_TEST(H11)
LINT_TEST(H12)
LINT_TEST(H13)
LINT_TEST(H14)
LINT_TEST(H15)
LINT_TEST(H16)
LINT_TEST(H17)
LINT_TEST(H18)
LINT_TEST(H19)
LINT_TEST(H20)
LINT_TEST(H21)
LINT_TEST(H22)
LINT_TEST(H23)
LINT_TEST(H24)
LINT_TEST(H25)
LINT_TEST(H27)
LINT_TEST(H28)
LINT_TEST(H29)
LINT_TEST(H32)
LINT_TEST(H33)
LINT_TEST(H35)
LINT_TEST(H36)
LINT_TEST(H37)
LINT_TEST(H39)

TEST(lint_rule_table_covers_required_ids)
{
    static const char *const need[] = {"H1",  "H2",  "H3",  "H4",  "H5",  "H6",  "H7",  "H8",
                                       "H9",  "H10", "H11", "H12", "H13", "H14", "H15", "H16",
                                       "H17", "H18", "H19", "H20", "H21", "H22", "H25", "H27",
                                       "H29", "H30", "H31", "H32", "H33", "H34", "H35"};
    for (size_t i = 0; i < sizeof need / sizeof *need; i++) {
        const mk_lint_rule *r = mk_lint_rule_find(need[i]);
        CHECK_MSG(r != NULL, "rule %s missing", need[i]);
        if (!r) continue;
        CHECK(r->title && r->category && r->evidence && r->units);
    }
    CHECK(mk_lint_rule_find("H1")->severity == MK_SEV_ERROR);
    CHECK(mk_lint_rule_find("H4")->severity == MK_SEV_WARNING);
    CHECK(mk_lint_rule_find("H25")->severity == MK_SEV_INFO);
    CHECK(mk_lint_rule_find("H99") == NULL);
    int n = mk_lint_rule_count();
    CHECK(n >= 31);
    CHECK(mk_lint_rule_at(n) == NULL);
}

TEST(lint_placement_table_has_every_op)
{
    for (int k = 0; k < MK_OP__COUNT; k++)
        CHECK_MSG(mk_lint_placement_known((mk_op_kind)k), "op %s has no placement entry",
                  mk_ir_op_info((mk_op_kind)k)->name);
}

TEST(lint_rule_lists_and_only_skip)
{
    CHECK(mk_rule_list_has("H1,H4", "H4"));
    CHECK(mk_rule_list_has("h1, h4", "H1"));
    CHECK(!mk_rule_list_has("H14", "H1"));
    CHECK(!mk_rule_list_has(NULL, "H1"));
    tb t;
    c_h1(&t, 1);
    REQUIRE(!t.bad);
    mk_lint_options o = {MK_TARGET_DEFAULT, 0, "H3", NULL};
    mk_findings *f = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_lint(t.p, &o, &f, &e) == MK_OK);
    CHECK_EQ_INT(mk_findings_count_rule(f, "H1"), 0);
    mk_findings_free(f);
    o.only = NULL;
    o.skip = "H1";
    REQUIRE(mk_lint(t.p, &o, &f, &e) == MK_OK);
    CHECK_EQ_INT(mk_findings_count_rule(f, "H1"), 0);
    mk_findings_free(f);
    o.skip = NULL;
    REQUIRE(mk_lint(t.p, &o, &f, &e) == MK_OK);
    CHECK(mk_findings_count_rule(f, "H1") == 1);
    const mk_finding *x = NULL;
    for (int i = 0; i < mk_findings_count(f); i++)
        if (!strcmp(mk_findings_at(f, i)->rule, "H1")) x = mk_findings_at(f, i);
    REQUIRE(x);
    CHECK_STR(x->op_type, "conv_transpose");
    CHECK_STR(x->function, "main");
    CHECK_STR(x->block, "main");
    CHECK(x->op_index >= 0 && x->message[0]);
    CHECK_STR(x->fix, "fix_conv_transpose_1d");
    mk_findings_free(f);
    mk_ir_program_free(t.p);
}

static char *write_to_string(const mk_findings *f, mk_format fmt)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    mk_err e = {MK_OK, ""};
    if (!m) return NULL;
    mk_status st = mk_findings_write(f, "model.mlpackage", fmt, m, &e);
    fclose(m);
    if (st != MK_OK) {
        free(buf);
        return NULL;
    }
    return buf;
}

TEST(lint_output_formats_text_json_sarif)
{
    tb t;
    c_h7(&t, 1);
    REQUIRE(!t.bad);
    mk_findings *f = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_lint(t.p, NULL, &f, &e) == MK_OK);
    char *txt = write_to_string(f, MK_FORMAT_TEXT);
    REQUIRE(txt);
    CHECK(strstr(txt, "error H7") != NULL);
    CHECK(strstr(txt, "fix_pow") != NULL);
    free(txt);
    char *js = write_to_string(f, MK_FORMAT_JSON);
    REQUIRE(js);
    cJSON *root = cJSON_Parse(js);
    REQUIRE(root);
    cJSON *arr = cJSON_GetObjectItem(root, "findings");
    CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) == mk_findings_count(f));
    int h7 = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, arr) h7 += !strcmp(cJSON_GetObjectItem(it, "rule")->valuestring, "H7");
    CHECK_EQ_INT(h7, 1);
    cJSON_Delete(root);
    free(js);
    char *sa = write_to_string(f, MK_FORMAT_SARIF);
    REQUIRE(sa);
    root = cJSON_Parse(sa);
    REQUIRE(root);
    CHECK_STR(cJSON_GetObjectItem(root, "version")->valuestring, "2.1.0");
    cJSON *run = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "runs"), 0);
    REQUIRE(run);
    cJSON *rules = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(run, "tool"), "driver"), "rules");
    CHECK_EQ_INT(cJSON_GetArraySize(rules), mk_lint_rule_count());
    cJSON *res = cJSON_GetObjectItem(run, "results");
    CHECK_EQ_INT(cJSON_GetArraySize(res), mk_findings_count(f));
    cJSON_ArrayForEach(it, res)
    {
        int idx = cJSON_GetObjectItem(it, "ruleIndex")->valueint;
        const char *id = cJSON_GetObjectItem(it, "ruleId")->valuestring;
        cJSON *r = cJSON_GetArrayItem(rules, idx);
        CHECK(r && !strcmp(cJSON_GetObjectItem(r, "id")->valuestring, id));
        const char *lvl = cJSON_GetObjectItem(it, "level")->valuestring;
        CHECK(!strcmp(lvl, "error") || !strcmp(lvl, "warning") || !strcmp(lvl, "note"));
    }
    cJSON_Delete(root);
    free(sa);
    mk_findings_free(f);
    mk_ir_program_free(t.p);
}

TEST(lint_placement_segments_around_cpu_ops)
{
    /* fp16: cast -> relu -> cumsum -> relu: the cumsum is off NE and cuts three segments */
    tb t;
    tb_init(&t, 8);
    mk_value *x = tb_x(&t, 1, DIMS(1, 4, 8));
    mk_value *r = tb_op(&t, MK_OP_RELU, "r", "x", x, NULL);
    mk_value *c = tb_op(&t, MK_OP_CUMSUM, "c", "x", r, "axis", tb_int(&t, 2), NULL);
    tb_out(&t, tb_op(&t, MK_OP_RELU, "y", "x", c, NULL));
    REQUIRE(!t.bad);
    mk_placement_summary s;
    mk_err e = {MK_OK, ""};
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    REQUIRE(m);
    REQUIRE(mk_placement_write(t.p, m, 0, &s, &e) == MK_OK);
    fclose(m);
    CHECK_EQ_INT(s.n_ops, 4);
    CHECK_EQ_INT(s.n_off_ne, 1);
    CHECK_EQ_INT(s.n_segments, 3);
    CHECK_EQ_INT(s.n_boundary, 2);
    CHECK(buf && strstr(buf, "not a measurement") && strstr(buf, "H4"));
    free(buf);
    /* an fp32 program: every float op is off the Neural Engine (H19) */
    tb u;
    c_h19(&u, 1);
    REQUIRE(!u.bad);
    REQUIRE(mk_placement_write(u.p, NULL, 0, &s, &e) == MK_OK);
    CHECK_EQ_INT(s.n_off_ne, s.n_ops);
    mk_ir_program_free(u.p);
    mk_ir_program_free(t.p);
}

TEST(lint_dot_marks_findings_and_off_ne)
{
    tb t;
    c_h1(&t, 1);
    REQUIRE(!t.bad);
    mk_findings *f = NULL;
    mk_err e = {MK_OK, ""};
    REQUIRE(mk_lint(t.p, NULL, &f, &e) == MK_OK);
    char *buf = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&buf, &n);
    REQUIRE(m);
    CHECK(mk_program_dot(t.p, f, m, &e) == MK_OK);
    fclose(m);
    CHECK(buf && strstr(buf, "digraph") && strstr(buf, "color=red") &&
          strstr(buf, "fillcolor=grey80") && strstr(buf, "H1"));
    free(buf);
    mk_findings_free(f);
    mk_ir_program_free(t.p);
}

TEST(lint_golden_conv_transpose_and_cumsum_flagged)
{
    const char *sh = mk_test_shared_dir();
    if (!sh) SKIP("shared reference dir (../shared) not present");
    static const struct {
        const char *pkg, *rule;
    } g[] = {{"b_convtranspose1d_768to384_k7s3p2_fp32_ios17.mlpackage", "H1"},
             {"c_convtranspose1d_768to384_k7s3p2_fp16_ios17.mlpackage", "H1"},
             {"c_convtranspose1d_768to384_k7s3p2_fp16_ios17.mlpackage", "H3"},
             {"e_cumsum_fp32_ios17.mlpackage", "H4"},
             {"f1_int8_affine_dequantize_fp32_ios16.mlpackage", "H31"},
             {"flex.mlpackage", "H18"}};
    for (size_t i = 0; i < sizeof g / sizeof *g; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/golden/%s", sh, g[i].pkg);
        mk_program *p = NULL;
        mk_err e = {MK_OK, ""};
        if (mk_program_load(path, NULL, &p, &e) != MK_OK) {
            CHECK_MSG(0, "%s: %s", g[i].pkg, e.msg);
            continue;
        }
        int fixable = 0, want_fix = !strcmp(g[i].rule, "H1") || !strcmp(g[i].rule, "H3") ||
                                    !strcmp(g[i].pkg, "e_cumsum_fp32_ios17.mlpackage");
        CHECK_MSG(count_rule(p, g[i].rule, 0, &fixable) > 0, "%s not flagged %s", g[i].pkg,
                  g[i].rule);
        CHECK_MSG(fixable == want_fix, "%s: %s fix offered %d", g[i].pkg, g[i].rule, fixable);
        mk_program_free(p);
    }
    /* H3 is an fp16 hazard: the fp32 twin of c_ (same output_shape) is not flagged */
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/b_convtranspose1d_768to384_k7s3p2_fp32_ios17.mlpackage",
             sh);
    mk_program *p = NULL;
    mk_err e = {MK_OK, ""};
    CHECK_MSG(mk_program_load(path, NULL, &p, &e) == MK_OK, "%s", e.msg);
    REQUIRE(p);
    CHECK_EQ_INT(count_rule(p, "H3", 0, NULL), 0);
    CHECK_MSG(count_rule(p, "H3", 1, NULL) > 0, "H3 not flagged with --assume-fp16");
    mk_program_free(p);
}

TEST(lint_rule_H30_weight_size)
{
    /* a 2.1 GB int8 constant whose payload is never read (type and byte count only) */
    static int8_t small[16];
    for (int big = 1; big >= 0; big--) {
        tb t;
        tb_init(&t, 8);
        mk_value *x = tb_x(&t, 0, DIMS(1, 16));
        int64_t d[2] = {big ? 65536 : 4, big ? 32769 : 4};
        mk_type ty = mk_type_make(MK_DT_INT8, 2, d);
        mk_value *w = mk_ir_const(t.p, t.b, "huge", &ty, small, (size_t)d[0] * (size_t)d[1], 1);
        REQUIRE(w && !t.bad);
        tb_out(&t, tb_op(&t, MK_OP_RELU, "y", "x", x, NULL));
        REQUIRE(!t.bad);
        CHECK_EQ_INT(count_rule(t.p, "H30", 0, NULL), big);
        mk_ir_program_free(t.p);
    }
}
