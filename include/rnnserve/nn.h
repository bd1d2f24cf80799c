/*
 * nn.h — the numerical core: model configuration, parameter layout with
 * PyTorch's tensor names, and the batched forward/backward pass used for
 * training and evaluation.
 *
 * The model is the one of DESIGN.md:
 *
 *   embedding (V, E)  [+ category_embedding (C, Ec)]
 *   → rnn: L layers of rnn(tanh) | lstm | gru, optionally bidirectional
 *   → head: Linear(H * D, K)
 *
 * with PyTorch's equations and gate order (LSTM i,f,g,o; GRU r,z,n).  A
 * classifier reads the final hidden state of the top layer (forward final ⊕
 * backward final); a generator predicts the next token at every step.
 *
 * This module is math only: no files, no HTTP.  Every floating-point value is
 * an `rs_real`, which is `float` in the library and `double` when the same
 * sources are compiled with RS_REAL_IS_DOUBLE for the finite-difference
 * gradient checks (tests/grad), so the checks exercise the production code.
 *
 * Dimension letters, used in every shape comment: B batch, T time, E input
 * width, H hidden, G gate rows (H, 3H or 4H), V vocabulary, K outputs,
 * L layers, D directions (1 or 2).
 */
#ifndef RNNSERVE_NN_H
#define RNNSERVE_NN_H

#include <stddef.h>
#include <stdint.h>

#include "rnnserve/rng.h"

#ifdef RS_REAL_IS_DOUBLE
typedef double rs_real;
#else
typedef float rs_real;
#endif

#define RS_MAX_LAYERS 8
#define RS_MAX_HIDDEN 4096

typedef enum { RS_CELL_RNN = 0, RS_CELL_LSTM = 1, RS_CELL_GRU = 2 } rs_cell;
/* A textlm is a generator trained on one running text (DESIGN.md): the
 * same tensors and math, with the state carried between windows. */
typedef enum { RS_TASK_CLASSIFIER = 0, RS_TASK_GENERATOR = 1, RS_TASK_TEXTLM = 2 } rs_task;

/* The architecture; every size of every tensor follows from it. */
typedef struct rs_config {
    rs_task task;
    rs_cell cell;
    int num_layers;    /* L, 1..RS_MAX_LAYERS */
    int hidden_size;   /* H */
    int embedding_dim; /* E of the token embedding */
    int category_dim;  /* Ec; 0 unless a conditional generator */
    int n_categories;  /* C; 0 unless a conditional generator */
    int bidirectional; /* 0 or 1; generators are unidirectional */
    int vocab_size;    /* V */
    int n_outputs;     /* K: number of labels (classifier) or V (generator) */
} rs_config;

/* Gate multiplier of a cell: 1 (rnn), 4 (lstm), 3 (gru); G = gates * H. */
int rs_cell_gates(rs_cell cell);
const char *rs_cell_name(rs_cell cell);
/* "classifier" or "generator", as the model file's metadata spells it. */
const char *rs_task_name(rs_task task);
int rs_cell_from_name(const char *name, rs_cell *out);
int rs_config_directions(const rs_config *cfg);
/* Width of layer l's input: E + Ec for l = 0, H * D above. */
int rs_config_layer_input(const rs_config *cfg, int layer);
/* 0 if the configuration is consistent, else a negative status and a message. */
int rs_config_check(const rs_config *cfg, char *err, size_t errlen);

/* Weights of one layer and direction, PyTorch layout (row-major). */
typedef struct rs_rnn_weights {
    rs_real *weight_ih; /* (G, In) */
    rs_real *weight_hh; /* (G, H) */
    rs_real *bias_ih;   /* (G) */
    rs_real *bias_hh;   /* (G) */
} rs_rnn_weights;

/*
 * Pointers to every parameter tensor.  Parameters, gradients and optimiser
 * moments are each one flat buffer of rs_param_count() values with the same
 * layout, bound with rs_params_bind(); a served model instead points each
 * field into its mapped file (rs_params_slot()).
 */
typedef struct rs_params {
    rs_real *embedding;          /* (V, E) */
    rs_real *category_embedding; /* (C, Ec), NULL unless conditional */
    rs_rnn_weights rnn[RS_MAX_LAYERS][2];
    rs_real *head_weight; /* (K, H * D) */
    rs_real *head_bias;   /* (K) */
} rs_params;

/* One parameter tensor as PyTorch names it in a state_dict. */
typedef struct rs_tensor_desc {
    char name[48];   /* "rnn.weight_ih_l0_reverse" */
    int ndim;        /* 1 or 2 */
    size_t shape[2]; /* rows, cols (cols unused when ndim == 1) */
    size_t numel;
    size_t offset; /* in values, within the flat buffer */
} rs_tensor_desc;

/* Number of tensors of a configuration, and the i-th in canonical order. */
int rs_tensor_count(const rs_config *cfg);
void rs_tensor_describe(const rs_config *cfg, int i, rs_tensor_desc *out);
/* Address of the params field that holds tensor i (for binding by name). */
rs_real **rs_params_slot(const rs_config *cfg, rs_params *p, int i);
/* Total number of parameters. */
size_t rs_param_count(const rs_config *cfg);
/* Point every field of *p into base, laid out as rs_tensor_describe says. */
void rs_params_bind(const rs_config *cfg, rs_real *base, rs_params *p);

/* PyTorch's default initialisation: U(-1/sqrt(H), 1/sqrt(H)) for the
 * recurrent weights and biases and the head (fan-in bound), N(0, 1) for
 * embeddings. */
