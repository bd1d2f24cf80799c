/*
 * network.c — batched forward and backward through embedding, a stack of
 * rnn/lstm/gru layers (optionally bidirectional) and the linear head, with
 * softmax cross-entropy.  Training and evaluation use this path; one-sequence
 * inference for the daemon is in infer.c.
 *
 * Equations (PyTorch docs, torch.nn.RNN / LSTM / GRU), a = W_i* x + b_i* + W_h* h + b_h*:
 *   rnn:  h' = tanh(a)
 *   lstm: i,f,o = σ(a_i), σ(a_f), σ(a_o); g = tanh(a_g); c' = f⊙c + i⊙g; h' = o⊙tanh(c')
 *   gru:  r,z = σ(a_r), σ(a_z); n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn));
 *         h' = (1−z)⊙n + z⊙h
 *
 * Layout.  Everything is time-major inside: a sequence tensor is (T, B, W).
 * The input projection W_ih x + b_ih of every step is one GEMM of
 * (T·B, In) × (In, G); each step then does one GEMM (B, H) × (H, G) for the
 * recurrent product over the whole batch.
 *
 * Padding.  Row b is valid at step t iff t < length[b].  At an invalid step
 * the state is carried unchanged, which is exactly what a packed sequence
 * does: the forward direction ends with the state of step length−1 (carried
 * to T−1), and the reverse direction starts from zeros at step length−1.
 * Invalid steps get zero gradient, so padding never changes any result.
 *
 * Layer 0's input projection.  Its input is an embedding row (⊕ a category
 * row), so W_ih x + b_ih takes one of V (+ C) values: when the batch has
 * more (step, row) inputs than that, the forward builds the tables
 * (V, G) = embedding · W_ih[:, :E]ᵀ + b_ih and (C, G) = category_embedding ·
 * W_ih[:, E:]ᵀ and looks rows up, and the backward sums the gate gradients
 * of each token (and category) before its GEMMs: dW_ih = Sᵀ · embedding,
 * d embedding = S · W_ih.  That replaces three GEMMs over T·B rows by three
 * over V rows (rs_input_path).
 *
 * Weight dropout (DropConnect on W_hh, as AWD-LSTM's WeightDrop): each
 * forward draws one mask per recurrent matrix, mask ∈ {0, 1/(1−p)}, and every
 * step of the batch uses W_hh ⊙ mask; the backward uses the same matrix for
 * dh and takes dW_hh = dW' ⊙ mask.
 *
 * Threads.  A bidirectional layer's two directions share nothing they write
 * (each has its own gates, output half, scratch and gradient tensors), so
 * with rs_workspace_set_threads(ws, 2) they run at the same time, and
 * their input gradients are added afterwards in a fixed order.
 *
 * Layer outputs are stored with one zero time slab before and after,
 * (T + 2, B, H·D), so "the previous state" of every step, forward or
 * reverse, is a plain strided view and the weight gradient dW_hh of a whole
 * sequence is one GEMM.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "cells.h"
#include "fastmath.h"
#ifndef RS_REAL_IS_DOUBLE
#include "linear.h"
#endif
#include "rnnserve/nn.h"

#ifdef RS_REAL_IS_DOUBLE
#define EXP  exp
#define TANH tanh
#else
#define EXP  rs_exp_inline
#define TANH rs_tanh_inline
#endif

/* Buffers of one layer and direction. */
typedef struct dir_state {
    rs_real *gates;             /* (T, B, G): input projection, then post-activation gates */
    rs_real *cell;              /* (T + 2, B, H): LSTM cell state with zero slabs, else NULL */
    rs_real *hn;                /* (T, B, H): GRU W_hn h + b_hn, else NULL */
    rs_real *weight_hh_mask;    /* (G, H) weight-dropout mask of this batch */
    rs_real *weight_hh_dropped; /* (G, H) W_hh ⊙ mask */
} dir_state;

typedef struct layer_state {
    rs_real *out;     /* (T + 2, B, H·D): outputs with zero slabs */
    rs_real *in;      /* (T, B, In): this layer's input (after dropout for l > 0) */
    rs_real *in_mask; /* (T, B, In): dropout mask of the input */
    dir_state dir[2];
} layer_state;

/* Scratch of one direction: a bidirectional layer's two directions can run
 * at the same time (rs_workspace_set_threads), so each has its own. */
typedef struct dir_scratch {
    rs_real *recur;      /* (B, G): W_hh h + b_hh of one step */
    rs_real *dgate_x;    /* (T, B, G) gradient w.r.t. the input projection */
    rs_real *dgate_h;    /* (T, B, G) gradient w.r.t. W_hh h + b_hh (GRU only) */
    rs_real *dh;         /* (B, H) gradient flowing to the previous state */
    rs_real *dc;         /* (B, H) LSTM cell gradient flowing back */
    rs_real *dweight_hh; /* (G, H) dL/d(W_hh ⊙ mask) under weight dropout */
    rs_real *din;        /* (T, B, max In) this direction's input gradient (bidirectional) */
    /* layer 0's input tables (see the top), NULL when they can never pay:
     * forward, W_ih x + b_ih of each token (V, G) and category (C, G);
     * backward, the sums of each token's (category's) gate gradients */
    rs_real *token_table;
    rs_real *category_table;
} dir_scratch;

struct rs_workspace {
    rs_config cfg;
    int max_batch, max_time;
    layer_state layer[RS_MAX_LAYERS];
    rs_real *features;     /* head input: classifier (B, H·D); generator (T, B, H·D) */
    rs_real *feature_mask; /* dropout mask of the head input */
    rs_real *logits;       /* classifier (B, K); generator (T, B, K) */
    /* backward scratch */
    rs_real *dlogits;    /* as logits */
    rs_real *dfeat;      /* as features */
    rs_real *dout;       /* (T + 2, B, H·D) gradient w.r.t. a layer's outputs */
    rs_real *din;        /* (T, B, max In) gradient w.r.t. a layer's input */
    rs_real *row_weight; /* (rows) class weight of each target, 0 for padded steps */
    dir_scratch scratch[2];
    /* what the last forward saw */
    int B, T;
    int dropout_on;        /* between layers and before the head */
    int input_dropout_on;  /* on layer 0's input */
    int weight_dropout_on; /* on every W_hh */
    int tables_on;         /* layer 0's input projection through the tables */
    int threads;           /* 2: a bidirectional layer's directions on two threads */
};

