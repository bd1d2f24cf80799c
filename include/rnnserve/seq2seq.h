/*
 * seq2seq.h — the translator of DESIGN.md: an encoder–decoder with
 * additive (Bahdanau) attention, its parameters under PyTorch's state_dict
 * names, and its batched, teacher-forced forward and backward pass
 * (src/nn/seq2seq.c).
 *
 *   K = encoder(embedding(x))                      (S, B, H·D), <eos> included
 *   s_0 = final encoder state per layer; bidirectional: tanh(bridge([fwd; bwd]))
 *   at target step t, previous token y (<bos> first), top-layer state h:
 *     a = softmax_s(Va(tanh(Wa h + Ua K)))        (B, S), padding masked out
 *     c = a K                                      (B, H·D)
 *     s_t = rnn([embedding(y); c], s_{t-1})
 *     p = softmax(head(top layer of s_t))
 *
 * An LSTM's cell state goes through the bridge like its hidden state (its
 * own tanh(bridge([c_fwd; c_bwd]))).  Dropout, when on, is applied to both
 * embeddings' outputs and to the decoder's top output before the head.
 */
#ifndef RNNSERVE_SEQ2SEQ_H
#define RNNSERVE_SEQ2SEQ_H

#include <stddef.h>
#include <stdint.h>

#include "rnnserve/nn.h"
#include "rnnserve/rng.h"

typedef struct rs_s2s_config {
    rs_cell cell;
    int num_layers;    /* encoder and decoder alike, 1..RS_MAX_LAYERS */
    int hidden_size;   /* H */
    int embedding_dim; /* E, both sides */
    int bidirectional; /* the encoder; D = 2 when set */
    int src_vocab, tgt_vocab;
} rs_s2s_config;

/* 0 if consistent, else -1 with a message. */
int rs_s2s_config_check(const rs_s2s_config *cfg, char *err, size_t errlen);

/* Pointers to every tensor; one flat buffer of rs_s2s_param_count values. */
typedef struct rs_s2s_params {
    rs_real *enc_embedding;               /* (Vs, E) encoder.embedding.weight */
    rs_rnn_weights enc[RS_MAX_LAYERS][2]; /* encoder.rnn.*_l{k}[_reverse] */
    rs_real *bridge_weight, *bridge_bias; /* (H, 2H), (H): bidirectional only */
    rs_real *dec_embedding;               /* (Vt, E) decoder.embedding.weight */
    rs_real *wa_weight, *wa_bias;         /* (H, H), (H) decoder.attention.Wa */
    rs_real *ua_weight, *ua_bias;         /* (H, H·D), (H) decoder.attention.Ua */
    rs_real *va_weight, *va_bias;         /* (1, H), (1) decoder.attention.Va */
    rs_rnn_weights dec[RS_MAX_LAYERS];    /* decoder.rnn.*_l{k}: l0 input E + H·D */
    rs_real *head_weight, *head_bias;     /* (Vt, H), (Vt) decoder.head */
} rs_s2s_params;

size_t rs_s2s_param_count(const rs_s2s_config *cfg);
int rs_s2s_tensor_count(const rs_s2s_config *cfg);
/* The i-th tensor in canonical order: its PyTorch name, shape and offset. */
void rs_s2s_tensor_describe(const rs_s2s_config *cfg, int i, rs_tensor_desc *out);
/* The field of p that the i-th tensor binds. */
rs_real **rs_s2s_params_slot(const rs_s2s_config *cfg, rs_s2s_params *p, int i);
void rs_s2s_params_bind(const rs_s2s_config *cfg, rs_real *flat, rs_s2s_params *p);
/* PyTorch's default initialisation: embeddings N(0, 1), recurrent and
 * linear weights and biases U(−1/√fan, 1/√fan) (fan = H for the cells,
 * the input width for the Linear layers). */
void rs_s2s_params_init(const rs_s2s_config *cfg, rs_s2s_params *p, rs_rng *rng);