void rs_params_init(const rs_config *cfg, rs_params *p, rs_rng *rng);

/*
 * A minibatch of padded sequences.  Rows shorter than T are padded; padding
 * tokens are never read by the math, so their value does not matter.
 */
typedef struct rs_batch {
    int B, T;
    const int32_t *tokens;     /* (B, T) input token ids */
    const int32_t *lengths;    /* (B) valid steps of each row, 1..T */
    const int32_t *categories; /* (B) category ids, conditional generator only */
    const int32_t *targets;    /* classifier (B) label ids; generator (B, T) next-token ids */
    /* Optional distributions to distil from (a teacher's probabilities), in the
     * layout of targets with K values each: classifier (B, K), generator
     * (B, T, K); each row sums to 1.  Read only when rs_forward_opts.distill > 0. */
    const rs_real *soft_targets;
    /* Optional initial state of a unidirectional model, (L, B, H) each: the
     * hidden state h0 and, for an LSTM, the cell state c0 (NULL = zeros).
     * A text model carries the last window's final state into the next
     * window this way (truncated BPTT: no gradient flows back into it, as
     * PyTorch's h.detach()). */
    const rs_real *h0;
    const rs_real *c0;
} rs_batch;

/* Activations and scratch for batches up to max_batch x max_time. Opaque. */
typedef struct rs_workspace rs_workspace;

/* Returns NULL on allocation failure.  Free with rs_workspace_destroy. */
rs_workspace *rs_workspace_create(const rs_config *cfg, int max_batch, int max_time);
void rs_workspace_destroy(rs_workspace *ws);
/*
 * threads ≥ 2: the forward and backward passes run the two directions of a
 * bidirectional layer on two threads at once, each with single-threaded
 * OpenBLAS (it sets OpenBLAS's process-wide thread count to 1 for the time,
 * so it is for a training process, not a server).  The results are identical
 * to the one-thread order.  Default 1.
 */
void rs_workspace_set_threads(rs_workspace *ws, int threads);

/*
 * How a forward pass computes layer 0's input projection W_ih·[emb; cat] + b_ih.
 * Per row: one GEMM over the batch's (step, row) inputs, and in the backward
 * the weight and embedding gradients from every row.  Tables: the projection
 * of every token (V, G) and category (C, G) once per batch, then a lookup per
 * row; the backward sums each token's gate gradients first, so its GEMMs
 * have V rows instead of one per (step, row).  Both give the same numbers up
 * to float rounding; the tables cannot apply input dropout, which makes a
 * different input per row.
 */
typedef enum rs_input_path {
    RS_INPUT_AUTO = 0, /* tables when they cost fewer flops, per row otherwise */
    RS_INPUT_PER_ROW,
    RS_INPUT_TABLES, /* unless input dropout is on, or the vocabulary is too large for the
                      * workspace to have tables (V·E + C·Ec ≥ max_batch·max_time·In) */
} rs_input_path;

/* Training-time options of a forward pass.  Passing NULL instead means
 * evaluation: no dropout, every target weighted alike. */
typedef struct rs_forward_opts {
    rs_real dropout;       /* between layers and before the head, 0 = off */
    rs_real input_dropout; /* on the embedding output (layer 0's input), 0 = off */
    /* DropConnect on every W_hh: one mask per matrix and batch, 0 = off */
    rs_real weight_dropout;
    /* nonzero: dropout and input dropout draw one mask per sequence and use it
     * at every step (variational dropout) instead of one per step */
    int locked_dropout;
    /* (K) weight of each target class, as CrossEntropyLoss(weight=...): the
     * loss is sum(w[y] * ce) / sum(w[y]).  NULL = uniform. */
    const rs_real *class_weight;
    /* Knowledge distillation, 0 = off: each target becomes the distribution
     * (1 − distill)·onehot(y) + distill·q with q the batch's soft_targets row,
     * and the loss its cross-entropy −Σ_k target_k·log softmax(z)_k (as
     * CrossEntropyLoss with probability targets).  Needs batch->soft_targets. */
    rs_real distill;
    rs_rng *rng; /* dropout masks; required when a dropout rate is > 0 */
    rs_input_path input_path;
} rs_forward_opts;

/*
 * Forward pass.  Returns the mean cross-entropy over every target (B for a
 * classifier, sum of lengths for a generator), as PyTorch's
 * CrossEntropyLoss(reduction="mean") would (weighted when opts gives class
 * weights, against the mixed distribution when opts distils).  Logits stay in the workspace
 * (rs_workspace_logits).
 */
double rs_forward(rs_workspace *ws, const rs_params *p, const rs_batch *batch,
                  const rs_forward_opts *opts);

/*
 * Backward pass of the last rs_forward on the same batch.  Accumulates (+=)
 * d(mean loss)/d(parameter) into grads; the caller zeroes grads once per step.
 */
void rs_backward(rs_workspace *ws, const rs_params *p, rs_params *grads, const rs_batch *batch);

/*
 * Logits of the last forward: classifier (B, K); generator (T, B, K), time
 * major, with rows of padded steps undefined.  Valid until the next forward.
 */
const rs_real *rs_workspace_logits(const rs_workspace *ws);

/*
 * Copies the state of the last forward after its last step, T−1, of each
 * layer of a unidirectional model into h (L, B, H) and, for an LSTM, c
 * (L, B, H; c may be NULL otherwise): the next window's rs_batch h0 and c0.
 * A row shorter than T carries its state from its last valid step.
 */
void rs_workspace_final_state(const rs_workspace *ws, rs_real *h, rs_real *c);

#endif
