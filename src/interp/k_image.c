/* Kernels of the box and transform image ops. affine: output pixel (j, i) on the normalized
 * [-1, 1] grid maps to x' = a0*u + a1*v + a2, y' = b0*u + b1*v + b2, sampled bilinearly with
 * zero padding. crop_resize: each box's grid per sampling_mode (resize_bilinear's modes on
 * the box's span); points outside the image read pad_value. non_maximum_suppression: greedy
 * suppression in descending max-class score (IoU > iou_threshold; per class when asked), at
 * most max_boxes, padded with zeros and index -1; when nothing survives the best box is kept
 * (the reference coremltools' op tests state for Core ML). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "interp_int.h"

/* Bilinear read of img [H, W] at (y, x); each corner outside the image reads pad. */
static float bilinear_pad(const float *img, int64_t H, int64_t W, double y, double x, float pad)
{
    double fy = floor(y), fx = floor(x);
    int64_t y0 = (int64_t)fy, x0 = (int64_t)fx;
    double wy = y - fy, wx = x - fx, acc = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            double wgt = (dy ? wy : 1 - wy) * (dx ? wx : 1 - wx);
            int64_t yy = y0 + dy, xx = x0 + dx;
            if (wgt == 0) continue;
            acc += wgt * (yy < 0 || yy >= H || xx < 0 || xx >= W ? pad : img[yy * W + xx]);
        }
    return (float)acc;
}

mk_status mk_k_affine(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *m = mk_kin(k, "transform_matrix"), *out = k->outs[0];
    int ac = 1;
    mk_status st;
    if (!x || !m) return mk_kerr(k, MK_EINVAL, "needs x and transform_matrix");
    if ((st = mk_kbool(k, "align_corners", 1, &ac))) return st;
    if (x->type.rank != 4 || m->type.rank != 2 || m->type.dims[1] != 6 || out->type.rank != 4 ||
        mk_interp_layout(x->type.dtype) != MK_L_F32 ||
        (m->type.dims[0] != 1 && m->type.dims[0] != x->type.dims[0]))
        return mk_kerr(k, MK_EINVAL, "needs x [B,C,H,W] and transform_matrix [1 or B, 6]");
    int64_t B = x->type.dims[0], C = x->type.dims[1], H = x->type.dims[2], W = x->type.dims[3];
    int64_t OH = out->type.dims[2], OW = out->type.dims[3];
    const float *xd = x->data;
    float *od = out->data;
    for (int64_t b = 0; b < B; b++) {
        double a[6];
        for (int i = 0; i < 6; i++)
            a[i] = mk_rt_f64(m, (size_t)((m->type.dims[0] == 1 ? 0 : b) * 6 + i));
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                double u, v;
                if (ac) {
                    u = OW > 1 ? -1 + 2.0 * (double)j / (double)(OW - 1) : 0;
                    v = OH > 1 ? -1 + 2.0 * (double)i / (double)(OH - 1) : 0;
                } else {
                    u = (2.0 * (double)j + 1) / (double)OW - 1;
                    v = (2.0 * (double)i + 1) / (double)OH - 1;
                }
                double xs = a[0] * u + a[1] * v + a[2], ys = a[3] * u + a[4] * v + a[5];
                double px = ac ? (xs + 1) / 2 * (double)(W - 1) : ((xs + 1) * (double)W - 1) / 2;
                double py = ac ? (ys + 1) / 2 * (double)(H - 1) : ((ys + 1) * (double)H - 1) / 2;
                for (int64_t ch = 0; ch < C; ch++)
                    od[((b * C + ch) * OH + i) * OW + j] =
                        bilinear_pad(xd + (b * C + ch) * H * W, H, W, py, px, 0);
            }
    }
    return MK_OK;
}

enum { C_STRICT, C_ALIGN, C_OFFSET, C_UNALIGN, C_DEFAULT };

static int crop_mode(const char *m)
{
    return !strcmp(m, "STRICT_ALIGN_CORNERS") ? C_STRICT
           : !strcmp(m, "ALIGN_CORNERS")      ? C_ALIGN
           : !strcmp(m, "OFFSET_CORNERS")     ? C_OFFSET
           : !strcmp(m, "UNALIGN_CORNERS")    ? C_UNALIGN
                                              : C_DEFAULT;
}

/* The n sample positions of one axis between box edges s and e. */
static void crop_grid(int mode, double s, double e, int64_t n, double *out)
{
    for (int64_t i = 0; i < n; i++) {
        double d = (double)i;
        if (mode == C_STRICT || mode == C_ALIGN)
            out[i] =
                n == 1 ? (mode == C_ALIGN ? (s + e) / 2 : s) : s + d * (e - s) / (double)(n - 1);
        else if (mode == C_OFFSET)
            out[i] = s + (d + 0.5) * (e - s) / (double)n;
        else if (mode == C_UNALIGN)
            out[i] = s + (d + 0.5) * (e - s) / (double)n - 0.5;
        else
            out[i] = s + d * (e - s) / (double)n;
    }
}

