/*
 * test_beam.c — beam search over the translator's decoder (src/nn/beam.c)
 * against the training path (src/nn/seq2seq.c), which it shares no code
 * with but the gate arithmetic:
 *   - K = 1 is greedy: the tokens rs_s2s_forward picks when it feeds back
 *     its own argmax, and their log-probability;
 *   - for K = 4, every hypothesis returned has the log-probability that a
 *     teacher-forced rs_s2s_forward gives its tokens (and <eos> when it
 *     finished), and the attention rows it gives; scores are length-
 *     normalised and sorted;
 *   - over a shortlist (opts.vocab_prefix, vocab_extra): one of every id
 *     gives the same hypotheses as the whole vocabulary, bit for bit with
 *     the packed matrices; one of a few ids makes only those, with the
 *     log-probabilities of a softmax over them of the teacher-forced
 *     logits;
 * for GRU, LSTM and RNN cells, one and two layers, uni- and bidirectional,
 * with OpenBLAS and with the matrices packed for the inference kernel (as
 * the daemon searches).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../test.h"
#include "rnnserve/beam.h"
#include "rnnserve/seq2seq.h"

enum { V_SRC = 12, V_TGT = 11, MAXLEN = 9, S_MAX = 6 };

typedef struct model {
    rs_s2s_config cfg;
    float *theta;
    rs_s2s_params p;
} model;

static void make_model(model *m, rs_cell cell, int layers, int bidi, uint64_t seed)
{
    m->cfg = (rs_s2s_config){.cell = cell,
                             .num_layers = layers,
                             .hidden_size = 8,
                             .embedding_dim = 6,
                             .bidirectional = bidi,
                             .src_vocab = V_SRC,
                             .tgt_vocab = V_TGT};
    size_t n = rs_s2s_param_count(&m->cfg);
    m->theta = malloc(n * sizeof *m->theta);
    rs_s2s_params_bind(&m->cfg, m->theta, &m->p);
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    rs_s2s_params_init(&m->cfg, &m->p, &rng);
    for (size_t i = 0; i < n; i++)
        m->theta[i] *= 2.0f; /* peakier distributions than the default */
    /* <pad> and <bos> never win, as the beam never makes them */
    m->p.head_bias[0] = m->p.head_bias[1] = -40.0f;
}

/* The teacher-forced forward pass of tgt (n ids, then <eos> when eos) for
 * source src: its workspace (the caller destroys it; NULL when T = 0), the
 * targets it predicted into tout (T), −ln p of them into *nll. */
static rs_s2s_workspace *forced(const model *m, const int32_t *src, int S, const int32_t *tgt,
                                int n, int eos, int32_t *tout, double *nll)
{
    int T = n + eos;
    *nll = 0;
    if (T == 0)
        return NULL;
    int32_t len = S, tin[MAXLEN + 1];
    for (int t = 0; t < T; t++) {
        tin[t] = t == 0 ? 1 : tgt[t - 1];
        tout[t] = t < n ? tgt[t] : 2;
    }
    rs_pair_batch b = {
        .B = 1, .S = S, .T = T, .src = src, .src_len = &len, .tgt_in = tin, .tgt_out = tout};
    rs_s2s_workspace *ws = rs_s2s_workspace_create(&m->cfg, 1, S, T);
    *nll = rs_s2s_forward(ws, &m->p, &b, NULL) * T;
    return ws;
}

/* −ln p of tgt (n ids, then <eos> when eos) for source src, teacher-forced;
 * the attention rows into att (n + eos, S) when not NULL. */
static double teacher_forced(const model *m, const int32_t *src, int S, const int32_t *tgt, int n,
                             int eos, float *att)
{
    int32_t tout[MAXLEN + 1];
    double nll;
    rs_s2s_workspace *ws = forced(m, src, S, tgt, n, eos, tout, &nll);
    if (ws && att)
        memcpy(att, rs_s2s_attention(ws), (size_t)(n + eos) * S * sizeof *att);
    rs_s2s_workspace_destroy(ws);
    return nll;
}

/* Σ ln p of tgt (n ids, then <eos> when eos) under a softmax over the ids
 * vocab[0..nv) only, from the teacher-forced logits. */
