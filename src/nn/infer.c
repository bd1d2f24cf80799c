/*
 * infer.c — prepared weights, the batched generator step and the batched
 * classifier (see infer.h), float, no allocation after creation.
 *
 * The equations are network.c's (PyTorch's, gate order i,f,g,o and r,z,n):
 * per layer the input projection ax = W_ih x + b_ih, the recurrent product
 * rh = W_hh h, then the cell's elementwise update with b_hh.  Every product
 * is an rs_linear over the rows of the batch, whose per-element arithmetic
 * does not depend on the batch; the elementwise code works row by row.  So
 * a row's numbers never depend on its neighbours.
 *
 * Tables: layer 0's input is an embedding row (⊕ a category embedding
 * row), so its projection takes only V (+ C) distinct values per
 * direction; they are computed once per model and a step reads a row
 * instead of a (G, E) product.
 *
 * Shapes: R rows (max_rows), n rows in use, T time, H hidden, D
 * directions, G gate rows, In a layer's input width, V vocabulary, K
 * outputs, L layers.
 */
#include "rnnserve/infer.h"
#include "fastmath.h"
#include "linear.h"

#include <stdlib.h>
#include <string.h>

struct rs_infer_model {
    rs_config cfg;
    const rs_params *p;                    /* embeddings and biases */
    rs_linear_weight ih[RS_MAX_LAYERS][2]; /* W_ih (G, In); layer 0 only without tables */
    rs_linear_weight hh[RS_MAX_LAYERS][2]; /* W_hh (G, H) */
    rs_linear_weight head;                 /* (K, H·D) */
    float *token_table[2];                 /* (V, G) per direction: emb · W_ih[:, :E]ᵀ + b_ih */
    float *category_table;                 /* (C, G): cat_emb · W_ih[:, E:]ᵀ; NULL if none */
    int tables;
    size_t bytes;
};

static size_t packed_bytes(const rs_linear_weight *w)
{
    size_t panels = ((size_t)w->N + RS_LINEAR_PANEL - 1) / RS_LINEAR_PANEL;
    return panels * (size_t)w->K * RS_LINEAR_PANEL * sizeof(float);
}

static int pack(rs_infer_model *im, rs_linear_weight *w, const float *W, int N, int K, size_t ldw)
{
    if (rs_linear_pack(w, W, N, K, ldw) != 0)
        return -1;
    im->bytes += packed_bytes(w);
    return 0;
}

/* The per-token and per-category tables of layer 0 (see the file comment). */
static int build_tables(rs_infer_model *im)
{
    const rs_config *cfg = &im->cfg;
    const rs_params *p = im->p;
    int D = rs_config_directions(cfg), G = rs_cell_gates(cfg->cell) * cfg->hidden_size;
    int V = cfg->vocab_size, E = cfg->embedding_dim, Ec = cfg->category_dim;
    int C = cfg->n_categories;
    size_t In = (size_t)rs_config_layer_input(cfg, 0);
    for (int d = 0; d < D; d++) {
        rs_linear_weight w;
        im->token_table[d] = malloc((size_t)V * G * sizeof(float));
        /* W_ih[:, :E] (G, E) with row stride In */
        if (!im->token_table[d] || rs_linear_pack(&w, p->rnn[0][d].weight_ih, G, E, In) != 0)
            return -1;
        rs_linear(&w, V, p->embedding, (size_t)E, p->rnn[0][d].bias_ih, im->token_table[d],
                  (size_t)G);
        rs_linear_weight_free(&w);
        im->bytes += (size_t)V * G * sizeof(float);
    }
    if (Ec > 0 && C > 0) {
        rs_linear_weight w;
        im->category_table = malloc((size_t)C * G * sizeof(float));
        if (!im->category_table || rs_linear_pack(&w, p->rnn[0][0].weight_ih + E, G, Ec, In) != 0)
            return -1;
        rs_linear(&w, C, p->category_embedding, (size_t)Ec, NULL, im->category_table, (size_t)G);
        rs_linear_weight_free(&w);
        im->bytes += (size_t)C * G * sizeof(float);
    }
    return 0;
}

