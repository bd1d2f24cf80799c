/*
 * test_seq2seq_grad.c — the translator's analytic backward pass against
 * central finite differences, in double (links the double build of src/nn).
 *
 * For every cell × {1, 2 layers} × {uni-, bidirectional encoder}, with and
 * without dropout, and once decoding from its own argmax (teacher forcing
 * off): every element of every tensor is perturbed by ±1e-5 and the loss
 * difference compared with the gradient.  Sources and targets are padded
 * (rows of different lengths, garbage ids in the padding), so the carried
 * encoder state, the attention mask and the ignored targets are checked
 * too.  The attention weights of every step must sum to 1 over the real
 * source tokens and be 0 on padding.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "rnnserve/seq2seq.h"

#ifndef RS_REAL_IS_DOUBLE
#error "the gradient checks must be built with RS_REAL_IS_DOUBLE"
#endif

enum { B = 3, S = 5, T = 4, VS = 9, VT = 8 };

typedef struct fixture {
    rs_s2s_config cfg;
    int32_t src[B * S], src_len[B], tgt_in[B * T], tgt_out[B * T];
    rs_pair_batch batch;
    double dropout, teacher;
} fixture;

static void make_fixture(fixture *fx, rs_cell cell, int layers, int bidi, double dropout,
                         double teacher)
{
    memset(fx, 0, sizeof *fx);
    fx->cfg = (rs_s2s_config){.cell = cell,
                              .num_layers = layers,
                              .hidden_size = 4,
                              .embedding_dim = 3,
                              .bidirectional = bidi,
                              .src_vocab = VS,
                              .tgt_vocab = VT};
    static const int32_t src_len[B] = {5, 2, 4}, tgt_len[B] = {3, 4, 1};
    rs_rng rng;
    rs_rng_seed(&rng, 4321);
    for (int b = 0; b < B; b++) {
        fx->src_len[b] = src_len[b];
        for (int s = 0; s < S; s++) /* padding holds garbage ids too */
            fx->src[b * S + s] = (int32_t)rs_rng_below(&rng, VS);
        for (int t = 0; t < T; t++) {
            fx->tgt_in[b * T + t] = t == 0 ? 1 : (int32_t)rs_rng_below(&rng, VT);
            fx->tgt_out[b * T + t] = t < tgt_len[b] ? (int32_t)rs_rng_below(&rng, VT) : -1;
        }
    }
    fx->batch = (rs_pair_batch){.B = B,
                                .S = S,
                                .T = T,
                                .src = fx->src,
                                .src_len = fx->src_len,
                                .tgt_in = fx->tgt_in,
                                .tgt_out = fx->tgt_out};
    fx->dropout = dropout;
    fx->teacher = teacher;
}

static double loss_at(rs_s2s_workspace *ws, const rs_s2s_params *p, const fixture *fx)
{
    rs_rng rng;
    rs_rng_seed(&rng, 99); /* the same masks on every evaluation */
    rs_s2s_opts o = {.dropout = fx->dropout, .teacher_forcing = fx->teacher, .rng = &rng};
    return rs_s2s_forward(ws, p, &fx->batch, &o);
}

static double check_fixture(const fixture *fx, const char *label)
{
    const rs_s2s_config *cfg = &fx->cfg;
    size_t n = rs_s2s_param_count(cfg);
    double *theta = malloc(n * sizeof *theta), *grad = calloc(n, sizeof *grad);
    rs_s2s_params p, g;
    rs_s2s_params_bind(cfg, theta, &p);
    rs_s2s_params_bind(cfg, grad, &g);
    rs_rng rng;
    rs_rng_seed(&rng, 7);
    rs_s2s_params_init(cfg, &p, &rng);
    for (size_t i = 0; i < n; i++) /* larger weights make the check more demanding */
        theta[i] *= 1.5;
    rs_s2s_workspace *ws = rs_s2s_workspace_create(cfg, B, S, T);
    ASSERT_TRUE(ws != NULL);
    double loss = loss_at(ws, &p, fx);
    ASSERT_TRUE(isfinite(loss) && loss > 0);
    rs_s2s_backward(ws, &p, &g, &fx->batch);

    /* attention: rows sum to 1 over the real tokens, 0 on padding */
    const double *att = rs_s2s_attention(ws);
    double att_err = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            double sum = 0;
            for (int s = 0; s < S; s++) {
                double a = att[((size_t)t * B + b) * S + s];
                if (s >= fx->src_len[b])
                    att_err = fmax(att_err, fabs(a));
                sum += a;
            }
            att_err = fmax(att_err, fabs(sum - 1));
        }
    ASSERT_NEAR(0.0, att_err, 1e-12);

    double worst = 0.0;
    const double eps = 1e-5;
    for (int i = 0; i < rs_s2s_tensor_count(cfg); i++) {
        rs_tensor_desc d;
        rs_s2s_tensor_describe(cfg, i, &d);
        double tensor_worst = 0.0;
        for (size_t k = 0; k < d.numel; k++) {
            double *x = &theta[d.offset + k];
            double saved = *x;
            *x = saved + eps;
            double up = loss_at(ws, &p, fx);
            *x = saved - eps;
            double down = loss_at(ws, &p, fx);
            *x = saved;
            double numeric = (up - down) / (2 * eps);
            double analytic = grad[d.offset + k];
            double err = fabs(numeric - analytic) / fmax(1e-4, fabs(numeric) + fabs(analytic));
            tensor_worst = fmax(tensor_worst, err);
        }
        test_checks_++;
        if (tensor_worst > 1e-6)
            TEST_FAIL_("%s: %s gradient differs from finite differences (rel %.3g)", label, d.name,
                       tensor_worst);
        worst = fmax(worst, tensor_worst);
    }
    rs_s2s_workspace_destroy(ws);
    free(theta);
    free(grad);
    return worst;
}

static void test_every_configuration(void)
{
    static const rs_cell cells[] = {RS_CELL_RNN, RS_CELL_LSTM, RS_CELL_GRU};
    static const char *const names[] = {"rnn", "lstm", "gru"};
    for (int c = 0; c < 3; c++)
        for (int layers = 1; layers <= 2; layers++)
            for (int bidi = 0; bidi <= 1; bidi++)
                for (int drop = 0; drop <= 1; drop++) {
                    fixture fx;
                    make_fixture(&fx, cells[c], layers, bidi, drop ? 0.3 : 0.0, 1.0);
                    char label[96];
                    snprintf(label, sizeof label, "%s %dx4 %s%s", names[c], layers,
                             bidi ? "bidirectional" : "unidirectional", drop ? " dropout" : "");
                    double worst = check_fixture(&fx, label);
                    printf("  %-36s worst rel error %.2e\n", label, worst);
                }
}

/* Teacher forcing off: each step reads the previous step's argmax (no
 * gradient through the choice, which finite differences cannot move). */
static void test_free_running(void)
{
    for (int c = 0; c < 3; c++) {
        fixture fx;
        make_fixture(&fx, (rs_cell)c, 2, 1, 0.0, 0.0);
        double worst = check_fixture(&fx, "free running");
        printf("  free running, cell %d                worst rel error %.2e\n", c, worst);
    }
}

int main(void)
{
    RUN_TEST(test_every_configuration);
    RUN_TEST(test_free_running);
    TEST_MAIN_END();
}
