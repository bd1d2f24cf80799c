/*
 * infer.h — inference on one sequence at a time, for the daemon and the
 * sampling CLI: classify a whole name, or step a generator token by token.
 *
 * An rs_infer holds every scratch buffer (states, gates, logits, sampling
 * scratch), sized once at creation for a configuration and a maximum
 * length; after that no call allocates.  The weights are read through a
 * `const rs_params *` that many rs_infer in many threads may share.  One
 * rs_infer must not be used by two threads at once.
 */
#ifndef RNNSERVE_INFER_H
#define RNNSERVE_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "rnnserve/nn.h"
#include "rnnserve/rng.h"

typedef struct rs_infer rs_infer;

/* Scratch for sequences of up to max_len tokens.  NULL on allocation failure;
 * free with rs_infer_destroy. */
rs_infer *rs_infer_create(const rs_config *cfg, int max_len);
void rs_infer_destroy(rs_infer *inf);
int rs_infer_max_len(const rs_infer *inf);

/*
 * Tables precomputed from a model's weights (layer 0's input projection of
 * every vocabulary entry and category, see infer.c), so that a step does
 * only the recurrent work.  Read-only once built: one rs_infer_tables may
 * serve every rs_infer of the same model in every thread.  It must outlive
 * them and be built from the same rs_params that are passed to the calls
 * below.  NULL on allocation failure.
 */
typedef struct rs_infer_tables rs_infer_tables;
rs_infer_tables *rs_infer_tables_create(const rs_config *cfg, const rs_params *p);
void rs_infer_tables_destroy(rs_infer_tables *t);
size_t rs_infer_tables_bytes(const rs_infer_tables *t);
/* Makes inf read its first layer's input projections from t (NULL: compute
 * them every time).  -1 if t was built for another configuration. */
int rs_infer_use_tables(rs_infer *inf, const rs_infer_tables *t);

/* Classifier: logits (K) for tokens[0..n), 1 <= n <= max_len.  Returns 0 or
 * -1 when n is out of range.  The returned pointer is the scratch's. */
const float *rs_infer_classify(rs_infer *inf, const rs_params *p, const int32_t *tokens, int n);

/* Generator: zero state, and the category every step will see (-1 if none). */
void rs_infer_reset(rs_infer *inf, int category);
/* Generator: feed one token; returns the logits (V) of the next token. */
const float *rs_infer_step(rs_infer *inf, const rs_params *p, int32_t token);

/* How to pick the next token. */
typedef struct rs_sampler {
    float temperature; /* 0 = greedy (argmax), else logits / temperature */
    int top_k;         /* keep the k most likely, 0 = all */
    float top_p;       /* nucleus: smallest set with mass >= top_p, 1 = all */
} rs_sampler;

/* Picks a token from logits (V) that is not one of banned[0..n_banned). */
int rs_infer_sample(rs_infer *inf, const float *logits, const rs_sampler *s, const int *banned,
                    int n_banned, rs_rng *rng);

/* ln softmax(logits)[id], computed stably. */
double rs_log_softmax_at(const float *logits, int V, int id);

/* Special token ids a generation needs. */
typedef struct rs_special_ids {
    int pad, bos, eos, unk; /* -1 when absent */
} rs_special_ids;

/*
 * Generates from <bos>, the prefix (forced), then sampled tokens until <eos>
 * or max_length characters in all.  out receives the characters (prefix
 * included, <eos> not), *n_out their number; *log_prob is the model's
 * (untempered) log-likelihood of every predicted token including <eos> when
 * it ended there, so it equals a /score of the same text; *finished is 1 when
 * <eos> was produced.  max_length <= rs_infer_max_len(inf).  Returns 0 or -1
 * on bad arguments.
 */
int rs_infer_generate(rs_infer *inf, const rs_params *p, const rs_special_ids *ids,
                      const int32_t *prefix, int n_prefix, int category, int max_length,
                      const rs_sampler *s, rs_rng *rng, int32_t *out, int *n_out, double *log_prob,
                      int *finished);

/* Log-likelihood of <bos> tokens[0..n) <eos> under a generator: fills
 * *log_prob and returns the number of predicted tokens (n + 1), or -1. */
int rs_infer_score(rs_infer *inf, const rs_params *p, const rs_special_ids *ids,
                   const int32_t *tokens, int n, int category, double *log_prob);

#endif
