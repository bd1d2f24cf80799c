/*
 * beam.c — beam search over the translator's decoder (beam.h).
 *
 * The live hypotheses are the rows of one small batch: each step is a few
 * GEMMs of (k, ·) rows, the decoder step of seq2seq.c for k rows: the
 * attention of each row over the sentence's keys, [embedding; context]
 * through the layers (cells.h), the head and a log-softmax.  After the
 * selection the rows are reordered (states, token and attention
 * histories) to follow their parents.
 *
 * With the packed matrices, layer 0 takes the context by linearity:
 * W_ih,ctx (Σ_s a_s K_s) = Σ_s a_s (W_ih,ctx K_s), the products W_ih,ctx K_s
 * made once per sentence, so that a step costs S·G multiply-adds per
 * hypothesis for the context instead of G·H·D (the same function, rounded
 * differently: the tests compare with the training path to 1e-4).
 */
#include "rnnserve/beam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cells.h"
#include "linear.h"
#include "rnnserve/infer.h"

enum { PAD = 0, BOS = 1, EOS = 2 };

/* RS_WIDE: a function compiled for AVX-512, AVX2 and the baseline, the
 * best chosen when the program loads (GCC's and clang's target_clones, an
 * ifunc).  Not under ThreadSanitizer, whose runtime is not up yet when
 * the loader runs the ifunc resolvers (the program crashes at start). */
#if defined(__SANITIZE_THREAD__)
#define RS_NO_TARGET_CLONES 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RS_NO_TARGET_CLONES 1
#endif
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(RS_NO_TARGET_CLONES)
#define RS_WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RS_WIDE
#endif

typedef struct candidate {
    double log_prob;
    int parent, token;
} candidate;

/* The translator's matrices packed once for rs_linear (linear.h): OpenBLAS
 * would copy each whole matrix on every call, about 9 MB of output layer a
 * step for a 9k-word vocabulary, and its rounding depends on the build and
 * on the batch.  The decoder's for beam search, the encoder's for
 * rs_s2s_encode_packed. */
struct rs_beam_packed {
    rs_linear_weight wa, head;
    rs_linear_weight ih[RS_MAX_LAYERS], hh[RS_MAX_LAYERS];
    rs_linear_weight enc_ih[RS_MAX_LAYERS][2], enc_hh[RS_MAX_LAYERS][2], bridge, ua;
    /* layer 0's W_ih in its two column blocks: the embedding's (G, E) and
     * the context's (G, H·D); see step() */
    rs_linear_weight ih0_emb, ih0_ctx;
    int layers, directions;
};

rs_beam_packed *rs_beam_pack(const rs_s2s_config *cfg, const rs_s2s_params *p)
{
    rs_beam_packed *pk = calloc(1, sizeof *pk);
    if (!pk)
        return NULL;
    int H = cfg->hidden_size, E = cfg->embedding_dim, HD = H * (cfg->bidirectional ? 2 : 1);
    int G = rs_cell_gates(cfg->cell) * H;
    int ok = rs_linear_pack(&pk->wa, p->wa_weight, H, H, (size_t)H) == 0 &&
             rs_linear_pack(&pk->head, p->head_weight, cfg->tgt_vocab, H, (size_t)H) == 0;
    int D = cfg->bidirectional ? 2 : 1;
    pk->directions = D;
    for (int l = 0; ok && l < cfg->num_layers; l++) {
        int In = l == 0 ? E + HD : H, EIn = l == 0 ? E : HD;
        /* layer 0's W_ih is packed as its two column blocks (below) */
        ok = (l == 0 || rs_linear_pack(&pk->ih[l], p->dec[l].weight_ih, G, In, (size_t)In) == 0) &&
             rs_linear_pack(&pk->hh[l], p->dec[l].weight_hh, G, H, (size_t)H) == 0;
        for (int d = 0; ok && d < D; d++)
            ok = rs_linear_pack(&pk->enc_ih[l][d], p->enc[l][d].weight_ih, G, EIn, (size_t)EIn) ==
                     0 &&
                 rs_linear_pack(&pk->enc_hh[l][d], p->enc[l][d].weight_hh, G, H, (size_t)H) == 0;
        pk->layers = l + 1;
    }
    ok = ok && rs_linear_pack(&pk->ih0_emb, p->dec[0].weight_ih, G, E, (size_t)(E + HD)) == 0 &&
         rs_linear_pack(&pk->ih0_ctx, p->dec[0].weight_ih + E, G, HD, (size_t)(E + HD)) == 0;
    ok = ok && rs_linear_pack(&pk->ua, p->ua_weight, H, HD, (size_t)HD) == 0 &&
         (D == 1 || rs_linear_pack(&pk->bridge, p->bridge_weight, H, 2 * H, (size_t)2 * H) == 0);
    if (!ok) {
        rs_beam_packed_free(pk);
        return NULL;
    }
    return pk;
}

