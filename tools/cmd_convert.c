/* `milkit convert IN -o OUT.mlpackage`: ONNX or Core ML model in, ML Program package out,
 * with the hazard fixes applied by default. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: milkit convert IN -o OUT.mlpackage [options]\n"
    "  IN                     an .onnx model, or an .mlpackage/.mlmodel to round-trip or "
    "re-target\n"
    "  -o, --output PATH      the package to write (written atomically)\n"
    "  --target iosNN         ios15 | ios16 | ios17 | ios18 (default: ios15 for ONNX, the\n"
    "                         package's own otherwise)\n"
    "  --shape NAME=DIMS      fix an input's shape: 1,3,640,640; or a flexible range per dim:\n"
    "                         1,3,32..1024,32..1024 (repeatable)\n"
    "  --bind NAME=VALUE      bake an input into the graph as a constant: a scalar, or\n"
    "                         @file.npy for a tensor (repeatable); its branches fold\n"
    "  --precision fp16|fp32  compute precision (default fp16, as the Neural Engine needs; ops\n"
    "                         whose fp16 form the target does not accept stay fp32)\n"
    "  --weights int8         store weights as int8 with per-channel scales\n"
    "  --no-fix               do not rewrite Core ML hazards (see milkit lint)\n"
    "  --name, --author, --description, --license, --version TEXT   model metadata\n"
    "  -v, --verbose          print the input/output name mapping, each fix and stage times\n"
    "Exit 0 ok, 2 error (nothing is written on error).\n";

int mk_cmd_convert(int argc, char **argv)
{
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    const char *in = NULL, *out = NULL, *target = NULL, *precision = NULL, *weights = NULL;
    cli_model_opts mo = {0};
    int no_fix = 0, rc = 2, r;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            rc = 0;
            goto done;
        } else if ((v = cli_opt(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_opt(argc, argv, &i, "--output", &missing))) {
            out = v;
        } else if ((v = cli_opt(argc, argv, &i, "--target", &missing))) {
            target = v;
        } else if (!missing && (r = cli_model_opt("convert", argc, argv, &i, &mo))) {
            if (r == 2) goto done;
        } else if ((v = cli_opt(argc, argv, &i, "--precision", &missing))) {
            precision = v;
        } else if ((v = cli_opt(argc, argv, &i, "--weights", &missing))) {
            weights = v;
        } else if ((v = cli_opt(argc, argv, &i, "--name", &missing))) {
            o.name = v;
        } else if ((v = cli_opt(argc, argv, &i, "--author", &missing))) {
            o.author = v;
        } else if ((v = cli_opt(argc, argv, &i, "--description", &missing))) {
            o.description = v;
        } else if ((v = cli_opt(argc, argv, &i, "--license", &missing))) {
            o.license = v;
        } else if ((v = cli_opt(argc, argv, &i, "--version", &missing))) {
            o.version = v;
        } else if (strcmp(argv[i], "--no-fix") == 0) {
            no_fix = 1;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            o.verbose = 1;
        } else if (missing) {
            rc = cli_fail("convert", "option '%s' needs a value (see --help)", argv[i]);
            goto done;
        } else if (argv[i][0] == '-') {
            rc = cli_fail("convert", "unknown option '%s' (see --help)", argv[i]);
            goto done;
        } else if (!in) {
            in = argv[i];
        } else {
            rc = cli_fail("convert", "more than one input model given (see --help)");
            goto done;
        }
        if (missing) {
            rc = cli_fail("convert", "option '%s' needs a value (see --help)", argv[i]);
            goto done;
        }
    }
    if (!in || !out) {
        rc = cli_fail("convert", "need an input model and -o OUT.mlpackage (see --help)");
        goto done;
    }
    if (target && (o.target = mk_target_parse(target)) == MK_TARGET_DEFAULT) {
        rc = cli_fail("convert", "unknown target '%s' (ios15, ios16, ios17, ios18)", target);
        goto done;
    }
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fp16 = 1;
    if (precision && strcmp(precision, "fp32") == 0)
        po.fp16 = 0;
    else if (precision && strcmp(precision, "fp16") != 0) {
        rc = cli_fail("convert", "unknown precision '%s' (fp16, fp32)", precision);
        goto done;
    }
    if (weights && strcmp(weights, "int8") == 0)
        po.int8_weights = 1;
    else if (weights) {
        rc = cli_fail("convert", "unknown weight format '%s' (int8)", weights);
        goto done;
    }
    po.fix = !no_fix;
    po.verbose = o.verbose;
    cli_model_apply(&mo, &o);
    o.progress = isatty(2);
    mk_err e = {0};
    mk_convert_report rep;
    if (mk_convert(in, out, &o, &po, &rep, &e) != MK_OK) {
        rc = cli_fail_err("convert", &e);
        goto done;
    }
    fprintf(stderr, "milkit convert: wrote %s (%s, %d ops", out, mk_target_name(rep.target),
            rep.n_ops);
    if (po.fix)
        fprintf(stderr, "; fixes: %s", rep.fix_summary[0] ? rep.fix_summary : "none needed");
    if (po.fp16) fprintf(stderr, "; fp16: %d ops, %d kept fp32", rep.n_fp16_ops, rep.n_fp32_ops);
    if (po.int8_weights)
        fprintf(stderr, "; weights %llu -> %llu bytes", rep.weight_bytes_before, rep.weight_bytes);
    fprintf(stderr, ")\n");
    if (o.verbose)
        fprintf(stderr, "milkit convert: load %.1f ms, fixes %.1f ms, precision %.1f ms, "
                "write %.1f ms\n", rep.ms_load, rep.ms_fix, rep.ms_precision, rep.ms_write);
    rc = 0;
done:
    return rc;
}
