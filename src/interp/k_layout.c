/* Kernels of the data-movement ops coremltools defines beside the common ones: pixel_unshuffle,
 * batch_to_space / space_to_batch (TensorFlow's block order: batch entry (i * bw + j) * N + n
 * holds pixel (h * bh + i, w * bw + j) of image n), reverse_sequence, sliding_windows,
 * reshape_like and crop. Elements are moved as bytes, whatever their dtype; shapes come from
 * the type rules (infer_layout.c). */
#include <string.h>

#include "interp_int.h"

static mk_status input_x(mk_kctx *k, mk_rt **x, size_t *es)
{
    *x = mk_kin(k, "x");
    if (!*x) return mk_kerr(k, MK_EINVAL, "needs input x");
    if (mk_interp_layout((*x)->type.dtype) != mk_interp_layout(k->outs[0]->type.dtype))
        return mk_kerr(k, MK_EINVAL, "x and the output differ in dtype");
    *es = mk_interp_elem_size((*x)->type.dtype);
    return MK_OK;
}

mk_status mk_k_reshape_like(mk_kctx *k)
{
    mk_rt *x;
    size_t es;
    mk_status st = input_x(k, &x, &es);
    if (st) return st;
    if (x->numel != k->outs[0]->numel)
        return mk_kerr(k, MK_EINVAL, "reshape from %zu to %zu elements", x->numel,
                       k->outs[0]->numel);
    if (x->numel) memcpy(k->outs[0]->data, x->data, x->numel * es);
    return MK_OK;
}

mk_status mk_k_pixel_unshuffle(mk_kctx *k)
{
    mk_rt *x, *out = k->outs[0];
    size_t es;
    int64_t f;
    mk_status st;
    if ((st = input_x(k, &x, &es)) || (st = mk_kint(k, "downscale_factor", 1, &f))) return st;
    if (x->type.rank != 4 || out->type.rank != 4 || f <= 0)
        return mk_kerr(k, MK_EINVAL, "needs x [N, C, H, W] and a positive downscale_factor");
    int64_t N = x->type.dims[0], C = x->type.dims[1], H = x->type.dims[2], W = x->type.dims[3];
    int64_t OH = H / f, OW = W / f;
    if (out->type.dims[1] != C * f * f || out->type.dims[2] != OH || out->type.dims[3] != OW)
        return mk_kerr(k, MK_EINVAL, "output shape does not match");
    const char *src = x->data;
    char *dst = out->data;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < f; i++)
                for (int64_t j = 0; j < f; j++)
                    for (int64_t h = 0; h < OH; h++)
                        for (int64_t w = 0; w < OW; w++) {
                            int64_t oc = (c * f + i) * f + j;
                            size_t o = (size_t)(((n * C * f * f + oc) * OH + h) * OW + w);
                            size_t s = (size_t)(((n * C + c) * H + h * f + i) * W + w * f + j);
                            memcpy(dst + o * es, src + s * es, es);
                        }
    return MK_OK;
}

/* batch_to_space and space_to_batch: one loop over the small-batch side [N, C, Hf, Wf] (the
 * full image, before cropping or after padding) against the blocked side [N*bh*bw, C, h, w]. */
mk_status mk_k_batch_space(mk_kctx *k)
{
    int to_space = k->op->kind == MK_OP_BATCH_TO_SPACE;
    mk_rt *x, *out = k->outs[0];
    size_t es;
    int64_t bs[4], pd[4];
    int nb, np;
    mk_status st;
    if ((st = input_x(k, &x, &es)) || (st = mk_kints(k, "block_shape", bs, 4, &nb)) ||
        (st = mk_kints(k, to_space ? "crops" : "paddings", pd, 4, &np)))
        return st;
    if (nb != 2 || np != 4 || bs[0] <= 0 || bs[1] <= 0 || x->type.rank != 4 || out->type.rank != 4)
        return mk_kerr(k, MK_EINVAL, "needs x [N, C, H, W], block_shape [2] and a 2x2 %s",
                       to_space ? "crops" : "paddings");
    const mk_rt *big = to_space ? x : out, *small = to_space ? out : x;
    int64_t bh = bs[0], bw = bs[1], NB = big->type.dims[0], C = big->type.dims[1];
    int64_t h = big->type.dims[2], w = big->type.dims[3], N = NB / (bh * bw);
    int64_t SH = small->type.dims[2], SW = small->type.dims[3];
    if (small->type.dims[0] != N || small->type.dims[1] != C || N * bh * bw != NB ||
        SH != h * bh - pd[0] - pd[1] || SW != w * bw - pd[2] - pd[3])
        return mk_kerr(k, MK_EINVAL, "shapes of x and the output do not match");
    if (!to_space && out->numel) memset(out->data, 0, out->numel * es);
    char *bd = big->data, *sd = small->data;
    for (int64_t i = 0; i < bh; i++)
        for (int64_t j = 0; j < bw; j++)
            for (int64_t n = 0; n < N; n++)
                for (int64_t c = 0; c < C; c++)
                    for (int64_t y = 0; y < h; y++) {
                        int64_t sy = y * bh + i - pd[0];
                        if (sy < 0 || sy >= SH) continue;
                        for (int64_t xx = 0; xx < w; xx++) {
                            int64_t sx = xx * bw + j - pd[2];
                            if (sx < 0 || sx >= SW) continue;
                            size_t b =
                                (size_t)(((((i * bw + j) * N + n) * C + c) * h + y) * w + xx);
                            size_t s = (size_t)(((n * C + c) * SH + sy) * SW + sx);
                            if (to_space)
                                memcpy(sd + s * es, bd + b * es, es);
                            else
                                memcpy(bd + b * es, sd + s * es, es);
                        }
                    }
    return MK_OK;
}

