/* Lowering of ONNX Einsum to MIL transpose / reshape / matmul / reduce_sum (Core ML's own
 * einsum takes only a few equations): repeated labels in one term become a diagonal (mask and
 * sum), labels found in one operand only and not in the output are summed out, operands are
 * contracted pairwise left to right as one batched matmul each, and the result is transposed
 * to the output order. Explicit and implicit equations, "..." broadcasting; static shapes. */
#include <string.h>

#include "onnx_int.h"

#define N_LABELS (52 + MK_MAX_RANK) /* a-z, A-Z, then one per ellipsis axis */

typedef struct term {
    int n;
    int lab[MK_MAX_RANK];
} term;

typedef struct operand {
    mk_value *v;
    term t;
} operand;

static int letter(char ch)
{
    if (ch >= 'a' && ch <= 'z') return ch - 'a';
    if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
    return -1;
}

/* Parse one term of s[0..len) for an operand of rank r (r < 0: the output, whose ellipsis
 * takes E axes). Returns 0 on a malformed term. */
static int parse_term(const char *s, size_t len, int r, int E, term *t, int *ell_rank)
{
    int n_letters = 0, has_ell = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (has_ell || i + 2 >= len || s[i + 1] != '.' || s[i + 2] != '.') return 0;
            has_ell = 1;
            i += 2;
        } else if (letter(s[i]) >= 0) {
            n_letters++;
        } else if (s[i] != ' ') {
            return 0;
        }
    }
    int e = r < 0 ? (has_ell ? E : 0) : r - n_letters;
    if (e < 0 || (!has_ell && e != 0) || n_letters + e > MK_MAX_RANK) return 0;
    if (ell_rank) *ell_rank = e;
    t->n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            for (int j = 0; j < e; j++) t->lab[t->n++] = 52 + (E - e) + j;
            i += 2;
        } else if (letter(s[i]) >= 0) {
            t->lab[t->n++] = letter(s[i]);
        }
    }
    return 1;
}

static int has(const term *t, int l)
{
    for (int i = 0; i < t->n; i++)
        if (t->lab[i] == l) return 1;
    return 0;
}

static mk_value *reduce_sum(ox_ctx *c, mk_value *x, int n, const int32_t *axes)
{
    mk_op *op = mk_onnx_op(c, MK_OP_REDUCE_SUM, NULL);
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_i32s(c, op, "axes", n, axes) ||
        !mk_onnx_in_bool(c, op, "keep_dims", 0))
        return NULL;
    return mk_onnx_out(c, op, NULL);
}

/* Transpose o so that its labels follow `want` (a permutation of them). */
static int permute(ox_ctx *c, operand *o, const term *want)
{
    int perm[MK_MAX_RANK], ident = 1;
    for (int i = 0; i < want->n; i++) {
        perm[i] = -1;
        for (int j = 0; j < o->t.n; j++)
            if (o->t.lab[j] == want->lab[i]) perm[i] = j;
        if (perm[i] < 0) return 0;
        ident &= perm[i] == i;
    }
    if (!ident && !(o->v = mk_onnx_transpose(c, o->v, want->n, perm, NULL))) return 0;
    o->t = *want;
    return 1;
}

/* Remove repeated labels of one operand: keep the diagonal (x * identity mask, summed over
 * the second axis). */
static int diagonal(ox_ctx *c, operand *o)
{
    for (int a = 0; a < o->t.n; a++)
        for (int b = a + 1; b < o->t.n; b++) {
            if (o->t.lab[a] != o->t.lab[b]) continue;
            int64_t d = o->v->type.dims[a];
            if (d != o->v->type.dims[b] || d > 4096) return 0;
            int r = o->t.n;
            int64_t md[MK_MAX_RANK];
            for (int i = 0; i < r; i++) md[i] = i == a || i == b ? d : 1;
            float *m = mk_arena_array(c->p->arena, (size_t)(d * d), sizeof *m);
            if (!m) return 0;
            for (int64_t i = 0; i < d; i++) m[i * d + i] = 1;
            mk_value *mv = mk_onnx_cf32_own(c, "einsum_eye", r, md, m);
            mk_value *x = mv ? mk_onnx_binary(c, MK_OP_MUL, o->v, mv, NULL) : NULL;
            int32_t ax = b;
            if (!x || !(o->v = reduce_sum(c, x, 1, &ax))) return 0;
            for (int i = b; i < r - 1; i++) o->t.lab[i] = o->t.lab[i + 1];
            o->t.n--;
            b = a; /* rescan for a third copy */
        }
    return 1;
}