mk_status mk_k_crop_resize(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *roi = mk_kin(k, "roi"), *boxes = mk_kin(k, "boxes"),
          *bidx = mk_kin(k, "box_indices"), *out = k->outs[0];
    int norm = 0;
    double scale = 1, pad = 0;
    mk_status st;
    if ((st = mk_kbool(k, "normalized_coordinates", 0, &norm)) ||
        (st = mk_kfloat(k, "spatial_scale", 1, &scale)) ||
        (st = mk_kfloat(k, "pad_value", 0, &pad)))
        return st;
    const char *bm = mk_kstr(k, "box_coordinate_mode", "CORNERS_HEIGHT_FIRST");
    const char *sm = mk_kstr(k, "sampling_mode", "DEFAULT");
    mk_rt *bx = roi ? roi : boxes;
    if (!x || !bx || !bm || !sm || x->type.rank != 4 || mk_interp_layout(x->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "needs x [B,C,H,W] and roi or boxes");
    int64_t B = x->type.dims[0], C = x->type.dims[1], H = x->type.dims[2], W = x->type.dims[3];
    int64_t N = bx->type.dims[0], cols = roi ? bx->type.dims[2] : 4;
    int per_b = roi != NULL; /* iOS15/16: [N, B, C, h, w] */
    int r = out->type.rank;
    int64_t OH = out->type.dims[r - 2], OW = out->type.dims[r - 1];
    if ((roi && (roi->type.rank != 5 || (cols != 4 && cols != 5))) ||
        (!roi && (bx->type.rank != 2 || bx->type.dims[1] != 4)) ||
        (bidx && (int64_t)bidx->numel != N))
        return mk_kerr(k, MK_EINVAL, "roi must be [N,1,4|5,1,1], boxes [N,4], box_indices [N]");
    size_t nb = (size_t)(OH + OW) * sizeof(double) + 16;
    double *gy = mk_malloc(k->alloc, nb), *gx;
    if (!gy) return MK_OOM(k->e);
    gx = gy + OH;
    const float *xd = x->data;
    float *od = out->data;
    for (int64_t n = 0; n < N; n++) {
        double v[5];
        for (int i = 0; i < cols; i++) v[i] = mk_rt_f64(bx, (size_t)(n * cols + i));
        int64_t img = cols == 5 ? (int64_t)v[0] : bidx ? mk_rt_i64(bidx, (size_t)n) : n;
        const double *c = cols == 5 ? v + 1 : v;
        double y1, x1, y2, x2;
        if (!strcmp(bm, "CORNERS_WIDTH_FIRST")) {
            x1 = c[0], y1 = c[1], x2 = c[2], y2 = c[3];
        } else if (!strcmp(bm, "CENTER_SIZE_HEIGHT_FIRST")) {
            y1 = c[0] - c[2] / 2, x1 = c[1] - c[3] / 2, y2 = c[0] + c[2] / 2, x2 = c[1] + c[3] / 2;
        } else if (!strcmp(bm, "CENTER_SIZE_WIDTH_FIRST")) {
            x1 = c[0] - c[2] / 2, y1 = c[1] - c[3] / 2, x2 = c[0] + c[2] / 2, y2 = c[1] + c[3] / 2;
        } else {
            y1 = c[0], x1 = c[1], y2 = c[2], x2 = c[3];
        }
        double sy = (norm ? (double)(H - 1) : 1) * scale, sx = (norm ? (double)(W - 1) : 1) * scale;
        crop_grid(crop_mode(sm), y1 * sy, y2 * sy, OH, gy);
        crop_grid(crop_mode(sm), x1 * sx, x2 * sx, OW, gx);
        if ((!per_b || cols == 5) && (img < 0 || img >= B)) {
            mk_free(k->alloc, gy, nb);
            return mk_kerr(k, MK_EINVAL, "box %lld: image index %lld outside batch %lld",
                           (long long)n, (long long)img, (long long)B);
        }
        for (int64_t b = 0; b < (per_b ? B : 1); b++) {
            int64_t src = per_b && cols == 4 ? b : img;
            for (int64_t ch = 0; ch < C; ch++) {
                const float *plane = xd + (src * C + ch) * H * W;
                float *o = od + (((n * (per_b ? B : 1) + b) * C + ch) * OH) * OW;
                for (int64_t i = 0; i < OH; i++)
                    for (int64_t j = 0; j < OW; j++) {
                        double yy = gy[i], xx = gx[j];
                        int in =
                            yy >= 0 && yy <= (double)(H - 1) && xx >= 0 && xx <= (double)(W - 1);
                        o[i * OW + j] = in ? bilinear_pad(plane, H, W, yy, xx, 0) : (float)pad;
                    }
            }
        }
    }
    mk_free(k->alloc, gy, nb);
    return MK_OK;
}

/* IoU of two boxes given as (x_center, y_center, width, height). */
static double iou(const double *a, const double *b)
{
    double ay0 = a[1] - a[3] / 2, ay1 = a[1] + a[3] / 2, ax0 = a[0] - a[2] / 2,
           ax1 = a[0] + a[2] / 2;
    double by0 = b[1] - b[3] / 2, by1 = b[1] + b[3] / 2, bx0 = b[0] - b[2] / 2,
           bx1 = b[0] + b[2] / 2;
    double aa = (ay1 - ay0) * (ax1 - ax0), ab = (by1 - by0) * (bx1 - bx0);
    if (aa <= 0 || ab <= 0) return 0;
    double ih = fmin(ay1, by1) - fmax(ay0, by0), iw = fmin(ax1, bx1) - fmax(ax0, bx0);
    double in = (ih > 0 ? ih : 0) * (iw > 0 ? iw : 0);
    return in / (aa + ab - in);
}

typedef struct nms_cand {
    double score;
    int64_t i;
} nms_cand;

static int by_score(const void *pa, const void *pb)
{
    const nms_cand *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

mk_status mk_k_nms(mk_kctx *k)
{
    mk_rt *bx = mk_kin(k, "boxes"), *sc = mk_kin(k, "scores");
    int ios15 = k->n_outs == 4, pcs = 0;
    double iou_t, score_t = -INFINITY;
    int64_t mb;
    mk_status st;
    if (!bx || !sc || bx->type.rank != 3 || sc->type.rank != 3)
        return mk_kerr(k, MK_EINVAL, "needs boxes and scores of rank 3");
    if ((st = mk_kfloat(k, "iou_threshold", 0, &iou_t)) ||
        (ios15 && (st = mk_kfloat(k, "score_threshold", 0, &score_t))) ||
        (st = mk_kint(k, "max_boxes", 1, &mb)) ||
        (st = mk_kbool(k, "per_class_suppression", 0, &pcs)))
        return st;
    int64_t n = bx->type.dims[0], nb = bx->type.dims[ios15 ? 1 : 2],
            K = sc->type.dims[ios15 ? 2 : 1];
    if (nb != sc->type.dims[ios15 ? 1 : 2] || bx->type.dims[ios15 ? 2 : 1] != 4 || mb < 1 ||
        k->outs[2]->type.dims[1] != mb)
        return mk_kerr(k, MK_EINVAL, "boxes and scores disagree");
    size_t need;
    if (!mk_mul_size((size_t)nb, sizeof(nms_cand) + 4 * sizeof(double) + 2 * sizeof(int64_t),
                     &need))
        return mk_kerr(k, MK_EINVAL, "too many boxes");
    nms_cand *cand = mk_malloc(k->alloc, need + 16);
    if (!cand) return MK_OOM(k->e);
    double *box = (double *)(cand + nb);
    int64_t *cls = (int64_t *)(box + 4 * nb), *kept = cls + nb;
    float *ob = k->outs[0]->data, *os = k->outs[1]->data;
    int32_t *oi = k->outs[2]->data, *on = ios15 ? k->outs[3]->data : NULL;
    for (int64_t b = 0; b < n; b++) {
        int64_t nc = 0, best = 0, nk = 0;
        double best_s = -INFINITY;
        for (int64_t i = 0; i < nb; i++) {
            double s = -INFINITY;
            for (int64_t c = 0; c < K; c++) {
                double v =
                    mk_rt_f64(sc, (size_t)(ios15 ? (b * nb + i) * K + c : (b * K + c) * nb + i));
                if (v > s || c == 0) s = v, cls[i] = c;
            }
            for (int d = 0; d < 4; d++)
                box[i * 4 + d] =
                    mk_rt_f64(bx, (size_t)(ios15 ? (b * nb + i) * 4 + d : (b * 4 + d) * nb + i));
            if (s > best_s || i == 0) best_s = s, best = i;
            if (s > score_t) cand[nc].score = s, cand[nc++].i = i;
        }
        qsort(cand, (size_t)nc, sizeof *cand, by_score);
        for (int64_t c = 0; c < nc && nk < mb; c++) {
            int64_t i = cand[c].i, ok = 1;
            for (int64_t j = 0; j < nk && ok; j++)
                if ((!pcs || cls[kept[j]] == cls[i]) && iou(box + 4 * i, box + 4 * kept[j]) > iou_t)
                    ok = 0;
            if (ok) kept[nk++] = i;
        }
        if (nk == 0 && nb > 0) kept[nk++] = best;
        for (int64_t s = 0; s < mb; s++) {
            int64_t i = s < nk ? kept[s] : -1;
            for (int d = 0; d < 4; d++)
                ob[ios15 ? (b * mb + s) * 4 + d : (b * 4 + d) * mb + s] =
                    i < 0 ? 0 : (float)box[i * 4 + d];
            for (int64_t c = 0; c < K; c++)
                os[ios15 ? (b * mb + s) * K + c : (b * K + c) * mb + s] =
                    i < 0 ? 0
                          : (float)mk_rt_f64(
                                sc, (size_t)(ios15 ? (b * nb + i) * K + c : (b * K + c) * nb + i));
            oi[b * mb + s] = (int32_t)i;
        }
        if (on) on[b] = (int32_t)nk;
    }
    mk_free(k->alloc, cand, need + 16);
    return MK_OK;
}
