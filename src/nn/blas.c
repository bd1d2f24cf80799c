/*
 * blas.c — rs_gemm over OpenBLAS's CBLAS, its thread count, and the naive reference.
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

void rs_gemm_naive(int trans_a, int trans_b, int M, int N, int K, rs_real alpha, const rs_real *A,
                   int lda, const rs_real *B, int ldb, rs_real beta, rs_real *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double sum = 0.0;
            for (int k = 0; k < K; k++) {
                double a = trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = trans_b ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                sum += a * b;
            }
            rs_real *c = &C[(size_t)i * ldc + j];
            *c = (rs_real)(alpha * sum + (beta == 0 ? 0.0 : beta * *c));
        }
    }
}
