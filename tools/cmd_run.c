/* `milkit run`: execute a model (.mlpackage, .mlmodel or .onnx converted in memory) on the
 * reference interpreter with given or seeded random inputs; print each output's name, shape and
 * a few statistics, optionally save them, and time repeated runs of one session (the plan is
 * made once). Argument parsing and printing only: loading, running and tensor files are public
 * API calls. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: milkit run MODEL [-i name=x.npy ... | -i in.npz] [-o out.npz] [--fp16-emulate]\n"
           "                  [--seed N] [-j THREADS] [--repeat N] [--shape name=dims] [--bind "
           "name=V]\n\n"
           "Runs MODEL (.mlpackage, .mlmodel or .onnx) on the CPU reference interpreter.\n"
           "  -i SPEC          input tensor: name=file.npy, file.npz (all members) or file.npy\n"
           "                   (repeatable; without -i, seeded random inputs are used);\n"
           "                   their shapes fix an .onnx model's dynamic dims, no --shape needed\n"
           "  -o FILE          save the outputs (.npz, or .npy for a single output)\n"
           "  --save-inputs F  save the inputs used (.npz, with the dtypes and ranks the model\n"
           "                   declares), e.g. the random ones\n"
           "  --fp16-emulate   round every op output to half precision; report fp16 overflow\n"
           "  --seed N         seed for random inputs (default 0)\n"
           "  -j N             threads (default: all cores); outputs are the same for any N\n"
           "  --repeat N       run N more times after one warm-up; last line 'median_ms: "
           "X'\n"
           "  --profile        after the run, per op kind, kernel path and op: time, share of the\n"
           "                   total, output bytes (of the last run: with --repeat, a warm one)\n"
           "  --json           with --profile: the profile as one JSON object on "
           "stdout\n" CLI_MODEL_HELP CLI_STATE_HELP "exit status: 0 ok, 2 error\n");
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double value(const mk_tensor *t, size_t i)
{
    switch (t->dtype) {
    case 11: return ((const float *)t->data)[i];
    case 23: return ((const int32_t *)t->data)[i];
    case 1: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

static void print_tensor(const mk_tensor *t)
{
    size_t n = 1;
    printf("%s: [", t->name ? t->name : "?");
    for (int i = 0; i < t->rank; i++) {
        printf("%s%lld", i ? ", " : "", (long long)t->dims[i]);
        n *= (size_t)t->dims[i];
    }
    printf("] %s", t->dtype == 11   ? "fp32"
                   : t->dtype == 23 ? "int32"
                   : t->dtype == 1  ? "bool"
                   : t->dtype == 2  ? "string"
                                    : "?");
    if (t->dtype == 2 && n && t->nbytes % n == 0) { /* fixed-width, NUL-padded */
        int w = (int)(t->nbytes / n);
        printf("  first:");
        for (size_t i = 0; i < n && i < 5; i++)
            printf(" \"%.*s\"", (int)strnlen((const char *)t->data + i * (size_t)w, (size_t)w),
                   (const char *)t->data + i * (size_t)w);
        printf("%s\n", n > 5 ? " ..." : "");
        return;
    }
    if (!n) {
        printf(" (empty)\n");
        return;
    }
    double mn = INFINITY, mx = -INFINITY, sum = 0;
    size_t nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        double v = value(t, i);
        if (!isfinite(v)) {
            nonfinite++;
            continue;
        }
        mn = v < mn ? v : mn;
        mx = v > mx ? v : mx;
        sum += v;
    }
    if (nonfinite < n)
        printf("  min %.6g  max %.6g  mean %.6g", mn, mx, sum / (double)(n - nonfinite));
    if (nonfinite) printf("  non-finite %zu", nonfinite);
    printf("  first:");
    for (size_t i = 0; i < n && i < 5; i++) printf(" %.6g", value(t, i));
    printf("%s\n", n > 5 ? " ..." : "");
}

typedef struct prof_sum {
    const char *key;
    int n;
    double ms;
    size_t bytes;
} prof_sum;