/* A batch of sentence pairs, row-major and padded.  The decoder reads
 * tgt_in (<bos> y1 … yL) and predicts tgt_out (y1 … yL <eos>); a target of
 * −1 is padding and adds nothing to the loss. */
typedef struct rs_pair_batch {
    int B, S, T;            /* rows, source width, target width */
    const int32_t *src;     /* (B, S) */
    const int32_t *src_len; /* (B) 1..S: tokens of each source, <eos> included */
    const int32_t *tgt_in;  /* (B, T) */
    const int32_t *tgt_out; /* (B, T), −1 = padding */
} rs_pair_batch;

typedef struct rs_s2s_opts {
    rs_real dropout;        /* see the top; 0 = off */
    double teacher_forcing; /* probability a batch reads the reference (1 = always); otherwise
                               each step reads the previous step's argmax */
    rs_rng *rng;            /* for dropout and the teacher-forcing draw */
} rs_s2s_opts;

typedef struct rs_s2s_workspace rs_s2s_workspace;

/* max_tgt 0: an encoder only, for rs_s2s_encode (no backward buffers). */
rs_s2s_workspace *rs_s2s_workspace_create(const rs_s2s_config *cfg, int max_batch, int max_src,
                                          int max_tgt);
void rs_s2s_workspace_destroy(rs_s2s_workspace *ws);

/* Mean −ln p over the batch's non-padding targets (opts NULL: no dropout,
 * teacher forcing).  Keeps what the backward pass needs. */
double rs_s2s_forward(rs_s2s_workspace *ws, const rs_s2s_params *p, const rs_pair_batch *batch,
                      const rs_s2s_opts *opts);
/* Adds the gradient of the last forward's loss to grads. */
void rs_s2s_backward(rs_s2s_workspace *ws, const rs_s2s_params *p, rs_s2s_params *grads,
                     const rs_pair_batch *batch);
/* The encoder alone (inference): batch's src and src_len are read, its
 * target fields not (T may be 0). */
void rs_s2s_encode(rs_s2s_workspace *ws, const rs_s2s_params *p, const rs_pair_batch *batch);

/* The encoder's matrices packed for the inference kernel (src/nn/linear.h;
 * rs_beam_pack makes them with the decoder's): what a served encoder
 * multiplies through, so that a sentence's numbers do not depend on the
 * BLAS build or on the other sentences of its batch. */
struct rs_linear_weight;
typedef struct rs_s2s_encoder_packed {
    const struct rs_linear_weight *ih[RS_MAX_LAYERS][2], *hh[RS_MAX_LAYERS][2];
    const struct rs_linear_weight *bridge, *ua; /* bridge NULL when unidirectional */
    struct rs_team *team; /* a second core for the products (infer.h), or NULL */
} rs_s2s_encoder_packed;
/* rs_s2s_encode through pk. */
void rs_s2s_encode_packed(rs_s2s_workspace *ws, const rs_s2s_params *p,
                          const rs_s2s_encoder_packed *pk, const rs_pair_batch *batch);

/* What the last encode (or forward) left for a decoder, time-major. */
typedef struct rs_s2s_encoded {
    int B, S;
    const rs_real *keys;              /* (S, B, H·D) the encoder's top outputs K */
    const rs_real *uk;                /* (S, B, H) Ua K + b_Ua */
    const rs_real *h0[RS_MAX_LAYERS]; /* (B, H) the decoder's initial state per layer */
    const rs_real *c0[RS_MAX_LAYERS]; /* (B, H) LSTM, else NULL */
} rs_s2s_encoded;
void rs_s2s_encoded_get(const rs_s2s_workspace *ws, rs_s2s_encoded *out);

/* The last forward's attention weights (T, B, S) and logits (T, B, Vt). */
const rs_real *rs_s2s_attention(const rs_s2s_workspace *ws);
const rs_real *rs_s2s_logits(const rs_s2s_workspace *ws);
/* The number of target tokens the last forward's loss is a mean over. */
long rs_s2s_target_count(const rs_s2s_workspace *ws);

#endif
