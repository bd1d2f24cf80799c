/*
 * infer.c — one sequence at a time, float, no allocation after creation.
 *
 * The same equations as network.c (see there), written for a single row:
 * the input projection W_ih x + b_ih and the recurrent product W_hh h are
 * matrix–vector products, followed by the cell's elementwise update.  The
 * unit tests check that these logits equal the batched path's.
 */
#include "rnnserve/infer.h"
#include "sample.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rs_infer {
    rs_config cfg;
    int max_len;
    int category;
    float *seq_a, *seq_b; /* (max_len, max(In, H·D)): a layer's input and output sequences */
    float *x;             /* (E + Ec) one step's input */
    float *ax;            /* (max_len, G) input projections of a sequence */
    float *rh;            /* (G) W_hh h */
    float *h, *c;         /* (L, H) generator states */
    float *hc, *cc;       /* (H) classifier running state */
    float *logits;        /* (K) */
    float *probs;         /* (V) sampling scratch */
    int *order;           /* (V) sampling scratch */
};

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

rs_infer *rs_infer_create(const rs_config *cfg, int max_len)
{
    if (max_len < 1)
        return NULL;
    rs_infer *inf = calloc(1, sizeof *inf);
    if (!inf)
        return NULL;
    inf->cfg = *cfg;
    inf->max_len = max_len;
    inf->category = -1;
    size_t H = (size_t)cfg->hidden_size, D = (size_t)rs_config_directions(cfg);
    size_t G = (size_t)rs_cell_gates(cfg->cell) * H, L = (size_t)cfg->num_layers;
    size_t In0 = (size_t)rs_config_layer_input(cfg, 0);
    size_t width = In0 > H * D ? In0 : H * D;
    size_t V = (size_t)cfg->vocab_size, K = (size_t)cfg->n_outputs;
    size_t T = (size_t)max_len;
    inf->seq_a = calloc(T * width, sizeof(float));
    inf->seq_b = calloc(T * width, sizeof(float));
    inf->x = calloc(In0, sizeof(float));
    inf->ax = calloc(T * G, sizeof(float));
    inf->rh = calloc(G, sizeof(float));
    inf->h = calloc(L * H, sizeof(float));
    inf->c = calloc(L * H, sizeof(float));
    inf->hc = calloc(H, sizeof(float));
    inf->cc = calloc(H, sizeof(float));
    inf->logits = calloc(K, sizeof(float));
    inf->probs = calloc(V > K ? V : K, sizeof(float));
    inf->order = calloc(V > K ? V : K, sizeof(int));
    if (!inf->seq_a || !inf->seq_b || !inf->x || !inf->ax || !inf->rh || !inf->h || !inf->c ||
        !inf->hc || !inf->cc || !inf->logits || !inf->probs || !inf->order) {
        rs_infer_destroy(inf);
        return NULL;
    }
    return inf;
}

void rs_infer_destroy(rs_infer *inf)
{
    if (!inf)
        return;
    free(inf->seq_a);
    free(inf->seq_b);
    free(inf->x);
    free(inf->ax);
    free(inf->rh);
    free(inf->h);
    free(inf->c);
    free(inf->hc);
    free(inf->cc);
    free(inf->logits);
    free(inf->probs);
    free(inf->order);
    free(inf);
}

int rs_infer_max_len(const rs_infer *inf) { return inf->max_len; }

