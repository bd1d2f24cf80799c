/*
 * linear_avx2.c — rs_linear's kernel for AVX2 with FMA: 8 floats per
 * vector, tiles of 3 rows × 4 vectors (see linear_kernel.h).
 */
#define RS_KERNEL_FN rs_linear_kernel_avx2
#define RS_LANES     8
#define RS_MR        3
#define RS_CB        4

#include <immintrin.h>

/* acc + x·w rounded once: the fma written out (see linear_avx512.c) */
#define RS_FMA(acc, x, w) ((rs_vec)_mm256_fmadd_ps((__m256)(x), (__m256)(w), (__m256)(acc)))

#include "linear_kernel.h"
