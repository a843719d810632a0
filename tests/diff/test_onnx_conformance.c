/* ONNX's own node conformance tests (Debian libonnx-testdata): every case milkit converts
 * is run in the reference interpreter on test_data_set_0 and compared with the expected
 * outputs (|a-b| <= 1e-7 + 1e-3*|b|); a case that only converts with its later inputs baked
 * in as constants (shapes, axes, scales) is retried that way and counted separately.
 * tests/data/conformance_pass.txt lists cases that must keep passing; the list only grows.
 * The current pass list is written to the scratch dir (conformance_pass.now). */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/ir.h"
#include "test.h"

#define NODE_DIR "/usr/share/libonnx-testdata/data/node"
#define PASS_FILE "tests/data/conformance_pass.txt"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int in_list(char **list, int n, const char *s)
{
    return bsearch(&s, list, (size_t)n, sizeof *list, cmp_str) != NULL;
}

static size_t numel(const mk_tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= (size_t)t->dims[i];
    return n;
}

static double get(const mk_tensor *t, size_t i)
{
    switch (t->dtype) {
    case 11: return ((const float *)t->data)[i];
    case 23: return ((const int32_t *)t->data)[i];
    case 1: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

/* Every input_<i>.pb of a case, in order (rank-0 tensors kept rank 0). */
static int load_inputs(const char *dir, mk_tensor_list *l, char *why, size_t why_n)
{
    l->n = 0;
    l->items = calloc(64, sizeof *l->items);
    if (!l->items) return 0;
    for (int i = 0; i < 64; i++) {
        char path[1200];
        mk_err e = {0};
        snprintf(path, sizeof path, "%s/test_data_set_0/input_%d.pb", dir, i);
        FILE *f = fopen(path, "rb");
        if (!f) break;
        fclose(f);
        if (mk_onnx_read_tensor(path, &l->items[i], &e) != MK_OK) {
            snprintf(why, why_n, "input %d: %s", i, e.msg);
            return 0;
        }
        l->n++;
    }
    return 1;
}

/* Run one case feeding the model inputs from `feed` (in order); returns 1 when every output
 * matches, else 0 with a reason. */
static int run_case(const char *dir, const mk_program *p, const mk_tensor *feed, int n_feed,
                    char *why, size_t why_n)
{
    mk_tensor_list ins = {0, NULL}, outs = {0, NULL};
    int ok = 0;
    if (n_feed < p->n_inputs) {
        snprintf(why, why_n, "model has %d inputs, test data %d", p->n_inputs, n_feed);
        return 0;
    }
    ins.items = calloc((size_t)p->n_inputs + 1, sizeof *ins.items);
    if (!ins.items) return 0;
    for (int i = 0; i < p->n_inputs; i++) {
        mk_tensor *t = &ins.items[i];
        *t = feed[i];
        t->name = strdup(p->inputs[i].name);
        t->data = malloc(feed[i].nbytes + 4);
        if (!t->name || !t->data) goto out;
        memcpy(t->data, feed[i].data, feed[i].nbytes);
        ins.n++;
        if (t->rank == 0) {
            t->rank = 1;
            t->dims[0] = 1;
        }
        if (t->dtype == 1 && p->inputs[i].dtype == MK_DT_INT32) {
            /* bool inputs travel as int32 */
            size_t n = numel(t);
            int32_t *d = malloc(n * 4 + 4);
            if (!d) goto out;
            for (size_t k = 0; k < n; k++) d[k] = ((uint8_t *)t->data)[k];
            free(t->data);
            t->data = d;
            t->nbytes = n * 4;
            t->dtype = 23;
        }
    }
    mk_run_options ro = {0};
    ro.threads = 1;
    mk_err e = {0};
    if (mk_run(p, &ro, &ins, &outs, &e) != MK_OK) {
        snprintf(why, why_n, "run: %s", e.msg);
        goto out;
    }
    for (int i = 0; i < outs.n; i++) {
        char path[1024];
        mk_tensor ref;
        mk_err re = {0};
        snprintf(path, sizeof path, "%s/test_data_set_0/output_%d.pb", dir, i);
        if (mk_onnx_read_tensor(path, &ref, &re) != MK_OK) {
            snprintf(why, why_n, "output %d: %s", i, re.msg);
            goto out;
        }
        size_t n = numel(&ref), m = numel(&outs.items[i]);
        int good = n == m;
        if (!good) snprintf(why, why_n, "output %d: %zu elements, expected %zu", i, m, n);
        for (size_t k = 0; k < n && good; k++) {
            double a = get(&outs.items[i], k), b = get(&ref, k);
            if (isnan(a) && isnan(b)) continue;
            if (isinf(a) && isinf(b) && (a > 0) == (b > 0)) continue;
            if (!(fabs(a - b) <= 1e-7 + 1e-3 * fabs(b))) {
                snprintf(why, why_n, "output %d[%zu] = %g, expected %g", i, k, a, b);
                good = 0;
            }
        }
        mk_tensor_free(&ref);
        if (!good) goto out;
    }
    ok = 1;
out:
    mk_tensor_list_free(&ins);
    mk_tensor_list_free(&outs);
    return ok;
}

/* Convert and run one case. A case that does not convert as is gets a second try with every
 * input but the first baked in as a constant (what `--bind NAME=@file.npy` does): Core ML
 * needs shapes, axes, scales and recurrent weights as static values. *bound says which way
 * it converted. */
static int one_case(const char *dir, int *convertible, int *bound, char *why, size_t why_n)
{
    char model[1100];
    snprintf(model, sizeof model, "%s/model.onnx", dir);
    mk_tensor_list ins = {0, NULL};
    int pass = 0;
    *bound = 0;
    *convertible = 0;
    if (!load_inputs(dir, &ins, why, why_n)) {
        mk_tensor_list_free(&ins);
        return 0;
    }
    mk_program *p = NULL;
    mk_err e = {0};
    if (mk_onnx_import(model, NULL, NULL, &p, &e) == MK_OK) {
        *convertible = 1;
        pass = run_case(dir, p, ins.items, ins.n, why, why_n);
    } else {
        snprintf(why, why_n, "convert: %s", e.msg);
        if (ins.n >= 2) {
            mk_convert_options o;
            memset(&o, 0, sizeof o);
            o.n_bind_tensors = ins.n - 1;
            o.bind_tensors = ins.items + 1;
            mk_err e2 = {0};
            if (mk_onnx_import(model, &o, NULL, &p, &e2) == MK_OK) {
                *convertible = *bound = 1;
                pass = run_case(dir, p, ins.items, 1, why, why_n);
            } else {
                snprintf(why, why_n, "convert (later inputs baked in): %s", e2.msg);
            }
        }
    }
    mk_ir_program_free(p);
    mk_tensor_list_free(&ins);
    return pass;
}

TEST(onnx_conformance)
{
    DIR *d = opendir(NODE_DIR);
    if (!d) SKIP("%s absent (Debian package libonnx-testdata)", NODE_DIR);
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            names = realloc(names, (size_t)cap * sizeof *names);
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);

    /* the expected-pass list */
    char **want = NULL;
    int nw = 0, wcap = 0;
    FILE *f = fopen(PASS_FILE, "r");
    CHECK_MSG(f != NULL, "%s missing (run from the repository root)", PASS_FILE);
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n# ")] = 0;
        if (!line[0]) continue;
        if (nw == wcap) {
            wcap = wcap ? wcap * 2 : 512;
            want = realloc(want, (size_t)wcap * sizeof *want);
        }
        want[nw++] = strdup(line);
    }
    if (f) fclose(f);
    qsort(want, (size_t)nw, sizeof *want, cmp_str);

    char now_path[1024];
    snprintf(now_path, sizeof now_path, "%s/conformance_pass.now", mk_test_tmpdir());
    FILE *now = fopen(now_path, "w");
    int convertible = 0, passed = 0, passed_bound = 0, regressions = 0;
    for (int i = 0; i < n; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", NODE_DIR, names[i]);
        char why[1200] = "";
        int conv = 0, bound = 0;
        int pass = one_case(dir, &conv, &bound, why, sizeof why);
        convertible += conv;
        if (pass) {
            passed++;
            passed_bound += bound;
            if (now) fprintf(now, "%s\n", names[i]);
        } else if (in_list(want, nw, names[i])) {
            regressions++;
            CHECK_MSG(0, "%s stopped passing: %s", names[i], why);
        }
        if (getenv("MILKIT_CONFORMANCE_VERBOSE") && !pass) printf("  %s: %s\n", names[i], why);
    }
    if (now) fclose(now);
    printf("conformance: %d passed of %d cases (%d convertible; %d of the passes with inputs "
           "after the first baked in as constants)\n",
           passed, n, convertible, passed_bound);
    CHECK_EQ_INT(regressions, 0);
    CHECK(passed >= nw);
    for (int i = 0; i < n; i++) free(names[i]);
    for (int i = 0; i < nw; i++) free(want[i]);
    free(names);
    free(want);
}