void rs_beam_packed_free(rs_beam_packed *pk)
{
    if (!pk)
        return;
    rs_linear_weight_free(&pk->wa);
    rs_linear_weight_free(&pk->head);
    for (int l = 0; l < RS_MAX_LAYERS; l++) {
        rs_linear_weight_free(&pk->ih[l]);
        rs_linear_weight_free(&pk->hh[l]);
        for (int d = 0; d < 2; d++) {
            rs_linear_weight_free(&pk->enc_ih[l][d]);
            rs_linear_weight_free(&pk->enc_hh[l][d]);
        }
    }
    rs_linear_weight_free(&pk->bridge);
    rs_linear_weight_free(&pk->ua);
    rs_linear_weight_free(&pk->ih0_emb);
    rs_linear_weight_free(&pk->ih0_ctx);
    free(pk);
}

void rs_beam_packed_encoder(const rs_beam_packed *pk, rs_s2s_encoder_packed *out)
{
    memset(out, 0, sizeof *out);
    for (int l = 0; l < pk->layers; l++)
        for (int d = 0; d < pk->directions; d++) {
            out->ih[l][d] = &pk->enc_ih[l][d];
            out->hh[l][d] = &pk->enc_hh[l][d];
        }
    out->bridge = pk->directions == 2 ? &pk->bridge : NULL;
    out->ua = &pk->ua;
}

struct rs_beam {
    rs_s2s_config cfg;
    int max_beam, max_src, max_length;
    rs_real *h[RS_MAX_LAYERS], *c[RS_MAX_LAYERS];   /* (K, H) live states */
    rs_real *nh[RS_MAX_LAYERS], *nc[RS_MAX_LAYERS]; /* (K, H) the step's new states */
    rs_real *q, *x, *gates, *recur, *hn, *logits;   /* (K,H) (K,E+HD) (K,G) (K,G) (K,H) (K,V) */
    rs_real *probs;                                 /* (V) scratch */
    rs_real *lse;                                   /* (K) log Σ exp of each row's logits */
    rs_real *tanh_buf;                              /* (H) attention scratch */
    rs_real *ctx_gates; /* (max_src, G) layer 0's W_ih,ctx K_s for this search's sentence */
    /* this search's output layer when it is restricted to a shortlist
     * (beam.h): the rows of its extra ids, packed, and their biases */
    rs_linear_weight sub_head;
    size_t sub_head_cap;       /* bytes of sub_head's buffer, kept between searches */
    rs_real *sub_bias;         /* (V) */
    int32_t *tokens, *ntokens; /* (K, max_length) histories */
    float *att, *natt;         /* (K, max_length, S) */
    double *log_prob;          /* (K) */
    candidate *cand;           /* (K · K) */
    rs_hypothesis *done;       /* (K) finished */
};

static void *zalloc(size_t n, size_t size, int *failed)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        *failed = 1;
    return p;
}