static rs_real *alloc_reals(size_t n, int *failed)
{
    rs_real *p = calloc(n ? n : 1, sizeof(rs_real));
    if (!p)
        *failed = 1;
    return p;
}

rs_workspace *rs_workspace_create(const rs_config *cfg, int max_batch, int max_time)
{
    rs_workspace *ws = calloc(1, sizeof *ws);
    if (!ws)
        return NULL;
    ws->cfg = *cfg;
    ws->max_batch = max_batch;
    ws->max_time = max_time;
    size_t B = (size_t)max_batch, T = (size_t)max_time, H = (size_t)cfg->hidden_size;
    size_t D = (size_t)rs_config_directions(cfg), G = (size_t)rs_cell_gates(cfg->cell) * H;
    size_t K = (size_t)cfg->n_outputs;
    size_t max_in = 0;
    int failed = 0;
    for (int l = 0; l < cfg->num_layers; l++) {
        size_t In = (size_t)rs_config_layer_input(cfg, l);
        if (In > max_in)
            max_in = In;
        layer_state *ls = &ws->layer[l];
        ls->out = alloc_reals((T + 2) * B * H * D, &failed);
        ls->in = alloc_reals(T * B * In, &failed);
        ls->in_mask = alloc_reals(T * B * In, &failed);
        for (size_t d = 0; d < D; d++) {
            ls->dir[d].gates = alloc_reals(T * B * G, &failed);
            if (cfg->cell == RS_CELL_LSTM)
                ls->dir[d].cell = alloc_reals((T + 2) * B * H, &failed);
            if (cfg->cell == RS_CELL_GRU)
                ls->dir[d].hn = alloc_reals(T * B * H, &failed);
            ls->dir[d].weight_hh_mask = alloc_reals(G * H, &failed);
            ls->dir[d].weight_hh_dropped = alloc_reals(G * H, &failed);
        }
    }
    size_t rows = cfg->task != RS_TASK_CLASSIFIER ? T * B : B;
    ws->features = alloc_reals(rows * H * D, &failed);
    ws->feature_mask = alloc_reals(rows * H * D, &failed);
    ws->logits = alloc_reals(rows * K, &failed);
    ws->dlogits = alloc_reals(rows * K, &failed);
    ws->dfeat = alloc_reals(rows * H * D, &failed);
    ws->dout = alloc_reals((T + 2) * B * H * D, &failed);
    ws->din = alloc_reals(T * B * max_in, &failed);
    ws->row_weight = alloc_reals(rows, &failed);
    size_t V = (size_t)cfg->vocab_size, C = (size_t)cfg->n_categories;
    size_t E = (size_t)cfg->embedding_dim, Ec = (size_t)cfg->category_dim;
    for (size_t d = 0; d < D; d++) {
        dir_scratch *sc = &ws->scratch[d];
        sc->recur = alloc_reals(B * G, &failed);
        sc->dgate_x = alloc_reals(T * B * G, &failed);
        sc->dgate_h = alloc_reals(T * B * G, &failed);
        sc->dh = alloc_reals(B * H, &failed);
        sc->dc = alloc_reals(B * H, &failed);
        sc->dweight_hh = alloc_reals(G * H, &failed);
        if (D == 2)
            sc->din = alloc_reals(T * B * max_in, &failed);
        if (V * E + C * Ec < B * T * (E + Ec)) {
            sc->token_table = alloc_reals(V * G, &failed);
            sc->category_table = alloc_reals(C * G, &failed);
        }
    }
    if (failed) {
        rs_workspace_destroy(ws);
        return NULL;
    }
    return ws;
}

void rs_workspace_destroy(rs_workspace *ws)
{
    if (!ws)
        return;
    for (int l = 0; l < RS_MAX_LAYERS; l++) {
        layer_state *ls = &ws->layer[l];
        free(ls->out);
        free(ls->in);
        free(ls->in_mask);
        for (int d = 0; d < 2; d++) {
            free(ls->dir[d].gates);
            free(ls->dir[d].cell);
            free(ls->dir[d].hn);
            free(ls->dir[d].weight_hh_mask);
            free(ls->dir[d].weight_hh_dropped);
        }
    }
    free(ws->features);
    free(ws->feature_mask);
    free(ws->logits);
    free(ws->dlogits);
    free(ws->dfeat);
    free(ws->dout);
    free(ws->din);
    free(ws->row_weight);
    for (int d = 0; d < 2; d++) {
        dir_scratch *sc = &ws->scratch[d];
        free(sc->recur);
        free(sc->dgate_x);
        free(sc->dgate_h);
        free(sc->dh);
        free(sc->dc);
        free(sc->dweight_hh);
        free(sc->din);
        free(sc->token_table);
        free(sc->category_table);
    }
    free(ws);
}

const rs_real *rs_workspace_logits(const rs_workspace *ws) { return ws->logits; }

static int token_at(const rs_batch *b, int row, int t) { return b->tokens[(size_t)row * b->T + t]; }

/* x0 (T, B, E + Ec) = concat(embedding[token], category_embedding[category]). */
static void embed(const rs_workspace *ws, const rs_params *p, const rs_batch *batch, rs_real *x0)
{
    const rs_config *cfg = &ws->cfg;
    size_t E = (size_t)cfg->embedding_dim, Ec = (size_t)cfg->category_dim, In = E + Ec;
    for (int t = 0; t < batch->T; t++)
        for (int b = 0; b < batch->B; b++) {
            rs_real *x = x0 + ((size_t)t * batch->B + b) * In;
            if (t >= batch->lengths[b]) {
                memset(x, 0, In * sizeof *x);
                continue;
            }
            memcpy(x, p->embedding + (size_t)token_at(batch, b, t) * E, E * sizeof *x);
            if (Ec)
                memcpy(x + E, p->category_embedding + (size_t)batch->categories[b] * Ec,
                       Ec * sizeof *x);
        }
}

