/*
 * test_linear.c — rs_linear (src/nn/linear.h), every kernel this processor
 * can run:
 *
 *   - values against a double-precision reference, over shapes that hit
 *     every tile edge (N not a multiple of the panel, M not of the tile);
 *   - bit for bit: a row computed alone equals the same row computed in a
 *     batch, at any position, next to any other rows (the property the
 *     daemon's batching relies on: a seeded answer does not depend on load);
 *   - bit for bit: the fused kernels (AVX-512, AVX2) agree with each other
 *     and with fmaf summed in k order (so that a compiler that does not
 *     fuse cannot pass them off as fused), the generic kernel with a
 *     rounded multiply and add in k order;
 *   - the bias is added, columns past N and rows past M are not written.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/nn/linear.h"
#include "../test.h"
#include "rnnserve/infer.h"

static uint64_t state = 0x9e3779b97f4a7c15ull;
static float uniform(void) /* in [-1, 1) */
{
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(state >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static float *random_floats(size_t n)
{
    float *v = malloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = uniform();
    return v;
}

#define GUARD 12345.0f

static const int shapes[][2] = {{1, 1},    {3, 5},     {64, 64}, {65, 130},
                                {200, 77}, {512, 128}, {18, 256}};
static const int batch_sizes[] = {1, 2, 3, 4, 5, 7, 9, 33};

static void check_kernel(const rs_linear_kernel *kern)
{
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s][0], K = shapes[s][1];
        size_t ldw = (size_t)K + 3, ldx = (size_t)K + 1, ldy = (size_t)N + 2;
        float *W = random_floats((size_t)N * ldw), *bias = random_floats((size_t)N);
        rs_linear_weight w;
        ASSERT_EQ(0, rs_linear_pack(&w, W, N, K, ldw));
        int Mmax = 33;
        float *X = random_floats((size_t)Mmax * ldx);
        float *Y = malloc((size_t)(Mmax + 1) * ldy * sizeof *Y);
        float *alone = malloc(ldy * sizeof *alone);
        for (size_t b = 0; b < sizeof batch_sizes / sizeof batch_sizes[0]; b++) {
            int M = batch_sizes[b];
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                for (size_t i = 0; i < (size_t)(Mmax + 1) * ldy; i++)
                    Y[i] = GUARD;
                kern->run(&w, M, X, ldx, with_bias ? bias : NULL, Y, ldy);
                double worst = 0.0;
                int untouched = 1, identical = 1;
                for (int m = 0; m < M; m++) {
                    for (int n = 0; n < N; n++) {
                        double ref = with_bias ? bias[n] : 0.0;
                        for (int k = 0; k < K; k++)
                            ref += (double)X[(size_t)m * ldx + k] * W[(size_t)n * ldw + k];
                        double err = fabs(Y[(size_t)m * ldy + n] - ref) / (1.0 + fabs(ref));
                        worst = err > worst ? err : worst;
                    }
                    for (size_t n = (size_t)N; n < ldy; n++)
                        untouched &= Y[(size_t)m * ldy + n] == GUARD;
                    /* the same row alone, from a copy at another address */
                    float *x1 = malloc(ldx * sizeof *x1);
                    memcpy(x1, X + (size_t)m * ldx, ldx * sizeof *x1);
                    kern->run(&w, 1, x1, ldx, with_bias ? bias : NULL, alone, ldy);
                    identical &= memcmp(alone, Y + (size_t)m * ldy, (size_t)N * sizeof *Y) == 0;
                    free(x1);
                }
                for (size_t n = 0; n < ldy; n++)
                    untouched &= Y[(size_t)M * ldy + n] == GUARD;
                if (worst > 1e-5 * sqrt((double)K) || !untouched || !identical)
                    TEST_FAIL_("%s: N=%d K=%d M=%d bias=%d: worst relative error %.3g, "
                               "untouched %d, rows alone identical %d",
                               kern->name, N, K, M, with_bias, worst, untouched, identical);
                test_checks_++;
            }
        }
        /* a row's result does not depend on its neighbours: shuffle rows */
        kern->run(&w, Mmax, X, ldx, bias, Y, ldy);
        float *X2 = malloc((size_t)Mmax * ldx * sizeof *X2), *Y2 = malloc((size_t)Mmax * ldy * 4);
        for (int m = 0; m < Mmax; m++)
            memcpy(X2 + (size_t)m * ldx, X + (size_t)((m * 7 + 3) % Mmax) * ldx, ldx * 4);
        kern->run(&w, Mmax, X2, ldx, bias, Y2, ldy);
        int same = 1;
        for (int m = 0; m < Mmax; m++)
            same &= memcmp(Y2 + (size_t)m * ldy, Y + (size_t)((m * 7 + 3) % Mmax) * ldy,
                           (size_t)N * 4) == 0;
        if (!same)
            TEST_FAIL_("%s: N=%d K=%d: rows differ after reordering the batch", kern->name, N, K);
        test_checks_++;
        free(X2);
        free(Y2);
        free(X);
        free(Y);
        free(alone);
        free(W);
        free(bias);
        rs_linear_weight_free(&w);
    }
}