static int64_t size_of(const operand *o, int l)
{
    for (int i = 0; i < o->t.n; i++)
        if (o->t.lab[i] == l) return o->v->type.dims[i];
    return 1;
}

/* Contract a and b over their shared labels that `keep` does not need; result in a. */
static int contract(ox_ctx *c, operand *a, operand *b, const int *keep, const char **why)
{
    term ta = {0, {0}}, tb = {0, {0}}, tr = {0, {0}};
    int nbatch = 0, na = 0, nb = 0, nk = 0;
    int batch[MK_MAX_RANK], ao[MK_MAX_RANK], bo[MK_MAX_RANK], con[MK_MAX_RANK];
    for (int i = 0; i < a->t.n; i++) {
        int l = a->t.lab[i];
        if (has(&b->t, l)) {
            if (keep[l])
                batch[nbatch++] = l;
            else
                con[nk++] = l;
        } else {
            ao[na++] = l;
        }
    }
    for (int i = 0; i < b->t.n; i++)
        if (!has(&a->t, b->t.lab[i])) bo[nb++] = b->t.lab[i];
    for (int i = 0; i < nk; i++)
        if (size_of(a, con[i]) != size_of(b, con[i])) {
            *why = "a summed label broadcasts";
            return 0;
        }
    if (nbatch + 2 > MK_MAX_RANK || nbatch + na + nb > MK_MAX_RANK) {
        *why = "rank too high";
        return 0;
    }
    int64_t M = 1, K = 1, N = 1;
    for (int i = 0; i < nbatch; i++) ta.lab[ta.n++] = tb.lab[tb.n++] = tr.lab[tr.n++] = batch[i];
    for (int i = 0; i < na; i++) ta.lab[ta.n++] = tr.lab[tr.n++] = ao[i], M *= size_of(a, ao[i]);
    for (int i = 0; i < nk; i++) ta.lab[ta.n++] = tb.lab[tb.n++] = con[i], K *= size_of(a, con[i]);
    for (int i = 0; i < nb; i++) tb.lab[tb.n++] = tr.lab[tr.n++] = bo[i], N *= size_of(b, bo[i]);
    if (!permute(c, a, &ta) || !permute(c, b, &tb)) return 0;
    int64_t da[MK_MAX_RANK], db[MK_MAX_RANK], dr[MK_MAX_RANK];
    for (int i = 0; i < nbatch; i++) {
        da[i] = a->v->type.dims[i];
        db[i] = b->v->type.dims[i];
        dr[i] = da[i] > db[i] ? da[i] : db[i];
    }
    da[nbatch] = M, da[nbatch + 1] = K;
    db[nbatch] = K, db[nbatch + 1] = N;
    for (int i = 0; i < na; i++) dr[nbatch + i] = size_of(a, ao[i]);
    for (int i = 0; i < nb; i++) dr[nbatch + na + i] = size_of(b, bo[i]);
    mk_value *x = mk_onnx_reshape(c, a->v, nbatch + 2, da, NULL);
    mk_value *y = x ? mk_onnx_reshape(c, b->v, nbatch + 2, db, NULL) : NULL;
    mk_op *op = y ? mk_onnx_op(c, MK_OP_MATMUL, NULL) : NULL;
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "y", y) ||
        !mk_onnx_in_bool(c, op, "transpose_x", 0) || !mk_onnx_in_bool(c, op, "transpose_y", 0))
        return 0;
    mk_value *m = mk_onnx_out(c, op, NULL);
    if (!m || !(a->v = mk_onnx_reshape(c, m, tr.n, dr, NULL))) return 0;
    a->t = tr;
    return 1;
}

