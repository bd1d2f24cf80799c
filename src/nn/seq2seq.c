/*
 * seq2seq.c — the translator's batched forward and backward pass
 * (seq2seq.h has the equations and the tensor names).
 *
 * Layout.  Sequence tensors are time-major: (S, B, W) for the source side,
 * (T, B, W) for the target side.  The encoder runs a whole layer at a time
 * (one GEMM for every step's input projection, one (B, H) × (H, G) per
 * step); the decoder runs step by step, all layers, because a step's
 * attention reads the top layer's state of the step before.  Every weight
 * gradient is one GEMM over all steps at the end of the backward pass,
 * from the per-step gate gradients kept for it.
 *
 * Padding.  Source row b is valid at step s < src_len[b]; at a padded step
 * the encoder carries its state (the forward direction ends with the state
 * of step len−1, the reverse direction starts from zeros at len−1, as a
 * packed sequence does) and attention gives it weight 0.  Padded target
 * steps are computed like the others but their loss has weight 0, and as
 * no earlier step depends on a later one, they get zero gradient.
 *
 * Shapes, with G = gates·H, D = directions, HD = H·D:
 *   encoder layer l, direction d: gates (S, B, G) after activation, hp and
 *   cp (S, B, H) the state before each step, c (S, B, H) the cell after,
 *   hn (S, B, H) GRU's W_hn h + b_hn; outputs (S, B, HD).
 *   decoder layer l: h (T + 1, B, H) with slab 0 the initial state, c
 *   likewise, gates (T, B, G), hn (T, B, H), input (T, B, In_l) with layer
 *   0's input [embedding; context] (E + HD).
 *   attention: uk = Ua K + b (S, B, H); u (T, S, B, H) the tanh;
 *   att (T, B, S).
 */
#include "rnnserve/seq2seq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cells.h"
#include "linear.h"

/* ---- parameters --------------------------------------------------------- */

enum { MAX_TENSORS = 2 + RS_MAX_LAYERS * 8 + 2 + 1 + 6 + RS_MAX_LAYERS * 4 + 2 };

static int directions(const rs_s2s_config *cfg) { return cfg->bidirectional ? 2 : 1; }

static int enc_input(const rs_s2s_config *cfg, int l)
{
    return l == 0 ? cfg->embedding_dim : cfg->hidden_size * directions(cfg);
}

static int dec_input(const rs_s2s_config *cfg, int l)
{
    return l == 0 ? cfg->embedding_dim + cfg->hidden_size * directions(cfg) : cfg->hidden_size;
}

typedef struct table {
    int n;
    size_t total;
    rs_tensor_desc d[MAX_TENSORS];
    rs_real **slot[MAX_TENSORS];
} table;

static void add(table *t, rs_real **slot, const char *name, size_t rows, size_t cols)
{
    rs_tensor_desc *d = &t->d[t->n];
    snprintf(d->name, sizeof d->name, "%s", name);
    d->ndim = cols ? 2 : 1;
    d->shape[0] = rows;
    d->shape[1] = cols;
    d->numel = rows * (cols ? cols : 1);
    d->offset = t->total;
    t->slot[t->n++] = slot;
    t->total += d->numel;
}

static void add_rnn(table *t, rs_rnn_weights *w, const char *prefix, int l, int dir, int G, int In,
                    int H)
{
    char name[48];
    const char *suffix = dir ? "_reverse" : "";
    snprintf(name, sizeof name, "%s.weight_ih_l%d%s", prefix, l, suffix);
    add(t, &w->weight_ih, name, (size_t)G, (size_t)In);
    snprintf(name, sizeof name, "%s.weight_hh_l%d%s", prefix, l, suffix);
    add(t, &w->weight_hh, name, (size_t)G, (size_t)H);
    snprintf(name, sizeof name, "%s.bias_ih_l%d%s", prefix, l, suffix);
    add(t, &w->bias_ih, name, (size_t)G, 0);
    snprintf(name, sizeof name, "%s.bias_hh_l%d%s", prefix, l, suffix);
    add(t, &w->bias_hh, name, (size_t)G, 0);
}

/* Every tensor in state_dict order, bound to p's fields. */
static void build_table(const rs_s2s_config *cfg, rs_s2s_params *p, table *t)
{
    int H = cfg->hidden_size, E = cfg->embedding_dim, D = directions(cfg);
    int G = rs_cell_gates(cfg->cell) * H;
    t->n = 0;
    t->total = 0;
    add(t, &p->enc_embedding, "encoder.embedding.weight", (size_t)cfg->src_vocab, (size_t)E);
    for (int l = 0; l < cfg->num_layers; l++)
        for (int d = 0; d < D; d++)
            add_rnn(t, &p->enc[l][d], "encoder.rnn", l, d, G, enc_input(cfg, l), H);
    if (cfg->bidirectional) {
        add(t, &p->bridge_weight, "encoder.bridge.weight", (size_t)H, (size_t)2 * H);
        add(t, &p->bridge_bias, "encoder.bridge.bias", (size_t)H, 0);
    }
    add(t, &p->dec_embedding, "decoder.embedding.weight", (size_t)cfg->tgt_vocab, (size_t)E);
    add(t, &p->wa_weight, "decoder.attention.Wa.weight", (size_t)H, (size_t)H);
    add(t, &p->wa_bias, "decoder.attention.Wa.bias", (size_t)H, 0);
    add(t, &p->ua_weight, "decoder.attention.Ua.weight", (size_t)H, (size_t)H * D);
    add(t, &p->ua_bias, "decoder.attention.Ua.bias", (size_t)H, 0);
    add(t, &p->va_weight, "decoder.attention.Va.weight", 1, (size_t)H);
    add(t, &p->va_bias, "decoder.attention.Va.bias", 1, 0);
    for (int l = 0; l < cfg->num_layers; l++)
        add_rnn(t, &p->dec[l], "decoder.rnn", l, 0, G, dec_input(cfg, l), H);
    add(t, &p->head_weight, "decoder.head.weight", (size_t)cfg->tgt_vocab, (size_t)H);
    add(t, &p->head_bias, "decoder.head.bias", (size_t)cfg->tgt_vocab, 0);
}

