/*
 * linear_avx512.c — rs_linear's kernel for AVX512 with FMA: 16 floats per
 * vector, tiles of 4 rows × 4 vectors (see linear_kernel.h).
 */
#define RS_KERNEL_FN rs_linear_kernel_avx512
#define RS_LANES     16
#define RS_MR        4
#define RS_CB        4

#include <immintrin.h>

/* acc + x·w rounded once: the fma written out, since clang (14) does not
 * contract the vector expression as GCC does under -ffp-contract=fast */
#define RS_FMA(acc, x, w) ((rs_vec)_mm512_fmadd_ps((__m512)(x), (__m512)(w), (__m512)(acc)))

#include "linear_kernel.h"
