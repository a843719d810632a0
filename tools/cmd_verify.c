/* `milkit verify`: run model A (and B) on the same inputs and compare, per output, with B's
 * outputs or with reference tensors (--ref), or A under --fp16-emulate with A in fp32 when
 * nothing else is given. Outputs pair by name, --map, or position (printed); unmatched ones are
 * listed. Prints max abs / rel error, SNR, cosine similarity, non-finite counts, the worst
 * element and pass/fail per output. Exit 0 pass, 1 mismatch, 2 error. Parsing and printing. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: milkit verify A [B] [-i in.npz | -i name=x.npy ...] [--ref ref.npz]\n"
        "                     [--atol X] [--rtol X] [--map A=B] [--shape name=dims]\n"
        "                     [--fp16-emulate] [--bind name=V] [--seed N] [-j THREADS] [--json]\n\n"
        "Runs A (and B) on the same inputs (given, or seeded random) and compares each output:\n"
        "  with B's outputs when B is given, with --ref tensors (.npz or a single .npy), or,\n"
        "  with neither, A under --fp16-emulate against A in fp32. A element passes when\n"
        "  |a - b| <= atol + rtol * |b| (b is the reference). The -i shapes fix an .onnx\n"
        "  model's dynamic dims.\n"
        "  --atol/--rtol     default 1e-4/1e-3; 1e-2/1e-2 when a model computes in fp16 or\n"
        "                    with --fp16-emulate (the line under the table says which)\n"
        "  --map A=B         pair output A with B (or a --ref tensor) by name; outputs pair by\n"
        "                    name, then the rest by position (printed), else listed unmatched\n"
        "  --fp16-emulate    run A (not B) with every op output rounded to half precision\n"
        "  --json            one JSON object; figures that are not finite (inf max_abs, an SNR\n"
        "                    of equal outputs) are null, and nan_a/inf_a/nan_b/inf_b count the\n"
        "                    non-finite elements; cosine is null under 16 elements or with\n"
        "                    non-finite values\n" CLI_MODEL_HELP
        "exit status: 0 pass, 1 mismatch, 2 error\n");
}

static int parse_double(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s && !*end && *out >= 0 && isfinite(*out);
}

typedef struct ctx {
    int json, n_rows, fails, n_unmatched;
    int n_maps;
    const char *maps[CLI_MODEL_MAX];
    cJSON *rows, *notes;
} ctx;

static void jnum(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static void print_row(ctx *c, const char *label, const char *name, const char *ref_name,
                      const mk_compare_result *r, const mk_tensor *ref)
{
    char coord[160] = "[";
    size_t o = 1;
    for (int i = 0; i < r->rank && o < sizeof coord; i++)
        o += (size_t)snprintf(coord + o, sizeof coord - o, "%s%lld", i ? ", " : "",
                              (long long)r->worst_coord[i]);
    if (o < sizeof coord) snprintf(coord + o, sizeof coord - o, "]");
    if (!r->pass) c->fails++;
    c->n_rows++;
    size_t nonfinite = r->nan_a + r->inf_a + r->nan_b + r->inf_b;
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "compare", label);
        cJSON_AddStringToObject(j, "output", name);
        cJSON_AddStringToObject(j, "reference", ref_name);
        cJSON_AddBoolToObject(j, "shape_ok", r->shape_ok);
        cJSON_AddNumberToObject(j, "numel", (double)r->numel);
        if (r->shape_ok) {
            jnum(j, "max_abs", r->max_abs);
            jnum(j, "max_rel", r->max_rel);
            jnum(j, "snr_db", r->snr_db);
            jnum(j, "cosine", r->has_cosine ? r->cosine : NAN);
            cJSON *wc = cJSON_CreateArray();
            for (int i = 0; i < r->rank; i++)
                cJSON_AddItemToArray(wc, cJSON_CreateNumber((double)r->worst_coord[i]));
            cJSON_AddItemToObject(j, "worst_index", wc);
            jnum(j, "worst_a", r->worst_a);
            jnum(j, "worst_b", r->worst_b);
        }
        cJSON_AddNumberToObject(j, "nan_a", (double)r->nan_a);
        cJSON_AddNumberToObject(j, "inf_a", (double)r->inf_a);
        cJSON_AddNumberToObject(j, "nan_b", (double)r->nan_b);
        cJSON_AddNumberToObject(j, "inf_b", (double)r->inf_b);
        cJSON_AddNumberToObject(j, "n_bad", (double)r->n_bad);
        cJSON_AddBoolToObject(j, "pass", r->pass);
        cJSON_AddItemToArray(c->rows, j);
        return;
    }
    if (!r->shape_ok) {
        printf("%-6s %-24s shape mismatch (reference has %d dims, %zu elements)  FAIL\n", label,
               name, ref->rank, r->numel);
        return;
    }
    char cos[32] = "-";
    if (r->has_cosine) snprintf(cos, sizeof cos, "%.7f", r->cosine);
    printf("%-6s %-24s max_abs %-10.4g max_rel %-10.4g snr %.1f dB  cos %s  worst %s a=%.6g "
           "b=%.6g",
           label, name, r->max_abs, r->max_rel, r->snr_db, cos, coord, r->worst_a, r->worst_b);
    if (nonfinite)
        printf("  non-finite: A %zu NaN %zu inf, B %zu NaN %zu inf", r->nan_a, r->inf_a, r->nan_b,
               r->inf_b);
    printf("  %s", r->pass ? "PASS" : "FAIL");
    if (!r->pass) printf(" (%zu of %zu beyond tolerance)", r->n_bad, r->numel);
    printf("\n");
}

static int find_index(const mk_tensor_list *l, const char *name, size_t n)
{
    for (int i = 0; i < l->n; i++)
        if (l->items[i].name && strlen(l->items[i].name) == n &&
            strncmp(l->items[i].name, name, n) == 0)
            return i;
    for (int i = 0; i < l->n; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, "%.*s", (int)n, name);
        if (mk_name_matches(l->items[i].name, buf)) return i;
    }
    return -1;
}

static void names_of(const mk_tensor_list *l, const int *used, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < l->n && o < n; i++)
        if (!used || !used[i])
            o += (size_t)snprintf(buf + o, n - o, "%s%s", o ? ", " : "",
                                  l->items[i].name ? l->items[i].name : "?");
}

static void note(ctx *c, const char *line)
{
    if (c->json)
        cJSON_AddItemToArray(c->notes, cJSON_CreateString(line));
    else
        printf("%s\n", line);
}

/* Pair the outputs of `got` with tensors of `ref`: --map first, then equal names, then the
 * rest by position when both sides have the same number left; compare each pair. Returns 2
 * on error, else 0. */