rs_beam *rs_beam_create(const rs_s2s_config *cfg, int max_beam, int max_src, int max_length)
{
    rs_beam *bs = calloc(1, sizeof *bs);
    if (!bs)
        return NULL;
    bs->cfg = *cfg;
    bs->max_beam = max_beam;
    bs->max_src = max_src;
    bs->max_length = max_length;
    size_t K = (size_t)max_beam, H = (size_t)cfg->hidden_size;
    size_t HD = H * (cfg->bidirectional ? 2 : 1), E = (size_t)cfg->embedding_dim;
    size_t G = (size_t)rs_cell_gates(cfg->cell) * H, V = (size_t)cfg->tgt_vocab;
    int f = 0;
    for (int l = 0; l < cfg->num_layers; l++) {
        bs->h[l] = zalloc(K * H, sizeof(rs_real), &f);
        bs->c[l] = zalloc(K * H, sizeof(rs_real), &f);
        bs->nh[l] = zalloc(K * H, sizeof(rs_real), &f);
        bs->nc[l] = zalloc(K * H, sizeof(rs_real), &f);
    }
    bs->q = zalloc(K * H, sizeof(rs_real), &f);
    bs->x = zalloc(K * (E + HD), sizeof(rs_real), &f);
    bs->gates = zalloc(K * G, sizeof(rs_real), &f);
    bs->recur = zalloc(K * G, sizeof(rs_real), &f);
    bs->hn = zalloc(K * H, sizeof(rs_real), &f);
    bs->logits = zalloc(K * V, sizeof(rs_real), &f);
    bs->probs = zalloc(V, sizeof(rs_real), &f);
    bs->lse = zalloc(K, sizeof(rs_real), &f);
    bs->tanh_buf = zalloc(H, sizeof(rs_real), &f);
    bs->ctx_gates = zalloc((size_t)max_src * G, sizeof(rs_real), &f);
    bs->sub_bias = zalloc(V, sizeof(rs_real), &f);
    bs->tokens = zalloc(K * (size_t)max_length, sizeof(int32_t), &f);
    bs->ntokens = zalloc(K * (size_t)max_length, sizeof(int32_t), &f);
    bs->att = zalloc(K * (size_t)max_length * (size_t)max_src, sizeof(float), &f);
    bs->natt = zalloc(K * (size_t)max_length * (size_t)max_src, sizeof(float), &f);
    bs->log_prob = zalloc(K, sizeof(double), &f);
    bs->cand = zalloc(K * K, sizeof(candidate), &f);
    bs->done = zalloc(K, sizeof(rs_hypothesis), &f);
    if (f) {
        rs_beam_destroy(bs);
        return NULL;
    }
    return bs;
}

void rs_beam_destroy(rs_beam *bs)
{
    if (!bs)
        return;
    for (int l = 0; l < RS_MAX_LAYERS; l++) {
        free(bs->h[l]);
        free(bs->c[l]);
        free(bs->nh[l]);
        free(bs->nc[l]);
    }
    free(bs->q);
    free(bs->x);
    free(bs->gates);
    free(bs->recur);
    free(bs->hn);
    free(bs->logits);
    free(bs->probs);
    free(bs->lse);
    free(bs->tanh_buf);
    free(bs->ctx_gates);
    free(bs->sub_bias);
    rs_linear_weight_free(&bs->sub_head);
    free(bs->tokens);
    free(bs->ntokens);
    free(bs->att);
    free(bs->natt);
    free(bs->log_prob);
    free(bs->cand);
    free(bs->done);
    free(bs);
}

void rs_hypothesis_free(rs_hypothesis *h)
{
    free(h->ids);
    free(h->attention);
    memset(h, 0, sizeof *h);
}

/* Σ x[j]·y[j] and Σ x[j] in double, in four interleaved partial sums
 * (j mod 4) added at the end: four chains of additions instead of one, in
 * a fixed order (the same result on every run and with any batch). */
