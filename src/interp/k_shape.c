/* Layout kernels that move elements without arithmetic: reshape-like copies, transpose,
 * concat/split/stack, slicing (by index with masks, by size, slice_update), tile, pad (constant,
 * reflect, replicate), reverse, shape, fill, range_1d, band_part and the depth/space shuffles.
 * They work on element bytes, so every dtype layout is handled alike. */
#include <math.h>
#include <string.h>

#include "interp_int.h"

static size_t esz(const mk_rt *r)
{
    return mk_interp_elem_size(r->type.dtype);
}

static mk_status same_layout(mk_kctx *k, const mk_rt *a, const mk_rt *b)
{
    if (mk_interp_layout(a->type.dtype) != mk_interp_layout(b->type.dtype))
        return mk_kerr(k, MK_EINVAL, "input and output element types differ");
    return MK_OK;
}

/* Copy out (row-major over its own dims `dims`, rank r) from src at base offset with the
 * given per-dim source strides (elements). */
static void strided_copy(void *dst, const void *src, size_t es, int r, const int64_t *dims,
                         int64_t base, const int64_t *sst)
{
    size_t n = 1;
    for (int i = 0; i < r; i++) n *= (size_t)dims[i];
    if (!n) return;
    int64_t cnt[MK_MAX_RANK] = {0}, off = base;
    char *d = dst;
    const char *s = src;
    if (r == 0) {
        memcpy(d, s + (size_t)base * es, es);
        return;
    }
    int64_t inner = dims[r - 1], is = sst[r - 1];
    for (size_t o = 0; o < n; o += (size_t)inner) {
        if (is == 1) {
            memcpy(d + o * es, s + (size_t)off * es, (size_t)inner * es);
        } else if (es == 4) {
            const uint32_t *sp = (const uint32_t *)s + off;
            uint32_t *dp = (uint32_t *)d + o;
            for (int64_t i = 0; i < inner; i++) dp[i] = sp[i * is];
        } else {
            for (int64_t i = 0; i < inner; i++)
                memcpy(d + (o + (size_t)i) * es, s + (size_t)(off + i * is) * es, es);
        }
        for (int dd = r - 2; dd >= 0; dd--) {
            off += sst[dd];
            if (++cnt[dd] < dims[dd]) break;
            off -= sst[dd] * cnt[dd];
            cnt[dd] = 0;
        }
    }
}

mk_status mk_k_copy_reshape(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) x = mk_kin(k, "input");
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    mk_status st = same_layout(k, x, out);
    if (st) return st;
    if (x->numel != out->numel)
        return mk_kerr(k, MK_EINVAL, "cannot reshape %zu elements into %zu", x->numel, out->numel);
    if (x->numel && out->data != x->data) /* else x's buffer became the output */
        memcpy(out->data, x->data, x->numel * esz(x));
    return MK_OK;
}

mk_status mk_k_read_state(mk_kctx *k)
{
    return mk_k_copy_reshape(k);
}

mk_status mk_k_transpose(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t perm[MK_MAX_RANK];
    int n, r = x->type.rank, seen[MK_MAX_RANK] = {0};
    mk_status st = mk_kints(k, "perm", perm, MK_MAX_RANK, &n);
    if (st || (st = same_layout(k, x, out))) return st;
    if (n != r || out->type.rank != r) return mk_kerr(k, MK_EINVAL, "perm must have %d entries", r);
    int64_t is[MK_MAX_RANK], ss[MK_MAX_RANK];
    mk_strides(&x->type, is);
    for (int i = 0; i < r; i++) {
        int p;
        if ((st = mk_kaxis(k, perm[i], r, &p))) return st;
        if (seen[p]++ || out->type.dims[i] != x->type.dims[p])
            return mk_kerr(k, MK_EINVAL, "perm is not a permutation matching the output");
        ss[i] = is[p];
    }
    strided_copy(out->data, x->data, esz(x), r, out->type.dims, 0, ss);
    return MK_OK;
}