static int compare_lists(ctx *c, const char *label, const mk_tensor_list *got,
                         const mk_tensor_list *ref, double atol, double rtol)
{
    int *pair = calloc((size_t)got->n + 1, sizeof *pair),
        *used = calloc((size_t)ref->n + 1, sizeof *used);
    int rc = 0, left_a = 0, left_b = 0;
    char na[600], nb[600];
    if (!pair || !used) {
        rc = cli_fail("verify", "out of memory");
        goto out;
    }
    for (int i = 0; i < got->n; i++) pair[i] = -1;
    for (int m = 0; m < c->n_maps; m++) {
        const char *eq = strchr(c->maps[m], '=');
        int ia = find_index(got, c->maps[m], (size_t)(eq - c->maps[m]));
        int ib = find_index(ref, eq + 1, strlen(eq + 1));
        if (ia < 0 || ib < 0) {
            names_of(ia < 0 ? got : ref, NULL, na, sizeof na);
            rc = cli_fail("verify", "--map %s: %s has no output '%.*s' (outputs: %s)", c->maps[m],
                          ia < 0 ? (label[0] == 'B' ? "B" : "A") : "the reference",
                          ia < 0 ? (int)(eq - c->maps[m]) : 600, ia < 0 ? c->maps[m] : eq + 1, na);
            goto out;
        }
        pair[ia] = ib;
        used[ib] = 1;
    }
    for (int i = 0; i < got->n; i++) {
        if (pair[i] >= 0 || !got->items[i].name) continue;
        int j = find_index(ref, got->items[i].name, strlen(got->items[i].name));
        for (int k = 0; j < 0 && k < ref->n; k++)
            if (!used[k] && mk_name_matches(got->items[i].name, ref->items[k].name)) j = k;
        if (j >= 0 && !used[j]) {
            pair[i] = j;
            used[j] = 1;
        }
    }
    for (int i = 0; i < got->n; i++) left_a += pair[i] < 0;
    for (int j = 0; j < ref->n; j++) left_b += !used[j];
    if (left_a && left_a == left_b) {
        for (int i = 0, j = 0; i < got->n; i++) {
            if (pair[i] >= 0) continue;
            while (used[j]) j++;
            pair[i] = j;
            used[j] = 1;
            char m[600], line[1300];
            snprintf(m, sizeof m, "%s=%s", got->items[i].name ? got->items[i].name : "?",
                     ref->items[j].name ? ref->items[j].name : "?");
            snprintf(line, sizeof line, "paired by position: %s (give --map %s to pair by name)", m,
                     m);
            note(c, line);
        }
        left_a = left_b = 0;
    }
    int compared = 0;
    for (int i = 0; i < got->n; i++) {
        if (pair[i] < 0) continue;
        const mk_tensor *a = &got->items[i], *b = &ref->items[pair[i]];
        mk_compare_result r;
        mk_err e = {0};
        if (mk_compare(a, b, atol, rtol, &r, &e)) {
            rc = cli_fail_err("verify", &e);
            goto out;
        }
        print_row(c, label, a->name, b->name ? b->name : "?", &r, b);
        compared++;
    }
    names_of(got, NULL, na, sizeof na);
    names_of(ref, NULL, nb, sizeof nb);
    if (!compared) {
        rc = cli_fail("verify", "%s: no output pairs up (A: %s; reference: %s): give --map A=B",
                      label, na, nb);
        goto out;
    }
    if (left_a || left_b) {
        char ua[600] = "", ub[600] = "";
        size_t o = 0;
        for (int i = 0; i < got->n && o < sizeof ua; i++)
            if (pair[i] < 0)
                o += (size_t)snprintf(ua + o, sizeof ua - o, "%s%s", o ? ", " : "",
                                      got->items[i].name ? got->items[i].name : "?");
        names_of(ref, used, ub, sizeof ub);
        char line[1300];
        snprintf(line, sizeof line, "not compared: %s %s; reference %s (pair them with --map A=B)",
                 label[0] == 'B' ? "B" : "A", left_a ? ua : "(none)", left_b ? ub : "(none)");
        note(c, line);
        c->n_unmatched += left_a + left_b;
    }
out:
    free(pair);
    free(used);
    return rc;
}

