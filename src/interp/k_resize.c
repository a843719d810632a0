/* Resampling kernels on the last two axes: upsample_nearest_neighbor / upsample_bilinear (scale
 * factors, align_corners, half_pixel_centers), resize_nearest_neighbor / resize_bilinear
 * (target sizes, sampling_mode grids) and iOS17 resize. Each output row/column gets a source
 * coordinate first; nearest takes floor, bilinear blends the two neighbours. */
#include <math.h>
#include <string.h>

#include "interp_int.h"

enum { G_ALIGN, G_SCALE, G_HALF, G_OFFSET, G_NEAREST_SCALE };

/* Source coordinate of output index o for one axis. */
static double src_coord(int mode, int64_t o, int64_t in, int64_t out, double scale)
{
    double v;
    switch (mode) {
    case G_ALIGN: v = out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0; break;
    case G_HALF: v = ((double)o + 0.5) / scale - 0.5; break;
    case G_OFFSET: {
        double delta = (in > 1 ? (double)(in - 1) : 1.0) / (double)out;
        v = 0.5 * delta + (double)o * delta;
        break;
    }
    default: v = (double)o / scale; break;
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
    if (r < 2 || out->type.rank != r || mk_interp_layout(x->type.dtype) != MK_L_F32 ||
        mk_interp_layout(out->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "x must be a float tensor of rank >= 2");
    for (int i = 0; i < r - 2; i++)
        if (x->type.dims[i] != out->type.dims[i]) return mk_kerr(k, MK_EINVAL, "batch dims differ");
    int64_t H = x->type.dims[r - 2], W = x->type.dims[r - 1];
    int64_t OH = out->type.dims[r - 2], OW = out->type.dims[r - 1];
    if ((H == 0 || W == 0) && OH * OW != 0) return mk_kerr(k, MK_EINVAL, "cannot resample an empty image");
    int64_t planes = H * W != 0 ? (int64_t)(x->numel / (size_t)(H * W)) : 0;
    if (!OH || !OW) return MK_OK;
    size_t nb = (size_t)(OH + OW) * sizeof(double) + 16;
    double *cy = mk_malloc(k->alloc, nb), *cx;
    if (!cy) return MK_OOM(k->e);
    cx = cy + OH;
    for (int64_t o = 0; o < OH; o++)
        cy[o] = gy == G_NEAREST_SCALE ? fmin(floor((double)o / sy), (double)(H - 1))
                                      : src_coord(gy, o, H, OH, sy);
    for (int64_t o = 0; o < OW; o++)
        cx[o] = gx == G_NEAREST_SCALE ? fmin(floor((double)o / sx), (double)(W - 1))
                                      : src_coord(gx, o, W, OW, sx);
    const float *a = x->data;
    float *od = out->data;
    for (int64_t p = 0; p < planes; p++) {
        const float *img = a + p * H * W;
        float *op = od + p * OH * OW;
        for (int64_t i = 0; i < OH; i++) {
            double y = cy[i];
            int64_t y0 = (int64_t)floor(y), y1 = y0 + 1 < H ? y0 + 1 : H - 1;
            float wy = (float)(y - (double)y0);
            for (int64_t j = 0; j < OW; j++) {
                double xv = cx[j];
                int64_t x0 = (int64_t)floor(xv), x1 = x0 + 1 < W ? x0 + 1 : W - 1;
                if (!bilinear) {
                    op[i * OW + j] = img[y0 * W + x0];
                    continue;
                }
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

static mk_status sampling_grid(mk_kctx *k, int *g, int *scale_mode)
{
    const char *m = mk_kstr(k, "sampling_mode", "DEFAULT");
    *scale_mode = 0;
    if (strcmp(m, "STRICT_ALIGN_CORNERS") == 0 || strcmp(m, "ALIGN_CORNERS") == 0) *g = G_ALIGN;
    else if (strcmp(m, "DEFAULT") == 0) *g = G_SCALE, *scale_mode = 1;
    else if (strcmp(m, "UNALIGN_CORNERS") == 0 || strcmp(m, "HALF_PIXEL") == 0) *g = G_HALF, *scale_mode = 1;
    else if (strcmp(m, "OFFSET_CORNERS") == 0) *g = G_OFFSET;
    else return mk_kerr(k, MK_EINVAL, "unknown sampling_mode '%s'", m);
    return MK_OK;
}

static mk_status resize_to(mk_kctx *k, int bilinear)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x || x->type.rank < 2 || out->type.rank != x->type.rank)
        return mk_kerr(k, MK_EINVAL, "x must have rank >= 2");
    int r = x->type.rank, g = G_SCALE, sm = 1;
    mk_status st = bilinear ? sampling_grid(k, &g, &sm) : MK_OK;
    if (st) return st;
    double sy = out->type.dims[r - 2] && x->type.dims[r - 2]
                    ? (double)out->type.dims[r - 2] / (double)x->type.dims[r - 2] : 1;
    double sx = out->type.dims[r - 1] && x->type.dims[r - 1]
                    ? (double)out->type.dims[r - 1] / (double)x->type.dims[r - 1] : 1;
    if (!bilinear) return resample(k, 0, G_NEAREST_SCALE, G_NEAREST_SCALE, sy, sx);
    return resample(k, 1, g, g, sy, sx);
}

mk_status mk_k_resize_nearest(mk_kctx *k)
{
    return resize_to(k, 0);
}

mk_status mk_k_resize_bilinear(mk_kctx *k)
{
    return resize_to(k, 1);
}

mk_status mk_k_resize(mk_kctx *k)
{
    const char *m = mk_kstr(k, "interpolation_mode", "LINEAR");
    if (strcmp(m, "NEAREST_NEIGHBOR") == 0) return resize_to(k, 0);
    if (strcmp(m, "LINEAR") == 0) return resize_to(k, 1);
    return mk_kerr(k, MK_EUNSUPPORTED, "interpolation_mode '%s' not supported", m);
}