/* One cell update of h (and c) in place from ax = W_ih x + b_ih and rh = W_hh h. */
static void cell_update(rs_cell cell, int H, const float *ax, const float *rh, const float *bias_hh,
                        float *h, float *c)
{
    switch (cell) {
    case RS_CELL_RNN:
        for (int j = 0; j < H; j++)
            h[j] = tanhf(ax[j] + rh[j] + bias_hh[j]);
        break;
    case RS_CELL_LSTM:
        for (int j = 0; j < H; j++) {
            float i = sigmoidf(ax[j] + rh[j] + bias_hh[j]);
            float f = sigmoidf(ax[H + j] + rh[H + j] + bias_hh[H + j]);
            float g = tanhf(ax[2 * H + j] + rh[2 * H + j] + bias_hh[2 * H + j]);
            float o = sigmoidf(ax[3 * H + j] + rh[3 * H + j] + bias_hh[3 * H + j]);
            c[j] = f * c[j] + i * g;
            h[j] = o * tanhf(c[j]);
        }
        break;
    case RS_CELL_GRU:
        for (int j = 0; j < H; j++) {
            float r = sigmoidf(ax[j] + rh[j] + bias_hh[j]);
            float z = sigmoidf(ax[H + j] + rh[H + j] + bias_hh[H + j]);
            float n = tanhf(ax[2 * H + j] + r * (rh[2 * H + j] + bias_hh[2 * H + j]));
            h[j] = (1.0f - z) * n + z * h[j];
        }
        break;
    }
}

/* y (G) = W (G, In) x (In) [+ b] */
static void matvec(int G, int In, const float *W, const float *x, const float *b, float *y)
{
    if (b)
        memcpy(y, b, (size_t)G * sizeof *y);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, G, In, 1.0f, W, In, x, 1, b ? 1.0f : 0.0f, y, 1);
}

const float *rs_infer_classify(rs_infer *inf, const rs_params *p, const int32_t *tokens, int n)
{
    const rs_config *cfg = &inf->cfg;
    if (n < 1 || n > inf->max_len)
        return NULL;
    int H = cfg->hidden_size, D = rs_config_directions(cfg), HD = H * D;
    int G = rs_cell_gates(cfg->cell) * H, E = cfg->embedding_dim;
    float *in = inf->seq_a, *out = inf->seq_b;
    for (int t = 0; t < n; t++)
        memcpy(in + (size_t)t * E, p->embedding + (size_t)tokens[t] * E, (size_t)E * sizeof(float));
    for (int l = 0; l < cfg->num_layers; l++) {
        int In = rs_config_layer_input(cfg, l);
        for (int d = 0; d < D; d++) {
            const rs_rnn_weights *w = &p->rnn[l][d];
            /* ax (n, G) = in (n, In) · W_ihᵀ, then + b_ih */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, G, In, 1.0f, in, In,
                        w->weight_ih, In, 0.0f, inf->ax, G);
            for (int t = 0; t < n; t++)
                for (int j = 0; j < G; j++)
                    inf->ax[(size_t)t * G + j] += w->bias_ih[j];
            memset(inf->hc, 0, (size_t)H * sizeof(float));
            memset(inf->cc, 0, (size_t)H * sizeof(float));
            for (int k = 0; k < n; k++) {
                int t = d ? n - 1 - k : k;
                matvec(G, H, w->weight_hh, inf->hc, NULL, inf->rh);
                cell_update(cfg->cell, H, inf->ax + (size_t)t * G, inf->rh, w->bias_hh, inf->hc,
                            inf->cc);
                memcpy(out + (size_t)t * HD + d * H, inf->hc, (size_t)H * sizeof(float));
            }
        }
        float *tmp = in;
        in = out;
        out = tmp;
    }
    /* features: forward final ⊕ reverse final of the top layer (now in `in`) */
    float *feat = out; /* the other sequence buffer is free now: its first row holds (H·D) */
    memcpy(feat, in + (size_t)(n - 1) * HD, (size_t)H * sizeof(float));
    if (D == 2)
        memcpy(feat + H, in + H, (size_t)H * sizeof(float));
    matvec(cfg->n_outputs, HD, p->head_weight, feat, p->head_bias, inf->logits);
    return inf->logits;
}

void rs_infer_reset(rs_infer *inf, int category)
{
    size_t LH = (size_t)inf->cfg.num_layers * inf->cfg.hidden_size;
    memset(inf->h, 0, LH * sizeof(float));
    memset(inf->c, 0, LH * sizeof(float));
    inf->category = category;
}

