/* `milkit graph MODEL --dot [-o out.dot]`: the main function as a Graphviz digraph, with
 * lint findings outlined (red error, orange warning, blue info) and ops predicted off the
 * Neural Engine filled grey. Parsing and printing only. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: milkit graph MODEL --dot [-o out.dot] [--assume-fp16] [--shape ..] [--bind ..]\n"
           "  writes Graphviz dot (render with: dot -Tsvg out.dot > out.svg)\n" CLI_MODEL_HELP);
}

int mk_cmd_graph(int argc, char **argv)
{
    const char *path = NULL, *outp = NULL;
    int dot = 0, assume = 0, r;
    cli_model_opts mo = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--dot")) {
            dot = 1;
        } else if (!strcmp(a, "--assume-fp16")) {
            assume = 1;
        } else if ((v = cli_opt(argc, argv, &i, "-o", &missing))) {
            outp = v;
        } else if (!missing && (r = cli_model_opt("graph", argc, argv, &i, &mo))) {
            if (r == 2) return 2;
        } else if (missing) {
            return cli_fail("graph", "%s needs a value", a);
        } else if (a[0] == '-') {
            return cli_fail("graph", "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_fail("graph", "more than one model given ('%s')", a);
        }
    }
    if (!path || !dot) {
        usage(stderr);
        return cli_fail("graph", !path ? "no model given" : "only --dot output exists");
    }
    mk_err err = {MK_OK, ""};
    mk_program *p = NULL;
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    cli_model_apply(&mo, &co);
    if (mk_model_load(path, &co, NULL, &p, &err) != MK_OK) return cli_fail_err("graph", &err);
    mk_lint_options lo = {MK_TARGET_DEFAULT, assume, NULL, NULL};
    mk_findings *f = NULL;
    FILE *out = stdout;
    mk_outfile *of = NULL;
    int rc = 0;
    if (outp && mk_outfile_open(outp, &of, &out, &err) != MK_OK) {
        rc = cli_fail_err("graph", &err);
    } else if (mk_lint(p, &lo, &f, &err) != MK_OK || mk_program_dot(p, f, out, &err) != MK_OK) {
        rc = cli_fail_err("graph", &err);
        mk_outfile_abort(of);
    } else if (of && mk_outfile_commit(of, &err) != MK_OK) {
        rc = cli_fail_err("graph", &err);
    }
    mk_findings_free(f);
    mk_program_free(p);
    return rc;
}