rs_infer_model *rs_infer_model_create(const rs_config *cfg, const rs_params *p, int input_tables)
{
    rs_infer_model *im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    im->cfg = *cfg;
    im->p = p;
    im->tables = input_tables ? 1 : 0;
    int H = cfg->hidden_size, D = rs_config_directions(cfg), G = rs_cell_gates(cfg->cell) * H;
    for (int l = 0; l < cfg->num_layers; l++)
        for (int d = 0; d < D; d++) {
            int In = rs_config_layer_input(cfg, l);
            if ((l > 0 || !im->tables) &&
                pack(im, &im->ih[l][d], p->rnn[l][d].weight_ih, G, In, (size_t)In) != 0)
                goto fail;
            if (pack(im, &im->hh[l][d], p->rnn[l][d].weight_hh, G, H, (size_t)H) != 0)
                goto fail;
        }
    if (pack(im, &im->head, p->head_weight, cfg->n_outputs, H * D, (size_t)H * D) != 0)
        goto fail;
    if (im->tables && build_tables(im) != 0)
        goto fail;
    return im;
fail:
    rs_infer_model_destroy(im);
    return NULL;
}

void rs_infer_model_destroy(rs_infer_model *im)
{
    if (!im)
        return;
    for (int l = 0; l < RS_MAX_LAYERS; l++)
        for (int d = 0; d < 2; d++) {
            rs_linear_weight_free(&im->ih[l][d]);
            rs_linear_weight_free(&im->hh[l][d]);
        }
    rs_linear_weight_free(&im->head);
    free(im->token_table[0]);
    free(im->token_table[1]);
    free(im->category_table);
    free(im);
}

const rs_config *rs_infer_model_config(const rs_infer_model *im) { return &im->cfg; }
size_t rs_infer_model_bytes(const rs_infer_model *im) { return im->bytes; }

/* One cell update of h (and c) in place from ax = W_ih x + b_ih and rh = W_hh h.
 * Compiled for AVX-512, AVX2 and the baseline, chosen at load by the
 * processor (GCC's function multiversioning): a serving profile spent as
 * much time here as in the products once those were batched.  The clones
 * do the same float operations (no contraction into fma: ISO C mode), so
 * they give the same numbers. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RS_VECTOR_CLONES                                                                           \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RS_VECTOR_CLONES
#endif
RS_VECTOR_CLONES
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

/* ax (G) = layer 0's input projection of token (and category) from the tables. */
static void table_projection(const rs_infer_model *im, int d, int32_t token, int category, int G,
                             float *restrict ax)
{
    memcpy(ax, im->token_table[d] + (size_t)token * G, (size_t)G * sizeof(float));
    if (im->category_table && category >= 0) {
        const float *cat = im->category_table + (size_t)category * G;
        for (int j = 0; j < G; j++)
            ax[j] += cat[j];
    }
}

/* x (In0) = [embedding(token); category_embedding(category)] */
static void layer0_input(const rs_infer_model *im, int32_t token, int category, float *x)
{
    const rs_config *cfg = &im->cfg;
    int E = cfg->embedding_dim, Ec = cfg->category_dim;
    memcpy(x, im->p->embedding + (size_t)token * E, (size_t)E * sizeof(float));
    if (Ec > 0)
        memcpy(x + E, im->p->category_embedding + (size_t)(category >= 0 ? category : 0) * Ec,
               (size_t)Ec * sizeof(float));
}

/* ---- the generator step ------------------------------------------------ */

