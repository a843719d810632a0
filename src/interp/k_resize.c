/* Resampling kernels on the last two axes: upsample_* (scale factors), resize_* (target sizes,
 * sampling_mode grids as coremltools' op definitions state them) and iOS17 resize (resized_dims
 * 0-2). Each output row/column gets a source coordinate from the input/output sizes (the scale
 * "recomputed"); bilinear blends two neighbours, upsample nearest takes floor(o * in / out),
 * resize nearest floor((o + 0.5) * in / out) (coremltools' tests and TF mapping). resample
 * reads a point per output pixel and pads by index; nearest rounds halves up. */
#include <math.h>
#include <string.h>

#include "interp_int.h"

/* grids: STRICT_ALIGN_CORNERS, ALIGN_CORNERS (a single output samples the middle), DEFAULT,
 * UNALIGN_CORNERS (half pixel), OFFSET_CORNERS, upsample nearest, resize nearest, and the
 * identity (an axis iOS17 resize leaves alone) */
enum { G_ALIGN, G_ALIGN_MID, G_SCALE, G_HALF, G_OFFSET, G_NEAREST_UP, G_NEAREST_SIZE, G_SAME };

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
    case G_NEAREST_UP: v = floor((double)o * spacing); break;
    case G_NEAREST_SIZE: v = floor(((double)o + 0.5) * spacing); break;
    default: v = (double)o * spacing; break;
    }
    if (v < 0) v = 0;
    if (v > (double)(in - 1)) v = (double)(in - 1);
    return v;
}

/* A nearest-neighbour resample is a gather of 4-byte elements (whatever their type) by
 * precomputed source rows and columns; an output row whose source row repeats the previous
 * one's is a copy of it. Chunks are runs of output rows of whole planes: pure copies, so any
 * split gives the same bits. */
typedef struct gather_job {
    const uint32_t *src;
    uint32_t *dst;
    const int64_t *iy, *ix; /* source row and column per output row and column */
    int64_t H, W, OH, OW;
    int64_t rows;      /* output rows per chunk */
    int64_t per_plane; /* chunks per plane */
} gather_job;

static void gather_rows(void *ctx, int64_t c, int tid)
{
    const gather_job *J = ctx;
    (void)tid;
    int64_t p = c / J->per_plane, i0 = c % J->per_plane * J->rows;
    int64_t i1 = i0 + J->rows < J->OH ? i0 + J->rows : J->OH;
    const uint32_t *img = J->src + p * J->H * J->W;
    for (int64_t i = i0; i < i1; i++) {
        uint32_t *d = J->dst + (p * J->OH + i) * J->OW;
        if (i > i0 && J->iy[i] == J->iy[i - 1]) {
            memcpy(d, d - J->OW, (size_t)J->OW * sizeof *d);
            continue;
        }
        const uint32_t *srow = img + J->iy[i] * J->W;
        for (int64_t j = 0; j < J->OW; j++) d[j] = srow[J->ix[j]];
    }
}