OX_LOWER(mk_onnx_lower_einsum)
{
    (void)n_out;
    const char *eq = mk_onnx_attr_s(c, n, "equation", NULL);
    if (!eq) return mk_err_set(c->err, MK_EINVAL, "missing equation");
    if (n_in < 1 || n_in > 16) return mk_onnx_unsupported(c, n, "%d operands", n_in);
    operand ops[16];
    const char *arrow = strstr(eq, "->"), *end = arrow ? arrow : eq + strlen(eq);
    /* the ellipsis rank: the largest over the operands */
    int E = 0, ell[16];
    const char *p = eq;
    for (int i = 0; i < n_in; i++) {
        const char *q = memchr(p, ',', (size_t)(end - p));
        if (!q) q = end;
        if ((i < n_in - 1) != (q != end))
            return mk_err_set(c->err, MK_EINVAL, "%d operands for %s", n_in, eq);
        if (!in[i]) return mk_onnx_unsupported(c, n, "missing operand");
        if (!(ops[i].v = mk_onnx_mil(c, in[i]))) return fail(c);
        if (ops[i].v->type.dtype != MK_DT_FP32)
            return mk_onnx_unsupported(c, n, "non-float operand");
        for (int d = 0; d < ops[i].v->type.rank; d++)
            if (ops[i].v->type.dims[d] < 0) return mk_onnx_unsupported(c, n, "needs static shapes");
        term tmp;
        if (!parse_term(p, (size_t)(q - p), ops[i].v->type.rank, 0, &tmp, &ell[i]))
            return mk_err_set(c->err, MK_EINVAL, "bad equation '%s' for operand %d", eq, i);
        if (ell[i] > E) E = ell[i];
        p = q + 1;
    }
    p = eq;
    for (int i = 0; i < n_in; i++) {
        const char *q = memchr(p, ',', (size_t)(end - p));
        if (!q) q = end;
        parse_term(p, (size_t)(q - p), ops[i].v->type.rank, E, &ops[i].t, NULL);
        p = q + 1;
    }
    term outt;
    int count[N_LABELS] = {0};
    for (int i = 0; i < n_in; i++) {
        int seen[N_LABELS] = {0};
        for (int j = 0; j < ops[i].t.n; j++) seen[ops[i].t.lab[j]]++;
        for (int l = 0; l < N_LABELS; l++) count[l] += seen[l];
    }
    if (arrow) {
        if (!parse_term(arrow + 2, strlen(arrow + 2), -1, E, &outt, NULL))
            return mk_err_set(c->err, MK_EINVAL, "bad output term in '%s'", eq);
    } else {
        /* implicit: the ellipsis axes, then letters used once, in alphabetical (ASCII) order */
        outt.n = 0;
        for (int j = 0; j < E; j++) outt.lab[outt.n++] = 52 + j;
        for (int ch = 'A'; ch <= 'z'; ch++) {
            int l = letter((char)ch);
            if (l >= 0 && count[l] == 1) {
                if (outt.n == MK_MAX_RANK) return mk_onnx_unsupported(c, n, "rank too high");
                outt.lab[outt.n++] = l;
            }
        }
    }
    for (int i = 0; i < outt.n; i++)
        if (!count[outt.lab[i]])
            return mk_err_set(c->err, MK_EINVAL, "output label not in any input");
    /* diagonals, then labels of one operand that nothing else needs */
    for (int i = 0; i < n_in; i++) {
        if (!diagonal(c, &ops[i]))
            return c->err->code ? c->err->code
                                : mk_onnx_unsupported(c, n, "diagonal of unequal or large axes");
        int32_t ax[MK_MAX_RANK];
        int na = 0;
        term kept = {0, {0}};
        for (int j = 0; j < ops[i].t.n; j++) {
            int l = ops[i].t.lab[j], elsewhere = 0;
            for (int k = 0; k < n_in; k++) elsewhere |= k != i && has(&ops[k].t, l);
            if (!elsewhere && !has(&outt, l))
                ax[na++] = j;
            else
                kept.lab[kept.n++] = l;
        }
        if (na && !(ops[i].v = reduce_sum(c, ops[i].v, na, ax))) return fail(c);
        ops[i].t = kept;
    }
    for (int i = 1; i < n_in; i++) {
        int keep[N_LABELS] = {0};
        for (int j = 0; j < outt.n; j++) keep[outt.lab[j]] = 1;
        for (int k = i + 1; k < n_in; k++)
            for (int j = 0; j < ops[k].t.n; j++) keep[ops[k].t.lab[j]] = 1;
        const char *why = NULL;
        if (!contract(c, &ops[0], &ops[i], keep, &why))
            return why            ? mk_onnx_unsupported(c, n, "%s", why)
                   : c->err->code ? c->err->code
                                  : fail(c);
    }
    if (ops[0].t.n != outt.n) return mk_onnx_unsupported(c, n, "output labels do not match");
    if (!permute(c, &ops[0], &outt)) return fail(c);
    mk_value *v = ops[0].v;
    /* a result that is an input (plain copy) still needs an op of its own */
    if (!v->producer || v->producer->kind == MK_OP_CONST)
        v = mk_onnx_unary(c, MK_OP_IDENTITY, v, NULL);
    if (!v) return fail(c);
    mk_onnx_set(out[0], v);
    return MK_OK;
}