static double teacher_forced_sub(const model *m, const int32_t *src, int S, const int32_t *tgt,
                                 int n, int eos, const int32_t *vocab, int nv)
{
    int32_t tout[MAXLEN + 1];
    double nll;
    rs_s2s_workspace *ws = forced(m, src, S, tgt, n, eos, tout, &nll);
    if (!ws)
        return 0;
    const float *logits = rs_s2s_logits(ws);
    double lp = 0;
    for (int t = 0; t < n + eos; t++) {
        const float *z = logits + (size_t)t * V_TGT;
        double mx = -1e300, sum = 0;
        for (int i = 0; i < nv; i++)
            mx = fmax(mx, z[vocab[i]]);
        for (int i = 0; i < nv; i++)
            sum += exp(z[vocab[i]] - mx);
        lp += z[tout[t]] - mx - log(sum);
    }
    rs_s2s_workspace_destroy(ws);
    return lp;
}

/* Greedy through rs_s2s_forward feeding back its argmax: the ids before
 * the first <eos> (or MAXLEN of them); *finished when <eos> came. */
static int greedy(const model *m, const int32_t *src, int S, int32_t *ids, int *finished)
{
    int32_t len = S, tin[MAXLEN] = {1}, tout[MAXLEN];
    for (int t = 0; t < MAXLEN; t++)
        tout[t] = 2;
    rs_pair_batch b = {
        .B = 1, .S = S, .T = MAXLEN, .src = src, .src_len = &len, .tgt_in = tin, .tgt_out = tout};
    rs_rng rng;
    rs_rng_seed(&rng, 1);
    rs_s2s_opts o = {.teacher_forcing = 0, .rng = &rng};
    rs_s2s_workspace *ws = rs_s2s_workspace_create(&m->cfg, 1, S, MAXLEN);
    rs_s2s_forward(ws, &m->p, &b, &o);
    const float *logits = rs_s2s_logits(ws);
    int n = 0;
    *finished = 0;
    for (int t = 0; t < MAXLEN; t++) {
        const float *z = logits + (size_t)t * V_TGT;
        int best = 0;
        for (int v = 1; v < V_TGT; v++)
            if (z[v] > z[best])
                best = v;
        if (best == 2) {
            *finished = 1;
            break;
        }
        ids[n++] = best;
    }
    rs_s2s_workspace_destroy(ws);
    return n;
}

