/*
 * linear_kernel.h — the body of an rs_linear kernel, included once per
 * instruction set by linear_avx512.c, linear_avx2.c and linear_generic.c,
 * each compiled with its own -m flags (see meson.build).  Before including
 * it, define:
 *
 *   RS_KERNEL_FN  the function's name
 *   RS_LANES      floats per vector (16, 8, 4)
 *   RS_MR         rows of X per tile
 *   RS_CB         vectors of a panel per tile (divides PANEL / LANES)
 *   RS_FMA(a,x,w) optional: a + x·w as one fused multiply-add of vectors
 *                 (the fused kernels; an intrinsic, so that every compiler
 *                 fuses); without it a rounded multiply and a rounded add
 *
 * A tile holds RS_MR × RS_CB vector accumulators in registers.  Every
 * output element is one lane of one accumulator and is summed in k order
 * from 0, whatever the tile, so results do not depend on M or on the row's
 * position (see linear.h).
 */
#include <string.h>

#include "linear.h"

typedef float rs_vec __attribute__((vector_size(RS_LANES * sizeof(float))));

#ifndef RS_FMA
#define RS_FMA(acc, x, w) ((acc) + (x) * (w))
#endif

#define RS_VPP (RS_LINEAR_PANEL / RS_LANES) /* vectors per panel */

/* One tile: rows X[0..mr) × the CB vectors of the panel at w, columns
 * [0, ncols) of Y stored. */
static inline __attribute__((always_inline)) void tile(const int mr, int K, const float *X,
                                                       size_t ldx, const float *w,
                                                       const float *bias, float *Y, size_t ldy,
                                                       int ncols)
{
    rs_vec acc[RS_MR][RS_CB];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < RS_CB; j++)
            acc[i][j] = (rs_vec){0};
    for (int k = 0; k < K; k++) {
        const rs_vec *wk = (const rs_vec *)(const void *)(w + (size_t)k * RS_LINEAR_PANEL);
        for (int i = 0; i < mr; i++) {
            float xs = X[(size_t)i * ldx + k];
            rs_vec x = (rs_vec){0} + xs;
            for (int j = 0; j < RS_CB; j++)
                acc[i][j] = RS_FMA(acc[i][j], x, wk[j]);
        }
    }
    for (int i = 0; i < mr; i++) {
        float *y = Y + (size_t)i * ldy;
        for (int j = 0; j < RS_CB; j++) {
            float lanes[RS_LANES];
            memcpy(lanes, &acc[i][j], sizeof lanes);
            for (int l = 0; l < RS_LANES; l++) {
                int col = j * RS_LANES + l;
                if (col < ncols)
                    y[col] = bias ? lanes[l] + bias[col] : lanes[l];
            }
        }
    }
}

void RS_KERNEL_FN(const rs_linear_weight *w, int M, const float *X, size_t ldx, const float *bias,
                  float *Y, size_t ldy)
{
    int N = w->N, K = w->K;
    int panels = (N + RS_LINEAR_PANEL - 1) / RS_LINEAR_PANEL;
    for (int p = 0; p < panels; p++) {
        const float *panel = w->panels + (size_t)p * K * RS_LINEAR_PANEL;
        for (int c = 0; c < RS_VPP; c += RS_CB) {
            int col0 = p * RS_LINEAR_PANEL + c * RS_LANES;
            if (col0 >= N)
                break;
            int ncols = N - col0 < RS_CB * RS_LANES ? N - col0 : RS_CB * RS_LANES;
            const float *wc = panel + c * RS_LANES;
            const float *b = bias ? bias + col0 : NULL;
            int m = 0;
            for (; m + RS_MR <= M; m += RS_MR)
                tile(RS_MR, K, X + (size_t)m * ldx, ldx, wc, b, Y + (size_t)m * ldy + col0, ldy,
                     ncols);
            /* the last rows, with the same arithmetic per element */
            switch (M - m) {
#if RS_MR > 3
            case 3:
                tile(3, K, X + (size_t)m * ldx, ldx, wc, b, Y + (size_t)m * ldy + col0, ldy, ncols);
                break;
#endif
#if RS_MR > 2
            case 2:
                tile(2, K, X + (size_t)m * ldx, ldx, wc, b, Y + (size_t)m * ldy + col0, ldy, ncols);
                break;
#endif
            case 1:
                tile(1, K, X + (size_t)m * ldx, ldx, wc, b, Y + (size_t)m * ldy + col0, ldy, ncols);
                break;
            default:
                break;
            }
        }
    }
}
