/*
 * linear_generic.c — rs_linear's kernel for any processor (the compiler's baseline vectors, no
 * fma): 4 floats per vector, tiles of 2 rows × 4 vectors (see linear_kernel.h).
 */
#define RS_KERNEL_FN rs_linear_kernel_generic
#define RS_LANES     4
#define RS_MR        2
#define RS_CB        4

#include "linear_kernel.h"