/* Inverted dropout: dst = src ⊙ mask, mask ∈ {0, 1/(1−p)}. */
static void dropout_forward(const rs_real *src, rs_real *dst, rs_real *mask, size_t n, rs_real p,
                            rs_rng *rng)
{
    rs_real keep = (rs_real)1 / ((rs_real)1 - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = rs_rng_uniform(rng) < (double)p ? (rs_real)0 : keep;
        dst[i] = src[i] * mask[i];
    }
}

/* The same on a time-major (T, B·W) tensor; locked: one mask of (B·W) drawn
 * for the first step and used at every step (variational dropout, the same
 * units of a sequence dropped throughout). */
static void dropout_forward_steps(const rs_real *src, rs_real *dst, rs_real *mask, int T,
                                  size_t slab, rs_real p, int locked, rs_rng *rng)
{
    if (!locked) {
        dropout_forward(src, dst, mask, (size_t)T * slab, p, rng);
        return;
    }
    dropout_forward(src, dst, mask, slab, p, rng);
    for (size_t i = slab; i < (size_t)T * slab; i++) {
        mask[i] = mask[i % slab];
        dst[i] = src[i] * mask[i];
    }
}

/*
 * Rows still running at step t.  When the batch's rows are sorted by length,
 * longest first (as rnntrain builds them), they are a prefix and the
 * recurrent products run on that prefix only, as a packed sequence does in
 * PyTorch; otherwise every row takes part and masking alone does the work.
 */
static int active_rows(const rs_batch *batch, int t)
{
    int B = batch->B;
    for (int b = 1; b < B; b++)
        if (batch->lengths[b] > batch->lengths[b - 1])
            return B; /* not sorted */
    int n = 0;
    while (n < B && batch->lengths[n] > t)
        n++;
    return n;
}

/* The step processed k-th by direction dir, and the neighbour its state comes from. */
static int step_time(int dir, int k, int T) { return dir ? T - 1 - k : k; }
static int prev_time(int dir, int t) { return dir ? t + 1 : t - 1; }

/* Whether this batch's layer 0 goes through the input tables. */
static int choose_tables(const rs_workspace *ws, const rs_batch *batch, rs_input_path path)
{
    const rs_config *cfg = &ws->cfg;
    if (!ws->scratch[0].token_table || ws->input_dropout_on || path == RS_INPUT_PER_ROW)
        return 0;
    if (path == RS_INPUT_TABLES)
        return 1;
    size_t inputs = 0; /* (step, row) pairs that are projected */
    for (int b = 0; b < batch->B; b++)
        inputs += (size_t)batch->lengths[b];
    size_t E = (size_t)cfg->embedding_dim, Ec = (size_t)cfg->category_dim;
    return (size_t)cfg->vocab_size * E + (size_t)cfg->n_categories * Ec < inputs * (E + Ec);
}

/* gates (T·B, G) = in (T·B, In) · W_ihᵀ + b_ih: all steps at once when every
 * row runs to T, else per step on the active rows only. */
static void project_per_row(const rs_rnn_weights *w, const layer_state *ls, int In, int G,
                            const rs_batch *batch, rs_real *gates)
{
    int B = batch->B, T = batch->T;
    if (active_rows(batch, T - 1) == B) {
        rs_gemm(0, 1, T * B, G, In, 1, ls->in, In, w->weight_ih, In, 0, gates, G);
    } else {
        for (int t = 0; t < T; t++)
            rs_gemm(0, 1, active_rows(batch, t), G, In, 1, ls->in + (size_t)t * B * In, In,
                    w->weight_ih, In, 0, gates + (size_t)t * B * G, G);
    }
    for (int t = 0; t < T; t++)
        for (size_t r = (size_t)t * B; r < (size_t)t * B + (size_t)active_rows(batch, t); r++)
            for (int j = 0; j < G; j++)
                gates[r * G + j] += w->bias_ih[j];
}

/* The same for layer 0 through the tables: token_table (V, G) = embedding ·
 * W_ih[:, :E]ᵀ + b_ih, category_table (C, G) = category_embedding ·
 * W_ih[:, E:]ᵀ, and each row of gates the sum of its token's and category's
 * rows.  A padded row of an unsorted batch gets b_ih, as its zero input does
 * per row. */
static void project_through_tables(const rs_workspace *ws, dir_scratch *sc, const rs_params *p,
                                   const rs_rnn_weights *w, int G, const rs_batch *batch,
                                   rs_real *gates)
{
    const rs_config *cfg = &ws->cfg;
    int B = batch->B, T = batch->T, V = cfg->vocab_size, C = cfg->n_categories;
    int E = cfg->embedding_dim, Ec = cfg->category_dim, In = E + Ec;
    rs_gemm(0, 1, V, G, E, 1, p->embedding, E, w->weight_ih, In, 0, sc->token_table, G);
    for (size_t v = 0; v < (size_t)V; v++)
        for (int j = 0; j < G; j++)
            sc->token_table[v * G + j] += w->bias_ih[j];
    if (Ec)
        rs_gemm(0, 1, C, G, Ec, 1, p->category_embedding, Ec, w->weight_ih + E, In, 0,
                sc->category_table, G);
    for (int t = 0; t < T; t++) {
        int active = active_rows(batch, t);
        for (int b = 0; b < active; b++) {
            rs_real *restrict g = gates + ((size_t)t * B + b) * G;
            if (t >= batch->lengths[b]) {
                memcpy(g, w->bias_ih, (size_t)G * sizeof *g);
                continue;
            }
            const rs_real *restrict tok = sc->token_table + (size_t)token_at(batch, b, t) * G;
            if (Ec) {
                const rs_real *restrict cat = sc->category_table + (size_t)batch->categories[b] * G;
                for (int j = 0; j < G; j++)
                    g[j] = tok[j] + cat[j];
            } else {
                memcpy(g, tok, (size_t)G * sizeof *g);
            }
        }
    }
}

