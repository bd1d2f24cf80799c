/*
 * blas.h — the one matrix product the core needs, on rs_real, row-major:
 *
 *   C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C
 *
 * rs_gemm calls cblas_sgemm (or cblas_dgemm in the double build used by the
 * gradient checks, which compare the analytic gradients through it with
 * finite differences).  Training and evaluation use it; served inference
 * uses rs_linear (linear.h) instead.  Internal to src/nn.
 */
#ifndef RNNSERVE_NN_BLAS_H
#define RNNSERVE_NN_BLAS_H

#include "rnnserve/nn.h"

void rs_gemm(int trans_a, int trans_b, int M, int N, int K, rs_real alpha, const rs_real *A,
             int lda, const rs_real *B, int ldb, rs_real beta, rs_real *C, int ldc);

/* OpenBLAS's thread count (openblas_get/set_num_threads): process-wide. */
int rs_blas_threads(void);
void rs_blas_set_threads(int threads);

#endif
