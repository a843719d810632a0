/* `milkit convert IN -o OUT.mlpackage`: ONNX or Core ML model in, ML Program package out,
 * with the hazard fixes applied by default. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char usage[] =
    "usage: milkit convert IN -o OUT.mlpackage [options]\n"
    "  IN                     an .onnx model, or an .mlpackage/.mlmodel to round-trip or "
    "re-target\n"
    "  -o, --output PATH      the package to write (written atomically)\n"
    "  --target iosNN         ios15 | ios16 | ios17 | ios18 (default: ios15 for ONNX, the\n"
    "                         package's own otherwise)\n"
    "  --shape NAME=DIMS      fix an input's shape: 1,3,640,640; or a flexible range per dim:\n"
    "                         1,3,32..1024,32..1024 (0..N: may be empty), or enumerated\n"
    "                         sizes: 1,3,[224|288],[224|288] (repeatable)\n"
    "  --bind NAME=VALUE      bake an input into the graph as a constant: a scalar, or\n"
    "                         @file.npy for a tensor (repeatable); its branches fold\n"
    "  --precision fp16|fp32  compute precision (default for ONNX: fp16, as the Neural Engine\n"
    "                         needs; ops whose fp16 form the target does not accept stay fp32).\n"
    "                         A package keeps its own precision unless this is given\n"
    "  -i, --input FILE.npz   fp16 calibration inputs, one run per file (repeatable; a folder\n"
    "                         means each .npz in it, sorted: e.g. one per streaming step, with\n"
    "                         the states a real stream reached). Ops whose values leave the\n"
    "                         fp16 range (with a 4x margin) or whose fp16 error grows stay\n"
    "                         fp32. Without -i: seeded inputs (a warning names risky ops).\n"
    "                         The first file's shapes fix the dynamic dims of an .onnx model\n"
    "                         that --shape leaves open\n"
    "  --state OUT=IN         output OUT is fed back as input IN on the next step (default:\n"
    "                         outputs named like an input plus n/N/_out/_new/_next, e.g.\n"
    "                         hn=h, stateN=state): the -i files are then checked as\n"
    "                         consecutive steps of one stream, each program on its own states\n"
    "  --context N            KV cache as iOS18 model state (needs --target ios18): each\n"
    "                         --state PAST=PRESENT (default: inputs past* paired with outputs\n"
    "                         present*) becomes an fp16 state named PAST holding N entries\n"
    "                         along the axis PRESENT concatenates on; PRESENT is dropped;\n"
    "                         an fp32 package adds PAST_lo, the fp16 residual of each entry\n"
    "  --function NAME:IN=DIMS[:IN=DIMS...]  one function of a multi-function package\n"
    "                         (ios18): the model converted with these shapes; repeatable,\n"
    "                         the first is the default; weights are stored once\n"
    "  --cache-length NAME    with --context: the positions already filled, the first element\n"
    "                         of integer input NAME (e.g. position_ids), or a new int32 [1]\n"
    "                         input NAME (default: cache_length)\n"
    "  --no-calibrate         keep fp32 only the ops without a legal fp16 form\n"
    "  --weights W            compress weights as `milkit compress` does: int8 (per channel),\n"
    "                         int4 (blocks of 32, iOS18), lutN (N-bit palette, k-means),\n"
    "                         cos=C or snr=NdB (modes chosen per weight, on the -i samples)\n"
    "  --no-fix               do not rewrite Core ML hazards (see milkit lint)\n"
    "  --name, --author, --description, --license, --version TEXT   model metadata\n"
    "  -v, --verbose          print the input/output name mapping, each fix and stage times\n"
    "Exit 0 ok, 2 error (nothing is written on error).\n";

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each .npz of a folder, sorted (malloc'd names in *out). */
static int list_npz(const char *dir, char ***out, int *n)
{
    DIR *d = opendir(dir);
    if (!d) return cli_fail("convert", "-i %s: cannot open the folder", dir);
    int cap = 0;
    *out = NULL;
    *n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".npz") != 0) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **g = realloc(*out, (size_t)cap * sizeof *g);
            if (!g) break;
            *out = g;
        }
        size_t m = strlen(dir) + l + 2;
        if (!((*out)[*n] = malloc(m))) break;
        snprintf((*out)[(*n)++], m, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (*n) qsort(*out, (size_t)*n, sizeof **out, by_name);
    if (!*n) return cli_fail("convert", "-i %s: no .npz file in the folder", dir);
    return 0;
}

