/* milkit: the command-line front end. Dispatches to one subcommand per file (cmd_*.c) and
 * holds the argument helpers of cli.h; no model logic of its own. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} cmds[] = {
    {"convert", mk_cmd_convert, "ONNX or Core ML model -> .mlpackage (ML Program)"},
    {"compress", mk_cmd_compress, "compress weights: int8/int4, palettization, sparsity"},
    {"lint", mk_cmd_lint, "report Core ML hazards (wrong results, CPU fallback)"},
    {"fix", mk_cmd_fix, "rewrite hazards, verified by the interpreter"},
    {"run", mk_cmd_run, "execute a model on the CPU (fp32 or emulated fp16)"},
    {"verify", mk_cmd_verify, "compare two models, or a model with reference outputs"},
    {"info", mk_cmd_info, "summary: target, inputs/outputs, op histogram, constants"},
    {"dump", mk_cmd_dump, "print the program as MIL text"},
    {"graph", mk_cmd_graph, "draw the program for Graphviz (--dot)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: milkit <command> [options]   (milkit <command> --help for details)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(f, "\noptions of every command:\n"
               "  --max-memory SIZE  refuse to hold more than SIZE in memory (512M, 4G; default:\n"
               "                     half the physical or cgroup memory; 0 = none)\n"
               "  --version          print the milkit version\n"
               "\nexit status: 0 ok, 1 findings or mismatch, 2 error\n");
}

int cli_is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "milkit %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

int cli_fail_err(const char *cmd, const mk_err *e)
{
    return cli_fail(cmd, "%s", e->msg[0] ? e->msg : mk_status_name(e->code));
}

const char *cli_opt(int argc, char **argv, int *i, const char *name, int *missing)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return NULL;
    if (a[n] == '=') return a + n + 1;
    if (a[n] != 0) return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int cli_model_opt(const char *cmd, int argc, char **argv, int *i, cli_model_opts *m)
{
    int missing = 0;
    const char *v;
    if ((v = cli_opt(argc, argv, i, "--shape", &missing))) {
        if (m->n_shapes == CLI_MODEL_MAX) return cli_fail(cmd, "too many --shape options");
        m->shapes[m->n_shapes++] = v;
        return 1;
    }
    if (!missing && (v = cli_opt(argc, argv, i, "--bind", &missing))) {
        if (m->n_binds == CLI_MODEL_MAX) return cli_fail(cmd, "too many --bind options");
        m->binds[m->n_binds++] = v;
        return 1;
    }
    if (!missing && strcmp(argv[*i], "--no-follow-links") == 0) {
        m->no_follow_links = 1;
        return 1;
    }
    if (missing) return cli_fail(cmd, "option '%s' needs a value (see --help)", argv[*i]);
    return 0;
}

void cli_model_apply(const cli_model_opts *m, mk_convert_options *co)
{
    co->n_shapes = m->n_shapes;
    co->shapes = m->shapes;
    co->n_binds = m->n_binds;
    co->binds = m->binds;
    co->no_follow_links = m->no_follow_links;
}

int cli_exec_opt(const char *cmd, int argc, char **argv, int *i, cli_exec_opts *x)
{
    int missing = 0;
    const char *a = argv[*i], *v;
    char *end;
    if ((v = cli_opt(argc, argv, i, "-i", &missing)) ||
        (!missing && (v = cli_opt(argc, argv, i, "--input", &missing)))) {
        if (x->n_specs == CLI_MODEL_MAX) return cli_fail(cmd, "too many -i options");
        x->specs[x->n_specs++] = v;
    } else if (!missing && (v = cli_opt(argc, argv, i, "--seed", &missing))) {
        x->seed = strtoull(v, &end, 10);
        if (*end || !*v) return cli_fail(cmd, "--seed needs a number, got '%s'", v);
    } else if (!missing && ((v = cli_opt(argc, argv, i, "-j", &missing)) ||
                            (!missing && (v = cli_opt(argc, argv, i, "--threads", &missing))))) {
        long t = strtol(v, &end, 10);
        if (*end || t < 0 || t > 1024) return cli_fail(cmd, "-j needs a thread count, got '%s'", v);
        x->threads = (int)t;
    } else if (strcmp(a, "--fp16-emulate") == 0) {
        x->fp16 = 1;
    } else {
        if (missing) return cli_fail(cmd, "%s needs a value", a);
        return 0;
    }
    return 1;
}

/* --max-memory SIZE anywhere on the line (taken out of argv), else half the physical memory
 * (or of the cgroup's limit when lower). */
