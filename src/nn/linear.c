/*
 * linear.c — packing W for rs_linear, and choosing its kernel once per
 * process (see linear.h).
 */
#include "linear.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Writes W's rows (rows NULL: 0..N) into panels buf of
 * ceil(N / PANEL) · K · PANEL floats. */
static void pack_into(float *buf, const float *W, const int32_t *rows, int N, int K, size_t ldw)
{
    size_t panels = ((size_t)N + RS_LINEAR_PANEL - 1) / RS_LINEAR_PANEL;
    /* one output (a row of W) at a time, so that its K inputs are read in
     * order; zero beyond N */
    for (size_t p = 0; p < panels; p++)
        for (int c = 0; c < RS_LINEAR_PANEL; c++) {
            size_t n = p * RS_LINEAR_PANEL + (size_t)c;
            const float *w = NULL;
            if (n < (size_t)N)
                w = W + (rows ? (size_t)rows[n] : n) * ldw;
            float *col = buf + p * (size_t)K * RS_LINEAR_PANEL + (size_t)c;
            for (int k = 0; k < K; k++)
                col[(size_t)k * RS_LINEAR_PANEL] = w ? w[k] : 0.0f;
        }
}

static size_t packed_bytes(int N, int K)
{
    size_t panels = ((size_t)N + RS_LINEAR_PANEL - 1) / RS_LINEAR_PANEL;
    size_t bytes = panels * (size_t)K * RS_LINEAR_PANEL * sizeof(float);
    return bytes > 0 ? bytes : 64;
}

int rs_linear_pack(rs_linear_weight *out, const float *W, int N, int K, size_t ldw)
{
    memset(out, 0, sizeof *out);
    float *buf = aligned_alloc(64, packed_bytes(N, K));
    if (!buf)
        return -1;
    pack_into(buf, W, NULL, N, K, ldw);
    out->N = N;
    out->K = K;
    out->panels = buf;
    return 0;
}

int rs_linear_repack_rows(rs_linear_weight *out, size_t *cap, const float *W, const int32_t *rows,
                          int N, int K, size_t ldw)
{
    size_t bytes = packed_bytes(N, K);
    if (!out->panels || *cap < bytes) {
        float *buf = aligned_alloc(64, bytes);
        if (!buf)
            return -1;
        free(out->panels);
        out->panels = buf;
        *cap = bytes;
    }
    pack_into(out->panels, W, rows, N, K, ldw);
    out->N = N;
    out->K = K;
    return 0;
}

void rs_linear_weight_free(rs_linear_weight *w)
{
    if (!w)
        return;
    free(w->panels);
    w->panels = NULL;
}

int rs_linear_kernels(rs_linear_kernel *k)
{
    int n = 0;
#if defined(RS_LINEAR_X86)
    __builtin_cpu_init();
    int fma = __builtin_cpu_supports("fma");
    k[n++] = (rs_linear_kernel){"avx512", rs_linear_kernel_avx512, 1,
                                __builtin_cpu_supports("avx512f") && fma};
    k[n++] =
        (rs_linear_kernel){"avx2", rs_linear_kernel_avx2, 1, __builtin_cpu_supports("avx2") && fma};
#endif
    k[n++] = (rs_linear_kernel){"generic", rs_linear_kernel_generic, 0, 1};
    return n;
}

static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;
static rs_linear_kernel chosen;

/* The best supported kernel, or the one RS_LINEAR_KERNEL names if this
 * processor can run it. */
static void choose(void)
{
    rs_linear_kernel all[3];
    int n = rs_linear_kernels(all);
    const char *forced = getenv("RS_LINEAR_KERNEL");
    chosen = all[n - 1];             /* generic: always supported */
    for (int i = n - 1; i >= 0; i--) /* worst to best: the last match wins */
        if (all[i].supported && (!forced || strcmp(forced, all[i].name) == 0))
            chosen = all[i];
}

void rs_linear(const rs_linear_weight *w, int M, const float *X, size_t ldx, const float *bias,
               float *Y, size_t ldy)
{
    pthread_once(&chosen_once, choose);
    if (M > 0)
        chosen.run(w, M, X, ldx, bias, Y, ldy);
}

const char *rs_linear_kernel_name(void)
{
    pthread_once(&chosen_once, choose);
    return chosen.name;
}