int rs_s2s_config_check(const rs_s2s_config *cfg, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (cfg->cell != RS_CELL_RNN && cfg->cell != RS_CELL_LSTM && cfg->cell != RS_CELL_GRU)
        bad = "cell must be rnn, lstm or gru";
    else if (cfg->num_layers < 1 || cfg->num_layers > RS_MAX_LAYERS)
        bad = "num_layers must be between 1 and 8";
    else if (cfg->hidden_size < 1 || cfg->hidden_size > 4096)
        bad = "hidden_size must be between 1 and 4096";
    else if (cfg->embedding_dim < 1 || cfg->embedding_dim > 4096)
        bad = "embedding_dim must be between 1 and 4096";
    else if (cfg->src_vocab < 4 || cfg->tgt_vocab < 4)
        bad = "each vocabulary needs <pad>, <bos>, <eos> and a token";
    else if (cfg->src_vocab > 1000000 || cfg->tgt_vocab > 1000000)
        bad = "a vocabulary has more than 1,000,000 tokens";
    if (bad)
        snprintf(err, errlen, "translator: %s", bad);
    return bad ? -1 : 0;
}

size_t rs_s2s_param_count(const rs_s2s_config *cfg)
{
    rs_s2s_params p;
    table t;
    build_table(cfg, &p, &t);
    return t.total;
}

int rs_s2s_tensor_count(const rs_s2s_config *cfg)
{
    rs_s2s_params p;
    table t;
    build_table(cfg, &p, &t);
    return t.n;
}

void rs_s2s_tensor_describe(const rs_s2s_config *cfg, int i, rs_tensor_desc *out)
{
    rs_s2s_params p;
    table t;
    build_table(cfg, &p, &t);
    *out = t.d[i];
}

rs_real **rs_s2s_params_slot(const rs_s2s_config *cfg, rs_s2s_params *p, int i)
{
    table t;
    build_table(cfg, p, &t);
    return t.slot[i];
}

void rs_s2s_params_bind(const rs_s2s_config *cfg, rs_real *flat, rs_s2s_params *p)
{
    memset(p, 0, sizeof *p);
    table t;
    build_table(cfg, p, &t);
    for (int i = 0; i < t.n; i++)
        *t.slot[i] = flat + t.d[i].offset;
}

void rs_s2s_params_init(const rs_s2s_config *cfg, rs_s2s_params *p, rs_rng *rng)
{
    table t;
    build_table(cfg, p, &t);
    double cell_bound = 1.0 / sqrt((double)cfg->hidden_size);
    for (int i = 0; i < t.n; i++) {
        const rs_tensor_desc *d = &t.d[i];
        rs_real *v = *t.slot[i];
        int embedding = strstr(d->name, "embedding") != NULL;
        int cell = strstr(d->name, ".rnn.") != NULL;
        /* nn.Linear: U(±1/√in_features) for weight and bias alike; the bias
         * has the weight's fan, the tensor after it in the table */
        size_t fan = d->ndim == 2 ? d->shape[1] : t.d[i - 1].shape[1];
        double bound = cell ? cell_bound : 1.0 / sqrt((double)fan);
        for (size_t k = 0; k < d->numel; k++)
            v[k] = (rs_real)(embedding ? rs_rng_normal(rng)
                                       : (2.0 * rs_rng_uniform(rng) - 1.0) * bound);
    }
}

/* ---- workspace ---------------------------------------------------------- */

typedef struct enc_dir {
    rs_real *gates, *hp, *cp, *c, *hn; /* (S, B, G) and (S, B, H) each; c, cp LSTM, hn GRU */
    rs_real *dgx, *dgh;                /* (S, B, G) gate gradients (dgh: GRU only) */
} enc_dir;

typedef struct dec_layer {
    rs_real *h, *c; /* (T + 1, B, H) */
    rs_real *gates; /* (T, B, G) */
    rs_real *hn;    /* (T, B, H) GRU */
    rs_real *in;    /* (T, B, In) */
    rs_real *dgx, *dgh;
} dec_layer;

struct rs_s2s_workspace {
    rs_s2s_config cfg;
    int max_b, max_s, max_t;
    /* encoder */
    rs_real *enc_x, *enc_x_mask;     /* (S, B, E) */
    rs_real *enc_out[RS_MAX_LAYERS]; /* (S, B, HD) */
    enc_dir enc[RS_MAX_LAYERS][2];
    rs_real *bridge_in[RS_MAX_LAYERS][2]; /* (B, 2H): [fwd; bwd] final h, and c */
    /* decoder */
    rs_real *dec_x_mask; /* (T, B, E) */
    int32_t *dec_tokens; /* (T, B) what each step read */
    dec_layer dec[RS_MAX_LAYERS];
    rs_real *uk;               /* (S, B, H) */
    rs_real *u;                /* (T, S, B, H) */
    rs_real *att;              /* (T, B, S) */
    rs_real *q;                /* (B, H) */
    rs_real *recur;            /* (B, G) */
    rs_real *feat, *feat_mask; /* (T, B, H) */
    rs_real *logits;           /* (T, B, V) */
    /* backward scratch */
    rs_real *dlogits;                               /* (T, B, V) */
    rs_real *dfeat;                                 /* (T, B, H) */
    rs_real *dh[RS_MAX_LAYERS], *dc[RS_MAX_LAYERS]; /* (B, H) */
    rs_real *din;                                   /* (B, max In) */
    rs_real *dq;                                    /* (B, H) */
    rs_real *dK;                                    /* (S, B, HD) */
    rs_real *duk;                                   /* (S, B, H) */
    rs_real *denc;         /* (S, B, HD) gradient w.r.t. an encoder layer's outputs */
    rs_real *dencin;       /* (S, B, max(E, HD)) w.r.t. its input */
    rs_real *dfinal;       /* (B, 2H) */
    rs_real *drun, *dcrun; /* (B, H) */
    rs_real *dfh, *dfc;    /* (2, B, H) final states' gradients per direction */
    double *da;            /* (S) */
    /* the last forward */
    int B, S, T, dropout_on;
    long count;
};

static rs_real *alloc_reals(size_t n, int *failed)
{
    rs_real *p = calloc(n ? n : 1, sizeof *p);
    if (!p)
        *failed = 1;
    return p;
}

