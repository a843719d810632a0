/* Resampling kernels on the last two axes: upsample_nearest_neighbor / upsample_bilinear (scale
 * factors, align_corners, half_pixel_centers), resize_nearest_neighbor / resize_bilinear
 * (target sizes, sampling_mode grids as coremltools' op definitions state them) and iOS17
 * resize (resized_dims 0-2). Each output row/column gets a source coordinate first; nearest
 * takes floor, bilinear blends the two neighbours. Spacings use the input/output sizes (the
 * scale factor "recomputed", as upsample_bilinear specifies). */
#include <math.h>
#include <string.h>

#include "interp_int.h"

/* grids: STRICT_ALIGN_CORNERS, ALIGN_CORNERS (a single output samples the middle), DEFAULT,
 * UNALIGN_CORNERS (half pixel), OFFSET_CORNERS, nearest by scale factor, and the identity (an
 * axis iOS17 resize leaves alone) */
enum { G_ALIGN, G_ALIGN_MID, G_SCALE, G_HALF, G_OFFSET, G_NEAREST_SCALE, G_SAME };

/* Source coordinate of output index o for one axis. */
static double src_coord(int mode, int64_t o, int64_t in, int64_t out)
{
    double v, spacing = (double)in / (double)out;
    switch (mode) {
    case G_ALIGN_MID:
        if (out == 1) {
            v = (double)(in - 1) / 2;
            break;
        }
        /* fall through */
    case G_ALIGN: v = out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0; break;
    case G_HALF: v = ((double)o + 0.5) * spacing - 0.5; break;
    case G_OFFSET: {
        double delta = (in > 1 ? (double)(in - 1) : 1.0) / (double)out;
        v = 0.5 * delta + (double)o * delta;
        break;
    }
    case G_SAME: v = (double)o; break;
    default: v = (double)o * spacing; break;
    }
    if (v < 0) v = 0;
    if (v > (double)(in - 1)) v = (double)(in - 1);
    return v;
}

static mk_status resample(mk_kctx *k, int bilinear, int gy, int gx, double sy, double sx)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int r = x->type.rank;
    mk_layout lx = mk_interp_layout(x->type.dtype);
    if (r < 2 || out->type.rank != r || lx != mk_interp_layout(out->type.dtype) ||
        (lx != MK_L_F32 && (bilinear || lx != MK_L_I32)))
        return mk_kerr(k, MK_EINVAL, "x must be a %s tensor of rank >= 2",
                       bilinear ? "float" : "float or int32");
    for (int i = 0; i < r - 2; i++)
        if (x->type.dims[i] != out->type.dims[i]) return mk_kerr(k, MK_EINVAL, "batch dims differ");
    int64_t H = x->type.dims[r - 2], W = x->type.dims[r - 1];
    int64_t OH = out->type.dims[r - 2], OW = out->type.dims[r - 1];
    if ((H == 0 || W == 0) && OH * OW != 0)
        return mk_kerr(k, MK_EINVAL, "cannot resample an empty image");
    int64_t planes = H * W != 0 ? (int64_t)(x->numel / (size_t)(H * W)) : 0;
    if (!OH || !OW) return MK_OK;
    size_t nb = (size_t)(OH + OW) * sizeof(double) + 16;
    double *cy = mk_malloc(k->alloc, nb), *cx;
    if (!cy) return MK_OOM(k->e);
    cx = cy + OH;
    if ((gy == G_SAME && OH != H) || (gx == G_SAME && OW != W)) {
        mk_free(k->alloc, cy, nb);
        return mk_kerr(k, MK_EINVAL, "an axis that is not resized changed size");
    }
    for (int64_t o = 0; o < OH; o++)
        cy[o] = gy == G_NEAREST_SCALE ? fmin(floor((double)o / sy), (double)(H - 1))
                                      : src_coord(gy, o, H, OH);
    for (int64_t o = 0; o < OW; o++)
        cx[o] = gx == G_NEAREST_SCALE ? fmin(floor((double)o / sx), (double)(W - 1))
                                      : src_coord(gx, o, W, OW);
    const float *a = x->data;
    float *od = out->data;
    for (int64_t p = 0; p < planes; p++) {
        const float *img = a + p * H * W;
        float *op = od + p * OH * OW;
        if (!bilinear) { /* a gather: 4-byte elements whatever their type */
            const uint32_t *src = (const uint32_t *)x->data + p * H * W;
            uint32_t *dst = (uint32_t *)out->data + p * OH * OW;
            for (int64_t i = 0; i < OH; i++)
                for (int64_t j = 0; j < OW; j++)
                    dst[i * OW + j] = src[(int64_t)cy[i] * W + (int64_t)cx[j]];
            continue;
        }
        for (int64_t i = 0; i < OH; i++) {
            double y = cy[i];
            int64_t y0 = (int64_t)floor(y), y1 = y0 + 1 < H ? y0 + 1 : H - 1;
            float wy = (float)(y - (double)y0);
            for (int64_t j = 0; j < OW; j++) {
                double xv = cx[j];
                int64_t x0 = (int64_t)floor(xv), x1 = x0 + 1 < W ? x0 + 1 : W - 1;
                float wx = (float)(xv - (double)x0);
                float top = img[y0 * W + x0] * (1 - wx) + img[y0 * W + x1] * wx;
                float bot = img[y1 * W + x0] * (1 - wx) + img[y1 * W + x1] * wx;
                op[i * OW + j] = top * (1 - wy) + bot * wy;
            }
        }
    }
    mk_free(k->alloc, cy, nb);
    return MK_OK;
}

