/* Shared by the weight compressors (compress_linear.c, compress_palette.c,
 * compress_sparse.c) and their driver (src/api/compress.c): one weight site at a time, each
 * compressor builds its constexpr op in the form the target supports and returns the
 * decompressed value plus the reconstruction for the report. */
#ifndef MK_COMPRESS_INT_H
#define MK_COMPRESS_INT_H

#include <math.h>

#include "ir/ir.h"
#include "milkit.h"

/* Gram matrix of a weight's input columns (the weight viewed as rows x d, mk_cmp_rows): the
 * sum of x x^T over calibration vectors x, kept in nch chunks of consecutive columns (chunk c:
 * mk_cmp_gram_span), each dense b x b, one after the other in h (nh doubles). */
#define MK_GRAM_CHUNK 256
typedef struct mk_cmp_gram {
    size_t d, nh, nvec;
    int nch;
    int fit; /* from the user's samples: palettes may also refit their LUTs to it */
    double *h;
} mk_cmp_gram;

/* A constant float weight and its layout: out_ax is the output-channel axis, in_ax the input
 * axis (blocks run along it). */
typedef struct mk_cw {
    mk_program *p;
    mk_value *w;
    int out_ax, in_ax, ios;
    size_t n;
    float *rec;           /* if set, the n decompressed values (filled by the compressor) */
    const double *m2;     /* if set, per index along in_ax: the weight of an element's squared
                             error in the palettes' k-means (its activation's mean square) */
    const mk_cmp_gram *g; /* if set, error-compensating rounding (compress_gptq.c) */
    double d2, w2;        /* sum (w - w')^2 and sum w^2 over finite w (filled by the compressor) */
    size_t bytes;         /* compressed parameter bytes (filled by the compressor) */
    char note[96];        /* a fallback taken (smaller block/group), "" if none */
    /* palettization, between its three steps */
    int64_t pd[MK_MAX_RANK];
    unsigned char *lutb, *ib;
    size_t ib_bytes;
    /* a LUT per group of several channels, iOS18: a scale per output channel (its largest
     * |w|, stored in the weight's dtype in scb, as stored in scf) divides the channel before
     * the k-means, and constexpr_blockwise_shift_scale multiplies the LUT's output by it; NULL
     * when none. wn: the weight divided by them, during compute. */
    unsigned char *scb;
    float *scf;
    const float *wn;
    size_t sc_inner; /* elements per output channel index: element i is channel i / sc_inner % ch */
} mk_cw;

/* Element i (value x) decompresses to r. */
static inline void mk_cmp_acc(mk_cw *c, size_t i, double x, float r)
{
    if (c->rec) c->rec[i] = r;
    if (isfinite(x)) c->d2 += (x - r) * (x - r), c->w2 += x * x;
}

/* Each returns the decompressed value (an output of a new constexpr op inserted right after
 * the weight's definition), or NULL with e set. */
mk_value *mk_cmp_linear(mk_cw *c, const mk_compress_options *o, mk_err *e);
mk_value *mk_cmp_palette(mk_cw *c, const mk_compress_options *o, mk_err *e);
/* The same in three steps, so that the middle one can run on several weights at once:
 * prep (buffers from the program's arena; 0 when out of memory), compute (LUTs and packed
 * indices; touches nothing shared; 0 when out of memory), build (the constexpr op). */
int mk_cmp_palette_prep(mk_cw *c, const mk_compress_options *o);
int mk_cmp_palette_compute(mk_cw *c, const mk_compress_options *o);
mk_value *mk_cmp_palette_build(mk_cw *c, const mk_compress_options *o, mk_err *e);
/* The LUT of 2^bits entries for v[0..n), stored as LUT g of c->lutb in the weight's dtype
 * and returned ascending in lutf (as stored); 0 when out of memory. */
int mk_cmp_lut(mk_cw *c, const float *v, size_t n, int bits, int uniform, size_t g, float *lutf);
/* idx[i] = the entry of the ascending lutf nearest v[i]; 0 when out of memory. */
int mk_cmp_assign(const mk_allocator *al, const float *lutf, int K, const float *v, size_t n,
                  uint8_t *idx);
/* LSB-first packing of n values of `bits` bits. */
void mk_cmp_pack8(const uint8_t *v, size_t n, int bits, unsigned char *out);
/* Optimal 1-D k-means: K ascending centroids of the m ascending distinct values x weighted by
 * cnt (K < m <= 65536), minimising the weighted squared error; with grp (nondecreasing), among
 * the partitions that keep each run of equal grp[i] together. 0 when out of memory. */
int mk_cmp_kmeans1d(const mk_allocator *al, const double *x, const double *cnt, size_t m, int K,
                    const uint32_t *grp, double *cent);
mk_value *mk_cmp_sparse(mk_cw *c, const mk_compress_options *o, mk_err *e);

/* Error-compensating rounding (compress_gptq.c). The weight w as rows x d: element (r, j) at
 * r * d + j (tr 0: out_ax 0, in_ax 1, any rank) or j * rows + r (tr 1: rank 2, out_ax 1,
 * in_ax 0); 0 for other layouts. */
