/* `milkit compress IN -o OUT.mlpackage [options]`: weight compression (linear int8/int4,
 * palettization, magnitude sparsity) with a report of bytes, weight error and the output error
 * against the uncompressed model in fp32 and fp16 emulation. Argument parsing and printing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: milkit compress IN -o OUT.mlpackage MODE [options]\n"
    "  IN                an .mlpackage, or an .onnx model (converted in fp32 for --target)\n"
    "  --target iosNN    target of an .onnx IN: ios16, ios17 or ios18 (default ios18)\n"
    "modes (one):\n"
    "  --int8 | --int4   linear quantization (int4 needs iOS18)\n"
    "  --palettize BITS  LUT of 2^BITS entries (1,2,3,4,6,8; 3 needs iOS18), optimal 1-D k-means\n"
    "  --sparsity F      magnitude sparsity: the fraction F of smallest weights become zero;\n"
    "                    with --palettize BITS (iOS18) the rest are palettized too\n"
    "granularity:\n"
    "  --per-tensor      one scale / one LUT per weight\n"
    "  --per-channel     one scale per output channel (linear default)\n"
    "  --block N         linear: blocks of N along the input axis (iOS18)\n"
    "  --group N         palettize: one LUT per N output channels (iOS18)\n"
    "  --zero-point      linear: asymmetric, with an offset\n"
    "  --uniform         palettize: evenly spaced entries instead of k-means\n"
    "  --nearest         plain rounding to the nearest entry/step; without it palettes of 4\n"
    "                    bits or fewer and int4 per channel/block compensate each column's\n"
    "                    rounding error on the layer input's Gram matrix (-i samples, else\n"
    "                    seeded inputs)\n"
    "which weights (linear, matmul, conv, conv_transpose, lstm/gru/rnn):\n"
    "  --min-elements N  leave weights smaller than N alone (default 2049: more than 2048)\n"
    "  --skip NAME       leave this weight (or op) alone; repeatable\n"
    "  --embedding       also compress gather tables\n"
    "automatic (the mode per weight, measured; no MODE):\n"
    "  --max-error B     bound on every output vs the uncompressed model: cos=0.999 or snr=30dB\n"
    "  --target-size S   all constants at most S bytes (5M = 5 MiB, 800K); with --max-error,\n"
    "                    an error when both cannot hold\n"
    "report:\n"
    "  --json            the report as JSON on stdout\n"
    "  -i SPEC, --seed N inputs for the output error and --max-error (one run per -i FILE.npz;\n"
    "                    default: seeded random inputs); given -i samples also weight the\n"
    "                    k-means of --palettize by each input channel's activation "
    "power\n" CLI_MODEL_HELP
    "  --strict          a block/group that does not divide a weight's axis is an error\n"
    "A weight whose axis the block/group does not divide uses the largest divisor down to a\n"
    "quarter of the size, else the smallest up to twice it, else per channel (blocks) or per\n"
    "tensor (groups), named in the report. A LUT shared by output channels whose ranges differ\n"
    "gets a scale per channel where that cuts the error (\"+channel scale\" in the report);\n"
    "weights left uncompressed are listed with the reason. Exit 0 ok, 2 error (nothing written).\n";

static int num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

static void print_text(const mk_compress_report *r, const mk_output_error *e32, int n32,
                       const mk_output_error *e16, int n16)
{
    size_t b = 0, a = 0;
    printf("%-40s %-16s %-34s %12s %12s %9s\n", "weight", "op", "mode", "bytes", "compressed",
           "rel err");
    for (int i = 0; i < r->n; i++) {
        const mk_compress_layer *l = &r->layers[i];
        printf("%-40s %-16s %-34s %12zu %12zu %9.2e\n", l->name, l->op, l->mode, l->bytes_before,
               l->bytes_after, l->rel_err);
        b += l->bytes_before, a += l->bytes_after;
    }
    for (int i = 0; i < r->n_kept; i++) {
        const mk_compress_layer *l = &r->kept[i];
        printf("%-40s %-16s %-34s %12zu %12zu %9s\n", l->name, l->op, l->mode, l->bytes_before,
               l->bytes_after, "-");
    }
    printf("%d weights (%d kept): %zu -> %zu bytes (%.3fx); all constants %zu -> %zu bytes "
           "(%.3fx)\n",
           r->n, r->n_kept, b, a, b ? (double)a / (double)b : 1.0, r->const_bytes_before,
           r->const_bytes_after,
           r->const_bytes_before ? (double)r->const_bytes_after / (double)r->const_bytes_before
                                 : 1.0);
    for (int pass = 0; pass < 2; pass++) {
        const mk_output_error *e = pass ? e16 : e32;
        for (int i = 0; i < (pass ? n16 : n32); i++) {
            printf("output %s (%s, %zu elements): ", e[i].name, pass ? "fp16" : "fp32", e[i].n);
            if (e[i].has_cos) printf("cosine %.6f, ", e[i].cos);
            printf("max abs %.3g, max rel %.3g, SNR %.1f dB\n", e[i].max_abs, e[i].max_rel,
                   e[i].snr_db);
        }
    }
}

static void json_num(double v)
{
    if (isfinite(v))
        printf("%.6g", v);
    else
        printf("null");
}

static void print_json(const mk_compress_report *r, const mk_output_error *e32, int n32,
                       const mk_output_error *e16, int n16)
{
    printf("{\"layers\":[");
    for (int i = 0; i < r->n; i++) {
        const mk_compress_layer *l = &r->layers[i];
        printf("%s{\"weight\":\"%s\",\"op\":\"%s\",\"mode\":\"%s\",\"elements\":%zu,"
               "\"bytes_before\":%zu,\"bytes_after\":%zu,\"rel_err\":",
               i ? "," : "", l->name, l->op, l->mode, l->elements, l->bytes_before, l->bytes_after);
        json_num(l->rel_err);
        printf("}");
    }
    printf("],\"kept\":[");
    for (int i = 0; i < r->n_kept; i++)
        printf("%s{\"weight\":\"%s\",\"op\":\"%s\",\"reason\":\"%s\",\"elements\":%zu}",
               i ? "," : "", r->kept[i].name, r->kept[i].op, r->kept[i].mode, r->kept[i].elements);
    printf("],\"const_bytes_before\":%zu,\"const_bytes_after\":%zu,\"outputs\":[",
           r->const_bytes_before, r->const_bytes_after);
    int k = 0;
    for (int pass = 0; pass < 2; pass++) {
        const mk_output_error *e = pass ? e16 : e32;
        for (int i = 0; i < (pass ? n16 : n32); i++) {
            printf("%s{\"name\":\"%s\",\"precision\":\"%s\",\"elements\":%zu,\"cosine\":",
                   k++ ? "," : "", e[i].name, pass ? "fp16" : "fp32", e[i].n);
            if (e[i].has_cos)
                json_num(e[i].cos);
            else
                printf("null");
            printf(",\"max_abs\":");
            json_num(e[i].max_abs);
            printf(",\"max_rel\":");
            json_num(e[i].max_rel);
            printf(",\"snr_db\":");
            json_num(e[i].snr_db);
            printf("}");
        }
    }
    printf("]}\n");
}

int mk_cmd_compress(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *v;
    const char *skips[CLI_MODEL_MAX];
    mk_compress_options o;
    memset(&o, 0, sizeof o);
    o.skip = skips;
    int json = 0, r, miss = 0, pal_bits = 0, sparse = 0, autom = 0;
    mk_target target = MK_TARGET_IOS18;
    double d;
    cli_model_opts mo = {0};
    cli_exec_opts x = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(usage, stdout);
            return 0;
        } else if ((v = cli_opt(argc, argv, &i, "-o", &miss)) ||
                   (v = cli_opt(argc, argv, &i, "--output", &miss))) {
            out = v;
        } else if ((v = cli_opt(argc, argv, &i, "--target", &miss))) {
            if ((target = mk_target_parse(v)) == MK_TARGET_DEFAULT)
                return cli_fail("compress", "unknown target '%s' (ios16, ios17, ios18)", v);
        } else if (!strcmp(a, "--int8") || !strcmp(a, "--int4")) {
            o.mode = MK_CMP_LINEAR, o.bits = a[5] - '0';
        } else if ((v = cli_opt(argc, argv, &i, "--palettize", &miss))) {
            if (!num(v, 1, 8, &d) || d != floor(d))
                return cli_fail("compress", "--palettize takes 1, 2, 3, 4, 6 or 8, not '%s'", v);
            pal_bits = (int)d;
        } else if ((v = cli_opt(argc, argv, &i, "--sparsity", &miss))) {
            if (!num(v, 0, 1, &d))
                return cli_fail("compress", "--sparsity takes a fraction, not '%s'", v);
            o.sparsity = d, sparse = 1;
        } else if (!strcmp(a, "--per-tensor")) {
            o.granularity = 1;
        } else if (!strcmp(a, "--per-channel")) {
            o.granularity = 0;
        } else if ((v = cli_opt(argc, argv, &i, "--block", &miss)) ||
                   (v = cli_opt(argc, argv, &i, "--group", &miss))) {
            if (!num(v, 1, 1 << 30, &d) || d != floor(d))
                return cli_fail("compress", "%s takes a positive integer, not '%s'", a, v);
            o.granularity = 2;
            o.block = o.group = (int)d;
        } else if (!strcmp(a, "--zero-point")) {
            o.zero_point = 1;
        } else if (!strcmp(a, "--uniform")) {
            o.uniform = 1;
        } else if (!strcmp(a, "--nearest")) {
            o.nearest = 1;
        } else if ((v = cli_opt(argc, argv, &i, "--max-error", &miss))) {
            char *end = NULL;
            if (!strncmp(v, "cos=", 4) && (d = strtod(v + 4, &end)) > 0 && d < 1 && !*end)
                o.min_cos = d;
            else if (!strncmp(v, "snr=", 4) && (d = strtod(v + 4, &end)) > 0 &&
                     (!*end || !strcmp(end, "dB") || !strcmp(end, "db")))
                o.min_snr_db = d;
            else
                return cli_fail("compress",
                                "--max-error takes cos=C (0 < C < 1) or snr=NdB, not '%s'", v);
            autom = 1;
        } else if ((v = cli_opt(argc, argv, &i, "--target-size", &miss))) {
            if (!(o.target_bytes = mk_parse_size(v)))
                return cli_fail("compress", "--target-size takes a size (5M, 800K, 1.5G), not '%s'",
                                v);
            autom = 1;
        } else if (!strcmp(a, "--strict")) {
            o.strict = 1;
        } else if (!strcmp(a, "--embedding")) {
            o.embedding = 1;
        } else if ((v = cli_opt(argc, argv, &i, "--min-elements", &miss))) {
            if (!num(v, 0, 1e15, &d) || d != floor(d))
                return cli_fail("compress", "--min-elements takes a count, not '%s'", v);
            o.min_elements = d < 1 ? 1 : (size_t)d;
        } else if ((v = cli_opt(argc, argv, &i, "--skip", &miss))) {
            if (o.n_skip >= CLI_MODEL_MAX) return cli_fail("compress", "too many --skip");
            skips[o.n_skip++] = v;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if ((r = cli_exec_opt("compress", argc, argv, &i, &x)) ||
                   (r = cli_model_opt("compress", argc, argv, &i, &mo))) {
            if (r == 2) return 2;
        } else if (miss) {
            return cli_fail("compress", "%s needs a value", a);
        } else if (a[0] == '-') {
            return cli_fail("compress", "unknown option '%s' (see --help)", a);
        } else if (!in) {
            in = a;
        } else {
            return cli_fail("compress", "more than one model given (see --help)");
        }
    }
    if (!in) return cli_fail("compress", "no model given (see --help)");
    if (!out) return cli_fail("compress", "no output given (-o OUT.mlpackage)");
    if (autom && (o.mode || pal_bits || sparse))
        return cli_fail("compress", "--max-error/--target-size choose the mode per weight: give "
                                    "no --int8, --int4, --palettize or --sparsity");
    if (o.mode == MK_CMP_LINEAR && (pal_bits || sparse))
        return cli_fail("compress",
                        "--int8/--int4 combine with neither --palettize nor --sparsity");
    if (!o.mode && sparse)
        o.mode = MK_CMP_SPARSE, o.bits = pal_bits;
    else if (!o.mode && pal_bits)
        o.mode = MK_CMP_PALETTE, o.bits = pal_bits;
    if (!o.mode && !autom)
        return cli_fail("compress",
                        "no mode given: --int8, --int4, --palettize BITS, --sparsity F, "
                        "--max-error or --target-size");
    mk_err e = {0};
    mk_convert_options co;
    memset(&co, 0, sizeof co);
    cli_model_apply(&mo, &co);
    co.target = target;
    mk_program *ref = NULL, *p = NULL;
    mk_compress_report rep = {0};
    mk_tensor_list runs[CLI_MODEL_MAX];
    memset(runs, 0, sizeof runs);
    mk_output_error e32[64], e16[64];
    int n32 = 0, n16 = 0, rc = 2, n_runs = 0, npz = x.n_specs > 0;
    for (int k = 0; k < x.n_specs; k++) {
        size_t l = strlen(x.specs[k]);
        npz &= l > 4 && !strcmp(x.specs[k] + l - 4, ".npz");
    }
    if (mk_model_load(in, &co, NULL, &ref, &e)) goto done;
    /* inputs: one run per -i FILE.npz, else one run of every -i; seeded: two runs */
    if (npz) {
        for (int k = 0; k < x.n_specs; k++, n_runs++)
            if (mk_tensors_load_for(ref, 1, &x.specs[k], &runs[k], &e)) goto done;
    } else if (x.n_specs) {
        if (mk_tensors_load_for(ref, x.n_specs, x.specs, &runs[0], &e)) goto done;
        n_runs = 1;
    } else {
        for (int k = 0; k < (autom ? 2 : 1); k++, n_runs++)
            if (mk_random_inputs(ref, x.seed + (unsigned long long)k, &runs[k], &e)) goto done;
    }
    if (x.n_specs) o.calib = runs, o.n_calib = n_runs; /* samples given: weighted k-means */
    if (autom ? mk_compress_auto(ref, &o, runs, n_runs, &p, &rep, &e)
              : (mk_program_clone(ref, &p, &e) || mk_compress(p, &o, &rep, &e)))
        goto done;
    if (mk_output_errors2(ref, p, &runs[0], e32, &n32, e16, &n16, 64, &e)) goto done;
    if (mk_program_save(p, out, MK_TARGET_DEFAULT, &e)) goto done;
    if (json)
        print_json(&rep, e32, n32, e16, n16);
    else
        print_text(&rep, e32, n32, e16, n16);
    rc = 0;
done:
    if (rc) cli_fail_err("compress", &e);
    for (int k = 0; k < n_runs; k++) mk_tensor_list_free(&runs[k]);
    mk_compress_report_free(&rep);
    mk_program_free(ref);
    mk_program_free(p);
    return rc;
}
