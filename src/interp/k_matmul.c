/* Matrix kernels: linear, batched matmul with numpy broadcasting of batch dims, einsum (any
 * equation, naive loops over labels), and scaled_dot_product_attention. fp32 products go
 * through OpenBLAS cblas_sgemm; integer matmul uses plain loops. */
#include <math.h>
#include <string.h>

#include "blas.h"
#include "interp_int.h"
#include "k_gemm.h"
#include "k_vec.h"

static mk_status need_f32(mk_kctx *k, const mk_rt *t, const char *what)
{
    if (mk_interp_layout(t->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EUNSUPPORTED, "%s must be a float tensor", what);
    return MK_OK;
}

/* One C = alpha op(A) op(B) + beta C, row-major, split into blocks of C rows or columns
 * fixed by the shape (so the bits do not depend on the thread count); fused activations are
 * applied per block while it is in cache. */
typedef struct gemm_job {
    mk_kctx *k;
    enum CBLAS_TRANSPOSE ta, tb;
    int64_t M, N, K;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb;
    float *c;
    int64_t ldc;
    float beta, alpha;
    int64_t rows, cols, ncb; /* block size; column blocks */
} gemm_job;

static void gemm_chunk(void *ctx, int64_t i, int tid)
{
    const gemm_job *J = ctx;
    int64_t m0 = (i / J->ncb) * J->rows, n0 = (i % J->ncb) * J->cols;
    int64_t mn = J->M - m0 < J->rows ? J->M - m0 : J->rows;
    int64_t nn = J->N - n0 < J->cols ? J->N - n0 : J->cols;
    const float *a = J->a + (J->ta == CblasTrans ? m0 : m0 * J->lda);
    const float *b = J->b + (J->tb == CblasTrans ? n0 * J->ldb : n0);
    float *c = J->c + m0 * J->ldc + n0;
    (void)tid;
    mk_sgemm(CblasRowMajor, J->ta, J->tb, (int)mn, (int)nn, (int)J->K, J->alpha, a, (int)J->lda, b,
             (int)J->ldb, J->beta, c, (int)J->ldc);
    mk_epi_apply_rows(J->k->epi, n0, c, mn, nn, J->ldc);
}

static void gemm_split(mk_kctx *k, gemm_job *J)
{
    /* blocks of ~2M multiply-adds: >= 64 rows, or with few rows >= 256 columns */
    const int64_t work = 2 << 20;
    int64_t per_row = J->N * J->K;
    J->cols = J->N ? J->N : 1;
    J->rows = per_row ? work / per_row : J->M;
    if (J->rows < 64) J->rows = 64;
    if (J->M < 128 && J->K) {
        J->rows = J->M ? J->M : 1;
        int64_t c = work / (J->rows * J->K);
        c = c < 256 ? 256 : (c + 15) / 16 * 16;
        if (c < J->cols) J->cols = c;
    }
    if (J->rows > J->M) J->rows = J->M ? J->M : 1;
    J->ncb = mk_par_chunks(J->N, J->cols);
    mk_par_for(k, mk_par_chunks(J->M, J->rows) * J->ncb, gemm_chunk, J);
}

/* The values of a float or integer tensor as fp32: t's own data, or converted into buf. */
static const float *as_f32(const mk_rt *t, float *buf)
{
    if (mk_interp_layout(t->type.dtype) == MK_L_F32) return t->data;
    for (size_t i = 0; i < t->numel; i++) buf[i] = (float)((const int32_t *)t->data)[i];
    return buf;
}

mk_status mk_k_linear(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *w = mk_kin(k, "weight"), *b = mk_kin(k, "bias");
    mk_rt *out = k->outs[0];
    if (!x || !w) return mk_kerr(k, MK_EINVAL, "needs x and weight");
    mk_status st;
    if ((st = need_f32(k, x, "x"))) return st;
    /* iOS17 linear: weight and bias may be int32 with a float x (coremltools' U domain) */
    int wi = mk_interp_layout(w->type.dtype) == MK_L_I32;
    int bi = b && mk_interp_layout(b->type.dtype) == MK_L_I32;
    if (!wi && (st = need_f32(k, w, "weight"))) return st;
    if (b && !bi && (st = need_f32(k, b, "bias"))) return st;
    if (x->type.rank < 1 || w->type.rank != 2)
        return mk_kerr(k, MK_EINVAL, "x must have rank >= 1 and weight rank 2");
    int64_t din = x->type.dims[x->type.rank - 1], dout = w->type.dims[0];
    if (w->type.dims[1] != din) return mk_kerr(k, MK_EINVAL, "weight does not match x");
    int64_t m = din ? (int64_t)(x->numel / (size_t)din) : 0;
    if ((size_t)(m * dout) != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    if (b && b->numel != (size_t)dout) return mk_kerr(k, MK_EINVAL, "bias length mismatch");
    float *conv = NULL;
    if (wi || bi) {
        conv = mk_interp_scratch(k, ((wi ? w->numel : 0) + (bi ? b->numel : 0) + 1) * 4);
        if (!conv) return mk_kerr(k, MK_ENOMEM, "out of memory");
    }
    const float *wf = as_f32(w, conv), *bf = b ? as_f32(b, conv + (wi ? w->numel : 0)) : NULL;
    float *o = out->data;
    if (b)
        for (int64_t i = 0; i < m; i++) memcpy(o + i * dout, bf, (size_t)dout * 4);
    k->path = "linear: sgemm";
    if (!wi && mk_gemm_ok(m, dout, din)) {
        k->path = "linear: packed gemm";
        return mk_gemm_packed(k, m, dout, din, x->data, din, wf, din, 1, mk_kconst(k, "weight"),
                              b != NULL, o, dout);
    }
    if (m && dout && din) {
        gemm_job J = {k, CblasNoTrans, CblasTrans,      m,    dout, din, x->data, din, wf, din,
                      o, dout,         b ? 1.0f : 0.0f, 1.0f, 0,    0,   0};
        gemm_split(k, &J);
    } else {
        if (!b) memset(o, 0, out->numel * 4);
        mk_epi_apply(k->epi, NULL, 0, o, out->numel);
    }
    return MK_OK;
}

/* Batched matmul: one sgemm per batch index (broadcast batch dims), batches spread over the
 * threads. */
typedef struct bmm_job {
    mk_kctx *k;
    int tx, ty, br;
    int64_t M, N, K, xc, yc;
    const float *x, *y;
    float *o;
    int64_t bd[MK_MAX_RANK], bx[MK_MAX_RANK], by[MK_MAX_RANK];
    int packed; /* each batch through mk_gemm_packed_serial, y packed in the thread's scratch */
} bmm_job;

static void bmm_chunk(void *ctx, int64_t b, int tid)
{
    const bmm_job *J = ctx;
    int64_t ox = 0, oy = 0, sx = 1, sy = 1, rem = b;
    for (int i = J->br - 1; i >= 0; i--) {
        int64_t c = rem % J->bd[i];
        rem /= J->bd[i];
        ox += (J->bx[i] == 1 ? 0 : c) * sx;
        oy += (J->by[i] == 1 ? 0 : c) * sy;
        sx *= J->bx[i];
        sy *= J->by[i];
    }
    float *o = J->o + b * J->M * J->N;
    if (J->packed) {
        mk_gemm_packed_serial(J->k, J->M, J->N, J->K, J->x + ox * J->M * J->K, J->xc,
                              J->y + oy * J->K * J->N, J->yc, J->ty, o, J->N,
                              mk_par_scratch(J->k, tid));
        return;
    }
    mk_sgemm(CblasRowMajor, J->tx ? CblasTrans : CblasNoTrans, J->ty ? CblasTrans : CblasNoTrans,
             (int)J->M, (int)J->N, (int)J->K, 1.0f, J->x + ox * J->M * J->K, (int)J->xc,
             J->y + oy * J->K * J->N, (int)J->yc, 0.0f, o, (int)J->N);
    mk_epi_apply(J->k->epi, NULL, 0, o, (size_t)(J->M * J->N));
}

mk_status mk_k_matmul(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *y = mk_kin(k, "y"), *out = k->outs[0];
    if (!x || !y) return mk_kerr(k, MK_EINVAL, "needs x and y");
    int tx, ty;
    mk_status st;
    if ((st = mk_kbool(k, "transpose_x", 0, &tx)) || (st = mk_kbool(k, "transpose_y", 0, &ty)))
        return st;
    mk_type xt = x->type, yt = y->type;
    if (xt.rank < 1 || yt.rank < 1) return mk_kerr(k, MK_EINVAL, "operands must have rank >= 1");
    /* promote vectors: x [K] -> [1, K], y [K] -> [K, 1] */
    if (xt.rank == 1) {
        xt.dims[1] = xt.dims[0];
        xt.dims[0] = 1;
        xt.rank = 2;
        tx = 0;
    }
    if (yt.rank == 1) {
        yt.dims[1] = 1;
        yt.rank = 2;
        ty = 0;
    }
    int64_t xr = xt.dims[xt.rank - 2], xc = xt.dims[xt.rank - 1];
    int64_t yr = yt.dims[yt.rank - 2], yc = yt.dims[yt.rank - 1];
    int64_t M = tx ? xc : xr, K = tx ? xr : xc, K2 = ty ? yc : yr, N = ty ? yr : yc;
    if (K != K2)
        return mk_kerr(k, MK_EINVAL, "inner dimensions differ (%lld vs %lld)", (long long)K,
                       (long long)K2);
    /* batch broadcast */
    int br = (xt.rank > yt.rank ? xt.rank : yt.rank) - 2;
    int64_t bd[MK_MAX_RANK], bx[MK_MAX_RANK], by[MK_MAX_RANK];
    int64_t nb = 1;
    for (int i = 0; i < br; i++) {
        int ix = i - (br - (xt.rank - 2)), iy = i - (br - (yt.rank - 2));
        int64_t dx = ix >= 0 ? xt.dims[ix] : 1, dy = iy >= 0 ? yt.dims[iy] : 1;
        if (dx != dy && dx != 1 && dy != 1) return mk_kerr(k, MK_EINVAL, "batch dims differ");
        bd[i] = dx > dy ? dx : dy;
        bx[i] = dx;
        by[i] = dy;
        nb *= bd[i];
    }
    if ((size_t)(nb * M * N) != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    int f32 = mk_interp_layout(x->type.dtype) == MK_L_F32 &&
              mk_interp_layout(y->type.dtype) == MK_L_F32 &&
              mk_interp_layout(out->type.dtype) == MK_L_F32;
    /* y shared by every batch and x not transposed: the batches are just more rows of x, one
     * GEMM (y packed once) */
    int fold = f32 && nb > 1 && !tx;
    for (int i = 0; i < br && fold; i++) fold = by[i] == 1;
    if (fold) {
        M *= nb;
        nb = 1;
    }
    k->path = !f32     ? "matmul: exact loop"
              : nb > 1 ? "matmul: sgemm per batch"
              : fold   ? "matmul: sgemm, batches as rows"
                       : "matmul: sgemm";
    if (f32 && M && N && K) {
        bmm_job J = {k, tx, ty, br, M, N, K, xc, yc, x->data, y->data, out->data, {0}, {0}, {0}, 0};
        memcpy(J.bd, bd, sizeof bd);
        memcpy(J.bx, bx, sizeof bx);
        memcpy(J.by, by, sizeof by);
        if (nb == 1 && !tx && mk_gemm_ok(M, N, K)) {
            k->path = fold ? "matmul: packed gemm, batches as rows" : "matmul: packed gemm";
            return mk_gemm_packed(k, M, N, K, x->data, xc, y->data, yc, ty, mk_kconst(k, "y"), 0,
                                  out->data, N);
        }
        if (nb == 1) {
            gemm_job G = {k,
                          tx ? CblasTrans : CblasNoTrans,
                          ty ? CblasTrans : CblasNoTrans,
                          M,
                          N,
                          K,
                          x->data,
                          xc,
                          y->data,
                          yc,
                          out->data,
                          N,
                          0.0f,
                          1.0f,
                          0,
                          0,
                          0};
            gemm_split(k, &G);
        } else {
            size_t pb = !tx && mk_gemm_ok(M, N, K) ? mk_gemm_pack_bytes(N, K) : 0;
            if (pb) {
                if ((st = mk_par_scratch_reserve(k, pb))) return st;
                J.packed = 1;
                k->path = "matmul: packed gemm per batch";
            }
            mk_par_for(k, nb, bmm_chunk, &J);
        }
        return MK_OK;
    }
    int64_t cnt[MK_MAX_RANK] = {0};
    for (int64_t b = 0; b < nb; b++) {
        int64_t ox = 0, oy = 0, sx = 1, sy = 1;
        for (int i = br - 1; i >= 0; i--) {
            ox += (bx[i] == 1 ? 0 : cnt[i]) * sx;
            oy += (by[i] == 1 ? 0 : cnt[i]) * sy;
            sx *= bx[i];
            sy *= by[i];
        }
        size_t xo = (size_t)(ox * M * K), yo = (size_t)(oy * K * N), oo = (size_t)(b * M * N);
        if (f32) {
            if (M && N && K)
                mk_sgemm(CblasRowMajor, tx ? CblasTrans : CblasNoTrans,
                         ty ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, 1.0f,
                         (const float *)x->data + xo, (int)xc, (const float *)y->data + yo, (int)yc,
                         0.0f, (float *)out->data + oo, (int)N);
            else
                memset((float *)out->data + oo, 0, (size_t)(M * N) * 4);
        } else {
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) {
                    double acc = 0;
                    for (int64_t q = 0; q < K; q++) {
                        size_t xi = xo + (size_t)(tx ? q * xc + i : i * xc + q);
                        size_t yi = yo + (size_t)(ty ? j * yc + q : q * yc + j);
                        acc += mk_rt_f64(x, xi) * mk_rt_f64(y, yi);
                    }
                    size_t o = oo + (size_t)(i * N + j);
                    if (mk_interp_layout(out->type.dtype) == MK_L_F32)
                        ((float *)out->data)[o] = (float)acc;
                    else
                        ((int32_t *)out->data)[o] = (int32_t)acc;
                }
        }
        for (int i = br - 1; i >= 0; i--) {
            if (++cnt[i] < bd[i]) break;
            cnt[i] = 0;
        }
    }
    if (mk_interp_layout(out->type.dtype) == MK_L_F32)
        mk_epi_apply(k->epi, NULL, 0, out->data, out->numel);
    return MK_OK;
}

mk_status mk_k_einsum(mk_kctx *k)
{
    int n;
    mk_rt **vals = mk_kargs(k, "values", &n);
    const char *eq = mk_kstr(k, "equation", NULL);
    mk_rt *out = k->outs[0];
    if (!vals || n < 1 || n > 2 || !eq)
        return mk_kerr(k, MK_EINVAL, "needs 1-2 values and equation");
    /* parse "ab,bc->ac" */
    char terms[3][MK_MAX_RANK + 1];
    int tl[3] = {0, 0, 0}, t = 0;
    const char *p = eq;
    for (; *p && !(p[0] == '-' && p[1] == '>'); p++) {
        if (*p == ' ') continue;
        if (*p == ',') {
            if (++t >= n) return mk_kerr(k, MK_EINVAL, "equation has too many operands");
            continue;
        }
        if (*p < 'a' || *p > 'z' || tl[t] >= MK_MAX_RANK)
            return mk_kerr(k, MK_EUNSUPPORTED, "equation '%s' not supported", eq);
        terms[t][tl[t]++] = *p;
    }
    if (t != n - 1 || !*p) return mk_kerr(k, MK_EUNSUPPORTED, "equation '%s' not supported", eq);
    for (p += 2; *p; p++) {
        if (*p == ' ') continue;
        if (*p < 'a' || *p > 'z' || tl[2] >= MK_MAX_RANK)
            return mk_kerr(k, MK_EUNSUPPORTED, "equation '%s' not supported", eq);
        terms[2][tl[2]++] = *p;
    }
    int64_t size[26];
    for (int i = 0; i < 26; i++) size[i] = -1;
    for (int a = 0; a < n; a++) {
        if (tl[a] != vals[a]->type.rank)
            return mk_kerr(k, MK_EINVAL, "operand %d rank mismatch", a);
        for (int i = 0; i < tl[a]; i++) {
            int l = terms[a][i] - 'a';
            int64_t d = vals[a]->type.dims[i];
            if (size[l] >= 0 && size[l] != d && d != 1 && size[l] != 1)
                return mk_kerr(k, MK_EINVAL, "label %c has two sizes", terms[a][i]);
            if (d > size[l])
                size[l] = d; /* a size-1 operand dim broadcasts (type rule: outputs only) */
        }
    }
    if (tl[2] != out->type.rank) return mk_kerr(k, MK_EINVAL, "output rank mismatch");
    char labels[26];
    int nl = 0;
    for (int i = 0; i < 26; i++)
        if (size[i] >= 0) labels[nl++] = (char)('a' + i);
    int64_t stride[2][26];
    for (int a = 0; a < n; a++) {
        memset(stride[a], 0, sizeof stride[a]);
        int64_t s = 1;
        for (int i = tl[a] - 1; i >= 0; i--) {
            if (vals[a]->type.dims[i] != 1) stride[a][terms[a][i] - 'a'] += s;
            s *= vals[a]->type.dims[i];
        }
    }
    int64_t ostride[26] = {0}, s = 1;
    for (int i = tl[2] - 1; i >= 0; i--) {
        int l = terms[2][i] - 'a';
        if (size[l] < 0 || size[l] != out->type.dims[i])
            return mk_kerr(k, MK_EINVAL, "output label %c mismatch", terms[2][i]);
        ostride[l] = s;
        s *= size[l];
    }
    float *o = out->data;
    if (mk_interp_layout(out->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EUNSUPPORTED, "einsum on non-float tensors");
    memset(o, 0, out->numel * 4);
    int64_t cnt[26] = {0}, total = 1;
    for (int i = 0; i < nl; i++) total *= size[labels[i] - 'a'];
    for (int64_t it = 0; it < total; it++) {
        double prod = 1;
        size_t oi = 0;
        for (int a = 0; a < n; a++) {
            size_t idx = 0;
            for (int i = 0; i < nl; i++) idx += (size_t)(cnt[i] * stride[a][labels[i] - 'a']);
            prod *= mk_rt_f64(vals[a], idx);
        }
        for (int i = 0; i < nl; i++) oi += (size_t)(cnt[i] * ostride[labels[i] - 'a']);
        o[oi] += (float)prod;
        for (int i = nl - 1; i >= 0; i--) {
            if (++cnt[i] < size[labels[i] - 'a']) break;
            cnt[i] = 0;
        }
    }
    return MK_OK;
}

typedef struct sdpa_job {
    mk_kctx *k;
    const mk_rt *q, *kk, *v, *mask, *out;
    int r;
    int64_t L, E, S, Ev, lb;
    float scale;
    int64_t ms[MK_MAX_RANK];
} sdpa_job;

/* Rows [l0, l0 + lb) of batch b: scores = scale Q K^T (+ mask), softmax per row, times V. */
static void sdpa_chunk(void *ctx, int64_t ci, int tid)
{
    const sdpa_job *J = ctx;
    int64_t nlb = mk_par_chunks(J->L, J->lb), b = ci / nlb, l0 = (ci % nlb) * J->lb;
    int64_t ln = J->L - l0 < J->lb ? J->L - l0 : J->lb, S = J->S, E = J->E, Ev = J->Ev;
    const mk_rt *mask = J->mask;
    int r = J->r;
    float *scores = mk_par_scratch(J->k, tid);
    const float *qb = (const float *)J->q->data + (b * J->L + l0) * E;
    const float *kb = (const float *)J->kk->data + b * S * E;
    const float *vb = (const float *)J->v->data + b * S * Ev;
    mk_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ln, (int)S, (int)E, J->scale, qb, (int)E,
             kb, (int)E, 0.0f, scores, (int)S);
    for (int64_t li = 0; li < ln; li++) {
        int64_t i = l0 + li;
        float *row = scores + li * S, mx;
        size_t mb = 0; /* batch index b spans dims 0..r-3 */
        if (mask) {
            int64_t rem = b;
            for (int d = r - 3; d >= 0; d--) {
                mb += (size_t)((rem % J->q->type.dims[d]) * J->ms[d]);
                rem /= J->q->type.dims[d];
            }
            mb += (size_t)(i * J->ms[r - 2]);
        }
        if (mask && mk_interp_layout(mask->type.dtype) == MK_L_F32) {
            const float *mr = (const float *)mask->data + mb;
            int64_t mj = J->ms[r - 1];
            for (int64_t j = 0; j < S; j++) row[j] += mr[j * mj];
        } else if (mask) {
            for (int64_t j = 0; j < S; j++) {
                double m = mk_rt_f64(mask, mb + (size_t)(j * J->ms[r - 1]));
                if (mask->type.dtype == MK_DT_BOOL)
                    row[j] = m != 0 ? row[j] : -INFINITY;
                else
                    row[j] += (float)m;
            }
        }
        mx = mk_vec_max(row, S);
        if (mx == -INFINITY) {
            memset(row, 0, (size_t)S * 4);
            continue;
        }
        double sum = mk_vec_exp_sum(row, row, mx, S);
        float inv = sum > 0 ? (float)(1.0 / sum) : 0;
        mk_vec_scale(row, inv, S);
    }
    mk_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)ln, (int)Ev, (int)S, 1.0f, scores,
             (int)S, vb, (int)Ev, 0.0f, (float *)J->out->data + (b * J->L + l0) * Ev, (int)Ev);
}