/* Forward of one layer and direction over the whole batch. */
static void direction_forward(rs_workspace *ws, const rs_params *p, int l, int dir,
                              const rs_batch *batch)
{
    const rs_config *cfg = &ws->cfg;
    const rs_rnn_weights *w = &p->rnn[l][dir];
    layer_state *ls = &ws->layer[l];
    int In = rs_config_layer_input(cfg, l);
    int B = batch->B, T = batch->T, H = cfg->hidden_size, D = rs_config_directions(cfg);
    int G = rs_cell_gates(cfg->cell) * H, HD = H * D;
    dir_state *st = &ls->dir[dir];
    dir_scratch *sc = &ws->scratch[dir];
    rs_real *out = ls->out + (size_t)B * HD; /* out[t] at out + t·B·HD; out[-1], out[T] are zero */

    if (l == 0 && ws->tables_on)
        project_through_tables(ws, sc, p, w, G, batch, st->gates);
    else
        project_per_row(w, ls, In, G, batch, st->gates);
    const rs_real *weight_hh = ws->weight_dropout_on ? st->weight_hh_dropped : w->weight_hh;
#ifndef RS_REAL_IS_DOUBLE
    /* the recurrent product of every step reads W_hh packed once for the
     * window (rs_linear): no per-step packing as a GEMM call does, and the
     * widest kernel the processor has; OpenBLAS if memory runs short */
    rs_linear_weight packed_hh;
    int packed = rs_linear_pack(&packed_hh, weight_hh, G, H, H) == 0;
#endif

    for (int k = 0; k < T; k++) {
        int t = step_time(dir, k, T), tp = prev_time(dir, t);
        const rs_real *hprev = out + (ptrdiff_t)tp * B * HD + dir * H; /* (B, H), stride HD */
        rs_real *hcur = out + (size_t)t * B * HD + dir * H;
        rs_real *gates = st->gates + (size_t)t * B * G;
        int active = active_rows(batch, t);
        /* recur (active, G) = hprev · W_hhᵀ */
#ifndef RS_REAL_IS_DOUBLE
        if (packed)
            rs_linear(&packed_hh, active, hprev, (size_t)HD, NULL, sc->recur, (size_t)G);
        else
#endif
            rs_gemm(0, 1, active, G, H, 1, hprev, HD, weight_hh, H, 0, sc->recur, G);
        for (int b = 0; b < B; b++) {
            const rs_real *hp = hprev + (size_t)b * HD;
            rs_real *h = hcur + (size_t)b * HD;
            rs_real *a = gates + (size_t)b * G;
            const rs_real *rh = sc->recur + (size_t)b * G;
            int valid = t < batch->lengths[b];
            if (b >= active) {
                /* finished (or not yet started) row: carry the state */
                memcpy(h, hp, (size_t)H * sizeof *h);
                if (cfg->cell == RS_CELL_LSTM)
                    memcpy(st->cell + (size_t)(t + 1) * B * H + (size_t)b * H,
                           st->cell + (size_t)(tp + 1) * B * H + (size_t)b * H,
                           (size_t)H * sizeof *h);
                continue;
            }
            /* the gate loops are branch-free so they vectorise; a row past its
             * length (only in unsorted batches) then takes back its old state */
            switch (cfg->cell) {
            case RS_CELL_RNN:
                for (int j = 0; j < H; j++) {
                    a[j] = TANH(a[j] + rh[j] + w->bias_hh[j]);
                    h[j] = a[j];
                }
                break;
            case RS_CELL_LSTM: {
                const rs_real *cp = st->cell + (size_t)(tp + 1) * B * H + (size_t)b * H;
                rs_real *c = st->cell + (size_t)(t + 1) * B * H + (size_t)b * H;
                rs_lstm_gates(H, a, rh, w->bias_hh, cp, c, h);
                if (!valid)
                    memcpy(c, cp, (size_t)H * sizeof *c);
                break;
            }
            case RS_CELL_GRU: {
                rs_gru_gates(H, a, rh, w->bias_hh, hp, st->hn + ((size_t)t * B + b) * H, h);
                break;
            }
            }
            if (!valid)
                memcpy(h, hp, (size_t)H * sizeof *h);
        }
    }
#ifndef RS_REAL_IS_DOUBLE
    if (packed)
        rs_linear_weight_free(&packed_hh);
#endif
}

static void direction_backward(rs_workspace *ws, const rs_rnn_weights *w, rs_rnn_weights *gw,
                               layer_state *ls, int dir, int In, const rs_batch *batch,
                               int per_row_input, rs_real *din);

/*
 * One direction's share of a layer's forward or backward pass.  A
 * bidirectional layer's two directions touch disjoint state (their halves of
 * the outputs, their gates, their own scratch and gradient tensors, their own
 * din), so they can run on two threads; the parameters are only read.
 */
typedef struct direction_job {
    rs_workspace *ws;
    const rs_params *p;
    rs_params *grads; /* backward only */
    const rs_batch *batch;
    int layer, dir;
    int backward;
    int per_row_input; /* backward: dW_ih and din per row (not through the tables) */
    rs_real *din;      /* backward: (T, B, In) this job's input gradient, zeroed here */
} direction_job;

static void *run_direction(void *arg)
{
    direction_job *job = arg;
    rs_workspace *ws = job->ws;
    int l = job->layer, d = job->dir;
    if (!job->backward) {
        direction_forward(ws, job->p, l, d, job->batch);
        return NULL;
    }
    int In = rs_config_layer_input(&ws->cfg, l);
    if (job->per_row_input)
        memset(job->din, 0, (size_t)job->batch->T * job->batch->B * In * sizeof(rs_real));
    direction_backward(ws, &job->p->rnn[l][d], &job->grads->rnn[l][d], &ws->layer[l], d, In,
                       job->batch, job->per_row_input, job->din);
    return NULL;
}

/* Runs a layer's D direction jobs: on two threads when the workspace has
 * them and D = 2, with OpenBLAS held to one thread inside each (two threads
 * on two cores already), else one after the other.  Either way each job does
 * the same arithmetic, so the results are identical. */
