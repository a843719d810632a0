/* ONNX NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss lowering: C-built models for
 * reductions none/sum/mean, class weights, ignore_index, k-dim targets, run-time and constant
 * targets, and SCE's log_prob output, checked against the ONNX definitions computed here by
 * plain loops. Also checks no gather_along_axis is emitted (H29) and bad attributes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "onnx/onnx_int.h"
#include "test.h"
#include "test_onnx_build.h"
#include "test_onnx_run.h"

enum { NONE, SUM, MEAN };
static const char *const red_names[] = {"none", "sum", "mean"};

typedef struct lcase {
    int sce;         /* SoftmaxCrossEntropyLoss instead of NLL */
    int rank;        /* of the input */
    int64_t dims[5]; /* input dims [N, C, d...] */
    int rt_target;   /* target is a graph input (else an initializer) */
    int weight;      /* pass class weights */
    int has_ii, ii;  /* ignore_index */
    int red;         /* NONE / SUM / MEAN; -1 leaves the attribute off (mean) */
    int log_prob;    /* SCE: ask for the second output */
} lcase;

/* The ONNX definition by loops: lp[n, c, d] log-probabilities, loss per element or reduced. */
static int ref_loss(const lcase *k, const float *lp, const int32_t *t, const float *w, double *out)
{
    int N = (int)k->dims[0], C = (int)k->dims[1], D = 1;
    for (int i = 2; i < k->rank; i++) D *= (int)k->dims[i];
    double tot = 0, wsum = 0;
    int red = k->red < 0 ? MEAN : k->red;
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            int tc = t[n * D + d];
            double l = 0, wt = 0;
            if (!(k->has_ii && tc == k->ii)) {
                wt = w ? w[tc] : 1.0;
                l = -lp[((size_t)n * C + tc) * D + d] * wt;
            }
            if (red == NONE) out[n * D + d] = l;
            tot += l;
            wsum += wt;
        }
    if (red == NONE) return N * D;
    out[0] = red == SUM ? tot : tot / wsum;
    return 1;
}

static void run_case(mk_test_ctx *tc, const lcase *k)
{
    int N = (int)k->dims[0], C = (int)k->dims[1], D = 1;
    for (int i = 2; i < k->rank; i++) D *= (int)k->dims[i];
    int nx = N * C * D, nt = N * D;
    float *x = malloc((size_t)nx * sizeof *x), *lp = malloc((size_t)nx * sizeof *lp);
    int32_t *t = malloc((size_t)nt * sizeof *t);
    int64_t *t64 = malloc((size_t)nt * sizeof *t64);
    double *want = malloc((size_t)nt * sizeof *want);
    float *got = malloc((size_t)nx * sizeof *got);
    float w[8];
    for (int c = 0; c < C; c++) w[c] = 0.5f + 0.25f * (float)c;
    for (int i = 0; i < nx; i++) x[i] = (float)sin(0.7 * i + 0.3) * (k->sce ? 3.0f : -1.0f);
    for (int i = 0; i < nt; i++) {
        t[i] = (i * 5 + 1) % C;
        if (k->has_ii && i % 3 == 1) t[i] = k->ii;
        t64[i] = t[i];
    }
    /* SCE: log_softmax along axis 1; NLL: the input itself */
    for (int n = 0; n < N; n++)
        for (int d = 0; d < D; d++) {
            double m = -INFINITY, s = 0;
            for (int c = 0; c < C; c++) m = fmax(m, x[(n * C + c) * D + d]);
            for (int c = 0; c < C; c++) s += exp(x[(n * C + c) * D + d] - m);
            for (int c = 0; c < C; c++) {
                size_t j = ((size_t)n * C + c) * D + d;
                lp[j] = k->sce ? (float)(x[j] - m - log(s)) : x[j];
            }
        }
    int nw = ref_loss(k, lp, t, k->weight ? w : NULL, want);

    ob b;
    ob_init(&b, 13);
    int64_t td[4] = {N}, cd = C;
    for (int i = 2; i < k->rank; i++) td[i - 1] = k->dims[i];
    ob_input(&b, "x", 1, k->rank, k->dims);
    if (k->rt_target)
        ob_input(&b, "t", 7, k->rank - 1, td);
    else
        ob_init_i(&b, "t", k->rank - 1, td, t64);
    if (k->weight) ob_init_f(&b, "w", 1, &cd, w);
    const char *ins = k->weight ? "x,t,w" : "x,t";
    const char *op = k->sce ? "SoftmaxCrossEntropyLoss" : "NegativeLogLikelihoodLoss";
    Onnx__NodeProto *nd = ob_node(&b, op, ins, k->log_prob ? "loss,lp" : "loss");
    if (k->red >= 0) ob_attr_s(&b, nd, "reduction", red_names[k->red]);
    if (k->has_ii) ob_attr_i(&b, nd, "ignore_index", k->ii);
    ob_output(&b, "loss");
    if (k->log_prob) ob_output(&b, "lp");
    mk_program *p = imp(tc, &b, NULL);
    if (p) {
        CHECK_EQ_INT(ob_count(p, MK_OP_GATHER_ALONG_AXIS), 0);
        CHECK_EQ_INT(ob_count(p, MK_OP_REDUCE_LOG_SUM_EXP), 0);
        const void *d[2] = {x, t};
        int n_in = k->rt_target ? 2 : 1;
        if (run_k(tc, p, n_in, d, 0, got, (size_t)nw * sizeof *got))
            for (int i = 0; i < nw; i++)
                CHECK_MSG(fabs(got[i] - want[i]) < 1e-5 * (1 + fabs(want[i])),
                          "%s red=%d rt=%d w=%d ii=%d: loss[%d] = %g, want %g",
                          k->sce ? "sce" : "nll", k->red, k->rt_target, k->weight, k->has_ii, i,
                          got[i], want[i]);
        if (k->log_prob && run_k(tc, p, n_in, d, 1, got, (size_t)nx * sizeof *got))
            for (int i = 0; i < nx; i++)
                CHECK_MSG(fabs(got[i] - lp[i]) < 1e-5, "log_prob[%d] = %g, want %g", i, got[i],
                          lp[i]);
    }
    mk_ir_program_free(p);
    ob_free(&b);
    free(x), free(lp), free(t), free(t64), free(want), free(got);
}

