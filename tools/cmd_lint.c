/* `milkit lint MODEL [--json | --sarif] [--target iosNN] [--placement] ...`: report Core ML
 * hazards (docs/hazards.md ids) in an .mlpackage, .mlmodel or .onnx (judged as `milkit convert`
 * would write it). Exit 0 clean or info only, 1 warnings/errors, 2 error. Parsing and printing
 * only; the rules live in src/lint. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: milkit lint MODEL [--json | --sarif] [--target iosNN] [--placement]\n"
            "                   [--assume-fp16] [--only H1,H4] [--skip H25] [--shape name=dims]\n"
            "                   [--precision fp16|fp32] [--no-fix] [--list-rules]\n"
            "  MODEL          .mlpackage or .mlmodel (linted as written), or .onnx: linted as\n"
            "                 `milkit convert` would write it with its defaults (fp16 compute,\n"
            "                 hazard fixes applied), so findings are what the package would\n"
            "                 still have\n"
            "  --precision    .onnx only: fp32 lints the --precision fp32 conversion instead\n"
            "  --no-fix       .onnx only: lint the conversion without fixes (as convert --no-fix;\n"
            "                 with --precision fp32 that is the model as imported)\n"
            "  --json/--sarif print findings as JSON or SARIF 2.1.0 (default: text)\n"
            "  --target       check against this opset (ios15..ios18) instead of the model's\n"
            "  --placement    predict which ops run off the Neural Engine and the segments they\n"
            "                 cut, before and after `milkit fix` (a prediction from published\n"
            "                 evidence, not a measurement; printed to stderr with --json/--sarif)\n"
            "  --assume-fp16  also check fp16 hazards (H3, H9-H14) in an fp32 model\n"
            "  --only/--skip  comma lists of rule ids; an unknown id is an error\n"
            "  --list-rules   print the rule table and exit\n"
            "  -i SPEC        input tensors whose shapes fix an .onnx model's dynamic dims\n"
            "exit status: 0 no findings or only info findings, 1 a warning or error finding,\n"
            "             2 error\n");
}

static void list_rules(void)
{
    for (int i = 0; i < mk_lint_rule_count(); i++) {
        const mk_lint_rule *r = mk_lint_rule_at(i);
        printf("%-4s %-7s %-19s %s [%s%s]\n", r->id, mk_severity_name(r->severity), r->category,
               r->title, r->fix ? r->fix : "no safe rewrite", r->opt_in ? ", opt-in" : "");
    }
}

static int placement(const mk_program *p, int assume_fp16, FILE *out)
{
    mk_err err = {MK_OK, ""};
    mk_placement_summary before, after;
    if (mk_placement_write(p, out, 0, &before, &err) != MK_OK) return cli_fail_err("lint", &err);
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.no_verify = 1;
    fo.assume_fp16 = assume_fp16;
    mk_program *q = NULL;
    if (mk_fix(p, &fo, &q, NULL, &err) != MK_OK) {
        fprintf(out, "after fix: not available (%s)\n", err.msg);
        return 0;
    }
    mk_status st = mk_placement_write(q, NULL, 0, &after, &err);
    mk_program_free(q);
    if (st != MK_OK) return cli_fail_err("lint", &err);
    fprintf(out,
            "after `milkit fix` (predicted): %d ops off the Neural Engine (was %d), %d "
            "segment%s (was %d)\n",
            after.n_off_ne, before.n_off_ne, after.n_segments, after.n_segments == 1 ? "" : "s",
            before.n_segments);
    return 0;
}

int mk_cmd_lint(int argc, char **argv)
{
    const char *path = NULL, *only = NULL, *skip = NULL, *target = NULL, *precision = NULL;
    cli_model_opts mo = {0};
    int want_place = 0, assume = 0, no_fix = 0, r;
    const char *specs[CLI_MODEL_MAX];
    int n_specs = 0;
    mk_format fmt = MK_FORMAT_TEXT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            fmt = MK_FORMAT_JSON;
        } else if (!strcmp(a, "--sarif")) {
            fmt = MK_FORMAT_SARIF;
        } else if (!strcmp(a, "--placement")) {
            want_place = 1;
        } else if (!strcmp(a, "--assume-fp16")) {
            assume = 1;
        } else if (!strcmp(a, "--no-fix")) {
            no_fix = 1;
        } else if (!strcmp(a, "--list-rules")) {
            list_rules();
            return 0;
        } else if ((v = cli_opt(argc, argv, &i, "--target", &missing))) {
            target = v;
        } else if ((v = cli_opt(argc, argv, &i, "--precision", &missing))) {
            precision = v;
        } else if ((v = cli_opt(argc, argv, &i, "--only", &missing))) {
            only = v;
        } else if ((v = cli_opt(argc, argv, &i, "--skip", &missing))) {
            skip = v;
        } else if ((v = cli_opt(argc, argv, &i, "-i", &missing)) ||
                   (!missing && (v = cli_opt(argc, argv, &i, "--input", &missing)))) {
            if (n_specs == CLI_MODEL_MAX) return cli_fail("lint", "too many -i options");
            specs[n_specs++] = v;
        } else if (!missing && (r = cli_model_opt("lint", argc, argv, &i, &mo))) {
            if (r == 2) return 2;
        } else if (missing) {
            return cli_fail("lint", "%s needs a value", a);
        } else if (a[0] == '-') {
            usage(stderr);
            return cli_fail("lint", "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_fail("lint", "more than one model given ('%s')", a);
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    mk_target t = MK_TARGET_DEFAULT;
    mk_err err = {MK_OK, ""};
    if (target && (t = mk_target_parse(target)) == MK_TARGET_DEFAULT)
        return cli_fail("lint", "unknown target '%s' (ios15..ios18)", target);
    if (mk_rule_list_check(only, "--only", &err) != MK_OK ||
        mk_rule_list_check(skip, "--skip", &err) != MK_OK)
        return cli_fail_err("lint", &err);
    size_t n = strlen(path);
    int onnx = n >= 5 && !strcmp(path + n - 5, ".onnx");
    if (precision && strcmp(precision, "fp16") != 0 && strcmp(precision, "fp32") != 0)
        return cli_fail("lint", "unknown precision '%s' (fp16, fp32)", precision);
    if ((precision || no_fix) && !onnx)
        return cli_fail("lint", "%s applies to .onnx models; %s is linted as written",
                        precision ? "--precision" : "--no-fix", path);
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = t;
    cli_model_apply(&mo, &co);
    mk_program *p = NULL, *conv = NULL;
    mk_tensor_list ins = {0, NULL};
    if (cli_input_shapes("lint", n_specs, specs, &ins)) return 2;
    co.shape_from = &ins;
    mk_status ls = mk_model_load(path, &co, NULL, &p, &err);
    mk_tensor_list_free(&ins);
    if (ls != MK_OK) return cli_fail_err("lint", &err);
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fix = !no_fix;
    po.fp16 = !precision || !strcmp(precision, "fp16");
    if (onnx && mk_program_as_converted(p, &po, t, &conv, &err) != MK_OK) {
        mk_program_free(p);
        return cli_fail("lint", "%s: converting as `milkit convert` would: %s", path, err.msg);
    }
    /* a package Core ML's loader refuses is reported, and its hazards still listed */
    int invalid = !onnx && mk_program_verify(p, &err) != MK_OK;
    if (invalid)
        fprintf(
            stderr,
            "milkit lint: %s: error: not a valid ML Program (Core ML's loader refuses it): %s\n",
            path, err.msg);
    const mk_program *view = conv ? conv : p;
    mk_lint_options lo = {t, assume, only, skip};
    mk_findings *f = NULL;
    int rc = 2;
    if (mk_lint(view, &lo, &f, &err) != MK_OK ||
        mk_findings_write(f, path, fmt, stdout, &err) != MK_OK) {
        rc = cli_fail_err("lint", &err);
    } else {
        rc = mk_findings_worst(f) >= MK_SEV_WARNING || invalid ? 1 : 0;
        if (want_place && placement(view, assume, fmt == MK_FORMAT_TEXT ? stdout : stderr) == 2)
            rc = 2;
    }
    mk_findings_free(f);
    mk_program_free(conv);
    mk_program_free(p);
    return rc;
}