/* Sizes of x around axis a: outer (before), n (at), inner (after). */
static void around(const mk_rt *x, int a, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < a; i++) *outer *= x->type.dims[i];
    for (int i = a + 1; i < x->type.rank; i++) *inner *= x->type.dims[i];
    *n = x->type.dims[a];
}

mk_status mk_k_reverse_sequence(mk_kctx *k)
{
    mk_rt *x, *len = mk_kin(k, "lengths"), *out = k->outs[0];
    size_t es;
    int64_t sa, ba;
    int s, b;
    mk_status st;
    if ((st = input_x(k, &x, &es)) || (st = mk_kint(k, "seq_axis", 0, &sa)) ||
        (st = mk_kint(k, "batch_axis", 0, &ba)))
        return st;
    if (!len || x->type.rank < 1) return mk_kerr(k, MK_EINVAL, "needs x and lengths");
    if ((st = mk_kaxis(k, sa, x->type.rank, &s)) || (st = mk_kaxis(k, ba, x->type.rank, &b)))
        return st;
    if (s == b) return mk_kerr(k, MK_EINVAL, "seq_axis and batch_axis are the same axis");
    if (len->numel != (size_t)x->type.dims[b])
        return mk_kerr(k, MK_EINVAL, "lengths has %zu entries for a batch of %lld", len->numel,
                       (long long)x->type.dims[b]);
    int64_t S = x->type.dims[s];
    for (size_t i = 0; i < len->numel; i++)
        if (mk_rt_i64(len, i) < 0 || mk_rt_i64(len, i) > S)
            return mk_kerr(k, MK_EINVAL, "lengths[%zu] = %lld outside 0..%lld", i,
                           (long long)mk_rt_i64(len, i), (long long)S);
    const char *src = x->data;
    char *dst = out->data;
    int64_t strides[MK_MAX_RANK];
    int64_t acc = 1;
    for (int i = x->type.rank - 1; i >= 0; i--) {
        strides[i] = acc;
        acc *= x->type.dims[i];
    }
    for (size_t e = 0; e < x->numel; e++) {
        int64_t bi = ((int64_t)e / strides[b]) % x->type.dims[b];
        int64_t si = ((int64_t)e / strides[s]) % S;
        int64_t L = mk_rt_i64(len, (size_t)bi);
        int64_t from = si < L ? (int64_t)e + (L - 1 - 2 * si) * strides[s] : (int64_t)e;
        memcpy(dst + e * es, src + (size_t)from * es, es);
    }
    return MK_OK;
}

mk_status mk_k_sliding_windows(mk_kctx *k)
{
    mk_rt *x, *out = k->outs[0];
    size_t es;
    int64_t ax, size, stride;
    int a;
    mk_status st;
    if ((st = input_x(k, &x, &es)) || (st = mk_kint(k, "axis", 0, &ax)) ||
        (st = mk_kint(k, "size", 1, &size)) || (st = mk_kint(k, "stride", 1, &stride)))
        return st;
    if (x->type.rank < 1) return mk_kerr(k, MK_EINVAL, "x must have rank >= 1");
    if ((st = mk_kaxis(k, ax, x->type.rank, &a))) return st;
    int64_t outer, n, inner;
    around(x, a, &outer, &n, &inner);
    if (size <= 0 || stride <= 0 || size > n || out->type.rank != x->type.rank + 1)
        return mk_kerr(k, MK_EINVAL, "size %lld and stride %lld do not fit an axis of %lld",
                       (long long)size, (long long)stride, (long long)n);
    int64_t nw = (n - size) / stride + 1;
    if (out->type.dims[a] != nw || out->type.dims[a + 1] != size)
        return mk_kerr(k, MK_EINVAL, "output shape does not match");
    const char *src = x->data;
    char *dst = out->data;
    size_t row = (size_t)inner * es;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t wi = 0; wi < nw; wi++)
            for (int64_t j = 0; j < size; j++)
                memcpy(dst + (size_t)((o * nw + wi) * size + j) * row,
                       src + (size_t)(o * n + wi * stride + j) * row, row);
    return MK_OK;
}

mk_status mk_k_crop(mk_kctx *k)
{
    mk_rt *x, *out = k->outs[0];
    size_t es;
    int64_t ch[2], cw[2];
    int nh, nw;
    mk_status st;
    if ((st = input_x(k, &x, &es)) || (st = mk_kints(k, "crop_height", ch, 2, &nh)) ||
        (st = mk_kints(k, "crop_width", cw, 2, &nw)))
        return st;
    int r = x->type.rank;
    if (r < 2 || out->type.rank != r || nh != 2 || nw != 2 || ch[0] < 0 || cw[0] < 0)
        return mk_kerr(k, MK_EINVAL, "needs x of rank >= 2 and 2 crop values per axis");
    int64_t H = x->type.dims[r - 2], W = x->type.dims[r - 1];
    int64_t OH = out->type.dims[r - 2], OW = out->type.dims[r - 1];
    if (OH != H - ch[0] - ch[1] || OW != W - cw[0] - cw[1] || OH < 0 || OW < 0)
        return mk_kerr(k, MK_EINVAL, "output shape does not match the crops");
    size_t planes = H != 0 && W != 0 ? x->numel / (size_t)(H * W) : 0;
    const char *src = x->data;
    char *dst = out->data;
    for (size_t p = 0; p < planes; p++)
        for (int64_t i = 0; i < OH; i++)
            memcpy(dst + ((p * (size_t)OH + (size_t)i) * (size_t)OW) * es,
                   src + ((p * (size_t)H + (size_t)(i + ch[0])) * (size_t)W + (size_t)cw[0]) * es,
                   (size_t)OW * es);
    return MK_OK;
}