rs_s2s_workspace *rs_s2s_workspace_create(const rs_s2s_config *cfg, int max_batch, int max_src,
                                          int max_tgt)
{
    rs_s2s_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->cfg = *cfg;
    ws->max_b = max_batch;
    ws->max_s = max_src;
    ws->max_t = max_tgt;
    size_t B = (size_t)max_batch, S = (size_t)max_src, T = (size_t)max_tgt;
    size_t H = (size_t)cfg->hidden_size, E = (size_t)cfg->embedding_dim;
    size_t D = (size_t)directions(cfg), HD = H * D, G = (size_t)rs_cell_gates(cfg->cell) * H;
    size_t V = (size_t)cfg->tgt_vocab, In_max = E + HD;
    int lstm = cfg->cell == RS_CELL_LSTM, gru = cfg->cell == RS_CELL_GRU, f = 0;
    /* no target steps: an encoder for rs_s2s_encode (serving), without the
     * dropout masks and the backward pass's buffers */
    size_t tr = max_tgt > 0;
    ws->enc_x = alloc_reals(S * B * E, &f);
    ws->enc_x_mask = alloc_reals(tr * S * B * E, &f);
    for (int l = 0; l < cfg->num_layers; l++) {
        ws->enc_out[l] = alloc_reals(S * B * HD, &f);
        for (size_t d = 0; d < D; d++) {
            enc_dir *e = &ws->enc[l][d];
            e->gates = alloc_reals(S * B * G, &f);
            e->hp = alloc_reals(S * B * H, &f);
            e->dgx = alloc_reals(tr * S * B * G, &f);
            if (lstm) {
                e->cp = alloc_reals(S * B * H, &f);
                e->c = alloc_reals(S * B * H, &f);
            }
            if (gru) {
                e->hn = alloc_reals(S * B * H, &f);
                e->dgh = alloc_reals(tr * S * B * G, &f);
            }
            ws->bridge_in[l][d] = alloc_reals(B * 2 * H, &f);
        }
        dec_layer *dl = &ws->dec[l];
        dl->h = alloc_reals((T + 1) * B * H, &f);
        dl->gates = alloc_reals(T * B * G, &f);
        dl->in = alloc_reals(T * B * (size_t)dec_input(cfg, l), &f);
        dl->dgx = alloc_reals(T * B * G, &f);
        if (lstm)
            dl->c = alloc_reals((T + 1) * B * H, &f);
        if (gru) {
            dl->hn = alloc_reals(T * B * H, &f);
            dl->dgh = alloc_reals(T * B * G, &f);
        }
        ws->dh[l] = alloc_reals(tr * B * H, &f);
        ws->dc[l] = alloc_reals(tr * B * H, &f);
    }
    ws->dec_x_mask = alloc_reals(T * B * E, &f);
    ws->dec_tokens = calloc(T * B + 1, sizeof *ws->dec_tokens);
    if (!ws->dec_tokens)
        f = 1;
    ws->uk = alloc_reals(S * B * H, &f);
    ws->u = alloc_reals(T * S * B * H, &f);
    ws->att = alloc_reals(T * B * S, &f);
    ws->q = alloc_reals(B * H, &f);
    ws->recur = alloc_reals(B * G, &f);
    ws->feat = alloc_reals(T * B * H, &f);
    ws->feat_mask = alloc_reals(T * B * H, &f);
    ws->logits = alloc_reals(T * B * V, &f);
    ws->dlogits = alloc_reals(T * B * V, &f);
    ws->dfeat = alloc_reals(T * B * H, &f);
    ws->din = alloc_reals(tr * B * In_max, &f);
    ws->dq = alloc_reals(tr * B * H, &f);
    ws->dK = alloc_reals(tr * S * B * HD, &f);
    ws->duk = alloc_reals(tr * S * B * H, &f);
    ws->denc = alloc_reals(tr * S * B * HD, &f);
    ws->dencin = alloc_reals(tr * S * B * (E > HD ? E : HD), &f);
    ws->dfinal = alloc_reals(tr * B * 2 * H, &f);
    ws->drun = alloc_reals(tr * B * H, &f);
    ws->dcrun = alloc_reals(tr * B * H, &f);
    ws->dfh = alloc_reals(tr * 2 * B * H, &f);
    ws->dfc = alloc_reals(tr * 2 * B * H, &f);
    ws->da = calloc(S ? S : 1, sizeof *ws->da);
    if (!ws->da)
        f = 1;
    if (f) {
        rs_s2s_workspace_destroy(ws);
        return NULL;
    }
    return ws;
}

