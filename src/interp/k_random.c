/* Random sampling kernels: random_bernoulli (1 with probability prob), random_normal
 * (Box-Muller), random_uniform ([low, high); low when high <= low) and random_categorical
 * (size class indices per row of logits, softmax-normalised, or of probs). One splitmix64
 * stream per op run, seeded by `seed`; seed -1 (Core ML: unseeded) uses a fixed default, so
 * milkit's runs repeat. The values are not Core ML's: only the distributions are the same. */
#include <math.h>
#include <string.h>

#include "interp_int.h"

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next64(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 53 random bits. */
static double unit(rng *r)
{
    return (double)(next64(r) >> 11) * (1.0 / 9007199254740992.0);
}

static mk_status seeded(mk_kctx *k, rng *r)
{
    int64_t seed;
    mk_status st = mk_kint(k, "seed", -1, &seed);
    if (st) return st;
    r->s = seed == -1 ? 0x5DEECE66Dull : (uint64_t)seed * 0x2545F4914F6CDD1Dull + 1;
    return MK_OK;
}

mk_status mk_k_random(mk_kctx *k)
{
    mk_rt *out = k->outs[0];
    if (mk_interp_layout(out->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EUNSUPPORTED, "random values must be float");
    rng r;
    double a, b;
    mk_status st = seeded(k, &r);
    if (st) return st;
    mk_op_kind kind = k->op->kind;
    int bern = kind == MK_OP_RANDOM_BERNOULLI, normal = kind == MK_OP_RANDOM_NORMAL;
    if ((st = mk_kfloat(k,
                        bern     ? "prob"
                        : normal ? "mean"
                                 : "low",
                        bern ? 0.5 : 0, &a)) ||
        (st = mk_kfloat(k, normal ? "stddev" : "high", 1, &b)))
        return st;
    float *o = out->data;
    for (size_t i = 0; i < out->numel; i++) {
        double v;
        if (bern) {
            v = unit(&r) < a ? 1 : 0;
        } else if (normal) {
            double u1 = 1.0 - unit(&r), u2 = unit(&r);
            v = a + b * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        } else {
            v = b > a ? a + (b - a) * unit(&r) : a;
        }
        o[i] = (float)v;
    }
    return MK_OK;
}

mk_status mk_k_random_categorical(mk_kctx *k)
{
    mk_rt *x = mk_kin(k, "x"), *out = k->outs[0];
    if (!x || x->type.rank < 1) return mk_kerr(k, MK_EINVAL, "needs x of rank >= 1");
    if (mk_interp_layout(x->type.dtype) != MK_L_F32 ||
        mk_interp_layout(out->type.dtype) != MK_L_F32)
        return mk_kerr(k, MK_EINVAL, "x must be a float tensor");
    const char *mode = mk_kstr(k, "mode", "logits");
    int logits = strcmp(mode, "logits") == 0;
    if (!logits && strcmp(mode, "probs") != 0)
        return mk_kerr(k, MK_EINVAL, "unknown mode '%s' (logits or probs)", mode);
    rng r;
    int64_t size;
    mk_status st;
    if ((st = seeded(k, &r)) || (st = mk_kint(k, "size", 1, &size))) return st;
    int64_t C = x->type.dims[x->type.rank - 1];
    size_t rows = C ? x->numel / (size_t)C : 0;
    if (size < 1 || out->numel != rows * (size_t)size || C < 1)
        return mk_kerr(k, MK_EINVAL, "output shape does not match x and size");
    size_t nb = (size_t)C * sizeof(double);
    double *p = mk_malloc(k->alloc, nb);
    if (!p) return MK_OOM(k->e);
    const float *xd = x->data;
    float *o = out->data;
    for (size_t row = 0; row < rows; row++) {
        const float *v = xd + row * (size_t)C;
        double mx = -INFINITY, sum = 0;
        for (int64_t c = 0; c < C; c++) mx = fmax(mx, v[c]);
        for (int64_t c = 0; c < C; c++) {
            p[c] = logits ? exp(v[c] - mx) : fmax(v[c], 0);
            sum += p[c];
        }
        for (int64_t j = 0; j < size; j++) {
            double u = unit(&r) * sum, acc = 0;
            int64_t c = 0;
            while (c < C - 1 && (acc += p[c]) <= u) c++;
            o[row * (size_t)size + (size_t)j] = (float)c;
        }
    }
    mk_free(k->alloc, p, nb);
    return MK_OK;
}