/* Every kernel against the scalar sum it promises (linear.h): y[m][n] =
 * fma(x[m][K−1], W[n][K−1], … x[m][0]·W[n][0]) + b[n] in k order, with fmaf
 * when fused, a rounded multiply and add otherwise.  Bit for bit. */
static void check_k_order(const rs_linear_kernel *kern)
{
    int N = 70, K = 131, M = 5;
    float *W = random_floats((size_t)N * K), *X = random_floats((size_t)M * K);
    float *bias = random_floats((size_t)N), *Y = malloc((size_t)M * N * 4);
    rs_linear_weight w;
    ASSERT_EQ(0, rs_linear_pack(&w, W, N, K, (size_t)K));
    kern->run(&w, M, X, (size_t)K, bias, Y, (size_t)N);
    int bad = 0;
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            volatile float acc = 0.0f; /* volatile: no contraction of the unfused sum */
            for (int k = 0; k < K; k++) {
                float x = X[(size_t)m * K + k], wk = W[(size_t)n * K + k];
                if (kern->fused) {
                    acc = fmaf(x, wk, acc);
                } else {
                    volatile float prod = x * wk;
                    acc = acc + prod;
                }
            }
            float want = acc + bias[n];
            bad += memcmp(&want, &Y[(size_t)m * N + n], 4) != 0;
        }
    if (bad)
        TEST_FAIL_("%s: %d of %d outputs are not the %s k-order sum", kern->name, bad, M * N,
                   kern->fused ? "fused" : "unfused");
    test_checks_++;
    rs_linear_weight_free(&w);
    free(W);
    free(X);
    free(bias);
    free(Y);
}

/* The fused kernels sum in the same order with the same fma: equal bits. */
static void check_fused_agree(const rs_linear_kernel *a, const rs_linear_kernel *b)
{
    int N = 300, K = 257, M = 11;
    float *W = random_floats((size_t)N * K), *X = random_floats((size_t)M * K);
    float *bias = random_floats((size_t)N);
    float *Ya = malloc((size_t)M * N * 4), *Yb = malloc((size_t)M * N * 4);
    rs_linear_weight w;
    ASSERT_EQ(0, rs_linear_pack(&w, W, N, K, (size_t)K));
    a->run(&w, M, X, (size_t)K, bias, Ya, (size_t)N);
    b->run(&w, M, X, (size_t)K, bias, Yb, (size_t)N);
    if (memcmp(Ya, Yb, (size_t)M * N * 4) != 0)
        TEST_FAIL_("%s and %s differ", a->name, b->name);
    test_checks_++;
    rs_linear_weight_free(&w);
    free(W);
    free(X);
    free(bias);
    free(Ya);
    free(Yb);
}

/* rs_linear_team (two threads, each half of the panels) gives rs_linear's
 * bits, for every shape and batch, also after the helper fell asleep. */
static void check_team(void)
{
    rs_team *team = rs_team_create();
    ASSERT_TRUE(team != NULL);
    if (!team)
        return;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s][0], K = shapes[s][1];
        float *W = random_floats((size_t)N * K), *bias = random_floats((size_t)N);
        rs_linear_weight w;
        ASSERT_EQ(0, rs_linear_pack(&w, W, N, K, (size_t)K));
        for (size_t b = 0; b < sizeof batch_sizes / sizeof batch_sizes[0]; b++) {
            int M = batch_sizes[b];
            float *X = random_floats((size_t)M * K);
            float *one = calloc((size_t)M * N, sizeof *one),
                  *two = calloc((size_t)M * N, sizeof *two);
            rs_linear(&w, M, X, (size_t)K, bias, one, (size_t)N);
            rs_linear_team(team, &w, M, X, (size_t)K, bias, two, (size_t)N);
            test_checks_++;
            if (memcmp(one, two, (size_t)M * N * sizeof *one) != 0)
                TEST_FAIL_("team: N %d K %d M %d: not the bits of rs_linear", N, K, M);
            if (b == 0) { /* let the helper go to sleep, then wake it */
                struct timespec ts = {0, 2000000};
                nanosleep(&ts, NULL);
                rs_linear_team(team, &w, M, X, (size_t)K, NULL, two, (size_t)N);
                rs_linear(&w, M, X, (size_t)K, NULL, one, (size_t)N);
                ASSERT_TRUE(memcmp(one, two, (size_t)M * N * sizeof *one) == 0);
            }
            free(X);
            free(one);
            free(two);
        }
        rs_linear_weight_free(&w);
        free(W);
        free(bias);
    }
    rs_team_destroy(team);
}

int main(void)
{
    rs_linear_kernel kernels[3];
    int n = rs_linear_kernels(kernels);
    const rs_linear_kernel *fused = NULL;
    for (int i = 0; i < n; i++) {
        if (!kernels[i].supported) {
            fprintf(stderr, "skip %s: this processor cannot run it\n", kernels[i].name);
            continue;
        }
        fprintf(stderr, "kernel %s\n", kernels[i].name);
        check_kernel(&kernels[i]);
        check_k_order(&kernels[i]);
        if (kernels[i].fused) {
            if (fused)
                check_fused_agree(fused, &kernels[i]);
            fused = &kernels[i];
        }
    }
    fprintf(stderr, "rs_linear uses %s\n", rs_linear_kernel_name());
    check_team();
    TEST_MAIN_END();
}
