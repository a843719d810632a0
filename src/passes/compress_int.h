/* Shared by the weight compressors (compress_linear.c, compress_palette.c,
 * compress_sparse.c) and their driver (src/api/compress.c): one weight site at a time, each
 * compressor builds its constexpr op in the form the target supports and returns the
 * decompressed value plus the reconstruction for the report. */
#ifndef MK_COMPRESS_INT_H
#define MK_COMPRESS_INT_H

#include "ir/ir.h"
#include "milkit.h"

/* A constant float weight and its layout: out_ax is the output-channel axis, in_ax the input
 * axis (blocks run along it). */
typedef struct mk_cw {
    mk_program *p;
    mk_value *w;
    int out_ax, in_ax, ios;
    size_t n;
    float *rec;   /* n reconstructed values (filled by the compressor) */
    size_t bytes; /* compressed parameter bytes (filled by the compressor) */
    char note[96]; /* a fallback taken (smaller block/group), "" if none */
} mk_cw;

/* Each returns the decompressed value (an output of a new constexpr op inserted right after
 * the weight's definition), or NULL with e set. */
mk_value *mk_cmp_linear(mk_cw *c, const mk_compress_options *o, mk_err *e);
mk_value *mk_cmp_palette(mk_cw *c, const mk_compress_options *o, mk_err *e);
mk_value *mk_cmp_sparse(mk_cw *c, const mk_compress_options *o, mk_err *e);

/* Helpers (compress_linear.c). */
size_t mk_cmp_pack(const int32_t *v, size_t n, int bits, unsigned char *out);
mk_value *mk_cmp_const(mk_cw *c, mk_dtype dt, int rank, const int64_t *d, const void *data,
                       size_t nb);
mk_value *mk_cmp_finish(mk_cw *c, mk_op *cx, int n_out, mk_err *e);
/* Parameter dims pd for granularity gran (0 per output channel, 1 per tensor, 2 blocks of
 * `want` along the input axis, or groups of `want` output channels when along_out);
 * records a fallback to a smaller block/group in c->note. */
void mk_cmp_param_dims(mk_cw *c, int gran, int64_t want, int along_out, int64_t *pd);
/* Float value v in the weight's dtype (fp16 rounding when it is fp16), stored at dst[i]. */
float mk_cmp_store(const mk_cw *c, void *dst, size_t i, double v);

#endif
