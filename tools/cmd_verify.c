/* `milkit verify`: run model A (and B) on the same inputs and compare, per output, with B's
 * outputs or with reference tensors (--ref), or A under --fp16-emulate with A in fp32 when
 * nothing else is given. Prints max abs / rel error, cosine similarity, the worst element and
 * pass/fail per output. Exit 0 pass, 1 mismatch, 2 error. Parsing and printing only. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: milkit verify A [B] [-i in.npz | -i name=x.npy ...] [--ref ref.npz]\n"
           "                     [--atol 1e-4] [--rtol 1e-3] [--shape name=dims] [--fp16-emulate]\n"
           "                     [--bind name=V] [--seed N] [-j THREADS] [--json]\n\n"
           "Runs A (and B) on the same inputs (given, or seeded random) and compares each output:\n"
           "  with B's outputs when B is given, with --ref tensors (.npz or a single .npy), or,\n"
           "  with neither, A under --fp16-emulate against A in fp32. A element passes when\n"
           "  |a - b| <= atol + rtol * |b| (b is the reference).\n"
           "  --fp16-emulate   run A (not B) with every op output rounded to half "
           "precision\n" CLI_MODEL_HELP "exit status: 0 pass, 1 mismatch, 2 error\n");
}

static int parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end && *out >= 0;
}

typedef struct ctx {
    int json, n_rows, fails;
} ctx;

static void print_row(ctx *c, const char *label, const char *name, const mk_compare_result *r,
                      const mk_tensor *ref)
{
    char coord[160] = "[";
    size_t o = 1;
    for (int i = 0; i < r->rank && o < sizeof coord; i++)
        o += (size_t)snprintf(coord + o, sizeof coord - o, "%s%lld", i ? ", " : "",
                              (long long)r->worst_coord[i]);
    if (o < sizeof coord) snprintf(coord + o, sizeof coord - o, "]");
    if (!r->pass) c->fails++;
    if (c->json) {
        printf("%s{\"compare\": \"%s\", \"output\": \"%s\", \"shape_ok\": %s, \"numel\": %zu, "
               "\"max_abs\": %.9g, \"max_rel\": %.9g, \"cosine\": %.9g, \"worst_index\": %s, "
               "\"worst_a\": %.9g, \"worst_b\": %.9g, \"n_bad\": %zu, \"pass\": %s}",
               c->n_rows ? ",\n  " : "  ", label, name, r->shape_ok ? "true" : "false", r->numel,
               r->max_abs, r->max_rel, r->cosine, r->shape_ok ? coord : "null", r->worst_a,
               r->worst_b, r->n_bad, r->pass ? "true" : "false");
    } else if (!r->shape_ok) {
        printf("%-6s %-24s shape mismatch (reference has %d dims, %zu elements)  FAIL\n", label,
               name, ref->rank, r->numel);
    } else {
        printf("%-6s %-24s max_abs %-11.4g max_rel %-11.4g cos %-10.7f worst %s a=%.6g b=%.6g  "
               "%s",
               label, name, r->max_abs, r->max_rel, r->cosine, coord, r->worst_a, r->worst_b,
               r->pass ? "PASS" : "FAIL");
        if (!r->pass) printf(" (%zu of %zu beyond tolerance)", r->n_bad, r->numel);
        printf("\n");
    }
    c->n_rows++;
}

/* Compare every output of `got` with the same-named tensor of `ref` (by position when the
 * names do not match and the counts agree). Returns 2 on error, else 0. */
static int compare_lists(ctx *c, const char *label, const mk_tensor_list *got,
                         const mk_tensor_list *ref, double atol, double rtol)
{
    int by_pos = got->n == ref->n;
    for (int i = 0; i < got->n && by_pos; i++)
        if (mk_tensor_list_match(ref, got->items[i].name)) by_pos = 0;
    for (int i = 0; i < got->n; i++) {
        const mk_tensor *a = &got->items[i];
        const mk_tensor *b = by_pos ? &ref->items[i] : mk_tensor_list_match(ref, a->name);
        if (!b) {
            if (ref->n == 1 && got->n == 1)
                b = &ref->items[0];
            else
                return cli_fail("verify", "reference has no tensor named '%s'", a->name);
        }
        mk_compare_result r;
        mk_err e = {0};
        if (mk_compare(a, b, atol, rtol, &r, &e)) return cli_fail_err("verify", &e);
        print_row(c, label, a->name, &r, b);
    }
    return 0;
}