void rs_s2s_workspace_destroy(rs_s2s_workspace *ws)
{
    if (!ws)
        return;
    for (int l = 0; l < RS_MAX_LAYERS; l++) {
        free(ws->enc_out[l]);
        for (int d = 0; d < 2; d++) {
            enc_dir *e = &ws->enc[l][d];
            free(e->gates);
            free(e->hp);
            free(e->cp);
            free(e->c);
            free(e->hn);
            free(e->dgx);
            free(e->dgh);
            free(ws->bridge_in[l][d]);
        }
        dec_layer *dl = &ws->dec[l];
        free(dl->h);
        free(dl->c);
        free(dl->gates);
        free(dl->hn);
        free(dl->in);
        free(dl->dgx);
        free(dl->dgh);
        free(ws->dh[l]);
        free(ws->dc[l]);
    }
    rs_real *bufs[] = {ws->enc_x,  ws->enc_x_mask, ws->dec_x_mask, ws->uk,     ws->u,
                       ws->att,    ws->q,          ws->recur,      ws->feat,   ws->feat_mask,
                       ws->logits, ws->dlogits,    ws->dfeat,      ws->din,    ws->dq,
                       ws->dK,     ws->duk,        ws->denc,       ws->dencin, ws->dfinal,
                       ws->drun,   ws->dcrun,      ws->dfh,        ws->dfc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(ws->dec_tokens);
    free(ws->da);
    free(ws);
}

const rs_real *rs_s2s_attention(const rs_s2s_workspace *ws) { return ws->att; }
const rs_real *rs_s2s_logits(const rs_s2s_workspace *ws) { return ws->logits; }
long rs_s2s_target_count(const rs_s2s_workspace *ws) { return ws->count; }

/* ---- forward ------------------------------------------------------------ */

/* dst = src ⊙ mask with a fresh mask ∈ {0, 1/(1−p)}. */
static void dropout(rs_real *x, rs_real *mask, size_t n, rs_real p, rs_rng *rng)
{
    rs_real keep = (rs_real)1 / ((rs_real)1 - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = rs_rng_uniform(rng) < (double)p ? 0 : keep;
        x[i] *= mask[i];
    }
}

/* rs_linear on rs_real.  Only the float build packs matrices: the double
 * build of the gradient checks encodes without them (rs_s2s_encode_packed
 * passes none there), so this is never called in it. */
static void packed_linear(struct rs_team *team, const rs_linear_weight *w, int M, const rs_real *X,
                          size_t ldx, const rs_real *bias, rs_real *Y, size_t ldy)
{
#ifdef RS_REAL_IS_DOUBLE
    (void)team, (void)w, (void)M, (void)X, (void)ldx, (void)bias, (void)Y, (void)ldy;
#else
    rs_linear_team(team, w, M, X, ldx, bias, Y, ldy);
#endif
}

/* One direction of one encoder layer over the whole source; through the
 * packed matrices ih and hh when not NULL (serving), else OpenBLAS. */
static void encoder_direction(rs_s2s_workspace *ws, const rs_rnn_weights *w, int l, int dir,
                              const rs_real *in, int In, const rs_pair_batch *batch,
                              const rs_linear_weight *ih, const rs_linear_weight *hh,
                              struct rs_team *team)
{
    const rs_s2s_config *cfg = &ws->cfg;
    int B = batch->B, S = batch->S, H = cfg->hidden_size, HD = H * directions(cfg);
    int G = rs_cell_gates(cfg->cell) * H, lstm = cfg->cell == RS_CELL_LSTM;
    enc_dir *e = &ws->enc[l][dir];
    rs_real *out = ws->enc_out[l];
    /* every step's input projection at once: (S·B, In) × (In, G) */
    if (ih)
        packed_linear(team, ih, S * B, in, (size_t)In, w->bias_ih, e->gates, (size_t)G);
    else {
        rs_gemm(0, 1, S * B, G, In, 1, in, In, w->weight_ih, In, 0, e->gates, G);
        for (int i = 0; i < S * B; i++)
            for (int j = 0; j < G; j++)
                e->gates[(size_t)i * G + j] += w->bias_ih[j];
    }
    size_t BH = (size_t)B * H;
    for (int k = 0; k < S; k++) {
        int s = dir ? S - 1 - k : k;
        rs_real *hp = e->hp + (size_t)s * BH, *cp = lstm ? e->cp + (size_t)s * BH : NULL;
        /* the state before step s: after the previous step in this direction */
        if (k == 0) {
            memset(hp, 0, BH * sizeof *hp);
            if (lstm)
                memset(cp, 0, BH * sizeof *cp);
        } else {
            int sp = dir ? s + 1 : s - 1;
            for (int b = 0; b < B; b++)
                memcpy(hp + (size_t)b * H, out + ((size_t)sp * B + b) * HD + dir * H,
                       (size_t)H * sizeof *hp);
            if (lstm)
                memcpy(cp, e->c + (size_t)sp * BH, BH * sizeof *cp);
        }
        rs_real *a = e->gates + (size_t)s * B * G;
        if (hh)
            packed_linear(team, hh, B, hp, (size_t)H, NULL, ws->recur, (size_t)G);
        else
            rs_gemm(0, 1, B, G, H, 1, hp, H, w->weight_hh, H, 0, ws->recur, G);
        rs_real *h = ws->q; /* (B, H) the new state, then scattered into out */
        rs_real *c_out = lstm ? e->c + (size_t)s * BH : NULL;
        rs_real *hn_out = e->hn ? e->hn + (size_t)s * BH : NULL;
#ifndef RS_REAL_IS_DOUBLE
        if (hh) /* served: the gates in the widest vectors (beam.c) */
            rs_cell_rows_wide(cfg->cell, B, H, a, ws->recur, w->bias_hh, hp, cp, h, c_out, hn_out);
        else
#endif
            rs_cell_rows(cfg->cell, B, H, a, ws->recur, w->bias_hh, hp, cp, h, c_out, hn_out);
        for (int b = 0; b < B; b++) {
            rs_real *o = out + ((size_t)s * B + b) * HD + dir * H;
            if (s >= batch->src_len[b]) { /* padding: carry the state */
                memcpy(o, hp + (size_t)b * H, (size_t)H * sizeof *o);
                if (lstm)
                    memcpy(e->c + (size_t)s * BH + (size_t)b * H, cp + (size_t)b * H,
                           (size_t)H * sizeof *cp);
            } else {
                memcpy(o, h + (size_t)b * H, (size_t)H * sizeof *o);
            }
        }
    }
}

/* The decoder's initial state of layer l from the encoder's final states. */
static void bridge_forward(rs_s2s_workspace *ws, const rs_s2s_params *p, int l,
                           const rs_pair_batch *batch, const rs_linear_weight *packed,
                           struct rs_team *team)
{
    const rs_s2s_config *cfg = &ws->cfg;
    int B = batch->B, S = batch->S, H = cfg->hidden_size, D = directions(cfg), HD = H * D;
    int lstm = cfg->cell == RS_CELL_LSTM;
    size_t BH = (size_t)B * H;
    dec_layer *dl = &ws->dec[l];
    const rs_real *out = ws->enc_out[l];
    for (int which = 0; which < (lstm ? 2 : 1); which++) {
        rs_real *init = which ? dl->c : dl->h; /* slab 0 */
        rs_real *bin = ws->bridge_in[l][which];
        for (int b = 0; b < B; b++) {
            /* forward final: step S−1 (carried from len−1); reverse final: step 0 */
            const rs_real *fwd = which ? ws->enc[l][0].c + ((size_t)(S - 1) * B + b) * H
                                       : out + ((size_t)(S - 1) * B + b) * HD;
            if (D == 1) {
                memcpy(init + (size_t)b * H, fwd, (size_t)H * sizeof *init);
                continue;
            }
            const rs_real *bwd = which ? ws->enc[l][1].c + (size_t)b * H : out + (size_t)b * HD + H;
            memcpy(bin + (size_t)b * 2 * H, fwd, (size_t)H * sizeof *bin);
            memcpy(bin + (size_t)b * 2 * H + H, bwd, (size_t)H * sizeof *bin);
        }
        if (D == 2) {
            if (packed)
                packed_linear(team, packed, B, bin, (size_t)2 * H, NULL, init, (size_t)H);
            else
                rs_gemm(0, 1, B, H, 2 * H, 1, bin, 2 * H, p->bridge_weight, 2 * H, 0, init, H);
            for (size_t i = 0; i < BH; i++)
                init[i] = RS_CELL_TANH(init[i] + p->bridge_bias[i % H]);
        }
    }
}

/* Attention at target step t from the top layer's state before it:
 * weights into att[t], the context into layer 0's input. */
static void attention_forward(rs_s2s_workspace *ws, const rs_s2s_params *p, int t,
                              const rs_pair_batch *batch)
{
    const rs_s2s_config *cfg = &ws->cfg;
    int B = batch->B, S = batch->S, H = cfg->hidden_size, HD = H * directions(cfg);
    int E = cfg->embedding_dim, L = cfg->num_layers, In0 = E + HD;
    const rs_real *hq = ws->dec[L - 1].h + (size_t)t * B * H;
    rs_gemm(0, 1, B, H, H, 1, hq, H, p->wa_weight, H, 0, ws->q, H);
    const rs_real *K = ws->enc_out[L - 1];
    for (int b = 0; b < B; b++) {
        rs_real *q = ws->q + (size_t)b * H;
        rs_real *a = ws->att + ((size_t)t * B + b) * S;
        int len = batch->src_len[b];
        double max = -INFINITY;
        for (int s = 0; s < len; s++) {
            rs_real *u = ws->u + (((size_t)t * S + s) * B + b) * H;
            const rs_real *uk = ws->uk + ((size_t)s * B + b) * H;
            double e = (double)p->va_bias[0];
            for (int j = 0; j < H; j++) {
                u[j] = RS_CELL_TANH(q[j] + p->wa_bias[j] + uk[j]);
                e += (double)p->va_weight[j] * u[j];
            }
            a[s] = (rs_real)e;
            max = e > max ? e : max;
        }
        double sum = 0;
        for (int s = 0; s < len; s++) {
            double v = exp((double)a[s] - max);
            a[s] = (rs_real)v;
            sum += v;
        }
        for (int s = 0; s < S; s++)
            a[s] = s < len ? (rs_real)((double)a[s] / sum) : 0;
        rs_real *ctx = ws->dec[0].in + ((size_t)t * B + b) * In0 + E;
        memset(ctx, 0, (size_t)HD * sizeof *ctx);
        for (int s = 0; s < len; s++) {
            const rs_real *k = K + ((size_t)s * B + b) * HD;
            for (int j = 0; j < HD; j++)
                ctx[j] += a[s] * k[j];
        }
    }
}

static int argmax(const rs_real *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* head(feat) for rows [row0, row0 + rows) of the (T·B) target rows. */
static void head_rows(rs_s2s_workspace *ws, const rs_s2s_params *p, size_t row0, int rows)
{
    int H = ws->cfg.hidden_size, V = ws->cfg.tgt_vocab;
    rs_real *logits = ws->logits + row0 * V;
    rs_gemm(0, 1, rows, V, H, 1, ws->feat + row0 * H, H, p->head_weight, H, 0, logits, V);
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < V; v++)
            logits[(size_t)r * V + v] += p->head_bias[v];
}

/* The encoder, the decoder's initial states (slab 0 of each layer's h and
 * c) and the keys' projection uk = Ua K + b_Ua. */
static void encode(rs_s2s_workspace *ws, const rs_s2s_params *p, const rs_pair_batch *batch,
                   rs_real pdrop, rs_rng *rng, const rs_s2s_encoder_packed *pk)
{
    const rs_s2s_config *cfg = &ws->cfg;
    int B = batch->B, S = batch->S;
    int H = cfg->hidden_size, E = cfg->embedding_dim, D = directions(cfg), HD = H * D;
    int L = cfg->num_layers;
    /* encoder */
    for (int s = 0; s < S; s++)
        for (int b = 0; b < B; b++)
            memcpy(ws->enc_x + ((size_t)s * B + b) * E,
                   p->enc_embedding + (size_t)batch->src[(size_t)b * S + s] * E,
                   (size_t)E * sizeof(rs_real));
    if (ws->dropout_on)
        dropout(ws->enc_x, ws->enc_x_mask, (size_t)S * B * E, pdrop, rng);
    for (int l = 0; l < L; l++) {
        const rs_real *in = l == 0 ? ws->enc_x : ws->enc_out[l - 1];
        for (int d = 0; d < D; d++)
            encoder_direction(ws, &p->enc[l][d], l, d, in, enc_input(cfg, l), batch,
                              pk ? pk->ih[l][d] : NULL, pk ? pk->hh[l][d] : NULL,
                              pk ? pk->team : NULL);
    }
    for (int l = 0; l < L; l++)
        bridge_forward(ws, p, l, batch, pk ? pk->bridge : NULL, pk ? pk->team : NULL);
    /* the keys' projection, once per sentence */
    const rs_real *K = ws->enc_out[L - 1];
    if (pk)
        packed_linear(pk->team, pk->ua, S * B, K, (size_t)HD, p->ua_bias, ws->uk, (size_t)H);
    else {
        rs_gemm(0, 1, S * B, H, HD, 1, K, HD, p->ua_weight, HD, 0, ws->uk, H);
        for (size_t i = 0; i < (size_t)S * B; i++)
            for (int j = 0; j < H; j++)
                ws->uk[i * H + j] += p->ua_bias[j];
    }
}

void rs_s2s_encode(rs_s2s_workspace *ws, const rs_s2s_params *p, const rs_pair_batch *batch)
{
    ws->B = batch->B;
    ws->S = batch->S;
    ws->T = 0;
    ws->dropout_on = 0;
    encode(ws, p, batch, 0, NULL, NULL);
}

void rs_s2s_encode_packed(rs_s2s_workspace *ws, const rs_s2s_params *p,
                          const rs_s2s_encoder_packed *pk, const rs_pair_batch *batch)
{
    ws->B = batch->B;
    ws->S = batch->S;
    ws->T = 0;
    ws->dropout_on = 0;
#ifdef RS_REAL_IS_DOUBLE
    (void)pk;
    encode(ws, p, batch, 0, NULL, NULL);
#else
    encode(ws, p, batch, 0, NULL, pk);
#endif
}

void rs_s2s_encoded_get(const rs_s2s_workspace *ws, rs_s2s_encoded *out)
{
    int L = ws->cfg.num_layers;
    out->B = ws->B;
    out->S = ws->S;
    out->keys = ws->enc_out[L - 1];
    out->uk = ws->uk;
    for (int l = 0; l < L; l++) {
        out->h0[l] = ws->dec[l].h;
        out->c0[l] = ws->dec[l].c;
    }
}

double rs_s2s_forward(rs_s2s_workspace *ws, const rs_s2s_params *p, const rs_pair_batch *batch,
                      const rs_s2s_opts *opts)
{
    const rs_s2s_config *cfg = &ws->cfg;
    int B = batch->B, S = batch->S, T = batch->T;
    int H = cfg->hidden_size, E = cfg->embedding_dim, D = directions(cfg), HD = H * D;
    int G = rs_cell_gates(cfg->cell) * H, L = cfg->num_layers, V = cfg->tgt_vocab;
    int lstm = cfg->cell == RS_CELL_LSTM;
    size_t BH = (size_t)B * H;
    ws->B = B;
    ws->S = S;
    ws->T = T;
    rs_real pdrop = opts ? opts->dropout : 0;
    ws->dropout_on = pdrop > 0 && opts->rng;
    int teacher = 1;
    if (opts && opts->rng && opts->teacher_forcing < 1.0)
        teacher = rs_rng_uniform(opts->rng) < opts->teacher_forcing;

    encode(ws, p, batch, pdrop, opts ? opts->rng : NULL, NULL);

    /* decoder, step by step */
    int In0 = E + HD;
    for (int t = 0; t < T; t++) {
        for (int b = 0; b < B; b++) {
            int y = batch->tgt_in[(size_t)b * T + t];
            if (!teacher && t > 0)
                y = argmax(ws->logits + ((size_t)(t - 1) * B + b) * V, V);
            ws->dec_tokens[(size_t)t * B + b] = y;
            rs_real *x = ws->dec[0].in + ((size_t)t * B + b) * In0;
            memcpy(x, p->dec_embedding + (size_t)y * E, (size_t)E * sizeof *x);
            if (ws->dropout_on)
                dropout(x, ws->dec_x_mask + ((size_t)t * B + b) * E, (size_t)E, pdrop, opts->rng);
        }
        attention_forward(ws, p, t, batch);
        for (int l = 0; l < L; l++) {
            dec_layer *dl = &ws->dec[l];
            int In = dec_input(cfg, l);
            rs_real *x = dl->in + (size_t)t * B * In;
            if (l > 0)
                memcpy(x, ws->dec[l - 1].h + (size_t)(t + 1) * BH, BH * sizeof *x);
            rs_real *a = dl->gates + (size_t)t * B * G;
            const rs_rnn_weights *w = &p->dec[l];
            rs_gemm(0, 1, B, G, In, 1, x, In, w->weight_ih, In, 0, a, G);
            for (int b = 0; b < B; b++)
                for (int j = 0; j < G; j++)
                    a[(size_t)b * G + j] += w->bias_ih[j];
            const rs_real *hp = dl->h + (size_t)t * BH;
            rs_gemm(0, 1, B, G, H, 1, hp, H, w->weight_hh, H, 0, ws->recur, G);
            rs_cell_rows(cfg->cell, B, H, a, ws->recur, w->bias_hh, hp,
                         lstm ? dl->c + (size_t)t * BH : NULL, dl->h + (size_t)(t + 1) * BH,
                         lstm ? dl->c + (size_t)(t + 1) * BH : NULL,
                         dl->hn ? dl->hn + (size_t)t * BH : NULL);
        }
        rs_real *feat = ws->feat + (size_t)t * BH;
        memcpy(feat, ws->dec[L - 1].h + (size_t)(t + 1) * BH, BH * sizeof *feat);
        if (ws->dropout_on)
            dropout(feat, ws->feat_mask + (size_t)t * BH, BH, pdrop, opts->rng);
        if (!teacher) /* the next step reads this one's argmax */
            head_rows(ws, p, (size_t)t * B, B);
    }
    if (teacher)
        head_rows(ws, p, 0, T * B);

    /* the loss: mean −ln p over the non-padding targets */
    double total = 0;
    long count = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            int y = batch->tgt_out[(size_t)b * T + t];
            if (y < 0)
                continue;
            /* the probabilities go where the backward pass reads them */
            size_t row = ((size_t)t * B + b) * V;
            const rs_real *z = ws->logits + row;
            rs_real *prob = ws->dlogits + row, max;
            double sum = rs_softmax_exp(z, prob, V, &max);
            rs_real inv = (rs_real)(1.0 / sum);
            for (int v = 0; v < V; v++)
                prob[v] *= inv;
            total += (double)max + log(sum) - (double)z[y];
            count++;
        }
    ws->count = count;
    return count ? total / (double)count : 0.0;
}