mk_status mk_k_upsample_nearest(mk_kctx *k)
{
    double sy, sx;
    mk_status st;
    if ((st = mk_kfloat(k, "scale_factor_height", 1, &sy)) ||
        (st = mk_kfloat(k, "scale_factor_width", 1, &sx)))
        return st;
    if (sy <= 0 || sx <= 0) return mk_kerr(k, MK_EINVAL, "scale factors must be positive");
    return resample(k, 0, G_NEAREST_SCALE, G_NEAREST_SCALE, sy, sx);
}

mk_status mk_k_upsample_bilinear(mk_kctx *k)
{
    double sy, sx;
    int ac, hp;
    mk_status st;
    if ((st = mk_kfloat(k, "scale_factor_height", 1, &sy)) ||
        (st = mk_kfloat(k, "scale_factor_width", 1, &sx)) ||
        (st = mk_kbool(k, "align_corners", 1, &ac)) ||
        (st = mk_kbool(k, "half_pixel_centers", !ac, &hp)))
        return st;
    if (sy <= 0 || sx <= 0) return mk_kerr(k, MK_EINVAL, "scale factors must be positive");
    int g = ac ? G_ALIGN : hp ? G_HALF : G_SCALE;
    return resample(k, 1, g, g, sy, sx);
}

static mk_status sampling_grid(mk_kctx *k, int *g)
{
    const char *m = mk_kstr(k, "sampling_mode", "DEFAULT");
    if (strcmp(m, "STRICT_ALIGN_CORNERS") == 0)
        *g = G_ALIGN;
    else if (strcmp(m, "ALIGN_CORNERS") == 0)
        *g = G_ALIGN_MID;
    else if (strcmp(m, "DEFAULT") == 0)
        *g = G_SCALE;
    else if (strcmp(m, "UNALIGN_CORNERS") == 0)
        *g = G_HALF;
    else if (strcmp(m, "OFFSET_CORNERS") == 0)
        *g = G_OFFSET;
    else
        return mk_kerr(k, MK_EINVAL, "unknown sampling_mode '%s'", m);
    return MK_OK;
}

/* Resize to the output's last two sizes; `resized` of them (from the right) change. */
static mk_status resize_to(mk_kctx *k, int bilinear, int resized)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x || x->type.rank < 2 || out->type.rank != x->type.rank)
        return mk_kerr(k, MK_EINVAL, "x must have rank >= 2");
    int r = x->type.rank, g = G_SCALE;
    mk_status st = sampling_grid(k, &g);
    if (st) return st;
    if (!bilinear && g != G_SCALE)
        return mk_kerr(k, MK_EUNSUPPORTED,
                       "nearest-neighbor resize with sampling_mode '%s' is "
                       "not supported (only DEFAULT)",
                       mk_kstr(k, "sampling_mode", "DEFAULT"));
    double sy = out->type.dims[r - 2] && x->type.dims[r - 2]
                    ? (double)out->type.dims[r - 2] / (double)x->type.dims[r - 2]
                    : 1;
    double sx = out->type.dims[r - 1] && x->type.dims[r - 1]
                    ? (double)out->type.dims[r - 1] / (double)x->type.dims[r - 1]
                    : 1;
    int gy = resized < 2 ? G_SAME : g, gx = resized < 1 ? G_SAME : g;
    if (!bilinear) {
        gy = resized < 2 ? G_SAME : G_NEAREST_SCALE;
        gx = resized < 1 ? G_SAME : G_NEAREST_SCALE;
    }
    return resample(k, bilinear, gy, gx, sy, sx);
}

mk_status mk_k_resize_nearest(mk_kctx *k)
{
    return resize_to(k, 0, 2);
}

mk_status mk_k_resize_bilinear(mk_kctx *k)
{
    return resize_to(k, 1, 2);
}

/* iOS17 resize: the rightmost resized_dims axes take their sizes from `shape`. */
mk_status mk_k_resize(mk_kctx *k)
{
    const char *m = mk_kstr(k, "interpolation_mode", "LINEAR");
    int64_t rd;
    mk_status st = mk_kint(k, "resized_dims", 2, &rd);
    if (st) return st;
    if (rd < 0 || rd > 2)
        return mk_kerr(k, MK_EUNSUPPORTED, "resized_dims %lld not supported (at most 2)",
                       (long long)rd);
    int lin = strcmp(m, "LINEAR") == 0;
    if (!lin && strcmp(m, "NEAREST_NEIGHBOR") != 0)
        return mk_kerr(k, MK_EUNSUPPORTED, "interpolation_mode '%s' not supported", m);
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (x && rd == 0 && x->numel == out->numel &&
        mk_interp_layout(x->type.dtype) == mk_interp_layout(out->type.dtype)) {
        if (x->numel) memcpy(out->data, x->data, x->numel * mk_interp_elem_size(x->type.dtype));
        return MK_OK;
    }
    if (x && x->type.rank == 1 && rd == 1) return mk_kerr(k, MK_EUNSUPPORTED, "rank-1 resize");
    return resize_to(k, lin, (int)rd);
}
