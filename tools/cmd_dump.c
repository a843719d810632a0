/* `milkit dump MODEL`: the program as MIL text, stable for diffs.
 * Argument parsing and printing only; the text comes from the public API. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: milkit dump MODEL [--shape NAME=DIMS] [--bind NAME=VALUE]\n"
    "  MODEL  an .mlpackage directory, an .mlmodel file or an .onnx model (converted in "
    "memory)\n" CLI_MODEL_HELP
    "Prints the program in the MIL text syntax of a compiled model's model.mil: inputs and\n"
    "attributes sorted by key, floats as hex floats, blob constants as BLOBFILE references.\n"
    "Exit 0 ok, 2 error.\n";

int mk_cmd_dump(int argc, char **argv)
{
    const char *path = NULL;
    cli_model_opts mo = {0};
    int r;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if ((r = cli_model_opt("dump", argc, argv, &i, &mo))) {
            if (r == 2) return 2;
        } else if (argv[i][0] == '-') {
            return cli_fail("dump", "unknown option '%s' (see --help)", argv[i]);
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_fail("dump", "more than one model given (see --help)");
        }
    }
    if (!path) return cli_fail("dump", "no model given (see --help)");
    mk_err e = {0};
    mk_program *p = NULL;
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    cli_model_apply(&mo, &co);
    if (mk_model_load(path, &co, NULL, &p, &e) != MK_OK) return cli_fail_err("dump", &e);
    mk_status st = mk_program_print(p, stdout, &e);
    mk_program_free(p);
    return st == MK_OK ? 0 : cli_fail_err("dump", &e);
}
