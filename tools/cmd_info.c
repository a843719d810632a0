/* `milkit info PKG [--json]`: target, inputs/outputs, op histogram, constants.
 * Argument parsing only; the summary is built and printed by the public API. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: milkit info MODEL [--json] [--shape NAME=DIMS] [--bind NAME=VALUE]\n"
    "  MODEL   an .mlpackage directory, an .mlmodel file or an .onnx model (converted in memory)\n"
    "  --json  print a JSON object instead of text\n" CLI_MODEL_HELP
    "Prints the specification version and target, inputs and outputs with shapes and dtypes\n"
    "(flexible ranges too), the op histogram, and constant counts and bytes (inline vs\n"
    "weight.bin). Exit 0 ok, 2 error.\n";

int mk_cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    cli_model_opts mo = {0};
    int r;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if ((r = cli_model_opt("info", argc, argv, &i, &mo))) {
            if (r == 2) return 2;
        } else if (argv[i][0] == '-') {
            return cli_fail("info", "unknown option '%s' (see --help)", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_fail("info", "more than one model given (see --help)");
        }
    }
    if (!path) return cli_fail("info", "no model given (see --help)");
    mk_err e = {0};
    mk_program *p = NULL;
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    cli_model_apply(&mo, &co);
    if (mk_model_load(path, &co, NULL, &p, &e) != MK_OK) return cli_fail_err("info", &e);
    mk_status st = mk_program_info(p, stdout, json, &e);
    mk_program_free(p);
    return st == MK_OK ? 0 : cli_fail_err("info", &e);
}