/* ---- backward ----------------------------------------------------------- */

/* dst (rows, cols) += Σ over rows of src into a bias (cols). */
static void add_rows(rs_real *bias, const rs_real *src, size_t rows, int cols)
{
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            bias[j] += src[r * cols + j];
}

/* The weight gradients of one layer/direction from its gate gradients:
 * dW_ih += dgxᵀ in, db_ih += Σ dgx, dW_hh += dghᵀ hp, db_hh += Σ dgh. */
static void cell_weight_grads(rs_rnn_weights *gw, int rows, int G, int In, int H,
                              const rs_real *dgx, const rs_real *dgh, const rs_real *in,
                              const rs_real *hp)
{
    rs_gemm(1, 0, G, In, rows, 1, dgx, G, in, In, 1, gw->weight_ih, In);
    rs_gemm(1, 0, G, H, rows, 1, dgh, G, hp, H, 1, gw->weight_hh, H);
    add_rows(gw->bias_ih, dgx, (size_t)rows, G);
    add_rows(gw->bias_hh, dgh, (size_t)rows, G);
}

/* Backward of attention at step t given dctx (B, HD): into dK, duk, and the
 * top layer's running gradient through the query. */
static void attention_backward(rs_s2s_workspace *ws, const rs_s2s_params *p, rs_s2s_params *g,
                               int t, const rs_real *dctx, int dctx_stride,
                               const rs_pair_batch *batch)
{
    const rs_s2s_config *cfg = &ws->cfg;
    int B = batch->B, S = batch->S, H = cfg->hidden_size, HD = H * directions(cfg);
    int L = cfg->num_layers;
    const rs_real *K = ws->enc_out[L - 1];
    memset(ws->dq, 0, (size_t)B * H * sizeof *ws->dq);
    for (int b = 0; b < B; b++) {
        const rs_real *a = ws->att + ((size_t)t * B + b) * S;
        const rs_real *dc = dctx + (size_t)b * dctx_stride;
        rs_real *dq = ws->dq + (size_t)b * H;
        int len = batch->src_len[b];
        double *da = ws->da, dot = 0;
        for (int s = 0; s < len; s++) {
            const rs_real *k = K + ((size_t)s * B + b) * HD;
            rs_real *dk = ws->dK + ((size_t)s * B + b) * HD;
            double v = 0;
            for (int j = 0; j < HD; j++) {
                v += (double)dc[j] * k[j];
                dk[j] += a[s] * dc[j];
            }
            da[s] = v;
            dot += (double)a[s] * v;
        }
        for (int s = 0; s < len; s++) {
            rs_real de = (rs_real)((double)a[s] * (da[s] - dot));
            const rs_real *u = ws->u + (((size_t)t * S + s) * B + b) * H;
            rs_real *duk = ws->duk + ((size_t)s * B + b) * H;
            g->va_bias[0] += de;
            for (int j = 0; j < H; j++) {
                g->va_weight[j] += de * u[j];
                rs_real dpre = de * p->va_weight[j] * ((rs_real)1 - u[j] * u[j]);
                dq[j] += dpre;
                duk[j] += dpre;
            }
        }
    }
    const rs_real *hq = ws->dec[L - 1].h + (size_t)t * B * H;
    rs_gemm(1, 0, H, H, B, 1, ws->dq, H, hq, H, 1, g->wa_weight, H);
    add_rows(g->wa_bias, ws->dq, (size_t)B, H);
    rs_gemm(0, 0, B, H, H, 1, ws->dq, H, p->wa_weight, H, 1, ws->dh[L - 1], H);
}

