/*
 * infer.c — one sequence at a time, float, no allocation after creation.
 *
 * The same equations as network.c (see there), written for a single row:
 * the input projection W_ih x + b_ih and the recurrent product W_hh h are
 * matrix–vector products, followed by the cell's elementwise update.  The
 * parity tests check that these logits equal PyTorch's, with and without
 * tables.
 *
 * Tables: the first layer's input is an embedding row (⊕ a category
 * embedding row), so its projection W_ih x + b_ih takes only V (+ C)
 * distinct values per direction.  rs_infer_tables holds them all, computed
 * once per model with one GEMM, and a step then reads a row instead of
 * doing a (G, E) matrix–vector product: only the recurrent work is left.
 */
#include "rnnserve/infer.h"
#include "fastmath.h"
#include "sample.h"

#include <cblas.h>
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
    const rs_infer_tables *tables; /* NULL: project layer 0's input every time */
};

struct rs_infer_tables {
    rs_config cfg;
    float *token[2]; /* (V, G) per direction: embedding · W_ih[:, :E]ᵀ + b_ih of layer 0 */
    float *category; /* (C, G) category_embedding · W_ih[:, E:]ᵀ; NULL unless conditional */
    size_t bytes;
};

rs_infer_tables *rs_infer_tables_create(const rs_config *cfg, const rs_params *p)
{
    rs_infer_tables *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cfg = *cfg;
    int D = rs_config_directions(cfg), G = rs_cell_gates(cfg->cell) * cfg->hidden_size;
    int V = cfg->vocab_size, E = cfg->embedding_dim, Ec = cfg->category_dim;
    int C = cfg->n_categories, In = rs_config_layer_input(cfg, 0);
    for (int d = 0; d < D; d++) {
        const rs_rnn_weights *w = &p->rnn[0][d];
        t->token[d] = malloc((size_t)V * G * sizeof(float));
        if (!t->token[d])
            goto fail;
        for (int v = 0; v < V; v++)
            memcpy(t->token[d] + (size_t)v * G, w->bias_ih, (size_t)G * sizeof(float));
        /* token (V, G) += embedding (V, E) · W_ih[:, :E]ᵀ, W_ih (G, In) row-major */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, V, G, E, 1.0f, p->embedding, E,
                    w->weight_ih, In, 1.0f, t->token[d], G);
        t->bytes += (size_t)V * G * sizeof(float);
    }
    if (Ec > 0 && C > 0) {
        t->category = malloc((size_t)C * G * sizeof(float));
        if (!t->category)
            goto fail;
        /* category (C, G) = category_embedding (C, Ec) · W_ih[:, E:]ᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, G, Ec, 1.0f, p->category_embedding,
                    Ec, p->rnn[0][0].weight_ih + E, In, 0.0f, t->category, G);
        t->bytes += (size_t)C * G * sizeof(float);
    }
    return t;
fail:
    rs_infer_tables_destroy(t);
    return NULL;
}

void rs_infer_tables_destroy(rs_infer_tables *t)
{
    if (!t)
        return;
    free(t->token[0]);
    free(t->token[1]);
    free(t->category);
    free(t);
}

size_t rs_infer_tables_bytes(const rs_infer_tables *t) { return t ? t->bytes : 0; }

int rs_infer_use_tables(rs_infer *inf, const rs_infer_tables *t)
{
    if (t && memcmp(&t->cfg, &inf->cfg, sizeof t->cfg) != 0)
        return -1;
    inf->tables = t;
    return 0;
}

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
static void cell_update(rs_cell cell, int H, const float *restrict ax, const float *restrict rh,
                        const float *restrict bias_hh, float *restrict h, float *restrict c)
{
    switch (cell) {
    case RS_CELL_RNN:
        for (int j = 0; j < H; j++)
            h[j] = rs_tanh_inline(ax[j] + rh[j] + bias_hh[j]);
        break;
    case RS_CELL_LSTM:
        for (int j = 0; j < H; j++) {
            float i = rs_sigmoid_inline(ax[j] + rh[j] + bias_hh[j]);
            float f = rs_sigmoid_inline(ax[H + j] + rh[H + j] + bias_hh[H + j]);
            float g = rs_tanh_inline(ax[2 * H + j] + rh[2 * H + j] + bias_hh[2 * H + j]);
            float o = rs_sigmoid_inline(ax[3 * H + j] + rh[3 * H + j] + bias_hh[3 * H + j]);
            c[j] = f * c[j] + i * g;
            h[j] = o * rs_tanh_inline(c[j]);
        }
        break;
    case RS_CELL_GRU:
        for (int j = 0; j < H; j++) {
            float r = rs_sigmoid_inline(ax[j] + rh[j] + bias_hh[j]);
            float z = rs_sigmoid_inline(ax[H + j] + rh[H + j] + bias_hh[H + j]);
            float n = rs_tanh_inline(ax[2 * H + j] + r * (rh[2 * H + j] + bias_hh[2 * H + j]));
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
    const rs_infer_tables *tab = inf->tables;
    float *in = inf->seq_a, *out = inf->seq_b;
    if (!tab)
        for (int t = 0; t < n; t++)
            memcpy(in + (size_t)t * E, p->embedding + (size_t)tokens[t] * E,
                   (size_t)E * sizeof(float));
    for (int l = 0; l < cfg->num_layers; l++) {
        int In = rs_config_layer_input(cfg, l);
        int from_table = tab && l == 0;
        for (int d = 0; d < D; d++) {
            const rs_rnn_weights *w = &p->rnn[l][d];
            if (!from_table) {
                /* ax (n, G) = in (n, In) · W_ihᵀ, then + b_ih */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, G, In, 1.0f, in, In,
                            w->weight_ih, In, 0.0f, inf->ax, G);
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < G; j++)
                        inf->ax[(size_t)t * G + j] += w->bias_ih[j];
            }
            memset(inf->hc, 0, (size_t)H * sizeof(float));
            memset(inf->cc, 0, (size_t)H * sizeof(float));
            for (int k = 0; k < n; k++) {
                int t = d ? n - 1 - k : k;
                const float *ax =
                    from_table ? tab->token[d] + (size_t)tokens[t] * G : inf->ax + (size_t)t * G;
                matvec(G, H, w->weight_hh, inf->hc, NULL, inf->rh);
                cell_update(cfg->cell, H, ax, inf->rh, w->bias_hh, inf->hc, inf->cc);
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
    const rs_infer_tables *tab = inf->tables;
    const float *x = inf->x;
    if (tab) {
        /* layer 0's W_ih x + b_ih = token row (+ category row) */
        memcpy(inf->ax, tab->token[0] + (size_t)token * G, (size_t)G * sizeof(float));
        if (tab->category && inf->category >= 0) {
            const float *cat = tab->category + (size_t)inf->category * G;
            for (int j = 0; j < G; j++)
                inf->ax[j] += cat[j];
        }
    } else {
        memcpy(inf->x, p->embedding + (size_t)token * E, (size_t)E * sizeof(float));
        if (Ec)
            memcpy(inf->x + E, p->category_embedding + (size_t)inf->category * Ec,
                   (size_t)Ec * sizeof(float));
    }
    for (int l = 0; l < cfg->num_layers; l++) {
        const rs_rnn_weights *w = &p->rnn[l][0];
        float *h = inf->h + (size_t)l * H, *c = inf->c + (size_t)l * H;
        if (!tab || l > 0)
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
                      const rs_sampler *s, rs_rng *rng, int32_t *out, int *n_out, double *log_prob,
                      int *finished)
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