static void run_directions(rs_workspace *ws, direction_job *jobs, int D)
{
    if (D == 2 && ws->threads > 1) {
        int blas_threads = rs_blas_threads();
        rs_blas_set_threads(1);
        pthread_t second;
        int started = pthread_create(&second, NULL, run_direction, &jobs[1]) == 0;
        run_direction(&jobs[0]);
        if (started)
            pthread_join(second, NULL);
        else
            run_direction(&jobs[1]); /* no thread to be had: the same work, in turn */
        rs_blas_set_threads(blas_threads);
        return;
    }
    for (int d = 0; d < D; d++)
        run_direction(&jobs[d]);
}

void rs_workspace_set_threads(rs_workspace *ws, int threads) { ws->threads = threads; }

double rs_forward(rs_workspace *ws, const rs_params *p, const rs_batch *batch,
                  const rs_forward_opts *opts)
{
    const rs_config *cfg = &ws->cfg;
    int B = batch->B, T = batch->T, H = cfg->hidden_size, D = rs_config_directions(cfg);
    int HD = H * D, K = cfg->n_outputs;
    int generator = cfg->task != RS_TASK_CLASSIFIER;
    rs_rng *rng = opts ? opts->rng : NULL;
    rs_real dropout = opts && rng ? opts->dropout : 0;
    ws->B = B;
    ws->T = T;
    ws->dropout_on = dropout > 0;
    ws->input_dropout_on = opts && rng && opts->input_dropout > 0;
    ws->weight_dropout_on = opts && rng && opts->weight_dropout > 0;
    int locked = opts && opts->locked_dropout;
    ws->tables_on = choose_tables(ws, batch, opts ? opts->input_path : RS_INPUT_AUTO);

    if (!ws->tables_on)
        embed(ws, p, batch, ws->layer[0].in);
    if (ws->input_dropout_on)
        dropout_forward_steps(ws->layer[0].in, ws->layer[0].in, ws->layer[0].in_mask, T,
                              (size_t)B * rs_config_layer_input(cfg, 0), opts->input_dropout,
                              locked, rng);
    for (int l = 0; l < cfg->num_layers; l++) {
        layer_state *ls = &ws->layer[l];
        if (l > 0) {
            const rs_real *below = ws->layer[l - 1].out + (size_t)B * HD;
            if (ws->dropout_on)
                dropout_forward_steps(below, ls->in, ls->in_mask, T, (size_t)B * HD, dropout,
                                      locked, rng);
            else
                memcpy(ls->in, below, (size_t)T * B * HD * sizeof *below);
        }
        /* slabs at t = −1 (the initial state: zeros, or the batch's h0 and
         * c0) and t = T (zeros: the reverse direction's start) */
        size_t state = (size_t)B * H;
        if (batch->h0)
            memcpy(ls->out, batch->h0 + (size_t)l * state, state * sizeof(rs_real)); /* D = 1 */
        else
            memset(ls->out, 0, (size_t)B * HD * sizeof(rs_real));
        memset(ls->out + (size_t)(T + 1) * B * HD, 0, (size_t)B * HD * sizeof(rs_real));
        for (int d = 0; d < D; d++) {
            if (ws->weight_dropout_on)
                dropout_forward(p->rnn[l][d].weight_hh, ls->dir[d].weight_hh_dropped,
                                ls->dir[d].weight_hh_mask, (size_t)rs_cell_gates(cfg->cell) * H * H,
                                opts->weight_dropout, rng);
            if (ls->dir[d].cell) {
                if (batch->c0)
                    memcpy(ls->dir[d].cell, batch->c0 + (size_t)l * state, state * sizeof(rs_real));
                else
                    memset(ls->dir[d].cell, 0, (size_t)B * H * sizeof(rs_real));
                memset(ls->dir[d].cell + (size_t)(T + 1) * B * H, 0,
                       (size_t)B * H * sizeof(rs_real));
            }
        }
        direction_job jobs[2];
        for (int d = 0; d < D; d++)
            jobs[d] = (direction_job){.ws = ws, .p = p, .batch = batch, .layer = l, .dir = d};
        run_directions(ws, jobs, D);
    }

    /* head input */
    const rs_real *top = ws->layer[cfg->num_layers - 1].out + (size_t)B * HD;
    int rows = generator ? T * B : B;
    if (generator) {
        memcpy(ws->features, top, (size_t)rows * HD * sizeof *top);
    } else {
        /* forward final (carried to T−1) ⊕ reverse final (at t = 0) */
        for (int b = 0; b < B; b++) {
            rs_real *f = ws->features + (size_t)b * HD;
            memcpy(f, top + ((size_t)(T - 1) * B + b) * HD, (size_t)H * sizeof *f);
            if (D == 2)
                memcpy(f + H, top + (size_t)b * HD + H, (size_t)H * sizeof *f);
        }
    }
    if (ws->dropout_on)
        dropout_forward_steps(ws->features, ws->features, ws->feature_mask, generator ? T : 1,
                              (size_t)(generator ? B : rows) * HD, dropout, locked, rng);

    /* logits (rows, K) = features · head_weightᵀ + head_bias */
    rs_gemm(0, 1, rows, K, HD, 1, ws->features, HD, p->head_weight, HD, 0, ws->logits, K);

    /* softmax cross-entropy, (weighted) mean over valid targets; dlogits kept for backward */
    const rs_real *cw = opts ? opts->class_weight : NULL;
    rs_real distill = opts && batch->soft_targets ? opts->distill : 0;
    const rs_real *soft = distill > 0 ? batch->soft_targets : NULL;
    double total = 0.0, weight_sum = 0.0;
    for (int r = 0; r < rows; r++) {
        rs_real *z = ws->logits + (size_t)r * K;
        rs_real *dz = ws->dlogits + (size_t)r * K;
        for (int k = 0; k < K; k++)
            z[k] += p->head_bias[k];
        int b = generator ? r % B : r, t = generator ? r / B : 0;
        ws->row_weight[r] = 0;
        if (generator && t >= batch->lengths[b]) {
            memset(dz, 0, (size_t)K * sizeof *dz);
            continue;
        }
        int target = generator ? batch->targets[(size_t)b * T + t] : batch->targets[b];
        rs_real w = cw ? cw[target] : (rs_real)1;
        rs_real mx;
        double sum = rs_softmax_exp(z, dz, K, &mx);
        for (int k = 0; k < K; k++)
            dz[k] = (rs_real)(dz[k] / sum);
        /* −Σ_k target_k·log p_k = logsumexp(z) − Σ_k target_k·z_k, and its
         * gradient p − target; the hard target is onehot(y) */
        double lse = log(sum) + mx;
        if (soft) {
            const rs_real *q = soft + (generator ? (size_t)b * T + t : (size_t)b) * K;
            double qz = 0.0;
            for (int k = 0; k < K; k++) {
                qz += (double)q[k] * z[k];
                dz[k] -= distill * q[k];
            }
            total += w * (lse - (1 - distill) * z[target] - distill * qz);
            dz[target] -= 1 - distill;
        } else {
            total += w * (lse - z[target]);
            dz[target] -= 1;
        }
        ws->row_weight[r] = w;
        weight_sum += w;
    }
    for (int r = 0; r < rows; r++) {
        rs_real scale = weight_sum > 0 ? (rs_real)(ws->row_weight[r] / weight_sum) : 0;
        for (int k = 0; k < K; k++)
            ws->dlogits[(size_t)r * K + k] *= scale;
    }
    return weight_sum > 0 ? total / weight_sum : 0.0;
}

