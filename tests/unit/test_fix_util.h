/* Helpers the lint/fix tests share: a rule's findings on a program, and how far two runs'
 * outputs are from each other. Test-only; include after test.h. */
#ifndef MK_TEST_FIX_UTIL_H
#define MK_TEST_FIX_UTIL_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "milkit.h"

/* What lint said about one rule. */
typedef struct rule_hits {
    int n;             /* findings of the rule */
    int n_fix;         /* of them, offering a fix */
    int n_op;          /* of them, on an op (program-level findings excluded) */
    int n_op_fix;      /* of those, offering a fix */
    char fix[64];      /* the pass the first finding names, "" when none */
    char message[600]; /* the first finding's message */
} rule_hits;

/* Lints p (assume_fp16 as mk_lint_options) and collects rule's findings, only those on op
 * `op_name` when it is not NULL. Returns h->n, or -1 when lint fails. */
static inline int lint_hits(const mk_program *p, const char *rule, int assume_fp16,
                            const char *op_name, rule_hits *h)
{
    mk_lint_options o = {MK_TARGET_DEFAULT, assume_fp16, NULL, NULL};
    mk_findings *f = NULL;
    mk_err e = {MK_OK, ""};
    memset(h, 0, sizeof *h);
    if (mk_lint(p, &o, &f, &e) != MK_OK) return -1;
    for (int i = 0; i < mk_findings_count(f); i++) {
        const mk_finding *x = mk_findings_at(f, i);
        if (strcmp(x->rule, rule) != 0) continue;
        if (op_name && (!x->op_name || strcmp(x->op_name, op_name) != 0)) continue;
        if (!h->n++) {
            snprintf(h->fix, sizeof h->fix, "%s", x->fix ? x->fix : "");
            snprintf(h->message, sizeof h->message, "%s", x->message);
        }
        h->n_fix += x->fix != NULL;
        h->n_op += x->op_index >= 0;
        h->n_op_fix += x->op_index >= 0 && x->fix != NULL;
    }
    mk_findings_free(f);
    return h->n;
}

/* Worst |a-b| - (atol + rtol|b|) over the float outputs (<= 0: within tolerance); other
 * outputs must match bit for bit; NaN against NaN agrees; INFINITY when the lists differ. */
static inline double excess(const mk_tensor_list *a, const mk_tensor_list *b, double atol,
                            double rtol)
{
    double worst = -INFINITY;
    if (a->n != b->n) return INFINITY;
    for (int i = 0; i < a->n; i++) {
        if (a->items[i].nbytes != b->items[i].nbytes || a->items[i].dtype != b->items[i].dtype)
            return INFINITY;
        if (a->items[i].dtype != 11) {
            if (memcmp(a->items[i].data, b->items[i].data, a->items[i].nbytes)) return INFINITY;
            continue;
        }
        const float *x = a->items[i].data, *y = b->items[i].data;
        for (size_t k = 0; k < a->items[i].nbytes / 4; k++) {
            if (isnan(x[k]) && isnan(y[k])) continue;
            double d = fabs((double)x[k] - y[k]) - (atol + rtol * fabs((double)y[k]));
            if (isnan(d)) return INFINITY;
            if (d > worst) worst = d;
        }
    }
    return worst;
}

/* Worst |a-b| / (atol + rtol|b|) over float outputs (<= 1: within tolerance); INFINITY when
 * the lists differ, an output is not float, or a value is NaN. */
static inline double tolerance_ratio(const mk_tensor_list *a, const mk_tensor_list *b, double atol,
                                     double rtol)
{
    double w = 0;
    if (a->n != b->n || a->n < 1) return INFINITY;
    for (int i = 0; i < a->n; i++) {
        if (a->items[i].nbytes != b->items[i].nbytes || a->items[i].dtype != 11) return INFINITY;
        const float *x = a->items[i].data, *y = b->items[i].data;
        for (size_t k = 0; k < a->items[i].nbytes / 4; k++) {
            double d = fabs((double)x[k] - y[k]) / (atol + rtol * fabs((double)y[k]));
            if (isnan(d) || isinf(d)) return INFINITY;
            if (d > w) w = d;
        }
    }
    return w;
}

#endif