mk_status mk_k_sdpa(mk_kctx *k)
{
    mk_rt *q = mk_kin(k, "query"), *kk = mk_kin(k, "key"), *v = mk_kin(k, "value");
    mk_rt *mask = mk_kin(k, "attn_mask"), *out = k->outs[0];
    if (!q || !kk || !v) return mk_kerr(k, MK_EINVAL, "needs query, key and value");
    mk_status st;
    if ((st = need_f32(k, q, "query")) || (st = need_f32(k, kk, "key")) ||
        (st = need_f32(k, v, "value")))
        return st;
    int r = q->type.rank;
    if (r < 3 || kk->type.rank != r || v->type.rank != r || out->type.rank != r)
        return mk_kerr(k, MK_EINVAL, "query, key, value must share a rank >= 3");
    int64_t L = q->type.dims[r - 2], E = q->type.dims[r - 1], S = kk->type.dims[r - 2];
    int64_t Ev = v->type.dims[r - 1];
    if (kk->type.dims[r - 1] != E || v->type.dims[r - 2] != S)
        return mk_kerr(k, MK_EINVAL, "key/value shapes do not match query");
    int64_t nb = L * E != 0 ? (int64_t)(q->numel / (size_t)(L * E)) : 0;
    if ((size_t)(nb * S * E) != kk->numel || (size_t)(nb * S * Ev) != v->numel ||
        (size_t)(nb * L * Ev) != out->numel)
        return mk_kerr(k, MK_EUNSUPPORTED, "broadcast batch dims are not supported");
    int64_t ms[MK_MAX_RANK];
    mk_type sc = q->type;
    sc.dims[r - 1] = S;
    if (mask && !mk_bcast_strides(&mask->type, &sc, ms))
        return mk_kerr(k, MK_EINVAL, "attn_mask does not broadcast to [.., L, S]");
    sdpa_job J = {k, q, kk, v, mask, out, r, L, E, S, Ev, 0, 0, {0}};
    memcpy(J.ms, ms, sizeof ms);
    J.scale = E ? 1.0f / sqrtf((float)E) : 1.0f;
    /* score blocks of at most ~64k floats (whole rows), per thread */
    J.lb = S ? 65536 / S : L;
    if (J.lb < 1) J.lb = 1;
    if (J.lb > L) J.lb = L ? L : 1;
    if ((st = mk_par_scratch_reserve(k, (size_t)(J.lb * S) * 4 + 4))) return st;
    k->path = J.lb < L ? "sdpa: row blocks (one score block per thread)" : "sdpa: sgemm+softmax";
    mk_par_for(k, nb * mk_par_chunks(L, J.lb), sdpa_chunk, &J);
    return MK_OK;
}