int mk_cmd_verify(int argc, char **argv)
{
    const char *models[2] = {NULL, NULL}, *ref_path = NULL;
    cli_model_opts mo = {0};
    cli_exec_opts x = {0};
    int n_models = 0, r, atol_given = 0, rtol_given = 0;
    double atol = 1e-4, rtol = 1e-3;
    ctx c;
    memset(&c, 0, sizeof c);
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
            atol_given = 1;
        } else if ((v = cli_opt(argc, argv, &i, "--rtol", &missing))) {
            if (!parse_double(v, &rtol)) return cli_fail("verify", "--rtol needs a number >= 0");
            rtol_given = 1;
        } else if ((v = cli_opt(argc, argv, &i, "--map", &missing))) {
            const char *eq = strchr(v, '=');
            if (!eq || eq == v || !eq[1])
                return cli_fail("verify", "--map needs A_OUTPUT=B_OUTPUT, got '%s'", v);
            if (c.n_maps == CLI_MODEL_MAX) return cli_fail("verify", "too many --map options");
            c.maps[c.n_maps++] = v;
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
    mk_tensor_list shapes = {0, NULL};
    if (cli_input_shapes("verify", x.n_specs, x.specs, &shapes)) return 2;
    co.shape_from = &shapes;
    for (int m = 0; m < n_models; m++)
        if (cli_load_to_run("verify", models[m], &co, &p[m])) {
            rc = 2;
            goto done;
        }
    mk_tensor_list_free(&shapes);
    if (x.n_specs && cli_inputs_for("verify", &mo, p[0], x.n_specs, x.specs, &ins)) {
        rc = 2;
        goto done;
    }
    if (!x.n_specs && mk_random_inputs(p[0], x.seed, &ins, &e)) {
        rc = cli_fail_err("verify", &e);
        goto done;
    }
    /* default tolerance follows the compute precision, as mk_fix's does */
    const char *why = x.fp16 ? "--fp16-emulate" : NULL;
    for (int m = 0; m < n_models && !why; m++)
        if (mk_program_computes_fp16(p[m])) why = m ? "B computes in fp16" : "A computes in fp16";
    if (!atol_given) atol = why ? 1e-2 : 1e-4;
    if (!rtol_given) rtol = why ? 1e-2 : 1e-3;
    const char *tol_src = atol_given && rtol_given   ? "given"
                          : atol_given || rtol_given ? "partly given"
                                                     : "default";
    char tol_note[160];
    snprintf(tol_note, sizeof tol_note, "%s tolerance for %s compute%s%s", tol_src,
             why ? "fp16" : "fp32", why ? ": " : "", why ? why : "");
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
    if (c.json) {
        c.rows = cJSON_CreateArray();
        c.notes = cJSON_CreateArray();
    }
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
    if (c.json) {
        cJSON *root = cJSON_CreateObject();
        char *txt = NULL;
        if (root) {
            cJSON_AddNumberToObject(root, "atol", atol);
            cJSON_AddNumberToObject(root, "rtol", rtol);
            cJSON_AddStringToObject(root, "precision", why ? "fp16" : "fp32");
            cJSON_AddStringToObject(root, "tolerance", tol_src);
            if (why) cJSON_AddStringToObject(root, "precision_from", why);
            cJSON_AddItemToObject(root, "comparisons", c.rows);
            cJSON_AddItemToObject(root, "notes", c.notes);
            c.rows = c.notes = NULL;
            cJSON_AddNumberToObject(root, "unmatched", c.n_unmatched);
            cJSON_AddBoolToObject(root, "pass", !c.fails);
            txt = cJSON_Print(root);
            cJSON_Delete(root);
        }
        if (!txt) {
            rc = cli_fail("verify", "out of memory");
            goto done;
        }
        printf("%s\n", txt);
        free(txt);
    } else {
        printf("%s: %d of %d outputs within atol %g rtol %g (%s)", c.fails ? "MISMATCH" : "PASS",
               c.n_rows - c.fails, c.n_rows, atol, rtol, tol_note);
        if (c.n_unmatched)
            printf(", %d output%s not compared", c.n_unmatched, c.n_unmatched > 1 ? "s" : "");
        printf("\n");
    }
    rc = c.fails ? 1 : 0;
done:
    cJSON_Delete(c.rows);
    cJSON_Delete(c.notes);
    mk_tensor_list_free(&shapes);
    mk_tensor_list_free(&ins);
    mk_tensor_list_free(&ref);
    mk_tensor_list_free(&outs[0]);
    mk_tensor_list_free(&outs[1]);
    mk_program_free(p[1]);
    mk_program_free(p[0]);
    return rc;
}