static mk_status resample(mk_kctx *k, int bilinear, int gy, int gx)
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
    for (int64_t o = 0; o < OH; o++) cy[o] = src_coord(gy, o, H, OH);
    for (int64_t o = 0; o < OW; o++) cx[o] = src_coord(gx, o, W, OW);
    const float *a = x->data;
    float *od = out->data;
    if (!bilinear) {
        size_t ni = (size_t)(OH + OW) * sizeof(int64_t);
        int64_t *iy = mk_malloc(k->alloc, ni);
        if (!iy) {
            mk_free(k->alloc, cy, nb);
            return MK_OOM(k->e);
        }
        for (int64_t o = 0; o < OH; o++) iy[o] = (int64_t)cy[o];
        for (int64_t o = 0; o < OW; o++) iy[OH + o] = (int64_t)cx[o];
        gather_job J = {.src = x->data,
                        .dst = out->data,
                        .iy = iy,
                        .ix = iy + OH,
                        .H = H,
                        .W = W,
                        .OH = OH,
                        .OW = OW};
        /* about 64 KiB of output per chunk, within one plane */
        J.rows = OW >= 16384 ? 1 : 16384 / OW;
        if (J.rows > OH) J.rows = OH;
        J.per_plane = mk_par_chunks(OH, J.rows);
        J.rows = mk_par_chunks(OH, J.per_plane);
        mk_par_for(k, planes * J.per_plane, gather_rows, &J);
        mk_free(k->alloc, iy, ni);
        mk_free(k->alloc, cy, nb);
        return MK_OK;
    }
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
    return resample(k, 0, G_NEAREST_UP, G_NEAREST_UP);
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
    return resample(k, 1, g, g);
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
    int g = G_SCALE;
    mk_status st = sampling_grid(k, &g);
    if (st) return st;
    if (!bilinear && g != G_SCALE)
        return mk_kerr(k, MK_EUNSUPPORTED,
                       "nearest-neighbor resize with sampling_mode '%s' is "
                       "not supported (only DEFAULT)",
                       mk_kstr(k, "sampling_mode", "DEFAULT"));
    int gy = resized < 2 ? G_SAME : g, gx = resized < 1 ? G_SAME : g;
    if (!bilinear) {
        gy = resized < 2 ? G_SAME : G_NEAREST_SIZE;
        gx = resized < 1 ? G_SAME : G_NEAREST_SIZE;
    }
    return resample(k, bilinear, gy, gx);
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

/* ---- resample ---- */
enum { PAD_CONSTANT, PAD_BORDER, PAD_REFLECTION, PAD_SYMMETRIC };

/* Source index of (possibly outside) index i on an axis of n > 0 pixels; -1 means "padding
 * value". reflection mirrors about the edge pixels (|1,2,3| -> 3,2,|1,2,3|,2,1), symmetric
 * repeats them (|1,2,3| -> 2,1,|1,2,3|,3,2). */
static int64_t pad_index(int mode, int64_t i, int64_t n)
{
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case PAD_BORDER: return i < 0 ? 0 : n - 1;
    case PAD_REFLECTION: {
        if (n == 1) return 0;
        int64_t period = 2 * (n - 1), m = i % period;
        if (m < 0) m += period;
        return m < n ? m : period - m;
    }
    case PAD_SYMMETRIC: {
        int64_t period = 2 * n, m = i % period;
        if (m < 0) m += period;
        return m < n ? m : period - 1 - m;
    }
    default: return -1;
    }
}

/* Pixel coordinate of coordinate value v on an axis of n pixels. */
static double unnormalize(int cmode, int align, double v, int64_t n)
{
    if (cmode == 1) v = (v + 1) / 2; /* normalized_minus_one_to_one -> [0, 1] */
    if (cmode == 0) return v;
    return align ? v * (double)(n - 1) : v * (double)n - 0.5;
}

/* floor of a value already clamped to +-1e15, as an index. */
static int64_t floor_index(double v)
{
    return (int64_t)floor(v);
}

static float pixel(const float *img, int64_t H, int64_t W, int pmode, float padv, int64_t y,
                   int64_t x)
{
    int64_t sy = pad_index(pmode, y, H), sx = pad_index(pmode, x, W);
    return sy < 0 || sx < 0 ? padv : img[sy * W + sx];
}