struct rs_stepper {
    const rs_infer_model *im;
    int R;
    int *category;  /* (R) */
    float *h, *c;   /* (L, R, H) states, layer-major so that a layer's rows are one matrix */
    float *x0;      /* (R, In0) layer 0's input, without tables */
    float *ax, *rh; /* (R, G) */
    float *logits;  /* (R, V) */
    rs_team *team;  /* shares the products of steps of at most team_rows rows */
    int team_rows;
};

void rs_stepper_set_team(rs_stepper *st, rs_team *t, int max_rows)
{
    st->team = t;
    st->team_rows = max_rows;
}

/* rs_linear, or its two-thread form for a step of few rows (same numbers). */
static void step_linear(const rs_stepper *st, int n, const rs_linear_weight *w, const float *X,
                        size_t ldx, const float *bias, float *Y, size_t ldy)
{
    if (st->team && n <= st->team_rows)
        rs_linear_team(st->team, w, n, X, ldx, bias, Y, ldy);
    else
        rs_linear(w, n, X, ldx, bias, Y, ldy);
}

rs_stepper *rs_stepper_create(const rs_infer_model *im, int max_rows)
{
    if (max_rows < 1)
        return NULL;
    rs_stepper *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    const rs_config *cfg = &im->cfg;
    size_t R = (size_t)max_rows, H = (size_t)cfg->hidden_size, L = (size_t)cfg->num_layers;
    size_t G = (size_t)rs_cell_gates(cfg->cell) * H, K = (size_t)cfg->n_outputs;
    st->im = im;
    st->R = max_rows;
    st->category = calloc(R, sizeof *st->category);
    st->h = calloc(L * R * H, sizeof(float));
    st->c = calloc(L * R * H, sizeof(float));
    st->x0 = calloc(R * (size_t)rs_config_layer_input(cfg, 0), sizeof(float));
    st->ax = calloc(R * G, sizeof(float));
    st->rh = calloc(R * G, sizeof(float));
    st->logits = calloc(R * K, sizeof(float));
    if (!st->category || !st->h || !st->c || !st->x0 || !st->ax || !st->rh || !st->logits) {
        rs_stepper_destroy(st);
        return NULL;
    }
    for (int i = 0; i < max_rows; i++)
        st->category[i] = -1;
    return st;
}

void rs_stepper_destroy(rs_stepper *st)
{
    if (!st)
        return;
    free(st->category);
    free(st->h);
    free(st->c);
    free(st->x0);
    free(st->ax);
    free(st->rh);
    free(st->logits);
    free(st);
}

void rs_stepper_reset(rs_stepper *st, int row, int category)
{
    size_t H = (size_t)st->im->cfg.hidden_size;
    for (int l = 0; l < st->im->cfg.num_layers; l++) {
        size_t at = ((size_t)l * st->R + (size_t)row) * H;
        memset(st->h + at, 0, H * sizeof(float));
        memset(st->c + at, 0, H * sizeof(float));
    }
    st->category[row] = category;
}

void rs_stepper_move(rs_stepper *st, int to, int from)
{
    if (to == from)
        return;
    size_t H = (size_t)st->im->cfg.hidden_size;
    for (int l = 0; l < st->im->cfg.num_layers; l++) {
        size_t a = ((size_t)l * st->R + (size_t)to) * H, b = ((size_t)l * st->R + (size_t)from) * H;
        memcpy(st->h + a, st->h + b, H * sizeof(float));
        memcpy(st->c + a, st->c + b, H * sizeof(float));
    }
    st->category[to] = st->category[from];
}