/* BPTT of one layer and direction.  dout holds dL/d(outputs) of this layer
 * (slabbed); adds into grads, and unless per_row_input is 0 into dW_ih and
 * din (T, B, In); leaves dL/d(input projection) in its scratch's dgate_x (T, B, G). */
static void direction_backward(rs_workspace *ws, const rs_rnn_weights *w, rs_rnn_weights *gw,
                               layer_state *ls, int dir, int In, const rs_batch *batch,
                               int per_row_input, rs_real *din)
{
    const rs_config *cfg = &ws->cfg;
    int B = batch->B, T = batch->T, H = cfg->hidden_size, D = rs_config_directions(cfg);
    int G = rs_cell_gates(cfg->cell) * H, HD = H * D;
    dir_state *st = &ls->dir[dir];
    const rs_real *out = ls->out + (size_t)B * HD;
    const rs_real *dout = ws->dout + (size_t)B * HD;
    int gru = cfg->cell == RS_CELL_GRU;
    dir_scratch *sc = &ws->scratch[dir];
    rs_real *dgx = sc->dgate_x;
    rs_real *dgh = gru ? sc->dgate_h : sc->dgate_x; /* identical unless GRU */
    const rs_real *weight_hh = ws->weight_dropout_on ? st->weight_hh_dropped : w->weight_hh;
    /* dW_hh, or under weight dropout dL/d(W_hh ⊙ mask), masked at the end */
    rs_real *dweight_hh = ws->weight_dropout_on ? sc->dweight_hh : gw->weight_hh;
    if (ws->weight_dropout_on)
        memset(dweight_hh, 0, (size_t)G * H * sizeof *dweight_hh);

    memset(sc->dh, 0, (size_t)B * H * sizeof(rs_real));
    memset(sc->dc, 0, (size_t)B * H * sizeof(rs_real));
#ifndef RS_REAL_IS_DOUBLE
    /* dh += gh · W_hh at every step reads W_hhᵀ packed once (rs_linear, as
     * the forward does), into dh_step, then added; OpenBLAS without memory */
    rs_linear_weight packed_hht;
    int packed = 0;
    float *dh_step = malloc((size_t)B * H * sizeof *dh_step);
    float *wt = malloc((size_t)G * H * sizeof *wt);
    if (dh_step && wt) {
        for (int g = 0; g < G; g++) /* W_hh (G, H) -> W_hhᵀ (H, G) */
            for (int j = 0; j < H; j++)
                wt[(size_t)j * G + g] = weight_hh[(size_t)g * H + j];
        packed = rs_linear_pack(&packed_hht, wt, H, G, (size_t)G) == 0;
    }
    free(wt);
#endif
    for (int k = T - 1; k >= 0; k--) {
        int t = step_time(dir, k, T), tp = prev_time(dir, t);
        const rs_real *gates = st->gates + (size_t)t * B * G;
        rs_real *gx = dgx + (size_t)t * B * G;
        rs_real *gh = dgh + (size_t)t * B * G;
        for (int b = 0; b < B; b++) {
            rs_real *dh = sc->dh + (size_t)b * H; /* in: dL/dh_t from the future; out: to h_{t-1} */
            rs_real *dc = sc->dc + (size_t)b * H;
            const rs_real *dy = dout + ((size_t)t * B + b) * HD + dir * H;
            const rs_real *a = gates + (size_t)b * G;
            const rs_real *hp = out + ((ptrdiff_t)tp * B + b) * HD + dir * H;
            const rs_real *h = out + ((size_t)t * B + b) * HD + dir * H;
            rs_real *ax = gx + (size_t)b * G, *ah = gh + (size_t)b * G;
            if (t >= batch->lengths[b]) {
                /* carried state: gradient passes through untouched */
                for (int j = 0; j < H; j++)
                    dh[j] += dy[j];
                memset(ax, 0, (size_t)G * sizeof *ax);
                if (gru)
                    memset(ah, 0, (size_t)G * sizeof *ah);
                continue;
            }
            switch (cfg->cell) {
            case RS_CELL_RNN:
                for (int j = 0; j < H; j++) {
                    ax[j] = (dh[j] + dy[j]) * ((rs_real)1 - h[j] * h[j]);
                    dh[j] = 0;
                }
                break;
            case RS_CELL_LSTM: {
                const rs_real *c = st->cell + ((size_t)(t + 1) * B + b) * H;
                const rs_real *cp = st->cell + ((size_t)(tp + 1) * B + b) * H;
                for (int j = 0; j < H; j++) {
                    rs_real gi = a[j], gf = a[H + j], gg = a[2 * H + j], go = a[3 * H + j];
                    rs_real g = dh[j] + dy[j];
                    rs_real tc = TANH(c[j]);
                    rs_real dcell = dc[j] + g * go * ((rs_real)1 - tc * tc);
                    ax[j] = dcell * gg * gi * ((rs_real)1 - gi);
                    ax[H + j] = dcell * cp[j] * gf * ((rs_real)1 - gf);
                    ax[2 * H + j] = dcell * gi * ((rs_real)1 - gg * gg);
                    ax[3 * H + j] = g * tc * go * ((rs_real)1 - go);
                    dc[j] = dcell * gf;
                    dh[j] = 0;
                }
                break;
            }
            case RS_CELL_GRU: {
                const rs_real *hn = st->hn + ((size_t)t * B + b) * H;
                for (int j = 0; j < H; j++) {
                    rs_real r = a[j], z = a[H + j], n = a[2 * H + j];
                    rs_real g = dh[j] + dy[j];
                    rs_real dn = g * ((rs_real)1 - z) * ((rs_real)1 - n * n);
                    rs_real dz = g * (hp[j] - n) * z * ((rs_real)1 - z);
                    rs_real dr = dn * hn[j] * r * ((rs_real)1 - r);
                    ax[j] = ah[j] = dr;
                    ax[H + j] = ah[H + j] = dz;
                    ax[2 * H + j] = dn;
                    ah[2 * H + j] = dn * r;
                    dh[j] = g * z;
                }
                break;
            }
            }
        }
        /* dh (B, H) += gh (B, G) · W_hh (G, H); rows past `active` have gh = 0 */
#ifndef RS_REAL_IS_DOUBLE
        if (packed) {
            int a = active_rows(batch, t);
            rs_linear(&packed_hht, a, gh, (size_t)G, NULL, dh_step, (size_t)H);
            for (size_t i = 0; i < (size_t)a * H; i++)
                sc->dh[i] += dh_step[i];
        } else
#endif
            rs_gemm(0, 0, active_rows(batch, t), H, G, 1, gh, G, weight_hh, H, 1, sc->dh, H);
    }
#ifndef RS_REAL_IS_DOUBLE
    if (packed)
        rs_linear_weight_free(&packed_hht);
    free(dh_step);
#endif

    /* weight gradients and din, step by step over the active rows (inactive
     * rows have zero gradient, so skipping them changes nothing) */
    const rs_real *hprev_all =
        out + (ptrdiff_t)(dir ? 1 : -1) * B * HD + dir * H; /* (T·B, H), stride HD */
    int all_active = 1;
    for (int t = 0; t < T && all_active; t++)
        all_active = active_rows(batch, t) == B;
    if (all_active) {
        /* every row runs every step (a text model's windows): each product
         * over all T·B rows at once, one GEMM instead of T small ones */
        size_t rows = (size_t)T * B;
        rs_gemm(1, 0, G, H, (int)rows, 1, dgh, G, hprev_all, HD, 1, dweight_hh, H);
        if (per_row_input) {
            rs_gemm(1, 0, G, In, (int)rows, 1, dgx, G, ls->in, In, 1, gw->weight_ih, In);
            rs_gemm(0, 0, (int)rows, In, G, 1, dgx, G, w->weight_ih, In, 1, din, In);
        }
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < G; j++) {
                gw->bias_ih[j] += dgx[r * G + j];
                gw->bias_hh[j] += dgh[r * G + j];
            }
    }
    for (int t = 0; t < T && !all_active; t++) {
        int a = active_rows(batch, t);
        size_t r0 = (size_t)t * B;
        /* dW_hh (G, H) += dghᵀ (G, a) · hprev (a, H) */
        rs_gemm(1, 0, G, H, a, 1, dgh + r0 * G, G, hprev_all + r0 * HD, HD, 1, dweight_hh, H);
        if (per_row_input) {
            /* dW_ih (G, In) += dgxᵀ (G, a) · in (a, In);  din (a, In) += dgx · W_ih */
            rs_gemm(1, 0, G, In, a, 1, dgx + r0 * G, G, ls->in + r0 * In, In, 1, gw->weight_ih, In);
            rs_gemm(0, 0, a, In, G, 1, dgx + r0 * G, G, w->weight_ih, In, 1, din + r0 * In, In);
        }
        for (size_t r = r0; r < r0 + (size_t)a; r++)
            for (int j = 0; j < G; j++) {
                gw->bias_ih[j] += dgx[r * G + j];
                gw->bias_hh[j] += dgh[r * G + j];
            }
    }
    if (ws->weight_dropout_on)
        for (size_t i = 0; i < (size_t)G * H; i++)
            gw->weight_hh[i] += dweight_hh[i] * st->weight_hh_mask[i];
}