mk_status mk_k_concat(mk_kctx *k)
{
    int n;
    mk_rt **v = mk_kargs(k, "values", &n), *out = k->outs[0];
    if (!v || n < 1) return mk_kerr(k, MK_EINVAL, "needs values");
    int64_t a64;
    int axis, inter;
    mk_status st;
    if ((st = mk_kint(k, "axis", 0, &a64)) || (st = mk_kaxis(k, a64, out->type.rank, &axis)) ||
        (st = mk_kbool(k, "interleave", 0, &inter)))
        return st;
    int64_t outer = 1, inner = 1, total = 0;
    for (int i = 0; i < axis; i++) outer *= out->type.dims[i];
    for (int i = axis + 1; i < out->type.rank; i++) inner *= out->type.dims[i];
    size_t es = esz(out);
    for (int j = 0; j < n; j++) {
        if ((st = same_layout(k, v[j], out))) return st;
        if (v[j]->type.rank != out->type.rank)
            return mk_kerr(k, MK_EINVAL, "values must share the output's rank");
        total += v[j]->type.dims[axis];
        if ((size_t)(outer * inner * v[j]->type.dims[axis]) != v[j]->numel)
            return mk_kerr(k, MK_EINVAL, "value %d does not match the other dims", j);
    }
    if (total != out->type.dims[axis]) return mk_kerr(k, MK_EINVAL, "concat size mismatch");
    char *o = out->data;
    if (inter) {
        int64_t len = v[0]->type.dims[axis];
        for (int j = 0; j < n; j++)
            if (v[j]->type.dims[axis] != len)
                return mk_kerr(k, MK_EINVAL, "interleave needs equal sizes");
        for (int64_t p = 0; p < outer; p++)
            for (int64_t q = 0; q < len; q++)
                for (int j = 0; j < n; j++) {
                    memcpy(o, (const char *)v[j]->data + (size_t)((p * len + q) * inner) * es,
                           (size_t)inner * es);
                    o += (size_t)inner * es;
                }
        return MK_OK;
    }
    for (int64_t p = 0; p < outer; p++)
        for (int j = 0; j < n; j++) {
            size_t chunk = (size_t)(v[j]->type.dims[axis] * inner) * es;
            const char *src = (const char *)v[j]->data + (size_t)p * chunk;
            if (chunk && src != o) memcpy(o, src, chunk); /* else written in place (a view) */
            o += chunk;
        }
    return MK_OK;
}

mk_status mk_k_split(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x");
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t a64;
    int axis;
    mk_status st;
    if ((st = mk_kint(k, "axis", 0, &a64)) || (st = mk_kaxis(k, a64, x->type.rank, &axis)))
        return st;
    int64_t outer = 1, inner = 1, len = x->type.dims[axis], off = 0;
    for (int i = 0; i < axis; i++) outer *= x->type.dims[i];
    for (int i = axis + 1; i < x->type.rank; i++) inner *= x->type.dims[i];
    size_t es = esz(x);
    for (int j = 0; j < k->n_outs; j++) {
        mk_rt *o = k->outs[j];
        if ((st = same_layout(k, x, o))) return st;
        if (o->type.rank != x->type.rank) return mk_kerr(k, MK_EINVAL, "output rank mismatch");
        int64_t l = o->type.dims[axis];
        if (off + l > len || (size_t)(outer * l * inner) != o->numel)
            return mk_kerr(k, MK_EINVAL, "split sizes exceed the input");
        for (int64_t p = 0; p < outer; p++)
            memcpy((char *)o->data + (size_t)(p * l * inner) * es,
                   (const char *)x->data + (size_t)((p * len + off) * inner) * es,
                   (size_t)(l * inner) * es);
        off += l;
    }
    return MK_OK;
}