static int memory_limit(int *argc, char **argv)
{
    long pages = sysconf(_SC_PHYS_PAGES), pg = sysconf(_SC_PAGESIZE);
    size_t lim = pages > 0 && pg > 0 ? (size_t)pages / 2 * (size_t)pg : 0;
    FILE *cg = fopen("/sys/fs/cgroup/memory.max", "r"); /* a container's limit, when lower */
    unsigned long long cap;
    if (cg && fscanf(cg, "%llu", &cap) == 1 && cap / 2 < lim) lim = (size_t)(cap / 2);
    if (cg) fclose(cg);
    for (int i = 1; i < *argc; i++) {
        int missing = 0, j = i;
        const char *v = cli_opt(*argc, argv, &j, "--max-memory", &missing);
        if (missing) return fprintf(stderr, "milkit: --max-memory needs a size (512M, 4G)\n"), 2;
        if (!v) continue;
        lim = strcmp(v, "0") == 0 ? 0 : mk_parse_size(v);
        if (!lim && strcmp(v, "0") != 0)
            return fprintf(stderr, "milkit: --max-memory needs a size like 512M or 4G, got '%s'\n",
                           v),
                   2;
        memmove(argv + i, argv + j + 1, (size_t)(*argc - j) * sizeof *argv); /* keeps argv[argc] */
        *argc -= j + 1 - i;
        i--;
    }
    mk_set_memory_limit(lim);
    return 0;
}

int cli_input_shapes(const char *cmd, int n_specs, const char *const *specs, mk_tensor_list *shapes)
{
    mk_err e = {0};
    if (n_specs && mk_tensors_load_shapes(n_specs, specs, shapes, &e)) return cli_fail_err(cmd, &e);
    return 0;
}

int cli_load_to_run(const char *cmd, const char *path, const mk_convert_options *co, mk_program **p)
{
    mk_err e = {0};
    size_t n = strlen(path);
    if (mk_model_load(path, co, NULL, p, &e)) return cli_fail_err(cmd, &e);
    if ((n < 5 || strcmp(path + n - 5, ".onnx")) && mk_program_verify(*p, &e)) {
        mk_program_free(*p);
        *p = NULL;
        return cli_fail(cmd, "%s: not a valid ML Program (Core ML's loader refuses it): %s", path,
                        e.msg);
    }
    return 0;
}

int cli_inputs_for(const char *cmd, const cli_model_opts *m, const mk_program *p, int n_specs,
                   const char *const *specs, mk_tensor_list *ins)
{
    mk_err e = {0};
    if (n_specs && mk_tensors_load_for(p, n_specs, specs, ins, &e)) return cli_fail_err(cmd, &e);
    if (mk_tensors_drop_bound(ins, m->n_binds, m->binds, &e)) {
        mk_tensor_list_free(ins);
        return cli_fail_err(cmd, &e);
    }
    return 0;
}

/* A package writer given "-o out" without the .mlpackage suffix: Core ML tools and Xcode
 * recognise a package by that suffix. */
static void warn_package_suffix(const char *cmd, int argc, char **argv)
{
    if (strcmp(cmd, "convert") && strcmp(cmd, "fix")) return;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v = cli_opt(argc, argv, &i, "-o", &missing);
        if (!v && !missing) v = cli_opt(argc, argv, &i, "--output", &missing);
        if (!v) continue;
        size_t n = strlen(v);
        while (n > 1 && v[n - 1] == '/') n--;
        if (n < 10 || strncmp(v + n - 10, ".mlpackage", 10) != 0)
            fprintf(stderr, "milkit %s: warning: '%s' does not end in .mlpackage\n", cmd, v);
    }
}

int main(int argc, char **argv)
{
    if (memory_limit(&argc, argv)) return 2;
    mk_cleanup_on_signals();
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("milkit %s\n", MK_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) {
            warn_package_suffix(argv[1], argc - 1, argv + 1);
            return cmds[i].fn(argc - 1, argv + 1);
        }
    fprintf(stderr, "milkit: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