/* Layer 0's input gradients through the tables, from one direction's
 * dgate_x: S (V, G) = Σ of each token's gate-gradient rows (and the same per
 * category), then dW_ih[:, :E] += Sᵀ · embedding and d embedding += S · W_ih[:, :E]. */
static void input_backward_through_tables(rs_workspace *ws, const rs_params *p, int dir,
                                          rs_params *grads, const rs_batch *batch)
{
    const rs_config *cfg = &ws->cfg;
    const rs_rnn_weights *w = &p->rnn[0][dir];
    rs_rnn_weights *gw = &grads->rnn[0][dir];
    int B = batch->B, T = batch->T, G = rs_cell_gates(cfg->cell) * cfg->hidden_size;
    int V = cfg->vocab_size, C = cfg->n_categories;
    int E = cfg->embedding_dim, Ec = cfg->category_dim, In = E + Ec;
    dir_scratch *sc = &ws->scratch[dir];
    rs_real *tok_sum = sc->token_table, *cat_sum = sc->category_table;
    memset(tok_sum, 0, (size_t)V * G * sizeof *tok_sum);
    if (Ec)
        memset(cat_sum, 0, (size_t)C * G * sizeof *cat_sum);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            if (t >= batch->lengths[b])
                continue;
            const rs_real *restrict dg = sc->dgate_x + ((size_t)t * B + b) * G;
            rs_real *restrict st = tok_sum + (size_t)token_at(batch, b, t) * G;
            for (int j = 0; j < G; j++)
                st[j] += dg[j];
            if (Ec) {
                rs_real *restrict sc = cat_sum + (size_t)batch->categories[b] * G;
                for (int j = 0; j < G; j++)
                    sc[j] += dg[j];
            }
        }
    rs_gemm(1, 0, G, E, V, 1, tok_sum, G, p->embedding, E, 1, gw->weight_ih, In);
    rs_gemm(0, 0, V, E, G, 1, tok_sum, G, w->weight_ih, In, 1, grads->embedding, E);
    if (Ec) {
        rs_gemm(1, 0, G, Ec, C, 1, cat_sum, G, p->category_embedding, Ec, 1, gw->weight_ih + E, In);
        rs_gemm(0, 0, C, Ec, G, 1, cat_sum, G, w->weight_ih + E, In, 1, grads->category_embedding,
                Ec);
    }
}

