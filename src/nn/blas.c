/*
 * blas.c — rs_gemm over OpenBLAS's CBLAS, and its thread count.
 */
#include "blas.h"

#include <cblas.h>

void rs_gemm(int trans_a, int trans_b, int M, int N, int K, rs_real alpha, const rs_real *A,
             int lda, const rs_real *B, int ldb, rs_real beta, rs_real *C, int ldc)
{
    if (M == 0 || N == 0)
        return;
#ifdef RS_REAL_IS_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

int rs_blas_threads(void) { return openblas_get_num_threads(); }

void rs_blas_set_threads(int threads) { openblas_set_num_threads(threads); }