mk_status mk_k_stack(mk_kctx *k)
{
    int n;
    mk_rt **v = mk_kargs(k, "values", &n), *out = k->outs[0];
    if (!v || n < 1) return mk_kerr(k, MK_EINVAL, "needs values");
    int64_t a64;
    int axis;
    mk_status st;
    if ((st = mk_kint(k, "axis", 0, &a64)) || (st = mk_kaxis(k, a64, out->type.rank, &axis)))
        return st;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; i++) outer *= out->type.dims[i];
    for (int i = axis + 1; i < out->type.rank; i++) inner *= out->type.dims[i];
    if (out->type.dims[axis] != n) return mk_kerr(k, MK_EINVAL, "output axis size mismatch");
    size_t es = esz(out);
    for (int j = 0; j < n; j++) {
        if ((st = same_layout(k, v[j], out))) return st;
        if (v[j]->numel != (size_t)(outer * inner))
            return mk_kerr(k, MK_EINVAL, "value %d has the wrong size", j);
    }
    char *o = out->data;
    for (int64_t p = 0; p < outer; p++)
        for (int j = 0; j < n; j++) {
            memcpy(o, (const char *)v[j]->data + (size_t)(p * inner) * es, (size_t)inner * es);
            o += (size_t)inner * es;
        }
    return MK_OK;
}

/* Resolve slice_by_index parameters into begin/stride/count per dim. */
static mk_status slice_params(mk_kctx *k, const mk_rt *x, int64_t *b, int64_t *s, int64_t *cnt,
                              int *sq)
{
    int r = x->type.rank, nb, ne, ns, nbm, nem, nsq;
    int64_t beg[MK_MAX_RANK], end[MK_MAX_RANK], str[MK_MAX_RANK], bm[MK_MAX_RANK], em[MK_MAX_RANK],
        sm[MK_MAX_RANK];
    mk_status st;
    if ((st = mk_kints(k, "begin", beg, MK_MAX_RANK, &nb)) ||
        (st = mk_kints(k, "end", end, MK_MAX_RANK, &ne)) ||
        (st = mk_kints(k, "stride", str, MK_MAX_RANK, &ns)) ||
        (st = mk_kints(k, "begin_mask", bm, MK_MAX_RANK, &nbm)) ||
        (st = mk_kints(k, "end_mask", em, MK_MAX_RANK, &nem)) ||
        (st = mk_kints(k, "squeeze_mask", sm, MK_MAX_RANK, &nsq)))
        return st;
    if (nb != r || ne != r || (ns >= 0 && ns != r) || (nbm >= 0 && nbm != r) ||
        (nem >= 0 && nem != r) || (nsq >= 0 && nsq != r))
        return mk_kerr(k, MK_EINVAL, "begin/end/stride/masks must have %d entries", r);
    for (int i = 0; i < r; i++) {
        int64_t d = x->type.dims[i], st1 = ns >= 0 ? str[i] : 1, bi = beg[i], ei = end[i];
        if (st1 == 0) return mk_kerr(k, MK_EINVAL, "stride 0 on axis %d", i);
        sq[i] = nsq >= 0 && sm[i];
        if (bi < 0) bi += d;
        if (ei < 0) ei += d;
        if (st1 > 0) {
            if (nbm >= 0 && bm[i]) bi = 0;
            if (nem >= 0 && em[i]) ei = d;
            bi = bi < 0 ? 0 : bi > d ? d : bi;
            ei = ei < 0 ? 0 : ei > d ? d : ei;
            cnt[i] = ei > bi ? (ei - bi + st1 - 1) / st1 : 0;
        } else {
            if (nbm >= 0 && bm[i]) bi = d - 1;
            if (nem >= 0 && em[i]) ei = -1;
            bi = bi < -1 ? -1 : bi > d - 1 ? d - 1 : bi;
            ei = ei < -1 ? -1 : ei > d - 1 ? d - 1 : ei;
            cnt[i] = bi > ei ? (bi - ei - st1 - 1) / (-st1) : 0;
        }
        if (sq[i]) {
            if (bi < 0 || bi >= d) return mk_kerr(k, MK_EINVAL, "squeezed index out of range");
            cnt[i] = 1;
        }
        b[i] = bi;
        s[i] = st1;
    }
    return MK_OK;
}

