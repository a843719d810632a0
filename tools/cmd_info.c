/* `milkit info PKG [--json]`: target, inputs/outputs, op histogram, constants.
 * Argument parsing only; the summary is built and printed by the public API. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: milkit info MODEL [--json] [-i in.npz] [--shape NAME=DIMS] [--bind NAME=VALUE]\n"
    "  MODEL   an .mlpackage directory, an .mlmodel file or an .onnx model (converted in memory)\n"
    "  --json  print a JSON object instead of text\n"
    "  -i SPEC input tensors whose shapes fix an ONNX model's dynamic dims (as for "
    "run)\n" CLI_MODEL_HELP
    "An .onnx model that does not convert (dynamic dims without -i or --shape, unsupported\n"
    "ops) is shown as it declares itself: inputs and outputs with symbolic dims by name.\n"
    "Prints the specification version and target, inputs and outputs with shapes and dtypes\n"
    "(flexible ranges too), the op histogram, and constant counts and bytes (inline vs\n"
    "weight.bin). Exit 0 ok, 2 error.\n";

int mk_cmd_info(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    cli_model_opts mo = {0};
    const char *specs[CLI_MODEL_MAX];
    int r, n_specs = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (!strcmp(argv[i], "-i") || !strcmp(argv[i], "--input")) {
            if (i + 1 >= argc) return cli_fail("info", "%s needs a value", argv[i]);
            if (n_specs == CLI_MODEL_MAX) return cli_fail("info", "too many -i options");
            specs[n_specs++] = argv[++i];
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
    mk_tensor_list ins = {0, NULL};
    if (cli_input_shapes("info", n_specs, specs, &ins)) return 2;
    co.shape_from = &ins;
    mk_status st = mk_model_load(path, &co, NULL, &p, &e);
    mk_tensor_list_free(&ins);
    size_t n = strlen(path);
    if (st != MK_OK && st != MK_EIO && st != MK_ENOMEM && n > 5 &&
        strcmp(path + n - 5, ".onnx") == 0) {
        /* not convertible as given: show the declarations; files that cannot be read (a refused
         * link, a FIFO, a missing external-data file) stay errors */
        mk_err e2 = {0};
        if (mk_onnx_info(path, stdout, json, e.msg, &e2) != MK_OK) return cli_fail_err("info", &e);
        return 0;
    }
    if (st != MK_OK) return cli_fail_err("info", &e);
    st = mk_program_info(p, stdout, json, &e);
    mk_program_free(p);
    return st == MK_OK ? 0 : cli_fail_err("info", &e);
}