const float *rs_stepper_step(rs_stepper *st, const int32_t *tokens, int n)
{
    const rs_infer_model *im = st->im;
    const rs_config *cfg = &im->cfg;
    const rs_params *p = im->p;
    int H = cfg->hidden_size, G = rs_cell_gates(cfg->cell) * H;
    size_t R = (size_t)st->R;
    if (n < 1 || n > st->R)
        return NULL;
    if (im->tables) {
        for (int i = 0; i < n; i++)
            table_projection(im, 0, tokens[i], st->category[i], G, st->ax + (size_t)i * G);
    } else {
        size_t In0 = (size_t)rs_config_layer_input(cfg, 0);
        for (int i = 0; i < n; i++)
            layer0_input(im, tokens[i], st->category[i], st->x0 + (size_t)i * In0);
        step_linear(st, n, &im->ih[0][0], st->x0, In0, p->rnn[0][0].bias_ih, st->ax, (size_t)G);
    }
    for (int l = 0; l < cfg->num_layers; l++) {
        float *h = st->h + (size_t)l * R * H, *c = st->c + (size_t)l * R * H;
        if (l > 0) /* ax (n, G) = h of the layer below (n, H) · W_ihᵀ + b_ih */
            step_linear(st, n, &im->ih[l][0], h - R * H, (size_t)H, p->rnn[l][0].bias_ih, st->ax,
                        (size_t)G);
        step_linear(st, n, &im->hh[l][0], h, (size_t)H, NULL, st->rh, (size_t)G);
        for (int i = 0; i < n; i++)
            cell_update(cfg->cell, H, st->ax + (size_t)i * G, st->rh + (size_t)i * G,
                        p->rnn[l][0].bias_hh, h + (size_t)i * H, c + (size_t)i * H);
    }
    const float *top = st->h + (size_t)(cfg->num_layers - 1) * R * H;
    step_linear(st, n, &im->head, top, (size_t)H, p->head_bias, st->logits, (size_t)cfg->n_outputs);
    return st->logits;
}

/* ---- the classifier ---------------------------------------------------- */

struct rs_classifier {
    const rs_infer_model *im;
    int R, T;
    int *order;           /* (R) rows by length, longest first */
    const float **ax_at;  /* (R) a row's input projection at this step (tables) */
    float *x;             /* (R, max(In)) inputs of the rows at this step, gathered */
    float *ax, *rh;       /* (R, G) */
    float *h, *c;         /* (R, H) states, in `order` */
    float *seq_a, *seq_b; /* (R, T, H·D) a layer's output sequence, when L > 1 */
    float *feat;          /* (R, H·D) top layer: forward final ⊕ backward final */
    float *logits;        /* (R, K) */
};

rs_classifier *rs_classifier_create(const rs_infer_model *im, int max_rows, int max_len)
{
    const rs_config *cfg = &im->cfg;
    if (max_rows < 1 || max_len < 1 || cfg->task != RS_TASK_CLASSIFIER)
        return NULL;
    rs_classifier *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    size_t R = (size_t)max_rows, T = (size_t)max_len, H = (size_t)cfg->hidden_size;
    size_t D = (size_t)rs_config_directions(cfg), G = (size_t)rs_cell_gates(cfg->cell) * H;
    size_t In0 = (size_t)rs_config_layer_input(cfg, 0), W = In0 > H * D ? In0 : H * D;
    c->im = im;
    c->R = max_rows;
    c->T = max_len;
    c->order = calloc(R, sizeof *c->order);
    c->ax_at = calloc(R, sizeof *c->ax_at);
    c->x = calloc(R * W, sizeof(float));
    c->ax = calloc(R * G, sizeof(float));
    c->rh = calloc(R * G, sizeof(float));
    c->h = calloc(R * H, sizeof(float));
    c->c = calloc(R * H, sizeof(float));
    c->feat = calloc(R * H * D, sizeof(float));
    c->logits = calloc(R * (size_t)cfg->n_outputs, sizeof(float));
    int ok = c->order && c->ax_at && c->x && c->ax && c->rh && c->h && c->c && c->feat && c->logits;
    if (ok && cfg->num_layers > 1) {
        c->seq_a = calloc(R * T * H * D, sizeof(float));
        c->seq_b = calloc(R * T * H * D, sizeof(float));
        ok = c->seq_a && c->seq_b;
    }
    if (!ok) {
        rs_classifier_destroy(c);
        return NULL;
    }
    return c;
}

