/* ONNX GridSample (opset 16; opset 20 names linear/cubic) lowered to MIL resample on 4-D
 * input. bilinear keeps the normalized grid; nearest first computes the pixel coordinates and
 * rounds them half to even (ONNX's rule) so MIL's own tie rule never matters. zeros ->
 * constant 0, border -> border, reflection -> reflection (align_corners=1, mirrored about the
 * edge pixel centres) or symmetric (align_corners=0, mirrored about the image edges).
 * Refused with a reason: bicubic, volumetric (5-D) input, nearest + reflection without
 * align_corners (ONNX reflects before rounding; ties then land on another pixel). */
#include <string.h>

#include "onnx_int.h"

/* ONNX mode (either opset's spelling) -> 0 linear, 1 nearest, 2 cubic, -1 unknown. */
static int grid_mode(ox_ctx *c, const Onnx__NodeProto *n)
{
    const char *m = mk_onnx_attr_s(c, n, "mode", c->opset >= 20 ? "linear" : "bilinear");
    if (!strcmp(m, "bilinear") || !strcmp(m, "linear")) return 0;
    if (!strcmp(m, "nearest")) return 1;
    if (!strcmp(m, "bicubic") || !strcmp(m, "cubic")) return 2;
    return -1;
}

OX_WHY(mk_onnx_why_grid_sample)
{
    int mode = grid_mode(c, n);
    const char *pm = mk_onnx_attr_s(c, n, "padding_mode", "zeros");
    if (mode == 2) return "bicubic GridSample: MIL resample has only bilinear and nearest";
    if (mode < 0) return "unknown GridSample mode";
    if (strcmp(pm, "zeros") && strcmp(pm, "border") && strcmp(pm, "reflection"))
        return "unknown GridSample padding_mode";
    if (mode == 1 && !strcmp(pm, "reflection") && !mk_onnx_attr_i(n, "align_corners", 0))
        return "nearest GridSample with reflection padding and align_corners=0: ONNX reflects "
               "before rounding, MIL pads after it (ties land on other pixels)";
    return NULL;
}

/* Pixel coordinates of a normalized grid, rounded half to even:
 * u = (g + 1) * a - b with a = (S - 1) / 2, b = 0 (align_corners) or a = S / 2, b = 1/2,
 * S = (W, H) per last-axis component. */
static mk_value *rounded_pixels(ox_ctx *c, mk_value *g, int64_t H, int64_t W, int align)
{
    float one = 1, half = 0.5f;
    float a[2] = {align ? (float)(W - 1) / 2 : (float)W / 2,
                  align ? (float)(H - 1) / 2 : (float)H / 2};
    int64_t d2 = 2;
    mk_value *g1 =
        mk_onnx_binary(c, MK_OP_ADD, g, mk_onnx_cf32(c, "grid_one", 0, NULL, &one), NULL);
    mk_value *u =
        g1 ? mk_onnx_binary(c, MK_OP_MUL, g1, mk_onnx_cf32(c, "grid_scale", 1, &d2, a), NULL)
           : NULL;
    if (u && !align)
        u = mk_onnx_binary(c, MK_OP_SUB, u, mk_onnx_cf32(c, "grid_half", 0, NULL, &half), NULL);
    return u ? mk_onnx_unary(c, MK_OP_ROUND, u, NULL) : NULL;
}

OX_LOWER(mk_onnx_lower_grid_sample)
{
    (void)n_out;
    if (n_in < 2 || !in[0] || !in[1])
        return mk_err_set(c->err, MK_EINVAL,
                          "%s: GridSample "
                          "needs X and grid",
                          c->file);
    const char *why = mk_onnx_why_grid_sample(c, n);
    if (why) return mk_onnx_unsupported(c, n, "%s", why);
    mk_value *x = mil(c, in[0]), *g = x ? mil(c, in[1]) : NULL;
    if (!g) return fail(c);
    if (x->type.rank != 4 || g->type.rank != 4)
        return mk_onnx_unsupported(c, n, "only 4-D GridSample converts (X rank %d, grid rank %d)",
                                   x->type.rank, g->type.rank);
    if (x->type.dtype != MK_DT_FP32 || g->type.dtype != MK_DT_FP32)
        return mk_onnx_unsupported(c, n, "non-float X or grid");
    if (g->type.dims[3] >= 0 && g->type.dims[3] != 2)
        return mk_err_set(c->err, MK_EINVAL, "%s: GridSample grid last dimension is %lld, not 2",
                          c->file, (long long)g->type.dims[3]);
    int nearest = grid_mode(c, n) == 1;
    int align = mk_onnx_attr_i(n, "align_corners", 0) != 0;
    const char *pm = mk_onnx_attr_s(c, n, "padding_mode", "zeros");
    const char *mpm = !strcmp(pm, "zeros")    ? "constant"
                      : !strcmp(pm, "border") ? "border"
                      : align                 ? "reflection"
                                              : "symmetric";
    const char *cm = "normalized_minus_one_to_one";
    int64_t H = x->type.dims[2], W = x->type.dims[3];
    if (nearest) {
        if (H < 1 || W < 1)
            return mk_onnx_unsupported(c, n, "nearest GridSample needs static H and W");
        g = rounded_pixels(c, g, H, W, align);
        if (!g) return fail(c);
        cm = "unnormalized";
    }
    mk_op *op = mk_onnx_op(c, MK_OP_RESAMPLE, oname(n, 0));
    if (!op || !mk_onnx_in_mil(c, op, "x", x) || !mk_onnx_in_mil(c, op, "coordinates", g) ||
        !mk_onnx_in_str(c, op, "sampling_mode", nearest ? "nearest" : "bilinear") ||
        !mk_onnx_in_str(c, op, "padding_mode", mpm) || !mk_onnx_in_f32(c, op, "padding_value", 0) ||
        !mk_onnx_in_str(c, op, "coordinates_mode", cm) ||
        !mk_onnx_in_bool(c, op, "align_corners", align))
        return fail(c);
    return done(c, out[0], mk_onnx_out(c, op, NULL));
}