int mk_cmd_verify(int argc, char **argv)
{
    const char *models[2] = {NULL, NULL}, *ref_path = NULL;
    cli_model_opts mo = {0};
    cli_exec_opts x = {0};
    int n_models = 0, r;
    double atol = 1e-4, rtol = 1e-3;
    ctx c = {0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if ((r = cli_exec_opt("verify", argc, argv, &i, &x))) {
            if (r == 2) return 2;
        } else if ((v = cli_opt(argc, argv, &i, "--ref", &missing))) {
            ref_path = v;
        } else if ((v = cli_opt(argc, argv, &i, "--atol", &missing))) {
            if (!parse_double(v, &atol)) return cli_fail("verify", "--atol needs a number >= 0");
        } else if ((v = cli_opt(argc, argv, &i, "--rtol", &missing))) {
            if (!parse_double(v, &rtol)) return cli_fail("verify", "--rtol needs a number >= 0");
        } else if (!missing && (r = cli_model_opt("verify", argc, argv, &i, &mo))) {
            if (r == 2) return 2;
        } else if (strcmp(a, "--json") == 0) {
            c.json = 1;
        } else if (missing) {
            return cli_fail("verify", "%s needs a value", a);
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("verify", "unknown option '%s' (see milkit verify --help)", a);
        } else if (n_models < 2) {
            models[n_models++] = a;
        } else {
            return cli_fail("verify", "unexpected argument '%s'", a);
        }
    }
    if (!n_models) {
        usage(stderr);
        return 2;
    }
    if (n_models == 1 && !ref_path && !x.fp16)
        return cli_fail("verify", "nothing to compare: give B, --ref, or --fp16-emulate");
    mk_err e = {0};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    cli_model_apply(&mo, &co);
    mk_program *p[2] = {NULL, NULL};
    mk_tensor_list ins = {0, NULL}, ref = {0, NULL}, outs[2] = {{0, NULL}, {0, NULL}};
    int rc = 0;
    for (int m = 0; m < n_models; m++)
        if (mk_model_load(models[m], &co, NULL, &p[m], &e)) {
            rc = cli_fail_err("verify", &e);
            goto done;
        }
    if (x.n_specs ? mk_tensors_load_for(p[0], x.n_specs, x.specs, &ins, &e)
                  : mk_random_inputs(p[0], x.seed, &ins, &e)) {
        rc = cli_fail_err("verify", &e);
        goto done;
    }
    if (ref_path && mk_tensors_load(1, &ref_path, &ref, &e)) {
        rc = cli_fail_err("verify", &e);
        goto done;
    }
    for (int m = 0; m < n_models; m++) {
        mk_run_options ro = {m == 0 && x.fp16, x.threads, x.seed};
        mk_run_report rep;
        if (mk_run_ex(p[m], &ro, &ins, &outs[m], &rep, &e)) {
            rc = cli_fail("verify", "%s: %s", models[m], e.msg);
            goto done;
        }
        if (rep.warning[0])
            fprintf(stderr, "milkit verify: %s: warning: %s\n", models[m], rep.warning);
    }
    if (c.json) printf("{\"atol\": %g, \"rtol\": %g, \"comparisons\": [\n", atol, rtol);
    if (ref_path) {
        for (int m = 0; m < n_models && !rc; m++)
            rc = compare_lists(&c, m ? "B/ref" : "A/ref", &outs[m], &ref, atol, rtol);
    } else if (n_models == 2) {
        rc = compare_lists(&c, "A/B", &outs[0], &outs[1], atol, rtol);
    } else {
        mk_run_options ro = {0, x.threads, x.seed};
        if (mk_run_ex(p[0], &ro, &ins, &outs[1], NULL, &e)) {
            rc = cli_fail("verify", "%s: %s", models[0], e.msg);
            goto done;
        }
        rc = compare_lists(&c, "fp16", &outs[0], &outs[1], atol, rtol);
    }
    if (rc) goto done;
    if (c.json)
        printf("\n], \"pass\": %s}\n", c.fails ? "false" : "true");
    else
        printf("%s: %d of %d outputs within atol %g rtol %g\n", c.fails ? "MISMATCH" : "PASS",
               c.n_rows - c.fails, c.n_rows, atol, rtol);
    rc = c.fails ? 1 : 0;
done:
    mk_tensor_list_free(&ins);
    mk_tensor_list_free(&ref);
    mk_tensor_list_free(&outs[0]);
    mk_tensor_list_free(&outs[1]);
    mk_program_free(p[1]);
    mk_program_free(p[0]);
    return rc;
}