void rs_backward(rs_workspace *ws, const rs_params *p, rs_params *grads, const rs_batch *batch)
{
    const rs_config *cfg = &ws->cfg;
    int B = batch->B, T = batch->T, H = cfg->hidden_size, D = rs_config_directions(cfg);
    int HD = H * D, K = cfg->n_outputs;
    int generator = cfg->task != RS_TASK_CLASSIFIER;
    int rows = generator ? T * B : B;

    /* head: dW += dlogitsᵀ · features, db += Σ dlogits, dfeat = dlogits · W */
    rs_gemm(1, 0, K, HD, rows, 1, ws->dlogits, K, ws->features, HD, 1, grads->head_weight, HD);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < K; k++)
            grads->head_bias[k] += ws->dlogits[(size_t)r * K + k];
    rs_gemm(0, 0, rows, HD, K, 1, ws->dlogits, K, p->head_weight, HD, 0, ws->dfeat, HD);
    if (ws->dropout_on)
        for (size_t i = 0; i < (size_t)rows * HD; i++)
            ws->dfeat[i] *= ws->feature_mask[i];

    /* gradient w.r.t. the top layer's outputs */
    size_t slab = (size_t)B * HD;
    rs_real *dout = ws->dout + slab;
    memset(ws->dout, 0, (size_t)(T + 2) * slab * sizeof(rs_real));
    if (generator) {
        memcpy(dout, ws->dfeat, (size_t)rows * HD * sizeof(rs_real));
    } else {
        for (int b = 0; b < B; b++) {
            const rs_real *df = ws->dfeat + (size_t)b * HD;
            memcpy(dout + ((size_t)(T - 1) * B + b) * HD, df, (size_t)H * sizeof *df);
            if (D == 2)
                memcpy(dout + (size_t)b * HD + H, df + H, (size_t)H * sizeof *df);
        }
    }

    for (int l = cfg->num_layers - 1; l >= 0; l--) {
        layer_state *ls = &ws->layer[l];
        int In = rs_config_layer_input(cfg, l);
        int tables = l == 0 && ws->tables_on;
        direction_job jobs[2];
        for (int d = 0; d < D; d++)
            jobs[d] = (direction_job){.ws = ws,
                                      .p = p,
                                      .grads = grads,
                                      .batch = batch,
                                      .layer = l,
                                      .dir = d,
                                      .backward = 1,
                                      .per_row_input = !tables,
                                      .din = D == 2 ? ws->scratch[d].din : ws->din};
        run_directions(ws, jobs, D);
        if (tables) {
            /* both directions add into the embedding gradients: in turn */
            for (int d = 0; d < D; d++)
                input_backward_through_tables(ws, p, d, grads, batch);
        } else if (D == 2) {
            const rs_real *restrict d0 = ws->scratch[0].din, *restrict d1 = ws->scratch[1].din;
            for (size_t i = 0; i < (size_t)T * B * In; i++)
                ws->din[i] = d0[i] + d1[i];
        }
        if (l > 0) {
            /* the layer below's output gradient is din through the dropout mask */
            memset(ws->dout, 0, (size_t)(T + 2) * slab * sizeof(rs_real));
            for (size_t i = 0; i < (size_t)T * B * In; i++)
                dout[i] = ws->dropout_on ? ws->din[i] * ls->in_mask[i] : ws->din[i];
        }
    }

    if (ws->tables_on)
        return; /* the embedding gradients are done */
    /* scatter the input gradient (through the input dropout mask) into the embedding rows */
    size_t E = (size_t)cfg->embedding_dim, Ec = (size_t)cfg->category_dim, In0 = E + Ec;
    if (ws->input_dropout_on)
        for (size_t i = 0; i < (size_t)T * B * In0; i++)
            ws->din[i] *= ws->layer[0].in_mask[i];
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++) {
            if (t >= batch->lengths[b])
                continue;
            const rs_real *dx = ws->din + ((size_t)t * B + b) * In0;
            rs_real *de = grads->embedding + (size_t)token_at(batch, b, t) * E;
            for (size_t j = 0; j < E; j++)
                de[j] += dx[j];
            if (Ec) {
                rs_real *dcat = grads->category_embedding + (size_t)batch->categories[b] * Ec;
                for (size_t j = 0; j < Ec; j++)
                    dcat[j] += dx[E + j];
            }
        }
}

void rs_workspace_final_state(const rs_workspace *ws, rs_real *h, rs_real *c)
{
    const rs_config *cfg = &ws->cfg;
    int B = ws->B, T = ws->T, H = cfg->hidden_size;
    size_t state = (size_t)B * H;
    for (int l = 0; l < cfg->num_layers; l++) {
        const layer_state *ls = &ws->layer[l];
        /* out[T−1] sits at slab T (slab 0 is t = −1); short rows carried
         * their state forward to T−1 (direction_forward) */
        memcpy(h + (size_t)l * state, ls->out + (size_t)T * state, state * sizeof(rs_real));
        if (c && ls->dir[0].cell)
            memcpy(c + (size_t)l * state, ls->dir[0].cell + (size_t)T * state,
                   state * sizeof(rs_real));
    }
}