/* Gate gradients of one row of one step (cells.h): dh in = dL/dh_t, out =
 * the part of dL/dh_{t−1} that bypasses W_hh; dc in/out likewise (LSTM). */
static void cell_row_backward(rs_cell cell, int H, const rs_real *gates, const rs_real *h,
                              const rs_real *c, const rs_real *cp, const rs_real *hp,
                              const rs_real *hn, rs_real *dh, rs_real *dc, rs_real *dgx,
                              rs_real *dgh)
{
    switch (cell) {
    case RS_CELL_RNN:
        rs_rnn_gates_backward(H, h, dh, dgx);
        break;
    case RS_CELL_LSTM:
        rs_lstm_gates_backward(H, gates, c, cp, dh, dc, dgx);
        break;
    case RS_CELL_GRU:
        rs_gru_gates_backward(H, gates, hp, hn, dh, dgx, dgh);
        break;
    }
}

/* Backward through one encoder direction given ws->denc (S, B, HD), the
 * gradient w.r.t. the layer's outputs, and dfinal_h/c (B, H) w.r.t. its
 * final state; adds the input gradient into dencin (S, B, In). */
static void encoder_direction_backward(rs_s2s_workspace *ws, const rs_rnn_weights *w,
                                       rs_rnn_weights *gw, int l, int dir, const rs_real *in,
                                       int In, const rs_real *dfinal_h, const rs_real *dfinal_c,
                                       const rs_pair_batch *batch)
{
    const rs_s2s_config *cfg = &ws->cfg;
    int B = batch->B, S = batch->S, H = cfg->hidden_size, HD = H * directions(cfg);
    int G = rs_cell_gates(cfg->cell) * H, lstm = cfg->cell == RS_CELL_LSTM;
    int gru = cfg->cell == RS_CELL_GRU;
    size_t BH = (size_t)B * H;
    enc_dir *e = &ws->enc[l][dir];
    rs_real *dh = ws->drun, *dc = ws->dcrun;
    memcpy(dh, dfinal_h, BH * sizeof *dh);
    if (lstm)
        memcpy(dc, dfinal_c, BH * sizeof *dc);
    rs_real *dgh_all = gru ? e->dgh : e->dgx;
    for (int k = S - 1; k >= 0; k--) {
        int s = dir ? S - 1 - k : k;
        size_t sb = (size_t)s * B;
        rs_real *dgx = e->dgx + sb * G, *dgh = dgh_all + sb * G;
        for (int b = 0; b < B; b++) {
            rs_real *dhb = dh + (size_t)b * H;
            const rs_real *dy = ws->denc + (sb + b) * HD + dir * H;
            for (int j = 0; j < H; j++)
                dhb[j] += dy[j];
            if (s >= batch->src_len[b]) {
                /* padding: the state was carried, so is its gradient */
                memset(dgx + (size_t)b * G, 0, (size_t)G * sizeof *dgx);
                if (gru)
                    memset(dgh + (size_t)b * G, 0, (size_t)G * sizeof *dgh);
                continue;
            }
            size_t r = (sb + b) * H;
            cell_row_backward(
                cfg->cell, H, e->gates + (sb + b) * G, ws->enc_out[l] + (sb + b) * HD + dir * H,
                lstm ? e->c + r : NULL, lstm ? e->cp + r : NULL, e->hp + r, gru ? e->hn + r : NULL,
                dhb, lstm ? dc + (size_t)b * H : NULL, dgx + (size_t)b * G, dgh + (size_t)b * G);
        }
        /* dh_{s−1} += dgh · W_hh (padded rows have dgh = 0: they pass through) */
        rs_gemm(0, 0, B, H, G, 1, dgh, G, w->weight_hh, H, 1, dh, H);
    }
    cell_weight_grads(gw, S * B, G, In, H, e->dgx, dgh_all, in, e->hp);
    /* the input gradient: (S·B, G) × (G, In) */
    rs_gemm(0, 0, S * B, In, G, 1, e->dgx, G, w->weight_ih, In, 1, ws->dencin, In);
}