TEST(onnx_nll_loss_reductions_by_hand)
{
    for (int red = -1; red <= MEAN; red++)
        for (int rt = 0; rt < 2; rt++)
            for (int wt = 0; wt < 2; wt++) {
                lcase k = {0, 2, {3, 4}, rt, wt, 0, 0, red, 0};
                run_case(tc, &k);
            }
}

TEST(onnx_nll_loss_ignore_index_by_hand)
{
    /* ignore_index inside the class range, negative and above it */
    const int iis[3] = {1, -1, 7};
    for (int j = 0; j < 3; j++)
        for (int red = NONE; red <= MEAN; red++)
            for (int rt = 0; rt < 2; rt++) {
                lcase k = {0, 2, {5, 3}, rt, 1, 1, iis[j], red, 0};
                run_case(tc, &k);
                k.weight = 0;
                run_case(tc, &k);
            }
}

TEST(onnx_nll_loss_kdim_targets_by_hand)
{
    for (int red = NONE; red <= MEAN; red++)
        for (int rt = 0; rt < 2; rt++) {
            lcase k = {0, 4, {2, 3, 2, 3}, rt, 1, 1, 2, red, 0};
            run_case(tc, &k);
            lcase k2 = {0, 3, {2, 5, 4}, rt, 0, 0, 0, red, 0};
            run_case(tc, &k2);
        }
}

TEST(onnx_sce_loss_log_prob_by_hand)
{
    for (int red = NONE; red <= MEAN; red++)
        for (int rt = 0; rt < 2; rt++) {
            lcase k = {1, 2, {3, 5}, rt, 0, 0, 0, red, 1};
            run_case(tc, &k);
            lcase k2 = {1, 3, {2, 4, 3}, rt, 1, 1, 0, red, 1};
            run_case(tc, &k2);
            lcase k3 = {1, 4, {2, 3, 2, 2}, rt, 1, 1, -5, red, 0};
            run_case(tc, &k3);
        }
}

TEST(onnx_loss_bad_attributes)
{
    ob b;
    ob_init(&b, 13);
    int64_t xd[2] = {2, 3}, td[1] = {2}, tv[2] = {0, 2};
    ob_input(&b, "x", 1, 2, xd);
    ob_init_i(&b, "t", 1, td, tv);
    Onnx__NodeProto *nd = ob_node(&b, "NegativeLogLikelihoodLoss", "x,t", "loss");
    ob_attr_s(&b, nd, "reduction", "max");
    ob_output(&b, "loss");
    mk_program *p = NULL;
    mk_err e = {0};
    CHECK(ob_import(&b, NULL, &p, &e) != MK_OK);
    CHECK_MSG(strstr(e.msg, "NegativeLogLikelihoodLoss") != NULL, "message: %s", e.msg);
    mk_ir_program_free(p);
    ob_free(&b);

    /* a constant target outside [0, C) is an error, not a crash */
    ob_init(&b, 13);
    int64_t bad[2] = {0, 3};
    ob_input(&b, "x", 1, 2, xd);
    ob_init_i(&b, "t", 1, td, bad);
    ob_node(&b, "NegativeLogLikelihoodLoss", "x,t", "loss");
    ob_output(&b, "loss");
    p = NULL;
    e = (mk_err){0};
    CHECK(ob_import(&b, NULL, &p, &e) != MK_OK);
    CHECK_MSG(strstr(e.msg, "out of range") != NULL, "message: %s", e.msg);
    mk_ir_program_free(p);
    ob_free(&b);
}