mk_status mk_k_slice_by_index(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t b[MK_MAX_RANK], s[MK_MAX_RANK], cnt[MK_MAX_RANK], is[MK_MAX_RANK], ss[MK_MAX_RANK];
    int sq[MK_MAX_RANK], r = x->type.rank;
    mk_status st = slice_params(k, x, b, s, cnt, sq);
    if (st || (st = same_layout(k, x, out))) return st;
    mk_strides(&x->type, is);
    size_t n = 1;
    int64_t base = 0;
    for (int i = 0; i < r; i++) {
        n *= (size_t)cnt[i];
        if (cnt[i]) base += b[i] * is[i];
        ss[i] = s[i] * is[i];
    }
    if (n != out->numel)
        return mk_kerr(k, MK_EINVAL, "slice has %zu elements, output %zu", n, out->numel);
    strided_copy(out->data, x->data, esz(x), r, cnt, base, ss);
    return MK_OK;
}

mk_status mk_k_slice_update(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *u = mk_kin(k, "update"), *out = k->outs[0];
    if (!x || !u) return mk_kerr(k, MK_EINVAL, "needs x and update");
    int64_t b[MK_MAX_RANK], s[MK_MAX_RANK], cnt[MK_MAX_RANK], is[MK_MAX_RANK];
    int sq[MK_MAX_RANK], r = x->type.rank;
    mk_status st = slice_params(k, x, b, s, cnt, sq);
    if (st || (st = same_layout(k, x, out)) || (st = same_layout(k, u, out))) return st;
    if (x->numel != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    size_t n = 1, es = esz(x);
    for (int i = 0; i < r; i++) n *= (size_t)cnt[i];
    if (n != u->numel)
        return mk_kerr(k, MK_EINVAL, "update has %zu elements, slice %zu", u->numel, n);
    memcpy(out->data, x->data, x->numel * es);
    mk_strides(&x->type, is);
    int64_t c[MK_MAX_RANK] = {0};
    for (size_t e = 0; e < n; e++) {
        int64_t off = 0;
        for (int i = 0; i < r; i++) off += (b[i] + c[i] * s[i]) * is[i];
        memcpy((char *)out->data + (size_t)off * es, (const char *)u->data + e * es, es);
        for (int i = r - 1; i >= 0; i--) {
            if (++c[i] < cnt[i]) break;
            c[i] = 0;
        }
    }
    return MK_OK;
}

mk_status mk_k_slice_by_size(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t beg[MK_MAX_RANK], sz[MK_MAX_RANK], is[MK_MAX_RANK], cnt[MK_MAX_RANK];
    int nb, ns, r = x->type.rank;
    mk_status st;
    if ((st = mk_kints(k, "begin", beg, MK_MAX_RANK, &nb)) ||
        (st = mk_kints(k, "size", sz, MK_MAX_RANK, &ns)) || (st = same_layout(k, x, out)))
        return st;
    if (nb != r || ns != r) return mk_kerr(k, MK_EINVAL, "begin and size need %d entries", r);
    mk_strides(&x->type, is);
    int64_t base = 0;
    size_t n = 1;
    for (int i = 0; i < r; i++) {
        int64_t d = x->type.dims[i], bi = beg[i] < 0 ? beg[i] + d : beg[i];
        int64_t c = sz[i] < 0 ? d - bi : sz[i];
        if (bi < 0 || c < 0 || bi + c > d)
            return mk_kerr(k, MK_EINVAL, "slice out of range on axis %d", i);
        cnt[i] = c;
        base += bi * is[i];
        n *= (size_t)c;
    }
    if (n != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    strided_copy(out->data, x->data, esz(x), r, cnt, base, is);
    return MK_OK;
}

mk_status mk_k_tile(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int r = x->type.rank;
    mk_status st = same_layout(k, x, out);
    if (st) return st;
    if (out->type.rank != r) return mk_kerr(k, MK_EINVAL, "output rank mismatch");
    for (int i = 0; i < r; i++)
        if (x->type.dims[i] == 0 ? out->type.dims[i] != 0 : out->type.dims[i] % x->type.dims[i])
            return mk_kerr(k, MK_EINVAL, "output is not a tiling of x");
    int64_t is[MK_MAX_RANK], c[MK_MAX_RANK] = {0};
    mk_strides(&x->type, is);
    size_t es = esz(x);
    for (size_t e = 0; e < out->numel; e++) {
        int64_t off = 0;
        for (int i = 0; i < r; i++) off += (c[i] % x->type.dims[i]) * is[i];
        memcpy((char *)out->data + e * es, (const char *)x->data + (size_t)off * es, es);
        for (int i = r - 1; i >= 0; i--) {
            if (++c[i] < out->type.dims[i]) break;
            c[i] = 0;
        }
    }
    return MK_OK;
}

mk_status mk_k_pad(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t pad[2 * MK_MAX_RANK];
    int np, r = x->type.rank;
    mk_status st = mk_kints(k, "pad", pad, 2 * MK_MAX_RANK, &np);
    double cv;
    if (st || (st = mk_kfloat(k, "constant_val", 0, &cv)) || (st = same_layout(k, x, out)))
        return st;
    if (np < 0 || np % 2 || np / 2 > r || out->type.rank != r)
        return mk_kerr(k, MK_EINVAL, "pad must have an even count of at most %d", 2 * r);
    const char *mode = mk_kstr(k, "mode", "constant");
    int m = strcmp(mode, "constant") == 0    ? 0
            : strcmp(mode, "reflect") == 0   ? 1
            : strcmp(mode, "replicate") == 0 ? 2
                                             : -1;
    if (m < 0) return mk_kerr(k, MK_EINVAL, "unknown pad mode '%s'", mode);
    int64_t pb[MK_MAX_RANK] = {0}, is[MK_MAX_RANK];
    int first = r - np / 2;
    for (int i = first; i < r; i++) {
        pb[i] = pad[2 * (i - first)];
        int64_t want = x->type.dims[i] + pad[2 * (i - first)] + pad[2 * (i - first) + 1];
        if (want != out->type.dims[i]) return mk_kerr(k, MK_EINVAL, "output dim %d mismatch", i);
        if (m == 1 && (pb[i] >= x->type.dims[i] || pad[2 * (i - first) + 1] >= x->type.dims[i]))
            return mk_kerr(k, MK_EINVAL, "reflect pad must be smaller than the dim");
        if (m != 0 && x->type.dims[i] == 0) return mk_kerr(k, MK_EINVAL, "cannot pad an empty dim");
    }
    for (int i = 0; i < first; i++)
        if (out->type.dims[i] != x->type.dims[i])
            return mk_kerr(k, MK_EINVAL, "output dim %d mismatch", i);
    mk_strides(&x->type, is);
    size_t es = esz(x);
    int64_t c[MK_MAX_RANK] = {0};
    float cf = (float)cv;
    int32_t ci = (int32_t)cv;
    uint8_t cb = cv != 0;
    for (size_t e = 0; e < out->numel; e++) {
        int64_t off = 0;
        int outside = 0;
        for (int i = 0; i < r; i++) {
            int64_t d = x->type.dims[i], s = c[i] - pb[i];
            if (s < 0 || s >= d) {
                if (m == 0)
                    outside = 1;
                else if (m == 2)
                    s = s < 0 ? 0 : d - 1;
                else {
                    int64_t period = 2 * (d - 1);
                    if (period == 0)
                        s = 0;
                    else {
                        s = s % period;
                        if (s < 0) s += period;
                        if (s >= d) s = period - s;
                    }
                }
            }
            off += s * is[i];
        }
        char *dst = (char *)out->data + e * es;
        if (outside) {
            switch (mk_interp_layout(out->type.dtype)) {
            case MK_L_F32: memcpy(dst, &cf, 4); break;
            case MK_L_I32: memcpy(dst, &ci, 4); break;
            case MK_L_BOOL:
            case MK_L_STR: memcpy(dst, &cb, 1); break;
            }
        } else {
            memcpy(dst, (const char *)x->data + (size_t)off * es, es);
        }
        for (int i = r - 1; i >= 0; i--) {
            if (++c[i] < out->type.dims[i]) break;
            c[i] = 0;
        }
    }
    return MK_OK;
}

mk_status mk_k_reverse(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t ax[MK_MAX_RANK * 2], is[MK_MAX_RANK], ss[MK_MAX_RANK], base = 0;
    int n, r = x->type.rank, flip[MK_MAX_RANK];
    mk_status st = mk_kints(k, "axes", ax, MK_MAX_RANK * 2, &n);
    if (st || (st = same_layout(k, x, out))) return st;
    if (x->numel != out->numel) return mk_kerr(k, MK_EINVAL, "output size mismatch");
    for (int i = 0; i < r; i++) flip[i] = n < 0;
    for (int i = 0; i < n; i++) {
        int a;
        if ((st = mk_kaxis(k, ax[i], r, &a))) return st;
        flip[a] = 1;
    }
    mk_strides(&x->type, is);
    for (int i = 0; i < r; i++) {
        ss[i] = flip[i] ? -is[i] : is[i];
        if (flip[i] && x->type.dims[i]) base += (x->type.dims[i] - 1) * is[i];
    }
    strided_copy(out->data, x->data, esz(x), r, x->type.dims, base, ss);
    return MK_OK;
}

mk_status mk_k_shape(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    if (out->numel != (size_t)x->type.rank || mk_interp_layout(out->type.dtype) != MK_L_I32)
        return mk_kerr(k, MK_EINVAL, "output must be an int vector of length rank(x)");
    for (int i = 0; i < x->type.rank; i++) ((int32_t *)out->data)[i] = (int32_t)x->type.dims[i];
    return MK_OK;
}

static void fill_value(mk_rt *out, double v)
{
    for (size_t i = 0; i < out->numel; i++) {
        switch (mk_interp_layout(out->type.dtype)) {
        case MK_L_F32: ((float *)out->data)[i] = (float)v; break;
        case MK_L_I32: ((int32_t *)out->data)[i] = (int32_t)v; break;
        case MK_L_BOOL: ((uint8_t *)out->data)[i] = v != 0; break;
        case MK_L_STR: break;
        }
    }
}

mk_status mk_k_fill(mk_kctx *k)
{
    double v;
    mk_status st = mk_kfloat(k, "value", 0, &v);
    if (st) return st;
    fill_value(k->outs[0], v);
    return MK_OK;
}

mk_status mk_k_fill_like(mk_kctx *k)
{
    return mk_k_fill(k);
}

mk_status mk_k_range_1d(mk_kctx *k)
{
    double s, e, d;
    mk_status st;
    mk_rt *out = k->outs[0];
    if ((st = mk_kfloat(k, "start", 0, &s)) || (st = mk_kfloat(k, "end", 0, &e)) ||
        (st = mk_kfloat(k, "step", 1, &d)))
        return st;
    if (d == 0) return mk_kerr(k, MK_EINVAL, "step is 0");
    double want = ceil((e - s) / d);
    if (want < 0) want = 0;
    if ((double)out->numel != want) return mk_kerr(k, MK_EINVAL, "output length mismatch");
    for (size_t i = 0; i < out->numel; i++) {
        double v = s + (double)i * d;
        if (mk_interp_layout(out->type.dtype) == MK_L_F32)
            ((float *)out->data)[i] = (float)v;
        else
            ((int32_t *)out->data)[i] = (int32_t)v;
    }
    return MK_OK;
}

mk_status mk_k_band_part(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t lo, hi;
    mk_status st;
    if ((st = mk_kint(k, "lower", -1, &lo)) || (st = mk_kint(k, "upper", -1, &hi)) ||
        (st = same_layout(k, x, out)))
        return st;
    int r = x->type.rank;
    if (r < 2 || x->numel != out->numel) return mk_kerr(k, MK_EINVAL, "x must have rank >= 2");
    int64_t R = x->type.dims[r - 2], C = x->type.dims[r - 1];
    size_t es = esz(x);
    memset(out->data, 0, out->numel * es);
    for (size_t e = 0; e < x->numel; e++) {
        int64_t j = (int64_t)(e % (size_t)C), i = (int64_t)((e / (size_t)C) % (size_t)R);
        if ((lo < 0 || i - j <= lo) && (hi < 0 || j - i <= hi))
            memcpy((char *)out->data + e * es, (const char *)x->data + e * es, es);
    }
    return MK_OK;
}

/* depth_to_space (DCR), space_to_depth and pixel_shuffle (CRD) on [N, C, H, W]. */
static mk_status shuffle(mk_kctx *k, int kind, const char *param)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x) return mk_kerr(k, MK_EINVAL, "needs input x");
    int64_t bs;
    mk_status st = mk_kint(k, param, 0, &bs);
    if (st || (st = same_layout(k, x, out))) return st;
    if (x->type.rank != 4 || out->type.rank != 4 || bs < 1 || x->numel != out->numel)
        return mk_kerr(k, MK_EINVAL, "needs rank-4 x and %s >= 1", param);
    int64_t N = out->type.dims[0], C = out->type.dims[1], H = out->type.dims[2],
            W = out->type.dims[3];
    int64_t iC = x->type.dims[1], iH = x->type.dims[2], iW = x->type.dims[3];
    size_t es = esz(x);
    if (kind != 1 && (iC != C * bs * bs || H != iH * bs || W != iW * bs))
        return mk_kerr(k, MK_EINVAL, "shapes do not match block size %lld", (long long)bs);
    if (kind == 1 && (C != iC * bs * bs || iH != H * bs || iW != W * bs))
        return mk_kerr(k, MK_EINVAL, "shapes do not match block size %lld", (long long)bs);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    int64_t src;
                    if (kind == 0) { /* DCR */
                        int64_t i = h % bs, j = w % bs;
                        src = ((n * iC + (i * bs + j) * C + c) * iH + h / bs) * iW + w / bs;
                    } else if (kind == 2) { /* CRD */
                        int64_t i = h % bs, j = w % bs;
                        src = ((n * iC + c * bs * bs + i * bs + j) * iH + h / bs) * iW + w / bs;
                    } else { /* space_to_depth: c = (i*bs + j)*iC + ic */
                        int64_t ic = c % iC, blk = c / iC, i = blk / bs, j = blk % bs;
                        src = ((n * iC + ic) * iH + h * bs + i) * iW + w * bs + j;
                    }
                    size_t dst = (size_t)(((n * C + c) * H + h) * W + w);
                    memcpy((char *)out->data + dst * es, (const char *)x->data + (size_t)src * es,
                           es);
                }
    return MK_OK;
}

mk_status mk_k_depth_to_space(mk_kctx *k)
{
    return shuffle(k, 0, "block_size");
}

mk_status mk_k_space_to_depth(mk_kctx *k)
{
    return shuffle(k, 1, "block_size");
}

mk_status mk_k_pixel_shuffle(mk_kctx *k)
{
    return shuffle(k, 2, "upscale_factor");
}