mk_status mk_k_resample(mk_kctx *k)
{
    static const char *const pads[] = {"constant", "border", "reflection", "symmetric"};
    static const char *const cmodes[] = {"unnormalized", "normalized_minus_one_to_one",
                                         "normalized_zero_to_one"};
    mk_rt *x = mk_kin(k, "x"), *g = mk_kin(k, "coordinates"), *out = k->outs[0];
    if (!x || !g) return mk_kerr(k, MK_EINVAL, "needs x and coordinates");
    const char *sm = mk_kstr(k, "sampling_mode", ""), *pm = mk_kstr(k, "padding_mode", "");
    const char *cm = mk_kstr(k, "coordinates_mode", "");
    int pmode = -1, cmode = -1, align;
    double padv;
    mk_status st;
    if ((st = mk_kbool(k, "align_corners", 0, &align)) ||
        (st = mk_kfloat(k, "padding_value", 0, &padv)))
        return st;
    for (int i = 0; i < 4; i++)
        if (strcmp(pm, pads[i]) == 0) pmode = i;
    for (int i = 0; i < 3; i++)
        if (strcmp(cm, cmodes[i]) == 0) cmode = i;
    int nearest = strcmp(sm, "nearest") == 0;
    if ((!nearest && strcmp(sm, "bilinear") != 0) || pmode < 0 || cmode < 0)
        return mk_kerr(k, MK_EINVAL,
                       "bad sampling_mode '%s', padding_mode '%s' or "
                       "coordinates_mode '%s'",
                       sm, pm, cm);
    mk_layout lg = mk_interp_layout(g->type.dtype);
    if (x->type.rank != 4 || g->type.rank != 4 || out->type.rank != 4 ||
        mk_interp_layout(x->type.dtype) != MK_L_F32 || (lg != MK_L_F32 && lg != MK_L_I32) ||
        mk_interp_layout(out->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "needs float x [N,C,H,W] and coordinates [N,H2,W2,2]");
    int64_t N = x->type.dims[0], C = x->type.dims[1], H = x->type.dims[2], W = x->type.dims[3];
    int64_t OH = g->type.dims[1], OW = g->type.dims[2];
    if (g->type.dims[0] != N || g->type.dims[3] != 2 || out->type.dims[0] != N ||
        out->type.dims[1] != C || out->type.dims[2] != OH || out->type.dims[3] != OW)
        return mk_kerr(k, MK_EINVAL, "shapes of x, coordinates and output disagree");
    if (out->numel == 0) return MK_OK;
    if (H == 0 || W == 0) return mk_kerr(k, MK_EINVAL, "cannot resample an empty image");
    const float *xd = x->data, *gf = g->data;
    const int32_t *gi = g->data;
    float *od = out->data, pv = (float)padv;
    for (int64_t n = 0; n < N; n++)
        for (int64_t p = 0; p < OH * OW; p++) {
            size_t gix = (size_t)((n * OH * OW + p) * 2);
            double gx = lg == MK_L_F32 ? (double)gf[gix] : (double)gi[gix];
            double gy = lg == MK_L_F32 ? (double)gf[gix + 1] : (double)gi[gix + 1];
            double u = unnormalize(cmode, align, gx, W), v = unnormalize(cmode, align, gy, H);
            u = fmax(-1e15, fmin(1e15, u)); /* far outside stays outside; no inf arithmetic */
            v = fmax(-1e15, fmin(1e15, v));
            for (int64_t ch = 0; ch < C; ch++) {
                const float *img = xd + (n * C + ch) * H * W;
                float *o = od + (n * C + ch) * OH * OW + p;
                if (isnan(u) || isnan(v)) {
                    *o = pmode == PAD_CONSTANT ? pv : NAN;
                    continue;
                }
                if (nearest) {
                    *o = pixel(img, H, W, pmode, pv, floor_index(v + 0.5), floor_index(u + 0.5));
                    continue;
                }
                int64_t x0 = floor_index(u), y0 = floor_index(v);
                float wx = (float)(u - floor(u)), wy = (float)(v - floor(v));
                float a = pixel(img, H, W, pmode, pv, y0, x0);
                float b = pixel(img, H, W, pmode, pv, y0, x0 + 1);
                float c = pixel(img, H, W, pmode, pv, y0 + 1, x0);
                float d = pixel(img, H, W, pmode, pv, y0 + 1, x0 + 1);
                *o = (a * (1 - wx) + b * wx) * (1 - wy) + (c * (1 - wx) + d * wx) * wy;
            }
        }
    return MK_OK;
}