static void check_model(const model *m, const char *label, const rs_beam_packed *pk)
{
    rs_rng rng;
    rs_rng_seed(&rng, 77);
    rs_beam *bs = rs_beam_create(&m->cfg, 8, S_MAX, MAXLEN);
    ASSERT_TRUE(bs != NULL);
    for (int sentence = 0; sentence < 6; sentence++) {
        int S = 2 + sentence % (S_MAX - 1);
        int32_t src[S_MAX], len = S;
        for (int s = 0; s < S - 1; s++)
            src[s] = 4 + (int32_t)rs_rng_below(&rng, V_SRC - 4);
        src[S - 1] = 2;
        rs_pair_batch b = {.B = 1, .S = S, .src = src, .src_len = &len};
        rs_s2s_workspace *ws = rs_s2s_workspace_create(&m->cfg, 1, S, 0);
        rs_s2s_encode(ws, &m->p, &b);
        rs_s2s_encoded enc;
        rs_s2s_encoded_get(ws, &enc);

        /* K = 1 is greedy */
        rs_hypothesis h[8];
        int n = 0, finished;
        rs_beam_opts o1 = {.beam_size = 1, .n_best = 1, .max_length = MAXLEN, .attention = 1};
        ASSERT_EQ(0, rs_beam_search(bs, &m->p, pk, &enc, 0, S, &o1, h, &n));
        ASSERT_EQ(1, n);
        int32_t g[MAXLEN];
        int gn = greedy(m, src, S, g, &finished);
        test_checks_++;
        if (gn != h[0].n || finished != h[0].finished ||
            memcmp(g, h[0].ids, (size_t)gn * sizeof *g) != 0)
            TEST_FAIL_("%s sentence %d: beam 1 made %d tokens (finished %d), greedy %d (%d)", label,
                       sentence, h[0].n, h[0].finished, gn, finished);
        rs_hypothesis_free(&h[0]);

        /* K = 4: every hypothesis's log-probability and attention */
        rs_beam_opts o4 = {.beam_size = 4,
                           .n_best = 4,
                           .max_length = MAXLEN,
                           .length_penalty = 1.0,
                           .attention = 1};
        ASSERT_EQ(0, rs_beam_search(bs, &m->p, pk, &enc, 0, S, &o4, h, &n));
        ASSERT_TRUE(n >= 1 && n <= 4);
        for (int i = 0; i < n; i++) {
            float att[(MAXLEN + 1) * S_MAX];
            double nll = teacher_forced(m, src, S, h[i].ids, h[i].n, h[i].finished, att);
            int rows = h[i].n + h[i].finished;
            ASSERT_NEAR(-nll, h[i].log_prob, 1e-4 * (1 + nll));
            ASSERT_NEAR(h[i].log_prob / (rows ? rows : 1), h[i].score, 1e-9);
            double worst = 0;
            for (int k = 0; k < rows * S; k++)
                worst = fmax(worst, fabs(att[k] - h[i].attention[k]));
            ASSERT_NEAR(0.0, worst, 1e-5);
            if (i > 0)
                ASSERT_TRUE(h[i - 1].score >= h[i].score);
        }
        /* a shortlist of every id (the first 6 and the rest as extras): the
         * same search */
        int32_t rest[V_TGT];
        for (int v = 6; v < V_TGT; v++)
            rest[v - 6] = v;
        rs_hypothesis hs[8];
        int ns = 0;
        rs_beam_opts oe = o4;
        oe.vocab_prefix = 6;
        oe.vocab_extra = rest;
        oe.n_extra = V_TGT - 6;
        ASSERT_EQ(0, rs_beam_search(bs, &m->p, pk, &enc, 0, S, &oe, hs, &ns));
        ASSERT_EQ(n, ns);
        for (int i = 0; i < n && i < ns; i++) {
            ASSERT_EQ(h[i].n, hs[i].n);
            ASSERT_EQ(h[i].finished, hs[i].finished);
            ASSERT_TRUE(memcmp(h[i].ids, hs[i].ids, (size_t)h[i].n * sizeof *h[i].ids) == 0);
            if (pk) /* both through the inference kernel: the same floats */
                ASSERT_TRUE(h[i].log_prob == hs[i].log_prob);
            else
                ASSERT_NEAR(h[i].log_prob, hs[i].log_prob, 1e-5);
        }
        for (int i = 0; i < ns; i++)
            rs_hypothesis_free(&hs[i]);
        for (int i = 0; i < n; i++)
            rs_hypothesis_free(&h[i]);

        /* a shortlist of a few ids, [0, 4) and 5 7 8: only those, normalised
         * over them (<pad> and <bos> included, never produced) */
        static const int32_t few[] = {0, 1, 2, 3, 5, 7, 8};
        oe.vocab_prefix = 4;
        oe.vocab_extra = few + 4;
        oe.n_extra = 3;
        ASSERT_EQ(0, rs_beam_search(bs, &m->p, pk, &enc, 0, S, &oe, hs, &ns));
        ASSERT_TRUE(ns >= 1 && ns <= 4);
        for (int i = 0; i < ns; i++) {
            for (int k = 0; k < hs[i].n; k++)
                ASSERT_TRUE(hs[i].ids[k] == 3 || hs[i].ids[k] == 5 || hs[i].ids[k] == 7 ||
                            hs[i].ids[k] == 8);
            double lp = teacher_forced_sub(m, src, S, hs[i].ids, hs[i].n, hs[i].finished, few, 7);
            ASSERT_NEAR(lp, hs[i].log_prob, 1e-4 * (1 + fabs(lp)));
            rs_hypothesis_free(&hs[i]);
        }
        rs_s2s_workspace_destroy(ws);
    }
    rs_beam_destroy(bs);
}

static void test_beam(void)
{
    static const rs_cell cells[] = {RS_CELL_GRU, RS_CELL_LSTM, RS_CELL_RNN};
    for (int c = 0; c < 3; c++)
        for (int layers = 1; layers <= 2; layers++)
            for (int bidi = 0; bidi <= 1; bidi++) {
                model m;
                make_model(&m, cells[c], layers, bidi, 100 + (uint64_t)(c * 4 + layers * 2 + bidi));
                char label[64];
                snprintf(label, sizeof label, "%s %d layer%s %s", rs_cell_name(cells[c]), layers,
                         layers > 1 ? "s" : "", bidi ? "bidirectional" : "");
                check_model(&m, label, NULL);
                /* with the matrices packed for the inference kernel, as served */
                rs_beam_packed *pk = rs_beam_pack(&m.cfg, &m.p);
                ASSERT_TRUE(pk != NULL);
                check_model(&m, label, pk);
                rs_beam_packed_free(pk);
                free(m.theta);
            }
}

int main(void)
{
    RUN_TEST(test_beam);
    TEST_MAIN_END();
}
