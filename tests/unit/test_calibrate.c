/*
 * test_calibrate.c — temperature scaling and ECE (src/train/calibrate.c):
 *   - labels drawn from softmax(z) and logits given as 2.5·z: the fitted
 *     temperature is 2.5 (within sampling error), and it lowers the NLL;
 *   - ECE on a hand-made case: four predictions of confidence 0.9 (bin 13)
 *     of which two are right, and two of confidence ~0.5 both right:
 *     (4/6)·|0.5 − 0.9| + (2/6)·|1 − 0.5|;
 *   - at the fitted temperature the ECE of well-specified data is small.
 */
#include <math.h>
#include <stdlib.h>

#include "../test.h"
#include "calibrate.h"
#include "rnnserve/rng.h"

enum { N = 20000, K = 5 };

static void fitted_temperature_recovers_the_scale(void)
{
    static float logits[N * K];
    static int targets[N];
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    for (int i = 0; i < N; i++) {
        double z[K], sum = 0;
        for (int k = 0; k < K; k++) {
            z[k] = 1.5 * rs_rng_normal(&rng);
            sum += exp(z[k]);
        }
        double u = rs_rng_uniform(&rng) * sum, acc = 0;
        targets[i] = K - 1;
        for (int k = 0; k < K; k++) {
            acc += exp(z[k]);
            if (u < acc) {
                targets[i] = k;
                break;
            }
        }
        for (int k = 0; k < K; k++)
            logits[i * K + k] = (float)(2.5 * z[k]); /* overconfident by 2.5 */
    }
    double T = rs_fit_temperature(logits, targets, N, K);
    ASSERT_NEAR(2.5, T, 0.1);
    ASSERT_TRUE(rs_nll_at(logits, targets, N, K, T) < rs_nll_at(logits, targets, N, K, 1) - 0.1);
    ASSERT_TRUE(rs_ece(logits, targets, N, K, T) < 0.02);
    ASSERT_TRUE(rs_ece(logits, targets, N, K, 1) > 0.05);
}

static void ece_of_a_hand_made_case(void)
{
    /* two labels: p = 1 / (1 + e^−d); d = ln 9 gives 0.9, d = 0.04 about 0.51 */
    float d9 = (float)log(9.0), d5 = 0.04f;
    float logits[6 * 2] = {d9, 0, d9, 0, d9, 0, d9, 0, d5, 0, d5, 0};
    int targets[6] = {0, 0, 1, 1, 0, 0};
    double p5 = 1 / (1 + exp(-(double)d5));
    double want = 4.0 / 6 * fabs(0.5 - 0.9) + 2.0 / 6 * fabs(1 - p5);
    ASSERT_NEAR(want, rs_ece(logits, targets, 6, 2, 1), 1e-6);
}

int main(void)
{
    RUN_TEST(fitted_temperature_recovers_the_scale);
    RUN_TEST(ece_of_a_hand_made_case);
    TEST_MAIN_END();
}