/* Rows grouped by key (kind or path), slowest first; returns the group count. */
static int prof_group(const mk_op_profile *r, int n, int by_path, prof_sum *g)
{
    int ng = 0;
    for (int i = 0; i < n; i++) {
        const char *key = by_path ? r[i].path : r[i].kind;
        int j = 0;
        while (j < ng && strcmp(g[j].key, key)) j++;
        if (j == ng) g[ng++] = (prof_sum){key, 0, 0, 0};
        g[j].n++;
        g[j].ms += r[i].ms;
        g[j].bytes += r[i].out_bytes;
    }
    for (int i = 1; i < ng; i++) /* insertion sort: ties keep first-seen order */
        for (int j = i; j > 0 && g[j].ms > g[j - 1].ms; j--) {
            prof_sum t = g[j];
            g[j] = g[j - 1];
            g[j - 1] = t;
        }
    return ng;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_groups_json(const char *name, const prof_sum *g, int ng, double total)
{
    printf(",\"%s\":[", name);
    for (int i = 0; i < ng; i++) {
        printf("%s{\"%s\":", i ? "," : "", strcmp(name, "kinds") ? "path" : "kind");
        json_str(g[i].key);
        printf(",\"ops\":%d,\"ms\":%.6f,\"share\":%.6f,\"out_bytes\":%zu}", g[i].n, g[i].ms,
               total > 0 ? g[i].ms / total : 0, g[i].bytes);
    }
    printf("]");
}

static int print_profile(const mk_session *sess, const char *model, int json)
{
    int n;
    double total;
    const mk_op_profile *r = mk_session_profile(sess, &n, &total);
    prof_sum *g = calloc((size_t)n + 1, sizeof *g);
    if (!g) return cli_fail("run", "out of memory");
    double sum = 0;
    for (int i = 0; i < n; i++) sum += r[i].ms;
    if (json) {
        printf("{\"model\":");
        json_str(model);
        printf(",\"total_ms\":%.6f,\"ops_ms\":%.6f", total, sum);
        print_groups_json("kinds", g, prof_group(r, n, 0, g), total);
        print_groups_json("paths", g, prof_group(r, n, 1, g), total);
        printf(",\"ops\":[");
        for (int i = 0; i < n; i++) {
            printf("%s{\"name\":", i ? "," : "");
            json_str(r[i].name ? r[i].name : "");
            printf(",\"kind\":");
            json_str(r[i].kind);
            printf(",\"path\":");
            json_str(r[i].path);
            printf(",\"ms\":%.6f,\"share\":%.6f,\"out_bytes\":%zu,\"fused\":%s}", r[i].ms,
                   total > 0 ? r[i].ms / total : 0, r[i].out_bytes, r[i].fused ? "true" : "false");
        }
        printf("]}\n");
        free(g);
        return 0;
    }
    printf("profile: total %.3f ms, %d rows (ops, input binding, output copy) taking %.3f ms "
           "(%.1f%%)\n",
           total, n, sum, total > 0 ? 100 * sum / total : 0);
    for (int by_path = 0; by_path < 2; by_path++) {
        int ng = prof_group(r, n, by_path, g);
        printf("\n%-34s %5s %10s %7s %12s\n", by_path ? "kernel path" : "op kind", "ops", "ms",
               "share", "out_bytes");
        for (int i = 0; i < ng; i++)
            printf("%-34s %5d %10.3f %6.1f%% %12zu\n", g[i].key, g[i].n, g[i].ms,
                   total > 0 ? 100 * g[i].ms / total : 0, g[i].bytes);
    }
    printf("\n%5s %-34s %-16s %-28s %9s %7s %12s\n", "#", "op", "kind", "kernel path", "ms",
           "share", "out_bytes");
    for (int i = 0; i < n; i++) {
        if (!strcmp(r[i].kind, "const")) continue;
        printf("%5d %-34.34s %-16s %-28s %9.3f %6.1f%% %12zu\n", i, r[i].name ? r[i].name : "?",
               r[i].kind, r[i].path, r[i].ms, total > 0 ? 100 * r[i].ms / total : 0,
               r[i].out_bytes);
    }
    free(g);
    return 0;
}

int mk_cmd_run(int argc, char **argv)
{
    const char *model = NULL, *out_path = NULL, *in_save = NULL;
    cli_model_opts mo = {0};
    cli_exec_opts x = {0};
    cli_state_opts so = {0};
    int repeat = 0, r, profile = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        int missing = 0;
        if (cli_is_help(a)) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--profile") == 0) {
            profile = 1;
        } else if (strcmp(a, "--json") == 0) {
            json = 1;
        } else if ((r = cli_exec_opt("run", argc, argv, &i, &x))) {
            if (r == 2) return 2;
        } else if ((r = cli_state_opt(argc, argv, &i, &so))) {
            if (r == 2) return 2;
        } else if ((v = cli_opt(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_opt(argc, argv, &i, "--output", &missing))) {
            out_path = v;
        } else if ((v = cli_opt(argc, argv, &i, "--save-inputs", &missing))) {
            in_save = v;
        } else if ((v = cli_opt(argc, argv, &i, "--repeat", &missing))) {
            char *end;
            long cnt = strtol(v, &end, 10);
            if (*end || cnt < 0 || cnt > 100000)
                return cli_fail("run", "--repeat needs a count, got '%s'", v);
            repeat = (int)cnt;
        } else if (!missing && (r = cli_model_opt("run", argc, argv, &i, &mo))) {
            if (r == 2) return 2;
        } else if (missing) {
            return cli_fail("run", "%s needs a value", a);
        } else if (a[0] == '-' && a[1]) {
            return cli_fail("run", "unknown option '%s' (see milkit run --help)", a);
        } else if (!model) {
            model = a;
        } else {
            return cli_fail("run", "unexpected argument '%s'", a);
        }
    }
    if (!model) {
        usage(stderr);
        return 2;
    }
    if (json && !profile) return cli_fail("run", "--json goes with --profile");
    mk_err e = {0};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    cli_model_apply(&mo, &co);
    mk_program *p = NULL;
    mk_tensor_list ins = {0, NULL}, outs = {0, NULL};
    mk_tensor_list shapes = {0, NULL};
    if (cli_input_shapes("run", x.n_specs, x.specs, &shapes)) return 2;
    co.shape_from = &shapes;
    if (cli_load_to_run("run", model, &co, &p)) {
        mk_tensor_list_free(&shapes);
        return 2;
    }
    mk_session *sess = NULL; /* one plan for the first run and every --repeat run */
    int rc = 0;
    mk_tensor_list_free(&shapes);
    if ((rc = cli_state_select(p, &so))) goto done;
    if (x.n_specs && cli_inputs_for("run", &mo, p, x.n_specs, x.specs, &ins)) {
        rc = 2;
        goto done;
    }
    if (!x.n_specs && mk_random_inputs(p, x.seed, &ins, &e)) {
        rc = cli_fail_err("run", &e);
        goto done;
    }
    if (in_save &&
        (mk_tensors_as_declared(model, p, &ins, &e) || mk_tensors_save(in_save, &ins, &e))) {
        rc = cli_fail_err("run", &e);
        goto done;
    }
    mk_run_options ro = {x.fp16, x.threads, x.seed};
    mk_run_report rep;
    double t0 = now_ms();
    if (mk_session_new(p, &ro, &sess, &e)) {
        rc = cli_fail("run", "%s: %s", model, e.msg);
        goto done;
    }
    if ((rc = cli_state_load(sess, &so))) goto done;
    mk_session_set_profile(sess, profile);
    if (mk_session_run(sess, &ins, &outs, &rep, &e)) {
        rc = cli_fail("run", "%s: %s", model, e.msg);
        goto done;
    }
    if ((rc = cli_state_steps(sess, &so, &ins, &outs))) goto done;
    double first = now_ms() - t0;
    for (int i = 0; i < outs.n && !json; i++) print_tensor(&outs.items[i]);
    if (rep.warning[0]) fprintf(stderr, "milkit run: warning: %s\n", rep.warning);
    if (out_path && mk_tensors_save(out_path, &outs, &e)) {
        rc = cli_fail_err("run", &e);
        goto done;
    }
    if ((rc = cli_state_save(sess, &so))) goto done;
    if (!json)
        printf("time_ms: %.3f  peak_activations_mb: %.1f\n", first,
               (double)rep.peak_bytes / 1048576.0);
    if (repeat > 0) {
        double *ms = malloc((size_t)repeat * sizeof *ms);
        if (!ms) {
            rc = cli_fail("run", "out of memory");
            goto done;
        }
        for (int it = 0; it < repeat; it++) {
            mk_tensor_list o2 = {0, NULL};
            double s = now_ms();
            mk_status st = mk_session_run(sess, &ins, &o2, NULL, &e);
            ms[it] = now_ms() - s;
            mk_tensor_list_free(&o2);
            if (st) {
                free(ms);
                rc = cli_fail_err("run", &e);
                goto done;
            }
        }
        qsort(ms, (size_t)repeat, sizeof *ms, cmp_double);
        double med = repeat % 2 ? ms[repeat / 2] : (ms[repeat / 2 - 1] + ms[repeat / 2]) / 2;
        if (!json) printf("min_ms: %.3f\nmedian_ms: %.3f\n", ms[0], med);
        free(ms);
    }
    if (profile) rc = print_profile(sess, model, json);
done:
    mk_session_free(sess);
    mk_tensor_list_free(&ins);
    mk_tensor_list_free(&outs);
    mk_program_free(p);
    return rc;
}