int mk_cmp_rows(const mk_value *w, int out_ax, int in_ax, size_t *rows, size_t *d, int *tr);
/* chunk c of nch over d columns: returns its length, *a its first column */
size_t mk_cmp_gram_span(size_t d, int nch, int c, size_t *a);
int mk_cmp_gram_init(mk_cmp_gram *g, size_t d); /* zeros; 0 when out of memory */
void mk_cmp_gram_free(mk_cmp_gram *g);
void mk_cmp_gram_add(mk_cmp_gram *g, const double *v); /* v: d values */
/* q[r] = the rounded value of column j of m (rows x d, column-major: (r, j) at j * rows + r;
 * current values; the callback may read columns after j, e.g. for a block's scale at its first
 * column) */
typedef void (*mk_cmp_qfn)(void *ctx, const double *m, size_t rows, size_t d, size_t j, double *q);
/* Rounds m (rows x g->d, column-major) column by column with fn, pushing each column's error
 * onto the later columns of its chunk; m ends holding the rounded values. 0 when out of
 * memory. */
int mk_cmp_gptq(const mk_allocator *al, const mk_cmp_gram *g, double *m, size_t rows, mk_cmp_qfn fn,
                void *ctx);
/* LUT refit after compensated rounding: for fixed indices q (column-major rows x g->d, row r
 * in LUT r / gch), the entries of each LUT (lut: K per group, in and out, not necessarily
 * ascending after) minimising sum over rows of (w - w') H (w - w')^T with g's chunks, H damped
 * as mk_cmp_gptq damps it; w column-major like q. 0 when out of memory. */
int mk_cmp_lut_refit(const mk_allocator *al, const mk_cmp_gram *g, const double *w,
                     const uint8_t *q, size_t rows, size_t gch, int K, double *lut);
/* whether g has calibration vectors enough for compensation to matter */
int mk_cmp_gram_useful(const mk_cmp_gram *g);
/* sum over rows of (w - wq) H (w - wq)^T within g's chunks (the output error it causes); w and
 * wq row-major rows x d */
double mk_cmp_gram_err(const mk_cmp_gram *g, const double *w, const double *wq, size_t rows);

/* A weight site the driver (src/api/compress.c) found: the op using the weight, the weight,
 * its element count and axes. */
typedef struct mk_cmp_site {
    mk_op *op;
    mk_value *w;
    int out_ax, in_ax;
    size_t n;
    double *m2; /* mk_cmp_calibrate: mean square of the input activation per in_ax index */
    size_t m2n;
    mk_cmp_gram g; /* mk_cmp_calibrate with gram: the input's Gram matrix (g.h NULL: none) */
} mk_cmp_site;
/* The compressible sites of p's main block for o's selection (min_elements, skip,
 * embedding); the weights a mode could take but o leaves go to r->kept. Resets r. */
mk_status mk_cmp_sites(mk_program *p, const mk_compress_options *o, mk_cmp_site **s, int *ns,
                       mk_compress_report *r, mk_err *e);
void mk_cmp_sites_free(mk_cmp_site *s, int n);
/* Compresses site i with o[i] (NULL: left as it is; options already checked), replacing its
 * uses, and adds a report line; rec[i], when rec is set, receives the decompressed values. */
mk_status mk_cmp_apply(mk_program *p, const mk_cmp_site *s, int ns,
                       const mk_compress_options *const *o, float *const *rec,
                       mk_compress_report *r, mk_err *e);
/* Sets s[i].m2 (when the site's activation is known: linear, matmul, ungrouped conv) and, with
 * gram, s[i].g (where mk_cmp_rows takes the weight) from runs of p on the n_runs input lists;
 * s are p's sites for o. */
mk_status mk_cmp_calibrate(const mk_program *p, const mk_compress_options *o, mk_cmp_site *s,
                           int ns, const mk_tensor_list *runs, int n_runs, int gram, mk_err *e);
/* whether o's mode rounds with error compensation (4 bits or fewer; linear per channel or
 * per block), so that mk_compress calibrates for it (on seeded inputs when o has none) */
static inline int mk_cmp_wants_gram(const mk_compress_options *o)
{
    return !o->nearest && ((o->mode == MK_CMP_PALETTE && o->bits <= 4) ||
                           (o->mode == MK_CMP_LINEAR && o->bits == 4 && o->granularity != 1));
}
void mk_cmp_calib_free(mk_cmp_site *s, int ns);
/* dce, verify, constant bytes after. */
mk_status mk_cmp_finish_program(mk_program *p, mk_compress_report *r, mk_err *e);

/* Helpers (compress_linear.c). */
size_t mk_cmp_pack(const int32_t *v, size_t n, int bits, unsigned char *out);
mk_value *mk_cmp_const(mk_cw *c, mk_dtype dt, int rank, const int64_t *d, const void *data,
                       size_t nb);
mk_value *mk_cmp_finish(mk_cw *c, mk_op *cx, int n_out, mk_err *e);
/* Parameter dims pd for granularity gran (0 per output channel, 1 per tensor, 2 blocks of
 * `want` along the input axis, or groups of `want` output channels when along_out);
 * a block/group that does not divide its axis becomes the largest divisor within [want/4,
 * want], else the smallest within (want, 2*want], else per channel (blocks) or per tensor
 * (groups); c->note names the fallback. */
void mk_cmp_param_dims(mk_cw *c, int gran, int64_t want, int along_out, int64_t *pd);
/* Float value v in the weight's dtype (fp16 rounding when it is fp16), stored at dst[i]. */
float mk_cmp_store(const mk_cw *c, void *dst, size_t i, double v);

#endif