/* One calibration run per -i FILE (a folder: per .npz in it); 0 or 2 after an error. */
static int load_samples(const char *const *specs, int n_specs, mk_tensor_list **out, int *n)
{
    int cap = 0, rc = 0;
    *out = NULL;
    *n = 0;
    for (int s = 0; s < n_specs && !rc; s++) {
        char **files = NULL;
        int nf = 0;
        struct stat sb;
        if (stat(specs[s], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            rc = list_npz(specs[s], &files, &nf);
        } else {
            files = malloc(sizeof *files);
            if (files && (files[0] = malloc(strlen(specs[s]) + 1))) strcpy(files[nf++], specs[s]);
        }
        if (!rc && !nf) rc = cli_fail("convert", "out of memory");
        for (int k = 0; k < nf && !rc; k++) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 16;
                mk_tensor_list *g = realloc(*out, (size_t)cap * sizeof *g);
                if (!g) {
                    rc = cli_fail("convert", "out of memory");
                    break;
                }
                *out = g;
            }
            mk_err e = {0};
            const char *sp = files[k];
            memset(&(*out)[*n], 0, sizeof **out);
            if (mk_tensors_load(1, &sp, &(*out)[*n], &e) != MK_OK)
                rc = cli_fail_err("convert", &e);
            else
                (*n)++;
        }
        for (int k = 0; k < nf; k++) free(files[k]);
        free(files);
    }
    if (rc) {
        for (int k = 0; k < *n; k++) mk_tensor_list_free(&(*out)[k]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static void print_calibration(const mk_convert_report *r)
{
    if (r->calib_source) {
        fprintf(stderr,
                "milkit convert: fp16 calibrated on %d %s (%d round%s): %d op%s kept fp32\n",
                r->n_calib_inputs,
                r->calib_source == 1 ? "given input sets"
                                     : "seeded input sets (floats uniform in [-1, 1], NCHW "
                                       "images in [-2.2, 2.7], ids inside the gather table)",
                r->calib_rounds, r->calib_rounds == 1 ? "" : "s", r->n_calib_kept,
                r->n_calib_kept == 1 ? "" : "s");
        if (r->n_calib_states)
            fprintf(stderr, "  measured as one stream: %d state output%s fed back step to step\n",
                    r->n_calib_states, r->n_calib_states == 1 ? "" : "s");
        int shown = r->n_calib_kept < 32 ? r->n_calib_kept : 32;
        for (int k = 0; k < shown; k++) {
            const mk_calib_row *c = &r->calib[k];
            if (c->error == 3)
                fprintf(stderr,
                        "  fp32: op %s (%s): in the front %.0f of %.0f fp16 ops (up to %s) "
                        "the outputs needed in fp32\n",
                        c->op, c->op_type, c->seen, c->bound, c->value);
            else if (c->error)
                fprintf(stderr,
                        "  fp32: op %s (%s): fp16 error of %s reached %.3g of its range "
                        "(bound %.3g)\n",
                        c->op, c->op_type, c->value, c->seen, c->bound);
            else
                fprintf(stderr, "  fp32: op %s (%s): |%s| reached %.4g, beyond %.4g (65504 / 4)\n",
                        c->op, c->op_type, c->value, c->seen, c->bound);
        }
        if (r->n_calib_kept > shown)
            fprintf(stderr, "  ... and %d more\n", r->n_calib_kept - shown);
        for (int k = 0; k < r->n_precision; k++) {
            const mk_precision_row *p = &r->precision[k];
            fprintf(stderr,
                    "  output %s (%zu values) vs fp32: max abs %.3g, max rel %.3g, SNR "
                    "%.1f dB",
                    p->output, p->size, p->max_abs, p->max_rel, p->snr_db);
            if (p->size >= 16 && !p->n_nonfinite) fprintf(stderr, ", cosine %.6f", p->cosine);
            if (p->n_nonfinite) fprintf(stderr, ", %zu inf/NaN", p->n_nonfinite);
            if (p->n_bad)
                fprintf(stderr, ", %zu of %zu beyond 1e-2 + 1e-2*|fp32|", p->n_bad, p->numel);
            fputc('\n', stderr);
        }
    }
    if (r->calib_note[0]) fprintf(stderr, "milkit convert: warning: %s\n", r->calib_note);
}

int mk_cmd_convert(int argc, char **argv)
{
    mk_convert_options o;
    memset(&o, 0, sizeof o);
    const char *in = NULL, *out = NULL, *target = NULL, *precision = NULL, *weights = NULL;
    cli_model_opts mo = {0};
    int no_fix = 0, no_calib = 0, rc = 2, r, n_specs = 0, n_samples = 0;
    const char *specs[CLI_MODEL_MAX], *states[CLI_MODEL_MAX];
    int n_states = 0;
    long long context = 0;
    const char *functions[CLI_MODEL_MAX];
    int n_functions = 0;
    const char *cache_length = NULL;
    mk_tensor_list *samples = NULL;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            rc = 0;
            goto done;
        } else if ((v = cli_opt(argc, argv, &i, "-o", &missing)) ||
                   (v = cli_opt(argc, argv, &i, "--output", &missing))) {
            out = v;
        } else if ((v = cli_opt(argc, argv, &i, "--target", &missing))) {
            target = v;
        } else if (!missing && (r = cli_model_opt("convert", argc, argv, &i, &mo))) {
            if (r == 2) goto done;
        } else if ((v = cli_opt(argc, argv, &i, "--precision", &missing))) {
            precision = v;
        } else if ((v = cli_opt(argc, argv, &i, "--weights", &missing))) {
            weights = v;
        } else if ((v = cli_opt(argc, argv, &i, "--name", &missing))) {
            o.name = v;
        } else if ((v = cli_opt(argc, argv, &i, "--author", &missing))) {
            o.author = v;
        } else if ((v = cli_opt(argc, argv, &i, "--description", &missing))) {
            o.description = v;
        } else if ((v = cli_opt(argc, argv, &i, "--license", &missing))) {
            o.license = v;
        } else if ((v = cli_opt(argc, argv, &i, "--version", &missing))) {
            o.version = v;
        } else if ((v = cli_opt(argc, argv, &i, "-i", &missing)) ||
                   (!missing && (v = cli_opt(argc, argv, &i, "--input", &missing)))) {
            if (n_specs == CLI_MODEL_MAX) {
                rc = cli_fail("convert", "too many -i options");
                goto done;
            }
            specs[n_specs++] = v;
        } else if ((v = cli_opt(argc, argv, &i, "--state", &missing))) {
            if (n_states == CLI_MODEL_MAX) {
                rc = cli_fail("convert", "too many --state options");
                goto done;
            }
            states[n_states++] = v;
        } else if ((v = cli_opt(argc, argv, &i, "--context", &missing))) {
            char *end = NULL;
            context = strtoll(v, &end, 10);
            if (!end || *end || context < 1 || context > (1 << 24)) {
                rc = cli_fail("convert", "--context '%s': want a count 1..16777216", v);
                goto done;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--function", &missing))) {
            if (n_functions == CLI_MODEL_MAX) {
                rc = cli_fail("convert", "too many --function options");
                goto done;
            }
            functions[n_functions++] = v;
        } else if ((v = cli_opt(argc, argv, &i, "--cache-length", &missing))) {
            cache_length = v;
        } else if (strcmp(argv[i], "--no-calibrate") == 0) {
            no_calib = 1;
        } else if (strcmp(argv[i], "--no-fix") == 0) {
            no_fix = 1;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            o.verbose = 1;
        } else if (missing) {
            rc = cli_fail("convert", "option '%s' needs a value (see --help)", argv[i]);
            goto done;
        } else if (argv[i][0] == '-') {
            rc = cli_fail("convert", "unknown option '%s' (see --help)", argv[i]);
            goto done;
        } else if (!in) {
            in = argv[i];
        } else {
            rc = cli_fail("convert", "more than one input model given (see --help)");
            goto done;
        }
        if (missing) {
            rc = cli_fail("convert", "option '%s' needs a value (see --help)", argv[i]);
            goto done;
        }
    }
    if (!in || !out) {
        rc = cli_fail("convert", "need an input model and -o OUT.mlpackage (see --help)");
        goto done;
    }
    if (target && (o.target = mk_target_parse(target)) == MK_TARGET_DEFAULT) {
        rc = cli_fail("convert", "unknown target '%s' (ios15, ios16, ios17, ios18)", target);
        goto done;
    }
    mk_pipeline_options po;
    memset(&po, 0, sizeof po);
    po.fp16 = 1;
    po.fp16_onnx_only = !precision;
    po.no_calibrate = no_calib;
    if (n_specs && (rc = load_samples(specs, n_specs, &samples, &n_samples)) != 0) goto done;
    rc = 2;
    po.samples = samples;
    po.n_samples = n_samples;
    if (context) { /* --state pairs name cache tensors, PAST=PRESENT */
        po.context = context;
        po.n_kv_states = n_states;
        po.kv_states = states;
        po.cache_length = cache_length;
    } else if (cache_length) {
        rc = cli_fail("convert", "--cache-length needs --context N");
        goto done;
    } else {
        po.n_states = n_states;
        po.states = states;
    }
    if (precision && strcmp(precision, "fp32") == 0)
        po.fp16 = 0;
    else if (precision && strcmp(precision, "fp16") != 0) {
        rc = cli_fail("convert", "unknown precision '%s' (fp16, fp32)", precision);
        goto done;
    }
    mk_compress_options wo;
    memset(&wo, 0, sizeof wo);
    char *wend = NULL;
    if (weights && (!strcmp(weights, "int8") || !strcmp(weights, "int4")))
        wo.mode = MK_CMP_LINEAR, wo.bits = weights[3] - '0', wo.granularity = wo.bits == 4 ? 2 : 0,
        wo.block = 32;
    else if (weights && !strncmp(weights, "lut", 3) && weights[3] >= '1' && weights[3] <= '8' &&
             !weights[4])
        wo.mode = MK_CMP_PALETTE, wo.bits = weights[3] - '0';
    else if (weights && !strncmp(weights, "cos=", 4) &&
             (wo.min_cos = strtod(weights + 4, &wend)) > 0 && wo.min_cos < 1 && !*wend)
        ;
    else if (weights && !strncmp(weights, "snr=", 4) &&
             (wo.min_snr_db = strtod(weights + 4, &wend)) > 0 && (!*wend || !strcmp(wend, "dB")))
        ;
    else if (weights) {
        rc = cli_fail("convert",
                      "unknown weight format '%s' (int8, int4, lut1..lut8, cos=C, snr=NdB)",
                      weights);
        goto done;
    }
    po.n_functions = n_functions;
    po.functions = functions;
    if (weights) po.weights = &wo;
    po.fix = !no_fix;
    po.verbose = o.verbose;
    cli_model_apply(&mo, &o);
    if (n_samples) o.shape_from = &samples[0]; /* the first -i fills dynamic dims */
    o.progress = isatty(2);
    mk_err e = {0};
    mk_convert_report rep;
    if (mk_convert(in, out, &o, &po, &rep, &e) != MK_OK) {
        rc = cli_fail_err("convert", &e);
        goto done;
    }
    fprintf(stderr, "milkit convert: wrote %s (%s, %d ops", out, mk_target_name(rep.target),
            rep.n_ops);
    if (po.fix)
        fprintf(stderr, "; fixes: %s", rep.fix_summary[0] ? rep.fix_summary : "none needed");
    if (rep.n_fp16_ops)
        fprintf(stderr, "; fp16: %d ops, %d kept fp32", rep.n_fp16_ops, rep.n_fp32_ops);
    if (po.weights)
        fprintf(stderr, "; weights %llu -> %llu bytes", rep.weight_bytes_before, rep.weight_bytes);
    fprintf(stderr, ")\n");
    if (o.verbose)
        fprintf(stderr,
                "milkit convert: load %.1f ms, fixes %.1f ms, precision %.1f ms, "
                "write %.1f ms\n",
                rep.ms_load, rep.ms_fix, rep.ms_precision, rep.ms_write);
    print_calibration(&rep);
    rc = 0;
done:
    for (int k = 0; k < n_samples; k++) mk_tensor_list_free(&samples[k]);
    free(samples);
    return rc;
}