/* The gradient w.r.t. the decoder's initial state (ws->dh, ws->dc) back to
 * the encoder's final states of layer l: dfinal (B, 2H) = [fwd; bwd] for
 * h (which = 0) or c (which = 1). */
static void bridge_backward(rs_s2s_workspace *ws, const rs_s2s_params *p, rs_s2s_params *g, int l,
                            int which, const rs_pair_batch *batch)
{
    int B = batch->B, H = ws->cfg.hidden_size;
    const rs_real *init = which ? ws->dec[l].c : ws->dec[l].h; /* slab 0 */
    rs_real *d = which ? ws->dc[l] : ws->dh[l];
    rs_real *dpre = ws->dq; /* (B, H) */
    for (size_t i = 0; i < (size_t)B * H; i++)
        dpre[i] = d[i] * ((rs_real)1 - init[i] * init[i]);
    rs_gemm(1, 0, H, 2 * H, B, 1, dpre, H, ws->bridge_in[l][which], 2 * H, 1, g->bridge_weight,
            2 * H);
    add_rows(g->bridge_bias, dpre, (size_t)B, H);
    rs_gemm(0, 0, B, 2 * H, H, 1, dpre, H, p->bridge_weight, 2 * H, 0, ws->dfinal, 2 * H);
}

void rs_s2s_backward(rs_s2s_workspace *ws, const rs_s2s_params *p, rs_s2s_params *g,
                     const rs_pair_batch *batch)
{
    const rs_s2s_config *cfg = &ws->cfg;
    int B = batch->B, S = batch->S, T = batch->T;
    int H = cfg->hidden_size, E = cfg->embedding_dim, D = directions(cfg), HD = H * D;
    int G = rs_cell_gates(cfg->cell) * H, L = cfg->num_layers, V = cfg->tgt_vocab;
    int lstm = cfg->cell == RS_CELL_LSTM, gru = cfg->cell == RS_CELL_GRU;
    size_t BH = (size_t)B * H, TB = (size_t)T * B;
    if (ws->count == 0)
        return;

    /* the loss: dlogits = (softmax − onehot) / count on non-padding targets;
     * the forward left the softmax in dlogits */
    rs_real inv = (rs_real)(1.0 / (double)ws->count);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            size_t row = (size_t)t * B + b;
            rs_real *dz = ws->dlogits + row * V;
            int y = batch->tgt_out[(size_t)b * T + t];
            if (y < 0) {
                memset(dz, 0, (size_t)V * sizeof *dz);
                continue;
            }
            for (int v = 0; v < V; v++) /* the forward's probabilities */
                dz[v] *= inv;
            dz[y] -= inv;
        }
    /* the head: one GEMM each over all T·B rows */
    rs_gemm(1, 0, V, H, (int)TB, 1, ws->dlogits, V, ws->feat, H, 1, g->head_weight, H);
    add_rows(g->head_bias, ws->dlogits, TB, V);
    rs_gemm(0, 0, (int)TB, H, V, 1, ws->dlogits, V, p->head_weight, H, 0, ws->dfeat, H);
    if (ws->dropout_on)
        for (size_t i = 0; i < TB * H; i++)
            ws->dfeat[i] *= ws->feat_mask[i];

    /* the decoder, backwards through time, top layer first */
    for (int l = 0; l < L; l++) {
        memset(ws->dh[l], 0, BH * sizeof(rs_real));
        memset(ws->dc[l], 0, BH * sizeof(rs_real));
    }
    memset(ws->dK, 0, (size_t)S * B * HD * sizeof(rs_real));
    memset(ws->duk, 0, (size_t)S * B * H * sizeof(rs_real));
    int In0 = E + HD;
    for (int t = T - 1; t >= 0; t--) {
        for (size_t i = 0; i < BH; i++)
            ws->dh[L - 1][i] += ws->dfeat[(size_t)t * BH + i];
        for (int l = L - 1; l >= 0; l--) {
            dec_layer *dl = &ws->dec[l];
            int In = dec_input(cfg, l);
            rs_real *dgx = dl->dgx + (size_t)t * B * G;
            rs_real *dgh = (gru ? dl->dgh : dl->dgx) + (size_t)t * B * G;
            for (int b = 0; b < B; b++) {
                size_t r = ((size_t)t * B + b) * H, r1 = ((size_t)(t + 1) * B + b) * H;
                cell_row_backward(cfg->cell, H, dl->gates + ((size_t)t * B + b) * G, dl->h + r1,
                                  lstm ? dl->c + r1 : NULL, lstm ? dl->c + r : NULL, dl->h + r,
                                  gru ? dl->hn + r : NULL, ws->dh[l] + (size_t)b * H,
                                  lstm ? ws->dc[l] + (size_t)b * H : NULL, dgx + (size_t)b * G,
                                  dgh + (size_t)b * G);
            }
            rs_gemm(0, 0, B, H, G, 1, dgh, G, p->dec[l].weight_hh, H, 1, ws->dh[l], H);
            /* the input's gradient: to the layer below, or [embedding; context] */
            rs_gemm(0, 0, B, In, G, 1, dgx, G, p->dec[l].weight_ih, In, 0, ws->din, In);
            if (l > 0)
                for (size_t i = 0; i < BH; i++)
                    ws->dh[l - 1][i] += ws->din[i];
        }
        /* layer 0's input: the embedding of the token read, then the context */
        for (int b = 0; b < B; b++) {
            const rs_real *dx = ws->din + (size_t)b * In0;
            rs_real *de = g->dec_embedding + (size_t)ws->dec_tokens[(size_t)t * B + b] * E;
            const rs_real *mask = ws->dec_x_mask + ((size_t)t * B + b) * E;
            for (int j = 0; j < E; j++)
                de[j] += ws->dropout_on ? dx[j] * mask[j] : dx[j];
        }
        attention_backward(ws, p, g, t, ws->din + E, In0, batch);
    }
    for (int l = 0; l < L; l++) {
        dec_layer *dl = &ws->dec[l];
        cell_weight_grads(&g->dec[l], (int)TB, G, dec_input(cfg, l), H, dl->dgx,
                          gru ? dl->dgh : dl->dgx, dl->in, dl->h);
    }
    /* the keys' projection: uk = Ua K + b */
    const rs_real *K = ws->enc_out[L - 1];
    rs_gemm(1, 0, H, HD, S * B, 1, ws->duk, H, K, HD, 1, g->ua_weight, HD);
    add_rows(g->ua_bias, ws->duk, (size_t)S * B, H);
    rs_gemm(0, 0, S * B, HD, H, 1, ws->duk, H, p->ua_weight, HD, 1, ws->dK, HD);

    /* the encoder, top layer first; its top outputs' gradient is dK */
    memcpy(ws->denc, ws->dK, (size_t)S * B * HD * sizeof(rs_real));
    rs_real *dfh = ws->dfh, *dfc = ws->dfc;
    for (int l = L - 1; l >= 0; l--) {
        /* the final states' gradients, per direction (B, H) */
        for (int which = 0; which < (lstm ? 2 : 1); which++) {
            rs_real *dst = which ? dfc : dfh;
            if (D == 1) {
                memcpy(dst, which ? ws->dc[l] : ws->dh[l], BH * sizeof *dst);
                continue;
            }
            bridge_backward(ws, p, g, l, which, batch);
            for (int b = 0; b < B; b++)
                for (int d = 0; d < 2; d++)
                    memcpy(dst + (size_t)d * BH + (size_t)b * H,
                           ws->dfinal + (size_t)b * 2 * H + (size_t)d * H, (size_t)H * sizeof *dst);
        }
        int In = enc_input(cfg, l);
        const rs_real *in = l == 0 ? ws->enc_x : ws->enc_out[l - 1];
        memset(ws->dencin, 0, (size_t)S * B * In * sizeof(rs_real));
        for (int d = 0; d < D; d++)
            encoder_direction_backward(ws, &p->enc[l][d], &g->enc[l][d], l, d, in, In,
                                       dfh + (size_t)d * BH, lstm ? dfc + (size_t)d * BH : NULL,
                                       batch);
        if (l > 0)
            memcpy(ws->denc, ws->dencin, (size_t)S * B * HD * sizeof(rs_real));
    }
    /* the source embeddings */
    for (int s = 0; s < S; s++)
        for (int b = 0; b < B; b++) {
            const rs_real *dx = ws->dencin + ((size_t)s * B + b) * E;
            const rs_real *mask = ws->enc_x_mask + ((size_t)s * B + b) * E;
            rs_real *de = g->enc_embedding + (size_t)batch->src[(size_t)b * S + s] * E;
            for (int j = 0; j < E; j++)
                de[j] += ws->dropout_on ? dx[j] * mask[j] : dx[j];
        }
}