void rs_classifier_destroy(rs_classifier *c)
{
    if (!c)
        return;
    free(c->order);
    free(c->ax_at);
    free(c->x);
    free(c->ax);
    free(c->rh);
    free(c->h);
    free(c->c);
    free(c->seq_a);
    free(c->seq_b);
    free(c->feat);
    free(c->logits);
    free(c);
}

const float *rs_classifier_run(rs_classifier *c, const int32_t *const *tokens, const int *lengths,
                               int n)
{
    const rs_infer_model *im = c->im;
    const rs_config *cfg = &im->cfg;
    const rs_params *p = im->p;
    if (n < 1 || n > c->R)
        return NULL;
    int longest = 0;
    for (int i = 0; i < n; i++) {
        if (lengths[i] < 1 || lengths[i] > c->T)
            return NULL;
        longest = lengths[i] > longest ? lengths[i] : longest;
    }
    /* rows by length, longest first (insertion sort, stable): at step k the
     * rows still running are order[0..m) */
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && lengths[c->order[j - 1]] < lengths[i]) {
            c->order[j] = c->order[j - 1];
            j--;
        }
        c->order[j] = i;
    }
    int H = cfg->hidden_size, D = rs_config_directions(cfg), HD = H * D;
    int G = rs_cell_gates(cfg->cell) * H, L = cfg->num_layers;
    size_t T = (size_t)c->T;
    float *in_seq = c->seq_a, *out_seq = c->seq_b;
    for (int l = 0; l < L; l++) {
        int In = rs_config_layer_input(cfg, l), top = l == L - 1;
        int from_table = l == 0 && im->tables;
        for (int d = 0; d < D; d++) {
            const rs_rnn_weights *w = &p->rnn[l][d];
            memset(c->h, 0, (size_t)n * H * sizeof(float));
            memset(c->c, 0, (size_t)n * H * sizeof(float));
            int m = n;
            for (int k = 0; k < longest; k++) {
                while (lengths[c->order[m - 1]] <= k)
                    m--; /* rows that have ended keep their final state */
                for (int i = 0; i < m; i++) {
                    int b = c->order[i], t = d ? lengths[b] - 1 - k : k;
                    if (from_table) {
                        c->ax_at[i] = im->token_table[d] + (size_t)tokens[b][t] * G;
                    } else {
                        float *x = c->x + (size_t)i * In;
                        if (l == 0)
                            layer0_input(im, tokens[b][t], -1, x);
                        else
                            memcpy(x, in_seq + ((size_t)b * T + (size_t)t) * HD,
                                   (size_t)In * sizeof(float));
                        c->ax_at[i] = c->ax + (size_t)i * G;
                    }
                }
                if (!from_table)
                    rs_linear(&im->ih[l][d], m, c->x, (size_t)In, w->bias_ih, c->ax, (size_t)G);
                rs_linear(&im->hh[l][d], m, c->h, (size_t)H, NULL, c->rh, (size_t)G);
                for (int i = 0; i < m; i++) {
                    float *h = c->h + (size_t)i * H;
                    cell_update(cfg->cell, H, c->ax_at[i], c->rh + (size_t)i * G, w->bias_hh, h,
                                c->c + (size_t)i * H);
                    if (!top) {
                        int b = c->order[i], t = d ? lengths[b] - 1 - k : k;
                        memcpy(out_seq + ((size_t)b * T + (size_t)t) * HD + (size_t)d * H, h,
                               (size_t)H * sizeof(float));
                    }
                }
            }
            if (top) /* forward final ⊕ backward final (the state after t = 0) */
                for (int i = 0; i < n; i++)
                    memcpy(c->feat + (size_t)c->order[i] * HD + (size_t)d * H, c->h + (size_t)i * H,
                           (size_t)H * sizeof(float));
        }
        float *tmp = in_seq;
        in_seq = out_seq;
        out_seq = tmp;
    }
    rs_linear(&im->head, n, c->feat, (size_t)HD, p->head_bias, c->logits, (size_t)cfg->n_outputs);
    return c->logits;
}

