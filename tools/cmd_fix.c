/* `milkit fix MODEL -o OUT.mlpackage [--only H1,H4] [--skip H25] ...`: rewrite hazards,
 * verify with the interpreter that the outputs did not change, then write the package and
 * print the table (rule, pass, ops changed, verified max error). Parsing and printing only;
 * the rewrites live in src/passes, the checking in src/api/fix.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: milkit fix MODEL -o OUT.mlpackage [--only H1,H4] [--skip H25] [--ane-layout]\n"
            "                  [--assume-fp16] [-i in.npz | -i name=x.npy ...] [--seed N]\n"
            "                  [--atol A --rtol R] [--target iosNN] [--shape name=dims]\n"
            "                  [--bind name=V] [--no-verify]\n"
            "  applies the fixes of `milkit lint` findings, runs the interpreter on the original\n"
            "  and the fixed model (seeded random inputs, plus -i inputs) and refuses to write\n"
            "  when any output differs beyond |a-b| <= atol + rtol*|a| (default 1e-4, 1e-3; 1e-2, "
            "1e-2\n"
            "  for programs that compute in fp16).\n"
            "  --ane-layout   also apply opt-in layout rewrites (H25: linear -> 1x1 conv)\n"
            "  --only H17     opt-in fixes run when --only names them; H17 (avg_pool ceil_mode)\n"
            "                 is checked against the source framework's semantics (row H17*);\n"
            "                 an unknown rule id in --only/--skip is an error\n"
            "exit status: 0 written, 1 verification failed (nothing written), 2 error\n");
}

int mk_cmd_fix(int argc, char **argv)
{
    const char *path = NULL, *outp = NULL, *target = NULL;
    cli_model_opts mo = {0};
    const char **specs = calloc((size_t)argc, sizeof *specs);
    int n_specs = 0, r;
    mk_fix_options fo;
    memset(&fo, 0, sizeof fo);
    fo.seed = 1;
    mk_tensor_list inputs = {0, NULL};
    mk_err err = {MK_OK, ""};
    int rc = 2;
    if (!specs) return cli_fail("fix", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (cli_is_help(a)) {
            usage(stdout);
            rc = 0;
            goto done;
        } else if (!strcmp(a, "--ane-layout")) {
            fo.ane_layout = 1;
        } else if (!strcmp(a, "--assume-fp16")) {
            fo.assume_fp16 = 1;
        } else if (!strcmp(a, "--no-verify")) {
            fo.no_verify = 1;
        } else if ((v = cli_opt(argc, argv, &i, "-o", &missing))) {
            outp = v;
        } else if ((v = cli_opt(argc, argv, &i, "--only", &missing))) {
            fo.only = v;
        } else if ((v = cli_opt(argc, argv, &i, "--skip", &missing))) {
            fo.skip = v;
        } else if ((v = cli_opt(argc, argv, &i, "--target", &missing))) {
            target = v;
        } else if (!missing && (r = cli_model_opt("fix", argc, argv, &i, &mo))) {
            if (r == 2) goto done;
        } else if ((v = cli_opt(argc, argv, &i, "--seed", &missing))) {
            fo.seed = strtoull(v, NULL, 10);
        } else if ((v = cli_opt(argc, argv, &i, "--atol", &missing))) {
            fo.atol = strtod(v, NULL);
        } else if ((v = cli_opt(argc, argv, &i, "--rtol", &missing))) {
            fo.rtol = strtod(v, NULL);
        } else if ((v = cli_opt(argc, argv, &i, "-i", &missing))) {
            specs[n_specs++] = v;
        } else if (missing) {
            rc = cli_fail("fix", "%s needs a value", a);
            goto done;
        } else if (a[0] == '-') {
            usage(stderr);
            rc = cli_fail("fix", "unknown option '%s'", a);
            goto done;
        } else if (!path) {
            path = a;
        } else {
            rc = cli_fail("fix", "more than one model given ('%s')", a);
            goto done;
        }
    }
    mk_program *p = NULL, *q = NULL;
    mk_target t = MK_TARGET_DEFAULT;
    if (!path || !outp) {
        usage(stderr);
        rc = cli_fail("fix", !path ? "no model given" : "no output given (-o OUT.mlpackage)");
        goto done;
    }
    if (target && (t = mk_target_parse(target)) == MK_TARGET_DEFAULT) {
        rc = cli_fail("fix", "unknown target '%s' (ios15..ios18)", target);
        goto done;
    }
    if (mk_rule_list_check(fo.only, "--only", &err) != MK_OK ||
        mk_rule_list_check(fo.skip, "--skip", &err) != MK_OK) {
        rc = cli_fail_err("fix", &err);
        goto done;
    }
    mk_fix_report rep;
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    co.target = t;
    cli_model_apply(&mo, &co);
    if (n_specs) fo.inputs = &inputs; /* filled below, checked against the model */
    if (mk_model_load(path, &co, NULL, &p, &err) != MK_OK ||
        (n_specs && mk_tensors_load_for(p, n_specs, specs, &inputs, &err) != MK_OK)) {
        rc = cli_fail_err("fix", &err);
    } else if (mk_fix(p, &fo, &q, &rep, &err) != MK_OK) {
        rc = cli_fail_err("fix", &err);
        if (err.code == MK_EMISMATCH) rc = 1;
    } else {
        mk_fix_report_write(&rep, stdout);
        if (mk_program_save(q, outp, t, &err) != MK_OK) {
            rc = cli_fail_err("fix", &err);
        } else {
            mk_lint_options lo = {t, fo.assume_fp16, NULL, NULL};
            mk_findings *f = NULL;
            if (mk_lint(q, &lo, &f, &err) == MK_OK)
                printf("wrote %s; %d finding%s (milkit lint %s)\n", outp, mk_findings_count(f),
                       mk_findings_count(f) == 1 ? " remains" : "s remain", outp);
            mk_findings_free(f);
            rc = 0;
        }
    }
    mk_program_free(q);
    mk_program_free(p);
done:
    mk_tensor_list_free(&inputs);
    free(specs);
    return rc;
}
