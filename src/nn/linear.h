/*
 * linear.h — y = x·Wᵀ + b for a batch of rows (PyTorch's F.linear), for
 * inference: the recurrent products, the input projections above layer 0
 * and the output layer of every served step.  Internal to src/nn.
 *
 * Why not OpenBLAS: a served sequence must get the same numbers whether it
 * is computed alone or in a batch with others (a seeded /generate answers
 * the same under any load, and /generate and /score agree), and OpenBLAS
 * promises nothing of the kind (sgemv and sgemm sum in different orders,
 * its kernels differ at the edges of a tile).  Here every output element
 * is computed by the same sequence of float operations whatever the number
 * of rows, the row's position in the batch, and the other rows:
 *
 *   y[m][n] = fma(x[m][K-1], W[n][K-1], … fma(x[m][1], W[n][1], x[m][0]·W[n][0]) …) (+ b[n])
 *
 * summed strictly in k order in one lane of a vector accumulator (a rounded
 * multiply and add instead of fma in the generic kernel, used where the
 * processor has no FMA).  The AVX-512 and AVX2 kernels give identical
 * results; tests/unit/test_linear.c checks all of this bit for bit.
 *
 * W is packed once per model (rs_linear_pack): its columns of Wᵀ in panels
 * of RS_LINEAR_PANEL outputs, each panel K rows of RS_LINEAR_PANEL floats,
 * so a kernel streams a panel from memory once per tile of rows and
 * broadcasts x, with no horizontal sums.  A packed matrix is read-only and
 * may be shared by every thread.
 */
#ifndef RNNSERVE_NN_LINEAR_H
#define RNNSERVE_NN_LINEAR_H

#include <stddef.h>
#include <stdint.h>

/* outputs per panel: 4 AVX-512 vectors, 8 AVX2 vectors, 16 SSE vectors */
#define RS_LINEAR_PANEL 64

typedef struct rs_linear_weight {
    int N, K;      /* W is (N, K): N outputs, K inputs */
    float *panels; /* (ceil(N / PANEL), K, PANEL), zero beyond column N; 64-byte aligned */
} rs_linear_weight;

/* Packs W (N, K) with row stride ldw into *out.  -1 on allocation failure
 * (nothing to free).  Free with rs_linear_weight_free. */
int rs_linear_pack(rs_linear_weight *out, const float *W, int N, int K, size_t ldw);
/* Packs the rows rows[0..N) of W, in that order (output n of the packed
 * matrix is row rows[n] of W), into out's own buffer when it holds enough
 * (*cap bytes; out zeroed and *cap 0 the first time), else into a larger
 * one: a matrix packed anew for every request without allocating (and
 * faulting in) its memory each time.  -1 on allocation failure (out keeps
 * its old buffer). */
int rs_linear_repack_rows(rs_linear_weight *out, size_t *cap, const float *W, const int32_t *rows,
                          int N, int K, size_t ldw);
void rs_linear_weight_free(rs_linear_weight *w);

/* Y (M, N) = X (M, K) · Wᵀ (+ bias (N) when not NULL), rows of X and Y with
 * strides ldx and ldy.  M may be 0. */
void rs_linear(const rs_linear_weight *w, int M, const float *X, size_t ldx, const float *bias,
               float *Y, size_t ldy);

/* rs_linear with a second thread (team.c): the helper of t computes the
 * first half of w's panels while the caller computes the rest; the same
 * numbers as rs_linear (every column is computed alone).  t NULL, or fewer
 * than two panels: rs_linear. */
struct rs_team;
void rs_linear_team(struct rs_team *t, const rs_linear_weight *w, int M, const float *X, size_t ldx,
                    const float *bias, float *Y, size_t ldy);

/* The kernels this build has, best first; which one rs_linear uses is
 * chosen once per process from the processor's features, or forced with
 * the environment variable RS_LINEAR_KERNEL=<name> (for the tests). */
typedef void (*rs_linear_kernel_fn)(const rs_linear_weight *w, int M, const float *X, size_t ldx,
                                    const float *bias, float *Y, size_t ldy);
typedef struct rs_linear_kernel {
    const char *name; /* "avx512", "avx2", "generic" */
    rs_linear_kernel_fn run;
    int fused;     /* 1: multiply-adds are fused (fma) */
    int supported; /* 1: this processor can run it */
} rs_linear_kernel;

/* The kernels themselves (linear_<name>.c); call them through rs_linear. */
void rs_linear_kernel_avx512(const rs_linear_weight *w, int M, const float *X, size_t ldx,
                             const float *bias, float *Y, size_t ldy);
void rs_linear_kernel_avx2(const rs_linear_weight *w, int M, const float *X, size_t ldx,
                           const float *bias, float *Y, size_t ldy);
void rs_linear_kernel_generic(const rs_linear_weight *w, int M, const float *X, size_t ldx,
                              const float *bias, float *Y, size_t ldy);

/* Fills kernels[0..n) (n <= 3) and returns n. */
int rs_linear_kernels(rs_linear_kernel *kernels);
/* The name of the kernel rs_linear uses. */
const char *rs_linear_kernel_name(void);

#endif