/* ---- one sequence at a time -------------------------------------------- */

struct rs_infer {
    const rs_infer_model *im;
    rs_stepper *st;    /* generators */
    rs_classifier *cl; /* classifiers */
    int32_t fed;       /* the token rs_infer_step feeds */
    float *probs;      /* (max(V, K)) sampling scratch */
    int *order;        /* (max(V, K)) */
};

rs_infer *rs_infer_create(const rs_infer_model *im, int max_len)
{
    const rs_config *cfg = &im->cfg;
    rs_infer *inf = calloc(1, sizeof *inf);
    if (!inf)
        return NULL;
    inf->im = im;
    size_t V = (size_t)(cfg->vocab_size > cfg->n_outputs ? cfg->vocab_size : cfg->n_outputs);
    inf->probs = calloc(V, sizeof *inf->probs);
    inf->order = calloc(V, sizeof *inf->order);
    if (cfg->task == RS_TASK_CLASSIFIER)
        inf->cl = rs_classifier_create(im, 1, max_len);
    else
        inf->st = rs_stepper_create(im, 1);
    if (!inf->probs || !inf->order || (!inf->cl && !inf->st)) {
        rs_infer_destroy(inf);
        return NULL;
    }
    return inf;
}

void rs_infer_destroy(rs_infer *inf)
{
    if (!inf)
        return;
    rs_stepper_destroy(inf->st);
    rs_classifier_destroy(inf->cl);
    free(inf->probs);
    free(inf->order);
    free(inf);
}

const float *rs_infer_classify(rs_infer *inf, const int32_t *tokens, int n)
{
    if (!inf->cl)
        return NULL;
    return rs_classifier_run(inf->cl, &tokens, &n, 1);
}

void rs_infer_reset(rs_infer *inf, int category)
{
    if (inf->st)
        rs_stepper_reset(inf->st, 0, category);
}

const float *rs_infer_step(rs_infer *inf, int32_t token)
{
    if (!inf->st)
        return NULL;
    inf->fed = token;
    return rs_stepper_step(inf->st, &inf->fed, 1);
}

/* Runs d to its end on the one-row stepper. */
static void run_decode(rs_infer *inf, rs_decode *d)
{
    int V = inf->im->cfg.n_outputs;
    while (!d->done) {
        const float *logits = rs_infer_step(inf, d->next);
        rs_decode_advance(d, logits, V, inf->probs, inf->order);
    }
}

int rs_infer_decode(rs_infer *inf, rs_decode *d, int category)
{
    if (!inf->st)
        return -1;
    rs_infer_reset(inf, category);
    run_decode(inf, d);
    return 0;
}

int rs_infer_generate(rs_infer *inf, const rs_special_ids *ids, const int32_t *prefix, int n_prefix,
                      int category, int max_length, const rs_sampler *s, rs_rng *rng, int32_t *out,
                      int *n_out, double *log_prob, int *finished)
{
    rs_decode d;
    if (!inf->st ||
        rs_decode_init_generate(&d, ids, prefix, n_prefix, max_length, s, rng, out) != 0)
        return -1;
    rs_infer_reset(inf, category);
    run_decode(inf, &d);
    *n_out = d.n_out;
    *log_prob = d.log_prob;
    *finished = d.finished;
    return 0;
}

int rs_infer_score(rs_infer *inf, const rs_special_ids *ids, const int32_t *tokens, int n,
                   int category, double *log_prob)
{
    rs_decode d;
    if (!inf->st || rs_decode_init_score(&d, ids, tokens, n) != 0)
        return -1;
    rs_infer_reset(inf, category);
    run_decode(inf, &d);
    *log_prob = d.log_prob;
    return n + 1;
}