static double dot4(const rs_real *x, const rs_real *y, int n)
{
    double s[4] = {0, 0, 0, 0};
    int j = 0;
    for (; j + 4 <= n; j += 4)
        for (int l = 0; l < 4; l++)
            s[l] += (double)x[j + l] * (double)y[j + l];
    for (; j < n; j++)
        s[0] += (double)x[j] * (double)y[j];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static double sum4(const rs_real *x, int n)
{
    double s[4] = {0, 0, 0, 0};
    int j = 0;
    for (; j + 4 <= n; j += 4)
        for (int l = 0; l < 4; l++)
            s[l] += (double)x[j + l];
    for (; j < n; j++)
        s[0] += (double)x[j];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

/* out[j] = tanh(q[j] + b[j] + k[j]), the attention's inner loop (S·H per
 * hypothesis and step): apart, in a loop that vectorises (this file is
 * built with gate_math_args, meson.build), compiled for the widest vectors
 * the processor has (target_clones; chosen once, at load).  The same values
 * as the inline scalar tanh in every clone: lane-wise float arithmetic,
 * nothing contracted (-ffp-contract=off). */
RS_WIDE
static void attention_tanh(int H, const rs_real *q, const rs_real *b, const rs_real *k,
                           rs_real *out)
{
    for (int j = 0; j < H; j++)
        out[j] = RS_CELL_TANH(q[j] + b[j] + k[j]);
}

/* g[j] += Σ_s a[s] · c[s][j] for s < S (c rows of n): the attention's
 * context into layer 0's gates (step()); in order of s, as vectors of the
 * widest kind the processor has (target clones: the same values). */
RS_WIDE
static void add_weighted_rows(int S, int n, const float *a, const rs_real *c, rs_real *g)
{
    for (int s = 0; s < S; s++) {
        const rs_real *cs = c + (size_t)s * n;
        rs_real w = a[s];
        for (int j = 0; j < n; j++)
            g[j] += w * cs[j];
    }
}

/* log Σ_v exp(z[v]) over n logits, p scratch (n): the max, then exp(z − max)
 * in vectors of the widest kind (target clones), summed by sum4. */
RS_WIDE
static rs_real log_sum_exp(const rs_real *z, rs_real *p, int n)
{
    rs_real mx = z[0];
    for (int v = 1; v < n; v++)
        mx = z[v] > mx ? z[v] : mx;
    for (int v = 0; v < n; v++)
        p[v] = RS_CELL_EXP(z[v] - mx);
    return mx + (rs_real)log(sum4(p, n));
}

/* rs_cell_rows (cells.h) in vectors of the widest kind (target clones; the
 * same values: lane-wise float arithmetic): the decoder's step here and the
 * served encoder's (seq2seq.c, with the packed matrices).  The clones are
 * static, behind a plain function: clang 14 emits no symbol of the
 * function's own name for an external target_clones function. */
RS_WIDE
static void cell_rows_clones(rs_cell cell, int B, int H, rs_real *a, const rs_real *rh,
                             const rs_real *bias_hh, const rs_real *hp, const rs_real *cp,
                             rs_real *h, rs_real *c, rs_real *hn)
{
    rs_cell_rows(cell, B, H, a, rh, bias_hh, hp, cp, h, c, hn);
}

void rs_cell_rows_wide(rs_cell cell, int B, int H, rs_real *a, const rs_real *rh,
                       const rs_real *bias_hh, const rs_real *hp, const rs_real *cp, rs_real *h,
                       rs_real *c, rs_real *hn)
{
    cell_rows_clones(cell, B, H, a, rh, bias_hh, hp, cp, h, c, hn);
}

/* One decoder step for the k live rows reading tokens y: attention rows
 * into att_rows (k, S), the new states into nh/nc, the logits of the next
 * token into bs->logits (k, Vs) and their log Σ exp into bs->lse (k): over
 * the whole vocabulary (prefix 0, Vs = V), or over the ids [0, prefix)
 * and the n_extra packed in bs->sub_head (Vs = prefix + n_extra). */
static void step(rs_beam *bs, const rs_s2s_params *p, const rs_beam_packed *pk,
                 const rs_s2s_encoded *enc, int b, int len, int k, const int32_t *y,
                 float *att_rows, int att_stride, int prefix, int n_extra, struct rs_team *team)
{
    const rs_s2s_config *cfg = &bs->cfg;
    int H = cfg->hidden_size, E = cfg->embedding_dim, HD = H * (cfg->bidirectional ? 2 : 1);
    int G = rs_cell_gates(cfg->cell) * H, L = cfg->num_layers;
    int V = prefix ? prefix + n_extra : cfg->tgt_vocab, N = prefix ? prefix : V;
    int In0 = E + HD, B = enc->B;
    /* attention from the top layer's state */
    if (pk)
        rs_linear_team(team, &pk->wa, k, bs->h[L - 1], (size_t)H, NULL, bs->q, (size_t)H);
    else
        rs_gemm(0, 1, k, H, H, 1, bs->h[L - 1], H, p->wa_weight, H, 0, bs->q, H);
    rs_real *th = bs->tanh_buf;
    for (int r = 0; r < k; r++) {
        const rs_real *q = bs->q + (size_t)r * H;
        float *a = att_rows + (size_t)r * att_stride;
        double max = -1e300, sum = 0;
        for (int s = 0; s < len; s++) {
            const rs_real *uk = enc->uk + ((size_t)s * B + b) * H;
            attention_tanh(H, q, p->wa_bias, uk, th);
            double v = (double)p->va_bias[0] + dot4(p->va_weight, th, H);
            a[s] = (float)v;
            max = v > max ? v : max;
        }
        for (int s = 0; s < len; s++) {
            double v = exp((double)a[s] - max);
            a[s] = (float)v;
            sum += v;
        }
        for (int s = 0; s < len; s++)
            a[s] = (float)((double)a[s] / sum);
        rs_real *x = bs->x + (size_t)r * In0;
        memcpy(x, p->dec_embedding + (size_t)y[r] * E, (size_t)E * sizeof *x);
        if (pk) /* the context enters layer 0 through bs->ctx_gates */
            continue;
        rs_real *ctx = x + E;
        memset(ctx, 0, (size_t)HD * sizeof *ctx);
        for (int s = 0; s < len; s++) {
            const rs_real *key = enc->keys + ((size_t)s * B + b) * HD;
            for (int j = 0; j < HD; j++)
                ctx[j] += a[s] * key[j];
        }
    }
    /* the layers */
    for (int l = 0; l < L; l++) {
        const rs_rnn_weights *w = &p->dec[l];
        int In = l == 0 ? In0 : H;
        const rs_real *in = l == 0 ? bs->x : bs->nh[l - 1];
        if (pk && l == 0) {
            /* W_ih [e; c] = W_ih,emb e + Σ_s a_s (W_ih,ctx K_s): the context's
             * product per source token once per sentence (bs->ctx_gates),
             * not per hypothesis and step (G·H·D multiply-adds each) */
            rs_linear_team(team, &pk->ih0_emb, k, in, (size_t)In, NULL, bs->gates, (size_t)G);
            for (int r = 0; r < k; r++)
                add_weighted_rows(len, G, att_rows + (size_t)r * att_stride, bs->ctx_gates,
                                  bs->gates + (size_t)r * G);
            rs_linear_team(team, &pk->hh[l], k, bs->h[l], (size_t)H, NULL, bs->recur, (size_t)G);
        } else if (pk) {
            rs_linear_team(team, &pk->ih[l], k, in, (size_t)In, NULL, bs->gates, (size_t)G);
            rs_linear_team(team, &pk->hh[l], k, bs->h[l], (size_t)H, NULL, bs->recur, (size_t)G);
        } else {
            rs_gemm(0, 1, k, G, In, 1, in, In, w->weight_ih, In, 0, bs->gates, G);
            rs_gemm(0, 1, k, G, H, 1, bs->h[l], H, w->weight_hh, H, 0, bs->recur, G);
        }
        for (int r = 0; r < k; r++)
            for (int j = 0; j < G; j++)
                bs->gates[(size_t)r * G + j] += w->bias_ih[j];
        rs_cell_rows_wide(cfg->cell, k, H, bs->gates, bs->recur, w->bias_hh, bs->h[l], bs->c[l],
                          bs->nh[l], bs->nc[l], bs->hn);
    }
    /* the head (logits + bias, the bias added after the sum on every path)
     * and each row's log Σ exp, with the vectorised exp of the training
     * softmax (libm's exp over V words for K rows was most of a step) and a
     * sum in four chains (sum4) */
    if (pk) { /* the first N outputs of the packed layer: its first panels */
        rs_linear_weight head = pk->head;
        head.N = N;
        rs_linear_team(team, &head, k, bs->nh[L - 1], (size_t)H, p->head_bias, bs->logits,
                       (size_t)V);
    } else {
        rs_gemm(0, 1, k, N, H, 1, bs->nh[L - 1], H, p->head_weight, H, 0, bs->logits, V);
        for (int r = 0; r < k; r++)
            for (int v = 0; v < N; v++)
                bs->logits[(size_t)r * V + v] += p->head_bias[v];
    }
    if (n_extra > 0)
        rs_linear_team(team, &bs->sub_head, k, bs->nh[L - 1], (size_t)H, bs->sub_bias,
                       bs->logits + N, (size_t)V);
    for (int r = 0; r < k; r++)
        bs->lse[r] = log_sum_exp(bs->logits + (size_t)r * V, bs->probs, V);
}

static int by_log_prob(const void *x, const void *y)
{
    const candidate *a = x, *b = y;
    if (a->log_prob != b->log_prob)
        return a->log_prob < b->log_prob ? 1 : -1;
    if (a->parent != b->parent) /* ties: a fixed order */
        return a->parent - b->parent;
    return a->token - b->token;
}

static int by_score(const void *x, const void *y)
{
    const rs_hypothesis *a = x, *b = y;
    return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

/* A hypothesis from row r's history of n tokens (+ <eos> when finished). */
static int keep(rs_beam *bs, int r, int n, double log_prob, int finished, double alpha, int S,
                int with_attention, rs_hypothesis *out)
{
    *out = (rs_hypothesis){.n = n, .log_prob = log_prob, .finished = finished};
    int length = n + finished;
    out->score = log_prob / pow(length > 0 ? length : 1, alpha);
    out->ids = malloc((size_t)(n ? n : 1) * sizeof *out->ids);
    if (!out->ids)
        return -1;
    memcpy(out->ids, bs->tokens + (size_t)r * bs->max_length, (size_t)n * sizeof *out->ids);
    if (with_attention) {
        size_t rows = (size_t)length;
        out->attention = malloc((rows ? rows : 1) * (size_t)S * sizeof *out->attention);
        if (!out->attention)
            return -1;
        for (size_t t = 0; t < rows; t++)
            memcpy(out->attention + t * S, bs->att + ((size_t)r * bs->max_length + t) * bs->max_src,
                   (size_t)S * sizeof *out->attention);
    }
    return 0;
}

int rs_beam_search(rs_beam *bs, const rs_s2s_params *p, const rs_beam_packed *pk,
                   const rs_s2s_encoded *enc, int b, int src_len, const rs_beam_opts *o,
                   rs_hypothesis *out, int *n_out)
{
    const rs_s2s_config *cfg = &bs->cfg;
    int H = cfg->hidden_size, L = cfg->num_layers;
    int K = o->beam_size < bs->max_beam ? o->beam_size : bs->max_beam;
    int T = o->max_length < bs->max_length ? o->max_length : bs->max_length;
    int S = src_len, lstm = cfg->cell == RS_CELL_LSTM, n_done = 0, status = -1;
    size_t BH = (size_t)H;
    *n_out = 0;
    /* a shortlist: the rows of its extra ids, packed for this search */
    int prefix = o->vocab_prefix > 0 && o->vocab_prefix < cfg->tgt_vocab ? o->vocab_prefix : 0;
    int n_extra = prefix ? o->n_extra : 0, V = prefix ? prefix + n_extra : cfg->tgt_vocab;
    int N = prefix ? prefix : V; /* logits [0, N) are ids [0, N); then the extras */
    const int32_t *extra = o->vocab_extra;
    for (int i = 0; i < n_extra; i++)
        if (extra[i] < prefix || extra[i] >= cfg->tgt_vocab || (i > 0 && extra[i] <= extra[i - 1]))
            return -1;
    if (n_extra > 0) {
        if (rs_linear_repack_rows(&bs->sub_head, &bs->sub_head_cap, p->head_weight, extra, n_extra,
                                  H, BH) != 0)
            return -1;
        for (int v = 0; v < n_extra; v++)
            bs->sub_bias[v] = p->head_bias[extra[v]];
    }
    /* layer 0's context products for each source token (step()): K_s rows
     * of H·D (ih0_ctx.K) with stride B·H·D, into (S, G) */
    if (pk)
        rs_linear_team(o->team, &pk->ih0_ctx, S, enc->keys + (size_t)b * pk->ih0_ctx.K,
                       (size_t)enc->B * pk->ih0_ctx.K, NULL, bs->ctx_gates, (size_t)pk->ih0_ctx.N);
    /* one live row: the initial state, reading <bos> */
    for (int l = 0; l < L; l++) {
        memcpy(bs->h[l], enc->h0[l] + (size_t)b * BH, BH * sizeof(rs_real));
        if (lstm)
            memcpy(bs->c[l], enc->c0[l] + (size_t)b * BH, BH * sizeof(rs_real));
    }
    int k = 1;
    int32_t y[RS_BEAM_MAX];
    y[0] = BOS;
    bs->log_prob[0] = 0;
    int t = 0;
    for (; t < T && k > 0; t++) {
        /* this step's attention rows go straight into the histories */
        step(bs, p, pk, enc, b, S, k, y, bs->att + (size_t)t * bs->max_src,
             bs->max_length * bs->max_src, prefix, n_extra, o->team);
        /* each row's K best next tokens, by their log-probability z − lse
         * (a float, as the hypothesis's total adds it); <pad> and <bos>
         * (logits 0 and 1) never */
        int n_cand = 0;
        for (int r = 0; r < k; r++) {
            const rs_real *z = bs->logits + (size_t)r * V;
            rs_real lse = bs->lse[r];
            candidate best[RS_BEAM_MAX];
            rs_real best_lp[RS_BEAM_MAX];
            int nb = 0;
            for (int v = 0; v < V; v++) {
                rs_real lp = z[v] - lse;
                if (nb == K && lp <= best_lp[nb - 1])
                    continue;
                int token = v < N ? v : extra[v - N];
                if (token == PAD || token == BOS)
                    continue;
                int at = nb < K ? nb++ : K - 1;
                while (at > 0 && best_lp[at - 1] < lp) {
                    best[at] = best[at - 1];
                    best_lp[at] = best_lp[at - 1];
                    at--;
                }
                best[at] = (candidate){bs->log_prob[r] + (double)lp, r, token};
                best_lp[at] = lp;
            }
            for (int i = 0; i < nb; i++)
                bs->cand[n_cand++] = best[i];
        }
        qsort(bs->cand, (size_t)n_cand, sizeof *bs->cand, by_log_prob);
        /* the next live rows, in candidate order; finished ones aside */
        int nk = 0;
        for (int i = 0; i < n_cand && nk < K && n_done < K; i++) {
            const candidate *c = &bs->cand[i];
            if (c->token == EOS) {
                /* its history is the parent's row, with this step's attention */
                if (keep(bs, c->parent, t, c->log_prob, 1, o->length_penalty, S, o->attention,
                         &bs->done[n_done]) != 0)
                    goto fail;
                n_done++;
                continue;
            }
            int r = c->parent;
            memcpy(bs->ntokens + (size_t)nk * bs->max_length,
                   bs->tokens + (size_t)r * bs->max_length, (size_t)t * sizeof(int32_t));
            bs->ntokens[(size_t)nk * bs->max_length + t] = c->token;
            memcpy(bs->natt + (size_t)nk * bs->max_length * bs->max_src,
                   bs->att + (size_t)r * bs->max_length * bs->max_src,
                   (size_t)(t + 1) * bs->max_src * sizeof(float));
            for (int l = 0; l < L; l++) {
                memcpy(bs->h[l] + (size_t)nk * H, bs->nh[l] + (size_t)r * H, BH * sizeof(rs_real));
                if (lstm)
                    memcpy(bs->c[l] + (size_t)nk * H, bs->nc[l] + (size_t)r * H,
                           BH * sizeof(rs_real));
            }
            bs->log_prob[nk] = c->log_prob;
            y[nk] = c->token;
            nk++;
        }
        /* h/c now hold the new rows (copied from the step's nh/nc); the
         * histories swap buffers */
        int32_t *tt = bs->tokens;
        bs->tokens = bs->ntokens;
        bs->ntokens = tt;
        float *ta = bs->att;
        bs->att = bs->natt;
        bs->natt = ta;
        k = n_done >= K ? 0 : nk;
    }
    /* finished first by score; then, if too few finished, the live ones */
    int n = 0;
    qsort(bs->done, (size_t)n_done, sizeof *bs->done, by_score);
    for (int i = 0; i < n_done; i++) {
        if (n < o->n_best)
            out[n++] = bs->done[i];
        else
            rs_hypothesis_free(&bs->done[i]);
    }
    n_done = 0;
    for (int r = 0; r < k && n < o->n_best; r++) {
        if (keep(bs, r, t, bs->log_prob[r], 0, o->length_penalty, S, o->attention, &out[n]) != 0)
            goto fail;
        n++;
    }
    qsort(out, (size_t)n, sizeof *out, by_score);
    *n_out = n;
    return 0;
fail:
    for (int i = 0; i < n_done; i++)
        rs_hypothesis_free(&bs->done[i]);
    return status;
}
