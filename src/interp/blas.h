/* OpenBLAS, opened on first use (blas.c). The interpreter opens it before it plans a program;
 * kernels multiply through mk_sgemm. <cblas.h> is included for its types and enums only: no
 * cblas_* symbol is linked. */
#ifndef MK_INTERP_BLAS_H
#define MK_INTERP_BLAS_H

#include <cblas.h>

#include "base/base.h"

/* Loads libopenblas.so.0 once per process; a clear error when it cannot. */
mk_status mk_blas_open(mk_err *e);
/* cblas_sgemm of the opened library (row- or column-major, as cblas). */
void mk_sgemm(enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, blasint m,
              blasint n, blasint k, float alpha, const float *a, blasint lda, const float *b,
              blasint ldb, float beta, float *c, blasint ldc);
/* OpenBLAS threads for the next calls: n > 0, or 0 for every core. */
void mk_blas_threads(int n);

#endif