const float *rs_infer_step(rs_infer *inf, const rs_params *p, int32_t token)
{
    const rs_config *cfg = &inf->cfg;
    int H = cfg->hidden_size, G = rs_cell_gates(cfg->cell) * H;
    int E = cfg->embedding_dim, Ec = cfg->category_dim;
    memcpy(inf->x, p->embedding + (size_t)token * E, (size_t)E * sizeof(float));
    if (Ec)
        memcpy(inf->x + E, p->category_embedding + (size_t)inf->category * Ec,
               (size_t)Ec * sizeof(float));
    const float *x = inf->x;
    for (int l = 0; l < cfg->num_layers; l++) {
        const rs_rnn_weights *w = &p->rnn[l][0];
        float *h = inf->h + (size_t)l * H, *c = inf->c + (size_t)l * H;
        matvec(G, rs_config_layer_input(cfg, l), w->weight_ih, x, w->bias_ih, inf->ax);
        matvec(G, H, w->weight_hh, h, NULL, inf->rh);
        cell_update(cfg->cell, H, inf->ax, inf->rh, w->bias_hh, h, c);
        x = h;
    }
    matvec(cfg->n_outputs, H, p->head_weight, x, p->head_bias, inf->logits);
    return inf->logits;
}

int rs_infer_generate(rs_infer *inf, const rs_params *p, const rs_special_ids *ids,
                      const int32_t *prefix, int n_prefix, int category, int max_length,
                      const rs_sampler *s, rs_rng *rng, int32_t *out, int *n_out,
                      double *log_prob, int *finished)
{
    int V = inf->cfg.vocab_size;
    if (max_length < 1 || max_length > inf->max_len || n_prefix < 0 || n_prefix > max_length ||
        ids->bos < 0 || ids->eos < 0)
        return -1;
    int banned[3], n_banned = 0;
    if (ids->pad >= 0)
        banned[n_banned++] = ids->pad;
    banned[n_banned++] = ids->bos;
    if (ids->unk >= 0)
        banned[n_banned++] = ids->unk;
    rs_infer_reset(inf, category);
    const float *logits = rs_infer_step(inf, p, ids->bos);
    double lp = 0.0;
    int n = 0;
    *finished = 0;
    for (; n < n_prefix; n++) {
        lp += rs_log_softmax_at(logits, V, prefix[n]);
        out[n] = prefix[n];
        logits = rs_infer_step(inf, p, prefix[n]);
    }
    while (n < max_length) {
        int tok = rs_infer_sample(inf, logits, s, banned, n_banned, rng);
        lp += rs_log_softmax_at(logits, V, tok);
        if (tok == ids->eos) {
            *finished = 1;
            break;
        }
        out[n++] = tok;
        if (n < max_length)
            logits = rs_infer_step(inf, p, tok);
    }
    *n_out = n;
    *log_prob = lp;
    return 0;
}

int rs_infer_score(rs_infer *inf, const rs_params *p, const rs_special_ids *ids,
                   const int32_t *tokens, int n, int category, double *log_prob)
{
    int V = inf->cfg.vocab_size;
    if (n < 0 || ids->bos < 0 || ids->eos < 0)
        return -1;
    rs_infer_reset(inf, category);
    const float *logits = rs_infer_step(inf, p, ids->bos);
    double lp = 0.0;
    for (int t = 0; t < n; t++) {
        lp += rs_log_softmax_at(logits, V, tokens[t]);
        logits = rs_infer_step(inf, p, tokens[t]);
    }
    lp += rs_log_softmax_at(logits, V, ids->eos);
    *log_prob = lp;
    return n + 1;
}

int rs_infer_sample(rs_infer *inf, const float *logits, const rs_sampler *s, const int *banned,
                    int n_banned, rs_rng *rng)
{
    return rs_sample_logits(logits, inf->cfg.n_outputs, s, banned, n_banned, rng, inf->probs,
                            inf->order);
}
